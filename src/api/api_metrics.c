/*
 * api_metrics — GET /metrics: every counter of the service in the Prometheus text format
 * (version 0.0.4): requests by route, status and source, latency histograms by route and source,
 * cache and database counters, the state of Redis, PostgreSQL and the circuit breaker per event
 * loop, requests in flight, SSE clients, the write-behind queue and build information.
 */
#include "api/api.h"

#include "core/analytics.h"
#include "core/metrics.h"
#include "core/stats.h"
#include "core/warm.h"
#include "cache/write_behind.h"

#include <event2/buffer.h>

static void counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
                        (unsigned long long)v);
}

void api_metrics(http_req_t *req)
{
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    stats_snapshot_t s;
    stats_read(&s);
    evbuffer_add_printf(out,
                        "# HELP cacheme_build_info Version of the running cacheme.\n"
                        "# TYPE cacheme_build_info gauge\n"
                        "cacheme_build_info{version=\"%s\"} 1\n",
                        CACHEME_VERSION);
    counter(out, "cacheme_cache_hits_total",
            "Product lookups answered from a cache (near cache or Redis).", s.hits);
    uint64_t l1 = stats_count(STATS_L1_HIT);
    evbuffer_add_printf(out,
                        "# HELP cacheme_cache_level_hits_total Product lookups answered from a "
                        "cache, by level: l1 the event loop's near cache, l2 Redis.\n"
                        "# TYPE cacheme_cache_level_hits_total counter\n"
                        "cacheme_cache_level_hits_total{level=\"l1\"} %llu\n"
                        "cacheme_cache_level_hits_total{level=\"l2\"} %llu\n",
                        (unsigned long long)l1, (unsigned long long)(s.hits - l1));
    counter(out, "cacheme_cache_misses_total", "Product lookups not answered from Redis.",
            s.misses);
    counter(out, "cacheme_cache_errors_total", "Redis commands that failed or timed out.",
            s.redis_errors);
    counter(out, "cacheme_db_queries_total", "Queries sent to PostgreSQL for products.",
            s.db_queries);
    counter(out, "cacheme_db_errors_total", "PostgreSQL queries that failed or timed out.",
            s.db_errors);
    counter(out, "cacheme_writes_total", "Product writes committed or queued through the API.",
            s.writes);
    counter(out, "cacheme_invalidations_total", "Cached products dropped or replaced by a change.",
            s.invalidations);
    counter(out, "cacheme_change_notifications_total",
            "Change notifications received from PostgreSQL (each event loop counts its own).",
            s.notifications);
    warm_counters_t wc;
    warm_counters(&wc);
    warm_status_t ws;
    warm_read(&ws);
    evbuffer_add_printf(out,
                        "# HELP cacheme_warm_runs_total Cache warm runs ended, by outcome.\n"
                        "# TYPE cacheme_warm_runs_total counter\n"
                        "cacheme_warm_runs_total{outcome=\"done\"} %llu\n"
                        "cacheme_warm_runs_total{outcome=\"failed\"} %llu\n"
                        "# HELP cacheme_warm_products_total Products cache warm runs handled, by "
                        "result: warmed (stored), skipped (already cached, gone or changed), "
                        "failed (Redis refused the store).\n"
                        "# TYPE cacheme_warm_products_total counter\n"
                        "cacheme_warm_products_total{result=\"warmed\"} %llu\n"
                        "cacheme_warm_products_total{result=\"skipped\"} %llu\n"
                        "cacheme_warm_products_total{result=\"failed\"} %llu\n"
                        "# HELP cacheme_warm_running 1 while a cache warm runs in this instance.\n"
                        "# TYPE cacheme_warm_running gauge\ncacheme_warm_running %d\n",
                        (unsigned long long)wc.runs_done, (unsigned long long)wc.runs_failed,
                        (unsigned long long)wc.warmed, (unsigned long long)wc.skipped,
                        (unsigned long long)wc.failed, ws.state == WARM_RUNNING);
    counter(out, "cacheme_warm_db_queries_total",
            "Queries cache warm runs sent to PostgreSQL (also in cacheme_db_queries_total).",
            wc.db_queries);
    write_behind_stats_t wb;
    write_behind_stats(&wb);
    evbuffer_add_printf(out,
                        "# HELP cacheme_write_behind_pending Queued writes delivered, not yet "
                        "acknowledged.\n# TYPE cacheme_write_behind_pending gauge\n"
                        "cacheme_write_behind_pending %lld\n"
                        "# HELP cacheme_write_behind_lag Queued writes not yet delivered.\n"
                        "# TYPE cacheme_write_behind_lag gauge\ncacheme_write_behind_lag %lld\n",
                        wb.pending, wb.lag);
    counter(out, "cacheme_write_behind_applied_total", "Queued writes applied to PostgreSQL.",
            (uint64_t)wb.applied);
    counter(out, "cacheme_write_behind_retries_total", "Failed attempts to apply a queued write.",
            (uint64_t)wb.retries);
    counter(out, "cacheme_write_behind_dead_letters_total",
            "Queued writes PostgreSQL refused for good, parked in the dead-letter stream.",
            (uint64_t)wb.dead_letters);
    counter(out, "cacheme_write_behind_trimmed_total",
            "Applied or parked queued writes removed from the queue's stream.",
            (uint64_t)wb.trimmed);
    evbuffer_add_printf(
        out,
        "# HELP cacheme_l1_entries Entries in the near caches of every event loop.\n"
        "# TYPE cacheme_l1_entries gauge\ncacheme_l1_entries %lld\n"
        "# HELP cacheme_l1_bytes Their size against L1_MAX_BYTES.\n"
        "# TYPE cacheme_l1_bytes gauge\ncacheme_l1_bytes %lld\n",
        stats_gauge(STATS_L1_ENTRIES), stats_gauge(STATS_L1_BYTES));
    counter(out, "cacheme_l1_fills_total", "Values stored in a near cache.",
            stats_count(STATS_L1_FILL));
    counter(out, "cacheme_l1_evictions_total", "Near-cache entries evicted to make room.",
            stats_count(STATS_L1_EVICTION));
    counter(out, "cacheme_l1_invalidations_total",
            "Near-cache entries dropped because their product changed.",
            stats_count(STATS_L1_INVALIDATION));
    counter(out, "cacheme_pg_hedged_total",
            "Reads sent again on another PostgreSQL connection because the first had no answer "
            "after PG_HEDGE_MS (each is one more execution in pg_stat_statements)",
            stats_count(STATS_DB_HEDGE));
    counter(out, "cacheme_pg_hedges_won_total",
            "Hedged reads whose second copy answered before the first",
            stats_count(STATS_DB_HEDGE_WON));
    counter(out, "cacheme_replica_breaker_skipped_total",
            "Reads sent to the primary without trying the replica, whose breaker was open.",
            stats_count(STATS_REPLICA_SKIPPED));
    counter(out, "cacheme_analytics_views_recorded_total",
            "Product views (200 answers of GET /products/{id}) taken into a batch.",
            analytics_count(ANALYTICS_RECORDED));
    counter(out, "cacheme_analytics_views_sent_total", "Views whose burst Redis applied.",
            analytics_count(ANALYTICS_SENT));
    counter(out, "cacheme_analytics_views_dropped_total",
            "Views lost: Redis down or failing, or the batch full.",
            analytics_count(ANALYTICS_DROPPED));
    counter(out, "cacheme_analytics_bursts_total", "Pipelined bursts of views sent to Redis.",
            analytics_count(ANALYTICS_BURSTS));
    counter(out, "cacheme_analytics_commands_total", "Redis commands in those bursts.",
            analytics_count(ANALYTICS_COMMANDS));
    counter(out, "cacheme_l1_flushes_total",
            "Times a near cache was emptied whole (a Redis connection lost or made, a clear).",
            stats_count(STATS_L1_FLUSH));
    evbuffer_add_printf(
        out,
        "# HELP cacheme_topology_events_total Changes of the Redis and PostgreSQL topology "
        "(each event loop counts what it noticed), by type.\n"
        "# TYPE cacheme_topology_events_total counter\n"
        "cacheme_topology_events_total{type=\"switch_master\"} %llu\n"
        "cacheme_topology_events_total{type=\"slots_moved\"} %llu\n"
        "cacheme_topology_events_total{type=\"node_lost\"} %llu\n"
        "cacheme_topology_events_total{type=\"node_back\"} %llu\n"
        "cacheme_topology_events_total{type=\"replica_fallback_on\"} %llu\n"
        "cacheme_topology_events_total{type=\"replica_fallback_off\"} %llu\n",
        (unsigned long long)stats_count(STATS_TOPOLOGY_SWITCH_MASTER),
        (unsigned long long)stats_count(STATS_TOPOLOGY_SLOTS_MOVED),
        (unsigned long long)stats_count(STATS_TOPOLOGY_NODE_LOST),
        (unsigned long long)stats_count(STATS_TOPOLOGY_NODE_BACK),
        (unsigned long long)stats_count(STATS_TOPOLOGY_FALLBACK_ON),
        (unsigned long long)stats_count(STATS_TOPOLOGY_FALLBACK_OFF));
    counter(out, "cacheme_events_published_total",
            "Events of /events this process published on the Redis channel (EVENTS_FANOUT).",
            stats_count(STATS_EVENTS_PUBLISHED));
    counter(out, "cacheme_events_publish_failed_total",
            "Events not published: Redis down, failing or too slow.",
            stats_count(STATS_EVENTS_PUBLISH_FAILED));
    counter(out, "cacheme_events_received_total",
            "Events of other loops and instances heard on the channel (each loop counts its own).",
            stats_count(STATS_EVENTS_RECEIVED));
    counter(out, "cacheme_events_rejected_total",
            "Messages on the channel that were not a readable event.",
            stats_count(STATS_EVENTS_REJECTED));
    counter(out, "cacheme_events_missed_total",
            "Events of other instances that never arrived: gaps in each publisher's numbers "
            "(Pub/Sub delivers at most once); each event loop counts its own subscription's.",
            stats_count(STATS_EVENTS_MISSED));
    evbuffer_add_printf(out,
                        "# HELP cacheme_events_subscribed_loops Event loops subscribed to the "
                        "events channel now.\n"
                        "# TYPE cacheme_events_subscribed_loops gauge\n"
                        "cacheme_events_subscribed_loops %lld\n",
                        stats_gauge(STATS_EVENTS_SUBSCRIBED));
    metrics_write_gauges(out);
    metrics_write_requests(out);
    http_reply_typed(req, 200, "text/plain; version=0.0.4; charset=utf-8", out);
    evbuffer_free(out);
}
