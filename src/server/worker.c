/*
 * worker — see worker.h.
 */
#include "server/worker.h"

#include "api/api.h"
#include "api/api_events.h"
#include "api/api_status.h"
#include "api/api_topology.h"
#include "cache/analytics.h"
#include "cache/changes.h"
#include "cache/warmer.h"
#include "cache/write_behind.h"
#include "core/clock.h"
#include "http/http.h"
#include "core/metrics.h"
#include "core/log.h"
#include "store/queries.h"
#include "store/redis_sentinel.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DRAIN_TICK_MS 20

struct worker {
    int index;                  /* 0-based, for logs. */
    const config_t *cfg;        /* Shared, read-only. */
    const worker_env_t *env;    /* Shared sockets and files, read-only. */
    pthread_t thread;           /* The loop's thread. */
    struct event_base *base;    /* The loop. */
    http_server_t *http;        /* API server; NULL once closed. */
    http_server_t *ui;          /* Dashboard server; NULL when off or closed. */
    events_hub_t *events;       /* SSE subscribers of this loop. */
    topology_watch_t *topology; /* Publishes this loop's topology changes to events. */
    cache_t *cache;             /* This loop's cache (Redis, PostgreSQL, lookups in flight). */
    analytics_t *analytics;     /* This loop's view analytics (its batch of views). */
    warmer_t *warmer;           /* This loop's cache warmer (a run of CACHE_WARM or a POST). */
    api_loop_t api;             /* What the handlers find through http_req_ctx. */
    metrics_block_t *metrics;   /* This loop's counters (kept for the process's life). */
    struct event *publish_ev;   /* Publishes the loop's state for /metrics. */
    redis_client_t *redis;      /* Redis client; NULL once closed. */
    /* Finds the master for redis with REDIS_SENTINELS; else NULL. */
    redis_sentinel_t *sentinel;
    pg_pool_t *pg;            /* PostgreSQL pool; NULL once closed. */
    pg_pool_t *replica;       /* Read replica's pool (DATABASE_REPLICA_URL); NULL when none. */
    changes_t *changes;       /* This loop's change listener. */
    write_behind_t *wb;       /* Write-behind applier (worker 0, in that mode); else NULL. */
    struct event *stop_ev;    /* Activated by worker_stop from another thread. */
    struct event *drain_ev;   /* Periodic check while draining. */
    long long drain_until_ms; /* When draining gives up waiting (monotonic ms). */
    int drain_ms;             /* Set by worker_stop before activating stop_ev. */
    int drained_ticks;        /* Ticks seen with nothing in flight. */

    pthread_mutex_t lock; /* Guards ready/failed during start-up. */
    pthread_cond_t cond;  /* Signals the end of start-up. */
    int ready;            /* 1 when set-up finished (successfully or not). */
    int failed;           /* 1 when set-up failed. */
};

static void close_backends(worker_t *w)
{
    changes_free(w->changes);
    w->changes = NULL;
    write_behind_stop(w->wb); /* Its outstanding calls are answered while the backends close. */
    /*
     * The cache forgets them first: the callbacks that freeing runs (answering the requests still
     * waiting) must find no client or pool to send more to.
     */
    pg_pool_t *pg = w->pg, *replica = w->replica;
    redis_client_t *redis = w->redis;
    w->pg = NULL;
    w->replica = NULL;
    w->redis = NULL;
    if (w->cache != NULL) {
        cache_set_backends(w->cache, NULL, NULL);
        cache_set_replica(w->cache, NULL);
    }
    /* The replica first: the reads it still owes fall back to the primary, which answers them. */
    pg_pool_free(replica);
    pg_pool_free(pg);
    redis_client_free(redis);
    redis_sentinel_free(w->sentinel); /* After the client that uses it. */
    w->sentinel = NULL;
    write_behind_free(w->wb);
    w->wb = NULL;
}

static int in_flight(const worker_t *w)
{
    return http_server_in_flight(w->http) + (w->ui ? http_server_in_flight(w->ui) : 0);
}

static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    if (in_flight(w) > 0) {
        w->drained_ticks = 0;
        if (clock_monotonic_ms() < w->drain_until_ms)
            return;
        log_warn("worker %d: %d requests still running at the drain deadline", w->index,
                 in_flight(w));
        close_backends(w);
        if (in_flight(w) > 0)
            return; /* Cannot happen: every request waits on Redis or PostgreSQL. */
    }
    /* One more tick with nothing in flight lets the last responses leave the socket buffers. */
    if (++w->drained_ticks < 2)
        return;
    event_del(w->drain_ev);
    http_server_free(w->http);
    w->http = NULL;
    http_server_free(w->ui);
    w->ui = NULL;
    event_base_loopexit(w->base, NULL);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    if (w->http == NULL)
        return;
    http_server_stop_accepting(w->http);
    if (w->ui != NULL)
        http_server_stop_accepting(w->ui);
    /* Event streams never end by themselves: end them so that the drain can finish. */
    events_hub_close_all(w->events);
    write_behind_release(w->wb);
    warmer_stop(w->warmer);
    /* The views of the last moments go now, while Redis is there to take them. */
    analytics_flush(w->analytics);
    w->drain_until_ms = clock_monotonic_ms() + w->drain_ms;
    struct timeval tick = clock_ms_to_tv(DRAIN_TICK_MS);
    event_add(w->drain_ev, &tick);
}

static void on_publish(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    metrics_gauges_t g = {0};
    if (w->redis != NULL) {
        const char *state = redis_client_breaker_state(w->redis);
        g.redis_up = redis_client_is_up(w->redis);
        g.breaker_state = strcmp(state, "open") == 0        ? 1
                          : strcmp(state, "half-open") == 0 ? 2
                          : strcmp(state, "disabled") == 0  ? -1
                                                            : 0;
        g.breaker_opened = redis_client_breaker_opened(w->redis);
    }
    g.postgres_up = w->pg != NULL && pg_pool_is_up(w->pg);
    g.in_flight = w->http ? in_flight(w) : 0;
    g.sse_clients = events_hub_count(w->events);
    metrics_publish(w->metrics, &g);
}

static void finish_start(worker_t *w, int failed)
{
    pthread_mutex_lock(&w->lock);
    w->ready = 1;
    w->failed = failed;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void teardown(worker_t *w)
{
    if (w->publish_ev)
        event_free(w->publish_ev);
    if (w->drain_ev)
        event_free(w->drain_ev);
    if (w->stop_ev)
        event_free(w->stop_ev);
    http_server_free(w->http);
    w->http = NULL;
    http_server_free(w->ui);
    w->ui = NULL;
    close_backends(w);
    /* After the backends, which report to it until they are freed. */
    topology_watch_free(w->topology);
    w->topology = NULL;
    /* After the backends: a pending report answers into the hub when Redis is freed. */
    events_hub_free(w->events);
    w->events = NULL;
    /* After the backends, which answered what the run had in flight when they were freed. */
    warmer_free(w->warmer);
    w->warmer = NULL;
    /* After the Redis client, which answered its bursts when it was freed. */
    analytics_free(w->analytics);
    w->analytics = NULL;
    cache_free(w->cache);
    w->cache = NULL;
    if (w->base)
        event_base_free(w->base);
    w->base = NULL;
}

/*
 * The loop's Redis client: to REDIS_URL's server, or to the master the sentinels name. Returns 0 or
 * negative.
 */
static int open_redis(worker_t *w)
{
    if (w->cfg->redis_sentinel_count == 0)
        return redis_client_new(w->base, w->cfg, &w->redis);
    redis_client_resolver_t resolver;
    if (redis_sentinel_new(w->base, w->cfg, &w->sentinel) != 0)
        return -1;
    redis_sentinel_resolver(w->sentinel, &resolver);
    return redis_client_new_resolved(w->base, w->cfg, &resolver, &w->redis);
}

/* The cache's Redis client and PostgreSQL pools are the loop's. Returns 1 (for the chain below). */
static int attach_backends(worker_t *w)
{
    cache_set_backends(w->cache, w->redis, w->pg);
    cache_set_replica(w->cache, w->replica);
    return 1;
}

/*
 * With DATABASE_REPLICA_URL, a second pool of the same size and statements on the replica, for
 * the reads that may be served from it (cache_read_query). Returns 1, or 0 when it cannot be made.
 */
static int open_replica(worker_t *w, const pg_pool_options_t *primary)
{
    if (w->cfg->database_replica_url[0] == '\0')
        return 1;
    pg_pool_options_t opts = *primary;
    opts.conninfo = w->cfg->database_replica_url;
    opts.application_name = "cacheme-replica";
    return pg_pool_new(w->base, w->cfg, &opts, &w->replica) == 0;
}

/*
 * The loop's topology watch, told of what the Redis client (a cluster's moves and lost masters)
 * and the Sentinel resolver (+switch-master) notice. Returns 1, or 0 when it cannot be made.
 */
static int watch_topology(worker_t *w)
{
    if (topology_watch_new(w->base, w->cache, w->events, &w->topology) != 0)
        return 0;
    redis_client_set_topology_fn(w->redis, topology_watch_redis, w->topology);
    if (w->sentinel != NULL) {
        redis_sentinel_set_topology_fn(w->sentinel, topology_watch_redis, w->topology);
        topology_watch_set_sentinel(w->topology, w->sentinel);
    }
    return 1;
}

/* What the handlers of this loop find through http_req_ctx. Returns 1. */
static int fill_api_loop(worker_t *w)
{
    w->api = (api_loop_t){
        .cache = w->cache,
        .events = w->events,
        .topology = w->topology,
        .analytics = w->analytics,
        .warmer = w->warmer,
        .ui = w->env->ui,
        .swagger = w->env->swagger,
        .redoc = w->env->redoc,
    };
    return 1;
}

/*
 * The loop's event base. With epoll, libevent's change list batches the changes made during one
 * turn of the loop into at most one epoll_ctl per descriptor: an event deleted and added again in
 * the same turn (a Redis or PostgreSQL connection's write interest, a connection's output) costs
 * nothing. Safe here: no descriptor is dup()ed while the loop watches it.
 */
static struct event_base *loop_base_new(void)
{
    struct event_config *ec = event_config_new();
    if (ec == NULL)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

/*
 * CACHE_WARM: the first loop warms the cache at start-up, once for the instance (the others would
 * only read the same rows again). The run waits on this loop for Redis and PostgreSQL to be up.
 */
static void start_warm(worker_t *w)
{
    warm_status_t s;
    if (w->index == 0 && w->cfg->warm_kind != CONFIG_WARM_NONE)
        warmer_start(w->warmer, w->cfg->warm_kind, w->cfg->warm_top, w->cfg->cache_warm_rate,
                     WARMER_STARTUP, &s);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    pg_pool_options_t pool_opts = {
        .stmts = queries_table,
        .nstmts = Q_COUNT_,
        .size = w->cfg->pg_pool_size,
        .pipeline_depth = w->cfg->pg_pipeline_depth,
        .batch_max = w->cfg->pg_batch_max,
        .batch_wait_ms = w->cfg->pg_batch_wait_ms,
        .hedge_ms = w->cfg->pg_hedge_ms,
        .application_name = "cacheme",
    };
    int ok = (w->base = loop_base_new()) != NULL &&
             (w->stop_ev = event_new(w->base, -1, 0, on_stop, w)) != NULL &&
             (w->drain_ev = event_new(w->base, -1, EV_PERSIST, on_drain_tick, w)) != NULL &&
             open_redis(w) == 0 && pg_pool_new(w->base, w->cfg, &pool_opts, &w->pg) == 0 &&
             open_replica(w, &pool_opts) && cache_new(w->base, w->cfg, &w->cache) == 0 &&
             attach_backends(w) && analytics_new(w->base, w->cache, &w->analytics) == 0 &&
             warmer_new(w->base, w->cache, w->analytics, &w->warmer) == 0 &&
             events_hub_new(w->base, w->cache, api_status_fetch, w->index == 0, &w->events) == 0 &&
             watch_topology(w) &&
             changes_new(w->base, w->cache, events_hub_invalidation, w->events, &w->changes) == 0 &&
             (w->index != 0 || w->cfg->write_mode != CONFIG_WRITE_BEHIND ||
              write_behind_start(w->base, w->cache, &w->wb) == 0) &&
             fill_api_loop(w) &&
             http_server_new(w->base, w->env->api_fd, w->cfg, api_routes, api_route_count, &w->api,
                             &w->http) == 0 &&
             (w->env->ui_fd < 0 || http_server_new(w->base, w->env->ui_fd, w->cfg, api_ui_routes,
                                                   api_ui_route_count, &w->api, &w->ui) == 0) &&
             (w->publish_ev = event_new(w->base, -1, EV_PERSIST, on_publish, w)) != NULL;
    if (ok) {
        w->metrics = metrics_block_new();
        http_server_set_metrics(w->http, w->metrics, 0);
        if (w->ui != NULL)
            http_server_set_metrics(w->ui, w->metrics, 1);
        struct timeval tv = clock_ms_to_tv(500);
        event_add(w->publish_ev, &tv);
        on_publish(-1, 0, w); /* So that a scrape right after start sees the real state. */
        start_warm(w);
    }
    if (!ok) {
        log_error("worker %d: set-up failed", w->index);
        teardown(w);
        finish_start(w, 1);
        return NULL;
    }
    finish_start(w, 0);
    event_base_dispatch(w->base);
    teardown(w);
    return NULL;
}

int worker_start(int index, const worker_env_t *env, worker_t **out)
{
    worker_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return -1;
    w->index = index;
    w->cfg = env->cfg;
    w->env = env;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        free(w);
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->ready)
        pthread_cond_wait(&w->cond, &w->lock);
    int failed = w->failed;
    pthread_mutex_unlock(&w->lock);
    if (failed) {
        worker_join(w);
        return -1;
    }
    *out = w;
    return 0;
}

void worker_stop(worker_t *w, int drain_ms)
{
    w->drain_ms = drain_ms;
    /* Needs evthread_use_pthreads(): activation from another thread wakes the loop. */
    event_active(w->stop_ev, EV_TIMEOUT, 1);
}

void worker_join(worker_t *w)
{
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}
