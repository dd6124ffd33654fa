/*
 * near_policy — replays Zipf-distributed request traces through near_map with each eviction
 * policy and prints the hit ratios as a markdown table (docs/caching-lessons.md, "A near cache in
 * every process"). `make l1sim` builds and runs it.
 *
 * The trace: KEYS product ids, REQUESTS requests whose ids follow a Zipf law of exponent s (the
 * id of rank r is requested with probability proportional to 1 / r^s), ranks shuffled over the
 * ids; a fixed seed, so every run prints the same table. Every value is VALUE_BYTES long (a
 * product's JSON is 200-300 bytes), so a map of B bytes holds B / near_map_charge(VALUE_BYTES)
 * entries; the sizes are given as that share of the keys. A third trace mixes the s = 0.9 one
 * with a scan: every tenth request reads the next id of a sequential sweep over all the keys, the
 * access pattern of a batch job that LRU is known to suffer from.
 */
#include "cache/near_map.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define KEYS 100000
#define REQUESTS 1000000
#define VALUE_BYTES 256

/* xorshift64*: reproducible and fast; statistical quality is ample here. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static double rng_unit(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* Fills trace with REQUESTS ids: Zipf(s) over KEYS, and with scan_every > 0 a sweep besides. */
static void make_trace(double s, int scan_every, int32_t *trace)
{
    static double cdf[KEYS];
    static int32_t id_of_rank[KEYS];
    double sum = 0;
    for (int r = 0; r < KEYS; r++) {
        sum += 1.0 / pow(r + 1, s);
        cdf[r] = sum;
        id_of_rank[r] = r + 1;
    }
    for (int r = KEYS - 1; r > 0; r--) {
        int j = (int)(rng_unit() * (r + 1));
        int32_t t = id_of_rank[r];
        id_of_rank[r] = id_of_rank[j];
        id_of_rank[j] = t;
    }
    int32_t sweep = 0;
    for (int i = 0; i < REQUESTS; i++) {
        if (scan_every > 0 && i % scan_every == 0) {
            trace[i] = KEYS + 1 + sweep; /* Ids the Zipf part never asks for. */
            sweep = (sweep + 1) % KEYS;
            continue;
        }
        double u = rng_unit() * sum;
        int lo = 0, hi = KEYS - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        trace[i] = id_of_rank[lo];
    }
}

/* The hit ratio of policy with room for `entries` values on trace. */
static double replay(near_map_policy_t policy, size_t entries, const int32_t *trace)
{
    static const char value[VALUE_BYTES] = {0};
    near_map_t *m = NULL;
    if (near_map_new(policy, entries * near_map_charge(VALUE_BYTES), &m) != 0) {
        fprintf(stderr, "near_policy: out of memory\n");
        exit(1);
    }
    long hits = 0;
    for (int i = 0; i < REQUESTS; i++) {
        const char *v;
        size_t len;
        if (near_map_get(m, trace[i], 0, &v, &len))
            hits++;
        else
            near_map_put(m, trace[i], value, VALUE_BYTES, 1);
    }
    near_map_free(m);
    return (double)hits / REQUESTS;
}

int main(void)
{
    static int32_t trace[REQUESTS];
    static const struct {
        const char *name;
        double s;
        int scan_every;
    } traces[] = {
        {"Zipf s=0.9", 0.9, 0}, {"Zipf s=1.1", 1.1, 0}, {"Zipf s=0.9 + 10 % scan", 0.9, 10}};
    static const double shares[] = {0.001, 0.01, 0.1};
    printf(
        "%d keys, %d requests, values of %d bytes; hit ratio by map size (share of the keys)\n\n",
        KEYS, REQUESTS, VALUE_BYTES);
    printf("| trace | size | entries | LRU | S3-FIFO | S3-FIFO − LRU |\n");
    printf("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t t = 0; t < sizeof traces / sizeof traces[0]; t++) {
        make_trace(traces[t].s, traces[t].scan_every, trace);
        for (size_t k = 0; k < sizeof shares / sizeof shares[0]; k++) {
            size_t entries = (size_t)(KEYS * shares[k]);
            double lru = replay(NEAR_MAP_LRU, entries, trace);
            double s3 = replay(NEAR_MAP_S3FIFO, entries, trace);
            printf("| %s | %.1f %% | %zu | %.2f %% | %.2f %% | %+.2f |\n", traces[t].name,
                   shares[k] * 100, entries, lru * 100, s3 * 100, (s3 - lru) * 100);
        }
    }
    return 0;
}
