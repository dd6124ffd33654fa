/*
 * cache — see cache.h.
 */
#include "cache.h"

#include "cache_entry.h"
#include "lab.h"
#include "log.h"
#include "product.h"
#include "queries.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int cache_pending_key(const char *key, char *buf, size_t len)
{
    int n = snprintf(buf, len, "pending:%s", key);
    return (n < 0 || (size_t)n >= len) ? -1 : n;
}

int cache_gen_key(const char *key, char *buf, size_t len)
{
    int n = snprintf(buf, len, GEN_PREFIX "%s", key);
    return (n < 0 || (size_t)n >= len) ? -1 : n;
}

int cache_encode_value(const char *json, size_t len, char **out, size_t *outlen, int *redis_ttl)
{
    lab_settings_t lab;
    lab_get(&lab);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int ttl;
    if (json == NULL) {
        ttl = lab.negative_ttl_seconds;
        *redis_ttl = ttl;
    } else {
        /* drand48 is per process; the jitter needs spread, not unpredictability. */
        ttl = cache_entry_jittered_ttl(lab.ttl_seconds, lab.ttl_jitter_percent, cache_random());
        *redis_ttl = ttl + lab.stale_if_error_seconds;
    }
    return cache_entry_encode(now_ms + (long long)ttl * 1000, json, json ? len : 0, out, outlen);
}

double cache_random(void)
{
    static _Thread_local unsigned short state[3];
    static _Thread_local int seeded;
    if (!seeded) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state[0] = (unsigned short)ts.tv_nsec;
        state[1] = (unsigned short)(ts.tv_nsec >> 16);
        state[2] = (unsigned short)((uintptr_t)&seeded >> 4);
        seeded = 1;
    }
    return erand48(state);
}

/* ---------------------------------------------------------------- writes --- */

typedef struct {
    cache_done_fn fn;  /* Caller's callback. */
    void *arg;         /* Caller's argument. */
    char key[192];     /* The value key, for the fallback. */
    worker_t *w;       /* Loop. */
} write_op_t;

static void on_fallback_del(int status, redisReply *reply, void *arg)
{
    write_op_t *op = arg;
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER;
    op->fn(ok ? 1 : -1, op->arg);
    free(op);
}

static void on_write_reply(int status, redisReply *reply, void *arg)
{
    write_op_t *op = arg;
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        stats_incr(STATS_REDIS_ERROR);
        /*
         * Redis refused the script (typically out of memory: a script that writes is refused as a
         * whole) or did not answer. A plain DEL is still allowed when memory is full, and deleting
         * is always safe: the next read fills the key again, or cannot while memory is full.
         */
        redis_client_t *rc = status == REDIS_CLIENT_OK ? worker_redis(op->w) : NULL;
        const char *argv[] = {"DEL", op->key};
        size_t argvlen[] = {3, strlen(op->key)};
        if (rc != NULL && redis_client_command(rc, on_fallback_del, op, 2, argv, argvlen) == 0)
            return;
        op->fn(-1, op->arg);
        free(op);
        return;
    }
    /* The scripts answer 0 when a newer change was already applied, else 1 or more. */
    op->fn(reply->integer > 0 ? 1 : 0, op->arg);
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
    cache_gen_key(key, gen_key, sizeof gen_key);
    op->fn = fn;
    op->arg = arg;
    op->w = w;
    snprintf(op->key, sizeof op->key, "%s", key);
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
    lab_settings_t lab;
    lab_get(&lab);
    snprintf(gen_ttl, sizeof gen_ttl, "%d",
             lab.ttl_seconds + lab.ttl_jitter_percent * lab.ttl_seconds / 100 +
                 lab.stale_if_error_seconds + GEN_TTL_EXTRA_SECONDS);
    const char *args[] = {v, gen_ttl, only_if_newer ? "newer" : "always"};
    run_script(w, id, INVALIDATE_SCRIPT, sizeof INVALIDATE_SCRIPT - 1, 3, args, fn, arg);
}

void cache_put(worker_t *w, int32_t id, long long version, const char *json, cache_done_fn fn,
               void *arg)
{
    char v[24], ttl[16], gen_ttl[16];
    char *value = NULL;
    size_t value_len;
    int redis_ttl;
    if (cache_encode_value(json, strlen(json), &value, &value_len, &redis_ttl) != 0) {
        fn(-1, arg);
        return;
    }
    snprintf(v, sizeof v, "%lld", version);
    snprintf(ttl, sizeof ttl, "%d", redis_ttl);
    snprintf(gen_ttl, sizeof gen_ttl, "%d", redis_ttl + GEN_TTL_EXTRA_SECONDS);
    const char *args[] = {value, v, ttl, gen_ttl};
    run_script(w, id, PUT_SCRIPT, sizeof PUT_SCRIPT - 1, 4, args, fn, arg);
    free(value);
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
