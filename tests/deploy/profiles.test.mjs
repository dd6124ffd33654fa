// The Compose profiles `cluster` (a Redis Cluster of six nodes, the job that joins them, and
// docker-compose.cluster.yml, which puts backend on it) and `replica` (a streaming replica of
// postgres, and docker-compose.replica.yml, which sends backend's reads there), checked without a
// Docker engine: Debian's docker-compose parses, validates and merges the files, and the parts run
// here on loopback as the files give them:
//
//   cluster  six redis-server processes with each node's command from the file (only the port, the
//            cluster bus port, the address, the directory and the announced hostname are made local:
//            `localhost` for `redis-node-N`, which Docker's DNS would resolve), then the job's script
//            with the job's environment (the nodes' addresses mapped to the local ports); then
//            cacheme with backend's settings from docker-compose.cluster.yml on that cluster.
//   replica  init-replication.sh against a local PostgreSQL 15 as the postgres image runs it, then
//            replica-entrypoint.sh on an empty directory with the replica's environment, the
//            image's entrypoint replaced by the local `postgres`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { composeConfig } from './lib/files.mjs';
import { REPO_ROOT, readRepoFile } from '../lib/repo.mjs';
import { run, spawnTracked, trackPid, untrackPid, pidAlive } from '../lib/process.mjs';
import { redisCommand } from '../lib/resp.mjs';
import { startStack } from '../lib/stack.mjs';
import { freePort, makeTempDir, waitFor } from '../lib/util.mjs';

const NODES = ['redis-node-1', 'redis-node-2', 'redis-node-3', 'redis-node-4', 'redis-node-5', 'redis-node-6'];
const CLUSTER_FILES = ['docker-compose.cluster.yml'];
const REPLICA_FILES = ['docker-compose.replica.yml'];
const PG_BIN = '/usr/lib/postgresql/15/bin';

let base; // docker-compose.yml alone
let cluster; // with docker-compose.cluster.yml and --profile cluster
let replica; // with docker-compose.replica.yml and --profile replica

before(async () => {
  [base, cluster, replica] = await Promise.all([
    composeConfig(),
    composeConfig({ files: CLUSTER_FILES, profiles: ['cluster'] }),
    composeConfig({ files: REPLICA_FILES, profiles: ['replica'] }),
  ]);
});

const env = (svc) => svc.environment ?? {};
const mounts = (svc) => (svc.volumes ?? []).map(String);

/** The repository file a service mounts at `target` (read-only). */
function mountedFile(svc, target) {
  const m = mounts(svc).find((v) => v.split(':')[1] === target);
  assert.ok(m, `a mount at ${target}`);
  const [source, , mode] = m.split(':');
  assert.equal(mode, 'ro', `${target} is mounted read-only`);
  assert.ok(source.startsWith(`${REPO_ROOT}/`), `${source} is a file of the repository`);
  return source;
}

/** A redis-server command line as { flag: value } (every flag of the nodes takes one value). */
function flags(command) {
  assert.equal(command[0], 'redis-server');
  const out = {};
  for (let i = 1; i < command.length; i += 2) {
    assert.match(command[i], /^--[a-z-]+$/, `a flag at ${i}: ${command[i]}`);
    out[command[i].slice(2)] = command[i + 1];
  }
  return out;
}

describe('docker-compose config with the profiles cluster and replica', () => {
  test('every combination of files and profiles is valid', async () => {
    for (const r of [base, cluster, replica]) assert.equal(r.code, 0, r.stderr);
    const both = await composeConfig({ files: [...CLUSTER_FILES, ...REPLICA_FILES], profiles: ['cluster', 'replica'] });
    assert.equal(both.code, 0, both.stderr);
    assert.ok(env(both.config.services.backend).REDIS_CLUSTER_NODES && env(both.config.services.backend).DATABASE_REPLICA_URL);
  });

  test('without the override files, backend is what it was: one Redis, no replica, the default network', () => {
    const b = base.config.services.backend;
    assert.equal(env(b).REDIS_URL, 'redis://redis:6379/0');
    for (const k of ['REDIS_CLUSTER_NODES', 'DATABASE_REPLICA_URL', 'L1_CACHE', 'CACHE_WRITE_MODE']) assert.equal(env(b)[k], undefined, k);
    assert.deepEqual(Object.keys(b.depends_on).sort(), ['migrate', 'postgres', 'redis']);
    assert.deepEqual(Object.keys(b.networks ?? { default: {} }), ['default']);
  });

  test('cluster nodes: the image of `redis`, cluster mode, their service name announced as the endpoint, a cacheme-* volume each, a fixed address', () => {
    const s = cluster.config.services;
    const addresses = new Set();
    for (const name of NODES) {
      const node = s[name];
      assert.deepEqual(node.profiles, ['cluster'], name);
      assert.equal(node.image, s.redis.image, `${name} runs the image of redis`);
      const f = flags(node.command);
      assert.equal(f['cluster-enabled'], 'yes', name);
      assert.equal(f['cluster-config-file'], 'nodes.conf', name);
      assert.equal(f['cluster-announce-hostname'], name, `${name} announces its service name`);
      assert.equal(f['cluster-preferred-endpoint-type'], 'hostname', `${name}: clients are sent to the hostname`);
      assert.equal(f.port, '6379');
      assert.match(node.healthcheck.test.join(' '), /redis-cli ping/);
      assert.ok(node.healthcheck.interval && node.healthcheck.retries, `${name} healthcheck has an interval and retries`);
      assert.equal(node.ports, undefined, `${name} publishes no port`);
      const [volume] = mounts(node).filter((m) => m.endsWith(':/data') || m.includes(':/data:'));
      assert.ok(volume, `${name} keeps /data (nodes.conf, AOF) on a volume`);
      assert.equal(cluster.config.volumes[volume.split(':')[0]].name, `cacheme-${name.replace('node-', 'cluster-')}-data`);
      const ip = node.networks['redis-cluster'].ipv4_address;
      assert.match(ip, /^10\.210\.33\.\d+$/, `${name} has a fixed address in the cluster network`);
      addresses.add(ip);
    }
    assert.equal(addresses.size, NODES.length, 'six different addresses');
    assert.deepEqual(cluster.config.networks['redis-cluster'].ipam.config, [{ subnet: '10.210.33.0/24' }]);
    assert.equal(cluster.config.networks['redis-cluster'].name, 'cacheme-redis-cluster');
  });

  test('REDIS_CLUSTER_NET moves the cluster network and every address in it', async () => {
    const r = await composeConfig({ files: CLUSTER_FILES, profiles: ['cluster'], env: { REDIS_CLUSTER_NET: '192.168.213' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.config.networks['redis-cluster'].ipam.config, [{ subnet: '192.168.213.0/24' }]);
    assert.equal(r.config.services['redis-node-3'].networks['redis-cluster'].ipv4_address, '192.168.213.13');
    assert.match(env(r.config.services['redis-cluster-create']).CLUSTER_NODES, /^192\.168\.213\.11:6379 /);
  });

  test('redis-cluster-create: one shot after every node is healthy, on every node, running cluster-create.sh', () => {
    const s = cluster.config.services;
    const job = s['redis-cluster-create'];
    assert.deepEqual(job.profiles, ['cluster']);
    assert.equal(job.image, s.redis.image);
    assert.equal(job.restart, 'no');
    assert.deepEqual(Object.keys(job.depends_on).sort(), NODES);
    for (const name of NODES) assert.equal(job.depends_on[name].condition, 'service_healthy', name);
    assert.deepEqual(job.command, ['sh', '/usr/local/bin/cacheme-cluster-create.sh']);
    assert.equal(mountedFile(job, '/usr/local/bin/cacheme-cluster-create.sh'), path.join(REPO_ROOT, 'deploy/redis/cluster-create.sh'));
    assert.deepEqual(Object.keys(job.networks), ['redis-cluster']);
    // The nodes to join are the six nodes, by their fixed address and port.
    const expected = NODES.map((n) => `${s[n].networks['redis-cluster'].ipv4_address}:${flags(s[n].command).port}`);
    assert.deepEqual(env(job).CLUSTER_NODES.split(/\s+/), expected);
    assert.equal(String(env(job).CLUSTER_REPLICAS), '1');
    assert.match(readRepoFile('deploy/redis/cluster-create.sh'), /redis-cli --cluster create \$nodes --cluster-replicas "\$replicas" --cluster-yes/);
  });

  test('docker-compose.cluster.yml: backend seeds on the nodes by service name, waits for the job, and keeps the near cache and write-behind off', () => {
    const s = cluster.config.services;
    const b = s.backend;
    const seeds = env(b).REDIS_CLUSTER_NODES.split(',');
    assert.ok(seeds.length >= 1);
    for (const seed of seeds) {
      const [host, port] = seed.split(':');
      assert.ok(NODES.includes(host), `${seed} names a node service`);
      assert.equal(port, flags(s[host].command).port, `${seed}: the node's port`);
    }
    // cacheme refuses both on a cluster (exit 2): pinned off, whatever the environment says.
    assert.equal(String(env(b).L1_CACHE), 'false');
    assert.notEqual(env(b).CACHE_WRITE_MODE, 'write-behind');
    assert.deepEqual(Object.keys(b.networks).sort(), ['default', 'redis-cluster'], 'backend reaches the nodes and the rest');
    assert.equal(b.depends_on['redis-cluster-create'].condition, 'service_completed_successfully');
    for (const k of ['postgres', 'redis', 'migrate']) assert.ok(b.depends_on[k], `backend still waits for ${k}`);
    // Only backend moves: the dashboard and the lab tools keep the single Redis.
    assert.equal(env(s.frontend).REDIS_CLUSTER_NODES, undefined);
  });

  test('postgres-replica: the image of postgres, its own cacheme-* volume, the entrypoint that copies the primary, healthy when it takes connections', () => {
    const s = replica.config.services;
    const r = s['postgres-replica'];
    assert.deepEqual(r.profiles, ['replica']);
    assert.equal(r.image, s.postgres.image);
    assert.deepEqual(r.entrypoint, ['sh', '/usr/local/bin/cacheme-replica-entrypoint.sh']);
    assert.deepEqual(r.command, ['docker-entrypoint.sh', 'postgres'], "then the image's own entrypoint");
    assert.equal(mountedFile(r, '/usr/local/bin/cacheme-replica-entrypoint.sh'), path.join(REPO_ROOT, 'deploy/postgres/replica-entrypoint.sh'));
    assert.ok(mounts(r).some((m) => m.startsWith('postgres-replica-data:/var/lib/postgresql/data')));
    assert.equal(replica.config.volumes['postgres-replica-data'].name, 'cacheme-postgres-replica-data');
    assert.equal(env(r).PRIMARY_HOST, 'postgres');
    assert.equal(String(env(r).PRIMARY_PORT), '5432');
    // The role and password the primary's init script makes.
    assert.equal(env(r).REPLICATION_USER, env(s.postgres).REPLICATION_USER);
    assert.equal(env(r).REPLICATION_PASSWORD, env(s.postgres).REPLICATION_PASSWORD);
    assert.equal(r.depends_on.postgres.condition, 'service_healthy');
    assert.match(r.healthcheck.test.join(' '), /pg_isready -h 127\.0\.0\.1 -U cacheme -d cacheme/);
    assert.ok(r.healthcheck.interval && r.healthcheck.retries);
    assert.deepEqual(r.ports.map(String), ['127.0.0.1:5433:5432/tcp']);
  });

  test('POSTGRES_REPLICATION_PASSWORD reaches the primary and the replica', async () => {
    const r = await composeConfig({ files: REPLICA_FILES, profiles: ['replica'], env: { POSTGRES_REPLICATION_PASSWORD: 'r3pl' } });
    assert.equal(env(r.config.services.postgres).REPLICATION_PASSWORD, 'r3pl');
    assert.equal(env(r.config.services['postgres-replica']).REPLICATION_PASSWORD, 'r3pl');
  });

  test('docker-compose.replica.yml: backend reads from the replica once it is healthy; writes stay on the primary', () => {
    const s = replica.config.services;
    const b = s.backend;
    assert.equal(env(b).DATABASE_REPLICA_URL, 'postgresql://cacheme:cacheme@postgres-replica:5432/cacheme');
    assert.equal(env(b).DATABASE_URL, env(base.config.services.backend).DATABASE_URL);
    assert.equal(b.depends_on['postgres-replica'].condition, 'service_healthy');
    assert.equal(env(s.migrate).DATABASE_REPLICA_URL, undefined, 'migrate writes: primary only');
  });

  test('every named volume of both profiles is cacheme-* and mounted', () => {
    const all = { ...cluster.config.volumes, ...replica.config.volumes };
    for (const [key, v] of Object.entries(all)) {
      assert.match(v.name, /^cacheme-/, key);
      const used = [cluster, replica].some((c) => Object.values(c.config.services).some((svc) => mounts(svc).some((m) => m.startsWith(`${key}:`))));
      assert.ok(used, `volume ${key} is mounted`);
    }
  });
});

/** Two free ports below 32768 for a node: its clients' and its cluster bus'. */
async function nodePorts() {
  return { port: await freePort(), bus: await freePort() };
}

describe('the cluster profile, run here: six nodes as the file starts them, the job, backend on top', () => {
  let dir;
  const nodes = []; // { name, port, bus, proc, ip }
  let stack;
  let script;
  let jobEnv;

  async function runJob() {
    return run('sh', [script], { env: { PATH: process.env.PATH, ...jobEnv }, timeout: 120000 });
  }

  const info = async (port) => Object.fromEntries(
    String(await redisCommand(port, ['CLUSTER', 'INFO'])).split(/\r?\n/).filter(Boolean).map((l) => l.split(':')),
  );

  before(async () => {
    dir = makeTempDir('deploy-cluster');
    const s = cluster.config.services;
    for (const name of NODES) {
      const f = flags(s[name].command);
      const { port, bus } = await nodePorts();
      const nodeDir = path.join(dir, name);
      fs.mkdirSync(nodeDir);
      // The file's flags, in its order, with what must be local replaced; --cluster-port and --bind
      // are added (in a container the bus is 16379 and the address the container's own).
      const local = { ...f, port: String(port), 'cluster-announce-hostname': 'localhost', 'cluster-port': String(bus), bind: '127.0.0.1', dir: nodeDir };
      const argv = Object.entries(local).flatMap(([k, v]) => [`--${k}`, v]);
      const fd = fs.openSync(path.join(nodeDir, 'redis.log'), 'a');
      let started;
      try {
        started = spawnTracked('redis-server', argv, { cwd: nodeDir, stdio: ['ignore', fd, fd] }, 'SIGKILL');
      } finally {
        fs.closeSync(fd);
      }
      nodes.push({ name, port, bus, proc: started.proc, exited: started.exited, ip: s[name].networks['redis-cluster'].ipv4_address, composePort: f.port });
    }
    for (const n of nodes) {
      await waitFor(async () => (await redisCommand(n.port, ['PING']).catch(() => null)) === 'PONG', { timeout: 15000, message: `${n.name} PING` });
    }
    const job = s['redis-cluster-create'];
    script = mountedFile(job, job.command[1]);
    // The job's environment, each node's address in the file mapped to its local port.
    const local = Object.fromEntries(nodes.map((n) => [`${n.ip}:${n.composePort}`, `127.0.0.1:${n.port}`]));
    jobEnv = Object.fromEntries(Object.entries(env(job)).map(([k, v]) => [k, String(v)]));
    jobEnv.CLUSTER_NODES = jobEnv.CLUSTER_NODES.split(/\s+/).map((a) => {
      assert.ok(local[a], `${a} is a node`);
      return local[a];
    }).join(' ');
  });

  after(async () => {
    await stack?.teardown();
    for (const n of nodes) {
      n.proc.kill('SIGTERM');
      await n.exited;
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the job joins the nodes: every node reports cluster_state:ok, 16384 slots, 3 masters, 6 nodes; clients are sent to the announced hostname', async () => {
    const r = await runJob();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /the cluster is ok/);
    // Every node learns of every other by gossip, a moment after the job's check has passed on the
    // node it asked: wait for each to agree, then check all of it.
    for (const n of nodes) {
      await waitFor(async () => (await info(n.port)).cluster_known_nodes === '6', { timeout: 15000, message: `${n.name} knows the 6 nodes` });
      const i = await info(n.port);
      assert.equal(i.cluster_state, 'ok', n.name);
      assert.equal(i.cluster_slots_assigned, '16384', n.name);
      assert.equal(i.cluster_slots_ok, '16384', n.name);
      assert.equal(i.cluster_known_nodes, '6', n.name);
      assert.equal(i.cluster_size, '3', n.name);
    }
    const slots = await redisCommand(nodes[0].port, ['CLUSTER', 'SLOTS']);
    assert.equal(slots.reduce((sum, [lo, hi]) => sum + (hi - lo + 1), 0), 16384, 'the ranges cover every slot');
    for (const [, , master] of slots) {
      assert.equal(master[0], 'localhost', 'the endpoint is the hostname (cluster-preferred-endpoint-type hostname)');
    }
    // The replicas' roles reach every node by gossip, a little after the slots.
    await waitFor(async () => (await redisCommand(nodes[0].port, ['CLUSTER', 'SLOTS'])).every((range) => range.length === 4), {
      timeout: 15000, message: 'one replica per master',
    });
  });

  test('run again, the job finds the cluster made and exits 0 without touching it', async () => {
    const before_ = await redisCommand(nodes[0].port, ['CLUSTER', 'MYID']);
    const epoch = (await info(nodes[0].port)).cluster_current_epoch;
    const r = await runJob();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /exists already/);
    assert.equal(await redisCommand(nodes[0].port, ['CLUSTER', 'MYID']), before_);
    assert.equal((await info(nodes[0].port)).cluster_current_epoch, epoch);
    assert.equal((await info(nodes[0].port)).cluster_state, 'ok');
  });

  test("cacheme with backend's settings from docker-compose.cluster.yml serves from the cluster", async () => {
    const b = cluster.config.services.backend;
    const byName = Object.fromEntries(nodes.map((n) => [`${n.name}:${n.composePort}`, `localhost:${n.port}`]));
    const e = Object.fromEntries(Object.entries(env(b)).map(([k, v]) => [k, String(v)]));
    for (const k of ['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN', 'CORS_ORIGINS']) delete e[k]; // the stack's own
    e.REDIS_CLUSTER_NODES = e.REDIS_CLUSTER_NODES.split(',').map((seed) => byName[seed]).join(',');
    stack = await startStack({ env: e });
    const health = await stack.get('/health');
    assert.equal(health.status, 200, health.text);
    const first = await stack.get('/products/3');
    assert.equal(first.status, 200);
    assert.equal(first.body.source, 'database');
    await waitFor(async () => (await stack.get('/products/3')).body.source === 'cache', { timeout: 10000, message: 'product 3 from the cache' });
    // The key is on the cluster (asked with -c, which follows the MOVED to its master).
    const r = await run('redis-cli', ['-c', '-p', String(nodes[0].port), 'EXISTS', 'product:3']);
    assert.equal(r.stdout.trim(), '1', r.stdout + r.stderr);
  });
});

describe('the replica profile, run here: the primary\'s init script, then the replica\'s entrypoint on an empty directory', () => {
  let stack;
  let replicaDir;
  let replicaPort;
  let replicaPid;
  let replicaEnv;
  let entrypoint;

  /** psql on the replica; trimmed unaligned output. */
  async function onReplica(sql) {
    const r = await run('psql', ['-X', '-A', '-t', '-q', '-h', '127.0.0.1', '-p', String(replicaPort), '-U', 'cacheme', '-d', 'cacheme', '-c', sql]);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  }

  /** The replica's entrypoint as the postgres OS user (PostgreSQL refuses root), with `args` as its command. */
  function entrypointArgs(args) {
    const cmd = ['sh', entrypoint, ...args];
    return process.getuid() === 0 ? ['runuser', ['-u', 'postgres', '--', ...cmd]] : [cmd[0], cmd.slice(1)];
  }

  before(async () => {
    stack = await startStack({ serve: false });
    const s = replica.config.services;
    entrypoint = mountedFile(s['postgres-replica'], s['postgres-replica'].entrypoint[1]);
    replicaDir = path.join(stack.dir, 'replica');
    fs.mkdirSync(replicaDir, { mode: 0o700 });
    if (process.getuid() === 0) await run('chown', ['postgres:postgres', replicaDir]);
    replicaPort = await freePort();
    replicaEnv = {
      PATH: `${PG_BIN}:${process.env.PATH}`,
      ...Object.fromEntries(Object.entries(env(s['postgres-replica'])).map(([k, v]) => [k, String(v)])),
      PRIMARY_HOST: '127.0.0.1',
      PRIMARY_PORT: String(stack.pgPort),
      PGDATA: replicaDir,
    };
  });

  after(async () => {
    if (replicaPid && pidAlive(replicaPid)) {
      process.kill(replicaPid, 'SIGINT'); // fast shutdown
      await waitFor(() => !pidAlive(replicaPid), { timeout: 30000, message: 'replica postmaster exit' }).catch(() => process.kill(replicaPid, 'SIGQUIT'));
      untrackPid(replicaPid);
    }
    await stack?.teardown();
  });

  test('init-replication.sh makes the replication role and its pg_hba.conf line; run twice, it changes nothing more', async () => {
    const s = replica.config.services;
    const init = mounts(s.postgres).find((m) => m.includes('/docker-entrypoint-initdb.d/'));
    const script = init.split(':')[0];
    // As the image runs it: its environment, psql on the server it initialises, PGDATA.
    const e = {
      PATH: `${PG_BIN}:${process.env.PATH}`,
      ...Object.fromEntries(Object.entries(env(s.postgres)).map(([k, v]) => [k, String(v)])),
      PGHOST: '127.0.0.1', PGPORT: String(stack.pgPort), PGDATA: stack.pgDir,
    };
    for (let i = 0; i < 2; i++) {
      const r = await run('sh', [script], { env: e });
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    const role = await stack.psql(`SELECT rolcanlogin, rolreplication, rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = '${e.REPLICATION_USER}'`);
    assert.equal(role, 't|t|t');
    const hba = fs.readFileSync(path.join(stack.pgDir, 'pg_hba.conf'), 'utf8').split('\n');
    assert.equal(hba.filter((l) => l === `host replication ${e.REPLICATION_USER} all scram-sha-256`).length, 1);
    // In the container the replica connects from another address, which only that line admits;
    // here it comes from 127.0.0.1, which initdb's trust lines admit first. A line ahead of them
    // makes the password count here too.
    fs.writeFileSync(path.join(stack.pgDir, 'pg_hba.conf'), [`host replication ${e.REPLICATION_USER} 127.0.0.1/32 scram-sha-256`, ...hba].join('\n'));
    await stack.psql('SELECT pg_reload_conf()');
  });

  test('the entrypoint copies the primary into the empty directory and starts a standby that follows it', async () => {
    const [cmd, args] = entrypointArgs([path.join(PG_BIN, 'postgres'), '-D', replicaDir, '-p', String(replicaPort),
      '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${replicaDir}`]);
    const fd = fs.openSync(path.join(stack.dir, 'replica.log'), 'a');
    let started;
    try {
      started = spawnTracked(cmd, args, { cwd: '/', env: replicaEnv, stdio: ['ignore', fd, fd] }, 'SIGINT');
    } finally {
      fs.closeSync(fd);
    }
    const { proc, exited } = started;
    let gone = null;
    exited.then((i) => (gone = i));
    await waitFor(() => {
      if (gone) throw Object.assign(new Error(`the entrypoint exited: ${JSON.stringify(gone)}\n${fs.readFileSync(path.join(stack.dir, 'replica.log'), 'utf8')}`), { fatal: true });
      return fs.existsSync(path.join(replicaDir, 'postmaster.pid'));
    }, { timeout: 60000, message: 'the replica started' });
    replicaPid = Number(fs.readFileSync(path.join(replicaDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    trackPid(replicaPid, 'SIGQUIT');
    assert.ok(proc.pid);
    await waitFor(async () => (await onReplica('SELECT 1').catch(() => '')) === '1', { timeout: 60000, message: 'the replica takes connections' });
    assert.equal(await onReplica('SELECT pg_is_in_recovery()'), 't');
    assert.match(fs.readFileSync(path.join(replicaDir, 'postgresql.auto.conf'), 'utf8'), new RegExp(`primary_conninfo = '.*user=${replicaEnv.REPLICATION_USER}`));
    assert.equal(await onReplica("SELECT status FROM pg_stat_wal_receiver"), 'streaming');
    // A row written on the primary after the copy appears on the replica.
    await stack.psql("CREATE TABLE replica_check (note text); INSERT INTO replica_check VALUES ('written on the primary')");
    await waitFor(async () => (await onReplica('SELECT note FROM replica_check').catch(() => '')) === 'written on the primary', { timeout: 30000, message: 'the row on the replica' });
    const write = await run('psql', ['-X', '-h', '127.0.0.1', '-p', String(replicaPort), '-U', 'cacheme', '-d', 'cacheme', '-c', "INSERT INTO replica_check VALUES ('x')"]);
    assert.notEqual(write.code, 0, 'the replica refuses writes');
    assert.match(write.stderr, /read-only transaction/);
  });

  test('on a directory that holds a cluster the entrypoint copies nothing; on one that holds something else it refuses', async () => {
    const [cmd, args] = entrypointArgs(['echo', 'next: the command']);
    const again = await run(cmd, args, { env: replicaEnv, cwd: '/' });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), 'next: the command');
    const junk = path.join(stack.dir, 'junk');
    fs.mkdirSync(junk);
    fs.writeFileSync(path.join(junk, 'file'), 'x');
    fs.chmodSync(junk, 0o777);
    const refused = await run(cmd, args, { env: { ...replicaEnv, PGDATA: junk }, cwd: '/' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /neither empty nor a PostgreSQL cluster/);
    assert.deepEqual(fs.readdirSync(junk), ['file']);
  });
});
