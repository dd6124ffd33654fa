/*
 * analytics — see analytics.h.
 */
#include "cache/analytics.h"

#include "core/analytics.h"
#include "core/clock.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bursts a loop lets wait for their replies before it drops new batches instead. */
#define MAX_BURSTS 4
/* Longest ranking a read returns. */
#define RANKING_MAX 100

/* One view in the batch. */
typedef struct {
    int32_t id;                          /* The product. */
    uint8_t len;                         /* Bytes of visitor. */
    char visitor[ANALYTICS_VISITOR_MAX]; /* Who viewed it (not NUL-terminated). */
} view_t;

struct analytics {
    struct event_base *base; /* The loop. */
    cache_t *cache;          /* Its Redis client, looked up at each burst. */
    struct event *timer;     /* Sends the batch ANALYTICS_FLUSH_MS after its first view. */
    view_t *views;           /* The batch: capacity views. */
    int capacity;            /* ANALYTICS_BATCH_MAX. */
    int count;               /* Views in the batch. */
    long long minute;        /* The minute of every view in the batch. */
    int bursts;              /* Bursts waiting for their replies. */
};

/* A burst on its way: answered when its last command is. */
typedef struct {
    analytics_t *a;  /* Whose burst. */
    int pending;     /* Commands not answered yet. */
    int failed;      /* 1 when one of them failed. */
    long long views; /* Views it carries. */
} burst_t;

/* ---------------------------------------------------------------- the batch --- */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    analytics_flush(arg);
}

int analytics_new(struct event_base *base, cache_t *cache, analytics_t **out)
{
    analytics_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return -1;
    a->base = base;
    a->cache = cache;
    a->capacity = cache_config(cache)->analytics_batch_max;
    a->views = calloc((size_t)a->capacity, sizeof *a->views);
    a->timer = evtimer_new(base, on_timer, a);
    if (a->views == NULL || a->timer == NULL) {
        analytics_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void analytics_free(analytics_t *a)
{
    if (a == NULL)
        return;
    analytics_add(ANALYTICS_DROPPED, (uint64_t)a->count);
    if (a->timer)
        event_free(a->timer);
    free(a->views);
    free(a);
}

void analytics_record(analytics_t *a, int32_t id, const char *visitor, size_t len)
{
    analytics_add(ANALYTICS_RECORDED, 1);
    if (len >= ANALYTICS_VISITOR_MAX) {
        analytics_add(ANALYTICS_DROPPED, 1);
        return;
    }
    long long minute = analytics_policy_minute(clock_wall_ms());
    if (a->count > 0 && minute != a->minute)
        analytics_flush(a); /* A burst is of one minute. */
    if (a->count == a->capacity) {
        /* Only when the flush above could not empty it: no Redis, or too many bursts waiting. */
        analytics_add(ANALYTICS_DROPPED, 1);
        return;
    }
    view_t *v = &a->views[a->count++];
    v->id = id;
    v->len = (uint8_t)len;
    memcpy(v->visitor, visitor, len);
    a->minute = minute;
    if (a->count == a->capacity) {
        analytics_flush(a);
    } else if (a->count == 1) {
        struct timeval tv = clock_ms_to_tv(cache_config(a->cache)->analytics_flush_ms);
        evtimer_add(a->timer, &tv);
    }
}

/* ---------------------------------------------------------------- bursts --- */

static void burst_done(burst_t *b)
{
    analytics_add(b->failed ? ANALYTICS_DROPPED : ANALYTICS_SENT, (uint64_t)b->views);
    b->a->bursts--;
    free(b);
}

static void on_burst_reply(int status, redisReply *reply, void *arg)
{
    burst_t *b = arg;
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR)
        b->failed = 1;
    if (--b->pending == 0)
        burst_done(b);
}

/* Sends one command of burst b (argv strings are NUL-terminated but for lengths given). */
static void send_command(redis_client_t *rc, burst_t *b, int argc, const char **argv,
                         const size_t *argvlen)
{
    if (redis_client_command(rc, on_burst_reply, b, argc, argv, argvlen) == 0) {
        b->pending++;
        analytics_add(ANALYTICS_COMMANDS, 1);
    } else {
        b->failed = 1;
    }
}

/* Sends a command of plain strings. */
static void send_strings(redis_client_t *rc, burst_t *b, int argc, const char **argv)
{
    size_t argvlen[8];
    for (int i = 0; i < argc; i++)
        argvlen[i] = strlen(argv[i]);
    send_command(rc, b, argc, argv, argvlen);
}

static int by_product(const void *x, const void *y)
{
    const view_t *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

/*
 * The commands of the views of one product (n views from v, sorted by product): its minute's
 * counter, its visitors, and its scores in the minute's and the all-time sorted sets. argv and
 * argvlen have room for n + 2 arguments.
 */
static void send_product(redis_client_t *rc, burst_t *b, long long minute, const view_t *v, int n,
                         const char **argv, size_t *argvlen)
{
    char key[ANALYTICS_KEY_MAX], count[24], member[16], ttl[24], minute_key[ANALYTICS_KEY_MAX];
    snprintf(count, sizeof count, "%d", n);
    snprintf(member, sizeof member, "%ld", (long)v->id);
    snprintf(ttl, sizeof ttl, "%lld", (long long)(ANALYTICS_RETENTION_MINUTES + 1) * 60000);
    if (analytics_policy_views_key(v->id, minute, key, sizeof key) < 0 ||
        analytics_policy_minute_key(minute, minute_key, sizeof minute_key) < 0) {
        b->failed = 1;
        return;
    }
    send_strings(rc, b, 3, (const char *[]){"INCRBY", key, count});
    send_strings(rc, b, 3, (const char *[]){"PEXPIRE", key, ttl});
    if (analytics_policy_visitors_key(v->id, key, sizeof key) < 0) {
        b->failed = 1;
        return;
    }
    argv[0] = "PFADD";
    argvlen[0] = 5;
    argv[1] = key;
    argvlen[1] = strlen(key);
    for (int i = 0; i < n; i++) {
        argv[2 + i] = v[i].visitor;
        argvlen[2 + i] = v[i].len;
    }
    send_command(rc, b, 2 + n, argv, argvlen);
    send_strings(rc, b, 4, (const char *[]){"ZINCRBY", minute_key, count, member});
    send_strings(rc, b, 4, (const char *[]){"ZINCRBY", ANALYTICS_TOTAL_KEY, count, member});
}

void analytics_flush(analytics_t *a)
{
    if (a->count == 0)
        return;
    evtimer_del(a->timer);
    int n = a->count;
    a->count = 0;
    redis_client_t *rc = cache_redis(a->cache);
    const char **argv = NULL;
    size_t *argvlen = NULL;
    burst_t *b = NULL;
    if (rc == NULL || !redis_client_is_up(rc) || a->bursts >= MAX_BURSTS ||
        (argv = malloc(((size_t)n + 2) * sizeof *argv)) == NULL ||
        (argvlen = malloc(((size_t)n + 2) * sizeof *argvlen)) == NULL ||
        (b = calloc(1, sizeof *b)) == NULL) {
        analytics_add(ANALYTICS_DROPPED, (uint64_t)n);
        free(argv);
        free(argvlen);
        return;
    }
    b->a = a;
    b->views = n;
    /* Held until every command is sent, so that an early answer cannot finish the burst. */
    b->pending = 1;
    a->bursts++;
    analytics_add(ANALYTICS_BURSTS, 1);
    qsort(a->views, (size_t)n, sizeof *a->views, by_product);
    for (int i = 0; i < n;) {
        int j = i + 1;
        while (j < n && a->views[j].id == a->views[i].id)
            j++;
        send_product(rc, b, a->minute, &a->views[i], j - i, argv, argvlen);
        i = j;
    }
    char minute_key[ANALYTICS_KEY_MAX], ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)(ANALYTICS_RETENTION_MINUTES + 1) * 60000);
    if (analytics_policy_minute_key(a->minute, minute_key, sizeof minute_key) >= 0)
        send_strings(rc, b, 3, (const char *[]){"PEXPIRE", minute_key, ttl});
    free(argv);
    free(argvlen);
    if (--b->pending == 0)
        burst_done(b);
}

/* ---------------------------------------------------------------- reads --- */

/*
 * Trending: KEYS[1] is the scratch key, KEYS[2..] the minutes' sets (newest first), ARGV their
 * weights and then the limit. The union lives only inside the script.
 */
static const char TRENDING_LUA[] =
    "local n = #KEYS - 1\n"
    "local args = {'ZUNIONSTORE', KEYS[1], n}\n"
    "for i = 2, #KEYS do args[#args + 1] = KEYS[i] end\n"
    "args[#args + 1] = 'WEIGHTS'\n"
    "for i = 1, n do args[#args + 1] = ARGV[i] end\n"
    "redis.call(unpack(args))\n"
    "local r = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[n + 1]) - 1, 'WITHSCORES')\n"
    "redis.call('DEL', KEYS[1])\n"
    "return r\n";

/* A product: KEYS are its minutes' counters (oldest first), then its visitors. */
static const char PRODUCT_LUA[] = "local out = {}\n"
                                  "for i = 1, #KEYS - 1 do\n"
                                  "  out[i] = tonumber(redis.call('GET', KEYS[i]) or '0')\n"
                                  "end\n"
                                  "out[#KEYS] = redis.call('PFCOUNT', KEYS[#KEYS])\n"
                                  "return out\n";

/* A ranking read waiting for its reply. */
typedef struct {
    analytics_items_fn fn; /* Who waits. */
    void *arg;             /* Its argument. */
} ranking_t;

static void on_ranking(int status, redisReply *reply, void *arg)
{
    ranking_t r = *(ranking_t *)arg;
    free(arg);
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_ARRAY) {
        r.fn(-1, NULL, 0, r.arg);
        return;
    }
    analytics_item_t items[RANKING_MAX];
    int n = 0;
    for (size_t i = 0; i + 1 < reply->elements && n < RANKING_MAX; i += 2) {
        const redisReply *m = reply->element[i], *s = reply->element[i + 1];
        if (m->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING)
            continue;
        items[n].id = (int32_t)strtol(m->str, NULL, 10);
        items[n].score = strtod(s->str, NULL);
        n++;
    }
    r.fn(0, items, n, r.arg);
}

/* Sends a command whose reply is a ranking. Returns 0, or -1 (fn will not be called). */
static int send_ranking(analytics_t *a, int argc, const char **argv, const size_t *argvlen,
                        analytics_items_fn fn, void *arg)
{
    redis_client_t *rc = cache_redis(a->cache);
    ranking_t *r = malloc(sizeof *r);
    if (rc == NULL || r == NULL) {
        free(r);
        return -1;
    }
    *r = (ranking_t){fn, arg};
    if (redis_client_command(rc, on_ranking, r, argc, argv, argvlen) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

int analytics_trending(analytics_t *a, int limit, int window, int half_life, analytics_items_fn fn,
                       void *arg)
{
    enum { MAX_ARGS = 4 + 2 * ANALYTICS_RETENTION_MINUTES + 1 };
    if (limit < 1 || limit > RANKING_MAX || window < 1 || window > ANALYTICS_RETENTION_MINUTES)
        return -1;
    char keys[ANALYTICS_RETENTION_MINUTES][ANALYTICS_KEY_MAX];
    char weights[ANALYTICS_RETENTION_MINUTES][32];
    char numkeys[8], count[8];
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    int argc = 0;
    long long now = analytics_policy_minute(clock_wall_ms());
    snprintf(numkeys, sizeof numkeys, "%d", window + 1);
    snprintf(count, sizeof count, "%d", limit);
    argv[argc++] = "EVAL";
    argv[argc++] = TRENDING_LUA;
    argv[argc++] = numkeys;
    argv[argc++] = ANALYTICS_SCRATCH_KEY;
    for (int i = 0; i < window; i++) {
        if (analytics_policy_minute_key(now - i, keys[i], sizeof keys[i]) < 0)
            return -1;
        argv[argc++] = keys[i];
    }
    for (int i = 0; i < window; i++) {
        /* %.17g: the weight Redis multiplies by is the double computed here. */
        snprintf(weights[i], sizeof weights[i], "%.17g", analytics_policy_weight(i, half_life));
        argv[argc++] = weights[i];
    }
    argv[argc++] = count;
    for (int i = 0; i < argc; i++)
        argvlen[i] = i == 1 ? sizeof TRENDING_LUA - 1 : strlen(argv[i]);
    return send_ranking(a, argc, argv, argvlen, fn, arg);
}

int analytics_leaderboard(analytics_t *a, int limit, analytics_items_fn fn, void *arg)
{
    if (limit < 1 || limit > RANKING_MAX)
        return -1;
    char stop[16];
    snprintf(stop, sizeof stop, "%d", limit - 1);
    const char *argv[] = {"ZREVRANGE", ANALYTICS_TOTAL_KEY, "0", stop, "WITHSCORES"};
    size_t argvlen[5];
    for (int i = 0; i < 5; i++)
        argvlen[i] = strlen(argv[i]);
    return send_ranking(a, 5, argv, argvlen, fn, arg);
}

/* A product read: two replies (the script's and the ZSCORE's) joined. */
typedef struct {
    analytics_product_fn fn; /* Who waits. */
    void *arg;               /* Its argument. */
    int pending;             /* Replies still to come. */
    int failed;              /* 1 when one of them failed. */
    analytics_product_t p;   /* What they said. */
} product_read_t;

static void product_reply_done(product_read_t *r)
{
    if (--r->pending > 0)
        return;
    r->fn(r->failed ? -1 : 0, r->failed ? NULL : &r->p, r->arg);
    free(r);
}

static void on_product_counts(int status, redisReply *reply, void *arg)
{
    product_read_t *r = arg;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements != (size_t)r->p.minutes + 1) {
        r->failed = 1;
    } else {
        for (int i = 0; i <= r->p.minutes; i++) {
            const redisReply *e = reply->element[i];
            long long v = e->type == REDIS_REPLY_INTEGER ? e->integer : 0;
            if (i < r->p.minutes)
                r->p.views[i] = v;
            else
                r->p.unique_visitors = v;
        }
    }
    product_reply_done(r);
}

static void on_product_total(int status, redisReply *reply, void *arg)
{
    product_read_t *r = arg;
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR)
        r->failed = 1;
    else if (reply->type == REDIS_REPLY_STRING)
        r->p.total_views = (long long)strtod(reply->str, NULL);
    product_reply_done(r);
}

int analytics_product(analytics_t *a, int32_t id, int minutes, analytics_product_fn fn, void *arg)
{
    enum { MAX_ARGS = 3 + ANALYTICS_RETENTION_MINUTES + 1 };
    redis_client_t *rc = cache_redis(a->cache);
    if (rc == NULL || minutes < 1 || minutes > ANALYTICS_RETENTION_MINUTES)
        return -1;
    char keys[ANALYTICS_RETENTION_MINUTES + 1][ANALYTICS_KEY_MAX];
    char numkeys[8], member[16];
    const char *argv[MAX_ARGS];
    size_t argvlen[MAX_ARGS];
    long long now = analytics_policy_minute(clock_wall_ms());
    int argc = 0;
    snprintf(numkeys, sizeof numkeys, "%d", minutes + 1);
    argv[argc++] = "EVAL";
    argv[argc++] = PRODUCT_LUA;
    argv[argc++] = numkeys;
    for (int i = 0; i < minutes; i++) {
        if (analytics_policy_views_key(id, now - (minutes - 1) + i, keys[i], sizeof keys[i]) < 0)
            return -1;
        argv[argc++] = keys[i];
    }
    if (analytics_policy_visitors_key(id, keys[minutes], sizeof keys[minutes]) < 0)
        return -1;
    argv[argc++] = keys[minutes];
    for (int i = 0; i < argc; i++)
        argvlen[i] = i == 1 ? sizeof PRODUCT_LUA - 1 : strlen(argv[i]);

    product_read_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -1;
    r->fn = fn;
    r->arg = arg;
    r->p.id = id;
    r->p.minutes = minutes;
    r->p.first_minute = now - (minutes - 1);
    if (redis_client_command(rc, on_product_counts, r, argc, argv, argvlen) != 0) {
        free(r);
        return -1;
    }
    r->pending = 1;
    snprintf(member, sizeof member, "%ld", (long)id);
    const char *zargv[] = {"ZSCORE", ANALYTICS_TOTAL_KEY, member};
    size_t zlen[] = {6, strlen(ANALYTICS_TOTAL_KEY), strlen(member)};
    if (redis_client_command(rc, on_product_total, r, 3, zargv, zlen) == 0)
        r->pending++;
    else
        r->failed = 1; /* The script's reply answers, as failed. */
    return 0;
}
