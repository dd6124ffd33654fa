/*
 * cache_entry — see cache_entry.h.
 */
#include "cache_entry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cache_entry_encode(long long expiry_ms, const char *json, size_t len, char **out,
                       size_t *outlen)
{
    char head[32];
    int n = snprintf(head, sizeof head, "%lld:", expiry_ms);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    char *buf = malloc((size_t)n + len + 1);
    if (buf == NULL)
        return -1;
    memcpy(buf, head, (size_t)n);
    if (len > 0)
        memcpy(buf + n, json, len);
    buf[(size_t)n + len] = '\0';
    *out = buf;
    *outlen = (size_t)n + len;
    return 0;
}

int cache_entry_decode(const char *val, size_t len, long long *expiry_ms, const char **json,
                       size_t *jlen)
{
    long long v = 0;
    size_t i = 0;
    for (; i < len && i < 20 && val[i] >= '0' && val[i] <= '9'; i++)
        v = v * 10 + (val[i] - '0');
    if (i == 0 || i >= len || val[i] != ':')
        return -1;
    *expiry_ms = v;
    *json = val + i + 1;
    *jlen = len - i - 1;
    return 0;
}

int cache_entry_jittered_ttl(int ttl_s, int jitter_percent, double u)
{
    double factor = 1.0 + (double)jitter_percent / 100.0 * (2.0 * u - 1.0);
    long long t = llround((double)ttl_s * factor);
    return t < 1 ? 1 : (int)t;
}

int cache_entry_should_refresh(long long now_ms, long long expiry_ms, long long ttl_ms,
                               int window_percent, double delta_ms, double beta, double u)
{
    if (now_ms >= expiry_ms)
        return 0; /* Expired: that is a miss, not a refresh. */
    if ((double)(expiry_ms - now_ms) <= (double)ttl_ms * window_percent / 100.0)
        return 1;
    if (u <= 0.0 || u > 1.0)
        return 0;
    return (double)now_ms - delta_ms * beta * log(u) >= (double)expiry_ms;
}
