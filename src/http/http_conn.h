/*
 * http_conn — per-connection bookkeeping for one evhttp server: a cap on open connections, a
 * whole-request deadline, and a strict check of request framing (http_framing.h) on the raw input.
 *
 * evhttp's own timeout counts inactivity only, so a client that trickles one header byte at a time
 * could hold a connection for ever. Here every connection gets a timer that runs while a request is
 * being received (from accept, and again after each response): if the request has not been fully
 * read when it fires, the connection is closed. While a request is being processed the timer is
 * off; processing is bounded by the Redis and PostgreSQL deadlines instead.
 *
 * The cap works by disabling the listener while the server holds max connections, so further
 * clients wait in the kernel's accept queue instead of being refused.
 *
 * evhttp 2.1 has no "new connection" hook; this module creates each connection's bufferevent itself
 * (evhttp_set_bevcb) and learns the connection object right after evhttp has set it up, in a
 * callback made active on the same loop before any of the connection's I/O can run.
 *
 * Every byte received goes through http_framing before evhttp parses it. At the first framing
 * problem the input is cut at the start of the offending line and replaced by a line evhttp cannot
 * parse, so that evhttp stops there and calls evhttp_send_error; http_conns_rejected then tells
 * which status to answer (400, 431 or 501), and the connection is closed after that answer. Nothing
 * that followed the problem is read as a request. Not thread-safe: one instance per event loop.
 */
#ifndef CACHEME_HTTP_CONN_H
#define CACHEME_HTTP_CONN_H

#include <stddef.h>

struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct event_base;

typedef struct http_conns http_conns_t;

/*
 * Installs the bookkeeping on http. max_head_bytes limits a request's head (431 above it). Returns
 * 0 and sets *out, or -1 (out of memory).
 */
int http_conns_new(struct event_base *base, struct evhttp *http, int max_connections,
                   int request_timeout_ms, size_t max_head_bytes, http_conns_t **out);

/* Tells which listener to pause at the cap (NULL: none, e.g. while shutting down). */
void http_conns_set_listener(http_conns_t *t, struct evconnlistener *listener);

/* Marks the request's connection as processing (deadline off until the response is sent). */
void http_conns_request_started(http_conns_t *t, struct evhttp_request *req);

/*
 * The status (400, 431 or 501) of the framing problem found on req's connection, or 0 when there is
 * none or the connection is not tracked by t.
 */
int http_conns_rejected(http_conns_t *t, struct evhttp_request *req);

/*
 * Closes req's connection once its reply has been sent, reading nothing more from it (what the
 * client already sent is dropped). For CONNECT, after which evhttp would keep the connection open
 * whatever the reply says. Call after http_conns_request_started. Returns 0, or -1 when the
 * connection is not tracked.
 */
int http_conns_close_after_reply(http_conns_t *t, struct evhttp_request *req);

/*
 * Registers fn(arg) to be called when req's connection closes (replacing any earlier hook), or
 * removes the hook when fn is NULL. Returns 0, or -1 when the connection is not tracked.
 */
int http_conns_set_close_hook(http_conns_t *t, struct evhttp_request *req, void (*fn)(void *),
                              void *arg);

/* Frees the bookkeeping. Call after evhttp_free, which closes every connection. */
void http_conns_free(http_conns_t *t);

#endif
