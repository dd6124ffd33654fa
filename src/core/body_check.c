/*
 * body_check — see body_check.h.
 */
#include "core/body_check.h"

#include <stdio.h>
#include <string.h>

void body_check_error(json_t *errors, const char *type, const char *name, const char *msg,
                      json_t *input)
{
    json_array_append_new(errors, json_pack("{s:s,s:[s,s],s:s,s:O}", "type", type, "loc", "body",
                                            name, "msg", msg, "input", input));
}

int body_check_bool(json_t *errors, const char *name, json_t *v, int *out)
{
    if (!json_is_boolean(v)) {
        body_check_error(errors, "bool_type", name, "Input should be a valid boolean", v);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int body_check_int(json_t *errors, const char *name, json_t *v, int min, int max, int *out)
{
    char msg[96];
    if (!json_is_integer(v)) {
        body_check_error(errors, "int_type", name, "Input should be a valid integer", v);
        return -1;
    }
    json_int_t n = json_integer_value(v);
    if (n < min) {
        snprintf(msg, sizeof msg, "Input should be greater than or equal to %d", min);
        body_check_error(errors, "greater_than_equal", name, msg, v);
        return -1;
    }
    if (n > max) {
        snprintf(msg, sizeof msg, "Input should be less than or equal to %d", max);
        body_check_error(errors, "less_than_equal", name, msg, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

size_t body_check_members(json_t *body, int count, body_check_name_fn name_of,
                          body_check_member_fn member, void *arg, int *given, json_t *errors)
{
    size_t before = json_array_size(errors);
    if (!json_is_object(body)) {
        json_array_append_new(errors,
                              json_pack("{s:s,s:[s],s:s,s:O}", "type", "model_attributes_type",
                                        "loc", "body", "msg", "Input should be a valid object",
                                        "input", body ? body : json_null()));
        return json_array_size(errors) - before;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int idx = -1;
        for (int i = 0; i < count && idx < 0; i++) {
            if (strcmp(key, name_of(i)) == 0)
                idx = i;
        }
        if (idx < 0)
            body_check_error(errors, "extra_forbidden", key, "Extra inputs are not permitted", v);
        else if (member(idx, v, errors, arg) == 0)
            given[idx] = 1;
    }
    return json_array_size(errors) - before;
}
