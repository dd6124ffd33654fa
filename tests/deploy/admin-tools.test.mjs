// The admin tools of `make run` on a machine without Docker: Adminer (PHP's built-in server, Debian's
// adminer package) and Redis Commander (npm). `make run` is started as a person would, in a
// process group of its own, with every port free and its state in a temporary RUN_DIR; it is stopped
// as Ctrl-C stops it, with SIGINT to the whole group.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startProcess } from '../lib/process.mjs';
import { connectOutcome, freePort, makeTempDir, request, waitFor } from '../lib/util.mjs';

// The environment of `make run`, without any setting that would point it elsewhere.
function baseEnv() {
  const env = { ...process.env };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'PGADMIN_URL', 'REDIS_COMMANDER_URL', 'UI_API_BASE', 'HOST', 'INSTANCE_ID',
    'MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) {
    delete env[k];
  }
  return env;
}

/** Start `make run` with `vars`; returns { proc, ports, runDir, log() }. */
async function startMakeRun(dir, vars = {}) {
  const ports = {
    PORT: await freePort(), UI_PORT: await freePort(), PG_PORT: await freePort(), REDIS_PORT: await freePort(),
    ADMINER_PORT: await freePort(), REDIS_COMMANDER_PORT: await freePort(),
  };
  const runDir = path.join(dir, 'run');
  const logPath = path.join(dir, 'make-run.log');
  const env = { ...baseEnv(), RUN_DIR: runDir, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])), ...vars };
  const proc = startProcess('make', ['--no-print-directory', 'run'], { env, logPath, detached: true });
  const log = () => fs.readFileSync(logPath, 'utf8');
  // The first run may build the dashboard and install Redis Commander.
  await waitFor(async () => {
    if (proc.exitCode !== null) throw Object.assign(new Error(`make run exited early:\n${log().slice(-3000)}`), { fatal: true });
    return (await request(`http://127.0.0.1:${ports.PORT}/health`)).status === 200;
  }, { timeout: 300000, interval: 250, message: 'make run serving the API' });
  return { proc, ports, runDir, log };
}

/** Ctrl-C: SIGINT to the process group, then wait for make to end; returns the pids it had. */
async function ctrlC(run) {
  const pids = fs.readdirSync(run.runDir).filter((f) => f.endsWith('.pid')).map((f) => Number(fs.readFileSync(path.join(run.runDir, f), 'utf8')));
  process.kill(-run.proc.pid, 'SIGINT');
  let timer;
  const exited = await Promise.race([run.proc.exited, new Promise((resolve) => { timer = setTimeout(resolve, 60000); })]);
  clearTimeout(timer);
  assert.ok(exited, `make run stopped within 60 s:\n${run.log().slice(-2000)}`);
  return pids;
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Cookies of a response, to send back as a Cookie header (merged into `jar`). */
function keepCookies(res, jar) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');
}

describe('make run with the admin tools', () => {
  const dir = makeTempDir('deploy-admin');
  let run;

  after(async () => {
    if (run && run.proc.exitCode === null && run.proc.signalCode === null) {
      try {
        process.kill(-run.proc.pid, 'SIGINT');
      } catch {
        /* gone */
      }
      await run.proc.stop('SIGTERM', 30000);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('Adminer answers 200 on ADMINER_PORT, its login form filled in, and logs into the database', async () => {
    run = await startMakeRun(dir);
    const base = `http://127.0.0.1:${run.ports.ADMINER_PORT}`;
    const jar = {};
    const page = await fetch(`${base}/`, { signal: AbortSignal.timeout(10000) });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<title>Login - cacheme/);
    assert.match(html, new RegExp(`name="auth\\[server\\]" value="127\\.0\\.0\\.1:${run.ports.PG_PORT}"`));
    assert.match(html, /name="auth\[username\]" id="username" value="cacheme"/);
    assert.match(html, /<option value="pgsql" selected>PostgreSQL/);
    // Log in as the form is filled in (no password: the private PostgreSQL trusts local connections).
    const login = await fetch(`${base}/`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: keepCookies(page, jar) },
      body: new URLSearchParams({
        'auth[driver]': 'pgsql', 'auth[server]': `127.0.0.1:${run.ports.PG_PORT}`, 'auth[username]': 'cacheme',
        'auth[password]': '', 'auth[db]': 'cacheme',
      }),
      signal: AbortSignal.timeout(10000),
    });
    assert.equal(login.status, 302, await login.text());
    const cookie = keepCookies(login, jar);
    const schema = await fetch(`${base}/?pgsql=127.0.0.1%3A${run.ports.PG_PORT}&username=cacheme&db=cacheme&ns=public`, {
      headers: { cookie },
      signal: AbortSignal.timeout(10000),
    });
    assert.equal(schema.status, 200);
    const schemaHtml = await schema.text();
    assert.match(schemaHtml, /<title>Schema: public/);
    assert.match(schemaHtml, /products/, 'the products table is listed');
  });

  test('Redis Commander answers 200 on REDIS_COMMANDER_PORT, connected to the private Redis', async () => {
    const base = `http://127.0.0.1:${run.ports.REDIS_COMMANDER_PORT}`;
    assert.equal((await request(`${base}/`)).status, 200);
    const info = await request(`${base}/apiv2/server/info`);
    assert.equal(info.status, 200);
    const [server] = info.body.data;
    assert.equal(server.port, run.ports.REDIS_PORT);
    assert.ok(server.info.some((e) => e.key === 'Redis version'), 'live INFO from the server');
  });

  test('the dashboard links to both; they and the service listen on 127.0.0.1 only', async () => {
    const config = await request(`http://127.0.0.1:${run.ports.UI_PORT}/config.json`);
    assert.equal(config.body.links.pgadmin, `http://localhost:${run.ports.ADMINER_PORT}/`);
    assert.equal(config.body.links.redis_commander, `http://localhost:${run.ports.REDIS_COMMANDER_PORT}/`);
    for (const name of ['ADMINER_PORT', 'REDIS_COMMANDER_PORT', 'PORT']) {
      assert.equal(await connectOutcome(run.ports[name], '127.0.0.2'), 'ECONNREFUSED', `${name} is not on 127.0.0.2`);
    }
  });

  test('Ctrl-C stops the admin tools with the rest: every process gone, every port closed', async () => {
    const pids = await ctrlC(run);
    assert.ok(pids.length >= 3, `pid files: cacheme, adminer, redis-commander (${pids})`);
    for (const pid of pids) await waitFor(() => !alive(pid), { timeout: 10000, message: `process ${pid} gone` });
    for (const [name, port] of Object.entries(run.ports)) {
      assert.equal(await connectOutcome(port), 'ECONNREFUSED', `${name} ${port} closed`);
    }
    const log = run.log();
    assert.match(log, /run: stopping the admin tools/);
    assert.equal(fs.readdirSync(run.runDir).filter((f) => f.endsWith('.pid')).length, 0, 'no pid file left');
  });

  test('ADMIN_TOOLS=0 leaves them out', async () => {
    run = await startMakeRun(dir, { ADMIN_TOOLS: '0' });
    assert.equal(await connectOutcome(run.ports.ADMINER_PORT), 'ECONNREFUSED');
    assert.equal(await connectOutcome(run.ports.REDIS_COMMANDER_PORT), 'ECONNREFUSED');
    const config = await request(`http://127.0.0.1:${run.ports.UI_PORT}/config.json`);
    assert.equal(config.body.links.pgadmin, null);
    assert.equal(config.body.links.redis_commander, null);
    await ctrlC(run);
    for (const [name, port] of Object.entries(run.ports)) {
      assert.equal(await connectOutcome(port), 'ECONNREFUSED', `${name} ${port} closed`);
    }
  });
});
