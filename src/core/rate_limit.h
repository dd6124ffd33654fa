/*
 * rate_limit — the rate limiter's settings that change at run time (GET/PUT /rate-limit/config) and
 * its counters (GET /rate-limit/stats), shared by every event loop.
 *
 * The settings start from the configuration (RATE_LIMIT, RATE_LIMIT_ALGORITHM, ...) and live in
 * atomics like the lab's: a change made on one loop is seen by all at their next request. The
 * counters are relaxed atomics, each exact under concurrency. Everything here is thread-safe,
 * lock-free and never blocks. Which requests a limit applies to, and how Redis counts them, is
 * model/rate_policy and cache/rate_limiter.
 */
#ifndef CACHEME_RATE_LIMIT_H
#define CACHEME_RATE_LIMIT_H

#include <jansson.h>
#include <stdint.h>

#include "core/config.h"

/* The route classes a limit is configured for. */
typedef enum {
    RATE_LIMIT_READS = 0, /* GET /products, GET /products/{id}. */
    RATE_LIMIT_WRITES,    /* POST /products, PUT/PATCH/DELETE /products/{id}. */
    RATE_LIMIT_ROUTES     /* How many there are. */
} rate_limit_route_t;

/* Who a request is counted against. */
typedef enum {
    RATE_LIMIT_BY_ADDRESS = 0, /* The client address (X-Forwarded-For from a trusted proxy). */
    RATE_LIMIT_BY_KEY,         /* A configured API key (X-API-Key). */
    RATE_LIMIT_PARTITIONS      /* How many there are. */
} rate_limit_partition_t;

/* What happened to one request the limiter looked at. */
typedef enum {
    RATE_LIMIT_ALLOWED = 0,   /* Counted and under the limit. */
    RATE_LIMIT_LIMITED,       /* Over the limit: 429. */
    RATE_LIMIT_FAILED_OPEN,   /* Redis could not count it; served anyway. */
    RATE_LIMIT_FAILED_CLOSED, /* Redis could not count it; 503 (RATE_LIMIT_FAIL_CLOSED). */
    RATE_LIMIT_OUTCOMES       /* How many there are. */
} rate_limit_outcome_t;

typedef struct {
    int enabled;        /* 1: product routes are limited. */
    int algorithm;      /* A config_rate_algorithm_t. */
    int window_seconds; /* The window of every limit. */
    int fail_closed;    /* 1: 503 when Redis cannot count; 0: serve (fail open). */
    int limits[RATE_LIMIT_PARTITIONS][RATE_LIMIT_ROUTES]; /* Requests per window; 0 = none. */
} rate_limit_settings_t;

/* Sets the starting values from the configuration. Call once before the loops start. */
void rate_limit_init(const config_t *cfg);

/* Copies the current settings. */
void rate_limit_get(rate_limit_settings_t *out);

/* The enabled setting alone (one atomic load, for every product request). */
int rate_limit_enabled(void);

/* The settings as a JSON object (new reference), in the shape of GET /rate-limit/config. */
json_t *rate_limit_to_json(void);

/*
 * Applies the members of patch (a JSON object with any of the settings' names). Every member is
 * validated first; nothing changes unless all are valid. Returns 0, or -1 and sets *errors to a new
 * JSON array of FastAPI-shaped entries (loc ["body", name]).
 */
int rate_limit_apply_json(json_t *patch, json_t **errors);

/* Counts one outcome of a request of route class route. */
void rate_limit_count(rate_limit_route_t route, rate_limit_outcome_t outcome);

/* The count of one outcome of one route class. */
uint64_t rate_limit_counted(rate_limit_route_t route, rate_limit_outcome_t outcome);

/* The counters as a JSON object (new reference), in the shape of GET /rate-limit/stats. */
json_t *rate_limit_stats_json(void);

/* The name of a route class ("reads", "writes"), also the name of its policy in the headers. */
const char *rate_limit_route_name(rate_limit_route_t route);

#endif
