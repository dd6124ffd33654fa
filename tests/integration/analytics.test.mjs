// View analytics (docs/analytics.md): every 200 answer of GET /products/{id} is a view, counted in
// the event loop's batch and sent to Redis in one pipelined burst. Checked:
//   - views of a cache miss, of hits and of the near cache all count; 404s, 422s and list pages do
//     not; per-minute counts, the all-time total and the leaderboard agree with what was sent;
//   - the keys: a product's share its hash tag, the aggregates the tag {views}; the per-minute
//     keys expire after the retention (61 minutes);
//   - unique visitors: the session cookie when there is one, else the client address (from
//     X-Forwarded-For only behind TRUSTED_PROXIES); 2,000 distinct addresses estimated within 2 %;
//   - trending: older minutes weigh less (half-life), minutes outside the window not at all;
//   - counting adds nothing to Redis' INFO keyspace_hits/keyspace_misses (the lab's first lesson);
//   - 422 for query values out of bounds, 404 for ids outside 32 bits, 503 without Redis (while
//     products still answer, their views counted as dropped); ANALYTICS=false counts nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { request, waitFor } from '../lib/util.mjs';
import { assertValidationError, assertDetail } from './lib/expect.mjs';

// Without the near cache Redis counts one read per lookup, which the keyspace test compares.
const ENV = { L1_MAX_BYTES: 0, TRUSTED_PROXIES: '127.0.0.1' };

let stack;

before(async () => {
  stack = await startStack({ env: ENV });
});

after(async () => {
  await stack?.teardown();
});

/** Runs fn with a second service started with env, then stops it; the stack's own stays current. */
async function withService(env, fn) {
  const main = stack.service;
  const svc = await stack.startService({ env });
  try {
    await fn(svc);
  } finally {
    stack.service = main;
    await svc.signal('SIGTERM');
  }
}

async function stats(url = stack.url) {
  const r = await request(`${url}/analytics/stats`);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Waits until every view recorded so far by the service at url has been sent or dropped. */
async function settled(url = stack.url) {
  return waitFor(async () => {
    const s = await stats(url);
    return s.views_sent + s.views_dropped === s.views_recorded ? s : false;
  }, { message: 'analytics batches sent' });
}

async function view(id, headers = {}) {
  const r = await stack.get(`/products/${id}`, { headers });
  return r.status;
}

async function product(id, query = '') {
  const r = await stack.get(`/analytics/products/${id}${query}`);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

const sum = (minutes) => minutes.reduce((n, m) => n + m.views, 0);

test('a 200 answer is a view, from the database, Redis or the near cache; 404 and 422 are not', async () => {
  await stack.redisCmd('FLUSHALL');
  const before = await stats();
  const statuses = [];
  for (let i = 0; i < 6; i++) statuses.push(await view(3));
  statuses.push(await view(999001), await view('abc'));
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 404, 422]);
  await stack.get('/products?limit=5');
  const s = await settled();
  assert.equal(s.views_recorded - before.views_recorded, 6);
  assert.equal(s.views_dropped - before.views_dropped, 0);
  // /metrics carries the same counters.
  const metrics = (await stack.get('/metrics')).text;
  const m = (name) => Number(metrics.match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
  assert.equal(m('cacheme_analytics_views_recorded_total'), s.views_recorded);
  assert.equal(m('cacheme_analytics_views_sent_total'), s.views_sent);
  assert.equal(m('cacheme_analytics_views_dropped_total'), s.views_dropped);
  assert.equal(m('cacheme_analytics_bursts_total'), s.bursts);
  assert.equal(m('cacheme_analytics_commands_total'), s.commands);
  const p = await product(3, '?minutes=60');
  assert.equal(p.product_id, 3);
  assert.equal(p.total_views, 6);
  assert.equal(p.unique_visitors, 1, 'every view came from 127.0.0.1');
  assert.equal(p.minutes.length, 60);
  assert.equal(sum(p.minutes), 6);
  const now = Math.floor(Date.now() / 60000) * 60;
  const last = p.minutes.at(-1).start;
  assert.ok(Math.abs(last - now) <= 60, `the last minute (${last}) is the current one (${now})`);
  for (let i = 1; i < p.minutes.length; i++) assert.equal(p.minutes[i].start - p.minutes[i - 1].start, 60);
  const none = await product(999001);
  assert.deepEqual([none.total_views, none.unique_visitors, sum(none.minutes), none.minutes.length], [0, 0, 0, 15]);
});

test('the near cache\'s hits count as well', async () => {
  await withService({ ...ENV, L1_MAX_BYTES: 1048576, L1_CACHE: 'true', WORKERS: 1 }, async (svc) => {
    await stack.redisCmd('FLUSHALL');
    // The near cache answers only once its invalidation channel is up and heard from (a FLUSHALL
    // empties it too): wait for that, as a client cannot tell.
    await waitFor(async () => (await request(`${svc.url}/cache/stats`)).body.near_cache.serving_loops === 1, {
      timeout: 15000,
      message: 'the near cache serving',
    });
    // Each answer is a view, whichever level served it: read until one comes from L1 (the first
    // fills Redis, the next L1), then every one of them must have been counted.
    const levels = [];
    await waitFor(async () => {
      const res = await request(`${svc.url}/products/4`);
      assert.equal(res.status, 200);
      levels.push(res.headers.get('x-cache-level'));
      return levels.length >= 5 && levels.includes('L1');
    }, { timeout: 15000, interval: 10, message: 'an answer from the near cache' });
    await settled(svc.url);
    const r = await request(`${svc.url}/analytics/products/4?minutes=60`);
    assert.equal(r.body.total_views, levels.length, `levels: ${levels}`);
  });
});

test('keys: hash tags per product and {views} for the aggregates; per-minute keys expire', async () => {
  await stack.redisCmd('FLUSHALL');
  await view(5);
  await view(5);
  await settled();
  const keys = (await stack.redisKeys('analytics:*')).sort();
  const minute = keys.find((k) => k.startsWith('analytics:{views}:minute:')).split(':').at(-1);
  assert.deepEqual(keys, [
    `analytics:{product:5}:views:${minute}`,
    'analytics:{product:5}:visitors',
    `analytics:{views}:minute:${minute}`,
    'analytics:{views}:total',
  ].sort());
  assert.equal(await stack.redisCmd('GET', `analytics:{product:5}:views:${minute}`), '2');
  for (const k of [`analytics:{product:5}:views:${minute}`, `analytics:{views}:minute:${minute}`]) {
    const ttl = await stack.redisCmd('PTTL', k);
    assert.ok(ttl > 60 * 60000 && ttl <= 61 * 60000, `${k} lives 61 minutes (PTTL ${ttl})`);
  }
  assert.equal(await stack.redisCmd('PTTL', 'analytics:{views}:total'), -1);
  assert.equal(await stack.redisCmd('ZSCORE', 'analytics:{views}:total', '5'), '2');
});

test('unique visitors: the session cookie, else the client address (X-Forwarded-For from a trusted proxy)', async () => {
  await stack.redisCmd('FLUSHALL');
  const cookie = (n) => ({ Cookie: `cacheme_session=${String(n).padStart(32, 'a')}` });
  for (let i = 0; i < 3; i++) {
    await view(6, cookie(1));
    await view(6, cookie(2));
  }
  await view(6, { 'X-Forwarded-For': '203.0.113.9' });
  await view(6, { 'X-Forwarded-For': '203.0.113.9' });
  await view(6, { Cookie: 'cacheme_session=not-an-id' }); // The address counts: 127.0.0.1.
  await view(6);
  await settled();
  const p = await product(6, '?minutes=60');
  assert.equal(p.total_views, 10);
  assert.equal(p.unique_visitors, 4, 'two sessions, 203.0.113.9 and 127.0.0.1');
});

test('HyperLogLog: 2,000 distinct addresses (each seen twice) estimated within 2 %', { timeout: 120000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  const K = 2000;
  const addresses = Array.from({ length: K }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < K; i += 50) {
      await Promise.all(addresses.slice(i, i + 50).map((a) => view(7, { 'X-Forwarded-For': a })));
    }
  }
  await settled();
  const p = await product(7, '?minutes=60');
  assert.equal(p.total_views, 2 * K);
  const error = Math.abs(p.unique_visitors - K) / K;
  console.log(`HyperLogLog: ${K} distinct visitors estimated as ${p.unique_visitors} (error ${(error * 100).toFixed(2)} %)`);
  assert.ok(error <= 0.02, `estimate ${p.unique_visitors} for ${K}`);
});

test('leaderboard and trending rank by views; older minutes weigh less and fall out of the window', async () => {
  await stack.redisCmd('FLUSHALL');
  for (const [id, n] of [[1, 5], [2, 3], [4, 1]]) {
    for (let i = 0; i < n; i++) await view(id);
  }
  await settled();
  let r = await stack.get('/analytics/leaderboard');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.products, [
    { rank: 1, product_id: 1, views: 5 },
    { rank: 2, product_id: 2, views: 3 },
    { rank: 3, product_id: 4, views: 1 },
  ]);
  r = await stack.get('/analytics/leaderboard?limit=2');
  assert.deepEqual(r.body.products.map((p) => p.product_id), [1, 2]);

  // Product 10 had 100 views 30 minutes ago: it leads the leaderboard, but trending halves old
  // views every half-life (100 x 2^-6 with half_life 5 is about 1.6) and a 10-minute window
  // leaves them out.
  const minute = Math.floor(Date.now() / 60000);
  await stack.redisCmd('ZINCRBY', `analytics:{views}:minute:${minute - 30}`, '100', '10');
  await stack.redisCmd('ZINCRBY', 'analytics:{views}:total', '100', '10');
  r = await stack.get('/analytics/trending?window=60&half_life=5');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.window_minutes, 60);
  assert.equal(r.body.half_life_minutes, 5);
  const ids = r.body.products.map((p) => p.product_id);
  assert.deepEqual(ids, [1, 2, 10, 4], JSON.stringify(r.body));
  const old = r.body.products.find((p) => p.product_id === 10).score;
  assert.ok(old > 1.3 && old < 1.6, `100 views 30-31 minutes old weigh ${old}`);
  assert.ok(r.body.products[0].score > 4 && r.body.products[0].score <= 5);
  r = await stack.get('/analytics/trending');
  assert.deepEqual(r.body.products.map((p) => p.product_id), [1, 2, 4], 'the default 10-minute window');
  assert.deepEqual([r.body.window_minutes, r.body.half_life_minutes], [10, 5]);
  r = await stack.get('/analytics/trending?limit=1&window=60&half_life=60');
  assert.deepEqual(r.body.products.map((p) => p.product_id), [10], 'with a one-hour half-life the old views still lead');
  r = await stack.get('/analytics/leaderboard');
  assert.equal(r.body.products[0].product_id, 10);
  assert.equal(await stack.redisCmd('EXISTS', 'analytics:{views}:scratch'), 0, 'the union lives only in the script');
});

test('counting views adds nothing to INFO keyspace_hits and keyspace_misses', async () => {
  await stack.redisCmd('FLUSHALL');
  const keyspace = async () => {
    const info = await stack.redisCmd('INFO', 'stats');
    const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)[1]);
    return [field('keyspace_hits'), field('keyspace_misses')];
  };
  const before = await keyspace();
  const s0 = await stats();
  for (let i = 0; i < 10; i++) await view(8);
  const s1 = await settled();
  assert.equal(s1.views_sent - s0.views_sent, 10);
  const after = await keyspace();
  assert.deepEqual([after[0] - before[0], after[1] - before[1]], [9, 1], 'one miss then nine hits, as without analytics');
});

test('422 for query values out of bounds or not integers; 404 for an id outside 32 bits', async () => {
  const cases = [
    ['/analytics/trending?limit=0', 'limit', '0', 'greater_than_equal'],
    ['/analytics/trending?limit=101', 'limit', '101', 'less_than_equal'],
    ['/analytics/trending?window=61', 'window', '61', 'less_than_equal'],
    ['/analytics/trending?half_life=0', 'half_life', '0', 'greater_than_equal'],
    ['/analytics/trending?window=ten', 'window', 'ten', 'int_parsing'],
    ['/analytics/leaderboard?limit=-1', 'limit', '-1', 'greater_than_equal'],
    ['/analytics/leaderboard?limit=1%00', 'limit', '1\u0000', 'int_parsing'],
    ['/analytics/products/1?minutes=0', 'minutes', '0', 'greater_than_equal'],
    ['/analytics/products/1?minutes=61', 'minutes', '61', 'less_than_equal'],
  ];
  for (const [url, name, input, type] of cases) {
    assertValidationError(await stack.get(url), { type, loc: ['query', name], input });
  }
  assertValidationError(await stack.get('/analytics/products/abc'), { type: 'int_parsing', loc: ['path', 'product_id'], input: 'abc' });
  assertDetail(await stack.get('/analytics/products/99999999999'), 404, 'Product not found');
});

test('ANALYTICS=false: views are not counted; the reads still answer', async () => {
  await withService({ ...ENV, ANALYTICS: 'false' }, async (svc) => {
    for (let i = 0; i < 3; i++) assert.equal((await request(`${svc.url}/products/1`)).status, 200);
    const s = await stats(svc.url);
    assert.equal(s.enabled, false);
    assert.equal(s.views_recorded, 0);
    assert.equal((await request(`${svc.url}/analytics/leaderboard`)).status, 200);
  });
});

test('Redis down: the reads answer 503, products still 200 with their views dropped', { timeout: 60000 }, async () => {
  await view(2); // The product is in PostgreSQL either way.
  await settled();
  await stack.killRedis();
  try {
    const before = await stats();
    assert.equal(await view(2), 200);
    const s = await settled();
    assert.equal(s.views_dropped - before.views_dropped, 1);
    for (const url of ['/analytics/trending', '/analytics/leaderboard', '/analytics/products/2']) {
      assertDetail(await stack.get(url), 503, 'Analytics unavailable: Redis did not answer');
    }
  } finally {
    await stack.startRedis();
  }
});
