// The contract test: the running service against docs/openapi.json.
//
// Every endpoint is called with valid and invalid input, on a healthy stack and with Redis and then
// PostgreSQL down, and every answer is checked against what the document declares for its operation
// and status code: the status must be declared, the body must match the declared schema (ajv, JSON
// Schema 2020-12), declared headers must be present when required and match their schemas.
//
// Both directions are kept honest: the service's route table (`cacheme routes`) must equal the
// document's paths, and every response the document declares must have been seen at least once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../integration/lib/util.mjs';
import { rawRequest, buildRequest } from '../integration/lib/raw-http.mjs';
import { loadSpec, makeAjv, operations, routeKey, ResponseChecker, IMPLICIT_METHODS } from './lib/spec.mjs';
import { startContractStack, contractEnv, serviceRoutes, swaggerUiMissing } from './lib/stack.mjs';
import { readEvents } from './lib/sse.mjs';

let raw; // docs/openapi.json as committed
let spec; // dereferenced
let checker;
let stack;

before(async () => {
  ({ raw, deref: spec } = await loadSpec());
  checker = new ResponseChecker(spec, makeAjv());
  stack = await startContractStack();
});

after(async () => {
  await stack?.teardown();
});

/** Request `url` (a concrete path) with `method` and check the answer as `METHOD template`. */
async function call(method, template, url, init = {}) {
  const res = await stack.get(url, { ...init, method });
  const body = checker.check(method, template, res, { what: `${method} ${url} -> ${res.status}` });
  return { res, body };
}

/** A concrete URL for a path template, with each {param} replaced by its declared example. */
function concrete(template, method = 'get') {
  const op = spec.paths[template][method];
  return template.replace(/\{([^}]+)\}/g, (_, name) => {
    const p = op.parameters.find((x) => x.in === 'path' && x.name === name);
    return encodeURIComponent(String(p?.example ?? 1));
  });
}

/** A raw-socket answer in the shape the checker takes. */
function fromRaw(r) {
  return { status: r.status, headers: r.headers, text: r.body };
}

// ---------------------------------------------------------------- both directions ---

test('the service has exactly the routes the document describes (cacheme routes vs paths)', async () => {
  const { routes } = await serviceRoutes();
  assert.ok(routes.length > 0, '`cacheme routes` printed routes');
  const service = new Set(routes.map((r) => routeKey(...r.split(' '))));
  const documented = new Set(operations(raw).filter(({ method }) => !IMPLICIT_METHODS.has(method)).map(({ path, method }) => routeKey(method, path)));
  const missingFromSpec = [...service].filter((r) => !documented.has(r));
  const missingFromService = [...documented].filter((r) => !service.has(r));
  assert.deepEqual(
    { missingFromSpec, missingFromService },
    { missingFromSpec: [], missingFromService: [] },
    'every route of the service is documented in docs/openapi.json, and every documented operation exists in the service',
  );
});

test('GET /openapi.json serves docs/openapi.json exactly as it is in the repository', async () => {
  const { body } = await call('GET', '/openapi.json', '/openapi.json');
  assert.deepEqual(body, raw);
});

// ---------------------------------------------------------------- healthy stack ---

test('GET / names the version of the document and only documented endpoints', async () => {
  const { body } = await call('GET', '/', '/');
  assert.equal(body.version, raw.info.version, 'the version in GET / is info.version');
  for (const [name, p] of Object.entries(body.endpoints)) assert.ok(raw.paths[p], `endpoints.${name} (${p}) is a documented path`);
});

test('GET /health on a healthy stack', async () => {
  const { body } = await call('GET', '/health', '/health');
  assert.equal(body.status, 'healthy');
});

test('GET /products/{id} with valid ids: a miss from the database, then a hit from the cache', async () => {
  const first = await call('GET', '/products/{id}', '/products/1');
  assert.equal(first.res.status, 200);
  assert.equal(first.body.source, 'database');
  const second = await call('GET', '/products/{id}', '/products/1');
  assert.equal(second.body.source, 'cache');
  assert.equal(second.res.headers.get('content-type'), 'application/json');
  for (const url of ['/products/15', '/products/01', '/products/%32', '/products/3?unused=1']) {
    const { res } = await call('GET', '/products/{id}', url);
    assert.equal(res.status, 200, url);
  }
});

test('GET /products/{id} with ids that are integers but no product: 404', async () => {
  for (const id of ['999999', '0', '-1', '-0', '2147483647', '-2147483648']) {
    const { res } = await call('GET', '/products/{id}', `/products/${id}`);
    assert.equal(res.status, 404, id);
  }
});

test('GET /products/{id} with ids that are not 32-bit integers: 422 naming the parameter', async () => {
  for (const [id, type] of [
    ['abc', 'int_parsing'],
    ['1.5', 'int_parsing'],
    ['+1', 'int_parsing'],
    ['1e3', 'int_parsing'],
    ['%20', 'int_parsing'],
    ['', 'int_parsing'],
    ['2147483648', 'less_than_equal'],
    ['-2147483649', 'greater_than_equal'],
    ['99999999999999999999999', 'less_than_equal'],
  ]) {
    const { res, body } = await call('GET', '/products/{id}', `/products/${id}`);
    assert.equal(res.status, 422, `/products/${id}`);
    assert.equal(body.detail[0].type, type, `/products/${id}`);
    assert.deepEqual(body.detail[0].loc, ['path', 'product_id']);
    assert.equal(body.detail[0].input, decodeURIComponent(id));
  }
});

test('GET /products pages, with X-Total-Count always and Link only when a next page exists', async () => {
  const cases = [
    ['/products', 10, 0],
    ['/products?limit=1', 1, 0],
    ['/products?limit=100', 100, 0],
    ['/products?limit=5&offset=10', 5, 10],
    ['/products?offset=14', 10, 14],
    ['/products?offset=15', 10, 15],
    ['/products?offset=2147483647', 10, 2147483647],
    ['/products?limit=3&unused=x', 3, 0],
  ];
  for (const [url, limit, offset] of cases) {
    const { res, body } = await call('GET', '/products', url);
    assert.equal(res.status, 200, url);
    const total = Number(res.headers.get('x-total-count'));
    assert.equal(body.length, Math.max(0, Math.min(limit, total - offset)), `${url}: page size`);
    const link = res.headers.get('link');
    if (offset + limit < total) assert.equal(link, `</products?limit=${limit}&offset=${offset + limit}>; rel="next"`, `${url}: Link`);
    else assert.equal(link, null, `${url}: no Link on the last page`);
  }
});

test('GET /products with limit or offset out of bounds or not integers: 422', async () => {
  for (const [query, name, type] of [
    ['limit=0', 'limit', 'greater_than_equal'],
    ['limit=101', 'limit', 'less_than_equal'],
    ['limit=-1', 'limit', 'greater_than_equal'],
    ['limit=x', 'limit', 'int_parsing'],
    ['limit=', 'limit', 'int_parsing'],
    ['limit=2.5', 'limit', 'int_parsing'],
    ['offset=-1', 'offset', 'greater_than_equal'],
    ['offset=2147483648', 'offset', 'less_than_equal'],
    ['offset=abc', 'offset', 'int_parsing'],
  ]) {
    const { res, body } = await call('GET', '/products', `/products?${query}`);
    assert.equal(res.status, 422, query);
    assert.equal(body.detail[0].type, type, query);
    assert.deepEqual(body.detail[0].loc, ['query', name], query);
  }
});

test('the bounds the document gives each integer parameter are the ones the service enforces', async () => {
  let checked = 0;
  for (const { path, method, op } of operations(spec)) {
    for (const p of (op.parameters ?? []).filter((x) => x.schema?.type === 'integer' && x.in !== 'header')) {
      const { minimum: min, maximum: max } = p.schema;
      const url = (value) => {
        const base = concrete(path, method);
        if (p.in === 'path') return path.replace(`{${p.name}}`, String(value)).replace(/\{[^}]+\}/g, '1');
        return `${base}?${p.name}=${value}`;
      };
      for (const [value, type] of [
        [min, null],
        [max, null],
        [BigInt(min) - 1n, 'greater_than_equal'],
        [BigInt(max) + 1n, 'less_than_equal'],
        ['x', 'int_parsing'],
      ]) {
        const { res, body } = await call(method.toUpperCase(), path, url(value));
        const what = `${method.toUpperCase()} ${url(value)} (${p.name} in ${min}..${max})`;
        if (type === null) {
          assert.notEqual(res.status, 422, `${what}: accepted`);
        } else {
          assert.equal(res.status, 422, `${what}: rejected`);
          assert.equal(body.detail[0].type, type, what);
          assert.equal(body.detail[0].loc[0], p.in, what);
          if (p.in === 'query') assert.equal(body.detail[0].loc[1], p.name, what);
          assert.equal(body.detail[0].input, String(value), what);
        }
      }
      checked++;
    }
  }
  assert.ok(checked >= 3, 'id, limit and offset were checked');
});

test('GET /cache/stats and DELETE /cache/clear on a healthy stack', async () => {
  const stats = await call('GET', '/cache/stats', '/cache/stats');
  assert.notEqual(stats.body.cache_stats, null, 'Redis answers');
  const cleared = await call('DELETE', '/cache/clear', '/cache/clear');
  assert.equal(cleared.res.status, 200);
  assert.ok(cleared.body.cleared_keys >= 1, 'the products read above were cached');
  const again = await call('DELETE', '/cache/clear', '/cache/clear');
  assert.equal(again.body.cleared_keys, 0);
});

/** Read `count` events of GET /events and check the response and each event's data. */
async function checkEvents(count) {
  const r = await readEvents(`${stack.url}/events`, { count, timeout: 5000 + count * 2000 });
  const declared = checker.response('GET', '/events', r.status);
  checker.check('GET', '/events', r, { what: `GET /events -> ${r.status}` });
  const schemas = declared.content?.['text/event-stream']?.['x-sse-events'] ?? {};
  assert.ok(r.events.length >= count, `${count} events arrived (got ${r.events.length}): ${JSON.stringify(r.text.slice(0, 500))}`);
  const data = [];
  for (const e of r.events) {
    assert.ok(schemas[e.event], `event "${e.event}" is declared in x-sse-events`);
    let value;
    try {
      value = JSON.parse(e.data);
    } catch {
      assert.fail(`event ${e.event}: data is not JSON: ${e.data}`);
    }
    checker.assertSchema(schemas[e.event], value, `GET /events: event ${e.event}`);
    data.push(value);
  }
  return { ...r, data };
}

test('GET /events streams stats events whose data match the declared schema', { timeout: 30000 }, async () => {
  const { data } = await checkEvents(2);
  assert.equal(data[0].health.status, 'healthy');
});

test('GET /docs is the Swagger UI page, and the assets it loads are served', async () => {
  const missing = swaggerUiMissing();
  assert.ok(!missing, missing);
  const { res, body } = await call('GET', '/docs', '/docs');
  assert.equal(res.status, 200);
  // Every script and stylesheet the page names is served, and the two Swagger UI needs are among them.
  const assets = [...body.matchAll(/\b(?:src|href)\s*=\s*"([^"]+)"/g)].map((m) => m[1]);
  for (const needed of ['/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js']) {
    assert.ok(assets.includes(needed), `the page loads ${needed}`);
  }
  for (const asset of assets) {
    const a = await stack.get(asset);
    assert.equal(a.status, 200, `${asset}: ${a.text.slice(0, 200)}`);
    assert.ok(a.text.length > 100, `${asset} has content`);
  }
  assert.doesNotMatch(body, /\b(src|href)\s*=\s*["']?(https?:)?\/\//i, 'the page loads nothing from another origin');
});

test('HEAD is answered wherever GET is, with the headers GET declares and no body', async () => {
  for (const { path, method } of operations(spec)) {
    if (method !== 'get') continue;
    const url = concrete(path);
    const { res } = await call('HEAD', path, url);
    assert.equal(res.status, 200, `HEAD ${url}`);
  }
});

test('X-Request-Id: a valid one is echoed, an invalid one replaced by a valid one', async () => {
  for (const [sent, echoed] of [
    ['contract-1.2_3', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['has space', false],
    ['semi;colon', false],
  ]) {
    const { res } = await call('GET', '/products/{id}', '/products/2', { headers: { 'X-Request-Id': sent } });
    const got = res.headers.get('x-request-id');
    if (echoed) assert.equal(got, sent);
    else assert.notEqual(got, sent);
  }
});

// ---------------------------------------------------------------- errors of every path ---

test('every path answers 405 with Allow for the methods it does not have', async () => {
  for (const [path, item] of Object.entries(spec.paths)) {
    const have = Object.keys(item).filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m));
    const url = concrete(path, have[0]);
    for (const wrong of ['get', 'post', 'put', 'patch', 'delete'].filter((m) => !have.includes(m))) {
      for (const m of have) {
        const res = await stack.get(url, { method: wrong.toUpperCase() });
        checker.check(m.toUpperCase(), path, res, { what: `${wrong.toUpperCase()} ${url} -> ${res.status}` });
        assert.equal(res.status, 405, `${wrong.toUpperCase()} ${url}`);
      }
    }
  }
});

test('unknown paths answer the NotFound response, for any method', async () => {
  for (const [method, url] of [
    ['GET', '/nope'],
    ['GET', '/products/1/extra'],
    ['GET', '/productsX'],
    ['GET', '/cache'],
    ['DELETE', '/cache/clearX'],
    ['POST', '/nope'],
    ['GET', '/openapi.yaml'],
    ['GET', '/redoc'],
  ]) {
    const res = await stack.get(url, { method });
    assert.equal(res.status, 404, `${method} ${url}`);
    checker.checkComponent('NotFound', res, { what: `${method} ${url}` });
  }
});

test('an OPTIONS preflight on every path answers the CorsPreflight response', async () => {
  for (const [path, item] of Object.entries(spec.paths)) {
    const url = concrete(path, Object.keys(item).find((m) => m !== 'parameters'));
    const res = await stack.get(url, {
      method: 'OPTIONS',
      headers: { Origin: 'http://elsewhere.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'X-Request-Id' },
    });
    assert.equal(res.status, 204, `OPTIONS ${url}`);
    checker.checkComponent('CorsPreflight', res, { what: `OPTIONS ${url}` });
    const methods = res.headers.get('access-control-allow-methods').split(',').map((m) => m.trim().toLowerCase());
    for (const m of Object.keys(item).filter((k) => k !== 'parameters')) assert.ok(methods.includes(m), `OPTIONS ${url}: allows ${m}`);
  }
});

test('every operation answers 400 to a malformed request, 413 to a large body, 431 to large headers', async () => {
  for (const { path, method } of operations(spec)) {
    const url = concrete(path, method);
    const M = method.toUpperCase();
    const requests = [
      [400, buildRequest(M, url, { 'Content-Length': 'abc' })],
      [400, `${M} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon in this line\r\nConnection: close\r\n\r\n`],
      [413, buildRequest(M, url, { 'Content-Length': '70000' })],
      [413, buildRequest(M, url, {}, 'x'.repeat(70000))],
      [431, buildRequest(M, url, { 'X-Padding': 'p'.repeat(9000) })],
    ];
    for (const [status, data] of requests) {
      const r = await rawRequest(stack.port, data);
      checker.check(M, path, fromRaw(r), { what: `${M} ${url} (expecting ${status}) -> ${r.status}` });
      assert.equal(r.status, status, `${M} ${url}: ${data.slice(0, 80)}`);
    }
  }
});

// ---------------------------------------------------------------- CORS with a list of origins ---

test('with CORS_ORIGINS listing origins, answers still match the document', { timeout: 60000 }, async () => {
  await stack.restartService({ env: contractEnv({ CORS_ORIGINS: 'http://a.example,http://b.example' }) });
  try {
    for (const origin of ['http://a.example', 'http://c.example']) {
      const { res } = await call('GET', '/products/{id}', '/products/1', { headers: { Origin: origin } });
      assert.equal(res.headers.get('access-control-allow-origin'), origin === 'http://a.example' ? origin : null, origin);
      assert.match(res.headers.get('vary') ?? '', /Origin/);
      await call('GET', '/products', '/products?limit=2', { headers: { Origin: origin } });
      await call('GET', '/products/{id}', '/products/nope', { headers: { Origin: origin } });
    }
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

// ---------------------------------------------------------------- failures ---

test('with Redis down: health degraded, products from the database, stats without Redis, clear 503', { timeout: 60000 }, async () => {
  await stack.killRedis();
  const health = await call('GET', '/health', '/health');
  assert.equal(health.res.status, 200);
  assert.equal(health.body.status, 'degraded');
  const product = await call('GET', '/products/{id}', '/products/4');
  assert.equal(product.res.status, 200);
  assert.equal(product.body.source, 'database');
  await call('GET', '/products', '/products');
  const stats = await call('GET', '/cache/stats', '/cache/stats');
  assert.equal(stats.body.cache_stats, null);
  const clear = await call('DELETE', '/cache/clear', '/cache/clear');
  assert.equal(clear.res.status, 503);
  await checkEvents(1);

  await stack.startRedis();
  await waitFor(async () => (await stack.get('/health')).body?.status === 'healthy', { timeout: 20000, message: 'health back to healthy after Redis restarted' });
});

test('with PostgreSQL down: health 503, cached products still 200, everything else needing it 503', { timeout: 60000 }, async () => {
  // Product 5 in the cache before PostgreSQL goes.
  await waitFor(async () => (await stack.get('/products/5')).body?.source === 'cache', { timeout: 20000, message: 'product 5 cached' });
  await stack.stopPostgres();
  const health = await call('GET', '/health', '/health');
  assert.equal(health.res.status, 503);
  assert.equal(health.body.status, 'unhealthy');
  const cached = await call('GET', '/products/{id}', '/products/5');
  assert.equal(cached.res.status, 200);
  assert.equal(cached.body.source, 'cache');
  const uncached = await call('GET', '/products/{id}', '/products/6');
  assert.equal(uncached.res.status, 503);
  const list = await call('GET', '/products', '/products');
  assert.equal(list.res.status, 503);
  await call('GET', '/cache/stats', '/cache/stats');
  await call('DELETE', '/cache/clear', '/cache/clear');
  await call('GET', '/', '/');
  await call('GET', '/openapi.json', '/openapi.json');
  await checkEvents(1);
});

// ---------------------------------------------------------------- coverage ---

test('every response the document declares was given by the service in this run', () => {
  const unseen = checker.unseen();
  assert.deepEqual(unseen, [], 'declared responses never seen (the document promises more than the service does, or this test misses a case)');
  for (const name of ['NotFound', 'CorsPreflight']) assert.ok(checker.seen.has(`component ${name}`), `components.responses.${name} seen`);
});
