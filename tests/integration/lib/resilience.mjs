// Helpers for the failure-mode protections: the stored value format, the environment without
// protections, the database's own query count (pg_stat_statements), answers that may be stale, and
// counting. The lab's settings and calls are in tests/lib/lab.mjs.
//
// Nothing here changes the harness (stack.mjs); these functions take a Stack and use its public
// methods.

import assert from 'node:assert/strict';
import { request, waitFor } from '../../lib/util.mjs';
import { assertProductMatches } from './expect.mjs';

/** Environment that switches every protection off: the cache-aside baseline of the foundation contract. */
export const NO_PROTECTIONS = Object.freeze({
  TTL_JITTER_PERCENT: 0,
  NEGATIVE_TTL_SECONDS: 0,
  STAMPEDE_PROTECTION: 'false',
  REFRESH_AHEAD: 'false',
  STALE_IF_ERROR_SECONDS: 0,
  CIRCUIT_BREAKER: 'false',
});

/**
 * What Redis holds under a product key: exactly the product's JSON object, or `null` for a cached
 * 404, with the value's logical TTL as its Redis TTL. Returns { raw, product, expiryMs } (expiryMs:
 * now + PTTL), or null when the key is absent. Like any GET, reading it moves Redis' keyspace
 * counters.
 */
export async function readEntry(stack, key) {
  const raw = await stack.redisCmd('GET', key);
  if (raw === null) return null;
  const pttl = await stack.redisCmd('PTTL', key);
  assert.ok(raw === 'null' || raw.startsWith('{'), `stored value is a JSON object or null: ${JSON.stringify(raw.slice(0, 80))}`);
  return { raw, product: JSON.parse(raw), expiryMs: Date.now() + pttl };
}

/**
 * Resolves once the value of `key` has expired while its stale copy (the list `{<key>}:stale`) is
 * still kept; fails at once if the copy went first.
 */
export async function waitExpiredKeepingStale(stack, key, { timeout = 15000 } = {}) {
  await waitFor(
    async () => {
      if (await stack.redisCmd('EXISTS', `{${key}}:stale`) === 0) throw Object.assign(new Error(`{${key}}:stale vanished from Redis`), { fatal: true });
      return await stack.redisCmd('EXISTS', key) === 0;
    },
    { timeout, interval: 50, message: `${key} expired, its stale copy kept` },
  );
}

/** GET a URL and return { status, body, ... }; see util.request. */
export function getUrl(base, pathname, init) {
  return request(`${base}${pathname}`, init);
}

/** app_stats of the service at `base`. */
export async function appStats(base) {
  const r = await request(`${base}/cache/stats`);
  assert.equal(r.status, 200, `/cache/stats: ${r.text}`);
  return r.body.app_stats;
}

// pg_stat_statements keeps the text of prepared statements as sent: "... FROM products WHERE id = $1"
// and, with DB_DELAY_MS, "... FROM pg_sleep($2::float8 / 1000), products WHERE id = $1". Only the
// SELECTs: DELETE ... FROM products WHERE id = $1 is a write.
const LOOKUP_QUERIES = "query LIKE 'SELECT%FROM%products WHERE id = $1%'";

/** Forget what pg_stat_statements has counted so far. */
export async function pgStatReset(stack) {
  await stack.psql('SELECT pg_stat_statements_reset()');
}

/** Calls of the product-by-id lookup statement(s) counted by PostgreSQL since the last reset. */
export async function pgLookupCalls(stack) {
  const out = await stack.psql(`SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE ${LOOKUP_QUERIES}`);
  return Number(out);
}

/**
 * `product` is a product answer (GET /products/{id}) matching the PostgreSQL row `expected`; its
 * source may also be "stale" (stale-if-error), which assertProductMatches does not know about.
 */
export function assertProductAnswer(product, expected) {
  if (product?.source === 'stale') assertProductMatches({ ...product, source: 'cache' }, expected);
  else assertProductMatches(product, expected);
}

/** The X-Cache value that goes with each `source` of a 200 product answer. */
export const XCACHE_OF_SOURCE = Object.freeze({ cache: 'HIT', database: ['MISS', 'BYPASS'], stale: 'STALE' });

/** Nearest-rank percentile of numbers (p in 0..100); undefined for an empty list. */
export function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Count occurrences of each value: ['a','b','a'] -> { a: 2, b: 1 }. */
export function tally(values) {
  const out = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/**
 * The product stored under `key`, or null when there is none: no key, or a negative entry
 * (`null`, which a 404 read or a deletion may leave behind).
 */
export async function cachedProduct(stack, key) {
  const raw = await stack.redisCmd('GET', key);
  return raw === null ? null : JSON.parse(raw);
}

/**
 * A 404 for a product: {"detail":"Product not found"} from the database (X-Cache MISS), or
 * {"detail":"Product not found","source":"cache"} from a negative entry (X-Cache HIT).
 */
export function assertProductNotFound(res) {
  assert.equal(res.status, 404, `status (body: ${res.text})`);
  if (res.body?.source === 'cache') {
    assert.deepEqual(res.body, { detail: 'Product not found', source: 'cache' }, 'a 404 from the negative cache');
    assert.equal(res.headers.get('x-cache'), 'HIT');
  } else {
    assert.deepEqual(res.body, { detail: 'Product not found' }, 'a 404 from the database');
  }
}
