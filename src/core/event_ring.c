/*
 * event_ring — see event_ring.h.
 */
#include "core/event_ring.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t seq;  /* Its number (1, 2, ...); 0: never used. */
    char type[32]; /* The event's type. */
    char *json;    /* Its data. */
} slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t slots[EVENT_RING_SIZE]; /* The newest events, by seq % EVENT_RING_SIZE. */
static uint64_t newest;               /* The newest event's seq. */

int event_ring_push(const char *type, const char *json)
{
    size_t tlen = strlen(type);
    if (tlen >= sizeof slots[0].type)
        return -1;
    char *copy = strdup(json);
    if (copy == NULL)
        return -1;
    pthread_mutex_lock(&lock);
    slot_t *s = &slots[++newest % EVENT_RING_SIZE];
    char *old = s->json;
    s->seq = newest;
    memcpy(s->type, type, tlen + 1);
    s->json = copy;
    pthread_mutex_unlock(&lock);
    free(old);
    return 0;
}

int event_ring_next(uint64_t *cursor, event_ring_entry_t *out, uint64_t *missed)
{
    pthread_mutex_lock(&lock);
    if (*cursor >= newest) {
        pthread_mutex_unlock(&lock);
        return 0;
    }
    uint64_t next = *cursor + 1;
    uint64_t oldest = newest >= EVENT_RING_SIZE ? newest - EVENT_RING_SIZE + 1 : 1;
    if (next < oldest) {
        if (missed != NULL)
            *missed += oldest - next;
        next = oldest;
    }
    const slot_t *s = &slots[next % EVENT_RING_SIZE];
    *cursor = next;
    memcpy(out->type, s->type, sizeof out->type);
    out->json = strdup(s->json);
    pthread_mutex_unlock(&lock);
    return out->json != NULL;
}

uint64_t event_ring_cursor(void)
{
    pthread_mutex_lock(&lock);
    uint64_t c = newest;
    pthread_mutex_unlock(&lock);
    return c;
}
