// The Cache warming panel (Labs section): "Warm now" starts POST /cache/warm, the progress bar and the
// status follow the run to its end (from the stream's `event: warm`), the products are then in Redis;
// "the most viewed" with no views counted warms nothing and says why; with ADMIN_TOKEN set the panel
// asks for the token and starts the warm once it is given.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage } from './lib/browser.mjs';
import { showSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const TOKEN = 'e2e-warm-token';
let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser({ env: { ADMIN_TOKEN: TOKEN } }));
});

after(() => close?.());

function statusState(page, state) {
  return page.waitForFunction((s) => document.querySelector('#warm-status').dataset.state === s, state, { timeout: 15000 });
}

test('Warm now: asks for the admin token, then warms every product; the bar fills and the status gives the figures', async () => {
  await ui.stack.redisCmd('FLUSHALL');
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await showSection(page, 'labs');
    await page.waitForSelector('#warm-status[data-state="idle"]');
    assert.equal(await page.isDisabled('#warm-top'), true, 'no count for "all"');
    await page.fill('#warm-rate', '50');
    await page.click('#warm-start');
    await statusState(page, 'auth');
    await page.fill('#admin-token', TOKEN);
    await page.click('#admin-token-submit');
    await statusState(page, 'done');
    assert.equal(await page.getAttribute('#warm-progress', 'aria-valuenow'), '100');
    assert.match(await page.textContent('#warm-status'), /\(all\) done in [\d.]+ s: 15 warmed, 0 skipped of 15\./);
    assert.equal((await ui.stack.redisKeys('product:*')).length, 15, 'the seed is in Redis');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the most viewed, with no views counted: nothing warmed, and the panel says why', async () => {
  await ui.stack.redisCmd('FLUSHALL');
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await showSection(page, 'labs');
    await page.waitForSelector('#warm-status[data-state="done"]');
    await page.selectOption('#warm-mode', 'top');
    assert.equal(await page.isDisabled('#warm-top'), false);
    await page.fill('#warm-top', '5');
    await page.click('#warm-start');
    await statusState(page, 'auth');
    await page.fill('#admin-token', TOKEN);
    await page.click('#admin-token-submit');
    await page.waitForFunction(() => /\(top:5\) done/.test(document.querySelector('#warm-status').textContent), null, { timeout: 15000 });
    assert.match(await page.textContent('#warm-status'), /leaderboard is empty/);
    assert.deepEqual(await ui.stack.redisKeys('product:*'), []);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
