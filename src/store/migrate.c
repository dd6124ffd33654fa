/*
 * migrate — see migrate.h. The SQL text is compiled in (see embedded.h).
 */
#include "store/migrate.h"

#include "core/log.h"

#include <libpq-fe.h>
#include <string.h>

#include "core/embedded.h"

static int run_script(PGconn *conn, const char *name, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        const char *msg = PQresultErrorMessage(res);
        log_error("migrate: %s failed: %.*s", name, (int)strcspn(msg, "\n"), msg);
    }
    PQclear(res);
    return ok ? 0 : -1;
}

int migrate_run(const config_t *cfg)
{
    PGconn *conn = PQconnectdb(cfg->database_url);
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        log_error("migrate: cannot connect to PostgreSQL: %.*s", (int)strcspn(msg, "\n"), msg);
        PQfinish(conn);
        return -1;
    }
    /* Quiet the NOTICEs of "IF NOT EXISTS" on a second run. */
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    int rc = run_script(conn, "schema", embedded_schema_sql);
    if (rc == 0)
        rc = run_script(conn, "seed", embedded_seed_sql);
    if (rc == 0) {
        PGresult *res = PQexec(conn, "SELECT count(*) FROM products");
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            log_info("migrate: schema ready, %s products", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    PQfinish(conn);
    return rc;
}
