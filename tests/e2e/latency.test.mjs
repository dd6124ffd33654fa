// The service's own latency in the dashboard: the "Server-side latency by source" table of the
// latency panel (the `latency` of /cache/stats and of the live stream: GET /products/{id} by source,
// every client, from the service's histograms), updated live, in the usual colours, beside the
// page's own browser-measured percentiles; and what the table says when the numbers cannot come.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage } from './lib/browser.mjs';
import { assertHue, lookUp, perfTone, rgbOf, serverLatency } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const SOURCES = ['cache', 'database', 'stale'];
const IDS = [1, 2, 3];

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

/** The service's own counts of GET /products/{id} by source, straight from the API. */
async function apiLatency() {
  const r = await ui.stack.get('/cache/stats');
  assert.equal(r.status, 200);
  return r.body.latency;
}

/** Wait (bounded) until the table shows at least `min` lookups for each given source. */
async function waitForCounts(page, min, timeout = 10000) {
  await page.waitForFunction(
    (want) =>
      Object.entries(want).every(([source, n]) => {
        const raw = document.querySelector(`#server-latency tr[data-source="${source}"] [data-col="count"]`)?.dataset.value;
        return raw !== undefined && raw !== '' && Number(raw) >= n;
      }),
    min,
    { timeout },
  );
}

function assertOrdered(row, what) {
  const { p50_ms: p50, p95_ms: p95, p99_ms: p99, max_ms: max } = row;
  for (const [k, v] of Object.entries({ p50, p95, p99, max })) assert.ok(typeof v === 'number' && v > 0, `${what} ${k} is a positive number: ${v}`);
  assert.ok(p50 <= p95 && p95 <= p99 && p99 <= max, `${what}: p50 ${p50} <= p95 ${p95} <= p99 ${p99} <= max ${max}`);
}

test('server-side latency by source: lookups from the database, then the cache, show up live', async () => {
  await ui.stack.redisCmd('FLUSHALL');
  const start = await apiLatency();
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await page.waitForSelector('#server-latency[data-state="live"]', { state: 'attached' });
    assert.match((await page.textContent('#server-latency-title')).trim(), /^Server-side latency by source \(ms\)$/);
    assert.equal(await page.getAttribute('#server-latency', 'aria-labelledby'), 'server-latency-title');
    const headers = await page.$$eval('#server-latency thead th', (ths) => ths.map((th) => th.textContent.trim()));
    assert.deepEqual(headers, ['source', 'lookups', 'p50', 'p95', 'p99', 'max']);
    const rowHeads = await page.$$eval('#server-latency tbody th[scope="row"]', (ths) => ths.map((th) => th.textContent.trim()));
    assert.deepEqual(rowHeads, SOURCES);
    // The sentence on why these are not the page's round trips.
    const why = await page.textContent('#server-latency-why');
    assert.match(why, /network/);
    assert.match(why, /browser/);
    assert.match(why, /every client/);
    assert.equal(await page.getAttribute('#server-latency', 'aria-describedby'), 'server-latency-why');

    // First lookups: PostgreSQL (a cold cache); then the same ids again: Redis.
    for (const id of IDS) {
      await lookUp(page, id);
      assert.equal(await perfTone(page), 'database', `product ${id}, first lookup`);
    }
    for (const id of IDS) {
      await lookUp(page, id);
      assert.equal(await perfTone(page), 'cache', `product ${id}, second lookup`);
    }

    // The live stream brings the service's counts; no click, no reload.
    await waitForCounts(page, { cache: start.cache.count + IDS.length, database: start.database.count + IDS.length });
    const table = await serverLatency(page);
    assertOrdered(table.cache, 'cache');
    assertOrdered(table.database, 'database');
    // No stale answers: no lookups, no percentiles.
    assert.deepEqual(table.stale, { count: start.stale.count, p50_ms: null, p95_ms: null, p99_ms: null, max_ms: null });
    const staleText = await page.$$eval('#server-latency tr[data-source="stale"] td', (tds) => tds.map((td) => td.textContent.trim()));
    assert.deepEqual(staleText, ['0', '—', '—', '—', '—']);
    assert.match(await page.textContent('#server-latency tr[data-source="cache"] [data-col="p95_ms"]'), /^\d[\d.,]* ms$/);
    assert.match(await page.textContent('#server-latency-status'), /^Every client, since the service started; updated \d{2}:\d{2}:\d{2}\.$/);

    // The table shows what the API reports (nothing else looks products up meanwhile).
    const api = await apiLatency();
    for (const source of ['cache', 'database']) assert.deepEqual(table[source], api[source], `${source}: the table and /cache/stats agree`);

    // In the colours of the sources, beside the page's own browser-measured percentiles.
    assertHue(await rgbOf(page, '#server-latency tr[data-source="cache"] th > span'), 'cache', 'cache swatch');
    assertHue(await rgbOf(page, '#server-latency tr[data-source="database"] th > span'), 'database', 'database swatch');
    assertHue(await rgbOf(page, '#server-latency tr[data-source="stale"] th > span'), 'fallback', 'stale swatch');
    assert.equal(await page.textContent('#latency-summary tr[data-tone="cache"] [data-col="count"]'), String(IDS.length));
    assert.match(await page.textContent('#latency-summary tr[data-tone="database"] [data-col="p95rt"]'), /ms$/);

    // Lookups by another client count too, and arrive without a reload.
    for (let i = 0; i < 3; i++) assert.equal((await ui.stack.get('/products/1')).status, 200);
    await waitForCounts(page, { cache: table.cache.count + 3 });
    assertOrdered((await serverLatency(page)).cache, 'cache, after the other client');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('server-side latency while polling, and from a service that does not report it', async () => {
  const noStream = (p) => p.route('**/events', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"detail":"Not Found"}' }));

  // Polling /cache/stats brings the same table.
  const polled = await openPage(browser, ui.pageUrl(), { beforeGoto: noStream });
  try {
    await polled.page.waitForSelector('#feed-mode[data-mode="polling"]', { state: 'attached' });
    const before = (await apiLatency()).cache.count;
    await lookUp(polled.page, 4);
    await lookUp(polled.page, 4);
    await waitForCounts(polled.page, { cache: before + 1 });
    assertOrdered((await serverLatency(polled.page)).cache, 'cache (polling)');
    assert.deepEqual(polled.problems, []);
  } finally {
    await polled.context.close();
  }

  // An older service: /cache/stats without `latency`.
  const old = await openPage(browser, ui.pageUrl(), {
    beforeGoto: async (p) => {
      await noStream(p);
      await p.route('**/cache/stats', async (route) => {
        const res = await route.fetch();
        const body = await res.json();
        delete body.latency;
        await route.fulfill({ response: res, json: body });
      });
    },
  });
  try {
    await old.page.waitForSelector('#server-latency[data-state="unsupported"]', { state: 'attached' });
    assert.match(await old.page.textContent('#server-latency-status'), /does not report its latency/);
    const cells = await old.page.$$eval('#server-latency tbody td', (tds) => [...new Set(tds.map((td) => td.textContent.trim()))]);
    assert.deepEqual(cells, ['—']);
    assert.deepEqual(old.problems, []);
  } finally {
    await old.context.close();
  }
});
