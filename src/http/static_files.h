/*
 * static_files — a directory of files loaded into memory once, served by exact path, each with its
 * pre-compressed variants chosen by the request's Accept-Encoding.
 *
 * Used for the built dashboard (UI_DIR) and for Swagger UI's and ReDoc's assets (SWAGGER_UI_DIR,
 * REDOC_DIR). Loading happens at start-up, before any loop runs; afterwards the set is read-only
 * and shared by every loop, so serving a file never touches the disk and never blocks. A lookup
 * only ever returns a file that was found under the directory when it was loaded, so no request
 * path (.., %2e%2e, symlinks) can reach anything else. Each file has a strong ETag derived from its
 * content.
 *
 * Variants: "<file>.br" (Brotli) and "<file>.gz" (gzip) beside a file are loaded as encodings of
 * it, written by the build (scripts/compress-assets.mjs); the service never compresses. A variant
 * is kept only when it is smaller than the file (and a .gz starts with gzip's magic bytes). It is
 * not a file of its own: "/app.js.gz" is not found when "/app.js" exists, so a variant is only ever
 * sent with the Content-Encoding that says what it is. A .br or .gz without its uncompressed file
 * beside it stays an ordinary file. The variants must hold the file's content: the build writes
 * them after every build, and nothing here checks that they do.
 */
#ifndef CACHEME_STATIC_FILES_H
#define CACHEME_STATIC_FILES_H

#include <stddef.h>

typedef struct static_files static_files_t;

/* The encodings a file may be stored in; the order is the server's preference on a tie. */
typedef enum {
    STATIC_IDENTITY = 0, /* The file as it is; always present. */
    STATIC_BR,           /* Brotli ("<file>.br"). */
    STATIC_GZIP,         /* gzip ("<file>.gz"). */
    STATIC_ENCODING_COUNT_
} static_encoding_t;

/* One stored representation of a file; owned by the set. */
typedef struct {
    const char *data; /* Content as sent; NULL when the file has no such variant. */
    size_t size;      /* Its length. */
    char etag[24];    /* "\"<16 hex digits>\"", with "-br" or "-gz" before the closing quote. */
} static_body_t;

/* A file as served; owned by the set. */
typedef struct {
    const char *path;         /* "/index.html": the URL path, leading slash. */
    const char *content_type; /* From the extension, e.g. "text/css; charset=utf-8". */
    static_body_t body[STATIC_ENCODING_COUNT_]; /* By encoding; [STATIC_IDENTITY] always set. */
    int variants;                               /* Number of compressed variants (0 to 2). */
} static_file_t;

/*
 * Loads every regular file under dir (recursively, at most max_bytes in all, variants included;
 * names starting with '.' are skipped) into a new set. only, when not NULL, is a NULL-terminated
 * list of relative paths to load instead of the whole tree; their variants are loaded when they
 * exist. Returns 0 and sets *out, or -1 with a reason in err (e.g. the directory does not exist).
 * Blocking: call at start-up only.
 */
int static_files_load(const char *dir, const char *const *only, size_t max_bytes,
                      static_files_t **out, char *err, size_t errlen);

/* Frees the set. */
void static_files_free(static_files_t *s);

/* Finds the file for a URL path ("/a/b.js"); NULL when there is none. Thread-safe. */
const static_file_t *static_files_find(const static_files_t *s, const char *path);

/*
 * The encoding of f to send for a request's Accept-Encoding value (NULL when the request has none),
 * as RFC 9110 §12.5.3 has it: codings are matched case-insensitively ("x-gzip" is gzip), with
 * their q-values ("br;q=0" refuses br; an element with a malformed q-value is ignored), "*" stands
 * for every coding not listed, and identity is acceptable unless refused ("identity;q=0", or
 * "*;q=0" without identity listed). Of the representations f has, the one with the highest q wins;
 * on a tie the smaller body. No header, an empty one, or nothing acceptable → identity (a body the
 * client has not refused is better than none).
 */
static_encoding_t static_files_negotiate(const static_file_t *f, const char *accept_encoding);

/* The Content-Encoding value of an encoding; NULL for identity. */
const char *static_files_encoding_name(static_encoding_t enc);

/*
 * Whether an If-None-Match value (a list of entity tags, or "*") matches etag, by weak comparison
 * (RFC 9110 §13.1.2: W/"x" matches "x"). NULL matches nothing.
 */
int static_files_etag_match(const char *if_none_match, const char *etag);

/* Number of files and total bytes (variants included), for the start-up log. */
size_t static_files_count(const static_files_t *s);
size_t static_files_bytes(const static_files_t *s);

/* The content type for a file name, by extension ("application/octet-stream" when unknown). */
const char *static_files_content_type(const char *name);

#endif
