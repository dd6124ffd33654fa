/*
 * cache_internal — the state of one loop's cache, shared by the two files of the cache module
 * (cache.c: life cycle, keys, writes, clear; cache_lookup.c: the lookup). Nothing outside them
 * includes this header.
 */
#ifndef CACHEME_CACHE_INTERNAL_H
#define CACHEME_CACHE_INTERNAL_H

#include "cache/cache.h"
#include "cache/near_cache.h"
#include "store/breaker.h"

#include <stdint.h>

/* Flights (loads in progress) are kept in this many hash buckets by product id. */
#define CACHE_FLIGHT_BUCKETS 64
/* How many products' last refresh-marker reads a loop remembers (direct-mapped by id). */
#define CACHE_MARKER_SLOTS 256

struct cache_flight; /* Defined in cache_lookup.c. */

/* When this loop last read a product's refresh marker. */
typedef struct {
    int32_t id;           /* Product; 0 = empty. */
    long long checked_ms; /* Monotonic ms of the read. */
} cache_marker_slot_t;

struct cache {
    struct event_base *base;                            /* The loop. */
    const config_t *cfg;                                /* Settings, read-only. */
    redis_client_t *redis;                              /* Borrowed; NULL once closed. */
    pg_pool_t *pg;                                      /* Borrowed; NULL once closed. */
    unsigned short rand_state[3];                       /* erand48 state. */
    struct cache_flight *flights[CACHE_FLIGHT_BUCKETS]; /* Loads in progress, by id. */
    cache_marker_slot_t markers[CACHE_MARKER_SLOTS];    /* Refresh-marker reads, by id. */
    double load_ms_avg; /* How long a database load takes (moving average, ms), for XFetch. */
    near_cache_t *near; /* The loop's near cache (L1); NULL when L1_MAX_BYTES is 0. */
    pg_pool_t *replica; /* The read replica's pool, borrowed; NULL when none or closed. */
    breaker_t replica_breaker; /* Opens when replica reads time out or break, see cache_replica. */
};

#endif
