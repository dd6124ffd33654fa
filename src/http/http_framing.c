/*
 * http_framing — see http_framing.h. A byte-at-a-time state machine (bodies are skipped in bulk),
 * so that it gives the same answer however the stream is split into reads.
 */
#include "http/http_framing.h"

#include "http/http_parse.h"

#include <string.h>
#include <strings.h>

enum {
    S_METHOD,     /* Request line: the method token. */
    S_TARGET,     /* Request line: the request target. */
    S_VERSION,    /* Request line: "HTTP/1.x". */
    S_LINE_START, /* First byte of a field line, or the empty line ending the head or trailers. */
    S_NAME,       /* A field name, up to its colon. */
    S_VALUE,      /* A field value, up to the line end. */
    S_BODY,       /* Content-Length bytes of body. */
    S_CHUNK_SIZE, /* The hexadecimal size line of a chunk. */
    S_CHUNK_DATA, /* A chunk's data. */
    S_CHUNK_END,  /* The line end after a chunk's data. */
    S_FAILED      /* A problem was found; nothing more is read. */
};

/* The header fields that decide framing. */
enum { F_OTHER, F_LENGTH, F_CODING, F_HOST };

#define VERSION_PREFIX "HTTP/1."
#define MAX_CHUNK_DIGITS 15  /* 15 hex digits: below 2^60, far above any body limit. */
#define MAX_LENGTH_DIGITS 18 /* Fits in 64 bits. */

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void start_request(http_framing_t *f)
{
    f->state = S_METHOD;
    f->head_bytes = 0;
    f->token_len = 0;
    f->method[0] = '\0';
    f->minor = 0;
    f->in_trailer = 0;
    f->n_length = f->n_coding = f->n_host = 0;
    f->length_bad = f->coding_unknown = 0;
    f->length = 0;
    f->remaining = 0;
}

void http_framing_init(http_framing_t *f, size_t max_head)
{
    memset(f, 0, sizeof *f);
    f->max_head = max_head;
    start_request(f);
}

static int fail(http_framing_t *f, int status)
{
    f->state = S_FAILED;
    f->status = status;
    return status;
}

static int head_state(const http_framing_t *f)
{
    return !f->in_trailer && f->state <= S_VALUE;
}

/* A request whose method has no body (a body sent with it could be read as the next request). */
static int bodyless_method(const http_framing_t *f)
{
    return strcmp(f->method, "HEAD") == 0 || strcmp(f->method, "TRACE") == 0;
}

/* Records the field line just ended. */
static int end_field(http_framing_t *f)
{
    while (f->value_len > 0 && f->value_len <= HTTP_FRAMING_VALUE_MAX &&
           (f->value[f->value_len - 1] == ' ' || f->value[f->value_len - 1] == '\t'))
        f->value_len--;
    if (f->value_len <= HTTP_FRAMING_VALUE_MAX)
        f->value[f->value_len] = '\0';
    if (f->in_trailer)
        return 0; /* Trailer fields do not change framing (RFC 9112 §7.1.2). */
    switch (f->field) {
    case F_LENGTH: {
        f->n_length++;
        int digits = f->value_len >= 1 && f->value_len <= MAX_LENGTH_DIGITS;
        uint64_t v = 0;
        for (size_t i = 0; digits && i < f->value_len; i++) {
            if (f->value[i] < '0' || f->value[i] > '9')
                digits = 0;
            else
                v = v * 10 + (uint64_t)(f->value[i] - '0');
        }
        if (!digits)
            f->length_bad = 1;
        f->length = v;
        break;
    }
    case F_CODING:
        f->n_coding++;
        if (f->value_len > HTTP_FRAMING_VALUE_MAX || strcasecmp(f->value, "chunked") != 0)
            f->coding_unknown = 1;
        break;
    case F_HOST:
        f->n_host++;
        break;
    default:
        break;
    }
    return 0;
}

/* The empty line after the head: decides how the body is framed (RFC 9112 §6). */
static int end_head(http_framing_t *f)
{
    if (f->n_host > 1 || (f->minor >= 1 && f->n_host != 1))
        return fail(f, 400); /* §3.2: exactly one Host in HTTP/1.1. */
    if (f->n_coding > 0) {
        if (f->coding_unknown)
            return fail(f, 501); /* §6.1: a coding the server does not understand. */
        if (f->n_coding > 1 || f->n_length > 0 || f->minor == 0 || bodyless_method(f))
            return fail(f, 400);
        f->state = S_CHUNK_SIZE;
        f->token_len = 0;
        f->remaining = 0;
        return 0;
    }
    if (f->n_length > 1 || f->length_bad)
        return fail(f, 400); /* §6.3: an invalid or repeated Content-Length. */
    if (f->length > 0) {
        if (bodyless_method(f))
            return fail(f, 400);
        f->state = S_BODY;
        f->remaining = f->length;
        return 0;
    }
    start_request(f);
    return 0;
}

/* A line end (CRLF or LF) in the current state. */
static int end_line(http_framing_t *f)
{
    switch (f->state) {
    case S_VERSION:
        if (f->token_len != (int)sizeof VERSION_PREFIX)
            return fail(f, 400);
        f->state = S_LINE_START;
        return 0;
    case S_LINE_START:
        if (f->in_trailer) {
            start_request(f);
            return 0;
        }
        return end_head(f);
    case S_VALUE:
        f->state = S_LINE_START;
        return end_field(f);
    case S_CHUNK_SIZE:
        if (f->token_len == 0)
            return fail(f, 400);
        if (f->remaining == 0) {
            f->in_trailer = 1;
            f->state = S_LINE_START;
        } else {
            f->state = S_CHUNK_DATA;
        }
        return 0;
    case S_CHUNK_END:
        f->state = S_CHUNK_SIZE;
        f->token_len = 0;
        f->remaining = 0;
        return 0;
    default:
        return fail(f, 400); /* A line end inside the method, target or a field name. */
    }
}

static int name_done(http_framing_t *f)
{
    f->field = F_OTHER;
    if (f->token_len < (int)sizeof f->name) {
        f->name[f->token_len] = '\0';
        if (strcmp(f->name, "content-length") == 0)
            f->field = F_LENGTH;
        else if (strcmp(f->name, "transfer-encoding") == 0)
            f->field = F_CODING;
        else if (strcmp(f->name, "host") == 0)
            f->field = F_HOST;
    }
    f->value_len = 0;
    f->state = S_VALUE;
    return 0;
}

/* Any byte but CR and LF, in a state that reads lines. */
static int line_byte(http_framing_t *f, unsigned char c)
{
    switch (f->state) {
    case S_METHOD:
        if (c == ' ' && f->token_len > 0) {
            f->state = S_TARGET;
            f->token_len = 0;
            return 0;
        }
        if (!is_tchar(c))
            return fail(f, 400);
        if (f->token_len < (int)sizeof f->method - 1) {
            f->method[f->token_len] = (char)c;
            f->method[f->token_len + 1] = '\0';
        } else {
            f->method[0] = '\0'; /* Too long to be HEAD or TRACE. */
        }
        f->token_len++;
        return 0;
    case S_TARGET:
        if (c == ' ' && f->token_len > 0) {
            f->state = S_VERSION;
            f->token_len = 0;
            return 0;
        }
        if (c <= 0x20 || c == 0x7f)
            return fail(f, 400);
        f->token_len++;
        return 0;
    case S_VERSION:
        if (f->token_len < (int)sizeof VERSION_PREFIX - 1) {
            if (c != (unsigned char)VERSION_PREFIX[f->token_len])
                return fail(f, 400);
        } else if (f->token_len == (int)sizeof VERSION_PREFIX - 1 && c >= '0' && c <= '9') {
            f->minor = c - '0';
        } else {
            return fail(f, 400);
        }
        f->token_len++;
        return 0;
    case S_LINE_START:
        /* A line starting with whitespace would fold into the previous one (§5.2): refused. */
        if (!is_tchar(c))
            return fail(f, 400);
        f->state = S_NAME;
        f->token_len = 0;
        /* Fall through to read the first byte of the name. */
        /* FALLTHROUGH */
    case S_NAME:
        if (c == ':')
            return f->token_len > 0 ? name_done(f) : fail(f, 400);
        if (!is_tchar(c))
            return fail(f, 400); /* Including whitespace before the colon (§5.1). */
        if (f->token_len < (int)sizeof f->name - 1)
            f->name[f->token_len] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        f->token_len++;
        return 0;
    case S_VALUE:
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(f, 400); /* NUL and other controls (§5.5). */
        if (f->value_len == 0 && (c == ' ' || c == '\t'))
            return 0; /* Leading whitespace is not part of the value. */
        if (f->value_len < HTTP_FRAMING_VALUE_MAX + 1) {
            if (f->value_len < HTTP_FRAMING_VALUE_MAX)
                f->value[f->value_len] = (char)c;
            f->value_len++;
        }
        return 0;
    case S_CHUNK_SIZE: {
        int v = http_parse_hex(c);
        if (v < 0 || f->token_len >= MAX_CHUNK_DIGITS)
            return fail(f, 400); /* Signs, "0x", spaces and extensions included. */
        f->remaining = f->remaining * 16 + (uint64_t)v;
        f->token_len++;
        return 0;
    }
    default:
        return fail(f, 400); /* S_CHUNK_END: chunk data must be followed by a line end. */
    }
}

/*
 * The long runs of a request head — the target, and header values past their leading whitespace —
 * in a tight loop: the bytes that line_byte would accept without changing state. Stops before
 * anything else (a line end, a space ending the target, a control character), and within the head's
 * size limit, so that line_byte and the 431 check see those bytes. Returns how many it consumed.
 */
static size_t ordinary_run(http_framing_t *f, const unsigned char *p, size_t n)
{
    int target = f->state == S_TARGET;
    int counted = head_state(f);
    if (counted)
        n = f->head_bytes >= f->max_head
                ? 0
                : (n < f->max_head - f->head_bytes ? n : f->max_head - f->head_bytes);
    size_t run = 0;
    if (target) {
        while (run < n && p[run] > 0x20 && p[run] != 0x7f)
            run++;
        f->token_len += (int)run;
    } else {
        while (run < n && (p[run] >= 0x20 || p[run] == '\t') && p[run] != 0x7f)
            run++;
        if (f->value_len < HTTP_FRAMING_VALUE_MAX) {
            size_t room = HTTP_FRAMING_VALUE_MAX - f->value_len;
            memcpy(f->value + f->value_len, p, run < room ? run : room);
        }
        f->value_len += run;
        if (f->value_len > HTTP_FRAMING_VALUE_MAX + 1)
            f->value_len = HTTP_FRAMING_VALUE_MAX + 1;
    }
    f->fed += run;
    if (counted)
        f->head_bytes += run;
    return run;
}

int http_framing_feed(http_framing_t *f, const void *data, size_t n, uint64_t *line_start)
{
    const unsigned char *p = data;
    size_t i = 0;
    while (i < n && f->state != S_FAILED) {
        if (f->state == S_BODY || f->state == S_CHUNK_DATA) {
            size_t take = n - i;
            if ((uint64_t)take > f->remaining)
                take = (size_t)f->remaining;
            i += take;
            f->fed += take;
            f->remaining -= take;
            if (f->remaining == 0) {
                if (f->state == S_BODY)
                    start_request(f);
                else
                    f->state = S_CHUNK_END;
                f->line_start = f->fed;
            }
            continue;
        }
        if (!f->cr && (f->state == S_TARGET || (f->state == S_VALUE && f->value_len > 0))) {
            i += ordinary_run(f, p + i, n - i);
            if (i == n)
                break;
        }
        unsigned char c = p[i++];
        f->fed++;
        if (head_state(f) && ++f->head_bytes > f->max_head) {
            fail(f, 431);
            break;
        }
        if (f->cr && c != '\n') {
            fail(f, 400); /* A CR not followed by LF (§2.2). */
            break;
        }
        if (c == '\r') {
            f->cr = 1;
            continue;
        }
        if (c == '\n') {
            f->cr = 0;
            if (end_line(f) != 0)
                break;
            f->line_start = f->fed;
            continue;
        }
        if (line_byte(f, c) != 0)
            break;
    }
    if (line_start != NULL)
        *line_start = f->line_start;
    return f->status;
}
