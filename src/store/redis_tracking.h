/*
 * redis_tracking — the invalidation channel of Redis' server-assisted client-side caching: one
 * hiredis async connection per event loop that learns its CLIENT ID and subscribes to
 * `__redis__:invalidate` (RESP2, as hiredis 0.14 speaks it). Another connection turns tracking on
 * with `CLIENT TRACKING on REDIRECT <that id> BCAST PREFIX ...`; from then on Redis publishes the
 * name of every key under the prefix that changes (written, deleted, expired, evicted) on this
 * connection, and a nil for FLUSHALL/FLUSHDB.
 *
 * The connection reconnects by itself with backoff (50 ms doubling to 2 s), getting a new id each
 * time; the owner is told when it is ready (id known, subscribed) and when it is lost. It also
 * subscribes to a channel of the owner's (heartbeat_channel) and hands over what is published
 * there: messages on one subscription arrive in the order Redis sent them, so a message the owner
 * published on its other connection proves that the invalidations before it have been delivered.
 * (A PING would not do: hiredis 0.14 keeps a callback per command sent in subscribed mode that it
 * never releases until the connection closes.)
 *
 * With fns.key NULL the connection subscribes to the owner's channel alone: a plain Pub/Sub
 * subscriber with the same reconnection (cache/event_bus uses it so).
 *
 * Not thread-safe: use it only from the thread that runs its event base.
 */
#ifndef CACHEME_REDIS_TRACKING_H
#define CACHEME_REDIS_TRACKING_H

#include <stddef.h>

#include "core/config.h"

struct event_base;

typedef struct redis_tracking redis_tracking_t;

/* What the owner is told; every call comes from the loop, never from inside a redis_tracking_*. */
typedef struct {
    /* Connected, subscribed; client_id is what CLIENT TRACKING ... REDIRECT needs. */
    void (*ready)(long long client_id, void *arg);
    /* The connection was lost (or dropped as hung): invalidations may have been missed. */
    void (*lost)(void *arg);
    /* A key changed (len bytes, not NUL-terminated). NULL: no invalidations (key and all unused).
     */
    void (*key)(const char *key, size_t len, void *arg);
    /* Every key may have changed (FLUSHALL, FLUSHDB). */
    void (*all)(void *arg);
    /* A message on heartbeat_channel (len bytes, not NUL-terminated). */
    void (*heartbeat)(const char *msg, size_t len, void *arg);
    /*
     * Where to connect, asked before each attempt: writes the host (NUL-terminated, at most
     * hostlen bytes) and the port and returns 0, or returns -1 when there is no address now (the
     * attempt is made again after the backoff). NULL: cfg's REDIS_URL host and port. With Redis
     * Sentinel the channel must be on the server the loop's client is on, which moves.
     */
    int (*address)(void *arg, char *host, size_t hostlen, int *port);
} redis_tracking_fns_t;

/*
 * Creates the channel for cfg's Redis and starts connecting. fns (copied) and arg get the events;
 * heartbeat_channel (copied, at most 127 bytes) is subscribed to besides the invalidations. cfg
 * must outlive the channel. Returns 0 and sets *out, or -1 when out of memory or the name is too
 * long.
 */
int redis_tracking_new(struct event_base *base, const config_t *cfg, const char *heartbeat_channel,
                       const redis_tracking_fns_t *fns, void *arg, redis_tracking_t **out);

/* Closes the connection and frees the channel; no call is made to fns after. NULL is allowed. */
void redis_tracking_free(redis_tracking_t *t);

/* 1 while connected and subscribed. */
int redis_tracking_is_ready(const redis_tracking_t *t);

/*
 * Writes "host:port" of the server the channel is connected (or connecting) to into buf and
 * returns 0; -1 while it has no connection.
 */
int redis_tracking_address(const redis_tracking_t *t, char *buf, size_t len);

/*
 * Drops the connection (the owner is told lost if it was ready) and connects again at once, to
 * the address fns.address gives then: for an owner whose client has moved to another server.
 */
void redis_tracking_reconnect(redis_tracking_t *t, const char *why);

#endif
