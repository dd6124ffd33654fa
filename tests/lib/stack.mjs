// The test harness of the integration, contract, e2e and deploy suites: one isolated stack per test
// file (or per group of tests), in its own temporary directory.
//
//   PostgreSQL  scripts/services.sh pg-init DIR (copies CACHEME_PG_TEMPLATE when set) + pg-start DIR PORT
//   Redis       redis-server spawned directly as our child, so tests can kill -9 / SIGSTOP / restart it
//               on the same port
//   cacheme     $CACHEME_BIN migrate, then $CACHEME_BIN serve on a free port, stderr captured to a file
//
// Teardown stops only what this harness started (by PID), removes the directory and, when
// CACHEME_SANITIZED=1, fails if any service log contains AddressSanitizer, LeakSanitizer or UBSan
// reports. Set CACHEME_KEEP_TMP=1 to keep the directory (its path is printed) for post-mortems, and
// CACHEME_TEST_LOG_LEVEL=debug for a more talkative service log (cacheme-N.log in that directory).

import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, SERVICES_SH, cachemeBin } from './repo.mjs';
import { atEmergencyExit, pidAlive, runOk, spawnTracked, trackPid, untrackPid, within } from './process.mjs';
import { freePort, makeTempDir, waitFor, request } from './util.mjs';
import { redisCommand, redisKeys } from './resp.mjs';

export { REPO_ROOT, cachemeBin };
export const SANITIZED = process.env.CACHEME_SANITIZED === '1';

// Text that means a sanitizer found something.
const SANITIZER_PATTERNS = [/ERROR: AddressSanitizer/, /LeakSanitizer/, /runtime error:/];

/** Throw when `text` (a service log) carries a sanitizer report. */
export function assertNoSanitizerReports(text, where) {
  for (const re of SANITIZER_PATTERNS) {
    const m = re.exec(text);
    if (m) {
      const excerpt = text.slice(Math.max(0, m.index - 200), m.index + 2000);
      throw new Error(`sanitizer report in ${where}:\n${excerpt}`);
    }
  }
}

/** Run scripts/services.sh with a bounded timeout; returns trimmed stdout. */
async function services(args, { timeout = 120000, env = process.env } = {}) {
  if (!fs.existsSync(SERVICES_SH)) throw new Error(`${SERVICES_SH} is missing`);
  return (await runOk('bash', [SERVICES_SH, ...args], { timeout, env })).trim();
}

/** Run the binary once (migrate, --version, ...) and collect its output; bounded by `timeout`. */
export function runCacheme(args, { env = {}, timeout = 30000, cwd = REPO_ROOT } = {}) {
  return new Promise((resolve, reject) => {
    const { proc, exited } = spawnTracked(cachemeBin(), args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }, 'SIGKILL');
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (d) => (stdout += d));
    proc.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
    }, timeout);
    exited.then(({ code, signal, error }) => {
      clearTimeout(timer);
      if (error) return reject(error);
      if (SANITIZED) {
        try {
          assertNoSanitizerReports(stderr, `cacheme ${args.join(' ')}`);
        } catch (e) {
          return reject(e);
        }
      }
      resolve({ code, signal, stdout, stderr, timedOut: signal === 'SIGKILL' });
    });
  });
}

// ---------------------------------------------------------------------------------------------

/** One running cacheme serve process. */
class Service {
  constructor(stack, { port, uiPort, env, args, logPath }) {
    this.stack = stack;
    this.port = port;
    this.uiPort = uiPort; // the dashboard port (UI_PORT), 0 when it is off
    this.env = env;
    this.args = args;
    this.logPath = logPath;
    this.url = `http://127.0.0.1:${port}`;
    this.exitInfo = undefined; // set when the process has exited
    this.stopping = false; // true once the harness itself signalled it
  }

  start() {
    const fd = fs.openSync(this.logPath, 'a');
    try {
      const { proc, exited } = spawnTracked(cachemeBin(), this.args, { cwd: REPO_ROOT, env: this.env, stdio: ['ignore', fd, fd] }, 'SIGKILL');
      this.proc = proc;
      this.pid = proc.pid;
      this.exited = exited.then((info) => {
        this.exitInfo = info;
        return info;
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Send a signal (SIGTERM by default) and resolve with { code, signal, ms } once it has exited. */
  async signal(sig = 'SIGTERM', { timeout = 15000 } = {}) {
    this.stopping = true;
    const t0 = performance.now();
    if (!this.exitInfo) this.proc.kill(sig);
    const info = await within(this.exited, timeout);
    if (!info) throw new Error(`cacheme (pid ${this.pid}) did not exit within ${timeout} ms of ${sig}`);
    return { ...info, ms: performance.now() - t0 };
  }

  /** Poll /health until it answers at all (any status), failing fast if the process exits. */
  async waitUntilAnswering(timeout = 15000) {
    await waitFor(
      async () => {
        if (this.exitInfo) {
          throw Object.assign(new Error(`cacheme exited during start-up: ${JSON.stringify(this.exitInfo)}\n${this.log().slice(-3000)}`), { fatal: true });
        }
        const r = await request(`${this.url}/health`, { timeout: 2000 });
        return r.status > 0;
      },
      { timeout, interval: 50, message: `cacheme /health on port ${this.port}` },
    ).catch((err) => {
      throw new Error(`${err.message}\n--- cacheme log ---\n${this.log().slice(-3000)}`);
    });
  }
}

/** An isolated PostgreSQL + Redis + cacheme stack in a temporary directory. */
export class Stack {
  constructor() {
    // PostgreSQL runs as the postgres user when we are root: it must be able to reach DIR/pg.
    this.dir = makeTempDir('stack');
    this.forgetDir = atEmergencyExit(() => {
      if (process.env.CACHEME_KEEP_TMP !== '1') fs.rmSync(this.dir, { recursive: true, force: true });
    });
    this.pgDir = path.join(this.dir, 'pg');
    this.redisDir = path.join(this.dir, 'redis');
    fs.mkdirSync(this.redisDir);
    this.services = []; // every Service ever started, for log checks
    this.service = undefined; // the current one
    this.pgRunning = false;
    this.pgPid = undefined;
  }

  get databaseUrl() {
    return `postgresql://cacheme@127.0.0.1:${this.pgPort}/cacheme`;
  }

  get redisUrl() {
    return `redis://127.0.0.1:${this.redisPort}/0`;
  }

  /** Base URL of the current cacheme. */
  get url() {
    return this.service.url;
  }

  get port() {
    return this.service.port;
  }

  /** The dashboard port (UI_PORT) of the current cacheme; 0 when a test turned it off. */
  get uiPort() {
    return this.service.uiPort;
  }

  // ----- PostgreSQL ------------------------------------------------------------------------

  async initPostgres() {
    this.pgPort = await freePort();
    // A throwaway cluster: no fsync (unless the caller decided otherwise).
    await services(['pg-init', this.pgDir], { env: { CACHEME_PG_FAST: '1', ...process.env } });
    await this.startPostgres();
  }

  async startPostgres() {
    const out = await services(['pg-start', this.pgDir, String(this.pgPort)]);
    const pid = Number(out.split(/\s+/).filter(Boolean).pop());
    if (Number.isInteger(pid) && pid > 0) {
      this.pgPid = pid;
      trackPid(pid, 'SIGQUIT'); // immediate shutdown on emergency
    }
    this.pgRunning = true;
  }

  /** pg-stop DIR fast (or immediate); waits until PostgreSQL is down. */
  async stopPostgres(mode = 'fast') {
    await services(['pg-stop', this.pgDir, mode]);
    this.pgRunning = false;
    if (this.pgPid) {
      await waitFor(() => !pidAlive(this.pgPid), { timeout: 15000, message: 'postmaster exit' });
      untrackPid(this.pgPid);
    }
  }

  // The postmaster and its backends: its process group when pg_ctl made it a group leader,
  // otherwise the postmaster and its direct children.
  postgresPids() {
    const pids = [this.pgPid];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[1]) === this.pgPid) pids.push(Number(entry)); // ppid
      } catch {
        /* gone */
      }
    }
    return pids;
  }

  /**
   * SIGSTOP PostgreSQL (postmaster and backends): queries hang instead of failing. Resolves once the
   * stop has taken effect on every process (kill() returns before it does): from then on no query
   * sent can be answered, so what a test sees after this is the service's own doing.
   */
  async pausePostgres(timeout = 5000) {
    const stopped = (pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        return state === 'T' || state === 't';
      } catch {
        return true; // gone
      }
    };
    // A backend the postmaster forked while the list was read is stopped on the next pass; once the
    // postmaster itself is stopped, no new one appears.
    this.pgPaused = [];
    for (;;) {
      const fresh = this.postgresPids().filter((pid) => !this.pgPaused.includes(pid));
      if (fresh.length === 0) break;
      for (const pid of fresh) {
        try {
          process.kill(pid, 'SIGSTOP');
        } catch {
          /* gone */
        }
      }
      this.pgPaused.push(...fresh);
      await waitFor(() => this.pgPaused.every(stopped), { timeout, interval: 5, message: 'PostgreSQL stopped (SIGSTOP in effect)' });
    }
  }

  resumePostgres() {
    for (const pid of this.postgresPids().concat(this.pgPaused ?? [])) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    this.pgPaused = undefined;
  }

  /** Run SQL with psql against the stack's database; returns trimmed unaligned output. */
  async psql(sql) {
    const stdout = await runOk('psql', ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d', this.databaseUrl, '-c', sql], { timeout: 30000 });
    return stdout.trim();
  }

  /** One product as PostgreSQL has it (row_to_json), or null when there is no such row. */
  async dbProduct(id) {
    const out = await this.psql(`SELECT row_to_json(p) FROM products p WHERE id = ${Number(id)}`);
    return out === '' ? null : JSON.parse(out);
  }

  /** The seeded products as PostgreSQL has them, ordered by id (ground truth for the tests). */
  async dbProducts() {
    const out = await this.psql('SELECT coalesce(json_agg(row_to_json(p) ORDER BY p.id), \'[]\') FROM products p');
    return JSON.parse(out);
  }

  // ----- Redis -----------------------------------------------------------------------------

  /** Spawn redis-server on this.redisPort (chosen on first start, reused on restarts). */
  async startRedis() {
    if (!this.redisPort) this.redisPort = await freePort();
    const logPath = path.join(this.redisDir, 'redis.log');
    const fd = fs.openSync(logPath, 'a');
    try {
      const { proc, exited } = spawnTracked(
        'redis-server',
        ['--port', String(this.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.redisDir, '--enable-debug-command', 'local'],
        { cwd: this.redisDir, stdio: ['ignore', fd, fd] },
        'SIGKILL',
      );
      this.redis = { proc, exited, pid: proc.pid, paused: false };
    } finally {
      fs.closeSync(fd);
    }
    const redis = this.redis;
    await waitFor(
      async () => {
        if (await within(redis.exited, 0)) throw new Error(`redis-server exited: ${fs.readFileSync(logPath, 'utf8').slice(-2000)}`);
        return (await this.redisCmd('PING')) === 'PONG';
      },
      { timeout: 15000, message: `redis-server PING on port ${this.redisPort}` },
    );
  }

  /** kill -9 (by default) the redis-server child and wait for it to be gone. */
  async killRedis(sig = 'SIGKILL') {
    const redis = this.redis;
    if (!redis) return;
    if (redis.paused) this.resumeRedis();
    redis.proc.kill(sig);
    const info = await within(redis.exited, 15000);
    if (!info) throw new Error(`redis-server did not exit after ${sig}`);
    this.redis = undefined;
  }

  /** Send SIGSTOP to Redis. kill() returns before the stop takes effect: see waitRedisPaused. */
  pauseRedis() {
    this.redis.proc.kill('SIGSTOP');
    this.redis.paused = true;
  }

  /** Whether every thread of redis-server is stopped (state T or t in /proc/<pid>/task/<tid>/stat). */
  redisStopped() {
    const dir = `/proc/${this.redis.proc.pid}/task`;
    return fs.readdirSync(dir).every((tid) => {
      const stat = fs.readFileSync(`${dir}/${tid}/stat`, 'utf8');
      // "<tid> (<comm>) <state> …": comm may hold spaces and parentheses, so read after the last ')'.
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state === 'T' || state === 't';
    });
  }

  /**
   * Wait until the SIGSTOP of pauseRedis has taken effect: from then on Redis answers nothing, so a
   * request sent after this resolves cannot be answered from the cache.
   */
  async waitRedisPaused(timeout = 5000) {
    await waitFor(() => this.redisStopped(), { timeout, interval: 5, message: 'redis-server stopped (SIGSTOP in effect)' });
  }

  resumeRedis() {
    if (this.redis && this.redis.paused) {
      this.redis.proc.kill('SIGCONT');
      this.redis.paused = false;
    }
  }

  /** One Redis command straight to the stack's Redis (not through cacheme). */
  redisCmd(...args) {
    return redisCommand(this.redisPort, args);
  }

  redisKeys(pattern) {
    return redisKeys(this.redisPort, pattern);
  }

  /**
   * Wait until all these keys exist. cacheme answers a miss first and stores the product after
   * (the client does not wait for the SET), so a test that needs the key must wait for it.
   */
  async waitForKeys(keys, timeout = 10000) {
    const list = Array.isArray(keys) ? keys : [keys];
    await waitFor(async () => (await this.redisCmd('EXISTS', ...list)) === list.length, {
      timeout,
      interval: 10,
      message: `Redis keys ${list.join(', ')}`,
    });
  }

  // ----- cacheme ---------------------------------------------------------------------------

  /**
   * Environment for a cacheme process: the stack's URLs, then per-test overrides. uiPort is the
   * dashboard port (UI_PORT); 0, the default here, turns it off for one-off runs that never listen.
   */
  serviceEnv(port, overrides = {}, uiPort = 0) {
    const env = { ...process.env };
    // Settings from the caller's shell must not leak into the service under test.
    for (const k of Object.keys(env)) {
      if (/^(DATABASE_URL|DATABASE_REPLICA_URL|REDIS_URL|HOST|PORT|CACHE_[A-Z_]+|LOG_LEVEL|WORKERS|L1_[A-Z_]+|PG_[A-Z_]+|REDIS_[A-Z_]+|REQUEST_TIMEOUT_MS|IDLE_TIMEOUT_SECONDS|MAX_[A-Z_]+|CORS_ORIGINS|SESSION_[A-Z_]+|ANALYTICS[A-Z_]*|EVENTS_[A-Z_]+|INSTANCE_ID|RATE_LIMIT[A-Z_]*|TRUSTED_PROXIES|API_KEYS|UI_[A-Z_]+|PGADMIN_URL|SWAGGER_UI_DIR|REDOC_DIR)$/.test(k)) delete env[k];
    }
    // The dashboard port is on, as by default, on a port of its own (the default 3000 would collide
    // between stacks): the two servers of a loop must not disturb each other.
    Object.assign(env, { DATABASE_URL: this.databaseUrl, REDIS_URL: this.redisUrl, HOST: '127.0.0.1', LOG_LEVEL: process.env.CACHEME_TEST_LOG_LEVEL || 'info', UI_PORT: String(uiPort) });
    if (port !== undefined) env.PORT = String(port);
    for (const [k, v] of Object.entries(overrides)) {
      if (v === undefined || v === null) delete env[k];
      else env[k] = String(v);
    }
    return env;
  }

  /** Run `cacheme migrate` against the stack. */
  migrate(extraEnv = {}) {
    return runCacheme(['migrate'], { env: this.serviceEnv(undefined, extraEnv), timeout: 60000 });
  }

  /**
   * Start `cacheme serve` on a fresh free port (a new port on every start, so pooled keep-alive
   * connections of an earlier process are never reused), with the dashboard on another fresh free
   * port unless `env` sets UI_PORT, and wait until /health answers.
   * `env` overrides settings; `args` replaces the argument list (default ['serve']); with
   * portViaFlag the port is given as `--port P` instead of PORT.
   */
  async startService({ env = {}, args, portViaFlag = false, wait = true } = {}) {
    const port = await freePort();
    const uiPort = await freePort();
    const n = this.services.length + 1;
    const serviceEnv = this.serviceEnv(portViaFlag ? undefined : port, env, uiPort);
    const svc = new Service(this, {
      port,
      uiPort: Number(serviceEnv.UI_PORT),
      env: serviceEnv,
      args: portViaFlag ? [...(args ?? ['serve']), '--port', String(port)] : (args ?? ['serve']),
      logPath: path.join(this.dir, `cacheme-${n}.log`),
    });
    svc.start();
    this.services.push(svc);
    this.service = svc;
    if (wait) await svc.waitUntilAnswering();
    return svc;
  }

  /** SIGTERM the current cacheme (if running) and start a new one with these options. */
  async restartService(opts = {}) {
    if (this.service && !this.service.exitInfo) {
      const info = await this.service.signal('SIGTERM');
      if (info.code !== 0) throw new Error(`cacheme exited with ${JSON.stringify(info)} on restart`);
    }
    return this.startService(opts);
  }

  /** Request a path of the current service through fetch; see util.request. */
  get(pathname, init) {
    return request(`${this.url}${pathname}`, init);
  }

  /** Fail if any service log holds a sanitizer report (only meaningful with CACHEME_SANITIZED=1). */
  checkSanitizerLogs() {
    for (const svc of this.services) assertNoSanitizerReports(svc.log(), path.basename(svc.logPath));
  }

  // ----- teardown --------------------------------------------------------------------------

  /**
   * Stop everything this stack started, by PID, then remove its directory. Collects problems and
   * throws them after cleaning up: a service that exited without being told to (a crash), one that
   * would not stop on SIGTERM, or sanitizer reports when CACHEME_SANITIZED=1.
   */
  async teardown() {
    const problems = [];
    this.resumeRedis();
    if (this.pgPaused) this.resumePostgres();
    for (const svc of this.services) {
      if (!svc.proc) continue;
      if (svc.exitInfo && !svc.stopping) {
        problems.push(`cacheme pid ${svc.pid} exited on its own: ${JSON.stringify(svc.exitInfo)}\n${svc.log().slice(-3000)}`);
      }
      if (!svc.exitInfo) {
        svc.stopping = true;
        svc.proc.kill('SIGTERM');
        const info = await within(svc.exited, 15000);
        if (!info) {
          svc.proc.kill('SIGKILL');
          await within(svc.exited, 5000);
          problems.push(`cacheme pid ${svc.pid} ignored SIGTERM for 15 s`);
        }
      }
    }
    if (SANITIZED) {
      try {
        this.checkSanitizerLogs();
      } catch (err) {
        problems.push(err.message);
      }
    }
    if (this.redis) {
      this.redis.proc.kill('SIGKILL');
      await within(this.redis.exited, 5000);
      this.redis = undefined;
    }
    if (this.pgRunning || (this.pgPid && pidAlive(this.pgPid))) {
      try {
        await services(['pg-stop', this.pgDir, 'immediate'], { timeout: 30000 });
      } catch (err) {
        problems.push(err.message);
      }
      if (this.pgPid && pidAlive(this.pgPid)) {
        process.kill(this.pgPid, 'SIGQUIT');
        await waitFor(() => !pidAlive(this.pgPid), { timeout: 10000, message: 'postmaster exit' }).catch(() => {});
      }
      if (this.pgPid) untrackPid(this.pgPid);
      this.pgRunning = false;
    }
    if (process.env.CACHEME_KEEP_TMP === '1') {
      process.stderr.write(`# kept stack directory ${this.dir}\n`);
    } else {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
    this.forgetDir();
    if (problems.length) throw new Error(problems.join('\n\n'));
  }
}

/**
 * Start a complete stack: PostgreSQL and Redis in parallel, `cacheme migrate`, then `cacheme serve`
 * (unless serve: false) with the given env overrides.
 */
export async function startStack({ env = {}, serve = true, migrate = true } = {}) {
  const stack = new Stack();
  try {
    await Promise.all([stack.initPostgres(), stack.startRedis()]);
    if (migrate) {
      const m = await stack.migrate();
      if (m.code !== 0) throw new Error(`cacheme migrate exited ${m.code} (${m.signal ?? ''}): ${m.stderr}${m.stdout}`);
    }
    if (serve) await stack.startService({ env });
    return stack;
  } catch (err) {
    await stack.teardown().catch(() => {});
    throw err;
  }
}

