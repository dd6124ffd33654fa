// Child processes of the suites: commands run to completion with a bound, and long-running servers
// that are always stopped, by PID and only the ones started here, even when a test fails or the
// runner is interrupted.

import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { REPO_ROOT } from './repo.mjs';

// ---------------------------------------------------------------------------------------------
// Emergency cleanup: if the test process exits without its teardown having run, still stop every
// process registered here and run the registered clean-ups (e.g. removing temporary directories).

const live = new Map(); // pid -> signal to send on emergency exit
const cleanups = new Set();

function emergencyCleanup() {
  for (const [pid, sig] of live) {
    try {
      process.kill(pid, 'SIGCONT'); // a stopped process would not act on the signal
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
  live.clear();
  for (const fn of cleanups) fn();
  cleanups.clear();
}
process.once('exit', emergencyCleanup);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    emergencyCleanup();
    process.exit(128 + os.constants.signals[sig]);
  });
}

/** Send `signal` to `pid` if the test process exits before untrackPid(pid). */
export function trackPid(pid, signal = 'SIGKILL') {
  live.set(pid, signal);
}

export function untrackPid(pid) {
  live.delete(pid);
}

/** Run `fn` (synchronously) if the test process exits early; returns a function that cancels it. */
export function atEmergencyExit(fn) {
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Whether a process with this PID exists (EPERM: it does, as another user's). */
export function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Resolve with the value of `promise`, or undefined once `ms` have passed. */
export async function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spawn a child that gets `emergencySignal` on an early exit, and return { proc, exited } where
 * exited resolves with { code, signal } (or { error } when it could not start).
 */
export function spawnTracked(cmd, args, opts, emergencySignal = 'SIGKILL') {
  const proc = spawn(cmd, args, opts);
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc.pid);
      resolve({ code, signal });
    });
    proc.once('error', (error) => {
      live.delete(proc.pid);
      resolve({ code: null, signal: null, error });
    });
  });
  if (proc.pid) live.set(proc.pid, emergencySignal);
  return { proc, exited };
}

/**
 * Start a long-running process with its output appended to `logPath` (or discarded). Returns the
 * ChildProcess with `exited` (a promise of { code, signal }) and `stop(signal, ms)`, which signals
 * it and waits for its exit, then SIGKILLs it after `ms`.
 */
export function startProcess(cmd, args, { cwd = REPO_ROOT, env = process.env, logPath, detached = false } = {}) {
  const fd = logPath ? fs.openSync(logPath, 'a') : 'ignore';
  let started;
  try {
    started = spawnTracked(cmd, args, { cwd, env, stdio: ['ignore', fd, fd], detached });
  } finally {
    if (typeof fd === 'number') fs.closeSync(fd);
  }
  const child = started.proc;
  child.exited = started.exited;
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

/**
 * Run a command to completion (bounded by `timeout`, then SIGKILL) and return { code, stdout,
 * stderr }, code 'timeout' when it was killed; never throws for a non-zero exit, so tests can
 * assert on it.
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
