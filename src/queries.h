/*
 * queries — the SQL statements the service prepares on every PostgreSQL connection.
 *
 * The enum indexes queries_table; pg_pool prepares them all when a connection opens, so the hot
 * path only sends a statement name and its parameters.
 */
#ifndef CACHEME_QUERIES_H
#define CACHEME_QUERIES_H

#include "pg_pool.h"

enum {
    Q_PRODUCT_BY_ID = 0, /* $1 id → one product row (PRODUCT_COLUMNS) or none. */
    Q_PRODUCTS_PAGE,     /* $1 limit, $2 offset → product rows ordered by id. */
    Q_PRODUCTS_COUNT,    /* → one row: count of products. */
    Q_PING,              /* → one row: 1. Health check. */
    Q_COUNT_             /* Number of statements; not a statement. */
};

extern const pg_stmt_t queries_table[Q_COUNT_];

#endif
