/*
 * near_cache — the near cache (L1) of one event loop: the exact JSON of products (and cached
 * 404s, `null`) that Redis (L2) served this loop, kept in the loop's own memory, so that a hit
 * costs no Redis round trip. Share-nothing and lock-free: one per loop, used only on its thread.
 *
 * Bounds. At most L1_MAX_BYTES / WORKERS bytes per loop (near_map, S3-FIFO). An entry lives at most
 * L1_TTL_MS and never past the remaining TTL of its Redis key (read with the value, so an entry
 * never outlives what Redis would serve), nor into the key's refresh-ahead window (whose reads
 * must reach Redis to start the refresh).
 *
 * Coherence, by Redis' server-assisted client-side caching in broadcast mode:
 *   - the loop's Redis connection (redis_client) sends `CLIENT TRACKING on REDIRECT <id> BCAST
 *     PREFIX <CACHE_KEY_PREFIX>` after each (re)connect, <id> being the CLIENT ID of the loop's
 *     invalidation connection (redis_tracking), which is subscribed to `__redis__:invalidate`;
 *     from then on Redis publishes there every product key that changes, whoever changed it
 *     (another loop, another instance, psql via the change listener, write-behind, an expiry);
 *   - each message drops those keys (nil: everything);
 *   - the cache serves only while tracking is confirmed on the current pair of connections: when
 *     either drops or reconnects the whole cache is flushed first, and it fills again only after
 *     the TRACKING command has been answered on the new pair;
 *   - a fill races with invalidations: the value read from Redis may be older than a message
 *     already handled. A fill carries a ticket taken when its read was sent (the flush generation
 *     and a per-slot invalidation count) and is dropped if either moved meanwhile;
 *   - Redis may stop answering without closing the sockets (paused, partitioned). The loop
 *     publishes a heartbeat on its Redis connection every HEARTBEAT_MS and receives it on the
 *     invalidation connection, after every invalidation Redis sent before it; the cache answers
 *     only while the newest heartbeat received was sent within the last HEARTBEAT_WINDOW_MS
 *     (below REDIS_TIMEOUT_MS, so a write that failed on a paused Redis is answered after L1 has
 *     stopped answering);
 *   - the loop's own writes drop their product at once (near_cache_drop), before and after Redis
 *     applies them; the broadcast tells every other loop and instance.
 *
 * Counted in stats: STATS_L1_* and the gauges STATS_L1_ENTRIES / STATS_L1_BYTES / STATS_L1_SERVING.
 * A hit is not a Redis read, so Redis' keyspace_hits miss the L1 hits; a fill's PTTL is one more
 * keyspace hit (STATS_L1_TTL_READ). See README, "What is in Redis".
 */
#ifndef CACHEME_NEAR_CACHE_H
#define CACHEME_NEAR_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "store/redis_client.h"

struct event_base;

typedef struct near_cache near_cache_t;

/*
 * Creates the near cache of the loop base (cfg outlives it). Sets *out to NULL when L1_MAX_BYTES
 * is 0 (no near cache; every near_cache_* accepts NULL and does nothing). Returns 0, or -1.
 */
int near_cache_new(struct event_base *base, const config_t *cfg, near_cache_t **out);

/* Frees it. NULL is allowed. */
void near_cache_free(near_cache_t *nc);

/*
 * Starts coherence over redis (the loop's client, borrowed; its state listener becomes the near
 * cache's) and opens the invalidation connection; redis NULL stops both and flushes (call it before
 * freeing the client).
 */
void near_cache_attach(near_cache_t *nc, redis_client_t *redis);

/*
 * Looks product id up. Returns 1 with *json / *len (valid until the loop next runs a callback)
 * when the near cache may answer and holds it; the value is a product object or `null`.
 */
int near_cache_get(near_cache_t *nc, int32_t id, const char **json, size_t *len);

/* Taken when a read whose value may fill the cache is sent; checked when it is answered. */
typedef struct {
    int valid;         /* 1 when a fill may follow. */
    uint64_t flushes;  /* The flush generation at the time. */
    uint32_t slot;     /* The invalidation count of the id's slot at the time. */
    long long sent_ms; /* Monotonic ms the read was sent. */
} near_ticket_t;

/* Fills *t for a read of id about to be sent. Returns t->valid. */
int near_cache_ticket(near_cache_t *nc, int32_t id, near_ticket_t *t);

/*
 * Stores json (len bytes, a product object or `null`) as id, read under ticket t, its Redis key
 * having pttl_ms to live (-1: no expiry), keeping reserve_ms of that life out (the refresh-ahead
 * window). Does nothing when the ticket is stale or nothing is left of the life.
 */
void near_cache_fill(near_cache_t *nc, int32_t id, const near_ticket_t *t, const char *json,
                     size_t len, long long pttl_ms, long long reserve_ms);

/* Drops id (a write of this loop). In-flight fills of id are refused too. */
void near_cache_drop(near_cache_t *nc, int32_t id);

/* Drops everything (a clear). In-flight fills are refused too. */
void near_cache_flush(near_cache_t *nc);

#endif
