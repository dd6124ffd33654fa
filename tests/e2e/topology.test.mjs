// The Topology panel (Live stats) on the single topology: the one Redis master with its role, state
// and key count as Redis gives them, PostgreSQL's primary and no replica, no slot bar (not a
// cluster), the "which node holds this key" box answering with the master and whether the key is
// there, a bad key refused with the API's words, and a dead Redis shown as down.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage } from './lib/browser.mjs';
import { showSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

test('the Topology panel: the master, the primary, the key box; a dead Redis shows as down', { timeout: 60000 }, async () => {
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await showSection(page, 'stats');
    const master = `127.0.0.1:${ui.stack.redisPort}`;
    await page.waitForSelector(`#topo-nodes tbody tr[data-address="${master}"]`);
    assert.equal(await page.getAttribute('#topo-mode', 'data-mode'), 'single');
    assert.match(await page.textContent('#topo-mode'), new RegExp(`master ${master.replaceAll('.', '\\.')}`));
    const row = `#topo-nodes tbody tr[data-address="${master}"]`;
    assert.equal(await page.getAttribute(row, 'data-role'), 'master');
    assert.equal(await page.getAttribute(row, 'data-state'), 'up');
    assert.equal(await page.isVisible('#topo-slots'), false, 'no slot bar without a cluster');
    assert.match(await page.textContent('#topo-primary'), new RegExp(`127\\.0\\.0\\.1:${ui.stack.pgPort} · up`));
    assert.match(await page.textContent('#topo-replica'), /none/);
    assert.equal(await page.isVisible('#topo-events-empty'), true, 'no event yet');

    // Which node holds a key: product 3 once it is cached, then a key that is not there.
    assert.equal((await ui.stack.get('/products/3')).status, 200);
    await ui.stack.waitForKeys('product:3');
    await page.fill('#topo-key', 'product:3');
    await page.click('#topo-key-form button[type=submit]');
    await page.waitForFunction(() => /product:3: on /.test(document.querySelector('#topo-key-result').textContent));
    assert.equal(await page.getAttribute('#topo-key-result', 'data-node'), master);
    assert.match(await page.textContent('#topo-key-result'), /\(present\)/);
    await page.fill('#topo-key', 'nothing:here');
    await page.click('#topo-key-form button[type=submit]');
    await page.waitForFunction(() => /not there now/.test(document.querySelector('#topo-key-result').textContent));
    await page.fill('#topo-key', '');
    await page.click('#topo-key-form button[type=submit]');
    await page.waitForFunction(() => /Not asked: key must be 1 to 1024 bytes/.test(document.querySelector('#topo-key-result').textContent));

    // Redis killed: the next refresh (every 5 s) shows the master down.
    await ui.stack.killRedis('SIGKILL');
    try {
      await page.waitForSelector(`${row}[data-state="down"]`, { timeout: 20000 });
    } finally {
      await ui.stack.startRedis();
    }
    await page.waitForSelector(`${row}[data-state="up"]`, { timeout: 20000 });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
