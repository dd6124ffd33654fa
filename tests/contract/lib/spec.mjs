// The OpenAPI document (docs/openapi.json) as the contract tests use it: loaded, validated,
// dereferenced, with a JSON Schema 2020-12 validator (ajv) for its schemas, and a checker that
// validates real responses against what the document declares for their operation and status code.
//
// The checker also records which (operation, status) pairs it has seen, so that a test can fail when
// the document declares a response the service was never seen to give.

import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { REPO_ROOT } from '../../lib/repo.mjs';

export const SPEC_PATH = path.join(REPO_ROOT, 'docs', 'openapi.json');

/** HTTP methods an OpenAPI path item can hold, in the document's spelling. */
export const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * Methods the service answers on every path without listing them (HEAD with GET, OPTIONS as the CORS
 * preflight). Neither the route table nor the document lists them per path.
 */
export const IMPLICIT_METHODS = new Set(['head', 'options']);

/** The document exactly as committed (parsed JSON, $refs intact). */
export function readSpec() {
  return JSON.parse(fs.readFileSync(SPEC_PATH, 'utf8'));
}

/** Validate a document as OpenAPI with @apidevtools/swagger-parser; throws with the validator's reasons. */
export async function validateSpec(doc) {
  await SwaggerParser.validate(structuredClone(doc));
}

/** Validate the document as OpenAPI (throws on failure) and return it with a dereferenced copy. */
export async function loadSpec() {
  const raw = readSpec();
  await validateSpec(raw);
  const deref = await SwaggerParser.dereference(structuredClone(raw));
  return { raw, deref };
}

/**
 * A strict ajv for OpenAPI 3.1 schemas (JSON Schema 2020-12) with the standard formats. Strict mode
 * throws on unknown keywords and formats, so a typo in the document fails instead of being ignored.
 */
export function makeAjv() {
  // multipleOfPrecision: prices are declared `multipleOf: 0.01`, and in binary floating point 39.9 / 0.01 is
  // 3990.0000000000005, not an integer. A price has at most 10 significant digits and a double about 16,
  // so a quotient within 1e-5 of an integer is a whole number of cents, while a third decimal is >= 0.1 off.
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allowUnionTypes: true, allErrors: true, multipleOfPrecision: 5 });
  addFormats(ajv);
  // OpenAPI's own annotations that may appear inside Schema Objects.
  ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
  return ajv;
}

/** The JSON Schema of an operation's application/json request body (undefined when it takes none). */
export function requestSchema(spec, method, pathTemplate) {
  return spec.paths[pathTemplate]?.[method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema;
}

/** Every operation of the document: { path, method, op }. */
export function operations(spec) {
  const out = [];
  for (const [p, item] of Object.entries(spec.paths ?? {})) {
    for (const method of METHODS) if (item[method]) out.push({ path: p, method, op: item[method] });
  }
  return out;
}

/** "GET /products/{}" — method and path with every {param} name erased, for comparisons. */
export function routeKey(method, pattern) {
  return `${method.toUpperCase()} ${pattern.replace(/\{[^}]*\}/g, '{}')}`;
}

/** The media type without parameters: "application/json; charset=utf-8" -> "application/json". */
export function mediaType(contentType) {
  return (contentType ?? '').split(';')[0].trim().toLowerCase();
}

/** The examples of a media type or parameter object: [{ name, value }]. */
export function examplesOf(obj) {
  const out = [];
  if (obj && 'example' in obj) out.push({ name: 'example', value: obj.example });
  for (const [name, ex] of Object.entries(obj?.examples ?? {})) out.push({ name, value: ex.value });
  return out;
}

// Header values are text; a header whose schema is numeric is compared as a number.
function headerValue(schema, text) {
  const types = [schema?.type].flat();
  if ((types.includes('integer') || types.includes('number')) && /^-?[0-9]+(\.[0-9]+)?$/.test(text)) return Number(text);
  return text;
}

function formatErrors(errors) {
  return (errors ?? []).map((e) => `  ${e.instancePath || '(root)'} ${e.message}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`).join('\n');
}

/**
 * Validates responses against the dereferenced document. Each check names the operation by method and
 * path template (as in the document); `res` is { status, headers, text } where headers is a fetch
 * Headers object or a plain object with lower-case names.
 */
export class ResponseChecker {
  constructor(spec, ajv = makeAjv()) {
    this.spec = spec;
    this.ajv = ajv;
    this.seen = new Set(); // "GET /products/{id} 200", "component NotFound"
    this.validators = new WeakMap();
  }

  validator(schema) {
    let v = this.validators.get(schema);
    if (!v) {
      v = this.ajv.compile(schema);
      this.validators.set(schema, v);
    }
    return v;
  }

  /** Whether `value` is valid against `schema`, and ajv's reasons when it is not. */
  accepts(schema, value) {
    const v = this.validator(schema);
    const ok = v(value);
    return { ok, errors: ok ? '' : formatErrors(v.errors) };
  }

  /** Assert that `value` is valid against `schema`; `what` names it in the failure. */
  assertSchema(schema, value, what) {
    const v = this.validator(schema);
    if (!v(value)) assert.fail(`${what} does not match its schema:\n${formatErrors(v.errors)}\nvalue: ${JSON.stringify(value).slice(0, 1500)}`);
  }

  /** The Response Object the document declares for this operation and status (fails if none). */
  response(method, pathTemplate, status) {
    const item = this.spec.paths[pathTemplate];
    assert.ok(item, `the document has no path ${pathTemplate}`);
    // HEAD is answered wherever GET is, with GET's status and headers and no body.
    const opMethod = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    const op = item[opMethod];
    assert.ok(op, `the document has no ${opMethod.toUpperCase()} ${pathTemplate}`);
    const r = op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default;
    assert.ok(r, `${method.toUpperCase()} ${pathTemplate} answered ${status}, which the document does not declare (declared: ${Object.keys(op.responses).join(', ')})`);
    return r;
  }

  /**
   * Check a response against the operation's declared response for its status. Returns the parsed
   * JSON body (or the text for other media types).
   */
  check(method, pathTemplate, res, { what } = {}) {
    const label = what ?? `${method.toUpperCase()} ${pathTemplate} -> ${res.status}`;
    const declared = this.response(method, pathTemplate, res.status);
    this.seen.add(`${method.toUpperCase()} ${pathTemplate} ${res.status}`);
    return this.checkAgainst(declared, res, label, { head: method.toUpperCase() === 'HEAD' });
  }

  /** Check a response against a reusable response of components.responses (e.g. NotFound). */
  checkComponent(name, res, { what } = {}) {
    const declared = this.spec.components?.responses?.[name];
    assert.ok(declared, `the document has no components.responses.${name}`);
    this.seen.add(`component ${name}`);
    return this.checkAgainst(declared, res, what ?? `${name} (${res.status})`);
  }

  checkAgainst(declared, res, label, { head = false } = {}) {
    const get = (name) => (typeof res.headers.get === 'function' ? res.headers.get(name) : res.headers[name.toLowerCase()]) ?? null;

    for (const [name, h] of Object.entries(declared.headers ?? {})) {
      if (name.toLowerCase() === 'content-type') continue; // OpenAPI ignores it; the media type says it.
      const value = get(name);
      if (value === null) {
        assert.ok(!h.required, `${label}: the required header ${name} is missing`);
        continue;
      }
      if (h.schema) this.assertSchema(h.schema, headerValue(h.schema, value), `${label}: header ${name}`);
    }
    // components.headers are the service-wide headers: wherever one appears, even on a response that
    // does not list it (the errors list only X-Request-Id), it must match its schema.
    const listed = new Set(Object.keys(declared.headers ?? {}).map((n) => n.toLowerCase()));
    for (const [name, h] of Object.entries(this.spec.components?.headers ?? {})) {
      const value = get(name);
      if (value === null || listed.has(name.toLowerCase()) || !h.schema) continue;
      this.assertSchema(h.schema, headerValue(h.schema, value), `${label}: header ${name}`);
    }

    const content = declared.content ?? {};
    const text = res.text ?? '';
    if (Object.keys(content).length === 0) {
      assert.equal(text, '', `${label}: the document declares no body, got ${JSON.stringify(text.slice(0, 200))}`);
      return undefined;
    }
    const type = mediaType(get('content-type'));
    const media = content[type];
    assert.ok(media, `${label}: Content-Type ${JSON.stringify(get('content-type'))} is not declared (declared: ${Object.keys(content).join(', ')})`);
    if (head) {
      assert.equal(text, '', `${label}: a HEAD answer has no body`);
      return undefined;
    }
    if (type === 'application/json' || type.endsWith('+json')) {
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        assert.fail(`${label}: the body is not JSON: ${JSON.stringify(text.slice(0, 300))}`);
      }
      this.assertSchema(media.schema, body, `${label}: body`);
      return body;
    }
    if (media.schema) this.assertSchema(media.schema, text, `${label}: body`);
    return text;
  }

  /** Every response the document declares: "GET /products/{id} 200", ... */
  declared() {
    const out = [];
    for (const { path: p, method } of operations(this.spec)) {
      for (const status of Object.keys(this.spec.paths[p][method].responses)) out.push(`${method.toUpperCase()} ${p} ${status}`);
    }
    return out;
  }

  /** Declared responses that no check has seen. */
  unseen() {
    return this.declared().filter((k) => !this.seen.has(k));
  }
}
