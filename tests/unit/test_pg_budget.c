/*
 * Unit tests of pg_budget's arithmetic: what one instance opens, and where the warning starts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/pg_budget.h"

static void test_needed_is_loops_times_pool_plus_listener(void **state)
{
    (void)state;
    config_t cfg = {.workers = 8, .pg_pool_size = 10};
    assert_int_equal(pg_budget_needed(&cfg), 88);
    cfg.workers = 2;
    cfg.pg_pool_size = 4;
    assert_int_equal(pg_budget_needed(&cfg), 10);
}

static void test_fits_up_to_the_warning_share(void **state)
{
    (void)state;
    /* 100 − 3 reserved = 97 usable; 80 % of it is 77.6 connections. */
    assert_int_equal(pg_budget_fits(100, 3, 0, 77), 1);
    assert_int_equal(pg_budget_fits(100, 3, 0, 78), 0);
    assert_int_equal(pg_budget_fits(100, 3, 60, 17), 1);
    assert_int_equal(pg_budget_fits(100, 3, 60, 18), 0);
    /* Three Compose backends of 8 loops × (10 + 1), the case that ran out. */
    assert_int_equal(pg_budget_fits(100, 3, 2 * 88, 88), 0);
    /* The Compose defaults: three backends of 2 × (4 + 1) and the dashboard's 1 × (1 + 1). */
    assert_int_equal(pg_budget_fits(100, 3, 2 * 10 + 2, 10), 1);
    /* A server that reserves everything fits nothing. */
    assert_int_equal(pg_budget_fits(3, 3, 0, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_needed_is_loops_times_pool_plus_listener),
        cmocka_unit_test(test_fits_up_to_the_warning_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
