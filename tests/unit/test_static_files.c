/*
 * Unit tests of static_files: choosing an encoding from Accept-Encoding, If-None-Match lists, and
 * loading a directory whose files have .br and .gz variants beside them (variants attached to their
 * file and not found as paths of their own; unusable ones dropped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/static_files.h"

/* A file with all three representations: br smaller than gzip, as the build writes them. */
static static_file_t both(void)
{
    static_file_t f = {.path = "/a.js", .content_type = "text/javascript", .variants = 2};
    f.body[STATIC_IDENTITY] = (static_body_t){"identity-body-long", 18, "\"i\""};
    f.body[STATIC_BR] = (static_body_t){"br", 2, "\"i-br\""};
    f.body[STATIC_GZIP] = (static_body_t){"\x1f\x8bgz", 4, "\"i-gz\""};
    return f;
}

static void test_negotiate(void **state)
{
    (void)state;
    static const struct {
        const char *accept;
        static_encoding_t want;
    } cases[] = {
        {NULL, STATIC_IDENTITY},
        {"", STATIC_IDENTITY},
        {"br, gzip", STATIC_BR},
        {"gzip", STATIC_GZIP},
        {"x-gzip", STATIC_GZIP},
        {"GZIP", STATIC_GZIP},
        {"deflate", STATIC_IDENTITY},
        {"identity", STATIC_IDENTITY},
        {"gzip;q=1, br;q=0.5", STATIC_GZIP},
        {"br;q=0, gzip", STATIC_GZIP},
        {"br;q=0", STATIC_IDENTITY},
        {"*", STATIC_BR},
        {"*;q=0.5, br;q=0", STATIC_GZIP},
        {"*;q=0", STATIC_IDENTITY},
        {"*;q=0, gzip", STATIC_GZIP},
        {"identity;q=1, br;q=0.9", STATIC_IDENTITY},
        {"identity;q=0", STATIC_IDENTITY},
        {" br ; Q=0.2 ,\tgzip ;q=0.3", STATIC_GZIP},
        {"gzip;q=0.5, br;q=0.500", STATIC_BR},
        {"br;q=1.5, gzip", STATIC_GZIP},
        {"br;q=1.000, gzip", STATIC_BR},
        {"br;q=0.0001, gzip;q=0.1", STATIC_GZIP},
        {"br;q=, gzip;q=0.1", STATIC_GZIP},
        {"br;q=abc, gzip;q=0.1", STATIC_GZIP},
        {"br;level=5", STATIC_BR},
        {"br gzip", STATIC_IDENTITY},
        {"br;q=0.5, br;q=0, gzip;q=0.4", STATIC_BR}, /* The first mention counts. */
        {",,, gzip ,,", STATIC_GZIP},
        {";q=1, gzip", STATIC_GZIP},
    };
    static_file_t f = both();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static_encoding_t got = static_files_negotiate(&f, cases[i].accept);
        if (got != cases[i].want)
            fail_msg("Accept-Encoding \"%s\": %d, want %d",
                     cases[i].accept ? cases[i].accept : "(none)", (int)got, (int)cases[i].want);
    }
    /* Only what the file has can be chosen. */
    f.body[STATIC_BR].data = NULL;
    f.variants = 1;
    assert_int_equal(static_files_negotiate(&f, "br"), STATIC_IDENTITY);
    assert_int_equal(static_files_negotiate(&f, "br, gzip"), STATIC_GZIP);
    assert_string_equal(static_files_encoding_name(STATIC_BR), "br");
    assert_string_equal(static_files_encoding_name(STATIC_GZIP), "gzip");
    assert_null(static_files_encoding_name(STATIC_IDENTITY));
}

static void test_etag_match(void **state)
{
    (void)state;
    assert_true(static_files_etag_match("\"abc\"", "\"abc\""));
    assert_true(static_files_etag_match("W/\"abc\"", "\"abc\""));
    assert_true(static_files_etag_match("\"x\", \"abc\"", "\"abc\""));
    assert_true(static_files_etag_match(" \"x\",W/\"abc\" ", "\"abc\""));
    assert_true(static_files_etag_match("*", "\"abc\""));
    assert_false(static_files_etag_match(NULL, "\"abc\""));
    assert_false(static_files_etag_match("\"ab\"", "\"abc\""));
    assert_false(static_files_etag_match("\"abcd\"", "\"abc\""));
    assert_false(static_files_etag_match("abc", "\"abc\""));
    assert_false(static_files_etag_match("\"abc", "\"abc\""));
    assert_false(static_files_etag_match("", "\"abc\""));
}

static void write_file(const char *dir, const char *rel, const char *data, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static void test_load_variants(void **state)
{
    (void)state;
    char dir[] = "/tmp/cacheme-static-XXXXXX";
    assert_non_null(mkdtemp(dir));
    static const char big[] = "0123456789012345678901234567890123456789";
    write_file(dir, "a.js", big, sizeof big - 1);
    write_file(dir, "a.js.br", "tiny", 4);
    write_file(dir, "a.js.gz", "\x1f\x8b-small", 8);
    write_file(dir, "b.css", "short", 5);
    write_file(dir, "b.css.br", "longer than short", 17); /* Not smaller: dropped. */
    write_file(dir, "b.css.gz", "xx", 2);                 /* Not gzip: dropped. */
    write_file(dir, "lone.gz", "\x1f\x8b", 2);            /* No "lone": a file of its own. */

    static_files_t *s = NULL;
    char err[256];
    assert_int_equal(static_files_load(dir, NULL, 1 << 20, &s, err, sizeof err), 0);
    assert_int_equal(static_files_count(s), 3);
    assert_int_equal(static_files_bytes(s), (sizeof big - 1) + 4 + 8 + 5 + 2);
    const static_file_t *a = static_files_find(s, "/a.js");
    assert_non_null(a);
    assert_int_equal(a->variants, 2);
    assert_memory_equal(a->body[STATIC_BR].data, "tiny", 4);
    assert_int_equal(a->body[STATIC_GZIP].size, 8);
    assert_string_not_equal(a->body[STATIC_BR].etag, a->body[STATIC_IDENTITY].etag);
    assert_string_not_equal(a->body[STATIC_GZIP].etag, a->body[STATIC_IDENTITY].etag);
    assert_string_not_equal(a->body[STATIC_GZIP].etag, a->body[STATIC_BR].etag);
    assert_null(static_files_find(s, "/a.js.br"));
    assert_null(static_files_find(s, "/a.js.gz"));
    const static_file_t *b = static_files_find(s, "/b.css");
    assert_non_null(b);
    assert_int_equal(b->variants, 0);
    assert_null(static_files_find(s, "/b.css.br"));
    assert_non_null(static_files_find(s, "/lone.gz"));
    static_files_free(s);

    /* A list of files: their variants are loaded with them, missing ones are no error. */
    static const char *const only[] = {"a.js", "b.css", NULL};
    assert_int_equal(static_files_load(dir, only, 1 << 20, &s, err, sizeof err), 0);
    assert_int_equal(static_files_count(s), 2);
    assert_int_equal(static_files_find(s, "/a.js")->variants, 2);
    assert_int_equal(static_files_find(s, "/b.css")->variants, 0);
    static_files_free(s);

    static const char *const rels[] = {"a.js",     "a.js.br",  "a.js.gz", "b.css",
                                       "b.css.br", "b.css.gz", "lone.gz"};
    for (size_t i = 0; i < sizeof rels / sizeof rels[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, rels[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_etag_match),
        cmocka_unit_test(test_load_variants),
    };
    return cmocka_run_group_tests_name("static_files", tests, NULL, NULL);
}
