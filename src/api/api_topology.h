/*
 * api_topology — GET /topology, the servers behind the service as this loop sees them, and the
 * loop's topology watch, which turns failovers into "event: topology" on GET /events.
 *
 * The view (api_topology, declared in api.h) is fetched for each request, never kept: the Redis
 * mode, each Redis node from the loop's routing table with ROLE and DBSIZE asked of it (slot ranges
 * for a cluster, the sentinels and the master's replicas for Sentinel), PostgreSQL's primary and
 * read replica with their WAL positions (Q_WAL_POSITION), and optionally where one key lives. Every
 * remote call carries the service's deadlines (REDIS_TIMEOUT_MS, PG_TIMEOUT_MS): a node that does
 * not answer is shown as "down", never waited for longer.
 *
 * The watch (one per loop) hears what the Redis clients report (redis_topology.h: Sentinel's
 * +switch-master, cluster slots moved, masters lost and back) and polls the read replica's pool
 * for the fallback to the primary turning on and off; it publishes each change to the loop's events
 * hub and counts it in core/stats. Every loop follows the topology on its own connections, so
 * each loop that notices a change counts it. Not thread-safe: a watch belongs to its loop.
 */
#ifndef CACHEME_API_TOPOLOGY_H
#define CACHEME_API_TOPOLOGY_H

#include "api/api_events.h"
#include "cache/cache.h"
#include "store/redis_sentinel.h"
#include "store/redis_topology.h"

struct event_base;

typedef struct topology_watch topology_watch_t;

/*
 * Creates the watch of loop base for cache (its replica pool is polled when it has one), publishing
 * to hub. Both outlive the watch. Returns 0 and sets *out, or -1 (out of memory).
 */
int topology_watch_new(struct event_base *base, cache_t *cache, events_hub_t *hub,
                       topology_watch_t **out);

/* The loop's Sentinel resolver (borrowed; outlives the watch), whose subscription the view shows.
 */
void topology_watch_set_sentinel(topology_watch_t *t, redis_sentinel_t *sentinel);

/* Stops and frees the watch; NULL is allowed. Nothing may report to it afterwards. */
void topology_watch_free(topology_watch_t *t);

/* A redis_topology_fn: watch is the topology_watch_t. Publishes and counts ev. */
void topology_watch_redis(const redis_topology_event_t *ev, void *watch);

#endif
