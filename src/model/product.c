/*
 * product — see product.h. Building uses jansson so that escaping is never hand-written.
 */
#include "model/product.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

static json_t *string_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A nullable column's text, or NULL for SQL NULL. */
static const char *nullable(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

void product_from_row(const struct pg_result *res, int row, product_t *p)
{
    p->id = (int32_t)strtol(PQgetvalue(res, row, 0), NULL, 10);
    p->name = PQgetvalue(res, row, 1);
    p->description = nullable(res, row, 2);
    p->price = PQgetvalue(res, row, 3);
    p->category = nullable(res, row, 4);
    p->created_at = nullable(res, row, 5);
    p->updated_at = nullable(res, row, 6);
}

int product_to_json(const product_t *p, char **out, size_t *len)
{
    char *end = NULL;
    double price = strtod(p->price ? p->price : "", &end);
    if (p->price == NULL || end == p->price || *end != '\0' || p->name == NULL)
        return -1;

    json_t *o = json_object();
    if (o == NULL)
        return -1;
    /* json_object_set_new steals the value, also on failure; a NULL value makes it fail. */
    int rc = 0;
    rc |= json_object_set_new(o, "id", json_integer(p->id));
    rc |= json_object_set_new(o, "name", json_string(p->name));
    rc |= json_object_set_new(o, "description", string_or_null(p->description));
    rc |= json_object_set_new(o, "price", json_real(price));
    rc |= json_object_set_new(o, "category", string_or_null(p->category));
    rc |= json_object_set_new(o, "created_at", string_or_null(p->created_at));
    rc |= json_object_set_new(o, "updated_at", string_or_null(p->updated_at));
    char *text = rc == 0
                     ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
                     : NULL;
    json_decref(o);
    if (text == NULL)
        return -1;
    *out = text;
    *len = strlen(text);
    return 0;
}

int product_splice(struct evbuffer *buf, const char *obj, size_t len, const char *source,
                   double fetch_time_ms)
{
    while (len > 0 && (obj[len - 1] == ' ' || obj[len - 1] == '\n' || obj[len - 1] == '\r' ||
                       obj[len - 1] == '\t'))
        len--;
    /* The shortest object that can take more members is {"a":1}: at least "{" + "}" + content. */
    if (len < 3 || obj[0] != '{' || obj[len - 1] != '}')
        return -1;
    if (evbuffer_add(buf, obj, len - 1) != 0)
        return -1;
    if (evbuffer_add_printf(buf, ",\"source\":\"%s\",\"fetch_time_ms\":%.3f}", source,
                            fetch_time_ms) < 0)
        return -1;
    return 0;
}
