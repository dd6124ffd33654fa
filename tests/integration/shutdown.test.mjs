// Graceful shutdown: on SIGTERM/SIGINT stop accepting, finish in-flight requests, close idle and
// half-sent connections, exit 0 within 5 s; afterwards the port refuses connections.
//
// "Accepted" is observed from outside: after the requests are written the test waits until the
// listening socket's accept queue (rx_queue of the LISTEN entry in /proc/net/tcp) is empty, so every
// connection has been accept()ed by cacheme before the signal is sent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startStack } from '../lib/stack.mjs';
import { openRawRequest, buildRequest } from '../lib/raw-http.mjs';
import { waitFor, connectOutcome } from '../lib/util.mjs';

const EXIT_BOUND_MS = 5000;

let stack;
let seed;

before(async () => {
  stack = await startStack();
  seed = await stack.dbProducts();
});

after(async () => {
  await stack?.teardown();
});

/** Connections waiting in the accept queue of whatever listens on 127.0.0.1:port (or any address). */
function acceptQueueLength(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let total = 0;
  let listeners = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5) continue;
      const [, local, , state, queues] = f;
      if (state !== '0A' || !local.endsWith(`:${hexPort}`)) continue;
      listeners++;
      total += parseInt(queues.split(':')[1], 16);
    }
  }
  return { total, listeners };
}

async function waitAllAccepted(port) {
  await waitFor(
    () => {
      const q = acceptQueueLength(port);
      return q.listeners > 0 && q.total === 0;
    },
    { timeout: 10000, interval: 1, message: `empty accept queue on port ${port}` },
  );
}

function checkResponse(res, id) {
  if (!res.complete) return `product ${id}: incomplete response`;
  if (res.status !== 200) return `product ${id}: status ${res.status} ${res.body.slice(0, 200)}`;
  if (!res.json || res.json.id !== id) return `product ${id}: wrong body ${res.body.slice(0, 200)}`;
  if (res.json.name !== seed[id - 1].name) return `product ${id}: wrong name ${res.json.name}`;
  if (res.headers['content-length'] !== undefined && Number(res.headers['content-length']) !== Buffer.byteLength(res.body)) {
    return `product ${id}: body length differs from Content-Length`;
  }
  return null;
}

async function assertExitAndRefused(svc, t0) {
  const info = await waitFor(() => svc.exitInfo, { timeout: 15000, interval: 10, message: 'cacheme exit' });
  const ms = performance.now() - t0;
  assert.equal(info.signal, null, `exited by signal ${info.signal}`);
  assert.equal(info.code, 0, 'exit code 0');
  assert.ok(ms < EXIT_BOUND_MS, `exited ${Math.round(ms)} ms after the signal (bound ${EXIT_BOUND_MS})`);
  assert.equal(await connectOutcome(svc.port), 'ECONNREFUSED', 'the port refuses connections afterwards');
}

test('SIGTERM on an idle service: exit 0 quickly, port closed', { timeout: 60000 }, async () => {
  const svc = await stack.startService();
  const r = await stack.get('/products/1');
  assert.equal(r.status, 200);
  const t0 = performance.now();
  svc.proc.kill('SIGTERM');
  svc.stopping = true;
  await assertExitAndRefused(svc, t0);
});

test('SIGINT behaves like SIGTERM', { timeout: 60000 }, async () => {
  const svc = await stack.startService();
  assert.equal((await stack.get('/health')).status, 200);
  const t0 = performance.now();
  svc.proc.kill('SIGINT');
  svc.stopping = true;
  await assertExitAndRefused(svc, t0);
});

test('SIGTERM right after 200 concurrent requests: every accepted request gets a complete 200', { timeout: 120000 }, async (t) => {
  const svc = await stack.startService();
  const N = 200;
  const reqs = Array.from({ length: N }, (_, i) => {
    const id = (i % 15) + 1;
    return { id, ...openRawRequest(svc.port, buildRequest('GET', `/products/${id}`), { timeout: 20000 }) };
  });
  for (const r of reqs) r.response.then(() => (r.doneAt = performance.now()), () => {}); // inspected below
  await Promise.all(reqs.map((r) => r.sent));
  await waitAllAccepted(svc.port);
  const t0 = performance.now();
  svc.proc.kill('SIGTERM');
  svc.stopping = true;

  const outcomes = await Promise.allSettled(reqs.map((r) => r.response));
  const problems = [];
  outcomes.forEach((o, i) => {
    if (o.status === 'rejected') problems.push(`product ${reqs[i].id}: ${o.reason.code ?? ''} ${o.reason.message}`);
    else {
      const p = checkResponse(o.value, reqs[i].id);
      if (p) problems.push(p);
    }
  });
  t.diagnostic(`${reqs.filter((r) => r.doneAt > t0).length} of ${N} responses completed after the signal`);
  assert.deepEqual(problems.slice(0, 10), [], `all ${N} accepted requests answered completely (${problems.length} problems)`);
  await assertExitAndRefused(svc, t0);
});

test('SIGTERM while 50 slow requests are in flight (Redis paused): all complete, exit 0', { timeout: 120000 }, async (t) => {
  await stack.redisCmd('FLUSHALL');
  // Every lookup waits for its Redis deadline (1 s) before going to PostgreSQL.
  const svc = await stack.startService({ env: { REDIS_TIMEOUT_MS: 1000 } });
  const N = 50;
  stack.pauseRedis();
  let outcomes;
  let t0;
  const reqs = Array.from({ length: N }, (_, i) => {
    const id = (i % 15) + 1;
    return { id, ...openRawRequest(svc.port, buildRequest('GET', `/products/${id}`), { timeout: 20000 }) };
  });
  for (const r of reqs) r.response.then(() => (r.doneAt = performance.now()), () => {});
  try {
    await Promise.all(reqs.map((r) => r.sent));
    await waitAllAccepted(svc.port);
    t0 = performance.now();
    svc.proc.kill('SIGTERM');
    svc.stopping = true;
    outcomes = await Promise.allSettled(reqs.map((r) => r.response));
  } finally {
    stack.resumeRedis();
  }
  const problems = [];
  let inFlight = 0;
  outcomes.forEach((o, i) => {
    if (o.status === 'rejected') problems.push(`product ${reqs[i].id}: ${o.reason.code ?? ''} ${o.reason.message}`);
    else {
      const p = checkResponse(o.value, reqs[i].id);
      if (p) problems.push(p);
      else if (o.value.json.source === 'database') inFlight++;
    }
  });
  t.diagnostic(`${reqs.filter((r) => r.doneAt > t0).length} of ${N} responses completed after the signal`);
  assert.deepEqual(problems.slice(0, 10), [], `all ${N} in-flight requests answered completely (${problems.length} problems)`);
  assert.equal(inFlight, N, 'all answered from the database after the Redis deadline');
  await assertExitAndRefused(svc, t0);
});

test('idle keep-alive and half-sent connections do not hold up the exit', { timeout: 60000 }, async () => {
  const svc = await stack.startService();
  // A keep-alive connection that has finished one request and now sits idle.
  const idle = net.connect({ port: svc.port, host: '127.0.0.1' });
  const idleClosed = new Promise((resolve) => idle.once('close', resolve));
  idle.on('error', () => {});
  let idleData = '';
  idle.on('data', (d) => (idleData += d));
  await new Promise((resolve) => idle.once('connect', resolve));
  idle.write('GET /products/1 HTTP/1.1\r\nHost: x\r\n\r\n');
  await waitFor(() => /\r\n\r\n[\s\S]*"id":\s*1/.test(idleData), { timeout: 10000, message: 'first keep-alive response' });

  // A connection that has sent only part of its request head.
  const partial = net.connect({ port: svc.port, host: '127.0.0.1' });
  const partialClosed = new Promise((resolve) => partial.once('close', resolve));
  partial.on('error', () => {});
  await new Promise((resolve) => partial.once('connect', resolve));
  partial.write('GET /products/2 HTTP/1.1\r\nHost: x\r\n');
  await waitAllAccepted(svc.port);

  const t0 = performance.now();
  svc.proc.kill('SIGTERM');
  svc.stopping = true;
  try {
    await assertExitAndRefused(svc, t0);
    await Promise.all([idleClosed, partialClosed]);
  } finally {
    idle.destroy();
    partial.destroy();
  }
});
