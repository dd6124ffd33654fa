// GET /docs in headless Chromium (Debian's, through playwright-core): Swagger UI renders the service's
// own document without loading anything from another origin, and "Try it out" on GET /products/{id}
// calls the running service and shows its 200 answer.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { startContractStack, swaggerUiMissing } from './lib/stack.mjs';
import { readSpec } from './lib/spec.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let stack;
let browser;
let page;
const foreign = []; // requests to any other origin (the page must work offline)
const pageErrors = [];

before(async () => {
  const missing = swaggerUiMissing();
  if (missing) throw new Error(missing);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/deps.sh browser installs Debian's chromium`);
  stack = await startContractStack();
  // launch() gives the browser a fresh temporary user-data-dir of its own.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60000 });
  const context = await browser.newContext();
  const origin = new URL(stack.url).origin;
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    foreign.push(url);
    return route.abort('internetdisconnected');
  });
  page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  page.setDefaultTimeout(30000);
});

after(async () => {
  await browser?.close();
  await stack?.teardown();
});

test('/docs renders the service\'s OpenAPI document offline', { timeout: 90000 }, async () => {
  const spec = readSpec();
  const res = await page.goto(`${stack.url}/docs`, { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  const title = page.locator('.swagger-ui .info .title');
  await title.waitFor();
  assert.match(await title.innerText(), new RegExp(spec.info.version.replace(/\./g, '\\.')), 'the version is shown');
  // Every operation of the document is on the page.
  for (const item of Object.values(spec.paths)) {
    for (const op of Object.values(item)) {
      if (op?.operationId) await page.locator(`#operations-${op.tags[0]}-${op.operationId}`).waitFor({ state: 'attached' });
    }
  }
  // The admin token of the lab's changes is a security scheme: Swagger UI offers to enter it.
  await page.locator('.swagger-ui .auth-wrapper button.authorize').waitFor();
  assert.deepEqual(foreign, [], 'no request left the service\'s origin');
  assert.deepEqual(pageErrors, [], 'no script errors');
});

test('"Try it out" on GET /products/{id} with id 1 shows the live 200 answer', { timeout: 90000 }, async () => {
  if (!page.url().endsWith('/docs')) await page.goto(`${stack.url}/docs`);
  const op = page.locator('#operations-products-get_product');
  await op.locator('.opblock-summary').first().click();
  await op.locator('button.try-out__btn').click();
  const id = op.locator('tr[data-param-name="id"] input');
  await id.fill('1');
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor();
  assert.equal((await status.innerText()).trim(), '200');
  const body = await op.locator('.live-responses-table .response .response-col_description').first().innerText();
  assert.match(body, /MacBook Pro 16/, 'the response body is shown');
  assert.match(body, /"source"/, 'with its source');
  const url = await op.locator('.request-url').first().innerText();
  assert.ok(url.split('\n').map((l) => l.trim()).includes(`${stack.url}/products/1`), `the request went to the same origin: ${url}`);
  assert.deepEqual(foreign, [], 'no request left the service\'s origin');
  assert.deepEqual(pageErrors, [], 'no script errors');
});
