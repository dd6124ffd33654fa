/*
 * Unit tests of product: JSON building (escaping, NULLs, exact prices) and the cache-hit splice.
 *
 * product_to_json writes its JSON by hand; the differential test below holds it to the bytes of the
 * jansson implementation it replaced, kept here as the reference. product_splice formats the time
 * itself; its test holds it to snprintf's "%.3f".
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* ---- the reference: the jansson implementation product_to_json replaced, unchanged ---------- */

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static int reference_to_json(const product_t *p, char **out, size_t *len)
{
    char *end = NULL;
    double price = strtod(p->price ? p->price : "", &end);
    if (p->price == NULL || end == p->price || *end != '\0' || p->name == NULL)
        return -1;

    json_t *o = json_object();
    if (o == NULL)
        return -1;
    /* json_object_set_new steals the value, also on failure; a NULL value makes it fail. */
    int rc = 0;
    rc |= json_object_set_new(o, "id", json_integer(p->id));
    rc |= json_object_set_new(o, "name", json_string(p->name));
    rc |= json_object_set_new(o, "description", string_or_null(p->description));
    rc |= json_object_set_new(o, "price", json_real(price));
    rc |= json_object_set_new(o, "category", string_or_null(p->category));
    rc |= json_object_set_new(o, "created_at", string_or_null(p->created_at));
    rc |= json_object_set_new(o, "updated_at", string_or_null(p->updated_at));
    char *text = rc == 0
                     ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
                     : NULL;
    json_decref(o);
    if (text == NULL)
        return -1;
    *out = text;
    *len = strlen(text);
    return 0;
}

/* A small deterministic generator (xorshift64*), so that a failure reproduces. */
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(0x2545F4914F6CDD1D);
}

static size_t rng_below(size_t n)
{
    return (size_t)(rng() % n);
}

/* Pieces of valid text: ASCII with what JSON escapes or might escape, and UTF-8 at its edges. */
static const char *const valid_pieces[] = {
    "a",
    "Z",
    "0",
    " ",
    "\"",
    "\\",
    "/",
    "\x7f",
    "{",
    "}",
    ":",
    ",",
    "\xc2\x80",         /* U+0080, the first 2-byte code point */
    "\xc3\xa9",         /* U+00E9 */
    "\xdf\xbf",         /* U+07FF, the last 2-byte one */
    "\xe0\xa0\x80",     /* U+0800, the first 3-byte one */
    "\xe2\x82\xac",     /* U+20AC */
    "\xed\x9f\xbf",     /* U+D7FF, just below the surrogates */
    "\xee\x80\x80",     /* U+E000, just above them */
    "\xef\xbf\xbf",     /* U+FFFF */
    "\xf0\x90\x80\x80", /* U+10000, the first 4-byte one */
    "\xf0\x9f\x98\x80", /* U+1F600 */
    "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
};

/* Pieces that make the text invalid UTF-8, alone or before whatever follows them. */
static const char *const invalid_pieces[] = {
    "\x80",             /* a lone continuation byte */
    "\xbf",             /* another */
    "\xc0\x80",         /* overlong NUL */
    "\xc1\xbf",         /* overlong 0x7f */
    "\xe0\x80\x80",     /* overlong 3-byte */
    "\xe0\x9f\xbf",     /* overlong U+07FF */
    "\xed\xa0\x80",     /* U+D800, a surrogate */
    "\xed\xbf\xbf",     /* U+DFFF */
    "\xf0\x80\x80\x80", /* overlong 4-byte */
    "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
    "\xf4\x90\x80\x80", /* U+110000, above the range */
    "\xf5\x80\x80\x80", /* a lead byte that no longer exists */
    "\xfe",             /* never in UTF-8 */
    "\xff",             /* never in UTF-8 */
    "\xc3",             /* a 2-byte sequence cut short */
    "\xe2\x82",         /* a 3-byte one cut short */
    "\xf0\x9f\x98",     /* a 4-byte one cut short */
    "\xc3\xc3\xa9",     /* a lead byte where a continuation byte should be */
};

/*
 * Fills buf (of size n) with a random string: mostly valid pieces and every control byte but NUL;
 * with probability 1/8 it may hold invalid UTF-8. Returns buf, NULL one time in ten when nullable,
 * and the empty string one time in twenty.
 */
static const char *random_text(char *buf, size_t n, int nullable)
{
    size_t roll = rng_below(20);
    if (nullable && roll < 2)
        return NULL;
    if (roll == 2) {
        buf[0] = '\0';
        return buf;
    }
    int invalid = rng_below(8) == 0;
    size_t count = rng_below(24);
    size_t w = 0;
    for (size_t i = 0; i < count; i++) {
        char control[2] = {(char)(1 + rng_below(0x1f)), '\0'};
        size_t kind = rng_below(invalid ? 10 : 9);
        const char *piece =
            kind < 3 ? control
            : kind < 9
                ? valid_pieces[rng_below(sizeof valid_pieces / sizeof valid_pieces[0])]
                : invalid_pieces[rng_below(sizeof invalid_pieces / sizeof invalid_pieces[0])];
        size_t k = strlen(piece);
        if (w + k >= n)
            break;
        memcpy(buf + w, piece, k);
        w += k;
    }
    buf[w] = '\0';
    return buf;
}

static const char *const fixed_prices[] = {
    "0",           "0.10",
    "2499.99",     "-0",
    "1e+20",       "123456789012345678",
    "0.000001",    "1.5e-7",
    "abc",         "",
    "12abc",       "10.00",
    "99999999.99", "0.01",
    "-5.5",        "1e-300",
    "1e308",       "1e400",
    "nan",         "inf",
    "-inf",        " 12",
    "0x1p4",       "4.9e-324",
    "100",         "1e15",
    "1e16",        "123456789012345",
    "0.1e1",       "+3",
};

/* A random price: a fixed one, a numeric(10,2) value, or the 17 digits of a random double. */
static const char *random_price(char *buf, size_t n)
{
    switch (rng_below(4)) {
    case 0:
        return fixed_prices[rng_below(sizeof fixed_prices / sizeof fixed_prices[0])];
    case 1:
        snprintf(buf, n, "%llu.%02u", (unsigned long long)rng_below(100000000),
                 (unsigned)rng_below(100));
        return buf;
    case 2: {
        double v = ldexp((double)(rng() >> 11), (int)rng_below(200) - 150);
        snprintf(buf, n, "%.17g", rng_below(2) ? v : -v);
        return buf;
    }
    default:
        snprintf(buf, n, "%llu", (unsigned long long)(rng() >> rng_below(64)));
        return buf;
    }
}

/*
 * Both implementations on p: the same return code and, on success, the same bytes. Returns the
 * return code.
 */
static int assert_same_as_reference(const product_t *p)
{
    char *want = NULL, *got = NULL;
    size_t want_len = 0, got_len = 0;
    int want_rc = reference_to_json(p, &want, &want_len);
    int got_rc = product_to_json(p, &got, &got_len);
    if (want_rc != got_rc ||
        (want_rc == 0 && (want_len != got_len || memcmp(want, got, want_len) != 0))) {
        print_error("price \"%s\": reference %d %s\n          product_to_json %d %s\n",
                    p->price ? p->price : "(null)", want_rc, want_rc == 0 ? want : "", got_rc,
                    got_rc == 0 ? got : "");
    }
    assert_int_equal(got_rc, want_rc);
    if (want_rc == 0) {
        assert_int_equal(got_len, want_len);
        assert_memory_equal(got, want, want_len);
        assert_int_equal(strlen(got), got_len); /* NUL-terminated, no NUL inside. */
    }
    free(want);
    free(got);
    return got_rc;
}

static void test_json_same_as_jansson(void **state)
{
    (void)state;
    char name[128], description[128], category[128], created[128], updated[128], price[64];
    static const int32_t ids[] = {0, 1, -1, 9, 10, 2147483647, -2147483647 - 1, 1000000};
    int failures = 0;
    for (int i = 0; i < 5000; i++) {
        product_t p = {
            .id = rng_below(2) ? ids[rng_below(sizeof ids / sizeof ids[0])] : (int32_t)rng(),
            .name = random_text(name, sizeof name, rng_below(50) == 0),
            .description = random_text(description, sizeof description, 1),
            .price = rng_below(200) == 0 ? NULL : random_price(price, sizeof price),
            .category = random_text(category, sizeof category, 1),
            .created_at = random_text(created, sizeof created, 1),
            .updated_at = random_text(updated, sizeof updated, 1),
        };
        failures += assert_same_as_reference(&p) != 0;
    }
    /* The generator reaches both outcomes often. */
    assert_in_range(failures, 500, 4500);
}

static void test_json_explicit(void **state)
{
    (void)state;
    static const struct {
        const char *text;   /* The description. */
        const char *price;  /* The price. */
        const char *expect; /* What the description and the price become, or NULL for -1. */
    } cases[] = {
        {"", "0", "\"description\":\"\",\"price\":0.0,"},
        {"q\"b\\s/", "0.10", "\"description\":\"q\\\"b\\\\s/\",\"price\":0.1,"},
        {"\b\f\n\r\t", "2499.99", "\"description\":\"\\b\\f\\n\\r\\t\",\"price\":2499.99,"},
        {"\x01\x0b\x1f\x7f", "-0", "\"description\":\"\\u0001\\u000B\\u001F\x7f\",\"price\":-0.0,"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "1e+20",
         "\"description\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"price\":1e20,"},
        {"x", "123456789012345678", "\"price\":1.23456789012346e17,"},
        {"x", "0.000001", "\"price\":1e-6,"},
        {"x", "1.5e-7", "\"price\":1.5e-7,"},
        {"x", "abc", NULL},
        {"x", "", NULL},
        {"x", "12abc", NULL},
        {"x", "nan", NULL},
        {"x", "1e400", NULL},
        {"bad \xc3(", "1", NULL},
        {"surrogate \xed\xa0\x80", "1", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        product_t p = sample;
        p.description = cases[i].text;
        p.price = cases[i].price;
        char *text = NULL;
        size_t len = 0;
        int rc = product_to_json(&p, &text, &len);
        if (cases[i].expect == NULL) {
            assert_int_equal(rc, -1);
            assert_null(text);
        } else {
            assert_int_equal(rc, 0);
            if (strstr(text, cases[i].expect) == NULL)
                print_error("case %zu: %s lacks %s\n", i, text, cases[i].expect);
            assert_non_null(strstr(text, cases[i].expect));
            free(text);
        }
        assert_same_as_reference(&p);
    }
    /* The whole text, in the member order the API documents. */
    product_t p = {.id = -7, .name = "n", .price = "10", .created_at = "t"};
    char *text;
    size_t len;
    assert_int_equal(product_to_json(&p, &text, &len), 0);
    assert_string_equal(text, "{\"id\":-7,\"name\":\"n\",\"description\":null,\"price\":10.0,"
                              "\"category\":null,\"created_at\":\"t\",\"updated_at\":null}");
    free(text);
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

/* product_splice with `ms` appends exactly the tail snprintf makes with the old format. */
static void assert_splice_like_printf(struct evbuffer *buf, const char *source, double ms)
{
    char want[512];
    int n = snprintf(want, sizeof want, "{\"id\":1,\"source\":\"%s\",\"fetch_time_ms\":%.3f}",
                     source, ms);
    assert_in_range(n, 1, sizeof want - 1);
    assert_int_equal(product_splice(buf, "{\"id\":1}", 8, source, ms), 0);
    char *got = drain(buf);
    if (strcmp(got, want) != 0)
        print_error("%.17g (%a): %s, printf %s\n", ms, ms, got, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_splice_time_like_printf(void **state)
{
    (void)state;
    struct evbuffer *buf = evbuffer_new();
    static const double fixed[] = {
        0,
        0.0005,
        0.0015,
        0.0025,
        1.2345,
        999.9995,
        12345.6789,
        0.0625,
        0.1875,
        2.5625,
        0.9995,
        0.4999999,
        0.0004999,
        1e-300,
        4.9e-324,
        2.2250738585072014e-308,
        1e15,
        4503599627370495.5,
        4503599627370496.0,
        9007199254740993.0,
        1e20,
        1e300,
        -0.0,
        -1.2345,
        -0.0005,
        -0.0625,
        INFINITY,
        -INFINITY,
        NAN,
        1.0 / 3,
        2.0 / 3,
        99.99950000000001,
        0.00050000000000000001,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        assert_splice_like_printf(buf, "cache", fixed[i]);
    for (int i = 0; i < 20000; i++) {
        double v;
        switch (i % 5) {
        case 0: /* A time in milliseconds as the service measures it. */
            v = (double)rng_below(100000000) / 1e6;
            break;
        case 1: /* A multiple of 1/16 000: many are ties at the third decimal. */
            v = (double)rng_below(1u << 24) / 16000.0;
            break;
        case 2: /* Anything finite and positive, at any scale. */
            v = ldexp((double)(rng() >> 11), (int)rng_below(140) - 120);
            break;
        case 3: { /* Any bit pattern at all: negative, subnormal, huge, NaN. */
            uint64_t bits = rng();
            memcpy(&v, &bits, sizeof v);
            break;
        }
        default: /* Close to a rounding boundary of the third decimal. */
            v = nextafter(((double)rng_below(10000000) + 0.5) / 1000, rng_below(2) ? 0 : 1e9);
            break;
        }
        assert_splice_like_printf(buf, i % 2 ? "cache" : "database", v);
    }
    /* A source name too long for the stack buffer takes the printf path, with the same bytes. */
    assert_splice_like_printf(buf, "a-source-name-longer-than-any-the-service-uses-today", 1.5);
    evbuffer_free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_nulls_and_prices),
        cmocka_unit_test(test_json_same_as_jansson),
        cmocka_unit_test(test_json_explicit),
        cmocka_unit_test(test_splice),
        cmocka_unit_test(test_splice_time_like_printf),
    };
    return cmocka_run_group_tests_name("product", tests, NULL, NULL);
}
