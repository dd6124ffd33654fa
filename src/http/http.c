/*
 * http — see http.h.
 */
#include "http/http.h"

#include "http/http_conn.h"
#include "core/metrics.h"
#include "core/log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct http_server {
    struct event_base *base;               /* Loop. */
    struct evhttp *evh;                    /* libevent's server. */
    struct evhttp_bound_socket *bound;     /* Our accept registration on the shared socket. */
    http_conns_t *conns;                   /* Connection cap and request deadline. */
    const config_t *cfg;                   /* Settings. */
    const http_route_t *routes;            /* Route table. */
    int nroutes;                           /* Its size. */
    void *ctx;                             /* Handed to handlers. */
    int in_flight;                         /* Dispatched, not yet answered. */
    metrics_block_t *metrics;              /* Where answers are counted; may be NULL. */
    int metric_routes[METRICS_MAX_ROUTES]; /* Route table index → metrics route. */
    int ui;                                /* 1 for the dashboard's server. */
    uint64_t rand_state;                   /* Request ids: xorshift64* state, never 0. */
    struct event *marker;                  /* Finds the server from a connection (server_of). */
};

/* One decoded query item; name and value may contain any byte, NUL included. */
typedef struct {
    char *name;       /* Decoded name, malloc'd. */
    size_t name_len;  /* Its length. */
    char *value;      /* Decoded value, malloc'd. */
    size_t value_len; /* Its length. */
} query_item_t;

struct http_req {
    http_server_t *server;        /* Owner. */
    struct evhttp_request *evreq; /* libevent's request. */
    struct timespec start;        /* Dispatch time, CLOCK_MONOTONIC. */
    char id[129];                 /* X-Request-Id. */
    char *param;                  /* Decoded "{...}" segment, malloc'd. */
    size_t param_len;             /* Its length (it may contain NUL bytes). */
    query_item_t *query;          /* Decoded query items, malloc'd. */
    int nquery;                   /* Their number. */
    int query_parsed;             /* 1 once query is filled. */
    metrics_source_t source;      /* Where the answer came from (metrics and the access log). */
    int route;                    /* Metrics route of the request. */
    const char *route_pattern;    /* The matched route's pattern, for the log. */
    int raw;                      /* 1 when the handler set its own Content-Type. */
    void (*on_gone)(void *);      /* Stream only: called when the client went away. */
    void *gone_arg;               /* Its argument. */
};

/*
 * The server a request arrived on, found from its connection. libevent calls evhttp_send_error
 * (below) with nothing but the request, and libevent 2.1 keeps no user data on an evhttp or a
 * connection; evhttp_connection_get_server gives the evhttp and evhttp_connection_get_base the
 * loop. So each server keeps one marker event pending on its loop (a timer that never does
 * anything), with the server as its argument, and the server of a request is the argument of the
 * marker on the request's loop whose server owns the request's evhttp. That is a walk over the
 * loop's events, made only for requests evhttp refuses, and it needs neither a process-wide table
 * nor a per-thread "current server" (a loop runs two servers: the API and the dashboard).
 */
static void on_marker(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg; /* Never has anything to do; it fires once a year and stays pending (EV_PERSIST). */
}

typedef struct {
    const struct evhttp *evh; /* What is looked for. */
    http_server_t *found;     /* The server owning it, once found. */
} marker_query_t;

static int match_marker(const struct event_base *base, const struct event *ev, void *arg)
{
    (void)base;
    marker_query_t *q = arg;
    if (event_get_callback(ev) != on_marker)
        return 0;
    http_server_t *s = event_get_callback_arg(ev);
    if (s->evh != q->evh)
        return 0;
    q->found = s;
    return 1; /* Stops the walk. */
}

/* The server req arrived on, or NULL when it cannot be told. Runs on req's loop. */
static http_server_t *server_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    marker_query_t q = {evcon != NULL ? evhttp_connection_get_server(evcon) : NULL, NULL};
    if (q.evh == NULL)
        return NULL;
    event_base_foreach_event(evhttp_connection_get_base(evcon), match_marker, &q);
    return q.found;
}

/* ---------------------------------------------------------------- request ids and CORS --- */

/* A state for next_random, from the time and an address (never 0). */
static uint64_t random_seed(const void *addr)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)addr;
    return state != 0 ? state : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: fast and good enough for identifiers that only need to be distinct. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545F4914F6CDD1DULL;
}

static int valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        if (!ok || n >= 128)
            return 0;
    }
    return n > 0;
}

/* The request's X-Request-Id: the client's, when valid, else a new one from s (which may be NULL).
 */
static void make_request_id(http_server_t *s, struct evhttp_request *evreq, char out[129])
{
    const char *in = evhttp_find_header(evhttp_request_get_input_headers(evreq), "X-Request-Id");
    if (in != NULL && valid_request_id(in)) {
        snprintf(out, 129, "%s", in);
        return;
    }
    uint64_t local = 0;
    uint64_t *state = s != NULL ? &s->rand_state : &local;
    if (*state == 0)
        *state = random_seed(out);
    snprintf(out, 129, "%016llx", (unsigned long long)next_random(state));
}

/* Returns 1 when origin is one of the comma-separated entries of list. */
static int origin_listed(const char *list, const char *origin)
{
    size_t olen = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && last[-1] == ' ')
            last--;
        if ((size_t)(last - p) == olen && strncmp(p, origin, olen) == 0)
            return 1;
        p = end;
    }
    return 0;
}

/*
 * The CORS headers of every answer to a request that has an Origin, preflights included; none
 * without one (a same-origin or non-browser client), as the original's CORSMiddleware answers —
 * and two headers, 212 bytes, fewer on every such answer. With CORS_ORIGINS "*" any origin may read
 * the answer, without credentials (a browser refuses credentials with "*"). With a list, a listed
 * origin is echoed and may send credentials (cookies, Authorization), as the original service's
 * CORSMiddleware(allow_credentials=True) answers; the answer then depends on Origin, hence Vary.
 */
static void add_cors(struct evhttp_request *evreq, const config_t *cfg)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);
    const char *origin = evhttp_find_header(evhttp_request_get_input_headers(evreq), "Origin");
    if (strcmp(cfg->cors_origins, "*") == 0) {
        if (origin == NULL)
            return;
        evhttp_add_header(out, "Access-Control-Allow-Origin", "*");
    } else {
        evhttp_add_header(out, "Vary", "Origin");
        if (origin == NULL || !origin_listed(cfg->cors_origins, origin))
            return;
        evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
        evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
    }
    evhttp_add_header(out, "Access-Control-Expose-Headers",
                      "X-Request-Id, X-Instance, X-Total-Count, Link, X-Cache, "
                      "X-Cache-Level, X-Cache-Write-Mode, X-Cache-Action, RateLimit, "
                      "RateLimit-Policy, Retry-After");
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 401:
        return "Unauthorized";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* Appends {"detail": text} to buf with proper escaping. */
static void add_detail(struct evbuffer *buf, const char *text)
{
    json_t *o = json_pack("{s:s}", "detail", text);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s != NULL)
        evbuffer_add(buf, s, strlen(s));
    else
        evbuffer_add_printf(buf, "{\"detail\":\"Internal Server Error\"}");
    free(s);
    json_decref(o);
}

/*
 * Sends a reply with buf (may be NULL) as its body. evhttp writes a body given for a HEAD request,
 * without a Content-Length, and a client on a kept-alive connection then reads that body as the
 * start of the next response. So for HEAD the body is only measured: the answer carries the
 * Content-Length a GET would get and no body (RFC 9110 §9.3.2).
 */
static void send_evhttp_reply(struct evhttp_request *req, int status, struct evbuffer *buf)
{
    if (buf != NULL && evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        char len[24];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(buf));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        evbuffer_drain(buf, evbuffer_get_length(buf));
        buf = NULL;
    }
    evhttp_send_reply(req, status, reason_phrase(status), buf);
}

/* ---------------------------------------------------------------- errors made by evhttp --- */

/*
 * evhttp answers requests it cannot parse (bad request line, headers over the limit, body over the
 * limit, an Expect it does not know) by calling evhttp_send_error, which writes an HTML page.
 * libevent calls it through the PLT, so this definition in the program replaces the library's for
 * those answers too, and every error the service sends is JSON. It does what the library's version
 * does (HTTP/1.1, Connection: close, then evhttp_send_reply) with a JSON body. When the framing
 * check of the connection (http_conn.h) found a problem, evhttp failed because the input was cut
 * there, and the status is the one the check found: 400, 431 (a head over MAX_HEADER_BYTES) or 501
 * (a transfer coding other than chunked).
 */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason);
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    (void)reason;
    if (!req->major || !req->minor) {
        req->major = 1;
        req->minor = 1;
    }
    http_server_t *s = server_of(req);
    int rejected = s != NULL ? http_conns_rejected(s->conns, req) : 0;
    int status = rejected != 0 ? rejected : error;
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_clear_headers(out);
    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Connection", "close");
    char id[129];
    make_request_id(s, req, id);
    evhttp_add_header(out, "X-Request-Id", id);
    if (s != NULL)
        add_cors(req, s->cfg);
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_connection_free(evhttp_request_get_connection(req));
        return;
    }
    add_detail(buf, reason_phrase(status));
    log_info("request rejected status=%d request_id=%s", status, id);
    metrics_observe(s != NULL ? s->metrics : NULL, metrics_route_unmatched(), status,
                    METRICS_SOURCE_NONE, 0);
    send_evhttp_reply(req, status, buf);
    evbuffer_free(buf);
}

/* ---------------------------------------------------------------- replies --- */

static void req_free(http_req_t *r)
{
    for (int i = 0; i < r->nquery; i++) {
        free(r->query[i].name);
        free(r->query[i].value);
    }
    free(r->query);
    free(r->param);
    free(r);
}

static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

static void send_reply(http_req_t *r, int status, struct evbuffer *buf)
{
    http_server_t *s = r->server;
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->evreq);
    if (buf != NULL && !r->raw)
        evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "X-Request-Id", r->id);
    evhttp_add_header(out, "X-Instance", s->cfg->instance);
    add_cors(r->evreq, s->cfg);
    double us = http_req_elapsed_ms(r) * 1000.0;
    int slow = us >= (double)s->cfg->slow_request_ms * 1000.0;
    if (slow || log_enabled(LOG_INFO)) {
        log_request_t entry = {
            .method = method_name(evhttp_request_get_command(r->evreq)),
            .path = evhttp_request_get_uri(r->evreq),
            .route = r->route_pattern ? r->route_pattern : "-",
            .status = status,
            .source = metrics_source_name(r->source),
            .duration_us = us,
            .request_id = r->id,
            .instance = s->cfg->instance,
            .slow = slow,
        };
        log_request(&entry);
    }
    send_evhttp_reply(r->evreq, status, buf);
    if (s->metrics != NULL)
        metrics_observe(s->metrics, r->route, status, r->source, (uint64_t)us);
    s->in_flight--;
    req_free(r);
}

void http_reply_buffer(http_req_t *r, int status, struct evbuffer *buf)
{
    send_reply(r, status, buf);
}

void http_reply_typed(http_req_t *r, int status, const char *content_type, struct evbuffer *buf)
{
    http_req_add_header(r, "Content-Type", content_type);
    r->raw = 1;
    send_reply(r, status, buf);
}

void http_reply_json(http_req_t *r, int status, const char *json, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL)
        evbuffer_add(buf, json, len);
    send_reply(r, buf ? status : 500, buf);
    if (buf != NULL)
        evbuffer_free(buf);
}

void http_reply_error(http_req_t *r, int status, const char *detail)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf != NULL)
        add_detail(buf, detail);
    send_reply(r, buf ? status : 500, buf);
    if (buf != NULL)
        evbuffer_free(buf);
}

void http_reply_empty(http_req_t *r, int status)
{
    send_reply(r, status, NULL);
}

void http_reply_static(http_req_t *r, int status, const char *content_type, const char *data,
                       size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        http_reply_error(r, 503, "Service Unavailable");
        return;
    }
    evbuffer_add_reference(buf, data, len, NULL, NULL);
    http_req_add_header(r, "Content-Type", content_type);
    r->raw = 1;
    send_reply(r, status, buf);
    evbuffer_free(buf);
}

/* ---------------------------------------------------------------- streams --- */

static void stream_gone(void *arg)
{
    http_req_t *r = arg;
    void (*fn)(void *) = r->on_gone;
    void *fn_arg = r->gone_arg;
    log_info("stream closed by client request_id=%s", r->id);
    /*
     * A connection that fails while a reply is unfinished detaches the request instead of freeing
     * it (evhttp leaves it to evhttp_send_reply_end); nobody will end this one, so free it here.
     */
    if (evhttp_request_get_connection(r->evreq) == NULL)
        evhttp_request_free(r->evreq);
    r->server->in_flight--;
    req_free(r);
    fn(fn_arg);
}

int http_stream_begin(http_req_t *r, const char *content_type, void (*on_gone)(void *arg),
                      void *arg)
{
    if (evhttp_request_get_command(r->evreq) == EVHTTP_REQ_HEAD) {
        /* The headers a GET starts its stream with, and no body: the stream never begins. */
        http_req_add_header(r, "Content-Type", content_type);
        http_req_add_header(r, "Cache-Control", "no-cache");
        r->raw = 1;
        send_reply(r, 200, NULL);
        return 1;
    }
    if (http_conns_set_close_hook(r->server->conns, r->evreq, stream_gone, r) != 0)
        return -1;
    r->on_gone = on_gone;
    r->gone_arg = arg;
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->evreq);
    evhttp_add_header(out, "Content-Type", content_type);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Request-Id", r->id);
    add_cors(r->evreq, r->server->cfg);
    evhttp_send_reply_start(r->evreq, 200, "OK");
    return 0;
}

void http_stream_send(http_req_t *r, const char *data, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL)
        return;
    evbuffer_add(buf, data, len);
    evhttp_send_reply_chunk(r->evreq, buf);
    evbuffer_free(buf);
}

void http_stream_end(http_req_t *r)
{
    http_conns_set_close_hook(r->server->conns, r->evreq, NULL, NULL);
    evhttp_send_reply_end(r->evreq);
    r->server->in_flight--;
    req_free(r);
}

/* ---------------------------------------------------------------- request accessors --- */

void *http_req_ctx(const http_req_t *r)
{
    return r->server->ctx;
}

const char *http_req_param(const http_req_t *r, size_t *len)
{
    *len = r->param ? r->param_len : 0;
    return r->param ? r->param : "";
}

/*
 * Splits the query string into items at '&' and each item at its first '=' (an item without one has
 * an empty value; empty items are skipped), then percent-decodes names and values ('+' is a space),
 * as the original service's framework did. Returns 0, or -1 when out of memory.
 */
static int parse_query(http_req_t *r)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->evreq));
    if (q == NULL || *q == '\0')
        return 0;
    int cap = 1;
    for (const char *p = q; *p; p++)
        cap += *p == '&';
    r->query = calloc((size_t)cap, sizeof *r->query);
    if (r->query == NULL)
        return -1;
    const char *p = q;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0) {
            const char *eq = memchr(p, '=', n);
            size_t nlen = eq ? (size_t)(eq - p) : n;
            char *rawname = strndup(p, nlen);
            char *rawvalue = eq ? strndup(eq + 1, n - nlen - 1) : strdup("");
            query_item_t *it = &r->query[r->nquery];
            it->name = rawname ? evhttp_uridecode(rawname, 1, &it->name_len) : NULL;
            it->value = rawvalue ? evhttp_uridecode(rawvalue, 1, &it->value_len) : NULL;
            free(rawname);
            free(rawvalue);
            if (it->name == NULL || it->value == NULL) {
                free(it->name);
                free(it->value);
                it->name = it->value = NULL;
                return -1;
            }
            r->nquery++;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}

const char *http_req_query(const http_req_t *r, const char *name, size_t *len)
{
    http_req_t *m = (http_req_t *)r; /* Parsing lazily is not a visible change. */
    if (!m->query_parsed) {
        m->query_parsed = 1;
        if (parse_query(m) != 0)
            return NULL;
    }
    size_t nlen = strlen(name);
    const query_item_t *found = NULL;
    for (int i = 0; i < r->nquery; i++) {
        const query_item_t *it = &r->query[i];
        if (it->name != NULL && it->name_len == nlen && memcmp(it->name, name, nlen) == 0)
            found = it; /* The last one wins, as in the original service. */
    }
    if (found == NULL)
        return NULL;
    *len = found->value_len;
    return found->value;
}

const char *http_req_peer(const http_req_t *r)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(r->evreq);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (evcon != NULL)
        evhttp_connection_get_peer(evcon, &addr, &port);
    return addr != NULL ? addr : "";
}

double http_req_elapsed_ms(const http_req_t *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - r->start.tv_sec) * 1e3 +
           (double)(now.tv_nsec - r->start.tv_nsec) / 1e6;
}

void http_req_set_source(http_req_t *r, metrics_source_t source)
{
    r->source = source;
}

const char *http_req_body(const http_req_t *r, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->evreq);
    *len = evbuffer_get_length(in);
    const char *data = (const char *)evbuffer_pullup(in, -1);
    return data ? data : "";
}

const char *http_req_header(const http_req_t *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->evreq), name);
}

void http_req_add_header(http_req_t *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->evreq), name, value);
}

/* ---------------------------------------------------------------- routing --- */

/*
 * Matches path against pattern. A "{name}" pattern segment matches one non-empty path segment; a
 * final "{name*}" matches the rest of the path, slashes included, possibly empty. The position of
 * the segment is returned through seg/seglen. Returns 1 on a match.
 */
static int route_match(const char *pattern, const char *path, const char **seg, size_t *seglen)
{
    *seg = NULL;
    *seglen = 0;
    while (*pattern) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            int rest = close != NULL && close > pattern && close[-1] == '*';
            pattern = close ? close + 1 : pattern + strlen(pattern);
            *seg = path;
            while (*path && (rest || *path != '/'))
                path++;
            *seglen = (size_t)(path - *seg);
            if (*seglen == 0 && !rest)
                return 0; /* "/products/" is not "/products/{id}" with an empty id. */
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    return *path == '\0';
}

/*
 * A path that matches no route but would without its trailing slash ("/products/", "/health/") is
 * redirected there with 307, the query kept, as the original service's framework did. Returns 1
 * when it answered.
 */
static int redirect_slash(http_req_t *r, const char *path)
{
    http_server_t *s = r->server;
    size_t n = strlen(path);
    if (n < 2 || path[n - 1] != '/' || path[1] == '/')
        return 0; /* Never "//host": a Location starting so would leave this origin. */
    char *target = strndup(path, n - 1);
    int match = 0;
    for (int i = 0; target != NULL && i < s->nroutes && !match; i++) {
        const char *seg;
        size_t seglen;
        match = route_match(s->routes[i].pattern, target, &seg, &seglen);
    }
    if (match) {
        const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->evreq));
        struct evbuffer *loc = evbuffer_new();
        if (loc != NULL) {
            evbuffer_add_printf(loc, "%s%s%s", target, q && *q ? "?" : "", q && *q ? q : "");
            evbuffer_add(loc, "", 1);
            http_req_add_header(r, "Location", (const char *)evbuffer_pullup(loc, -1));
            evbuffer_free(loc);
        }
        http_reply_empty(r, loc != NULL ? 307 : 503);
    }
    free(target);
    return match;
}

static int method_bit(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
    case EVHTTP_REQ_HEAD:
        return HTTP_GET;
    case EVHTTP_REQ_POST:
        return HTTP_POST;
    case EVHTTP_REQ_PUT:
        return HTTP_PUT;
    case EVHTTP_REQ_PATCH:
        return HTTP_PATCH;
    case EVHTTP_REQ_DELETE:
        return HTTP_DELETE;
    default:
        return 0;
    }
}

static void allow_header(int methods, char *out, size_t len)
{
    static const struct {
        int bit;
        const char *name;
    } names[] = {{HTTP_GET, "GET, HEAD"},
                 {HTTP_POST, "POST"},
                 {HTTP_PUT, "PUT"},
                 {HTTP_PATCH, "PATCH"},
                 {HTTP_DELETE, "DELETE"}};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (methods & names[i].bit) {
            int n = snprintf(out + used, len - used, "%s%s", used ? ", " : "", names[i].name);
            if (n < 0 || (size_t)n >= len - used)
                return;
            used += (size_t)n;
        }
    }
    snprintf(out + used, len - used, "%sOPTIONS", used ? ", " : "");
}

static void preflight(http_req_t *r, int methods)
{
    char allow[128];
    allow_header(methods, allow, sizeof allow);
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->evreq);
    const char *want = evhttp_find_header(in, "Access-Control-Request-Headers");
    http_req_add_header(r, "Allow", allow);
    http_req_add_header(r, "Access-Control-Allow-Methods", allow);
    http_req_add_header(r, "Access-Control-Allow-Headers",
                        want ? want : "Content-Type, X-Request-Id");
    http_req_add_header(r, "Access-Control-Max-Age", "600");
    http_reply_empty(r, 204);
}

static void dispatch(struct evhttp_request *evreq, void *arg)
{
    http_server_t *s = arg;
    http_conns_request_started(s->conns, evreq);

    http_req_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        evhttp_send_error(evreq, 503, NULL);
        return;
    }
    r->server = s;
    r->evreq = evreq;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    make_request_id(s, evreq, r->id);
    s->in_flight++;
    r->route = s->ui ? metrics_route_ui() : metrics_route_unmatched();

    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(evreq));
    if (path == NULL || *path == '\0')
        path = "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(evreq);
    if (cmd == EVHTTP_REQ_CONNECT) {
        /*
         * No tunnel is opened here: answer, then close, so nothing sent next is read as HTTP.
         * evhttp keeps a CONNECT's connection open whatever the headers say, so the bookkeeping
         * closes it.
         */
        evhttp_add_header(evhttp_request_get_output_headers(evreq), "Connection", "close");
        if (http_conns_close_after_reply(s->conns, evreq) != 0)
            log_warn("CONNECT on an untracked connection: it stays open after the answer");
    }
    int bit = method_bit(cmd);
    int allowed = 0;
    for (int i = 0; i < s->nroutes; i++) {
        const char *seg;
        size_t seglen;
        if (!route_match(s->routes[i].pattern, path, &seg, &seglen))
            continue;
        allowed |= s->routes[i].methods;
        if (!s->ui && i < METRICS_MAX_ROUTES)
            r->route = s->metric_routes[i]; /* Also for a 405 or a preflight on this path. */
        if (!(s->routes[i].methods & bit))
            continue;
        if (seg != NULL) {
            char *raw = strndup(seg, seglen);
            r->param = raw ? evhttp_uridecode(raw, 0, &r->param_len) : NULL;
            free(raw);
            if (r->param == NULL) {
                http_reply_error(r, 503, "Service Unavailable");
                return;
            }
        }
        if (!s->ui && i < METRICS_MAX_ROUTES)
            r->route = s->metric_routes[i];
        r->route_pattern = s->routes[i].pattern;
        s->routes[i].handler(r);
        return;
    }
    if (allowed == 0) {
        if (!redirect_slash(r, path))
            http_reply_error(r, 404, "Not Found");
    } else if (cmd == EVHTTP_REQ_OPTIONS) {
        preflight(r, allowed);
    } else {
        char allow[128];
        allow_header(allowed, allow, sizeof allow);
        http_req_add_header(r, "Allow", allow);
        http_reply_error(r, 405, "Method Not Allowed");
    }
}

/* ---------------------------------------------------------------- life cycle --- */

int http_server_new(struct event_base *base, evutil_socket_t listen_fd, const config_t *cfg,
                    const http_route_t *routes, int n, void *ctx, http_server_t **out)
{
    http_server_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->base = base;
    s->cfg = cfg;
    s->routes = routes;
    s->nroutes = n;
    s->ctx = ctx;
    s->evh = evhttp_new(base);
    if (s->evh == NULL)
        goto fail;
    evhttp_set_allowed_methods(s->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                           EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
                                           EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(s->evh, cfg->max_header_bytes);
    evhttp_set_max_body_size(s->evh, cfg->max_body_bytes);
    evhttp_set_timeout(s->evh, cfg->idle_timeout_seconds);
    /* Replies without a body (204, an empty 202) carry no Content-Type; every body sets its own. */
    evhttp_set_default_content_type(s->evh, NULL);
    evhttp_set_gencb(s->evh, dispatch, s);
    int per_loop = (cfg->max_connections + cfg->workers - 1) / cfg->workers;
    if (http_conns_new(base, s->evh, per_loop, cfg->request_timeout_ms,
                       (size_t)cfg->max_header_bytes, &s->conns) != 0)
        goto fail;
    s->bound = evhttp_accept_socket_with_handle(s->evh, listen_fd);
    if (s->bound == NULL)
        goto fail;
    http_conns_set_listener(s->conns, evhttp_bound_socket_get_listener(s->bound));
    s->marker = event_new(base, -1, EV_PERSIST, on_marker, s);
    struct timeval year = {365L * 24 * 3600, 0};
    if (s->marker == NULL || event_add(s->marker, &year) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    if (s->marker)
        event_free(s->marker);
    if (s->evh)
        evhttp_free(s->evh);
    http_conns_free(s->conns);
    free(s);
    return -1;
}

void http_server_set_metrics(http_server_t *s, struct metrics_block *block, int ui)
{
    s->metrics = block;
    s->ui = ui;
    for (int i = 0; i < s->nroutes && i < METRICS_MAX_ROUTES; i++)
        s->metric_routes[i] = metrics_route_index(s->routes[i].pattern);
}

void http_server_stop_accepting(http_server_t *s)
{
    if (s->bound == NULL)
        return;
    http_conns_set_listener(s->conns, NULL);
    evhttp_del_accept_socket(s->evh, s->bound);
    s->bound = NULL;
}

int http_server_in_flight(const http_server_t *s)
{
    return s->in_flight;
}

void http_server_free(http_server_t *s)
{
    if (s == NULL)
        return;
    http_server_stop_accepting(s);
    event_free(s->marker);
    evhttp_free(s->evh);
    http_conns_free(s->conns);
    free(s);
}
