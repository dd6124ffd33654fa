/*
 * embedded — files compiled into the binary by scripts/embed.sh (see the Makefile): each is a
 * NUL-terminated constant with its length. Read-only, shared by every thread.
 */
#ifndef CACHEME_EMBEDDED_H
#define CACHEME_EMBEDDED_H

#include <stddef.h>

extern const char embedded_schema_sql[]; /* db/schema.sql */
extern const size_t embedded_schema_sql_len;
extern const char embedded_seed_sql[]; /* db/seed.sql */
extern const size_t embedded_seed_sql_len;
extern const char embedded_openapi_json[]; /* docs/openapi.json */
extern const size_t embedded_openapi_json_len;
extern const char embedded_swagger_html[]; /* assets/swagger.html */
extern const size_t embedded_swagger_html_len;
extern const char embedded_swagger_init_js[]; /* assets/swagger-init.js */
extern const size_t embedded_swagger_init_js_len;
extern const char embedded_redoc_html[]; /* assets/redoc.html */
extern const size_t embedded_redoc_html_len;
extern const char embedded_redoc_init_js[]; /* assets/redoc-init.js */
extern const size_t embedded_redoc_init_js_len;

#endif
