/*
 * api — the HTTP endpoints of cacheme and their route table.
 *
 * Handlers run on an event loop (api_loop gives that loop's state) and answer through http_reply*.
 * api_products.c: GET /products, GET /products/{id}. api_cache.c: GET /cache/stats,
 * DELETE /cache/clear. api_system.c: GET /, GET /health, and the route table. api_events.c:
 * GET /events. api_sessions.c: /sessions and the session's cart. api_analytics.c: counting views
 * and the /analytics reads. api_static.c: the OpenAPI document, Swagger UI, and the dashboard's
 * files.
 */
#ifndef CACHEME_API_H
#define CACHEME_API_H

#include "cache/analytics.h"
#include "cache/cache.h"
#include "cache/warmer.h"
#include "cacheme/version.h"
#include "http/http.h"
#include "http/static_files.h"

#include <jansson.h>

typedef struct events_hub events_hub_t;
typedef struct topology_watch topology_watch_t;

/*
 * The state of one event loop that handlers use: the http_server's ctx, filled by the server layer
 * before the loop serves requests. The pointers are borrowed and outlive the loop's servers.
 */
typedef struct {
    cache_t *cache;                /* The loop's cache: Redis, PostgreSQL, settings. */
    events_hub_t *events;          /* The loop's SSE subscribers. */
    topology_watch_t *topology;    /* The loop's topology watch (api_topology.h). */
    analytics_t *analytics;        /* The loop's view analytics (batch and reads). */
    warmer_t *warmer;              /* The loop's cache warmer (POST /cache/warm runs there). */
    const static_files_t *ui;      /* The dashboard's files; NULL when not built. */
    const static_files_t *swagger; /* Swagger UI's assets; NULL when not installed. */
    const static_files_t *redoc;   /* ReDoc's standalone bundle; NULL when not installed. */
} api_loop_t;

/* The state of the loop req is handled on, and its cache. */
api_loop_t *api_loop(const http_req_t *req);
cache_t *api_cache(const http_req_t *req);

extern const http_route_t api_routes[];
extern const int api_route_count;

void api_products_get(http_req_t *req);
void api_products_list(http_req_t *req);
void api_products_create(http_req_t *req);
void api_products_replace(http_req_t *req);
void api_products_patch(http_req_t *req);
void api_products_delete(http_req_t *req);
void api_cache_stats(http_req_t *req);
void api_cache_clear(http_req_t *req);
/* GET /cache/warm, POST /cache/warm (api_warm.c). */
void api_warm_get(http_req_t *req);
void api_warm_post(http_req_t *req);
void api_root(http_req_t *req);
void api_metrics(http_req_t *req);
/* GET /topology (api_topology.c): the Redis and PostgreSQL servers and where a key lives. */
void api_topology(http_req_t *req);
/*
 * The product routes behind the rate limit (api_rate_limit.c): each counts the request against its
 * route class's limit, then calls the handler above or answers 429 (or 503 when failing closed).
 */
void api_limited_products_list(http_req_t *req);
void api_limited_products_get(http_req_t *req);
void api_limited_products_create(http_req_t *req);
void api_limited_products_replace(http_req_t *req);
void api_limited_products_patch(http_req_t *req);
void api_limited_products_delete(http_req_t *req);
/* GET/PUT /rate-limit/config, GET /rate-limit/stats. */
void api_rate_limit_get(http_req_t *req);
void api_rate_limit_put(http_req_t *req);
void api_rate_limit_stats(http_req_t *req);
void api_lab_get(http_req_t *req);
void api_lab_put(http_req_t *req);

/* Sessions and their carts (api_sessions.c). */
void api_sessions_login(http_req_t *req);
void api_sessions_me(http_req_t *req);
void api_sessions_logout(http_req_t *req);
void api_sessions_cart(http_req_t *req);
void api_sessions_item_get(http_req_t *req);
void api_sessions_item_put(http_req_t *req);
void api_sessions_item_delete(http_req_t *req);

/*
 * View analytics (api_analytics.c). api_analytics_view counts a 200 answer of GET /products/{id}
 * as a view of product id (when ANALYTICS is on), before the answer is sent; it never delays it.
 */
void api_analytics_view(http_req_t *req, int32_t id);
void api_analytics_trending(http_req_t *req);
void api_analytics_leaderboard(http_req_t *req);
void api_analytics_product(http_req_t *req);
void api_analytics_stats(http_req_t *req);

/*
 * Lab changes need ADMIN_TOKEN as "Authorization: Bearer <token>" when it is set. Returns 1 when
 * the request may go on, or 0 after answering 401.
 */
int api_admin_allowed(http_req_t *req);

/*
 * PUT of a settings group (the lab's, the rate limit's): checks the admin token, parses the body
 * (422 json_invalid when it is not JSON), hands it to apply (all or nothing; 422 with the errors it
 * lists), and answers 200 with current().
 */
void api_settings_put(http_req_t *req, int (*apply)(json_t *patch, json_t **errors),
                      json_t *(*current)(void));
void api_health(http_req_t *req);

/* GET /openapi.json, GET /docs and its assets (api_static.c). */
void api_openapi(http_req_t *req);
void api_docs_page(http_req_t *req);
void api_docs_asset(http_req_t *req);
/* GET /redoc and its script (api_static.c). */
void api_redoc_page(http_req_t *req);
void api_redoc_asset(http_req_t *req);

/* The dashboard port's routes (api_static.c). */
extern const http_route_t api_ui_routes[];
extern const int api_ui_route_count;

/* Current time as Unix seconds with millisecond precision, for "timestamp" fields. */
double api_timestamp(void);

/* Answers with v serialised (and released), or 503 when v is NULL. */
void api_reply_value(http_req_t *req, int status, json_t *v);

/*
 * Answers 422 in FastAPI's shape: {"detail":[{"type","loc":[where,name],"msg","input"}]}. input is
 * the text as received (len bytes, NUL bytes included); bytes that are not valid UTF-8 are echoed
 * as U+FFFD, since JSON text is UTF-8.
 */
void api_reply_invalid(http_req_t *req, const char *where, const char *name, const char *type,
                       const char *msg, const char *input, size_t len);

#endif
