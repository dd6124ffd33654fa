/*
 * api_analytics — view analytics: each 200 answer of GET /products/{id} counted as a view
 * (api_analytics_view), and the endpoints that read them: GET /analytics/trending,
 * GET /analytics/leaderboard, GET /analytics/products/{id} and GET /analytics/stats.
 *
 * A view's visitor is the session of the request's cookie when it carries a well-formed session
 * id (whether or not the session still exists: asking Redis would cost the hit path a round
 * trip), else the client address as rate limiting finds it (X-Forwarded-For only from
 * TRUSTED_PROXIES; a header from one that names no address counts the proxy itself). Counting goes
 * into the loop's batch (cache/analytics) and never delays the answer. The reads answer 422 for a
 * query value out of its bounds, 404 for an id no product can have (as GET /products/{id}), and
 * 503 when Redis cannot answer.
 */
#include "api/api.h"

#include "cache/analytics.h"
#include "core/analytics.h"
#include "model/analytics_policy.h"
#include "model/params.h"
#include "model/rate_policy.h"
#include "model/session_input.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds and default of each query value the reads take. */
typedef struct {
    const char *name; /* Its name in the query. */
    long long min;    /* Smallest value. */
    long long max;    /* Largest value. */
    long long def;    /* When it is absent. */
} bound_t;

static const bound_t LIMIT = {"limit", 1, 100, 10};
static const bound_t WINDOW = {"window", 1, ANALYTICS_RETENTION_MINUTES, 10};
static const bound_t HALF_LIFE = {"half_life", 1, ANALYTICS_RETENTION_MINUTES, 5};
static const bound_t MINUTES = {"minutes", 1, ANALYTICS_RETENTION_MINUTES, 15};

/* Reads query value b into *out. Returns 0, or -1 after answering 422. */
static int query_value(http_req_t *req, const bound_t *b, int *out)
{
    size_t len = 0;
    const char *text = http_req_query(req, b->name, &len);
    long long v = b->def;
    params_error_t err;
    if (text != NULL && params_parse_int(text, len, b->min, b->max, &v, &err) != 0) {
        api_reply_invalid(req, "query", b->name, err.type, err.msg, text, len);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void unavailable(http_req_t *req)
{
    http_reply_error(req, 503, "Analytics unavailable: Redis did not answer");
}

/* A score as JSON, rounded to 3 decimals. */
static json_t *score_json(double score)
{
    return json_real(round(score * 1000.0) / 1000.0);
}

/* ---------------------------------------------------------------- counting --- */

void api_analytics_view(http_req_t *req, int32_t id)
{
    api_loop_t *loop = api_loop(req);
    const config_t *cfg = cache_config(loop->cache);
    if (!cfg->analytics || loop->analytics == NULL)
        return;
    char session[SESSION_ID_LEN + 1];
    char address[RATE_POLICY_ADDR_MAX] = "";
    char visitor[ANALYTICS_VISITOR_MAX];
    int by_session = session_input_cookie(http_req_header(req, "Cookie"), session) == 0;
    if (!by_session) {
        const char *xff = http_req_header(req, "X-Forwarded-For");
        const char *peer = http_req_peer(req);
        if (rate_policy_client_address(peer, xff, xff ? strlen(xff) : 0, cfg->trusted_proxies,
                                       address) != 0)
            snprintf(address, sizeof address, "%s", peer ? peer : "");
    }
    int len = analytics_policy_visitor(by_session ? session : NULL, address, visitor);
    if (len > 0)
        analytics_record(loop->analytics, id, visitor, (size_t)len);
}

/* ---------------------------------------------------------------- rankings --- */

/* What a ranking's answer needs besides the items. */
typedef struct {
    http_req_t *req; /* The request. */
    int window;      /* Trending: its window; 0 for the leaderboard. */
    int half_life;   /* Trending: its half-life. */
} ranking_req_t;

static void on_ranking(int status, const analytics_item_t *items, int n, void *arg)
{
    ranking_req_t *r = arg;
    http_req_t *req = r->req;
    int trending = r->window > 0;
    json_t *o = json_object();
    if (trending) {
        json_object_set_new(o, "window_minutes", json_integer(r->window));
        json_object_set_new(o, "half_life_minutes", json_integer(r->half_life));
    }
    free(r);
    if (status != 0) {
        json_decref(o);
        unavailable(req);
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < n; i++) {
        json_t *item = json_object();
        json_object_set_new(item, "rank", json_integer(i + 1));
        json_object_set_new(item, "product_id", json_integer(items[i].id));
        if (trending)
            json_object_set_new(item, "score", score_json(items[i].score));
        else
            json_object_set_new(item, "views", json_integer((json_int_t)llround(items[i].score)));
        json_array_append_new(list, item);
    }
    json_object_set_new(o, "products", list);
    json_object_set_new(o, "timestamp", json_real(api_timestamp()));
    api_reply_value(req, 200, o);
}

static ranking_req_t *ranking_req(http_req_t *req, int window, int half_life)
{
    ranking_req_t *r = malloc(sizeof *r);
    if (r != NULL)
        *r = (ranking_req_t){req, window, half_life};
    return r;
}

void api_analytics_trending(http_req_t *req)
{
    int limit, window, half_life;
    if (query_value(req, &LIMIT, &limit) != 0 || query_value(req, &WINDOW, &window) != 0 ||
        query_value(req, &HALF_LIFE, &half_life) != 0)
        return;
    ranking_req_t *r = ranking_req(req, window, half_life);
    if (r == NULL || analytics_trending(api_loop(req)->analytics, limit, window, half_life,
                                        on_ranking, r) != 0) {
        free(r);
        unavailable(req);
    }
}

void api_analytics_leaderboard(http_req_t *req)
{
    int limit;
    if (query_value(req, &LIMIT, &limit) != 0)
        return;
    ranking_req_t *r = ranking_req(req, 0, 0);
    if (r == NULL || analytics_leaderboard(api_loop(req)->analytics, limit, on_ranking, r) != 0) {
        free(r);
        unavailable(req);
    }
}

/* ---------------------------------------------------------------- one product --- */

static void on_product(int status, const analytics_product_t *p, void *arg)
{
    http_req_t *req = arg;
    if (status != 0) {
        unavailable(req);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "product_id", json_integer(p->id));
    json_object_set_new(o, "total_views", json_integer(p->total_views));
    json_object_set_new(o, "unique_visitors", json_integer(p->unique_visitors));
    json_t *minutes = json_array();
    for (int i = 0; i < p->minutes; i++) {
        json_t *m = json_object();
        json_object_set_new(m, "start", json_integer((p->first_minute + i) * 60));
        json_object_set_new(m, "views", json_integer(p->views[i]));
        json_array_append_new(minutes, m);
    }
    json_object_set_new(o, "minutes", minutes);
    json_object_set_new(o, "timestamp", json_real(api_timestamp()));
    api_reply_value(req, 200, o);
}

void api_analytics_product(http_req_t *req)
{
    int32_t id;
    params_error_t err;
    size_t len;
    const char *text = http_req_param(req, &len);
    int rc = params_parse_id(text, len, &id, &err);
    if (rc == PARAMS_OUT_OF_RANGE) {
        http_reply_error(req, 404, "Product not found");
        return;
    }
    if (rc != 0) {
        api_reply_invalid(req, "path", "product_id", err.type, err.msg, text, len);
        return;
    }
    int minutes;
    if (query_value(req, &MINUTES, &minutes) != 0)
        return;
    if (analytics_product(api_loop(req)->analytics, id, minutes, on_product, req) != 0)
        unavailable(req);
}

/* ---------------------------------------------------------------- stats --- */

void api_analytics_stats(http_req_t *req)
{
    const config_t *cfg = cache_config(api_cache(req));
    json_t *o = json_object();
    json_object_set_new(o, "enabled", json_boolean(cfg->analytics));
    json_object_set_new(o, "flush_ms", json_integer(cfg->analytics_flush_ms));
    json_object_set_new(o, "batch_max", json_integer(cfg->analytics_batch_max));
    json_t *counters = analytics_counters_json();
    json_object_update(o, counters);
    json_decref(counters);
    json_object_set_new(o, "timestamp", json_real(api_timestamp()));
    api_reply_value(req, 200, o);
}
