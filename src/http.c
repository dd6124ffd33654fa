/*
 * http — see http.h.
 */
#include "http.h"

#include "http_conn.h"
#include "metrics.h"
#include "log.h"

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
    struct event_base *base;           /* Loop. */
    struct evhttp *evh;                /* libevent's server. */
    struct evhttp_bound_socket *bound; /* Our accept registration on the shared socket. */
    http_conns_t *conns;               /* Connection cap and request deadline. */
    const config_t *cfg;               /* Settings. */
    const http_route_t *routes;        /* Route table. */
    int nroutes;                       /* Its size. */
    void *ctx;                         /* Handed to handlers. */
    int in_flight;                     /* Dispatched, not yet answered. */
    metrics_block_t *metrics;          /* Where answers are counted; may be NULL. */
    int metric_routes[METRICS_MAX_ROUTES]; /* Route table index → metrics route. */
    int ui;                            /* 1 for the dashboard's server. */
};

struct http_req {
    http_server_t *server;        /* Owner. */
    struct evhttp_request *evreq; /* libevent's request. */
    struct timespec start;        /* Dispatch time, CLOCK_MONOTONIC. */
    char id[129];                 /* X-Request-Id. */
    char *param;                  /* Decoded "{...}" segment, malloc'd. */
    size_t param_len;             /* Its length in bytes (it may hold a decoded NUL). */
    struct evkeyvalq query;       /* Parsed query string. */
    int query_parsed;             /* 1 once query is filled. */
    const char *source;           /* For the access log; static string or NULL. */
    int route;                    /* Metrics route of the request. */
    const char *route_pattern;    /* The matched route's pattern, for the log. */
    int raw;                      /* 1 when the handler set its own Content-Type. */
    void (*on_gone)(void *);      /* Stream only: called when the client went away. */
    void *gone_arg;               /* Its argument. */
};

/* Settings for the replies evhttp makes on its own (see evhttp_send_error below). */
static const config_t *http_global_cfg;
/* Where this thread's loop counts answers, for the replies evhttp makes on its own. */
static _Thread_local metrics_block_t *http_thread_metrics;

/* ---------------------------------------------------------------- request ids and CORS --- */

static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
        if (state == 0)
            state = 0x9e3779b97f4a7c15ULL;
    }
    /* xorshift64*: fast and good enough for identifiers that only need to be distinct. */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1DULL;
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

static void make_request_id(struct evhttp_request *evreq, char out[129])
{
    const char *in = evhttp_find_header(evhttp_request_get_input_headers(evreq), "X-Request-Id");
    if (in != NULL && valid_request_id(in)) {
        snprintf(out, 129, "%s", in);
        return;
    }
    snprintf(out, 129, "%016llx", (unsigned long long)next_random());
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
 * The CORS headers of every answer, preflights included. With CORS_ORIGINS "*" any origin may read
 * the answer, without credentials (a browser refuses credentials with "*"). With a list, a listed
 * origin is echoed and may send credentials (cookies, Authorization), as the original service's
 * CORSMiddleware(allow_credentials=True) answers; the answer then depends on Origin, hence Vary.
 */
static void add_cors(struct evhttp_request *evreq, const config_t *cfg)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(evreq);
    if (strcmp(cfg->cors_origins, "*") == 0) {
        evhttp_add_header(out, "Access-Control-Allow-Origin", "*");
    } else {
        const char *origin = evhttp_find_header(evhttp_request_get_input_headers(evreq), "Origin");
        evhttp_add_header(out, "Vary", "Origin");
        if (origin == NULL || !origin_listed(cfg->cors_origins, origin))
            return;
        evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
        evhttp_add_header(out, "Access-Control-Allow-Credentials", "true");
    }
    evhttp_add_header(out, "Access-Control-Expose-Headers",
                      "X-Request-Id, X-Instance, X-Total-Count, Link, X-Cache, "
                      "X-Cache-Write-Mode, X-Cache-Action");
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

/* ---------------------------------------------------------------- errors made by evhttp --- */

/*
 * evhttp answers requests it cannot parse (bad request line, headers over the limit, body over the
 * limit, unknown method) by calling evhttp_send_error, which writes an HTML page. libevent calls it
 * through the PLT, so this definition in the program replaces the library's for those answers too,
 * and every error the service sends is JSON. It does what the library's version does (HTTP/1.1,
 * Connection: close, then evhttp_send_reply) with a JSON body, and tells an oversized header block
 * (431) from an oversized body (413), which evhttp reports alike.
 */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason);
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    (void)reason;
    if (!req->major || !req->minor) {
        req->major = 1;
        req->minor = 1;
    }
    int status = error;
    if ((error == 400 || error == 413) && http_global_cfg != NULL) {
        /* evhttp reports a header block over the limit as 400 (one long line) or 413. */
        struct evkeyvalq *in = evhttp_request_get_input_headers(req);
        const char *cl = evhttp_find_header(in, "Content-Length");
        const char *te = evhttp_find_header(in, "Transfer-Encoding");
        int body_too_large =
            error == 413 &&
            (te != NULL || (cl != NULL && strtoll(cl, NULL, 10) > http_global_cfg->max_body_bytes));
        if (!body_too_large &&
            http_conns_request_bytes(req) > (long long)http_global_cfg->max_header_bytes)
            status = 431;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_clear_headers(out);
    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Connection", "close");
    char id[129];
    make_request_id(req, id);
    evhttp_add_header(out, "X-Request-Id", id);
    if (http_global_cfg != NULL)
        add_cors(req, http_global_cfg);
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_connection_free(evhttp_request_get_connection(req));
        return;
    }
    add_detail(buf, reason_phrase(status));
    log_info("request rejected status=%d request_id=%s", status, id);
    metrics_observe(http_thread_metrics, metrics_route_unmatched(), status, METRICS_SOURCE_NONE, 0);
    evhttp_send_reply(req, status, reason_phrase(status), buf);
    evbuffer_free(buf);
}

/* ---------------------------------------------------------------- replies --- */

static void req_free(http_req_t *r)
{
    if (r->query_parsed)
        evhttp_clear_headers(&r->query);
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
            .source = r->source,
            .duration_us = us,
            .request_id = r->id,
            .instance = s->cfg->instance,
            .slow = slow,
        };
        log_request(&entry);
    }
    evhttp_send_reply(r->evreq, status, reason_phrase(status), buf);
    if (s->metrics != NULL)
        metrics_observe(s->metrics, r->route, status, metrics_source_of(r->source),
                        (uint64_t)us);
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

const char *http_req_param(const http_req_t *r)
{
    return r->param ? r->param : "";
}

size_t http_req_param_len(const http_req_t *r)
{
    return r->param ? r->param_len : 0;
}

const char *http_req_query(const http_req_t *r, const char *name)
{
    http_req_t *m = (http_req_t *)r; /* Parsing lazily is not a visible change. */
    if (!m->query_parsed) {
        TAILQ_INIT(&m->query);
        const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->evreq));
        if (q != NULL)
            evhttp_parse_query_str(q, &m->query);
        m->query_parsed = 1;
    }
    return evhttp_find_header(&m->query, name);
}

double http_req_elapsed_ms(const http_req_t *r)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - r->start.tv_sec) * 1e3 +
           (double)(now.tv_nsec - r->start.tv_nsec) / 1e6;
}

void http_req_set_source(http_req_t *r, const char *source)
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
 * Matches path against pattern. A "{name}" pattern segment matches one path segment (possibly
 * empty); its position is returned through seg/seglen. Returns 1 on a match.
 */
static int route_match(const char *pattern, const char *path, const char **seg, size_t *seglen)
{
    *seg = NULL;
    *seglen = 0;
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *close = strchr(pattern, '}');
            int rest = close != NULL && close > pattern && close[-1] == '*';
            pattern = close ? close + 1 : pattern + strlen(pattern);
            *seg = path;
            while (*path && (rest || *path != '/'))
                path++;
            *seglen = (size_t)(path - *seg);
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    if (*pattern == '{' && *path == '\0') {
        /* An empty last segment: "/products/" against "/products/{id}". */
        *seg = path;
        while (*pattern && *pattern != '}')
            pattern++;
        if (*pattern == '}')
            pattern++;
    }
    return *pattern == '\0' && *path == '\0';
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
    make_request_id(evreq, r->id);
    s->in_flight++;
    r->route = s->ui ? metrics_route_ui() : metrics_route_unmatched();

    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(evreq));
    if (path == NULL || *path == '\0')
        path = "/";
    enum evhttp_cmd_type cmd = evhttp_request_get_command(evreq);
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
            size_t outlen = 0;
            char *raw = strndup(seg, seglen);
            r->param = raw ? evhttp_uridecode(raw, 0, &outlen) : NULL;
            r->param_len = outlen;
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
    http_global_cfg = cfg; /* Same value from every loop; written before any request. */
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
    if (http_conns_new(base, s->evh, per_loop, cfg->request_timeout_ms, &s->conns) != 0)
        goto fail;
    s->bound = evhttp_accept_socket_with_handle(s->evh, listen_fd);
    if (s->bound == NULL)
        goto fail;
    http_conns_set_listener(s->conns, evhttp_bound_socket_get_listener(s->bound));
    *out = s;
    return 0;
fail:
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
    http_thread_metrics = block;
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
    evhttp_free(s->evh);
    http_conns_free(s->conns);
    free(s);
}
