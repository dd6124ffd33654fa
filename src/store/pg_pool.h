/*
 * pg_pool — a small set of non-blocking PostgreSQL connections owned by one event loop.
 *
 * Every connection is driven by libpq's asynchronous API (PQconnectStart/PQconnectPoll,
 * PQsendQueryPrepared, PQconsumeInput) on the loop's socket events, so nothing here blocks the
 * loop. The statements given at creation are prepared on every connection before it takes queries.
 * A query waits in a FIFO queue when every connection is busy.
 *
 * Pipelining (opts->pipeline_depth > 1): each connection is put in libpq's pipeline mode and takes
 * up to that many queries at once, sent one after the other without waiting for the earlier
 * results, which come back in the order the queries were sent. Every query is followed by its own
 * sync point (PQpipelineSync), so it is a transaction of its own, exactly as without a pipeline:
 * an error aborts only that query, and the answer is given once PostgreSQL has reached the sync
 * point, i.e. after the query's implicit transaction has committed. A connection with a free slot
 * and the fewest queries in flight takes the next query, so that idle connections are used first.
 *
 * Batching (opts->batch_max > 1): queries of a statement that has a batch form (pg_stmt_t's
 * batch_sql), found together in the queue, are sent as one execution of that form with the
 * parameters as an array; each query still gets a result of its own, with the statement's columns
 * and the rows meant for it, so callers cannot tell the difference. With opts->batch_wait_ms, while
 * a slot of such a statement is in flight its new queries stay queued, and go together as the next
 * batch when that slot is answered or lost, when batch_max of them wait, or when the oldest has
 * waited batch_wait_ms: under load the batches grow with the load instead of with the luck of
 * arrival, a lone query is still sent at once, and a stalled server process holds the others for
 * batch_wait_ms at most.
 *
 * Each query has one deadline that covers waiting and running: when it passes, the caller gets
 * PG_POOL_ETIMEOUT at once. Its result, still due, is dropped when it comes; the connection takes
 * no new query until its pipeline has drained, and when none of the queries in flight on it is
 * still waiting for its answer it is closed and opened again, since a half-read result cannot be
 * abandoned otherwise without a blocking cancel request. The other queries of its pipeline keep
 * their own deadlines.
 *
 * Hedged reads (opts->hedge_ms > 0): a query of a statement marked hedge (a read, safe to run
 * twice) that has been on its connection for hedge_ms without an answer is sent once more on
 * another connection that is answering; the first answer goes to the caller and the other is
 * dropped when it comes. A connection can stall while the rest of the pool answers — its server
 * process was not scheduled, or waits on a lock — and with a pipeline every query queued behind
 * the stalled one waits with it; a hedge turns that wait into hedge_ms. Writes are never hedged.
 * The query's deadline still covers both copies.
 *
 * When PostgreSQL is known to be down (a connection attempt failed and no connection is ready),
 * connections are retried with exponential backoff (100 ms doubling up to 1 s), and a query also
 * starts an attempt at once (at most every 50 ms) and waits for it: it fails within a moment with
 * PG_POOL_EDOWN while the server refuses connections, and is served as soon as it is back. Not
 * thread-safe: use a pool only from its loop's thread.
 */
#ifndef CACHEME_PG_POOL_H
#define CACHEME_PG_POOL_H

#include <libpq-fe.h>

#include "core/config.h"

struct event_base;

typedef struct pg_pool pg_pool_t;

enum {
    PG_POOL_OK = 0,        /* The query ran; res has its tuples or command status. */
    PG_POOL_EDOWN = -1,    /* PostgreSQL is unreachable; the query was not run. */
    PG_POOL_ETIMEOUT = -2, /* The deadline passed. */
    PG_POOL_EQUERY = -3,   /* PostgreSQL answered with an error; res holds it. */
    PG_POOL_ELOST = -4,    /* The connection broke while the query ran, or the pool was freed. */
    PG_POOL_ENOMEM = -5    /* Out of memory. */
};

/* A statement prepared on every connection. */
typedef struct {
    const char *name; /* Statement name, unique in the pool. */
    const char *sql;  /* SQL text with $1.. parameters. */
    int nparams;      /* Number of parameters; -1: not prepared, sent as a simple query (LISTEN). */
    /* 1: a read that may run twice, hedged after pg_pool_options_t's hedge_ms; 0: never. */
    int hedge;
    /*
     * Optional batch form of a statement with one parameter, prepared as batch_name: its $1 is an
     * array of that parameter's values, and each row it returns starts with the 1-based position
     * in the array of the value it answers, followed by the statement's own columns. NULL: none.
     */
    const char *batch_name;
    const char *batch_sql;
} pg_stmt_t;

/*
 * Called exactly once per accepted query. res is valid only during the call (the pool clears it);
 * it is non-NULL for PG_POOL_OK and PG_POOL_EQUERY.
 */
typedef void (*pg_pool_fn)(int status, PGresult *res, void *arg);

/* How a pool is made. Everything it points to must outlive the pool. */
typedef struct {
    const pg_stmt_t *stmts;       /* Statements, indexed by pg_pool_query's stmt. */
    int nstmts;                   /* Their number. */
    int size;                     /* Connections. */
    const char *application_name; /* Shown in pg_stat_activity. */
    /* The server to connect to (a libpq connection string or URL); NULL: cfg->database_url. */
    const char *conninfo;
    /* Called each time a connection becomes ready (after a (re)connect); may be NULL. */
    void (*on_ready)(pg_pool_t *p, void *arg);
    /* Called for each NOTIFY received, with the channel and payload; may be NULL. */
    void (*on_notify)(const char *channel, const char *payload, void *arg);
    void *arg; /* Argument of both callbacks. */
    /*
     * Queries in flight per connection at most; above 1 the connection runs in pipeline mode.
     * 0 or 1: one query at a time, without pipeline mode.
     */
    int pipeline_depth;
    /* Queued queries of one statement sent as one execution of its batch form, at most; 0 or 1:
     * never batched. */
    int batch_max;
    /* With batch_max > 1: how long, in ms, a query of a statement with a batch form waits in the
     * queue for a slot of its statement in flight (see above); 0: sent as soon as a connection has
     * a free slot. */
    int batch_wait_ms;
    /* A hedge statement's query unanswered for this long on its connection is sent again on
     * another (see the file comment), in ms; 0: never. */
    int hedge_ms;
} pg_pool_options_t;

/*
 * Creates a pool of opts->size connections to opts->conninfo (cfg->database_url when NULL) and
 * starts connecting. Returns 0 and sets *out, or PG_POOL_ENOMEM.
 */
int pg_pool_new(struct event_base *base, const config_t *cfg, const pg_pool_options_t *opts,
                pg_pool_t **out);

/*
 * Frees the pool. Queries still waiting or running are answered with PG_POOL_ELOST first.
 */
void pg_pool_free(pg_pool_t *p);

/*
 * Runs prepared statement number stmt (an index into the creation table) with text parameters
 * (copied; a NULL entry is SQL NULL). Returns 0 when accepted (fn is called later, never from
 * inside this call), or PG_POOL_EDOWN / PG_POOL_ENOMEM when refused (fn is not called).
 */
int pg_pool_query(pg_pool_t *p, int stmt, const char *const *params, pg_pool_fn fn, void *arg);

/* Returns 1 when at least one connection is ready or busy, 0 otherwise. */
int pg_pool_is_up(const pg_pool_t *p);

/* Returns the number of connections ready or busy (connected, statements prepared). */
int pg_pool_ready(const pg_pool_t *p);

/*
 * Returns the number of queries sent to PostgreSQL whose results have not been read yet, on all
 * connections together (a query answered by its deadline counts until its result is dropped).
 */
int pg_pool_in_flight(const pg_pool_t *p);

#endif
