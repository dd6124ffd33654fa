/*
 * cache — see cache.h.
 */
#include "cache/cache.h"

#include "cache/cache_internal.h"

#include "model/cache_entry.h"
#include "core/lab.h"
#include "core/log.h"
#include "model/product.h"
#include "store/queries.h"
#include "core/stats.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Keeping the cache coherent with writes. Every product key has a generation key beside it
 * ("{" + key + "}:gen") that holds the version of the newest committed change Redis has heard of. A
 * write (or a change notification) raises it before deleting or replacing the value; a reader that
 * missed remembers the generation it saw before reading PostgreSQL and stores its row only if the
 * generation is still the same (the fill script in cache_lookup.c). So a reader that read a row
 * before a commit can never put it back after the commit's invalidation — the race that "delete
 * after commit" alone leaves. Versions come from the products.version column, raised by a trigger
 * on every UPDATE under the row's lock, so they follow commit order for one product.
 *
 * The scripts take the keys of cache_keys_t in this order: value, gen, stale, fresh, lock.
 */
/* Generation keys outlive the values they guard. */
#define GEN_TTL_EXTRA_SECONDS 60
#define SCRIPT_KEYS 5

/*
 * ARGV: version, generation ttl (s), "always" or "newer". Raises the generation to version and
 * deletes the value, its stale copy, its refresh marker and any loader's lock (a loader that read
 * before this change must not hand its row to waiting lookups); with "newer", does nothing unless
 * version is newer than the generation (a notification of a change this cache already applied).
 */
static const char INVALIDATE_SCRIPT[] =
    CACHE_LUA_NUMBER "local g = number(KEYS[2])\n"
                     "local v = tonumber(ARGV[1])\n"
                     "if v > g then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])\n"
                     "elseif ARGV[3] ~= 'always' then return 0 end\n"
                     "redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])\n"
                     "return redis.call('DEL', KEYS[1]) + 1\n";

/*
 * ARGV: json, version, ttl ms, generation ttl (s), stale ms, fresh ms. Stores the value unless a
 * newer version has already been seen (two writers whose Redis commands arrive out of commit
 * order).
 */
static const char PUT_SCRIPT[] = CACHE_LUA_NUMBER CACHE_LUA_STORE
    "local g = number(KEYS[2])\n"
    "local v = tonumber(ARGV[2])\n"
    "if v < g then return 0 end\n"
    "redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])\n"
    "store(KEYS[1], KEYS[3], KEYS[4], ARGV[1], ARGV[3], ARGV[5], ARGV[6])\n"
    "redis.call('DEL', KEYS[5])\n"
    "return 1\n";

/*
 * Key names are built on every lookup: by hand, since snprintf's format parsing costs more than
 * the lookup's own scanning of the value.
 */
int cache_key_build(const char *prefix, int32_t id, char *buf, size_t len)
{
    char digits[12];
    size_t nd = 0;
    uint32_t v = id < 0 ? (uint32_t)0 - (uint32_t)id : (uint32_t)id;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (id < 0)
        digits[nd++] = '-';
    size_t np = strlen(prefix);
    if (np + nd + 1 > len)
        return -1;
    memcpy(buf, prefix, np);
    for (size_t i = 0; i < nd; i++)
        buf[np + i] = digits[nd - 1 - i];
    buf[np + nd] = '\0';
    return (int)(np + nd);
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

int cache_aux_key(const char *kind, const char *key, char *buf, size_t len)
{
    size_t nk = strlen(kind), n = strlen(key);
    if (1 + n + 2 + nk + 1 > len)
        return -1;
    buf[0] = '{';
    memcpy(buf + 1, key, n + 1); /* With its NUL, which the closing brace replaces. */
    buf[1 + n] = '}';
    buf[2 + n] = ':';
    memcpy(buf + 3 + n, kind, nk + 1);
    return (int)(3 + n + nk);
}

int cache_pending_key(const char *key, char *buf, size_t len)
{
    return cache_aux_key("pending", key, buf, len);
}

int cache_keys_build(const char *prefix, int32_t id, cache_keys_t *keys)
{
    if (cache_key_build(prefix, id, keys->value, sizeof keys->value) < 0 ||
        cache_aux_key("gen", keys->value, keys->gen, sizeof keys->gen) < 0 ||
        cache_aux_key("stale", keys->value, keys->stale, sizeof keys->stale) < 0 ||
        cache_aux_key("fresh", keys->value, keys->fresh, sizeof keys->fresh) < 0 ||
        cache_aux_key("lock", keys->value, keys->lock, sizeof keys->lock) < 0 ||
        cache_pending_key(keys->value, keys->pending, sizeof keys->pending) < 0)
        return -1;
    return 0;
}

void cache_ttl_plan(cache_t *cache, int found, double refresh_ms, int ttl_s, cache_ttl_t *out)
{
    lab_settings_t lab;
    lab_get(&lab);
    long long ttl_ms, stale_ms = 0, fresh_ms = 0;
    if (ttl_s > 0) {
        ttl_ms = ttl_s * 1000LL;
    } else if (!found) {
        ttl_ms = lab.negative_ttl_seconds * 1000LL;
    } else {
        /* drand48 is per process; the jitter needs spread, not unpredictability. */
        ttl_ms =
            cache_entry_jittered_ttl(lab.ttl_seconds, lab.ttl_jitter_percent, cache_random(cache)) *
            1000LL;
    }
    if (found && lab.stale_if_error_seconds > 0)
        stale_ms = ttl_ms + lab.stale_if_error_seconds * 1000LL;
    if (found && lab.refresh_ahead)
        fresh_ms = cache_entry_fresh_ms(ttl_ms, lab.refresh_window_percent, refresh_ms, 1.0,
                                        1.0 - cache_random(cache));
    snprintf(out->ttl, sizeof out->ttl, "%lld", ttl_ms < 1 ? 1 : ttl_ms);
    snprintf(out->stale, sizeof out->stale, "%lld", stale_ms);
    snprintf(out->fresh, sizeof out->fresh, "%lld", fresh_ms);
}

/* ---------------------------------------------------------------- answers --- */

/* Each answer's source and X-Cache value, by cache_answer_t. */
static const struct {
    metrics_source_t source; /* Where it came from. */
    const char *xcache;      /* nginx's vocabulary. */
    const char *level;       /* The cache level of a hit; NULL for other answers. */
} ANSWERS[] = {
    [CACHE_ANSWER_HIT] = {METRICS_SOURCE_CACHE, "HIT", "L2"},
    [CACHE_ANSWER_L1_HIT] = {METRICS_SOURCE_CACHE, "HIT", "L1"},
    [CACHE_ANSWER_MISS] = {METRICS_SOURCE_DATABASE, "MISS", NULL},
    [CACHE_ANSWER_STALE] = {METRICS_SOURCE_STALE, "STALE", NULL},
    [CACHE_ANSWER_BYPASS] = {METRICS_SOURCE_DATABASE, "BYPASS", NULL},
};

metrics_source_t cache_answer_source(cache_answer_t answer)
{
    assert((size_t)answer < sizeof ANSWERS / sizeof ANSWERS[0]);
    return ANSWERS[answer].source;
}

const char *cache_answer_xcache(cache_answer_t answer)
{
    assert((size_t)answer < sizeof ANSWERS / sizeof ANSWERS[0]);
    return ANSWERS[answer].xcache;
}

const char *cache_answer_level(cache_answer_t answer)
{
    assert((size_t)answer < sizeof ANSWERS / sizeof ANSWERS[0]);
    return ANSWERS[answer].level;
}

/* ---------------------------------------------------------------- the loop's cache --- */

int cache_new(struct event_base *base, const config_t *cfg, cache_t **out)
{
    cache_t *cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return -1;
    cache->base = base;
    cache->cfg = cfg;
    cache->load_ms_avg = 1.0;
    /* The jitter and the tokens need spread, not unpredictability: time and address seed it. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    cache->rand_state[0] = (unsigned short)ts.tv_nsec;
    cache->rand_state[1] = (unsigned short)(ts.tv_nsec >> 16);
    cache->rand_state[2] = (unsigned short)((uintptr_t)cache >> 4);
    if (near_cache_new(base, cfg, &cache->near) != 0) {
        free(cache);
        return -1;
    }
    *out = cache;
    return 0;
}

void cache_free(cache_t *cache)
{
    if (cache == NULL)
        return;
    for (int i = 0; i < CACHE_FLIGHT_BUCKETS; i++)
        assert(cache->flights[i] == NULL); /* No lookup may outlive its loop's cache. */
    near_cache_free(cache->near);
    free(cache);
}

void cache_set_backends(cache_t *cache, redis_client_t *redis, pg_pool_t *pg)
{
    cache->redis = redis;
    cache->pg = pg;
    near_cache_attach(cache->near, redis);
}

void cache_near_drop(cache_t *cache, int32_t id)
{
    near_cache_drop(cache->near, id);
}

struct event_base *cache_base(const cache_t *cache)
{
    return cache->base;
}

const config_t *cache_config(const cache_t *cache)
{
    return cache->cfg;
}

redis_client_t *cache_redis(const cache_t *cache)
{
    return cache->redis;
}

pg_pool_t *cache_pg(const cache_t *cache)
{
    return cache->pg;
}

double cache_random(cache_t *cache)
{
    return erand48(cache->rand_state);
}

/* ---------------------------------------------------------------- writes --- */

typedef struct {
    cache_done_fn fn; /* Caller's callback. */
    void *arg;        /* Caller's argument. */
    char key[192];    /* The value key, for the fallback. */
    cache_t *cache;   /* Loop. */
    int32_t id;       /* Product. */
} write_op_t;

static void on_fallback_del(int status, redisReply *reply, void *arg)
{
    write_op_t *op = arg;
    near_cache_drop(op->cache->near, op->id);
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER;
    op->fn(ok ? CACHE_WRITE_APPLIED : CACHE_WRITE_FAILED, op->arg);
    free(op);
}

static void on_write_reply(int status, redisReply *reply, void *arg)
{
    write_op_t *op = arg;
    /*
     * Again after Redis applied it: a read of this loop sent before the write may have filled the
     * near cache with the old value since (its reply came first on the same connection).
     */
    near_cache_drop(op->cache->near, op->id);
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        stats_incr(STATS_REDIS_ERROR);
        /*
         * Redis refused the script (typically out of memory: a script that writes is refused as a
         * whole) or did not answer. A plain DEL is still allowed when memory is full, and deleting
         * is always safe: the next read fills the key again, or cannot while memory is full.
         */
        redis_client_t *rc = status == REDIS_CLIENT_OK ? cache_redis(op->cache) : NULL;
        const char *argv[] = {"DEL", op->key};
        size_t argvlen[] = {3, strlen(op->key)};
        if (rc != NULL && redis_client_command(rc, on_fallback_del, op, 2, argv, argvlen) == 0)
            return;
        op->fn(CACHE_WRITE_FAILED, op->arg);
        free(op);
        return;
    }
    /* The scripts answer 0 when a newer change was already applied, else 1 or more. */
    op->fn(reply->integer > 0 ? CACHE_WRITE_APPLIED : CACHE_WRITE_SKIPPED, op->arg);
    free(op);
}

/* Runs a script on the product's keys (SCRIPT_KEYS of them); CACHE_WRITE_FAILED when Redis failed.
 */
static void run_script(cache_t *cache, int32_t id, const char *script, size_t script_len, int nargs,
                       const char **args, cache_done_fn fn, void *arg)
{
    enum { MAX_ARGS = 6 };
    assert(nargs <= MAX_ARGS);
    const config_t *cfg = cache_config(cache);
    redis_client_t *rc = cache_redis(cache);
    near_cache_drop(cache->near, id); /* At once: this loop never answers the old value again. */
    write_op_t *op = malloc(sizeof *op);
    cache_keys_t keys;
    if (op == NULL || cfg->cache_bypass || rc == NULL ||
        cache_keys_build(cfg->cache_key_prefix, id, &keys) != 0) {
        free(op);
        fn(cfg->cache_bypass ? CACHE_WRITE_SKIPPED : CACHE_WRITE_FAILED, arg);
        return;
    }
    op->fn = fn;
    op->arg = arg;
    op->cache = cache;
    op->id = id;
    snprintf(op->key, sizeof op->key, "%s", keys.value);
    const char *argv[3 + SCRIPT_KEYS + MAX_ARGS] = {"EVAL",   script,     "5",        keys.value,
                                                    keys.gen, keys.stale, keys.fresh, keys.lock};
    size_t argvlen[3 + SCRIPT_KEYS + MAX_ARGS];
    int argc = 3 + SCRIPT_KEYS;
    for (int i = 0; i < nargs; i++)
        argv[argc++] = args[i];
    for (int i = 0; i < argc; i++)
        argvlen[i] = i == 1 ? script_len : strlen(argv[i]);
    if (redis_client_command(rc, on_write_reply, op, argc, argv, argvlen) != 0) {
        stats_incr(STATS_REDIS_ERROR);
        free(op);
        fn(CACHE_WRITE_FAILED, arg);
    }
}

/* A generation key outlives the longest-lived value or stale copy stored before it moved. */
static int gen_ttl_seconds(void)
{
    lab_settings_t lab;
    lab_get(&lab);
    return lab.ttl_seconds + lab.ttl_jitter_percent * lab.ttl_seconds / 100 +
           lab.stale_if_error_seconds + GEN_TTL_EXTRA_SECONDS;
}

void cache_invalidate(cache_t *cache, int32_t id, long long version, int only_if_newer,
                      cache_done_fn fn, void *arg)
{
    char v[24], gen_ttl[16];
    snprintf(v, sizeof v, "%lld", version);
    snprintf(gen_ttl, sizeof gen_ttl, "%d", gen_ttl_seconds());
    const char *args[] = {v, gen_ttl, only_if_newer ? "newer" : "always"};
    run_script(cache, id, INVALIDATE_SCRIPT, sizeof INVALIDATE_SCRIPT - 1, 3, args, fn, arg);
}

void cache_put(cache_t *cache, int32_t id, long long version, const char *json, cache_done_fn fn,
               void *arg)
{
    char v[24], gen_ttl[16];
    cache_ttl_t ttl = {{0}, {0}, {0}};
    cache_ttl_plan(cache, 1, 0.0, 0, &ttl);
    snprintf(v, sizeof v, "%lld", version);
    snprintf(gen_ttl, sizeof gen_ttl, "%d", gen_ttl_seconds());
    const char *args[] = {json, v, ttl.ttl, gen_ttl, ttl.stale, ttl.fresh};
    run_script(cache, id, PUT_SCRIPT, sizeof PUT_SCRIPT - 1, 6, args, fn, arg);
}

/* ---------------------------------------------------------------- clear --- */

typedef struct {
    cache_t *cache;    /* Loop. */
    cache_clear_fn fn; /* Caller's callback. */
    void *arg;         /* Caller's argument. */
    char cursor[32];   /* SCAN cursor. */
    char pattern[300]; /* MATCH pattern of the current phase. */
    long long cleared; /* Product keys removed so far. */
    int scan_done;     /* 1 once SCAN returned cursor 0. */
    int phase;         /* Index in CLEAR_KINDS. */
    int node;          /* The server being scanned (redis_client_command_node). */
    int nodes;         /* How many there are: one, or the masters of a cluster. */
    int outstanding;   /* Scripts of the current batch not answered yet. */
    int failed;        /* 1 once one of them failed. */
} clear_t;

static void clear_step(clear_t *c);

static void clear_finish(clear_t *c, int status)
{
    near_cache_flush(c->cache->near); /* The keys' messages tell the other loops. */
    if (status != 0)
        stats_incr(STATS_REDIS_ERROR);
    c->fn(status, c->cleared, c->arg);
    free(c);
}

/*
 * The keys a clear removes, one SCAN each, on every server that holds keys (every master of a
 * cluster). First the product keys (the count the caller gets), each removed in one script together
 * with its refresh marker, stale copy and lock (which may hold a value just loaded, for the lookups
 * waiting on it): a value never stays without its marker, which would make its next hit start a
 * refresh. Then those companions whose value is gone (stale copies outlive values) — but not the
 * companions of a value stored again since the first phase. Generation keys stay: they guard
 * against readers still in flight. A companion is "{<product key>}:<kind>" (cache_aux_key).
 */
static const char *const CLEAR_KINDS[] = {NULL, "stale", "fresh", "lock"};
#define CLEAR_PHASES (int)(sizeof CLEAR_KINDS / sizeof CLEAR_KINDS[0])
#define CLEAR_VALUES_PHASE 0
/* The companions removed with each product key. */
#define NCOMPANIONS 3
static const char *const COMPANIONS[NCOMPANIONS] = {"fresh", "stale", "lock"};
/* Longest key name the clear builds or handles. */
#define CLEAR_KEY_MAX 200

/*
 * KEYS: pairs of a companion and its product key. Removes the companions whose product key does
 * not exist (SETRANGE with an empty string: the length, uncounted, unchanged). Every key is
 * declared, and a pair shares a hash slot, so a cluster runs it wherever the pairs' slot is.
 */
static const char LEFTOVER_SCRIPT[] = "local n = 0\n"
                                      "for i = 1, #KEYS, 2 do\n"
                                      "  if redis.call('SETRANGE', KEYS[i + 1], 0, '') == 0 then\n"
                                      "    n = n + redis.call('UNLINK', KEYS[i])\n"
                                      "  end\n"
                                      "end\n"
                                      "return n\n";

/* KEYS: ARGV[1] product keys, then their companions. Returns how many product keys it removed. */
static const char CLEAR_SCRIPT[] = "local n = tonumber(ARGV[1])\n"
                                   "local removed = redis.call('UNLINK', unpack(KEYS, 1, n))\n"
                                   "redis.call('UNLINK', unpack(KEYS, n + 1))\n"
                                   "return removed\n";

/* Starts phase c->phase: its pattern, cursor 0. Returns 0, or -1 when the pattern does not fit. */
static int clear_phase(clear_t *c)
{
    const char *prefix = cache_config(c->cache)->cache_key_prefix;
    snprintf(c->cursor, sizeof c->cursor, "0");
    c->scan_done = 0;
    if (CLEAR_KINDS[c->phase] == NULL) /* The product keys: prefix*. */
        return cache_key_pattern(prefix, c->pattern, sizeof c->pattern) < 0 ? -1 : 0;
    /* Companions: {prefix*}:kind (braces are not special in a SCAN pattern). */
    int n = cache_key_pattern(prefix, c->pattern + 1, sizeof c->pattern - 1);
    if (n < 0)
        return -1;
    c->pattern[0] = '{';
    size_t used = (size_t)n + 1;
    int m = snprintf(c->pattern + used, sizeof c->pattern - used, "}:%s", CLEAR_KINDS[c->phase]);
    return m < 0 || (size_t)m >= sizeof c->pattern - used ? -1 : 0;
}

/* The current SCAN is over: the next phase, the next server, or the end. */
static void clear_next(clear_t *c)
{
    if (++c->phase == CLEAR_PHASES) {
        c->phase = 0;
        if (++c->node >= c->nodes) {
            clear_finish(c, 0);
            return;
        }
    }
    if (clear_phase(c) != 0) {
        clear_finish(c, -1);
        return;
    }
    clear_step(c);
}

/* One script of the batch is answered (or the batch is all sent): go on after the last. */
static void clear_settle(clear_t *c)
{
    if (--c->outstanding > 0)
        return;
    if (c->failed)
        clear_finish(c, -1);
    else if (c->scan_done)
        clear_next(c);
    else
        clear_step(c);
}

static void on_unlink(int status, redisReply *reply, void *arg)
{
    clear_t *c = arg;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_INTEGER)
        c->failed = 1;
    else if (c->phase == CLEAR_VALUES_PHASE)
        c->cleared += reply->integer;
    clear_settle(c);
}

/* One key of a SCAN batch, with the hash slot that says which script it goes in. */
typedef struct {
    const redisReply *key; /* The key SCAN returned. */
    int slot;              /* Its slot (0 on a single server). */
} clear_key_t;

static int by_slot(const void *a, const void *b)
{
    const clear_key_t *x = a, *y = b;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/*
 * Sends one script for keys[0..n) (all of one slot): for the product keys, the script that removes
 * each with its companions; for the companions' phases, the script that removes those left without
 * their value. Returns 0 when it was sent.
 */
static int clear_script(clear_t *c, const clear_key_t *keys, size_t n)
{
    int values = c->phase == CLEAR_VALUES_PHASE;
    size_t per_key = values ? 1 + NCOMPANIONS : 2;
    size_t head = 3; /* EVAL script numkeys */
    size_t argc = head + n * per_key + (values ? 1 : 0);
    const char **argv = malloc(argc * sizeof *argv);
    size_t *argvlen = malloc(argc * sizeof *argvlen);
    char *names = malloc(n * NCOMPANIONS * CLEAR_KEY_MAX);
    char numkeys[24], count[24];
    int rc = -1;
    if (argv == NULL || argvlen == NULL || names == NULL)
        goto out;
    snprintf(numkeys, sizeof numkeys, "%zu", n * per_key);
    snprintf(count, sizeof count, "%zu", n);
    size_t a = 0;
    argv[a] = "EVAL";
    argvlen[a++] = 4;
    argv[a] = values ? CLEAR_SCRIPT : LEFTOVER_SCRIPT;
    argvlen[a++] = values ? sizeof CLEAR_SCRIPT - 1 : sizeof LEFTOVER_SCRIPT - 1;
    argv[a] = numkeys;
    argvlen[a++] = strlen(numkeys);
    if (values) {
        for (size_t i = 0; i < n; i++) {
            argv[a] = keys[i].key->str;
            argvlen[a++] = keys[i].key->len;
        }
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < NCOMPANIONS; k++) {
                char *name = names + (i * NCOMPANIONS + k) * CLEAR_KEY_MAX;
                int len = cache_aux_key(COMPANIONS[k], keys[i].key->str, name, CLEAR_KEY_MAX);
                if (len < 0)
                    goto out;
                argv[a] = name;
                argvlen[a++] = (size_t)len;
            }
        }
        argv[a] = count;
        argvlen[a++] = strlen(count);
    } else {
        /* "{<key>}:<kind>" → <key>: what lies between the first brace and the last "}:". */
        size_t suffix = 2 + strlen(CLEAR_KINDS[c->phase]);
        for (size_t i = 0; i < n; i++) {
            const redisReply *k = keys[i].key;
            char *name = names + i * NCOMPANIONS * CLEAR_KEY_MAX;
            if (k->len < 1 + suffix || k->len - 1 - suffix >= CLEAR_KEY_MAX)
                goto out;
            size_t len = k->len - 1 - suffix;
            memcpy(name, k->str + 1, len);
            name[len] = '\0';
            argv[a] = k->str;
            argvlen[a++] = k->len;
            argv[a] = name;
            argvlen[a++] = len;
        }
    }
    assert(a == argc);
    redis_client_t *r = cache_redis(c->cache);
    rc = r ? redis_client_command(r, on_unlink, c, (int)argc, argv, argvlen) : -1;
out:
    free(argv);
    free(argvlen);
    free(names);
    return rc;
}

/*
 * Removes one SCAN batch: one script per hash slot among its keys (one script in all on a single
 * server), since a cluster runs a script only on keys of one slot. Returns 0 when every script was
 * sent; on_unlink goes on once they are all answered.
 */
static int clear_batch(clear_t *c, const redisReply *keys)
{
    size_t n = keys->elements;
    clear_key_t *list = malloc(n * sizeof *list);
    if (list == NULL)
        return -1;
    redis_client_t *r = cache_redis(c->cache);
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = keys->element[i];
        if (k->type != REDIS_REPLY_STRING || r == NULL) {
            free(list);
            return -1;
        }
        list[i].key = k;
        list[i].slot = redis_client_key_slot(r, k->str, k->len);
    }
    qsort(list, n, sizeof *list, by_slot);
    /* One count for the whole batch while it is sent, so no reply can end it early. */
    c->outstanding = 1;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && list[j].slot == list[i].slot)
            j++;
        if (clear_script(c, list + i, j - i) == 0)
            c->outstanding++;
        else
            c->failed = 1;
        i = j;
    }
    free(list);
    clear_settle(c); /* The batch's own count: the last answer (or this, if none is due) goes on. */
    return 0;
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
            clear_next(c);
        else
            clear_step(c);
        return;
    }
    if (clear_batch(c, keys) != 0)
        clear_finish(c, -1);
}

static void clear_step(clear_t *c)
{
    /* A batch of about 500 keys keeps the clear script's key list well inside Lua's stack. */
    const char *argv[] = {"SCAN", c->cursor, "MATCH", c->pattern, "COUNT", "500"};
    size_t argvlen[] = {4, strlen(c->cursor), 5, strlen(c->pattern), 5, 3};
    redis_client_t *r = cache_redis(c->cache);
    if (r == NULL || redis_client_command_node(r, c->node, on_scan, c, 6, argv, argvlen) != 0)
        clear_finish(c, -1);
}

void cache_clear(cache_t *cache, cache_clear_fn fn, void *arg)
{
    clear_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        fn(-1, 0, arg);
        return;
    }
    c->cache = cache;
    c->fn = fn;
    c->arg = arg;
    redis_client_t *r = cache_redis(cache);
    c->nodes = r != NULL ? redis_client_node_count(r) : 1;
    if (clear_phase(c) != 0) {
        clear_finish(c, -1);
        return;
    }
    clear_step(c);
}
