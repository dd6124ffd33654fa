/*
 * api_products — GET /products/{id} (cache-aside, with source and fetch_time_ms) and GET /products
 * (a page straight from PostgreSQL, with X-Total-Count and a Link to the next page).
 *
 * As in the original service: an id that is an integer outside the 32-bit range of the id column is
 * no product's (404, without asking anyone); list items carry "source" and "fetch_time_ms" as null
 * (the original's model has both members); limit may be 0 (an empty page) up to 1000.
 */
#include "api/api.h"

#include "cache/cache.h"
#include "model/params.h"
#include "model/product.h"
#include "store/queries.h"
#include "core/stats.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT_LIMIT 10
#define LIST_MAX_LIMIT 1000

/* ---------------------------------------------------------------- GET /products/{id} --- */

/* A 200 answer is a view of the product (the path's id, valid since the lookup was made). */
static void count_view(http_req_t *req)
{
    size_t len;
    const char *text = http_req_param(req, &len);
    int32_t id;
    params_error_t err;
    if (params_parse_id(text, len, &id, &err) == 0)
        api_analytics_view(req, id);
}

static void on_lookup(const cache_result_t *res, void *arg)
{
    http_req_t *req = arg;
    metrics_source_t source = cache_answer_source(res->answer);
    http_req_set_source(req, source);
    http_req_add_header(req, "X-Cache", cache_answer_xcache(res->answer));
    const char *level = cache_answer_level(res->answer);
    if (level != NULL)
        http_req_add_header(req, "X-Cache-Level", level);
    switch (res->status) {
    case CACHE_FOUND: {
        struct evbuffer *buf = evbuffer_new();
        if (buf == NULL || product_splice(buf, res->json, res->len, metrics_source_name(source),
                                          http_req_elapsed_ms(req)) != 0) {
            if (buf)
                evbuffer_free(buf);
            http_reply_error(req, 503, "Service Unavailable");
            return;
        }
        count_view(req);
        http_reply_buffer(req, 200, buf);
        evbuffer_free(buf);
        return;
    }
    case CACHE_NOT_FOUND:
        if (level != NULL) {
            /* Negative caching: say so, without changing what existing clients read. */
            static const char body[] = "{\"detail\":\"Product not found\",\"source\":\"cache\"}";
            http_reply_json(req, 404, body, sizeof body - 1);
        } else {
            http_reply_error(req, 404, "Product not found");
        }
        return;
    case CACHE_DB_DOWN:
        http_reply_error(req, 503, "Database unavailable");
        return;
    case CACHE_FAILED:
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
}

void api_products_get(http_req_t *req)
{
    int32_t id;
    params_error_t err;
    size_t len;
    const char *text = http_req_param(req, &len);
    int rc = params_parse_id(text, len, &id, &err);
    if (rc == PARAMS_OUT_OF_RANGE) {
        /* Neither Redis nor PostgreSQL is asked: BYPASS, as for any answer made without Redis. */
        http_req_add_header(req, "X-Cache", "BYPASS");
        http_reply_error(req, 404, "Product not found");
        return;
    }
    if (rc != 0) {
        api_reply_invalid(req, "path", "product_id", err.type, err.msg, text, len);
        return;
    }
    cache_lookup_product(api_cache(req), id, on_lookup, req);
}

/* ---------------------------------------------------------------- GET /products --- */

typedef struct {
    http_req_t *req;  /* Request being answered. */
    long long limit;  /* Page size. */
    long long offset; /* Rows skipped. */
    long long total;  /* Rows in the table. */
} list_t;

static void list_fail(list_t *l)
{
    stats_incr(STATS_DB_ERROR);
    http_reply_error(l->req, 503, "Database unavailable");
    free(l);
}

/* The list is a read the replica may serve (cache_read_query), as a lookup's miss is. */
static void on_page(int status, PGresult *res, cache_read_from_t from, void *arg)
{
    (void)from;
    list_t *l = arg;
    if (status != PG_POOL_OK) {
        list_fail(l);
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        list_fail(l);
        return;
    }
    evbuffer_add(buf, "[", 1);
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        product_t p;
        product_from_row(res, i, &p);
        char *json = NULL;
        size_t len = 0;
        if (product_to_json(&p, &json, &len) != 0) {
            evbuffer_free(buf);
            list_fail(l);
            return;
        }
        if (i > 0)
            evbuffer_add(buf, ",", 1);
        /* The object without its closing brace, then the two members a list item has as null. */
        static const char tail[] = ",\"source\":null,\"fetch_time_ms\":null}";
        evbuffer_add(buf, json, len > 0 ? len - 1 : 0);
        evbuffer_add(buf, tail, sizeof tail - 1);
        free(json);
    }
    evbuffer_add(buf, "]", 1);

    char text[64];
    snprintf(text, sizeof text, "%lld", l->total);
    http_req_add_header(l->req, "X-Total-Count", text);
    if (l->limit > 0 && l->offset + l->limit < l->total) {
        char link[128];
        snprintf(link, sizeof link, "</products?limit=%lld&offset=%lld>; rel=\"next\"", l->limit,
                 l->offset + l->limit);
        http_req_add_header(l->req, "Link", link);
    }
    http_req_set_source(l->req, METRICS_SOURCE_DATABASE);
    http_reply_buffer(l->req, 200, buf);
    evbuffer_free(buf);
    free(l);
}

static void on_count(int status, PGresult *res, cache_read_from_t from, void *arg)
{
    (void)from;
    list_t *l = arg;
    if (status != PG_POOL_OK || PQntuples(res) != 1) {
        list_fail(l);
        return;
    }
    l->total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    char limit[24], offset[24];
    snprintf(limit, sizeof limit, "%lld", l->limit);
    snprintf(offset, sizeof offset, "%lld", l->offset);
    const char *params[] = {limit, offset};
    stats_incr(STATS_DB_QUERY);
    if (cache_read_query(api_cache(l->req), Q_PRODUCTS_PAGE, params, on_page, l) != 0)
        list_fail(l);
}

void api_products_list(http_req_t *req)
{
    static const struct {
        const char *name;
        long long min, max, def;
    } bounds[] = {{"limit", 0, LIST_MAX_LIMIT, LIST_DEFAULT_LIMIT}, {"offset", 0, 2147483647, 0}};
    long long values[2];
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        const char *text = http_req_query(req, bounds[i].name, &len);
        params_error_t err;
        values[i] = bounds[i].def;
        if (text != NULL &&
            params_parse_int(text, len, bounds[i].min, bounds[i].max, &values[i], &err) != 0) {
            api_reply_invalid(req, "query", bounds[i].name, err.type, err.msg, text, len);
            return;
        }
    }
    list_t *l = calloc(1, sizeof *l);
    if (l == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    l->req = req;
    l->limit = values[0];
    l->offset = values[1];
    stats_incr(STATS_DB_QUERY);
    if (cache_read_query(api_cache(req), Q_PRODUCTS_COUNT, NULL, on_count, l) != 0)
        list_fail(l);
}
