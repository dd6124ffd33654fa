/*
 * cache_entry — see cache_entry.h.
 */
#include "model/cache_entry.h"

#include "core/json_scan.h"

#include <math.h>
#include <string.h>

cache_entry_kind_t cache_entry_classify(const char *val, size_t len)
{
    static const char *const added[] = {"source", "fetch_time_ms", NULL};
    if (len == sizeof CACHE_ENTRY_NULL - 1 && memcmp(val, CACHE_ENTRY_NULL, len) == 0)
        return CACHE_ENTRY_NOT_FOUND;
    return json_scan_object(val, len, added) == JSON_SCAN_OK ? CACHE_ENTRY_PRODUCT
                                                             : CACHE_ENTRY_INVALID;
}

int cache_entry_jittered_ttl(int ttl_s, int jitter_percent, double u)
{
    double factor = 1.0 + (double)jitter_percent / 100.0 * (2.0 * u - 1.0);
    long long t = llround((double)ttl_s * factor);
    return t < 1 ? 1 : (int)t;
}

long long cache_entry_fresh_ms(long long ttl_ms, int window_percent, double delta_ms, double beta,
                               double u)
{
    double fresh = (double)ttl_ms * (100 - window_percent) / 100.0;
    if (u > 0.0 && u <= 1.0)
        fresh += delta_ms * beta * log(u); /* log(u) <= 0: earlier. */
    if (fresh <= 0.0)
        return 0;
    return fresh >= (double)ttl_ms ? ttl_ms : (long long)fresh;
}
