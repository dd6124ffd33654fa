// Page helpers for the dashboard tests: the actions a user takes and the values they read, in the
// dashboard's own vocabulary (source, fetch_time_ms, hit rate). Every wait is a bounded poll on
// something visible; nothing sleeps for a fixed time.

import assert from 'node:assert/strict';

/**
 * Show a section of the page (lookup, stats, writes, labs, settings) as a user does: with its tab
 * (or, on a phone, its segment); resolves once it is the one shown.
 */
export async function showSection(page, key) {
  await page.click(`[data-section-link="${key}"]`);
  await page.waitForSelector(`div[data-section="${key}"]:not([hidden])`);
}

/** The section shown now (lookup, stats, writes, labs, settings). */
export async function currentSection(page) {
  return page.evaluate(() => document.body.dataset.currentSection);
}

/** Show a section unless it is the one shown. */
export async function ensureSection(page, key) {
  if ((await currentSection(page)) !== key) await showSection(page, key);
}

/** Expand the health chip in the header (Redis, PostgreSQL, the breaker, the live-update mode). */
export async function openHealth(page) {
  await page.evaluate(() => {
    document.querySelector('#health').open = true;
  });
}

/** In the Lookup section, type `id` into the lookup field and submit with the button; resolves once a new result shows. */
export async function lookUp(page, id) {
  await ensureSection(page, 'lookup');
  const before = await lastSeq(page);
  await page.fill('#product-id', String(id));
  await page.click('#lookup-submit');
  await waitForNewLookup(page, before);
}

/** The seq of the newest request-log row (0 when empty). */
export async function lastSeq(page) {
  return page.evaluate(() => Number(document.querySelector('#request-log tbody tr')?.dataset.seq ?? 0));
}

/** Wait until the request log shows a lookup newer than `seq`. */
export async function waitForNewLookup(page, seq) {
  await page.waitForFunction((s) => Number(document.querySelector('#request-log tbody tr')?.dataset.seq ?? 0) > s, seq);
}

/** The tone of the source badge in the performance panel: cache | database | fallback | none. */
export async function perfTone(page) {
  return page.getAttribute('#perf-source > span', 'data-tone');
}

/** Text of a statistics cell, e.g. stat(page, 'app.hits'). */
export async function stat(page, key) {
  return (await page.textContent(`[data-stat="${key}"]`)).trim();
}

/** A statistics cell as a number ("1,234" -> 1234; "—" -> NaN). */
export async function statNumber(page, key) {
  return Number((await stat(page, key)).replace(/[,\s%]/g, ''));
}

/** The [r, g, b] sRGB bytes of a computed colour property (works for oklch() too, via a canvas). */
export async function rgbOf(page, selector, property = 'background-color') {
  return page.$eval(
    selector,
    (el, prop) => {
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.fillStyle = '#000';
      ctx.fillStyle = getComputedStyle(el).getPropertyValue(prop);
      ctx.fillRect(0, 0, 1, 1);
      return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)];
    },
    property,
  );
}

/** Asserts the hue family of a badge: green for cache, blue for database, amber for fallback. */
export function assertHue([r, g, b], tone, what) {
  const msg = `${what}: rgb(${r}, ${g}, ${b}) should be ${tone}`;
  if (tone === 'cache') assert.ok(g > r && g > b, msg);
  else if (tone === 'database') assert.ok(b > r && b > g, msg);
  else if (tone === 'fallback') assert.ok(r > b && g > b && r >= g, msg);
  else assert.fail(`unknown tone ${tone}`);
}

/** Number of points a chart container says it plots. */
export async function chartPoints(page, id) {
  return Number(await page.getAttribute(`#${id}`, 'data-points'));
}

/** Product fields as the result card shows them. */
export async function cardFields(page) {
  return page.$$eval('#product-card [data-field]', (dds) => Object.fromEntries(dds.map((dd) => [dd.dataset.field, dd.textContent.trim()])));
}

/** Number of rows in the request log. */
export async function logRows(page) {
  return page.$$eval('#request-log tbody tr', (rows) => rows.length);
}

/** Under Writes, load product `id` into the edit form with its own id field; resolves once the form shows it. */
export async function loadForEdit(page, id) {
  await ensureSection(page, 'writes');
  await page.fill('#edit-id', String(id));
  await page.click('#edit-load');
  await page.waitForFunction((i) => !document.querySelector('#edit-form').hidden && /Editing product (\d+)/.exec(document.querySelector('#edit-status').textContent)?.[1] === String(i), id);
}

/** The edit form's values, by API field name. */
export async function editValues(page) {
  return page.$$eval('#edit-form [name]', (els) => Object.fromEntries(els.map((el) => [el.name, el.value])));
}

/** The validation message shown next to a field of the edit form ('' when none). */
export async function fieldError(page, field) {
  return (await page.textContent(`#edit-${field}-error`)).trim();
}

/** Click "Look it up again" in the write-result box; resolves with its verdict once it shows. */
export async function lookUpAgain(page) {
  await ensureSection(page, 'writes');
  const before = await lastSeq(page);
  await page.click('#write-lookup');
  await waitForNewLookup(page, before);
  await page.waitForSelector('#write-lookup-result[data-verdict]');
  return page.getAttribute('#write-lookup-result', 'data-verdict');
}

/**
 * Record the requests the page sends to change products (anything but GET/HEAD/OPTIONS on
 * /products), as { method, path, body } in the order sent.
 */
export function recordWrites(page) {
  const writes = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (!url.pathname.startsWith('/products') || ['GET', 'HEAD', 'OPTIONS'].includes(r.method())) return;
    let body = null;
    try {
      body = r.postDataJSON();
    } catch {
      body = r.postData();
    }
    writes.push({ method: r.method(), path: url.pathname, body });
  });
  return writes;
}

// ----- X-Cache, the lab and the scenarios ---------------------------------------------------------

/** The X-Cache value the performance panel shows for the last lookup: HIT | MISS | STALE | BYPASS | none. */
export async function perfXCache(page) {
  return page.getAttribute('#perf-xcache > span', 'data-xcache');
}

/** Show Failure labs and wait until the lab panel shows the service's settings. */
export async function waitForLab(page) {
  await ensureSection(page, 'labs');
  await page.waitForSelector('#lab-form:not([hidden])');
}

/** A lab setting as the form shows it: a boolean for a switch, the text for a number. */
export async function labValue(page, key) {
  return page.$eval(`#lab-${key}`, (el) => (el.type === 'checkbox' ? el.checked : el.value));
}

/** Set lab fields ({ ttl_seconds: 120, refresh_ahead: false }) in the form, without applying. */
export async function setLab(page, values) {
  for (const [key, value] of Object.entries(values)) {
    if (typeof value === 'boolean') await page.setChecked(`#lab-${key}`, value);
    else await page.fill(`#lab-${key}`, String(value));
  }
}

/** The validation message next to a lab setting ('' when none). */
export async function labError(page, key) {
  return (await page.textContent(`#lab-${key}-error`)).trim();
}

/** The bodies of the PUT /lab/config requests the page sends, with their Authorization header. */
export function recordLabPuts(page) {
  const puts = [];
  page.on('request', (r) => {
    if (r.method() !== 'PUT' || !new URL(r.url()).pathname.endsWith('/lab/config')) return;
    puts.push({ body: r.postDataJSON(), authorization: r.headers().authorization ?? null });
  });
  return puts;
}

/** Under Failure labs, click a scenario's button; resolves with the status's data-state once the run has ended. */
export async function runScenario(page, name) {
  await ensureSection(page, 'labs');
  await page.click(`#scenarios [data-scenario="${name}"]`);
  await page.waitForFunction(() => {
    const state = document.querySelector('#scenario-status').dataset.state;
    return state && state !== 'running';
  }, null, { timeout: 60000 });
  return page.getAttribute('#scenario-status', 'data-state');
}

/** The comparison table of the last scenario run: { metric: { without, with } } as numbers (null: —). */
export async function scenarioTable(page) {
  return page.$$eval('#scenario-table tbody tr', (rows) =>
    Object.fromEntries(
      rows.map((tr) => {
        const v = (run) => {
          const raw = tr.querySelector(`[data-run="${run}"]`).dataset.value;
          return raw === '' ? null : Number(raw);
        };
        return [tr.dataset.metric, { without: v('without'), with: v('with') }];
      }),
    ),
  );
}

// ----- Server-side latency ------------------------------------------------------------------------

/**
 * The "Server-side latency by source" table as numbers:
 * { cache: { count, p50_ms, p95_ms, p99_ms, max_ms }, database: {...}, stale: {...} } (null: "—").
 */
export async function serverLatency(page) {
  return page.$$eval('#server-latency tbody tr', (rows) =>
    Object.fromEntries(
      rows.map((tr) => [
        tr.dataset.source,
        Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map((td) => [td.dataset.col, td.dataset.value === '' ? null : Number(td.dataset.value)])),
      ]),
    ),
  );
}
