// `cacheme bench` against the test service: the requests it reports are the lookups the service
// counted, its hit ratio is the one /cache/stats gives, --json parses, the HTML and SVG reports are
// written with their plots, the warm-up is kept out of the figures, and bad options or targets are
// refused before any traffic is sent. Every run is bounded by -n or -d (and by runCacheme's timeout).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, runCacheme } from './lib/stack.mjs';
import { freePort } from './lib/util.mjs';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.teardown();
});

/** Run `cacheme bench ARGS` against the stack's service; returns { code, stdout, stderr }. */
async function bench(args, { timeout = 90000 } = {}) {
  const r = await runCacheme(['bench', '--url', stack.url, '-q', ...args], { timeout });
  assert.ok(!r.timedOut, `cacheme bench ${args.join(' ')} was killed after ${timeout} ms`);
  return r;
}

/** Run bench with --json and return the parsed summary (fails on a non-zero exit). */
async function benchJson(args) {
  const r = await bench(['--json', ...args]);
  assert.equal(r.code, 0, `bench exited ${r.code}: ${r.stderr}`);
  try {
    return JSON.parse(r.stdout);
  } catch (err) {
    throw new Error(`--json output does not parse (${err.message}):\n${r.stdout}`);
  }
}

async function appStats() {
  const r = await stack.get('/cache/stats');
  assert.equal(r.status, 200, r.text);
  return r.body.app_stats;
}

test('the request count and hit ratio it reports are what /cache/stats counted', async () => {
  // Counters start at zero. Single-flight off: with it, a lookup that waited for another event
  // loop's load counts as a miss yet answers from the cache, so hits and cache answers could differ.
  await stack.restartService({ env: { STAMPEDE_PROTECTION: 'false' } });
  const s = await benchJson(['-n', '3000', '-c', '8', '--clear', '--dist', 'zipf', '--keys', '15']);

  assert.equal(s.requests, 3000);
  assert.equal(s.answered, 3000);
  assert.equal(s.reads, 3000);
  assert.equal(s.writes, 0);
  assert.equal(s.errors.total, 0, JSON.stringify(s.errors));
  assert.equal(s.status['2xx'], 3000);
  assert.equal(s.latency_ms.cache.count + s.latency_ms.database.count, 3000);
  assert.equal(s.latency_ms.cache.count, s.cache_answers);
  assert.ok(s.latency_ms.database.count >= 1, 'the cleared cache makes at least one miss');

  const a = await appStats();
  assert.equal(a.hits + a.misses, s.reads, 'every request of the run is one lookup of the service');
  assert.equal(a.hits, s.cache_answers);
  assert.equal(a.hit_rate, s.hit_rate);
  assert.deepEqual(s.service, { hits: a.hits, misses: a.misses, hit_rate: a.hit_rate });

  // Percentiles are ordered and within [min, max].
  for (const [source, l] of Object.entries(s.latency_ms)) {
    if (l.count === 0) continue;
    const seq = [l.min, l.p50, l.p90, l.p99, l.p99_9, l.max];
    for (let i = 1; i < seq.length; i++) assert.ok(seq[i - 1] <= seq[i], `${source}: ${JSON.stringify(l)}`);
  }
  assert.ok(s.throughput_rps > 0);
});

test('a second run reports the counters it added, not the totals', async () => {
  const before = await appStats();
  const s = await benchJson(['-n', '1500', '-c', '4']);
  const after = await appStats();
  assert.equal(s.requests, 1500);
  assert.equal(after.hits - before.hits, s.service.hits);
  assert.equal(after.misses - before.misses, s.service.misses);
  assert.equal(s.service.hits + s.service.misses, s.reads);
  assert.equal(s.service.hits, s.cache_answers);
});

test('the warm-up is not counted and a duration bound ends the run', async () => {
  const before = await appStats();
  const s = await benchJson(['-d', '1', '--warmup', '0.5', '-c', '4', '--clear']);
  const after = await appStats();
  assert.ok(s.warmup_requests > 0, 'the warm-up sent requests');
  assert.ok(s.requests > 0);
  assert.ok(s.elapsed_s >= 1 && s.elapsed_s < 3, `elapsed ${s.elapsed_s}`);
  // The service saw warm-up and measured lookups; bench reports only the measured ones.
  assert.equal(after.hits + after.misses - before.hits - before.misses, s.warmup_requests + s.reads);
  assert.equal(s.service.hits + s.service.misses, s.reads);
  // The warm-up filled the cache, so the measured phase is all hits.
  assert.equal(s.cache_answers, s.reads);
  assert.equal(s.hit_rate, 100);
});

test('--dist hot asks for one key only', async () => {
  const s = await benchJson(['-n', '500', '-c', '4', '--clear', '--dist', 'hot', '--hot-key', '3']);
  assert.equal(s.requests, 500);
  assert.deepEqual(await stack.redisKeys('product:*'), ['product:3']);
  assert.equal(s.options.dist, 'hot');
  assert.equal(s.options.hot_key, 3);
});

test('--write-ratio sends PATCH requests, which the service answers', async () => {
  const s = await benchJson(['-n', '1000', '-c', '4', '--write-ratio', '0.3']);
  assert.equal(s.reads + s.writes, 1000);
  assert.ok(s.writes > 200 && s.writes < 400, `writes ${s.writes} of 1000 at ratio 0.3`);
  assert.equal(s.latency_ms.write.count, s.writes);
  assert.equal(s.service.hits + s.service.misses, s.reads, 'writes are not lookups');
  // PATCH /products/{id} is a route of the service: a 405 would mean the writes were not made.
  assert.equal(s.writes_405, 0, `writes answered 405: ${s.writes_405} of ${s.writes}`);
});

test('the text table, the HTML and the SVG reports are written with their plots', async () => {
  const dir = fs.mkdtempSync(path.join(stack.dir, 'reports-'));
  const html = path.join(dir, 'report.html');
  const svg = path.join(dir, 'report.svg');
  const r = await bench(['-n', '2000', '-c', '8', '--clear', '--html', html, '--svg', svg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /requests\s+2,000 in [\d.]+ s = [\d,.]+ req\/s/);
  assert.match(r.stdout, /hit ratio \d+\.\d\d %/);
  assert.match(r.stdout, /^\s+cache\s+[\d,]+\s/m);
  assert.match(r.stdout, /^\s+database\s+[\d,]+\s/m);

  const svgText = fs.readFileSync(svg, 'utf8');
  assert.match(svgText, /^<\?xml[^>]*>\s*<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svgText, /<g id="latency-over-time">/);
  assert.match(svgText, /<g id="latency-histogram">/);
  assert.match(svgText, /<polyline class="cache p50"[^>]* points="[\d.]+,[\d.]+ /);
  assert.match(svgText, /<polyline class="cache p99"/);
  assert.match(svgText, /<polyline class="database"/);
  assert.match(svgText, /<\/svg>\s*$/);
  assert.doesNotMatch(svgText, /NaN|nan|inf/);

  const htmlText = fs.readFileSync(html, 'utf8');
  assert.match(htmlText, /^<!doctype html>/);
  assert.match(htmlText, /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(htmlText, /<g id="latency-over-time">/);
  assert.match(htmlText, /<g id="latency-histogram">/);
  assert.match(htmlText, /<th scope="row">cache<\/th>/);
  assert.match(htmlText, /<\/html>\s*$/);
});

test('bad options and non-loopback targets exit 2 before sending anything', async () => {
  const before = await appStats();
  for (const args of [['-c', '0'], ['--dist', 'gauss'], ['--write-ratio', '2'], ['-n', '0'], ['--bogus'], ['-d', '2h']]) {
    const r = await runCacheme(['bench', '--url', stack.url, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^cacheme bench: /);
  }
  const remote = await runCacheme(['bench', '--url', 'http://192.0.2.1:8000', '-n', '10']);
  assert.equal(remote.code, 2);
  assert.match(remote.stderr, /not a loopback address.*--allow-remote/);
  const help = await runCacheme(['bench', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--write-ratio/);
  const after = await appStats();
  assert.equal(after.hits + after.misses, before.hits + before.misses, 'no lookup was sent');
});

test('a target where nothing listens exits 1 at once', async () => {
  const port = await freePort();
  const t0 = performance.now();
  const r = await runCacheme(['bench', '--url', `http://127.0.0.1:${port}`, '-d', '30']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot connect/);
  assert.ok(performance.now() - t0 < 10000, 'it did not wait for the duration');
});
