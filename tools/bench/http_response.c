/*
 * http_response — see http_response.h. Header names compare case-insensitively; values are
 * trimmed of spaces and tabs. A Content-Length that is not a plain decimal number, or two that
 * disagree, make the response malformed (as RFC 9112 asks of a client).
 */
#include "http_response.h"

#include <string.h>
#include <strings.h>

/* Finds "\r\n\r\n" in buf[0..len); returns the offset just past it, or 0. */
static size_t find_header_end(const char *buf, size_t len)
{
    for (size_t i = 3; i < len; i++) {
        if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
            return i + 1;
    }
    return 0;
}

/* Parses a non-empty run of decimal digits in [p, end) into *out; -1 on anything else or overflow.
 */
static int parse_decimal(const char *p, const char *end, size_t *out)
{
    size_t v = 0;
    if (p == end)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (((size_t)-1) - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return 0;
}

/* 1 when the comma-separated list in [p, end) holds token (case-insensitive). */
static int has_token(const char *p, const char *end, const char *token)
{
    size_t n = strlen(token);
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *start = p;
        while (p < end && *p != ',')
            p++;
        const char *stop = p;
        while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if ((size_t)(stop - start) == n && strncasecmp(start, token, n) == 0)
            return 1;
    }
    return 0;
}

/*
 * Walks a chunked body starting at buf[off]. Returns 1 and sets *end past the last chunk's trailer,
 * 0 when incomplete, -1 when malformed.
 */
static int chunked_end(const char *buf, size_t len, size_t off, size_t *end)
{
    size_t p = off;
    for (;;) {
        size_t size = 0;
        size_t digits = 0;
        for (; p < len; p++, digits++) {
            char c = buf[p];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                break;
            if (digits >= 15)
                return -1;
            size = size * 16 + (size_t)d;
        }
        if (p >= len)
            return 0;
        if (digits == 0)
            return -1;
        /* Skip chunk extensions up to the end of the line. */
        const char *nl = memchr(buf + p, '\n', len - p);
        if (nl == NULL)
            return len - p > 4096 ? -1 : 0;
        p = (size_t)(nl - buf) + 1;
        if (size == 0) {
            /* Trailer fields, then an empty line. */
            for (;;) {
                nl = memchr(buf + p, '\n', len - p);
                if (nl == NULL)
                    return len - p > 4096 ? -1 : 0;
                size_t line = (size_t)(nl - buf) - p;
                p = (size_t)(nl - buf) + 1;
                if (line == 0 || (line == 1 && buf[p - 2] == '\r')) {
                    *end = p;
                    return 1;
                }
            }
        }
        if (len - p < size + 2)
            return 0;
        p += size;
        if (buf[p] != '\r' || buf[p + 1] != '\n')
            return -1;
        p += 2;
    }
}

int http_response_parse(const char *buf, size_t len, int eof, http_response_t *out)
{
    size_t hlen = find_header_end(buf, len);
    if (hlen == 0) {
        if (len > HTTP_RESPONSE_MAX_HEADER || eof)
            return -1;
        return 0;
    }
    /* Status line: HTTP/1.x SP 3DIGIT [SP reason] CRLF. */
    if (hlen < 14 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ' || buf[9] < '1' || buf[9] > '9' || buf[10] < '0' || buf[10] > '9' ||
        buf[11] < '0' || buf[11] > '9' || (buf[12] != ' ' && buf[12] != '\r'))
        return -1;
    int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    int keep_alive = buf[7] == '1';
    int chunked = 0;
    int have_length = 0;
    size_t length = 0;

    const char *line = memchr(buf, '\n', hlen);
    const char *end = buf + hlen - 2; /* The blank line's CRLF. */
    for (line = line + 1; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line) + 1);
        if (eol == NULL)
            return -1;
        const char *stop = eol > line && eol[-1] == '\r' ? eol - 1 : eol;
        const char *colon = memchr(line, ':', (size_t)(stop - line));
        if (colon == NULL || colon == line)
            return -1;
        const char *v = colon + 1;
        while (v < stop && (*v == ' ' || *v == '\t'))
            v++;
        const char *ve = stop;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nlen = (size_t)(colon - line);
        if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
            size_t n;
            if (parse_decimal(v, ve, &n) != 0 || (have_length && n != length))
                return -1;
            length = n;
            have_length = 1;
        } else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            chunked = has_token(v, ve, "chunked");
        } else if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
            if (has_token(v, ve, "close"))
                keep_alive = 0;
            else if (has_token(v, ve, "keep-alive"))
                keep_alive = 1;
        }
        line = eol + 1;
    }

    out->status = status;
    out->header_len = hlen;
    out->body_off = hlen;
    if (status < 200 || status == 204 || status == 304) {
        out->body_len = 0;
    } else if (chunked) {
        size_t stop = 0;
        int rc = chunked_end(buf, len, hlen, &stop);
        if (rc <= 0)
            return rc < 0 || eof ? -1 : 0;
        out->body_len = stop - hlen;
    } else if (have_length) {
        if (len - hlen < length)
            return eof ? -1 : 0;
        out->body_len = length;
    } else {
        /* The body ends with the connection. */
        if (!eof)
            return 0;
        out->body_len = len - hlen;
        keep_alive = 0;
    }
    out->keep_alive = keep_alive;
    out->total_len = hlen + out->body_len;
    return 1;
}
