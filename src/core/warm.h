/*
 * warm — the state of the instance's cache warming, shared by every event loop: the current or
 * last run (GET /cache/warm), the events it published (relayed on /events by each loop's hub), and
 * the counters of /metrics.
 *
 * One run at a time per instance: warm_begin refuses a second while one is running, whichever loop
 * asks. The run itself (cache/warmer) lives on one loop and reports here as it goes; every loop's
 * events hub polls warm_event_next for what it has not relayed yet. Thread-safe: a mutex guards
 * the status, the ring of events and the counters (held for a copy, never across a call out), so
 * nothing here blocks for longer than a copy.
 */
#ifndef CACHEME_WARM_H
#define CACHEME_WARM_H

#include <jansson.h>
#include <stdint.h>

/* Where a run is, as GET /cache/warm reports it. */
typedef enum {
    WARM_IDLE = 0, /* No run since the start. */
    WARM_RUNNING,  /* A run is under way. */
    WARM_DONE,     /* The last run finished (possibly having warmed nothing: see reason). */
    WARM_FAILED    /* The last run stopped on an error (Redis, PostgreSQL, shutdown). */
} warm_state_t;

/* What an event on /events says happened ("state" of an `event: warm`). */
typedef enum {
    WARM_EVENT_STARTED = 0, /* A run began. */
    WARM_EVENT_PROGRESS,    /* A page of products was handled. */
    WARM_EVENT_DONE,        /* The run finished. */
    WARM_EVENT_FAILED       /* The run stopped on an error. */
} warm_event_t;

/* A run's figures. A plain value the caller owns. */
typedef struct {
    uint64_t run;         /* Run number since the start (1, 2, ...); 0: none yet. */
    warm_state_t state;   /* Where it is. */
    char mode[16];        /* "all" or "top:N". */
    char trigger[16];     /* "startup" (CACHE_WARM) or "request" (POST /cache/warm). */
    int rate;             /* Products considered per second at most. */
    long long total;      /* Products to consider (-1 while not known yet). */
    long long warmed;     /* Products read from PostgreSQL and stored. */
    long long skipped;    /* Products already cached, gone, or changed meanwhile: not stored. */
    long long failed;     /* Products whose store Redis failed. */
    long long db_queries; /* Queries the run sent to PostgreSQL. */
    long long started_ms; /* Unix ms of its start. */
    long long elapsed_ms; /* How long it has run (or ran). */
    char reason[160];     /* Why it warmed nothing or failed; "" when there is nothing to say. */
} warm_status_t;

/*
 * Starts run bookkeeping for mode/trigger/rate, unless a run is under way. Returns 0 with the new
 * run's status in *out (state WARM_RUNNING, an `event: warm` "started" published), or -1 with the
 * running one's in *out.
 */
int warm_begin(const char *mode, const char *trigger, int rate, warm_status_t *out);

/*
 * Records the running run's figures (s->run must be the running run; other fields but the state
 * and the start are copied) and publishes a "progress" event when publish is 1.
 */
void warm_progress(const warm_status_t *s, int publish);

/*
 * Ends the running run with its last figures: WARM_DONE, or WARM_FAILED when failed is 1; reason
 * (may be "") says why. Publishes "done" or "failed" and counts the run in the counters.
 */
void warm_finish(const warm_status_t *s, int failed, const char *reason);

/* The current or last run (state WARM_IDLE and run 0 before the first). */
void warm_read(warm_status_t *out);

/*
 * The oldest event after *cursor (0 before the first): returns 1 with it in *out and its kind in
 * *kind and advances *cursor, or 0 when there is none. A cursor the ring has passed (more than
 * WARM_EVENT_RING events behind) skips to the oldest still kept. warm_event_cursor gives a new
 * subscriber's cursor: nothing before it is replayed.
 */
#define WARM_EVENT_RING 64
int warm_event_next(uint64_t *cursor, warm_status_t *out, warm_event_t *kind);
uint64_t warm_event_cursor(void);

/*
 * The status as JSON (new reference): run, state, mode, trigger, rate, total (null while not
 * known), warmed, skipped, failed, db_queries, started_at (Unix s, null before a run), elapsed_ms,
 * reason (null when ""). state is the run's state for GET /cache/warm (as_event NULL), or the
 * event's name (started, progress, done, failed).
 */
json_t *warm_status_json(const warm_status_t *s, const warm_event_t *as_event);

/* The name of a state ("idle", "running", "done", "failed"). */
const char *warm_state_name(warm_state_t state);

/* Counters of /metrics, since the start. A plain value (warm_counters copies them). */
typedef struct {
    uint64_t runs_done;   /* Runs that finished. */
    uint64_t runs_failed; /* Runs that stopped on an error. */
    uint64_t warmed;      /* Products stored by runs. */
    uint64_t skipped;     /* Products runs did not store. */
    uint64_t failed;      /* Products whose store failed. */
    uint64_t db_queries;  /* Queries runs sent to PostgreSQL. */
} warm_counters_t;

void warm_counters(warm_counters_t *out);

#endif
