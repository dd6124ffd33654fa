/*
 * redis_cluster — the commands of one event loop routed over a Redis Cluster, on hiredis' async API
 * (hiredis 0.14 has no cluster client).
 *
 * A command goes to the master that serves the hash slot of its key (CRC16 of the key's hash tag,
 * modulo 16384; which argument is the key follows from the command's name, see key_of in the .c).
 * The slot map comes from CLUSTER SLOTS, asked of the seed nodes (REDIS_CLUSTER_NODES) at start and
 * again every second, at once after a MOVED answer or a lost connection. Each master gets one
 * asynchronous connection per loop, made on first use and remade with backoff (50 ms doubling to
 * 2 s) after a loss; once an attempt failed and until one succeeds, commands for that master fail
 * at once with REDIS_CLUSTER_EDOWN. Redirections are followed within the command's deadline: MOVED
 * updates the map and resends, ASK sends ASKING then the command to the node named, TRYAGAIN and
 * CLUSTERDOWN resend after 10 ms doubling. Every master has its own circuit breaker; a command's
 * deadline (REDIS_TIMEOUT_MS) covers all its redirections.
 *
 * Not thread-safe: use it only from the thread that runs its event base.
 */
#ifndef CACHEME_REDIS_CLUSTER_H
#define CACHEME_REDIS_CLUSTER_H

#include <hiredis/hiredis.h>

#include "core/config.h"
#include "store/redis_topology.h"

struct event_base;

typedef struct redis_cluster redis_cluster_t;

/* The outcome of a command; the same numbers as redis_client.h's REDIS_CLIENT_*. */
enum {
    REDIS_CLUSTER_OK = 0,        /* A reply arrived (it may be a Redis error reply). */
    REDIS_CLUSTER_EDOWN = -1,    /* The master is not reachable; the command was not sent. */
    REDIS_CLUSTER_ETIMEOUT = -2, /* The deadline passed before the reply. */
    REDIS_CLUSTER_ELOST = -3,    /* The connection was lost or the cluster client freed. */
    REDIS_CLUSTER_ENOMEM = -4,   /* Out of memory. */
    REDIS_CLUSTER_EOPEN = -5     /* The master's circuit breaker is open; not sent. */
};

/* The slots of a cluster (CLUSTER KEYSLOT's range is 0 .. REDIS_CLUSTER_SLOTS - 1). */
#define REDIS_CLUSTER_SLOTS 16384

/*
 * Called exactly once per command accepted (never for one refused); NULL means nobody waits.
 * reply is valid only during the call and only when status is REDIS_CLUSTER_OK.
 */
typedef void (*redis_cluster_fn)(int status, redisReply *reply, void *arg);

/*
 * Creates the cluster client of loop base for cfg's seed nodes (cfg->redis_cluster_seeds; cfg
 * outlives it) and asks them for the slot map. Returns 0 and sets *out, or REDIS_CLUSTER_ENOMEM.
 * Never blocks (but for resolving a host name).
 */
int redis_cluster_new(struct event_base *base, const config_t *cfg, redis_cluster_t **out);

/* Frees it; commands still waiting are answered REDIS_CLUSTER_ELOST before it returns. */
void redis_cluster_free(redis_cluster_t *rc);

/*
 * Sends a command to the master of its key's slot (keyless commands: to any master). Returns 0 when
 * sent (fn comes later, never from inside this call), or a negative REDIS_CLUSTER_* when not (fn is
 * not called).
 */
int redis_cluster_command(redis_cluster_t *rc, redis_cluster_fn fn, void *arg, int argc,
                          const char **argv, const size_t *argvlen);

/*
 * Sends a command to the master-th master of the current map (ordered by their first slot),
 * without redirections: for a server's own keyspace (SCAN, INFO). Same contract otherwise.
 */
int redis_cluster_command_node(redis_cluster_t *rc, int master, redis_cluster_fn fn, void *arg,
                               int argc, const char **argv, const size_t *argvlen);

/* Masters in the current slot map (0 before the first map arrived). */
int redis_cluster_master_count(const redis_cluster_t *rc);

/* The hash slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key, mod 16384. Pure. */
int redis_cluster_key_slot(const char *key, size_t len);

/* 1 when a slot map is known and every master in it is connected. */
int redis_cluster_is_up(const redis_cluster_t *rc);

/* "open" when a master's breaker is open, else "half-open" when one is, else "closed". */
const char *redis_cluster_breaker_state(const redis_cluster_t *rc);

/* Times the breakers of this loop's masters have opened, summed. */
long long redis_cluster_breaker_opened(const redis_cluster_t *rc);

/* One master, as /cache/stats lists it. A plain value the caller owns. */
typedef struct {
    char address[80];    /* "host:port". */
    int slots;           /* How many slots it serves. */
    int up;              /* 1 when connected. */
    const char *breaker; /* Its breaker's state name (static text). */
} redis_cluster_node_t;

/* Fills *out for the master-th master. Returns 0, or -1 when there is no such master. */
int redis_cluster_master_info(const redis_cluster_t *rc, int master, redis_cluster_node_t *out);

/*
 * The master-th master (as redis_cluster_master_info numbers them) that serves slot in the current
 * map, or -1 when the slot is not known to be served (no map yet, or a slot not covered).
 */
int redis_cluster_slot_master(const redis_cluster_t *rc, int slot);

/*
 * Sets (or with fn NULL removes) the function told of changes (redis_topology.h): slots that
 * moved to another master since the last map (compared when a new map is read, so a MOVED is
 * reported once the refresh it triggers has confirmed it, within REFRESH_SOON_MS), a master
 * whose connection was lost, and its return. Called on the loop, from the map refresh and the
 * connection callbacks.
 */
void redis_cluster_set_topology_fn(redis_cluster_t *rc, redis_topology_fn fn, void *arg);

#endif
