// The dashboard in a real browser against a real stack: lookups and their colours, validation,
// quick tests, the hammer, live statistics, the request log and the charts, clearing the cache,
// the links from /config.json, and the screenshot of the main view. Editing, deleting and the
// invalidations feed are in edit.test.mjs and write-modes.test.mjs; the lab and the scenarios in
// lab.test.mjs; X-Cache, the circuit breaker and stale answers in resilience.test.mjs; the service's own
// latency by source in latency.test.mjs.
//
// One stack and one browser for the file; each test opens its own page (own storage), so the
// tests do not depend on each other's page state. Redis is flushed where a test needs a cold cache.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { request, waitFor } from '../lib/util.mjs';
import { openPage, resultPath } from './lib/browser.mjs';
import { assertHue, cardFields, chartPoints, lastSeq, logRows, lookUp, perfTone, rgbOf, runScenario, showSection, stat, statNumber, waitForNewLookup } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const PGADMIN_URL = 'http://127.0.0.1:5050/';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser({ env: { PGADMIN_URL } }));
});

after(() => close?.());

async function open(opts) {
  return openPage(browser, ui.pageUrl(), opts);
}

test('the page is served by cacheme on UI_PORT, with /config.json', async () => {
  const page = await request(`${ui.uiOrigin}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  assert.match(page.text, /cacheme dashboard/);
  const assets = [...page.text.matchAll(/(?:href|src)="(\/_astro\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(assets.length >= 2, `the page links its bundled assets: ${assets}`);
  for (const a of assets) {
    const r = await request(`${ui.uiOrigin}${a}`);
    assert.equal(r.status, 200, a);
    assert.match(r.headers.get('cache-control') ?? '', /immutable/, `${a} is cached for good`);
  }
  const cfg = await request(`${ui.uiOrigin}/config.json`);
  assert.equal(cfg.status, 200);
  assert.equal(typeof cfg.body.api_base, 'string');
  assert.equal(cfg.body.links.pgadmin, PGADMIN_URL);
  assert.equal(cfg.body.links.redis_commander, null);
  // Nothing from elsewhere: no CDN.
  assert.doesNotMatch(page.text, /(?:href|src)="https?:\/\//, 'every asset is served locally');
});

test('health chip, links from /config.json and the API base', async () => {
  const { page, context, problems } = await open();
  try {
    // One chip in the header, which expands to the details.
    assert.equal(await page.isVisible('#health-redis'), false, 'the details wait behind the chip');
    await page.click('#health-overall');
    await page.waitForSelector('#health-redis[data-state="up"]');
    await page.waitForSelector('#health-postgres[data-state="up"]');
    assert.match(await page.textContent('#health-overall'), /healthy/i);
    await showSection(page, 'settings');
    // Links: docs on the API port, pgAdmin as configured, Redis Commander hidden (null).
    assert.equal(await page.getAttribute('[data-link="docs"] a', 'href'), `${ui.stack.url}/docs`);
    assert.equal(await page.isVisible('[data-link="docs"]'), true);
    assert.equal(await page.getAttribute('[data-link="pgadmin"] a', 'href'), PGADMIN_URL);
    assert.equal(await page.isVisible('[data-link="pgadmin"]'), true);
    assert.equal(await page.isVisible('[data-link="redis_commander"]'), false);
    assert.equal(await page.inputValue('#api-base'), ui.stack.url);
    const docs = await request(`${ui.stack.url}/docs`);
    assert.equal(docs.status, 200, 'the docs link leads somewhere');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('product 1 twice: first from the database (blue), then from the cache (green)', async () => {
  await ui.stack.redisCmd('FLUSHALL');
  const { page, context, problems } = await open();
  try {
    await lookUp(page, 1);
    assert.equal(await perfTone(page), 'database');
    assertHue(await rgbOf(page, '#perf-source > span'), 'database', 'database badge');
    const fields = await cardFields(page);
    assert.equal(fields.id, '1');
    assert.equal(fields.name, 'MacBook Pro 16"');
    assert.equal(fields.description, 'Apple MacBook Pro with M2 Pro chip, 16GB RAM, 512GB SSD');
    assert.equal(fields.price, '$2,499.99');
    assert.equal(fields.category, 'Laptops');
    assert.ok(fields.created_at && fields.updated_at, 'both timestamps are shown');
    // formatMs: 3 decimals below 1 ms, 2 below 100 ms, then whole milliseconds with separators
    // (a first read from PostgreSQL can take over 100 ms on a busy machine).
    assert.match(await page.textContent('#perf-fetch-time'), /^(\d+\.\d{2,3}|\d{1,3}(,\d{3})*) ms$/);
    assert.match(await page.textContent('#perf-round-trip'), /^(\d+\.\d{2,3}|\d{1,3}(,\d{3})*) ms$/);
    assert.match(await page.textContent('#perf-request-id'), /^[A-Za-z0-9._-]+$/);

    await lookUp(page, 1);
    assert.equal(await perfTone(page), 'cache');
    assertHue(await rgbOf(page, '#perf-source > span'), 'cache', 'cache badge');
    assert.match(await page.textContent('#result-message'), /served from the cache/);
    // The log shows both, newest first, in the same colours.
    const sources = await page.$$eval('#request-log tbody tr', (rows) => rows.slice(0, 2).map((r) => r.dataset.source));
    assert.deepEqual(sources, ['cache', 'database']);
    assertHue(await rgbOf(page, '#request-log tbody tr:nth-child(1) [data-tone]'), 'cache', 'log badge');
    assertHue(await rgbOf(page, '#request-log tbody tr:nth-child(2) [data-tone]'), 'database', 'log badge');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('an invalid id shows a validation message and sends no request', async () => {
  const { page, context, problems } = await open();
  try {
    const lookups = [];
    page.on('request', (r) => {
      if (r.url().includes('/products/')) lookups.push(r.url());
    });
    for (const [input, message] of [
      ['abc', /is not a product id/],
      ['', /Enter a product id/],
      ['1.5', /is not a product id/],
      ['0', /from 1 to 2147483647/],
      ['2147483648', /from 1 to 2147483647/],
    ]) {
      await page.fill('#product-id', input);
      await page.press('#product-id', 'Enter');
      await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#product-id-error').textContent), message.source);
      assert.equal(await page.getAttribute('#product-id', 'aria-invalid'), 'true', `aria-invalid for ${JSON.stringify(input)}`);
    }
    // Typing clears the message.
    await page.fill('#product-id', '');
    await page.type('#product-id', '2');
    assert.equal((await page.textContent('#product-id-error')).trim(), '');
    assert.deepEqual(lookups, [], 'no request for an invalid id');

    // An id that is valid but unknown: the API's 404, said in words, not as a crash.
    await lookUp(page, 999999);
    assert.match(await page.textContent('#result-message'), /Product 999999 does not exist/);
    assert.equal(await page.isVisible('#product-card'), false);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('quick-test buttons look up products 1, 5 and 10', async () => {
  const { page, context, problems } = await open();
  try {
    for (const id of [1, 5, 10]) {
      const before = await lastSeq(page);
      await page.click(`[data-quick-id="${id}"]`);
      await waitForNewLookup(page, before);
      assert.equal((await cardFields(page)).id, String(id));
      assert.equal(await page.inputValue('#product-id'), String(id));
      assert.ok(['cache', 'database'].includes(await perfTone(page)));
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('hammer: the first lookup comes from the database, the rest from the cache', async () => {
  await ui.stack.redisCmd('DEL', 'product:7');
  const { page, context, problems } = await open();
  try {
    await page.fill('#hammer-id', '7');
    await page.fill('#hammer-count', '12');
    await page.click('#hammer-submit');
    await page.waitForSelector('#hammer-result:not([hidden])');
    assert.equal(await page.getAttribute('#hammer-first-source > span', 'data-tone'), 'database');
    assert.equal(await page.textContent('#hammer-rest-count'), '11');
    const rest = await page.$$eval('#hammer-rest-sources > span', (s) => s.map((x) => [x.dataset.tone, x.textContent.trim()]));
    assert.deepEqual(rest, [['cache', '11× cache']]);
    assert.match(await page.textContent('#hammer-rest-time'), /ms$/);
    assert.match(await page.textContent('#hammer-progress'), /Done: 12 lookups of product 7/);
    assert.equal(await logRows(page), 12);
    assert.equal(await chartPoints(page, 'latency-chart'), 12);

    // Validation of the count.
    await page.fill('#hammer-count', '1');
    await page.click('#hammer-submit');
    await page.waitForFunction(() => /from 2 to 200/.test(document.querySelector('#hammer-error').textContent));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('live statistics change without a click', async () => {
  const { page, context, problems } = await open();
  try {
    await page.waitForFunction(() => /^\d/.test(document.querySelector('[data-stat="app.hits"]').textContent));
    // The stream (or the polling fallback) is what moves the numbers.
    await page.waitForSelector('#feed-mode[data-mode="sse"]', { state: 'attached' });
    await showSection(page, 'stats');
    const hits = await statNumber(page, 'app.hits');
    const redisCommands = await statNumber(page, 'cache.total_commands_processed');
    // Lookups made behind the page's back, straight to the API.
    for (let i = 0; i < 3; i++) assert.equal((await ui.stack.get('/products/3')).status, 200);
    await page.waitForFunction(
      (h) => Number(document.querySelector('[data-stat="app.hits"]').textContent.replace(/,/g, '')) >= h + 2,
      hits,
      { timeout: 5000 },
    );
    assert.ok((await statNumber(page, 'cache.total_commands_processed')) > redisCommands, 'Redis INFO moves too');
    assert.match(await stat(page, 'cache.used_memory_human'), /\d/);
    assert.match(await stat(page, 'app.hit_rate'), /^\d+\.\d{2} %$/);
    assert.match(await page.textContent('#stats-updated'), /live stream/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('polling takes over when /events is not available', async () => {
  const { page, context, problems } = await open({
    beforeGoto: (p) => p.route('**/events', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"detail":"Not Found"}' })),
  });
  try {
    await page.waitForSelector('#feed-mode[data-mode="polling"]', { state: 'attached' });
    const hits = await statNumber(page, 'app.hits');
    await ui.stack.get('/products/3');
    await page.waitForFunction((h) => Number(document.querySelector('[data-stat="app.hits"]').textContent.replace(/,/g, '')) > h, hits, { timeout: 5000 });
    assert.match(await page.textContent('#stats-updated'), /polling/);
    assert.equal(await page.isVisible('#banner-unreachable'), false);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the request log and the charts gain entries', async () => {
  const { page, context, problems } = await open();
  try {
    assert.equal(await logRows(page), 0);
    assert.equal(await chartPoints(page, 'latency-chart'), 0);
    await lookUp(page, 2);
    await lookUp(page, 2);
    await lookUp(page, 424242);
    assert.equal(await logRows(page), 3);
    const newest = await page.$$eval('#request-log tbody tr:first-child td', (tds) => tds.map((td) => td.textContent.trim()));
    assert.match(newest[0], /^\d{2}:\d{2}:\d{2}\.\d{3}$/, 'time');
    assert.equal(newest[1], '424242');
    // X-Cache beside source (marked * when inferred, because the API does not expose the header).
    assert.match(newest[3], /^MISS(\* \(inferred\))?$/);
    assert.equal(await page.getAttribute('#request-log tbody tr:first-child', 'data-xcache'), 'MISS');
    assert.match(newest[6], /^404/);
    // Not-found lookups have no fetch_time_ms, so the chart plots two points.
    assert.equal(await chartPoints(page, 'latency-chart'), 2);
    const summary = await page.$$eval('#latency-summary tbody tr', (rows) => rows.map((r) => [r.dataset.tone, r.querySelector('[data-col="count"]').textContent]));
    assert.equal(summary.reduce((n, [, c]) => n + Number(c), 0), 2);
    assert.match(await page.textContent('#latency-summary tr[data-tone="cache"] [data-col="p95"]'), /ms$/);
    // The hit-rate chart gains a sample every second.
    const samples = await chartPoints(page, 'hitrate-chart');
    await page.waitForFunction((n) => Number(document.querySelector('#hitrate-chart').dataset.points) >= n + 2, samples, { timeout: 5000 });
    // The log keeps the last 50.
    await page.fill('#hammer-id', '2');
    await page.fill('#hammer-count', '60');
    await page.click('#hammer-submit');
    await page.waitForFunction(() => /Done: 60/.test(document.querySelector('#hammer-progress').textContent), null, { timeout: 30000 });
    assert.equal(await logRows(page), 50);
    assert.match(await page.textContent('#log-count'), /last 50/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('clear cache asks in a dialog, then the counters and the chart start again', async () => {
  const { page, context, problems } = await open();
  try {
    await lookUp(page, 4);
    await lookUp(page, 4);
    await page.waitForFunction(() => Number(document.querySelector('[data-stat="app.hits"]').textContent.replace(/,/g, '')) > 0);
    assert.ok((await ui.stack.redisKeys('product:*')).length > 0);

    // Cancel leaves everything as it was.
    await page.click('#clear-open');
    await page.waitForSelector('#clear-dialog[open]');
    assert.equal(await page.evaluate(() => document.activeElement.closest('dialog')?.id), 'clear-dialog', 'focus moves into the dialog');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('#clear-dialog').open);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'clear-open', 'focus returns to the button');
    assert.ok((await ui.stack.redisKeys('product:*')).length > 0, 'cancel keeps the cache');

    await page.click('#clear-open');
    await page.click('#clear-confirm');
    await page.waitForFunction(() => !document.querySelector('#clear-dialog').open);
    await page.waitForFunction(() => /Cache cleared at .*key/.test(document.querySelector('#stats-cleared').textContent));
    assert.deepEqual(await ui.stack.redisKeys('product:*'), []);
    assert.equal(await stat(page, 'app.hits'), '0');
    assert.equal(await stat(page, 'app.misses'), '0');
    assert.equal(await stat(page, 'app.hit_rate'), '—');
    assert.equal(await stat(page, 'cache.keyspace_hits'), '0');
    assert.match(await page.textContent('#stats-since'), /since the cache was cleared/);
    assert.equal(await chartPoints(page, 'latency-chart'), 0);
    assert.ok((await chartPoints(page, 'hitrate-chart')) <= 1, 'the hit-rate chart starts again');

    // The next lookup is a miss, counted from the new zero, and stays so across live updates.
    await lookUp(page, 4);
    assert.equal(await perfTone(page), 'database');
    await page.waitForFunction(() => document.querySelector('[data-stat="app.misses"]').textContent === '1');
    assert.equal(await stat(page, 'app.hits'), '0');
    assert.equal(await chartPoints(page, 'latency-chart'), 1);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('screenshot of the main view', async () => {
  await ui.stack.redisCmd('FLUSHALL');
  const { page, context, problems } = await open({ viewport: { width: 1280, height: 800 } });
  try {
    // A scenario first (it clears the product keys), then the lesson: product 1 twice, and a few more.
    assert.equal(await runScenario(page, 'stampede'), 'done');
    for (const id of [5, 10, 1, 1]) await lookUp(page, id);
    await page.fill('#hammer-id', '3');
    await page.fill('#hammer-count', '20');
    await page.click('#hammer-submit');
    await page.waitForSelector('#hammer-result:not([hidden])');
    await lookUp(page, 1);
    await page.waitForFunction(() => Number(document.querySelector('#hitrate-chart').dataset.points) >= 4, null, { timeout: 10000 });
    const file = resultPath('dashboard.png');
    await page.screenshot({ path: file, fullPage: true });
    assert.ok(fs.statSync(file).size > 10000, 'the screenshot has content');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

// Pages closing with their event streams open must not hurt the service.
test('the service is still healthy after the browser tests', async () => {
  await waitFor(async () => (await ui.stack.get('/health')).body?.status === 'healthy', { timeout: 5000, message: 'healthy' });
});
