// Helpers for the write-path tests (issue 5): JSON writes through fetch, a test-side audit of every
// committed change to products (a trigger added by the tests, not by the service), a server-sent
// events reader for /events.
//
// Nothing here changes the harness: stack.mjs still starts and stops everything.

import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
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

/** Rows of a query as objects (psql, json_agg). */
export async function psqlRows(stack, sql) {
  const out = await stack.psql(`SELECT coalesce(json_agg(t), '[]') FROM (${sql}) t`);
  return JSON.parse(out);
}

/**
 * Open GET /events with node:http and collect events as they arrive. Returns
 * { events, waitForEvent(pred, timeout), close() } where events holds { event, data (parsed when
 * JSON), raw }.
 */
export function openEvents(baseUrl) {
  const events = [];
  let req;
  let buffer = '';
  const opened = new Promise((resolve, reject) => {
    req = http.get(`${baseUrl}/events`, { headers: { Accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        for (;;) {
          const end = buffer.indexOf('\n\n');
          if (end < 0) break;
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data = [];
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            const field = i < 0 ? line : line.slice(0, i);
            const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
            if (field === 'event') event = value;
            else if (field === 'data') data.push(value);
          }
          if (data.length === 0) continue;
          const raw = data.join('\n');
          let parsed;
          try {
            parsed = JSON.parse(raw);
          } catch {
            parsed = undefined;
          }
          events.push({ event, data: parsed, raw });
        }
      });
      res.on('error', () => {});
      resolve(res);
    });
    req.on('error', reject);
  });
  return {
    events,
    opened,
    async waitForEvent(pred, timeout = 5000, message = 'an SSE event') {
      return waitFor(() => events.find(pred), { timeout, interval: 10, message });
    },
    close() {
      req.destroy();
    },
  };
}

/**
 * A persistent Redis connection for tight loops (resp.mjs opens one connection per command):
 * commands are pipelined and answered in order. Only replies of the simple kinds are parsed
 * (+status, -error, :integer, $bulk), which is all DEL, SET and GET need.
 */
export function openRedis(port) {
  const sock = net.connect({ port, host: '127.0.0.1' });
  sock.setNoDelay(true);
  const waiting = [];
  let buf = Buffer.alloc(0);
  let failed;
  const fail = (err) => {
    failed = err;
    while (waiting.length) waiting.shift().reject(err);
  };
  sock.on('error', fail);
  sock.on('close', () => fail(new Error('redis connection closed')));
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      const type = String.fromCharCode(buf[0]);
      const line = buf.toString('utf8', 1, eol);
      let value;
      let next = eol + 2;
      if (type === '$') {
        const len = Number(line);
        if (len >= 0) {
          if (buf.length < next + len + 2) return;
          value = buf.toString('utf8', next, next + len);
          next += len + 2;
        } else value = null;
      } else if (type === ':') value = Number(line);
      else if (type === '+') value = line;
      else if (type === '-') value = new Error(line);
      else return fail(new Error(`unsupported reply type ${type}`));
      buf = buf.subarray(next);
      const w = waiting.shift();
      if (value instanceof Error) w?.reject(value);
      else w?.resolve(value);
    }
  });
  return {
    command(...args) {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        let out = `*${args.length}\r\n`;
        for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
        sock.write(out);
      });
    },
    close() {
      sock.destroy();
    },
  };
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
