// Change notifications: a change made behind the service's back (psql) reaches the cache through
// LISTEN/NOTIFY on products_changed — the next read sees it within 1 s — also after the listener
// connections (application_name cacheme-listener) were terminated and came back. /cache/stats
// shows write_mode and the writes / invalidations / notifications counters moving as they should,
// and /events delivers `event: invalidation` for a psql UPDATE.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertDetail } from './lib/expect.mjs';
import { waitFor } from '../lib/util.mjs';
import { eventData, openEvents } from '../lib/sse.mjs';
import { getProduct, primeCache, sendJson } from './lib/writes.mjs';

const WORKERS = 2;
const ENV = { WORKERS };
// The contract: "an UPDATE through psql is reflected on the next read (source database, new data)
// within 1 s", and a lost listener connection comes back within ~100 ms–2 s.
const SEEN_WITHIN_MS = 1000;
const RECONNECT_BOUND_MS = 5000;

let stack;

before(async () => {
  stack = await startStack({ env: ENV });
});

after(async () => {
  await stack?.teardown();
});

/** UPDATE through psql; returns the new version. */
async function psqlUpdate(id, set) {
  return Number(await stack.psql(`UPDATE products SET ${set} WHERE id = ${id} RETURNING version`));
}

/**
 * Poll GET /products/{id} until `ok(body, status)` holds, with a deadline of SEEN_WITHIN_MS counted
 * from now (the moment the change committed). Returns the matching answer.
 */
async function seenWithin(id, ok, what) {
  const t0 = performance.now();
  const r = await waitFor(
    async () => {
      const res = await stack.get(`/products/${id}`, { timeout: SEEN_WITHIN_MS });
      return ok(res.body, res.status) && res;
    },
    { timeout: SEEN_WITHIN_MS, interval: 20, message: `${what} seen by a read within ${SEEN_WITHIN_MS} ms` },
  );
  const ms = performance.now() - t0;
  assert.ok(ms <= SEEN_WITHIN_MS + 50, `${what} seen after ${Math.round(ms)} ms`);
  return r;
}

async function listeners() {
  const out = await stack.psql("SELECT coalesce(json_agg(json_build_object('pid', pid, 'query', query, 'state', state)), '[]') FROM pg_stat_activity WHERE application_name = 'cacheme-listener'");
  return JSON.parse(out);
}

/** Wait until WORKERS listener connections are there, LISTENing, none of them in `gone`. */
async function waitForListeners(gone = [], timeout = RECONNECT_BOUND_MS) {
  return waitFor(
    async () => {
      const l = await listeners();
      return l.length === WORKERS && l.every((c) => !gone.includes(c.pid) && /^LISTEN/i.test(c.query) && c.state === 'idle') && l;
    },
    { timeout, interval: 20, message: `${WORKERS} cacheme-listener connections LISTENing in pg_stat_activity` },
  );
}

async function stats() {
  const r = await stack.get('/cache/stats');
  assert.equal(r.status, 200, r.text);
  return r.body;
}

// ---------------------------------------------------------------------------------------------

for (const mode of ['invalidate', 'write-through']) {
  test(`${mode}: a psql UPDATE, DELETE and INSERT are seen by the next read within 1 s`, { timeout: 60000 }, async () => {
    await stack.redisCmd('FLUSHALL');
    await stack.restartService({ env: { ...ENV, CACHE_WRITE_MODE: mode } });
    await waitForListeners();
    const id = mode === 'invalidate' ? 8 : 9;
    for (let round = 1; round <= 5; round++) {
      await primeCache(stack, id);
      const name = `${mode} psql round ${round}`;
      await psqlUpdate(id, `name = '${name}', price = ${round}.25`);
      const r = await seenWithin(id, (b) => b?.name === name, `psql UPDATE round ${round}`);
      assert.equal(r.body.price, round + 0.25, 'the whole new row');
      assert.equal(r.body.source, 'database', 'read from the database after the notification dropped the key');
    }
    // A DELETE through psql: the next read is 404 within 1 s.
    await primeCache(stack, id + 2);
    await stack.psql(`DELETE FROM products WHERE id = ${id + 2}`);
    await seenWithin(id + 2, (b, status) => status === 404 && b?.detail === 'Product not found', 'psql DELETE');
    // An INSERT through psql is readable at once (it was never cached).
    const newId = Number(await stack.psql("INSERT INTO products (name, price) VALUES ('psql insert', 1) RETURNING id"));
    const ins = await getProduct(stack, newId);
    assert.equal(ins.name, 'psql insert');
  });
}

test('LISTEN connections killed with pg_terminate_backend come back; changes are seen within 1 s again', { timeout: 90000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  const svc = await stack.restartService({ env: ENV });
  const before = await waitForListeners();
  await primeCache(stack, 1);
  await primeCache(stack, 2);

  for (let round = 1; round <= 2; round++) {
    const old = (await listeners()).map((c) => c.pid);
    const killed = await stack.psql("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cacheme-listener') t");
    assert.equal(Number(killed), WORKERS, `terminated ${WORKERS} listener connections`);
    // A change made while the listeners may be gone: its notification can be lost, so the service
    // drops every cached product once it listens again.
    const name1 = `changed while not listening ${round}`;
    await psqlUpdate(1, `name = '${name1}'`);

    const t0 = performance.now();
    const back = await waitForListeners(old);
    const ms = performance.now() - t0;
    assert.ok(back.every((c) => !old.includes(c.pid)), 'new connections');
    await seenWithin(1, (b) => b?.name === name1, `the change made during the outage (round ${round}, listeners back after ${Math.round(ms)} ms)`);

    // And the notification path works again.
    await primeCache(stack, 2);
    const name2 = `changed after reconnect ${round}`;
    await psqlUpdate(2, `name = '${name2}'`);
    await seenWithin(2, (b) => b?.name === name2, `psql UPDATE after the listeners came back (round ${round})`);
    await primeCache(stack, 1);
  }
  await waitFor(() => /change listener back/.test(svc.log()), { timeout: 5000, message: '"change listener back" in the log' });
  assert.equal(svc.exitInfo, undefined, 'the service kept running');
  assert.notDeepEqual(before.map((c) => c.pid).sort(), (await listeners()).map((c) => c.pid).sort());
});

test('/cache/stats: write_mode, and writes / invalidations / notifications move as expected', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: ENV });
  await waitForListeners();
  const s0 = await stats();
  assert.equal(s0.write_mode, 'invalidate');
  assert.ok(!('write_behind' in s0), 'no write_behind block outside write-behind mode');
  for (const f of ['writes', 'invalidations', 'notifications']) {
    assert.equal(typeof s0.app_stats[f], 'number', `app_stats.${f} is a number`);
  }
  const base = s0.app_stats;
  const delta = async () => {
    const a = (await stats()).app_stats;
    return { writes: a.writes - base.writes, invalidations: a.invalidations - base.invalidations, notifications: a.notifications - base.notifications };
  };
  const waitForNotifications = (n) =>
    waitFor(async () => {
      const d = await delta();
      return d.notifications >= n && d.invalidations >= 1 && d;
    }, { timeout: 5000, interval: 20, message: `${n} notifications counted` });

  // A psql UPDATE of a cached product: every loop hears it, one of them drops the entry.
  await primeCache(stack, 12);
  await psqlUpdate(12, "name = 'stats psql'");
  let d = await waitForNotifications(WORKERS);
  assert.equal(d.notifications, WORKERS, 'one notification per event loop');
  assert.equal(d.invalidations, 1, 'one cached entry dropped');
  assert.equal(d.writes, 0, 'a psql change is not an API write');

  // API writes: counted once each when committed; each drops the cached entry.
  await primeCache(stack, 13);
  const w1 = await sendJson(stack.url, 'PATCH', '/products/13', { price: 3.5 });
  assert.equal(w1.status, 200, w1.text);
  d = await delta();
  assert.equal(d.writes, 1, 'PATCH counted as one write');
  assert.ok(d.invalidations >= 2, `the PATCH dropped the cached entry (invalidations +${d.invalidations - 1})`);
  await waitFor(async () => (await delta()).notifications >= 2 * WORKERS, { timeout: 5000, interval: 20, message: 'notification of the PATCH' });

  const c = await sendJson(stack.url, 'POST', '/products', { name: 'counted', price: 1 });
  assert.equal(c.status, 201);
  const p = await sendJson(stack.url, 'PUT', `/products/${c.body.id}`, { name: 'counted 2', price: 2 });
  assert.equal(p.status, 200);
  const del = await sendJson(stack.url, 'DELETE', `/products/${c.body.id}`);
  assert.equal(del.status, 204);
  d = await delta();
  assert.equal(d.writes, 4, 'POST, PUT and DELETE counted');

  // Failed writes are not counted.
  assert.equal((await sendJson(stack.url, 'PATCH', '/products/13', {})).status, 422);
  assert.equal((await sendJson(stack.url, 'POST', '/products', { price: 1 })).status, 422);
  assertDetail(await sendJson(stack.url, 'PATCH', '/products/999999', { name: 'x' }), 404, 'Product not found');
  assertDetail(await sendJson(stack.url, 'DELETE', `/products/${c.body.id}`), 404, 'Product not found');
  d = await delta();
  assert.equal(d.writes, 4, '422 and 404 are not writes');

  // Every committed change (1 psql + 4 API writes) is heard by every loop, exactly once.
  d = await waitFor(async () => {
    const x = await delta();
    return x.notifications >= 5 * WORKERS && x;
  }, { timeout: 5000, interval: 20, message: 'all notifications counted' });
  assert.equal(d.notifications, 5 * WORKERS, 'notifications = changes x event loops');
  // Each API write dropped (or found already dropped) its entry; a change counts at most once per
  // way it reached the cache (the write itself and its notification).
  assert.ok(d.invalidations >= 1 + 4 && d.invalidations <= 1 + 2 * 4, `invalidations +${d.invalidations} for 1 psql change and 4 API writes`);

  // write-through reports its mode too.
  await stack.restartService({ env: { ...ENV, CACHE_WRITE_MODE: 'write-through' } });
  const s1 = await stats();
  assert.equal(s1.write_mode, 'write-through');
  assert.ok(!('write_behind' in s1));
});

/** Matches an `event: invalidation` of product `id` (at `version`, when given). */
function invalidationOf(id, version) {
  return (e) => {
    if (e.event !== 'invalidation') return false;
    const data = eventData(e);
    return data?.id === id && (version === undefined || data.version === version);
  };
}

test('/events: a psql UPDATE arrives as `event: invalidation` with id and version, once per change', { timeout: 60000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: ENV });
  await waitForListeners();
  const sse = await openEvents(`${stack.url}/events`);
  try {
    assert.equal(sse.status, 200);
    assert.match(sse.headers.get('content-type'), /^text\/event-stream/);
    // The stats event carries the new figures.
    const st = eventData(await sse.next((e) => e.event === 'stats', 5000, 'a stats event'));
    assert.equal(st.write_mode, 'invalidate', 'write_mode in the stats event');
    for (const f of ['writes', 'invalidations', 'notifications']) assert.equal(typeof st.app_stats[f], 'number', `stats event app_stats.${f}`);

    await primeCache(stack, 14);
    const v1 = await psqlUpdate(14, "name = 'sse one'");
    const t0 = performance.now();
    const e1 = eventData(await sse.next(invalidationOf(14, v1), SEEN_WITHIN_MS + 1000, `invalidation event for 14:${v1}`));
    const ms = performance.now() - t0;
    assert.ok(ms < SEEN_WITHIN_MS + 1000, `event after ${Math.round(ms)} ms`);
    assert.deepEqual(Object.keys(e1).sort(), ['id', 'outcome', 'timestamp', 'version']);
    assert.ok(['dropped', 'already applied'].includes(e1.outcome), `outcome ${e1.outcome}`);
    assert.equal(typeof e1.timestamp, 'number');
    assert.ok(Math.abs(e1.timestamp - Date.now() / 1000) < 60, 'timestamp is unix seconds, now');

    // A second change: once its event is there, the first one has been sent exactly once.
    const v2 = await psqlUpdate(14, "name = 'sse two'");
    assert.equal(v2, v1 + 1);
    await sse.next(invalidationOf(14, v2), SEEN_WITHIN_MS + 1000, `invalidation event for 14:${v2}`);
    const ones = sse.events.filter(invalidationOf(14, v1));
    assert.equal(ones.length, 1, 'one event per change per subscriber');

    // An API write is announced too (its own notification; the write already dropped the key).
    const w = await sendJson(stack.url, 'PATCH', '/products/14', { name: 'sse api' });
    assert.equal(w.status, 200);
    const v3 = Number(await stack.psql('SELECT version FROM products WHERE id = 14'));
    const e3 = eventData(await sse.next(invalidationOf(14, v3), SEEN_WITHIN_MS + 1000, `invalidation event for the API write 14:${v3}`));
    assert.ok(['dropped', 'already applied'].includes(e3.outcome), `outcome ${e3.outcome}`);

    // A psql DELETE: version one past the row's last.
    await stack.psql('DELETE FROM products WHERE id = 15');
    await sse.next(invalidationOf(15), SEEN_WITHIN_MS + 1000, 'invalidation event for the psql DELETE of 15');
  } finally {
    await sse.close();
  }
});
