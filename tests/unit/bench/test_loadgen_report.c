/*
 * Unit tests of loadgen_report on a made-up result: the JSON parses and carries the figures, the
 * SVG and HTML hold both plots, the table names every source, and the hit rates are computed as
 * the service computes its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "loadgen_report.h"

typedef struct {
    loadgen_options_t opts;
    loadgen_result_t res;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[256];
    char *argv[] = {"bench",  "--url", "http://127.0.0.1:8000", "-n",  "1000",
                    "--dist", "zipf",  "--write-ratio",         "0.1", NULL};
    assert_int_equal(loadgen_options_parse(9, argv, &f->opts, err, sizeof err), 0);
    loadgen_result_t *r = &f->res;
    r->opts = &f->opts;
    for (int k = 0; k < LOADGEN_CLASSES; k++)
        assert_int_equal(histogram_new(8, UINT64_C(1) << 36, &r->latency[k]), 0);
    assert_int_equal(
        timeline_new(LOADGEN_CLASSES, 100000000, 400, 5, UINT64_C(1) << 36, &r->timeline), 0);
    /* 900 reads (800 from the cache at ~0.1 ms, 100 from the database at ~1 ms), 100 writes. */
    for (int i = 0; i < 1000; i++) {
        int cls = i < 800   ? LOADGEN_CLASS_CACHE
                  : i < 900 ? LOADGEN_CLASS_DATABASE
                            : LOADGEN_CLASS_WRITE;
        uint64_t ns = cls == LOADGEN_CLASS_CACHE      ? 100000 + (uint64_t)i * 10
                      : cls == LOADGEN_CLASS_DATABASE ? 1000000 + (uint64_t)i * 100
                                                      : 500000;
        histogram_record(r->latency[cls], ns);
        assert_int_equal(timeline_record(r->timeline, (uint64_t)i * 2000000, cls, ns), 0);
    }
    r->elapsed_s = 2.0;
    r->requests = r->answered = 1000;
    r->reads = 900;
    r->writes = 100;
    r->writes_405 = 100;
    r->cache_answers = 800;
    r->status[2] = 900;
    r->status[4] = 100;
    r->service_known = 1;
    r->service_hits = 800;
    r->service_misses = 100;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    for (int k = 0; k < LOADGEN_CLASSES; k++)
        histogram_free(f->res.latency[k]);
    timeline_free(f->res.timeline);
    free(f);
    return 0;
}

/* Renders into a string (freed by the caller). */
static char *render(int (*fn)(const loadgen_result_t *, FILE *), const loadgen_result_t *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(fn(r, f), 0);
    fclose(f);
    return buf;
}

static void test_hit_rates(void **state)
{
    fixture_t *f = *state;
    assert_true(loadgen_result_hit_rate(&f->res) == 88.89); /* 800 / 900, 2 decimals. */
    assert_true(loadgen_result_service_hit_rate(&f->res) == 88.89);
    assert_int_equal(loadgen_result_errors(&f->res), 100);
}

static void test_json(void **state)
{
    fixture_t *f = *state;
    char *text = render(loadgen_report_json, &f->res);
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (v == NULL)
        fail_msg("JSON does not parse: %s\n%s", jerr.text, text);
    assert_int_equal(json_integer_value(json_object_get(v, "requests")), 1000);
    assert_int_equal(json_integer_value(json_object_get(v, "reads")), 900);
    assert_true(json_real_value(json_object_get(v, "hit_rate")) == 88.89);
    assert_true(json_real_value(json_object_get(v, "throughput_rps")) == 500.0);
    json_t *lat = json_object_get(v, "latency_ms");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(lat, "cache"), "count")),
                     800);
    double p50 = json_real_value(json_object_get(json_object_get(lat, "cache"), "p50"));
    assert_true(p50 > 0.1 && p50 < 0.11);
    double db_p99 = json_real_value(json_object_get(json_object_get(lat, "database"), "p99"));
    assert_true(db_p99 > 1.08 && db_p99 < 1.1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "service"), "hits")),
                     800);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "options"), "dist")),
                        "zipf");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "errors"), "http")),
                     100);
    json_decref(v);
    free(text);
}

static void test_svg_and_html(void **state)
{
    fixture_t *f = *state;
    char *svg = render(loadgen_report_svg, &f->res);
    assert_non_null(strstr(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "id=\"latency-over-time\""));
    assert_non_null(strstr(svg, "id=\"latency-histogram\""));
    assert_non_null(strstr(svg, "<polyline class=\"cache p50\""));
    assert_non_null(strstr(svg, "<polyline class=\"database p99\""));
    assert_non_null(strstr(svg, "<polyline class=\"write\""));
    assert_null(strstr(svg, "nan"));
    assert_null(strstr(svg, "inf"));
    assert_non_null(strstr(svg, "</svg>"));
    char *html = render(loadgen_report_html, &f->res);
    assert_non_null(strstr(html, "<!doctype html>"));
    assert_non_null(strstr(html, "id=\"latency-over-time\""));
    assert_non_null(strstr(html, "<th scope=\"row\">database</th>"));
    assert_non_null(strstr(html, "</html>"));
    char *text = render(loadgen_report_text, &f->res);
    assert_non_null(strstr(text, "hit ratio 88.89 %"));
    assert_non_null(strstr(text, "answered 405"));
    assert_non_null(strstr(text, "  database "));
    free(svg);
    free(html);
    free(text);
}

/* An empty run (stopped during the warm-up) still renders, without NaN or infinity. */
static void test_empty_result(void **state)
{
    fixture_t *f = *state;
    loadgen_result_t empty = {.opts = &f->opts, .stop_reason = "interrupted"};
    for (int k = 0; k < LOADGEN_CLASSES; k++)
        assert_int_equal(histogram_new(8, 1000, &empty.latency[k]), 0);
    assert_int_equal(timeline_new(LOADGEN_CLASSES, 100, 4, 5, 1000, &empty.timeline), 0);
    char *svg = render(loadgen_report_svg, &empty);
    assert_null(strstr(svg, "nan"));
    char *json = render(loadgen_report_json, &empty);
    json_t *v = json_loads(json, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "stop_reason")), "interrupted");
    json_decref(v);
    free(svg);
    free(json);
    for (int k = 0; k < LOADGEN_CLASSES; k++)
        histogram_free(empty.latency[k]);
    timeline_free(empty.timeline);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_rates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svg_and_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_result, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
