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
    STATS_WB_APPLIED,      /* Write-behind entries applied to PostgreSQL by this process. */
    STATS_WB_RETRY,        /* Write-behind steps retried after a failure. */
    STATS_WB_DEAD_LETTER,  /* Write-behind entries parked in the dead-letter stream. */
    STATS_WB_TRIMMED,      /* Acknowledged write-behind entries trimmed from the stream. */
    STATS_L1_HIT,          /* Lookups answered by a near cache (also counted in STATS_HIT). */
    STATS_L1_FILL,         /* Values stored in a near cache. */
    STATS_L1_TTL_READ,     /* PTTLs the near cache's fills read: keyspace hits Redis counts. */
    STATS_L1_EVICTION,     /* Near-cache entries evicted to make room. */
    STATS_L1_INVALIDATION, /* Near-cache entries dropped by a change (message or own write). */
    STATS_L1_FLUSH,        /* Times a near cache was emptied as a whole. */
    /* Reads answered by the read replica (DATABASE_REPLICA_URL). */
    STATS_REPLICA_READ,
    /* Reads sent to the primary because the replica was down or failed. */
    STATS_REPLICA_FALLBACK,
    /* Rows read from the replica older than the newest write: not cached, read again from the
     * primary (the lab's replica_guard). */
    STATS_REPLICA_REFUSED,
    /* Reads sent to the primary without trying the replica, whose breaker was open. */
    STATS_REPLICA_SKIPPED,
    /* Reads sent a second time on another connection because the first was slow (PG_HEDGE_MS). */
    STATS_DB_HEDGE,
    /* Hedged reads whose second copy answered first. */
    STATS_DB_HEDGE_WON,
    /* Topology events, each counted by every event loop that noticed it (api/topology_watch). */
    STATS_TOPOLOGY_SWITCH_MASTER, /* Sentinel's +switch-master moved our master. */
    STATS_TOPOLOGY_SLOTS_MOVED,   /* Cluster slots found served by another master. */
    STATS_TOPOLOGY_NODE_LOST,     /* A cluster master's connection lost. */
    STATS_TOPOLOGY_NODE_BACK,     /* A lost cluster master connected again. */
    STATS_TOPOLOGY_FALLBACK_ON,   /* The read replica's pool went down: reads go to the primary. */
    STATS_TOPOLOGY_FALLBACK_OFF,  /* It came back: reads go to the replica again. */
    /* /events shared through Redis Pub/Sub (cache/event_bus). */
    STATS_EVENTS_PUBLISHED,      /* Events this process published that Redis accepted. */
    STATS_EVENTS_PUBLISH_FAILED, /* Events not published: Redis down, failing or slow. */
    STATS_EVENTS_RECEIVED,       /* Events of other loops and instances heard, summed over loops. */
    STATS_EVENTS_REJECTED,       /* Messages on the channel that were not a readable event. */
    STATS_EVENTS_MISSED,         /* Events of other buses that never arrived (gaps in their seq). */
    STATS_COUNT_                 /* Number of counters; not a counter. */
} stats_counter_t;

/* Figures that are set rather than counted: the last value seen. */
typedef enum {
    STATS_WB_PENDING = 0, /* Write-behind entries read but not acknowledged (the group's PEL). */
    STATS_WB_LAG,         /* Write-behind entries not yet read by the group. */
    STATS_L1_ENTRIES,     /* Entries in the near caches of every loop. */
    STATS_L1_BYTES,       /* Their charge against L1_MAX_BYTES. */
    STATS_L1_SERVING, /* Loops whose near cache may answer now (tracking on, heartbeat fresh). */
    STATS_EVENTS_SUBSCRIBED, /* Loops subscribed to the events channel now. */
    STATS_GAUGE_COUNT_       /* Number of gauges; not a gauge. */
} stats_gauge_t;

/* Sets a gauge. */
void stats_set(stats_gauge_t gauge, long long value);

/* Adds delta (may be negative) to a gauge that several loops share. */
void stats_add(stats_gauge_t gauge, long long delta);

/* Reads a counter or a gauge. */
uint64_t stats_count(stats_counter_t counter);
long long stats_gauge(stats_gauge_t gauge);

/* Adds one to a counter. */
void stats_incr(stats_counter_t counter);

/* Adds n to a counter. */
void stats_incr_by(stats_counter_t counter, uint64_t n);

/* Copies the current values. */
void stats_read(stats_snapshot_t *out);

/* Hit rate in percent (0..100) rounded to 2 decimals; 0 when there were no lookups. */
double stats_hit_rate(const stats_snapshot_t *s);

#endif
