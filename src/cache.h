/*
 * cache — the caching patterns: cache-aside lookup of a product, clearing the product keys.
 *
 * Lookup (cache-aside): GET prefix+id from Redis; on a hit answer with the stored JSON; on a miss, or
 * when Redis is down, slow or erroring, read the row from PostgreSQL, SET the key with
 * CACHE_TTL_SECONDS, then answer — so that the client's next read finds the key, whichever loop
 * serves it. Redis trouble never fails a lookup: it only costs the cache (a failed SET still
 * answers, at the latest at the command's deadline). The stats counters are kept here (hits,
 * misses, db_queries, redis_errors, db_errors).
 *
 * Runs on the worker's loop; callbacks come on the same loop (possibly before the call returns).
 */
#ifndef CACHEME_CACHE_H
#define CACHEME_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "worker.h"

typedef enum {
    CACHE_FOUND = 0,     /* json/len hold the product object. */
    CACHE_NOT_FOUND = 1, /* No such product. */
    CACHE_DB_DOWN = 2,   /* Not cached and PostgreSQL could not answer in time. */
    CACHE_FAILED = 3     /* Out of memory or a corrupt row; answer 503. */
} cache_status_t;

typedef struct {
    cache_status_t status; /* Outcome. */
    const char *source;    /* "cache" or "database" (static string). */
    const char *json;      /* Product object text; valid only during the callback. */
    size_t len;            /* Its length. */
} cache_result_t;

typedef void (*cache_lookup_fn)(const cache_result_t *res, void *arg);

/* Looks product id up, cache-aside. fn is called exactly once. */
void cache_lookup_product(worker_t *w, int32_t id, cache_lookup_fn fn, void *arg);

/*
 * Deletes every key under the prefix with SCAN + UNLINK in batches (never KEYS or FLUSHALL).
 * fn gets 0 and the number of keys removed, or -1 when Redis failed (partial count).
 */
typedef void (*cache_clear_fn)(int status, long long cleared, void *arg);
void cache_clear(worker_t *w, cache_clear_fn fn, void *arg);

/*
 * Completion of a cache write: status 1 when Redis applied it, 0 when it was skipped (a newer
 * change was already applied, or CACHE_BYPASS), -1 when Redis failed or was down.
 */
typedef void (*cache_done_fn)(int status, void *arg);

/*
 * After a change of product id committed at version: raises the product's generation and deletes
 * its value, so that no reader can store an older row afterwards. only_if_newer: skip when this
 * version was already applied (change notifications of the service's own writes). fn is called
 * exactly once.
 */
void cache_invalidate(worker_t *w, int32_t id, long long version, int only_if_newer,
                      cache_done_fn fn, void *arg);

/*
 * Write-through: stores json (NUL-terminated) as product id at version, unless a newer version was
 * already applied. fn is called exactly once.
 */
void cache_put(worker_t *w, int32_t id, long long version, const char *json, cache_done_fn fn,
               void *arg);

/* Writes prefix+id into buf. Returns the length, or -1 when it does not fit. */
int cache_key_build(const char *prefix, int32_t id, char *buf, size_t len);

/*
 * Writes a SCAN MATCH pattern that matches exactly the keys starting with prefix: glob special
 * characters (* ? [ ] \) in the prefix are escaped with a backslash, then "*" is appended.
 * Returns the length, or -1 when it does not fit.
 */
int cache_key_pattern(const char *prefix, char *buf, size_t len);

#endif
