// Failures behind the dashboard: Redis stopped (degraded: lookups served from PostgreSQL, in
// amber) and PostgreSQL stopped (unhealthy: cached products only). The page says so in plain
// words, keeps working, and recovers by itself when the server is back.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '../lib/util.mjs';
import { openPage } from './lib/browser.mjs';
import { assertHue, cardFields, lookUp, openHealth, perfTone, rgbOf, showSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

test('stopping Redis shows the degraded banner, and lookups still work', async () => {
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await page.waitForSelector('#health-redis[data-state="up"]', { state: 'attached' });
    assert.equal(await page.isVisible('#banner-degraded'), false);

    await ui.stack.killRedis();
    await page.waitForSelector('#banner-degraded', { state: 'visible', timeout: 10000 });
    assert.match(await page.textContent('#banner-degraded'), /Redis is down.*Lookups still work/s);
    await page.waitForSelector('#health-redis[data-state="down"]', { state: 'attached' });
    assert.match(await page.textContent('#health-overall'), /degraded: Redis down/i);
    assert.equal(await page.isVisible('#banner-unreachable'), false, 'the API itself is reachable');
    // The chip's details never say the breaker is closed ("using Redis") while Redis is down.
    await openHealth(page);
    const breaker = await page.getAttribute('#health-breaker', 'data-state');
    if (!['open', 'half-open'].includes(breaker)) assert.equal(await page.isVisible('#health-breaker'), false, `breaker ${breaker} shown while Redis is down`);

    // Lookups are answered from PostgreSQL and shown as the fallback, in amber.
    for (const id of [2, 2]) {
      await lookUp(page, id);
      assert.equal((await cardFields(page)).id, String(id));
      assert.equal(await perfTone(page), 'fallback');
      assertHue(await rgbOf(page, '#perf-source > span'), 'fallback', 'fallback badge');
    }
    assert.match(await page.textContent('#perf-source'), /database \(fallback/i);
    await showSection(page, 'stats');
    await page.waitForSelector('#redis-unavailable', { state: 'visible' });
    assert.equal((await page.textContent('[data-stat="cache.keyspace_hits"]')).trim(), '—');

    // Clearing is refused in words, inside the dialog.
    await showSection(page, 'lookup');
    await page.click('#clear-open');
    await page.click('#clear-confirm');
    await page.waitForFunction(() => /not cleared: Redis is down/.test(document.querySelector('#clear-dialog-error').textContent));
    await page.click('#clear-cancel');

    // Redis back: the banner goes, and caching resumes.
    await ui.stack.startRedis();
    await page.waitForSelector('#banner-degraded', { state: 'hidden', timeout: 20000 });
    await page.waitForSelector('#health-redis[data-state="up"]', { state: 'attached' });
    // The circuit breaker closes again after its open period and a successful trial command;
    // until then lookups still skip Redis.
    await page.waitForSelector('#health-breaker[data-state="closed"]', { state: 'attached', timeout: 10000 });
    // Each event loop has its own Redis connection and breaker, and the one that answers the page's
    // next lookup may still be skipping Redis for a moment (fallback). Look up until an answer comes
    // from the cache again: the first that used Redis missed (Redis lost its data), and filled it.
    const tones = [];
    await waitFor(
      async () => {
        await lookUp(page, 2);
        tones.push(await perfTone(page));
        return tones.at(-1) === 'cache';
      },
      { timeout: 20000, interval: 100, message: 'a lookup answered from the cache again' },
    );
    const used = tones.filter((t) => t !== 'fallback');
    assert.deepEqual(used.slice(0, 1), ['database'], `after Redis came back, the first lookup that used it missed: ${tones}`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('stopping PostgreSQL: cached products are still served, others say the database is unavailable', async () => {
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await page.waitForSelector('#health-postgres[data-state="up"]', { state: 'attached' });
    await lookUp(page, 1); // now cached, whatever it was before
    await ui.stack.stopPostgres();
    await page.waitForSelector('#banner-degraded', { state: 'visible', timeout: 15000 });
    assert.match(await page.textContent('#banner-degraded'), /PostgreSQL is down.*already in the cache are still served/s);
    await page.waitForSelector('#health-postgres[data-state="down"]', { state: 'attached' });

    await lookUp(page, 1);
    assert.equal(await perfTone(page), 'cache');
    await lookUp(page, 9);
    assert.match(await page.textContent('#result-message'), /Product 9 not served: database unavailable/);
    assert.match(await page.textContent('#request-log tbody tr:first-child'), /503/);
    // The outcome follows the status code: a 503 served nothing, so no source colour, no MISS badge
    // (even though the answer carries X-Cache: MISS) and no "read from PostgreSQL, then cached".
    assert.equal(await perfTone(page), 'none');
    assert.match(await page.textContent('#perf-source'), /Not served \(HTTP 503\)/);
    assert.equal(await page.getAttribute('#perf-xcache > span', 'data-tone'), 'none', 'the X-Cache badge is not coloured as a miss');
    assert.equal(await page.getAttribute('#request-log tbody tr:first-child td:nth-child(4) > span', 'data-tone'), 'none', 'nor in the log');
    const said = await page.evaluate(() => document.querySelector('#product').textContent);
    assert.doesNotMatch(said, /then cached|read from PostgreSQL/, 'nothing says the product was read and cached');
    assert.equal(await page.isVisible('#product-card'), false);

    await ui.stack.startPostgres();
    await page.waitForSelector('#banner-degraded', { state: 'hidden', timeout: 20000 });
    await lookUp(page, 9);
    assert.equal((await cardFields(page)).id, '9');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
