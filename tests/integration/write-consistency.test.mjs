// Concurrent writes to one row, with readers running all along, in invalidate and in write-through
// mode. A test-side audit trigger (lib/writes.mjs installAudit) records every committed version of
// the row, so afterwards we know the commit order (the row's version, raised under the row lock) of
// every write. Checked:
//   - the final row (psql) is the last committed write, and that write's answer;
//   - every read returned a committed state of the row (name and price of one version, not a mix);
//   - no read returned data older than a write that had been answered before the read started:
//     for a read started at t, its version >= the highest version among writes answered before t.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { waitFor } from '../lib/util.mjs';
import { openRedis } from '../lib/resp.mjs';
import { installAudit, psqlRows, sendJson } from './lib/writes.mjs';

const WRITERS = 32;
const ROUNDS = 25; // writes per client
const READERS = 16;
const EVICTORS = 2;
const BASE_ENV = { WORKERS: 2, PG_POOL_SIZE: 8 };

let stack;

before(async () => {
  stack = await startStack({ env: BASE_ENV });
  await installAudit(stack);
});

after(async () => {
  await stack?.teardown();
});

async function runScenario(mode, id) {
  await stack.redisCmd('FLUSHALL');
  await stack.restartService({ env: { ...BASE_ENV, CACHE_WRITE_MODE: mode } });
  const start = JSON.parse(await stack.psql(`SELECT row_to_json(p) FROM products p WHERE id = ${id}`));
  // Cache the starting state, so that the first writes have something to invalidate or replace.
  const g0 = await stack.get(`/products/${id}`);
  assert.equal(g0.status, 200);
  await stack.waitForKeys(`product:${id}`);

  const writes = []; // { name, price, sentAt, ackAt, status, body }
  const reads = []; // { startAt, endAt, status, name, price, source }
  const errors = [];

  const writeOne = async (c, i) => {
    const seq = i * WRITERS + c + 1;
    const name = `${mode} r${String(i).padStart(2, '0')}-w${String(c).padStart(2, '0')}`;
    const price = seq + (c % 100) / 100; // unique per write too: a torn row shows as a mismatch
    const sentAt = performance.now();
    try {
      const r = await sendJson(stack.url, 'PATCH', `/products/${id}`, { name, price });
      const ackAt = performance.now();
      writes.push({ name, price, sentAt, ackAt, status: r.status, body: r.body, action: r.headers.get('x-cache-action') });
    } catch (err) {
      errors.push(`write ${name}: ${err.message}`);
    }
  };
  const reader = async (k) => {
    while (!writersDone) {
      const startAt = performance.now();
      try {
        const r = await stack.get(`/products/${id}`);
        reads.push({ startAt, endAt: performance.now(), status: r.status, name: r.body?.name, price: r.body?.price, source: r.body?.source });
      } catch (err) {
        errors.push(`reader ${k}: ${err.message}`);
      }
    }
  };
  // Rounds of WRITERS concurrent writes (one per client); between rounds the readers go on until
  // each of them has completed a read started after the round's last answer. A stale value put
  // back into the cache by a racing reader would survive such a quiet moment and be seen.
  //
  // While a round runs, an "evictor" deletes the value key behind the service's back (as an LRU
  // eviction or an expiry would), so readers keep missing and reading PostgreSQL: the moment at which
  // a reader that read the old row could store it after a newer commit's invalidation.
  let writersDone = false;
  let evicting = false;
  let evictions = 0;
  const evictor = async () => {
    const redis = openRedis(stack.redisPort);
    try {
      while (!writersDone) {
        if (!evicting) {
          await waitFor(() => evicting || writersDone, { timeout: 60000, interval: 1, message: 'next round' });
          continue;
        }
        evictions += await redis.command('DEL', `product:${id}`);
      }
    } catch (err) {
      errors.push(`evictor: ${err.message}`);
    } finally {
      redis.close();
    }
  };
  const writers = async () => {
    try {
      for (let i = 0; i < ROUNDS; i++) {
        evicting = true;
        await Promise.all(Array.from({ length: WRITERS }, (_, c) => writeOne(c, i)));
        evicting = false;
        const roundEnd = performance.now();
        await waitFor(() => reads.filter((r) => r.startAt > roundEnd).length >= READERS, { timeout: 30000, interval: 1, message: `reads after round ${i}` });
      }
    } finally {
      writersDone = true;
    }
  };
  await Promise.all([writers(), ...Array.from({ length: EVICTORS }, () => evictor()), ...Array.from({ length: READERS }, (_, k) => reader(k))]);

  assert.deepEqual(errors, [], 'no request failed');
  assert.equal(writes.length, WRITERS * ROUNDS);
  const badWrites = writes.filter((w) => w.status !== 200 || w.body?.name !== w.name || w.body?.price !== w.price);
  assert.deepEqual(badWrites.slice(0, 5), [], 'every write answered 200 with its own values');
  const expectedAction = mode === 'write-through' ? 'stored' : 'deleted';
  const actions = {};
  for (const w of writes) actions[w.action] = (actions[w.action] ?? 0) + 1;
  // write-through may skip storing a value older than one already stored by a later commit.
  const allowed = mode === 'write-through' ? ['stored', 'skipped'] : ['deleted'];
  assert.ok(Object.keys(actions).every((a) => allowed.includes(a)), `X-Cache-Action values ${JSON.stringify(actions)} (expected mostly ${expectedAction})`);

  // Commit order from the audit: version -> state, name -> version.
  const audit = await psqlRows(stack, `SELECT version, name, price FROM test_audit WHERE product_id = ${id} AND op = 'update' AND version > ${start.version} ORDER BY version`);
  assert.equal(audit.length, writes.length, 'one committed version per write');
  const versionOf = new Map([[start.name, start.version]]);
  const priceAt = new Map([[start.version, Number(start.price)]]);
  for (const a of audit) {
    assert.ok(!versionOf.has(a.name), `name ${a.name} committed once`);
    versionOf.set(a.name, a.version);
    priceAt.set(a.version, Number(a.price));
  }
  for (const w of writes) w.version = versionOf.get(w.name);
  assert.ok(writes.every((w) => w.version !== undefined), 'every answered write is in the audit');

  // The final row is the last committed write.
  const last = audit[audit.length - 1];
  const final = JSON.parse(await stack.psql(`SELECT row_to_json(p) FROM products p WHERE id = ${id}`));
  assert.equal(final.version, last.version, 'final row has the last version');
  assert.equal(final.name, last.name, 'final row is the last committed write');
  const lastWrite = writes.find((w) => w.version === last.version);
  assert.equal(Number(final.price), lastWrite.price, 'final price is the last committed write');
  assert.deepEqual([lastWrite.body.name, lastWrite.body.price], [final.name, Number(final.price)], "final row equals that write's answer");

  // Reads: committed states only, never older than a write answered before the read started.
  assert.ok(reads.length >= 50, `enough reads ran during the writes (${reads.length})`);
  const byAck = [...writes].sort((a, b) => a.ackAt - b.ackAt);
  const floorAt = []; // running max version over writes in ack order
  let max = start.version;
  for (const w of byAck) {
    max = Math.max(max, w.version);
    floorAt.push({ ackAt: w.ackAt, floor: max, name: w.name });
  }
  const problems = [];
  const sources = { cache: 0, database: 0 };
  for (const r of reads) {
    if (r.status !== 200) {
      problems.push(`read at ${r.startAt.toFixed(1)}: status ${r.status}`);
      continue;
    }
    sources[r.source] = (sources[r.source] ?? 0) + 1;
    const v = versionOf.get(r.name);
    if (v === undefined) {
      problems.push(`read at ${r.startAt.toFixed(1)} returned an unknown name ${JSON.stringify(r.name)}`);
      continue;
    }
    if (priceAt.get(v) !== r.price) problems.push(`read at ${r.startAt.toFixed(1)}: name of version ${v} with price ${r.price} (committed ${priceAt.get(v)})`);
    // Highest version among writes answered strictly before this read started (binary search).
    let lo = 0;
    let hi = floorAt.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (floorAt[mid].ackAt < r.startAt) lo = mid + 1;
      else hi = mid;
    }
    const floor = lo === 0 ? start.version : floorAt[lo - 1].floor;
    if (v < floor) {
      const w = floorAt[lo - 1];
      problems.push(`read started ${(r.startAt - w.ackAt).toFixed(2)} ms after version ${floor} was answered (${w.name}) returned version ${v} (${r.name}, source ${r.source})`);
    }
  }
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} of ${reads.length} reads returned stale or torn data (sources ${JSON.stringify(sources)})`);

  // Quiet again: the next reads return the final row, then from the cache.
  const after1 = await stack.get(`/products/${id}`);
  assert.equal(after1.body.name, final.name, 'GET after the writes');
  await stack.waitForKeys(`product:${id}`);
  const after2 = await stack.get(`/products/${id}`);
  assert.equal(after2.body.source, 'cache');
  assert.equal(after2.body.name, final.name, 'cached value after the writes');
  assert.equal(after2.body.price, Number(final.price));
  return { reads: reads.length, sources, actions, evictions };
}

test(`invalidate: ${WRITERS} concurrent writers on one row, readers never see data older than an answered write`, { timeout: 300000 }, async (t) => {
  const info = await runScenario('invalidate', 1);
  t.diagnostic(JSON.stringify(info));
});

test(`write-through: ${WRITERS} concurrent writers on one row, readers never see data older than an answered write`, { timeout: 300000 }, async (t) => {
  const info = await runScenario('write-through', 2);
  t.diagnostic(JSON.stringify(info));
});
