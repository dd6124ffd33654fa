/*
 * lab — the settings a learner may change while the service runs (GET/PUT /lab/config): TTLs, which
 * protections are on, and a simulated database latency.
 *
 * They start from the configuration and are shared by every event loop as atomics: a change made on
 * one loop is seen by all at their next request. Reads and writes are thread-safe and lock-free.
 */
#ifndef CACHEME_LAB_H
#define CACHEME_LAB_H

#include <jansson.h>

#include "core/config.h"

typedef struct {
    int ttl_seconds;            /* TTL of cached products. */
    int ttl_jitter_percent;     /* ± spread of that TTL (avalanche protection); 0 = off. */
    int negative_ttl_seconds;   /* TTL of "not found" entries (penetration protection); 0 = off. */
    int stampede_protection;    /* 1: one database query per missing key (single-flight + lock). */
    int refresh_ahead;          /* 1: refresh hot keys before they expire. */
    int refresh_window_percent; /* Refresh within this last share of a key's life. */
    int stale_if_error_seconds; /* Serve values expired at most this long when PostgreSQL fails. */
    int circuit_breaker;        /* 1: stop calling Redis for a while after repeated failures. */
    int db_delay_ms; /* Simulated latency added inside PostgreSQL (pg_sleep); 0 = none. */
    int near_cache;  /* 1: hits may be answered from the loop's near cache (L1). */
    /* 1: a row read from the read replica is not cached when it is older than the newest write the
     * cache has heard of; it is read again from the primary (DATABASE_REPLICA_URL). */
    int replica_guard;
} lab_settings_t;

/* Sets the starting values from the configuration. Call once before the loops start. */
void lab_init(const config_t *cfg);

/* Copies the current settings. */
void lab_get(lab_settings_t *out);

/* The near_cache setting alone (one atomic load, for the hit path). */
int lab_near_cache(void);

/*
 * A scenario run (POST /lab/scenarios/{name}) changes the settings for its duration, so one runs at
 * a time in the process. Returns 1 when the caller may start one (call lab_scenario_end after it),
 * 0 when one is running. Thread-safe.
 */
int lab_scenario_begin(void);
void lab_scenario_end(void);

/* The settings as a JSON object (new reference). */
json_t *lab_to_json(void);

/*
 * Applies the members of patch (a JSON object with any of the settings' names). Every member is
 * validated first; nothing changes unless all are valid. Returns 0, or -1 and sets *errors to a new
 * JSON array of FastAPI-shaped entries (loc ["body", name]).
 */
int lab_apply_json(json_t *patch, json_t **errors);

#endif
