// Helpers of the deploy tests: running commands with a bound, child processes that are always
// stopped (by PID, only the ones started here), free ports, bounded polling, and a private PostgreSQL
// and Redis through scripts/services.sh.
//
// Node built-ins only. Every wait is a poll on an observable condition with an upper bound.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const SERVICES_SH = path.join(REPO_ROOT, 'scripts', 'services.sh');

/** Absolute path of a file of the repository. */
export function repoPath(...parts) {
  return path.join(REPO_ROOT, ...parts);
}

/** The text of a file of the repository. */
export function readRepoFile(...parts) {
  return fs.readFileSync(repoPath(...parts), 'utf8');
}

/**
 * Run a command to completion (bounded by `timeout`) and return { code, stdout, stderr }; never
 * throws for a non-zero exit, so tests can assert on it.
 */
export function run(cmd, args, { cwd = REPO_ROOT, env = process.env, timeout = 120000, input } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { cwd, env, timeout, killSignal: 'SIGKILL', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number' && !err.killed) return reject(err);
      resolve({ code: err ? (err.killed ? 'timeout' : err.code) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

/** Like run(), but throws with the command's output unless it exits 0; returns stdout. */
export async function runOk(cmd, args, opts = {}) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one started here is stopped at the end, even when a test fails or the
// runner is interrupted.

const live = new Set();
function killAll() {
  for (const child of live) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  live.clear();
}
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + os.constants.signals[sig]);
  });
}

/**
 * Start a long-running process with its output appended to `logPath`. Returns the ChildProcess with
 * `exited` (a promise of { code, signal }) and `stop(signal, ms)`, which signals it and waits for
 * its exit, then SIGKILLs it after `ms`.
 */
export function startProcess(cmd, args, { cwd = REPO_ROOT, env = process.env, logPath, detached = false } = {}) {
  const fd = logPath ? fs.openSync(logPath, 'a') : 'ignore';
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', fd, fd], detached });
  if (typeof fd === 'number') fs.closeSync(fd);
  live.add(child);
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', (error) => {
      live.delete(child);
      resolve({ code: null, signal: null, error });
    });
  });
  child.stop = async (signal = 'SIGTERM', ms = 10000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exited;
    try {
      child.kill(signal);
    } catch {
      /* gone */
    }
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }, ms);
    const info = await child.exited;
    clearTimeout(timer);
    return info;
  };
  return child;
}

/** Poll `fn` until it returns something truthy; throw after `timeout` ms with the last error. */
export async function waitFor(fn, { timeout = 20000, interval = 100, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
      last = `last value: ${JSON.stringify(value)}`;
    } catch (err) {
      if (err.fatal) throw err;
      last = `last error: ${err.message}`;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeout} ms waiting for ${message} (${last})`);
    await sleep(interval);
  }
}

/** Outcome of a TCP connection attempt: 'CONNECTED' or the error code ('ECONNREFUSED', ...). */
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

// A port handed out is also reserved across processes for an hour (an atomic mkdir), the scheme of
// `scripts/services.sh free-port` and the other suites, since test files may run concurrently.
function reserve(port) {
  const dir = path.join(process.env.TMPDIR || os.tmpdir(), `cacheme-ports-${process.getuid?.() ?? 0}`);
  fs.mkdirSync(dir, { recursive: true });
  const mark = path.join(dir, String(port));
  try {
    if (Date.now() - fs.statSync(mark).mtimeMs > 3600 * 1000) fs.rmSync(mark, { recursive: true, force: true });
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
 * A TCP port free right now on every address of `hosts` (default 127.0.0.1), drawn below the
 * kernel's ephemeral range so that outgoing connections cannot take it in the meantime.
 */
export async function freePort(hosts = ['127.0.0.1']) {
  for (let i = 0; i < 1000; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(port)) continue;
    let ok = true;
    for (const host of hosts) ok = ok && (await canBind(port, host));
    if (ok && reserve(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found');
}

/** fetch() with a deadline, returning { status, headers, text, body (parsed JSON or undefined) }. */
export async function request(url, init = {}) {
  const res = await fetch(url, { redirect: 'manual', ...init, signal: AbortSignal.timeout(init.timeout ?? 10000) });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/**
 * A private directory for one test file, traversable by the postgres OS user (PostgreSQL runs as
 * that user when the tests run as root). Removed by the returned cleanup function.
 */
export function makeTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || os.tmpdir(), `cacheme-${prefix}-`));
  fs.chmodSync(dir, 0o711);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL and Redis, private to a test file.

/**
 * Start a PostgreSQL cluster (copied from $CACHEME_PG_TEMPLATE when set) and a Redis server in
 * `dir`, on free ports. Returns { pgPort, redisPort, databaseUrl, redisUrl, stop() }.
 */
export async function startDataServers(dir) {
  const pgPort = await freePort();
  const redisPort = await freePort();
  await runOk('bash', [SERVICES_SH, 'pg-init', path.join(dir, 'pg')], { timeout: 120000 });
  await runOk('bash', [SERVICES_SH, 'pg-start', path.join(dir, 'pg'), String(pgPort)], { timeout: 120000 });
  await runOk('bash', [SERVICES_SH, 'redis-start', path.join(dir, 'redis'), String(redisPort)], { timeout: 60000 });
  return {
    pgPort,
    redisPort,
    databaseUrl: `postgresql://cacheme@127.0.0.1:${pgPort}/cacheme`,
    redisUrl: `redis://127.0.0.1:${redisPort}/0`,
    async stop() {
      await run('bash', [SERVICES_SH, 'redis-stop', path.join(dir, 'redis')]);
      await run('bash', [SERVICES_SH, 'pg-stop', path.join(dir, 'pg'), 'immediate']);
    },
  };
}

/** Run psql against the private cluster as `cacheme`; returns stdout (tuples only, unaligned). */
export function psql(pgPort, args, opts = {}) {
  return runOk('psql', ['-X', '-q', '-t', '-A', '-h', '127.0.0.1', '-p', String(pgPort), '-U', 'cacheme', ...args], opts);
}
