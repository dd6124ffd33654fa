/*
 * keydist — the key distribution of `cacheme-bench`: which product id the next request asks for.
 *
 * Three shapes: uniform over 1..N; Zipf over 1..N with exponent s (id k is asked with probability
 * proportional to 1/k^s, so id 1 is the hottest); and a single hot key. Zipf sampling uses
 * Hörmann and Derflinger's rejection-inversion method: constant time and memory for any N, exact
 * (no table, no truncation). The generator is xoshiro256** seeded through splitmix64, so a seed
 * gives the same sequence on every machine.
 *
 * A keydist_t is not thread-safe; give each thread its own (with its own seed).
 */
#ifndef CACHEME_KEYDIST_H
#define CACHEME_KEYDIST_H

#include <stdint.h>

typedef enum {
    KEYDIST_UNIFORM = 0, /* Every id of 1..N equally often. */
    KEYDIST_ZIPF,        /* Id k with probability proportional to 1/k^s. */
    KEYDIST_HOT          /* Always the same id. */
} keydist_kind_t;

typedef struct keydist keydist_t;

#define KEYDIST_MAX_S 10.0 /* Largest Zipf exponent accepted (beyond it id 1 is all there is). */

/*
 * Creates a distribution over ids 1..n (n >= 1). s is the Zipf exponent, in (0, KEYDIST_MAX_S],
 * used by KEYDIST_ZIPF only; hot is the id KEYDIST_HOT returns (>= 1, may exceed n). Returns 0 and
 * sets *out (free it with keydist_free), -1 for invalid arguments, -2 when memory is short.
 */
int keydist_new(keydist_kind_t kind, uint32_t n, double s, uint32_t hot, uint64_t seed,
                keydist_t **out);

/* Frees the distribution; NULL is allowed. */
void keydist_free(keydist_t *kd);

/* The next id. */
uint32_t keydist_next(keydist_t *kd);

/* A uniform number in [0, 1) from the same generator (for the read/write coin). */
double keydist_uniform(keydist_t *kd);

/* Parses "uniform", "zipf" or "hot". Returns 0 and sets *out, or -1. */
int keydist_parse(const char *name, keydist_kind_t *out);

/* The name keydist_parse accepts for kind. */
const char *keydist_name(keydist_kind_t kind);

#endif
