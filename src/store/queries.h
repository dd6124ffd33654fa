/*
 * queries — the SQL statements the service prepares on every PostgreSQL connection.
 *
 * The enum indexes queries_table; pg_pool prepares them all when a connection opens, so the hot
 * path only sends a statement name and its parameters.
 */
#ifndef CACHEME_QUERIES_H
#define CACHEME_QUERIES_H

#include "store/pg_pool.h"

enum {
    Q_PRODUCT_BY_ID = 0,     /* $1 id → one product row (PRODUCT_COLUMNS) + version, or none. */
    Q_PRODUCT_BY_ID_DELAYED, /* The same after $2 ms of pg_sleep: the lab's slow database. */
    Q_PRODUCTS_PAGE,         /* $1 limit, $2 offset → product rows ordered by id. */
    Q_PRODUCTS_COUNT,        /* → one row: count of products. */
    Q_PRODUCT_IDS_AFTER,     /* $1 id, $2 limit → the ids above $1, ascending (cache warming). */
    Q_PRODUCTS_BY_IDS,       /* $1 int[] literal → those products (PRODUCT_COLUMNS) + version. */
    Q_PING,                  /* → one row: 1. Health check. */
    Q_REPLICA_STATUS,        /* → one row: in recovery (t/f), WAL bytes not yet replayed. */
    Q_PRODUCT_INSERT, /* $1 name, $2 description, $3 price, $4 category → the row + version. */
    Q_PRODUCT_UPDATE, /* $1 id, then (set?, value) pairs for name, description, price,
                         category → the row + version, or none. */
    Q_PRODUCT_DELETE, /* $1 id → one row: id, version of the deletion; or none. */
    Q_APPLY_WRITE,    /* A queued write-behind entry → one row: applied now (t/f). */
    Q_WAL_POSITION,   /* → one row: in recovery (t/f), WAL position as an LSN and in bytes,
                         age of the last replayed transaction in ms (NULL on a primary). */
    Q_COUNT_          /* Number of statements; not a statement. */
};

extern const pg_stmt_t queries_table[Q_COUNT_];

/* Column of the version in the rows of Q_PRODUCT_BY_ID(_DELAYED), Q_PRODUCT_INSERT and
 * Q_PRODUCT_UPDATE. */
#define Q_VERSION_COLUMN 7

#endif
