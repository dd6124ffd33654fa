/*
 * log — the one logger of cacheme.
 *
 * Lines go to stderr as "2026-11-24T11:32:32.123Z level=info msg=..." (logfmt-like), one write(2)
 * per line so that lines from different threads never interleave. The level is set once at start-up
 * (log_set_level) before any thread starts; logging itself is thread-safe and never blocks on a
 * lock.
 */
#ifndef CACHEME_LOG_H
#define CACHEME_LOG_H

typedef enum {
    LOG_DEBUG = 0, /* Detail useful when chasing a bug. */
    LOG_INFO = 1,  /* Normal life: start, stop, one line per request. */
    LOG_WARN = 2,  /* A dependency misbehaves; the service copes. */
    LOG_ERROR = 3  /* Something failed that an operator should look at. */
} log_level_t;

/* Parses "debug", "info", "warn"/"warning", "error". Returns 0 and sets *out, or -1. */
int log_level_parse(const char *s, log_level_t *out);

/* Line format: logfmt (key=value, the default) or one JSON object per line. */
typedef enum { LOG_FORMAT_LOGFMT = 0, LOG_FORMAT_JSON = 1 } log_format_t;

/* Parses "logfmt" or "json". Returns 0 and sets *out, or -1. */
int log_format_parse(const char *s, log_format_t *out);

/* Sets the line format. Call before starting threads. */
void log_set_format(log_format_t format);

/* Sets the minimum level printed. Call before starting threads. */
void log_set_level(log_level_t level);

/* Returns non-zero when a line at this level would be printed. */
int log_enabled(log_level_t level);

/* Prints one line: the message is printf-formatted and placed after "msg=". */
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One answered request: the access log. At warn level when slow is non-zero, else info. */
typedef struct {
    const char *method;     /* "GET". */
    const char *path;       /* The request target as received (truncated to 200 bytes). */
    const char *route;      /* The route pattern that matched, or "-". */
    int status;             /* HTTP status. */
    const char *source;     /* "cache", "database", "stale" or NULL. */
    double duration_us;     /* Dispatch to answer. */
    const char *request_id; /* X-Request-Id. */
    const char *instance;   /* INSTANCE_ID. */
    int slow;               /* 1 when above SLOW_REQUEST_MS. */
} log_request_t;

void log_request(const log_request_t *r);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
