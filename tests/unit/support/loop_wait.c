/*
 * loop_wait — see loop_wait.h.
 */
#include "support/loop_wait.h"

#include "core/clock.h"

#include <event2/event.h>

/* How often the loop wakes up to check a condition on something outside it. */
#define TICK_MS 5

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

int loop_wait(struct event_base *base, loop_wait_fn done, void *arg, int timeout_ms)
{
    int timed_out = 0;
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct event *limit = evtimer_new(base, on_timeout, &timed_out);
    struct timeval tick_tv = clock_ms_to_tv(TICK_MS);
    struct timeval limit_tv = clock_ms_to_tv(timeout_ms);
    if (tick == NULL || limit == NULL) {
        if (tick != NULL)
            event_free(tick);
        if (limit != NULL)
            event_free(limit);
        return -1;
    }
    event_add(tick, &tick_tv);
    evtimer_add(limit, &limit_tv);
    int held;
    while (!(held = done(arg)) && !timed_out)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    event_free(limit);
    return held ? 0 : -1;
}

int loop_wait_flag(void *flag)
{
    return *(const int *)flag != 0;
}
