/*
 * dead_letter — the dead letters of the write-behind queue: which failures of applying a queued
 * write park it in the Redis Stream cacheme:writes:dead instead of retrying it, and the newest
 * entries of that stream as /cache/stats shows them.
 *
 * The applier (write_behind.c) parks the entries, with their fields plus stream_id, sqlstate, error
 * and failed_at. Whoever shows them reads the newest with XREVRANGE and decodes the reply with
 * dead_letter_parse; nothing is kept here.
 */
#ifndef CACHEME_DEAD_LETTER_H
#define CACHEME_DEAD_LETTER_H

#include <hiredis/hiredis.h>
#include <stdint.h>

/* The stream: the write-behind queue's name (cacheme:writes) + ":dead". */
#define DEAD_LETTER_STREAM "cacheme:writes:dead"

/* How many of the newest dead letters /cache/stats shows. */
#define DEAD_LETTER_RECENT 5

/*
 * One entry of the dead-letter stream, as /cache/stats shows it. A plain value. Every string is
 * NUL-terminated valid UTF-8, cut (at a character boundary) to its buffer.
 */
typedef struct {
    char stream_id[48]; /* The refused entry's id in cacheme:writes. */
    int has_product_id; /* 1 when the entry's id is a product id (product_id is valid). */
    int32_t product_id; /* Its product. */
    char op[16];        /* "update" or "delete", as queued. */
    char sqlstate[8];   /* PostgreSQL's SQLSTATE; "" when the entry did not reach PostgreSQL. */
    char error[256];    /* PostgreSQL's message, or why the entry could not be read. */
    char failed_at[40]; /* When it was parked (ISO 8601, UTC). */
} dead_letter_t;

/* What the applier does with an entry that failed to apply. */
typedef enum {
    /* The connection, a deadline or PostgreSQL's state: the same entry may succeed later. */
    DEAD_LETTER_RETRY,
    /* PostgreSQL refused the entry's data and would refuse it again: park it. */
    DEAD_LETTER_PARK,
    /*
     * Anything else (e.g. a schema that is not migrated, a missing privilege): retried like
     * DEAD_LETTER_RETRY, since parking would empty the queue into the dead-letter stream, but
     * logged as an error, since the queue is held until an operator fixes the cause.
     */
    DEAD_LETTER_HOLD
} dead_letter_verdict_t;

/*
 * Classifies a failed apply from the pool's status (a PG_POOL_* code other than PG_POOL_OK) and,
 * for PG_POOL_EQUERY, PostgreSQL's SQLSTATE (may be NULL): classes 22 (data exception) and 23
 * (integrity constraint violation) park; pool failures and classes 08, 40, 53, 55, 57, 58 and 25006
 * retry; anything else holds. Pure; thread-safe.
 */
dead_letter_verdict_t dead_letter_classify(int pg_status, const char *sqlstate);

/*
 * Decodes reply, an XREVRANGE of DEAD_LETTER_STREAM (newest first), into out (at most
 * DEAD_LETTER_RECENT entries, in the reply's order) and returns their number; 0 for a reply of
 * another type. Pure; thread-safe.
 */
int dead_letter_parse(const redisReply *reply, dead_letter_t out[DEAD_LETTER_RECENT]);

#endif
