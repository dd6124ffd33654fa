/*
 * static_files — a directory of files loaded into memory once, served by exact path.
 *
 * Used for the built dashboard (UI_DIR) and for Swagger UI's assets (SWAGGER_UI_DIR). Loading
 * happens at start-up, before any loop runs; afterwards the set is read-only and shared by every
 * loop, so serving a file never touches the disk and never blocks. A lookup only ever returns a
 * file that was found under the directory when it was loaded, so no request path (.., %2e%2e,
 * symlinks) can reach anything else. Each file has a strong ETag derived from its content.
 */
#ifndef CACHEME_STATIC_FILES_H
#define CACHEME_STATIC_FILES_H

#include <stddef.h>

typedef struct static_files static_files_t;

/* A file as served; owned by the set. */
typedef struct {
    const char *path;         /* "/index.html": the URL path, with a leading slash. */
    const char *content_type; /* From the extension, e.g. "text/css; charset=utf-8". */
    const char *data;         /* Content. */
    size_t size;              /* Its length. */
    char etag[24];            /* "\"<16 hex digits>\"". */
} static_file_t;

/*
 * Loads every regular file under dir (recursively, at most max_bytes in all; names starting with
 * '.' are skipped) into a new set. only, when not NULL, is a NULL-terminated list of relative paths
 * to load instead of the whole tree. Returns 0 and sets *out, or -1 with a reason in err (e.g. the
 * directory does not exist). Blocking: call at start-up only.
 */
int static_files_load(const char *dir, const char *const *only, size_t max_bytes,
                      static_files_t **out, char *err, size_t errlen);

/* Frees the set. */
void static_files_free(static_files_t *s);

/* Finds the file for a URL path ("/a/b.js"); NULL when there is none. Thread-safe. */
const static_file_t *static_files_find(const static_files_t *s, const char *path);

/* Number of files and total bytes, for the start-up log. */
size_t static_files_count(const static_files_t *s);
size_t static_files_bytes(const static_files_t *s);

/* The content type for a file name, by extension ("application/octet-stream" when unknown). */
const char *static_files_content_type(const char *name);

#endif
