/*
 * product_input — validation of the JSON bodies of POST, PUT and PATCH /products.
 *
 * Rules (the same for every write mode): name is a string of 1..255 characters; description is a
 * string of at most 10,000 characters or null; category a string of 1..100 characters or null;
 * price a number from 0 to 99,999,999.99 with at most two decimals; no other member is allowed.
 * POST and PUT need name and price; PATCH needs at least one member. Strings must be valid UTF-8
 * without NUL characters (jansson rejects both as json_invalid); lengths count characters, as
 * PostgreSQL does.
 *
 * Errors are collected, not stopped at: every problem becomes one entry of FastAPI's 422 shape
 * {"type","loc":["body",field],"msg","input"}. Pure functions; thread-safe.
 */
#ifndef CACHEME_PRODUCT_INPUT_H
#define CACHEME_PRODUCT_INPUT_H

#include <jansson.h>
#include <stddef.h>

typedef enum {
    PRODUCT_INPUT_CREATE,  /* POST: name and price required. */
    PRODUCT_INPUT_REPLACE, /* PUT: name and price required; omitted optional fields become null. */
    PRODUCT_INPUT_PATCH    /* PATCH: any subset, at least one. */
} product_input_mode_t;

/* Which fields a body sets. */
enum {
    PRODUCT_FIELD_NAME = 1 << 0,
    PRODUCT_FIELD_DESCRIPTION = 1 << 1,
    PRODUCT_FIELD_PRICE = 1 << 2,
    PRODUCT_FIELD_CATEGORY = 1 << 3
};

/* A validated body. Strings point into the parsed JSON kept in `doc`. */
typedef struct {
    int fields;              /* PRODUCT_FIELD_* bits that were given (all four for PUT). */
    const char *name;        /* When PRODUCT_FIELD_NAME. */
    const char *description; /* NULL means SQL NULL. */
    char price[32];          /* Decimal text with two decimals, e.g. "2499.99". */
    const char *category;    /* NULL means SQL NULL. */
    json_t *doc;             /* Owns the strings above; released by product_input_clear. */
} product_input_t;

/*
 * Parses and validates body (len bytes). Returns 0 and fills *in (release it with
 * product_input_clear), or -1 and sets *errors to a new JSON array of error entries (the caller
 * releases it with json_decref).
 */
int product_input_parse(const char *body, size_t len, product_input_mode_t mode,
                        product_input_t *in, json_t **errors);

/* Releases what product_input_parse kept. Safe on a zeroed struct. */
void product_input_clear(product_input_t *in);

#endif
