/*
 * api_rate_limit — the rate limit in front of the product routes, and its endpoints:
 * GET/PUT /rate-limit/config and GET /rate-limit/stats.
 *
 * A product route's entry in the route table points at a gate here, which passes the request on
 * to the route's handler at once while rate limiting is off. When it is on, the gate finds whose
 * request it is (a known X-API-Key, else the client address, read from X-Forwarded-For only when
 * the connection comes from TRUSTED_PROXIES), asks the loop's Redis through one script
 * (cache/rate_limiter), and then serves the request with the RateLimit and RateLimit-Policy
 * fields, or answers 429 with Retry-After as well. When Redis cannot answer, the request is served
 * (fail open) or refused with 503 (RATE_LIMIT_FAIL_CLOSED), and counted either way.
 */
#include "api/api.h"

#include "cache/rate_limiter.h"
#include "core/rate_limit.h"
#include "model/rate_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A request waiting for the limiter's decision. */
typedef struct {
    http_req_t *req;          /* The request, answered by next or here. */
    http_handler_fn next;     /* The route's handler. */
    rate_limit_route_t route; /* Its class. */
    long long limit;          /* The quota that applied. */
    long long window_s;       /* Its window. */
    int fail_closed;          /* The setting when the request came. */
} gate_t;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_fields(const gate_t *g, const rate_limiter_result_t *res)
{
    const char *name = rate_limit_route_name(g->route);
    char field[160];
    if (rate_policy_format_policy(field, sizeof field, name, g->limit, g->window_s) == 0)
        http_req_add_header(g->req, "RateLimit-Policy", field);
    if (rate_policy_format_limit(field, sizeof field, name, res->remaining,
                                 rate_policy_seconds(res->reset_ms, 0)) == 0)
        http_req_add_header(g->req, "RateLimit", field);
}

/* Redis could not count the request: serve it (fail open) or refuse it (fail closed). */
static void on_failure(const gate_t *g)
{
    if (g->fail_closed) {
        rate_limit_count(g->route, RATE_LIMIT_FAILED_CLOSED);
        http_req_add_header(g->req, "Retry-After", "1");
        http_reply_error(g->req, 503, "Rate limiter unavailable");
        return;
    }
    rate_limit_count(g->route, RATE_LIMIT_FAILED_OPEN);
    g->next(g->req);
}

static void on_decision(int status, const rate_limiter_result_t *res, void *arg)
{
    gate_t g = *(gate_t *)arg;
    free(arg);
    if (status != 0 || res == NULL) {
        on_failure(&g);
        return;
    }
    add_fields(&g, res);
    if (res->allowed) {
        rate_limit_count(g.route, RATE_LIMIT_ALLOWED);
        g.next(g.req);
        return;
    }
    rate_limit_count(g.route, RATE_LIMIT_LIMITED);
    long long retry_s = rate_policy_seconds(res->retry_ms, 1);
    char text[160];
    snprintf(text, sizeof text, "%lld", retry_s);
    http_req_add_header(g.req, "Retry-After", text);
    snprintf(text, sizeof text, "Rate limit exceeded: %lld %s per %lld s; retry after %lld s",
             g.limit, rate_limit_route_name(g.route), g.window_s, retry_s);
    http_reply_error(g.req, 429, text);
}

/* Counts req against its route class's limit, then serves it with next or refuses it. */
static void gate(http_req_t *req, rate_limit_route_t route, http_handler_fn next)
{
    if (!rate_limit_enabled()) {
        next(req);
        return;
    }
    rate_limit_settings_t s;
    rate_limit_get(&s);
    const config_t *cfg = cache_config(api_cache(req));
    const char *key = http_req_header(req, "X-API-Key");
    int by_key = key != NULL;
    char address[RATE_POLICY_ADDR_MAX];
    const char *id;
    size_t id_len;
    if (by_key) {
        if (!rate_policy_api_key_known(cfg->api_keys, key, strlen(key))) {
            http_reply_error(req, 401, "Invalid API key");
            return;
        }
        id = key;
        id_len = strlen(key);
    } else {
        const char *xff = http_req_header(req, "X-Forwarded-For");
        if (rate_policy_client_address(http_req_peer(req), xff, xff ? strlen(xff) : 0,
                                       cfg->trusted_proxies, address) != 0) {
            http_reply_error(req, 400, "Invalid X-Forwarded-For header");
            return;
        }
        id = address;
        id_len = strlen(address);
    }
    long long limit = s.limits[by_key ? RATE_LIMIT_BY_KEY : RATE_LIMIT_BY_ADDRESS][route];
    char base[RATE_POLICY_KEY_MAX];
    if (limit == 0 ||
        rate_policy_key_base(rate_limit_route_name(route), by_key, id, id_len, base) != 0) {
        next(req);
        return;
    }
    gate_t *g = malloc(sizeof *g);
    if (g == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    *g = (gate_t){req, next, route, limit, s.window_seconds, s.fail_closed};
    int rc = rate_limiter_check(cache_redis(api_cache(req)), s.algorithm, base, limit,
                                (long long)s.window_seconds * 1000, now_ms(), on_decision, g);
    if (rc != 0) {
        on_failure(g);
        free(g);
    }
}

void api_limited_products_list(http_req_t *req)
{
    gate(req, RATE_LIMIT_READS, api_products_list);
}

void api_limited_products_get(http_req_t *req)
{
    gate(req, RATE_LIMIT_READS, api_products_get);
}

void api_limited_products_create(http_req_t *req)
{
    gate(req, RATE_LIMIT_WRITES, api_products_create);
}

void api_limited_products_replace(http_req_t *req)
{
    gate(req, RATE_LIMIT_WRITES, api_products_replace);
}

void api_limited_products_patch(http_req_t *req)
{
    gate(req, RATE_LIMIT_WRITES, api_products_patch);
}

void api_limited_products_delete(http_req_t *req)
{
    gate(req, RATE_LIMIT_WRITES, api_products_delete);
}

void api_rate_limit_get(http_req_t *req)
{
    api_reply_value(req, 200, rate_limit_to_json());
}

void api_rate_limit_put(http_req_t *req)
{
    api_settings_put(req, rate_limit_apply_json, rate_limit_to_json);
}

void api_rate_limit_stats(http_req_t *req)
{
    json_t *o = rate_limit_stats_json();
    rate_limit_settings_t s;
    rate_limit_get(&s);
    json_object_set_new(o, "enabled", json_boolean(s.enabled));
    json_object_set_new(o, "algorithm", json_string(config_rate_algorithm_name(s.algorithm)));
    json_object_set_new(o, "timestamp", json_real(api_timestamp()));
    api_reply_value(req, 200, o);
}
