/*
 * Unit tests of metrics: fine bucket placement and percentiles against a known distribution.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/metrics.h"

static void test_bucket_index_is_monotonic_and_tight(void **state)
{
    (void)state;
    size_t prev = 0;
    for (uint64_t us = 0; us < 1000000; us += us < 100 ? 1 : us / 50) {
        size_t i = metrics_fine_index(us);
        assert_true(i >= prev);
        prev = i;
    }
    assert_int_equal(metrics_fine_index(0), 0);
    assert_int_equal(metrics_fine_index(3), 3);
    assert_int_equal(metrics_fine_index(4), 4);
    assert_int_equal(metrics_fine_index(8), 8);
    assert_true(metrics_fine_index(UINT64_MAX) == metrics_fine_buckets() - 1);
}

static void test_percentiles_of_uniform_1_to_10000(void **state)
{
    (void)state;
    size_t n = metrics_fine_buckets();
    uint64_t *b = calloc(n, sizeof *b);
    for (uint64_t us = 1; us <= 10000; us++)
        b[metrics_fine_index(us)]++;
    /* Four buckets per power of two: every answer is within 12.5 % of the true percentile. */
    double expect[] = {5000, 9500, 9900};
    double p[] = {50, 95, 99};
    for (int i = 0; i < 3; i++) {
        double got = metrics_fine_percentile(b, n, p[i]);
        assert_true(got >= expect[i] * 0.875 && got <= expect[i] * 1.125);
    }
    free(b);
    uint64_t empty[4] = {0};
    assert_true(metrics_fine_percentile(empty, 4, 50) == 0.0);
}

static void test_single_value(void **state)
{
    (void)state;
    size_t n = metrics_fine_buckets();
    uint64_t *b = calloc(n, sizeof *b);
    b[metrics_fine_index(1000)] = 7;
    double got = metrics_fine_percentile(b, n, 99);
    assert_true(got >= 875 && got <= 1125);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_index_is_monotonic_and_tight),
        cmocka_unit_test(test_percentiles_of_uniform_1_to_10000),
        cmocka_unit_test(test_single_value),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
