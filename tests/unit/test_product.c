/*
 * Unit tests of product: JSON building (escaping, NULLs, exact prices) and the cache-hit splice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "model/product.h"

static const product_t sample = {
    .id = 1,
    .name = "MacBook Pro 16\"",
    .description = "Line\nbreak, tab\t, backslash \\ and caf\xc3\xa9",
    .price = "2499.99",
    .category = "Laptops",
    .created_at = "2024-01-02T03:04:05.000006Z",
    .updated_at = "2024-01-02T03:04:05.000006Z",
};

static void test_json_round_trip(void **state)
{
    (void)state;
    char *text;
    size_t len;
    assert_int_equal(product_to_json(&sample, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "name")), sample.name);
    assert_string_equal(json_string_value(json_object_get(o, "description")), sample.description);
    assert_string_equal(json_string_value(json_object_get(o, "category")), "Laptops");
    /* The price is written exactly as PostgreSQL stores it, not 2499.9899999999998. */
    assert_non_null(strstr(text, "\"price\":2499.99,"));
    json_decref(o);
    free(text);
}

static void test_json_nulls_and_prices(void **state)
{
    (void)state;
    product_t p = sample;
    p.description = NULL;
    p.category = NULL;
    const char *prices[] = {"0.01", "349.99", "99999999.99", "10.00"};
    const char *expect[] = {"\"price\":0.01,", "\"price\":349.99,", "\"price\":99999999.99,",
                            "\"price\":10.0,"};
    for (size_t i = 0; i < 4; i++) {
        p.price = prices[i];
        char *text;
        size_t len;
        assert_int_equal(product_to_json(&p, &text, &len), 0);
        assert_non_null(strstr(text, "\"description\":null"));
        assert_non_null(strstr(text, "\"category\":null"));
        assert_non_null(strstr(text, expect[i]));
        free(text);
    }
    p.price = "not a number";
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(product_to_json(&p, &text, &len), -1);
    assert_null(text);
}

static char *drain(struct evbuffer *buf)
{
    size_t n = evbuffer_get_length(buf);
    char *s = malloc(n + 1);
    evbuffer_remove(buf, s, n);
    s[n] = '\0';
    return s;
}

static void test_splice(void **state)
{
    (void)state;
    struct evbuffer *buf = evbuffer_new();
    const char *stored = "{\"id\":7,\"name\":\"x\"}\n";
    assert_int_equal(product_splice(buf, stored, strlen(stored), "cache", 0.12345), 0);
    char *s = drain(buf);
    assert_string_equal(s,
                        "{\"id\":7,\"name\":\"x\",\"source\":\"cache\",\"fetch_time_ms\":0.123}");
    json_error_t jerr;
    json_t *o = json_loads(s, 0, &jerr);
    assert_non_null(o); /* The result is valid JSON. */
    json_decref(o);
    free(s);

    const char *bad[] = {"", "{}", "[1,2]", "{\"a\":1", "null", "\"}\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(product_splice(buf, bad[i], strlen(bad[i]), "cache", 1.0), -1);
        assert_int_equal(evbuffer_get_length(buf), 0);
    }
    evbuffer_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_nulls_and_prices),
        cmocka_unit_test(test_splice),
    };
    return cmocka_run_group_tests_name("product", tests, NULL, NULL);
}
