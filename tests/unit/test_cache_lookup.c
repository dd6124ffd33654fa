/*
 * Tests of cache_lookup_product against real PostgreSQL and Redis servers started for them
 * (support/servers.h), on one event loop with the loop's cache_t, Redis client and PostgreSQL
 * pool, as a worker wires them: a miss loads from PostgreSQL and stores exactly the product's JSON;
 * concurrent lookups of a cold key make one query (single-flight); a lookup that finds another
 * loader's lock waits for it and answers with the value it delivers; and each lookup moves the
 * answer enum, the service's counters and Redis' keyspace_hits/keyspace_misses by exactly one.
 *
 * Queries are counted twice, by the stats module (STATS_DB_QUERY) and by PostgreSQL itself
 * (pg_stat_statements), so that a query the service did not count would still be seen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "core/stats.h"
#include "model/product.h"
#include "support/cache_loop.h"
#include "support/loop_wait.h"
#include "support/servers.h"

/* The loop under test and the servers it talks to. */
typedef struct {
    servers_t *servers;
    cache_loop_t loop;
    struct event_base *base; /* loop.base */
    cache_t *cache;          /* loop.cache */
} fixture_t;

/* A lookup's answer, with copies of what is valid only during the callback. */
typedef struct {
    int done;
    cache_status_t status;
    cache_answer_t answer;
    char *json;
    size_t len;
} result_t;

static void on_result(const cache_result_t *res, void *arg)
{
    result_t *r = arg;
    r->done = 1;
    r->status = res->status;
    r->answer = res->answer;
    r->len = res->len;
    r->json = res->json ? strndup(res->json, res->len) : NULL;
}

static int loop_open(void **state)
{
    fixture_t *l = *state;
    /*
     * Jitter off: the stored TTLs play no part here, but a test should not depend on chance. No
     * near cache: these tests are about what a lookup does in Redis (test_near_map has L1's map).
     */
    const char *env[] = {"TTL_JITTER_PERCENT=0", "LOCK_WAIT_MS=20000", "PG_TIMEOUT_MS=10000",
                         "PG_POOL_SIZE=2",       "L1_MAX_BYTES=0",     NULL};
    freeReplyObject(servers_redis_cmd(l->servers, "FLUSHALL"));
    if (cache_loop_open(&l->loop, l->servers, env) != 0)
        return -1;
    l->base = l->loop.base;
    l->cache = l->loop.cache;
    return 0;
}

static int loop_close(void **state)
{
    fixture_t *l = *state;
    cache_loop_close(&l->loop);
    return 0;
}

/* Runs one lookup to its answer. */
static void lookup(fixture_t *l, int32_t id, result_t *r)
{
    *r = (result_t){0};
    cache_lookup_product(l->cache, id, on_result, r);
    assert_int_equal(loop_wait(l->base, loop_wait_flag, &r->done, LOOP_WAIT_HANG_MS), 0);
}

/* Calls of the product-by-id statement that PostgreSQL has seen. */
static long long product_queries(servers_t *s)
{
    return servers_sql_int(s, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                              "WHERE query LIKE '%FROM products WHERE id = $1'");
}

/* What a lookup may move: Redis' keyspace counters and the service's own. */
typedef struct {
    long long keyspace_hits, keyspace_misses;
    stats_snapshot_t stats;
    long long pg_queries;
} counters_t;

static void counters_read(servers_t *s, counters_t *c)
{
    c->keyspace_hits = servers_redis_info(s, "stats", "keyspace_hits");
    c->keyspace_misses = servers_redis_info(s, "stats", "keyspace_misses");
    stats_read(&c->stats);
    c->pg_queries = product_queries(s);
}

/* Asserts how far the counters moved since before. */
static void assert_moved(servers_t *s, const counters_t *before, long long hits, long long misses,
                         long long queries)
{
    counters_t now;
    counters_read(s, &now);
    assert_int_equal(now.keyspace_hits - before->keyspace_hits, hits);
    assert_int_equal(now.keyspace_misses - before->keyspace_misses, misses);
    assert_int_equal(now.stats.hits - before->stats.hits, hits);
    assert_int_equal(now.stats.misses - before->stats.misses, misses);
    assert_int_equal(now.stats.db_queries - before->stats.db_queries, queries);
    assert_int_equal(now.pg_queries - before->pg_queries, queries);
}

/* The stored value of key, or NULL; the caller frees it. Counts as a keyspace lookup. */
static char *redis_get(servers_t *s, const char *key)
{
    redisReply *reply = servers_redis_cmd(s, "GET %s", key);
    char *v = reply->type == REDIS_REPLY_STRING ? strndup(reply->str, reply->len) : NULL;
    freeReplyObject(reply);
    return v;
}

/*
 * A miss loads the row from PostgreSQL, stores exactly the JSON it answers with under the product
 * key, and the next lookup is a hit with the same bytes. Each lookup is one keyspace lookup: a miss
 * then a hit, in Redis' INFO and in the service's counters alike.
 */
static void test_miss_loads_and_stores_the_product_json(void **state)
{
    fixture_t *l = *state;
    servers_t *s = l->servers;
    counters_t before;
    result_t miss, hit;

    counters_read(s, &before);
    lookup(l, 3, &miss);
    assert_int_equal(miss.status, CACHE_FOUND);
    assert_int_equal(miss.answer, CACHE_ANSWER_MISS);
    assert_moved(s, &before, 0, 1, 1);

    /* The answer is the row PostgreSQL holds... */
    json_error_t jerr;
    json_t *doc = json_loadb(miss.json, miss.len, 0, &jerr);
    assert_non_null(doc);
    PGresult *row = servers_sql(s, "SELECT name, price::text FROM products WHERE id = 3");
    assert_int_equal(json_integer_value(json_object_get(doc, "id")), 3);
    assert_string_equal(json_string_value(json_object_get(doc, "name")), PQgetvalue(row, 0, 0));
    PQclear(row);
    json_decref(doc);
    /* ...and Redis holds exactly those bytes (a GET of our own: measured after the lookups). */
    char *stored = redis_get(s, "product:3");
    assert_non_null(stored);
    assert_string_equal(stored, miss.json);
    free(stored);

    counters_read(s, &before);
    lookup(l, 3, &hit);
    assert_int_equal(hit.status, CACHE_FOUND);
    assert_int_equal(hit.answer, CACHE_ANSWER_HIT);
    assert_int_equal(hit.len, miss.len);
    assert_memory_equal(hit.json, miss.json, miss.len);
    assert_moved(s, &before, 1, 0, 0);
    free(miss.json);
    free(hit.json);
}

/* A missing product is a miss that caches `null` (negative caching); the next one is a hit. */
static void test_missing_product_is_cached_as_null(void **state)
{
    fixture_t *l = *state;
    servers_t *s = l->servers;
    counters_t before;
    result_t first, second;

    counters_read(s, &before);
    lookup(l, 999999, &first);
    assert_int_equal(first.status, CACHE_NOT_FOUND);
    assert_int_equal(first.answer, CACHE_ANSWER_MISS);
    assert_moved(s, &before, 0, 1, 1);
    char *stored = redis_get(s, "product:999999");
    assert_non_null(stored);
    assert_string_equal(stored, "null");
    free(stored);

    counters_read(s, &before);
    lookup(l, 999999, &second);
    assert_int_equal(second.status, CACHE_NOT_FOUND);
    assert_int_equal(second.answer, CACHE_ANSWER_HIT);
    assert_moved(s, &before, 1, 0, 0);
}

/*
 * Many lookups of one cold key at once on one loop: one query to PostgreSQL (single-flight), every
 * lookup answered with the same product, each one counted once as a miss.
 */
static void test_concurrent_lookups_of_a_cold_key_make_one_query(void **state)
{
    fixture_t *l = *state;
    servers_t *s = l->servers;
    enum { N = 50 };
    result_t r[N];
    counters_t before;

    counters_read(s, &before);
    for (int i = 0; i < N; i++) {
        r[i] = (result_t){0};
        cache_lookup_product(l->cache, 5, on_result, &r[i]);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(loop_wait(l->base, loop_wait_flag, &r[i].done, LOOP_WAIT_HANG_MS), 0);
    assert_moved(s, &before, 0, N, 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].status, CACHE_FOUND);
        assert_int_equal(r[i].answer, CACHE_ANSWER_MISS);
        assert_int_equal(r[i].len, r[0].len);
        assert_memory_equal(r[i].json, r[0].json, r[0].len);
    }
    for (int i = 0; i < N; i++)
        free(r[i].json);
}

/* Condition: Redis has run LMOVE at least want times (the waiting lookup polls the lock so). */
typedef struct {
    servers_t *servers;
    long long want;
} lmoves_t;

static long long lmove_calls(servers_t *s)
{
    redisReply *reply = servers_redis_cmd(s, "INFO commandstats");
    const char *at = strstr(reply->str, "cmdstat_lmove:calls=");
    long long n = at ? strtoll(at + strlen("cmdstat_lmove:calls="), NULL, 10) : 0;
    freeReplyObject(reply);
    return n;
}

static int lmoves_reached(void *arg)
{
    lmoves_t *w = arg;
    return lmove_calls(w->servers) >= w->want;
}

/*
 * Another loader (another loop or instance) holds the product's lock: the lookup does not query,
 * it waits; when the loader stores its value the way FILL_SCRIPT does — the value, its stale copy
 * and refresh marker, then the lock replaced by "v:<value>" for the lookups polling it — the lookup
 * answers with that value. The value differs from the row in PostgreSQL, so that an answer that
 * came from a query of its own would show.
 */
static void test_lookup_waits_for_another_loader_and_gets_its_value(void **state)
{
    fixture_t *l = *state;
    servers_t *s = l->servers;
    product_t p = {.id = 7,
                   .name = "delivered by another loader",
                   .description = NULL,
                   .price = "12.50",
                   .category = "Test",
                   .created_at = "2024-01-01T00:00:00+00:00",
                   .updated_at = "2024-01-01T00:00:00+00:00"};
    char *value = NULL;
    size_t len = 0;
    assert_int_equal(product_to_json(&p, &value, &len), 0);
    counters_t before;
    result_t r = {0};

    freeReplyObject(servers_redis_cmd(s, "RPUSH {product:7}:lock t:00000000deadbeef"));
    freeReplyObject(servers_redis_cmd(s, "PEXPIRE {product:7}:lock 60000"));
    counters_read(s, &before);
    lmoves_t polling = {s, lmove_calls(s) + 2};
    cache_lookup_product(l->cache, 7, on_result, &r);
    /* Its claim found the lock taken, and it has polled the lock at least once since. */
    assert_int_equal(loop_wait(l->base, lmoves_reached, &polling, LOOP_WAIT_HANG_MS), 0);
    assert_false(r.done);

    static const char deliver[] =
        "redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000)\n"
        "redis.call('DEL', KEYS[2])\n"
        "redis.call('RPUSH', KEYS[2], ARGV[1])\n"
        "redis.call('PEXPIRE', KEYS[2], 120000)\n"
        "redis.call('SET', KEYS[3], '1', 'PX', 54000)\n"
        "if redis.call('LMOVE', KEYS[4], KEYS[4], 'LEFT', 'LEFT') == ARGV[2] then\n"
        "  redis.call('DEL', KEYS[4])\n"
        "  redis.call('RPUSH', KEYS[4], 'v:' .. ARGV[1])\n"
        "  redis.call('PEXPIRE', KEYS[4], 1000)\n"
        "  return 1\n"
        "end\n"
        "return 0\n";
    redisReply *delivered = servers_redis_cmd(
        s, "EVAL %s 4 product:7 {product:7}:stale {product:7}:fresh {product:7}:lock %b %s",
        deliver, value, len, "t:00000000deadbeef");
    assert_int_equal(delivered->integer, 1);
    freeReplyObject(delivered);

    assert_int_equal(loop_wait(l->base, loop_wait_flag, &r.done, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(r.status, CACHE_FOUND);
    assert_int_equal(r.answer, CACHE_ANSWER_MISS);
    assert_int_equal(r.len, len);
    assert_memory_equal(r.json, value, len);
    /* One keyspace miss (its GET), no query: the value came from the other loader. */
    assert_moved(s, &before, 0, 1, 0);
    free(r.json);
    free(value);
}

static int group_setup(void **state)
{
    static servers_t servers;
    static fixture_t loop;
    if (servers_start(&servers, SERVERS_PG | SERVERS_REDIS) != 0) {
        servers_stop(&servers);
        return -1;
    }
    loop.servers = &servers;
    *state = &loop;
    return 0;
}

static int group_teardown(void **state)
{
    fixture_t *l = *state;
    servers_stop(l->servers);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_loads_and_stores_the_product_json, loop_open,
                                        loop_close),
        cmocka_unit_test_setup_teardown(test_missing_product_is_cached_as_null, loop_open,
                                        loop_close),
        cmocka_unit_test_setup_teardown(test_concurrent_lookups_of_a_cold_key_make_one_query,
                                        loop_open, loop_close),
        cmocka_unit_test_setup_teardown(test_lookup_waits_for_another_loader_and_gets_its_value,
                                        loop_open, loop_close),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
