// The rate limiting and sessions panels in a real browser against a real stack.
//
// Rate limiting: the setting of GET /rate-limit/config (off, fixed window), the algorithm switched
// with PUT /rate-limit/config, the admin token asked for on a 401 and the switch sent again with it,
// and the rate-limit-boundary scenario's table (fixed window 20 of 20 with +10 over the exact limit,
// the others 10 of 20). Sessions: with the default CORS_ORIGINS=* the browser refuses the answers to
// requests with cookies, and the panel says to list the dashboard's origin; with it listed, a login
// (the HttpOnly cookie the page never reads), the session, cart items set and removed (as Redis holds
// them), and a logout that leaves no session key.
//
// One stack and one browser for the file; the tests that restart the service come last.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { waitFor } from '../lib/util.mjs';
import { openPage } from './lib/browser.mjs';
import { ensureSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const TOKEN = 'use-cases-secret-3';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

async function open() {
  const opened = await openPage(browser, ui.pageUrl());
  await ensureSection(opened.page, 'labs');
  return opened;
}

async function rateLimitConfig() {
  const r = await ui.stack.get('/rate-limit/config');
  assert.equal(r.status, 200);
  return r.body;
}

async function switchAlgorithm(page, algorithm) {
  await page.selectOption('#rate-limit-algorithm', algorithm);
  await page.click('#rate-limit-apply');
}

test('rate limiting: the setting from GET /rate-limit/config, the algorithm switched, the boundary burst as a table', { timeout: 120000 }, async () => {
  const { page, context, problems } = await open();
  try {
    await page.waitForFunction(() => document.querySelector('#rate-limit-status').dataset.algorithm === 'fixed-window');
    assert.match(await page.textContent('#rate-limit-status'), /^Off .*Fixed window; 600 reads and 60 writes per 60 s/);
    assert.equal(await page.inputValue('#rate-limit-algorithm'), 'fixed-window');

    await switchAlgorithm(page, 'sliding-log');
    await page.waitForFunction(() => document.querySelector('#rate-limit-message').dataset.state === 'done');
    assert.equal((await rateLimitConfig()).algorithm, 'sliding-log', 'PUT /rate-limit/config switched it');
    assert.match(await page.textContent('#rate-limit-status'), /Sliding log/);

    await page.click('#rate-limit-run');
    await page.waitForFunction(() => document.querySelector('#rate-limit-run-status').dataset.state === 'done', null, { timeout: 60000 });
    const rows = await page.$$eval('#rate-limit-table tbody tr', (trs) =>
      trs.map((tr) => [tr.dataset.algorithm, ...[...tr.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent)]),
    );
    assert.deepEqual(rows, [
      ['fixed-window', '20 of 20', '10', '+10'],
      ['sliding-log', '10 of 20', '10', '0'],
      ['sliding-window', '10 of 20', '10', '0'],
      ['token-bucket', '10 of 20', '10', '0'],
    ]);
    assert.match(await page.textContent('#rate-limit-verdict'), /Fixed window allowed 20/);
    assert.equal((await rateLimitConfig()).algorithm, 'sliding-log', 'the scenario left the setting alone');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    const auth = { 'content-type': 'application/json' };
    await ui.stack.get('/rate-limit/config', { method: 'PUT', headers: auth, body: JSON.stringify({ algorithm: 'fixed-window' }) });
  }
});

test('sessions with CORS_ORIGINS=* (the default): the panel says the browser refused the cookies and what to set', { timeout: 60000 }, async () => {
  const { page, context, problems } = await open();
  try {
    await page.locator('#sessions').scrollIntoViewIfNeeded();
    await page.waitForSelector('#session-cors:not([hidden])');
    const text = await page.textContent('#session-cors');
    assert.ok(text.includes(`CORS_ORIGINS=${ui.uiOrigin}`), text);
    assert.equal(await page.getAttribute('#session-status', 'data-state'), 'cors');
    // Logging in is refused the same way, and says so again.
    await page.click('#session-login');
    await page.waitForSelector('#session-cors:not([hidden])');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('sessions with the dashboard\'s origin in CORS_ORIGINS: log in, the session, cart items set and removed, log out', { timeout: 120000 }, async () => {
  await ui.restartService({ CORS_ORIGINS: ui.uiOrigin });
  const { page, context, problems } = await open();
  try {
    await page.locator('#sessions').scrollIntoViewIfNeeded();
    await page.waitForFunction(() => document.querySelector('#session-status').dataset.state === 'out');
    assert.equal(await page.isHidden('#session-cors'), true);

    // The page checks the name as the API does before sending it.
    await page.fill('#session-user', 'Bob!');
    await page.click('#session-login');
    assert.match(await page.textContent('#session-user-error'), /lowercase/);

    await page.fill('#session-user', 'carol');
    await page.click('#session-login');
    await page.waitForFunction(() => document.querySelector('#session-status').dataset.state === 'in');
    assert.equal(await page.textContent('#session-user-value'), 'carol');
    const cookies = await context.cookies(ui.stack.url);
    const cookie = cookies.find((c) => c.name === 'cacheme_session');
    assert.ok(cookie?.httpOnly, 'the session cookie, HttpOnly');
    assert.equal(await page.evaluate(() => document.cookie.includes('cacheme_session')), false, 'the page cannot read it');
    const session = `{session:${cookie.value}}`;
    assert.equal(await ui.stack.redisCmd('HGET', session, 'user'), 'carol');

    await page.fill('#cart-product', '1');
    await page.fill('#cart-quantity', '3');
    await page.click('#cart-set');
    await page.waitForSelector('#cart-table tbody tr[data-product="1"]');
    const row = await page.$$eval('#cart-table tbody tr[data-product="1"] td', (tds) => tds.map((td) => td.textContent));
    assert.equal(row[2], '3');
    assert.ok(row[1] && row[1] !== '—', `the product's name: ${row}`);
    assert.equal(await ui.stack.redisCmd('HGET', `${session}:cart`, '1'), '3', 'the cart in Redis');

    await page.fill('#cart-quantity', '100');
    await page.click('#cart-set');
    assert.match(await page.textContent('#cart-error'), /1 to 99/);

    await page.click('#cart-table tbody tr[data-product="1"] button');
    await page.waitForFunction(() => document.querySelectorAll('#cart-table tbody tr').length === 0);
    assert.equal(await page.textContent('#cart-caption'), 'The cart is empty.');

    await page.click('#session-logout');
    await page.waitForFunction(() => document.querySelector('#session-status').dataset.state === 'out');
    await waitFor(async () => (await ui.stack.redisCmd('EXISTS', session)) === 0, { message: 'the session key gone' });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('rate limiting with ADMIN_TOKEN: the switch asks for the token, then is sent again with it', { timeout: 120000 }, async () => {
  await ui.restartService({ ADMIN_TOKEN: TOKEN });
  const { page, context, problems } = await open();
  try {
    await page.waitForFunction(() => document.querySelector('#rate-limit-status').dataset.algorithm === 'fixed-window');
    await switchAlgorithm(page, 'token-bucket');
    await page.waitForSelector('#admin-token-form:not([hidden])');
    assert.match(await page.textContent('#admin-token-why'), /switch the rate limiting algorithm/);
    assert.equal((await rateLimitConfig()).algorithm, 'fixed-window', 'nothing switched without the token');
    await page.fill('#admin-token', TOKEN);
    await page.click('#admin-token-submit');
    await page.waitForFunction(() => document.querySelector('#rate-limit-status').dataset.algorithm === 'token-bucket');
    assert.equal((await rateLimitConfig()).algorithm, 'token-bucket');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
