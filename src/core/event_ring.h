/*
 * event_ring — the live events of this process for the /events subscribers of every event loop:
 * each loop's hub (api/api_events) pushes the writes made through it and reads, on its own timer,
 * what every loop pushed, its own included, so that all of them relay the same events in one order.
 * (Between instances they travel on Redis Pub/Sub, cache/event_bus; this ring works with Redis down
 * and with EVENTS_FANOUT off.)
 *
 * A ring of the EVENT_RING_SIZE newest events, each a type and its data as JSON text. A reader
 * keeps a cursor; one that falls more than EVENT_RING_SIZE events behind skips to the oldest
 * still kept, and is told how many it missed. Thread-safe: a mutex guards the ring, held for a
 * copy only.
 */
#ifndef CACHEME_EVENT_RING_H
#define CACHEME_EVENT_RING_H

#include <stddef.h>
#include <stdint.h>

#define EVENT_RING_SIZE 256

/* One event read from the ring. */
typedef struct {
    char type[32]; /* NUL-terminated. */
    char *json;    /* The data, NUL-terminated; malloc'ed, the reader frees it. */
} event_ring_entry_t;

/*
 * Appends an event: type (at most 31 bytes) and data as JSON text (copied). Returns 0, or -1 (out
 * of memory or type too long; nothing appended).
 */
int event_ring_push(const char *type, const char *json);

/*
 * Reads the event after *cursor into *out and advances the cursor. Returns 1, or 0 when there is
 * none (or out of memory: the event is skipped). *missed (may be NULL) is increased by the events
 * that were overwritten before the reader got to them.
 */
int event_ring_next(uint64_t *cursor, event_ring_entry_t *out, uint64_t *missed);

/* A new reader's cursor: the events pushed from now on. */
uint64_t event_ring_cursor(void);

#endif
