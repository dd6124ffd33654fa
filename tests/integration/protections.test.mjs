// The failure-mode protections (issue 6), each measured by its effect:
//
//   stampede      200 concurrent lookups of a cold key -> exactly 1 database query, counted by
//                 PostgreSQL (pg_stat_statements) and by the service (db_queries); also with two
//                 cacheme processes on the same Redis and PostgreSQL
//   penetration   1,000 lookups of 10 missing ids -> 10 queries (negative caching); 0 switches it off
//   refresh-ahead a key read continuously across several expiries never misses (and does without)
//   stale-if-error an expired value is served marked stale when PostgreSQL is down
//   X-Cache       HIT, MISS, STALE, BYPASS, and the body of a 404 served from a negative entry
//   avalanche     TTLs of 1,000 keys written together spread over the jitter window (0: all equal)
//
// The database's own count comes from pg_stat_statements (preloaded by scripts/services.sh). Lab
// settings are changed at run time through PUT /lab/config and put back to the defaults after
// each test. Time limits are hang detectors; the only time bounds are the contract's deadlines.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertDetail } from './lib/expect.mjs';
import { waitFor } from '../lib/util.mjs';
import { LAB_DEFAULTS, labSet } from '../lib/lab.mjs';
import {
  readEntry,
  waitExpiredKeepingStale,
  appStats,
  getUrl,
  pgStatReset,
  pgLookupCalls,
  assertProductAnswer,
  tally,
} from './lib/resilience.mjs';

const PG_TIMEOUT_MS = 1000;
// A 503 because PostgreSQL is down comes within the query deadline plus a margin (as in
// postgres-failure.test.mjs).
const PG_BOUND_MS = PG_TIMEOUT_MS + 1500;
// WORKERS is pinned so that the notification counter (one per change per event loop) is known.
const WORKERS = 2;
const ENV = { PG_TIMEOUT_MS, WORKERS };

let stack;
let seed;

before(async () => {
  stack = await startStack({ env: ENV });
  seed = await stack.dbProducts();
});

after(async () => {
  await stack?.teardown();
});

// Every test starts from the default protections, whatever the previous one changed.
afterEach(async () => {
  if (stack?.service && !stack.service.exitInfo && stack.pgRunning) await labSet(stack.url, LAB_DEFAULTS).catch(() => {});
});

/** `n` GET /products/{id} at once against `base`; returns the responses. */
function burst(base, id, n) {
  return Promise.all(Array.from({ length: n }, () => getUrl(base, `/products/${id}`)));
}

/** Check a burst: every answer 200 with the right product; returns counts by source and X-Cache. */
function checkBurst(responses, id) {
  const problems = [];
  for (const r of responses) {
    if (r.status !== 200) problems.push(`${r.status} ${r.text}`);
    else {
      try {
        assertProductAnswer(r.body, seed[id - 1]);
      } catch (err) {
        problems.push(err.message);
      }
    }
  }
  assert.deepEqual(problems.slice(0, 5), [], `every answer for product ${id} is a 200 with the right product`);
  return { source: tally(responses.map((r) => r.body?.source)), x_cache: tally(responses.map((r) => r.headers.get('x-cache'))) };
}

// ---------------------------------------------------------------------------------------------
// Stampede

test('stampede: 200 concurrent requests for a cold key -> exactly 1 database query', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: { ...ENV, DB_DELAY_MS: 200 } });
  await pgStatReset(stack);
  const before_ = await appStats(svc.url);

  const responses = await burst(svc.url, 7, 200);
  const counts = checkBurst(responses, 7);
  await waitFor(async () => (await pgLookupCalls(stack)) >= 1, { timeout: 10000, message: 'pg_stat_statements counted the lookup' });
  const calls = await pgLookupCalls(stack);
  const a = await appStats(svc.url);
  t.diagnostic(`200 concurrent lookups of product 7 (DB_DELAY_MS=200): pg_stat_statements calls ${calls}, db_queries ${a.db_queries - before_.db_queries}, misses ${a.misses - before_.misses}, hits ${a.hits - before_.hits}, sources ${JSON.stringify(counts.source)}, X-Cache ${JSON.stringify(counts.x_cache)}`);

  assert.equal(calls, 1, 'PostgreSQL ran the lookup once');
  assert.equal(a.db_queries - before_.db_queries, 1, 'the service sent one query');
  assert.equal(a.hits + a.misses - before_.hits - before_.misses, 200, 'every lookup counted');
  assert.ok(a.misses - before_.misses >= 1, 'the cold key missed');
  assert.equal(a.db_errors, before_.db_errors, 'no database errors');
});

test('stampede across two cacheme instances: 2 x 100 concurrent requests for a cold key -> exactly 1 database query', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  const a1 = await stack.restartService({ env: { ...ENV, DB_DELAY_MS: 200 } });
  // A second process on the same Redis and PostgreSQL (the harness keeps the first one running).
  const a2 = await stack.startService({ env: { ...ENV, DB_DELAY_MS: 200 } });
  assert.notEqual(a1.port, a2.port);
  await pgStatReset(stack);
  const [s1, s2] = [await appStats(a1.url), await appStats(a2.url)];

  const [r1, r2] = await Promise.all([burst(a1.url, 9, 100), burst(a2.url, 9, 100)]);
  const c1 = checkBurst(r1, 9);
  const c2 = checkBurst(r2, 9);
  await waitFor(async () => (await pgLookupCalls(stack)) >= 1, { timeout: 10000, message: 'pg_stat_statements counted the lookup' });
  const calls = await pgLookupCalls(stack);
  const [e1, e2] = [await appStats(a1.url), await appStats(a2.url)];
  const q1 = e1.db_queries - s1.db_queries;
  const q2 = e2.db_queries - s2.db_queries;
  t.diagnostic(`instance 1: db_queries ${q1}, sources ${JSON.stringify(c1.source)}, X-Cache ${JSON.stringify(c1.x_cache)}; instance 2: db_queries ${q2}, sources ${JSON.stringify(c2.source)}, X-Cache ${JSON.stringify(c2.x_cache)}; pg_stat_statements calls ${calls}`);

  assert.equal(calls, 1, 'PostgreSQL ran the lookup once for both instances');
  assert.equal(q1 + q2, 1, 'the two services sent one query between them (the Redis lock)');
  assert.equal(e1.hits + e1.misses - s1.hits - s1.misses, 100);
  assert.equal(e2.hits + e2.misses - s2.hits - s2.misses, 100);
  // Stop the second instance now, so that the rest of the file has one service again.
  const info = await a2.signal('SIGTERM');
  assert.equal(info.code, 0);
  stack.service = a1;
});

// ---------------------------------------------------------------------------------------------
// Penetration

const MISSING = Array.from({ length: 10 }, (_, i) => 2000000001 + i);

test('penetration: 1,000 lookups of missing ids from a set of 10 -> 10 database queries', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  await pgStatReset(stack);
  const before_ = await appStats(svc.url);
  const bodies = [];
  const xcache = [];
  // One after another, like a scanner walking ids: concurrency would let single-flight take part.
  for (let i = 0; i < 1000; i++) {
    const r = await getUrl(svc.url, `/products/${MISSING[i % 10]}`);
    assert.equal(r.status, 404, r.text);
    bodies.push(JSON.stringify(r.body));
    xcache.push(r.headers.get('x-cache'));
  }
  await waitFor(async () => (await pgLookupCalls(stack)) >= 10, { timeout: 10000, message: 'pg_stat_statements counted 10 lookups' });
  const calls = await pgLookupCalls(stack);
  const a = await appStats(svc.url);
  t.diagnostic(`1000 lookups of 10 missing ids: pg_stat_statements calls ${calls}, db_queries ${a.db_queries - before_.db_queries}, hits ${a.hits - before_.hits}, misses ${a.misses - before_.misses}, bodies ${JSON.stringify(tally(bodies))}, X-Cache ${JSON.stringify(tally(xcache))}`);

  assert.equal(calls, 10, 'PostgreSQL was asked once per missing id');
  assert.equal(a.db_queries - before_.db_queries, 10, 'db_queries');
  assert.equal(a.misses - before_.misses, 10, 'the first lookup of each id is a miss');
  assert.equal(a.hits - before_.hits, 990, 'a negative-cache 404 is a hit');
  assert.deepEqual(tally(bodies), { '{"detail":"Product not found"}': 10, '{"detail":"Product not found","source":"cache"}': 990 });
  assert.deepEqual(tally(xcache), { MISS: 10, HIT: 990 });
  for (const id of MISSING) assert.equal(await stack.redisCmd('GET', `product:${id}`), 'null', `negative entry for ${id}`);
});

test('penetration with negative caching off (negative_ttl_seconds 0): every lookup of a missing id is a query', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  await labSet(stack.url, { negative_ttl_seconds: 0 });
  await pgStatReset(stack);
  const before_ = await appStats(stack.url);
  for (let i = 0; i < 100; i++) {
    const r = await stack.get(`/products/${MISSING[i % 10]}`);
    assertDetail(r, 404, 'Product not found');
    assert.equal(r.headers.get('x-cache'), 'MISS');
  }
  await waitFor(async () => (await pgLookupCalls(stack)) >= 100, { timeout: 10000, message: 'pg_stat_statements counted 100 lookups' });
  const calls = await pgLookupCalls(stack);
  const a = await appStats(stack.url);
  t.diagnostic(`100 lookups of 10 missing ids without negative caching: pg_stat_statements calls ${calls}, db_queries ${a.db_queries - before_.db_queries}`);
  assert.equal(calls, 100);
  assert.equal(a.db_queries - before_.db_queries, 100);
  assert.deepEqual(await stack.redisKeys('product:2*'), [], 'no negative entries stored');
});

// ---------------------------------------------------------------------------------------------
// Refresh-ahead

/** Read product `id` from `readers` loops until `done()`; returns every answer in order. */
async function readContinuously(id, done, { readers = 2, limit = 200000 } = {}) {
  const answers = [];
  let stop = false;
  const loop = async () => {
    while (!stop && answers.length < limit) {
      const r = await stack.get(`/products/${id}`);
      answers.push({ status: r.status, source: r.body?.source, xcache: r.headers.get('x-cache'), body: r.body, at: Date.now() });
      if (await done(answers)) stop = true;
    }
  };
  await Promise.all(Array.from({ length: readers }, loop));
  return answers;
}

test('refresh-ahead: a key read continuously across several expiries never misses', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  // A 2 s TTL refreshed in its last half: the reader crosses an expiry every second or two.
  await labSet(svc.url, { ttl_seconds: 2, ttl_jitter_percent: 0, refresh_window_percent: 50 });
  const first = await stack.get('/products/3');
  assert.equal(first.status, 200);
  assert.equal(first.body.source, 'database');
  await stack.waitForKeys('product:3');
  const firstExpiry = (await readEntry(stack, 'product:3')).expiryMs;
  const before_ = await appStats(svc.url);

  // Read until 3 TTLs past the first value's expiry, and the value has been stored again 3 times
  // (its PTTL, sampled every 50 ms, jumped back up; PTTL, unlike GET, leaves the value alone).
  const expiries = new Set([firstExpiry]);
  let lastCheck = 0;
  let lastPttl = Infinity;
  const answers = await readContinuously(3, async () => {
    if (Date.now() - lastCheck >= 50) {
      lastCheck = Date.now();
      const pttl = await stack.redisCmd('PTTL', 'product:3');
      if (pttl > 0 && pttl > lastPttl + 200) expiries.add(Date.now() + pttl);
      if (pttl > 0) lastPttl = pttl;
    }
    return Date.now() > firstExpiry + 3 * 2000 && expiries.size >= 4;
  });
  const a = await appStats(svc.url);
  const refreshes = a.db_queries - before_.db_queries;
  t.diagnostic(`${answers.length} reads over ${((answers.at(-1).at - answers[0].at) / 1000).toFixed(1)} s: sources ${JSON.stringify(tally(answers.map((x) => x.source)))}, X-Cache ${JSON.stringify(tally(answers.map((x) => x.xcache)))}, misses ${a.misses - before_.misses}, background reloads (db_queries) ${refreshes}, stored expiries seen ${expiries.size}`);

  const misses = answers.filter((x) => x.status !== 200 || x.source !== 'cache' || x.xcache !== 'HIT');
  assert.deepEqual(misses.slice(0, 5).map((x) => `${x.status} ${x.source} ${x.xcache}`), [], 'every answer after the first is a cache hit');
  for (const x of answers.slice(0, 50)) assertProductAnswer(x.body, seed[2]);
  assert.equal(a.misses - before_.misses, 0, 'no lookup missed');
  assert.equal(a.hits - before_.hits, answers.length, 'every read a hit');
  assert.ok(refreshes >= 3, `the value was reloaded in the background (${refreshes} reloads)`);
  assert.ok(expiries.size >= 4, 'the stored expiry moved forward');
});

test('without refresh-ahead the same reader misses once the key expires', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  await labSet(stack.url, { ttl_seconds: 2, ttl_jitter_percent: 0, refresh_window_percent: 50, refresh_ahead: false });
  const first = await stack.get('/products/4');
  assert.equal(first.body.source, 'database');
  await stack.waitForKeys('product:4');
  const answers = await readContinuously(4, (xs) => xs.some((x) => x.source === 'database') || xs.length > 100000);
  t.diagnostic(`${answers.length} reads until the first miss: sources ${JSON.stringify(tally(answers.map((x) => x.source)))}`);
  assert.ok(answers.some((x) => x.source === 'database' && x.xcache === 'MISS'), 'the expiry shows as a miss');
});

// ---------------------------------------------------------------------------------------------
// Stale-if-error, and every X-Cache value

/** Poll until the value of `key` has expired while its stale copy is kept. */
async function waitUntilLogicallyExpired(key) {
  await waitExpiredKeepingStale(stack, key);
}

test('X-Cache: MISS then HIT for a product; MISS then HIT for a cached 404 with its body', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  let r = await stack.get('/products/5');
  assert.equal(r.status, 200);
  assert.equal(r.body.source, 'database');
  assert.equal(r.headers.get('x-cache'), 'MISS');
  r = await stack.get('/products/5');
  assert.equal(r.body.source, 'cache');
  assert.equal(r.headers.get('x-cache'), 'HIT');

  r = await stack.get('/products/2000000099');
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { detail: 'Product not found' });
  assert.equal(r.headers.get('x-cache'), 'MISS');
  r = await stack.get('/products/2000000099');
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { detail: 'Product not found', source: 'cache' });
  assert.equal(r.headers.get('x-cache'), 'HIT');
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
});

test('stale-if-error: with PostgreSQL down an expired value is served with source "stale" and X-Cache STALE; without the window, 503', { timeout: 180000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  // Product 4: logical TTL 1 s, kept 300 s more for stale-if-error. Product 5: 1 s and no stale
  // window (gone from Redis after 1 s). Product 6: fresh for an hour.
  await labSet(svc.url, { ttl_seconds: 1, ttl_jitter_percent: 0 });
  assert.equal((await stack.get('/products/4')).body.source, 'database');
  await labSet(svc.url, { stale_if_error_seconds: 0 });
  assert.equal((await stack.get('/products/5')).body.source, 'database');
  await labSet(svc.url, LAB_DEFAULTS);
  assert.equal((await stack.get('/products/6')).body.source, 'database');
  await stack.waitForKeys(['product:4', 'product:6']);
  const ttl4 = await stack.redisCmd('TTL', '{product:4}:stale');
  assert.ok(ttl4 > 290 && ttl4 <= 301, `product:4's stale copy kept for the stale window (TTL ${ttl4})`);
  assert.equal(await stack.redisCmd('EXISTS', '{product:5}:stale'), 0, 'no stale copy of product 5');
  await waitUntilLogicallyExpired('product:4');
  await waitFor(async () => (await stack.redisCmd('EXISTS', 'product:5')) === 0, { timeout: 15000, message: 'product:5 gone from Redis' });

  await stack.stopPostgres('fast');
  const seen = [];
  try {
    const stale = await stack.get('/products/4');
    seen.push(`4: ${stale.status} ${stale.body?.source} ${stale.headers.get('x-cache')} ${Math.round(stale.ms)} ms`);
    assert.equal(stale.status, 200, stale.text);
    assert.equal(stale.body.source, 'stale');
    assert.equal(stale.headers.get('x-cache'), 'STALE');
    assertProductAnswer(stale.body, seed[3]);

    const fresh = await stack.get('/products/6');
    seen.push(`6: ${fresh.status} ${fresh.body?.source} ${fresh.headers.get('x-cache')}`);
    assert.equal(fresh.body.source, 'cache');
    assert.equal(fresh.headers.get('x-cache'), 'HIT');

    const gone = await stack.get('/products/5');
    seen.push(`5: ${gone.status} ${Math.round(gone.ms)} ms`);
    assertDetail(gone, 503, 'Database unavailable');
    assert.ok(gone.ms < PG_BOUND_MS, `503 after ${Math.round(gone.ms)} ms (bound ${PG_BOUND_MS})`);
  } finally {
    await stack.startPostgres();
  }
  t.diagnostic(seen.join('; '));
  await waitFor(async () => (await stack.get('/products/5')).status === 200, { timeout: 30000, interval: 200, message: 'product 5 served again' });
  const back = await stack.get('/products/4');
  assert.equal(back.status, 200);
  assert.ok(['database', 'cache'].includes(back.body.source), `product 4 fresh again: ${back.body.source}`);
});

test('X-Cache BYPASS when CACHE_BYPASS=true', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { ...ENV, CACHE_BYPASS: 'true' } });
  for (let i = 0; i < 2; i++) {
    const r = await stack.get('/products/8');
    assert.equal(r.status, 200);
    assert.equal(r.body.source, 'database');
    assert.equal(r.headers.get('x-cache'), 'BYPASS', 'Redis skipped: X-Cache BYPASS');
  }
});

test('X-Cache BYPASS while the circuit breaker is open (Redis killed)', { timeout: 120000 }, async (t) => {
  await stack.restartService({ env: ENV });
  await stack.killRedis('SIGKILL');
  try {
    // Failures open each loop's breaker after REDIS_BREAKER_FAILURES (5) in a row.
    await waitFor(async () => (await stack.get('/health')).body?.components?.redis?.circuit_breaker === 'open', { timeout: 20000, interval: 20, message: 'a breaker open' });
    const answers = [];
    for (let i = 0; i < 20; i++) {
      const h = await stack.get('/health');
      const r = await stack.get('/products/10');
      answers.push({ breaker: h.body.components.redis.circuit_breaker, status: r.status, source: r.body?.source, xcache: r.headers.get('x-cache') });
    }
    t.diagnostic(`Redis down: ${JSON.stringify(tally(answers.map((x) => `${x.status} ${x.source} ${x.xcache}`)))}`);
    for (const x of answers) {
      assert.equal(x.status, 200);
      assert.equal(x.source, 'database');
    }
    assert.deepEqual(tally(answers.map((x) => x.xcache)), { BYPASS: 20 }, 'Redis skipped (down, breaker open): X-Cache BYPASS');
  } finally {
    await stack.startRedis();
  }
  await waitFor(async () => (await stack.get('/health')).body?.status === 'healthy', { timeout: 30000, message: 'healthy again' });
});

// ---------------------------------------------------------------------------------------------
// Avalanche (last: it adds 985 products)

const KEYS = 1000;

/** Read every id, 50 at a time, then return the Redis TTL of each key. */
async function cacheAllAndReadTtls(ids) {
  const problems = [];
  for (let i = 0; i < ids.length; i += 50) {
    const rs = await Promise.all(ids.slice(i, i + 50).map((id) => stack.get(`/products/${id}`)));
    rs.forEach((r, j) => {
      if (r.status !== 200 || r.body.id !== ids[i + j]) problems.push(`${ids[i + j]}: ${r.status} ${r.text.slice(0, 100)}`);
    });
  }
  assert.deepEqual(problems.slice(0, 5), [], 'every product answered');
  const keys = ids.map((id) => `product:${id}`);
  for (let i = 0; i < keys.length; i += 100) await stack.waitForKeys(keys.slice(i, i + 100));
  const ttls = [];
  for (let i = 0; i < keys.length; i += 50) ttls.push(...(await Promise.all(keys.slice(i, i + 50).map((k) => stack.redisCmd('TTL', k)))));
  return ttls;
}

test('avalanche: TTLs of 1,000 keys written together spread over the jitter window; with jitter 0 they are equal', { timeout: 300000 }, async (t) => {
  const svc = await stack.restartService({ env: ENV });
  const before_ = await appStats(svc.url);
  // 985 more products; their change notifications (one per row per event loop) must be handled
  // before the keys are written, or a late one would drop a fresh key.
  await stack.psql(`INSERT INTO products (name, description, price, category) SELECT 'Bulk product ' || g, 'for the avalanche test', 1.00 + g, 'Bulk' FROM generate_series(1, ${KEYS - 15}) g`);
  await waitFor(async () => (await appStats(svc.url)).notifications - before_.notifications >= (KEYS - 15) * WORKERS, { timeout: 60000, interval: 100, message: 'every insert notification handled' });
  const ids = (await stack.psql('SELECT id FROM products ORDER BY id')).split('\n').map(Number);
  assert.equal(ids.length, KEYS);

  await stack.redisCmd('FLUSHALL');
  const ttls = await cacheAllAndReadTtls(ids);
  const ttl = LAB_DEFAULTS.ttl_seconds;
  const jitter = LAB_DEFAULTS.ttl_jitter_percent / 100;
  // The values' TTLs are their logical TTLs (the stale copies live elsewhere).
  const stale = 0;
  const lo = Math.round(ttl * (1 - jitter)) + stale;
  const hi = Math.round(ttl * (1 + jitter)) + stale;
  const min = Math.min(...ttls);
  const max = Math.max(...ttls);
  // Ten equal buckets over the window: a uniform spread fills each with about 100 keys.
  const buckets = Array(10).fill(0);
  for (const v of ttls) buckets[Math.min(9, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * 10)))]++;
  t.diagnostic(`jitter 10 %: ${ttls.length} keys, TTL min ${min} max ${max} spread ${max - min} s (window [${lo}, ${hi}], ${hi - lo} s); per tenth of the window ${JSON.stringify(buckets)}`);
  assert.ok(min >= lo - 5 && max <= hi, `every TTL within [${lo - 5}, ${hi}] (min ${min}, max ${max})`);
  assert.ok(max - min >= 0.9 * (hi - lo), `spread ${max - min} s covers most of the ${hi - lo} s window`);
  assert.ok(buckets.every((n) => n > 0), `every tenth of the window holds keys: ${JSON.stringify(buckets)}`);
  assert.ok(new Set(ttls).size > 100, 'many distinct TTLs');

  await labSet(svc.url, { ttl_jitter_percent: 0 });
  const cleared = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(cleared.status, 200);
  assert.equal(cleared.body.cleared_keys, KEYS);
  const flat = await cacheAllAndReadTtls(ids);
  const fmin = Math.min(...flat);
  const fmax = Math.max(...flat);
  t.diagnostic(`jitter 0 %: ${flat.length} keys, TTL min ${fmin} max ${fmax} spread ${fmax - fmin} s`);
  assert.ok(fmin >= ttl + stale - 5 && fmax <= ttl + stale, `every TTL within [${ttl + stale - 5}, ${ttl + stale}]`);
  // Equal up to the seconds that pass while 1,000 keys are written and read back.
  assert.ok(fmax - fmin <= 2, `TTLs equal (spread ${fmax - fmin} s)`);
});
