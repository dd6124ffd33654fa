/*
 * Unit tests of config: defaults, environment, flags, precedence, and errors naming the setting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

/* A fake environment: pairs of name, value, terminated by NULL. */
static const char *const *fake_env;

static const char *lookup(const char *name)
{
    for (const char *const *p = fake_env; p && p[0]; p += 2) {
        if (strcmp(p[0], name) == 0)
            return p[1];
    }
    return NULL;
}

static int load(config_t *cfg, const char *const *env, int argc, char *const *argv, char *err)
{
    fake_env = env;
    return config_load(cfg, argc, argv, lookup, err, 256);
}

static void test_defaults(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    char *argv[] = {"cacheme"};
    assert_int_equal(load(&cfg, NULL, 1, argv, err), 0);
    assert_int_equal(cfg.command, CONFIG_CMD_SERVE);
    assert_string_equal(cfg.host, "127.0.0.1");
    assert_int_equal(cfg.port, 8000);
    assert_int_equal(cfg.cache_ttl_seconds, 3600);
    assert_string_equal(cfg.cache_key_prefix, "product:");
    assert_string_equal(cfg.cors_origins, "*");
    assert_int_equal(cfg.cache_bypass, 0);
    assert_true(cfg.workers >= 1);
    assert_string_equal(cfg.redis_host, "127.0.0.1");
    assert_int_equal(cfg.redis_port, 6380);
}

static void test_env_then_flags(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    const char *env[] = {"PORT", "9000", "CACHE_TTL_SECONDS", "60", "CACHE_BYPASS", "yes", NULL};
    char *argv[] = {"cacheme", "serve", "--port", "9100", "--cache-key-prefix=p:"};
    assert_int_equal(load(&cfg, env, 5, argv, err), 0);
    assert_int_equal(cfg.port, 9100); /* The flag wins over the environment. */
    assert_int_equal(cfg.cache_ttl_seconds, 60);
    assert_int_equal(cfg.cache_bypass, 1);
    assert_string_equal(cfg.cache_key_prefix, "p:");
}

static void test_bad_values_name_the_setting(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    char *argv[] = {"cacheme"};
    const char *env1[] = {"PORT", "abc", NULL};
    assert_int_equal(load(&cfg, env1, 1, argv, err), -1);
    assert_non_null(strstr(err, "PORT"));
    const char *env2[] = {"PORT", "70000", NULL};
    assert_int_equal(load(&cfg, env2, 1, argv, err), -1);
    assert_non_null(strstr(err, "out of range"));
    const char *env3[] = {"LOG_LEVEL", "loud", NULL};
    assert_int_equal(load(&cfg, env3, 1, argv, err), -1);
    assert_non_null(strstr(err, "LOG_LEVEL"));
    const char *env4[] = {"CACHE_BYPASS", "maybe", NULL};
    assert_int_equal(load(&cfg, env4, 1, argv, err), -1);
    assert_non_null(strstr(err, "CACHE_BYPASS"));
    const char *env5[] = {"CACHE_KEY_PREFIX", "a b", NULL};
    assert_int_equal(load(&cfg, env5, 1, argv, err), -1);
    assert_non_null(strstr(err, "CACHE_KEY_PREFIX"));
    char *argv2[] = {"cacheme", "--port"};
    assert_int_equal(load(&cfg, NULL, 2, argv2, err), -1);
    assert_non_null(strstr(err, "missing value"));
    char *argv3[] = {"cacheme", "--nope", "1"};
    assert_int_equal(load(&cfg, NULL, 3, argv3, err), -1);
    assert_non_null(strstr(err, "--nope"));
    char *argv4[] = {"cacheme", "launch"};
    assert_int_equal(load(&cfg, NULL, 2, argv4, err), -1);
    assert_non_null(strstr(err, "launch"));
}

static void test_commands(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    char *a1[] = {"cacheme", "migrate"};
    assert_int_equal(load(&cfg, NULL, 2, a1, err), 0);
    assert_int_equal(cfg.command, CONFIG_CMD_MIGRATE);
    char *a2[] = {"cacheme", "--version"};
    assert_int_equal(load(&cfg, NULL, 2, a2, err), 0);
    assert_int_equal(cfg.command, CONFIG_CMD_VERSION);
    char *a3[] = {"cacheme", "--help"};
    assert_int_equal(load(&cfg, NULL, 2, a3, err), 0);
    assert_int_equal(cfg.command, CONFIG_CMD_HELP);
}

static void test_redis_url(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    char *argv[] = {"cacheme"};
    const char *env1[] = {"REDIS_URL", "redis://:s3cret@cache.local:7000/3", NULL};
    assert_int_equal(load(&cfg, env1, 1, argv, err), 0);
    assert_string_equal(cfg.redis_host, "cache.local");
    assert_int_equal(cfg.redis_port, 7000);
    assert_string_equal(cfg.redis_password, "s3cret");
    assert_int_equal(cfg.redis_db, 3);
    const char *env2[] = {"REDIS_URL", "redis://localhost", NULL};
    assert_int_equal(load(&cfg, env2, 1, argv, err), 0);
    assert_int_equal(cfg.redis_port, 6379);
    assert_int_equal(cfg.redis_db, 0);
    const char *bad[] = {"http://x", "redis://", "redis://h:0", "redis://h:12x", "redis://h/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *env[] = {"REDIS_URL", bad[i], NULL};
        assert_int_equal(load(&cfg, env, 1, argv, err), -1);
        assert_non_null(strstr(err, "REDIS_URL"));
    }
}

static void test_redis_sentinels(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    char *argv[] = {"cacheme"};
    assert_int_equal(load(&cfg, NULL, 1, argv, err), 0);
    assert_int_equal(cfg.redis_sentinel_count, 0);
    const char *env1[] = {"REDIS_SENTINELS",
                          " 10.0.0.1:26379, s2.local:26380 ,[::1]:26381",
                          "REDIS_SENTINEL_MASTER",
                          "mymaster",
                          "REDIS_URL",
                          "redis://:pw@ignored:1/2",
                          NULL};
    assert_int_equal(load(&cfg, env1, 1, argv, err), 0);
    assert_int_equal(cfg.redis_sentinel_count, 3);
    assert_string_equal(cfg.redis_sentinel_addrs[0].host, "10.0.0.1");
    assert_int_equal(cfg.redis_sentinel_addrs[0].port, 26379);
    assert_string_equal(cfg.redis_sentinel_addrs[1].host, "s2.local");
    assert_int_equal(cfg.redis_sentinel_addrs[1].port, 26380);
    assert_string_equal(cfg.redis_sentinel_addrs[2].host, "::1");
    assert_int_equal(cfg.redis_sentinel_addrs[2].port, 26381);
    assert_string_equal(cfg.redis_sentinel_master, "mymaster");
    /* REDIS_URL still gives the password and the database. */
    assert_string_equal(cfg.redis_password, "pw");
    assert_int_equal(cfg.redis_db, 2);

    const char *bad[] = {"h",    "h:",       ":1",    "h:0",       "h:65536", "h:12x",
                         "h:1,", "h:1,,h:2", "a b:1", "::1:26379", "[::1]",   "[::1]:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *env[] = {"REDIS_SENTINELS", bad[i], "REDIS_SENTINEL_MASTER", "m", NULL};
        assert_int_equal(load(&cfg, env, 1, argv, err), -1);
        assert_non_null(strstr(err, "REDIS_SENTINELS"));
    }
    const char *no_name[] = {"REDIS_SENTINELS", "h:1", NULL};
    assert_int_equal(load(&cfg, no_name, 1, argv, err), -1);
    assert_non_null(strstr(err, "REDIS_SENTINEL_MASTER"));
    const char *no_list[] = {"REDIS_SENTINEL_MASTER", "m", NULL};
    assert_int_equal(load(&cfg, no_list, 1, argv, err), -1);
    assert_non_null(strstr(err, "REDIS_SENTINELS is empty"));
    const char *spaced[] = {"REDIS_SENTINELS", "h:1", "REDIS_SENTINEL_MASTER", "my master", NULL};
    assert_int_equal(load(&cfg, spaced, 1, argv, err), -1);
    assert_non_null(strstr(err, "REDIS_SENTINEL_MASTER"));
}

/* CACHE_WARM: none, all, top:N with N in 1..100, nothing else; CACHE_WARM_RATE 1..100000. */
static void test_cache_warm(void **state)
{
    (void)state;
    config_t cfg;
    char err[256];
    char *argv[] = {"cacheme"};
    assert_int_equal(load(&cfg, NULL, 1, argv, err), 0);
    assert_int_equal(cfg.warm_kind, CONFIG_WARM_NONE);
    assert_int_equal(cfg.cache_warm_rate, 500);
    const char *all[] = {"CACHE_WARM", "all", "CACHE_WARM_RATE", "1", NULL};
    assert_int_equal(load(&cfg, all, 1, argv, err), 0);
    assert_int_equal(cfg.warm_kind, CONFIG_WARM_ALL);
    assert_int_equal(cfg.cache_warm_rate, 1);
    const char *top[] = {"CACHE_WARM", "top:100", NULL};
    assert_int_equal(load(&cfg, top, 1, argv, err), 0);
    assert_int_equal(cfg.warm_kind, CONFIG_WARM_TOP);
    assert_int_equal(cfg.warm_top, 100);
    static const char *const bad[] = {"",       "ALL",    "top",    "top:",   "top:0", "top:101",
                                      "top:07", "top:+5", "top:-1", "top:5x", " all",  "top:1000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *env[] = {"CACHE_WARM", bad[i], NULL};
        assert_int_equal(load(&cfg, env, 1, argv, err), -1);
        assert_non_null(strstr(err, "CACHE_WARM"));
    }
    int kind, n;
    assert_int_equal(config_warm_parse("top:5\0", 6, &kind, &n), -1); /* By length: NUL counts. */
    assert_int_equal(config_warm_parse("top:5", 5, &kind, &n), 0);
    assert_int_equal(n, 5);
    const char *rate0[] = {"CACHE_WARM_RATE", "0", NULL};
    assert_int_equal(load(&cfg, rate0, 1, argv, err), -1);
    assert_non_null(strstr(err, "CACHE_WARM_RATE"));
    const char *rate_big[] = {"CACHE_WARM_RATE", "100001", NULL};
    assert_int_equal(load(&cfg, rate_big, 1, argv, err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_env_then_flags),
        cmocka_unit_test(test_bad_values_name_the_setting),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_redis_url),
        cmocka_unit_test(test_redis_sentinels),
        cmocka_unit_test(test_cache_warm),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
