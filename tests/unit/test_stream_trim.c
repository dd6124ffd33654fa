/*
 * Tests of stream_trim (the figures of a consumer group and the trimming of what every group has
 * acknowledged) against a real Redis server started for them (support/servers.h): entries still
 * pending or not yet delivered — to our group or to any other — are never trimmed, a drained group
 * lets the whole stream go, ids are compared as numbers, and the lag stays right when Redis itself
 * cannot report it (after an XDEL).
 *
 * Each test builds its stream with explicit ids 1-1, 2-1, ... (entry n has id "n-1"), so that the
 * assertions can name entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cache/stream_trim.h"
#include "support/servers.h"

#define STREAM "trim:s"
#define GROUP "g"

/* Appends entries first..last (ids "n-1"). */
static void add_entries(servers_t *s, int first, int last)
{
    for (int n = first; n <= last; n++)
        freeReplyObject(servers_redis_cmd(s, "XADD " STREAM " %d-1 n %d", n, n));
}

/* Delivers the next count entries to group (consumer c). */
static void deliver(servers_t *s, const char *group, int count)
{
    freeReplyObject(
        servers_redis_cmd(s, "XREADGROUP GROUP %s c COUNT %d STREAMS " STREAM " >", group, count));
}

/* Acknowledges entries first..last for group. */
static void ack(servers_t *s, const char *group, int first, int last)
{
    for (int n = first; n <= last; n++)
        freeReplyObject(servers_redis_cmd(s, "XACK " STREAM " %s %d-1", group, n));
}

/* Runs the script; returns stream_trim_parse's result and fills *out. */
static int run(servers_t *s, const char *group, int trim, stream_trim_figures_t *out)
{
    const char *argv[STREAM_TRIM_ARGC];
    size_t argvlen[STREAM_TRIM_ARGC];
    stream_trim_command(STREAM, group, trim, argv, argvlen);
    freeReplyObject(servers_redis_cmd(s, "PING")); /* Opens the control connection. */
    redisReply *reply = redisCommandArgv(s->redis, STREAM_TRIM_ARGC, argv, argvlen);
    assert_non_null(reply);
    int rc = stream_trim_parse(reply, out);
    freeReplyObject(reply);
    return rc;
}

static long long xlen(servers_t *s)
{
    redisReply *r = servers_redis_cmd(s, "XLEN " STREAM);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

/* The id of the stream's first entry, or "" when it is empty. */
static void first_id(servers_t *s, char out[48])
{
    redisReply *r = servers_redis_cmd(s, "XRANGE " STREAM " - + COUNT 1");
    snprintf(out, 48, "%s", r->elements > 0 ? r->element[0]->element[0]->str : "");
    freeReplyObject(r);
}

static void assert_figures(const stream_trim_figures_t *f, long long pending, long long lag,
                           long long trimmed, long long length)
{
    assert_int_equal(f->pending, pending);
    assert_int_equal(f->lag, lag);
    assert_int_equal(f->trimmed, trimmed);
    assert_int_equal(f->length, length);
}

static int fresh_stream(void **state)
{
    servers_t *s = *state;
    freeReplyObject(servers_redis_cmd(s, "DEL " STREAM));
    freeReplyObject(servers_redis_cmd(s, "XGROUP CREATE " STREAM " " GROUP " 0 MKSTREAM"));
    return 0;
}

/*
 * Six of ten entries delivered, three acknowledged: those three go; the three pending and the
 * four not yet delivered stay, and the figures say so.
 */
static void test_pending_and_undelivered_entries_stay(void **state)
{
    servers_t *s = *state;
    add_entries(s, 1, 10);
    deliver(s, GROUP, 6);
    ack(s, GROUP, 1, 3);
    stream_trim_figures_t f;
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 3, 4, 3, 7);
    char first[48];
    first_id(s, first);
    assert_string_equal(first, "4-1"); /* The oldest pending entry. */

    /* Acknowledged out of order: entry 6 goes only once 4 and 5 are acknowledged too. */
    ack(s, GROUP, 6, 6);
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 2, 4, 0, 7);
    ack(s, GROUP, 4, 5);
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 0, 4, 3, 4);
    first_id(s, first);
    assert_string_equal(first, "7-1"); /* The oldest entry not yet delivered. */
}

/* A group that has acknowledged everything lets the whole stream go; new entries count as lag. */
static void test_drained_group_empties_the_stream(void **state)
{
    servers_t *s = *state;
    add_entries(s, 1, 10);
    deliver(s, GROUP, 10);
    ack(s, GROUP, 1, 10);
    stream_trim_figures_t f;
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 0, 0, 10, 0);
    add_entries(s, 11, 12);
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 0, 2, 0, 2);
}

/* Not asked to trim: nothing goes, the figures are the same. */
static void test_figures_without_trimming(void **state)
{
    servers_t *s = *state;
    add_entries(s, 1, 10);
    deliver(s, GROUP, 6);
    ack(s, GROUP, 1, 6);
    stream_trim_figures_t f;
    assert_int_equal(run(s, GROUP, 0, &f), 0);
    assert_figures(&f, 0, 4, 0, 10);
    assert_int_equal(xlen(s), 10);
}

/* Another group that has read less holds the trimming back to its own bound. */
static void test_another_group_holds_entries_back(void **state)
{
    servers_t *s = *state;
    freeReplyObject(servers_redis_cmd(s, "XGROUP CREATE " STREAM " audit 0"));
    add_entries(s, 1, 10);
    deliver(s, GROUP, 10);
    ack(s, GROUP, 1, 10);
    deliver(s, "audit", 5);
    ack(s, "audit", 1, 4); /* Entry 5 is pending for audit, 6..10 not delivered to it. */
    stream_trim_figures_t f;
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 0, 0, 4, 6);
    char first[48];
    first_id(s, first);
    assert_string_equal(first, "5-1");
    freeReplyObject(servers_redis_cmd(s, "XGROUP DESTROY " STREAM " audit"));
}

/*
 * Ids compare as numbers, not text: "10-1" is after "9-2". Group g has acknowledged up to 10-1,
 * audit up to 9-1: the bound is audit's (9-2), so 10-1 stays. Compared as text, "10-2" would come
 * before "9-2", and 10-1, which audit has not read, would have gone.
 */
static void test_ids_compare_as_numbers(void **state)
{
    servers_t *s = *state;
    freeReplyObject(servers_redis_cmd(s, "XGROUP CREATE " STREAM " audit 0"));
    add_entries(s, 8, 11);
    deliver(s, GROUP, 3);
    ack(s, GROUP, 8, 10);
    deliver(s, "audit", 2);
    ack(s, "audit", 8, 9);
    stream_trim_figures_t f;
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 0, 1, 2, 2);
    char first[48];
    first_id(s, first);
    assert_string_equal(first, "10-1");
    freeReplyObject(servers_redis_cmd(s, "XGROUP DESTROY " STREAM " audit"));
}

/*
 * A sequence too long to add one to exactly (Lua's numbers are doubles): the bound is the last
 * delivered id itself, which keeps that entry and trims the ones before it.
 */
static void test_largest_sequence_keeps_its_entry(void **state)
{
    servers_t *s = *state;
    freeReplyObject(servers_redis_cmd(s, "XADD " STREAM " 5-18446744073709551614 n 1"));
    freeReplyObject(servers_redis_cmd(s, "XADD " STREAM " 5-18446744073709551615 n 2"));
    deliver(s, GROUP, 2);
    freeReplyObject(servers_redis_cmd(s, "XACK " STREAM " " GROUP
                                         " 5-18446744073709551614 5-18446744073709551615"));
    stream_trim_figures_t f;
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 0, 0, 1, 1);
    char first[48];
    first_id(s, first);
    assert_string_equal(first, "5-18446744073709551615");
}

/*
 * An XDEL after the group's last delivered entry leaves a tombstone: Redis 7 then reports the lag
 * as nil, and the script counts the undelivered entries itself — on the side of the last
 * delivered entry that has fewer than STREAM_TRIM_COUNT_MAX of them.
 */
static void test_lag_when_redis_cannot_tell(void **state)
{
    servers_t *s = *state;
    enum { DELIVERED = STREAM_TRIM_COUNT_MAX + 100, TOTAL = DELIVERED + 50 };
    add_entries(s, 1, TOTAL);
    deliver(s, GROUP, DELIVERED);
    freeReplyObject(servers_redis_cmd(s, "XACK " STREAM " " GROUP " 1-1 2-1 3-1"));
    freeReplyObject(servers_redis_cmd(s, "XDEL " STREAM " %d-1", TOTAL));
    redisReply *groups = servers_redis_cmd(s, "XINFO GROUPS " STREAM);
    const redisReply *g = groups->element[0];
    for (size_t i = 0; i + 1 < g->elements; i += 2) {
        if (strcmp(g->element[i]->str, "lag") == 0)
            assert_int_equal(g->element[i + 1]->type, REDIS_REPLY_NIL); /* What this is about. */
    }
    freeReplyObject(groups);

    /* Untrimmed, more than the maximum delivered: counted after the last delivered entry. */
    stream_trim_figures_t f;
    assert_int_equal(run(s, GROUP, 0, &f), 0);
    assert_figures(&f, DELIVERED - 3, TOTAL - DELIVERED - 1, 0, TOTAL - 1);
    /* Trimmed: fewer than the maximum up to the last delivered entry, counted from there. */
    ack(s, GROUP, 4, DELIVERED - 10);
    assert_int_equal(run(s, GROUP, 1, &f), 0);
    assert_figures(&f, 10, TOTAL - DELIVERED - 1, DELIVERED - 10, 10 + TOTAL - DELIVERED - 1);
}

/* No stream, or no such group: an error, and nothing is trimmed. */
static void test_missing_stream_or_group(void **state)
{
    servers_t *s = *state;
    stream_trim_figures_t f = {-7, -7, -7, -7};
    add_entries(s, 1, 3);
    assert_int_equal(run(s, "nobody", 1, &f), -1);
    assert_int_equal(f.pending, -7); /* Untouched. */
    assert_int_equal(xlen(s), 3);
    freeReplyObject(servers_redis_cmd(s, "DEL " STREAM));
    assert_int_equal(run(s, GROUP, 1, &f), -1);
    assert_int_equal(xlen(s), 0);
}

static int group_setup(void **state)
{
    static servers_t servers;
    if (servers_start(&servers, SERVERS_REDIS) != 0) {
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
        cmocka_unit_test_setup(test_pending_and_undelivered_entries_stay, fresh_stream),
        cmocka_unit_test_setup(test_drained_group_empties_the_stream, fresh_stream),
        cmocka_unit_test_setup(test_figures_without_trimming, fresh_stream),
        cmocka_unit_test_setup(test_another_group_holds_entries_back, fresh_stream),
        cmocka_unit_test_setup(test_ids_compare_as_numbers, fresh_stream),
        cmocka_unit_test_setup(test_largest_sequence_keeps_its_entry, fresh_stream),
        cmocka_unit_test_setup(test_lag_when_redis_cannot_tell, fresh_stream),
        cmocka_unit_test_setup(test_missing_stream_or_group, fresh_stream),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
