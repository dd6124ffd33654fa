// GET /topology on the single topology (one Redis, one PostgreSQL): the Redis node with its role and
// key count as Redis itself gives them, the primary's WAL position, where a key lives (`?key=`,
// `?product_id=`) and whether it exists there, every bad input → 400 in the API's error shape (also
// %00 and invalid UTF-8, handled by length), a Redis killed or a PostgreSQL paused shown as "down"
// within the service's deadlines, and the counters in /metrics. The cluster, Sentinel and replica
// views are tested beside their engines (cluster, sentinel and replica test files).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { waitFor } from '../lib/util.mjs';
import { assertDetail } from './lib/expect.mjs';

const EVENT_TYPES = ['switch_master', 'slots_moved', 'node_lost', 'node_back', 'replica_fallback_on', 'replica_fallback_off'];

let stack;

before(async () => {
  stack = await startStack({ env: { WORKERS: 2, PG_TIMEOUT_MS: 1000, REDIS_TIMEOUT_MS: 250 } });
});

after(async () => {
  await stack?.teardown();
});

const topology = async (query = '') => {
  const r = await stack.get(`/topology${query}`);
  return { code: r.status, body: r.body, text: r.text };
};

test('the single topology: one master with its key count, the primary with its WAL position, no replica', async () => {
  assert.equal((await stack.get('/products/7')).status, 200);
  await stack.waitForKeys('product:7');
  const { code, body } = await topology();
  assert.equal(code, 200);
  assert.equal(body.redis.mode, 'single');
  assert.equal(body.redis.master, `127.0.0.1:${stack.redisPort}`);
  assert.equal(body.redis.slots_covered, null);
  assert.equal(body.redis.sentinel, null);
  assert.equal(body.redis.nodes.length, 1);
  const [node] = body.redis.nodes;
  assert.equal(node.address, `127.0.0.1:${stack.redisPort}`);
  assert.equal(node.role, 'master');
  assert.equal(node.state, 'up');
  // keys is the node's own DBSIZE. Read again until the two agree: a batch of view analytics sent
  // between the two reads adds keys (analytics.test.mjs).
  await waitFor(async () => (await stack.get('/topology')).body.redis.nodes[0].keys === (await stack.redisCmd('DBSIZE')), {
    timeout: 10000,
    message: "keys equal to the node's own DBSIZE",
  });
  assert.equal(node.slots, null);
  assert.equal(node.slot_ranges, null);
  assert.equal(node.replica_of, null);
  assert.equal(node.circuit_breaker, 'closed');
  assert.equal(body.postgres.primary.address, `127.0.0.1:${stack.pgPort}`);
  assert.equal(body.postgres.primary.state, 'up');
  assert.match(body.postgres.primary.wal_lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.equal(body.postgres.replica, null);
  assert.equal(body.key, null);
  assert.deepEqual(Object.keys(body.events), EVENT_TYPES);
  for (const t of EVENT_TYPES) assert.equal(body.events[t], 0, t);
  assert.equal(typeof body.timestamp, 'number');
});

test('?key= and ?product_id= name the one master and say whether the key is there', async () => {
  await stack.waitForKeys('product:7');
  const byKey = await topology('?key=product:7');
  assert.equal(byKey.code, 200);
  assert.deepEqual(byKey.body.key, { key: 'product:7', slot: null, node: `127.0.0.1:${stack.redisPort}`, exists: true });
  const byId = await topology('?product_id=7');
  assert.deepEqual(byId.body.key, byKey.body.key);
  const companion = await topology(`?key=${encodeURIComponent('{product:7}:stale')}`);
  assert.equal(companion.body.key.exists, true, 'a list key exists too (WRONGTYPE is an answer)');
  const absent = await topology('?key=nothing-here');
  assert.equal(absent.body.key.exists, false);
  assert.equal(await stack.redisCmd('EXISTS', 'nothing-here'), 0, 'the check created nothing');
  // Decoded bytes are handled by length: %00 does not cut the key.
  const nul = await topology('?key=product:7%00x');
  assert.equal(nul.code, 200);
  assert.equal(nul.body.key.key, 'product:7\u0000x');
  assert.equal(nul.body.key.exists, false);
});

test('a product_id that is not a 32-bit integer → 422 as the other integer parameters', async () => {
  for (const [q, type] of [['abc', 'int_parsing'], ['1%00', 'int_parsing'], ['99999999999', 'less_than_equal'], ['', 'int_parsing']]) {
    const r = await stack.get(`/topology?product_id=${q}`);
    assert.equal(r.status, 422, `product_id=${q}: ${r.text}`);
    assert.equal(r.body.detail[0].type, type, q);
    assert.deepEqual(r.body.detail[0].loc, ['query', 'product_id']);
  }
});

test('bad input → 400 {"detail": ...}', async () => {
  for (const [q, why] of [
    ['?key=product:1&product_id=1', /not both/],
    ['?key=', /key/],
    [`?key=${'k'.repeat(1025)}`, /key/],
    ['?key=%FF%FE', /UTF-8/],
  ]) {
    const r = await stack.get(`/topology${q}`);
    assertDetail(r, 400);
    assert.match(r.body.detail, why, q);
  }
});

test('a dead Redis is a node "down", a paused PostgreSQL a primary "down": 200, never a hang', { timeout: 60000 }, async () => {
  await stack.killRedis('SIGKILL');
  try {
    const r = await topology('?product_id=3');
    assert.equal(r.code, 200);
    assert.equal(r.body.redis.nodes[0].state, 'down');
    assert.equal(r.body.redis.nodes[0].keys, null);
    assert.equal(r.body.key.exists, null, 'nobody could say');
    assert.equal(r.body.postgres.primary.state, 'up');
  } finally {
    await stack.startRedis();
  }
  await waitFor(async () => (await topology()).body.redis.nodes[0].state === 'up', { timeout: 15000, message: 'the node up again' });

  await stack.pausePostgres();
  try {
    const r = await topology();
    assert.equal(r.code, 200);
    assert.equal(r.body.postgres.primary.state, 'down');
    assert.equal(r.body.postgres.primary.wal_lsn, null);
    assert.equal(r.body.redis.nodes[0].state, 'up');
  } finally {
    stack.resumePostgres();
  }
  await waitFor(async () => (await topology()).body.postgres.primary.state === 'up', { timeout: 15000, message: 'the primary up again' });
});

test('/metrics counts topology events by type', async () => {
  const text = (await stack.get('/metrics')).text;
  for (const t of EVENT_TYPES) assert.match(text, new RegExp(`^cacheme_topology_events_total\\{type="${t}"\\} 0$`, 'm'), t);
});
