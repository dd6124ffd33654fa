/*
 * Unit tests of event_check_remote: an event heard from another instance reaches a dashboard only
 * as the members its schema names, each of the right kind; anything else is refused whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/event_check.h"

static const char WRITE[] =
    "{\"op\":\"update\",\"id\":3,\"version\":2,\"write_mode\":\"invalidate\","
    "\"cache_action\":\"deleted\",\"timestamp\":1796439037.716}";
static const char INSTANCE[] =
    "{\"timestamp\":1796439037.2,\"hits\":5,\"misses\":1,\"hit_rate\":83.33,\"db_queries\":1,"
    "\"writes\":0,\"invalidations\":0,\"redis_errors\":0,\"db_errors\":0,"
    "\"events_fanout\":\"subscribed\"}";
static const char WARM[] =
    "{\"run\":1,\"state\":\"done\",\"mode\":\"top:20\",\"trigger\":\"request\",\"rate\":500,"
    "\"total\":20,\"warmed\":20,\"skipped\":0,\"failed\":0,\"db_queries\":1,"
    "\"started_at\":1796439030.5,\"elapsed_ms\":41,\"reason\":null,\"timestamp\":1796439030.6}";

/* Checks text as type's data; returns the copy (the caller frees it) or NULL. */
static json_t *check(const char *type, const char *text)
{
    json_t *data = json_loads(text, 0, NULL);
    assert_non_null(data);
    json_t *v = event_check_remote(type, data);
    json_decref(data);
    return v;
}

/* text with the member name set to the JSON value (or removed when value is NULL), then checked. */
static json_t *check_with(const char *type, const char *text, const char *name, const char *value)
{
    json_t *data = json_loads(text, 0, NULL);
    assert_non_null(data);
    if (value == NULL) {
        json_object_del(data, name);
    } else {
        json_t *v = json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        assert_non_null(v);
        json_object_set_new(data, name, v);
    }
    json_t *out = event_check_remote(type, data);
    json_decref(data);
    return out;
}

static void test_known_events_pass_as_copies(void **state)
{
    (void)state;
    json_t *v = check("write", WRITE);
    assert_non_null(v);
    assert_int_equal(json_object_size(v), 6);
    assert_string_equal(json_string_value(json_object_get(v, "op")), "update");
    json_decref(v);
    v = check("instance", INSTANCE);
    assert_non_null(v);
    assert_int_equal(json_object_size(v), 10);
    json_decref(v);
    v = check("warm", WARM);
    assert_non_null(v);
    assert_int_equal(json_object_size(v), 14);
    json_decref(v);
    /* Members the schema does not name are left out, not passed on. */
    v = check_with("write", WRITE, "script", "\"<img src=x onerror=alert(1)>\"");
    assert_non_null(v);
    assert_null(json_object_get(v, "script"));
    json_decref(v);
    /* A queued write-behind write has no version yet. */
    static const char queued[] = "{\"op\":\"update\",\"id\":3,\"version\":null,\"write_mode\":"
                                 "\"write-behind\",\"cache_action\":\"queued\",\"timestamp\":1}";
    v = check("write", queued);
    assert_non_null(v);
    json_decref(v);
}

static void test_unknown_types_and_non_objects_are_refused(void **state)
{
    (void)state;
    assert_null(check("stats", INSTANCE));
    assert_null(check("hologram", "{}"));
    json_t *arr = json_array();
    assert_null(event_check_remote("write", arr));
    json_decref(arr);
    assert_null(event_check_remote("write", NULL));
}

static void test_members_out_of_their_kind_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *type, *text, *name, *value; /* value NULL: the member removed. */
    } bad[] = {
        {"write", WRITE, "op", NULL},
        {"write", WRITE, "op", "\"drop\""},
        {"write", WRITE, "op", "1"},
        {"write", WRITE, "id", "2147483648"},
        {"write", WRITE, "id", "\"3\""},
        {"write", WRITE, "id", "3.5"},
        {"write", WRITE, "version", "0"},
        {"write", WRITE, "version", "null"}, /* Only a queued write has none. */
        {"write", WRITE, "write_mode", "\"write-around\""},
        {"write", WRITE, "cache_action", "\"queued\""}, /* Queued, yet with a version. */
        {"write", WRITE, "timestamp", "-1"},
        {"write", WRITE, "timestamp", "\"now\""},
        {"instance", INSTANCE, "hits", "-1"},
        {"instance", INSTANCE, "misses", "1.5"},
        {"instance", INSTANCE, "hit_rate", "100.5"},
        {"instance", INSTANCE, "hit_rate", "null"},
        {"instance", INSTANCE, "events_fanout", "\"maybe\""},
        {"instance", INSTANCE, "db_errors", NULL},
        {"warm", WARM, "state", "\"paused\""},
        {"warm", WARM, "mode", "\"top:0\""},
        {"warm", WARM, "mode", "\"top:101\""},
        {"warm", WARM, "mode", "\"top:07\""},
        {"warm", WARM, "mode", "\"some\""},
        {"warm", WARM, "trigger", "\"cron\""},
        {"warm", WARM, "rate", "0"},
        {"warm", WARM, "rate", "100001"},
        {"warm", WARM, "reason", "\"a\\u0000b\""},
        {"warm", WARM, "reason", "7"},
        {"warm", WARM, "elapsed_ms", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *v = check_with(bad[i].type, bad[i].text, bad[i].name, bad[i].value);
        if (v != NULL) {
            json_decref(v);
            fail_msg("case %zu (%s %s=%s) was not refused", i, bad[i].type, bad[i].name,
                     bad[i].value ? bad[i].value : "(missing)");
        }
    }
    /* The nullable ones take null. */
    json_t *v = check_with("warm", WARM, "mode", "null");
    assert_non_null(v);
    json_decref(v);
    v = check_with("warm", WARM, "reason", "\"nothing to warm\"");
    assert_non_null(v);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_events_pass_as_copies),
        cmocka_unit_test(test_unknown_types_and_non_objects_are_refused),
        cmocka_unit_test(test_members_out_of_their_kind_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
