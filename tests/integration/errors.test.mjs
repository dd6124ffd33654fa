// HTTP-level errors, always as JSON {"detail": ...}: unknown paths, wrong methods, oversized
// headers and bodies, malformed requests sent over a raw socket.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { rawRequest, buildRequest } from '../lib/raw-http.mjs';
import { assertDetail } from './lib/expect.mjs';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.teardown();
});

function assertRawJsonError(res, status) {
  assert.equal(res.status, status, `status; raw response:\n${res.raw.slice(0, 500)}`);
  assert.match(res.headers['content-type'] ?? '', /application\/json/, 'JSON content type');
  assert.ok(res.json && typeof res.json === 'object', `JSON body: ${res.body}`);
  assert.ok('detail' in res.json, `body has detail: ${res.body}`);
}

test('unknown paths answer 404 {"detail":"Not Found"}', async () => {
  for (const p of ['/nope', '/products/1/extra', '/productsX', '/cache', '/cache/clearX', '/health/x']) {
    const r = await stack.get(p);
    assertDetail(r, 404, 'Not Found');
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  }
});

test('wrong methods answer 405 {"detail":"Method Not Allowed"} with Allow', async () => {
  // PUT, PATCH and DELETE /products/{id} and POST /products are routes now, as are
  // GET/PUT /lab/config and POST /lab/scenarios/{name}.
  for (const [method, p, allowed] of [
    ['POST', '/products/1', 'GET'],
    ['PUT', '/products', 'GET'],
    ['DELETE', '/products', 'GET'],
    ['PATCH', '/products', 'GET'],
    ['POST', '/health', 'GET'],
    ['POST', '/', 'GET'],
    ['GET', '/cache/clear', 'DELETE'],
    ['POST', '/cache/stats', 'GET'],
    ['POST', '/lab/config', 'PUT'],
    ['GET', '/lab/scenarios/stampede', 'POST'],
  ]) {
    const r = await stack.get(p, { method });
    assertDetail(r, 405, 'Method Not Allowed');
    const allow = r.headers.get('allow');
    assert.ok(allow, `${method} ${p}: Allow header present`);
    const methods = allow.split(',').map((m) => m.trim().toUpperCase());
    assert.ok(methods.includes(allowed), `${method} ${p}: Allow "${allow}" includes ${allowed}`);
    assert.ok(!methods.includes(method), `${method} ${p}: Allow "${allow}" excludes ${method}`);
  }
  // The product is still readable afterwards; nothing changed.
  const ok = await stack.get('/products/1');
  assert.equal(ok.status, 200);
});

test('a header block larger than 8192 bytes answers 431 JSON', async () => {
  const req = buildRequest('GET', '/products/1', { 'X-Big': 'a'.repeat(10000) });
  const res = await rawRequest(stack.port, req);
  assertRawJsonError(res, 431);
});

test('many headers adding up to more than 8192 bytes answer 431 JSON', async () => {
  const headers = {};
  for (let i = 0; i < 200; i++) headers[`X-H${i}`] = 'v'.repeat(60);
  const res = await rawRequest(stack.port, buildRequest('GET', '/products/1', headers));
  assertRawJsonError(res, 431);
});

test('a header block well below the limit is served', async () => {
  const res = await rawRequest(stack.port, buildRequest('GET', '/products/1', { 'X-Big': 'a'.repeat(6000) }));
  assert.equal(res.status, 200, res.raw.slice(0, 300));
  assert.equal(res.json.id, 1);
});

test('a body larger than MAX_BODY_BYTES (65536) answers 413 JSON', async () => {
  const body = 'x'.repeat(70000);
  const res = await rawRequest(stack.port, buildRequest('DELETE', '/cache/clear', { 'Content-Type': 'text/plain' }, body));
  assertRawJsonError(res, 413);
});

test('a Content-Length above MAX_BODY_BYTES answers 413 without waiting for the body', async () => {
  const req = buildRequest('DELETE', '/cache/clear', { 'Content-Length': 1000000 });
  // Only the head is sent; the server must answer from the declared length alone.
  const res = await rawRequest(stack.port, req, { timeout: 5000 });
  assertRawJsonError(res, 413);
});

test('a small body on a valid route is accepted', async () => {
  const res = await rawRequest(stack.port, buildRequest('DELETE', '/cache/clear', { 'Content-Type': 'text/plain' }, 'tiny'));
  assert.equal(res.status, 200, res.raw.slice(0, 300));
  assert.equal(res.json.message, 'Cache cleared successfully');
});

test('malformed requests answer 400 JSON', async () => {
  const cases = [
    'THIS IS NOT HTTP\r\n\r\n',
    'GET\r\n\r\n',
    'GET /products/1 HTTP/1.1 extra\r\nHost: x\r\n\r\n',
    'GET /products/1 HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n',
    'GET /products/1 HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
    '\x01\x02\x03\x04 binary junk\r\n\r\n',
  ];
  for (const req of cases) {
    let res;
    try {
      res = await rawRequest(stack.port, req, { timeout: 5000 });
    } catch (err) {
      assert.fail(`${JSON.stringify(req)}: no response (${err.code}: ${err.message}); got ${JSON.stringify(err.partial)}`);
    }
    assert.equal(res.status, 400, `${JSON.stringify(req)}:\n${res.raw.slice(0, 300)}`);
    assert.ok(res.json && 'detail' in res.json, `${JSON.stringify(req)}: JSON body with detail: ${res.body}`);
  }
});

test('the service is still healthy after the bad requests', async () => {
  const r = await stack.get('/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'healthy');
  const p = await stack.get('/products/2');
  assert.equal(p.status, 200);
  assert.equal(p.body.id, 2);
});

test('MAX_HEADER_BYTES and MAX_BODY_BYTES follow the settings', async () => {
  await stack.restartService({ env: { MAX_HEADER_BYTES: 2048, MAX_BODY_BYTES: 1024 } });
  let res = await rawRequest(stack.port, buildRequest('GET', '/products/1', { 'X-Big': 'a'.repeat(3000) }));
  assertRawJsonError(res, 431);
  res = await rawRequest(stack.port, buildRequest('GET', '/products/1', { 'X-Small': 'a'.repeat(1000) }));
  assert.equal(res.status, 200);
  res = await rawRequest(stack.port, buildRequest('DELETE', '/cache/clear', {}, 'x'.repeat(2000)));
  assertRawJsonError(res, 413);
  res = await rawRequest(stack.port, buildRequest('DELETE', '/cache/clear', {}, 'x'.repeat(500)));
  assert.equal(res.status, 200);
});
