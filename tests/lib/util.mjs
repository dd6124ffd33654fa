// Small helpers shared by every node suite (integration, contract, e2e, deploy): bounded condition
// polling, connection outcomes, free ports, and requests through the global fetch.
//
// Every wait in the suites is a poll on an observable condition with an upper bound; nothing
// synchronises on a fixed sleep.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Poll `fn` until it returns a truthy value (and does not throw), then return that value.
 * Throws once `timeout` ms have passed, with the last error or the last value in the message, or at
 * once when `fn` throws an error marked { fatal: true }.
 */
export async function waitFor(fn, { timeout = 15000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  let lastValue;
  for (;;) {
    try {
      lastValue = await fn();
      if (lastValue) return lastValue;
      lastError = undefined;
    } catch (err) {
      if (err.fatal) throw err; // the condition can never become true (e.g. the process died)
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError ? `last error: ${lastError.message}` : `last value: ${JSON.stringify(lastValue)}`;
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (${detail})`);
    }
    await sleep(interval);
  }
}

/** Resolve with the error code of a connection attempt ('ECONNREFUSED', ...), or 'CONNECTED'. */
export function connectOutcome(port, host = '127.0.0.1', timeout = 2000) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (value) => {
      sock.destroy();
      resolve(value);
    };
    sock.setTimeout(timeout, () => done('TIMEOUT'));
    sock.once('connect', () => done('CONNECTED'));
    sock.once('error', (err) => done(err.code || String(err)));
  });
}

function canBind(port, host) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

const handedOut = new Set();

// Ports handed out are also reserved across processes for an hour by an atomic mkdir, the same
// scheme as `scripts/services.sh free-port`, since test files and other runs may ask concurrently.
function reserve(port) {
  const dir = path.join(process.env.TMPDIR || os.tmpdir(), `cacheme-ports-${process.getuid?.() ?? 0}`);
  fs.mkdirSync(dir, { recursive: true });
  const mark = path.join(dir, String(port));
  try {
    const st = fs.statSync(mark);
    if (Date.now() - st.mtimeMs > 3600 * 1000) fs.rmSync(mark, { recursive: true, force: true });
  } catch {
    /* no reservation */
  }
  try {
    fs.mkdirSync(mark);
    return true;
  } catch {
    return false;
  }
}

/**
 * A TCP port that is free right now on every address of `hosts` (default 127.0.0.1). Ports are
 * drawn at random below the kernel's ephemeral range (32768+), so outgoing connections cannot grab
 * them between this check and the bind.
 */
export async function freePort(hosts = ['127.0.0.1']) {
  for (let i = 0; i < 1000; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    let free = true;
    for (const host of hosts) free = free && (await canBind(port, host));
    if (free && reserve(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found');
}

/**
 * fetch() that returns status, headers, raw text, parsed JSON (when it parses) and elapsed ms.
 * `init` is fetch's, plus `timeout` (ms, default 30000) unless it brings its own signal; redirects
 * are followed unless it says redirect: 'manual'.
 */
export async function request(url, init = {}) {
  const started = performance.now();
  const res = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(init.timeout ?? 30000) });
  const text = await res.text();
  const ms = performance.now() - started;
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body, ms };
}


/**
 * A new private directory `cacheme-<prefix>-XXXXXX` under $TMPDIR, which the postgres OS user may
 * enter (PostgreSQL runs as that user when the tests run as root). The caller removes it.
 */
export function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), `cacheme-${prefix}-`));
  fs.chmodSync(dir, 0o711);
  return dir;
}
