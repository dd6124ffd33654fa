/*
 * cache — see cache.h.
 */
#include "cache.h"

#include "log.h"
#include "product.h"
#include "queries.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    worker_t *w;        /* Loop the lookup runs on. */
    int32_t id;         /* Product id. */
    cache_lookup_fn fn; /* Caller's callback. */
    void *arg;          /* Caller's argument. */
    char key[192];      /* Redis key. */
    int use_redis;      /* 0 under CACHE_BYPASS. */
} lookup_t;

int cache_key_build(const char *prefix, int32_t id, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%d", prefix, (int)id);
    return (n < 0 || (size_t)n >= len) ? -1 : n;
}

int cache_key_pattern(const char *prefix, char *buf, size_t len)
{
    size_t o = 0;
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p) != NULL) {
            if (o + 1 >= len)
                return -1;
            buf[o++] = '\\';
        }
        if (o + 1 >= len)
            return -1;
        buf[o++] = *p;
    }
    if (o + 2 > len)
        return -1;
    buf[o++] = '*';
    buf[o] = '\0';
    return (int)o;
}

static void finish(lookup_t *l, cache_status_t status, const char *source, const char *json,
                   size_t len)
{
    cache_result_t r = {status, source, json, len};
    l->fn(&r, l->arg);
    free(l);
}

/* A database answer waiting for its SET: the client is answered once Redis has the key. */
typedef struct {
    lookup_t *l;  /* The lookup (freed here). */
    char *json;   /* The product (freed here). */
    size_t len;   /* Its length. */
} pending_set_t;

static void answer_stored(pending_set_t *p)
{
    finish(p->l, CACHE_FOUND, "database", p->json, p->len);
    free(p->json);
    free(p);
}

static void on_set_reply(int status, redisReply *reply, void *arg)
{
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR)
        stats_incr(STATS_REDIS_ERROR);
    answer_stored(arg);
}

/*
 * Stores the product, then answers. Answering after the SET (one Redis round trip) means that a
 * client's next read finds the key, whichever loop serves it. When Redis fails or is slow, the
 * answer still goes out, at the latest at the command's deadline.
 */
static void store_then_answer(lookup_t *l, char *json, size_t len)
{
    redis_client_t *rc = worker_redis(l->w);
    pending_set_t *p = malloc(sizeof *p);
    if (p == NULL) {
        finish(l, CACHE_FOUND, "database", json, len);
        free(json);
        return;
    }
    p->l = l;
    p->json = json;
    p->len = len;
    if (!l->use_redis || rc == NULL) {
        answer_stored(p);
        return;
    }
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", worker_config(l->w)->cache_ttl_seconds);
    const char *argv[] = {"SET", l->key, json, "EX", ttl};
    size_t argvlen[] = {3, strlen(l->key), len, 2, strlen(ttl)};
    if (redis_client_command(rc, on_set_reply, p, 5, argv, argvlen) != 0) {
        stats_incr(STATS_REDIS_ERROR);
        answer_stored(p);
    }
}

static void on_row(int status, PGresult *res, void *arg)
{
    lookup_t *l = arg;
    if (status != PG_POOL_OK) {
        stats_incr(STATS_DB_ERROR);
        finish(l, CACHE_DB_DOWN, "database", NULL, 0);
        return;
    }
    if (PQntuples(res) == 0) {
        finish(l, CACHE_NOT_FOUND, "database", NULL, 0);
        return;
    }
    product_t p = {
        .id = l->id,
        .name = PQgetvalue(res, 0, 1),
        .description = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2),
        .price = PQgetvalue(res, 0, 3),
        .category = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4),
        .created_at = PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5),
        .updated_at = PQgetisnull(res, 0, 6) ? NULL : PQgetvalue(res, 0, 6),
    };
    char *json = NULL;
    size_t len = 0;
    if (product_to_json(&p, &json, &len) != 0) {
        finish(l, CACHE_FAILED, "database", NULL, 0);
        return;
    }
    store_then_answer(l, json, len);
}

static void from_database(lookup_t *l)
{
    stats_incr(STATS_MISS);
    pg_pool_t *pg = worker_pg(l->w);
    char idtext[16];
    snprintf(idtext, sizeof idtext, "%d", (int)l->id);
    const char *params[] = {idtext};
    stats_incr(STATS_DB_QUERY);
    if (pg == NULL || pg_pool_query(pg, Q_PRODUCT_BY_ID, params, on_row, l) != 0) {
        stats_incr(STATS_DB_ERROR);
        finish(l, CACHE_DB_DOWN, "database", NULL, 0);
    }
}

static void on_get_reply(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STRING) {
        stats_incr(STATS_HIT);
        finish(l, CACHE_FOUND, "cache", reply->str, reply->len);
        return;
    }
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_NIL) {
        stats_incr(STATS_REDIS_ERROR);
        log_debug("redis GET %s failed (status %d)", l->key, status);
    }
    from_database(l);
}

void cache_lookup_product(worker_t *w, int32_t id, cache_lookup_fn fn, void *arg)
{
    lookup_t *l = malloc(sizeof *l);
    if (l == NULL) {
        cache_result_t r = {CACHE_FAILED, "database", NULL, 0};
        fn(&r, arg);
        return;
    }
    const config_t *cfg = worker_config(w);
    l->w = w;
    l->id = id;
    l->fn = fn;
    l->arg = arg;
    l->use_redis = !cfg->cache_bypass;
    if (cache_key_build(cfg->cache_key_prefix, id, l->key, sizeof l->key) < 0)
        l->use_redis = 0; /* Cannot happen with the prefix length limit; be safe anyway. */

    redis_client_t *rc = worker_redis(w);
    if (!l->use_redis) {
        from_database(l);
        return;
    }
    const char *argv[] = {"GET", l->key};
    size_t argvlen[] = {3, strlen(l->key)};
    if (rc == NULL || redis_client_command(rc, on_get_reply, l, 2, argv, argvlen) != 0) {
        stats_incr(STATS_REDIS_ERROR);
        from_database(l);
    }
}

/* ---------------------------------------------------------------- clear --- */

typedef struct {
    worker_t *w;       /* Loop. */
    cache_clear_fn fn; /* Caller's callback. */
    void *arg;         /* Caller's argument. */
    char cursor[32];   /* SCAN cursor. */
    char pattern[300]; /* MATCH pattern. */
    long long cleared; /* Keys removed so far. */
    int scan_done;     /* 1 once SCAN returned cursor 0. */
} clear_t;

static void clear_step(clear_t *c);

static void clear_finish(clear_t *c, int status)
{
    if (status != 0)
        stats_incr(STATS_REDIS_ERROR);
    c->fn(status, c->cleared, c->arg);
    free(c);
}

static void on_unlink(int status, redisReply *reply, void *arg)
{
    clear_t *c = arg;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_INTEGER) {
        clear_finish(c, -1);
        return;
    }
    c->cleared += reply->integer;
    if (c->scan_done)
        clear_finish(c, 0);
    else
        clear_step(c);
}

static void on_scan(int status, redisReply *reply, void *arg)
{
    clear_t *c = arg;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        clear_finish(c, -1);
        return;
    }
    snprintf(c->cursor, sizeof c->cursor, "%s", reply->element[0]->str);
    c->scan_done = strcmp(c->cursor, "0") == 0;
    redisReply *keys = reply->element[1];
    if (keys->elements == 0) {
        if (c->scan_done)
            clear_finish(c, 0);
        else
            clear_step(c);
        return;
    }
    size_t n = keys->elements + 1;
    const char **argv = malloc(n * sizeof *argv);
    size_t *argvlen = malloc(n * sizeof *argvlen);
    int rc = -1;
    if (argv != NULL && argvlen != NULL) {
        argv[0] = "UNLINK";
        argvlen[0] = 6;
        for (size_t i = 0; i < keys->elements; i++) {
            argv[i + 1] = keys->element[i]->str;
            argvlen[i + 1] = keys->element[i]->len;
        }
        redis_client_t *r = worker_redis(c->w);
        rc = r ? redis_client_command(r, on_unlink, c, (int)n, argv, argvlen) : -1;
    }
    free(argv);
    free(argvlen);
    if (rc != 0)
        clear_finish(c, -1);
}

static void clear_step(clear_t *c)
{
    const char *argv[] = {"SCAN", c->cursor, "MATCH", c->pattern, "COUNT", "1000"};
    size_t argvlen[] = {4, strlen(c->cursor), 5, strlen(c->pattern), 5, 4};
    redis_client_t *r = worker_redis(c->w);
    if (r == NULL || redis_client_command(r, on_scan, c, 6, argv, argvlen) != 0)
        clear_finish(c, -1);
}

void cache_clear(worker_t *w, cache_clear_fn fn, void *arg)
{
    clear_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        fn(-1, 0, arg);
        return;
    }
    c->w = w;
    c->fn = fn;
    c->arg = arg;
    snprintf(c->cursor, sizeof c->cursor, "0");
    if (cache_key_pattern(worker_config(w)->cache_key_prefix, c->pattern, sizeof c->pattern) < 0) {
        clear_finish(c, -1);
        return;
    }
    clear_step(c);
}
