// Two instances on one stack, the dashboard talking to the first: the Instances panel (Live stats)
// lists both from their `event: instance` messages (the first marked as this one), its total adds
// up the live instances' counters with the hit rate from the sums; a write through the second
// instance's API shows in the Writes (all instances) feed with the second's name, a write through
// the first as this one's; a warm run by the second is named in the warm panel; the second stopped
// is shown as gone and left out of the total.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from '../lib/util.mjs';
import { openPage } from './lib/browser.mjs';
import { showSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const FIRST = 'e2e-inst-a';
const SECOND = 'e2e-inst-b';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser({ env: { INSTANCE_ID: FIRST } }));
});

after(() => close?.());

/** The Instances table as the page shows it: rows by instance, and the total row. */
function instancesTable(page) {
  return page.evaluate(() => {
    const cols = (tr) => Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map((td) => [td.dataset.col, td.textContent.trim()]));
    const rows = Object.fromEntries(
      [...document.querySelectorAll('#instances-table tbody tr')].map((tr) => [
        tr.dataset.instance,
        { state: tr.dataset.state, local: tr.dataset.local, name: tr.querySelector('th').textContent.trim(), ...cols(tr) },
      ]),
    );
    const total = document.querySelector('#instances-total');
    return { rows, total: { instances: Number(total.dataset.instances), ...cols(total) } };
  });
}

function rowSelector(instance, extra = '') {
  return `#instances-table tbody tr[data-instance="${instance}"]${extra}`;
}

test('Instances and the writes feed across two instances: both listed, the total from the sums, a write through the second shown with its name, the second gone when stopped', { timeout: 90000 }, async () => {
  const first = ui.stack.service;
  // The page talks to the first instance only; the second shares PostgreSQL, Redis and the channel.
  const pageUrl = ui.pageUrl({ api: first.url });
  const second = await ui.stack.startService({ env: { INSTANCE_ID: SECOND, UI_PORT: 0 } });
  ui.stack.service = first; // the stack's helpers (get, restart) keep meaning the first instance

  const { page, context, problems } = await openPage(browser, pageUrl);
  try {
    await page.waitForSelector('#feed-mode[data-mode="sse"]', { state: 'attached' });
    await showSection(page, 'stats');
    await page.waitForSelector(rowSelector(FIRST, '[data-local="true"][data-state="live"]'));
    await page.waitForSelector(rowSelector(SECOND, '[data-local="false"][data-state="live"]'));
    let table = await instancesTable(page);
    assert.match(table.rows[FIRST].name, /this one/, 'the first is marked as the instance serving the page');
    assert.doesNotMatch(table.rows[SECOND].name, /this one/);
    assert.equal(table.rows[FIRST].fanout, 'subscribed');
    assert.equal(table.rows[SECOND].fanout, 'subscribed');
    assert.equal(table.total.instances, 2);
    assert.match(await page.textContent('#instances'), /Each instance publishes its figures once a second on Redis Pub\/Sub; an instance that cannot reach Redis is heard of by nobody but itself\./);

    // Lookups: the first 1 miss and 3 hits (75 %), the second 1 miss (0 %). The total's hit rate is
    // 3 / 5 = 60 %, not the average of the rates (37.5 %).
    assert.equal((await request(`${first.url}/products/1`)).status, 200);
    await ui.stack.waitForKeys('product:1');
    for (let i = 0; i < 3; i++) assert.equal((await request(`${first.url}/products/1`)).headers.get('x-cache'), 'HIT');
    assert.equal((await request(`${second.url}/products/2`)).headers.get('x-cache'), 'MISS');
    await page.waitForFunction(() => {
      const c = (k) => document.querySelector(`#instances-total td[data-col="${k}"]`).textContent;
      return c('hits') === '3' && c('misses') === '2';
    });
    table = await instancesTable(page);
    assert.deepEqual(
      { hits: table.rows[FIRST].hits, misses: table.rows[FIRST].misses, hit_rate: table.rows[FIRST].hit_rate },
      { hits: '3', misses: '1', hit_rate: '75.00 %' },
    );
    assert.deepEqual({ hits: table.rows[SECOND].hits, misses: table.rows[SECOND].misses, hit_rate: table.rows[SECOND].hit_rate }, { hits: '0', misses: '1', hit_rate: '0.00 %' });
    assert.equal(table.total.hit_rate, '60.00 %');
    assert.equal(Number(table.total.db_queries), Number(table.rows[FIRST].db_queries) + Number(table.rows[SECOND].db_queries));

    // A write through the second instance's API reaches this page, through the first, with its name.
    await showSection(page, 'writes');
    const patch = await request(`${second.url}/products/3`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ price: 12.34 }) });
    assert.equal(patch.status, 200);
    assert.equal(patch.headers.get('x-instance'), SECOND);
    const version = (await ui.stack.dbProduct(3)).version;
    const remote = `#writes-feed-table tbody tr[data-instance="${SECOND}"][data-id="3"]`;
    await page.waitForSelector(remote);
    const cells = await page.$eval(remote, (tr) => ({
      local: tr.dataset.local,
      ...Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map((td) => [td.dataset.col, td.textContent.trim()])),
    }));
    assert.deepEqual(cells, { local: 'false', instance: SECOND, op: 'update', id: '3', version: String(version), cache_action: 'deleted' });
    // One through the first: shown as this one's, above the other.
    const del = await request(`${first.url}/products/4`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    await page.waitForSelector(`#writes-feed-table tbody tr[data-instance="${FIRST}"][data-id="4"][data-op="delete"][data-local="true"]`);
    assert.match(await page.textContent(`#writes-feed-table tbody tr[data-id="4"] td[data-col="instance"]`), /this one/);
    assert.deepEqual(
      await page.$$eval('#writes-feed-table tbody tr', (rows) => rows.map((tr) => tr.dataset.instance)),
      [FIRST, SECOND],
      'newest first, each write once',
    );
    assert.match(await page.textContent('#writes-feed-count'), /^2 writes/);

    // A warm run by the second instance: the warm panel names it.
    const warm = await request(`${second.url}/cache/warm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'all' }) });
    assert.equal(warm.status, 202);
    await showSection(page, 'labs');
    await page.waitForSelector(`#warm-status[data-instance="${SECOND}"][data-state="done"]`, { timeout: 15000 });
    assert.match(await page.textContent('#warm-status'), new RegExp(`Run by ${SECOND}\\.$`));
    assert.equal(await page.isDisabled('#warm-start'), false);

    // The second stopped: not removed, shown as gone with how long ago it was heard, out of the total.
    await showSection(page, 'stats');
    const stopped = await second.signal('SIGTERM');
    assert.equal(stopped.code, 0);
    await page.waitForSelector(rowSelector(SECOND, '[data-state="gone"]'), { timeout: 15000 });
    table = await instancesTable(page);
    assert.match(table.rows[SECOND].name, /gone · last heard \d+ s ago/);
    assert.equal(table.rows[FIRST].state, 'live');
    assert.equal(table.total.instances, 1);
    assert.equal(table.total.hits, table.rows[FIRST].hits);
    assert.equal(table.total.misses, table.rows[FIRST].misses);
    assert.equal(table.total.hit_rate, table.rows[FIRST].hit_rate);
    assert.match(await page.textContent('#instances-count'), /1 live, 1 gone/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
