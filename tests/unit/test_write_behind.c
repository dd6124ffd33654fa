/*
 * Unit tests of write_behind_classify: which failures of applying a queued write are retried and
 * which park the entry in the dead-letter stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg_pool.h"
#include "write_behind.h"

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
        assert_int_equal(write_behind_classify(PG_POOL_EQUERY, codes[i]), WRITE_BEHIND_PERMANENT);
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
        assert_int_equal(write_behind_classify(PG_POOL_EQUERY, codes[i]), WRITE_BEHIND_TRANSIENT);
}

/* Failures where PostgreSQL gave no answer about the entry are transient, whatever sqlstate says. */
static void test_pool_failures_are_transient(void **state)
{
    (void)state;
    const int statuses[] = {PG_POOL_EDOWN, PG_POOL_ETIMEOUT, PG_POOL_ELOST, PG_POOL_ENOMEM};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        assert_int_equal(write_behind_classify(statuses[i], NULL), WRITE_BEHIND_TRANSIENT);
        assert_int_equal(write_behind_classify(statuses[i], "23514"), WRITE_BEHIND_TRANSIENT);
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
        assert_int_equal(write_behind_classify(PG_POOL_EQUERY, codes[i]), WRITE_BEHIND_UNEXPECTED);
}

/* An error answer without a well-formed SQLSTATE is not taken as a reason to park. */
static void test_missing_or_malformed_sqlstate(void **state)
{
    (void)state;
    const char *codes[] = {"", "2", "22", "2200", "220011"};
    assert_int_equal(write_behind_classify(PG_POOL_EQUERY, NULL), WRITE_BEHIND_UNEXPECTED);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_int_equal(write_behind_classify(PG_POOL_EQUERY, codes[i]), WRITE_BEHIND_UNEXPECTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_data_and_integrity_errors_are_permanent),
        cmocka_unit_test(test_failures_of_the_moment_are_transient),
        cmocka_unit_test(test_pool_failures_are_transient),
        cmocka_unit_test(test_other_errors_are_unexpected),
        cmocka_unit_test(test_missing_or_malformed_sqlstate),
    };
    return cmocka_run_group_tests_name("write_behind", tests, NULL, NULL);
}
