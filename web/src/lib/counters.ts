// What the statistics panel shows: the service's counters and Redis INFO, counted from a baseline.
//
// DELETE /cache/clear removes the product keys but resets no counter, in the service or in Redis.
// So that "clear cache" visibly starts the numbers again, the dashboard takes a baseline (the
// counters right after the clear) and shows differences from it. A counter that goes below its
// baseline means the service or Redis restarted: that side's baseline is dropped.

import type { AppStats, CacheStats } from './api';
import type { Snapshot } from './live';

export interface Baseline {
  at: number; // browser time, ms since the epoch
  timestamp: number; // service time of the counters, unix seconds
  app: AppStats;
  cache: CacheStats | null;
}

export interface CounterView {
  since: number | null; // baseline time, null = since the processes started
  app: {
    hits: number;
    misses: number;
    hit_rate: number | null;
    db_queries: number;
    redis_errors: number;
    db_errors: number;
    /** null when the service does not report the counter (no write endpoints). */
    writes: number | null;
    invalidations: number | null;
    notifications: number | null;
  };
  /** Service totals since it started, always as the API reports them. */
  appTotals: AppStats;
  cache: {
    keyspace_hits: number;
    keyspace_misses: number;
    hit_rate: number | null;
    used_memory_human: string;
    connected_clients: number;
    total_commands_processed: number;
  } | null;
}

/** Hit rate in percent with two decimals, as the API computes it; null without lookups. */
export function hitRate(hits: number, misses: number): number | null {
  const total = hits + misses;
  return total > 0 ? Math.round((hits / total) * 10000) / 100 : null;
}

/** A snapshot must be this much newer than the baseline before a lower counter means a restart. */
const RESTART_MARGIN_S = 3;

const APP_COUNTERS = ['hits', 'misses', 'db_queries', 'redis_errors', 'db_errors'] as const;
/** Counters only services with the write endpoints report. */
const WRITE_COUNTERS = ['writes', 'invalidations', 'notifications'] as const;
const CACHE_COUNTERS = ['keyspace_hits', 'keyspace_misses', 'total_commands_processed'] as const;

/** Drops the parts of `baseline` that the snapshot shows were reset (restart), or the whole. */
export function reconcile(baseline: Baseline | null, s: Snapshot): Baseline | null {
  if (!baseline) return null;
  if (s.timestamp <= (baseline.timestamp ?? 0) + RESTART_MARGIN_S) return baseline;
  const appReset =
    APP_COUNTERS.some((k) => s.app_stats[k] < baseline.app[k]) ||
    WRITE_COUNTERS.some((k) => (s.app_stats[k] ?? 0) < (baseline.app[k] ?? 0));
  const cacheReset = !!(baseline.cache && s.cache_stats && CACHE_COUNTERS.some((k) => s.cache_stats![k] < baseline.cache![k]));
  if (appReset) return null;
  if (cacheReset) return { ...baseline, cache: null };
  return baseline;
}

export function countersView(s: Snapshot, baseline: Baseline | null): CounterView {
  const a = s.app_stats;
  const b = baseline?.app;
  const since = (now: number, then: number | undefined) => Math.max(0, now - (then ?? 0));
  const app = {
    hits: since(a.hits, b?.hits),
    misses: since(a.misses, b?.misses),
    hit_rate: 0 as number | null,
    db_queries: since(a.db_queries, b?.db_queries),
    redis_errors: since(a.redis_errors, b?.redis_errors),
    db_errors: since(a.db_errors, b?.db_errors),
    writes: null as number | null,
    invalidations: null as number | null,
    notifications: null as number | null,
  };
  for (const k of WRITE_COUNTERS) {
    const now = a[k];
    app[k] = typeof now === 'number' ? since(now, b?.[k]) : null;
  }
  app.hit_rate = b ? hitRate(app.hits, app.misses) : a.hits + a.misses > 0 ? a.hit_rate : null;

  let cache: CounterView['cache'] = null;
  if (s.cache_stats) {
    const c = s.cache_stats;
    const cb = baseline?.cache;
    const hits = since(c.keyspace_hits, cb?.keyspace_hits);
    const misses = since(c.keyspace_misses, cb?.keyspace_misses);
    cache = {
      keyspace_hits: hits,
      keyspace_misses: misses,
      hit_rate: hitRate(hits, misses),
      used_memory_human: c.used_memory_human,
      connected_clients: c.connected_clients,
      total_commands_processed: since(c.total_commands_processed, cb?.total_commands_processed),
    };
  }
  return { since: baseline?.at ?? null, app, appTotals: a, cache };
}
