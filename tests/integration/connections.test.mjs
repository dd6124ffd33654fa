// HTTP connection behaviour at the socket level, as a client sees it: the request deadline
// (REQUEST_TIMEOUT_MS from accept, and from the first byte of each later request: trickled and
// silent connections are closed without an answer), the keep-alive idle timeout
// (IDLE_TIMEOUT_SECONDS between requests), half-closed clients, requests delivered a byte at a time, pipelining,
// `Expect: 100-continue`, HTTP/1.0 and `Connection` handling, the facts of a response head, the
// connection cap (MAX_CONNECTIONS: the rest wait in the kernel's accept queue), clients that vanish
// while their request is in flight, and a large response read slowly.
//
// Every test talks raw TCP to the real binary, so that the HTTP layer can be rebuilt without a change
// any client could notice. Waits are on socket events or observable conditions (/metrics gauges,
// /proc/net/tcp queues); time limits detect hangs, and the few timing bounds are generous.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { startStack } from '../lib/stack.mjs';
import { jsonOrUndefined } from '../lib/raw-http.mjs';
import { waitFor } from '../lib/util.mjs';
import { assertProductMatches } from './lib/expect.mjs';

const REQUEST_TIMEOUT_MS = 1500;
const ENV = { WORKERS: 1, REQUEST_TIMEOUT_MS, IDLE_TIMEOUT_SECONDS: 30 };
const CAP = 3;
const CAP_ENV = { WORKERS: 1, MAX_CONNECTIONS: CAP };
// A deadline-closed connection must be gone well within this (a hang detector, not a measurement).
const CLOSE_BOUND_MS = 10000;
const MISSING_ID = 999999;

let stack; // WORKERS=1, REQUEST_TIMEOUT_MS=1500
let capStack; // WORKERS=1, MAX_CONNECTIONS=3
let seed; // the products as PostgreSQL has them

before(async () => {
  [stack, capStack] = await Promise.all([startStack({ env: ENV }), startStack({ env: CAP_ENV })]);
  seed = await stack.dbProducts();
  assert.ok(seed.length >= 12, `the seed has products 1..12 (${seed.length})`);
  assert.ok(!seed.some((p) => p.id === MISSING_ID), `product ${MISSING_ID} does not exist`);
});

after(async () => {
  await Promise.all([stack?.teardown(), capStack?.teardown()]);
});

// ---------------------------------------------------------------------------------------------
// A raw connection that keeps everything it receives and parses responses from it one by one.

const req = (method, path, headers = {}, body = '') => {
  const all = { Host: '127.0.0.1', ...headers };
  if (body !== '' && all['Content-Length'] === undefined) all['Content-Length'] = Buffer.byteLength(body);
  let out = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(all)) if (v !== null) out += `${k}: ${v}\r\n`;
  return `${out}\r\n${body}`;
};
const GET = (path, headers) => req('GET', path, headers);

class RawConn {
  /** Connect to 127.0.0.1:port; resolves once connected. */
  static async open(port) {
    const c = new RawConn(port);
    await c.connected;
    return c;
  }

  constructor(port) {
    this.buf = Buffer.alloc(0); // received and not yet parsed
    this.received = 0; // bytes received in all
    this.ended = false; // the server sent FIN
    this.closed = false;
    this.error = undefined; // socket error (ECONNRESET, EPIPE...), if any
    this.waiters = new Set();
    this.sock = net.connect({ port, host: '127.0.0.1' });
    this.connected = new Promise((resolve, reject) => {
      this.sock.once('connect', () => {
        this.connectedAt = performance.now();
        resolve();
      });
      this.sock.once('error', reject);
    });
    this.connected.catch(() => {});
    this.sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.received += d.length;
      this.wake();
    });
    this.sock.on('end', () => {
      this.ended = true;
      this.wake();
    });
    this.sock.on('error', (err) => {
      this.error = err;
      this.wake();
    });
    this.whenClosed = new Promise((resolve) => {
      this.sock.once('close', () => {
        this.closed = true;
        this.closedAt = performance.now();
        this.wake();
        resolve();
      });
    });
  }

  wake() {
    for (const w of this.waiters) w();
  }

  /** Resolve once pred() holds (checked on every socket event); reject after `timeout` ms. */
  until(pred, { timeout = 10000, what = 'condition' } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let v;
        try {
          v = pred();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (v) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; received so far: ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`));
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Write and resolve once the data has been handed to the kernel. */
  write(data) {
    return new Promise((resolve, reject) => this.sock.write(data, (err) => (err ? reject(err) : resolve())));
  }

  /** Close our side for writing (FIN), keep reading. */
  end(data) {
    return new Promise((resolve) => this.sock.end(data, resolve));
  }

  destroy() {
    this.sock.destroy();
  }

  /**
   * Parse one response off the front of the buffer: undefined while incomplete. A response with
   * neither Content-Length nor chunked encoding is framed by the close of the connection.
   */
  parseOne(method) {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const lines = this.buf.toString('latin1', 0, end).split('\r\n');
    const statusLine = lines[0];
    const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
    const fields = lines.slice(1).map((line) => {
      const i = line.indexOf(':');
      if (i <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
      return [line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()];
    });
    const all = (name) => fields.filter(([k]) => k === name).map(([, v]) => v);
    const header = (name) => all(name)[0];
    const status = Number(m[2]);
    const rest = this.buf.subarray(end + 4);
    let body;
    let used;
    if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
      used = 0;
    } else if (/chunked/i.test(header('transfer-encoding') ?? '')) {
      throw new Error('chunked responses are not expected here');
    } else if (header('content-length') !== undefined) {
      const len = Number(header('content-length'));
      if (rest.length < len) return undefined;
      body = rest.subarray(0, len);
      used = len;
    } else if (this.closed || this.ended) {
      body = rest;
      used = rest.length;
    } else {
      return undefined;
    }
    this.buf = rest.subarray(used);
    const text = body.toString('utf8');
    return { statusLine, version: m[1], status, fields, all, header, body, text, json: jsonOrUndefined(text) };
  }

  /** The next response (an interim 1xx counts as one); rejects if the connection ends first. */
  async response({ method = 'GET', timeout = 10000 } = {}) {
    let res;
    await this.until(
      () => {
        res = this.parseOne(method);
        if (res) return true;
        if (this.closed || this.ended) throw new Error(`connection closed before a complete response; received: ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
        return false;
      },
      { timeout, what: 'a response' },
    );
    return res;
  }

  /** Resolve once the server has closed the connection (FIN or reset); reject after `timeout`. */
  async serverClosed(timeout = CLOSE_BOUND_MS) {
    await this.until(() => this.ended || this.closed, { timeout, what: 'the server to close the connection' });
  }
}

/** One request on a fresh connection with Connection: close; the response. */
async function fetchRaw(port, path) {
  const c = await RawConn.open(port);
  try {
    await c.write(GET(path, { Connection: 'close' }));
    return await c.response();
  } finally {
    c.destroy();
  }
}

async function assertHealthy(port) {
  const r = await fetchRaw(port, '/health');
  assert.equal(r.status, 200, `/health: ${r.text}`);
  assert.equal(r.json?.status, 'healthy', `/health: ${r.text}`);
}

/** A gauge of /metrics (cacheme_http_requests_in_flight, cacheme_sse_clients). */
async function gauge(port, name) {
  const r = await fetchRaw(port, '/metrics');
  assert.equal(r.status, 200);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

function seedOf(id) {
  const p = seed.find((x) => x.id === id);
  assert.ok(p, `product ${id} is in the seed`);
  return p;
}

function assertProduct(res, id, what) {
  assert.equal(res.status, 200, `${what}: ${res.statusLine} ${res.text.slice(0, 200)}`);
  assert.ok(res.json, `${what}: JSON body`);
  assertProductMatches(res.json, seedOf(id));
}

function assertMissing(res, what) {
  assert.equal(res.status, 404, `${what}: ${res.statusLine} ${res.text.slice(0, 200)}`);
  // A repeated miss is answered from the negative cache, which adds "source": "cache".
  assert.equal(res.json?.detail, 'Product not found', what);
}

// ---------------------------------------------------------------------------------------------
// The request deadline.

test('slowloris: a request head trickled a byte every 200 ms is cut off after REQUEST_TIMEOUT_MS, without an answer', async () => {
  const c = await RawConn.open(stack.port);
  let trickled = 0;
  let stopped = false;
  try {
    await c.write('GET /products/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    // The trickle is the stimulus, not a synchronisation: it runs until the server closes.
    const trickle = (async () => {
      while (!stopped && !c.ended && !c.closed) {
        await delay(200);
        if (stopped || c.ended || c.closed) break;
        try {
          await c.write('a');
          trickled++;
        } catch {
          break; // the server closed while we wrote (EPIPE / reset)
        }
      }
    })();
    await c.serverClosed();
    const ms = performance.now() - c.connectedAt;
    stopped = true;
    await trickle;
    assert.ok(ms >= REQUEST_TIMEOUT_MS - 500, `closed ${Math.round(ms)} ms after connect: not before the deadline (${REQUEST_TIMEOUT_MS} ms)`);
    assert.ok(ms <= CLOSE_BOUND_MS, `closed ${Math.round(ms)} ms after connect (bound ${CLOSE_BOUND_MS})`);
    // Bytes kept coming until the end: the deadline counts from the start, not from the last byte.
    assert.ok(trickled >= 3, `the trickle was still going when the server closed (${trickled} bytes sent)`);
    assert.equal(c.received, 0, `no answer is sent, the connection is just closed: ${JSON.stringify(c.buf.toString('latin1'))}`);
  } finally {
    stopped = true;
    c.destroy();
  }
  await assertHealthy(stack.port);
});

test('a connection that sends nothing is closed after REQUEST_TIMEOUT_MS from accept, without an answer', async () => {
  const c = await RawConn.open(stack.port);
  try {
    await c.serverClosed();
    const ms = performance.now() - c.connectedAt;
    assert.ok(ms >= REQUEST_TIMEOUT_MS - 500, `closed ${Math.round(ms)} ms after connect: not before the deadline (${REQUEST_TIMEOUT_MS} ms)`);
    assert.ok(ms <= CLOSE_BOUND_MS, `closed ${Math.round(ms)} ms after connect (bound ${CLOSE_BOUND_MS})`);
    assert.equal(c.received, 0, 'nothing is sent before the close');
    assert.equal(c.error, undefined, `closed cleanly (FIN), not reset: ${c.error?.code}`);
  } finally {
    c.destroy();
  }
});

test('the deadline starts again after each response on a kept-alive connection', async () => {
  const c = await RawConn.open(stack.port);
  try {
    // The pauses are the scenario: 900 ms before each request, so that the second request comes
    // 1.8 s after accept, past a deadline that would count from accept (1.5 s), but well within
    // one that restarts when the first response has been sent.
    await delay(900);
    await c.write(GET('/products/1'));
    assertProduct(await c.response(), 1, 'first request, 900 ms after accept');
    await delay(900);
    assert.ok(!c.ended && !c.closed, 'the connection is still open 1.8 s after accept');
    await c.write(GET('/products/2'));
    assertProduct(await c.response(), 2, 'second request, 900 ms after the first response');
    // And one sent right away after a response.
    await c.write(GET('/products/3'));
    assertProduct(await c.response(), 3, 'third request, right after the second response');
    assert.ok(!c.ended && !c.closed, 'the connection stays open after the responses');
  } finally {
    c.destroy();
  }
});

test('a kept-alive connection may idle past REQUEST_TIMEOUT_MS between requests (IDLE_TIMEOUT_SECONDS applies)', async () => {
  const c = await RawConn.open(stack.port);
  try {
    await c.write(GET('/products/1'));
    assertProduct(await c.response(), 1, 'first request');
    // The pause is the scenario: longer than the request deadline, shorter than the idle timeout.
    await delay(REQUEST_TIMEOUT_MS + 1000);
    assert.ok(!c.ended && !c.closed, 'the idle connection is still open');
    await c.write(GET('/products/2'));
    assertProduct(await c.response(), 2, 'a request after the idle pause');
  } finally {
    c.destroy();
  }
});

test('an idle kept-alive connection is closed after IDLE_TIMEOUT_SECONDS, without an answer', async () => {
  const idleStack = await startStack({ env: { WORKERS: 1, IDLE_TIMEOUT_SECONDS: 1, REQUEST_TIMEOUT_MS: 8000 } });
  try {
    const c = await RawConn.open(idleStack.port);
    try {
      await c.write(GET('/products/1'));
      const res = await c.response();
      assert.equal(res.status, 200, `the request before the idle wait: ${res.statusLine}`);
      assert.equal(res.json?.id, 1);
      const answered = performance.now();
      const before = c.received;
      await c.serverClosed();
      const ms = performance.now() - answered;
      assert.ok(ms >= 500, `closed ${Math.round(ms)} ms after the answer: not before the idle timeout (1 s)`);
      assert.ok(ms < 8000, `closed ${Math.round(ms)} ms after the answer: by the idle timeout, not the request deadline (8 s)`);
      assert.equal(c.received, before, 'nothing is sent before the close');
    } finally {
      c.destroy();
    }
  } finally {
    await idleStack.teardown();
  }
});

// ---------------------------------------------------------------------------------------------
// How requests arrive.

test('half-close: a complete request followed by FIN still gets its whole response, then the server closes', async () => {
  // Cache hits (answered after a Redis round trip), database misses and a 404: the answer is
  // written after the FIN has arrived in each case.
  for (const id of [1, 1, 4, 5, MISSING_ID]) {
    const c = await RawConn.open(stack.port);
    try {
      await c.end(GET(`/products/${id}`));
      const res = await c.response();
      if (id === MISSING_ID) assertMissing(res, `half-closed GET /products/${id}`);
      else assertProduct(res, id, `half-closed GET /products/${id}`);
      assert.equal(Number(res.header('content-length')), res.body.length, 'the whole body as announced');
      await c.serverClosed();
      assert.equal(c.buf.length, 0, `nothing after the response: ${JSON.stringify(c.buf.toString('latin1'))}`);
    } finally {
      c.destroy();
    }
  }
});

test('a request delivered one byte per write is answered', async () => {
  const c = await RawConn.open(stack.port);
  c.sock.setNoDelay(true); // each write its own segment
  try {
    const bytes = Buffer.from(GET('/products/6', { 'X-Request-Id': 'byte-by-byte' }), 'latin1');
    for (const b of bytes) {
      await c.write(Buffer.from([b]));
      await delay(1); // and apart in time, so that the server reads them one by one
    }
    const res = await c.response();
    assertProduct(res, 6, 'byte-at-a-time GET');
    assert.equal(res.header('x-request-id'), 'byte-by-byte', 'the header that came a byte at a time is read whole');
  } finally {
    c.destroy();
  }
});

test('100 pipelined GETs in one write: 100 responses, in request order', async () => {
  const ids = [];
  for (let i = 0; i < 100; i++) ids.push(i % 13 === 7 ? MISSING_ID : (i % 10) + 1);
  const c = await RawConn.open(stack.port);
  try {
    await c.write(ids.map((id, i) => GET(`/products/${id}`, { 'X-Request-Id': `pipe-${i}` })).join(''));
    for (let i = 0; i < ids.length; i++) {
      const res = await c.response();
      const what = `pipelined response ${i} (GET /products/${ids[i]})`;
      assert.equal(res.header('x-request-id'), `pipe-${i}`, `${what}: answers the ${i}th request`);
      if (ids[i] === MISSING_ID) assertMissing(res, what);
      else assertProduct(res, ids[i], what);
    }
    // Exactly 100: the next answer on the connection is that of the next request.
    await c.write(GET('/products/1', { 'X-Request-Id': 'after-pipeline' }));
    const next = await c.response();
    assert.equal(next.header('x-request-id'), 'after-pipeline', 'exactly 100 responses to the pipeline');
    assertProduct(next, 1, 'the request after the pipeline');
  } finally {
    c.destroy();
  }
});

test('pipelining with a POST body in the middle: answers in request order', async () => {
  const body = JSON.stringify({ name: 'Pipelined', description: 'posted between GETs', price: 12.5, category: 'Test' });
  const c = await RawConn.open(stack.port);
  try {
    await c.write(
      GET('/products/1') +
        req('POST', '/products', { 'Content-Type': 'application/json' }, body) +
        GET('/products/2') +
        GET(`/products/${MISSING_ID}`),
    );
    assertProduct(await c.response(), 1, 'GET before the POST');
    const created = await c.response();
    assert.equal(created.status, 201, `POST: ${created.text}`);
    assert.equal(created.json.name, 'Pipelined');
    assert.equal(created.header('location'), `/products/${created.json.id}`);
    assertProduct(await c.response(), 2, 'GET after the POST');
    assertMissing(await c.response(), 'the last GET');
    await c.write(GET('/products/3', { 'X-Request-Id': 'after-pipeline' }));
    const next = await c.response();
    assert.equal(next.header('x-request-id'), 'after-pipeline', 'exactly four responses to the pipeline');
    assertProduct(next, 3, 'the request after the pipeline');
    assert.deepEqual(await stack.dbProduct(created.json.id).then((p) => p?.name), 'Pipelined', 'the POST was committed');
  } finally {
    c.destroy();
  }
});

test('a request pipelined behind one answered later (a lab scenario) runs after that answer\'s handler has finished', async () => {
  // Each scenario holds the lab until its handler is done; the second one, pipelined behind the
  // first, must find it free: its answer is 200, not 409 "Another scenario is running".
  const c = await RawConn.open(stack.port);
  try {
    const run = req('POST', '/lab/scenarios/rate-limit-boundary', { 'Content-Type': 'application/json' }, '{}');
    await c.write(run + run);
    for (const which of ['first', 'second']) {
      const res = await c.response();
      assert.equal(res.status, 200, `${which} scenario: ${res.statusLine} ${res.text.slice(0, 200)}`);
      assert.equal(res.json.scenario, 'rate-limit-boundary');
    }
  } finally {
    c.destroy();
  }
});

test('Expect: 100-continue: an interim 100 Continue before the body is sent, then the final 201', async () => {
  const body = JSON.stringify({ name: 'Continued', price: 3 });
  const c = await RawConn.open(stack.port);
  try {
    await c.write(
      `POST /products HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    const interim = await c.response({ method: 'POST' });
    assert.equal(interim.statusLine, 'HTTP/1.1 100 Continue');
    assert.deepEqual(interim.fields, [], 'the interim answer has no header fields');
    assert.equal(c.buf.length, 0, 'nothing else before the body is sent');
    await c.write(body);
    const res = await c.response({ method: 'POST' });
    assert.equal(res.statusLine, 'HTTP/1.1 201 Created', res.text);
    assert.equal(res.json.name, 'Continued');
    assert.equal(res.header('location'), `/products/${res.json.id}`);
  } finally {
    c.destroy();
  }
});

// ---------------------------------------------------------------------------------------------
// Versions and the Connection header.

test('HTTP/1.0 without Connection: answered, then the server closes the connection', async () => {
  const c = await RawConn.open(stack.port);
  try {
    await c.write('GET /products/1 HTTP/1.0\r\n\r\n');
    await c.serverClosed();
    const res = await c.response();
    assert.match(res.statusLine, /^HTTP\/1\.[01] 200 /, res.statusLine);
    assertProduct(res, 1, 'HTTP/1.0 GET');
    assert.equal(c.buf.length, 0, 'one response');
  } finally {
    c.destroy();
  }
});

test('HTTP/1.0 with Connection: keep-alive: the answer says keep-alive and the connection serves another request', async () => {
  const c = await RawConn.open(stack.port);
  try {
    await c.write('GET /products/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const first = await c.response();
    assert.match(first.statusLine, /^HTTP\/1\.[01] 200 /);
    assert.match(first.header('connection') ?? '', /^keep-alive$/i, 'Connection: keep-alive');
    assertProduct(first, 1, 'first HTTP/1.0 keep-alive GET');
    assert.ok(first.header('content-length') !== undefined, 'a kept-alive answer is framed by Content-Length');
    await c.write('GET /products/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const second = await c.response();
    assertProduct(second, 2, 'second HTTP/1.0 keep-alive GET');
    assert.match(second.header('connection') ?? '', /^keep-alive$/i);
  } finally {
    c.destroy();
  }
});

test('HTTP/1.1 with Connection: close: the answer says close and the server closes the socket', async () => {
  const c = await RawConn.open(stack.port);
  try {
    await c.write(GET('/products/1', { Connection: 'close' }) + GET('/products/2'));
    const res = await c.response();
    assertProduct(res, 1, 'GET with Connection: close');
    assert.match(res.header('connection') ?? '', /^close$/i, 'Connection: close');
    await c.serverClosed();
    assert.equal(c.buf.length, 0, `nothing is read after the Connection: close request: ${JSON.stringify(c.buf.toString('latin1').slice(0, 200))}`);
  } finally {
    c.destroy();
  }
});

test('the head of a 200: status line, one exact Content-Length, Date, Content-Type, X-Request-Id, X-Instance', async () => {
  const c = await RawConn.open(stack.port);
  try {
    await c.write(GET('/products/1', { Connection: 'close' }));
    // Read to the close, so that the body is every byte after the head, whatever Content-Length says.
    await c.serverClosed();
    const raw = c.buf;
    const end = raw.indexOf('\r\n\r\n');
    assert.ok(end > 0, 'a complete head');
    const res = c.parseOne('GET');
    const body = raw.subarray(end + 4);
    assert.equal(res.statusLine, 'HTTP/1.1 200 OK');
    assert.deepEqual(res.all('content-length'), [String(body.length)], 'exactly one Content-Length, the body\'s length in bytes');
    assertProductMatches(JSON.parse(body.toString('utf8')), seedOf(1));
    assert.equal(res.all('date').length, 1, 'one Date');
    assert.match(res.header('date'), /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/, 'Date in IMF-fixdate');
    assert.deepEqual(res.all('content-type'), ['application/json']);
    assert.equal(res.all('x-request-id').length, 1, 'one X-Request-Id');
    assert.match(res.header('x-request-id'), /^[A-Za-z0-9._-]{1,128}$/);
    assert.equal(res.all('x-instance').length, 1, 'one X-Instance');
    assert.ok(res.header('x-instance').length > 0, 'X-Instance names the process');
  } finally {
    c.destroy();
  }
});

test('X-Request-Id: a valid one is echoed, an invalid one replaced by a generated one', async () => {
  const c = await RawConn.open(stack.port);
  try {
    await c.write(GET('/products/1', { 'X-Request-Id': 'abc-123.x_Y' }));
    assert.equal((await c.response()).header('x-request-id'), 'abc-123.x_Y');
    for (const bad of ['abc 123', 'x'.repeat(200), 'semi;colon']) {
      await c.write(GET('/products/1', { 'X-Request-Id': bad }));
      const res = await c.response();
      assert.equal(res.status, 200);
      const id = res.header('x-request-id');
      assert.notEqual(id, bad, `${bad.slice(0, 20)}: not echoed`);
      assert.match(id ?? '', /^[A-Za-z0-9._-]{1,128}$/, `${bad.slice(0, 20)}: replaced by a generated id`);
    }
  } finally {
    c.destroy();
  }
});

// ---------------------------------------------------------------------------------------------
// The connection cap.

/** Connections waiting in the accept queue of the listening socket on 127.0.0.1:port. */
function acceptQueue(port) {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let total = 0;
  let listeners = 0;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[3] !== '0A' || !f[1].endsWith(`:${hexPort}`)) continue;
    listeners++;
    total += parseInt(f[4].split(':')[1], 16);
  }
  assert.equal(listeners, 1, `one listening socket on port ${port}`);
  return total;
}

test('MAX_CONNECTIONS=3: a 4th connection waits in the accept queue, and is served once one of the three closes', async () => {
  const port = capStack.port;
  const open = [];
  try {
    for (let i = 0; i < CAP; i++) open.push(await RawConn.open(port));
    // Each is answered (a kept-alive connection left by the harness's start-up check, if any, is
    // closed by its client within seconds, so this is bounded).
    for (const [i, c] of open.entries()) {
      await c.write(GET(`/products/${i + 1}`));
      assertProduct(await c.response({ timeout: 15000 }), i + 1, `connection ${i + 1}`);
    }
    await waitFor(() => acceptQueue(port) === 0, { timeout: 5000, interval: 10, message: 'empty accept queue' });

    const fourth = await RawConn.open(port); // the kernel completes the handshake
    await fourth.write(GET('/products/4'));
    await waitFor(() => acceptQueue(port) === 1, { timeout: 5000, interval: 10, message: 'the 4th connection in the accept queue' });
    // The one short negative wait: nothing is answered while the three stay open.
    await delay(500);
    assert.ok(fourth.received === 0 && !fourth.ended && !fourth.closed, `the 4th connection is not served while ${CAP} are open: ${JSON.stringify(fourth.buf.toString('latin1').slice(0, 200))}`);
    assert.equal(acceptQueue(port), 1, 'still not accepted');
    // The three still work.
    await open[1].write(GET('/products/2'));
    assertProduct(await open[1].response(), 2, 'an open connection at the cap');

    open[0].destroy();
    const res = await fourth.response({ timeout: 10000 });
    assertProduct(res, 4, 'the 4th connection, after one closed');
    assert.equal(acceptQueue(port), 0, 'accepted');
    open.push(fourth);
  } finally {
    for (const c of open) c.destroy();
  }
});

// ---------------------------------------------------------------------------------------------
// Clients that go away.

test('a client that disconnects while its request waits on PostgreSQL does no harm', async () => {
  const baseline = await gauge(stack.port, 'cacheme_http_requests_in_flight');
  // An id no other test reads (they use 1..10): a cache miss that goes to PostgreSQL, which is paused.
  const id = 12;
  assert.equal(await stack.redisCmd('EXISTS', `product:${id}`), 0, `product ${id} is not cached`);
  await stack.pausePostgres();
  let c;
  try {
    c = await RawConn.open(stack.port);
    await c.write(GET(`/products/${id}`));
    await waitFor(async () => (await gauge(stack.port, 'cacheme_http_requests_in_flight')) === baseline + 1, {
      timeout: 5000,
      interval: 20,
      message: 'the request in flight',
    });
    c.destroy();
    await c.whenClosed;
    // The request ends by its PostgreSQL deadline with nobody to answer; the count comes back.
    await waitFor(async () => (await gauge(stack.port, 'cacheme_http_requests_in_flight')) === baseline, {
      timeout: 15000,
      interval: 50,
      message: 'in-flight requests back to their previous count',
    });
  } finally {
    c?.destroy();
    stack.resumePostgres();
  }
  await assertHealthy(stack.port);
  await waitFor(async () => (await fetchRaw(stack.port, `/products/${id}`)).status === 200, {
    timeout: 15000,
    message: `GET /products/${id} answered 200 again`,
  });
});

test('a client that drops an event stream does no harm, and the stream count comes back', async () => {
  const baseline = await gauge(stack.port, 'cacheme_sse_clients');
  const c = await RawConn.open(stack.port);
  try {
    await c.write(GET('/events', { Accept: 'text/event-stream' }));
    await c.until(() => c.buf.indexOf('\r\n\r\n') >= 0, { what: 'the stream\'s head' });
    assert.match(c.buf.toString('latin1'), /^HTTP\/1\.1 200 /);
    assert.match(c.buf.toString('latin1'), /\r\ncontent-type: text\/event-stream/i);
    await waitFor(async () => (await gauge(stack.port, 'cacheme_sse_clients')) === baseline + 1, { timeout: 5000, message: 'the stream counted' });
  } finally {
    c.destroy();
  }
  await waitFor(async () => (await gauge(stack.port, 'cacheme_sse_clients')) === baseline, { timeout: 10000, message: 'the stream count back' });
  await assertHealthy(stack.port);
});

// ---------------------------------------------------------------------------------------------
// Slow readers.

/** { tx, rx } queues of the TCP connection from 127.0.0.1:local to 127.0.0.1:remote. */
function tcpQueues(local, remote) {
  const hex = (p) => `:${p.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !f[1].endsWith(hex(local)) || !f[2].endsWith(hex(remote))) continue;
    const [tx, rx] = f[4].split(':').map((x) => parseInt(x, 16));
    return { tx, rx };
  }
  return undefined;
}

test('responses larger than the socket buffers, read slowly, arrive complete', async (t) => {
  // Copies of the OpenAPI document (about 0.5 MB each) pipelined on one connection, more in all than
  // the kernel can hold for both ends: the server's send buffer grows at most to the maximum of
  // net.ipv4.tcp_wmem, and the receive buffer of a reader that reads nothing stays at its initial
  // size (tcp_rmem's default). So the server has to wait until the reader drains them.
  const sysctl = (name) => fs.readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/).map(Number);
  const kernelHolds = sysctl('tcp_wmem')[2] + sysctl('tcp_rmem')[1];
  const head = await RawConn.open(stack.port);
  let length;
  try {
    await head.write(req('HEAD', '/openapi.json'));
    length = Number((await head.response({ method: 'HEAD' })).header('content-length'));
  } finally {
    head.destroy();
  }
  assert.ok(length > 100000, `/openapi.json is large (${length} bytes)`);
  const copies = Math.ceil(kernelHolds / length) + 1;
  const c = await RawConn.open(stack.port);
  try {
    c.sock.pause();
    await c.write(GET('/openapi.json').repeat(copies));
    const local = c.sock.localPort;
    // Wait until the bytes in the kernel (our receive queue plus the server's send queue) stop
    // growing below what the answers hold: the rest is still in the server, waiting for room.
    let last = -1;
    let steady = 0;
    await waitFor(
      () => {
        const mine = tcpQueues(local, stack.port);
        const theirs = tcpQueues(stack.port, local);
        if (!mine || !theirs) return false;
        const queued = mine.rx + theirs.tx;
        steady = queued > 0 && queued === last ? steady + 1 : 0;
        last = queued;
        return steady >= 3 && queued < copies * length;
      },
      { timeout: 10000, interval: 20, message: 'the server waiting for the slow reader' },
    );
    assert.equal(c.received, 0, 'nothing read while paused');
    t.diagnostic(`${last} of ${copies * length} body bytes in the kernel's queues while paused`);
    c.sock.resume();
    const bodies = [];
    for (let i = 0; i < copies; i++) {
      const res = await c.response({ timeout: 20000 });
      assert.equal(res.status, 200, `copy ${i + 1}`);
      assert.equal(Number(res.header('content-length')), length, `copy ${i + 1}: Content-Length`);
      assert.equal(res.body.length, length, `copy ${i + 1}: the whole body`);
      assert.equal(typeof res.json?.openapi, 'string', `copy ${i + 1}: the OpenAPI document parses`);
      bodies.push(res.body);
    }
    assert.ok(bodies.every((b) => b.equals(bodies[0])), 'the copies are identical');
    assert.equal(c.buf.length, 0, 'nothing more');
  } finally {
    c.destroy();
  }
  await assertHealthy(stack.port);
});
