// Accessibility and layout: every control has a label, the page works from the keyboard alone, the
// confirmation dialogs say what they ask, text has enough contrast, and the page fits a phone screen
// without sideways scrolling.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { accessibleNode, contrastFailures } from './lib/a11y.mjs';
import { openPage, resultPath } from './lib/browser.mjs';
import { cardFields, ensureSection, loadForEdit, lookUp, perfTone, showSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

test('every form control and button has an accessible name', async () => {
  const { page, context } = await openPage(browser, ui.pageUrl());
  try {
    await lookUp(page, 1);
    const unnamed = await page.$$eval('input, select, textarea, button, a[href]', (els) =>
      els
        .filter((el) => {
          const name = el.getAttribute('aria-label') || (el.labels && [...el.labels].map((l) => l.textContent).join('')) || el.textContent;
          return !name || !name.trim();
        })
        .map((el) => el.outerHTML.slice(0, 120)),
    );
    assert.deepEqual(unnamed, []);
    // One h1, and every panel is a section labelled by its heading.
    assert.equal(await page.$$eval('h1', (h) => h.length), 1);
    const sections = await page.$$eval('main section', (ss) => ss.map((s) => document.getElementById(s.getAttribute('aria-labelledby'))?.textContent.trim()));
    assert.ok(sections.length >= 7 && sections.every(Boolean), `labelled sections: ${sections}`);
  } finally {
    await context.close();
  }
});

test('keyboard only: look up a product and use the clear-cache dialog', async () => {
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    // Tab from the top of the page to the id field.
    let focused = '';
    for (let i = 0; i < 15 && focused !== 'product-id'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement.id);
    }
    assert.equal(focused, 'product-id', 'the id field is reachable with Tab');
    await page.keyboard.type('6');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#product-card [data-field="id"]').textContent === '6');
    assert.ok(['cache', 'database'].includes(await perfTone(page)));

    // A quick-test button with the keyboard.
    await page.focus('[data-quick-id="5"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#product-card [data-field="id"]').textContent === '5');

    // The dialog: opened with Enter, Escape closes it and gives focus back.
    await page.focus('#clear-open');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#clear-dialog[open]');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'clear-cancel', 'the safe choice has focus');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('#clear-dialog').open);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'clear-open');
    // Tab to "Clear cache" inside the dialog and confirm with the keyboard.
    await page.keyboard.press('Enter');
    await page.waitForSelector('#clear-dialog[open]');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'clear-confirm');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /Cache cleared/.test(document.querySelector('#stats-cleared').textContent));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('both confirmation dialogs are modal, named by their title, described by their text, Cancel first', async () => {
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await loadForEdit(page, 2);
    const dialogs = [
      { prefix: 'clear', section: 'lookup', opener: '#clear-open', name: /^Clear the cache\?$/, description: /^Every cached product is removed from Redis/, confirm: 'Clear cache' },
      { prefix: 'delete', section: 'writes', opener: '#edit-delete', name: /^Delete product 2\s?\?$/, description: /^“.+” is deleted from PostgreSQL \(DELETE \/products\/2\)/, confirm: 'Delete product' },
    ];
    for (const d of dialogs) {
      await ensureSection(page, d.section);
      await page.click(d.opener);
      await page.waitForSelector(`#${d.prefix}-dialog[open]`);
      const node = await accessibleNode(page, context, `#${d.prefix}-dialog`);
      assert.equal(node.role, 'dialog', `${d.prefix}: role`);
      assert.equal(node.modal, true, `${d.prefix}: modal`);
      assert.match(node.name, d.name, `${d.prefix}: accessible name`);
      assert.match(node.description, d.description, `${d.prefix}: accessible description`);
      const buttons = await page.$$eval(`#${d.prefix}-dialog button`, (bs) => bs.map((b) => [b.id, b.value, b.textContent.trim()]));
      assert.deepEqual(buttons, [[`${d.prefix}-cancel`, 'cancel', 'Cancel'], [`${d.prefix}-confirm`, 'confirm', d.confirm]]);
      assert.equal(await page.evaluate(() => document.activeElement.id), `${d.prefix}-cancel`, `${d.prefix}: the safe choice has focus`);
      await page.keyboard.press('Escape');
      await page.waitForFunction((id) => !document.getElementById(id).open, `${d.prefix}-dialog`);
      assert.equal(await page.evaluate(() => `#${document.activeElement.id}`), d.opener, `${d.prefix}: focus back on the button`);
    }
    assert.equal((await ui.stack.get('/products/2')).status, 200, 'Escape deleted nothing');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('text contrast is at least 4.5:1 (3:1 for large text)', async () => {
  const { page, context } = await openPage(browser, ui.pageUrl());
  try {
    await lookUp(page, 1);
    await lookUp(page, 1);
    await page.waitForSelector('#health-redis[data-state="up"]', { state: 'attached' });
    const failures = await contrastFailures(page);
    assert.deepEqual(failures, []);
  } finally {
    await context.close();
  }
});

test('phone width: no sideways scrolling, and lookups still work', async () => {
  const { page, context, problems } = await openPage(browser, ui.pageUrl(), { viewport: { width: 360, height: 780 } });
  try {
    await lookUp(page, 3);
    assert.equal((await cardFields(page)).id, '3');
    const { scrollWidth, clientWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
    // Panels stack in one column (those of the section shown).
    const lefts = await page.$$eval('main section', (ss) => [...new Set(ss.filter((s) => s.offsetParent).map((s) => Math.round(s.getBoundingClientRect().left)))]);
    assert.equal(lefts.length, 1, `one column, got left edges ${lefts}`);
    // The chart fits its panel.
    await showSection(page, 'stats');
    await page.waitForSelector('#latency-chart canvas');
    const chart = await page.$eval('#latency-chart canvas', (c) => c.getBoundingClientRect().right);
    assert.ok(chart <= clientWidth, 'the chart fits the screen');
    await page.screenshot({ path: resultPath('dashboard-phone.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
