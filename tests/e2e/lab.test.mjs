// The lab in a real browser against a real stack: the settings of GET /lab/config as switches and
// number fields, Apply (PUT /lab/config with only the changed settings), the page's own checks and
// the API's 422 next to the fields; the scenarios and their comparison (protection off vs on); one
// scenario at a time (409); and the admin token (401 → asked for, kept in sessionStorage only).
//
// One stack and one browser for the file; each test opens its own page. Every test that changes a
// setting puts the defaults back, so the tests do not depend on each other. The admin-token test
// restarts the service with ADMIN_TOKEN and comes last.

import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { LAB_DEFAULTS, labSet } from '../lib/lab.mjs';
import { request, waitFor } from '../lib/util.mjs';
import { openPage } from './lib/browser.mjs';
import { labError, labValue, recordLabPuts, runScenario, scenarioTable, setLab, waitForLab } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const TOKEN = 'lab-secret-7';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

/** PUT the defaults back (with the token once the service needs one). */
afterEach(async () => {
  await labSet(ui.stack.url, LAB_DEFAULTS, { token: TOKEN });
});

async function open() {
  const opened = await openPage(browser, ui.pageUrl());
  await waitForLab(opened.page);
  return opened;
}

async function labConfig() {
  const r = await ui.stack.get('/lab/config');
  assert.equal(r.status, 200);
  return r.body;
}

test('the lab shows every setting from GET /lab/config, as switches and bounded number fields', async () => {
  const { page, context, problems } = await open();
  try {
    for (const [key, value] of Object.entries(LAB_DEFAULTS)) {
      assert.equal(await labValue(page, key), typeof value === 'boolean' ? value : String(value), key);
    }
    for (const key of ['stampede_protection', 'refresh_ahead', 'circuit_breaker']) {
      assert.equal(await page.getAttribute(`#lab-${key}`, 'role'), 'switch', `${key} is a switch`);
    }
    const bounds = await page.$$eval('#lab-form input[type="number"]', (els) => Object.fromEntries(els.map((el) => [el.name, [el.min, el.max]])));
    assert.deepEqual(bounds, {
      ttl_seconds: ['1', '31536000'],
      ttl_jitter_percent: ['0', '90'],
      negative_ttl_seconds: ['0', '86400'],
      refresh_window_percent: ['1', '90'],
      stale_if_error_seconds: ['0', '86400'],
      db_delay_ms: ['0', '10000'],
    });
    // A plain line per protection, the API docs and the lessons.
    assert.match(await page.textContent('#lab-stampede_protection-help'), /one lookup reads PostgreSQL and the others wait/);
    assert.match(await page.textContent('#lab-negative_ttl_seconds-help'), /ids that do not exist/);
    assert.match(await page.textContent('#lab-db_delay_ms-help'), /0 to 10,000 ms/);
    assert.equal(await page.getAttribute('#lab-docs-link', 'href'), `${ui.stack.url}/docs`);
    assert.match(await page.textContent('#lab'), /docs\/caching-lessons\.md/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('lab settings round trip: a changed TTL and switch are applied, GET /lab/config has them, a reload shows them', async () => {
  const { page, context, problems } = await open();
  try {
    const puts = recordLabPuts(page);
    await setLab(page, { ttl_seconds: 120, refresh_ahead: false });
    await page.click('#lab-apply');
    await page.waitForFunction(() => /^Applied /.test(document.querySelector('#lab-status').textContent));
    assert.match(await page.textContent('#lab-status'), /refresh_ahead = false, ttl_seconds = 120/);
    // Only the changed settings are sent.
    assert.deepEqual(
      puts.map((p) => p.body),
      [{ ttl_seconds: 120, refresh_ahead: false }],
    );
    assert.equal(puts[0].authorization, null, 'no token when none was asked for');
    const cfg = await labConfig();
    assert.equal(cfg.ttl_seconds, 120);
    assert.equal(cfg.refresh_ahead, false);
    assert.equal(cfg.stampede_protection, true, 'the rest is unchanged');
    // The statistics carry the protections too.
    assert.equal((await ui.stack.get('/cache/stats')).body.protections.ttl_seconds, 120);

    // Nothing changed: nothing sent.
    await page.click('#lab-apply');
    await page.waitForFunction(() => /Nothing to apply/.test(document.querySelector('#lab-form-error').textContent));
    assert.equal(puts.length, 1);

    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    await waitForLab(page);
    assert.equal(await labValue(page, 'ttl_seconds'), '120');
    assert.equal(await labValue(page, 'refresh_ahead'), false);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('an invalid value shows the field error, sends nothing, and the form still works', async () => {
  const { page, context, problems } = await open();
  try {
    const puts = recordLabPuts(page);
    await setLab(page, { ttl_seconds: 0, db_delay_ms: 10001 });
    await page.click('#lab-apply');
    await page.waitForFunction(() => document.querySelector('#lab-ttl_seconds-error').textContent !== '');
    assert.equal(await labError(page, 'ttl_seconds'), 'Input should be greater than or equal to 1');
    assert.equal(await labError(page, 'db_delay_ms'), 'Input should be less than or equal to 10000');
    assert.equal(await page.getAttribute('#lab-ttl_seconds', 'aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'lab-ttl_seconds', 'focus on the first field to fix');
    assert.match(await page.textContent('#lab-form-error'), /Not applied/);
    assert.deepEqual(puts, [], 'nothing sent');
    assert.equal((await labConfig()).ttl_seconds, 3600);

    // Typing clears the field's message; fixing both applies.
    await page.fill('#lab-ttl_seconds', '90');
    assert.equal(await labError(page, 'ttl_seconds'), '');
    await page.fill('#lab-db_delay_ms', '5');
    await page.click('#lab-apply');
    await page.waitForFunction(() => /^Applied /.test(document.querySelector('#lab-status').textContent));
    assert.equal(await labError(page, 'db_delay_ms'), '');
    const cfg = await labConfig();
    assert.equal(cfg.ttl_seconds, 90);
    assert.equal(cfg.db_delay_ms, 5);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("the API's own 422 shows next to the same fields, and nothing is applied", async () => {
  const { page, context, problems } = await open();
  try {
    // A body the page would never send, sent to the real service instead of the form's.
    await page.route('**/lab/config', (route) =>
      route.request().method() === 'PUT'
        ? route.continue({ postData: JSON.stringify({ ttl_seconds: 60, negative_ttl_seconds: -1, stampede_protection: 'yes' }) })
        : route.continue(),
    );
    await setLab(page, { ttl_seconds: 60 });
    await page.click('#lab-apply');
    await page.waitForFunction(() => document.querySelector('#lab-negative_ttl_seconds-error').textContent !== '');
    assert.equal(await labError(page, 'negative_ttl_seconds'), 'Input should be greater than or equal to 0');
    assert.equal(await labError(page, 'stampede_protection'), 'Input should be a valid boolean');
    assert.equal(await labError(page, 'ttl_seconds'), '');
    assert.equal(await page.getAttribute('#lab-stampede_protection', 'aria-invalid'), 'true');
    assert.equal((await labConfig()).ttl_seconds, 3600, 'all or nothing: the valid member was not applied either');
    // The page keeps working.
    await page.unroute('**/lab/config');
    await page.click('#lab-apply');
    await page.waitForFunction(() => /^Applied ttl_seconds = 60/.test(document.querySelector('#lab-status').textContent));
    assert.equal(await labError(page, 'negative_ttl_seconds'), '');
    assert.equal((await labConfig()).ttl_seconds, 60);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('stampede: both runs side by side, one database query with the protection on', async () => {
  const { page, context, problems } = await open();
  try {
    await page.click('#scenarios [data-scenario="stampede"]');
    // Every scenario button waits while one runs.
    assert.deepEqual(await page.$$eval('#scenarios [data-scenario]', (bs) => bs.map((b) => b.disabled)), [true, true, true]);
    assert.match(await page.textContent('#scenario-status'), /Running stampede/);
    await page.waitForFunction(() => document.querySelector('#scenario-status').dataset.state !== 'running', null, { timeout: 60000 });
    assert.equal(await page.getAttribute('#scenario-status', 'data-state'), 'done');
    assert.deepEqual(await page.$$eval('#scenarios [data-scenario]', (bs) => bs.map((b) => b.disabled)), [false, false, false]);

    assert.equal(await page.getAttribute('#scenario-result', 'data-result'), 'stampede');
    const t = await scenarioTable(page);
    assert.equal(t.db_queries.with, 1, 'single-flight: one query for 100 lookups');
    assert.ok(t.db_queries.without > t.db_queries.with, `without protection: ${t.db_queries.without} queries`);
    for (const p of ['p50_ms', 'p95_ms', 'p99_ms']) {
      assert.ok(t[p].without > 0 && t[p].with > 0, `${p}: ${JSON.stringify(t[p])}`);
    }
    // The table's cells as the user reads them, and the column headings.
    assert.equal(await page.textContent('#scenario-table [data-metric="db_queries"] [data-run="with"]'), '1');
    assert.match(await page.textContent('#scenario-table [data-metric="p99_ms"] [data-run="without"]'), / ms$/);
    assert.equal((await page.textContent('#scenario-table thead [data-run="without"]')).trim(), 'stampede protection off');
    // The bars: db_queries and the three percentiles, the longer bar for the run without protection.
    assert.deepEqual(await page.$$eval('#scenario-bars [data-metric]', (gs) => gs.map((g) => g.dataset.metric)), ['db_queries', 'p50_ms', 'p95_ms', 'p99_ms']);
    const widths = await page.$$eval('#scenario-bars [data-metric="db_queries"] [data-run]', (bars) => bars.map((b) => b.getBoundingClientRect().width));
    assert.ok(widths[0] > widths[1] && widths[1] > 0, `bar widths ${widths}`);
    assert.match(await page.textContent('#scenario-verdict'), /database queries without stampede protection, 1 with it/);
    // The settings are back as they were.
    assert.deepEqual(await labConfig(), LAB_DEFAULTS);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('penetration and avalanche: negative caching saves queries, jitter spreads the TTLs', async () => {
  const { page, context, problems } = await open();
  try {
    assert.equal(await runScenario(page, 'penetration'), 'done');
    let t = await scenarioTable(page);
    assert.ok(t.db_queries.with < t.db_queries.without, `db_queries ${JSON.stringify(t.db_queries)}`);
    assert.ok(t.p99_ms.with !== null && t.p99_ms.without !== null);
    assert.equal((await page.textContent('#scenario-table thead [data-run="with"]')).trim(), 'negative caching on');

    assert.equal(await runScenario(page, 'avalanche'), 'done');
    t = await scenarioTable(page);
    assert.equal(t.ttl_spread_seconds.without, 0, 'no jitter: every key expires in the same second');
    assert.ok(t.ttl_spread_seconds.with > 0, `spread with jitter: ${t.ttl_spread_seconds.with}`);
    assert.ok(t.keys.with > 0);
    assert.deepEqual(await page.$$eval('#scenario-bars [data-metric]', (gs) => gs.map((g) => g.dataset.metric)), ['ttl_spread_seconds']);
    assert.match(await page.textContent('#scenario-verdict'), /keys cached together/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('one scenario at a time: a 409 says another scenario is running', async () => {
  const { page, context, problems } = await open();
  try {
    // A stampede started by another client; it changes db_delay_ms to 50 while it runs.
    const elsewhere = request(`${ui.stack.url}/lab/scenarios/stampede`, { method: 'POST', timeout: 60000 });
    await waitFor(async () => (await labConfig()).db_delay_ms === 50, { timeout: 10000, interval: 10, message: 'the other scenario running' });
    assert.equal(await runScenario(page, 'penetration'), 'conflict');
    assert.match(await page.textContent('#scenario-status'), /another scenario is running/);
    assert.equal(await page.isDisabled('#scenarios [data-scenario="penetration"]'), false, 'the buttons are usable again');
    assert.equal((await elsewhere).status, 200);
    assert.equal(await runScenario(page, 'avalanche'), 'done');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('with ADMIN_TOKEN set, a 401 asks for the token, which is sent as a Bearer token and kept in sessionStorage only', async () => {
  await ui.restartService({ ADMIN_TOKEN: TOKEN });
  const { page, context, problems } = await open();
  try {
    const puts = recordLabPuts(page);
    assert.equal(await page.isVisible('#admin-token-form'), false);
    await setLab(page, { ttl_seconds: 600 });
    await page.click('#lab-apply');
    await page.waitForSelector('#admin-token-form', { state: 'visible' });
    assert.match(await page.textContent('#admin-token-why'), /needs its admin token/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'admin-token', 'focus on the token field');
    assert.equal((await labConfig()).ttl_seconds, 3600);

    // A wrong token is refused, and asked for again.
    await page.fill('#admin-token', 'wrong');
    await page.click('#admin-token-submit');
    await page.waitForFunction(() => /refused/.test(document.querySelector('#admin-token-why').textContent));
    assert.equal((await labConfig()).ttl_seconds, 3600);

    // The right one: the change goes through without clicking Apply again.
    await page.fill('#admin-token', TOKEN);
    await page.click('#admin-token-submit');
    await page.waitForFunction(() => /^Applied ttl_seconds = 600/.test(document.querySelector('#lab-status').textContent));
    assert.equal((await labConfig()).ttl_seconds, 600);
    assert.deepEqual(
      puts.map((p) => p.authorization),
      [null, 'Bearer wrong', `Bearer ${TOKEN}`],
    );
    assert.equal(await page.isVisible('#admin-token-form'), false);
    assert.equal(await page.isVisible('#admin-token-set'), true);
    const stored = await page.evaluate(() => ({ session: JSON.stringify({ ...sessionStorage }), local: JSON.stringify({ ...localStorage }) }));
    assert.match(stored.session, new RegExp(TOKEN));
    assert.doesNotMatch(stored.local, new RegExp(TOKEN), 'never in localStorage');

    // Scenarios use it too.
    assert.equal(await runScenario(page, 'avalanche'), 'done');
    // "Forget it" drops it: the next scenario asks again.
    await page.click('#admin-token-forget');
    assert.equal(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('cacheme.adminToken')).length), 0);
    assert.equal(await runScenario(page, 'avalanche'), 'auth');
    await page.waitForSelector('#admin-token-form', { state: 'visible' });
    await page.fill('#admin-token', TOKEN);
    await page.click('#admin-token-submit');
    await page.waitForFunction(() => document.querySelector('#scenario-status').dataset.state === 'done', null, { timeout: 60000 });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
