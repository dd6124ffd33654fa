/*
 * Unit tests of http_framing: well-framed requests (also fed one byte at a time and pipelined)
 * pass; every kind of ambiguous framing gets its status, and the offset of the line it is on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_framing.h"

#define HEAD_LIMIT 8192

/* Feeds text whole; returns the status. */
static int check(const char *text, uint64_t *line_start)
{
    http_framing_t f;
    http_framing_init(&f, HEAD_LIMIT);
    return http_framing_feed(&f, text, strlen(text), line_start);
}

/* Feeds text one byte at a time; returns the status. */
static int check_bytewise(const char *text, uint64_t *line_start)
{
    http_framing_t f;
    http_framing_init(&f, HEAD_LIMIT);
    int status = 0;
    for (size_t i = 0; text[i] != '\0'; i++)
        status = http_framing_feed(&f, text + i, 1, line_start);
    return status;
}

/* A chunked body of two chunks, the second with an upper-case size and leading zeros, and a
 * trailer. */
static const char chunked[] =
    "POST /products HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n00A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";

/* Pipelined: the second request is checked from its own first byte. */
static const char pipelined[] = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
                                "GET / HTTP/1.1\r\nHost: y\r\n\r\n";

static void test_well_framed(void **state)
{
    (void)state;
    const char *good[] = {
        "GET /products/1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n\n",
        "POST /products HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "POST /products HTTP/1.1\r\nHost: x\r\ncontent-length:   5  \r\n\r\nhe\rlo",
        chunked,
        "POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-Utf8: caf\xc3\xa9\t ok\r\n\r\n",
        "DELETE /cache/clear HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        pipelined,
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t at;
        assert_int_equal(check(good[i], &at), 0);
        assert_int_equal(check_bytewise(good[i], &at), 0);
    }
}

static void test_body_with_nul_is_data(void **state)
{
    (void)state;
    static const char req[] = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\0b";
    http_framing_t f;
    http_framing_init(&f, HEAD_LIMIT);
    assert_int_equal(http_framing_feed(&f, req, sizeof req - 1, NULL), 0);
}

typedef struct {
    const char *text; /* The request. */
    size_t len;       /* Its length (some contain NUL bytes). */
    int status;       /* Expected status. */
    const char *line; /* The offending line starts with this text ("" for the empty line). */
} bad_case_t;

static void test_ambiguous_framing(void **state)
{
    (void)state;
#define CASE(text, status, line)                                                                   \
    {                                                                                              \
        text, sizeof(text) - 1, status, line                                                       \
    }
    static const bad_case_t bad[] = {
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nDELETE /cache/clear",
             501, "\r\nDELETE"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
             "\r\n"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
             "\r\n"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: +25\r\n\r\n", 400, "\r\n"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "\r\n"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 0x19\r\n\r\n", 400, "\r\n"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
             "chunked\r\n\r\n",
             400, "\r\n"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n", 400,
             "Transfer-Encoding :"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x19\r\n", 400,
             "0x19"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+19\r\n", 400,
             "+19"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n", 400,
             "5;ext"),
        CASE("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400,
             "c\r\n"),
        CASE("POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "\r\n0"),
        CASE("GET / HTTP/1.1\r\n\r\n", 400, "\r\n"),
        CASE("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "\r\n"),
        CASE("HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n\r\nGET /x HTTP/1.1\r\n", 400,
             "\r\nGET"),
        CASE("TRACE / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "\r\n"),
        CASE("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\0junk\r\n\r\n", 400,
             "Authorization"),
        CASE("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\0005\r\n\r\n", 400, "Content-Length"),
        CASE("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400, "X: a"),
        CASE("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded\r\n\r\n", 400, " folded"),
        CASE("GET / HTTP/1.1\r\nHost: x\r\n: empty name\r\n\r\n", 400, ": empty"),
        CASE("GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400, "NoColon"),
        CASE("GET /a b HTTP/1.1\r\n", 400, "GET /a b"),
        CASE("GET / HTTP/1.1 extra\r\n", 400, "GET / HTTP"),
        CASE("GET / HTTP/2.0\r\n", 400, "GET / HTTP"),
        CASE("THIS IS NOT HTTP\r\n\r\n", 400, "THIS"),
        CASE("\r\nGET / HTTP/1.1\r\n", 400, "\r\nGET"),
        CASE("\x16\x03\x01\x02\x00", 400, "\x16"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *text = bad[i].text;
        size_t len = bad[i].len;
        uint64_t at = 0;
        http_framing_t f;
        http_framing_init(&f, HEAD_LIMIT);
        int status = http_framing_feed(&f, text, len, &at);
        if (status != bad[i].status)
            print_error("case %zu: %s\n", i, text);
        assert_int_equal(status, bad[i].status);
        assert_true(at <= len);
        assert_memory_equal(text + at, bad[i].line, strlen(bad[i].line));
        /* Same answer one byte at a time; later bytes do not change it. */
        http_framing_init(&f, HEAD_LIMIT);
        for (size_t j = 0; j < len; j++)
            status = http_framing_feed(&f, text + j, 1, &at);
        assert_int_equal(status, bad[i].status);
        assert_int_equal(http_framing_feed(&f, "GET / HTTP/1.1\r\n", 16, NULL), bad[i].status);
    }
}

static void test_head_limit(void **state)
{
    (void)state;
    char req[HEAD_LIMIT + 200];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', sizeof req - (size_t)n - 1);
    req[sizeof req - 1] = '\0';
    uint64_t at;
    assert_int_equal(check(req, &at), 431);
    assert_memory_equal(req + at, "X-Big", 5);

    /* Well below the limit, and the limit counts each request of a connection anew. */
    http_framing_t f;
    http_framing_init(&f, 64);
    const char *small = "GET /products/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int i = 0; i < 10; i++)
        assert_int_equal(http_framing_feed(&f, small, strlen(small), NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_framed),
        cmocka_unit_test(test_body_with_nul_is_data),
        cmocka_unit_test(test_ambiguous_framing),
        cmocka_unit_test(test_head_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
