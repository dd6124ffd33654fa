/*
 * Unit tests of http_parse: finding the end of a head however it arrives, reading the request
 * line and field lines (CRLF and bare LF), body framing, NUL-terminating in place only when asked,
 * measuring and decoding chunked bodies (with the 413 cut-off), and percent-decoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http_parse.h"

/* Parses text (a complete head, possibly followed by more) into *h; returns the head's length. */
static size_t parse(char *text, http_field_t **fields, int *cap, http_head_t *h)
{
    size_t scanned = 0;
    size_t len = http_parse_head_end(text, strlen(text), &scanned);
    assert_true(len > 0);
    assert_int_equal(http_parse_head(text, len, fields, cap, h), 0);
    return len;
}

static void test_head_end_whole_and_bytewise(void **state)
{
    (void)state;
    const char *heads[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT",
        "GET / HTTP/1.1\nHost: x\n\nNEXT",
        "GET / HTTP/1.1\r\nHost: x\n\r\nNEXT",
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const char *t = heads[i];
        size_t want = (size_t)(strstr(t, "NEXT") - t);
        size_t scanned = 0;
        assert_int_equal(http_parse_head_end(t, strlen(t), &scanned), want);
        /* The same head arriving one byte at a time is found at the same place, and not before. */
        scanned = 0;
        size_t found = 0;
        for (size_t n = 1; n <= strlen(t) && found == 0; n++) {
            found = http_parse_head_end(t, n, &scanned);
            if (found == 0)
                assert_true(n < want);
        }
        assert_int_equal(found, want);
    }
    size_t scanned = 0;
    assert_int_equal(http_parse_head_end("GET / HTTP/1.1\r\nHost: x\r\n", 25, &scanned), 0);
}

static void test_request_line_and_fields(void **state)
{
    (void)state;
    char text[] = "POST /products?x=1 HTTP/1.1\r\nHost: example\r\nX-Pad:   a b  \r\n"
                  "content-length: 4\r\n\r\nbody";
    http_field_t *fields = NULL;
    int cap = 0;
    http_head_t h;
    size_t len = parse(text, &fields, &cap, &h);
    assert_int_equal(len, strlen(text) - 4);
    assert_int_equal(h.method_len, 4);
    assert_memory_equal(h.method, "POST", 4);
    assert_int_equal(h.target_len, strlen("/products?x=1"));
    assert_memory_equal(h.target, "/products?x=1", h.target_len);
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.nfields, 3);
    assert_int_equal(h.body, HTTP_BODY_LENGTH);
    assert_int_equal(h.length, 4);
    size_t vlen = 0;
    const char *pad = http_parse_field(&h, "x-pad", &vlen);
    assert_non_null(pad);
    assert_int_equal(vlen, 3); /* Leading and trailing whitespace are not part of the value. */
    assert_memory_equal(pad, "a b", 3);
    assert_null(http_parse_field(&h, "Origin", NULL));
    /* Parsing leaves the buffer as it was; terminating writes the NULs. */
    assert_int_equal(h.method[4], ' ');
    http_parse_terminate(text, &h);
    assert_string_equal(h.method, "POST");
    assert_string_equal(h.target, "/products?x=1");
    assert_string_equal(http_parse_field(&h, "Host", NULL), "example");
    assert_string_equal(pad, "a b");
    free(fields);
}

static void test_many_fields_grow_the_array(void **state)
{
    (void)state;
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "GET / HTTP/1.0\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "X-%d: %d\r\n", i, i);
    snprintf(text + n, sizeof text - n, "\r\n");
    http_field_t *fields = NULL;
    int cap = 0;
    http_head_t h;
    parse(text, &fields, &cap, &h);
    assert_int_equal(h.nfields, 100);
    assert_true(cap >= 100);
    assert_int_equal(h.minor, 0);
    assert_int_equal(h.body, HTTP_BODY_NONE);
    http_parse_terminate(text, &h);
    assert_string_equal(http_parse_field(&h, "X-99", NULL), "99");
    free(fields);
}

static void test_body_framing(void **state)
{
    (void)state;
    http_field_t *fields = NULL;
    int cap = 0;
    http_head_t h;
    char chunked[] = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n";
    parse(chunked, &fields, &cap, &h);
    assert_int_equal(h.body, HTTP_BODY_CHUNKED);
    char zero[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
    parse(zero, &fields, &cap, &h);
    assert_int_equal(h.body, HTTP_BODY_NONE);
    /* What framing refuses is refused here too, rather than read one way or the other. */
    const char *bad[] = {
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET /\r\n\r\n",
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t scanned = 0;
        size_t len = http_parse_head_end(bad[i], strlen(bad[i]), &scanned);
        assert_true(len > 0);
        assert_int_equal(http_parse_head(bad[i], len, &fields, &cap, &h), -1);
    }
    free(fields);
}

static void test_chunked_measure_and_decode(void **state)
{
    (void)state;
    char body[] = "5\r\nhello\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
    size_t total = (size_t)(strstr(body, "NEXT") - body);
    size_t encoded = 0;
    size_t decoded = 0;
    /* Every prefix is incomplete; the whole is complete. */
    for (size_t n = 0; n < total; n++)
        assert_int_equal(http_parse_chunked_size(body, n, 1000, &encoded, &decoded), 0);
    assert_int_equal(http_parse_chunked_size(body, strlen(body), 1000, &encoded, &decoded), 1);
    assert_int_equal(encoded, total);
    assert_int_equal(decoded, 15);
    assert_int_equal(http_parse_chunked_decode(body, encoded), 15);
    assert_memory_equal(body, "hello, chunked!", 15);
    /* Bare LF line ends. */
    char lf[] = "3\nabc\n0\n\n";
    assert_int_equal(http_parse_chunked_size(lf, strlen(lf), 1000, &encoded, &decoded), 1);
    assert_int_equal(encoded, strlen(lf));
    assert_int_equal(http_parse_chunked_decode(lf, encoded), 3);
    assert_memory_equal(lf, "abc", 3);
    /* Over the limit: known as soon as the size line says so, before the data arrives. */
    const char big[] = "400\r\nab";
    assert_int_equal(http_parse_chunked_size(big, strlen(big), 100, &encoded, &decoded), 1);
    assert_true(decoded > 100);
    /* Not chunked framing at all. */
    assert_int_equal(http_parse_chunked_size("zz\r\n", 4, 100, &encoded, &decoded), -1);
    assert_int_equal(http_parse_chunked_size("3\r\nabcX", 7, 100, &encoded, &decoded), -1);
}

static void test_percent_decoding(void **state)
{
    (void)state;
    char out[64];
    size_t n = http_parse_decode("a%20b+c%2B%00d%zz%4", 19, out, 1);
    assert_int_equal(n, 13);
    assert_memory_equal(out, "a b c+\0d%zz%4", 13);
    n = http_parse_decode("a+b", 3, out, 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a+b", 3);
}

static void test_tokens_and_hex(void **state)
{
    (void)state;
    assert_int_equal(http_parse_has_token("close", "close"), 1);
    assert_int_equal(http_parse_has_token("Keep-Alive, Upgrade", "keep-alive"), 1);
    assert_int_equal(http_parse_has_token(" upgrade ,\tCLOSE\t", "close"), 1);
    assert_int_equal(http_parse_has_token("closed, x-close", "close"), 0);
    assert_int_equal(http_parse_has_token("", "close"), 0);
    assert_int_equal(http_parse_hex('0'), 0);
    assert_int_equal(http_parse_hex('f'), 15);
    assert_int_equal(http_parse_hex('F'), 15);
    assert_int_equal(http_parse_hex('g'), -1);
    assert_int_equal(http_parse_hex(0xc3), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_end_whole_and_bytewise),
        cmocka_unit_test(test_request_line_and_fields),
        cmocka_unit_test(test_many_fields_grow_the_array),
        cmocka_unit_test(test_body_framing),
        cmocka_unit_test(test_chunked_measure_and_decode),
        cmocka_unit_test(test_percent_decoding),
        cmocka_unit_test(test_tokens_and_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
