// A tiny Redis client over node:net, enough for the tests to look behind the service's back: one
// connection per command (redisCommand), or one kept open for tight loops (openRedis); RESP2
// replies parsed into plain values.
//
//   simple string -> string, error -> RedisError (thrown), integer -> number,
//   bulk string -> string | null, array -> array | null.

import net from 'node:net';

export class RedisError extends Error {}

// Arguments are strings (sent as UTF-8) or Buffers (sent as they are: NUL bytes, invalid UTF-8).
function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

// Parse one reply starting at `pos`; returns [value, nextPos] or undefined when incomplete.
function parse(buf, pos) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[pos]);
  const line = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return [line, next];
    case '-':
      return [new RedisError(line), next];
    case ':':
      return [Number(line), next];
    case '$': {
      const len = Number(line);
      if (len < 0) return [null, next];
      if (buf.length < next + len + 2) return undefined;
      return [buf.toString('utf8', next, next + len), next + len + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const items = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return undefined;
        items.push(r[0]);
        p = r[1];
      }
      return [items, p];
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

/** Send one command to 127.0.0.1:port and resolve with its reply; RESP errors reject. */
export function redisCommand(port, args, { timeout = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    sock.setTimeout(timeout, () => finish(new Error(`redis ${args[0]} timed out after ${timeout} ms`)));
    sock.once('error', (err) => finish(err));
    sock.once('connect', () => sock.write(encode(args)));
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      let r;
      try {
        r = parse(buf, 0);
      } catch (err) {
        finish(err);
        return;
      }
      if (!r) return;
      if (r[0] instanceof RedisError) finish(r[0]);
      else finish(null, r[0]);
    });
    sock.once('end', () => finish(new Error(`redis closed the connection before replying to ${args[0]}`)));
  });
}

/** All keys matching a pattern (SCAN, so it also works on a busy server), sorted. */
export async function redisKeys(port, pattern) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await redisCommand(port, ['SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000]);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return [...new Set(keys)].sort();
}

/**
 * A persistent Redis connection for tight loops: commands are pipelined and answered in order.
 * Returns { command(...args) (a promise of the reply; RESP errors reject), close() }; once the
 * connection fails or closes, every waiting and later command rejects.
 */
export function openRedis(port) {
  const sock = net.connect({ port, host: '127.0.0.1' });
  sock.setNoDelay(true);
  const waiting = [];
  let buf = Buffer.alloc(0);
  let failed;
  const fail = (err) => {
    failed ??= err;
    while (waiting.length) waiting.shift().reject(err);
  };
  sock.on('error', fail);
  sock.on('close', () => fail(new Error('redis connection closed')));
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      let r;
      try {
        r = parse(buf, 0);
      } catch (err) {
        fail(err);
        sock.destroy();
        return;
      }
      if (!r) return;
      buf = buf.subarray(r[1]);
      const w = waiting.shift();
      if (r[0] instanceof RedisError) w?.reject(r[0]);
      else w?.resolve(r[0]);
    }
  });
  return {
    command(...args) {
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        sock.write(encode(args));
      });
    },
    close() {
      sock.destroy();
    },
  };
}
