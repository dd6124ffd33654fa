/*
 * analytics_policy — see analytics_policy.h.
 */
#include "model/analytics_policy.h"

#include <math.h>
#include <stdio.h>

/* snprintf's result as a length, or -1 when the text was cut or the call failed. */
static int fitted(int n, size_t len)
{
    return n < 0 || (size_t)n >= len ? -1 : n;
}

long long analytics_policy_minute(long long wall_ms)
{
    return wall_ms / 60000;
}

int analytics_policy_views_key(int32_t id, long long minute, char *buf, size_t len)
{
    return fitted(snprintf(buf, len, "analytics:{product:%ld}:views:%lld", (long)id, minute), len);
}

int analytics_policy_visitors_key(int32_t id, char *buf, size_t len)
{
    return fitted(snprintf(buf, len, "analytics:{product:%ld}:visitors", (long)id), len);
}

int analytics_policy_minute_key(long long minute, char *buf, size_t len)
{
    return fitted(snprintf(buf, len, "analytics:{views}:minute:%lld", minute), len);
}

double analytics_policy_weight(long long age_minutes, int half_life_minutes)
{
    if (age_minutes <= 0)
        return 1.0;
    return exp2(-(double)age_minutes / (double)(half_life_minutes > 0 ? half_life_minutes : 1));
}

int analytics_policy_visitor(const char *session, const char *address, char *out)
{
    if (session != NULL)
        return fitted(snprintf(out, ANALYTICS_VISITOR_MAX, "s:%s", session), ANALYTICS_VISITOR_MAX);
    return fitted(snprintf(out, ANALYTICS_VISITOR_MAX, "a:%s", address), ANALYTICS_VISITOR_MAX);
}
