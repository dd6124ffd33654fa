// The API cannot be reached: the page shows a banner (no alert boxes), keeps retrying with back-off,
// and recovers by itself when the API answers again; it also notices when the API goes away while
// the page is open. The page reaches the API through a relay the test switches on and off.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort } from '../lib/util.mjs';
import { openPage } from './lib/browser.mjs';
import { cardFields, lookUp } from './lib/dashboard.mjs';
import { startProxy } from './lib/tcp-proxy.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let proxy;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(async () => {
  await proxy?.close();
  await close?.();
});

test('API unreachable: a banner, lookups fail in words, and the page recovers when the API answers', async () => {
  const port = await freePort(); // nothing listens here yet
  const api = `http://127.0.0.1:${port}`;
  const { page, context, problems } = await openPage(browser, ui.pageUrl({ api }));
  try {
    await page.waitForSelector('#banner-unreachable', { state: 'visible', timeout: 10000 });
    assert.match(await page.textContent('#banner-unreachable'), new RegExp(`cannot be reached at ${api}`));
    assert.match(await page.textContent('#banner-unreachable-retry'), /Retrying/);
    assert.match(await page.textContent('#health-overall'), /API unreachable/);
    assert.equal(await page.getAttribute('#feed-mode', 'data-mode'), 'offline');

    await lookUp(page, 1);
    assert.match(await page.textContent('#result-message'), /the API did not answer/);
    assert.match(await page.textContent('#request-log tbody tr:first-child'), /no answer/);
    assert.equal(await page.isVisible('#banner-unreachable'), true);

    // The API appears on that address: the retries find it, without a reload.
    proxy = await startProxy(port, ui.stack.port);
    await page.waitForSelector('#banner-unreachable', { state: 'hidden', timeout: 15000 });
    await page.waitForSelector('#health-redis[data-state="up"]', { state: 'attached' });
    await lookUp(page, 1);
    assert.equal((await cardFields(page)).id, '1');

    // It goes away while the page is open: the banner comes back.
    await proxy.close();
    proxy = undefined;
    await page.waitForSelector('#banner-unreachable', { state: 'visible', timeout: 15000 });
    assert.deepEqual(problems, [], 'no alert boxes, no page errors');
  } finally {
    await context.close();
  }
});

test('"Retry now" polls at once', async () => {
  const port = await freePort();
  const { page, context, problems } = await openPage(browser, ui.pageUrl({ api: `http://127.0.0.1:${port}` }));
  try {
    await page.waitForSelector('#banner-unreachable', { state: 'visible', timeout: 10000 });
    // Let the back-off grow, then bring the API up and ask for a retry.
    await page.waitForFunction(() => /Retrying in [3-5] s/.test(document.querySelector('#banner-unreachable-retry').textContent), null, { timeout: 15000 });
    proxy = await startProxy(port, ui.stack.port);
    await page.click('#banner-retry');
    await page.waitForSelector('#banner-unreachable', { state: 'hidden', timeout: 2000 });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await proxy?.close();
    proxy = undefined;
  }
});
