// The read API against a healthy stack: GET /, /health, /products/{id}, /products paging and
// validation, X-Request-Id.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertProductMatches, assertValidationError, assertDetail, PRODUCT_1 } from './lib/expect.mjs';

let stack;
let seed; // products as PostgreSQL holds them, ordered by id

before(async () => {
  stack = await startStack();
  seed = await stack.dbProducts();
});

after(async () => {
  await stack?.teardown();
});

test('the seed has 15 products and product 1 is the MacBook Pro', () => {
  assert.equal(seed.length, 15);
  assert.deepEqual(
    seed.map((p) => p.id),
    Array.from({ length: 15 }, (_, i) => i + 1),
  );
  const p1 = seed[0];
  for (const [k, v] of Object.entries(PRODUCT_1)) assert.equal(k === 'price' ? Number(p1[k]) : p1[k], v, k);
});

test('GET / describes the API', async () => {
  const r = await stack.get('/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assert.equal(r.body.message, 'Welcome to Cache Me If You Can API');
  assert.equal(r.body.version, '0.1.0');
  assert.equal(typeof r.body.endpoints, 'object');
  assert.ok(r.body.endpoints !== null && !Array.isArray(r.body.endpoints), 'endpoints is an object');
  assert.ok(Object.keys(r.body.endpoints).length > 0, 'endpoints is not empty');
});

test('GET /health reports both components healthy', async () => {
  const r = await stack.get('/health');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.status, 'healthy');
  assert.equal(typeof r.body.timestamp, 'number');
  assert.ok(Math.abs(r.body.timestamp - Date.now() / 1000) < 300, `timestamp ${r.body.timestamp} is unix seconds near now`);
  for (const c of ['redis', 'postgres']) {
    const comp = r.body.components?.[c];
    assert.ok(comp, `components.${c} present`);
    assert.equal(comp.status, 'healthy', `${c} status`);
    assert.equal(typeof comp.latency_ms, 'number', `${c} latency_ms is a number`);
    assert.ok(comp.latency_ms >= 0, `${c} latency_ms non-negative`);
  }
});

test('GET /products/1 returns the seeded MacBook Pro with the full shape', async () => {
  const r = await stack.get('/products/1');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assertProductMatches(r.body, seed[0]);
  for (const [k, v] of Object.entries(PRODUCT_1)) assert.equal(r.body[k], v, k);
});

test('every seeded product is returned with the values PostgreSQL holds', async () => {
  for (const row of seed) {
    for (let round = 0; round < 2; round++) {
      const r = await stack.get(`/products/${row.id}`);
      assert.equal(r.status, 200, `product ${row.id}: ${r.text}`);
      assertProductMatches(r.body, row);
    }
  }
});

test('unknown ids answer 404 {"detail":"Product not found"}', async () => {
  for (const id of ['999999', '0', '-1', '2147483647', '-2147483648']) {
    const r = await stack.get(`/products/${id}`);
    assertDetail(r, 404, 'Product not found');
  }
});

test('non-integer ids answer 422 int_parsing with the raw input', async () => {
  for (const [raw, encoded] of [
    ['abc', 'abc'],
    ['1.5', '1.5'],
    ['1e3', '1e3'],
    ['12abc', '12abc'],
  ]) {
    const r = await stack.get(`/products/${encoded}`);
    assertValidationError(r, { type: 'int_parsing', loc: ['path', 'product_id'], input: raw });
  }
});

test('ids outside the int32 range are no product: 404 {"detail":"Product not found"}, as the original answers', async () => {
  for (const raw of ['99999999999', '2147483648', '-2147483649', '99999999999999999999']) {
    const r = await stack.get(`/products/${raw}`);
    assertDetail(r, 404, 'Product not found');
  }
});

test('/products/ and /health/ redirect with 307 to the path without the slash, query kept', async () => {
  for (const [method, from, to] of [
    ['GET', '/products/', '/products'],
    ['GET', '/products/?limit=2&offset=1', '/products?limit=2&offset=1'],
    ['GET', '/health/', '/health'],
    ['GET', '/products/3/', '/products/3'],
    ['POST', '/products/', '/products'],
    ['DELETE', '/products/', '/products'],
  ]) {
    const r = await stack.get(from, { method, redirect: 'manual' });
    assert.equal(r.status, 307, `${method} ${from}: ${r.text}`);
    assert.equal(r.headers.get('location'), to, `${method} ${from}: Location`);
  }
  // Followed, the redirect lands on the list.
  const followed = await stack.get('/products/?limit=2');
  assert.equal(followed.status, 200);
  assert.equal(followed.body.length, 2);
  // Paths that match nothing with or without the slash stay 404.
  for (const p of ['/nope/', '/products/1/extra/', '/cache/']) assertDetail(await stack.get(p, { redirect: 'manual' }), 404, 'Not Found');
});

test('GET /products lists the first 10 by id with X-Total-Count and a next Link', async () => {
  const r = await stack.get('/products');
  assert.equal(r.status, 200, r.text);
  assert.ok(Array.isArray(r.body), 'array body');
  assert.equal(r.body.length, 10);
  r.body.forEach((p, i) => assertProductMatches(p, seed[i], { item: false }));
  // Items carry source and fetch_time_ms as null, as the original's model does.
  assert.ok(r.text.includes('"source":null,"fetch_time_ms":null'), r.text.slice(0, 400));
  assert.equal(r.headers.get('x-total-count'), '15');
  assert.equal(r.headers.get('link'), '</products?limit=10&offset=10>; rel="next"');
});

test('limit/offset page through all products; the last page has no Link', async () => {
  const seen = [];
  let pages = 0;
  for (let offset = 0; offset < 15; offset += 4) {
    const r = await stack.get(`/products?limit=4&offset=${offset}`);
    pages++;
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-total-count'), '15');
    const expected = seed.slice(offset, offset + 4);
    assert.equal(r.body.length, expected.length, `page at offset ${offset}`);
    r.body.forEach((p, i) => assertProductMatches(p, expected[i], { item: false }));
    seen.push(...r.body.map((p) => p.id));
    if (offset + 4 < 15) assert.equal(r.headers.get('link'), `</products?limit=4&offset=${offset + 4}>; rel="next"`);
    else assert.equal(r.headers.get('link'), null, 'no Link on the last page');
  }
  assert.equal(pages, 4);
  assert.deepEqual(seen, seed.map((p) => p.id));
});

test('a page ending exactly at the total has no Link; offsets past the end give []', async () => {
  let r = await stack.get('/products?limit=5&offset=10');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.map((p) => p.id), [11, 12, 13, 14, 15]);
  assert.equal(r.headers.get('link'), null);

  for (const limit of ['100', '1000']) {
    r = await stack.get(`/products?limit=${limit}`);
    assert.equal(r.status, 200, `limit=${limit}: ${r.text}`);
    assert.equal(r.body.length, 15, `limit=${limit}: every row`);
    assert.equal(r.headers.get('link'), null);
  }

  // limit=0: an empty page, the total, and no Link (a next page of 0 would never end).
  r = await stack.get('/products?limit=0');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, []);
  assert.equal(r.headers.get('x-total-count'), '15');
  assert.equal(r.headers.get('link'), null);

  for (const offset of ['15', '1000', '2147483647']) {
    r = await stack.get(`/products?offset=${offset}`);
    assert.equal(r.status, 200, `offset ${offset}: ${r.text}`);
    assert.deepEqual(r.body, []);
    assert.equal(r.headers.get('x-total-count'), '15');
    assert.equal(r.headers.get('link'), null);
  }

  r = await stack.get('/products?limit=1&offset=14');
  assert.deepEqual(r.body.map((p) => p.id), [15]);
  assert.equal(r.headers.get('link'), null);

  r = await stack.get('/products?limit=1&offset=13');
  assert.deepEqual(r.body.map((p) => p.id), [14]);
  assert.equal(r.headers.get('link'), '</products?limit=1&offset=14>; rel="next"');
});

test('bad limit/offset values answer 422 with a query loc', async () => {
  for (const [query, loc, input] of [
    ['limit=1001', ['query', 'limit'], '1001'],
    ['limit=-1', ['query', 'limit'], '-1'],
    ['limit=abc', ['query', 'limit'], 'abc'],
    ['offset=-1', ['query', 'offset'], '-1'],
    ['offset=abc', ['query', 'offset'], 'abc'],
    ['offset=2147483648', ['query', 'offset'], '2147483648'],
    // Values are read to their decoded length: a NUL does not end them.
    ['limit=1%00abc', ['query', 'limit'], '1\u0000abc'],
    ['offset=0%00', ['query', 'offset'], '0\u0000'],
    // Bytes that are not UTF-8 are echoed as U+FFFD (JSON text is UTF-8).
    ['limit=%ff%fe', ['query', 'limit'], '\ufffd\ufffd'],
    // An item without "=" has an empty value; it does not hide the others.
    ['offset=-1&x', ['query', 'offset'], '-1'],
    ['x&limit=abc', ['query', 'limit'], 'abc'],
    // Names are matched after decoding.
    ['%6Cimit=abc', ['query', 'limit'], 'abc'],
  ]) {
    const r = await stack.get(`/products?${query}`);
    assert.equal(r.status, 422, `${query}: ${r.text}`);
    assert.ok(Array.isArray(r.body?.detail), `${query}: detail array`);
    const d = r.body.detail[0];
    assert.deepEqual(d.loc, loc, `${query}: loc`);
    assert.equal(typeof d.type, 'string', `${query}: type`);
    assert.equal(typeof d.msg, 'string', `${query}: msg`);
    assert.equal(d.input, input, `${query}: input`);
  }
});

test('path ids are read to their decoded length and echoed as valid UTF-8', async () => {
  for (const [encoded, input] of [
    ['1%00', '1\u0000'],
    ['1%00x', '1\u0000x'],
    ['%001', '\u00001'],
    ['%ff%fe', '\ufffd\ufffd'],
    ['1%C3%A9', '1\u00e9'],
    ['%ED%A0%80', '\ufffd\ufffd\ufffd'],
  ]) {
    const r = await stack.get(`/products/${encoded}`);
    assertValidationError(r, { type: 'int_parsing', loc: ['path', 'product_id'], input });
  }
});

test('query names are matched exactly: LIMIT is not limit; the last of repeated values counts', async () => {
  let r = await stack.get('/products?LIMIT=2');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.length, 10, 'LIMIT is another parameter');
  r = await stack.get('/products?%6Cimit=2');
  assert.equal(r.body.length, 2, 'a percent-encoded name is decoded first');
  r = await stack.get('/products?limit=5&limit=3');
  assert.equal(r.body.length, 3);
  r = await stack.get('/products?limit=3&&x=1&');
  assert.equal(r.body.length, 3, 'empty items are skipped');
});

test('a valid X-Request-Id is echoed; a missing or invalid one is replaced by a generated one', async () => {
  const valid = ['abc-123_X.y', 'a', 'Z'.repeat(128)];
  for (const id of valid) {
    const r = await stack.get('/products/1', { headers: { 'X-Request-Id': id } });
    assert.equal(r.headers.get('x-request-id'), id, `valid id ${id.slice(0, 20)} echoed`);
  }

  const generated = [];
  for (const headers of [{}, { 'X-Request-Id': 'bad id!' }, { 'X-Request-Id': 'x'.repeat(129) }, { 'X-Request-Id': 'semi;colon' }]) {
    const r = await stack.get('/products/1', { headers });
    const got = r.headers.get('x-request-id');
    assert.ok(got, `a request id is generated for ${JSON.stringify(headers)}`);
    assert.match(got, /^[A-Za-z0-9._-]{1,128}$/, 'the generated id is itself valid');
    if (headers['X-Request-Id']) assert.notEqual(got, headers['X-Request-Id']);
    generated.push(got);
  }
  assert.equal(new Set(generated).size, generated.length, 'generated ids differ per request');

  // Also on errors.
  const r404 = await stack.get('/no/such/path', { headers: { 'X-Request-Id': 'err-1' } });
  assert.equal(r404.headers.get('x-request-id'), 'err-1');
  const r422 = await stack.get('/products/abc');
  assert.ok(r422.headers.get('x-request-id'), 'X-Request-Id on a 422');
});
