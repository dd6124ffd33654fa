/*
 * json_scan — see json_scan.h. A recursive-descent recogniser: each function consumes one
 * production from s->p and returns 0, or -1 at the first byte that cannot belong to it.
 */
#include "core/json_scan.h"

#include <string.h>

typedef struct {
    const unsigned char *p;   /* Next byte. */
    const unsigned char *end; /* One past the last byte. */
} scan_t;

static int scan_value(scan_t *s, int depth);

static void skip_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(scan_t *s, unsigned *out)
{
    if (s->end - s->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = s->p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    s->p += 4;
    *out = v;
    return 0;
}

/* One escape after the backslash. \u0000 and unpaired surrogates are refused, as jansson does. */
static int scan_escape(scan_t *s)
{
    if (s->p >= s->end)
        return -1;
    unsigned char c = *s->p++;
    if (strchr("\"\\/bfnrt", c) != NULL && c != '\0')
        return 0;
    if (c != 'u')
        return -1;
    unsigned u;
    if (hex4(s, &u) != 0 || u == 0)
        return -1;
    if (u >= 0xDC00 && u <= 0xDFFF)
        return -1; /* A low surrogate with no high one before it. */
    if (u >= 0xD800 && u <= 0xDBFF) {
        unsigned low;
        if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
            return -1;
        s->p += 2;
        if (hex4(s, &low) != 0 || low < 0xDC00 || low > 0xDFFF)
            return -1;
    }
    return 0;
}

/* One UTF-8 sequence of two or more bytes starting at a lead byte (RFC 3629, no overlongs). */
static int scan_utf8(scan_t *s)
{
    unsigned char c = *s->p;
    int n;
    unsigned char lo = 0x80, hi = 0xBF; /* Range of the second byte. */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 2;
        if (c == 0xE0)
            lo = 0xA0; /* Overlong. */
        else if (c == 0xED)
            hi = 0x9F; /* Surrogates. */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 3;
        if (c == 0xF0)
            lo = 0x90; /* Overlong. */
        else if (c == 0xF4)
            hi = 0x8F; /* Above U+10FFFF. */
    } else {
        return -1;
    }
    if (s->end - s->p <= n)
        return -1;
    if (s->p[1] < lo || s->p[1] > hi)
        return -1;
    for (int i = 2; i <= n; i++) {
        if (s->p[i] < 0x80 || s->p[i] > 0xBF)
            return -1;
    }
    s->p += n + 1;
    return 0;
}

/*
 * 1 for the bytes a string may hold as they are: printable ASCII but for the quote and the
 * backslash. The hit path spends most of its scanning time in the loop that skips them.
 */
#define PLAIN(c) ((c) >= 0x20 && (c) != '"' && (c) != '\\')
#define PLAIN_ROW(first)                                                                           \
    PLAIN(first), PLAIN((first) + 1), PLAIN((first) + 2), PLAIN((first) + 3), PLAIN((first) + 4),  \
        PLAIN((first) + 5), PLAIN((first) + 6), PLAIN((first) + 7)
static const unsigned char PLAIN_BYTE[256] = {
    PLAIN_ROW(0x00), PLAIN_ROW(0x08), PLAIN_ROW(0x10), PLAIN_ROW(0x18), PLAIN_ROW(0x20),
    PLAIN_ROW(0x28), PLAIN_ROW(0x30), PLAIN_ROW(0x38), PLAIN_ROW(0x40), PLAIN_ROW(0x48),
    PLAIN_ROW(0x50), PLAIN_ROW(0x58), PLAIN_ROW(0x60), PLAIN_ROW(0x68), PLAIN_ROW(0x70),
    PLAIN_ROW(0x78), /* 0x80 and above: 0, they start UTF-8 sequences. */
};

/* A string starting at its opening quote. *escaped is set when it holds a backslash. */
static int scan_string(scan_t *s, int *escaped)
{
    if (s->p >= s->end || *s->p != '"')
        return -1;
    s->p++;
    *escaped = 0;
    while (s->p < s->end) {
        while (s->p < s->end && PLAIN_BYTE[*s->p])
            s->p++;
        if (s->p >= s->end)
            break;
        unsigned char c = *s->p;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1; /* Control characters, NUL included, must be escaped. */
        if (c == '\\') {
            s->p++;
            *escaped = 1;
            if (scan_escape(s) != 0)
                return -1;
        } else if (c < 0x80) {
            s->p++;
        } else if (scan_utf8(s) != 0) {
            return -1;
        }
    }
    return -1;
}

static int digits(scan_t *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start ? 0 : -1;
}

static int scan_number(scan_t *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (digits(s) != 0)
        return -1;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (digits(s) != 0)
            return -1;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (digits(s) != 0)
            return -1;
    }
    return 0;
}

static int scan_literal(scan_t *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int is_reserved(const unsigned char *name, size_t len, const char *const *reserved)
{
    for (; reserved != NULL && *reserved != NULL; reserved++) {
        if (strlen(*reserved) == len && memcmp(*reserved, name, len) == 0)
            return 1;
    }
    return 0;
}

/*
 * An object starting at "{". At depth 0 (the top level) member names are checked against
 * reserved; *reserved_seen is set when one matches or is escaped.
 */
static int scan_object(scan_t *s, int depth, const char *const *reserved, int *reserved_seen)
{
    s->p++; /* '{' */
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        skip_ws(s);
        const unsigned char *name = s->p + 1;
        int escaped;
        if (scan_string(s, &escaped) != 0)
            return -1;
        if (depth == 0 && (escaped || is_reserved(name, (size_t)(s->p - 1 - name), reserved)))
            *reserved_seen = 1;
        skip_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        if (scan_value(s, depth + 1) != 0)
            return -1;
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == '}') {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
    }
}

static int scan_array(scan_t *s, int depth)
{
    s->p++; /* '[' */
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (scan_value(s, depth + 1) != 0)
            return -1;
        skip_ws(s);
        if (s->p >= s->end)
            return -1;
        if (*s->p == ']') {
            s->p++;
            return 0;
        }
        if (*s->p != ',')
            return -1;
        s->p++;
    }
}

/* Any value, with the white space around it; depth counts the containers it is inside. */
static int scan_value(scan_t *s, int depth)
{
    if (depth > JSON_SCAN_MAX_DEPTH)
        return -1;
    skip_ws(s);
    if (s->p >= s->end)
        return -1;
    int escaped, ignored = 0;
    int rc;
    switch (*s->p) {
    case '{':
        rc = scan_object(s, depth, NULL, &ignored);
        break;
    case '[':
        rc = scan_array(s, depth);
        break;
    case '"':
        rc = scan_string(s, &escaped);
        break;
    case 't':
        rc = scan_literal(s, "true");
        break;
    case 'f':
        rc = scan_literal(s, "false");
        break;
    case 'n':
        rc = scan_literal(s, "null");
        break;
    default:
        rc = scan_number(s);
        break;
    }
    skip_ws(s);
    return rc;
}

int json_scan_object(const char *text, size_t len, const char *const *reserved)
{
    scan_t s = {(const unsigned char *)text, (const unsigned char *)text + len};
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return JSON_SCAN_EINVALID;
    int reserved_seen = 0;
    if (scan_object(&s, 0, reserved, &reserved_seen) != 0)
        return JSON_SCAN_EINVALID;
    skip_ws(&s);
    if (s.p != s.end)
        return JSON_SCAN_EINVALID;
    return reserved_seen ? JSON_SCAN_ERESERVED : JSON_SCAN_OK;
}
