// The service's own /events fan-out, measured: the worker of bench/events-fanout.sh, which starts
// PostgreSQL, Redis and the cacheme instances, and prints the table. Node built-ins only (fetch
// for HTTP and the event stream, `net` and bench/lib/resp.mjs for a small RESP2 client).
//
//   node bench/events-fanout.mjs delivery --a URL --b URL --writes N --rate R --out FILE
//        A dashboard stream open on a; N PATCH /products/{id} through b at R a second; for each
//        write, the time from b's answer to its `event: write` arriving on a's stream.
//   node bench/events-fanout.mjs pause --label L --a URL --b URL --a-pid PID --redis-port P
//        --channel C --rate R --pause S --out FILE [--redis-log FILE]
//        The same stream and writes; a second in, instance a is stopped (SIGSTOP) for S seconds,
//        then continued. Which of the writes b answered meanwhile reached a's stream, what a's
//        cacheme_events_missed_total counted, and when a's loops were subscribed again. A
//        subscriber of the bench's own, never stopped, records every message on the channel in
//        the order Redis sends them, to tell what a's loops lost.
//   node bench/events-fanout.mjs table FILE...
//        Prints the Markdown table of the cases' JSON files (and of the throughput files, JSON of
//        cacheme-bench --json named throughput-on-*.json and throughput-off-*.json).
//
// Each write is a PATCH {"price"} to a product of its own, with at most EVB_CONCURRENCY
// (default 32) in flight; a write that falls behind its time is sent as soon as one is answered.
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { encode, parseAt, ReplyError } from './lib/resp.mjs';
import { options, envInt } from './lib/options.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

function need(o, ...names) {
    for (const n of names) if (o[n] === undefined) throw new Error(`--${n} is required`);
}

// ---- RESP2, just enough for SUBSCRIBE and CLIENT LIST --------------------------------------------

// A connection whose values go, in order, to onValue. Bulk strings as UTF-8; an error reply as its
// text (the callers look for the answer they expect and ignore anything else).
function respConnect(port, onValue) {
    return new Promise((resolve, reject) => {
        let buf = Buffer.alloc(0);
        const sock = net.connect({ host: '127.0.0.1', port }, () => resolve(sock));
        sock.once('error', reject);
        sock.on('data', (d) => {
            buf = buf.length ? Buffer.concat([buf, d]) : d;
            let pos = 0;
            for (let r; (r = parseAt(buf, pos, 'utf8')); pos = r[1]) {
                onValue(r[0] instanceof ReplyError ? r[0].message : r[0]);
            }
            buf = buf.subarray(pos);
        });
    });
}

// A client for one command at a time.
async function respClient(port) {
    const waiting = [];
    const sock = await respConnect(port, (v) => waiting.shift()?.(v));
    return {
        cmd: (...args) =>
            new Promise((resolve) => {
                waiting.push(resolve);
                sock.write(encode(args));
            }),
        close: () => sock.destroy(),
    };
}

// Every PUBLISH on the channel, in the order Redis ran them: { t, instance, origin, seq, type, id }.
// Read through MONITOR rather than SUBSCRIBE: a monitor is a normal client, out of reach of the
// output buffer limit for Pub/Sub that the cases change, so the log itself loses nothing.
async function channelLog(port, channel) {
    const log = [];
    const unrepr = (x) =>
        x.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_, e) =>
            e[0] === 'x' && e.length === 3
                ? String.fromCharCode(parseInt(e.slice(1), 16))
                : ({ n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }[e] ?? e),
        );
    const prefix = `"PUBLISH" "${channel}" "`;
    let ready;
    const started = new Promise((r) => (ready = r));
    const sock = await respConnect(port, (v) => {
        if (v === 'OK') return ready();
        const at = typeof v === 'string' ? v.indexOf(prefix) : -1;
        if (at < 0 || !v.endsWith('"')) return;
        try {
            const m = JSON.parse(unrepr(v.slice(at + prefix.length, -1)));
            log.push({
                t: now(),
                instance: m.instance,
                origin: m.origin,
                seq: m.seq,
                type: m.type,
                id: m.type === 'write' ? m.data.id : undefined,
            });
        } catch {
            log.push({ t: now(), type: '(not an event)' });
        }
    });
    sock.write(encode(['MONITOR']));
    await started;
    return { log, close: () => sock.destroy() };
}

// The local TCP ports of process pid's connections to 127.0.0.1:port (its Redis clients).
function redisPortsOf(pid, port) {
    const inodes = new Set();
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        try {
            const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
            if (m) inodes.add(m[1]);
        } catch {
            /* Closed meanwhile. */
        }
    }
    const ports = new Set();
    for (const line of fs.readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 10 || !inodes.has(f[9])) continue;
        if (parseInt(f[2].split(':')[1], 16) === port) ports.add(parseInt(f[1].split(':')[1], 16));
    }
    return ports;
}

// The Pub/Sub clients in CLIENT LIST: [{ id, port, omem }].
async function pubsubClients(admin) {
    return String(await admin.cmd('CLIENT', 'LIST', 'TYPE', 'pubsub'))
        .split('\n')
        .filter((l) => l.includes('id='))
        .map((l) => ({
            id: Number(/(?:^| )id=(\d+)/.exec(l)[1]),
            port: Number(/ addr=[^ ]*:(\d+)/.exec(l)[1]),
            omem: Number(/ omem=(\d+)/.exec(l)?.[1] ?? 0),
        }));
}

// ---- HTTP ----------------------------------------------------------------------------------------

// The dashboard stream of url: the arrival time of each `event: write` by "id:version" and instance,
// and the instances whose `event: instance` came, with their times.
async function openStream(url) {
    const ac = new AbortController();
    const res = await fetch(`${url}/events`, { headers: { Accept: 'text/event-stream' }, signal: ac.signal });
    if (res.status !== 200) throw new Error(`GET ${url}/events answered ${res.status}`);
    const s = { writes: new Map(), instances: [], events: 0, ended: false };
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const done = (async () => {
        try {
            for (;;) {
                const { value, done: end } = await reader.read();
                if (end) break;
                const t = now();
                text += decoder.decode(value, { stream: true });
                let cut;
                while ((cut = text.indexOf('\n\n')) >= 0) {
                    const block = text.slice(0, cut);
                    text = text.slice(cut + 2);
                    const ev = /^event: (.*)$/m.exec(block)?.[1];
                    const data = /^data: (.*)$/m.exec(block)?.[1];
                    if (!ev || !data) continue;
                    s.events++;
                    const d = JSON.parse(data);
                    if (ev === 'write') {
                        const key = `${d.instance}/${d.id}`;
                        if (!s.writes.has(key)) s.writes.set(key, { t, n: 0 });
                        s.writes.get(key).n++;
                    } else if (ev === 'instance') s.instances.push({ t, instance: d.instance });
                }
            }
        } catch {
            /* Aborted by close(). */
        }
        s.ended = true;
    })();
    s.close = async () => {
        ac.abort();
        await done;
    };
    return s;
}

async function metrics(url) {
    const r = await fetch(`${url}/metrics`);
    const m = {};
    for (const line of (await r.text()).split('\n')) {
        const x = /^(cacheme_events_[a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
        if (x) m[x[1]] = (m[x[1]] ?? 0) + Number(x[2]);
    }
    return m;
}

// Writes through url at rate a second, from now until stop() (or count writes), with at most
// `concurrency` in flight, each to a product of its own: ids first, first + 1, ... (at most span of
// them), so that a write's event is known by its id. Each: { id, sent, answered, status }.
function writer(url, { rate, count = Infinity, first, span, concurrency }) {
    const records = [];
    const t0 = now();
    let stopping = false;
    let i = 0;
    const one = async () => {
        while (!stopping && i < Math.min(count, span)) {
            const k = i++;
            const due = t0 + (k * 1000) / rate;
            if (due > now()) await sleep(due - now());
            if (stopping) return;
            const id = first + k;
            const rec = { id, sent: now() };
            try {
                const r = await fetch(`${url}/products/${id}`, {
                    method: 'PATCH',
                    headers: { 'Content-Type': 'application/json' },
                    body: JSON.stringify({ price: 1 + (k % 9000) / 100 }),
                });
                await r.arrayBuffer();
                rec.answered = now();
                rec.status = r.status;
            } catch (e) {
                rec.answered = now();
                rec.status = 0;
                rec.error = String(e);
            }
            records.push(rec);
        }
    };
    const workers = Array.from({ length: concurrency }, one);
    const finished = Promise.all(workers);
    return {
        records,
        finished,
        stop: async () => {
            stopping = true;
            await finished;
        },
    };
}

// Waits until pred() or ms have passed; polls every 50 ms. Returns whether pred() held.
async function until(pred, ms) {
    const end = now() + ms;
    for (;;) {
        if (await pred()) return true;
        if (now() > end) return false;
        await sleep(50);
    }
}

function percentile(sorted, p) {
    if (sorted.length === 0) return null;
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const keyOf = (r) => `b/${r.id}`;

// ---- the cases -----------------------------------------------------------------------------------

async function delivery(o) {
    need(o, 'a', 'b', 'writes', 'rate', 'out');
    need(o, 'first-id', 'span');
    const concurrency = envInt('EVB_CONCURRENCY', 32);
    const before = await metrics(o.a);
    const stream = await openStream(o.a);
    // The stream is open once its first `event: instance` (its own figures) has come.
    if (!(await until(() => stream.instances.length > 0, 5000))) throw new Error('no event on the stream of a');
    const t0 = now();
    const w = writer(o.b, { rate: Number(o.rate), count: Number(o.writes), first: Number(o['first-id']), span: Number(o.span), concurrency });
    await w.finished;
    const elapsed = (now() - t0) / 1000;
    const ok = w.records.filter((r) => r.status === 200);
    await until(() => ok.every((r) => stream.writes.has(keyOf(r))), 5000);
    await stream.close();
    const after = await metrics(o.a);
    const deltas = ok
        .filter((r) => stream.writes.has(keyOf(r)))
        .map((r) => stream.writes.get(keyOf(r)).t - r.answered)
        .sort((x, y) => x - y);
    const result = {
        case: 'delivery',
        writes: w.records.length,
        answered200: ok.length,
        errors: w.records.length - ok.length,
        elapsed,
        rate: Number(o.rate),
        received: deltas.length,
        duplicates: ok.filter((r) => (stream.writes.get(keyOf(r))?.n ?? 0) > 1).length,
        ms: {
            min: deltas[0],
            p50: percentile(deltas, 50),
            p99: percentile(deltas, 99),
            max: deltas[deltas.length - 1],
        },
        negative: deltas.filter((d) => d < 0).length,
        missed: (after.cacheme_events_missed_total ?? 0) - (before.cacheme_events_missed_total ?? 0),
    };
    fs.writeFileSync(o.out, JSON.stringify(result, null, 2));
}

function procState(pid) {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

async function pause(o) {
    need(o, 'label', 'a', 'b', 'a-pid', 'redis-port', 'channel', 'rate', 'pause', 'first-id', 'span', 'out');
    const concurrency = envInt('EVB_CONCURRENCY', 32);
    const pid = Number(o['a-pid']);
    const port = Number(o['redis-port']);
    const pauseMs = Number(o.pause) * 1000;
    // The Redis log's complete lines.
    const readLog = () => (o['redis-log'] ? fs.readFileSync(o['redis-log'], 'utf8').split('\n').slice(0, -1) : []);
    const logStart = readLog().length;

    const admin = await respClient(port);
    const limit = (await admin.cmd('CONFIG', 'GET', 'client-output-buffer-limit'))[1];
    const channel = await channelLog(port, o.channel);
    const before = await metrics(o.a);
    if (before.cacheme_events_subscribed_loops !== 2) throw new Error('a is not subscribed on both loops');
    const stream = await openStream(o.a);
    if (!(await until(() => stream.instances.length > 0, 5000))) throw new Error('no event on the stream of a');
    // a's Pub/Sub clients (its two events subscriptions, and a near cache's invalidation channel).
    const aPorts = redisPortsOf(pid, port);
    const aClients = (list) => list.filter((c) => aPorts.has(c.port));
    const aBefore = aClients(await pubsubClients(admin)).length;
    const subscribersOf = async () => (await admin.cmd('PUBSUB', 'NUMSUB', o.channel))[1];
    const subscribersBefore = await subscribersOf();

    const w = writer(o.b, { rate: Number(o.rate), first: Number(o['first-id']), span: Number(o.span), concurrency });
    await sleep(1000);
    process.kill(pid, 'SIGSTOP');
    const tStop = now();
    // While a is stopped, every 100 ms: a's Pub/Sub clients in Redis and their largest backlog.
    const samples = [];
    const pauseEnd = tStop + pauseMs;
    let stateDuring = null;
    while (now() < pauseEnd) {
        const mine = aClients(await pubsubClients(admin));
        samples.push({ t: now(), clients: mine.length, omem: Math.max(0, ...mine.map((c) => c.omem)) });
        stateDuring ??= procState(pid);
        await sleep(Math.min(100, Math.max(0, pauseEnd - now())));
    }
    process.kill(pid, 'SIGCONT');
    const tCont = now();
    const dropped = samples.some((x) => x.clients < aBefore);
    // Then every 20 ms: the gauge of a's subscribed loops, and a's Pub/Sub clients in Redis (its
    // connections now), until both say a is subscribed again.
    let gaugeMin = Infinity;
    let gaugeBackMs = null;
    let redisBackMs = dropped ? null : 0;
    const end = now() + 15000;
    while (now() < end && (gaugeBackMs === null || redisBackMs === null)) {
        const m = await metrics(o.a).catch(() => ({}));
        const g = m.cacheme_events_subscribed_loops;
        if (g !== undefined) {
            gaugeMin = Math.min(gaugeMin, g);
            if (g === 2 && gaugeBackMs === null && (gaugeMin < 2 || !dropped)) gaugeBackMs = now() - tCont;
        }
        if (redisBackMs === null) {
            const ports = redisPortsOf(pid, port);
            const list = await pubsubClients(admin);
            if (list.filter((c) => ports.has(c.port)).length >= aBefore) redisBackMs = now() - tCont;
        }
        await sleep(20);
    }
    // Two more seconds of writes after a runs again, so that every publisher sends again (a gap is
    // seen only at the publisher's next message); then until the last write has arrived.
    await sleep(2000);
    await w.stop();
    const ok = w.records.filter((r) => r.status === 200);
    const last = ok.reduce((x, r) => (r.answered > (x?.answered ?? 0) ? r : x), null);
    await until(() => stream.writes.has(keyOf(last)), 10000);
    // Until the missed count stays the same over 1.5 s (every instance publishes once a second).
    let missed = (await metrics(o.a)).cacheme_events_missed_total ?? 0;
    for (let i = 0; i < 10; i++) {
        await sleep(1500);
        const m = (await metrics(o.a)).cacheme_events_missed_total ?? 0;
        if (m === missed) break;
        missed = m;
    }
    const after = await metrics(o.a);
    const subscribersAfter = await subscribersOf();
    await stream.close();
    channel.close();
    admin.close();

    const during = ok.filter((r) => r.answered >= tStop && r.answered <= tCont);
    const got = (r) => stream.writes.has(keyOf(r));
    // What the stream's loop lost, in the order Redis ran the PUBLISHes: the messages between the
    // last write of b the stream got before its first loss and the first one it got after (Redis
    // sends every subscriber one order, and a dropped subscription loses one run of it).
    const order = channel.log;
    const idx = new Map();
    order.forEach((m, i) => m.type === 'write' && idx.set(`${m.instance}/${m.id}`, i));
    const okOrdered = ok.filter((r) => idx.has(keyOf(r))).sort((x, y) => idx.get(keyOf(x)) - idx.get(keyOf(y)));
    // Each run of lost writes: the messages from the one after the last write received before it
    // to the one before the first write received after it.
    let run = null;
    for (let i = 0; i < okOrdered.length; i++) {
        if (got(okOrdered[i])) continue;
        let j = i;
        while (j + 1 < okOrdered.length && !got(okOrdered[j + 1])) j++;
        const from = i > 0 ? idx.get(keyOf(okOrdered[i - 1])) + 1 : 0;
        const to = j + 1 < okOrdered.length ? idx.get(keyOf(okOrdered[j + 1])) : order.length;
        run ??= { runs: 0, messages: 0, byType: {} };
        run.runs++;
        for (const m of order.slice(from, to)) {
            const k = `${m.type} of ${m.instance}`;
            run.byType[k] = (run.byType[k] ?? 0) + 1;
            run.messages++;
        }
        i = j;
    }
    const logged = readLog()
        .slice(logStart)
        .filter((l) => /output buffer limits/.test(l));
    const loggedOfA = logged.filter((l) => [...aPorts].some((p) => l.includes(`addr=127.0.0.1:${p} `)));
    const firstDrop = samples.find((x) => x.clients < aBefore);
    const result = {
        case: 'pause',
        label: o.label,
        limit,
        rate: Number(o.rate),
        achievedRate: w.records.length / ((Math.max(...ok.map((r) => r.answered)) - Math.min(...ok.map((r) => r.sent))) / 1000),
        pauseS: pauseMs / 1000,
        stateDuring,
        writes: w.records.length,
        answered200: ok.length,
        errors: w.records.length - ok.length,
        elapsed: (Math.max(...ok.map((r) => r.answered)) - Math.min(...ok.map((r) => r.sent))) / 1000,
        duringPause: during.length,
        duringReceived: during.filter(got).length,
        allReceived: ok.filter(got).length,
        duplicates: ok.filter((r) => (stream.writes.get(keyOf(r))?.n ?? 0) > 1).length,
        lostWrites: ok.filter((r) => !got(r)).length,
        missedBefore: before.cacheme_events_missed_total ?? 0,
        missedAfter: after.cacheme_events_missed_total ?? 0,
        published: order.length,
        lostRun: run,
        aPubsubClients: aBefore,
        aPubsubClientsMin: Math.min(aBefore, ...samples.map((x) => x.clients)),
        dropMsAfterStop: firstDrop ? firstDrop.t - tStop : null,
        omemPeak: Math.max(0, ...samples.map((x) => x.omem)),
        subscribersBefore,
        subscribersAfter,
        loggedDrops: o['redis-log'] ? logged.length : null,
        loggedDropsOfA: o['redis-log'] ? loggedOfA.length : null,
        gaugeMin: gaugeMin === Infinity ? null : gaugeMin,
        gaugeBackMsAfterCont: gaugeBackMs,
        redisBackMsAfterCont: redisBackMs,
    };
    fs.writeFileSync(o.out, JSON.stringify(result, null, 2));
}

// ---- the table -----------------------------------------------------------------------------------

const int = (n) => (n === null || n === undefined ? 'n/a' : Math.round(n).toLocaleString('en-US'));
const ms = (n) => (n === null || n === undefined ? 'n/a' : n.toFixed(1));
const kb = (n) => `${int(n / 1024)} KB`;

function table(files) {
    const delivery = [];
    const pauses = [];
    const tput = { on: [], off: [] };
    for (const f of files) {
        const j = JSON.parse(fs.readFileSync(f, 'utf8'));
        const base = path.basename(f);
        if (base.startsWith('throughput-')) tput[base.startsWith('throughput-on') ? 'on' : 'off'].push(j);
        else if (j.case === 'delivery') delivery.push(j);
        else pauses.push(j);
    }
    console.log("| a. delivery b → a | writes through b | reached a's stream | b's answer → a's `event: write`: min | p50 | p99 | max | before b's answer | missed_total on a |");
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const j of delivery) {
        console.log(
            `| ${int(j.rate)}/s, ${j.elapsed.toFixed(1)} s | ${int(j.answered200)} | **${int(j.received)}** (${int(j.duplicates)} twice) | ` +
                `${ms(j.ms.min)} ms | **${ms(j.ms.p50)} ms** | **${ms(j.ms.p99)} ms** | ${ms(j.ms.max)} ms | ${int(j.negative)} | ${int(j.missed)} |`,
        );
    }
    console.log();
    console.log(
        "| case | writes through b | during a's pause: reached a's stream | in all: reached / lost | a's missed_total (before → after) | the stream's loop lost, in Redis' order | Redis | a subscribed again after SIGCONT |",
    );
    console.log('| --- | ---: | ---: | ---: | ---: | --- | --- | --- |');
    for (const j of pauses) {
        const run = j.lostRun
            ? `${int(j.lostRun.messages)} messages: ${Object.entries(j.lostRun.byType)
                  .map(([k, v]) => `${int(v)} ${k}`)
                  .join(', ')}${j.lostRun.runs > 1 ? ` (in ${j.lostRun.runs} runs)` : ''}`
            : '—';
        const redis =
            j.aPubsubClientsMin < j.aPubsubClients
                ? `dropped a's subscriptions (${j.aPubsubClients} → ${j.aPubsubClientsMin} Pub/Sub clients of a) ${int(j.dropMsAfterStop)} ms into the pause; ` +
                  `"output buffer limits" logged ${int(j.loggedDrops)}×, ${int(j.loggedDropsOfA)} of them a's`
                : `kept a's subscriptions; a's output buffer peak ${kb(j.omemPeak)}; "output buffer limits" logged ${int(j.loggedDrops)}×`;
        const back =
            j.aPubsubClientsMin < j.aPubsubClients
                ? `Redis: ${int(j.redisBackMsAfterCont)} ms; gauge (lowest seen ${j.gaugeMin}) back to 2: ${int(j.gaugeBackMsAfterCont)} ms`
                : `gauge stayed ${j.gaugeMin}`;
        console.log(
            `| ${j.label} (\`${j.limit.replace(/.*pubsub /, 'pubsub ')}\`) | ${int(j.answered200)} in ${j.elapsed.toFixed(1)} s ` +
                `(${int(j.achievedRate)}/s${j.achievedRate < 0.95 * j.rate ? `, as fast as b answered ${process.env.EVB_CONCURRENCY ?? 32} at a time` : ''}) | ` +
                `**${int(j.duringReceived)} / ${int(j.duringPause)}** | ${int(j.allReceived)} / **${int(j.lostWrites)}** | ` +
                `**${int(j.missedAfter - j.missedBefore)}** (${int(j.missedBefore)} → ${int(j.missedAfter)}) | ${run} | ${redis} | ${back} |`,
        );
    }
    if (tput.on.length && tput.off.length) {
        const rps = (l) => l.map((j) => j.throughput_rps);
        const mean = (l) => l.reduce((x, y) => x + y, 0) / l.length;
        const p99 = (l) => l.map((j) => j.latency_ms.all.p99.toFixed(1)).join(', ');
        const errs = (l) => l.reduce((x, j) => x + j.errors.total, 0);
        console.log();
        console.log('| d. write cost | writes/s, each round | mean | p99 (ms), each round | errors |');
        console.log('| --- | ---: | ---: | ---: | ---: |');
        for (const side of ['on', 'off']) {
            console.log(
                `| EVENTS_FANOUT=${side === 'on' ? 'true (b)' : 'false (b-off)'} | ${rps(tput[side]).map(int).join(', ')} | ` +
                    `${int(mean(rps(tput[side])))} | ${p99(tput[side])} | ${int(errs(tput[side]))} |`,
            );
        }
        console.log(`| **on / off** | | **${(mean(rps(tput.on)) / mean(rps(tput.off))).toFixed(2)}** | | |`);
    }
}

// ---- main ----------------------------------------------------------------------------------------

const [mode, ...rest] = process.argv.slice(2);
const o = options(rest);
try {
    if (mode === 'delivery') await delivery(o);
    else if (mode === 'pause') await pause(o);
    else if (mode === 'table') table(o._ ?? []);
    else throw new Error(`unknown mode '${mode}' (delivery, pause, table)`);
} catch (e) {
    console.error(`events-fanout: ${e.message}`);
    process.exit(1);
}
