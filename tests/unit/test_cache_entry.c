/*
 * Unit tests of cache_entry: which stored values are served, TTL jitter and the refresh-ahead
 * time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/cache_entry.h"

static void test_classify_products_and_not_found(void **state)
{
    (void)state;
    static const char product[] = "{\"id\":1,\"name\":\"Caf\xc3\xa9\",\"price\":9.5,"
                                  "\"tags\":[true,false,null,-1.5e3],\"nested\":{\"source\":1}}";
    assert_int_equal(cache_entry_classify(product, sizeof product - 1), CACHE_ENTRY_PRODUCT);
    assert_int_equal(cache_entry_classify("null", 4), CACHE_ENTRY_NOT_FOUND);
    assert_int_equal(cache_entry_classify(" {} \n", 5), CACHE_ENTRY_PRODUCT);
}

/* Everything the hit path must not splice into an answer is a miss. */
#define CASE(literal)                                                                              \
    {                                                                                              \
        (literal), sizeof(literal) - 1                                                             \
    }

static void test_classify_refuses_what_is_not_one_object(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        CASE(""),
        CASE("1796406848392:{\"id\":1}"), /* The old "<expiry>:<json>" format. */
        CASE("99999999999999999999:{}"),  /* A prefix that overflowed the old decoder. */
        CASE("{\"a\"b\"}"),
        CASE("{\"a\":1}\0"),                 /* A NUL after the object. */
        CASE("{\"a\":\"x\0y\"}"),            /* A NUL inside a string. */
        CASE("{\"a\":\"\xff\xfe\"}"),        /* Invalid UTF-8. */
        CASE("{\"a\":\"\xc0\xaf\"}"),        /* Overlong UTF-8. */
        CASE("{\"a\":\"\xed\xa0\x80\"}"),    /* A UTF-8 encoded surrogate. */
        CASE("{\"a\":\"\\ud800\"}"),         /* An unpaired surrogate escape. */
        CASE("{\"a\":\"\\u0000\"}"),         /* An escaped NUL. */
        CASE("{\"source\":\"x\",\"id\":1}"), /* Would be duplicated by the splice. */
        CASE("{\"id\":1,\"fetch_time_ms\":2}"),
        CASE("{\"sou\\u0072ce\":1}"), /* An escaped top-level name. */
        CASE("{\"a\":01}"),
        CASE("{\"a\":1.}"),
        CASE("{\"a\":[1,]}"),
        CASE("{\"a\":1,}"),
        CASE("{\"a\":1}{}"),
        CASE("[1]"),
        CASE("\"text\""),
        CASE("nul"),
        CASE("{\"a\":tru}"),
        CASE("{\"a\":\"\x01\"}"), /* A raw control character. */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (cache_entry_classify(bad[i].text, bad[i].len) != CACHE_ENTRY_INVALID)
            fail_msg("case %zu was not refused", i);
    }
}

/* Nesting is bounded: deep input is refused, not a stack overflow. */
static void test_classify_bounds_nesting(void **state)
{
    (void)state;
    char deep[2 * 100000 + 8];
    size_t n = 0;
    deep[n++] = '{';
    for (const char *p = "\"a\":"; *p != '\0'; p++)
        deep[n++] = *p;
    for (int i = 0; i < 100000; i++)
        deep[n++] = '[';
    for (int i = 0; i < 100000; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    assert_int_equal(cache_entry_classify(deep, n), CACHE_ENTRY_INVALID);
    static const char ok[] = "{\"a\":[[[[[[[[[[1]]]]]]]]]]}";
    assert_int_equal(cache_entry_classify(ok, sizeof ok - 1), CACHE_ENTRY_PRODUCT);
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

static void test_fresh_time(void **state)
{
    (void)state;
    /* TTL 10 s, 10 % window, u = 1 (XFetch adds nothing): fresh for the first 9 s. */
    assert_int_equal(cache_entry_fresh_ms(10000, 10, 1.0, 1.0, 1.0), 9000);
    assert_int_equal(cache_entry_fresh_ms(10000, 0, 1.0, 1.0, 1.0), 10000);
    assert_int_equal(cache_entry_fresh_ms(10000, 100, 1.0, 1.0, 1.0), 0);
    /* XFetch: a slow refresh (delta 500 ms) with a small u makes the refresh due earlier. */
    long long early = cache_entry_fresh_ms(10000, 10, 500.0, 1.0, 0.001);
    assert_true(early < 9000 - 3000 && early > 9000 - 4000); /* 500 * ln(1000) = 3454 ms. */
    assert_int_equal(cache_entry_fresh_ms(10000, 10, 500.0, 1.0, 1e-300), 0); /* Never negative. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_products_and_not_found),
        cmocka_unit_test(test_classify_refuses_what_is_not_one_object),
        cmocka_unit_test(test_classify_bounds_nesting),
        cmocka_unit_test(test_jitter_spreads_within_bounds),
        cmocka_unit_test(test_fresh_time),
    };
    return cmocka_run_group_tests_name("cache_entry", tests, NULL, NULL);
}
