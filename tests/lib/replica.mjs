// A streaming read replica of a stack's PostgreSQL: `scripts/services.sh pg-replica` (pg_basebackup -R
// from the running primary, optionally with recovery_min_apply_delay for lag) in the stack's own
// directory, then `pg-start` on a free port below 32768. The replica is stopped by `teardown()` (and
// with SIGQUIT, by PID, if the runner is interrupted); its directory goes with the stack's.

import fs from 'node:fs';
import path from 'node:path';
import { SERVICES_SH } from './repo.mjs';
import { pidAlive, runOk, trackPid, untrackPid } from './process.mjs';
import { freePort, waitFor } from './util.mjs';

async function services(args, { timeout = 120000 } = {}) {
  if (!fs.existsSync(SERVICES_SH)) throw new Error(`${SERVICES_SH} is missing`);
  return (await runOk('bash', [SERVICES_SH, ...args], { timeout })).trim();
}

export class Replica {
  /** A replica of `stack`'s running PostgreSQL; call start(). */
  constructor(stack, { applyDelay } = {}) {
    this.stack = stack;
    this.applyDelay = applyDelay;
    this.dir = path.join(stack.dir, 'replica');
    this.pid = undefined;
    this.running = false;
  }

  get url() {
    return `postgresql://cacheme@127.0.0.1:${this.port}/cacheme`;
  }

  /** Copies the primary (first time only) and starts the replica; resolves once it accepts queries. */
  async start() {
    if (this.port === undefined) {
      this.port = await freePort();
      const args = ['pg-replica', this.dir, String(this.stack.pgPort)];
      if (this.applyDelay) args.push(this.applyDelay);
      await services(args);
    }
    const out = await services(['pg-start', this.dir, String(this.port)]);
    const pid = Number(out.split(/\s+/).filter(Boolean).pop());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`pg-start of the replica printed no PID: ${out}`);
    this.pid = pid;
    trackPid(pid, 'SIGQUIT');
    this.running = true;
    return this;
  }

  /** pg-stop (fast or immediate); resolves once the postmaster has exited. */
  async stop(mode = 'fast') {
    await services(['pg-stop', this.dir, mode]);
    this.running = false;
    if (this.pid) {
      await waitFor(() => !pidAlive(this.pid), { timeout: 15000, message: 'replica postmaster exit' });
      untrackPid(this.pid);
    }
  }

  /** Runs SQL on the replica with psql; returns trimmed unaligned output. */
  async psql(sql) {
    const out = await runOk('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d', this.url, '-c', sql], { timeout: 30000 });
    return out.trim();
  }

  /** Waits until the replica has replayed everything the primary has written so far. */
  async waitCaughtUp(timeout = 30000) {
    const lsn = await this.stack.psql('SELECT pg_current_wal_lsn()');
    await waitFor(async () => (await this.psql(`SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn`)) === 't', {
      timeout,
      message: `replica replayed up to ${lsn}`,
    });
  }

  async teardown() {
    if (this.running || (this.pid && pidAlive(this.pid))) {
      await services(['pg-stop', this.dir, 'immediate'], { timeout: 30000 });
      if (this.pid && pidAlive(this.pid)) {
        process.kill(this.pid, 'SIGQUIT');
        await waitFor(() => !pidAlive(this.pid), { timeout: 10000, message: 'replica postmaster exit' }).catch(() => {});
      }
      this.running = false;
    }
    if (this.pid) untrackPid(this.pid);
  }
}

/** Starts a replica of `stack`'s PostgreSQL (applyDelay: e.g. '300ms' for lag). */
export async function startReplica(stack, opts) {
  return new Replica(stack, opts).start();
}
