// Hedged reads (PG_HEDGE_MS): one PostgreSQL backend of the pool is stopped with SIGSTOP, the
// way a backend that the scheduler does not run for a second, or that waits on a lock, stops
// answering while the rest of the server answers. Reads sent on its connection are sent again on
// the other after PG_HEDGE_MS and answered from there; without hedging, they wait for their
// deadline and answer 503. Writes are never hedged.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { request, waitFor } from '../lib/util.mjs';
import { assertProductMatches } from './lib/expect.mjs';

// One loop, two connections, every read a query (no cache): each request is a database read.
const BASE = { WORKERS: 1, PG_POOL_SIZE: 2, CACHE_BYPASS: 'true' };

let stack;
let seed;

before(async () => {
  stack = await startStack({ serve: false });
  seed = await stack.dbProducts();
});

after(async () => {
  await stack?.teardown();
});

/** The pids of the service's pool connections (application_name cacheme), once both are up. */
async function poolBackends() {
  let pids = [];
  await waitFor(async () => {
    const out = await stack.psql("SELECT pid FROM pg_stat_activity WHERE application_name = 'cacheme' ORDER BY pid");
    pids = out.split('\n').filter(Boolean).map(Number);
    return pids.length === 2;
  }, { timeout: 15000, message: 'both pool connections in pg_stat_activity' });
  return pids;
}

async function metric(svc, name) {
  const text = (await request(`${svc.url}/metrics`)).text;
  const m = text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

/** Warm both connections (their statements prepared), stop one backend, send 20 reads at once. */
async function readsWithOneBackendStopped(svc) {
  for (let i = 0; i < 4; i++) assert.equal((await request(`${svc.url}/products/1`)).status, 200);
  const [stopped] = await poolBackends();
  process.kill(stopped, 'SIGSTOP');
  try {
    const ids = Array.from({ length: 20 }, (_, i) => (i % 15) + 1);
    const answers = await Promise.all(ids.map((id) => request(`${svc.url}/products/${id}`)));
    return { ids, answers };
  } finally {
    process.kill(stopped, 'SIGCONT');
  }
}

test('a stalled backend: reads are hedged on the other connection and all answer 200', { timeout: 120000 }, async (t) => {
  const svc = await stack.restartService({ env: { ...BASE, PG_HEDGE_MS: 50, PG_TIMEOUT_MS: 5000 } });
  const hedgedBefore = await metric(svc, 'cacheme_pg_hedged_total');
  const { ids, answers } = await readsWithOneBackendStopped(svc);
  const statuses = answers.map((r) => r.status);
  const hedged = (await metric(svc, 'cacheme_pg_hedged_total')) - hedgedBefore;
  const won = await metric(svc, 'cacheme_pg_hedges_won_total');
  t.diagnostic(`statuses ${JSON.stringify(statuses)}; hedged ${hedged}, won ${won}`);
  answers.forEach((r, i) => {
    assert.equal(r.status, 200, `GET /products/${ids[i]}: ${r.text}`);
    assertProductMatches(r.body, seed.find((row) => row.id === ids[i]));
    assert.equal(r.body.source, 'database');
  });
  assert.ok(hedged >= 1, 'at least one read was hedged');
  assert.ok(won >= 1, 'at least one hedge answered first');
  // The stopped backend, resumed, answers its copies late: they are dropped, nothing is mixed up.
  for (const id of [3, 4, 5, 3]) {
    const r = await request(`${svc.url}/products/${id}`);
    assert.equal(r.status, 200);
    assertProductMatches(r.body, seed.find((row) => row.id === id));
  }
  assert.equal(svc.exitInfo, undefined);
});

test('the same stall without hedging (PG_HEDGE_MS=0): the reads on that connection wait for their deadline', { timeout: 120000 }, async (t) => {
  const svc = await stack.restartService({ env: { ...BASE, PG_HEDGE_MS: 0, PG_TIMEOUT_MS: 1000 } });
  const { answers } = await readsWithOneBackendStopped(svc);
  const statuses = answers.map((r) => r.status);
  t.diagnostic(`statuses ${JSON.stringify(statuses)}`);
  assert.ok(statuses.includes(503), 'some reads timed out on the stopped connection');
  assert.ok(statuses.includes(200), 'the other connection answered');
  assert.equal(await metric(svc, 'cacheme_pg_hedged_total'), 0);
});

test('writes are never hedged: a write on the stalled connection waits, and applies once', { timeout: 120000 }, async () => {
  const svc = await stack.restartService({ env: { ...BASE, PG_HEDGE_MS: 20, PG_TIMEOUT_MS: 5000 } });
  for (let i = 0; i < 4; i++) assert.equal((await request(`${svc.url}/products/1`)).status, 200);
  const [stopped] = await poolBackends();
  const versions = { 2: (await stack.dbProduct(2)).version, 6: (await stack.dbProduct(6)).version };
  const hedgedBefore = await metric(svc, 'cacheme_pg_hedged_total');
  const patch = (id, price) =>
    request(`${svc.url}/products/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ price }) });
  process.kill(stopped, 'SIGSTOP');
  let pending;
  try {
    // Two writes at once: the pool gives each connection one, so one of them is on the stopped
    // backend. The other answers; the stall is then held for ten hedge delays (the scenario, not
    // a synchronisation: a read would have been hedged within one).
    pending = [patch(2, 11.5), patch(6, 12.5)];
    const first = await Promise.race(pending);
    assert.equal(first.status, 200, first.text);
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    process.kill(stopped, 'SIGCONT');
  }
  for (const r of await Promise.all(pending)) assert.equal(r.status, 200, r.text);
  assert.equal(await metric(svc, 'cacheme_pg_hedged_total'), hedgedBefore, 'no write was hedged');
  const after2 = await stack.dbProduct(2);
  const after6 = await stack.dbProduct(6);
  assert.equal(after2.version, versions[2] + 1, 'product 2 written once');
  assert.equal(after6.version, versions[6] + 1, 'product 6 written once');
  assert.equal(Number(after2.price), 11.5);
  assert.equal(Number(after6.price), 12.5);
});
