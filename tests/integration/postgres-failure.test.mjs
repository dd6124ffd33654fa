// PostgreSQL failures injected for real: stopped (pg-stop fast) and paused (SIGSTOP). Cached
// products keep coming from Redis; the rest answer 503 {"detail":"Database unavailable"} within
// PG_TIMEOUT_MS plus a margin; the service reconnects by itself once PostgreSQL is back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertDetail, getSeededProduct } from './lib/expect.mjs';
import { waitFor } from '../lib/util.mjs';

const PG_TIMEOUT_MS = 1000;
const BOUND_MS = PG_TIMEOUT_MS + 1500;
const ENV = { PG_TIMEOUT_MS };
const ALL_KEYS = Array.from({ length: 15 }, (_, i) => `product:${i + 1}`);

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

async function assertUnavailable(pathname) {
  const r = await stack.get(pathname);
  assertDetail(r, 503, 'Database unavailable');
  assert.ok(r.ms < BOUND_MS, `${pathname} answered 503 after ${Math.round(r.ms)} ms (bound ${BOUND_MS})`);
  return r;
}

async function assertDownBehaviour() {
  for (const id of [1, 2, 3, 4, 5, 1]) {
    const p = await product(id);
    assert.equal(p.source, 'cache', `cached product ${id} still served from the cache`);
  }
  for (const id of [6, 7, 8]) await assertUnavailable(`/products/${id}`);
  // Cannot tell a missing product without the database either.
  await assertUnavailable('/products/999999');
  await assertUnavailable('/products?limit=5');

  // Many at once: each one bounded by the deadline (waiting for a connection included).
  const t0 = performance.now();
  const all = await Promise.all(Array.from({ length: 24 }, (_, i) => stack.get(`/products/${6 + (i % 10)}`)));
  for (const r of all) assertDetail(r, 503, 'Database unavailable');
  assert.ok(performance.now() - t0 < BOUND_MS + 1000, `24 concurrent 503s took ${Math.round(performance.now() - t0)} ms`);

  const h = await stack.get('/health');
  assert.equal(h.status, 503, h.text);
  assert.equal(h.body.status, 'unhealthy');
  assert.equal(h.body.components.postgres.status, 'unhealthy');
  assert.equal(h.body.components.redis.status, 'healthy');
  assert.ok(h.ms < BOUND_MS, `/health took ${Math.round(h.ms)} ms`);

  const s = await stack.get('/cache/stats');
  assert.equal(s.status, 200, '/cache/stats needs no database');
  assert.ok(s.body.app_stats.db_errors > 0, 'db_errors counted');
}

async function assertRecovered() {
  await waitFor(async () => (await stack.get('/products/6')).status === 200, { timeout: 30000, interval: 200, message: 'uncached product 200 again' });
  for (let id = 1; id <= 15; id++) await product(id);
  // Let the stores of these misses land, so that the next test's FLUSHALL is not undone by them.
  // The change listeners reconnect too, and then drop every product key (changes may have been
  // missed while they were away), so read again until the keys are there.
  await waitFor(
    async () => {
      if ((await stack.redisCmd('EXISTS', ...ALL_KEYS)) === ALL_KEYS.length) return true;
      for (let id = 1; id <= 15; id++) await stack.get(`/products/${id}`);
      return false;
    },
    { timeout: 20000, interval: 100, message: `Redis keys ${ALL_KEYS.join(', ')}` },
  );
  const list = await stack.get('/products?limit=15');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.map((p) => p.id), seed.map((p) => p.id));
  await waitFor(async () => (await stack.get('/health')).status === 200, { timeout: 30000, message: '/health 200 again' });
  const h = await stack.get('/health');
  assert.equal(h.body.status, 'healthy');
}

test('PostgreSQL stopped: cached ids from cache, others 503 in time; it recovers by itself', { timeout: 180000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  for (const id of [1, 2, 3, 4, 5]) await product(id);
  await stack.waitForKeys(['product:1', 'product:2', 'product:3', 'product:4', 'product:5']);

  await stack.stopPostgres('fast');
  try {
    await assertDownBehaviour();
  } finally {
    await stack.startPostgres();
  }
  await assertRecovered();
  assert.equal(svc.exitInfo, undefined, 'the same cacheme process recovered');
});

test('PostgreSQL hanging (SIGSTOP): queries time out with 503; answers are right after it resumes', { timeout: 180000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  for (const id of [1, 2, 3, 4, 5]) await product(id);
  await stack.waitForKeys(['product:1', 'product:2', 'product:3', 'product:4', 'product:5']);

  await stack.pausePostgres();
  try {
    await assertDownBehaviour();
  } finally {
    stack.resumePostgres();
  }
  // Abandoned queries must not hand their late results to new requests.
  await assertRecovered();
  for (let round = 0; round < 2; round++) {
    await stack.redisCmd('FLUSHALL');
    await Promise.all(Array.from({ length: 15 }, (_, i) => product(i + 1)));
    await stack.waitForKeys(ALL_KEYS);
  }
  assert.equal(svc.exitInfo, undefined);
});

test('PostgreSQL stopped immediately (crash-like) and restarted: the service recovers', { timeout: 180000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  for (const id of [1, 2, 3, 4, 5]) await product(id);
  await stack.waitForKeys(['product:1', 'product:2', 'product:3', 'product:4', 'product:5']);
  await stack.stopPostgres('immediate');
  try {
    for (const id of [9, 10]) await assertUnavailable(`/products/${id}`);
    assert.equal((await product(3)).source, 'cache');
  } finally {
    await stack.startPostgres();
  }
  await assertRecovered();
  assert.equal(svc.exitInfo, undefined);
});
