/*
 * near_map — see near_map.h.
 *
 * Every entry, and every ghost, is one allocation: the header below followed by its value. It sits
 * in a chained hash table by id and in one of three doubly linked queues (newest at the head):
 * SMALL and MAIN hold values, GHOST holds ids only. LRU uses MAIN alone.
 */
#include "cache/near_map.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* The queues an entry can be in. */
enum { Q_SMALL = 0, Q_MAIN, Q_GHOST, Q_COUNT };

/* The share of the bytes the small FIFO holds before it gives up entries (S3-FIFO: 10 %). */
#define SMALL_SHARE_PERCENT 10
/* The highest value of an entry's use counter (two bits, as in S3-FIFO). */
#define FREQ_MAX 3
/* Ghosts kept at least, whatever the main queue's length. */
#define GHOST_MIN 16
#define BUCKETS_MIN 64

typedef struct entry {
    struct entry *prev;   /* Towards the head (newer) in its queue. */
    struct entry *next;   /* Towards the tail (older). */
    struct entry *hnext;  /* Hash chain. */
    long long expires_ms; /* Monotonic ms after which the entry is not served. */
    uint32_t len;         /* Value bytes (0 for a ghost). */
    int32_t id;           /* Product. */
    uint8_t queue;        /* Q_SMALL, Q_MAIN or Q_GHOST. */
    uint8_t freq;         /* Uses since it entered its queue or was last given a round (S3-FIFO). */
    char data[];          /* The value, NUL-terminated. */
} entry_t;

typedef struct {
    entry_t *head; /* Newest. */
    entry_t *tail; /* Oldest. */
    size_t count;  /* Entries in the queue. */
    size_t bytes;  /* Their charge. */
} queue_t;

struct near_map {
    near_map_policy_t policy; /* Eviction policy. */
    size_t max_bytes;         /* Bound of the values' charge. */
    entry_t **buckets;        /* Hash table, nbuckets (a power of two) chains. */
    size_t nbuckets;          /* Chains. */
    size_t nhashed;           /* Entries and ghosts in the table. */
    queue_t q[Q_COUNT];       /* The queues. */
    uint64_t evictions;       /* Entries evicted to make room. */
};

size_t near_map_charge(size_t len)
{
    return sizeof(entry_t) + len + 1;
}

static size_t entry_charge(const entry_t *e)
{
    return e->queue == Q_GHOST ? 0 : near_map_charge(e->len);
}

/* ---------------------------------------------------------------- hash table --- */

static size_t slot_of(const near_map_t *m, int32_t id)
{
    /* Fibonacci hashing: consecutive ids, the usual case, spread over the table. */
    return (size_t)(((uint32_t)id * 2654435761u) >> 7) & (m->nbuckets - 1);
}

static entry_t *find(const near_map_t *m, int32_t id)
{
    for (entry_t *e = m->buckets[slot_of(m, id)]; e != NULL; e = e->hnext) {
        if (e->id == id)
            return e;
    }
    return NULL;
}

/* Doubles the table when it holds more entries than chains. Failing to grow is not an error. */
static void maybe_grow(near_map_t *m)
{
    if (m->nhashed < m->nbuckets)
        return;
    size_t n = m->nbuckets * 2;
    entry_t **b = calloc(n, sizeof(entry_t *));
    if (b == NULL)
        return;
    entry_t **old = m->buckets;
    size_t oldn = m->nbuckets;
    m->buckets = b;
    m->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        entry_t *e = old[i];
        while (e != NULL) {
            entry_t *next = e->hnext;
            size_t s = slot_of(m, e->id);
            e->hnext = b[s];
            b[s] = e;
            e = next;
        }
    }
    free(old);
}

static void hash_insert(near_map_t *m, entry_t *e)
{
    size_t s = slot_of(m, e->id);
    e->hnext = m->buckets[s];
    m->buckets[s] = e;
    m->nhashed++;
}

static void hash_remove(near_map_t *m, const entry_t *e)
{
    for (entry_t **pp = &m->buckets[slot_of(m, e->id)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == e) {
            *pp = e->hnext;
            m->nhashed--;
            return;
        }
    }
    assert(0 && "entry not in its chain");
}

/* ---------------------------------------------------------------- queues --- */

static void queue_push(near_map_t *m, entry_t *e, int queue)
{
    queue_t *q = &m->q[queue];
    e->queue = (uint8_t)queue;
    e->prev = NULL;
    e->next = q->head;
    if (q->head != NULL)
        q->head->prev = e;
    q->head = e;
    if (q->tail == NULL)
        q->tail = e;
    q->count++;
    q->bytes += entry_charge(e);
}

static void queue_unlink(near_map_t *m, entry_t *e)
{
    queue_t *q = &m->q[e->queue];
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        q->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        q->tail = e->prev;
    q->count--;
    q->bytes -= entry_charge(e);
}

/* Removes e from the queue and the table and frees it. */
static void entry_drop(near_map_t *m, entry_t *e)
{
    queue_unlink(m, e);
    hash_remove(m, e);
    free(e);
}

/* ---------------------------------------------------------------- eviction --- */

static size_t held_bytes(const near_map_t *m)
{
    return m->q[Q_SMALL].bytes + m->q[Q_MAIN].bytes;
}

/* Forgets the oldest ghosts beyond as many as the main queue holds entries. */
static void trim_ghosts(near_map_t *m)
{
    size_t keep = m->q[Q_MAIN].count > GHOST_MIN ? m->q[Q_MAIN].count : GHOST_MIN;
    while (m->q[Q_GHOST].count > keep)
        entry_drop(m, m->q[Q_GHOST].tail);
}

/* The oldest small entry leaves: to the main queue if it was used there, else as a ghost. */
static void evict_small(near_map_t *m)
{
    entry_t *t = m->q[Q_SMALL].tail;
    queue_unlink(m, t);
    if (t->freq > 0) {
        t->freq = 0;
        queue_push(m, t, Q_MAIN);
        return;
    }
    hash_remove(m, t);
    m->evictions++;
    entry_t *ghost = malloc(sizeof *ghost);
    if (ghost != NULL) {
        memset(ghost, 0, sizeof *ghost);
        ghost->id = t->id;
        hash_insert(m, ghost);
        queue_push(m, ghost, Q_GHOST);
        trim_ghosts(m);
    }
    free(t);
}

/* The oldest main entry leaves, unless it was used since its last round: then it gets another. */
static void evict_main(near_map_t *m)
{
    entry_t *t = m->q[Q_MAIN].tail;
    if (m->policy == NEAR_MAP_S3FIFO && t->freq > 0) {
        t->freq--;
        queue_unlink(m, t);
        queue_push(m, t, Q_MAIN);
        return;
    }
    m->evictions++;
    entry_drop(m, t);
}

/* Makes one step towards room: an eviction, or (S3-FIFO) a move between queues. */
static void evict_step(near_map_t *m)
{
    if (m->policy == NEAR_MAP_S3FIFO && m->q[Q_SMALL].count > 0 &&
        (m->q[Q_SMALL].bytes * 100 >= m->max_bytes * SMALL_SHARE_PERCENT ||
         m->q[Q_MAIN].count == 0)) {
        evict_small(m);
        return;
    }
    evict_main(m);
}

/* ---------------------------------------------------------------- the map --- */

int near_map_new(near_map_policy_t policy, size_t max_bytes, near_map_t **out)
{
    near_map_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return -1;
    m->buckets = calloc(BUCKETS_MIN, sizeof(entry_t *));
    if (m->buckets == NULL) {
        free(m);
        return -1;
    }
    m->nbuckets = BUCKETS_MIN;
    m->policy = policy;
    m->max_bytes = max_bytes;
    *out = m;
    return 0;
}

void near_map_clear(near_map_t *m)
{
    for (int q = 0; q < Q_COUNT; q++) {
        while (m->q[q].tail != NULL)
            entry_drop(m, m->q[q].tail);
    }
    assert(m->nhashed == 0);
}

void near_map_free(near_map_t *m)
{
    if (m == NULL)
        return;
    near_map_clear(m);
    free(m->buckets);
    free(m);
}

int near_map_get(near_map_t *m, int32_t id, long long now_ms, const char **val, size_t *len)
{
    entry_t *e = find(m, id);
    if (e == NULL || e->queue == Q_GHOST)
        return 0;
    if (now_ms >= e->expires_ms) {
        entry_drop(m, e);
        return 0;
    }
    if (m->policy == NEAR_MAP_LRU) {
        if (m->q[Q_MAIN].head != e) {
            queue_unlink(m, e);
            queue_push(m, e, Q_MAIN);
        }
    } else if (e->freq < FREQ_MAX) {
        e->freq++;
    }
    *val = e->data;
    *len = e->len;
    return 1;
}

int near_map_put(near_map_t *m, int32_t id, const char *val, size_t len, long long expires_ms)
{
    int was_ghost = 0;
    entry_t *old = find(m, id);
    if (old != NULL) {
        was_ghost = old->queue == Q_GHOST;
        entry_drop(m, old);
    }
    size_t charge = near_map_charge(len);
    if (charge > m->max_bytes || len > UINT32_MAX)
        return -1;
    while (held_bytes(m) + charge > m->max_bytes)
        evict_step(m);
    entry_t *e = malloc(charge);
    if (e == NULL)
        return -1;
    memset(e, 0, sizeof *e);
    e->id = id;
    e->len = (uint32_t)len;
    e->expires_ms = expires_ms;
    memcpy(e->data, val, len);
    e->data[len] = '\0';
    maybe_grow(m);
    hash_insert(m, e);
    queue_push(m, e, m->policy == NEAR_MAP_LRU || was_ghost ? Q_MAIN : Q_SMALL);
    return 0;
}

int near_map_remove(near_map_t *m, int32_t id)
{
    entry_t *e = find(m, id);
    if (e == NULL || e->queue == Q_GHOST)
        return 0;
    entry_drop(m, e);
    return 1;
}

void near_map_stats(const near_map_t *m, near_map_stats_t *out)
{
    out->entries = m->q[Q_SMALL].count + m->q[Q_MAIN].count;
    out->bytes = held_bytes(m);
    out->evictions = m->evictions;
}
