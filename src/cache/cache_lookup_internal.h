/*
 * cache_lookup_internal — what the two halves of cache_lookup_product share: the lookup's state
 * and its flights (cache_lookup.c: first read, queue wait, miss, waiting for a loader) and the
 * load that ends a miss (cache_load.c: the database query, the fill, stale-if-error). Not part
 * of the cache's interface; see cache_lookup.c for the states a lookup goes through.
 *
 * Runs on the cache's loop; not thread-safe.
 */
#ifndef CACHEME_CACHE_LOOKUP_INTERNAL_H
#define CACHEME_CACHE_LOOKUP_INTERNAL_H

#include "cache/cache.h"
#include "cache/cache_internal.h"
#include "cache/near_cache.h"
#include "core/lab.h"
#include "store/redis_client.h"

#include <stddef.h>
#include <stdint.h>

/* What a lock holds: a loader's token, a value it delivered, or when its query failed. */
#define LOCK_TOKEN "t:"
#define LOCK_VALUE "v:"
#define LOCK_FAILED "f:"

typedef struct lookup lookup_t;

/* One load of one product on this loop, with the lookups waiting for it. */
typedef struct cache_flight {
    int32_t id;                /* Product. */
    lookup_t *waiters;         /* Lookups answered with the outcome (leader first). */
    struct cache_flight *next; /* Bucket chain. */
} flight_t;

struct lookup {
    cache_t *cache;            /* Loop. */
    int32_t id;                /* Product. */
    cache_lookup_fn fn;        /* Caller's callback; NULL for a background refresh. */
    void *arg;                 /* Caller's argument. */
    cache_keys_t keys;         /* The product's keys (only value and fresh until a miss). */
    int keys_built;            /* 1 once every key in keys is built. */
    char token[24];            /* Our lock token while we hold it ("" = none). */
    char gen[24];              /* Generation read before the load ("0" = none). */
    int gen_known;             /* 1 when the generation was read: a fill is safe. */
    int primary_only;          /* 1: load from the primary (the replica's row was refused). */
    int use_redis;             /* 0 under CACHE_BYPASS or after Redis refused. */
    int replies_due;           /* First read: replies still to come. */
    int fresh;                 /* First read: 1 unless the refresh marker is known missing. */
    int queued;                /* First read: 1 when the product has queued writes. */
    int invalid;               /* First read: 1 when the value found was not a product. */
    int got;                   /* First read: GET_* once the GET is answered or refused. */
    char *held;                /* First read: the GET's value when it came before the others. */
    size_t held_len;           /* Its length. */
    flight_t *flight;          /* The flight this lookup leads or waits on. */
    lookup_t *next_waiter;     /* Flight's waiter list. */
    struct event *timer;       /* Polling (the lock, or the write-behind queue). */
    long long poll_until_ms;   /* When polling gives up (monotonic ms). */
    long long wait_started_ms; /* When waiting on another loader began (Unix ms). */
    long long started_ms;      /* Start of the database load (monotonic ms), for XFetch. */
    near_ticket_t near;        /* First read: may its value fill the near cache? */
    long long pttl_ms;         /* First read: the key's remaining TTL (-2 = not read). */
    lab_settings_t lab;        /* Settings when the lookup started. */
    cache_lookup_opts_t opts;  /* Accounting (cache_lookup_product_opts); zero for a client's. */
};

/* An answer from the database: MISS, or BYPASS when Redis was skipped. */
cache_answer_t lookup_miss_answer(const lookup_t *l);

/* The Redis client the lookup may use: NULL under CACHE_BYPASS or after Redis refused. */
redis_client_t *lookup_redis(const lookup_t *l);

/*
 * Sends a command whose arguments are NUL-terminated but for argv[1] (a script of script_len
 * bytes; 0 when argv[1] is not one), with l as fn's argument. Returns 0 when sent, else -1.
 */
int lookup_send(lookup_t *l, redis_client_fn fn, int argc, const char **argv, size_t script_len);

/* Ends the leader's flight: every lookup on it gets the same outcome, and is freed. */
void lookup_flight_end(lookup_t *leader, cache_status_t status, cache_answer_t how,
                       const char *json, size_t len);

/* LOAD (cache_load.c): queries the database for l's product, fills the cache, answers the flight.
 */
void lookup_load(lookup_t *l);

/* STALE (cache_load.c): PostgreSQL could not answer: the stale copy if one is left, else 503. */
void lookup_serve_stale(lookup_t *l);

#endif
