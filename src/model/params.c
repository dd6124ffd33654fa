/*
 * params — see params.h.
 */
#include "model/params.h"

#include <stdio.h>
#include <string.h>

int params_parse_int(const char *text, size_t len, long long min, long long max, long long *out,
                     params_error_t *err)
{
    const char *p = text;
    const char *end = text + len;
    int negative = 0;
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    if (p == end)
        goto not_int;

    /* Accumulate with saturation so that huge inputs still report a range error, as pydantic. */
    unsigned long long v = 0;
    int saturated = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            goto not_int;
        if (v > (unsigned long long)INT64_MAX / 10)
            saturated = 1;
        else
            v = v * 10 + (unsigned long long)(*p - '0');
    }
    if (saturated || v > (unsigned long long)INT64_MAX) {
        if (negative)
            goto below;
        goto above;
    }
    long long s = negative ? -(long long)v : (long long)v;
    if (s < min)
        goto below;
    if (s > max)
        goto above;
    *out = s;
    return 0;

not_int:
    err->type = "int_parsing";
    snprintf(err->msg, sizeof err->msg,
             "Input should be a valid integer, unable to parse string as an integer");
    return PARAMS_NOT_INTEGER;
below:
    err->type = "greater_than_equal";
    snprintf(err->msg, sizeof err->msg, "Input should be greater than or equal to %lld", min);
    return PARAMS_OUT_OF_RANGE;
above:
    err->type = "less_than_equal";
    snprintf(err->msg, sizeof err->msg, "Input should be less than or equal to %lld", max);
    return PARAMS_OUT_OF_RANGE;
}

int params_parse_id(const char *text, size_t len, int32_t *out, params_error_t *err)
{
    long long v;
    int rc = params_parse_int(text, len, INT32_MIN, INT32_MAX, &v, err);
    if (rc != 0)
        return rc;
    *out = (int32_t)v;
    return 0;
}
