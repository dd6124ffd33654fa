/*
 * session_input — the session cookie, the login body and the cart item body, checked by length
 * and alphabet before any of it reaches Redis (see session_input.h).
 */
#include "model/session_input.h"

#include <stdio.h>
#include <string.h>

static void add_error(json_t *errors, const char *type, const char *field, const char *msg,
                      json_t *input)
{
    json_t *loc = field ? json_pack("[s,s]", "body", field) : json_pack("[s]", "body");
    json_array_append_new(errors, json_pack("{s:s,s:o,s:s,s:O}", "type", type, "loc", loc, "msg",
                                            msg, "input", input ? input : json_null()));
}

int session_input_id_valid(const char *text, size_t len)
{
    if (len != SESSION_ID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

int session_input_cookie(const char *header, char *id)
{
    static const char name[] = SESSION_COOKIE_NAME;
    const size_t name_len = sizeof name - 1;
    if (header == NULL)
        return -1;
    const char *p = header;
    /* Cookie pairs are separated by ';' and optional whitespace (RFC 6265, 5.4). */
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t pair = end ? (size_t)(end - p) : strlen(p);
        while (pair > 0 && (p[pair - 1] == ' ' || p[pair - 1] == '\t'))
            pair--;
        if (pair > name_len && memcmp(p, name, name_len) == 0 && p[name_len] == '=') {
            const char *value = p + name_len + 1;
            size_t value_len = pair - name_len - 1;
            if (session_input_id_valid(value, value_len)) {
                memcpy(id, value, SESSION_ID_LEN);
                id[SESSION_ID_LEN] = '\0';
                return 0;
            }
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
    return -1;
}

/* Parses body as a JSON object; on failure adds the error and returns NULL. */
static json_t *load_object(const char *body, size_t len, json_t *errs)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (doc == NULL) {
        char msg[200];
        snprintf(msg, sizeof msg, "JSON decode error: %s", jerr.text);
        add_error(errs, "json_invalid", NULL, msg, NULL);
        return NULL;
    }
    if (!json_is_object(doc)) {
        add_error(errs, "model_attributes_type", NULL, "Input should be a valid object", doc);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Adds an extra_forbidden error for each member other than allowed. */
static void forbid_extra(json_t *doc, const char *allowed, json_t *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, allowed) != 0)
            add_error(errs, "extra_forbidden", key, "Extra inputs are not permitted", v);
    }
}

static int user_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int session_input_login(const char *body, size_t len, char *user, json_t **errors)
{
    json_t *errs = json_array();
    json_t *doc = load_object(body, len, errs);
    if (doc != NULL) {
        forbid_extra(doc, "user", errs);
        json_t *v = json_object_get(doc, "user");
        if (v == NULL) {
            add_error(errs, "missing", "user", "Field required", doc);
        } else if (!json_is_string(v)) {
            add_error(errs, "string_type", "user", "Input should be a valid string", v);
        } else {
            /* Length in bytes is the length in characters: the alphabet is ASCII. */
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            int ok = n >= 1 && n <= SESSION_USER_MAX;
            for (size_t i = 0; ok && i < n; i++)
                ok = user_char(s[i]);
            if (!ok)
                add_error(errs, "string_pattern_mismatch", "user",
                          "String should match pattern '^[a-z0-9_-]{1,32}$'", v);
            else if (json_array_size(errs) == 0)
                memcpy(user, s, n + 1);
        }
        json_decref(doc);
    }
    if (json_array_size(errs) > 0) {
        *errors = errs;
        return -1;
    }
    json_decref(errs);
    return 0;
}

int session_input_quantity(const char *body, size_t len, int *quantity, json_t **errors)
{
    json_t *errs = json_array();
    json_t *doc = load_object(body, len, errs);
    if (doc != NULL) {
        forbid_extra(doc, "quantity", errs);
        json_t *v = json_object_get(doc, "quantity");
        char msg[96];
        if (v == NULL) {
            add_error(errs, "missing", "quantity", "Field required", doc);
        } else if (!json_is_integer(v)) {
            add_error(errs, "int_type", "quantity", "Input should be a valid integer", v);
        } else if (json_integer_value(v) < SESSION_QUANTITY_MIN) {
            snprintf(msg, sizeof msg, "Input should be greater than or equal to %d",
                     SESSION_QUANTITY_MIN);
            add_error(errs, "greater_than_equal", "quantity", msg, v);
        } else if (json_integer_value(v) > SESSION_QUANTITY_MAX) {
            snprintf(msg, sizeof msg, "Input should be less than or equal to %d",
                     SESSION_QUANTITY_MAX);
            add_error(errs, "less_than_equal", "quantity", msg, v);
        } else {
            *quantity = (int)json_integer_value(v);
        }
        json_decref(doc);
    }
    if (json_array_size(errs) > 0) {
        *errors = errs;
        return -1;
    }
    json_decref(errs);
    return 0;
}
