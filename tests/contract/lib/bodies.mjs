// Request bodies for the product writes (POST /products, PUT and PATCH /products/{id}): valid ones at
// and inside every bound, and invalid ones with the 422 entries each must produce.
//
// The rules, from the writes contract: name 1..255 characters; description at most 10000 characters
// or null; category 1..100 characters or null; price a JSON number from 0 to 99999999.99 with at most
// 2 decimals; no other member; no member twice; the body an object. POST and PUT need name and price
// (PUT sets an omitted description or category to null); PATCH needs at least one member. Lengths
// count characters, so some strings use letters of 2 and 4 bytes in UTF-8.
//
// A case is { what, body } (a JSON value, sent as JSON.stringify(body)) or { what, raw } (sent as is).
// errors lists the expected entries as [type, ...loc], in any order.

/** Members every whole body below starts from, so that only the member under test is wrong. */
export const BASE = { name: 'Contract product', price: 1 };

/** Valid bodies for POST and PUT (a whole product). */
export const WHOLE_VALID = [
  { what: 'only the required members', body: { name: 'Contract minimal', price: 1 } },
  { what: 'every member', body: { name: 'Contract full', price: 19.99, description: 'Made by the contract test', category: 'Contract' } },
  { what: 'the lower bounds', body: { name: 'n', price: 0, description: '', category: 'c' } },
  {
    what: 'the upper bounds, in 2- and 3-byte characters',
    body: { name: 'é'.repeat(255), price: 99999999.99, description: '€'.repeat(10000), category: 'ç'.repeat(100) },
  },
  { what: '255 characters of 4 bytes each, and explicit nulls', body: { name: '😀'.repeat(255), price: 0.01, description: null, category: null } },
  { what: 'one decimal', body: { name: 'Contract one decimal', price: 7.5 } },
  { what: 'quotes and backslashes', body: { name: 'Contract "quoted" \\ name', price: 2, description: 'line 1\nline 2\ttab' } },
  { what: 'a price written 7.10', raw: '{"name":"Contract raw","price":7.10,"category":"Contract"}' },
  { what: 'a price written 1e2', raw: '{"price":1e2,"name":"Contract exponent"}' },
];

/** Valid bodies for PATCH, applied one after the other to the same product. */
export const PATCH_VALID = [
  { what: 'name only', body: { name: 'Contract renamed' } },
  { what: 'price only', body: { price: 5.55 } },
  { what: 'description only', body: { description: 'Patched description' } },
  { what: 'description cleared', body: { description: null } },
  { what: 'category only', body: { category: 'Patched' } },
  { what: 'category cleared', body: { category: null } },
  { what: 'price to the upper bound', body: { price: 99999999.99 } },
  { what: 'every member', body: { name: 'Contract patched', price: 0, description: '', category: 'c'.repeat(100) } },
];

/**
 * Problems with one member (or a few), the same for POST, PUT and PATCH. For POST and PUT the members
 * are laid over BASE; for PATCH they are the whole body.
 */
export const MEMBER_ERRORS = [
  { what: 'empty name', members: { name: '' }, errors: [['string_too_short', 'body', 'name']] },
  { what: 'name of 256 characters', members: { name: 'n'.repeat(256) }, errors: [['string_too_long', 'body', 'name']] },
  { what: 'name of 256 characters of 4 bytes', members: { name: '😀'.repeat(256) }, errors: [['string_too_long', 'body', 'name']] },
  { what: 'name a number', members: { name: 42 }, errors: [['string_type', 'body', 'name']] },
  { what: 'name null', members: { name: null }, errors: [['string_type', 'body', 'name']] },
  { what: 'name an array', members: { name: ['a'] }, errors: [['string_type', 'body', 'name']] },
  { what: 'price a string', members: { price: '1.00' }, errors: [['decimal_type', 'body', 'price']] },
  { what: 'price null', members: { price: null }, errors: [['decimal_type', 'body', 'price']] },
  { what: 'price a boolean', members: { price: true }, errors: [['decimal_type', 'body', 'price']] },
  { what: 'price an object', members: { price: {} }, errors: [['decimal_type', 'body', 'price']] },
  { what: 'price -0.01', members: { price: -0.01 }, errors: [['greater_than_equal', 'body', 'price']] },
  { what: 'price -1', members: { price: -1 }, errors: [['greater_than_equal', 'body', 'price']] },
  { what: 'price 100000000', members: { price: 100000000 }, errors: [['less_than_equal', 'body', 'price']] },
  { what: 'price 99999999.991', members: { price: 99999999.991 }, errors: [['less_than_equal', 'body', 'price']] },
  { what: 'price 1.001', members: { price: 1.001 }, errors: [['decimal_max_places', 'body', 'price']] },
  { what: 'price 0.005', members: { price: 0.005 }, errors: [['decimal_max_places', 'body', 'price']] },
  { what: 'price 19.999', members: { price: 19.999 }, errors: [['decimal_max_places', 'body', 'price']] },
  { what: 'description of 10001 characters', members: { description: 'd'.repeat(10001) }, errors: [['string_too_long', 'body', 'description']] },
  { what: 'description of 10001 characters of 3 bytes', members: { description: '€'.repeat(10001) }, errors: [['string_too_long', 'body', 'description']] },
  { what: 'description a number', members: { description: 5 }, errors: [['string_type', 'body', 'description']] },
  { what: 'description a boolean', members: { description: false }, errors: [['string_type', 'body', 'description']] },
  { what: 'empty category', members: { category: '' }, errors: [['string_too_short', 'body', 'category']] },
  { what: 'category of 101 characters', members: { category: 'c'.repeat(101) }, errors: [['string_too_long', 'body', 'category']] },
  { what: 'category a number', members: { category: 1 }, errors: [['string_type', 'body', 'category']] },
  { what: 'category an array', members: { category: [] }, errors: [['string_type', 'body', 'category']] },
  { what: 'an unknown member', members: { sku: 'DL-1' }, errors: [['extra_forbidden', 'body', 'sku']] },
  { what: 'id in the body', members: { id: 5 }, errors: [['extra_forbidden', 'body', 'id']] },
  { what: 'a member of the answer', members: { source: 'cache' }, errors: [['extra_forbidden', 'body', 'source']] },
  { what: 'a name in the wrong case', members: { Name: 'x' }, errors: [['extra_forbidden', 'body', 'Name']] },
  {
    what: 'five problems at once',
    members: { name: '', price: -1, description: 5, category: '', sku: 'DL-1' },
    errors: [
      ['string_too_short', 'body', 'name'],
      ['greater_than_equal', 'body', 'price'],
      ['string_type', 'body', 'description'],
      ['string_too_short', 'body', 'category'],
      ['extra_forbidden', 'body', 'sku'],
    ],
  },
];

/** Whole bodies that lack a required member (POST and PUT). */
export const WHOLE_MISSING = [
  { what: 'an empty object', body: {}, errors: [['missing', 'body', 'name'], ['missing', 'body', 'price']] },
  { what: 'no name', body: { price: 1 }, errors: [['missing', 'body', 'name']] },
  { what: 'no price', body: { name: 'x', category: 'c' }, errors: [['missing', 'body', 'price']] },
  { what: 'no price and an unknown member', body: { name: 'x', stock: 3 }, errors: [['missing', 'body', 'price'], ['extra_forbidden', 'body', 'stock']] },
];

/** PATCH bodies that change nothing. */
export const PATCH_EMPTY = [{ what: 'an empty object', body: {}, errors: [['missing', 'body']] }];

/** Bodies that are not a JSON object (any write with a body). */
export const NOT_AN_OBJECT = [
  { what: 'no body at all', raw: '', errors: [['json_invalid', 'body']] },
  { what: 'not JSON', raw: 'name=x&price=1', errors: [['json_invalid', 'body']] },
  { what: 'truncated JSON', raw: '{"name":"x","price":1', errors: [['json_invalid', 'body']] },
  { what: 'a member given twice', raw: '{"name":"x","name":"y","price":1}', errors: [['json_invalid', 'body']] },
  { what: 'a number too large for a double', raw: '{"name":"x","price":1e400}', errors: [['json_invalid', 'body']] },
  { what: 'invalid UTF-8', raw: Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), errors: [['json_invalid', 'body']] },
  { what: 'a NUL character in a string', raw: '{"name":"a\\u0000b","price":1}', errors: [['json_invalid', 'body']] },
  { what: 'an empty array', raw: '[]', errors: [['model_attributes_type', 'body']] },
  { what: 'an array of products', raw: '[{"name":"x","price":1}]', errors: [['model_attributes_type', 'body']] },
];

/**
 * Bare JSON scalars: valid JSON but not an object, refused as pydantic does (model_attributes_type,
 * with the value as input) at loc ["body"].
 */
export const SCALARS = [
  { what: 'null', raw: 'null', errors: [['model_attributes_type', 'body']] },
  { what: 'a number', raw: '1', errors: [['model_attributes_type', 'body']] },
  { what: 'a string', raw: '"x"', errors: [['model_attributes_type', 'body']] },
  { what: 'a boolean', raw: 'true', errors: [['model_attributes_type', 'body']] },
];

/** Prices with more than 2 decimals at magnitudes where a relative rounding tolerance would hide them. */
export const PRICES_WITH_3_DECIMALS = [12345.678, 99999.991, 1234567.891, 5000.001];

/** The JSON value a case sends (undefined when its raw text is not JSON). */
export function valueOf(c) {
  if (!('raw' in c)) return c.body;
  try {
    return JSON.parse(String(c.raw));
  } catch {
    return undefined;
  }
}

/** The request body of a case: a string or Buffer as fetch takes it. */
export function payloadOf(c) {
  return 'raw' in c ? c.raw : JSON.stringify(c.body);
}

/** The members a valid write should leave in the product: omitted optional members as null for a whole body. */
export function expectedMembers(value, { whole }) {
  const out = {};
  for (const k of ['name', 'description', 'price', 'category']) {
    if (k in value) out[k] = value[k];
    else if (whole) out[k] = null;
  }
  return out;
}
