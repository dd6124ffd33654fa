// How a lookup was served, in the service's two vocabularies: `source` in the body (cache, database,
// stale) and the X-Cache header (HIT, MISS, STALE, BYPASS), and the colour the dashboard gives it.
//
// The page and the API are on different origins, so the browser lets the page read X-Cache only when
// the API lists it in Access-Control-Expose-Headers. When it does not, the value is worked out from
// what the page can see — the body's source and whether Redis is down or its circuit breaker open —
// and marked as inferred wherever it is shown.

import type { Source, XCache } from './api';

export const XCACHE_VALUES: readonly XCache[] = ['HIT', 'MISS', 'STALE', 'BYPASS'];

/** The header's value, or null when it is missing, unreadable or unknown. */
export function parseXCache(header: string | null): XCache | null {
  const v = header?.trim().toUpperCase() ?? '';
  return (XCACHE_VALUES as readonly string[]).includes(v) ? (v as XCache) : null;
}

/**
 * X-Cache as the service would have written it, from the body and the service's state:
 * `source` ("cache" also for a 404 answered from a negative entry; null for a 404 from PostgreSQL,
 * which is a miss) and whether Redis was skipped (down, or its circuit breaker open).
 */
export function inferXCache(source: Source | null, redisSkipped: boolean): XCache {
  if (source === 'cache') return 'HIT';
  if (source === 'stale') return 'STALE';
  return redisSkipped ? 'BYPASS' : 'MISS';
}

/**
 * The colour class: green for answers from the cache, blue for the database, amber for the
 * fallback paths (a stale copy because PostgreSQL failed; the database because Redis was down or
 * skipped). null: no answer to colour (errors).
 */
export type Tone = 'cache' | 'database' | 'fallback';

/** What the tone of an answer depends on. */
export interface Served {
  source: Source | null;
  xcache: XCache | null;
  /** Redis was down or its circuit breaker open when the answer came. */
  fallback: boolean;
}

export function toneOf(r: Served): Tone | null {
  if (r.source === 'cache') return 'cache';
  if (r.source === 'stale') return 'fallback';
  if (r.source === 'database') return r.fallback || r.xcache === 'BYPASS' ? 'fallback' : 'database';
  return null;
}

/** The words on a source badge: the API's source, with the reason when it is a fallback. */
export function sourceLabel(r: Served): string {
  if (r.source === 'stale') return 'stale (database down)';
  if (r.source === 'database' && toneOf(r) === 'fallback') return 'database (fallback: Redis down)';
  return r.source ?? '—';
}

/** The tone of an X-Cache value on its own: HIT green, MISS blue, STALE and BYPASS amber. */
export function xcacheTone(x: XCache): Tone {
  return x === 'HIT' ? 'cache' : x === 'MISS' ? 'database' : 'fallback';
}

/** One sentence on what an X-Cache value means. */
export function describeXCache(x: XCache): string {
  switch (x) {
    case 'HIT':
      return 'answered from the cache';
    case 'MISS':
      return 'not in the cache: read from PostgreSQL, then cached';
    case 'STALE':
      return 'PostgreSQL failed, so an expired copy was served from the cache';
    case 'BYPASS':
      return 'Redis was skipped (down, or its circuit breaker open): read from PostgreSQL';
  }
}
