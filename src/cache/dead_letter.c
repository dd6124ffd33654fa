/*
 * dead_letter — see dead_letter.h.
 */
#include "cache/dead_letter.h"

#include "store/pg_pool.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

dead_letter_verdict_t dead_letter_classify(int pg_status, const char *sqlstate)
{
    if (pg_status != PG_POOL_EQUERY)
        return DEAD_LETTER_RETRY; /* Down, deadline, connection lost, out of memory. */
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return DEAD_LETTER_HOLD;
    static const char *const permanent[] = {
        "22", /* Data exception: a value too long, out of range, not a number... */
        "23", /* Integrity constraint violation: NOT NULL, CHECK, foreign key, unique. */
    };
    static const char *const transient[] = {
        "08", /* Connection exception. */
        "40", /* Transaction rollback: serialization failure (40001), deadlock (40P01). */
        "53", /* Insufficient resources: disk full, out of memory, too many connections. */
        "57", /* Operator intervention: statement timeout, cancel, shutdown. */
        "58", /* System error: I/O. */
        "55", /* Object not in prerequisite state: lock not available (55P03), in use. */
    };
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++) {
        if (strncmp(sqlstate, permanent[i], 2) == 0)
            return DEAD_LETTER_PARK;
    }
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        if (strncmp(sqlstate, transient[i], 2) == 0)
            return DEAD_LETTER_RETRY;
    }
    if (strcmp(sqlstate, "25006") == 0)
        return DEAD_LETTER_RETRY; /* Read-only transaction: a standby, during a failover. */
    return DEAD_LETTER_HOLD;
}

/*
 * Copies src (len bytes) into dst (cap bytes) as valid UTF-8: cut at a character boundary, and,
 * when src is not valid UTF-8, with every non-ASCII byte replaced by '?', so that it can always go
 * into a JSON answer.
 */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len < cap ? len : cap - 1;
    if (n < len) {
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* src[n] continues a character: cut before that character starts. */
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    json_t *probe = json_stringn(dst, n); /* NULL for invalid UTF-8 (or no memory). */
    if (probe == NULL) {
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)dst[i] >= 0x80 || dst[i] == '\0')
                dst[i] = '?';
        }
    }
    json_decref(probe);
}

/* The value of the last field called name in a [field, value, ...] reply, or NULL. */
static const redisReply *reply_field(const redisReply *f, const char *name)
{
    const redisReply *found = NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0 &&
            v->type == REDIS_REPLY_STRING)
            found = v;
    }
    return found;
}

static void copy_field(char *dst, size_t cap, const redisReply *f, const char *name)
{
    const redisReply *v = reply_field(f, name);
    copy_text(dst, cap, v ? v->str : "", v ? v->len : 0);
}

int dead_letter_parse(const redisReply *reply, dead_letter_t recent[DEAD_LETTER_RECENT])
{
    if (reply->type != REDIS_REPLY_ARRAY)
        return 0;
    memset(recent, 0, sizeof(dead_letter_t) * DEAD_LETTER_RECENT);
    int n = 0;
    for (size_t i = 0; i < reply->elements && n < DEAD_LETTER_RECENT; i++) {
        const redisReply *ent = reply->element[i];
        if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
            ent->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply *f = ent->element[1];
        dead_letter_t *d = &recent[n++];
        copy_field(d->stream_id, sizeof d->stream_id, f, "stream_id");
        copy_field(d->op, sizeof d->op, f, "op");
        copy_field(d->sqlstate, sizeof d->sqlstate, f, "sqlstate");
        copy_field(d->error, sizeof d->error, f, "error");
        copy_field(d->failed_at, sizeof d->failed_at, f, "failed_at");
        const redisReply *id = reply_field(f, "id");
        char *end;
        long v = id && id->len > 0 ? strtol(id->str, &end, 10) : 0;
        if (id && id->len > 0 && *end == '\0' && end == id->str + id->len && v >= INT32_MIN &&
            v <= INT32_MAX) {
            d->has_product_id = 1;
            d->product_id = (int32_t)v;
        }
    }
    return n;
}
