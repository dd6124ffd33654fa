/*
 * session — log-in sessions and their carts, kept in Redis so that every instance sees them.
 *
 * Keys, each script touching one hash slot only (Redis Cluster runs a script only on keys of one
 * slot, and the hash tag in braces is what decides the slot):
 *   {session:<id>}          hash: user, created_at, last_seen (Unix ms)
 *   {session:<id>}:cart     hash: product id -> quantity
 *   {user:<name>}:sessions  sorted set: the user's session ids, scored by login order
 * Both keys of a session carry the same TTL, SESSION_TTL_SECONDS, set again by every use in the
 * same script that does the use (one round trip: the TTL slides). A login makes a new id from
 * getrandom(2) — never one the client sent — deletes the session the client came with, and puts
 * the new id in the user's sorted set; beyond SESSION_MAX_PER_USER ids the oldest logins are taken
 * out of the set and their keys deleted. The set's own TTL is pushed forward (PEXPIRE ... GT) after
 * each use, so it lives as long as the newest session of its user.
 *
 * Not atomic across slots, by design: a login is up to four round trips (end the old session,
 * create, index, delete evicted ones); a crash in between leaves at most an unindexed session,
 * which its TTL removes.
 *
 * Callbacks are called exactly once, possibly from inside the call (when Redis is known to be
 * down). Results point into memory valid only during the callback. Use from the cache's loop only.
 */
#ifndef CACHEME_SESSION_H
#define CACHEME_SESSION_H

#include "cache/cache.h"
#include "model/session_input.h"

#include <stddef.h>
#include <stdint.h>

#define SESSION_CART_MAX 100 /* Distinct products a cart may hold. */

typedef enum {
    SESSION_OK = 0,    /* The session exists (or was made); the operation was applied. */
    SESSION_UNKNOWN,   /* No such session: never made, expired, ended or evicted. */
    SESSION_CART_FULL, /* A put of a new product into a cart of SESSION_CART_MAX products. */
    SESSION_STORE_DOWN /* Redis did not answer, or answered with an error. */
} session_status_t;

/* What session_use does besides refreshing the TTL. */
typedef enum {
    SESSION_OP_SHOW, /* Nothing else: the session's fields and its cart's size. */
    SESSION_OP_CART, /* Read every cart item. */
    SESSION_OP_ITEM, /* Read one item's quantity. */
    SESSION_OP_PUT,  /* Set one item's quantity. */
    SESSION_OP_DEL   /* Remove one item. */
} session_op_t;

typedef struct {
    int32_t product_id; /* The product. */
    int quantity;       /* How many, SESSION_QUANTITY_MIN..SESSION_QUANTITY_MAX. */
} session_item_t;

typedef struct {
    session_status_t status;         /* Outcome; the fields below only with SESSION_OK. */
    char id[SESSION_ID_LEN + 1];     /* The session's id (the new one after a login). */
    char user[SESSION_USER_MAX + 1]; /* Who it belongs to. */
    long long created_at_ms;         /* Login time, Unix ms. */
    long long last_seen_ms;          /* This use's time, Unix ms. */
    long long cart_size;             /* Distinct products in the cart after the operation. */
    int quantity;                    /* ITEM, PUT: the item's quantity (0: not in the cart);
                                        DEL: 1 when an item was removed, else 0. */
    const session_item_t *items;     /* CART: the items, by product id; NULL otherwise. */
    size_t item_count;               /* Entries of items. */
    int evicted;                     /* Login: older sessions of the user it deleted. */
} session_result_t;

typedef void (*session_fn)(const session_result_t *res, void *arg);

/*
 * Fills id (SESSION_ID_LEN + 1 bytes) with 128 bits from getrandom(2), as hex. Returns 0, or -1
 * when the kernel gave no randomness (the caller answers 503; there is no weaker fallback).
 */
int session_id_new(char *id);

/*
 * Logs user in: a new session (res->id), after deleting old_id's session when old_id is not NULL
 * (the cookie the client came with, whoever it belonged to), and evicting the user's oldest
 * sessions beyond SESSION_MAX_PER_USER.
 */
void session_login(cache_t *cache, const char *user, const char *old_id, session_fn fn, void *arg);

/*
 * Uses session id: refreshes the TTL of its keys and applies op to its cart (product_id and
 * quantity as op needs them), in one script.
 */
void session_use(cache_t *cache, const char *id, session_op_t op, int32_t product_id, int quantity,
                 session_fn fn, void *arg);

/* Ends session id: deletes its keys and takes it out of its user's set. */
void session_end(cache_t *cache, const char *id, session_fn fn, void *arg);

#endif
