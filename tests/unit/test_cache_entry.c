/*
 * Unit tests of cache_entry: the stored format, TTL jitter and the refresh-ahead decision.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache_entry.h"

static void test_round_trip(void **state)
{
    (void)state;
    char *out;
    size_t n;
    assert_int_equal(cache_entry_encode(1700000000123LL, "{\"id\":1}", 8, &out, &n), 0);
    assert_string_equal(out, "1700000000123:{\"id\":1}");
    long long expiry;
    const char *json;
    size_t jlen;
    assert_int_equal(cache_entry_decode(out, n, &expiry, &json, &jlen), 0);
    assert_int_equal(expiry, 1700000000123LL);
    assert_int_equal(jlen, 8);
    assert_memory_equal(json, "{\"id\":1}", 8);
    free(out);
    /* A negative entry has nothing after the colon. */
    assert_int_equal(cache_entry_encode(5, NULL, 0, &out, &n), 0);
    assert_int_equal(cache_entry_decode(out, n, &expiry, &json, &jlen), 0);
    assert_int_equal(jlen, 0);
    free(out);
}

static void test_rejects_other_formats(void **state)
{
    (void)state;
    long long expiry;
    const char *json;
    size_t jlen;
    const char *bad[] = {"{\"id\":1}", ":{}", "12", "12x:{}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cache_entry_decode(bad[i], strlen(bad[i]), &expiry, &json, &jlen), -1);
}

static void test_jitter_spreads_within_bounds(void **state)
{
    (void)state;
    assert_int_equal(cache_entry_jittered_ttl(100, 10, 0.0), 90);
    assert_int_equal(cache_entry_jittered_ttl(100, 10, 0.5), 100);
    assert_int_equal(cache_entry_jittered_ttl(100, 10, 0.999999), 110);
    assert_int_equal(cache_entry_jittered_ttl(100, 0, 0.9), 100);
    assert_int_equal(cache_entry_jittered_ttl(1, 90, 0.0), 1); /* Never below a second. */
    int lo = 1 << 30, hi = 0;
    for (int i = 0; i < 1000; i++) {
        int t = cache_entry_jittered_ttl(3600, 10, i / 1000.0);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
    }
    assert_int_equal(lo, 3240);
    assert_true(hi >= 3955 && hi <= 3960);
}

static void test_refresh_decision(void **state)
{
    (void)state;
    /* TTL 10 s, 10 % window: refresh in the last second, not before (u = 1: XFetch adds 0). */
    assert_int_equal(cache_entry_should_refresh(0, 10000, 10000, 10, 1.0, 1.0, 1.0), 0);
    assert_int_equal(cache_entry_should_refresh(8999, 10000, 10000, 10, 1.0, 1.0, 1.0), 0);
    assert_int_equal(cache_entry_should_refresh(9000, 10000, 10000, 10, 1.0, 1.0, 1.0), 1);
    assert_int_equal(cache_entry_should_refresh(10000, 10000, 10000, 10, 1.0, 1.0, 1.0), 0);
    /* XFetch: a slow recompute (delta 500 ms) with a small u refreshes earlier. */
    assert_int_equal(cache_entry_should_refresh(8000, 10000, 10000, 10, 500.0, 1.0, 0.001), 1);
    assert_int_equal(cache_entry_should_refresh(8000, 10000, 10000, 10, 500.0, 1.0, 0.9), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects_other_formats),
        cmocka_unit_test(test_jitter_spreads_within_bounds),
        cmocka_unit_test(test_refresh_decision),
    };
    return cmocka_run_group_tests_name("cache_entry", tests, NULL, NULL);
}
