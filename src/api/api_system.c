/*
 * api_system — GET / (what the service offers), GET /health (Redis and PostgreSQL checked with a
 * real round trip each, in parallel), the route table, and helpers shared by the api_* files.
 */
#include "api/api.h"

#include "api/api_events.h"
#include "api/scenario.h"
#include "core/stats.h"
#include "store/queries.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const http_route_t api_routes[] = {
    {"/", HTTP_GET, api_root, NULL},
    {"/health", HTTP_GET, api_health, NULL},
    {"/products", HTTP_GET, api_limited_products_list, NULL},
    {"/products", HTTP_POST, api_limited_products_create, NULL},
    {"/products/{id}", HTTP_GET, api_limited_products_get, NULL},
    {"/products/{id}", HTTP_PUT, api_limited_products_replace, NULL},
    {"/products/{id}", HTTP_PATCH, api_limited_products_patch, NULL},
    {"/products/{id}", HTTP_DELETE, api_limited_products_delete, NULL},
    {"/cache/stats", HTTP_GET, api_cache_stats, NULL},
    {"/cache/clear", HTTP_DELETE, api_cache_clear, NULL},
    {"/cache/warm", HTTP_GET, api_warm_get, NULL},
    {"/cache/warm", HTTP_POST, api_warm_post, NULL},
    {"/events", HTTP_GET, api_events, NULL},
    {"/topology", HTTP_GET, api_topology, NULL},
    {"/metrics", HTTP_GET, api_metrics, NULL},
    {"/lab/config", HTTP_GET, api_lab_get, NULL},
    {"/lab/config", HTTP_PUT, api_lab_put, NULL},
    {"/lab/scenarios/{name}", HTTP_POST, api_lab_scenario, NULL},
    {"/rate-limit/config", HTTP_GET, api_rate_limit_get, NULL},
    {"/rate-limit/config", HTTP_PUT, api_rate_limit_put, NULL},
    {"/rate-limit/stats", HTTP_GET, api_rate_limit_stats, NULL},
    {"/sessions", HTTP_POST, api_sessions_login, NULL},
    {"/sessions/me", HTTP_GET, api_sessions_me, NULL},
    {"/sessions/me", HTTP_DELETE, api_sessions_logout, NULL},
    {"/sessions/me/cart", HTTP_GET, api_sessions_cart, NULL},
    {"/sessions/me/cart/items/{product_id}", HTTP_GET, api_sessions_item_get, NULL},
    {"/sessions/me/cart/items/{product_id}", HTTP_PUT, api_sessions_item_put, NULL},
    {"/sessions/me/cart/items/{product_id}", HTTP_DELETE, api_sessions_item_delete, NULL},
    {"/analytics/trending", HTTP_GET, api_analytics_trending, NULL},
    {"/analytics/leaderboard", HTTP_GET, api_analytics_leaderboard, NULL},
    {"/analytics/products/{id}", HTTP_GET, api_analytics_product, NULL},
    {"/analytics/stats", HTTP_GET, api_analytics_stats, NULL},
    {"/openapi.json", HTTP_GET, api_openapi, NULL},
    {"/docs", HTTP_GET, api_docs_page, NULL},
    {"/docs/{file*}", HTTP_GET, api_docs_asset, "(assets)"},
    {"/redoc", HTTP_GET, api_redoc_page, NULL},
    {"/redoc/{file*}", HTTP_GET, api_redoc_asset, "(assets)"},
};
const int api_route_count = (int)(sizeof api_routes / sizeof api_routes[0]);

api_loop_t *api_loop(const http_req_t *req)
{
    return http_req_ctx(req);
}

cache_t *api_cache(const http_req_t *req)
{
    return api_loop(req)->cache;
}

double api_timestamp(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return round(((double)ts.tv_sec + (double)ts.tv_nsec / 1e9) * 1000.0) / 1000.0;
}

void api_reply_value(http_req_t *req, int status, json_t *v)
{
    char *text =
        v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    if (text == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    http_reply_json(req, status, text, strlen(text));
    free(text);
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* Allowed range of the second byte. */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* Overlong. */
        else if (c == 0xED)
            hi = 0x9F; /* Surrogates. */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* Overlong. */
        else if (c == 0xF4)
            hi = 0x8F; /* Above U+10FFFF. */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    }
    return len;
}

/*
 * A malloc'd copy of text (len bytes) that is valid UTF-8: each byte that does not start a valid
 * sequence becomes U+FFFD. Sets *out_len; returns NULL when out of memory.
 */
static char *utf8_valid_copy(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(len * 3 + 1);
    if (out == NULL)
        return NULL;
    const unsigned char *s = (const unsigned char *)text;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

void api_reply_invalid(http_req_t *req, const char *where, const char *name, const char *type,
                       const char *msg, const char *input, size_t len)
{
    size_t n = 0;
    char *text = utf8_valid_copy(input, len, &n);
    json_t *v = text ? json_pack("{s:[{s:s,s:[s,s],s:s,s:s%}]}", "detail", "type", type, "loc",
                                 where, name, "msg", msg, "input", text, n)
                     : NULL;
    free(text);
    api_reply_value(req, 422, v);
}

void api_root(http_req_t *req)
{
    json_t *v = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s,s:s,s:s}}", "message",
                          "Welcome to Cache Me If You Can API", "version", CACHEME_VERSION,
                          "endpoints", "products", "/products", "product", "/products/{id}",
                          "cache_stats", "/cache/stats", "cache_clear", "/cache/clear", "health",
                          "/health", "docs", "/docs");
    api_reply_value(req, 200, v);
}

/* ---------------------------------------------------------------- GET /health --- */

typedef struct {
    http_req_t *req;        /* Request being answered. */
    int pending;            /* Checks still running. */
    int redis_ok, pg_ok;    /* Outcomes. */
    double redis_ms, pg_ms; /* Round-trip times. */
    int has_replica;        /* 1 with DATABASE_REPLICA_URL: the replica is checked too. */
    int replica_ok;         /* Its outcome. */
    double replica_ms;      /* Its round-trip time. */
    int in_recovery;        /* 1 when the replica is a standby (pg_is_in_recovery()). */
    long long lag_bytes;    /* WAL it received and has not applied (Q_REPLICA_STATUS). */
} health_t;

static json_t *component(int ok, double ms)
{
    return json_pack("{s:s,s:o}", "status", ok ? "healthy" : "unhealthy", "latency_ms",
                     ok ? json_real(round(ms * 1000.0) / 1000.0) : json_null());
}

/*
 * The Redis component also tells the state of this loop's circuit breaker, the address of the
 * server it is connected to, and, with Redis Sentinel, the master's name and the sentinels.
 */
static json_t *redis_component(const health_t *h)
{
    json_t *c = component(h->redis_ok, h->redis_ms);
    cache_t *cache = api_cache(h->req);
    redis_client_t *rc = cache_redis(cache);
    const config_t *cfg = cache_config(cache);
    json_object_set_new(c, "circuit_breaker",
                        json_string(rc ? redis_client_breaker_state(rc) : "closed"));
    char address[300];
    json_object_set_new(c, "address",
                        rc != NULL && redis_client_address(rc, address, sizeof address) == 0
                            ? json_string(address)
                            : json_null());
    json_t *sentinel = json_null();
    if (cfg->redis_sentinel_count > 0) {
        json_t *list = json_array();
        for (int i = 0; i < cfg->redis_sentinel_count; i++) {
            const config_addr_t *a = &cfg->redis_sentinel_addrs[i];
            if (strchr(a->host, ':') != NULL) /* IPv6, written as REDIS_SENTINELS takes it. */
                snprintf(address, sizeof address, "[%s]:%d", a->host, a->port);
            else
                snprintf(address, sizeof address, "%s:%d", a->host, a->port);
            json_array_append_new(list, json_string(address));
        }
        sentinel =
            json_pack("{s:s,s:o}", "master_name", cfg->redis_sentinel_master, "sentinels", list);
    }
    json_object_set_new(c, "sentinel", sentinel);
    /* The loop's subscription to the other instances' live events (GET /events). */
    json_object_set_new(c, "events_fanout",
                        json_string(events_hub_fanout_state(api_loop(h->req)->events)));
    return c;
}

/*
 * The read replica (only with DATABASE_REPLICA_URL, so the answer of a service without one is
 * unchanged): its check, whether it is a standby and how far its replay lags, where this loop's
 * reads go now, and the process's counts of replica reads, fallbacks and refused fills.
 */
static json_t *replica_component(const health_t *h)
{
    json_t *c = component(h->replica_ok, h->replica_ms);
    json_object_set_new(c, "in_recovery",
                        h->replica_ok ? json_boolean(h->in_recovery) : json_null());
    json_object_set_new(c, "lag_bytes", h->replica_ok ? json_integer(h->lag_bytes) : json_null());
    long long opened = 0;
    const char *breaker = cache_replica_breaker(api_cache(h->req), &opened);
    json_object_set_new(
        c, "reads", json_string(cache_replica_usable(api_cache(h->req)) ? "replica" : "primary"));
    json_object_set_new(c, "breaker", json_string(breaker));
    json_object_set_new(c, "breaker_opened", json_integer((json_int_t)opened));
    json_object_set_new(c, "breaker_skipped",
                        json_integer((json_int_t)stats_count(STATS_REPLICA_SKIPPED)));
    json_object_set_new(c, "replica_reads",
                        json_integer((json_int_t)stats_count(STATS_REPLICA_READ)));
    json_object_set_new(c, "fallbacks",
                        json_integer((json_int_t)stats_count(STATS_REPLICA_FALLBACK)));
    json_object_set_new(c, "refused_fills",
                        json_integer((json_int_t)stats_count(STATS_REPLICA_REFUSED)));
    return c;
}

static void health_done(health_t *h)
{
    if (--h->pending > 0)
        return;
    /* A replica that fails costs capacity, not answers (reads fall back): degraded, like Redis. */
    const char *status = !h->pg_ok                                            ? "unhealthy"
                         : !h->redis_ok || (h->has_replica && !h->replica_ok) ? "degraded"
                                                                              : "healthy";
    json_t *v = json_pack("{s:s,s:f,s:{s:o,s:o}}", "status", status, "timestamp", api_timestamp(),
                          "components", "redis", redis_component(h), "postgres",
                          component(h->pg_ok, h->pg_ms));
    if (h->has_replica)
        json_object_set_new(json_object_get(v, "components"), "postgres_replica",
                            replica_component(h));
    api_reply_value(h->req, h->pg_ok ? 200 : 503, v);
    free(h);
}

static void on_redis_ping(int status, redisReply *reply, void *arg)
{
    health_t *h = arg;
    h->redis_ok = status == REDIS_CLIENT_OK && reply->type != REDIS_REPLY_ERROR;
    h->redis_ms = http_req_elapsed_ms(h->req);
    health_done(h);
}

static void on_pg_ping(int status, PGresult *res, void *arg)
{
    (void)res;
    health_t *h = arg;
    h->pg_ok = status == PG_POOL_OK;
    h->pg_ms = http_req_elapsed_ms(h->req);
    health_done(h);
}

static void on_replica_status(int status, PGresult *res, void *arg)
{
    health_t *h = arg;
    h->replica_ok = status == PG_POOL_OK && PQntuples(res) == 1;
    h->replica_ms = http_req_elapsed_ms(h->req);
    if (h->replica_ok) {
        h->in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
        h->lag_bytes = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    health_done(h);
}

void api_health(http_req_t *req)
{
    health_t *h = calloc(1, sizeof *h);
    if (h == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    cache_t *cache = api_cache(req);
    h->req = req;
    /* The checks, plus this function, so that none answers before all have started. */
    pg_pool_t *replica = cache_replica(cache);
    h->has_replica = replica != NULL;
    h->pending = 3 + h->has_replica;
    redis_client_t *rc = cache_redis(cache);
    const char *argv[] = {"PING"};
    size_t argvlen[] = {4};
    if (rc == NULL || redis_client_command(rc, on_redis_ping, h, 1, argv, argvlen) != 0)
        h->pending--;
    pg_pool_t *pg = cache_pg(cache);
    if (pg == NULL || pg_pool_query(pg, Q_PING, NULL, on_pg_ping, h) != 0)
        h->pending--;
    /* The replica's own pool, never the fallback: this checks the replica itself. */
    if (replica != NULL &&
        pg_pool_query(replica, Q_REPLICA_STATUS, NULL, on_replica_status, h) != 0)
        h->pending--;
    health_done(h);
}
