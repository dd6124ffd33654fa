// The load generator against the test service, through both of its entry points: the program
// itself (cacheme-bench, built beside the service's binary) and `cacheme bench`, which runs it.
// Through each: the requests it reports are the lookups the service counted, its hit ratio is the
// one /cache/stats gives, --json parses, the HTML and SVG reports are written with their plots,
// the warm-up is kept out of the figures, and bad options or targets are refused before any
// traffic is sent. Then what the forwarding itself must do: pass every argument through unchanged,
// and fail clearly when the program is not there. Every run is bounded by -n or -d and by a timeout.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, runCacheme, cachemeBin, assertNoSanitizerReports, SANITIZED } from '../lib/stack.mjs';
import { freePort } from '../lib/util.mjs';

let stack;

before(async () => {
  stack = await startStack();
});

after(async () => {
  await stack?.teardown();
});

/** The load generator that `cacheme bench` runs: cacheme-bench in the service binary's directory. */
function benchBin() {
  return path.join(path.dirname(cachemeBin()), 'cacheme-bench');
}

const children = new Set();
process.once('exit', () => {
  for (const proc of children) proc.kill('SIGKILL');
});

/**
 * Run a program once and collect its output, killed after `timeout` ms; resolves with
 * { code, signal, stdout, stderr, timedOut }. Under CACHEME_SANITIZED=1 a sanitizer report on
 * stderr fails the run, as runCacheme does for the service's binary.
 */
function runProgram(bin, args, { timeout = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
    proc.once('error', (err) => {
      clearTimeout(timer);
      children.delete(proc);
      reject(err);
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(proc);
      if (SANITIZED) {
        try {
          assertNoSanitizerReports(stderr, `${path.basename(bin)} ${args.join(' ')}`);
        } catch (e) {
          return reject(e);
        }
      }
      resolve({ code, signal, stdout, stderr, timedOut: signal === 'SIGKILL' });
    });
  });
}

/** The two ways to start the load generator, each a function (args, opts) → the run's result. */
const ENTRY_POINTS = {
  'cacheme-bench': (args, opts) => runProgram(benchBin(), args, opts),
  'cacheme bench': (args, opts) => runCacheme(['bench', ...args], opts),
};

/** Run the load generator through `start` against the stack's service; returns { code, stdout, stderr }. */
async function bench(start, args, { timeout = 90000 } = {}) {
  const r = await start(['--url', stack.url, '-q', ...args], { timeout });
  assert.ok(!r.timedOut, `bench ${args.join(' ')} was killed after ${timeout} ms`);
  return r;
}

/** Run it with --json and return the parsed summary (fails on a non-zero exit). */
async function benchJson(start, args) {
  const r = await bench(start, ['--json', ...args]);
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

for (const [entry, start] of Object.entries(ENTRY_POINTS)) {
  describe(`through ${entry}`, () => {
    test('the request count and hit ratio it reports are what /cache/stats counted', async () => {
      // Counters start at zero. Single-flight off: with it, a lookup that waited for another event
      // loop's load counts as a miss yet answers from the cache, so hits and cache answers could differ.
      await stack.restartService({ env: { STAMPEDE_PROTECTION: 'false' } });
      const s = await benchJson(start, ['-n', '3000', '-c', '8', '--clear', '--dist', 'zipf', '--keys', '15']);

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
      const s = await benchJson(start, ['-n', '1500', '-c', '4']);
      const after = await appStats();
      assert.equal(s.requests, 1500);
      assert.equal(after.hits - before.hits, s.service.hits);
      assert.equal(after.misses - before.misses, s.service.misses);
      assert.equal(s.service.hits + s.service.misses, s.reads);
      assert.equal(s.service.hits, s.cache_answers);
    });

    test('the warm-up is not counted and a duration bound ends the run', async () => {
      const before = await appStats();
      const s = await benchJson(start, ['-d', '1', '--warmup', '0.5', '-c', '4', '--clear']);
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
      const s = await benchJson(start, ['-n', '500', '-c', '4', '--clear', '--dist', 'hot', '--hot-key', '3']);
      assert.equal(s.requests, 500);
      assert.deepEqual(await stack.redisKeys('product:*'), ['product:3']);
      assert.equal(s.options.dist, 'hot');
      assert.equal(s.options.hot_key, 3);
    });

    test('--write-ratio sends PATCH requests, which the service answers', async () => {
      const s = await benchJson(start, ['-n', '1000', '-c', '4', '--write-ratio', '0.3']);
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
      const r = await bench(start, ['-n', '2000', '-c', '8', '--clear', '--html', html, '--svg', svg]);
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
        const r = await start(['--url', stack.url, ...args]);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, /^cacheme-bench: /);
      }
      const remote = await start(['--url', 'http://192.0.2.1:8000', '-n', '10']);
      assert.equal(remote.code, 2);
      assert.match(remote.stderr, /not a loopback address.*--allow-remote/);
      const help = await start(['--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--write-ratio/);
      const after = await appStats();
      assert.equal(after.hits + after.misses, before.hits + before.misses, 'no lookup was sent');
    });

    test('a target where nothing listens exits 1 at once', async () => {
      const port = await freePort();
      const t0 = performance.now();
      const r = await start(['--url', `http://127.0.0.1:${port}`, '-d', '30']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /cannot connect/);
      assert.ok(performance.now() - t0 < 10000, 'it did not wait for the duration');
    });
  });
}

describe('cacheme bench, the forwarder', () => {
  test('passes every argument through unchanged, and the service reads none of them', async () => {
    const [direct, forwarded] = await Promise.all(['cacheme-bench', 'cacheme bench'].map((e) => ENTRY_POINTS[e](['--help'])));
    assert.equal(forwarded.code, 0);
    assert.equal(forwarded.stdout, direct.stdout);
    assert.match(forwarded.stdout, /^Usage: cacheme-bench \[options\]/);

    // An empty argument and one the service itself knows (--version) reach the bench as they are.
    for (const extra of [[''], ['--version'], ['--', 'serve']]) {
      const args = ['--url', stack.url, '-n', '10', ...extra];
      const d = await ENTRY_POINTS['cacheme-bench'](args);
      const f = await ENTRY_POINTS['cacheme bench'](args);
      assert.equal(d.code, 2, `${JSON.stringify(extra)}: ${d.stderr}`);
      assert.deepEqual({ code: f.code, stdout: f.stdout, stderr: f.stderr }, { code: d.code, stdout: d.stdout, stderr: d.stderr });
    }

    // Spaces stay inside their argument: the report is written at exactly this path.
    const dir = fs.mkdtempSync(path.join(stack.dir, 'a dir '));
    const html = path.join(dir, 'the report.html');
    const r = await bench(ENTRY_POINTS['cacheme bench'], ['-n', '50', '-c', '2', '--html', html]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(dir), ['the report.html']);
  });

  test('without cacheme-bench beside the binary it exits 2, says where it looked, and sends nothing', async () => {
    const dir = fs.mkdtempSync(path.join(stack.dir, 'alone-'));
    const copy = path.join(dir, 'cacheme');
    fs.copyFileSync(cachemeBin(), copy);
    fs.chmodSync(copy, 0o755);
    const before = await appStats();
    for (const args of [['--help'], ['--url', stack.url, '-n', '10']]) {
      const r = await runProgram(copy, ['bench', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(
        r.stderr,
        `cacheme bench: the load generator cacheme-bench is not installed beside this binary (${path.join(dir, 'cacheme-bench')}); ` +
          '`make` builds it as build/cacheme-bench\n',
      );
    }
    const after = await appStats();
    assert.equal(after.hits + after.misses, before.hits + before.misses, 'no lookup was sent');
  });

  test('the service binary holds none of the load generator', () => {
    const usage = 'Usage: cacheme-bench [options]';
    assert.ok(fs.readFileSync(benchBin()).includes(usage), `${benchBin()} holds its usage text`);
    assert.ok(!fs.readFileSync(cachemeBin()).includes(usage), `${cachemeBin()} does not`);
  });
});
