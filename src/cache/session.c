/*
 * session — sessions and carts in Redis: the keys, the scripts and the steps of a login (see
 * session.h for the layout and what is atomic).
 */
#include "cache/session.h"

#include "core/clock.h"
#include "core/stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* "{session:" + id + "}:cart" and "{user:" + name + "}:sessions", with room to spare. */
#define KEY_MAX 80

/*
 * A login's new session: the hash with its fields and TTL, and no cart left over (an id is new,
 * but a cart key of the same name would be a collision of 128 random bits; deleting it is cheap).
 * KEYS: session, cart. ARGV: user, now (ms), ttl (ms).
 */
static const char CREATE_SCRIPT[] =
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('HSET', KEYS[1], 'user', ARGV[1], 'created_at', ARGV[2], 'last_seen', ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n";

/*
 * The user's sessions in login order: the new id gets the next score (a counter, not a clock, so
 * that two logins in the same millisecond on two instances still have an order), then the oldest
 * beyond the cap are popped and returned for deletion. The set lives at least as long as a
 * session. KEYS: the user's set. ARGV: id, cap, ttl (ms).
 */
static const char INDEX_SCRIPT[] =
    "local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')\n"
    "local score = 1\n"
    "if top[2] then score = tonumber(top[2]) + 1 end\n"
    "redis.call('ZADD', KEYS[1], score, ARGV[1])\n"
    "local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])\n"
    "local evicted = {}\n"
    "if excess > 0 then\n"
    "  local popped = redis.call('ZPOPMIN', KEYS[1], excess)\n"
    "  for i = 1, #popped, 2 do evicted[#evicted + 1] = popped[i] end\n"
    "end\n"
    "if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "end\n"
    "return evicted\n";

/*
 * One use of a session: nothing when it does not exist (nil), else the operation on the cart, the
 * TTL of both keys set again, and {session fields, cart items (CART only), result, cart size}.
 * KEYS: session, cart. ARGV: ttl (ms), op, now (ms), product id, quantity, cart cap.
 */
static const char USE_SCRIPT[] =
    "local s, c = KEYS[1], KEYS[2]\n"
    "if redis.call('EXISTS', s) == 0 then return false end\n"
    "local op, r = ARGV[2], 0\n"
    "if op == 'put' then\n"
    "  if redis.call('HEXISTS', c, ARGV[4]) == 0 and\n"
    "     redis.call('HLEN', c) >= tonumber(ARGV[6]) then\n"
    "    r = -1\n"
    "  else\n"
    "    redis.call('HSET', c, ARGV[4], ARGV[5])\n"
    "    r = tonumber(ARGV[5])\n"
    "  end\n"
    "elseif op == 'del' then\n"
    "  r = redis.call('HDEL', c, ARGV[4])\n"
    "elseif op == 'item' then\n"
    "  r = tonumber(redis.call('HGET', c, ARGV[4]) or '0')\n"
    "end\n"
    "redis.call('HSET', s, 'last_seen', ARGV[3])\n"
    "redis.call('PEXPIRE', s, ARGV[1])\n"
    "redis.call('PEXPIRE', c, ARGV[1])\n"
    "local items = {}\n"
    "if op == 'cart' then items = redis.call('HGETALL', c) end\n"
    "return {redis.call('HGETALL', s), items, r, redis.call('HLEN', c)}\n";

/* The end of a session: its user (nil when there was none), after deleting both keys. */
static const char END_SCRIPT[] = "local u = redis.call('HGET', KEYS[1], 'user')\n"
                                 "redis.call('DEL', KEYS[1], KEYS[2])\n"
                                 "return u\n";

/* ---------------------------------------------------------------- helpers --- */

static void session_key(const char *id, char *buf)
{
    snprintf(buf, KEY_MAX, "{session:%s}", id);
}

static void cart_key(const char *id, char *buf)
{
    snprintf(buf, KEY_MAX, "{session:%s}:cart", id);
}

static void user_key(const char *user, char *buf)
{
    snprintf(buf, KEY_MAX, "{user:%s}:sessions", user);
}

static long long ttl_ms(const cache_t *cache)
{
    return (long long)cache_config(cache)->session_ttl_seconds * 1000;
}

/*
 * Sends EVAL script with nkeys keys and then the other arguments (argc of them in all, after the
 * script and the key count). Returns 0 when sent, or -1 (fn will not be called).
 */
static int eval(cache_t *cache, const char *script, size_t script_len, int nkeys, int argc,
                const char **args, redis_client_fn fn, void *arg)
{
    enum { MAX_ARGS = 10 };
    redis_client_t *rc = cache_redis(cache);
    if (rc == NULL || argc > MAX_ARGS)
        return -1;
    char numkeys[8];
    snprintf(numkeys, sizeof numkeys, "%d", nkeys);
    const char *argv[3 + MAX_ARGS] = {"EVAL", script, numkeys};
    size_t argvlen[3 + MAX_ARGS] = {4, script_len, strlen(numkeys)};
    for (int i = 0; i < argc; i++) {
        argv[3 + i] = args[i];
        argvlen[3 + i] = strlen(args[i]);
    }
    if (redis_client_command(rc, fn, arg, 3 + argc, argv, argvlen) != 0) {
        stats_incr(STATS_REDIS_ERROR);
        return -1;
    }
    return 0;
}

/* 1 when a reply is a usable answer, 0 (counted as a Redis error) otherwise. */
static int reply_ok(int status, const redisReply *reply)
{
    if (status == REDIS_CLIENT_OK && reply->type != REDIS_REPLY_ERROR)
        return 1;
    stats_incr(STATS_REDIS_ERROR);
    return 0;
}

static void fail(session_fn fn, void *arg, session_status_t status)
{
    session_result_t res;
    memset(&res, 0, sizeof res);
    res.status = status;
    fn(&res, arg);
}

/* Sends a command nobody waits for (the TTL of a user's set, a stale index entry). */
static void fire(cache_t *cache, int argc, const char **argv)
{
    size_t argvlen[6];
    for (int i = 0; i < argc; i++)
        argvlen[i] = strlen(argv[i]);
    redis_client_t *rc = cache_redis(cache);
    if (rc != NULL)
        (void)redis_client_command(rc, NULL, NULL, argc, argv, argvlen);
}

/* ---------------------------------------------------------------- use --- */

typedef struct {
    cache_t *cache;              /* The loop's cache. */
    session_fn fn;               /* Who waits. */
    void *arg;                   /* Its argument. */
    char id[SESSION_ID_LEN + 1]; /* The session used. */
} use_t;

static long long number(const redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return 0;
}

static int by_product(const void *a, const void *b)
{
    const session_item_t *x = a, *y = b;
    return (x->product_id > y->product_id) - (x->product_id < y->product_id);
}

static void on_use(int status, redisReply *reply, void *arg)
{
    use_t *u = arg;
    session_result_t res;
    memset(&res, 0, sizeof res);
    session_item_t *items = NULL;
    if (!reply_ok(status, reply) || (reply->type != REDIS_REPLY_NIL &&
                                     (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4))) {
        res.status = SESSION_STORE_DOWN;
    } else if (reply->type == REDIS_REPLY_NIL) {
        res.status = SESSION_UNKNOWN;
    } else {
        const redisReply *fields = reply->element[0], *cart = reply->element[1];
        memcpy(res.id, u->id, sizeof res.id);
        for (size_t i = 0; fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2) {
            const char *name = fields->element[i]->str;
            const redisReply *v = fields->element[i + 1];
            if (name == NULL || v->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(name, "user") == 0)
                snprintf(res.user, sizeof res.user, "%s", v->str);
            else if (strcmp(name, "created_at") == 0)
                res.created_at_ms = strtoll(v->str, NULL, 10);
            else if (strcmp(name, "last_seen") == 0)
                res.last_seen_ms = strtoll(v->str, NULL, 10);
        }
        long long r = number(reply->element[2]);
        res.status = r < 0 ? SESSION_CART_FULL : SESSION_OK;
        res.quantity = r < 0 ? 0 : (int)r;
        res.cart_size = number(reply->element[3]);
        if (cart->type == REDIS_REPLY_ARRAY && cart->elements >= 2) {
            items = calloc(cart->elements / 2, sizeof *items);
            if (items == NULL) {
                res.status = SESSION_STORE_DOWN;
            } else {
                for (size_t i = 0; i + 1 < cart->elements; i += 2) {
                    items[res.item_count].product_id = (int32_t)number(cart->element[i]);
                    items[res.item_count].quantity = (int)number(cart->element[i + 1]);
                    res.item_count++;
                }
                qsort(items, res.item_count, sizeof *items, by_product);
                res.items = items;
            }
        }
        if (res.user[0] != '\0') {
            /* The user's set lives as long as its newest session; GT never shortens it. */
            char key[KEY_MAX], ttl[24];
            user_key(res.user, key);
            snprintf(ttl, sizeof ttl, "%lld", ttl_ms(u->cache));
            const char *argv[] = {"PEXPIRE", key, ttl, "GT"};
            fire(u->cache, 4, argv);
        }
    }
    u->fn(&res, u->arg);
    free(items);
    free(u);
}

void session_use(cache_t *cache, const char *id, session_op_t op, int32_t product_id, int quantity,
                 session_fn fn, void *arg)
{
    static const char *const names[] = {[SESSION_OP_SHOW] = "show",
                                        [SESSION_OP_CART] = "cart",
                                        [SESSION_OP_ITEM] = "item",
                                        [SESSION_OP_PUT] = "put",
                                        [SESSION_OP_DEL] = "del"};
    use_t *u = malloc(sizeof *u);
    if (u == NULL) {
        fail(fn, arg, SESSION_STORE_DOWN);
        return;
    }
    u->cache = cache;
    u->fn = fn;
    u->arg = arg;
    snprintf(u->id, sizeof u->id, "%s", id);
    char skey[KEY_MAX], ckey[KEY_MAX], ttl[24], now[24], pid[16], qty[16], cap[16];
    session_key(id, skey);
    cart_key(id, ckey);
    snprintf(ttl, sizeof ttl, "%lld", ttl_ms(cache));
    snprintf(now, sizeof now, "%lld", clock_wall_ms());
    snprintf(pid, sizeof pid, "%d", (int)product_id);
    snprintf(qty, sizeof qty, "%d", quantity);
    snprintf(cap, sizeof cap, "%d", SESSION_CART_MAX);
    const char *args[] = {skey, ckey, ttl, names[op], now, pid, qty, cap};
    if (eval(cache, USE_SCRIPT, sizeof USE_SCRIPT - 1, 2, 8, args, on_use, u) != 0) {
        free(u);
        fail(fn, arg, SESSION_STORE_DOWN);
    }
}

/* ---------------------------------------------------------------- end --- */

static void on_end_unindexed(int status, redisReply *reply, void *arg)
{
    use_t *u = arg;
    session_result_t res;
    memset(&res, 0, sizeof res);
    res.status = reply_ok(status, reply) ? SESSION_OK : SESSION_STORE_DOWN;
    memcpy(res.id, u->id, sizeof res.id);
    u->fn(&res, u->arg);
    free(u);
}

static void on_end(int status, redisReply *reply, void *arg)
{
    use_t *u = arg;
    if (!reply_ok(status, reply)) {
        fail(u->fn, u->arg, SESSION_STORE_DOWN);
        free(u);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        fail(u->fn, u->arg, SESSION_UNKNOWN);
        free(u);
        return;
    }
    char key[KEY_MAX];
    user_key(reply->str, key);
    const char *argv[] = {"ZREM", key, u->id};
    size_t argvlen[] = {4, strlen(key), strlen(u->id)};
    redis_client_t *rc = cache_redis(u->cache);
    if (rc == NULL || redis_client_command(rc, on_end_unindexed, u, 3, argv, argvlen) != 0) {
        /* The session is gone; its stale entry in the set costs a slot until the next logins. */
        stats_incr(STATS_REDIS_ERROR);
        on_end_unindexed(REDIS_CLIENT_OK, &(redisReply){.type = REDIS_REPLY_INTEGER}, u);
    }
}

void session_end(cache_t *cache, const char *id, session_fn fn, void *arg)
{
    use_t *u = malloc(sizeof *u);
    if (u == NULL) {
        fail(fn, arg, SESSION_STORE_DOWN);
        return;
    }
    u->cache = cache;
    u->fn = fn;
    u->arg = arg;
    snprintf(u->id, sizeof u->id, "%s", id);
    char skey[KEY_MAX], ckey[KEY_MAX];
    session_key(id, skey);
    cart_key(id, ckey);
    const char *args[] = {skey, ckey};
    if (eval(cache, END_SCRIPT, sizeof END_SCRIPT - 1, 2, 2, args, on_end, u) != 0) {
        free(u);
        fail(fn, arg, SESSION_STORE_DOWN);
    }
}

/* ---------------------------------------------------------------- login --- */

typedef struct {
    cache_t *cache;                  /* The loop's cache. */
    session_fn fn;                   /* Who waits. */
    void *arg;                       /* Its argument. */
    char user[SESSION_USER_MAX + 1]; /* Who logs in. */
    char id[SESSION_ID_LEN + 1];     /* The new session. */
    long long now;                   /* Login time, Unix ms. */
    int pending;                     /* Deletions of evicted sessions not yet answered. */
    int evicted;                     /* Sessions evicted. */
    int failed;                      /* 1 when a step failed. */
} login_t;

static void login_done(login_t *l)
{
    session_result_t res;
    memset(&res, 0, sizeof res);
    res.status = l->failed ? SESSION_STORE_DOWN : SESSION_OK;
    memcpy(res.id, l->id, sizeof res.id);
    memcpy(res.user, l->user, sizeof res.user);
    res.created_at_ms = l->now;
    res.last_seen_ms = l->now;
    res.evicted = l->evicted;
    l->fn(&res, l->arg);
    free(l);
}

static void on_evicted(int status, redisReply *reply, void *arg)
{
    login_t *l = arg;
    if (!reply_ok(status, reply))
        l->failed = 1;
    if (--l->pending == 0)
        login_done(l);
}

static void on_indexed(int status, redisReply *reply, void *arg)
{
    login_t *l = arg;
    if (!reply_ok(status, reply) || reply->type != REDIS_REPLY_ARRAY) {
        l->failed = 1;
        login_done(l);
        return;
    }
    /*
     * The evicted sessions are deleted before the answer, so that once a client has its new
     * cookie the sessions it displaced are dead on every instance.
     */
    redis_client_t *rc = cache_redis(l->cache);
    l->pending = 1;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING || !session_input_id_valid(e->str, e->len))
            continue;
        char skey[KEY_MAX], ckey[KEY_MAX];
        session_key(e->str, skey);
        cart_key(e->str, ckey);
        const char *argv[] = {"DEL", skey, ckey};
        size_t argvlen[] = {3, strlen(skey), strlen(ckey)};
        l->evicted++;
        if (rc != NULL && redis_client_command(rc, on_evicted, l, 3, argv, argvlen) == 0)
            l->pending++;
        else
            l->failed = 1;
    }
    if (--l->pending == 0)
        login_done(l);
}

static void on_created(int status, redisReply *reply, void *arg)
{
    login_t *l = arg;
    if (!reply_ok(status, reply)) {
        l->failed = 1;
        login_done(l);
        return;
    }
    char key[KEY_MAX], cap[16], ttl[24];
    user_key(l->user, key);
    snprintf(cap, sizeof cap, "%d", cache_config(l->cache)->session_max_per_user);
    snprintf(ttl, sizeof ttl, "%lld", ttl_ms(l->cache));
    const char *args[] = {key, l->id, cap, ttl};
    if (eval(l->cache, INDEX_SCRIPT, sizeof INDEX_SCRIPT - 1, 1, 4, args, on_indexed, l) != 0) {
        l->failed = 1;
        login_done(l);
    }
}

static void create(login_t *l)
{
    char skey[KEY_MAX], ckey[KEY_MAX], now[24], ttl[24];
    session_key(l->id, skey);
    cart_key(l->id, ckey);
    snprintf(now, sizeof now, "%lld", l->now);
    snprintf(ttl, sizeof ttl, "%lld", ttl_ms(l->cache));
    const char *args[] = {skey, ckey, l->user, now, ttl};
    if (eval(l->cache, CREATE_SCRIPT, sizeof CREATE_SCRIPT - 1, 2, 5, args, on_created, l) != 0) {
        l->failed = 1;
        login_done(l);
    }
}

static void on_old_ended(const session_result_t *res, void *arg)
{
    login_t *l = arg;
    /* An unknown old session is fine (expired, or never ours); only a failing Redis stops us. */
    if (res->status == SESSION_STORE_DOWN) {
        l->failed = 1;
        login_done(l);
        return;
    }
    create(l);
}

int session_id_new(char *id)
{
    unsigned char raw[SESSION_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof raw) {
        ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        id[2 * i] = hex[raw[i] >> 4];
        id[2 * i + 1] = hex[raw[i] & 15];
    }
    id[SESSION_ID_LEN] = '\0';
    return 0;
}

void session_login(cache_t *cache, const char *user, const char *old_id, session_fn fn, void *arg)
{
    login_t *l = calloc(1, sizeof *l);
    if (l == NULL) {
        fail(fn, arg, SESSION_STORE_DOWN);
        return;
    }
    l->cache = cache;
    l->fn = fn;
    l->arg = arg;
    snprintf(l->user, sizeof l->user, "%s", user);
    l->now = clock_wall_ms();
    if (session_id_new(l->id) != 0) {
        free(l);
        fail(fn, arg, SESSION_STORE_DOWN);
        return;
    }
    /* No fixation: the client's old session dies with the login, whatever it held. */
    if (old_id != NULL)
        session_end(cache, old_id, on_old_ended, l);
    else
        create(l);
}
