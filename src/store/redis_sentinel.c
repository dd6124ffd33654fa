/*
 * redis_sentinel — see redis_sentinel.h.
 *
 * Two kinds of connection to sentinels, both hiredis async contexts on the loop:
 *   - the query ("ask"): one at a time, made for one SENTINEL get-master-addr-by-name and freed
 *     after its answer, its failure or its deadline; a round asks every sentinel at most once;
 *   - the subscription ("sub"): SUBSCRIBE +switch-master, kept open, moved to the next sentinel
 *     after a backoff when it is lost or cannot be made.
 * hiredis answers a command with a NULL reply when its context goes away, also when we free it
 * ourselves; every callback therefore first checks that its context is still the current one and
 * ignores it otherwise.
 */
#include "store/redis_sentinel.h"

#include "core/clock.h"
#include "core/log.h"

#include <assert.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUB_RETRY_MIN_MS 50
#define SUB_RETRY_MAX_MS 2000

struct redis_sentinel {
    struct event_base *base; /* Loop that owns the resolver. */
    const config_t *cfg;     /* Sentinels, master name, deadlines. */
    int freeing;             /* 1 inside redis_sentinel_free. */

    /* The clients that use this resolver, and which of them wait for an answer. */
    redis_client_t *clients[REDIS_SENTINEL_MAX_CLIENTS]; /* Registered by their first lookup. */
    int waiting[REDIS_SENTINEL_MAX_CLIENTS];             /* 1: clients[i] has a lookup pending. */
    int nclients;                                        /* Entries in use. */

    /* The query. */
    struct event round_ev;  /* Starts a round on the next turn of the loop. */
    struct event ask_timer; /* Deadline of the sentinel being asked. */
    redisAsyncContext *ask; /* Connection to the sentinel being asked; NULL between queries. */
    int ask_current;        /* Index of the sentinel being asked. */
    int ask_next;           /* Index of the sentinel to ask after it. */
    int ask_tried;          /* Sentinels asked in this round. */
    int first;              /* Sentinel asked first in the next round. */
    char last_error[160];   /* Why the last round found no master, for the clients. */
    char hint_host[256];    /* Master announced by +switch-master, answered without asking. */
    int hint_port;          /* Its port. */
    int hint_valid;         /* 1 until the next round has used the hint. */

    /* The subscription. */
    redisAsyncContext *sub; /* Subscribed (or subscribing) connection; NULL between attempts. */
    int sub_index;          /* Sentinel it is (or will be) made to. */
    int sub_ready;          /* 1 once the sentinel confirmed SUBSCRIBE. */
    int sub_was_ready;      /* 1 once any subscription has been confirmed. */
    int sub_backoff_ms;     /* Delay before the next attempt. */
    struct event sub_retry; /* Starts the next attempt. */
    struct event sub_timer; /* Deadline of an attempt. */

    redis_topology_fn topo_fn; /* Told of each +switch-master for our master; NULL: nobody. */
    void *topo_arg;            /* Its argument. */
};

/* How long a sentinel may take to connect and answer: the Redis client's connect deadline. */
static int deadline_ms(const redis_sentinel_t *s)
{
    int ms = s->cfg->redis_timeout_ms * 4;
    return ms < 1000 ? 1000 : ms;
}

static const config_addr_t *sentinel_at(const redis_sentinel_t *s, int i)
{
    return &s->cfg->redis_sentinel_addrs[i];
}

/* ---- Answering the clients ----------------------------------------------------------------------
 */

static int find_client(const redis_sentinel_t *s, const redis_client_t *c)
{
    for (int i = 0; i < s->nclients; i++) {
        if (s->clients[i] == c)
            return i;
    }
    return -1;
}

/*
 * Answers every waiting client: with host:port, or (host NULL) with s->last_error. A client may
 * look up again from inside its answer; the waiting flag is cleared before, so that lookup counts.
 */
static void answer_all(redis_sentinel_t *s, const char *host, int port)
{
    for (int i = 0; i < s->nclients; i++) {
        if (!s->waiting[i])
            continue;
        s->waiting[i] = 0;
        if (host != NULL)
            redis_client_resolved(s->clients[i], host, port);
        else
            redis_client_unresolved(s->clients[i], s->last_error);
    }
}

/*
 * After the sentinels named the master: clients that are connected somewhere else (a message
 * missed while the subscription was down) move to it.
 */
static void move_strays(redis_sentinel_t *s, const char *host, int port)
{
    char want[300];
    snprintf(want, sizeof want, "%s:%d", host, port);
    for (int i = 0; i < s->nclients; i++) {
        char have[300];
        if (s->waiting[i] || redis_client_address(s->clients[i], have, sizeof have) != 0 ||
            strcmp(have, want) == 0)
            continue;
        log_warn("redis master is %s, not %s: reconnecting", want, have);
        redis_client_reconnect(s->clients[i], "the sentinels name another master");
    }
}

/* ---- The query ----------------------------------------------------------------------------------
 */

static void ask_next_sentinel(redis_sentinel_t *s);

/* Starts a round on the next turn of the loop (never inside the caller's stack). */
static void schedule_round(redis_sentinel_t *s)
{
    if (s->freeing || s->ask != NULL || evtimer_pending(&s->round_ev, NULL))
        return;
    struct timeval now = {0, 0};
    evtimer_add(&s->round_ev, &now);
}

static void on_round(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_sentinel_t *s = arg;
    if (s->hint_valid) {
        /* Trust the announcement once; the ROLE check catches a wrong one, and then we ask. */
        s->hint_valid = 0;
        answer_all(s, s->hint_host, s->hint_port);
        return;
    }
    s->ask_tried = 0;
    s->ask_next = s->first;
    ask_next_sentinel(s);
}

/* The current query failed (why); frees its context unless hiredis is freeing it already. */
static void ask_failed(redis_sentinel_t *s, const char *why, int free_context)
{
    redisAsyncContext *ac = s->ask;
    const config_addr_t *a = sentinel_at(s, s->ask_current);
    snprintf(s->last_error, sizeof s->last_error, "sentinel %.64s:%d: %.72s", a->host, a->port,
             why);
    log_debug("redis %s", s->last_error);
    s->ask = NULL;
    event_del(&s->ask_timer);
    if (free_context && ac != NULL)
        redisAsyncFree(ac);
    ask_next_sentinel(s);
}

static void on_ask_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_sentinel_t *s = privdata;
    redisReply *reply = r;
    if (s->ask != ac)
        return; /* A query we gave up on. */
    if (reply == NULL) {
        ask_failed(s, ac->errstr[0] ? ac->errstr : "connection lost", 0);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        ask_failed(s, reply->str, 1);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        ask_failed(s, "does not know the master (check REDIS_SENTINEL_MASTER)", 1);
        return;
    }
    char host[256];
    snprintf(host, sizeof host, "%s", reply->element[0]->str);
    char *end = NULL;
    long port = strtol(reply->element[1]->str, &end, 10);
    if (host[0] == '\0' || *end != '\0' || port < 1 || port > 65535) {
        ask_failed(s, "answered an address that is not host and port", 1);
        return;
    }
    s->ask = NULL;
    event_del(&s->ask_timer);
    redisAsyncFree(ac); /* Inside its callback: hiredis frees it when the callback returns. */
    /*
     * Round robin: the next round starts after the sentinel that answered. A sentinel that has not
     * heard of a failover yet names the dead master; the client's connection to it fails, it asks
     * again, and the next sentinel gets the first word instead of the same stale one every time.
     */
    s->first = (s->ask_current + 1) % s->cfg->redis_sentinel_count;
    log_debug("redis master %s is %s:%ld (sentinel %s:%d)", s->cfg->redis_sentinel_master, host,
              port, sentinel_at(s, s->ask_current)->host, sentinel_at(s, s->ask_current)->port);
    answer_all(s, host, (int)port);
    move_strays(s, host, (int)port);
}

static void on_ask_connect(const redisAsyncContext *ac, int status)
{
    redis_sentinel_t *s = ac->data;
    if (status != REDIS_OK && s->ask == ac)
        ask_failed(s, ac->errstr, 0); /* hiredis frees the context after this callback. */
}

static void on_ask_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ask_failed(arg, "no answer within the deadline", 1);
}

/* Asks the next sentinel of the round, or answers the clients with the round's failure. */
static void ask_next_sentinel(redis_sentinel_t *s)
{
    int n = s->cfg->redis_sentinel_count;
    while (!s->freeing && s->ask == NULL) {
        if (s->ask_tried == n) {
            answer_all(s, NULL, 0);
            return;
        }
        s->ask_tried++;
        s->ask_current = s->ask_next;
        s->ask_next = (s->ask_next + 1) % n;
        const config_addr_t *a = sentinel_at(s, s->ask_current);
        redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
        if (ac == NULL || ac->err || redisLibeventAttach(ac, s->base) != REDIS_OK) {
            snprintf(s->last_error, sizeof s->last_error, "sentinel %.64s:%d: %.72s", a->host,
                     a->port, ac != NULL && ac->err ? ac->errstr : "cannot connect");
            if (ac != NULL)
                redisAsyncFree(ac);
            continue;
        }
        ac->data = s;
        redisAsyncSetConnectCallback(ac, on_ask_connect);
        if (redisAsyncCommand(ac, on_ask_reply, s, "SENTINEL get-master-addr-by-name %s",
                              s->cfg->redis_sentinel_master) != REDIS_OK) {
            snprintf(s->last_error, sizeof s->last_error, "sentinel %.64s:%d: cannot send", a->host,
                     a->port);
            redisAsyncFree(ac);
            continue;
        }
        s->ask = ac;
        struct timeval tv = clock_ms_to_tv(deadline_ms(s));
        evtimer_add(&s->ask_timer, &tv);
    }
}

/* ---- The resolver hooks -------------------------------------------------------------------------
 */

static void resolver_lookup(void *arg, redis_client_t *c)
{
    redis_sentinel_t *s = arg;
    int i = find_client(s, c);
    if (i < 0) {
        /* More clients per loop than the resolver holds is a wiring bug, not an environment error.
         */
        assert(s->nclients < REDIS_SENTINEL_MAX_CLIENTS);
        i = s->nclients++;
        s->clients[i] = c;
    }
    s->waiting[i] = 1;
    schedule_round(s);
}

static void resolver_release(void *arg, redis_client_t *c)
{
    redis_sentinel_t *s = arg;
    int i = find_client(s, c);
    if (i < 0)
        return;
    s->nclients--;
    s->clients[i] = s->clients[s->nclients];
    s->waiting[i] = s->waiting[s->nclients];
}

void redis_sentinel_resolver(redis_sentinel_t *s, redis_client_resolver_t *out)
{
    out->lookup = resolver_lookup;
    out->release = resolver_release;
    out->arg = s;
}

/* ---- The subscription ---------------------------------------------------------------------------
 */

static void sub_start(redis_sentinel_t *s);

/* Gives up on the current subscription (or attempt) and tries the next sentinel after a backoff. */
static void sub_retry_later(redis_sentinel_t *s, const char *why, int free_context)
{
    redisAsyncContext *ac = s->sub;
    const config_addr_t *a = sentinel_at(s, s->sub_index);
    if (s->sub_ready)
        log_warn("redis sentinel %s:%d: subscription lost (%s); trying the next sentinel", a->host,
                 a->port, why);
    else
        log_debug("redis sentinel %s:%d: cannot subscribe (%s)", a->host, a->port, why);
    s->sub = NULL;
    s->sub_ready = 0;
    event_del(&s->sub_timer);
    if (free_context && ac != NULL)
        redisAsyncFree(ac);
    if (s->freeing)
        return;
    s->sub_index = (s->sub_index + 1) % s->cfg->redis_sentinel_count;
    struct timeval tv = clock_ms_to_tv(s->sub_backoff_ms);
    evtimer_add(&s->sub_retry, &tv);
    s->sub_backoff_ms *= 2;
    if (s->sub_backoff_ms > SUB_RETRY_MAX_MS)
        s->sub_backoff_ms = SUB_RETRY_MAX_MS;
}

/*
 * A +switch-master payload: "<name> <old-ip> <old-port> <new-ip> <new-port>". For our master,
 * every client drops its connection now and reconnects to the new address.
 */
static void on_switch_master(redis_sentinel_t *s, const char *payload)
{
    char name[128], old_host[256], new_host[256];
    int old_port, new_port;
    if (sscanf(payload, "%127s %255s %d %255s %d", name, old_host, &old_port, new_host,
               &new_port) != 5 ||
        new_port < 1 || new_port > 65535) {
        log_warn("redis sentinel: ignoring a +switch-master message it cannot read: %.200s",
                 payload);
        return;
    }
    if (strcmp(name, s->cfg->redis_sentinel_master) != 0)
        return; /* Another master the same sentinels watch. */
    log_warn("redis master %s moved from %s:%d to %s:%d (+switch-master): reconnecting", name,
             old_host, old_port, new_host, new_port);
    snprintf(s->hint_host, sizeof s->hint_host, "%s", new_host);
    s->hint_port = new_port;
    s->hint_valid = 1;
    for (int i = 0; i < s->nclients; i++)
        redis_client_reconnect(s->clients[i], "the master moved (+switch-master)");
    if (s->topo_fn != NULL) {
        char from[300], to[300];
        snprintf(from, sizeof from, "%s:%d", old_host, old_port);
        snprintf(to, sizeof to, "%s:%d", new_host, new_port);
        redis_topology_event_t ev = {.kind = REDIS_TOPOLOGY_SWITCH_MASTER,
                                     .from = from,
                                     .to = to,
                                     .slots = 0,
                                     .cause = "+switch-master"};
        s->topo_fn(&ev, s->topo_arg);
    }
}

/* Every reply on the subscription: the SUBSCRIBE confirmation, then the messages. */
static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redis_sentinel_t *s = privdata;
    redisReply *reply = r;
    if (reply == NULL || s->sub != ac)
        return; /* Going away: on_sub_disconnect or sub_retry_later deals with it. */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        sub_retry_later(s, reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply", 1);
        return;
    }
    const char *kind = reply->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        const config_addr_t *a = sentinel_at(s, s->sub_index);
        event_del(&s->sub_timer);
        s->sub_ready = 1;
        s->sub_backoff_ms = SUB_RETRY_MIN_MS;
        log_info("redis sentinel %s:%d: following master %s", a->host, a->port,
                 s->cfg->redis_sentinel_master);
        /* A message may have gone by while there was no subscription: ask where the master is. */
        if (s->sub_was_ready)
            schedule_round(s);
        s->sub_was_ready = 1;
    } else if (strcmp(kind, "message") == 0 && reply->element[2]->type == REDIS_REPLY_STRING) {
        on_switch_master(s, reply->element[2]->str);
    }
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    redis_sentinel_t *s = ac->data;
    if (status != REDIS_OK && s->sub == ac)
        sub_retry_later(s, ac->errstr, 0); /* hiredis frees the context after this callback. */
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    redis_sentinel_t *s = ac->data;
    if (s->sub == ac)
        sub_retry_later(s, ac->errstr[0] ? ac->errstr : "connection closed", 0);
}

static void on_sub_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sub_retry_later(arg, "no confirmation within the deadline", 1);
}

static void on_sub_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sub_start(arg);
}

static void sub_start(redis_sentinel_t *s)
{
    if (s->freeing || s->sub != NULL)
        return;
    const config_addr_t *a = sentinel_at(s, s->sub_index);
    redisAsyncContext *ac = redisAsyncConnect(a->host, a->port);
    if (ac == NULL || ac->err || redisLibeventAttach(ac, s->base) != REDIS_OK) {
        if (ac != NULL)
            redisAsyncFree(ac);
        sub_retry_later(s, "cannot connect", 0);
        return;
    }
    ac->data = s;
    redisAsyncSetConnectCallback(ac, on_sub_connect);
    redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
    if (redisAsyncCommand(ac, on_sub_reply, s, "SUBSCRIBE +switch-master") != REDIS_OK) {
        redisAsyncFree(ac);
        sub_retry_later(s, "cannot send SUBSCRIBE", 0);
        return;
    }
    s->sub = ac;
    struct timeval tv = clock_ms_to_tv(deadline_ms(s));
    evtimer_add(&s->sub_timer, &tv);
}

/* ---- Lifetime -----------------------------------------------------------------------------------
 */

int redis_sentinel_new(struct event_base *base, const config_t *cfg, redis_sentinel_t **out)
{
    assert(cfg->redis_sentinel_count > 0);
    redis_sentinel_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return REDIS_SENTINEL_ENOMEM;
    s->base = base;
    s->cfg = cfg;
    s->sub_backoff_ms = SUB_RETRY_MIN_MS;
    snprintf(s->last_error, sizeof s->last_error, "no sentinel asked yet");
    evtimer_assign(&s->round_ev, base, on_round, s);
    evtimer_assign(&s->ask_timer, base, on_ask_timeout, s);
    evtimer_assign(&s->sub_retry, base, on_sub_retry, s);
    evtimer_assign(&s->sub_timer, base, on_sub_timeout, s);
    sub_start(s);
    *out = s;
    return 0;
}

void redis_sentinel_free(redis_sentinel_t *s)
{
    if (s == NULL)
        return;
    assert(s->nclients == 0);
    s->freeing = 1;
    event_del(&s->round_ev);
    event_del(&s->ask_timer);
    event_del(&s->sub_retry);
    event_del(&s->sub_timer);
    /* Forget them first: freeing runs the callbacks, which then find nothing current. */
    redisAsyncContext *ask = s->ask;
    redisAsyncContext *sub = s->sub;
    s->ask = NULL;
    s->sub = NULL;
    if (ask != NULL)
        redisAsyncFree(ask);
    if (sub != NULL)
        redisAsyncFree(sub);
    free(s);
}

int redis_sentinel_subscribed(const redis_sentinel_t *s)
{
    return s->sub != NULL && s->sub_ready ? s->sub_index : -1;
}

void redis_sentinel_set_topology_fn(redis_sentinel_t *s, redis_topology_fn fn, void *arg)
{
    s->topo_fn = fn;
    s->topo_arg = arg;
}
