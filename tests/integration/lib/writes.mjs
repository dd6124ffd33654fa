// Helpers for the write-path tests (issue 5): JSON writes through fetch, a test-side audit of every
// committed change to products (a trigger added by the tests, not by the service), a service on a
// given port, Redis stream groups and a held row lock.
//
// Nothing here changes the harness: stack.mjs still starts and stops everything.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request, waitFor } from '../../lib/util.mjs';

/**
 * Send a write: `body` is JSON-encoded unless it is already a string (for malformed bodies).
 * Returns util.request's { status, headers, text, body, ms }.
 */
export function sendJson(baseUrl, method, pathname, body, { headers = {}, timeout = 30000 } = {}) {
  const init = { method, timeout, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    init.headers['Content-Type'] ??= 'application/json';
  }
  return request(`${baseUrl}${pathname}`, init);
}

/**
 * Install (idempotently) an audit of products: every committed INSERT/UPDATE/DELETE leaves a row in
 * test_audit with the row's version, name, description and price and the transaction's id, so that a
 * test can tell afterwards in which order (version) the writes committed. Also records the
 * transaction of every applied_writes row when that table exists (write-behind), so an applied
 * stream entry can be joined with the change it made.
 */
export async function installAudit(stack) {
  await stack.psql(`
    CREATE TABLE IF NOT EXISTS test_audit (
      seq bigserial PRIMARY KEY, op text NOT NULL, product_id int NOT NULL, version bigint,
      name text, description text, price numeric, category text, xid bigint NOT NULL DEFAULT txid_current());
    CREATE OR REPLACE FUNCTION test_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        INSERT INTO test_audit (op, product_id, version) VALUES ('delete', OLD.id, OLD.version + 1);
        RETURN OLD;
      END IF;
      INSERT INTO test_audit (op, product_id, version, name, description, price, category)
        VALUES (lower(TG_OP), NEW.id, NEW.version, NEW.name, NEW.description, NEW.price, NEW.category);
      RETURN NEW;
    END $$;
    CREATE OR REPLACE TRIGGER test_audit AFTER INSERT OR UPDATE OR DELETE ON products
      FOR EACH ROW EXECUTE FUNCTION test_audit_fn();
  `);
}

/** Same as installAudit, plus a log of applied_writes rows with their transaction ids. */
export async function installAppliedAudit(stack) {
  await installAudit(stack);
  await stack.psql(`
    CREATE TABLE IF NOT EXISTS test_applied_audit (
      stream_id text NOT NULL, product_id int, op text, seq bigint, xid bigint NOT NULL DEFAULT txid_current());
    CREATE OR REPLACE FUNCTION test_applied_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO test_applied_audit (stream_id, product_id, op, seq)
        VALUES (NEW.stream_id, NEW.product_id, NEW.op, NEW.seq);
      RETURN NEW;
    END $$;
    CREATE OR REPLACE TRIGGER test_applied_audit AFTER INSERT ON applied_writes
      FOR EACH ROW EXECUTE FUNCTION test_applied_audit_fn();
  `);
}

/** GET /products/{id}, which must answer 200; returns the product. */
export async function getProduct(stack, id) {
  const r = await stack.get(`/products/${id}`);
  assert.equal(r.status, 200, `GET /products/${id}: ${r.text}`);
  return r.body;
}

/**
 * Read product `id` until it is cached: a GET, its key stored, and a second GET that must come from
 * the cache; returns that answer.
 */
export async function primeCache(stack, id) {
  await getProduct(stack, id);
  await stack.waitForKeys(`product:${id}`);
  const p = await getProduct(stack, id);
  assert.equal(p.source, 'cache', `product ${id} is cached`);
  return p;
}

/** Rows of a query as objects (psql, json_agg). */
export async function psqlRows(stack, sql) {
  const out = await stack.psql(`SELECT coalesce(json_agg(t), '[]') FROM (${sql}) t`);
  return JSON.parse(out);
}

/**
 * Start cacheme (through the harness) on a given port — that of a process that is gone, to restart
 * a crashed service at the same address — rather than on a fresh one, and wait until it answers.
 */
export async function startServiceOnPort(stack, port, env = {}) {
  const svc = await stack.startService({ env: { ...env, PORT: port }, wait: false });
  svc.port = port;
  svc.url = `http://127.0.0.1:${port}`;
  await svc.waitUntilAnswering();
  return svc;
}

/** XINFO GROUPS of a stream as [{ name, pending, lag, ... }] (fields as Redis names them). */
export async function streamGroups(stack, stream) {
  let groups;
  try {
    groups = await stack.redisCmd('XINFO', 'GROUPS', stream);
  } catch (err) {
    if (/no such key/i.test(err.message)) return [];
    throw err;
  }
  return groups.map((flat) => {
    const o = {};
    for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]] = flat[i + 1];
    return o;
  });
}

/**
 * Hold a row lock on product `id` (SELECT ... FOR UPDATE in an open transaction of a psql child
 * process, application_name test-row-lock) until release(): writes to that row wait, reads do not.
 */
export async function holdRowLock(stack, id) {
  const proc = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', stack.databaseUrl], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { ...process.env, PGAPPNAME: 'test-row-lock' },
  });
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  const killOnExit = () => proc.kill('SIGKILL');
  process.once('exit', killOnExit);
  proc.stdin.write(`BEGIN; SELECT id FROM products WHERE id = ${Number(id)} FOR UPDATE;\n`);
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw Object.assign(new Error(`psql exited: ${stderr}`), { fatal: true });
      const n = await stack.psql(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'test-row-lock' AND a.state = 'idle in transaction' AND l.locktype = 'transactionid'`);
      return Number(n) >= 1;
    },
    { timeout: 10000, interval: 20, message: `row lock on product ${id} held` },
  );
  return {
    async release() {
      proc.stdin.end('COMMIT;\n');
      let timer;
      const code = await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), 10000)))]);
      clearTimeout(timer);
      process.removeListener('exit', killOnExit);
      if (code === 'timeout') {
        proc.kill('SIGKILL');
        throw new Error('psql holding the row lock did not exit');
      }
    },
  };
}
