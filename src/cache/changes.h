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
 * Runs on one worker's loop; not thread-safe.
 */
#ifndef CACHEME_CHANGES_H
#define CACHEME_CHANGES_H

#include "server/worker.h"

struct event_base;

typedef struct changes changes_t;

/* Starts listening on base, invalidating through worker w. Returns 0 and sets *out, or -1. */
int changes_new(struct event_base *base, worker_t *w, changes_t **out);

/* Stops listening and frees. */
void changes_free(changes_t *c);


/* Parses a payload "id:version". Returns 0 and sets the outputs, or -1. */
int changes_parse(const char *payload, int32_t *id, long long *version);

#endif
