// How the dashboard shows the failure-mode protections at work: X-Cache beside source for every
// lookup (a cached "not found" says it came from the cache), the Redis circuit breaker opening when
// Redis dies and closing when it is back, and a stale copy served in amber while PostgreSQL is down.
//
// The service runs with one event loop (WORKERS=1): every breaker is per loop, and with one loop the
// breaker the page shows (the live stream's) is the one the lookups go through.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request, waitFor } from '../lib/util.mjs';
import { openPage } from './lib/browser.mjs';
import { assertHue, lookUp, perfTone, perfXCache, rgbOf, setLab, waitForLab } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser({ env: { WORKERS: 1 } }));
});

after(() => close?.());

async function open() {
  return openPage(browser, ui.pageUrl());
}

test('X-Cache beside source: MISS then HIT, and a cached "not found" says it came from the cache', async () => {
  await ui.stack.redisCmd('FLUSHALL');
  const { page, context, problems } = await open();
  try {
    await lookUp(page, 2);
    assert.equal(await perfTone(page), 'database');
    assert.equal(await perfXCache(page), 'MISS');
    assertHue(await rgbOf(page, '#perf-xcache > span'), 'database', 'MISS badge');
    await lookUp(page, 2);
    assert.equal(await perfXCache(page), 'HIT');
    assertHue(await rgbOf(page, '#perf-xcache > span'), 'cache', 'HIT badge');
    // The page shows what the service sends (read, or worked out when the header is not exposed).
    assert.equal((await ui.stack.get('/products/2')).headers.get('x-cache'), 'HIT');

    // An id that does not exist: first PostgreSQL says so, then the negative cache entry does.
    await lookUp(page, 777777);
    assert.equal(await perfXCache(page), 'MISS');
    assert.equal(await page.getAttribute('#request-log tbody tr:first-child', 'data-source'), 'none');
    await lookUp(page, 777777);
    assert.equal(await perfXCache(page), 'HIT');
    assert.equal(await perfTone(page), 'cache');
    assertHue(await rgbOf(page, '#perf-source > span'), 'cache', 'negative-cache badge');
    assert.match(await page.textContent('#perf-source'), /cache \(“not found” cached\)/i);
    assert.match(await page.textContent('#result-message'), /Product 777777 does not exist .*answered from the cache/);
    const row = await page.$eval('#request-log tbody tr:first-child', (tr) => ({ source: tr.dataset.source, xcache: tr.dataset.xcache, text: tr.textContent }));
    assert.deepEqual([row.source, row.xcache], ['cache', 'HIT']);
    assert.match(row.text, /404 Product not found/);
    const direct = await ui.stack.get('/products/777777');
    assert.deepEqual([direct.status, direct.body.source, direct.headers.get('x-cache')], [404, 'cache', 'HIT']);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the circuit breaker: open after Redis is killed under a few lookups, closed after it returns', async () => {
  const { page, context, problems } = await open();
  try {
    await page.waitForSelector('#health-breaker[data-state="closed"]', { state: 'attached' });
    assert.match(await page.textContent('#health-breaker'), /Redis breaker:\s*closed \(using Redis\)/);
    assert.equal((await page.textContent('#breaker-state')).trim(), 'closed');

    await ui.stack.killRedis();
    for (let i = 0; i < 6; i++) await lookUp(page, 3);
    await page.waitForSelector('#health-breaker[data-state="open"]', { state: 'attached', timeout: 10000 });
    assert.match(await page.textContent('#health-breaker'), /open \(skipping Redis\)/);
    assertHue(await rgbOf(page, '#health-breaker'), 'fallback', 'open breaker pill');
    await page.waitForFunction(() => document.querySelector('#breaker-state').textContent === 'open');
    assert.match(await page.textContent('#breaker-text'), /lookups skip it and go straight to PostgreSQL/);
    assert.match(await page.textContent('#breaker-opened'), /opened [1-9]\d* times?/);
    const health = await ui.stack.get('/health');
    assert.equal(health.body.components.redis.circuit_breaker, 'open');

    // Lookups still work, from PostgreSQL, in amber, with Redis skipped.
    await lookUp(page, 3);
    assert.equal(await perfTone(page), 'fallback');
    assert.equal(await perfXCache(page), 'BYPASS');
    assertHue(await rgbOf(page, '#perf-xcache > span'), 'fallback', 'BYPASS badge');

    await ui.stack.startRedis();
    await page.waitForSelector('#health-breaker[data-state="closed"]', { state: 'attached', timeout: 20000 });
    await page.waitForFunction(() => document.querySelector('#breaker-state').textContent === 'closed');
    assert.match(await page.textContent('#breaker-text'), /^Closed: Redis answers/);
    await lookUp(page, 3);
    assert.equal(await perfXCache(page), 'MISS');
    await lookUp(page, 3);
    assert.equal(await perfXCache(page), 'HIT');
    assert.equal(await perfTone(page), 'cache');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('a stale copy while PostgreSQL is down is shown in amber (source stale, X-Cache STALE)', async () => {
  const { page, context, problems } = await open();
  try {
    // A one-second TTL, set through the lab.
    await waitForLab(page);
    await setLab(page, { ttl_seconds: 1 });
    await page.click('#lab-apply');
    await page.waitForFunction(() => /^Applied ttl_seconds = 1 /.test(document.querySelector('#lab-status').textContent));

    await ui.stack.redisCmd('DEL', 'product:6');
    await lookUp(page, 6);
    assert.equal(await perfTone(page), 'database');
    // Wait until the cached value has expired (its Redis TTL is its logical TTL) while its stale copy,
    // kept STALE_IF_ERROR_SECONDS longer in {product:6}:stale, is still there.
    await ui.stack.waitForKeys(['product:6', '{product:6}:stale']);
    await waitFor(async () => (await ui.stack.redisCmd('EXISTS', 'product:6')) === 0, { timeout: 5000, interval: 20, message: 'the cached value of product 6 to expire' });
    assert.equal(await ui.stack.redisCmd('EXISTS', '{product:6}:stale'), 1, 'its stale copy is kept');

    await ui.stack.stopPostgres();
    try {
      await lookUp(page, 6);
      assert.equal(await perfTone(page), 'fallback');
      assertHue(await rgbOf(page, '#perf-source > span'), 'fallback', 'stale source badge');
      assert.match(await page.textContent('#perf-source'), /stale \(database down\)/i);
      assert.equal(await perfXCache(page), 'STALE');
      assertHue(await rgbOf(page, '#perf-xcache > span'), 'fallback', 'STALE badge');
      assert.match(await page.textContent('#result-message'), /Product 6, served stale from the cache/);
      assert.equal(await page.$eval('#product-card [data-field="id"]', (dd) => dd.textContent), '6');
      const row = await page.$eval('#request-log tbody tr:first-child', (tr) => [tr.dataset.source, tr.dataset.xcache]);
      assert.deepEqual(row, ['stale', 'STALE']);
      assertHue(await rgbOf(page, '#request-log tbody tr:first-child [data-tone]'), 'fallback', 'log badge');
    } finally {
      await ui.stack.startPostgres();
    }
    const r = await request(`${ui.stack.url}/lab/config`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"ttl_seconds":3600}' });
    assert.equal(r.status, 200);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
