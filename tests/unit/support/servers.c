/*
 * servers — see servers.h.
 *
 * The servers are started and stopped by scripts/services.sh, the same script the integration
 * tests and `make run` use, so there is one way to run them. CACHEME_SOURCE_DIR (set by the
 * Makefile) is the source tree, where the script is found whatever the current directory.
 */
#include "support/servers.h"

#include "core/log.h"
#include "store/migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CACHEME_SOURCE_DIR
#error "CACHEME_SOURCE_DIR must name the source tree (the Makefile sets it)"
#endif

static const char services_sh[] = CACHEME_SOURCE_DIR "/scripts/services.sh";

/* Runs services.sh with up to three arguments; returns the first line it printed as a number. */
static long services(const char *cmd, const char *a1, const char *a2, const char *a3)
{
    int out[2];
    if (pipe(out) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        const char *argv[] = {services_sh, cmd, a1, a2, a3, NULL};
        execv(services_sh, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    char buf[64] = "";
    size_t used = 0;
    ssize_t n;
    while ((n = read(out[0], buf + used, sizeof buf - 1 - used)) > 0 || (n < 0 && errno == EINTR))
        used += n > 0 ? (size_t)n : 0;
    close(out[0]);
    buf[used] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "servers: services.sh %s %s failed\n", cmd, a1 ? a1 : "");
        return -1;
    }
    return strtol(buf, NULL, 10);
}

int servers_free_port(void)
{
    long port = services("free-port", NULL, NULL, NULL);
    return port > 0 && port < 32768 ? (int)port : -1;
}

/*
 * The watchdog: a shell, in a session of its own (so that a ^C or a timeout that kills the test's
 * process group does not kill it first), reading its stdin until the test program's end of the
 * pipe closes. Only async-signal-safe calls run between fork and exec.
 */
static int watchdog_start(servers_t *s)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    static const char script[] = "cat >/dev/null\n"
                                 "\"$0\" pg-stop \"$1\" immediate >/dev/null\n"
                                 "\"$0\" redis-stop \"$2\" >/dev/null\n"
                                 "rm -rf -- \"$3\"\n";
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        setsid();
        dup2(p[0], STDIN_FILENO);
        close(p[0]);
        close(p[1]);
        const char *argv[] = {"/bin/sh", "-c",         script, services_sh,
                              s->pg_dir, s->redis_dir, s->dir, NULL};
        execv("/bin/sh", (char *const *)argv);
        _exit(127);
    }
    close(p[0]);
    /* The test's own children (services.sh) must not keep the pipe open after it ends. */
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    s->watchdog = pid;
    s->watchdog_fd = p[1];
    return 0;
}

int servers_start(servers_t *s, int which)
{
    memset(s, 0, sizeof *s);
    s->watchdog_fd = -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/cacheme-unit.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(s->dir) == NULL) {
        perror("servers: mkdtemp");
        return -1;
    }
    /* When we are root, PostgreSQL runs as the postgres OS user, which must be able to enter. */
    chmod(s->dir, 0711);
    snprintf(s->pg_dir, sizeof s->pg_dir, "%s/pg", s->dir);
    snprintf(s->redis_dir, sizeof s->redis_dir, "%s/redis", s->dir);
    if (watchdog_start(s) != 0) {
        perror("servers: watchdog");
        return -1;
    }
    if (which & SERVERS_REDIS) {
        char port[16];
        s->redis_port = servers_free_port();
        snprintf(port, sizeof port, "%d", s->redis_port);
        if (s->redis_port < 0 || services("redis-start", s->redis_dir, port, NULL) <= 0)
            return -1;
        snprintf(s->redis_url, sizeof s->redis_url, "redis://127.0.0.1:%d", s->redis_port);
    }
    if (which & SERVERS_PG) {
        setenv("CACHEME_PG_FAST", "1", 0); /* A throwaway cluster needs no durability. */
        s->pg_port = servers_free_port();
        if (s->pg_port < 0 || services("pg-init", s->pg_dir, NULL, NULL) < 0 ||
            servers_pg_start(s) != 0)
            return -1;
        snprintf(s->database_url, sizeof s->database_url,
                 "postgresql://cacheme@127.0.0.1:%d/cacheme", s->pg_port);
        config_t cfg;
        if (servers_config(s, &cfg, NULL) != 0 || migrate_run(&cfg) != 0)
            return -1;
    }
    return 0;
}

void servers_stop(servers_t *s)
{
    if (s->pg != NULL)
        PQfinish(s->pg);
    if (s->redis != NULL)
        redisFree(s->redis);
    s->pg = NULL;
    s->redis = NULL;
    if (s->watchdog_fd >= 0)
        close(s->watchdog_fd);
    s->watchdog_fd = -1;
    if (s->watchdog > 0) {
        while (waitpid(s->watchdog, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    s->watchdog = 0;
}

int servers_pg_stop(servers_t *s)
{
    if (s->pg != NULL)
        PQfinish(s->pg);
    s->pg = NULL;
    return services("pg-stop", s->pg_dir, "fast", NULL) < 0 ? -1 : 0;
}

int servers_pg_start(servers_t *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->pg_port);
    return services("pg-start", s->pg_dir, port, NULL) > 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- configuration --- */

/* config_load takes a getenv-like function without an argument: the list it reads is kept here. */
static const char *const *config_env;
static const servers_t *config_servers;

static const char *lookup_env(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = config_env; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    if (strcmp(name, "DATABASE_URL") == 0 && config_servers->database_url[0])
        return config_servers->database_url;
    if (strcmp(name, "REDIS_URL") == 0 && config_servers->redis_url[0])
        return config_servers->redis_url;
    if (strcmp(name, "LOG_LEVEL") == 0)
        return "warn";
    return NULL;
}

int servers_config(const servers_t *s, config_t *cfg, const char *const *env)
{
    char *argv[] = {"cacheme-unit-test", NULL};
    char err[256];
    config_env = env;
    config_servers = s;
    int rc = config_load(cfg, 1, argv, lookup_env, err, sizeof err);
    config_env = NULL;
    config_servers = NULL;
    if (rc != 0) {
        fprintf(stderr, "servers: configuration: %s\n", err);
        return rc;
    }
    /* As main does: the code under test logs its warnings (a lost connection...), no more. */
    log_set_level((log_level_t)cfg->log_level);
    return 0;
}

/* ---------------------------------------------------------------- control connections --- */

PGresult *servers_sql(servers_t *s, const char *sql)
{
    if (s->pg == NULL || PQstatus(s->pg) != CONNECTION_OK) {
        if (s->pg != NULL)
            PQfinish(s->pg);
        s->pg = PQconnectdb(s->database_url);
        if (PQstatus(s->pg) != CONNECTION_OK) {
            fprintf(stderr, "servers: cannot connect to PostgreSQL: %s", PQerrorMessage(s->pg));
            abort();
        }
    }
    PGresult *res = PQexec(s->pg, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        fprintf(stderr, "servers: %s: %s", sql, PQerrorMessage(s->pg));
        abort();
    }
    return res;
}

long long servers_sql_int(servers_t *s, const char *sql)
{
    PGresult *res = servers_sql(s, sql);
    long long v = 0;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

redisReply *servers_redis_cmd(servers_t *s, const char *fmt, ...)
{
    if (s->redis == NULL) {
        s->redis = redisConnect("127.0.0.1", s->redis_port);
        if (s->redis == NULL || s->redis->err) {
            fprintf(stderr, "servers: cannot connect to Redis\n");
            abort();
        }
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *reply = redisvCommand(s->redis, fmt, ap);
    va_end(ap);
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "servers: Redis %s: %s\n", fmt, reply ? reply->str : s->redis->errstr);
        abort();
    }
    return reply;
}

long long servers_redis_info(servers_t *s, const char *section, const char *name)
{
    redisReply *reply = servers_redis_cmd(s, "INFO %s", section);
    size_t n = strlen(name);
    const char *line = reply->str;
    while (line != NULL) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            long long v = strtoll(line + n + 1, NULL, 10);
            freeReplyObject(reply);
            return v;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    fprintf(stderr, "servers: INFO %s has no %s\n", section, name);
    abort();
}
