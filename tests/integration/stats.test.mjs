// GET /cache/stats: its shape, and app_stats counting exactly as the contract defines after a known
// sequence of lookups (hits, misses, hit_rate, db_queries).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { LAB_DEFAULTS } from '../lib/lab.mjs';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.teardown();
});

async function stats() {
  const r = await stack.get('/cache/stats');
  assert.equal(r.status, 200, r.text);
  return r.body;
}

async function lookup(id, status = 200) {
  const r = await stack.get(`/products/${id}`);
  assert.equal(r.status, status, `product ${id}: ${r.text}`);
  return r.body;
}

/** Parse Redis INFO text into { field: value }. */
function parseInfo(text) {
  const out = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function hitRate(hits, misses) {
  return hits + misses === 0 ? 0 : Math.round((hits / (hits + misses)) * 10000) / 100;
}

test('GET /cache/stats has the contract shape', async () => {
  const s = await stats();
  // write_mode comes with the writes, circuit_breaker and protections come with the failure-mode protections;
  // `latency` (percentiles by source) and `near_cache` (the L1 figures) are later additions outside
  // the contracts, write_behind only appears in that write mode.
  const required = ['app_stats', 'cache_stats', 'circuit_breaker', 'protections', 'timestamp', 'write_mode'];
  for (const k of required) assert.ok(k in s, `/cache/stats has ${k}`);
  assert.deepEqual(Object.keys(s).filter((k) => !required.includes(k)).filter((k) => !['latency', 'near_cache', 'write_behind'].includes(k)), [], 'no other top-level members');
  assert.equal(typeof s.timestamp, 'number');
  assert.equal(s.write_mode, 'invalidate');
  assert.deepEqual(Object.keys(s.circuit_breaker).sort(), ['opened', 'state']);
  assert.equal(s.circuit_breaker.state, 'closed', 'the breaker is closed while Redis is healthy');
  assert.equal(s.circuit_breaker.opened, 0, 'and has never opened');
  assert.deepEqual(s.protections, LAB_DEFAULTS, 'protections are the lab settings, at their defaults');
  const c = s.cache_stats;
  assert.ok(c && typeof c === 'object', 'cache_stats is an object while Redis is up');
  for (const f of ['keyspace_hits', 'keyspace_misses', 'connected_clients', 'total_commands_processed', 'total_connections_received']) {
    assert.equal(typeof c[f], 'number', `cache_stats.${f} is a number`);
    assert.ok(c[f] >= 0, `cache_stats.${f} >= 0`);
  }
  assert.equal(typeof c.used_memory_human, 'string');
  assert.match(c.used_memory_human, /^\d+(\.\d+)?[BKMGT]?$/, 'used_memory_human looks like Redis formats it');
  const a = s.app_stats;
  for (const f of ['hits', 'misses', 'hit_rate', 'db_queries', 'redis_errors', 'db_errors']) {
    assert.equal(typeof a[f], 'number', `app_stats.${f} is a number`);
    assert.ok(a[f] >= 0, `app_stats.${f} >= 0`);
  }
  assert.ok(a.hit_rate <= 100);
});

test('a fresh process starts at zero; /health, / and /cache/stats are not lookups', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService();
  await stack.get('/health');
  await stack.get('/');
  await stats();
  const a = (await stats()).app_stats;
  assert.deepEqual(
    { hits: a.hits, misses: a.misses, hit_rate: a.hit_rate, db_queries: a.db_queries, redis_errors: a.redis_errors, db_errors: a.db_errors },
    { hits: 0, misses: 0, hit_rate: 0, db_queries: 0, redis_errors: 0, db_errors: 0 },
  );
});

test('3 misses then 5 hits count exactly', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService();
  for (const id of [1, 2, 3]) assert.equal((await lookup(id)).source, 'database');
  await stack.waitForKeys(['product:1', 'product:2', 'product:3']);
  for (const id of [1, 2, 3, 1, 2]) assert.equal((await lookup(id)).source, 'cache');
  const a = (await stats()).app_stats;
  assert.equal(a.hits, 5, 'hits');
  assert.equal(a.misses, 3, 'misses');
  assert.equal(a.hit_rate, 62.5, 'hit_rate = 5 / 8 in percent');
  assert.equal(a.db_queries, 3, 'db_queries');
  assert.equal(a.redis_errors, 0);
  assert.equal(a.db_errors, 0);
});

test('a 404 is a miss and a query; hit_rate is rounded to 2 decimals', async () => {
  // Continues from the previous test: hits 5, misses 3, db_queries 3.
  await lookup(999999, 404);
  const a = (await stats()).app_stats;
  assert.equal(a.hits, 5);
  assert.equal(a.misses, 4);
  assert.equal(a.db_queries, 4);
  assert.equal(a.hit_rate, 55.56, 'hit_rate = 5 / 9 = 55.555...% rounded to 55.56');
  assert.equal(a.hit_rate, hitRate(a.hits, a.misses));
});

test('a list request is 2 queries and neither a hit nor a miss; rejected input and ids outside 32 bits query nothing', async () => {
  const before_ = (await stats()).app_stats;
  let r = await stack.get('/products?limit=3');
  assert.equal(r.status, 200);
  let a = (await stats()).app_stats;
  assert.equal(a.db_queries, before_.db_queries + 2, 'page + count');
  assert.equal(a.hits, before_.hits);
  assert.equal(a.misses, before_.misses);

  r = await stack.get('/products?limit=1001');
  assert.equal(r.status, 422);
  r = await stack.get('/products/abc');
  assert.equal(r.status, 422);
  r = await stack.get('/products/99999999999');
  assert.equal(r.status, 404, 'an id outside 32 bits is no product');
  a = (await stats()).app_stats;
  assert.equal(a.db_queries, before_.db_queries + 2, '422s, and a 404 for an id outside 32 bits, send no query');
  assert.equal(a.hits, before_.hits);
  assert.equal(a.misses, before_.misses);
});

test('cache_stats mirrors Redis INFO', async () => {
  const s = await stats();
  const info = parseInfo(await stack.redisCmd('INFO'));
  // Nothing reads keys between the two calls, so the keyspace counters are equal.
  assert.equal(s.cache_stats.keyspace_hits, Number(info.keyspace_hits));
  assert.equal(s.cache_stats.keyspace_misses, Number(info.keyspace_misses));
  assert.ok(s.cache_stats.total_commands_processed <= Number(info.total_commands_processed));
  assert.ok(s.cache_stats.total_connections_received <= Number(info.total_connections_received));
  assert.ok(s.cache_stats.keyspace_hits >= 5, 'at least the 5 cache hits of this process');
});
