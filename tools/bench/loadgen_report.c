/*
 * loadgen_report — see loadgen_report.h. Latencies are recorded in nanoseconds and printed in
 * milliseconds. The SVG is drawn by hand (no library): two plots with logarithmic latency axes,
 * since the cache path (tens of microseconds) and the database path or a stall (milliseconds to
 * seconds) differ by orders of magnitude. Colours are told apart by line style and labels too.
 */
#include "loadgen_report.h"

#include "cacheme/version.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NS_PER_MS 1e6

static const char *const class_names[LOADGEN_CLASSES] = {"cache", "database", "write", "other"};
/* Blue, orange, green, grey: distinguishable with the common colour-vision deficiencies. */
static const char *const class_colors[LOADGEN_CLASSES] = {"#1f77b4", "#d95f02", "#1b9e77",
                                                          "#666666"};

/*
 * Hits in percent of hits + misses, rounded to 2 decimals; 0 when there were none. This is the
 * service's own formula (stats_hit_rate in src/core/stats.c, the hit_rate of /cache/stats), written
 * again here because the bench links no service code: the integration tests compare the two
 * figures for equality, so a change to one is a change to both.
 */
static double hit_rate(uint64_t hits, uint64_t misses)
{
    uint64_t total = hits + misses;
    if (total == 0)
        return 0.0;
    return round((double)hits * 10000.0 / (double)total) / 100.0;
}

double loadgen_result_hit_rate(const loadgen_result_t *r)
{
    return hit_rate(r->cache_answers, r->reads - r->cache_answers);
}

double loadgen_result_service_hit_rate(const loadgen_result_t *r)
{
    if (!r->service_known)
        return 0.0;
    return hit_rate(r->service_hits, r->service_misses);
}

uint64_t loadgen_result_errors(const loadgen_result_t *r)
{
    return r->socket_errors + r->timeouts + r->status[4] + r->status[5];
}

static double ms(uint64_t ns)
{
    return (double)ns / NS_PER_MS;
}

static double throughput(const loadgen_result_t *r)
{
    return r->elapsed_s > 0 ? (double)r->requests / r->elapsed_s : 0.0;
}

/* Merges every class into a new histogram (freed by the caller), or NULL when memory is short. */
static histogram_t *merged_latency(const loadgen_result_t *r)
{
    histogram_t *all = NULL;
    if (histogram_new_like(r->latency[0], &all) != 0)
        return NULL;
    for (int k = 0; k < LOADGEN_CLASSES; k++)
        (void)histogram_merge(all, r->latency[k]);
    return all;
}

/* "1,234,567" into buf. */
static const char *group(uint64_t v, char *buf, size_t len)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* "12,345.6" into buf: a rate with one decimal and grouped thousands. */
static const char *group_rate(double v, char *buf, size_t len)
{
    uint64_t tenths = (uint64_t)llround(v * 10.0);
    char whole[32];
    group(tenths / 10, whole, sizeof whole);
    size_t n = strlen(whole);
    if (n + 3 > len)
        n = len > 3 ? len - 3 : 0;
    memcpy(buf, whole, n);
    buf[n] = '.';
    buf[n + 1] = (char)('0' + tenths % 10);
    buf[n + 2] = '\0';
    return buf;
}

/* Describes what was asked for in one line, e.g. "16 connections, keys 1..15 zipf (s = 1.1)". */
static void describe_load(const loadgen_options_t *o, char *buf, size_t len)
{
    char dist[96];
    if (o->dist == KEYDIST_HOT)
        snprintf(dist, sizeof dist, "hot key %u", o->hot_key);
    else if (o->dist == KEYDIST_ZIPF)
        snprintf(dist, sizeof dist, "keys 1..%u zipf (s = %g)", o->keys, o->zipf_s);
    else
        snprintf(dist, sizeof dist, "keys 1..%u uniform", o->keys);
    char bound[96];
    if (o->duration_s > 0 && o->requests > 0)
        snprintf(bound, sizeof bound, "%g s or %llu requests", o->duration_s,
                 (unsigned long long)o->requests);
    else if (o->requests > 0)
        snprintf(bound, sizeof bound, "%llu requests", (unsigned long long)o->requests);
    else
        snprintf(bound, sizeof bound, "%g s", o->duration_s);
    snprintf(buf, len, "%d connections, %s, %s, writes %g %%", o->connections, bound, dist,
             o->write_ratio * 100.0);
}

/* ================================================================ text === */

static void text_latency_row(FILE *f, const char *name, const histogram_t *h)
{
    char n[32];
    fprintf(f, "  %-10s %12s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", name,
            group(histogram_count(h), n, sizeof n), ms(histogram_min(h)),
            ms((uint64_t)llround(histogram_mean(h))), ms(histogram_percentile(h, 50)),
            ms(histogram_percentile(h, 90)), ms(histogram_percentile(h, 99)),
            ms(histogram_percentile(h, 99.9)), ms(histogram_max(h)));
}

int loadgen_report_text(const loadgen_result_t *r, FILE *f)
{
    const loadgen_options_t *o = r->opts;
    char a[32], b[32], c[32], d[32], e[32], line[320];
    histogram_t *all = merged_latency(r);
    if (all == NULL)
        return -1;
    describe_load(o, line, sizeof line);
    fprintf(f, "cacheme-bench %s -> %s\n  %s\n", CACHEME_VERSION, o->url, line);
    if (o->warmup_s > 0)
        fprintf(f, "  warm-up %g s: %s requests, not counted below\n", o->warmup_s,
                group(r->warmup_requests, a, sizeof a));
    if (r->stop_reason != NULL)
        fprintf(f, "  stopped early: %s\n", r->stop_reason);
    fprintf(f, "\n  requests   %s in %.2f s = %s req/s\n", group(r->requests, a, sizeof a),
            r->elapsed_s, group_rate(throughput(r), b, sizeof b));
    fprintf(f, "  answers    %s: 2xx %s, 3xx %s, 4xx %s, 5xx %s\n", group(r->answered, a, sizeof a),
            group(r->status[2], b, sizeof b), group(r->status[3], c, sizeof c),
            group(r->status[4], d, sizeof d), group(r->status[5], e, sizeof e));
    fprintf(f, "  errors     %s: socket %s, timeouts %s, status >= 400 %s",
            group(loadgen_result_errors(r), a, sizeof a), group(r->socket_errors, b, sizeof b),
            group(r->timeouts, c, sizeof c), group(r->status[4] + r->status[5], d, sizeof d));
    if (r->connect_errors > 0)
        fprintf(f, " (and %s failed connection attempts)", group(r->connect_errors, e, sizeof e));
    fputc('\n', f);
    fprintf(f, "  reads      %s, %s from the cache: hit ratio %.2f %%\n",
            group(r->reads, a, sizeof a), group(r->cache_answers, b, sizeof b),
            loadgen_result_hit_rate(r));
    if (r->writes > 0) {
        fprintf(f, "  writes     %s", group(r->writes, a, sizeof a));
        if (r->writes_405 > 0)
            fprintf(f, ", %s answered 405: this cacheme has no PATCH /products/{id}",
                    group(r->writes_405, b, sizeof b));
        fputc('\n', f);
    }
    if (r->service_known)
        fprintf(f, "  service    hits +%s, misses +%s: hit rate %.2f %% (GET /cache/stats)\n",
                group(r->service_hits, a, sizeof a), group(r->service_misses, b, sizeof b),
                loadgen_result_service_hit_rate(r));
    else
        fprintf(f, "  service    counters not available (GET /cache/stats)\n");
    fprintf(f, "\n  latency ms %12s %9s %9s %9s %9s %9s %9s %9s\n", "requests", "min", "mean",
            "p50", "p90", "p99", "p99.9", "max");
    text_latency_row(f, "all", all);
    for (int k = 0; k < LOADGEN_CLASSES; k++) {
        if (histogram_count(r->latency[k]) > 0)
            text_latency_row(f, class_names[k], r->latency[k]);
    }
    histogram_free(all);
    return ferror(f) ? -1 : 0;
}

/* ================================================================ JSON === */

static double round3(double v)
{
    return round(v * 1000.0) / 1000.0;
}

static json_t *latency_json(const histogram_t *h)
{
    return json_pack(
        "{s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "count", (json_int_t)histogram_count(h), "min",
        round3(ms(histogram_min(h))), "mean", round3(histogram_mean(h) / NS_PER_MS), "p50",
        round3(ms(histogram_percentile(h, 50))), "p90", round3(ms(histogram_percentile(h, 90))),
        "p99", round3(ms(histogram_percentile(h, 99))), "p99_9",
        round3(ms(histogram_percentile(h, 99.9))), "max", round3(ms(histogram_max(h))));
}

/* The summary as a JSON value (NULL when memory is short). */
static json_t *result_json(const loadgen_result_t *r)
{
    const loadgen_options_t *o = r->opts;
    histogram_t *all = merged_latency(r);
    if (all == NULL)
        return NULL;
    json_t *latency = json_object();
    json_object_set_new(latency, "all", latency_json(all));
    for (int k = 0; k < LOADGEN_CLASSES; k++)
        json_object_set_new(latency, class_names[k], latency_json(r->latency[k]));
    histogram_free(all);
    json_t *service = json_null();
    if (r->service_known)
        service = json_pack("{s:I,s:I,s:f}", "hits", (json_int_t)r->service_hits, "misses",
                            (json_int_t)r->service_misses, "hit_rate",
                            loadgen_result_service_hit_rate(r));
    json_t *options = json_pack(
        "{s:s,s:i,s:f,s:I,s:I,s:s,s:f,s:I,s:f,s:b,s:f,s:f,s:I}", "url", o->url, "connections",
        o->connections, "duration_s", o->duration_s, "requests", (json_int_t)o->requests, "keys",
        (json_int_t)o->keys, "dist", keydist_name(o->dist), "zipf_s", o->zipf_s, "hot_key",
        (json_int_t)o->hot_key, "write_ratio", o->write_ratio, "clear", o->clear, "warmup_s",
        o->warmup_s, "timeout_s", o->timeout_s, "seed", (json_int_t)o->seed);
    json_t *status = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "1xx", (json_int_t)r->status[1], "2xx",
                               (json_int_t)r->status[2], "3xx", (json_int_t)r->status[3], "4xx",
                               (json_int_t)r->status[4], "5xx", (json_int_t)r->status[5], "other",
                               (json_int_t)r->status[0]);
    uint64_t http_errors = r->status[4] + r->status[5];
    json_t *errors =
        json_pack("{s:I,s:I,s:I,s:I,s:I}", "total", (json_int_t)loadgen_result_errors(r), "socket",
                  (json_int_t)r->socket_errors, "timeout", (json_int_t)r->timeouts, "http",
                  (json_int_t)http_errors, "connect", (json_int_t)r->connect_errors);
    return json_pack(
        "{s:s,s:o,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:o,s:o,s:o,s:o,s:I,s:s?}", "version",
        CACHEME_VERSION, "options", options, "elapsed_s", round3(r->elapsed_s), "requests",
        (json_int_t)r->requests, "answered", (json_int_t)r->answered, "reads", (json_int_t)r->reads,
        "writes", (json_int_t)r->writes, "writes_405", (json_int_t)r->writes_405, "cache_answers",
        (json_int_t)r->cache_answers, "throughput_rps", round(throughput(r) * 10.0) / 10.0,
        "hit_rate", loadgen_result_hit_rate(r), "status", status, "errors", errors, "latency_ms",
        latency, "service", service, "warmup_requests", (json_int_t)r->warmup_requests,
        "stop_reason", r->stop_reason);
}

int loadgen_report_json(const loadgen_result_t *r, FILE *f)
{
    json_t *v = result_json(r);
    if (v == NULL)
        return -1;
    int rc = json_dumpf(v, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(v);
    fputc('\n', f);
    return rc != 0 || ferror(f) ? -1 : 0;
}

/* ================================================================ SVG === */

#define SVG_WIDTH 900
#define PLOT_HEIGHT 300
#define MARGIN_LEFT 70
#define MARGIN_RIGHT 130 /* The legend. */
#define MARGIN_TOP 40
#define MARGIN_BOTTOM 45
#define HIST_BINS_PER_DECADE 10

/* Writes s with &, <, > and quotes escaped. */
static void xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* A plot area: data ranges and the pixel box they map to. */
typedef struct {
    double x0, y0;     /* Top-left corner of the plot area (pixels). */
    double w, h;       /* Its size. */
    double xmin, xmax; /* x range (linear, or log10 of the value when xlog). */
    double ymin, ymax; /* y range (log10 of the value when ylog). */
    int xlog, ylog;    /* Logarithmic axes. */
} plot_t;

static double px(const plot_t *p, double x)
{
    double v = p->xlog ? log10(x) : x;
    return p->x0 + (v - p->xmin) / (p->xmax - p->xmin) * p->w;
}

static double py(const plot_t *p, double y)
{
    double v = p->ylog ? log10(y) : y;
    return p->y0 + p->h - (v - p->ymin) / (p->ymax - p->ymin) * p->h;
}

/* Sets a log range of whole decades around [lo, hi] (both > 0). */
static void log_range(double lo, double hi, double *dmin, double *dmax)
{
    *dmin = floor(log10(lo));
    *dmax = ceil(log10(hi));
    if (*dmax <= *dmin)
        *dmax = *dmin + 1;
}

/* A "nice" step (1, 2 or 5 times a power of ten) giving about `ticks` ticks over span. */
static double nice_step(double span, int ticks)
{
    double raw = span / ticks;
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    return (norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10) * mag;
}

/* Formats a latency in ms for an axis label: 0.01, 0.1, 1, 10, 100, 1000. */
static void fmt_ms(double v, char *buf, size_t len)
{
    snprintf(buf, len, "%g", v);
}

/* The frame, grid and tick labels of a plot with a log axis (y, or x when xlog). */
static void draw_axes(FILE *f, const plot_t *p, const char *xlabel, const char *ylabel)
{
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
            "stroke=\"#999\"/>\n",
            p->x0, p->y0, p->w, p->h);
    char label[32];
    /* y ticks: 1, 2 and 5 times each power of ten on a log axis; nice steps on a linear one. */
    if (p->ylog) {
        static const int mult[] = {1, 2, 5};
        for (int d = (int)p->ymin; d <= (int)p->ymax; d++) {
            for (int m = 0; m < 3; m++) {
                double v = pow(10, d) * mult[m];
                if (log10(v) > p->ymax + 1e-9)
                    break;
                double y = py(p, v);
                fprintf(f,
                        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                        p->x0, p->x0 + p->w, y, y, m == 0 ? "#ccc" : "#eee");
                fmt_ms(v, label, sizeof label);
                fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", p->x0 - 6,
                        y + 4, label);
            }
        }
    } else {
        double step = nice_step(p->ymax - p->ymin, 5);
        int ticks = (int)floor(p->ymax / step + 1e-9);
        for (int i = 0; i <= ticks; i++) {
            double v = i * step;
            double y = py(p, v);
            fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                    p->x0, p->x0 + p->w, y, y);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", p->x0 - 6,
                    y + 4, v);
        }
    }
    /* x ticks: each power of ten on a log axis; nice steps on a linear one. */
    if (p->xlog) {
        for (int d = (int)p->xmin; d <= (int)p->xmax; d++) {
            double v = pow(10, d);
            double x = px(p, v);
            fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>\n",
                    x, x, p->y0, p->y0 + p->h);
            fmt_ms(v, label, sizeof label);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x,
                    p->y0 + p->h + 16, label);
        }
    } else {
        double step = nice_step(p->xmax - p->xmin, 8);
        int ticks = (int)floor(p->xmax / step + 1e-9);
        for (int i = 0; i <= ticks; i++) {
            double v = i * step;
            double x = px(p, v);
            fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n",
                    x, x, p->y0, p->y0 + p->h);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n", x,
                    p->y0 + p->h + 16, v);
        }
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p->x0 + p->w / 2,
            p->y0 + p->h + 36);
    xml_escape(f, xlabel);
    fprintf(f,
            "</text>\n<text transform=\"translate(%.1f %.1f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            p->x0 - 52, p->y0 + p->h / 2);
    xml_escape(f, ylabel);
    fputs("</text>\n", f);
}

/* One legend entry at row `row` of the legend column. */
static void legend_entry(FILE *f, const plot_t *p, int row, const char *color, const char *dash,
                         const char *text)
{
    double x = p->x0 + p->w + 14;
    double y = p->y0 + 10 + row * 20;
    fprintf(f,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\"%s%s%s/>\n",
            x, x + 24, y, y, color, dash ? " stroke-dasharray=\"" : "", dash ? dash : "",
            dash ? "\"" : "");
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", x + 30, y + 4, text);
}

/* Percentile q of interval i and class k in ms, or 0 when the interval has no value. */
static double interval_value(const timeline_t *t, size_t i, int k, double q)
{
    if (i >= timeline_points(t))
        return 0;
    const histogram_t *h = timeline_histogram(t, i, k);
    return h != NULL && histogram_count(h) > 0 ? ms(histogram_percentile(h, q)) : 0;
}

/* The latency-over-time plot: p50 (solid) and p99 (dashed) of each class per interval. */
static void svg_timeline(FILE *f, const loadgen_result_t *r, double top)
{
    const timeline_t *t = r->timeline;
    size_t points = timeline_points(t);
    double width_s = (double)timeline_interval(t) / 1e9;
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < points; i++) {
        for (int k = 0; k < LOADGEN_CLASSES; k++) {
            const histogram_t *h = timeline_histogram(t, i, k);
            if (h == NULL || histogram_count(h) == 0)
                continue;
            double p50 = ms(histogram_percentile(h, 50));
            double p99 = ms(histogram_percentile(h, 99));
            if (p50 > 0 && p50 < lo)
                lo = p50;
            if (p99 > hi)
                hi = p99;
        }
    }
    plot_t p = {.x0 = MARGIN_LEFT,
                .y0 = top + MARGIN_TOP,
                .w = SVG_WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
                .h = PLOT_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM,
                .xmin = 0,
                .xmax = r->elapsed_s > 0 ? r->elapsed_s : 1,
                .ylog = 1};
    if (!(hi > 0) || !isfinite(lo)) {
        lo = 0.01;
        hi = 1;
    }
    log_range(lo, hi, &p.ymin, &p.ymax);
    fprintf(f,
            "<g id=\"latency-over-time\">\n<text x=\"%d\" y=\"%.1f\" class=\"title\">Latency "
            "over time: p50 (solid) and p99 (dashed) per %g %s</text>\n",
            MARGIN_LEFT, top + 22, width_s < 1 ? width_s * 1000 : width_s,
            width_s < 1 ? "ms" : "s");
    draw_axes(f, &p, "seconds since the start of the measured phase", "latency (ms, log scale)");
    int row = 0;
    for (int k = 0; k < LOADGEN_CLASSES; k++) {
        if (histogram_count(r->latency[k]) == 0)
            continue;
        for (int pass = 0; pass < 2; pass++) {
            double q = pass == 0 ? 50 : 99;
            int open = 0;
            for (size_t i = 0; i < points; i++) {
                double v = interval_value(t, i, k, q);
                if (v <= 0) {
                    if (open)
                        fputs("\"/>\n", f);
                    open = 0;
                    continue;
                }
                double xm = ((double)i + 0.5) * width_s;
                if (xm > p.xmax)
                    xm = p.xmax;
                if (!open && interval_value(t, i + 1, k, q) <= 0) {
                    /* An interval alone between empty ones: a dot, since a line needs two
                     * points; p50 filled, p99 hollow. */
                    fprintf(f,
                            "<circle class=\"%s p%d\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
                            "fill=\"%s\" stroke=\"%s\" stroke-width=\"1.5\"/>\n",
                            class_names[k], (int)q, px(&p, xm), py(&p, v),
                            pass ? "#fff" : class_colors[k], class_colors[k]);
                    continue;
                }
                if (!open) {
                    fprintf(f,
                            "<polyline class=\"%s p%d\" fill=\"none\" stroke=\"%s\" "
                            "stroke-width=\"1.5\"%s points=\"",
                            class_names[k], (int)q, class_colors[k],
                            pass ? " stroke-dasharray=\"5 3\"" : "");
                    open = 1;
                }
                fprintf(f, "%.1f,%.1f ", px(&p, xm), py(&p, v));
            }
            if (open)
                fputs("\"/>\n", f);
        }
        char text[48];
        snprintf(text, sizeof text, "%s", class_names[k]);
        legend_entry(f, &p, row++, class_colors[k], NULL, text);
    }
    legend_entry(f, &p, row++, "#333", NULL, "p50");
    legend_entry(f, &p, row, "#333", "5 3", "p99");
    fputs("</g>\n", f);
}

/* The latency histogram: for each class, the share of its requests per log-spaced bin. */
static void svg_histogram(FILE *f, const loadgen_result_t *r, double top)
{
    double lo = INFINITY, hi = 0;
    for (int k = 0; k < LOADGEN_CLASSES; k++) {
        const histogram_t *h = r->latency[k];
        if (histogram_count(h) == 0)
            continue;
        double mn = ms(histogram_min(h)), mx = ms(histogram_max(h));
        if (mn > 0 && mn < lo)
            lo = mn;
        if (mx > hi)
            hi = mx;
    }
    if (!(hi > 0) || !isfinite(lo)) {
        lo = 0.01;
        hi = 1;
    }
    plot_t p = {.x0 = MARGIN_LEFT,
                .y0 = top + MARGIN_TOP,
                .w = SVG_WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
                .h = PLOT_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM,
                .xlog = 1};
    log_range(lo, hi, &p.xmin, &p.xmax);
    int bins = (int)(p.xmax - p.xmin) * HIST_BINS_PER_DECADE;
    double *share = calloc((size_t)bins * LOADGEN_CLASSES, sizeof *share);
    double top_share = 0;
    for (int k = 0; share != NULL && k < LOADGEN_CLASSES; k++) {
        const histogram_t *h = r->latency[k];
        uint64_t total = histogram_count(h);
        if (total == 0)
            continue;
        for (size_t i = 0; i < histogram_bucket_count(h); i++) {
            uint64_t low, high;
            uint64_t n = histogram_bucket(h, i, &low, &high);
            if (n == 0)
                continue;
            double mid = ms(low + (high - low) / 2);
            int b = mid > 0 ? (int)floor((log10(mid) - p.xmin) * HIST_BINS_PER_DECADE) : 0;
            b = b < 0 ? 0 : b >= bins ? bins - 1 : b;
            share[k * bins + b] += 100.0 * (double)n / (double)total;
        }
        for (int b = 0; b < bins; b++) {
            if (share[k * bins + b] > top_share)
                top_share = share[k * bins + b];
        }
    }
    p.ymin = 0;
    p.ymax =
        top_share > 0 ? nice_step(top_share, 1) * ceil(top_share / nice_step(top_share, 1)) : 100;
    fprintf(f,
            "<g id=\"latency-histogram\">\n<text x=\"%d\" y=\"%.1f\" class=\"title\">Latency "
            "histogram by source: share of each source's requests per bin</text>\n",
            MARGIN_LEFT, top + 22);
    draw_axes(f, &p, "latency (ms, log scale)", "% of the source's requests");
    int row = 0;
    for (int k = 0; share != NULL && k < LOADGEN_CLASSES; k++) {
        if (histogram_count(r->latency[k]) == 0)
            continue;
        /* A step outline, closed along the x axis, lightly filled. */
        fprintf(f,
                "<polyline class=\"%s\" fill=\"%s\" fill-opacity=\"0.15\" stroke=\"%s\" "
                "stroke-width=\"1.5\" points=\"%.1f,%.1f ",
                class_names[k], class_colors[k], class_colors[k], p.x0, p.y0 + p.h);
        for (int b = 0; b < bins; b++) {
            double x1 = p.x0 + (double)b / bins * p.w;
            double x2 = p.x0 + (double)(b + 1) / bins * p.w;
            double y = py(&p, share[k * bins + b]);
            fprintf(f, "%.1f,%.1f %.1f,%.1f ", x1, y, x2, y);
        }
        fprintf(f, "%.1f,%.1f\"/>\n", p.x0 + p.w, p.y0 + p.h);
        legend_entry(f, &p, row++, class_colors[k], NULL, class_names[k]);
    }
    free(share);
    fputs("</g>\n", f);
}

/* The <svg> element with both plots; standalone adds the XML namespace prolog attributes. */
static void svg_element(FILE *f, const loadgen_result_t *r)
{
    char load[320];
    describe_load(r->opts, load, sizeof load);
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"bench-title bench-desc\" "
            "font-family=\"system-ui, sans-serif\" font-size=\"12\">\n",
            SVG_WIDTH, 2 * PLOT_HEIGHT, SVG_WIDTH, 2 * PLOT_HEIGHT);
    fputs("<title id=\"bench-title\">cacheme-bench: latency over time and latency histogram by "
          "source</title>\n<desc id=\"bench-desc\">",
          f);
    xml_escape(f, r->opts->url);
    fputs(", ", f);
    xml_escape(f, load);
    fprintf(f, ": %llu requests in %.2f s, hit ratio %.2f %%.</desc>\n",
            (unsigned long long)r->requests, r->elapsed_s, loadgen_result_hit_rate(r));
    fputs("<style>.title{font-size:14px;font-weight:600}</style>\n", f);
    svg_timeline(f, r, 0);
    svg_histogram(f, r, PLOT_HEIGHT);
    fputs("</svg>\n", f);
}

int loadgen_report_svg(const loadgen_result_t *r, FILE *f)
{
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    svg_element(f, r);
    return ferror(f) ? -1 : 0;
}

/* ================================================================ HTML === */

static void html_latency_row(FILE *f, const char *name, const histogram_t *h)
{
    fprintf(f, "<tr><th scope=\"row\">%s</th><td>%llu</td>", name,
            (unsigned long long)histogram_count(h));
    const double qs[] = {50, 90, 99, 99.9};
    fprintf(f, "<td>%.3f</td>", histogram_mean(h) / NS_PER_MS);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        fprintf(f, "<td>%.3f</td>", ms(histogram_percentile(h, qs[i])));
    fprintf(f, "<td>%.3f</td></tr>\n", ms(histogram_max(h)));
}

int loadgen_report_html(const loadgen_result_t *r, FILE *f)
{
    histogram_t *all = merged_latency(r);
    if (all == NULL)
        return -1;
    char load[320];
    describe_load(r->opts, load, sizeof load);
    fputs("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>cacheme-bench report</title>\n<style>\n"
          "body{font-family:system-ui,sans-serif;margin:2rem;color:#111;max-width:960px}\n"
          "table{border-collapse:collapse;margin:1rem 0}\n"
          "th,td{border:1px solid #bbb;padding:.25rem .6rem;text-align:right}\n"
          "th[scope=row]{text-align:left}\ncaption{text-align:left;font-weight:600}\n"
          "pre{background:#f5f5f5;padding:1rem;overflow:auto}\n</style>\n</head>\n<body>\n"
          "<h1>cacheme-bench report</h1>\n<p>",
          f);
    xml_escape(f, r->opts->url);
    fputs(" &mdash; ", f);
    xml_escape(f, load);
    fputs("</p>\n", f);
    if (r->stop_reason != NULL) {
        fputs("<p><strong>Stopped early:</strong> ", f);
        xml_escape(f, r->stop_reason);
        fputs("</p>\n", f);
    }
    uint64_t http_errors = r->status[4] + r->status[5];
    fprintf(f,
            "<table>\n<caption>Summary</caption>\n"
            "<tr><th scope=\"row\">requests</th><td>%llu in %.2f s</td></tr>\n"
            "<tr><th scope=\"row\">throughput</th><td>%.1f req/s</td></tr>\n"
            "<tr><th scope=\"row\">errors</th><td>%llu (socket %llu, timeouts %llu, status "
            "&ge; 400 %llu)</td></tr>\n"
            "<tr><th scope=\"row\">hit ratio</th><td>%.2f %% (%llu of %llu reads from the "
            "cache)</td></tr>\n",
            (unsigned long long)r->requests, r->elapsed_s, throughput(r),
            (unsigned long long)loadgen_result_errors(r), (unsigned long long)r->socket_errors,
            (unsigned long long)r->timeouts, (unsigned long long)http_errors,
            loadgen_result_hit_rate(r), (unsigned long long)r->cache_answers,
            (unsigned long long)r->reads);
    if (r->service_known)
        fprintf(f,
                "<tr><th scope=\"row\">service counters</th><td>hits +%llu, misses +%llu: "
                "%.2f %%</td></tr>\n",
                (unsigned long long)r->service_hits, (unsigned long long)r->service_misses,
                loadgen_result_service_hit_rate(r));
    fputs("</table>\n<table>\n<caption>Latency (ms) by source</caption>\n<tr><th "
          "scope=\"col\">source</th><th scope=\"col\">requests</th><th scope=\"col\">mean</th>"
          "<th scope=\"col\">p50</th><th scope=\"col\">p90</th><th scope=\"col\">p99</th>"
          "<th scope=\"col\">p99.9</th><th scope=\"col\">max</th></tr>\n",
          f);
    html_latency_row(f, "all", all);
    for (int k = 0; k < LOADGEN_CLASSES; k++) {
        if (histogram_count(r->latency[k]) > 0)
            html_latency_row(f, class_names[k], r->latency[k]);
    }
    histogram_free(all);
    fputs("</table>\n<figure>\n", f);
    svg_element(f, r);
    fputs("<figcaption>Latency over time (p50 and p99 per interval) and the latency histogram of "
          "each source.</figcaption>\n</figure>\n<details>\n<summary>JSON</summary>\n<pre>",
          f);
    json_t *v = result_json(r);
    char *text = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL)
        xml_escape(f, text);
    free(text);
    json_decref(v);
    fputs("</pre>\n</details>\n</body>\n</html>\n", f);
    return ferror(f) ? -1 : 0;
}
