// A raw HTTP/1.1 client over node:net, for what fetch cannot send or cannot observe: malformed
// request lines, oversized headers, bodies larger than the limit, exact connection outcomes
// (reset, refused, closed early) and "request written" moments for the shutdown tests.
//
// One request per connection. The response is parsed as it arrives: headers, then a body framed
// by Content-Length or chunked encoding (or, failing both, by the close of the connection).

import net from 'node:net';

/** The JSON value of text, or undefined when it is not JSON. */
export function jsonOrUndefined(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function parseHead(text) {
  const lines = text.split('\r\n');
  const m = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`bad header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { version: m[1], status: Number(m[2]), statusText: m[3] ?? '', headers };
}

// Decode a chunked body; returns the body Buffer, or undefined while incomplete.
function dechunk(buf) {
  const parts = [];
  let pos = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', pos, eol).split(';')[0], 16);
    if (Number.isNaN(size)) throw new Error('bad chunk size');
    pos = eol + 2;
    if (size === 0) {
      // Trailers (normally none), then the final CRLF.
      const end = buf.indexOf('\r\n\r\n', pos - 2);
      return end < 0 ? undefined : Buffer.concat(parts);
    }
    if (buf.length < pos + size + 2) return undefined;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/**
 * Open a connection, write `data` (string or Buffer, or an array of pieces written one after the
 * other) and parse the response. Returns { sent, response }:
 *   sent     resolves once every piece has been handed to the kernel;
 *   response resolves with { status, statusText, headers, body, json, complete, reset, raw }
 *            or rejects (err.partial holds the bytes received, err.code the socket error code).
 * A response counts as complete once its framing is satisfied; a reset that arrives after that is
 * reported as reset: true rather than an error, because a server may close with unread input.
 */
export function openRawRequest(port, data, { host = '127.0.0.1', timeout = 10000, method = 'GET' } = {}) {
  const pieces = Array.isArray(data) ? data : [data];
  let resolveSent;
  let rejectSent;
  const sent = new Promise((res, rej) => {
    resolveSent = res;
    rejectSent = rej;
  });
  sent.catch(() => {});
  const response = new Promise((resolve, reject) => {
    const sock = net.connect({ port, host });
    let buf = Buffer.alloc(0);
    let head;
    let headEnd = -1;
    let settled = false;

    const tryComplete = (closed) => {
      if (!head) {
        headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return undefined;
        head = parseHead(buf.toString('latin1', 0, headEnd));
      }
      const rest = buf.subarray(headEnd + 4);
      const noBody = method === 'HEAD' || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200);
      let body;
      if (noBody) body = Buffer.alloc(0);
      else if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) body = dechunk(rest);
      else if (head.headers['content-length'] !== undefined) {
        const len = Number(head.headers['content-length']);
        if (rest.length >= len) body = rest.subarray(0, len);
      } else if (closed) body = rest;
      return body;
    };

    const finish = (err, closed = false, reset = false) => {
      if (settled) return;
      let body;
      try {
        body = tryComplete(closed);
      } catch (parseErr) {
        err = err ?? parseErr;
      }
      if (body === undefined && !err && !closed) return; // keep reading
      settled = true;
      sock.destroy();
      if (body !== undefined && head) {
        const text = body.toString('utf8');
        resolve({ ...head, body: text, json: jsonOrUndefined(text), complete: true, reset, raw: buf.toString('latin1') });
        return;
      }
      const e = err ?? new Error(closed ? 'connection closed before a complete response' : 'no response');
      e.partial = buf.toString('latin1');
      e.code = e.code ?? (closed ? 'EARLY_CLOSE' : undefined);
      reject(e);
    };

    sock.setTimeout(timeout, () => {
      const e = new Error(`raw request timed out after ${timeout} ms`);
      e.code = 'TIMEOUT';
      finish(e, false);
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      finish(null, false);
    });
    sock.once('end', () => finish(null, true));
    sock.once('close', () => finish(null, true));
    sock.once('error', (err) => {
      rejectSent(err);
      // A reset after a complete response is fine; otherwise the error stands.
      let body;
      try {
        body = tryComplete(false);
      } catch {
        body = undefined;
      }
      if (body !== undefined) finish(null, false, true);
      else finish(err, false);
    });
    sock.once('connect', async () => {
      try {
        for (const piece of pieces) {
          if (typeof piece === 'function') {
            await piece(sock);
            continue;
          }
          await new Promise((res, rej) => sock.write(piece, (err) => (err ? rej(err) : res())));
        }
        resolveSent();
      } catch (err) {
        rejectSent(err);
      }
    });
  });
  return { sent, response };
}

/** openRawRequest(...).response */
export function rawRequest(port, data, opts) {
  return openRawRequest(port, data, opts).response;
}

/**
 * Build a request: buildRequest('GET', '/x', { 'X-Foo': 'bar' }, body) with Host and Connection: close
 * (pass null to leave a header out) and a Content-Length for a body.
 */
export function buildRequest(method, path, headers = {}, body = '') {
  const all = { Host: '127.0.0.1', Connection: 'close', ...headers };
  if (body && all['Content-Length'] === undefined) all['Content-Length'] = Buffer.byteLength(body);
  let out = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(all)) if (v !== null) out += `${k}: ${v}\r\n`;
  return `${out}\r\n${body}`;
}

/**
 * Several requests on one connection: write `data` (string or Buffer, all requests at once) and parse
 * the responses in order, `methods[i]` being the method of the i-th request (a HEAD answer has no
 * body). Resolves { responses, closed, rest } once `count` responses have arrived and, with
 * waitClose, the server has closed the connection too; or, failing that, when the server closes or
 * `timeout` ms pass (then closed is false). Each response is { status, statusText, headers, body }.
 * rest is what arrived after the last complete response.
 */
export function rawExchange(port, data, { methods = [], count = methods.length || 1, waitClose = false, timeout = 10000, host = '127.0.0.1' } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    let buf = Buffer.alloc(0);
    const responses = [];
    let settled = false;
    const finish = (closed) => {
      if (settled) return;
      if (closed) parse(true);
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ responses, closed, rest: buf.toString('latin1') });
    };
    const parse = (closed = false) => {
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = parseHead(buf.toString('latin1', 0, end));
        const rest = buf.subarray(end + 4);
        const method = methods[responses.length] ?? 'GET';
        let body;
        let used;
        if (method === 'HEAD' || head.status === 204 || head.status === 304) {
          body = Buffer.alloc(0);
          used = 0;
        } else if (/chunked/i.test(head.headers['transfer-encoding'] ?? '')) {
          return; // not needed by these tests: a stream is only ever asked for with HEAD
        } else if (head.headers['content-length'] !== undefined) {
          const len = Number(head.headers['content-length']);
          if (rest.length < len) return;
          body = rest.subarray(0, len);
          used = len;
        } else if (closed) {
          body = rest; // framed by the close
          used = rest.length;
        } else {
          return;
        }
        responses.push({ ...head, body: body.toString('utf8') });
        buf = rest.subarray(used);
        if (responses.length >= count && !waitClose && !closed) finish(false);
      }
    };
    const timer = setTimeout(() => finish(false), timeout);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      parse();
    });
    sock.once('end', () => finish(true));
    sock.once('close', () => finish(true));
    sock.once('error', () => finish(true));
    sock.once('connect', () => sock.write(data));
  });
}
