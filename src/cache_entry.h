/*
 * cache_entry — how a product is stored in Redis, and the timing decisions around it.
 *
 * A stored value is "<logical expiry, Unix ms>:<product JSON>", or "<expiry>:" with nothing after
 * the colon for a product that does not exist (negative caching). The Redis TTL of the key is the
 * logical TTL plus the stale-if-error window: past its logical expiry a value is no longer served
 * as fresh, but it is still there to be served, marked stale, when PostgreSQL cannot answer. The
 * JSON part is never parsed on the hit path; only the number before the colon is read.
 *
 * Pure functions (randomness is passed in), thread-safe.
 */
#ifndef CACHEME_CACHE_ENTRY_H
#define CACHEME_CACHE_ENTRY_H

#include <stddef.h>

/*
 * Writes the stored form of json (len bytes; len 0 for a negative entry) with the given logical
 * expiry into a new malloc'd buffer. Returns 0 and sets *out and *outlen (caller frees), or -1.
 */
int cache_entry_encode(long long expiry_ms, const char *json, size_t len, char **out,
                       size_t *outlen);

/*
 * Splits a stored value. Returns 0 and sets *expiry_ms, *json (pointing into val) and *jlen (0 for a
 * negative entry), or -1 when val is not in this format (an entry to ignore).
 */
int cache_entry_decode(const char *val, size_t len, long long *expiry_ms, const char **json,
                       size_t *jlen);

/*
 * A TTL with jitter: ttl_s scaled by a factor uniformly spread over ±jitter_percent, using u in
 * [0, 1). Never below 1 second.
 */
int cache_entry_jittered_ttl(int ttl_s, int jitter_percent, double u);

/*
 * Refresh-ahead: should a hit at now_ms on an entry expiring at expiry_ms (logical TTL ttl_ms)
 * refresh it in the background? Yes inside the last `window_percent` of its life, and also, earlier,
 * by probabilistic early expiration ("XFetch": now - delta * beta * ln(u) >= expiry, delta being
 * how long a refresh takes), which spreads the refreshes of hot keys. u in (0, 1].
 */
int cache_entry_should_refresh(long long now_ms, long long expiry_ms, long long ttl_ms,
                               int window_percent, double delta_ms, double beta, double u);

#endif
