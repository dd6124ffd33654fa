// The edit form against the other write modes (edit.test.mjs covers the default, invalidate):
// write-through stores the new data in the cache, so the very next lookup comes from the cache
// (green) with it; write-behind answers 202 once the change is queued and cached, and PostgreSQL
// gets it a little later. The page says which before the lookup is made.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '../lib/util.mjs';
import { openPage, resultPath } from './lib/browser.mjs';
import { assertHue, cardFields, loadForEdit, lookUpAgain, perfTone, rgbOf, showSection, statNumber } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser({ env: { CACHE_WRITE_MODE: 'write-through' } }));
});

after(() => close?.());

test('write-through: after a save the next lookup comes from the cache with the new data', async () => {
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await page.waitForFunction(() => document.querySelector('#write-mode').textContent === 'write-through');
    assert.match(await page.textContent('#write-mode-text'), /stores the new data in the cache/);
    assert.equal(await page.isVisible('#write-behind-stats'), false, 'no queue figures in this mode');
    assert.equal(await page.isVisible('#write-behind-note'), false, 'nor their explanation');

    await ui.stack.redisCmd('FLUSHALL');
    await loadForEdit(page, 8);
    await page.fill('#edit-name', 'Written through');
    await page.fill('#edit-price', '321.09');
    await page.click('#edit-save');
    await page.waitForSelector('#write-result:not([hidden])');
    assert.equal((await page.textContent('#write-mode-header')).trim(), 'write-through');
    assert.equal((await page.textContent('#write-cache-action')).trim(), 'stored');
    assert.match(await page.textContent('#write-explain'), /new data was stored in the cache/);
    assert.equal(await page.getAttribute('#write-expect [data-tone]', 'data-tone'), 'cache');
    const raw = await ui.stack.redisCmd('GET', 'product:8');
    const cached = JSON.parse(raw); // The product's JSON, as stored.
    assert.equal(cached.name, 'Written through');

    assert.equal(await lookUpAgain(page), 'as-expected');
    assert.equal(await page.getAttribute('#write-lookup-result', 'data-source'), 'cache');
    assertHue(await rgbOf(page, '#write-lookup-result [data-tone]'), 'cache', 'write-result badge');
    assert.equal(await perfTone(page), 'cache');
    const fields = await cardFields(page);
    assert.equal(fields.name, 'Written through');
    assert.equal(fields.price, '$321.09');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('write-behind: the save is accepted (202), the next lookup comes from the cache, PostgreSQL follows', async () => {
  await ui.restartService({ CACHE_WRITE_MODE: 'write-behind' });
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await page.waitForFunction(() => document.querySelector('#write-mode').textContent === 'write-behind');
    assert.match(await page.textContent('#write-mode-text'), /queued in Redis/);
    await showSection(page, 'writes');
    await page.waitForSelector('#write-behind-stats', { state: 'visible' });

    await loadForEdit(page, 9);
    await page.fill('#edit-name', 'Written behind');
    await page.click('#edit-save');
    await page.waitForSelector('#write-result:not([hidden])');
    assert.match(await page.textContent('#write-request'), /^PATCH \/products\/9 → 202 Accepted$/);
    assert.equal((await page.textContent('#write-mode-header')).trim(), 'write-behind');
    assert.equal((await page.textContent('#write-cache-action')).trim(), 'queued');
    assert.equal(await page.getAttribute('#write-expect [data-tone]', 'data-tone'), 'cache');

    assert.equal(await lookUpAgain(page), 'as-expected');
    assert.equal(await perfTone(page), 'cache');
    assert.equal((await cardFields(page)).name, 'Written behind');
    await waitFor(async () => (await ui.stack.psql('SELECT name FROM products WHERE id = 9')) === 'Written behind', {
      timeout: 10000,
      message: 'the queued write in PostgreSQL',
    });
    await page.waitForFunction(() => Number(document.querySelector('[data-stat="wb.applied"]').textContent.replace(/,/g, '')) >= 1, null, { timeout: 5000 });
    assert.ok((await statNumber(page, 'wb.pending')) >= 0);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('write-behind: a save PostgreSQL refuses for good is listed as a dead letter with its error, and the queue goes on', async () => {
  // A constraint the form cannot know about: the save is queued (202), then refused (23514) when applied.
  await ui.stack.psql(`ALTER TABLE products ADD CONSTRAINT test_no_forbidden_name CHECK (name <> 'Forbidden name') NOT VALID`);
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await page.waitForFunction(() => document.querySelector('#write-mode').textContent === 'write-behind');
    await showSection(page, 'writes');
    assert.equal(await page.isVisible('#dead-letters'), false, 'no dead letters listed before');
    assert.equal(await page.isVisible('#write-behind-note'), true, 'the queue figures are explained');
    const before = await statNumber(page, 'wb.dead_letters');

    await loadForEdit(page, 10);
    await page.fill('#edit-name', 'Forbidden name');
    await page.click('#edit-save');
    await page.waitForSelector('#write-result:not([hidden])');
    assert.match(await page.textContent('#write-request'), /^PATCH \/products\/10 → 202 Accepted$/);

    await page.waitForSelector('#dead-letters', { state: 'visible', timeout: 10000 });
    await page.waitForFunction((n) => Number(document.querySelector('[data-stat="wb.dead_letters"]').textContent.replace(/,/g, '')) === n + 1, before, { timeout: 5000 });
    const item = page.locator('#dead-letter-list li').first();
    assert.match(await item.textContent(), /^product 10 · update/);
    assert.match(await item.locator('.dead-letter-error').textContent(), /^23514: new row for relation "products" violates check constraint "test_no_forbidden_name"/);
    await page.locator('#write-mode-panel').screenshot({ path: resultPath('write-behind-dead-letter.png') });

    // The queue was not held up: a later save is applied.
    await loadForEdit(page, 11);
    await page.fill('#edit-name', 'Saved after the refused one');
    await page.click('#edit-save');
    await waitFor(async () => (await ui.stack.psql('SELECT name FROM products WHERE id = 11')) === 'Saved after the refused one', {
      timeout: 10000,
      message: 'the later write in PostgreSQL',
    });
    assert.notEqual(await ui.stack.psql('SELECT name FROM products WHERE id = 10'), 'Forbidden name');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await ui.stack.psql('ALTER TABLE products DROP CONSTRAINT IF EXISTS test_no_forbidden_name');
  }
});
