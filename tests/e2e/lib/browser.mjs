// Headless Chromium for the end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core
// (never a downloaded browser), with the flags that keep it off the network. Playwright gives every launch a fresh,
// temporary user-data-dir.
//
// openPage() also watches for what must never happen on the dashboard: window.alert/confirm/prompt
// boxes and uncaught page errors. `problems` lists them; tests assert it is empty.

import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from '../../lib/repo.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const RESULTS_DIR = path.join(REPO_ROOT, 'test-results', 'e2e');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60000 });
}

/**
 * A new page in its own context (own storage) at `url`, waiting until the dashboard script has
 * wired everything (body[data-ready]). Returns { page, context, problems }.
 */
export async function openPage(browser, url, { viewport = { width: 1280, height: 900 }, beforeGoto } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const problems = [];
  page.on('dialog', (d) => {
    problems.push(`a ${d.type()} box appeared: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  if (beforeGoto) await beforeGoto(page);
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, context, problems };
}

/** Path under test-results/e2e/, creating the directory. */
export function resultPath(name) {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  return path.join(RESULTS_DIR, name);
}
