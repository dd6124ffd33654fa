// The cache warming panel's pure parts: what a run's figures say, in the API's words (warmed,
// skipped, total), and how full its progress bar is. The status comes from GET /cache/warm or from an
// `event: warm` of the stream; both carry the same figures, and `state` in their own vocabulary.
// Events come from every instance (relayed through Redis Pub/Sub) and name the one that ran the
// warm; GET /cache/warm is always this instance's own run. Run numbers count per instance.

import type { WarmEvent, WarmStatus } from './api';
import { formatCount } from './format';

/** A run's figures from either source; `running` is true while the run goes on. */
export interface WarmView {
  run: number;
  running: boolean;
  failed: boolean;
  mode: string | null;
  total: number | null;
  warmed: number;
  skipped: number;
  elapsedMs: number;
  reason: string | null;
  /** INSTANCE_ID of the instance that ran it; null when the source does not say (GET /cache/warm: this instance). */
  instance: string | null;
}

export function fromStatus(s: WarmStatus): WarmView {
  return { run: s.run, running: s.state === 'running', failed: s.state === 'failed', mode: s.mode, total: s.total, warmed: s.warmed, skipped: s.skipped, elapsedMs: s.elapsed_ms, reason: s.reason, instance: null };
}

export function fromEvent(e: WarmEvent): WarmView {
  // Not in WarmEvent's schema: the stream adds it to say which instance ran the warm.
  const instance = (e as WarmEvent & { instance?: unknown }).instance;
  return {
    run: e.run,
    running: e.state === 'started' || e.state === 'progress',
    failed: e.state === 'failed',
    mode: e.mode,
    total: e.total,
    warmed: e.warmed,
    skipped: e.skipped,
    elapsedMs: e.elapsed_ms,
    reason: e.reason,
    instance: typeof instance === 'string' && instance !== '' ? instance : null,
  };
}

/** Whether the run is this instance's (`local` is this instance's name, null while unknown). */
export function isLocalRun(v: WarmView, local: string | null): boolean {
  return v.instance === null || v.instance === local;
}

/**
 * Whether `next` should replace the run shown. Runs are numbered per instance, so only runs of the
 * same instance are compared by number (an older run's event never replaces a newer run's figures);
 * a run of another instance replaces the one shown unless that one is still going and this one is
 * not, so a run in progress is not hidden by another instance's finished one.
 */
export function replaces(shown: WarmView | null, next: WarmView, local: string | null): boolean {
  if (!shown) return true;
  const origin = (v: WarmView) => v.instance ?? local ?? '';
  if (origin(shown) === origin(next)) return next.run >= shown.run;
  return !(shown.running && !next.running);
}

/** Products handled so far as a share of the total, 0–100; a finished run is full. */
export function percent(v: WarmView): number {
  if (!v.running && v.run > 0 && !v.failed) return 100;
  if (v.total === null || v.total <= 0) return 0;
  return Math.min(100, Math.round(((v.warmed + v.skipped) / v.total) * 100));
}

/** The run in words, naming the instance that ran it when the source does. */
export function describe(v: WarmView, local: string | null = null): string {
  if (v.run === 0) return 'No warm since the service started.';
  const figures = `${formatCount(v.warmed)} warmed, ${formatCount(v.skipped)} skipped${v.total !== null ? ` of ${formatCount(v.total)}` : ''}`;
  const took = `${(v.elapsedMs / 1000).toFixed(1)} s`;
  const by = v.instance === null ? '' : ` Run by ${v.instance}${v.instance === local ? ' (this instance)' : ''}.`;
  if (v.running) return `Warming (${v.mode}): ${figures}, ${took} so far…${by}`;
  if (v.failed) return `Warm ${v.run} (${v.mode}) failed after ${took}: ${v.reason ?? 'no reason given'}. ${figures}.${by}`;
  return `Warm ${v.run} (${v.mode}) done in ${took}: ${figures}.${v.reason ? ` ${v.reason}.` : ''}${by}`;
}
