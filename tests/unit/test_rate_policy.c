/*
 * Unit tests of rate_policy: the client address behind trusted proxies, TRUSTED_PROXIES lists,
 * API keys, key names with their hash tag, and the RateLimit / RateLimit-Policy items.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "model/rate_policy.h"

static int client(const char *peer, const char *xff, const char *trusted, char *out)
{
    return rate_policy_client_address(peer, xff, xff ? strlen(xff) : 0, trusted, out);
}

static void test_untrusted_peer_ignores_xff(void **state)
{
    (void)state;
    char out[RATE_POLICY_ADDR_MAX];
    assert_int_equal(client("192.0.2.7", "203.0.113.1", "10.0.0.0/8", out), 0);
    assert_string_equal(out, "192.0.2.7");
    assert_int_equal(client("192.0.2.7", NULL, "192.0.2.7", out), 0);
    assert_string_equal(out, "192.0.2.7");
}

static void test_trusted_hops_right_to_left(void **state)
{
    (void)state;
    char out[RATE_POLICY_ADDR_MAX];
    const char *trusted = " 10.0.0.0/8 , ::1";
    assert_int_equal(client("10.1.2.3", "6.6.6.6, 203.0.113.9 ,10.0.0.5", trusted, out), 0);
    assert_string_equal(out, "203.0.113.9");
    assert_int_equal(client("::1", "10.0.0.1, 10.0.0.2", trusted, out), 0);
    assert_string_equal(out, "10.0.0.1"); /* All trusted: the leftmost. */
    assert_int_equal(client("10.1.1.1", "2001:DB8::0:1", trusted, out), 0);
    assert_string_equal(out, "2001:db8::1"); /* Canonical form. */
    assert_int_equal(client("10.1.1.1", "", trusted, out), 0);
    assert_string_equal(out, "10.1.1.1");
}

static void test_malformed_xff(void **state)
{
    (void)state;
    char out[RATE_POLICY_ADDR_MAX];
    assert_int_equal(client("10.1.1.1", "nope", "10.0.0.0/8", out), RATE_POLICY_EINVAL);
    assert_int_equal(client("10.1.1.1", "1.2.3.4:80", "10.0.0.0/8", out), RATE_POLICY_EINVAL);
    const char nul[] = "1.2.3.4\0x";
    assert_int_equal(rate_policy_client_address("10.1.1.1", nul, sizeof nul - 1, "10.0.0.0/8", out),
                     RATE_POLICY_EINVAL);
}

static void test_proxy_lists(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(rate_policy_proxies_check("", err, sizeof err), 0);
    assert_int_equal(rate_policy_proxies_check("127.0.0.1, 10.0.0.0/8,fd00::/8", err, sizeof err),
                     0);
    assert_int_equal(rate_policy_proxies_check("10.0.0.0/33", err, sizeof err), RATE_POLICY_EINVAL);
    assert_non_null(strstr(err, "TRUSTED_PROXIES"));
    assert_int_equal(rate_policy_proxies_check("10.0.0.0/", err, sizeof err), RATE_POLICY_EINVAL);
    assert_int_equal(rate_policy_proxies_check("host.example", err, sizeof err),
                     RATE_POLICY_EINVAL);
    assert_true(rate_policy_proxy_trusted("10.0.0.0/9", "10.127.255.255"));
    assert_false(rate_policy_proxy_trusted("10.0.0.0/9", "10.128.0.0"));
    assert_false(rate_policy_proxy_trusted("::ffff:0:0/96", "10.0.0.1")); /* Families differ. */
    assert_true(rate_policy_proxy_trusted("0.0.0.0/0", "8.8.8.8"));
}

static void test_api_keys(void **state)
{
    (void)state;
    assert_true(rate_policy_api_key_known("alpha, beta", "beta", 4));
    assert_false(rate_policy_api_key_known("alpha, beta", "bet", 3));
    assert_false(rate_policy_api_key_known("alpha, beta", "betas", 5));
    assert_false(rate_policy_api_key_known("", "", 0));
    assert_false(rate_policy_api_key_known("alpha", "alpha\0", 6));
}

static void test_key_base(void **state)
{
    (void)state;
    char out[RATE_POLICY_KEY_MAX];
    assert_int_equal(rate_policy_key_base("reads", 0, "203.0.113.9", 11, out), 0);
    assert_string_equal(out, "ratelimit:{reads:ip:203.0.113.9}");
    assert_int_equal(rate_policy_key_base("writes", 1, "alpha", 5, out), 0);
    assert_int_equal(strlen(out), strlen("ratelimit:{writes:key:}") + 16);
    assert_null(strstr(out, "alpha"));
}

static void test_fields(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(rate_policy_format_policy(out, sizeof out, "reads", 100, 60), 0);
    assert_string_equal(out, "\"reads\";q=100;w=60");
    assert_int_equal(rate_policy_format_limit(out, sizeof out, "reads", 42, 7), 0);
    assert_string_equal(out, "\"reads\";r=42;t=7");
    assert_int_equal(rate_policy_format_limit(out, sizeof out, "reads", -3, 0), 0);
    assert_string_equal(out, "\"reads\";r=0;t=0");
    assert_int_equal(rate_policy_format_policy(out, 8, "reads", 100, 60), RATE_POLICY_EINVAL);
    assert_int_equal(rate_policy_seconds(1, 1), 1);
    assert_int_equal(rate_policy_seconds(1000, 1), 1);
    assert_int_equal(rate_policy_seconds(1001, 1), 2);
    assert_int_equal(rate_policy_seconds(0, 0), 0);
    assert_int_equal(rate_policy_seconds(-5, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untrusted_peer_ignores_xff),
        cmocka_unit_test(test_trusted_hops_right_to_left),
        cmocka_unit_test(test_malformed_xff),
        cmocka_unit_test(test_proxy_lists),
        cmocka_unit_test(test_api_keys),
        cmocka_unit_test(test_key_base),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
