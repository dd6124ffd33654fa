// The dashboard's first screen and its sections, in a real browser against a real stack, at a
// laptop size (1280×800) and a phone size (390×844): the lesson in the first ten seconds (a lookup's
// source and time where the click was, Database then Cache for the same id, the hit rate on the first
// screen), the sections with their own addresses and the keyboard, the slow-database switch, the
// chart legends, and a layout that fits 360 px without sideways scrolling or words cut in two.

import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import { labGet, labSet } from '../lib/lab.mjs';
import { openPage } from './lib/browser.mjs';
import { assertHue, lastSeq, lookUp, perfTone, rgbOf, showSection, statNumber, waitForNewLookup } from './lib/dashboard.mjs';
import { startUiAndBrowser } from './lib/ui-stack.mjs';

const SIZES = {
  laptop: { width: 1280, height: 800 },
  phone: { width: 390, height: 844 },
};
const SECTION_KEYS = ['lookup', 'stats', 'writes', 'labs', 'settings'];

let ui;
let browser;
let close;

before(async () => {
  ({ ui, browser, close } = await startUiAndBrowser());
});

after(() => close?.());

/** The page at `hash` ('' for none), at a size. */
function open(viewport, hash = '') {
  return openPage(browser, `${ui.pageUrl()}${hash}`, { viewport });
}

/** Whether the element is wholly inside the viewport as it is now (no scrolling). */
function inView(page, selector) {
  return page.$eval(selector, (el) => {
    const b = el.getBoundingClientRect();
    return b.width > 0 && b.height > 0 && b.top >= 0 && b.left >= 0 && b.bottom <= window.innerHeight && b.right <= window.innerWidth;
  });
}

/** Click a quick-test button; resolves once its lookup is in the request log. */
async function quickTest(page, id) {
  const before = await lastSeq(page);
  await page.click(`[data-quick-id="${id}"]`);
  await waitForNewLookup(page, before);
}

for (const [size, viewport] of Object.entries(SIZES)) {
  test(`${size} (${viewport.width}×${viewport.height}): the result of Quick test and of a typed lookup shows where the click was, without scrolling`, async () => {
    const { page, context, problems } = await open(viewport);
    try {
      assert.equal(await page.evaluate(() => window.scrollY), 0);
      await quickTest(page, 1);
      for (const sel of ['#perf-source > span', '#perf-fetch-time', '#result-message']) assert.ok(await inView(page, sel), `${sel} in view after Quick test`);
      assert.equal(await page.evaluate(() => window.scrollY), 0, 'nothing scrolled');
      await lookUp(page, 2);
      for (const sel of ['#perf-source > span', '#perf-fetch-time', '#product-card [data-field="name"]']) assert.ok(await inView(page, sel), `${sel} in view after a lookup`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test(`${size}: the hit rate, its hits and misses and "Clear cache" are on the first screen`, async () => {
    const { page, context, problems } = await open(viewport);
    try {
      await quickTest(page, 1);
      await page.waitForFunction(() => /\d/.test(document.querySelector('[data-stat="app.hit_rate"]').textContent));
      for (const sel of ['[data-stat="app.hit_rate"]', '[data-stat="app.hits"]', '[data-stat="app.misses"]', '#clear-open', '#stats-since']) {
        assert.ok(await inView(page, sel), `${sel} above the fold`);
      }
      // One hit rate on the first screen: the service's, as one big number.
      const rates = await page.$$eval('[data-stat$="hit_rate"]', (els) => els.filter((e) => e.offsetParent).map((e) => e.dataset.stat));
      assert.deepEqual(rates, ['app.hit_rate']);
      assert.ok(await page.$eval('[data-stat="app.hit_rate"]', (el) => parseFloat(getComputedStyle(el).fontSize) >= 30), 'a big number');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}

test('two lookups of the same id: Database (slow, blue), then Cache (fast, green), and the hit rate rises', async () => {
  await ui.stack.redisCmd('DEL', 'product:1');
  const { page, context, problems } = await open(SIZES.phone);
  try {
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-stat="app.hits"]').textContent));
    const hits = await statNumber(page, 'app.hits');
    await quickTest(page, 1);
    assert.equal(await perfTone(page), 'database');
    assert.match(await page.textContent('#perf-source'), /^Database \(slow\)$/);
    assertHue(await rgbOf(page, '#perf-source > span'), 'database', 'Database badge');
    await quickTest(page, 1);
    assert.equal(await perfTone(page), 'cache');
    assert.match(await page.textContent('#perf-source'), /^Cache \(fast\)$/);
    assertHue(await rgbOf(page, '#perf-source > span'), 'cache', 'Cache badge');
    // The live figures follow: one more hit, on the same screen.
    await page.waitForFunction((h) => Number(document.querySelector('[data-stat="app.hits"]').textContent.replace(/,/g, '')) > h, hits, { timeout: 5000 });
    assert.ok(await inView(page, '[data-stat="app.hits"]'));
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the id field says which products exist, from the catalogue', async () => {
  const { page, context } = await open(SIZES.laptop);
  try {
    const count = (await ui.stack.dbProducts()).length;
    await page.waitForFunction(() => /exist/.test(document.querySelector('#product-id-hint').textContent));
    const hint = await page.textContent('#product-id-hint');
    assert.match(hint, count === 15 ? /^Products 1–15 exist\.$/ : /exist/, hint);
    assert.doesNotMatch(hint, /2147483647/);
  } finally {
    await context.close();
  }
});

test('every section has its own address: opened by URL, by its tab, with the keyboard, and the back button', async () => {
  for (const key of SECTION_KEYS) {
    const { page, context, problems } = await open(SIZES.laptop, `#${key}`);
    try {
      const shown = await page.$$eval('div[data-section]', (els) => els.filter((e) => !e.hidden).map((e) => e.dataset.section));
      assert.deepEqual(shown, [key], `#${key} shows its section alone`);
      assert.equal(await page.getAttribute(`[data-section-link="${key}"]`, 'aria-current'), 'page');
      assert.equal(await page.evaluate(() => window.scrollY), 0, 'the page stays at the top');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  }

  // No address, or an unknown one: Lookup.
  for (const hash of ['', '#nonsense']) {
    const { page, context } = await open(SIZES.phone, hash);
    try {
      assert.equal(await page.evaluate(() => document.body.dataset.currentSection), 'lookup', `"${hash}" shows Lookup`);
    } finally {
      await context.close();
    }
  }

  // Keyboard: Tab from the top reaches the tabs; Enter follows one, the arrows move along them.
  const { page, context, problems } = await open(SIZES.phone);
  try {
    let focused = null;
    for (let i = 0; i < 10 && focused !== 'stats'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement.dataset?.sectionLink ?? null);
    }
    assert.equal(focused, 'stats', 'Tab reaches the Live stats tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-section="stats"]:not([hidden])');
    assert.match(page.url(), /#stats$/);
    await page.keyboard.press('ArrowRight');
    await page.waitForSelector('[data-section="writes"]:not([hidden])');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.sectionLink), 'writes');
    assert.match(page.url(), /#writes$/);
    // The browser's back button goes back to the previous section.
    await page.goBack();
    await page.waitForSelector('[data-section="stats"]:not([hidden])');
    // The tabs stay at the top of a phone's screen while the page scrolls.
    await page.evaluate(() => window.scrollTo(0, 600));
    assert.ok(await inView(page, '#sections-nav'), 'the segmented control stays in view');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('with the near cache on, a hit says whether this process\'s memory (L1) or Redis (L2) answered', async () => {
  const { page, context, problems } = await open(SIZES.laptop);
  try {
    await labSet(ui.stack.url, { near_cache: true });
    // Each event loop reads product 5 from Redis once (L2) before its near cache answers (L1).
    const seen = new Set();
    for (let i = 0; i < 20 && !seen.has('L1'); i++) {
      await quickTest(page, 5);
      const text = await page.textContent('#result-message');
      if (/near cache, L1/.test(text)) seen.add('L1');
      else if (/served from the cache \(Redis\)/.test(text)) seen.add('L2');
    }
    assert.ok(seen.has('L1'), `an answer from the near cache within 20 lookups (seen: ${[...seen]})`);
    await labSet(ui.stack.url, { near_cache: false });
    await quickTest(page, 5);
    assert.match(await page.textContent('#result-message'), /served from the cache \(Redis\)/, 'L1 off: Redis answers');
    assert.deepEqual(problems, []);
  } finally {
    await labSet(ui.stack.url, { near_cache: false });
    await context.close();
  }
});

test('the slow-database switch beside Quick test sets db_delay_ms, and follows the setting', async () => {
  const { page, context, problems } = await open(SIZES.phone);
  try {
    assert.ok(await inView(page, '#slow-db'), 'the switch is on the first screen');
    const quick = await page.$eval('[data-quick-id="10"]', (el) => el.getBoundingClientRect().bottom);
    const toggle = await page.$eval('#slow-db', (el) => el.getBoundingClientRect().top);
    assert.ok(toggle - quick < 60, 'right beside Quick test');
    await page.waitForFunction(() => document.querySelector('#slow-db').title !== '');
    assert.equal(await page.isChecked('#slow-db'), false);
    await page.click('#slow-db');
    await page.waitForFunction(() => /now waits 100 ms/.test(document.querySelector('#slow-db-status').textContent));
    assert.equal((await labGet(ui.stack.url)).db_delay_ms, 100);
    // Changed elsewhere (the lab, another page): the switch follows.
    await labSet(ui.stack.url, { db_delay_ms: 0 });
    await page.waitForFunction(() => !document.querySelector('#slow-db').checked, null, { timeout: 5000 });
    await page.click('#slow-db');
    await page.waitForFunction(() => /now waits/.test(document.querySelector('#slow-db-status').textContent));
    await page.click('#slow-db');
    await page.waitForFunction(() => /full speed/.test(document.querySelector('#slow-db-status').textContent));
    assert.equal((await labGet(ui.stack.url)).db_delay_ms, 0);
    assert.deepEqual(problems, []);
  } finally {
    await labSet(ui.stack.url, { db_delay_ms: 0 });
    await context.close();
  }
});

test('chart legends give the latest values, never "—", and both axes are named with their unit', async () => {
  await ui.stack.redisCmd('DEL', 'product:4');
  const { page, context, problems } = await open(SIZES.laptop);
  try {
    await lookUp(page, 4);
    await lookUp(page, 4);
    await showSection(page, 'stats');
    await page.waitForSelector('#latency-chart canvas');
    await page.waitForFunction(() => /%/.test(document.querySelector('[data-legend="service"] [data-legend-value]').textContent), null, { timeout: 5000 });
    const legends = await page.$$eval('[data-legend]', (lis) => Object.fromEntries(lis.map((li) => [li.dataset.legend, li.querySelector('[data-legend-value]').textContent.trim()])));
    assert.match(legends.database, /^1 lookup, latest \d+(\.\d+)? ms/);
    assert.match(legends.cache, /^1 lookup, latest \d+(\.\d+)? ms/);
    assert.match(legends.service, /^\d+\.\d{2} %$/);
    assert.ok(Object.values(legends).every((v) => v !== '—' && v !== ''), JSON.stringify(legends));
    // uPlot's own legend (values only under the cursor, "—" otherwise) is off.
    assert.equal(await page.$$eval('.u-legend', (l) => l.length), 0);
    // uPlot draws the axis names on the canvas; the charts name them on their containers too.
    assert.equal(await page.getAttribute('#latency-chart', 'data-axes'), 'time (local clock) | fetch time (ms, log scale)');
    assert.equal(await page.getAttribute('#hitrate-chart', 'data-axes'), 'time (local clock) | hit rate (%)');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('360 px: no sideways scrolling and no word cut in two in any section', async () => {
  const { page, context, problems } = await open({ width: 360, height: 780 });
  try {
    await lookUp(page, 1);
    for (const key of SECTION_KEYS) {
      await showSection(page, key);
      const { scrollWidth, clientWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth }));
      assert.ok(scrollWidth <= clientWidth, `${key}: page is ${scrollWidth}px wide in a ${clientWidth}px viewport`);
      const cut = await page.evaluate(() =>
        [...document.querySelectorAll('main *')]
          .filter((el) => el.offsetParent && getComputedStyle(el).wordBreak === 'break-all')
          .map((el) => el.id || el.className),
      );
      assert.deepEqual(cut, [], `${key}: elements that break words anywhere`);
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('cards take the height of their content (the request log with two rows does not stretch)', async () => {
  const { page, context, problems } = await open(SIZES.laptop);
  try {
    await lookUp(page, 1);
    await lookUp(page, 1);
    for (const key of SECTION_KEYS) {
      await showSection(page, key);
      const slack = await page.$$eval(`div[data-section="${key}"] section`, (cards) =>
        cards
          .filter((c) => c.offsetParent && c.lastElementChild)
          .map((c) => {
            const pad = parseFloat(getComputedStyle(c).paddingBottom);
            const last = [...c.children].filter((e) => e.offsetParent || getComputedStyle(e).display !== 'none').at(-1);
            return [c.id, Math.round(c.getBoundingClientRect().bottom - last.getBoundingClientRect().bottom - pad)];
          })
          .filter(([, gap]) => gap > 24),
      );
      assert.deepEqual(slack, [], `${key}: cards taller than their content`);
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the health chip is one word in the header and expands to the details', async () => {
  const { page, context, problems } = await open(SIZES.phone);
  try {
    await page.waitForFunction(() => document.querySelector('#health-overall').dataset.state === 'healthy');
    assert.equal((await page.textContent('#health-overall')).trim(), 'Healthy');
    assert.equal(await page.isVisible('#health-breaker'), false, 'the details wait behind the chip');
    await page.click('#health-overall');
    await page.waitForSelector('#health-redis[data-state="up"]');
    assert.match(await page.textContent('#health-breaker'), /closed \(using Redis\)/);
    assert.match(await page.textContent('#feed-mode'), /Live updates/);
    assert.ok(await inView(page, '#feed-mode'), 'the details fit the screen');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('Failure labs says what a scenario run does to the cache and to the lookup counters', async () => {
  const { page, context } = await open(SIZES.laptop, '#labs');
  try {
    const note = (await page.textContent('#scenarios-note')).replace(/\s+/g, ' ');
    assert.match(note, /clears the cached products/);
    assert.match(note, /Scenario lookups are counted separately/);
    // The breaker and the settings sit beside the scenarios.
    for (const sel of ['#scenarios', '#breaker-box', '#lab']) assert.ok(await page.isVisible(sel), sel);
  } finally {
    await context.close();
  }
});

test('the first view is light: at most 70 KB gzip-compressed, and the code of the charts waits for Live stats', async () => {
  const bodies = new Map();
  const { page, context, problems } = await openPage(browser, ui.pageUrl(), {
    viewport: SIZES.phone,
    beforeGoto: (p) =>
      p.on('response', (r) => {
        // The live stream never ends: its first events are a few hundred bytes, left out here.
        if (!(r.headers()['content-type'] ?? '').startsWith('text/event-stream')) bodies.set(r.url(), r.body().catch(() => Buffer.alloc(0)));
      }),
  });
  try {
    await quickTest(page, 1);
    await page.waitForFunction(() => /\d/.test(document.querySelector('[data-stat="app.hit_rate"]').textContent));
    const urls = [...bodies.keys()];
    assert.ok(!urls.some((u) => /\/_astro\/chart\.[^/]*\.js$/.test(u)), `no chart code in the first view: ${urls.join(' ')}`);
    let total = 0;
    for (const body of bodies.values()) total += zlib.gzipSync(await body, { level: 9 }).length;
    assert.ok(total <= 70 * 1024, `first view: ${(total / 1024).toFixed(1)} KB gzip-compressed (${urls.length} responses)`);
    await showSection(page, 'stats');
    await page.waitForSelector('#latency-chart canvas');
    assert.ok([...bodies.keys()].some((u) => /\/_astro\/chart\.[^/]*\.js$/.test(u)), 'the chart code comes with Live stats');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
