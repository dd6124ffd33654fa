/*
 * rate_limiter — see rate_limiter.h. The four scripts share their arguments (ARGV: limit,
 * window in ms, now in ms) and their answer: {allowed, remaining, reset_ms, retry_ms}, integers,
 * since Redis turns a Lua number into an integer reply by truncation.
 */
#include "cache/rate_limiter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

/*
 * Fixed window: one counter per calendar window, named by the window's number. INCR counts refused
 * requests too, which changes nothing for the decision and saves a read.
 */
static const char FIXED_WINDOW_SCRIPT[] =
    "local limit, w, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], w) end\n"
    "local reset = w - now % w\n"
    "if n <= limit then return {1, limit - n, reset, 0} end\n"
    "return {0, 0, reset, reset}\n";

/*
 * Sliding log: a sorted set of the times of the requests allowed within the last window. Exact,
 * and its memory grows with the limit. A member is "<now>:<count before it>", unique because the
 * count cannot fall back while now stays the same.
 */
static const char SLIDING_LOG_SCRIPT[] =
    "local limit, w, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - w)\n"
    "local n = redis.call('ZCARD', KEYS[1])\n"
    "local allowed = 0\n"
    "if n < limit then\n"
    "  redis.call('ZADD', KEYS[1], now, now .. ':' .. n)\n"
    "  redis.call('PEXPIRE', KEYS[1], w)\n"
    "  n = n + 1\n"
    "  allowed = 1\n"
    "end\n"
    "local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or now)\n"
    "local reset = oldest + w - now\n"
    "if allowed == 1 then return {1, limit - n, reset, 0} end\n"
    "return {0, 0, reset, reset}\n";

/*
 * Sliding window counter: this window's counter plus the last window's, weighted by the share of
 * the last window still inside the sliding one. Two small keys, an estimate that assumes the last
 * window's requests were spread evenly.
 */
static const char SLIDING_WINDOW_SCRIPT[] =
    "local limit, w, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local e = now % w\n"
    "local cur = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "local prev = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "local count = prev * (w - e) / w + cur\n"
    "local reset = w - e\n"
    "if count + 1 <= limit then\n"
    "  redis.call('INCR', KEYS[1])\n"
    "  redis.call('PEXPIRE', KEYS[1], 2 * w)\n"
    "  return {1, math.floor(limit - count - 1), reset, 0}\n"
    "end\n"
    "local retry\n"
    "if cur + 1 <= limit and prev > 0 then\n"
    "  retry = math.ceil(w - (limit - 1 - cur) * w / prev) - e\n"
    "else\n"
    "  local later = 0\n"
    "  if cur > 0 then later = w - (limit - 1) * w / cur end\n"
    "  if later < 0 then later = 0 end\n"
    "  retry = reset + math.ceil(later)\n"
    "end\n"
    "if retry < 1 then retry = 1 end\n"
    "return {0, 0, reset, retry}\n";

/*
 * Token bucket: limit tokens at most, refilled at limit per window; a request takes one. A hash
 * of the tokens and the time they were counted. A bucket left alone for a window is full, the same
 * as no key, so the key expires then.
 */
static const char TOKEN_BUCKET_SCRIPT[] =
    "local limit, w, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local rate = limit / w\n"
    "local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')\n"
    "local tokens, at = tonumber(b[1]), tonumber(b[2])\n"
    "if tokens == nil or at == nil then tokens, at = limit, now end\n"
    "if now > at then\n"
    "  tokens = math.min(limit, tokens + (now - at) * rate)\n"
    "  at = now\n"
    "end\n"
    "local allowed = 0\n"
    "if tokens >= 1 then tokens = tokens - 1; allowed = 1 end\n"
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))\n"
    "redis.call('PEXPIRE', KEYS[1], w)\n"
    "local reset = math.ceil((limit - tokens) / rate)\n"
    "if allowed == 1 then return {1, math.floor(tokens), reset, 0} end\n"
    "return {0, 0, reset, math.ceil((1 - tokens) / rate)}\n";

static const char *const SCRIPTS[CONFIG_RATE_ALGORITHMS] = {
    [CONFIG_RATE_FIXED_WINDOW] = FIXED_WINDOW_SCRIPT,
    [CONFIG_RATE_SLIDING_LOG] = SLIDING_LOG_SCRIPT,
    [CONFIG_RATE_SLIDING_WINDOW] = SLIDING_WINDOW_SCRIPT,
    [CONFIG_RATE_TOKEN_BUCKET] = TOKEN_BUCKET_SCRIPT,
};

int rate_limiter_keys(int algorithm, const char *base, long long window_ms, long long now_ms,
                      char keys[RATE_LIMITER_MAX_KEYS][RATE_LIMITER_KEY_MAX])
{
    long long window = now_ms / window_ms;
    switch (algorithm) {
    case CONFIG_RATE_FIXED_WINDOW:
        snprintf(keys[0], RATE_LIMITER_KEY_MAX, "%s:fw:%lld", base, window);
        return 1;
    case CONFIG_RATE_SLIDING_LOG:
        snprintf(keys[0], RATE_LIMITER_KEY_MAX, "%s:sl", base);
        return 1;
    case CONFIG_RATE_SLIDING_WINDOW:
        snprintf(keys[0], RATE_LIMITER_KEY_MAX, "%s:sw:%lld", base, window);
        snprintf(keys[1], RATE_LIMITER_KEY_MAX, "%s:sw:%lld", base, window - 1);
        return 2;
    default:
        snprintf(keys[0], RATE_LIMITER_KEY_MAX, "%s:tb", base);
        return 1;
    }
}

typedef struct {
    rate_limiter_fn fn;
    void *arg;
} pending_t;

static long long element(const redisReply *r, size_t i)
{
    return r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
}

static void on_reply(int status, redisReply *reply, void *arg)
{
    pending_t p = *(pending_t *)arg;
    free(arg);
    if (status != REDIS_CLIENT_OK) {
        p.fn(status, NULL, p.arg);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        /* An error reply (OOM, a busy script, a wrong type): Redis could not decide. */
        p.fn(REDIS_CLIENT_EDOWN, NULL, p.arg);
        return;
    }
    rate_limiter_result_t res = {(int)element(reply, 0), element(reply, 1), element(reply, 2),
                                 element(reply, 3)};
    p.fn(0, &res, p.arg);
}

int rate_limiter_check(redis_client_t *redis, int algorithm, const char *base, long long limit,
                       long long window_ms, long long now_ms, rate_limiter_fn fn, void *arg)
{
    char keys[RATE_LIMITER_MAX_KEYS][RATE_LIMITER_KEY_MAX];
    int nkeys = rate_limiter_keys(algorithm, base, window_ms, now_ms, keys);
    char numkeys[4], a_limit[24], a_window[24], a_now[24];
    snprintf(numkeys, sizeof numkeys, "%d", nkeys);
    snprintf(a_limit, sizeof a_limit, "%lld", limit);
    snprintf(a_window, sizeof a_window, "%lld", window_ms);
    snprintf(a_now, sizeof a_now, "%lld", now_ms);
    const char *argv[3 + RATE_LIMITER_MAX_KEYS + 3];
    size_t argvlen[3 + RATE_LIMITER_MAX_KEYS + 3];
    int argc = 0;
    argv[argc++] = "EVAL";
    argv[argc++] = SCRIPTS[algorithm];
    argv[argc++] = numkeys;
    for (int i = 0; i < nkeys; i++)
        argv[argc++] = keys[i];
    argv[argc++] = a_limit;
    argv[argc++] = a_window;
    argv[argc++] = a_now;
    for (int i = 0; i < argc; i++)
        argvlen[i] = strlen(argv[i]);
    pending_t *p = malloc(sizeof *p);
    if (p == NULL)
        return REDIS_CLIENT_ENOMEM;
    p->fn = fn;
    p->arg = arg;
    int rc = redis_client_command(redis, on_reply, p, argc, argv, argvlen);
    if (rc != 0)
        free(p);
    return rc;
}
