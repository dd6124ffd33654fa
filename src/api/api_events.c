/*
 * api_events — see api_events.h.
 */
#include "api/api_events.h"

#include "api/api.h"
#include "api/event_check.h"
#include "core/clock.h"
#include "core/event_ring.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/warm.h"

#include <assert.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 1000
/*
 * How often a hub looks for events of this process's other loops to relay: cache-warm events
 * (core/warm keeps the last 64) and writes (core/event_ring keeps the last 256).
 */
#define RELAY_TICK_MS 100

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
    struct event *relay_tick;     /* Persistent RELAY_TICK_MS timer: the other loops' events. */
    uint64_t warm_cursor;         /* The last cache-warm event relayed (core/warm's number). */
    event_bus_t *bus;             /* Shares events with the other loops and instances. */
    const char *instance;         /* INSTANCE_ID. */
    int publisher;                /* 1 on the loop that publishes the process's events. */
    struct event *beat;           /* The publisher's one-second "event: instance". */
    uint64_t ring_cursor;         /* The last event of the other loops relayed (core/event_ring). */
};

/*
 * Whether the relay timer runs without subscribers: on a publisher with a bus, which publishes the
 * process's cache-warm events for the other instances' dashboards.
 */
static int relay_always(const events_hub_t *h)
{
    return h->publisher && strcmp(event_bus_state(h->bus), "off") != 0;
}

/* Sends "event: <type>\ndata: <data>\n\n" to every subscriber; data is one line of JSON. */
static void send_text(events_hub_t *h, const char *type, const char *data)
{
    size_t n = strlen(data) + strlen(type) + 32;
    char *msg = malloc(n);
    if (msg != NULL) {
        int len = snprintf(msg, n, "event: %s\ndata: %s\n\n", type, data);
        for (subscriber_t *s = h->subs; s != NULL; s = s->next)
            http_stream_send(s->req, msg, (size_t)len);
    }
    free(msg);
}

/* Sends v (borrowed) as "event: <type>" to every subscriber. */
static void send_event(events_hub_t *h, const char *type, json_t *v)
{
    if (h->subs == NULL || v == NULL)
        return;
    char *data = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (data != NULL)
        send_text(h, type, data);
    free(data);
}

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
    json_object_set_new(v, "instance", json_string(h->instance));
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
    send_event(h, "invalidation", v);
    json_decref(v);
}

void events_hub_topology(events_hub_t *h, json_t *data)
{
    if (h != NULL)
        send_event(h, "topology", data);
    json_decref(data);
}

/*
 * Relays what this process's loops pushed since the last look: the writes (core/event_ring), and
 * the cache-warm events as "event: warm" with the run's figures (warm_status_json; "state":
 * started, progress, done or failed). A run lives on one loop and publishes into core/warm, so
 * every loop's hub reads them from there; the publisher also sends them to the other instances.
 */
static void on_relay_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    events_hub_t *h = arg;
    event_ring_entry_t e;
    if (h->subs == NULL) {
        h->ring_cursor = event_ring_cursor();
    } else {
        while (event_ring_next(&h->ring_cursor, &e, NULL)) {
            send_text(h, e.type, e.json);
            free(e.json);
        }
    }
    warm_status_t st;
    warm_event_t kind;
    while ((h->subs != NULL || relay_always(h)) && warm_event_next(&h->warm_cursor, &st, &kind)) {
        json_t *v = warm_status_json(&st, &kind);
        if (v == NULL)
            return;
        json_object_set_new(v, "timestamp", json_real(api_timestamp()));
        json_object_set_new(v, "instance", json_string(h->instance));
        send_event(h, "warm", v);
        if (h->publisher)
            event_bus_publish(h->bus, "warm", v);
        json_decref(v);
    }
}

/* The process's figures, as "event: instance" gives them (a new reference, or NULL). */
static json_t *instance_json(const events_hub_t *h)
{
    stats_snapshot_t s;
    stats_read(&s);
    return json_pack(
        "{s:s,s:f,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:s}", "instance", h->instance, "timestamp",
        api_timestamp(), "hits", (json_int_t)s.hits, "misses", (json_int_t)s.misses, "hit_rate",
        stats_hit_rate(&s), "db_queries", (json_int_t)s.db_queries, "writes", (json_int_t)s.writes,
        "invalidations", (json_int_t)s.invalidations, "redis_errors", (json_int_t)s.redis_errors,
        "db_errors", (json_int_t)s.db_errors, "events_fanout", event_bus_state(h->bus));
}

/*
 * The publisher's beat: the process's figures once a second on the channel, whether or not anyone
 * here is watching, so that every other instance's dashboard lists this one. (Each hub with
 * subscribers shows its own instance's figures itself, at its stats tick.)
 */
static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    events_hub_t *h = arg;
    json_t *v = instance_json(h);
    event_bus_publish(h->bus, "instance", v);
    json_decref(v);
}

/*
 * An event of another instance. This instance's own are left out, whichever loop published them:
 * every loop relays those already, through core/event_ring and core/warm, Redis up or not.
 */
static void on_bus_event(const char *instance, const char *type, json_t *data, void *arg)
{
    events_hub_t *h = arg;
    if (h->subs == NULL || strcmp(instance, h->instance) == 0)
        return;
    /* Only the members the schema names, each as it should be; an unknown type is passed over. */
    json_t *v = event_check_remote(type, data);
    if (v == NULL) {
        stats_incr(STATS_EVENTS_REJECTED);
        return;
    }
    json_object_set_new(v, "instance", json_string(instance));
    if (strcmp(type, "instance") == 0)
        json_object_set_new(v, "local", json_false());
    send_event(h, type, v);
    json_decref(v);
}

void events_hub_write(events_hub_t *h, json_t *data)
{
    if (h == NULL || data == NULL) {
        json_decref(data);
        return;
    }
    json_object_set_new(data, "instance", json_string(h->instance));
    json_object_set_new(data, "timestamp", json_real(api_timestamp()));
    /*
     * Through the ring for this loop as well: every loop then relays the instance's writes in the
     * one order they were answered in, whichever loop took each.
     */
    char *text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (text != NULL)
        event_ring_push("write", text);
    free(text);
    event_bus_publish(h->bus, "write", data);
    json_decref(data);
}

const char *events_hub_fanout_state(const events_hub_t *h)
{
    return h != NULL ? event_bus_state(h->bus) : "off";
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
    events_hub_t *h = arg;
    /* At the timer's ticks only: a new subscriber's first event is its stats. */
    json_t *v = what != 0 ? instance_json(h) : NULL;
    if (v != NULL) {
        json_object_set_new(v, "local", json_true());
        send_event(h, "instance", v);
        json_decref(v);
    }
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
        if (!relay_always(h))
            event_del(h->relay_tick);
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
        h->ring_cursor = event_ring_cursor();
        if (!relay_always(h)) {
            /* Events from now on: a subscriber reads what came before at GET /cache/warm. */
            h->warm_cursor = warm_event_cursor();
            struct timeval wtv = clock_ms_to_tv(RELAY_TICK_MS);
            event_add(h->relay_tick, &wtv);
        }
    }
    s->next = h->subs;
    h->subs = s;
    on_tick(-1, 0, h); /* Everyone gets a fresh event as soon as the report is ready. */
}

int events_hub_new(struct event_base *base, cache_t *cache, events_status_fetch_fn fetch,
                   int publisher, events_hub_t **out)
{
    events_hub_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return -1;
    h->cache = cache;
    h->fetch = fetch;
    h->instance = cache_config(cache)->instance;
    h->publisher = publisher;
    h->tick = event_new(base, -1, EV_PERSIST, on_tick, h);
    h->relay_tick = event_new(base, -1, EV_PERSIST, on_relay_tick, h);
    h->beat = event_new(base, -1, EV_PERSIST, on_beat, h);
    if (h->tick == NULL || h->relay_tick == NULL || h->beat == NULL ||
        event_bus_new(base, cache, on_bus_event, h, &h->bus) != 0) {
        events_hub_free(h);
        return -1;
    }
    if (publisher) {
        struct timeval tv = {TICK_MS / 1000, 0};
        event_add(h->beat, &tv);
    }
    if (relay_always(h)) {
        h->warm_cursor = warm_event_cursor();
        struct timeval wtv = clock_ms_to_tv(RELAY_TICK_MS);
        event_add(h->relay_tick, &wtv);
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
    if (h->tick != NULL)
        event_del(h->tick);
    if (h->relay_tick != NULL)
        event_del(h->relay_tick);
    if (h->beat != NULL)
        event_del(h->beat);
}

void events_hub_free(events_hub_t *h)
{
    if (h == NULL)
        return;
    events_hub_close_all(h);
    event_bus_free(h->bus);
    if (h->tick != NULL)
        event_free(h->tick);
    if (h->relay_tick != NULL)
        event_free(h->relay_tick);
    if (h->beat != NULL)
        event_free(h->beat);
    free(h);
}
