/*
 * changes — listens to PostgreSQL's change notifications and drops the cached products they name.
 *
 * A trigger on products announces every committed INSERT, UPDATE and DELETE on the channel
 * products_changed as "id:version" (db/schema.sql), whoever made it: this service, psql, pgAdmin.
 * Each event loop has one connection of its own for this, not a pooled one, running LISTEN
 * (application_name cacheme-listener), so that every loop can tell its dashboard subscribers.
 * Each notification raises the product's generation and deletes its value unless this version was
 * already applied (see cache_invalidate): the first loop to hear of a change applies it, the others
 * find it done. When that connection was lost and comes back, changes may
 * have been missed while it was away, and there is no way to know which: every product key is then
 * dropped. The TTL stays the last safety net.
 *
 * Each change heard is reported to the owner through a callback (the dashboard's live feed), with
 * what became of the cached product.
 *
 * Runs on one loop; not thread-safe.
 */
#ifndef CACHEME_CHANGES_H
#define CACHEME_CHANGES_H

#include "cache/cache.h"

#include <stdint.h>

struct event_base;

typedef struct changes changes_t;

/* What a change notification did to the cached product. */
typedef enum {
    CHANGES_DROPPED = 0,         /* The value was deleted and the generation raised. */
    CHANGES_ALREADY_APPLIED = 1, /* This cache had already applied that version (its own write). */
    CHANGES_FAILED = 2           /* Redis did not answer. */
} changes_outcome_t;

/* Called on the loop for every change heard, once the cache has applied it. */
typedef void (*changes_fn)(int32_t id, long long version, changes_outcome_t outcome, void *arg);

/*
 * Starts listening on base, invalidating through cache (which outlives it), and reporting each
 * change to fn (may be NULL) with arg. Returns 0 and sets *out, or -1.
 */
int changes_new(struct event_base *base, cache_t *cache, changes_fn fn, void *arg, changes_t **out);

/* Stops listening and frees. */
void changes_free(changes_t *c);

/* Parses a payload "id:version". Returns 0 and sets the outputs, or -1. */
int changes_parse(const char *payload, int32_t *id, long long *version);

#endif
