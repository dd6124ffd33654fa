// GET /docs and GET /redoc in headless Chromium (Debian's, through playwright-core): Swagger UI renders
// the service's own document without loading anything from another origin, and "Try it out" on
// GET /products/{id} calls the running service and shows its 200 answer; ReDoc renders the same
// document, also offline, without an error on the console.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from '../lib/chromium.mjs';
import { startContractStack, swaggerUiMissing, redocMissing } from './lib/stack.mjs';
import { readSpec } from './lib/spec.mjs';

let stack;
let browser;
let context;
let page;
const foreign = []; // requests to any other origin (the page must work offline)
const pageErrors = [];

before(async () => {
  const missing = swaggerUiMissing() ?? redocMissing();
  if (missing) throw new Error(missing);
  stack = await startContractStack();
  browser = await launchBrowser();
  context = await browser.newContext();
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

test('/redoc renders the service\'s OpenAPI document offline, without console errors', { timeout: 90000 }, async () => {
  const spec = readSpec();
  const redoc = await context.newPage();
  redoc.setDefaultTimeout(30000);
  const errors = [];
  redoc.on('pageerror', (err) => errors.push(`page error: ${err}`));
  redoc.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console error: ${msg.text()}`);
  });
  const requests = [];
  redoc.on('request', (r) => requests.push(r.url()));
  try {
    const res = await redoc.goto(`${stack.url}/redoc`, { waitUntil: 'load' });
    assert.equal(res.status(), 200);
    // ReDoc shows the title with the version beside it, then every tag and operation.
    const title = redoc.locator('h1', { hasText: spec.info.title });
    await title.waitFor();
    assert.match(await title.innerText(), new RegExp(spec.info.version.replace(/\./g, '\\.')), 'the version is shown');
    for (const item of Object.values(spec.paths)) {
      for (const op of Object.values(item)) {
        if (op?.summary) await redoc.getByText(op.summary, { exact: true }).first().waitFor({ state: 'attached' });
      }
    }
    assert.ok(requests.some((u) => u === `${stack.url}/openapi.json`), `the document was fetched from the service: ${requests.join(', ')}`);
    assert.ok(requests.every((u) => u.startsWith(`${stack.url}/`) || u.startsWith('data:') || u.startsWith('blob:')), `only 127.0.0.1 was asked: ${requests.join(', ')}`);
    assert.deepEqual(foreign, [], 'no request left the service\'s origin');
    assert.deepEqual(errors, [], 'no errors on the console');
  } finally {
    await redoc.close();
  }
});
