/*
 * timeline — see timeline.h. Histograms live in one array of max_points * classes pointers, row i
 * holding interval i; coalescing merges rows 2i and 2i+1 into row i.
 */
#include "timeline.h"

#include <assert.h>
#include <stdlib.h>

#define TIMELINE_MAX_CLASSES 16

struct timeline {
    int classes;         /* Histograms per interval. */
    size_t max_points;   /* Rows in cells. */
    uint64_t interval;   /* Current width of an interval. */
    int precision;       /* Of every histogram. */
    uint64_t max_value;  /* Of every histogram. */
    size_t used;         /* 1 + the highest row that received a value; 0 when empty. */
    histogram_t **cells; /* max_points * classes histograms or NULL, row by row. */
};

int timeline_new(int classes, uint64_t interval, size_t max_points, int precision,
                 uint64_t max_value, timeline_t **out)
{
    *out = NULL;
    histogram_t *probe = NULL;
    if (classes < 1 || classes > TIMELINE_MAX_CLASSES || interval == 0 || max_points < 2 ||
        max_points % 2 != 0 || max_points > ((size_t)1 << 20) ||
        histogram_new(precision, max_value, &probe) != 0)
        return -1;
    histogram_free(probe);
    timeline_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -2;
    t->cells = calloc(max_points * (size_t)classes, sizeof(histogram_t *));
    if (t->cells == NULL) {
        free(t);
        return -2;
    }
    t->classes = classes;
    t->max_points = max_points;
    t->interval = interval;
    t->precision = precision;
    t->max_value = max_value;
    *out = t;
    return 0;
}

void timeline_free(timeline_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->max_points * (size_t)t->classes; i++)
        histogram_free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* Merges rows 2i and 2i+1 into row i for every i and doubles the interval. */
static void coalesce(timeline_t *t)
{
    size_t c = (size_t)t->classes;
    for (size_t i = 0; i < t->max_points / 2; i++) {
        for (size_t k = 0; k < c; k++) {
            histogram_t *a = t->cells[2 * i * c + k];
            histogram_t *b = t->cells[(2 * i + 1) * c + k];
            t->cells[2 * i * c + k] = NULL;
            t->cells[(2 * i + 1) * c + k] = NULL;
            if (a == NULL) {
                a = b;
            } else if (b != NULL) {
                int rc = histogram_merge(a, b);
                assert(rc == 0); /* Same shape by construction. */
                (void)rc;
                histogram_free(b);
            }
            t->cells[i * c + k] = a;
        }
    }
    t->interval *= 2;
    t->used = (t->used + 1) / 2;
}

int timeline_record(timeline_t *t, uint64_t at, int cls, uint64_t value)
{
    assert(cls >= 0 && cls < t->classes);
    while (at / t->interval >= t->max_points)
        coalesce(t);
    size_t row = (size_t)(at / t->interval);
    histogram_t **cell = &t->cells[row * (size_t)t->classes + (size_t)cls];
    if (*cell == NULL && histogram_new(t->precision, t->max_value, cell) != 0)
        return -2;
    histogram_record(*cell, value);
    if (row + 1 > t->used)
        t->used = row + 1;
    return 0;
}

size_t timeline_points(const timeline_t *t)
{
    return t->used;
}

uint64_t timeline_interval(const timeline_t *t)
{
    return t->interval;
}

const histogram_t *timeline_histogram(const timeline_t *t, size_t i, int cls)
{
    if (i >= t->max_points || cls < 0 || cls >= t->classes)
        return NULL;
    return t->cells[i * (size_t)t->classes + (size_t)cls];
}
