/*
 * static_files — see static_files.h. Files are kept in an array sorted by path; lookups use
 * bsearch. Loading reads every file as an entry of its own, then attaches each "<file>.br" and
 * "<file>.gz" to its file and removes it from the array.
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
    memset(f, 0, sizeof *f);
    f->path = path;
    f->content_type = static_files_content_type(rel);
    f->body[STATIC_IDENTITY].data = data;
    f->body[STATIC_IDENTITY].size = size;
    make_etag(data, size, f->body[STATIC_IDENTITY].etag);
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

/* The suffixes of the variants, by encoding. */
static const char *const variant_suffix[STATIC_ENCODING_COUNT_] = {NULL, ".br", ".gz"};

/* The encoding a path's suffix names (STATIC_IDENTITY for none). */
static static_encoding_t suffix_encoding(const char *path, size_t len)
{
    for (int e = STATIC_BR; e < STATIC_ENCODING_COUNT_; e++) {
        size_t sl = strlen(variant_suffix[e]);
        if (len > sl + 1 && strcmp(path + len - sl, variant_suffix[e]) == 0)
            return (static_encoding_t)e;
    }
    return STATIC_IDENTITY;
}

/*
 * Whether v may be sent as the enc variant of f: smaller than the file (a variant that is not saves
 * nothing and costs the client a decoder), and for gzip starting with its magic bytes 1f 8b.
 */
static int usable_variant(const static_file_t *f, const static_file_t *v, static_encoding_t enc)
{
    const static_body_t *id = &f->body[STATIC_IDENTITY], *vb = &v->body[STATIC_IDENTITY];
    if (vb->size >= id->size)
        return 0;
    if (enc == STATIC_GZIP &&
        (vb->size < 2 || (unsigned char)vb->data[0] != 0x1f || (unsigned char)vb->data[1] != 0x8b))
        return 0;
    return 1;
}

/*
 * Attaches every "<file>.br" and "<file>.gz" whose file is in the (sorted) set to that file, and
 * removes it (and an unusable one) from the set, so that no variant is found as a file of its own.
 * Entries are only marked in the first pass: bsearch still compares their paths.
 */
static void attach_variants(static_files_t *s)
{
    static const char *const tag[STATIC_ENCODING_COUNT_] = {NULL, "br", "gz"};
    char *gone = calloc(s->n ? s->n : 1, 1);
    if (gone == NULL)
        return; /* Then the variants stay plain files; nothing is sent encoded. */
    for (size_t i = 0; i < s->n; i++) {
        static_file_t *v = &s->files[i];
        size_t len = strlen(v->path);
        static_encoding_t enc = suffix_encoding(v->path, len);
        if (enc == STATIC_IDENTITY)
            continue;
        char *base = strndup(v->path, len - strlen(variant_suffix[enc]));
        if (base == NULL)
            continue;
        static_file_t key = {.path = base};
        static_file_t *f = bsearch(&key, s->files, s->n, sizeof *s->files, by_path);
        free(base);
        /* A file that is itself a variant ("x.gz" of "x.gz.gz") gets none. */
        if (f == NULL || suffix_encoding(f->path, strlen(f->path)) != STATIC_IDENTITY)
            continue;
        gone[i] = 1;
        if (!usable_variant(f, v, enc) || f->body[enc].data != NULL)
            continue;
        char id_etag[sizeof f->body[STATIC_IDENTITY].etag];
        memcpy(id_etag, f->body[STATIC_IDENTITY].etag, sizeof id_etag);
        static_body_t *b = &f->body[enc];
        b->data = v->body[STATIC_IDENTITY].data;
        b->size = v->body[STATIC_IDENTITY].size;
        v->body[STATIC_IDENTITY].data = NULL; /* Now owned by f. */
        snprintf(b->etag, sizeof b->etag, "\"%.16s-%s\"", id_etag + 1, tag[enc]);
        f->variants++;
    }
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!gone[i]) {
            s->files[kept++] = s->files[i];
            continue;
        }
        const static_body_t *b = &s->files[i].body[STATIC_IDENTITY];
        if (b->data != NULL) {
            s->bytes -= b->size; /* An unusable variant: dropped. */
            free((char *)b->data);
        }
        free((char *)s->files[i].path);
    }
    s->n = kept;
    free(gone);
}

/* Loads dir/rel and, when they exist, its variants dir/rel.br and dir/rel.gz. */
static int add_listed(static_files_t *s, const char *dir, const char *rel, char *err, size_t errlen)
{
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", dir, rel);
    if (add_file(s, full, rel, err, errlen) != 0)
        return -1;
    for (int e = STATIC_BR; e < STATIC_ENCODING_COUNT_; e++) {
        char vfull[4096], vrel[1024];
        struct stat st;
        int n1 = snprintf(vfull, sizeof vfull, "%s%s", full, variant_suffix[e]);
        int n2 = snprintf(vrel, sizeof vrel, "%s%s", rel, variant_suffix[e]);
        if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof vfull || (size_t)n2 >= sizeof vrel)
            continue;
        if (stat(vfull, &st) != 0 || !S_ISREG(st.st_mode))
            continue; /* No such variant: the file is served as it is. */
        if (add_file(s, vfull, vrel, err, errlen) != 0)
            return -1;
    }
    return 0;
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
        for (const char *const *p = only; rc == 0 && *p != NULL; p++)
            rc = add_listed(s, dir, *p, err, errlen);
    }
    if (rc != 0) {
        static_files_free(s);
        return -1;
    }
    if (s->n > 0) {
        qsort(s->files, s->n, sizeof *s->files, by_path);
        attach_variants(s);
    }
    *out = s;
    return 0;
}

void static_files_free(static_files_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->files[i].path);
        for (int e = 0; e < STATIC_ENCODING_COUNT_; e++)
            free((char *)s->files[i].body[e].data);
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

/* ---------------------------------------------------------------- negotiation --- */

/* Optional whitespace (RFC 9110 OWS). */
static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A token character (RFC 9110 tchar). */
static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * A qvalue ("0", "0.5", "1.000"; at most three decimals, never above 1) in thousandths, or -1 when
 * p..p+len is not one.
 */
static int parse_qvalue(const char *p, size_t len)
{
    if (len == 0 || (p[0] != '0' && p[0] != '1'))
        return -1;
    int q = (p[0] - '0') * 1000;
    if (len == 1)
        return q;
    if (p[1] != '.' || len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        q += (p[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* What the Accept-Encoding value says of each coding: q in thousandths, -1 when not listed. */
typedef struct {
    int q[STATIC_ENCODING_COUNT_]; /* br, gzip (or x-gzip) and identity, by encoding. */
    int star;                      /* "*". */
} accept_t;

/* Records q for the coding name..name+len (the first mention of a coding counts). */
static void accept_set(accept_t *a, const char *name, size_t len, int q)
{
    static const struct {
        const char *name;
        int slot; /* An encoding, or -1 for "*". */
    } codings[] = {{"br", STATIC_BR},
                   {"gzip", STATIC_GZIP},
                   {"x-gzip", STATIC_GZIP},
                   {"identity", STATIC_IDENTITY},
                   {"*", -1}};
    for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
        if (strlen(codings[i].name) != len || strncasecmp(codings[i].name, name, len) != 0)
            continue;
        int *slot = codings[i].slot < 0 ? &a->star : &a->q[codings[i].slot];
        if (*slot < 0)
            *slot = q;
        return;
    }
}

/*
 * Parses a list of `coding *( OWS ";" OWS name "=" value )` elements separated by commas. An
 * element that does not follow the grammar, or whose q is not a qvalue, is skipped up to the next
 * comma.
 */
static void parse_accept(const char *v, accept_t *a)
{
    const char *p = v;
    while (*p != '\0') {
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        const char *name = p;
        while (is_tchar(*p))
            p++;
        size_t name_len = (size_t)(p - name);
        int q = 1000, ok = name_len > 0;
        for (;;) {
            p = skip_ows(p);
            if (*p != ';')
                break;
            p = skip_ows(p + 1);
            const char *pn = p;
            while (is_tchar(*p))
                p++;
            size_t pn_len = (size_t)(p - pn);
            p = skip_ows(p);
            if (pn_len == 0 || *p != '=') {
                ok = 0;
                break;
            }
            p = skip_ows(p + 1);
            const char *pv = p;
            while (is_tchar(*p) || *p == '"')
                p++;
            if (pn_len == 1 && (pn[0] == 'q' || pn[0] == 'Q')) {
                q = parse_qvalue(pv, (size_t)(p - pv));
                if (q < 0)
                    ok = 0;
            }
        }
        if (*p != ',' && *p != '\0')
            ok = 0;
        if (ok)
            accept_set(a, name, name_len, q);
        while (*p != ',' && *p != '\0')
            p++;
    }
}

static_encoding_t static_files_negotiate(const static_file_t *f, const char *accept_encoding)
{
    if (accept_encoding == NULL || f->variants == 0)
        return STATIC_IDENTITY;
    accept_t a = {{-1, -1, -1}, -1};
    parse_accept(accept_encoding, &a);
    /* Identity unlisted is acceptable, last: below any listed coding, unless "*;q=0" refuses it. */
    int qi = a.q[STATIC_IDENTITY] >= 0 ? a.q[STATIC_IDENTITY] : a.star == 0 ? 0 : 1;
    static_encoding_t best = STATIC_IDENTITY;
    int best_q = qi;
    for (int e = STATIC_BR; e < STATIC_ENCODING_COUNT_; e++) {
        const static_body_t *b = &f->body[e];
        int q = a.q[e] >= 0 ? a.q[e] : a.star >= 0 ? a.star : 0;
        if (b->data == NULL || q == 0)
            continue;
        if (q > best_q || (q == best_q && b->size < f->body[best].size)) {
            best = (static_encoding_t)e;
            best_q = q;
        }
    }
    return best;
}

const char *static_files_encoding_name(static_encoding_t enc)
{
    switch (enc) {
    case STATIC_BR:
        return "br";
    case STATIC_GZIP:
        return "gzip";
    case STATIC_IDENTITY:
    case STATIC_ENCODING_COUNT_:
        break;
    }
    return NULL;
}

int static_files_etag_match(const char *if_none_match, const char *etag)
{
    if (if_none_match == NULL)
        return 0;
    const char *p = skip_ows(if_none_match);
    if (*p == '*')
        return 1;
    size_t elen = strlen(etag);
    while (*p != '\0') {
        p = skip_ows(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (*p != '"')
            return 0; /* Not a list of entity tags. */
        const char *close = strchr(p + 1, '"');
        if (close == NULL)
            return 0;
        size_t len = (size_t)(close - p) + 1;
        if (len == elen && memcmp(p, etag, len) == 0)
            return 1;
        p = close + 1;
    }
    return 0;
}

size_t static_files_count(const static_files_t *s)
{
    return s ? s->n : 0;
}

size_t static_files_bytes(const static_files_t *s)
{
    return s ? s->bytes : 0;
}
