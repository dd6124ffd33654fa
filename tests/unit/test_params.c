/*
 * Unit tests of params: integers as the original API accepted them, and pydantic's error types;
 * texts are read by length, so a NUL ("%00") inside makes them not integers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/params.h"

/* The parsers on NUL-terminated texts (test_nul_inside passes lengths itself). */
static int parse_id(const char *text, int32_t *out, params_error_t *err)
{
    return params_parse_id(text, strlen(text), out, err);
}

static int parse_int(const char *text, long long min, long long max, long long *out,
                     params_error_t *err)
{
    return params_parse_int(text, strlen(text), min, max, out, err);
}

static void test_valid_ids(void **state)
{
    (void)state;
    int32_t id;
    params_error_t err;
    assert_int_equal(parse_id("1", &id, &err), 0);
    assert_int_equal(id, 1);
    assert_int_equal(parse_id("-5", &id, &err), 0);
    assert_int_equal(id, -5);
    assert_int_equal(parse_id("2147483647", &id, &err), 0);
    assert_int_equal(id, INT32_MAX);
    assert_int_equal(parse_id("-2147483648", &id, &err), 0);
    assert_int_equal(id, INT32_MIN);
    assert_int_equal(parse_id("007", &id, &err), 0);
    assert_int_equal(id, 7);
}

static void test_not_integers(void **state)
{
    (void)state;
    const char *bad[] = {"", "-", "abc", "1.5", "1e3", " 1", "1 ", "+1", "0x10", "1/2", "١"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t id = 42;
        params_error_t err;
        assert_int_equal(params_parse_id(bad[i], strlen(bad[i]), &id, &err), PARAMS_NOT_INTEGER);
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
    assert_int_equal(parse_id("2147483648", &id, &err), PARAMS_OUT_OF_RANGE);
    assert_string_equal(err.type, "less_than_equal");
    assert_string_equal(err.msg, "Input should be less than or equal to 2147483647");
    assert_int_equal(parse_id("-2147483649", &id, &err), PARAMS_OUT_OF_RANGE);
    assert_string_equal(err.type, "greater_than_equal");
    /* Far beyond 64 bits: still a range error, not a parse error or an overflow. */
    assert_int_equal(parse_id("99999999999999999999999999", &id, &err), PARAMS_OUT_OF_RANGE);
    assert_string_equal(err.type, "less_than_equal");
    assert_int_equal(parse_id("-99999999999999999999999999", &id, &err), PARAMS_OUT_OF_RANGE);
    assert_string_equal(err.type, "greater_than_equal");
}

static void test_query_bounds(void **state)
{
    (void)state;
    long long v;
    params_error_t err;
    assert_int_equal(parse_int("100", 1, 100, &v, &err), 0);
    assert_int_equal(v, 100);
    assert_int_equal(parse_int("0", 1, 100, &v, &err), PARAMS_OUT_OF_RANGE);
    assert_string_equal(err.msg, "Input should be greater than or equal to 1");
    assert_int_equal(parse_int("101", 1, 100, &v, &err), PARAMS_OUT_OF_RANGE);
    assert_string_equal(err.msg, "Input should be less than or equal to 100");
}

static void test_nul_inside(void **state)
{
    (void)state;
    int32_t id = 42;
    long long v = 42;
    params_error_t err;
    static const char one_nul[] = "1\0";
    static const char one_nul_x[] = "1\0x";
    static const char nul_one[] = "\0"
                                  "1";
    assert_int_equal(params_parse_id(one_nul, sizeof one_nul - 1, &id, &err), PARAMS_NOT_INTEGER);
    assert_string_equal(err.type, "int_parsing");
    assert_int_equal(params_parse_id(one_nul_x, sizeof one_nul_x - 1, &id, &err),
                     PARAMS_NOT_INTEGER);
    assert_int_equal(params_parse_int(nul_one, sizeof nul_one - 1, 0, 10, &v, &err),
                     PARAMS_NOT_INTEGER);
    assert_int_equal(id, 42);
    assert_int_equal(v, 42);
    /* The length decides, not a terminator: "12" read as one byte is 1. */
    assert_int_equal(params_parse_id("12", 1, &id, &err), 0);
    assert_int_equal(id, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_ids),    cmocka_unit_test(test_not_integers),
        cmocka_unit_test(test_out_of_range), cmocka_unit_test(test_query_bounds),
        cmocka_unit_test(test_nul_inside),
    };
    return cmocka_run_group_tests_name("params", tests, NULL, NULL);
}
