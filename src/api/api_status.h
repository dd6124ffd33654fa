/*
 * api_status — the service's status report: the body of GET /cache/stats, and of each
 * "event: stats" of GET /events (which adds the health of Redis and PostgreSQL).
 *
 * A report is fetched, never kept: Redis INFO and, in write-behind mode, the newest entries of the
 * dead-letter stream (XREVRANGE) are read on the loop's own Redis connection for each report, and
 * joined with the service's counters (core/stats, core/metrics: atomics shared by every loop). So
 * no loop keeps state that another reads. Not thread-safe: call on the loop of cache.
 */
#ifndef CACHEME_API_STATUS_H
#define CACHEME_API_STATUS_H

#include "cache/cache.h"
#include "cache/dead_letter.h"

#include <jansson.h>

/*
 * Receives a report: status is a new reference the callee owns (NULL only when out of memory);
 * redis_failed is 1 when Redis could not answer INFO (status then has "cache_stats": null).
 */
typedef void (*api_status_fn)(json_t *status, int redis_failed, void *arg);

/*
 * Reads what a report needs from Redis and calls done(arg) exactly once with the report: later,
 * on this loop, or before returning when Redis refuses the commands at once (down, breaker open).
 */
void api_status_fetch(cache_t *cache, api_status_fn done, void *arg);

/*
 * Builds a report from Redis INFO text (NULL: Redis did not answer) and the newest dead letters
 * (ndead of them, newest first; ignored unless the write mode is write-behind). Returns a new
 * object, or NULL when out of memory.
 */
json_t *api_status_build(const char *info, const dead_letter_t *dead, int ndead, cache_t *cache);

#endif
