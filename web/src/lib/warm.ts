// The cache warming panel's pure parts: what a run's figures say, in the API's words (warmed,
// skipped, total), and how full its progress bar is. The status comes from GET /cache/warm or from an
// `event: warm` of the stream; both carry the same figures, and `state` in their own vocabulary.

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
}

export function fromStatus(s: WarmStatus): WarmView {
  return { run: s.run, running: s.state === 'running', failed: s.state === 'failed', mode: s.mode, total: s.total, warmed: s.warmed, skipped: s.skipped, elapsedMs: s.elapsed_ms, reason: s.reason };
}

export function fromEvent(e: WarmEvent): WarmView {
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
  };
}

/** Products handled so far as a share of the total, 0–100; a finished run is full. */
export function percent(v: WarmView): number {
  if (!v.running && v.run > 0 && !v.failed) return 100;
  if (v.total === null || v.total <= 0) return 0;
  return Math.min(100, Math.round(((v.warmed + v.skipped) / v.total) * 100));
}

/** One sentence on the run. */
export function describe(v: WarmView): string {
  if (v.run === 0) return 'No warm since the service started.';
  const figures = `${formatCount(v.warmed)} warmed, ${formatCount(v.skipped)} skipped${v.total !== null ? ` of ${formatCount(v.total)}` : ''}`;
  const took = `${(v.elapsedMs / 1000).toFixed(1)} s`;
  if (v.running) return `Warming (${v.mode}): ${figures}, ${took} so far…`;
  if (v.failed) return `Warm ${v.run} (${v.mode}) failed after ${took}: ${v.reason ?? 'no reason given'}. ${figures}.`;
  return `Warm ${v.run} (${v.mode}) done in ${took}: ${figures}.${v.reason ? ` ${v.reason}.` : ''}`;
}
