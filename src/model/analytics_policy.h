/*
 * analytics_policy — the pure parts of view analytics: the Redis keys a view is counted under,
 * which minute a time falls in, how a visitor is named, and the weight of a minute in the
 * trending score.
 *
 * The keys (docs/analytics.md):
 *   analytics:{product:N}:views:<minute>  a string: views of product N in that minute (INCRBY),
 *                                         kept ANALYTICS_RETENTION_MINUTES;
 *   analytics:{product:N}:visitors        a HyperLogLog of the visitors of product N (PFADD);
 *   analytics:{views}:minute:<minute>     a sorted set: views per product in that minute, kept
 *                                         as long; trending reads the newest of them together;
 *   analytics:{views}:total               a sorted set: views per product since the start (the
 *                                         leaderboard);
 *   analytics:{views}:scratch             the trending script's union, deleted by that script.
 * A product's keys share the hash tag {product:N}, every aggregate the tag {views}: a command or
 * script touches one Redis Cluster slot. <minute> is Unix time in whole minutes.
 *
 * No I/O, no state: every function is thread-safe.
 */
#ifndef CACHEME_ANALYTICS_POLICY_H
#define CACHEME_ANALYTICS_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* Minutes a per-minute key lives, and the longest window a read may ask for. */
#define ANALYTICS_RETENTION_MINUTES 60
/* The leaderboard: views per product since the start. */
#define ANALYTICS_TOTAL_KEY "analytics:{views}:total"
/* Where the trending script builds its union (inside the script only). */
#define ANALYTICS_SCRATCH_KEY "analytics:{views}:scratch"
/* Room for a key name and its NUL. */
#define ANALYTICS_KEY_MAX 80
/* Room for a visitor's name ("s:" + session id, or "a:" + address) and its NUL. */
#define ANALYTICS_VISITOR_MAX 48

/* The minute (Unix time in whole minutes) that wall-clock time wall_ms (Unix ms, >= 0) falls in. */
long long analytics_policy_minute(long long wall_ms);

/* The key of product id's views in minute. Returns the length, or -1 when it does not fit. */
int analytics_policy_views_key(int32_t id, long long minute, char *buf, size_t len);

/* The key of product id's visitors (HyperLogLog). Returns the length, or -1. */
int analytics_policy_visitors_key(int32_t id, char *buf, size_t len);

/* The key of every product's views in minute (sorted set). Returns the length, or -1. */
int analytics_policy_minute_key(long long minute, char *buf, size_t len);

/*
 * The weight of the views of a minute age_minutes old (0: the current one) in the trending score:
 * 2^(-age / half_life), so a view counts half as much every half_life minutes (half_life >= 1).
 */
double analytics_policy_weight(long long age_minutes, int half_life_minutes);

/*
 * Names a visitor into out (ANALYTICS_VISITOR_MAX bytes): "s:<id>" for a well-formed session id
 * (session NULL: none), else "a:<address>" (the client address as rate limiting finds it).
 * Returns the length, or -1 when the name does not fit.
 */
int analytics_policy_visitor(const char *session, const char *address, char *out);

#endif
