/*
 * keydist — see keydist.h. The Zipf sampler follows W. Hörmann and G. Derflinger, "Rejection-
 * inversion to generate variates from monotone discrete distributions" (ACM TOMACS, 1996), as
 * Apache Commons RNG implements it: draw u uniformly under the integral of h(x) = x^-s between 0.5
 * and N + 0.5, invert it, round to the nearest integer k, and accept k when u falls under the part
 * of the integral that belongs to k. More than 9 draws in 10 are accepted at once for any s.
 */
#include "keydist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct keydist {
    keydist_kind_t kind; /* Shape. */
    uint32_t n;          /* Ids are 1..n. */
    uint32_t hot;        /* The id of KEYDIST_HOT. */
    double s;            /* Zipf exponent. */
    double h_x1;         /* Zipf: H(1.5) - 1, the lower end of u's range. */
    double h_n;          /* Zipf: H(n + 0.5), the upper end of u's range. */
    double accept_s;     /* Zipf: the squeeze: k - x <= accept_s accepts without computing H. */
    uint64_t state[4];   /* xoshiro256** state. */
};

/* ---------------------------------------------------------------- generator --- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(keydist_t *kd)
{
    uint64_t *s = kd->state;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double keydist_uniform(keydist_t *kd)
{
    return (double)(next_u64(kd) >> 11) * 0x1.0p-53;
}

/* ---------------------------------------------------------------- Zipf --- */

/* log1p(x) / x, continuous at 0. */
static double helper1(double x)
{
    return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

/* expm1(x) / x, continuous at 0. */
static double helper2(double x)
{
    return fabs(x) > 1e-8 ? expm1(x) / x
                          : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* h(x) = x^-s. */
static double zipf_h(const keydist_t *kd, double x)
{
    return exp(-kd->s * log(x));
}

/* H(x), an antiderivative of h: (x^(1-s) - 1) / (1 - s), and log(x) when s = 1. */
static double zipf_big_h(const keydist_t *kd, double x)
{
    double log_x = log(x);
    return helper2((1.0 - kd->s) * log_x) * log_x;
}

/* The inverse of H. */
static double zipf_big_h_inverse(const keydist_t *kd, double x)
{
    double t = x * (1.0 - kd->s);
    if (t < -1.0)
        t = -1.0; /* Rounding can push it just past the pole. */
    return exp(helper1(t) * x);
}

static uint32_t zipf_next(keydist_t *kd)
{
    for (;;) {
        double u = kd->h_n + keydist_uniform(kd) * (kd->h_x1 - kd->h_n);
        double x = zipf_big_h_inverse(kd, u);
        double k = floor(x + 0.5);
        if (k < 1.0)
            k = 1.0;
        else if (k > (double)kd->n)
            k = (double)kd->n;
        if (k - x <= kd->accept_s || u >= zipf_big_h(kd, k + 0.5) - zipf_h(kd, k))
            return (uint32_t)k;
    }
}

/* ---------------------------------------------------------------- public --- */

int keydist_new(keydist_kind_t kind, uint32_t n, double s, uint32_t hot, uint64_t seed,
                keydist_t **out)
{
    *out = NULL;
    if (n < 1 || (kind == KEYDIST_ZIPF && !(s > 0.0 && s <= KEYDIST_MAX_S)) ||
        (kind == KEYDIST_HOT && hot < 1) || kind < KEYDIST_UNIFORM || kind > KEYDIST_HOT)
        return -1;
    keydist_t *kd = calloc(1, sizeof *kd);
    if (kd == NULL)
        return -2;
    kd->kind = kind;
    kd->n = n;
    kd->hot = hot;
    kd->s = s;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        kd->state[i] = splitmix64(&x);
    if (kind == KEYDIST_ZIPF) {
        kd->h_x1 = zipf_big_h(kd, 1.5) - 1.0;
        kd->h_n = zipf_big_h(kd, (double)n + 0.5);
        kd->accept_s = 2.0 - zipf_big_h_inverse(kd, zipf_big_h(kd, 2.5) - zipf_h(kd, 2.0));
    }
    *out = kd;
    return 0;
}

void keydist_free(keydist_t *kd)
{
    free(kd);
}

uint32_t keydist_next(keydist_t *kd)
{
    switch (kd->kind) {
    case KEYDIST_HOT:
        return kd->hot;
    case KEYDIST_ZIPF:
        return zipf_next(kd);
    case KEYDIST_UNIFORM:
        break;
    }
    /* Lemire's multiply-shift: unbiased enough for n far below 2^32 (the bias is n / 2^64). */
    return (uint32_t)(((unsigned __int128)next_u64(kd) * kd->n) >> 64) + 1;
}

static const char *const names[] = {"uniform", "zipf", "hot"};

int keydist_parse(const char *name, keydist_kind_t *out)
{
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (keydist_kind_t)i;
            return 0;
        }
    }
    return -1;
}

const char *keydist_name(keydist_kind_t kind)
{
    return kind >= KEYDIST_UNIFORM && kind <= KEYDIST_HOT ? names[kind] : "?";
}
