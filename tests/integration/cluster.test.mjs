// cacheme on a real Redis Cluster (REDIS_CLUSTER_NODES): 3 masters and 3 replicas started here
// (lib/cluster.mjs). Lookups, hits, writes, the clear, the statistics and view analytics work across
// the masters, each product's keys sit on the master of its slot, the protections still hold, the
// settings a cluster rules out are refused; and under load, a reshard of 1,000 slots, a CLUSTER
// FAILOVER and a kill -9 of a master cost no non-2xx answer.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startStack, runCacheme } from '../lib/stack.mjs';
import { runScenario } from '../lib/lab.mjs';
import { freePort, request, waitFor } from '../lib/util.mjs';
import { openEvents, eventData } from '../lib/sse.mjs';
import { runOk } from '../lib/process.mjs';
import { Cluster, keySlot } from './lib/cluster.mjs';
import { startLoad } from './lib/load.mjs';
import { tally } from './lib/resilience.mjs';

const MASTERS = 3;
const REDIS_TIMEOUT_MS = 250;
let cluster;
let stack;

before(async () => {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cacheme-cluster-'));
  cluster = new Cluster(dir);
  try {
    await cluster.start({ masters: MASTERS, replicas: 1 });
    stack = await startStack({ env: { REDIS_CLUSTER_NODES: cluster.seeds(), WORKERS: 2, REDIS_TIMEOUT_MS } });
  } catch (err) {
    await cluster.stop();
    throw err;
  }
});

after(async () => {
  try {
    await stack?.teardown();
  } finally {
    await cluster.stop();
    if (process.env.CACHEME_KEEP_TMP !== '1') fs.rmSync(cluster.dir, { recursive: true, force: true });
  }
});

const product = (id, init) => stack.get(`/products/${id}`, init);
const appStats = async () => (await stack.get('/cache/stats')).body.app_stats;

/** Resolves once key exists on the master that serves its slot (asked there, no redirection). */
async function waitKeyOnOwner(key) {
  await waitFor(async () => (await cluster.cmd(await cluster.ownerOf(key), 'EXISTS', key).catch(() => 0)) === 1, { timeout: 5000, message: `${key} on its master` });
}

/** Every key on every master matching pattern (SCAN on each, no redirection). */
async function keysOnMasters(pattern) {
  const out = {};
  for (const port of await cluster.masterPorts()) {
    const keys = [];
    let cursor = '0';
    do {
      const [next, batch] = await cluster.cmd(port, 'SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    out[port] = keys.sort();
  }
  return out;
}

test('the hash slot of a product key is the slot of its companions (the test\'s CRC16 agrees with Redis)', async () => {
  const port = (await cluster.masterPorts())[0];
  for (const key of ['product:7', '{product:7}:gen', '{product:7}:lock', 'product:123456']) {
    assert.equal(await cluster.cmd(port, 'CLUSTER', 'KEYSLOT', key), keySlot(key), key);
  }
  assert.equal(keySlot('{product:7}:stale'), keySlot('product:7'));
});

test('lookups: database, then cache; each product key and its companions live on the master of its slot', async () => {
  const ids = Array.from({ length: 15 }, (_, i) => i + 1);
  for (const id of ids) {
    const r = await product(id);
    assert.equal(r.status, 200);
    assert.equal(r.body.source, 'database');
  }
  for (const id of ids) await waitKeyOnOwner(`product:${id}`);
  for (const id of ids) {
    const r = await product(id);
    assert.equal(r.status, 200);
    assert.equal(r.body.source, 'cache', `product ${id} from the cache`);
    assert.equal(r.headers.get('x-cache'), 'HIT');
    const owner = await cluster.ownerOf(`product:${id}`);
    assert.equal(await cluster.cmd(owner, 'EXISTS', `{product:${id}}:stale`), 1, `the stale copy of ${id} beside it`);
  }
  // The 15 keys spread over every master.
  const placed = await keysOnMasters('product:*');
  assert.equal(Object.values(placed).flat().length, 15);
  for (const [port, keys] of Object.entries(placed)) assert.ok(keys.length > 0, `master ${port} holds product keys`);
});

test('a PATCH invalidates on the right master: the next read has the new value, then hits it', async () => {
  const id = 14;
  assert.equal((await product(id)).status, 200);
  await waitKeyOnOwner(`product:${id}`);
  const w = await product(id, { method: 'PATCH', body: JSON.stringify({ price: 123.45 }), headers: { 'content-type': 'application/json' } });
  assert.equal(w.status, 200);
  assert.equal(w.headers.get('x-cache-action'), 'deleted');
  const owner = await cluster.ownerOf(`product:${id}`);
  assert.ok(Number(await cluster.cmd(owner, 'GET', `{product:${id}}:gen`)) > 0, 'the generation raised on the master of product:14');
  const r = await product(id);
  assert.equal(r.body.source, 'database');
  assert.equal(r.body.price, 123.45);
  await waitKeyOnOwner(`product:${id}`);
  const hit = await product(id);
  assert.equal(hit.body.source, 'cache');
  assert.equal(hit.body.price, 123.45);
});

test('scenario invalidation-window: the observers track the master of product 1\'s slot', { timeout: 60000 }, async () => {
  const r = await runScenario(stack.url, 'invalidation-window');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.all_heard, true, r.text);
  for (const o of r.body.observed) assert.equal(o.heard, true, JSON.stringify(o));
});

test('/events fan-out over the cluster: a write through a second instance reaches the first one\'s stream', { timeout: 60000 }, async () => {
  const main = stack.service;
  const other = await stack.startService({ env: { REDIS_CLUSTER_NODES: cluster.seeds(), WORKERS: 2, REDIS_TIMEOUT_MS } });
  stack.service = main; // the stack's service stays the one the other tests talk to
  try {
    for (const s of [stack.service, other]) {
      await waitFor(async () => (await request(`${s.url}/health`)).body?.components?.redis?.events_fanout === 'subscribed', {
        timeout: 15000,
        message: `${s.url} subscribed to the events channel`,
      });
    }
    const name = (await request(`${other.url}/health`)).headers.get('x-instance');
    const stream = await openEvents(`${stack.url}/events`);
    try {
      const r = await request(`${other.url}/products/5`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ price: 55.5 }) });
      assert.equal(r.status, 200, r.text);
      const e = eventData(await stream.next((ev) => ev.event === 'write' && eventData(ev).instance === name, 15000, "the other instance's write"));
      assert.equal(e.id, 5);
      assert.equal(e.op, 'update');
    } finally {
      await stream.close();
    }
  } finally {
    await other.signal('SIGTERM');
  }
});

test('protections: 100 concurrent lookups of a cold key make one query; a missing id is cached as null on its master', async () => {
  await cluster.keyCmd('product:13', 'DEL', 'product:13');
  const before_ = await appStats();
  const answers = await Promise.all(Array.from({ length: 100 }, () => product(13)));
  assert.deepEqual(tally(answers.map((r) => r.status)), { 200: 100 });
  assert.equal((await appStats()).db_queries - before_.db_queries, 1, 'one query for 100 lookups');

  const missing = 987654;
  assert.equal((await product(missing)).status, 404);
  await waitKeyOnOwner(`product:${missing}`);
  assert.equal(await cluster.cmd(await cluster.ownerOf(`product:${missing}`), 'GET', `product:${missing}`), 'null');
  const again = await product(missing);
  assert.equal(again.status, 404);
  assert.equal(again.body.source, 'cache');
});

test('/cache/stats sums INFO over the masters and lists each with its slots', async () => {
  const r = await stack.get('/cache/stats');
  assert.equal(r.status, 200);
  const nodes = r.body.redis_nodes;
  assert.equal(nodes.length, MASTERS);
  assert.equal(nodes.reduce((n, x) => n + x.slots, 0), 16384);
  assert.deepEqual(nodes.map((n) => Number(n.address.split(':')[1])).sort((a, b) => a - b), await cluster.masterPorts());
  for (const n of nodes) assert.equal(n.up, true);
  for (const field of ['keyspace_hits', 'keyspace_misses']) {
    assert.equal(r.body.cache_stats[field], nodes.reduce((sum, n) => sum + n[field], 0), field);
  }
  assert.ok(r.body.cache_stats.keyspace_hits > 0);
});

test('/topology: the masters with their slot ranges covering all 16384 slots, their replicas, DBSIZE per master', async () => {
  // A master's ROLE lists a replica once its replication link is up, a moment after the cluster forms.
  await waitFor(async () => (await stack.get('/topology')).body.redis.nodes.filter((n) => n.role === 'replica').length === MASTERS, {
    timeout: 30000,
    message: 'every master lists its replica',
  });
  const r = await stack.get('/topology');
  assert.equal(r.status, 200);
  const { redis } = r.body;
  assert.equal(redis.mode, 'cluster');
  assert.equal(redis.master, null);
  assert.equal(redis.slots_covered, 16384);
  const masters = redis.nodes.filter((n) => n.role === 'master');
  assert.deepEqual(masters.map((n) => Number(n.address.split(':')[1])).sort((a, b) => a - b), await cluster.masterPorts());
  // The ranges match CLUSTER SLOTS and, together, cover every slot exactly once.
  const expected = (await cluster.slots()).map((s) => [s.port, s.from, s.to]).sort((a, b) => a[1] - b[1]);
  const shown = masters.flatMap((n) => n.slot_ranges.map(([from, to]) => [Number(n.address.split(':')[1]), from, to])).sort((a, b) => a[1] - b[1]);
  assert.deepEqual(shown, expected);
  let next = 0;
  for (const [, from, to] of shown) {
    assert.equal(from, next, 'no gap and no overlap');
    next = to + 1;
  }
  assert.equal(next, 16384);
  for (const n of masters) {
    assert.equal(n.state, 'up');
    assert.equal(n.slots, n.slot_ranges.reduce((sum, [from, to]) => sum + to - from + 1, 0));
  }
  // keys is each master's DBSIZE (read again until they agree: a batch of view analytics sent
  // between the two reads adds keys).
  const keysAgree = async () => {
    for (const n of (await stack.get('/topology')).body.redis.nodes.filter((x) => x.role === 'master')) {
      if (n.keys !== (await cluster.cmd(Number(n.address.split(':')[1]), 'DBSIZE'))) return false;
    }
    return true;
  };
  await waitFor(keysAgree, { timeout: 10000, message: "every master's keys equal to its DBSIZE" });
  // Each master's replica, as the master's ROLE lists it.
  const replicas = redis.nodes.filter((n) => n.role === 'replica');
  assert.equal(replicas.length, MASTERS);
  for (const rep of replicas) {
    const port = Number(rep.address.split(':')[1]);
    const role = await cluster.cmd(port, 'ROLE');
    assert.equal(role[0], 'slave');
    assert.equal(rep.replica_of, `127.0.0.1:${role[2]}`);
  }
});

test('/topology?key= names the slot (CLUSTER KEYSLOT) and the master that really holds the key', async () => {
  for (const id of [1, 2, 3, 4, 5, 6]) assert.equal((await product(id)).status, 200);
  for (const id of [1, 2, 3, 4, 5, 6]) await waitKeyOnOwner(`product:${id}`);
  const anyPort = (await cluster.masterPorts())[0];
  for (const key of ['product:1', 'product:2', 'product:3', 'product:4', 'product:5', 'product:6', '{product:3}:gen', 'no-such-key']) {
    const r = await stack.get(`/topology?key=${encodeURIComponent(key)}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.key.key, key);
    assert.equal(r.body.key.slot, await cluster.cmd(anyPort, 'CLUSTER', 'KEYSLOT', key), `slot of ${key}`);
    const port = Number(r.body.key.node.split(':')[1]);
    assert.equal(port, await cluster.ownerOf(key), `master of ${key}`);
    // The node's own answer: it serves the key (no MOVED) and holds it, or not.
    const exists = await cluster.cmd(port, 'EXISTS', key);
    assert.equal(r.body.key.exists, exists === 1, `${key} exists on ${port}`);
  }
  const byId = await stack.get('/topology?product_id=4');
  assert.equal(byId.body.key.key, 'product:4');
  assert.equal(byId.body.key.exists, true);
});

test('analytics: views counted on the masters of their slots; trending, leaderboard and a product read back', async () => {
  // Earlier tests viewed these products too: the figures are compared as differences.
  const views = { 5: 3, 9: 2, 14: 1 };
  const totals = async () => {
    const out = {};
    for (const id of Object.keys(views)) {
      const r = await stack.get(`/analytics/products/${id}?minutes=60`);
      assert.equal(r.status, 200, r.text);
      out[id] = r.body;
    }
    return out;
  };
  const settled = () => waitFor(async () => {
    const s = (await stack.get('/analytics/stats')).body;
    return s.views_sent + s.views_dropped === s.views_recorded;
  }, { message: 'analytics batches sent' });
  await settled();
  const before = await totals();
  for (const [id, n] of Object.entries(views)) {
    for (let i = 0; i < n; i++) assert.equal((await product(id)).status, 200);
  }
  await settled();
  assert.equal((await stack.get('/analytics/stats')).body.views_dropped, 0);
  const after = await totals();
  for (const [id, n] of Object.entries(views)) {
    assert.equal(after[id].total_views - before[id].total_views, n, `product ${id}`);
    const sum = (p) => p.minutes.reduce((k, m) => k + m.views, 0);
    assert.equal(sum(after[id]) - sum(before[id]), n, `product ${id}, per minute`);
    assert.equal(after[id].unique_visitors, 1);
    // A product's keys share its slot and sit on that slot's master.
    const visitors = `analytics:{product:${id}}:visitors`;
    assert.equal(keySlot(visitors), keySlot(`product:${id}`));
    assert.equal(await cluster.cmd(await cluster.ownerOf(visitors), 'EXISTS', visitors), 1);
  }
  // Every aggregate is in the slot of {views}: the leaderboard agrees with each product's total.
  const total = 'analytics:{views}:total';
  assert.equal(await cluster.cmd(await cluster.ownerOf(total), 'ZSCORE', total, '5'), String(after[5].total_views));
  const board = (await stack.get('/analytics/leaderboard?limit=100')).body.products;
  for (const id of Object.keys(views)) {
    assert.equal(board.find((p) => p.product_id === Number(id))?.views, after[id].total_views, `product ${id} on the leaderboard`);
  }
  const trending = await stack.get('/analytics/trending?window=60&limit=100');
  assert.equal(trending.status, 200, trending.text);
  for (const id of Object.keys(views)) {
    assert.ok(trending.body.products.some((p) => p.product_id === Number(id)), `product ${id} is trending`);
  }
});

test('DELETE /cache/clear removes the product keys of every master, with their companions, and nothing else', async () => {
  for (let i = 0; i < 30; i++) await cluster.keyCmd(`other:${i}`, 'SET', `other:${i}`, 'x');
  const cached = Object.values(await keysOnMasters('product:*')).flat().length;
  assert.ok(cached > 10);
  const r = await stack.get('/cache/clear', { method: 'DELETE' });
  assert.equal(r.status, 200);
  assert.equal(r.body.cleared_keys, cached);
  assert.deepEqual(Object.values(await keysOnMasters('product:*')).flat(), []);
  const left = Object.values(await keysOnMasters('{product:*')).flat();
  assert.deepEqual(left.filter((k) => !k.endsWith(':gen')), [], 'only generation keys stay');
  assert.equal(Object.values(await keysOnMasters('other:*')).flat().length, 30);
});

for (const [env, naming] of [
  [{ L1_CACHE: 'true' }, /L1_CACHE/],
  [{ CACHE_WRITE_MODE: 'write-behind' }, /CACHE_WRITE_MODE/],
  [{ REDIS_CLUSTER_NODES: '127.0.0.1' }, /REDIS_CLUSTER_NODES/],
  [{ REDIS_CLUSTER_NODES: '127.0.0.1:0' }, /REDIS_CLUSTER_NODES/],
]) {
  test(`with a cluster, ${Object.entries(env)[0].join('=')} exits 2 naming the setting`, async () => {
    const r = await runCacheme(['serve'], { env: stack.serviceEnv(await freePort(), { REDIS_CLUSTER_NODES: cluster.seeds(), ...env }), timeout: 15000 });
    assert.equal(r.code, 2, `exit code (output: ${r.stderr}${r.stdout})`);
    assert.match(r.stderr + r.stdout, naming);
  });
}

/** CLUSTER MYID of the node on port. */
const nodeId = (port) => cluster.cmd(port, 'CLUSTER', 'MYID');

/** The port of a connected replica of the master on port (CLUSTER REPLICAS, in CLUSTER NODES' format). */
async function replicaOf(port) {
  const id = await nodeId(port);
  let found;
  await waitFor(
    async () => {
      const lines = String(await cluster.cmd(port, 'CLUSTER', 'REPLICAS', id)).split('\n').filter((l) => / connected$/.test(l.trim()) && !/fail/.test(l));
      found = lines.length ? Number(/:(\d+)@/.exec(lines[0])[1]) : undefined;
      return found !== undefined;
    },
    { timeout: 15000, message: `a connected replica of ${port}` },
  );
  return found;
}

test('under load: a reshard of 1,000 slots, a CLUSTER FAILOVER and a kill -9 of a master cost no non-2xx answer', async (t) => {
  const ids = Array.from({ length: 15 }, (_, i) => i + 1);
  // Two streams: each lands on one of the two event loops, and every loop reports what it saw.
  const streams = [await openEvents(`${stack.url}/events`), await openEvents(`${stack.url}/events`)];
  const load = startLoad({ url: () => stack.url, ids: () => ids, concurrency: 8 });
  const started = performance.now();
  const timeline = {};
  try {
    load.phase('before');
    await load.until((l) => l.of('before', (r) => r.xcache === 'HIT').length >= 200, { message: '200 hits before the faults' });

    // 1. Move 1,000 slots from the first master to the second while lookups run (MIGRATE, ASK).
    load.phase('reshard');
    let t0 = performance.now();
    const [a, b] = await cluster.masterPorts();
    await runOk('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${a}`, '--cluster-from', await nodeId(a), '--cluster-to', await nodeId(b),
      '--cluster-slots', '1000', '--cluster-yes', '--cluster-pipeline', '100'], { timeout: 120000 });
    await cluster.waitHealthy(MASTERS);
    timeline.reshard_ms = Math.round(performance.now() - t0);
    const owned = (await cluster.slots()).filter((s) => s.port === b).reduce((n, s) => n + s.to - s.from + 1, 0);
    assert.ok(owned >= 5461 + 1000, `master ${b} serves ${owned} slots after the reshard`);

    // 2. A replica takes over with CLUSTER FAILOVER (coordinated: no write is lost).
    load.phase('failover');
    t0 = performance.now();
    const c = (await cluster.masterPorts()).find((p) => p !== a && p !== b);
    const promoted = await replicaOf(c);
    assert.equal(await cluster.cmd(promoted, 'CLUSTER', 'FAILOVER'), 'OK');
    await waitFor(async () => (await cluster.masterPorts()).includes(promoted), { timeout: 30000, interval: 50, message: `${promoted} a master` });
    await cluster.waitHealthy(MASTERS);
    timeline.failover_ms = Math.round(performance.now() - t0);

    // 3. kill -9 of a master: its replica is elected after the node timeout (2 s); until then its
    // slots' lookups go to PostgreSQL.
    load.phase('kill');
    t0 = performance.now();
    const victim = a;
    timeline.victim = victim;
    const heir = await replicaOf(victim);
    timeline.heir = heir;
    await cluster.kill(victim);
    await waitFor(async () => (await cluster.masterPorts()).includes(heir), { timeout: 30000, interval: 50, message: `${heir} elected` });
    await cluster.waitHealthy(MASTERS);
    timeline.kill_to_elected_ms = Math.round(performance.now() - t0);

    // 4. Hits everywhere again; the load runs 30 s in all.
    load.phase('after');
    await load.until((l) => ids.every((id) => l.of('after', (r) => r.id === id && r.xcache === 'HIT').length > 0), { timeout: 30000, message: 'every id hit again after the faults' });
    await waitFor(() => performance.now() - started >= 30000, { timeout: 60000, interval: 200, message: '30 s of load' });
  } finally {
    await load.stop();
  }
  // The faults as topology events: slots moved (the reshard, the failovers), the killed master lost.
  const topo = (e) => e.event === 'topology' && eventData(e);
  try {
    for (const st of streams) {
      const moved = await st.next((e) => topo(e)?.type === 'slots_moved' && topo(e).slots >= 1, 15000, 'a slots_moved event');
      const d = eventData(moved);
      assert.match(d.from, /^127\.0\.0\.1:\d+$/);
      assert.match(d.to, /^127\.0\.0\.1:\d+$/);
      assert.ok(['MOVED', 'CLUSTER SLOTS'].includes(d.cause), d.cause);
      await st.next((e) => topo(e)?.type === 'slots_moved' && topo(e).from === `127.0.0.1:${timeline.victim}` && topo(e).to === `127.0.0.1:${timeline.heir}`, 15000, 'the victim\'s slots moved to its heir');
      await st.next((e) => topo(e)?.type === 'node_lost' && topo(e).from === `127.0.0.1:${timeline.victim}`, 15000, 'node_lost for the killed master');
    }
  } finally {
    for (const st of streams) await st.close();
  }
  const counted = (await stack.get('/topology')).body.events;
  assert.ok(counted.slots_moved >= 2 && counted.node_lost >= 1, JSON.stringify(counted));
  const after_ = (await stack.get('/topology')).body.redis;
  assert.equal(after_.slots_covered, 16384);
  assert.ok(!after_.nodes.some((n) => n.address === `127.0.0.1:${timeline.victim}`), 'the killed master is out of the map');
  const summary = Object.fromEntries(['before', 'reshard', 'failover', 'kill', 'after'].map((p) => [p, load.summary(p)]));
  t.diagnostic(`cluster under load: ${JSON.stringify({ timeline, summary })}`);
  const bad = load.results.filter((r) => r.error || r.status < 200 || r.status >= 300);
  assert.deepEqual(bad.slice(0, 5).map((r) => `${r.phase} ${r.id}: ${r.status ?? r.error}`), [], `${bad.length} non-2xx answers`);
  for (const r of load.results) assert.equal(r.body?.id, r.id);

  // Keys on the right masters after: each cached product key on the master of its slot.
  for (const id of ids) await waitKeyOnOwner(`product:${id}`);
  const placed = await keysOnMasters('product:*');
  for (const [port, keys] of Object.entries(placed)) {
    for (const k of keys) assert.equal(await cluster.ownerOf(k), Number(port), `${k} on ${port}`);
  }
  const stats = (await stack.get('/cache/stats')).body;
  assert.equal(stats.redis_nodes.length, MASTERS);
  assert.ok(stats.redis_nodes.every((n) => n.up), 'the loop is connected to every master of the new map');
});
