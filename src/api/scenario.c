/*
 * scenario — see scenario.h.
 */
#include "api/scenario.h"
#include "api/scenario_rate.h"
#include "api/scenario_window.h"

#include "api/api.h"
#include "cache/cache.h"
#include "core/lab.h"
#include "core/log.h"
#include "model/product.h"
#include "store/queries.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { SC_STAMPEDE, SC_PENETRATION, SC_AVALANCHE, SC_REPLICA_LAG } scenario_kind_t;

/* The product replica-lag writes to and reads: the seed's first. */
#define REPLICA_LAG_ID 1

typedef struct {
    http_req_t *req;                /* Request being answered. */
    cache_t *cache;                 /* Loop. */
    scenario_kind_t kind;           /* Which scenario. */
    int requests;                   /* Lookups (or keys, for avalanche) per run. */
    int db_delay_ms;                /* Simulated latency during the runs. */
    lab_settings_t saved;           /* Settings to put back. */
    int phase;                      /* 0: protection off, 1: on. */
    int pending;                    /* Lookups or commands still running. */
    double *latencies;              /* Per lookup, ms. */
    int done;                       /* Lookups finished in this run. */
    int errors;                     /* Lookups that failed (503). */
    int hits, misses;               /* Lookups answered from the cache, and the others. */
    unsigned queries;               /* Queries the run's lookups sent to PostgreSQL. */
    cache_lookup_opts_t opts;       /* Uncounted lookups that count their queries in `queries`. */
    struct timespec started;        /* Start of the run. */
    struct timespec lookup_started; /* Start of the current lookup (one at a time) or the run. */
    long long ttl_min, ttl_max;     /* Avalanche: spread of the TTLs. */
    int32_t found[15];              /* Avalanche: products that exist (their keys hold values). */
    int nfound;                     /* Their number. */
    char *written;                  /* Replica lag: the product as the round's write left it. */
    int stale_cached;               /* Replica lag: rounds that left an older value in Redis. */
    int stale_answers;              /* Replica lag: lookups answered with an older value. */
    unsigned refused;               /* Replica lag: replica rows the guard refused. */
    unsigned replica_reads;         /* Replica lag: rows the lookups read from the replica. */
    json_t *runs[2];                /* Results of both runs. */
} scenario_t;

static double ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) * 1e3 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, int n, double p)
{
    if (n == 0)
        return 0.0;
    int i = (int)(p / 100.0 * (double)n + 0.5) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return sorted[i];
}

static void set_protection(scenario_t *s, int on)
{
    lab_settings_t lab = s->saved;
    json_t *patch = json_object();
    json_object_set_new(patch, "db_delay_ms", json_integer(s->db_delay_ms));
    switch (s->kind) {
    case SC_STAMPEDE:
        json_object_set_new(patch, "stampede_protection", json_boolean(on));
        break;
    case SC_PENETRATION:
        json_object_set_new(
            patch, "negative_ttl_seconds",
            json_integer(on ? (lab.negative_ttl_seconds ? lab.negative_ttl_seconds : 30) : 0));
        break;
    case SC_AVALANCHE:
        json_object_set_new(
            patch, "ttl_jitter_percent",
            json_integer(on ? (lab.ttl_jitter_percent ? lab.ttl_jitter_percent : 10) : 0));
        break;
    case SC_REPLICA_LAG:
        json_object_set_new(patch, "replica_guard", json_boolean(on));
        break;
    }
    json_t *errors = NULL;
    if (lab_apply_json(patch, &errors) != 0)
        json_decref(errors);
    json_decref(patch);
}

static void restore(scenario_t *s)
{
    json_t *all = json_object();
    json_object_set_new(all, "db_delay_ms", json_integer(s->saved.db_delay_ms));
    json_object_set_new(all, "stampede_protection", json_boolean(s->saved.stampede_protection));
    json_object_set_new(all, "negative_ttl_seconds", json_integer(s->saved.negative_ttl_seconds));
    json_object_set_new(all, "ttl_jitter_percent", json_integer(s->saved.ttl_jitter_percent));
    json_object_set_new(all, "replica_guard", json_boolean(s->saved.replica_guard));
    json_t *errors = NULL;
    if (lab_apply_json(all, &errors) != 0)
        json_decref(errors);
    json_decref(all);
}

static void start_run(scenario_t *s);

/*
 * Which of the service's counters the runs moved. Their lookups are left out of the hits and misses
 * (so the learner's hit rate stays theirs); the database queries are counted, since PostgreSQL did
 * answer them; and Redis counts the runs' reads in INFO keyspace_hits/keyspace_misses whoever sends
 * them.
 */
static const char COUNTERS_NOTE[] =
    "The runs' lookups are not counted in the service's hits, misses and hit rate (/cache/stats, "
    "/metrics, the dashboard). Their queries are counted in db_queries, and Redis counts their "
    "reads in its own INFO keyspace_hits and keyspace_misses, which the service cannot leave out.";

static void finish(scenario_t *s)
{
    restore(s);
    static const char *const names[] = {"stampede", "penetration", "avalanche", "replica-lag"};
    json_t *v = json_pack("{s:s,s:i,s:o,s:o,s:{s:b,s:b,s:b},s:s}", "scenario", names[s->kind],
                          "requests", s->requests, "without_protection", s->runs[0],
                          "with_protection", s->runs[1], "counted_in", "hits_misses", 0,
                          "db_queries", 1, "redis_keyspace", 1, "note", COUNTERS_NOTE);
    api_reply_value(s->req, 200, v);
    free(s->latencies);
    free(s->written);
    free(s);
    lab_scenario_end();
}

static void end_run(scenario_t *s)
{
    json_t *run;
    if (s->kind == SC_REPLICA_LAG) {
        run = json_pack("{s:i,s:i,s:i,s:I,s:I,s:I,s:i,s:f}", "writes", s->done,
                        "stale_values_cached", s->stale_cached, "stale_answers", s->stale_answers,
                        "refused_fills", (json_int_t)s->refused, "replica_reads",
                        (json_int_t)s->replica_reads, "db_queries", (json_int_t)s->queries,
                        "errors", s->errors, "duration_ms", ms_since(&s->started));
    } else if (s->kind == SC_AVALANCHE) {
        int any = s->ttl_max > 0;
        run = json_pack("{s:i,s:o,s:o,s:o}", "keys", s->nfound, "ttl_min_seconds",
                        any ? json_integer(s->ttl_min) : json_null(), "ttl_max_seconds",
                        any ? json_integer(s->ttl_max) : json_null(), "ttl_spread_seconds",
                        any ? json_integer(s->ttl_max - s->ttl_min) : json_null());
    } else {
        qsort(s->latencies, (size_t)s->done, sizeof *s->latencies, cmp_double);
        run = json_pack(
            "{s:I,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "db_queries", (json_int_t)s->queries, "hits",
            s->hits, "misses", s->misses, "errors", s->errors, "p50_ms",
            percentile(s->latencies, s->done, 50), "p95_ms", percentile(s->latencies, s->done, 95),
            "p99_ms", percentile(s->latencies, s->done, 99), "max_ms",
            s->done ? s->latencies[s->done - 1] : 0.0, "duration_ms", ms_since(&s->started));
    }
    s->runs[s->phase] = run;
    if (s->phase == 0) {
        s->phase = 1;
        start_run(s);
    } else {
        finish(s);
    }
}

static int32_t scenario_id(const scenario_t *s, int i)
{
    switch (s->kind) {
    case SC_STAMPEDE:
        return 1;
    case SC_PENETRATION:
        return 1000000001 + i % 10; /* Ids that do not exist. */
    case SC_AVALANCHE:
        return (int32_t)(i % 15 + 1);
    case SC_REPLICA_LAG:
        return REPLICA_LAG_ID;
    }
    return 1;
}

/* ---------------------------------------------------------------- replica lag --- */

/*
 * A round: a write through the primary (an UPDATE that changes no field, so the product keeps its
 * values while its version and updated_at move), its invalidation as the API's write makes it,
 * then at once a lookup, whose miss reads the replica, and a read of what Redis holds afterwards.
 * With the replica lagging, the row the miss reads is the one before the write: without the guard
 * it is cached (and answered); with it, the fill refuses it and the lookup reads the primary.
 */
static void round_start(scenario_t *s);

static void round_end(scenario_t *s)
{
    free(s->written);
    s->written = NULL;
    if (++s->done >= s->requests || s->errors > 0)
        end_run(s);
    else
        round_start(s);
}

static void on_cached(int status, redisReply *reply, void *arg)
{
    scenario_t *s = arg;
    /* Nothing cached (Redis down, or the fill skipped) is not a stale value. */
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STRING &&
        (reply->len != strlen(s->written) || memcmp(reply->str, s->written, reply->len) != 0))
        s->stale_cached++;
    round_end(s);
}

static void on_lag_lookup(const cache_result_t *res, void *arg)
{
    scenario_t *s = arg;
    if (res->status != CACHE_FOUND) {
        s->errors++;
        round_end(s);
        return;
    }
    if (res->len != strlen(s->written) || memcmp(res->json, s->written, res->len) != 0)
        s->stale_answers++;
    const config_t *cfg = cache_config(s->cache);
    redis_client_t *rc = cache_redis(s->cache);
    char key[192];
    cache_key_build(cfg->cache_key_prefix, REPLICA_LAG_ID, key, sizeof key);
    const char *argv[] = {"GET", key};
    size_t argvlen[] = {3, strlen(key)};
    if (rc == NULL || redis_client_command(rc, on_cached, s, 2, argv, argvlen) != 0)
        round_end(s);
}

static void on_lag_invalidated(cache_write_t outcome, void *arg)
{
    (void)outcome; /* The lookup runs whatever Redis did: a failed invalidation caches nothing. */
    scenario_t *s = arg;
    cache_lookup_product_opts(s->cache, REPLICA_LAG_ID, &s->opts, on_lag_lookup, s);
}

static void on_lag_written(int status, PGresult *res, void *arg)
{
    scenario_t *s = arg;
    size_t len = 0;
    if (status != PG_POOL_OK || PQntuples(res) != 1) {
        s->errors++; /* PostgreSQL down, or product 1 deleted: nothing to measure. */
        round_end(s);
        return;
    }
    product_t p;
    product_from_row(res, 0, &p);
    if (product_to_json(&p, &s->written, &len) != 0) {
        s->errors++;
        round_end(s);
        return;
    }
    long long version = strtoll(PQgetvalue(res, 0, Q_VERSION_COLUMN), NULL, 10);
    cache_invalidate(s->cache, REPLICA_LAG_ID, version, 0, on_lag_invalidated, s);
}

static void round_start(scenario_t *s)
{
    char id[16];
    snprintf(id, sizeof id, "%d", REPLICA_LAG_ID);
    /* Every field's flag false: the row keeps its values; the trigger raises its version. */
    const char *params[] = {id, "f", NULL, "f", NULL, "f", NULL, "f", NULL};
    pg_pool_t *pg = cache_pg(s->cache);
    if (pg == NULL || pg_pool_query(pg, Q_PRODUCT_UPDATE, params, on_lag_written, s) != 0) {
        s->errors++;
        round_end(s);
    }
}

static void on_lookup(const cache_result_t *res, void *arg)
{
    scenario_t *s = arg;
    if (res->status == CACHE_DB_DOWN || res->status == CACHE_FAILED)
        s->errors++;
    if (res->answer == CACHE_ANSWER_HIT)
        s->hits++;
    else
        s->misses++;
    s->latencies[s->done] = ms_since(&s->lookup_started);
    s->done++;
    if (--s->pending == 0) {
        end_run(s);
        return;
    }
    if (s->kind == SC_PENETRATION) {
        /* One after another, like a scanner probing ids: concurrency would let single-flight
         * hide what negative caching does. */
        clock_gettime(CLOCK_MONOTONIC, &s->lookup_started);
        cache_lookup_product_opts(s->cache, scenario_id(s, s->done), &s->opts, on_lookup, s);
    }
}

/* Avalanche: each key's TTL, read once all are filled. */
static void on_ttl(int status, redisReply *reply, void *arg)
{
    scenario_t *s = arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer > 0) {
        s->ttl_min = reply->integer < s->ttl_min ? reply->integer : s->ttl_min;
        s->ttl_max = reply->integer > s->ttl_max ? reply->integer : s->ttl_max;
    }
    if (--s->pending == 0)
        end_run(s);
}

static void on_filled(const cache_result_t *res, void *arg)
{
    scenario_t *s = arg;
    /* The product JSON starts with its id: {"id":7,... */
    if (res->status == CACHE_FOUND && s->nfound < 15 && res->len > 6 &&
        strncmp(res->json, "{\"id\":", 6) == 0)
        s->found[s->nfound++] = (int32_t)strtol(res->json + 6, NULL, 10);
    s->done++;
    if (--s->pending > 0)
        return;
    const config_t *cfg = cache_config(s->cache);
    redis_client_t *rc = cache_redis(s->cache);
    s->pending = s->nfound;
    if (s->nfound == 0) {
        end_run(s);
        return;
    }
    int n = s->nfound, failed = 0;
    for (int i = 0; i < n; i++) {
        char key[192];
        cache_key_build(cfg->cache_key_prefix, s->found[i], key, sizeof key);
        const char *argv[] = {"TTL", key};
        size_t argvlen[] = {3, strlen(key)};
        if (rc == NULL || redis_client_command(rc, on_ttl, s, 2, argv, argvlen) != 0)
            failed++;
    }
    /* Replies never come before the command returns, so the count can be settled here. */
    s->pending -= failed;
    if (s->pending == 0)
        end_run(s);
}

static void launch(scenario_t *s)
{
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    s->done = s->errors = s->nfound = s->hits = s->misses = 0;
    s->queries = 0;
    s->pending = s->requests;
    s->ttl_min = 1LL << 40;
    s->ttl_max = 0;
    s->lookup_started = s->started;
    if (s->kind == SC_REPLICA_LAG) {
        s->stale_cached = s->stale_answers = 0;
        s->refused = s->replica_reads = 0;
        round_start(s); /* Rounds one after another, each a write and a read racing. */
        return;
    }
    int at_once = s->kind == SC_PENETRATION ? 1 : s->requests;
    for (int i = 0; i < at_once; i++)
        cache_lookup_product_opts(s->cache, scenario_id(s, i), &s->opts,
                                  s->kind == SC_AVALANCHE ? on_filled : on_lookup, s);
}

static void on_cleared(int status, long long cleared, void *arg)
{
    (void)status;
    (void)cleared;
    launch(arg);
}

static void start_run(scenario_t *s)
{
    set_protection(s, s->phase);
    /* Every run starts from a cold cache for the keys it uses. */
    cache_clear(s->cache, on_cleared, s);
}

void api_lab_scenario(http_req_t *req)
{
    size_t len;
    const char *name = http_req_param(req, &len);
    scenario_kind_t kind;
    if (memchr(name, '\0', len) != NULL) {
        http_reply_error(req, 400, "Bad Request"); /* "%00": a name is never cut there. */
        return;
    }
    if (strcmp(name, "invalidation-window") == 0) {
        if (!api_admin_allowed(req))
            return;
        if (!lab_scenario_begin()) {
            http_reply_error(req, 409, "Another scenario is running");
            return;
        }
        scenario_window_run(req); /* Gives lab_scenario_end back when it answers. */
        return;
    }
    if (strcmp(name, "rate-limit-boundary") == 0) {
        scenario_rate_params_t params;
        /* The token first, then the body, then whether another scenario runs. */
        if (!api_admin_allowed(req) || scenario_rate_parse(req, &params) != 0)
            return;
        if (!lab_scenario_begin()) {
            http_reply_error(req, 409, "Another scenario is running");
            return;
        }
        scenario_rate_run(req, &params); /* Gives lab_scenario_end back when it answers. */
        return;
    }
    int requests;
    if (strcmp(name, "stampede") == 0) {
        kind = SC_STAMPEDE;
        requests = 100;
    } else if (strcmp(name, "penetration") == 0) {
        kind = SC_PENETRATION;
        requests = 1000;
    } else if (strcmp(name, "avalanche") == 0) {
        kind = SC_AVALANCHE;
        requests = 15;
    } else if (strcmp(name, "replica-lag") == 0) {
        kind = SC_REPLICA_LAG;
        requests = 100;
    } else {
        http_reply_error(req, 404,
                         "Unknown scenario: use stampede, penetration, avalanche, "
                         "invalidation-window, replica-lag or rate-limit-boundary");
        return;
    }
    if (!api_admin_allowed(req))
        return;
    if (kind == SC_REPLICA_LAG && cache_replica(api_cache(req)) == NULL) {
        /* Without a replica every miss reads the primary: there would be nothing to show. */
        http_reply_error(req, 409, "No read replica: set DATABASE_REPLICA_URL to run replica-lag");
        return;
    }
    if (!lab_scenario_begin()) {
        http_reply_error(req, 409, "Another scenario is running");
        return;
    }
    scenario_t *s = calloc(1, sizeof *s);
    if (s != NULL)
        s->latencies = calloc((size_t)requests, sizeof *s->latencies);
    if (s == NULL || s->latencies == NULL) {
        free(s);
        lab_scenario_end();
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    s->req = req;
    s->cache = api_cache(req);
    s->kind = kind;
    s->requests = requests;
    /* The runs' lookups count their own queries and stay out of the service's hits and misses. */
    s->opts.uncounted = 1;
    s->opts.db_queries = &s->queries;
    s->opts.refused = &s->refused;
    s->opts.replica_reads = &s->replica_reads;
    lab_get(&s->saved);
    s->db_delay_ms = kind == SC_STAMPEDE && s->saved.db_delay_ms == 0 ? 50 : s->saved.db_delay_ms;
    log_info("lab: running scenario %s", name);
    start_run(s);
}
