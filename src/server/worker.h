/*
 * worker — one event loop on its own thread, with everything it owns: the HTTP server on the shared
 * listening socket, a Redis client and a PostgreSQL pool. Loops share nothing but the read-only
 * configuration and the atomic counters in stats, so no lock is taken on the request path.
 *
 * It is the composition root of its loop: it creates the loop's cache, change listener,
 * write-behind applier (worker 0), events hub and HTTP servers, and wires them together (the
 * listener reports to the hub through a callback; the handlers find the loop's state through
 * http_req_ctx). Nothing below it knows it exists.
 *
 * worker_start and worker_stop/worker_join are called from the main thread.
 */
#ifndef CACHEME_WORKER_H
#define CACHEME_WORKER_H

#include <event2/util.h>

#include "core/config.h"
#include "store/pg_pool.h"
#include "store/redis_client.h"
#include "http/static_files.h"

typedef struct worker worker_t;

/* What every worker shares, read-only; owned by main and kept for the life of the workers. */
typedef struct {
    const config_t *cfg;           /* Settings. */
    evutil_socket_t api_fd;        /* Listening socket of the API port. */
    evutil_socket_t ui_fd;         /* Listening socket of the dashboard port, -1 for none. */
    const static_files_t *ui;      /* The dashboard's files; NULL when not built. */
    const static_files_t *swagger; /* Swagger UI's assets; NULL when not installed. */
    const static_files_t *redoc;   /* ReDoc's standalone bundle; NULL when not installed. */
} worker_env_t;

/*
 * Starts worker number index on a new thread. Returns once the loop is set up: 0 and *out, or -1
 * when set-up failed (the thread is gone by then).
 */
int worker_start(int index, const worker_env_t *env, worker_t **out);

/*
 * Asks the worker to stop (thread-safe, returns at once): it stops accepting, lets requests in
 * flight finish (at most drain_ms; then it closes Redis and PostgreSQL so that they finish with an
 * error answer), closes its connections and ends its loop.
 */
void worker_stop(worker_t *w, int drain_ms);

/* Waits for the worker's thread to end and frees the worker. */
void worker_join(worker_t *w);

#endif
