/*
 * Unit tests of keydist: the range and frequencies of uniform and Zipf ids against their exact
 * probabilities, the hot key, reproducibility from a seed, and argument checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "keydist.h"

#define SAMPLES 400000

/*
 * Draws SAMPLES ids and checks each id's frequency against p[k] within 5 standard deviations of a
 * binomial count (plus a little), so the test fails for a wrong distribution and never by chance.
 */
static void check_frequencies(keydist_t *kd, uint32_t n, const double *p)
{
    uint64_t *count = calloc(n + 1, sizeof *count);
    assert_non_null(count);
    for (int i = 0; i < SAMPLES; i++) {
        uint32_t id = keydist_next(kd);
        assert_true(id >= 1 && id <= n);
        count[id]++;
    }
    for (uint32_t k = 1; k <= n; k++) {
        double want = p[k] * SAMPLES;
        double sigma = sqrt(SAMPLES * p[k] * (1 - p[k]));
        if (fabs((double)count[k] - want) > 5 * sigma + 2)
            fail_msg("id %u: %llu draws, expected %.0f +- %.0f", k, (unsigned long long)count[k],
                     want, 5 * sigma);
    }
    free(count);
}

static void zipf_probabilities(uint32_t n, double s, double *p)
{
    double total = 0;
    for (uint32_t k = 1; k <= n; k++)
        total += pow(k, -s);
    for (uint32_t k = 1; k <= n; k++)
        p[k] = pow(k, -s) / total;
}

static void test_uniform(void **state)
{
    (void)state;
    keydist_t *kd;
    assert_int_equal(keydist_new(KEYDIST_UNIFORM, 15, 0, 0, 42, &kd), 0);
    double p[16];
    for (int k = 1; k <= 15; k++)
        p[k] = 1.0 / 15;
    check_frequencies(kd, 15, p);
    keydist_free(kd);
    /* One key: always 1. */
    assert_int_equal(keydist_new(KEYDIST_UNIFORM, 1, 0, 0, 42, &kd), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(keydist_next(kd), 1);
    keydist_free(kd);
}

static void test_zipf_matches_its_probabilities(void **state)
{
    (void)state;
    const double exponents[] = {0.5, 1.0, 1.1, 2.0, 3.5};
    for (size_t i = 0; i < sizeof exponents / sizeof exponents[0]; i++) {
        double p[16];
        zipf_probabilities(15, exponents[i], p);
        keydist_t *kd;
        assert_int_equal(keydist_new(KEYDIST_ZIPF, 15, exponents[i], 0, 7 + i, &kd), 0);
        check_frequencies(kd, 15, p);
        keydist_free(kd);
    }
}

/* A million keys: no table, ids stay in range, and the head of the distribution is right. */
static void test_zipf_many_keys(void **state)
{
    (void)state;
    const uint32_t n = 1000000;
    const double s = 1.1;
    keydist_t *kd;
    assert_int_equal(keydist_new(KEYDIST_ZIPF, n, s, 0, 3, &kd), 0);
    double total = 0;
    for (uint32_t k = 1; k <= n; k++)
        total += pow(k, -s);
    uint64_t ones = 0, twos = 0;
    for (int i = 0; i < SAMPLES; i++) {
        uint32_t id = keydist_next(kd);
        assert_true(id >= 1 && id <= n);
        ones += id == 1;
        twos += id == 2;
    }
    double p1 = 1.0 / total, p2 = pow(2, -s) / total;
    assert_true(fabs((double)ones - p1 * SAMPLES) < 5 * sqrt(SAMPLES * p1) + 2);
    assert_true(fabs((double)twos - p2 * SAMPLES) < 5 * sqrt(SAMPLES * p2) + 2);
    keydist_free(kd);
}

static void test_hot_key(void **state)
{
    (void)state;
    keydist_t *kd;
    assert_int_equal(keydist_new(KEYDIST_HOT, 15, 0, 99, 1, &kd), 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(keydist_next(kd), 99);
    keydist_free(kd);
}

static void test_seed_reproducible(void **state)
{
    (void)state;
    keydist_t *a, *b, *c;
    assert_int_equal(keydist_new(KEYDIST_ZIPF, 1000, 1.1, 0, 5, &a), 0);
    assert_int_equal(keydist_new(KEYDIST_ZIPF, 1000, 1.1, 0, 5, &b), 0);
    assert_int_equal(keydist_new(KEYDIST_ZIPF, 1000, 1.1, 0, 6, &c), 0);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = keydist_next(a);
        assert_int_equal(x, keydist_next(b));
        differ += x != keydist_next(c);
        double u = keydist_uniform(a);
        assert_true(u >= 0 && u < 1);
        assert_true(u == keydist_uniform(b));
        (void)keydist_uniform(c);
    }
    assert_true(differ > 100);
    keydist_free(a);
    keydist_free(b);
    keydist_free(c);
}

static void test_arguments_and_names(void **state)
{
    (void)state;
    keydist_t *kd = (keydist_t *)1;
    assert_int_equal(keydist_new(KEYDIST_UNIFORM, 0, 0, 0, 1, &kd), -1);
    assert_null(kd);
    assert_int_equal(keydist_new(KEYDIST_ZIPF, 10, 0, 0, 1, &kd), -1);
    assert_int_equal(keydist_new(KEYDIST_ZIPF, 10, -1, 0, 1, &kd), -1);
    assert_int_equal(keydist_new(KEYDIST_ZIPF, 10, KEYDIST_MAX_S + 1, 0, 1, &kd), -1);
    assert_int_equal(keydist_new(KEYDIST_ZIPF, 10, NAN, 0, 1, &kd), -1);
    assert_int_equal(keydist_new(KEYDIST_HOT, 10, 0, 0, 1, &kd), -1);
    keydist_kind_t k;
    assert_int_equal(keydist_parse("zipf", &k), 0);
    assert_int_equal(k, KEYDIST_ZIPF);
    assert_int_equal(keydist_parse("hot", &k), 0);
    assert_int_equal(k, KEYDIST_HOT);
    assert_int_equal(keydist_parse("uniform", &k), 0);
    assert_int_equal(k, KEYDIST_UNIFORM);
    assert_int_equal(keydist_parse("Zipf", &k), -1);
    assert_int_equal(keydist_parse("", &k), -1);
    assert_string_equal(keydist_name(KEYDIST_ZIPF), "zipf");
    keydist_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_zipf_matches_its_probabilities),
        cmocka_unit_test(test_zipf_many_keys),
        cmocka_unit_test(test_hot_key),
        cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_arguments_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
