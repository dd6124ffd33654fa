/*
 * queries — see queries.h.
 */
#include "queries.h"

#include "product.h"

const pg_stmt_t queries_table[Q_COUNT_] = {
    [Q_PRODUCT_BY_ID] = {"product_by_id", "SELECT " PRODUCT_COLUMNS " FROM products WHERE id = $1",
                         1},
    [Q_PRODUCTS_PAGE] = {"products_page",
                         "SELECT " PRODUCT_COLUMNS " FROM products ORDER BY id LIMIT $1 OFFSET $2",
                         2},
    [Q_PRODUCTS_COUNT] = {"products_count", "SELECT count(*) FROM products", 0},
    [Q_PING] = {"ping", "SELECT 1", 0},
};
