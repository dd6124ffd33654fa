// PUT /lab/config bodies valid at and inside every bound of the lab settings (tests/lib/lab.mjs), and
// invalid ones with the 422 entries each must produce.
//
// The rules, from the contract: every setting is a JSON integer within its bounds or a JSON boolean;
// a body is any subset of them (`{}` included); no other member, no member twice; the body an object.
// All of a body is applied or none of it.
//
// A case is { what, body } (a JSON value, sent as JSON.stringify(body)) or { what, raw } (sent as is).
// errors lists the expected entries as [type, ...loc], in any order. `textual` marks a problem that only
// the JSON text shows (60.0 is an integer to a JSON Schema validator once parsed, but a real number to the
// service's parser): the document's schema cannot see it, as it cannot see json_invalid.

import { LAB_DEFAULTS, SETTINGS } from '../../lib/lab.mjs';

const INTEGERS = SETTINGS.filter((s) => s.type === 'integer');
const BOOLEANS = SETTINGS.filter((s) => s.type === 'boolean');

/** Valid PUT bodies, applied one after the other. */
export const VALID = [
  { what: 'an empty object', body: {} },
  ...INTEGERS.flatMap((s) => [
    { what: `${s.name} at its minimum`, body: { [s.name]: s.min } },
    { what: `${s.name} at its maximum`, body: { [s.name]: s.max } },
  ]),
  ...BOOLEANS.flatMap((s) => [
    { what: `${s.name} off`, body: { [s.name]: false } },
    { what: `${s.name} on`, body: { [s.name]: true } },
  ]),
  {
    what: 'every setting at once',
    body: { ttl_seconds: 120, ttl_jitter_percent: 0, negative_ttl_seconds: 0, stampede_protection: false, refresh_ahead: false, refresh_window_percent: 50, stale_if_error_seconds: 0, circuit_breaker: false, db_delay_ms: 5 },
  },
  { what: 'every setting back to its default', body: LAB_DEFAULTS },
];

/** Invalid PUT bodies with the entries the 422 must list. */
export const INVALID = [
  ...INTEGERS.flatMap((s) => [
    { what: `${s.name} below its minimum`, body: { [s.name]: s.min - 1 }, errors: [['greater_than_equal', 'body', s.name]] },
    { what: `${s.name} above its maximum`, body: { [s.name]: s.max + 1 }, errors: [['less_than_equal', 'body', s.name]] },
    { what: `${s.name} a fraction`, body: { [s.name]: 1.5 }, errors: [['int_type', 'body', s.name]] },
    { what: `${s.name} a string`, body: { [s.name]: String(s.default) }, errors: [['int_type', 'body', s.name]] },
    { what: `${s.name} a boolean`, body: { [s.name]: true }, errors: [['int_type', 'body', s.name]] },
    { what: `${s.name} null`, body: { [s.name]: null }, errors: [['int_type', 'body', s.name]] },
  ]),
  { what: 'ttl_seconds far out of range', body: { ttl_seconds: 2 ** 40 }, errors: [['less_than_equal', 'body', 'ttl_seconds']] },
  { what: 'ttl_seconds an array', body: { ttl_seconds: [60] }, errors: [['int_type', 'body', 'ttl_seconds']] },
  { what: 'ttl_seconds written 60.0', raw: '{"ttl_seconds":60.0}', errors: [['int_type', 'body', 'ttl_seconds']], textual: true },
  { what: 'ttl_seconds written 6e1', raw: '{"ttl_seconds":6e1}', errors: [['int_type', 'body', 'ttl_seconds']], textual: true },
  ...BOOLEANS.flatMap((s) => [
    { what: `${s.name} 1`, body: { [s.name]: 1 }, errors: [['bool_type', 'body', s.name]] },
    { what: `${s.name} 0`, body: { [s.name]: 0 }, errors: [['bool_type', 'body', s.name]] },
    { what: `${s.name} "true"`, body: { [s.name]: 'true' }, errors: [['bool_type', 'body', s.name]] },
    { what: `${s.name} null`, body: { [s.name]: null }, errors: [['bool_type', 'body', s.name]] },
  ]),
  { what: 'an unknown member', body: { lock_wait_ms: 100 }, errors: [['extra_forbidden', 'body', 'lock_wait_ms']] },
  { what: 'a setting in the wrong case', body: { TTL_SECONDS: 60 }, errors: [['extra_forbidden', 'body', 'TTL_SECONDS']] },
  { what: 'a member of /cache/stats', body: { protections: {} }, errors: [['extra_forbidden', 'body', 'protections']] },
  {
    what: 'one valid and one invalid setting (nothing is applied)',
    body: { ttl_seconds: 60, db_delay_ms: -1 },
    errors: [['greater_than_equal', 'body', 'db_delay_ms']],
  },
  {
    what: 'five problems at once',
    body: { ttl_seconds: 0, refresh_ahead: 'yes', db_delay_ms: 2.5, stale_if_error_seconds: 86401, max_ttl: 5 },
    errors: [
      ['greater_than_equal', 'body', 'ttl_seconds'],
      ['bool_type', 'body', 'refresh_ahead'],
      ['int_type', 'body', 'db_delay_ms'],
      ['less_than_equal', 'body', 'stale_if_error_seconds'],
      ['extra_forbidden', 'body', 'max_ttl'],
    ],
  },
  { what: 'no body at all', raw: '', errors: [['json_invalid', 'body']] },
  { what: 'not JSON', raw: 'ttl_seconds=60', errors: [['json_invalid', 'body']] },
  { what: 'truncated JSON', raw: '{"ttl_seconds":60', errors: [['json_invalid', 'body']] },
  { what: 'a member given twice', raw: '{"ttl_seconds":60,"ttl_seconds":61}', errors: [['json_invalid', 'body']] },
  { what: 'an integer too large for the parser', raw: '{"db_delay_ms":99999999999999999999}', errors: [['json_invalid', 'body']] },
  { what: 'a bare null', raw: 'null', errors: [['model_attributes_type', 'body']] },
  { what: 'a bare number', raw: '60', errors: [['model_attributes_type', 'body']] },
  { what: 'a bare string', raw: '"ttl_seconds"', errors: [['model_attributes_type', 'body']] },
  { what: 'a bare boolean', raw: 'false', errors: [['model_attributes_type', 'body']] },
  { what: 'an empty array', raw: '[]', errors: [['model_attributes_type', 'body']] },
  { what: 'an array of settings', raw: '[{"ttl_seconds":60}]', errors: [['model_attributes_type', 'body']] },
];
