/*
 * http_conn — see http_conn.h.
 *
 * Each connection reads into one contiguous input buffer. Requests are parsed in place (their
 * strings point into it), so the buffer is never moved or compacted while a request is being
 * processed: reading goes on only into the room it has, and stops when that is full. Once the
 * request is answered its bytes are dropped and the next request, if one has arrived, is taken.
 *
 * Re-entrancy: a handler usually answers from within the request callback (a near-cache hit), so
 * http_conn_send may run inside process(). It then only records the answer, and process() carries
 * on with the next request instead of recursing; a connection is only ever freed from the top of
 * a callback (settle), never under a caller that still uses it.
 */
#include "http/http_conn.h"

#include "core/clock.h"
#include "core/log.h"
#include "http/http_framing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IN_INITIAL 4096 /* Input buffer of a new connection: a whole ordinary request. */
#define IOV_MAX_SEND 16 /* Body segments written in one writev. */
#define HEAD_ROOM 1024  /* Answer bytes kept without an allocation until they are written. */
#define FLUSH_AT 65536  /* Pipelined answers held back at most before they are written. */

struct http_conns {
    struct event_base *base;          /* Loop. */
    struct evconnlistener *listener;  /* NULL once stopped. */
    http_conns_config_t cfg;          /* Settings. */
    http_conn_request_fn fn;          /* Where requests go. */
    void *arg;                        /* Its argument. */
    int count;                        /* Open connections. */
    int paused;                       /* 1 while the listener is disabled by the cap. */
    const struct timeval *request_tv; /* To receive a whole request (a common timeout). */
    const struct timeval *idle_tv;    /* Keep-alive inactivity (a common timeout). */
    const struct timeval *stall_tv;   /* Deadline for a stalled write (a common timeout). */
    struct http_conn *all;            /* Open connections (a list, for http_conns_free). */
    size_t in_max;                    /* Largest input buffer: a head, a body and their framing. */
};

struct http_conn {
    http_conns_t *owner;           /* Server. */
    evutil_socket_t fd;            /* Socket. */
    struct event rev;              /* Readable (persistent while reading). */
    struct event wev;              /* Writable (only while output is pending). */
    struct event timer;            /* The deadline that applies now (see http_conn.h). */
    char *in;                      /* Input buffer. */
    size_t in_cap;                 /* Its size. */
    size_t start;                  /* Offset of the first byte not yet taken by a request. */
    size_t in_len;                 /* Bytes in it. */
    size_t scanned;                /* Where the search for the end of the next head resumes. */
    uint64_t base_off;             /* Stream offset of in[0]. */
    http_framing_t framing;        /* Strict framing check of everything received. */
    int bad_status;                /* Framing problem found (400, 431, 501), or 0. */
    uint64_t bad_at;               /* Stream offset of the line it is on. */
    struct evbuffer *out;          /* Output the socket has not taken yet; NULL while none. */
    char pend_head[HEAD_ROOM];     /* Answer bytes given and not yet written (first part). */
    size_t pend_head_len;          /* Bytes in it. */
    struct evbuffer *pend_body;    /* The rest of them, after pend_head; NULL while none. */
    struct event flush_ev;         /* Made active to write them once the giver's stack unwinds. */
    http_conn_request_t req;       /* The current request. */
    size_t req_end;                /* Offset in in[] just past the current request. */
    void *owner_req;               /* Who answers it (http_conn_set_owner). */
    http_conn_lost_fn lost;        /* Told when the connection goes away first. */
    http_field_t *fields;          /* Field array of the heads parsed here. */
    int fields_cap;                /* Its size. */
    unsigned busy : 1;             /* A request is handed over and not answered. */
    unsigned streaming : 1;        /* The current answer is a stream. */
    unsigned keep_alive : 1;       /* The connection stays open after the current answer. */
    unsigned closing : 1;          /* Close once the answer is out; read nothing more. */
    unsigned peer_eof : 1;         /* The client has sent everything it will send. */
    unsigned failed : 1;           /* The socket failed: close at the next safe point. */
    unsigned processing : 1;       /* Inside process(). */
    unsigned reading : 1;          /* rev is added. */
    unsigned sent_continue : 1;    /* "100 Continue" was sent for the current request. */
    unsigned flush_active : 1;     /* flush_ev is active. */
    unsigned answered : 1;         /* The current request was answered; timers not yet re-armed. */
    struct sockaddr_storage addr;  /* The client's address. */
    char peer[INET6_ADDRSTRLEN];   /* Its text, filled on first use. */
    struct http_conn *prev, *next; /* In owner->all. */
};

static void process(http_conn_t *c);
static void settle(http_conn_t *c);

/* ---------------------------------------------------------------- life cycle --- */

static void conn_free(http_conn_t *c)
{
    http_conns_t *t = c->owner;
    if (c->busy && c->lost != NULL) {
        /* The request keeps the buffers its strings point into. */
        c->lost(c->owner_req, c->in, c->fields, http_conn_peer(c));
        c->in = NULL;
        c->fields = NULL;
    }
    event_del(&c->rev);
    event_del(&c->wev);
    event_del(&c->timer);
    event_del(&c->flush_ev);
    evutil_closesocket(c->fd);
    if (c->out != NULL)
        evbuffer_free(c->out);
    if (c->pend_body != NULL)
        evbuffer_free(c->pend_body);
    free(c->in);
    free(c->fields);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->all = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    t->count--;
    if (t->paused && t->count < t->cfg.max_connections && t->listener != NULL) {
        evconnlistener_enable(t->listener);
        t->paused = 0;
    }
}

static void set_reading(http_conn_t *c, int on)
{
    if (on && !c->reading) {
        event_add(&c->rev, NULL);
        c->reading = 1;
    } else if (!on && c->reading) {
        event_del(&c->rev);
        c->reading = 0;
    }
}

static int out_pending(const http_conn_t *c)
{
    return c->out != NULL && evbuffer_get_length(c->out) > 0;
}

/*
 * The timer that applies in the connection's state: none while a request is processed, the stall
 * deadline while output waits, otherwise the deadline for the next request (started by the caller,
 * which knows when the wait began).
 */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn_t *c = arg;
    if (out_pending(c))
        log_info("closing connection from %s: the client stopped reading", http_conn_peer(c));
    else
        log_warn("closing connection from %s: request not received within the deadline",
                 http_conn_peer(c));
    c->failed = 1;
    settle(c);
}

/* Starts the wait for the next request after an answer: the keep-alive inactivity timeout. */
static void start_wait(http_conn_t *c)
{
    event_add(&c->timer, c->owner->idle_tv);
}

/* ---------------------------------------------------------------- output --- */

/*
 * Answers are not written where they are given: a handler may still change what other requests
 * see after it answers (end a lab scenario, count an outcome), and a client that has read its
 * answer must find those changes done, as it would if the answer were written by the loop later.
 * So an answer is kept (pend_head, pend_body) and written when the code that gave it has returned:
 * at the end of process() for answers given within a request callback, else from flush_ev, made
 * active on the same loop. Either way one writev takes the head and the body, and answers to
 * pipelined requests given in one round go out together.
 */

static int write_failed(int err)
{
    return err != EAGAIN && err != EWOULDBLOCK && err != EINTR;
}

static size_t pending_len(const http_conn_t *c)
{
    return c->pend_head_len + (c->pend_body != NULL ? evbuffer_get_length(c->pend_body) : 0);
}

/* Keeps head and then body (taken, leaving it empty) to be written by flush(). */
static void queue(http_conn_t *c, const char *head, size_t head_len, struct evbuffer *body)
{
    size_t body_len = body != NULL ? evbuffer_get_length(body) : 0;
    if (c->failed) {
        if (body_len > 0)
            evbuffer_drain(body, body_len);
        return;
    }
    int tail_empty = c->pend_body == NULL || evbuffer_get_length(c->pend_body) == 0;
    if (tail_empty && c->pend_head_len + head_len <= sizeof c->pend_head) {
        memcpy(c->pend_head + c->pend_head_len, head, head_len);
        c->pend_head_len += head_len;
        head_len = 0;
    }
    if (head_len == 0 && body_len == 0)
        return;
    if (c->pend_body == NULL)
        c->pend_body = evbuffer_new();
    if (c->pend_body == NULL) {
        c->failed = 1;
        return;
    }
    if (head_len > 0)
        evbuffer_add(c->pend_body, head, head_len);
    if (body_len > 0)
        evbuffer_add_buffer(c->pend_body, body);
}

/* Moves what is pending, from pend_head offset head_off on, behind what the socket has not taken.
 */
static void keep_output(http_conn_t *c, size_t head_off)
{
    if (c->out == NULL)
        c->out = evbuffer_new();
    if (c->out == NULL) {
        c->failed = 1;
        return;
    }
    if (head_off < c->pend_head_len)
        evbuffer_add(c->out, c->pend_head + head_off, c->pend_head_len - head_off);
    c->pend_head_len = 0;
    if (c->pend_body != NULL)
        evbuffer_add_buffer(c->out, c->pend_body);
    event_add(&c->wev, NULL);
}

/* Writes what is pending: one writev of the head and the body's first segments. */
static void flush(http_conn_t *c)
{
    size_t total = pending_len(c);
    if (total == 0 || c->failed)
        return;
    if (out_pending(c)) {
        keep_output(c, 0); /* Behind what the socket has not taken yet, in order. */
        return;
    }
    struct iovec iov[1 + IOV_MAX_SEND];
    int n = 0;
    if (c->pend_head_len > 0)
        iov[n++] = (struct iovec){c->pend_head, c->pend_head_len};
    if (c->pend_body != NULL && evbuffer_get_length(c->pend_body) > 0) {
        struct evbuffer_iovec vec[IOV_MAX_SEND];
        int segs = evbuffer_peek(c->pend_body, -1, NULL, vec, IOV_MAX_SEND);
        for (int i = 0; i < segs && i < IOV_MAX_SEND; i++)
            iov[n++] = (struct iovec){vec[i].iov_base, vec[i].iov_len};
    }
    ssize_t w = writev(c->fd, iov, n);
    if (w < 0) {
        if (write_failed(errno)) {
            c->failed = 1;
            return;
        }
        w = 0;
    }
    size_t written = (size_t)w;
    if (written == total) {
        c->pend_head_len = 0;
        if (c->pend_body != NULL)
            evbuffer_drain(c->pend_body, evbuffer_get_length(c->pend_body));
        return;
    }
    size_t head_off = written < c->pend_head_len ? written : c->pend_head_len;
    if (written > c->pend_head_len)
        evbuffer_drain(c->pend_body, written - c->pend_head_len);
    keep_output(c, head_off);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn_t *c = arg;
    c->flush_active = 0;
    settle(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn_t *c = arg;
    int n = evbuffer_write(c->out, c->fd);
    if (n < 0 && write_failed(errno)) {
        c->failed = 1;
    } else if (!out_pending(c)) {
        event_del(&c->wev);
        if (!c->busy)
            c->answered = 1; /* Re-arms the wait for the next request (settle). */
    } else if (n > 0 && !c->busy) {
        event_add(&c->timer, c->owner->stall_tv); /* Progress: the stall deadline starts again. */
    }
    settle(c);
}

void http_conn_send(http_conn_t *c, const char *head, size_t head_len, struct evbuffer *body,
                    int last)
{
    queue(c, head, head_len, body);
    if (!last) {
        c->streaming = 1;
    } else {
        c->busy = 0;
        c->streaming = 0;
        c->owner_req = NULL;
        c->lost = NULL;
        c->start = c->req_end; /* The request's bytes are done with. */
        c->scanned = 0;
        c->answered = 1;
    }
    if (!c->processing && !c->flush_active) {
        c->flush_active = 1;
        event_active(&c->flush_ev, EV_WRITE, 1);
    }
}

/* ---------------------------------------------------------------- input --- */

/* Makes room to read into, moving unread bytes to the front or growing; 0 when there is none. */
static size_t make_room(http_conn_t *c)
{
    if (c->in_len < c->in_cap)
        return c->in_cap - c->in_len;
    if (c->busy)
        return 0; /* The current request's strings point into the buffer. */
    size_t room = 0;
    if (c->start > 0) {
        memmove(c->in, c->in + c->start, c->in_len - c->start);
        c->in_len -= c->start;
        c->base_off += c->start;
        c->start = 0;
        room = c->in_cap - c->in_len;
    }
    if (room == 0 && c->in_cap < c->owner->in_max) {
        size_t cap = c->in_cap * 2 < c->owner->in_max ? c->in_cap * 2 : c->owner->in_max;
        char *grown = realloc(c->in, cap);
        if (grown != NULL) {
            c->in = grown;
            c->in_cap = cap;
            room = cap - c->in_len;
        }
    }
    return room;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    http_conn_t *c = arg;
    size_t room = make_room(c);
    if (room == 0) {
        /*
         * Full: while a request is processed, wait for its answer; otherwise the request in the
         * buffer is larger than any the limits allow, which framing or the body check answers.
         */
        set_reading(c, 0);
        settle(c);
        return;
    }
    ssize_t n = read(c->fd, c->in + c->in_len, room);
    if (n == 0) {
        c->peer_eof = 1;
        set_reading(c, 0);
        if (c->streaming)
            c->failed = 1; /* A stream's client has gone. */
    } else if (n < 0) {
        if (write_failed(errno))
            c->failed = 1;
    } else {
        if (!c->busy && !out_pending(c) && c->start == c->in_len && c->base_off + c->in_len > 0)
            event_add(&c->timer, c->owner->request_tv); /* A request begins after an idle wait. */
        if (c->bad_status == 0 && !c->closing) {
            uint64_t line_start = 0;
            int status = http_framing_feed(&c->framing, c->in + c->in_len, (size_t)n, &line_start);
            if (status != 0) {
                c->bad_status = status;
                c->bad_at = line_start;
            }
        }
        if (!c->closing)
            c->in_len += (size_t)n;
    }
    settle(c);
}

/* The end of the bytes that may be read as requests (before a framing problem). */
static size_t valid_end(const http_conn_t *c)
{
    if (c->bad_status == 0)
        return c->in_len;
    uint64_t at = c->bad_at > c->base_off ? c->bad_at - c->base_off : 0;
    return at < c->in_len ? (size_t)at : c->in_len;
}

/* Hands over an error found by the connection; it closes after the answer. */
static void hand_error(http_conn_t *c, int status, int parsed)
{
    c->closing = 1;
    c->keep_alive = 0;
    c->busy = 1;
    c->answered = 0;
    if (!parsed)
        memset(&c->req.head, 0, sizeof c->req.head);
    c->req.error = status;
    c->req.parsed = parsed;
    c->req.body = NULL;
    c->req.body_len = 0;
    c->req_end = c->in_len;
    set_reading(c, 0);
    event_del(&c->timer);
    c->owner->fn(c, &c->req, c->owner->arg);
}

/*
 * Takes the next request off the buffer and hands it over. Returns 1 when it did, 0 when more
 * input is needed. A head whose body has not all arrived is parsed again when more comes (parsing
 * does not change the buffer; only handing over does, see http_parse_terminate).
 */
static int next_request(http_conn_t *c)
{
    http_conns_t *t = c->owner;
    size_t end = valid_end(c);
    char *p = c->in + c->start;
    size_t avail = end > c->start ? end - c->start : 0;
    size_t head_len = avail > 0 ? http_parse_head_end(p, avail, &c->scanned) : 0;
    if (head_len == 0) {
        /* A framing problem before the head's end is in this request's head. */
        if (c->bad_status != 0) {
            hand_error(c, c->bad_status, 0);
            return 1;
        }
        return 0;
    }
    http_conn_request_t *r = &c->req;
    memset(r, 0, sizeof *r);
    if (http_parse_head(p, head_len, &c->fields, &c->fields_cap, &r->head) != 0) {
        hand_error(c, 400, 0);
        return 1;
    }
    r->parsed = 1;
    const http_head_t *h = &r->head;
    size_t have = avail - head_len;
    size_t used = head_len;
    size_t expect_len = 0;
    const char *expect = h->minor >= 1 ? http_parse_field(h, "Expect", &expect_len) : NULL;
    if (expect != NULL && !(expect_len == 12 && strncasecmp(expect, "100-continue", 12) == 0)) {
        http_parse_terminate(p, h);
        hand_error(c, 417, 1);
        return 1;
    }
    if (h->body == HTTP_BODY_LENGTH) {
        if (h->length > (uint64_t)t->cfg.max_body) {
            http_parse_terminate(p, h);
            hand_error(c, 413, 1);
            return 1;
        }
        if ((uint64_t)have < h->length)
            goto wait_body;
        r->body = p + head_len;
        r->body_len = (size_t)h->length;
        used += r->body_len;
    } else if (h->body == HTTP_BODY_CHUNKED) {
        size_t encoded = 0;
        size_t decoded = 0;
        int rc = http_parse_chunked_size(p + head_len, have, t->cfg.max_body, &encoded, &decoded);
        if (rc != 0 && (rc < 0 || decoded > t->cfg.max_body)) {
            http_parse_terminate(p, h);
            hand_error(c, rc < 0 ? 400 : 413, 1);
            return 1;
        }
        if (rc == 0)
            goto wait_body;
        r->body = p + head_len;
        r->body_len = http_parse_chunked_decode(r->body, encoded);
        used += encoded;
    }
    http_parse_terminate(p, h);
    c->req_end = c->start + used;
    const char *conn = http_parse_field(h, "Connection", NULL);
    c->keep_alive = h->minor >= 1 ? !(conn != NULL && http_parse_has_token(conn, "close"))
                                  : conn != NULL && http_parse_has_token(conn, "keep-alive");
    if (!c->keep_alive)
        c->closing = 1;
    c->busy = 1;
    c->sent_continue = 0;
    c->answered = 0;
    event_del(&c->timer);
    t->fn(c, r, t->arg);
    return 1;

wait_body:
    if (c->bad_status != 0 || c->in_len - c->start >= t->in_max) {
        /* The body cannot complete: framing failed inside it, or it outgrew the buffer. */
        http_parse_terminate(p, h);
        hand_error(c, c->bad_status != 0 ? c->bad_status : 413, 1);
        return 1;
    }
    /* The head is here, the body is not: say "100 Continue" once if the client waits for it. */
    if (expect != NULL && !c->sent_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        c->sent_continue = 1;
        queue(c, cont, sizeof cont - 1, NULL);
    }
    c->scanned = 0;
    return 0;
}

static void process(http_conn_t *c)
{
    if (c->processing)
        return;
    c->processing = 1;
    while (!c->busy && !c->failed && !c->closing && !out_pending(c)) {
        if (c->start == c->in_len && c->start > 0) {
            c->base_off += c->in_len;
            c->start = c->in_len = 0;
            c->scanned = 0;
        }
        if (pending_len(c) >= FLUSH_AT)
            flush(c);
        if (c->failed || out_pending(c) || !next_request(c))
            break;
    }
    c->processing = 0;
    if (!c->busy && !c->closing && !c->failed && !c->peer_eof)
        set_reading(c, 1);
}

/* After an answer: the deadline for what comes next (see http_conn.h). */
static void rearm(http_conn_t *c)
{
    c->answered = 0;
    if (c->failed || c->busy)
        return;
    if (out_pending(c))
        event_add(&c->timer, c->owner->stall_tv); /* The client must read the answer. */
    else if (c->closing)
        event_del(&c->timer);
    else if (c->start < c->in_len)
        event_add(&c->timer, c->owner->request_tv); /* The next request has begun. */
    else
        start_wait(c);
}

/*
 * Writes what is pending, takes the next request when one has arrived (also after the input
 * ended), and frees the connection when it is done with. Runs only at the top of a callback, never
 * inside process().
 */
static void settle(http_conn_t *c)
{
    if (c->processing)
        return;
    flush(c);
    if (!c->failed && !c->busy && !c->closing && !out_pending(c))
        process(c);
    flush(c);
    if (c->answered)
        rearm(c);
    int idle = !c->busy && !out_pending(c) && pending_len(c) == 0;
    if (c->failed || (idle && (c->closing || c->peer_eof)))
        conn_free(c);
}

/* ---------------------------------------------------------------- accepting --- */

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
    (void)listener;
    http_conns_t *t = arg;
    http_conn_t *c = calloc(1, sizeof *c);
    char *in = malloc(IN_INITIAL);
    if (c == NULL || in == NULL) {
        free(c);
        free(in);
        evutil_closesocket(fd);
        return;
    }
    c->owner = t;
    c->fd = fd;
    c->in = in;
    c->in_cap = IN_INITIAL;
    if (socklen > 0 && (size_t)socklen <= sizeof c->addr)
        memcpy(&c->addr, sa, (size_t)socklen);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    http_framing_init(&c->framing, t->cfg.max_head);
    event_assign(&c->rev, t->base, fd, EV_READ | EV_PERSIST, on_read, c);
    event_assign(&c->wev, t->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
    evtimer_assign(&c->timer, t->base, on_timer, c);
    event_assign(&c->flush_ev, t->base, -1, 0, on_flush, c);
    c->next = t->all;
    if (t->all != NULL)
        t->all->prev = c;
    t->all = c;
    t->count++;
    if (t->count >= t->cfg.max_connections && t->listener != NULL && !t->paused) {
        evconnlistener_disable(t->listener);
        t->paused = 1;
    }
    set_reading(c, 1);
    event_add(&c->timer, t->request_tv); /* A new client has this long to send its request. */
}

int http_conns_new(struct event_base *base, evutil_socket_t listen_fd,
                   const http_conns_config_t *cfg, http_conn_request_fn fn, void *arg,
                   http_conns_t **out)
{
    http_conns_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->base = base;
    t->cfg = *cfg;
    t->fn = fn;
    t->arg = arg;
    /* A head, a body, and room for chunked framing around a body of many small chunks. */
    t->in_max = cfg->max_head + 2 * cfg->max_body + IN_INITIAL;
    if (t->in_max < IN_INITIAL)
        t->in_max = IN_INITIAL;
    struct timeval request = clock_ms_to_tv(cfg->request_timeout_ms);
    struct timeval idle = clock_ms_to_tv(cfg->idle_timeout_seconds * 1000);
    t->request_tv = event_base_init_common_timeout(base, &request);
    t->idle_tv = event_base_init_common_timeout(base, &idle);
    t->stall_tv = t->idle_tv;
    t->listener = evconnlistener_new(base, on_accept, t, LEV_OPT_CLOSE_ON_EXEC, -1, listen_fd);
    if (t->request_tv == NULL || t->idle_tv == NULL || t->listener == NULL) {
        if (t->listener != NULL)
            evconnlistener_free(t->listener);
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void http_conns_stop_accepting(http_conns_t *t)
{
    if (t->listener == NULL)
        return;
    evconnlistener_free(t->listener);
    t->listener = NULL;
    t->paused = 0;
}

void http_conns_free(http_conns_t *t)
{
    if (t == NULL)
        return;
    http_conns_stop_accepting(t);
    http_conn_t *next = NULL;
    for (http_conn_t *c = t->all; c != NULL; c = next) {
        next = c->next;
        flush(c); /* An answer given just before is not lost with the connection. */
        conn_free(c);
    }
    free(t);
}

/* ---------------------------------------------------------------- the current request --- */

void http_conn_set_owner(http_conn_t *c, void *owner, http_conn_lost_fn lost)
{
    c->owner_req = owner;
    c->lost = lost;
}

int http_conn_keep_alive(const http_conn_t *c)
{
    return c->keep_alive && !c->closing;
}

void http_conn_close_after(http_conn_t *c)
{
    c->closing = 1;
    c->keep_alive = 0;
    set_reading(c, 0);
}

const char *http_conn_peer(http_conn_t *c)
{
    if (c->peer[0] != '\0')
        return c->peer;
    const struct sockaddr *sa = (const struct sockaddr *)&c->addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof c->peer);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->peer, sizeof c->peer);
    return c->peer;
}
