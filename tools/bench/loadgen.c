/*
 * loadgen — see loadgen.h. This file runs the load: the phases and the connections.
 * loadgen_options.c parses the options, loadgen_report.c renders the results, http_fetch.c makes
 * the few blocking requests around the run.
 *
 * A run goes through phases: warm-up (optional: the same load, counted apart), a drain (no new
 * requests until every connection is idle, so that no warm-up request is counted in what follows),
 * the measured phase, and a final drain. The service's counters are read from /cache/stats with a
 * blocking request at both ends of the measured phase, while nothing is in flight, so the report
 * can set the service's figures beside its own.
 *
 * Each connection is a non-blocking socket with a read event (persistent) and a write event (for
 * the connect and for requests that do not fit in the socket buffer at once). Its responses are
 * parsed in place by http_response; one request is in flight per connection. A 100 ms tick checks
 * request timeouts, reconnects connections that failed, stops a run that gets no answers, and
 * prints the progress line once a second.
 */
#include "loadgen.h"

#include "cacheme/version.h"
#include "histogram.h"
#include "http_fetch.h"
#include "http_response.h"
#include "keydist.h"
#include "loadgen_report.h"
#include "timeline.h"

#include <assert.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL
#define TICK_MS 100              /* Timeouts, reconnects and progress are checked this often. */
#define RECONNECT_BACKOFF_MS 100 /* Wait after a failed connection attempt. */
#define STALL_MIN_S 5.0          /* No answer for max(this, 2 * timeout): the run stops. */
#define SYNC_TIMEOUT_MS 5000     /* Deadline of the set-up requests (/cache/stats, clear). */
#define IN_BUF_MAX (4u << 20)    /* A response larger than this is a socket error. */
#define LATENCY_MAX_NS (UINT64_C(1) << 36)   /* ~68.7 s, above the longest timeout. */
#define LATENCY_PRECISION 8                  /* Percentiles within 0.4 %. */
#define TIMELINE_PRECISION 5                 /* Per-interval percentiles within 3 %. */
#define TIMELINE_POINTS 400                  /* The plot keeps 200..400 points... */
#define TIMELINE_FIRST_INTERVAL_NS NS_PER_MS /* ...of 1 ms or more: a 10 s run gets 32 ms. */

/* ================================================================ clock === */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ================================================================ run state === */

typedef enum {
    PHASE_WARMUP,       /* Warm-up load. */
    PHASE_WARMUP_DRAIN, /* No new requests until the warm-up's are answered. */
    PHASE_MEASURE,      /* The measured load. */
    PHASE_DRAIN,        /* No new requests; waiting for the last answers. */
    PHASE_DONE          /* Finished; the loop is exiting. */
} phase_t;

typedef enum {
    CONN_CLOSED,     /* No socket. */
    CONN_BACKOFF,    /* No socket; a connection attempt failed, retry at retry_ns. */
    CONN_CONNECTING, /* Connect in progress (write event pending). */
    CONN_IDLE,       /* Connected, nothing in flight. */
    CONN_BUSY        /* A request is being written or awaits its answer. */
} conn_state_t;

typedef struct run run_t;

typedef struct {
    run_t *run;         /* Owner. */
    int fd;             /* Socket, -1 when closed. */
    conn_state_t state; /* See conn_state_t. */
    struct event *rev;  /* Read event (persistent) while a socket is open. */
    struct event *wev;  /* Write event, added while connecting or while a write is partial. */
    char req[512];      /* The request being written. */
    size_t req_len;     /* Its length. */
    size_t req_off;     /* Bytes already written. */
    char *in;           /* Bytes of the answer received so far. */
    size_t in_len;      /* Bytes in `in`. */
    size_t in_cap;      /* Size of `in`. */
    uint64_t sent_ns;   /* When the request's first byte was written. */
    uint64_t retry_ns;  /* CONN_BACKOFF: when to try again. */
    int is_write;       /* The request in flight is a PATCH. */
    int warmup;         /* The request in flight belongs to the warm-up. */
} conn_t;

struct run {
    const loadgen_options_t *opts; /* The options. */
    loadgen_result_t *res;         /* Where the figures go. */
    struct event_base *base;       /* The loop. */
    struct event *tick;            /* Every TICK_MS. */
    struct event *kick;           /* Made active to change phase outside a connection's callback. */
    struct event *sigint;         /* SIGINT: stop (a second one: stop at once). */
    struct event *sigterm;        /* SIGTERM: the same. */
    struct sockaddr_storage addr; /* The target. */
    socklen_t addrlen;            /* Its length. */
    char host_header[300];        /* Value of the Host header. */
    conn_t *conns;                /* opts->connections connections. */
    keydist_t *keys;              /* Which id next, and the write coin. */
    phase_t phase;                /* See phase_t. */
    uint64_t phase_start_ns;      /* Start of the current load phase. */
    uint64_t warmup_end_ns;       /* End of the warm-up. */
    uint64_t t0_ns;               /* Start of the measured phase. */
    uint64_t deadline_ns;         /* End of the measured phase at the latest. */
    uint64_t limit;               /* Measured requests at most. */
    uint64_t issued;              /* Measured requests sent. */
    int in_flight;                /* Requests sent and not yet finished. */
    int stop;                     /* 1 once a signal or a stall stopped the load. */
    int failed;                   /* 1 when the run ended for lack of answers. */
    uint64_t last_answer_ns;      /* When the last answer (or the phase start) was. */
    uint64_t stall_ns;            /* No answer for this long stops the run. */
    int show_progress;            /* 1 to print the progress line. */
    int tty;                   /* 1 when stderr is a terminal (the line is rewritten in place). */
    uint64_t next_progress_ns; /* When the progress line is due. */
    uint64_t phase_answers;    /* Answers of the current phase (for the progress line). */
    uint64_t phase_reads;      /* Answered reads of the current phase. */
    uint64_t phase_cache;      /* Of those, from the cache. */
    uint64_t phase_errors;     /* Errors of the current phase. */
    uint64_t progress_prev;    /* phase_answers at the previous progress line. */
    uint64_t progress_prev_ns; /* When that was. */
    uint64_t done_ns;          /* When the final drain ended. */
};

static void conn_next(conn_t *c, uint64_t now);
static void enter_drain(run_t *r);

/* ================================================================ connections === */

static void conn_close(conn_t *c)
{
    if (c->rev != NULL)
        event_free(c->rev);
    if (c->wev != NULL)
        event_free(c->wev);
    c->rev = c->wev = NULL;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->in_len = 0;
    c->state = CONN_CLOSED;
}

/* Counts one failed request (if one was in flight) and closes the connection. */
static void conn_fail(conn_t *c, int timeout)
{
    run_t *r = c->run;
    if (c->state == CONN_BUSY) {
        r->in_flight--;
        r->phase_errors++;
        if (!c->warmup) {
            r->res->requests++;
            if (timeout)
                r->res->timeouts++;
            else
                r->res->socket_errors++;
        } else {
            r->res->warmup_requests++;
        }
    }
    conn_close(c);
}

/* A connection attempt failed: no request was lost; try again after a pause. */
static void conn_connect_failed(conn_t *c, uint64_t now)
{
    c->run->res->connect_errors++;
    conn_close(c);
    c->state = CONN_BACKOFF;
    c->retry_ns = now + RECONNECT_BACKOFF_MS * NS_PER_MS;
}

/* Writes what is left of the request; arms the write event when the socket is full. */
static void conn_flush(conn_t *c)
{
    while (c->req_off < c->req_len) {
        ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->req_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(c->wev, NULL);
            return;
        }
        conn_fail(c, 0);
        conn_next(c, now_ns());
        return;
    }
}

/* Counts a complete answer in the phase it belongs to. */
static void conn_answered(conn_t *c, const http_response_t *resp, uint64_t now)
{
    run_t *r = c->run;
    loadgen_result_t *res = r->res;
    r->in_flight--;
    r->last_answer_ns = now;
    r->phase_answers++;
    int cls;
    if (c->is_write) {
        cls = LOADGEN_CLASS_WRITE;
    } else {
        const char *body = c->in + resp->body_off;
        cls = LOADGEN_CLASS_OTHER;
        if (resp->status == 200) {
            static const char cache[] = "\"source\":\"cache\"";
            static const char database[] = "\"source\":\"database\"";
            if (memmem(body, resp->body_len, cache, sizeof cache - 1) != NULL)
                cls = LOADGEN_CLASS_CACHE;
            else if (memmem(body, resp->body_len, database, sizeof database - 1) != NULL)
                cls = LOADGEN_CLASS_DATABASE;
        }
        r->phase_reads++;
        if (cls == LOADGEN_CLASS_CACHE)
            r->phase_cache++;
    }
    if (resp->status >= 400)
        r->phase_errors++;
    if (c->warmup) {
        res->warmup_requests++;
        return;
    }
    uint64_t latency = now - c->sent_ns;
    res->requests++;
    res->answered++;
    if (c->is_write) {
        res->writes++;
        if (resp->status == 405)
            res->writes_405++;
    } else
        res->reads++;
    if (cls == LOADGEN_CLASS_CACHE)
        res->cache_answers++;
    int klass = resp->status / 100;
    res->status[klass >= 1 && klass <= 5 ? klass : 0]++;
    histogram_record(res->latency[cls], latency);
    /* A failed allocation only thins the plot; the totals above are complete. */
    (void)timeline_record(res->timeline, now - r->t0_ns, cls, latency);
}

/* The socket is readable: read, and finish the request when its answer is complete. */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    conn_t *c = arg;
    if (c->state == CONN_CONNECTING)
        return; /* A failed connect is also readable; on_write counts it. */
    if (c->state != CONN_BUSY) {
        /* An idle connection became readable: the server closed it (or sent garbage). */
        (void)fd;
        conn_close(c);
        return;
    }
    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap * 2;
        char *grown = cap <= IN_BUF_MAX ? realloc(c->in, cap) : NULL;
        if (grown == NULL) {
            conn_fail(c, 0);
            conn_next(c, now_ns());
            return;
        }
        c->in = grown;
        c->in_cap = cap;
    }
    ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    int eof = n <= 0;
    if (n > 0)
        c->in_len += (size_t)n;
    http_response_t resp;
    int rc = http_response_parse(c->in, c->in_len, eof, &resp);
    if (rc == 0)
        return;
    uint64_t now = now_ns();
    if (rc < 0 || resp.total_len != c->in_len) {
        /* Malformed, cut short, or more bytes than one answer (we never pipeline). */
        conn_fail(c, 0);
        conn_next(c, now);
        return;
    }
    conn_answered(c, &resp, now);
    c->in_len = 0;
    if (!resp.keep_alive || eof)
        conn_close(c);
    else
        c->state = CONN_IDLE;
    conn_next(c, now);
}

/* The socket is writable: a connect finished, or a partial write can go on. */
static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    conn_t *c = arg;
    if (c->state == CONN_CONNECTING) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
            conn_connect_failed(c, now_ns());
            return;
        }
        c->state = CONN_IDLE;
        conn_next(c, now_ns());
        return;
    }
    if (c->state == CONN_BUSY)
        conn_flush(c);
}

/* Opens the connection's socket and starts connecting. */
static void conn_open(conn_t *c, uint64_t now)
{
    run_t *r = c->run;
    c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_connect_failed(c, now);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->rev = event_new(r->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(r->base, c->fd, EV_WRITE, on_write, c);
    if (c->rev == NULL || c->wev == NULL) {
        conn_connect_failed(c, now);
        return;
    }
    if (connect(c->fd, (const struct sockaddr *)&r->addr, r->addrlen) != 0 &&
        errno != EINPROGRESS) {
        conn_connect_failed(c, now);
        return;
    }
    c->state = CONN_CONNECTING;
    event_add(c->rev, NULL);
    event_add(c->wev, NULL);
}

/* 1 when the current phase wants another request now; moves to a drain when a bound is reached. */
static int may_send(run_t *r, uint64_t now)
{
    if (r->stop || r->phase == PHASE_WARMUP_DRAIN || r->phase == PHASE_DRAIN) {
        /* The last answer of a drain moves the run on (outside this connection's callback). */
        if (r->in_flight == 0)
            event_active(r->kick, 0, 0);
        return 0;
    }
    if (r->phase == PHASE_WARMUP) {
        if (now < r->warmup_end_ns)
            return 1;
        r->phase = PHASE_WARMUP_DRAIN;
        if (r->in_flight == 0)
            event_active(r->kick, 0, 0);
        return 0;
    }
    if (r->phase == PHASE_MEASURE) {
        if (r->issued < r->limit && now < r->deadline_ns)
            return 1;
        enter_drain(r);
    }
    return 0;
}

/* Builds the next request into c->req. */
static void build_request(conn_t *c)
{
    run_t *r = c->run;
    const loadgen_options_t *o = r->opts;
    uint32_t id = keydist_next(r->keys);
    c->is_write = o->write_ratio > 0 && keydist_uniform(r->keys) < o->write_ratio;
    int n;
    if (c->is_write) {
        /* A price from 1.00 to 2000.00, so that successive writes really change the row. */
        uint32_t cents = 100 + (uint32_t)(keydist_uniform(r->keys) * 199900.0);
        char body[48];
        int blen = snprintf(body, sizeof body, "{\"price\": %u.%02u}", cents / 100, cents % 100);
        n = snprintf(c->req, sizeof c->req,
                     "PATCH %s/products/%u HTTP/1.1\r\nHost: %s\r\nUser-Agent: cacheme-bench/%s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                     o->base_path, id, r->host_header, CACHEME_VERSION, blen, body);
    } else {
        n = snprintf(
            c->req, sizeof c->req,
            "GET %s/products/%u HTTP/1.1\r\nHost: %s\r\nUser-Agent: cacheme-bench/%s\r\n\r\n",
            o->base_path, id, r->host_header, CACHEME_VERSION);
    }
    /* The host and base path are bounded well below the buffer (see loadgen_options_t). */
    assert(n > 0 && (size_t)n < sizeof c->req);
    c->req_len = (size_t)n;
    c->req_off = 0;
}

/* Gives the connection its next piece of work: connect, send a request, or rest. */
static void conn_next(conn_t *c, uint64_t now)
{
    run_t *r = c->run;
    if (c->state == CONN_BUSY || c->state == CONN_CONNECTING)
        return;
    if (c->state == CONN_BACKOFF && now < c->retry_ns)
        return;
    if (!may_send(r, now))
        return;
    if (c->state == CONN_CLOSED || c->state == CONN_BACKOFF) {
        conn_open(c, now);
        return;
    }
    build_request(c);
    c->warmup = r->phase == PHASE_WARMUP;
    if (!c->warmup)
        r->issued++;
    r->in_flight++;
    c->state = CONN_BUSY;
    c->sent_ns = now_ns();
    conn_flush(c);
}

/* ================================================================ blocking requests === */

/*
 * Reads app_stats.hits and misses from /cache/stats. Returns 0, HTTP_FETCH_ECONNECT when nothing
 * listens, or another negative number with a message.
 */
static int read_service_stats(const run_t *r, uint64_t *hits, uint64_t *misses, char *err,
                              size_t errlen)
{
    int status = 0;
    char *body = NULL;
    char path[300];
    snprintf(path, sizeof path, "%s/cache/stats", r->opts->base_path);
    int rc = http_fetch((const struct sockaddr *)&r->addr, r->addrlen, r->host_header, "GET", path,
                        SYNC_TIMEOUT_MS, &status, &body, err, errlen);
    if (rc != 0)
        return rc;
    json_error_t jerr;
    json_t *root = status == 200 ? json_loads(body, 0, &jerr) : NULL;
    free(body);
    json_t *app = json_object_get(root, "app_stats");
    json_t *h = json_object_get(app, "hits");
    json_t *m = json_object_get(app, "misses");
    rc = -1;
    if (json_is_integer(h) && json_is_integer(m) && json_integer_value(h) >= 0 &&
        json_integer_value(m) >= 0) {
        *hits = (uint64_t)json_integer_value(h);
        *misses = (uint64_t)json_integer_value(m);
        rc = 0;
    } else {
        snprintf(err, errlen, "GET /cache/stats answered %d without app_stats.hits/misses", status);
    }
    json_decref(root);
    return rc;
}

/* ================================================================ phases === */

static void begin_load(run_t *r, phase_t phase, uint64_t now)
{
    r->phase = phase;
    r->phase_start_ns = now;
    r->last_answer_ns = now;
    r->phase_answers = r->phase_reads = r->phase_cache = r->phase_errors = 0;
    r->progress_prev = 0;
    r->progress_prev_ns = now;
    r->next_progress_ns = now + NS_PER_S;
    if (phase == PHASE_MEASURE) {
        r->t0_ns = now;
        r->deadline_ns = now + (uint64_t)((r->opts->duration_s > 0 ? r->opts->duration_s
                                                                   : LOADGEN_MAX_DURATION_S) *
                                          (double)NS_PER_S);
    }
    for (int i = 0; i < r->opts->connections; i++)
        conn_next(&r->conns[i], now);
}

static void enter_drain(run_t *r)
{
    if (r->phase == PHASE_MEASURE)
        r->phase = PHASE_DRAIN;
    if (r->in_flight == 0)
        event_active(r->kick, 0, 0);
}

/* Clears the progress line on a terminal (so that what follows starts on a clean line). */
static void progress_clear(run_t *r)
{
    if (r->show_progress && r->tty)
        fputs("\r\033[K", stderr);
}

static void progress_print(run_t *r, uint64_t now)
{
    double secs = (double)(now - r->phase_start_ns) / (double)NS_PER_S;
    double window = (double)(now - r->progress_prev_ns) / (double)NS_PER_S;
    double rate = window > 0 ? (double)(r->phase_answers - r->progress_prev) / window : 0;
    double hit = r->phase_reads ? 100.0 * (double)r->phase_cache / (double)r->phase_reads : 0;
    const char *label =
        r->phase == PHASE_WARMUP || r->phase == PHASE_WARMUP_DRAIN ? "warm-up" : "bench";
    fprintf(stderr, "%s%s %6.1fs  %9.0f req/s  %10llu requests  %6llu errors  hit %6.2f %%%s",
            r->tty ? "\r\033[K" : "", label, secs, rate, (unsigned long long)r->phase_answers,
            (unsigned long long)r->phase_errors, hit, r->tty ? "" : "\n");
    fflush(stderr);
    r->progress_prev = r->phase_answers;
    r->progress_prev_ns = now;
}

/* Called (through the kick event) when a drain has no request left in flight. */
static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_t *r = arg;
    if (r->in_flight != 0)
        return;
    uint64_t now = now_ns();
    if (r->phase == PHASE_WARMUP_DRAIN && !r->stop) {
        char err[256];
        progress_clear(r);
        r->res->service_known = read_service_stats(r, &r->res->service_hits,
                                                   &r->res->service_misses, err, sizeof err) == 0;
        begin_load(r, PHASE_MEASURE, now_ns());
        return;
    }
    if (r->phase == PHASE_DRAIN || r->stop) {
        r->phase = PHASE_DONE;
        r->done_ns = now;
        event_base_loopexit(r->base, NULL);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_t *r = arg;
    uint64_t now = now_ns();
    uint64_t timeout = (uint64_t)(r->opts->timeout_s * (double)NS_PER_S);
    for (int i = 0; i < r->opts->connections; i++) {
        conn_t *c = &r->conns[i];
        if (c->state == CONN_BUSY && now - c->sent_ns >= timeout) {
            conn_fail(c, 1);
            conn_next(c, now);
        } else if (c->state == CONN_CLOSED || c->state == CONN_BACKOFF || c->state == CONN_IDLE) {
            conn_next(c, now);
        }
    }
    if ((r->phase == PHASE_WARMUP || r->phase == PHASE_MEASURE) && !r->stop &&
        now - r->last_answer_ns > r->stall_ns) {
        progress_clear(r);
        fprintf(stderr, "cacheme-bench: no answer from %s for %.0f s; stopping\n", r->opts->url,
                (double)r->stall_ns / (double)NS_PER_S);
        r->stop = 1;
        r->failed = 1;
        r->res->stop_reason = "no answers";
        /* Whatever is still in flight will time out; the drain ends then. */
        enter_drain(r);
    }
    if (r->phase == PHASE_MEASURE)
        (void)may_send(r, now); /* Ends the phase at its deadline even when nothing answers. */
    if (r->show_progress && now >= r->next_progress_ns &&
        (r->phase == PHASE_WARMUP || r->phase == PHASE_MEASURE)) {
        progress_print(r, now);
        r->next_progress_ns += NS_PER_S;
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    run_t *r = arg;
    if (r->stop) {
        event_base_loopbreak(r->base); /* A second signal: stop waiting for the last answers. */
        return;
    }
    r->stop = 1;
    r->res->stop_reason = "interrupted";
    enter_drain(r);
}

/* ================================================================ main === */

/* Raises the open-file limit when the connections need more descriptors than the soft limit. */
static void raise_fd_limit(int connections)
{
    struct rlimit rl;
    rlim_t needed = (rlim_t)connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= needed)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > needed ? needed : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* Writes one report file with the given renderer. Returns 0 or -1 after a message. */
static int write_report(const char *path, int (*render)(const loadgen_result_t *, FILE *),
                        const loadgen_result_t *res, int quiet)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "cacheme-bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = render(res, f);
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "cacheme-bench: writing %s failed\n", path);
        return -1;
    }
    if (!quiet)
        fprintf(stderr, "cacheme-bench: wrote %s\n", path);
    return 0;
}

/* Sets up the run's resources; returns 0 or -1 after a message. */
static int run_init(run_t *r, const loadgen_options_t *o, loadgen_result_t *res)
{
    char err[512];
    struct addrinfo *ai = NULL;
    if (loadgen_options_resolve(o, &ai, err, sizeof err) != 0) {
        fprintf(stderr, "cacheme-bench: %s\n", err);
        return -1;
    }
    memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
    r->addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
    int v6 = strchr(o->host, ':') != NULL;
    snprintf(r->host_header, sizeof r->host_header, "%s%s%s:%s", v6 ? "[" : "", o->host,
             v6 ? "]" : "", o->port);
    r->opts = o;
    r->res = res;
    r->limit = o->requests ? o->requests : LOADGEN_MAX_REQUESTS;
    double stall = o->timeout_s * 2 > STALL_MIN_S ? o->timeout_s * 2 : STALL_MIN_S;
    r->stall_ns = (uint64_t)(stall * (double)NS_PER_S);
    r->tty = isatty(STDERR_FILENO);
    r->show_progress = !o->quiet && (o->progress || r->tty);
    r->base = event_base_new();
    r->conns = calloc((size_t)o->connections, sizeof r->conns[0]);
    if (r->base == NULL || r->conns == NULL ||
        keydist_new(o->dist, o->keys, o->zipf_s, o->hot_key, o->seed, &r->keys) != 0)
        goto oom;
    for (int i = 0; i < o->connections; i++) {
        conn_t *c = &r->conns[i];
        c->run = r;
        c->fd = -1;
        c->in_cap = 4096;
        c->in = malloc(c->in_cap);
        if (c->in == NULL)
            goto oom;
    }
    for (int k = 0; k < LOADGEN_CLASSES; k++) {
        if (histogram_new(LATENCY_PRECISION, LATENCY_MAX_NS, &res->latency[k]) != 0)
            goto oom;
    }
    if (timeline_new(LOADGEN_CLASSES, TIMELINE_FIRST_INTERVAL_NS, TIMELINE_POINTS,
                     TIMELINE_PRECISION, LATENCY_MAX_NS, &res->timeline) != 0)
        goto oom;
    struct timeval tick = {.tv_sec = 0, .tv_usec = (suseconds_t)TICK_MS * 1000};
    r->tick = event_new(r->base, -1, EV_PERSIST, on_tick, r);
    r->kick = event_new(r->base, -1, 0, on_kick, r);
    r->sigint = evsignal_new(r->base, SIGINT, on_signal, r);
    r->sigterm = evsignal_new(r->base, SIGTERM, on_signal, r);
    if (r->tick == NULL || r->kick == NULL || r->sigint == NULL || r->sigterm == NULL ||
        event_add(r->tick, &tick) != 0 || event_add(r->sigint, NULL) != 0 ||
        event_add(r->sigterm, NULL) != 0)
        goto oom;
    return 0;
oom:
    fprintf(stderr, "cacheme-bench: out of memory\n");
    return -1;
}

static void run_free(run_t *r)
{
    for (int i = 0; r->conns != NULL && i < r->opts->connections; i++) {
        conn_close(&r->conns[i]);
        free(r->conns[i].in);
    }
    free(r->conns);
    if (r->tick)
        event_free(r->tick);
    if (r->kick)
        event_free(r->kick);
    if (r->sigint)
        event_free(r->sigint);
    if (r->sigterm)
        event_free(r->sigterm);
    if (r->base)
        event_base_free(r->base);
    keydist_free(r->keys);
}

/* Runs the phases; returns the exit status. */
static int run_load(run_t *r)
{
    const loadgen_options_t *o = r->opts;
    loadgen_result_t *res = r->res;
    char err[512];
    int status = 0;
    char *body = NULL;
    /* The first request also tells whether anything answers at all. */
    if (o->clear) {
        char path[300];
        snprintf(path, sizeof path, "%s/cache/clear", o->base_path);
        if (http_fetch((const struct sockaddr *)&r->addr, r->addrlen, r->host_header, "DELETE",
                       path, SYNC_TIMEOUT_MS, &status, &body, err, sizeof err) != 0) {
            fprintf(stderr, "cacheme-bench: %s: %s\n", o->url, err);
            return 1;
        }
        free(body);
        if (status != 200) {
            fprintf(stderr, "cacheme-bench: DELETE /cache/clear answered %d\n", status);
            return 1;
        }
    }
    uint64_t hits0 = 0, misses0 = 0;
    int src = read_service_stats(r, &hits0, &misses0, err, sizeof err);
    if (src != 0) {
        if (src == HTTP_FETCH_ECONNECT) {
            fprintf(stderr, "cacheme-bench: %s: %s\n", o->url, err);
            return 1;
        }
        fprintf(stderr, "cacheme-bench: %s; the service's counters will not be reported\n", err);
    } else {
        res->service_known = 1;
        res->service_hits = hits0;
        res->service_misses = misses0;
    }
    uint64_t now = now_ns();
    if (o->warmup_s > 0) {
        r->warmup_end_ns = now + (uint64_t)(o->warmup_s * (double)NS_PER_S);
        begin_load(r, PHASE_WARMUP, now);
    } else {
        begin_load(r, PHASE_MEASURE, now);
    }
    event_base_dispatch(r->base);
    progress_clear(r);
    if (r->phase != PHASE_DONE)
        r->done_ns = now_ns(); /* A second signal broke the loop. */
    if (r->t0_ns == 0 || r->phase == PHASE_WARMUP || r->phase == PHASE_WARMUP_DRAIN)
        r->t0_ns = r->done_ns; /* Stopped during the warm-up: nothing was measured. */
    res->elapsed_s = (double)(r->done_ns - r->t0_ns) / (double)NS_PER_S;

    /* The counters at the start of the measured phase are in res; make them the gain. */
    uint64_t hits1 = 0, misses1 = 0;
    if (res->service_known && r->in_flight == 0 &&
        read_service_stats(r, &hits1, &misses1, err, sizeof err) == 0 &&
        hits1 >= res->service_hits && misses1 >= res->service_misses) {
        res->service_hits = hits1 - res->service_hits;
        res->service_misses = misses1 - res->service_misses;
    } else {
        res->service_known = 0;
    }
    return r->failed ? 1 : 0;
}

int loadgen_main(int argc, char **argv)
{
    loadgen_options_t opts;
    char err[512];
    if (loadgen_options_parse(argc, argv, &opts, err, sizeof err) != 0) {
        fprintf(stderr, "cacheme-bench: %s\n", err);
        return 2;
    }
    if (opts.help) {
        loadgen_options_usage(stdout);
        return 0;
    }
    int trc = loadgen_options_check_target(&opts, err, sizeof err);
    if (trc != 0) {
        fprintf(stderr, "cacheme-bench: %s\n", err);
        return trc == -1 ? 2 : 1;
    }
    raise_fd_limit(opts.connections);

    loadgen_result_t res;
    memset(&res, 0, sizeof res);
    res.opts = &opts;
    run_t run;
    memset(&run, 0, sizeof run);
    int rc = run_init(&run, &opts, &res) == 0 ? run_load(&run) : 1;
    run_free(&run);

    if (rc == 0 || res.requests > 0) {
        if ((opts.json ? loadgen_report_json(&res, stdout) : loadgen_report_text(&res, stdout)) !=
            0)
            rc = 1;
        fflush(stdout);
        if (opts.html != NULL &&
            write_report(opts.html, loadgen_report_html, &res, opts.quiet) != 0)
            rc = 1;
        if (opts.svg != NULL && write_report(opts.svg, loadgen_report_svg, &res, opts.quiet) != 0)
            rc = 1;
    }
    for (int k = 0; k < LOADGEN_CLASSES; k++)
        histogram_free(res.latency[k]);
    timeline_free(res.timeline);
    libevent_global_shutdown();
    return rc;
}
