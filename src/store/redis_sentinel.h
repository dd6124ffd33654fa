/*
 * redis_sentinel — finds and follows the Redis master through Redis Sentinel, for one event loop.
 *
 * A redis_sentinel_t is the address resolver (redis_client_resolver_t) of the loop's Redis
 * clients. Asked for an address, it asks the sentinels of REDIS_SENTINELS in turn, each on a
 * short-lived connection with its own deadline, with SENTINEL get-master-addr-by-name
 * REDIS_SENTINEL_MASTER; the first sentinel that names the master wins, and the next round starts
 * with the sentinel after it, so that one lagging behind a failover does not answer every time.
 * When none names it, the client is told so and tries again after its backoff. The client then
 * checks with ROLE that the server is the master (see redis_client.h).
 *
 * Meanwhile one connection per loop stays SUBSCRIBEd to +switch-master on one sentinel (the next
 * one, after a backoff, when it drops). When a failover moves our master, every client that uses
 * this resolver drops its connection at once (commands waiting fail fast, callers fall back to
 * PostgreSQL) and reconnects to the address the message announced. After a re-subscription,
 * which may have missed a message, the sentinels are asked again and clients connected elsewhere
 * than the answer are moved.
 *
 * Sentinels are reached without a password; REDIS_URL's password and database apply to the
 * master. Not thread-safe: use it only from the thread that runs its event base.
 */
#ifndef CACHEME_REDIS_SENTINEL_H
#define CACHEME_REDIS_SENTINEL_H

#include "core/config.h"
#include "store/redis_client.h"
#include "store/redis_topology.h"

struct event_base;

typedef struct redis_sentinel redis_sentinel_t;

enum {
    REDIS_SENTINEL_ENOMEM = -1 /* Out of memory. */
};

/* At most this many clients of one loop use one resolver. */
#define REDIS_SENTINEL_MAX_CLIENTS 4

/*
 * Creates the resolver for cfg's sentinels and master name (cfg->redis_sentinel_count > 0; cfg
 * must outlive it) and starts the subscription. Returns 0 and sets *out, or REDIS_SENTINEL_ENOMEM.
 * Never blocks (except name resolution of a host name).
 */
int redis_sentinel_new(struct event_base *base, const config_t *cfg, redis_sentinel_t **out);

/*
 * Frees the resolver and closes its connections. Every client that uses it must have been freed
 * before.
 */
void redis_sentinel_free(redis_sentinel_t *s);

/* Fills *out with the resolver to give redis_client_new_resolved; s must outlive the clients. */
void redis_sentinel_resolver(redis_sentinel_t *s, redis_client_resolver_t *out);

/*
 * The index in cfg->redis_sentinel_addrs of the sentinel whose +switch-master messages the loop
 * follows now, or -1 while no subscription is confirmed.
 */
int redis_sentinel_subscribed(const redis_sentinel_t *s);

/*
 * Sets (or with fn NULL removes) the function told of each +switch-master that moves our master
 * (REDIS_TOPOLOGY_SWITCH_MASTER, from the old address to the new), after the clients were told to
 * reconnect. Called on the loop, from the subscription's reply callback.
 */
void redis_sentinel_set_topology_fn(redis_sentinel_t *s, redis_topology_fn fn, void *arg);

#endif
