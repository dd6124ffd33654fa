/*
 * http — see http.h.
 */
#include "http/http.h"

#include "http/http_conn.h"
#include "http/http_parse.h"
#include "core/metrics.h"
#include "core/log.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEAD_INLINE 1024 /* Answer heads up to this size are built on the stack. */
#define EXTRA_INLINE 256 /* Header lines added by a handler, kept without an allocation. */
#define PARAM_INLINE 64  /* A decoded "{...}" segment kept without an allocation. */

/* The methods a request can have; bits of routes are HTTP_* (http.h). */
enum { M_OTHER, M_GET, M_HEAD, M_POST, M_PUT, M_PATCH, M_DELETE, M_OPTIONS, M_TRACE, M_CONNECT };

struct http_server {
    struct event_base *base;               /* Loop. */
    http_conns_t *conns;                   /* Its connections. */
    const config_t *cfg;                   /* Settings. */
    const http_route_t *routes;            /* Route table. */
    int nroutes;                           /* Its size. */
    void *ctx;                             /* Handed to handlers. */
    int in_flight;                         /* Dispatched, not yet answered. */
    metrics_block_t *metrics;              /* Where answers are counted; may be NULL. */
    int metric_routes[METRICS_MAX_ROUTES]; /* Route table index → metrics route. */
    int ui;                                /* 1 for the dashboard's server. */
    uint64_t rand_state;                   /* Request ids: xorshift64* state, never 0. */
    time_t date_at;                        /* The second date_line is for. */
    char date_line[64];                    /* "Date: ...\r\n" of that second. */
    size_t date_len;                       /* Its length. */
};

/* One decoded query item; name and value may contain any byte, NUL included. */
typedef struct {
    char *name;       /* Decoded name, malloc'd. */
    size_t name_len;  /* Its length. */
    char *value;      /* Decoded value, malloc'd. */
    size_t value_len; /* Its length. */
} query_item_t;

struct http_req {
    http_server_t *server;           /* Owner. */
    http_conn_t *conn;               /* The connection; NULL once it is lost. */
    http_head_t head;                /* The request head (strings in the connection's buffer). */
    const char *body;                /* The body, or NULL. */
    size_t body_len;                 /* Its length. */
    int method;                      /* M_*. */
    const char *path;                /* The path of the target, NUL-terminated. */
    const char *query_text;          /* What follows '?', or NULL. */
    char *lost_in;                   /* The buffers of a lost connection, freed with the request. */
    http_field_t *lost_fields;       /* Its field array. */
    char lost_peer[48];              /* Its client's address. */
    struct timespec start;           /* Dispatch time, CLOCK_MONOTONIC. */
    char id[129];                    /* X-Request-Id. */
    char *param;                     /* Decoded "{...}" segment (param_inline or malloc'd). */
    size_t param_len;                /* Its length (it may contain NUL bytes). */
    char param_inline[PARAM_INLINE]; /* Room for a short one. */
    query_item_t *query;             /* Decoded query items, malloc'd. */
    int nquery;                      /* Their number. */
    int query_parsed;                /* 1 once query is filled. */
    metrics_source_t source;         /* Where the answer came from (metrics and the access log). */
    int route;                       /* Metrics route of the request. */
    const char *route_pattern;       /* The matched route's pattern, for the log. */
    int raw;                         /* 1 when the handler set its own Content-Type. */
    char *extra;                     /* Header lines added by the handler ("Name: value\r\n"...). */
    size_t extra_len;                /* Their length. */
    size_t extra_cap;                /* Room in extra. */
    char extra_inline[EXTRA_INLINE]; /* extra's first home. */
    void (*on_gone)(void *);         /* Stream only: called when the client went away. */
    void *gone_arg;                  /* Its argument. */
    int streaming;                   /* 1 once a stream has begun. */
    int chunked;                     /* 1 when the stream's data is sent as chunks. */
};

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

/* The request's X-Request-Id: the client's, when valid, else a new one from s. */
static void make_request_id(http_server_t *s, const http_head_t *head, char out[129])
{
    size_t len = 0;
    const char *in = head != NULL ? http_parse_field(head, "X-Request-Id", &len) : NULL;
    if (in != NULL && len <= 128 && valid_request_id(in)) {
        memcpy(out, in, len + 1);
        return;
    }
    if (s->rand_state == 0)
        s->rand_state = random_seed(out);
    static const char digits[] = "0123456789abcdef";
    uint64_t v = next_random(&s->rand_state);
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
    out[16] = '\0';
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

/* ---------------------------------------------------------------- answer heads --- */

/* A growing text of header lines: inline storage first, then the heap. */
typedef struct {
    char *p;    /* Text. */
    size_t len; /* Bytes used. */
    size_t cap; /* Room. */
    int heap;   /* 1 when p is malloc'd. */
    int failed; /* 1 when memory ran out (the text is then incomplete). */
} text_t;

static void text_add(text_t *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n > t->cap) {
        size_t cap = (t->len + n) * 2;
        char *p = t->heap ? realloc(t->p, cap) : malloc(cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        if (!t->heap)
            memcpy(p, t->p, t->len);
        t->p = p;
        t->cap = cap;
        t->heap = 1;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void text_str(text_t *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void text_line(text_t *t, const char *name, const char *value)
{
    text_str(t, name);
    text_add(t, ": ", 2);
    text_str(t, value);
    text_add(t, "\r\n", 2);
}

static void text_number(text_t *t, size_t v)
{
    char digits[24];
    int n = 0;
    do {
        digits[sizeof digits - 1 - (size_t)n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    text_add(t, digits + sizeof digits - n, (size_t)n);
}

static void text_free(text_t *t)
{
    if (t->heap)
        free(t->p);
}

/* The request's header field name, or NULL (also for requests whose head was not read). */
static const char *request_field(const http_req_t *r, const char *name)
{
    return r->head.nfields > 0 ? http_parse_field(&r->head, name, NULL) : NULL;
}

/*
 * The CORS headers of every answer to a request that has an Origin, preflights included; none
 * without one (a same-origin or non-browser client), as the original's CORSMiddleware answers —
 * and two headers, 212 bytes, fewer on every such answer. With CORS_ORIGINS "*" any origin may read
 * the answer, without credentials (a browser refuses credentials with "*"). With a list, a listed
 * origin is echoed and may send credentials (cookies, Authorization), as the original service's
 * CORSMiddleware(allow_credentials=True) answers; the answer then depends on Origin, hence Vary.
 */
static void add_cors(text_t *t, const http_req_t *r, const config_t *cfg)
{
    const char *origin = request_field(r, "Origin");
    if (strcmp(cfg->cors_origins, "*") == 0) {
        if (origin == NULL)
            return;
        text_line(t, "Access-Control-Allow-Origin", "*");
    } else {
        text_line(t, "Vary", "Origin");
        if (origin == NULL || !origin_listed(cfg->cors_origins, origin))
            return;
        text_line(t, "Access-Control-Allow-Origin", origin);
        text_line(t, "Access-Control-Allow-Credentials", "true");
    }
    text_line(t, "Access-Control-Expose-Headers",
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
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
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

/* The Date header line of now, made once a second. */
static void add_date(text_t *t, http_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_at || s->date_len == 0) {
        struct tm tm;
        gmtime_r(&now, &tm);
        s->date_len =
            strftime(s->date_line, sizeof s->date_line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        s->date_at = now;
    }
    text_add(t, s->date_line, s->date_len);
}

/* A status with no content at all (RFC 9110 §6.4.1). */
static int bodiless_status(int status)
{
    return (status >= 100 && status < 200) || status == 204 || status == 304;
}

/*
 * The head of an answer: status line, the handler's header lines, the service's own, and the
 * framing: Content-Length (length, or none when it is -1: a stream) and Connection.
 */
static void build_head(text_t *t, http_req_t *r, int status, long long length, int json)
{
    http_server_t *s = r->server;
    int minor = r->head.method != NULL ? r->head.minor : 1;
    text_str(t, minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
    text_number(t, (size_t)status);
    text_add(t, " ", 1);
    text_str(t, reason_phrase(status));
    text_add(t, "\r\n", 2);
    if (json)
        text_str(t, "Content-Type: application/json\r\n");
    text_add(t, r->extra, r->extra_len);
    text_str(t, "X-Request-Id: ");
    text_str(t, r->id);
    text_str(t, "\r\nX-Instance: ");
    text_str(t, s->cfg->instance);
    text_add(t, "\r\n", 2);
    add_cors(t, r, s->cfg);
    add_date(t, s);
    if (length >= 0 && !bodiless_status(status)) {
        text_str(t, "Content-Length: ");
        text_number(t, (size_t)length);
        text_add(t, "\r\n", 2);
    }
    int keep = r->conn != NULL && http_conn_keep_alive(r->conn);
    if (!keep)
        text_str(t, "Connection: close\r\n");
    else if (minor == 0)
        text_str(t, "Connection: keep-alive\r\n");
    text_add(t, "\r\n", 2);
}

/* ---------------------------------------------------------------- replies --- */

static void req_free(http_req_t *r)
{
    for (int i = 0; i < r->nquery; i++) {
        free(r->query[i].name);
        free(r->query[i].value);
    }
    free(r->query);
    if (r->param != r->param_inline)
        free(r->param);
    if (r->extra != r->extra_inline)
        free(r->extra);
    free(r->lost_in);
    free(r->lost_fields);
    free(r);
}

static const char *method_name(const http_req_t *r)
{
    return r->head.method != NULL ? r->head.method : "-";
}

/* Writes to the access log when it is on or the request was slow. */
static void log_answer(const http_req_t *r, int status, double us)
{
    const http_server_t *s = r->server;
    int slow = us >= (double)s->cfg->slow_request_ms * 1000.0;
    if (!slow && !log_enabled(LOG_INFO))
        return;
    char path[512];
    snprintf(path, sizeof path, "%s%s%s", r->path != NULL ? r->path : "-",
             r->query_text != NULL ? "?" : "", r->query_text != NULL ? r->query_text : "");
    log_request_t entry = {
        .method = method_name(r),
        .path = path,
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

/*
 * Sends the answer with buf (may be NULL) as its body and frees r. A HEAD request gets the
 * Content-Length a GET would get and no body (RFC 9110 §9.3.2).
 */
static void send_reply(http_req_t *r, int status, struct evbuffer *buf)
{
    http_server_t *s = r->server;
    double us = http_req_elapsed_ms(r) * 1000.0;
    log_answer(r, status, us);
    if (r->conn != NULL) {
        size_t len = buf != NULL ? evbuffer_get_length(buf) : 0;
        char inline_head[HEAD_INLINE];
        text_t t = {inline_head, 0, sizeof inline_head, 0, 0};
        build_head(&t, r, status, buf != NULL || !bodiless_status(status) ? (long long)len : -1,
                   buf != NULL && !r->raw);
        int head_only = r->method == M_HEAD || bodiless_status(status);
        if (head_only && buf != NULL)
            evbuffer_drain(buf, len);
        if (t.failed) {
            static const char fallback[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                           "Content-Length: 0\r\nConnection: close\r\n\r\n";
            http_conn_close_after(r->conn);
            http_conn_send(r->conn, fallback, sizeof fallback - 1, NULL, 1);
        } else {
            http_conn_send(r->conn, t.p, t.len, head_only ? NULL : buf, 1);
        }
        text_free(&t);
    }
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

/* ---------------------------------------------------------------- lost connections --- */

/* The connection went away before r was answered: keep what r points into, forget the rest. */
static void on_lost(void *owner, char *in, http_field_t *fields, const char *peer)
{
    http_req_t *r = owner;
    r->conn = NULL;
    r->lost_in = in;
    r->lost_fields = fields;
    snprintf(r->lost_peer, sizeof r->lost_peer, "%s", peer);
    if (!r->streaming)
        return; /* The handler still answers; the answer is then only counted. */
    void (*fn)(void *) = r->on_gone;
    void *fn_arg = r->gone_arg;
    log_info("stream closed by client request_id=%s", r->id);
    r->server->in_flight--;
    req_free(r);
    fn(fn_arg);
}

/* ---------------------------------------------------------------- streams --- */

int http_stream_begin(http_req_t *r, const char *content_type, void (*on_gone)(void *arg),
                      void *arg)
{
    if (r->method == M_HEAD) {
        /* The headers a GET starts its stream with, and no body: the stream never begins. */
        http_req_add_header(r, "Content-Type", content_type);
        http_req_add_header(r, "Cache-Control", "no-cache");
        r->raw = 1;
        send_reply(r, 200, NULL);
        return 1;
    }
    if (r->conn == NULL)
        return -1;
    r->on_gone = on_gone;
    r->gone_arg = arg;
    r->streaming = 1;
    /* HTTP/1.1 gets chunks; an HTTP/1.0 client reads until the connection closes. */
    r->chunked = r->head.minor >= 1;
    if (!r->chunked)
        http_conn_close_after(r->conn);
    http_req_add_header(r, "Content-Type", content_type);
    http_req_add_header(r, "Cache-Control", "no-cache");
    if (r->chunked)
        http_req_add_header(r, "Transfer-Encoding", "chunked");
    char inline_head[HEAD_INLINE];
    text_t t = {inline_head, 0, sizeof inline_head, 0, 0};
    build_head(&t, r, 200, -1, 0);
    if (t.failed) {
        text_free(&t);
        r->streaming = 0;
        return -1;
    }
    http_conn_set_owner(r->conn, r, on_lost);
    http_conn_send(r->conn, t.p, t.len, NULL, 0);
    text_free(&t);
    return 0;
}

void http_stream_send(http_req_t *r, const char *data, size_t len)
{
    if (r->conn == NULL || len == 0)
        return;
    char size[24];
    int n = r->chunked ? snprintf(size, sizeof size, "%zx\r\n", len) : 0;
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL)
        return;
    evbuffer_add(buf, data, len);
    if (r->chunked)
        evbuffer_add(buf, "\r\n", 2);
    http_conn_send(r->conn, size, (size_t)n, buf, 0);
    evbuffer_free(buf);
}

void http_stream_end(http_req_t *r)
{
    if (r->conn != NULL) {
        static const char last[] = "0\r\n\r\n";
        http_conn_send(r->conn, last, r->chunked ? sizeof last - 1 : 0, NULL, 1);
    }
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

/* A malloc'd, NUL-terminated decoding of s[0, n); NULL when out of memory. */
static char *decode_copy(const char *s, size_t n, int plus, size_t *out_len)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    *out_len = http_parse_decode(s, n, d, plus);
    d[*out_len] = '\0';
    return d;
}

/*
 * Splits the query string into items at '&' and each item at its first '=' (an item without one has
 * an empty value; empty items are skipped), then percent-decodes names and values ('+' is a space),
 * as the original service's framework did. Returns 0, or -1 when out of memory.
 */
static int parse_query(http_req_t *r)
{
    const char *q = r->query_text;
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
            query_item_t *it = &r->query[r->nquery];
            it->name = decode_copy(p, nlen, 1, &it->name_len);
            it->value = eq ? decode_copy(eq + 1, n - nlen - 1, 1, &it->value_len)
                           : decode_copy("", 0, 1, &it->value_len);
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
    return r->conn != NULL ? http_conn_peer(r->conn) : r->lost_peer;
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
    *len = r->body != NULL ? r->body_len : 0;
    return r->body != NULL ? r->body : "";
}

const char *http_req_header(const http_req_t *r, const char *name)
{
    return request_field(r, name);
}

void http_req_add_header(http_req_t *r, const char *name, const char *value)
{
    /* A line break in a value would start a header line of its own (response splitting). */
    if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL) {
        log_warn("header %s dropped: its value has a line break", name);
        return;
    }
    text_t t = {r->extra, r->extra_len, r->extra_cap, r->extra != r->extra_inline, 0};
    text_line(&t, name, value);
    if (t.failed)
        return;
    r->extra = t.p;
    r->extra_len = t.len;
    r->extra_cap = t.cap;
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
        const char *q = r->query_text;
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

static int method_bit(int m)
{
    switch (m) {
    case M_GET:
    case M_HEAD:
        return HTTP_GET;
    case M_POST:
        return HTTP_POST;
    case M_PUT:
        return HTTP_PUT;
    case M_PATCH:
        return HTTP_PATCH;
    case M_DELETE:
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
    const char *want = request_field(r, "Access-Control-Request-Headers");
    http_req_add_header(r, "Allow", allow);
    http_req_add_header(r, "Access-Control-Allow-Methods", allow);
    http_req_add_header(r, "Access-Control-Allow-Headers",
                        want ? want : "Content-Type, X-Request-Id");
    http_req_add_header(r, "Access-Control-Max-Age", "600");
    http_reply_empty(r, 204);
}

/* The method's M_* value. */
static int method_of(const char *m, size_t n)
{
    static const struct {
        const char *name;
        int value;
    } methods[] = {{"GET", M_GET},         {"HEAD", M_HEAD},   {"POST", M_POST},
                   {"PUT", M_PUT},         {"PATCH", M_PATCH}, {"DELETE", M_DELETE},
                   {"OPTIONS", M_OPTIONS}, {"TRACE", M_TRACE}, {"CONNECT", M_CONNECT}};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strlen(methods[i].name) == n && memcmp(methods[i].name, m, n) == 0)
            return methods[i].value;
    }
    return M_OTHER;
}

/*
 * Splits the request target into path and query, in place (the '?' becomes a NUL). The
 * absolute form ("http://host/path") is served as its path; a fragment is dropped.
 */
static void split_target(http_req_t *r, char *target)
{
    char *hash = strchr(target, '#');
    if (hash != NULL)
        *hash = '\0';
    char *path = target;
    if (strncasecmp(path, "http://", 7) == 0 || strncasecmp(path, "https://", 8) == 0) {
        path = strstr(path, "//") + 2;
        char *slash = strpbrk(path, "/?");
        path = slash != NULL ? slash : path + strlen(path);
    }
    char *q = strchr(path, '?');
    if (q != NULL) {
        *q = '\0';
        r->query_text = q + 1;
    }
    r->path = *path != '\0' ? path : "/";
}

/* Answers a request the connection refused (bad framing, 413, 417): JSON, then the close. */
static void answer_refused(http_req_t *r, int status)
{
    log_info("request rejected status=%d request_id=%s", status, r->id);
    http_reply_error(r, status, reason_phrase(status));
}

static void dispatch(http_conn_t *c, const http_conn_request_t *creq, void *arg)
{
    http_server_t *s = arg;
    http_req_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        static const char refused[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                      "Content-Length: 0\r\nConnection: close\r\n\r\n";
        http_conn_close_after(c);
        http_conn_send(c, refused, sizeof refused - 1, NULL, 1);
        return;
    }
    r->server = s;
    r->conn = c;
    r->extra = r->extra_inline;
    r->extra_cap = sizeof r->extra_inline;
    clock_gettime(CLOCK_MONOTONIC, &r->start);
    if (creq->parsed) {
        r->head = creq->head;
        r->body = creq->body;
        r->body_len = creq->body_len;
        r->method = method_of(r->head.method, r->head.method_len);
        split_target(r, (char *)(uintptr_t)r->head.target);
    }
    make_request_id(s, creq->parsed ? &r->head : NULL, r->id);
    s->in_flight++;
    r->route = s->ui ? metrics_route_ui() : metrics_route_unmatched();
    http_conn_set_owner(c, r, on_lost);
    if (creq->error != 0) {
        answer_refused(r, creq->error);
        return;
    }
    if (r->method == M_OTHER) {
        answer_refused(r, 501); /* A method this server does not know (RFC 9110 §9.1). */
        return;
    }
    const char *path = r->path;
    if (r->method == M_CONNECT) {
        /* No tunnel is opened here: answer, then close, so nothing sent next is read as HTTP. */
        http_conn_close_after(c);
    }
    int bit = method_bit(r->method);
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
            r->param = seglen < sizeof r->param_inline ? r->param_inline : malloc(seglen + 1);
            if (r->param == NULL) {
                http_reply_error(r, 503, "Service Unavailable");
                return;
            }
            r->param_len = http_parse_decode(seg, seglen, r->param, 0);
            r->param[r->param_len] = '\0';
        }
        r->route_pattern = s->routes[i].pattern;
        s->routes[i].handler(r);
        return;
    }
    if (allowed == 0) {
        if (!redirect_slash(r, path))
            http_reply_error(r, 404, "Not Found");
    } else if (r->method == M_OPTIONS) {
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
    http_conns_config_t cc = {
        .max_connections = (cfg->max_connections + cfg->workers - 1) / cfg->workers,
        .request_timeout_ms = cfg->request_timeout_ms,
        .idle_timeout_seconds = cfg->idle_timeout_seconds,
        .max_head = (size_t)cfg->max_header_bytes,
        .max_body = (size_t)cfg->max_body_bytes,
    };
    if (http_conns_new(base, listen_fd, &cc, dispatch, s, &s->conns) != 0) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
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
    http_conns_stop_accepting(s->conns);
}

int http_server_in_flight(const http_server_t *s)
{
    return s->in_flight;
}

void http_server_free(http_server_t *s)
{
    if (s == NULL)
        return;
    http_conns_free(s->conns);
    free(s);
}
