/*
 * event_check — what an event heard from another instance may carry before a dashboard sees it.
 *
 * Anyone who can PUBLISH on EVENTS_CHANNEL can put anything there. An event of a known type is
 * passed on only as a copy holding the members its schema in docs/openapi.json names (WriteEvent,
 * InstanceEvent, WarmEvent, less "instance" and "local", which the relaying hub sets), each of the
 * right kind and within its bounds; anything else is refused whole.
 *
 * Pure; thread-safe.
 */
#ifndef CACHEME_EVENT_CHECK_H
#define CACHEME_EVENT_CHECK_H

#include <jansson.h>

/*
 * Checks data (borrowed) as the data of an event of type type ("write", "instance", "warm").
 * Returns a new object with its known members, or NULL when the type is not one of those or the
 * data does not fit its schema.
 */
json_t *event_check_remote(const char *type, json_t *data);

#endif
