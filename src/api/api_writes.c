/*
 * api_writes — POST /products, PUT, PATCH and DELETE /products/{id}, and how each write reaches the
 * cache (CACHE_WRITE_MODE).
 *
 * Order matters for consistency: the write commits in PostgreSQL first (each statement is its own
 * transaction), and only then is the cache touched, and only then does the client get its answer.
 * Deleting the key before the commit would let a concurrent reader put the old row back in between;
 * answering before the cache is touched would let the client read its own write stale. The last
 * race — a reader that read the old row before the commit and stores it after the invalidation — is
 * closed by the generation check in cache.c. If Redis fails at that point the write still succeeds
 * (it is committed); the change notification retries the invalidation and the TTL bounds the rest.
 *
 * In write-behind mode PUT, PATCH and DELETE are queued instead (write_behind.c) and answered 202;
 * POST still writes directly, since the new product's id comes from PostgreSQL.
 */
#include "api/api.h"

#include "api/api_events.h"
#include "cache/cache.h"
#include "model/params.h"
#include "model/product.h"
#include "model/product_input.h"
#include "store/queries.h"
#include "core/stats.h"
#include "cache/write_behind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    http_req_t *req;       /* Request being answered. */
    int32_t id;            /* Product written. */
    int created;           /* 1 for POST: answer 201 with Location. */
    int deleted;           /* 1 for DELETE: answer 204. */
    long long version;     /* The version committed; -1 while unknown (a queued write). */
    char *json;            /* The product as stored, for the answer and write-through. */
    product_input_t input; /* The validated body (POST, PUT, PATCH). */
} write_t;

static void write_free(write_t *wr)
{
    product_input_clear(&wr->input);
    free(wr->json);
    free(wr);
}

/* "event: write" for every dashboard: what was written, through which route, and what the cache
 * did. */
static void announce(const write_t *wr, const char *cache_action)
{
    const config_t *cfg = cache_config(api_cache(wr->req));
    json_t *v = json_pack(
        "{s:s,s:i,s:o,s:s,s:s}", "op", wr->created ? "create" : (wr->deleted ? "delete" : "update"),
        "id", (int)wr->id, "version", wr->version >= 0 ? json_integer(wr->version) : json_null(),
        "write_mode", config_write_mode_name(cfg->write_mode), "cache_action", cache_action);
    events_hub_write(api_loop(wr->req)->events, v);
}

static void on_cache_done(cache_write_t outcome, void *arg)
{
    /* X-Cache-Action by outcome; an applied write stored or deleted the value. */
    static const char *const actions[] = {
        [CACHE_WRITE_SKIPPED] = "skipped", [CACHE_WRITE_FAILED] = "failed"};
    write_t *wr = arg;
    const config_t *cfg = cache_config(api_cache(wr->req));
    int through = cfg->write_mode == CONFIG_WRITE_THROUGH && !wr->deleted;
    if (outcome == CACHE_WRITE_APPLIED)
        stats_incr(STATS_INVALIDATION);
    http_req_add_header(wr->req, "X-Cache-Write-Mode", config_write_mode_name(cfg->write_mode));
    const char *action = outcome != CACHE_WRITE_APPLIED ? actions[outcome]
                         : through                      ? "stored"
                                                        : "deleted";
    http_req_add_header(wr->req, "X-Cache-Action", action);
    announce(wr, action);
    if (wr->deleted) {
        http_reply_empty(wr->req, 204);
    } else {
        if (wr->created) {
            char location[48];
            snprintf(location, sizeof location, "/products/%d", (int)wr->id);
            http_req_add_header(wr->req, "Location", location);
        }
        http_reply_json(wr->req, wr->created ? 201 : 200, wr->json, strlen(wr->json));
    }
    write_free(wr);
}

static void db_failed(write_t *wr, int status, PGresult *res)
{
    stats_incr(STATS_DB_ERROR);
    if (status == PG_POOL_EQUERY && res != NULL) {
        /* Validation keeps bad values out; anything PostgreSQL still refuses is the input's. */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state != NULL && strncmp(state, "22", 2) == 0) {
            http_reply_error(wr->req, 422, PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
            write_free(wr);
            return;
        }
    }
    http_reply_error(wr->req, 503, "Database unavailable");
    write_free(wr);
}

/* The write committed: build the answer, then bring the cache in line. */
static void on_written(int status, PGresult *res, void *arg)
{
    write_t *wr = arg;
    if (status != PG_POOL_OK) {
        db_failed(wr, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        http_reply_error(wr->req, 404, "Product not found");
        write_free(wr);
        return;
    }
    stats_incr(STATS_WRITE);
    cache_t *cache = api_cache(wr->req);
    wr->id = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
    if (wr->deleted) {
        wr->version = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        cache_invalidate(cache, wr->id, wr->version, 0, on_cache_done, wr);
        return;
    }
    product_t p;
    product_from_row(res, 0, &p);
    long long version = strtoll(PQgetvalue(res, 0, Q_VERSION_COLUMN), NULL, 10);
    wr->version = version;
    size_t len;
    if (product_to_json(&p, &wr->json, &len) != 0) {
        http_reply_error(wr->req, 503, "Service Unavailable");
        write_free(wr);
        return;
    }
    if (cache_config(cache)->write_mode == CONFIG_WRITE_THROUGH)
        cache_put(cache, wr->id, version, wr->json, on_cache_done, wr);
    else
        cache_invalidate(cache, wr->id, version, 0, on_cache_done, wr);
}

/* Write-behind: the change is queued and cached; PostgreSQL gets it later. */
static void on_queued(write_behind_outcome_t outcome, const char *json, void *arg)
{
    write_t *wr = arg;
    http_req_add_header(wr->req, "X-Cache-Write-Mode", config_write_mode_name(CONFIG_WRITE_BEHIND));
    if (outcome == WRITE_BEHIND_NOT_FOUND) {
        http_reply_error(wr->req, 404, "Product not found");
    } else if (outcome == WRITE_BEHIND_REDIS_FAILED) {
        http_reply_error(wr->req, 503, "Cache unavailable");
    } else if (outcome == WRITE_BEHIND_NO_STATE) {
        http_reply_error(wr->req, 503, "Database unavailable");
    } else {
        http_req_add_header(wr->req, "X-Cache-Action", "queued");
        wr->version = -1;
        announce(wr, "queued");
        if (json == NULL)
            http_reply_empty(wr->req, 202);
        else
            http_reply_json(wr->req, 202, json, strlen(json));
    }
    write_free(wr);
}

static int behind(const write_t *wr)
{
    return cache_config(api_cache(wr->req))->write_mode == CONFIG_WRITE_BEHIND;
}

static void run(write_t *wr, int stmt, const char *const *params)
{
    pg_pool_t *pg = cache_pg(api_cache(wr->req));
    stats_incr(STATS_DB_QUERY);
    if (pg == NULL || pg_pool_query(pg, stmt, params, on_written, wr) != 0)
        db_failed(wr, PG_POOL_EDOWN, NULL);
}

/* Validates the body into a new write; answers 422 and returns NULL when it is not valid. */
static write_t *begin(http_req_t *req, product_input_mode_t mode)
{
    write_t *wr = calloc(1, sizeof *wr);
    if (wr == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return NULL;
    }
    wr->req = req;
    size_t len;
    const char *body = http_req_body(req, &len);
    json_t *errors = NULL;
    if (product_input_parse(body, len, mode, &wr->input, &errors) != 0) {
        api_reply_value(req, 422, json_pack("{s:o}", "detail", errors));
        free(wr);
        return NULL;
    }
    return wr;
}

/*
 * Parses the path id. Returns 0; PARAMS_OUT_OF_RANGE for an integer outside the id column's range,
 * which is no product's (the caller answers 404, after checking the body as it would for any id);
 * or PARAMS_NOT_INTEGER after answering 422.
 */
static int path_id(http_req_t *req, int32_t *id)
{
    params_error_t err;
    size_t len;
    const char *text = http_req_param(req, &len);
    int rc = params_parse_id(text, len, id, &err);
    if (rc == PARAMS_NOT_INTEGER)
        api_reply_invalid(req, "path", "product_id", err.type, err.msg, text, len);
    return rc;
}

/* 404 for an id outside the id column's range, with the headers a queued 404 would carry. */
static void reply_no_such_id(http_req_t *req)
{
    if (cache_config(api_cache(req))->write_mode == CONFIG_WRITE_BEHIND)
        http_req_add_header(req, "X-Cache-Write-Mode", config_write_mode_name(CONFIG_WRITE_BEHIND));
    http_reply_error(req, 404, "Product not found");
}

void api_products_create(http_req_t *req)
{
    write_t *wr = begin(req, PRODUCT_INPUT_CREATE);
    if (wr == NULL)
        return;
    wr->created = 1;
    const char *params[] = {wr->input.name, wr->input.description, wr->input.price,
                            wr->input.category};
    run(wr, Q_PRODUCT_INSERT, params);
}

static void update(http_req_t *req, product_input_mode_t mode)
{
    int32_t id;
    int rc = path_id(req, &id);
    if (rc == PARAMS_NOT_INTEGER)
        return;
    write_t *wr = begin(req, mode);
    if (wr == NULL)
        return;
    if (rc == PARAMS_OUT_OF_RANGE) {
        write_free(wr);
        reply_no_such_id(req);
        return;
    }
    wr->id = id;
    if (behind(wr)) {
        write_behind_enqueue(api_cache(req), id, &wr->input, on_queued, wr);
        return;
    }
    char idtext[16];
    snprintf(idtext, sizeof idtext, "%d", (int)id);
    int f = wr->input.fields;
    const char *params[] = {
        idtext,
        (f & PRODUCT_FIELD_NAME) ? "true" : "false",
        wr->input.name,
        (f & PRODUCT_FIELD_DESCRIPTION) ? "true" : "false",
        wr->input.description,
        (f & PRODUCT_FIELD_PRICE) ? "true" : "false",
        wr->input.price,
        (f & PRODUCT_FIELD_CATEGORY) ? "true" : "false",
        wr->input.category,
    };
    if (!(f & PRODUCT_FIELD_PRICE))
        params[6] = NULL;
    run(wr, Q_PRODUCT_UPDATE, params);
}

void api_products_replace(http_req_t *req)
{
    update(req, PRODUCT_INPUT_REPLACE);
}

void api_products_patch(http_req_t *req)
{
    update(req, PRODUCT_INPUT_PATCH);
}

void api_products_delete(http_req_t *req)
{
    int32_t id;
    int rc = path_id(req, &id);
    if (rc == PARAMS_NOT_INTEGER)
        return;
    if (rc == PARAMS_OUT_OF_RANGE) {
        reply_no_such_id(req);
        return;
    }
    write_t *wr = calloc(1, sizeof *wr);
    if (wr == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    wr->req = req;
    wr->id = id;
    wr->deleted = 1;
    if (behind(wr)) {
        write_behind_enqueue(api_cache(req), id, NULL, on_queued, wr);
        return;
    }
    char idtext[16];
    snprintf(idtext, sizeof idtext, "%d", (int)id);
    const char *params[] = {idtext};
    run(wr, Q_PRODUCT_DELETE, params);
}
