/*
 * Unit tests of analytics_policy: the keys and their hash tags, the minute of a time, the names of
 * visitors, and the trending weight of a minute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "model/analytics_policy.h"

static void test_keys_share_their_tags(void **state)
{
    (void)state;
    char buf[ANALYTICS_KEY_MAX];
    assert_int_equal(analytics_policy_views_key(7, 29000000, buf, sizeof buf),
                     (int)strlen("analytics:{product:7}:views:29000000"));
    assert_string_equal(buf, "analytics:{product:7}:views:29000000");
    assert_true(analytics_policy_visitors_key(2147483647, buf, sizeof buf) > 0);
    assert_string_equal(buf, "analytics:{product:2147483647}:visitors");
    assert_true(analytics_policy_views_key(-5, 1, buf, sizeof buf) > 0);
    assert_string_equal(buf, "analytics:{product:-5}:views:1");
    assert_true(analytics_policy_minute_key(42, buf, sizeof buf) > 0);
    assert_string_equal(buf, "analytics:{views}:minute:42");
    /* Every aggregate carries {views}: one slot for the trending script and the leaderboard. */
    assert_non_null(strstr(ANALYTICS_TOTAL_KEY, "{views}"));
    assert_non_null(strstr(ANALYTICS_SCRATCH_KEY, "{views}"));
    /* A name that does not fit is refused, not cut. */
    char small[20];
    assert_int_equal(analytics_policy_views_key(7, 1, small, sizeof small), -1);
    assert_int_equal(analytics_policy_visitors_key(7, small, sizeof small), -1);
}

static void test_minute(void **state)
{
    (void)state;
    assert_int_equal(analytics_policy_minute(0), 0);
    assert_int_equal(analytics_policy_minute(59999), 0);
    assert_int_equal(analytics_policy_minute(60000), 1);
    assert_int_equal(analytics_policy_minute(1733356800123LL), 28889280);
}

static void test_visitor_names(void **state)
{
    (void)state;
    char out[ANALYTICS_VISITOR_MAX];
    assert_int_equal(analytics_policy_visitor("0123456789abcdef0123456789abcdef", "127.0.0.1", out),
                     34);
    assert_string_equal(out, "s:0123456789abcdef0123456789abcdef");
    assert_int_equal(analytics_policy_visitor(NULL, "203.0.113.9", out), 13);
    assert_string_equal(out, "a:203.0.113.9");
    /* The longest textual IPv6 address fits. */
    const char *v6 = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    assert_int_equal(analytics_policy_visitor(NULL, v6, out), (int)strlen(v6) + 2);
}

static void test_weight_halves_every_half_life(void **state)
{
    (void)state;
    assert_true(analytics_policy_weight(0, 5) == 1.0);
    assert_true(analytics_policy_weight(-3, 5) == 1.0);
    assert_true(analytics_policy_weight(5, 5) == 0.5);
    assert_true(analytics_policy_weight(10, 5) == 0.25);
    assert_true(analytics_policy_weight(30, 5) == 1.0 / 64);
    double w = analytics_policy_weight(1, 5);
    assert_true(w > 0.87 && w < 0.871);
    assert_true(analytics_policy_weight(4, 0) == 1.0 / 16); /* A half-life below 1 is 1. */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_share_their_tags),
        cmocka_unit_test(test_minute),
        cmocka_unit_test(test_visitor_names),
        cmocka_unit_test(test_weight_halves_every_half_life),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
