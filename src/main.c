/*
 * main — reads the configuration, then either migrates or serves: opens the listening socket,
 * starts one worker per loop, waits for SIGINT/SIGTERM, drains the workers and exits 0.
 */
#include "api.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DRAIN_MS 4000 /* Leaves a margin inside the 5 s a stop may take. */
#define MAX_WORKERS 64

/* Opens a listening TCP socket on host:port. Returns the fd or -1 after logging why. */
static evutil_socket_t open_listener(const config_t *cfg)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", cfg->port);
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
            log_error("port %d on %s is already in use; choose another with PORT=<port> or "
                      "--port <port>",
                      cfg->port, cfg->host);
        else
            log_error("cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(err));
        return -1;
    }
    evutil_make_socket_nonblocking(fd);
    return fd;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    event_base_loopbreak(arg);
}

static int serve(const config_t *cfg)
{
    if (evthread_use_pthreads() != 0) {
        log_error("libevent has no thread support");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    evutil_socket_t fd = open_listener(cfg);
    if (fd < 0)
        return 1;

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
        if (worker_start(started, cfg, fd, &workers[started]) != 0)
            break;
    }
    int rc = 0;
    if (started < cfg->workers) {
        log_error("could not start worker %d", started);
        rc = 1;
    } else {
        log_info("cacheme %s listening on http://%s:%d (%d workers, redis %s:%d)", CACHEME_VERSION,
                 cfg->host, cfg->port, cfg->workers, cfg->redis_host, cfg->redis_port);
        event_base_dispatch(base);
    }

    for (int i = 0; i < started; i++)
        worker_stop(workers[i], DRAIN_MS);
    for (int i = 0; i < started; i++)
        worker_join(workers[i]);
    evutil_closesocket(fd);
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
    config_t cfg;
    char err[512];
    if (config_load(&cfg, argc, argv, env_lookup, err, sizeof err) != 0) {
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
    case CONFIG_CMD_MIGRATE:
        log_set_level((log_level_t)cfg.log_level);
        return migrate_run(&cfg) == 0 ? 0 : 1;
    case CONFIG_CMD_SERVE:
        break;
    }
    log_set_level((log_level_t)cfg.log_level);
    return serve(&cfg);
}
