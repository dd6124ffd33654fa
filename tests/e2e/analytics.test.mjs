// The Analytics section: views made through the API show up live — trending, the all-time
// leaderboard, and the product's views per minute with its unique visitors — and the section reads
// nothing from the API while it is hidden (each read is one Redis counts in its keyspace figures).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request, waitFor } from '../lib/util.mjs';
import { openPage } from './lib/browser.mjs';
import { showSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser({ env: { TRUSTED_PROXIES: '127.0.0.1' } }));
});

after(() => close?.());

/** The rows of a ranking table as [product id, value] pairs. */
function ranking(page, id) {
  return page.$$eval(`#${id} tbody tr[data-product-id]`, (trs) => trs.map((tr) => [Number(tr.dataset.productId), tr.cells[2].textContent.trim()]));
}

test('views made through the API appear in trending, the leaderboard and the per-minute views', async () => {
  await ui.stack.redisCmd('FLUSHALL');
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  const analyticsReads = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/analytics/')) analyticsReads.push(r.url());
  });
  try {
    // Hidden: no reads (the page opens on Lookup).
    await page.waitForSelector('div[data-section="lookup"]:not([hidden])');
    const views = { 4: 5, 9: 3, 2: 1 };
    for (const [id, n] of Object.entries(views)) {
      for (let i = 0; i < n; i++) {
        const r = await request(`${ui.stack.url}/products/${id}`, { headers: { 'X-Forwarded-For': `198.51.100.${i + 1}` } });
        assert.equal(r.status, 200);
      }
    }
    await waitFor(async () => {
      const s = (await request(`${ui.stack.url}/analytics/stats`)).body;
      return s.views_sent === 9;
    }, { message: 'the views sent to Redis' });
    assert.deepEqual(analyticsReads, [], 'nothing read while the section is hidden');

    await showSection(page, 'analytics');
    await page.waitForFunction(() => document.querySelectorAll('#analytics-leaderboard-table tbody tr[data-product-id]').length === 3);
    assert.deepEqual(await ranking(page, 'analytics-leaderboard-table'), [[4, '5'], [9, '3'], [2, '1']]);
    assert.deepEqual((await ranking(page, 'analytics-trending-table')).map(([id]) => id), [4, 9, 2]);

    // Empty id: the top trending product, 5 views from 5 addresses.
    await page.waitForFunction(() => document.querySelector('#analytics-minutes').dataset.productId === '4');
    assert.equal((await page.textContent('#analytics-product-total')).trim(), '5');
    assert.equal((await page.textContent('#analytics-product-visitors')).trim(), '5');
    const bars = await page.$$eval('#analytics-minutes tbody tr', (trs) => trs.map((tr) => Number(tr.cells[1].textContent.trim())));
    assert.equal(bars.length, 15);
    assert.equal(bars.reduce((a, b) => a + b, 0), 5);

    // Another product by id; and live: a new view shows up without touching the page.
    await page.fill('#analytics-product-id', '9');
    await page.click('#analytics-product-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#analytics-minutes').dataset.productId === '9');
    assert.equal((await page.textContent('#analytics-product-visitors')).trim(), '3');
    for (let i = 0; i < 4; i++) await request(`${ui.stack.url}/products/9`);
    await page.waitForFunction(() => document.querySelector('#analytics-product-total').textContent.trim() === '7', null, { timeout: 10000 });
    await page.waitForFunction(() => document.querySelector('#analytics-leaderboard-table tbody tr[data-product-id]')?.dataset.productId === '9');
    assert.match(await page.textContent('#analytics-status'), /^Updated /);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('with Redis down the section says so instead of showing figures', { timeout: 60000 }, async () => {
  const { page, context } = await openPage(browser, `${ui.pageUrl()}#analytics`);
  try {
    await page.waitForSelector('div[data-section="analytics"]:not([hidden])');
    await page.waitForFunction(() => /^Updated /.test(document.querySelector('#analytics-status').textContent));
    await ui.stack.killRedis();
    try {
      await page.waitForFunction(() => /Redis is not answering/.test(document.querySelector('#analytics-status').textContent), null, { timeout: 15000 });
    } finally {
      await ui.stack.startRedis();
    }
  } finally {
    await context.close();
  }
});
