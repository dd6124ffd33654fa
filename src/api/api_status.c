/*
 * api_status — see api_status.h.
 */
#include "api/api_status.h"

#include "api/api.h"
#include "cache/write_behind.h"
#include "core/lab.h"
#include "core/metrics.h"
#include "core/stats.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finds "name:value" in INFO text; copies value into out. Returns 1 when found. */
static int info_field(const char *info, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    for (const char *p = info; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= len)
                vl = len - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 1;
        }
    }
    return 0;
}

static json_t *info_to_json(const char *info)
{
    static const char *const numbers[] = {"keyspace_hits", "keyspace_misses", "connected_clients",
                                          "total_commands_processed", "total_connections_received"};
    json_t *o = json_object();
    char value[64];
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        long long v = info_field(info, numbers[i], value, sizeof value) ? atoll(value) : 0;
        json_object_set_new(o, numbers[i], json_integer(v));
    }
    if (!info_field(info, "used_memory_human", value, sizeof value))
        value[0] = '\0';
    json_object_set_new(o, "used_memory_human", json_string(value));
    return o;
}

/*
 * The near caches of every loop. An L1 hit makes no Redis read, so Redis' keyspace_hits count
 * l2_hits (= app_stats.hits - hits) plus the PTTL each fill reads (ttl_reads), nothing else.
 */
static json_t *near_cache_object(const config_t *cfg, const stats_snapshot_t *s)
{
    uint64_t l1 = stats_count(STATS_L1_HIT);
    return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "enabled",
                     cfg->l1_max_bytes > 0 && lab_near_cache(), "max_bytes",
                     (json_int_t)cfg->l1_max_bytes, "ttl_ms", (json_int_t)cfg->l1_ttl_ms,
                     "serving_loops", (json_int_t)stats_gauge(STATS_L1_SERVING), "entries",
                     (json_int_t)stats_gauge(STATS_L1_ENTRIES), "bytes",
                     (json_int_t)stats_gauge(STATS_L1_BYTES), "hits", (json_int_t)l1, "l2_hits",
                     (json_int_t)(s->hits - l1), "fills", (json_int_t)stats_count(STATS_L1_FILL),
                     "ttl_reads", (json_int_t)stats_count(STATS_L1_TTL_READ), "evictions",
                     (json_int_t)stats_count(STATS_L1_EVICTION), "invalidations",
                     (json_int_t)stats_count(STATS_L1_INVALIDATION), "flushes",
                     (json_int_t)stats_count(STATS_L1_FLUSH));
}

json_t *api_status_build(const char *info, const dead_letter_t *dead, int ndead, cache_t *cache)
{
    const config_t *cfg = cache_config(cache);
    stats_snapshot_t s;
    stats_read(&s);
    json_t *app =
        json_pack("{s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I}", "hits", (json_int_t)s.hits, "misses",
                  (json_int_t)s.misses, "hit_rate", stats_hit_rate(&s), "db_queries",
                  (json_int_t)s.db_queries, "redis_errors", (json_int_t)s.redis_errors, "db_errors",
                  (json_int_t)s.db_errors, "writes", (json_int_t)s.writes, "invalidations",
                  (json_int_t)s.invalidations, "notifications", (json_int_t)s.notifications);
    json_t *v = json_pack("{s:o,s:o,s:s,s:f}", "cache_stats",
                          info ? info_to_json(info) : json_null(), "app_stats", app, "write_mode",
                          config_write_mode_name(cfg->write_mode), "timestamp", api_timestamp());
    if (v != NULL) {
        redis_client_t *rc = cache_redis(cache);
        json_object_set_new(v, "circuit_breaker",
                            json_pack("{s:s,s:I}", "state",
                                      rc ? redis_client_breaker_state(rc) : "closed", "opened",
                                      (json_int_t)(rc ? redis_client_breaker_opened(rc) : 0)));
        json_object_set_new(v, "protections", lab_to_json());
        json_object_set_new(v, "near_cache", near_cache_object(cfg, &s));
        /* Latency of GET /products/{id} by source, over every loop, from the metrics. */
        static const char *const names[] = {"cache", "database", "stale"};
        static const metrics_source_t sources[] = {METRICS_SOURCE_CACHE, METRICS_SOURCE_DATABASE,
                                                   METRICS_SOURCE_STALE};
        int route = metrics_route_index("/products/{id}");
        json_t *lat = json_object();
        for (int i = 0; i < 3; i++) {
            metrics_latency_t m;
            metrics_latency(route, sources[i], &m);
            json_object_set_new(lat, names[i],
                                json_pack("{s:I,s:f,s:f,s:f,s:f}", "count", (json_int_t)m.count,
                                          "p50_ms", m.p50_ms, "p95_ms", m.p95_ms, "p99_ms",
                                          m.p99_ms, "max_ms", m.max_ms));
        }
        json_object_set_new(v, "latency", lat);
    }
    if (v != NULL && cfg->write_mode == CONFIG_WRITE_BEHIND) {
        write_behind_stats_t wb;
        write_behind_stats(&wb);
        json_t *recent = json_array();
        for (int i = 0; i < ndead; i++) {
            const dead_letter_t *d = &dead[i];
            json_array_append_new(
                recent,
                json_pack("{s:s,s:o,s:s,s:o,s:s,s:s}", "stream_id", d->stream_id, "product_id",
                          d->has_product_id ? json_integer(d->product_id) : json_null(), "op",
                          d->op, "sqlstate",
                          d->sqlstate[0] ? json_string(d->sqlstate) : json_null(), "error",
                          d->error, "failed_at", d->failed_at));
        }
        json_object_set_new(v, "write_behind",
                            json_pack("{s:I,s:I,s:I,s:I,s:I,s:o}", "pending",
                                      (json_int_t)wb.pending, "lag", (json_int_t)wb.lag, "applied",
                                      (json_int_t)wb.applied, "retries", (json_int_t)wb.retries,
                                      "dead_letters", (json_int_t)wb.dead_letters,
                                      "recent_dead_letters", recent));
    }
    return v;
}

/* ---- Redis Cluster: INFO of every master, summed, and each master listed (redis_nodes). ---- */

/* Masters a report asks at most. */
#define STATUS_NODES_MAX 32

struct status_fetch;

/* One master's INFO being read. */
typedef struct {
    struct status_fetch *f; /* The report. */
    char *info;             /* Its INFO text, malloc'd; NULL when it did not answer. */
} node_fetch_t;

/* Writes bytes as Redis' *_human fields do ("1.50M"). */
static void human_bytes(long long bytes, char *out, size_t len)
{
    static const char units[] = "BKMGT";
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, len, "%lldB", bytes);
    else
        snprintf(out, len, "%.2f%c", v, units[u]);
}

static long long info_number(const char *info, const char *name)
{
    char value[64];
    return info != NULL && info_field(info, name, value, sizeof value) ? atoll(value) : 0;
}

/* The INFO fields the report reads, summed over the masters that answered, as INFO text. */
static char *sum_infos(const node_fetch_t *nodes, int n)
{
    static const char *const numbers[] = {"keyspace_hits",
                                          "keyspace_misses",
                                          "connected_clients",
                                          "total_commands_processed",
                                          "total_connections_received",
                                          "used_memory"};
    enum { NNUM = sizeof numbers / sizeof numbers[0] };
    long long sum[NNUM] = {0};
    int answered = 0;
    for (int i = 0; i < n; i++) {
        if (nodes[i].info == NULL)
            continue;
        answered++;
        for (int k = 0; k < NNUM; k++)
            sum[k] += info_number(nodes[i].info, numbers[k]);
    }
    if (answered == 0)
        return NULL;
    char human[32], *text = malloc(1024);
    if (text == NULL)
        return NULL;
    human_bytes(sum[NNUM - 1], human, sizeof human);
    size_t o = 0;
    for (int k = 0; k < NNUM; k++)
        o += (size_t)snprintf(text + o, 1024 - o, "%s:%lld\r\n", numbers[k], sum[k]);
    snprintf(text + o, 1024 - o, "used_memory_human:%s\r\n", human);
    return text;
}

/* The masters, each with its slots, connection, breaker and INFO figures. */
static json_t *nodes_to_json(cache_t *cache, const node_fetch_t *nodes, int n)
{
    redis_client_t *rc = cache_redis(cache);
    json_t *a = json_array();
    for (int i = 0; rc != NULL && i < n; i++) {
        redis_client_node_t node;
        if (redis_client_node_info(rc, i, &node) != 0)
            continue;
        const char *info = nodes[i].info;
        char value[64] = "", human[32] = "";
        if (info != NULL && info_field(info, "db0", value, sizeof value) == 0)
            value[0] = '\0';
        const char *keys = strstr(value, "keys=");
        if (info != NULL)
            human_bytes(info_number(info, "used_memory"), human, sizeof human);
        json_array_append_new(
            a, json_pack("{s:s,s:i,s:b,s:s,s:o,s:o,s:o,s:o}", "address", node.address, "slots",
                         node.slots, "up", node.up, "circuit_breaker", node.breaker, "keys",
                         info ? json_integer(keys ? atoll(keys + 5) : 0) : json_null(),
                         "keyspace_hits",
                         info ? json_integer(info_number(info, "keyspace_hits")) : json_null(),
                         "keyspace_misses",
                         info ? json_integer(info_number(info, "keyspace_misses")) : json_null(),
                         "used_memory_human", info ? json_string(human) : json_null()));
    }
    return a;
}

/* One report being fetched: INFO, and the dead letters in write-behind mode. */
typedef struct status_fetch {
    cache_t *cache;                         /* Loop. */
    api_status_fn done;                     /* Caller's callback. */
    void *arg;                              /* Its argument. */
    int waiting;                            /* Holders: replies still to come, and the sender. */
    int redis_failed;                       /* 1 when INFO did not answer. */
    char *info;                             /* INFO text, malloc'd; NULL when it did not answer. */
    dead_letter_t dead[DEAD_LETTER_RECENT]; /* Newest dead letters. */
    int ndead;                              /* Their number. */
    node_fetch_t nodes[STATUS_NODES_MAX];   /* Cluster: each master's INFO. */
    int nnodes;                             /* Cluster: masters asked; 0 for one server. */
} status_fetch_t;

static void fetch_step(status_fetch_t *f)
{
    assert(f->waiting > 0);
    if (--f->waiting > 0)
        return;
    if (f->nnodes > 0) {
        f->info = sum_infos(f->nodes, f->nnodes);
        f->redis_failed = f->info == NULL;
    }
    json_t *v = api_status_build(f->info, f->dead, f->ndead, f->cache);
    if (v != NULL && f->nnodes > 0)
        json_object_set_new(v, "redis_nodes", nodes_to_json(f->cache, f->nodes, f->nnodes));
    for (int i = 0; i < f->nnodes; i++)
        free(f->nodes[i].info);
    api_status_fn done = f->done;
    void *arg = f->arg;
    int failed = f->redis_failed;
    free(f->info);
    free(f);
    done(v, failed, arg);
}

static void on_info(int status, redisReply *reply, void *arg)
{
    status_fetch_t *f = arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STRING)
        f->info = strndup(reply->str, reply->len);
    f->redis_failed = f->info == NULL;
    fetch_step(f);
}

static void on_node_info(int status, redisReply *reply, void *arg)
{
    node_fetch_t *n = arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_STRING)
        n->info = strndup(reply->str, reply->len);
    fetch_step(n->f);
}

static void on_dead_letters(int status, redisReply *reply, void *arg)
{
    status_fetch_t *f = arg;
    if (status == REDIS_CLIENT_OK)
        f->ndead = dead_letter_parse(reply, f->dead);
    fetch_step(f);
}

void api_status_fetch(cache_t *cache, api_status_fn done, void *arg)
{
    status_fetch_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        done(NULL, 0, arg);
        return;
    }
    f->cache = cache;
    f->done = done;
    f->arg = arg;
    f->redis_failed = 1; /* Until INFO answers. */
    /*
     * This function holds f until both commands are sent; each accepted command holds it until
     * its answer, which never comes before redis_client_command returns. A refused command simply
     * leaves its part of the report empty.
     */
    f->waiting = 1;
    redis_client_t *rc = cache_redis(cache);
    const char *argv[] = {"INFO"};
    size_t argvlen[] = {4};
    if (rc != NULL && redis_client_is_cluster(rc)) {
        /* A cluster: every master's INFO, summed when all have answered (fetch_step). */
        int n = redis_client_node_count(rc);
        f->nnodes = n < STATUS_NODES_MAX ? n : STATUS_NODES_MAX;
        for (int i = 0; i < f->nnodes; i++) {
            f->nodes[i].f = f;
            if (redis_client_command_node(rc, i, on_node_info, &f->nodes[i], 1, argv, argvlen) == 0)
                f->waiting++;
        }
    } else if (rc != NULL && redis_client_command(rc, on_info, f, 1, argv, argvlen) == 0) {
        f->waiting++;
    }
    if (cache_config(cache)->write_mode == CONFIG_WRITE_BEHIND) {
        /* The newest dead letters, whichever process's applier parked them. */
        char count[12];
        snprintf(count, sizeof count, "%d", DEAD_LETTER_RECENT);
        const char *dargv[] = {"XREVRANGE", DEAD_LETTER_STREAM, "+", "-", "COUNT", count};
        size_t dlen[] = {9, strlen(DEAD_LETTER_STREAM), 1, 1, 5, strlen(count)};
        if (rc != NULL && redis_client_command(rc, on_dead_letters, f, 6, dargv, dlen) == 0)
            f->waiting++;
    }
    fetch_step(f);
}
