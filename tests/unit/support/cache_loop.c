/*
 * cache_loop — see cache_loop.h.
 */
#include "support/cache_loop.h"

#include "core/lab.h"
#include "store/queries.h"
#include "support/loop_wait.h"

#include <event2/event.h>
#include <string.h>

int cache_loop_open(cache_loop_t *l, const servers_t *s, const char *const *env)
{
    memset(l, 0, sizeof *l);
    if (servers_config(s, &l->cfg, env) != 0)
        return -1;
    lab_init(&l->cfg);
    l->base = event_base_new();
    if (l->base == NULL || cache_new(l->base, &l->cfg, &l->cache) != 0)
        return -1;
    return cache_loop_backends_open(l);
}

static int backends_up(void *arg)
{
    const cache_loop_t *l = arg;
    return redis_client_is_up(l->redis) && pg_pool_is_up(l->pg);
}

int cache_loop_backends_open(cache_loop_t *l)
{
    pg_pool_options_t opts = {
        .stmts = queries_table,
        .nstmts = Q_COUNT_,
        .size = l->cfg.pg_pool_size,
        .pipeline_depth = l->cfg.pg_pipeline_depth,
        .batch_max = l->cfg.pg_batch_max,
        .application_name = "cacheme-unit",
    };
    if (redis_client_new(l->base, &l->cfg, &l->redis) != 0 ||
        pg_pool_new(l->base, &l->cfg, &opts, &l->pg) != 0)
        return -1;
    cache_set_backends(l->cache, l->redis, l->pg);
    return loop_wait(l->base, backends_up, l, LOOP_WAIT_HANG_MS);
}

void cache_loop_backends_close(cache_loop_t *l)
{
    /* As the worker does: the cache forgets them first, so that callbacks send nothing more. */
    if (l->cache != NULL)
        cache_set_backends(l->cache, NULL, NULL);
    pg_pool_free(l->pg);
    redis_client_free(l->redis);
    l->pg = NULL;
    l->redis = NULL;
}

void cache_loop_close(cache_loop_t *l)
{
    cache_loop_backends_close(l);
    cache_free(l->cache);
    l->cache = NULL;
    if (l->base != NULL)
        event_base_free(l->base);
    l->base = NULL;
}
