/*
 * cache — the caching patterns: cache-aside lookup of a product with its protections, writes that
 * keep the cache coherent, and clearing the product keys.
 *
 * Lookup (cache_lookup.c): GET the value and its generation from Redis. A fresh value is a hit (and
 * may be refreshed in the background before it expires: refresh-ahead); a fresh "not found" entry is
 * a cached 404 (negative caching). Otherwise the row comes from PostgreSQL — once per key however
 * many lookups miss together (single-flight in the loop, a Redis lock across loops and instances;
 * the others wait for the value) — and is stored with a jittered TTL, unless a write happened
 * meanwhile (generation check), before anyone is answered. When PostgreSQL fails, a value expired
 * at most STALE_IF_ERROR_SECONDS ago is served, marked stale. Redis trouble never fails a lookup: it
 * only costs the cache. What each protection does is switched at run time through lab.h.
 *
 * Stored values are "<expiry ms>:<json>" (see cache_entry.h). The stats counters are kept here.
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
    const char *source;    /* "cache", "database" or "stale" (static string). */
    const char *xcache;    /* For X-Cache: "HIT", "MISS", "STALE" or "BYPASS". */
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

/*
 * Writes the key counting a product's write-behind entries not yet applied to PostgreSQL
 * ("pending:" + key). While it is above zero, PostgreSQL holds an older product than the cache, so
 * lookups must not store what they read there. Returns the length, or -1.
 */
int cache_pending_key(const char *key, char *buf, size_t len);

/* Writes the generation key of a value key into buf. Returns the length, or -1. */
int cache_gen_key(const char *key, char *buf, size_t len);

/*
 * The stored form of a product (json, len) or, with json NULL, of "not found", with the logical TTL
 * from the lab settings (jittered) and the Redis TTL to set (*redis_ttl: logical + the stale window).
 * Returns 0 and a malloc'd *out (caller frees), or -1.
 */
int cache_encode_value(const char *json, size_t len, char **out, size_t *outlen, int *redis_ttl);

/* A uniform random number in [0, 1), per thread. */
double cache_random(void);

/* Writes prefix+id into buf. Returns the length, or -1 when it does not fit. */
int cache_key_build(const char *prefix, int32_t id, char *buf, size_t len);

/*
 * Writes a SCAN MATCH pattern that matches exactly the keys starting with prefix: glob special
 * characters (* ? [ ] \) in the prefix are escaped with a backslash, then "*" is appended.
 * Returns the length, or -1 when it does not fit.
 */
int cache_key_pattern(const char *prefix, char *buf, size_t len);

#endif
