/*
 * clock — small time helpers shared by the modules that set timers or measure durations.
 */
#ifndef CACHEME_CLOCK_H
#define CACHEME_CLOCK_H

#include <sys/time.h>
#include <time.h>

/* Converts a duration in milliseconds (>= 0) to a struct timeval for libevent timers. */
static inline struct timeval clock_ms_to_tv(int ms)
{
    struct timeval tv;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (long)(ms % 1000) * 1000L;
    return tv;
}

/* Monotonic milliseconds (durations, deadlines). */
static inline long long clock_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock time in Unix milliseconds (for times that other processes compare). */
static inline long long clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
