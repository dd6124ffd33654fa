/*
 * cache_replica — the read replica of the cache module (cache_set_replica, cache_read_query,
 * declared in cache.h): which PostgreSQL server a read goes to.
 *
 * With DATABASE_REPLICA_URL set, each loop has a second pool, connected to the replica. Reads that
 * may be answered from a copy — a lookup's miss, the product list — go there while the pool is up,
 * and to the primary otherwise. Everything else stays on the primary: writes (a standby refuses
 * them), LISTEN (a standby never notifies), write-behind, migrations and the health check's own
 * ping. A read the replica fails is run again on the primary at once, so a replica that is down,
 * slow past its deadline, or cancelling queries for recovery conflicts costs the reader time, never
 * its answer.
 *
 * A replica that hangs (its processes stopped, its host unreachable without a reset) keeps its
 * connections "up", and each read would pay PG_TIMEOUT_MS before falling back. A breaker per loop
 * counts replica reads that passed their deadline or lost their connection; after
 * PG_REPLICA_BREAKER_FAILURES in a row, reads go straight to the primary for
 * PG_REPLICA_BREAKER_OPEN_MS, then one read tries the replica again (its success closes the
 * breaker). An error answer (a recovery conflict) is an answer: it does not count.
 *
 * A replica lags: a row read there may be older than a commit the primary has already answered.
 * The read reports where it came from, and the lookup decides what it may cache (cache_lookup.c,
 * the fill's version check).
 */
#include "cache/cache.h"

#include "cache/cache_internal.h"

#include "core/clock.h"
#include "core/stats.h"
#include "store/queries.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Parameters of a read kept for its second try; the statements the replica serves have few. */
#define READ_MAX_PARAMS 4

typedef struct {
    cache_t *cache;                /* Loop. */
    int stmt;                      /* Statement (queries.h). */
    int nparams;                   /* How many of params are used. */
    char *params[READ_MAX_PARAMS]; /* Copies (NULL for SQL NULL), for the retry. */
    cache_read_fn fn;              /* Caller's callback. */
    void *arg;                     /* Its argument. */
} read_t;

void cache_set_replica(cache_t *cache, pg_pool_t *replica)
{
    cache->replica = replica;
    breaker_init(&cache->replica_breaker, cache->cfg->pg_replica_breaker_failures,
                 cache->cfg->pg_replica_breaker_open_ms);
}

int cache_replica_usable(const cache_t *cache)
{
    /*
     * Closed only: once the open period has passed, reads still go to the primary until one of
     * them has tried the replica and succeeded, so an open breaker's end is not news by itself
     * (the topology watch would announce a fallback's end every PG_REPLICA_BREAKER_OPEN_MS).
     */
    return cache->replica != NULL && pg_pool_is_up(cache->replica) &&
           cache->replica_breaker.state == BREAKER_CLOSED;
}

const char *cache_replica_breaker(const cache_t *cache, long long *opened)
{
    *opened = cache->replica_breaker.opened;
    return breaker_state_name(cache->replica_breaker.state);
}

pg_pool_t *cache_replica(const cache_t *cache)
{
    return cache->replica;
}

static void read_free(read_t *r)
{
    for (int i = 0; i < r->nparams; i++)
        free(r->params[i]);
    free(r);
}

static void on_primary(int status, PGresult *res, void *arg)
{
    read_t *r = arg;
    r->fn(status, res, CACHE_READ_PRIMARY, r->arg);
    read_free(r);
}

/* Sends r to the primary; on refusal answers r's caller with the error (it is a callback now). */
static void to_primary(read_t *r)
{
    const char *params[READ_MAX_PARAMS];
    for (int i = 0; i < r->nparams; i++)
        params[i] = r->params[i];
    pg_pool_t *pg = r->cache->pg;
    int rc = pg != NULL ? pg_pool_query(pg, r->stmt, params, on_primary, r) : PG_POOL_EDOWN;
    if (rc != 0)
        on_primary(rc, NULL, r);
}

static void on_replica(int status, PGresult *res, void *arg)
{
    read_t *r = arg;
    if (status == PG_POOL_ETIMEOUT || status == PG_POOL_ELOST || status == PG_POOL_EDOWN)
        breaker_failure(&r->cache->replica_breaker, clock_monotonic_ms());
    else
        breaker_success(&r->cache->replica_breaker);
    if (status == PG_POOL_OK) {
        stats_incr(STATS_REPLICA_READ);
        r->fn(status, res, CACHE_READ_REPLICA, r->arg);
        read_free(r);
        return;
    }
    /* Down, past its deadline, or an error (a recovery conflict cancels queries): the primary. */
    stats_incr(STATS_REPLICA_FALLBACK);
    to_primary(r);
}

int cache_read_query(cache_t *cache, int stmt, const char *const *params, cache_read_fn fn,
                     void *arg)
{
    assert(stmt >= 0 && stmt < Q_COUNT_);
    int nparams = queries_table[stmt].nparams;
    assert(nparams >= 0 && nparams <= READ_MAX_PARAMS); /* A prepared read, not LISTEN. */
    read_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return PG_POOL_ENOMEM;
    *r = (read_t){.cache = cache, .stmt = stmt, .nparams = nparams, .fn = fn, .arg = arg};
    for (int i = 0; i < nparams; i++) {
        if (params[i] != NULL && (r->params[i] = strdup(params[i])) == NULL) {
            read_free(r);
            return PG_POOL_ENOMEM;
        }
    }
    pg_pool_t *replica = cache->replica;
    if (replica != NULL && pg_pool_is_up(replica)) {
        if (!breaker_allow(&cache->replica_breaker, clock_monotonic_ms())) {
            stats_incr(STATS_REPLICA_SKIPPED);
        } else {
            if (pg_pool_query(replica, stmt, params, on_replica, r) == 0)
                return 0;
            /* Refused at once (down, no memory): an answer all the same, for the breaker. */
            breaker_success(&cache->replica_breaker);
        }
    }
    if (replica != NULL)
        stats_incr(STATS_REPLICA_FALLBACK);
    pg_pool_t *pg = cache->pg;
    int rc = pg != NULL ? pg_pool_query(pg, stmt, params, on_primary, r) : PG_POOL_EDOWN;
    if (rc != 0)
        read_free(r);
    return rc;
}
