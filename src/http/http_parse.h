/*
 * http_parse — reading an HTTP/1.x request out of a connection's input buffer, once http_framing
 * has found nothing wrong with its bytes: where the head ends, what it says (method, target,
 * version, field lines) and where the body ends, decoding a chunked body in place.
 *
 * The checks that decide whether a request is well-framed are http_framing's; this module trusts
 * them and only extracts. It still refuses (returns -1 for) input it cannot read, so that a mistake
 * in that division of labour turns into a 400, never into a wrong request boundary.
 *
 * No allocation except the growable field array; no I/O. Thread-safe (no shared state).
 */
#ifndef CACHEME_HTTP_PARSE_H
#define CACHEME_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* One field line of a request head. Both strings point into the input buffer. */
typedef struct {
    const char *name;  /* As sent (compare case-insensitively). */
    size_t name_len;   /* Its length. */
    const char *value; /* Without leading and trailing whitespace. */
    size_t value_len;  /* Its length. */
} http_field_t;

/* How a request's body is delimited (RFC 9112 §6.3). */
enum { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED };

/* A parsed request head. The strings point into the buffer given to http_parse_head. */
typedef struct {
    const char *method;   /* NUL-terminated. */
    size_t method_len;    /* Its length. */
    const char *target;   /* The request target as sent, NUL-terminated. */
    size_t target_len;    /* Its length. */
    int minor;            /* HTTP/1.minor. */
    http_field_t *fields; /* The field lines, in order (owned by the caller, see below). */
    int nfields;          /* Their number. */
    int body;             /* HTTP_BODY_*. */
    uint64_t length;      /* The Content-Length for HTTP_BODY_LENGTH. */
} http_head_t;

/*
 * Looks for the empty line that ends a request head in buf[0, len). *scanned is where the previous
 * call on the same head stopped (0 the first time); it is updated, so that a head arriving a byte
 * at a time is not scanned again from its start. Returns the head's length through that empty line,
 * or 0 when it has not arrived yet.
 */
size_t http_parse_head_end(const char *buf, size_t len, size_t *scanned);

/*
 * Parses the complete head buf[0, len) (len from http_parse_head_end) without changing it; the
 * strings it points out are not NUL-terminated until http_parse_terminate. *fields (cap entries,
 * may be NULL and 0) is grown with realloc as needed and stays the caller's to free. Returns 0 and
 * fills *out, or -1 when the head cannot be read (or memory runs out).
 */
int http_parse_head(const char *buf, size_t len, http_field_t **fields, int *cap, http_head_t *out);

/*
 * NUL-terminates the strings of h, parsed from buf, in place: buf is modified, so parse it again
 * only before this.
 */
void http_parse_terminate(char *buf, const http_head_t *h);

/* The value of the first field named name (case-insensitive), or NULL. */
const char *http_parse_field(const http_head_t *h, const char *name, size_t *len);

/*
 * Looks at a chunked body at buf[0, len): returns 1 when all of it, trailers included, has
 * arrived, setting *encoded to the bytes it takes in buf and *decoded to the bytes of data in it;
 * 0 when more is needed; -1 when it cannot be read. Stops early, returning 1 with *decoded above
 * max_decoded, once the data is known to exceed max_decoded (the caller answers 413).
 */
int http_parse_chunked_size(const char *buf, size_t len, size_t max_decoded, size_t *encoded,
                            size_t *decoded);

/*
 * Decodes a complete chunked body (as measured by http_parse_chunked_size) in place: the data of
 * its chunks is moved to the start of buf, one after the other. Returns the data's length.
 */
size_t http_parse_chunked_decode(char *buf, size_t encoded);

/* The value of a hexadecimal digit, or -1 when c is not one. */
int http_parse_hex(unsigned char c);

/*
 * 1 when the comma-separated list (a field value such as Connection's) holds token, compared
 * case-insensitively and without the whitespace around list members; else 0.
 */
int http_parse_has_token(const char *list, const char *token);

/*
 * Percent-decodes src[0, len) into dst (room for len bytes), turning '+' into a space when plus is
 * non-zero. A '%' not followed by two hexadecimal digits is kept as it is. Returns the decoded
 * length; dst may contain NUL bytes.
 */
size_t http_parse_decode(const char *src, size_t len, char *dst, int plus);

#endif
