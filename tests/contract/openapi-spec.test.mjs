// docs/openapi.json on its own: a valid OpenAPI 3.1 document (checked by @apidevtools/swagger-parser),
// complete where the validator is lenient (path parameters, operation ids, a schema and an example for
// every response body), with examples that match their own schemas, and the service's version.
// The live behaviour is checked against it in contract.test.mjs.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { readSpec, validateSpec, makeAjv, operations, examplesOf, ResponseChecker, IMPLICIT_METHODS } from './lib/spec.mjs';
import * as B from './lib/bodies.mjs';
import { parseSse } from './lib/sse.mjs';
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

test('path parameters match the path templates, and every parameter has bounds and a valid example', () => {
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
      if (p.schema.type === 'integer') {
        assert.equal(typeof p.schema.minimum, 'number', `${pname}: minimum`);
        assert.equal(typeof p.schema.maximum, 'number', `${pname}: maximum`);
      }
      for (const ex of examplesOf(p)) checker.assertSchema(p.schema, ex.value, `${pname} example ${ex.name}`);
      if ('default' in p.schema) checker.assertSchema(p.schema, p.schema.default, `${pname} default`);
    }
  }
});

test('every operation declares the errors any request can get: 400, 405 (with Allow), 413, 431', () => {
  for (const { path, method, op } of operations(spec)) {
    const name = `${method.toUpperCase()} ${path}`;
    for (const status of ['400', '405', '413', '431']) assert.ok(op.responses[status], `${name}: declares ${status}`);
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

test('every request body is required JSON, with a closed object schema and examples that fit it', () => {
  let bodies = 0;
  for (const { path, method, op } of operations(spec)) {
    if (!op.requestBody) continue;
    bodies++;
    const name = `${method.toUpperCase()} ${path} request body`;
    assert.equal(op.requestBody.required, true, `${name}: required`);
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
  assert.equal(bodies, 3, 'POST /products, PUT and PATCH /products/{id}');
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
  for (const name of ['CacheStats', 'StatsEvent']) {
    const schema = spec.components.schemas[name];
    const example = { pending: 0, lag: 0, applied: 3, retries: 0 };
    const base = { cache_stats: null, app_stats: { hits: 0, misses: 0, hit_rate: 0, db_queries: 0, redis_errors: 0, db_errors: 0, writes: 0, invalidations: 0, notifications: 0 }, timestamp: 1 };
    if (name === 'StatsEvent') base.health = { status: 'healthy', redis: 'healthy', postgres: 'healthy' };
    for (const [value, ok] of [
      [{ ...base, write_mode: 'invalidate' }, true],
      [{ ...base, write_mode: 'write-through' }, true],
      [{ ...base, write_mode: 'write-behind', write_behind: example }, true],
      [{ ...base, write_mode: 'write-behind' }, false],
      [{ ...base, write_mode: 'invalidate', write_behind: example }, false],
      [{ ...base }, false],
    ]) {
      assert.equal(checker.accepts(schema, value).ok, ok, `${name} ${ok ? 'accepts' : 'refuses'} ${JSON.stringify({ write_mode: value.write_mode, write_behind: value.write_behind })}`);
    }
  }
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
  assert.deepEqual(Object.keys(events).sort(), ['invalidation', 'stats'], 'the events of GET /events');
});

test('every component schema compiles under strict JSON Schema 2020-12 rules', () => {
  const ajv = makeAjv();
  for (const [name, schema] of Object.entries(spec.components.schemas)) {
    assert.doesNotThrow(() => ajv.compile(schema), `components.schemas.${name}`);
  }
});
