/*
 * Tests of the HTTP layer's routing (http.h) through a real evhttp server: route matching is
 * private to http.c, so the test starts a server with a route table of its own on a free port
 * below 32768, runs its loop on a thread, and talks raw HTTP/1.1 to it over a socket: "{id}"
 * segments, a final "{file*}" segment, 404 for an unknown path, 405 with Allow for a known path
 * and a wrong method, and the 307 from a trailing slash to the route without it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/http.h"
#include "support/servers.h"

/* Every handler answers {"handler": its name, "param": the route's decoded segment}. */
static void reply_with(http_req_t *r, const char *handler)
{
    size_t len;
    const char *param = http_req_param(r, &len);
    json_t *o = json_pack("{s:s, s:s%}", "handler", handler, "param", param, len);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text != NULL)
        http_reply_json(r, 200, text, strlen(text));
    else
        http_reply_error(r, 503, "Service Unavailable");
    free(text);
    json_decref(o);
}

static void on_health(http_req_t *r)
{
    reply_with(r, "health");
}

static void on_products(http_req_t *r)
{
    reply_with(r, "products");
}

static void on_product(http_req_t *r)
{
    reply_with(r, "product");
}

static void on_stock(http_req_t *r)
{
    reply_with(r, "stock");
}

static void on_docs(http_req_t *r)
{
    reply_with(r, "docs");
}

static const http_route_t routes[] = {
    {"/health", HTTP_GET, on_health, NULL},
    {"/products", HTTP_GET | HTTP_POST, on_products, NULL},
    {"/products/{id}", HTTP_GET | HTTP_PUT | HTTP_PATCH | HTTP_DELETE, on_product, NULL},
    {"/products/{id}/stock", HTTP_GET, on_stock, NULL},
    {"/docs/{file*}", HTTP_GET, on_docs, NULL},
};

typedef struct {
    config_t cfg;
    struct event_base *base;
    http_server_t *server;
    evutil_socket_t fd;
    int port;
    pthread_t thread;
} fixture_t;

static void *run_loop(void *arg)
{
    fixture_t *f = arg;
    event_base_dispatch(f->base);
    return NULL;
}

static int group_setup(void **state)
{
    static fixture_t f;
    static servers_t none; /* No servers: only the configuration's defaults. */
    if (evthread_use_pthreads() != 0 || servers_config(&none, &f.cfg, NULL) != 0)
        return -1;
    f.port = servers_free_port();
    f.fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(f.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f.port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (f.port < 0 || f.fd < 0 || bind(f.fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        listen(f.fd, 16) != 0 || evutil_make_socket_nonblocking(f.fd) != 0)
        return -1;
    f.base = event_base_new();
    if (f.base == NULL ||
        http_server_new(f.base, f.fd, &f.cfg, routes, (int)(sizeof routes / sizeof routes[0]), NULL,
                        &f.server) != 0 ||
        pthread_create(&f.thread, NULL, run_loop, &f) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture_t *f = *state;
    event_base_loopbreak(f->base); /* Wakes the loop's thread (evthread_use_pthreads). */
    pthread_join(f->thread, NULL);
    http_server_free(f->server);
    event_base_free(f->base);
    close(f->fd);
    return 0;
}

/* A response, read whole: the server closes the connection after it (Connection: close). */
typedef struct {
    int status;
    char head[4096]; /* Status line and headers. */
    char body[4096]; /* Body, NUL-terminated. */
    size_t body_len;
} response_t;

static void request(const fixture_t *f, const char *method, const char *target, response_t *res)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    /* Only a hang detector: the answer comes at once. */
    struct timeval limit = {20, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
                     method, target);
    assert_int_equal(write(fd, req, (size_t)n), n);
    static char buf[16384];
    size_t used = 0;
    ssize_t got;
    while ((got = read(fd, buf + used, sizeof buf - 1 - used)) > 0)
        used += (size_t)got;
    assert_true(got == 0); /* The end of the response, not the time limit. */
    close(fd);
    buf[used] = '\0';
    const char *end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    size_t head_len = (size_t)(end - buf) + 2;
    assert_true(head_len < sizeof res->head);
    memcpy(res->head, buf, head_len);
    res->head[head_len] = '\0';
    res->body_len = used - head_len - 2;
    assert_true(res->body_len < sizeof res->body);
    memcpy(res->body, end + 4, res->body_len);
    res->body[res->body_len] = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d ", &res->status), 1);
}

/* The value of header name in res, or NULL (a static buffer). */
static const char *header(const response_t *res, const char *name)
{
    static char value[512];
    char needle[128];
    snprintf(needle, sizeof needle, "\r\n%s: ", name);
    const char *at = strcasestr(res->head, needle);
    if (at == NULL)
        return NULL;
    at += strlen(needle);
    size_t n = strcspn(at, "\r\n");
    snprintf(value, sizeof value, "%.*s", (int)n, at);
    return value;
}

/* Asserts a 200 from handler with param. */
static void assert_routed(const fixture_t *f, const char *method, const char *target,
                          const char *handler, const char *param, size_t param_len)
{
    response_t res;
    request(f, method, target, &res);
    assert_int_equal(res.status, 200);
    json_error_t jerr;
    json_t *o = json_loadb(res.body, res.body_len, JSON_ALLOW_NUL, &jerr);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "handler")), handler);
    const json_t *p = json_object_get(o, "param");
    assert_int_equal(json_string_length(p), param_len);
    assert_memory_equal(json_string_value(p), param, param_len);
    json_decref(o);
}

/* Asserts an error answer: status, the API's error shape, and the Allow header (NULL: none). */
static void assert_error(const fixture_t *f, const char *method, const char *target, int status,
                         const char *detail, const char *allow)
{
    response_t res;
    request(f, method, target, &res);
    assert_int_equal(res.status, status);
    char want[128];
    snprintf(want, sizeof want, "{\"detail\":\"%s\"}", detail);
    json_error_t jerr;
    json_t *got = json_loadb(res.body, res.body_len, 0, &jerr);
    json_t *expected = json_loads(want, 0, &jerr);
    assert_true(json_equal(got, expected));
    json_decref(got);
    json_decref(expected);
    if (allow == NULL)
        assert_null(header(&res, "Allow"));
    else
        assert_string_equal(header(&res, "Allow"), allow);
}

/* Asserts a 307 to location, with no body. */
static void assert_redirect(const fixture_t *f, const char *target, const char *location)
{
    response_t res;
    request(f, "GET", target, &res);
    assert_int_equal(res.status, 307);
    assert_non_null(header(&res, "Location"));
    assert_string_equal(header(&res, "Location"), location);
}

/* A "{id}" segment matches one segment, of any text, decoded after matching. */
static void test_id_segments(void **state)
{
    const fixture_t *f = *state;
    assert_routed(f, "GET", "/products/42", "product", "42", 2);
    assert_routed(f, "PUT", "/products/42", "product", "42", 2);
    assert_routed(f, "GET", "/products/abc", "product", "abc", 3);
    /* An encoded slash stays inside the segment; %00 is a byte of it, not its end. */
    assert_routed(f, "GET", "/products/a%2Fb", "product", "a/b", 3);
    assert_routed(f, "GET", "/products/1%00x", "product", "1\0x", 3);
    /* A longer pattern after the segment is a route of its own. */
    assert_routed(f, "GET", "/products/42/stock", "stock", "42", 2);
    /* Without a segment the shorter route answers; the query is not part of the path. */
    assert_routed(f, "GET", "/products?limit=5", "products", "", 0);
    /* A final "{file*}" takes the rest of the path, slashes included, even nothing. */
    assert_routed(f, "GET", "/docs/a/b/c.js", "docs", "a/b/c.js", 8);
    assert_routed(f, "GET", "/docs/", "docs", "", 0);
}

/* A path no route matches is 404, without Allow; a known path with a wrong method is 405. */
static void test_not_found_and_method_not_allowed(void **state)
{
    const fixture_t *f = *state;
    assert_error(f, "GET", "/nowhere", 404, "Not Found", NULL);
    assert_error(f, "GET", "/products/42/price", 404, "Not Found", NULL);
    assert_error(f, "GET", "/productsX", 404, "Not Found", NULL);
    assert_error(f, "DELETE", "/nowhere", 404, "Not Found", NULL);
    /* Allow lists the path's methods (HEAD with GET) and OPTIONS. */
    assert_error(f, "DELETE", "/health", 405, "Method Not Allowed", "GET, HEAD, OPTIONS");
    assert_error(f, "POST", "/products/42", 405, "Method Not Allowed",
                 "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
    assert_error(f, "PUT", "/products", 405, "Method Not Allowed", "GET, HEAD, POST, OPTIONS");
    assert_error(f, "DELETE", "/products/42/stock", 405, "Method Not Allowed",
                 "GET, HEAD, OPTIONS");
}

/* HEAD is served wherever GET is: the same status and headers, no body. */
static void test_head_is_get_without_a_body(void **state)
{
    const fixture_t *f = *state;
    response_t res;
    request(f, "HEAD", "/products/42", &res);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body_len, 0);
    assert_non_null(header(&res, "Content-Length"));
    assert_true(atoi(header(&res, "Content-Length")) > 0);
}

/*
 * A path that matches a route only without its trailing slash is redirected there with 307, its
 * query kept; a path that matches nothing either way stays a 404, and "//" never redirects (the
 * Location would name another host).
 */
static void test_trailing_slash_redirects(void **state)
{
    const fixture_t *f = *state;
    assert_redirect(f, "/products/", "/products");
    assert_redirect(f, "/products/?limit=5&offset=1", "/products?limit=5&offset=1");
    assert_redirect(f, "/health/", "/health");
    assert_redirect(f, "/products/42/", "/products/42");
    assert_redirect(f, "/products/42/stock/", "/products/42/stock");
    assert_error(f, "GET", "/nowhere/", 404, "Not Found", NULL);
    assert_error(f, "GET", "//evil.example/", 404, "Not Found", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_segments),
        cmocka_unit_test(test_not_found_and_method_not_allowed),
        cmocka_unit_test(test_head_is_get_without_a_body),
        cmocka_unit_test(test_trailing_slash_redirects),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
