// The contract test: the running service against docs/openapi.json.
//
// Every endpoint is called with valid and invalid input, on a healthy stack and with Redis and then
// PostgreSQL down, and every answer is checked against what the document declares for its operation
// and status code: the status must be declared, the body must match the declared schema (ajv, JSON
// Schema 2020-12), declared headers must be present when required and match their schemas.
//
// Both directions are kept honest: the service's route table (`cacheme routes`) must equal the
// document's paths, and every response the document declares must have been seen at least once.
//
// The writes (POST /products, PUT/PATCH/DELETE /products/{id}) are called with valid bodies at every
// bound and with every kind of invalid one; for each body the document's own request schema must give
// the same verdict as the service (accepted / 422), and the 422 must list exactly the expected problems.
// They run in each CACHE_WRITE_MODE (202 is only answered in write-behind mode). Nothing is skipped: a
// mode the binary refuses, or a tool that is missing (promtool, Chromium), fails the test that needs it.
//
// The failure-mode protections are exercised for real: X-Cache on every lookup, a cached "not found",
// a value served stale while PostgreSQL is stopped, the Redis circuit breaker opening, turning half-open
// and closing (one event loop, so that every request sees the same breaker), the lab settings at every
// bound and past it, the admin token, and each scenario with its 404 and 409.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { waitFor } from '../lib/util.mjs';
import { rawRequest, buildRequest } from '../lib/raw-http.mjs';
import { loadSpec, makeAjv, operations, routeKey, requestSchema, examplesOf, ResponseChecker, IMPLICIT_METHODS } from './lib/spec.mjs';
import { startContractStack, contractEnv, serviceRoutes, swaggerUiMissing, redocMissing } from './lib/stack.mjs';
import { readEvents, openEvents } from '../lib/sse.mjs';
import * as B from './lib/bodies.mjs';
import * as L from './lib/lab.mjs';
import { LAB_DEFAULTS, SETTINGS } from '../lib/lab.mjs';

let raw; // docs/openapi.json as committed
let spec; // dereferenced
let checker;
let stack;
const emptyAnswers = []; // answers without a body (204, 202), for the Content-Type check

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

/** fetch options for a write: `payload` (a value, sent as JSON, or a string/Buffer sent as is). */
function jsonInit(payload, headers = {}) {
  const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
  return { body, headers: { 'Content-Type': 'application/json', ...headers } };
}

/** The first example of an operation's request body, for requests that only need some valid body. */
function exampleBody(op) {
  return examplesOf(op.requestBody?.content?.['application/json'])[0]?.value;
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
  assert.equal(body.components.redis.circuit_breaker, 'closed');
  assert.equal(body.components.redis.address, `127.0.0.1:${stack.redisPort}`, 'the server the loop is connected to');
  assert.equal(body.components.redis.sentinel, null, 'no Redis Sentinel');
});

test('GET /products/{id} with valid ids: a miss from the database, then a hit from the cache', async () => {
  const first = await call('GET', '/products/{id}', '/products/1');
  assert.equal(first.res.status, 200);
  assert.equal(first.body.source, 'database');
  assert.equal(first.res.headers.get('x-cache'), 'MISS');
  const second = await call('GET', '/products/{id}', '/products/1');
  assert.equal(second.body.source, 'cache');
  assert.equal(second.res.headers.get('x-cache'), 'HIT');
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

test('GET /products/{id} with ids that are not integers: 422 naming the parameter', async () => {
  for (const [id, type] of [
    ['abc', 'int_parsing'],
    ['1.5', 'int_parsing'],
    ['+1', 'int_parsing'],
    ['1e3', 'int_parsing'],
    ['%20', 'int_parsing'],
    ['1%00', 'int_parsing'],
  ]) {
    const { res, body } = await call('GET', '/products/{id}', `/products/${id}`);
    assert.equal(res.status, 422, `/products/${id}`);
    assert.equal(body.detail[0].type, type, `/products/${id}`);
    assert.deepEqual(body.detail[0].loc, ['path', 'product_id']);
    assert.equal(body.detail[0].input, decodeURIComponent(id));
  }
});

test('GET /products/{id} with integers outside the 32-bit range: 404, as the original answers', async () => {
  for (const id of ['2147483648', '-2147483649', '99999999999', '99999999999999999999999']) {
    const { res, body } = await call('GET', '/products/{id}', `/products/${id}`);
    assert.equal(res.status, 404, `/products/${id}`);
    assert.equal(body.detail, 'Product not found');
    assert.equal(res.headers.get('x-cache'), 'BYPASS');
  }
});

test('GET /products pages, with X-Total-Count always and Link only when a next page exists', async () => {
  const cases = [
    ['/products', 10, 0],
    ['/products?limit=1', 1, 0],
    ['/products?limit=100', 100, 0],
    ['/products?limit=1000', 1000, 0],
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
  // limit=0: an empty page with the total, and no Link (a next page of 0 would never end).
  const { res, body } = await call('GET', '/products', '/products?limit=0');
  assert.deepEqual(body, []);
  assert.ok(Number(res.headers.get('x-total-count')) > 0);
  assert.equal(res.headers.get('link'), null);
});

test('GET /products with limit or offset out of bounds or not integers: 422', async () => {
  for (const [query, name, type] of [
    ['limit=1001', 'limit', 'less_than_equal'],
    ['limit=-1', 'limit', 'greater_than_equal'],
    ['limit=x', 'limit', 'int_parsing'],
    ['limit=', 'limit', 'int_parsing'],
    ['limit=2.5', 'limit', 'int_parsing'],
    ['offset=-1', 'offset', 'greater_than_equal'],
    ['offset=2147483648', 'offset', 'less_than_equal'],
    ['offset=abc', 'offset', 'int_parsing'],
    ['limit=1%00', 'limit', 'int_parsing'],
    ['offset=-1&x', 'offset', 'greater_than_equal'],
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
    // The product id has no bounds: any integer is an id, and one outside the 32-bit range is no product's (404).
    for (const p of (op.parameters ?? []).filter((x) => x.schema?.type === 'integer' && x.in !== 'header' && 'maximum' in x.schema)) {
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
        // A write gets a valid body, so that only the parameter can be wrong.
        const init = op.requestBody ? jsonInit(exampleBody(op)) : {};
        const { res, body } = await call(method.toUpperCase(), path, url(value), init);
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
  assert.ok(checked >= 2, 'limit and offset were checked');
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

test('GET /metrics answers the Prometheus text format, with the counters /cache/stats reports', { timeout: 30000 }, async () => {
  await call('GET', '/products/{id}', '/products/2');
  await stack.waitForKeys('product:2');
  await call('GET', '/products/{id}', '/products/2');
  const stats = (await call('GET', '/cache/stats', '/cache/stats')).body.app_stats;
  const { res, body } = await call('GET', '/metrics', '/metrics');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const sample = (name) => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
    assert.ok(m, `${name} is exposed`);
    return Number(m[1]);
  };
  assert.match(body, new RegExp(`^cacheme_build_info\\{version="${raw.info.version.replace(/\./g, '\\.')}"\\} 1$`, 'm'), 'build info with the version');
  for (const [metric, member] of [
    ['cacheme_cache_hits_total', 'hits'],
    ['cacheme_cache_misses_total', 'misses'],
    ['cacheme_cache_errors_total', 'redis_errors'],
    ['cacheme_db_queries_total', 'db_queries'],
    ['cacheme_db_errors_total', 'db_errors'],
    ['cacheme_writes_total', 'writes'],
    ['cacheme_invalidations_total', 'invalidations'],
    ['cacheme_change_notifications_total', 'notifications'],
  ]) {
    assert.equal(sample(metric), stats[member], `${metric} is app_stats.${member}`);
  }
  assert.match(body, /^cacheme_http_requests_total\{route="\/products\/\{id\}",status="200",source="cache"\} [1-9][0-9]*$/m, 'the cached answers are counted by route, status and source');
  assert.match(body, /^cacheme_circuit_breaker_state\{loop="0"\} 0$/m, 'the breaker of loop 0 is closed');
  const families = [...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
  assert.equal(new Set(families).size, families.length, 'every metric family is declared once');
  // promtool (the Prometheus project's own checker) agrees. scripts/test.sh installs it (Debian's
  // prometheus package, scripts/deps.sh metrics): missing, it fails this test rather than being passed over.
  const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8', timeout: 20000 });
  assert.notEqual(check.error?.code, 'ENOENT', 'promtool is not on PATH: install the Debian package prometheus (scripts/deps.sh metrics)');
  assert.ifError(check.error);
  assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
});

test('/cache/stats latency counts the answers of GET /products/{id} by source', async () => {
  await call('DELETE', '/cache/clear', '/cache/clear');
  const before = (await call('GET', '/cache/stats', '/cache/stats')).body.latency;
  await call('GET', '/products/{id}', '/products/8'); // database
  await stack.waitForKeys('product:8');
  await call('GET', '/products/{id}', '/products/8'); // cache
  await call('GET', '/products/{id}', '/products/8'); // cache
  await call('GET', '/products/{id}', '/products/777777'); // 404 from the database
  await call('GET', '/products/{id}', '/products/abc'); // 422: no source
  const after = (await call('GET', '/cache/stats', '/cache/stats')).body.latency;
  const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k].count - before[k].count]));
  assert.deepEqual(delta, { cache: 2, database: 2, stale: 0 });
  for (const [source, l] of Object.entries(after)) {
    assert.ok(l.p50_ms <= l.p95_ms && l.p95_ms <= l.p99_ms, `${source}: p50 <= p95 <= p99 ${JSON.stringify(l)}`);
    if (l.count > 0) assert.ok(l.max_ms > 0, `${source}: a maximum`);
    else assert.deepEqual(l, { count: 0, p50_ms: 0, p95_ms: 0, p99_ms: 0, max_ms: 0 }, `${source}: nothing yet`);
  }
});

/** Read `count` events of GET /events and check the response and each event's data. */
async function checkEvents(count) {
  const r = await readEvents(`${stack.url}/events`, { count, timeout: 5000 + count * 2000 });
  checker.check('GET', '/events', r, { what: `GET /events -> ${r.status}` });
  assert.ok(r.events.length >= count, `${count} events arrived (got ${r.events.length}): ${JSON.stringify(r.text.slice(0, 500))}`);
  const data = r.events.map(checkEvent);
  return { ...r, data };
}

/** Check one event of GET /events against the schema x-sse-events declares for it; returns its data. */
function checkEvent(e) {
  const declared = checker.response('GET', '/events', 200);
  const schemas = declared.content?.['text/event-stream']?.['x-sse-events'] ?? {};
  assert.ok(schemas[e.event], `event "${e.event}" is declared in x-sse-events`);
  let value;
  try {
    value = JSON.parse(e.data);
  } catch {
    assert.fail(`event ${e.event}: data is not JSON: ${e.data}`);
  }
  checker.assertSchema(schemas[e.event], value, `GET /events: event ${e.event}`);
  return value;
}

/** Open GET /events, check the response against the document, and wait for its first stats event. */
async function openCheckedEvents() {
  const stream = await openEvents(`${stack.url}/events`, { timeout: 10000 });
  checker.check('GET', '/events', { status: stream.status, headers: stream.headers, text: '' }, { what: 'GET /events (opened)' });
  checkEvent(await stream.next((e) => e.event === 'stats'));
  return stream;
}

test('GET /events streams stats events whose data match the declared schema', { timeout: 30000 }, async () => {
  const { data } = await checkEvents(2);
  assert.equal(data[0].health.status, 'healthy');
});

test('GET /topology: the single topology, where a key lives, and every bad query answered 400 (422 for product_id)', async () => {
  const plain = await call('GET', '/topology', '/topology');
  assert.equal(plain.res.status, 200);
  assert.equal(plain.body.redis.mode, 'single');
  assert.equal(plain.body.redis.nodes[0].state, 'up');
  assert.equal(plain.body.postgres.primary.state, 'up');
  assert.equal(plain.body.key, null);
  const byKey = await call('GET', '/topology', '/topology?key=product%3A1');
  assert.equal(byKey.body.key.key, 'product:1');
  const byId = await call('GET', '/topology', '/topology?product_id=2');
  assert.equal(byId.body.key.key, 'product:2');
  for (const q of ['key=a&product_id=1', 'key=', 'key=%FF']) {
    const bad = await call('GET', '/topology', `/topology?${q}`);
    assert.equal(bad.res.status, 400, q);
  }
  // product_id is an integer parameter like limit: 422 in FastAPI's shape.
  for (const [q, type] of [['product_id=x', 'int_parsing'], ['product_id=1%00', 'int_parsing'], ['product_id=2147483648', 'less_than_equal']]) {
    const bad = await call('GET', '/topology', `/topology?${q}`);
    assert.equal(bad.res.status, 422, q);
    assert.equal(bad.body.detail[0].type, type, q);
    assert.deepEqual(bad.body.detail[0].loc, ['query', 'product_id'], q);
  }
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

test('GET /redoc is the ReDoc page on /openapi.json, and its script is served from the same origin', async () => {
  const missing = redocMissing();
  assert.ok(!missing, missing);
  const { res, body } = await call('GET', '/redoc', '/redoc');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html\b/);
  assert.match(body, /<redoc\s[^>]*spec-url="\/openapi\.json"/, 'ReDoc is pointed at the service\'s own document');
  const scripts = [...body.matchAll(/<script\b[^>]*\bsrc\s*=\s*"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(scripts.length > 0, 'the page loads a script');
  const sizes = {};
  for (const src of scripts) {
    assert.match(src, /^\/[^/]/, `${src} is a path on the same origin`);
    const a = await stack.get(src);
    assert.equal(a.status, 200, `${src}: ${a.text.slice(0, 200)}`);
    assert.match(a.headers.get('content-type'), /^text\/javascript\b/, `${src} is JavaScript`);
    sizes[src] = a.text.length;
  }
  assert.ok(sizes['/redoc/redoc.standalone.js'] > 100000, `the page loads ReDoc's standalone bundle (${JSON.stringify(sizes)})`);
  assert.doesNotMatch(body, /\b(src|href|spec-url)\s*=\s*["']?(https?:)?\/\//i, 'the page loads nothing from another origin');
});

test('/docs and /redoc assets: a name with a NUL (%00) is 400, never a shorter name; a file that is not there is 404', async () => {
  for (const url of ['/docs/init.js%00.png', '/docs/swagger-ui.css%00', '/redoc/redoc.standalone.js%00x', '/redoc/init.js%00']) {
    const r = await stack.get(url);
    assert.equal(r.status, 400, `${url}: ${r.status} ${r.text.slice(0, 100)}`);
    assert.deepEqual(r.body, { detail: 'Bad Request' }, url);
  }
  for (const url of ['/redoc/nope.js', '/docs/nope.js', '/redoc/..%2f..%2fetc%2fpasswd']) {
    const r = await stack.get(url);
    assert.equal(r.status, 404, `${url}: ${r.status} ${r.text.slice(0, 100)}`);
    assert.deepEqual(r.body, { detail: 'Not Found' }, url);
  }
});

test('HEAD is answered wherever GET is, with the headers GET declares and no body', async () => {
  for (const { path, method } of operations(spec)) {
    if (method !== 'get') continue;
    const url = concrete(path);
    const { res } = await call('HEAD', path, url);
    // The session routes need a session: without a cookie HEAD gets GET's 401, headers alone.
    assert.equal(res.status, path.startsWith('/sessions') ? 401 : 200, `HEAD ${url}`);
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
    ['GET', '/redocX'],
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

test('every operation answers 400 to a malformed or ambiguously framed request, 501 to an unknown transfer coding, 413 to a large body, 431 to large headers', async () => {
  for (const { path, method } of operations(spec)) {
    const url = concrete(path, method);
    const M = method.toUpperCase();
    const requests = [
      [400, buildRequest(M, url, { 'Content-Length': 'abc' })],
      [400, `${M} ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon in this line\r\nConnection: close\r\n\r\n`],
      [400, buildRequest(M, url, { 'Content-Length': '+0' })],
      [400, `${M} ${url} HTTP/1.1\r\nConnection: close\r\n\r\n`],
      [501, buildRequest(M, url, { 'Transfer-Encoding': 'gzip' })],
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
      const created = await call('POST', '/products', '/products', jsonInit({ name: 'Contract CORS', price: 1 }, { Origin: origin }));
      assert.equal(created.res.status, 201);
      assert.equal(created.res.headers.get('access-control-allow-origin'), origin === 'http://a.example' ? origin : null, `POST with Origin ${origin}`);
      await call('DELETE', '/products/{id}', created.res.headers.get('location'), { headers: { Origin: origin } });
    }
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

// ---------------------------------------------------------------- writes ---

/** Send a write (payload: a value sent as JSON, a string/Buffer sent as is, or undefined for none) and check the answer. */
async function write(method, template, url, payload, headers = {}) {
  return call(method, template, url, payload === undefined ? { headers } : jsonInit(payload, headers));
}

/** Create a product through the API for a test; returns it as answered. */
async function createProduct(members = {}) {
  const { res, body } = await write('POST', '/products', '/products', { ...B.BASE, ...members });
  assert.equal(res.status, 201, `POST /products: ${JSON.stringify(body)}`);
  return body;
}

/** The product as GET /products/{id} answers it (checked against the document). */
async function readProduct(id) {
  return call('GET', '/products/{id}', `/products/${id}`);
}

/** The document's verdict on a request body: { ok, errors }. */
function schemaVerdict(method, template, value) {
  const schema = requestSchema(spec, method, template);
  assert.ok(schema, `${method} ${template} declares an application/json request body`);
  return checker.accepts(schema, value);
}

/** Assert that a product has the expected members (price compared as a number). */
function assertMembers(product, expected, what) {
  for (const [k, v] of Object.entries(expected)) {
    if (k === 'price') assert.equal(Number(product.price), Number(v), `${what}: price`);
    else assert.deepEqual(product[k], v, `${what}: ${k}`);
  }
}

const MEMBERS = ['name', 'description', 'price', 'category'];
const membersOf = (p) => Object.fromEntries(MEMBERS.map((k) => [k, p[k]]));
const entryKeys = (detail) => detail.map((d) => `${d.type} ${d.loc.join('.')}`).sort();
const expectedKeys = (errors) => errors.map(([type, ...loc]) => `${type} ${loc.join('.')}`).sort();

/**
 * The `input` of each body entry of a 422: null for json_invalid, the whole body for missing and for
 * whole-body problems, otherwise the member's value.
 */
function assertInputs(detail, value, what) {
  for (const d of detail) {
    const where = `${what}: input of ${d.type} at ${JSON.stringify(d.loc)}`;
    if (d.type === 'json_invalid') assert.equal(d.input, null, where);
    else if (value === undefined) continue;
    else if (d.type === 'missing' || d.loc.length === 1) assert.deepEqual(d.input, value, where);
    else assert.deepEqual(d.input, value[d.loc[1]], where);
  }
}

/**
 * Send an invalid body and expect 422 with exactly the problems of the case. Unless the case is about
 * the JSON text itself (json_invalid, which a schema cannot see), the document's request schema must
 * reject the body too.
 */
async function expectInvalid(method, template, url, c) {
  const value = B.valueOf(c);
  const what = `${method} ${url} with ${c.what}`;
  if (!c.errors.some(([type]) => type === 'json_invalid')) {
    assert.equal(schemaVerdict(method, template, value).ok, false, `${what}: the document's request schema rejects it too`);
  }
  const { res, body } = await write(method, template, url, B.payloadOf(c));
  assert.equal(res.status, 422, `${what}: ${JSON.stringify(body)?.slice(0, 300)}`);
  assert.deepEqual(entryKeys(body.detail), expectedKeys(c.errors), `${what}: the problems listed`);
  assertInputs(body.detail, value, what);
  return body;
}

/** Bodies of every invalid kind for a write: `whole` (POST, PUT) or not (PATCH). */
function invalidCases(whole) {
  const members = B.MEMBER_ERRORS.map((c) => ({ ...c, body: whole ? { ...B.BASE, ...c.members } : c.members }));
  return [...members, ...(whole ? B.WHOLE_MISSING : B.PATCH_EMPTY), ...B.NOT_AN_OBJECT, ...B.SCALARS];
}

/** Assert the cache headers of a successful write. */
function assertCacheHeaders(res, mode, action, what) {
  assert.equal(res.headers.get('x-cache-write-mode'), mode, `${what}: X-Cache-Write-Mode`);
  assert.equal(res.headers.get('x-cache-action'), action, `${what}: X-Cache-Action`);
}

async function totalCount() {
  return Number((await stack.get('/products?limit=1')).headers.get('x-total-count'));
}

async function appStats() {
  return (await call('GET', '/cache/stats', '/cache/stats')).body;
}

test('POST /products with valid bodies: 201, Location, the row as stored; GET reads it back', { timeout: 60000 }, async () => {
  for (const c of B.WHOLE_VALID) {
    const value = B.valueOf(c);
    const what = `POST /products with ${c.what}`;
    const verdict = schemaVerdict('POST', '/products', value);
    assert.ok(verdict.ok, `${what}: the document's request schema accepts it\n${verdict.errors}`);
    const { res, body } = await write('POST', '/products', '/products', B.payloadOf(c));
    assert.equal(res.status, 201, `${what}: ${JSON.stringify(body)?.slice(0, 300)}`);
    assert.equal(res.headers.get('location'), `/products/${body.id}`, `${what}: Location`);
    assertCacheHeaders(res, 'invalidate', 'deleted', what);
    const expected = B.expectedMembers(value, { whole: true });
    assertMembers(body, expected, what);
    assert.equal(body.created_at, body.updated_at, `${what}: a new row has never been updated`);
    const got = await call('GET', '/products/{id}', res.headers.get('location'));
    assert.equal(got.res.status, 200, `${what}: GET Location`);
    assertMembers(got.body, expected, `${what}: GET Location`);
  }
  // The Content-Type of the request is not looked at (the document says so).
  const plain = await write('POST', '/products', '/products', { name: 'Contract text/plain', price: 3 }, { 'Content-Type': 'text/plain' });
  assert.equal(plain.res.status, 201, 'a JSON body sent as text/plain is accepted');
});

test('POST /products with invalid bodies: 422 listing every problem, and nothing is created', { timeout: 60000 }, async () => {
  const before = await totalCount();
  for (const c of invalidCases(true)) await expectInvalid('POST', '/products', '/products', c);
  assert.equal(await totalCount(), before, 'no product was created');
});

test('PUT /products/{id} with valid bodies replaces the whole product: 200, omitted members null', { timeout: 60000 }, async () => {
  let previous = await createProduct({ description: 'to be replaced', category: 'Contract' });
  for (const c of B.WHOLE_VALID) {
    const value = B.valueOf(c);
    const url = `/products/${previous.id}`;
    const what = `PUT ${url} with ${c.what}`;
    const verdict = schemaVerdict('PUT', '/products/{id}', value);
    assert.ok(verdict.ok, `${what}: the document's request schema accepts it\n${verdict.errors}`);
    const { res, body } = await write('PUT', '/products/{id}', url, B.payloadOf(c));
    assert.equal(res.status, 200, `${what}: ${JSON.stringify(body)?.slice(0, 300)}`);
    assertCacheHeaders(res, 'invalidate', 'deleted', what);
    const expected = B.expectedMembers(value, { whole: true });
    assertMembers(body, expected, what);
    assert.equal(body.id, previous.id, `${what}: id`);
    assert.equal(body.created_at, previous.created_at, `${what}: created_at is kept`);
    assert.ok(Date.parse(body.updated_at) >= Date.parse(previous.updated_at), `${what}: updated_at moves forward`);
    const got = await readProduct(previous.id);
    assert.equal(got.body.source, 'database', `${what}: the next read misses (the write deleted the key)`);
    assertMembers(got.body, expected, `${what}: GET`);
    previous = body;
  }
});

test('PUT /products/{id} with invalid bodies: 422 listing every problem, and the product is unchanged', { timeout: 60000 }, async () => {
  const p = await createProduct({ description: 'stays', category: 'Contract' });
  for (const c of invalidCases(true)) await expectInvalid('PUT', '/products/{id}', `/products/${p.id}`, c);
  const got = await readProduct(p.id);
  assert.deepEqual(membersOf(got.body), membersOf(p));
  assert.equal(got.body.updated_at, p.updated_at, 'never updated');
});

test('PATCH /products/{id} with valid bodies changes only the members given: 200', { timeout: 60000 }, async () => {
  let previous = await createProduct({ description: 'to be patched', category: 'Contract' });
  for (const c of B.PATCH_VALID) {
    const value = B.valueOf(c);
    const url = `/products/${previous.id}`;
    const what = `PATCH ${url} with ${c.what}`;
    const verdict = schemaVerdict('PATCH', '/products/{id}', value);
    assert.ok(verdict.ok, `${what}: the document's request schema accepts it\n${verdict.errors}`);
    const { res, body } = await write('PATCH', '/products/{id}', url, B.payloadOf(c));
    assert.equal(res.status, 200, `${what}: ${JSON.stringify(body)?.slice(0, 300)}`);
    assertCacheHeaders(res, 'invalidate', 'deleted', what);
    const expected = { ...membersOf(previous), ...B.expectedMembers(value, { whole: false }) };
    assertMembers(body, expected, what);
    assert.equal(body.created_at, previous.created_at, `${what}: created_at is kept`);
    assertMembers((await readProduct(previous.id)).body, expected, `${what}: GET`);
    previous = body;
  }
});

test('PATCH /products/{id} with invalid bodies: 422 listing every problem, and the product is unchanged', { timeout: 60000 }, async () => {
  const p = await createProduct({ description: 'stays', category: 'Contract' });
  for (const c of invalidCases(false)) await expectInvalid('PATCH', '/products/{id}', `/products/${p.id}`, c);
  const got = await readProduct(p.id);
  assert.deepEqual(membersOf(got.body), membersOf(p));
  assert.equal(got.body.updated_at, p.updated_at, 'never updated');
});

test('DELETE /products/{id}: 204 without a body, then the product is gone for every method', async () => {
  const p = await createProduct();
  await readProduct(p.id);
  await stack.waitForKeys(`product:${p.id}`);
  const del = await write('DELETE', '/products/{id}', `/products/${p.id}`);
  assert.equal(del.res.status, 204);
  assertCacheHeaders(del.res, 'invalidate', 'deleted', 'DELETE');
  emptyAnswers.push({ what: 'DELETE -> 204', res: del.res });
  assert.equal(await stack.redisCmd('EXISTS', `product:${p.id}`), 0, 'the cached product is gone');
  assert.equal((await readProduct(p.id)).res.status, 404, 'GET after DELETE');
  assert.equal((await write('DELETE', '/products/{id}', `/products/${p.id}`)).res.status, 404, 'DELETE again');
  assert.equal((await write('PUT', '/products/{id}', `/products/${p.id}`, B.BASE)).res.status, 404, 'PUT after DELETE');
  assert.equal((await write('PATCH', '/products/{id}', `/products/${p.id}`, { price: 2 })).res.status, 404, 'PATCH after DELETE');
  // A body sent with DELETE is ignored.
  const q = await createProduct();
  const withBody = await write('DELETE', '/products/{id}', `/products/${q.id}`, { name: 'ignored' });
  assert.equal(withBody.res.status, 204, 'DELETE with a body');
});

test('PUT, PATCH and DELETE: unknown ids 404, bad ids 422 naming the parameter (alone), bodies checked before the database', async () => {
  for (const id of ['999999', '0', '-1', '2147483647', '-2147483648', '2147483648', '-2147483649']) {
    const url = `/products/${id}`;
    for (const [method, payload] of [['PUT', B.BASE], ['PATCH', { price: 2 }], ['DELETE', undefined]]) {
      const { res, body } = await write(method, '/products/{id}', url, payload);
      assert.equal(res.status, 404, `${method} ${url}`);
      assert.equal(body.detail, 'Product not found');
    }
  }
  for (const [id, type] of [
    ['abc', 'int_parsing'],
    ['1.5', 'int_parsing'],
  ]) {
    const url = `/products/${id}`;
    for (const [method, payload] of [['PUT', B.BASE], ['PUT', '[]'], ['PATCH', { price: 2 }], ['PATCH', {}], ['DELETE', undefined]]) {
      const what = `${method} ${url} with ${JSON.stringify(payload)}`;
      const { res, body } = await write(method, '/products/{id}', url, payload);
      assert.equal(res.status, 422, what);
      assert.deepEqual(body.detail.map((d) => [d.type, d.loc, d.input]), [[type, ['path', 'product_id'], id]], `${what}: only the path error`);
    }
  }
  // An invalid body is refused before PostgreSQL is asked whether the product exists.
  await expectInvalid('PATCH', '/products/{id}', '/products/999999', B.PATCH_EMPTY[0]);
  await expectInvalid('PUT', '/products/{id}', '/products/999999', B.WHOLE_MISSING[1]);
});

test('a write is seen by the next read, and /cache/stats counts writes, invalidations and notifications', { timeout: 30000 }, async () => {
  const p = await createProduct({ category: 'Contract' });
  await readProduct(p.id);
  await stack.waitForKeys(`product:${p.id}`);
  assert.equal((await readProduct(p.id)).body.source, 'cache');
  const s0 = await appStats();
  assert.equal(s0.write_mode, 'invalidate');
  assert.ok(!('write_behind' in s0), 'write_behind only in write-behind mode');

  const patched = await write('PATCH', '/products/{id}', `/products/${p.id}`, { price: 77.77 });
  const after = await readProduct(p.id);
  assert.equal(after.body.source, 'database', 'the write deleted the cached product');
  assert.equal(after.body.price, 77.77, 'and the next read has the new price');
  assert.equal(after.body.updated_at, patched.body.updated_at);
  await write('PUT', '/products/{id}', `/products/${p.id}`, { name: 'Contract counted', price: 1.5 });
  const q = await createProduct();
  await write('DELETE', '/products/{id}', `/products/${q.id}`);
  await write('PATCH', '/products/{id}', `/products/${p.id}`, {}); // 422: not a write
  await write('PATCH', '/products/{id}', '/products/999999', { price: 1 }); // 404: not a write

  const s1 = await appStats();
  assert.equal(s1.app_stats.writes - s0.app_stats.writes, 4, 'writes counts the 4 committed writes only');
  assert.ok(s1.app_stats.invalidations - s0.app_stats.invalidations >= 4, 'each committed write invalidated the product');
  await waitFor(async () => (await appStats()).app_stats.notifications - s0.app_stats.notifications >= 4, {
    timeout: 10000,
    message: 'a change notification for each of the 4 writes',
  });
});

test('GET /events sends an invalidation event for every change, by this service or by psql', { timeout: 30000 }, async () => {
  const stream = await openCheckedEvents();
  try {
    const p = await createProduct({ name: 'Contract evented' });
    await write('PATCH', '/products/{id}', `/products/${p.id}`, { price: 8.25 });
    await stack.psql(`UPDATE products SET category = 'Changed by psql' WHERE id = ${p.id}`);
    await write('DELETE', '/products/{id}', `/products/${p.id}`);
    const versions = [];
    for (let version = 1; version <= 4; version++) {
      const e = await stream.next((x) => x.event === 'invalidation' && JSON.parse(x.data).id === p.id && JSON.parse(x.data).version === version);
      const data = checkEvent(e);
      versions.push([data.version, data.outcome]);
    }
    // INSERT, PATCH, psql UPDATE, DELETE (a deletion's version is one past the row's last).
    assert.deepEqual(versions.map(([v]) => v), [1, 2, 3, 4], JSON.stringify(versions));
    for (const e of stream.events) checkEvent(e);
  } finally {
    await stream.close();
  }
});

/** The instance answering a stream: the `instance` of its first stats event. */
async function streamInstance(stream) {
  return checkEvent(await stream.next((e) => e.event === 'stats', undefined, 'a stats event')).instance;
}

/** The data of the events of a stream named `type` for which `predicate(data)` holds, each checked against its schema. */
function eventsOf(stream, type, predicate = () => true) {
  return stream.events.filter((e) => e.event === type).map(checkEvent).filter(predicate);
}

test('GET /events: each write through the API arrives once as event: write, as its answer said; the instance\'s figures as event: instance', { timeout: 30000 }, async () => {
  // Every event loop subscribes to the events channel; /health tells (whichever loop answers).
  await waitFor(async () => (await call('GET', '/health', '/health')).body?.components?.redis?.events_fanout === 'subscribed', {
    timeout: 10000,
    message: '/health: components.redis.events_fanout subscribed',
  });
  const writesBefore = (await appStats()).app_stats.writes;
  const stream = await openCheckedEvents();
  try {
    const me = await streamInstance(stream);
    const answers = [];
    const created = await write('POST', '/products', '/products', { ...B.BASE, name: 'Contract announced' });
    assert.equal(created.res.status, 201);
    const id = created.body.id;
    answers.push(['create', 1, created.res]);
    answers.push(['update', 2, (await write('PUT', '/products/{id}', `/products/${id}`, { name: 'Contract announced 2', price: 3 })).res]);
    answers.push(['update', 3, (await write('PATCH', '/products/{id}', `/products/${id}`, { price: 4 })).res]);
    answers.push(['delete', 4, (await write('DELETE', '/products/{id}', `/products/${id}`)).res]);
    await write('PATCH', '/products/{id}', '/products/999999', { price: 1 }); // 404: not a write, not announced
    for (const [op, version, res] of answers) {
      // A write made through another event loop of the instance reaches this one through Redis.
      const e = checkEvent(await stream.next((x) => x.event === 'write' && JSON.parse(x.data).id === id && JSON.parse(x.data).version === version, undefined, `event: write of ${op} ${id} v${version}`));
      assert.deepEqual(
        { op: e.op, write_mode: e.write_mode, cache_action: e.cache_action, instance: e.instance },
        { op, write_mode: res.headers.get('x-cache-write-mode'), cache_action: res.headers.get('x-cache-action'), instance: me },
        `the write event of ${op} v${version} says what the answer said`,
      );
    }
    // Once a second the instance's own figures, counting the writes above: local, and subscribed.
    const figures = checkEvent(
      await stream.next((x) => x.event === 'instance' && JSON.parse(x.data).instance === me && JSON.parse(x.data).writes >= writesBefore + 4, undefined, `event: instance of ${me} counting the 4 writes`),
    );
    assert.equal(figures.local, true, 'the answering instance\'s own figures are local');
    assert.equal(figures.events_fanout, 'subscribed');
    // A bus never hands back its own events: each write came once, whichever loop made it.
    const writes = eventsOf(stream, 'write', (d) => d.id === id);
    assert.deepEqual(writes.map((d) => [d.op, d.version]), [['create', 1], ['update', 2], ['update', 3], ['delete', 4]], 'one event per write, in order');
    for (const e of stream.events) checkEvent(e);
  } finally {
    await stream.close();
  }
});

test('with EVENTS_FANOUT=false: /health says off, and a stream gets its own instance\'s figures (local, off) and writes', { timeout: 60000 }, async () => {
  // One event loop: without the channel the loops of an instance hear only their own writes, and only
  // the first loop sends the instance's figures.
  await stack.restartService({ env: contractEnv({ EVENTS_FANOUT: 'false', WORKERS: '1' }) });
  try {
    assert.equal((await call('GET', '/health', '/health')).body.components.redis.events_fanout, 'off');
    const stream = await openCheckedEvents();
    try {
      const me = await streamInstance(stream);
      const created = await createProduct({ name: 'Contract not fanned out' });
      const e = checkEvent(await stream.next((x) => x.event === 'write' && JSON.parse(x.data).id === created.id, undefined, `event: write of ${created.id}`));
      assert.deepEqual([e.op, e.version, e.instance], ['create', 1, me]);
      const figures = checkEvent(await stream.next((x) => x.event === 'instance', undefined, 'an event: instance'));
      assert.deepEqual([figures.instance, figures.local, figures.events_fanout], [me, true, 'off']);
      for (const x of stream.events) checkEvent(x);
    } finally {
      await stream.close();
    }
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test('with CACHE_WRITE_MODE=write-through writes store the new row; with CACHE_BYPASS the cache is skipped', { timeout: 60000 }, async () => {
  await stack.restartService({ env: contractEnv({ CACHE_WRITE_MODE: 'write-through' }) });
  try {
    const stats = await appStats();
    assert.equal(stats.write_mode, 'write-through');
    assert.ok(!('write_behind' in stats), 'write_behind only in write-behind mode');
    const created = await write('POST', '/products', '/products', { name: 'Contract through', price: 12.5, category: 'Contract' });
    assert.equal(created.res.status, 201);
    assertCacheHeaders(created.res, 'write-through', 'stored', 'POST');
    const id = created.body.id;
    const read1 = await readProduct(id);
    assert.equal(read1.body.source, 'cache', 'POST stored the new product in the cache');
    assertMembers(read1.body, membersOf(created.body), 'GET after POST');
    for (const [method, payload, status] of [
      ['PUT', { name: 'Contract through 2', price: 13 }, 200],
      ['PATCH', { description: 'through' }, 200],
    ]) {
      const { res, body } = await write(method, '/products/{id}', `/products/${id}`, payload);
      assert.equal(res.status, status, method);
      assertCacheHeaders(res, 'write-through', 'stored', method);
      const got = await readProduct(id);
      assert.equal(got.body.source, 'cache', `${method} stored the new row`);
      assertMembers(got.body, membersOf(body), `GET after ${method}`);
    }
    const del = await write('DELETE', '/products/{id}', `/products/${id}`);
    assert.equal(del.res.status, 204);
    assertCacheHeaders(del.res, 'write-through', 'deleted', 'DELETE');
    assert.equal((await readProduct(id)).res.status, 404);

    await stack.restartService({ env: contractEnv({ CACHE_BYPASS: 'true' }) });
    const p = await createProduct();
    assertCacheHeaders((await write('PATCH', '/products/{id}', `/products/${p.id}`, { price: 4 })).res, 'invalidate', 'skipped', 'PATCH with CACHE_BYPASS');
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test('with CACHE_WRITE_MODE=write-behind PUT, PATCH and DELETE answer 202 and reach PostgreSQL later', { timeout: 120000 }, async () => {
  await stack.restartService({ env: contractEnv({ CACHE_WRITE_MODE: 'write-behind' }) });
  const stale = []; // reads that returned older data than a write that had already been answered
  const dbRow = async (id) => JSON.parse((await stack.psql(`SELECT coalesce((SELECT row_to_json(p) FROM products p WHERE id = ${id})::text, 'null')`)) || 'null');
  try {
    const stats = await appStats();
    assert.equal(stats.write_mode, 'write-behind');
    assert.ok(stats.write_behind, 'write_behind is present in write-behind mode');
    const { data } = await checkEvents(1);
    assert.ok(data[0].write_behind, 'and in the stats events');

    // POST still writes to PostgreSQL directly.
    const created = await write('POST', '/products', '/products', { name: 'Contract behind', price: 20, category: 'Contract' });
    assert.equal(created.res.status, 201);
    assert.equal(created.res.headers.get('x-cache-write-mode'), 'write-behind');
    const id = created.body.id;
    assert.ok(await dbRow(id), 'the created row is in PostgreSQL at once');

    let expected = membersOf(created.body);
    for (const [method, payload] of [
      ['PUT', { name: 'Contract behind 2', price: 21.5, description: 'queued' }],
      ['PATCH', { category: 'Queued' }],
    ]) {
      const url = `/products/${id}`;
      const { res, body } = await write(method, '/products/{id}', url, payload);
      assert.equal(res.status, 202, `${method} ${url}: ${JSON.stringify(body)}`);
      assertCacheHeaders(res, 'write-behind', 'queued', method);
      expected = { ...expected, ...B.expectedMembers(payload, { whole: method === 'PUT' }) };
      assertMembers(body, expected, `${method}: the product as it will be`);
      const got = await readProduct(id);
      assert.equal(got.body.source, 'cache', `${method}: reads already get the queued state`);
      assertMembers(got.body, expected, `GET after ${method}`);
    }
    await waitFor(async () => (await dbRow(id))?.category === 'Queued', { timeout: 15000, message: 'the queued changes applied to PostgreSQL' });
    assertMembers(await dbRow(id), expected, 'the row in PostgreSQL');

    // Not found, and invalid bodies, in this mode too.
    for (const [method, payload] of [['PUT', B.BASE], ['PATCH', { price: 1 }], ['DELETE', undefined]]) {
      const { res } = await write(method, '/products/{id}', '/products/999999', payload);
      assert.equal(res.status, 404, `${method} /products/999999`);
    }
    await expectInvalid('PATCH', '/products/{id}', `/products/${id}`, B.PATCH_EMPTY[0]);
    const several = B.MEMBER_ERRORS.at(-1);
    await expectInvalid('PUT', '/products/{id}', `/products/${id}`, { ...several, body: { ...B.BASE, ...several.members } });

    // DELETE /cache/clear while a change is queued has a test of its own, below.

    const del = await write('DELETE', '/products/{id}', `/products/${id}`);
    assert.equal(del.res.status, 202);
    assertCacheHeaders(del.res, 'write-behind', 'queued', 'DELETE');
    emptyAnswers.push({ what: 'DELETE -> 202 (write-behind)', res: del.res });
    // After a write returns no read returns older data: the product is gone for readers at once, and
    // stays gone once the deletion is applied. Collected, so that the checks below still run.
    const read = async (when) => {
      const r = await readProduct(id);
      if (r.res.status !== 404) stale.push(`GET /products/${id} ${when} -> ${r.res.status} (source ${r.body?.source})`);
    };
    await read('right after DELETE -> 202');
    await waitFor(async () => (await dbRow(id)) === null, { timeout: 15000, message: 'the queued deletion applied to PostgreSQL' });
    await read('after the deletion was applied to PostgreSQL');

    // PostgreSQL down: a cached product can still be changed (queued); an uncached one cannot.
    const cached = await createProduct({ name: 'Contract behind cached' });
    await waitFor(async () => (await readProduct(cached.id)).body?.source === 'cache', { timeout: 10000, message: 'product cached' });
    const uncached = await createProduct({ name: 'Contract behind uncached' });
    await stack.stopPostgres();
    try {
      const queued = await write('PATCH', '/products/{id}', `/products/${cached.id}`, { price: 33.33 });
      assert.equal(queued.res.status, 202, `PATCH of a cached product while PostgreSQL is down: ${JSON.stringify(queued.body)}`);
      const refused = await write('PATCH', '/products/{id}', `/products/${uncached.id}`, { price: 33.33 });
      assert.equal(refused.res.status, 503, 'PATCH of an uncached product while PostgreSQL is down');
      assert.equal(refused.body.detail, 'Database unavailable');
      assert.equal((await write('POST', '/products', '/products', B.BASE)).res.status, 503, 'POST while PostgreSQL is down');
    } finally {
      await stack.startPostgres();
    }
    await waitFor(async () => Number((await dbRow(cached.id))?.price) === 33.33, { timeout: 30000, message: 'the change queued while PostgreSQL was down applied once it is back' });
    const s = await waitFor(
      async () => {
        const st = await appStats();
        return st.write_behind.pending + st.write_behind.lag === 0 && st;
      },
      { timeout: 10000, message: 'write_behind.pending and .lag back to 0' },
    );
    assert.ok(s.write_behind.retries > 0, `the failed attempts were counted as retries: ${JSON.stringify(s.write_behind)}`);

    // A write PostgreSQL refuses (a name longer than varchar(255), queued straight into the stream
    // since the API would answer 422) is parked: the stats list it, in the documented shape.
    const parkedId = await stack.redisCmd('XADD', 'cacheme:writes', '*', 'op', 'update', 'id', String(cached.id), 'name', 'x'.repeat(300), 'price', '1.00');
    const withDead = await waitFor(
      async () => {
        const st = await appStats();
        return st.write_behind.recent_dead_letters.some((d) => d.stream_id === parkedId) && st;
      },
      { timeout: 10000, message: 'the refused write listed in write_behind.recent_dead_letters' },
    );
    assert.equal(withDead.write_behind.dead_letters, s.write_behind.dead_letters + 1);
    assert.equal(withDead.write_behind.recent_dead_letters[0].sqlstate, '22001');

    // Redis down: the queue is unavailable.
    await stack.killRedis();
    try {
      const { res, body } = await write('PATCH', '/products/{id}', `/products/${cached.id}`, { price: 44.44 });
      assert.equal(res.status, 503, 'PATCH while Redis is down');
      assert.equal(body.detail, 'Cache unavailable');
    } finally {
      await stack.startRedis();
    }
    assert.deepEqual(stale, [], 'after a write was answered 202, reads returned older data');
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test(
  'with CACHE_WRITE_MODE=write-behind, DELETE /cache/clear while a change is queued: reads still get the queued change',
  { timeout: 60000 },
  async () => {
    await stack.restartService({ env: contractEnv({ CACHE_WRITE_MODE: 'write-behind' }) });
    const stale = [];
    try {
      const cleared = await createProduct({ name: 'Contract behind cleared' });
      assert.equal((await write('PATCH', '/products/{id}', `/products/${cleared.id}`, { price: 2.22 })).res.status, 202);
      await call('DELETE', '/cache/clear', '/cache/clear');
      const readPrice = async (when) => {
        const r = await readProduct(cleared.id);
        if (r.body?.price !== 2.22) stale.push(`GET /products/${cleared.id} ${when} -> price ${r.body?.price} (source ${r.body?.source}), not 2.22`);
      };
      await readPrice('right after PATCH -> 202 and DELETE /cache/clear');
      const dbPrice = async () => Number(await stack.psql(`SELECT price FROM products WHERE id = ${cleared.id}`));
      await waitFor(async () => (await dbPrice()) === 2.22, { timeout: 15000, message: 'the queued PATCH applied to PostgreSQL' });
      await readPrice('after the PATCH was applied to PostgreSQL');
    } finally {
      await stack.restartService({ env: contractEnv() });
    }
    assert.deepEqual(stale, [], 'after a write was answered 202, reads returned older data');
  },
);

test('with CACHE_WRITE_MODE=write-behind, GET /events announces a queued write as queued, without a version yet', { timeout: 60000 }, async () => {
  await stack.restartService({ env: contractEnv({ CACHE_WRITE_MODE: 'write-behind' }) });
  try {
    const stream = await openCheckedEvents();
    try {
      const created = await createProduct({ name: 'Contract behind announced' }); // POST writes directly
      const patched = await write('PATCH', '/products/{id}', `/products/${created.id}`, { price: 3.33 });
      assert.equal(patched.res.status, 202);
      const ofId = (x) => x.event === 'write' && JSON.parse(x.data).id === created.id;
      const create = checkEvent(await stream.next((x) => ofId(x) && JSON.parse(x.data).op === 'create', undefined, 'event: write of the creation'));
      assert.deepEqual([create.version, create.write_mode], [1, 'write-behind']);
      const queued = checkEvent(await stream.next((x) => ofId(x) && JSON.parse(x.data).op === 'update', undefined, 'event: write of the queued PATCH'));
      assert.deepEqual([queued.version, queued.write_mode, queued.cache_action], [null, 'write-behind', 'queued']);
    } finally {
      await stream.close();
    }
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test('a price with more than 2 decimals is refused at any size (decimal_max_places)', async () => {
  const before = await totalCount();
  const accepted = [];
  for (const price of B.PRICES_WITH_3_DECIMALS) {
    assert.equal(schemaVerdict('POST', '/products', { name: 'Contract places', price }).ok, false, `the document refuses price ${price}`);
    const { res, body } = await write('POST', '/products', '/products', { name: 'Contract places', price });
    if (res.status !== 422) accepted.push(`POST /products {"name":"Contract places","price":${price}} -> ${res.status} ${JSON.stringify(body)}`);
    else assert.deepEqual(entryKeys(body.detail), ['decimal_max_places body.price']);
  }
  assert.deepEqual(accepted, [], 'the service accepted (and rounded) prices with 3 decimals');
  assert.equal(await totalCount(), before);
});

/** The empty answers collected so far with `status`, and those of them that carry a Content-Type. */
function typedEmptyAnswers(status) {
  const answers = emptyAnswers.filter(({ res }) => res.status === status);
  const typed = answers.filter(({ res }) => res.headers.get('content-type') !== null).map(({ what, res }) => `${what}: Content-Type: ${res.headers.get('content-type')}`);
  return { answers, typed };
}

test('an answer without a body (204) carries no Content-Type', () => {
  const { answers, typed } = typedEmptyAnswers(204);
  assert.ok(answers.length > 0, 'empty answers were collected');
  assert.deepEqual(typed, []);
});

test('a 202 without a body (DELETE in write-behind mode) carries no Content-Type', () => {
  const { answers, typed } = typedEmptyAnswers(202);
  assert.ok(answers.length > 0, '202 answers were collected (the write-behind tests above)');
  assert.deepEqual(typed, []);
});

// ---------------------------------------------------------------- failure-mode lab ---

/** PUT /lab/config with `payload` (a value sent as JSON, or a string sent as is), checked against the document. */
async function labPut(payload, headers = {}) {
  return call('PUT', '/lab/config', '/lab/config', jsonInit(payload, headers));
}

/** GET /lab/config, checked against the document; returns the settings. */
async function labGet() {
  const { res, body } = await call('GET', '/lab/config', '/lab/config');
  assert.equal(res.status, 200);
  return body;
}

/** Put every lab setting back to its default. */
async function labReset(headers = {}) {
  const { res, body } = await labPut(LAB_DEFAULTS, headers);
  assert.equal(res.status, 200, `PUT /lab/config back to the defaults: ${JSON.stringify(body)}`);
}

/** POST /lab/scenarios/{name}, checked against the document. */
async function scenario(name, headers = {}) {
  return call('POST', '/lab/scenarios/{name}', `/lab/scenarios/${name}`, { headers });
}

/** A lookup run's figures are consistent: latencies ordered, no more errors than lookups. */
function assertLookupRun(run, requests, what) {
  assert.ok(run.p50_ms <= run.p95_ms && run.p95_ms <= run.p99_ms && run.p99_ms <= run.max_ms, `${what}: p50 <= p95 <= p99 <= max ${JSON.stringify(run)}`);
  assert.ok(run.max_ms <= run.duration_ms, `${what}: no lookup took longer than the run ${JSON.stringify(run)}`);
  assert.ok(run.errors <= requests, `${what}: errors`);
}

/** An avalanche run's TTLs: the spread is max - min, and both lie within ttl ± jitter (values' TTLs are their logical TTLs). */
function assertAvalancheRun(run, { ttl, jitter, stale }, what) {
  assert.equal(run.keys, 15, `${what}: the 15 products were cached`);
  assert.equal(run.ttl_spread_seconds, run.ttl_max_seconds - run.ttl_min_seconds, `${what}: spread`);
  const low = Math.round(ttl * (1 - jitter / 100)) + stale - 2; // a second may pass between SET and TTL
  const high = Math.round(ttl * (1 + jitter / 100)) + stale;
  assert.ok(run.ttl_min_seconds >= low && run.ttl_max_seconds <= high, `${what}: TTLs within ${low}..${high}: ${JSON.stringify(run)}`);
}

/** The X-Cache of an answer. */
const xCache = (res) => res.headers.get('x-cache');

test('GET /lab/config answers the settings the service started with; /cache/stats, the stats events and /health report them', { timeout: 60000 }, async () => {
  assert.deepEqual(await labGet(), LAB_DEFAULTS, 'the defaults of the contract');
  const stats = await appStats();
  assert.deepEqual(stats.protections, LAB_DEFAULTS, '/cache/stats protections');
  assert.equal(stats.circuit_breaker.state, 'closed', '/cache/stats circuit_breaker');
  const { data } = await checkEvents(1);
  assert.deepEqual(data[0].protections, LAB_DEFAULTS, 'stats event protections');
  assert.equal(data[0].circuit_breaker.state, 'closed', 'stats event circuit_breaker');
  assert.equal((await call('GET', '/health', '/health')).body.components.redis.circuit_breaker, 'closed', '/health');

  // Every setting from the environment; the breaker, switched off, is "disabled".
  const configured = { ttl_seconds: 120, ttl_jitter_percent: 0, negative_ttl_seconds: 0, stampede_protection: false, refresh_ahead: false, refresh_window_percent: 50, stale_if_error_seconds: 0, circuit_breaker: false, db_delay_ms: 5, near_cache: true, replica_guard: false };
  await stack.restartService({ env: contractEnv(Object.fromEntries(SETTINGS.map((x) => [x.env, String(configured[x.name])]))) });
  try {
    assert.deepEqual(await labGet(), configured, 'GET /lab/config after starting with every setting');
    const s = await appStats();
    assert.deepEqual(s.protections, configured, '/cache/stats protections');
    assert.equal(s.circuit_breaker.state, 'disabled', '/cache/stats circuit_breaker with CIRCUIT_BREAKER=false');
    assert.equal((await call('GET', '/health', '/health')).body.components.redis.circuit_breaker, 'disabled', '/health with CIRCUIT_BREAKER=false');
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test('PUT /lab/config applies valid bodies at every bound and answers every setting', { timeout: 30000 }, async () => {
  let current = await labGet();
  try {
    for (const c of L.VALID) {
      const what = `PUT /lab/config with ${c.what}`;
      const verdict = schemaVerdict('PUT', '/lab/config', c.body);
      assert.ok(verdict.ok, `${what}: the document's request schema accepts it\n${verdict.errors}`);
      const { res, body } = await labPut(c.body);
      assert.equal(res.status, 200, `${what}: ${JSON.stringify(body)}`);
      current = { ...current, ...c.body };
      assert.deepEqual(body, current, `${what}: the answer is every setting after the change`);
      assert.deepEqual(await labGet(), current, `${what}: GET /lab/config`);
    }
    // /cache/stats and the stats events follow the change.
    const { body } = await labPut({ ttl_jitter_percent: 25, refresh_ahead: false });
    assert.deepEqual((await appStats()).protections, body, '/cache/stats protections after PUT');
    assert.deepEqual((await checkEvents(1)).data[0].protections, body, 'stats event protections after PUT');
    // The Content-Type of the request is not looked at (the document says so).
    const plain = await labPut({ db_delay_ms: 1 }, { 'Content-Type': 'text/plain' });
    assert.equal(plain.res.status, 200, 'a JSON body sent as text/plain is accepted');
    assert.equal(plain.body.db_delay_ms, 1);
  } finally {
    await labReset();
  }
});

test('PUT /lab/config refuses invalid bodies with 422 listing every problem, and changes nothing', { timeout: 30000 }, async () => {
  const before = await labGet();
  for (const c of L.INVALID) {
    const value = B.valueOf(c);
    const what = `PUT /lab/config with ${c.what}`;
    // The document's schema refuses the body too, unless the problem is in the JSON text only.
    if (!c.textual && !c.errors.some(([type]) => type === 'json_invalid')) {
      assert.equal(schemaVerdict('PUT', '/lab/config', value).ok, false, `${what}: the document's request schema refuses it too`);
    }
    const { res, body } = await labPut(B.payloadOf(c));
    assert.equal(res.status, 422, `${what}: ${JSON.stringify(body)?.slice(0, 300)}`);
    assert.deepEqual(entryKeys(body.detail), expectedKeys(c.errors), `${what}: the problems listed`);
    assertInputs(body.detail, value, what);
    assert.deepEqual(await labGet(), before, `${what}: nothing changed`);
  }
});

test('with ADMIN_TOKEN set, PUT /lab/config and POST /lab/scenarios/{name} need the bearer token (else 401 with WWW-Authenticate); reading does not', { timeout: 60000 }, async () => {
  const token = 'contract-token.1';
  const good = { Authorization: `Bearer ${token}` };
  await stack.restartService({ env: contractEnv({ ADMIN_TOKEN: token }) });
  try {
    for (const headers of [
      {},
      { Authorization: 'Bearer wrong' },
      { Authorization: `Bearer ${token}x` },
      { Authorization: `Bearer ${token.slice(0, -1)}` },
      { Authorization: 'Bearer' },
      { Authorization: token },
      { Authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` },
      { Authorization: `Bearer  ${token}` },
    ]) {
      const what = JSON.stringify(headers);
      const put = await labPut({ db_delay_ms: 7 }, headers);
      assert.equal(put.res.status, 401, `PUT /lab/config with ${what}`);
      assert.equal(put.res.headers.get('www-authenticate'), 'Bearer', `PUT /lab/config with ${what}: WWW-Authenticate`);
      const run = await scenario('avalanche', headers);
      assert.equal(run.res.status, 401, `POST /lab/scenarios/avalanche with ${what}`);
      assert.equal(run.res.headers.get('www-authenticate'), 'Bearer', `POST /lab/scenarios/avalanche with ${what}: WWW-Authenticate`);
    }
    assert.deepEqual(await labGet(), LAB_DEFAULTS, 'nothing changed, and GET /lab/config needs no token');
    // The token is checked before the body; a scenario's name before the token.
    assert.equal((await labPut('not JSON')).res.status, 401, 'an invalid body without the token');
    assert.equal((await scenario('nope')).res.status, 404, 'an unknown scenario without the token');
    // With the token.
    const ok = await labPut({ db_delay_ms: 7 }, good);
    assert.equal(ok.res.status, 200);
    assert.equal(ok.body.db_delay_ms, 7);
    assert.equal((await labPut({ db_delay_ms: -7 }, good)).res.status, 422, 'an invalid body with the token');
    await labReset(good);
    const run = await scenario('avalanche', good);
    assert.equal(run.res.status, 200, `POST /lab/scenarios/avalanche with the token: ${JSON.stringify(run.body)}`);
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test('POST /lab/scenarios/{name}: each scenario compares its protection off and on, then puts the lab settings back', { timeout: 60000 }, async () => {
  const before = await labGet();
  try {
    const invalidation = await scenario('invalidation-window');
    assert.equal(invalidation.res.status, 200, JSON.stringify(invalidation.body));
    assert.equal(invalidation.body.all_heard, true, 'the three observers heard the change');
    const stampede = await scenario('stampede');
    assert.equal(stampede.res.status, 200, JSON.stringify(stampede.body));
    const s = stampede.body;
    assert.deepEqual([s.scenario, s.requests], ['stampede', 100]);
    assert.equal(s.without_protection.db_queries, 100, 'stampede without protection: every lookup queried PostgreSQL');
    assert.equal(s.with_protection.db_queries, 1, 'stampede with protection: one query for all');
    for (const k of ['without_protection', 'with_protection']) {
      assert.equal(s[k].errors, 0, `stampede ${k}: no errors`);
      assertLookupRun(s[k], 100, `stampede ${k}`);
    }
    assert.ok(s.with_protection.p99_ms < s.without_protection.p99_ms, `stampede: protection shortens the wait ${JSON.stringify(s)}`);
    assert.deepEqual(await labGet(), before, 'the settings are back after the stampede');

    const penetration = await scenario('penetration');
    assert.equal(penetration.res.status, 200, JSON.stringify(penetration.body));
    const p = penetration.body;
    assert.deepEqual([p.scenario, p.requests], ['penetration', 1000]);
    assert.equal(p.without_protection.db_queries, 1000, 'penetration without negative caching: a query per lookup');
    assert.equal(p.with_protection.db_queries, 10, 'penetration with negative caching: a query per id');
    for (const k of ['without_protection', 'with_protection']) {
      assert.equal(p[k].errors, 0, `penetration ${k}: no errors`);
      assertLookupRun(p[k], 1000, `penetration ${k}`);
    }
    assert.deepEqual(await labGet(), before, 'the settings are back after the penetration');

    const avalanche = await scenario('avalanche');
    assert.equal(avalanche.res.status, 200, JSON.stringify(avalanche.body));
    const a = avalanche.body;
    assert.deepEqual([a.scenario, a.requests], ['avalanche', 15]);
    const window = { ttl: before.ttl_seconds, stale: 0 };
    assertAvalancheRun(a.without_protection, { ...window, jitter: 0 }, 'avalanche without jitter');
    assertAvalancheRun(a.with_protection, { ...window, jitter: before.ttl_jitter_percent }, 'avalanche with jitter');
    assert.ok(a.without_protection.ttl_spread_seconds <= 1, `avalanche without jitter: the keys expire together ${JSON.stringify(a)}`);
    assert.ok(a.with_protection.ttl_spread_seconds > 1, `avalanche with jitter: the expiries are spread ${JSON.stringify(a)}`);
    assert.deepEqual(await labGet(), before, 'the settings are back after the avalanche');

    // With the protections off in the lab, a scenario still turns its own on for the second run, and
    // puts the lab's settings back as they were.
    const off = { negative_ttl_seconds: 0, ttl_jitter_percent: 0 };
    await labPut(off);
    assert.equal((await scenario('penetration')).body.with_protection.db_queries, 10, 'penetration turns negative caching on');
    const spread = (await scenario('avalanche')).body;
    assert.ok(spread.with_protection.ttl_spread_seconds > 1, `avalanche turns jitter on ${JSON.stringify(spread)}`);
    assert.deepEqual(await labGet(), { ...before, ...off }, 'the lab settings as they were before the scenarios');
  } finally {
    await labReset();
  }
});

test('POST /lab/scenarios/rate-limit-boundary: the defaults, the examples and every bound answer 200 as the document says; bodies the document refuses answer 422', { timeout: 60000 }, async () => {
  const SCENARIO = '/lab/scenarios/rate-limit-boundary';
  const op = spec.paths['/lab/scenarios/{name}'].post;
  const schema = requestSchema(spec, 'post', '/lab/scenarios/{name}');
  const run = (payload) => call('POST', '/lab/scenarios/{name}', SCENARIO, payload === undefined ? {} : jsonInit(payload));
  const none = await run(undefined);
  assert.equal(none.res.status, 200, JSON.stringify(none.body));
  assert.deepEqual([none.body.limit, none.body.window_ms, none.body.burst, none.body.spacing_ms], [10, 1000, 10, 1], 'no body: the defaults');
  const shown = examplesOf(op.responses['200'].content['application/json']).find((e) => e.name === 'rate-limit-boundary').value;
  // The figures depend on the parameters only: the defaults give the document's example, but for the memory.
  const figures = (b) => b.algorithms.map(({ memory_bytes, ...rest }) => rest); // eslint-disable-line no-unused-vars
  assert.deepEqual(figures(none.body), figures(shown), 'the example is what the defaults give');
  const valid = [
    ...examplesOf(op.requestBody.content['application/json']).map((e) => e.value),
    { limit: 1, window_ms: 1000, burst: 1, spacing_ms: 0 },
    { limit: 1000, window_ms: 3600000, burst: 1000, spacing_ms: 60000 },
  ];
  for (const body of valid) {
    assert.ok(checker.accepts(schema, body).ok, `the document accepts ${JSON.stringify(body)}`);
    const { res } = await run(body);
    assert.equal(res.status, 200, JSON.stringify(body));
  }
  const invalid = [{ limit: 0 }, { limit: 1001 }, { window_ms: 999 }, { window_ms: 3600001 }, { burst: 0 }, { burst: 1001 }, { spacing_ms: -1 }, { spacing_ms: 60001 }, { limit: '5' }, { limit: 2.5 }, { burst: null }, { gap: 5 }, [], 'x'];
  for (const body of invalid) {
    assert.equal(checker.accepts(schema, body).ok, false, `the document refuses ${JSON.stringify(body)}`);
    const { res } = await run(body);
    assert.equal(res.status, 422, JSON.stringify(body));
  }
  for (const raw of ['{', '{"limit": 1, "limit": 2}']) {
    const { res } = await run(raw);
    assert.equal(res.status, 422, raw);
  }
});

test('POST /lab/scenarios/{name}: an unknown name answers 404; a second scenario while one runs answers 409', { timeout: 60000 }, async () => {
  for (const name of ['nope', 'Stampede', 'STAMPEDE', 'stampede%20', 'stampede.json', 'thundering-herd']) {
    const { res } = await scenario(name);
    assert.equal(res.status, 404, `POST /lab/scenarios/${name}`);
  }
  // replica-lag needs a read replica, which this stack does not have.
  const lag = await scenario('replica-lag');
  assert.equal(lag.res.status, 409, 'POST /lab/scenarios/replica-lag without DATABASE_REPLICA_URL');
  assert.equal(lag.body.detail, 'No read replica: set DATABASE_REPLICA_URL to run replica-lag');
  // An empty name matches no route (nor does the path without the slash): the router's NotFound.
  for (const url of ['/lab/scenarios/', '/lab/scenarios', '/lab/scenarios/stampede/now', '/lab', '/lab/configs']) {
    const res = await stack.get(url, { method: 'POST' });
    assert.equal(res.status, 404, `POST ${url}`);
    checker.checkComponent('NotFound', res, { what: `POST ${url}` });
  }

  const first = scenario('stampede'); // about 1.5 s
  try {
    // The stampede is under way once its settings are in force (they are applied after it claimed
    // the runner), e.g. its simulated database latency.
    await waitFor(async () => (await labGet()).db_delay_ms === 50, { timeout: 10000, interval: 10, message: 'the stampede under way (db_delay_ms 50 in GET /lab/config)' });
    for (const name of ['stampede', 'penetration', 'avalanche']) {
      const { res } = await scenario(name);
      assert.equal(res.status, 409, `POST /lab/scenarios/${name} while a stampede runs`);
    }
    assert.equal((await scenario('nope')).res.status, 404, 'the name is checked first');
    // Other traffic sees the scenario's settings meanwhile: the stampede's simulated database latency.
    assert.equal((await labGet()).db_delay_ms, 50, 'GET /lab/config during the stampede');
  } finally {
    const done = await first;
    assert.equal(done.res.status, 200, `the first scenario: ${JSON.stringify(done.body)}`);
  }
  assert.equal((await labGet()).db_delay_ms, 0, 'and its settings are put back');
  assert.equal((await scenario('avalanche')).res.status, 200, 'once it answered, the next one runs');
});

// ----- sessions and the cart ----------------------------------------------------------------------

const ITEM = '/sessions/me/cart/items/{product_id}';

/** A session-route call with the cookie (when given), checked against the document. */
function sessionCall(method, template, url, cookie, payload) {
  const init = payload === undefined ? {} : jsonInit(payload);
  if (cookie) init.headers = { ...(init.headers || {}), Cookie: cookie };
  return call(method, template, url, init);
}

async function contractLogin(user, cookie) {
  const { res, body } = await sessionCall('POST', '/sessions', '/sessions', cookie, { user });
  assert.equal(res.status, 201);
  return { cookie: res.headers.get('set-cookie').split(';')[0], body };
}

test('cache warm: GET /cache/warm, POST /cache/warm 202, 409 while one runs, every 422, 401 with ADMIN_TOKEN', { timeout: 60000 }, async () => {
  const token = 'contract-warm-token';
  await stack.restartService({ env: contractEnv({ ADMIN_TOKEN: token }) });
  try {
    const auth = { Authorization: `Bearer ${token}` };
    const idle = await call('GET', '/cache/warm', '/cache/warm');
    assert.equal(idle.res.status, 200);
    assert.equal(idle.body.state, 'idle');
    for (const headers of [{}, { Authorization: 'Bearer wrong' }]) {
      const r = await call('POST', '/cache/warm', '/cache/warm', jsonInit({}, headers));
      assert.equal(r.res.status, 401, JSON.stringify(headers));
      assert.equal(r.res.headers.get('www-authenticate'), 'Bearer');
    }
    for (const bad of [{ mode: 'top:0' }, { mode: 'none' }, { mode: 5 }, { rate: 0 }, { rate: 100001 }, { rate: '5' }, { speed: 1 }, [1], 'null']) {
      const r = await call('POST', '/cache/warm', '/cache/warm', jsonInit(bad, auth));
      assert.equal(r.res.status, 422, JSON.stringify(bad));
      assert.equal(schemaVerdict('POST', '/cache/warm', typeof bad === 'string' ? JSON.parse(bad) : bad).ok, false, `${JSON.stringify(bad)}: the document's request schema refuses it too`);
    }
    for (const text of ['{"mode":', '']) {
      assert.equal((await call('POST', '/cache/warm', '/cache/warm', jsonInit(text, auth))).res.status, 422, `body ${JSON.stringify(text)}`);
    }
    // One product a second: the run outlasts the next request.
    const started = await call('POST', '/cache/warm', '/cache/warm', jsonInit({ mode: 'all', rate: 1 }, auth));
    assert.equal(started.res.status, 202);
    assert.equal(started.body.trigger, 'request');
    const busy = await call('POST', '/cache/warm', '/cache/warm', jsonInit({ mode: 'top:5' }, auth));
    assert.equal(busy.res.status, 409);
    assert.equal(busy.body.warm.run, started.body.run);
    const running = await call('GET', '/cache/warm', '/cache/warm');
    assert.equal(running.body.state, 'running');
  } finally {
    // Shut down while the run waits for its tokens: it ends as failed, and the process exits 0.
    await stack.restartService({ env: contractEnv() });
  }
  const r = await call('POST', '/cache/warm', '/cache/warm', jsonInit({ mode: 'top:3' }));
  assert.equal(r.res.status, 202);
  const end = await waitFor(
    async () => {
      const { body } = await call('GET', '/cache/warm', '/cache/warm');
      return body.state !== 'running' && body;
    },
    { timeout: 15000, message: 'the warm ended' },
  );
  assert.equal(end.state, 'done', JSON.stringify(end));
});

test('sessions: log in, the cart, log out; 401 without a session; bad bodies and ids 422; unknown products 404', { timeout: 60000 }, async () => {
  const { cookie, body } = await contractLogin('contract');
  assert.equal(body.user, 'contract');
  assert.equal((await sessionCall('GET', '/sessions/me', '/sessions/me', cookie)).res.status, 200);
  assert.equal((await sessionCall('PUT', ITEM, '/sessions/me/cart/items/2', cookie, exampleBody(spec.paths[ITEM].put))).res.status, 200);
  assert.equal((await sessionCall('GET', ITEM, '/sessions/me/cart/items/2', cookie)).res.status, 200);
  const cart = await sessionCall('GET', '/sessions/me/cart', '/sessions/me/cart', cookie);
  assert.deepEqual(cart.body.items.map((i) => i.product_id), [2]);
  assert.equal((await sessionCall('GET', ITEM, '/sessions/me/cart/items/3', cookie)).res.status, 404);
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const payload = method === 'PUT' ? { quantity: 1 } : undefined;
    assert.equal((await sessionCall(method, ITEM, '/sessions/me/cart/items/abc', cookie, payload)).res.status, 422);
    assert.equal((await sessionCall(method, ITEM, '/sessions/me/cart/items/4294967296', cookie, payload)).res.status, 404);
  }
  assert.equal((await sessionCall('PUT', ITEM, '/sessions/me/cart/items/999999', cookie, { quantity: 1 })).res.status, 404);
  for (const payload of [{ quantity: 0 }, { quantity: 100 }, { quantity: '2' }, {}, { quantity: 1, extra: 1 }, 'x']) {
    const verdict = checker.accepts(requestSchema(spec, 'put', ITEM), typeof payload === 'string' ? undefined : payload).ok;
    const { res } = await sessionCall('PUT', ITEM, '/sessions/me/cart/items/2', cookie, payload);
    assert.equal(res.status, 422, JSON.stringify(payload));
    assert.equal(verdict, false, `the body schema refuses ${JSON.stringify(payload)} too`);
  }
  for (const payload of [{ user: 'Alice' }, { user: '' }, { user: 'x'.repeat(33) }, {}, { user: 1 }, { user: 'a', extra: 1 }, '[']) {
    const verdict = checker.accepts(requestSchema(spec, 'post', '/sessions'), typeof payload === 'string' ? undefined : payload).ok;
    const { res } = await sessionCall('POST', '/sessions', '/sessions', undefined, payload);
    assert.equal(res.status, 422, JSON.stringify(payload));
    assert.equal(verdict, false, `the body schema refuses ${JSON.stringify(payload)} too`);
  }
  assert.equal((await sessionCall('DELETE', ITEM, '/sessions/me/cart/items/2', cookie)).res.status, 204);
  assert.equal((await sessionCall('DELETE', '/sessions/me', '/sessions/me', cookie)).res.status, 204);
  for (const [method, template, url, payload] of [
    ['GET', '/sessions/me', '/sessions/me'],
    ['DELETE', '/sessions/me', '/sessions/me'],
    ['GET', '/sessions/me/cart', '/sessions/me/cart'],
    ['GET', ITEM, '/sessions/me/cart/items/1'],
    ['PUT', ITEM, '/sessions/me/cart/items/1', { quantity: 1 }],
    ['DELETE', ITEM, '/sessions/me/cart/items/1'],
  ]) {
    for (const c of [undefined, cookie]) {
      const { res } = await sessionCall(method, template, url, c, payload);
      assert.equal(res.status, 401, `${method} ${url} with ${c ? 'an ended session' : 'no cookie'}`);
    }
  }
});

test('sessions: a cart of 100 products refuses a 101st (409)', { timeout: 60000 }, async () => {
  await stack.psql("INSERT INTO products (name, price) SELECT 'Contract cart filler ' || g, 1 FROM generate_series(1, 100) g");
  try {
    const ids = (await stack.psql("SELECT id FROM products WHERE name LIKE 'Contract cart filler %' ORDER BY id")).trim().split(/\s+/).map(Number);
    const { cookie } = await contractLogin('contract-full');
    for (const id of ids.slice(0, 100)) {
      const r = await stack.get(`/sessions/me/cart/items/${id}`, { method: 'PUT', ...jsonInit({ quantity: 1 }, { Cookie: cookie }) });
      assert.equal(r.status, 200, r.text);
    }
    const full = await sessionCall('PUT', ITEM, '/sessions/me/cart/items/1', cookie, { quantity: 1 });
    assert.equal(full.res.status, 409);
    assert.equal((await sessionCall('PUT', ITEM, `/sessions/me/cart/items/${ids[0]}`, cookie, { quantity: 3 })).res.status, 200, 'an item already in it can change');
    await sessionCall('DELETE', '/sessions/me', '/sessions/me', cookie);
  } finally {
    await stack.psql("DELETE FROM products WHERE name LIKE 'Contract cart filler %'");
  }
});

test('sessions: with Redis down every session route answers 503 and product reads go on', { timeout: 60000 }, async () => {
  const { cookie } = await contractLogin('contract-down');
  await stack.killRedis();
  try {
    await waitFor(async () => (await stack.get('/health')).body?.status === 'degraded', { timeout: 10000, message: 'Redis seen down' });
    for (const [method, template, url, payload] of [
      ['POST', '/sessions', '/sessions', { user: 'contract-down' }],
      ['GET', '/sessions/me', '/sessions/me'],
      ['DELETE', '/sessions/me', '/sessions/me'],
      ['GET', '/sessions/me/cart', '/sessions/me/cart'],
      ['GET', ITEM, '/sessions/me/cart/items/1'],
      ['PUT', ITEM, '/sessions/me/cart/items/1', { quantity: 1 }],
      ['DELETE', ITEM, '/sessions/me/cart/items/1'],
    ]) {
      const { res } = await sessionCall(method, template, url, cookie, payload);
      assert.equal(res.status, 503, `${method} ${url}`);
    }
    assert.equal((await call('GET', '/products/{id}', '/products/1')).res.status, 200);
  } finally {
    await stack.startRedis();
    await waitFor(async () => (await stack.get('/health')).body?.status === 'healthy', { timeout: 20000, message: 'health back to healthy after Redis restarted' });
  }
});

test('analytics: trending, leaderboard, one product and the stats answer as declared; 422 for bad ids, 404 outside 32 bits', { timeout: 60000 }, async () => {
  for (const id of [1, 1, 2]) assert.equal((await call('GET', '/products/{id}', `/products/${id}`)).res.status, 200);
  await waitFor(async () => {
    const { body } = await call('GET', '/analytics/stats', '/analytics/stats');
    return body.views_sent + body.views_dropped === body.views_recorded && body.views_sent >= 3;
  }, { message: 'the views sent to Redis' });
  const trending = await call('GET', '/analytics/trending', '/analytics/trending?limit=5&window=15&half_life=3');
  assert.equal(trending.res.status, 200);
  assert.ok(trending.body.products.some((p) => p.product_id === 1));
  const board = await call('GET', '/analytics/leaderboard', '/analytics/leaderboard?limit=5');
  assert.equal(board.res.status, 200);
  assert.ok(board.body.products.length > 0);
  const one = await call('GET', '/analytics/products/{id}', '/analytics/products/1?minutes=5');
  assert.equal(one.res.status, 200);
  assert.equal(one.body.minutes.length, 5);
  assert.equal((await call('GET', '/analytics/products/{id}', '/analytics/products/abc')).res.status, 422);
  assert.equal((await call('GET', '/analytics/products/{id}', '/analytics/products/1%00')).res.status, 422);
  assert.equal((await call('GET', '/analytics/products/{id}', '/analytics/products/4294967296')).res.status, 404);
});

test('analytics: with Redis down the reads answer 503, and product reads go on', { timeout: 60000 }, async () => {
  await stack.killRedis();
  try {
    await waitFor(async () => (await stack.get('/health')).body?.status === 'degraded', { timeout: 10000, message: 'Redis seen down' });
    for (const [template, url] of [
      ['/analytics/trending', '/analytics/trending'],
      ['/analytics/leaderboard', '/analytics/leaderboard'],
      ['/analytics/products/{id}', '/analytics/products/1'],
    ]) {
      assert.equal((await call('GET', template, url)).res.status, 503, url);
    }
    assert.equal((await call('GET', '/products/{id}', '/products/1')).res.status, 200);
    assert.equal((await call('GET', '/analytics/stats', '/analytics/stats')).res.status, 200);
  } finally {
    await stack.startRedis();
    await waitFor(async () => (await stack.get('/health')).body?.status === 'healthy', { timeout: 20000, message: 'health back to healthy after Redis restarted' });
  }
});

test('GET /products/{id}: X-Cache says how each answer was served, and a cached "not found" says so (a hit)', { timeout: 30000 }, async () => {
  await call('DELETE', '/cache/clear', '/cache/clear');
  const miss = await readProduct(3);
  assert.deepEqual([miss.res.status, miss.body.source, xCache(miss.res)], [200, 'database', 'MISS'], 'first read');
  await stack.waitForKeys('product:3');
  const hit = await readProduct(3);
  assert.deepEqual([hit.res.status, hit.body.source, xCache(hit.res)], [200, 'cache', 'HIT'], 'second read');
  const head = await call('HEAD', '/products/{id}', '/products/3');
  assert.equal(xCache(head.res), 'HIT', 'HEAD');

  // A product that does not exist: the first 404 comes from PostgreSQL, the next from the cached "not found".
  const id = 888888;
  const s0 = (await appStats()).app_stats;
  const first = await readProduct(id);
  assert.deepEqual([first.res.status, xCache(first.res), first.body], [404, 'MISS', { detail: 'Product not found' }], 'first 404');
  await stack.waitForKeys(`product:${id}`);
  assert.equal(await stack.redisCmd('GET', `product:${id}`), 'null', 'stored as the JSON literal null');
  const ttl = await stack.redisCmd('TTL', `product:${id}`);
  assert.ok(ttl >= 1 && ttl <= LAB_DEFAULTS.negative_ttl_seconds, `kept NEGATIVE_TTL_SECONDS: TTL ${ttl}`);
  const second = await readProduct(id);
  assert.deepEqual([second.res.status, xCache(second.res), second.body], [404, 'HIT', { detail: 'Product not found', source: 'cache' }], 'second 404');
  const s1 = (await appStats()).app_stats;
  assert.deepEqual(
    { hits: s1.hits - s0.hits, misses: s1.misses - s0.misses, db_queries: s1.db_queries - s0.db_queries },
    { hits: 1, misses: 1, db_queries: 1 },
    'the first 404 is a miss that queried PostgreSQL, the cached one a hit',
  );

  // A product created after its "not found" was cached is found at once.
  const next = Number(await stack.psql('SELECT last_value + (CASE WHEN is_called THEN 1 ELSE 0 END) FROM products_id_seq'));
  await readProduct(next);
  await stack.waitForKeys(`product:${next}`);
  assert.equal(xCache((await readProduct(next)).res), 'HIT', `product ${next} is cached as not found`);
  const created = await createProduct({ name: 'Contract after a cached 404' });
  assert.equal(created.id, next, 'the id predicted from the sequence');
  const found = await readProduct(next);
  assert.deepEqual([found.res.status, found.body.source, xCache(found.res)], [200, 'database', 'MISS'], 'GET after POST');

  // With negative caching off, every 404 comes from PostgreSQL and nothing is stored.
  await labPut({ negative_ttl_seconds: 0 });
  try {
    for (const n of [1, 2]) {
      const r = await readProduct(888887);
      assert.deepEqual([r.res.status, xCache(r.res), r.body], [404, 'MISS', { detail: 'Product not found' }], `404 number ${n} without negative caching`);
    }
    assert.equal(await stack.redisCmd('EXISTS', 'product:888887'), 0, 'nothing stored');
  } finally {
    await labReset();
  }
});

test('stale-if-error: with PostgreSQL down, a value expired less than STALE_IF_ERROR_SECONDS ago is served as "stale" (X-Cache: STALE)', { timeout: 90000 }, async () => {
  await call('DELETE', '/cache/clear', '/cache/clear');
  try {
    // Values live a second; product 7 is kept 300 s past that, product 9 not at all.
    await labPut({ ttl_seconds: 1, ttl_jitter_percent: 0, refresh_ahead: false });
    const fresh = await readProduct(7);
    assert.equal(xCache(fresh.res), 'MISS');
    await stack.waitForKeys('product:7');
    const ttl = await stack.redisCmd('TTL', '{product:7}:stale');
    assert.ok(ttl > 1 && ttl <= 1 + LAB_DEFAULTS.stale_if_error_seconds, `product:7's stale copy kept past its expiry: TTL ${ttl}`);
    await labPut({ stale_if_error_seconds: 0 });
    assert.equal(xCache((await readProduct(9)).res), 'MISS');
    await stack.waitForKeys('product:9');
    // Once product 9's key is gone, both values have expired (7 was stored first).
    await waitFor(async () => (await stack.redisCmd('EXISTS', 'product:9')) === 0, { timeout: 5000, interval: 20, message: 'product:9 gone from Redis' });
    assert.equal(await stack.redisCmd('EXISTS', 'product:7'), 0, 'product:7 has expired');
    assert.equal(await stack.redisCmd('EXISTS', '{product:7}:stale'), 1, 'its stale copy is still in Redis');

    const latency = (await appStats()).latency.stale.count;
    await stack.stopPostgres();
    try {
      const stale = await readProduct(7);
      assert.equal((await appStats()).latency.stale.count - latency, 1, '/cache/stats latency counts the stale answer');
      assert.deepEqual([stale.res.status, stale.body.source, xCache(stale.res)], [200, 'stale', 'STALE'], `expired value, PostgreSQL down: ${JSON.stringify(stale.body)}`);
      const { source, fetch_time_ms, ...row } = fresh.body;
      assert.deepEqual({ ...stale.body, source, fetch_time_ms }, { ...row, source, fetch_time_ms }, 'the stale answer is the value read before');
      for (const id of [9, 10]) {
        const r = await readProduct(id);
        assert.deepEqual([r.res.status, xCache(r.res), r.body.detail], [503, 'MISS', 'Database unavailable'], `product ${id}: nothing in Redis`);
      }
      assert.equal((await labGet()).ttl_seconds, 1, 'the lab answers without PostgreSQL');
    } finally {
      await stack.startPostgres();
    }
    await waitFor(async () => (await stack.get('/health')).status === 200, { timeout: 30000, message: '/health 200 after PostgreSQL restarted' });
    const back = await waitFor(
      async () => {
        const r = await readProduct(7);
        return r.res.status === 200 && r.body.source === 'database' && r;
      },
      { timeout: 15000, message: 'product 7 read from PostgreSQL again' },
    );
    assert.equal(xCache(back.res), 'MISS');
  } finally {
    await labReset();
  }
});

test('with Redis down the circuit breaker opens: /health, /cache/stats and the stats events say so; the lab can disable it', { timeout: 60000 }, async () => {
  // One event loop, so that every request sees the same breaker; open for long enough not to close during the test.
  await stack.restartService({ env: contractEnv({ WORKERS: '1', REDIS_BREAKER_OPEN_MS: '600000' }) });
  try {
    assert.deepEqual((await appStats()).circuit_breaker, { state: 'closed', opened: 0 });
    await stack.killRedis();
    try {
      for (let i = 0; i < 6; i++) {
        const r = await readProduct(4);
        assert.deepEqual([r.res.status, r.body.source, xCache(r.res)], [200, 'database', 'BYPASS'], `lookup ${i + 1} without Redis`);
      }
      const health = await call('GET', '/health', '/health');
      assert.deepEqual([health.res.status, health.body.status, health.body.components.redis], [200, 'degraded', { status: 'unhealthy', latency_ms: null, circuit_breaker: 'open', address: null, sentinel: null, events_fanout: 'connecting' }]);
      const stats = await appStats();
      assert.equal(stats.cache_stats, null);
      assert.deepEqual(stats.circuit_breaker, { state: 'open', opened: 1 }, '/cache/stats circuit_breaker');
      assert.deepEqual((await checkEvents(1)).data[0].circuit_breaker, { state: 'open', opened: 1 }, 'stats event circuit_breaker');

      await labPut({ circuit_breaker: false });
      assert.equal((await call('GET', '/health', '/health')).body.components.redis.circuit_breaker, 'disabled', '/health with the breaker off');
      assert.deepEqual((await appStats()).circuit_breaker, { state: 'disabled', opened: 1 }, '/cache/stats with the breaker off');
      assert.equal((await readProduct(4)).res.status, 200, 'lookups go on without the breaker');
      await labPut({ circuit_breaker: true });
      assert.equal((await appStats()).circuit_breaker.state, 'open', 'back on: still open');
    } finally {
      await labReset();
      await stack.startRedis();
    }
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test('the circuit breaker turns half-open after REDIS_BREAKER_OPEN_MS, reopens when the trial fails, and closes once Redis answers', { timeout: 60000 }, async () => {
  await stack.restartService({ env: contractEnv({ WORKERS: '1', REDIS_BREAKER_OPEN_MS: '1000', REDIS_TIMEOUT_MS: '500' }) });
  const breaker = async () => (await call('GET', '/health', '/health')).body.components.redis.circuit_breaker;
  try {
    stack.pauseRedis(); // commands hang until their deadline
    try {
      await stack.waitRedisPaused();
      for (let i = 0; i < 5; i++) assert.equal((await readProduct(4)).res.status, 200, `lookup ${i + 1} with Redis paused`);
      assert.equal(await breaker(), 'open', 'five failures in a row open it');
      // While it is open every lookup skips Redis at once. Lookups go on one after another; once
      // REDIS_BREAKER_OPEN_MS has passed, the first Redis command among them is the trial, which
      // hangs on the paused Redis, and /cache/stats (whose own command is refused meanwhile) says
      // half-open. Should the poll's own command be the trial instead, it fails, the breaker opens
      // again, and the next open period is waited for: `opened` is compared with its value then.
      let stop = false;
      const lookups = [];
      const loop = (async () => {
        while (!stop) lookups.push(await readProduct(4));
      })();
      let during;
      try {
        during = await waitFor(
          async () => {
            const b = (await appStats()).circuit_breaker;
            return b.state === 'half-open' && b;
          },
          { timeout: 15000, interval: 10, message: 'the breaker half-open while a trial waits for the paused Redis' },
        );
      } finally {
        stop = true;
        await loop;
      }
      assert.ok(during.opened >= 1, `opened before the trial: ${JSON.stringify(during)}`);
      assert.ok(lookups.length > 0 && lookups.every((r) => r.res.status === 200 && r.body.source === 'database'), 'lookups are answered from PostgreSQL, the trial\'s among them');
      const after = await waitFor(
        async () => {
          const b = (await appStats()).circuit_breaker;
          return b.state !== 'half-open' && b;
        },
        { timeout: 10000, interval: 10, message: 'the trial over (its deadline passed)' },
      );
      assert.deepEqual(after, { state: 'open', opened: during.opened + 1 }, 'the failed trial opened it again');
    } finally {
      stack.resumeRedis();
    }
    await waitFor(async () => (await breaker()) === 'closed', { timeout: 15000, message: 'the breaker closed once Redis answered' });
    assert.equal((await call('GET', '/health', '/health')).body.status, 'healthy');
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

test('X-Cache is BYPASS when a lookup skips Redis (Redis down, circuit breaker open, CACHE_BYPASS)', { timeout: 60000 }, async () => {
  const seen = [];
  await stack.restartService({ env: contractEnv({ WORKERS: '1', REDIS_BREAKER_OPEN_MS: '600000' }) });
  try {
    await stack.killRedis();
    try {
      await waitFor(async () => (await stack.get('/health')).body?.status === 'degraded', { timeout: 10000, message: 'Redis seen down' });
      const down = await readProduct(4);
      seen.push(['Redis down', down.body.source, xCache(down.res)]);
      for (let i = 0; i < 5; i++) await readProduct(4);
      assert.equal((await appStats()).circuit_breaker.state, 'open');
      const open = await readProduct(4);
      seen.push(['breaker open', open.body.source, xCache(open.res)]);
    } finally {
      await stack.startRedis();
    }
    await stack.restartService({ env: contractEnv({ CACHE_BYPASS: 'true' }) });
    const bypass = await readProduct(1);
    seen.push(['CACHE_BYPASS=true', bypass.body.source, xCache(bypass.res)]);
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
  assert.deepEqual(seen, [
    ['Redis down', 'database', 'BYPASS'],
    ['breaker open', 'database', 'BYPASS'],
    ['CACHE_BYPASS=true', 'database', 'BYPASS'],
  ]);
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
  assert.equal(product.res.headers.get('x-cache'), 'BYPASS');
  await call('GET', '/products', '/products');
  const stats = await call('GET', '/cache/stats', '/cache/stats');
  assert.equal(stats.body.cache_stats, null);
  const clear = await call('DELETE', '/cache/clear', '/cache/clear');
  assert.equal(clear.res.status, 503);
  const topology = await call('GET', '/topology', '/topology?product_id=1');
  assert.equal(topology.res.status, 200);
  assert.equal(topology.body.redis.nodes[0].state, 'down');
  await checkEvents(1);
  // The lab works without Redis; an avalanche finds the products but no TTL to compare.
  assert.deepEqual(await labGet(), LAB_DEFAULTS);
  const avalanche = await scenario('avalanche');
  assert.equal(avalanche.res.status, 200, JSON.stringify(avalanche.body));
  for (const run of [avalanche.body.without_protection, avalanche.body.with_protection]) {
    assert.deepEqual(run, { keys: 15, ttl_min_seconds: null, ttl_max_seconds: null, ttl_spread_seconds: null }, 'avalanche without Redis');
  }
  // The invalidation window needs Redis: 503.
  const invalidation = await scenario('invalidation-window');
  assert.equal(invalidation.res.status, 503, JSON.stringify(invalidation.body));
  // So does the rate limit scenario: 503.
  const boundary = await scenario('rate-limit-boundary');
  assert.equal(boundary.res.status, 503, JSON.stringify(boundary.body));

  // Writes are committed all the same; the cache action says it failed, and so do the invalidation events.
  const stream = await openCheckedEvents();
  try {
    const created = await write('POST', '/products', '/products', { name: 'Contract without Redis', price: 6 });
    assert.equal(created.res.status, 201);
    assertCacheHeaders(created.res, 'invalidate', 'failed', 'POST without Redis');
    const id = created.body.id;
    for (const [method, payload, status] of [['PUT', { name: 'Contract without Redis 2', price: 7 }, 200], ['PATCH', { price: 8 }, 200], ['DELETE', undefined, 204]]) {
      const { res } = await write(method, '/products/{id}', `/products/${id}`, payload);
      assert.equal(res.status, status, `${method} without Redis`);
      assertCacheHeaders(res, 'invalidate', 'failed', `${method} without Redis`);
    }
    const e = checkEvent(await stream.next((x) => x.event === 'invalidation' && JSON.parse(x.data).id === id));
    assert.equal(e.outcome, 'failed', 'the notification could not drop the cached product');
  } finally {
    await stream.close();
  }

  await stack.startRedis();
  await waitFor(async () => (await stack.get('/health')).body?.status === 'healthy', { timeout: 20000, message: 'health back to healthy after Redis restarted' });
});

test(
  'with Redis down, the first stats event of a new stream has cache_stats null, as GET /cache/stats',
  { timeout: 60000 },
  async () => {
    await stack.restartService({ env: contractEnv({ WORKERS: '1' }) }); // one events hub
    try {
      await checkEvents(2); // a stream while Redis answers
      await stack.killRedis();
      try {
        await waitFor(async () => (await stack.get('/health')).body?.status === 'degraded', { timeout: 10000, message: 'Redis seen down' });
        assert.equal((await appStats()).cache_stats, null, 'GET /cache/stats');
        const { data } = await checkEvents(1);
        assert.equal(data[0].health.redis, 'unhealthy');
        assert.equal(data[0].cache_stats, null, `the first event of a stream opened while Redis is down: ${JSON.stringify(data[0].cache_stats)}`);
      } finally {
        await stack.startRedis();
      }
    } finally {
      await stack.restartService({ env: contractEnv() });
    }
  },
);

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
  assert.equal(cached.res.headers.get('x-cache'), 'HIT');
  const uncached = await call('GET', '/products/{id}', '/products/6');
  assert.equal(uncached.res.status, 503);
  assert.equal(uncached.res.headers.get('x-cache'), 'MISS');
  const list = await call('GET', '/products', '/products');
  assert.equal(list.res.status, 503);
  await call('GET', '/cache/stats', '/cache/stats');
  await call('DELETE', '/cache/clear', '/cache/clear');
  const topology = await call('GET', '/topology', '/topology');
  assert.equal(topology.res.status, 200);
  assert.equal(topology.body.postgres.primary.state, 'down');
  await call('GET', '/', '/');
  await call('GET', '/openapi.json', '/openapi.json');
  await checkEvents(1);
  // Writes need PostgreSQL: 503; an invalid body is still refused first.
  for (const [method, url, payload] of [
    ['POST', '/products', { name: 'Contract without PostgreSQL', price: 1 }],
    ['PUT', '/products/7', { name: 'Contract without PostgreSQL', price: 1 }],
    ['PATCH', '/products/7', { price: 1 }],
    ['DELETE', '/products/7', undefined],
  ]) {
    const template = url === '/products' ? url : '/products/{id}';
    const { res, body } = await write(method, template, url, payload);
    assert.equal(res.status, 503, `${method} ${url} without PostgreSQL`);
    assert.equal(body.detail, 'Database unavailable');
  }
  await expectInvalid('POST', '/products', '/products', B.WHOLE_MISSING[0]);
  // The lab needs no database: settings can be read and changed, and a scenario's lookups fail (an
  // avalanche then finds no product, so it has no TTL to compare).
  assert.equal((await labPut({ db_delay_ms: 1 })).res.status, 200);
  await labReset();
  const avalanche = await scenario('avalanche');
  assert.equal(avalanche.res.status, 200, JSON.stringify(avalanche.body));
  for (const run of [avalanche.body.without_protection, avalanche.body.with_protection]) {
    assert.deepEqual(run, { keys: 0, ttl_min_seconds: null, ttl_max_seconds: null, ttl_spread_seconds: null }, 'avalanche without PostgreSQL');
  }
});

// ---------------------------------------------------------------- rate limiting ---

test('rate limiting: the settings, every 422, 401 with ADMIN_TOKEN, the RateLimit fields, 429, 401 for an unknown API key, 400 for a malformed X-Forwarded-For, the stats', { timeout: 120000 }, async () => {
  const token = 'contract-rl-token';
  await stack.restartService({ env: contractEnv({ ADMIN_TOKEN: token, TRUSTED_PROXIES: '127.0.0.1', API_KEYS: 'contract-key' }) });
  try {
    const auth = { Authorization: `Bearer ${token}` };
    const got = await call('GET', '/rate-limit/config', '/rate-limit/config');
    assert.equal(got.res.status, 200);
    assert.equal(got.body.enabled, false);
    assert.equal((await call('PUT', '/rate-limit/config', '/rate-limit/config', jsonInit({ enabled: true }))).res.status, 401);
    for (const bad of [{ algorithm: 'leaky' }, { window_seconds: 0 }, { reads_per_window: 1000001 }, { enabled: 1 }, { other: 1 }, [1]]) {
      assert.equal((await call('PUT', '/rate-limit/config', '/rate-limit/config', jsonInit(bad, auth))).res.status, 422, JSON.stringify(bad));
    }
    assert.equal((await call('PUT', '/rate-limit/config', '/rate-limit/config', jsonInit('{"enabled":', auth))).res.status, 422);
    const on = await call('PUT', '/rate-limit/config', '/rate-limit/config', jsonInit({ enabled: true, algorithm: 'sliding-log', reads_per_window: 1, writes_per_window: 1, key_reads_per_window: 1, key_writes_per_window: 1 }, auth));
    assert.equal(on.res.status, 200);
    let client = 1;
    for (const [template, method] of [['/products', 'GET'], ['/products', 'POST'], ['/products/{id}', 'GET'], ['/products/{id}', 'PUT'], ['/products/{id}', 'PATCH'], ['/products/{id}', 'DELETE']]) {
      const op = spec.paths[template][method.toLowerCase()];
      const url = template === '/products/{id}' ? '/products/2147483000' : concrete(template);
      const body = op.requestBody ? exampleBody(op) : undefined;
      const init = (headers) => (body === undefined ? { headers } : jsonInit(body, headers));
      const xff = { 'X-Forwarded-For': `198.51.100.${client++}` };
      const first = await call(method, template, url, init(xff));
      assert.notEqual(first.res.status, 429);
      assert.match(first.res.headers.get('ratelimit') ?? '', /;r=0;t=/);
      const second = await call(method, template, url, init(xff));
      assert.equal(second.res.status, 429, `${method} ${template}`);
      assert.equal((await call(method, template, url, init({ 'X-API-Key': 'not-a-key' }))).res.status, 401);
      assert.equal((await call(method, template, url, init({ 'X-Forwarded-For': 'not-an-ip' }))).res.status, 400);
    }
    const stats = await call('GET', '/rate-limit/stats', '/rate-limit/stats');
    assert.equal(stats.res.status, 200);
    assert.equal(stats.body.total.limited, 6);
  } finally {
    await stack.restartService({ env: contractEnv() });
  }
});

// ---------------------------------------------------------------- coverage ---

test('every response the document declares was given by the service in this run', () => {
  const unseen = checker.unseen();
  assert.deepEqual(unseen, [], 'declared responses never seen (the document promises more than the service does, or this test misses a case)');
  for (const name of ['NotFound', 'CorsPreflight']) assert.ok(checker.seen.has(`component ${name}`), `components.responses.${name} seen`);
});
