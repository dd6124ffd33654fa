/*
 * scenario_rate — see scenario_rate.h.
 *
 * Steps of each algorithm's run, in order, each waiting for every reply of the one before (so that
 * on a cluster, where the INFOs go to every master and the scripts to one, nothing overtakes):
 *   BEFORE  the client's keys are deleted (a run left over from a crash counts nothing) and
 *           INFO commandstats is read from every server;
 *   BURST   the 2 x burst scripts are sent at once, in order, each with its chosen instant;
 *   AFTER   INFO commandstats again, and MEMORY USAGE of each of the client's keys;
 * then the keys are deleted and the next algorithm starts; after the fourth the run answers.
 */
#include "api/scenario_rate.h"

#include "api/api.h"
#include "cache/cache.h"
#include "cache/rate_limiter.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/lab.h"
#include "core/log.h"
#include "store/redis_client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The commands whose calls a run counts: EVAL and what the four scripts call. Other commands
 * (this run's own INFO, MEMORY and DEL, the service's other traffic) are left out; another
 * client's calls of these same commands during the run would be counted, which the note says.
 */
static const char *const COMMANDS[] = {"eval",  "incr", "pexpire", "zremrangebyscore",
                                       "zcard", "zadd", "zrange",  "get",
                                       "hmget", "hset"};
#define NCOMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

/* The keys of one client at the first and at the last instant: two windows' worth at most. */
#define MAX_KEYS (2 * RATE_LIMITER_MAX_KEYS)

/* The base of the run's keys: "lab" is no route class, so no request is ever counted here. */
static const char KEY_BASE[] = "ratelimit:{lab:rate-limit-boundary}";

typedef enum { STEP_BEFORE, STEP_BURST, STEP_AFTER } step_t;

struct rate_run;

/* What a script's reply needs to find its request. */
typedef struct {
    struct rate_run *run; /* Owner. */
    int index;            /* The request, 0 .. n-1. */
} ticket_t;

typedef struct rate_run {
    http_req_t *req;                               /* The request to answer. */
    redis_client_t *redis;                         /* The loop's Redis client. */
    scenario_rate_params_t p;                      /* Parameters. */
    int n;                                         /* Requests per algorithm: 2 x burst. */
    long long boundary;                            /* The window boundary, Unix ms. */
    long long *at;                                 /* Each request's instant, Unix ms. */
    unsigned char *allowed;                        /* Each request's decision, this algorithm. */
    ticket_t *tickets;                             /* One per request. */
    int exact;                                     /* What an exact limiter allows of them. */
    int algorithm;                                 /* The config_rate_algorithm_t running. */
    step_t step;                                   /* Where its run is. */
    int pending;                                   /* Replies still due in this step. */
    int failed;                                    /* 1 once a reply was an error or missing. */
    char keys[MAX_KEYS][RATE_LIMITER_KEY_MAX];     /* The client's keys in this algorithm. */
    int nkeys;                                     /* Their number. */
    long long before[NCOMMANDS], after[NCOMMANDS]; /* Calls per command, summed over servers. */
    long long memory;                              /* MEMORY USAGE summed over the keys. */
    int present;                                   /* Keys that existed after the burst. */
    json_t *results;                               /* One object per algorithm done. */
} rate_run_t;

/* ---------------------------------------------------------------- parameters --- */

typedef struct {
    const char *name;   /* Member of the body. */
    long long min, max; /* Bounds, inclusive. */
} param_t;

static const param_t PARAMS[] = {
    {"limit", 1, 1000},
    {"window_ms", 1000, 3600000},
    {"burst", 1, 1000},
    {"spacing_ms", 0, 60000},
};
#define NPARAMS ((int)(sizeof PARAMS / sizeof PARAMS[0]))

static void add_error(json_t *errors, const char *type, const char *name, const char *msg,
                      json_t *input)
{
    json_array_append_new(errors, json_pack("{s:s,s:[s,s],s:s,s:O}", "type", type, "loc", "body",
                                            name, "msg", msg, "input", input));
}

int scenario_rate_parse(http_req_t *req, scenario_rate_params_t *out)
{
    long long values[NPARAMS] = {10, 1000, -1, 1};
    size_t len;
    const char *body = http_req_body(req, &len);
    if (len > 0) {
        json_error_t jerr;
        json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (v == NULL) {
            api_reply_value(req, 422,
                            json_pack("{s:[{s:s,s:[s],s:s,s:n}]}", "detail", "type", "json_invalid",
                                      "loc", "body", "msg", "JSON decode error", "input"));
            return -1;
        }
        json_t *errs = json_array();
        if (!json_is_object(v)) {
            json_array_append_new(errs, json_pack("{s:s,s:[s],s:s,s:O}", "type",
                                                  "model_attributes_type", "loc", "body", "msg",
                                                  "Input should be a valid object", "input", v));
        } else {
            const char *key;
            json_t *m;
            json_object_foreach(v, key, m)
            {
                int idx = -1;
                for (int i = 0; i < NPARAMS; i++) {
                    if (strcmp(key, PARAMS[i].name) == 0)
                        idx = i;
                }
                char msg[96];
                if (idx < 0) {
                    add_error(errs, "extra_forbidden", key, "Extra inputs are not permitted", m);
                } else if (!json_is_integer(m)) {
                    add_error(errs, "int_type", key, "Input should be a valid integer", m);
                } else if (json_integer_value(m) < PARAMS[idx].min) {
                    snprintf(msg, sizeof msg, "Input should be greater than or equal to %lld",
                             PARAMS[idx].min);
                    add_error(errs, "greater_than_equal", key, msg, m);
                } else if (json_integer_value(m) > PARAMS[idx].max) {
                    snprintf(msg, sizeof msg, "Input should be less than or equal to %lld",
                             PARAMS[idx].max);
                    add_error(errs, "less_than_equal", key, msg, m);
                } else {
                    values[idx] = (long long)json_integer_value(m);
                }
            }
        }
        json_decref(v);
        if (json_array_size(errs) > 0) {
            api_reply_value(req, 422, json_pack("{s:o}", "detail", errs));
            return -1;
        }
        json_decref(errs);
    }
    out->limit = values[0];
    out->window_ms = values[1];
    out->burst = values[2] < 0 ? values[0] : values[2];
    out->spacing_ms = values[3];
    return 0;
}

/* ---------------------------------------------------------------- figures --- */

/*
 * What an exact limiter allows of the requests at at[0..n-1] (in time order): one that lets a
 * request in whenever fewer than limit were let in within the window ending with it, (t - w, t],
 * the sliding log's window. Allowing whenever it can is the most any limiter can allow without
 * ever having more than limit in a window.
 */
static int exact_allowed(const long long *at, int n, long long limit, long long w, long long *in)
{
    int count = 0, oldest = 0;
    for (int i = 0; i < n; i++) {
        while (oldest < count && in[oldest] <= at[i] - w)
            oldest++;
        if (count - oldest < limit)
            in[count++] = at[i];
    }
    return count;
}

/* The most allowed requests within any window of w (t - w, t]. */
static int most_in_window(const rate_run_t *r)
{
    int best = 0, oldest = 0;
    for (int i = 0; i < r->n; i++) {
        if (!r->allowed[i])
            continue;
        while (r->at[oldest] <= r->at[i] - r->p.window_ms || !r->allowed[oldest])
            oldest++;
        int inside = 0;
        for (int j = oldest; j <= i; j++)
            inside += r->allowed[j];
        if (inside > best)
            best = inside;
    }
    return best;
}

/*
 * Adds the calls=<n> of each counted command in an INFO commandstats reply (len bytes) to sums.
 * Lines look like "cmdstat_incr:calls=3,usec=...", separated by CRLF.
 */
static void add_commandstats(const char *text, size_t len, long long sums[NCOMMANDS])
{
    static const char prefix[] = "cmdstat_";
    const char *end = text + len;
    const char *line = text;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            eol = end;
        size_t plen = sizeof prefix - 1;
        if ((size_t)(eol - line) > plen && memcmp(line, prefix, plen) == 0) {
            const char *name = line + plen;
            const char *colon = memchr(name, ':', (size_t)(eol - name));
            for (int i = 0; colon != NULL && i < NCOMMANDS; i++) {
                size_t nlen = strlen(COMMANDS[i]);
                if ((size_t)(colon - name) == nlen && memcmp(name, COMMANDS[i], nlen) == 0 &&
                    eol - colon > 7 && memcmp(colon, ":calls=", 7) == 0) {
                    long long calls = 0;
                    for (const char *d = colon + 7; d < eol && *d >= '0' && *d <= '9'; d++)
                        calls = calls * 10 + (*d - '0');
                    sums[i] += calls;
                }
            }
        }
        line = eol + 1;
    }
}

/* The figures of the algorithm that just ran, as one object of the answer's "algorithms". */
static json_t *algorithm_figures(const rate_run_t *r)
{
    int allowed = 0, before = 0;
    for (int i = 0; i < r->n; i++) {
        allowed += r->allowed[i];
        if (i < r->n / 2)
            before += r->allowed[i];
    }
    json_t *commands = json_object();
    long long inside = 0;
    for (int i = 0; i < NCOMMANDS; i++) {
        long long d = r->after[i] - r->before[i];
        if (d <= 0)
            continue;
        json_object_set_new(commands, COMMANDS[i], json_integer(d));
        if (i > 0)
            inside += d; /* Everything but EVAL: what the scripts ran. */
    }
    /* Two decimals: 1.1 reads better than 1.1000000000000001. */
    double per_request = (double)(long long)((double)inside * 100.0 / r->n + 0.5) / 100.0;
    return json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:I,s:f,s:o}", "algorithm",
                     config_rate_algorithm_name(r->algorithm), "allowed", allowed,
                     "allowed_before_boundary", before, "allowed_after_boundary", allowed - before,
                     "refused", r->n - allowed, "overshoot", allowed - r->exact,
                     "max_in_any_window", most_in_window(r), "keys", r->present, "memory_bytes",
                     (json_int_t)r->memory, "commands_per_request", per_request, "redis_commands",
                     commands);
}

/* ---------------------------------------------------------------- the run --- */

static const char NOTE[] =
    "Each algorithm's own script (the one the service's gate sends) decided every request, with "
    "the request's instant as its clock: the instants are chosen around a window boundary, so "
    "the figures depend on the parameters only. exact_allowed is what a limiter that never lets "
    "more than limit into any window of window_ms allows of the same requests; overshoot is "
    "allowed minus that. The run's client and keys are its own (deleted after), the service's "
    "rate limit settings and /rate-limit/stats are not touched. commands_per_request counts the "
    "commands the scripts ran, from INFO commandstats: another client calling the same commands "
    "during the run would be counted too.";

static void start_algorithm(rate_run_t *r);

static void release(rate_run_t *r)
{
    json_decref(r->results);
    free(r->at);
    free(r->allowed);
    free(r->tickets);
    free(r);
    lab_scenario_end();
}

/* Answers 503; called only when no reply is due, so nothing refers to r any more. */
static void fail(rate_run_t *r)
{
    http_reply_error(r->req, 503, "Cache unavailable");
    release(r);
}

static void finish(rate_run_t *r)
{
    json_t *v = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:i,s:[I,I],s:[I,I],s:i,s:O,s:{s:b,s:b},s:s}", "scenario",
        "rate-limit-boundary", "limit", (json_int_t)r->p.limit, "window_ms",
        (json_int_t)r->p.window_ms, "burst", (json_int_t)r->p.burst, "spacing_ms",
        (json_int_t)r->p.spacing_ms, "requests", r->n, "first_burst_ms",
        (json_int_t)(r->at[0] - r->boundary), (json_int_t)(r->at[r->n / 2 - 1] - r->boundary),
        "second_burst_ms", (json_int_t)(r->at[r->n / 2] - r->boundary),
        (json_int_t)(r->at[r->n - 1] - r->boundary), "exact_allowed", r->exact, "algorithms",
        r->results, "counted_in", "rate_limit_stats", 0, "redis_commandstats", 1, "note", NOTE);
    api_reply_value(r->req, 200, v);
    release(r);
}

/*
 * Sends DEL of the client's keys in this algorithm — those of every window a request of the run
 * falls in, not only the first and the last (a run with spaced requests spans more) —;
 * fn(status, reply, r) is told of its answer (fn may be NULL: then nobody waits for it). Returns
 * what redis_client_command returns, or -1 when out of memory.
 */
static int delete_keys_then(rate_run_t *r, redis_client_fn fn)
{
    int cap = 1 + RATE_LIMITER_MAX_KEYS * (r->n > 0 ? r->n : 1);
    char(*keys)[RATE_LIMITER_KEY_MAX] = malloc((size_t)cap * sizeof *keys);
    const char **argv = malloc((size_t)cap * sizeof *argv);
    size_t *argvlen = malloc((size_t)cap * sizeof *argvlen);
    int rc = -1;
    if (keys != NULL && argv != NULL && argvlen != NULL) {
        int nkeys = 0;
        for (int i = 0; i < r->n; i++) {
            char at[RATE_LIMITER_MAX_KEYS][RATE_LIMITER_KEY_MAX];
            int k = rate_limiter_keys(r->algorithm, KEY_BASE, r->p.window_ms, r->at[i], at);
            for (int j = 0; j < k; j++) {
                int seen = 0;
                for (int m = nkeys - 1; m >= 0 && !seen; m--)
                    seen = strcmp(keys[m], at[j]) == 0;
                if (!seen)
                    memcpy(keys[nkeys++], at[j], RATE_LIMITER_KEY_MAX);
            }
        }
        argv[0] = "DEL";
        argvlen[0] = 3;
        for (int i = 0; i < nkeys; i++) {
            argv[1 + i] = keys[i];
            argvlen[1 + i] = strlen(keys[i]);
        }
        rc = nkeys > 0 ? redis_client_command(r->redis, fn, fn != NULL ? r : NULL, 1 + nkeys, argv,
                                              argvlen)
                       : -1;
    }
    free(keys);
    free(argv);
    free(argvlen);
    return rc;
}

/* Sends DEL of the client's keys; nobody waits for the answer. */
static void delete_keys(rate_run_t *r)
{
    (void)delete_keys_then(r, NULL);
}

/*
 * The last DEL has been answered: the run's keys are gone (Redis runs one connection's commands in
 * order, so the earlier DELs are done too), and the client may look for them once it has read the
 * answer.
 */
static void on_last_deleted(int status, redisReply *reply, void *arg)
{
    (void)status;
    (void)reply;
    finish(arg);
}

static void step_done(rate_run_t *r);

/* Counts one reply (or one command that could not be sent) of the current step. */
static void settle(rate_run_t *r, int ok)
{
    if (!ok)
        r->failed = 1;
    if (--r->pending == 0)
        step_done(r);
}

static void on_info(int status, redisReply *reply, void *arg)
{
    rate_run_t *r = arg;
    int ok = status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STRING;
    if (ok)
        add_commandstats(reply->str, reply->len, r->step == STEP_BEFORE ? r->before : r->after);
    settle(r, ok);
}

static void on_memory(int status, redisReply *reply, void *arg)
{
    rate_run_t *r = arg;
    int ok = status == REDIS_CLIENT_OK &&
             (reply->type == REDIS_REPLY_INTEGER || reply->type == REDIS_REPLY_NIL);
    if (ok && reply->type == REDIS_REPLY_INTEGER) {
        r->memory += reply->integer;
        r->present++;
    }
    settle(r, ok);
}

static void on_decision(int status, const rate_limiter_result_t *res, void *arg)
{
    ticket_t *t = arg;
    if (status == 0)
        t->run->allowed[t->index] = (unsigned char)(res->allowed != 0);
    settle(t->run, status == 0);
}

/* Sends INFO commandstats to every server; each reply is one pending count of the step. */
static void read_commandstats(rate_run_t *r)
{
    const char *argv[] = {"INFO", "commandstats"};
    size_t argvlen[] = {4, 12};
    int nodes = redis_client_node_count(r->redis);
    if (nodes < 1)
        nodes = 1; /* A cluster without a slot map yet: the command fails and says so. */
    r->pending += nodes;
    for (int node = 0; node < nodes; node++) {
        if (redis_client_command_node(r->redis, node, on_info, r, 2, argv, argvlen) != 0) {
            r->failed = 1;
            r->pending--;
        }
    }
}

static void send_burst(rate_run_t *r)
{
    r->step = STEP_BURST;
    r->pending = r->n;
    memset(r->allowed, 0, (size_t)r->n);
    int unsent = 0;
    for (int i = 0; i < r->n; i++) {
        if (rate_limiter_check(r->redis, r->algorithm, KEY_BASE, r->p.limit, r->p.window_ms,
                               r->at[i], on_decision, &r->tickets[i]) != 0)
            unsent++;
    }
    /* Replies never come before a command returns, so the unsent ones can be settled here. */
    r->failed |= unsent > 0;
    r->pending -= unsent;
    if (r->pending == 0)
        step_done(r);
}

static void measure(rate_run_t *r)
{
    r->step = STEP_AFTER;
    r->pending = 0;
    /* One extra count, settled below, so that no reply can end the step while it is being sent. */
    r->pending++;
    read_commandstats(r);
    for (int i = 0; i < r->nkeys; i++) {
        const char *argv[] = {"MEMORY", "USAGE", r->keys[i], "SAMPLES", "0"};
        size_t argvlen[] = {6, 5, strlen(r->keys[i]), 7, 1};
        r->pending++;
        if (redis_client_command(r->redis, on_memory, r, 5, argv, argvlen) != 0) {
            r->failed = 1;
            r->pending--;
        }
    }
    settle(r, 1);
}

static void step_done(rate_run_t *r)
{
    if (r->failed) {
        delete_keys(r);
        fail(r);
        return;
    }
    switch (r->step) {
    case STEP_BEFORE:
        send_burst(r);
        return;
    case STEP_BURST:
        measure(r);
        return;
    case STEP_AFTER:
        json_array_append_new(r->results, algorithm_figures(r));
        if (r->algorithm + 1 < CONFIG_RATE_ALGORITHMS) {
            delete_keys(r);
            r->algorithm++;
            start_algorithm(r);
        } else if (delete_keys_then(r, on_last_deleted) != 0) {
            finish(r); /* Not sent: nothing to wait for. */
        }
        return;
    }
}

/* Adds key to the run's keys unless it is there already. */
static void add_key(rate_run_t *r, const char *key)
{
    for (int i = 0; i < r->nkeys; i++) {
        if (strcmp(r->keys[i], key) == 0)
            return;
    }
    if (r->nkeys < MAX_KEYS)
        snprintf(r->keys[r->nkeys++], RATE_LIMITER_KEY_MAX, "%s", key);
}

static void start_algorithm(rate_run_t *r)
{
    char keys[RATE_LIMITER_MAX_KEYS][RATE_LIMITER_KEY_MAX];
    r->nkeys = 0;
    r->memory = 0;
    r->present = 0;
    memset(r->before, 0, sizeof r->before);
    memset(r->after, 0, sizeof r->after);
    /* The keys at the first and the last instant: every window the requests fall in between. */
    int k = rate_limiter_keys(r->algorithm, KEY_BASE, r->p.window_ms, r->at[0], keys);
    for (int i = 0; i < k; i++)
        add_key(r, keys[i]);
    k = rate_limiter_keys(r->algorithm, KEY_BASE, r->p.window_ms, r->at[r->n - 1], keys);
    for (int i = 0; i < k; i++)
        add_key(r, keys[i]);
    r->step = STEP_BEFORE;
    r->pending = 1;
    delete_keys(r);
    read_commandstats(r);
    settle(r, 1);
}

void scenario_rate_run(http_req_t *req, const scenario_rate_params_t *params)
{
    rate_run_t *r = calloc(1, sizeof *r);
    int n = (int)(2 * params->burst);
    long long *kept = NULL;
    if (r != NULL) {
        r->at = calloc((size_t)n, sizeof *r->at);
        r->allowed = calloc((size_t)n, 1);
        r->tickets = calloc((size_t)n, sizeof *r->tickets);
        r->results = json_array();
        kept = calloc((size_t)n, sizeof *kept);
    }
    redis_client_t *redis = cache_redis(api_cache(req));
    if (r == NULL || r->at == NULL || r->allowed == NULL || r->tickets == NULL ||
        r->results == NULL || kept == NULL || redis == NULL) {
        free(kept);
        if (r != NULL)
            release(r);
        else
            lab_scenario_end();
        http_reply_error(req, 503, redis == NULL ? "Cache unavailable" : "Service Unavailable");
        return;
    }
    r->req = req;
    r->redis = redis;
    r->p = *params;
    r->n = n;
    /* The next boundary of the service's clock, the clock the gate gives the scripts. */
    long long now = clock_wall_ms();
    r->boundary = (now / r->p.window_ms + 1) * r->p.window_ms;
    int burst = (int)r->p.burst;
    for (int i = 0; i < burst; i++) {
        r->at[i] = r->boundary - 1 - (long long)(burst - 1 - i) * r->p.spacing_ms;
        r->at[burst + i] = r->boundary + (long long)i * r->p.spacing_ms;
    }
    for (int i = 0; i < n; i++)
        r->tickets[i] = (ticket_t){r, i};
    r->exact = exact_allowed(r->at, n, r->p.limit, r->p.window_ms, kept);
    free(kept);
    r->algorithm = 0;
    log_info(
        "lab: running scenario rate-limit-boundary (limit %lld per %lld ms, 2 x %lld requests)",
        r->p.limit, r->p.window_ms, r->p.burst);
    start_algorithm(r);
}
