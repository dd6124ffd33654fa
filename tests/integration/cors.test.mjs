// CORS: Access-Control-Allow-Origin per CORS_ORIGINS on ordinary responses and on OPTIONS preflights.
// As the original service (FastAPI's CORSMiddleware with allow_credentials=True): a listed origin is
// echoed with Access-Control-Allow-Credentials: true and Vary: Origin; `*` allows any origin without
// credentials.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.teardown();
});

function list(value) {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
}

function preflight(pathname, origin, method = 'GET', requestHeaders = 'X-Request-Id') {
  return stack.get(pathname, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': requestHeaders },
  });
}

test('by default (CORS_ORIGINS=*) every origin is allowed and headers are exposed', async () => {
  for (const p of ['/products/1', '/products', '/health', '/cache/stats', '/nope']) {
    const r = await stack.get(p, { headers: { Origin: 'http://anything.example' } });
    assert.equal(r.headers.get('access-control-allow-origin'), '*', `${p}: allow-origin`);
    assert.equal(r.headers.get('access-control-allow-credentials'), null, `${p}: no credentials with *`);
    const exposed = list(r.headers.get('access-control-expose-headers'));
    for (const h of ['x-request-id', 'x-total-count', 'link', 'x-cache', 'x-cache-level']) assert.ok(exposed.includes(h), `${p}: exposes ${h} (${exposed})`);
  }
});

test('without Origin (same origin, curl, a server) no CORS header is sent, as the original CORSMiddleware does', async () => {
  for (const p of ['/products/1', '/products', '/health', '/nope']) {
    const r = await stack.get(p);
    for (const [name] of r.headers) assert.ok(!name.startsWith('access-control-'), `${p}: ${name} without Origin`);
  }
  const with_ = await stack.get('/products/1', { headers: { Origin: 'http://anything.example' } });
  assert.equal(with_.headers.get('access-control-allow-origin'), '*', 'with Origin: allowed');
});

test('an OPTIONS preflight answers 204 with methods, headers and max-age', async () => {
  const r = await preflight('/products/1', 'http://anything.example');
  assert.equal(r.status, 204, r.text);
  assert.equal(r.text, '', '204 has no body');
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('access-control-allow-credentials'), null, 'no credentials with *');
  const methods = list(r.headers.get('access-control-allow-methods'));
  assert.ok(methods.includes('get'), `allow-methods ${methods}`);
  assert.ok(list(r.headers.get('access-control-allow-headers')).length > 0, 'allow-headers present');
  const maxAge = r.headers.get('access-control-max-age');
  assert.match(maxAge ?? '', /^\d+$/, 'max-age is a number of seconds');
});

test('preflights for DELETE /cache/clear and for the list are allowed', async () => {
  const del = await preflight('/cache/clear', 'http://anything.example', 'DELETE');
  assert.equal(del.status, 204);
  assert.ok(list(del.headers.get('access-control-allow-methods')).includes('delete'));
  const lst = await preflight('/products?limit=5', 'http://anything.example');
  assert.equal(lst.status, 204);
  assert.equal(lst.headers.get('access-control-allow-origin'), '*');
});

test('with CORS_ORIGINS listing origins only those are echoed, with Vary: Origin and credentials allowed', async () => {
  await stack.restartService({ env: { CORS_ORIGINS: 'http://a.example,http://c.example' } });

  for (const origin of ['http://a.example', 'http://c.example']) {
    for (const [what, r] of [
      ['GET', await stack.get('/products/1', { headers: { Origin: origin } })],
      ['preflight', await preflight('/products/1', origin)],
      ['404', await stack.get('/nope', { headers: { Origin: origin } })],
    ]) {
      assert.equal(r.headers.get('access-control-allow-origin'), origin, `${what} ${origin}: origin echoed`);
      assert.equal(r.headers.get('access-control-allow-credentials'), 'true', `${what} ${origin}: credentials allowed`);
      assert.ok(list(r.headers.get('vary')).includes('origin'), `${what} ${origin}: Vary: Origin (got ${r.headers.get('vary')})`);
    }
    const p = await preflight('/products/1', origin);
    assert.equal(p.status, 204);
    assert.equal((await stack.get('/products/1', { headers: { Origin: origin } })).status, 200);
  }

  for (const origin of ['http://b.example', 'http://a.example.evil', 'https://a.example', 'null']) {
    const r = await stack.get('/products/1', { headers: { Origin: origin } });
    assert.equal(r.status, 200, 'the request itself is still served');
    const acao = r.headers.get('access-control-allow-origin');
    assert.ok(acao === null, `${origin}: no Access-Control-Allow-Origin (got ${acao})`);
    assert.equal(r.headers.get('access-control-allow-credentials'), null, `${origin}: no credentials`);
    assert.ok(list(r.headers.get('vary')).includes('origin'), `${origin}: Vary: Origin, as the answer depends on it`);
    const p = await preflight('/products/1', origin);
    assert.ok(p.status < 500, `${origin}: preflight status ${p.status}`);
    assert.equal(p.headers.get('access-control-allow-origin'), null, `${origin}: preflight not allowed`);
    assert.equal(p.headers.get('access-control-allow-credentials'), null, `${origin}: preflight without credentials`);
  }

  // Without an Origin (not a cross-origin browser request) nothing is allowed either.
  const plain = await stack.get('/products/1');
  assert.equal(plain.headers.get('access-control-allow-origin'), null);
  assert.equal(plain.headers.get('access-control-allow-credentials'), null);
});

test('with a single listed origin, that origin is echoed', async () => {
  await stack.restartService({ env: { CORS_ORIGINS: 'http://a.example' } });
  const r = await stack.get('/products/2', { headers: { Origin: 'http://a.example' } });
  assert.equal(r.headers.get('access-control-allow-origin'), 'http://a.example');
  assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
  const other = await stack.get('/products/2', { headers: { Origin: 'http://b.example' } });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
});
