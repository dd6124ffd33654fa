// The service's own latency of GET /products/{id} by source: the `latency` object of /cache/stats
// and of every `event: stats` message, read from the service's histograms (within about 12 %).
//
// These are not the page's numbers. The service times a request from the moment it has read it to
// the moment its answer is queued, so the network, the browser and the page's own script are left
// out; and it counts the lookups of every client (curl, load tests, other pages), since the service
// started — a "Clear cache" resets nothing here.

import type { LatencySummary, ServerLatency, Source } from './api';
import { formatCount, formatMs } from './format';
import type { Tone } from './xcache';

/** The sources in the order the table shows them. */
export const LATENCY_SOURCES: readonly Source[] = ['cache', 'database', 'stale'];

/** The colour of a source's row: green cache, blue database, amber for a stale copy (a fallback). */
export function sourceTone(source: Source): Tone {
  return source === 'cache' ? 'cache' : source === 'database' ? 'database' : 'fallback';
}

function isSummary(v: unknown): v is LatencySummary {
  if (!v || typeof v !== 'object') return false;
  const s = v as Record<string, unknown>;
  return ['count', 'p50_ms', 'p95_ms', 'p99_ms', 'max_ms'].every((k) => typeof s[k] === 'number' && Number.isFinite(s[k]));
}

/**
 * The `latency` object of a stats body or message, or null when the service does not send one
 * (older services) or it is malformed. A source the service left out counts as no lookups.
 */
export function parseServerLatency(v: unknown): ServerLatency | null {
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (!LATENCY_SOURCES.some((src) => isSummary(o[src]))) return null;
  const empty: LatencySummary = { count: 0, p50_ms: 0, p95_ms: 0, p99_ms: 0, max_ms: 0 };
  const pick = (src: Source): LatencySummary => (isSummary(o[src]) ? (o[src] as LatencySummary) : empty);
  return { cache: pick('cache'), database: pick('database'), stale: pick('stale') };
}

/** The columns of the table, by the API's field names. */
export const LATENCY_COLUMNS = ['count', 'p50_ms', 'p95_ms', 'p99_ms', 'max_ms'] as const;
export type LatencyColumn = (typeof LATENCY_COLUMNS)[number];

/** One cell: the text shown, and the number behind it (null: no lookups yet, shown as "—"). */
export interface LatencyCell {
  text: string;
  value: number | null;
}

/** One table row: the percentiles stay empty until the source has a lookup. */
export interface LatencyRow {
  source: Source;
  tone: Tone;
  cells: Record<LatencyColumn, LatencyCell>;
}

export function latencyRows(l: ServerLatency | null): LatencyRow[] {
  return LATENCY_SOURCES.map((source) => {
    const s = l?.[source] ?? null;
    const ms = (v: number | undefined): LatencyCell =>
      s && s.count > 0 && typeof v === 'number' ? { text: formatMs(v), value: v } : { text: '—', value: null };
    return {
      source,
      tone: sourceTone(source),
      cells: {
        count: s ? { text: formatCount(s.count), value: s.count } : { text: '—', value: null },
        p50_ms: ms(s?.p50_ms),
        p95_ms: ms(s?.p95_ms),
        p99_ms: ms(s?.p99_ms),
        max_ms: ms(s?.max_ms),
      },
    };
  });
}
