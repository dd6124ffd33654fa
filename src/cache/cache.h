/*
 * cache — the caching patterns: cache-aside lookup of a product with its protections, writes that
 * keep the cache coherent, and clearing the product keys.
 *
 * Lookup (cache_lookup.c): GET the product key. A value is a hit (and may be refreshed in the
 * background before it expires: refresh-ahead); a cached `null` is a cached 404 (negative caching).
 * Otherwise the row comes from PostgreSQL — once per key however many lookups miss together
 * (single-flight in the loop, a Redis lock across loops and instances; the others wait for the
 * value) — and is stored with a jittered TTL, unless a write happened meanwhile (generation check),
 * before anyone is answered. When PostgreSQL fails, a copy of the value kept up to
 * STALE_IF_ERROR_SECONDS past its expiry is served, marked stale. Redis trouble never fails a
 * lookup: it only costs the cache. What each protection does is switched at run time (lab.h).
 *
 * Redis keyspace statistics are the lab's first lesson, so a lookup makes exactly one read that
 * Redis counts in INFO keyspace_hits/keyspace_misses: the GET of the product key. Every other key a
 * lookup or a write touches is read with a command Redis does not count as a keyspace lookup
 * (write commands, and SETRANGE with an empty string, which only reports a string's length). The
 * keys beside a product key "product:N" (see cache_keys_t) carry it as a hash tag, so that a Redis
 * Cluster puts them in its slot and every script touches one slot:
 *   {product:N}:gen      the version of the newest committed change (a string), raised by writes;
 *   {product:N}:fresh    "1" while the value needs no refresh (refresh-ahead);
 *   {product:N}:stale    a list holding a copy of the value, kept past its expiry for
 * stale-if-error;
 *   {product:N}:lock     a list: the token of the one loader querying PostgreSQL, then for a
 * moment the value it stored ("v:<json>"), or the time its query failed ("f:<unix ms>");
 *   {product:N}:pending  (write-behind) how many of the product's queued writes PostgreSQL has
 * not applied yet. The lists are read with LMOVE from a list to
 * itself, which returns the head without changing a one-element list and, being a write command, is
 * not counted.
 *
 * In front of Redis, each loop keeps a near cache (near_cache.h): a lookup it can answer makes no
 * Redis read at all (CACHE_ANSWER_L1_HIT), and a hit read from Redis may fill it.
 *
 * The stats counters are kept here. Runs on the worker's loop; callbacks come on the same loop
 * (possibly before the call returns).
 */
#ifndef CACHEME_CACHE_H
#define CACHEME_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/metrics.h"
#include "store/pg_pool.h"
#include "store/redis_client.h"

struct event_base;

/*
 * The cache of one event loop: its Redis client, PostgreSQL pool and settings, and the state of
 * the lookups in flight on it (single-flight table, refresh-marker reads, load-time estimate). One
 * per loop, used only on that loop's thread: nothing in it is shared or locked.
 */
typedef struct cache cache_t;

/* Creates the cache of the loop base with settings cfg (both outlive it). Returns 0, or -1. */
int cache_new(struct event_base *base, const config_t *cfg, cache_t **out);

/* Frees it; no lookup may be in flight. NULL is allowed. */
void cache_free(cache_t *cache);

/*
 * Sets the Redis client and PostgreSQL pool the cache uses. Both are borrowed: the owner sets them
 * to NULL before it frees them (lookups then answer from what is left: 503 or Redis-less).
 */
void cache_set_backends(cache_t *cache, redis_client_t *redis, pg_pool_t *pg);

/*
 * Sets the pool of the read replica (DATABASE_REPLICA_URL), borrowed like the others; NULL: none.
 * Reads that may be served by the replica (cache_read_query) go there while it is up.
 */
void cache_set_replica(cache_t *cache, pg_pool_t *replica);

/* The read replica's pool, or NULL when there is none. */
pg_pool_t *cache_replica(const cache_t *cache);

/*
 * 1 when this loop's reads go to the replica now: it is connected and its breaker closed (see
 * cache_replica.c); 0 when they go to the primary, or there is no replica.
 */
int cache_replica_usable(const cache_t *cache);

/* The replica breaker's state ("closed", "open", "half-open") and how often it opened. */
const char *cache_replica_breaker(const cache_t *cache, long long *opened);

/* Which server answered a read. */
typedef enum {
    CACHE_READ_PRIMARY = 0, /* DATABASE_URL: always current. */
    CACHE_READ_REPLICA      /* DATABASE_REPLICA_URL: possibly behind the primary. */
} cache_read_from_t;

/* Called exactly once with the outcome of a read, as pg_pool_fn, and which server answered it. */
typedef void (*cache_read_fn)(int status, PGresult *res, cache_read_from_t from, void *arg);

/*
 * Runs read-only statement stmt (queries.h) with text parameters (copied) on the read replica when
 * there is one and it is up, else on the primary; a read the replica fails (down, deadline, error)
 * is run again on the primary, so the replica never costs an answer. Returns 0 when accepted (fn
 * is called later, never from inside this call), or a PG_POOL_E* error when no pool took it (fn is
 * not called). The caller's row may be older than the newest commit when from is
 * CACHE_READ_REPLICA: what may be cached from it is the caller's business (cache_lookup.c).
 */
int cache_read_query(cache_t *cache, int stmt, const char *const *params, cache_read_fn fn,
                     void *arg);

struct event_base *cache_base(const cache_t *cache);
const config_t *cache_config(const cache_t *cache);
redis_client_t *cache_redis(const cache_t *cache);
pg_pool_t *cache_pg(const cache_t *cache);

typedef enum {
    CACHE_FOUND = 0,     /* json/len hold the product object. */
    CACHE_NOT_FOUND = 1, /* No such product. */
    CACHE_DB_DOWN = 2,   /* Not cached and PostgreSQL could not answer in time. */
    CACHE_FAILED = 3     /* Out of memory or a corrupt row; answer 503. */
} cache_status_t;

/*
 * How a lookup was answered. Its `source` and its X-Cache value come from it through one table
 * (cache_answer_source, cache_answer_xcache); nothing compares their strings.
 */
typedef enum {
    CACHE_ANSWER_HIT = 0, /* From the lookup's own GET (L2): source "cache", X-Cache HIT. */
    CACHE_ANSWER_L1_HIT,  /* From the loop's near cache (L1): source "cache", X-Cache HIT. */
    CACHE_ANSWER_MISS,    /* From PostgreSQL, directly or through the loader it waited for: MISS. */
    CACHE_ANSWER_STALE,   /* The stale copy while PostgreSQL fails: source "stale", STALE. */
    CACHE_ANSWER_BYPASS   /* From PostgreSQL with Redis skipped (down, or CACHE_BYPASS): BYPASS. */
} cache_answer_t;

/* The answer's source (metrics label, access log, the body's "source"). */
metrics_source_t cache_answer_source(cache_answer_t answer);

/* The answer's X-Cache value. */
const char *cache_answer_xcache(cache_answer_t answer);

/* The cache level of a hit ("L1": near cache, "L2": Redis), or NULL for other answers. */
const char *cache_answer_level(cache_answer_t answer);

typedef struct {
    cache_status_t status; /* Outcome. */
    cache_answer_t answer; /* How it was answered. */
    const char *json;      /* Product object text; valid only during the callback. */
    size_t len;            /* Its length. */
} cache_result_t;

typedef void (*cache_lookup_fn)(const cache_result_t *res, void *arg);

/* Looks product id up, cache-aside. fn is called exactly once. */
void cache_lookup_product(cache_t *cache, int32_t id, cache_lookup_fn fn, void *arg);

/* How a lookup that no client asked for (a lab scenario's) is accounted for. */
typedef struct {
    int uncounted;           /* 1: its answer is not counted in the service's hits and misses. */
    unsigned *db_queries;    /* When not NULL, raised by one for each query the lookup itself sends
                                to PostgreSQL; must stay valid until fn is called. */
    unsigned *refused;       /* When not NULL, raised by one when a row the lookup read from the
                                replica was refused as older than the newest write (replica_guard). */
    unsigned *replica_reads; /* When not NULL, raised by one for each row the lookup read from the
                                read replica. */
} cache_lookup_opts_t;

/*
 * cache_lookup_product with options; opts NULL is cache_lookup_product. An uncounted lookup works
 * exactly as any other: only the hits and misses of stats.h leave it out. Its queries still count
 * in db_queries (PostgreSQL answered them), its Redis and PostgreSQL failures in the error
 * counters, and its GET in Redis' own INFO keyspace_hits/keyspace_misses, which no client can
 * leave out. fn is called exactly once.
 */
void cache_lookup_product_opts(cache_t *cache, int32_t id, const cache_lookup_opts_t *opts,
                               cache_lookup_fn fn, void *arg);

/*
 * Deletes every key under the prefix with SCAN + UNLINK in batches (never KEYS or FLUSHALL).
 * fn gets 0 and the number of keys removed, or -1 when Redis failed (partial count).
 */
typedef void (*cache_clear_fn)(int status, long long cleared, void *arg);
void cache_clear(cache_t *cache, cache_clear_fn fn, void *arg);

/* What became of a cache write. */
typedef enum {
    CACHE_WRITE_APPLIED = 0, /* Redis applied it. */
    CACHE_WRITE_SKIPPED,     /* A newer change was already applied, or CACHE_BYPASS is on. */
    CACHE_WRITE_FAILED       /* Redis failed or was down. */
} cache_write_t;

/* Completion of a cache write. */
typedef void (*cache_done_fn)(cache_write_t outcome, void *arg);

/*
 * After a change of product id committed at version: raises the product's generation and deletes
 * its value, so that no reader can store an older row afterwards. only_if_newer: skip when this
 * version was already applied (change notifications of the service's own writes). fn is called
 * exactly once.
 */
void cache_invalidate(cache_t *cache, int32_t id, long long version, int only_if_newer,
                      cache_done_fn fn, void *arg);

/*
 * Write-through: stores json (NUL-terminated) as product id at version, unless a newer version was
 * already applied. fn is called exactly once.
 */
void cache_put(cache_t *cache, int32_t id, long long version, const char *json, cache_done_fn fn,
               void *arg);

/*
 * Cache warming's store (cache/warmer): stores json (len bytes) as product id through the fill a
 * miss makes — with the logical TTL, jitter, stale copy and refresh marker of the lab settings —
 * unless the product's generation is no longer gen (a write came in since gen was read, before
 * the row was), or it has queued write-behind writes, or version (the row's, "" when it came from
 * the primary) is older than the generation (a replica behind the newest write). No lock is taken
 * or released. fn gets APPLIED when stored, SKIPPED when refused, FAILED when Redis failed; it is
 * called exactly once, possibly before this returns. The caller reads gen before it reads the row:
 * that order is what makes a refused store the only outcome of a write in between.
 */
void cache_fill_product(cache_t *cache, int32_t id, const char *gen, const char *json, size_t len,
                        const char *version, cache_done_fn fn, void *arg);

/*
 * Drops product id from this loop's near cache at once (a write of this loop, before and after
 * Redis applies it; other loops and instances hear of it from Redis). The cache writes above do it
 * themselves.
 */
void cache_near_drop(cache_t *cache, int32_t id);

/* The keys of one product (see the file comment). */
typedef struct {
    char value[192];   /* The product's JSON, or `null`. */
    char gen[200];     /* Generation. */
    char stale[200];   /* Stale copy (list). */
    char fresh[200];   /* Refresh-ahead marker. */
    char lock[200];    /* Loader's lock and delivery (list). */
    char pending[200]; /* Write-behind pending count. */
} cache_keys_t;

/* Fills keys for product id under prefix. Returns 0, or -1 when a name does not fit. */
int cache_keys_build(const char *prefix, int32_t id, cache_keys_t *keys);

/*
 * Writes "{<key>}:<kind>" into buf (kind: "gen", "stale", ...): the key as the hash tag, so both
 * hash to one Redis Cluster slot. Returns the length, or -1.
 */
int cache_aux_key(const char *kind, const char *key, char *buf, size_t len);

/*
 * Writes the key counting a product's write-behind entries not yet applied to PostgreSQL
 * ("{" + key + "}:pending"). While it exists, PostgreSQL holds an older product than the cache, so
 * lookups must not store what they read there. Returns the length, or -1.
 */
int cache_pending_key(const char *key, char *buf, size_t len);

/* How long the keys of a stored value live, in milliseconds, as strings for Redis. */
typedef struct {
    char ttl[24];   /* The value: its logical TTL (jittered), or the negative TTL for `null`. */
    char stale[24]; /* The stale copy: TTL + stale window; "0" for none. */
    char fresh[24]; /* The refresh marker; "0" for none (refresh-ahead off, or due at once). */
} cache_ttl_t;

/*
 * The TTLs for storing a product (found 1) or a `null` (found 0) under the current lab settings.
 * refresh_ms estimates how long a refresh takes (for XFetch; 0 when unknown). ttl_s > 0 overrides
 * the value's TTL (seconds, no jitter), as write-behind's tombstones need.
 */
void cache_ttl_plan(cache_t *cache, int found, double refresh_ms, int ttl_s, cache_ttl_t *out);

/*
 * Lua for the scripts that store a value: store(value key, stale key, fresh key, value, ttl ms,
 * stale ms, fresh ms) sets the value and replaces its stale copy and refresh marker. Prepend it to
 * a script's text.
 */
#define CACHE_LUA_STORE                                                                            \
    "local function store(kv, ks, kf, value, ttl, stale, fresh)\n"                                 \
    "  redis.call('SET', kv, value, 'PX', ttl)\n"                                                  \
    "  redis.call('DEL', ks)\n"                                                                    \
    "  if tonumber(stale) > 0 then\n"                                                              \
    "    redis.call('RPUSH', ks, value)\n"                                                         \
    "    redis.call('PEXPIRE', ks, stale)\n"                                                       \
    "  end\n"                                                                                      \
    "  if tonumber(fresh) > 0 then redis.call('SET', kf, '1', 'PX', fresh)\n"                      \
    "  else redis.call('DEL', kf) end\n"                                                           \
    "end\n"

/*
 * Lua: number(key) reads an integer key without Redis counting a keyspace lookup (INCRBY 0 is a
 * write); a key it had to create for that is deleted again. Returns 0 for a missing key.
 */
#define CACHE_LUA_NUMBER                                                                           \
    "local function number(k)\n"                                                                   \
    "  local n = redis.call('INCRBY', k, 0)\n"                                                     \
    "  if n == 0 then redis.call('DEL', k) end\n"                                                  \
    "  return n\n"                                                                                 \
    "end\n"

/* A uniform random number in [0, 1), from the loop's own generator. */
double cache_random(cache_t *cache);

/* Writes prefix+id into buf. Returns the length, or -1 when it does not fit. */
int cache_key_build(const char *prefix, int32_t id, char *buf, size_t len);

/*
 * Writes a SCAN MATCH pattern that matches exactly the keys starting with prefix: glob special
 * characters (* ? [ ] \) in the prefix are escaped with a backslash, then "*" is appended.
 * Returns the length, or -1 when it does not fit.
 */
int cache_key_pattern(const char *prefix, char *buf, size_t len);

#endif
