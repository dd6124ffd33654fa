/*
 * http_parse — see http_parse.h. Lines end with CRLF or a bare LF, as http_framing accepts them.
 */
#include "http/http_parse.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t http_parse_head_end(const char *buf, size_t len, size_t *scanned)
{
    /* The head ends at the first line that is empty: an LF preceded by LF or by CR LF. */
    size_t i = *scanned;
    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (lf == NULL) {
            i = len;
            break;
        }
        size_t at = (size_t)(lf - buf);
        if (at >= 1 && buf[at - 1] == '\n')
            return at + 1;
        if (at >= 2 && buf[at - 1] == '\r' && buf[at - 2] == '\n')
            return at + 1;
        i = at + 1;
    }
    /* Resume where an empty line could still start: at most two bytes back. */
    *scanned = i >= 2 ? i - 2 : 0;
    return 0;
}

/* The end of the line starting at p (its LF, or its CR before the LF), within end. */
static const char *line_end(const char *p, const char *end, const char **next)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    if (lf == NULL)
        return NULL;
    *next = lf + 1;
    return lf > p && lf[-1] == '\r' ? lf - 1 : lf;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses the request line p[0, eol): method SP target SP HTTP/1.d. */
static int request_line(const char *p, const char *eol, http_head_t *out)
{
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (sp1 == NULL || sp1 == p)
        return -1;
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return -1;
    if (eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' || sp2[8] > '9')
        return -1;
    out->minor = sp2[8] - '0';
    out->method = p;
    out->method_len = (size_t)(sp1 - p);
    out->target = sp1 + 1;
    out->target_len = (size_t)(sp2 - sp1 - 1);
    return 0;
}

static int add_field(http_field_t **fields, int *cap, int n, const http_field_t *f)
{
    if (n >= *cap) {
        int want = *cap > 0 ? *cap * 2 : 16;
        http_field_t *grown = realloc(*fields, (size_t)want * sizeof *grown);
        if (grown == NULL)
            return -1;
        *fields = grown;
        *cap = want;
    }
    (*fields)[n] = *f;
    return 0;
}

/* Reads the body framing from the field just added (the checks are http_framing's). */
static int framing_field(const http_field_t *f, http_head_t *out)
{
    if (f->name_len == 14 && strncasecmp(f->name, "content-length", 14) == 0) {
        uint64_t v = 0;
        if (f->value_len == 0 || f->value_len > 18)
            return -1;
        for (size_t i = 0; i < f->value_len; i++) {
            if (f->value[i] < '0' || f->value[i] > '9')
                return -1;
            v = v * 10 + (uint64_t)(f->value[i] - '0');
        }
        if (out->body != HTTP_BODY_NONE)
            return -1;
        out->body = v > 0 ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
        out->length = v;
        if (v == 0)
            out->body = -1; /* Marks "seen", so that a second one is refused; reset below. */
    } else if (f->name_len == 17 && strncasecmp(f->name, "transfer-encoding", 17) == 0) {
        if (out->body != HTTP_BODY_NONE || f->value_len != 7 ||
            strncasecmp(f->value, "chunked", 7) != 0)
            return -1;
        out->body = HTTP_BODY_CHUNKED;
    }
    return 0;
}

int http_parse_head(const char *buf, size_t len, http_field_t **fields, int *cap, http_head_t *out)
{
    memset(out, 0, sizeof *out);
    const char *end = buf + len;
    const char *next = NULL;
    const char *eol = line_end(buf, end, &next);
    if (eol == NULL || request_line(buf, eol, out) != 0)
        return -1;
    int n = 0;
    for (const char *p = next; p < end;) {
        eol = line_end(p, end, &next);
        if (eol == NULL)
            return -1;
        if (eol == p)
            break; /* The empty line. */
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p)
            return -1;
        const char *v = colon + 1;
        while (v < eol && is_space(*v))
            v++;
        const char *ve = eol;
        while (ve > v && is_space(ve[-1]))
            ve--;
        http_field_t f = {p, (size_t)(colon - p), v, (size_t)(ve - v)};
        if (add_field(fields, cap, n, &f) != 0 || framing_field(&f, out) != 0)
            return -1;
        n++;
        p = next;
    }
    if (out->body < 0)
        out->body = HTTP_BODY_NONE;
    out->fields = *fields;
    out->nfields = n;
    return 0;
}

void http_parse_terminate(char *buf, const http_head_t *h)
{
    /* Each string is followed by a byte of the head it no longer needs: SP, ':', CR, LF or OWS. */
    buf[(h->method - buf) + (ptrdiff_t)h->method_len] = '\0';
    buf[(h->target - buf) + (ptrdiff_t)h->target_len] = '\0';
    for (int i = 0; i < h->nfields; i++) {
        const http_field_t *f = &h->fields[i];
        buf[(f->name - buf) + (ptrdiff_t)f->name_len] = '\0';
        buf[(f->value - buf) + (ptrdiff_t)f->value_len] = '\0';
    }
}

const char *http_parse_field(const http_head_t *h, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (int i = 0; i < h->nfields; i++) {
        const http_field_t *f = &h->fields[i];
        if (f->name_len == n && strncasecmp(f->name, name, n) == 0) {
            if (len != NULL)
                *len = f->value_len;
            return f->value;
        }
    }
    return NULL;
}

int http_parse_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex(char c)
{
    return http_parse_hex((unsigned char)c);
}

int http_parse_has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *last = e;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == n && strncasecmp(p, token, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/*
 * Reads the chunk-size line at buf[*pos, len): on success *pos is past its line end and 1 is
 * returned with the size in *size; 0 when the line has not fully arrived; -1 when it is not a
 * size line.
 */
static int size_line(const char *buf, size_t len, size_t *pos, uint64_t *size)
{
    size_t i = *pos;
    uint64_t v = 0;
    int digits = 0;
    while (i < len && hex(buf[i]) >= 0) {
        if (++digits > 15)
            return -1;
        v = v * 16 + (uint64_t)hex(buf[i]);
        i++;
    }
    if (i < len && buf[i] == '\r')
        i++;
    if (i >= len)
        return 0;
    if (buf[i] != '\n' || digits == 0)
        return -1;
    *pos = i + 1;
    *size = v;
    return 1;
}

/* Skips a line end at buf[*pos]: 1 done, 0 not arrived, -1 none there. */
static int skip_eol(const char *buf, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i < len && buf[i] == '\r')
        i++;
    if (i >= len)
        return 0;
    if (buf[i] != '\n')
        return -1;
    *pos = i + 1;
    return 1;
}

int http_parse_chunked_size(const char *buf, size_t len, size_t max_decoded, size_t *encoded,
                            size_t *decoded)
{
    size_t pos = 0;
    size_t data = 0;
    for (;;) {
        uint64_t size = 0;
        int rc = size_line(buf, len, &pos, &size);
        if (rc <= 0)
            return rc;
        if (size > (uint64_t)max_decoded || data + (size_t)size > max_decoded) {
            *decoded = max_decoded + 1;
            *encoded = pos;
            return 1;
        }
        if (size == 0)
            break;
        if ((uint64_t)(len - pos) < size)
            return 0;
        pos += (size_t)size;
        data += (size_t)size;
        rc = skip_eol(buf, len, &pos);
        if (rc <= 0)
            return rc;
    }
    /* Trailer fields, up to the empty line. */
    for (;;) {
        if (pos >= len)
            return 0;
        const char *lf = memchr(buf + pos, '\n', len - pos);
        if (lf == NULL)
            return 0;
        size_t at = (size_t)(lf - buf);
        int empty = at == pos || (at == pos + 1 && buf[pos] == '\r');
        pos = at + 1;
        if (empty)
            break;
    }
    *encoded = pos;
    *decoded = data;
    return 1;
}

size_t http_parse_chunked_decode(char *buf, size_t encoded)
{
    size_t pos = 0;
    size_t out = 0;
    for (;;) {
        uint64_t size = 0;
        if (size_line(buf, encoded, &pos, &size) != 1 || size == 0)
            break;
        memmove(buf + out, buf + pos, (size_t)size);
        out += (size_t)size;
        pos += (size_t)size;
        if (skip_eol(buf, encoded, &pos) != 1)
            break;
    }
    return out;
}

size_t http_parse_decode(const char *src, size_t len, char *dst, int plus)
{
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '+' && plus) {
            c = ' ';
        } else if (c == '%' && i + 2 < len && hex(src[i + 1]) >= 0 && hex(src[i + 2]) >= 0) {
            c = (char)(hex(src[i + 1]) * 16 + hex(src[i + 2]));
            i += 2;
        }
        dst[j++] = c;
    }
    return j;
}
