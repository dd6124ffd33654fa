/*
 * json_scan — checks that bytes are one well-formed JSON object (RFC 8259) without building a tree.
 *
 * The cache hit path serves the product JSON stored in Redis by splicing two members into it
 * ("source" and "fetch_time_ms"). Anything in Redis can be changed by anyone with redis-cli, so a
 * stored value is served only after this scanner has said it is an object a client can parse: valid
 * UTF-8, no control characters (NUL included) inside strings, correct escapes and numbers, nesting
 * at most JSON_SCAN_MAX_DEPTH deep, nothing but white space after it, and none of the caller's
 * reserved member names at the top level (they would be duplicated by the splice). Member names
 * that use escapes are refused at the top level, so that "sou\u0072ce" cannot hide a reserved name.
 *
 * One pass over the bytes, no allocation; pure and thread-safe.
 */
#ifndef CACHEME_JSON_SCAN_H
#define CACHEME_JSON_SCAN_H

#include <stddef.h>

/* Deeper nesting is refused (the recursion is bounded by it). */
#define JSON_SCAN_MAX_DEPTH 32

enum {
    JSON_SCAN_OK = 0,        /* One well-formed object, no reserved name at its top level. */
    JSON_SCAN_EINVALID = -1, /* Not one well-formed JSON object. */
    JSON_SCAN_ERESERVED = -2 /* An object, but a top-level member name is reserved or escaped. */
};

/*
 * Scans text (len bytes; NUL bytes are data, not terminators). reserved is a NULL-terminated list
 * of member names that must not appear at the top level (may be NULL). Returns a JSON_SCAN_* code.
 */
int json_scan_object(const char *text, size_t len, const char *const *reserved);

#endif
