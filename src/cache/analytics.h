/*
 * analytics — view analytics in Redis: each event loop counts the product views it answers in a
 * batch of its own and sends them as one pipelined burst, and reads them back for the
 * /analytics endpoints (docs/analytics.md).
 *
 * Counting never waits for Redis: analytics_record only appends to the loop's batch. The batch is
 * sent when ANALYTICS_FLUSH_MS have passed since its first view, when it holds ANALYTICS_BATCH_MAX
 * views, when the minute changes (a burst is of one minute), and at shutdown. A burst groups the
 * views by product and sends, back to back on the loop's connection, for each product: INCRBY and
 * PEXPIRE of its minute's counter, PFADD of its visitors, ZINCRBY of the minute's and the all-time
 * sorted sets; then one PEXPIRE of the minute's set. All of them are write commands, which Redis
 * does not count in INFO keyspace_hits/keyspace_misses: counting views leaves the lab's first
 * lesson (the service's hit rate equals Redis') exact. The reads below do count there, as any
 * client's reads do.
 *
 * When Redis is down, or MAX_BURSTS bursts are still waiting for their replies, a batch is dropped
 * and counted as such (core/analytics.h): analytics are best effort and never hold memory for an
 * absent Redis. Keys are model/analytics_policy's.
 *
 * Runs on the worker's loop; callbacks come on the same loop, never from inside the call that
 * asked. Not thread-safe.
 */
#ifndef CACHEME_CACHE_ANALYTICS_H
#define CACHEME_CACHE_ANALYTICS_H

#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"
#include "model/analytics_policy.h"

struct event_base;

/* The analytics of one event loop: its batch of views and its bursts on their way. */
typedef struct analytics analytics_t;

/*
 * Creates the analytics of loop base, sending through cache's Redis client (looked up at each
 * burst, so a client the cache no longer has is never used). cache outlives it. Returns 0, or -1.
 */
int analytics_new(struct event_base *base, cache_t *cache, analytics_t **out);

/*
 * Frees it; views not yet sent are counted as dropped. Bursts still waiting must have been
 * answered (free the Redis client first). NULL is allowed.
 */
void analytics_free(analytics_t *a);

/*
 * Counts one view of product id by visitor (len bytes, at most ANALYTICS_VISITOR_MAX - 1; any
 * bytes). Never blocks, never fails the caller: a view that cannot be kept is counted as dropped.
 */
void analytics_record(analytics_t *a, int32_t id, const char *visitor, size_t len);

/* Sends the batch now, if it holds anything (at shutdown). */
void analytics_flush(analytics_t *a);

/* One product of a ranking, and its score (views, or decayed views for trending). */
typedef struct {
    int32_t id;   /* The product. */
    double score; /* Its score. */
} analytics_item_t;

/* A ranking read: status 0 and n items (valid during the call), or status -1 when Redis failed. */
typedef void (*analytics_items_fn)(int status, const analytics_item_t *items, int n, void *arg);

/*
 * The limit (1..100) products viewed most in the last window minutes (1..RETENTION), each minute's
 * views weighted by analytics_policy_weight with half_life: one script over the minutes' sorted
 * sets (ZUNIONSTORE with WEIGHTS, ZREVRANGE, DEL). Returns 0 (fn later), or -1 when Redis is down.
 */
int analytics_trending(analytics_t *a, int limit, int window, int half_life, analytics_items_fn fn,
                       void *arg);

/* The limit (1..100) products with the most views since the start (ZREVRANGE ... WITHSCORES). */
int analytics_leaderboard(analytics_t *a, int limit, analytics_items_fn fn, void *arg);

/* One product's figures. A plain value. */
typedef struct {
    int32_t id;                                   /* The product. */
    long long first_minute;                       /* The minute of views[0]. */
    int minutes;                                  /* Minutes in views, oldest first. */
    long long views[ANALYTICS_RETENTION_MINUTES]; /* Views per minute. */
    long long unique_visitors;                    /* PFCOUNT of its visitors (an estimate). */
    long long total_views;                        /* Its score in the leaderboard. */
} analytics_product_t;

/* A product read: status 0 and p (valid during the call), or status -1 when Redis failed. */
typedef void (*analytics_product_fn)(int status, const analytics_product_t *p, void *arg);

/*
 * Product id's views in each of the last minutes (1..RETENTION, the current one last), its unique
 * visitors and its all-time views: one script on its own keys and a ZSCORE. Returns 0 (fn later),
 * or -1 when Redis is down.
 */
int analytics_product(analytics_t *a, int32_t id, int minutes, analytics_product_fn fn, void *arg);

#endif
