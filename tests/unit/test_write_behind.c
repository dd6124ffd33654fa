/*
 * Tests of the write-behind applier (write_behind.h) against real PostgreSQL and Redis servers
 * started for them (support/servers.h): queued writes reach PostgreSQL in stream order, each
 * exactly once (one applied_writes row per entry, counted once), also when the applier goes away
 * in the middle of the queue — its backends freed under it, as in a crash — and a new one starts:
 * the entries delivered to the old one and not acknowledged are read again and finished.
 *
 * Writes are queued through write_behind_enqueue before the applier starts, so the queue is known
 * in full when applying begins: the test reads the stream's entries then, since the applier trims
 * what it has acknowledged. What was applied is read from PostgreSQL (applied_writes, whose seq
 * records the order of application) and compared with those entries.
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

#include "cache/write_behind.h"
#include "model/product_input.h"
#include "support/cache_loop.h"
#include "support/loop_wait.h"
#include "support/servers.h"

#define STREAM "cacheme:writes"
#define GROUP "cacheme-writers"
/* Renames per product, products, and the entries they queue. */
enum { ROUNDS = 10, PRODUCTS = 3, ENTRIES = ROUNDS * PRODUCTS };

typedef struct {
    servers_t *servers;
    cache_loop_t loop;
    redisReply *queued; /* XRANGE of the stream once every write is queued. */
} fixture_t;

static int fixture_open(void **state)
{
    fixture_t *f = *state;
    const char *env[] = {"CACHE_WRITE_MODE=write-behind", "TTL_JITTER_PERCENT=0",
                         "PG_TIMEOUT_MS=10000", NULL};
    freeReplyObject(servers_redis_cmd(f->servers, "FLUSHALL"));
    PQclear(servers_sql(f->servers, "TRUNCATE applied_writes"));
    return cache_loop_open(&f->loop, f->servers, env);
}

static int fixture_close(void **state)
{
    fixture_t *f = *state;
    freeReplyObject(f->queued);
    f->queued = NULL;
    cache_loop_close(&f->loop);
    return 0;
}

typedef struct {
    int done;
    write_behind_outcome_t outcome;
} enqueued_t;

static void on_enqueued(write_behind_outcome_t outcome, const char *json, void *arg)
{
    (void)json;
    enqueued_t *e = arg;
    e->done = 1;
    e->outcome = outcome;
}

/*
 * Queues ROUNDS renames of each of PRODUCTS products starting at first, round by round (so the
 * products' entries interleave in the stream), each renaming product id to "p<id>-r<round>".
 */
static void enqueue_renames(fixture_t *f, int first)
{
    for (int round = 0; round < ROUNDS; round++) {
        for (int id = first; id < first + PRODUCTS; id++) {
            char name[32];
            snprintf(name, sizeof name, "p%d-r%d", id, round);
            product_input_t in = {.fields = PRODUCT_FIELD_NAME, .name = name};
            enqueued_t e = {0};
            write_behind_enqueue(f->loop.cache, id, &in, on_enqueued, &e);
            assert_int_equal(loop_wait(f->loop.base, loop_wait_flag, &e.done, LOOP_WAIT_HANG_MS),
                             0);
            assert_int_equal(e.outcome, WRITE_BEHIND_QUEUED);
        }
    }
    freeReplyObject(f->queued);
    f->queued = servers_redis_cmd(f->servers, "XRANGE " STREAM " - +");
    assert_int_equal(f->queued->elements, ENTRIES);
}

/* Entries delivered to the applier and not acknowledged. */
static long long stream_pending(servers_t *s)
{
    redisReply *r = servers_redis_cmd(s, "XPENDING " STREAM " " GROUP);
    long long n = r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0]->integer : -1;
    freeReplyObject(r);
    return n;
}

/* Condition: every entry is applied in PostgreSQL and acknowledged, and no product has writes
 * counted as queued. */
static int queue_drained(void *arg)
{
    fixture_t *f = arg;
    servers_t *s = f->servers;
    if (servers_sql_int(s, "SELECT count(*) FROM applied_writes") != ENTRIES ||
        stream_pending(s) != 0)
        return 0;
    redisReply *r = servers_redis_cmd(s, "KEYS {*}:pending");
    size_t left = r->elements;
    freeReplyObject(r);
    return left == 0;
}

static long long applied_count(void)
{
    write_behind_stats_t st;
    write_behind_stats(&st);
    return st.applied;
}

/*
 * Asserts what a drained queue must have left: one applied_writes row per stream entry, applied
 * in stream order (so in order per product too), and each product renamed by its last entry.
 */
static void assert_applied_in_order_once(fixture_t *f, int first)
{
    servers_t *s = f->servers;
    const redisReply *entries = f->queued;
    PGresult *rows =
        servers_sql(s, "SELECT stream_id, product_id FROM applied_writes ORDER BY seq");
    assert_int_equal(PQntuples(rows), ENTRIES);
    for (int i = 0; i < ENTRIES; i++) {
        const redisReply *entry = entries->element[i];
        assert_string_equal(PQgetvalue(rows, i, 0), entry->element[0]->str);
        /* The entry's id field names the product the row was applied to. */
        const redisReply *fields = entry->element[1];
        const char *id = NULL;
        for (size_t j = 0; j + 1 < fields->elements; j += 2) {
            if (strcmp(fields->element[j]->str, "id") == 0)
                id = fields->element[j + 1]->str;
        }
        assert_non_null(id);
        assert_string_equal(PQgetvalue(rows, i, 1), id);
    }
    PQclear(rows);
    for (int id = first; id < first + PRODUCTS; id++) {
        char sql[96], want[32];
        snprintf(sql, sizeof sql, "SELECT name FROM products WHERE id = %d", id);
        snprintf(want, sizeof want, "p%d-r%d", id, ROUNDS - 1);
        PGresult *name = servers_sql(s, sql);
        assert_string_equal(PQgetvalue(name, 0, 0), want);
        PQclear(name);
    }
}

/* The applier replays the queue into PostgreSQL in stream order, each entry exactly once. */
static void test_applies_in_order_exactly_once(void **state)
{
    fixture_t *f = *state;
    enqueue_renames(f, 1);
    long long applied_before = applied_count();

    write_behind_t *wb = NULL;
    assert_int_equal(write_behind_start(f->loop.base, f->loop.cache, &wb), 0);
    assert_int_equal(loop_wait(f->loop.base, queue_drained, f, LOOP_WAIT_HANG_MS), 0);
    assert_applied_in_order_once(f, 1);
    assert_int_equal(applied_count() - applied_before, ENTRIES);

    write_behind_release(wb);
    write_behind_stop(wb);
    cache_loop_backends_close(&f->loop);
    write_behind_free(wb);
}

/* Condition: the applier has applied at least *arg entries since the test began. */
typedef struct {
    long long want;
} applied_t;

static int applied_reached(void *arg)
{
    return applied_count() >= ((const applied_t *)arg)->want;
}

/*
 * The applier goes away a third of the way through the queue without a clean stop (its backends
 * are freed under it: what it waited for is lost, its lease stays) and another one starts on the
 * same Redis and PostgreSQL: it re-reads the entries delivered to the first one and not
 * acknowledged, and the queue ends applied in order, each entry once — an entry applied but not
 * acknowledged before the crash is found done, not applied again.
 */
static void test_resumes_after_a_crash_in_the_middle_of_the_queue(void **state)
{
    fixture_t *f = *state;
    servers_t *s = f->servers;
    enqueue_renames(f, 4);
    long long applied_before = applied_count();

    write_behind_t *wb = NULL;
    assert_int_equal(write_behind_start(f->loop.base, f->loop.cache, &wb), 0);
    applied_t third = {applied_before + ENTRIES / 3};
    assert_int_equal(loop_wait(f->loop.base, applied_reached, &third, LOOP_WAIT_HANG_MS), 0);
    /* The crash: no release, its calls in flight lost with the backends. */
    write_behind_stop(wb);
    cache_loop_backends_close(&f->loop);
    write_behind_free(wb);

    long long done = servers_sql_int(s, "SELECT count(*) FROM applied_writes");
    assert_true(done >= ENTRIES / 3);
    assert_true(done < ENTRIES);
    /*
     * The whole queue was delivered in one batch, so what is not acknowledged is pending. The
     * applier stopped in the loop round that brought PostgreSQL's answer for its last entry, before
     * the acknowledgement could leave (hiredis writes on a later round): that entry is applied but
     * still pending, the case exactly-once is about.
     */
    assert_true(stream_pending(s) > ENTRIES - done);

    /* The crashed process's lease on the applier's role would expire in 5 s; it expires now. */
    freeReplyObject(servers_redis_cmd(s, "DEL cacheme:writes:applier"));
    assert_int_equal(cache_loop_backends_open(&f->loop), 0);
    assert_int_equal(write_behind_start(f->loop.base, f->loop.cache, &wb), 0);
    assert_int_equal(loop_wait(f->loop.base, queue_drained, f, LOOP_WAIT_HANG_MS), 0);
    assert_applied_in_order_once(f, 4);
    /* Counted once each over both appliers: nothing was applied twice. */
    assert_int_equal(applied_count() - applied_before, ENTRIES);

    write_behind_release(wb);
    write_behind_stop(wb);
    cache_loop_backends_close(&f->loop);
    write_behind_free(wb);
}

static long long stream_length(servers_t *s)
{
    redisReply *r = servers_redis_cmd(s, "XLEN " STREAM);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* Condition: the applier's figures show every entry delivered and none acknowledged. */
static int all_pending(void *arg)
{
    (void)arg;
    write_behind_stats_t st;
    write_behind_stats(&st);
    return st.pending == ENTRIES && st.lag == 0;
}

/* Condition: the stream is empty and the figures say nothing is pending or undelivered. */
static int trimmed_to_nothing(void *arg)
{
    fixture_t *f = arg;
    write_behind_stats_t st;
    write_behind_stats(&st);
    return stream_length(f->servers) == 0 && st.pending == 0 && st.lag == 0;
}

/*
 * The applier trims the stream, but only of what it has applied: with PostgreSQL down, every entry
 * is delivered and pending and stays in the stream (the figures that show them pending come from
 * the same script that trims); once PostgreSQL is back and they are applied, they go, each counted
 * once as trimmed.
 */
static void test_trims_only_what_was_applied(void **state)
{
    fixture_t *f = *state;
    servers_t *s = f->servers;
    enqueue_renames(f, 7);
    write_behind_stats_t before;
    write_behind_stats(&before);

    assert_int_equal(servers_pg_stop(s), 0);
    write_behind_t *wb = NULL;
    assert_int_equal(write_behind_start(f->loop.base, f->loop.cache, &wb), 0);
    assert_int_equal(loop_wait(f->loop.base, all_pending, NULL, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(stream_length(s), ENTRIES);
    write_behind_stats_t held;
    write_behind_stats(&held);
    assert_int_equal(held.trimmed, before.trimmed);

    assert_int_equal(servers_pg_start(s), 0);
    assert_int_equal(loop_wait(f->loop.base, queue_drained, f, LOOP_WAIT_HANG_MS), 0);
    assert_applied_in_order_once(f, 7);
    assert_int_equal(loop_wait(f->loop.base, trimmed_to_nothing, f, LOOP_WAIT_HANG_MS), 0);
    write_behind_stats_t after;
    write_behind_stats(&after);
    assert_int_equal(after.trimmed - before.trimmed, ENTRIES);

    write_behind_release(wb);
    write_behind_stop(wb);
    cache_loop_backends_close(&f->loop);
    write_behind_free(wb);
}

static int group_setup(void **state)
{
    static servers_t servers;
    static fixture_t fixture;
    if (servers_start(&servers, SERVERS_PG | SERVERS_REDIS) != 0) {
        servers_stop(&servers);
        return -1;
    }
    fixture.servers = &servers;
    *state = &fixture;
    return 0;
}

static int group_teardown(void **state)
{
    fixture_t *f = *state;
    servers_stop(f->servers);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_applies_in_order_exactly_once, fixture_open,
                                        fixture_close),
        cmocka_unit_test_setup_teardown(test_resumes_after_a_crash_in_the_middle_of_the_queue,
                                        fixture_open, fixture_close),
        cmocka_unit_test_setup_teardown(test_trims_only_what_was_applied, fixture_open,
                                        fixture_close),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
