// GET /events shared by every instance through Redis Pub/Sub (EVENTS_FANOUT, cache/event_bus):
// three cacheme processes of two event loops each share one Redis and one PostgreSQL.
//   - a write through any instance reaches a dashboard on another as `event: write`, exactly once,
//     with the instance that took it, and so does a write through the dashboard's own instance;
//   - every instance's figures arrive once a second as `event: instance`, `local` only for the
//     instance answering the stream, and they are that instance's own counters;
//   - EVENTS_FANOUT=false: the instance neither publishes nor hears (its stream is its own);
//   - a message on the channel that is not an event is counted and dropped, the stream goes on;
//   - Redis down: writes are still answered and shown locally, the loss is counted
//     (publish_failed), /health says the subscription is connecting; Redis back: events flow again,
//     and what the others published meanwhile shows as missed (a gap in each publisher's numbers).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/stack.mjs';
import { eventData, openEvents } from '../lib/sse.mjs';
import { request, waitFor } from '../lib/util.mjs';
import { parseExposition, valueOf } from './lib/prometheus.mjs';

const ENV = { WORKERS: 2, L1_MAX_BYTES: 0, ANALYTICS: 'false' };
const JSON_HEADERS = { 'Content-Type': 'application/json' };

let stack;
let a, b, c;

before(async () => {
  stack = await startStack({ env: ENV });
  a = stack.service;
  b = await stack.startService({ env: ENV });
  c = await stack.startService({ env: ENV });
  for (const s of [a, b, c]) await waitSubscribed(s);
});

after(async () => {
  await stack?.teardown();
});

async function health(s) {
  return (await request(`${s.url}/health`)).body;
}

async function metric(s, name) {
  const r = await request(`${s.url}/metrics`);
  return valueOf(parseExposition(r.text), name);
}

/** Until every event loop of s is subscribed to the channel (the gauge counts loops). */
async function waitSubscribed(s, loops = ENV.WORKERS) {
  await waitFor(async () => (await metric(s, 'cacheme_events_subscribed_loops')) === loops, {
    timeout: 15000,
    message: `${s.url}: ${loops} loops subscribed to the events channel`,
  });
}

/** The X-Instance name of s (its INSTANCE_ID). */
async function instanceOf(s) {
  return (await request(`${s.url}/health`)).headers.get('x-instance');
}

function writesOf(stream, pred = () => true) {
  return stream.events.filter((e) => e.event === 'write').map(eventData).filter(pred);
}

async function patch(s, id, body) {
  const r = await request(`${s.url}/products/${id}`, { method: 'PATCH', headers: JSON_HEADERS, body: JSON.stringify(body) });
  assert.equal(r.status, 200, r.text);
  return r;
}

test('a write through any instance reaches the dashboard of another, once, with its instance', async () => {
  const [na, nb, nc] = await Promise.all([instanceOf(a), instanceOf(b), instanceOf(c)]);
  assert.equal(new Set([na, nb, nc]).size, 3, 'three distinct instance names');
  const stream = await openEvents(`${a.url}/events`);
  try {
    // Another stream on the same instance: the two loops of a each hold one (connections are spread
    // over the loops), so a write through one loop must reach the other loop's subscriber as well.
    const second = await openEvents(`${a.url}/events`);
    try {
      const viaB = await patch(b, 2, { price: 12.5 });
      assert.equal(viaB.headers.get('x-instance'), nb);
      const created = await request(`${c.url}/products`, {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ name: 'Fan-out lamp', description: 'made through c', price: 3.25, category: 'Home' }),
      });
      assert.equal(created.status, 201, created.text);
      const del = await request(`${a.url}/products/${created.body.id}`, { method: 'DELETE' });
      assert.equal(del.status, 204, del.text);

      const isB = (d) => d.instance === nb && d.id === 2 && d.op === 'update';
      const isC = (d) => d.instance === nc && d.id === created.body.id && d.op === 'create';
      const isA = (d) => d.instance === na && d.id === created.body.id && d.op === 'delete';
      for (const s of [stream, second]) {
        await s.next((e) => e.event === 'write' && isB(eventData(e)), 10000, "b's write");
        await s.next((e) => e.event === 'write' && isC(eventData(e)), 10000, "c's write");
        await s.next((e) => e.event === 'write' && isA(eventData(e)), 10000, "a's own write");
      }
      const [wb] = writesOf(stream, isB);
      assert.equal(wb.version, (await stack.dbProduct(2)).version, "the version b's write committed");
      assert.equal(wb.write_mode, 'invalidate');
      assert.equal(wb.cache_action, viaB.headers.get('x-cache-action'));
      assert.equal(typeof wb.timestamp, 'number');
      const [wc] = writesOf(stream, isC);
      assert.equal(wc.version, 1);

      // Exactly once: after a later marker write has arrived (Pub/Sub keeps one publisher's order),
      // each write above is still there once on each stream.
      await patch(b, 3, { price: 4.5 });
      const marker = (d) => d.instance === nb && d.id === 3;
      for (const s of [stream, second]) {
        await s.next((e) => e.event === 'write' && marker(eventData(e)), 10000, 'the marker write');
        assert.equal(writesOf(s, isB).length, 1, "b's write once");
        assert.equal(writesOf(s, isC).length, 1, "c's write once");
        assert.equal(writesOf(s, isA).length, 1, "a's own write once");
      }
    } finally {
      await second.close();
    }
  } finally {
    await stream.close();
  }
});

test('every instance\'s figures arrive once a second; local only for the one answering', async () => {
  const [na, nb, nc] = await Promise.all([instanceOf(a), instanceOf(b), instanceOf(c)]);
  // c's own lookups, so that its figures differ from the others'.
  for (let i = 0; i < 3; i++) assert.equal((await request(`${c.url}/products/5`)).status, 200);
  const statsC = (await request(`${c.url}/cache/stats`)).body.app_stats;
  const stream = await openEvents(`${a.url}/events`);
  try {
    const from = (n) => (e) => e.event === 'instance' && eventData(e).instance === n;
    const ea = eventData(await stream.next(from(na), 5000, "a's instance event"));
    const eb = eventData(await stream.next(from(nb), 5000, "b's instance event"));
    const ec = eventData(await stream.next(from(nc), 5000, "c's instance event"));
    assert.equal(ea.local, true);
    assert.equal(eb.local, false);
    assert.equal(ec.local, false);
    for (const e of [ea, eb, ec]) assert.equal(e.events_fanout, 'subscribed');
    // c's counters as c itself reports them (they only grow; no lookups through c meanwhile).
    assert.ok(ec.hits + ec.misses >= 3, JSON.stringify(ec));
    assert.equal(ec.hits, statsC.hits);
    assert.equal(ec.misses, statsC.misses);
    assert.equal(ec.writes, statsC.writes);
    // Once a second: two events of b arrive about a second apart (generous bounds: a hang, not speed).
    await waitFor(() => stream.events.filter(from(nb)).length >= 3, { timeout: 10000, message: "three of b's instance events" });
    const times = stream.events.filter(from(nb)).map((e) => eventData(e).timestamp);
    for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] > 0.5, `spaced a second apart: ${times}`);
    // The local stats event names its instance too.
    const stats = eventData(await stream.next((e) => e.event === 'stats', 5000, 'a stats event'));
    assert.equal(stats.instance, na);
  } finally {
    await stream.close();
  }
});

test('EVENTS_FANOUT=false: the instance neither publishes nor hears', async () => {
  const lone = await stack.startService({ env: { ...ENV, EVENTS_FANOUT: 'false' } });
  try {
    const nl = await instanceOf(lone);
    assert.equal((await health(lone)).components.redis.events_fanout, 'off');
    assert.equal(await metric(lone, 'cacheme_events_subscribed_loops'), 0);
    const onA = await openEvents(`${a.url}/events`);
    const onLone = await openEvents(`${lone.url}/events`);
    try {
      await patch(lone, 4, { price: 7.75 });
      await onLone.next((e) => e.event === 'write' && eventData(e).instance === nl, 5000, "lone's own write");
      await patch(b, 4, { price: 7.5 });
      // a hears b's write; by then it would have heard lone's too, had lone published it.
      await onA.next((e) => e.event === 'write' && eventData(e).id === 4 && eventData(e).instance !== nl, 10000, "b's write on a");
      assert.equal(writesOf(onA, (d) => d.instance === nl).length, 0, "lone's write not published");
      // lone hears nothing from the others: its stream's stats and instance events are its own.
      await onLone.next((e) => e.event === 'instance', 5000, "lone's instance event");
      await waitFor(() => onLone.events.filter((e) => e.event === 'stats').length >= 2, { timeout: 10000, message: 'two stats events on lone' });
      assert.equal(writesOf(onLone, (d) => d.instance !== nl).length, 0, "no other instance's write on lone");
      const inst = onLone.events.filter((e) => e.event === 'instance').map(eventData);
      assert.ok(inst.every((d) => d.instance === nl && d.local === true && d.events_fanout === 'off'), JSON.stringify(inst));
      assert.equal(await metric(lone, 'cacheme_events_published_total'), 0);
    } finally {
      await onA.close();
      await onLone.close();
    }
  } finally {
    await lone.signal('SIGTERM');
  }
});

test('a message on the channel that is not an event is counted and dropped', async () => {
  const before = await metric(a, 'cacheme_events_rejected_total');
  const stream = await openEvents(`${a.url}/events`);
  try {
    const bad = [
      'not json',
      '[1,2]',
      '{"instance":"x","origin":"y","type":"Write","data":{}}',
      '{"instance":"","origin":"y","type":"write","data":{}}',
      '{"instance":"x","origin":"y","seq":0,"type":"write","data":{}}',
    ];
    for (const m of bad) await stack.redisCmd('PUBLISH', 'cacheme:events', m);
    // Each of the two loops hears each message.
    await waitFor(async () => (await metric(a, 'cacheme_events_rejected_total')) - before === bad.length * ENV.WORKERS, {
      timeout: 10000,
      message: 'the bad messages counted by both loops',
    });
    // An event type this version does not know is not passed on either.
    await stack.redisCmd('PUBLISH', 'cacheme:events', JSON.stringify({ instance: 'future', origin: 'f.1', type: 'hologram', data: {} }));
    await patch(b, 6, { price: 1.5 });
    await stream.next((e) => e.event === 'write' && eventData(e).id === 6, 10000, 'a later write');
    assert.ok(!stream.events.some((e) => e.event === 'hologram'), 'unknown type not relayed');
    assert.equal(stream.ended, false);
  } finally {
    await stream.close();
  }
});

test('Redis down: writes still answered and shown locally, the loss counted; Redis back: events flow again', async () => {
  const na = await instanceOf(a);
  const nb = await instanceOf(b);
  const stream = await openEvents(`${a.url}/events`);
  try {
    await stack.killRedis();
    await waitFor(async () => (await health(a)).components.redis.events_fanout === 'connecting', {
      timeout: 10000,
      message: 'a sees its subscription lost',
    });
    const failed = await metric(a, 'cacheme_events_publish_failed_total');
    const missed = await metric(a, 'cacheme_events_missed_total');
    await patch(a, 7, { price: 8.25 });
    await patch(b, 7, { price: 8.5 }); // b's event is lost: a will see the gap in b's numbers
    // The dashboard of a still shows a's own write: it never depended on Redis.
    await stream.next((e) => e.event === 'write' && eventData(e).id === 7 && eventData(e).instance === na, 10000, "a's write while Redis is down");
    await waitFor(async () => (await metric(a, 'cacheme_events_publish_failed_total')) > failed, {
      timeout: 10000,
      message: 'the publish that could not be made is counted',
    });
    await stack.startRedis();
    for (const s of [a, b]) {
      await waitSubscribed(s);
      await waitFor(async () => (await health(s)).components.redis.status === 'healthy', { timeout: 15000, message: `${s.url}: Redis healthy again` });
    }
    await patch(b, 8, { price: 9.25 });
    await stream.next((e) => e.event === 'write' && eventData(e).id === 8 && eventData(e).instance === nb, 15000, "b's write after Redis came back");
    assert.equal((await health(a)).components.redis.events_fanout, 'subscribed');
    // What Pub/Sub lost is not silent: b's next messages carry numbers past the lost ones.
    await waitFor(async () => (await metric(a, 'cacheme_events_missed_total')) > missed, {
      timeout: 10000,
      message: "a counts b's events it never got",
    });
    assert.equal(writesOf(stream, (d) => d.id === 7 && d.instance === nb).length, 0, "b's write during the outage never reached a");
  } finally {
    await stream.close();
  }
});
