/*
 * config — see config.h. One table describes every setting: its environment name, its flag, its
 * type, where it lives in config_t, its bounds and its default. Loading walks the table three times
 * (defaults, environment, flags); validation of cross-setting facts happens once at the end.
 */
#include "core/config.h"

#include "core/log.h"

#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include <strings.h>
#include <unistd.h>

typedef enum { SET_STR, SET_INT, SET_BOOL, SET_LEVEL } setting_type_t;

typedef struct {
    const char *env;     /* Environment variable name. */
    const char *flag;    /* Flag name without the leading dashes. */
    setting_type_t type; /* How the text is parsed. */
    size_t offset;       /* Where the value lives in config_t. */
    size_t size;         /* Buffer size for SET_STR. */
    long min, max;       /* Inclusive bounds for SET_INT. */
    const char *def;     /* Default as text; NULL for computed defaults. */
    const char *help;    /* One line for --help. */
} setting_t;

#define STR(field, env, flag, def, help)                                                           \
    {                                                                                              \
        env, flag, SET_STR, offsetof(config_t, field), sizeof(((config_t *)0)->field), 0, 0, def,  \
            help                                                                                   \
    }
#define INT(field, env, flag, lo, hi, def, help)                                                   \
    {                                                                                              \
        env, flag, SET_INT, offsetof(config_t, field), sizeof(int), lo, hi, def, help              \
    }

static const setting_t settings[] = {
    STR(database_url, "DATABASE_URL", "database-url", "postgresql://cacheme@127.0.0.1:5433/cacheme",
        "PostgreSQL connection URL"),
    STR(database_replica_url, "DATABASE_REPLICA_URL", "database-replica-url", "",
        "PostgreSQL read replica: product reads go there, writes to DATABASE_URL (empty: none)"),
    {"REPLICA_GUARD", "replica-guard", SET_BOOL, offsetof(config_t, replica_guard), sizeof(int), 0,
     1, "true", "refuse to cache a row read from the replica older than the newest write"},
    STR(redis_url, "REDIS_URL", "redis-url", "redis://127.0.0.1:6380/0", "Redis URL"),
    STR(redis_sentinels, "REDIS_SENTINELS", "redis-sentinels", "",
        "host:port[,host:port...] of Redis Sentinels: follow the master they name (empty: off)"),
    STR(redis_sentinel_master, "REDIS_SENTINEL_MASTER", "redis-sentinel-master", "",
        "the master's name the sentinels monitor (required with REDIS_SENTINELS)"),
    STR(redis_cluster_nodes, "REDIS_CLUSTER_NODES", "redis-cluster-nodes", "",
        "host:port[,host:port...] seed nodes of a Redis Cluster (empty: REDIS_URL's one server)"),
    STR(host, "HOST", "host", "127.0.0.1", "address to listen on"),
    INT(port, "PORT", "port", 1, 65535, "8000", "HTTP port"),
    INT(cache_ttl_seconds, "CACHE_TTL_SECONDS", "cache-ttl-seconds", 1, 31536000, "3600",
        "TTL of cached products, seconds"),
    STR(cache_key_prefix, "CACHE_KEY_PREFIX", "cache-key-prefix",
        "product:", "prefix of product keys in Redis"),
    {"CACHE_BYPASS", "cache-bypass", SET_BOOL, offsetof(config_t, cache_bypass), sizeof(int), 0, 1,
     "false", "true: lookups never use Redis (for measuring the uncached path)"},
    STR(cache_write_mode, "CACHE_WRITE_MODE", "cache-write-mode", "invalidate",
        "invalidate, write-through or write-behind"),
    STR(cache_warm, "CACHE_WARM", "cache-warm", "none",
        "warm the cache at start-up: none, all, or top:N (the N most viewed products, N <= 100)"),
    INT(cache_warm_rate, "CACHE_WARM_RATE", "cache-warm-rate", 1, CONFIG_WARM_RATE_MAX, "500",
        "products a cache warm considers per second at most (paces PostgreSQL)"),
    INT(ttl_jitter_percent, "TTL_JITTER_PERCENT", "ttl-jitter-percent", 0, 90, "10",
        "spread TTLs by up to this many percent either way (avalanche protection)"),
    INT(negative_ttl_seconds, "NEGATIVE_TTL_SECONDS", "negative-ttl-seconds", 0, 86400, "30",
        "cache \"not found\" this long (penetration protection; 0 = off)"),
    {"STAMPEDE_PROTECTION", "stampede-protection", SET_BOOL,
     offsetof(config_t, stampede_protection), sizeof(int), 0, 1, "true",
     "one database query per missing key: single-flight plus a Redis lock"},
    INT(lock_wait_ms, "LOCK_WAIT_MS", "lock-wait-ms", 1, 60000, "2000",
        "how long a lookup waits for another instance's load before querying itself"),
    {"REFRESH_AHEAD", "refresh-ahead", SET_BOOL, offsetof(config_t, refresh_ahead), sizeof(int), 0,
     1, "true", "refresh keys in the background before they expire"},
    INT(refresh_window_percent, "REFRESH_WINDOW_PERCENT", "refresh-window-percent", 1, 90, "10",
        "refresh within this last share of a key's life (plus XFetch earlier)"),
    INT(stale_if_error_seconds, "STALE_IF_ERROR_SECONDS", "stale-if-error-seconds", 0, 86400, "300",
        "serve values expired at most this long when PostgreSQL fails (0 = off)"),
    {"CIRCUIT_BREAKER", "circuit-breaker", SET_BOOL, offsetof(config_t, circuit_breaker),
     sizeof(int), 0, 1, "true", "stop calling Redis for a while after repeated failures"},
    INT(breaker_failures, "REDIS_BREAKER_FAILURES", "redis-breaker-failures", 1, 1000, "5",
        "Redis failures in a row that open the circuit breaker"),
    INT(breaker_open_ms, "REDIS_BREAKER_OPEN_MS", "redis-breaker-open-ms", 10, 600000, "2000",
        "how long the breaker stays open before a trial call"),
    INT(db_delay_ms, "DB_DELAY_MS", "db-delay-ms", 0, 10000, "0",
        "simulated latency added inside PostgreSQL to product lookups (pg_sleep)"),
    {"L1_CACHE", "l1-cache", SET_BOOL, offsetof(config_t, l1_cache), sizeof(int), 0, 1, "false",
     "answer hits from the near cache in each event loop (the lab's near_cache)"},
    INT(l1_max_bytes, "L1_MAX_BYTES", "l1-max-bytes", 0, 1073741824, "67108864",
        "bytes the near caches hold, all event loops together (0 = no near cache)"),
    INT(l1_ttl_ms, "L1_TTL_MS", "l1-ttl-ms", 1, 86400000, "5000",
        "longest life of a near-cache entry, ms (never past the Redis key's own TTL)"),
    STR(admin_token, "ADMIN_TOKEN", "admin-token", "",
        "when set, PUT /lab/config needs Authorization: Bearer <token>"),
    {"LOG_LEVEL", "log-level", SET_LEVEL, offsetof(config_t, log_level), sizeof(int), 0, 3, "info",
     "debug, info, warn or error"},
    STR(log_format, "LOG_FORMAT", "log-format", "logfmt", "logfmt or json, one line per event"),
    INT(slow_request_ms, "SLOW_REQUEST_MS", "slow-request-ms", 1, 600000, "500",
        "requests slower than this are logged at warn level"),
    INT(workers, "WORKERS", "workers", 1, 64, NULL, "event loops (default: number of cores)"),
    INT(pg_pool_size, "PG_POOL_SIZE", "pg-pool-size", 1, 64, "4",
        "PostgreSQL connections per event loop"),
    INT(redis_timeout_ms, "REDIS_TIMEOUT_MS", "redis-timeout-ms", 1, 60000, "250",
        "deadline of each Redis command, ms"),
    INT(pg_timeout_ms, "PG_TIMEOUT_MS", "pg-timeout-ms", 1, 600000, "2000",
        "deadline of each PostgreSQL query including queueing, ms"),
    INT(pg_pipeline_depth, "PG_PIPELINE_DEPTH", "pg-pipeline-depth", 1, 256, "8",
        "PostgreSQL queries in flight per connection (libpq pipeline mode; 1 = off)"),
    INT(pg_replica_breaker_failures, "PG_REPLICA_BREAKER_FAILURES", "pg-replica-breaker-failures",
        1, 1000, "3",
        "replica reads in a row that passed their deadline or lost their connection "
        "before reads skip the replica"),
    INT(pg_replica_breaker_open_ms, "PG_REPLICA_BREAKER_OPEN_MS", "pg-replica-breaker-open-ms", 10,
        600000, "2000", "how long reads skip the replica before one tries it again, ms"),
    INT(pg_hedge_ms, "PG_HEDGE_MS", "pg-hedge-ms", 0, 600000, "0",
        "a product read unanswered this long on its PostgreSQL connection is sent again on "
        "another, first answer wins, ms (0 = off)"),
    INT(pg_batch_max, "PG_BATCH_MAX", "pg-batch-max", 1, 1000, "1",
        "product lookups queued together sent as one = ANY query, at most (1 = off)"),
    INT(pg_batch_wait_ms, "PG_BATCH_WAIT_MS", "pg-batch-wait-ms", 0, 60000, "5",
        "with PG_BATCH_MAX, how long a lookup made while a batch is in flight may wait for it, to "
        "go with the next batch, ms (0 = never wait)"),
    INT(request_timeout_ms, "REQUEST_TIMEOUT_MS", "request-timeout-ms", 100, 600000, "10000",
        "time allowed to receive a whole request, ms"),
    INT(idle_timeout_seconds, "IDLE_TIMEOUT_SECONDS", "idle-timeout-seconds", 1, 3600, "30",
        "keep-alive inactivity timeout, seconds"),
    INT(max_connections, "MAX_CONNECTIONS", "max-connections", 1, 1000000, "4096",
        "open HTTP connections at most (others wait in the accept queue)"),
    INT(max_header_bytes, "MAX_HEADER_BYTES", "max-header-bytes", 256, 1048576, "8192",
        "request line + headers at most; larger gets 431"),
    INT(max_body_bytes, "MAX_BODY_BYTES", "max-body-bytes", 0, 67108864, "65536",
        "request body at most; larger gets 413"),
    STR(cors_origins, "CORS_ORIGINS", "cors-origins", "*",
        "\"*\" or a comma-separated list of allowed origins"),
    INT(session_ttl_seconds, "SESSION_TTL_SECONDS", "session-ttl-seconds", 1, 31536000, "1800",
        "idle lifetime of a session, seconds (each use starts it again)"),
    INT(session_max_per_user, "SESSION_MAX_PER_USER", "session-max-per-user", 1, 1000, "5",
        "sessions one user may hold; a new login evicts the oldest beyond it"),
    {"SESSION_COOKIE_SECURE", "session-cookie-secure", SET_BOOL,
     offsetof(config_t, session_cookie_secure), sizeof(int), 0, 1, "false",
     "true: the session cookie carries Secure (sent over HTTPS only)"},
    STR(instance, "INSTANCE_ID", "instance-id", NULL,
        "name of this instance, sent as X-Instance (default: host name and port)"),
    {"EVENTS_FANOUT", "events-fanout", SET_BOOL, offsetof(config_t, events_fanout), sizeof(int), 0,
     1, "true", "share /events (writes, statistics, warm runs) with the other instances via Redis"},
    STR(events_channel, "EVENTS_CHANNEL", "events-channel", "cacheme:events",
        "the Redis Pub/Sub channel the instances share /events on"),
    INT(ui_port, "UI_PORT", "ui-port", 0, 65535, "3000", "dashboard port (0: no dashboard)"),
    STR(ui_dir, "UI_DIR", "ui-dir", "web/dist", "built dashboard files"),
    STR(swagger_ui_dir, "SWAGGER_UI_DIR", "swagger-ui-dir", "web/node_modules/swagger-ui-dist",
        "files of the swagger-ui-dist package, for /docs"),
    STR(redoc_dir, "REDOC_DIR", "redoc-dir", "web/node_modules/redoc/bundles",
        "ReDoc's standalone bundle (the redoc package's bundles/), for /redoc"),
    STR(ui_api_base, "UI_API_BASE", "ui-api-base", "",
        "API URL the dashboard calls (empty: same host, port 8000)"),
    STR(pgadmin_url, "PGADMIN_URL", "pgadmin-url", "", "pgAdmin link on the dashboard"),
    STR(redis_commander_url, "REDIS_COMMANDER_URL", "redis-commander-url", "",
        "Redis Commander link on the dashboard"),
    {"ANALYTICS", "analytics", SET_BOOL, offsetof(config_t, analytics), sizeof(int), 0, 1, "true",
     "count product views in Redis (per minute, unique visitors, trending, leaderboard)"},
    INT(analytics_flush_ms, "ANALYTICS_FLUSH_MS", "analytics-flush-ms", 1, 10000, "100",
        "each event loop sends the views it counted at least this often, ms"),
    INT(analytics_batch_max, "ANALYTICS_BATCH_MAX", "analytics-batch-max", 1, 65536, "1024",
        "views an event loop holds before it sends them at once"),
    {"RATE_LIMIT", "rate-limit", SET_BOOL, offsetof(config_t, rate_limit), sizeof(int), 0, 1,
     "false", "limit product reads and writes per client address and API key"},
    STR(rate_limit_algorithm_name, "RATE_LIMIT_ALGORITHM", "rate-limit-algorithm", "fixed-window",
        "fixed-window, sliding-log, sliding-window or token-bucket"),
    INT(rate_limit_window_seconds, "RATE_LIMIT_WINDOW_SECONDS", "rate-limit-window-seconds", 1,
        86400, "60", "the window of every rate limit, seconds"),
    INT(rate_limit_reads, "RATE_LIMIT_READS", "rate-limit-reads", 0, 1000000, "600",
        "product reads per window and client address (0 = unlimited)"),
    INT(rate_limit_writes, "RATE_LIMIT_WRITES", "rate-limit-writes", 0, 1000000, "60",
        "product writes per window and client address (0 = unlimited)"),
    INT(rate_limit_key_reads, "RATE_LIMIT_KEY_READS", "rate-limit-key-reads", 0, 1000000, "6000",
        "product reads per window and API key (0 = unlimited)"),
    INT(rate_limit_key_writes, "RATE_LIMIT_KEY_WRITES", "rate-limit-key-writes", 0, 1000000, "600",
        "product writes per window and API key (0 = unlimited)"),
    {"RATE_LIMIT_FAIL_CLOSED", "rate-limit-fail-closed", SET_BOOL,
     offsetof(config_t, rate_limit_fail_closed), sizeof(int), 0, 1, "false",
     "answer 503 instead of serving when Redis cannot count a request"},
    STR(trusted_proxies, "TRUSTED_PROXIES", "trusted-proxies", "",
        "addresses or CIDRs whose X-Forwarded-For names the client (empty: none)"),
    STR(api_keys, "API_KEYS", "api-keys", "",
        "comma-separated API keys X-API-Key may carry, limited per key (empty: none)"),
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

static int set_value(config_t *cfg, const setting_t *s, const char *text, const char *source,
                     char *err, size_t errlen)
{
    char *field = (char *)cfg + s->offset;
    switch (s->type) {
    case SET_STR: {
        size_t n = strlen(text);
        if (n >= s->size) {
            snprintf(err, errlen, "%s (%s): value is too long (%zu bytes, at most %zu)", s->env,
                     source, n, s->size - 1);
            return -1;
        }
        memcpy(field, text, n + 1);
        return 0;
    }
    case SET_INT: {
        char *end = NULL;
        errno = 0;
        long v = strtol(text, &end, 10);
        if (text[0] == '\0' || *end != '\0' || errno != 0) {
            snprintf(err, errlen, "%s (%s): \"%s\" is not a whole number", s->env, source, text);
            return -1;
        }
        if (v < s->min || v > s->max) {
            snprintf(err, errlen, "%s (%s): %ld is out of range %ld..%ld", s->env, source, v,
                     s->min, s->max);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case SET_BOOL:
        if (!strcasecmp(text, "1") || !strcasecmp(text, "true") || !strcasecmp(text, "yes") ||
            !strcasecmp(text, "on"))
            *(int *)field = 1;
        else if (!strcasecmp(text, "0") || !strcasecmp(text, "false") || !strcasecmp(text, "no") ||
                 !strcasecmp(text, "off"))
            *(int *)field = 0;
        else {
            snprintf(err, errlen, "%s (%s): \"%s\" is not a boolean (true/false)", s->env, source,
                     text);
            return -1;
        }
        return 0;
    case SET_LEVEL: {
        log_level_t level;
        if (log_level_parse(text, &level) != 0) {
            snprintf(err, errlen, "%s (%s): \"%s\" is not one of debug, info, warn, error", s->env,
                     source, text);
            return -1;
        }
        *(int *)field = (int)level;
        return 0;
    }
    }
    return -1;
}

/* The write modes' names, by config_write_mode_t: the one table of them. */
static const char *const WRITE_MODES[] = {
    [CONFIG_WRITE_INVALIDATE] = "invalidate",
    [CONFIG_WRITE_THROUGH] = "write-through",
    [CONFIG_WRITE_BEHIND] = "write-behind",
};

static const char *const RATE_ALGORITHMS[CONFIG_RATE_ALGORITHMS] = {
    [CONFIG_RATE_FIXED_WINDOW] = "fixed-window",
    [CONFIG_RATE_SLIDING_LOG] = "sliding-log",
    [CONFIG_RATE_SLIDING_WINDOW] = "sliding-window",
    [CONFIG_RATE_TOKEN_BUCKET] = "token-bucket",
};

const char *config_rate_algorithm_name(int algorithm)
{
    assert(algorithm >= 0 && algorithm < CONFIG_RATE_ALGORITHMS);
    return RATE_ALGORITHMS[algorithm];
}

int config_rate_algorithm_parse(const char *text, size_t len)
{
    for (int i = 0; i < CONFIG_RATE_ALGORITHMS; i++) {
        if (strlen(RATE_ALGORITHMS[i]) == len && memcmp(RATE_ALGORITHMS[i], text, len) == 0)
            return i;
    }
    return -1;
}

int config_warm_parse(const char *text, size_t len, int *kind, int *top)
{
    static const char prefix[] = "top:";
    *top = 0;
    if (len == 4 && memcmp(text, "none", 4) == 0) {
        *kind = CONFIG_WARM_NONE;
        return 0;
    }
    if (len == 3 && memcmp(text, "all", 3) == 0) {
        *kind = CONFIG_WARM_ALL;
        return 0;
    }
    size_t plen = sizeof prefix - 1;
    /* Digits only, at most three of them, no leading zero: "top:007" and "top:+5" are typos. */
    if (len <= plen || len > plen + 3 || memcmp(text, prefix, plen) != 0 || text[plen] == '0')
        return -1;
    int n = 0;
    for (size_t i = plen; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        n = n * 10 + (text[i] - '0');
    }
    if (n < 1 || n > CONFIG_WARM_TOP_MAX)
        return -1;
    *kind = CONFIG_WARM_TOP;
    *top = n;
    return 0;
}

const char *config_write_mode_name(int mode)
{
    assert(mode >= 0 && (size_t)mode < sizeof WRITE_MODES / sizeof WRITE_MODES[0]);
    return WRITE_MODES[mode];
}
/*
 * Parses redis://[[user]:password@]host[:port][/db] into the derived fields. Returns 0 or -1 with a
 * reason in err.
 */
static int parse_redis_url(config_t *cfg, char *err, size_t errlen)
{
    const char *u = cfg->redis_url;
    const char *scheme = "redis://";
    if (strncmp(u, scheme, strlen(scheme)) != 0) {
        snprintf(err, errlen, "REDIS_URL: \"%s\" must start with redis://", u);
        return -1;
    }
    u += strlen(scheme);
    cfg->redis_password[0] = '\0';
    cfg->redis_port = 6379;
    cfg->redis_db = 0;

    const char *at = strrchr(u, '@');
    if (at != NULL) {
        const char *colon = memchr(u, ':', (size_t)(at - u));
        const char *pw = colon ? colon + 1 : u;
        size_t n = (size_t)(at - pw);
        if (n >= sizeof cfg->redis_password) {
            snprintf(err, errlen, "REDIS_URL: password is too long");
            return -1;
        }
        memcpy(cfg->redis_password, pw, n);
        cfg->redis_password[n] = '\0';
        u = at + 1;
    }
    size_t hostlen = strcspn(u, ":/");
    if (hostlen == 0 || hostlen >= sizeof cfg->redis_host) {
        snprintf(err, errlen, "REDIS_URL: missing or too long host in \"%s\"", cfg->redis_url);
        return -1;
    }
    memcpy(cfg->redis_host, u, hostlen);
    cfg->redis_host[hostlen] = '\0';
    u += hostlen;
    if (*u == ':') {
        char *end = NULL;
        long port = strtol(u + 1, &end, 10);
        if (end == u + 1 || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
            snprintf(err, errlen, "REDIS_URL: bad port in \"%s\"", cfg->redis_url);
            return -1;
        }
        cfg->redis_port = (int)port;
        u = end;
    }
    if (*u == '/' && u[1] != '\0') {
        char *end = NULL;
        long db = strtol(u + 1, &end, 10);
        if (end == u + 1 || *end != '\0' || db < 0 || db > 10000) {
            snprintf(err, errlen, "REDIS_URL: bad database number in \"%s\"", cfg->redis_url);
            return -1;
        }
        cfg->redis_db = (int)db;
    } else if (*u != '\0' && strcmp(u, "/") != 0) {
        snprintf(err, errlen, "REDIS_URL: unexpected \"%s\"", u);
        return -1;
    }
    return 0;
}

/*
 * Parses one "host:port" (or "[v6-address]:port") of REDIS_SENTINELS, text[0..len), into *a.
 * Returns 0 or -1 with a reason in err; n is the entry's position, counted from 1, for the message.
 */
static int parse_sentinel(const char *text, size_t len, int n, config_addr_t *a, char *err,
                          size_t errlen)
{
    const char *end = text + len;
    const char *host = text;
    const char *host_end;
    const char *colon;
    if (len > 0 && text[0] == '[') {
        host = text + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        colon = host_end != NULL && host_end + 1 < end && host_end[1] == ':' ? host_end + 1 : NULL;
    } else {
        colon = NULL;
        for (const char *p = text; p < end; p++) {
            if (*p == ':')
                colon = p;
        }
        host_end = colon;
    }
    if (colon == NULL || host_end == NULL || host_end == host) {
        snprintf(err, errlen,
                 "REDIS_SENTINELS: entry %d \"%.*s\" is not host:port (e.g. 127.0.0.1:26379)", n,
                 (int)len, text);
        return -1;
    }
    size_t hostlen = (size_t)(host_end - host);
    if (hostlen >= sizeof a->host) {
        snprintf(err, errlen, "REDIS_SENTINELS: entry %d: host is too long", n);
        return -1;
    }
    for (const char *p = host; p < host_end; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '[' || *p == ']' || (*p == ':' && host == text)) {
            snprintf(err, errlen, "REDIS_SENTINELS: entry %d \"%.*s\" has a bad host", n, (int)len,
                     text);
            return -1;
        }
    }
    long port = 0;
    const char *p = colon + 1;
    for (; p < end && *p >= '0' && *p <= '9' && port <= 65535; p++)
        port = port * 10 + (*p - '0');
    if (p == colon + 1 || p != end || port < 1 || port > 65535) {
        snprintf(err, errlen, "REDIS_SENTINELS: entry %d \"%.*s\": port must be 1..65535", n,
                 (int)len, text);
        return -1;
    }
    memcpy(a->host, host, hostlen);
    a->host[hostlen] = '\0';
    a->port = (int)port;
    return 0;
}

/*
 * Parses REDIS_SENTINELS into redis_sentinel_addrs and checks REDIS_SENTINEL_MASTER goes with it:
 * both set, or neither. Spaces around entries are allowed. Returns 0 or -1 with a reason in err.
 */
static int parse_sentinels(config_t *cfg, char *err, size_t errlen)
{
    cfg->redis_sentinel_count = 0;
    const char *s = cfg->redis_sentinels;
    const char *name = cfg->redis_sentinel_master;
    if (s[strspn(s, " \t")] == '\0') {
        if (name[0] != '\0') {
            snprintf(err, errlen,
                     "REDIS_SENTINEL_MASTER: is set but REDIS_SENTINELS is empty "
                     "(give the sentinels as host:port[,host:port...])");
            return -1;
        }
        return 0;
    }
    if (name[0] == '\0') {
        snprintf(err, errlen,
                 "REDIS_SENTINEL_MASTER: must name the master the sentinels monitor "
                 "when REDIS_SENTINELS is set");
        return -1;
    }
    for (const char *p = name; *p; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen,
                     "REDIS_SENTINEL_MASTER: must not contain spaces or control characters");
            return -1;
        }
    }
    int n = 0;
    for (;;) {
        size_t len = strcspn(s, ",");
        const char *entry = s;
        size_t trimmed = len;
        while (trimmed > 0 && (*entry == ' ' || *entry == '\t')) {
            entry++;
            trimmed--;
        }
        while (trimmed > 0 && (entry[trimmed - 1] == ' ' || entry[trimmed - 1] == '\t'))
            trimmed--;
        if (n == CONFIG_MAX_SENTINELS) {
            snprintf(err, errlen, "REDIS_SENTINELS: more than %d sentinels", CONFIG_MAX_SENTINELS);
            return -1;
        }
        if (parse_sentinel(entry, trimmed, n + 1, &cfg->redis_sentinel_addrs[n], err, errlen) != 0)
            return -1;
        n++;
        if (s[len] == '\0')
            break;
        s += len + 1;
    }
    cfg->redis_sentinel_count = n;
    return 0;
}

/*
 * Parses REDIS_CLUSTER_NODES into the seeds and checks what a cluster rules out: the near cache,
 * whose invalidations come from one server's CLIENT TRACKING, is off (L1_CACHE=true is refused);
 * write-behind, whose queueing script touches the stream and the product's keys, which a cluster
 * keeps in different slots, is refused.
 */
static int parse_cluster_nodes(config_t *cfg, char *err, size_t errlen)
{
    cfg->redis_cluster_nseeds = 0;
    const char *p = cfg->redis_cluster_nodes;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == ':')
                colon = p + i;
        }
        char *stop = NULL;
        long port = colon != NULL ? strtol(colon + 1, &stop, 10) : 0;
        size_t hostlen = colon != NULL ? (size_t)(colon - p) : 0;
        if (colon == NULL || stop != p + len || port < 1 || port > 65535 || hostlen == 0 ||
            hostlen >= sizeof cfg->redis_cluster_seeds[0].host ||
            cfg->redis_cluster_nseeds == CONFIG_CLUSTER_SEEDS_MAX) {
            snprintf(err, errlen,
                     "REDIS_CLUSTER_NODES: \"%.*s\" is not host:port (at most %d of them)",
                     (int)len, p, CONFIG_CLUSTER_SEEDS_MAX);
            return -1;
        }
        memcpy(cfg->redis_cluster_seeds[cfg->redis_cluster_nseeds].host, p, hostlen);
        cfg->redis_cluster_seeds[cfg->redis_cluster_nseeds].host[hostlen] = '\0';
        cfg->redis_cluster_seeds[cfg->redis_cluster_nseeds++].port = (int)port;
        p += len;
        if (*p == ',')
            p++;
    }
    if (cfg->redis_cluster_nseeds == 0)
        return 0;
    if (cfg->l1_cache) {
        snprintf(err, errlen,
                 "L1_CACHE: the near cache does not work with REDIS_CLUSTER_NODES "
                 "(its invalidations come from one server)");
        return -1;
    }
    if (cfg->write_mode == CONFIG_WRITE_BEHIND) {
        snprintf(err, errlen,
                 "CACHE_WRITE_MODE: write-behind does not work with "
                 "REDIS_CLUSTER_NODES (its queue and the product keys are in different "
                 "slots)");
        return -1;
    }
    cfg->l1_max_bytes = 0;
    return 0;
}

/*
 * DATABASE_REPLICA_URL, when set, must be something libpq can parse (checked here, so that a typo
 * stops the start with its reason rather than leaving every read to fall back to the primary), and
 * must not name the primary itself: reads would then never leave it, unnoticed.
 */
static int validate_replica_url(const config_t *cfg, char *err, size_t errlen)
{
    if (cfg->database_replica_url[0] == '\0')
        return 0;
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(cfg->database_replica_url, &why);
    if (opts == NULL) {
        size_t n = why != NULL ? strlen(why) : 0;
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            n--;
        snprintf(err, errlen, "DATABASE_REPLICA_URL: %.*s", (int)n,
                 why != NULL ? why : "cannot be parsed (out of memory)");
        PQfreemem(why);
        return -1;
    }
    /* libpq checks a port only when it connects; a list of hosts has a list of ports. */
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "port") != 0 || o->val == NULL)
            continue;
        for (const char *p = o->val; *p != '\0';) {
            char *end;
            errno = 0;
            long port = strtol(p, &end, 10);
            if (end == p || errno != 0 || port < 1 || port > 65535 || (*end != ',' && *end)) {
                snprintf(err, errlen, "DATABASE_REPLICA_URL: bad port \"%s\"", o->val);
                PQconninfoFree(opts);
                return -1;
            }
            p = *end == ',' ? end + 1 : end;
        }
    }
    PQconninfoFree(opts);
    if (strcmp(cfg->database_replica_url, cfg->database_url) == 0) {
        snprintf(err, errlen,
                 "DATABASE_REPLICA_URL: is the same as DATABASE_URL (leave it empty when there is "
                 "no replica)");
        return -1;
    }
    return 0;
}

/* Checks facts that involve several settings or the shape of a string. */
static int validate(config_t *cfg, char *err, size_t errlen)
{
    if (cfg->database_url[0] == '\0') {
        snprintf(err, errlen, "DATABASE_URL: must not be empty");
        return -1;
    }
    if (validate_replica_url(cfg, err, errlen) != 0)
        return -1;
    if (cfg->host[0] == '\0') {
        snprintf(err, errlen, "HOST: must not be empty");
        return -1;
    }
    if (cfg->cors_origins[0] == '\0') {
        snprintf(err, errlen, "CORS_ORIGINS: must not be empty (use * to allow any origin)");
        return -1;
    }
    for (const char *p = cfg->cache_key_prefix; *p; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            snprintf(err, errlen,
                     "CACHE_KEY_PREFIX: must not contain spaces or control characters");
            return -1;
        }
        /* A product key is the hash tag of its companions ("{product:7}:gen"): no braces in it. */
        if (*p == '{' || *p == '}') {
            snprintf(err, errlen,
                     "CACHE_KEY_PREFIX: must not contain { or } (the product key is "
                     "the hash tag of the keys beside it)");
            return -1;
        }
    }
    cfg->write_mode = -1;
    for (int i = 0; i < (int)(sizeof WRITE_MODES / sizeof WRITE_MODES[0]); i++) {
        if (strcmp(cfg->cache_write_mode, WRITE_MODES[i]) == 0)
            cfg->write_mode = i;
    }
    if (cfg->write_mode < 0) {
        snprintf(err, errlen,
                 "CACHE_WRITE_MODE: \"%s\" is not one of invalidate, write-through, write-behind",
                 cfg->cache_write_mode);
        return -1;
    }
    if (config_warm_parse(cfg->cache_warm, strlen(cfg->cache_warm), &cfg->warm_kind,
                          &cfg->warm_top) != 0) {
        snprintf(
            err, errlen,
            "CACHE_WARM: \"%s\" is not one of none, all, top:N (N a whole number from 1 to %d)",
            cfg->cache_warm, CONFIG_WARM_TOP_MAX);
        return -1;
    }
    cfg->rate_limit_algorithm = config_rate_algorithm_parse(cfg->rate_limit_algorithm_name,
                                                            strlen(cfg->rate_limit_algorithm_name));
    if (cfg->rate_limit_algorithm < 0) {
        snprintf(err, errlen,
                 "RATE_LIMIT_ALGORITHM: \"%s\" is not one of fixed-window, sliding-log, "
                 "sliding-window, token-bucket",
                 cfg->rate_limit_algorithm_name);
        return -1;
    }
    log_format_t format;
    if (log_format_parse(cfg->log_format, &format) != 0) {
        snprintf(err, errlen, "LOG_FORMAT: \"%s\" is not one of logfmt, json", cfg->log_format);
        return -1;
    }
    if (cfg->instance[0] == '\0') {
        char host[64] = "";
        gethostname(host, sizeof host - 1);
        snprintf(cfg->instance, sizeof cfg->instance, "%s:%d", host, cfg->port);
    }
    if (cfg->events_channel[0] == '\0' || strpbrk(cfg->events_channel, " \t\r\n") != NULL) {
        snprintf(err, errlen, "EVENTS_CHANNEL: \"%s\" must be a non-empty name without spaces",
                 cfg->events_channel);
        return -1;
    }
    if (cfg->ui_port == cfg->port) {
        snprintf(err, errlen, "UI_PORT: %d is the same as PORT (use 0 to turn the dashboard off)",
                 cfg->ui_port);
        return -1;
    }
    if (cfg->max_connections < cfg->workers) {
        snprintf(err, errlen, "MAX_CONNECTIONS: %d is smaller than WORKERS (%d)",
                 cfg->max_connections, cfg->workers);
        return -1;
    }
    if (parse_cluster_nodes(cfg, err, errlen) != 0 || parse_redis_url(cfg, err, errlen) != 0 ||
        parse_sentinels(cfg, err, errlen) != 0)
        return -1;
    if (cfg->redis_cluster_nseeds > 0 && cfg->redis_sentinel_count > 0) {
        snprintf(err, errlen,
                 "REDIS_SENTINELS: cannot be used with REDIS_CLUSTER_NODES (a cluster fails over "
                 "by itself); set one of them");
        return -1;
    }
    return 0;
}

static const setting_t *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strlen(settings[i].flag) == len && strncmp(settings[i].flag, name, len) == 0)
            return &settings[i];
    }
    return NULL;
}

int config_load(config_t *cfg, int argc, char *const *argv, config_getenv_fn env, char *err,
                size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->command = CONFIG_CMD_SERVE;

    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->workers = cores < 1 ? 1 : (cores > 64 ? 64 : (int)cores);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].def != NULL &&
            set_value(cfg, &settings[i], settings[i].def, "default", err, errlen) != 0)
            return -1; /* A broken default table is a bug; report it like any error. */
    }

    for (size_t i = 0; env != NULL && i < N_SETTINGS; i++) {
        const char *v = env(settings[i].env);
        if (v != NULL && set_value(cfg, &settings[i], v, "environment", err, errlen) != 0)
            return -1;
    }

    int have_command = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cfg->command = CONFIG_CMD_HELP;
            return 0;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            cfg->command = CONFIG_CMD_VERSION;
            return 0;
        }
        if (strncmp(a, "--", 2) == 0) {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const setting_t *s = find_flag(name, len);
            if (s == NULL) {
                snprintf(err, errlen, "unknown flag \"%s\" (see --help)", a);
                return -1;
            }
            const char *value = eq ? eq + 1 : NULL;
            if (value == NULL) {
                if (i + 1 >= argc) {
                    snprintf(err, errlen, "%s (flag --%s): missing value", s->env, s->flag);
                    return -1;
                }
                value = argv[++i];
            }
            if (set_value(cfg, s, value, "flag", err, errlen) != 0)
                return -1;
            continue;
        }
        if (have_command) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            return -1;
        }
        if (strcmp(a, "serve") == 0)
            cfg->command = CONFIG_CMD_SERVE;
        else if (strcmp(a, "migrate") == 0)
            cfg->command = CONFIG_CMD_MIGRATE;
        else if (strcmp(a, "routes") == 0)
            cfg->command = CONFIG_CMD_ROUTES;
        else if (strcmp(a, "help") == 0) {
            cfg->command = CONFIG_CMD_HELP;
            return 0;
        } else {
            snprintf(err, errlen, "unknown command \"%s\" (commands: serve, migrate, routes)", a);
            return -1;
        }
        have_command = 1;
    }
    return validate(cfg, err, errlen);
}

void config_usage(void *stream)
{
    FILE *f = stream;
    fprintf(f, "Usage: cacheme [serve|migrate|routes] [--setting value ...]\n"
               "       cacheme --help | --version\n\n"
               "Commands:\n"
               "  serve     run the HTTP API (default)\n"
               "  migrate   create the schema and load the seed data (idempotent)\n"
               "  routes    print the API's routes, one \"METHOD /path\" per line\n\n"
               "Settings (environment variable, flag, default):\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const setting_t *s = &settings[i];
        fprintf(f, "  %-22s --%-22s %s\n  %24s %s\n", s->env, s->flag,
                s->def ? s->def : "(computed)", "", s->help);
    }
}
