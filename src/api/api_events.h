/*
 * api_events — GET /events: live statistics as Server-Sent Events.
 *
 * Each loop keeps its own subscribers. While it has any, a one-second timer fetches one status
 * report (with the function the hub was given: the same report as /cache/stats) and sends every
 * subscriber an "event: stats" with it plus the state of Redis and PostgreSQL. A new subscriber
 * gets an event as soon as a report is ready. Change notifications heard by the loop are passed on
 * as "event: invalidation", changes of the Redis and PostgreSQL topology (api/topology_watch) as
 * "event: topology", and the cache warm's events (core/warm), looked for every 100 ms, as
 * "event: warm".
 *
 * A write made through any loop reaches every subscriber as "event: write": within RELAY_TICK_MS
 * on every loop of this process, all in the order the writes were answered (core/event_ring), and
 * with EVENTS_FANOUT (the default) on every other instance through Redis Pub/Sub (cache/event_bus).
 * Each second every subscriber also gets "event: instance" with this process's figures, and with
 * the fan-out those of every other instance (the first loop publishes them), and the cache warm
 * runs of other instances as "event: warm" with their "instance". An instance's own events never
 * come back to it through Redis, so they reach its dashboards with Redis down as well. Change
 * notifications need no fan-out (every loop hears PostgreSQL itself), and "event: stats" stays
 * this instance's report.
 *
 * Not thread-safe: one hub per loop, used on that loop only.
 */
#ifndef CACHEME_API_EVENTS_H
#define CACHEME_API_EVENTS_H

#include "api/api.h"
#include "cache/changes.h"
#include "cache/event_bus.h"
#include "http/http.h"

#include <jansson.h>

struct event_base;

typedef struct events_hub events_hub_t;

/* Receives a report from an events_status_fetch_fn: a new reference, or NULL (out of memory). */
typedef void (*events_status_fn)(json_t *status, int redis_failed, void *arg);

/*
 * Fetches a status report of cache and calls done(arg) exactly once with it, later or before
 * returning (api_status_fetch is one).
 */
typedef void (*events_status_fetch_fn)(cache_t *cache, events_status_fn done, void *arg);

/*
 * Creates the hub of the loop base, whose cache it reports on with fetch. The publisher (one loop
 * per process) publishes the process's events: its figures each second and its cache warm runs.
 * Returns 0 and sets *out, or -1.
 */
int events_hub_new(struct event_base *base, cache_t *cache, events_status_fetch_fn fetch,
                   int publisher, events_hub_t **out);

/* Ends every stream (their replies finish cleanly) and stops the timer; the hub stays usable. */
void events_hub_close_all(events_hub_t *h);

/* Ends every stream and frees the hub. */
void events_hub_free(events_hub_t *h);

/*
 * Tells the subscribers of hub (an events_hub_t) that a change notification for product id at
 * version arrived and what it did to the cache ("dropped", "already applied" or "failed"), as an
 * "event: invalidation" with data {"id","version","outcome","timestamp"}. A changes_fn: the server
 * passes it to changes_new.
 */
void events_hub_invalidation(int32_t id, long long version, changes_outcome_t outcome, void *hub);

/*
 * Sends every subscriber of h an "event: topology" whose data is data serialised (a reference the
 * call takes; NULL is allowed and sends nothing).
 */
void events_hub_topology(events_hub_t *h, json_t *data);

/*
 * Tells every dashboard, of this instance and (through Redis) of the others, of a write made
 * through this loop: "event: write" with data (an object, a reference the call takes) plus
 * "instance" and "timestamp". NULL h or data is allowed.
 */
void events_hub_write(events_hub_t *h, json_t *data);

/* The fan-out of h's events: "off", "subscribed" or "connecting" (event_bus_state). */
const char *events_hub_fanout_state(const events_hub_t *h);

/* Open streams of this hub (0 for NULL). */
int events_hub_count(const events_hub_t *h);

/* The handler of GET /events. */
void api_events(http_req_t *req);

#endif
