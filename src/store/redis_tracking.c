/*
 * redis_tracking — see redis_tracking.h.
 *
 * Set-up of a connection: CLIENT ID (a regular command, answered before anything else), then one
 * SUBSCRIBE of the invalidation channel and the heartbeat channel. hiredis routes every reply of a
 * subscribed connection by its channel name to the callback given with SUBSCRIBE, so all of them
 * come to on_message. The connection is ready once both subscriptions are confirmed.
 */
#include "store/redis_tracking.h"

#include "core/clock.h"
#include "core/log.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MIN_MS 50
#define RECONNECT_MAX_MS 2000
#define INVALIDATE_CHANNEL "__redis__:invalidate"

struct redis_tracking {
    struct event_base *base;         /* Loop that owns the channel. */
    const config_t *cfg;             /* Where to connect. */
    redis_tracking_fns_t fns;        /* The owner's callbacks. */
    void *arg;                       /* Their argument. */
    char heartbeat[128];             /* The owner's heartbeat channel. */
    char host[256];                  /* Server of the current connection (valid while ac). */
    int port;                        /* Its port. */
    redisAsyncContext *ac;           /* Current context, NULL while disconnected. */
    long long client_id;             /* CLIENT ID of the current connection; -1 until known. */
    int subscribed;                  /* Subscriptions confirmed on the current connection. */
    int channels;                    /* Subscriptions to wait for: 2, or 1 without fns.key. */
    const char *label;               /* What the logs call the connection. */
    int ready;                       /* 1 once the owner was told ready, until lost. */
    int backoff_ms;                  /* Next reconnect delay. */
    int freeing;                     /* 1 inside redis_tracking_free: no reconnect, no calls. */
    struct event reconnect_ev;       /* Starts the next connection attempt. */
    struct event connect_timeout_ev; /* Gives up on an attempt that hangs. */
};

static void start_connect(redis_tracking_t *t);

static void schedule_reconnect(redis_tracking_t *t)
{
    if (t->freeing)
        return;
    struct timeval tv = clock_ms_to_tv(t->backoff_ms);
    event_add(&t->reconnect_ev, &tv);
    int next = t->backoff_ms * 2;
    t->backoff_ms = next < RECONNECT_MIN_MS ? RECONNECT_MIN_MS
                                            : (next > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : next);
}

/* The current connection is gone (or being dropped): tell the owner if it was told ready. */
static void lost(redis_tracking_t *t)
{
    t->ac = NULL;
    t->client_id = -1;
    t->subscribed = 0;
    event_del(&t->connect_timeout_ev);
    if (t->ready) {
        t->ready = 0;
        if (!t->freeing)
            t->fns.lost(t->arg);
    }
    schedule_reconnect(t);
}

/* Drops the current connection at once (a protocol surprise). */
static void drop(redis_tracking_t *t, const char *why)
{
    redisAsyncContext *ac = t->ac;
    if (ac == NULL)
        return;
    log_warn("redis %s dropped: %s", t->label, why);
    lost(t);
    redisAsyncFree(ac); /* Calls on_disconnect, which sees t->ac != ac and does nothing. */
}

static int is(const redisReply *r, const char *s)
{
    return r->type == REDIS_REPLY_STRING && r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}

/* Every reply of the subscribed connection. */
static void on_message(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_tracking_t *t = privdata;
    redisReply *reply = r;
    if (reply == NULL || t->ac != ac)
        return; /* The connection is going away; on_disconnect tells the owner. */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
        drop(t, "unexpected reply");
        return;
    }
    redisReply *kind = reply->element[0], *channel = reply->element[1], *body = reply->element[2];
    if (is(kind, "subscribe")) {
        if (++t->subscribed == t->channels && t->client_id >= 0) {
            t->ready = 1;
            t->backoff_ms = RECONNECT_MIN_MS;
            t->fns.ready(t->client_id, t->arg);
        }
        return;
    }
    if (!is(kind, "message"))
        return;
    if (is(channel, t->heartbeat)) {
        if (body->type == REDIS_REPLY_STRING)
            t->fns.heartbeat(body->str, body->len, t->arg);
        return;
    }
    if (t->fns.key == NULL || !is(channel, INVALIDATE_CHANNEL))
        return;
    if (body->type == REDIS_REPLY_STRING) {
        t->fns.key(body->str, body->len, t->arg);
    } else if (body->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < body->elements; i++) {
            if (body->element[i]->type == REDIS_REPLY_STRING)
                t->fns.key(body->element[i]->str, body->element[i]->len, t->arg);
        }
    } else {
        /* nil: FLUSHALL or FLUSHDB. Anything else cannot be read: assume the worst as well. */
        t->fns.all(t->arg);
    }
}

static void on_client_id(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_tracking_t *t = privdata;
    redisReply *reply = r;
    if (reply == NULL || t->ac != ac)
        return;
    if (reply->type != REDIS_REPLY_INTEGER) {
        drop(t, reply->type == REDIS_REPLY_ERROR ? reply->str : "CLIENT ID failed");
        return;
    }
    t->client_id = reply->integer;
    if (t->subscribed ==
        t->channels) { /* Cannot happen (CLIENT ID is answered first), but harmless. */
        t->ready = 1;
        t->fns.ready(t->client_id, t->arg);
    }
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    redisReply *reply = r;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_error("redis %s: AUTH failed: %s", ((redis_tracking_t *)privdata)->label, reply->str);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_tracking_t *t = ac->data;
    if (t == NULL || t->ac != ac)
        return;
    event_del(&t->connect_timeout_ev);
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        log_debug("redis %s: connect failed: %s", t->label, ac->errstr);
        lost(t);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    redis_tracking_t *t = ac->data;
    if (t == NULL || t->ac != ac)
        return;
    log_warn("redis %s lost: %s", t->label, ac->errstr[0] ? ac->errstr : "closed");
    lost(t);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drop(arg, "connect timed out");
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

static void start_connect(redis_tracking_t *t)
{
    if (t->freeing || t->ac != NULL)
        return;
    if (t->fns.address == NULL) {
        snprintf(t->host, sizeof t->host, "%s", t->cfg->redis_host);
        t->port = t->cfg->redis_port;
    } else if (t->fns.address(t->arg, t->host, sizeof t->host, &t->port) != 0) {
        schedule_reconnect(t);
        return;
    }
    redisAsyncContext *ac = redisAsyncConnect(t->host, t->port);
    if (ac == NULL || ac->err) {
        if (ac != NULL)
            redisAsyncFree(ac);
        schedule_reconnect(t);
        return;
    }
    ac->data = t;
    if (redisLibeventAttach(ac, t->base) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(t);
        return;
    }
    t->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Commands queue until the connection is made; their order is the order of the replies. */
    if (t->cfg->redis_password[0] != '\0')
        redisAsyncCommand(ac, on_auth, t, "AUTH %s", t->cfg->redis_password);
    redisAsyncCommand(ac, on_client_id, t, "CLIENT ID");
    if (t->channels == 2)
        redisAsyncCommand(ac, on_message, t, "SUBSCRIBE %s %s", INVALIDATE_CHANNEL, t->heartbeat);
    else
        redisAsyncCommand(ac, on_message, t, "SUBSCRIBE %s", t->heartbeat);
    int ms = t->cfg->redis_timeout_ms * 4 < 1000 ? 1000 : t->cfg->redis_timeout_ms * 4;
    struct timeval tv = clock_ms_to_tv(ms);
    event_add(&t->connect_timeout_ev, &tv);
}

int redis_tracking_new(struct event_base *base, const config_t *cfg, const char *heartbeat_channel,
                       const redis_tracking_fns_t *fns, void *arg, redis_tracking_t **out)
{
    if (strlen(heartbeat_channel) >= sizeof((redis_tracking_t *)0)->heartbeat ||
        strchr(heartbeat_channel, ' ') != NULL)
        return -1;
    redis_tracking_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->base = base;
    t->cfg = cfg;
    t->fns = *fns;
    t->arg = arg;
    snprintf(t->heartbeat, sizeof t->heartbeat, "%s", heartbeat_channel);
    t->channels = fns->key != NULL ? 2 : 1;
    t->label = fns->key != NULL ? "invalidation channel" : "events channel";
    t->client_id = -1;
    t->backoff_ms = RECONNECT_MIN_MS;
    evtimer_assign(&t->reconnect_ev, base, on_reconnect, t);
    evtimer_assign(&t->connect_timeout_ev, base, on_connect_timeout, t);
    start_connect(t);
    *out = t;
    return 0;
}

void redis_tracking_free(redis_tracking_t *t)
{
    if (t == NULL)
        return;
    t->freeing = 1;
    event_del(&t->reconnect_ev);
    event_del(&t->connect_timeout_ev);
    redisAsyncContext *ac = t->ac;
    t->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac);
    free(t);
}

int redis_tracking_is_ready(const redis_tracking_t *t)
{
    return t->ready;
}

int redis_tracking_address(const redis_tracking_t *t, char *buf, size_t len)
{
    if (t->ac == NULL)
        return -1;
    snprintf(buf, len, "%s:%d", t->host, t->port);
    return 0;
}

void redis_tracking_reconnect(redis_tracking_t *t, const char *why)
{
    t->backoff_ms = 0; /* The next attempt at once: the new address is known. */
    if (t->ac != NULL) {
        drop(t, why);
        return;
    }
    event_del(&t->reconnect_ev);
    schedule_reconnect(t);
}
