/*
 * product — the product record as the API shows it, and its JSON form.
 *
 * The JSON object built here is exactly what is stored in Redis, so that a cache hit can answer by
 * splicing "source" and "fetch_time_ms" onto the stored bytes without parsing them (see
 * product_splice). Prices are numeric(10,2) in PostgreSQL and are written as JSON numbers with at
 * most 15 significant digits, which represents every numeric(10,2) value exactly.
 */
#ifndef CACHEME_PRODUCT_H
#define CACHEME_PRODUCT_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct pg_result;

/* A product row; the strings are borrowed from the caller (e.g. a PGresult). */
typedef struct {
    int32_t id;              /* Primary key. */
    const char *name;        /* Never NULL. */
    const char *description; /* NULL for SQL NULL. */
    const char *price;       /* Decimal text as PostgreSQL prints numeric, e.g. "2499.99". */
    const char *category;    /* NULL for SQL NULL. */
    const char *created_at;  /* ISO 8601 text; NULL for SQL NULL. */
    const char *updated_at;  /* ISO 8601 text; NULL for SQL NULL. */
} product_t;

/* The SELECT list that yields the columns product_from_row expects, in order. */
#define PRODUCT_COLUMNS                                                                            \
    "id, name, description, price::text, category, "                                               \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/*
 * Fills *p from row `row` of a result whose columns are PRODUCT_COLUMNS (borrowing its strings:
 * valid while res is). The id is parsed from the first column.
 */
void product_from_row(const struct pg_result *res, int row, product_t *p);

/*
 * Serialises p as a compact JSON object into a malloc'd, NUL-terminated string. Returns 0 and sets
 * *out and *len (the caller frees *out), or -1 when the price is not a finite number, the name is
 * NULL, a string is not valid UTF-8 (it could not be stored as JSON text), or memory ran out.
 */
int product_to_json(const product_t *p, char **out, size_t *len);

/*
 * Appends obj (a JSON object's text, as stored in the cache) to buf with two more members:
 * "source":<source> and "fetch_time_ms":<ms rounded to 3 decimals>. The object is not parsed: the
 * last non-space byte must be '}' and the object must not be empty. Returns 0, or -1 (buf
 * unchanged) when obj does not look like a non-empty JSON object.
 */
int product_splice(struct evbuffer *buf, const char *obj, size_t len, const char *source,
                   double fetch_time_ms);

#endif
