/*
 * event_check — see event_check.h. One table per event type: each member's name and kind.
 */
#include "api/event_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Longest free text passed on (a warm run's reason). */
#define TEXT_MAX 200

typedef enum {
    K_COUNT,           /* An integer >= 0. */
    K_COUNT_OR_NULL,   /* The same, or null. */
    K_ID,              /* An int32. */
    K_VERSION_OR_NULL, /* An integer >= 1, or null. */
    K_RATE_OR_NULL,    /* An integer from 1 to 100000 (a warm's rate), or null. */
    K_NUMBER,          /* A number >= 0. */
    K_NUMBER_OR_NULL,  /* The same, or null. */
    K_PERCENT,         /* A number from 0 to 100. */
    K_ENUM,            /* One of the strings of choices. */
    K_ENUM_OR_NULL,    /* The same, or null. */
    K_MODE_OR_NULL,    /* "all" or "top:N" with N from 1 to 100, or null. */
    K_TEXT_OR_NULL     /* A string of at most TEXT_MAX bytes, or null. */
} kind_t;

typedef struct {
    const char *name;           /* The member. */
    kind_t kind;                /* What it must be. */
    const char *const *choices; /* For K_ENUM*: NULL-terminated. */
} member_t;

static const char *const OPS[] = {"create", "update", "delete", NULL};
static const char *const WRITE_MODES[] = {"invalidate", "write-through", "write-behind", NULL};
static const char *const CACHE_ACTIONS[] = {"deleted", "stored", "skipped",
                                            "failed",  "queued", NULL};
static const char *const FANOUT_STATES[] = {"off", "subscribed", "connecting", NULL};
static const char *const WARM_STATES[] = {"started", "progress", "done", "failed", NULL};
static const char *const WARM_TRIGGERS[] = {"startup", "request", NULL};

static const member_t WRITE[] = {
    {"op", K_ENUM, OPS},
    {"id", K_ID, NULL},
    {"version", K_VERSION_OR_NULL, NULL},
    {"write_mode", K_ENUM, WRITE_MODES},
    {"cache_action", K_ENUM, CACHE_ACTIONS},
    {"timestamp", K_NUMBER, NULL},
    {NULL, K_COUNT, NULL},
};

static const member_t INSTANCE[] = {
    {"timestamp", K_NUMBER, NULL},
    {"hits", K_COUNT, NULL},
    {"misses", K_COUNT, NULL},
    {"hit_rate", K_PERCENT, NULL},
    {"db_queries", K_COUNT, NULL},
    {"writes", K_COUNT, NULL},
    {"invalidations", K_COUNT, NULL},
    {"redis_errors", K_COUNT, NULL},
    {"db_errors", K_COUNT, NULL},
    {"events_fanout", K_ENUM, FANOUT_STATES},
    {NULL, K_COUNT, NULL},
};

static const member_t WARM[] = {
    {"run", K_COUNT, NULL},
    {"state", K_ENUM, WARM_STATES},
    {"mode", K_MODE_OR_NULL, NULL},
    {"trigger", K_ENUM_OR_NULL, WARM_TRIGGERS},
    {"rate", K_RATE_OR_NULL, NULL},
    {"total", K_COUNT_OR_NULL, NULL},
    {"warmed", K_COUNT, NULL},
    {"skipped", K_COUNT, NULL},
    {"failed", K_COUNT, NULL},
    {"db_queries", K_COUNT, NULL},
    {"started_at", K_NUMBER_OR_NULL, NULL},
    {"elapsed_ms", K_COUNT, NULL},
    {"reason", K_TEXT_OR_NULL, NULL},
    {"timestamp", K_NUMBER, NULL},
    {NULL, K_COUNT, NULL},
};

static int one_of(const json_t *v, const char *const *choices)
{
    if (!json_is_string(v))
        return 0;
    for (; *choices != NULL; choices++) {
        if (json_string_length(v) == strlen(*choices) &&
            strcmp(json_string_value(v), *choices) == 0)
            return 1;
    }
    return 0;
}

static int integer_in(const json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* "all", or "top:N" with N from 1 to 100 written without leading zeros. */
static int warm_mode(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 3 && strcmp(s, "all") == 0)
        return 1;
    if (n < 5 || n > 7 || strncmp(s, "top:", 4) != 0 || s[4] == '0')
        return 0;
    int top = 0;
    for (size_t i = 4; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        top = top * 10 + (s[i] - '0');
    }
    return top >= 1 && top <= 100;
}

static int fits(const member_t *m, const json_t *v)
{
    if (v == NULL)
        return 0;
    int null_ok = m->kind == K_COUNT_OR_NULL || m->kind == K_VERSION_OR_NULL ||
                  m->kind == K_RATE_OR_NULL || m->kind == K_NUMBER_OR_NULL ||
                  m->kind == K_ENUM_OR_NULL || m->kind == K_MODE_OR_NULL ||
                  m->kind == K_TEXT_OR_NULL;
    if (json_is_null(v))
        return null_ok;
    switch (m->kind) {
    case K_COUNT:
    case K_COUNT_OR_NULL:
        return integer_in(v, 0, INT64_MAX);
    case K_ID:
        return integer_in(v, INT32_MIN, INT32_MAX);
    case K_VERSION_OR_NULL:
        return integer_in(v, 1, INT64_MAX);
    case K_RATE_OR_NULL:
        return integer_in(v, 1, 100000);
    case K_NUMBER:
    case K_NUMBER_OR_NULL:
        return json_is_number(v) && json_number_value(v) >= 0;
    case K_PERCENT:
        return json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 100;
    case K_ENUM:
    case K_ENUM_OR_NULL:
        return one_of(v, m->choices);
    case K_MODE_OR_NULL:
        return warm_mode(v);
    case K_TEXT_OR_NULL:
        return json_is_string(v) && json_string_length(v) <= TEXT_MAX &&
               strlen(json_string_value(v)) == json_string_length(v);
    }
    return 0;
}

json_t *event_check_remote(const char *type, json_t *data)
{
    const member_t *table = strcmp(type, "write") == 0      ? WRITE
                            : strcmp(type, "instance") == 0 ? INSTANCE
                            : strcmp(type, "warm") == 0     ? WARM
                                                            : NULL;
    if (table == NULL || !json_is_object(data))
        return NULL;
    json_t *out = json_object();
    for (const member_t *m = table; out != NULL && m->name != NULL; m++) {
        json_t *v = json_object_get(data, m->name);
        if (!fits(m, v)) {
            json_decref(out);
            return NULL;
        }
        json_object_set(out, m->name, v);
    }
    /* A write only queued has no version yet, and only write-behind queues. */
    if (out != NULL && table == WRITE) {
        int queued = strcmp(json_string_value(json_object_get(out, "cache_action")), "queued") == 0;
        int versionless = json_is_null(json_object_get(out, "version"));
        int behind =
            strcmp(json_string_value(json_object_get(out, "write_mode")), "write-behind") == 0;
        if (queued != versionless || (queued && !behind)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}
