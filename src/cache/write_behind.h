/*
 * write_behind — CACHE_WRITE_MODE=write-behind: writes are acknowledged once they are queued in a
 * Redis Stream and the cache holds the new state; one applier per process replays the stream into
 * PostgreSQL later, in order.
 *
 * Enqueueing (any loop): the product's current state comes from the cache (or PostgreSQL on a
 * miss); the new full state is computed, then one Lua script appends it to the stream
 * `cacheme:writes` and stores it in the cache (or deletes the key), atomically: a write is either
 * queued and visible, or neither.
 *
 * Applying (worker 0 of each process, one process at a time): the process that holds the key
 * `cacheme:writes:applier` (SET NX PX 5 s, renewed every second, released on a clean stop) reads
 * the stream as consumer `applier` of group `cacheme-writers`. With one applier, entries of a
 * product are applied in stream order even when several instances run; after a crash, the next
 * applier first re-reads the unacknowledged entries under that same name (and takes over, with
 * XAUTOCLAIM, any left under another name), then goes on with new ones. Each entry is applied by
 * cacheme_apply_write() in one transaction that also records its stream id, so an entry applied but
 * not acknowledged before a crash is not applied twice. Entries are applied one at a time, in
 * stream order. An entry that fails for a reason of the moment (connection lost, deadline,
 * serialization failure, PostgreSQL down or overloaded) is retried with backoff (50 ms doubling to
 * 3 s) and never skipped. An entry PostgreSQL refuses for good (SQLSTATE class 22, data exception,
 * or 23, integrity constraint violation), or one that cannot be read as a write at all, is parked:
 * copied, with the error and the time, to the dead-letter stream `cacheme:writes:dead`, and
 * acknowledged, in one step, so that the entries after it go on. A parked entry is never applied;
 * it counts down its product's pending count like an applied one, and when no other write of the
 * product is queued its cached state (which PostgreSQL refused) is deleted, so that reads return
 * what PostgreSQL holds.
 *
 * Trimming: once a second the applier removes from the stream every entry that all of its groups
 * have acknowledged (XTRIM MINID, up to the oldest entry still pending or, with none pending, past
 * the last one delivered; stream_trim.h), so the stream holds what is not yet applied plus about a
 * second of applied writes, instead of every write ever queued.
 *
 * Durability is Redis's: an acknowledged write survives a crash of cacheme, and survives a crash of
 * Redis only as far as Redis's persistence (appendonly, fsync policy) keeps it.
 */
#ifndef CACHEME_WRITE_BEHIND_H
#define CACHEME_WRITE_BEHIND_H

#include <stdint.h>

#include "cache/dead_letter.h"
#include "model/product_input.h"
#include "cache/cache.h"

struct event_base;

typedef struct write_behind write_behind_t;

/* The queue's figures, for /cache/stats and /metrics. A plain value; the caller owns it. */
typedef struct {
    long long pending;      /* Entries delivered to a consumer and not yet acknowledged. */
    long long lag;          /* Entries not yet delivered to any consumer. */
    long long applied;      /* Entries this process applied to PostgreSQL. */
    long long retries;      /* Attempts that failed and were retried. */
    long long dead_letters; /* Entries this process parked in the dead-letter stream. */
    long long trimmed;      /* Acknowledged entries this process trimmed from the stream. */
} write_behind_stats_t;

/* Fills *out. Thread-safe. */
void write_behind_stats(write_behind_stats_t *out);

/* Starts the applier on the loop of cache (which outlives it). Returns 0 and sets *out, or -1. */
int write_behind_start(struct event_base *base, cache_t *cache, write_behind_t **out);

/*
 * Stops the applier: nothing new is started, and answers still outstanding are ignored (an entry
 * applied but not acknowledged is found done next time). Call before freeing the loop's Redis
 * client and PostgreSQL pool, and write_behind_free after them.
 */
void write_behind_stop(write_behind_t *wb);

/*
 * Stops applying and hands the applier's role over at once (instead of after the lease expires).
 * Call while the loop still runs, at the start of a clean shutdown; write_behind_stop follows.
 */
void write_behind_release(write_behind_t *wb);
void write_behind_free(write_behind_t *wb);

/* Outcome of an enqueue. */
typedef enum {
    WRITE_BEHIND_QUEUED = 0,   /* Queued: json is the new product, NULL for a deletion. */
    WRITE_BEHIND_NOT_FOUND,    /* No such product. */
    WRITE_BEHIND_REDIS_FAILED, /* Redis failed: nothing was queued. */
    WRITE_BEHIND_NO_STATE /* The current state could not be read (PostgreSQL down, not cached). */
} write_behind_outcome_t;

typedef void (*write_behind_fn)(write_behind_outcome_t outcome, const char *json, void *arg);

/*
 * Queues a replacement (PUT), a change of some fields (PATCH, in->fields says which) or, with in
 * NULL, a deletion of product id. fn is called exactly once.
 */
void write_behind_enqueue(cache_t *cache, int32_t id, const product_input_t *in, write_behind_fn fn,
                          void *arg);

#endif
