/*
 * cache_lookup — cache_lookup_product (declared in cache.h) and its protections.
 *
 * A lookup goes through these states, each a section below, in this order:
 *
 *   FIRST READ   GET the product key: the lookup's one read that Redis counts in keyspace_hits or
 *                keyspace_misses. Beside it, uncounted, the refresh marker (refresh-ahead) and, in
 *                write-behind mode, whether the product has queued writes. A served value → HIT.
 *   QUEUE WAIT   (write-behind) the cache lost a product PostgreSQL does not have the newest state
 *                of yet: wait for the applier, then MISS.
 *   MISS         join this loop's flight for the product (single-flight), or lead it: CLAIM reads
 *                the generation and takes the Redis lock that makes one loader across loops and
 *                instances. Taken → LOAD. Held by another loader → WAIT.
 *   WAIT         poll the lock: the loader puts the value it stored there for a moment (answer
 *                with it), or the time its query failed (answer stale or 503), or lets go without
 *                a value (LOAD ourselves). Gives up after LOCK_WAIT_MS or a query's deadline.
 *   LOAD         query PostgreSQL (the read replica when there is one: cache_replica.c); FILL
 *                stores the row (unless a write came in between: the generation moved), hands it
 *                to the lock's waiters and lets the lock go, in one script; then everyone on the
 *                flight is answered. A failed query leaves its time in the lock and answers with
 *                the stale copy if there is one (STALE), else 503.
 *   REREAD       (replica) FILL refused a row the replica had not yet caught up on: it is older
 *                than the newest write the generation records (a miss just after a write, within
 *                the replica's lag). The lock stays ours; the row is read again from the primary,
 *                and that one is filled and answered.
 *
 * Every answer is counted once in the stats: a hit when it came from the lookup's own GET (source
 * "cache"), else a miss — so the service's hit rate and Redis' keyspace hit rate are the same
 * number. A lookup that waited for another loader's value missed the cache and is answered with a
 * value from the database, so it is a miss with source "database".
 */
#include "cache/cache.h"

#include "cache/cache_internal.h"

#include "model/cache_entry.h"
#include "core/clock.h"
#include "core/lab.h"
#include "core/log.h"
#include "model/product.h"
#include "store/queries.h"
#include "core/stats.h"

#include <assert.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 10
/*
 * A hit reads the refresh marker of its product at most once per MARKER_CHECK_MS on a loop: a hot
 * key then costs one Redis command per lookup, not two, and its refresh starts at most that late
 * into its refresh window (10 % of an hour by default). CACHE_MARKER_SLOTS products are remembered.
 */
#define MARKER_CHECK_MS 100
/* How long a stored value waits in the lock for the lookups polling it. */
#define DELIVER_MS "1000"
/* How long a failed query's time stays in the lock. */
#define FAILED_MARK_MS "1000"

/* What a lock holds: a loader's token, a value it delivered, or when its query failed. */
#define LOCK_TOKEN "t:"
#define LOCK_VALUE "v:"
#define LOCK_FAILED "f:"

/*
 * KEYS: lock, generation, value, refresh marker. ARGV: token ("" = only read the generation), lock
 * ttl ms, "1" when the value found was not a product, "1" for a background refresh. Returns {1 when
 * the lock was taken, generation (0 = none), the lock's head when another loader has it}, or {2}
 * when a refresh is not needed after all: its value is gone (a write or a clear removed it) or its
 * marker is back (another loader stored it between the hit's two reads). A lock that holds a
 * delivered value is taken over when that value's key has gone since (deleted, evicted) or holds
 * something that is not a product, so that the value is loaded and stored again. Nothing here is a
 * counted keyspace lookup: LINSERT with a pivot that never matches only tells whether the list
 * exists, and SETRANGE with an empty string only reports a string's length.
 */
static const char CLAIM_SCRIPT[] = CACHE_LUA_NUMBER
    "if ARGV[4] == '1' and (redis.call('SETRANGE', KEYS[3], 0, '') == 0 or\n"
    "                       redis.call('SETRANGE', KEYS[4], 0, '') > 0) then return {2, 0} end\n"
    "local g = number(KEYS[2])\n"
    "if ARGV[1] == '' then return {0, g} end\n"
    "local head = false\n"
    "if redis.call('LINSERT', KEYS[1], 'BEFORE', '', '') ~= 0 then\n"
    "  head = redis.call('LMOVE', KEYS[1], KEYS[1], 'LEFT', 'LEFT')\n"
    "  if head and string.sub(head, 1, 2) == '" LOCK_VALUE "' and\n"
    "     (ARGV[3] == '1' or redis.call('SETRANGE', KEYS[3], 0, '') == 0) then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    head = false\n"
    "  end\n"
    "end\n"
    "if head then return {0, g, head} end\n"
    "redis.call('RPUSH', KEYS[1], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "return {1, g}\n";

/*
 * KEYS: value, generation, stale, fresh, lock, pending. ARGV: value, generation seen, ttl ms,
 * stale ms, fresh ms, token ("" = no lock), deliver ms, the row's version ("" = not checked; "0"
 * for a product not found). Stores the value unless a write came in since the generation was read,
 * or while queued writes of the product have not reached PostgreSQL (what was read there is older
 * than the cache's). Then, if the lock is still ours, replaces it with the stored value for the
 * lookups polling it, or lets it go. Returns 1 if stored, 0 if not; -1, keeping the lock, when
 * the row's version is older than the generation: the row was read from a replica that has not
 * yet applied the newest write, and the generation being unchanged since the read does not make
 * it current (the write's invalidation came before the read, not during it).
 */
static const char FILL_SCRIPT[] = CACHE_LUA_NUMBER CACHE_LUA_STORE
    "local stored = 0\n"
    "local g = number(KEYS[2])\n"
    "if g == tonumber(ARGV[2]) and number(KEYS[6]) <= 0 then\n"
    "  if ARGV[8] ~= '' and tonumber(ARGV[8]) < g then return -1 end\n"
    "  store(KEYS[1], KEYS[3], KEYS[4], ARGV[1], ARGV[3], ARGV[4], ARGV[5])\n"
    "  stored = 1\n"
    "end\n"
    "if ARGV[6] ~= '' and redis.call('LMOVE', KEYS[5], KEYS[5], 'LEFT', 'LEFT') == ARGV[6] then\n"
    "  redis.call('DEL', KEYS[5])\n"
    "  if stored == 1 then\n"
    "    redis.call('RPUSH', KEYS[5], '" LOCK_VALUE "' .. ARGV[1])\n"
    "    redis.call('PEXPIRE', KEYS[5], ARGV[7])\n"
    "  end\n"
    "end\n"
    "return stored\n";

/*
 * KEYS: lock. ARGV: token, "" or the failure mark. Lets the lock go only if it is still ours — or,
 * after a failed load, replaces it with the failure's time for a moment, so that the lookups that
 * were waiting on it answer at once (stale, or 503) instead of trying the same failing database
 * again. A lookup that starts waiting after that time ignores the mark and queries itself.
 */
static const char UNLOCK_SCRIPT[] =
    "if redis.call('LMOVE', KEYS[1], KEYS[1], 'LEFT', 'LEFT') ~= ARGV[1] then return 0 end\n"
    "redis.call('DEL', KEYS[1])\n"
    "if ARGV[2] ~= '' then\n"
    "  redis.call('RPUSH', KEYS[1], ARGV[2])\n"
    "  redis.call('PEXPIRE', KEYS[1], " FAILED_MARK_MS ")\n"
    "end\n"
    "return 1\n";

/*
 * KEYS: value. The first read's GET when the value may fill the near cache: the value and, when
 * there is one, the key's remaining TTL in ms, which bounds the near-cache entry. Redis counts the
 * GET as always, and the PTTL as one more keyspace hit (STATS_L1_TTL_READ): no read of a key's TTL
 * escapes the count. Time stands still inside a script, so the key the GET found is still there.
 */
static const char GET_TTL_SCRIPT[] = "local v = redis.call('GET', KEYS[1])\n"
                                     "if not v then return false end\n"
                                     "return {v, redis.call('PTTL', KEYS[1])}\n";

/* KEYS: pending count. The number of the product's queued writes, uncounted. */
static const char PENDING_SCRIPT[] = CACHE_LUA_NUMBER "return number(KEYS[1])\n";

typedef struct lookup lookup_t;

/* One load of one product on this loop, with the lookups waiting for it. */
typedef struct cache_flight {
    int32_t id;                /* Product. */
    lookup_t *waiters;         /* Lookups answered with the outcome (leader first). */
    struct cache_flight *next; /* Bucket chain. */
} flight_t;

struct lookup {
    cache_t *cache;            /* Loop. */
    int32_t id;                /* Product. */
    cache_lookup_fn fn;        /* Caller's callback; NULL for a background refresh. */
    void *arg;                 /* Caller's argument. */
    cache_keys_t keys;         /* The product's keys (only value and fresh until a miss). */
    int keys_built;            /* 1 once every key in keys is built. */
    char token[24];            /* Our lock token while we hold it ("" = none). */
    char gen[24];              /* Generation read before the load ("0" = none). */
    int gen_known;             /* 1 when the generation was read: a fill is safe. */
    int primary_only;          /* 1: load from the primary (the replica's row was refused). */
    int use_redis;             /* 0 under CACHE_BYPASS or after Redis refused. */
    int replies_due;           /* First read: replies still to come. */
    int fresh;                 /* First read: 1 unless the refresh marker is known missing. */
    int queued;                /* First read: 1 when the product has queued writes. */
    int invalid;               /* First read: 1 when the value found was not a product. */
    int got;                   /* First read: GET_* once the GET is answered or refused. */
    char *held;                /* First read: the GET's value when it came before the others. */
    size_t held_len;           /* Its length. */
    flight_t *flight;          /* The flight this lookup leads or waits on. */
    lookup_t *next_waiter;     /* Flight's waiter list. */
    struct event *timer;       /* Polling (the lock, or the write-behind queue). */
    long long poll_until_ms;   /* When polling gives up (monotonic ms). */
    long long wait_started_ms; /* When waiting on another loader began (Unix ms). */
    long long started_ms;      /* Start of the database load (monotonic ms), for XFetch. */
    near_ticket_t near;        /* First read: may its value fill the near cache? */
    long long pttl_ms;         /* First read: the key's remaining TTL (-2 = not read). */
    lab_settings_t lab;        /* Settings when the lookup started. */
    cache_lookup_opts_t opts;  /* Accounting (cache_lookup_product_opts); zero for a client's. */
};

static void first_read(lookup_t *l);
static void queue_wait(lookup_t *l);
static void miss(lookup_t *l);
static void wait_for_loader(lookup_t *l);
static void load(lookup_t *l);
static void serve_stale(lookup_t *l);

/* ---------------------------------------------------------------- entry --- */

static lookup_t *lookup_new(cache_t *cache, int32_t id, cache_lookup_fn fn, void *arg)
{
    lookup_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    const config_t *cfg = cache_config(cache);
    l->cache = cache;
    l->id = id;
    l->fn = fn;
    l->arg = arg;
    lab_get(&l->lab);
    snprintf(l->gen, sizeof l->gen, "0");
    l->fresh = 1;
    l->pttl_ms = -2;
    /* The first read's keys only; a miss builds the others (miss_keys). */
    l->use_redis =
        !cfg->cache_bypass &&
        cache_key_build(cfg->cache_key_prefix, id, l->keys.value, sizeof l->keys.value) >= 0 &&
        (!l->lab.refresh_ahead ||
         cache_aux_key("fresh", l->keys.value, l->keys.fresh, sizeof l->keys.fresh) >= 0) &&
        (cfg->write_mode != CONFIG_WRITE_BEHIND ||
         cache_pending_key(l->keys.value, l->keys.pending, sizeof l->keys.pending) >= 0);
    return l;
}

/*
 * The near cache's answer, if it has one: no Redis read, no allocation. counted is 0 for a lookup
 * left out of hits and misses (cache_lookup_opts_t.uncounted).
 */
static int near_answer(cache_t *cache, int32_t id, int counted, cache_lookup_fn fn, void *arg)
{
    const char *json;
    size_t len;
    if (cache->cfg->cache_bypass || !near_cache_get(cache->near, id, &json, &len))
        return 0;
    if (counted) {
        stats_incr(STATS_HIT);
        stats_incr(STATS_L1_HIT);
    }
    int missing = len == sizeof CACHE_ENTRY_NULL - 1 && memcmp(json, CACHE_ENTRY_NULL, len) == 0;
    cache_result_t r = {missing ? CACHE_NOT_FOUND : CACHE_FOUND, CACHE_ANSWER_L1_HIT,
                        missing ? NULL : json, missing ? 0 : len};
    fn(&r, arg);
    return 1;
}

void cache_lookup_product(cache_t *cache, int32_t id, cache_lookup_fn fn, void *arg)
{
    cache_lookup_product_opts(cache, id, NULL, fn, arg);
}

void cache_lookup_product_opts(cache_t *cache, int32_t id, const cache_lookup_opts_t *opts,
                               cache_lookup_fn fn, void *arg)
{
    if (near_answer(cache, id, opts == NULL || !opts->uncounted, fn, arg))
        return;
    lookup_t *l = lookup_new(cache, id, fn, arg);
    if (l == NULL) {
        cache_result_t r = {CACHE_FAILED, CACHE_ANSWER_MISS, NULL, 0};
        fn(&r, arg);
        return;
    }
    if (opts != NULL)
        l->opts = *opts;
    if (!l->use_redis) {
        load(l);
        return;
    }
    first_read(l);
}

/* ---------------------------------------------------------------- answers --- */

static void lookup_free(lookup_t *l)
{
    if (l->timer != NULL)
        event_free(l->timer);
    free(l->held);
    free(l);
}

static void answer(lookup_t *l, cache_status_t status, cache_answer_t how, const char *json,
                   size_t len)
{
    if (l->fn != NULL) {
        /* Counted by how the answer was made, so hits + misses = lookups, matching `source`. */
        if (!l->opts.uncounted)
            stats_incr(how == CACHE_ANSWER_HIT ? STATS_HIT : STATS_MISS);
        cache_result_t r = {status, how, json, len};
        l->fn(&r, l->arg);
    }
    lookup_free(l);
}

/* An answer from the database: MISS, or BYPASS when Redis was skipped. */
static cache_answer_t miss_answer(const lookup_t *l)
{
    return l->use_redis ? CACHE_ANSWER_MISS : CACHE_ANSWER_BYPASS;
}

/* Builds the keys only a miss needs (a hit never pays for them). Returns 0, or -1. */
static int miss_keys(lookup_t *l)
{
    if (l->keys_built)
        return 0;
    if (cache_keys_build(cache_config(l->cache)->cache_key_prefix, l->id, &l->keys) != 0)
        return -1;
    l->keys_built = 1;
    return 0;
}

static redis_client_t *redis_of(const lookup_t *l)
{
    return l->use_redis ? cache_redis(l->cache) : NULL;
}

/* Sends a command whose arguments are NUL-terminated but for argv[1] (a script, script_len). */
static int redis_send(lookup_t *l, redis_client_fn fn, int argc, const char **argv,
                      size_t script_len)
{
    enum { MAX_ARGS = 16 };
    assert(argc <= MAX_ARGS);
    size_t argvlen[MAX_ARGS];
    for (int i = 0; i < argc; i++)
        argvlen[i] = (i == 1 && script_len > 0) ? script_len : strlen(argv[i]);
    redis_client_t *rc = redis_of(l);
    return rc != NULL ? redis_client_command(rc, fn, l, argc, argv, argvlen) : -1;
}

/* ---------------------------------------------------------------- flights --- */

static flight_t **bucket(cache_t *cache, int32_t id)
{
    return &cache->flights[(uint32_t)id % CACHE_FLIGHT_BUCKETS];
}

static flight_t *flight_find(cache_t *cache, int32_t id)
{
    for (flight_t *f = *bucket(cache, id); f != NULL; f = f->next) {
        if (f->id == id)
            return f;
    }
    return NULL;
}

static int flight_begin(lookup_t *leader)
{
    flight_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    f->id = leader->id;
    f->waiters = leader;
    f->next = *bucket(leader->cache, leader->id);
    *bucket(leader->cache, leader->id) = f;
    leader->flight = f;
    return 0;
}

/* Ends the leader's flight: every lookup on it gets the same outcome. */
static void flight_end(lookup_t *leader, cache_status_t status, cache_answer_t how,
                       const char *json, size_t len)
{
    flight_t *f = leader->flight;
    if (f == NULL) {
        answer(leader, status, how, json, len);
        return;
    }
    for (flight_t **pp = bucket(leader->cache, f->id); *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    lookup_t *waiter = f->waiters->next_waiter;
    while (waiter != NULL) {
        lookup_t *next = waiter->next_waiter;
        answer(waiter, status, how, json, len);
        waiter = next;
    }
    free(f);
    answer(leader, status, how, json, len);
}

/* Answers the flight with a value read from Redis (json, len) that is not the lookup's own hit. */
static void flight_end_with(lookup_t *l, const char *json, size_t len, cache_answer_t how)
{
    switch (cache_entry_classify(json, len)) {
    case CACHE_ENTRY_PRODUCT:
        flight_end(l, CACHE_FOUND, how, json, len);
        return;
    case CACHE_ENTRY_NOT_FOUND:
        flight_end(l, CACHE_NOT_FOUND, how, NULL, 0);
        return;
    case CACHE_ENTRY_INVALID:
        break;
    }
    load(l);
}

/* ---------------------------------------------------------------- first read --- */

/* A background refresh of the product a hit found due for one (refresh-ahead). */
static void refresh(const lookup_t *hit)
{
    if (flight_find(hit->cache, hit->id) != NULL)
        return; /* A load of it is already under way on this loop. */
    lookup_t *r = lookup_new(hit->cache, hit->id, NULL, NULL);
    if (r == NULL)
        return;
    r->lab.stampede_protection = 1; /* The lock keeps one refresh across loops and instances. */
    miss(r);
}

/*
 * A hit from Redis fills the near cache, for as long as its key lives — short of the refresh-ahead
 * window, whose hits must reach Redis to start the refresh (the longest the key may have been
 * stored for, times the window), and not at all when a refresh is due.
 */
static void near_fill(lookup_t *l, const char *val, size_t len, int product)
{
    if (!l->near.valid || l->pttl_ms == -2)
        return;
    long long reserve = 0;
    if (product && l->lab.refresh_ahead) {
        if (!l->fresh)
            return;
        reserve = (long long)l->lab.ttl_seconds * 10LL * (100 + l->lab.ttl_jitter_percent) *
                  l->lab.refresh_window_percent / 1000LL; /* s -> ms, two percentages. */
    }
    near_cache_fill(l->cache->near, l->id, &l->near, val, len, l->pttl_ms, reserve);
}

/* Every reply of the first read is in: decide. */
static void first_read_done(lookup_t *l, const char *val, size_t len, int have_value)
{
    if (have_value) {
        switch (cache_entry_classify(val, len)) {
        case CACHE_ENTRY_PRODUCT:
            near_fill(l, val, len, 1);
            if (l->lab.refresh_ahead && !l->fresh)
                refresh(l);
            answer(l, CACHE_FOUND, CACHE_ANSWER_HIT, val, len);
            return;
        case CACHE_ENTRY_NOT_FOUND:
            near_fill(l, val, len, 0);
            answer(l, CACHE_NOT_FOUND, CACHE_ANSWER_HIT, NULL, 0);
            return;
        case CACHE_ENTRY_INVALID:
            log_warn("cache: %s holds a value that is not a product; treated as a miss",
                     l->keys.value);
            l->invalid = 1;
            break;
        }
    }
    if (l->queued) {
        queue_wait(l);
        return;
    }
    miss(l);
}

/*
 * The first read is two or three commands in one round trip; the lookup goes on once all of their
 * callbacks have run, whatever order a timeout or a lost connection calls them in.
 */
enum { GET_PENDING = 0, GET_VALUE, GET_NONE, GET_FAILED };

/* Called after each first-read callback: decides once every reply is in. */
static void first_read_step(lookup_t *l)
{
    if (l->replies_due > 0 || l->got == GET_PENDING)
        return;
    if (l->got == GET_FAILED) {
        l->use_redis = 0;
        load(l);
        return;
    }
    first_read_done(l, l->held, l->held_len, l->got == GET_VALUE);
}

static void on_marker(int status, redisReply *reply, lookup_t *l, int *flag)
{
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER)
        *flag = reply->integer > 0;
    l->replies_due--;
    first_read_step(l);
}

static void on_fresh(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    on_marker(status, reply, l, &l->fresh);
}

static void on_queued(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    on_marker(status, reply, l, &l->queued);
}

static void on_first_read(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    l->replies_due--;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_ARRAY) {
        /* GET_TTL_SCRIPT found a value: {value, pttl}. */
        if (reply->elements == 2 && reply->element[0]->type == REDIS_REPLY_STRING &&
            reply->element[1]->type == REDIS_REPLY_INTEGER) {
            stats_incr(STATS_L1_TTL_READ);
            l->pttl_ms = reply->element[1]->integer;
            reply = reply->element[0];
        } else {
            status = REDIS_CLIENT_ELOST; /* Not what the script returns: treat as failed. */
        }
    }
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR) {
        stats_incr(STATS_REDIS_ERROR);
        l->got = GET_FAILED;
    } else if (reply->type != REDIS_REPLY_STRING) {
        l->got = GET_NONE;
    } else if (l->replies_due == 0) {
        /* The usual case: the other replies came first, as sent. No copy. */
        l->got = GET_VALUE;
        first_read_done(l, reply->str, reply->len, 1);
        return;
    } else if ((l->held = malloc(reply->len + 1)) != NULL) {
        memcpy(l->held, reply->str, reply->len);
        l->held_len = reply->len;
        l->got = GET_VALUE;
    } else {
        l->got = GET_FAILED;
    }
    first_read_step(l);
}

/* Should this lookup read the refresh marker? Yes unless this loop read it less than
 * MARKER_CHECK_MS ago; the answer counts as a read from now on. */
static int marker_due(cache_t *cache, int32_t id)
{
    cache_marker_slot_t *slot = &cache->markers[(uint32_t)id % CACHE_MARKER_SLOTS];
    long long now = clock_monotonic_ms();
    if (slot->id == id && now - slot->checked_ms < MARKER_CHECK_MS)
        return 0;
    slot->id = id;
    slot->checked_ms = now;
    return 1;
}

/*
 * One round trip: the markers first (SETRANGE with an empty string only reports the length of a
 * string, and Redis does not count it as a keyspace lookup), then the GET that answers.
 */
static void first_read(lookup_t *l)
{
    const char *fresh[] = {"SETRANGE", l->keys.fresh, "0", ""};
    const char *queued[] = {"SETRANGE", l->keys.pending, "0", ""};
    const char *get[] = {"GET", l->keys.value};
    const char *get_ttl[] = {"EVAL", GET_TTL_SCRIPT, "1", l->keys.value};
    if (l->lab.refresh_ahead && marker_due(l->cache, l->id) &&
        redis_send(l, on_fresh, 4, fresh, 0) == 0)
        l->replies_due++;
    if (cache_config(l->cache)->write_mode == CONFIG_WRITE_BEHIND &&
        redis_send(l, on_queued, 4, queued, 0) == 0)
        l->replies_due++;
    int rc = near_cache_ticket(l->cache->near, l->id, &l->near)
                 ? redis_send(l, on_first_read, 4, get_ttl, sizeof GET_TTL_SCRIPT - 1)
                 : redis_send(l, on_first_read, 2, get, 0);
    if (rc == 0) {
        l->replies_due++;
        return;
    }
    if (rc != REDIS_CLIENT_EOPEN)
        stats_incr(STATS_REDIS_ERROR);
    l->got = GET_FAILED;
    first_read_step(l); /* Goes on now, or after the markers' replies (they hold l). */
}

/* ---------------------------------------------------------------- queue wait --- */

/*
 * Waiting gives up after LOCK_WAIT_MS, or once the loader has had as long as a query may take
 * (PG_TIMEOUT_MS and a little): by then its query has failed or PostgreSQL is stuck.
 */
static void set_deadline(lookup_t *l)
{
    const config_t *cfg = cache_config(l->cache);
    int wait =
        cfg->lock_wait_ms < cfg->pg_timeout_ms + 100 ? cfg->lock_wait_ms : cfg->pg_timeout_ms + 100;
    l->poll_until_ms = clock_monotonic_ms() + wait;
}

/* Arms the lookup's timer to call fn in POLL_MS. Returns 0, or -1. */
static int poll_later(lookup_t *l, event_callback_fn fn)
{
    if (l->timer == NULL) {
        l->timer = evtimer_new(cache_base(l->cache), fn, l);
        if (l->timer == NULL)
            return -1;
    } else {
        event_assign(l->timer, cache_base(l->cache), -1, 0, fn, l);
    }
    struct timeval tv = clock_ms_to_tv(POLL_MS);
    return evtimer_add(l->timer, &tv);
}

static void on_queue_tick(evutil_socket_t fd, short what, void *arg);

static void on_pending(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    int caught_up =
        status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_INTEGER || reply->integer <= 0;
    if (caught_up || clock_monotonic_ms() >= l->poll_until_ms || poll_later(l, on_queue_tick) != 0)
        miss(l);
}

static void on_queue_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lookup_t *l = arg;
    const char *argv[] = {"EVAL", PENDING_SCRIPT, "1", l->keys.pending};
    if (redis_send(l, on_pending, 4, argv, sizeof PENDING_SCRIPT - 1) != 0)
        miss(l);
}

/*
 * Write-behind: PostgreSQL does not have this product's newest state yet and the cache lost it
 * (cleared, evicted). Wait for the queue to catch up, within LOCK_WAIT_MS.
 */
static void queue_wait(lookup_t *l)
{
    set_deadline(l);
    if (poll_later(l, on_queue_tick) != 0)
        miss(l);
}

/* ---------------------------------------------------------------- miss --- */

static void on_claim(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_ARRAY &&
             reply->elements >= 2 && reply->element[0]->type == REDIS_REPLY_INTEGER &&
             reply->element[1]->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        stats_incr(STATS_REDIS_ERROR);
        l->token[0] = '\0';
        load(l); /* Redis failed: load without the lock, and store nothing (no generation). */
        return;
    }
    if (reply->element[0]->integer == 2) {
        /* A refresh found not needed. Lookups that joined its flight meanwhile still need one. */
        l->token[0] = '\0';
        if (l->next_waiter == NULL)
            flight_end(l, CACHE_FAILED, CACHE_ANSWER_HIT, NULL, 0);
        else
            load(l);
        return;
    }
    snprintf(l->gen, sizeof l->gen, "%lld", reply->element[1]->integer);
    l->gen_known = 1;
    if (reply->element[0]->integer == 1 || l->token[0] == '\0') {
        load(l); /* The lock is ours (or stampede protection is off). */
        return;
    }
    l->token[0] = '\0';
    if (l->fn == NULL && l->next_waiter == NULL) {
        /* A refresh that lost the race to another loader, with nobody waiting: just stop. */
        flight_end(l, CACHE_FAILED, CACHE_ANSWER_HIT, NULL, 0);
        return;
    }
    l->wait_started_ms = clock_wall_ms();
    redisReply *head = reply->elements == 3 ? reply->element[2] : NULL;
    if (head != NULL && head->type == REDIS_REPLY_STRING &&
        strncmp(head->str, LOCK_VALUE, 2) == 0) {
        /* The previous loader stored the value between our GET and now (double-checked). */
        flight_end_with(l, head->str + 2, head->len - 2, CACHE_ANSWER_MISS);
        return;
    }
    wait_for_loader(l);
}

/* The lookup missed (or is a refresh): load once, for everyone. */
static void miss(lookup_t *l)
{
    if (miss_keys(l) != 0) {
        l->use_redis = 0;
        load(l);
        return;
    }
    int protect = l->lab.stampede_protection && l->use_redis;
    if (protect) {
        flight_t *f = flight_find(l->cache, l->id);
        if (f != NULL) {
            if (l->fn == NULL) { /* A refresh is already under way. */
                lookup_free(l);
                return;
            }
            /* Join as a waiter, after the leader. */
            l->flight = f;
            l->next_waiter = f->waiters->next_waiter;
            f->waiters->next_waiter = l;
            return;
        }
        if (flight_begin(l) != 0)
            protect = 0;
    }
    if (protect)
        snprintf(l->token, sizeof l->token, LOCK_TOKEN "%016llx",
                 (unsigned long long)(cache_random(l->cache) * 18446744073709551615.0));
    else
        l->token[0] = '\0';
    char px[16];
    snprintf(px, sizeof px, "%d", cache_config(l->cache)->pg_timeout_ms + 1000);
    const char *argv[] = {"EVAL",
                          CLAIM_SCRIPT,
                          "4",
                          l->keys.lock,
                          l->keys.gen,
                          l->keys.value,
                          l->keys.fresh,
                          l->token,
                          px,
                          l->invalid ? "1" : "0",
                          l->fn == NULL ? "1" : "0"};
    if (redis_send(l, on_claim, 11, argv, sizeof CLAIM_SCRIPT - 1) != 0) {
        l->token[0] = '\0';
        load(l);
    }
}

/* ---------------------------------------------------------------- waiting for a loader --- */

static void on_wait_tick(evutil_socket_t fd, short what, void *arg);

static void on_lock_head(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR) {
        load(l); /* Redis failed: query ourselves. */
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        load(l); /* Let go without a value (nothing was stored): query ourselves. */
        return;
    }
    if (strncmp(reply->str, LOCK_VALUE, 2) == 0) {
        flight_end_with(l, reply->str + 2, reply->len - 2, CACHE_ANSWER_MISS);
        return;
    }
    if (strncmp(reply->str, LOCK_FAILED, 2) == 0) {
        if (strtoll(reply->str + 2, NULL, 10) >= l->wait_started_ms)
            serve_stale(l); /* The loader we waited for failed: so would we, in time. */
        else
            load(l); /* A failure from before we came: PostgreSQL may be back. */
        return;
    }
    if (clock_monotonic_ms() >= l->poll_until_ms) {
        serve_stale(l); /* The loader takes longer than a query may: PostgreSQL is stuck. */
        return;
    }
    if (poll_later(l, on_wait_tick) != 0)
        load(l);
}

static void on_wait_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lookup_t *l = arg;
    const char *argv[] = {"LMOVE", l->keys.lock, l->keys.lock, "LEFT", "LEFT"};
    if (redis_send(l, on_lock_head, 5, argv, 0) != 0)
        load(l);
}

/* Someone else loads: wait for their value, within LOCK_WAIT_MS. */
static void wait_for_loader(lookup_t *l)
{
    set_deadline(l);
    if (poll_later(l, on_wait_tick) != 0)
        load(l);
}

/* ---------------------------------------------------------------- load --- */

static void unlock_as(lookup_t *l, const char *mark)
{
    if (l->token[0] == '\0')
        return;
    const char *argv[] = {"EVAL", UNLOCK_SCRIPT, "1", l->keys.lock, l->token, mark};
    redis_send(l, NULL, 6, argv, sizeof UNLOCK_SCRIPT - 1);
    l->token[0] = '\0';
}

/* A database answer waiting for its store: everyone is answered once Redis has the key. */
typedef struct {
    lookup_t *l;           /* The leader. */
    cache_status_t status; /* CACHE_FOUND or CACHE_NOT_FOUND. */
    char *json;            /* The product (freed here); NULL for not found. */
    size_t len;            /* Its length. */
    char token[24];        /* The leader's lock token, which a refused fill leaves in the lock. */
} pending_fill_t;

static void fill_done(pending_fill_t *p)
{
    flight_end(p->l, p->status, miss_answer(p->l), p->json, p->len);
    free(p->json);
    free(p);
}

/*
 * REREAD: the fill refused a row from the replica as older than the newest write. Nobody has been
 * answered yet and the lock is still ours, so the load is simply made again, on the primary, which
 * has the write: what it answers is filled (the generation check still applies) and answered.
 */
static void reread(pending_fill_t *p)
{
    lookup_t *l = p->l;
    stats_incr(STATS_REPLICA_REFUSED);
    if (l->opts.refused != NULL)
        (*l->opts.refused)++;
    snprintf(l->token, sizeof l->token, "%s", p->token);
    l->primary_only = 1;
    free(p->json);
    free(p);
    load(l);
}

static void on_fill(int status, redisReply *reply, void *arg)
{
    pending_fill_t *p = arg;
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR) {
        stats_incr(STATS_REDIS_ERROR);
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer < 0 && !p->l->primary_only) {
        reread(p);
        return;
    }
    fill_done(p);
}

/*
 * Stores what the database said (json NULL: not found) unless a write came in between, then
 * answers everyone. Answering after the store means a client's next read finds the key, whichever
 * loop serves it. version is the row's version when the fill must check it (a row from the
 * replica: "0" for not found), else "".
 */
static void store_then_answer(lookup_t *l, cache_status_t status, char *json, size_t len,
                              const char *version)
{
    pending_fill_t *p = malloc(sizeof *p);
    if (p == NULL) {
        unlock_as(l, "");
        flight_end(l, status, miss_answer(l), json, len);
        free(json);
        return;
    }
    *p = (pending_fill_t){l, status, json, len, {0}};
    snprintf(p->token, sizeof p->token, "%s", l->token);
    int found = status == CACHE_FOUND;
    if (!l->gen_known || (!found && l->lab.negative_ttl_seconds == 0)) {
        /* Nothing to fill (a 404 with negative caching off), but a stale answer is still one. */
        if (l->gen_known && version[0] != '\0' &&
            strtoll(version, NULL, 10) < strtoll(l->gen, NULL, 10)) {
            reread(p);
            return;
        }
        unlock_as(l, "");
        fill_done(p);
        return;
    }
    cache_ttl_t ttl = {{0}, {0}, {0}};
    cache_ttl_plan(l->cache, found, l->cache->load_ms_avg, 0, &ttl);
    const char *argv[] = {"EVAL",
                          FILL_SCRIPT,
                          "6",
                          l->keys.value,
                          l->keys.gen,
                          l->keys.stale,
                          l->keys.fresh,
                          l->keys.lock,
                          l->keys.pending,
                          found ? json : CACHE_ENTRY_NULL,
                          l->gen,
                          ttl.ttl,
                          ttl.stale,
                          ttl.fresh,
                          l->token,
                          DELIVER_MS,
                          version};
    enum { FILL_ARGS = sizeof argv / sizeof argv[0] };
    size_t argvlen[FILL_ARGS];
    for (int i = 0; i < FILL_ARGS; i++)
        argvlen[i] = strlen(argv[i]);
    argvlen[1] = sizeof FILL_SCRIPT - 1;
    if (found)
        argvlen[9] = len;
    redis_client_t *rc = redis_of(l);
    int sent = rc != NULL && redis_client_command(rc, on_fill, p, FILL_ARGS, argv, argvlen) == 0;
    l->token[0] = '\0'; /* The script lets the lock go (or it expires). */
    if (!sent) {
        stats_incr(STATS_REDIS_ERROR);
        fill_done(p);
    }
}

static void on_row(int status, PGresult *res, cache_read_from_t from, void *arg)
{
    lookup_t *l = arg;
    double took = (double)(clock_monotonic_ms() - l->started_ms);
    l->cache->load_ms_avg = 0.8 * l->cache->load_ms_avg + 0.2 * took;

    if (status != PG_POOL_OK) {
        stats_incr(STATS_DB_ERROR);
        char failed[40];
        snprintf(failed, sizeof failed, LOCK_FAILED "%lld", clock_wall_ms());
        unlock_as(l, failed);
        serve_stale(l);
        return;
    }
    /*
     * A row from the replica carries its version to the fill, which refuses it when it is older
     * than the newest write (replica_guard); a row from the primary is current when read.
     */
    char version[24] = "";
    int found = PQntuples(res) > 0;
    if (from == CACHE_READ_REPLICA && l->opts.replica_reads != NULL)
        (*l->opts.replica_reads)++;
    if (from == CACHE_READ_REPLICA && l->lab.replica_guard)
        snprintf(version, sizeof version, "%s",
                 !found                              ? "0"
                 : PQnfields(res) > Q_VERSION_COLUMN ? PQgetvalue(res, 0, Q_VERSION_COLUMN)
                                                     : "");
    if (!found) {
        store_then_answer(l, CACHE_NOT_FOUND, NULL, 0, version);
        return;
    }
    product_t p;
    product_from_row(res, 0, &p);
    char *json = NULL;
    size_t len = 0;
    if (product_to_json(&p, &json, &len) != 0) {
        unlock_as(l, "");
        flight_end(l, CACHE_FAILED, miss_answer(l), NULL, 0);
        return;
    }
    store_then_answer(l, CACHE_FOUND, json, len, version);
}

static void on_primary_row(int status, PGresult *res, void *arg)
{
    on_row(status, res, CACHE_READ_PRIMARY, arg);
}

static void load(lookup_t *l)
{
    pg_pool_t *pg = cache_pg(l->cache);
    char idtext[16], delay[16];
    snprintf(idtext, sizeof idtext, "%d", (int)l->id);
    snprintf(delay, sizeof delay, "%d", l->lab.db_delay_ms);
    const char *params[] = {idtext, delay};
    int stmt = l->lab.db_delay_ms > 0 ? Q_PRODUCT_BY_ID_DELAYED : Q_PRODUCT_BY_ID;
    stats_incr(STATS_DB_QUERY);
    if (l->opts.db_queries != NULL)
        (*l->opts.db_queries)++;
    l->started_ms = clock_monotonic_ms();
    /* Misses read from the replica when there is one; a refused row is read again here. */
    int rc = cache_replica(l->cache) != NULL && !l->primary_only
                 ? cache_read_query(l->cache, stmt, params, on_row, l)
             : pg != NULL ? pg_pool_query(pg, stmt, params, on_primary_row, l)
                          : PG_POOL_EDOWN;
    if (rc != 0)
        on_row(PG_POOL_EDOWN, NULL, CACHE_READ_PRIMARY, l);
}

/* ---------------------------------------------------------------- warm fill --- */

/* A warm's store on its way: the caller's completion. */
typedef struct {
    cache_done_fn fn; /* Called once with the outcome. */
    void *arg;        /* Its argument. */
} warm_fill_t;

static void on_warm_fill(int status, redisReply *reply, void *arg)
{
    warm_fill_t *w = arg;
    cache_write_t outcome = CACHE_WRITE_FAILED;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_INTEGER)
        stats_incr(STATS_REDIS_ERROR);
    else
        outcome = reply->integer == 1 ? CACHE_WRITE_APPLIED : CACHE_WRITE_SKIPPED;
    w->fn(outcome, w->arg);
    free(w);
}

void cache_fill_product(cache_t *cache, int32_t id, const char *gen, const char *json, size_t len,
                        const char *version, cache_done_fn fn, void *arg)
{
    cache_keys_t keys;
    warm_fill_t *w = malloc(sizeof *w);
    if (w == NULL || cache->redis == NULL || cache->cfg->cache_bypass ||
        cache_keys_build(cache->cfg->cache_key_prefix, id, &keys) != 0) {
        free(w);
        fn(cache->cfg->cache_bypass ? CACHE_WRITE_SKIPPED : CACHE_WRITE_FAILED, arg);
        return;
    }
    *w = (warm_fill_t){fn, arg};
    cache_ttl_t ttl = {{0}, {0}, {0}};
    cache_ttl_plan(cache, 1, cache->load_ms_avg, 0, &ttl);
    /* FILL_SCRIPT with no token: the generation check and the store, no lock to let go. */
    const char *argv[] = {"EVAL",     FILL_SCRIPT, "6",          keys.value, keys.gen, keys.stale,
                          keys.fresh, keys.lock,   keys.pending, json,       gen,      ttl.ttl,
                          ttl.stale,  ttl.fresh,   "",           DELIVER_MS, version};
    enum { FILL_ARGS = sizeof argv / sizeof argv[0] };
    size_t argvlen[FILL_ARGS];
    for (int i = 0; i < FILL_ARGS; i++)
        argvlen[i] = strlen(argv[i]);
    argvlen[1] = sizeof FILL_SCRIPT - 1;
    argvlen[9] = len;
    if (redis_client_command(cache->redis, on_warm_fill, w, FILL_ARGS, argv, argvlen) != 0) {
        stats_incr(STATS_REDIS_ERROR);
        free(w);
        fn(CACHE_WRITE_FAILED, arg);
    }
}

/* ---------------------------------------------------------------- stale --- */

static void on_stale(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STRING &&
        cache_entry_classify(reply->str, reply->len) == CACHE_ENTRY_PRODUCT) {
        flight_end(l, CACHE_FOUND, CACHE_ANSWER_STALE, reply->str, reply->len);
        return;
    }
    flight_end(l, CACHE_DB_DOWN, miss_answer(l), NULL, 0);
}

/*
 * PostgreSQL could not answer: the stale copy if one is left (stale-if-error), else 503. The copy
 * is a one-element list read with LMOVE onto itself: uncounted, and unchanged by the read.
 */
static void serve_stale(lookup_t *l)
{
    if (l->fn == NULL && (l->flight == NULL || l->flight->waiters->next_waiter == NULL)) {
        flight_end(l, CACHE_DB_DOWN, miss_answer(l), NULL, 0); /* A refresh. */
        return;
    }
    const char *argv[] = {"LMOVE", l->keys.stale, l->keys.stale, "LEFT", "LEFT"};
    if (!l->keys_built || redis_send(l, on_stale, 5, argv, 0) != 0)
        flight_end(l, CACHE_DB_DOWN, miss_answer(l), NULL, 0);
}
