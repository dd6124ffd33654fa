/*
 * Unit tests of product_input: the validation of write bodies and its FastAPI-shaped errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/product_input.h"

/* Parses body; on failure returns the first error's type (static storage), else NULL. */
static const char *first_error(const char *body, product_input_mode_t mode, const char **field)
{
    static char type[64], loc[64];
    product_input_t in;
    json_t *errors = NULL;
    if (product_input_parse(body, strlen(body), mode, &in, &errors) == 0) {
        product_input_clear(&in);
        return NULL;
    }
    json_t *e = json_array_get(errors, 0);
    snprintf(type, sizeof type, "%s", json_string_value(json_object_get(e, "type")));
    json_t *l = json_array_get(json_object_get(e, "loc"), 1);
    snprintf(loc, sizeof loc, "%s", l ? json_string_value(l) : "");
    if (field)
        *field = loc;
    json_decref(errors);
    return type;
}

static void test_valid_create(void **state)
{
    (void)state;
    const char *body = "{\"name\":\"Caf\xc3\xa9\",\"price\":12.5,\"category\":\"Audio\"}";
    product_input_t in;
    json_t *errors;
    assert_int_equal(product_input_parse(body, strlen(body), PRODUCT_INPUT_CREATE, &in, &errors),
                     0);
    assert_null(errors);
    assert_string_equal(in.name, "Caf\xc3\xa9");
    assert_string_equal(in.price, "12.50");
    assert_string_equal(in.category, "Audio");
    assert_null(in.description); /* Omitted in a whole-object write: null. */
    assert_int_equal(in.fields, PRODUCT_FIELD_NAME | PRODUCT_FIELD_PRICE |
                                    PRODUCT_FIELD_DESCRIPTION | PRODUCT_FIELD_CATEGORY);
    product_input_clear(&in);
}

static void test_patch_sets_only_given_fields(void **state)
{
    (void)state;
    const char *body = "{\"description\":null}";
    product_input_t in;
    json_t *errors;
    assert_int_equal(product_input_parse(body, strlen(body), PRODUCT_INPUT_PATCH, &in, &errors), 0);
    assert_int_equal(in.fields, PRODUCT_FIELD_DESCRIPTION);
    assert_null(in.description);
    product_input_clear(&in);
    const char *field;
    assert_string_equal(first_error("{}", PRODUCT_INPUT_PATCH, &field), "missing");
}

static void test_errors(void **state)
{
    (void)state;
    const char *field = NULL;
    assert_string_equal(first_error("{\"price\":1}", PRODUCT_INPUT_CREATE, &field), "missing");
    assert_string_equal(field, "name");
    assert_string_equal(first_error("{\"name\":\"a\"}", PRODUCT_INPUT_REPLACE, &field), "missing");
    assert_string_equal(field, "price");
    assert_string_equal(first_error("{\"name\":\"\",\"price\":1}", PRODUCT_INPUT_CREATE, &field),
                        "string_too_short");
    assert_string_equal(first_error("{\"name\":5,\"price\":1}", PRODUCT_INPUT_CREATE, &field),
                        "string_type");
    assert_string_equal(first_error("{\"name\":\"a\",\"price\":-1}", PRODUCT_INPUT_CREATE, &field),
                        "greater_than_equal");
    assert_string_equal(
        first_error("{\"name\":\"a\",\"price\":1.234}", PRODUCT_INPUT_CREATE, &field),
        "decimal_max_places");
    const char *three_places[] = {"12345.678", "5000.001", "9999999.991", "1234567.891"};
    for (size_t i = 0; i < 4; i++) {
        char body[96];
        snprintf(body, sizeof body, "{\"name\":\"a\",\"price\":%s}", three_places[i]);
        assert_string_equal(first_error(body, PRODUCT_INPUT_CREATE, &field), "decimal_max_places");
    }
    assert_null(
        first_error("{\"name\":\"a\",\"price\":99999999.99}", PRODUCT_INPUT_CREATE, &field));
    assert_null(first_error("{\"name\":\"a\",\"price\":39.9}", PRODUCT_INPUT_CREATE, &field));
    assert_string_equal(
        first_error("{\"name\":\"a\",\"price\":\"1\"}", PRODUCT_INPUT_CREATE, &field),
        "decimal_type");
    assert_string_equal(
        first_error("{\"name\":\"a\",\"price\":100000000}", PRODUCT_INPUT_CREATE, &field),
        "less_than_equal");
    assert_string_equal(first_error("{\"name\":\"a\",\"price\":1,\"colour\":\"red\"}",
                                    PRODUCT_INPUT_CREATE, &field),
                        "extra_forbidden");
    assert_string_equal(field, "colour");
    assert_string_equal(
        first_error("{\"name\":\"a\\u0000b\",\"price\":1}", PRODUCT_INPUT_CREATE, &field),
        "json_invalid");
    assert_string_equal(first_error("not json", PRODUCT_INPUT_CREATE, &field), "json_invalid");
    assert_string_equal(first_error("[1]", PRODUCT_INPUT_CREATE, &field), "model_attributes_type");
    assert_string_equal(
        first_error("{\"name\":\"a\",\"name\":\"b\",\"price\":1}", PRODUCT_INPUT_CREATE, &field),
        "json_invalid");
}

static void test_lengths_count_characters(void **state)
{
    (void)state;
    /* 255 two-byte characters are fine (510 bytes); 256 are not. */
    char body[1200];
    size_t o = (size_t)snprintf(body, sizeof body, "{\"price\":1,\"name\":\"");
    for (int i = 0; i < 255; i++) {
        body[o++] = (char)0xc3;
        body[o++] = (char)0xa9;
    }
    snprintf(body + o, sizeof body - o, "\"}");
    assert_null(first_error(body, PRODUCT_INPUT_CREATE, NULL));
    body[o++] = (char)0xc3;
    body[o++] = (char)0xa9;
    snprintf(body + o, sizeof body - o, "\"}");
    const char *field;
    assert_string_equal(first_error(body, PRODUCT_INPUT_CREATE, &field), "string_too_long");
}

static void test_all_errors_are_reported(void **state)
{
    (void)state;
    const char *body = "{\"name\":\"\",\"price\":-3,\"x\":1}";
    product_input_t in;
    json_t *errors;
    assert_int_equal(product_input_parse(body, strlen(body), PRODUCT_INPUT_CREATE, &in, &errors),
                     -1);
    assert_int_equal(json_array_size(errors), 3);
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_create),
        cmocka_unit_test(test_patch_sets_only_given_fields),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_lengths_count_characters),
        cmocka_unit_test(test_all_errors_are_reported),
    };
    return cmocka_run_group_tests_name("product_input", tests, NULL, NULL);
}
