// Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): the stack's Redis is the master, with one
// replica (`redis-server --replicaof`) and three sentinels (`redis-server <conf> --sentinel`, each with
// its own writable configuration file), all on private ports. REDIS_URL points at a port where
// nothing listens: it only gives the database, so every lookup that works went through the sentinels.
//
//   lookups             -> /health names the master the sentinels gave; MISS then HIT
//   kill -9 the master  -> under a load of GETs and PATCHes: zero non-2xx (fail-open to PostgreSQL);
//                          the sentinels promote the replica, every loop follows +switch-master and
//                          cache hits resume (the time is printed); new keys land on the new master
//   a sentinel dies     -> the subscription moves to another one; lookups keep hitting
//   bad settings        -> refused at start-up (exit 2) with the setting named
//
// The failover itself takes the sentinels about down-after-milliseconds (1 s here) plus an election;
// every wait is a bounded poll on what the servers or the service show.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startStack, runCacheme } from '../lib/stack.mjs';
import { spawnTracked, within } from '../lib/process.mjs';
import { freePort, request, waitFor } from '../lib/util.mjs';
import { redisCommand } from '../lib/resp.mjs';
import { openEvents, eventData } from '../lib/sse.mjs';
import { runScenario } from '../lib/lab.mjs';
import { startLoad } from './lib/load.mjs';
import { sendJson } from './lib/writes.mjs';

const MASTER_NAME = 'cacheme-test';
const WORKERS = 2;
const IDS = Array.from({ length: 10 }, (_, i) => i + 1); // read under load
const PATCH_IDS = [11, 12, 13]; // written under load
const FRESH_ID = 15; // first read after the failover (the seed has 15 products)

let stack;
let replica; // { port, proc, exited }
const sentinels = []; // { port, proc, exited, logPath }
let env;

/** Spawn a redis-server (or sentinel) as our child, log to `logPath`; resolves once it answers PING. */
async function spawnRedis(args, port, logPath) {
  const fd = fs.openSync(logPath, 'a');
  let started;
  try {
    started = spawnTracked('redis-server', args, { cwd: path.dirname(logPath), stdio: ['ignore', fd, fd] }, 'SIGKILL');
  } finally {
    fs.closeSync(fd);
  }
  const server = { port, proc: started.proc, exited: started.exited, logPath };
  await waitFor(
    async () => {
      if (await within(server.exited, 0)) throw Object.assign(new Error(`redis-server exited: ${fs.readFileSync(logPath, 'utf8').slice(-2000)}`), { fatal: true });
      return (await redisCommand(port, ['PING']).catch(() => null)) === 'PONG';
    },
    { timeout: 15000, message: `PING on port ${port}` },
  );
  return server;
}

async function kill(server) {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  server.proc.kill('SIGKILL');
  await within(server.exited, 5000);
}

/** INFO's fields as an object. */
async function info(port, section) {
  const text = await redisCommand(port, ['INFO', section]);
  return Object.fromEntries(
    text
      .split('\r\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

/** A flat [k, v, k, v] reply as an object. */
const pairs = (arr) => Object.fromEntries(Array.from({ length: arr.length / 2 }, (_, i) => [arr[2 * i], arr[2 * i + 1]]));

before(async () => {
  stack = await startStack({ serve: false });
  const dir = path.join(stack.dir, 'sentinel');
  fs.mkdirSync(dir);
  const master = stack.redisPort;

  const replicaPort = await freePort();
  replica = await spawnRedis(
    ['--port', String(replicaPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--replicaof', '127.0.0.1', String(master)],
    replicaPort,
    path.join(dir, 'replica.log'),
  );
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${i}.conf`);
    // Sentinel rewrites its configuration file: each one needs its own, writable.
    fs.writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push(await spawnRedis([conf, '--sentinel'], port, path.join(dir, `sentinel-${i}.log`)));
  }
  // A failover needs the replica in sync, and every sentinel aware of it and of the two others.
  await waitFor(async () => (await info(replica.port, 'replication')).master_link_status === 'up', { timeout: 30000, message: 'the replica in sync' });
  await waitFor(
    async () => {
      for (const s of sentinels) {
        const replicas = await redisCommand(s.port, ['SENTINEL', 'REPLICAS', MASTER_NAME]);
        const others = await redisCommand(s.port, ['SENTINEL', 'SENTINELS', MASTER_NAME]);
        if (replicas.length !== 1 || others.length !== 2) return false;
        if (!/^slave$/.test(pairs(replicas[0]).flags)) return false;
      }
      return true;
    },
    { timeout: 30000, interval: 100, message: 'every sentinel knows the replica and the two other sentinels' },
  );

  env = {
    WORKERS,
    REDIS_URL: `redis://127.0.0.1:${await freePort()}/0`, // nothing listens there
    REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    REDIS_SENTINEL_MASTER: MASTER_NAME,
  };
  await stack.startService({ env });
});

after(async () => {
  for (const s of sentinels) await kill(s);
  await kill(replica);
  await stack?.teardown();
});

/** /health `times` in a row, so that every event loop has answered at least once with high odds. */
async function healthOfEveryLoopOf(svc, times = 8) {
  const out = [];
  for (let i = 0; i < times; i++) out.push((await request(`${svc.url}/health`)).body);
  return out;
}

async function healthOfEveryLoop(times = 8) {
  const out = [];
  for (let i = 0; i < times; i++) out.push((await stack.get('/health')).body);
  return out;
}

test('lookups go through the master the sentinels name: /health says so, MISS then HIT', async () => {
  await waitFor(async () => (await healthOfEveryLoop()).every((h) => h?.components.redis.address === `127.0.0.1:${stack.redisPort}`), {
    timeout: 15000,
    message: 'every loop connected to the master',
  });
  const h = (await stack.get('/health')).body;
  assert.equal(h.status, 'healthy');
  assert.deepEqual(h.components.redis.sentinel, {
    master_name: MASTER_NAME,
    sentinels: sentinels.map((s) => `127.0.0.1:${s.port}`),
  });

  const first = await stack.get('/products/1');
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-cache'), 'MISS');
  await stack.waitForKeys('product:1'); // on the master, the stack's Redis
  const second = await stack.get('/products/1');
  assert.equal(second.status, 200);
  assert.equal(second.headers.get('x-cache'), 'HIT');
  assert.equal(second.body.id, 1);
  // And the replica has it too: the failover below keeps the warm cache.
  await waitFor(async () => (await redisCommand(replica.port, ['EXISTS', 'product:1'])) === 1, { timeout: 10000, message: 'product:1 on the replica' });
});

test('scenario invalidation-window: the observers track the master the sentinels name, not REDIS_URL', { timeout: 60000 }, async () => {
  const r = await runScenario(stack.url, 'invalidation-window');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.all_heard, true, r.text);
  assert.equal(r.body.observed.length, 3);
  for (const o of r.body.observed) assert.equal(o.heard, true, JSON.stringify(o));
});

test('/topology: mode sentinel, the master the sentinels name, its replica, the sentinels and the one followed', async () => {
  await waitFor(async () => (await stack.get('/topology')).body.redis.nodes.some((n) => n.role === 'replica'), {
    timeout: 15000,
    message: 'the master lists its replica',
  });
  const { redis } = (await stack.get('/topology')).body;
  assert.equal(redis.mode, 'sentinel');
  assert.equal(redis.master, `127.0.0.1:${stack.redisPort}`);
  assert.equal(redis.slots_covered, null);
  assert.deepEqual(
    redis.nodes.map((n) => [n.address, n.role, n.state, n.replica_of]),
    [
      [`127.0.0.1:${stack.redisPort}`, 'master', 'up', null],
      [`127.0.0.1:${replica.port}`, 'replica', 'up', `127.0.0.1:${stack.redisPort}`],
    ],
  );
  // keys is the master's DBSIZE (read again until they agree: a batch of view analytics sent
  // between the two reads adds keys).
  await waitFor(async () => (await stack.get('/topology')).body.redis.nodes[0].keys === (await redisCommand(stack.redisPort, ['DBSIZE'])), {
    timeout: 10000,
    message: "keys equal to the master's DBSIZE",
  });
  assert.equal(redis.sentinel.master_name, MASTER_NAME);
  assert.deepEqual(redis.sentinel.sentinels.map((x) => x.address), sentinels.map((x) => `127.0.0.1:${x.port}`));
  assert.equal(redis.sentinel.sentinels.filter((x) => x.subscribed).length, 1, 'the loop follows one sentinel');
  const k = (await stack.get('/topology?product_id=1')).body.key;
  assert.deepEqual(k, { key: 'product:1', slot: null, node: `127.0.0.1:${stack.redisPort}`, exists: true });
});

test('kill -9 of the master under load: zero non-2xx, the replica is promoted and followed, hits resume', { timeout: 120000 }, async (t) => {
  // A warm cache, on the master and (replicated) on the replica.
  for (const id of IDS) assert.equal((await stack.get(`/products/${id}`)).status, 200);
  await stack.waitForKeys(IDS.map((id) => `product:${id}`));
  await waitFor(async () => (await redisCommand(replica.port, ['EXISTS', ...IDS.map((id) => `product:${id}`)])) === IDS.length, {
    timeout: 10000,
    message: 'the warm keys on the replica',
  });

  // Event streams opened before the kill: each lands on one loop, and every loop follows the failover.
  const streams = [await openEvents(`${stack.url}/events`), await openEvents(`${stack.url}/events`)];
  const load = startLoad({ url: () => stack.url, ids: () => IDS, concurrency: 6, maxMs: 90000 });
  // A few writes while it runs: one PATCH each time the reads have advanced by 25.
  const patches = [];
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing && i < 400; i++) {
      const id = PATCH_IDS[i % PATCH_IDS.length];
      const r = await sendJson(stack.url, 'PATCH', `/products/${id}`, { price: 10 + (i % 50) }, { timeout: 10000 }).catch((err) => ({ status: 0, text: err.message }));
      patches.push({ id, status: r.status, text: r.text });
      const target = load.count() + 25;
      await load.until((l) => !writing || l.count() >= target, { timeout: 30000, message: '25 more reads' }).catch(() => {});
    }
  })();

  let killedAt;
  let promotedAt;
  try {
    load.phase('before');
    await load.until((l) => l.count('before') >= 200, { message: '200 requests before the kill' });

    load.phase('killing');
    await stack.killRedis('SIGKILL');
    killedAt = performance.now();
    load.phase('failover');
    // The sentinels promote the replica; every loop follows (+switch-master) and checks its ROLE.
    await waitFor(async () => (await healthOfEveryLoop()).every((h) => h?.components.redis.address === `127.0.0.1:${replica.port}`), {
      timeout: 60000,
      interval: 50,
      message: 'every loop connected to the promoted replica',
    });
    promotedAt = performance.now();
    load.phase('after');
    await load.until((l) => l.of('after', (r) => r.xcache === 'HIT').length >= 200, { timeout: 30000, message: '200 cache hits after the failover' });
  } finally {
    writing = false;
    await load.stop();
    await writer;
  }

  const failoverStart = load.phaseStart('failover');
  const firstHit = load.results.filter((r) => (r.phase === 'failover' || r.phase === 'after') && r.xcache === 'HIT').sort((a, b) => a.t1 - b.t1)[0];
  const hitsResumeMs = Math.round(firstHit.t1 - failoverStart);
  const everyLoopMs = Math.round(promotedAt - killedAt);
  for (const p of ['before', 'killing', 'failover', 'after']) t.diagnostic(`${p}: ${JSON.stringify(load.summary(p))}`);
  t.diagnostic(`PATCH answers by status: ${JSON.stringify(patches.reduce((m, p) => ({ ...m, [p.status]: (m[p.status] ?? 0) + 1 }), {}))}`);
  const line = `sentinel failover: first cache hit ${hitsResumeMs} ms after kill -9 of the master; every loop on the new master after ${everyLoopMs} ms`;
  t.diagnostic(line);
  process.stdout.write(`# ${line}\n`);

  const bad = load.results.filter((r) => r.error || r.status !== 200 || r.body?.id !== r.id);
  assert.deepEqual(bad.slice(0, 5).map((r) => `${r.phase} ${r.id}: ${r.error ?? `${r.status} ${r.text}`}`), [], `zero non-2xx GET answers (${bad.length} bad of ${load.results.length})`);
  assert.ok(patches.length >= 5, `a few PATCHes ran (${patches.length})`);
  assert.deepEqual(patches.filter((p) => p.status !== 200).slice(0, 5), [], 'every PATCH answered 200');
  assert.ok(load.count('failover') > 0, 'requests were answered during the failover');

  // The replica is the master now, for itself and (once the news has spread) for every sentinel.
  const role = await redisCommand(replica.port, ['ROLE']);
  assert.equal(role[0], 'master');
  assert.equal((await info(replica.port, 'replication')).role, 'master');
  await waitFor(
    async () => {
      for (const s of sentinels) {
        const named = await redisCommand(s.port, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME]);
        if (named?.[1] !== String(replica.port)) return false;
      }
      return true;
    },
    { timeout: 15000, message: 'every sentinel names the promoted replica' },
  );
  // The loops heard the announcement on their subscription (sent when their sentinel learnt it).
  const moved = new RegExp(`moved from 127\\.0\\.0\\.1:${stack.redisPort} to 127\\.0\\.0\\.1:${replica.port} \\(\\+switch-master\\)`);
  await waitFor(() => moved.test(stack.service.log()), { timeout: 15000, message: 'the +switch-master message in the service log' });

  // The failover as a topology event on /events, counted, and the new master in /topology.
  try {
    for (const st of streams) {
      const e = await st.next((x) => x.event === 'topology' && eventData(x)?.type === 'switch_master', 15000, 'a switch_master event');
      const d = eventData(e);
      assert.equal(d.from, `127.0.0.1:${stack.redisPort}`);
      assert.equal(d.to, `127.0.0.1:${replica.port}`);
      assert.equal(d.cause, '+switch-master');
      assert.equal(typeof d.timestamp, 'number');
    }
  } finally {
    for (const st of streams) await st.close();
  }
  const topo = (await stack.get('/topology')).body;
  assert.ok(topo.events.switch_master >= 1, JSON.stringify(topo.events));
  assert.equal(topo.redis.master, `127.0.0.1:${replica.port}`);
  assert.equal(topo.redis.nodes[0].address, `127.0.0.1:${replica.port}`);
  assert.equal(topo.redis.nodes[0].role, 'master');
  assert.equal(topo.redis.nodes[0].state, 'up');

  // Keys written after the failover are on the new master.
  assert.equal(await redisCommand(replica.port, ['EXISTS', `product:${FRESH_ID}`]), 0);
  const miss = await stack.get(`/products/${FRESH_ID}`);
  assert.equal(miss.status, 200);
  assert.equal(miss.headers.get('x-cache'), 'MISS');
  await waitFor(async () => (await redisCommand(replica.port, ['EXISTS', `product:${FRESH_ID}`])) === 1, { timeout: 10000, message: `product:${FRESH_ID} on the new master` });
  const hit = await stack.get(`/products/${FRESH_ID}`);
  assert.equal(hit.headers.get('x-cache'), 'HIT');
  const h = (await stack.get('/health')).body;
  assert.equal(h.status, 'healthy');
  assert.equal(h.components.redis.address, `127.0.0.1:${replica.port}`);
});

test('the subscription moves to another sentinel when its sentinel dies; lookups keep hitting', async () => {
  const log = () => stack.service.log();
  const following = (port) => (log().match(new RegExp(`sentinel 127\\.0\\.0\\.1:${port}: following master`, 'g')) ?? []).length;
  // Each loop subscribes to the first sentinel that confirms: the first one, unless it failed.
  const subscribed = sentinels.filter((s) => following(s.port) > 0);
  assert.ok(subscribed.length > 0, 'the loops are subscribed somewhere');
  const victim = subscribed[0];
  const othersBefore = sentinels.filter((s) => s !== victim).reduce((n, s) => n + following(s.port), 0);
  await kill(victim);
  await waitFor(() => sentinels.filter((s) => s !== victim).reduce((n, s) => n + following(s.port), 0) > othersBefore, {
    timeout: 15000,
    message: 'a loop subscribed to another sentinel',
  });
  await waitFor(
    async () => {
      const r = await stack.get(`/products/${FRESH_ID}`);
      assert.equal(r.status, 200);
      return r.headers.get('x-cache') === 'HIT';
    },
    { timeout: 10000, message: `a cache hit for product ${FRESH_ID}` },
  );
});

/**
 * A stand-in sentinel on a free port: answers SENTINEL get-master-addr-by-name with `addr()` (and
 * counts the questions), confirms SUBSCRIBE and then stays silent. Enough to make the service
 * connect where the test wants.
 */
async function fakeSentinel(addr) {
  const port = await freePort();
  const state = { port, asked: 0, sockets: new Set() };
  const bulk = (v) => `$${Buffer.byteLength(v)}\r\n${v}\r\n`;
  state.server = net.createServer((sock) => {
    state.sockets.add(sock);
    sock.on('close', () => state.sockets.delete(sock));
    sock.on('error', () => {});
    sock.on('data', (d) => {
      const text = d.toString('latin1').toLowerCase();
      if (text.includes('get-master-addr-by-name')) {
        state.asked++;
        const [host, p] = addr();
        sock.write(`*2\r\n${bulk(host)}${bulk(String(p))}`);
      } else if (text.includes('subscribe')) {
        sock.write(`*3\r\n${bulk('subscribe')}${bulk('+switch-master')}:1\r\n`);
      }
    });
  });
  await new Promise((resolve) => state.server.listen(port, '127.0.0.1', resolve));
  state.close = async () => {
    for (const sock of state.sockets) sock.destroy();
    await new Promise((resolve) => state.server.close(resolve));
  };
  return state;
}

test('a server that is not the master (ROLE) is dropped and the address asked again; lookups fall back to PostgreSQL meanwhile', { timeout: 60000 }, async () => {
  // After the failover above, the promoted replica is the master; a second replica of it is not.
  const port = await freePort();
  const dir = path.join(stack.dir, 'sentinel');
  const replica2 = await spawnRedis(
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', 'replica2.rdb', '--replicaof', '127.0.0.1', String(replica.port)],
    port,
    path.join(dir, 'replica2.log'),
  );
  let answer = ['127.0.0.1', replica2.port];
  const fake = await fakeSentinel(() => answer);
  try {
    const svc = await stack.startService({ env: { ...env, REDIS_SENTINELS: `127.0.0.1:${fake.port}` } });
    await waitFor(() => fake.asked >= 3 && /127\.0\.0\.1:\d+ is not a master \(ROLE: slave\)/.test(svc.log()), {
      timeout: 20000,
      message: 'the replica refused after ROLE, and the sentinel asked again',
    });
    for (const h of await healthOfEveryLoop()) {
      assert.equal(h.components.redis.address, null, 'connected to no server while only a replica is named');
      assert.equal(h.status, 'degraded');
    }
    const r = await stack.get(`/products/${FRESH_ID}`);
    assert.equal(r.status, 200, 'answered from PostgreSQL');
    assert.equal(r.body.source, 'database');

    answer = ['127.0.0.1', replica.port]; // the real master
    await waitFor(async () => (await healthOfEveryLoop()).every((h) => h?.components.redis.address === `127.0.0.1:${replica.port}`), {
      timeout: 20000,
      message: 'every loop connected to the master once the sentinel names it',
    });
    await waitFor(async () => (await stack.get(`/products/${FRESH_ID}`)).headers.get('x-cache') === 'HIT', { timeout: 10000, message: 'a cache hit' });
  } finally {
    await fake.close();
    await kill(replica2);
  }
});

test('the near cache (L1_CACHE) follows the master: its invalidation channel moves with the client, L1 serves again, no stale read', { timeout: 90000 }, async () => {
  // Two masters: the promoted replica (A) and a fresh server (B). A stand-in sentinel names A,
  // then B; dropping the service's normal connections on A makes every loop ask again and move.
  const dir = path.join(stack.dir, 'sentinel');
  const bPort = await freePort();
  const b = await spawnRedis(['--port', String(bPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', 'b.rdb'], bPort, path.join(dir, 'b.log'));
  const a = replica.port;
  let answer = ['127.0.0.1', a];
  const fake = await fakeSentinel(() => answer);
  const original = stack.service;
  let svc;
  const ID = 4;
  const subscribers = async (port) => (await redisCommand(port, ['PUBSUB', 'NUMSUB', '__redis__:invalidate']))[1];
  const get = () => request(`${svc.url}/products/${ID}`);
  try {
    // The instances of the tests above have their channels on A too (the near cache can be
    // switched on at run time, so every loop keeps one).
    const others = await subscribers(a);
    svc = await stack.startService({ env: { ...env, REDIS_SENTINELS: `127.0.0.1:${fake.port}`, L1_CACHE: 'true' } });
    // Every loop's channel on A, and L1 answering (before: the channel went to REDIS_URL, where
    // nothing listens, and L1 never answered under Sentinel).
    await waitFor(async () => (await subscribers(a)) === others + WORKERS, { timeout: 20000, message: 'both invalidation channels on A' });
    await waitFor(async () => (await get()).headers.get('x-cache-level') === 'L1', { timeout: 20000, message: 'an L1 answer on A' });

    answer = ['127.0.0.1', bPort];
    await redisCommand(a, ['CLIENT', 'KILL', 'TYPE', 'normal']); // the lookups' connections, not the channels
    await waitFor(async () => (await healthOfEveryLoopOf(svc)).every((h) => h?.components.redis.address === `127.0.0.1:${bPort}`), {
      timeout: 20000,
      message: 'every loop connected to B',
    });
    // The channels followed the clients: on B, none of this instance's left on A.
    let counts;
    await waitFor(
      async () => {
        counts = { a: await subscribers(a), b: await subscribers(bPort) };
        return counts.b === WORKERS && counts.a === others;
      },
      { timeout: 20000, message: 'the channels moved from A to B' },
    ).catch((err) => {
      throw new Error(`${err.message}: ${JSON.stringify(counts)}`);
    });
    await waitFor(async () => (await get()).headers.get('x-cache-level') === 'L1', { timeout: 20000, message: 'an L1 answer on B' });

    // A write through the service on B reaches every loop's L1: no read after it sees the old price.
    const before_ = (await get()).body.price;
    const price = before_ === 77.5 ? 78.5 : 77.5;
    const w = await sendJson(svc.url, 'PATCH', `/products/${ID}`, { price });
    assert.equal(w.status, 200, w.text);
    const levels = new Set();
    for (let i = 0; i < 40; i++) {
      const r = await get();
      assert.equal(r.status, 200);
      assert.equal(r.body.price, price, `read ${i} after the write (${r.headers.get('x-cache-level')})`);
      levels.add(r.headers.get('x-cache-level') ?? 'none');
    }
    await waitFor(async () => (await get()).headers.get('x-cache-level') === 'L1', { timeout: 10000, message: 'L1 answers the new price' });
    assert.equal((await get()).body.price, price);
  } finally {
    if (svc && !svc.exitInfo) await svc.signal('SIGTERM');
    stack.service = original;
    await fake.close();
    await kill(b);
  }
});

const BAD = [
  [{ REDIS_SENTINELS: '127.0.0.1', REDIS_SENTINEL_MASTER: 'm' }, /REDIS_SENTINELS: entry 1 "127\.0\.0\.1" is not host:port/],
  [{ REDIS_SENTINELS: '127.0.0.1:26379,127.0.0.1:99999', REDIS_SENTINEL_MASTER: 'm' }, /REDIS_SENTINELS: entry 2 .*port must be 1\.\.65535/],
  [{ REDIS_SENTINELS: '127.0.0.1:26379' }, /REDIS_SENTINEL_MASTER: must name the master/],
  [{ REDIS_SENTINEL_MASTER: 'm' }, /REDIS_SENTINEL_MASTER: is set but REDIS_SENTINELS is empty/],
];

for (const [bad, message] of BAD) {
  test(`${JSON.stringify(bad)}: cacheme serve refuses to start, naming the setting`, async () => {
    const r = await runCacheme(['serve'], { env: stack.serviceEnv(await freePort(), bad), timeout: 15000 });
    assert.equal(r.timedOut, false, 'exited by itself');
    assert.equal(r.code, 2, `exit code (output: ${r.stderr}${r.stdout})`);
    assert.match(r.stderr + r.stdout, message);
  });
}
