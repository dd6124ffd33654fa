/*
 * Unit tests of near_map: the byte bound, expiry, replacement and removal, LRU's order, and what
 * makes S3-FIFO different (entries used once leave first; a ghost coming back goes to the main
 * queue; a hit touches no list).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cache/near_map.h"

#define VAL "{\"id\":1}"
#define VLEN (sizeof VAL - 1)

static int has(near_map_t *m, int32_t id)
{
    const char *v;
    size_t len;
    return near_map_get(m, id, 0, &v, &len);
}

static void put(near_map_t *m, int32_t id)
{
    assert_int_equal(near_map_put(m, id, VAL, VLEN, 1000), 0);
}

static void test_get_put_replace_remove(void **state)
{
    (void)state;
    near_map_t *m = NULL;
    assert_int_equal(near_map_new(NEAR_MAP_S3FIFO, 10 * near_map_charge(VLEN), &m), 0);
    const char *v;
    size_t len;
    assert_int_equal(near_map_get(m, 7, 0, &v, &len), 0);
    assert_int_equal(near_map_put(m, 7, "abc", 3, 100), 0);
    assert_int_equal(near_map_get(m, 7, 0, &v, &len), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "abc", 3);
    assert_int_equal(v[3], '\0');
    /* A value with a NUL inside is kept by length. */
    assert_int_equal(near_map_put(m, 7, "a\0b", 3, 100), 0);
    assert_int_equal(near_map_get(m, 7, 0, &v, &len), 1);
    assert_memory_equal(v, "a\0b", 3);
    near_map_stats_t s;
    near_map_stats(m, &s);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.bytes, near_map_charge(3));
    assert_int_equal(near_map_remove(m, 7), 1);
    assert_int_equal(near_map_remove(m, 7), 0);
    near_map_stats(m, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    near_map_free(m);
}

static void test_expiry(void **state)
{
    (void)state;
    near_map_t *m = NULL;
    assert_int_equal(near_map_new(NEAR_MAP_S3FIFO, 4096, &m), 0);
    assert_int_equal(near_map_put(m, -5, VAL, VLEN, 500), 0);
    const char *v;
    size_t len;
    assert_int_equal(near_map_get(m, -5, 499, &v, &len), 1);
    assert_int_equal(near_map_get(m, -5, 500, &v, &len), 0); /* Expired: gone for good. */
    assert_int_equal(near_map_get(m, -5, 0, &v, &len), 0);
    near_map_stats_t s;
    near_map_stats(m, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.evictions, 0); /* An expiry is not an eviction. */
    near_map_free(m);
}

static void test_too_large_and_clear(void **state)
{
    (void)state;
    near_map_t *m = NULL;
    assert_int_equal(near_map_new(NEAR_MAP_LRU, near_map_charge(VLEN), &m), 0);
    put(m, 1);
    char big[64] = {0};
    assert_int_equal(near_map_put(m, 1, big, sizeof big, 1000), -1);
    assert_int_equal(has(m, 1), 0); /* The older value of the id is gone too. */
    put(m, 2);
    near_map_clear(m);
    assert_int_equal(has(m, 2), 0);
    near_map_free(m);
}

static void test_lru_order(void **state)
{
    (void)state;
    near_map_t *m = NULL;
    assert_int_equal(near_map_new(NEAR_MAP_LRU, 3 * near_map_charge(VLEN), &m), 0);
    put(m, 1);
    put(m, 2);
    put(m, 3);
    assert_int_equal(has(m, 1), 1); /* 2 is now the least recently used. */
    put(m, 4);
    assert_int_equal(has(m, 2), 0);
    assert_int_equal(has(m, 1), 1);
    assert_int_equal(has(m, 3), 1);
    assert_int_equal(has(m, 4), 1);
    near_map_stats_t s;
    near_map_stats(m, &s);
    assert_int_equal(s.evictions, 1);
    near_map_free(m);
}

static void test_s3fifo_scan_resistance(void **state)
{
    (void)state;
    near_map_t *m = NULL;
    assert_int_equal(near_map_new(NEAR_MAP_S3FIFO, 20 * near_map_charge(VLEN), &m), 0);
    /* Ten hot ids, each read again after insertion: they reach the main queue. */
    for (int32_t id = 1; id <= 10; id++)
        put(m, id);
    for (int32_t id = 1; id <= 10; id++)
        assert_int_equal(has(m, id), 1);
    /* A scan of 1,000 ids read once each. */
    for (int32_t id = 1000; id < 2000; id++)
        put(m, id);
    for (int32_t id = 1; id <= 10; id++)
        assert_true(has(m, id));
    near_map_stats_t s;
    near_map_stats(m, &s);
    assert_true(s.bytes <= 20 * near_map_charge(VLEN));
    near_map_free(m);

    /* The same with LRU: the scan pushes every hot id out. */
    assert_int_equal(near_map_new(NEAR_MAP_LRU, 20 * near_map_charge(VLEN), &m), 0);
    for (int32_t id = 1; id <= 10; id++)
        put(m, id);
    for (int32_t id = 1; id <= 10; id++)
        assert_int_equal(has(m, id), 1);
    for (int32_t id = 1000; id < 2000; id++)
        put(m, id);
    for (int32_t id = 1; id <= 10; id++)
        assert_false(has(m, id));
    near_map_free(m);
}

static void test_s3fifo_ghost_readmission(void **state)
{
    (void)state;
    near_map_t *m = NULL;
    /* Room for 20: the small queue holds 2 before it gives entries up. */
    assert_int_equal(near_map_new(NEAR_MAP_S3FIFO, 20 * near_map_charge(VLEN), &m), 0);
    put(m, 1);
    for (int32_t id = 100; id < 140; id++)
        put(m, id); /* 1 leaves the small queue unused: a ghost. */
    assert_int_equal(has(m, 1), 0);
    put(m, 1); /* Back from the ghosts: straight to the main queue. */
    for (int32_t id = 200; id < 205; id++)
        put(m, id); /* A few more one-hit entries pass through the small queue only. */
    assert_int_equal(has(m, 1), 1);
    near_map_free(m);
}

/* Random operations never break the byte bound, and the figures add up. */
static void test_bound_under_random_load(void **state)
{
    (void)state;
    for (int policy = NEAR_MAP_LRU; policy <= NEAR_MAP_S3FIFO; policy++) {
        near_map_t *m = NULL;
        size_t max = 50 * near_map_charge(100);
        assert_int_equal(near_map_new((near_map_policy_t)policy, max, &m), 0);
        char buf[300];
        memset(buf, 'x', sizeof buf);
        uint32_t r = 12345;
        for (int i = 0; i < 100000; i++) {
            r = r * 1103515245u + 12345u;
            int32_t id = (int32_t)((r >> 8) % 500);
            size_t len = (r >> 4) % sizeof buf;
            switch ((r >> 20) % 4) {
            case 0:
            case 1: {
                const char *v;
                size_t l;
                if (near_map_get(m, id, i, &v, &l))
                    assert_true(l < sizeof buf);
                break;
            }
            case 2:
                assert_int_equal(near_map_put(m, id, buf, len, i + 1000), 0);
                break;
            default:
                near_map_remove(m, id);
            }
            near_map_stats_t s;
            near_map_stats(m, &s);
            assert_true(s.bytes <= max);
        }
        near_map_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_put_replace_remove),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_too_large_and_clear),
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_s3fifo_scan_resistance),
        cmocka_unit_test(test_s3fifo_ghost_readmission),
        cmocka_unit_test(test_bound_under_random_load),
    };
    return cmocka_run_group_tests_name("near_map", tests, NULL, NULL);
}
