/*
 * scenario_rate — POST /lab/scenarios/rate-limit-boundary: how many requests of a burst that
 * straddles a window boundary each rate limiting algorithm allows, against what an exact limit
 * allows, and what each costs in Redis.
 *
 * For each of the four algorithms (cache/rate_limiter, the scripts the service's gate sends), the
 * run counts 2 x burst requests of one client against limit requests per window_ms: the first
 * burst ends 1 ms before a window boundary, the second starts on it, spacing_ms apart. The
 * limiter's clock is whatever its caller passes (the gate passes the service's clock), so the run
 * passes chosen instants around the next boundary of the service's clock: the decisions depend on
 * the parameters only, never on when the request came or how long Redis took, and no run waits for
 * a real boundary. Each request is decided by the algorithm's own script, one EVAL, in order on the
 * loop's connection.
 *
 * Per algorithm the answer has the requests allowed (before and after the boundary), what an exact
 * limiter allows of the same requests (one that never lets more than limit into any window of
 * window_ms, allowing whenever it can), the overshoot, the most allowed in any window, the Redis
 * memory of the client's keys after the run (MEMORY USAGE ... SAMPLES 0) and the commands the
 * scripts ran per request (INFO commandstats before and after, summed over the servers).
 *
 * The keys' expiries are real time (PEXPIRE of one or two windows from when a script ran), so a
 * window is at least a second: the run of one algorithm must end before its keys could expire.
 *
 * The run never touches the service's own rate limiting: its client is "ratelimit:{lab:...}", which
 * no request's key base can be (model/rate_policy), its keys are deleted before and after, the
 * settings of /rate-limit/config are neither read for it nor changed, and /rate-limit/stats does
 * not count its requests. Runs on the loop of the request; the caller has taken lab_scenario_begin,
 * which the run gives back with lab_scenario_end when it answers.
 */
#ifndef CACHEME_SCENARIO_RATE_H
#define CACHEME_SCENARIO_RATE_H

#include "http/http.h"

/* A run's parameters (a plain value), from the request body or the defaults. */
typedef struct {
    long long limit;      /* Requests allowed per window: 1..1000, default 10. */
    long long window_ms;  /* The window: 1,000..3,600,000 ms, default 1000. */
    long long burst;      /* Requests on each side of the boundary: 1..1000, default limit. */
    long long spacing_ms; /* Between two requests of a burst: 0..60,000 ms, default 1. */
} scenario_rate_params_t;

/*
 * Reads the parameters from req's body: none (or an empty body) gives the defaults; otherwise a
 * JSON object with any of "limit", "window_ms", "burst", "spacing_ms". Returns 0 and fills *out,
 * or -1 after answering 422 with every problem (FastAPI's shape).
 */
int scenario_rate_parse(http_req_t *req, scenario_rate_params_t *out);

/* Runs the scenario and answers req: 200 with the figures, or 503 when Redis could not answer. */
void scenario_rate_run(http_req_t *req, const scenario_rate_params_t *params);

#endif
