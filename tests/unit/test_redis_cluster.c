/*
 * Unit tests of redis_cluster's key slots: CRC16 (XMODEM) modulo 16384 of the key, or of its hash
 * tag (the first non-empty {...}), as Redis Cluster computes them (the expected values are Redis'
 * CLUSTER KEYSLOT answers; tests/integration/cluster.test.mjs checks the same function against a
 * real cluster).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/redis_cluster.h"

static int slot(const char *key)
{
    return redis_cluster_key_slot(key, strlen(key));
}

static void test_plain_keys(void **state)
{
    (void)state;
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("123456789"), 12739); /* CRC16/XMODEM's check value 0x31C3. */
    assert_int_equal(slot("product:7"), 8390);
    assert_int_equal(slot("product:"), 12736);
}

static void test_hash_tags(void **state)
{
    (void)state;
    /* A product's companions hash as the product key itself. */
    assert_int_equal(slot("{product:7}:gen"), slot("product:7"));
    assert_int_equal(slot("{product:7}:lock"), 8390);
    assert_int_equal(slot("{user1000}.following"), 3443);
    /* No tag: an empty {}, or a { never closed, hash the whole key. */
    assert_int_equal(slot("{}product:7"), 5786);
    assert_int_equal(slot("{product:7"), 1219);
    assert_int_equal(slot("a{}{b}"), 15033);
}

static void test_lengths_not_strings(void **state)
{
    (void)state;
    /* Keys are bytes: a NUL inside counts, and nothing past the length is read. */
    assert_int_equal(redis_cluster_key_slot("product:7XYZ", 9), 8390);
    assert_int_not_equal(redis_cluster_key_slot("a\0b", 3), redis_cluster_key_slot("a", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_keys),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_lengths_not_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
