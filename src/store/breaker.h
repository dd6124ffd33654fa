/*
 * breaker — a circuit breaker: closed → open after `threshold` failures in a row → after
 * `open_ms`, half-open: one trial call is let through; its success closes the breaker, its failure
 * opens it again.
 *
 * While open, callers skip the protected dependency at once instead of waiting for its deadline, so
 * a dead or hung Redis costs no latency. Time is passed in (milliseconds of a monotonic clock),
 * which keeps the state machine pure and testable. Not thread-safe: one breaker per event loop.
 */
#ifndef CACHEME_BREAKER_H
#define CACHEME_BREAKER_H

typedef enum {
    BREAKER_CLOSED = 0,   /* Calls go through; failures are counted. */
    BREAKER_OPEN = 1,     /* Calls are refused until the open period ends. */
    BREAKER_HALF_OPEN = 2 /* One trial call is in flight; others are refused. */
} breaker_state_t;

typedef struct {
    breaker_state_t state; /* Current state. */
    int failures;          /* Failures in a row while closed. */
    int threshold;         /* Failures that open the breaker; 0 = never open. */
    long long open_ms;     /* How long it stays open. */
    long long opened_at;   /* When it last opened. */
    long long opened;      /* Times it opened, for metrics. */
} breaker_t;

/* Initialises a closed breaker. */
void breaker_init(breaker_t *b, int threshold, long long open_ms);

/*
 * Asks whether a call may go ahead at time now. Returns 1 (go; in half-open this call is the trial)
 * or 0 (refused: skip the dependency).
 */
int breaker_allow(breaker_t *b, long long now);

/* Reports the outcome of a call that was allowed. */
void breaker_success(breaker_t *b);
void breaker_failure(breaker_t *b, long long now);

/* "closed", "open" or "half-open". */
const char *breaker_state_name(breaker_state_t s);

#endif
