/*
 * near_map — a bounded map from product id to a byte string with an expiry: the storage of the
 * near cache (near_cache.h), and the policies it was chosen from.
 *
 * The map holds at most max_bytes, counting each entry's value plus its bookkeeping
 * (near_map_charge). When a new entry does not fit, older ones are evicted by the map's policy:
 *   NEAR_MAP_LRU      least recently used: a hit moves the entry to the front of one list.
 *   NEAR_MAP_S3FIFO   S3-FIFO (Yang et al., SOSP 2023): new entries enter a small FIFO (a tenth
 *                     of the bytes); those hit while there move on to the main FIFO, the others
 *                     leave and are remembered as ghosts (ids only), so that one coming back goes
 *                     straight to the main FIFO. The main FIFO gives an entry hit since its last
 *                     pass another round (a 2-bit counter). A hit only raises that counter: no
 *                     list is touched on the hit path, and one-hit wonders (scans) never reach
 *                     the main FIFO.
 * docs/caching-lessons.md has the hit ratios of both on Zipf traces (tests/sim/near_policy.c);
 * the near cache uses S3-FIFO.
 *
 * Not thread-safe: one map belongs to one event loop. Never blocks.
 */
#ifndef CACHEME_NEAR_MAP_H
#define CACHEME_NEAR_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct near_map near_map_t;

typedef enum {
    NEAR_MAP_LRU = 0, /* Least recently used. */
    NEAR_MAP_S3FIFO   /* S3-FIFO: small FIFO, main FIFO with reinsertion, ghost ids. */
} near_map_policy_t;

/* Figures of one map. */
typedef struct {
    size_t entries;     /* Entries held (ghosts not counted). */
    size_t bytes;       /* Their charge (near_map_charge), at most max_bytes. */
    uint64_t evictions; /* Entries removed to make room (not expiries, removals or clears). */
} near_map_stats_t;

/* Creates an empty map of at most max_bytes. Returns 0, or -1 when out of memory. */
int near_map_new(near_map_policy_t policy, size_t max_bytes, near_map_t **out);

/* Frees the map and everything in it. NULL is allowed. */
void near_map_free(near_map_t *m);

/* What an entry of len value bytes counts against max_bytes. */
size_t near_map_charge(size_t len);

/*
 * Looks id up at monotonic time now_ms. Returns 1 and sets *val (valid until the map is next
 * changed) and *len when it holds an entry that has not expired; else 0. An expired entry found is
 * removed. A hit counts as a use for the policy.
 */
int near_map_get(near_map_t *m, int32_t id, long long now_ms, const char **val, size_t *len);

/*
 * Stores a copy of val (len bytes) as id until monotonic time expires_ms, replacing an entry of
 * id, evicting others as needed. Returns 0, or -1 when it cannot be stored (larger than the map,
 * or out of memory; an older entry of id is gone either way).
 */
int near_map_put(near_map_t *m, int32_t id, const char *val, size_t len, long long expires_ms);

/* Removes id's entry, if any. Returns 1 when there was one. */
int near_map_remove(near_map_t *m, int32_t id);

/* Removes every entry and ghost. */
void near_map_clear(near_map_t *m);

void near_map_stats(const near_map_t *m, near_map_stats_t *out);

#endif
