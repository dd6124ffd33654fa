/*
 * http — the HTTP server of one event loop: routing, CORS, request ids, building answers (JSON and
 * others, streams) and the access log, over the connections of http_conn.
 *
 * A server is created per loop on a listening socket shared by all loops. Each request that matches
 * a route becomes an http_req_t handed to the route's handler; the handler must eventually answer
 * it with exactly one http_reply* call (possibly later, from a Redis or PostgreSQL callback on the
 * same loop), which frees the http_req_t. Every error the server produces itself — unknown path
 * (404), wrong method (405 with Allow), a method it does not know (501), malformed or ambiguously
 * framed request (400, or 501 for a transfer coding other than chunked; see http_framing.h),
 * oversized headers (431) or body (413), an Expect other than 100-continue (417) — is JSON in the
 * API's error shape {"detail": ...}. A path that only matches a route without its trailing slash is
 * redirected there (307). HEAD is answered with the headers of GET (including its Content-Length)
 * and no body. CONNECT is answered (404 or 405) and the connection closed.
 *
 * Not thread-safe: a server and its requests belong to the loop that created them.
 */
#ifndef CACHEME_HTTP_H
#define CACHEME_HTTP_H

#include <event2/util.h>
#include <stddef.h>

#include "core/config.h"
#include "core/metrics.h"

struct event_base;
struct evbuffer;

typedef struct http_server http_server_t;
typedef struct http_req http_req_t;

/* Method bits for routes. HEAD is served wherever GET is. */
enum {
    HTTP_GET = 1 << 0,
    HTTP_POST = 1 << 1,
    HTTP_PUT = 1 << 2,
    HTTP_PATCH = 1 << 3,
    HTTP_DELETE = 1 << 4
};

typedef void (*http_handler_fn)(http_req_t *req);

/*
 * A route: a path pattern whose "{name}" segment matches any one segment, or whose final "{name*}"
 * matches the rest of the path, slashes included.
 */
typedef struct {
    const char *pattern;     /* e.g. "/products/{id}" or "/docs/{file*}". */
    int methods;             /* HTTP_* bits. */
    http_handler_fn handler; /* Called for a match. */
    const char *note;        /* Shown after the route by `cacheme routes`; NULL for none. */
} http_route_t;

/*
 * Creates a server on base that accepts on listen_fd (already bound and listening; not closed by
 * the server). routes (n of them), cfg and ctx must outlive the server. Returns 0 and sets *out, or
 * -1.
 */
int http_server_new(struct event_base *base, evutil_socket_t listen_fd, const config_t *cfg,
                    const http_route_t *routes, int n, void *ctx, http_server_t **out);

/*
 * Counts every answer of this server in block (see metrics.h): by route (API servers) or as the
 * dashboard (ui non-zero). Call right after http_server_new.
 */
struct metrics_block;
void http_server_set_metrics(http_server_t *s, struct metrics_block *block, int ui);

/* Stops accepting new connections; open ones keep being served. */
void http_server_stop_accepting(http_server_t *s);

/* Requests dispatched to a handler and not yet answered. */
int http_server_in_flight(const http_server_t *s);

/* Closes every connection and frees the server. Call only when no request is in flight. */
void http_server_free(http_server_t *s);

/* The ctx given to http_server_new. */
void *http_req_ctx(const http_req_t *r);

/*
 * The percent-decoded text of the route's "{...}" segment ("" when the route has none), and its
 * length in *len. The text may contain NUL bytes (from "%00"): use *len, not strlen.
 */
const char *http_req_param(const http_req_t *r, size_t *len);

/*
 * The percent-decoded value of query parameter name (matched exactly, after decoding), with its
 * length in *len, or NULL when absent. When the name appears more than once the last value counts;
 * an item without '=' has an empty value. The value may contain NUL bytes: use *len.
 */
const char *http_req_query(const http_req_t *r, const char *name, size_t *len);

/* The address of the connection's other end (a textual IP), or "" when unknown. */
const char *http_req_peer(const http_req_t *r);

/* Milliseconds since the request was dispatched (monotonic clock). */
double http_req_elapsed_ms(const http_req_t *r);

/* Records where the answer came from, for the metrics' "source" label and the access log. */
void http_req_set_source(http_req_t *r, metrics_source_t source);

/* The request body as one contiguous block (len may be 0); valid until the reply. */
const char *http_req_body(const http_req_t *r, size_t *len);

/* The value of a request header, or NULL. */
const char *http_req_header(const http_req_t *r, const char *name);

/* Adds a response header (copied). */
void http_req_add_header(http_req_t *r, const char *name, const char *value);

/* Answers with a JSON body taken from buf (drained). Frees r. */
void http_reply_buffer(http_req_t *r, int status, struct evbuffer *buf);

/* Answers with a body of another content type, taken from buf (drained). Frees r. */
void http_reply_typed(http_req_t *r, int status, const char *content_type, struct evbuffer *buf);

/* Answers with a JSON body given as text. Frees r. */
void http_reply_json(http_req_t *r, int status, const char *json, size_t len);

/* Answers {"detail": detail} with status. Frees r. */
void http_reply_error(http_req_t *r, int status, const char *detail);

/* Answers status with no body (204, 304). Frees r. */
void http_reply_empty(http_req_t *r, int status);

/*
 * Answers with any content type. data is not copied: it must stay valid for the life of the server
 * (static files, compiled-in documents). Frees r.
 */
void http_reply_static(http_req_t *r, int status, const char *content_type, const char *data,
                       size_t len);

/*
 * Streaming replies (Server-Sent Events). http_stream_begin sends the status line and headers with
 * chunked encoding and returns 0, -1 when it could not (r is still to be answered), or 1 when the
 * request was HEAD: then it answered with the headers alone and freed r, and the caller must forget
 * r. http_stream_send sends one chunk; http_stream_end finishes the reply and frees r.
 * When the client goes away first, on_gone(arg) is called and r is freed by the server: the caller
 * must forget r then. A stream counts as in flight until it ends.
 */
int http_stream_begin(http_req_t *r, const char *content_type, void (*on_gone)(void *arg),
                      void *arg);
void http_stream_send(http_req_t *r, const char *data, size_t len);
void http_stream_end(http_req_t *r);

#endif
