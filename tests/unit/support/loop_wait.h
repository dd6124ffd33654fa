/*
 * loop_wait — drives an event loop until a condition holds, for tests of asynchronous code.
 *
 * The loop runs one round at a time and the condition is checked after every round; a timer wakes
 * the loop every few milliseconds, so that a condition on something outside the loop (a row in
 * PostgreSQL, a key in Redis) is seen too. The timeout only detects a hang: it is never what a
 * test waits for.
 */
#ifndef CACHEME_TEST_LOOP_WAIT_H
#define CACHEME_TEST_LOOP_WAIT_H

struct event_base;

/* The time limit of a wait that should end in well under a second: a hang detector. */
#define LOOP_WAIT_HANG_MS 20000

/* A condition: non-zero when it holds. */
typedef int (*loop_wait_fn)(void *arg);

/*
 * Runs base until done(arg) returns non-zero (checked first, then after every round), or
 * timeout_ms passes. Returns 0 when the condition held, -1 on the timeout.
 */
int loop_wait(struct event_base *base, loop_wait_fn done, void *arg, int timeout_ms);

/* A condition that holds when the int flag points to is non-zero. */
int loop_wait_flag(void *flag);

#endif
