/*
 * log — see log.h. Formats into a stack buffer and writes it with a single write(2).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static log_level_t log_min_level = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, log_level_t *out)
{
    if (strcasecmp(s, "debug") == 0)
        *out = LOG_DEBUG;
    else if (strcasecmp(s, "info") == 0)
        *out = LOG_INFO;
    else if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0)
        *out = LOG_WARN;
    else if (strcasecmp(s, "error") == 0)
        *out = LOG_ERROR;
    else
        return -1;
    return 0;
}

void log_set_level(log_level_t level)
{
    log_min_level = level;
}

int log_enabled(log_level_t level)
{
    return level >= log_min_level;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    if (level < log_min_level)
        return;

    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): ap is started just above. */
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* Truncated: keep the newline. */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* Nothing sensible to do when stderr is gone. */
}
