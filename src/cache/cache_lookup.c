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
 * The first four states are here; LOAD, REREAD and the stale answer are in cache_load.c, and what
 * both halves share (the lookup, its flight) in cache_lookup_internal.h.
 *
 * Every answer is counted once in the stats: a hit when it came from the lookup's own GET (source
 * "cache"), else a miss — so the service's hit rate and Redis' keyspace hit rate are the same
 * number. A lookup that waited for another loader's value missed the cache and is answered with a
 * value from the database, so it is a miss with source "database".
 */
#include "cache/cache.h"

#include "cache/cache_internal.h"
#include "cache/cache_lookup_internal.h"

#include "model/cache_entry.h"
#include "core/clock.h"
#include "core/lab.h"
#include "core/log.h"
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

static void first_read(lookup_t *l);
static void queue_wait(lookup_t *l);
static void miss(lookup_t *l);
static void wait_for_loader(lookup_t *l);

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
        lookup_load(l);
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
cache_answer_t lookup_miss_answer(const lookup_t *l)
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

redis_client_t *lookup_redis(const lookup_t *l)
{
    return l->use_redis ? cache_redis(l->cache) : NULL;
}

/* Sends a command whose arguments are NUL-terminated but for argv[1] (a script, script_len). */
int lookup_send(lookup_t *l, redis_client_fn fn, int argc, const char **argv, size_t script_len)
{
    enum { MAX_ARGS = 16 };
    assert(argc <= MAX_ARGS);
    size_t argvlen[MAX_ARGS];
    for (int i = 0; i < argc; i++)
        argvlen[i] = (i == 1 && script_len > 0) ? script_len : strlen(argv[i]);
    redis_client_t *rc = lookup_redis(l);
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
void lookup_flight_end(lookup_t *leader, cache_status_t status, cache_answer_t how,
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
        lookup_flight_end(l, CACHE_FOUND, how, json, len);
        return;
    case CACHE_ENTRY_NOT_FOUND:
        lookup_flight_end(l, CACHE_NOT_FOUND, how, NULL, 0);
        return;
    case CACHE_ENTRY_INVALID:
        break;
    }
    lookup_load(l);
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
        lookup_load(l);
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
        lookup_send(l, on_fresh, 4, fresh, 0) == 0)
        l->replies_due++;
    if (cache_config(l->cache)->write_mode == CONFIG_WRITE_BEHIND &&
        lookup_send(l, on_queued, 4, queued, 0) == 0)
        l->replies_due++;
    int rc = near_cache_ticket(l->cache->near, l->id, &l->near)
                 ? lookup_send(l, on_first_read, 4, get_ttl, sizeof GET_TTL_SCRIPT - 1)
                 : lookup_send(l, on_first_read, 2, get, 0);
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
    if (lookup_send(l, on_pending, 4, argv, sizeof PENDING_SCRIPT - 1) != 0)
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
        lookup_load(
            l); /* Redis failed: load without the lock, and store nothing (no generation). */
        return;
    }
    if (reply->element[0]->integer == 2) {
        /* A refresh found not needed. Lookups that joined its flight meanwhile still need one. */
        l->token[0] = '\0';
        if (l->next_waiter == NULL)
            lookup_flight_end(l, CACHE_FAILED, CACHE_ANSWER_HIT, NULL, 0);
        else
            lookup_load(l);
        return;
    }
    snprintf(l->gen, sizeof l->gen, "%lld", reply->element[1]->integer);
    l->gen_known = 1;
    if (reply->element[0]->integer == 1 || l->token[0] == '\0') {
        lookup_load(l); /* The lock is ours (or stampede protection is off). */
        return;
    }
    l->token[0] = '\0';
    if (l->fn == NULL && l->next_waiter == NULL) {
        /* A refresh that lost the race to another loader, with nobody waiting: just stop. */
        lookup_flight_end(l, CACHE_FAILED, CACHE_ANSWER_HIT, NULL, 0);
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
        lookup_load(l);
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
    if (lookup_send(l, on_claim, 11, argv, sizeof CLAIM_SCRIPT - 1) != 0) {
        l->token[0] = '\0';
        lookup_load(l);
    }
}

/* ---------------------------------------------------------------- waiting for a loader --- */

static void on_wait_tick(evutil_socket_t fd, short what, void *arg);

static void on_lock_head(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR) {
        lookup_load(l); /* Redis failed: query ourselves. */
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        lookup_load(l); /* Let go without a value (nothing was stored): query ourselves. */
        return;
    }
    if (strncmp(reply->str, LOCK_VALUE, 2) == 0) {
        flight_end_with(l, reply->str + 2, reply->len - 2, CACHE_ANSWER_MISS);
        return;
    }
    if (strncmp(reply->str, LOCK_FAILED, 2) == 0) {
        if (strtoll(reply->str + 2, NULL, 10) >= l->wait_started_ms)
            lookup_serve_stale(l); /* The loader we waited for failed: so would we, in time. */
        else
            lookup_load(l); /* A failure from before we came: PostgreSQL may be back. */
        return;
    }
    if (clock_monotonic_ms() >= l->poll_until_ms) {
        lookup_serve_stale(l); /* The loader takes longer than a query may: PostgreSQL is stuck. */
        return;
    }
    if (poll_later(l, on_wait_tick) != 0)
        lookup_load(l);
}

static void on_wait_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lookup_t *l = arg;
    const char *argv[] = {"LMOVE", l->keys.lock, l->keys.lock, "LEFT", "LEFT"};
    if (lookup_send(l, on_lock_head, 5, argv, 0) != 0)
        lookup_load(l);
}

/* Someone else loads: wait for their value, within LOCK_WAIT_MS. */
static void wait_for_loader(lookup_t *l)
{
    set_deadline(l);
    if (poll_later(l, on_wait_tick) != 0)
        lookup_load(l);
}
