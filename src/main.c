/*
 * main — reads the configuration, then either migrates or serves: opens the listening socket,
 * starts one worker per loop, waits for SIGINT/SIGTERM, drains the workers and exits 0.
 */
#include "api/api.h"
#include "server/bench_exec.h"
#include "core/config.h"
#include "core/lab.h"
#include "core/rate_limit.h"
#include "model/rate_policy.h"
#include "core/metrics.h"
#include "core/log.h"
#include "store/migrate.h"
#include "store/pg_budget.h"
#include "http/static_files.h"
#include "server/worker.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DRAIN_MS 4000 /* Leaves a margin inside the 5 s a stop may take. */
#define MAX_WORKERS 64

/*
 * Opens a listening TCP socket on cfg->host:port. setting names the port's setting for the message
 * when the port is taken. Returns the fd or -1 after logging why.
 */
static evutil_socket_t open_listener(const config_t *cfg, int port_number, const char *setting)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", port_number);
    int gai = getaddrinfo(cfg->host, port, &hints, &res);
    if (gai != 0) {
        log_error("HOST %s: %s", cfg->host, gai_strerror(gai));
        return -1;
    }
    evutil_socket_t fd = -1;
    int err = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (err == EADDRINUSE)
            log_error("port %d on %s is already in use; choose another with %s=<port>", port_number,
                      cfg->host, setting);
        else
            log_error("cannot listen on %s:%d: %s", cfg->host, port_number, strerror(err));
        return -1;
    }
    evutil_make_socket_nonblocking(fd);
    return fd;
}

/*
 * Raises the open-file limit to its hard maximum: every connection is a file descriptor, and the
 * usual soft limit (1024) is below the default MAX_CONNECTIONS.
 */
static void raise_fd_limit(const config_t *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Each loop also holds a Redis and PG_POOL_SIZE PostgreSQL connections, plus a few internals.
     */
    rlim_t needed =
        (rlim_t)cfg->max_connections + (rlim_t)cfg->workers * (rlim_t)(cfg->pg_pool_size + 8) + 32;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed)
        log_warn("the open-file limit (%llu) is below what MAX_CONNECTIONS=%d needs (%llu); "
                 "connections beyond it will wait or fail",
                 (unsigned long long)rl.rlim_cur, cfg->max_connections, (unsigned long long)needed);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(arg);
}

/*
 * Loads the dashboard, Swagger UI and ReDoc files; any may be missing (logged, served as errors).
 * The caller frees the three sets after the workers are gone.
 */
static void load_files(const config_t *cfg, worker_env_t *env, static_files_t **ui,
                       static_files_t **swagger, static_files_t **redoc)
{
    static const char *const swagger_files[] = {"swagger-ui.css", "swagger-ui-bundle.js",
                                                "favicon-32x32.png", "favicon-16x16.png", NULL};
    static const char *const redoc_files[] = {"redoc.standalone.js", NULL};
    char err[512];
    *ui = NULL;
    *swagger = NULL;
    *redoc = NULL;
    if (cfg->ui_port != 0) {
        if (static_files_load(cfg->ui_dir, NULL, 64u << 20, ui, err, sizeof err) == 0)
            log_info("dashboard: %zu files (%zu bytes) from %s", static_files_count(*ui),
                     static_files_bytes(*ui), cfg->ui_dir);
        else
            log_warn("dashboard not available (%s): build it with `npm ci && npm run build` in "
                     "web/ or set UI_DIR",
                     err);
    }
    if (static_files_load(cfg->swagger_ui_dir, swagger_files, 64u << 20, swagger, err,
                          sizeof err) != 0)
        log_warn("/docs assets not available (%s): run `npm ci` in web/ or set SWAGGER_UI_DIR",
                 err);
    if (static_files_load(cfg->redoc_dir, redoc_files, 64u << 20, redoc, err, sizeof err) != 0)
        log_warn("/redoc assets not available (%s): run `npm ci` in web/ or set REDOC_DIR", err);
    env->ui = *ui;
    env->swagger = *swagger;
    env->redoc = *redoc;
}

static int serve(const config_t *cfg)
{
    if (evthread_use_pthreads() != 0) {
        log_error("libevent has no thread support");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(cfg);
    pg_budget_check(cfg);
    lab_init(cfg);
    rate_limit_init(cfg);
    const char *labels[METRICS_MAX_ROUTES];
    int nlabels = 0;
    for (int i = 0; i < api_route_count && nlabels < METRICS_MAX_ROUTES; i++)
        labels[nlabels++] = api_routes[i].pattern;
    metrics_set_routes(labels, nlabels);
    worker_env_t env = {.cfg = cfg, .api_fd = -1, .ui_fd = -1};
    env.api_fd = open_listener(cfg, cfg->port, "PORT");
    if (env.api_fd < 0)
        return 1;
    if (cfg->ui_port != 0) {
        env.ui_fd = open_listener(cfg, cfg->ui_port, "UI_PORT (0 turns the dashboard off)");
        if (env.ui_fd < 0) {
            evutil_closesocket(env.api_fd);
            return 1;
        }
    }
    static_files_t *ui, *swagger, *redoc;
    load_files(cfg, &env, &ui, &swagger, &redoc);

    struct event_base *base = event_base_new();
    struct event *sigint = base ? evsignal_new(base, SIGINT, on_signal, base) : NULL;
    struct event *sigterm = base ? evsignal_new(base, SIGTERM, on_signal, base) : NULL;
    if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) || event_add(sigterm, NULL)) {
        log_error("cannot set up signal handling");
        return 1;
    }

    worker_t *workers[MAX_WORKERS];
    int started = 0;
    for (; started < cfg->workers; started++) {
        if (worker_start(started, &env, &workers[started]) != 0)
            break;
    }
    int rc = 0;
    if (started < cfg->workers) {
        log_error("could not start worker %d", started);
        rc = 1;
    } else {
        if (cfg->redis_sentinel_count > 0)
            log_info("cacheme %s listening on http://%s:%d (%d workers, redis master %s through "
                     "%d sentinels)",
                     CACHEME_VERSION, cfg->host, cfg->port, cfg->workers,
                     cfg->redis_sentinel_master, cfg->redis_sentinel_count);
        else
            log_info("cacheme %s listening on http://%s:%d (%d workers, redis %s:%d)",
                     CACHEME_VERSION, cfg->host, cfg->port, cfg->workers, cfg->redis_host,
                     cfg->redis_port);
        event_base_dispatch(base);
    }

    for (int i = 0; i < started; i++)
        worker_stop(workers[i], DRAIN_MS);
    for (int i = 0; i < started; i++)
        worker_join(workers[i]);
    evutil_closesocket(env.api_fd);
    if (env.ui_fd >= 0)
        evutil_closesocket(env.ui_fd);
    static_files_free(ui);
    static_files_free(swagger);
    static_files_free(redoc);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(base);
    libevent_global_shutdown();
    if (rc == 0)
        log_info("stopped");
    return rc;
}

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

int main(int argc, char **argv)
{
    /* The load generator is a program of its own, with options of its own. */
    if (argc >= 2 && strcmp(argv[1], "bench") == 0)
        return bench_exec_run(argc - 1, argv + 1);
    config_t cfg;
    char err[512];
    if (config_load(&cfg, argc, argv, env_lookup, err, sizeof err) != 0) {
        fprintf(stderr, "cacheme: %s\n", err);
        return 2;
    }
    if (rate_policy_proxies_check(cfg.trusted_proxies, err, sizeof err) != 0) {
        fprintf(stderr, "cacheme: %s\n", err);
        return 2;
    }
    switch (cfg.command) {
    case CONFIG_CMD_HELP:
        config_usage(stdout);
        return 0;
    case CONFIG_CMD_VERSION:
        printf("cacheme %s\n", CACHEME_VERSION);
        return 0;
    case CONFIG_CMD_ROUTES:
        for (int i = 0; i < api_route_count; i++) {
            const http_route_t *r = &api_routes[i];
            static const char *const names[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
            for (int b = 0; b < 5; b++) {
                if (r->methods & (1 << b))
                    printf("%s %s%s%s\n", names[b], r->pattern, r->note ? " " : "",
                           r->note ? r->note : "");
            }
        }
        return 0;
    case CONFIG_CMD_MIGRATE:
        log_set_level((log_level_t)cfg.log_level);
        return migrate_run(&cfg) == 0 ? 0 : 1;
    case CONFIG_CMD_SERVE:
        break;
    }
    log_set_level((log_level_t)cfg.log_level);
    log_format_t format = LOG_FORMAT_LOGFMT;
    log_format_parse(cfg.log_format, &format);
    log_set_format(format);
    return serve(&cfg);
}
