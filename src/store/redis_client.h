/*
 * redis_client — one asynchronous Redis connection owned by one event loop.
 *
 * Built on hiredis' async API and its libevent adapter. hiredis 0.14 has no command timeouts, so
 * every command gets its own deadline timer here: when it fires, the caller is answered with
 * REDIS_CLIENT_ETIMEOUT and the late reply, if it ever comes, is dropped. After a lost connection
 * the client reconnects by itself with exponential backoff (50 ms doubling up to 2 s); once a
 * connection attempt has failed and until one succeeds, commands fail at once with
 * REDIS_CLIENT_EDOWN instead of waiting (during the very first attempt they wait for it, within
 * their deadline), so a dead Redis costs no latency. A client whose commands keep timing out is
 * disconnected and reconnected.
 *
 * With REDIS_CLUSTER_NODES set the client is a front for redis_cluster.h: the same calls, each
 * command routed to the master of its key's slot, deadlines and a circuit breaker per master.
 *
 * Not thread-safe: use a client only from the thread that runs its event base.
 */
#ifndef CACHEME_REDIS_CLIENT_H
#define CACHEME_REDIS_CLIENT_H

#include <hiredis/hiredis.h>

#include "core/config.h"
#include "store/redis_topology.h"

struct event_base;

typedef struct redis_client redis_client_t;

enum {
    REDIS_CLIENT_OK = 0,        /* A reply arrived (it may be a Redis error reply). */
    REDIS_CLIENT_EDOWN = -1,    /* Not connected; the command was not sent. */
    REDIS_CLIENT_ETIMEOUT = -2, /* The deadline passed before the reply. */
    REDIS_CLIENT_ELOST = -3,    /* The connection was lost or the client freed before the reply. */
    REDIS_CLIENT_ENOMEM = -4,   /* Out of memory. */
    REDIS_CLIENT_EOPEN = -5     /* The circuit breaker is open; the command was not sent. */
};

/*
 * Called exactly once per command accepted by redis_client_command (never for a command it
 * refused); a NULL callback means nobody waits for the answer. reply is valid only during the call
 * and only when status is REDIS_CLIENT_OK.
 */
typedef void (*redis_client_fn)(int status, redisReply *reply, void *arg);

/*
 * Creates a client for cfg's Redis and starts connecting. cfg must outlive the client. Returns 0
 * and sets *out, or a negative REDIS_CLIENT_* code. Never blocks (except name resolution of a host
 * name).
 */
int redis_client_new(struct event_base *base, const config_t *cfg, redis_client_t **out);

/*
 * Where a client connects when the address is not fixed (Redis Sentinel, see redis_sentinel.h).
 * Before each connection attempt the client calls lookup(arg, c); the resolver answers later,
 * never from inside lookup, exactly once per lookup, with redis_client_resolved or
 * redis_client_unresolved. release(arg, c) is called once when the client is freed, with or
 * without a lookup pending; after it the resolver must not touch c. A client with a resolver sends
 * ROLE first on every connection and takes commands only once the server has answered "master";
 * any other answer drops the connection and the client looks up again, with backoff.
 */
typedef struct {
    void (*lookup)(void *arg, redis_client_t *c);  /* Find the address; answer later. */
    void (*release)(void *arg, redis_client_t *c); /* The client is going away. */
    void *arg;                                     /* The resolver's own state. */
} redis_client_resolver_t;

/*
 * Like redis_client_new, but the address comes from resolver (copied; its arg must outlive the
 * client) instead of cfg's host and port; cfg still gives the password, database and deadlines.
 * A NULL resolver is redis_client_new.
 */
int redis_client_new_resolved(struct event_base *base, const config_t *cfg,
                              const redis_client_resolver_t *resolver, redis_client_t **out);

/* The resolver's answer to a lookup: connect to host:port now (host is copied). */
void redis_client_resolved(redis_client_t *c, const char *host, int port);

/* The resolver's answer to a lookup: no address now (why is copied); try again after a backoff. */
void redis_client_unresolved(redis_client_t *c, const char *why);

/*
 * Drops the connection at once (commands waiting are answered with REDIS_CLIENT_ELOST, new ones
 * fail fast with REDIS_CLIENT_EDOWN) and starts a new attempt without backoff, through the
 * resolver when there is one: for a resolver that learnt the master has moved. Does nothing while
 * a lookup is pending, since its answer is the new address already.
 */
void redis_client_reconnect(redis_client_t *c, const char *why);

/*
 * Writes "host:port" of the server the client is connected to into buf (len bytes) and returns 0;
 * returns -1, leaving buf alone, while it is not connected and ready.
 */
int redis_client_address(const redis_client_t *c, char *buf, size_t len);

/*
 * Frees the client. Commands still waiting are answered with REDIS_CLIENT_ELOST before it returns.
 */
void redis_client_free(redis_client_t *c);

/*
 * Sends a command given as argc/argv strings (lengths in argvlen). Returns 0 when the command was
 * sent (fn will be called later, never from inside this call), or REDIS_CLIENT_EDOWN /
 * REDIS_CLIENT_ENOMEM when it was not (fn will not be called).
 */
int redis_client_command(redis_client_t *c, redis_client_fn fn, void *arg, int argc,
                         const char **argv, const size_t *argvlen);

/*
 * How many servers hold the keys: 1 for a single server, the number of masters in a cluster's
 * slot map (it changes when the map does).
 */
int redis_client_node_count(const redis_client_t *c);

/*
 * redis_client_command sent to the node-th server (0 <= node < redis_client_node_count) instead of
 * the one its key names: for commands about one server's own keyspace (SCAN, INFO). A node out of
 * range is REDIS_CLIENT_EDOWN.
 */
int redis_client_command_node(redis_client_t *c, int node, redis_client_fn fn, void *arg, int argc,
                              const char **argv, const size_t *argvlen);

/*
 * The hash slot of a key (CRC16 of its hash tag, modulo 16384) when c talks to a cluster, 0 for a
 * single server: keys of one slot may go in one script or multi-key command. Pure.
 */
int redis_client_key_slot(const redis_client_t *c, const char *key, size_t len);

/* One server holding keys, as /cache/stats lists it. A plain value the caller owns. */
typedef struct {
    char address[272];   /* "host:port". */
    int slots;           /* Cluster slots it serves; 0 for a single server. */
    int up;              /* 1 when connected. */
    const char *breaker; /* Its circuit breaker's state name (static text). */
} redis_client_node_t;

/* Fills *out for the node-th server (as redis_client_command_node numbers them). 0, or -1. */
int redis_client_node_info(const redis_client_t *c, int node, redis_client_node_t *out);

/* 1 when the client talks to a Redis Cluster (REDIS_CLUSTER_NODES), 0 for one server. */
int redis_client_is_cluster(const redis_client_t *c);

/*
 * The node (as redis_client_node_info numbers them) that serves hash slot slot in the client's
 * routing table: for a cluster, the master its slot map names, or -1 when no master is known for
 * it; for a single server, 0.
 */
int redis_client_slot_node(const redis_client_t *c, int slot);

/*
 * Sets (or with fn NULL removes) the function told of topology changes the client notices itself:
 * with a cluster, slots moved to another master and masters lost and back (see
 * redis_cluster_set_topology_fn); a single server reports nothing (Sentinel's failovers come from
 * redis_sentinel).
 */
void redis_client_set_topology_fn(redis_client_t *c, redis_topology_fn fn, void *arg);

/*
 * The client's circuit breaker (see breaker.h): after REDIS_BREAKER_FAILURES timeouts, lost
 * replies or refusals in a row, commands are refused with REDIS_CLIENT_EOPEN for
 * REDIS_BREAKER_OPEN_MS; then one trial command decides. Switched off at run time by the lab's
 * circuit_breaker setting. Returns "closed", "open" or "half-open".
 */
const char *redis_client_breaker_state(const redis_client_t *c);

/* Times this client's breaker has opened. */
long long redis_client_breaker_opened(const redis_client_t *c);

/* Returns 1 when the client is connected and ready, 0 otherwise. */
int redis_client_is_up(const redis_client_t *c);

/*
 * Told when a connection comes up (up 1: connected; commands sent from inside the call are the
 * first of the new connection after its set-up) and when one that was up or being made goes away
 * (up 0; its commands are answered REDIS_CLIENT_ELOST, before or after the call). The near cache
 * needs both: a Redis connection's client-side-caching state lives and dies with it.
 */
typedef void (*redis_client_state_fn)(int up, void *arg);

/* Sets (or with fn NULL removes) the client's one state listener. */
void redis_client_set_state_fn(redis_client_t *c, redis_client_state_fn fn, void *arg);

#endif
