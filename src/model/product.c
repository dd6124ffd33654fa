/*
 * product — see product.h.
 *
 * product_to_json writes the JSON text directly into one buffer. It used to build a jansson object
 * and dump it, so that escaping was never hand-written; on the uncached path that cost about an
 * eighth of the service's CPU time, plus the allocations around it. The escaping is now
 * hand-written, and it is proven equal to jansson's: tests/unit/test_product.c keeps the jansson
 * implementation as a reference and compares the bytes and the return code of the two on thousands
 * of generated products (every control byte, quotes, backslashes, 0x7f, '/', multi-byte and invalid
 * UTF-8, NULLs, odd prices). What is reproduced is jansson 2.14's json_dumps with JSON_COMPACT |
 * JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15): members in insertion order, '"', '\\' and the
 * control bytes escaped (\b \f \n \r \t short, the others \u00XX with upper-case hex), everything
 * else (0x7f, '/', non-ASCII UTF-8) raw, and json_string's refusal of invalid UTF-8. Change the
 * writer only together with that test.
 */
#include "model/product.h"

#include <assert.h>
#include <event2/buffer.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A nullable column's text, or NULL for SQL NULL. */
static const char *nullable(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

void product_from_row(const struct pg_result *res, int row, product_t *p)
{
    p->id = (int32_t)strtol(PQgetvalue(res, row, 0), NULL, 10);
    p->name = PQgetvalue(res, row, 1);
    p->description = nullable(res, row, 2);
    p->price = PQgetvalue(res, row, 3);
    p->category = nullable(res, row, 4);
    p->created_at = nullable(res, row, 5);
    p->updated_at = nullable(res, row, 6);
}

/* Copies the string literal s (without its NUL) to w; the end of the copy. */
#define LIT(w, s) (memcpy((w), (s), sizeof(s) - 1), (w) + sizeof(s) - 1)

/* ---- JSON strings --------------------------------------------------------------------------- */

/*
 * The bytes each ASCII byte takes inside a JSON string as jansson writes it: 2 for '"', '\\' and
 * the control bytes with a short escape (\b \t \n \f \r), 6 for the other control bytes (\u00XX),
 * 1 for everything else, 0x7f and '/' included.
 */
static const unsigned char ascii_width[128] = {
    6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 2, 6, 2, 2, 6, 6, /* 0x00-0x0f */
    6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, /* 0x10-0x1f */
    1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: '"' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x30-0x3f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, /* 0x50-0x5f: '\\' */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60-0x6f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x70-0x7f */
};

/*
 * The length of the UTF-8 sequence starting at the non-ASCII byte u[0], or 0 when it is not one
 * that jansson's json_string accepts: a lead byte 0xC2-0xF4, continuation bytes 0x80-0xBF, no
 * overlong form (E0 needs A0-BF next, F0 needs 90-BF), no UTF-16 surrogate (ED needs 80-9F),
 * nothing above U+10FFFF (F4 needs 80-8F). u is NUL-terminated, and NUL is not a continuation byte,
 * so the checks, made in order and stopping at the first failure, never read past the terminator.
 */
static size_t utf8_sequence(const unsigned char *u)
{
    unsigned c = u[0];
    if (c < 0xC2 || c > 0xF4 || (u[1] & 0xC0) != 0x80)
        return 0;
    if (c < 0xE0)
        return 2;
    if ((u[2] & 0xC0) != 0x80)
        return 0;
    if (c < 0xF0) {
        if ((c == 0xE0 && u[1] < 0xA0) || (c == 0xED && u[1] > 0x9F))
            return 0;
        return 3;
    }
    if ((u[3] & 0xC0) != 0x80 || (c == 0xF0 && u[1] < 0x90) || (c == 0xF4 && u[1] > 0x8F))
        return 0;
    return 4;
}

/*
 * Sets *width to the length of s as a JSON value: "null" for NULL, else the quoted, escaped string.
 * Returns 0, or -1 when s is not valid UTF-8 (json_string refuses it, so the old code failed too).
 */
static int string_width(const char *s, size_t *width)
{
    if (s == NULL) {
        *width = 4;
        return 0;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 2;
    while (*u != '\0') {
        if (*u < 0x80) {
            n += ascii_width[*u++];
            continue;
        }
        size_t k = utf8_sequence(u);
        if (k == 0)
            return -1;
        n += k;
        u += k;
    }
    *width = n;
    return 0;
}

/* Writes s (checked by string_width) as a JSON value at w; returns the end of what it wrote. */
static char *put_string(char *w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        return LIT(w, "null");
    const unsigned char *u = (const unsigned char *)s;
    *w++ = '"';
    for (;;) {
        /* Copy the longest run that needs no escape (UTF-8 sequences included) in one go. */
        const unsigned char *run = u;
        while (*u >= 0x20 && *u != '"' && *u != '\\')
            u++;
        memcpy(w, run, (size_t)(u - run));
        w += u - run;
        if (*u == '\0')
            break;
        unsigned char c = *u++;
        *w++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *w++ = (char)c;
            break;
        case '\b':
            *w++ = 'b';
            break;
        case '\f':
            *w++ = 'f';
            break;
        case '\n':
            *w++ = 'n';
            break;
        case '\r':
            *w++ = 'r';
            break;
        case '\t':
            *w++ = 't';
            break;
        default:
            w[0] = 'u';
            w[1] = '0';
            w[2] = '0';
            w[3] = hex[c >> 4];
            w[4] = hex[c & 0xF];
            w += 5;
            break;
        }
    }
    *w++ = '"';
    return w;
}

/* ---- JSON numbers --------------------------------------------------------------------------- */

/* Writes v in decimal at w (no NUL); returns the length. w must hold 11 bytes. */
static size_t put_int32(char *w, int32_t v)
{
    char digits[10];
    size_t n = 0;
    /* Through int64_t, so that INT32_MIN negates without overflow. */
    uint32_t m = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
    do {
        digits[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m != 0);
    size_t len = 0;
    if (v < 0)
        w[len++] = '-';
    while (n > 0)
        w[len++] = digits[--n];
    return len;
}

/*
 * Writes the finite double v as jansson's jsonp_dtostr does with precision 15 into buf (NUL-
 * terminated, at most 32 bytes with it): "%.15g"; ".0" appended when there is neither '.' nor 'e',
 * so that the value reads back as a real; and the exponent's '+' and leading zeros removed ("1e+20"
 * → "1e20", "1.5e-07" → "1.5e-7"). Returns the length. Like jansson it relies on the C locale's
 * '.' (the service never calls setlocale). At most 22 bytes come from "%.15g" ("-d.dddddddddddddde-
 * 308"), so the buffer always suffices.
 */
static size_t put_real(char buf[32], double v)
{
    int n = snprintf(buf, 32, "%.15g", v);
    assert(n > 0 && n < 30);
    size_t len = (size_t)n;
    char *e = memchr(buf, 'e', len);
    if (e == NULL) {
        if (memchr(buf, '.', len) == NULL) {
            memcpy(buf + len, ".0", 3);
            len += 2;
        }
        return len;
    }
    char *from = e + 1; /* The first byte to keep after 'e'. */
    char *to = e + 1;   /* Where it goes. */
    if (*from == '-')
        from = ++to;
    else if (*from == '+')
        from++;
    while (*from == '0')
        from++;
    size_t tail = len - (size_t)(from - buf) + 1; /* With the NUL. */
    memmove(to, from, tail);
    return (size_t)(to - buf) + tail - 1;
}

/* ---- product_to_json ------------------------------------------------------------------------ */

/* The text between the values, in member order; each is written once below. */
#define K_ID "{\"id\":"
#define K_NAME ",\"name\":"
#define K_DESCRIPTION ",\"description\":"
#define K_PRICE ",\"price\":"
#define K_CATEGORY ",\"category\":"
#define K_CREATED ",\"created_at\":"
#define K_UPDATED ",\"updated_at\":"
#define K_END "}"

int product_to_json(const product_t *p, char **out, size_t *len)
{
    char *end = NULL;
    double price = strtod(p->price ? p->price : "", &end);
    if (p->price == NULL || end == p->price || *end != '\0' || p->name == NULL)
        return -1;
    /* jansson's json_real refuses NaN and infinities (strtod reads "nan", "inf" and "1e999"). */
    if (!isfinite(price))
        return -1;

    char id_text[11];
    size_t id_len = put_int32(id_text, p->id);
    char price_text[32];
    size_t price_len = put_real(price_text, price);

    /* One pass to check the strings and measure the result, one to write it. */
    const char *strings[5] = {p->name, p->description, p->category, p->created_at, p->updated_at};
    size_t widths[5];
    size_t total = sizeof(K_ID K_NAME K_DESCRIPTION K_PRICE K_CATEGORY K_CREATED K_UPDATED K_END) -
                   1 + id_len + price_len;
    for (size_t i = 0; i < 5; i++) {
        if (string_width(strings[i], &widths[i]) != 0)
            return -1;
        total += widths[i];
    }

    char *text = malloc(total + 1);
    if (text == NULL)
        return -1;
    char *w = LIT(text, K_ID);
    memcpy(w, id_text, id_len);
    w += id_len;
    w = put_string(LIT(w, K_NAME), p->name);
    w = put_string(LIT(w, K_DESCRIPTION), p->description);
    w = LIT(w, K_PRICE);
    memcpy(w, price_text, price_len);
    w += price_len;
    w = put_string(LIT(w, K_CATEGORY), p->category);
    w = put_string(LIT(w, K_CREATED), p->created_at);
    w = put_string(LIT(w, K_UPDATED), p->updated_at);
    w = LIT(w, K_END);
    assert((size_t)(w - text) == total);
    *w = '\0';
    *out = text;
    *len = total;
    return 0;
}

/* ---- product_splice ------------------------------------------------------------------------- */

/*
 * Writes v as printf's "%.3f" does into buf (no NUL) and returns the length, or returns 0 for what
 * it leaves to snprintf: negative numbers and -0, NaN and infinities, and values of 2^52 or more.
 * printf rounds the exact binary value (to nearest, ties to even, in the default rounding mode,
 * which the service never changes), so this does too, in integers: v = m * 2^e exactly with m below
 * 2^53 and e negative, so v * 1000 = m * 1000 * 2^e, where m * 1000 is below 2^63; shifting it
 * right by -e gives the thousandths, and the bits shifted out say whether to round up.
 * buf must hold 32 bytes.
 */
static size_t put_ms(char *buf, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (bits >> 63)
        return 0;
    unsigned biased = (unsigned)(bits >> 52) & 0x7FF;
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
    if (biased == 0x7FF)
        return 0;
    int e;
    if (biased == 0) {
        e = -1074; /* Subnormal (or zero): no implicit bit. */
    } else {
        m |= UINT64_C(1) << 52;
        e = (int)biased - 1075;
    }
    if (e >= 0)
        return 0;
    uint64_t x = m * 1000;
    unsigned shift = (unsigned)-e;
    uint64_t q = 0;
    /* With a shift of 64 or more, x (below 2^63) is below half a unit: it rounds to 0. */
    if (shift < 64) {
        q = x >> shift;
        uint64_t rest = x & ((UINT64_C(1) << shift) - 1);
        uint64_t half = UINT64_C(1) << (shift - 1);
        if (rest > half || (rest == half && (q & 1) != 0))
            q++;
    }
    char digits[24];
    size_t n = 0;
    uint64_t whole = q / 1000;
    do {
        digits[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole != 0);
    size_t len = 0;
    while (n > 0)
        buf[len++] = digits[--n];
    unsigned frac = (unsigned)(q % 1000);
    buf[len++] = '.';
    buf[len++] = (char)('0' + frac / 100);
    buf[len++] = (char)('0' + frac / 10 % 10);
    buf[len++] = (char)('0' + frac % 10);
    return len;
}

#define S_SOURCE ",\"source\":\""
#define S_MS "\",\"fetch_time_ms\":"
#define SOURCE_MAX 32 /* The longest source name the stack buffer takes. */

int product_splice(struct evbuffer *buf, const char *obj, size_t len, const char *source,
                   double fetch_time_ms)
{
    while (len > 0 && (obj[len - 1] == ' ' || obj[len - 1] == '\n' || obj[len - 1] == '\r' ||
                       obj[len - 1] == '\t'))
        len--;
    /* The shortest object that can take more members is {"a":1}: at least "{" + "}" + content. */
    if (len < 3 || obj[0] != '{' || obj[len - 1] != '}')
        return -1;
    if (evbuffer_add(buf, obj, len - 1) != 0)
        return -1;

    /*
     * The tail ,"source":"<source>","fetch_time_ms":<ms>} is built on the stack and added in one
     * go: the same bytes as evbuffer_add_printf with "%s" and "%.3f", without its machinery. What
     * put_ms leaves to printf (no time the service measures) and a source name longer than the
     * words it uses take the printf path.
     */
    char tail[sizeof(S_SOURCE S_MS "}") + SOURCE_MAX + 32];
    size_t source_len = strlen(source);
    size_t ms_len = 0;
    char *w = tail;
    if (source_len <= SOURCE_MAX) {
        w = LIT(tail, S_SOURCE);
        memcpy(w, source, source_len);
        w = LIT(w + source_len, S_MS);
        ms_len = put_ms(w, fetch_time_ms);
    }
    if (ms_len == 0)
        return evbuffer_add_printf(buf, S_SOURCE "%s" S_MS "%.3f}", source, fetch_time_ms) < 0 ? -1
                                                                                               : 0;
    w += ms_len;
    *w++ = '}';
    return evbuffer_add(buf, tail, (size_t)(w - tail)) != 0 ? -1 : 0;
}
