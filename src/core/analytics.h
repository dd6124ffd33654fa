/*
 * analytics — the counters of view analytics (GET /analytics/stats), shared by every event loop.
 *
 * Each loop counts the views it recorded, the views it sent to Redis in a burst, the views it had
 * to drop (Redis down, a burst already on its way with the batch full, an error reply), and the
 * bursts and commands it sent: enough to see what counting costs Redis and whether anything is
 * lost. They are relaxed atomics, each exact under concurrency; thread-safe, lock-free, never
 * block. Where the views go and how they are read is cache/analytics.
 */
#ifndef CACHEME_ANALYTICS_H
#define CACHEME_ANALYTICS_H

#include <jansson.h>
#include <stdint.h>

/* What a counter counts. */
typedef enum {
    ANALYTICS_RECORDED = 0, /* Views (200 answers of GET /products/{id}) taken into a batch. */
    ANALYTICS_SENT,         /* Views whose burst Redis applied. */
    ANALYTICS_DROPPED,      /* Views lost: Redis down or failing, or the batch full. */
    ANALYTICS_BURSTS,       /* Pipelined bursts sent. */
    ANALYTICS_COMMANDS,     /* Redis commands in those bursts. */
    ANALYTICS_COUNTERS      /* How many there are. */
} analytics_counter_t;

/* Adds n to a counter. */
void analytics_add(analytics_counter_t which, uint64_t n);

/* A counter's value. */
uint64_t analytics_count(analytics_counter_t which);

/*
 * The counters as a JSON object (new reference): views_recorded, views_sent, views_dropped,
 * bursts, commands.
 */
json_t *analytics_counters_json(void);

#endif
