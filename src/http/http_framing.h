/*
 * http_framing — a strict check of how HTTP/1.x requests are framed (RFC 9112), run on the raw
 * bytes of a connection before a request is taken out of them (http_parse).
 *
 * Leniency in framing lets a request be read two ways: a Transfer-Encoding other than "chunked"
 * that is ignored (so what follows is read as the next request), the first of two Content-Length
 * headers taken, "+25" and "0x19" accepted as lengths, header values cut at a NUL,
 * "Transfer-Encoding :" treated as an unknown header, or no body read for HEAD and TRACE whatever
 * the headers say. Each of these lets a client smuggle a second request past anything in front of
 * the service, or past the service's own idea of where a request ends.
 *
 * So this checker accepts one reading only: request line, header lines, then a body framed by
 * exactly one Content-Length (digits only) or by "Transfer-Encoding: chunked" (HTTP/1.1 only,
 * hexadecimal chunk sizes without signs, prefixes or extensions, each chunk followed by its line
 * end, then trailers). HEAD and TRACE carry no body. HTTP/1.1 requests need exactly one Host. Lines
 * end with CRLF or a bare LF; a CR elsewhere, a NUL or another control character in a line,
 * whitespace before a colon and folded header lines are errors. The first problem found decides the
 * status the client gets: 501 for a transfer coding other than chunked, 431 for a request head over
 * the limit, 400 for the rest. What happens then is the caller's business (http_conn answers it and
 * reads nothing from the offending line on).
 *
 * A value owned by the caller (embedded in per-connection state); no allocation, no I/O.
 * Thread-safe as long as each value is used by one thread at a time.
 */
#ifndef CACHEME_HTTP_FRAMING_H
#define CACHEME_HTTP_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_FRAMING_VALUE_MAX 64 /* Bytes of a framing header's value kept for checking. */

typedef struct {
    int state;           /* Where in a request the next byte belongs (see http_framing.c). */
    int status;          /* 0 while well-framed, else the HTTP status of the first problem. */
    int cr;              /* 1 when the previous byte was a CR: the next must be LF. */
    uint64_t fed;        /* Bytes fed so far (the stream offset of the next byte). */
    uint64_t line_start; /* Stream offset of the first byte of the current line. */
    size_t max_head;     /* Limit on request line plus header lines, in bytes. */
    size_t head_bytes;   /* Bytes of the current request's head so far. */
    int token_len;       /* Bytes of the token being read (method, field name, hex size). */
    char method[8];      /* The request's method (only HEAD and TRACE matter: no body). */
    char name[20];       /* The field name being read, lower-cased, when short enough. */
    int minor;           /* HTTP/1.minor of the request. */
    int in_trailer;      /* 1 while reading trailer fields rather than the head. */
    int field;           /* Which framing header the current line is (0: another). */
    char value[HTTP_FRAMING_VALUE_MAX + 1]; /* Its value so far (NUL-terminated). */
    size_t value_len;                       /* Bytes of it, capped at HTTP_FRAMING_VALUE_MAX + 1. */
    int n_length, n_coding, n_host; /* Content-Length, Transfer-Encoding and Host lines seen. */
    int length_bad;                 /* 1 when a Content-Length value is not 1*DIGIT. */
    int coding_unknown;             /* 1 when a Transfer-Encoding value is not "chunked". */
    uint64_t length;                /* The Content-Length value. */
    uint64_t remaining;             /* Body or chunk bytes still to come. */
} http_framing_t;

/* Starts checking a new connection. max_head is the limit on a request head (MAX_HEADER_BYTES). */
void http_framing_init(http_framing_t *f, size_t max_head);

/*
 * Checks the next n bytes of the connection. Returns 0 while everything is well-framed, or the
 * status (400, 431 or 501) of the first problem; after a problem further bytes are not looked at
 * and the same status is returned again. *line_start (may be NULL) is set to the stream offset
 * (counted from the connection's first byte) of the line the problem is on: everything before it
 * was framed correctly.
 */
int http_framing_feed(http_framing_t *f, const void *data, size_t n, uint64_t *line_start);

#endif
