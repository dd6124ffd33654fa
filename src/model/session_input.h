/*
 * session_input — what arrives with the session routes, checked before anyone is asked: the
 * session cookie, the login body and the cart item's body.
 *
 * A session id is 32 lowercase hexadecimal characters (128 random bits); a cookie value of any
 * other form is no session's, and the request is answered as one without a cookie (401) without
 * asking Redis. A user name is 1 to SESSION_USER_MAX characters from a-z, 0-9, '_' and '-': the
 * demo has no passwords, any such name logs in, and the alphabet keeps names safe inside Redis key
 * names and their hash tags (no braces, no ':'). A cart quantity is an integer from
 * SESSION_QUANTITY_MIN to SESSION_QUANTITY_MAX.
 *
 * Body errors follow product_input: every problem becomes one entry of FastAPI's 422 shape
 * {"type","loc":["body",field],"msg","input"}, with pydantic's types. Pure functions; thread-safe.
 */
#ifndef CACHEME_SESSION_INPUT_H
#define CACHEME_SESSION_INPUT_H

#include <jansson.h>
#include <stddef.h>

#define SESSION_COOKIE_NAME "cacheme_session" /* Name of the session cookie. */
#define SESSION_ID_LEN 32                     /* Hex characters of an id (128 bits). */
#define SESSION_USER_MAX 32                   /* Longest user name, characters. */
#define SESSION_QUANTITY_MIN 1                /* Smallest quantity of a cart item. */
#define SESSION_QUANTITY_MAX 99               /* Largest quantity of a cart item. */

/*
 * Finds the session cookie in a Cookie header's value (NULL: no header) and copies its id into id
 * (SESSION_ID_LEN + 1 bytes). Returns 0, or -1 when there is no such cookie or its value is not an
 * id. When the name appears more than once, the first well-formed value counts.
 */
int session_input_cookie(const char *header, char *id);

/* Returns 1 when text (len bytes) is a well-formed session id, 0 otherwise. */
int session_input_id_valid(const char *text, size_t len);

/*
 * Parses a login body {"user": name}. Returns 0 and copies the name into user
 * (SESSION_USER_MAX + 1 bytes), or -1 and sets *errors to a new JSON array (caller releases it).
 */
int session_input_login(const char *body, size_t len, char *user, json_t **errors);

/*
 * Parses a cart item body {"quantity": n}. Returns 0 and sets *quantity, or -1 and sets *errors to
 * a new JSON array (caller releases it).
 */
int session_input_quantity(const char *body, size_t len, int *quantity, json_t **errors);

#endif
