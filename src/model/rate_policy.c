/*
 * rate_policy — see rate_policy.h.
 */
#include "model/rate_policy.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address or a block: family, 16 bytes (IPv4 in the first 4), prefix length in bits. */
typedef struct {
    int family;
    unsigned char bytes[16];
    int bits;
} block_t;

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

/* Parses an address (len bytes, no NUL inside) into b with a full-length prefix. */
static int parse_address(const char *s, size_t len, block_t *b)
{
    char text[RATE_POLICY_ADDR_MAX];
    if (len == 0 || len >= sizeof text || memchr(s, '\0', len) != NULL)
        return RATE_POLICY_EINVAL;
    memcpy(text, s, len);
    text[len] = '\0';
    memset(b, 0, sizeof *b);
    if (inet_pton(AF_INET, text, b->bytes) == 1) {
        b->family = AF_INET;
        b->bits = 32;
        return RATE_POLICY_OK;
    }
    if (inet_pton(AF_INET6, text, b->bytes) == 1) {
        b->family = AF_INET6;
        b->bits = 128;
        return RATE_POLICY_OK;
    }
    return RATE_POLICY_EINVAL;
}

/* Parses "address" or "address/bits". */
static int parse_block(const char *s, size_t len, block_t *b)
{
    const char *slash = memchr(s, '/', len);
    if (slash == NULL)
        return parse_address(s, len, b);
    if (parse_address(s, (size_t)(slash - s), b) != RATE_POLICY_OK)
        return RATE_POLICY_EINVAL;
    const char *d = slash + 1;
    size_t dn = len - (size_t)(d - s);
    if (dn == 0 || dn > 3)
        return RATE_POLICY_EINVAL;
    int bits = 0;
    for (size_t i = 0; i < dn; i++) {
        if (d[i] < '0' || d[i] > '9')
            return RATE_POLICY_EINVAL;
        bits = bits * 10 + (d[i] - '0');
    }
    if (bits > b->bits)
        return RATE_POLICY_EINVAL;
    b->bits = bits;
    return RATE_POLICY_OK;
}

static int block_contains(const block_t *block, const block_t *a)
{
    if (block->family != a->family)
        return 0;
    int full = block->bits / 8, rest = block->bits % 8;
    if (memcmp(block->bytes, a->bytes, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xFF << (8 - rest));
    return (block->bytes[full] & mask) == (a->bytes[full] & mask);
}

/* Calls fn(item, len, arg) for each comma-separated, trimmed, non-empty item; stops at non-zero. */
static int each_item(const char *list, size_t n, int (*fn)(const char *, size_t, void *), void *arg)
{
    const char *p = list, *end = list + n;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *item = p;
        size_t len = (size_t)(stop - p);
        trim(&item, &len);
        if (len > 0) {
            int rc = fn(item, len, arg);
            if (rc != 0)
                return rc;
        }
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return 0;
}

static int check_item(const char *item, size_t len, void *arg)
{
    block_t b;
    (void)arg;
    return parse_block(item, len, &b) == RATE_POLICY_OK ? 0 : 1;
}

int rate_policy_proxies_check(const char *list, char *err, size_t errlen)
{
    if (each_item(list, strlen(list), check_item, NULL) != 0) {
        snprintf(err, errlen,
                 "TRUSTED_PROXIES: \"%s\" is not a comma-separated list of IP addresses or "
                 "CIDR blocks",
                 list);
        return RATE_POLICY_EINVAL;
    }
    return RATE_POLICY_OK;
}

static int match_item(const char *item, size_t len, void *arg)
{
    block_t b;
    return parse_block(item, len, &b) == RATE_POLICY_OK && block_contains(&b, arg);
}

static int trusted_block(const char *list, const block_t *a)
{
    return each_item(list, strlen(list), match_item, (void *)a) != 0;
}

int rate_policy_proxy_trusted(const char *list, const char *address)
{
    block_t a;
    if (parse_address(address, strlen(address), &a) != RATE_POLICY_OK)
        return 0;
    return trusted_block(list, &a);
}

static void canonical(const block_t *a, char *out)
{
    inet_ntop(a->family, a->bytes, out, RATE_POLICY_ADDR_MAX);
}

int rate_policy_client_address(const char *peer, const char *xff, size_t xff_len,
                               const char *trusted, char *out)
{
    block_t a;
    if (parse_address(peer, strlen(peer), &a) != RATE_POLICY_OK) {
        /* Not an IP (a Unix socket): counted under its text, cut to fit. */
        snprintf(out, RATE_POLICY_ADDR_MAX, "%s", peer);
        return RATE_POLICY_OK;
    }
    if (xff == NULL || !trusted_block(trusted, &a)) {
        canonical(&a, out);
        return RATE_POLICY_OK;
    }
    /* Right to left: each item was appended by the hop to its right, trusted so far. */
    size_t end = xff_len;
    for (;;) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        const char *item = xff + start;
        size_t len = end - start;
        trim(&item, &len);
        if (len > 0) {
            if (parse_address(item, len, &a) != RATE_POLICY_OK)
                return RATE_POLICY_EINVAL;
            if (!trusted_block(trusted, &a))
                break;
        }
        if (start == 0)
            break; /* All trusted: the leftmost is the client. */
        end = start - 1;
    }
    canonical(&a, out);
    return RATE_POLICY_OK;
}

typedef struct {
    const char *key;
    size_t len;
    int found;
} key_search_t;

static int compare_key(const char *item, size_t len, void *arg)
{
    key_search_t *k = arg;
    /* Look at every byte of the longer text, so the time does not tell how much matched. */
    size_t n = len > k->len ? len : k->len;
    unsigned diff = (unsigned)(len ^ k->len);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < len ? (unsigned char)item[i] : 0;
        unsigned char y = i < k->len ? (unsigned char)k->key[i] : 0;
        diff |= (unsigned)(x ^ y);
    }
    k->found |= diff == 0;
    return 0; /* Compare with every key: the time does not tell which matched either. */
}

int rate_policy_api_key_known(const char *list, const char *key, size_t len)
{
    if (len == 0)
        return 0;
    key_search_t k = {key, len, 0};
    each_item(list, strlen(list), compare_key, &k);
    return k.found;
}

int rate_policy_key_base(const char *route, int by_key, const char *id, size_t id_len, char *out)
{
    int n;
    if (by_key) {
        uint64_t h = 14695981039346656037ULL; /* FNV-1a 64. */
        for (size_t i = 0; i < id_len; i++) {
            h ^= (unsigned char)id[i];
            h *= 1099511628211ULL;
        }
        n = snprintf(out, RATE_POLICY_KEY_MAX, "ratelimit:{%s:key:%016llx}", route,
                     (unsigned long long)h);
    } else {
        if (memchr(id, '\0', id_len) != NULL)
            return RATE_POLICY_EINVAL;
        n = snprintf(out, RATE_POLICY_KEY_MAX, "ratelimit:{%s:ip:%.*s}", route, (int)id_len, id);
    }
    return n > 0 && n < RATE_POLICY_KEY_MAX ? RATE_POLICY_OK : RATE_POLICY_EINVAL;
}

long long rate_policy_seconds(long long ms, long long min_s)
{
    long long s = ms <= 0 ? 0 : (ms + 999) / 1000;
    return s < min_s ? min_s : s;
}

int rate_policy_format_policy(char *out, size_t len, const char *name, long long quota,
                              long long window_s)
{
    int n = snprintf(out, len, "\"%s\";q=%lld;w=%lld", name, quota, window_s);
    return n > 0 && (size_t)n < len ? RATE_POLICY_OK : RATE_POLICY_EINVAL;
}

int rate_policy_format_limit(char *out, size_t len, const char *name, long long remaining,
                             long long reset_s)
{
    int n =
        snprintf(out, len, "\"%s\";r=%lld;t=%lld", name, remaining < 0 ? 0 : remaining, reset_s);
    return n > 0 && (size_t)n < len ? RATE_POLICY_OK : RATE_POLICY_EINVAL;
}
