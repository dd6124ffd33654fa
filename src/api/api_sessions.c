/*
 * api_sessions — POST /sessions (log in), GET and DELETE /sessions/me, and the session's cart:
 * GET /sessions/me/cart and GET, PUT, DELETE /sessions/me/cart/items/{product_id}.
 *
 * The session lives in Redis (cache/session.c), so any instance answers for it. The client holds
 * only the id, in an HttpOnly, SameSite=Lax cookie without Max-Age (the server decides when a
 * session ends: SESSION_TTL_SECONDS after its last use). Checks run cheapest first and ask nobody
 * until they pass: the cookie's form (401 without asking Redis), the path id (422; an id outside
 * 32 bits is no product's, 404), the body (422). A product put into the cart must exist (the
 * cache-aside lookup says so, and gives its name). Redis down answers 503 here while product reads
 * go on from PostgreSQL, since a session cannot be checked without the store that holds it.
 */
#include "api/api.h"

#include "cache/session.h"
#include "model/params.h"
#include "model/session_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- shared --- */

/* The challenge of a 401: the cookie scheme of draft-broyer-http-cookie-auth, naming the cookie. */
static void reply_unauthenticated(http_req_t *req)
{
    http_req_add_header(req, "WWW-Authenticate",
                        "Cookie realm=\"cacheme\", cookie-name=\"" SESSION_COOKIE_NAME "\"");
    http_reply_error(req, 401, "Not authenticated");
}

/* Answers a failed session operation (anything but SESSION_OK). */
static void reply_status(http_req_t *req, session_status_t status)
{
    switch (status) {
    case SESSION_UNKNOWN:
        reply_unauthenticated(req);
        return;
    case SESSION_CART_FULL: {
        char detail[64];
        snprintf(detail, sizeof detail, "Cart is full (%d products)", SESSION_CART_MAX);
        http_reply_error(req, 409, detail);
        return;
    }
    case SESSION_OK:
    case SESSION_STORE_DOWN:
        break;
    }
    http_reply_error(req, 503, "Session store unavailable");
}

/* The session id of the request's cookie into id; answers 401 and returns -1 when there is none. */
static int cookie_id(http_req_t *req, char *id)
{
    http_req_add_header(req, "Cache-Control", "no-store");
    if (session_input_cookie(http_req_header(req, "Cookie"), id) == 0)
        return 0;
    reply_unauthenticated(req);
    return -1;
}

static void set_cookie(http_req_t *req, const char *id)
{
    const config_t *cfg = cache_config(api_cache(req));
    char cookie[160];
    if (id != NULL)
        snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s",
                 SESSION_COOKIE_NAME, id, cfg->session_cookie_secure ? "; Secure" : "");
    else
        snprintf(cookie, sizeof cookie, "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax%s",
                 SESSION_COOKIE_NAME, cfg->session_cookie_secure ? "; Secure" : "");
    http_req_add_header(req, "Set-Cookie", cookie);
}

static json_t *seconds(long long ms)
{
    return json_real((double)ms / 1000.0);
}

/* The session's description, as POST /sessions and GET /sessions/me answer it. */
static json_t *session_json(const http_req_t *req, const session_result_t *res)
{
    return json_pack("{s:s,s:o,s:o,s:i,s:I}", "user", res->user, "created_at",
                     seconds(res->created_at_ms), "last_seen", seconds(res->last_seen_ms),
                     "ttl_seconds", cache_config(api_cache(req))->session_ttl_seconds, "cart_items",
                     (json_int_t)res->cart_size);
}

/* The "name" member of a product's JSON text, or JSON null. */
static json_t *product_name(const char *json, size_t len)
{
    json_t *doc = json_loadb(json, len, 0, NULL);
    json_t *name = json_object_get(doc, "name");
    json_t *out = json_is_string(name) ? json_incref(name) : json_null();
    json_decref(doc);
    return out;
}

/* ---------------------------------------------------------------- POST /sessions --- */

static void on_login(const session_result_t *res, void *arg)
{
    http_req_t *req = arg;
    if (res->status != SESSION_OK) {
        reply_status(req, res->status);
        return;
    }
    set_cookie(req, res->id);
    json_t *v = session_json(req, res);
    json_object_set_new(v, "evicted", json_integer(res->evicted));
    api_reply_value(req, 201, v);
}

void api_sessions_login(http_req_t *req)
{
    http_req_add_header(req, "Cache-Control", "no-store");
    size_t len;
    const char *body = http_req_body(req, &len);
    char user[SESSION_USER_MAX + 1];
    json_t *errors = NULL;
    if (session_input_login(body, len, user, &errors) != 0) {
        api_reply_value(req, 422, json_pack("{s:o}", "detail", errors));
        return;
    }
    char old[SESSION_ID_LEN + 1];
    int had = session_input_cookie(http_req_header(req, "Cookie"), old) == 0;
    session_login(api_cache(req), user, had ? old : NULL, on_login, req);
}

/* ---------------------------------------------------------------- /sessions/me --- */

static void on_me(const session_result_t *res, void *arg)
{
    http_req_t *req = arg;
    if (res->status != SESSION_OK) {
        reply_status(req, res->status);
        return;
    }
    api_reply_value(req, 200, session_json(req, res));
}

void api_sessions_me(http_req_t *req)
{
    char id[SESSION_ID_LEN + 1];
    if (cookie_id(req, id) == 0)
        session_use(api_cache(req), id, SESSION_OP_SHOW, 0, 0, on_me, req);
}

static void on_logout(const session_result_t *res, void *arg)
{
    http_req_t *req = arg;
    if (res->status == SESSION_STORE_DOWN) {
        reply_status(req, res->status);
        return;
    }
    /* The cookie goes either way: an unknown session's cookie is of no use to keep. */
    set_cookie(req, NULL);
    if (res->status == SESSION_OK)
        http_reply_empty(req, 204);
    else
        reply_status(req, res->status);
}

void api_sessions_logout(http_req_t *req)
{
    char id[SESSION_ID_LEN + 1];
    if (cookie_id(req, id) == 0)
        session_end(api_cache(req), id, on_logout, req);
}

/* ---------------------------------------------------------------- GET /sessions/me/cart --- */

typedef struct {
    http_req_t *req; /* Request being answered. */
    json_t *items;   /* The answer's items, names filled in as lookups return. */
    long long total; /* Sum of the quantities. */
    size_t pending;  /* Lookups not yet answered, plus one while they are being started. */
} cart_t;

typedef struct {
    cart_t *cart; /* The listing. */
    json_t *item; /* Its item (borrowed from cart->items). */
} cart_lookup_t;

static void cart_done(cart_t *c)
{
    if (--c->pending > 0)
        return;
    api_reply_value(
        c->req, 200,
        json_pack("{s:o,s:I}", "items", c->items, "total_quantity", (json_int_t)c->total));
    free(c);
}

static void on_cart_name(const cache_result_t *res, void *arg)
{
    cart_lookup_t *cl = arg;
    /* A product deleted since it was put into the cart keeps its line, without a name. */
    if (res->status == CACHE_FOUND)
        json_object_set_new(cl->item, "name", product_name(res->json, res->len));
    cart_t *c = cl->cart;
    free(cl);
    cart_done(c);
}

static void on_cart(const session_result_t *res, void *arg)
{
    http_req_t *req = arg;
    if (res->status != SESSION_OK) {
        reply_status(req, res->status);
        return;
    }
    cart_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    c->req = req;
    c->items = json_array();
    c->pending = 1;
    for (size_t i = 0; i < res->item_count; i++) {
        json_t *item = json_pack("{s:i,s:i,s:n}", "product_id", (int)res->items[i].product_id,
                                 "quantity", res->items[i].quantity, "name");
        json_array_append_new(c->items, item);
        c->total += res->items[i].quantity;
        cart_lookup_t *cl = malloc(sizeof *cl);
        if (cl == NULL)
            continue;
        cl->cart = c;
        cl->item = item;
        c->pending++;
        cache_lookup_product(api_cache(req), res->items[i].product_id, on_cart_name, cl);
    }
    cart_done(c);
}

void api_sessions_cart(http_req_t *req)
{
    char id[SESSION_ID_LEN + 1];
    if (cookie_id(req, id) == 0)
        session_use(api_cache(req), id, SESSION_OP_CART, 0, 0, on_cart, req);
}

/* ---------------------------------------------------------------- /sessions/me/cart/items/{id} ---
 */

typedef struct {
    http_req_t *req;             /* Request being answered. */
    char id[SESSION_ID_LEN + 1]; /* The session. */
    int32_t product_id;          /* The item. */
    int quantity;                /* PUT: the quantity asked for. */
    json_t *name;                /* PUT: the product's name (owned). */
} item_t;

static void item_free(item_t *it)
{
    json_decref(it->name);
    free(it);
}

/*
 * The request's session id and product id into it. Answers (401, 422, or 404 for an id outside
 * 32 bits) and returns -1 when either is missing or malformed.
 */
static int item_begin(http_req_t *req, item_t *it)
{
    it->req = req;
    if (cookie_id(req, it->id) != 0)
        return -1;
    size_t len;
    const char *text = http_req_param(req, &len);
    params_error_t err;
    int rc = params_parse_id(text, len, &it->product_id, &err);
    if (rc == PARAMS_OUT_OF_RANGE) {
        http_reply_error(req, 404, "Product not found");
        return -1;
    }
    if (rc != 0) {
        api_reply_invalid(req, "path", "product_id", err.type, err.msg, text, len);
        return -1;
    }
    return 0;
}

static void on_item(const session_result_t *res, void *arg)
{
    item_t *it = arg;
    if (res->status != SESSION_OK)
        reply_status(it->req, res->status);
    else if (res->quantity == 0)
        http_reply_error(it->req, 404, "Item not in cart");
    else
        api_reply_value(
            it->req, 200,
            json_pack("{s:i,s:i}", "product_id", (int)it->product_id, "quantity", res->quantity));
    item_free(it);
}

void api_sessions_item_get(http_req_t *req)
{
    item_t *it = calloc(1, sizeof *it);
    if (it == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    if (item_begin(req, it) != 0) {
        item_free(it);
        return;
    }
    session_use(api_cache(req), it->id, SESSION_OP_ITEM, it->product_id, 0, on_item, it);
}

static void on_put(const session_result_t *res, void *arg)
{
    item_t *it = arg;
    if (res->status != SESSION_OK) {
        reply_status(it->req, res->status);
    } else {
        json_t *v = json_pack("{s:i,s:i,s:O}", "product_id", (int)it->product_id, "quantity",
                              res->quantity, "name", it->name ? it->name : json_null());
        api_reply_value(it->req, 200, v);
    }
    item_free(it);
}

/* A product that does not exist: 404, unless the session is not one (401 comes first). */
static void on_put_missing(const session_result_t *res, void *arg)
{
    item_t *it = arg;
    if (res->status != SESSION_OK)
        reply_status(it->req, res->status);
    else
        http_reply_error(it->req, 404, "Product not found");
    item_free(it);
}

static void on_put_product(const cache_result_t *res, void *arg)
{
    item_t *it = arg;
    cache_t *cache = api_cache(it->req);
    switch (res->status) {
    case CACHE_FOUND:
        it->name = product_name(res->json, res->len);
        session_use(cache, it->id, SESSION_OP_PUT, it->product_id, it->quantity, on_put, it);
        return;
    case CACHE_NOT_FOUND:
        session_use(cache, it->id, SESSION_OP_SHOW, 0, 0, on_put_missing, it);
        return;
    case CACHE_DB_DOWN:
        http_reply_error(it->req, 503, "Database unavailable");
        break;
    case CACHE_FAILED:
        http_reply_error(it->req, 503, "Service Unavailable");
        break;
    }
    item_free(it);
}

void api_sessions_item_put(http_req_t *req)
{
    item_t *it = calloc(1, sizeof *it);
    if (it == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    if (item_begin(req, it) != 0) {
        item_free(it);
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    json_t *errors = NULL;
    if (session_input_quantity(body, len, &it->quantity, &errors) != 0) {
        api_reply_value(req, 422, json_pack("{s:o}", "detail", errors));
        item_free(it);
        return;
    }
    cache_lookup_product(api_cache(req), it->product_id, on_put_product, it);
}

static void on_delete(const session_result_t *res, void *arg)
{
    item_t *it = arg;
    if (res->status != SESSION_OK)
        reply_status(it->req, res->status);
    else
        http_reply_empty(it->req, 204);
    item_free(it);
}

void api_sessions_item_delete(http_req_t *req)
{
    item_t *it = calloc(1, sizeof *it);
    if (it == NULL) {
        http_reply_error(req, 503, "Service Unavailable");
        return;
    }
    if (item_begin(req, it) != 0) {
        item_free(it);
        return;
    }
    session_use(api_cache(req), it->id, SESSION_OP_DEL, it->product_id, 0, on_delete, it);
}
