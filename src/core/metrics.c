/*
 * metrics — see metrics.h.
 */
#include "core/metrics.h"

#include <assert.h>
#include <event2/buffer.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define MAX_BLOCKS 64
#define FINE 112 /* Four buckets per power of two of microseconds, up to about 2^29 µs. */
#define STATUS_SLOTS 16

/* Prometheus bucket bounds, seconds. */
static const double le_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
#define LE_N (sizeof le_bounds / sizeof le_bounds[0])

/* Status codes with a slot of their own; the last slot takes the rest. */
static const int status_codes[STATUS_SLOTS - 1] = {200, 201, 202, 204, 304, 400, 401, 404,
                                                   405, 409, 413, 422, 431, 503, 500};

typedef struct {
    _Atomic uint64_t count;      /* Observations. */
    _Atomic uint64_t sum_us;     /* Their sum. */
    _Atomic uint64_t max_us;     /* The largest (written by the owner loop only). */
    _Atomic uint64_t le[LE_N];   /* Per Prometheus bucket (not cumulative). */
    _Atomic uint64_t fine[FINE]; /* Per fine bucket. */
} series_t;

struct metrics_block {
    _Atomic int gauges[6]; /* metrics_gauges_t, member by member. */
    _Atomic long long breaker_opened;
    _Atomic uint64_t requests[METRICS_MAX_ROUTES][STATUS_SLOTS][METRICS_SOURCES_];
    series_t latency[METRICS_MAX_ROUTES][METRICS_SOURCES_];
};

static const char *route_labels[METRICS_MAX_ROUTES];
static int route_count;
static metrics_block_t *blocks[MAX_BLOCKS];
static atomic_int block_count;

static const char *const source_labels[METRICS_SOURCES_] = {"none", "cache", "database", "stale"};

int metrics_route_index(const char *label)
{
    for (int i = 0; i < route_count; i++) {
        if (strcmp(route_labels[i], label) == 0)
            return i;
    }
    return METRICS_MAX_ROUTES - 3;
}

void metrics_set_routes(const char *const *labels, int n)
{
    int max = METRICS_MAX_ROUTES - 3;
    route_count = 0;
    for (int i = 0; i < n && route_count < max; i++) {
        if (metrics_route_index(labels[i]) == METRICS_MAX_ROUTES - 3)
            route_labels[route_count++] = labels[i]; /* One label per path, whatever the method. */
    }
    route_labels[METRICS_MAX_ROUTES - 3] = "other";
    route_labels[METRICS_MAX_ROUTES - 2] = "dashboard";
    route_labels[METRICS_MAX_ROUTES - 1] = "unmatched";
}

int metrics_route_ui(void)
{
    return METRICS_MAX_ROUTES - 2;
}

int metrics_route_unmatched(void)
{
    return METRICS_MAX_ROUTES - 1;
}

metrics_block_t *metrics_block_new(void)
{
    int i = atomic_fetch_add(&block_count, 1);
    if (i >= MAX_BLOCKS)
        return NULL;
    metrics_block_t *b = calloc(1, sizeof *b);
    blocks[i] = b; /* Read only after the loops started; see metrics_set_routes. */
    return b;
}

const char *metrics_source_name(metrics_source_t source)
{
    static const char *const names[] = {
        [METRICS_SOURCE_NONE] = NULL,           [METRICS_SOURCE_CACHE] = "cache",
        [METRICS_SOURCE_DATABASE] = "database", [METRICS_SOURCE_STALE] = "stale",
        [METRICS_SOURCE_STREAM] = "stream",
    };
    assert((size_t)source < sizeof names / sizeof names[0]);
    return names[source];
}

size_t metrics_fine_buckets(void)
{
    return FINE;
}

size_t metrics_fine_index(uint64_t us)
{
    if (us < 4)
        return (size_t)us;
    int m = 63 - __builtin_clzll(us);
    size_t idx = (size_t)(4 * (m - 1)) + (size_t)((us >> (m - 2)) & 3);
    return idx < FINE ? idx : FINE - 1;
}

/* Lower and upper bound (µs) of a fine bucket. */
static void fine_bounds(size_t i, double *lo, double *hi)
{
    if (i < 4) {
        *lo = (double)i;
        *hi = (double)i + 1;
        return;
    }
    int m = (int)(i / 4) + 1;
    double base = (double)(1ULL << m), step = base / 4.0;
    *lo = base + step * (double)(i % 4);
    *hi = *lo + step;
}

double metrics_fine_percentile(const uint64_t *buckets, size_t n, double p)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += buckets[i];
    if (total == 0)
        return 0.0;
    /* The rank of the percentile, 1-based, rounded up: p50 of 1..100 is the 50th value. */
    uint64_t rank = (uint64_t)((p / 100.0) * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        seen += buckets[i];
        if (seen >= rank) {
            double lo, hi;
            fine_bounds(i, &lo, &hi);
            return (lo + hi) / 2.0;
        }
    }
    return 0.0;
}

static int status_slot(int status)
{
    for (int i = 0; i < STATUS_SLOTS - 1; i++) {
        if (status_codes[i] == status)
            return i;
    }
    return STATUS_SLOTS - 1;
}

void metrics_observe(metrics_block_t *b, int route, int status, metrics_source_t source,
                     uint64_t duration_us)
{
    if (b == NULL || route < 0 || route >= METRICS_MAX_ROUTES)
        return;
    if (source >= (metrics_source_t)METRICS_SOURCES_)
        source = METRICS_SOURCE_NONE; /* A stream has no "source" label. */
    atomic_fetch_add_explicit(&b->requests[route][status_slot(status)][source], 1,
                              memory_order_relaxed);
    series_t *s = &b->latency[route][source];
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, duration_us, memory_order_relaxed);
    if (duration_us > atomic_load_explicit(&s->max_us, memory_order_relaxed))
        atomic_store_explicit(&s->max_us, duration_us, memory_order_relaxed);
    double seconds = (double)duration_us / 1e6;
    size_t k = 0;
    while (k < LE_N && seconds > le_bounds[k])
        k++;
    if (k < LE_N)
        atomic_fetch_add_explicit(&s->le[k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->fine[metrics_fine_index(duration_us)], 1, memory_order_relaxed);
}

void metrics_publish(metrics_block_t *b, const metrics_gauges_t *g)
{
    if (b == NULL)
        return;
    atomic_store_explicit(&b->gauges[0], g->redis_up, memory_order_relaxed);
    atomic_store_explicit(&b->gauges[1], g->postgres_up, memory_order_relaxed);
    atomic_store_explicit(&b->gauges[2], g->breaker_state, memory_order_relaxed);
    atomic_store_explicit(&b->gauges[3], g->in_flight, memory_order_relaxed);
    atomic_store_explicit(&b->gauges[4], g->sse_clients, memory_order_relaxed);
    atomic_store_explicit(&b->breaker_opened, g->breaker_opened, memory_order_relaxed);
}

void metrics_write_gauges(struct evbuffer *out)
{
    static const struct {
        const char *name, *type, *help;
        int slot;
    } per_loop[] = {
        {"cacheme_redis_up", "gauge", "1 when the event loop's Redis connection is up.", 0},
        {"cacheme_postgres_up", "gauge", "1 when the event loop has a PostgreSQL connection up.",
         1},
        {"cacheme_circuit_breaker_state", "gauge",
         "Redis circuit breaker of the event loop: 0 closed, 1 open, 2 half-open, -1 disabled.", 2},
    };
    int n = atomic_load(&block_count);
    if (n > MAX_BLOCKS)
        n = MAX_BLOCKS;
    for (size_t g = 0; g < sizeof per_loop / sizeof per_loop[0]; g++) {
        evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", per_loop[g].name, per_loop[g].help,
                            per_loop[g].name, per_loop[g].type);
        for (int i = 0; i < n; i++) {
            if (blocks[i] != NULL)
                evbuffer_add_printf(out, "%s{loop=\"%d\"} %d\n", per_loop[g].name, i,
                                    atomic_load(&blocks[i]->gauges[per_loop[g].slot]));
        }
    }
    long long opened = 0, in_flight = 0, sse = 0;
    for (int i = 0; i < n; i++) {
        if (blocks[i] == NULL)
            continue;
        opened += atomic_load(&blocks[i]->breaker_opened);
        in_flight += atomic_load(&blocks[i]->gauges[3]);
        sse += atomic_load(&blocks[i]->gauges[4]);
    }
    evbuffer_add_printf(out,
                        "# HELP cacheme_circuit_breaker_opened_total Times a Redis circuit breaker "
                        "opened.\n# TYPE cacheme_circuit_breaker_opened_total counter\n"
                        "cacheme_circuit_breaker_opened_total %lld\n"
                        "# HELP cacheme_http_requests_in_flight Requests being answered.\n"
                        "# TYPE cacheme_http_requests_in_flight gauge\n"
                        "cacheme_http_requests_in_flight %lld\n"
                        "# HELP cacheme_sse_clients Open /events streams.\n"
                        "# TYPE cacheme_sse_clients gauge\ncacheme_sse_clients %lld\n",
                        opened, in_flight, sse);
}

void metrics_latency(int route, metrics_source_t source, metrics_latency_t *out)
{
    uint64_t fine[FINE] = {0};
    uint64_t count = 0, max = 0;
    int n = atomic_load(&block_count);
    for (int i = 0; i < n && i < MAX_BLOCKS; i++) {
        if (blocks[i] == NULL)
            continue;
        series_t *s = &blocks[i]->latency[route][source];
        count += atomic_load_explicit(&s->count, memory_order_relaxed);
        uint64_t m = atomic_load_explicit(&s->max_us, memory_order_relaxed);
        max = m > max ? m : max;
        for (size_t k = 0; k < FINE; k++)
            fine[k] += atomic_load_explicit(&s->fine[k], memory_order_relaxed);
    }
    out->count = count;
    out->max_ms = (double)max / 1000.0;
    /* A bucket's middle can lie above the largest value seen in it. */
    double p[3] = {50, 95, 99}, *dst[3] = {&out->p50_ms, &out->p95_ms, &out->p99_ms};
    for (int i = 0; i < 3; i++) {
        double v = metrics_fine_percentile(fine, FINE, p[i]) / 1000.0;
        *dst[i] = v > out->max_ms ? out->max_ms : v;
    }
}

void metrics_write_requests(struct evbuffer *out)
{
    int n = atomic_load(&block_count);
    if (n > MAX_BLOCKS)
        n = MAX_BLOCKS;
    evbuffer_add_printf(out, "# HELP cacheme_http_requests_total HTTP requests answered, by "
                             "route, status code and source of the answer.\n"
                             "# TYPE cacheme_http_requests_total counter\n");
    for (int r = 0; r < METRICS_MAX_ROUTES; r++) {
        if (route_labels[r] == NULL)
            continue;
        for (int st = 0; st < STATUS_SLOTS; st++) {
            for (int src = 0; src < METRICS_SOURCES_; src++) {
                uint64_t v = 0;
                for (int i = 0; i < n; i++) {
                    if (blocks[i] != NULL)
                        v += atomic_load_explicit(&blocks[i]->requests[r][st][src],
                                                  memory_order_relaxed);
                }
                if (v == 0)
                    continue;
                char code[8];
                if (st < STATUS_SLOTS - 1)
                    snprintf(code, sizeof code, "%d", status_codes[st]);
                else
                    snprintf(code, sizeof code, "other");
                evbuffer_add_printf(out,
                                    "cacheme_http_requests_total{route=\"%s\",status=\"%s\","
                                    "source=\"%s\"} %llu\n",
                                    route_labels[r], code, source_labels[src],
                                    (unsigned long long)v);
            }
        }
    }
    evbuffer_add_printf(out, "# HELP cacheme_http_request_duration_seconds Time from dispatch to "
                             "the answer, by route and source.\n"
                             "# TYPE cacheme_http_request_duration_seconds histogram\n");
    for (int r = 0; r < METRICS_MAX_ROUTES; r++) {
        if (route_labels[r] == NULL)
            continue;
        for (int src = 0; src < METRICS_SOURCES_; src++) {
            uint64_t le[LE_N] = {0}, count = 0, sum = 0;
            for (int i = 0; i < n; i++) {
                if (blocks[i] == NULL)
                    continue;
                series_t *s = &blocks[i]->latency[r][src];
                count += atomic_load_explicit(&s->count, memory_order_relaxed);
                sum += atomic_load_explicit(&s->sum_us, memory_order_relaxed);
                for (size_t k = 0; k < LE_N; k++)
                    le[k] += atomic_load_explicit(&s->le[k], memory_order_relaxed);
            }
            if (count == 0)
                continue;
            uint64_t cumulative = 0;
            for (size_t k = 0; k < LE_N; k++) {
                cumulative += le[k];
                evbuffer_add_printf(out,
                                    "cacheme_http_request_duration_seconds_bucket{route=\"%s\","
                                    "source=\"%s\",le=\"%g\"} %llu\n",
                                    route_labels[r], source_labels[src], le_bounds[k],
                                    (unsigned long long)cumulative);
            }
            evbuffer_add_printf(out,
                                "cacheme_http_request_duration_seconds_bucket{route=\"%s\","
                                "source=\"%s\",le=\"+Inf\"} %llu\n"
                                "cacheme_http_request_duration_seconds_sum{route=\"%s\","
                                "source=\"%s\"} %.6f\n"
                                "cacheme_http_request_duration_seconds_count{route=\"%s\","
                                "source=\"%s\"} %llu\n",
                                route_labels[r], source_labels[src], (unsigned long long)count,
                                route_labels[r], source_labels[src], (double)sum / 1e6,
                                route_labels[r], source_labels[src], (unsigned long long)count);
        }
    }
}
