/*
 * metrics — request counters and latency histograms, per event loop, merged when read: for
 * GET /metrics (Prometheus text format) and the latency percentiles of /cache/stats.
 *
 * Each loop records into its own block of counters with relaxed atomic increments: nobody else
 * writes them, so the increments never contend, and a reader on another thread sees whole values.
 * A latency is counted twice: in Prometheus-style buckets (cumulative `le` bounds from 100 µs to
 * 10 s) for /metrics, and in fine log-spaced buckets (four per power of two, so within ±12 %) for
 * the percentiles. Sums are kept in microseconds. Thread-safe as described; lock-free.
 */
#ifndef CACHEME_METRICS_H
#define CACHEME_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

typedef struct metrics_block metrics_block_t;

/* Route labels: the API's route patterns, plus the dashboard port and unmatched paths. */
#define METRICS_MAX_ROUTES 32

/*
 * Where an answer came from: the label "source" of the metrics and the access log's source. One
 * type for both, so that nothing has to recover it from a string.
 */
typedef enum {
    METRICS_SOURCE_NONE = 0, /* Not a product answer. */
    METRICS_SOURCE_CACHE,    /* Redis. */
    METRICS_SOURCE_DATABASE, /* PostgreSQL. */
    METRICS_SOURCE_STALE,    /* The stale copy, PostgreSQL failing. */
    METRICS_SOURCE_STREAM    /* An event stream: in the access log only; counted as NONE. */
} metrics_source_t;

/* Number of sources that are metric labels (STREAM is not one). */
enum { METRICS_SOURCES_ = METRICS_SOURCE_STREAM };

/* The source's name ("cache", "database", "stale", "stream"), or NULL for NONE. */
const char *metrics_source_name(metrics_source_t source);

/*
 * Registers the route labels (called once at start-up, before any loop runs; index i of the API's
 * route table is label i). Labels beyond METRICS_MAX_ROUTES - 2 share "other".
 */
void metrics_set_routes(const char *const *labels, int n);

/* The index of a route label (the first with that text), or the index of "other". */
int metrics_route_index(const char *label);

/* Route index for the dashboard port and for paths that match no route. */
int metrics_route_ui(void);
int metrics_route_unmatched(void);

/* A new block for one loop, registered for reading. Returns NULL when out of memory or blocks. */
metrics_block_t *metrics_block_new(void);

/* A loop's current state, published by the loop for readers on other threads. */
typedef struct {
    int redis_up;             /* 1 when its Redis connection is up. */
    int postgres_up;          /* 1 when a PostgreSQL connection is up. */
    int breaker_state;        /* 0 closed, 1 open, 2 half-open, -1 disabled. */
    long long breaker_opened; /* Times its breaker opened. */
    int in_flight;            /* Requests being answered. */
    int sse_clients;          /* Open /events streams. */
} metrics_gauges_t;

void metrics_publish(metrics_block_t *b, const metrics_gauges_t *g);

/* Appends the per-loop gauges in Prometheus text format. */
void metrics_write_gauges(struct evbuffer *out);

/* Records one answered request. Called on the block's loop only. */
void metrics_observe(metrics_block_t *b, int route, int status, metrics_source_t source,
                     uint64_t duration_us);

/* Maps a source string ("cache", "database", "stale", other/NULL) to its label. */

/* Latency figures of one source on GET /products/{id}, merged over every loop. */
typedef struct {
    uint64_t count;                        /* Answers. */
    double p50_ms, p95_ms, p99_ms, max_ms; /* Percentiles (bucket middles) and the exact maximum. */
} metrics_latency_t;

/* Fills out for source (all loops, route route). */
void metrics_latency(int route, metrics_source_t source, metrics_latency_t *out);

/* Appends the request metrics in Prometheus text format (HELP/TYPE included). */
void metrics_write_requests(struct evbuffer *out);

/* Percentile of a fine-bucket array (exposed for unit tests): p in [0, 100]. */
double metrics_fine_percentile(const uint64_t *buckets, size_t n, double p);

/* Number of fine buckets, and the bucket of a value in microseconds (for unit tests). */
size_t metrics_fine_buckets(void);
size_t metrics_fine_index(uint64_t us);

#endif
