// Redis failures injected for real: paused (SIGSTOP), refusing writes (OOM), killed with -9 during a
// request loop and restarted on the same port, and absent at start-up. The service must keep
// answering from PostgreSQL (never 5xx) and go back to the cache by itself.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertDetail, assertProductMatches, getSeededProduct } from './lib/expect.mjs';
import { waitFor } from '../lib/util.mjs';

const REDIS_TIMEOUT_MS = 200;
// Deadline for a request while Redis hangs: a GET and possibly a SET that each time out, plus slack.
const SLOW_REDIS_BOUND_MS = REDIS_TIMEOUT_MS + 1300;
// Without the near cache: these tests are about lookups that reach Redis. (L1 keeps answering for
// up to its heartbeat window, 100 ms, into a pause; near-cache.test.mjs covers L1.)
const ENV = { REDIS_TIMEOUT_MS, L1_MAX_BYTES: 0 };

let stack;
let seed;

before(async () => {
  stack = await startStack({ env: ENV });
  seed = await stack.dbProducts();
});

after(async () => {
  await stack?.teardown();
});

/** GET /products/{id}: 200 with the seeded values; see getSeededProduct. */
const product = (id) => getSeededProduct(stack, seed, id);

function logTail(lines = 30) {
  return stack.service.log().split('\n').slice(-lines).join('\n');
}

/** Poll product `id` until it comes from the cache; returns the sources seen on the way. */
async function waitForCache(id, timeout = 30000) {
  const seen = [];
  await waitFor(
    async () => {
      const p = await product(id);
      seen.push(p.source);
      return p.source === 'cache';
    },
    { timeout, interval: 100, message: `product ${id} served from the cache again` },
  );
  return seen;
}

test('Redis paused with SIGSTOP: reads come from the database within the Redis deadline', { timeout: 120000 }, async () => {
  await stack.restartService({ env: ENV });
  for (const id of [1, 2, 3]) await product(id);
  await stack.waitForKeys(['product:1', 'product:2', 'product:3']);
  assert.equal((await product(1)).source, 'cache');

  stack.pauseRedis();
  try {
    // kill() returns before the stop takes effect; a read sent before that could still be a hit.
    await stack.waitRedisPaused();
    // Sequential reads, cached and uncached ids alike.
    const trace = [];
    for (const id of [1, 4, 2, 5, 3, 6, 1, 7]) {
      const p = await product(id);
      trace.push(`${id}: ${p.source} ${Math.round(p.ms)} ms`);
      assert.equal(p.source, 'database', `product ${id} while Redis is paused`);
      assert.ok(p.ms < SLOW_REDIS_BOUND_MS, `product ${id} took ${Math.round(p.ms)} ms (bound ${SLOW_REDIS_BOUND_MS}); reads so far: ${trace.join(', ')}\n--- cacheme log ---\n${logTail()}`);
    }
    // Concurrent reads.
    const t0 = performance.now();
    const many = await Promise.all(Array.from({ length: 16 }, (_, i) => product((i % 15) + 1)));
    for (const p of many) assert.equal(p.source, 'database');
    assert.ok(performance.now() - t0 < SLOW_REDIS_BOUND_MS + 1000, 'concurrent reads bounded as well');

    const h = await stack.get('/health');
    assert.equal(h.status, 200, `health while Redis hangs: ${h.text}`);
    assert.equal(h.body.status, 'degraded');
    assert.equal(h.body.components.redis.status, 'unhealthy');
    assert.equal(h.body.components.postgres.status, 'healthy');
    assert.ok(h.ms < SLOW_REDIS_BOUND_MS, `/health took ${Math.round(h.ms)} ms`);
  } finally {
    stack.resumeRedis();
  }

  // Late replies to abandoned commands must not be matched to new ones: every id gets its own product.
  await waitForCache(1);
  for (let round = 0; round < 3; round++) {
    for (let id = 1; id <= 15; id++) await product(id);
  }
  // Let the stores of these misses land before the next test empties Redis.
  await stack.waitForKeys(Array.from({ length: 15 }, (_, i) => `product:${i + 1}`));
  // Each event loop has its own circuit breaker (and connection): one whose breaker opened, or whose
  // hung connection was dropped, tries Redis again only after REDIS_BREAKER_OPEN_MS (2 s) or its
  // reconnect backoff, so /health on that loop reports Redis healthy again a moment later.
  await waitFor(
    async () => {
      for (let i = 0; i < 8; i++) if ((await stack.get('/health')).body?.status !== 'healthy') return false;
      return true;
    },
    { timeout: 15000, interval: 100, message: '/health healthy 8 times in a row (every loop recovered)' },
  );
});

test('Redis refusing writes (OOM): reads still succeed from the database', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: ENV });
  await stack.redisCmd('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');
  await stack.redisCmd('CONFIG', 'SET', 'maxmemory', '1');
  try {
    for (let i = 0; i < 3; i++) {
      const p = await product(11);
      assert.equal(p.source, 'database', 'nothing could be cached');
    }
    assert.equal(await stack.redisCmd('EXISTS', 'product:11'), 0);
  } finally {
    await stack.redisCmd('CONFIG', 'SET', 'maxmemory', '0');
  }
  const seen = await waitForCache(11);
  assert.equal(seen[0], 'database');
});

test('Redis killed with -9 during a request loop, then restarted on the same port', { timeout: 180000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  for (let id = 1; id <= 15; id++) await product(id); // warm: 15 misses
  await stack.waitForKeys(Array.from({ length: 15 }, (_, i) => `product:${i + 1}`));

  const results = [];
  let killed = false;
  let stop = false;
  const loop = async (offset) => {
    for (let i = offset; !stop; i++) {
      const id = (i % 15) + 1;
      const afterKill = killed;
      try {
        const r = await stack.get(`/products/${id}`);
        results.push({ id, afterKill, status: r.status, body: r.body, text: r.text });
      } catch (err) {
        results.push({ id, afterKill, error: err.message });
      }
    }
  };
  const loops = [0, 4, 8, 12].map(loop);
  try {
    await waitFor(() => results.length >= 100, { timeout: 30000, message: '100 requests before the kill' });
    await stack.killRedis('SIGKILL');
    killed = true;
    await waitFor(() => results.filter((r) => r.afterKill).length >= 200, { timeout: 60000, message: '200 requests after the kill' });
  } finally {
    stop = true;
    await Promise.all(loops);
  }

  const problems = [];
  let cache = 0;
  let database = 0;
  for (const r of results) {
    if (r.error || r.status !== 200) {
      problems.push(`product ${r.id}: ${r.error ?? `${r.status} ${r.text}`}`);
      continue;
    }
    try {
      assertProductMatches(r.body, seed[r.id - 1]);
    } catch (err) {
      problems.push(err.message);
    }
    if (r.afterKill && r.body.source !== 'database') problems.push(`product ${r.id} after the kill came from ${r.body.source}`);
    if (r.body.source === 'cache') cache++;
    else database++;
  }
  assert.deepEqual(problems.slice(0, 10), [], 'every request answered 200 with the right product');
  assert.ok(cache > 0, 'the cache served requests before the kill');

  const h = await stack.get('/health');
  assert.equal(h.status, 200, h.text);
  assert.equal(h.body.status, 'degraded');
  assert.equal(h.body.components.redis.status, 'unhealthy');
  assert.equal(h.body.components.postgres.status, 'healthy');

  const s = await stack.get('/cache/stats');
  assert.equal(s.status, 200, s.text);
  assert.equal(s.body.cache_stats, null, 'cache_stats is null while Redis is down');
  const a = s.body.app_stats;
  assert.equal(a.hits + a.misses, results.length + 15, 'every lookup counted once');
  assert.equal(a.hits, cache, 'hits = cache answers');
  assert.equal(a.misses, database + 15, 'misses include lookups made while Redis was down');

  assertDetail(await stack.get('/cache/clear', { method: 'DELETE' }), 503, 'Cache unavailable');

  // Same port, empty Redis: the service reconnects by itself.
  await stack.startRedis();
  await waitFor(async () => (await stack.get('/health')).body?.status === 'healthy', { timeout: 30000, message: '/health healthy after the Redis restart' });
  const seen = await waitForCache(6);
  assert.equal(seen[0], 'database', 'the empty Redis needs one database read first');
  assert.ok(seen.length >= 2);
  assert.equal(svc.exitInfo, undefined, 'the same cacheme process did all this');
  assert.equal(stack.service, svc);
});

test('cacheme starts without Redis and picks it up when it appears', { timeout: 120000 }, async () => {
  await stack.killRedis('SIGKILL');
  await stack.restartService({ env: ENV });
  const h = await stack.get('/health');
  assert.equal(h.status, 200);
  assert.equal(h.body.status, 'degraded');
  for (const id of [1, 2, 2, 1]) assert.equal((await product(id)).source, 'database');

  await stack.startRedis();
  const seen = await waitForCache(2);
  assert.equal(seen[0], 'database');
  const clear = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(clear.status, 200);
  assert.ok(clear.body.cleared_keys >= 1);
});
