/*
 * queries — see queries.h.
 */
#include "store/queries.h"

#include "model/product.h"

const pg_stmt_t queries_table[Q_COUNT_] = {
    /*
     * The batch form answers several lookups with one execution: one row per array element that
     * names a product (an id asked twice gets two rows), headed by the element's position, which is
     * how pg_pool hands each lookup its own row.
     */
    [Q_PRODUCT_BY_ID] = {"product_by_id",
                         "SELECT " PRODUCT_COLUMNS ", version FROM products WHERE id = $1", 1, 1,
                         "product_by_id_batch",
                         "SELECT k.position::int, " PRODUCT_COLUMNS ", version"
                         " FROM unnest($1::int[]) WITH ORDINALITY AS k(key, position)"
                         " JOIN products ON products.id = k.key ORDER BY k.position"},
    /* The delay happens inside PostgreSQL, so the lab's numbers stay real. */
    [Q_PRODUCT_BY_ID_DELAYED] = {"product_by_id_delayed",
                                 "SELECT " PRODUCT_COLUMNS ", version"
                                 " FROM pg_sleep($2::float8 / 1000), products WHERE id = $1",
                                 2},
    [Q_PRODUCTS_PAGE] = {"products_page",
                         "SELECT " PRODUCT_COLUMNS " FROM products ORDER BY id LIMIT $1 OFFSET $2",
                         2, 1},
    [Q_PRODUCTS_COUNT] = {"products_count", "SELECT count(*) FROM products", 0, 1},
    /*
     * Cache warming walks the ids by key (never OFFSET, which rescans what it skips) and reads a
     * page's rows in one execution; the ids come first so that their generations can be read
     * before their rows (cache/warmer.c says why).
     */
    [Q_PRODUCT_IDS_AFTER] = {"product_ids_after",
                             "SELECT id FROM products WHERE id > $1 ORDER BY id LIMIT $2", 2},
    [Q_PRODUCTS_BY_IDS] = {"products_by_ids",
                           "SELECT " PRODUCT_COLUMNS ", version FROM products"
                           " WHERE id = ANY($1::int[]) ORDER BY id",
                           1},
    [Q_PING] = {"ping", "SELECT 1", 0},
    /*
     * On a standby, how far its replay is behind what it has received, in bytes of WAL (0 when it
     * has applied everything; commits wait there under recovery_min_apply_delay). Bytes rather
     * than time: the age of the last replayed commit also grows while nothing is written. A
     * primary answers false and 0.
     */
    [Q_REPLICA_STATUS] = {"replica_status",
                          "SELECT pg_is_in_recovery(), GREATEST(COALESCE(pg_wal_lsn_diff("
                          "pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::bigint",
                          0},
    [Q_PRODUCT_INSERT] = {"product_insert",
                          "INSERT INTO products (name, description, price, category) "
                          "VALUES ($1, $2, $3::numeric, $4) RETURNING " PRODUCT_COLUMNS ", version",
                          4},
    /* One statement serves PUT and PATCH: each field is replaced only when its flag is true. */
    [Q_PRODUCT_UPDATE] = {"product_update",
                          "UPDATE products SET "
                          "name = CASE WHEN $2::bool THEN $3 ELSE name END, "
                          "description = CASE WHEN $4::bool THEN $5 ELSE description END, "
                          "price = CASE WHEN $6::bool THEN $7::numeric ELSE price END, "
                          "category = CASE WHEN $8::bool THEN $9 ELSE category END "
                          "WHERE id = $1 RETURNING " PRODUCT_COLUMNS ", version",
                          9},
    /* The deletion's version is one past the row's last, like an update's. */
    [Q_PRODUCT_DELETE] = {"product_delete",
                          "DELETE FROM products WHERE id = $1 RETURNING id, version + 1", 1},
    [Q_APPLY_WRITE] = {"apply_write",
                       "SELECT cacheme_apply_write($1, $2::int, $3, $4, $5, $6::numeric, $7)", 7},
    /*
     * Where a server is in the WAL, for the topology view: the primary's current write position,
     * a standby's replay position (as an LSN and in bytes from 0/0, so that the caller can
     * subtract one server's from the other's), and on a standby the age of the last transaction
     * it replayed (NULL on a primary, or before the first replay).
     */
    [Q_WAL_POSITION] =
        {"wal_position",
         "SELECT pg_is_in_recovery(), lsn::text, pg_wal_lsn_diff(lsn, '0/0')::bigint,"
         " (EXTRACT(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)"
         "::float8 FROM (SELECT CASE WHEN pg_is_in_recovery()"
         " THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END AS lsn) AS w",
         0},
};
