/*
 * static_files — see static_files.h. Files are kept in an array sorted by path; lookups use
 * bsearch.
 */
#include "http/static_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct static_files {
    static_file_t *files; /* Sorted by path. */
    size_t n, cap;        /* Used and allocated entries. */
    size_t bytes;         /* Total content size. */
    size_t max_bytes;     /* Load limit. */
};

const char *static_files_content_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
        {".xml", "application/xml"},
        {".webmanifest", "application/manifest+json"},
    };
    const char *dot = strrchr(name, '.');
    if (dot != NULL && strchr(dot, '/') == NULL) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (strcasecmp(dot, types[i].ext) == 0)
                return types[i].type;
        }
    }
    return "application/octet-stream";
}

/* FNV-1a over the content: a cheap, stable validator for ETag. */
static void make_etag(const char *data, size_t size, char out[24])
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < size; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    snprintf(out, 24, "\"%016llx\"", (unsigned long long)h);
}

static int read_file(const char *full, char **data, size_t *size)
{
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    size_t got = 0;
    while (buf != NULL && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (buf == NULL || got != n) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return 0;
}

static int add_file(static_files_t *s, const char *full, const char *rel, char *err, size_t errlen)
{
    char *data;
    size_t size;
    if (read_file(full, &data, &size) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", full, strerror(errno));
        return -1;
    }
    if (s->bytes + size > s->max_bytes) {
        free(data);
        snprintf(err, errlen, "files under the directory exceed %zu bytes", s->max_bytes);
        return -1;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        static_file_t *f = realloc(s->files, cap * sizeof *f);
        if (f == NULL) {
            free(data);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->files = f;
        s->cap = cap;
    }
    static_file_t *f = &s->files[s->n];
    size_t rl = strlen(rel);
    char *path = malloc(rl + 2);
    if (path == NULL) {
        free(data);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    path[0] = '/';
    memcpy(path + 1, rel, rl + 1);
    f->path = path;
    f->content_type = static_files_content_type(rel);
    f->data = data;
    f->size = size;
    make_etag(data, size, f->etag);
    s->n++;
    s->bytes += size;
    return 0;
}

/* Walks dir/rel recursively. Symbolic links are not followed. */
static int walk(static_files_t *s, const char *root, const char *rel, char *err, size_t errlen)
{
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dirpath);
    if (d == NULL) {
        snprintf(err, errlen, "cannot open directory %s: %s", dirpath, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char relpath[4096], full[4096];
        int n1 = snprintf(relpath, sizeof relpath, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        int n2 = snprintf(full, sizeof full, "%s/%s", root, relpath);
        if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof relpath || (size_t)n2 >= sizeof full)
            continue;
        struct stat st;
        if (lstat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(s, root, relpath, err, errlen);
        else if (S_ISREG(st.st_mode))
            rc = add_file(s, full, relpath, err, errlen);
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const static_file_t *)a)->path, ((const static_file_t *)b)->path);
}

int static_files_load(const char *dir, const char *const *only, size_t max_bytes,
                      static_files_t **out, char *err, size_t errlen)
{
    static_files_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->max_bytes = max_bytes;
    int rc = 0;
    if (only == NULL) {
        rc = walk(s, dir, "", err, errlen);
    } else {
        for (const char *const *p = only; rc == 0 && *p != NULL; p++) {
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", dir, *p);
            rc = add_file(s, full, *p, err, errlen);
        }
    }
    if (rc != 0) {
        static_files_free(s);
        return -1;
    }
    if (s->n > 0)
        qsort(s->files, s->n, sizeof *s->files, by_path);
    *out = s;
    return 0;
}

void static_files_free(static_files_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->files[i].path);
        free((char *)s->files[i].data);
    }
    free(s->files);
    free(s);
}

const static_file_t *static_files_find(const static_files_t *s, const char *path)
{
    if (s == NULL || s->n == 0)
        return NULL;
    static_file_t key = {.path = path};
    return bsearch(&key, s->files, s->n, sizeof *s->files, by_path);
}

size_t static_files_count(const static_files_t *s)
{
    return s ? s->n : 0;
}

size_t static_files_bytes(const static_files_t *s)
{
    return s ? s->bytes : 0;
}
