/*
 * histogram — see histogram.h. The layout is HdrHistogram's with one sub-bucket range per power of
 * two: index(v) = v below 2^P, else (m - P + 1) * 2^(P-1) + (v >> (m - P + 1)) where m is the
 * position of v's highest set bit. Consecutive powers of two thus use consecutive index ranges, and
 * the bounds of a bucket follow from its index alone.
 */
#include "histogram.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct histogram {
    int precision;      /* P: values below 2^P are exact; above, buckets are 2^(1-P) wide. */
    uint64_t max_value; /* Largest value with a bucket of its own; larger ones share the last. */
    size_t buckets;     /* Number of elements in counts. */
    uint64_t count;     /* Values recorded. */
    uint64_t min;       /* Smallest value recorded (UINT64_MAX while empty). */
    uint64_t max;       /* Largest value recorded (0 while empty). */
    double sum;         /* Sum of the values recorded, for the mean. */
    uint64_t counts[];  /* Values per bucket. */
};

/* The bucket of value v under precision p. */
static size_t bucket_index(int p, uint64_t v)
{
    if (v < (UINT64_C(1) << p))
        return (size_t)v;
    int m = 63 - __builtin_clzll(v);
    int shift = m - p + 1;
    return (size_t)shift * ((size_t)1 << (p - 1)) + (size_t)(v >> shift);
}

/* Smallest and largest value of bucket i under precision p. */
static void bucket_bounds(int p, size_t i, uint64_t *low, uint64_t *high)
{
    size_t half = (size_t)1 << (p - 1);
    if (i < 2 * half) {
        *low = *high = (uint64_t)i;
        return;
    }
    size_t group = i / half; /* >= 2: the power of two is 2^(group + p - 2). */
    assert(group >= 2);
    int shift = (int)group - 1;
    uint64_t sub = (uint64_t)(half + i % half);
    *low = sub << shift;
    *high = *low + ((UINT64_C(1) << shift) - 1);
}

int histogram_new(int precision_bits, uint64_t max_value, histogram_t **out)
{
    *out = NULL;
    if (precision_bits < HISTOGRAM_MIN_PRECISION || precision_bits > HISTOGRAM_MAX_PRECISION ||
        max_value < 1)
        return -1;
    size_t buckets = bucket_index(precision_bits, max_value) + 1;
    histogram_t *h = calloc(1, sizeof *h + buckets * sizeof h->counts[0]);
    if (h == NULL)
        return -2;
    h->precision = precision_bits;
    h->max_value = max_value;
    h->buckets = buckets;
    h->min = UINT64_MAX;
    *out = h;
    return 0;
}

int histogram_new_like(const histogram_t *h, histogram_t **out)
{
    return histogram_new(h->precision, h->max_value, out);
}

void histogram_free(histogram_t *h)
{
    free(h);
}

void histogram_record(histogram_t *h, uint64_t value)
{
    size_t i = value > h->max_value ? h->buckets - 1 : bucket_index(h->precision, value);
    assert(i < h->buckets);
    h->counts[i]++;
    h->count++;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
    h->sum += (double)value;
}

void histogram_reset(histogram_t *h)
{
    memset(h->counts, 0, h->buckets * sizeof h->counts[0]);
    h->count = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum = 0;
}

int histogram_merge(histogram_t *dst, const histogram_t *src)
{
    if (dst->precision != src->precision || dst->max_value != src->max_value)
        return -1;
    if (src->count == 0)
        return 0;
    for (size_t i = 0; i < dst->buckets; i++)
        dst->counts[i] += src->counts[i];
    dst->count += src->count;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->sum += src->sum;
    return 0;
}

uint64_t histogram_count(const histogram_t *h)
{
    return h->count;
}

uint64_t histogram_min(const histogram_t *h)
{
    return h->count ? h->min : 0;
}

uint64_t histogram_max(const histogram_t *h)
{
    return h->max;
}

double histogram_mean(const histogram_t *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

uint64_t histogram_percentile(const histogram_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (!(q > 0.0)) /* Also catches NaN. */
        return h->min;
    if (q >= 100.0)
        return h->max;
    /* The rank of the wanted value (1-based): ceil(q% of count), guarding against 50.0000001. */
    double exact = q / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact - 1e-9)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < h->buckets; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t low, high;
            bucket_bounds(h->precision, i, &low, &high);
            uint64_t mid = low + (high - low) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max; /* Not reached: the buckets add up to count. */
}

size_t histogram_bucket_count(const histogram_t *h)
{
    return h->buckets;
}

uint64_t histogram_bucket(const histogram_t *h, size_t i, uint64_t *low, uint64_t *high)
{
    assert(i < h->buckets);
    bucket_bounds(h->precision, i, low, high);
    if (i == h->buckets - 1 && h->max > *high)
        *high = h->max; /* The last bucket also holds the values above the maximum. */
    return h->counts[i];
}
