// POST /lab/scenarios/rate-limit-boundary (docs/rate-limiting.md#the-lab-scenario): each of the four
// algorithms' scripts decides a burst that straddles a window boundary at chosen instants. With the
// defaults (10 per 1 s, 10 requests 1 ms apart on each side) the figures are exact: fixed window 20
// (twice the limit), the three others 10, as an exact limiter; and for any parameters the figures
// hang together: the sliding log allows exactly what an exact limiter allows and never more than the
// limit in a window, the fixed window at most the limit per calendar window, the token bucket at most
// the limit plus what refills over the span; memory > 0 and at least one command per request. Two
// runs give the same figures. The service's own rate limiting is untouched: its settings, its
// counters and a client's keys; the run's keys are gone after it. Bad bodies 422, the admin token
// 401, another scenario 409, Redis down 503.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { redisKeys } from '../lib/resp.mjs';
import { runScenario } from '../lib/lab.mjs';
import { waitFor, request } from '../lib/util.mjs';

const TOKEN = 'rl-lab.token';
const ALGORITHMS = ['fixed-window', 'sliding-log', 'sliding-window', 'token-bucket'];

let stack;

before(async () => {
  stack = await startStack({ env: { ADMIN_TOKEN: TOKEN } });
});

after(async () => {
  await stack?.teardown();
});

function boundary(body, { token = TOKEN } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return request(`${stack.url}/lab/scenarios/rate-limit-boundary`, {
    method: 'POST',
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    timeout: 60000,
  });
}

async function run(body) {
  const r = await boundary(body);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.scenario, 'rate-limit-boundary');
  assert.deepEqual(r.body.algorithms.map((a) => a.algorithm), ALGORITHMS);
  return r.body;
}

/** The instants of the run, relative to the boundary, as the answer describes them. */
function instants(s) {
  const at = [];
  for (let i = 0; i < s.burst; i++) at.push(s.first_burst_ms[0] + i * s.spacing_ms);
  for (let i = 0; i < s.burst; i++) at.push(s.second_burst_ms[0] + i * s.spacing_ms);
  return at;
}

/** What a limiter that never lets more than limit into a window (t - w, t] allows, allowing when it can. */
function exactAllowed(at, limit, w) {
  const kept = [];
  for (const t of at) if (kept.filter((k) => k > t - w).length < limit) kept.push(t);
  return kept.length;
}

function byName(s) {
  return Object.fromEntries(s.algorithms.map((a) => [a.algorithm, a]));
}

/** The invariants every run holds, whatever its parameters. */
function assertConsistent(s) {
  const L = s.limit;
  const at = instants(s);
  assert.equal(at.length, s.requests);
  assert.equal(s.first_burst_ms[1], -1, 'the first burst ends 1 ms before the boundary');
  assert.equal(s.second_burst_ms[0], 0, 'the second starts on it');
  assert.equal(s.exact_allowed, exactAllowed(at, L, s.window_ms), 'exact_allowed');
  for (const a of s.algorithms) {
    const what = `${a.algorithm} ${JSON.stringify(a)}`;
    assert.equal(a.allowed + a.refused, s.requests, what);
    assert.equal(a.allowed_before_boundary + a.allowed_after_boundary, a.allowed, what);
    assert.equal(a.overshoot, a.allowed - s.exact_allowed, what);
    assert.ok(a.max_in_any_window <= a.allowed, what);
    assert.ok(a.memory_bytes > 0 && a.keys >= 1, `memory of the client's keys: ${what}`);
    assert.ok(a.commands_per_request >= 1, `commands per request: ${what}`);
    assert.equal(a.redis_commands.eval, s.requests, `one EVAL per request: ${what}`);
  }
  const m = byName(s);
  // The sliding log is exact: never more than the limit in a window, and all an exact limiter allows.
  assert.ok(m['sliding-log'].max_in_any_window <= L);
  assert.equal(m['sliding-log'].allowed, s.exact_allowed);
  assert.equal(m['sliding-log'].overshoot, 0);
  // The fixed window counts per calendar window: at most L on each side when a burst fits in one.
  const span = (s.burst - 1) * s.spacing_ms + 1;
  if (span <= s.window_ms) {
    assert.ok(m['fixed-window'].allowed_before_boundary <= L);
    assert.ok(m['fixed-window'].allowed_after_boundary <= L);
    assert.ok(m['fixed-window'].allowed <= 2 * L);
  }
  // The token bucket holds L and refills L per window: at most L plus what refills over the span.
  const whole = at[at.length - 1] - at[0];
  assert.ok(m['token-bucket'].allowed <= L + Math.floor((whole * L) / s.window_ms), JSON.stringify(m['token-bucket']));
}

test('defaults: 10 per second, 2 x 10 requests around a boundary: fixed window 20, the others 10', { timeout: 60000 }, async (t) => {
  const s = await run(undefined);
  for (const a of s.algorithms) t.diagnostic(JSON.stringify(a));
  assert.deepEqual(
    [s.limit, s.window_ms, s.burst, s.spacing_ms, s.requests, s.first_burst_ms, s.second_burst_ms, s.exact_allowed],
    [10, 1000, 10, 1, 20, [-10, -1], [0, 9], 10],
  );
  assertConsistent(s);
  const m = byName(s);
  assert.deepEqual(
    ALGORITHMS.map((a) => [a, m[a].allowed, m[a].allowed_before_boundary, m[a].overshoot, m[a].max_in_any_window]),
    [
      ['fixed-window', 20, 10, 10, 20],
      ['sliding-log', 10, 10, 0, 10],
      ['sliding-window', 10, 10, 0, 10],
      ['token-bucket', 10, 10, 0, 10],
    ],
  );
  // What each script ran: the fixed window one INCR per request and a PEXPIRE per new window; the
  // sliding log trims, counts and reads its oldest each time, adds and extends when it allows.
  assert.deepEqual(m['fixed-window'].redis_commands, { eval: 20, incr: 20, pexpire: 2 });
  assert.equal(m['fixed-window'].commands_per_request, 1.1);
  assert.deepEqual(m['sliding-log'].redis_commands, { eval: 20, zremrangebyscore: 20, zcard: 20, zadd: 10, zrange: 20, pexpire: 10 });
  assert.deepEqual(m['sliding-window'].redis_commands, { eval: 20, get: 40, incr: 10, pexpire: 10 });
  assert.deepEqual(m['token-bucket'].redis_commands, { eval: 20, hmget: 20, hset: 20, pexpire: 20 });
  // The sliding window counter refused the whole second burst: its new window's counter was never made.
  assert.deepEqual(ALGORITHMS.map((a) => m[a].keys), [2, 1, 1, 1], 'keys per client after the run');
  // A log of the allowed requests costs more than one counter.
  assert.ok(m['sliding-log'].memory_bytes > m['token-bucket'].memory_bytes);
  assert.deepEqual(s.counted_in, { rate_limit_stats: false, redis_commandstats: true });
  assert.deepEqual(await redisKeys(stack.redisPort, 'ratelimit:*'), [], 'the run deleted its keys');
});

test('the figures depend on the parameters only: two runs agree', { timeout: 60000 }, async () => {
  const body = { limit: 5, window_ms: 2000, burst: 7, spacing_ms: 150 };
  const first = await run(body);
  const second = await run(body);
  const strip = (s) => s.algorithms.map(({ memory_bytes, ...rest }) => rest); // eslint-disable-line no-unused-vars
  assert.deepEqual(strip(second), strip(first));
  assert.deepEqual([first.limit, first.window_ms, first.burst, first.spacing_ms, first.requests], [5, 2000, 7, 150, 14]);
  assertConsistent(first);
});

test('other parameters: the invariants hold (wide bursts, several windows, simultaneous requests)', { timeout: 60000 }, async () => {
  for (const body of [
    { limit: 1, window_ms: 1000, burst: 3, spacing_ms: 0 },
    { limit: 3, window_ms: 1000, burst: 20, spacing_ms: 100 },
    { limit: 100, window_ms: 60000, burst: 150 },
    { limit: 10, burst: 5 },
  ]) {
    const s = await run(body);
    assertConsistent(s);
    if (body.burst === 150) assert.equal(byName(s)['fixed-window'].allowed, 200, 'fixed window: 2 x the limit');
    if (body.burst === 5) assert.ok(s.algorithms.every((a) => a.allowed === 10 && a.overshoot === 0), 'under the limit: all allowed');
  }
});

test('the service\'s own rate limiting is untouched: settings, counters, a client\'s keys', { timeout: 60000 }, async () => {
  const auth = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
  const put = await stack.get('/rate-limit/config', { method: 'PUT', headers: auth, body: JSON.stringify({ enabled: true, algorithm: 'sliding-log', reads_per_window: 50 }) });
  assert.equal(put.status, 200, put.text);
  try {
    const r = await stack.get('/products/1');
    assert.equal(r.status, 200);
    const keys = await redisKeys(stack.redisPort, 'ratelimit:*');
    assert.equal(keys.length, 1, `one client key: ${keys}`);
    const members = await stack.redisCmd('ZCARD', keys[0]);
    const config = (await stack.get('/rate-limit/config')).body;
    const stats = (await stack.get('/rate-limit/stats')).body;
    await run({ limit: 50 });
    assert.deepEqual((await stack.get('/rate-limit/config')).body, config, 'settings as they were');
    const after = (await stack.get('/rate-limit/stats')).body;
    assert.deepEqual([after.total, after.reads, after.writes], [stats.total, stats.reads, stats.writes], 'counters as they were');
    assert.deepEqual(await redisKeys(stack.redisPort, 'ratelimit:*'), keys, 'only the client\'s key');
    assert.equal(await stack.redisCmd('ZCARD', keys[0]), members);
  } finally {
    const off = await stack.get('/rate-limit/config', { method: 'PUT', headers: auth, body: JSON.stringify({ enabled: false, algorithm: 'fixed-window', reads_per_window: 600 }) });
    assert.equal(off.status, 200, off.text);
  }
});

test('bad bodies: 422 listing every problem; an empty body is the defaults', { timeout: 60000 }, async () => {
  const cases = [
    ['{', [['json_invalid', ['body']]]],
    ['[1]', [['model_attributes_type', ['body']]]],
    ['null', [['model_attributes_type', ['body']]]],
    [{ limit: 0 }, [['greater_than_equal', ['body', 'limit']]]],
    [{ limit: 1001 }, [['less_than_equal', ['body', 'limit']]]],
    [{ window_ms: 999 }, [['greater_than_equal', ['body', 'window_ms']]]],
    [{ window_ms: 3600001 }, [['less_than_equal', ['body', 'window_ms']]]],
    [{ burst: 0, spacing_ms: -1 }, [['greater_than_equal', ['body', 'burst']], ['greater_than_equal', ['body', 'spacing_ms']]]],
    [{ burst: 1001, spacing_ms: 60001 }, [['less_than_equal', ['body', 'burst']], ['less_than_equal', ['body', 'spacing_ms']]]],
    [{ limit: '10', window_ms: 1.5, burst: true }, [['int_type', ['body', 'limit']], ['int_type', ['body', 'window_ms']], ['int_type', ['body', 'burst']]]],
    [{ algorithm: 'fixed-window' }, [['extra_forbidden', ['body', 'algorithm']]]],
    ['{"limit": 5, "limit": 6}', [['json_invalid', ['body']]]],
  ];
  for (const [body, expected] of cases) {
    const r = await boundary(body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.deepEqual(r.body.detail.map((d) => [d.type, d.loc]), expected, JSON.stringify(body));
    for (const d of r.body.detail) assert.equal(typeof d.msg, 'string');
  }
  assert.equal((await boundary('')).status, 200, 'an empty body');
  assert.equal((await boundary({})).status, 200, '{}');
});

test('ADMIN_TOKEN: 401 without it, before the body is read; 409 while another scenario runs', { timeout: 120000 }, async () => {
  const none = await boundary('{', { token: null });
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await boundary({}, { token: 'wrong' })).status, 401);
  // The stampede scenario takes over a second (two runs with a 50 ms database).
  const stampede = runScenario(stack.url, 'stampede', { token: TOKEN });
  await waitFor(async () => (await stack.get('/lab/config')).body.db_delay_ms === 50, { timeout: 10000, interval: 5, message: 'the stampede scenario running' });
  const busy = await boundary({});
  assert.equal(busy.status, 409, busy.text);
  assert.equal(busy.body.detail, 'Another scenario is running');
  assert.equal((await stampede).status, 200);
  assert.equal((await boundary({})).status, 200, 'runs again once the other has answered');
});

test('Redis down: 503 "Cache unavailable", and the next scenario runs once it is back', { timeout: 120000 }, async () => {
  await stack.killRedis();
  const r = await boundary({});
  assert.equal(r.status, 503, r.text);
  assert.equal(r.body.detail, 'Cache unavailable');
  await stack.startRedis();
  await waitFor(async () => (await boundary({})).status === 200, { timeout: 20000, message: 'the scenario after Redis came back' });
});
