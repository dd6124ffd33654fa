// Cache-aside behaviour seen from outside: source database then cache, the Redis key and its TTL,
// CACHE_KEY_PREFIX, CACHE_BYPASS, and DELETE /cache/clear touching only the prefix.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from './lib/stack.mjs';
import { assertProductMatches } from './lib/expect.mjs';

const TTL = 120;

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
  await product(1);
  await stack.waitForKeys('product:1');
  const ttl = await stack.redisCmd('TTL', 'product:1');
  assert.ok(ttl >= TTL - 5 && ttl <= TTL, `TTL ${ttl} within [${TTL - 5}, ${TTL}]`);
});

test('a product whose key expired or vanished is read from the database and cached again', async () => {
  await product(3);
  await stack.waitForKeys('product:3');
  await stack.redisCmd('DEL', 'product:3');
  assert.equal((await product(3)).source, 'database');
  await stack.waitForKeys('product:3');
  assert.equal((await product(3)).source, 'cache');
});

test('a 404 stays a 404 when repeated', async () => {
  const r = await stack.get('/products/999999');
  assert.equal(r.status, 404);
  const again = await stack.get('/products/999999');
  assert.equal(again.status, 404);
  assert.deepEqual(again.body, { detail: 'Product not found' });
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

test('the default TTL is 3600 seconds', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: {} });
  await product(9);
  await stack.waitForKeys('product:9');
  const ttl = await stack.redisCmd('TTL', 'product:9');
  assert.ok(ttl >= 3595 && ttl <= 3600, `TTL ${ttl}`);
});
