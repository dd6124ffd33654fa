/*
 * cache_lookup — cache_lookup_product (declared in cache.h) and its protections.
 *
 * A lookup that misses becomes the leader of a "flight" for its product on this loop; lookups of
 * the same product that miss while the flight is on join it as waiters and get its outcome
 * (single-flight). Across loops and instances, the leader first takes a Redis lock
 * (SET lock:<key> <token> NX PX); a leader that does not get it polls the cache until the holder's
 * value lands, and queries PostgreSQL itself only if it has not after LOCK_WAIT_MS. The lock is
 * released by a compare-and-delete script, so a leader never deletes a lock that expired and was
 * taken by someone else.
 */
#include "cache.h"

#include "cache_entry.h"
#include "clock.h"
#include "lab.h"
#include "log.h"
#include "product.h"
#include "queries.h"
#include "stats.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOCK_PREFIX "lock:"
#define POLL_MS 10
#define FLIGHT_BUCKETS 64

/*
 * KEYS: value, generation, write-behind pending count. ARGV: value, generation seen before the read
 * ("" = none), ttl. Stores nothing when a write came in between, or while queued writes of the
 * product have not reached PostgreSQL (what was read there is older than the cache's).
 */
static const char FILL_SCRIPT[] = "local g = redis.call('GET', KEYS[2]) or ''\n"
                                  "if g ~= ARGV[2] then return 0 end\n"
                                  "if tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then return 0 end\n"
                                  "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])\n"
                                  "return 1\n";

/*
 * KEYS: lock. ARGV: token, "" or "failed:<unix ms>". Deletes the lock only if it is still ours —
 * or, after a failed load, replaces it with the failure's time for a moment, so that the lookups
 * that were waiting on it answer at once (stale, or 503) instead of trying the same failing database
 * again. A lookup that starts waiting after that time ignores the mark and queries itself.
 */
static const char UNLOCK_SCRIPT[] = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
                                    "if ARGV[2] ~= '' then\n"
                                    "  return redis.call('SET', KEYS[1], ARGV[2], 'PX', 1000)\n"
                                    "end\n"
                                    "return redis.call('DEL', KEYS[1])\n";

typedef struct lookup lookup_t;

/* One load of one product on this loop, with the lookups waiting for it. */
typedef struct flight {
    int32_t id;             /* Product. */
    lookup_t *waiters;      /* Lookups answered with the outcome (leader first). */
    struct flight *next;    /* Bucket chain. */
} flight_t;

struct lookup {
    worker_t *w;            /* Loop. */
    int32_t id;             /* Product. */
    cache_lookup_fn fn;     /* Caller's callback; NULL for a background refresh. */
    void *arg;              /* Caller's argument. */
    char key[192];          /* Value key. */
    char gen_key[200];      /* Generation key. */
    char lock_key[200];     /* Lock key. */
    char pending_key[200];  /* Write-behind pending count. */
    char token[24];         /* Our lock token while we hold it. */
    char gen[32];           /* Generation seen by the first read ("" = none). */
    int gen_known;          /* 1 when the first read answered: a fill is safe. */
    int use_redis;          /* 0 under CACHE_BYPASS or after Redis refused. */
    char *stale;            /* A logically expired value, for stale-if-error; malloc'd. */
    size_t stale_len;       /* Its length. */
    flight_t *flight;       /* The flight this lookup leads or waits on. */
    lookup_t *next_waiter;  /* Flight's waiter list. */
    struct event *poll;     /* Polling for another loader's value. */
    struct timespec poll_until; /* When polling gives up. */
    long long wait_started_ms; /* When waiting on another loader began (Unix ms). */
    struct timespec started; /* Start of the database load, for refresh-ahead's estimate. */
    lab_settings_t lab;     /* Settings when the lookup started. */
};

/* Flights of the loop running on this thread (one loop per thread). */
static _Thread_local flight_t *flights[FLIGHT_BUCKETS];
/* How long a database load takes on this loop (moving average, ms), for XFetch. */
static _Thread_local double load_ms_avg = 1.0;

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void lookup_free(lookup_t *l)
{
    if (l->poll != NULL)
        event_free(l->poll);
    free(l->stale);
    free(l);
}

static void answer(lookup_t *l, cache_status_t status, const char *source, const char *xcache,
                   const char *json, size_t len)
{
    if (l->fn != NULL) {
        /* Counted by how the answer was made, so hits + misses = lookups, matching `source`. */
        stats_incr(strcmp(source, "cache") == 0 ? STATS_HIT : STATS_MISS);
        cache_result_t r = {status, source, xcache, json, len};
        l->fn(&r, l->arg);
    }
    lookup_free(l);
}

/* X-Cache of an answer from the database: MISS, or BYPASS when Redis was skipped. */
static const char *miss_label(const lookup_t *l)
{
    return l->use_redis ? "MISS" : "BYPASS";
}

/*
 * Builds the lock and write-behind keys, which only a miss (or the write-behind mode's first read)
 * needs: a hit never pays for them.
 */
static void lock_keys(lookup_t *l)
{
    if (l->lock_key[0] != '\0')
        return;
    snprintf(l->lock_key, sizeof l->lock_key, LOCK_PREFIX "%s", l->key);
    cache_pending_key(l->key, l->pending_key, sizeof l->pending_key);
}

/* ---------------------------------------------------------------- flights --- */

static flight_t **bucket(int32_t id)
{
    return &flights[(uint32_t)id % FLIGHT_BUCKETS];
}

static flight_t *flight_find(int32_t id)
{
    for (flight_t *f = *bucket(id); f != NULL; f = f->next) {
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
    f->next = *bucket(leader->id);
    *bucket(leader->id) = f;
    leader->flight = f;
    return 0;
}

/* Ends the leader's flight: every lookup on it gets the same outcome. */
static void flight_end(lookup_t *leader, cache_status_t status, const char *source,
                       const char *xcache, const char *json, size_t len)
{
    flight_t *f = leader->flight;
    if (f == NULL) {
        answer(leader, status, source, xcache, json, len);
        return;
    }
    for (flight_t **pp = bucket(f->id); *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    /* The leader answers last: json may point into its memory (its stale copy). */
    lookup_t *w = f->waiters->next_waiter;
    while (w != NULL) {
        lookup_t *next = w->next_waiter;
        answer(w, status, source, xcache, json, len);
        w = next;
    }
    free(f);
    answer(leader, status, source, xcache, json, len);
}

/* ---------------------------------------------------------------- database --- */

static void unlock_as(lookup_t *l, const char *outcome)
{
    if (l->token[0] == '\0')
        return;
    redis_client_t *rc = worker_redis(l->w);
    const char *argv[] = {"EVAL", UNLOCK_SCRIPT, "1", l->lock_key, l->token, outcome};
    size_t argvlen[] = {4, sizeof UNLOCK_SCRIPT - 1, 1, strlen(l->lock_key), strlen(l->token),
                        strlen(outcome)};
    if (rc != NULL)
        redis_client_command(rc, NULL, NULL, 6, argv, argvlen);
    l->token[0] = '\0';
}

static void unlock(lookup_t *l)
{
    unlock_as(l, "");
}

/* A database answer waiting for its store: everyone is answered once Redis has the key. */
typedef struct {
    lookup_t *l;          /* The leader. */
    cache_status_t status; /* CACHE_FOUND or CACHE_NOT_FOUND. */
    char *json;           /* The product (freed here); NULL for not found. */
    size_t len;           /* Its length. */
} pending_fill_t;

static void fill_done(pending_fill_t *p)
{
    unlock(p->l);
    flight_end(p->l, p->status, "database", miss_label(p->l), p->json, p->len);
    free(p->json);
    free(p);
}

static void on_fill(int status, redisReply *reply, void *arg)
{
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR)
        stats_incr(STATS_REDIS_ERROR);
    fill_done(arg);
}

/*
 * Stores what the database said (json NULL: not found) unless a write came in between, then
 * answers everyone. Answering after the store means a client's next read finds the key, whichever
 * loop serves it.
 */
static void store_then_answer(lookup_t *l, cache_status_t status, char *json, size_t len)
{
    pending_fill_t *p = malloc(sizeof *p);
    if (p == NULL) {
        unlock(l);
        flight_end(l, status, "database", miss_label(l), json, len);
        free(json);
        return;
    }
    p->l = l;
    p->status = status;
    p->json = json;
    p->len = len;
    redis_client_t *rc = worker_redis(l->w);
    int negative = status == CACHE_NOT_FOUND;
    if (!l->use_redis || !l->gen_known || rc == NULL ||
        (negative && l->lab.negative_ttl_seconds == 0)) {
        fill_done(p);
        return;
    }
    char *value;
    size_t value_len;
    int redis_ttl;
    if (cache_encode_value(negative ? NULL : json, len, &value, &value_len, &redis_ttl) != 0) {
        fill_done(p);
        return;
    }
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", redis_ttl);
    const char *argv[] = {"EVAL", FILL_SCRIPT, "3", l->key, l->gen_key, l->pending_key,
                          value, l->gen, ttl};
    size_t argvlen[] = {4, sizeof FILL_SCRIPT - 1, 1, strlen(l->key), strlen(l->gen_key),
                        strlen(l->pending_key), value_len, strlen(l->gen), strlen(ttl)};
    int rc_status = redis_client_command(rc, on_fill, p, 9, argv, argvlen);
    free(value);
    if (rc_status != 0) {
        stats_incr(STATS_REDIS_ERROR);
        fill_done(p);
    }
}

static void on_row(int status, PGresult *res, void *arg)
{
    lookup_t *l = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double took = (double)(now.tv_sec - l->started.tv_sec) * 1e3 +
                  (double)(now.tv_nsec - l->started.tv_nsec) / 1e6;
    load_ms_avg = 0.8 * load_ms_avg + 0.2 * took;

    if (status != PG_POOL_OK) {
        stats_incr(STATS_DB_ERROR);
        char failed[40];
        snprintf(failed, sizeof failed, "failed:%lld", wall_ms());
        unlock_as(l, failed);
        if (l->stale != NULL)
            flight_end(l, CACHE_FOUND, "stale", "STALE", l->stale, l->stale_len);
        else
            flight_end(l, CACHE_DB_DOWN, "database", miss_label(l), NULL, 0);
        return;
    }
    if (PQntuples(res) == 0) {
        store_then_answer(l, CACHE_NOT_FOUND, NULL, 0);
        return;
    }
    product_t p;
    product_from_row(res, 0, &p);
    char *json = NULL;
    size_t len = 0;
    if (product_to_json(&p, &json, &len) != 0) {
        unlock(l);
        flight_end(l, CACHE_FAILED, "database", miss_label(l), NULL, 0);
        return;
    }
    store_then_answer(l, CACHE_FOUND, json, len);
}

static void load(lookup_t *l)
{
    pg_pool_t *pg = worker_pg(l->w);
    char idtext[16], delay[16];
    snprintf(idtext, sizeof idtext, "%d", (int)l->id);
    snprintf(delay, sizeof delay, "%d", l->lab.db_delay_ms);
    const char *params[] = {idtext, delay};
    int stmt = l->lab.db_delay_ms > 0 ? Q_PRODUCT_BY_ID_DELAYED : Q_PRODUCT_BY_ID;
    stats_incr(STATS_DB_QUERY);
    clock_gettime(CLOCK_MONOTONIC, &l->started);
    if (pg == NULL || pg_pool_query(pg, stmt, params, on_row, l) != 0)
        on_row(PG_POOL_EDOWN, NULL, l);
}

/* ---------------------------------------------------------------- waiting for a loader --- */

static int past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void poll_again(lookup_t *l);

/*
 * Waiting gives up after LOCK_WAIT_MS, or once the loader has had as long as a query may take
 * (PG_TIMEOUT_MS and a little): by then its query has failed or PostgreSQL is stuck.
 */
static void set_deadline(lookup_t *l)
{
    clock_gettime(CLOCK_MONOTONIC, &l->poll_until);
    const config_t *cfg = worker_config(l->w);
    int wait = cfg->lock_wait_ms < cfg->pg_timeout_ms + 100 ? cfg->lock_wait_ms
                                                            : cfg->pg_timeout_ms + 100;
    l->poll_until.tv_sec += wait / 1000;
    l->poll_until.tv_nsec += (long)(wait % 1000) * 1000000L;
    if (l->poll_until.tv_nsec >= 1000000000L) {
        l->poll_until.tv_sec++;
        l->poll_until.tv_nsec -= 1000000000L;
    }
}

/* The waiting is over without a value: stale if we have it, else the database's failure. */
static void give_up(lookup_t *l)
{
    if (l->stale != NULL)
        flight_end(l, CACHE_FOUND, "stale", "STALE", l->stale, l->stale_len);
    else
        flight_end(l, CACHE_DB_DOWN, "database", "MISS", NULL, 0);
}

static void on_poll_reply(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    long long expiry;
    const char *json;
    size_t jlen;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        load(l); /* Redis failed: query ourselves. */
        return;
    }
    redisReply *value = reply->element[0], *lock = reply->element[1];
    if (value->type == REDIS_REPLY_STRING &&
        cache_entry_decode(value->str, value->len, &expiry, &json, &jlen) == 0 &&
        expiry > wall_ms()) {
        /* The other loader's value landed. */
        if (jlen == 0)
            flight_end(l, CACHE_NOT_FOUND, "cache", "HIT", NULL, 0);
        else
            flight_end(l, CACHE_FOUND, "cache", "HIT", json, jlen);
        return;
    }
    if (lock->type == REDIS_REPLY_STRING && strncmp(lock->str, "failed:", 7) == 0) {
        if (strtoll(lock->str + 7, NULL, 10) >= l->wait_started_ms) {
            give_up(l); /* The loader we waited for failed: so would we, in the same deadline. */
            return;
        }
        load(l); /* A failure from before we came: PostgreSQL may be back. */
        return;
    }
    if (lock->type == REDIS_REPLY_NIL) {
        load(l); /* Released without a value (nothing to cache): query ourselves. */
        return;
    }
    if (past(&l->poll_until)) {
        give_up(l); /* The loader is taking longer than a query may: PostgreSQL is stuck. */
        return;
    }
    poll_again(l);
}

static void on_poll_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lookup_t *l = arg;
    redis_client_t *rc = worker_redis(l->w);
    const char *argv[] = {"MGET", l->key, l->lock_key};
    size_t argvlen[] = {4, strlen(l->key), strlen(l->lock_key)};
    if (rc == NULL || redis_client_command(rc, on_poll_reply, l, 3, argv, argvlen) != 0)
        load(l);
}

static void poll_again(lookup_t *l)
{
    struct timeval tv = clock_ms_to_tv(POLL_MS);
    evtimer_add(l->poll, &tv);
}

static void on_recheck(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    long long expiry;
    const char *json;
    size_t jlen;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STRING &&
        cache_entry_decode(reply->str, reply->len, &expiry, &json, &jlen) == 0 &&
        expiry > wall_ms() && l->fn != NULL) {
        unlock(l);
        if (jlen == 0)
            flight_end(l, CACHE_NOT_FOUND, "cache", "HIT", NULL, 0);
        else
            flight_end(l, CACHE_FOUND, "cache", "HIT", json, jlen);
        return;
    }
    load(l); /* Still missing (or a refresh, which reloads anyway). */
}

static void on_lock(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STATUS) {
        /*
         * We hold the lock. Look once more before loading: the previous holder may have stored
         * the value and let go between our first read and our lock (double-checked locking).
         */
        redis_client_t *rc = worker_redis(l->w);
        const char *argv[] = {"GET", l->key};
        size_t argvlen[] = {3, strlen(l->key)};
        if (rc == NULL || redis_client_command(rc, on_recheck, l, 2, argv, argvlen) != 0)
            load(l);
        return;
    }
    l->token[0] = '\0';
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_NIL) {
        load(l); /* Redis failed: load without the lock. */
        return;
    }
    if (l->fn == NULL && l->next_waiter == NULL) {
        /* A refresh that lost the race to another loader, with nobody waiting: just stop. */
        flight_end(l, CACHE_FAILED, "cache", "HIT", NULL, 0);
        return;
    }
    /* Someone else loads: wait for their value, within LOCK_WAIT_MS. */
    l->wait_started_ms = wall_ms();
    if (l->poll != NULL)
        event_free(l->poll); /* The write-behind wait's timer, done with. */
    l->poll = evtimer_new(worker_base(l->w), on_poll_tick, l);
    if (l->poll == NULL) {
        load(l);
        return;
    }
    set_deadline(l);
    poll_again(l);
}

/* The lookup missed (or is a refresh): load once, for everyone. */
static void miss(lookup_t *l)
{
    lock_keys(l);
    if (!l->lab.stampede_protection || !l->use_redis || !l->gen_known) {
        load(l);
        return;
    }
    flight_t *f = flight_find(l->id);
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
    if (flight_begin(l) != 0) {
        load(l);
        return;
    }
    redis_client_t *rc = worker_redis(l->w);
    snprintf(l->token, sizeof l->token, "%016llx",
             (unsigned long long)(cache_random() * 18446744073709551615.0));
    char px[16];
    int ms = worker_config(l->w)->pg_timeout_ms + 1000;
    snprintf(px, sizeof px, "%d", ms);
    const char *argv[] = {"SET", l->lock_key, l->token, "NX", "PX", px};
    size_t argvlen[] = {3, strlen(l->lock_key), strlen(l->token), 2, 2, strlen(px)};
    if (rc == NULL || redis_client_command(rc, on_lock, l, 6, argv, argvlen) != 0) {
        l->token[0] = '\0';
        load(l);
    }
}

/* ---------------------------------------------------------------- write-behind catching up --- */

static void on_queue_tick(evutil_socket_t fd, short what, void *arg);

static void on_pending_reply(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    int caught_up = status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_STRING ||
                    strtol(reply->str, NULL, 10) <= 0;
    if (caught_up || past(&l->poll_until)) {
        miss(l);
        return;
    }
    struct timeval tv = clock_ms_to_tv(POLL_MS);
    evtimer_add(l->poll, &tv);
}

static void on_queue_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lookup_t *l = arg;
    redis_client_t *rc = worker_redis(l->w);
    const char *argv[] = {"GET", l->pending_key};
    size_t argvlen[] = {3, strlen(l->pending_key)};
    if (rc == NULL || redis_client_command(rc, on_pending_reply, l, 2, argv, argvlen) != 0)
        miss(l);
}

static void wait_for_queue(lookup_t *l)
{
    l->poll = evtimer_new(worker_base(l->w), on_queue_tick, l);
    if (l->poll == NULL) {
        miss(l);
        return;
    }
    set_deadline(l);
    struct timeval tv = clock_ms_to_tv(POLL_MS);
    evtimer_add(l->poll, &tv);
}

/* ---------------------------------------------------------------- the first read --- */

static lookup_t *lookup_new(worker_t *w, int32_t id, cache_lookup_fn fn, void *arg)
{
    lookup_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    const config_t *cfg = worker_config(w);
    l->w = w;
    l->id = id;
    l->fn = fn;
    l->arg = arg;
    lab_get(&l->lab);
    l->use_redis = !cfg->cache_bypass &&
                   cache_key_build(cfg->cache_key_prefix, id, l->key, sizeof l->key) >= 0 &&
                   cache_gen_key(l->key, l->gen_key, sizeof l->gen_key) >= 0;
    if (cfg->write_mode == CONFIG_WRITE_BEHIND)
        lock_keys(l); /* The first read asks for the pending count too. */
    return l;
}

/* A hit that should be refreshed before it expires: reload in the background. */
static void refresh(const lookup_t *hit)
{
    if (flight_find(hit->id) != NULL)
        return;
    lookup_t *r = lookup_new(hit->w, hit->id, NULL, NULL);
    if (r == NULL)
        return;
    snprintf(r->gen, sizeof r->gen, "%s", hit->gen);
    r->gen_known = 1;
    r->lab.stampede_protection = 1; /* The lock keeps one refresh across loops and instances. */
    miss(r);
}

static void on_first_read(int status, redisReply *reply, void *arg)
{
    lookup_t *l = arg;
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_ARRAY &&
             (reply->elements == 2 || reply->elements == 3);
    if (!ok) {
        stats_incr(STATS_REDIS_ERROR);
        l->use_redis = 0;
        load(l);
        return;
    }
    redisReply *g = reply->element[1];
    snprintf(l->gen, sizeof l->gen, "%s", g->type == REDIS_REPLY_STRING ? g->str : "");
    l->gen_known = 1;

    redisReply *v = reply->element[0];
    long long expiry;
    const char *json;
    size_t jlen;
    if (v->type == REDIS_REPLY_STRING &&
        cache_entry_decode(v->str, v->len, &expiry, &json, &jlen) == 0) {
        long long now = wall_ms();
        if (now < expiry) {
            long long ttl_ms = (long long)l->lab.ttl_seconds * 1000;
            int refresh_now = jlen > 0 && l->lab.refresh_ahead &&
                              cache_entry_should_refresh(now, expiry, ttl_ms,
                                                         l->lab.refresh_window_percent,
                                                         load_ms_avg, 1.0, 1.0 - cache_random());
            if (refresh_now)
                refresh(l);
            if (jlen == 0)
                answer(l, CACHE_NOT_FOUND, "cache", "HIT", NULL, 0);
            else
                answer(l, CACHE_FOUND, "cache", "HIT", json, jlen);
            return;
        }
        if (jlen > 0 && (l->stale = malloc(jlen)) != NULL) {
            memcpy(l->stale, json, jlen); /* Past its time: kept for stale-if-error. */
            l->stale_len = jlen;
        }
    }
    redisReply *pending = reply->elements == 3 ? reply->element[2] : NULL;
    if (pending != NULL && pending->type == REDIS_REPLY_STRING &&
        strtol(pending->str, NULL, 10) > 0) {
        /*
         * Write-behind: PostgreSQL does not have this product's newest state yet and the cache
         * lost it (cleared, evicted). Wait for the queue to catch up, within LOCK_WAIT_MS.
         */
        wait_for_queue(l);
        return;
    }
    miss(l);
}

void cache_lookup_product(worker_t *w, int32_t id, cache_lookup_fn fn, void *arg)
{
    lookup_t *l = lookup_new(w, id, fn, arg);
    if (l == NULL) {
        cache_result_t r = {CACHE_FAILED, "database", "MISS", NULL, 0};
        fn(&r, arg);
        return;
    }
    redis_client_t *rc = worker_redis(w);
    if (!l->use_redis) {
        load(l);
        return;
    }
    /*
     * The value and its generation in one round trip — and, in write-behind mode only, the count
     * of the product's queued writes (the only mode that has any).
     */
    const char *argv[] = {"MGET", l->key, l->gen_key, l->pending_key};
    size_t argvlen[] = {4, strlen(l->key), strlen(l->gen_key), strlen(l->pending_key)};
    int keys = worker_config(w)->write_mode == CONFIG_WRITE_BEHIND ? 3 : 2;
    int rc_status =
        rc ? redis_client_command(rc, on_first_read, l, 1 + keys, argv, argvlen) : -1;
    if (rc_status != 0) {
        if (rc_status != REDIS_CLIENT_EOPEN)
            stats_incr(STATS_REDIS_ERROR);
        l->use_redis = 0;
        load(l);
    }
}
