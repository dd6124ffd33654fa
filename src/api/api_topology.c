/*
 * api_topology — see api_topology.h.
 */
#include "api/api_topology.h"

#include "api/api.h"
#include "core/clock.h"
#include "core/stats.h"
#include "model/params.h"
#include "store/queries.h"
#include "store/redis_cluster.h"
#include "store/redis_sentinel.h"

#include <assert.h>
#include <event2/event.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the watch looks at the read replica's pool. */
#define REPLICA_POLL_MS 200
/* Nodes shown at most: masters of the routing table (redis_cluster's own cap is 64). */
#define MAX_NODES 64
/* A ?key= longer than this is refused (Redis allows more; no key of the service comes near). */
#define MAX_KEY_BYTES 1024

/* ================================================================ the watch === */

struct topology_watch {
    cache_t *cache;             /* The loop's cache: its replica pool. */
    events_hub_t *hub;          /* Where events go. */
    redis_sentinel_t *sentinel; /* The loop's Sentinel resolver, or NULL (for the view). */
    struct event *poll;         /* Looks at the replica's pool every REPLICA_POLL_MS. */
    int replica_known;    /* 1 once the replica's state has been seen (up, or down past start). */
    int replica_up;       /* Its state when last seen. */
    long long started_ms; /* When the watch began (monotonic), for the start-up grace. */
};

/* The event types, by redis_topology_kind_t, and their counters. */
static const struct {
    const char *type;
    stats_counter_t counter;
} redis_kinds[] = {
    [REDIS_TOPOLOGY_SWITCH_MASTER] = {"switch_master", STATS_TOPOLOGY_SWITCH_MASTER},
    [REDIS_TOPOLOGY_SLOTS_MOVED] = {"slots_moved", STATS_TOPOLOGY_SLOTS_MOVED},
    [REDIS_TOPOLOGY_NODE_LOST] = {"node_lost", STATS_TOPOLOGY_NODE_LOST},
    [REDIS_TOPOLOGY_NODE_BACK] = {"node_back", STATS_TOPOLOGY_NODE_BACK},
};

/* Every event type with its counter, in the order /topology lists the counts. */
static const struct {
    const char *type;
    stats_counter_t counter;
} all_kinds[] = {
    {"switch_master", STATS_TOPOLOGY_SWITCH_MASTER},
    {"slots_moved", STATS_TOPOLOGY_SLOTS_MOVED},
    {"node_lost", STATS_TOPOLOGY_NODE_LOST},
    {"node_back", STATS_TOPOLOGY_NODE_BACK},
    {"replica_fallback_on", STATS_TOPOLOGY_FALLBACK_ON},
    {"replica_fallback_off", STATS_TOPOLOGY_FALLBACK_OFF},
};

static json_t *string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

/* Publishes one event: {"type","from","to","slots","cause","timestamp"}. */
static void publish(topology_watch_t *t, const char *type, const char *from, const char *to,
                    int slots, const char *cause)
{
    json_t *v =
        json_pack("{s:s,s:o,s:o,s:o,s:s,s:f}", "type", type, "from", string_or_null(from), "to",
                  string_or_null(to), "slots", slots > 0 ? json_integer(slots) : json_null(),
                  "cause", cause != NULL ? cause : "", "timestamp", api_timestamp());
    events_hub_topology(t->hub, v);
}

void topology_watch_redis(const redis_topology_event_t *ev, void *watch)
{
    topology_watch_t *t = watch;
    assert((size_t)ev->kind < sizeof redis_kinds / sizeof redis_kinds[0]);
    stats_incr(redis_kinds[ev->kind].counter);
    publish(t, redis_kinds[ev->kind].type, ev->from, ev->to, ev->slots, ev->cause);
}

/* "host:port" of a libpq connection string or URL (its first host), for the view and events. */
static void pg_address(const char *conninfo, char *buf, size_t len)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &why);
    PQfreemem(why);
    const char *host = NULL, *hostaddr = NULL, *port = NULL;
    for (const PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
    }
    const char *h = hostaddr != NULL ? hostaddr : host != NULL ? host : "localhost";
    /* A list of hosts: the first one, with the first port. */
    int hn = (int)strcspn(h, ",");
    int pn = port != NULL ? (int)strcspn(port, ",") : 4;
    snprintf(buf, len, "%.*s:%.*s", hn, h, pn, port != NULL ? port : "5432");
    PQconninfoFree(opts);
}

/*
 * Reads go to the replica while its pool is up and its breaker not open (cache_read_query,
 * cache_replica_usable). A change of that is an event;
 * the first state seen is not, except a replica still down once the first connection attempt has
 * had its deadline: reads then go to the primary from the start, which is news.
 */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    topology_watch_t *t = arg;
    pg_pool_t *replica = cache_replica(t->cache);
    if (replica == NULL)
        return;
    int up = cache_replica_usable(t->cache);
    if (!t->replica_known) {
        const config_t *cfg = cache_config(t->cache);
        if (up) {
            t->replica_known = 1;
            t->replica_up = 1;
            return;
        }
        if (clock_monotonic_ms() - t->started_ms < cfg->pg_timeout_ms)
            return;
        t->replica_known = 1;
        t->replica_up = 1; /* So that the fallback below is reported. */
    }
    if (up == t->replica_up)
        return;
    t->replica_up = up;
    const config_t *cfg = cache_config(t->cache);
    char primary[300], rep[300];
    pg_address(cfg->database_url, primary, sizeof primary);
    pg_address(cfg->database_replica_url, rep, sizeof rep);
    stats_incr(up ? STATS_TOPOLOGY_FALLBACK_OFF : STATS_TOPOLOGY_FALLBACK_ON);
    if (up)
        publish(t, "replica_fallback_off", primary, rep, 0, "replica connected");
    else
        publish(t, "replica_fallback_on", rep, primary, 0,
                pg_pool_is_up(replica) ? "replica breaker open: its reads passed their deadline"
                                       : "replica unreachable");
}

int topology_watch_new(struct event_base *base, cache_t *cache, events_hub_t *hub,
                       topology_watch_t **out)
{
    topology_watch_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->cache = cache;
    t->hub = hub;
    t->started_ms = clock_monotonic_ms();
    if (cache_replica(cache) != NULL) {
        t->poll = event_new(base, -1, EV_PERSIST, on_poll, t);
        if (t->poll == NULL) {
            free(t);
            return -1;
        }
        struct timeval tv = clock_ms_to_tv(REPLICA_POLL_MS);
        event_add(t->poll, &tv);
    }
    *out = t;
    return 0;
}

void topology_watch_set_sentinel(topology_watch_t *t, redis_sentinel_t *sentinel)
{
    t->sentinel = sentinel;
}

void topology_watch_free(topology_watch_t *t)
{
    if (t == NULL)
        return;
    if (t->poll != NULL)
        event_free(t->poll);
    free(t);
}

/* ================================================================ the view === */

/* What one node answered. */
typedef struct view view_t;
typedef struct {
    view_t *view;        /* Owner. */
    int index;           /* Node number (redis_client_node_info). */
    int role_ok;         /* 1 when ROLE answered. */
    char role[16];       /* "master" or "replica". */
    char master_of[300]; /* A replica's master, "host:port". */
    json_t *replicas;    /* A master's connected replicas: [["ip", port], ...] as ROLE lists. */
    int keys_ok;         /* 1 when DBSIZE answered. */
    long long keys;      /* Its answer. */
} probe_t;

/* A WAL position as Q_WAL_POSITION answered it. */
typedef struct {
    int ok;             /* 1 when the query answered. */
    int in_recovery;    /* 1 on a standby. */
    char lsn[32];       /* The LSN as text. */
    long long position; /* In bytes from 0/0. */
    int has_age;        /* 1 when age_ms is set (a standby that has replayed something). */
    double age_ms;      /* Age of its last replayed transaction. */
} wal_t;

struct view {
    http_req_t *req; /* Request being answered. */
    cache_t *cache;  /* Its loop's cache. */
    int pending;     /* Calls still out, plus one while they are being sent. */
    int nnodes;      /* Nodes probed. */
    probe_t nodes[MAX_NODES];
    wal_t primary;  /* PostgreSQL's primary. */
    wal_t replica;  /* The read replica, when there is one. */
    int has_key;    /* 1 with ?key= or ?product_id=. */
    char *key;      /* The key (len bytes, may hold NUL). */
    size_t keylen;  /* Its length. */
    int key_exists; /* 1, 0, or -1 when the node did not say. */
};

static void view_free(view_t *v)
{
    for (int i = 0; i < v->nnodes; i++)
        json_decref(v->nodes[i].replicas);
    free(v->key);
    free(v);
}

/* ---- the Redis part ---- */

static const char *redis_mode(const cache_t *cache, const redis_client_t *rc)
{
    if (rc != NULL && redis_client_is_cluster(rc))
        return "cluster";
    return cache_config(cache)->redis_sentinel_count > 0 ? "sentinel" : "single";
}

/* The address node i goes by: the routing table's, or for one server the one connected to. */
static void node_address(const redis_client_t *rc, const config_t *cfg, int i, char *buf,
                         size_t len)
{
    redis_client_node_t n;
    if (redis_client_is_cluster(rc)) {
        if (redis_client_node_info(rc, i, &n) == 0)
            snprintf(buf, len, "%s", n.address);
        else
            snprintf(buf, len, "?");
        return;
    }
    if (redis_client_address(rc, buf, len) == 0)
        return;
    if (cfg->redis_sentinel_count > 0)
        buf[0] = '\0'; /* No master known now. */
    else
        snprintf(buf, len, "%s:%d", cfg->redis_host, cfg->redis_port);
}

/* [[first, last], ...]: the ranges of slots node serves in the routing table. */
static json_t *slot_ranges(const redis_client_t *rc, int node)
{
    json_t *a = json_array();
    int from = -1;
    for (int s = 0; s <= REDIS_CLUSTER_SLOTS; s++) {
        int mine = s < REDIS_CLUSTER_SLOTS && redis_client_slot_node(rc, s) == node;
        if (mine && from < 0)
            from = s;
        if (!mine && from >= 0) {
            json_array_append_new(a, json_pack("[i,i]", from, s - 1));
            from = -1;
        }
    }
    return a;
}

static int slots_covered(const redis_client_t *rc)
{
    int n = 0;
    for (int s = 0; s < REDIS_CLUSTER_SLOTS; s++)
        n += redis_client_slot_node(rc, s) >= 0;
    return n;
}

/* A reply element as text ("" when it is not a string or integer). */
static void element_text(const redisReply *r, char *buf, size_t len)
{
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        snprintf(buf, len, "%.*s", (int)r->len, r->str);
    else if (r->type == REDIS_REPLY_INTEGER)
        snprintf(buf, len, "%lld", r->integer);
    else
        buf[0] = '\0';
}

/*
 * ROLE: ["master", offset, [[ip, port, offset], ...]] or ["slave", ip, port, state, offset]. A
 * Sentinel answers ["sentinel", ...], which the client never connects to.
 */
static void read_role(probe_t *p, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *role = r->element[0]->str;
    if (strcmp(role, "master") == 0) {
        p->role_ok = 1;
        snprintf(p->role, sizeof p->role, "master");
        p->replicas = json_array();
        const redisReply *list = r->elements >= 3 ? r->element[2] : NULL;
        for (size_t i = 0; list != NULL && list->type == REDIS_REPLY_ARRAY && i < list->elements;
             i++) {
            const redisReply *e = list->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
                continue;
            char ip[256], port[16], offset[32] = "";
            element_text(e->element[0], ip, sizeof ip);
            element_text(e->element[1], port, sizeof port);
            if (e->elements >= 3)
                element_text(e->element[2], offset, sizeof offset);
            char addr[300];
            snprintf(addr, sizeof addr, "%s:%s", ip, port);
            json_array_append_new(p->replicas, json_pack("{s:s,s:I}", "address", addr, "offset",
                                                         (json_int_t)strtoll(offset, NULL, 10)));
        }
    } else if (strcmp(role, "slave") == 0 && r->elements >= 3) {
        p->role_ok = 1;
        snprintf(p->role, sizeof p->role, "replica");
        char ip[256], port[16];
        element_text(r->element[1], ip, sizeof ip);
        element_text(r->element[2], port, sizeof port);
        snprintf(p->master_of, sizeof p->master_of, "%s:%s", ip, port);
    }
}

static void view_done(view_t *v);

static void on_role(int status, redisReply *reply, void *arg)
{
    probe_t *p = arg;
    if (status == REDIS_CLIENT_OK)
        read_role(p, reply);
    view_done(p->view);
}

static void on_dbsize(int status, redisReply *reply, void *arg)
{
    probe_t *p = arg;
    if (status == REDIS_CLIENT_OK && reply->type == REDIS_REPLY_INTEGER) {
        p->keys_ok = 1;
        p->keys = reply->integer;
    }
    view_done(p->view);
}

/*
 * SETRANGE key 0 "" answers the length of a string without changing anything (and creates no
 * key): 0 for a missing key, an error (WRONGTYPE) for a key of another type. Unlike EXISTS, Redis
 * does not count it in keyspace_hits/keyspace_misses, which the lab compares with the service's
 * own hits and misses; an empty string, which it also answers 0, is no key of the service.
 */
static void on_key(int status, redisReply *reply, void *arg)
{
    view_t *v = arg;
    if (status == REDIS_CLIENT_OK) {
        if (reply->type == REDIS_REPLY_INTEGER)
            v->key_exists = reply->integer > 0;
        else if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "WRONGTYPE", 9) == 0)
            v->key_exists = 1;
    }
    view_done(v);
}

static json_t *node_json(const view_t *v, const redis_client_t *rc, int i)
{
    const probe_t *p = &v->nodes[i];
    const config_t *cfg = cache_config(v->cache);
    char addr[300];
    node_address(rc, cfg, i, addr, sizeof addr);
    int cluster = redis_client_is_cluster(rc);
    redis_client_node_t info = {0};
    int has_info = redis_client_node_info(rc, i, &info) == 0;
    json_t *o = json_pack(
        "{s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "address", addr[0] ? json_string(addr) : json_null(),
        "role", p->role_ok ? p->role : "master", "state", p->role_ok ? "up" : "down", "keys",
        p->keys_ok ? json_integer(p->keys) : json_null(), "slots",
        cluster && has_info ? json_integer(info.slots) : json_null(), "slot_ranges",
        cluster ? slot_ranges(rc, i) : json_null(), "replica_of",
        p->master_of[0] ? json_string(p->master_of) : json_null(), "circuit_breaker",
        json_string(has_info && info.breaker ? info.breaker : "closed"));
    return o;
}

/* The masters, then the replicas each master reported (keys and slots unknown: not connected). */
static json_t *nodes_json(const view_t *v, const redis_client_t *rc)
{
    json_t *list = json_array();
    for (int i = 0; i < v->nnodes; i++)
        json_array_append_new(list, node_json(v, rc, i));
    for (int i = 0; i < v->nnodes; i++) {
        const probe_t *p = &v->nodes[i];
        size_t k;
        json_t *r;
        char master[300];
        node_address(rc, cache_config(v->cache), i, master, sizeof master);
        json_array_foreach(p->replicas, k, r)
        {
            json_array_append_new(
                list, json_pack("{s:O,s:s,s:s,s:n,s:n,s:n,s:s,s:n,s:O}", "address",
                                json_object_get(r, "address"), "role", "replica", "state", "up",
                                "keys", "slots", "slot_ranges", "replica_of", master,
                                "circuit_breaker", "offset", json_object_get(r, "offset")));
        }
    }
    return list;
}

static json_t *sentinel_json(const view_t *v)
{
    const config_t *cfg = cache_config(v->cache);
    if (cfg->redis_sentinel_count == 0)
        return json_null();
    const topology_watch_t *t = api_loop(v->req)->topology;
    int sub = t != NULL && t->sentinel != NULL ? redis_sentinel_subscribed(t->sentinel) : -1;
    json_t *list = json_array();
    for (int i = 0; i < cfg->redis_sentinel_count; i++) {
        const config_addr_t *a = &cfg->redis_sentinel_addrs[i];
        char addr[300];
        if (strchr(a->host, ':') != NULL)
            snprintf(addr, sizeof addr, "[%s]:%d", a->host, a->port);
        else
            snprintf(addr, sizeof addr, "%s:%d", a->host, a->port);
        json_array_append_new(list,
                              json_pack("{s:s,s:b}", "address", addr, "subscribed", i == sub));
    }
    return json_pack("{s:s,s:o}", "master_name", cfg->redis_sentinel_master, "sentinels", list);
}

static json_t *redis_json(const view_t *v)
{
    redis_client_t *rc = cache_redis(v->cache);
    const char *mode = redis_mode(v->cache, rc);
    if (rc == NULL)
        return json_pack("{s:s,s:n,s:[],s:n,s:n}", "mode", mode, "master", "nodes", "slots_covered",
                         "sentinel");
    int cluster = redis_client_is_cluster(rc);
    char master[300] = "";
    if (!cluster)
        node_address(rc, cache_config(v->cache), 0, master, sizeof master);
    return json_pack("{s:s,s:o,s:o,s:o,s:o}", "mode", mode, "master",
                     master[0] ? json_string(master) : json_null(), "nodes", nodes_json(v, rc),
                     "slots_covered", cluster ? json_integer(slots_covered(rc)) : json_null(),
                     "sentinel", sentinel_json(v));
}

/* ---- the PostgreSQL part ---- */

static void read_wal(wal_t *w, int status, PGresult *res)
{
    if (status != PG_POOL_OK || PQntuples(res) != 1 || PQnfields(res) != 4)
        return;
    w->ok = 1;
    w->in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
    snprintf(w->lsn, sizeof w->lsn, "%s", PQgetvalue(res, 0, 1));
    w->position = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    w->has_age = !PQgetisnull(res, 0, 3);
    w->age_ms = w->has_age ? strtod(PQgetvalue(res, 0, 3), NULL) : 0;
}

static void on_primary_wal(int status, PGresult *res, void *arg)
{
    view_t *v = arg;
    read_wal(&v->primary, status, res);
    view_done(v);
}

static void on_replica_wal(int status, PGresult *res, void *arg)
{
    view_t *v = arg;
    read_wal(&v->replica, status, res);
    view_done(v);
}

static json_t *ms_json(double ms)
{
    return json_real(round(ms * 1000.0) / 1000.0);
}

static json_t *postgres_json(const view_t *v)
{
    const config_t *cfg = cache_config(v->cache);
    char addr[300];
    pg_address(cfg->database_url, addr, sizeof addr);
    json_t *primary =
        json_pack("{s:s,s:s,s:o}", "address", addr, "state", v->primary.ok ? "up" : "down",
                  "wal_lsn", v->primary.ok ? json_string(v->primary.lsn) : json_null());
    pg_pool_t *pool = cache_replica(v->cache);
    json_t *replica = json_null();
    if (pool != NULL) {
        pg_address(cfg->database_replica_url, addr, sizeof addr);
        const wal_t *r = &v->replica;
        /* The primary's write position minus the replica's replay position, read a moment apart. */
        json_t *bytes = json_null();
        if (r->ok && v->primary.ok) {
            long long d = v->primary.position - r->position;
            bytes = json_integer(d > 0 ? d : 0);
        }
        replica = json_pack(
            "{s:s,s:s,s:o,s:o,s:o,s:o,s:s}", "address", addr, "state", r->ok ? "up" : "down",
            "in_recovery", r->ok ? json_boolean(r->in_recovery) : json_null(), "replay_lsn",
            r->ok ? json_string(r->lsn) : json_null(), "lag_bytes", bytes, "lag_ms",
            r->ok && r->has_age ? ms_json(r->age_ms > 0 ? r->age_ms : 0) : json_null(), "reads",
            cache_replica_usable(v->cache) ? "replica" : "primary");
    }
    return json_pack("{s:o,s:o}", "primary", primary, "replica", replica);
}

/* ---- the key ---- */

static json_t *key_json(const view_t *v)
{
    if (!v->has_key)
        return json_null();
    redis_client_t *rc = cache_redis(v->cache);
    json_t *slot = json_null(), *node = json_null();
    if (rc != NULL) {
        char addr[300];
        if (redis_client_is_cluster(rc)) {
            int s = redis_client_key_slot(rc, v->key, v->keylen);
            int n = redis_client_slot_node(rc, s);
            slot = json_integer(s);
            if (n >= 0) {
                node_address(rc, cache_config(v->cache), n, addr, sizeof addr);
                node = json_string(addr);
            }
        } else {
            node_address(rc, cache_config(v->cache), 0, addr, sizeof addr);
            if (addr[0])
                node = json_string(addr);
        }
    }
    return json_pack("{s:s%,s:o,s:o,s:o}", "key", v->key, v->keylen, "slot", slot, "node", node,
                     "exists", v->key_exists >= 0 ? json_boolean(v->key_exists) : json_null());
}

static json_t *events_json(void)
{
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof all_kinds / sizeof all_kinds[0]; i++)
        json_object_set_new(o, all_kinds[i].type,
                            json_integer((json_int_t)stats_count(all_kinds[i].counter)));
    return o;
}

static void view_done(view_t *v)
{
    if (--v->pending > 0)
        return;
    json_t *body =
        json_pack("{s:o,s:o,s:o,s:o,s:f}", "redis", redis_json(v), "postgres", postgres_json(v),
                  "key", key_json(v), "events", events_json(), "timestamp", api_timestamp());
    api_reply_value(v->req, 200, body);
    view_free(v);
}

/* ---- the request ---- */

/* 1 when text (len bytes) is valid UTF-8, which a JSON answer can echo. */
static int is_utf8(const char *text, size_t len)
{
    json_t *s = json_stringn(text, len); /* jansson checks the encoding (NUL bytes are fine). */
    json_decref(s);
    return s != NULL;
}

/*
 * Reads ?key= or ?product_id= into v. Returns 0, or -1 after answering 400 in the API's error
 * shape (422 for a product_id that is not a 32-bit integer).
 */
static int read_key(http_req_t *req, view_t *v)
{
    size_t klen = 0, ilen = 0;
    const char *key = http_req_query(req, "key", &klen);
    const char *id = http_req_query(req, "product_id", &ilen);
    if (key == NULL && id == NULL)
        return 0;
    if (key != NULL && id != NULL) {
        http_reply_error(req, 400, "Give key or product_id, not both");
        return -1;
    }
    char made[160];
    if (id != NULL) {
        long long pid;
        params_error_t err;
        /* As the API's other integer parameters: 422 in FastAPI's shape, with pydantic's types. */
        if (params_parse_int(id, ilen, INT32_MIN, INT32_MAX, &pid, &err) != 0) {
            api_reply_invalid(req, "query", "product_id", err.type, err.msg, id, ilen);
            return -1;
        }
        const config_t *cfg = cache_config(v->cache);
        int n = snprintf(made, sizeof made, "%s%d", cfg->cache_key_prefix, (int)pid);
        key = made;
        klen = (size_t)n;
    } else if (klen == 0 || klen > MAX_KEY_BYTES) {
        http_reply_error(req, 400, "key must be 1 to 1024 bytes");
        return -1;
    } else if (!is_utf8(key, klen)) {
        http_reply_error(req, 400, "key must be UTF-8 text");
        return -1;
    }
    v->key = malloc(klen + 1);
    if (v->key == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return -1;
    }
    memcpy(v->key, key, klen);
    v->key[klen] = '\0';
    v->keylen = klen;
    v->has_key = 1;
    return 0;
}

/* Asks node i for ROLE and DBSIZE; each call that was not sent is counted done at once. */
static void probe_node(view_t *v, redis_client_t *rc, int i)
{
    static const char *role[] = {"ROLE"};
    static const size_t role_len[] = {4};
    static const char *dbsize[] = {"DBSIZE"};
    static const size_t dbsize_len[] = {6};
    probe_t *p = &v->nodes[i];
    p->view = v;
    p->index = i;
    v->pending += 2;
    if (redis_client_command_node(rc, i, on_role, p, 1, role, role_len) != 0)
        v->pending--;
    if (redis_client_command_node(rc, i, on_dbsize, p, 1, dbsize, dbsize_len) != 0)
        v->pending--;
}

void api_topology(http_req_t *req)
{
    view_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    v->req = req;
    v->cache = api_cache(req);
    v->key_exists = -1;
    if (read_key(req, v) != 0) {
        view_free(v);
        return;
    }
    v->pending = 1; /* This function, so that nothing answers before everything was sent. */
    redis_client_t *rc = cache_redis(v->cache);
    if (rc != NULL) {
        int n = redis_client_node_count(rc);
        v->nnodes = n < MAX_NODES ? n : MAX_NODES;
        for (int i = 0; i < v->nnodes; i++)
            probe_node(v, rc, i);
        if (v->has_key) {
            const char *argv[] = {"SETRANGE", v->key, "0", ""};
            const size_t argvlen[] = {8, v->keylen, 1, 0};
            v->pending++;
            if (redis_client_command(rc, on_key, v, 4, argv, argvlen) != 0)
                v->pending--;
        }
    }
    pg_pool_t *pg = cache_pg(v->cache);
    v->pending++;
    if (pg == NULL || pg_pool_query(pg, Q_WAL_POSITION, NULL, on_primary_wal, v) != 0)
        v->pending--;
    /* The replica's own pool, never the fallback: this asks the replica itself. */
    pg_pool_t *replica = cache_replica(v->cache);
    v->pending++;
    if (replica == NULL || pg_pool_query(replica, Q_WAL_POSITION, NULL, on_replica_wal, v) != 0)
        v->pending--;
    view_done(v);
}
