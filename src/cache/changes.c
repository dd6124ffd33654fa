/*
 * changes — see changes.h.
 */
#include "cache/changes.h"

#include "cache/cache.h"
#include "core/log.h"
#include "model/params.h"
#include "store/pg_pool.h"
#include "core/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHANNEL "products_changed"

enum { STMT_LISTEN = 0 };

static const pg_stmt_t listen_stmts[] = {
    [STMT_LISTEN] = {"listen", "LISTEN " CHANNEL, -1},
};

struct changes {
    cache_t *cache;  /* Loop whose Redis client applies the invalidations. */
    changes_fn fn;   /* Told of every change; may be NULL. */
    void *arg;       /* Its argument. */
    pg_pool_t *conn; /* A pool of one: the dedicated LISTEN connection. */
    int connections; /* Times the connection became ready. */
    int listening;   /* 1 while LISTEN is in place. */
};

int changes_parse(const char *payload, int32_t *id, long long *version)
{
    char idtext[16];
    const char *colon = strchr(payload, ':');
    if (colon == NULL || (size_t)(colon - payload) >= sizeof idtext)
        return -1;
    memcpy(idtext, payload, (size_t)(colon - payload));
    idtext[colon - payload] = '\0';
    params_error_t err;
    long long v;
    if (params_parse_id(idtext, strlen(idtext), id, &err) != 0 ||
        params_parse_int(colon + 1, strlen(colon + 1), 1, INT64_MAX, &v, &err) != 0)
        return -1;
    *version = v;
    return 0;
}

typedef struct {
    changes_fn fn;     /* Told of the outcome (copied: the listener may be freed first). */
    void *arg;         /* Its argument. */
    int32_t id;        /* Product. */
    long long version; /* Version of the change. */
} heard_t;

static void on_invalidated(cache_write_t outcome, void *arg)
{
    heard_t *h = arg;
    /* What the cache did, in the listener's vocabulary, by cache_write_t. */
    static const changes_outcome_t heard[] = {[CACHE_WRITE_APPLIED] = CHANGES_DROPPED,
                                              [CACHE_WRITE_SKIPPED] = CHANGES_ALREADY_APPLIED,
                                              [CACHE_WRITE_FAILED] = CHANGES_FAILED};
    if (outcome == CACHE_WRITE_APPLIED)
        stats_incr(STATS_INVALIDATION);
    if (h->fn != NULL)
        h->fn(h->id, h->version, heard[outcome], h->arg);
    free(h);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    changes_t *c = arg;
    int32_t id;
    long long version;
    if (strcmp(channel, CHANNEL) != 0 || changes_parse(payload, &id, &version) != 0) {
        log_warn("ignoring notification on %s: \"%.60s\"", channel, payload);
        return;
    }
    stats_incr(STATS_NOTIFICATION);
    log_debug("change notification: product %d version %lld", (int)id, version);
    heard_t *h = malloc(sizeof *h);
    if (h == NULL)
        return;
    h->fn = c->fn;
    h->arg = c->arg;
    h->id = id;
    h->version = version;
    cache_invalidate(c->cache, id, version, 1, on_invalidated, h);
}

static void on_resynced(int status, long long cleared, void *arg)
{
    (void)arg;
    if (status == 0)
        log_info("change listener back: dropped %lld cached products, since changes may have been "
                 "missed",
                 cleared);
    else
        log_warn("change listener back, but dropping the cached products failed; their TTL "
                 "bounds how stale they can be");
}

static void on_listen(int status, PGresult *res, void *arg)
{
    (void)res;
    changes_t *c = arg;
    if (status != PG_POOL_OK) {
        log_warn("LISTEN %s failed; retrying when the connection comes back", CHANNEL);
        return;
    }
    c->listening = 1;
    if (c->connections > 1)
        cache_clear(c->cache, on_resynced, NULL); /* After LISTEN: no change can slip between. */
    else
        log_info("listening for product changes on %s", CHANNEL);
}

static void on_ready(pg_pool_t *p, void *arg)
{
    changes_t *c = arg;
    c->connections++;
    c->listening = 0;
    if (pg_pool_query(p, STMT_LISTEN, NULL, on_listen, c) != 0)
        log_warn("LISTEN %s could not be sent", CHANNEL);
}

int changes_new(struct event_base *base, cache_t *cache, changes_fn fn, void *arg, changes_t **out)
{
    changes_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->cache = cache;
    c->fn = fn;
    c->arg = arg;
    pg_pool_options_t opts = {
        .stmts = listen_stmts,
        .nstmts = 1,
        .size = 1,
        .application_name = "cacheme-listener",
        .on_ready = on_ready,
        .on_notify = on_notify,
        .arg = c,
    };
    if (pg_pool_new(base, cache_config(cache), &opts, &c->conn) != 0) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void changes_free(changes_t *c)
{
    if (c == NULL)
        return;
    pg_pool_free(c->conn);
    free(c);
}
