// Writes from the dashboard against a real stack (default CACHE_WRITE_MODE=invalidate): the edit
// form saves only what changed and the next lookup comes from the database with the new data;
// validation shows next to the fields, without a request, and the API's own 422 lands in the same
// place; a change made straight in PostgreSQL (psql) shows up in the invalidations feed; a delete
// asks first, then the product is gone. Plus the write mode and the write counters in the
// statistics, the feed's note while polling, keyboard use and contrast of the new panels.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { contrastFailures } from './lib/a11y.mjs';
import { openPage } from './lib/browser.mjs';
import {
  assertHue,
  cardFields,
  editValues,
  fieldError,
  loadForEdit,
  lookUp,
  lookUpAgain,
  perfTone,
  recordWrites,
  rgbOf,
  showSection,
  stat,
  statNumber,
} from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

async function open(opts) {
  return openPage(browser, ui.pageUrl(), opts);
}

test('edit product 2: only the price is sent, and the next lookup comes from the database with it', async () => {
  const { page, context, problems } = await open();
  try {
    const writes = recordWrites(page);
    const seeded = await ui.stack.dbProduct(2);
    const newPrice = Number(seeded.price) === 123.45 ? 234.56 : 123.45;
    const shown = `$${newPrice.toFixed(2)}`;

    await loadForEdit(page, 2);
    const values = await editValues(page);
    assert.equal(values.name, seeded.name);
    assert.equal(values.price, Number(seeded.price).toFixed(2));
    assert.equal(values.category, seeded.category ?? '');
    // Loading is a lookup: the cache now holds product 2.
    await ui.stack.waitForKeys('product:2');

    await page.fill('#edit-price', String(newPrice));
    await page.click('#edit-save');
    await page.waitForSelector('#write-result:not([hidden])');
    assert.match(await page.textContent('#write-request'), /^PATCH \/products\/2 → 200 OK$/);
    assert.deepEqual(writes, [{ method: 'PATCH', path: '/products/2', body: { price: newPrice } }], 'a PATCH of the changed field only');
    assert.match(await page.textContent('#edit-status'), /Saved product 2 \(price\)/);

    // The write's headers, and what they mean for the next lookup.
    assert.equal((await page.textContent('#write-mode-header')).trim(), 'invalidate');
    assert.equal((await page.textContent('#write-cache-action')).trim(), 'deleted');
    assert.match(await page.textContent('#write-explain'), /cached copy was deleted/);
    assert.equal(await page.getAttribute('#write-expect [data-tone]', 'data-tone'), 'database');

    // PostgreSQL has the new price; Redis no longer has the old row.
    assert.equal(Number((await ui.stack.dbProduct(2)).price), newPrice);
    assert.equal(await ui.stack.redisCmd('EXISTS', 'product:2'), 0, 'the cached copy is gone');

    // "Look it up again": database (blue), with the new price, everywhere the lookup shows.
    assert.equal(await lookUpAgain(page), 'as-expected');
    assert.equal(await page.getAttribute('#write-lookup-result', 'data-source'), 'database');
    assertHue(await rgbOf(page, '#write-lookup-result [data-tone]'), 'database', 'write-result badge');
    assert.match(await page.textContent('#write-lookup-result'), new RegExp(`price \\${shown}`));
    assert.equal(await perfTone(page), 'database');
    assert.equal((await cardFields(page)).price, shown);
    // And the lookup after that is a cache hit with the same new price.
    await lookUp(page, 2);
    assert.equal(await perfTone(page), 'cache');
    assert.equal((await cardFields(page)).price, shown);

    // The statistics show the mode and count the write.
    assert.equal((await page.textContent('#write-mode')).trim(), 'invalidate');
    assert.match(await page.textContent('#write-mode-text'), /deletes the cached copy/);
    await page.waitForFunction(() => Number(document.querySelector('[data-stat="app.writes"]').textContent.replace(/,/g, '')) >= 1, null, { timeout: 5000 });
    assert.ok((await statNumber(page, 'app.invalidations')) >= 1);
    assert.equal(await page.isVisible('#write-behind-stats'), false, 'no write-behind queue in invalidate mode');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('validation errors show next to the field, and nothing is sent', async () => {
  const { page, context, problems } = await open();
  try {
    const writes = recordWrites(page);
    await loadForEdit(page, 3);

    await page.fill('#edit-price', '1.234');
    await page.click('#edit-save');
    await page.waitForFunction(() => document.querySelector('#edit-price-error').textContent !== '');
    assert.equal(await fieldError(page, 'price'), 'Decimal input should have no more than 2 decimal places');
    assert.equal(await page.getAttribute('#edit-price', 'aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'edit-price', 'focus moves to the field to fix');
    assert.match(await page.textContent('#edit-form-error'), /Check price/);
    assert.equal(await fieldError(page, 'name'), '');

    // Several at once: each next to its own field, focus on the first.
    await page.fill('#edit-name', '');
    await page.fill('#edit-price', '-1');
    await page.fill('#edit-category', 'c'.repeat(101));
    await page.press('#edit-price', 'Enter');
    await page.waitForFunction(() => document.querySelector('#edit-name-error').textContent !== '');
    assert.equal(await fieldError(page, 'name'), 'String should have at least 1 character');
    assert.equal(await fieldError(page, 'price'), 'Input should be greater than or equal to 0');
    assert.equal(await fieldError(page, 'category'), 'String should have at most 100 characters');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'edit-name');
    // The message is tied to its field for assistive technology.
    assert.match(await page.getAttribute('#edit-name', 'aria-describedby'), /edit-name-error/);
    // Typing in a field clears its message only.
    await page.type('#edit-name', 'x');
    assert.equal(await fieldError(page, 'name'), '');
    assert.notEqual(await fieldError(page, 'price'), '');
    assert.deepEqual(writes, [], 'no request for invalid values');

    // Nothing changed: nothing to send.
    await page.click('#edit-reset');
    assert.equal(await fieldError(page, 'price'), '');
    await page.click('#edit-save');
    await page.waitForFunction(() => /Nothing to save/.test(document.querySelector('#edit-form-error').textContent));
    assert.deepEqual(writes, []);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("the API's own 422 shows next to the same fields", async () => {
  const { page, context, problems } = await open();
  try {
    await loadForEdit(page, 3);
    // A body the page would never send, sent to the real service instead of the form's.
    await page.route('**/products/3', (route) =>
      route.request().method() === 'PATCH' ? route.continue({ postData: JSON.stringify({ name: '', price: 1.234 }) }) : route.continue(),
    );
    await page.fill('#edit-description', 'A valid description');
    await page.click('#edit-save');
    await page.waitForFunction(() => document.querySelector('#edit-price-error').textContent !== '');
    assert.equal(await fieldError(page, 'price'), 'Decimal input should have no more than 2 decimal places');
    assert.equal(await fieldError(page, 'name'), 'String should have at least 1 character');
    assert.equal(await page.getAttribute('#edit-name', 'aria-invalid'), 'true');
    assert.equal(await page.isVisible('#write-result'), false, 'nothing was written');
    assert.notEqual((await ui.stack.dbProduct(3)).description, 'A valid description');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('an UPDATE through psql appears in the invalidations feed, and the next lookup has the new data', async () => {
  const { page, context, problems } = await open();
  try {
    await page.waitForSelector('#feed-mode[data-mode="sse"]', { state: 'attached' });
    assert.equal(await page.isVisible('#inval-sse-needed'), false);
    await lookUp(page, 4);
    await lookUp(page, 4);
    assert.equal(await perfTone(page), 'cache');
    const notifications = await statNumber(page, 'app.notifications');

    await ui.stack.psql("UPDATE products SET name = 'Renamed in psql', price = 77.70 WHERE id = 4");
    await showSection(page, 'writes');
    const entry = await page.waitForSelector('#inval-feed tbody tr[data-id="4"]', { timeout: 5000 });
    // "dropped" when this stream's event loop removed the copy; "already applied" when another of
    // the service's loops (each listens) got there first. Either way the copy is gone.
    const outcome = await entry.getAttribute('data-outcome');
    assert.ok(['dropped', 'already applied'].includes(outcome), outcome);
    const cells = await entry.$$eval('td', (tds) => tds.map((td) => td.textContent.trim()));
    assert.match(cells[0], /^\d{2}:\d{2}:\d{2}\.\d{3}$/, 'time');
    assert.equal(cells[1], '4');
    assert.match(cells[2], /^\d+$/, 'version');
    assert.equal(cells[3], outcome);
    assert.equal(await ui.stack.redisCmd('EXISTS', 'product:4'), 0, 'the cached copy is gone');
    assert.match(await page.textContent('#inval-count'), /^1 event$/);
    assert.equal(await page.isVisible('#inval-empty'), false);

    // The feed's own button looks the product up, in the Lookup section: from PostgreSQL, with the new data.
    await page.click('#inval-feed tbody tr[data-id="4"] button');
    await page.waitForSelector('[data-section="lookup"]:not([hidden])');
    await page.waitForFunction(() => document.querySelector('#product-card [data-field="name"]').textContent === 'Renamed in psql');
    assert.equal(await perfTone(page), 'database');
    assert.equal((await cardFields(page)).price, '$77.70');
    assert.equal(await page.inputValue('#product-id'), '4');
    await page.waitForFunction((n) => Number(document.querySelector('[data-stat="app.notifications"]').textContent.replace(/,/g, '')) > n, notifications, { timeout: 5000 });

    // Newest first.
    await ui.stack.psql("UPDATE products SET category = 'Moved' WHERE id = 5");
    await page.waitForFunction(() => document.querySelector('#inval-feed tbody tr')?.dataset.id === '5', null, { timeout: 5000 });
    assert.deepEqual(await page.$$eval('#inval-feed tbody tr', (rows) => rows.map((r) => r.dataset.id)), ['5', '4']);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('delete: a dialog asks first, then the product is not found', async () => {
  const created = await ui.stack.get('/products', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Short-lived gadget', price: 9.99, category: 'Test' }),
  });
  assert.equal(created.status, 201, created.text);
  const id = created.body.id;

  const { page, context, problems } = await open();
  try {
    const writes = recordWrites(page);
    await lookUp(page, id);
    assert.equal((await cardFields(page)).name, 'Short-lived gadget');
    // From the product card into the form.
    await page.click('#card-edit');
    await page.waitForSelector('#edit-form:not([hidden])');
    assert.equal(await page.inputValue('#edit-name'), 'Short-lived gadget');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'edit-name');

    // Escape cancels, and focus returns to the button.
    await page.click('#edit-delete');
    await page.waitForSelector('#delete-dialog[open]');
    assert.match(await page.textContent('#delete-dialog'), new RegExp(`Delete product ${id}\\?[\\s\\S]*Short-lived gadget`));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'delete-cancel', 'the safe choice has focus');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('#delete-dialog').open);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'edit-delete');
    assert.deepEqual(writes, []);
    assert.equal((await ui.stack.get(`/products/${id}`)).status, 200, 'cancel keeps the product');

    await page.click('#edit-delete');
    await page.click('#delete-confirm');
    await page.waitForFunction(() => !document.querySelector('#delete-dialog').open);
    assert.deepEqual(writes, [{ method: 'DELETE', path: `/products/${id}`, body: null }]);
    assert.match(await page.textContent('#write-request'), new RegExp(`^DELETE /products/${id} → 204 No Content$`));
    assert.equal((await page.textContent('#write-mode-header')).trim(), 'invalidate');
    assert.equal((await page.textContent('#write-cache-action')).trim(), 'deleted');
    assert.equal(await page.isVisible('#edit-form'), false, 'the form empties');
    assert.match(await page.textContent('#edit-status'), new RegExp(`Product ${id} was deleted`));
    assert.equal(await page.evaluate(() => document.activeElement.id), 'write-lookup', 'focus goes to the next step');

    assert.equal(await lookUpAgain(page), 'as-expected');
    assert.match(await page.textContent('#result-message'), new RegExp(`Product ${id} does not exist`));
    assert.match(await page.textContent('#write-lookup-result'), /Product not found/);
    assert.equal((await ui.stack.get(`/products/${id}`)).status, 404);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('keyboard only: load, change and save a product', async () => {
  const { page, context, problems } = await open();
  try {
    // The Writes tab, then the id field.
    await page.focus('[data-section-link="writes"]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-section="writes"]:not([hidden])');
    await page.focus('#edit-id');
    await page.keyboard.type('6');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#edit-form:not([hidden])');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'edit-name', 'focus moves into the form');
    await page.keyboard.press('Tab'); // description
    await page.keyboard.press('Tab'); // price
    assert.equal(await page.evaluate(() => document.activeElement.id), 'edit-price');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('42.00');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#write-result:not([hidden])');
    assert.equal(Number((await ui.stack.dbProduct(6)).price), 42);
    // "Look it up again" is reachable and works from the keyboard.
    await page.focus('#write-lookup');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#write-lookup-result[data-verdict="as-expected"]');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the edit form, the write result and the feed keep text contrast and fit a phone', async () => {
  const { page, context, problems } = await open({ viewport: { width: 360, height: 780 } });
  try {
    await page.waitForSelector('#feed-mode[data-mode="sse"]', { state: 'attached' });
    await loadForEdit(page, 7);
    await page.fill('#edit-price', '1.234');
    await page.click('#edit-save');
    await page.waitForFunction(() => document.querySelector('#edit-price-error').textContent !== '');
    await page.fill('#edit-price', '12.34');
    await page.click('#edit-save');
    await page.waitForSelector('#write-result:not([hidden])');
    await lookUpAgain(page);
    await page.waitForSelector('#inval-feed tbody tr', { timeout: 5000 });
    assert.deepEqual(await contrastFailures(page), []);
    const { scrollWidth, clientWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
    assert.ok(scrollWidth <= clientWidth, `page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('while polling, the feed says it needs the live stream', async () => {
  const { page, context, problems } = await open({
    beforeGoto: (p) => p.route('**/events', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"detail":"Not Found"}' })),
  });
  try {
    await page.waitForSelector('#feed-mode[data-mode="polling"]', { state: 'attached' });
    await showSection(page, 'writes');
    await page.waitForSelector('#inval-sse-needed', { state: 'visible' });
    assert.match(await page.textContent('#inval-sse-needed'), /needs the live stream/);
    // The write mode and the counters still come, from /cache/stats.
    await page.waitForFunction(() => document.querySelector('#write-mode').textContent === 'invalidate');
    assert.match(await stat(page, 'app.writes'), /^\d/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
