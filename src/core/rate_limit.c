/*
 * rate_limit — see rate_limit.h. One table names every run-time setting and its bounds.
 */
#include "core/rate_limit.h"

#include "core/body_check.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The settings' slots, in the order of rate_limit_fields. */
enum {
    F_ENABLED = 0,
    F_ALGORITHM,
    F_WINDOW,
    F_FAIL_CLOSED,
    F_READS,
    F_WRITES,
    F_KEY_READS,
    F_KEY_WRITES,
    F_COUNT
};

typedef struct {
    const char *name; /* JSON member. */
    int min, max;     /* Inclusive bounds (integers). */
    char kind;        /* 'b' boolean, 'i' integer, 'a' algorithm name. */
} rate_limit_field_t;

static const rate_limit_field_t rate_limit_fields[F_COUNT] = {
    {"enabled", 0, 1, 'b'},
    {"algorithm", 0, CONFIG_RATE_ALGORITHMS - 1, 'a'},
    {"window_seconds", 1, 86400, 'i'},
    {"fail_closed", 0, 1, 'b'},
    {"reads_per_window", 0, 1000000, 'i'},
    {"writes_per_window", 0, 1000000, 'i'},
    {"key_reads_per_window", 0, 1000000, 'i'},
    {"key_writes_per_window", 0, 1000000, 'i'},
};

static _Atomic int rate_limit_values[F_COUNT];
static _Atomic uint64_t rate_limit_counters[RATE_LIMIT_ROUTES][RATE_LIMIT_OUTCOMES];

static const char *const ROUTE_NAMES[RATE_LIMIT_ROUTES] = {"reads", "writes"};
static const char *const OUTCOME_NAMES[RATE_LIMIT_OUTCOMES] = {"allowed", "limited", "failed_open",
                                                               "failed_closed"};

const char *rate_limit_route_name(rate_limit_route_t route)
{
    return ROUTE_NAMES[route];
}

void rate_limit_init(const config_t *cfg)
{
    const int start[F_COUNT] = {cfg->rate_limit,
                                cfg->rate_limit_algorithm,
                                cfg->rate_limit_window_seconds,
                                cfg->rate_limit_fail_closed,
                                cfg->rate_limit_reads,
                                cfg->rate_limit_writes,
                                cfg->rate_limit_key_reads,
                                cfg->rate_limit_key_writes};
    for (int i = 0; i < F_COUNT; i++)
        atomic_store(&rate_limit_values[i], start[i]);
}

void rate_limit_get(rate_limit_settings_t *out)
{
    int v[F_COUNT];
    for (int i = 0; i < F_COUNT; i++)
        v[i] = atomic_load_explicit(&rate_limit_values[i], memory_order_relaxed);
    out->enabled = v[F_ENABLED];
    out->algorithm = v[F_ALGORITHM];
    out->window_seconds = v[F_WINDOW];
    out->fail_closed = v[F_FAIL_CLOSED];
    out->limits[RATE_LIMIT_BY_ADDRESS][RATE_LIMIT_READS] = v[F_READS];
    out->limits[RATE_LIMIT_BY_ADDRESS][RATE_LIMIT_WRITES] = v[F_WRITES];
    out->limits[RATE_LIMIT_BY_KEY][RATE_LIMIT_READS] = v[F_KEY_READS];
    out->limits[RATE_LIMIT_BY_KEY][RATE_LIMIT_WRITES] = v[F_KEY_WRITES];
}

int rate_limit_enabled(void)
{
    return atomic_load_explicit(&rate_limit_values[F_ENABLED], memory_order_relaxed);
}

json_t *rate_limit_to_json(void)
{
    json_t *o = json_object();
    for (int i = 0; i < F_COUNT; i++) {
        int v = atomic_load(&rate_limit_values[i]);
        const rate_limit_field_t *f = &rate_limit_fields[i];
        json_t *value = f->kind == 'b'   ? json_boolean(v)
                        : f->kind == 'a' ? json_string(config_rate_algorithm_name(v))
                                         : json_integer(v);
        json_object_set_new(o, f->name, value);
    }
    return o;
}

/* Validates one member; returns 0 and sets values[index], or -1 after adding its error. */
static int rate_limit_member(int index, json_t *v, json_t *errors, void *arg)
{
    const rate_limit_field_t *f = &rate_limit_fields[index];
    int *values = arg;
    if (f->kind == 'b')
        return body_check_bool(errors, f->name, v, &values[index]);
    if (f->kind == 'a') {
        int a = json_is_string(v)
                    ? config_rate_algorithm_parse(json_string_value(v), json_string_length(v))
                    : -1;
        if (a < 0) {
            body_check_error(errors, "enum", f->name,
                             "Input should be 'fixed-window', 'sliding-log', 'sliding-window' or "
                             "'token-bucket'",
                             v);
            return -1;
        }
        values[index] = a;
        return 0;
    }
    return body_check_int(errors, f->name, v, f->min, f->max, &values[index]);
}

static const char *rate_limit_name(int index)
{
    return rate_limit_fields[index].name;
}

int rate_limit_apply_json(json_t *patch, json_t **errors)
{
    json_t *errs = json_array();
    int values[F_COUNT] = {0};
    int given[F_COUNT] = {0};
    body_check_members(patch, F_COUNT, rate_limit_name, rate_limit_member, values, given, errs);
    if (json_array_size(errs) > 0) {
        *errors = errs;
        return -1;
    }
    json_decref(errs);
    for (int i = 0; i < F_COUNT; i++) {
        if (given[i])
            atomic_store(&rate_limit_values[i], values[i]);
    }
    *errors = NULL;
    return 0;
}

void rate_limit_count(rate_limit_route_t route, rate_limit_outcome_t outcome)
{
    atomic_fetch_add_explicit(&rate_limit_counters[route][outcome], 1, memory_order_relaxed);
}

uint64_t rate_limit_counted(rate_limit_route_t route, rate_limit_outcome_t outcome)
{
    return atomic_load_explicit(&rate_limit_counters[route][outcome], memory_order_relaxed);
}

json_t *rate_limit_stats_json(void)
{
    json_t *o = json_object();
    json_t *total = json_object();
    uint64_t sums[RATE_LIMIT_OUTCOMES] = {0};
    for (int r = 0; r < RATE_LIMIT_ROUTES; r++) {
        json_t *route = json_object();
        for (int k = 0; k < RATE_LIMIT_OUTCOMES; k++) {
            uint64_t n = rate_limit_counted((rate_limit_route_t)r, (rate_limit_outcome_t)k);
            sums[k] += n;
            json_object_set_new(route, OUTCOME_NAMES[k], json_integer((json_int_t)n));
        }
        json_object_set_new(o, ROUTE_NAMES[r], route);
    }
    for (int k = 0; k < RATE_LIMIT_OUTCOMES; k++)
        json_object_set_new(total, OUTCOME_NAMES[k], json_integer((json_int_t)sums[k]));
    json_object_set_new(o, "total", total);
    return o;
}
