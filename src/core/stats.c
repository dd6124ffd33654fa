/*
 * stats — see stats.h.
 */
#include "core/stats.h"

#include <math.h>
#include <stdatomic.h>

static _Atomic uint64_t stats_counters[STATS_COUNT_];
static _Atomic long long stats_gauges[STATS_GAUGE_COUNT_];

void stats_set(stats_gauge_t gauge, long long value)
{
    atomic_store_explicit(&stats_gauges[gauge], value, memory_order_relaxed);
}

void stats_add(stats_gauge_t gauge, long long delta)
{
    atomic_fetch_add_explicit(&stats_gauges[gauge], delta, memory_order_relaxed);
}

uint64_t stats_count(stats_counter_t counter)
{
    return atomic_load_explicit(&stats_counters[counter], memory_order_relaxed);
}

long long stats_gauge(stats_gauge_t gauge)
{
    return atomic_load_explicit(&stats_gauges[gauge], memory_order_relaxed);
}

void stats_incr(stats_counter_t counter)
{
    atomic_fetch_add_explicit(&stats_counters[counter], 1, memory_order_relaxed);
}

void stats_incr_by(stats_counter_t counter, uint64_t n)
{
    atomic_fetch_add_explicit(&stats_counters[counter], n, memory_order_relaxed);
}

void stats_read(stats_snapshot_t *out)
{
    out->hits = atomic_load_explicit(&stats_counters[STATS_HIT], memory_order_relaxed);
    out->misses = atomic_load_explicit(&stats_counters[STATS_MISS], memory_order_relaxed);
    out->db_queries = atomic_load_explicit(&stats_counters[STATS_DB_QUERY], memory_order_relaxed);
    out->redis_errors =
        atomic_load_explicit(&stats_counters[STATS_REDIS_ERROR], memory_order_relaxed);
    out->db_errors = atomic_load_explicit(&stats_counters[STATS_DB_ERROR], memory_order_relaxed);
    out->writes = atomic_load_explicit(&stats_counters[STATS_WRITE], memory_order_relaxed);
    out->invalidations =
        atomic_load_explicit(&stats_counters[STATS_INVALIDATION], memory_order_relaxed);
    out->notifications =
        atomic_load_explicit(&stats_counters[STATS_NOTIFICATION], memory_order_relaxed);
}

double stats_hit_rate(const stats_snapshot_t *s)
{
    uint64_t total = s->hits + s->misses;
    if (total == 0)
        return 0.0;
    return round((double)s->hits * 10000.0 / (double)total) / 100.0;
}
