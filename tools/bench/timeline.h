/*
 * timeline — latencies over time for `cacheme-bench`: one small histogram per time interval and per
 * class of request (cache, database, ...), for the latency-over-time plot.
 *
 * Intervals start at the width given at creation. When a value arrives past the last of max_points
 * intervals, neighbouring intervals are merged in pairs and the width doubles, as often as needed:
 * memory stays bounded for any run length, the plot keeps between max_points / 2 and max_points
 * points, and percentiles per interval stay exact to the histograms' precision (merging histograms
 * loses nothing). Histograms are allocated when their interval and class first get a value.
 *
 * A timeline_t is not thread-safe.
 */
#ifndef CACHEME_TIMELINE_H
#define CACHEME_TIMELINE_H

#include "histogram.h"

#include <stddef.h>
#include <stdint.h>

typedef struct timeline timeline_t;

/*
 * Creates an empty timeline with `classes` (1..16) classes, a first interval width of interval
 * (> 0, in the unit of the times recorded), at most max_points intervals (even, >= 2), and
 * histograms of histogram_new(precision, max_value). Returns 0 and sets *out (free it with
 * timeline_free), -1 for invalid arguments, -2 when memory is short.
 */
int timeline_new(int classes, uint64_t interval, size_t max_points, int precision,
                 uint64_t max_value, timeline_t **out);

/* Frees the timeline and its histograms; NULL is allowed. */
void timeline_free(timeline_t *t);

/*
 * Records a value of class cls (0 <= cls < classes) at time `at` (from the start of the run).
 * Returns 0, or -2 when a histogram could not be allocated (the value is then not recorded).
 */
int timeline_record(timeline_t *t, uint64_t at, int cls, uint64_t value);

/* Number of intervals up to the last one that received a value (0 when nothing was recorded). */
size_t timeline_points(const timeline_t *t);

/* Current width of an interval: interval i covers [i * width, (i + 1) * width). */
uint64_t timeline_interval(const timeline_t *t);

/* The histogram of interval i and class cls, or NULL when that pair received no value. */
const histogram_t *timeline_histogram(const timeline_t *t, size_t i, int cls);

#endif
