/*
 * histogram — a latency histogram with log-spaced buckets (HDR-style), for `cacheme-bench`.
 *
 * Values are unsigned integers (the load generator records nanoseconds). Values below 2^P, where P
 * is the precision in bits, each have a bucket of their own; above that, every power-of-two range
 * [2^m, 2^(m+1)) is split into 2^(P-1) equal buckets, so a bucket is at most 2^(1-P) of its values
 * wide: with P = 8, every value is known to within 0.4 % (its bucket's middle is reported).
 * Recording is one bit scan, a shift and an increment, with no allocation; two histograms of the
 * same shape merge by adding their buckets. Values above the maximum given at creation are counted
 * in the last bucket (the exact maximum is still kept).
 *
 * Count, minimum, maximum and mean are exact; percentiles are exact to the bucket's width.
 * A histogram is not thread-safe: each thread records into its own and they are merged afterwards.
 */
#ifndef CACHEME_HISTOGRAM_H
#define CACHEME_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct histogram histogram_t;

#define HISTOGRAM_MIN_PRECISION 2  /* Coarsest: values within 50 %. */
#define HISTOGRAM_MAX_PRECISION 14 /* Finest: values within 0.01 %. */

/*
 * Creates an empty histogram for values up to max_value (>= 1) with precision_bits in
 * [HISTOGRAM_MIN_PRECISION, HISTOGRAM_MAX_PRECISION]. Returns 0 and sets *out (free it with
 * histogram_free), -1 for invalid arguments, -2 when memory is short.
 */
int histogram_new(int precision_bits, uint64_t max_value, histogram_t **out);

/* Creates an empty histogram of the same shape as h (so that they merge). Returns as histogram_new.
 */
int histogram_new_like(const histogram_t *h, histogram_t **out);

/* Frees the histogram; NULL is allowed. */
void histogram_free(histogram_t *h);

/* Counts one value. Never fails; values above the maximum land in the last bucket. */
void histogram_record(histogram_t *h, uint64_t value);

/* Forgets every value recorded. */
void histogram_reset(histogram_t *h);

/*
 * Adds every value of src to dst. Returns 0, or -1 (dst untouched) when the two were not created
 * with the same precision and maximum.
 */
int histogram_merge(histogram_t *dst, const histogram_t *src);

/* Number of values recorded. */
uint64_t histogram_count(const histogram_t *h);

/* Smallest and largest value recorded (exact); 0 when empty. */
uint64_t histogram_min(const histogram_t *h);
uint64_t histogram_max(const histogram_t *h);

/* Arithmetic mean of the values recorded (exact up to double rounding); 0 when empty. */
double histogram_mean(const histogram_t *h);

/*
 * The value at percentile q (0..100): the smallest recorded value v such that at least q % of the
 * values are <= v, reported as the middle of v's bucket and clamped to [min, max]. q = 0 gives the
 * minimum, q = 100 the maximum. 0 when empty.
 */
uint64_t histogram_percentile(const histogram_t *h, double q);

/* Number of buckets (for iteration with histogram_bucket). */
size_t histogram_bucket_count(const histogram_t *h);

/*
 * Bucket i (0 <= i < histogram_bucket_count): sets *low and *high to the smallest and largest value
 * it holds and returns how many values it counted.
 */
uint64_t histogram_bucket(const histogram_t *h, size_t i, uint64_t *low, uint64_t *high);

#endif
