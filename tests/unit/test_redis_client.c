/*
 * Tests of redis_client's hung-connection detection against a server that accepts connections and
 * never answers (a Redis stopped mid-flight, as far as a client can tell): a burst of commands on
 * a connection that was merely quiet before is not a hung Redis, and a connection that stays
 * silent while commands wait is dropped and made again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "store/redis_client.h"
#include "support/loop_wait.h"
#include "support/servers.h"

/* The service's default: a connection silent for 4 deadlines (1 s) while commands wait is hung, so
 * a test here would need the loop delayed by 750 ms to see a drop it should not. */
#define TIMEOUT_MS 250
#define MAX_CONNS 8

/* A server that accepts and keeps every connection, reading nothing and answering nothing. */
typedef struct {
    int fd;               /* Listening socket. */
    int port;             /* Its port. */
    int conns[MAX_CONNS]; /* Accepted connections. */
    int accepted;         /* Their number. */
    struct event *ev;     /* Accepts. */
} silent_t;

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    silent_t *s = arg;
    int c = accept(fd, NULL, NULL);
    if (c < 0)
        return;
    if (s->accepted < MAX_CONNS)
        s->conns[s->accepted++] = c;
    else
        close(c);
}

static void silent_start(silent_t *s, struct event_base *base)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->port = servers_free_port();
    assert_true(s->port > 0);
    addr.sin_port = htons((uint16_t)s->port);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST, on_accept, s);
    assert_non_null(s->ev);
    event_add(s->ev, NULL);
}

static void silent_stop(silent_t *s)
{
    event_free(s->ev);
    for (int i = 0; i < s->accepted; i++)
        close(s->conns[i]);
    close(s->fd);
}

typedef struct {
    struct event_base *base;
    config_t cfg;
    redis_client_t *client;
    silent_t server;
} fixture_t;

static int connected(void *arg)
{
    char buf[64];
    return redis_client_address(arg, buf, sizeof buf) == 0;
}

static void fixture_open(fixture_t *f)
{
    f->base = event_base_new();
    assert_non_null(f->base);
    silent_start(&f->server, f->base);
    char url[64], timeout[64];
    snprintf(url, sizeof url, "REDIS_URL=redis://127.0.0.1:%d/0", f->server.port);
    snprintf(timeout, sizeof timeout, "REDIS_TIMEOUT_MS=%d", TIMEOUT_MS);
    const char *env[] = {url, timeout, NULL};
    static const servers_t none; /* No servers of its own: the URL above is the silent one. */
    assert_int_equal(servers_config(&none, &f->cfg, env), 0);
    assert_int_equal(redis_client_new(f->base, &f->cfg, &f->client), 0);
    assert_int_equal(loop_wait(f->base, connected, f->client, LOOP_WAIT_HANG_MS), 0);
}

static void fixture_close(fixture_t *f)
{
    redis_client_free(f->client);
    silent_stop(&f->server);
    event_base_free(f->base);
}

typedef struct {
    int answered;
    int timeouts;
} tally_t;

static void on_answer(int status, redisReply *reply, void *arg)
{
    (void)reply;
    tally_t *t = arg;
    t->answered++;
    t->timeouts += status == REDIS_CLIENT_ETIMEOUT;
}

static int send_get(fixture_t *f, tally_t *t)
{
    const char *argv[] = {"GET", "k"};
    const size_t lens[] = {3, 1};
    return redis_client_command(f->client, on_answer, t, 2, argv, lens);
}

typedef struct {
    tally_t *tally;
    int want;
} answered_t;

static int all_answered(void *arg)
{
    const answered_t *a = arg;
    return a->tally->answered >= a->want;
}

/* Runs the loop for ms: the scenario needs a connection that has been quiet for that long. */
static void stay_quiet(fixture_t *f, int ms)
{
    struct timeval tv = clock_ms_to_tv(ms);
    assert_int_equal(event_base_loopexit(f->base, &tv), 0);
    assert_int_equal(event_base_dispatch(f->base), 0);
}

/*
 * Connected, then quiet for six deadlines; then 8 commands at once, all past their deadline: the
 * silence while they waited is one deadline, not several, so the connection stays.
 */
static void test_burst_after_quiet_is_not_a_hung_redis(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f);
    stay_quiet(&f, 6 * TIMEOUT_MS);
    tally_t t = {0, 0};
    for (int i = 0; i < 8; i++)
        assert_int_equal(send_get(&f, &t), 0);
    answered_t all = {&t, 8};
    assert_int_equal(loop_wait(f.base, all_answered, &all, LOOP_WAIT_HANG_MS), 0);
    assert_int_equal(t.timeouts, 8);
    assert_int_equal(connected(f.client), 1);
    assert_int_equal(f.server.accepted, 1);
    fixture_close(&f);
}

typedef struct {
    fixture_t *f;
    tally_t *tally;
    int sent;
} pester_t;

/* Keeps one command waiting at all times until the client has connected a second time. */
static int reconnected(void *arg)
{
    pester_t *p = arg;
    if (p->f->server.accepted >= 2)
        return 1;
    if (p->sent == p->tally->answered && send_get(p->f, p->tally) == 0)
        p->sent++;
    return 0;
}

/* Commands keep waiting on a silent connection: after several deadlines it is dropped and made
 * again. */
static void test_silent_connection_is_dropped_and_made_again(void **state)
{
    (void)state;
    fixture_t f;
    fixture_open(&f);
    tally_t t = {0, 0};
    pester_t p = {&f, &t, 0};
    assert_int_equal(loop_wait(f.base, reconnected, &p, LOOP_WAIT_HANG_MS), 0);
    /* Dropped only after the eighth deadline in a row. */
    assert_true(t.timeouts >= 8);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_after_quiet_is_not_a_hung_redis),
        cmocka_unit_test(test_silent_connection_is_dropped_and_made_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
