/*
 * cache_load — the LOAD, REREAD and STALE states of a lookup (see cache_lookup.c for all of
 * them), and cache_fill_product, the cache warm's store through the same fill.
 *
 * A loader queries PostgreSQL (the read replica when there is one), then FILL stores the row unless
 * a write came in since the generation was read, hands it to the lookups polling the lock and lets
 * the lock go, in one script; only then is everyone on the flight answered. A failed query leaves
 * its time in the lock and answers with the stale copy if one is left, else 503.
 */
#include "cache/cache_lookup_internal.h"

#include "core/clock.h"
#include "core/stats.h"
#include "model/cache_entry.h"
#include "model/product.h"
#include "store/queries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a stored value waits in the lock for the lookups polling it. */
#define DELIVER_MS "1000"
/* How long a failed query's time stays in the lock. */
#define FAILED_MARK_MS "1000"

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

/* ---------------------------------------------------------------- load --- */

static void unlock_as(lookup_t *l, const char *mark)
{
    if (l->token[0] == '\0')
        return;
    const char *argv[] = {"EVAL", UNLOCK_SCRIPT, "1", l->keys.lock, l->token, mark};
    lookup_send(l, NULL, 6, argv, sizeof UNLOCK_SCRIPT - 1);
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
    lookup_flight_end(p->l, p->status, lookup_miss_answer(p->l), p->json, p->len);
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
    lookup_load(l);
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
        lookup_flight_end(l, status, lookup_miss_answer(l), json, len);
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
    redis_client_t *rc = lookup_redis(l);
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
        lookup_serve_stale(l);
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
        lookup_flight_end(l, CACHE_FAILED, lookup_miss_answer(l), NULL, 0);
        return;
    }
    store_then_answer(l, CACHE_FOUND, json, len, version);
}

static void on_primary_row(int status, PGresult *res, void *arg)
{
    on_row(status, res, CACHE_READ_PRIMARY, arg);
}

void lookup_load(lookup_t *l)
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
        lookup_flight_end(l, CACHE_FOUND, CACHE_ANSWER_STALE, reply->str, reply->len);
        return;
    }
    lookup_flight_end(l, CACHE_DB_DOWN, lookup_miss_answer(l), NULL, 0);
}

/*
 * PostgreSQL could not answer: the stale copy if one is left (stale-if-error), else 503. The copy
 * is a one-element list read with LMOVE onto itself: uncounted, and unchanged by the read.
 */
void lookup_serve_stale(lookup_t *l)
{
    if (l->fn == NULL && (l->flight == NULL || l->flight->waiters->next_waiter == NULL)) {
        lookup_flight_end(l, CACHE_DB_DOWN, lookup_miss_answer(l), NULL, 0); /* A refresh. */
        return;
    }
    const char *argv[] = {"LMOVE", l->keys.stale, l->keys.stale, "LEFT", "LEFT"};
    if (!l->keys_built || lookup_send(l, on_stale, 5, argv, 0) != 0)
        lookup_flight_end(l, CACHE_DB_DOWN, lookup_miss_answer(l), NULL, 0);
}
