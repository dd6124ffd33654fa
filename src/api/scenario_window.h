/*
 * scenario_window — POST /lab/scenarios/invalidation-window: how long another instance's near
 * cache (L1) can still answer a product after it changed in Redis.
 *
 * Three observers stand in for three other instances. Each is what an instance's near cache runs
 * on: an invalidation connection subscribed to `__redis__:invalidate` (store/redis_tracking) and a
 * Redis connection that turned broadcast tracking on for the product keys with REDIRECT to it
 * (store/redis_client). Once all three track, the run changes product 1's key the way any write
 * does for the tracking machinery — `APPEND product:1 ""`, which signals a modification without
 * changing a byte (the run first looks product 1 up, uncounted, so that the key exists) — and
 * takes the time: when the command was sent, when Redis acknowledged it, and when each observer
 * heard the invalidation. An instance's L1 answers the old version at most until it hears that
 * message; without tracking it would answer it until its entry's L1_TTL_MS ran out.
 *
 * Runs on the loop of the request; the caller has taken lab_scenario_begin, which the run gives
 * back with lab_scenario_end when it answers.
 */
#ifndef CACHEME_SCENARIO_WINDOW_H
#define CACHEME_SCENARIO_WINDOW_H

#include "http/http.h"

/* Runs the scenario and answers req (200 with the figures, or 503 when Redis is not reachable). */
void scenario_window_run(http_req_t *req);

#endif
