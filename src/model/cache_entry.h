/*
 * cache_entry — what a product's value in Redis is, and the timing decisions around it.
 *
 * The value of a product key is exactly the product's JSON object, as the original lab stores it,
 * so that redis-cli, Redis Commander and the original service read it as it is. A product that does
 * not exist is cached (negative caching) as the JSON literal `null`. Anything else found under a
 * product key (a value written by another program, a truncated or binary one, an object that
 * already has a member the service adds when it answers) is not served: the lookup treats it as a
 * miss and the value is overwritten by the next fill.
 *
 * The Redis TTL of the value is its logical TTL: a value Redis still has is fresh. What
 * refresh-ahead and stale-if-error need to know about a value's age lives in keys beside it (see
 * cache.h), read only with commands Redis does not count as keyspace lookups.
 *
 * Pure functions (randomness is passed in), thread-safe.
 */
#ifndef CACHEME_CACHE_ENTRY_H
#define CACHEME_CACHE_ENTRY_H

#include <stddef.h>

/* The value cached for a product that does not exist. */
#define CACHE_ENTRY_NULL "null"

typedef enum {
    CACHE_ENTRY_PRODUCT = 0,   /* A JSON object that can be served. */
    CACHE_ENTRY_NOT_FOUND = 1, /* The negative-cache entry: the product does not exist. */
    CACHE_ENTRY_INVALID = 2    /* Anything else: not served, overwritten. */
} cache_entry_kind_t;

/*
 * Classifies a value read from a product key (len bytes; NUL bytes are data). A product is a
 * well-formed JSON object (json_scan.h) with no top-level "source" or "fetch_time_ms" member.
 */
cache_entry_kind_t cache_entry_classify(const char *val, size_t len);

/*
 * A TTL with jitter: ttl_s scaled by a factor uniformly spread over ±jitter_percent, using u in
 * [0, 1). Never below 1 second.
 */
int cache_entry_jittered_ttl(int ttl_s, int jitter_percent, double u);

/*
 * Refresh-ahead: for how long after it is stored does a value (logical TTL ttl_ms) need no
 * refresh? Until the last `window_percent` of its life, made earlier by one draw of probabilistic
 * early expiration ("XFetch": delta * beta * -ln(u), delta being how long a refresh takes, u in
 * (0, 1]), which spreads the refreshes of keys written together. Returns milliseconds in
 * [0, ttl_ms]; 0 means a refresh is due at the first hit.
 */
long long cache_entry_fresh_ms(long long ttl_ms, int window_percent, double delta_ms, double beta,
                               double u);

#endif
