/*
 * http_conn — the connections of one HTTP server on one event loop: accepting on a shared
 * listening socket, reading requests, writing answers, keep-alive and pipelining, deadlines and a
 * cap on open connections.
 *
 * Every byte received goes through http_framing (RFC 9112 framing, strictly) before a request is
 * taken out of it with http_parse. Requests on a connection are handed over one at a time, in
 * order; the next one (pipelined, or on a kept-alive connection) is taken once the current one is
 * answered and its answer has been written. An answer is written once the code that gave it has
 * returned (see http_conn.c): one writev of head and body, the answers to pipelined requests given
 * in one round together; only what the socket does not take is kept and sent when it becomes
 * writable.
 *
 * Problems found by the connection itself — bad framing (400, 431, 501), a body over the limit
 * (413), an Expect other than 100-continue (417) — are handed over as requests with an error
 * status, to be answered like any other (the server makes the JSON), after which the connection is
 * closed and nothing that followed the problem is read.
 *
 * Timing: from accept, and again after each answer, a connection has REQUEST_TIMEOUT_MS (or
 * IDLE_TIMEOUT_SECONDS when shorter) to deliver its next whole request, else it is closed; a
 * connection whose client stops reading an answer is closed after IDLE_TIMEOUT_SECONDS without
 * progress. While a request is being processed no timer runs: processing is bounded by the Redis
 * and PostgreSQL deadlines. At the cap, the listener is paused, so further clients wait in the
 * kernel's accept queue instead of being refused.
 *
 * Not thread-safe: connections belong to the loop that accepted them.
 */
#ifndef CACHEME_HTTP_CONN_H
#define CACHEME_HTTP_CONN_H

#include <event2/util.h>
#include <stddef.h>

#include "http/http_parse.h"

struct event_base;
struct evbuffer;

typedef struct http_conns http_conns_t;
typedef struct http_conn http_conn_t;

/* A request taken off a connection. Valid until its answer is sent or the connection is lost. */
typedef struct {
    int error;        /* 0, or the status to answer with (the connection then closes). */
    int parsed;       /* 1 when head is filled (always when error is 0). */
    http_head_t head; /* The head; its strings live in the connection's input buffer. */
    char *body;       /* The body (chunked bodies decoded); not NUL-terminated. */
    size_t body_len;  /* Its length. */
} http_conn_request_t;

/*
 * Called for each request; the callee must eventually answer it with http_conn_send(..., last=1)
 * exactly once, or learn through the lost callback (http_conn_set_owner) that it no longer can.
 */
typedef void (*http_conn_request_fn)(http_conn_t *c, const http_conn_request_t *req, void *arg);

/*
 * Called when a connection goes away while its request is unanswered (the client closed it, a
 * write failed, or the server is freed). The connection hands over its input buffer (in, which the
 * request's strings point into) and its field array (fields): the callee frees both with free()
 * once it is done with the request. peer is the client's address (http_conn_peer), valid during
 * the call. c must not be used again.
 */
typedef void (*http_conn_lost_fn)(void *owner, char *in, http_field_t *fields, const char *peer);

/* Settings of a server's connections. */
typedef struct {
    int max_connections;      /* Open at most (per loop). */
    int request_timeout_ms;   /* To receive a whole request. */
    int idle_timeout_seconds; /* Keep-alive inactivity; also a stalled write. */
    size_t max_head;          /* MAX_HEADER_BYTES. */
    size_t max_body;          /* MAX_BODY_BYTES. */
} http_conns_config_t;

/*
 * Starts accepting on listen_fd (bound, listening and non-blocking; not closed here). Each request
 * is handed to fn(c, req, arg). Returns 0 and sets *out, or -1.
 */
int http_conns_new(struct event_base *base, evutil_socket_t listen_fd,
                   const http_conns_config_t *cfg, http_conn_request_fn fn, void *arg,
                   http_conns_t **out);

/* Stops accepting new connections; open ones keep being served. */
void http_conns_stop_accepting(http_conns_t *t);

/*
 * Closes every connection (calling the lost callback for unanswered requests) and frees t.
 */
void http_conns_free(http_conns_t *t);

/* Records who answers the current request, and the callback for when the connection is lost. */
void http_conn_set_owner(http_conn_t *c, void *owner, http_conn_lost_fn lost);

/*
 * 1 when the connection stays open after the current answer (HTTP/1.1 without "Connection:
 * close", HTTP/1.0 with "Connection: keep-alive", and no error or http_conn_close_after), else 0.
 */
int http_conn_keep_alive(const http_conn_t *c);

/* Closes the connection once the current answer has been sent, reading nothing more from it. */
void http_conn_close_after(http_conn_t *c);

/* The textual IP address of the client, or "" when unknown. */
const char *http_conn_peer(http_conn_t *c);

/*
 * Sends head[0, head_len) and then body (may be NULL; its content is taken, leaving it empty) as
 * part of the current answer; the bytes leave once the caller's callback has returned. last is 1
 * for the answer's final bytes: the request is then done. After a send with last 0 the answer is a
 * stream: the client going away counts as losing the connection (see http_conn_lost_fn) even while
 * nothing is being written.
 */
void http_conn_send(http_conn_t *c, const char *head, size_t head_len, struct evbuffer *body,
                    int last);

#endif
