// Cache-aside behaviour seen from outside: source database then cache, the Redis key, its stored
// value ("<expiry ms>:<json>") and its TTL (jittered, plus the stale-if-error window), negative
// caching of 404s, CACHE_KEY_PREFIX, CACHE_BYPASS, and DELETE /cache/clear touching only the prefix.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import { assertProductMatches } from './lib/expect.mjs';
import { decodeEntry } from './lib/resilience.mjs';

const TTL = 120;
// Defaults of the protections that shape the Redis TTL.
const JITTER = 0.1;
const STALE_WINDOW = 300;
// Seconds that may pass between the store and our TTL command (a hang detector, not a measure).
const SLACK = 5;

/**
 * The Redis TTL of a product key holds the logical TTL (ttl ± jitter) plus the stale window:
 * assert `redisTtl` lies in [ttl*(1-j) + stale - SLACK, ttl*(1+j) + stale].
 */
function assertTtlWindow(redisTtl, ttl, { jitter = JITTER, stale = STALE_WINDOW } = {}) {
  const lo = Math.round(ttl * (1 - jitter)) + stale - SLACK;
  const hi = Math.round(ttl * (1 + jitter)) + stale;
  assert.ok(redisTtl >= lo && redisTtl <= hi, `TTL ${redisTtl} within [${lo}, ${hi}] (ttl ${ttl}, jitter ${jitter * 100} %, stale window ${stale} s)`);
}

let stack;
let seed;

before(async () => {
  stack = await startStack({ env: { CACHE_TTL_SECONDS: TTL } });
  seed = await stack.dbProducts();
});

after(async () => {
  await stack?.teardown();
});

async function product(id) {
  const r = await stack.get(`/products/${id}`);
  assert.equal(r.status, 200, `product ${id}: ${r.text}`);
  assertProductMatches(r.body, seed[id - 1]);
  return r.body;
}

test('first read comes from the database, the second from the cache', async () => {
  assert.equal(await stack.redisCmd('EXISTS', 'product:1'), 0, 'no key before the first read');
  const first = await product(1);
  assert.equal(first.source, 'database');
  // The product is stored after the answer; the second read follows once the key is there.
  await stack.waitForKeys('product:1');
  const second = await product(1);
  assert.equal(second.source, 'cache');
  const third = await product(1);
  assert.equal(third.source, 'cache');
  // The cached copy carries the same values.
  for (const k of ['id', 'name', 'description', 'price', 'category', 'created_at', 'updated_at']) {
    assert.deepEqual(second[k], first[k], k);
  }
});

test('the Redis key product:1 exists with a TTL that follows CACHE_TTL_SECONDS', async () => {
  const p = await product(1);
  await stack.waitForKeys('product:1');
  const ttl = await stack.redisCmd('TTL', 'product:1');
  assertTtlWindow(ttl, TTL);
  // The value carries its logical expiry, within the jitter window of now + TTL, and the product.
  const entry = decodeEntry(await stack.redisCmd('GET', 'product:1'));
  const now = Date.now();
  assert.ok(entry.expiryMs >= now + (TTL * (1 - JITTER) - SLACK) * 1000 && entry.expiryMs <= now + TTL * (1 + JITTER) * 1000 + 1000, `logical expiry ${entry.expiryMs - now} ms from now`);
  assert.equal(entry.product.id, 1);
  for (const k of ['name', 'description', 'price', 'category', 'created_at', 'updated_at']) assert.deepEqual(entry.product[k], p[k], k);
});

test('a product whose key expired or vanished is read from the database and cached again', async () => {
  await product(3);
  await stack.waitForKeys('product:3');
  await stack.redisCmd('DEL', 'product:3');
  assert.equal((await product(3)).source, 'database');
  await stack.waitForKeys('product:3');
  assert.equal((await product(3)).source, 'cache');
});

test('a 404 stays a 404 when repeated (the repeat is served from the negative cache)', async () => {
  const r = await stack.get('/products/999999');
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { detail: 'Product not found' }, 'a 404 from the database');
  assert.equal(r.headers.get('x-cache'), 'MISS');
  const again = await stack.get('/products/999999');
  assert.equal(again.status, 404);
  assert.deepEqual(again.body, { detail: 'Product not found', source: 'cache' }, 'a 404 from the negative entry says so');
  assert.equal(again.headers.get('x-cache'), 'HIT');
  // The negative entry: "<expiry>:" with nothing after the colon, kept NEGATIVE_TTL_SECONDS (30).
  const entry = decodeEntry(await stack.redisCmd('GET', 'product:999999'));
  assert.equal(entry.product, null);
  const ttl = await stack.redisCmd('TTL', 'product:999999');
  assert.ok(ttl > 0 && ttl <= 30, `negative entry TTL ${ttl} within (0, 30]`);
});

test('DELETE /cache/clear removes exactly the product keys and leaves foreign keys', async () => {
  // Start from a known state: only our foreign key plus keys for products 1..5.
  await stack.redisCmd('FLUSHALL');
  await stack.redisCmd('SET', 'other:key', 'keep-me');
  await stack.redisCmd('SET', 'productX', 'not under the prefix');
  for (let id = 1; id <= 5; id++) await product(id);
  await stack.waitForKeys(['product:1', 'product:2', 'product:3', 'product:4', 'product:5']);
  const keys = await stack.redisKeys('product:*');
  assert.deepEqual(keys, ['product:1', 'product:2', 'product:3', 'product:4', 'product:5']);

  const r = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.message, 'Cache cleared successfully');
  assert.equal(r.body.cleared_keys, 5);
  assert.equal(typeof r.body.timestamp, 'number');

  assert.deepEqual(await stack.redisKeys('product:*'), []);
  assert.equal(await stack.redisCmd('GET', 'other:key'), 'keep-me');
  assert.equal(await stack.redisCmd('GET', 'productX'), 'not under the prefix');

  assert.equal((await product(1)).source, 'database', 'next read after a clear goes to the database');
  await stack.waitForKeys('product:1');
  assert.equal((await product(1)).source, 'cache');

  const again = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(again.status, 200);
  assert.equal(again.body.cleared_keys, 1);
  const empty = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(empty.body.cleared_keys, 0);
});

test('DELETE /cache/clear counts many keys correctly (SCAN over several batches)', async () => {
  await stack.redisCmd('FLUSHALL');
  for (let id = 1; id <= 15; id++) await product(id);
  await stack.waitForKeys(Array.from({ length: 15 }, (_, i) => `product:${i + 1}`));
  // Foreign keys interleaved in the keyspace, some sharing part of the prefix.
  for (let i = 0; i < 300; i++) await stack.redisCmd('SET', `other:${i}`, 'x');
  await stack.redisCmd('SET', 'product', 'bare word, no colon');
  const r = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(r.status, 200);
  assert.equal(r.body.cleared_keys, 15);
  assert.equal(await stack.redisCmd('DBSIZE'), 301);
  assert.equal(await stack.redisCmd('EXISTS', 'product'), 1);
});

test('CACHE_KEY_PREFIX is used for keys and for clearing', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { CACHE_TTL_SECONDS: TTL, CACHE_KEY_PREFIX: 'it:prod:' } });
  await stack.redisCmd('SET', 'product:7', 'foreign under the default prefix');

  assert.equal((await product(7)).source, 'database');
  await stack.waitForKeys('it:prod:7');
  assert.equal(await stack.redisCmd('GET', 'product:7'), 'foreign under the default prefix', 'default-prefix key untouched');
  assert.equal((await product(7)).source, 'cache');
  await product(8);
  await stack.waitForKeys('it:prod:8');

  const r = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(r.body.cleared_keys, 2);
  assert.deepEqual(await stack.redisKeys('it:prod:*'), []);
  assert.equal(await stack.redisCmd('EXISTS', 'product:7'), 1);
});

test('CACHE_BYPASS=true always reads the database and writes nothing to Redis', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { CACHE_BYPASS: 'true' } });
  for (let i = 0; i < 3; i++) assert.equal((await product(4)).source, 'database');
  assert.equal(await stack.redisCmd('DBSIZE'), 0);
});

test('the default TTL is 3600 seconds (± 10 % jitter, plus the 300 s stale window)', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: {} });
  await product(9);
  await stack.waitForKeys('product:9');
  const ttl = await stack.redisCmd('TTL', 'product:9');
  assertTtlWindow(ttl, 3600);
});

test('with jitter and the stale window off, the Redis TTL is exactly CACHE_TTL_SECONDS', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { CACHE_TTL_SECONDS: TTL, TTL_JITTER_PERCENT: 0, STALE_IF_ERROR_SECONDS: 0 } });
  await product(2);
  await stack.waitForKeys('product:2');
  const ttl = await stack.redisCmd('TTL', 'product:2');
  assert.ok(ttl >= TTL - SLACK && ttl <= TTL, `TTL ${ttl} within [${TTL - SLACK}, ${TTL}]`);
  const entry = decodeEntry(await stack.redisCmd('GET', 'product:2'));
  const pttl = await stack.redisCmd('PTTL', 'product:2');
  // Without a stale window the key disappears at its logical expiry.
  assert.ok(Math.abs(Date.now() + pttl - entry.expiryMs) < 2000, `Redis expiry ${Date.now() + pttl} vs logical ${entry.expiryMs}`);
});

test('with NEGATIVE_TTL_SECONDS=0 a repeated 404 goes to the database each time and nothing is stored', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { NEGATIVE_TTL_SECONDS: 0 } });
  for (let i = 0; i < 3; i++) {
    const r = await stack.get('/products/999998');
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { detail: 'Product not found' });
    assert.equal(r.headers.get('x-cache'), 'MISS');
  }
  assert.equal(await stack.redisCmd('EXISTS', 'product:999998'), 0);
  const a = (await stack.get('/cache/stats')).body.app_stats;
  assert.equal(a.misses, 3);
  assert.equal(a.db_queries, 3);
});
