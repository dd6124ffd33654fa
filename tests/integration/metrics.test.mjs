// GET /metrics (issue 7): the exposition passes `promtool check metrics` (Debian package
// prometheus); after a known sequence of requests, cacheme_http_requests_total and the latency
// histogram count exactly what was sent; the cache counters agree with /cache/stats; the per-loop
// gauges follow Redis going away and coming back; cacheme_build_info carries the version of
// `cacheme --version`. Also the `latency` member of /cache/stats against the same requests.
//
// Every expected count comes from a ledger of the requests this file sent, with the route, status
// and source each answer actually had, so a mismatch names the series.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, runCacheme } from '../lib/stack.mjs';
import { waitFor } from '../lib/util.mjs';
import { parseExposition, samplesOf, valueOf, histogramsOf, labelKey, promtoolCheck } from './lib/prometheus.mjs';

// Two event loops, so that the counters merged over loops and the per-loop gauges are both exercised.
const WORKERS = 2;
const ENV = { WORKERS };
// The loops publish their gauges every 500 ms; this is the bound for a gauge to follow a change.
const GAUGE_BOUND_MS = 5000;
const PRODUCTS = '/products/{id}';

let stack;

before(async () => {
  stack = await startStack({ env: ENV });
});

after(async () => {
  await stack?.teardown();
});

/** GET /metrics: asserts 200 and the content type, returns { text, parsed }. */
async function scrape() {
  const r = await stack.get('/metrics');
  assert.equal(r.status, 200, `GET /metrics: ${r.text}`);
  const type = r.headers.get('content-type');
  assert.match(type ?? '', /^text\/plain;\s*version=0\.0\.4(;|$)/, `Content-Type of /metrics: ${type}`);
  return { text: r.text, parsed: parseExposition(r.text) };
}

/** promtool check metrics must accept the text without a problem. */
async function assertPromtoolClean(text) {
  const r = await promtoolCheck(text);
  assert.equal(r.code, 0, `promtool check metrics exited ${r.code}:\n${r.stdout}${r.stderr}\n--- exposition ---\n${text}`);
  assert.equal(`${r.stdout}${r.stderr}`.trim(), '', `promtool check metrics found problems:\n${r.stdout}${r.stderr}`);
}

/** The per-loop values of gauge `name`: { loop: value }. */
function perLoop(parsed, name) {
  const out = {};
  for (const s of samplesOf(parsed, name)) {
    assert.deepEqual(Object.keys(s.labels), ['loop'], `${name} is labelled by loop only`);
    out[s.labels.loop] = s.value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The ledger: what this file sent and what came back.

class Ledger {
  constructor() {
    this.requests = new Map(); // key → { route, status, source, n }
    this.clientMs = new Map(); // `${route}|${source}` → [ms of each request seen by the client]
  }

  add(route, status, source, n = 1, ms) {
    const labels = { route, status: String(status), source };
    const key = labelKey(labels);
    const entry = this.requests.get(key) ?? { labels, n: 0 };
    entry.n += n;
    this.requests.set(key, entry);
    if (ms !== undefined) {
      const k = `${route}|${source}`;
      this.clientMs.set(k, [...(this.clientMs.get(k) ?? []), ms]);
    }
  }

  /** Requests of one route and source, every status together. */
  count(route, source) {
    let n = 0;
    for (const { labels, n: k } of this.requests.values()) if (labels.route === route && labels.source === source) n += k;
    return n;
  }

  /** The { route, source } pairs sent. */
  pairs() {
    const seen = new Map();
    for (const { labels } of this.requests.values()) seen.set(`${labels.route}|${labels.source}`, { route: labels.route, source: labels.source });
    return [...seen.values()];
  }
}

/**
 * GET /products/{id} expecting `status` from `source` (cache or database; the X-Cache header says
 * which, and a 200 body says it too), recorded in the ledger.
 */
async function product(ledger, id, status, source) {
  const r = await stack.get(`/products/${id}`);
  assert.equal(r.status, status, `GET /products/${id}: ${r.text}`);
  assert.equal(r.headers.get('x-cache'), source === 'cache' ? 'HIT' : 'MISS', `X-Cache of /products/${id} (expected source ${source})`);
  if (status === 200 || source === 'cache') assert.equal(r.body?.source, source, `source of /products/${id}: ${r.text}`);
  ledger.add(PRODUCTS, status, source, 1, r.ms);
}

/** GET a path that is not a product answer (source "none"), recorded in the ledger. */
async function plain(ledger, pathname, route, status) {
  const r = await stack.get(pathname);
  assert.equal(r.status, status, `GET ${pathname}: ${r.text}`);
  ledger.add(route, status, 'none', 1, r.ms);
}

/**
 * A fresh process and an empty Redis, a first scrape (the baseline: only the harness's /health
 * polls are counted in it), then the known sequence:
 *   5 misses and 7 hits of /products/{id};
 *   3 404s: 999999 from the database, 999999 again from the negative cache (source cache), 999998
 *   from the database;
 *   2 422s (bad ids); 1 path that matches no route; 2 GET /health.
 * Returns the ledger, which also holds the baseline scrape itself and the harness's /health polls.
 */
async function knownSequence() {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: ENV });
  const ledger = new Ledger();

  const baseline = await scrape();
  const requests = samplesOf(baseline.parsed, 'cacheme_http_requests_total');
  assert.equal(requests.length, 1, `a fresh process has counted only the harness's /health polls:\n${requests.map((s) => `${labelKey(s.labels)} ${s.value}`).join('\n')}`);
  assert.deepEqual(requests[0].labels, { route: '/health', status: '200', source: 'none' });
  assert.ok(requests[0].value >= 1, 'at least one /health poll');
  ledger.add('/health', 200, 'none', requests[0].value);
  ledger.add('/metrics', 200, 'none'); // the baseline scrape, counted once it was answered

  for (const id of [1, 2, 3, 4, 5]) await product(ledger, id, 200, 'database');
  await stack.waitForKeys([1, 2, 3, 4, 5].map((id) => `product:${id}`));
  for (const id of [1, 2, 3, 4, 5, 1, 2]) await product(ledger, id, 200, 'cache');

  await product(ledger, 999999, 404, 'database');
  await stack.waitForKeys('product:999999'); // the negative entry
  await product(ledger, 999999, 404, 'cache');
  await product(ledger, 999998, 404, 'database');

  await plain(ledger, '/products/abc', PRODUCTS, 422);
  await plain(ledger, '/products/1.5', PRODUCTS, 422);
  await plain(ledger, '/no/such/path', 'unmatched', 404);
  await plain(ledger, '/health', '/health', 200);
  await plain(ledger, '/health', '/health', 200);
  return ledger;
}

// ---------------------------------------------------------------------------------------------

test('GET /metrics is text/plain; version=0.0.4, every family has HELP and TYPE, and promtool check metrics passes', async () => {
  // Some traffic first, so that request counters and histograms are in the text.
  await stack.get('/products/1');
  await stack.get('/products/1');
  await stack.get('/products/424242');
  await stack.get('/products/abc');
  await stack.get('/nowhere');
  const { text, parsed } = await scrape();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');

  const families = new Set(parsed.types.keys());
  for (const s of parsed.samples) {
    const family = parsed.types.get(s.name) === undefined ? s.name.replace(/_(bucket|sum|count)$/, '') : s.name;
    assert.ok(families.has(family), `sample ${s.name} has a TYPE line`);
    assert.ok(parsed.help.has(family), `sample ${s.name} has a HELP line`);
    assert.ok(Number.isFinite(s.value) && s.value >= 0, `${s.name}{${labelKey(s.labels)}} = ${s.value} is a finite non-negative number`);
  }
  const expectTypes = {
    cacheme_build_info: 'gauge',
    cacheme_cache_hits_total: 'counter',
    cacheme_cache_misses_total: 'counter',
    cacheme_cache_errors_total: 'counter',
    cacheme_db_queries_total: 'counter',
    cacheme_db_errors_total: 'counter',
    cacheme_redis_up: 'gauge',
    cacheme_postgres_up: 'gauge',
    cacheme_circuit_breaker_state: 'gauge',
    cacheme_circuit_breaker_opened_total: 'counter',
    cacheme_http_requests_in_flight: 'gauge',
    cacheme_http_requests_total: 'counter',
    cacheme_http_request_duration_seconds: 'histogram',
  };
  for (const [name, type] of Object.entries(expectTypes)) assert.equal(parsed.types.get(name), type, `TYPE of ${name}`);
  assert.ok(histogramsOf(parsed, 'cacheme_http_request_duration_seconds').length > 0, 'the histogram has series');

  await assertPromtoolClean(text);
});

test('cacheme_build_info{version} is the number `cacheme --version` prints', async () => {
  const v = await runCacheme(['--version']);
  assert.equal(v.code, 0, v.stderr);
  const m = /^cacheme (\S+)$/.exec(v.stdout.trim());
  assert.ok(m, `--version prints "cacheme <version>": ${JSON.stringify(v.stdout)}`);
  const { parsed } = await scrape();
  const info = samplesOf(parsed, 'cacheme_build_info');
  assert.equal(info.length, 1, 'one cacheme_build_info sample');
  assert.deepEqual(info[0].labels, { version: m[1] });
  assert.equal(info[0].value, 1);
});

test('after a known sequence of requests, the request counters and histogram counts equal what was sent', async () => {
  const ledger = await knownSequence();
  const { text, parsed } = await scrape();
  const stats = await stack.get('/cache/stats');
  assert.equal(stats.status, 200, stats.text);
  const app = stats.body.app_stats;

  // cacheme_http_requests_total: exactly the ledger's series, with its values.
  const got = new Map(samplesOf(parsed, 'cacheme_http_requests_total').map((s) => [labelKey(s.labels), s.value]));
  const want = new Map([...ledger.requests].map(([k, e]) => [k, e.n]));
  assert.deepEqual(Object.fromEntries([...got].sort()), Object.fromEntries([...want].sort()), 'cacheme_http_requests_total by route, status and source');
  // The plan, spelled out (the ledger records what came back; these are what the issue sends).
  assert.equal(want.get(labelKey({ route: PRODUCTS, status: '200', source: 'database' })), 5, '5 misses');
  assert.equal(want.get(labelKey({ route: PRODUCTS, status: '200', source: 'cache' })), 7, '7 hits');
  assert.equal(want.get(labelKey({ route: PRODUCTS, status: '404', source: 'database' })), 2, '2 404s from the database');
  assert.equal(want.get(labelKey({ route: PRODUCTS, status: '404', source: 'cache' })), 1, '1 404 from the negative cache');
  assert.equal(want.get(labelKey({ route: PRODUCTS, status: '422', source: 'none' })), 2, '2 422s');
  assert.equal(want.get(labelKey({ route: 'unmatched', status: '404', source: 'none' })), 1, '1 unknown path');

  // The histogram: one series per route and source sent, counting every status.
  const hists = histogramsOf(parsed, 'cacheme_http_request_duration_seconds');
  const histKeys = hists.map((h) => labelKey(h.labels)).sort();
  assert.deepEqual(histKeys, ledger.pairs().map((p) => labelKey(p)).sort(), 'histogram series = route/source pairs sent');
  for (const h of hists) {
    const name = `cacheme_http_request_duration_seconds{${labelKey(h.labels)}}`;
    const n = ledger.count(h.labels.route, h.labels.source);
    assert.equal(h.count, n, `${name}_count`);
    assert.ok(h.buckets.length >= 2, `${name} has buckets`);
    const last = h.buckets[h.buckets.length - 1];
    assert.equal(last.leText, '+Inf', `${name}: the last bucket is le="+Inf"`);
    assert.equal(last.value, h.count, `${name}: le="+Inf" bucket = _count`);
    for (let i = 1; i < h.buckets.length; i++) {
      const [a, b] = [h.buckets[i - 1], h.buckets[i]];
      assert.ok(a.le < b.le, `${name}: le bounds ascend (${a.leText} then ${b.leText})`);
      assert.ok(a.value <= b.value, `${name}: buckets are cumulative (le=${a.leText}: ${a.value} > le=${b.leText}: ${b.value})`);
    }
    assert.ok(h.sum > 0, `${name}_sum = ${h.sum} > 0`);
    // Each server-side duration lies inside the client's round trip.
    const client = ledger.clientMs.get(`${h.labels.route}|${h.labels.source}`);
    if (client && client.length === n) {
      const clientSum = client.reduce((x, y) => x + y, 0) / 1000;
      assert.ok(h.sum <= clientSum + 1e-3, `${name}_sum = ${h.sum} s is at most the clients' ${clientSum.toFixed(6)} s`);
    }
  }

  // Cache counters: the same numbers as /cache/stats, and as the answers' sources.
  const counter = (name) => valueOf(parsed, name);
  assert.equal(counter('cacheme_cache_hits_total'), app.hits, 'hits = app_stats.hits');
  assert.equal(counter('cacheme_cache_misses_total'), app.misses, 'misses = app_stats.misses');
  assert.equal(counter('cacheme_db_queries_total'), app.db_queries, 'db_queries = app_stats.db_queries');
  assert.equal(counter('cacheme_cache_errors_total'), app.redis_errors, 'cache errors = app_stats.redis_errors');
  assert.equal(counter('cacheme_db_errors_total'), app.db_errors, 'db errors = app_stats.db_errors');
  assert.equal(app.hits, ledger.count(PRODUCTS, 'cache'), 'hits = answers from the cache (7 hits + 1 negative entry)');
  assert.equal(app.misses, ledger.count(PRODUCTS, 'database'), 'misses = answers from the database (5 + 2 not found)');
  assert.equal(app.db_queries, app.misses, 'one query per miss');
  assert.equal(app.redis_errors, 0);
  assert.equal(app.db_errors, 0);

  await assertPromtoolClean(text);
});

test('/cache/stats latency: counts per source equal the /products/{id} answers, p50 <= p95 <= p99 <= max', async () => {
  const ledger = await knownSequence();
  const { parsed } = await scrape();
  const r = await stack.get('/cache/stats');
  assert.equal(r.status, 200, r.text);
  const lat = r.body.latency;
  assert.ok(lat && typeof lat === 'object', `/cache/stats has latency: ${r.text}`);
  assert.deepEqual(Object.keys(lat).sort(), ['cache', 'database', 'stale']);
  const hists = histogramsOf(parsed, 'cacheme_http_request_duration_seconds');
  for (const source of ['cache', 'database', 'stale']) {
    const l = lat[source];
    assert.deepEqual(Object.keys(l).sort(), ['count', 'max_ms', 'p50_ms', 'p95_ms', 'p99_ms'], `latency.${source} members`);
    for (const k of Object.keys(l)) assert.equal(typeof l[k], 'number', `latency.${source}.${k} is a number`);
    const n = ledger.count(PRODUCTS, source);
    assert.equal(l.count, n, `latency.${source}.count = answers from ${source}`);
    if (n === 0) {
      assert.deepEqual(l, { count: 0, p50_ms: 0, p95_ms: 0, p99_ms: 0, max_ms: 0 }, `latency.${source} without answers`);
      continue;
    }
    const where = `latency.${source} = ${JSON.stringify(l)}`;
    assert.ok(l.p50_ms > 0, `${where}: p50 > 0`);
    assert.ok(l.p50_ms <= l.p95_ms && l.p95_ms <= l.p99_ms && l.p99_ms <= l.max_ms, `${where}: p50 <= p95 <= p99 <= max`);
    const clientMax = Math.max(...ledger.clientMs.get(`${PRODUCTS}|${source}`));
    assert.ok(l.max_ms <= clientMax + 1e-3, `${where}: max_ms is at most the slowest round trip the client saw (${clientMax.toFixed(3)} ms)`);

    // The same observations as the histogram: equal count, sum at most count x max, and the max in
    // the first bucket whose cumulative count is complete.
    const h = hists.find((x) => x.labels.route === PRODUCTS && x.labels.source === source);
    assert.ok(h, `histogram series for ${PRODUCTS} ${source}`);
    assert.equal(h.count, l.count, `histogram _count = latency.${source}.count`);
    const maxSeconds = Math.round(l.max_ms * 1000) / 1e6;
    assert.ok(h.sum <= h.count * maxSeconds + 1e-6, `${where}: _sum ${h.sum} <= count x max`);
    assert.ok(h.sum + 1e-6 >= maxSeconds, `${where}: _sum ${h.sum} >= max`);
    for (const b of h.buckets) {
      assert.equal(b.value === h.count, maxSeconds <= b.le, `${where}: le=${b.leText} holds ${b.value} of ${h.count}, max ${maxSeconds} s`);
    }
  }
});

test('per-loop gauges: redis_up and postgres_up are 1 on every loop, redis_up turns 0 when Redis is killed and 1 when it is back', { timeout: 120000 }, async (t) => {
  await stack.restartService({ env: ENV });
  const loops = Array.from({ length: WORKERS }, (_, i) => String(i));

  // Published every 500 ms: poll until every loop has said so.
  const up = await waitFor(
    async () => {
      const { parsed } = await scrape();
      const r = perLoop(parsed, 'cacheme_redis_up');
      const p = perLoop(parsed, 'cacheme_postgres_up');
      return loops.every((i) => r[i] === 1 && p[i] === 1) ? parsed : false;
    },
    { timeout: GAUGE_BOUND_MS, interval: 100, message: 'cacheme_redis_up and cacheme_postgres_up = 1 on every loop' },
  );
  assert.deepEqual(Object.keys(perLoop(up, 'cacheme_redis_up')).sort(), loops, `one cacheme_redis_up per loop (WORKERS=${WORKERS})`);
  assert.deepEqual(Object.keys(perLoop(up, 'cacheme_postgres_up')).sort(), loops, 'one cacheme_postgres_up per loop');
  assert.deepEqual(perLoop(up, 'cacheme_circuit_breaker_state'), Object.fromEntries(loops.map((i) => [i, 0])), 'cacheme_circuit_breaker_state: closed on every loop');
  assert.equal(valueOf(up, 'cacheme_circuit_breaker_opened_total'), 0);
  assert.equal(valueOf(up, 'cacheme_sse_clients'), 0);
  assert.ok(valueOf(up, 'cacheme_http_requests_in_flight') >= 0, 'cacheme_http_requests_in_flight is there');

  await stack.killRedis();
  const t0 = performance.now();
  let down;
  try {
    down = await waitFor(
      async () => {
        const { text, parsed } = await scrape();
        const r = perLoop(parsed, 'cacheme_redis_up');
        return loops.every((i) => r[i] === 0) ? { text, parsed } : false;
      },
      { timeout: GAUGE_BOUND_MS, interval: 100, message: 'cacheme_redis_up = 0 on every loop after kill -9 of Redis' },
    );
    const ms = performance.now() - t0;
    assert.deepEqual(perLoop(down.parsed, 'cacheme_postgres_up'), Object.fromEntries(loops.map((i) => [i, 1])), 'PostgreSQL is still up on every loop');
    const breaker = perLoop(down.parsed, 'cacheme_circuit_breaker_state');
    assert.deepEqual(Object.keys(breaker).sort(), loops, 'cacheme_circuit_breaker_state is still there for every loop');
    for (const i of loops) assert.ok([0, 1, 2].includes(breaker[i]), `breaker state of loop ${i} is 0, 1 or 2: ${breaker[i]}`);
    await assertPromtoolClean(down.text);
    t.diagnostic(`cacheme_redis_up turned 0 on every loop ${Math.round(ms)} ms after kill -9`);
  } finally {
    await stack.startRedis();
  }

  // The client reconnects on its own (backoff up to 2 s); no traffic but the scrapes.
  await waitFor(
    async () => {
      const r = perLoop((await scrape()).parsed, 'cacheme_redis_up');
      return loops.every((i) => r[i] === 1);
    },
    { timeout: 15000, interval: 100, message: 'cacheme_redis_up = 1 on every loop after Redis restarted' },
  );
});
