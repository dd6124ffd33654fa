/*
 * Unit tests of http_response: framing by Content-Length, chunked coding and connection close,
 * keep-alive rules, partial input, and malformed responses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_response.h"

static int parse(const char *s, int eof, http_response_t *r)
{
    return http_response_parse(s, strlen(s), eof, r);
}

static void test_content_length(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length:  5 \r\n"
                    "\r\nhello";
    http_response_t r;
    assert_int_equal(parse(s, 0, &r), 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.keep_alive, 1);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(s + r.body_off, "hello", 5);
    assert_int_equal(r.total_len, strlen(s));
    /* Every proper prefix needs more bytes; cut by the peer, it is malformed. */
    for (size_t n = 0; n < strlen(s); n++) {
        assert_int_equal(http_response_parse(s, n, 0, &r), 0);
        assert_int_equal(http_response_parse(s, n, 1, &r), -1);
    }
    /* Bytes after the response are not part of it. */
    char two[256];
    snprintf(two, sizeof two, "%sHTTP/1.1", s);
    assert_int_equal(parse(two, 0, &r), 1);
    assert_int_equal(r.total_len, strlen(s));
}

static void test_keep_alive_rules(void **state)
{
    (void)state;
    http_response_t r;
    assert_int_equal(
        parse("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0, &r),
        1);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.keep_alive, 0);
    assert_int_equal(parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, &r), 1);
    assert_int_equal(r.keep_alive, 0);
    assert_int_equal(
        parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 0, &r), 1);
    assert_int_equal(r.keep_alive, 1);
    assert_int_equal(parse("HTTP/1.1 204 No Content\r\n\r\n", 0, &r), 1);
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.keep_alive, 1);
}

static void test_chunked(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n";
    http_response_t r;
    assert_int_equal(parse(s, 0, &r), 1);
    assert_int_equal(r.total_len, strlen(s));
    assert_int_equal(r.keep_alive, 1);
    for (size_t n = 0; n < strlen(s); n++)
        assert_int_equal(http_response_parse(s, n, 0, &r), 0);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, &r),
                     -1);
    assert_int_equal(
        parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 0, &r), -1);
}

static void test_body_until_close(void **state)
{
    (void)state;
    const char *s = "HTTP/1.1 200 OK\r\n\r\nsome body";
    http_response_t r;
    assert_int_equal(parse(s, 0, &r), 0);
    assert_int_equal(parse(s, 1, &r), 1);
    assert_int_equal(r.body_len, 9);
    assert_int_equal(r.keep_alive, 0);
}

static void test_malformed(void **state)
{
    (void)state;
    http_response_t r;
    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i], 0, &r) != -1)
            fail_msg("accepted: %s", bad[i]);
    }
    /* Header blocks past the limit are refused instead of buffered forever. */
    static char big[HTTP_RESPONSE_MAX_HEADER + 64];
    memset(big, 'a', sizeof big);
    const char prefix[] = "HTTP/1.1 200 OK\r\nX: ";
    for (size_t i = 0; i + 1 < sizeof prefix; i++)
        big[i] = prefix[i];
    assert_int_equal(http_response_parse(big, sizeof big, 0, &r), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length), cmocka_unit_test(test_keep_alive_rules),
        cmocka_unit_test(test_chunked),        cmocka_unit_test(test_body_until_close),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
