/*
 * Unit tests of the cache's key building, SCAN pattern escaping and the hit-rate figure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cache/cache.h"
#include "core/stats.h"

static void test_key_build(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(cache_key_build("product:", 42, buf, sizeof buf), 10);
    assert_string_equal(buf, "product:42");
    assert_int_equal(cache_key_build("p:", -7, buf, sizeof buf), 4);
    assert_string_equal(buf, "p:-7");
    assert_int_equal(cache_key_build("p:", INT32_MIN, buf, sizeof buf), 13);
    char small[8];
    assert_int_equal(cache_key_build("product:", 1, small, sizeof small), -1);
}

static void test_pattern_escaping(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(cache_key_pattern("product:", buf, sizeof buf), 9);
    assert_string_equal(buf, "product:*");
    cache_key_pattern("a*b?[c]\\:", buf, sizeof buf);
    assert_string_equal(buf, "a\\*b\\?\\[c\\]\\\\:*");
    char small[4];
    assert_int_equal(cache_key_pattern("abcd", small, sizeof small), -1);
}

static void test_hit_rate(void **state)
{
    (void)state;
    stats_snapshot_t s = {0};
    assert_true(stats_hit_rate(&s) == 0.0);
    s.hits = 2;
    s.misses = 1;
    assert_true(stats_hit_rate(&s) == 66.67);
    s.hits = 1;
    s.misses = 0;
    assert_true(stats_hit_rate(&s) == 100.0);
}

static void test_counters(void **state)
{
    (void)state;
    stats_snapshot_t before, after;
    stats_read(&before);
    stats_incr(STATS_HIT);
    stats_incr(STATS_HIT);
    stats_incr(STATS_DB_ERROR);
    stats_read(&after);
    assert_int_equal(after.hits - before.hits, 2);
    assert_int_equal(after.db_errors - before.db_errors, 1);
    assert_int_equal(after.misses, before.misses);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_build),
        cmocka_unit_test(test_pattern_escaping),
        cmocka_unit_test(test_hit_rate),
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests_name("cache_keys", tests, NULL, NULL);
}
