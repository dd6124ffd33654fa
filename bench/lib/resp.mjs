// RESP2 for the bench workers (bench/*.mjs): a command's encoding and a reply's parsing, nothing
// else, so that each worker keeps the connection handling its measurement needs (pushes of a
// subscribed or monitoring connection, replies in order, reconnects).

// A command as RESP: arguments are strings or numbers (sent as UTF-8) or Buffers (sent as they are).
export function encode(args) {
    const parts = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
        const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
        parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    return Buffer.concat(parts);
}

// An error reply, as a value: the caller decides whether it rejects.
export class ReplyError extends Error {}

// Parses one value at buf[pos]; returns [value, next position], or null when incomplete.
//   simple string -> string (latin1), error -> ReplyError, integer -> number,
//   bulk string -> string in `bulkEncoding` (latin1 unless told) | null, array -> array | null.
// latin1 maps each byte to one character, so an ASCII payload reads back as it was sent.
export function parseAt(buf, pos, bulkEncoding = 'latin1') {
    if (pos >= buf.length) return null;
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return null;
    const type = String.fromCharCode(buf[pos]);
    const line = buf.toString('latin1', pos + 1, eol);
    let next = eol + 2;
    switch (type) {
        case '+':
            return [line, next];
        case '-':
            return [new ReplyError(line), next];
        case ':':
            return [Number(line), next];
        case '$': {
            const n = Number(line);
            if (n < 0) return [null, next];
            if (next + n + 2 > buf.length) return null;
            return [buf.toString(bulkEncoding, next, next + n), next + n + 2];
        }
        case '*': {
            const n = Number(line);
            if (n < 0) return [null, next];
            const out = new Array(n);
            for (let i = 0; i < n; i++) {
                const r = parseAt(buf, next, bulkEncoding);
                if (!r) return null;
                [out[i], next] = r;
            }
            return [out, next];
        }
        default:
            throw new Error(`bad RESP type byte ${buf[pos]}`);
    }
}
