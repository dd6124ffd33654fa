/*
 * stats — the service's own counters of product lookups, shared by every event loop.
 *
 * Counters are C11 atomics with relaxed ordering: each increment is exact under any concurrency,
 * and a snapshot reads each counter once (the set is not a single atomic snapshot, which the
 * dashboard does not need). All functions are thread-safe and never block.
 */
#ifndef CACHEME_STATS_H
#define CACHEME_STATS_H

#include <stdint.h>

typedef struct {
    uint64_t hits;          /* Lookups answered from Redis. */
    uint64_t misses;        /* Lookups that went to PostgreSQL (404s and Redis failures too). */
    uint64_t db_queries;    /* Queries sent to PostgreSQL for product endpoints. */
    uint64_t redis_errors;  /* Redis commands that failed, timed out or found Redis down. */
    uint64_t db_errors;     /* PostgreSQL queries that failed, timed out or found it down. */
    uint64_t writes;        /* Product writes committed through the API. */
    uint64_t invalidations; /* Cached products dropped or replaced because of a change. */
    uint64_t notifications; /* Change notifications received from PostgreSQL. */
} stats_snapshot_t;

typedef enum {
    STATS_HIT = 0,
    STATS_MISS,
    STATS_DB_QUERY,
    STATS_REDIS_ERROR,
    STATS_DB_ERROR,
    STATS_WRITE,
    STATS_INVALIDATION,
    STATS_NOTIFICATION,
    STATS_COUNT_ /* Number of counters; not a counter. */
} stats_counter_t;

/* Adds one to a counter. */
void stats_incr(stats_counter_t counter);

/* Copies the current values. */
void stats_read(stats_snapshot_t *out);

/* Hit rate in percent (0..100) rounded to 2 decimals; 0 when there were no lookups. */
double stats_hit_rate(const stats_snapshot_t *s);

#endif
