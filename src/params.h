/*
 * params — validation of the numbers that arrive in paths and query strings.
 *
 * Rules follow the original API (FastAPI/pydantic): an integer is an optional '-' and decimal
 * digits, nothing else; out-of-range values are reported with pydantic's error types so that
 * existing clients keep understanding 422 answers. Pure functions, thread-safe.
 */
#ifndef CACHEME_PARAMS_H
#define CACHEME_PARAMS_H

#include <stdint.h>

typedef struct {
    const char *type; /* "int_parsing", "greater_than_equal" or "less_than_equal". */
    char msg[96];     /* Human-readable message, pydantic's wording. */
} params_error_t;

/*
 * Parses text as an integer within [min, max]. Returns 0 and sets *out, or -1 and fills *err.
 */
int params_parse_int(const char *text, long long min, long long max, long long *out,
                     params_error_t *err);

/* Parses a product id: an integer in the 32-bit range of the id column. Same contract. */
int params_parse_id(const char *text, int32_t *out, params_error_t *err);

#endif
