/*
 * warmer — cache warming: filling the cache with products before lookups ask for them, at
 * start-up (CACHE_WARM) and on demand (POST /cache/warm), paced at CACHE_WARM_RATE products per
 * second so that PostgreSQL is not flooded.
 *
 * A run takes products a page at a time (at most 100, or the rate when lower): every product in id
 * order ("all": the ids first, by key, then their rows), or the N with the most views since the
 * start ("top:N": the analytics leaderboard). For each page it reads every product's generation
 * and whether its value is cached (one uncounted script per product), then the rows of those not
 * cached in one query, then stores each through the fill a miss makes (cache_fill_product: TTL
 * with jitter, stale copy, refresh marker, and no store when a write came in since the generation
 * was read). Products already cached are skipped: a warm never replaces a value, so it never undoes
 * a newer one, and a second instance warming after the first costs PostgreSQL nothing.
 *
 * One run per instance at a time (core/warm holds that, and the figures); a run lives on the loop
 * that started it. One warmer per loop, made by the worker, used on that loop only.
 */
#ifndef CACHEME_WARMER_H
#define CACHEME_WARMER_H

#include "cache/analytics.h"
#include "cache/cache.h"
#include "core/warm.h"

struct event_base;

typedef struct warmer warmer_t;

/* Creates the warmer of loop base over its cache and analytics (both outlive it). 0, or -1. */
int warmer_new(struct event_base *base, cache_t *cache, analytics_t *analytics, warmer_t **out);

/*
 * Ends a run still under way as failed ("shutting down") and frees the warmer. Called after the
 * loop's Redis client and PostgreSQL pool were freed (which answered every command of the run).
 * NULL is allowed.
 */
void warmer_free(warmer_t *w);

/* Where a run was asked for. */
typedef enum {
    WARMER_STARTUP = 0, /* CACHE_WARM: waits up to 10 s for Redis and PostgreSQL to be up. */
    WARMER_REQUEST      /* POST /cache/warm: waits up to 2 s for them (a pool reconnecting). */
} warmer_trigger_t;

/*
 * Starts a run of kind (config_warm_kind_t, not CONFIG_WARM_NONE) for top (N of top:N) at rate
 * products per second. Returns 0 with the new run's status in *out (it goes on on this loop; its
 * progress is in core/warm), or -1 with the status of the run already under way in the instance.
 */
int warmer_start(warmer_t *w, int kind, int top, int rate, warmer_trigger_t trigger,
                 warm_status_t *out);

/*
 * Stops the run of this loop at its next step (shutdown): it ends as failed ("shutting down") once
 * what it has in flight is answered. Nothing when no run is under way here.
 */
void warmer_stop(warmer_t *w);

#endif
