// Screenshots of every section of the dashboard at a laptop size (1280×800) and a phone size
// (390×844), against a real stack (PostgreSQL, Redis and cacheme, as the end-to-end tests start
// them): docs/screenshots/<section>-<desktop|phone>.png, shown in the README, and at the laptop size
// the Instances panel and the writes feed on their own (instances-desktop.png, writes-feed-desktop.png).
// Run by scripts/screenshots.sh after the dashboard and the service are built.
//
// Each section is shown as a user would leave it: two lookups of product 1 (Database, then Cache)
// and a few more, a hammer run, an edit, a scenario run; the viewport only, as a person sees it. A
// second instance runs beside the one the page talks to, as after `--scale backend=2`, and takes a
// write of its own.

import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/repo.mjs';
import { openPage } from './lib/browser.mjs';
import { request } from '../lib/util.mjs';
import { lookUp, runScenario, showSection } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const OUT = path.join(REPO_ROOT, 'docs', 'screenshots');
const SIZES = {
  desktop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};

// Instance names as the default (host name and port) gives them on a laptop, rather than this machine's.
const { ui, browser, close } = await startUiAndBrowser({
  env: { PGADMIN_URL: 'http://localhost:5050/', REDIS_COMMANDER_URL: 'http://localhost:5540/', INSTANCE_ID: 'localhost:8000' },
});
try {
  fs.mkdirSync(OUT, { recursive: true });
  const first = ui.stack.service;
  const second = await ui.stack.startService({ env: { INSTANCE_ID: 'localhost:8001', UI_PORT: 0 } });
  ui.stack.service = first; // the page and the stack's helpers talk to the first
  for (const [size, viewport] of Object.entries(SIZES)) {
    await ui.stack.redisCmd('FLUSHALL');
    const { page, context, problems } = await openPage(browser, ui.pageUrl({ api: first.url }), { viewport });
    try {
      await page.waitForSelector('#feed-mode[data-mode="sse"]', { state: 'attached' });
      // The lesson: a scenario first (it clears the product keys), then product 1 twice, and a few more.
      await showSection(page, 'labs');
      await runScenario(page, 'stampede');
      // Clear the cache, so the figures count this page's lookups from zero.
      await showSection(page, 'lookup');
      await page.click('#clear-open');
      await page.click('#clear-confirm');
      await page.waitForFunction(() => /Cache cleared/.test(document.querySelector('#stats-cleared').textContent));
      for (const id of [5, 10, 1, 1]) await lookUp(page, id);
      // The second instance's own traffic, for the Instances panel.
      for (const id of [2, 2, 2, 7]) await request(`${second.url}/products/${id}`);
      await page.waitForFunction(() => document.querySelector('[data-stat="app.hits"]').textContent === '1', null, { timeout: 5000 });
      await page.screenshot({ path: path.join(OUT, `lookup-${size}.png`) });

      await page.fill('#hammer-id', '3');
      await page.fill('#hammer-count', '20');
      await page.click('#hammer-submit');
      await page.waitForSelector('#hammer-result:not([hidden])');
      await showSection(page, 'stats');
      await page.waitForFunction(() => Number(document.querySelector('#hitrate-chart').dataset.points) >= 3, null, { timeout: 10000 });
      await page.waitForSelector('#latency-chart canvas');
      await page.screenshot({ path: path.join(OUT, `stats-${size}.png`) });
      if (size === 'desktop') {
        await page.waitForSelector('#instances-table tbody tr[data-instance="localhost:8001"][data-state="live"]');
        await page.locator('#instances').screenshot({ path: path.join(OUT, 'instances-desktop.png') });
      }

      await showSection(page, 'writes');
      await ui.stack.psql('UPDATE products SET price = price WHERE id = 10');
      await page.waitForSelector('#inval-feed tbody tr[data-id="10"]', { timeout: 5000 });
      // A write through each instance: the feed shows both, with the instance that took each.
      const patch = (url, id, price) => request(`${url}/products/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ price }) });
      await patch(second.url, 7, 19.99);
      await patch(first.url, 5, 24.5);
      await page.waitForSelector('#writes-feed-table tbody tr[data-id="5"][data-local="true"]', { timeout: 5000 });
      await page.screenshot({ path: path.join(OUT, `writes-${size}.png`) });
      if (size === 'desktop') await page.locator('#writes-feed').screenshot({ path: path.join(OUT, 'writes-feed-desktop.png') });

      await showSection(page, 'labs');
      await page.screenshot({ path: path.join(OUT, `labs-${size}.png`) });
      await showSection(page, 'settings');
      await page.screenshot({ path: path.join(OUT, `settings-${size}.png`) });
      if (problems.length) throw new Error(`the page reported problems: ${problems.join('; ')}`);
    } finally {
      await context.close();
    }
  }
  console.log(`screenshots: ${fs.readdirSync(OUT).filter((f) => f.endsWith('.png')).length} files in ${path.relative(REPO_ROOT, OUT)}/`);
} finally {
  await close();
}
