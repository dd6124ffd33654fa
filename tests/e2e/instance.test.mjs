// Which instance answered: every answer carries X-Instance (INSTANCE_ID), which the API exposes to
// other origins, and the performance panel shows it — behind a load balancer, lookups show the
// instances taking turns.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openPage } from './lib/browser.mjs';
import { lookUp } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const INSTANCE = 'lab-instance-7';

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser({ env: { INSTANCE_ID: INSTANCE } }));
});

after(() => close?.());

test('the performance panel shows the instance that answered (X-Instance)', async () => {
  const direct = await ui.stack.get('/products/1');
  assert.equal(direct.headers.get('x-instance'), INSTANCE);
  const { page, context, problems } = await openPage(browser, ui.pageUrl());
  try {
    await lookUp(page, 2);
    assert.equal((await page.textContent('#perf-instance')).trim(), INSTANCE);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
