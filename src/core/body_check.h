/*
 * body_check — checks of a JSON request body of settings (PUT /lab, PUT /rate-limit/config),
 * answering in FastAPI's error shape: each problem an item {"type", "loc": ["body", name], "msg",
 * "input"} appended to an array, as the original service's pydantic models report them.
 *
 * Pure; thread-safe.
 */
#ifndef CACHEME_BODY_CHECK_H
#define CACHEME_BODY_CHECK_H

#include <jansson.h>

/* Appends the error item of member name (input is borrowed) to errors. */
void body_check_error(json_t *errors, const char *type, const char *name, const char *msg,
                      json_t *input);

/* A boolean member: returns 0 and sets *out, or -1 after appending "bool_type". */
int body_check_bool(json_t *errors, const char *name, json_t *v, int *out);

/*
 * An integer member within [min, max]: returns 0 and sets *out, or -1 after appending "int_type",
 * "greater_than_equal" or "less_than_equal".
 */
int body_check_int(json_t *errors, const char *name, json_t *v, int min, int max, int *out);

/* Checks the member of index index with value v: 0 when valid, else -1 (error appended). */
typedef int (*body_check_member_fn)(int index, json_t *v, json_t *errors, void *arg);

/* The name of the member of index index (0 <= index < count). */
typedef const char *(*body_check_name_fn)(int index);

/*
 * Checks that body is an object whose members are all among the count names name_of gives,
 * calling member for each and setting given[index] for those it found valid. Unknown names get
 * "extra_forbidden", a body that is not an object "model_attributes_type". Returns the number of
 * errors appended.
 */
size_t body_check_members(json_t *body, int count, body_check_name_fn name_of,
                          body_check_member_fn member, void *arg, int *given, json_t *errors);

#endif
