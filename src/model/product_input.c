/*
 * product_input — see product_input.h.
 */
#include "model/product_input.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_CHARS 255
#define CATEGORY_MAX_CHARS 100
#define DESCRIPTION_MAX_CHARS 10000
#define PRICE_MAX 99999999.99

/* Number of UTF-8 characters (jansson has already checked the encoding). */
static size_t utf8_chars(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    }
    return n;
}

static void add_error(json_t *errors, const char *type, const char *field, const char *msg,
                      json_t *input)
{
    json_t *loc = field ? json_pack("[s,s]", "body", field) : json_pack("[s]", "body");
    json_array_append_new(errors, json_pack("{s:s,s:o,s:s,s:O}", "type", type, "loc", loc, "msg",
                                            msg, "input", input ? input : json_null()));
}

/*
 * Checks a string member. nullable: null is accepted (returns 1 with *out = NULL). Returns 1 when
 * valid, 0 after adding an error.
 */
static int check_string(json_t *errors, const char *field, json_t *v, size_t min, size_t max,
                        int nullable, const char **out)
{
    char msg[96];
    if (json_is_null(v) && nullable) {
        *out = NULL;
        return 1;
    }
    if (!json_is_string(v)) {
        add_error(errors, "string_type", field, "Input should be a valid string", v);
        return 0;
    }
    const char *s = json_string_value(v);
    size_t bytes = json_string_length(v);
    size_t chars = utf8_chars(s, bytes);
    if (chars < min) {
        snprintf(msg, sizeof msg, "String should have at least %zu character%s", min,
                 min == 1 ? "" : "s");
        add_error(errors, "string_too_short", field, msg, v);
        return 0;
    }
    if (chars > max) {
        snprintf(msg, sizeof msg, "String should have at most %zu characters", max);
        add_error(errors, "string_too_long", field, msg, v);
        return 0;
    }
    *out = s;
    return 1;
}

static int check_price(json_t *errors, json_t *v, char out[32])
{
    if (!json_is_number(v) || json_is_boolean(v)) {
        add_error(errors, "decimal_type", "price", "Input should be a valid decimal", v);
        return 0;
    }
    double p = json_number_value(v);
    if (!isfinite(p)) {
        add_error(errors, "decimal_type", "price", "Input should be a finite number", v);
        return 0;
    }
    if (p < 0) {
        add_error(errors, "greater_than_equal", "price",
                  "Input should be greater than or equal to 0", v);
        return 0;
    }
    if (p > PRICE_MAX) {
        add_error(errors, "less_than_equal", "price",
                  "Input should be less than or equal to 99999999.99", v);
        return 0;
    }
    /*
     * Two decimals at most: p * 100 must be a whole number, up to double rounding. Up to
     * 99,999,999.99 the cents stay below 1e10, where a double is exact to about 2e-6, so an
     * absolute tolerance of 1e-4 cents accepts every two-decimal price and no three-decimal one.
     */
    double cents = p * 100.0;
    if (fabs(cents - round(cents)) > 1e-4) {
        add_error(errors, "decimal_max_places", "price",
                  "Decimal input should have no more than 2 decimal places", v);
        return 0;
    }
    snprintf(out, 32, "%.2f", round(cents) / 100.0);
    return 1;
}

int product_input_parse(const char *body, size_t len, product_input_mode_t mode,
                        product_input_t *in, json_t **errors)
{
    memset(in, 0, sizeof *in);
    json_t *errs = json_array();
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        char msg[200];
        snprintf(msg, sizeof msg, "JSON decode error: %s", jerr.text);
        add_error(errs, "json_invalid", NULL, msg, NULL);
        *errors = errs;
        return -1;
    }
    if (!json_is_object(doc)) {
        add_error(errs, "model_attributes_type", NULL, "Input should be a valid object", doc);
        json_decref(doc);
        *errors = errs;
        return -1;
    }

    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "description") != 0 &&
            strcmp(key, "price") != 0 && strcmp(key, "category") != 0)
            add_error(errs, "extra_forbidden", key, "Extra inputs are not permitted", v);
    }

    json_t *name = json_object_get(doc, "name");
    json_t *description = json_object_get(doc, "description");
    json_t *price = json_object_get(doc, "price");
    json_t *category = json_object_get(doc, "category");
    int whole = mode != PRODUCT_INPUT_PATCH;

    if (name != NULL) {
        if (check_string(errs, "name", name, 1, NAME_MAX_CHARS, 0, &in->name))
            in->fields |= PRODUCT_FIELD_NAME;
    } else if (whole) {
        add_error(errs, "missing", "name", "Field required", doc);
    }
    if (price != NULL) {
        if (check_price(errs, price, in->price))
            in->fields |= PRODUCT_FIELD_PRICE;
    } else if (whole) {
        add_error(errs, "missing", "price", "Field required", doc);
    }
    if (description != NULL) {
        if (check_string(errs, "description", description, 0, DESCRIPTION_MAX_CHARS, 1,
                         &in->description))
            in->fields |= PRODUCT_FIELD_DESCRIPTION;
    } else if (whole) {
        in->fields |= PRODUCT_FIELD_DESCRIPTION; /* Omitted: null. */
    }
    if (category != NULL) {
        if (check_string(errs, "category", category, 1, CATEGORY_MAX_CHARS, 1, &in->category))
            in->fields |= PRODUCT_FIELD_CATEGORY;
    } else if (whole) {
        in->fields |= PRODUCT_FIELD_CATEGORY;
    }
    if (mode == PRODUCT_INPUT_PATCH && json_object_size(doc) == 0)
        add_error(errs, "missing", NULL, "At least one field is required", doc);

    if (json_array_size(errs) > 0) {
        json_decref(doc);
        memset(in, 0, sizeof *in);
        *errors = errs;
        return -1;
    }
    json_decref(errs);
    in->doc = doc;
    *errors = NULL;
    return 0;
}

void product_input_clear(product_input_t *in)
{
    json_decref(in->doc);
    memset(in, 0, sizeof *in);
}
