// Redis' own hit rate is the lab's first lesson: the original page, Redis Commander and every
// tutorial compute it from INFO keyspace_hits and keyspace_misses. With the default settings and
// protections, N lookups of which H were answered from the cache must move keyspace_hits by exactly
// H and keyspace_misses by exactly N - H, and the service's own hit rate must be the same number.
// Every check here reads only INFO and /cache/stats between lookups: a test-side GET or EXISTS would
// itself be counted by Redis.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { labSet, LAB_DEFAULTS } from '../lib/lab.mjs';
import { appStats } from './lib/resilience.mjs';

// Redis counts only the reads that reach it: a near-cache (L1) hit makes none. These tests compare
// Redis' counts with the service's one for one, so they run without L1; near-cache.test.mjs checks
// the exact relation with it (keyspace hits = L2 hits + the PTTL each L1 fill reads).
const ENV = { L1_MAX_BYTES: 0 };

let stack;

before(async () => {
  stack = await startStack({ env: ENV });
});

after(async () => {
  await stack?.teardown();
});

/** keyspace_hits and keyspace_misses from INFO stats. */
async function keyspace() {
  const info = await stack.redisCmd('INFO', 'stats');
  const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)[1]);
  return { hits: field('keyspace_hits'), misses: field('keyspace_misses') };
}

/** Runs `fn` and returns how it moved Redis' and the service's hit and miss counters. */
async function deltas(fn) {
  const k0 = await keyspace();
  const a0 = await appStats(stack.url);
  const answers = await fn();
  const k1 = await keyspace();
  const a1 = await appStats(stack.url);
  return {
    redis: { hits: k1.hits - k0.hits, misses: k1.misses - k0.misses },
    app: { hits: a1.hits - a0.hits, misses: a1.misses - a0.misses },
    answers,
  };
}

/** Lookups of these ids one after another; returns [status, source] of each answer. */
async function lookups(ids) {
  const out = [];
  for (const id of ids) {
    const r = await stack.get(`/products/${id}`);
    out.push([r.status, r.body?.source ?? null]);
  }
  return out;
}

/** The number of answers that came from the cache (source "cache", a 200 or a cached 404). */
function fromCache(answers) {
  return answers.filter(([, source]) => source === 'cache').length;
}

test('one miss then nine hits: keyspace_hits +9, keyspace_misses +1 (the original page shows 90 %)', async () => {
  await stack.redisCmd('FLUSHALL');
  const d = await deltas(() => lookups(Array(10).fill(3)));
  assert.deepEqual(d.answers.map(([, s]) => s), ['database', ...Array(9).fill('cache')]);
  assert.deepEqual(d.redis, { hits: 9, misses: 1 });
  assert.deepEqual(d.app, { hits: 9, misses: 1 });
});

test('404s: the first is a miss, repeats from the negative cache are hits; without negative caching every one is a miss', async () => {
  await stack.redisCmd('FLUSHALL');
  let d = await deltas(() => lookups(Array(5).fill(999001)));
  assert.deepEqual(d.answers.map(([st]) => st), Array(5).fill(404));
  assert.deepEqual(d.redis, { hits: 4, misses: 1 });
  assert.deepEqual(d.app, d.redis);

  await labSet(stack.url, { negative_ttl_seconds: 0 });
  try {
    d = await deltas(() => lookups(Array(5).fill(999002)));
    assert.deepEqual(d.redis, { hits: 0, misses: 5 });
    assert.deepEqual(d.app, d.redis);
  } finally {
    await labSet(stack.url, LAB_DEFAULTS);
  }
});

test('a stampede: 100 concurrent lookups of a cold key count one miss each, or a hit for those that came after the store', { timeout: 60000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  await labSet(stack.url, { db_delay_ms: 50 });
  try {
    const d = await deltas(async () => {
      const rs = await Promise.all(Array.from({ length: 100 }, () => stack.get('/products/11')));
      return rs.map((r) => [r.status, r.body.source]);
    });
    t.diagnostic(`redis ${JSON.stringify(d.redis)}, app ${JSON.stringify(d.app)}`);
    assert.ok(d.answers.every(([st]) => st === 200));
    assert.equal(d.redis.hits + d.redis.misses, 100, 'one counted read per lookup');
    assert.equal(d.redis.hits, fromCache(d.answers), 'hits are the answers with source "cache"');
    assert.ok(d.redis.misses >= 1);
    assert.deepEqual(d.app, d.redis);
  } finally {
    await labSet(stack.url, LAB_DEFAULTS);
  }
});

test('a mixed sequence with writes, refresh-ahead and expiries: Redis and the service agree on every count', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  // Short TTLs so that values expire and refresh-ahead reloads during the run.
  await labSet(stack.url, { ttl_seconds: 1, ttl_jitter_percent: 0, refresh_window_percent: 50, negative_ttl_seconds: 1 });
  try {
    const d = await deltas(async () => {
      const answers = [];
      let seed = 7;
      const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        const n = next() % 10;
        if (n < 7) {
          answers.push(...(await lookups([1 + (next() % 6)])));
        } else if (n < 8) {
          answers.push(...(await lookups([999100 + (next() % 3)])));
        } else {
          const id = 1 + (next() % 6);
          const r = await stack.get(`/products/${id}`, { method: 'PATCH', body: JSON.stringify({ price: 10 + (next() % 100) }), headers: { 'content-type': 'application/json' } });
          assert.equal(r.status, 200, r.text);
        }
      }
      return answers;
    });
    assert.ok(d.answers.length > 50, `${d.answers.length} lookups`);
    assert.equal(d.redis.hits + d.redis.misses, d.answers.length, 'one counted read per lookup, none for writes');
    assert.equal(d.redis.hits, fromCache(d.answers));
    assert.deepEqual(d.app, d.redis);
  } finally {
    await labSet(stack.url, LAB_DEFAULTS);
  }
});

test('write-through: writes store values without a counted read; the hit rates agree', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { ...ENV, CACHE_WRITE_MODE: 'write-through' } });
  try {
    const d = await deltas(async () => {
      const answers = await lookups([2, 2]);
      for (const price of [11, 12]) {
        const r = await stack.get('/products/2', { method: 'PATCH', body: JSON.stringify({ price }), headers: { 'content-type': 'application/json' } });
        assert.equal(r.status, 200, r.text);
        answers.push(...(await lookups([2])));
      }
      return answers;
    });
    assert.deepEqual(d.answers.map(([, s]) => s), ['database', 'cache', 'cache', 'cache']);
    assert.deepEqual(d.redis, { hits: 3, misses: 1 });
    assert.deepEqual(d.app, d.redis);
  } finally {
    await stack.restartService({ env: ENV });
  }
});

test('from a reset: the hit rate Redis reports is the service\'s hit_rate', async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: ENV });
  await stack.redisCmd('CONFIG', 'RESETSTAT');
  await lookups([1, 1, 1, 2, 2, 999200, 999200, 3]);
  const r = await stack.get('/cache/stats');
  const { keyspace_hits: h, keyspace_misses: m } = r.body.cache_stats;
  assert.deepEqual([h, m], [r.body.app_stats.hits, r.body.app_stats.misses]);
  assert.equal(Math.round((h / (h + m)) * 10000) / 100, r.body.app_stats.hit_rate, 'hit rate in percent');
});
