/*
 * servers — private PostgreSQL and Redis servers for the unit tests that need real ones, the way
 * hiredis' tests run against a redis-server of their own.
 *
 * servers_start makes a temporary directory (under TMPDIR), starts the servers asked for through
 * scripts/services.sh on free ports below 32768 (PostgreSQL from CACHEME_PG_TEMPLATE when set,
 * else initdb), and migrates the database (schema and seed). Before any server starts, it forks a
 * watchdog: a shell in a session of its own that waits for the test program to end — however it
 * ends: a clean exit, a failed assertion, a crash or a sanitizer abort all close its pipe — then
 * stops the servers by the PIDs in their pid files (services.sh pg-stop / redis-stop) and removes
 * the directory. servers_stop ends the test program's side of it and waits for the watchdog.
 *
 * The control helpers (servers_sql_*, servers_redis_*) talk to the servers with blocking clients of
 * their own, so that a test can look at what the code under test did without going through it.
 * Nothing here is thread-safe; use it from the test's main thread.
 */
#ifndef CACHEME_TEST_SERVERS_H
#define CACHEME_TEST_SERVERS_H

#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/config.h"

enum {
    SERVERS_PG = 1 << 0,   /* Start PostgreSQL (migrated: schema and seed). */
    SERVERS_REDIS = 1 << 1 /* Start Redis. */
};

typedef struct {
    char dir[256];          /* The temporary directory holding everything. */
    char pg_dir[300];       /* The PostgreSQL cluster. */
    char redis_dir[300];    /* Redis' pid file and log. */
    int pg_port;            /* PostgreSQL's port, 0 when not started. */
    int redis_port;         /* Redis' port, 0 when not started. */
    char database_url[128]; /* DATABASE_URL of the test database. */
    char redis_url[128];    /* REDIS_URL. */
    pid_t watchdog;         /* The process that stops the servers when this program ends. */
    int watchdog_fd;        /* Our end of its pipe; closing it tells the watchdog to clean up. */
    PGconn *pg;             /* Blocking control connection, opened on first use. */
    redisContext *redis;    /* Blocking control connection, opened on first use. */
} servers_t;

/* Starts the servers in which (SERVERS_* bits). Returns 0, or -1 after printing why. */
int servers_start(servers_t *s, int which);

/* A free TCP port on 127.0.0.1 below 32768 (services.sh free-port), or -1. */
int servers_free_port(void);

/* Stops every server and removes the directory (through the watchdog), then waits for it. */
void servers_stop(servers_t *s);

/* Stops PostgreSQL (fast shutdown) and waits until it is gone. Returns 0, or -1. */
int servers_pg_stop(servers_t *s);

/* Starts PostgreSQL again on the same port. Returns 0, or -1. */
int servers_pg_start(servers_t *s);

/*
 * Fills cfg with the defaults, the servers' URLs and env, a NULL-terminated list of
 * "NAME=value" settings as the environment would give them (LOG_LEVEL=warn unless env says
 * otherwise). Returns 0, or -1 after printing the reason.
 */
int servers_config(const servers_t *s, config_t *cfg, const char *const *env);

/*
 * Runs sql on the control connection and returns the integer in the first column of its first
 * row (0 for no row or NULL); aborts the test program when the statement fails, since the test
 * can then say nothing useful.
 */
long long servers_sql_int(servers_t *s, const char *sql);

/* Runs sql on the control connection; aborts the program when it fails. Returns its result. */
PGresult *servers_sql(servers_t *s, const char *sql);

/* Runs a Redis command (printf-like, as redisCommand) on the control connection; aborts on error.
 */
redisReply *servers_redis_cmd(servers_t *s, const char *fmt, ...);

/* The integer field name of INFO section (e.g. "stats", "keyspace_hits"); aborts when absent. */
long long servers_redis_info(servers_t *s, const char *section, const char *name);

#endif
