/*
 * redis_cluster — see redis_cluster.h.
 *
 * Lifetime of a command: a cmd_t holds a copy of the arguments (a redirection sends them again) and
 * is handed to hiredis as privdata for each send. hiredis calls on_reply exactly once per send:
 * with the reply, or with NULL when the connection goes away or its context is freed. The caller is
 * answered once (reply, deadline or failure: `answered`); the cmd_t is freed when it is answered,
 * no send is still with hiredis and no resend is waiting on its timer.
 */
#include "store/redis_cluster.h"

#include "core/clock.h"
#include "core/lab.h"
#include "core/log.h"
#include "store/breaker.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RECONNECT_MIN_MS 50
#define RECONNECT_MAX_MS 2000
/* The slot map is asked for again this often, and at most this often on demand. */
#define REFRESH_EVERY_MS 1000
#define REFRESH_SOON_MS 20
/* A command follows at most this many MOVED/ASK answers (a map in motion settles in one or two). */
#define MAX_REDIRECTS 5
/* TRYAGAIN and CLUSTERDOWN: first resend after this long, doubling (within the deadline). */
#define RETRY_MIN_MS 10
/* A cluster has at most this many nodes we talk to (masters and those named in redirections). */
#define MAX_NODES 64
/* After this many deadlines in a row with no reply in between, a node's connection is hung. */
#define HUNG_AFTER_TIMEOUTS 8

typedef struct node {
    struct redis_cluster *rc;        /* Owner. */
    int index;                       /* Its index in rc->nodes (never changes). */
    char host[64];                   /* Address as the cluster names it. */
    int port;                        /* TCP port. */
    redisAsyncContext *ac;           /* Current context, NULL while disconnected. */
    int up;                          /* 1 after the connect callback reported success. */
    int known_down;                  /* 1 after a failure, until a connection succeeds. */
    int backoff_ms;                  /* Next reconnect delay. */
    int slots;                       /* Slots it serves in the current map (0: not a master). */
    int consecutive_timeouts;        /* Deadlines passed since its last reply. */
    int lost;                        /* 1 after NODE_LOST was reported, until NODE_BACK. */
    long long last_reply_ms;         /* When a reply last arrived (monotonic ms). */
    struct event reconnect_ev;       /* Starts the next connection attempt. */
    struct event connect_timeout_ev; /* Gives up on an attempt that hangs. */
    breaker_t breaker;               /* This node's circuit breaker. */
} node_t;

struct redis_cluster {
    struct event_base *base;              /* Loop that owns it. */
    const config_t *cfg;                  /* Seeds, deadlines. */
    node_t *nodes[MAX_NODES];             /* Every node known; an index never changes. */
    int nnodes;                           /* How many. */
    short slot_node[REDIS_CLUSTER_SLOTS]; /* Node serving each slot, -1 = not known. */
    int masters[MAX_NODES];               /* Node indices of the masters, by first slot. */
    int nmasters;                         /* How many. */
    int map_known;                        /* 1 once a slot map arrived. */
    int refreshing;                       /* 1 while a CLUSTER SLOTS is in flight. */
    int refresh_from;                     /* Node the next refresh asks first (round robin). */
    int freeing;                          /* 1 inside redis_cluster_free. */
    struct event refresh_ev;              /* Next map refresh. */
    struct cmd *cmds;                     /* Live commands (answered or not, not yet freed). */
    const struct timeval *cmd_timeout;    /* Common timeout for deadlines. */
    /* The map as last reported to topo_fn (node indices), to tell which slots moved since. */
    short reported[REDIS_CLUSTER_SLOTS];
    int moved_seen;            /* 1 when a MOVED changed the map since the last CLUSTER SLOTS. */
    redis_topology_fn topo_fn; /* Told of slot moves and lost masters; NULL: nobody. */
    void *topo_arg;            /* Its argument. */
};

typedef struct cmd {
    redis_cluster_t *rc; /* Owner. */
    struct cmd *prev;    /* The owner's list of live commands... */
    struct cmd *next;    /* ...so that freeing it can end those waiting on a resend timer. */
    redis_cluster_fn fn; /* Caller's callback. */
    void *arg;           /* Caller's argument. */
    int answered;        /* 1 once fn was called. */
    int inflight;        /* Sends hiredis has not handed back. */
    int fixed_node;      /* Node for command_node and internal commands; -1 = by slot. */
    int slot;            /* Slot of the key; -1 for a keyless command. */
    int redirects;       /* MOVED/ASK answers followed. */
    int retry_ms;        /* Next TRYAGAIN/CLUSTERDOWN delay. */
    int last_node;       /* Node of the latest send (its breaker takes a deadline). */
    int argc;            /* Arguments... */
    char **argv;         /* ...copied, for resends. */
    size_t *argvlen;     /* Their lengths. */
    struct event timer;  /* Deadline. */
    struct event retry;  /* Resend after TRYAGAIN/CLUSTERDOWN. */
    int retry_pending;   /* 1 while retry is scheduled. */
} cmd_t;

static void schedule_refresh(redis_cluster_t *rc, int ms);
static void node_connect(node_t *n);

/* Tells topo_fn (if any) of a change; from and to are node indices, -1 for none. */
static void report(redis_cluster_t *rc, redis_topology_kind_t kind, int from, int to, int slots,
                   const char *cause)
{
    if (rc->topo_fn == NULL || rc->freeing)
        return;
    char a[80], b[80];
    if (from >= 0)
        snprintf(a, sizeof a, "%s:%d", rc->nodes[from]->host, rc->nodes[from]->port);
    if (to >= 0)
        snprintf(b, sizeof b, "%s:%d", rc->nodes[to]->host, rc->nodes[to]->port);
    redis_topology_event_t ev = {.kind = kind,
                                 .from = from >= 0 ? a : NULL,
                                 .to = to >= 0 ? b : NULL,
                                 .slots = slots,
                                 .cause = cause};
    rc->topo_fn(&ev, rc->topo_arg);
}

/* ---------------------------------------------------------------- slots --- */

/* CRC16-CCITT (XMODEM), as the Redis Cluster specification gives it. */
static unsigned crc16(const char *buf, size_t len)
{
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (unsigned)(unsigned char)buf[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
        crc &= 0xffff;
    }
    return crc;
}

int redis_cluster_key_slot(const char *key, size_t len)
{
    /* The hash tag: between the first '{' and the first '}' after it, when not empty. */
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close != NULL && close > key + from)
            return (int)(crc16(key + from, (size_t)(close - (key + from))) % REDIS_CLUSTER_SLOTS);
    }
    return (int)(crc16(key, len) % REDIS_CLUSTER_SLOTS);
}

static int arg_is(const cmd_t *c, int i, const char *word)
{
    size_t n = strlen(word);
    return i < c->argc && c->argvlen[i] == n && strncasecmp(c->argv[i], word, n) == 0;
}

/*
 * The argument that names the command's key, or -1 for a command without one. The service sends
 * a known set: EVAL/EVALSHA name theirs after numkeys, XREADGROUP/XREAD after STREAMS, XGROUP,
 * XINFO and MEMORY (USAGE) after their subcommand; INFO, PING, SCAN, CLIENT, PUBLISH have none;
 * every other command it sends names its key first.
 */
static int key_of(const cmd_t *c)
{
    if (arg_is(c, 0, "EVAL") || arg_is(c, 0, "EVALSHA"))
        return c->argc > 3 && !(c->argvlen[2] == 1 && c->argv[2][0] == '0') ? 3 : -1;
    if (arg_is(c, 0, "XREADGROUP") || arg_is(c, 0, "XREAD")) {
        for (int i = 1; i + 1 < c->argc; i++) {
            if (arg_is(c, i, "STREAMS"))
                return i + 1;
        }
        return -1;
    }
    if (arg_is(c, 0, "XGROUP") || arg_is(c, 0, "XINFO") || arg_is(c, 0, "MEMORY"))
        return c->argc > 2 ? 2 : -1;
    static const char *const keyless[] = {"INFO",    "PING",   "SCAN",   "CLIENT",   "PUBLISH",
                                          "CLUSTER", "ASKING", "DBSIZE", "SUBSCRIBE"};
    for (size_t i = 0; i < sizeof keyless / sizeof keyless[0]; i++) {
        if (arg_is(c, 0, keyless[i]))
            return -1;
    }
    return c->argc > 1 ? 1 : -1;
}

/* ---------------------------------------------------------------- nodes --- */

static int breaker_on(void)
{
    lab_settings_t lab;
    lab_get(&lab);
    return lab.circuit_breaker;
}

static void schedule_reconnect(node_t *n)
{
    if (n->rc->freeing)
        return;
    struct timeval tv = clock_ms_to_tv(n->backoff_ms);
    event_add(&n->reconnect_ev, &tv);
    n->backoff_ms *= 2;
    if (n->backoff_ms > RECONNECT_MAX_MS)
        n->backoff_ms = RECONNECT_MAX_MS;
}

/* A connection went away (or never came): remember, reconnect later, and look at the map again. */
static void node_lost(node_t *n, const char *why)
{
    int was_up = n->up;
    if (n->up)
        log_warn("redis cluster node %s:%d: %s", n->host, n->port, why);
    n->ac = NULL;
    n->up = 0;
    n->known_down = 1;
    event_del(&n->connect_timeout_ev);
    /* A node that serves no slot is only reconnected when a command or a refresh needs it. */
    if (n->slots > 0)
        schedule_reconnect(n);
    schedule_refresh(n->rc, REFRESH_SOON_MS);
    /* Reported once per loss, for a master only: a replica named in a redirection is no news. */
    if (was_up && n->slots > 0 && !n->lost) {
        n->lost = 1;
        report(n->rc, REDIS_TOPOLOGY_NODE_LOST, n->index, -1, 0, why);
    }
}

static void node_drop(node_t *n, const char *why)
{
    redisAsyncContext *ac = n->ac;
    if (ac == NULL)
        return;
    node_lost(n, why);
    redisAsyncFree(ac); /* Answers its sends with NULL; on_disconnect sees n->ac != ac. */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    node_t *n = ac->data;
    if (n == NULL || n->ac != ac)
        return;
    event_del(&n->connect_timeout_ev);
    if (status != REDIS_OK) {
        log_debug("redis cluster node %s:%d: connect failed: %s", n->host, n->port, ac->errstr);
        node_lost(n, "connect failed"); /* hiredis frees the context after this callback. */
        return;
    }
    n->up = 1;
    n->known_down = 0;
    n->backoff_ms = RECONNECT_MIN_MS;
    n->consecutive_timeouts = 0;
    n->last_reply_ms = clock_monotonic_ms();
    log_info("redis cluster node %s:%d connected", n->host, n->port);
    if (n->lost && n->slots > 0) {
        n->lost = 0;
        report(n->rc, REDIS_TOPOLOGY_NODE_BACK, n->index, -1, 0, "connected");
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    node_t *n = ac->data;
    (void)status;
    if (n == NULL || n->ac != ac)
        return;
    node_lost(n, ac->errstr[0] ? ac->errstr : "connection closed");
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_drop(arg, "connect timed out");
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    node_connect(arg);
}

static void ignore_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    (void)privdata;
    redisReply *reply = r;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_debug("redis cluster: %s", reply->str);
}

static void node_connect(node_t *n)
{
    redis_cluster_t *rc = n->rc;
    if (rc->freeing || n->ac != NULL)
        return;
    redisAsyncContext *ac = redisAsyncConnect(n->host, n->port);
    if (ac == NULL || ac->err || (ac->data = n, redisLibeventAttach(ac, rc->base) != REDIS_OK)) {
        if (ac != NULL)
            redisAsyncFree(ac);
        n->known_down = 1;
        schedule_reconnect(n);
        return;
    }
    n->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (rc->cfg->redis_password[0] != '\0')
        redisAsyncCommand(ac, ignore_reply, NULL, "AUTH %s", rc->cfg->redis_password);
    int ms = rc->cfg->redis_timeout_ms * 4;
    struct timeval tv = clock_ms_to_tv(ms < 1000 ? 1000 : ms);
    event_add(&n->connect_timeout_ev, &tv);
}

/* The node at host:port, added when new. Returns its index, or -1 when the table is full. */
static int node_find(redis_cluster_t *rc, const char *host, size_t hostlen, int port)
{
    for (int i = 0; i < rc->nnodes; i++) {
        node_t *n = rc->nodes[i];
        if (n->port == port && strlen(n->host) == hostlen && memcmp(n->host, host, hostlen) == 0)
            return i;
    }
    if (rc->nnodes == MAX_NODES || hostlen == 0 || hostlen >= sizeof rc->nodes[0]->host)
        return -1;
    node_t *n = calloc(1, sizeof *n);
    if (n == NULL)
        return -1;
    n->rc = rc;
    n->index = rc->nnodes;
    memcpy(n->host, host, hostlen);
    n->host[hostlen] = '\0';
    n->port = port;
    n->backoff_ms = RECONNECT_MIN_MS;
    breaker_init(&n->breaker, rc->cfg->breaker_failures, rc->cfg->breaker_open_ms);
    evtimer_assign(&n->reconnect_ev, rc->base, on_reconnect, n);
    evtimer_assign(&n->connect_timeout_ev, rc->base, on_connect_timeout, n);
    rc->nodes[rc->nnodes] = n;
    return rc->nnodes++;
}

/* ---------------------------------------------------------------- commands --- */

static void cmd_free(cmd_t *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->rc->cmds = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c->argv);
    free(c);
}

static void cmd_free_if_done(cmd_t *c)
{
    if (!c->answered || c->inflight > 0 || c->retry_pending)
        return;
    cmd_free(c);
}

static void cmd_answer(cmd_t *c, int status, redisReply *reply)
{
    if (c->answered)
        return;
    c->answered = 1;
    event_del(&c->timer);
    if (c->retry_pending) {
        event_del(&c->retry);
        c->retry_pending = 0;
    }
    if (c->fn != NULL)
        c->fn(status, reply, c->arg);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata);

/*
 * Sends c to node i (after ASKING when asking). Returns 0, or a REDIS_CLUSTER_* code when it could
 * not be sent: the node is known down, its breaker is open, or hiredis refused.
 */
static int cmd_send(cmd_t *c, int i, int asking)
{
    redis_cluster_t *rc = c->rc;
    node_t *n = rc->nodes[i];
    long long now = clock_monotonic_ms();
    int guarded = breaker_on();
    if (guarded && !breaker_allow(&n->breaker, now))
        return REDIS_CLUSTER_EOPEN;
    if (n->ac == NULL && !n->known_down)
        node_connect(n); /* First use: hiredis buffers the command until it is up. */
    if (n->ac == NULL || (!n->up && n->known_down)) {
        if (n->ac == NULL && !event_pending(&n->reconnect_ev, EV_TIMEOUT, NULL))
            schedule_reconnect(n);
        if (guarded)
            breaker_failure(&n->breaker, now);
        return REDIS_CLUSTER_EDOWN;
    }
    if (asking)
        redisAsyncCommand(n->ac, ignore_reply, NULL, "ASKING");
    if (redisAsyncCommandArgv(n->ac, on_reply, c, c->argc, (const char **)c->argv, c->argvlen) !=
        REDIS_OK)
        return REDIS_CLUSTER_EDOWN;
    c->inflight++;
    c->last_node = i;
    return 0;
}

/* The node a routed command goes to now: its slot's master, or any master (or seed). */
static int route(redis_cluster_t *rc, const cmd_t *c)
{
    if (c->fixed_node >= 0)
        return c->fixed_node;
    if (c->slot >= 0 && rc->slot_node[c->slot] >= 0)
        return rc->slot_node[c->slot];
    /* Keyless, or the map is not known yet: any master answers, or redirects. */
    if (rc->nmasters > 0)
        return rc->masters[c->slot >= 0 ? c->slot % rc->nmasters : 0];
    return rc->nnodes > 0 ? 0 : -1;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cmd_t *c = arg;
    c->retry_pending = 0;
    int i = route(c->rc, c);
    int status = i < 0 ? REDIS_CLUSTER_EDOWN : cmd_send(c, i, 0);
    if (status != 0)
        cmd_answer(c, status, NULL);
    cmd_free_if_done(c);
}

/* Parses "MOVED 3999 127.0.0.1:6381" (or ASK): the slot and the node. Returns 0, or -1. */
static int parse_redirect(redis_cluster_t *rc, const char *msg, int *slot, int *node)
{
    const char *sp = strchr(msg, ' ');
    if (sp == NULL)
        return -1;
    char *end;
    long s = strtol(sp + 1, &end, 10);
    if (*end != ' ' || s < 0 || s >= REDIS_CLUSTER_SLOTS)
        return -1;
    const char *addr = end + 1;
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return -1;
    long port = strtol(colon + 1, &end, 10);
    if (port <= 0 || port > 65535)
        return -1;
    int i = node_find(rc, addr, (size_t)(colon - addr), (int)port);
    if (i < 0)
        return -1;
    *slot = (int)s;
    *node = i;
    return 0;
}

static int starts_with(const redisReply *r, const char *word)
{
    size_t n = strlen(word);
    return r->len > n && strncmp(r->str, word, n) == 0 && r->str[n] == ' ';
}

/* An error reply that asks for the command elsewhere or later. Returns 1 when it was handled. */
static int redirect(cmd_t *c, const redisReply *reply)
{
    redis_cluster_t *rc = c->rc;
    int moved = starts_with(reply, "MOVED"), ask = starts_with(reply, "ASK");
    if (moved || ask) {
        int slot, node;
        if (c->redirects >= MAX_REDIRECTS || parse_redirect(rc, reply->str, &slot, &node) != 0)
            return 0;
        c->redirects++;
        if (moved) {
            if (rc->slot_node[slot] != node)
                rc->moved_seen = 1;
            rc->slot_node[slot] = (short)node; /* At once; the refresh brings the rest. */
            schedule_refresh(rc, REFRESH_SOON_MS);
        }
        int status = cmd_send(c, node, ask);
        if (status != 0)
            cmd_answer(c, status, NULL);
        return 1;
    }
    if (starts_with(reply, "TRYAGAIN") || starts_with(reply, "CLUSTERDOWN") ||
        strncmp(reply->str, "TRYAGAIN", 8) == 0 || strncmp(reply->str, "CLUSTERDOWN", 11) == 0) {
        if (strncmp(reply->str, "CLUSTERDOWN", 11) == 0)
            schedule_refresh(rc, REFRESH_SOON_MS);
        struct timeval tv = clock_ms_to_tv(c->retry_ms);
        c->retry_ms *= 2;
        evtimer_add(&c->retry, &tv);
        c->retry_pending = 1;
        return 1;
    }
    return 0;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    cmd_t *c = privdata;
    redisReply *reply = r;
    node_t *n = ac->data;
    c->inflight--;
    if (reply != NULL && n != NULL) {
        n->consecutive_timeouts = 0;
        n->last_reply_ms = clock_monotonic_ms();
        breaker_success(&n->breaker);
    } else if (!c->answered && n != NULL) {
        breaker_failure(&n->breaker, clock_monotonic_ms());
    }
    if (!c->answered) {
        if (reply == NULL)
            cmd_answer(c, REDIS_CLUSTER_ELOST, NULL);
        else if (reply->type != REDIS_REPLY_ERROR || c->fixed_node >= 0 || !redirect(c, reply))
            cmd_answer(c, REDIS_CLUSTER_OK, reply);
    }
    cmd_free_if_done(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cmd_t *c = arg;
    redis_cluster_t *rc = c->rc;
    long long now = clock_monotonic_ms();
    node_t *n = c->last_node >= 0 ? rc->nodes[c->last_node] : NULL;
    if (n != NULL)
        breaker_failure(&n->breaker, now);
    cmd_answer(c, REDIS_CLUSTER_ETIMEOUT, NULL);
    /* A node is hung only when nothing has come back from it for several deadlines. */
    if (n != NULL && c->inflight > 0 && ++n->consecutive_timeouts >= HUNG_AFTER_TIMEOUTS &&
        now - n->last_reply_ms > 4LL * rc->cfg->redis_timeout_ms)
        node_drop(n, "no reply for several deadlines"); /* May free c: do not touch it after. */
    else
        cmd_free_if_done(c);
}

/* A command with a copy of its arguments, its deadline started. NULL when memory ran out. */
static cmd_t *cmd_new(redis_cluster_t *rc, redis_cluster_fn fn, void *arg, int argc,
                      const char **argv, const size_t *argvlen)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += argvlen[i] + 1;
    cmd_t *c = calloc(1, sizeof *c);
    char *block = malloc((size_t)argc * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (c == NULL || block == NULL) {
        free(c);
        free(block);
        return NULL;
    }
    c->argv = (char **)(void *)block;
    c->argvlen = (size_t *)(void *)(block + (size_t)argc * sizeof(char *));
    char *text = block + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++) {
        memcpy(text, argv[i], argvlen[i]);
        text[argvlen[i]] = '\0';
        c->argv[i] = text;
        c->argvlen[i] = argvlen[i];
        text += argvlen[i] + 1;
    }
    c->rc = rc;
    c->fn = fn;
    c->arg = arg;
    c->argc = argc;
    c->fixed_node = -1;
    c->last_node = -1;
    c->retry_ms = RETRY_MIN_MS;
    int k = key_of(c);
    c->slot = k < 0 ? -1 : redis_cluster_key_slot(c->argv[k], c->argvlen[k]);
    evtimer_assign(&c->timer, rc->base, on_deadline, c);
    evtimer_assign(&c->retry, rc->base, on_retry, c);
    c->next = rc->cmds;
    if (rc->cmds != NULL)
        rc->cmds->prev = c;
    rc->cmds = c;
    return c;
}

/* Sends a new command to node i, or by slot when i < 0. Returns 0, or a REDIS_CLUSTER_* code. */
static int submit(redis_cluster_t *rc, int i, redis_cluster_fn fn, void *arg, int argc,
                  const char **argv, const size_t *argvlen)
{
    cmd_t *c = cmd_new(rc, fn, arg, argc, argv, argvlen);
    if (c == NULL)
        return REDIS_CLUSTER_ENOMEM;
    c->fixed_node = i;
    int node = route(rc, c);
    int status = node < 0 ? REDIS_CLUSTER_EDOWN : cmd_send(c, node, 0);
    if (status != 0) {
        cmd_free(c);
        return status;
    }
    evtimer_add(&c->timer, rc->cmd_timeout);
    return 0;
}

int redis_cluster_command(redis_cluster_t *rc, redis_cluster_fn fn, void *arg, int argc,
                          const char **argv, const size_t *argvlen)
{
    return submit(rc, -1, fn, arg, argc, argv, argvlen);
}

int redis_cluster_command_node(redis_cluster_t *rc, int master, redis_cluster_fn fn, void *arg,
                               int argc, const char **argv, const size_t *argvlen)
{
    if (master < 0 || master >= rc->nmasters)
        return REDIS_CLUSTER_EDOWN;
    return submit(rc, rc->masters[master], fn, arg, argc, argv, argvlen);
}

/* ---------------------------------------------------------------- the slot map --- */

/*
 * Counts each node's slots and orders the masters by the first slot they serve, so that an index
 * names the same master while the map stays the same.
 */
static void index_masters(redis_cluster_t *rc)
{
    int first[MAX_NODES];
    for (int i = 0; i < rc->nnodes; i++) {
        first[i] = -1;
        rc->nodes[i]->slots = 0;
    }
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        int i = rc->slot_node[s];
        if (i < 0)
            continue;
        if (first[i] < 0)
            first[i] = s;
        rc->nodes[i]->slots++;
    }
    rc->nmasters = 0;
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        int i = rc->slot_node[s];
        if (i >= 0 && first[i] == s)
            rc->masters[rc->nmasters++] = i;
    }
}

/*
 * Reports the slots whose master differs from the map reported last, one event per pair of old
 * and new master (at most MAX_MOVES pairs; a reshard moves slots between a few masters). The
 * cause is "MOVED" when a redirection showed the change first, else "CLUSTER SLOTS".
 */
#define MAX_MOVES 16
static void report_moves(redis_cluster_t *rc)
{
    int from[MAX_MOVES] = {0}, to[MAX_MOVES] = {0}, count[MAX_MOVES] = {0}, n = 0;
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        int a = rc->reported[s], b = rc->slot_node[s];
        if (a == b || b < 0)
            continue; /* Unchanged, or no longer served (CLUSTER SLOTS then omits it). */
        int k = 0;
        while (k < n && !(from[k] == a && to[k] == b))
            k++;
        if (k == n) {
            if (n == MAX_MOVES)
                continue;
            from[n] = a;
            to[n] = b;
            count[n++] = 0;
        }
        count[k]++;
    }
    const char *cause = rc->moved_seen ? "MOVED" : "CLUSTER SLOTS";
    for (int k = 0; k < n; k++)
        report(rc, REDIS_TOPOLOGY_SLOTS_MOVED, from[k], to[k], count[k], cause);
}

/* Reads a CLUSTER SLOTS reply asked of node `from` into the map. Returns 0, or -1 if malformed. */
static int read_slots(redis_cluster_t *rc, const redisReply *r, int from)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        return -1;
    short map[REDIS_CLUSTER_SLOTS];
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++)
        map[s] = -1;
    for (size_t e = 0; e < r->elements; e++) {
        const redisReply *range = r->element[e];
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER ||
            range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2)
            return -1;
        long long lo = range->element[0]->integer, hi = range->element[1]->integer;
        const redisReply *master = range->element[2];
        if (master->element[0]->type != REDIS_REPLY_STRING ||
            master->element[1]->type != REDIS_REPLY_INTEGER || lo < 0 || hi < lo ||
            hi >= REDIS_CLUSTER_SLOTS)
            return -1;
        /* An empty or "?" address means the node we asked, as the specification says. */
        const char *host = master->element[0]->str;
        size_t hostlen = master->element[0]->len;
        if (hostlen == 0 || (hostlen == 1 && host[0] == '?')) {
            host = rc->nodes[from]->host;
            hostlen = strlen(host);
        }
        int i = node_find(rc, host, hostlen, (int)master->element[1]->integer);
        if (i < 0)
            return -1;
        for (long long s = lo; s <= hi; s++)
            map[s] = (short)i;
    }
    memcpy(rc->slot_node, map, sizeof map);
    index_masters(rc);
    if (!rc->map_known)
        log_info("redis cluster: slot map with %d masters", rc->nmasters);
    else
        report_moves(rc);
    memcpy(rc->reported, map, sizeof map);
    rc->moved_seen = 0;
    rc->map_known = 1;
    /* Connect the masters now, so the first commands do not each pay for it. */
    for (int m = 0; m < rc->nmasters; m++) {
        node_t *n = rc->nodes[rc->masters[m]];
        if (n->ac == NULL && !event_pending(&n->reconnect_ev, EV_TIMEOUT, NULL))
            node_connect(n);
    }
    return 0;
}

typedef struct {
    redis_cluster_t *rc; /* Owner. */
    int from;            /* Node asked. */
} refresh_t;

static void on_slots(int status, redisReply *reply, void *arg)
{
    refresh_t *r = arg;
    redis_cluster_t *rc = r->rc;
    int ok = status == REDIS_CLUSTER_OK && read_slots(rc, reply, r->from) == 0;
    if (!ok && status == REDIS_CLUSTER_OK && reply->type == REDIS_REPLY_ERROR)
        log_warn("redis cluster: CLUSTER SLOTS: %s", reply->str);
    free(r);
    if (status == REDIS_CLUSTER_ELOST && rc->freeing)
        return;
    rc->refreshing = 0;
    schedule_refresh(rc, ok ? REFRESH_EVERY_MS : REFRESH_SOON_MS * 5);
}

/* Asks one node for the map: masters first, then every node known, the seeds included. */
static void refresh(redis_cluster_t *rc)
{
    if (rc->refreshing || rc->freeing || rc->nnodes == 0)
        return;
    const char *argv[] = {"CLUSTER", "SLOTS"};
    const size_t argvlen[] = {7, 5};
    for (int tries = 0; tries < rc->nnodes; tries++) {
        int i = rc->refresh_from++ % rc->nnodes;
        node_t *n = rc->nodes[i];
        /* Skip nodes known down unless their reconnection is due (then this is the attempt). */
        if (n->known_down && n->ac == NULL && event_pending(&n->reconnect_ev, EV_TIMEOUT, NULL))
            continue;
        if (n->known_down && n->ac == NULL)
            n->known_down = 0;
        refresh_t *r = malloc(sizeof *r);
        if (r == NULL)
            break;
        r->rc = rc;
        r->from = i;
        if (submit(rc, i, on_slots, r, 2, argv, argvlen) == 0) {
            rc->refreshing = 1;
            return;
        }
        free(r);
    }
    schedule_refresh(rc, REFRESH_SOON_MS * 5); /* No node could be asked: soon again. */
}

static void on_refresh_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    refresh(arg);
}

/* Refreshes in ms, unless a refresh is due sooner already. */
static void schedule_refresh(redis_cluster_t *rc, int ms)
{
    if (rc->freeing)
        return;
    struct timeval due;
    if (event_pending(&rc->refresh_ev, EV_TIMEOUT, &due)) {
        struct timeval now;
        event_base_gettimeofday_cached(rc->base, &now);
        long long left = (due.tv_sec - now.tv_sec) * 1000LL + (due.tv_usec - now.tv_usec) / 1000;
        if (left <= ms)
            return;
    }
    struct timeval tv = clock_ms_to_tv(ms);
    event_add(&rc->refresh_ev, &tv);
}

/* ---------------------------------------------------------------- life --- */

int redis_cluster_new(struct event_base *base, const config_t *cfg, redis_cluster_t **out)
{
    redis_cluster_t *rc = calloc(1, sizeof *rc);
    if (rc == NULL)
        return REDIS_CLUSTER_ENOMEM;
    rc->base = base;
    rc->cfg = cfg;
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++)
        rc->slot_node[s] = -1;
    struct timeval tv = clock_ms_to_tv(cfg->redis_timeout_ms);
    rc->cmd_timeout = event_base_init_common_timeout(base, &tv);
    evtimer_assign(&rc->refresh_ev, base, on_refresh_timer, rc);
    for (int i = 0; i < cfg->redis_cluster_nseeds; i++) {
        const char *h = cfg->redis_cluster_seeds[i].host;
        node_find(rc, h, strlen(h), cfg->redis_cluster_seeds[i].port);
    }
    if (rc->cmd_timeout == NULL || rc->nnodes == 0) {
        redis_cluster_free(rc);
        return REDIS_CLUSTER_ENOMEM;
    }
    refresh(rc);
    *out = rc;
    return 0;
}

void redis_cluster_free(redis_cluster_t *rc)
{
    if (rc == NULL)
        return;
    rc->freeing = 1;
    event_del(&rc->refresh_ev);
    for (int i = 0; i < rc->nnodes; i++) {
        node_t *n = rc->nodes[i];
        event_del(&n->reconnect_ev);
        event_del(&n->connect_timeout_ev);
        redisAsyncContext *ac = n->ac;
        n->ac = NULL;
        if (ac != NULL)
            redisAsyncFree(ac); /* Answers its sends through on_reply(NULL). */
    }
    /* What is left waits on a resend timer: answer it and free it. */
    while (rc->cmds != NULL) {
        cmd_t *c = rc->cmds;
        redis_cluster_fn fn = c->answered ? NULL : c->fn;
        void *arg = c->arg;
        event_del(&c->timer);
        event_del(&c->retry);
        /* Off the list's head and freed before the callback, which may send (and be refused). */
        rc->cmds = c->next;
        if (rc->cmds != NULL)
            rc->cmds->prev = NULL;
        free(c->argv);
        free(c);
        if (fn != NULL)
            fn(REDIS_CLUSTER_ELOST, NULL, arg);
    }
    for (int i = 0; i < rc->nnodes; i++)
        free(rc->nodes[i]);
    free(rc);
}

/* ---------------------------------------------------------------- state --- */

int redis_cluster_master_count(const redis_cluster_t *rc)
{
    return rc->nmasters;
}

int redis_cluster_is_up(const redis_cluster_t *rc)
{
    if (!rc->map_known || rc->nmasters == 0)
        return 0;
    for (int m = 0; m < rc->nmasters; m++) {
        if (!rc->nodes[rc->masters[m]]->up)
            return 0;
    }
    return 1;
}

const char *redis_cluster_breaker_state(const redis_cluster_t *rc)
{
    if (!breaker_on())
        return "disabled";
    breaker_state_t worst = BREAKER_CLOSED;
    for (int m = 0; m < rc->nmasters; m++) {
        breaker_state_t s = rc->nodes[rc->masters[m]]->breaker.state;
        if (s == BREAKER_OPEN || (s == BREAKER_HALF_OPEN && worst == BREAKER_CLOSED))
            worst = s;
    }
    return breaker_state_name(worst);
}

long long redis_cluster_breaker_opened(const redis_cluster_t *rc)
{
    long long sum = 0;
    for (int i = 0; i < rc->nnodes; i++)
        sum += rc->nodes[i]->breaker.opened;
    return sum;
}

int redis_cluster_master_info(const redis_cluster_t *rc, int master, redis_cluster_node_t *out)
{
    if (master < 0 || master >= rc->nmasters)
        return -1;
    const node_t *n = rc->nodes[rc->masters[master]];
    snprintf(out->address, sizeof out->address, "%s:%d", n->host, n->port);
    out->slots = n->slots;
    out->up = n->up;
    out->breaker = breaker_on() ? breaker_state_name(n->breaker.state) : "disabled";
    return 0;
}

int redis_cluster_slot_master(const redis_cluster_t *rc, int slot)
{
    if (slot < 0 || slot >= REDIS_CLUSTER_SLOTS || rc->slot_node[slot] < 0)
        return -1;
    for (int m = 0; m < rc->nmasters; m++) {
        if (rc->masters[m] == rc->slot_node[slot])
            return m;
    }
    return -1; /* Named by a MOVED, not yet in a map from CLUSTER SLOTS. */
}

void redis_cluster_set_topology_fn(redis_cluster_t *rc, redis_topology_fn fn, void *arg)
{
    rc->topo_fn = fn;
    rc->topo_arg = arg;
}
