/*
 * loadgen_report — the results of a `cacheme-bench` run and their four renderings: the text table
 * (for people), JSON (for programs), and an HTML page or a standalone SVG with a latency-over-time
 * plot and a latency histogram per source.
 *
 * The result is a plain struct filled by loadgen; it points to histograms and a timeline that the
 * caller owns and frees. The renderers only read it, write to the stream they are given, and
 * return 0, or -1 when writing (or memory) failed. They are thread-safe for distinct streams.
 */
#ifndef CACHEME_LOADGEN_REPORT_H
#define CACHEME_LOADGEN_REPORT_H

#include "histogram.h"
#include "loadgen.h"
#include "timeline.h"

#include <stdint.h>
#include <stdio.h>

/* The classes latencies are split by. */
typedef enum {
    LOADGEN_CLASS_CACHE = 0, /* Reads answered 200 with "source":"cache". */
    LOADGEN_CLASS_DATABASE,  /* Reads answered 200 with "source":"database". */
    LOADGEN_CLASS_WRITE,     /* Writes (PATCH), whatever the status. */
    LOADGEN_CLASS_OTHER,     /* Reads answered otherwise (404, 503, a 200 without a source). */
    LOADGEN_CLASSES          /* Number of classes; not a class. */
} loadgen_class_t;

typedef struct {
    const loadgen_options_t *opts; /* What was asked for. */
    double elapsed_s;              /* Measured phase: its start to its last answer. */
    uint64_t requests;             /* Measured requests that finished: answered or failed. */
    uint64_t answered;             /* Of those, answered with a complete HTTP response. */
    uint64_t reads;                /* Answered GETs. */
    uint64_t writes;               /* Answered PATCHes. */
    uint64_t writes_405;           /* Of those, answered 405: the service has no PATCH route. */
    uint64_t cache_answers;        /* Answered GETs with "source":"cache". */
    uint64_t status[6];            /* Answers by status class: [1] 1xx ... [5] 5xx, [0] other. */
    uint64_t socket_errors;        /* Requests lost to a reset, early close or malformed answer. */
    uint64_t timeouts;             /* Requests not answered within the timeout. */
    uint64_t connect_errors;       /* Connection attempts that failed (no request lost). */
    uint64_t warmup_requests;      /* Requests of the warm-up (not in any other figure). */
    int service_known;             /* 1 when the service_* figures were read from /cache/stats. */
    uint64_t service_hits;         /* app_stats.hits gained during the measured phase. */
    uint64_t service_misses;       /* app_stats.misses gained during the measured phase. */
    const char *stop_reason;       /* NULL when a bound ended the run, else why it stopped. */
    histogram_t *latency[LOADGEN_CLASSES]; /* Nanoseconds, per class. */
    timeline_t *timeline; /* Nanoseconds since the measured phase started; classes as above. */
} loadgen_result_t;

/* Hit rate of the run in percent, as the service computes it: cache answers / answered reads,
 * rounded to 2 decimals. */
double loadgen_result_hit_rate(const loadgen_result_t *r);

/* Hit rate in percent from the service's counters (0 when unknown or no lookups). */
double loadgen_result_service_hit_rate(const loadgen_result_t *r);

/* Errors: socket errors, timeouts and answers with status >= 400. */
uint64_t loadgen_result_errors(const loadgen_result_t *r);

/* The summary table. */
int loadgen_report_text(const loadgen_result_t *r, FILE *f);

/* The summary as one JSON object (the schema is in docs/performance.md). */
int loadgen_report_json(const loadgen_result_t *r, FILE *f);

/* A standalone SVG document: latency over time, then the latency histograms. */
int loadgen_report_svg(const loadgen_result_t *r, FILE *f);

/* A self-contained HTML page: the summary table and the SVG plots inline. */
int loadgen_report_html(const loadgen_result_t *r, FILE *f);

#endif
