/*
 * Unit tests of event_bus_parse: which messages of the events channel are taken as events. Anyone
 * who can PUBLISH on the channel can put bytes there, so everything that is not one well-formed
 * event must be refused, never handed to the events hubs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/event_bus.h"

/* A message given by length, as Redis hands it over; the literal's terminating NUL is not in it. */
#define MSG(literal) (literal), sizeof(literal) - 1

static void test_parse_accepts_an_event(void **state)
{
    (void)state;
    static const char msg[] = "{\"instance\":\"inst-24112\",\"origin\":\"4242.55d0c0ffee\","
                              "\"type\":\"write\",\"data\":{\"op\":\"update\",\"id\":3}}";
    json_t *v = event_bus_parse(MSG(msg));
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "instance")), "inst-24112");
    assert_string_equal(json_string_value(json_object_get(v, "origin")), "4242.55d0c0ffee");
    assert_string_equal(json_string_value(json_object_get(v, "type")), "write");
    json_t *data = json_object_get(v, "data");
    assert_true(json_is_object(data));
    assert_int_equal(json_integer_value(json_object_get(data, "id")), 3);
    json_decref(v);

    /* Any order of the members, an empty data object, and members the reader does not know. */
    v = event_bus_parse(
        MSG("{\"data\":{},\"type\":\"instance\",\"origin\":\"o\",\"instance\":\"i\","
            "\"later\":[1]}"));
    assert_non_null(v);
    json_decref(v);

    /* A sequence number, as every bus sends one. */
    v = event_bus_parse(MSG("{\"instance\":\"i\",\"origin\":\"o\",\"seq\":9007199254740993,"
                            "\"type\":\"write\",\"data\":{}}"));
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "seq")), 9007199254740993LL);
    json_decref(v);

    /* An instance name as long as INSTANCE_ID can be (127 bytes). */
    char longest[400];
    int n =
        snprintf(longest, sizeof longest,
                 "{\"instance\":\"%0127d\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}", 7);
    v = event_bus_parse(longest, (size_t)n);
    assert_non_null(v);
    json_decref(v);
    n = snprintf(longest, sizeof longest,
                 "{\"instance\":\"%0128d\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}", 7);
    assert_null(event_bus_parse(longest, (size_t)n));
}

/* The bounds of the type: 1 to 31 bytes of [a-z_]. */
static void test_parse_type_bounds(void **state)
{
    (void)state;
    /* 31 bytes. */
    json_t *v = event_bus_parse(MSG("{\"instance\":\"i\",\"origin\":\"o\","
                                    "\"type\":\"abcdefghijklmnopqrstuvwxyz_____\",\"data\":{}}"));
    assert_non_null(v);
    json_decref(v);
    v = event_bus_parse(MSG("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"_\",\"data\":{}}"));
    assert_non_null(v);
    json_decref(v);
}

/* The message is read by its length: bytes after it are not part of it. */
static void test_parse_reads_by_length(void **state)
{
    (void)state;
    static const char event[] =
        "{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"warm\",\"data\":{}}";
    char buf[sizeof event + 16];
    memcpy(buf, event, sizeof event - 1);
    memset(buf + sizeof event - 1, 'x', 16); /* More bytes, and no NUL. */
    json_t *v = event_bus_parse(buf, sizeof event - 1);
    assert_non_null(v);
    json_decref(v);
    /* Cut short, it is not an event. */
    assert_null(event_bus_parse(buf, sizeof event - 2));
    /* The same bytes with what follows are not one either. */
    assert_null(event_bus_parse(buf, sizeof buf));
}

#define CASE(literal)                                                                              \
    {                                                                                              \
        (literal), sizeof(literal) - 1                                                             \
    }

static void test_parse_refuses_what_is_not_an_event(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        /* Not JSON. */
        CASE(""),
        CASE("not json"),
        CASE("{"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}{}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}\0"),
        CASE("{\"instance\":\"\xff\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}"),
        /* Not an object. */
        CASE("[1]"),
        CASE("\"write\""),
        CASE("null"),
        CASE("42"),
        /* The instance: missing, empty, not a string. */
        CASE("{\"origin\":\"o\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":1,\"origin\":\"o\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":null,\"origin\":\"o\",\"type\":\"write\",\"data\":{}}"),
        /* The origin: missing, empty, not a string, longer than 31 bytes. */
        CASE("{\"instance\":\"i\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":7,\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"0123456789abcdef0123456789abcdef\",\"type\":"
             "\"write\",\"data\":{}}"),
        /* The sequence number: below 1, not an integer. */
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"seq\":0,\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"seq\":-3,\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"seq\":1.5,\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"seq\":\"1\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"seq\":null,\"type\":\"write\",\"data\":{}}"),
        /* The type: missing, upper case, too long (32 bytes), empty, other characters, not a
           string. */
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"Write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"WRITE\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"abcdefghijklmnopqrstuvwxyz______\","
             "\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"wri-te\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write2\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write \",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":1,\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":[\"write\"],\"data\":{}}"),
        /* The data: missing, or not an object. */
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\"}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":[]}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":\"{}\"}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":null}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":1}"),
        /* Duplicate names: which one would count is up to the reader, so neither does. */
        CASE("{\"instance\":\"i\",\"instance\":\"j\",\"origin\":\"o\",\"type\":\"write\","
             "\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"type\":\"warm\","
             "\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\",\"data\":{\"id\":1,"
             "\"id\":2}}"),
        /* An embedded NUL would make the name shorter as a C string than it is. */
        CASE("{\"instance\":\"a\\u0000b\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\\u0000\",\"type\":\"write\",\"data\":{}}"),
        CASE("{\"instance\":\"i\",\"origin\":\"o\",\"type\":\"write\\u0000\",\"data\":{}}"),
        CASE("{\"instance\":\"a\0b\",\"origin\":\"o\",\"type\":\"write\",\"data\":{}}"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = event_bus_parse(bad[i].text, bad[i].len);
        if (v != NULL) {
            json_decref(v);
            fail_msg("case %zu was not refused: %.*s", i, (int)bad[i].len, bad[i].text);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_an_event),
        cmocka_unit_test(test_parse_type_bounds),
        cmocka_unit_test(test_parse_reads_by_length),
        cmocka_unit_test(test_parse_refuses_what_is_not_an_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
