/*
 * http_conn — per-connection bookkeeping for one evhttp server: a cap on open connections and a
 * whole-request deadline.
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
 * callback made active on the same loop before any of the connection's I/O can run. Not
 * thread-safe: one instance per event loop.
 */
#ifndef CACHEME_HTTP_CONN_H
#define CACHEME_HTTP_CONN_H

struct evhttp;
struct evhttp_request;
struct evconnlistener;
struct event_base;

typedef struct http_conns http_conns_t;

/* Installs the bookkeeping on http. Returns 0 and sets *out, or -1 (out of memory). */
int http_conns_new(struct event_base *base, struct evhttp *http, int max_connections,
                   int request_timeout_ms, http_conns_t **out);

/* Tells which listener to pause at the cap (NULL: none, e.g. while shutting down). */
void http_conns_set_listener(http_conns_t *t, struct evconnlistener *listener);

/* Marks the request's connection as processing (deadline off until the response is sent). */
void http_conns_request_started(http_conns_t *t, struct evhttp_request *req);

/*
 * Bytes received on req's connection since its current request began, or -1 when unknown. Uses the
 * bookkeeping of the loop running on the calling thread.
 */
long long http_conns_request_bytes(struct evhttp_request *req);

/*
 * Registers fn(arg) to be called when req's connection closes (replacing any earlier hook), or
 * removes the hook when fn is NULL. Returns 0, or -1 when the connection is not tracked.
 */
int http_conns_set_close_hook(http_conns_t *t, struct evhttp_request *req, void (*fn)(void *),
                              void *arg);


/* Frees the bookkeeping. Call after evhttp_free, which closes every connection. */
void http_conns_free(http_conns_t *t);

#endif
