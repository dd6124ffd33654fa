/*
 * log — see log.h. Formats into a stack buffer and writes it with a single write(2).
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static log_level_t log_min_level = LOG_INFO;
static log_format_t log_format = LOG_FORMAT_LOGFMT;

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

int log_format_parse(const char *s, log_format_t *out)
{
    if (strcasecmp(s, "logfmt") == 0)
        *out = LOG_FORMAT_LOGFMT;
    else if (strcasecmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

void log_set_format(log_format_t format)
{
    log_format = format;
}

void log_set_level(log_level_t level)
{
    log_min_level = level;
}

int log_enabled(log_level_t level)
{
    return level >= log_min_level;
}

/* Writes "2026-11-24T11:32:32.123Z" into out (at least 32 bytes). */
static void timestamp(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, len - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));
}

/* Appends s to buf at *n as a JSON string body (quotes and control characters escaped). */
static void json_escape(char *buf, size_t cap, size_t *n, const char *s)
{
    for (; *s && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*n)++] = '\\';
            buf[(*n)++] = (char)c;
        } else if (c < 0x20) {
            *n += (size_t)snprintf(buf + *n, cap - *n, "\\u%04x", c);
        } else {
            buf[(*n)++] = (char)c;
        }
    }
}

/* Appends s to buf at *n as a logfmt value: quoted when it has spaces, quotes or '='. */
static void logfmt_value(char *buf, size_t cap, size_t *n, const char *s)
{
    int quote = *s == '\0' || strpbrk(s, " \"=\t") != NULL;
    if (quote && *n + 1 < cap)
        buf[(*n)++] = '"';
    for (; *s && *n + 3 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buf[(*n)++] = '\\';
        buf[(*n)++] = (char)(c < 0x20 ? 0x20 : c);
    }
    if (quote && *n + 1 < cap)
        buf[(*n)++] = '"';
}

static void emit(char *line, size_t len, size_t cap)
{
    if (len > cap - 2)
        len = cap - 2; /* Truncated: keep the newline. */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* Nothing sensible to do when stderr is gone. */
}

void log_write(log_level_t level, const char *fmt, ...)
{
    if (level < log_min_level)
        return;
    char msg[1800];
    va_list ap;
    va_start(ap, fmt);
    /* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): ap is started just above. */
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (m < 0)
        msg[0] = '\0';

    char line[2048], ts[40];
    timestamp(ts, sizeof ts);
    size_t n;
    if (log_format == LOG_FORMAT_JSON) {
        n = (size_t)snprintf(line, sizeof line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
                             log_level_names[level]);
        json_escape(line, sizeof line, &n, msg);
        n += (size_t)snprintf(line + n, sizeof line - n, "\"}");
    } else {
        n = (size_t)snprintf(line, sizeof line, "%s level=%s msg=", ts, log_level_names[level]);
        size_t room = sizeof line - n - 2;
        size_t ml = strlen(msg);
        memcpy(line + n, msg, ml < room ? ml : room);
        n += ml < room ? ml : room;
    }
    emit(line, n, sizeof line);
}

void log_request(const log_request_t *r)
{
    log_level_t level = r->slow ? LOG_WARN : LOG_INFO;
    if (level < log_min_level)
        return;
    char line[2048], ts[40], path[201];
    timestamp(ts, sizeof ts);
    snprintf(path, sizeof path, "%s", r->path ? r->path : "");
    const char *source = r->source ? r->source : "-";
    size_t n;
    if (log_format == LOG_FORMAT_JSON) {
        n = (size_t)snprintf(line, sizeof line,
                             "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\",\"method\":\"%s\","
                             "\"path\":\"",
                             ts, log_level_names[level], r->slow ? "slow request" : "request",
                             r->method);
        json_escape(line, sizeof line, &n, path);
        n += (size_t)snprintf(line + n, sizeof line - n,
                              "\",\"route\":\"%s\",\"status\":%d,\"source\":\"%s\","
                              "\"duration_us\":%.0f,\"request_id\":\"%s\",\"instance\":\"",
                              r->route, r->status, source, r->duration_us, r->request_id);
        json_escape(line, sizeof line, &n, r->instance);
        n += (size_t)snprintf(line + n, sizeof line - n, "\"}");
    } else {
        n = (size_t)snprintf(line, sizeof line, "%s level=%s msg=%s method=%s path=", ts,
                             log_level_names[level], r->slow ? "\"slow request\"" : "request",
                             r->method);
        logfmt_value(line, sizeof line, &n, path);
        n += (size_t)snprintf(line + n, sizeof line - n,
                              " route=%s status=%d source=%s duration_us=%.0f request_id=%s "
                              "instance=",
                              r->route, r->status, source, r->duration_us, r->request_id);
        logfmt_value(line, sizeof line, &n, r->instance);
    }
    if (n >= sizeof line)
        n = sizeof line - 2;
    emit(line, n, sizeof line);
}
