/*
 * http_conn — see http_conn.h.
 */
#include "http/http_conn.h"

#include "core/clock.h"
#include "http/http_framing.h"
#include "core/log.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#define BUCKETS 1024 /* Power of two. */

typedef struct conn_entry {
    http_conns_t *owner;             /* Bookkeeping this entry belongs to. */
    struct bufferevent *bev;         /* The connection's bufferevent (created here). */
    struct evhttp_connection *evcon; /* Learned in on_attach; NULL before. */
    http_framing_t framing;          /* Strict framing check of the bytes received. */
    uint64_t received;               /* Bytes received on the connection so far. */
    int rejected;                    /* Status of the framing problem found, 0 while none. */
    int close_after;         /* 1: close once the current reply is sent, read nothing more. */
    void (*hook)(void *);    /* Called when the connection closes; may be NULL. */
    void *hook_arg;          /* Its argument. */
    struct event ev;         /* First the attach callback, then the deadline timer. */
    struct conn_entry *next; /* Hash chain. */
} conn_entry_t;

struct http_conns {
    struct event_base *base;         /* Loop. */
    struct evconnlistener *listener; /* Paused at the cap; may be NULL. */
    int max;                         /* Cap for this server. */
    int count;                       /* Open connections. */
    int paused;                      /* 1 while the listener is disabled by the cap. */
    struct timeval deadline;         /* REQUEST_TIMEOUT_MS. */
    size_t max_head;                 /* MAX_HEADER_BYTES. */
    conn_entry_t *table[BUCKETS];    /* evcon → entry. */
};

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

/*
 * Cuts buf (the connection's input) at keep bytes and puts a line there that evhttp cannot parse in
 * any state it can be in at a line start (request line, field line, chunk size, trailer). evhttp
 * then fails at exactly that point and calls evhttp_send_error, which answers with the status the
 * framing check found (http_conns_rejected) and closes the connection. Nothing after the cut, such
 * as a smuggled second request, is ever parsed. This is done in the input buffer's callback because
 * that runs as bytes are appended, before evhttp's read callback looks at them; evhttp has no hook
 * between reading and parsing, and its parser cannot be made stricter.
 */
static void cut_input(struct evbuffer *buf, size_t keep)
{
    static const char unparsable[] = "\x01\r\n";
    struct evbuffer *head = evbuffer_new();
    if (head == NULL) {
        evbuffer_drain(buf, evbuffer_get_length(buf));
        evbuffer_add(buf, unparsable, sizeof unparsable - 1);
        return;
    }
    evbuffer_remove_buffer(buf, head, keep);
    evbuffer_drain(buf, evbuffer_get_length(buf));
    evbuffer_add_buffer(buf, head);
    evbuffer_add(buf, unparsable, sizeof unparsable - 1);
    evbuffer_free(head);
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    conn_entry_t *e = arg;
    if (info->n_added == 0 || e->rejected)
        return; /* Also the cut's own changes, made below. */
    if (e->close_after) {
        evbuffer_drain(buf, evbuffer_get_length(buf)); /* Nothing more is read as a request. */
        return;
    }
    /* Appended bytes are the last n_added of the buffer (evhttp only drains from the front). */
    size_t len = evbuffer_get_length(buf);
    size_t left = info->n_added;
    e->received += left;
    assert(left <= len); /* Callbacks run after each change, so the new bytes are all there. */
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(buf, &pos, len - left, EVBUFFER_PTR_SET) != 0)
        return;
    int status = 0;
    uint64_t line_start = 0;
    while (left > 0 && status == 0) {
        struct evbuffer_iovec vec[8];
        int n = evbuffer_peek(buf, (ev_ssize_t)left, &pos, vec, 8);
        if (n <= 0)
            break;
        for (int i = 0; i < n && i < 8 && left > 0 && status == 0; i++) {
            size_t take = vec[i].iov_len < left ? vec[i].iov_len : left;
            status = http_framing_feed(&e->framing, vec[i].iov_base, take, &line_start);
            left -= take;
            evbuffer_ptr_set(buf, &pos, take, EVBUFFER_PTR_ADD);
        }
    }
    if (status == 0)
        return;
    e->rejected = status;
    /* The buffer holds the stream's bytes [received - len, received). */
    uint64_t first = e->received - len;
    size_t keep = line_start > first ? (size_t)(line_start - first) : 0;
    cut_input(buf, keep < len ? keep : len);
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
    http_framing_init(&e->framing, t->max_head);
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

static void on_close_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_entry_t *e = arg;
    evhttp_connection_free(e->evcon); /* Calls on_close, which frees e. */
}

static void on_complete(struct evhttp_request *req, void *arg)
{
    (void)req;
    conn_entry_t *e = arg;
    if (e->close_after) {
        /*
         * The reply has been written. evhttp is still using the connection in this call, so it is
         * freed on the next loop iteration; its input is drained meanwhile (on_input), so no other
         * request can have started by then.
         */
        event_del(&e->ev);
        event_assign(&e->ev, e->owner->base, -1, 0, on_close_now, e);
        event_active(&e->ev, EV_TIMEOUT, 1);
        return;
    }
    evtimer_add(&e->ev, &e->owner->deadline);
}

int http_conns_new(struct event_base *base, struct evhttp *http, int max_connections,
                   int request_timeout_ms, size_t max_head_bytes, http_conns_t **out)
{
    http_conns_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->base = base;
    t->max = max_connections;
    t->deadline = clock_ms_to_tv(request_timeout_ms);
    t->max_head = max_head_bytes;
    evhttp_set_bevcb(http, on_new_connection, t);
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

int http_conns_close_after_reply(http_conns_t *t, struct evhttp_request *req)
{
    conn_entry_t *e = lookup(t, evhttp_request_get_connection(req));
    if (e == NULL)
        return -1;
    e->close_after = 1;
    struct evbuffer *in = bufferevent_get_input(e->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    return 0;
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

int http_conns_rejected(http_conns_t *t, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    conn_entry_t *e = evcon != NULL ? lookup(t, evcon) : NULL;
    return e != NULL ? e->rejected : 0;
}

void http_conns_free(http_conns_t *t)
{
    free(t);
}
