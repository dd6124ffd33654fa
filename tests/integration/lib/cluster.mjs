// A real local Redis Cluster for the tests: `masters` masters with `replicas` replicas each, every
// node a redis-server child of this process (so a test can kill -9 one by PID) in its own directory
// under `dir`, on free ports below 32768 (the cluster bus port too, through `cluster-port`), joined
// with `redis-cli --cluster create`. Stop it with stop(), which kills only the nodes it started.

import fs from 'node:fs';
import path from 'node:path';
import { runOk, spawnTracked, within } from '../../lib/process.mjs';
import { freePort, waitFor } from '../../lib/util.mjs';
import { redisCommand } from '../../lib/resp.mjs';

/** The hash slot of a key, as Redis Cluster computes it (CRC16 XMODEM of its hash tag, mod 16384). */
export function keySlot(key) {
  let s = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) s = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(s)) {
    crc ^= byte << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

export class Cluster {
  constructor(dir) {
    this.dir = dir;
    this.nodes = []; // { port, busPort, dir, proc, exited, pid, alive }
  }

  /** "127.0.0.1:P1,127.0.0.1:P2,..." of every node started (for REDIS_CLUSTER_NODES). */
  seeds() {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  async startNode(port, busPort) {
    const dir = path.join(this.dir, `node-${port}`);
    fs.mkdirSync(dir, { recursive: true });
    const fd = fs.openSync(path.join(dir, 'redis.log'), 'a');
    let started;
    try {
      started = spawnTracked(
        'redis-server',
        ['--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no',
          '--dir', dir, '--enable-debug-command', 'local'],
        { cwd: dir, stdio: ['ignore', fd, fd] },
        'SIGKILL',
      );
    } finally {
      fs.closeSync(fd);
    }
    const node = { port, busPort, dir, proc: started.proc, exited: started.exited, pid: started.proc.pid, alive: true };
    started.exited.then(() => (node.alive = false));
    await waitFor(async () => (await redisCommand(port, ['PING']).catch(() => null)) === 'PONG', { timeout: 15000, message: `cluster node ${port} PING` });
    return node;
  }

  /** Starts the nodes, creates the cluster and waits until every node sees it whole. */
  async start({ masters = 3, replicas = 1 } = {}) {
    const count = masters * (1 + replicas);
    const ports = [];
    for (let i = 0; i < count; i++) ports.push([await freePort(), await freePort()]);
    this.nodes = await Promise.all(ports.map(([p, b]) => this.startNode(p, b)));
    await runOk('redis-cli', ['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 60000 });
    await this.waitHealthy(masters);
    return this;
  }

  cmd(port, ...args) {
    return redisCommand(port, args.map(String));
  }

  /** CLUSTER SLOTS of a live node as [{ from, to, port, replicas: [port…] }]. */
  async slots() {
    for (const n of this.nodes.filter((x) => x.alive)) {
      const r = await this.cmd(n.port, 'CLUSTER', 'SLOTS').catch(() => null);
      if (Array.isArray(r)) return r.map(([from, to, master, ...reps]) => ({ from, to, port: master[1], replicas: reps.map((x) => x[1]) }));
    }
    throw new Error('no cluster node answers CLUSTER SLOTS');
  }

  /** Ports of the masters that serve slots. */
  async masterPorts() {
    return [...new Set((await this.slots()).map((s) => s.port))].sort((a, b) => a - b);
  }

  /** The port of the master serving key's slot. */
  async ownerOf(key) {
    const slot = keySlot(key);
    const range = (await this.slots()).find((s) => slot >= s.from && slot <= s.to);
    if (!range) throw new Error(`no master serves slot ${slot}`);
    return range.port;
  }

  /** A command for key's master, following MOVED (ASK is not expected outside a reshard). */
  async keyCmd(key, ...args) {
    let port = await this.ownerOf(key);
    for (let i = 0; i < 5; i++) {
      try {
        return await this.cmd(port, ...args);
      } catch (err) {
        const m = /^(MOVED|ASK) \d+ [^:]+:(\d+)/.exec(err.message);
        if (!m) throw err;
        port = Number(m[2]);
        if (m[1] === 'ASK') {
          const r = await redisCommand(port, ['ASKING']);
          void r;
        }
      }
    }
    throw new Error(`too many redirections for ${key}`);
  }

  /** Waits until every live node says cluster_state:ok and the map has `masters` masters covering all slots. */
  async waitHealthy(masters, timeout = 60000) {
    await waitFor(
      async () => {
        for (const n of this.nodes.filter((x) => x.alive)) {
          const info = await this.cmd(n.port, 'CLUSTER', 'INFO').catch(() => '');
          if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
        }
        return (await this.masterPorts()).length === masters;
      },
      { timeout, interval: 100, message: `a healthy cluster of ${masters} masters` },
    );
  }

  /** kill -9 of the node on port; resolves once it is gone. */
  async kill(port) {
    const n = this.nodes.find((x) => x.port === port);
    n.proc.kill('SIGKILL');
    if (!(await within(n.exited, 15000))) throw new Error(`redis-server ${port} did not exit`);
  }

  async stop() {
    for (const n of this.nodes) {
      if (n.alive) n.proc.kill('SIGKILL');
      await within(n.exited, 5000);
    }
  }
}
