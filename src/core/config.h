/*
 * config — every setting of cacheme, filled from defaults, then the environment, then command-line
 * flags, and validated in one place.
 *
 * Each setting has an environment name (PORT) and a flag (--port VALUE or --port=VALUE). A bad
 * value is reported with the setting's name; main exits 2 on it. config_t is a plain value: it owns
 * no heap memory and may be copied freely. After start-up it is only read, so threads share it.
 */
#ifndef CACHEME_CONFIG_H
#define CACHEME_CONFIG_H

#include <stddef.h>

#define CONFIG_STR_MAX 1024
/* At most this many sentinels in REDIS_SENTINELS. */
#define CONFIG_MAX_SENTINELS 16

/* One host:port of REDIS_SENTINELS (a plain value). */
typedef struct {
    char host[256]; /* Host name or address (IPv6 without its brackets). */
    int port;       /* TCP port. */
} config_addr_t;

typedef enum {
    CONFIG_CMD_SERVE = 0, /* Run the HTTP service (the default). */
    CONFIG_CMD_MIGRATE,   /* Apply schema and seed, then exit. */
    CONFIG_CMD_HELP,      /* Print usage and exit 0. */
    CONFIG_CMD_VERSION,   /* Print the version and exit 0. */
    CONFIG_CMD_ROUTES     /* Print the API's route table and exit 0. */
} config_cmd_t;

/* Seed nodes REDIS_CLUSTER_NODES may list. */
#define CONFIG_CLUSTER_SEEDS_MAX 16

typedef struct {
    config_cmd_t command;              /* What main should do. */
    char database_url[CONFIG_STR_MAX]; /* DATABASE_URL: libpq connection string or URL. */
    char redis_url[CONFIG_STR_MAX];    /* REDIS_URL: redis://[:password@]host[:port][/db]. */
    char host[256];                    /* HOST: address the HTTP listener binds. */
    int port;                          /* PORT: HTTP port, 1..65535. */
    int cache_ttl_seconds;             /* CACHE_TTL_SECONDS: TTL of product keys. */
    char cache_key_prefix[128];        /* CACHE_KEY_PREFIX: key = prefix + id. */
    int cache_bypass;                  /* CACHE_BYPASS: 1 = never touch Redis on lookups. */
    char cache_write_mode[16];  /* CACHE_WRITE_MODE: invalidate, write-through, write-behind. */
    int write_mode;             /* The same as a config_write_mode_t (derived). */
    int ttl_jitter_percent;     /* TTL_JITTER_PERCENT: ± spread of TTLs (avalanche). */
    int negative_ttl_seconds;   /* NEGATIVE_TTL_SECONDS: TTL of "not found" (0 = off). */
    int stampede_protection;    /* STAMPEDE_PROTECTION: single-flight + Redis lock. */
    int lock_wait_ms;           /* LOCK_WAIT_MS: how long a waiter waits for a loader. */
    int refresh_ahead;          /* REFRESH_AHEAD: refresh hot keys before expiry. */
    int refresh_window_percent; /* REFRESH_WINDOW_PERCENT: refresh in the last share. */
    int stale_if_error_seconds; /* STALE_IF_ERROR_SECONDS: max staleness when PG fails. */
    int circuit_breaker;        /* CIRCUIT_BREAKER: the Redis circuit breaker. */
    int breaker_failures;       /* REDIS_BREAKER_FAILURES: failures that open it. */
    int breaker_open_ms;        /* REDIS_BREAKER_OPEN_MS: how long it stays open. */
    int db_delay_ms;            /* DB_DELAY_MS: simulated latency inside PostgreSQL. */
    int l1_cache;               /* L1_CACHE: the near cache answers (lab near_cache). */
    int l1_max_bytes;           /* L1_MAX_BYTES: near cache size, process-wide; 0 = none. */
    int l1_ttl_ms;              /* L1_TTL_MS: longest life of a near-cache entry. */
    char admin_token[256];      /* ADMIN_TOKEN: required by PUT /lab/config when set. */
    int log_level;              /* LOG_LEVEL as a log_level_t. */
    char log_format[16];        /* LOG_FORMAT: logfmt or json. */
    int slow_request_ms;        /* SLOW_REQUEST_MS: slower requests are logged at warn. */
    int workers;                /* WORKERS: event loops (threads). */
    int pg_pool_size;           /* PG_POOL_SIZE: PostgreSQL connections per loop. */
    int redis_timeout_ms;       /* REDIS_TIMEOUT_MS: deadline of each Redis command. */
    int pg_timeout_ms;          /* PG_TIMEOUT_MS: deadline of each query, queue incl. */
    int pg_pipeline_depth;      /* PG_PIPELINE_DEPTH: queries in flight per connection. */
    int pg_replica_breaker_failures;   /* PG_REPLICA_BREAKER_FAILURES: failures that open it. */
    int pg_replica_breaker_open_ms;    /* PG_REPLICA_BREAKER_OPEN_MS: how long it stays open. */
    int pg_hedge_ms;                   /* PG_HEDGE_MS: a slow read is sent again after this, ms. */
    int pg_batch_max;                  /* PG_BATCH_MAX: lookups per batched query (1 = off). */
    int pg_batch_wait_ms;              /* PG_BATCH_WAIT_MS: lookups wait for the batch in flight. */
    int request_timeout_ms;            /* REQUEST_TIMEOUT_MS: time to receive a request. */
    int idle_timeout_seconds;          /* IDLE_TIMEOUT_SECONDS: keep-alive inactivity. */
    int max_connections;               /* MAX_CONNECTIONS: open connections, process-wide. */
    int max_header_bytes;              /* MAX_HEADER_BYTES: larger headers get 431. */
    int max_body_bytes;                /* MAX_BODY_BYTES: larger bodies get 413. */
    char cors_origins[CONFIG_STR_MAX]; /* CORS_ORIGINS: "*" or comma-separated origins. */
    int session_ttl_seconds;           /* SESSION_TTL_SECONDS: sliding session lifetime. */
    int session_max_per_user;          /* SESSION_MAX_PER_USER: oldest evicted beyond it. */
    int session_cookie_secure;         /* SESSION_COOKIE_SECURE: cookie gets Secure. */
    char instance[128];                /* INSTANCE_ID: names this process in X-Instance. */
    int events_fanout;                 /* EVENTS_FANOUT: /events shared through Redis Pub/Sub. */
    char events_channel[128];          /* EVENTS_CHANNEL: the Pub/Sub channel for that. */
    int ui_port;                       /* UI_PORT: dashboard port, 0 = no dashboard. */
    char ui_dir[CONFIG_STR_MAX];       /* UI_DIR: built dashboard files. */
    char swagger_ui_dir[CONFIG_STR_MAX]; /* SWAGGER_UI_DIR: the swagger-ui-dist package. */
    char redoc_dir[CONFIG_STR_MAX];      /* REDOC_DIR: the redoc package's bundles/ directory. */
    char ui_api_base[CONFIG_STR_MAX];    /* UI_API_BASE: API URL the dashboard calls. */
    char pgadmin_url[CONFIG_STR_MAX];    /* PGADMIN_URL: link shown on the dashboard. */
    char redis_commander_url[CONFIG_STR_MAX]; /* REDIS_COMMANDER_URL: link shown too. */
    char redis_cluster_nodes[CONFIG_STR_MAX]; /* REDIS_CLUSTER_NODES: host:port[,...] seeds. */

    /* View analytics (docs/analytics.md). */
    int analytics;           /* ANALYTICS: count product views in Redis. */
    int analytics_flush_ms;  /* ANALYTICS_FLUSH_MS: a loop sends its views at least this often. */
    int analytics_batch_max; /* ANALYTICS_BATCH_MAX: views a loop holds before sending at once. */
    /* Rate limiting (docs/rate-limiting.md); the run-time copy is core/rate_limit's. */
    int rate_limit;                     /* RATE_LIMIT: limit product reads and writes. */
    char rate_limit_algorithm_name[32]; /* RATE_LIMIT_ALGORITHM: fixed-window, sliding-log... */
    int rate_limit_algorithm;           /* The same as a config_rate_algorithm_t (derived). */
    int rate_limit_window_seconds;      /* RATE_LIMIT_WINDOW_SECONDS: the window of every limit. */
    int rate_limit_reads;               /* RATE_LIMIT_READS: reads per window and address. */
    int rate_limit_writes;              /* RATE_LIMIT_WRITES: writes per window and address. */
    int rate_limit_key_reads;           /* RATE_LIMIT_KEY_READS: reads per window and API key. */
    int rate_limit_key_writes;          /* RATE_LIMIT_KEY_WRITES: writes per window and API key. */
    int rate_limit_fail_closed;         /* RATE_LIMIT_FAIL_CLOSED: 503 when Redis cannot answer. */
    char trusted_proxies[CONFIG_STR_MAX]; /* TRUSTED_PROXIES: addresses/CIDRs sending XFF. */
    char api_keys[CONFIG_STR_MAX];        /* API_KEYS: comma-separated keys X-API-Key accepts. */

    /* Redis Sentinel; both empty: one server at REDIS_URL. */
    char redis_sentinels[CONFIG_STR_MAX]; /* REDIS_SENTINELS: host:port[,host:port...]. */
    char redis_sentinel_master[128];      /* REDIS_SENTINEL_MASTER: the monitored master's name. */

    /* Derived from redis_url by validation. */
    char redis_host[256];     /* Host name or address. */
    int redis_port;           /* TCP port. */
    char redis_password[256]; /* Empty when none. */
    int redis_db;             /* Database number selected after connecting. */

    /* Derived from redis_sentinels by validation; 0 sentinels means one server at REDIS_URL. */
    int redis_sentinel_count;                                 /* Entries of redis_sentinel_addrs. */
    config_addr_t redis_sentinel_addrs[CONFIG_MAX_SENTINELS]; /* In the order given. */
    /* Derived from redis_cluster_nodes: the seed nodes of a Redis Cluster (none: one server). */
    struct {
        char host[64]; /* Address. */
        int port;      /* TCP port. */
    } redis_cluster_seeds[CONFIG_CLUSTER_SEEDS_MAX];
    int redis_cluster_nseeds; /* How many; 0 = REDIS_URL's single server. */
    /* The read replica. */
    char database_replica_url[CONFIG_STR_MAX]; /* DATABASE_REPLICA_URL: for reads; "" = none. */
    int replica_guard; /* REPLICA_GUARD: refuse fills older than the newest write (lab). */
    /* Cache warming (docs/cache-warming.md). */
    char cache_warm[32]; /* CACHE_WARM: none, all or top:N, warmed at start-up. */
    int warm_kind;       /* The same as a config_warm_kind_t (derived). */
    int warm_top;        /* N of top:N (derived; 0 otherwise). */
    int cache_warm_rate; /* CACHE_WARM_RATE: products a warm considers per second at most. */
} config_t;

/* How writes reach the cache (CACHE_WRITE_MODE). */
typedef enum {
    CONFIG_WRITE_INVALIDATE = 0, /* Commit, then delete the key; the next read fills it. */
    CONFIG_WRITE_THROUGH,        /* Commit, then store the new value. */
    CONFIG_WRITE_BEHIND          /* Queue in a Redis Stream and update the cache; apply later. */
} config_write_mode_t;

/* The rate-limiting algorithms (RATE_LIMIT_ALGORITHM), each one Lua script (cache/rate_limiter). */
typedef enum {
    CONFIG_RATE_FIXED_WINDOW = 0, /* A counter per calendar window. */
    CONFIG_RATE_SLIDING_LOG,      /* A sorted set of the window's request times. */
    CONFIG_RATE_SLIDING_WINDOW,   /* This window's and the last window's counters, weighted. */
    CONFIG_RATE_TOKEN_BUCKET,     /* Tokens refilled at limit/window, up to limit. */
    CONFIG_RATE_ALGORITHMS        /* How many there are. */
} config_rate_algorithm_t;

/* The name of an algorithm as RATE_LIMIT_ALGORITHM spells it ("fixed-window", ...). */
const char *config_rate_algorithm_name(int algorithm);

/* The algorithm named by text (len bytes); -1 when none is. */
int config_rate_algorithm_parse(const char *text, size_t len);

/* What a cache warm fills (CACHE_WARM, and the body of POST /cache/warm). */
typedef enum {
    CONFIG_WARM_NONE = 0, /* Nothing: the cache fills as lookups miss. */
    CONFIG_WARM_ALL,      /* Every product, in id order. */
    CONFIG_WARM_TOP       /* The N products with the most views (the analytics leaderboard). */
} config_warm_kind_t;

/* The largest N of top:N: the analytics leaderboard reads at most this many products. */
#define CONFIG_WARM_TOP_MAX 100
/* The largest CACHE_WARM_RATE. */
#define CONFIG_WARM_RATE_MAX 100000

/*
 * Parses a warm mode as CACHE_WARM spells it (len bytes, not NUL-terminated): "none", "all" or
 * "top:N" with N in 1..CONFIG_WARM_TOP_MAX, no spaces or signs. Returns 0 with *kind and *top (0
 * but for top:N) set, or -1.
 */
int config_warm_parse(const char *text, size_t len, int *kind, int *top);

/* The name of a write mode as CACHE_WRITE_MODE spells it ("invalidate", "write-through", ...). */
const char *config_write_mode_name(int mode);

/* A function that looks up an environment variable, like getenv(3). */
typedef const char *(*config_getenv_fn)(const char *name);

/*
 * Fills *cfg from defaults, then env (usually getenv), then argv (argv[0] is the program name; the
 * first non-flag word is the command). Returns 0 on success, or -1 with a one-line reason naming
 * the setting in err. Does not print anything and does not exit.
 */
int config_load(config_t *cfg, int argc, char *const *argv, config_getenv_fn env, char *err,
                size_t errlen);

/* Writes the usage text, including every setting with its default, to a stdio stream. */
void config_usage(void *stream);

#endif
