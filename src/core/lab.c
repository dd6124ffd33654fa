/*
 * lab — see lab.h. One table names every setting, its bounds and where it lives.
 */
#include "core/lab.h"

#include "core/body_check.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define LAB_FIELDS 11

static _Atomic int lab_values[LAB_FIELDS];
/* 1 while a scenario runs. */
static _Atomic int lab_scenario_running;

int lab_scenario_begin(void)
{
    int expected = 0;
    return atomic_compare_exchange_strong(&lab_scenario_running, &expected, 1);
}

void lab_scenario_end(void)
{
    atomic_store(&lab_scenario_running, 0);
}

typedef struct {
    const char *name; /* JSON member. */
    int min, max;     /* Inclusive bounds. */
    int boolean;      /* 1: a JSON true/false. */
} lab_field_t;

/* In the order of lab_settings_t's members. */
static const lab_field_t lab_fields[LAB_FIELDS] = {
    {"ttl_seconds", 1, 31536000, 0},
    {"ttl_jitter_percent", 0, 90, 0},
    {"negative_ttl_seconds", 0, 86400, 0},
    {"stampede_protection", 0, 1, 1},
    {"refresh_ahead", 0, 1, 1},
    {"refresh_window_percent", 1, 90, 0},
    {"stale_if_error_seconds", 0, 86400, 0},
    {"circuit_breaker", 0, 1, 1},
    {"db_delay_ms", 0, 10000, 0},
    {"near_cache", 0, 1, 1},
    {"replica_guard", 0, 1, 1},
};

void lab_init(const config_t *cfg)
{
    const int start[LAB_FIELDS] = {cfg->cache_ttl_seconds,
                                   cfg->ttl_jitter_percent,
                                   cfg->negative_ttl_seconds,
                                   cfg->stampede_protection,
                                   cfg->refresh_ahead,
                                   cfg->refresh_window_percent,
                                   cfg->stale_if_error_seconds,
                                   cfg->circuit_breaker,
                                   cfg->db_delay_ms,
                                   cfg->l1_cache,
                                   cfg->replica_guard};
    for (int i = 0; i < LAB_FIELDS; i++)
        atomic_store(&lab_values[i], start[i]);
}

void lab_get(lab_settings_t *out)
{
    int v[LAB_FIELDS];
    for (int i = 0; i < LAB_FIELDS; i++)
        v[i] = atomic_load_explicit(&lab_values[i], memory_order_relaxed);
    out->ttl_seconds = v[0];
    out->ttl_jitter_percent = v[1];
    out->negative_ttl_seconds = v[2];
    out->stampede_protection = v[3];
    out->refresh_ahead = v[4];
    out->refresh_window_percent = v[5];
    out->stale_if_error_seconds = v[6];
    out->circuit_breaker = v[7];
    out->db_delay_ms = v[8];
    out->near_cache = v[9];
    out->replica_guard = v[10];
}

int lab_near_cache(void)
{
    return atomic_load_explicit(&lab_values[9], memory_order_relaxed);
}

json_t *lab_to_json(void)
{
    json_t *o = json_object();
    for (int i = 0; i < LAB_FIELDS; i++) {
        int v = atomic_load(&lab_values[i]);
        json_object_set_new(o, lab_fields[i].name,
                            lab_fields[i].boolean ? json_boolean(v) : json_integer(v));
    }
    return o;
}

static const char *lab_name(int index)
{
    return lab_fields[index].name;
}

static int lab_member(int index, json_t *v, json_t *errors, void *arg)
{
    const lab_field_t *f = &lab_fields[index];
    int *values = arg;
    return f->boolean ? body_check_bool(errors, f->name, v, &values[index])
                      : body_check_int(errors, f->name, v, f->min, f->max, &values[index]);
}

int lab_apply_json(json_t *patch, json_t **errors)
{
    json_t *errs = json_array();
    int values[LAB_FIELDS];
    int given[LAB_FIELDS] = {0};
    body_check_members(patch, LAB_FIELDS, lab_name, lab_member, values, given, errs);
    if (json_array_size(errs) > 0) {
        *errors = errs;
        return -1;
    }
    json_decref(errs);
    for (int i = 0; i < LAB_FIELDS; i++) {
        if (given[i])
            atomic_store(&lab_values[i], values[i]);
    }
    *errors = NULL;
    return 0;
}
