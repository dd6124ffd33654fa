// The lab (GET and PUT /lab/config, POST /lab/scenarios/{name}) as the failure-modes contract states
// it: its settings with their bounds, defaults and environment variables, and the calls the suites
// make to read, change and restore them.

import assert from 'node:assert/strict';
import { request } from './util.mjs';

/** The settings: member name, JSON type, bounds, the environment variable that sets it, and its default. */
export const SETTINGS = [
  { name: 'ttl_seconds', type: 'integer', min: 1, max: 31536000, env: 'CACHE_TTL_SECONDS', default: 3600 },
  { name: 'ttl_jitter_percent', type: 'integer', min: 0, max: 90, env: 'TTL_JITTER_PERCENT', default: 10 },
  { name: 'negative_ttl_seconds', type: 'integer', min: 0, max: 86400, env: 'NEGATIVE_TTL_SECONDS', default: 30 },
  { name: 'stampede_protection', type: 'boolean', env: 'STAMPEDE_PROTECTION', default: true },
  { name: 'refresh_ahead', type: 'boolean', env: 'REFRESH_AHEAD', default: true },
  { name: 'refresh_window_percent', type: 'integer', min: 1, max: 90, env: 'REFRESH_WINDOW_PERCENT', default: 10 },
  { name: 'stale_if_error_seconds', type: 'integer', min: 0, max: 86400, env: 'STALE_IF_ERROR_SECONDS', default: 300 },
  { name: 'circuit_breaker', type: 'boolean', env: 'CIRCUIT_BREAKER', default: true },
  { name: 'db_delay_ms', type: 'integer', min: 0, max: 10000, env: 'DB_DELAY_MS', default: 0 },
  { name: 'near_cache', type: 'boolean', env: 'L1_CACHE', default: false },
  { name: 'replica_guard', type: 'boolean', env: 'REPLICA_GUARD', default: true },
];

/** GET /lab/config of a service started without any of the settings. */
export const LAB_DEFAULTS = Object.freeze(Object.fromEntries(SETTINGS.map((s) => [s.name, s.default])));

/** Environment variables of the lab and of its protections that a test service must not inherit. */
export const LAB_ENV = [...SETTINGS.map((s) => s.env), 'LOCK_WAIT_MS', 'ADMIN_TOKEN', 'INSTANCE_ID'];

/** GET /lab/config of the service at `base` (200 expected). */
export async function labGet(base) {
  const r = await request(`${base}/lab/config`);
  assert.equal(r.status, 200, `GET /lab/config: ${r.text}`);
  return r.body;
}

/** PUT /lab/config with a JSON body (object or raw string); returns the response. */
export function labPut(base, body, { token, headers = {} } = {}) {
  const h = { 'Content-Type': 'application/json', ...headers };
  if (token !== undefined) h.Authorization = `Bearer ${token}`;
  return request(`${base}/lab/config`, { method: 'PUT', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

/** PUT /lab/config that must succeed; returns the settings after the change. */
export async function labSet(base, patch, opts) {
  const r = await labPut(base, patch, opts);
  assert.equal(r.status, 200, `PUT /lab/config ${JSON.stringify(patch)}: ${r.text}`);
  return r.body;
}

/** POST /lab/scenarios/{name}; returns the response. */
export function runScenario(base, name, { token, timeout = 120000 } = {}) {
  const headers = token !== undefined ? { Authorization: `Bearer ${token}` } : {};
  return request(`${base}/lab/scenarios/${name}`, { method: 'POST', headers, timeout });
}
