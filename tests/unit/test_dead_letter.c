/*
 * Unit tests of dead_letter: which failures of applying a queued write are retried and which park
 * the entry in the dead-letter stream, and the newest dead letters kept from an XREVRANGE reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/pg_pool.h"
#include "cache/dead_letter.h"

/* PostgreSQL refused the entry's data: another attempt would be refused the same way. */
static void test_data_and_integrity_errors_are_permanent(void **state)
{
    (void)state;
    const char *codes[] = {
        "22001", /* string_data_right_truncation: a name of 300 characters. */
        "22003", /* numeric_value_out_of_range. */
        "22P02", /* invalid_text_representation: a price that is not a number. */
        "22021", /* character_not_in_repertoire. */
        "23502", /* not_null_violation. */
        "23503", /* foreign_key_violation. */
        "23505", /* unique_violation. */
        "23514", /* check_violation. */
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_int_equal(dead_letter_classify(PG_POOL_EQUERY, codes[i]), DEAD_LETTER_PARK);
}

/* The connection, a deadline or PostgreSQL's state: the same entry may succeed later. */
static void test_failures_of_the_moment_are_transient(void **state)
{
    (void)state;
    const char *codes[] = {
        "40001", /* serialization_failure. */
        "40P01", /* deadlock_detected. */
        "08006", /* connection_failure. */
        "08001", /* sqlclient_unable_to_establish_sqlconnection. */
        "53300", /* too_many_connections. */
        "53100", /* disk_full. */
        "57014", /* query_canceled (statement_timeout). */
        "57P01", /* admin_shutdown. */
        "57P03", /* cannot_connect_now (starting up). */
        "58030", /* io_error. */
        "55P03", /* lock_not_available (lock_timeout). */
        "25006", /* read_only_sql_transaction: a standby during a failover. */
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_int_equal(dead_letter_classify(PG_POOL_EQUERY, codes[i]), DEAD_LETTER_RETRY);
}

/* Failures where PostgreSQL gave no answer about the entry are transient, whatever sqlstate is. */
static void test_pool_failures_are_transient(void **state)
{
    (void)state;
    const int statuses[] = {PG_POOL_EDOWN, PG_POOL_ETIMEOUT, PG_POOL_ELOST, PG_POOL_ENOMEM};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        assert_int_equal(dead_letter_classify(statuses[i], NULL), DEAD_LETTER_RETRY);
        assert_int_equal(dead_letter_classify(statuses[i], "23514"), DEAD_LETTER_RETRY);
    }
}

/*
 * Errors an operator must fix (schema, privileges, a bug) are retried, never parked: parking would
 * empty the whole queue into the dead-letter stream.
 */
static void test_other_errors_are_unexpected(void **state)
{
    (void)state;
    const char *codes[] = {
        "42883", /* undefined_function: the schema is not migrated. */
        "42501", /* insufficient_privilege. */
        "42P01", /* undefined_table. */
        "25P02", /* in_failed_sql_transaction. */
        "P0001", /* raise_exception from a trigger. */
        "XX000", /* internal_error. */
        "0A000", /* feature_not_supported. */
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_int_equal(dead_letter_classify(PG_POOL_EQUERY, codes[i]), DEAD_LETTER_HOLD);
}

/* An error answer without a well-formed SQLSTATE is not taken as a reason to park. */
static void test_missing_or_malformed_sqlstate(void **state)
{
    (void)state;
    const char *codes[] = {"", "2", "22", "2200", "220011"};
    assert_int_equal(dead_letter_classify(PG_POOL_EQUERY, NULL), DEAD_LETTER_HOLD);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_int_equal(dead_letter_classify(PG_POOL_EQUERY, codes[i]), DEAD_LETTER_HOLD);
}

/* A hand-built RESP string reply (the reply owns nothing: the test's storage outlives it). */
static redisReply str_reply(const char *s)
{
    redisReply r = {0};
    r.type = REDIS_REPLY_STRING;
    r.str = (char *)s;
    r.len = strlen(s);
    return r;
}

/* The newest entries of an XREVRANGE reply are kept; text comes out as valid UTF-8, cut to fit. */
static void test_parse(void **state)
{
    (void)state;
    char long_error[600];
    memset(long_error, 'e', sizeof long_error);
    /* "é" (2 bytes) straddles the 255-byte limit of dead_letter_t.error: it is left out whole. */
    long_error[254] = (char)0xC3;
    long_error[255] = (char)0xA9;
    long_error[sizeof long_error - 1] = '\0';
    const char *first[] = {
        "op",  "update",   "id",    "16",    "name",     "x",         "stream_id",
        "1-0", "sqlstate", "22001", "error", long_error, "failed_at", "2024-05-31T17:28:37Z"};
    const char *second[] = {"op",        "delete",        "id",        "not a number",
                            "stream_id", "2-0",           "sqlstate",  "",
                            "error",     "bad \xff byte", "failed_at", "2024-05-31T17:28:38Z"};
    redisReply f1[14], f2[12];
    redisReply *p1[14], *p2[12];
    for (int i = 0; i < 14; i++) {
        f1[i] = str_reply(first[i]);
        p1[i] = &f1[i];
    }
    for (int i = 0; i < 12; i++) {
        f2[i] = str_reply(second[i]);
        p2[i] = &f2[i];
    }
    redisReply fields1 = {.type = REDIS_REPLY_ARRAY, .elements = 14, .element = p1};
    redisReply fields2 = {.type = REDIS_REPLY_ARRAY, .elements = 12, .element = p2};
    redisReply id1 = str_reply("1717-0"), id2 = str_reply("1718-0");
    redisReply *e1[] = {&id1, &fields1}, *e2[] = {&id2, &fields2};
    redisReply ent1 = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = e1};
    redisReply ent2 = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = e2};
    redisReply *entries[] = {&ent1, &ent2};
    redisReply reply = {.type = REDIS_REPLY_ARRAY, .elements = 2, .element = entries};

    dead_letter_t out[DEAD_LETTER_RECENT];
    assert_int_equal(dead_letter_parse(&reply, out), 2);
    assert_string_equal(out[0].stream_id, "1-0");
    assert_string_equal(out[0].op, "update");
    assert_int_equal(out[0].has_product_id, 1);
    assert_int_equal(out[0].product_id, 16);
    assert_string_equal(out[0].sqlstate, "22001");
    assert_int_equal(strlen(out[0].error), 254);
    assert_string_equal(out[0].failed_at, "2024-05-31T17:28:37Z");
    assert_int_equal(out[1].has_product_id, 0);
    assert_string_equal(out[1].sqlstate, "");
    assert_string_equal(out[1].error, "bad ? byte");

    /* An error reply (e.g. WRONGTYPE) and an empty list have no entries. */
    redisReply err = {.type = REDIS_REPLY_ERROR};
    assert_int_equal(dead_letter_parse(&err, out), 0);
    redisReply empty = {.type = REDIS_REPLY_ARRAY, .elements = 0};
    assert_int_equal(dead_letter_parse(&empty, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_and_integrity_errors_are_permanent),
        cmocka_unit_test(test_failures_of_the_moment_are_transient),
        cmocka_unit_test(test_pool_failures_are_transient),
        cmocka_unit_test(test_other_errors_are_unexpected),
        cmocka_unit_test(test_missing_or_malformed_sqlstate),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests_name("dead_letter", tests, NULL, NULL);
}
