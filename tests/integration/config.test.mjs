// The command line and configuration: --version, --help, bad values (exit 2 naming the setting),
// flags overriding the environment, and `cacheme migrate` being idempotent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, runCacheme } from '../lib/stack.mjs';
import { connectOutcome, freePort } from '../lib/util.mjs';

let stack;

before(async () => {
  stack = await startStack({ serve: false });
});

after(async () => {
  await stack?.teardown();
});

test('--version prints "cacheme 0.1.0" and exits 0', async () => {
  const r = await runCacheme(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'cacheme 0.1.0');
});

test('--help exits 0 and describes serve and migrate', async () => {
  const r = await runCacheme(['--help']);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout + r.stderr;
  assert.match(text, /serve/);
  assert.match(text, /migrate/);
});

// [environment, pattern naming the setting]
const BAD_ENV = [
  [{ PORT: 'abc' }, /PORT/i],
  [{ PORT: '70000' }, /PORT/i],
  [{ PORT: '-1' }, /PORT/i],
  [{ CACHE_TTL_SECONDS: 'abc' }, /CACHE_TTL_SECONDS|cache-ttl-seconds/i],
  [{ CACHE_TTL_SECONDS: '-5' }, /CACHE_TTL_SECONDS|cache-ttl-seconds/i],
  [{ WORKERS: 'many' }, /WORKERS/i],
  [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL|log-level/i],
  [{ REDIS_TIMEOUT_MS: 'abc' }, /REDIS_TIMEOUT_MS|redis-timeout-ms/i],
  [{ PG_TIMEOUT_MS: '10x' }, /PG_TIMEOUT_MS|pg-timeout-ms/i],
  [{ PG_POOL_SIZE: 'abc' }, /PG_POOL_SIZE|pg-pool-size/i],
  [{ PG_PIPELINE_DEPTH: '0' }, /PG_PIPELINE_DEPTH|pg-pipeline-depth/i],
  [{ PG_PIPELINE_DEPTH: '257' }, /PG_PIPELINE_DEPTH|pg-pipeline-depth/i],
  [{ PG_BATCH_MAX: 'abc' }, /PG_BATCH_MAX|pg-batch-max/i],
  [{ PG_BATCH_WAIT_MS: '-1' }, /PG_BATCH_WAIT_MS|pg-batch-wait-ms/i],
  [{ PG_BATCH_WAIT_MS: '60001' }, /PG_BATCH_WAIT_MS|pg-batch-wait-ms/i],
  [{ MAX_BODY_BYTES: 'abc' }, /MAX_BODY_BYTES|max-body-bytes/i],
  [{ CACHE_BYPASS: 'maybe' }, /CACHE_BYPASS|cache-bypass/i],
  [{ REDIS_URL: 'http://127.0.0.1:1/' }, /REDIS_URL|redis-url/i],
  // The product key is the hash tag of the keys beside it, so it cannot hold braces.
  [{ CACHE_KEY_PREFIX: '{p}:' }, /CACHE_KEY_PREFIX/],
  // The protections' settings, at and beyond their bounds.
  [{ TTL_JITTER_PERCENT: '91' }, /TTL_JITTER_PERCENT|ttl-jitter-percent/i],
  [{ NEGATIVE_TTL_SECONDS: '-1' }, /NEGATIVE_TTL_SECONDS|negative-ttl-seconds/i],
  [{ STAMPEDE_PROTECTION: 'sometimes' }, /STAMPEDE_PROTECTION|stampede-protection/i],
  [{ REFRESH_WINDOW_PERCENT: '0' }, /REFRESH_WINDOW_PERCENT|refresh-window-percent/i],
  [{ STALE_IF_ERROR_SECONDS: 'abc' }, /STALE_IF_ERROR_SECONDS|stale-if-error-seconds/i],
  [{ CIRCUIT_BREAKER: 'maybe' }, /CIRCUIT_BREAKER|circuit-breaker/i],
  [{ DB_DELAY_MS: '10001' }, /DB_DELAY_MS|db-delay-ms/i],
  // Cache warming: the mode's syntax and bounds, and the rate (0 would mean unpaced: refused).
  [{ CACHE_WARM: 'everything' }, /CACHE_WARM: "everything" is not one of none, all, top:N/],
  [{ CACHE_WARM: 'top:0' }, /CACHE_WARM/],
  [{ CACHE_WARM: 'top:101' }, /CACHE_WARM/],
  [{ CACHE_WARM_RATE: '0' }, /CACHE_WARM_RATE|cache-warm-rate/i],
  // The live events' fan-out: a boolean, and a channel name SUBSCRIBE can take.
  [{ EVENTS_FANOUT: 'sometimes' }, /EVENTS_FANOUT|events-fanout/i],
  [{ EVENTS_CHANNEL: '' }, /EVENTS_CHANNEL: "" must be a non-empty name without spaces/],
  [{ EVENTS_CHANNEL: 'two words' }, /EVENTS_CHANNEL: "two words" must be a non-empty name without spaces/],
];

for (const [env, naming] of BAD_ENV) {
  const [name, value] = Object.entries(env)[0];
  test(`${name}=${value} cacheme serve exits 2 naming the setting`, async () => {
    const r = await runCacheme(['serve'], { env: stack.serviceEnv(await freePort(), env), timeout: 15000 });
    assert.equal(r.timedOut, false, 'exited by itself');
    assert.equal(r.code, 2, `exit code (output: ${r.stderr}${r.stdout})`);
    assert.match(r.stderr + r.stdout, naming);
  });
}

test('a bad flag value exits 2 naming the setting', async () => {
  const r = await runCacheme(['serve', '--port', 'abc'], { env: stack.serviceEnv(undefined), timeout: 15000 });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr + r.stdout, /port/i);
});

test('an unknown flag exits 2', async () => {
  const r = await runCacheme(['serve', '--no-such-flag', 'x'], { env: stack.serviceEnv(await freePort()), timeout: 15000 });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr + r.stdout, /no-such-flag/);
});

test('an unknown command exits non-zero', async () => {
  const r = await runCacheme(['frobnicate'], { env: stack.serviceEnv(await freePort()), timeout: 15000 });
  assert.notEqual(r.code, 0);
  assert.equal(r.timedOut, false);
});

test('cacheme migrate twice leaves the 15 seeded rows', async () => {
  const again = await stack.migrate();
  assert.equal(again.code, 0, again.stderr);
  const third = await stack.migrate();
  assert.equal(third.code, 0, third.stderr);
  assert.equal(await stack.psql('SELECT count(*) FROM products'), '15');
  assert.equal(await stack.psql('SELECT count(DISTINCT name) FROM products'), '15');
});

test('cacheme migrate against an unreachable database fails', { timeout: 60000 }, async () => {
  const port = await freePort();
  const r = await runCacheme(['migrate'], {
    env: stack.serviceEnv(undefined, { DATABASE_URL: `postgresql://cacheme@127.0.0.1:${port}/cacheme` }),
    timeout: 45000,
  });
  assert.equal(r.timedOut, false, 'did not hang');
  assert.notEqual(r.code, 0);
  assert.ok((r.stderr + r.stdout).length > 0, 'says why');
});

test('--port as a flag serves on that port and beats PORT from the environment', async () => {
  const envPort = await freePort();
  const svc = await stack.startService({ env: { PORT: envPort }, portViaFlag: true });
  const r = await stack.get('/products/1');
  assert.equal(r.status, 200);
  assert.equal(r.body.id, 1);
  assert.equal(await connectOutcome(envPort), 'ECONNREFUSED', 'PORT from the environment is overridden');
  const list = await stack.get('/products');
  assert.equal(list.headers.get('x-total-count'), '15');
  const info = await svc.signal('SIGTERM');
  assert.equal(info.code, 0);
});

test('kebab-case flags set the other settings too (--cache-ttl-seconds, --cache-key-prefix, --ttl-jitter-percent, --stale-if-error-seconds)', async () => {
  await stack.redisCmd('FLUSHALL');
  // Jitter and the stale window off, so that the Redis TTL is exactly the flag's value.
  const svc = await stack.startService({ args: ['serve', '--cache-ttl-seconds', '77', '--cache-key-prefix', 'flag:', '--ttl-jitter-percent', '0', '--stale-if-error-seconds', '0'] });
  const r = await stack.get('/products/5');
  assert.equal(r.status, 200);
  await stack.waitForKeys('flag:5');
  const ttl = await stack.redisCmd('TTL', 'flag:5');
  assert.ok(ttl >= 72 && ttl <= 77, `TTL ${ttl}`);
  const info = await svc.signal('SIGTERM');
  assert.equal(info.code, 0);
});

// The connection budget (store/pg_budget): checked once at start-up against the real server.
async function budgetLine(env) {
  const svc = await stack.startService({ env });
  try {
    const line = svc.log().split('\n').find((l) => l.includes('connection budget'));
    assert.ok(line, `a connection-budget line in the log:\n${svc.log().slice(-2000)}`);
    assert.equal((await stack.get('/health')).status, 200, 'the service serves either way');
    return line;
  } finally {
    await svc.signal('SIGTERM');
  }
}

test('start-up warns when WORKERS x (PG_POOL_SIZE + 1) would take PostgreSQL past 80 % of its connections', async () => {
  // 8 × (10 + 1) = 88 of 100 − 3 reserved: the case that exhausted PostgreSQL with three replicas.
  const line = await budgetLine({ WORKERS: '8', PG_POOL_SIZE: '10' });
  assert.match(line, /level=warn/);
  assert.match(line, /opens 88 PostgreSQL connections \(WORKERS=8 x \(PG_POOL_SIZE=10 \+ 1\)\)/);
  assert.match(line, /max_connections=100 - superuser_reserved_connections=3/);
  assert.match(line, /N instances need N x 88/);
});

test('start-up logs the connection budget at info level when it fits', async () => {
  const line = await budgetLine({ WORKERS: '2', PG_POOL_SIZE: '4' });
  assert.match(line, /level=info/);
  assert.match(line, /opens 10 PostgreSQL connections \(WORKERS=2 x \(PG_POOL_SIZE=4 \+ 1\)\); \d+ open now, 97 usable/);
});
