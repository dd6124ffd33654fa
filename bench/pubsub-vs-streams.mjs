// What a paused reader receives from Redis Pub/Sub and from a Redis Stream: the worker of
// bench/pubsub-vs-streams.sh, which starts the private Redis and prints the table. Node's `net`
// only, with a small RESP2 client over bench/lib/resp.mjs.
//
//   node bench/pubsub-vs-streams.mjs case NAME --port P --out FILE [--redis-log FILE]
//        NAME: frozen (SIGSTOP 5 s, default output buffer limit), frozen-tight (the same with
//        "pubsub 256kb 64kb 1"), restart (connections killed, back after 5 s), trimmed (frozen,
//        with a stream MAXLEN smaller than 5 s of messages). Writes the case's figures as JSON.
//   node bench/pubsub-vs-streams.mjs table FILE...
//        Prints the Markdown table of the cases' JSON files.
//   node bench/pubsub-vs-streams.mjs reader KIND --port P --key K --channel C --group G
//        [--reconnect-delay MS]   (started by `case`; KIND: pubsub, xread, group)
//
// A case: three reader processes (SUBSCRIBE; XREAD BLOCK from its last id; XREADGROUP + XACK in
// a group of its own), then a publisher here sending RATE numbered messages a second of SIZE bytes
// for SECONDS, each both as PUBLISH and as XADD ... MAXLEN ~ N. At PAUSE_AT seconds the readers
// are paused for PAUSE seconds (SIGSTOP and SIGCONT of their processes, or CLIENT KILL and a
// reconnect after PAUSE); meanwhile CLIENT LIST is sampled every 100 ms for their output buffers.
// Each reader counts what it received by the sequence number in the payload.
//
// Environment (read by `case`): PSVS_RATE (2000), PSVS_SIZE (1000), PSVS_SECONDS (12),
// PSVS_PAUSE_AT (2), PSVS_PAUSE (5), PSVS_MAXLEN (50000), PSVS_SMALL_MAXLEN (2000).
import net from 'node:net';
import fs from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encode, parseAt, ReplyError } from './lib/resp.mjs';
import { options, envInt } from './lib/options.mjs';

// One connection. cmd() answers in order; in subscribed mode, every value goes to onPush instead.
class Conn {
    constructor(port) {
        this.port = port;
        this.buf = Buffer.alloc(0);
        this.waiting = [];
        this.onPush = null;
        this.onClose = null;
        this.closed = false;
    }

    connect() {
        return new Promise((resolve, reject) => {
            this.sock = net.connect({ host: '127.0.0.1', port: this.port }, () => resolve(this));
            this.sock.once('error', reject);
            this.sock.on('data', (d) => this.feed(d));
            this.sock.on('close', () => {
                this.closed = true;
                const err = new Error('connection closed');
                for (const w of this.waiting.splice(0)) w.reject(err);
                if (this.onClose) this.onClose();
            });
            this.sock.on('error', () => {});
        });
    }

    feed(d) {
        this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
        let pos = 0;
        for (;;) {
            const r = parseAt(this.buf, pos);
            if (!r) break;
            pos = r[1];
            if (this.onPush) this.onPush(r[0]);
            else {
                const w = this.waiting.shift();
                if (!w) continue;
                if (r[0] instanceof ReplyError) w.reject(r[0]);
                else w.resolve(r[0]);
            }
        }
        this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
    }

    cmd(...args) {
        if (this.closed) return Promise.reject(new Error('connection closed'));
        return new Promise((resolve, reject) => {
            this.waiting.push({ resolve, reject });
            this.sock.write(encode(args));
        });
    }

    close() {
        this.sock.destroy();
    }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const seqOf = (payload) => Number(payload.slice(4, payload.indexOf(';')));

// ---- a reader process ----------------------------------------------------------------------------

// Received sequence numbers: a count each (capped at 255), and what the reader could tell.
class Tally {
    constructor() {
        this.seen = new Uint8Array(1 << 16);
        this.deliveries = 0;
        this.maxSeq = 0;
        this.lastSeq = 0;
        this.disconnects = 0;
        this.trimNotices = []; // Gaps the reader saw together with Redis' max-deleted-entry-id past its id.
    }

    add(seq) {
        if (seq >= this.seen.length) {
            const bigger = new Uint8Array(Math.max(seq + 1, this.seen.length * 2));
            bigger.set(this.seen);
            this.seen = bigger;
        }
        if (this.seen[seq] < 255) this.seen[seq]++;
        this.deliveries++;
        if (seq > this.maxSeq) this.maxSeq = seq;
        this.lastSeq = seq;
    }

    report() {
        let distinct = 0;
        for (let s = 1; s <= this.maxSeq; s++) if (this.seen[s]) distinct++;
        return {
            deliveries: this.deliveries,
            distinct,
            duplicates: this.deliveries - distinct,
            maxSeq: this.maxSeq,
            disconnects: this.disconnects,
            trimNotices: this.trimNotices,
            // The seen array itself goes back as a list of missing runs, counted by the controller.
            seen: Buffer.from(this.seen.subarray(0, this.maxSeq + 1)).toString('base64'),
        };
    }
}

// Connects, retrying every 100 ms until Redis accepts.
async function connectRetry(port) {
    for (;;) {
        try {
            return await new Conn(port).connect();
        } catch {
            await sleep(100);
        }
    }
}

async function runReader(kind, o) {
    const port = Number(o.port);
    const delay = Number(o['reconnect-delay'] ?? 0);
    const tally = new Tally();
    let stopping = false;
    let announced = false;
    const ready = () => {
        if (!announced) process.stdout.write('ready\n');
        announced = true;
    };

    // The controller's questions, one a line: status (how far), report (figures, then exit).
    let input = '';
    process.stdin.on('end', () => process.exit(0)); // The controller is gone.
    process.stdin.on('data', (d) => {
        input += d;
        let nl;
        while ((nl = input.indexOf('\n')) >= 0) {
            const q = input.slice(0, nl);
            input = input.slice(nl + 1);
            if (q === 'status') process.stdout.write(`${JSON.stringify({ maxSeq: tally.maxSeq })}\n`);
            if (q === 'report') {
                stopping = true;
                process.stdout.write(`${JSON.stringify(tally.report())}\n`, () => process.exit(0));
            }
        }
    });

    // Each pass of the loop is one connection; a closed one counts as a disconnect and, after the
    // reconnect delay (a restart's time away), the reader comes back where it can.
    let lastId = '0-0';
    for (;;) {
        const c = await connectRetry(port);
        await c.cmd('CLIENT', 'SETNAME', `reader-${kind}`);
        try {
            if (kind === 'pubsub') {
                const closed = new Promise((resolve) => {
                    c.onClose = resolve;
                });
                // Every value on a subscribed connection is a push, the SUBSCRIBE answer too: the
                // handler is in place before it, so a message right behind it in the same read counts.
                c.onPush = (m) => {
                    if (!Array.isArray(m)) return;
                    if (m[0] === 'message') tally.add(seqOf(m[2]));
                    else if (m[0] === 'subscribe') ready();
                };
                c.sock.write(encode(['SUBSCRIBE', o.channel]));
                await closed;
                throw new Error('connection closed');
            } else if (kind === 'xread') {
                ready();
                for (;;) {
                    const r = await c.cmd('XREAD', 'COUNT', 1000, 'BLOCK', 1000, 'STREAMS', o.key, lastId);
                    if (!r) continue;
                    const before = tally.lastSeq;
                    const idBefore = lastId;
                    const entries = r[0][1];
                    for (const [id, fields] of entries) {
                        tally.add(seqOf(fields[1]));
                        lastId = id;
                    }
                    const first = seqOf(entries[0][1][1]);
                    if (before && first > before + 1) await noteTrim(c, o.key, tally, idBefore, before, first);
                }
            } else {
                // Pending entries first (delivered before a disconnect, never acknowledged), then new ones.
                let pendingDone = false;
                ready();
                for (;;) {
                    const from = pendingDone ? '>' : '0';
                    const r = await c.cmd('XREADGROUP', 'GROUP', o.group, 'c1', 'COUNT', 1000, 'BLOCK', 1000,
                        'STREAMS', o.key, from);
                    const entries = r ? r[0][1] : [];
                    if (!pendingDone && entries.length === 0) {
                        pendingDone = true;
                        continue;
                    }
                    const before = tally.lastSeq;
                    const idBefore = lastId;
                    const ids = [];
                    for (const [id, fields] of entries) {
                        // A pending entry whose body was trimmed away comes back as [id, nil].
                        if (fields) tally.add(seqOf(fields[1]));
                        ids.push(id);
                        if (pendingDone) lastId = id;
                    }
                    if (ids.length) await c.cmd('XACK', o.key, o.group, ...ids);
                    const firstLive = entries.find((e) => e[1]);
                    if (pendingDone && firstLive && before) {
                        const first = seqOf(firstLive[1][1]);
                        if (first > before + 1) await noteTrim(c, o.key, tally, idBefore, before, first);
                    }
                }
            }
        } catch (e) {
            if (e instanceof ReplyError) throw e;
            if (stopping) return;
            tally.disconnects++;
            c.close();
            if (delay) await sleep(delay);
        }
    }
}

// Stream ids compare as two numbers, milliseconds then sequence.
function idAfter(a, b) {
    const [am, as] = a.split('-').map(BigInt);
    const [bm, bs] = b.split('-').map(BigInt);
    return am > bm || (am === bm && as > bs);
}

// A gap in the sequence numbers of a stream read. The reader can tell it without sequence numbers
// of its own: XINFO STREAM says where the stream now starts, and when that is past the last id it
// read, what lay between was trimmed before it got there. (Redis 7.0's max-deleted-entry-id does
// not tell: it counts XDEL only, and stays 0-0 after a MAXLEN trim.)
async function noteTrim(c, key, tally, lastId, before, first) {
    const info = await c.cmd('XINFO', 'STREAM', key);
    const field = (name) => {
        const at = info.indexOf(name);
        return at >= 0 ? info[at + 1] : null;
    };
    const start = field('recorded-first-entry-id') ?? (field('first-entry') ?? [null])[0];
    tally.trimNotices.push({
        afterSeq: before, nextSeq: first, lastId, streamStartsAt: start,
        maxDeletedEntryId: field('max-deleted-entry-id'), trimmed: start !== null && idAfter(start, lastId),
    });
}

// ---- a case --------------------------------------------------------------------------------------

const CASES = {
    frozen: { pause: 'stop', limit: 'pubsub 33554432 8388608 60', small: false },
    'frozen-tight': { pause: 'stop', limit: 'pubsub 262144 65536 1', small: false },
    restart: { pause: 'kill', limit: 'pubsub 33554432 8388608 60', small: false },
    trimmed: { pause: 'stop', limit: 'pubsub 33554432 8388608 60', small: true },
};

// The reader processes this process started: killed by PID when it exits for whatever reason, even
// while stopped (SIGKILL ends a stopped process too), so that none outlives an interrupted case.
const children = [];
process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function startReader(kind, port, names, delay) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'reader', kind, '--port', port,
        '--key', names.key, '--channel', names.channel, '--group', names.group, '--reconnect-delay', delay],
    { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    const lines = [];
    let waiter = null;
    child.stdout.on('data', (d) => {
        out += d;
        let nl;
        while ((nl = out.indexOf('\n')) >= 0) {
            lines.push(out.slice(0, nl));
            out = out.slice(nl + 1);
        }
        if (waiter && lines.length) waiter();
    });
    const next = async () => {
        while (!lines.length) {
            if (child.exitCode !== null) throw new Error(`reader ${kind} exited (${child.exitCode})`);
            await new Promise((r) => {
                waiter = r;
                setTimeout(r, 200);
            });
            waiter = null;
        }
        return lines.shift();
    };
    const ask = async (q) => {
        child.stdin.write(`${q}\n`);
        return JSON.parse(await next());
    };
    return { kind, child, next, ask };
}

// The process state letter from /proc (T: stopped).
function procState(pid) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0];
}

function clientList(text) {
    const out = {};
    for (const line of text.split('\n')) {
        if (!line) continue;
        const f = Object.fromEntries(line.split(' ').map((kv) => kv.split('=')));
        if (f.name) {
            const port = Number(f.addr.slice(f.addr.lastIndexOf(':') + 1));
            out[f.name] = { id: f.id, port, omem: Number(f.omem), tot: Number(f['tot-mem']) };
        }
    }
    return out;
}

// Bytes the kernel holds for each connection to Redis, by the client's port: what the client has
// not read yet (Recv-Q of its socket) plus what Redis wrote that is not yet delivered (Send-Q of
// Redis' socket). A backlog sits there before it starts to count in Redis' output buffer.
function kernelQueues(redisPort) {
    return new Promise((resolve) => {
        execFile('ss', ['-tnH', `( sport = :${redisPort} or dport = :${redisPort} )`], (err, out) => {
            if (err) return resolve(null); // No ss (iproute2): not measured.
            const held = {};
            for (const line of out.split('\n')) {
                const f = line.trim().split(/\s+/);
                if (f.length < 5) continue;
                const recvQ = Number(f[1]);
                const sendQ = Number(f[2]);
                const local = Number(f[3].slice(f[3].lastIndexOf(':') + 1));
                const peer = Number(f[4].slice(f[4].lastIndexOf(':') + 1));
                if (local === redisPort) held[peer] = (held[peer] ?? 0) + sendQ;
                else held[local] = (held[local] ?? 0) + recvQ;
            }
            resolve(held);
        });
    });
}

function countLogLines(file, needle) {
    if (!file) return null;
    try {
        return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.includes(needle)).length;
    } catch {
        return null;
    }
}

async function runCase(name, o) {
    const spec = CASES[name];
    if (!spec) throw new Error(`unknown case '${name}' (${Object.keys(CASES).join(', ')})`);
    const port = Number(o.port);
    const rate = envInt('PSVS_RATE', 2000);
    const size = envInt('PSVS_SIZE', 1000);
    const seconds = envInt('PSVS_SECONDS', 12);
    const pauseAt = envInt('PSVS_PAUSE_AT', 2);
    const pause = envInt('PSVS_PAUSE', 5);
    const maxlen = spec.small ? envInt('PSVS_SMALL_MAXLEN', 2000) : envInt('PSVS_MAXLEN', 50000);
    if (pauseAt + pause >= seconds) throw new Error('PSVS_PAUSE_AT + PSVS_PAUSE must be below PSVS_SECONDS');
    const total = rate * seconds;
    const names = { key: `bench:${name}:stream`, channel: `bench:${name}:channel`, group: `bench-${name}` };
    const logNeedle = 'for overcoming of output buffer limits';
    const log0 = countLogLines(o['redis-log'], logNeedle);

    const admin = await new Conn(port).connect();
    await admin.cmd('CONFIG', 'SET', 'client-output-buffer-limit', spec.limit);
    await admin.cmd('DEL', names.key);
    await admin.cmd('XGROUP', 'CREATE', names.key, names.group, '$', 'MKSTREAM');

    const delay = spec.pause === 'kill' ? pause * 1000 : 0;
    const readers = ['pubsub', 'xread', 'group'].map((k) => startReader(k, port, names, delay));
    for (const r of readers) if ((await r.next()) !== 'ready') throw new Error(`reader ${r.kind} did not start`);
    // SUBSCRIBE has answered, so the channel has its subscriber before the first PUBLISH.

    // The publisher: each tick sends the messages due by now, pipelined: PUBLISH, then XADD.
    const pub = await new Conn(port).connect();
    const pad = 'x'.repeat(size);
    let sent = 0;
    let replies = 0;
    let zeroReceivers = 0;
    let sentAtPause = 0;
    let sentAtResume = 0;
    const t0 = Date.now();
    const published = new Promise((resolve, reject) => {
        const tick = () => {
            const due = Math.min(total, Math.floor(((Date.now() - t0) * rate) / 1000));
            for (; sent < due; ) {
                sent++;
                const head = `seq=${sent};t=${Date.now()};`;
                const payload = head + pad.slice(head.length);
                pub.cmd('PUBLISH', names.channel, payload).then((n) => {
                    if (n === 0) zeroReceivers++;
                }, reject);
                pub.cmd('XADD', names.key, 'MAXLEN', '~', maxlen, '*', 'd', payload).then(() => {
                    if (++replies === total) resolve();
                }, reject);
            }
            if (sent < total) setTimeout(tick, 5);
        };
        tick();
    });

    // The pause, and CLIENT LIST every 100 ms during it (and a second after it, as a backlog drains).
    const peak = {};
    const stopped = {};
    let pubsubGoneAfterMs = null;
    let kernelMeasured = false;
    const sample = async (since) => {
        const [list, kernel] = await Promise.all([admin.cmd('CLIENT', 'LIST').then(clientList), kernelQueues(port)]);
        if (kernel) kernelMeasured = true;
        for (const r of readers) {
            const c = list[`reader-${r.kind}`];
            const p = (peak[r.kind] ??= { omem: 0, tot: 0, kernel: 0 });
            if (c) {
                p.omem = Math.max(p.omem, c.omem);
                p.tot = Math.max(p.tot, c.tot);
                if (kernel) p.kernel = Math.max(p.kernel, kernel[c.port] ?? 0);
            } else if (r.kind === 'pubsub' && pubsubGoneAfterMs === null && spec.pause === 'stop') {
                pubsubGoneAfterMs = Date.now() - since;
            }
        }
        return list;
    };
    await sleep(Math.max(0, t0 + pauseAt * 1000 - Date.now()));
    sentAtPause = sent;
    const pausedAt = Date.now();
    if (spec.pause === 'stop') {
        for (const r of readers) r.child.kill('SIGSTOP');
        for (const r of readers) {
            let s = procState(r.child.pid);
            for (let i = 0; s !== 'T' && i < 50; i++) {
                await sleep(2);
                s = procState(r.child.pid);
            }
            stopped[r.kind] = s;
        }
    } else {
        const list = await sample(pausedAt);
        for (const r of readers) {
            const c = list[`reader-${r.kind}`];
            if (c) await admin.cmd('CLIENT', 'KILL', 'ID', c.id);
        }
    }
    while (Date.now() < pausedAt + pause * 1000) {
        await sample(pausedAt);
        await sleep(100);
    }
    sentAtResume = sent;
    if (spec.pause === 'stop') for (const r of readers) r.child.kill('SIGCONT');
    const resumedAt = Date.now();
    while (Date.now() < resumedAt + 1000) {
        await sample(pausedAt);
        await sleep(100);
    }

    await published;
    const publishMs = Date.now() - t0;
    // Until every reader has seen the last message, or 5 s (a reader that lost it never will).
    const deadline = Date.now() + 5000;
    for (const r of readers) {
        while (Date.now() < deadline && (await r.ask('status')).maxSeq < total) await sleep(100);
    }
    const streamBytes = await admin.cmd('MEMORY', 'USAGE', names.key, 'SAMPLES', '0');
    const streamLen = await admin.cmd('XLEN', names.key);
    const groups = await admin.cmd('XINFO', 'GROUPS', names.key);
    const g = groups[0];
    const pending = g[g.indexOf('pending') + 1];
    const results = {};
    for (const r of readers) results[r.kind] = await r.ask('report');
    for (const r of readers) if (r.child.exitCode === null) await new Promise((res) => r.child.once('exit', res));
    const log1 = countLogLines(o['redis-log'], logNeedle);
    await admin.cmd('CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 33554432 8388608 60');
    await admin.cmd('DEL', names.key);
    admin.close();
    pub.close();

    const doc = {
        case: name, rate, size, seconds, pauseAt, pause, maxlen, limit: spec.limit, pauseKind: spec.pause,
        sent: total, publishMs, sentDuringPause: sentAtResume - sentAtPause, zeroReceivers,
        stopped, peak, kernelMeasured, pubsubGoneAfterMs, streamBytes, streamLen, pending,
        redisLogDisconnects: log0 === null || log1 === null ? null : log1 - log0,
        readers: results,
    };
    fs.writeFileSync(o.out, `${JSON.stringify(doc)}\n`);
}

// ---- the table -----------------------------------------------------------------------------------

const kb = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.round(n / 1024)} KB`);
const num = (n) => n.toLocaleString('en-US');

// Runs of missing sequence numbers in 1..sent, from a reader's seen array.
function missingRuns(seenB64, sent) {
    const seen = Buffer.from(seenB64, 'base64');
    const runs = [];
    let start = 0;
    for (let s = 1; s <= sent + 1; s++) {
        const miss = s <= sent && !(s < seen.length && seen[s]);
        if (miss && !start) start = s;
        if (!miss && start) {
            runs.push(s - start);
            start = 0;
        }
    }
    return runs;
}

const LABEL = {
    frozen: (d) => `a. frozen ${d.pause} s, default limit`,
    'frozen-tight': (d) => `b. frozen ${d.pause} s, limit 256kb 64kb 1`,
    restart: (d) => `c. dropped, back after ${d.pause} s`,
    trimmed: (d) => `d. frozen ${d.pause} s, MAXLEN ~${num(d.maxlen)}`,
};
const READER = { pubsub: 'Pub/Sub SUBSCRIBE', xread: 'Stream XREAD', group: 'Stream XREADGROUP+XACK' };

function printTable(files) {
    const docs = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
    const rows = [];
    rows.push('| case | reader | sent | received | lost | duplicates | how the loss shows | Redis memory held |');
    rows.push('| --- | --- | ---: | ---: | ---: | ---: | --- | --- |');
    for (const d of docs) {
        const label = LABEL[d.case](d);
        for (const kind of ['pubsub', 'xread', 'group']) {
            const r = d.readers[kind];
            const runs = missingRuns(r.seen, d.sent);
            const lost = runs.reduce((a, b) => a + b, 0);
            const how = [];
            if (r.disconnects) {
                const by = d.pauseKind === 'kill' ? 'CLIENT KILL' : 'Redis (output buffer limit)';
                how.push(`disconnected by ${by} ${r.disconnects}×`);
            }
            if (runs.length) how.push(`gap${runs.length > 1 ? 's' : ''} of ${runs.map(num).join(', ')}`);
            if (kind !== 'pubsub' && r.trimNotices.length) {
                const told = r.trimNotices.filter((n) => n.trimmed).length;
                how.push(told === r.trimNotices.length
                    ? 'trimmed: XINFO STREAM shows the stream starting past its last id'
                    : `a gap XINFO STREAM does not explain (${r.trimNotices.length - told}×)`);
            }
            if (kind === 'pubsub' && d.zeroReceivers) how.push(`PUBLISH answered 0 receivers ${num(d.zeroReceivers)}×`);
            if (!how.length) how.push('—');
            const p = d.peak[kind] ?? { omem: 0, tot: 0, kernel: 0 };
            const buffers = `output buffer peak ${kb(p.omem)} (tot-mem ${kb(p.tot)}), kernel queues peak ${d.kernelMeasured ? kb(p.kernel) : 'n/a'}`;
            const mem = kind === 'pubsub'
                ? buffers
                : `stream ${kb(d.streamBytes)} (${num(d.streamLen)} entries${kind === 'group' ? `, ${num(d.pending)} pending` : ''}); ${buffers}`;
            rows.push(`| ${label} | ${READER[kind]} | ${num(d.sent)} | ${num(r.distinct)} | ${num(lost)} | ${num(r.duplicates)} | ${how.join('; ')} | ${mem} |`);
        }
    }
    console.log(rows.join('\n'));
    console.log();
    for (const d of docs) {
        const states = Object.entries(d.stopped).map(([k, s]) => `${k} ${s}`).join(', ');
        const perMsg = d.streamLen ? (d.streamBytes / d.streamLen).toFixed(0) : 'n/a';
        console.log(`- ${LABEL[d.case](d)}: ${num(d.sent)} messages in ${(d.publishMs / 1000).toFixed(1)} s, ` +
            `${num(d.sentDuringPause)} of them during the ${d.pause} s pause; ` +
            (states ? `reader processes' state during it: ${states}; ` : '') +
            (d.pubsubGoneAfterMs !== null ? `the Pub/Sub reader left CLIENT LIST ${d.pubsubGoneAfterMs} ms into the pause; ` : '') +
            (d.redisLogDisconnects !== null ? `Redis logged ${d.redisLogDisconnects} output-buffer disconnection(s); ` : '') +
            `stream: ${num(d.streamLen)} entries, ${num(d.streamBytes)} bytes (MEMORY USAGE), ${perMsg} bytes an entry.`);
    }
}

// ---- main ----------------------------------------------------------------------------------------

const o = options(process.argv.slice(2));
const [mode, arg] = o._ ?? [];
try {
    if (mode === 'reader') await runReader(arg, o);
    else if (mode === 'case') await runCase(arg, o);
    else if (mode === 'table') printTable(o._.slice(1));
    else throw new Error('usage: pubsub-vs-streams.mjs case NAME --port P --out FILE | table FILE... | reader ...');
} catch (e) {
    console.error(`pubsub-vs-streams: ${e.message}`);
    process.exit(1);
}
