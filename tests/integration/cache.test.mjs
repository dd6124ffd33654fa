// Cache-aside behaviour seen from outside: source database then cache, the Redis key, its stored
// value (exactly the product's JSON, as the original stores it) and its TTL (jittered), the stale
// copy kept past it (stale-if-error window), negative caching of 404s (`null`), CACHE_KEY_PREFIX,
// CACHE_BYPASS, DELETE /cache/clear touching only the prefix, and values that are not products.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { waitFor } from '../lib/util.mjs';
import { assertProductMatches, getSeededProduct } from './lib/expect.mjs';
import { readEntry } from './lib/resilience.mjs';

const TTL = 120;
// Defaults of the protections that shape the Redis TTL.
const JITTER = 0.1;
const STALE_WINDOW = 300;
// Seconds that may pass between the store and our TTL command (a hang detector, not a measure).
const SLACK = 5;

/**
 * The Redis TTL of a product key is its logical TTL (ttl ± jitter); its stale copy lives the stale
 * window longer: assert `redisTtl` lies in [ttl*(1-j) + stale - SLACK, ttl*(1+j) + stale].
 */
function assertTtlWindow(redisTtl, ttl, { jitter = JITTER, stale = 0 } = {}) {
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

/** GET /products/{id}: 200 with the seeded values; see getSeededProduct. */
const product = (id) => getSeededProduct(stack, seed, id);

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
  // The value is exactly the product's JSON object, as the original service stores it: what
  // redis-cli and Redis Commander show, with nothing before it and no answer-only members.
  const entry = await readEntry(stack, 'product:1');
  assert.equal(entry.product.id, 1);
  assert.deepEqual(Object.keys(entry.product).sort(), ['category', 'created_at', 'description', 'id', 'name', 'price', 'updated_at']);
  for (const k of ['name', 'description', 'price', 'category', 'created_at', 'updated_at']) assert.deepEqual(entry.product[k], p[k], k);
  // Its stale copy (stale-if-error) lives the stale window longer, and says the same.
  assert.deepEqual(await stack.redisCmd('LRANGE', '{product:1}:stale', '0', '-1'), [entry.raw]);
  assertTtlWindow(await stack.redisCmd('TTL', '{product:1}:stale'), TTL, { stale: STALE_WINDOW });
  // The refresh-ahead marker lives until the last 10 % of the value's life.
  const fresh = await stack.redisCmd('TTL', '{product:1}:fresh');
  assert.ok(fresh > 0 && fresh <= ttl, `refresh marker TTL ${fresh} within (0, ${ttl}]`);
});

test('a value under a product key that is not a product JSON object is a miss, and is overwritten', async () => {
  await product(5);
  await stack.waitForKeys('product:5');
  const good = (await readEntry(stack, 'product:5')).raw;
  const bad = [
    '1796406848392:' + good, // The old "<expiry ms>:<json>" format.
    '99999999999999999999:' + good, // A prefix that overflowed the old decoder.
    '{"a"b"}',
    good.slice(0, -1) + ',"extra":"\\u0000"}', // An escaped NUL.
    Buffer.concat([Buffer.from(good.slice(0, -2)), Buffer.from([0x00]), Buffer.from('"}')]),
    Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    '{"id":5,"source":"cache"}',
    '[1,2]',
    '',
  ];
  for (const value of bad) {
    await stack.redisCmd('SET', 'product:5', value);
    const r = await stack.get('/products/5');
    assert.equal(r.status, 200, `${JSON.stringify(String(value).slice(0, 40))}: ${r.text}`);
    assert.equal(r.body.source, 'database', `${JSON.stringify(String(value).slice(0, 40))} is not served`);
    assertProductMatches(r.body, seed[4]);
    await stack.waitForKeys('product:5');
    await waitFor(async () => (await stack.redisCmd('GET', 'product:5')) === good, { timeout: 5000, message: 'the bad value overwritten' });
    assert.equal((await product(5)).source, 'cache');
  }
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
  // The negative entry: the JSON literal null, kept NEGATIVE_TTL_SECONDS (30).
  assert.equal(await stack.redisCmd('GET', 'product:999999'), 'null');
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
  // The views of the lookups have keys of their own, which a clear leaves (analytics.test.mjs).
  const left = (await stack.redisKeys('*')).filter((k) => !k.startsWith('analytics:'));
  assert.equal(left.length, 301);
  assert.equal(await stack.redisCmd('EXISTS', 'product'), 1);
});

test('the keys beside a product key carry it as a hash tag; a clear removes those left without their value', async () => {
  await stack.redisCmd('FLUSHALL');
  await product(3);
  await stack.waitForKeys(['product:3', '{product:3}:stale', '{product:3}:fresh']);
  // A write (the seeded value again) raises the generation.
  const w = await stack.get('/products/3', { method: 'PATCH', body: JSON.stringify({ category: 'Audio' }), headers: { 'content-type': 'application/json' } });
  assert.equal(w.status, 200);
  // The write set updated_at: compare the next read with what PostgreSQL holds now.
  seed = await stack.dbProducts();
  await product(3);
  await stack.waitForKeys('product:3');
  // One hash tag, "product:3", so a Redis Cluster keeps them all in the slot of product:3.
  // (The lock may still hold the value handed to waiting lookups for a moment. The views'
  // analytics keys carry the same tag, analytics:{product:3}:…, and come when their batch is
  // sent, 100 ms later or so: they are the analytics' own, see analytics.test.mjs.)
  const cacheKeys = async () => (await stack.redisKeys('*product:3*')).filter((k) => !k.startsWith('analytics:'));
  const names = (await cacheKeys()).filter((k) => k !== '{product:3}:lock').sort();
  assert.deepEqual(names, ['product:3', '{product:3}:fresh', '{product:3}:gen', '{product:3}:stale']);
  // Companions whose value is gone go with a clear; the generation stays, and so do keys that
  // only look alike.
  await stack.redisCmd('DEL', 'product:3');
  await stack.redisCmd('SET', '{other:3}:stale', 'foreign');
  const r = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(r.status, 200);
  assert.equal(r.body.cleared_keys, 0);
  assert.deepEqual((await cacheKeys()).sort(), ['{product:3}:gen']);
  assert.equal(await stack.redisCmd('GET', '{other:3}:stale'), 'foreign');
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

test('CACHE_BYPASS=true always reads the database and writes nothing to Redis but the views', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { CACHE_BYPASS: 'true' } });
  for (let i = 0; i < 3; i++) assert.equal((await product(4)).source, 'database');
  // Bypassing the cache leaves view analytics on (analytics.test.mjs): only their keys may exist.
  assert.deepEqual((await stack.redisKeys('*')).filter((k) => !k.startsWith('analytics:')), []);
  await stack.restartService({ env: { CACHE_BYPASS: 'true', ANALYTICS: 'false' } });
  await stack.redisCmd('FLUSHALL');
  for (let i = 0; i < 3; i++) assert.equal((await product(4)).source, 'database');
  assert.equal(await stack.redisCmd('DBSIZE'), 0, 'with ANALYTICS=false as well, nothing at all');
});

test('the default TTL is 3600 seconds (± 10 % jitter; the stale copy 300 s longer)', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: {} });
  await product(9);
  await stack.waitForKeys('product:9');
  assertTtlWindow(await stack.redisCmd('TTL', 'product:9'), 3600);
  assertTtlWindow(await stack.redisCmd('TTL', '{product:9}:stale'), 3600, { stale: STALE_WINDOW });
});

test('with jitter and the stale window off, the Redis TTL is exactly CACHE_TTL_SECONDS', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { CACHE_TTL_SECONDS: TTL, TTL_JITTER_PERCENT: 0, STALE_IF_ERROR_SECONDS: 0 } });
  await product(2);
  await stack.waitForKeys('product:2');
  const ttl = await stack.redisCmd('TTL', 'product:2');
  assert.ok(ttl >= TTL - SLACK && ttl <= TTL, `TTL ${ttl} within [${TTL - SLACK}, ${TTL}]`);
  // Without a stale window there is no stale copy.
  assert.equal(await stack.redisCmd('EXISTS', '{product:2}:stale'), 0);
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
