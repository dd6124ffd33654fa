/*
 * Unit tests of breaker: closed → open after the threshold → half-open trial → closed or open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store/breaker.h"

static void test_opens_after_threshold(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, 3, 1000);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(breaker_allow(&b, 0), 1);
        breaker_failure(&b, 0);
    }
    assert_int_equal(b.state, BREAKER_CLOSED);
    breaker_success(&b); /* A success in between starts the count again. */
    for (int i = 0; i < 3; i++)
        breaker_failure(&b, 10);
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_int_equal(b.opened, 1);
    assert_int_equal(breaker_allow(&b, 500), 0);
    assert_string_equal(breaker_state_name(b.state), "open");
}

static void test_half_open_trial(void **state)
{
    (void)state;
    breaker_t b;
    breaker_init(&b, 1, 1000);
    breaker_failure(&b, 0);
    assert_int_equal(breaker_allow(&b, 999), 0);
    assert_int_equal(breaker_allow(&b, 1000), 1); /* The trial. */
    assert_int_equal(b.state, BREAKER_HALF_OPEN);
    assert_int_equal(breaker_allow(&b, 1001), 0); /* Only one trial at a time. */
    breaker_failure(&b, 1002);
    assert_int_equal(b.state, BREAKER_OPEN);
    assert_int_equal(breaker_allow(&b, 1500), 0);
    assert_int_equal(breaker_allow(&b, 2002), 1);
    breaker_success(&b);
    assert_int_equal(b.state, BREAKER_CLOSED);
    assert_int_equal(breaker_allow(&b, 2003), 1);
    assert_int_equal(b.opened, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_threshold),
        cmocka_unit_test(test_half_open_trial),
    };
    return cmocka_run_group_tests_name("breaker", tests, NULL, NULL);
}
