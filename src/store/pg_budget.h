/*
 * pg_budget — PostgreSQL's connection budget, checked once when the service starts.
 *
 * One instance opens WORKERS × (PG_POOL_SIZE + 1) connections: each loop's pool, and each loop's
 * LISTEN connection (cache/changes). Scaled out (Compose's `--scale backend=N`), N instances open N
 * times that, and PostgreSQL refuses every connection past max_connections −
 * superuser_reserved_connections ("FATAL: sorry, too many clients already"). Before the loops
 * start, the check asks PostgreSQL for its limit and the connections already open and logs a
 * warning, with the figures and the formula, when this instance would take the server past 80 % of
 * its limit. Blocking (at most PG_BUDGET_TIMEOUT_S to connect): call before the loops start.
 */
#ifndef CACHEME_PG_BUDGET_H
#define CACHEME_PG_BUDGET_H

#include "core/config.h"

/* How long the check waits for PostgreSQL; when it cannot connect, the check is skipped. */
#define PG_BUDGET_TIMEOUT_S 2

/* Share of PostgreSQL's usable connections above which the check warns, in percent. */
#define PG_BUDGET_WARN_PERCENT 80

/* Connections one instance with cfg opens: workers × (pg_pool_size + 1). Pure. */
int pg_budget_needed(const config_t *cfg);

/*
 * Tells whether in_use connections already open plus needed more stay within
 * PG_BUDGET_WARN_PERCENT of max_connections − reserved. Returns 1 when they do, 0 when not. Pure.
 */
int pg_budget_fits(int max_connections, int reserved, int in_use, int needed);

/*
 * Runs the check against cfg's DATABASE_URL and logs the result: a warning when it does not fit,
 * an info line when it does, an info line when PostgreSQL could not be asked. Returns 1 when it
 * fits, 0 when it warned, -1 when it could not check.
 */
int pg_budget_check(const config_t *cfg);

#endif
