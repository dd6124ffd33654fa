/*
 * Unit tests of loadgen_options: defaults, every option, the bounds that always apply, URLs, the
 * messages of bad values, and the loopback check of the target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "loadgen_options.h"

/* Parses a NULL-terminated argument list after "bench". */
static int parse_list(loadgen_options_t *o, char *err, const char *const *args)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"bench";
    for (; *args != NULL && argc < 63; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    return loadgen_options_parse(argc, argv, o, err, 256);
}

#define parse(o, err, ...) parse_list(o, err, (const char *const[]){__VA_ARGS__})

static void test_defaults(void **state)
{
    (void)state;
    loadgen_options_t o;
    char err[256];
    assert_int_equal(parse(&o, err, NULL), 0);
    assert_string_equal(o.url, "http://127.0.0.1:8000");
    assert_string_equal(o.host, "127.0.0.1");
    assert_string_equal(o.port, "8000");
    assert_string_equal(o.base_path, "");
    assert_int_equal(o.connections, 16);
    assert_true(o.duration_s == LOADGEN_DEFAULT_DURATION_S); /* A bound always applies. */
    assert_int_equal(o.requests, 0);
    assert_int_equal(o.keys, 15);
    assert_int_equal(o.dist, KEYDIST_UNIFORM);
    assert_true(o.zipf_s == 1.1);
    assert_int_equal(o.hot_key, 1);
    assert_true(o.write_ratio == 0);
    assert_int_equal(o.clear, 0);
    assert_int_equal(o.json, 0);
    assert_null(o.html);
    assert_int_equal(o.allow_remote, 0);
}

static void test_every_option(void **state)
{
    (void)state;
    loadgen_options_t o;
    char err[256];
    int rc =
        parse(&o, err, "--url", "http://localhost:8123/api/", "-c", "64", "-d", "500ms", "-n",
              "1000", "--keys", "1000", "--dist", "zipf", "--zipf-s", "0.9", "--write-ratio",
              "0.25", "--clear", "--warmup", "2s", "--timeout", "1.5", "--seed", "99", "--json",
              "--html", "r.html", "--svg", "r.svg", "--allow-remote", "--progress", NULL);
    if (rc != 0)
        fail_msg("%s", err);
    assert_string_equal(o.host, "localhost");
    assert_string_equal(o.port, "8123");
    assert_string_equal(o.base_path, "/api");
    assert_int_equal(o.connections, 64);
    assert_true(o.duration_s == 0.5);
    assert_int_equal(o.requests, 1000);
    assert_int_equal(o.keys, 1000);
    assert_int_equal(o.dist, KEYDIST_ZIPF);
    assert_true(o.zipf_s == 0.9);
    assert_true(o.write_ratio == 0.25);
    assert_int_equal(o.clear, 1);
    assert_true(o.warmup_s == 2);
    assert_true(o.timeout_s == 1.5);
    assert_int_equal(o.seed, 99);
    assert_int_equal(o.json, 1);
    assert_string_equal(o.html, "r.html");
    assert_string_equal(o.svg, "r.svg");
    assert_int_equal(o.allow_remote, 1);
    assert_int_equal(o.progress, 1);

    /* -n alone: no duration of its own (the hard cap applies at run time). */
    assert_int_equal(parse(&o, err, "-n", "5", "--duration=2m", NULL), 0);
    assert_true(o.duration_s == 120);
    assert_int_equal(parse(&o, err, "-n", "5", NULL), 0);
    assert_true(o.duration_s == 0);
    /* --hot-key alone implies --dist hot; --quiet wins over --progress. */
    assert_int_equal(parse(&o, err, "--hot-key", "7", "--progress", "-q", NULL), 0);
    assert_int_equal(o.dist, KEYDIST_HOT);
    assert_int_equal(o.hot_key, 7);
    assert_int_equal(o.progress, 0);
    assert_int_equal(parse(&o, err, "--help", NULL), 0);
    assert_int_equal(o.help, 1);
}

static void test_urls(void **state)
{
    (void)state;
    loadgen_options_t o;
    char err[256];
    assert_int_equal(parse(&o, err, "--url", "http://[::1]:9000", NULL), 0);
    assert_string_equal(o.host, "::1");
    assert_string_equal(o.port, "9000");
    assert_int_equal(parse(&o, err, "--url", "http://127.0.0.1", NULL), 0);
    assert_string_equal(o.port, "80");
    const char *bad[] = {"https://127.0.0.1",   "127.0.0.1:8000",         "http://",
                         "http://127.0.0.1:0",  "http://127.0.0.1:70000", "http://[::1",
                         "http://h:8000/a?b=c", "http://u@h:8000",        "http://h:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (parse(&o, err, "--url", bad[i], NULL) != -1)
            fail_msg("accepted --url %s", bad[i]);
        assert_non_null(strstr(err, "--url"));
    }
}

static void test_bad_values_name_the_option(void **state)
{
    (void)state;
    struct {
        const char *opt, *value, *mention;
    } cases[] = {
        {"-c", "0", "--connections"},
        {"-c", "10001", "--connections"},
        {"-c", "abc", "--connections"},
        {"-d", "0", "--duration"},
        {"-d", "3601", "--duration"},
        {"-d", "2h", "--duration"},
        {"-n", "0", "--requests"},
        {"-n", "100000001", "--requests"},
        {"-n", "-5", "--requests"},
        {"--keys", "0", "--keys"},
        {"--dist", "gauss", "--dist"},
        {"--zipf-s", "0", "--zipf-s"},
        {"--zipf-s", "nan", "--zipf-s"},
        {"--hot-key", "0", "--hot-key"},
        {"--write-ratio", "1.5", "--write-ratio"},
        {"--write-ratio", "-0.1", "--write-ratio"},
        {"--warmup", "-1", "--warmup"},
        {"--timeout", "0", "--timeout"},
        {"--timeout", "61", "--timeout"},
        {"--seed", "x", "--seed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        loadgen_options_t o;
        char err[256] = "";
        if (parse(&o, err, cases[i].opt, cases[i].value, NULL) != -1)
            fail_msg("accepted %s %s", cases[i].opt, cases[i].value);
        if (strstr(err, cases[i].mention) == NULL)
            fail_msg("%s %s: message '%s' does not name %s", cases[i].opt, cases[i].value, err,
                     cases[i].mention);
    }
    loadgen_options_t o;
    char err[256];
    assert_int_equal(parse(&o, err, "--nope", NULL), -1);
    assert_int_equal(parse(&o, err, "-c", NULL), -1);
    assert_int_equal(parse(&o, err, "extra", NULL), -1);
    assert_int_equal(parse(&o, err, "--dist", "uniform", "--hot-key", "3", NULL), -1);
    assert_non_null(strstr(err, "--hot-key"));
}

static void test_loopback_check(void **state)
{
    (void)state;
    const char *allowed[] = {"http://127.0.0.1:8000", "http://127.8.9.10:1", "http://[::1]:80",
                             "http://localhost:8000", "http://[::ffff:127.0.0.1]:80"};
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        loadgen_options_t o;
        char err[256] = "";
        assert_int_equal(parse(&o, err, "--url", allowed[i], NULL), 0);
        if (loadgen_options_check_target(&o, err, sizeof err) != 0)
            fail_msg("%s refused: %s", allowed[i], err);
    }
    const char *refused[] = {"http://192.0.2.1:8000", "http://10.0.0.1", "http://[2001:db8::1]:80",
                             "http://0.0.0.0:8000", "http://[::ffff:192.0.2.1]:80"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        loadgen_options_t o;
        char err[256] = "";
        assert_int_equal(parse(&o, err, "--url", refused[i], NULL), 0);
        if (loadgen_options_check_target(&o, err, sizeof err) != -1)
            fail_msg("%s allowed", refused[i]);
        assert_non_null(strstr(err, "--allow-remote"));
        assert_int_equal(parse(&o, err, "--url", refused[i], "--allow-remote", NULL), 0);
        assert_int_equal(loadgen_options_check_target(&o, err, sizeof err), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_urls),           cmocka_unit_test(test_bad_values_name_the_option),
        cmocka_unit_test(test_loopback_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
