/*
 * scenario_window — see scenario_window.h.
 *
 * States of a run, in order:
 *   LOOKUP    product 1 is looked up (uncounted) so that its key exists in Redis;
 *   TRACKING  the observers connect: each invalidation connection reports its CLIENT ID, then
 *             its data connection comes up and sends CLIENT TRACKING ... REDIRECT <id>;
 *   CHANGED   APPEND product:1 "" is sent; acknowledged; the observers hear the invalidation;
 *   answered  the figures are sent (or 503), and the connections are freed on the next loop
 *             iteration (never from inside their own callbacks).
 * A deadline (RUN_DEADLINE_MS) bounds the whole run: whatever has not happened by then is reported
 * as not heard, or the run answers 503 when the observers never tracked.
 */
#include "api/scenario_window.h"

#include "api/api.h"
#include "cache/cache.h"
#include "core/clock.h"
#include "core/lab.h"
#include "core/log.h"
#include "store/redis_client.h"
#include "store/redis_tracking.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OBSERVERS 3
#define PRODUCT_ID 1
#define RUN_DEADLINE_MS 5000
#define HEARTBEAT_CHANNEL "cacheme:scenario:invalidation-window"

typedef enum { RUN_LOOKUP, RUN_TRACKING, RUN_CHANGED, RUN_DONE } run_state_t;

struct window_run;

typedef struct {
    struct window_run *run;  /* Owner. */
    int index;               /* 0 .. OBSERVERS-1. */
    redis_tracking_t *inval; /* The invalidation connection. */
    redis_client_t *data;    /* The connection that turns tracking on. */
    long long client_id;     /* inval's CLIENT ID, once known (0 before). */
    int tracking;            /* 1 once CLIENT TRACKING answered OK. */
    double heard_us;         /* When the invalidation arrived, µs after the change was sent. */
    int heard;               /* 1 once it did. */
    redis_client_t *asking;  /* data, while its resolver owes it an address. */
    struct event *answer;    /* Gives that address outside the client's call. */
} observer_t;

typedef struct window_run {
    http_req_t *req;     /* The request to answer. */
    cache_t *cache;      /* Its loop. */
    const config_t *cfg; /* Settings. */
    /*
     * The settings the observers connect with: one server each, never a cluster client. With
     * Sentinel or a cluster they connect where the product's key is (on_address, resolve).
     */
    config_t obs_cfg;
    int moving;        /* 1 with Sentinel or a cluster: the server is found, not REDIS_URL. */
    run_state_t state; /* Where the run is. */
    observer_t obs[OBSERVERS]; /* The stand-ins for other instances. */
    char key[160];             /* The product's key. */
    struct timespec sent;      /* When the APPEND was sent. */
    double ack_us;             /* When Redis acknowledged it, µs after it was sent. */
    int acked;                 /* 1 once it did. */
    int pending;               /* Callbacks still due from the loop's own cache and client. */
    struct event *deadline;    /* Bounds the run. */
    struct event *cleanup;     /* Frees the run outside any connection's callback. */
} window_run_t;

static double since_us(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1e6 + (double)(now.tv_nsec - t0->tv_nsec) / 1e3;
}

static void on_cleanup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    window_run_t *r = arg;
    for (int i = 0; i < OBSERVERS; i++) {
        redis_client_free(r->obs[i].data);
        redis_tracking_free(r->obs[i].inval);
        if (r->obs[i].answer != NULL)
            event_free(r->obs[i].answer);
    }
    event_free(r->deadline);
    event_free(r->cleanup);
    free(r);
}

/* Frees the run on the next iteration, once nothing long-lived still owes it a callback. */
static void release(window_run_t *r)
{
    if (r->state == RUN_DONE && r->pending == 0)
        event_active(r->cleanup, EV_TIMEOUT, 1);
}

/* Answers once; later events of the connections are ignored. */
static void finish(window_run_t *r, json_t *body, int status, const char *error)
{
    if (r->state == RUN_DONE)
        return;
    r->state = RUN_DONE;
    event_del(r->deadline);
    lab_scenario_end();
    if (body != NULL)
        api_reply_value(r->req, status, body);
    else
        http_reply_error(r->req, status, error);
    release(r);
}

static double ms(double us)
{
    return (double)(long long)(us / 10.0 + 0.5) / 100.0; /* Two decimals. */
}

static void report(window_run_t *r)
{
    json_t *heard = json_array();
    double longest = 0;
    int all = 1;
    for (int i = 0; i < OBSERVERS; i++) {
        const observer_t *o = &r->obs[i];
        /* The old version can be answered until the message arrives, counted from the ack. */
        double after_ack = o->heard ? o->heard_us - r->ack_us : 0;
        if (after_ack < 0)
            after_ack = 0;
        if (!o->heard)
            all = 0;
        else if (after_ack > longest)
            longest = after_ack;
        json_array_append_new(heard, json_pack("{s:i,s:b,s:o,s:o}", "observer", i + 1, "heard",
                                               o->heard, "heard_ms",
                                               o->heard ? json_real(ms(o->heard_us)) : json_null(),
                                               "window_after_ack_ms",
                                               o->heard ? json_real(ms(after_ack)) : json_null()));
    }
    json_t *v = json_pack(
        "{s:s,s:i,s:i,s:s,s:f,s:o,s:b,s:f,s:I,s:s}", "scenario", "invalidation-window",
        "product_id", PRODUCT_ID, "observers", OBSERVERS, "change", "APPEND product key \"\"",
        "write_acknowledged_ms", ms(r->ack_us), "observed", heard, "all_heard", all,
        "longest_window_ms", ms(longest), "without_tracking_ms", (json_int_t)r->cfg->l1_ttl_ms,
        "note",
        "Each observer is what an instance's near cache runs on: a connection tracking the product "
        "keys in broadcast mode and one receiving the invalidations. After a write is "
        "acknowledged, another instance's L1 can still answer the old version until its "
        "observer's message arrives (window_after_ack_ms); without tracking it would answer it "
        "until its entry's L1_TTL_MS ran out (without_tracking_ms). The change stores no new "
        "value: no product data changes, and no lookup counter moves.");
    finish(r, v, 200, NULL);
}

static void maybe_done(window_run_t *r)
{
    if (r->state != RUN_CHANGED || !r->acked)
        return;
    for (int i = 0; i < OBSERVERS; i++) {
        if (!r->obs[i].heard)
            return;
    }
    report(r);
}

static void on_appended(int status, redisReply *reply, void *arg)
{
    window_run_t *r = arg;
    r->pending--;
    if (r->state != RUN_CHANGED) {
        release(r);
        return;
    }
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR) {
        finish(r, NULL, 503, "Cache unavailable");
        return;
    }
    r->ack_us = since_us(&r->sent);
    r->acked = 1;
    maybe_done(r);
}

/* Every observer tracks: change the key. */
static void change_key(window_run_t *r)
{
    redis_client_t *rc = cache_redis(r->cache);
    const char *argv[] = {"APPEND", r->key, ""};
    size_t argvlen[] = {6, strlen(r->key), 0};
    r->state = RUN_CHANGED;
    clock_gettime(CLOCK_MONOTONIC, &r->sent);
    if (rc == NULL || redis_client_command(rc, on_appended, r, 3, argv, argvlen) != 0)
        finish(r, NULL, 503, "Cache unavailable");
    else
        r->pending++;
}

static void on_tracking(int status, redisReply *reply, void *arg)
{
    observer_t *o = arg;
    window_run_t *r = o->run;
    if (r->state != RUN_TRACKING)
        return;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_STATUS) {
        finish(r, NULL, 503, "Cache unavailable");
        return;
    }
    o->tracking = 1;
    for (int i = 0; i < OBSERVERS; i++) {
        if (!r->obs[i].tracking)
            return;
    }
    change_key(r);
}

/* The data connection is up (or down): turn tracking on, redirected to the observer's channel. */
static void on_data_state(int up, void *arg)
{
    observer_t *o = arg;
    window_run_t *r = o->run;
    if (!up || r->state != RUN_TRACKING || o->tracking)
        return;
    char id[24];
    snprintf(id, sizeof id, "%lld", o->client_id);
    const char *prefix = r->cfg->cache_key_prefix;
    const char *argv[] = {"CLIENT", "TRACKING", "on", "REDIRECT", id, "BCAST", "PREFIX", prefix};
    size_t argvlen[] = {6, 8, 2, 8, strlen(id), 5, 6, strlen(prefix)};
    if (redis_client_command(o->data, on_tracking, o, 8, argv, argvlen) != 0)
        finish(r, NULL, 503, "Cache unavailable");
}

/*
 * With Sentinel or a cluster: the server that holds product 1's key — the loop's master, or the
 * cluster master of the key's slot. The invalidation connection connects there, and its data
 * connection after it (CLIENT TRACKING ... REDIRECT names a client of the same server).
 */
static int on_address(void *arg, char *host, size_t hostlen, int *port)
{
    observer_t *o = arg;
    window_run_t *r = o->run;
    redis_client_t *rc = cache_redis(r->cache);
    char addr[300];
    if (rc == NULL)
        return -1;
    if (redis_client_is_cluster(rc)) {
        redis_client_node_t n;
        int node = redis_client_slot_node(rc, redis_client_key_slot(rc, r->key, strlen(r->key)));
        if (node < 0 || redis_client_node_info(rc, node, &n) != 0)
            return -1;
        snprintf(addr, sizeof addr, "%s", n.address);
    } else if (redis_client_address(rc, addr, sizeof addr) != 0) {
        return -1;
    }
    char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= hostlen)
        return -1;
    *colon = '\0';
    snprintf(host, hostlen, "%s", addr);
    *port = atoi(colon + 1);
    return 0;
}

/* Answers the data connection's lookup with the invalidation connection's server. */
static void on_answer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    observer_t *o = arg;
    redis_client_t *c = o->asking;
    char addr[300];
    o->asking = NULL;
    if (c == NULL)
        return;
    char *colon = NULL;
    if (redis_tracking_address(o->inval, addr, sizeof addr) == 0)
        colon = strrchr(addr, ':');
    if (colon == NULL) {
        redis_client_unresolved(c, "the observer's invalidation connection is not connected");
        return;
    }
    *colon = '\0';
    redis_client_resolved(c, addr, atoi(colon + 1));
}

static void resolve(void *arg, redis_client_t *c)
{
    observer_t *o = arg;
    o->asking = c;
    event_active(o->answer, EV_TIMEOUT, 1); /* A resolver answers later, never from inside. */
}

static void resolve_release(void *arg, redis_client_t *c)
{
    observer_t *o = arg;
    if (o->asking == c)
        o->asking = NULL;
}

static void on_ready(long long client_id, void *arg)
{
    observer_t *o = arg;
    window_run_t *r = o->run;
    if (r->state != RUN_TRACKING || o->data != NULL)
        return;
    o->client_id = client_id;
    const redis_client_resolver_t resolver = {resolve, resolve_release, o};
    if (redis_client_new_resolved(cache_base(r->cache), &r->obs_cfg, r->moving ? &resolver : NULL,
                                  &o->data) != 0) {
        finish(r, NULL, 503, "Service Unavailable");
        return;
    }
    redis_client_set_state_fn(o->data, on_data_state, o);
}

static void on_lost(void *arg)
{
    observer_t *o = arg;
    if (o->run->state == RUN_TRACKING || o->run->state == RUN_CHANGED)
        finish(o->run, NULL, 503, "Cache unavailable");
}

static void on_key(const char *key, size_t len, void *arg)
{
    observer_t *o = arg;
    window_run_t *r = o->run;
    if (r->state != RUN_CHANGED || o->heard || len != strlen(r->key) ||
        memcmp(key, r->key, len) != 0)
        return;
    o->heard_us = since_us(&r->sent);
    o->heard = 1;
    maybe_done(r);
}

static void on_all(void *arg)
{
    on_key(((observer_t *)arg)->run->key, strlen(((observer_t *)arg)->run->key), arg);
}

static void on_heartbeat(const char *msg, size_t len, void *arg)
{
    (void)msg;
    (void)len;
    (void)arg; /* Nothing is published on the run's channel. */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    window_run_t *r = arg;
    if (r->state == RUN_CHANGED && r->acked)
        report(r); /* With the observers that never heard it marked so. */
    else
        finish(r, NULL, 503, "Cache unavailable: the observers could not track the product keys");
}

static void start_observers(window_run_t *r)
{
    const redis_tracking_fns_t fns = {on_ready, on_lost,      on_key,
                                      on_all,   on_heartbeat, r->moving ? on_address : NULL};
    r->state = RUN_TRACKING;
    for (int i = 0; i < OBSERVERS; i++) {
        r->obs[i].run = r;
        r->obs[i].index = i;
        r->obs[i].answer = event_new(cache_base(r->cache), -1, 0, on_answer, &r->obs[i]);
        if (r->obs[i].answer == NULL ||
            redis_tracking_new(cache_base(r->cache), &r->obs_cfg, HEARTBEAT_CHANNEL, &fns,
                               &r->obs[i], &r->obs[i].inval) != 0) {
            finish(r, NULL, 503, "Service Unavailable");
            return;
        }
    }
}

static void on_looked_up(const cache_result_t *res, void *arg)
{
    window_run_t *r = arg;
    r->pending--;
    if (r->state != RUN_LOOKUP) {
        release(r); /* The deadline answered already. */
        return;
    }
    if (res->status != CACHE_FOUND) {
        finish(r, NULL, 503, "Cache unavailable: product 1 could not be read");
        return;
    }
    start_observers(r);
}

void scenario_window_run(http_req_t *req)
{
    window_run_t *r = calloc(1, sizeof *r);
    cache_t *cache = api_cache(req);
    if (r != NULL) {
        r->deadline = evtimer_new(cache_base(cache), on_deadline, r);
        r->cleanup = event_new(cache_base(cache), -1, 0, on_cleanup, r);
    }
    if (r == NULL || r->deadline == NULL || r->cleanup == NULL ||
        cache_key_build(cache_config(cache)->cache_key_prefix, PRODUCT_ID, r->key, sizeof r->key) <
            0) {
        if (r != NULL && r->deadline != NULL)
            event_free(r->deadline);
        if (r != NULL && r->cleanup != NULL)
            event_free(r->cleanup);
        free(r);
        lab_scenario_end();
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    r->req = req;
    r->cache = cache;
    r->cfg = cache_config(cache);
    r->obs_cfg = *r->cfg;
    r->moving = r->cfg->redis_sentinel_count > 0 || r->cfg->redis_cluster_nseeds > 0;
    r->obs_cfg.redis_cluster_nseeds = 0;
    r->state = RUN_LOOKUP;
    struct timeval tv = clock_ms_to_tv(RUN_DEADLINE_MS);
    event_add(r->deadline, &tv);
    log_info("lab: running scenario invalidation-window");
    static const cache_lookup_opts_t uncounted = {.uncounted = 1, .db_queries = NULL};
    r->pending = 1;
    cache_lookup_product_opts(cache, PRODUCT_ID, &uncounted, on_looked_up, r);
}
