/*
 * analytics — see analytics.h.
 */
#include "core/analytics.h"

#include <stdatomic.h>

static _Atomic uint64_t analytics_counters[ANALYTICS_COUNTERS];

/* The JSON names of the counters, in the order of analytics_counter_t. */
static const char *const analytics_names[ANALYTICS_COUNTERS] = {
    "views_recorded", "views_sent", "views_dropped", "bursts", "commands",
};

void analytics_add(analytics_counter_t which, uint64_t n)
{
    atomic_fetch_add_explicit(&analytics_counters[which], n, memory_order_relaxed);
}

uint64_t analytics_count(analytics_counter_t which)
{
    return atomic_load_explicit(&analytics_counters[which], memory_order_relaxed);
}

json_t *analytics_counters_json(void)
{
    json_t *o = json_object();
    for (int i = 0; i < ANALYTICS_COUNTERS; i++)
        json_object_set_new(o, analytics_names[i],
                            json_integer((json_int_t)analytics_count((analytics_counter_t)i)));
    return o;
}
