// docker-compose.yml, checked without a Docker engine: Debian's docker-compose (v1) parses and
// validates it against the Compose schema and resolves it (`docker-compose config`); the tests then
// assert on the resolved configuration. The migrate service's command runs against a real
// PostgreSQL 15.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { composeConfig, dockerignore, parseDockerfile } from './lib/files.mjs';
import { REPO_ROOT, cachemeBin, readRepoFile } from '../lib/repo.mjs';
import { runOk } from '../lib/process.mjs';
import { startStack } from '../lib/stack.mjs';

const CORE = ['backend', 'frontend', 'lb', 'migrate', 'pgadmin', 'postgres', 'redis', 'redis-commander'];
const MONITORING = ['grafana', 'prometheus'];
const CLUSTER = ['redis-cluster-create', 'redis-node-1', 'redis-node-2', 'redis-node-3', 'redis-node-4', 'redis-node-5', 'redis-node-6'];
const REPLICA = ['postgres-replica'];

let base; // `docker-compose config` without profiles
let monitoring; // with --profile monitoring

before(async () => {
  base = await composeConfig();
  monitoring = await composeConfig({ profiles: ['monitoring'] });
});

/** [{ hostIp, hostPort, containerPort }] of a service's published ports (v1 prints "ip:host:container/tcp"). */
function published(service) {
  return (service.ports ?? []).map((p) => {
    const m = /^(?:(\d+\.\d+\.\d+\.\d+):)?(\d+):(\d+)(?:\/tcp)?$/.exec(String(p));
    assert.ok(m, `port mapping in the long form v1 prints: ${p}`);
    return { hostIp: m[1] ?? '', hostPort: Number(m[2]), containerPort: Number(m[3]) };
  });
}

/** service's `environment` as an object (v1 resolves it to a mapping). */
function env(service) {
  return service.environment ?? {};
}

describe('docker-compose config (a real parser and the Compose schema)', () => {
  test('the file is valid, with and without the monitoring profile', () => {
    assert.equal(base.code, 0, `docker-compose config failed:\n${base.stderr}`);
    assert.equal(monitoring.code, 0, `docker-compose --profile monitoring config failed:\n${monitoring.stderr}`);
  });

  test('services: the core set by default; Prometheus and Grafana, the Redis Cluster, the PostgreSQL replica only in their profiles', () => {
    const all = monitoring.config.services;
    assert.deepEqual(Object.keys(all).sort(), [...CORE, ...MONITORING, ...CLUSTER, ...REPLICA].sort());
    // Services without a profile are the ones `docker compose up` starts.
    assert.deepEqual(Object.keys(all).filter((n) => !all[n].profiles).sort(), CORE);
    for (const name of MONITORING) assert.deepEqual(all[name].profiles, ['monitoring'], name);
    for (const name of CLUSTER) assert.deepEqual(all[name].profiles, ['cluster'], name);
    for (const name of REPLICA) assert.deepEqual(all[name].profiles, ['replica'], name);
  });

  test('images and versions are pinned', () => {
    const s = monitoring.config.services;
    assert.equal(s.postgres.image, 'postgres:15.6');
    assert.equal(s.redis.image, 'redis:7.2.5');
    assert.equal(s.pgadmin.image, 'dpage/pgadmin4:9.4');
    for (const [name, svc] of Object.entries(s)) {
      if (svc.build) continue;
      assert.match(svc.image, /:[\w.-]+$/, `${name} names a tag`);
      assert.doesNotMatch(svc.image, /:latest$/, `${name} is pinned, not :latest`);
    }
  });

  test('one builder for the one image: backend builds it, frontend and migrate use it and never pull it', () => {
    const s = base.config.services;
    assert.equal(s.backend.build.context, REPO_ROOT, 'backend build context');
    assert.equal(s.backend.build.dockerfile, 'deploy/docker/Dockerfile', 'backend Dockerfile');
    const builders = Object.entries(s).filter(([, svc]) => svc.build).map(([n]) => n);
    assert.deepEqual(builders, ['backend'], 'only backend builds (parallel builds of one tag can fail)');
    for (const name of ['frontend', 'migrate']) {
      assert.equal(s[name].image, s.backend.image, `${name} uses the same image tag`);
      assert.equal(s[name].pull_policy, 'never', `${name} never pulls the locally built tag`);
    }
  });

  test('migrate: a one-shot `cacheme migrate` after PostgreSQL is healthy; backend waits for it to succeed', () => {
    const s = base.config.services;
    assert.deepEqual(s.migrate.command, ['migrate']);
    assert.equal(s.migrate.restart, 'no');
    assert.equal(env(s.migrate).DATABASE_URL, env(s.backend).DATABASE_URL);
    assert.equal(s.migrate.depends_on.postgres.condition, 'service_healthy');
    assert.equal(s.backend.depends_on.migrate.condition, 'service_completed_successfully');
    // The schema has one source: the only script in the postgres image's init directory makes the
    // replication role (profile `replica`), and no table.
    const init = (s.postgres.volumes ?? []).map(String).filter((m) => /docker-entrypoint-initdb/.test(m));
    assert.deepEqual(init, [`${path.join(REPO_ROOT, 'deploy/postgres/init-replication.sh')}:/docker-entrypoint-initdb.d/10-replication.sh:ro`]);
    assert.doesNotMatch(readRepoFile('deploy/postgres/init-replication.sh'), /CREATE\s+(TABLE|SCHEMA|DATABASE)|INSERT/i);
  });

  test('connection budget: three backends and the dashboard stay under 80 % of PostgreSQL\'s connections', async () => {
    const s = base.config.services;
    const perReplica = (svc) => Number(env(svc).WORKERS) * (Number(env(svc).PG_POOL_SIZE) + 1);
    assert.deepEqual([Number(env(s.backend).WORKERS), Number(env(s.backend).PG_POOL_SIZE)], [2, 4], 'per-replica defaults');
    const usable = 100 - 3; // postgres:15 defaults: max_connections, superuser_reserved_connections
    for (const n of [3, 7]) {
      assert.ok(n * perReplica(s.backend) + perReplica(s.frontend) <= 0.8 * usable, `--scale backend=${n} fits`);
    }
    const r = await composeConfig({ env: { BACKEND_WORKERS: '8', BACKEND_PG_POOL_SIZE: '10' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([String(env(r.config.services.backend).WORKERS), String(env(r.config.services.backend).PG_POOL_SIZE)], ['8', '10']);
  });

  test('ADMIN_TOKEN reaches backend (empty by default: lab changes open)', async () => {
    assert.equal(env(base.config.services.backend).ADMIN_TOKEN ?? '', '');
    const r = await composeConfig({ env: { ADMIN_TOKEN: 's3cret-token' } });
    assert.equal(env(r.config.services.backend).ADMIN_TOKEN, 's3cret-token');
  });

  test('.gitattributes keeps LF endings on shell scripts, so a Windows checkout builds', async () => {
    const r = await runOk('git', ['-C', REPO_ROOT, 'check-attr', 'eol', 'scripts/test.sh', 'deploy/docker/healthcheck.sh', '.ci/run']);
    for (const line of r.trim().split('\n')) assert.match(line, /: eol: lf$/, line);
  });

  test('named volumes are cacheme-* (not the original lab\'s cache-me-*), the three data volumes among them, and each is used', () => {
    const volumes = monitoring.config.volumes;
    const names = Object.values(volumes).map((v) => v.name);
    for (const required of ['cacheme-postgres-data', 'cacheme-redis-data', 'cacheme-pgadmin-data']) {
      assert.ok(names.includes(required), `volume ${required}`);
    }
    for (const n of names) assert.match(n, /^cacheme-/, `volume name ${n}`);
    const mounts = (svc) => (svc.volumes ?? []).map((v) => String(v));
    const s = monitoring.config.services;
    assert.ok(mounts(s.postgres).some((m) => m.startsWith('postgres-data:/var/lib/postgresql/data')), 'postgres data');
    assert.ok(mounts(s.redis).some((m) => m.startsWith('redis-data:/data')), 'redis data');
    assert.ok(mounts(s.pgadmin).some((m) => m.startsWith('pgadmin-data:/var/lib/pgadmin')), 'pgadmin data');
    for (const key of Object.keys(volumes)) {
      assert.ok(Object.values(s).some((svc) => mounts(svc).some((m) => m.startsWith(`${key}:`))), `volume ${key} is mounted`);
    }
  });

  test('healthchecks on postgres, redis, backend (cacheme-healthcheck on /health) and the dashboard', () => {
    const s = base.config.services;
    assert.match(s.postgres.healthcheck.test.join(' '), /pg_isready -h 127\.0\.0\.1 -U cacheme -d cacheme/);
    assert.match(s.redis.healthcheck.test.join(' '), /redis-cli ping/);
    assert.deepEqual(s.backend.healthcheck.test, ['CMD', 'cacheme-healthcheck']);
    assert.deepEqual(s.frontend.healthcheck.test, ['CMD', 'cacheme-healthcheck', '3000', '/']);
    for (const name of ['postgres', 'redis', 'backend', 'frontend', 'lb']) {
      assert.ok(s[name].healthcheck.interval && s[name].healthcheck.retries, `${name} healthcheck has an interval and retries`);
    }
  });

  test('depends_on waits for healthy services', () => {
    const s = monitoring.config.services;
    const cond = (svc, dep) => s[svc].depends_on?.[dep]?.condition;
    assert.equal(cond('backend', 'postgres'), 'service_healthy');
    assert.equal(cond('backend', 'redis'), 'service_healthy');
    assert.equal(cond('lb', 'backend'), 'service_healthy');
    assert.equal(cond('pgadmin', 'postgres'), 'service_healthy');
    assert.equal(cond('redis-commander', 'redis'), 'service_healthy');
    assert.equal(cond('prometheus', 'backend'), 'service_healthy');
    assert.equal(cond('grafana', 'prometheus'), 'service_healthy');
  });

  test('every published port is bound to 127.0.0.1 by default, on the documented host ports', () => {
    const expected = {
      lb: [8000, 8000], frontend: [3000, 3000], pgadmin: [5050, 80], 'redis-commander': [5540, 8081],
      postgres: [5432, 5432], redis: [6379, 6379], prometheus: [9090, 9090], grafana: [3001, 3000],
    };
    const s = monitoring.config.services;
    for (const [name, svc] of Object.entries(s)) {
      for (const p of published(svc)) assert.equal(p.hostIp, '127.0.0.1', `${name} publishes ${p.hostPort} on 127.0.0.1`);
    }
    for (const [name, [host, container]] of Object.entries(expected)) {
      assert.deepEqual(published(s[name]).map((p) => [p.hostPort, p.containerPort]), [[host, container]], name);
    }
  });

  test('BIND_ADDRESS and the *_HOST_PORT variables override the bindings', async () => {
    const r = await composeConfig({ env: { BIND_ADDRESS: '0.0.0.0', API_HOST_PORT: '18000', UI_HOST_PORT: '13000' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(published(r.config.services.lb)[0], { hostIp: '0.0.0.0', hostPort: 18000, containerPort: 8000 });
    assert.deepEqual(published(r.config.services.frontend)[0], { hostIp: '0.0.0.0', hostPort: 13000, containerPort: 3000 });
    // The dashboard's page calls the API on the port the browser reaches the load balancer on.
    assert.equal(String(env(r.config.services.frontend).PORT), '18000');
  });

  test('backend scales: no container_name, no published port, reached through the service name', () => {
    const s = base.config.services;
    for (const [name, svc] of Object.entries(s)) assert.equal(svc.container_name, undefined, `${name} has no container_name`);
    assert.equal(s.backend.ports, undefined, 'backend publishes no host port');
    assert.deepEqual(s.backend.expose.map(String), ['8000']);
    assert.equal(env(s.lb).CACHEME_BACKEND, 'backend:8000');
    assert.equal(env(s.lb).NGINX_RESOLVER, '127.0.0.11', "Docker's embedded DNS");
  });

  test('the services are wired to each other', () => {
    const s = base.config.services;
    const pgPassword = env(s.postgres).POSTGRES_PASSWORD;
    for (const name of ['backend', 'frontend']) {
      assert.equal(env(s[name]).DATABASE_URL, `postgresql://cacheme:${pgPassword}@postgres:5432/cacheme`, name);
      assert.equal(env(s[name]).REDIS_URL, 'redis://redis:6379/0', name);
    }
    assert.equal(env(s.postgres).POSTGRES_USER, 'cacheme');
    assert.equal(env(s.postgres).POSTGRES_DB, 'cacheme');
    assert.deepEqual(s.redis.command, ['redis-server', '--appendonly', 'yes']);
    assert.equal(env(s['redis-commander']).REDIS_HOSTS, 'cacheme:redis:6379:0');
    assert.equal(String(env(s.frontend).UI_PORT), '3000');
    assert.equal(env(s.frontend).PGADMIN_URL, 'http://localhost:5050/');
    assert.equal(env(s.frontend).REDIS_COMMANDER_URL, 'http://localhost:5540/');
  });

  test('pgAdmin: admin@cacheme.com / admin123, the database registered through servers.json and a pgpass file', () => {
    const s = base.config.services;
    const e = env(s.pgadmin);
    assert.equal(e.PGADMIN_DEFAULT_EMAIL, 'admin@cacheme.com');
    assert.equal(e.PGADMIN_DEFAULT_PASSWORD, 'admin123');
    const mounts = s.pgadmin.volumes.map(String);
    const mountOf = (target) => mounts.find((m) => m.split(':')[1] === target)?.split(':')[0];
    assert.equal(mountOf(e.PGADMIN_SERVER_JSON_FILE), path.join(REPO_ROOT, 'deploy/pgadmin/servers.json'));
    assert.equal(mountOf(e.PGPASS_FILE), path.join(REPO_ROOT, 'deploy/pgadmin/pgpass'));

    const servers = JSON.parse(readRepoFile('deploy/pgadmin/servers.json')).Servers;
    const list = Object.values(servers);
    assert.equal(list.length, 1);
    const [srv] = list;
    for (const key of ['Name', 'Group', 'Port', 'Username', 'MaintenanceDB', 'Host']) assert.ok(key in srv, `servers.json has ${key}`);
    assert.equal(srv.Host, 'postgres');
    assert.equal(srv.Port, 5432);
    assert.equal(srv.Username, env(s.postgres).POSTGRES_USER);
    assert.equal(srv.MaintenanceDB, env(s.postgres).POSTGRES_DB);
    // In server mode the path is relative to the login's storage directory, where the image copies
    // PGPASS_FILE as .pgpass.
    assert.equal(srv.ConnectionParameters.passfile, '/.pgpass');

    const entries = readRepoFile('deploy/pgadmin/pgpass').split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(entries, [`postgres:5432:*:${env(s.postgres).POSTGRES_USER}:${env(s.postgres).POSTGRES_PASSWORD}`]);
  });

  test('no secret is baked into the image', () => {
    const { stages } = parseDockerfile(readRepoFile('deploy/docker/Dockerfile'));
    for (const stage of stages) {
      for (const i of stage.instructions) {
        if (i.op === 'ENV' || i.op === 'ARG') assert.doesNotMatch(i.args, /PASSWORD|SECRET|TOKEN|DATABASE_URL|REDIS_URL/i, i.line);
      }
    }
    const included = dockerignore(readRepoFile('.dockerignore'));
    for (const p of ['.env', '.env.local', '.run/pg/PG_VERSION', 'deploy/pgadmin/pgpass', 'build/cacheme', 'web/node_modules/x', '.git/config']) {
      assert.equal(included(p), false, `${p} stays out of the build context`);
    }
  });
});

describe('the migrate service, run as Compose runs it, against a real PostgreSQL 15', () => {
  let servers;
  before(async () => {
    servers = await startStack({ serve: false, migrate: false });
  });
  after(async () => {
    await servers?.teardown();
  });

  /** psql as `cacheme` against the cluster (tuples only, unaligned); returns stdout. */
  function psql(args) {
    return runOk('psql', ['-X', '-q', '-t', '-A', '-h', '127.0.0.1', '-p', String(servers.pgPort), '-U', 'cacheme', ...args]);
  }

  test('its command on an empty database creates the schema and the 15 products; a second run changes nothing', async () => {
    const command = base.config.services.migrate.command; // the image's ENTRYPOINT is cacheme
    await psql(['-d', 'postgres', '-c', 'CREATE DATABASE migrate_check']);
    const run = () => runOk(cachemeBin(), command, {
      env: { ...process.env, DATABASE_URL: `postgresql://cacheme@127.0.0.1:${servers.pgPort}/migrate_check` },
    });
    await run();
    assert.equal((await psql(['-d', 'migrate_check', '-c', 'SELECT count(*) FROM products'])).trim(), '15');
    await psql(['-d', 'migrate_check', '-c', "UPDATE products SET name = 'kept' WHERE id = 1"]);
    await run();
    assert.equal((await psql(['-d', 'migrate_check', '-c', 'SELECT count(*) FROM products'])).trim(), '15');
    assert.equal((await psql(['-d', 'migrate_check', '-c', 'SELECT name FROM products WHERE id = 1'])).trim(), 'kept');
  });
});
