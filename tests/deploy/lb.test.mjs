// The load balancer of docker-compose.yml (deploy/nginx/templates/default.conf.template), run for
// real on loopback. The template is rendered as the nginx image renders it (envsubst of the
// variables set in the environment), checked with `nginx -t`, and started with Debian's nginx in
// front of three cacheme processes on 127.0.0.2-4. A small DNS server stands in for Docker's,
// answering the replicas' name with one A record per replica, as Docker does for a scaled service.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDns } from './lib/dns.mjs';
import { composeConfig } from './lib/files.mjs';
import { REPO_ROOT, cachemeBin, readRepoFile } from '../lib/repo.mjs';
import { run, runOk, startProcess } from '../lib/process.mjs';
import { startStack } from '../lib/stack.mjs';
import { freePort, makeTempDir, request, waitFor } from '../lib/util.mjs';

const TEMPLATE = 'deploy/nginx/templates/default.conf.template';
const BIN = cachemeBin();
const NAME = 'backend';

/** Render the template as the nginx image's 20-envsubst-on-templates.sh does, with `vars` set. */
async function render(vars) {
  const env = { PATH: process.env.PATH, ...vars };
  const defined = Object.keys(env).map((n) => `\${${n}}`).join(' ');
  return runOk('envsubst', [defined], { env, input: readRepoFile(TEMPLATE) });
}

/**
 * Write an nginx main configuration in `dir` that includes `site` inside http {}, as the image's
 * /etc/nginx/nginx.conf includes conf.d/*.conf, with every path inside `dir`.
 */
function writeNginxConf(dir, site) {
  fs.mkdirSync(path.join(dir, 'conf.d'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'conf.d', 'default.conf'), site);
  const conf = `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    fastcgi_temp_path ${dir}/tmp/fastcgi;
    uwsgi_temp_path ${dir}/tmp/uwsgi;
    scgi_temp_path ${dir}/tmp/scgi;
    include ${dir}/conf.d/*.conf;
}
`;
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  return path.join(dir, 'nginx.conf');
}

describe('the nginx load balancer', () => {
  let dir;
  let servers;
  let dns;
  let nginx;
  let lbUrl;
  let replicaPort;
  const replicas = []; // { host, id, proc }
  let lbEnv; // the lb service's environment in docker-compose.yml

  async function startReplica(host, id) {
    const proc = startProcess(BIN, ['serve'], {
      logPath: path.join(dir, `${id}.log`),
      env: {
        PATH: process.env.PATH, HOST: host, PORT: String(replicaPort), UI_PORT: '0', INSTANCE_ID: id, WORKERS: '1',
        PG_POOL_SIZE: '2', DATABASE_URL: servers.databaseUrl, REDIS_URL: servers.redisUrl, LOG_LEVEL: 'warn',
      },
    });
    await waitFor(async () => (await request(`http://${host}:${replicaPort}/health`)).status === 200, { timeout: 20000, interval: 100, message: `${id} healthy` });
    const r = { host, id, proc };
    replicas.push(r);
    return r;
  }

  /** X-Instance of `n` GET /health through nginx, counted by value; every answer must be 200. */
  async function spread(n) {
    const seen = {};
    for (let i = 0; i < n; i++) {
      const r = await request(`${lbUrl}/health`);
      assert.equal(r.status, 200, `request ${i} through nginx: ${r.status} ${r.text}`);
      const id = r.headers.get('x-instance');
      seen[id] = (seen[id] ?? 0) + 1;
    }
    return seen;
  }

  before(async () => {
    dir = makeTempDir('deploy-lb');
    const compose = await composeConfig();
    assert.equal(compose.code, 0, compose.stderr);
    lbEnv = compose.config.services.lb.environment;
    servers = await startStack({ serve: false, migrate: false });
    await runOk(BIN, ['migrate'], { env: { PATH: process.env.PATH, DATABASE_URL: servers.databaseUrl } });
    replicaPort = await freePort(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']);
    for (const n of [1, 2, 3]) await startReplica(`127.0.0.${n + 1}`, `replica-${n}`);
    dns = await startDns({ [NAME]: replicas.map((r) => r.host) });
  });

  after(async () => {
    await nginx?.stop('SIGQUIT');
    for (const r of replicas) await r.proc.stop();
    await dns?.close();
    await servers?.teardown();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the template uses exactly the variables the lb service sets, and is mounted where the image renders it", async () => {
    const used = [...new Set([...readRepoFile(TEMPLATE).matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))].sort();
    assert.deepEqual(used, Object.keys(lbEnv).sort());
    const compose = await composeConfig();
    const mounts = compose.config.services.lb.volumes.map(String);
    assert.ok(mounts.includes(`${path.join(REPO_ROOT, 'deploy/nginx/templates')}:/etc/nginx/templates:ro`), mounts.join(', '));
  });

  test("nginx -t accepts the configuration rendered with docker-compose.yml's values", async () => {
    const site = await render(lbEnv);
    assert.doesNotMatch(site, /\$\{/, 'every variable was substituted');
    const d = path.join(dir, 'nginx-docker');
    const conf = writeNginxConf(d, site);
    const r = await run('nginx', ['-t', '-p', d, '-c', conf]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /syntax is ok/);
    assert.match(r.stderr, /test is successful/);
  });

  test('nginx -t accepts it rendered for loopback, and nginx starts with it', async () => {
    const lbPort = await freePort();
    const site = await render({ LB_PORT: `127.0.0.1:${lbPort}`, CACHEME_BACKEND: `${NAME}:${replicaPort}`, NGINX_RESOLVER: `127.0.0.1:${dns.port}` });
    const d = path.join(dir, 'nginx');
    const conf = writeNginxConf(d, site);
    const t = await run('nginx', ['-t', '-p', d, '-c', conf]);
    assert.equal(t.code, 0, t.stderr);
    nginx = startProcess('nginx', ['-p', d, '-c', conf], { logPath: path.join(d, 'stderr.log') });
    lbUrl = `http://127.0.0.1:${lbPort}`;
    await waitFor(async () => (await request(`${lbUrl}/health`)).status === 200, { timeout: 20000, interval: 100, message: 'nginx answers' });
  });

  test('requests spread over all three replicas, each named by X-Instance', async () => {
    const seen = await spread(60);
    assert.deepEqual(Object.keys(seen).sort(), ['replica-1', 'replica-2', 'replica-3'], JSON.stringify(seen));
    assert.ok(dns.queries[NAME] >= 1, 'nginx asked the DNS server');
  });

  test('cacheme headers pass through: X-Instance, X-Request-Id, CORS exposing X-Instance', async () => {
    const r = await request(`${lbUrl}/products/1`, { headers: { Origin: 'http://localhost:3000', 'X-Request-Id': 'lb-test-0001' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.id, 1);
    assert.match(r.headers.get('x-instance'), /^replica-[123]$/);
    assert.equal(r.headers.get('x-request-id'), 'lb-test-0001');
    assert.ok(r.headers.get('access-control-allow-origin'), 'Access-Control-Allow-Origin');
    const exposed = r.headers.get('access-control-expose-headers').split(',').map((h) => h.trim().toLowerCase());
    assert.ok(exposed.includes('x-instance'), `Access-Control-Expose-Headers: ${exposed}`);
    const preflight = await request(`${lbUrl}/cache/clear`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'DELETE' },
    });
    assert.ok(preflight.status === 200 || preflight.status === 204, `preflight ${preflight.status}`);
  });

  test('Server-Sent Events arrive through nginx as they are sent', async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5000);
    try {
      const res = await fetch(`${lbUrl}/events`, { signal: controller.signal });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /text\/event-stream/);
      const reader = res.body.getReader();
      let text = '';
      while (!/^data: \{.*\n\n/ms.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      assert.match(text, /^data: \{/m, 'an event within 5 s');
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
  });

  test('a replica added to the service name gets traffic without restarting nginx', async () => {
    await startReplica('127.0.0.5', 'replica-4');
    dns.records[NAME] = replicas.map((r) => r.host);
    // nginx keeps a lookup for 5 s (resolver valid=5s).
    await waitFor(async () => (await spread(10))['replica-4'] > 0, { timeout: 20000, interval: 500, message: 'replica-4 answering through nginx' });
  });

  test('a replica that stopped is skipped: every request still succeeds', async () => {
    const gone = replicas.find((r) => r.id === 'replica-1');
    const info = await gone.proc.stop();
    assert.equal(info.code, 0, 'replica-1 shut down cleanly');
    // Still in DNS, as a container that just died is for a moment; nginx tries another replica.
    const seen = await spread(30);
    assert.equal(seen['replica-1'], undefined, JSON.stringify(seen));
  });

  test('no replica left: 503 in the API error shape', async () => {
    for (const r of replicas) await r.proc.stop();
    const r = await request(`${lbUrl}/products/1`);
    assert.equal(r.status, 503);
    assert.match(r.headers.get('content-type'), /application\/json/);
    assert.equal(typeof r.body?.detail, 'string', r.text);
  });
});
