/*
 * rate_limiter — counts a request against a limit in Redis: one Lua script per algorithm, sent as
 * one EVAL, so a decision costs one round trip and no other client can interleave between its
 * read and its write.
 *
 * The caller gives the time (now_ms, Unix milliseconds): the scripts never read a clock, so the
 * lab scenario can replay a burst at chosen instants, and the keys that depend on the window
 * (fixed window, sliding window) can be named by the caller, as Redis Cluster requires of every
 * key a script touches. Instances on different hosts must keep their clocks in step (NTP) for
 * their counts to agree. Every key a script touches for one client starts with the same
 * "ratelimit:{...}" base (model/rate_policy), a hash tag, so they share a cluster slot. Every key
 * carries an expiry, so an idle client costs no memory after a window or two.
 *
 * Not thread-safe: use from the thread of the client's event loop.
 */
#ifndef CACHEME_RATE_LIMITER_H
#define CACHEME_RATE_LIMITER_H

#include "model/rate_policy.h"
#include "store/redis_client.h"

/* The most keys one algorithm's script touches. */
#define RATE_LIMITER_MAX_KEYS 2
/* Room for one key: the base and a suffix such as ":sw:<window number>". */
#define RATE_LIMITER_KEY_MAX (RATE_POLICY_KEY_MAX + 32)

/* The decision on one request (a plain value). */
typedef struct {
    int allowed;         /* 1: under the limit, counted; 0: over it. */
    long long remaining; /* Requests left now (0 when refused). */
    long long reset_ms;  /* Until the quota is whole again (or the window ends). */
    long long retry_ms;  /* When refused: until a request would be allowed; 0 otherwise. */
} rate_limiter_result_t;

/*
 * Called exactly once per check that rate_limiter_check sent: status 0 with the decision in *res
 * (valid during the call), or a negative REDIS_CLIENT_* code (or REDIS_CLIENT_EDOWN for an
 * error reply) when Redis could not decide; res is NULL then.
 */
typedef void (*rate_limiter_fn)(int status, const rate_limiter_result_t *res, void *arg);

/*
 * The keys algorithm (a config_rate_algorithm_t) touches for the client whose key base is base, at
 * now_ms with windows of window_ms: written to keys (RATE_LIMITER_MAX_KEYS rows of
 * RATE_LIMITER_KEY_MAX bytes); returns how many.
 */
int rate_limiter_keys(int algorithm, const char *base, long long window_ms, long long now_ms,
                      char keys[RATE_LIMITER_MAX_KEYS][RATE_LIMITER_KEY_MAX]);

/*
 * Counts one request of the client with key base base against limit requests per window_ms,
 * with algorithm, at now_ms. Returns 0 when the script was sent (fn is called later, never from
 * inside this call), or a negative REDIS_CLIENT_* code when it was not (fn is not called).
 */
int rate_limiter_check(redis_client_t *redis, int algorithm, const char *base, long long limit,
                       long long window_ms, long long now_ms, rate_limiter_fn fn, void *arg);

#endif
