// CACHE_WRITE_MODE=write-behind: PUT/PATCH/DELETE answer 202 once the change is queued in the Redis
// Stream cacheme:writes and the cache holds the new state; one consumer per process (group
// cacheme-writers) applies the entries to PostgreSQL in stream order, each exactly once (table
// applied_writes), retrying while PostgreSQL is down and reclaiming what a crashed consumer left
// pending. POST still writes to PostgreSQL directly (201).
//
// A test-side audit (lib/writes.mjs installAppliedAudit) records every committed change of products
// and every applied_writes row with their transaction ids, so each applied stream entry can be
// joined with the change it made (the payload identifies the write: description "w<n>").

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { assertDetail, ISO_8601 } from './lib/expect.mjs';
import { waitFor } from '../lib/util.mjs';
import { assertProductNotFound, cachedProduct } from './lib/resilience.mjs';
import { holdRowLock, installAppliedAudit, psqlRows, sendJson, startServiceOnPort, streamGroups } from './lib/writes.mjs';
import { parseExposition, promtoolCheck, valueOf } from './lib/prometheus.mjs';

const STREAM = 'cacheme:writes';
const DEAD = 'cacheme:writes:dead';
const GROUP = 'cacheme-writers';
const ENV = { WORKERS: 2, CACHE_WRITE_MODE: 'write-behind', PG_TIMEOUT_MS: 1000 };

let stack;

before(async () => {
  stack = await startStack({ env: ENV });
  await installAppliedAudit(stack);
});

after(async () => {
  await stack?.teardown();
});

const write = (method, pathname, body) => sendJson(stack.url, method, pathname, body);

async function primeCache(id) {
  const r = await stack.get(`/products/${id}`);
  assert.equal(r.status, 200, r.text);
  await stack.waitForKeys(`product:${id}`);
}

/**
 * Pending (delivered, unacknowledged: XPENDING) and lag (not yet delivered: XINFO GROUPS) of the
 * group, straight from Redis.
 */
async function queueState() {
  const g = (await streamGroups(stack, STREAM)).find((x) => x.name === GROUP);
  if (!g) return { pending: undefined, lag: undefined, group: false };
  const [pending] = await stack.redisCmd('XPENDING', STREAM, GROUP);
  return { pending, lag: g.lag, group: true };
}

/** The dead-letter stream's entries as [{ dead_id, ...fields }], oldest first. */
async function deadLetters() {
  const entries = await stack.redisCmd('XRANGE', DEAD, '-', '+');
  return entries.map(([id, flat]) => {
    const o = { dead_id: id };
    for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]] = flat[i + 1];
    return o;
  });
}

/** write_behind of /cache/stats and the dead-letter counter of /metrics. */
async function deadLetterFigures() {
  const wb = (await stack.get('/cache/stats')).body.write_behind;
  const m = await stack.get('/metrics');
  assert.equal(m.status, 200);
  return { wb, metric: valueOf(parseExposition(m.text), 'cacheme_write_behind_dead_letters_total'), text: m.text };
}

/** Wait until the queue is drained: the group exists, nothing pending, nothing undelivered. */
async function waitForDrained(timeout, message = 'write-behind queue drained') {
  return waitFor(
    async () => {
      const q = await queueState();
      return q.group && q.pending === 0 && q.lag === 0 && q;
    },
    { timeout, interval: 100, message },
  );
}

// ---------------------------------------------------------------------------------------------

test('write-behind: 202 for PUT/PATCH/DELETE, the next GET is a cache hit with the new data, PostgreSQL follows', { timeout: 60000 }, async () => {
  const s = (await stack.get('/cache/stats')).body;
  assert.equal(s.write_mode, 'write-behind');
  assert.ok(s.write_behind && typeof s.write_behind === 'object', `write_behind block in /cache/stats: ${JSON.stringify(s)}`);
  for (const f of ['pending', 'lag', 'applied', 'retries', 'dead_letters']) assert.equal(typeof s.write_behind[f], 'number', `write_behind.${f}`);
  assert.ok(Array.isArray(s.write_behind.recent_dead_letters), 'write_behind.recent_dead_letters is a list');

  const seed3 = await stack.dbProduct(3);
  const p = await write('PATCH', '/products/3', { name: 'wb patched', price: 11.11 });
  assert.equal(p.status, 202, p.text);
  assert.equal(p.headers.get('x-cache-write-mode'), 'write-behind');
  assert.equal(p.headers.get('x-cache-action'), 'queued');
  assert.deepEqual(
    [p.body.id, p.body.name, p.body.price, p.body.description, p.body.category],
    [3, 'wb patched', 11.11, seed3.description, seed3.category],
    'the 202 body is the product as it will be',
  );
  const g = await stack.get('/products/3');
  assert.equal(g.status, 200);
  assert.equal(g.body.source, 'cache', 'the next GET is a hit');
  assert.deepEqual([g.body.name, g.body.price, g.body.description, g.body.category], ['wb patched', 11.11, seed3.description, seed3.category]);
  await waitFor(async () => (await stack.dbProduct(3)).name === 'wb patched', { timeout: 10000, message: 'PATCH applied to PostgreSQL' });
  const row = await stack.dbProduct(3);
  assert.equal(Number(row.price), 11.11);
  assert.equal(Date.parse(row.created_at), Date.parse(seed3.created_at), 'created_at kept');
  const applied = await psqlRows(stack, "SELECT stream_id, product_id, op FROM applied_writes WHERE product_id = 3");
  assert.equal(applied.length, 1, `one applied_writes row: ${JSON.stringify(applied)}`);
  assert.equal(applied[0].op, 'update');

  // PUT: full replacement, omitted members become null.
  const put = await write('PUT', '/products/3', { name: 'wb put', price: 2 });
  assert.equal(put.status, 202, put.text);
  assert.deepEqual([put.body.name, put.body.price, put.body.description, put.body.category], ['wb put', 2, null, null]);
  const g2 = await stack.get('/products/3');
  assert.equal(g2.body.source, 'cache');
  assert.deepEqual([g2.body.name, g2.body.price, g2.body.description, g2.body.category], ['wb put', 2, null, null]);
  await waitFor(async () => (await stack.dbProduct(3)).name === 'wb put', { timeout: 10000, message: 'PUT applied' });
  assert.deepEqual([(await stack.dbProduct(3)).description, (await stack.dbProduct(3)).category], [null, null]);

  // DELETE: 202 without a body; once applied, the product is gone.
  const d = await write('DELETE', '/products/4');
  assert.equal(d.status, 202, d.text);
  assert.equal(d.text, '', 'DELETE 202 has no body');
  assert.equal(d.headers.get('x-cache-action'), 'queued');
  // Dropped, or replaced by a not-found entry (negative caching).
  assert.equal(await cachedProduct(stack, 'product:4'), null, 'the cached copy is dropped before the answer');
  await waitFor(async () => (await stack.dbProduct(4)) === null, { timeout: 10000, message: 'DELETE applied' });
  assertProductNotFound(await stack.get('/products/4'));

  // POST goes to PostgreSQL directly.
  const c = await write('POST', '/products', { name: 'wb post', price: 5 });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.headers.get('location'), `/products/${c.body.id}`);
  assert.ok(await stack.dbProduct(c.body.id), 'the POSTed row is in PostgreSQL when 201 is answered');

  // Errors as in the other modes.
  assertDetail(await write('PATCH', '/products/999999', { name: 'x' }), 404, 'Product not found');
  assertDetail(await write('DELETE', '/products/999999'), 404, 'Product not found');
  assert.equal((await write('PATCH', '/products/3', {})).status, 422);
  assert.equal((await write('PUT', '/products/3', { name: 'x' })).status, 422);

  await waitForDrained(10000);
  const s2 = (await stack.get('/cache/stats')).body;
  assert.ok(s2.write_behind.applied >= 3, `write_behind.applied ${s2.write_behind.applied}`);
});

// The applier is held back by a row lock (writes to that row wait; reads do not), so the queued
// change is acknowledged and cached but not yet in PostgreSQL while the test reads.

test('write-behind: a queued DELETE — reads answer 404 before and after it is applied (no resurrection from PostgreSQL)', { timeout: 60000 }, async () => {
  await primeCache(12);
  const lock = await holdRowLock(stack, 12);
  const seen = {};
  try {
    const d = await write('DELETE', '/products/12');
    assert.equal(d.status, 202, d.text);
    const r = await stack.get('/products/12');
    // A 404 may come from a negative entry ({"detail":...,"source":"cache"}); a product would not.
    seen.beforeApplied = `${r.status} ${r.body?.detail ?? r.body?.source}`;
  } finally {
    await lock.release();
  }
  await waitFor(async () => (await stack.dbProduct(12)) === null, { timeout: 15000, message: 'DELETE applied' });
  await waitForDrained(15000);
  const r = await stack.get('/products/12');
  seen.afterApplied = `${r.status} ${r.body?.detail ?? r.body?.source}`;
  seen.cachedAfterApplied = await cachedProduct(stack, 'product:12');
  assert.deepEqual(seen, { beforeApplied: '404 Product not found', afterApplied: '404 Product not found', cachedAfterApplied: null }, 'GET /products/12 after DELETE answered 202');
});

test('write-behind: a queued PATCH whose cached copy was dropped (cache clear) — once applied, reads return it', { timeout: 60000 }, async (t) => {
  await primeCache(1);
  const lock = await holdRowLock(stack, 1);
  let beforeApplied;
  try {
    const w = await write('PATCH', '/products/1', { name: 'queued while locked' });
    assert.equal(w.status, 202, w.text);
    const hit = await stack.get('/products/1');
    assert.equal(hit.body.source, 'cache');
    assert.equal(hit.body.name, 'queued while locked');
    const c = await stack.get('/cache/clear', { method: 'DELETE' });
    assert.equal(c.status, 200, c.text);
    // Not yet applied and no longer cached: what a read answers now is not pinned by the contract
    // (noted in the output), but it must not stick once the change is applied.
    beforeApplied = (await stack.get('/products/1')).body?.name;
    t.diagnostic(`read between cache clear and apply: ${JSON.stringify(beforeApplied)}`);
  } finally {
    await lock.release();
  }
  await waitFor(async () => (await stack.dbProduct(1)).name === 'queued while locked', { timeout: 15000, message: 'PATCH applied' });
  await waitForDrained(15000);
  const r = await stack.get('/products/1');
  assert.equal(r.body.name, 'queued while locked', `GET after the PATCH was applied (source ${r.body.source}; the read before the apply saw ${JSON.stringify(beforeApplied)})`);
});

test('write-behind: PostgreSQL stopped — writes are still acknowledged and served, and applied once it is back', { timeout: 120000 }, async () => {
  await primeCache(5);
  await primeCache(6);
  const seed5 = await stack.dbProduct(5);
  const deadBefore = await deadLetters();
  const figuresBefore = await deadLetterFigures();
  await stack.stopPostgres('fast');
  const acked = [];
  try {
    const w1 = await write('PATCH', '/products/5', { name: 'while down 1' });
    const w2 = await write('PATCH', '/products/5', { price: 12.34 });
    const w3 = await write('PUT', '/products/6', { name: 'while down put', price: 6.66, category: 'Down' });
    for (const [w, what] of [[w1, 'PATCH 5'], [w2, 'PATCH 5 again'], [w3, 'PUT 6']]) {
      assert.equal(w.status, 202, `${what} while PostgreSQL is down: ${w.text}`);
      acked.push(w);
    }
    const g5 = await stack.get('/products/5');
    assert.equal(g5.status, 200, g5.text);
    assert.equal(g5.body.source, 'cache');
    assert.deepEqual([g5.body.name, g5.body.price, g5.body.description], ['while down 1', 12.34, seed5.description], 'both changes, merged');
    const g6 = await stack.get('/products/6');
    assert.deepEqual([g6.body.name, g6.body.price, g6.body.category, g6.body.description], ['while down put', 6.66, 'Down', null]);
    // POST needs PostgreSQL.
    assertDetail(await write('POST', '/products', { name: 'x', price: 1 }), 503, 'Database unavailable');
    // The applier keeps retrying.
    await waitFor(async () => (await stack.get('/cache/stats')).body.write_behind.retries > 0, { timeout: 10000, message: 'write_behind.retries > 0 while PostgreSQL is down' });
    const q = await queueState();
    assert.ok(q.pending + q.lag >= 1, `entries waiting in the stream: ${JSON.stringify(q)}`);
  } finally {
    await stack.startPostgres();
  }
  await waitFor(async () => {
    const r5 = await stack.dbProduct(5);
    const r6 = await stack.dbProduct(6);
    return r5?.name === 'while down 1' && Number(r5.price) === 12.34 && r6?.name === 'while down put';
  }, { timeout: 30000, interval: 200, message: 'the queued writes applied after PostgreSQL came back' });
  await waitForDrained(30000);
  const r6 = await stack.dbProduct(6);
  assert.deepEqual([Number(r6.price), r6.category, r6.description], [6.66, 'Down', null]);
  const applied = await psqlRows(stack, 'SELECT product_id, op FROM applied_writes WHERE product_id IN (5, 6) ORDER BY seq');
  assert.deepEqual(applied.map((a) => a.product_id), [5, 5, 6], 'each queued write applied once, in order');
  // PostgreSQL down is a transient failure: retried, never parked.
  assert.deepEqual(await deadLetters(), deadBefore, 'nothing parked in the dead-letter stream');
  const figuresAfter = await deadLetterFigures();
  assert.equal(figuresAfter.wb.dead_letters, figuresBefore.wb.dead_letters, 'write_behind.dead_letters');
  assert.equal(figuresAfter.metric, figuresBefore.metric, 'cacheme_write_behind_dead_letters_total');
  assert.equal(stack.service.exitInfo, undefined, 'the service kept running');
});

test('write-behind: a poison entry between good ones — the good ones are applied in order, the poison one is parked in cacheme:writes:dead with its SQLSTATE, counted once', { timeout: 60000 }, async () => {
  const mk = async (name) => {
    const c = await write('POST', '/products', { name, price: 3, description: 'seed' });
    assert.equal(c.status, 201, c.text);
    await primeCache(c.body.id);
    return c.body.id;
  };
  const p = await mk('dead-letter p');
  const q = await mk('dead-letter q');
  const before = await deadLetterFigures();
  const patch = async (id, description) => {
    const r = await write('PATCH', `/products/${id}`, { description });
    assert.equal(r.status, 202, r.text);
  };
  await patch(p, 'dl-1');
  await patch(q, 'dl-2');
  // A name of 300 characters, which the API refuses (422) and PostgreSQL too (varchar(255): SQLSTATE
  // 22001): queued the way the enqueue script queues an entry (the stream entry and the product's
  // pending count; the cached copy stays as it is), as an older version or another writer could.
  const poisonId = await stack.redisCmd(
    'EVAL',
    "local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV)) redis.call('INCR', KEYS[2]) redis.call('EXPIRE', KEYS[2], 86400) return id",
    '2', STREAM, `{product:${p}}:pending`,
    'op', 'update', 'id', String(p), 'name', 'x'.repeat(300), 'price', '1.00',
  );
  await patch(p, 'dl-3');
  await patch(q, 'dl-4');
  await waitForDrained(20000);

  // The good entries: all applied, in order, each once; the poison one not at all.
  const changes = await psqlRows(stack, `SELECT product_id, description, name FROM test_audit WHERE product_id IN (${p}, ${q}) AND op = 'update' ORDER BY seq`);
  assert.deepEqual(changes.map((c) => `${c.product_id}:${c.description}`), [`${p}:dl-1`, `${q}:dl-2`, `${p}:dl-3`, `${q}:dl-4`], 'applied changes in stream order');
  assert.ok(changes.every((c) => c.name.length < 255), 'the 300-character name never reached the row');
  const applied = await psqlRows(stack, `SELECT stream_id FROM applied_writes WHERE product_id IN (${p}, ${q})`);
  assert.equal(applied.length, 4, 'four applied_writes rows');
  assert.ok(!applied.some((a) => a.stream_id === poisonId), 'the poison entry is not recorded as applied');
  assert.deepEqual([(await stack.dbProduct(p)).name, (await stack.dbProduct(p)).description], ['dead-letter p', 'dl-3']);

  // Parked: the original fields, the SQLSTATE, PostgreSQL's message and the time.
  const parked = (await deadLetters()).filter((d) => d.stream_id === poisonId);
  assert.equal(parked.length, 1, `one dead letter for ${poisonId}: ${JSON.stringify(parked)}`);
  const d = parked[0];
  assert.deepEqual([d.op, d.id, d.name, d.price, d.sqlstate], ['update', String(p), 'x'.repeat(300), '1.00', '22001']);
  assert.match(d.error, /too long/);
  assert.match(d.failed_at, ISO_8601);
  assert.equal((await stack.redisCmd('XPENDING', STREAM, GROUP))[0], 0, 'acknowledged');
  assert.ok(['0', null].includes(await stack.redisCmd('GET', `{product:${p}}:pending`)), "the product's pending count is back to 0");

  // Counted once, in /cache/stats and /metrics, and listed with its error.
  const after = await waitFor(async () => {
    const f = await deadLetterFigures();
    return f.wb.recent_dead_letters[0]?.stream_id === poisonId && f;
  }, { timeout: 5000, message: 'the dead letter listed in /cache/stats' });
  assert.equal(after.wb.dead_letters, before.wb.dead_letters + 1, 'write_behind.dead_letters');
  assert.equal(after.metric, before.metric + 1, 'cacheme_write_behind_dead_letters_total');
  const listed = after.wb.recent_dead_letters[0];
  assert.deepEqual(
    { ...listed, error: undefined, failed_at: undefined },
    { stream_id: poisonId, product_id: p, op: 'update', sqlstate: '22001', error: undefined, failed_at: undefined },
  );
  assert.equal(listed.error, d.error);
  assert.equal(listed.failed_at, d.failed_at);
  const r = await promtoolCheck(after.text);
  assert.equal(`${r.code} ${r.stdout}${r.stderr}`.trim(), '0', 'promtool check metrics');

  // Reads return the last good write.
  const g = await stack.get(`/products/${p}`);
  assert.deepEqual([g.body.name, g.body.description], ['dead-letter p', 'dl-3']);
});

/**
 * A test-side trigger that makes PostgreSQL refuse every change of a product with a chosen SQLSTATE
 * while the product is listed in test_fail.
 */
async function installFailureInjection() {
  await stack.psql(`
    CREATE TABLE IF NOT EXISTS test_fail (product_id int PRIMARY KEY, sqlstate text NOT NULL);
    CREATE OR REPLACE FUNCTION test_fail_fn() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE s text;
    BEGIN
      SELECT f.sqlstate INTO s FROM test_fail f WHERE f.product_id = OLD.id;
      IF s IS NOT NULL THEN RAISE EXCEPTION 'injected by the test' USING ERRCODE = s; END IF;
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END $$;
    CREATE OR REPLACE TRIGGER test_fail BEFORE UPDATE OR DELETE ON products
      FOR EACH ROW EXECUTE FUNCTION test_fail_fn();
  `);
}

test('write-behind: a serialization failure (40001) is retried and then applied once; a write PostgreSQL refuses (23514) is parked and its state leaves the cache', { timeout: 60000 }, async () => {
  await installFailureInjection();
  const mk = async (name) => {
    const c = await write('POST', '/products', { name, price: 4 });
    assert.equal(c.status, 201, c.text);
    await primeCache(c.body.id);
    return c.body.id;
  };
  const a = await mk('transient a');
  const b = await mk('transient b');
  const before = await deadLetterFigures();

  // Transient: retried (with backoff), never parked, and the entries after it wait in order.
  await stack.psql(`INSERT INTO test_fail VALUES (${a}, '40001')`);
  try {
    assert.equal((await write('PATCH', `/products/${a}`, { description: 'retried' })).status, 202);
    assert.equal((await write('PATCH', `/products/${b}`, { description: 'after it' })).status, 202);
    await waitFor(async () => (await deadLetterFigures()).wb.retries >= before.wb.retries + 3, { timeout: 10000, message: 'the entry retried' });
    assert.equal((await stack.dbProduct(b)).description, null, 'the later entry waits for the failing one');
  } finally {
    await stack.psql(`DELETE FROM test_fail WHERE product_id = ${a}`);
  }
  await waitForDrained(20000);
  assert.deepEqual([(await stack.dbProduct(a)).description, (await stack.dbProduct(b)).description], ['retried', 'after it']);
  const appliedA = await psqlRows(stack, `SELECT stream_id FROM applied_writes WHERE product_id = ${a}`);
  assert.equal(appliedA.length, 1, 'applied once');
  const mid = await deadLetterFigures();
  assert.equal(mid.wb.dead_letters, before.wb.dead_letters, 'a transient failure is not parked');
  assert.equal(mid.metric, before.metric);

  // Permanent: a write the API accepted and cached, then PostgreSQL refused (check_violation). A row
  // lock holds the applier back while the test reads the cached state.
  await stack.psql(`INSERT INTO test_fail VALUES (${a}, '23514')`);
  try {
    const lock = await holdRowLock(stack, a);
    try {
      assert.equal((await write('PATCH', `/products/${a}`, { name: 'refused by postgres' })).status, 202);
      assert.equal((await stack.get(`/products/${a}`)).body.name, 'refused by postgres', 'cached until applied');
    } finally {
      await lock.release();
    }
    await waitForDrained(20000);
  } finally {
    await stack.psql(`DELETE FROM test_fail WHERE product_id = ${a}`);
  }
  const parked = (await deadLetters()).filter((d) => d.id === String(a));
  assert.deepEqual(parked.map((d) => [d.op, d.name, d.sqlstate, d.error]), [['update', 'refused by postgres', '23514', 'injected by the test']]);
  const after = await deadLetterFigures();
  assert.equal(after.wb.dead_letters, before.wb.dead_letters + 1);
  assert.equal(after.metric, before.metric + 1);
  // The refused state was dropped from the cache: reads return what PostgreSQL holds.
  assert.equal(await stack.redisCmd('EXISTS', `product:${a}`), 0, 'the refused state is no longer cached');
  const g = await stack.get(`/products/${a}`);
  assert.equal(g.status, 200);
  assert.deepEqual([g.body.name, g.body.description, g.body.source], ['transient a', 'retried', 'database']);
  assert.equal((await stack.dbProduct(a)).name, 'transient a');
});

/** XINFO STREAM of the queue as { length, 'entries-added', ... }. */
async function streamInfo() {
  const flat = await stack.redisCmd('XINFO', 'STREAM', STREAM);
  const o = {};
  for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]] = flat[i + 1];
  return o;
}

/** The queue's entries as [{ stream_id, ...fields }], oldest first. */
async function queuedEntries() {
  const entries = await stack.redisCmd('XRANGE', STREAM, '-', '+');
  return entries.map(([id, flat]) => {
    const o = { stream_id: id };
    for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]] = flat[i + 1];
    return o;
  });
}

const trimmedTotal = async () => valueOf(parseExposition((await stack.get('/metrics')).text), 'cacheme_write_behind_trimmed_total');

test('write-behind: acknowledged entries are trimmed from cacheme:writes, entries pending or not yet delivered never (PostgreSQL paused), and /cache/stats lag and pending stay right', { timeout: 120000 }, async () => {
  const mk = async (name) => {
    const c = await write('POST', '/products', { name, price: 7 });
    assert.equal(c.status, 201, c.text);
    await primeCache(c.body.id);
    return c.body.id;
  };
  const ids = [await mk('trim a'), await mk('trim b')];
  // A settled start: everything queued so far applied and trimmed, so the counter no longer moves.
  await waitFor(async () => (await stack.redisCmd('XLEN', STREAM)) === 0 && (await queueState()).pending === 0, { timeout: 15000, message: 'the queue drained and trimmed before the test' });
  const trimmedBefore = await trimmedTotal();
  const addedBefore = (await streamInfo())['entries-added'];
  const deadBefore = await deadLetters();

  // 1. N writes, two clients (one per product), applied and acknowledged: the stream falls back to
  // nothing while every write is in PostgreSQL, and each trimmed entry is counted once.
  const N = 300;
  const sendAll = async (prefix, count) => {
    await Promise.all(ids.map(async (id, k) => {
      for (let n = k; n < count; n += ids.length) {
        const r = await write('PATCH', `/products/${id}`, { description: `${prefix}${n}` });
        assert.equal(r.status, 202, r.text);
      }
    }));
  };
  await sendAll('t', N);
  assert.equal((await streamInfo())['entries-added'], addedBefore + N, 'every write queued');
  const settled = await waitFor(async () => {
    const [len, trimmed, applied] = [await stack.redisCmd('XLEN', STREAM), await trimmedTotal(), Number(await stack.psql(`SELECT count(*) FROM applied_writes WHERE product_id IN (${ids})`))];
    return len === 0 && trimmed === trimmedBefore + N && applied === N && { len, trimmed, applied };
  }, { timeout: 30000, interval: 100, message: 'N writes applied, then trimmed from the stream' });
  assert.deepEqual(settled, { len: 0, trimmed: trimmedBefore + N, applied: N });
  const rows = await psqlRows(stack, `SELECT product_id, description FROM test_audit WHERE product_id IN (${ids}) AND op = 'update' ORDER BY seq`);
  for (const [k, id] of ids.entries()) {
    const want = Array.from({ length: N / ids.length }, (_, i) => `t${k + i * ids.length}`);
    assert.deepEqual(rows.filter((r) => r.product_id === id).map((r) => r.description), want, `product ${id}: every write applied once, in order`);
  }
  const drained = (await stack.get('/cache/stats')).body.write_behind;
  assert.deepEqual([drained.pending, drained.lag], [0, 0], '/cache/stats after the trims');

  // 2. PostgreSQL paused: the applier takes a batch (pending) and waits; the rest is not delivered.
  // The figures in /cache/stats come from the same script that trims, so once they show these
  // entries, a trimming pass has seen them; one more write shows a later pass.
  const M = 120;
  let queued;
  await stack.pausePostgres();
  try {
    await sendAll('h', M);
    const seen = await waitFor(async () => {
      const wb = (await stack.get('/cache/stats')).body.write_behind;
      return wb.pending > 0 && wb.pending + wb.lag === M && wb;
    }, { timeout: 15000, interval: 50, message: '/cache/stats shows the held writes pending or not delivered' });
    const r = await write('PATCH', `/products/${ids[0]}`, { description: 'h-last' });
    assert.equal(r.status, 202, r.text);
    const later = await waitFor(async () => {
      const wb = (await stack.get('/cache/stats')).body.write_behind;
      return wb.pending + wb.lag === M + 1 && wb;
    }, { timeout: 15000, interval: 50, message: 'a later pass saw the extra write' });
    queued = await queuedEntries();
    assert.equal(queued.length, M + 1, `nothing trimmed while pending or undelivered (figures ${JSON.stringify(seen)}, then ${JSON.stringify(later)})`);
    const held = [...Array.from({ length: M }, (_, n) => `h${n}`), 'h-last'];
    assert.deepEqual(queued.map((e) => e.description).sort(), held.sort(), 'the entries left are exactly the held writes');
    const q = await queueState();
    assert.deepEqual([later.pending, later.lag], [q.pending, q.lag], '/cache/stats pending and lag are what Redis says');
    assert.ok(queued.length >= q.pending + q.lag, `XLEN ${queued.length} >= pending ${q.pending} + lag ${q.lag}`);
    assert.equal(await trimmedTotal(), trimmedBefore + N, 'nothing counted as trimmed while PostgreSQL was paused');
  } finally {
    stack.resumePostgres();
  }

  // 3. Back: every held write applied once, in stream order, then trimmed.
  await waitFor(async () => (await stack.redisCmd('XLEN', STREAM)) === 0 && (await trimmedTotal()) === trimmedBefore + N + M + 1, { timeout: 30000, interval: 100, message: 'the held writes applied, then trimmed' });
  const applied = await psqlRows(stack, `SELECT stream_id FROM applied_writes WHERE stream_id IN (${queued.map((e) => `'${e.stream_id}'`).join(',')}) ORDER BY seq`);
  assert.deepEqual(applied.map((a) => a.stream_id), queued.map((e) => e.stream_id), 'every held write applied once, in stream order');
  assert.equal((await stack.dbProduct(ids[0])).description, 'h-last');
  assert.equal((await stack.dbProduct(ids[1])).description, `h${M - 1}`);
  const after = await waitFor(async () => {
    const wb = (await stack.get('/cache/stats')).body.write_behind;
    return wb.pending === 0 && wb.lag === 0 && wb;
  }, { timeout: 5000, message: '/cache/stats pending and lag back to 0' });
  assert.deepEqual([after.pending, after.lag], [0, 0]);
  assert.deepEqual(await deadLetters(), deadBefore, 'the dead-letter stream is not trimmed');
});

/**
 * 1,000 PATCHes of a few products (two concurrent clients per product, description "w<n>"), kill -9
 * after ~500 acknowledgements, restart (same Redis, same PostgreSQL), finish, then check exactly-once
 * and order against the audit.
 */
async function crashScenario({ products, samePort, drainTimeout }) {
  const TOTAL = 1000;
  const KILL_AFTER = 500;
  // From LOCK_AFTER acknowledgements until just after the restart a row lock holds the applier back
  // on products[0]: the crash then leaves a backlog, entries delivered but not acknowledged, and an
  // apply of the dead process still waiting in PostgreSQL (it commits when the lock goes, unacknowledged).
  const LOCK_AFTER = 400;
  let lock;
  let locking;
  const CLIENTS_PER_PRODUCT = 2;
  const writes = []; // { token, id, sentAt, ackAt, status, error }
  let next = 0;
  let acked = 0;
  let killed = false;
  let restarted;
  let url = stack.url;
  let inFlightAtKill;
  let queueAtKill;
  const tag = samePort ? 's' : 'n';

  const killAndRestart = async () => {
    const old = stack.service;
    url = undefined;
    const info = await old.signal('SIGKILL');
    assert.equal(info.signal, 'SIGKILL');
    queueAtKill = await queueState();
    const svc = samePort ? await startServiceOnPort(stack, old.port, ENV) : await stack.startService({ env: ENV });
    url = svc.url;
    await locking;
    await lock?.release();
    return svc;
  };

  const client = async (id) => {
    for (;;) {
      if (next >= TOTAL) return;
      const n = next++;
      const token = `w${tag}${n}`;
      if (!url) await restarted;
      const w = { token, id, sentAt: performance.now() };
      writes.push(w);
      try {
        const r = await sendJson(url, 'PATCH', `/products/${id}`, { description: token }, { timeout: 10000 });
        w.status = r.status;
        w.ackAt = performance.now();
        if (r.status !== 202) w.error = r.text;
        else acked++;
      } catch (err) {
        w.error = err.message; // the process was killed under it, or not back yet
        if (!killed) throw new Error(`write ${token} failed before the kill: ${err.message}`);
        await restarted;
      }
      if (acked >= LOCK_AFTER && !locking) locking = holdRowLock(stack, products[0]).then((l) => (lock = l));
      if (acked >= KILL_AFTER && !killed) {
        killed = true;
        inFlightAtKill = writes.filter((x) => x.status === undefined && x.error === undefined).length;
        restarted = killAndRestart();
      }
    }
  };
  await Promise.all(products.flatMap((id) => Array.from({ length: CLIENTS_PER_PRODUCT }, () => client(id))));
  await restarted;
  assert.ok(killed, 'the service was killed in the middle');

  const ackedWrites = writes.filter((w) => w.status === 202);
  const bad = writes.filter((w) => w.status !== undefined && w.status !== 202);
  assert.deepEqual(bad.slice(0, 5).map((w) => `${w.token}: ${w.status} ${w.error}`), [], 'every answer was 202');
  const lost = writes.filter((w) => w.status === undefined);
  assert.ok(ackedWrites.length >= TOTAL - 50, `${ackedWrites.length} of ${TOTAL} acknowledged (${lost.length} cut off by the kill)`);

  // One last write per product, in order after everything else: the final state is known exactly.
  const finals = {};
  for (const id of products) {
    const token = `final-${tag}-${id}`;
    const r = await sendJson(stack.url, 'PATCH', `/products/${id}`, { description: token });
    assert.equal(r.status, 202, r.text);
    finals[id] = token;
  }

  // Wait (bounded) until the stream is drained and every acknowledged write reached PostgreSQL.
  const ackedTokens = new Set(ackedWrites.map((w) => w.token));
  await waitFor(
    async () => {
      const q = await queueState();
      if (!(q.group && q.pending === 0 && q.lag === 0)) return false;
      const n = Number(await stack.psql(`SELECT count(DISTINCT description) FROM test_audit WHERE product_id IN (${products}) AND (description LIKE 'w${tag}%' OR description LIKE 'final-${tag}-%')`));
      return n >= ackedTokens.size + products.length && q;
    },
    { timeout: drainTimeout, interval: 200, message: 'stream drained and all acknowledged writes applied' },
  );

  // The audit: each change to our products with its transaction, joined with the applied_writes row
  // written in the same transaction.
  const changes = await psqlRows(
    stack,
    `SELECT t.description AS token, t.product_id AS id, a.stream_id, a.seq, a.op
       FROM test_audit t LEFT JOIN test_applied_audit a ON a.xid = t.xid
      WHERE t.product_id IN (${products}) AND t.op = 'update' AND (t.description LIKE 'w${tag}%' OR t.description LIKE 'final-${tag}-%')`,
  );
  const byToken = new Map();
  for (const c of changes) {
    if (!byToken.has(c.token)) byToken.set(c.token, []);
    byToken.get(c.token).push(c);
  }
  const problems = [];
  for (const w of ackedWrites) {
    const cs = byToken.get(w.token) ?? [];
    if (cs.length !== 1) problems.push(`acknowledged ${w.token} applied ${cs.length} times`);
    else if (!cs[0].stream_id) problems.push(`acknowledged ${w.token} changed the row without an applied_writes row`);
    else if (cs[0].id !== w.id) problems.push(`${w.token} applied to product ${cs[0].id}, sent for ${w.id}`);
  }
  for (const w of lost) {
    const cs = byToken.get(w.token) ?? [];
    if (cs.length > 1) problems.push(`unacknowledged ${w.token} applied ${cs.length} times`);
  }
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} exactly-once problems`);
  const streamIds = changes.map((c) => c.stream_id);
  assert.equal(new Set(streamIds).size, streamIds.length, 'no stream entry applied twice');
  const appliedRows = Number(await stack.psql(`SELECT count(*) FROM applied_writes WHERE stream_id IN (${streamIds.map((s) => `'${s}'`).join(',')})`));
  assert.equal(appliedRows, streamIds.length, 'every applied change has its applied_writes row');

  // Final rows: the last acknowledged write per product, in PostgreSQL and in the cache.
  const finalRows = {};
  const finalReads = {};
  for (const id of products) {
    finalRows[id] = (await stack.dbProduct(id)).description;
    finalReads[id] = (await stack.get(`/products/${id}`)).body?.description;
  }
  assert.deepEqual(finalRows, finals, 'final rows (description per product) are the last acknowledged writes');
  assert.deepEqual(finalReads, finals, 'GETs after the drain return the last acknowledged writes');

  // Order: per product, a write acknowledged before another was sent is applied before it.
  const seqOf = new Map(changes.map((c) => [c.token, Number(c.seq)]));
  const order = [];
  for (const id of products) {
    const mine = writes.filter((w) => w.id === id && seqOf.has(w.token));
    for (const a of mine) {
      if (a.status !== 202) continue;
      for (const b of mine) {
        if (b.sentAt > a.ackAt && seqOf.get(b.token) < seqOf.get(a.token)) {
          order.push(`product ${id}: ${b.token} (sent ${(b.sentAt - a.ackAt).toFixed(1)} ms after ${a.token} was acknowledged) applied first (seq ${seqOf.get(b.token)} < ${seqOf.get(a.token)})`);
        }
      }
    }
    const finalSeq = seqOf.get(finals[id]);
    const later = mine.filter((w) => seqOf.get(w.token) > finalSeq);
    if (later.length) order.push(`product ${id}: ${later.map((w) => w.token).join(', ')} applied after the final write`);
  }
  assert.deepEqual(order.slice(0, 10), [], `${order.length} order violations`);

  return { acked: ackedWrites.length, inFlightAtKill, queueAtKill, lost: lost.length, appliedLost: lost.filter((w) => byToken.has(w.token)).length };
}

test('write-behind: kill -9 in the middle of 1,000 writes, restart at the same address — every acknowledged write applied exactly once, in order', { timeout: 300000 }, async (t) => {
  await stack.restartService({ env: ENV });
  const info = await crashScenario({ products: [7, 8, 9, 10], samePort: true, drainTimeout: 60000 });
  t.diagnostic(JSON.stringify(info));
});

test('write-behind: kill -9 in the middle of 1,000 writes, restart on another port (another consumer) — every acknowledged write applied exactly once, in order', { timeout: 300000 }, async (t) => {
  await stack.restartService({ env: ENV });
  const info = await crashScenario({ products: [11, 13, 14, 15], samePort: false, drainTimeout: 120000 });
  t.diagnostic(JSON.stringify(info));
});
