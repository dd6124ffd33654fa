/*
 * pg_pool — see pg_pool.h.
 *
 * States of a connection: DOWN (waiting for its retry timer) → CONNECTING (PQconnectPoll) →
 * PREPARING (one PQsendPrepare per statement) → IDLE ⇄ BUSY (one query). Any I/O failure leads
 * back to DOWN. Queries never run inside pg_pool_query: they are queued and a "pump" event, made
 * active on the same loop, hands them to idle connections, so callbacks are never re-entrant.
 */
#include "store/pg_pool.h"

#include "core/clock.h"
#include "core/log.h"

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
    int prepared;               /* Statements prepared so far. */
    PGresult *result;           /* First result of the command in progress. */
    pg_query_t *query;          /* Query running on this connection (BUSY only). */
} pg_conn_t;

struct pg_query {
    pg_pool_t *pool;       /* Owner. */
    int stmt;              /* Index into pool->stmts. */
    const char **params;   /* Copies of the parameters, in the same allocation. */
    pg_pool_fn fn;         /* Caller's callback. */
    void *arg;             /* Caller's argument. */
    struct event deadline; /* Covers queueing and running. */
    pg_conn_t *conn;       /* Connection running it, NULL while queued. */
    pg_query_t *next;      /* Queue link. */
};

struct pg_pool {
    struct event_base *base;           /* Loop that owns the pool. */
    const config_t *cfg;               /* Connection string, sizes, deadline. */
    const pg_stmt_t *stmts;            /* Statements prepared on each connection. */
    int nstmts;                        /* Their number. */
    pg_pool_options_t opts;            /* Callbacks and the application name. */
    pg_conn_t *conns;                  /* cfg->pg_pool_size connections. */
    int nconns;                        /* Their number. */
    pg_query_t *head, *tail;           /* Queries waiting for a connection, oldest first. */
    struct event pump;                 /* Activated to hand queued queries to idle connections. */
    const struct timeval *deadline_tv; /* Common timeout of PG_TIMEOUT_MS. */
    int known_down;                    /* 1 after a failure while no connection was ready. */
    long long last_kick_ms;            /* Last on-demand connection attempt (monotonic ms). */
    int freeing;                       /* 1 inside pg_pool_free. */
    char last_error[256];              /* Last connection problem. */
};

static void conn_connect(pg_conn_t *c);
static void on_io(evutil_socket_t fd, short what, void *arg);

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

static void query_finish(pg_query_t *q, int status, PGresult *res)
{
    event_del(&q->deadline);
    q->fn(status, res, q->arg);
    free(q);
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

/* Closes the connection and schedules the next attempt (after delay_ms). */
static void conn_close(pg_conn_t *c, int delay_ms)
{
    pg_pool_t *p = c->pool;
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
    if (!p->freeing) {
        struct timeval tv = clock_ms_to_tv(delay_ms);
        event_add(&c->retry, &tv);
    }
}

/* A connection failed or broke: answer its query, close it, retry with backoff. */
static void conn_broken(pg_conn_t *c, const char *why)
{
    pg_pool_t *p = c->pool;
    int was_ready = c->state == CONN_IDLE || c->state == CONN_BUSY;
    set_error(p, why);
    if (was_ready || !p->known_down)
        log_warn("postgres connection lost: %s", p->last_error);
    pg_query_t *q = c->query;
    c->query = NULL;
    int delay = c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : c->backoff_ms * 2;
    conn_close(c, delay);
    if (q != NULL)
        query_finish(q, PG_POOL_ELOST, NULL);
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

static void pump(pg_pool_t *p);

static void conn_ready(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    event_del(&c->connect_limit);
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

static void prepare_next(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    if (c->prepared == p->nstmts) {
        conn_ready(c);
        return;
    }
    const pg_stmt_t *s = &p->stmts[c->prepared];
    if (s->nparams < 0) {
        c->prepared++; /* Sent as a simple query when used. */
        prepare_next(c);
        return;
    }
    if (!PQsendPrepare(c->conn, s->name, s->sql, s->nparams, NULL)) {
        conn_broken(c, PQerrorMessage(c->conn));
        return;
    }
    conn_flush(c);
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

/* The command in progress has delivered all its results. */
static void command_done(pg_conn_t *c)
{
    pg_pool_t *p = c->pool;
    PGresult *res = c->result;
    c->result = NULL;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

    if (c->state == CONN_PREPARING) {
        if (!ok) {
            char msg[256];
            snprintf(msg, sizeof msg, "prepare %s: %s", p->stmts[c->prepared].name,
                     res ? PQresultErrorMessage(res) : "no result");
            PQclear(res);
            conn_broken(c, msg);
            return;
        }
        PQclear(res);
        c->prepared++;
        prepare_next(c);
        return;
    }

    pg_query_t *q = c->query;
    c->query = NULL;
    c->state = CONN_IDLE;
    if (!ok && res != NULL)
        log_warn("postgres query %s failed: %s", p->stmts[q->stmt].name, PQresultErrorMessage(res));
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        /* The error was the connection's end (e.g. the server shut down). */
        c->query = q;
        c->state = CONN_BUSY;
        PQclear(res);
        conn_broken(c, PQerrorMessage(c->conn));
        return;
    }
    query_finish(q, ok ? PG_POOL_OK : PG_POOL_EQUERY, res);
    PQclear(res);
    pump(p);
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
        while (!PQisBusy(c->conn)) {
            PGresult *res = PQgetResult(c->conn);
            if (res == NULL) {
                command_done(c);
                return;
            }
            if (c->result == NULL)
                c->result = res;
            else
                PQclear(res); /* Only the first result of a statement matters here. */
        }
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
    const char *const values[] = {p->cfg->database_url, p->opts.application_name, NULL};
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

static int start_query(pg_conn_t *c, pg_query_t *q)
{
    pg_pool_t *p = c->pool;
    const pg_stmt_t *s = &p->stmts[q->stmt];
    int sent = s->nparams < 0
                   ? PQsendQuery(c->conn, s->sql)
                   : PQsendQueryPrepared(c->conn, s->name, s->nparams, q->params, NULL, NULL, 0);
    if (!sent)
        return -1;
    c->state = CONN_BUSY;
    c->query = q;
    q->conn = c;
    conn_flush(c);
    return 0;
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
    for (int i = 0; i < p->nconns && p->head != NULL; i++) {
        pg_conn_t *c = &p->conns[i];
        if (c->state != CONN_IDLE)
            continue;
        pg_query_t *q = p->head;
        p->head = q->next;
        if (p->head == NULL)
            p->tail = NULL;
        q->next = NULL;
        if (start_query(c, q) != 0) {
            /* Put the query back first in line and give up on this connection. */
            q->next = p->head;
            p->head = q;
            if (p->tail == NULL)
                p->tail = q;
            conn_broken(c, PQerrorMessage(c->conn));
            if (p->head == NULL)
                return; /* The queue was failed because nothing is up any more. */
        }
    }
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

static void on_query_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pg_query_t *q = arg;
    pg_pool_t *p = q->pool;
    pg_conn_t *c = q->conn;
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
    } else {
        /* The result cannot be abandoned half-read: reopen the connection right away. */
        c->query = NULL;
        log_warn("postgres query %s passed its deadline; reconnecting", p->stmts[q->stmt].name);
        conn_close(c, 0);
    }
    q->fn(PG_POOL_ETIMEOUT, NULL, q->arg);
    free(q);
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
    struct timeval tv = clock_ms_to_tv(cfg->pg_timeout_ms);
    p->deadline_tv = event_base_init_common_timeout(base, &tv);
    event_assign(&p->pump, base, -1, 0, on_pump, p);
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
    fail_queue(p, PG_POOL_ELOST);
    for (int i = 0; i < p->nconns; i++) {
        pg_conn_t *c = &p->conns[i];
        pg_query_t *q = c->query;
        c->query = NULL;
        event_del(&c->retry);
        conn_close(c, 0);
        if (q != NULL)
            query_finish(q, PG_POOL_ELOST, NULL);
    }
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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

int pg_pool_query(pg_pool_t *p, int stmt, const char *const *params, pg_pool_fn fn, void *arg)
{
    if (p->freeing || (p->known_down && !pool_up(p) && !kick(p)))
        return PG_POOL_EDOWN;
    int n = p->stmts[stmt].nparams < 0 ? 0 : p->stmts[stmt].nparams;
    size_t bytes = sizeof(pg_query_t) + (size_t)n * sizeof(char *);
    for (int i = 0; i < n; i++)
        bytes += params[i] ? strlen(params[i]) + 1 : 0;
    pg_query_t *q = malloc(bytes);
    if (q == NULL)
        return PG_POOL_ENOMEM;
    q->pool = p;
    q->stmt = stmt;
    q->fn = fn;
    q->arg = arg;
    q->conn = NULL;
    q->next = NULL;
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
