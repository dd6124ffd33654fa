/*
 * Unit tests of params: integers as the original API accepted them, and pydantic's error types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "params.h"

static void test_valid_ids(void **state)
{
    (void)state;
    int32_t id;
    params_error_t err;
    assert_int_equal(params_parse_id("1", &id, &err), 0);
    assert_int_equal(id, 1);
    assert_int_equal(params_parse_id("-5", &id, &err), 0);
    assert_int_equal(id, -5);
    assert_int_equal(params_parse_id("2147483647", &id, &err), 0);
    assert_int_equal(id, INT32_MAX);
    assert_int_equal(params_parse_id("-2147483648", &id, &err), 0);
    assert_int_equal(id, INT32_MIN);
    assert_int_equal(params_parse_id("007", &id, &err), 0);
    assert_int_equal(id, 7);
}

static void test_not_integers(void **state)
{
    (void)state;
    const char *bad[] = {"", "-", "abc", "1.5", "1e3", " 1", "1 ", "+1", "0x10", "1/2", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t id = 42;
        params_error_t err;
        assert_int_equal(params_parse_id(bad[i], &id, &err), -1);
        assert_string_equal(err.type, "int_parsing");
        assert_non_null(strstr(err.msg, "valid integer"));
        assert_int_equal(id, 42); /* Untouched on error. */
    }
}

static void test_out_of_range(void **state)
{
    (void)state;
    int32_t id;
    params_error_t err;
    assert_int_equal(params_parse_id("2147483648", &id, &err), -1);
    assert_string_equal(err.type, "less_than_equal");
    assert_string_equal(err.msg, "Input should be less than or equal to 2147483647");
    assert_int_equal(params_parse_id("-2147483649", &id, &err), -1);
    assert_string_equal(err.type, "greater_than_equal");
    /* Far beyond 64 bits: still a range error, not a parse error or an overflow. */
    assert_int_equal(params_parse_id("99999999999999999999999999", &id, &err), -1);
    assert_string_equal(err.type, "less_than_equal");
    assert_int_equal(params_parse_id("-99999999999999999999999999", &id, &err), -1);
    assert_string_equal(err.type, "greater_than_equal");
}

static void test_query_bounds(void **state)
{
    (void)state;
    long long v;
    params_error_t err;
    assert_int_equal(params_parse_int("100", 1, 100, &v, &err), 0);
    assert_int_equal(v, 100);
    assert_int_equal(params_parse_int("0", 1, 100, &v, &err), -1);
    assert_string_equal(err.msg, "Input should be greater than or equal to 1");
    assert_int_equal(params_parse_int("101", 1, 100, &v, &err), -1);
    assert_string_equal(err.msg, "Input should be less than or equal to 100");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ids),
        cmocka_unit_test(test_not_integers),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_query_bounds),
    };
    return cmocka_run_group_tests_name("params", tests, NULL, NULL);
}
