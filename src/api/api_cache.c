/*
 * api_cache — GET /cache/stats (Redis INFO beside the service's own counters) and
 * DELETE /cache/clear (only the product keys).
 */
#include "api/api.h"

#include "api/api_status.h"
#include "cache/cache.h"
#include "core/stats.h"

#include <jansson.h>

static void on_status(json_t *status, int redis_failed, void *arg)
{
    http_req_t *req = arg;
    if (redis_failed)
        stats_incr(STATS_REDIS_ERROR);
    api_reply_value(req, 200, status);
}

void api_cache_stats(http_req_t *req)
{
    api_status_fetch(api_cache(req), on_status, req);
}

static void on_cleared(int status, long long cleared, void *arg)
{
    http_req_t *req = arg;
    if (status != 0) {
        http_reply_error(req, 503, "Cache unavailable");
        return;
    }
    json_t *v = json_pack("{s:s,s:I,s:f}", "message", "Cache cleared successfully", "cleared_keys",
                          (json_int_t)cleared, "timestamp", api_timestamp());
    api_reply_value(req, 200, v);
}

void api_cache_clear(http_req_t *req)
{
    cache_clear(api_cache(req), on_cleared, req);
}
