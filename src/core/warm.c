/*
 * warm — see warm.h.
 */
#include "core/warm.h"

#include "core/clock.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* One published event: the run's figures when it happened, and what happened. */
typedef struct {
    uint64_t seq;        /* Its number (1, 2, ...); 0: the slot was never used. */
    warm_event_t kind;   /* What happened. */
    warm_status_t state; /* The run's figures then. */
} ring_slot_t;

/* Everything below is guarded by lock; the loops only ever copy in and out under it. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static warm_status_t current;             /* The running or last run. */
static ring_slot_t ring[WARM_EVENT_RING]; /* The newest events, by seq % WARM_EVENT_RING. */
static uint64_t last_seq;                 /* The newest event's seq. */
static uint64_t runs;                     /* Runs begun. */
static warm_counters_t counters;          /* /metrics. */

/* The names of the states and events, by their enums: the one table of each. */
static const char *const STATE_NAMES[] = {[WARM_IDLE] = "idle",
                                          [WARM_RUNNING] = "running",
                                          [WARM_DONE] = "done",
                                          [WARM_FAILED] = "failed"};
static const char *const EVENT_NAMES[] = {[WARM_EVENT_STARTED] = "started",
                                          [WARM_EVENT_PROGRESS] = "progress",
                                          [WARM_EVENT_DONE] = "done",
                                          [WARM_EVENT_FAILED] = "failed"};

/* Appends an event with the current figures. Called with lock held. */
static void publish(warm_event_t kind)
{
    ring_slot_t *slot = &ring[++last_seq % WARM_EVENT_RING];
    slot->seq = last_seq;
    slot->kind = kind;
    slot->state = current;
}

/* Moves the counters by what s adds to the current figures. Called with lock held. */
static void count(const warm_status_t *s)
{
    counters.warmed += (uint64_t)(s->warmed - current.warmed);
    counters.skipped += (uint64_t)(s->skipped - current.skipped);
    counters.failed += (uint64_t)(s->failed - current.failed);
    counters.db_queries += (uint64_t)(s->db_queries - current.db_queries);
}

/* Copies the figures a run reports (not its identity, state or start). Called with lock held. */
static void take_figures(const warm_status_t *s)
{
    count(s);
    current.total = s->total;
    current.warmed = s->warmed;
    current.skipped = s->skipped;
    current.failed = s->failed;
    current.db_queries = s->db_queries;
    current.elapsed_ms = s->elapsed_ms;
}

int warm_begin(const char *mode, const char *trigger, int rate, warm_status_t *out)
{
    pthread_mutex_lock(&lock);
    if (current.state == WARM_RUNNING) {
        *out = current;
        pthread_mutex_unlock(&lock);
        return -1;
    }
    memset(&current, 0, sizeof current);
    current.run = ++runs;
    current.state = WARM_RUNNING;
    snprintf(current.mode, sizeof current.mode, "%s", mode);
    snprintf(current.trigger, sizeof current.trigger, "%s", trigger);
    current.rate = rate;
    current.total = -1;
    current.started_ms = clock_wall_ms();
    publish(WARM_EVENT_STARTED);
    *out = current;
    pthread_mutex_unlock(&lock);
    return 0;
}

void warm_progress(const warm_status_t *s, int publish_it)
{
    pthread_mutex_lock(&lock);
    if (current.state == WARM_RUNNING && current.run == s->run) {
        take_figures(s);
        if (publish_it)
            publish(WARM_EVENT_PROGRESS);
    }
    pthread_mutex_unlock(&lock);
}

void warm_finish(const warm_status_t *s, int failed, const char *reason)
{
    pthread_mutex_lock(&lock);
    if (current.state == WARM_RUNNING && current.run == s->run) {
        take_figures(s);
        current.state = failed ? WARM_FAILED : WARM_DONE;
        snprintf(current.reason, sizeof current.reason, "%s", reason != NULL ? reason : "");
        if (failed)
            counters.runs_failed++;
        else
            counters.runs_done++;
        publish(failed ? WARM_EVENT_FAILED : WARM_EVENT_DONE);
    }
    pthread_mutex_unlock(&lock);
}

void warm_read(warm_status_t *out)
{
    pthread_mutex_lock(&lock);
    *out = current;
    pthread_mutex_unlock(&lock);
}

uint64_t warm_event_cursor(void)
{
    pthread_mutex_lock(&lock);
    uint64_t seq = last_seq;
    pthread_mutex_unlock(&lock);
    return seq;
}

int warm_event_next(uint64_t *cursor, warm_status_t *out, warm_event_t *kind)
{
    int found = 0;
    pthread_mutex_lock(&lock);
    if (*cursor < last_seq) {
        uint64_t next = *cursor + 1;
        if (last_seq - next >= WARM_EVENT_RING)
            next = last_seq - WARM_EVENT_RING + 1; /* Fell behind the ring: the oldest kept. */
        const ring_slot_t *slot = &ring[next % WARM_EVENT_RING];
        assert(slot->seq == next);
        *out = slot->state;
        *kind = slot->kind;
        *cursor = next;
        found = 1;
    }
    pthread_mutex_unlock(&lock);
    return found;
}

const char *warm_state_name(warm_state_t state)
{
    assert((size_t)state < sizeof STATE_NAMES / sizeof STATE_NAMES[0]);
    return STATE_NAMES[state];
}

json_t *warm_status_json(const warm_status_t *s, const warm_event_t *as_event)
{
    const char *state = as_event != NULL ? EVENT_NAMES[*as_event] : warm_state_name(s->state);
    int started = s->run > 0;
    return json_pack(
        "{s:I,s:s,s:s?,s:s?,s:o,s:o,s:I,s:I,s:I,s:I,s:o,s:I,s:s?}", "run", (json_int_t)s->run,
        "state", state, "mode", started ? s->mode : NULL, "trigger", started ? s->trigger : NULL,
        "rate", started ? json_integer(s->rate) : json_null(), "total",
        started && s->total >= 0 ? json_integer(s->total) : json_null(), "warmed",
        (json_int_t)s->warmed, "skipped", (json_int_t)s->skipped, "failed", (json_int_t)s->failed,
        "db_queries", (json_int_t)s->db_queries, "started_at",
        started ? json_real((double)s->started_ms / 1000.0) : json_null(), "elapsed_ms",
        (json_int_t)s->elapsed_ms, "reason", s->reason[0] != '\0' ? s->reason : NULL);
}

void warm_counters(warm_counters_t *out)
{
    pthread_mutex_lock(&lock);
    *out = counters;
    pthread_mutex_unlock(&lock);
}
