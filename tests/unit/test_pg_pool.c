/*
 * Tests of pg_pool against a real PostgreSQL server started for them (support/servers.h): the FIFO
 * queue when every connection is busy, the per-query deadline, failing fast while PostgreSQL is
 * down and recovering once it is back; and with PG_PIPELINE_DEPTH above 1, many queries in flight
 * on one connection: each answered with its own result in order, a failing or cancelled one
 * failing alone, deadlines, the connection killed mid-pipeline; and batches (PG_BATCH_MAX).
 *
 * Connections are held busy with an advisory lock that the test's control connection holds, not
 * with sleeps, so that the test decides when they finish; every wait drives the loop until an
 * observable condition holds (support/loop_wait.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "store/pg_pool.h"
#include "support/loop_wait.h"
#include "support/servers.h"

#define APP_NAME "cacheme-unit-pg-pool"
#define LOCK_KEY "4242"

enum { STMT_TAG, STMT_BLOCKED, STMT_SLEEP, STMT_PRODUCT };

/* The batch form of STMT_PRODUCT, also how the test finds it in pg_stat_statements. */
#define PRODUCT_BATCH_SQL                                                                          \
    "SELECT k.position::int, id, name FROM unnest($1::int[]) WITH ORDINALITY AS k(key, position) " \
    "JOIN products ON products.id = k.key ORDER BY k.position"

static const pg_stmt_t stmts[] = {
    /* Answers its parameter at once (an error, 22P02, when it is not an integer). */
    {"tag", "SELECT $1::int", 1, 0, NULL, NULL},
    /* Answers its parameter once the test's control connection lets the advisory lock go. */
    {"blocked", "SELECT $1::int FROM (SELECT pg_advisory_xact_lock_shared(" LOCK_KEY ")) AS l", 1,
     0, NULL, NULL},
    /* Sleeps $1 seconds inside PostgreSQL. */
    {"sleep", "SELECT pg_sleep($1::float8)", 1, 0, NULL, NULL},
    /* The product $1 (id, name), with a batch form as the service's product lookup has. */
    {"product", "SELECT id, name FROM products WHERE id = $1", 1, 0, "product_batch",
     PRODUCT_BATCH_SQL},
};

typedef struct {
    struct event_base *base;
    config_t cfg;
    pg_pool_t *pool;
} pool_fixture_t;

/* One query's answer. */
typedef struct {
    long long value; /* The integer it answered, for STMT_TAG and STMT_BLOCKED. */
    long long ms;    /* When it was answered (monotonic ms). */
    int *answered;   /* Answers so far, shared by the queries of a test. */
    int done;        /* 1 once answered. */
    int status;      /* PG_POOL_*. */
    int order;       /* Its place among the answers (0 first). */
    int rows;        /* Rows of its result. */
    char state[6];   /* SQLSTATE of a PG_POOL_EQUERY answer. */
    char name[64];   /* Second column of its first row, for STMT_PRODUCT. */
} answer_t;

static void on_answer(int status, PGresult *res, void *arg)
{
    answer_t *a = arg;
    a->done = 1;
    a->status = status;
    a->ms = clock_monotonic_ms();
    a->order = (*a->answered)++;
    if (status == PG_POOL_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        a->value = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (status == PG_POOL_OK) {
        a->rows = PQntuples(res);
        if (a->rows > 0 && PQnfields(res) > 1)
            snprintf(a->name, sizeof a->name, "%s", PQgetvalue(res, 0, 1));
    }
    if (status == PG_POOL_EQUERY) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(a->state, sizeof a->state, "%s", state ? state : "");
    }
}

static int pool_up(void *arg)
{
    return pg_pool_is_up(arg);
}

static int pool_down(void *arg)
{
    return !pg_pool_is_up(arg);
}

/*
 * Opens a pool with the settings in env (NULL-terminated "NAME=value": PG_POOL_SIZE,
 * PG_TIMEOUT_MS, PG_PIPELINE_DEPTH, PG_BATCH_MAX) and waits until a connection is ready.
 */
/*
 * 1 when no server process of an earlier pool is left: they end a moment after the pool closed
 * their connections, and tests count this pool's processes (pg_stat_activity) or lock waiters.
 */
static int no_backends_left(void *arg)
{
    return servers_sql_int(arg, "SELECT count(*) FROM pg_stat_activity WHERE "
                                "application_name = '" APP_NAME "'") == 0;
}

static void pool_open_env(pool_fixture_t *f, servers_t *s, const char *const *env)
{
    assert_int_equal(servers_config(s, &f->cfg, env), 0);
    f->base = event_base_new();
    assert_non_null(f->base);
    assert_int_equal(loop_wait(f->base, no_backends_left, s, LOOP_WAIT_HANG_MS), 0);
    pg_pool_options_t opts = {
        .stmts = stmts,
        .nstmts = (int)(sizeof stmts / sizeof stmts[0]),
        .size = f->cfg.pg_pool_size,
        .application_name = APP_NAME,
        .pipeline_depth = f->cfg.pg_pipeline_depth,
        .batch_max = f->cfg.pg_batch_max,
        .batch_wait_ms = f->cfg.pg_batch_wait_ms,
    };
    assert_int_equal(pg_pool_new(f->base, &f->cfg, &opts, &f->pool), 0);
    assert_int_equal(loop_wait(f->base, pool_up, f->pool, LOOP_WAIT_HANG_MS), 0);
}

/* A pool of size connections with deadline timeout, one query at a time on each. */
static void pool_open(pool_fixture_t *f, servers_t *s, const char *size, const char *timeout)
{
    const char *env[] = {size, timeout, "PG_PIPELINE_DEPTH=1", NULL};
    pool_open_env(f, s, env);
}

static void pool_close(pool_fixture_t *f)
{
    pg_pool_free(f->pool);
    event_base_free(f->base);
}

static void query(pool_fixture_t *f, int stmt, const char *param, answer_t *a, int *answered)
{
    const char *params[] = {param};
    *a = (answer_t){.answered = answered};
    assert_int_equal(pg_pool_query(f->pool, stmt, params, on_answer, a), 0);
}

/* Condition: the pool's connections waiting on the advisory lock number *arg. */
typedef struct {
    servers_t *servers;
    long long want;
} lock_waiters_t;

static int lock_waiters_are(void *arg)
{
    lock_waiters_t *w = arg;
    return servers_sql_int(w->servers, "SELECT count(*) FROM pg_stat_activity WHERE "
                                       "application_name = '" APP_NAME "' AND "
                                       "wait_event_type = 'Lock'") == w->want;
}

typedef struct {
    answer_t *answers;
    int n;
} answers_t;

static int all_answered(void *arg)
{
    answers_t *all = arg;
    for (int i = 0; i < all->n; i++) {
        if (!all->answers[i].done)
            return 0;
    }
    return 1;
}

/*
 * With the only connection busy, queries wait in the queue and are answered in the order they
 * were made: FIFO, nobody overtakes.
 */
static void test_queue_is_fifo_while_all_connections_are_busy(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    pool_open(&f, s, "PG_POOL_SIZE=1", "PG_TIMEOUT_MS=20000");
    enum { QUEUED = 20 };
    answer_t answers[QUEUED + 1];
    int answered = 0;
    char tags[QUEUED + 1][8];

    PQclear(servers_sql(s, "SELECT pg_advisory_lock(" LOCK_KEY ")"));
    query(&f, STMT_BLOCKED, "1000", &answers[0], &answered);
    lock_waiters_t busy = {s, 1};
    assert_int_equal(loop_wait(f.base, lock_waiters_are, &busy, LOOP_WAIT_HANG_MS), 0);
    for (int i = 1; i <= QUEUED; i++) {
        snprintf(tags[i], sizeof tags[i], "%d", i);
        query(&f, STMT_TAG, tags[i], &answers[i], &answered);
    }
    /* Every query is queued behind the busy connection: nothing can have been answered. */
    event_base_loop(f.base, EVLOOP_NONBLOCK);
    assert_int_equal(answered, 0);

    PQclear(servers_sql(s, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
    answers_t all = {answers, QUEUED + 1};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(answers[0].status, PG_POOL_OK);
    assert_int_equal(answers[0].value, 1000);
    assert_int_equal(answers[0].order, 0);
    for (int i = 1; i <= QUEUED; i++) {
        assert_int_equal(answers[i].status, PG_POOL_OK);
        assert_int_equal(answers[i].value, i);
        assert_int_equal(answers[i].order, i);
    }
    pool_close(&f);
}

/*
 * With several connections, as many queries run as there are connections; the others wait (not
 * fail) until one is free, and all are answered.
 */
static void test_queries_wait_for_a_free_connection(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    pool_open(&f, s, "PG_POOL_SIZE=3", "PG_TIMEOUT_MS=20000");
    enum { N = 12 };
    answer_t answers[N];
    int answered = 0;
    char tags[N][8];

    PQclear(servers_sql(s, "SELECT pg_advisory_lock(" LOCK_KEY ")"));
    for (int i = 0; i < N; i++) {
        snprintf(tags[i], sizeof tags[i], "%d", i);
        query(&f, STMT_BLOCKED, tags[i], &answers[i], &answered);
    }
    /* Three run (and wait on the lock inside PostgreSQL); nine wait in the pool's queue. */
    lock_waiters_t busy = {s, 3};
    assert_int_equal(loop_wait(f.base, lock_waiters_are, &busy, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(answered, 0);

    PQclear(servers_sql(s, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
    answers_t all = {answers, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(answers[i].status, PG_POOL_OK);
        assert_int_equal(answers[i].value, i);
    }
    /*
     * The queue hands queries out in order: query i starts only once i - 2 queries are done (the
     * first three ran at once), so at least that many were answered before it.
     */
    for (int i = 3; i < N; i++)
        assert_true(answers[i].order >= i - 2);
    pool_close(&f);
}

/*
 * A query that runs longer than PG_TIMEOUT_MS is answered PG_POOL_ETIMEOUT when its deadline
 * passes — not when PostgreSQL finishes — and the pool goes on serving queries afterwards.
 */
static void test_deadline_answers_a_slow_query_with_timeout(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    pool_open(&f, s, "PG_POOL_SIZE=1", "PG_TIMEOUT_MS=300");
    answer_t slow, next;
    int answered = 0;

    long long start = clock_monotonic_ms();
    query(&f, STMT_SLEEP, "20", &slow, &answered);
    assert_int_equal(loop_wait(f.base, loop_wait_flag, &slow.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(slow.status, PG_POOL_ETIMEOUT);
    /*
     * The deadline is the contract: not before it (but for the resolution of libevent's coarse
     * monotonic clock, a few milliseconds), and in time (far from the query's 20 s).
     */
    assert_true(slow.ms - start >= f.cfg.pg_timeout_ms - 10);
    assert_true(slow.ms - start < f.cfg.pg_timeout_ms + 2000);

    /* The connection that ran it was reopened: the next query is served. */
    query(&f, STMT_TAG, "7", &next, &answered);
    assert_int_equal(loop_wait(f.base, loop_wait_flag, &next.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(next.status, PG_POOL_OK);
    assert_int_equal(next.value, 7);
    pool_close(&f);
    /* The abandoned backend still sleeps; end it so that it holds nothing for the next test. */
    PQclear(servers_sql(s, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name = '" APP_NAME "'"));
}

/* A query until one is answered PG_POOL_OK, for waiting on PostgreSQL's return. */
typedef struct {
    pool_fixture_t *f;
    answer_t a;
    int answered;
    int sent;
    int refused; /* Queries pg_pool_query refused at once. */
    int failed;  /* Queries answered with a failure. */
} probe_t;

static int probe_served(void *arg)
{
    probe_t *p = arg;
    if (p->sent && !p->a.done)
        return 0;
    if (p->sent && p->a.status == PG_POOL_OK)
        return 1;
    if (p->sent)
        p->failed++;
    const char *params[] = {"1"};
    p->a = (answer_t){.answered = &p->answered};
    p->sent = pg_pool_query(p->f->pool, STMT_TAG, params, on_answer, &p->a) == 0;
    p->refused += !p->sent;
    return 0;
}

/*
 * While PostgreSQL is down a query fails at once with PG_POOL_EDOWN — it does not wait for its
 * (long) deadline — and once PostgreSQL is back queries are served again by the same pool.
 */
static void test_fails_fast_while_down_and_recovers(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    pool_open(&f, s, "PG_POOL_SIZE=2", "PG_TIMEOUT_MS=10000");

    assert_int_equal(servers_pg_stop(s), 0);
    assert_int_equal(loop_wait(f.base, pool_down, f.pool, LOOP_WAIT_HANG_MS), 0);
    for (int i = 0; i < 3; i++) {
        answer_t a;
        int answered = 0;
        const char *params[] = {"1"};
        a = (answer_t){.answered = &answered};
        int rc = pg_pool_query(f.pool, STMT_TAG, params, on_answer, &a);
        if (rc == 0) {
            /* Accepted: it waits for a connection attempt, which is refused. */
            assert_int_equal(loop_wait(f.base, loop_wait_flag, &a.done, LOOP_WAIT_HANG_MS), 0);
            rc = a.status;
        }
        /* EDOWN, not ETIMEOUT: the answer came from the refused connection, not the deadline. */
        assert_int_equal(rc, PG_POOL_EDOWN);
    }

    assert_int_equal(servers_pg_start(s), 0);
    probe_t probe = {.f = &f};
    assert_int_equal(loop_wait(f.base, probe_served, &probe, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(probe.a.value, 1);
    assert_true(pg_pool_is_up(f.pool));
    pool_close(&f);
}

/* Condition: the pool has *arg queries sent and not yet answered by PostgreSQL. */
typedef struct {
    pg_pool_t *pool;
    int want;
} in_flight_t;

static int in_flight_is(void *arg)
{
    const in_flight_t *w = arg;
    return pg_pool_in_flight(w->pool) == w->want;
}

/*
 * The control connection ends (pg_cancel_backend) the query of the pool's backend that waits on
 * the advisory lock.
 */
static void cancel_blocked_query(servers_t *s)
{
    assert_int_equal(servers_sql_int(s, "SELECT count(*) FROM pg_stat_activity, "
                                        "LATERAL pg_cancel_backend(pid) AS c WHERE "
                                        "application_name = '" APP_NAME "' AND "
                                        "wait_event_type = 'Lock' AND c"),
                     1);
}

/*
 * With one connection in pipeline mode, queries do not wait for the earlier ones' results: while
 * the first is held inside PostgreSQL, the 40 made after it are all sent on the same connection.
 * Each is then answered with its own result, in the order they were made.
 */
static void test_pipeline_sends_many_queries_on_one_connection(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    const char *env[] = {"PG_POOL_SIZE=1", "PG_TIMEOUT_MS=20000", "PG_PIPELINE_DEPTH=64", NULL};
    pool_open_env(&f, s, env);
    enum { N = 41 };
    answer_t answers[N];
    int answered = 0;
    char tags[N][8];

    PQclear(servers_sql(s, "SELECT pg_advisory_lock(" LOCK_KEY ")"));
    query(&f, STMT_BLOCKED, "1000", &answers[0], &answered);
    for (int i = 1; i < N; i++) {
        snprintf(tags[i], sizeof tags[i], "%d", i);
        query(&f, STMT_TAG, tags[i], &answers[i], &answered);
    }
    /* All sent behind the held one: in flight on the only connection, none answered. */
    in_flight_t all_sent = {f.pool, N};
    assert_int_equal(loop_wait(f.base, in_flight_is, &all_sent, LOOP_WAIT_HANG_MS), 0);
    lock_waiters_t busy = {s, 1};
    assert_int_equal(loop_wait(f.base, lock_waiters_are, &busy, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(answered, 0);

    PQclear(servers_sql(s, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
    answers_t all = {answers, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(answers[0].status, PG_POOL_OK);
    assert_int_equal(answers[0].value, 1000);
    for (int i = 0; i < N; i++) {
        assert_int_equal(answers[i].status, PG_POOL_OK);
        assert_int_equal(answers[i].order, i);
        if (i > 0)
            assert_int_equal(answers[i].value, i);
    }
    assert_int_equal(pg_pool_in_flight(f.pool), 0);
    pool_close(&f);
}

/*
 * In a pipeline, a query that fails (a statement error, or one cancelled while it runs) fails
 * alone: every query has its own sync point, so the queries around it succeed, in order.
 */
static void test_pipeline_failed_query_fails_alone(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    const char *env[] = {"PG_POOL_SIZE=1", "PG_TIMEOUT_MS=20000", "PG_PIPELINE_DEPTH=32", NULL};
    pool_open_env(&f, s, env);
    enum { N = 12, BAD = 6 };
    answer_t answers[N];
    int answered = 0;
    char tags[N][8];

    PQclear(servers_sql(s, "SELECT pg_advisory_lock(" LOCK_KEY ")"));
    query(&f, STMT_BLOCKED, "1000", &answers[0], &answered);
    for (int i = 1; i < N; i++) {
        snprintf(tags[i], sizeof tags[i], i == BAD ? "x%d" : "%d", i); /* "x6" is no integer. */
        query(&f, STMT_TAG, tags[i], &answers[i], &answered);
    }
    in_flight_t all_sent = {f.pool, N};
    assert_int_equal(loop_wait(f.base, in_flight_is, &all_sent, LOOP_WAIT_HANG_MS), 0);
    lock_waiters_t busy = {s, 1};
    assert_int_equal(loop_wait(f.base, lock_waiters_are, &busy, LOOP_WAIT_HANG_MS), 0);

    /* The first query is cancelled while it runs; the lock stays held (nothing else needs it). */
    cancel_blocked_query(s);
    answers_t all = {answers, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(answers[0].status, PG_POOL_EQUERY);
    assert_string_equal(answers[0].state, "57014"); /* query_canceled */
    for (int i = 1; i < N; i++) {
        assert_int_equal(answers[i].order, i);
        if (i == BAD) {
            assert_int_equal(answers[i].status, PG_POOL_EQUERY);
            assert_string_equal(answers[i].state, "22P02"); /* invalid_text_representation */
            continue;
        }
        assert_int_equal(answers[i].status, PG_POOL_OK);
        assert_int_equal(answers[i].value, i);
    }
    /* The same connection goes on: nothing was reconnected. */
    assert_int_equal(servers_sql_int(s, "SELECT count(*) FROM pg_stat_activity WHERE "
                                        "application_name = '" APP_NAME "'"),
                     1);
    answer_t next;
    query(&f, STMT_TAG, "77", &next, &answered);
    assert_int_equal(loop_wait(f.base, loop_wait_flag, &next.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(next.status, PG_POOL_OK);
    assert_int_equal(next.value, 77);
    PQclear(servers_sql(s, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
    pool_close(&f);
}

/*
 * Queries pipelined behind one that PostgreSQL holds keep their own deadline: each is answered
 * PG_POOL_ETIMEOUT at PG_TIMEOUT_MS (not before), and the connection, on which nobody waits any
 * more, is reopened and serves the next query.
 */
static void test_pipeline_queries_keep_their_deadlines(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    const char *env[] = {"PG_POOL_SIZE=1", "PG_TIMEOUT_MS=300", "PG_PIPELINE_DEPTH=8", NULL};
    pool_open_env(&f, s, env);
    enum { N = 4 };
    answer_t answers[N];
    int answered = 0;

    PQclear(servers_sql(s, "SELECT pg_advisory_lock(" LOCK_KEY ")"));
    long long start = clock_monotonic_ms();
    query(&f, STMT_BLOCKED, "1000", &answers[0], &answered);
    for (int i = 1; i < N; i++)
        query(&f, STMT_TAG, "1", &answers[i], &answered);
    answers_t all = {answers, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(answers[i].status, PG_POOL_ETIMEOUT);
        assert_true(answers[i].ms - start >= f.cfg.pg_timeout_ms - 10);
        assert_true(answers[i].ms - start < f.cfg.pg_timeout_ms + 2000);
    }
    assert_int_equal(pg_pool_in_flight(f.pool), 0);

    answer_t next;
    query(&f, STMT_TAG, "7", &next, &answered);
    assert_int_equal(loop_wait(f.base, loop_wait_flag, &next.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(next.status, PG_POOL_OK);
    assert_int_equal(next.value, 7);
    pool_close(&f);
    PQclear(servers_sql(s, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
    /* The abandoned backend may still wait for the lock it now gets; end it. */
    PQclear(servers_sql(s, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name = '" APP_NAME "'"));
}

/*
 * The connection is killed (pg_terminate_backend) with a pipeline in flight: every query on it
 * is answered PG_POOL_ELOST — none is sent again, since it may have run — and the pool
 * reconnects and serves the queries made afterwards.
 */
static void test_pipeline_connection_killed_mid_pipeline(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    const char *env[] = {"PG_POOL_SIZE=1", "PG_TIMEOUT_MS=20000", "PG_PIPELINE_DEPTH=16", NULL};
    pool_open_env(&f, s, env);
    enum { N = 11 };
    answer_t answers[N];
    int answered = 0;

    PQclear(servers_sql(s, "SELECT pg_advisory_lock(" LOCK_KEY ")"));
    query(&f, STMT_BLOCKED, "1000", &answers[0], &answered);
    for (int i = 1; i < N; i++)
        query(&f, STMT_TAG, "1", &answers[i], &answered);
    in_flight_t all_sent = {f.pool, N};
    assert_int_equal(loop_wait(f.base, in_flight_is, &all_sent, LOOP_WAIT_HANG_MS), 0);
    lock_waiters_t busy = {s, 1};
    assert_int_equal(loop_wait(f.base, lock_waiters_are, &busy, LOOP_WAIT_HANG_MS), 0);

    PQclear(servers_sql(s, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name = '" APP_NAME "'"));
    answers_t all = {answers, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(answers[i].status, PG_POOL_ELOST);
    assert_int_equal(pg_pool_in_flight(f.pool), 0);
    PQclear(servers_sql(s, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));

    probe_t probe = {.f = &f};
    assert_int_equal(loop_wait(f.base, probe_served, &probe, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(probe.a.value, 1);
    /* Several at once after the reconnection: a pipeline again, all served. */
    answer_t after[N];
    for (int i = 0; i < N; i++)
        query(&f, STMT_TAG, "5", &after[i], &answered);
    answers_t all_after = {after, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all_after, LOOP_WAIT_HANG_MS), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(after[i].status, PG_POOL_OK);
        assert_int_equal(after[i].value, 5);
    }
    pool_close(&f);
}

/*
 * With PG_BATCH_MAX, lookups queued together go as one execution of the batch form, and each gets
 * a result of its own: its product's row (an id asked twice, twice), or no row for a missing id.
 */
static void test_batch_answers_each_lookup_with_its_own_rows(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    const char *env[] = {"PG_POOL_SIZE=1", "PG_TIMEOUT_MS=20000", "PG_PIPELINE_DEPTH=1",
                         "PG_BATCH_MAX=16", NULL};
    pool_open_env(&f, s, env);
    const char *ids[] = {"3", "999999", "1", "3", "2"};
    enum { N = 1 + sizeof ids / sizeof ids[0] };
    answer_t answers[N];
    int answered = 0;
    long long batches_before =
        servers_sql_int(s, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query = "
                           "'" PRODUCT_BATCH_SQL "'");

    /* The only connection is busy, so that the lookups wait in the queue together. */
    PQclear(servers_sql(s, "SELECT pg_advisory_lock(" LOCK_KEY ")"));
    query(&f, STMT_BLOCKED, "1000", &answers[0], &answered);
    lock_waiters_t busy = {s, 1};
    assert_int_equal(loop_wait(f.base, lock_waiters_are, &busy, LOOP_WAIT_HANG_MS), 0);
    for (int i = 1; i < N; i++)
        query(&f, STMT_PRODUCT, ids[i - 1], &answers[i], &answered);
    PQclear(servers_sql(s, "SELECT pg_advisory_unlock(" LOCK_KEY ")"));
    answers_t all = {answers, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);

    for (int i = 1; i < N; i++) {
        assert_int_equal(answers[i].status, PG_POOL_OK);
        assert_int_equal(answers[i].order, i);
        if (strcmp(ids[i - 1], "999999") == 0) {
            assert_int_equal(answers[i].rows, 0);
            continue;
        }
        assert_int_equal(answers[i].rows, 1);
        assert_int_equal(answers[i].value, strtoll(ids[i - 1], NULL, 10));
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT name = '%s' FROM products WHERE id = %s", answers[i].name,
                 ids[i - 1]);
        PGresult *same = servers_sql(s, sql);
        assert_string_equal(PQgetvalue(same, 0, 0), "t");
        PQclear(same);
    }
    /* One execution for the five lookups. */
    assert_int_equal(
        servers_sql_int(s, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query = "
                           "'" PRODUCT_BATCH_SQL "'") -
            batches_before,
        1);
    pool_close(&f);
}

static int products_waiters_are(void *arg)
{
    lock_waiters_t *w = arg;
    return servers_sql_int(w->servers, "SELECT count(*) FROM pg_locks WHERE relation = "
                                       "'products'::regclass AND NOT granted") == w->want;
}

static int pool_all_ready(void *arg)
{
    return pg_pool_ready(arg) == 4;
}

/*
 * Once every connection has prepared its statements (which takes the table's lock too), locks the
 * products table in a transaction of the control connection and makes the lookup first, which
 * then stays in flight, waiting for the lock, until the test commits.
 */
static void lookup_blocked(pool_fixture_t *f, servers_t *s, answer_t *first, int *answered)
{
    assert_int_equal(loop_wait(f->base, pool_all_ready, f->pool, LOOP_WAIT_HANG_MS), 0);
    PQclear(servers_sql(s, "BEGIN"));
    PQclear(servers_sql(s, "LOCK TABLE products IN ACCESS EXCLUSIVE MODE"));
    query(f, STMT_PRODUCT, "1", first, answered);
    lock_waiters_t one = {s, 1};
    assert_int_equal(loop_wait(f->base, products_waiters_are, &one, LOOP_WAIT_HANG_MS), 0);
}

static long long batch_calls(servers_t *s)
{
    return servers_sql_int(s, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE "
                              "query = '" PRODUCT_BATCH_SQL "'");
}

/*
 * With PG_BATCH_WAIT_MS, lookups made while one is in flight wait for it and go as one batch, even
 * with idle connections; a query of another statement is not held; when the slot in flight is
 * lost (its server process terminated), the held lookups go at once.
 */
static void test_batch_wait_gathers_lookups_while_one_is_in_flight(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    /* A wait longer than the test, so that only the lookup in flight lets the others go. */
    const char *env[] = {"PG_POOL_SIZE=4",  "PG_TIMEOUT_MS=30000",    "PG_PIPELINE_DEPTH=8",
                         "PG_BATCH_MAX=16", "PG_BATCH_WAIT_MS=60000", NULL};
    pool_open_env(&f, s, env);
    const char *ids[] = {"2", "3", "999999", "1", "2"};
    enum { N = sizeof ids / sizeof ids[0] };
    answer_t first, held[N], tag;
    int answered = 0;
    long long batches_before = batch_calls(s);
    lookup_blocked(&f, s, &first, &answered);
    for (int i = 0; i < N; i++)
        query(&f, STMT_PRODUCT, ids[i], &held[i], &answered);
    /* Another statement is not held: it is answered while the lookups wait. */
    query(&f, STMT_TAG, "7", &tag, &answered);
    assert_int_equal(loop_wait(f.base, loop_wait_flag, &tag.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(tag.status, PG_POOL_OK);
    assert_int_equal(tag.value, 7);
    /* Three connections are idle, yet only the first lookup is in flight. */
    assert_int_equal(pg_pool_in_flight(f.pool), 1);
    lock_waiters_t one = {s, 1};
    assert_true(products_waiters_are(&one));

    /* The first lookup's connection is lost: the held lookups go, together, at once. */
    PQclear(servers_sql(s, "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = "
                           "'products'::regclass AND NOT granted"));
    assert_int_equal(loop_wait(f.base, loop_wait_flag, &first.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(first.status, PG_POOL_ELOST);
    assert_int_equal(loop_wait(f.base, products_waiters_are, &one, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(pg_pool_in_flight(f.pool), N);
    PQclear(servers_sql(s, "COMMIT"));
    answers_t all = {held, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(held[i].status, PG_POOL_OK);
        int missing = strcmp(ids[i], "999999") == 0;
        assert_int_equal(held[i].rows, missing ? 0 : 1);
        if (!missing)
            assert_int_equal(held[i].value, strtoll(ids[i], NULL, 10));
    }
    assert_int_equal(batch_calls(s) - batches_before, 1);
    pool_close(&f);
}

/*
 * The wait has a limit: while the lookup in flight is stalled (its table locked), the lookups held
 * behind it go after PG_BATCH_WAIT_MS, as one batch on another connection.
 */
static void test_batch_wait_ends_while_the_batch_in_flight_is_stalled(void **state)
{
    servers_t *s = *state;
    pool_fixture_t f;
    const char *env[] = {"PG_POOL_SIZE=4",  "PG_TIMEOUT_MS=30000", "PG_PIPELINE_DEPTH=8",
                         "PG_BATCH_MAX=16", "PG_BATCH_WAIT_MS=50", NULL};
    pool_open_env(&f, s, env);
    const char *ids[] = {"4", "5", "6"};
    enum { N = sizeof ids / sizeof ids[0] };
    answer_t first, held[N];
    int answered = 0;
    long long batches_before = batch_calls(s);
    lookup_blocked(&f, s, &first, &answered);
    for (int i = 0; i < N; i++)
        query(&f, STMT_PRODUCT, ids[i], &held[i], &answered);
    /* The first is still blocked when the others go: two executions wait on the lock. */
    lock_waiters_t two = {s, 2};
    assert_int_equal(loop_wait(f.base, products_waiters_are, &two, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(first.done, 0);
    assert_int_equal(pg_pool_in_flight(f.pool), 1 + N);

    PQclear(servers_sql(s, "COMMIT"));
    assert_int_equal(loop_wait(f.base, loop_wait_flag, &first.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(first.status, PG_POOL_OK);
    assert_int_equal(first.value, 1);
    answers_t all = {held, N};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(held[i].status, PG_POOL_OK);
        assert_int_equal(held[i].value, strtoll(ids[i], NULL, 10));
    }
    assert_int_equal(batch_calls(s) - batches_before, 1);
    pool_close(&f);
}

static int group_setup(void **state)
{
    static servers_t servers;
    if (servers_start(&servers, SERVERS_PG) != 0) {
        servers_stop(&servers);
        return -1;
    }
    *state = &servers;
    return 0;
}

static int group_teardown(void **state)
{
    servers_stop(*state);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_is_fifo_while_all_connections_are_busy),
        cmocka_unit_test(test_queries_wait_for_a_free_connection),
        cmocka_unit_test(test_deadline_answers_a_slow_query_with_timeout),
        cmocka_unit_test(test_fails_fast_while_down_and_recovers),
        cmocka_unit_test(test_pipeline_sends_many_queries_on_one_connection),
        cmocka_unit_test(test_pipeline_failed_query_fails_alone),
        cmocka_unit_test(test_pipeline_queries_keep_their_deadlines),
        cmocka_unit_test(test_pipeline_connection_killed_mid_pipeline),
        cmocka_unit_test(test_batch_answers_each_lookup_with_its_own_rows),
        cmocka_unit_test(test_batch_wait_gathers_lookups_while_one_is_in_flight),
        cmocka_unit_test(test_batch_wait_ends_while_the_batch_in_flight_is_stalled),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
