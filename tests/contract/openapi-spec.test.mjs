// docs/openapi.json on its own: a valid OpenAPI 3.1 document (checked by @apidevtools/swagger-parser),
// complete where the validator is lenient (path parameters, operation ids, a schema and an example for
// every response body), with examples that match their own schemas, and the service's version.
// The live behaviour is checked against it in contract.test.mjs.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { readSpec, validateSpec, makeAjv, operations, examplesOf, ResponseChecker, IMPLICIT_METHODS } from './lib/spec.mjs';
import * as B from './lib/bodies.mjs';
import * as L from './lib/lab.mjs';
import { LAB_DEFAULTS, SETTINGS } from '../lib/lab.mjs';
import { parseSse } from '../lib/sse.mjs';
import { serviceVersion } from './lib/stack.mjs';

let raw; // as committed
let spec; // dereferenced
let checker;

before(async () => {
  raw = readSpec();
  spec = await SwaggerParser.dereference(structuredClone(raw));
  checker = new ResponseChecker(spec, makeAjv());
});

test('docs/openapi.json is a valid OpenAPI 3.1 document (@apidevtools/swagger-parser)', async () => {
  await validateSpec(raw);
  assert.match(raw.openapi, /^3\.1\.\d+$/, 'openapi is 3.1.x');
  assert.equal(typeof raw.info.title, 'string');
  assert.ok(Object.keys(raw.paths).length > 0, 'paths is not empty');
});

test('info.version is the version of the service (cacheme --version)', async () => {
  assert.equal(raw.info.version, await serviceVersion());
});

test('servers point at the same origin, so "Try it out" calls the service that serves the page', () => {
  assert.deepEqual(
    raw.servers.map((s) => s.url),
    ['/'],
  );
});

test('operation ids are unique and every operation has a tag, a summary and responses', () => {
  const ids = new Set();
  for (const { path, method, op } of operations(raw)) {
    const name = `${method.toUpperCase()} ${path}`;
    assert.ok(!IMPLICIT_METHODS.has(method), `${name}: HEAD and OPTIONS are implicit and not listed per path`);
    assert.match(op.operationId ?? '', /^[a-z][a-z0-9_]*$/, `${name}: operationId`);
    assert.ok(!ids.has(op.operationId), `${name}: operationId ${op.operationId} is used twice`);
    ids.add(op.operationId);
    assert.ok(op.tags?.length === 1 && raw.tags.some((t) => t.name === op.tags[0]), `${name}: one declared tag`);
    assert.ok(op.summary, `${name}: summary`);
    assert.ok(op.responses && Object.keys(op.responses).length > 0, `${name}: responses`);
  }
});

test('path parameters match the path templates, and every query parameter has bounds and a valid example', () => {
  for (const { path, method, op } of operations(spec)) {
    const name = `${method.toUpperCase()} ${path}`;
    const params = [...(spec.paths[path].parameters ?? []), ...(op.parameters ?? [])];
    const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const declared = params.filter((p) => p.in === 'path').map((p) => p.name).sort();
    assert.deepEqual(declared, inTemplate, `${name}: path parameters vs template`);
    for (const p of params) {
      const pname = `${name} parameter ${p.in}:${p.name}`;
      assert.ok(p.schema, `${pname}: schema`);
      assert.ok(p.description, `${pname}: description`);
      if (p.in === 'path') assert.equal(p.required, true, `${pname}: path parameters are required`);
      // A path id has no bounds: any integer is an id, and one outside 32 bits is no product's (404).
      if (p.schema.type === 'integer' && p.in === 'query') {
        assert.equal(typeof p.schema.minimum, 'number', `${pname}: minimum`);
        assert.equal(typeof p.schema.maximum, 'number', `${pname}: maximum`);
      }
      for (const ex of examplesOf(p)) checker.assertSchema(p.schema, ex.value, `${pname} example ${ex.name}`);
      if ('default' in p.schema) checker.assertSchema(p.schema, p.schema.default, `${pname} default`);
    }
  }
});

test('every operation declares the errors any request can get: 400, 405 (with Allow), 413, 431, 501', () => {
  for (const { path, method, op } of operations(spec)) {
    const name = `${method.toUpperCase()} ${path}`;
    for (const status of ['400', '405', '413', '431', '501']) assert.ok(op.responses[status], `${name}: declares ${status}`);
    assert.equal(op.responses['405'].headers?.Allow?.required, true, `${name}: 405 declares a required Allow`);
    assert.ok(op.responses['405'].headers.Allow.schema.const.includes(method.toUpperCase()), `${name}: Allow names ${method.toUpperCase()}`);
  }
  for (const name of ['NotFound', 'CorsPreflight']) assert.ok(spec.components.responses[name], `components.responses.${name}`);
});

test('the Allow of every 405 lists exactly the methods of its path (HEAD with GET, and OPTIONS)', () => {
  for (const [path, item] of Object.entries(spec.paths)) {
    const methods = Object.keys(item).filter((m) => ['get', 'put', 'post', 'delete', 'patch'].includes(m));
    const expected = new Set([...methods.map((m) => m.toUpperCase()), ...(methods.includes('get') ? ['HEAD'] : []), 'OPTIONS']);
    for (const m of methods) {
      const allow = item[m].responses['405'].headers.Allow.schema.const.split(',').map((x) => x.trim());
      assert.deepEqual(new Set(allow), expected, `${m.toUpperCase()} ${path}: 405 Allow`);
      assert.equal(allow.length, expected.size, `${m.toUpperCase()} ${path}: 405 Allow names each method once`);
    }
  }
});

test('every request body is JSON, required (but the scenarios\' optional parameters), with a closed object schema and examples that fit it', () => {
  let bodies = 0;
  for (const { path, method, op } of operations(spec)) {
    if (!op.requestBody) continue;
    bodies++;
    const name = `${method.toUpperCase()} ${path} request body`;
    // The scenarios run without a body; rate-limit-boundary reads its parameters from one when given.
    assert.equal(op.requestBody.required, path !== '/lab/scenarios/{name}', `${name}: required`);
    assert.deepEqual(Object.keys(op.requestBody.content), ['application/json'], `${name}: JSON only`);
    const media = op.requestBody.content['application/json'];
    assert.equal(media.schema.type, 'object', `${name}: an object`);
    assert.equal(media.schema.additionalProperties, false, `${name}: no other member (extra_forbidden)`);
    const examples = examplesOf(media);
    assert.ok(examples.length > 0, `${name}: at least one example`);
    for (const ex of examples) checker.assertSchema(media.schema, ex.value, `${name} example ${ex.name}`);
    // Every 422 example of the operation is refused by the body schema where it names the body.
    for (const ex of examplesOf(op.responses['422']?.content?.['application/json'])) {
      for (const d of ex.value.detail) {
        if (d.loc[0] === 'body' && d.loc.length === 2 && d.type !== 'missing' && d.type !== 'extra_forbidden') {
          const probe = { ...examples[0].value, [d.loc[1]]: d.input };
          assert.equal(checker.accepts(media.schema, probe).ok, false, `${name}: the schema refuses ${d.loc[1]}=${JSON.stringify(d.input)} (422 example ${ex.name})`);
        }
      }
    }
  }
  assert.equal(bodies, 9, 'POST /products, PUT and PATCH /products/{id}, PUT /lab/config, PUT /rate-limit/config, POST /sessions, PUT /sessions/me/cart/items/{product_id}, POST /lab/scenarios/{name}, POST /cache/warm');
});

test('the body schemas state the validation rules: the bounds of every member, at and past each bound', () => {
  const create = spec.paths['/products'].post.requestBody.content['application/json'].schema;
  const patch = spec.paths['/products/{id}'].patch.requestBody.content['application/json'].schema;
  assert.deepEqual(create.required, ['name', 'price']);
  assert.equal(patch.required, undefined);
  assert.equal(patch.minProperties, 1);
  const p = create.properties;
  assert.deepEqual([p.name.minLength, p.name.maxLength], [1, 255], 'name 1..255');
  assert.deepEqual([p.description.minLength, p.description.maxLength], [undefined, 10000], 'description ..10000');
  assert.deepEqual([p.category.minLength, p.category.maxLength], [1, 100], 'category 1..100');
  assert.deepEqual([p.price.minimum, p.price.maximum, p.price.multipleOf], [0, 99999999.99, 0.01], 'price 0..99999999.99, 2 decimals');
  assert.deepEqual(p.price.type, 'number', 'price is a JSON number');
  for (const [schema, whole] of [[create, true], [patch, false]]) {
    const base = whole ? B.BASE : {};
    for (const c of [...B.WHOLE_VALID, ...(whole ? [] : B.PATCH_VALID)]) {
      const v = checker.accepts(schema, B.valueOf(c));
      assert.ok(v.ok, `${whole ? 'ProductInput' : 'ProductPatch'} accepts ${c.what}
${v.errors}`);
    }
    for (const c of [...B.MEMBER_ERRORS, ...(whole ? B.WHOLE_MISSING : B.PATCH_EMPTY)]) {
      const value = c.body ?? { ...base, ...c.members };
      assert.equal(checker.accepts(schema, value).ok, false, `${whole ? 'ProductInput' : 'ProductPatch'} refuses ${c.what}`);
    }
  }
});

test('write successes declare X-Cache-Write-Mode and X-Cache-Action, a creation its Location, and 202 the write-behind mode', () => {
  const productWrites = operations(spec).filter(({ path, method }) => path.startsWith('/products') && ['post', 'put', 'patch', 'delete'].includes(method));
  assert.equal(productWrites.length, 4, 'POST /products, PUT, PATCH and DELETE /products/{id}');
  for (const { path, method, op } of productWrites) {
    const name = `${method.toUpperCase()} ${path}`;
    const ok = Object.entries(op.responses).filter(([status]) => /^2/.test(status));
    assert.ok(ok.length > 0, `${name}: a success`);
    for (const [status, r] of ok) {
      for (const h of ['X-Cache-Write-Mode', 'X-Cache-Action']) assert.equal(r.headers?.[h]?.required, true, `${name} ${status}: ${h}`);
      if (status === '202') {
        assert.equal(r.headers['X-Cache-Write-Mode'].schema.const, 'write-behind', `${name} 202: only in write-behind mode`);
        assert.equal(r.headers['X-Cache-Action'].schema.const, 'queued', `${name} 202: queued`);
      }
    }
    if (method === 'post') {
      assert.equal(op.responses['201'].headers.Location.required, true, `${name} 201: Location`);
      assert.ok(!op.responses['202'], `${name}: a creation is never queued`);
    } else {
      for (const status of ['202', '404', '422', '503']) assert.ok(op.responses[status], `${name}: ${status}`);
    }
  }
});

test('stats declare write_mode always and write_behind exactly in write-behind mode', () => {
  const deadLetter = { stream_id: '1-0', product_id: 2, op: 'update', sqlstate: '22001', error: 'value too long', failed_at: '2024-05-31T17:28:37.171000Z' };
  for (const name of ['CacheStats', 'StatsEvent']) {
    const schema = spec.components.schemas[name];
    const example = { pending: 0, lag: 0, applied: 3, retries: 0, dead_letters: 0, recent_dead_letters: [] };
    const base = {
      cache_stats: null,
      app_stats: { hits: 0, misses: 0, hit_rate: 0, db_queries: 0, redis_errors: 0, db_errors: 0, writes: 0, invalidations: 0, notifications: 0 },
      timestamp: 1,
      circuit_breaker: { state: 'closed', opened: 0 },
      protections: LAB_DEFAULTS,
      latency: Object.fromEntries(['cache', 'database', 'stale'].map((k) => [k, { count: 0, p50_ms: 0, p95_ms: 0, p99_ms: 0, max_ms: 0 }])),
    };
    if (name === 'StatsEvent') Object.assign(base, { instance: 'inst-1', health: { status: 'healthy', redis: 'healthy', postgres: 'healthy' } });
    for (const [value, ok] of [
      [{ ...base, write_mode: 'invalidate' }, true],
      [{ ...base, write_mode: 'write-through' }, true],
      [{ ...base, write_mode: 'write-behind', write_behind: example }, true],
      [{ ...base, write_mode: 'write-behind', write_behind: { ...example, dead_letters: 1, recent_dead_letters: [deadLetter] } }, true],
      [{ ...base, write_mode: 'write-behind', write_behind: { ...example, recent_dead_letters: [{ ...deadLetter, sqlstate: null, product_id: null }] } }, true],
      [{ ...base, write_mode: 'write-behind', write_behind: { ...example, recent_dead_letters: [{ ...deadLetter, error: undefined }] } }, false],
      [{ ...base, write_mode: 'write-behind', write_behind: { pending: 0, lag: 0, applied: 3, retries: 0 } }, false],
      [{ ...base, write_mode: 'write-behind' }, false],
      [{ ...base, write_mode: 'invalidate', write_behind: example }, false],
      [{ ...base }, false],
    ]) {
      assert.equal(checker.accepts(schema, value).ok, ok, `${name} ${ok ? 'accepts' : 'refuses'} ${JSON.stringify({ write_mode: value.write_mode, write_behind: value.write_behind })}`);
    }
  }
});

test('write events declare a version exactly when the write was not only queued; every event names its instance', () => {
  const schema = spec.components.schemas.WriteEvent;
  const base = { op: 'update', id: 3, version: 2, write_mode: 'invalidate', cache_action: 'deleted', instance: 'inst-1', timestamp: 1 };
  for (const [value, ok] of [
    [base, true],
    [{ ...base, op: 'create', version: 1, write_mode: 'write-through', cache_action: 'stored' }, true],
    [{ ...base, write_mode: 'write-behind', cache_action: 'queued', version: null }, true],
    [{ ...base, write_mode: 'write-behind', cache_action: 'queued' }, false], // a queued write has no version yet
    [{ ...base, write_mode: 'invalidate', cache_action: 'queued', version: null }, false], // only write-behind queues
    [{ ...base, version: null }, false], // a committed write has one
    [{ ...base, op: 'UPDATE' }, false],
    [{ ...base, instance: '' }, false],
    [{ ...base, extra: 1 }, false],
  ]) {
    assert.equal(checker.accepts(schema, value).ok, ok, `WriteEvent ${ok ? 'accepts' : 'refuses'} ${JSON.stringify(value)}`);
  }
  for (const name of ['StatsEvent', 'WarmEvent', 'WriteEvent', 'InstanceEvent']) {
    assert.ok(spec.components.schemas[name].required.includes('instance'), `${name}: instance`);
  }
  const fanout = ['off', 'subscribed', 'connecting'];
  assert.deepEqual(spec.components.schemas.InstanceEvent.properties.events_fanout.enum, fanout);
  assert.ok(spec.components.schemas.RedisHealth.required.includes('events_fanout'), '/health: components.redis.events_fanout');
  assert.deepEqual(spec.components.schemas.RedisHealth.properties.events_fanout.enum, fanout);
});

test('every response has a description, X-Request-Id, and a schema and an example that fits it for each body', () => {
  const all = [
    ...operations(spec).flatMap(({ path, method, op }) => Object.entries(op.responses).map(([status, r]) => [`${method.toUpperCase()} ${path} ${status}`, r])),
    ...Object.entries(spec.components.responses).map(([name, r]) => [`components.responses.${name}`, r]),
  ];
  for (const [name, r] of all) {
    assert.ok(r.description, `${name}: description`);
    assert.equal(r.headers?.['X-Request-Id']?.required, true, `${name}: declares the required X-Request-Id header`);
    for (const [hname, h] of Object.entries(r.headers ?? {})) {
      assert.ok(h.schema, `${name}: header ${hname} has a schema`);
      for (const ex of examplesOf(h)) checker.assertSchema(h.schema, ex.value, `${name}: header ${hname} example`);
    }
    for (const [type, media] of Object.entries(r.content ?? {})) {
      assert.ok(media.schema, `${name} ${type}: schema`);
      const examples = examplesOf(media);
      assert.ok(examples.length > 0, `${name} ${type}: at least one example`);
      for (const ex of examples) checker.assertSchema(media.schema, ex.value, `${name} ${type} example ${ex.name}`);
    }
  }
});

test('the text/event-stream example is a stream of events whose data match their declared schemas', () => {
  let streams = 0;
  for (const { path, method, op } of operations(spec)) {
    for (const [status, r] of Object.entries(op.responses)) {
      const media = r.content?.['text/event-stream'];
      if (!media) continue;
      streams++;
      const name = `${method.toUpperCase()} ${path} ${status}`;
      const schemas = media['x-sse-events'];
      assert.ok(schemas && Object.keys(schemas).length > 0, `${name}: x-sse-events names the schema of each event's data`);
      for (const ex of examplesOf(media)) {
        const events = parseSse(ex.value);
        assert.ok(events.length > 0, `${name}: example ${ex.name} holds a complete event`);
        for (const e of events) {
          assert.ok(schemas[e.event], `${name}: example event ${e.event} is declared in x-sse-events`);
          checker.assertSchema(schemas[e.event], JSON.parse(e.data), `${name}: example event ${e.event}`);
        }
      }
    }
  }
  assert.equal(streams, 1, 'one event stream (GET /events)');
  const events = spec.paths['/events'].get.responses['200'].content['text/event-stream']['x-sse-events'];
  assert.deepEqual(Object.keys(events).sort(), ['instance', 'invalidation', 'stats', 'topology', 'warm', 'write'], 'the events of GET /events');
});

test('the lab settings schemas state the contract: every setting, its type and bounds, at and past each bound', () => {
  const config = spec.components.schemas.LabConfig;
  const patch = spec.paths['/lab/config'].put.requestBody.content['application/json'].schema;
  assert.deepEqual(spec.paths['/lab/config'].get.responses['200'].content['application/json'].schema, config, 'GET answers LabConfig');
  assert.deepEqual(spec.paths['/lab/config'].put.responses['200'].content['application/json'].schema, config, 'PUT answers LabConfig');
  assert.deepEqual([...config.required].sort(), SETTINGS.map((x) => x.name).sort(), 'LabConfig: every setting, always');
  assert.equal(config.additionalProperties, false, 'LabConfig: nothing else');
  assert.deepEqual(Object.keys(patch.properties).sort(), SETTINGS.map((x) => x.name).sort(), 'LabConfigPatch: the same settings');
  assert.equal(patch.required, undefined, 'LabConfigPatch: any subset');
  assert.equal(patch.minProperties, undefined, 'LabConfigPatch: {} too');
  for (const x of SETTINGS) {
    for (const [name, schema] of [['LabConfig', config], ['LabConfigPatch', patch]]) {
      const p = schema.properties[x.name];
      assert.equal(p.type, x.type, `${name}.${x.name}: ${x.type}`);
      if (x.type === 'integer') assert.deepEqual([p.minimum, p.maximum], [x.min, x.max], `${name}.${x.name}: ${x.min}..${x.max}`);
    }
    assert.match(config.properties[x.name].description, new RegExp(`\`${x.env}\``), `LabConfig.${x.name} names its setting ${x.env}`);
  }
  checker.assertSchema(config, LAB_DEFAULTS, 'LabConfig: the defaults');
  for (const c of L.VALID) {
    const v = checker.accepts(patch, c.body);
    assert.ok(v.ok, `LabConfigPatch accepts ${c.what}\n${v.errors}`);
  }
  // A problem of the JSON text (json_invalid, or 60.0 for an integer) is invisible to a schema.
  for (const c of L.INVALID.filter((x) => !x.textual && !x.errors.some(([type]) => type === 'json_invalid'))) {
    const value = B.valueOf(c);
    assert.equal(checker.accepts(patch, value).ok, false, `LabConfigPatch refuses ${c.what}`);
  }
});

test('changes to the lab declare the bearer token (a security scheme, 401 with WWW-Authenticate); reading needs none', () => {
  assert.deepEqual(spec.components.securitySchemes.adminToken, { ...spec.components.securitySchemes.adminToken, type: 'http', scheme: 'bearer' });
  for (const [path, method] of [['/lab/config', 'put'], ['/lab/scenarios/{name}', 'post']]) {
    const op = spec.paths[path][method];
    const name = `${method.toUpperCase()} ${path}`;
    assert.deepEqual(op.security, [{}, { adminToken: [] }], `${name}: the token is optional (only when ADMIN_TOKEN is set)`);
    const r401 = op.responses['401'];
    assert.ok(r401, `${name}: 401`);
    assert.equal(r401.headers['WWW-Authenticate'].required, true, `${name} 401: WWW-Authenticate`);
    assert.equal(r401.headers['WWW-Authenticate'].schema.const, 'Bearer', `${name} 401: WWW-Authenticate: Bearer`);
    assert.equal(r401.content['application/json'].schema.allOf[1].properties.detail.const, 'Not authenticated');
  }
  const get = spec.paths['/lab/config'].get;
  assert.equal(get.security, undefined, 'GET /lab/config needs no token');
  assert.equal(get.responses['401'], undefined, 'GET /lab/config never answers 401');
  assert.equal(spec.security, undefined, 'nothing else needs a token');
});

test('POST /lab/scenarios/{name} declares its names, its results and its errors (404 unknown name, 409 one at a time)', () => {
  const op = spec.paths['/lab/scenarios/{name}'].post;
  const param = op.parameters.find((x) => x.in === 'path');
  assert.deepEqual(param.schema.enum, ['stampede', 'penetration', 'avalanche', 'invalidation-window', 'replica-lag', 'rate-limit-boundary']);
  assert.equal(op.requestBody.required, false, 'a body is optional (rate-limit-boundary reads one)');
  for (const status of ['200', '401', '404', '409', '422', '503']) assert.ok(op.responses[status], `declares ${status}`);
  assert.equal(op.responses['404'].content['application/json'].schema.allOf[1].properties.detail.const, 'Unknown scenario: use stampede, penetration, avalanche, invalidation-window, replica-lag or rate-limit-boundary');
  assert.deepEqual(op.responses['409'].content['application/json'].schema.allOf[1].properties.detail.enum, ['Another scenario is running', 'No read replica: set DATABASE_REPLICA_URL to run replica-lag']);
  const result = op.responses['200'].content['application/json'].schema;
  const run = { db_queries: 1, hits: 0, misses: 100, errors: 0, p50_ms: 1, p95_ms: 2, p99_ms: 3, max_ms: 4, duration_ms: 5 };
  const counters = { counted_in: { hits_misses: false, db_queries: true, redis_keyspace: true }, note: 'not counted' };
  const keys = { keys: 15, ttl_min_seconds: 3600, ttl_max_seconds: 3700, ttl_spread_seconds: 100 };
  const none = { keys: 0, ttl_min_seconds: null, ttl_max_seconds: null, ttl_spread_seconds: null };
  const lag = { writes: 100, stale_values_cached: 100, stale_answers: 100, refused_fills: 0, replica_reads: 100, db_queries: 100, errors: 0, duration_ms: 60 };
  for (const [value, ok, what] of [
    [{ scenario: 'stampede', requests: 100, without_protection: run, with_protection: run }, true, 'a stampede'],
    [{ scenario: 'penetration', requests: 1000, without_protection: { ...run, errors: 1000 }, with_protection: run }, true, 'a penetration where every lookup failed'],
    [{ scenario: 'avalanche', requests: 15, without_protection: keys, with_protection: none }, true, 'an avalanche, one run without TTLs'],
    [{ scenario: 'replica-lag', requests: 100, without_protection: lag, with_protection: { ...lag, stale_values_cached: 0, stale_answers: 0, refused_fills: 100, db_queries: 200 } }, true, 'a replica-lag'],
    [{ scenario: 'replica-lag', requests: 100, without_protection: run, with_protection: run }, false, 'a replica-lag with lookup runs'],
    [{ scenario: 'replica-lag', requests: 100, without_protection: { ...lag, stale_values_cached: 101 }, with_protection: lag }, false, 'more stale values than rounds'],
    [{ scenario: 'stampede', requests: 100, without_protection: { ...run, errors: 101 }, with_protection: run }, false, 'more errors than lookups'],
    [{ scenario: 'stampede', requests: 15, without_protection: run, with_protection: run }, false, 'a stampede of 15'],
    [{ scenario: 'avalanche', requests: 15, without_protection: run, with_protection: run }, false, 'an avalanche with lookup runs'],
    [{ scenario: 'stampede', requests: 100, without_protection: keys, with_protection: keys }, false, 'a stampede with avalanche runs'],
    [{ scenario: 'stampede', requests: 100, without_protection: { ...run, p50_ms: -1 }, with_protection: run }, false, 'a negative latency'],
    [{ scenario: 'avalanche', requests: 15, without_protection: { ...keys, keys: 16 }, with_protection: keys }, false, '16 keys'],
    [{ scenario: 'thundering-herd', requests: 100, without_protection: run, with_protection: run }, false, 'an unknown scenario'],
    [{ scenario: 'stampede', requests: 100, without_protection: run }, false, 'one run only'],
    [{ scenario: 'stampede', requests: 100, without_protection: { ...run, hits: undefined }, with_protection: run }, false, 'a run without hits'],
    [{ scenario: 'stampede', requests: 100, without_protection: run, with_protection: run, counted_in: { ...counters.counted_in, hits_misses: true } }, false, 'runs counted in the hits and misses'],
    [{ scenario: 'stampede', requests: 100, without_protection: run, with_protection: run, counted_in: undefined }, false, 'no counted_in'],
    [{ scenario: 'stampede', requests: 100, without_protection: run, with_protection: run, note: undefined }, false, 'no note'],
  ]) {
    const full = JSON.parse(JSON.stringify({ ...counters, ...value })); // undefined members dropped
    assert.equal(checker.accepts(result, full).ok, ok, `ScenarioResult ${ok ? 'accepts' : 'refuses'} ${what}`);
  }
  const observed = [1, 2, 3].map((observer) => ({ observer, heard: true, heard_ms: 0.1, window_after_ack_ms: 0 }));
  const win = {
    scenario: 'invalidation-window', product_id: 1, observers: 3, change: 'APPEND product key ""', write_acknowledged_ms: 0.2,
    observed, all_heard: true, longest_window_ms: 0, without_tracking_ms: 5000, note: 'what an instance runs on',
  };
  for (const [value, ok, what] of [
    [win, true, 'three observers that heard the change'],
    [{ ...win, all_heard: false, observed: [observed[0], observed[1], { observer: 3, heard: false, heard_ms: null, window_after_ack_ms: null }] }, true, 'an observer that never heard it'],
    [{ ...win, observed: observed.slice(0, 2) }, false, 'two observers'],
    [{ ...win, longest_window_ms: -1 }, false, 'a negative window'],
    [{ ...win, note: undefined }, false, 'no note'],
  ]) {
    const full = JSON.parse(JSON.stringify(value));
    assert.equal(checker.accepts(result, full).ok, ok, `the invalidation-window result: ${ok ? 'accepts' : 'refuses'} ${what}`);
  }
});

test('GET /products/{id} declares X-Cache on every answer of a lookup, source "stale", and the cached 404', () => {
  const op = spec.paths['/products/{id}'].get;
  for (const status of ['200', '404', '503']) {
    const h = op.responses[status].headers?.['X-Cache'];
    assert.equal(h?.required, true, `${status}: X-Cache`);
    assert.deepEqual(h.schema.enum, ['HIT', 'MISS', 'STALE', 'BYPASS'], `${status}: X-Cache values`);
  }
  assert.equal(op.responses['422'].headers['X-Cache'], undefined, '422: no lookup, no X-Cache');
  const item = op.responses['200'].content['application/json'].schema;
  const product = op.responses['200'].content['application/json'].examples.database.value;
  for (const [source, ok] of [['cache', true], ['database', true], ['stale', true], ['redis', false]]) {
    assert.equal(checker.accepts(item, { ...product, source }).ok, ok, `source ${source}`);
  }
  const notFound = op.responses['404'].content['application/json'].schema;
  for (const [value, ok] of [
    [{ detail: 'Product not found' }, true],
    [{ detail: 'Product not found', source: 'cache' }, true],
    [{ detail: 'Product not found', source: 'database' }, false],
    [{ detail: 'Not Found' }, false],
    [{ detail: 'Product not found', source: 'cache', id: 7 }, false],
  ]) {
    assert.equal(checker.accepts(notFound, value).ok, ok, `404 ${ok ? 'accepts' : 'refuses'} ${JSON.stringify(value)}`);
  }
});

test('health, stats and stats events declare the circuit breaker, the protections and the latency by source', () => {
  const states = ['closed', 'open', 'half-open', 'disabled'];
  const redis = spec.components.schemas.Health.properties.components.properties.redis;
  assert.ok(redis.required.includes('circuit_breaker'), '/health: components.redis.circuit_breaker');
  assert.deepEqual(redis.properties.circuit_breaker.enum, states);
  assert.equal(spec.components.schemas.Health.properties.components.properties.postgres.properties.circuit_breaker, undefined, 'only Redis has a breaker');
  for (const name of ['CacheStats', 'StatsEvent']) {
    const schema = spec.components.schemas[name];
    for (const member of ['circuit_breaker', 'protections']) assert.ok(schema.required.includes(member), `${name}: ${member}`);
    assert.deepEqual(schema.properties.circuit_breaker.properties.state.enum, states, `${name}: circuit_breaker.state`);
    assert.deepEqual(schema.properties.circuit_breaker.required, ['state', 'opened'], `${name}: circuit_breaker`);
    assert.deepEqual(schema.properties.protections.required, spec.components.schemas.LabConfig.required, `${name}: protections is LabConfig`);
    assert.ok(schema.required.includes('latency'), `${name}: latency`);
    assert.deepEqual(schema.properties.latency.required, ['cache', 'database', 'stale'], `${name}: latency by source`);
    for (const source of ['cache', 'database', 'stale']) {
      assert.deepEqual(schema.properties.latency.properties[source].required, ['count', 'p50_ms', 'p95_ms', 'p99_ms', 'max_ms'], `${name}: latency.${source}`);
    }
  }
});

test('GET /metrics declares the Prometheus text format, and its example is in it', () => {
  const media = spec.paths['/metrics'].get.responses['200'].content;
  assert.deepEqual(Object.keys(media), ['text/plain']);
  const schema = media['text/plain'].schema;
  for (const [text, ok] of [
    ['# HELP a_total A.\n# TYPE a_total counter\na_total 3\n', true],
    ['m{route="/products/{id}",status="200",source="cache"} 5\n', true],
    ['h_bucket{le="+Inf"} 1\nh_sum 0.000243\n', true],
    ['g{loop="0"} -1\n', true],
    ['a_total 3', false], // no final newline
    ['a_total three\n', false],
    ['{"hits":3}\n', false],
    ['# TYPE a_total countr\na_total 3\n', false],
    ['', false],
  ]) {
    assert.equal(checker.accepts(schema, text).ok, ok, `${ok ? 'accepts' : 'refuses'} ${JSON.stringify(text)}`);
  }
  assert.match(examplesOf(media['text/plain'])[0].value, /^cacheme_build_info\{version="[^"]+"\} 1$/m, 'the example names the version');
});

test('every component schema compiles under strict JSON Schema 2020-12 rules', () => {
  const ajv = makeAjv();
  for (const [name, schema] of Object.entries(spec.components.schemas)) {
    assert.doesNotThrow(() => ajv.compile(schema), `components.schemas.${name}`);
  }
});
