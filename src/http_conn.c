/*
 * http_conn — see http_conn.h.
 */
#include "http_conn.h"

#include "clock.h"
#include "log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <stdint.h>
#include <stdlib.h>

#define BUCKETS 1024 /* Power of two. */

typedef struct conn_entry {
    http_conns_t *owner;             /* Bookkeeping this entry belongs to. */
    struct bufferevent *bev;         /* The connection's bufferevent (created here). */
    struct evhttp_connection *evcon; /* Learned in on_attach; NULL before. */
    size_t bytes_in;                 /* Bytes received since the current request began. */
    void (*hook)(void *);            /* Called when the connection closes; may be NULL. */
    void *hook_arg;                  /* Its argument. */
    struct event ev;                 /* First the attach callback, then the deadline timer. */
    struct conn_entry *next;         /* Hash chain. */
} conn_entry_t;

struct http_conns {
    struct event_base *base;         /* Loop. */
    struct evconnlistener *listener; /* Paused at the cap; may be NULL. */
    int max;                         /* Cap for this server. */
    int count;                       /* Open connections. */
    int paused;                      /* 1 while the listener is disabled by the cap. */
    struct timeval deadline;         /* REQUEST_TIMEOUT_MS. */
    conn_entry_t *table[BUCKETS];    /* evcon → entry. */
};

/* The bookkeeping of the loop running on this thread, for http_conns_request_bytes. */
static _Thread_local http_conns_t *current_conns;

static size_t bucket_of(const void *evcon)
{
    uintptr_t v = (uintptr_t)evcon;
    return (size_t)((v >> 4) ^ (v >> 14)) & (BUCKETS - 1);
}

static conn_entry_t *lookup(http_conns_t *t, const struct evhttp_connection *evcon)
{
    for (conn_entry_t *e = t->table[bucket_of(evcon)]; e != NULL; e = e->next) {
        if (e->evcon == evcon)
            return e;
    }
    return NULL;
}

static void unlink_entry(http_conns_t *t, conn_entry_t *e)
{
    conn_entry_t **pp = &t->table[bucket_of(e->evcon)];
    while (*pp != NULL && *pp != e)
        pp = &(*pp)->next;
    if (*pp == e)
        *pp = e->next;
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    conn_entry_t *e = arg;
    http_conns_t *t = e->owner;
    if (e->hook != NULL)
        e->hook(e->hook_arg);
    event_del(&e->ev);
    unlink_entry(t, e);
    free(e);
    t->count--;
    if (t->paused && t->count < t->max && t->listener != NULL) {
        evconnlistener_enable(t->listener);
        t->paused = 0;
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_entry_t *e = arg;
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(e->evcon, &addr, &port);
    log_warn("closing connection from %s:%u: request not received within the deadline",
             addr ? addr : "?", (unsigned)port);
    evhttp_connection_free(e->evcon); /* Calls on_close, which frees e. */
}

static void on_attach(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_entry_t *e = arg;
    http_conns_t *t = e->owner;
    void *cbarg = NULL;
    /* evhttp installs its callbacks with the connection as their argument. */
    bufferevent_getcb(e->bev, NULL, NULL, NULL, &cbarg);
    e->evcon = cbarg;
    e->next = t->table[bucket_of(e->evcon)];
    t->table[bucket_of(e->evcon)] = e;
    evhttp_connection_set_closecb(e->evcon, on_close, e);
    evtimer_assign(&e->ev, t->base, on_deadline, e);
    evtimer_add(&e->ev, &t->deadline);
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    conn_entry_t *e = arg;
    e->bytes_in += info->n_added;
}

static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    http_conns_t *t = arg;
    conn_entry_t *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL; /* evhttp then makes its own bufferevent; this connection goes untracked. */
    e->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (e->bev == NULL) {
        free(e);
        return NULL;
    }
    e->owner = t;
    evbuffer_add_cb(bufferevent_get_input(e->bev), on_input, e);
    t->count++;
    if (t->count >= t->max && t->listener != NULL && !t->paused) {
        evconnlistener_disable(t->listener);
        t->paused = 1;
    }
    /* Runs in this loop iteration, after evhttp has created the connection, before any I/O. */
    event_assign(&e->ev, base, -1, 0, on_attach, e);
    event_active(&e->ev, EV_TIMEOUT, 1);
    return e->bev;
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    (void)req;
    conn_entry_t *e = arg;
    e->bytes_in = 0;
    evtimer_add(&e->ev, &e->owner->deadline);
}

int http_conns_new(struct event_base *base, struct evhttp *http, int max_connections,
                   int request_timeout_ms, http_conns_t **out)
{
    http_conns_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->base = base;
    t->max = max_connections;
    t->deadline = clock_ms_to_tv(request_timeout_ms);
    evhttp_set_bevcb(http, on_new_connection, t);
    current_conns = t;
    *out = t;
    return 0;
}

void http_conns_set_listener(http_conns_t *t, struct evconnlistener *listener)
{
    t->listener = listener;
    t->paused = 0;
}

void http_conns_request_started(http_conns_t *t, struct evhttp_request *req)
{
    conn_entry_t *e = lookup(t, evhttp_request_get_connection(req));
    if (e == NULL)
        return;
    event_del(&e->ev);
    evhttp_request_set_on_complete_cb(req, on_complete, e);
}

int http_conns_set_close_hook(http_conns_t *t, struct evhttp_request *req, void (*fn)(void *),
                              void *arg)
{
    conn_entry_t *e = lookup(t, evhttp_request_get_connection(req));
    if (e == NULL)
        return -1;
    e->hook = fn;
    e->hook_arg = arg;
    return 0;
}

long long http_conns_request_bytes(struct evhttp_request *req)
{
    http_conns_t *t = current_conns;
    conn_entry_t *e = t ? lookup(t, evhttp_request_get_connection(req)) : NULL;
    return e ? (long long)e->bytes_in : -1;
}


void http_conns_free(http_conns_t *t)
{
    free(t);
}
