// The image's build, checked without a Docker engine. deploy/docker/Dockerfile builds in two stages
// that both run scripts/build.sh; here each stage's COPY lines are carried out into a clean
// directory (from the files .dockerignore lets into the build context) and the stage's RUN line that
// builds is run there verbatim. The results are assembled as the final stage's COPY --from lines do,
// and the binary is run from that layout with the final stage's ENV, against real PostgreSQL and
// Redis. The final stage's package list is compared with the libraries the binary links against.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { aptPackages, contextCopies, dockerignore, parseDockerfile } from './lib/files.mjs';
import { REPO_ROOT, readRepoFile } from '../lib/repo.mjs';
import { run, runOk, startProcess } from '../lib/process.mjs';
import { startStack } from '../lib/stack.mjs';
import { freePort, makeTempDir, request, waitFor } from '../lib/util.mjs';

const dockerfile = parseDockerfile(readRepoFile('deploy/docker/Dockerfile'));
const stages = dockerfile.stages;
const finalStage = stages.at(-1);
const stageByName = Object.fromEntries(stages.filter((s) => s.name).map((s) => [s.name, s]));
const HEALTHCHECK = path.join(REPO_ROOT, 'deploy', 'docker', 'healthcheck.sh');

/** The final stage's ENV as an object. */
function finalEnv() {
  const envs = {};
  for (const i of finalStage.instructions.filter((x) => x.op === 'ENV')) {
    for (const m of i.args.matchAll(/(\w+)=(\S+)/g)) envs[m[1]] = m[2];
  }
  return envs;
}

/**
 * Debian packages that own the files given (dpkg -S), without the ":amd64" suffix. With merged /usr,
 * dpkg knows a library under the name its package shipped it (/lib/... or /usr/lib/..., before or
 * after symbolic links), so each spelling is tried.
 */
async function owners(files) {
  const found = new Set();
  for (const file of files) {
    const real = fs.realpathSync(file);
    const spellings = [file, real].flatMap((f) => [f, f.startsWith('/usr/lib/') ? f.slice(4) : `/usr${f}`]);
    let owner;
    for (const f of spellings) {
      const r = await run('dpkg', ['-S', f]);
      if (r.code === 0) {
        owner = r.stdout.trim().split('\n')[0].split(':')[0];
        break;
      }
    }
    assert.ok(owner, `a Debian package owns ${file}`);
    found.add(owner);
  }
  return [...found];
}

describe('Dockerfile', () => {
  test('stages: dashboard (Node.js on Debian 12), service and the final image from debian:bookworm-slim', () => {
    assert.deepEqual(stages.map((s) => s.name), ['dashboard', 'service', null]);
    assert.match(stageByName.dashboard.from, /^node:\d+-bookworm-slim$/);
    assert.equal(stageByName.service.from, 'debian:bookworm-slim');
    assert.equal(finalStage.from, 'debian:bookworm-slim');
  });

  test('both build stages run scripts/build.sh, the script a local build runs', () => {
    for (const name of ['dashboard', 'service']) {
      const runs = stageByName[name].instructions.filter((i) => i.op === 'RUN' && i.args.includes('scripts/build.sh'));
      assert.equal(runs.length, 1, `${name} runs scripts/build.sh once`);
    }
    assert.match(readRepoFile('scripts/run.sh'), /^scripts\/build\.sh$/m, 'make run builds with scripts/build.sh');
  });

  test('the final image: runtime libraries only, a non-root user, a health check, no build tools', () => {
    const ops = finalStage.instructions.map((i) => i.op);
    const user = finalStage.instructions.filter((i) => i.op === 'USER').at(-1);
    assert.ok(user, 'USER is set');
    assert.doesNotMatch(user.args, /^(root|0)(:|$)/, 'not root');
    assert.ok(ops.includes('HEALTHCHECK'), 'HEALTHCHECK');
    const hc = finalStage.instructions.find((i) => i.op === 'HEALTHCHECK');
    assert.match(hc.args, /cacheme-healthcheck/);
    const copyFrom = finalStage.instructions.filter((i) => i.op === 'COPY' && /--from=/.test(i.args)).map((i) => i.args);
    assert.deepEqual(copyFrom, ['--from=service /src/out/ /', '--from=dashboard /src/out/ /']);
    const apt = finalStage.instructions.filter((i) => i.op === 'RUN').flatMap((i) => aptPackages(i.args));
    for (const p of apt) assert.doesNotMatch(p, /-dev$|^build-essential$|^gcc|^make$|^nodejs$|^npm$|^pkg-config$/, `no build tool: ${p}`);
  });

  test('the final stage installs exactly the packages of the libraries build/cacheme links against', async () => {
    const bin = path.join(REPO_ROOT, 'build', 'cacheme');
    const needed = [...(await runOk('readelf', ['-d', bin])).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    assert.ok(needed.length > 0, 'readelf found NEEDED entries');
    const ldd = await runOk('ldd', [bin]);
    const paths = needed.map((lib) => {
      const m = new RegExp(`^\\s*${lib.replace(/[.+]/g, '\\$&')} => (\\S+)`, 'm').exec(ldd);
      assert.ok(m, `ldd resolves ${lib}`);
      return m[1];
    });
    const packages = (await owners(paths)).filter((p) => p !== 'libc6').sort();
    const apt = finalStage.instructions.filter((i) => i.op === 'RUN').flatMap((i) => aptPackages(i.args)).sort();
    assert.deepEqual(apt, packages);
  });

  test('the service stage installs the -dev package of every pkg-config module the Makefile uses', async () => {
    const pkgs = /^PKGS\s*:=\s*(.*)$/m.exec(readRepoFile('Makefile'))[1].trim().split(/\s+/);
    const pcFiles = [];
    for (const mod of pkgs) {
      const dir = (await runOk('pkg-config', ['--variable=pcfiledir', mod])).trim();
      pcFiles.push(path.join(dir, `${mod}.pc`));
    }
    const apt = stageByName.service.instructions.filter((i) => i.op === 'RUN').flatMap((i) => aptPackages(i.args));
    for (const p of await owners(pcFiles)) assert.ok(apt.includes(p), `service stage installs ${p}`);
    for (const p of ['build-essential', 'pkg-config']) assert.ok(apt.includes(p), `service stage installs ${p}`);
  });

  test('.dockerignore lets in every file the COPY lines name, and no local state', () => {
    const included = dockerignore(readRepoFile('.dockerignore'));
    for (const stage of stages) {
      for (const { sources } of contextCopies(stage)) {
        for (const src of sources) {
          const rel = src.replace(/\/$/, '');
          assert.ok(fs.existsSync(path.join(REPO_ROOT, rel)), `${rel} exists`);
          assert.ok(included(rel) || included(`${rel}/x`), `${rel} is in the build context`);
        }
      }
    }
    for (const p of ['web/node_modules/astro/package.json', 'web/dist/index.html', 'build/cacheme', '.run/cacheme.pid', 'test-results/x.tap']) {
      assert.equal(included(p), false, `${p} stays out`);
    }
  });
});

describe('the Dockerfile build steps, run in clean directories', () => {
  let dir;
  let rootfs;
  let servers;
  let service;

  /** The files of the checkout that `src` (a COPY source) names and the build context holds. */
  function contextFiles(src, included, tracked) {
    const rel = src.replace(/\/$/, '');
    return tracked.filter((f) => (f === rel || f.startsWith(`${rel}/`)) && included(f));
  }

  /** Carry out a stage's context COPY lines into `stageDir` (WORKDIR), then run its build RUN line there. */
  async function buildStage(name, tracked, included) {
    const stage = stageByName[name];
    const stageDir = path.join(dir, name);
    fs.mkdirSync(stageDir);
    for (const { sources, dest } of contextCopies(stage)) {
      for (const src of sources) {
        const files = contextFiles(src, included, tracked);
        assert.ok(files.length > 0, `COPY ${src} copies something`);
        for (const f of files) {
          // COPY dir/ dest/ copies the directory's contents into dest; COPY file dest/ puts it there.
          const rel = src.endsWith('/') ? path.relative(src.replace(/\/$/, ''), f) : path.basename(f);
          const target = path.join(stageDir, dest.endsWith('/') ? path.join(dest, rel) : dest);
          fs.mkdirSync(path.dirname(target), { recursive: true });
          fs.copyFileSync(path.join(REPO_ROOT, f), target);
          fs.chmodSync(target, fs.statSync(path.join(REPO_ROOT, f)).mode);
        }
      }
    }
    const build = stage.instructions.find((i) => i.op === 'RUN' && i.args.includes('scripts/build.sh'));
    const r = await run('bash', ['-c', build.args], { cwd: stageDir, timeout: 900000 });
    assert.equal(r.code, 0, `RUN ${build.args} in ${name}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    return stageDir;
  }

  before(async () => {
    dir = makeTempDir('deploy-build');
    // What the build context can hold: the checkout's files that git does not ignore.
    const tracked = (await runOk('git', ['ls-files', '--cached', '--others', '--exclude-standard'])).trim().split('\n')
      .filter((f) => fs.existsSync(path.join(REPO_ROOT, f)));
    const included = dockerignore(readRepoFile('.dockerignore'));
    const dashboard = await buildStage('dashboard', tracked, included);
    const svc = await buildStage('service', tracked, included);
    // COPY --from=service /src/out/ / and COPY --from=dashboard /src/out/ /
    rootfs = path.join(dir, 'rootfs');
    fs.cpSync(path.join(svc, 'out'), rootfs, { recursive: true });
    fs.cpSync(path.join(dashboard, 'out'), rootfs, { recursive: true });
    servers = await startStack({ serve: false, migrate: false });
  });

  after(async () => {
    await service?.stop();
    await servers?.teardown();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the image layout: the binary, the dashboard, the Swagger UI and ReDoc files where ENV points', () => {
    const e = finalEnv();
    assert.ok(fs.statSync(path.join(rootfs, 'usr/local/bin/cacheme')).mode & 0o111, 'cacheme is executable');
    assert.deepEqual(fs.readdirSync(path.join(rootfs, 'usr/local/bin')), ['cacheme'], 'the service only: no load generator');
    assert.ok(fs.existsSync(path.join(rootfs, e.UI_DIR, 'index.html')), `${e.UI_DIR}/index.html`);
    for (const f of ['swagger-ui.css', 'swagger-ui-bundle.js', 'LICENSE']) {
      assert.ok(fs.existsSync(path.join(rootfs, e.SWAGGER_UI_DIR, f)), `${e.SWAGGER_UI_DIR}/${f}`);
    }
    for (const f of ['redoc.standalone.js', 'LICENSE']) {
      assert.ok(fs.existsSync(path.join(rootfs, e.REDOC_DIR, f)), `${e.REDOC_DIR}/${f}`);
    }
  });

  test('the built binary serves the API, /docs, /redoc and the dashboard from that layout', async () => {
    const e = finalEnv();
    const port = await freePort();
    const uiPort = await freePort();
    service = startProcess(path.join(rootfs, 'usr/local/bin/cacheme'), ['serve'], {
      cwd: dir,
      logPath: path.join(dir, 'cacheme.log'),
      env: {
        PATH: process.env.PATH,
        // The final stage's environment, its paths inside the assembled root; only loopback here.
        ...e,
        UI_DIR: path.join(rootfs, e.UI_DIR),
        SWAGGER_UI_DIR: path.join(rootfs, e.SWAGGER_UI_DIR),
        REDOC_DIR: path.join(rootfs, e.REDOC_DIR),
        HOST: '127.0.0.1',
        PORT: String(port),
        UI_PORT: String(uiPort),
        DATABASE_URL: servers.databaseUrl,
        REDIS_URL: servers.redisUrl,
      },
    });
    await runOk(path.join(rootfs, 'usr/local/bin/cacheme'), ['migrate'], { env: { PATH: process.env.PATH, DATABASE_URL: servers.databaseUrl } });
    const health = await waitFor(async () => {
      const r = await request(`http://127.0.0.1:${port}/health`);
      return r.status === 200 && r;
    }, { timeout: 20000, interval: 100, message: 'GET /health 200' });
    assert.equal(health.body.status, 'healthy');
    const product = await request(`http://127.0.0.1:${port}/products/1`);
    assert.equal(product.status, 200);
    assert.equal(product.body.id, 1);
    for (const f of ['swagger-ui.css', 'swagger-ui-bundle.js']) {
      assert.equal((await request(`http://127.0.0.1:${port}/docs/${f}`)).status, 200, `/docs/${f}`);
    }
    assert.equal((await request(`http://127.0.0.1:${port}/redoc/redoc.standalone.js`)).status, 200, '/redoc/redoc.standalone.js');
    const page = await request(`http://127.0.0.1:${uiPort}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);

    // The image has no load generator: `cacheme bench` says so and exits 2.
    const benchRun = await run(path.join(rootfs, 'usr/local/bin/cacheme'), ['bench', '--help'], { env: { PATH: process.env.PATH } });
    assert.equal(benchRun.code, 2);
    assert.match(benchRun.stderr, /cacheme-bench is not installed beside this binary/);

    // The image's health check script, as HEALTHCHECK and docker-compose.yml run it.
    assert.equal((await run(HEALTHCHECK, [], { env: { PATH: process.env.PATH, PORT: String(port) } })).code, 0, 'API /health');
    assert.equal((await run(HEALTHCHECK, [String(uiPort), '/'], { env: { PATH: process.env.PATH } })).code, 0, 'dashboard /');
  });
});

describe('cacheme-healthcheck', () => {
  test('fails on a status other than 200 and on a closed port', async () => {
    const server = http.createServer((req, res) => {
      res.writeHead(req.url === '/health' ? 503 : 200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    try {
      const env = { PATH: process.env.PATH };
      assert.equal((await run(HEALTHCHECK, [String(port)], { env })).code, 1, '503 is unhealthy');
      assert.equal((await run(HEALTHCHECK, [String(port), '/other'], { env })).code, 0, '200 is healthy');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const closed = await freePort();
    assert.equal((await run(HEALTHCHECK, [String(closed)], { env: { PATH: process.env.PATH } })).code, 1, 'closed port');
  });
});
