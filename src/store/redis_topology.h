/*
 * redis_topology — what the Redis clients of one loop report when the servers behind them change
 * roles: a failover announced by Sentinel, a Redis Cluster slot map that moved slots to another
 * master, a master whose connection was lost or came back.
 *
 * The store modules that notice such a change (redis_sentinel, redis_cluster through redis_client)
 * call one redis_topology_fn, set by the loop's owner, with a redis_topology_event_t describing it;
 * the owner publishes and counts it (api/topology_watch). Only a type: no code, no state.
 */
#ifndef CACHEME_REDIS_TOPOLOGY_H
#define CACHEME_REDIS_TOPOLOGY_H

/* What changed. */
typedef enum {
    REDIS_TOPOLOGY_SWITCH_MASTER = 0, /* Sentinel's +switch-master named a new master. */
    REDIS_TOPOLOGY_SLOTS_MOVED,       /* The cluster's slot map gave slots to another master. */
    REDIS_TOPOLOGY_NODE_LOST,         /* The connection to a master (serving slots) was lost. */
    REDIS_TOPOLOGY_NODE_BACK          /* A master whose connection was lost is connected again. */
} redis_topology_kind_t;

/* One change. A value valid only during the call that reports it. */
typedef struct {
    redis_topology_kind_t kind; /* What changed. */
    const char *from;  /* "host:port" the role or slots left; NULL when none (slots not served). */
    const char *to;    /* "host:port" that has them now; NULL for NODE_LOST/NODE_BACK. */
    int slots;         /* SLOTS_MOVED: how many slots went from `from` to `to`; else 0. */
    const char *cause; /* Short text: "+switch-master", "MOVED", "CLUSTER SLOTS", the error. */
} redis_topology_event_t;

/* Receives each change, on the loop that noticed it. */
typedef void (*redis_topology_fn)(const redis_topology_event_t *ev, void *arg);

#endif
