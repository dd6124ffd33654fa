// docs/openapi.json on its own: a valid OpenAPI 3.1 document (checked by @apidevtools/swagger-parser),
// complete where the validator is lenient (path parameters, operation ids, a schema and an example for
// every response body), with examples that match their own schemas, and the service's version.
// The live behaviour is checked against it in contract.test.mjs.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import { readSpec, validateSpec, makeAjv, operations, examplesOf, ResponseChecker, IMPLICIT_METHODS } from './lib/spec.mjs';
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
});

test('every component schema compiles under strict JSON Schema 2020-12 rules', () => {
  const ajv = makeAjv();
  for (const [name, schema] of Object.entries(spec.components.schemas)) {
    assert.doesNotThrow(() => ajv.compile(schema), `components.schemas.${name}`);
  }
});
