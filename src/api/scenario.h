/*
 * scenario — POST /lab/scenarios/{stampede|penetration|avalanche|replica-lag}: runs a failure
 * scenario against this service twice, with its protection off and then on, and answers with the
 * numbers of both runs.
 *
 * A run drives the service's own cache-aside lookups on the loop that received the request
 * (cache_lookup_product_opts: the code GET /products/{id} uses), and counts their outcomes and the
 * queries they send itself, so other traffic meanwhile does not change its figures. The lookups are
 * left out of the service's hits and misses, so a run does not move the learner's hit rate; their
 * queries still count in db_queries, and their reads in Redis' INFO keyspace counters (the answer
 * says so in `counted_in` and `note`). The lab settings are changed for the duration of a run
 * and put back afterwards, so other traffic during a scenario sees them too; one scenario runs at a
 * time per process (409 otherwise).
 *
 * - stampede: the product keys are cleared, then 100 lookups of product 1 start together while
 *   PostgreSQL answers slowly (db_delay_ms, 50 by default); protection = stampede_protection.
 * - penetration: 1,000 lookups, one after another, of ids that do not exist, drawn from a set of
 *   10; protection = negative caching (negative_ttl_seconds).
 * - avalanche: the keys of the 15 products are cleared and filled together; the answer compares
 *   the spread of their TTLs; protection = ttl_jitter_percent.
 * - replica-lag (needs DATABASE_REPLICA_URL, 409 otherwise): 100 rounds, one after another, of a
 *   write of product 1 through the primary (its values unchanged, its version raised), its
 *   invalidation, and at once a lookup whose miss reads the replica; the answer counts the rounds
 *   that left an older value cached and the lookups answered with one; protection = replica_guard.
 *   It shows something only while the replica lags (e.g. recovery_min_apply_delay).
 */
#ifndef CACHEME_SCENARIO_H
#define CACHEME_SCENARIO_H

#include "http/http.h"

/* The handler of POST /lab/scenarios/{name}. */
void api_lab_scenario(http_req_t *req);

#endif
