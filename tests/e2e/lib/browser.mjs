// Pages of the dashboard in the headless browser (tests/lib/chromium.mjs): openPage() opens one and
// waits until the dashboard is ready; it also watches for what must never happen on the dashboard:
// window.alert/confirm/prompt boxes and uncaught page errors. `problems` lists them; tests assert it
// is empty.

import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../lib/repo.mjs';

export const RESULTS_DIR = path.join(REPO_ROOT, 'test-results', 'e2e');

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
