/*
 * event_bus — see event_bus.h.
 *
 * A message is one JSON object: {"instance": INSTANCE_ID, "origin": the bus, "seq": its number
 * among that bus's messages, "type", "data"}.
 * The origin ("pid.address") tells a bus its own messages, which Redis delivers back to it like any
 * other; the instance is what the owner shows.
 */
#include "cache/event_bus.h"

#include "core/log.h"
#include "core/stats.h"
#include "store/redis_client.h"
#include "store/redis_tracking.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest type name. */
#define TYPE_MAX 31
/* Publishers whose sequence a bus follows; the least recently heard is forgotten beyond. */
#define PEERS_MAX 64

/* The last message heard from one publishing bus. */
typedef struct {
    char origin[32]; /* Its origin; "" for a free slot. */
    json_int_t seq;  /* The sequence number of its last message heard. */
    uint64_t heard;  /* When, by this bus's count of messages (for forgetting). */
} peer_t;

struct event_bus {
    cache_t *cache;            /* Its Redis client publishes. */
    const config_t *cfg;       /* EVENTS_FANOUT, EVENTS_CHANNEL, INSTANCE_ID. */
    event_bus_fn fn;           /* The owner's callback. */
    void *arg;                 /* Its argument. */
    redis_tracking_t *channel; /* The subscription; NULL when the fan-out is off. */
    int subscribed;            /* 1 while counted in STATS_EVENTS_SUBSCRIBED. */
    char origin[32];           /* This bus's name in its messages. */
    json_int_t seq;            /* The number of this bus's last message published. */
    uint64_t heard;            /* Messages of other buses heard (the peers' clock). */
    peer_t peers[PEERS_MAX];   /* The buses heard from lately. */
};

static int type_ok(const char *s, size_t len)
{
    if (len == 0 || len > TYPE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
            return 0;
    }
    return 1;
}

json_t *event_bus_parse(const char *msg, size_t len)
{
    json_t *v = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL);
    if (v == NULL)
        return NULL;
    json_t *instance = json_object_get(v, "instance");
    json_t *origin = json_object_get(v, "origin");
    json_t *type = json_object_get(v, "type");
    if (!json_is_object(v) || !json_is_string(instance) || json_string_length(instance) == 0 ||
        json_string_length(instance) >= sizeof((config_t *)0)->instance ||
        !json_is_string(origin) || json_string_length(origin) == 0 || !json_is_string(type) ||
        !type_ok(json_string_value(type), json_string_length(type)) ||
        !json_is_object(json_object_get(v, "data")) ||
        strlen(json_string_value(instance)) != json_string_length(instance) ||
        strlen(json_string_value(origin)) != json_string_length(origin) ||
        json_string_length(origin) >= sizeof((peer_t *)0)->origin ||
        (json_object_get(v, "seq") != NULL &&
         (!json_is_integer(json_object_get(v, "seq")) ||
          json_integer_value(json_object_get(v, "seq")) < 1))) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static void set_subscribed(event_bus_t *b, int on)
{
    if (b->subscribed == on)
        return;
    b->subscribed = on;
    stats_add(STATS_EVENTS_SUBSCRIBED, on ? 1 : -1);
}

static void on_ready(long long client_id, void *arg)
{
    (void)client_id;
    set_subscribed(arg, 1);
}

static void on_lost(void *arg)
{
    set_subscribed(arg, 0);
}

/*
 * Counts the messages of origin that did not arrive: every bus numbers its messages 1, 2, ..., and
 * Redis keeps one publisher's order, so a jump is what Pub/Sub lost (a disconnection, or a
 * subscriber so slow that Redis dropped it) and shows in cacheme_events_missed_total.
 */
static void follow(event_bus_t *b, const char *origin, json_int_t seq)
{
    peer_t *slot = NULL, *oldest = &b->peers[0];
    b->heard++;
    for (int i = 0; i < PEERS_MAX && slot == NULL; i++) {
        peer_t *p = &b->peers[i];
        if (strcmp(p->origin, origin) == 0)
            slot = p;
        else if (p->heard < oldest->heard)
            oldest = p;
    }
    if (slot == NULL) { /* A publisher not heard from before (or forgotten): no gap to tell. */
        slot = oldest;
        snprintf(slot->origin, sizeof slot->origin, "%s", origin);
    } else if (seq > slot->seq + 1) {
        for (json_int_t i = slot->seq + 1; i < seq; i++)
            stats_incr(STATS_EVENTS_MISSED);
    }
    slot->seq = seq;
    slot->heard = b->heard;
}

static void on_message(const char *msg, size_t len, void *arg)
{
    event_bus_t *b = arg;
    json_t *v = event_bus_parse(msg, len);
    if (v == NULL) {
        stats_incr(STATS_EVENTS_REJECTED);
        log_debug("events channel: a message that is not an event (%zu bytes)", len);
        return;
    }
    const char *origin = json_string_value(json_object_get(v, "origin"));
    if (strcmp(origin, b->origin) != 0) {
        stats_incr(STATS_EVENTS_RECEIVED);
        json_t *seq = json_object_get(v, "seq");
        if (seq != NULL)
            follow(b, origin, json_integer_value(seq));
        b->fn(json_string_value(json_object_get(v, "instance")),
              json_string_value(json_object_get(v, "type")), json_object_get(v, "data"), b->arg);
    }
    json_decref(v);
}

/*
 * Where to subscribe. A message published on any server reaches the subscribers of every server
 * that serves the data set: a replica hears what its master publishes, and in a cluster every node
 * hears what any node publishes. So: with Sentinel, where the loop's client is (the master); in a
 * cluster, the first master that is up; otherwise REDIS_URL's server.
 */
static int channel_address(void *arg, char *host, size_t hostlen, int *port)
{
    event_bus_t *b = arg;
    redis_client_t *rc = cache_redis(b->cache);
    char addr[300] = "";
    if (rc != NULL && redis_client_is_cluster(rc)) {
        redis_client_node_t n;
        for (int i = 0; i < redis_client_node_count(rc) && addr[0] == '\0'; i++) {
            if (redis_client_node_info(rc, i, &n) == 0 && n.up)
                snprintf(addr, sizeof addr, "%s", n.address);
        }
    } else if (b->cfg->redis_sentinel_count > 0) {
        if (rc == NULL || redis_client_address(rc, addr, sizeof addr) != 0)
            return -1;
    } else {
        snprintf(host, hostlen, "%s", b->cfg->redis_host);
        *port = b->cfg->redis_port;
        return 0;
    }
    char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= hostlen)
        return -1;
    *colon = '\0';
    snprintf(host, hostlen, "%s", addr[0] == '[' ? addr + 1 : addr);
    size_t hl = strlen(host);
    if (hl > 0 && host[hl - 1] == ']')
        host[hl - 1] = '\0';
    *port = atoi(colon + 1);
    return 0;
}

int event_bus_new(struct event_base *base, cache_t *cache, event_bus_fn fn, void *arg,
                  event_bus_t **out)
{
    event_bus_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return -1;
    b->cache = cache;
    b->cfg = cache_config(cache);
    b->fn = fn;
    b->arg = arg;
    /* Unique while the bus lives: the process, and the bus's address in it. */
    snprintf(b->origin, sizeof b->origin, "%ld.%lx", (long)getpid(), (unsigned long)(uintptr_t)b);
    if (b->cfg->events_fanout) {
        const redis_tracking_fns_t fns = {on_ready, on_lost,    NULL,
                                          NULL,     on_message, channel_address};
        if (redis_tracking_new(base, b->cfg, b->cfg->events_channel, &fns, b, &b->channel) != 0) {
            free(b);
            return -1;
        }
    }
    *out = b;
    return 0;
}

void event_bus_free(event_bus_t *b)
{
    if (b == NULL)
        return;
    redis_tracking_free(b->channel);
    set_subscribed(b, 0);
    free(b);
}

static void on_published(int status, redisReply *reply, void *arg)
{
    (void)arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER)
        stats_incr(STATS_EVENTS_PUBLISHED);
    else
        stats_incr(STATS_EVENTS_PUBLISH_FAILED);
}

void event_bus_publish(event_bus_t *b, const char *type, json_t *data)
{
    if (b == NULL || b->channel == NULL || data == NULL)
        return;
    redis_client_t *rc = cache_redis(b->cache);
    json_t *msg = json_pack("{s:s,s:s,s:I,s:s,s:O}", "instance", b->cfg->instance, "origin",
                            b->origin, "seq", ++b->seq, "type", type, "data", data);
    char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(msg);
    if (text == NULL)
        return;
    const char *argv[] = {"PUBLISH", b->cfg->events_channel, text};
    size_t argvlen[] = {7, strlen(b->cfg->events_channel), strlen(text)};
    if (rc == NULL || redis_client_command(rc, on_published, NULL, 3, argv, argvlen) != 0)
        stats_incr(STATS_EVENTS_PUBLISH_FAILED);
    free(text);
}

const char *event_bus_state(const event_bus_t *b)
{
    if (b == NULL || b->channel == NULL)
        return "off";
    return redis_tracking_is_ready(b->channel) ? "subscribed" : "connecting";
}
