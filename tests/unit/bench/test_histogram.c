/*
 * Unit tests of histogram: exact small values, percentiles against known distributions (uniform and
 * exponential, compared with the exact order statistics), merging, clamping and the bucket layout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "histogram.h"

/* The exact q-th percentile of sorted[0..n): the value at rank ceil(q% of n), as histogram.h. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double q)
{
    if (q <= 0)
        return sorted[0];
    size_t rank = (size_t)ceil(q / 100.0 * (double)n - 1e-9);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Asserts |got - want| <= want * rel + 1. */
static void assert_close(uint64_t got, uint64_t want, double rel)
{
    double diff = fabs((double)got - (double)want);
    if (diff > (double)want * rel + 1.0)
        fail_msg("got %llu, want %llu (within %.3f %%)", (unsigned long long)got,
                 (unsigned long long)want, rel * 100);
}

static const double quantiles[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

static void test_small_values_are_exact(void **state)
{
    (void)state;
    histogram_t *h;
    assert_int_equal(histogram_new(8, 1000000, &h), 0);
    assert_int_equal(histogram_count(h), 0);
    assert_int_equal(histogram_percentile(h, 50), 0);
    assert_int_equal(histogram_min(h), 0);
    for (uint64_t v = 1; v <= 100; v++)
        histogram_record(h, v);
    assert_int_equal(histogram_count(h), 100);
    assert_int_equal(histogram_min(h), 1);
    assert_int_equal(histogram_max(h), 100);
    assert_true(fabs(histogram_mean(h) - 50.5) < 1e-9);
    assert_int_equal(histogram_percentile(h, 0), 1);
    assert_int_equal(histogram_percentile(h, 1), 1);
    assert_int_equal(histogram_percentile(h, 50), 50);
    assert_int_equal(histogram_percentile(h, 50.5), 51);
    assert_int_equal(histogram_percentile(h, 99), 99);
    assert_int_equal(histogram_percentile(h, 100), 100);
    histogram_reset(h);
    assert_int_equal(histogram_count(h), 0);
    assert_int_equal(histogram_max(h), 0);
    histogram_free(h);
}

/* Uniform: every integer 1..1,000,000 once; the q-th percentile is q * 10,000. */
static void test_uniform_distribution(void **state)
{
    (void)state;
    histogram_t *h;
    assert_int_equal(histogram_new(8, UINT64_C(1) << 36, &h), 0);
    for (uint64_t v = 1; v <= 1000000; v++)
        histogram_record(h, v);
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++) {
        uint64_t want = (uint64_t)ceil(quantiles[i] * 10000.0 - 1e-9);
        /* Precision 8: buckets are at most 1/128 of their values wide; the middle is within half.
         */
        assert_close(histogram_percentile(h, quantiles[i]), want, 1.0 / 256);
    }
    assert_true(fabs(histogram_mean(h) - 500000.5) < 1e-6);
    histogram_free(h);
}

/*
 * Exponential with a mean of 1 ms, in nanoseconds: 200,000 values at the distribution's own
 * quantiles, so the sample is a known distribution without randomness. Compared with the exact
 * order statistics of the same values, and with the closed form -ln(1 - q) * mean.
 */
static void test_exponential_distribution(void **state)
{
    (void)state;
    const size_t n = 200000;
    uint64_t *values = malloc(n * sizeof *values);
    assert_non_null(values);
    histogram_t *h;
    assert_int_equal(histogram_new(8, UINT64_C(1) << 36, &h), 0);
    for (size_t i = 0; i < n; i++) {
        double u = ((double)i + 0.5) / (double)n;
        values[i] = (uint64_t)llround(-log(1.0 - u) * 1e6);
        histogram_record(h, values[i]);
    }
    qsort(values, n, sizeof *values, cmp_u64);
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++) {
        double q = quantiles[i];
        uint64_t got = histogram_percentile(h, q);
        assert_close(got, exact_percentile(values, n, q), 1.0 / 256);
        if (q < 99.99) /* The closed form, away from the sparse tail. */
            assert_close(got, (uint64_t)(-log(1.0 - q / 100.0) * 1e6), 0.01);
    }
    assert_int_equal(histogram_min(h), values[0]);
    assert_int_equal(histogram_max(h), values[n - 1]);
    assert_true(fabs(histogram_mean(h) - 1e6) < 1e6 * 0.001);
    histogram_free(h);
    free(values);
}

/* Coarse precision is still within its bound: P = 4 means within 1/16. */
static void test_coarse_precision(void **state)
{
    (void)state;
    histogram_t *h;
    assert_int_equal(histogram_new(4, 1u << 30, &h), 0);
    for (uint64_t v = 1; v <= 100000; v++)
        histogram_record(h, v * 7);
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++) {
        uint64_t want = 7 * (uint64_t)ceil(quantiles[i] * 1000.0 - 1e-9);
        assert_close(histogram_percentile(h, quantiles[i]), want, 1.0 / 16);
    }
    histogram_free(h);
}

static void test_merge(void **state)
{
    (void)state;
    histogram_t *a, *b, *whole, *other;
    assert_int_equal(histogram_new(8, 1u << 30, &a), 0);
    assert_int_equal(histogram_new_like(a, &b), 0);
    assert_int_equal(histogram_new_like(a, &whole), 0);
    assert_int_equal(histogram_new(7, 1u << 30, &other), 0);
    for (uint64_t v = 1; v <= 50000; v++) {
        histogram_record(v % 2 ? a : b, v * 3);
        histogram_record(whole, v * 3);
    }
    assert_int_equal(histogram_merge(a, b), 0);
    assert_int_equal(histogram_count(a), histogram_count(whole));
    assert_int_equal(histogram_min(a), histogram_min(whole));
    assert_int_equal(histogram_max(a), histogram_max(whole));
    for (size_t i = 0; i < sizeof quantiles / sizeof quantiles[0]; i++)
        assert_int_equal(histogram_percentile(a, quantiles[i]),
                         histogram_percentile(whole, quantiles[i]));
    /* Different shapes do not merge, and the destination is untouched. */
    assert_int_equal(histogram_merge(other, a), -1);
    assert_int_equal(histogram_count(other), 0);
    histogram_free(a);
    histogram_free(b);
    histogram_free(whole);
    histogram_free(other);
}

static void test_values_above_the_maximum(void **state)
{
    (void)state;
    histogram_t *h;
    assert_int_equal(histogram_new(8, 1000, &h), 0);
    histogram_record(h, 10);
    histogram_record(h, 1000000);
    assert_int_equal(histogram_count(h), 2);
    assert_int_equal(histogram_max(h), 1000000);
    assert_int_equal(histogram_percentile(h, 100), 1000000);
    uint64_t low, high;
    size_t last = histogram_bucket_count(h) - 1;
    assert_int_equal(histogram_bucket(h, last, &low, &high), 1);
    assert_int_equal(high, 1000000);
    histogram_free(h);
}

/* Buckets tile the value range without gaps or overlaps, and each is within the precision. */
static void test_bucket_layout(void **state)
{
    (void)state;
    histogram_t *h;
    assert_int_equal(histogram_new(6, UINT64_C(1) << 40, &h), 0);
    uint64_t expect_low = 0;
    for (size_t i = 0; i < histogram_bucket_count(h); i++) {
        uint64_t low, high;
        histogram_bucket(h, i, &low, &high);
        assert_int_equal(low, expect_low);
        assert_true(high >= low);
        if (low >= 64)
            assert_true((double)(high - low + 1) <= (double)low / 32.0 + 1e-9);
        expect_low = high + 1;
    }
    assert_true(expect_low > (UINT64_C(1) << 40));
    /* Every value lands in the bucket whose bounds hold it. */
    for (uint64_t v = 1; v < (UINT64_C(1) << 40); v = v * 3 + 1) {
        histogram_reset(h);
        histogram_record(h, v);
        for (size_t i = 0; i < histogram_bucket_count(h); i++) {
            uint64_t low, high;
            if (histogram_bucket(h, i, &low, &high) == 1) {
                assert_true(low <= v && v <= high);
                break;
            }
        }
    }
    histogram_free(h);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    histogram_t *h = (histogram_t *)1;
    assert_int_equal(histogram_new(HISTOGRAM_MIN_PRECISION - 1, 1000, &h), -1);
    assert_null(h);
    assert_int_equal(histogram_new(HISTOGRAM_MAX_PRECISION + 1, 1000, &h), -1);
    assert_int_equal(histogram_new(8, 0, &h), -1);
    histogram_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_values_are_exact),
        cmocka_unit_test(test_uniform_distribution),
        cmocka_unit_test(test_exponential_distribution),
        cmocka_unit_test(test_coarse_precision),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_values_above_the_maximum),
        cmocka_unit_test(test_bucket_layout),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
