/*
 * write_behind — see write_behind.h.
 */
#include "cache/write_behind.h"

#include "cache/cache.h"
#include "model/cache_entry.h"
#include "core/clock.h"
#include "cache/dead_letter.h"
#include "cache/stream_trim.h"
#include "core/log.h"
#include "model/product.h"
#include "store/queries.h"
#include "core/stats.h"

#include <assert.h>
#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STREAM "cacheme:writes"
#define GROUP "cacheme-writers"
#define BATCH "50"
#define IDLE_POLL_MS 50
#define STATS_EVERY_MS 1000
#define CONSUMER "applier"
#define LEADER_KEY "cacheme:writes:applier"
#define LEADER_TTL_MS "5000"
#define LEADER_RETRY_MS 500
#define RETRY_MIN_MS 50
#define RETRY_MAX_MS 3000

void write_behind_stats(write_behind_stats_t *out)
{
    out->pending = stats_gauge(STATS_WB_PENDING);
    out->lag = stats_gauge(STATS_WB_LAG);
    out->applied = (long long)stats_count(STATS_WB_APPLIED);
    out->retries = (long long)stats_count(STATS_WB_RETRY);
    out->dead_letters = (long long)stats_count(STATS_WB_DEAD_LETTER);
    out->trimmed = (long long)stats_count(STATS_WB_TRIMMED);
}

/* ---------------------------------------------------------------- enqueue --- */

/*
 * KEYS: stream, value, pending count, stale, fresh, lock. ARGV: the product's JSON (`null` for a
 * deletion), ttl ms, stale ms, fresh ms, then the entry's field/value pairs. Appends the entry,
 * stores the new state (dropping any value a loader is handing to waiting lookups: it is older) and
 * counts the entry as pending for the product, in one step.
 */
static const char ENQUEUE_SCRIPT[] =
    CACHE_LUA_STORE "local entry = {}\n"
                    "for i = 5, #ARGV do entry[#entry + 1] = ARGV[i] end\n"
                    "local id = redis.call('XADD', KEYS[1], '*', unpack(entry))\n"
                    "store(KEYS[2], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4])\n"
                    "redis.call('DEL', KEYS[6])\n"
                    "redis.call('INCR', KEYS[3])\n"
                    "redis.call('EXPIRE', KEYS[3], 86400)\n"
                    "return id\n";

/* How long a deletion's "not found" entry keeps readers off the row it deletes. */
#define TOMBSTONE_SECONDS 60

typedef struct {
    cache_t *cache;                      /* Loop. */
    int32_t id;                          /* Product. */
    int is_delete;                       /* 1 for DELETE. */
    int fields;                          /* PRODUCT_FIELD_* to change. */
    char *name, *description, *category; /* New values (copies; NULL = null). */
    char price[32];                      /* New price text when PRODUCT_FIELD_PRICE. */
    char *json;                          /* The new state, once computed. */
    write_behind_fn fn;                  /* Caller's callback. */
    void *arg;                           /* Caller's argument. */
} enqueue_t;

static void enqueue_free(enqueue_t *e)
{
    free(e->name);
    free(e->description);
    free(e->category);
    free(e->json);
    free(e);
}

static void enqueue_done(enqueue_t *e, write_behind_outcome_t status)
{
    e->fn(status, status == WRITE_BEHIND_QUEUED ? e->json : NULL, e->arg);
    enqueue_free(e);
}

static void on_enqueued(int status, redisReply *reply, void *arg)
{
    enqueue_t *e = arg;
    cache_near_drop(e->cache, e->id); /* The queued state replaced the cached one in Redis. */
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_STRING) {
        stats_incr(STATS_REDIS_ERROR);
        enqueue_done(e, WRITE_BEHIND_REDIS_FAILED);
        return;
    }
    stats_incr(STATS_WRITE);
    enqueue_done(e, WRITE_BEHIND_QUEUED);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void iso_now(char out[40])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06dZ", (int)(ts.tv_nsec / 1000));
}

/* Builds the new state from the current one (cur, the product's JSON). Returns 0 or -1. */
static int merge(enqueue_t *e, const char *cur, size_t len, const char **name, const char **desc,
                 char price[32], const char **category, json_t **doc)
{
    json_error_t jerr;
    json_t *o = json_loadb(cur, len, 0, &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    *doc = o;
    *name = json_string_value(json_object_get(o, "name"));
    *desc = json_string_value(json_object_get(o, "description"));
    *category = json_string_value(json_object_get(o, "category"));
    snprintf(price, 32, "%.2f", json_number_value(json_object_get(o, "price")));
    if (e->fields & PRODUCT_FIELD_NAME)
        *name = e->name;
    if (e->fields & PRODUCT_FIELD_DESCRIPTION)
        *desc = e->description;
    if (e->fields & PRODUCT_FIELD_CATEGORY)
        *category = e->category;
    if (e->fields & PRODUCT_FIELD_PRICE)
        snprintf(price, 32, "%s", e->price);
    if (*name == NULL)
        return -1;
    char now[40];
    iso_now(now);
    product_t p = {
        .id = e->id,
        .name = *name,
        .description = *desc,
        .price = price,
        .category = *category,
        .created_at = json_string_value(json_object_get(o, "created_at")),
        .updated_at = now,
    };
    size_t n;
    return product_to_json(&p, &e->json, &n);
}

static void on_current(const cache_result_t *res, void *arg)
{
    enqueue_t *e = arg;
    if (res->status == CACHE_NOT_FOUND) {
        enqueue_done(e, WRITE_BEHIND_NOT_FOUND);
        return;
    }
    if (res->status != CACHE_FOUND) {
        enqueue_done(e, WRITE_BEHIND_NO_STATE);
        return;
    }
    const config_t *cfg = cache_config(e->cache);
    char idtext[16];
    snprintf(idtext, sizeof idtext, "%d", (int)e->id);

    enum { MAX_ARGS = 32 };
    const char *argv[MAX_ARGS];
    int n = 0;
    const char *name = NULL, *desc = NULL, *category = NULL;
    char price[32] = "";
    json_t *doc = NULL;
    if (!e->is_delete && merge(e, res->json, res->len, &name, &desc, price, &category, &doc) != 0) {
        json_decref(doc);
        enqueue_done(e, WRITE_BEHIND_NO_STATE);
        return;
    }
    cache_keys_t keys;
    if (cache_keys_build(cfg->cache_key_prefix, e->id, &keys) != 0) {
        json_decref(doc);
        enqueue_done(e, WRITE_BEHIND_REDIS_FAILED);
        return;
    }
    cache_ttl_t ttl = {{0}, {0}, {0}};
    cache_ttl_plan(e->cache, !e->is_delete, 0.0, e->is_delete ? TOMBSTONE_SECONDS : 0, &ttl);
    argv[n++] = "EVAL";
    argv[n++] = ENQUEUE_SCRIPT;
    argv[n++] = "6";
    argv[n++] = STREAM;
    argv[n++] = keys.value;
    argv[n++] = keys.pending;
    argv[n++] = keys.stale;
    argv[n++] = keys.fresh;
    argv[n++] = keys.lock;
    argv[n++] = e->is_delete ? CACHE_ENTRY_NULL : e->json;
    argv[n++] = ttl.ttl;
    argv[n++] = ttl.stale;
    argv[n++] = ttl.fresh;
    argv[n++] = "op";
    argv[n++] = e->is_delete ? "delete" : "update";
    argv[n++] = "id";
    argv[n++] = idtext;
    if (!e->is_delete) {
        argv[n++] = "name";
        argv[n++] = name;
        argv[n++] = "price";
        argv[n++] = price;
        if (desc != NULL) {
            argv[n++] = "description";
            argv[n++] = desc;
        }
        if (category != NULL) {
            argv[n++] = "category";
            argv[n++] = category;
        }
    }
    assert(n <= MAX_ARGS);
    size_t argvlen[MAX_ARGS];
    for (int i = 0; i < n; i++)
        argvlen[i] = strlen(argv[i]);
    redis_client_t *rc = cache_redis(e->cache);
    int rc_status = rc ? redis_client_command(rc, on_enqueued, e, n, argv, argvlen) : -1;
    json_decref(doc); /* After the command is formatted: name/desc/category point into it. */
    if (rc_status != 0) {
        stats_incr(STATS_REDIS_ERROR);
        enqueue_done(e, WRITE_BEHIND_REDIS_FAILED);
    }
}

void write_behind_enqueue(cache_t *cache, int32_t id, const product_input_t *in, write_behind_fn fn,
                          void *arg)
{
    enqueue_t *e = calloc(1, sizeof *e);
    if (e == NULL) {
        fn(-1, NULL, arg);
        return;
    }
    e->cache = cache;
    e->id = id;
    e->fn = fn;
    e->arg = arg;
    e->is_delete = in == NULL;
    if (in != NULL) {
        e->fields = in->fields;
        e->name = dup_or_null(in->name);
        e->description = dup_or_null(in->description);
        e->category = dup_or_null(in->category);
        snprintf(e->price, sizeof e->price, "%s", in->price);
        if ((in->name && !e->name) || (in->description && !e->description) ||
            (in->category && !e->category)) {
            /* Out of memory: a missing copy would queue null in place of the value. */
            enqueue_free(e);
            fn(-1, NULL, arg);
            return;
        }
    }
    /* The state the change applies to comes from Redis, never from this loop's near cache. */
    cache_near_drop(cache, id);
    cache_lookup_product(cache, id, on_current, e);
}

/* ---------------------------------------------------------------- applier --- */

#define MAX_FIELDS 12

/*
 * KEYS: stream, pending count (optional). ARGV: group, entry id. Acknowledges an applied entry and
 * counts it down for its product, in one step: a reply lost on the way and the retry that follows
 * (XACK then answers 0) must not count it down twice. The count's key goes at zero, so that its
 * existence alone says a product has queued writes (lookups test it without a counted read).
 */
static const char ACK_SCRIPT[] =
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end\n"
    "if KEYS[2] and redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end\n"
    "return 1\n";

/*
 * KEYS: stream, dead-letter stream, then optionally the product's pending count and value key.
 * ARGV: group, entry id, sqlstate, error, time, then the entry's field/value pairs. Parks an entry:
 * acknowledges it, appends it with the error to the dead-letter stream and counts it down for its
 * product, in one step. When no other write of the product is queued, the cached state (the one
 * PostgreSQL refused) is deleted, so that the next read fills the cache from PostgreSQL. Returns 1
 * when parked now, 0 when the entry was no longer pending (parked before, its reply lost).
 */
static const char PARK_SCRIPT[] =
    "if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end\n"
    "local entry = {}\n"
    "for i = 6, #ARGV do entry[#entry + 1] = ARGV[i] end\n"
    "for _, v in ipairs({'stream_id', ARGV[2], 'sqlstate', ARGV[3], 'error', ARGV[4],\n"
    "                    'failed_at', ARGV[5]}) do entry[#entry + 1] = v end\n"
    "redis.call('XADD', KEYS[2], '*', unpack(entry))\n"
    "if KEYS[3] then\n"
    "  if redis.call('DECR', KEYS[3]) <= 0 then redis.call('DEL', KEYS[3], KEYS[4]) end\n"
    "end\n"
    "return 1\n";

typedef struct {
    char stream_id[48];       /* Entry id. */
    char *fields[MAX_FIELDS]; /* name/value pairs (copies). */
    int nfields;              /* Number of strings in fields. */
    const char *malformed;    /* Why the entry cannot be applied as read (static text), or NULL. */
} entry_t;

struct write_behind {
    cache_t *cache;        /* Loop (worker 0). */
    char token[40];        /* Our claim on the applier's role (LEADER_KEY). */
    int leader;            /* 1 while we hold the role. */
    int own_pending_phase; /* 1 while re-reading our own unacknowledged entries. */
    entry_t batch[50];     /* Entries being applied. */
    int n, next;           /* Batch size and the entry being applied. */
    int backoff_ms;        /* Next retry delay. */
    int busy;              /* 1 while a Redis or PostgreSQL call is outstanding. */
    int stopping;          /* 1 after write_behind_stop. */
    int need_group;        /* 1 until XGROUP CREATE succeeded. */
    struct event *tick;    /* Delayed fetch or retry. */
    struct event *stats;   /* Periodic figures of the queue, and its trimming. */
};

static void fetch(write_behind_t *wb);
static void apply_next(write_behind_t *wb);

static void later(write_behind_t *wb, int ms)
{
    struct timeval tv = clock_ms_to_tv(ms);
    evtimer_add(wb->tick, &tv);
}

static void batch_clear(write_behind_t *wb)
{
    for (int i = 0; i < wb->n; i++) {
        for (int j = 0; j < wb->batch[i].nfields; j++)
            free(wb->batch[i].fields[j]);
        wb->batch[i].nfields = 0;
    }
    wb->n = wb->next = 0;
}

static const char *field(const entry_t *e, const char *name)
{
    for (int i = 0; i + 1 < e->nfields; i += 2) {
        if (strcmp(e->fields[i], name) == 0)
            return e->fields[i + 1];
    }
    return NULL;
}

/* argc is at most 32. */
static int redis_send(write_behind_t *wb, redis_client_fn fn, int argc, const char **argv)
{
    size_t argvlen[32];
    assert(argc <= 32);
    for (int i = 0; i < argc; i++)
        argvlen[i] = strlen(argv[i]);
    redis_client_t *rc = cache_redis(wb->cache);
    if (rc == NULL || redis_client_command(rc, fn, wb, argc, argv, argvlen) != 0)
        return -1;
    wb->busy = 1;
    return 0;
}

static void retry_later(write_behind_t *wb)
{
    stats_incr(STATS_WB_RETRY);
    later(wb, wb->backoff_ms);
    wb->backoff_ms = wb->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : wb->backoff_ms * 2;
}

/* The current entry is done (applied or parked, and acknowledged): go on with the next. */
static void entry_done(write_behind_t *wb)
{
    wb->backoff_ms = RETRY_MIN_MS;
    wb->next++;
    apply_next(wb);
}

/*
 * Writes the product's value key and pending-count key of entry e. Returns 0, or -1 when the entry
 * has no product id (nothing to count down then).
 */
static int product_keys(write_behind_t *wb, const entry_t *e, char key[192], char pending_key[200])
{
    const char *id = field(e, "id");
    char *end;
    if (id == NULL || *id == '\0')
        return -1;
    long v = strtol(id, &end, 10);
    if (*end != '\0' || v < INT32_MIN || v > INT32_MAX)
        return -1;
    if (cache_key_build(cache_config(wb->cache)->cache_key_prefix, (int32_t)v, key, 192) < 0 ||
        cache_pending_key(key, pending_key, 200) < 0)
        return -1;
    return 0;
}

static void on_acked(int status, redisReply *reply, void *arg)
{
    write_behind_t *wb = arg;
    wb->busy = 0;
    if (wb->stopping)
        return;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_INTEGER) {
        retry_later(wb); /* Applied already; re-applying is a no-op, so retry the same entry. */
        return;
    }
    entry_done(wb);
}

/* PostgreSQL has the current entry now: acknowledge it and count it down for its product. */
static void ack(write_behind_t *wb)
{
    const entry_t *e = &wb->batch[wb->next];
    char key[192], pending_key[200];
    int keyed = product_keys(wb, e, key, pending_key) == 0;
    const char *argv[8];
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = ACK_SCRIPT;
    argv[argc++] = keyed ? "2" : "1";
    argv[argc++] = STREAM;
    if (keyed)
        argv[argc++] = pending_key;
    argv[argc++] = GROUP;
    argv[argc++] = e->stream_id;
    if (redis_send(wb, on_acked, argc, argv) != 0)
        retry_later(wb);
}

static void on_parked(int status, redisReply *reply, void *arg)
{
    write_behind_t *wb = arg;
    wb->busy = 0;
    if (wb->stopping)
        return;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_INTEGER) {
        /*
         * Not parked, or its answer was lost: the retry applies the entry again, PostgreSQL
         * refuses it again, and the script parks it then, or answers 0 if it was parked already.
         */
        log_warn("write-behind: parking %s in %s failed; retrying", wb->batch[wb->next].stream_id,
                 DEAD_LETTER_STREAM);
        retry_later(wb);
        return;
    }
    if (reply->integer == 1)
        stats_incr(STATS_WB_DEAD_LETTER);
    entry_done(wb);
}

/*
 * Parks the current entry in the dead-letter stream with the reason it cannot be applied: sqlstate
 * ("" when PostgreSQL was not asked) and error. Both are copied into the command before this
 * returns.
 */
static void park(write_behind_t *wb, const char *sqlstate, const char *error)
{
    const entry_t *e = &wb->batch[wb->next];
    log_warn("write-behind: entry %s (product %s, %s) cannot be applied (%s%s%s); parking it in %s",
             e->stream_id, field(e, "id") ? field(e, "id") : "?",
             field(e, "op") ? field(e, "op") : "?", sqlstate, *sqlstate ? ": " : "", error,
             DEAD_LETTER_STREAM);
    char key[192], pending_key[200], now[40];
    int keyed = product_keys(wb, e, key, pending_key) == 0;
    iso_now(now);
    const char *argv[32];
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = PARK_SCRIPT;
    argv[argc++] = keyed ? "4" : "2";
    argv[argc++] = STREAM;
    argv[argc++] = DEAD_LETTER_STREAM;
    if (keyed) {
        argv[argc++] = pending_key;
        argv[argc++] = key;
    }
    argv[argc++] = GROUP;
    argv[argc++] = e->stream_id;
    argv[argc++] = sqlstate;
    argv[argc++] = error;
    argv[argc++] = now;
    for (int i = 0; i < e->nfields; i++)
        argv[argc++] = e->fields[i];
    if (redis_send(wb, on_parked, argc, argv) != 0)
        retry_later(wb);
}

static void on_applied(int status, PGresult *res, void *arg)
{
    write_behind_t *wb = arg;
    wb->busy = 0;
    if (wb->stopping)
        return;
    if (status == PG_POOL_OK) {
        if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
            stats_incr(STATS_WB_APPLIED);
        ack(wb);
        return;
    }
    const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *message = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *id = wb->batch[wb->next].stream_id;
    switch (dead_letter_classify(status, sqlstate)) {
    case DEAD_LETTER_PARK:
        park(wb, sqlstate, message ? message : "");
        return;
    case DEAD_LETTER_RETRY:
        log_warn("write-behind: applying %s failed (status %d%s%s); retrying in %d ms", id, status,
                 sqlstate ? ", " : "", sqlstate ? sqlstate : "", wb->backoff_ms);
        break;
    case DEAD_LETTER_HOLD:
        log_error(
            "write-behind: applying %s failed (%s: %s); the queue waits for this to be fixed, "
            "retrying in %d ms",
            id, sqlstate ? sqlstate : "no SQLSTATE", message ? message : "", wb->backoff_ms);
        break;
    }
    retry_later(wb);
}

static void apply_next(write_behind_t *wb)
{
    if (!wb->leader) {
        batch_clear(wb); /* The next applier re-reads these: they are not acknowledged. */
        fetch(wb);
        return;
    }
    if (wb->next >= wb->n) {
        batch_clear(wb);
        fetch(wb);
        return;
    }
    const entry_t *e = &wb->batch[wb->next];
    if (e->malformed != NULL) {
        park(wb, "", e->malformed);
        return;
    }
    const char *params[] = {e->stream_id,        field(e, "id"),          field(e, "op"),
                            field(e, "name"),    field(e, "description"), field(e, "price"),
                            field(e, "category")};
    pg_pool_t *pg = cache_pg(wb->cache);
    if (pg == NULL || pg_pool_query(pg, Q_APPLY_WRITE, params, on_applied, wb) != 0) {
        retry_later(wb);
        return;
    }
    wb->busy = 1;
}

/* Why an entry cannot be applied as it is, or NULL. */
static const char *check_entry(const entry_t *e, int nul_in_field, int too_many_fields)
{
    const char *op = field(e, "op");
    if (nul_in_field)
        return "malformed entry: a field holds a NUL byte";
    if (too_many_fields)
        return "malformed entry: more fields than a queued write has";
    if (op == NULL || field(e, "id") == NULL)
        return "malformed entry: no op or no id";
    if (strcmp(op, "update") != 0 && strcmp(op, "delete") != 0)
        return "malformed entry: op is neither update nor delete";
    return NULL;
}

/*
 * Parses an XREADGROUP entry list into the batch. Returns 0, or -1 when memory ran out (the batch
 * is then empty: its entries are still pending in the group and are read again).
 */
static int take_entries(write_behind_t *wb, const redisReply *entries)
{
    for (size_t i = 0; i < entries->elements && wb->n < 50; i++) {
        const redisReply *ent = entries->element[i];
        if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
            ent->element[0]->type != REDIS_REPLY_STRING)
            continue;
        entry_t *e = &wb->batch[wb->n++];
        snprintf(e->stream_id, sizeof e->stream_id, "%s", ent->element[0]->str);
        e->nfields = 0;
        int nul_in_field = 0;
        const redisReply *f = ent->element[1];
        size_t count = f->type == REDIS_REPLY_ARRAY ? f->elements : 0;
        for (size_t j = 0; j < count && j < MAX_FIELDS; j++) {
            const redisReply *v = f->element[j];
            const char *str = v->type == REDIS_REPLY_STRING ? v->str : "";
            size_t len = v->type == REDIS_REPLY_STRING ? v->len : 0;
            char *copy = malloc(len + 1);
            if (copy == NULL) {
                batch_clear(wb);
                return -1;
            }
            memcpy(copy, str, len);
            copy[len] = '\0';
            nul_in_field |= strlen(copy) != len;
            e->fields[e->nfields++] = copy;
        }
        e->malformed = check_entry(e, nul_in_field, count > MAX_FIELDS);
    }
    return 0;
}

static void on_read(int status, redisReply *reply, void *arg)
{
    write_behind_t *wb = arg;
    wb->busy = 0;
    if (wb->stopping)
        return;
    if (status != REDIS_CLIENT_OK || reply->type == REDIS_REPLY_ERROR) {
        if (status == REDIS_CLIENT_OK && strstr(reply->str, "NOGROUP") != NULL)
            wb->need_group = 1; /* The stream was deleted (e.g. FLUSHALL): create it again. */
        retry_later(wb);
        return;
    }
    wb->backoff_ms = RETRY_MIN_MS;
    /* [[stream, [entries]]], or nil when nothing new arrived. */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2 &&
        take_entries(wb, reply->element[0]->element[1]) != 0) {
        /* Delivered to us, so pending under our name: read them again from there. */
        log_error("write-behind: out of memory reading the queue; retrying");
        wb->own_pending_phase = 1;
        retry_later(wb);
        return;
    }
    if (wb->n == 0) {
        if (wb->own_pending_phase) {
            wb->own_pending_phase = 0;
            fetch(wb);
        } else {
            later(wb, IDLE_POLL_MS);
        }
        return;
    }
    apply_next(wb);
}
static void on_claimed(int status, redisReply *reply, void *arg)
{
    write_behind_t *wb = arg;
    wb->busy = 0;
    if (wb->stopping)
        return;
    /* [next-cursor, [entries], ...]: entries another consumer name left pending are ours now. */
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
        reply->element[1]->type == REDIS_REPLY_ARRAY && reply->element[1]->elements > 0)
        log_warn("write-behind: took over %zu entries left pending under another name",
                 reply->element[1]->elements);
    wb->own_pending_phase = 1;
    fetch(wb);
}

static void on_leader(int status, redisReply *reply, void *arg)
{
    write_behind_t *wb = arg;
    wb->busy = 0;
    if (wb->stopping)
        return;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_STATUS) {
        later(wb, LEADER_RETRY_MS); /* Another process applies; try again later. */
        return;
    }
    wb->leader = 1;
    log_info("write-behind: this process applies the queue");
    /* Whatever a crashed applier left delivered but unacknowledged comes first, in order. */
    const char *argv[] = {"XAUTOCLAIM", STREAM, GROUP, CONSUMER, "0", "0-0", "COUNT", "1000"};
    if (redis_send(wb, on_claimed, 8, argv) != 0)
        retry_later(wb);
}

static void on_group(int status, redisReply *reply, void *arg)
{
    write_behind_t *wb = arg;
    wb->busy = 0;
    if (wb->stopping)
        return;
    if (status != REDIS_CLIENT_OK ||
        (reply->type == REDIS_REPLY_ERROR && strstr(reply->str, "BUSYGROUP") == NULL)) {
        retry_later(wb);
        return;
    }
    wb->need_group = 0;
    wb->own_pending_phase = 1;
    fetch(wb);
}

/* Reads the next batch: first our own unacknowledged entries, then new ones. */
static void start(write_behind_t *wb);

static void fetch(write_behind_t *wb)
{
    if (wb->stopping || wb->busy)
        return;
    if (wb->need_group) {
        start(wb);
        return;
    }
    if (!wb->leader) {
        /*
         * One applier at a time, whichever process holds LEADER_KEY: entries of one product are
         * then applied in stream order even with several instances, and after a crash the next
         * applier finds the unacknowledged entries under the same consumer name.
         */
        const char *argv[] = {"SET", LEADER_KEY, wb->token, "NX", "PX", LEADER_TTL_MS};
        if (redis_send(wb, on_leader, 6, argv) != 0)
            later(wb, LEADER_RETRY_MS);
        return;
    }
    const char *argv[] = {"XREADGROUP", "GROUP", GROUP,
                          CONSUMER,     "COUNT", BATCH,
                          "STREAMS",    STREAM,  wb->own_pending_phase ? "0" : ">"};
    if (redis_send(wb, on_read, 9, argv) != 0)
        retry_later(wb);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    write_behind_t *wb = arg;
    if (wb->n > 0)
        apply_next(wb); /* A retry of the current entry. */
    else
        fetch(wb);
}

static void start(write_behind_t *wb)
{
    const char *argv[] = {"XGROUP", "CREATE", STREAM, GROUP, "0", "MKSTREAM"};
    if (redis_send(wb, on_group, 6, argv) != 0)
        retry_later(wb);
}

/*
 * The queue's figures, and what the applier trimmed. No argument: the answer may come after
 * write_behind_free, and the figures are the process's, not the applier's.
 */
static void on_figures(int status, redisReply *reply, void *arg)
{
    (void)arg;
    stream_trim_figures_t f;
    if (status != REDIS_CLIENT_OK || stream_trim_parse(reply, &f) != 0)
        return; /* Redis down, or no queue yet (no stream or no group): keep the last figures. */
    stats_set(STATS_WB_PENDING, f.pending);
    stats_set(STATS_WB_LAG, f.lag);
    if (f.trimmed > 0)
        stats_incr_by(STATS_WB_TRIMMED, (uint64_t)f.trimmed);
}

/* KEYS: leader key. ARGV: token, ttl ms. Extends our hold on the role, if it is still ours. */
static const char RENEW_SCRIPT[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                   "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                   "end\n"
                                   "return 0\n";

static void on_renewed(int status, redisReply *reply, void *arg)
{
    write_behind_t *wb = arg;
    if (wb->stopping || !wb->leader)
        return;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
        return;
    if (status == REDIS_CLIENT_OK) {
        /* Lost (expired while Redis or this loop stalled): stop, another process takes over. */
        log_warn("write-behind: lost the applier's role; stopping");
        wb->leader = 0;
    }
}

static void on_stats_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    write_behind_t *wb = arg;
    redis_client_t *rc = cache_redis(wb->cache);
    if (wb->leader && rc != NULL) {
        const char *rargv[] = {"EVAL", RENEW_SCRIPT, "1", LEADER_KEY, wb->token, LEADER_TTL_MS};
        size_t rlen[] = {4,
                         sizeof RENEW_SCRIPT - 1,
                         1,
                         strlen(LEADER_KEY),
                         strlen(wb->token),
                         strlen(LEADER_TTL_MS)};
        redis_client_command(rc, on_renewed, wb, 6, rargv, rlen);
    }
    /*
     * The figures for /cache/stats and /metrics, which every process reads; the applier also trims
     * what every group has acknowledged (stream_trim.h says why that bound is safe), once a
     * second, so that the stream holds about a second of writes plus what is not yet applied.
     * Entries it parked are acknowledged, and their copy is in the dead-letter stream.
     */
    const char *argv[STREAM_TRIM_ARGC];
    size_t argvlen[STREAM_TRIM_ARGC];
    stream_trim_command(STREAM, GROUP, wb->leader, argv, argvlen);
    if (rc != NULL)
        redis_client_command(rc, on_figures, NULL, STREAM_TRIM_ARGC, argv, argvlen);
}

int write_behind_start(struct event_base *base, cache_t *cache, write_behind_t **out)
{
    write_behind_t *wb = calloc(1, sizeof *wb);
    if (wb == NULL)
        return -1;
    wb->cache = cache;
    wb->backoff_ms = RETRY_MIN_MS;
    char host[200] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(wb->token, sizeof wb->token, "%.20s-%d-%08x", host, (int)getpid(),
             (unsigned)(cache_random(wb->cache) * 4294967295.0));
    wb->tick = evtimer_new(base, on_tick, wb);
    wb->stats = event_new(base, -1, EV_PERSIST, on_stats_tick, wb);
    if (wb->tick == NULL || wb->stats == NULL) {
        write_behind_free(wb);
        return -1;
    }
    struct timeval tv = clock_ms_to_tv(STATS_EVERY_MS);
    event_add(wb->stats, &tv);
    log_info("write-behind: queue %s, group %s", STREAM, GROUP);
    wb->need_group = 1;
    fetch(wb);
    *out = wb;
    return 0;
}

/* KEYS: leader key. ARGV: token. Gives the role up if it is ours. */
static const char RELEASE_SCRIPT[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                     "  return redis.call('DEL', KEYS[1])\n"
                                     "end\n"
                                     "return 0\n";

void write_behind_release(write_behind_t *wb)
{
    if (wb == NULL)
        return;
    redis_client_t *rc = cache_redis(wb->cache);
    if (wb->leader && !wb->stopping && rc != NULL) {
        /* A clean stop hands the role over at once instead of after its expiry. */
        const char *argv[] = {"EVAL", RELEASE_SCRIPT, "1", LEADER_KEY, wb->token};
        size_t argvlen[] = {4, sizeof RELEASE_SCRIPT - 1, 1, strlen(LEADER_KEY), strlen(wb->token)};
        redis_client_command(rc, NULL, NULL, 5, argv, argvlen);
    }
    wb->leader = 0;
    wb->stopping = 1;
}

void write_behind_stop(write_behind_t *wb)
{
    if (wb == NULL)
        return;
    wb->leader = 0;
    wb->stopping = 1;
    if (wb->tick)
        event_free(wb->tick);
    if (wb->stats)
        event_free(wb->stats);
    wb->tick = wb->stats = NULL;
}

void write_behind_free(write_behind_t *wb)
{
    if (wb == NULL)
        return;
    write_behind_stop(wb);
    batch_clear(wb);
    free(wb);
}
