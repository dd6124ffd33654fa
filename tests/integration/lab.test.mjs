// The lab: GET/PUT /lab/config (defaults, settings from the environment,
// partial updates applied all-or-nothing, every validation error listed), ADMIN_TOKEN (401 with
// WWW-Authenticate: Bearer, 200 with the token), the settings' effect on lookups, /health and
// /cache/stats, and the scenario runner POST /lab/scenarios/{stampede|penetration|avalanche}: each
// scenario's run with protection sends fewer database queries than the run without (stampede 1 vs
// 100, penetration 10 vs 1,000; avalanche spread 0 vs > 0), settings restored afterwards, 404 for
// an unknown name, 409 while another runs; the runs' lookups stay out of the service's hits, misses
// and hit rate (/cache/stats, /metrics), and the answer says that Redis' INFO counters do count them.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertDetail } from './lib/expect.mjs';
import { waitFor } from '../lib/util.mjs';
import { LAB_DEFAULTS, labGet, labPut, labSet, runScenario } from '../lib/lab.mjs';
import { appStats } from './lib/resilience.mjs';
import { parseExposition, valueOf } from './lib/prometheus.mjs';

const TOKEN = 'lab-s3cret.token';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.teardown();
});

afterEach(async () => {
  if (stack?.service && !stack.service.exitInfo) await labPut(stack.url, LAB_DEFAULTS, { token: TOKEN }).catch(() => {});
});

// ---------------------------------------------------------------------------------------------
// GET / PUT /lab/config

test('GET /lab/config answers the 11 settings at their defaults', { timeout: 60000 }, async () => {
  const r = await stack.get('/lab/config');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  assert.deepEqual(r.body, LAB_DEFAULTS);
});

test('the environment sets the lab settings; /cache/stats reports them as protections', { timeout: 60000 }, async () => {
  const env = {
    CACHE_TTL_SECONDS: 600,
    TTL_JITTER_PERCENT: 25,
    NEGATIVE_TTL_SECONDS: 5,
    STAMPEDE_PROTECTION: 'false',
    REFRESH_AHEAD: 'false',
    REFRESH_WINDOW_PERCENT: 30,
    STALE_IF_ERROR_SECONDS: 60,
    CIRCUIT_BREAKER: 'false',
    DB_DELAY_MS: 7,
    L1_CACHE: 'true',
    REPLICA_GUARD: 'false',
  };
  await stack.restartService({ env });
  const want = {
    ttl_seconds: 600,
    ttl_jitter_percent: 25,
    negative_ttl_seconds: 5,
    stampede_protection: false,
    refresh_ahead: false,
    refresh_window_percent: 30,
    stale_if_error_seconds: 60,
    circuit_breaker: false,
    db_delay_ms: 7,
    near_cache: true,
    replica_guard: false,
  };
  assert.deepEqual(await labGet(stack.url), want);
  const s = await stack.get('/cache/stats');
  assert.deepEqual(s.body.protections, want);
  assert.equal(s.body.circuit_breaker.state, 'disabled', 'breaker switched off');
  const h = await stack.get('/health');
  assert.equal(h.body.components.redis.circuit_breaker, 'disabled');
  await stack.restartService();
  assert.deepEqual(await labGet(stack.url), LAB_DEFAULTS);
});

test('PUT /lab/config applies a subset and answers the full settings; GET and /cache/stats follow', { timeout: 60000 }, async () => {
  let r = await labPut(stack.url, { ttl_seconds: 120, stampede_protection: false });
  assert.equal(r.status, 200, r.text);
  const want = { ...LAB_DEFAULTS, ttl_seconds: 120, stampede_protection: false };
  assert.deepEqual(r.body, want);
  assert.deepEqual(await labGet(stack.url), want);
  assert.deepEqual((await stack.get('/cache/stats')).body.protections, want);

  r = await labPut(stack.url, {});
  assert.equal(r.status, 200, `an empty subset changes nothing: ${r.text}`);
  assert.deepEqual(r.body, want);

  // Bounds are inclusive.
  const edges = { ttl_seconds: 31536000, ttl_jitter_percent: 90, negative_ttl_seconds: 86400, refresh_window_percent: 90, stale_if_error_seconds: 86400, db_delay_ms: 10000 };
  r = await labPut(stack.url, edges);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { ...want, ...edges });
  const lows = { ttl_seconds: 1, ttl_jitter_percent: 0, negative_ttl_seconds: 0, refresh_window_percent: 1, stale_if_error_seconds: 0, db_delay_ms: 0 };
  r = await labPut(stack.url, lows);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body, { ...want, ...lows });
  r = await labPut(stack.url, LAB_DEFAULTS);
  assert.deepEqual(r.body, LAB_DEFAULTS);
});

test('a changed setting acts on the next lookups (ttl_seconds, jitter and the stale window)', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await labSet(stack.url, { ttl_seconds: 50, ttl_jitter_percent: 0, stale_if_error_seconds: 0 });
  assert.equal((await stack.get('/products/2')).status, 200);
  await stack.waitForKeys('product:2');
  const ttl = await stack.redisCmd('TTL', 'product:2');
  assert.ok(ttl >= 45 && ttl <= 50, `TTL ${ttl} follows the lab's ttl_seconds 50`);
  assert.equal(await stack.redisCmd('EXISTS', '{product:2}:stale'), 0, 'no stale copy without a stale window');
});

/** PUT `body` and expect 422 with exactly these [type, loc] pairs (any order); settings unchanged. */
async function assertRejected(body, expected, { raw = false } = {}) {
  const before_ = await labGet(stack.url);
  const r = await labPut(stack.url, raw ? body : JSON.stringify(body));
  assert.equal(r.status, 422, `PUT ${raw ? body : JSON.stringify(body)}: ${r.text}`);
  assert.ok(Array.isArray(r.body?.detail), `detail is an array: ${r.text}`);
  const got = r.body.detail.map((d) => [d.type, d.loc]);
  const key = (x) => JSON.stringify(x);
  assert.deepEqual(got.map(key).sort(), expected.map(key).sort(), `errors for ${raw ? body : JSON.stringify(body)}: ${r.text}`);
  for (const d of r.body.detail) {
    assert.equal(typeof d.msg, 'string');
    assert.ok(d.msg.length > 0);
    assert.ok('input' in d, `input present: ${JSON.stringify(d)}`);
  }
  assert.deepEqual(await labGet(stack.url), before_, 'nothing applied');
  return r.body.detail;
}

test('PUT /lab/config validation: one 422 entry per bad member, with pydantic types', { timeout: 60000 }, async () => {
  await assertRejected({ bogus: 1 }, [['extra_forbidden', ['body', 'bogus']]]);
  for (const v of ['yes', 1, 0, null, 'true']) await assertRejected({ stampede_protection: v }, [['bool_type', ['body', 'stampede_protection']]]);
  for (const m of ['refresh_ahead', 'circuit_breaker']) await assertRejected({ [m]: 'false' }, [['bool_type', ['body', m]]]);
  for (const v of ['10', 1.5, true, null, [1]]) await assertRejected({ ttl_seconds: v }, [['int_type', ['body', 'ttl_seconds']]]);
  const bounds = {
    ttl_seconds: [1, 31536000],
    ttl_jitter_percent: [0, 90],
    negative_ttl_seconds: [0, 86400],
    refresh_window_percent: [1, 90],
    stale_if_error_seconds: [0, 86400],
    db_delay_ms: [0, 10000],
  };
  for (const [m, [lo, hi]] of Object.entries(bounds)) {
    const [low] = await assertRejected({ [m]: lo - 1 }, [['greater_than_equal', ['body', m]]]);
    assert.equal(low.input, lo - 1, 'input is the value sent');
    assert.match(low.msg, new RegExp(`greater than or equal to ${lo}\\b`));
    const [high] = await assertRejected({ [m]: hi + 1 }, [['less_than_equal', ['body', m]]]);
    assert.match(high.msg, new RegExp(`less than or equal to ${hi}\\b`));
  }
});

test('PUT /lab/config is all-or-nothing and lists every problem', { timeout: 60000 }, async () => {
  await labSet(stack.url, { ttl_seconds: 77 });
  await assertRejected({ ttl_seconds: 100, bogus: 1 }, [['extra_forbidden', ['body', 'bogus']]]);
  await assertRejected({ ttl_seconds: 0, refresh_ahead: 'no', db_delay_ms: 10001, other: true, stampede_protection: true }, [
    ['greater_than_equal', ['body', 'ttl_seconds']],
    ['bool_type', ['body', 'refresh_ahead']],
    ['less_than_equal', ['body', 'db_delay_ms']],
    ['extra_forbidden', ['body', 'other']],
  ]);
  assert.equal((await labGet(stack.url)).ttl_seconds, 77);
  assert.equal((await labGet(stack.url)).stampede_protection, true);
});

test('PUT /lab/config: a body that is JSON but not an object is model_attributes_type, malformed JSON or duplicate keys json_invalid (loc ["body"])', { timeout: 60000 }, async () => {
  for (const body of ['[]', '[{"ttl_seconds":5}]', '"ttl_seconds"', '1', 'null', 'true']) {
    await assertRejected(body, [['model_attributes_type', ['body']]], { raw: true });
  }
  for (const body of ['{"ttl_seconds":', 'not json', '{"ttl_seconds":5,"ttl_seconds":6}', '']) {
    await assertRejected(body, [['json_invalid', ['body']]], { raw: true });
  }
});

// ---------------------------------------------------------------------------------------------
// ADMIN_TOKEN

test('ADMIN_TOKEN: PUT /lab/config and the scenarios need the bearer token (401 otherwise); reading does not', { timeout: 120000 }, async () => {
  await stack.restartService({ env: { ADMIN_TOKEN: TOKEN } });
  assert.deepEqual(await labGet(stack.url), LAB_DEFAULTS, 'GET needs no token');

  const denied = [
    {},
    { Authorization: 'Bearer' },
    { Authorization: 'Bearer ' },
    { Authorization: 'Bearer wrong' },
    { Authorization: `Bearer ${TOKEN}x` },
    { Authorization: `Bearer ${TOKEN.slice(0, -1)}` },
    { Authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
    { Authorization: TOKEN },
  ];
  for (const headers of denied) {
    const r = await labPut(stack.url, { ttl_seconds: 5 }, { headers });
    assertDetail(r, 401, 'Not authenticated');
    assert.equal(r.headers.get('www-authenticate'), 'Bearer', `WWW-Authenticate for ${JSON.stringify(headers)}`);
    const s = await stack.get('/lab/scenarios/avalanche', { method: 'POST', headers });
    assertDetail(s, 401, 'Not authenticated');
    assert.equal(s.headers.get('www-authenticate'), 'Bearer');
  }
  assert.deepEqual(await labGet(stack.url), LAB_DEFAULTS, 'nothing changed by the refused requests');

  const ok = await labPut(stack.url, { ttl_seconds: 5 }, { token: TOKEN });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.ttl_seconds, 5);
  const back = await labPut(stack.url, LAB_DEFAULTS, { token: TOKEN });
  assert.equal(back.status, 200);
  const sc = await runScenario(stack.url, 'avalanche', { token: TOKEN });
  assert.equal(sc.status, 200, sc.text);
  assert.equal(sc.body.scenario, 'avalanche');

  // Without ADMIN_TOKEN, no token is needed.
  await stack.restartService();
  const open = await labPut(stack.url, { ttl_seconds: 6 });
  assert.equal(open.status, 200, open.text);
});

// ---------------------------------------------------------------------------------------------
// Scenario runner

const RUN_FIELDS = ['db_queries', 'hits', 'misses', 'errors', 'p50_ms', 'p95_ms', 'p99_ms', 'max_ms', 'duration_ms'];
const COUNTED_IN = { hits_misses: false, db_queries: true, redis_keyspace: true };

function assertLookupRun(run, name) {
  assert.deepEqual(Object.keys(run).sort(), [...RUN_FIELDS].sort(), `${name} fields`);
  for (const f of RUN_FIELDS) {
    assert.equal(typeof run[f], 'number', `${name}.${f} is a number`);
    assert.ok(run[f] >= 0, `${name}.${f} >= 0`);
  }
  for (const f of ['db_queries', 'hits', 'misses', 'errors']) assert.ok(Number.isInteger(run[f]), `${name}.${f} is an integer`);
  assert.ok(run.p50_ms <= run.p95_ms && run.p95_ms <= run.p99_ms && run.p99_ms <= run.max_ms, `${name}: percentiles ordered ${JSON.stringify(run)}`);
}

async function scenario(name) {
  const lab = await labGet(stack.url);
  const r = await runScenario(stack.url, name);
  assert.equal(r.status, 200, `${name}: ${r.text}`);
  assert.deepEqual(Object.keys(r.body).sort(), ['counted_in', 'note', 'requests', 'scenario', 'with_protection', 'without_protection']);
  assert.equal(r.body.scenario, name);
  assert.deepEqual(r.body.counted_in, COUNTED_IN, `${name}: counted_in`);
  for (const run of ['without_protection', 'with_protection']) {
    if (name !== 'avalanche') assert.equal(r.body[run].hits + r.body[run].misses, r.body.requests, `${name} ${run}: hits + misses = lookups`);
  }
  assert.deepEqual(await labGet(stack.url), lab, `${name}: the lab settings are put back afterwards`);
  return r.body;
}

test('scenario stampede: 100 simultaneous lookups of a cold key, 100 queries without protection, 1 with', { timeout: 120000 }, async (t) => {
  await stack.restartService();
  const before_ = await appStats(stack.url);
  const s = await scenario('stampede');
  t.diagnostic(`stampede: ${JSON.stringify(s)}`);
  assert.equal(s.requests, 100);
  assertLookupRun(s.without_protection, 'without_protection');
  assertLookupRun(s.with_protection, 'with_protection');
  assert.equal(s.without_protection.db_queries, 100, 'every lookup queried');
  assert.equal(s.with_protection.db_queries, 1, 'one query for all');
  assert.equal(s.with_protection.errors, 0);
  assert.equal(s.with_protection.misses, 100, 'the waiters are answered by the one load: misses');
  const a = await appStats(stack.url);
  assert.equal(a.db_queries - before_.db_queries, 101, 'the runs went through the service counters');
});

test('scenario penetration: 1,000 lookups of 10 missing ids, 1,000 queries without negative caching, 10 with', { timeout: 120000 }, async (t) => {
  const s = await scenario('penetration');
  t.diagnostic(`penetration: ${JSON.stringify(s)}`);
  assert.equal(s.requests, 1000);
  assertLookupRun(s.without_protection, 'without_protection');
  assertLookupRun(s.with_protection, 'with_protection');
  assert.equal(s.without_protection.db_queries, 1000);
  assert.equal(s.with_protection.db_queries, 10);
  assert.deepEqual([s.without_protection.hits, s.with_protection.hits], [0, 990], 'negative caching answers the repeats from the cache');
  assert.equal(s.without_protection.errors, 0, 'a 404 is not an error');
  assert.equal(s.with_protection.errors, 0);
});

test('scenario avalanche: 15 keys written together, spread 0 without jitter and > 0 with', { timeout: 120000 }, async (t) => {
  const s = await scenario('avalanche');
  t.diagnostic(`avalanche: ${JSON.stringify(s)}`);
  assert.equal(s.requests, 15);
  for (const name of ['without_protection', 'with_protection']) {
    const run = s[name];
    assert.deepEqual(Object.keys(run).sort(), ['keys', 'ttl_max_seconds', 'ttl_min_seconds', 'ttl_spread_seconds'], `${name} fields`);
    assert.equal(run.keys, 15, `${name}: every seeded product cached`);
    for (const f of ['ttl_min_seconds', 'ttl_max_seconds', 'ttl_spread_seconds']) assert.ok(Number.isInteger(run[f]), `${name}.${f} is an integer`);
    assert.equal(run.ttl_spread_seconds, run.ttl_max_seconds - run.ttl_min_seconds);
  }
  const stale = 0; // The values' TTLs are their logical TTLs; the stale copies live elsewhere.
  const ttl = LAB_DEFAULTS.ttl_seconds;
  assert.equal(s.without_protection.ttl_spread_seconds, 0, 'no jitter: every key the same TTL');
  assert.ok(s.without_protection.ttl_min_seconds >= ttl + stale - 5 && s.without_protection.ttl_max_seconds <= ttl + stale);
  assert.ok(s.with_protection.ttl_spread_seconds > 0, 'jitter spreads the TTLs');
  assert.ok(s.with_protection.ttl_min_seconds >= ttl * 0.9 + stale - 5 && s.with_protection.ttl_max_seconds <= ttl * 1.1 + stale, `with jitter within the window: ${JSON.stringify(s.with_protection)}`);
  // The keys left behind are those of the protected run.
  const keys = await stack.redisKeys('product:*');
  assert.equal(keys.length, 15);
});

test('the scenarios clear the product keys before each run and leave foreign keys alone', { timeout: 120000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.redisCmd('SET', 'other:key', 'keep');
  for (let id = 1; id <= 15; id++) await stack.get(`/products/${id}`);
  // A scenario's first run finds the cache cold although every product was cached: it cleared them.
  const s = await scenario('stampede');
  assert.equal(s.without_protection.db_queries, 100);
  assert.equal(await stack.redisCmd('GET', 'other:key'), 'keep');
});

/** The service's hit and miss figures: app_stats of /cache/stats and the counters of /metrics. */
async function lookupCounters() {
  const { hits, misses, hit_rate: hitRate } = await appStats(stack.url);
  const m = await stack.get('/metrics');
  assert.equal(m.status, 200);
  const parsed = parseExposition(m.text);
  return { hits, misses, hitRate, metricHits: valueOf(parsed, 'cacheme_cache_hits_total'), metricMisses: valueOf(parsed, 'cacheme_cache_misses_total') };
}

/** keyspace_hits + keyspace_misses from Redis' INFO stats. */
async function redisLookups() {
  const info = await stack.redisCmd('INFO', 'stats');
  const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)[1]);
  return field('keyspace_hits') + field('keyspace_misses');
}

test('scenario runs leave the service\'s hits, misses and hit rate alone (/cache/stats, /metrics); the answer says Redis counts their reads', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL'); // Earlier tests' scenarios left products cached.
  await stack.restartService();
  // A learner's lookups: product 1 from the database, then three times from the cache (75 %).
  assert.equal((await stack.get('/products/1')).status, 200);
  await stack.waitForKeys('product:1');
  for (let i = 0; i < 3; i++) assert.equal((await stack.get('/products/1')).body.source, 'cache');
  const learner = await lookupCounters();
  assert.deepEqual(learner, { hits: 3, misses: 1, hitRate: 75, metricHits: 3, metricMisses: 1 }, 'the learner\'s figures');
  for (const name of ['stampede', 'penetration', 'avalanche']) {
    const redisBefore = await redisLookups();
    const s = await scenario(name);
    assert.deepEqual(await lookupCounters(), learner, `after ${name}: hits, misses and hit rate unchanged`);
    // What the answer says of Redis is true: its own counters moved.
    assert.ok((await redisLookups()) > redisBefore, `${name}: Redis INFO keyspace counters moved`);
    assert.match(s.note, /not counted in the service's hits, misses and hit rate/);
    assert.match(s.note, /keyspace_hits/);
    t.diagnostic(`${name}: ${JSON.stringify({ without: s.without_protection, with: s.with_protection })}`);
  }
  // A client's lookup after the runs is counted as before.
  await stack.get('/products/1');
  const next = await lookupCounters();
  assert.equal(next.hits + next.misses, 5, 'a client lookup after the runs is counted');
});

test('an unknown scenario answers 404; a second scenario while one runs answers 409', { timeout: 120000 }, async () => {
  for (const name of ['nope', 'Stampede', 'stampede2']) {
    const r = await runScenario(stack.url, name);
    assertDetail(r, 404, 'Unknown scenario: use stampede, penetration, avalanche, invalidation-window, replica-lag or rate-limit-boundary');
  }
  // The stampede scenario takes over a second (two runs with a 50 ms database): a second request
  // sent meanwhile is refused. Which of the two gets there first does not matter.
  const first = runScenario(stack.url, 'stampede');
  const second = await (async () => {
    // Let the first request reach the service: wait until its effect on the lab settings shows.
    await waitFor(async () => (await labGet(stack.url)).db_delay_ms === 50, { timeout: 10000, interval: 5, message: 'the stampede scenario running' });
    return runScenario(stack.url, 'penetration');
  })();
  const r1 = await first;
  assert.equal(r1.status, 200, r1.text);
  assertDetail(second, 409, 'Another scenario is running');
  // Once it has finished, another one runs.
  const r3 = await runScenario(stack.url, 'avalanche');
  assert.equal(r3.status, 200, r3.text);
});

test('scenario invalidation-window: three tracking observers hear an acknowledged change of product 1; no data, value or counter changes', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { L1_CACHE: 'true' } });
  assert.equal((await stack.get('/products/1')).status, 200);
  await stack.waitForKeys('product:1');
  const cached = await stack.redisCmd('GET', 'product:1');
  const row = await stack.dbProduct(1);
  const learner = await lookupCounters();
  const r = await runScenario(stack.url, 'invalidation-window');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const s = r.body;
  assert.equal(s.scenario, 'invalidation-window');
  assert.equal(s.observers, 3);
  assert.equal(s.observed.length, 3);
  assert.equal(s.all_heard, true, 'every observer heard the change');
  for (const o of s.observed) {
    assert.equal(o.heard, true, `observer ${o.observer} heard it`);
    assert.ok(o.heard_ms >= 0 && o.window_after_ack_ms >= 0, JSON.stringify(o));
    assert.ok(o.window_after_ack_ms <= s.longest_window_ms, 'the longest window is the longest');
  }
  assert.equal(s.without_tracking_ms, 5000, 'L1_TTL_MS, the window without invalidations');
  t.diagnostic(`write acknowledged after ${s.write_acknowledged_ms} ms; heard at ${s.observed.map((o) => o.heard_ms).join(', ')} ms; longest window ${s.longest_window_ms} ms`);
  // Nothing changed but the key's modification signal: the same bytes, the same row, the same counters.
  assert.equal(await stack.redisCmd('GET', 'product:1'), cached, 'the cached value is byte for byte the same');
  assert.deepEqual(await stack.dbProduct(1), row, 'the row is the same');
  assert.deepEqual(await lookupCounters(), learner, 'hits, misses and hit rate unchanged');
  assert.equal((await stack.get('/products/1')).body.source, 'cache', 'product 1 is still served from the cache');
  await stack.restartService();
});
