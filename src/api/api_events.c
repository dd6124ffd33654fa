/*
 * api_events — see api_events.h.
 */
#include "api/api_events.h"

#include "api/api.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/warm.h"

#include <assert.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 1000
/* How often a hub looks for cache-warm events to relay (core/warm keeps the last 64). */
#define WARM_TICK_MS 100

typedef struct subscriber {
    events_hub_t *hub;       /* Owner. */
    http_req_t *req;         /* The open stream. */
    struct subscriber *next; /* List link. */
} subscriber_t;

struct events_hub {
    cache_t *cache;     /* The loop's cache: Redis, PostgreSQL. */
    struct event *tick; /* Persistent one-second timer, pending while there are subscribers. */
    subscriber_t *subs; /* Open streams. */
    events_status_fetch_fn fetch; /* Builds a status report. */
    int fetching;                 /* 1 while a report is being fetched. */
    struct event *warm_tick;      /* Persistent WARM_TICK_MS timer, pending with the tick. */
    uint64_t warm_cursor;         /* The last cache-warm event relayed (core/warm's number). */
};

/* Builds "event: stats\ndata: {...}\n\n" from a report (a reference the call takes). */
static char *stats_event(events_hub_t *h, json_t *v, size_t *len)
{
    if (v == NULL)
        return NULL;
    redis_client_t *rc = cache_redis(h->cache);
    pg_pool_t *pg = cache_pg(h->cache);
    int redis_up = rc != NULL && redis_client_is_up(rc);
    int pg_up = pg != NULL && pg_pool_is_up(pg);
    const char *status = !pg_up ? "unhealthy" : (!redis_up ? "degraded" : "healthy");
    json_object_set_new(v, "health",
                        json_pack("{s:s,s:s,s:s}", "status", status, "redis",
                                  redis_up ? "healthy" : "unhealthy", "postgres",
                                  pg_up ? "healthy" : "unhealthy"));
    char *data = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(v);
    if (data == NULL)
        return NULL;
    size_t n = strlen(data) + 32;
    char *msg = malloc(n);
    if (msg != NULL)
        *len = (size_t)snprintf(msg, n, "event: stats\ndata: %s\n\n", data);
    free(data);
    return msg;
}

static void broadcast(events_hub_t *h, json_t *status)
{
    size_t len = 0;
    char *msg = stats_event(h, status, &len);
    if (msg == NULL)
        return;
    for (subscriber_t *s = h->subs; s != NULL; s = s->next)
        http_stream_send(s->req, msg, len);
    free(msg);
}

void events_hub_invalidation(int32_t id, long long version, changes_outcome_t outcome, void *hub)
{
    /* The outcomes' names in the events, by changes_outcome_t. */
    static const char *const names[] = {[CHANGES_DROPPED] = "dropped",
                                        [CHANGES_ALREADY_APPLIED] = "already applied",
                                        [CHANGES_FAILED] = "failed"};
    events_hub_t *h = hub;
    if (h == NULL || h->subs == NULL)
        return;
    assert((size_t)outcome < sizeof names / sizeof names[0]);
    const char *text = names[outcome];
    json_t *v = json_pack("{s:i,s:I,s:s,s:f}", "id", (int)id, "version", (json_int_t)version,
                          "outcome", text, "timestamp", api_timestamp());
    char *data =
        v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    if (data == NULL)
        return;
    size_t n = strlen(data) + 40;
    char *msg = malloc(n);
    if (msg != NULL) {
        int len = snprintf(msg, n, "event: invalidation\ndata: %s\n\n", data);
        for (subscriber_t *s = h->subs; s != NULL; s = s->next)
            http_stream_send(s->req, msg, (size_t)len);
    }
    free(msg);
    free(data);
}

void events_hub_topology(events_hub_t *h, json_t *data)
{
    if (h == NULL || h->subs == NULL || data == NULL) {
        json_decref(data);
        return;
    }
    char *text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(data);
    if (text == NULL)
        return;
    size_t n = strlen(text) + 40;
    char *msg = malloc(n);
    if (msg != NULL) {
        int len = snprintf(msg, n, "event: topology\ndata: %s\n\n", text);
        for (subscriber_t *s = h->subs; s != NULL; s = s->next)
            http_stream_send(s->req, msg, (size_t)len);
    }
    free(msg);
    free(text);
}

/*
 * Relays the cache-warm events published since the last look, as "event: warm" with the run's
 * figures (warm_status_json; "state": started, progress, done or failed). A run lives on one loop
 * and publishes into core/warm, so every loop's hub reads them from there.
 */
static void on_warm_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    events_hub_t *h = arg;
    warm_status_t st;
    warm_event_t kind;
    while (h->subs != NULL && warm_event_next(&h->warm_cursor, &st, &kind)) {
        json_t *v = warm_status_json(&st, &kind);
        if (v != NULL)
            json_object_set_new(v, "timestamp", json_real(api_timestamp()));
        char *data =
            v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(v);
        if (data == NULL)
            return;
        size_t n = strlen(data) + 32;
        char *msg = malloc(n);
        if (msg != NULL) {
            int len = snprintf(msg, n, "event: warm\ndata: %s\n\n", data);
            for (subscriber_t *s = h->subs; s != NULL; s = s->next)
                http_stream_send(s->req, msg, (size_t)len);
        }
        free(msg);
        free(data);
    }
}

static void on_status(json_t *status, int redis_failed, void *arg)
{
    (void)redis_failed; /* The report says so itself ("cache_stats": null, and the health). */
    events_hub_t *h = arg;
    h->fetching = 0;
    if (h->subs != NULL)
        broadcast(h, status);
    else
        json_decref(status);
}

/* Fetches a report for every subscriber, unless one is on its way. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    events_hub_t *h = arg;
    if (h->fetching)
        return; /* Redis is slower than a tick; its deadline will answer. */
    h->fetching = 1;
    h->fetch(h->cache, on_status, h);
}

static void unsubscribe(events_hub_t *h, subscriber_t *s)
{
    for (subscriber_t **pp = &h->subs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    free(s);
    if (h->subs == NULL) {
        event_del(h->tick);
        event_del(h->warm_tick);
    }
}

static void on_gone(void *arg)
{
    subscriber_t *s = arg;
    unsubscribe(s->hub, s);
}

void api_events(http_req_t *req)
{
    events_hub_t *h = api_loop(req)->events;
    subscriber_t *s = calloc(1, sizeof *s);
    if (h == NULL || s == NULL) {
        free(s);
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    s->hub = h;
    s->req = req;
    int begun = http_stream_begin(req, "text/event-stream", on_gone, s);
    if (begun != 0) {
        free(s);
        if (begun < 0)
            http_reply_error(req, 503, "Service Unavailable");
        return; /* 1: a HEAD request, answered with the headers alone. */
    }
    http_req_set_source(req, METRICS_SOURCE_STREAM);
    static const char hello[] = "retry: 2000\n\n";
    http_stream_send(req, hello, sizeof hello - 1);
    if (h->subs == NULL) {
        struct timeval tv = {TICK_MS / 1000, 0};
        event_add(h->tick, &tv);
        /* Events from now on: a subscriber reads what came before at GET /cache/warm. */
        h->warm_cursor = warm_event_cursor();
        struct timeval wtv = clock_ms_to_tv(WARM_TICK_MS);
        event_add(h->warm_tick, &wtv);
    }
    s->next = h->subs;
    h->subs = s;
    on_tick(-1, 0, h); /* Everyone gets a fresh event as soon as the report is ready. */
}

int events_hub_new(struct event_base *base, cache_t *cache, events_status_fetch_fn fetch,
                   events_hub_t **out)
{
    events_hub_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return -1;
    h->cache = cache;
    h->fetch = fetch;
    h->tick = event_new(base, -1, EV_PERSIST, on_tick, h);
    h->warm_tick = event_new(base, -1, EV_PERSIST, on_warm_tick, h);
    if (h->tick == NULL || h->warm_tick == NULL) {
        if (h->tick != NULL)
            event_free(h->tick);
        if (h->warm_tick != NULL)
            event_free(h->warm_tick);
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

int events_hub_count(const events_hub_t *h)
{
    int n = 0;
    for (const subscriber_t *s = h ? h->subs : NULL; s != NULL; s = s->next)
        n++;
    return n;
}

void events_hub_close_all(events_hub_t *h)
{
    if (h == NULL)
        return;
    while (h->subs != NULL) {
        subscriber_t *s = h->subs;
        h->subs = s->next;
        http_stream_end(s->req);
        free(s);
    }
    event_del(h->tick);
    event_del(h->warm_tick);
}

void events_hub_free(events_hub_t *h)
{
    if (h == NULL)
        return;
    events_hub_close_all(h);
    event_free(h->tick);
    event_free(h->warm_tick);
    free(h);
}
