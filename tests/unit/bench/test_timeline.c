/*
 * Unit tests of timeline: values land in their interval, coalescing keeps every value and doubles
 * the interval, and empty cells stay NULL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timeline.h"

static uint64_t cell_count(const timeline_t *t, size_t i, int cls)
{
    const histogram_t *h = timeline_histogram(t, i, cls);
    return h ? histogram_count(h) : 0;
}

static void test_intervals(void **state)
{
    (void)state;
    timeline_t *t;
    assert_int_equal(timeline_new(2, 100, 8, 5, 1u << 20, &t), 0);
    assert_int_equal(timeline_points(t), 0);
    assert_int_equal(timeline_record(t, 0, 0, 10), 0);
    assert_int_equal(timeline_record(t, 99, 0, 20), 0);
    assert_int_equal(timeline_record(t, 100, 1, 30), 0);
    assert_int_equal(timeline_record(t, 350, 0, 40), 0);
    assert_int_equal(timeline_points(t), 4);
    assert_int_equal(timeline_interval(t), 100);
    assert_int_equal(cell_count(t, 0, 0), 2);
    assert_int_equal(cell_count(t, 1, 1), 1);
    assert_null(timeline_histogram(t, 1, 0));
    assert_null(timeline_histogram(t, 2, 0));
    assert_int_equal(cell_count(t, 3, 0), 1);
    assert_null(timeline_histogram(t, 100, 0));
    assert_null(timeline_histogram(t, 0, 2));
    timeline_free(t);
}

static void test_coalescing_keeps_every_value(void **state)
{
    (void)state;
    timeline_t *t;
    assert_int_equal(timeline_new(1, 100, 4, 5, 1u << 20, &t), 0);
    /* One value per millisecond for a second: intervals 100 -> 200 -> 400. */
    for (uint64_t at = 0; at < 1000; at++)
        assert_int_equal(timeline_record(t, at, 0, at + 1), 0);
    assert_int_equal(timeline_interval(t), 400);
    assert_int_equal(timeline_points(t), 3);
    assert_int_equal(cell_count(t, 0, 0), 400);
    assert_int_equal(cell_count(t, 1, 0), 400);
    assert_int_equal(cell_count(t, 2, 0), 200);
    assert_int_equal(histogram_min(timeline_histogram(t, 1, 0)), 401);
    assert_int_equal(histogram_max(timeline_histogram(t, 1, 0)), 800);
    /* A value far in the future coalesces as often as needed. */
    assert_int_equal(timeline_record(t, 100000, 0, 5), 0);
    assert_true(100000 / timeline_interval(t) < 4);
    uint64_t total = 0;
    for (size_t i = 0; i < timeline_points(t); i++)
        total += cell_count(t, i, 0);
    assert_int_equal(total, 1001);
    timeline_free(t);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    timeline_t *t = (timeline_t *)1;
    assert_int_equal(timeline_new(0, 100, 4, 5, 1000, &t), -1);
    assert_null(t);
    assert_int_equal(timeline_new(1, 0, 4, 5, 1000, &t), -1);
    assert_int_equal(timeline_new(1, 100, 3, 5, 1000, &t), -1);
    assert_int_equal(timeline_new(1, 100, 4, 1, 1000, &t), -1);
    timeline_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_coalescing_keeps_every_value),
        cmocka_unit_test(test_invalid_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
