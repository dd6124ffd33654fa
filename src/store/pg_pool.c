/*
 * pg_pool — see pg_pool.h.
 *
 * States of a connection: DOWN (waiting for its retry timer) → CONNECTING (PQconnectPoll) →
 * PREPARING (one PQsendPrepare per statement and batch form) → IDLE ⇄ BUSY (queries in flight).
 * Any I/O failure leads back to DOWN. Queries never run inside pg_pool_query: they are queued and a
 * "pump" event, made active on the same loop, hands them to connections with a free slot, so
 * callbacks are never re-entrant, and every query made during one round of the loop is in the
 * queue when the pump runs, which is what lets it batch them.
 *
 * What a connection has sent is a FIFO of "slots": a slot is one execution, either one query or a
 * batch (a chain of queries sent as one execution of their statement's batch form). In pipeline
 * mode the results of a slot end with a NULL from PQgetResult and then PGRES_PIPELINE_SYNC; the
 * slot is answered at the sync, after its transaction committed (a write's caller may then touch
 * the cache, knowing the row is in). Without pipeline mode a slot ends with the NULL.
 *
 * Why a sync after every query rather than one per batch of sends: everything between two syncs
 * is one implicit transaction, and an error aborts the rest of it; unrelated requests must not
 * share a transaction, nor fail because a neighbour did. The price is a few bytes per query and,
 * with libpq 15 (where PQpipelineSync flushes), one send() per query instead of one per round; a
 * batch is the way to put several lookups in one message.
 */
#include "store/pg_pool.h"

#include "core/clock.h"
#include "core/log.h"
#include "core/stats.h"

#include <assert.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 1000
#define KICK_MS 50

typedef enum { CONN_DOWN, CONN_CONNECTING, CONN_PREPARING, CONN_IDLE, CONN_BUSY } conn_state_t;

typedef struct pg_query pg_query_t;

typedef struct {
    pg_pool_t *pool;            /* Owner. */
    PGconn *conn;               /* NULL while DOWN. */
    conn_state_t state;         /* See the file comment. */
    struct event io;            /* Socket readiness; assigned while io_fd >= 0. */
    evutil_socket_t io_fd;      /* Socket io watches, -1 when none. */
    short io_events;            /* Events io watches. */
    struct event retry;         /* Reconnect timer. */
    struct event connect_limit; /* Gives up on a connection attempt that hangs. */
    int backoff_ms;             /* Next reconnect delay. */
    int prepared;               /* Preparation steps done (two per statement: it, its batch). */
    int pipelined;              /* 1 once in pipeline mode. */
    PGresult *result;           /* First result of the slot in progress. */
    pg_query_t *sent_head;      /* Slots sent and not yet answered, oldest first. */
    pg_query_t *sent_tail;      /* The newest of them. */
    int inflight;               /* Their number. */
    int live;                   /* Queries among them whose caller still waits (not timed out). */
    int draining;               /* 1 after a deadline passed here: no new query until empty. */
} pg_conn_t;

struct pg_query {
    pg_pool_t *pool;       /* Owner. */
    int stmt;              /* Index into pool->stmts. */
    const char **params;   /* Copies of the parameters, in the same allocation. */
    pg_pool_fn fn;         /* Caller's callback; NULL once answered while its result is due. */
    void *arg;             /* Caller's argument. */
    struct event deadline; /* Covers queueing and running. */
    pg_conn_t *conn;       /* Connection it was sent on, NULL while queued. */
    pg_query_t *next;      /* Queue link, then (for a slot's first query) the connection's FIFO. */
    pg_query_t *batch;     /* The next query of its batch, NULL for the last or for none. */
    pg_query_t *twin;      /* Its hedge (or, for a hedge, its original) while both are due. */
    long long sent_ms;     /* When its slot was sent (monotonic ms); for a slot's first query. */
    long long queued_ms;   /* When it was queued (monotonic ms), with batch_wait_ms. */
    size_t bytes;          /* Size of its allocation (with the parameters), to copy it. */
    int is_hedge;          /* 1 for the copy sent by a hedge. */
};

struct pg_pool {
    struct event_base *base;           /* Loop that owns the pool. */
    const config_t *cfg;               /* Connection string, sizes, deadline. */
    const pg_stmt_t *stmts;            /* Statements prepared on each connection. */
    int nstmts;                        /* Their number. */
    pg_pool_options_t opts;            /* Callbacks and the application name. */
    pg_conn_t *conns;                  /* cfg->pg_pool_size connections. */
    int nconns;                        /* Their number. */
    int depth;                         /* Slots in flight per connection at most (>= 1). */
    int batch_max;                     /* Queries per batch at most (1: no batches). */
    int hedge_ms;                      /* Hedge delay of reads; 0: no hedges. */
    int batch_wait_ms;                 /* How long a query is held for a batch at most; 0: never. */
    int *batches_out;                  /* Per statement: its slots in flight (when holding). */
    pg_query_t *head, *tail;           /* Queries waiting for a connection, oldest first. */
    struct event pump;                 /* Activated to hand queued queries to connections. */
    struct event hedge;                /* Looks for slow reads to hedge while any is in flight. */
    struct event hold;                 /* Pumps once held queries may go (batch_wait_ms). */
    const struct timeval *deadline_tv; /* Common timeout of PG_TIMEOUT_MS. */
    int known_down;                    /* 1 after a failure while no connection was ready. */
    long long last_kick_ms;            /* Last on-demand connection attempt (monotonic ms). */
    int freeing;                       /* 1 inside pg_pool_free. */
    char last_error[256];              /* Last connection problem. */
};

static void conn_connect(pg_conn_t *c);
static void on_io(evutil_socket_t fd, short what, void *arg);
static void pump(pg_pool_t *p);
static void on_query_deadline(evutil_socket_t fd, short what, void *arg);

/* 1 when a connection attempt is under way (a query may wait for it). */
static int pool_connecting(const pg_pool_t *p)
{
    for (int i = 0; i < p->nconns; i++) {
        if (p->conns[i].state == CONN_CONNECTING || p->conns[i].state == CONN_PREPARING)
            return 1;
    }
    return 0;
}

static int pool_up(const pg_pool_t *p)
{
    for (int i = 0; i < p->nconns; i++) {
        if (p->conns[i].state == CONN_IDLE || p->conns[i].state == CONN_BUSY)
            return 1;
    }
    return 0;
}

static void set_error(pg_pool_t *p, const char *msg)
{
    snprintf(p->last_error, sizeof p->last_error, "%s", msg);
    /* libpq messages end with a newline; keep logs to one line. */
    for (char *ch = p->last_error; *ch; ch++) {
        if (*ch == '\n' || *ch == '\t')
            *ch = ' ';
    }
    size_t n = strlen(p->last_error);
    while (n > 0 && p->last_error[n - 1] == ' ')
        p->last_error[--n] = '\0';
}

/* Watches the connection's current socket for events; re-assigns only when something changed. */
static void conn_watch(pg_conn_t *c, int events)
{
    evutil_socket_t fd = c->conn ? PQsocket(c->conn) : -1;
    if (fd == c->io_fd && events == c->io_events)
        return;
    if (c->io_fd >= 0)
        event_del(&c->io);
    c->io_fd = fd;
    c->io_events = (short)events;
    if (fd < 0 || events == 0)
        return;
    event_assign(&c->io, c->pool->base, fd, (short)(events | EV_PERSIST), on_io, c);
    event_add(&c->io, NULL);
}

/*
 * The caller of t no longer waits for it (its twin answered, or the deadline passed): its result
 * is dropped when it comes, and its connection stops counting it as awaited.
 */
static void query_drop(pg_query_t *t)
{
    event_del(&t->deadline);
    if (t->fn != NULL && t->conn != NULL)
        t->conn->live--;
    t->fn = NULL;
}

/*
 * Answers q (unless its deadline or its twin did already) and frees it. Of a query and its hedge,
 * the first to finish answers, whatever the outcome, and the other is dropped.
 */
static void query_finish(pg_query_t *q, int status, PGresult *res)
{
    event_del(&q->deadline);
    pg_query_t *t = q->twin;
    if (t != NULL) {
        q->twin = t->twin = NULL;
        if (q->fn != NULL && t->fn != NULL && !q->pool->freeing &&
            (status == PG_POOL_ELOST || status == PG_POOL_ENOMEM)) {
            /* This copy was lost (its connection broke); the other, still in flight, answers. */
            if (t->is_hedge)
                evtimer_add(&t->deadline, q->pool->deadline_tv);
            free(q);
            return;
        }
        if (q->fn != NULL) {
            query_drop(t);
            if (q->is_hedge)
                stats_incr(STATS_DB_HEDGE_WON);
        }
    }
    if (q->fn != NULL)
        q->fn(status, res, q->arg);
    free(q);
}

/* Answers every query of the slot that starts with q with the same outcome. */
static void slot_finish(pg_query_t *q, int status, PGresult *res)
{
    while (q != NULL) {
        pg_query_t *next = q->batch;
        query_finish(q, status, res);
        q = next;
    }
}

/* Answers every slot of the list that starts with q (linked by next) with status. */
static void slots_fail(pg_query_t *q, int status)
{
    while (q != NULL) {
        pg_query_t *next = q->next;
        slot_finish(q, status, NULL);
        q = next;
    }
}

static void fail_queue(pg_pool_t *p, int status)
{
    while (p->head != NULL) {
        pg_query_t *q = p->head;
        p->head = q->next;
        if (p->head == NULL)
            p->tail = NULL;
        query_finish(q, status, NULL);
    }
}

/* Takes the slots in flight off the connection; the caller answers them (slots_fail). */
static pg_query_t *conn_take_sent(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    pg_query_t *sent = c->sent_head;
    if (p->batches_out != NULL) {
        for (const pg_query_t *q = sent; q != NULL; q = q->next)
            p->batches_out[q->stmt]--;
        if (p->head != NULL && !p->freeing)
            event_active(&p->pump, EV_TIMEOUT, 1);
    }
    c->sent_head = c->sent_tail = NULL;
    c->inflight = 0;
    c->live = 0;
    c->draining = 0;
    return sent;
}

/* Closes the connection and schedules the next attempt (after delay_ms). Nothing may be in flight.
 */
static void conn_close(pg_conn_t *c, int delay_ms)
{
    pg_pool_t *p = c->pool;
    assert(c->sent_head == NULL);
    conn_watch(c, 0);
    event_del(&c->connect_limit);
    if (c->result != NULL) {
        PQclear(c->result);
        c->result = NULL;
    }
    if (c->conn != NULL) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    c->state = CONN_DOWN;
    c->pipelined = 0;
    if (!p->freeing) {
        struct timeval tv = clock_ms_to_tv(delay_ms);
        event_add(&c->retry, &tv);
    }
}

/* A connection failed or broke: answer what it had in flight, close it, retry with backoff. */
static void conn_broken(pg_conn_t *c, const char *why)
{
    pg_pool_t *p = c->pool;
    int was_ready = c->state == CONN_IDLE || c->state == CONN_BUSY;
    set_error(p, why);
    if (was_ready || !p->known_down)
        log_warn("postgres connection lost: %s", p->last_error);
    pg_query_t *sent = conn_take_sent(c);
    int delay = c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : c->backoff_ms * 2;
    conn_close(c, delay);
    /* Sent, so possibly run: never sent again (a write could apply twice). */
    slots_fail(sent, PG_POOL_ELOST);
    if (!pool_up(p)) {
        p->known_down = 1;
        if (!pool_connecting(p))
            fail_queue(p, PG_POOL_EDOWN);
    }
}

/* Sends what libpq has buffered; then waits for the answer (and for writability if needed). */
static void conn_flush(pg_conn_t *c)
{
    int r = PQflush(c->conn);
    if (r < 0)
        conn_broken(c, PQerrorMessage(c->conn));
    else
        conn_watch(c, r == 1 ? (EV_READ | EV_WRITE) : EV_READ);
}

static void conn_ready(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    event_del(&c->connect_limit);
    /* Pipeline mode needs an idle connection: after the preparation, before the first query. */
    if (p->depth > 1) {
        if (PQenterPipelineMode(c->conn))
            c->pipelined = 1;
        else
            log_warn("postgres pipeline mode refused, one query at a time: %s",
                     PQerrorMessage(c->conn));
    }
    if (p->known_down)
        log_info("postgres connection restored");
    c->state = CONN_IDLE;
    c->backoff_ms = RECONNECT_MIN_MS;
    p->known_down = 0;
    conn_watch(c, EV_READ);
    if (p->opts.on_ready != NULL)
        p->opts.on_ready(p, p->opts.arg);
    pump(p);
}

/* Sends the next preparation: step 2i prepares statement i, step 2i + 1 its batch form. */
static void prepare_next(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    for (;;) {
        if (c->prepared == 2 * p->nstmts) {
            conn_ready(c);
            return;
        }
        const pg_stmt_t *s = &p->stmts[c->prepared / 2];
        int batch = c->prepared % 2;
        /* A simple query (LISTEN) is sent as it is when used; unused batch forms are not sent. */
        if (s->nparams < 0 || (batch && (s->batch_sql == NULL || p->batch_max < 2))) {
            c->prepared++;
            continue;
        }
        int ok = batch ? PQsendPrepare(c->conn, s->batch_name, s->batch_sql, 1, NULL)
                       : PQsendPrepare(c->conn, s->name, s->sql, s->nparams, NULL);
        if (!ok) {
            conn_broken(c, PQerrorMessage(c->conn));
            return;
        }
        conn_flush(c);
        return;
    }
}

static void connect_poll(pg_conn_t *c)
{
    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        conn_watch(c, EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        conn_watch(c, EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        if (PQsetnonblocking(c->conn, 1) != 0) {
            conn_broken(c, PQerrorMessage(c->conn));
            return;
        }
        c->state = CONN_PREPARING;
        c->prepared = 0;
        prepare_next(c);
        break;
    default:
        conn_broken(c, PQerrorMessage(c->conn));
        break;
    }
}

/* A preparation has delivered all its results. */
static void prepare_done(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    PGresult *res = c->result;
    c->result = NULL;
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        const pg_stmt_t *s = &p->stmts[c->prepared / 2];
        char msg[256];
        snprintf(msg, sizeof msg, "prepare %s: %s", c->prepared % 2 ? s->batch_name : s->name,
                 res ? PQresultErrorMessage(res) : "no result");
        PQclear(res);
        conn_broken(c, msg);
        return;
    }
    PQclear(res);
    c->prepared++;
    prepare_next(c);
}

/*
 * Answers the queries of a batch from res, the result of the batch form: each gets a result of
 * its own with the rows whose first column is its position in the batch, without that column.
 */
static void batch_answer(pg_pool_t *p, pg_query_t *q, const PGresult *res)
{
    enum { MAX_FIELDS = 64 };
    int nfields = PQnfields(res) - 1;
    int ntuples = PQntuples(res);
    PGresAttDesc attrs[MAX_FIELDS];
    if (nfields < 0 || nfields > MAX_FIELDS) {
        log_error("postgres batch %s: %d columns", p->stmts[q->stmt].batch_name, nfields + 1);
        slot_finish(q, PG_POOL_ENOMEM, NULL);
        return;
    }
    for (int j = 0; j < nfields; j++) {
        attrs[j] = (PGresAttDesc){
            .name = PQfname(res, j + 1),
            .tableid = PQftable(res, j + 1),
            .columnid = PQftablecol(res, j + 1),
            .format = PQfformat(res, j + 1),
            .typid = PQftype(res, j + 1),
            .typlen = PQfsize(res, j + 1),
            .atttypmod = PQfmod(res, j + 1),
        };
    }
    int row = 0;
    for (long position = 1; q != NULL; position++) {
        pg_query_t *next = q->batch;
        if (q->fn == NULL) {
            query_finish(q, PG_POOL_OK, NULL); /* Answered by its deadline: only freed. */
            q = next;
            continue;
        }
        PGresult *own = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
        int ok = own != NULL && PQsetResultAttrs(own, nfields, attrs);
        /* Rows come ordered by position; the ones before this query's were for earlier ones. */
        while (row < ntuples && strtol(PQgetvalue(res, row, 0), NULL, 10) < position)
            row++;
        for (int k = 0;
             ok && row < ntuples && strtol(PQgetvalue(res, row, 0), NULL, 10) == position;
             row++, k++) {
            for (int j = 0; ok && j < nfields; j++) {
                int isnull = PQgetisnull(res, row, j + 1);
                ok = PQsetvalue(own, k, j, isnull ? NULL : PQgetvalue(res, row, j + 1),
                                isnull ? -1 : PQgetlength(res, row, j + 1));
            }
        }
        query_finish(q, ok ? PG_POOL_OK : PG_POOL_ENOMEM, ok ? own : NULL);
        PQclear(own);
        q = next;
    }
}

/*
 * The oldest slot in flight has delivered all its results (and, in pipeline mode, reached its sync
 * point): answer its queries. Returns 0, or -1 when the connection was closed.
 */
static int slot_done(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    PGresult *res = c->result;
    c->result = NULL;
    pg_query_t *q = c->sent_head;
    c->sent_head = q->next;
    if (c->sent_head == NULL)
        c->sent_tail = NULL;
    q->next = NULL;
    c->inflight--;
    if (p->batches_out != NULL)
        p->batches_out[q->stmt]--;
    for (pg_query_t *m = q; m != NULL; m = m->batch)
        c->live -= m->fn != NULL;
    if (c->inflight == 0) {
        c->state = CONN_IDLE;
        c->draining = 0;
    }

    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        /* The error was the connection's end (e.g. the server shut down). */
        PQclear(res);
        if (p->batches_out != NULL)
            p->batches_out[q->stmt]++; /* conn_take_sent counts it out again. */
        q->next = c->sent_head;
        c->sent_head = q;
        if (c->sent_tail == NULL)
            c->sent_tail = q;
        conn_broken(c, PQerrorMessage(c->conn));
        return -1;
    }
    if (!ok && res != NULL)
        log_warn("postgres query %s failed: %s", p->stmts[q->stmt].name, PQresultErrorMessage(res));
    if (ok && q->batch != NULL)
        batch_answer(p, q, res);
    else
        slot_finish(q, ok ? PG_POOL_OK : PG_POOL_EQUERY, res);
    PQclear(res);
    return 0;
}

static void deliver_notifies(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    for (PGnotify *n = PQnotifies(c->conn); n != NULL; n = PQnotifies(c->conn)) {
        if (p->opts.on_notify != NULL)
            p->opts.on_notify(n->relname, n->extra, p->opts.arg);
        PQfreemem(n);
    }
}

/* Keeps the first result of the command in progress: only it matters here. */
static void keep_result(pg_conn_t *c, PGresult *res)
{
    if (c->result == NULL)
        c->result = res;
    else
        PQclear(res);
}

/* Reads every result that has arrived and answers the slots it completes. */
static void read_results(pg_conn_t *c)
{
    int answered = 0;
    int nulls = 0; /* NULLs in a row from PQgetResult. */
    while (c->state == CONN_PREPARING || c->sent_head != NULL) {
        if (PQisBusy(c->conn))
            break;
        PGresult *res = PQgetResult(c->conn);
        nulls = res == NULL ? nulls + 1 : 0;
        /*
         * A broken connection is never busy and gives NULL for ever; in pipeline mode two NULLs in
         * a row mean libpq has nothing more for the slots believed to be in flight.
         */
        if (res == NULL && (PQstatus(c->conn) == CONNECTION_BAD || nulls > 1)) {
            conn_broken(c, PQstatus(c->conn) == CONNECTION_BAD ? PQerrorMessage(c->conn)
                                                               : "pipeline out of step");
            return;
        }
        if (c->state == CONN_PREPARING) {
            if (res != NULL) {
                keep_result(c, res);
                continue;
            }
            prepare_done(c);
            return;
        }
        if (!c->pipelined) {
            if (res != NULL) {
                keep_result(c, res);
                continue;
            }
        } else if (res == NULL) {
            continue; /* The end of a query's results; its sync point follows. */
        } else if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
            keep_result(c, res);
            continue;
        } else {
            PQclear(res);
        }
        if (slot_done(c) != 0)
            return;
        answered = 1;
    }
    /* Slots were freed: send what waits (after the loop, so the connection is not used inside). */
    if (answered)
        pump(c->pool);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    pg_conn_t *c = arg;
    switch (c->state) {
    case CONN_CONNECTING:
        connect_poll(c);
        return;
    case CONN_IDLE:
        /* Nothing is expected: this is a notice, or the server closing the connection. */
        if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
            conn_broken(c, PQerrorMessage(c->conn));
            return;
        }
        deliver_notifies(c);
        return;
    case CONN_PREPARING:
    case CONN_BUSY:
        if (what & EV_WRITE) {
            conn_flush(c);
            if (c->state == CONN_DOWN)
                return;
        }
        if (!(what & EV_READ))
            return;
        if (!PQconsumeInput(c->conn)) {
            conn_broken(c, PQerrorMessage(c->conn));
            return;
        }
        deliver_notifies(c);
        read_results(c);
        return;
    case CONN_DOWN:
        return;
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_connect(arg);
}

static void on_connect_limit(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_broken(arg, "connection attempt timed out");
}

static void conn_connect(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    const char *const keys[] = {"dbname", "application_name", NULL};
    const char *server = p->opts.conninfo != NULL ? p->opts.conninfo : p->cfg->database_url;
    const char *const values[] = {server, p->opts.application_name, NULL};
    c->conn = PQconnectStartParams(keys, values, 1);
    if (c->conn == NULL) {
        conn_broken(c, "out of memory");
        return;
    }
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        conn_broken(c, PQerrorMessage(c->conn));
        return;
    }
    c->state = CONN_CONNECTING;
    int ms = p->cfg->pg_timeout_ms < 1000 ? 1000 : p->cfg->pg_timeout_ms;
    struct timeval tv = clock_ms_to_tv(ms);
    event_add(&c->connect_limit, &tv);
    /* libpq: after PQconnectStart, wait until the socket is writable, then call PQconnectPoll. */
    conn_watch(c, EV_WRITE);
}

/*
 * The parameter of every query of a batch as one array literal, {"v1","v2",NULL,...}: each value
 * quoted, with " and \ escaped, so that any text is one element. Returns NULL when out of memory;
 * the caller frees it.
 */
static char *batch_array(const pg_query_t *q)
{
    size_t bytes = 3;
    for (const pg_query_t *m = q; m != NULL; m = m->batch) {
        const char *v = m->params[0];
        bytes += v == NULL ? 5 : 3 + 2 * strlen(v);
    }
    char *text = malloc(bytes);
    if (text == NULL)
        return NULL;
    char *out = text;
    *out++ = '{';
    for (const pg_query_t *m = q; m != NULL; m = m->batch) {
        const char *v = m->params[0];
        if (m != q)
            *out++ = ',';
        if (v == NULL) {
            memcpy(out, "NULL", 4);
            out += 4;
            continue;
        }
        *out++ = '"';
        for (; *v != '\0'; v++) {
            if (*v == '"' || *v == '\\')
                *out++ = '\\';
            *out++ = *v;
        }
        *out++ = '"';
    }
    *out++ = '}';
    *out = '\0';
    return text;
}

/* Sends the slot that starts with q on c. Returns 0, or -1 when libpq refused (c is broken). */
static int send_slot(pg_conn_t *c, pg_query_t *q)
{
    pg_pool_t *p = c->pool;
    const pg_stmt_t *s = &p->stmts[q->stmt];
    int sent;
    if (q->batch != NULL) {
        char *array = batch_array(q);
        const char *params[] = {array};
        sent =
            array != NULL && PQsendQueryPrepared(c->conn, s->batch_name, 1, params, NULL, NULL, 0);
        free(array);
    } else if (s->nparams < 0) {
        /* PQsendQuery is not allowed in pipeline mode; the extended protocol is. */
        sent = c->pipelined ? PQsendQueryParams(c->conn, s->sql, 0, NULL, NULL, NULL, NULL, 0)
                            : PQsendQuery(c->conn, s->sql);
    } else {
        sent = PQsendQueryPrepared(c->conn, s->name, s->nparams, q->params, NULL, NULL, 0);
    }
    /*
     * Without its sync the query has not run (the server executes up to a sync point), so a
     * failure here may put the query back in the queue.
     */
    if (!sent || (c->pipelined && !PQpipelineSync(c->conn)))
        return -1;
    q->next = NULL;
    if (c->sent_tail != NULL)
        c->sent_tail->next = q;
    else
        c->sent_head = q;
    c->sent_tail = q;
    c->inflight++;
    if (p->batches_out != NULL)
        p->batches_out[q->stmt]++;
    if (p->hedge_ms > 0 && s->hedge) {
        q->sent_ms = clock_monotonic_ms();
        if (!evtimer_pending(&p->hedge, NULL)) {
            struct timeval tv = clock_ms_to_tv(p->hedge_ms);
            evtimer_add(&p->hedge, &tv);
        }
    }
    for (pg_query_t *m = q; m != NULL; m = m->batch) {
        m->conn = c;
        c->live++;
    }
    c->state = CONN_BUSY;
    return 0;
}

/* The connection that takes the next query: a free slot, the fewest in flight, NULL for none. */
static pg_conn_t *pick(pg_pool_t *p)
{
    pg_conn_t *best = NULL;
    for (int i = 0; i < p->nconns; i++) {
        pg_conn_t *c = &p->conns[i];
        if ((c->state != CONN_IDLE && c->state != CONN_BUSY) || c->draining)
            continue;
        int limit = c->pipelined ? p->depth : 1;
        if (c->inflight >= limit || (best != NULL && c->inflight >= best->inflight))
            continue;
        best = c;
        if (c->inflight == 0)
            break;
    }
    return best;
}

/*
 * 1 when q should stay queued for now: a slot of its statement (which has a batch form) is in
 * flight, fewer than batch_max of its queries are queued from q on, and it has waited less than
 * batch_wait_ms. It goes with the batch that forms while PostgreSQL works, sent as soon as that
 * slot is answered (or lost) or the batch is full; the time limit keeps a stalled server process
 * (see the hedged reads in pg_pool.h) from holding every lookup of the loop with it.
 */
static int held(const pg_pool_t *p, const pg_query_t *q, long long now)
{
    assert(p->batches_out == NULL || p->batches_out[q->stmt] >= 0);
    if (p->batches_out == NULL || p->stmts[q->stmt].batch_sql == NULL ||
        p->batches_out[q->stmt] == 0 || now - q->queued_ms >= p->batch_wait_ms)
        return 0;
    int n = 0;
    for (const pg_query_t *m = q; m != NULL && n < p->batch_max; m = m->next)
        n += m->stmt == q->stmt;
    return n < p->batch_max;
}

/*
 * Takes the first queued query that is not held and, when its statement has a batch form, the
 * next queued queries of the same statement (up to batch_max), chained by their batch links.
 * NULL when every queued query is held.
 */
static pg_query_t *dequeue_slot(pg_pool_t *p)
{
    pg_query_t *prev = NULL;
    pg_query_t *q = p->head;
    int skip = -1; /* A statement found held. */
    long long now = p->batches_out != NULL ? clock_monotonic_ms() : 0;
    while (q != NULL && (q->stmt == skip || held(p, q, now))) {
        skip = q->stmt;
        prev = q;
        q = q->next;
    }
    if (q == NULL)
        return NULL;
    if (prev != NULL)
        prev->next = q->next;
    else
        p->head = q->next;
    if (p->tail == q)
        p->tail = prev;
    q->next = NULL;
    q->batch = NULL;
    if (p->batch_max < 2 || p->stmts[q->stmt].batch_sql == NULL)
        return q;
    pg_query_t *last = q;
    pg_query_t *kept = prev; /* The last query left in the queue so far. */
    int n = 1;
    pg_query_t **pp = prev != NULL ? &prev->next : &p->head;
    while (*pp != NULL && n < p->batch_max) {
        pg_query_t *m = *pp;
        if (m->stmt != q->stmt) {
            kept = m;
            pp = &m->next;
            continue;
        }
        *pp = m->next;
        if (p->tail == m)
            p->tail = kept;
        m->next = NULL;
        m->batch = NULL;
        last->batch = m;
        last = m;
        n++;
    }
    return q;
}

/* Puts the queries of a slot that could not be sent back at the head of the queue, in order. */
static void requeue_slot(pg_pool_t *p, pg_query_t *q)
{
    pg_query_t *last = q;
    for (pg_query_t *m = q; m != NULL; m = m->batch) {
        m->next = m->batch;
        m->conn = NULL;
        last = m;
    }
    for (pg_query_t *m = q; m != NULL;) {
        pg_query_t *next = m->batch;
        m->batch = NULL;
        m = next;
    }
    last->next = p->head;
    p->head = q;
    if (p->tail == NULL)
        p->tail = last;
}

static void pump(pg_pool_t *p)
{
    if (p->freeing)
        return;
    if (p->known_down && !pool_up(p)) {
        if (!pool_connecting(p))
            fail_queue(p, PG_POOL_EDOWN);
        return;
    }
    while (p->head != NULL) {
        pg_conn_t *c = pick(p);
        if (c == NULL)
            return;
        pg_query_t *q = dequeue_slot(p);
        if (q == NULL) {
            /* Every queued query is held: make sure they go in time. */
            if (!evtimer_pending(&p->hold, NULL)) {
                struct timeval tv = clock_ms_to_tv(p->batch_wait_ms);
                evtimer_add(&p->hold, &tv);
            }
            return;
        }
        if (send_slot(c, q) != 0) {
            /* Put the queries back first in line and give up on this connection. */
            requeue_slot(p, q);
            conn_broken(c, PQerrorMessage(c->conn));
            continue;
        }
        conn_flush(c);
    }
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* 1 when the oldest slot in flight on c has waited hedge_ms or more (c is stalled). */
static int conn_stalled(const pg_conn_t *c, long long now)
{
    const pg_query_t *q = c->sent_head;
    return q != NULL && q->sent_ms > 0 && now - q->sent_ms >= c->pool->hedge_ms;
}

/* The connection that takes a hedge of a query on c: answering, with a free slot, not c. */
static pg_conn_t *pick_hedge(pg_pool_t *p, const pg_conn_t *c, long long now)
{
    pg_conn_t *best = NULL;
    for (int i = 0; i < p->nconns; i++) {
        pg_conn_t *o = &p->conns[i];
        if (o == c || (o->state != CONN_IDLE && o->state != CONN_BUSY) || o->draining ||
            o->inflight >= (o->pipelined ? p->depth : 1) || conn_stalled(o, now))
            continue;
        if (best == NULL || o->inflight < best->inflight)
            best = o;
    }
    return best;
}

/* Sends a copy of q (in flight on a stalled connection) on another. Returns 0, -1 for none. */
static int hedge_one(pg_pool_t *p, pg_query_t *q, long long now)
{
    pg_conn_t *o = pick_hedge(p, q->conn, now);
    if (o == NULL)
        return -1;
    pg_query_t *h = malloc(q->bytes);
    if (h == NULL)
        return -1;
    /* The copy's parameters point into its own allocation, at the same offsets. */
    memcpy(h, q, q->bytes);
    const char **ptrs = (const char **)(h + 1);
    int n = p->stmts[q->stmt].nparams < 0 ? 0 : p->stmts[q->stmt].nparams;
    for (int i = 0; i < n; i++) {
        if (q->params[i] != NULL)
            ptrs[i] = (const char *)h + (q->params[i] - (const char *)q);
    }
    h->params = ptrs;
    h->conn = NULL;
    h->next = NULL;
    h->batch = NULL;
    h->is_hedge = 1;
    evtimer_assign(&h->deadline, p->base, on_query_deadline, h); /* Never added: q's covers it. */
    if (send_slot(o, h) != 0) {
        free(h);
        conn_broken(o, PQerrorMessage(o->conn));
        return -1;
    }
    h->twin = q;
    q->twin = h;
    stats_incr(STATS_DB_HEDGE);
    conn_flush(o);
    return 0;
}

/*
 * Runs every hedge_ms / 2 while a read is in flight: hedges each read still awaited on a stalled
 * connection, once.
 */
static void on_hedge(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pg_pool_t *p = arg;
    long long now = clock_monotonic_ms();
    int due = 0; /* Reads in flight not yet hedged. */
    for (int i = 0; i < p->nconns; i++) {
        pg_conn_t *c = &p->conns[i];
        for (pg_query_t *s = c->sent_head; s != NULL; s = s->next) {
            if (s->sent_ms == 0 || s->is_hedge)
                continue;
            for (pg_query_t *m = s; m != NULL; m = m->batch) {
                if (m->fn == NULL || m->twin != NULL)
                    continue;
                if (now - s->sent_ms < p->hedge_ms || c->state == CONN_DOWN ||
                    hedge_one(p, m, now) != 0)
                    due++;
            }
        }
    }
    if (due > 0) {
        int ms = p->hedge_ms / 2 > 0 ? p->hedge_ms / 2 : 1;
        struct timeval tv = clock_ms_to_tv(ms);
        evtimer_add(&p->hedge, &tv);
    }
}

static void on_query_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pg_query_t *q = arg;
    pg_pool_t *p = q->pool;
    pg_conn_t *c = q->conn;
    if (q->twin != NULL) {
        query_drop(q->twin); /* The deadline covers both copies. */
        q->twin->twin = NULL;
        q->twin = NULL;
    }
    if (c == NULL) {
        pg_query_t **pp = &p->head;
        pg_query_t *prev = NULL;
        while (*pp != q) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = q->next;
        if (p->tail == q)
            p->tail = prev;
        q->fn(PG_POOL_ETIMEOUT, NULL, q->arg);
        free(q);
        return;
    }
    /*
     * Sent: answer now, and drop the result when it comes (the query stays in its slot until
     * then). The connection is slow; it takes nothing new until its pipeline is empty.
     */
    pg_pool_fn fn = q->fn;
    void *fn_arg = q->arg; /* q may be freed below. */
    q->fn = NULL;
    c->live--;
    c->draining = 1;
    log_warn("postgres query %s passed its deadline", p->stmts[q->stmt].name);
    if (c->live == 0) {
        /*
         * Nobody waits for what is left on this connection, and a half-read result cannot be
         * abandoned: reopen the connection right away.
         */
        log_warn("postgres connection reopened: nothing in flight is still awaited");
        pg_query_t *sent = conn_take_sent(c);
        conn_close(c, 0);
        slots_fail(sent, PG_POOL_ELOST); /* Only frees: every query there was answered. */
    }
    fn(PG_POOL_ETIMEOUT, NULL, fn_arg);
}

int pg_pool_new(struct event_base *base, const config_t *cfg, const pg_pool_options_t *opts,
                pg_pool_t **out)
{
    pg_pool_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return PG_POOL_ENOMEM;
    p->conns = calloc((size_t)opts->size, sizeof *p->conns);
    if (p->conns == NULL) {
        free(p);
        return PG_POOL_ENOMEM;
    }
    p->base = base;
    p->cfg = cfg;
    p->opts = *opts;
    p->stmts = opts->stmts;
    p->nstmts = opts->nstmts;
    p->nconns = opts->size;
    p->depth = opts->pipeline_depth > 1 ? opts->pipeline_depth : 1;
    p->batch_max = opts->batch_max > 1 ? opts->batch_max : 1;
    p->hedge_ms = opts->hedge_ms > 0 ? opts->hedge_ms : 0;
    p->batch_wait_ms = opts->batch_wait_ms > 0 ? opts->batch_wait_ms : 0;
    if (p->batch_max > 1 && p->batch_wait_ms > 0) {
        p->batches_out = calloc((size_t)p->nstmts, sizeof *p->batches_out);
        if (p->batches_out == NULL) {
            free(p->conns);
            free(p);
            return PG_POOL_ENOMEM;
        }
    }
    struct timeval tv = clock_ms_to_tv(cfg->pg_timeout_ms);
    p->deadline_tv = event_base_init_common_timeout(base, &tv);
    event_assign(&p->pump, base, -1, 0, on_pump, p);
    evtimer_assign(&p->hedge, base, on_hedge, p);
    evtimer_assign(&p->hold, base, on_pump, p);
    for (int i = 0; i < p->nconns; i++) {
        pg_conn_t *c = &p->conns[i];
        c->pool = p;
        c->io_fd = -1;
        c->backoff_ms = RECONNECT_MIN_MS;
        evtimer_assign(&c->retry, base, on_retry, c);
        evtimer_assign(&c->connect_limit, base, on_connect_limit, c);
        conn_connect(c);
    }
    *out = p;
    return 0;
}

void pg_pool_free(pg_pool_t *p)
{
    if (p == NULL)
        return;
    p->freeing = 1;
    event_del(&p->pump);
    event_del(&p->hedge);
    event_del(&p->hold);
    fail_queue(p, PG_POOL_ELOST);
    for (int i = 0; i < p->nconns; i++) {
        pg_conn_t *c = &p->conns[i];
        pg_query_t *sent = conn_take_sent(c);
        event_del(&c->retry);
        conn_close(c, 0);
        slots_fail(sent, PG_POOL_ELOST);
    }
    free(p->batches_out);
    free(p->conns);
    free(p);
}

/*
 * PostgreSQL is known to be down. Rather than wait for the backoff, try one connection now — at
 * most every KICK_MS — so that a database that came back serves the very next query. Returns 1
 * when an attempt is under way (the query may wait for it), 0 when the query should fail now.
 */
static int kick(pg_pool_t *p)
{
    if (pool_connecting(p))
        return 1;
    long long now = clock_monotonic_ms();
    if (now - p->last_kick_ms < KICK_MS)
        return 0;
    p->last_kick_ms = now;
    for (int i = 0; i < p->nconns; i++) {
        pg_conn_t *c = &p->conns[i];
        if (c->state == CONN_DOWN) {
            event_del(&c->retry);
            conn_connect(c); /* A refused connection fails at once; the state says so. */
            break;
        }
    }
    return pool_connecting(p);
}

/* A new query (not queued, no deadline armed) with copies of its parameters; NULL: no memory. */
static pg_query_t *query_new(pg_pool_t *p, int stmt, const char *const *params, pg_pool_fn fn,
                             void *arg)
{
    int n = p->stmts[stmt].nparams < 0 ? 0 : p->stmts[stmt].nparams;
    size_t bytes = sizeof(pg_query_t) + (size_t)n * sizeof(char *);
    for (int i = 0; i < n; i++)
        bytes += params[i] ? strlen(params[i]) + 1 : 0;
    pg_query_t *q = malloc(bytes);
    if (q == NULL)
        return NULL;
    q->pool = p;
    q->stmt = stmt;
    q->fn = fn;
    q->arg = arg;
    q->conn = NULL;
    q->next = NULL;
    q->batch = NULL;
    q->twin = NULL;
    q->sent_ms = 0;
    q->bytes = bytes;
    q->is_hedge = 0;
    q->queued_ms = p->batches_out != NULL ? clock_monotonic_ms() : 0;
    const char **ptrs = (const char **)(q + 1);
    char *text = (char *)(ptrs + n);
    for (int i = 0; i < n; i++) {
        if (params[i] == NULL) {
            ptrs[i] = NULL; /* SQL NULL. */
            continue;
        }
        size_t len = strlen(params[i]) + 1;
        memcpy(text, params[i], len);
        ptrs[i] = text;
        text += len;
    }
    q->params = ptrs;
    evtimer_assign(&q->deadline, p->base, on_query_deadline, q);
    return q;
}

int pg_pool_query(pg_pool_t *p, int stmt, const char *const *params, pg_pool_fn fn, void *arg)
{
    if (p->freeing || (p->known_down && !pool_up(p) && !kick(p)))
        return PG_POOL_EDOWN;
    pg_query_t *q = query_new(p, stmt, params, fn, arg);
    if (q == NULL)
        return PG_POOL_ENOMEM;
    evtimer_add(&q->deadline, p->deadline_tv);
    if (p->tail)
        p->tail->next = q;
    else
        p->head = q;
    p->tail = q;
    event_active(&p->pump, EV_TIMEOUT, 1);
    return 0;
}

int pg_pool_is_up(const pg_pool_t *p)
{
    return pool_up(p);
}

int pg_pool_ready(const pg_pool_t *p)
{
    int n = 0;
    for (int i = 0; i < p->nconns; i++)
        n += p->conns[i].state == CONN_IDLE || p->conns[i].state == CONN_BUSY;
    return n;
}

int pg_pool_in_flight(const pg_pool_t *p)
{
    int n = 0;
    for (int i = 0; i < p->nconns; i++) {
        for (const pg_query_t *q = p->conns[i].sent_head; q != NULL; q = q->next) {
            for (const pg_query_t *m = q; m != NULL; m = m->batch)
                n++;
        }
    }
    return n;
}
