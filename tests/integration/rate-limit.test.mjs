// Rate limiting (docs/rate-limiting.md): off by default (no RateLimit fields); with it on, each of
// the four algorithms allows exactly the limit from a fresh client within a window and answers 429
// after it, with Retry-After and the RateLimit / RateLimit-Policy fields (also on allowed answers);
// reads and writes have separate limits; X-Forwarded-For names the client only when the connection
// comes from TRUSTED_PROXIES (right to left, trusted hops skipped, a malformed item 400); API keys
// have their own limits, an unknown key 401, and never appear in Redis' key names; every key carries
// a hash tag and an expiry; GET/PUT /rate-limit/config validation and ADMIN_TOKEN; Redis down:
// served and counted as failed_open, or 503 and failed_closed with RATE_LIMIT_FAIL_CLOSED.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, runCacheme } from '../lib/stack.mjs';
import { redisKeys, redisCommand } from '../lib/resp.mjs';
import { waitFor } from '../lib/util.mjs';

const TOKEN = 'rl-admin.token';
const ALGORITHMS = ['fixed-window', 'sliding-log', 'sliding-window', 'token-bucket'];
const WINDOW_S = 60;

let stack;
let nextClient = 1;

before(async () => {
  stack = await startStack({ env: { ADMIN_TOKEN: TOKEN, TRUSTED_PROXIES: '127.0.0.1, ::1', API_KEYS: 'alpha-key, beta-key' } });
});

after(async () => {
  await stack?.teardown();
});

function put(body, token = TOKEN) {
  return stack.get('/rate-limit/config', {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function configure(patch) {
  const r = await put(patch);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** A client address of its own (TEST-NET-3), so tests never share a counter. */
function newClient() {
  return `203.0.113.${nextClient++}`;
}

/**
 * Waits until the current fixed window has at least 10 s left, so a burst of a few requests cannot
 * straddle a boundary (the windows are calendar windows of WINDOW_S on the service's clock, the
 * same machine's).
 */
async function awayFromBoundary() {
  await waitFor(() => Date.now() % (WINDOW_S * 1000) < (WINDOW_S - 10) * 1000, { timeout: 15000, message: 'not near a window boundary' });
}

function parseItem(value) {
  const m = /^"([a-z]+)";(.*)$/.exec(value ?? '');
  assert.ok(m, `structured field item: ${value}`);
  const params = Object.fromEntries(m[2].split(';').map((p) => p.split('=')).map(([k, v]) => [k, Number(v)]));
  return { name: m[1], ...params };
}

test('off by default: no RateLimit fields, the settings at their defaults', { timeout: 60000 }, async () => {
  const cfg = await stack.get('/rate-limit/config');
  assert.equal(cfg.status, 200);
  assert.deepEqual(cfg.body, {
    enabled: false, algorithm: 'fixed-window', window_seconds: 60, fail_closed: false,
    reads_per_window: 600, writes_per_window: 60, key_reads_per_window: 6000, key_writes_per_window: 600,
  });
  const r = await stack.get('/products/1');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('ratelimit'), null);
  assert.equal(r.headers.get('ratelimit-policy'), null);
  assert.deepEqual(await redisKeys(stack.redisPort, 'ratelimit:*'), []);
});

for (const algorithm of ALGORITHMS) {
  test(`${algorithm}: exactly the limit allowed, then 429 with Retry-After and RateLimit fields`, { timeout: 60000 }, async () => {
    await configure({ enabled: true, algorithm, reads_per_window: 5, window_seconds: WINDOW_S });
    const client = newClient();
    await awayFromBoundary();
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await stack.get('/products/1', { headers: { 'x-forwarded-for': client } }));
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200, 429, 429, 429]);
    answers.forEach((r, i) => {
      assert.deepEqual(parseItem(r.headers.get('ratelimit-policy')), { name: 'reads', q: 5, w: WINDOW_S });
      const limit = parseItem(r.headers.get('ratelimit'));
      assert.equal(limit.name, 'reads');
      assert.equal(limit.r, Math.max(0, 4 - i), `remaining of answer ${i}`);
      assert.ok(limit.t >= 0 && limit.t <= WINDOW_S, `t=${limit.t}`);
    });
    for (const r of answers.slice(5)) {
      assert.match(r.headers.get('content-type') ?? '', /application\/json/);
      assert.match(r.body.detail, /^Rate limit exceeded: 5 reads per 60 s; retry after \d+ s$/);
      const retry = Number(r.headers.get('retry-after'));
      // The sliding window's estimate may only drop under the limit some way into the next window.
      const most = algorithm === 'sliding-window' ? 2 * WINDOW_S : WINDOW_S;
      assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= most, `Retry-After ${retry}`);
    }
    if (algorithm === 'token-bucket') assert.equal(Number(answers[5].headers.get('retry-after')), 12, 'one token per 12 s');
    // Another client has its own counter.
    const other = await stack.get('/products/1', { headers: { 'x-forwarded-for': newClient() } });
    assert.equal(other.status, 200);
    // Every key carries the client's hash tag and an expiry within two windows.
    const keys = await redisKeys(stack.redisPort, `ratelimit:{reads:ip:${client}}:*`);
    assert.ok(keys.length >= 1, 'the client has a key');
    for (const key of keys) {
      const pttl = await redisCommand(stack.redisPort, ['PTTL', key]);
      assert.ok(pttl > 0 && pttl <= 2 * WINDOW_S * 1000, `${key} PTTL ${pttl}`);
    }
  });
}

test('reads and writes are limited separately', { timeout: 60000 }, async () => {
  await configure({ enabled: true, algorithm: 'sliding-log', reads_per_window: 5, writes_per_window: 2 });
  const client = newClient();
  const h = { 'x-forwarded-for': client };
  const writes = [];
  for (let i = 0; i < 3; i++) writes.push(await stack.get('/products/2147483000', { method: 'DELETE', headers: h }));
  assert.deepEqual(writes.map((r) => r.status), [404, 404, 429]);
  assert.deepEqual(parseItem(writes[2].headers.get('ratelimit-policy')), { name: 'writes', q: 2, w: WINDOW_S });
  const read = await stack.get('/products/1', { headers: h });
  assert.equal(read.status, 200);
  assert.equal(parseItem(read.headers.get('ratelimit')).r, 4);
});

test('X-Forwarded-For: trusted hops skipped right to left, a spoofed left part ignored, malformed 400', { timeout: 60000 }, async () => {
  await configure({ enabled: true, algorithm: 'sliding-log', reads_per_window: 5 });
  const client = newClient();
  const r1 = await stack.get('/products/1', { headers: { 'x-forwarded-for': `10.9.9.9, ${client}, 127.0.0.1` } });
  assert.equal(r1.status, 200);
  assert.deepEqual(await redisKeys(stack.redisPort, `ratelimit:{reads:ip:${client}}:*`), [`ratelimit:{reads:ip:${client}}:sl`]);
  assert.deepEqual(await redisKeys(stack.redisPort, 'ratelimit:{reads:ip:10.9.9.9}:*'), []);
  for (const bad of ['not-an-ip', `${client}, 1.2.3`, '203.0.113.1:8080']) {
    const r = await stack.get('/products/1', { headers: { 'x-forwarded-for': bad } });
    assert.equal(r.status, 400, bad);
    assert.deepEqual(r.body, { detail: 'Invalid X-Forwarded-For header' });
  }
});

test('API keys: a limit of their own, unknown keys 401, the key never in Redis', { timeout: 60000 }, async () => {
  await configure({ enabled: true, algorithm: 'token-bucket', reads_per_window: 1, key_reads_per_window: 3 });
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await stack.get('/products/1', { headers: { 'x-api-key': 'alpha-key' } })).status);
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  const beta = await stack.get('/products/1', { headers: { 'x-api-key': 'beta-key' } });
  assert.equal(beta.status, 200);
  assert.deepEqual(parseItem(beta.headers.get('ratelimit-policy')), { name: 'reads', q: 3, w: WINDOW_S });
  const unknown = await stack.get('/products/1', { headers: { 'x-api-key': 'alpha-ke' } });
  assert.equal(unknown.status, 401);
  assert.deepEqual(unknown.body, { detail: 'Invalid API key' });
  const keys = await redisKeys(stack.redisPort, 'ratelimit:{reads:key:*');
  assert.equal(keys.length, 2, keys.join(' '));
  for (const k of keys) {
    assert.match(k, /^ratelimit:\{reads:key:[0-9a-f]{16}\}:tb$/);
    assert.ok(!k.includes('alpha') && !k.includes('beta'));
  }
});

test('PUT /rate-limit/config: ADMIN_TOKEN, every 422, all or nothing', { timeout: 60000 }, async () => {
  const before = (await stack.get('/rate-limit/config')).body;
  const noToken = await put({ enabled: false }, null);
  assert.equal(noToken.status, 401);
  assert.equal(noToken.headers.get('www-authenticate'), 'Bearer');
  const bad = await put({ algorithm: 'leaky', window_seconds: 0, reads_per_window: -1, fail_closed: 'yes', color: 1, enabled: false });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.detail.map((d) => [d.type, d.loc.join('.')]).sort(), [
    ['bool_type', 'body.fail_closed'],
    ['enum', 'body.algorithm'],
    ['extra_forbidden', 'body.color'],
    ['greater_than_equal', 'body.reads_per_window'],
    ['greater_than_equal', 'body.window_seconds'],
  ]);
  assert.deepEqual((await stack.get('/rate-limit/config')).body, before, 'nothing applied');
  for (const body of ['[1]', '{"enabled":', '']) {
    const r = await put(body);
    assert.equal(r.status, 422, body);
  }
});

test('bad TRUSTED_PROXIES or RATE_LIMIT_ALGORITHM: exit 2 naming the setting', { timeout: 60000 }, async () => {
  const a = await runCacheme(['serve'], { env: { TRUSTED_PROXIES: '10.0.0.0/33' } });
  assert.equal(a.code, 2);
  assert.match(a.stderr, /TRUSTED_PROXIES/);
  const b = await runCacheme(['serve'], { env: { RATE_LIMIT_ALGORITHM: 'leaky-bucket' } });
  assert.equal(b.code, 2);
  assert.match(b.stderr, /RATE_LIMIT_ALGORITHM/);
});

test('Redis down: served and counted (fail open), or 503 and counted (RATE_LIMIT_FAIL_CLOSED)', { timeout: 90000 }, async () => {
  await configure({ enabled: true, algorithm: 'fixed-window', reads_per_window: 5, fail_closed: false });
  const stats0 = (await stack.get('/rate-limit/stats')).body;
  await stack.killRedis();
  try {
    const open = await stack.get('/products/1', { headers: { 'x-forwarded-for': newClient() } });
    assert.equal(open.status, 200, open.text);
    assert.equal(open.headers.get('ratelimit'), null, 'nothing known to report');
    const stats1 = (await stack.get('/rate-limit/stats')).body;
    assert.equal(stats1.reads.failed_open, stats0.reads.failed_open + 1);
    await configure({ fail_closed: true });
    const closed = await stack.get('/products/1', { headers: { 'x-forwarded-for': newClient() } });
    assert.equal(closed.status, 503);
    assert.deepEqual(closed.body, { detail: 'Rate limiter unavailable' });
    assert.equal(closed.headers.get('retry-after'), '1');
    const stats2 = (await stack.get('/rate-limit/stats')).body;
    assert.equal(stats2.reads.failed_closed, stats0.reads.failed_closed + 1);
    assert.equal(stats2.total.failed_closed, stats0.total.failed_closed + 1);
  } finally {
    await stack.startRedis();
    await configure({ fail_closed: false, enabled: false });
  }
});

test('X-Forwarded-For from a connection outside TRUSTED_PROXIES is ignored', { timeout: 60000 }, async () => {
  await stack.restartService({ env: { ADMIN_TOKEN: TOKEN, TRUSTED_PROXIES: '10.0.0.0/8', RATE_LIMIT: 'true', RATE_LIMIT_ALGORITHM: 'sliding-log' } });
  const spoofed = newClient();
  const r = await stack.get('/products/1', { headers: { 'x-forwarded-for': spoofed } });
  assert.equal(r.status, 200);
  assert.deepEqual(await redisKeys(stack.redisPort, `ratelimit:{reads:ip:${spoofed}}:*`), []);
  assert.deepEqual(await redisKeys(stack.redisPort, 'ratelimit:{reads:ip:127.0.0.1}:*'), ['ratelimit:{reads:ip:127.0.0.1}:sl']);
});
