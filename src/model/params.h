/*
 * params — validation of the numbers that arrive in paths and query strings.
 *
 * Rules follow the original API (FastAPI/pydantic): an integer is an optional '-' and decimal
 * digits, nothing else; out-of-range values are reported with pydantic's error types so that
 * existing clients keep understanding 422 answers. Texts are given with their length, since they
 * come percent-decoded from paths and query strings and may contain NUL bytes ("%00"), which make
 * them not integers. Pure functions, thread-safe.
 */
#ifndef CACHEME_PARAMS_H
#define CACHEME_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define PARAMS_NOT_INTEGER (-1)  /* The text is not an integer ("int_parsing"). */
#define PARAMS_OUT_OF_RANGE (-2) /* An integer outside the bounds (pydantic's bound types). */

typedef struct {
    const char *type; /* "int_parsing", "greater_than_equal" or "less_than_equal". */
    char msg[96];     /* Human-readable message, pydantic's wording. */
} params_error_t;

/*
 * Parses text (len bytes) as an integer within [min, max]. Returns 0 and sets *out, or
 * PARAMS_NOT_INTEGER or PARAMS_OUT_OF_RANGE and fills *err.
 */
int params_parse_int(const char *text, size_t len, long long min, long long max, long long *out,
                     params_error_t *err);

/*
 * Parses a product id: an integer in the 32-bit range of the id column. Same contract; an integer
 * outside that range (PARAMS_OUT_OF_RANGE) can be no product's id, which the API answers with 404.
 */
int params_parse_id(const char *text, size_t len, int32_t *out, params_error_t *err);

#endif
