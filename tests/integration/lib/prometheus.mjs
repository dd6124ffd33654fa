// The Prometheus text exposition format (version 0.0.4) as GET /metrics writes it: a parser into
// samples, HELP and TYPE, lookups by exact label set, histogram grouping, and `promtool check
// metrics` run on a scrape.
//
// The parser is strict on purpose: a line it cannot read is an error, so a malformed exposition
// fails here with the line in the message, not later in a confusing lookup.

import { spawn } from 'node:child_process';

// ---------------------------------------------------------------------------------------------
// Parsing

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** A sample value: a Go float (also NaN, +Inf, -Inf). */
function parseValue(text, line) {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`bad sample value ${JSON.stringify(text)} in line ${JSON.stringify(line)}`);
  return Number(text);
}

/** Parse `{a="x",b="y\"z"}` at the start of `s`; returns [labels, rest]. */
function parseLabels(s, line) {
  const labels = {};
  let i = 1; // past '{'
  for (;;) {
    while (s[i] === ' ') i++;
    if (s[i] === '}') return [labels, s.slice(i + 1)];
    const m = LABEL_NAME.exec(s.slice(i));
    if (!m) throw new Error(`bad label name in line ${JSON.stringify(line)}`);
    const name = m[0];
    i += name.length;
    if (s[i] !== '=' || s[i + 1] !== '"') throw new Error(`expected ="…" after label ${name} in line ${JSON.stringify(line)}`);
    i += 2;
    let value = '';
    for (;;) {
      if (i >= s.length) throw new Error(`unterminated label value in line ${JSON.stringify(line)}`);
      const c = s[i++];
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i++];
        if (e === 'n') value += '\n';
        else if (e === '\\' || e === '"') value += e;
        else throw new Error(`bad escape \\${e} in line ${JSON.stringify(line)}`);
      } else {
        value += c;
      }
    }
    if (name in labels) throw new Error(`label ${name} twice in line ${JSON.stringify(line)}`);
    labels[name] = value;
    while (s[i] === ' ') i++;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') throw new Error(`expected , or } after label ${name} in line ${JSON.stringify(line)}`);
  }
}

/**
 * Parse an exposition. Returns { samples: [{ name, labels, value }], types: Map(family → type),
 * help: Map(family → text) } in the order of the text.
 */
export function parseExposition(text) {
  const samples = [];
  const types = new Map();
  const help = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      if (m[1] === 'TYPE') {
        if (types.has(m[2])) throw new Error(`second TYPE line for ${m[2]}`);
        types.set(m[2], m[3]);
      } else {
        if (help.has(m[2])) throw new Error(`second HELP line for ${m[2]}`);
        help.set(m[2], m[3]);
      }
      continue;
    }
    const m = NAME.exec(line);
    if (!m) throw new Error(`bad metric name in line ${JSON.stringify(line)}`);
    let rest = line.slice(m[0].length);
    let labels = {};
    if (rest.startsWith('{')) [labels, rest] = parseLabels(rest, line);
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields.length > 2 || fields[0] === '') throw new Error(`expected "value [timestamp]" in line ${JSON.stringify(line)}`);
    samples.push({ name: m[0], labels, value: parseValue(fields[0], line) });
  }
  return { samples, types, help };
}

// ---------------------------------------------------------------------------------------------
// Lookups

/** A stable text key for a label set: `a="x",b="y"` with names sorted. */
export function labelKey(labels) {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

/** Every sample called `name`. */
export function samplesOf(parsed, name) {
  return parsed.samples.filter((s) => s.name === name);
}

/** The value of the sample `name` with exactly these labels, or undefined. */
export function valueOf(parsed, name, labels = {}) {
  const key = labelKey(labels);
  const hits = samplesOf(parsed, name).filter((s) => labelKey(s.labels) === key);
  if (hits.length > 1) throw new Error(`${name}{${key}} appears ${hits.length} times`);
  return hits[0]?.value;
}

/**
 * The series of histogram `base`, one per label set without `le`:
 * [{ labels, buckets: [{ le: number, leText, value }] (in text order), sum, count }].
 */
export function histogramsOf(parsed, base) {
  const groups = new Map();
  const group = (labels) => {
    const key = labelKey(labels);
    if (!groups.has(key)) groups.set(key, { labels, buckets: [], sum: undefined, count: undefined });
    return groups.get(key);
  };
  for (const s of parsed.samples) {
    if (s.name === `${base}_bucket`) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${base}_bucket without le: ${labelKey(s.labels)}`);
      group(rest).buckets.push({ le: le === '+Inf' ? Infinity : Number(le), leText: le, value: s.value });
    } else if (s.name === `${base}_sum`) {
      group(s.labels).sum = s.value;
    } else if (s.name === `${base}_count`) {
      group(s.labels).count = s.value;
    }
  }
  return [...groups.values()];
}

// ---------------------------------------------------------------------------------------------
// promtool

/**
 * Run `promtool check metrics` with `text` on stdin. Resolves with { code, stdout, stderr }; rejects
 * with a clear message when promtool is not installed.
 */
export function promtoolCheck(text, { timeout = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeout);
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.stdin.on('error', () => {}); // EPIPE if it exits early; the exit status tells why
    proc.once('error', (err) => {
      clearTimeout(timer);
      if (err.code === 'ENOENT') {
        reject(new Error('promtool is not on PATH: install the Debian package "prometheus" (apt-get install -y --no-install-recommends prometheus; scripts/deps.sh)'));
      } else {
        reject(err);
      }
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`promtool check metrics killed by ${signal} (timeout ${timeout} ms)`));
      else resolve({ code, stdout, stderr });
    });
    proc.stdin.end(text);
  });
}
