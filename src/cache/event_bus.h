/*
 * event_bus — the live events of /events shared by every instance through Redis Pub/Sub.
 *
 * Each event loop has one bus. event_bus_publish sends an event on the channel EVENTS_CHANNEL as
 * one PUBLISH of {"instance","origin","type","data"}; every bus is subscribed to that channel on
 * a connection of its own (store/redis_tracking, which reconnects by itself) and hands the owner
 * each event published by any other bus — of another instance or of another loop of this one. A
 * bus never hands back its own events: the owner shows those itself, whether Redis is up or not.
 *
 * Pub/Sub delivers at most once and keeps no history (docs/pubsub-vs-streams.md): an event
 * published while a subscriber was disconnected is not delivered to it, ever. That suits live
 * events, which are worth something only now; nothing that must not be lost goes through here.
 * Every bus numbers its messages, so a subscriber can tell what it missed (a gap in one
 * publisher's numbers, seen at that publisher's next message): STATS_EVENTS_MISSED.
 *
 * With EVENTS_FANOUT=false the bus neither publishes nor subscribes, and /events is per process.
 * Counted in stats: STATS_EVENTS_* and the gauge STATS_EVENTS_SUBSCRIBED.
 *
 * Not thread-safe: one bus per loop, used on that loop only.
 */
#ifndef CACHEME_EVENT_BUS_H
#define CACHEME_EVENT_BUS_H

#include "cache/cache.h"

#include <jansson.h>

struct event_base;

typedef struct event_bus event_bus_t;

/*
 * Receives an event of another bus: the instance that published it (its INSTANCE_ID), the type,
 * and the data (a borrowed object, valid during the call). Called on the loop.
 */
typedef void (*event_bus_fn)(const char *instance, const char *type, json_t *data, void *arg);

/*
 * Creates the bus of the loop base, publishing with cache's Redis client (which outlives it) and
 * handing events to fn with arg. Returns 0 and sets *out, or -1 (out of memory).
 */
int event_bus_new(struct event_base *base, cache_t *cache, event_bus_fn fn, void *arg,
                  event_bus_t **out);

/* Unsubscribes and frees; fn is not called after. NULL is allowed. */
void event_bus_free(event_bus_t *b);

/*
 * Publishes an event of type type (at most 31 bytes of [a-z_]) with data (borrowed, a JSON
 * object). Fire and forget: a Redis that is down or failing counts STATS_EVENTS_PUBLISH_FAILED.
 * Does nothing when the fan-out is off.
 */
void event_bus_publish(event_bus_t *b, const char *type, json_t *data);

/* "off" (EVENTS_FANOUT=false), "subscribed" or "connecting". Static text. */
const char *event_bus_state(const event_bus_t *b);

/*
 * Reads a message of the channel (len bytes, not NUL-terminated). Returns a new reference to the
 * message object with the string members instance, origin (both non-empty, without NUL, origin
 * at most 31 bytes) and type (1..31 bytes of [a-z_]), the object data and, optionally, the integer
 * seq (at least 1), or NULL when it is not one. Pure; exposed for the unit tests.
 */
json_t *event_bus_parse(const char *msg, size_t len);

#endif
