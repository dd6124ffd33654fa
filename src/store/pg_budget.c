/*
 * pg_budget — see pg_budget.h.
 */
#include "store/pg_budget.h"

#include "core/log.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pg_budget_needed(const config_t *cfg)
{
    return cfg->workers * (cfg->pg_pool_size + 1);
}

int pg_budget_fits(int max_connections, int reserved, int in_use, int needed)
{
    long usable = (long)max_connections - reserved;
    return ((long)in_use + needed) * 100 <= usable * PG_BUDGET_WARN_PERCENT;
}

/* The server's limit and reserve, and the client connections open now (all databases). */
static const char BUDGET_SQL[] =
    "SELECT current_setting('max_connections')::int, "
    "current_setting('superuser_reserved_connections')::int, "
    "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int";

int pg_budget_check(const config_t *cfg)
{
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", PG_BUDGET_TIMEOUT_S);
    /* DATABASE_URL first, expanded; the timeout after it, so that it wins. */
    const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *const values[] = {cfg->database_url, timeout, "cacheme-budget", NULL};
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        log_info("connection budget not checked: cannot connect to PostgreSQL: %.*s",
                 (int)strcspn(msg, "\n"), msg);
        PQfinish(conn);
        return -1;
    }
    PGresult *res = PQexec(conn, BUDGET_SQL);
    int result = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        int max = atoi(PQgetvalue(res, 0, 0));
        int reserved = atoi(PQgetvalue(res, 0, 1));
        /* Not counting the check's own connection, which closes before the loops open theirs. */
        int in_use = atoi(PQgetvalue(res, 0, 2)) - 1;
        int needed = pg_budget_needed(cfg);
        result = pg_budget_fits(max, reserved, in_use, needed);
        if (result)
            log_info("connection budget: this instance opens %d PostgreSQL connections "
                     "(WORKERS=%d x (PG_POOL_SIZE=%d + 1)); %d open now, %d usable",
                     needed, cfg->workers, cfg->pg_pool_size, in_use, max - reserved);
        else
            log_warn("connection budget: this instance opens %d PostgreSQL connections "
                     "(WORKERS=%d x (PG_POOL_SIZE=%d + 1)) and %d are open already, over %d%% of "
                     "the %d PostgreSQL accepts (max_connections=%d - "
                     "superuser_reserved_connections=%d); N instances need N x %d: lower WORKERS "
                     "or PG_POOL_SIZE, or raise max_connections",
                     needed, cfg->workers, cfg->pg_pool_size, in_use, PG_BUDGET_WARN_PERCENT,
                     max - reserved, max, reserved, needed);
    } else {
        log_info("connection budget not checked: %.*s", (int)strcspn(PQerrorMessage(conn), "\n"),
                 PQerrorMessage(conn));
    }
    PQclear(res);
    PQfinish(conn);
    return result;
}
