// A bounded background load for the chaos tests: N concurrent loops of GET /products/{id} against
// a running service, each answer recorded with the phase the test was in when the request started,
// so that faults injected while the load runs (kill -9, SIGSTOP, pg-stop) can be judged per phase.
//
//   const load = startLoad({ url: () => stack.url, ids: () => [1, 2, 3], concurrency: 8 });
//   load.phase('redis-down');                         // later requests carry this label
//   await load.until((l) => l.count('redis-down') >= 300, { message: '300 requests' });
//   await load.stop();                                // waits for the loops to finish
//   load.summary('redis-down')                        // counts and latency percentiles
//
// Each record: { id, phase, t0, t1 (ms since the start of the load), ms, status, xcache, body,
// text, source } or { ..., error } when no answer came.
//
// Every loop stops at stop(), and also on its own after `maxRequests` requests in all or `maxMs`
// (hang detectors, so a test that fails half-way never leaves a load running).

import { waitFor } from '../../lib/util.mjs';
import { percentile, tally } from './resilience.mjs';

/**
 * Start the load. `url()` gives the base URL at each request (the service may change), `ids()` the
 * product ids to cycle through at that moment. Returns a controller; see the file comment.
 */
export function startLoad({ url, ids, concurrency = 8, timeout = 10000, maxRequests = 500000, maxMs = 180000 }) {
  const started = performance.now();
  const results = [];
  let label = 'start';
  const phaseStarts = { start: 0 }; // phase -> ms since the start of the load when it began
  let stopped = false;
  let sent = 0;
  const pending = new Set(); // records of the requests sent and not yet answered

  const loop = async (n) => {
    for (let i = n; !stopped; i += concurrency) {
      if (sent >= maxRequests || performance.now() - started > maxMs) break;
      sent++;
      const list = ids();
      const id = list[i % list.length];
      const phase = label;
      const t0 = performance.now();
      const rec = { id, phase, t0: t0 - started };
      pending.add(rec);
      try {
        const res = await fetch(`${url()}/products/${id}`, { signal: AbortSignal.timeout(timeout) });
        const text = await res.text();
        rec.status = res.status;
        rec.xcache = res.headers.get('x-cache');
        try {
          rec.body = JSON.parse(text);
        } catch {
          rec.body = undefined;
        }
        rec.text = text;
        rec.source = rec.body?.source;
      } catch (err) {
        rec.error = err.name === 'TimeoutError' ? `no answer within ${timeout} ms` : err.message;
      }
      rec.ms = performance.now() - t0;
      rec.t1 = rec.t0 + rec.ms;
      pending.delete(rec);
      results.push(rec);
    }
  };
  const loops = Array.from({ length: concurrency }, (_, n) => loop(n));

  const inPhase = (phase) => (phase === undefined ? results : results.filter((r) => r.phase === phase));

  return {
    results,
    /** Label the requests started from now on. */
    phase(name) {
      label = name;
      phaseStarts[name] = performance.now() - started;
    },
    /** When a phase began, in ms since the start of the load (undefined if it never did). */
    phaseStart(name) {
      return phaseStarts[name];
    },
    /** Answers of a phase that also ended before phase `next` began (nothing overlapping it). */
    settled(phase, next) {
      const end = phaseStarts[next] ?? Infinity;
      return inPhase(phase).filter((r) => r.t1 <= end);
    },
    /** Requests of the given phases sent and not answered yet (of every phase without an argument). */
    inFlight(...phases) {
      return [...pending].filter((r) => phases.length === 0 || phases.includes(r.phase)).length;
    },
    /** Requests answered (or failed) so far in a phase (all phases without an argument). */
    count(phase) {
      return inPhase(phase).length;
    },
    /** Answers of a phase, optionally filtered. */
    of(phase, filter = () => true) {
      return inPhase(phase).filter(filter);
    },
    /** Poll `cond(this)` until true; fails when the loops have ended without it. */
    async until(cond, { timeout: ms = 60000, message = 'load condition' } = {}) {
      const self = this;
      await waitFor(
        () => {
          if (cond(self)) return true;
          if (stopped || sent >= maxRequests || performance.now() - started > maxMs) {
            throw Object.assign(new Error(`the load ended before ${message}`), { fatal: true });
          }
          return false;
        },
        { timeout: ms, interval: 20, message },
      );
    },
    /** Stop every loop and wait for the requests in flight. */
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
    /** Counts and latencies of a phase: statuses, sources, X-Cache values, errors, p50/p99/max ms. */
    summary(phase) {
      const rs = inPhase(phase);
      const ms = rs.map((r) => r.ms);
      const round = (v) => (v === undefined ? null : Math.round(v * 10) / 10);
      return {
        requests: rs.length,
        status: tally(rs.map((r) => r.status ?? 'error')),
        source: tally(rs.filter((r) => r.source).map((r) => r.source)),
        x_cache: tally(rs.filter((r) => r.xcache).map((r) => r.xcache)),
        errors: rs.filter((r) => r.error).length,
        p50_ms: round(percentile(ms, 50)),
        p99_ms: round(percentile(ms, 99)),
        max_ms: round(ms.length ? Math.max(...ms) : undefined),
      };
    },
  };
}
