// The PostgreSQL read replica (DATABASE_REPLICA_URL) against a real streaming replica of the stack's
// PostgreSQL (pg_basebackup -R, recovery_min_apply_delay 300ms, so it always lags a little):
// misses and the list read the replica, not the primary (pg_stat_statements on both servers, and a
// row the replica has not replayed yet); 1,000 write/read races leave 0 stale values cached with
// replica_guard on, and the count without it (printed; > 0 with the delay); the replica stopped →
// reads fall back to the primary with 2xx and /health says so, then go back to it; the replica-lag
// scenario answers with its figures, and 409 without a replica; bad DATABASE_REPLICA_URL values stop
// the start with their reason.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startStack, runCacheme } from '../lib/stack.mjs';
import { startReplica } from '../lib/replica.mjs';
import { waitFor } from '../lib/util.mjs';
import { openEvents, eventData } from '../lib/sse.mjs';
import { labGet, labSet, runScenario } from '../lib/lab.mjs';
import { assertDetail } from './lib/expect.mjs';
import { sendJson } from './lib/writes.mjs';
import { pgLookupCalls, pgStatReset } from './lib/resilience.mjs';

const APPLY_DELAY = '300ms';

let stack;
let replica;

before(async () => {
  stack = await startStack({ serve: false });
  replica = await startReplica(stack, { applyDelay: APPLY_DELAY });
  await replica.waitCaughtUp();
  await stack.startService({ env: { DATABASE_REPLICA_URL: replica.url, WORKERS: 2 } });
});

after(async () => {
  await replica?.teardown();
  await stack?.teardown();
});

/** Calls of a statement whose text matches `like`, on one server, since its last reset. */
async function calls(server, like) {
  return Number(await server.psql(`SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '${like}'`));
}

/** GET /health: the HTTP status as `code`, and the body. */
async function health() {
  const r = await stack.get('/health');
  return { code: r.status, ...r.body };
}

test('misses and the list read the replica, not the primary; /health names it', { timeout: 120000 }, async () => {
  await replica.waitCaughtUp();
  await stack.redisCmd('FLUSHALL');
  await Promise.all([pgStatReset(stack), pgStatReset(replica)]);
  const h0 = await health();
  assert.equal(h0.code, 200);
  assert.equal(h0.status, 'healthy');
  assert.equal(h0.components.postgres_replica.status, 'healthy');
  assert.equal(h0.components.postgres_replica.in_recovery, true, 'DATABASE_REPLICA_URL is a standby');
  assert.equal(h0.components.postgres_replica.reads, 'replica');
  const before_ = h0.components.postgres_replica.replica_reads;

  for (const id of [2, 3, 4, 5, 6]) {
    const r = await stack.get(`/products/${id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.source, 'database');
  }
  const list = await stack.get('/products?limit=3');
  assert.equal(list.status, 200, list.text);
  assert.equal(list.body.length, 3);

  assert.equal(await pgLookupCalls(replica), 5, 'the five misses ran on the replica');
  assert.equal(await pgLookupCalls(stack), 0, 'and none on the primary');
  assert.equal(await calls(replica, 'SELECT%FROM products ORDER BY id LIMIT%'), 1, 'the list page on the replica');
  assert.equal(await calls(replica, 'SELECT count(*) FROM products'), 1, 'its count on the replica');
  assert.equal(await calls(stack, 'SELECT%FROM products ORDER BY id LIMIT%'), 0);
  const activity = await replica.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cacheme-replica'");
  assert.ok(Number(activity) > 0, 'the service holds connections to the replica');
  assert.equal((await health()).components.postgres_replica.replica_reads - before_, 7, 'replica_reads counts them');

  // A write goes to the primary (a standby would refuse it) and is seen through the primary.
  const w = await sendJson(stack.url, 'PATCH', '/products/2', { price: 77.5 });
  assert.equal(w.status, 200, w.text);
  assert.equal((await stack.dbProduct(2)).price, 77.5);
});

test('a row the replica has not replayed: cached without the guard, refused with it (read from the primary)', { timeout: 120000 }, async () => {
  await replica.waitCaughtUp();
  await stack.redisCmd('FLUSHALL');
  const old = await stack.dbProduct(9);
  // The replica stops replaying: the change below exists on the primary only.
  await replica.psql('SELECT pg_wal_replay_pause()');
  try {
    await stack.psql('UPDATE products SET price = 12.34 WHERE id = 9');
    const version = Number(await stack.psql('SELECT version FROM products WHERE id = 9'));
    // The change notification raises the generation: Redis has heard of version `version`.
    await waitFor(async () => Number(await stack.redisCmd('GET', '{product:9}:gen')) === version, { timeout: 10000, message: '{product:9}:gen raised by the notification' });

    await labSet(stack.url, { replica_guard: false });
    let r = await stack.get('/products/9');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.price, old.price, 'without the guard the miss answers the replica\'s older row');
    assert.equal(JSON.parse(await stack.redisCmd('GET', 'product:9')).price, old.price, '... and caches it: the trap');

    await labSet(stack.url, { replica_guard: true });
    await stack.redisCmd('DEL', 'product:9');
    const refused0 = (await health()).components.postgres_replica.refused_fills;
    r = await stack.get('/products/9');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.price, 12.34, 'with the guard the answer is the primary\'s row');
    assert.equal(JSON.parse(await stack.redisCmd('GET', 'product:9')).price, 12.34, '... and so is the cached value');
    assert.equal((await health()).components.postgres_replica.refused_fills - refused0, 1, 'one replica row refused');

    // A product created on the primary only: the replica says 404, which is not cached or answered.
    const created = await sendJson(stack.url, 'POST', '/products', { name: 'replica probe', price: 1.5 });
    assert.equal(created.status, 201, created.text);
    r = await stack.get(`/products/${created.body.id}`);
    assert.equal(r.status, 200, `a product created just now is found: ${r.text}`);
    assert.equal(r.body.name, 'replica probe');
  } finally {
    await replica.psql('SELECT pg_wal_replay_resume()');
    await labSet(stack.url, { replica_guard: true });
  }
});

/**
 * `rounds` races on each of `ids` (one lane per id, lanes in parallel): PATCH a new price through
 * the API, then at once GET the product — a miss, read from the lagging replica — and read what
 * Redis holds. Returns the rounds that left an older price cached, and the answers with one.
 */
async function races(ids, rounds, tag) {
  let staleCached = 0;
  let staleAnswers = 0;
  let done = 0;
  await Promise.all(
    ids.map(async (id) => {
      for (let i = 0; i < rounds; i++) {
        const price = Number(`${tag}${id * 1000 + i}.25`);
        const w = await sendJson(stack.url, 'PATCH', `/products/${id}`, { price });
        assert.equal(w.status, 200, w.text);
        const r = await stack.get(`/products/${id}`);
        assert.equal(r.status, 200, r.text);
        if (r.body.price !== price) staleAnswers++;
        // The miss is answered once its fill has been acknowledged: the key is there already.
        const cached = await stack.redisCmd('GET', `product:${id}`);
        if (cached !== null && JSON.parse(cached).price !== price) staleCached++;
        done++;
      }
    }),
  );
  return { races: done, staleCached, staleAnswers };
}

test('/topology: the primary and the replica, its replay lag in bytes and time, reads on the replica', { timeout: 120000 }, async () => {
  await replica.waitCaughtUp();
  const address = `127.0.0.1:${replica.port}`;
  const view = async () => (await stack.get('/topology')).body.postgres;
  // A write the replica holds back for the apply delay: the primary's position runs ahead of its replay.
  let seen;
  await waitFor(async () => {
    const w = await sendJson(stack.url, 'PATCH', '/products/9', { price: 99.5 + Math.floor(Math.random() * 100) });
    assert.equal(w.status, 200, w.text);
    seen = await view();
    return seen.replica.lag_bytes > 0;
  }, { timeout: 30000, message: 'lag_bytes above 0 right after a write' });
  assert.equal(seen.primary.address, `127.0.0.1:${stack.pgPort}`);
  assert.equal(seen.primary.state, 'up');
  assert.equal(seen.replica.address, address);
  assert.equal(seen.replica.state, 'up');
  assert.equal(seen.replica.in_recovery, true);
  assert.match(seen.replica.replay_lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.equal(seen.replica.reads, 'replica');
  assert.equal(typeof seen.replica.lag_ms, 'number', 'a transaction has been replayed: its age is known');
  assert.ok(seen.replica.lag_ms >= 0);
  // Caught up: nothing between the primary's position and the replica's replay.
  await replica.waitCaughtUp();
  await waitFor(async () => (await view()).replica.lag_bytes === 0, { timeout: 15000, message: 'lag_bytes back to 0' });
});

test('1,000 write/read races: 0 stale values cached with replica_guard, the count without it', { timeout: 300000 }, async (t) => {
  const ids = [1, 3, 4, 5, 6, 7, 8, 10, 11, 12];
  await labSet(stack.url, { replica_guard: false });
  let without;
  try {
    without = await races(ids, 100, 1);
  } finally {
    await labSet(stack.url, { replica_guard: true });
  }
  const withGuard = await races(ids, 100, 2);
  t.diagnostic(`replica_guard off: ${JSON.stringify(without)}`);
  t.diagnostic(`replica_guard on:  ${JSON.stringify(withGuard)}`);
  assert.equal(without.races, 1000);
  assert.equal(withGuard.races, 1000);
  assert.equal(withGuard.staleCached, 0, 'no stale value cached with the guard');
  assert.equal(withGuard.staleAnswers, 0, 'no stale answer with the guard');
  assert.ok(without.staleCached > 0, `the replica lags ${APPLY_DELAY}: without the guard races cache older rows`);
  // Afterwards every product's cached value is what PostgreSQL holds.
  for (const id of ids) {
    const cached = await stack.redisCmd('GET', `product:${id}`);
    if (cached !== null) assert.equal(JSON.parse(cached).price, (await stack.dbProduct(id)).price, `product:${id}`);
  }
});

test('POST /lab/scenarios/replica-lag: stale values cached without the guard, none with it', { timeout: 120000 }, async (t) => {
  const settings = await labGet(stack.url);
  const r = await runScenario(stack.url, 'replica-lag');
  assert.equal(r.status, 200, r.text);
  const s = r.body;
  t.diagnostic(JSON.stringify({ without: s.without_protection, with: s.with_protection }));
  assert.equal(s.scenario, 'replica-lag');
  assert.equal(s.requests, 100);
  for (const run of [s.without_protection, s.with_protection]) {
    assert.equal(run.writes, 100);
    assert.equal(run.errors, 0);
    assert.equal(run.replica_reads, 100, 'every round\'s miss read the replica first');
  }
  assert.ok(s.without_protection.stale_values_cached > 0, 'the lagging replica poisons the cache without the guard');
  assert.equal(s.without_protection.refused_fills, 0);
  assert.equal(s.with_protection.stale_values_cached, 0);
  assert.equal(s.with_protection.stale_answers, 0);
  assert.ok(s.with_protection.refused_fills > 0, 'the guard refused the replica\'s older rows');
  assert.equal(s.with_protection.db_queries, 100 + s.with_protection.refused_fills, 'each refused row read once more, from the primary');
  assert.deepEqual(await labGet(stack.url), settings, 'settings restored');
});

test('the replica stopped: reads fall back to the primary with 2xx, /health degraded; back when it returns', { timeout: 120000 }, async () => {
  await stack.redisCmd('FLUSHALL');
  // Streams opened before: each lands on one loop, and every loop's pool notices on its own.
  const streams = [await openEvents(`${stack.url}/events`), await openEvents(`${stack.url}/events`)];
  const topo = (type) => (e) => e.event === 'topology' && eventData(e)?.type === type;
  const replicaAddr = `127.0.0.1:${replica.port}`;
  const primaryAddr = `127.0.0.1:${stack.pgPort}`;
  await replica.stop('fast');
  try {
    // The fallback turns on: an event, and /topology says where reads go and that the replica is down.
    for (const st of streams) {
      const d = eventData(await st.next(topo('replica_fallback_on'), 15000, 'replica_fallback_on'));
      assert.equal(d.from, replicaAddr);
      assert.equal(d.to, primaryAddr);
    }
    await waitFor(async () => (await stack.get('/topology')).body.postgres.replica.reads === 'primary', { timeout: 15000, message: 'reads on the primary' });
    const down = (await stack.get('/topology')).body;
    assert.equal(down.postgres.replica.state, 'down');
    assert.equal(down.postgres.replica.lag_bytes, null);
    assert.equal(down.postgres.replica.lag_ms, null);
    assert.equal(down.postgres.primary.state, 'up');
    assert.ok(down.events.replica_fallback_on >= 1, JSON.stringify(down.events));
    const rows = await stack.dbProducts();
    for (const row of rows) {
      const r = await stack.get(`/products/${row.id}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.price, row.price, `product ${row.id} from the primary`);
    }
    const list = await stack.get('/products?limit=1000');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.body.length, rows.length);
    const h = await health();
    assert.equal(h.code, 200, 'the primary answers: still 200');
    assert.equal(h.status, 'degraded', 'a replica down costs capacity, not answers');
    assert.equal(h.components.postgres_replica.status, 'unhealthy');
    assert.equal(h.components.postgres_replica.latency_ms, null);
    assert.equal(h.components.postgres_replica.reads, 'primary');
    assert.ok(h.components.postgres_replica.fallbacks > 0, 'fallbacks counted');
  } finally {
    await replica.start();
  }
  try {
    for (const st of streams) {
      const d = eventData(await st.next(topo('replica_fallback_off'), 30000, 'replica_fallback_off'));
      assert.equal(d.from, primaryAddr);
      assert.equal(d.to, replicaAddr);
    }
  } finally {
    for (const st of streams) await st.close();
  }
  await waitFor(async () => {
    const h = await health();
    return h.components.postgres_replica.status === 'healthy' && h.components.postgres_replica.reads === 'replica';
  }, { timeout: 30000, message: 'the replica back in /health' });
  const back = (await stack.get('/topology')).body;
  assert.ok(back.events.replica_fallback_off >= 1, JSON.stringify(back.events));
  await replica.waitCaughtUp();
  await stack.redisCmd('FLUSHALL');
  await pgStatReset(replica);
  // Every loop reconnects on its own schedule; a few misses reach the replica again.
  await waitFor(async () => {
    await stack.redisCmd('FLUSHALL');
    for (const id of [2, 3, 4, 5]) assert.equal((await stack.get(`/products/${id}`)).status, 200);
    return (await pgLookupCalls(replica)) > 0;
  }, { timeout: 30000, message: 'misses read the replica again' });
});

/** The replica's postmaster and its children (backends, startup, walreceiver...). */
function replicaPids() {
  const pids = [replica.pid];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === replica.pid) pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

test('the replica hung (SIGSTOP): after PG_REPLICA_BREAKER_FAILURES timeouts its breaker opens and reads go straight to the primary', { timeout: 120000 }, async () => {
  await replica.waitCaughtUp();
  await stack.restartService({
    env: { DATABASE_REPLICA_URL: replica.url, WORKERS: 1, PG_POOL_SIZE: 4, PG_TIMEOUT_MS: 1000, PG_REPLICA_BREAKER_FAILURES: 2, PG_REPLICA_BREAKER_OPEN_MS: 60000 },
  });
  await waitFor(async () => (await health()).components.postgres_replica.reads === 'replica', { timeout: 15000, message: 'reads on the replica' });
  // Every connection of the replica pool is made before the stop: one still connecting then would
  // never be ready, and once the two that time out are reopened the pool would have none up, so
  // reads would go to the primary without asking the breaker (nothing counted as skipped).
  await waitFor(
    async () => Number(await replica.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cacheme-replica' AND state = 'idle'")) === 4,
    { timeout: 15000, message: 'the replica pool has its 4 connections' },
  );
  await stack.redisCmd('FLUSHALL');
  const stream = await openEvents(`${stack.url}/events`);
  const stopped = replicaPids();
  for (const pid of stopped) process.kill(pid, 'SIGSTOP');
  try {
    // The connections stay open: only deadlines tell that the replica does not answer.
    const rows = await stack.dbProducts();
    for (const row of rows.slice(0, 8)) {
      const r = await stack.get(`/products/${row.id}`);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.price, row.price, `product ${row.id} from the primary`);
    }
    const h = (await health()).components.postgres_replica;
    assert.equal(h.breaker, 'open');
    assert.equal(h.breaker_opened, 1);
    assert.equal(h.reads, 'primary');
    assert.equal(h.breaker_skipped, 6, 'the two reads that timed out opened it; the six after skipped the replica');
    const e = await stream.next((x) => x.event === 'topology' && eventData(x)?.type === 'replica_fallback_on', 15000, 'replica_fallback_on');
    assert.match(eventData(e).cause, /breaker open/);
  } finally {
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    await stream.close();
  }
});

test('without DATABASE_REPLICA_URL: replica-lag answers 409, /health has no replica; bad values stop the start', { timeout: 120000 }, async () => {
  await stack.restartService();
  try {
    const r = await runScenario(stack.url, 'replica-lag');
    assertDetail(r, 409, 'No read replica: set DATABASE_REPLICA_URL to run replica-lag');
    const h = await health();
    assert.equal(h.code, 200);
    assert.equal(h.status, 'healthy');
    assert.deepEqual(Object.keys(h.components).sort(), ['postgres', 'redis'], 'the health answer of a service without a replica is unchanged');
  } finally {
    await stack.restartService({ env: { DATABASE_REPLICA_URL: replica.url, WORKERS: 2 } });
  }
  for (const [value, reason] of [
    ['host=127.0.0.1 port', /DATABASE_REPLICA_URL: .*"="/],
    ['postgresql://cacheme@127.0.0.1:notaport/cacheme', /DATABASE_REPLICA_URL: bad port "notaport"/],
    [stack.databaseUrl, /DATABASE_REPLICA_URL: is the same as DATABASE_URL/],
  ]) {
    const out = await runCacheme(['serve'], { env: stack.serviceEnv(undefined, { DATABASE_REPLICA_URL: value }) });
    assert.equal(out.code, 2, `${value}: exit 2 (${out.stderr})`);
    assert.match(out.stderr, reason);
  }
});
