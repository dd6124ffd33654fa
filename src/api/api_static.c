/*
 * api_static — documents and files served from memory: GET /openapi.json, Swagger UI at /docs and
 * ReDoc at /redoc on the API port, and the dashboard (with /config.json) on the dashboard port.
 *
 * Files carry an ETag (If-None-Match → 304) and are sent pre-compressed (br, gzip) when the build
 * wrote variants of them and the request accepts one (static_files.h). Cache-Control: HTML must be
 * revalidated, Astro's hashed assets under /_astro/ are immutable, anything else may be kept for an
 * hour.
 */
#include "api/api.h"

#include "core/embedded.h"
#include "http/static_files.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/*
 * Answers with f in the encoding the request's Accept-Encoding prefers (static_files_negotiate).
 * A file with variants says Vary: Accept-Encoding on every answer, the identity one and 304s
 * included, so that a shared cache never hands one client's encoding to another. Each encoding has
 * its own ETag, which If-None-Match is compared with.
 */
static void reply_file(http_req_t *req, const static_file_t *f, const char *cache_control)
{
    static_encoding_t enc = static_files_negotiate(f, http_req_header(req, "Accept-Encoding"));
    const static_body_t *b = &f->body[enc];
    const char *coding = static_files_encoding_name(enc);
    http_req_add_header(req, "ETag", b->etag);
    http_req_add_header(req, "Cache-Control", cache_control);
    if (f->variants > 0)
        http_req_add_header(req, "Vary", "Accept-Encoding");
    if (static_files_etag_match(http_req_header(req, "If-None-Match"), b->etag)) {
        http_reply_empty(req, 304);
        return;
    }
    if (coding != NULL)
        http_req_add_header(req, "Content-Encoding", coding);
    http_reply_static(req, 200, f->content_type, b->data, b->size);
}

void api_openapi(http_req_t *req)
{
    http_req_add_header(req, "Cache-Control", "no-cache");
    http_reply_static(req, 200, "application/json", embedded_openapi_json,
                      embedded_openapi_json_len);
}

void api_docs_page(http_req_t *req)
{
    http_req_add_header(req, "Cache-Control", "no-cache");
    http_reply_static(req, 200, "text/html; charset=utf-8", embedded_swagger_html,
                      embedded_swagger_html_len);
}

/*
 * The request's {file*} segment, or NULL after answering 400: a decoded NUL (%00) names no file,
 * and as a C string the name would be cut short and find another one.
 */
static const char *asset_name(http_req_t *req)
{
    size_t len;
    const char *file = http_req_param(req, &len);
    if (memchr(file, '\0', len) != NULL) {
        http_reply_error(req, 400, "Bad Request");
        return NULL;
    }
    return file;
}

/* The asset called file in set, or NULL. */
static const static_file_t *find_asset(const char *file, const static_files_t *set)
{
    char path[512];
    if (strlen(file) + 2 > sizeof path)
        return NULL;
    snprintf(path, sizeof path, "/%s", file);
    return static_files_find(set, path);
}

void api_docs_asset(http_req_t *req)
{
    const char *file = asset_name(req);
    if (file == NULL)
        return;
    if (strcmp(file, "init.js") == 0) {
        http_req_add_header(req, "Cache-Control", "no-cache");
        http_reply_static(req, 200, "text/javascript; charset=utf-8", embedded_swagger_init_js,
                          embedded_swagger_init_js_len);
        return;
    }
    const static_file_t *f = find_asset(file, api_loop(req)->swagger);
    if (f == NULL) {
        http_reply_error(req, 404, "Not Found");
        return;
    }
    reply_file(req, f, "public, max-age=3600");
}

void api_redoc_page(http_req_t *req)
{
    http_req_add_header(req, "Cache-Control", "no-cache");
    http_reply_static(req, 200, "text/html; charset=utf-8", embedded_redoc_html,
                      embedded_redoc_html_len);
}

void api_redoc_asset(http_req_t *req)
{
    const char *file = asset_name(req);
    if (file == NULL)
        return;
    if (strcmp(file, "init.js") == 0) {
        http_req_add_header(req, "Cache-Control", "no-cache");
        http_reply_static(req, 200, "text/javascript; charset=utf-8", embedded_redoc_init_js,
                          embedded_redoc_init_js_len);
        return;
    }
    const static_file_t *f = find_asset(file, api_loop(req)->redoc);
    if (f == NULL) {
        http_reply_error(req, 404, "Not Found");
        return;
    }
    reply_file(req, f, "public, max-age=3600");
}

/* ---------------------------------------------------------------- dashboard port --- */

static void api_ui_config(http_req_t *req)
{
    const config_t *cfg = cache_config(api_cache(req));
    char docs[CONFIG_STR_MAX + 8];
    snprintf(docs, sizeof docs, "%s/docs", cfg->ui_api_base);
    json_t *v = json_pack(
        "{s:s,s:i,s:{s:o,s:o,s:o}}", "api_base", cfg->ui_api_base, "api_port", cfg->port, "links",
        "docs", cfg->ui_api_base[0] ? json_string(docs) : json_null(), "pgadmin",
        cfg->pgadmin_url[0] ? json_string(cfg->pgadmin_url) : json_null(), "redis_commander",
        cfg->redis_commander_url[0] ? json_string(cfg->redis_commander_url) : json_null());
    http_req_add_header(req, "Cache-Control", "no-cache");
    api_reply_value(req, 200, v);
}

static void api_ui_file(http_req_t *req)
{
    size_t n;
    const char *rel = http_req_param(req, &n);
    if (memchr(rel, '\0', n) != NULL) {
        http_reply_error(req, 400, "Bad Request"); /* "%00": no file name has a NUL. */
        return;
    }
    const static_files_t *files = api_loop(req)->ui;
    if (files == NULL) {
        http_reply_error(req, 503,
                         "The dashboard is not built: run `make run` (or `npm run build` "
                         "in web/) and restart");
        return;
    }
    char path[1024];
    const static_file_t *f = NULL;
    if (n + 16 < sizeof path) {
        /* "/", "/x/" → index.html; "/x" → "/x", then "/x.html", then "/x/index.html". */
        int dir = n == 0 || rel[n - 1] == '/';
        snprintf(path, sizeof path, "/%s%s", rel, dir ? "index.html" : "");
        f = static_files_find(files, path);
        if (f == NULL && !dir) {
            snprintf(path, sizeof path, "/%s.html", rel);
            f = static_files_find(files, path);
        }
        if (f == NULL && !dir) {
            snprintf(path, sizeof path, "/%s/index.html", rel);
            f = static_files_find(files, path);
        }
    }
    if (f == NULL) {
        http_reply_error(req, 404, "Not Found");
        return;
    }
    const char *cc = "public, max-age=3600";
    if (strncmp(f->path, "/_astro/", 8) == 0)
        cc = "public, max-age=31536000, immutable";
    else if (strstr(f->content_type, "text/html") != NULL)
        cc = "no-cache";
    reply_file(req, f, cc);
}

const http_route_t api_ui_routes[] = {
    {"/config.json", HTTP_GET, api_ui_config, NULL},
    {"/{path*}", HTTP_GET, api_ui_file, NULL},
};
const int api_ui_route_count = (int)(sizeof api_ui_routes / sizeof api_ui_routes[0]);
