/*
 * redis_client — see redis_client.h.
 *
 * Lifetime of a command: a redis_cmd_t is allocated per command and handed to hiredis as privdata.
 * hiredis calls on_reply exactly once per command: with the reply, or with NULL when the connection
 * goes away or the context is freed. That call always frees the redis_cmd_t. The deadline timer
 * only answers the caller early and marks the command as answered; it never frees it.
 */
#include "store/redis_client.h"

#include "core/clock.h"
#include "store/breaker.h"
#include "store/redis_cluster.h"
#include "core/lab.h"
#include "core/log.h"

#include <assert.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_MIN_MS 50
#define RECONNECT_MAX_MS 2000
/* After this many deadlines in a row with no reply in between, the connection is treated as hung.
 */
#define HUNG_AFTER_TIMEOUTS 8

struct redis_client {
    struct event_base *base;           /* Loop that owns the client. */
    const config_t *cfg;               /* Where to connect, deadlines. */
    redisAsyncContext *ac;             /* Current context, NULL while disconnected. */
    int up;                            /* 1 after the connect callback reported success. */
    int known_down;                    /* 1 after a failure, until a connection succeeds. */
    int backoff_ms;                    /* Next reconnect delay. */
    int consecutive_timeouts;          /* Deadlines passed since the last reply. */
    long long last_reply_ms;           /* When a reply last arrived, or commands started waiting
                                          on a quiet connection (monotonic ms). */
    int in_flight;                     /* Commands sent that hiredis has not handed back. */
    int freeing;                       /* 1 inside redis_client_free: do not reconnect. */
    struct event reconnect_ev;         /* Timer that starts the next connection attempt. */
    struct event connect_timeout_ev;   /* Gives up on a connection attempt that hangs. */
    const struct timeval *cmd_timeout; /* Common timeout for command deadlines. */
    char last_error[128];              /* Last connection problem, for /health and logs. */
    breaker_t breaker;                 /* Circuit breaker over every command. */
    redis_client_state_fn state_fn;    /* Told of connections up and down; NULL = nobody. */
    void *state_arg;                   /* Its argument. */
    /* Where to connect (see redis_client_resolver_t); lookup NULL: always cfg's host and port. */
    redis_client_resolver_t resolver;
    int resolving;            /* 1 while a lookup is pending: no context, no other attempt. */
    char host[256];           /* Address of the current (or last) connection attempt. */
    int port;                 /* Its port. */
    redis_cluster_t *cluster; /* With REDIS_CLUSTER_NODES: every call goes to it. */
};

/* ---- Redis Cluster: with REDIS_CLUSTER_NODES, the client is a front for redis_cluster. ---- */
_Static_assert((int)REDIS_CLIENT_OK == (int)REDIS_CLUSTER_OK &&
                   (int)REDIS_CLIENT_EDOWN == (int)REDIS_CLUSTER_EDOWN &&
                   (int)REDIS_CLIENT_ETIMEOUT == (int)REDIS_CLUSTER_ETIMEOUT &&
                   (int)REDIS_CLIENT_ELOST == (int)REDIS_CLUSTER_ELOST &&
                   (int)REDIS_CLIENT_ENOMEM == (int)REDIS_CLUSTER_ENOMEM &&
                   (int)REDIS_CLIENT_EOPEN == (int)REDIS_CLUSTER_EOPEN,
               "redis_cluster answers with redis_client's codes");

typedef struct {
    redis_client_t *client; /* Owner. */
    redis_client_fn fn;     /* Caller's callback. */
    void *arg;              /* Caller's argument. */
    int answered;           /* 1 once fn has been called. */
    struct event timer;     /* Deadline. */
} redis_cmd_t;

static void start_connect(redis_client_t *c);

static void tell_state(redis_client_t *c, int up)
{
    if (c->state_fn != NULL && !c->freeing)
        c->state_fn(up, c->state_arg);
}

static int breaker_on(void)
{
    lab_settings_t lab;
    lab_get(&lab);
    return lab.circuit_breaker;
}

static void schedule_reconnect(redis_client_t *c)
{
    if (c->freeing)
        return;
    struct timeval tv = clock_ms_to_tv(c->backoff_ms);
    event_add(&c->reconnect_ev, &tv);
    c->backoff_ms *= 2;
    if (c->backoff_ms > RECONNECT_MAX_MS)
        c->backoff_ms = RECONNECT_MAX_MS;
}

/* Drops the current context at once; pending commands get on_reply(NULL). */
static void drop_connection(redis_client_t *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    if (ac == NULL)
        return;
    snprintf(c->last_error, sizeof c->last_error, "%s", why);
    if (c->up)
        log_warn("redis connection dropped: %s", why);
    c->ac = NULL;
    c->up = 0;
    c->known_down = 1;
    event_del(&c->connect_timeout_ev);
    tell_state(c, 0);
    redisAsyncFree(ac); /* Calls on_disconnect, which sees c->ac != ac and does nothing. */
    schedule_reconnect(c);
}

/* The connection is ready for commands. */
static void mark_up(redis_client_t *c)
{
    event_del(&c->connect_timeout_ev);
    c->up = 1;
    c->known_down = 0;
    c->last_reply_ms = clock_monotonic_ms();
    c->backoff_ms = RECONNECT_MIN_MS;
    c->consecutive_timeouts = 0;
    c->last_error[0] = '\0';
    log_info("redis connected to %s:%d", c->host, c->port);
    tell_state(c, 1);
}

/* ---- Resolved addresses: the resolver hook and the ROLE check -------------------------------- */

/*
 * The answer to ROLE on a freshly made connection of a client with a resolver. Only a master may
 * take the cache's writes: a server that has become a replica (an old master that came back after a
 * failover, or a resolver that was behind) answers with "slave", and the client drops it and looks
 * the address up again, with backoff. ROLE is the first command on the connection after AUTH and
 * SELECT: callers' commands queued meanwhile sit behind it and fail with the connection
 * (REDIS_CLIENT_ELOST), so none reaches a replica unnoticed.
 */
static void on_role(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_client_t *c = privdata;
    redisReply *reply = r;
    if (reply == NULL || c->ac != ac)
        return; /* Lost or dropped: on_disconnect or drop_connection took care of it. */
    const redisReply *role =
        reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 ? reply->element[0] : reply;
    if (role->type == REDIS_REPLY_STRING && strcmp(role->str, "master") == 0) {
        /*
         * The answer is a round trip to the master, as good as the breaker's trial call: a breaker
         * that opened while the old master was gone closes now rather than up to
         * REDIS_BREAKER_OPEN_MS later, which would stretch the failover window for nothing.
         */
        breaker_success(&c->breaker);
        mark_up(c);
        return;
    }
    char why[128];
    snprintf(why, sizeof why, "%.64s:%d is not a master (ROLE: %.24s)", c->host, c->port,
             role->type == REDIS_REPLY_STRING || role->type == REDIS_REPLY_ERROR ? role->str : "?");
    log_warn("redis %s", why);
    drop_connection(c, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_client_t *c = ac->data;
    if (c == NULL || c->ac != ac)
        return;
    if (status != REDIS_OK) {
        event_del(&c->connect_timeout_ev);
        /* hiredis frees the context after this callback. */
        snprintf(c->last_error, sizeof c->last_error, "connect: %s", ac->errstr);
        log_debug("redis connect failed: %s", ac->errstr);
        c->ac = NULL;
        c->known_down = 1;
        schedule_reconnect(c);
        return;
    }
    /* With a resolver, on_role decides; until it does, the connect deadline still runs. */
    if (c->resolver.lookup == NULL)
        mark_up(c);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_client_t *c = ac->data;
    (void)status;
    if (c == NULL || c->ac != ac)
        return; /* We dropped it ourselves, or we are freeing. */
    snprintf(c->last_error, sizeof c->last_error, "disconnected: %s",
             ac->errstr[0] ? ac->errstr : "connection closed");
    log_warn("redis %s", c->last_error);
    c->ac = NULL;
    c->up = 0;
    c->known_down = 1;
    tell_state(c, 0);
    schedule_reconnect(c);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drop_connection(arg, "connect timed out");
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_connect(arg);
}

/* Sends a command whose reply nobody waits for (AUTH, SELECT during connection set-up). */
static void ignore_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)privdata;
    redisReply *reply = r;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_error("redis set-up command failed: %s", reply->str);
    (void)ac;
}

/* Starts a connection attempt to c->host:c->port. */
static void connect_to(redis_client_t *c)
{
    redisAsyncContext *ac = redisAsyncConnect(c->host, c->port);
    if (ac == NULL) {
        snprintf(c->last_error, sizeof c->last_error, "connect: out of memory");
        schedule_reconnect(c);
        return;
    }
    if (ac->err) {
        c->known_down = 1;
        snprintf(c->last_error, sizeof c->last_error, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    ac->data = c;
    if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(c);
        return;
    }
    c->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (c->cfg->redis_password[0] != '\0')
        redisAsyncCommand(ac, ignore_reply, NULL, "AUTH %s", c->cfg->redis_password);
    if (c->cfg->redis_db != 0)
        redisAsyncCommand(ac, ignore_reply, NULL, "SELECT %d", c->cfg->redis_db);
    /* Queued before any caller's command, so that none of them runs before the role is known. */
    if (c->resolver.lookup != NULL)
        redisAsyncCommand(ac, on_role, c, "ROLE");

    int ms = c->cfg->redis_timeout_ms * 4;
    if (ms < 1000)
        ms = 1000;
    struct timeval tv = clock_ms_to_tv(ms);
    event_add(&c->connect_timeout_ev, &tv);
}

/* Starts the next connection attempt: at once, or after the resolver has given the address. */
static void start_connect(redis_client_t *c)
{
    if (c->freeing || c->ac != NULL || c->resolving)
        return;
    if (c->resolver.lookup != NULL) {
        c->resolving = 1;
        c->resolver.lookup(c->resolver.arg, c);
        return;
    }
    connect_to(c);
}

void redis_client_resolved(redis_client_t *c, const char *host, int port)
{
    assert(c->resolving);
    c->resolving = 0;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    if (!c->freeing)
        connect_to(c);
}

void redis_client_unresolved(redis_client_t *c, const char *why)
{
    assert(c->resolving);
    c->resolving = 0;
    c->known_down = 1;
    snprintf(c->last_error, sizeof c->last_error, "no address: %s", why);
    log_debug("redis %s", c->last_error);
    schedule_reconnect(c);
}

void redis_client_reconnect(redis_client_t *c, const char *why)
{
    if (c->freeing || c->resolving)
        return; /* A pending lookup will bring the new address anyway. */
    c->backoff_ms = RECONNECT_MIN_MS;
    drop_connection(c, why);
    event_del(&c->reconnect_ev);
    start_connect(c);
}

int redis_client_address(const redis_client_t *c, char *buf, size_t len)
{
    if (!redis_client_is_up(c))
        return -1;
    snprintf(buf, len, "%s:%d", c->host, c->port);
    return 0;
}

int redis_client_new(struct event_base *base, const config_t *cfg, redis_client_t **out)
{
    return redis_client_new_resolved(base, cfg, NULL, out);
}

int redis_client_new_resolved(struct event_base *base, const config_t *cfg,
                              const redis_client_resolver_t *resolver, redis_client_t **out)
{
    redis_client_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return REDIS_CLIENT_ENOMEM;
    if (cfg->redis_cluster_nseeds > 0) { /* Redis Cluster: no connection of its own. */
        c->base = base;
        c->cfg = cfg;
        if (redis_cluster_new(base, cfg, &c->cluster) != 0) {
            free(c);
            return REDIS_CLIENT_ENOMEM;
        }
        *out = c;
        return 0;
    }
    c->base = base;
    c->cfg = cfg;
    if (resolver != NULL)
        c->resolver = *resolver;
    snprintf(c->host, sizeof c->host, "%s", cfg->redis_host);
    c->port = cfg->redis_port;
    c->backoff_ms = RECONNECT_MIN_MS;
    breaker_init(&c->breaker, cfg->breaker_failures, cfg->breaker_open_ms);
    evtimer_assign(&c->reconnect_ev, base, on_reconnect, c);
    evtimer_assign(&c->connect_timeout_ev, base, on_connect_timeout, c);
    struct timeval tv = clock_ms_to_tv(cfg->redis_timeout_ms);
    c->cmd_timeout = event_base_init_common_timeout(base, &tv);
    if (c->cmd_timeout == NULL) {
        free(c);
        return REDIS_CLIENT_ENOMEM;
    }
    start_connect(c);
    *out = c;
    return 0;
}

void redis_client_free(redis_client_t *c)
{
    if (c == NULL)
        return;
    if (c->cluster != NULL) {
        redis_cluster_free(c->cluster);
        free(c);
        return;
    }
    c->freeing = 1;
    if (c->resolver.release != NULL)
        c->resolver.release(c->resolver.arg, c); /* Forgets a pending lookup too. */
    event_del(&c->reconnect_ev);
    event_del(&c->connect_timeout_ev);
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac); /* Answers every pending command through on_reply(NULL). */
    free(c);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    redis_cmd_t *cmd = privdata;
    redisReply *reply = r;
    redis_client_t *c = cmd->client;
    c->in_flight--;
    if (reply != NULL) {
        c->consecutive_timeouts = 0;
        c->last_reply_ms = clock_monotonic_ms();
        breaker_success(&c->breaker);
    } else if (!cmd->answered) {
        breaker_failure(&c->breaker, clock_monotonic_ms());
    }
    if (!cmd->answered) {
        cmd->answered = 1;
        event_del(&cmd->timer);
        if (cmd->fn != NULL)
            cmd->fn(reply ? REDIS_CLIENT_OK : REDIS_CLIENT_ELOST, reply, cmd->arg);
    }
    free(cmd);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_cmd_t *cmd = arg;
    redis_client_t *c = cmd->client;
    cmd->answered = 1;
    long long now = clock_monotonic_ms();
    breaker_failure(&c->breaker, now);
    if (cmd->fn != NULL)
        cmd->fn(REDIS_CLIENT_ETIMEOUT, NULL, cmd->arg);
    /*
     * cmd stays allocated until hiredis hands it back through on_reply. The connection is treated
     * as hung only when nothing at all has come back for several deadlines while commands waited:
     * a loop that was busy for a moment (many commands in flight missing one deadline together) is
     * not a hung Redis, nor is a connection that was merely quiet before a burst of commands.
     */
    if (++c->consecutive_timeouts >= HUNG_AFTER_TIMEOUTS &&
        now - c->last_reply_ms > 4LL * c->cfg->redis_timeout_ms)
        drop_connection(c, "no reply for several deadlines");
}

int redis_client_command(redis_client_t *c, redis_client_fn fn, void *arg, int argc,
                         const char **argv, const size_t *argvlen)
{
    if (c->cluster != NULL)
        return redis_cluster_command(c->cluster, fn, arg, argc, argv, argvlen);
    int guarded = breaker_on();
    if (guarded && !breaker_allow(&c->breaker, clock_monotonic_ms()))
        return REDIS_CLIENT_EOPEN;
    /* While a first connection is being made, hiredis buffers the command until it is up. */
    if (c->ac == NULL || (!c->up && c->known_down)) {
        if (guarded)
            breaker_failure(&c->breaker, clock_monotonic_ms());
        return REDIS_CLIENT_EDOWN;
    }
    redis_cmd_t *cmd = malloc(sizeof *cmd);
    if (cmd == NULL)
        return REDIS_CLIENT_ENOMEM;
    cmd->client = c;
    cmd->fn = fn;
    cmd->arg = arg;
    cmd->answered = 0;
    evtimer_assign(&cmd->timer, c->base, on_deadline, cmd);
    if (redisAsyncCommandArgv(c->ac, on_reply, cmd, argc, argv, argvlen) != REDIS_OK) {
        free(cmd);
        return REDIS_CLIENT_EDOWN;
    }
    evtimer_add(&cmd->timer, c->cmd_timeout);
    /* Silence counts from now on a connection that had nothing to answer. */
    if (c->in_flight++ == 0)
        c->last_reply_ms = clock_monotonic_ms();
    return 0;
}

int redis_client_node_count(const redis_client_t *c)
{
    return c->cluster != NULL ? redis_cluster_master_count(c->cluster) : 1;
}

int redis_client_command_node(redis_client_t *c, int node, redis_client_fn fn, void *arg, int argc,
                              const char **argv, const size_t *argvlen)
{
    if (c->cluster != NULL)
        return redis_cluster_command_node(c->cluster, node, fn, arg, argc, argv, argvlen);
    if (node != 0)
        return REDIS_CLIENT_EDOWN;
    return redis_client_command(c, fn, arg, argc, argv, argvlen);
}

int redis_client_key_slot(const redis_client_t *c, const char *key, size_t len)
{
    return c->cluster != NULL ? redis_cluster_key_slot(key, len) : 0;
}

int redis_client_node_info(const redis_client_t *c, int node, redis_client_node_t *out)
{
    if (c->cluster != NULL) {
        redis_cluster_node_t n;
        if (redis_cluster_master_info(c->cluster, node, &n) != 0)
            return -1;
        snprintf(out->address, sizeof out->address, "%s", n.address);
        out->slots = n.slots;
        out->up = n.up;
        out->breaker = n.breaker;
        return 0;
    }
    if (node != 0)
        return -1;
    snprintf(out->address, sizeof out->address, "%s:%d", c->cfg->redis_host, c->cfg->redis_port);
    out->slots = 0;
    out->up = redis_client_is_up(c);
    out->breaker = redis_client_breaker_state(c);
    return 0;
}

int redis_client_is_cluster(const redis_client_t *c)
{
    return c->cluster != NULL;
}

int redis_client_slot_node(const redis_client_t *c, int slot)
{
    return c->cluster != NULL ? redis_cluster_slot_master(c->cluster, slot) : 0;
}

void redis_client_set_topology_fn(redis_client_t *c, redis_topology_fn fn, void *arg)
{
    if (c->cluster != NULL)
        redis_cluster_set_topology_fn(c->cluster, fn, arg);
}

const char *redis_client_breaker_state(const redis_client_t *c)
{
    if (c->cluster != NULL)
        return redis_cluster_breaker_state(c->cluster);
    return breaker_on() ? breaker_state_name(c->breaker.state) : "disabled";
}

long long redis_client_breaker_opened(const redis_client_t *c)
{
    if (c->cluster != NULL)
        return redis_cluster_breaker_opened(c->cluster);
    return c->breaker.opened;
}

int redis_client_is_up(const redis_client_t *c)
{
    if (c->cluster != NULL)
        return redis_cluster_is_up(c->cluster);
    return c->ac != NULL && c->up;
}

void redis_client_set_state_fn(redis_client_t *c, redis_client_state_fn fn, void *arg)
{
    c->state_fn = fn;
    c->state_arg = arg;
}
