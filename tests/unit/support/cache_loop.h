/*
 * cache_loop — one event loop with its cache_t, Redis client and PostgreSQL pool, wired as a
 * worker wires them (src/server/worker.c), for tests of the cache layer against real servers.
 *
 * The backends can be closed and opened again while the loop and its cache stay, the way a
 * process that crashed and restarted finds Redis and PostgreSQL as it left them. Use from the
 * test's main thread only.
 */
#ifndef CACHEME_TEST_CACHE_LOOP_H
#define CACHEME_TEST_CACHE_LOOP_H

#include "cache/cache.h"
#include "support/servers.h"

typedef struct {
    struct event_base *base; /* The loop. */
    config_t cfg;            /* Its settings: defaults, the servers' URLs, the test's env. */
    redis_client_t *redis;   /* NULL while the backends are closed. */
    pg_pool_t *pg;           /* NULL while the backends are closed. */
    cache_t *cache;          /* The loop's cache. */
} cache_loop_t;

/*
 * Creates the loop with settings env (NULL-terminated "NAME=value" list, see servers_config),
 * starts the lab's settings from them (lab_init), and opens the backends. Returns 0, or -1.
 */
int cache_loop_open(cache_loop_t *l, const servers_t *s, const char *const *env);

/*
 * Opens a Redis client and a PostgreSQL pool, hands them to the cache and waits until both are
 * connected. Returns 0, or -1 (also when they did not connect in time).
 */
int cache_loop_backends_open(cache_loop_t *l);

/*
 * Takes the backends from the cache and frees them: what waits on them is answered with
 * REDIS_CLIENT_ELOST / PG_POOL_ELOST, as when a process goes away.
 */
void cache_loop_backends_close(cache_loop_t *l);

/* Closes the backends and frees the cache and the loop. */
void cache_loop_close(cache_loop_t *l);

#endif
