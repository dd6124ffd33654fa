/*
 * near_cache — see near_cache.h.
 *
 * States of coherence, per loop:
 *   not serving   after start, after a flush caused by either connection going down or up, and
 *                 until the TRACKING command sent on the current pair has been answered OK;
 *   serving       tracking confirmed on the current pair (`pair` counts changes of either
 *                 connection; the command's answer is accepted only for the pair it was sent on),
 *                 and the heartbeat fresh.
 * Entries and tickets are only made while serving; any change of the pair flushes first.
 */
#include "cache/near_cache.h"

#include "cache/near_map.h"
#include "core/clock.h"
#include "core/lab.h"
#include "core/log.h"
#include "core/stats.h"
#include "store/redis_tracking.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Invalidation counts are kept for this many slots of ids (a fill checks its id's slot). */
#define SLOTS 1024
/* How often the loop publishes its heartbeat, and how old the newest one received may be. */
#define HEARTBEAT_MS 20
#define HEARTBEAT_WINDOW_MAX_MS 100
/* How often the loop retries turning tracking on after a refusal. */
#define RETRY_MS 100

struct near_cache {
    struct event_base *base;     /* The loop. */
    const config_t *cfg;         /* Settings. */
    near_map_t *map;             /* The entries. */
    redis_client_t *redis;       /* The loop's Redis client; NULL when detached. */
    redis_tracking_t *tracking;  /* The invalidation connection; NULL when detached. */
    struct event *tick;          /* Heartbeat and retries. */
    char channel[96];            /* This loop's heartbeat channel. */
    size_t prefix_len;           /* strlen(cfg->cache_key_prefix). */
    long long redirect_id;       /* CLIENT ID of the invalidation connection; -1 = none. */
    uint64_t pair;               /* Changes of either connection so far. */
    uint64_t tracking_sent_pair; /* The pair a TRACKING command is in flight for; 0 = none. */
    int tracking_on;             /* 1 when TRACKING was confirmed on the current pair. */
    int serving;                 /* Last published value of STATS_L1_SERVING's share. */
    long long heartbeat_ms;      /* Send time of the newest heartbeat received; -1 = none. */
    int window_ms;               /* HEARTBEAT_WINDOW: how old it may be. */
    uint64_t flushes;            /* Flush generation. */
    uint32_t slots[SLOTS];       /* Invalidations per slot of ids. */
    near_map_stats_t published;  /* Figures last added to the process-wide gauges. */
};

static uint32_t slot_of(int32_t id)
{
    return ((uint32_t)id * 2654435761u) >> 22; /* 10 bits: SLOTS. */
}

/* Brings the process-wide gauges and counters in line with the map. */
static void publish(near_cache_t *nc)
{
    near_map_stats_t s;
    near_map_stats(nc->map, &s);
    if (s.entries != nc->published.entries)
        stats_add(STATS_L1_ENTRIES, (long long)s.entries - (long long)nc->published.entries);
    if (s.bytes != nc->published.bytes)
        stats_add(STATS_L1_BYTES, (long long)s.bytes - (long long)nc->published.bytes);
    for (uint64_t i = nc->published.evictions; i < s.evictions; i++)
        stats_incr(STATS_L1_EVICTION);
    nc->published = s;
}

static void set_serving(near_cache_t *nc, int on)
{
    if (nc->serving != on) {
        stats_add(STATS_L1_SERVING, on ? 1 : -1);
        nc->serving = on;
    }
}

static void flush(near_cache_t *nc)
{
    nc->flushes++;
    near_map_stats_t s;
    near_map_stats(nc->map, &s);
    if (s.entries > 0) {
        near_map_clear(nc->map);
        publish(nc);
    }
    stats_incr(STATS_L1_FLUSH);
}

/* Either connection changed: nothing held or in flight is trusted any more. */
static void pair_changed(near_cache_t *nc)
{
    nc->pair++;
    nc->tracking_on = 0;
    nc->tracking_sent_pair = 0;
    nc->heartbeat_ms = -1;
    set_serving(nc, 0);
    flush(nc);
}

/* ---------------------------------------------------------------- tracking --- */

static void on_tracking(int status, redisReply *reply, void *arg)
{
    near_cache_t *nc = arg;
    uint64_t sent = nc->tracking_sent_pair;
    nc->tracking_sent_pair = 0;
    if (status != REDIS_CLIENT_OK || reply->type != REDIS_REPLY_STATUS || sent != nc->pair) {
        if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_ERROR)
            log_warn("near cache: CLIENT TRACKING refused: %s", reply->str);
        return; /* The tick tries again. */
    }
    nc->tracking_on = 1;
    log_debug("near cache: tracking on, invalidations to client %lld", nc->redirect_id);
}

/* Sends TRACKING for the current pair when both connections are up and none is in flight. */
static void try_tracking(near_cache_t *nc)
{
    if (nc->redis == NULL || nc->tracking_on || nc->tracking_sent_pair == nc->pair ||
        nc->redirect_id < 0 || !redis_client_is_up(nc->redis))
        return;
    char id[24];
    snprintf(id, sizeof id, "%lld", nc->redirect_id);
    /*
     * Off first: a connection that had tracking on (an earlier invalidation connection that is
     * gone) cannot switch its redirect otherwise. Both go in one round trip, in order.
     */
    const char *off[] = {"CLIENT", "TRACKING", "off"};
    size_t offlen[] = {6, 8, 3};
    const char *on[] = {"CLIENT", "TRACKING", "on",     "REDIRECT",
                        id,       "BCAST",    "PREFIX", nc->cfg->cache_key_prefix};
    size_t onlen[8];
    for (int i = 0; i < 8; i++)
        onlen[i] = strlen(on[i]);
    if (redis_client_command(nc->redis, NULL, NULL, 3, off, offlen) != 0)
        return;
    if (redis_client_command(nc->redis, on_tracking, nc, 8, on, onlen) == 0)
        nc->tracking_sent_pair = nc->pair;
}

/*
 * With Redis Sentinel: the invalidation channel connects where the loop's client is connected,
 * so that CLIENT TRACKING on the client can redirect to it (a redirect names a client of the same
 * server). Nothing while the client is not connected: the channel tries again after its backoff.
 */
static int channel_address(void *arg, char *host, size_t hostlen, int *port)
{
    near_cache_t *nc = arg;
    char addr[300];
    if (nc->redis == NULL || redis_client_address(nc->redis, addr, sizeof addr) != 0)
        return -1;
    char *colon = strrchr(addr, ':');
    if (colon == NULL || (size_t)(colon - addr) >= hostlen)
        return -1;
    *colon = '\0';
    snprintf(host, hostlen, "%s", addr);
    *port = atoi(colon + 1);
    return 0;
}

static void on_redis_state(int up, void *arg)
{
    near_cache_t *nc = arg;
    pair_changed(nc);
    if (!up)
        return;
    /*
     * The client came back, perhaps on another server (a failover): a channel left on the old one
     * would hear nothing of the writes on the new one. Move it; losing it empties L1 first.
     */
    char client[300], channel[300];
    if (nc->cfg->redis_sentinel_count > 0 && nc->tracking != NULL &&
        redis_client_address(nc->redis, client, sizeof client) == 0 &&
        (redis_tracking_address(nc->tracking, channel, sizeof channel) != 0 ||
         strcmp(client, channel) != 0)) {
        redis_tracking_reconnect(nc->tracking, "the client moved to another server");
        return;
    }
    try_tracking(nc);
}

static void on_channel_ready(long long client_id, void *arg)
{
    near_cache_t *nc = arg;
    nc->redirect_id = client_id;
    pair_changed(nc);
    try_tracking(nc);
}

static void on_channel_lost(void *arg)
{
    near_cache_t *nc = arg;
    nc->redirect_id = -1;
    pair_changed(nc);
}

/* Parses the product id of a key under the prefix; returns 0, or -1 for any other key. */
static int key_id(const near_cache_t *nc, const char *key, size_t len, int32_t *id)
{
    if (len <= nc->prefix_len || memcmp(key, nc->cfg->cache_key_prefix, nc->prefix_len) != 0)
        return -1;
    const char *p = key + nc->prefix_len, *end = key + len;
    int neg = *p == '-';
    if (neg)
        p++;
    if (p == end || (*p == '0' && end - p > 1) || end - p > 10)
        return -1;
    long long v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    v = neg ? -v : v;
    if (v < INT32_MIN || v > INT32_MAX || (neg && v == 0))
        return -1;
    *id = (int32_t)v;
    return 0;
}

static void on_key(const char *key, size_t len, void *arg)
{
    near_cache_t *nc = arg;
    int32_t id;
    if (key_id(nc, key, len, &id) == 0)
        near_cache_drop(nc, id);
}

static void on_all(void *arg)
{
    near_cache_flush(arg);
}

static void on_heartbeat(const char *msg, size_t len, void *arg)
{
    near_cache_t *nc = arg;
    char buf[24];
    if (len == 0 || len >= sizeof buf)
        return;
    memcpy(buf, msg, len);
    buf[len] = '\0';
    long long sent = strtoll(buf, NULL, 10);
    if (sent > nc->heartbeat_ms)
        nc->heartbeat_ms = sent;
}

static int may_serve(near_cache_t *nc, long long now);

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    near_cache_t *nc = arg;
    if (nc->redis == NULL)
        return;
    try_tracking(nc);
    /*
     * The heartbeat only while the near cache may answer: switched off (the default), the loop
     * sends Redis nothing of its own, so Redis' command counters show only the service's work.
     */
    if (nc->tracking_on && lab_near_cache()) {
        char now[24];
        snprintf(now, sizeof now, "%lld", clock_monotonic_ms());
        const char *argv[] = {"PUBLISH", nc->channel, now};
        size_t argvlen[] = {7, strlen(nc->channel), strlen(now)};
        redis_client_command(nc->redis, NULL, NULL, 3, argv, argvlen);
    }
    may_serve(nc, clock_monotonic_ms()); /* Keeps STATS_L1_SERVING current on idle loops too. */
    if (!lab_near_cache()) {
        near_map_stats_t s;
        near_map_stats(nc->map, &s);
        if (s.entries > 0)
            near_cache_flush(nc); /* Switched off: give the memory back. */
    }
}

/* ---------------------------------------------------------------- the cache --- */

int near_cache_new(struct event_base *base, const config_t *cfg, near_cache_t **out)
{
    *out = NULL;
    if (cfg->l1_max_bytes <= 0)
        return 0;
    near_cache_t *nc = calloc(1, sizeof *nc);
    if (nc == NULL)
        return -1;
    nc->base = base;
    nc->cfg = cfg;
    nc->prefix_len = strlen(cfg->cache_key_prefix);
    nc->redirect_id = -1;
    nc->heartbeat_ms = -1;
    nc->pair = 1;
    int window = cfg->redis_timeout_ms / 2;
    nc->window_ms = window > HEARTBEAT_WINDOW_MAX_MS ? HEARTBEAT_WINDOW_MAX_MS : window;
    if (nc->window_ms < 2 * HEARTBEAT_MS)
        nc->window_ms = 2 * HEARTBEAT_MS;
    size_t per_loop = (size_t)cfg->l1_max_bytes / (size_t)(cfg->workers > 0 ? cfg->workers : 1);
    snprintf(nc->channel, sizeof nc->channel, "cacheme:l1:heartbeat:%ld:%p", (long)getpid(),
             (void *)nc);
    if (near_map_new(NEAR_MAP_S3FIFO, per_loop, &nc->map) != 0 ||
        (nc->tick = event_new(base, -1, EV_PERSIST, on_tick, nc)) == NULL) {
        near_map_free(nc->map);
        free(nc);
        return -1;
    }
    *out = nc;
    return 0;
}

void near_cache_attach(near_cache_t *nc, redis_client_t *redis)
{
    if (nc == NULL || nc->redis == redis)
        return;
    if (nc->redis != NULL) {
        redis_client_set_state_fn(nc->redis, NULL, NULL);
        redis_tracking_free(nc->tracking);
        nc->tracking = NULL;
        event_del(nc->tick);
        nc->redis = NULL;
        nc->redirect_id = -1;
        pair_changed(nc);
    }
    if (redis == NULL)
        return;
    static const redis_tracking_fns_t fns = {on_channel_ready, on_channel_lost, on_key,
                                             on_all,           on_heartbeat,    NULL};
    static const redis_tracking_fns_t sentinel_fns = {
        on_channel_ready, on_channel_lost, on_key, on_all, on_heartbeat, channel_address};
    nc->redis = redis; /* Before the channel, whose address may come from it. */
    if (redis_tracking_new(nc->base, nc->cfg, nc->channel,
                           nc->cfg->redis_sentinel_count > 0 ? &sentinel_fns : &fns, nc,
                           &nc->tracking) != 0) {
        nc->redis = NULL;
        log_error("near cache: cannot open the invalidation connection; L1 stays empty");
        return;
    }
    nc->redis = redis;
    redis_client_set_state_fn(redis, on_redis_state, nc);
    struct timeval tv = clock_ms_to_tv(HEARTBEAT_MS);
    event_add(nc->tick, &tv);
    try_tracking(nc);
}

void near_cache_free(near_cache_t *nc)
{
    if (nc == NULL)
        return;
    near_cache_attach(nc, NULL);
    event_free(nc->tick);
    near_map_clear(nc->map);
    publish(nc);
    set_serving(nc, 0);
    near_map_free(nc->map);
    free(nc);
}

/* 1 when entries may be answered and made now. */
static int may_serve(near_cache_t *nc, long long now)
{
    int on = nc->tracking_on && nc->heartbeat_ms >= 0 && now - nc->heartbeat_ms <= nc->window_ms;
    set_serving(nc, on);
    return on;
}

int near_cache_get(near_cache_t *nc, int32_t id, const char **json, size_t *len)
{
    if (nc == NULL || !lab_near_cache())
        return 0;
    long long now = clock_monotonic_ms();
    if (!may_serve(nc, now))
        return 0;
    if (near_map_get(nc->map, id, now, json, len))
        return 1;
    publish(nc); /* An expired entry may have gone. */
    return 0;
}

int near_cache_ticket(near_cache_t *nc, int32_t id, near_ticket_t *t)
{
    t->valid = 0;
    if (nc == NULL || !lab_near_cache())
        return 0;
    long long now = clock_monotonic_ms();
    if (!may_serve(nc, now))
        return 0;
    t->valid = 1;
    t->flushes = nc->flushes;
    t->slot = nc->slots[slot_of(id)];
    t->sent_ms = now;
    return 1;
}

void near_cache_fill(near_cache_t *nc, int32_t id, const near_ticket_t *t, const char *json,
                     size_t len, long long pttl_ms, long long reserve_ms)
{
    if (nc == NULL || !t->valid || t->flushes != nc->flushes || t->slot != nc->slots[slot_of(id)] ||
        pttl_ms == -2 || pttl_ms < -1)
        return;
    long long life = nc->cfg->l1_ttl_ms;
    if (pttl_ms >= 0 && pttl_ms - reserve_ms < life)
        life = pttl_ms - reserve_ms;
    /* The key's TTL was read after the read was sent: counting from then errs on the short side. */
    long long expires = t->sent_ms + life;
    if (expires <= clock_monotonic_ms())
        return;
    if (near_map_put(nc->map, id, json, len, expires) == 0)
        stats_incr(STATS_L1_FILL);
    publish(nc);
}

void near_cache_drop(near_cache_t *nc, int32_t id)
{
    if (nc == NULL)
        return;
    nc->slots[slot_of(id)]++;
    if (near_map_remove(nc->map, id)) {
        stats_incr(STATS_L1_INVALIDATION);
        publish(nc);
    }
}

void near_cache_flush(near_cache_t *nc)
{
    if (nc != NULL)
        flush(nc);
}
