// The dashboard's record of the lookups it made. The request log shows the newest 50; the latency
// chart plots the newest 200 made since the cache was last cleared (resetChart()), so that a clear
// visibly starts the chart again while the log keeps its history.

import type { Source, XCache } from './api';
import { percentile } from './format';
import { Store } from './store';
import { toneOf } from './xcache';
import type { Tone } from './xcache';

export { toneOf };
export type { Tone };

/** How one lookup ended, from the user's point of view. */
export type Outcome = 'found' | 'not_found' | 'invalid' | 'unavailable' | 'error' | 'unreachable';

export interface LookupRecord {
  seq: number;
  /** Browser time the answer arrived, ms since the epoch. */
  at: number;
  /** The id as requested. */
  id: string;
  /** HTTP status; 0 when no answer came. */
  status: number;
  outcome: Outcome;
  /** The body's source; also "cache" for a 404 answered from a negative cache entry. */
  source: Source | null;
  /** The X-Cache header, or inferred (see xcacheFrom); null when no answer came. */
  xcache: XCache | null;
  /** Whether xcache was read from the response or worked out from the body and the service's state. */
  xcacheFrom: 'header' | 'inferred' | null;
  /** Redis was down or its circuit breaker open at the time (a database answer is then amber). */
  fallback: boolean;
  /** X-Cache-Level of a hit: "L1" (the process's near cache) or "L2" (Redis); null otherwise. */
  level: 'L1' | 'L2' | null;
  fetch_time_ms: number | null;
  roundTripMs: number;
  requestId: string | null;
  /** The X-Instance that answered, null when unknown. */
  instance: string | null;
  /** The API's error text, or the reason there was no answer. */
  detail: string | null;
}

export const LOG_SIZE = 50;
export const CHART_SIZE = 200;

export interface SourceSummary {
  tone: Tone;
  count: number;
  p50: number | null;
  p95: number | null;
  p50RoundTrip: number | null;
  p95RoundTrip: number | null;
}

export class LookupHistory {
  /** Every record kept, oldest first (at most CHART_SIZE). */
  readonly records = new Store<LookupRecord[]>([]);
  /** Records the chart plots: those since the last reset, oldest first. */
  readonly chartRecords = new Store<LookupRecord[]>([]);
  private seq = 0;

  add(r: Omit<LookupRecord, 'seq'>): LookupRecord {
    const rec = { ...r, seq: ++this.seq };
    this.records.set([...this.records.value, rec].slice(-CHART_SIZE));
    this.chartRecords.set([...this.chartRecords.value, rec].slice(-CHART_SIZE));
    return rec;
  }

  /** The cache was cleared: the chart starts again; the log keeps its lines. */
  resetChart(): void {
    this.chartRecords.set([]);
  }
}

/** p50/p95 of fetch_time_ms and of the round trip, per tone, over `records`. */
export function summarise(records: LookupRecord[]): SourceSummary[] {
  const tones: Tone[] = ['cache', 'database', 'fallback'];
  return tones.map((tone) => {
    const mine = records.filter((r) => toneOf(r) === tone && r.fetch_time_ms !== null);
    const fetch = mine.map((r) => r.fetch_time_ms as number);
    const rt = mine.map((r) => r.roundTripMs);
    return {
      tone,
      count: mine.length,
      p50: percentile(fetch, 50),
      p95: percentile(fetch, 95),
      p50RoundTrip: percentile(rt, 50),
      p95RoundTrip: percentile(rt, 95),
    };
  });
}
