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

/*
 * Keeping the cache coherent with writes. Every product key has a generation key beside it
 * ("gen:" + key) that holds the version of the newest committed change Redis has heard of. A write
 * (or a change notification) raises it before deleting or replacing the value; a reader that missed
 * remembers the generation it saw before reading PostgreSQL and stores its row only if the
 * generation is still the same (FILL_SCRIPT). So a reader that read a row before a commit can never
 * put it back after the commit's invalidation — the race that "delete after commit" alone leaves.
 * Versions come from the products.version column, raised by a trigger on every UPDATE under the
 * row's lock, so they follow commit order for one product.
 */
#define GEN_PREFIX "gen:"
/* Generation keys outlive the values they guard. */
#define GEN_TTL_EXTRA_SECONDS 60

/* KEYS: value, generation. ARGV: json, generation seen before the read ("" = none), ttl. */
static const char FILL_SCRIPT[] =
    "local g = redis.call('GET', KEYS[2]) or ''\n"
    "if g ~= ARGV[2] then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])\n"
    "return 1\n";

/*
 * KEYS: value, generation. ARGV: version, generation ttl, "always" or "newer". Raises the generation
 * to version and deletes the value; with "newer", does nothing unless version is newer than the
 * generation (a notification of a change this cache already applied).
 */
static const char INVALIDATE_SCRIPT[] =
    "local g = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "local v = tonumber(ARGV[1])\n"
    "if v > g then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])\n"
    "elseif ARGV[3] ~= 'always' then return 0 end\n"
    "return redis.call('DEL', KEYS[1]) + 1\n";

/*
 * KEYS: value, generation. ARGV: json, version, ttl, generation ttl. Stores the value unless a newer
 * version has already been seen (two writers whose Redis commands arrive out of commit order).
 */
static const char PUT_SCRIPT[] =
    "local g = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "local v = tonumber(ARGV[2])\n"
    "if v < g then return 0 end\n"
    "redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])\n"
    "return 1\n";

typedef struct {
    worker_t *w;        /* Loop the lookup runs on. */
    int32_t id;         /* Product id. */
    cache_lookup_fn fn; /* Caller's callback. */
    void *arg;          /* Caller's argument. */
    char key[192];      /* Redis key. */
    char gen_key[200];  /* Its generation key. */
    char gen[32];       /* Generation seen by the MGET ("" = none). */
    int gen_known;      /* 1 when the MGET answered, so a fill is safe. */
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
 * Stores the product if no write came in between (FILL_SCRIPT), then answers. Answering after the
 * store (one Redis round trip) means that a client's next read finds the key, whichever loop serves
 * it. When Redis fails or is slow, the answer still goes out, at the latest at the deadline.
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
    if (!l->use_redis || !l->gen_known || rc == NULL) {
        answer_stored(p);
        return;
    }
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", worker_config(l->w)->cache_ttl_seconds);
    const char *argv[] = {"EVAL", FILL_SCRIPT, "2", l->key, l->gen_key, json, l->gen, ttl};
    size_t argvlen[] = {4, sizeof FILL_SCRIPT - 1, 1, strlen(l->key), strlen(l->gen_key), len,
                        strlen(l->gen), strlen(ttl)};
    if (redis_client_command(rc, on_set_reply, p, 8, argv, argvlen) != 0) {
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
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2;
    if (ok && reply->element[0]->type == REDIS_REPLY_STRING) {
        stats_incr(STATS_HIT);
        finish(l, CACHE_FOUND, "cache", reply->element[0]->str, reply->element[0]->len);
        return;
    }
    if (ok) {
        redisReply *g = reply->element[1];
        snprintf(l->gen, sizeof l->gen, "%s", g->type == REDIS_REPLY_STRING ? g->str : "");
        l->gen_known = 1;
    } else {
        stats_incr(STATS_REDIS_ERROR);
        log_debug("redis MGET %s failed (status %d)", l->key, status);
    }
    from_database(l);
}

void cache_lookup_product(worker_t *w, int32_t id, cache_lookup_fn fn, void *arg)
{
    lookup_t *l = calloc(1, sizeof *l);
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
    snprintf(l->gen_key, sizeof l->gen_key, GEN_PREFIX "%s", l->key);

    redis_client_t *rc = worker_redis(w);
    if (!l->use_redis) {
        from_database(l);
        return;
    }
    /* The value and its generation in one round trip. */
    const char *argv[] = {"MGET", l->key, l->gen_key};
    size_t argvlen[] = {4, strlen(l->key), strlen(l->gen_key)};
    if (rc == NULL || redis_client_command(rc, on_get_reply, l, 3, argv, argvlen) != 0) {
        stats_incr(STATS_REDIS_ERROR);
        from_database(l);
    }
}

/* ---------------------------------------------------------------- writes --- */

typedef struct {
    cache_done_fn fn; /* Caller's callback. */
    void *arg;        /* Caller's argument. */
} write_op_t;

static void on_write_reply(int status, redisReply *reply, void *arg)
{
    write_op_t *op = arg;
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER;
    if (!ok)
        stats_incr(STATS_REDIS_ERROR);
    /* The scripts answer 0 when a newer change was already applied, else 1 or more. */
    op->fn(ok ? (reply->integer > 0 ? 1 : 0) : -1, op->arg);
    free(op);
}

/* Runs a script on the product's value and generation keys; fn(-1) when Redis failed. */
static void run_script(worker_t *w, int32_t id, const char *script, size_t script_len, int nargs,
                       const char **args, cache_done_fn fn, void *arg)
{
    const config_t *cfg = worker_config(w);
    redis_client_t *rc = worker_redis(w);
    write_op_t *op = malloc(sizeof *op);
    char key[192], gen_key[200];
    if (op == NULL || cfg->cache_bypass || rc == NULL ||
        cache_key_build(cfg->cache_key_prefix, id, key, sizeof key) < 0) {
        free(op);
        fn(cfg->cache_bypass ? 0 : -1, arg);
        return;
    }
    snprintf(gen_key, sizeof gen_key, GEN_PREFIX "%s", key);
    op->fn = fn;
    op->arg = arg;
    const char *argv[10] = {"EVAL", script, "2", key, gen_key};
    size_t argvlen[10] = {4, script_len, 1, strlen(key), strlen(gen_key)};
    for (int i = 0; i < nargs && i < 5; i++) {
        argv[5 + i] = args[i];
        argvlen[5 + i] = strlen(args[i]);
    }
    if (redis_client_command(rc, on_write_reply, op, 5 + nargs, argv, argvlen) != 0) {
        stats_incr(STATS_REDIS_ERROR);
        free(op);
        fn(-1, arg);
    }
}

void cache_invalidate(worker_t *w, int32_t id, long long version, int only_if_newer,
                      cache_done_fn fn, void *arg)
{
    char v[24], gen_ttl[16];
    snprintf(v, sizeof v, "%lld", version);
    snprintf(gen_ttl, sizeof gen_ttl, "%d",
             worker_config(w)->cache_ttl_seconds + GEN_TTL_EXTRA_SECONDS);
    const char *args[] = {v, gen_ttl, only_if_newer ? "newer" : "always"};
    run_script(w, id, INVALIDATE_SCRIPT, sizeof INVALIDATE_SCRIPT - 1, 3, args, fn, arg);
}

void cache_put(worker_t *w, int32_t id, long long version, const char *json, cache_done_fn fn,
               void *arg)
{
    char v[24], ttl[16], gen_ttl[16];
    int seconds = worker_config(w)->cache_ttl_seconds;
    snprintf(v, sizeof v, "%lld", version);
    snprintf(ttl, sizeof ttl, "%d", seconds);
    snprintf(gen_ttl, sizeof gen_ttl, "%d", seconds + GEN_TTL_EXTRA_SECONDS);
    const char *args[] = {json, v, ttl, gen_ttl};
    run_script(w, id, PUT_SCRIPT, sizeof PUT_SCRIPT - 1, 4, args, fn, arg);
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
