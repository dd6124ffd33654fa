// Writes (issue 5): POST /products, PUT, PATCH and DELETE /products/{id} — success answers (201 with
// Location, 200, 204), 404s, 422 details listing every problem (missing, types, lengths counted in
// characters incl. multibyte UTF-8, price bounds and two decimals, unknown members, bad JSON,
// duplicate keys, non-objects, PATCH {}), bad path ids, PostgreSQL down → 503, and the timestamps the
// database trigger maintains (updated_at moves on every update, created_at never does).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertDetail, ISO_8601 } from './lib/expect.mjs';
import { waitFor } from '../lib/util.mjs';
import { sendJson } from './lib/writes.mjs';

const PG_TIMEOUT_MS = 1000;
const ENV = { WORKERS: 2, PG_TIMEOUT_MS };
const PRODUCT_FIELDS = ['category', 'created_at', 'description', 'id', 'name', 'price', 'updated_at'];

let stack;

before(async () => {
  stack = await startStack({ env: ENV });
});

after(async () => {
  await stack?.teardown();
});

const post = (body, opts) => sendJson(stack.url, 'POST', '/products', body, opts);
const put = (id, body) => sendJson(stack.url, 'PUT', `/products/${id}`, body);
const patch = (id, body) => sendJson(stack.url, 'PATCH', `/products/${id}`, body);
const del = (id) => sendJson(stack.url, 'DELETE', `/products/${id}`);

/** The row as PostgreSQL has it (with version), or null. */
async function rowCount() {
  return Number(await stack.psql('SELECT count(*) FROM products'));
}

/** A write's product answer: exactly the product fields, values equal to the database row. */
function assertWrittenProduct(res, row, what) {
  assert.ok(res.body && typeof res.body === 'object', `${what}: JSON object body: ${res.text}`);
  assert.deepEqual(Object.keys(res.body).sort(), PRODUCT_FIELDS, `${what}: product fields only (no source, no fetch_time_ms)`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${what}: content type`);
  const p = res.body;
  assert.equal(p.id, row.id, `${what}: id`);
  assert.equal(p.name, row.name, `${what}: name`);
  assert.equal(p.description, row.description, `${what}: description`);
  assert.equal(typeof p.price, 'number', `${what}: price is a JSON number`);
  assert.equal(p.price, Number(row.price), `${what}: price`);
  assert.equal(p.category, row.category, `${what}: category`);
  for (const f of ['created_at', 'updated_at']) {
    assert.match(p[f], ISO_8601, `${what}: ${f} is ISO 8601`);
    assert.equal(Date.parse(p[f]), Date.parse(row[f]), `${what}: ${f} ${p[f]} vs database ${row[f]}`);
  }
}

/** Create a product through the API and return its body. */
async function create(body = { name: 'Widget', price: 9.99, description: 'A widget', category: 'Gadgets' }) {
  const r = await post(body);
  assert.equal(r.status, 201, `POST ${JSON.stringify(body).slice(0, 200)}: ${r.text.slice(0, 500)}`);
  return r.body;
}

/** The 422 entries as "type loc" strings, sorted (order is not part of the contract). */
function problems(res) {
  assert.equal(res.status, 422, `expected 422: ${res.text.slice(0, 500)}`);
  assert.ok(res.body && Array.isArray(res.body.detail), `detail is an array: ${res.text.slice(0, 500)}`);
  for (const d of res.body.detail) {
    assert.equal(typeof d.type, 'string', 'entry type');
    assert.ok(Array.isArray(d.loc) && d.loc[0] === 'body', `loc starts with "body": ${JSON.stringify(d.loc)}`);
    assert.equal(typeof d.msg, 'string', 'entry msg');
    assert.ok(d.msg.length > 0, 'msg is not empty');
    assert.ok('input' in d, 'entry has input');
  }
  return res.body.detail.map((d) => `${d.type} ${d.loc.join('.')}`).sort();
}

/** Exactly one problem: the given type at ["body", field] (or ["body"]) with this input. */
function assertOneProblem(res, type, field, input) {
  assert.deepEqual(problems(res), [`${type} ${field ? `body.${field}` : 'body'}`], `${type} for ${JSON.stringify(input)?.slice(0, 80)}`);
  if (input !== undefined) assert.deepEqual(res.body.detail[0].input, input, 'input echoes the value');
}

// ---------------------------------------------------------------------------------------------

test('POST /products: 201, Location, the stored product (no source field); GET Location finds it', async () => {
  const before = await rowCount();
  const body = { name: 'Test Widget', price: 19.99, description: 'A widget for testing', category: 'Gadgets' };
  const r = await post(body);
  assert.equal(r.status, 201, r.text);
  const id = r.body.id;
  assert.ok(Number.isInteger(id) && id > 15, `new id ${id} follows the seed`);
  assert.equal(r.headers.get('location'), `/products/${id}`, 'Location');
  assert.equal(r.headers.get('x-cache-write-mode'), 'invalidate');
  assert.ok(['deleted', 'stored', 'skipped'].includes(r.headers.get('x-cache-action')), `X-Cache-Action ${r.headers.get('x-cache-action')}`);
  assert.ok(r.headers.get('x-request-id'), 'X-Request-Id on a write');
  const row = await stack.dbProduct(id);
  assertWrittenProduct(r, row, 'POST');
  assert.deepEqual({ name: row.name, price: Number(row.price), description: row.description, category: row.category }, body);
  assert.equal(await rowCount(), before + 1, 'one row inserted');

  const g = await stack.get(r.headers.get('location'));
  assert.equal(g.status, 200, g.text);
  for (const f of PRODUCT_FIELDS) assert.deepEqual(g.body[f], r.body[f], `GET ${f} equals the POST answer`);

  // Only name and price: description and category are null.
  const minimal = await post({ name: 'Bare', price: 1 });
  assert.equal(minimal.status, 201, minimal.text);
  assert.equal(minimal.body.description, null);
  assert.equal(minimal.body.category, null);
  assertWrittenProduct(minimal, await stack.dbProduct(minimal.body.id), 'POST minimal');
  // Explicit nulls are fine too.
  const nulls = await post({ name: 'Nulls', price: 2, description: null, category: null });
  assert.equal(nulls.status, 201, nulls.text);
  assert.equal(nulls.body.description, null);
  assert.equal(nulls.body.category, null);

  // The list and its X-Total-Count see the new rows.
  const list = await stack.get('/products?limit=1');
  assert.equal(list.headers.get('x-total-count'), String(before + 3));
});

test('PUT replaces the whole product: omitted description and category become null', async () => {
  const p = await create({ name: 'Old', price: 5, description: 'old text', category: 'OldCat' });
  const r = await put(p.id, { name: 'New', price: 6.5 });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-cache-write-mode'), 'invalidate');
  const row = await stack.dbProduct(p.id);
  assertWrittenProduct(r, row, 'PUT');
  assert.deepEqual([row.name, Number(row.price), row.description, row.category], ['New', 6.5, null, null]);

  const full = await put(p.id, { name: 'Full', price: 7, description: 'd', category: 'c' });
  assert.equal(full.status, 200, full.text);
  assertWrittenProduct(full, await stack.dbProduct(p.id), 'PUT full');
  assert.deepEqual([full.body.name, full.body.price, full.body.description, full.body.category], ['Full', 7, 'd', 'c']);

  // name and price are required.
  const missing = await put(p.id, { description: 'x' });
  assert.deepEqual(problems(missing), ['missing body.name', 'missing body.price']);
  assert.equal((await stack.dbProduct(p.id)).description, 'd', 'a rejected PUT changes nothing');
});

test('PATCH changes only the given members; PATCH {} is 422', async () => {
  const p = await create({ name: 'Patchy', price: 10, description: 'desc', category: 'Cat' });
  const r1 = await patch(p.id, { price: 12.34 });
  assert.equal(r1.status, 200, r1.text);
  assertWrittenProduct(r1, await stack.dbProduct(p.id), 'PATCH price');
  assert.deepEqual([r1.body.name, r1.body.price, r1.body.description, r1.body.category], ['Patchy', 12.34, 'desc', 'Cat']);

  const r2 = await patch(p.id, { name: 'Renamed', category: null });
  assert.equal(r2.status, 200, r2.text);
  assertWrittenProduct(r2, await stack.dbProduct(p.id), 'PATCH name+category');
  assert.deepEqual([r2.body.name, r2.body.price, r2.body.description, r2.body.category], ['Renamed', 12.34, 'desc', null]);

  const r3 = await patch(p.id, { description: null });
  assert.equal(r3.status, 200, r3.text);
  assert.equal(r3.body.description, null);
  assert.equal(r3.body.name, 'Renamed');

  const version = (await stack.dbProduct(p.id)).version;
  const empty = await patch(p.id, {});
  assert.equal(empty.status, 422, empty.text);
  assert.ok(Array.isArray(empty.body?.detail) && empty.body.detail.length >= 1, `422 detail: ${empty.text}`);
  for (const d of empty.body.detail) {
    assert.equal(d.loc[0], 'body', 'loc of PATCH {}');
    assert.equal(typeof d.msg, 'string');
  }
  assert.equal((await stack.dbProduct(p.id)).version, version, 'PATCH {} writes nothing');

  // Invalid members in a PATCH are reported like in a POST (and nothing is written).
  assert.deepEqual(problems(await patch(p.id, { name: '', price: 'x' })), ['decimal_type body.price', 'string_too_short body.name']);
  assert.equal((await stack.dbProduct(p.id)).version, version);
});

test('updated_at changes on every update (database trigger), created_at never does', async () => {
  const p = await create({ name: 'Clock', price: 1 });
  const row0 = await stack.dbProduct(p.id);
  assert.equal(Date.parse(p.created_at), Date.parse(row0.created_at));

  const r1 = await patch(p.id, { price: 2 });
  assert.equal(r1.status, 200, r1.text);
  const row1 = await stack.dbProduct(p.id);
  assert.equal(r1.body.created_at, p.created_at, 'created_at unchanged by PATCH');
  assert.notEqual(r1.body.updated_at, p.updated_at, 'updated_at changed by PATCH');
  assert.equal(await stack.psql(`SELECT '${row1.updated_at}'::timestamptz > '${row0.updated_at}'::timestamptz`), 't', 'updated_at moved forward');
  assert.equal(row1.version, row0.version + 1, 'version raised by the trigger');

  const r2 = await put(p.id, { name: 'Clock 2', price: 3 });
  assert.equal(r2.status, 200, r2.text);
  const row2 = await stack.dbProduct(p.id);
  assert.equal(r2.body.created_at, p.created_at, 'created_at unchanged by PUT');
  assert.equal(await stack.psql(`SELECT '${row2.updated_at}'::timestamptz > '${row1.updated_at}'::timestamptz`), 't', 'updated_at moved forward on PUT');
  assert.equal(row2.version, row1.version + 1);

  // A write that does not go through the API (psql) is stamped by the same trigger, even when it
  // tries to set the timestamps itself.
  await stack.psql(`UPDATE products SET name = 'Clock 3', updated_at = '2000-01-01' WHERE id = ${p.id}`);
  const row3 = await stack.dbProduct(p.id);
  assert.equal(Date.parse(row3.created_at), Date.parse(row0.created_at), 'created_at unchanged by psql UPDATE');
  assert.equal(await stack.psql(`SELECT '${row3.updated_at}'::timestamptz > '${row2.updated_at}'::timestamptz`), 't', 'trigger set updated_at');
  assert.equal(row3.version, row2.version + 1);

  // The API shows what the database has.
  const g = await waitFor(async () => {
    const r = await stack.get(`/products/${p.id}`);
    return r.body?.name === 'Clock 3' && r;
  }, { timeout: 5000, message: 'GET sees the psql UPDATE' });
  assert.equal(Date.parse(g.body.updated_at), Date.parse(row3.updated_at));
  assert.equal(Date.parse(g.body.created_at), Date.parse(row0.created_at));
});

test('DELETE answers 204 with no body; afterwards GET, PUT, PATCH and DELETE answer 404', async () => {
  const p = await create({ name: 'Doomed', price: 3 });
  const g0 = await stack.get(`/products/${p.id}`);
  assert.equal(g0.status, 200);
  await stack.waitForKeys(`product:${p.id}`);

  const d = await del(p.id);
  assert.equal(d.status, 204, d.text);
  assert.equal(d.text, '', '204 has an empty body');
  assert.equal(d.headers.get('x-cache-write-mode'), 'invalidate');
  assert.equal(await stack.dbProduct(p.id), null, 'row gone');
  assert.equal(await stack.redisCmd('EXISTS', `product:${p.id}`), 0, 'cached copy gone before the answer');

  assertDetail(await stack.get(`/products/${p.id}`), 404, 'Product not found');
  assertDetail(await del(p.id), 404, 'Product not found');
  assertDetail(await put(p.id, { name: 'x', price: 1 }), 404, 'Product not found');
  assertDetail(await patch(p.id, { name: 'x' }), 404, 'Product not found');
  for (const id of [999999, 2147483647]) {
    assertDetail(await del(id), 404, 'Product not found');
    assertDetail(await put(id, { name: 'x', price: 1 }), 404, 'Product not found');
    assertDetail(await patch(id, { price: 1 }), 404, 'Product not found');
  }
  assert.equal(await stack.dbProduct(999999), null, 'PUT of an unknown id does not create it');
});

test('422 lists every problem of a body, each with its field', async () => {
  const before = await rowCount();
  const r = await post({ name: '', price: -1, category: 7, description: 42, colour: 'red' });
  assert.deepEqual(problems(r), [
    'extra_forbidden body.colour',
    'greater_than_equal body.price',
    'string_too_short body.name',
    'string_type body.category',
    'string_type body.description',
  ]);
  const byField = Object.fromEntries(r.body.detail.map((d) => [d.loc[1], d]));
  assert.equal(byField.colour.input, 'red');
  assert.equal(byField.name.input, '');
  assert.equal(byField.price.input, -1);
  assert.equal(byField.category.input, 7);
  assert.equal(byField.description.input, 42);

  assert.deepEqual(problems(await post({})), ['missing body.name', 'missing body.price']);
  assert.deepEqual(problems(await post({ description: 'only' })), ['missing body.name', 'missing body.price']);
  assert.deepEqual(problems(await post({ name: 'n'.repeat(256), price: 1.001 })), ['decimal_max_places body.price', 'string_too_long body.name']);
  assert.deepEqual(problems(await post({ name: null, price: null })), ['decimal_type body.price', 'string_type body.name']);
  const p = await create();
  assert.deepEqual(problems(await put(p.id, { name: 5, price: 100000000, category: '' })), [
    'less_than_equal body.price',
    'string_too_short body.category',
    'string_type body.name',
  ]);
  assert.equal(await rowCount(), before + 1, 'no invalid body was written');
});

test('unknown members are rejected (extra_forbidden), also on PUT and PATCH', async () => {
  const p = await create();
  assertOneProblem(await post({ name: 'x', price: 1, id: 99 }), 'extra_forbidden', 'id', 99);
  assertOneProblem(await put(p.id, { name: 'x', price: 1, created_at: '2020-01-01T00:00:00Z' }), 'extra_forbidden', 'created_at', '2020-01-01T00:00:00Z');
  assertOneProblem(await patch(p.id, { stock: 3 }), 'extra_forbidden', 'stock', 3);
  assert.deepEqual(problems(await patch(p.id, { Name: 'x', PRICE: 1 })), ['extra_forbidden body.Name', 'extra_forbidden body.PRICE']);
  assert.equal((await stack.dbProduct(p.id)).name, p.name, 'nothing written');
});

test('malformed bodies: bad JSON, duplicate keys, not an object', async () => {
  const p = await create();
  const writes = [(b) => post(b), (b) => put(p.id, b), (b) => patch(p.id, b)];
  for (const send of writes) {
    for (const bad of ['{"name": "x", "price": 1', '{name: "x"}', '{"name":"x","price":1,}', 'nul', '\u00ff\u00fe']) {
      const r = await send(bad);
      assert.deepEqual(problems(r), ['json_invalid body'], `bad JSON ${JSON.stringify(bad)}`);
    }
    const dup = await send('{"name":"a","name":"b","price":1}');
    assert.deepEqual(problems(dup), ['json_invalid body'], 'duplicate keys');
    for (const [text, value] of [['[1,2]', [1, 2]], ['[]', []], ['[{"name":"x","price":1}]', [{ name: 'x', price: 1 }]]]) {
      const r = await send(text);
      assertOneProblem(r, 'model_attributes_type', null, value);
    }
    const empty = await send('');
    assert.equal(empty.status, 422, `empty body: ${empty.text}`);
    assert.ok(['json_invalid body', 'missing body'].includes(problems(empty).join()), `empty body: ${empty.text}`);
  }
  // Invalid UTF-8 inside a string is not a valid JSON text either.
  const raw = Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","price":1}')]);
  const r = await fetch(`${stack.url}/products`, { method: 'POST', body: raw, headers: { 'Content-Type': 'application/json' } });
  const text = await r.text();
  assert.equal(r.status, 422, `invalid UTF-8: ${text}`);
  assert.equal(JSON.parse(text).detail[0].type, 'json_invalid');
  assert.equal((await stack.dbProduct(p.id)).name, p.name, 'nothing written');
});

test('a JSON text that is a scalar (string, number, true, null) is valid JSON but not an object: model_attributes_type', async () => {
  const p = await create();
  for (const [method, pathname] of [['POST', '/products'], ['PUT', `/products/${p.id}`], ['PATCH', `/products/${p.id}`]]) {
    for (const [text, value] of [['"text"', 'text'], ['42', 42], ['null', null], ['true', true]]) {
      const r = await sendJson(stack.url, method, pathname, text);
      assert.equal(r.status, 422, `${method} ${text}: ${r.text}`);
      assert.deepEqual(r.body.detail.map((d) => [d.type, d.loc, d.input]), [['model_attributes_type', ['body'], value]], `${method} ${pathname} body ${text}: ${r.text}`);
    }
  }
});

test('lengths are counted in characters, multibyte UTF-8 included', async () => {
  // name 1..255, category 1..100, description 0..10000 (or null); é is 2 bytes, 😀 is 4 bytes (and
  // two UTF-16 units in JavaScript: count code points, not string .length).
  const cases = [
    ['name', 'a', 255],
    ['name', 'é', 255],
    ['name', '😀', 255],
    ['name', '中', 255],
    ['category', 'ß', 100],
    ['category', '😀', 100],
    ['description', 'ü', 10000],
    ['description', '€', 10000],
  ];
  for (const [field, ch, max] of cases) {
    const atMax = ch.repeat(max);
    const base = { name: 'Len', price: 1 };
    const ok = await post({ ...base, [field]: atMax });
    assert.equal(ok.status, 201, `${field} of ${max} × ${ch}: ${ok.text.slice(0, 300)}`);
    assert.equal(ok.body[field], atMax, `${field} round-trips`);
    assert.equal((await stack.dbProduct(ok.body.id))[field], atMax, `${field} stored as sent`);
    const g = await stack.get(`/products/${ok.body.id}`);
    assert.equal(g.body[field], atMax, `GET ${field}`);

    const over = ch.repeat(max + 1);
    const r = await post({ ...base, [field]: over });
    assertOneProblem(r, 'string_too_long', field, over);
    const p = await patch(ok.body.id, { [field]: over });
    assertOneProblem(p, 'string_too_long', field, over);
  }
  // Lower bounds: name and category need one character, description may be empty.
  assertOneProblem(await post({ name: '', price: 1 }), 'string_too_short', 'name', '');
  assertOneProblem(await post({ name: 'x', price: 1, category: '' }), 'string_too_short', 'category', '');
  const emptyDesc = await post({ name: 'x', price: 1, description: '' });
  assert.equal(emptyDesc.status, 201, emptyDesc.text);
  assert.equal(emptyDesc.body.description, '');
  const one = await post({ name: '😀', price: 1, category: 'é' });
  assert.equal(one.status, 201, one.text);
  assert.equal(one.body.name, '😀');
  // Escaped in JSON (\u sequences, a surrogate pair) counts the same.
  const escaped = await post(`{"name":"${'\\u00e9'.repeat(255)}","price":1}`);
  assert.equal(escaped.status, 201, escaped.text.slice(0, 300));
  assert.equal(escaped.body.name, 'é'.repeat(255));
  const pairs = await post(`{"name":"${'\\ud83d\\ude00'.repeat(256)}","price":1}`);
  assertOneProblem(pairs, 'string_too_long', 'name', '😀'.repeat(256));
});

test('price: a JSON number from 0 to 99999999.99 with at most two decimals', async () => {
  for (const price of [0, 0.01, 0.07, 0.29, 1.15, 4.35, 10, 12.5, 19.99, 1234567.89, 99999999.99, 1e2]) {
    const r = await post({ name: 'Priced', price });
    assert.equal(r.status, 201, `price ${price}: ${r.text}`);
    assert.equal(r.body.price, price, `price ${price} answered`);
    const row = await stack.dbProduct(r.body.id);
    assert.equal(row.price, price, `price ${price} stored exactly`);
    const g = await stack.get(`/products/${r.body.id}`);
    assert.equal(g.body.price, price, `price ${price} read back`);
  }
  assertOneProblem(await post({ name: 'x', price: -0.01 }), 'greater_than_equal', 'price', -0.01);
  assertOneProblem(await post({ name: 'x', price: -1000 }), 'greater_than_equal', 'price', -1000);
  assertOneProblem(await post({ name: 'x', price: 100000000 }), 'less_than_equal', 'price', 100000000);
  assertOneProblem(await post({ name: 'x', price: 1e300 }), 'less_than_equal', 'price', 1e300);
  for (const price of [1.234, 0.001, 1.005, 99.999, 0.125]) {
    assertOneProblem(await post({ name: 'x', price }), 'decimal_max_places', 'price', price);
  }
  for (const price of [true, false, 'abc', null, {}, []]) {
    assertOneProblem(await post({ name: 'x', price }), 'decimal_type', 'price', price);
  }
  // On PUT and PATCH as well.
  const p = await create();
  assertOneProblem(await put(p.id, { name: 'x', price: 1.999 }), 'decimal_max_places', 'price', 1.999);
  assertOneProblem(await patch(p.id, { price: -5 }), 'greater_than_equal', 'price', -5);
  assertOneProblem(await patch(p.id, { price: 123456789 }), 'less_than_equal', 'price', 123456789);
  assert.equal(Number((await stack.dbProduct(p.id)).price), p.price, 'nothing written');
});

test('a bad id in the path answers the same 422 as GET', async () => {
  const cases = [
    ['abc', 'int_parsing'],
    ['1.5', 'int_parsing'],
    ['1%00', 'int_parsing', '1\u0000'],
  ];
  for (const [raw, type, input = raw] of cases) {
    for (const [method, body] of [['PUT', { name: 'x', price: 1 }], ['PATCH', { name: 'x' }], ['DELETE', undefined]]) {
      const r = await sendJson(stack.url, method, `/products/${raw}`, body);
      assert.equal(r.status, 422, `${method} /products/${raw}: ${r.text}`);
      const d = r.body.detail[0];
      assert.equal(d.type, type, `${method} ${raw} type`);
      assert.deepEqual(d.loc, ['path', 'product_id'], `${method} ${raw} loc`);
      assert.equal(d.input, input, `${method} ${raw} input`);
      const g = await stack.get(`/products/${raw}`);
      assert.deepEqual(r.body, g.body, `${method} /products/${raw} answers as GET does`);
    }
  }
  // POST is on the collection only.
  const r = await sendJson(stack.url, 'POST', '/products/1', { name: 'x', price: 1 });
  assertDetail(r, 405, 'Method Not Allowed');
});

test('"1%00x" is not id 1: DELETE /products/1%00x answers 422 and deletes nothing', async () => {
  const p = await create({ name: 'Kept', price: 2 });
  const r = await sendJson(stack.url, 'DELETE', `/products/${p.id}%00x`);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.body.detail[0].input, `${p.id}\u0000x`);
  assert.equal((await stack.get(`/products/${p.id}`)).status, 200, 'the product is still there');
});

test('ids outside the 32-bit range are no product: 404 Product not found, after the body is checked', async () => {
  for (const raw of ['99999999999', '2147483648', '-2147483649', '99999999999999999999999']) {
    for (const [method, body] of [['PUT', { name: 'x', price: 1 }], ['PATCH', { name: 'x' }], ['DELETE', undefined]]) {
      const r = await sendJson(stack.url, method, `/products/${raw}`, body);
      assertDetail(r, 404, 'Product not found');
    }
    // An invalid body is still reported first, as for any id.
    const bad = await sendJson(stack.url, 'PATCH', `/products/${raw}`, {});
    assert.equal(bad.status, 422, `PATCH /products/${raw} with {}: ${bad.text}`);
    assert.equal(bad.body.detail[0].loc[0], 'body');
  }
});

test('PostgreSQL down: every write answers 503 Database unavailable in time; writes work again after', { timeout: 120000 }, async () => {
  const p = await create({ name: 'Survivor', price: 4 });
  const bound = PG_TIMEOUT_MS + 1500;
  await stack.stopPostgres('fast');
  try {
    const attempts = [
      ['POST', '/products', { name: 'x', price: 1 }],
      ['PUT', `/products/${p.id}`, { name: 'x', price: 1 }],
      ['PATCH', `/products/${p.id}`, { name: 'x' }],
      ['DELETE', `/products/${p.id}`, undefined],
    ];
    for (const [method, pathname, body] of attempts) {
      const r = await sendJson(stack.url, method, pathname, body);
      assertDetail(r, 503, 'Database unavailable');
      assert.ok(r.ms < bound, `${method} ${pathname} answered after ${Math.round(r.ms)} ms (bound ${bound})`);
    }
  } finally {
    await stack.startPostgres();
  }
  await waitFor(async () => (await patch(p.id, { price: 5 })).status === 200, { timeout: 30000, interval: 200, message: 'PATCH 200 again' });
  const row = await stack.dbProduct(p.id);
  assert.equal(row.name, 'Survivor', 'no write of the outage reached the database');
  assert.equal(Number(row.price), 5);
  const created = await post({ name: 'After', price: 1 });
  assert.equal(created.status, 201, created.text);
});
