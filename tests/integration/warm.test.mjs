// Cache warming (docs/cache-warming.md): CACHE_WARM at start-up and POST /cache/warm. Checked:
//   - CACHE_WARM=all stores every product (the JSON a miss stores, TTL within the jitter window) before
//     anyone asks, so that the first reads are hits and send PostgreSQL nothing; the status says
//     done, warmed = the products, trigger startup; one run for the instance (WORKERS=2);
//   - a warm skips what is cached: a second run warms nothing and queries no rows;
//   - pacing: at CACHE_WARM_RATE=r a run over n products takes at least (n - page) / r seconds by
//     the service's own clock, and a POST while it runs answers 409 with its progress;
//   - the generation check: a write's invalidation that comes between a warm's read of the
//     generation and its read of the row makes the warm skip the row rather than store it;
//   - top:N warms the N most viewed products only, and warms nothing (saying why) when no views were
//     counted or ANALYTICS is off;
//   - `event: warm` on /events (started, progress, done) and the /metrics counters;
//   - 401 without or with a wrong ADMIN_TOKEN, 422 for every bad body, in the API's shapes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { request, waitFor } from '../lib/util.mjs';
import { spawnTracked } from '../lib/process.mjs';
import { eventData, openEvents } from '../lib/sse.mjs';
import { assertDetail } from './lib/expect.mjs';
import { parseExposition, samplesOf, valueOf } from './lib/prometheus.mjs';

const TOKEN = 'warm-secret';
const PRODUCTS = 600; // the seed's 15 and generated ones
const ENV = { WORKERS: 2, CACHE_WARM: 'all', CACHE_WARM_RATE: 100000, ADMIN_TOKEN: TOKEN, L1_MAX_BYTES: 0 };
const AUTH = { Authorization: `Bearer ${TOKEN}` };

let stack;

before(async () => {
  // The products first, then the service whose start-up warm is checked below.
  stack = await startStack({ serve: false });
  await stack.psql(`INSERT INTO products (name, description, price, category)
                    SELECT format('Warm product %s', g), 'generated', 10.50, 'Warm'
                    FROM generate_series(16, ${PRODUCTS}) AS g`);
  await stack.startService({ env: ENV });
});

after(async () => {
  await stack?.teardown();
});

function warmStatus() {
  return stack.get('/cache/warm').then((r) => {
    assert.equal(r.status, 200, r.text);
    return r.body;
  });
}

/** Waits until the run numbered `run` (or the last one) has ended; returns its status. */
function warmEnded(run, timeout = 30000) {
  return waitFor(
    async () => {
      const s = await warmStatus();
      return (run === undefined || s.run === run) && (s.state === 'done' || s.state === 'failed') && s;
    },
    { timeout, interval: 50, message: `cache warm ${run ?? ''} ended` },
  );
}

function postWarm(body, headers = AUTH) {
  return stack.get('/cache/warm', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function stats() {
  return (await stack.get('/cache/stats')).body.app_stats;
}

test('CACHE_WARM=all: every product is in Redis before anyone asks; the first reads are hits', async () => {
  const s = await warmEnded(1);
  assert.equal(s.state, 'done', JSON.stringify(s));
  assert.equal(s.run, 1, 'one run for the instance, however many loops');
  assert.equal(s.mode, 'all');
  assert.equal(s.trigger, 'startup');
  assert.equal(s.rate, 100000);
  assert.equal(s.total, PRODUCTS);
  assert.equal(s.warmed, PRODUCTS);
  assert.equal(s.skipped, 0);
  assert.equal(s.failed, 0);
  assert.equal(s.reason, null);
  // One count, one id page and one row page per 100 products, and the empty page that ends it.
  assert.equal(s.db_queries, 1 + 2 * (PRODUCTS / 100) + 1);

  const keys = await stack.redisKeys('product:*');
  assert.equal(keys.length, PRODUCTS, 'one value key per product');
  const row = await stack.dbProduct(7);
  const stored = JSON.parse(await stack.redisCmd('GET', 'product:7'));
  assert.equal(stored.name, row.name);
  assert.equal(stored.id, 7);
  assert.equal(Object.hasOwn(stored, 'source'), false, 'stored as a miss stores it: no source');
  // CACHE_TTL_SECONDS 3600 ± TTL_JITTER_PERCENT 10.
  const ttl = Number(await stack.redisCmd('PTTL', 'product:7'));
  assert.ok(ttl > 3240 * 1000 - 60000 && ttl <= 3960 * 1000, `TTL ${ttl} ms within the jitter window`);
  assert.ok(Number(await stack.redisCmd('LLEN', '{product:7}:stale')) === 1, 'the stale copy too');

  const before = await stats();
  for (const id of [1, 7, 300, PRODUCTS]) {
    const r = await stack.get(`/products/${id}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.source, 'cache', `product ${id} answered from the cache`);
  }
  const afterStats = await stats();
  assert.equal(afterStats.db_queries, before.db_queries, 'no query for the first reads');
  assert.equal(afterStats.hits - before.hits, 4);
});

test('a second warm skips what is cached: nothing stored, no rows read', async () => {
  const r = await postWarm({});
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.trigger, 'request');
  assert.equal(r.body.mode, 'all');
  const s = await warmEnded(r.body.run);
  assert.equal(s.state, 'done');
  assert.equal(s.warmed, 0);
  assert.equal(s.skipped, PRODUCTS);
  assert.equal(s.db_queries, 1 + PRODUCTS / 100 + 1, 'the count and the id pages only');
});

test('pacing: a run takes at least (n - page) / rate by its own clock; a POST meanwhile gets 409', async () => {
  await stack.get('/cache/clear', { method: 'DELETE' });
  const events = await openEvents(`${stack.url}/events`);
  try {
    const rate = 250;
    const r = await postWarm({ rate });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.body.rate, rate);
    const again = await postWarm({ mode: 'top:5' });
    assert.equal(again.status, 409, again.text);
    assert.equal(typeof again.body.detail, 'string');
    assert.equal(again.body.warm.run, r.body.run);
    assert.equal(again.body.warm.state, 'running');
    const s = await warmEnded(r.body.run);
    assert.equal(s.state, 'done');
    assert.equal(s.warmed, PRODUCTS);
    const page = 100;
    assert.ok(s.elapsed_ms >= ((PRODUCTS - page) / rate) * 1000, `elapsed ${s.elapsed_ms} ms at ${rate}/s`);

    const ofRun = (state) => (e) => e.event === 'warm' && eventData(e).run === r.body.run && eventData(e).state === state;
    const started = eventData(await events.next(ofRun('started'), 5000, 'event: warm started'));
    assert.equal(started.mode, 'all');
    const progress = eventData(await events.next(ofRun('progress'), 5000, 'event: warm progress'));
    assert.ok(progress.warmed > 0 && progress.warmed < PRODUCTS, `progress warmed ${progress.warmed}`);
    assert.equal(progress.total, PRODUCTS);
    const done = eventData(await events.next(ofRun('done'), 5000, 'event: warm done'));
    assert.equal(done.warmed, PRODUCTS);
    assert.equal(typeof done.elapsed_ms, 'number');
    assert.equal(typeof done.timestamp, 'number');
  } finally {
    await events.close();
  }
});

test('/metrics counts runs and products', async () => {
  const text = (await stack.get('/metrics')).text;
  const m = parseExposition(text);
  assert.equal(valueOf(m, 'cacheme_warm_runs_total', { outcome: 'done' }), 3);
  assert.equal(valueOf(m, 'cacheme_warm_runs_total', { outcome: 'failed' }), 0);
  assert.equal(valueOf(m, 'cacheme_warm_products_total', { result: 'warmed' }), 2 * PRODUCTS);
  assert.equal(valueOf(m, 'cacheme_warm_products_total', { result: 'skipped' }), PRODUCTS);
  assert.equal(valueOf(m, 'cacheme_warm_running'), 0);
  assert.ok(valueOf(m, 'cacheme_warm_db_queries_total') > 0);
});

/** A psql session holding an ACCESS EXCLUSIVE lock on products until release() is called. */
async function lockProducts() {
  const { proc, exited } = spawnTracked('psql', ['-X', '-q', '-d', stack.databaseUrl], { stdio: ['pipe', 'ignore', 'inherit'] });
  proc.stdin.write('BEGIN;\nLOCK TABLE products IN ACCESS EXCLUSIVE MODE;\n');
  await waitFor(
    async () => (await stack.psql("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'products' AND l.mode = 'AccessExclusiveLock' AND l.granted")) === '1',
    { timeout: 10000, message: 'the lock on products taken' },
  );
  return {
    release: async () => {
      proc.stdin.end('ROLLBACK;\n');
      await exited;
    },
  };
}

/** Waits until the warm's read of the rows waits for the lock. */
function rowsQueryWaiting() {
  return waitFor(
    async () => (await stack.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%ANY($1::int[])%' AND wait_event_type = 'Lock'")) === '1',
    { timeout: 10000, message: 'the warm waiting for the rows' },
  );
}

/** The all-time views of each product in the leaderboard (its top 100). */
async function boardViews() {
  const board = (await stack.get('/analytics/leaderboard?limit=100')).body;
  return new Map(board.products.map((p) => [p.product_id, p.views]));
}

/** One view of each id in ids (repeats are more views), and their arrival in the leaderboard. */
async function view(ids) {
  const before = await boardViews();
  const want = new Map();
  for (const id of ids) {
    assert.equal((await stack.get(`/products/${id}`)).status, 200);
    want.set(id, (want.get(id) ?? before.get(id) ?? 0) + 1);
  }
  await waitFor(
    async () => {
      const now = await boardViews();
      return [...want].every(([id, n]) => (now.get(id) ?? 0) >= n);
    },
    { timeout: 10000, message: 'the views in the leaderboard' },
  );
}

test('the generation check: an invalidation between the read of the generation and of the row wins', async () => {
  // Product 3 the most viewed by far (the first test's reads were views too).
  await view(Array(20).fill(3));
  for (const raise of [true, false]) {
    await stack.get('/cache/clear', { method: 'DELETE' });
    const lock = await lockProducts();
    let r;
    try {
      r = await postWarm({ mode: 'top:1' });
      assert.equal(r.status, 202, r.text);
      await rowsQueryWaiting();
      // What a committed write does after its commit: raise the generation (and drop the value).
      if (raise) await stack.redisCmd('INCR', '{product:3}:gen');
    } finally {
      await lock.release();
    }
    const s = await warmEnded(r.body.run);
    assert.equal(s.state, 'done', JSON.stringify(s));
    assert.equal(s.total, 1);
    if (raise) {
      assert.equal(s.warmed, 0, 'the row read before the write is not stored');
      assert.equal(s.skipped, 1);
      assert.equal(await stack.redisCmd('EXISTS', 'product:3'), 0);
    } else {
      assert.equal(s.warmed, 1, 'without a write in between the row is stored');
      assert.equal(await stack.redisCmd('EXISTS', 'product:3'), 1);
    }
  }
});

test('top:N warms the N most viewed products only', async () => {
  await view([...Array(30).fill(9), ...Array(40).fill(12)]);
  await stack.get('/cache/clear', { method: 'DELETE' });
  const r = await postWarm({ mode: 'top:2' });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.body.mode, 'top:2');
  const s = await warmEnded(r.body.run);
  assert.equal(s.state, 'done');
  assert.equal(s.total, 2);
  assert.equal(s.warmed, 2);
  assert.deepEqual((await stack.redisKeys('product:*')).sort(), ['product:12', 'product:9'], 'the two most viewed (40 and 30 views)');
});

test('401 without the token or with a wrong one', async () => {
  for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: TOKEN }]) {
    const r = await postWarm({}, headers);
    assertDetail(r, 401, 'Not authenticated');
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  }
});

test('422 for every bad body, naming the member', async () => {
  const cases = [
    [{ mode: 'none' }, 'string_pattern_mismatch', 'mode'],
    [{ mode: 'top:0' }, 'string_pattern_mismatch', 'mode'],
    [{ mode: 'top:101' }, 'string_pattern_mismatch', 'mode'],
    [{ mode: 'top:07' }, 'string_pattern_mismatch', 'mode'],
    [{ mode: 'top:5\u0000' }, 'string_pattern_mismatch', 'mode'],
    [{ mode: 'everything' }, 'string_pattern_mismatch', 'mode'],
    [{ mode: 5 }, 'string_type', 'mode'],
    [{ rate: 0 }, 'greater_than_equal', 'rate'],
    [{ rate: 100001 }, 'less_than_equal', 'rate'],
    [{ rate: '500' }, 'int_type', 'rate'],
    [{ rate: 1.5 }, 'int_type', 'rate'],
    [{ speed: 1 }, 'extra_forbidden', 'speed'],
  ];
  for (const [body, type, name] of cases) {
    const r = await postWarm(body);
    assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
    assert.equal(r.body.detail.length, 1, r.text);
    assert.equal(r.body.detail[0].type, type, r.text);
    assert.deepEqual(r.body.detail[0].loc, ['body', name]);
    assert.deepEqual(r.body.detail[0].input, body[name]);
  }
  const bad = await postWarm('{"mode":');
  assert.equal(bad.status, 422);
  assert.equal(bad.body.detail[0].type, 'json_invalid');
  const list = await postWarm([1]);
  assert.equal(list.status, 422);
  assert.equal(list.body.detail[0].type, 'model_attributes_type');
  const two = await postWarm({ mode: 'x', rate: -1 });
  assert.equal(two.body.detail.length, 2, 'every problem listed');
  assert.equal((await warmStatus()).state, 'done', 'no run started by a bad body');
});

test('top:N with no views, and with ANALYTICS=false, warms nothing and says why', async () => {
  await stack.redisCmd('DEL', 'analytics:{views}:total');
  const r = await postWarm({ mode: 'top:10' });
  assert.equal(r.status, 202);
  const s = await warmEnded(r.body.run);
  assert.equal(s.state, 'done');
  assert.equal(s.warmed, 0);
  assert.equal(s.total, 0);
  assert.match(s.reason, /leaderboard is empty/);

  const main = stack.service;
  await stack.startService({ env: { ...ENV, CACHE_WARM: 'top:10', ANALYTICS: 'false' } });
  try {
    const off = await warmEnded(1);
    assert.equal(off.trigger, 'startup');
    assert.equal(off.warmed, 0);
    assert.match(off.reason, /ANALYTICS is off/);
  } finally {
    await stack.service.signal('SIGTERM');
    stack.service = main;
  }
});

test('a warm that meets PostgreSQL down fails and says so; the next one works', async () => {
  await stack.stopPostgres();
  try {
    const r = await postWarm({});
    assert.equal(r.status, 202, r.text);
    const s = await warmEnded(r.body.run);
    assert.equal(s.state, 'failed');
    assert.match(s.reason, /PostgreSQL/);
  } finally {
    await stack.startPostgres();
  }
  // Every loop's pool back (the POST may land on either loop).
  await waitFor(
    async () => {
      const up = samplesOf(parseExposition((await stack.get('/metrics')).text), 'cacheme_postgres_up');
      return up.length === ENV.WORKERS && up.every((s) => s.value === 1);
    },
    { timeout: 15000, message: 'PostgreSQL back on every loop' },
  );
  const r = await postWarm({ mode: 'top:1' });
  assert.equal(r.status, 202);
  const next = await warmEnded(r.body.run);
  assert.equal(next.state, 'done', JSON.stringify(next));
  const m = parseExposition((await stack.get('/metrics')).text);
  assert.ok(valueOf(m, 'cacheme_warm_runs_total', { outcome: 'failed' }) >= 1);
});
