/*
 * breaker — see breaker.h.
 */
#include "store/breaker.h"

void breaker_init(breaker_t *b, int threshold, long long open_ms)
{
    b->state = BREAKER_CLOSED;
    b->failures = 0;
    b->threshold = threshold;
    b->open_ms = open_ms;
    b->opened_at = 0;
    b->opened = 0;
}

int breaker_allow(breaker_t *b, long long now)
{
    switch (b->state) {
    case BREAKER_CLOSED:
        return 1;
    case BREAKER_OPEN:
        if (now - b->opened_at < b->open_ms)
            return 0;
        b->state = BREAKER_HALF_OPEN;
        return 1; /* The trial call. */
    case BREAKER_HALF_OPEN:
        return 0;
    }
    return 0;
}

void breaker_success(breaker_t *b)
{
    b->state = BREAKER_CLOSED;
    b->failures = 0;
}

static void trip(breaker_t *b, long long now)
{
    b->state = BREAKER_OPEN;
    b->opened_at = now;
    b->failures = 0;
    b->opened++;
}

void breaker_failure(breaker_t *b, long long now)
{
    if (b->state == BREAKER_HALF_OPEN) {
        trip(b, now);
        return;
    }
    if (b->state == BREAKER_CLOSED && b->threshold > 0 && ++b->failures >= b->threshold)
        trip(b, now);
}

const char *breaker_state_name(breaker_state_t s)
{
    switch (s) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "closed";
}
