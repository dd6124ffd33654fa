/*
 * Unit tests of bench_exec_path: the load generator is looked for in the running binary's own
 * directory, and a path with no directory or one that does not fit is refused, not cut short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/bench_exec.h"

static void test_beside_the_binary(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(bench_exec_path("/opt/cacheme/build/cacheme", out, sizeof out), 0);
    assert_string_equal(out, "/opt/cacheme/build/cacheme-bench");
    /* The sanitizer build runs the sanitizer build of the bench. */
    assert_int_equal(bench_exec_path("/src/build/asan/cacheme", out, sizeof out), 0);
    assert_string_equal(out, "/src/build/asan/cacheme-bench");
    /* Whatever the binary is called, the bench's name is fixed. */
    assert_int_equal(bench_exec_path("/usr/local/bin/cacheme-1", out, sizeof out), 0);
    assert_string_equal(out, "/usr/local/bin/cacheme-bench");
    assert_int_equal(bench_exec_path("/cacheme", out, sizeof out), 0);
    assert_string_equal(out, "/cacheme-bench");
}

static void test_refuses_what_it_cannot_place(void **state)
{
    (void)state;
    char out[32];
    memset(out, 'x', sizeof out);
    assert_int_equal(bench_exec_path("cacheme", out, sizeof out), -1);
    assert_string_equal(out, "");

    /* "/a/b/" and the name with its NUL need exactly 5 + 14 = 19 bytes. */
    char fit[19];
    assert_int_equal(bench_exec_path("/a/b/cacheme", fit, sizeof fit), 0);
    assert_string_equal(fit, "/a/b/cacheme-bench");
    char small[18];
    memset(small, 'x', sizeof small);
    assert_int_equal(bench_exec_path("/a/b/cacheme", small, sizeof small), -1);
    assert_string_equal(small, "");
    assert_int_equal(bench_exec_path("/a/b/cacheme", small, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beside_the_binary),
        cmocka_unit_test(test_refuses_what_it_cannot_place),
    };
    return cmocka_run_group_tests_name("bench_exec", tests, NULL, NULL);
}
