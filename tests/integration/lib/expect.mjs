// Assertions on the shapes the contract defines: products (also fetched and compared with the seed),
// 422 details, error bodies; the seed row of product 1.

import assert from 'node:assert/strict';

/** ISO 8601 date-time, e.g. 2024-05-01T10:00:00Z or 2024-05-01T10:00:00.123456+00:00. */
export const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?$/;

/** The seed row of product 1, as the contract states it. */
export const PRODUCT_1 = {
  id: 1,
  name: 'MacBook Pro 16"',
  description: 'Apple MacBook Pro with M2 Pro chip, 16GB RAM, 512GB SSD',
  price: 2499.99,
  category: 'Laptops',
};

const PRODUCT_FIELDS = ['id', 'name', 'description', 'price', 'category', 'created_at', 'updated_at'];

// Milliseconds since the epoch of an ISO string; a string without a zone is read as UTC.
function epochMs(s) {
  const zoned = /(Z|[+-]\d{2}(:?\d{2})?)$/.test(s) ? s : `${s}Z`;
  return Date.parse(zoned);
}

/**
 * `actual` is a product as the API returns it, `expected` the same row from PostgreSQL
 * (row_to_json). With item: true it must carry source and fetch_time_ms (GET /products/{id});
 * with item: false both are null (list entries, as in the original service's model).
 */
export function assertProductMatches(actual, expected, { item = true } = {}) {
  assert.equal(typeof actual, 'object', 'product is an object');
  assert.ok(actual !== null, 'product is not null');
  assert.equal(actual.id, expected.id, 'id');
  assert.equal(actual.name, expected.name, `name of ${expected.id}`);
  assert.equal(actual.description, expected.description, `description of ${expected.id}`);
  assert.equal(typeof actual.price, 'number', `price of ${expected.id} is a JSON number`);
  assert.equal(actual.price, Number(expected.price), `price of ${expected.id}`);
  assert.equal(actual.category, expected.category, `category of ${expected.id}`);
  for (const f of ['created_at', 'updated_at']) {
    assert.equal(typeof actual[f], 'string', `${f} is a string`);
    assert.match(actual[f], ISO_8601, `${f} is ISO 8601`);
    assert.ok(!Number.isNaN(Date.parse(actual[f])), `${f} parses as a date`);
    if (expected[f] !== undefined && expected[f] !== null) {
      const diff = Math.abs(epochMs(actual[f]) - epochMs(expected[f]));
      assert.ok(diff < 1000, `${f} of ${expected.id}: ${actual[f]} vs database ${expected[f]}`);
    }
  }
  if (item) {
    assert.deepEqual(Object.keys(actual).sort(), [...PRODUCT_FIELDS, 'source', 'fetch_time_ms'].sort(), 'product fields');
    assert.ok(actual.source === 'cache' || actual.source === 'database', `source is cache|database, got ${actual.source}`);
    assert.equal(typeof actual.fetch_time_ms, 'number', 'fetch_time_ms is a number');
    assert.ok(actual.fetch_time_ms >= 0, 'fetch_time_ms is non-negative');
  } else {
    assert.deepEqual(Object.keys(actual).sort(), [...PRODUCT_FIELDS, 'source', 'fetch_time_ms'].sort(), 'list entry fields');
    assert.equal(actual.source, null, 'a list entry has source null');
    assert.equal(actual.fetch_time_ms, null, 'a list entry has fetch_time_ms null');
  }
}

/**
 * GET /products/{id} on `stack`, which must answer 200 with the values PostgreSQL holds: `seed` is
 * stack.dbProducts() (ordered by id). Returns the product with the request's elapsed `ms` beside it.
 */
export async function getSeededProduct(stack, seed, id) {
  const r = await stack.get(`/products/${id}`);
  assert.equal(r.status, 200, `product ${id}: ${r.text}`);
  assertProductMatches(r.body, seed[id - 1]);
  return { ...r.body, ms: r.ms };
}

/** A 422 body: {"detail":[{"type","loc","msg","input"}]} with the given type, loc and raw input. */
export function assertValidationError(res, { type, loc, input }) {
  assert.equal(res.status, 422, `status for input ${JSON.stringify(input)}: ${res.text}`);
  assert.ok(res.body, `422 body is JSON: ${res.text}`);
  assert.ok(Array.isArray(res.body.detail), `detail is an array: ${res.text}`);
  assert.ok(res.body.detail.length >= 1, 'detail has an entry');
  const d = res.body.detail[0];
  if (Array.isArray(type)) assert.ok(type.includes(d.type), `type ${d.type} is one of ${type}`);
  else assert.equal(d.type, type, `type for input ${JSON.stringify(input)}`);
  assert.deepEqual(d.loc, loc, 'loc');
  assert.equal(typeof d.msg, 'string', 'msg is a string');
  assert.ok(d.msg.length > 0, 'msg is not empty');
  assert.equal(d.input, input, 'input is the raw value');
}

/** An error answer: given status, JSON body {"detail": detail}. */
export function assertDetail(res, status, detail) {
  assert.equal(res.status, status, `status (body: ${res.text})`);
  assert.ok(res.body !== undefined, `body is JSON: ${JSON.stringify(res.text)}`);
  if (detail === undefined) assert.ok('detail' in res.body, `body has detail: ${res.text}`);
  else assert.deepEqual(res.body, { detail }, 'error body');
}
