/*
 * http_response — parsing of one HTTP/1.x response held in a buffer, for the client side of
 * `cacheme-bench`.
 *
 * The parser is incremental in the simplest way: call it again with the longer buffer whenever more
 * bytes arrive; it says whether the response is complete, and where its status, body and end are.
 * It understands Content-Length, chunked transfer coding, bodies that end with the connection, the
 * responses that never have a body (1xx, 204, 304), and the Connection header of HTTP/1.0 and 1.1.
 * It copies nothing and allocates nothing; it is thread-safe.
 */
#ifndef CACHEME_HTTP_RESPONSE_H
#define CACHEME_HTTP_RESPONSE_H

#include <stddef.h>

#define HTTP_RESPONSE_MAX_HEADER 65536 /* Larger header blocks are malformed. */

typedef struct {
    int status;        /* Status code, 100..999. */
    int keep_alive;    /* 1 when the connection may carry another request after this response. */
    size_t header_len; /* Bytes of the status line and headers, blank line included. */
    size_t body_off;   /* Offset of the body (equal to header_len). */
    size_t body_len;   /* Bytes of the body as sent (chunk framing included when chunked). */
    size_t total_len;  /* Bytes of the whole response: the next response starts here. */
} http_response_t;

/*
 * Parses the response at the start of buf[0..len). eof says that the peer closed the connection
 * after these bytes (it ends a body without a length). Returns 1 when the response is complete and
 * fills *out, 0 when more bytes are needed, -1 when the bytes are not an HTTP/1.x response (or the
 * connection ended inside it).
 */
int http_response_parse(const char *buf, size_t len, int eof, http_response_t *out);

#endif
