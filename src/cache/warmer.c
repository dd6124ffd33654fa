/*
 * warmer — see warmer.h.
 *
 * A run goes through these steps, each a section below:
 *
 *   READY   wait until Redis and PostgreSQL are up: at most 10 s at start-up, 2 s for a request.
 *   SOURCE  "all": count the products (the total); "top:N": read the leaderboard (no views: the
 *           run ends at once, done, having warmed nothing, and says why).
 *   PACE    take a page's worth of tokens from the bucket (CACHE_WARM_RATE per second, holding at
 *           most a page), or wait until the bucket has them.
 *   IDS     "all": the next page of ids after the last one (by key); "top:N": the next slice.
 *   PEEK    for each id, its generation and whether its value is cached, in one uncounted script.
 *   ROWS    the rows of the ids not cached, in one query.
 *   FILL    store each row unless its generation moved (cache_fill_product); then PACE again.
 *
 * Why the generation is read before the row: a write commits, then raises the generation and
 * deletes the value. A row read after the generation is either the newest (the write committed
 * before the read) or older, and then the write's raise comes after the read of the generation, so
 * the store is refused. Reading the row first would leave a gap where an old row is stored under
 * the new generation. It is the order a miss keeps (cache_lookup.c, CLAIM before LOAD).
 */
#include "cache/warmer.h"

#include "core/clock.h"
#include "core/config.h"
#include "core/lab.h"
#include "core/log.h"
#include "core/stats.h"
#include "model/product.h"
#include "store/queries.h"

#include <assert.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Products in a page at most (also the leaderboard's limit: CONFIG_WARM_TOP_MAX). */
#define PAGE_MAX 100
/*
 * How long a run waits for Redis and PostgreSQL to be up, and how often it looks: at start-up the
 * loop's connections are still being made; a request may come to a loop whose pool is reconnecting.
 */
#define READY_WAIT_STARTUP_MS 10000
#define READY_WAIT_REQUEST_MS 2000
#define READY_POLL_MS 100
/* Progress events at most this often (the last page's figures always go out with "done"). */
#define PUBLISH_MS 200

/*
 * KEYS: value, generation. Whether the value key exists (SETRANGE with an empty string only
 * reports a string's length, and is not a keyspace lookup Redis counts) and the generation.
 */
static const char PEEK_SCRIPT[] =
    CACHE_LUA_NUMBER "return {redis.call('SETRANGE', KEYS[1], 0, ''), number(KEYS[2])}\n";

struct warmer {
    struct event_base *base; /* The loop. */
    cache_t *cache;          /* Its cache: Redis, PostgreSQL, settings. */
    analytics_t *analytics;  /* Its analytics: the leaderboard of top:N. */
    struct event *timer;     /* READY and PACE waits. */
    int active;              /* 1 while a run of this loop is under way. */
    int stopping;            /* 1 once warmer_stop was called. */
    int kind;                /* config_warm_kind_t of the run. */
    int top;                 /* N of top:N. */
    int rate;                /* Products per second. */
    int page;                /* Products per page: min(PAGE_MAX, rate). */
    warm_status_t st;        /* The run's figures, reported to core/warm. */
    long long started_mono;  /* Monotonic ms of the start. */
    long long ready_until;   /* Monotonic ms when READY gives up. */
    long long last_publish;  /* Monotonic ms of the last progress event. */
    double tokens;           /* The bucket's tokens. */
    long long refilled_ms;   /* Monotonic ms of its last refill. */
    int32_t after;           /* "all": the last id handled. */
    int32_t board[PAGE_MAX]; /* "top:N": the leaderboard's ids, most viewed first. */
    int board_n;             /* How many it gave. */
    int board_pos;           /* How many of them were handled. */
    int32_t ids[PAGE_MAX];   /* The page. */
    int n;                   /* Its size. */
    int cached[PAGE_MAX];    /* PEEK: 1 when the value exists. */
    char gens[PAGE_MAX][24]; /* PEEK: the generation. */
    int due;                 /* Replies still to come for the step (PEEK, FILL). */
    int redis_failed;        /* PEEK: a reply was an error. */
    int last_page;           /* 1 when no page follows this one. */
};

static void ready(warmer_t *w);
static void pace(warmer_t *w);
static void page_done(warmer_t *w);

/* ---------------------------------------------------------------- life cycle --- */

int warmer_new(struct event_base *base, cache_t *cache, analytics_t *analytics, warmer_t **out)
{
    warmer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return -1;
    w->base = base;
    w->cache = cache;
    w->analytics = analytics;
    *out = w;
    return 0;
}

static void update_elapsed(warmer_t *w)
{
    w->st.elapsed_ms = clock_monotonic_ms() - w->started_mono;
}

/* Ends the run: done, or failed (reason says why; may also explain a done run). */
static void finish(warmer_t *w, int failed, const char *reason)
{
    if (!w->active)
        return;
    w->active = 0;
    if (w->timer != NULL)
        event_del(w->timer);
    update_elapsed(w);
    warm_finish(&w->st, failed, reason);
    if (failed)
        log_warn("cache warm %llu (%s) failed after %lld ms: %s; warmed %lld, skipped %lld",
                 (unsigned long long)w->st.run, w->st.mode, w->st.elapsed_ms, reason, w->st.warmed,
                 w->st.skipped);
    else
        log_info("cache warm %llu (%s) done in %lld ms: warmed %lld, skipped %lld, failed %lld%s%s",
                 (unsigned long long)w->st.run, w->st.mode, w->st.elapsed_ms, w->st.warmed,
                 w->st.skipped, w->st.failed, reason[0] != '\0' ? "; " : "", reason);
}

void warmer_free(warmer_t *w)
{
    if (w == NULL)
        return;
    finish(w, 1, "shutting down");
    if (w->timer != NULL)
        event_free(w->timer);
    free(w);
}

void warmer_stop(warmer_t *w)
{
    if (w == NULL || !w->active)
        return;
    w->stopping = 1;
    /* A wait ends now; a step in flight ends the run when its replies are in. */
    if (w->timer != NULL && evtimer_pending(w->timer, NULL)) {
        event_del(w->timer);
        finish(w, 1, "shutting down");
    }
}

static int wait_ms(warmer_t *w, long long ms, event_callback_fn fn)
{
    if (w->timer == NULL) {
        w->timer = evtimer_new(w->base, fn, w);
        if (w->timer == NULL)
            return -1;
    } else {
        event_assign(w->timer, w->base, -1, 0, fn, w);
    }
    struct timeval tv = clock_ms_to_tv(ms < 1 ? 1 : (int)ms);
    return evtimer_add(w->timer, &tv);
}

int warmer_start(warmer_t *w, int kind, int top, int rate, warmer_trigger_t trigger,
                 warm_status_t *out)
{
    assert(kind == CONFIG_WARM_ALL || kind == CONFIG_WARM_TOP);
    assert(rate >= 1);
    char mode[16];
    if (kind == CONFIG_WARM_TOP)
        snprintf(mode, sizeof mode, "top:%d", top);
    else
        snprintf(mode, sizeof mode, "all");
    if (warm_begin(mode, trigger == WARMER_STARTUP ? "startup" : "request", rate, out) != 0)
        return -1;
    assert(!w->active); /* core/warm allows one run per instance. */
    w->st = *out;
    w->active = 1;
    w->stopping = 0;
    w->kind = kind;
    w->top = top;
    w->rate = rate;
    w->page = rate < PAGE_MAX ? rate : PAGE_MAX;
    w->started_mono = clock_monotonic_ms();
    w->ready_until = w->started_mono +
                     (trigger == WARMER_STARTUP ? READY_WAIT_STARTUP_MS : READY_WAIT_REQUEST_MS);
    w->last_publish = w->started_mono;
    w->tokens = w->page; /* The first page goes at once. */
    w->refilled_ms = w->started_mono;
    w->after = 0;
    w->board_n = w->board_pos = 0;
    log_info("cache warm %llu (%s, %s) started at %d products/s", (unsigned long long)w->st.run,
             mode, w->st.trigger, rate);
    ready(w);
    return 0;
}

/* ---------------------------------------------------------------- READY, SOURCE --- */

static void on_ready_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ready(arg);
}

static void on_count(int status, PGresult *res, cache_read_from_t from, void *arg)
{
    (void)from;
    warmer_t *w = arg;
    if (status != PG_POOL_OK || PQntuples(res) != 1) {
        stats_incr(STATS_DB_ERROR);
        finish(w, 1, "PostgreSQL could not count the products");
        return;
    }
    w->st.total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    pace(w);
}

static void on_board(int status, const analytics_item_t *items, int n, void *arg)
{
    warmer_t *w = arg;
    if (status != 0) {
        finish(w, 1, "Redis could not read the analytics leaderboard");
        return;
    }
    if (n == 0) {
        w->st.total = 0;
        finish(w, 0, "no views counted yet: the analytics leaderboard is empty, nothing to warm");
        return;
    }
    w->board_n = n < PAGE_MAX ? n : PAGE_MAX;
    for (int i = 0; i < w->board_n; i++)
        w->board[i] = items[i].id;
    w->st.total = w->board_n;
    pace(w);
}

/* Counts a query of the run: in the service's db_queries too, since PostgreSQL answered it. */
static void count_query(warmer_t *w)
{
    stats_incr(STATS_DB_QUERY);
    w->st.db_queries++;
}

static void source(warmer_t *w)
{
    if (w->kind == CONFIG_WARM_TOP) {
        if (!cache_config(w->cache)->analytics) {
            w->st.total = 0;
            finish(w, 0, "ANALYTICS is off: no views to rank, nothing to warm");
            return;
        }
        if (analytics_leaderboard(w->analytics, w->top, on_board, w) != 0)
            finish(w, 1, "Redis is down: the analytics leaderboard cannot be read");
        return;
    }
    count_query(w);
    if (cache_read_query(w->cache, Q_PRODUCTS_COUNT, NULL, on_count, w) != 0)
        finish(w, 1, "PostgreSQL is down");
}

static void ready(warmer_t *w)
{
    if (w->stopping) {
        finish(w, 1, "shutting down");
        return;
    }
    const config_t *cfg = cache_config(w->cache);
    if (cfg->cache_bypass) {
        w->st.total = 0;
        finish(w, 0, "CACHE_BYPASS is on: lookups never use Redis, nothing to warm");
        return;
    }
    redis_client_t *rc = cache_redis(w->cache);
    pg_pool_t *pg = cache_pg(w->cache);
    int redis_up = rc != NULL && redis_client_is_up(rc);
    int pg_up = pg != NULL && pg_pool_is_up(pg);
    if (redis_up && pg_up) {
        source(w);
        return;
    }
    if (clock_monotonic_ms() < w->ready_until && wait_ms(w, READY_POLL_MS, on_ready_tick) == 0)
        return;
    finish(w, 1, !redis_up ? "Redis is down" : "PostgreSQL is down");
}

/* ---------------------------------------------------------------- PACE, IDS --- */

static void peek(warmer_t *w);

static void on_pace_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pace(arg);
}

static void on_ids(int status, PGresult *res, cache_read_from_t from, void *arg)
{
    (void)from;
    warmer_t *w = arg;
    if (status != PG_POOL_OK) {
        stats_incr(STATS_DB_ERROR);
        finish(w, 1, "PostgreSQL could not list the products");
        return;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        finish(w, 0, "");
        return;
    }
    w->n = rows < PAGE_MAX ? rows : PAGE_MAX;
    for (int i = 0; i < w->n; i++)
        w->ids[i] = (int32_t)strtol(PQgetvalue(res, i, 0), NULL, 10);
    w->after = w->ids[w->n - 1];
    w->last_page = w->n < w->page;
    peek(w);
}

/* The next page's ids, once the bucket holds a page's worth of tokens. */
static void pace(warmer_t *w)
{
    if (w->stopping) {
        finish(w, 1, "shutting down");
        return;
    }
    int want = w->page;
    if (w->kind == CONFIG_WARM_TOP && w->board_n - w->board_pos < want)
        want = w->board_n - w->board_pos;
    long long now = clock_monotonic_ms();
    w->tokens += (double)(now - w->refilled_ms) * w->rate / 1000.0;
    if (w->tokens > w->page)
        w->tokens = w->page; /* A bucket holds one page: no burst after a slow page. */
    w->refilled_ms = now;
    if (w->tokens < want) {
        long long ms = (long long)((want - w->tokens) * 1000.0 / w->rate) + 1;
        if (wait_ms(w, ms, on_pace_tick) != 0)
            finish(w, 1, "out of memory");
        return;
    }
    w->tokens -= want;
    if (w->kind == CONFIG_WARM_TOP) {
        w->n = want;
        memcpy(w->ids, w->board + w->board_pos, (size_t)want * sizeof w->ids[0]);
        w->board_pos += want;
        w->last_page = w->board_pos >= w->board_n;
        peek(w);
        return;
    }
    char after[16], limit[16];
    snprintf(after, sizeof after, "%d", (int)w->after);
    snprintf(limit, sizeof limit, "%d", want);
    const char *params[] = {after, limit};
    count_query(w);
    if (cache_read_query(w->cache, Q_PRODUCT_IDS_AFTER, params, on_ids, w) != 0)
        finish(w, 1, "PostgreSQL is down");
}

/* ---------------------------------------------------------------- PEEK, ROWS --- */

static void rows(warmer_t *w);

/* One PEEK reply; its index in the page travels in the callback's argument. */
typedef struct {
    warmer_t *w; /* The run. */
    int i;       /* The product's index in the page. */
} peek_t;

static void peek_reply(warmer_t *w)
{
    if (--w->due > 0)
        return;
    if (w->redis_failed) {
        finish(w, 1, "Redis failed while warming");
        return;
    }
    if (w->stopping) {
        finish(w, 1, "shutting down");
        return;
    }
    rows(w);
}

static void on_peek(int status, redisReply *reply, void *arg)
{
    peek_t *p = arg;
    warmer_t *w = p->w;
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_ARRAY &&
             reply->elements == 2 && reply->element[0]->type == REDIS_REPLY_INTEGER &&
             reply->element[1]->type == REDIS_REPLY_INTEGER;
    if (ok) {
        w->cached[p->i] = reply->element[0]->integer > 0;
        snprintf(w->gens[p->i], sizeof w->gens[p->i], "%lld", reply->element[1]->integer);
    } else {
        stats_incr(STATS_REDIS_ERROR);
        w->redis_failed = 1;
    }
    free(p);
    peek_reply(w);
}

static void peek(warmer_t *w)
{
    const config_t *cfg = cache_config(w->cache);
    w->due = w->n + 1; /* One more than sent, released below: no early end while sending. */
    w->redis_failed = 0;
    for (int i = 0; i < w->n; i++) {
        cache_keys_t keys;
        peek_t *p = malloc(sizeof *p);
        redis_client_t *rc = cache_redis(w->cache);
        if (p == NULL || rc == NULL || cache_keys_build(cfg->cache_key_prefix, w->ids[i], &keys)) {
            free(p);
            w->redis_failed = 1;
            w->due--;
            continue;
        }
        *p = (peek_t){w, i};
        const char *argv[] = {"EVAL", PEEK_SCRIPT, "2", keys.value, keys.gen};
        size_t argvlen[] = {4, sizeof PEEK_SCRIPT - 1, 1, strlen(keys.value), strlen(keys.gen)};
        if (redis_client_command(rc, on_peek, p, 5, argv, argvlen) != 0) {
            free(p);
            stats_incr(STATS_REDIS_ERROR);
            w->redis_failed = 1;
            w->due--;
        }
    }
    peek_reply(w);
}

/* ---------------------------------------------------------------- FILL --- */

static void fill_reply(warmer_t *w)
{
    if (--w->due > 0)
        return;
    page_done(w);
}

static void on_fill(cache_write_t outcome, void *arg)
{
    warmer_t *w = arg;
    if (outcome == CACHE_WRITE_APPLIED)
        w->st.warmed++;
    else if (outcome == CACHE_WRITE_SKIPPED)
        w->st.skipped++;
    else
        w->st.failed++;
    fill_reply(w);
}

/* Index of id in the page, or -1. */
static int page_index(const warmer_t *w, int32_t id)
{
    for (int i = 0; i < w->n; i++) {
        if (w->ids[i] == id)
            return i;
    }
    return -1;
}

static void on_rows(int status, PGresult *res, cache_read_from_t from, void *arg)
{
    warmer_t *w = arg;
    if (status != PG_POOL_OK) {
        stats_incr(STATS_DB_ERROR);
        finish(w, 1, "PostgreSQL could not read the products");
        return;
    }
    int sent = 0;
    w->due = 1; /* Released below, after every fill was sent. */
    lab_settings_t lab;
    lab_get(&lab);
    int replica_checked = from == CACHE_READ_REPLICA && lab.replica_guard;
    for (int r = 0; r < PQntuples(res); r++) {
        product_t p;
        product_from_row(res, r, &p);
        int i = page_index(w, p.id);
        char *json = NULL;
        size_t len = 0;
        if (i < 0 || w->cached[i] || product_to_json(&p, &json, &len) != 0) {
            free(json);
            continue;
        }
        sent++;
        w->due++;
        const char *version = replica_checked && PQnfields(res) > Q_VERSION_COLUMN
                                  ? PQgetvalue(res, r, Q_VERSION_COLUMN)
                                  : "";
        /* The command is formatted when it is sent: json is not needed afterwards. */
        cache_fill_product(w->cache, p.id, w->gens[i], json, len, version, on_fill, w);
        free(json);
    }
    /* The cached ones, and those whose row has gone since the ids were read, are skipped. */
    w->st.skipped += w->n - sent;
    fill_reply(w);
}

/* The rows of the page's products that are not cached, as one query. */
static void rows(warmer_t *w)
{
    char list[PAGE_MAX * 12 + 3];
    size_t at = 0;
    int wanted = 0;
    list[at++] = '{';
    for (int i = 0; i < w->n; i++) {
        if (w->cached[i])
            continue;
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", wanted ? "," : "",
                               (int)w->ids[i]);
        wanted++;
    }
    list[at++] = '}';
    list[at] = '\0';
    if (wanted == 0) {
        w->st.skipped += w->n;
        page_done(w);
        return;
    }
    const char *params[] = {list};
    count_query(w);
    if (cache_read_query(w->cache, Q_PRODUCTS_BY_IDS, params, on_rows, w) != 0)
        finish(w, 1, "PostgreSQL is down");
}

/* ---------------------------------------------------------------- progress --- */

static void page_done(warmer_t *w)
{
    update_elapsed(w);
    if (w->stopping) {
        finish(w, 1, "shutting down");
        return;
    }
    if (w->last_page) {
        finish(w, 0, "");
        return;
    }
    long long now = clock_monotonic_ms();
    int publish = now - w->last_publish >= PUBLISH_MS;
    if (publish)
        w->last_publish = now;
    warm_progress(&w->st, publish);
    pace(w);
}
