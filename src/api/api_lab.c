/*
 * api_lab — GET and PUT /lab/config: read and change, while the service runs, the TTLs, which
 * protections are on and the simulated database latency (see lab.h).
 *
 * PUT takes any subset of the settings and applies all of them or none. When ADMIN_TOKEN is set,
 * PUT needs "Authorization: Bearer <token>" (401 otherwise); reading is always allowed.
 */
#include "api/api.h"

#include "core/lab.h"

#include <string.h>
#include <strings.h>

void api_lab_get(http_req_t *req)
{
    api_reply_value(req, 200, lab_to_json());
}

/* Compares without stopping at the first difference, so timing does not reveal the token. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return diff == 0;
}

int api_admin_allowed(http_req_t *req)
{
    const config_t *cfg = cache_config(api_cache(req));
    if (cfg->admin_token[0] == '\0')
        return 1;
    const char *auth = http_req_header(req, "Authorization");
    const char *prefix = "Bearer ";
    if (auth == NULL || strncasecmp(auth, prefix, strlen(prefix)) != 0 ||
        !same_secret(auth + strlen(prefix), cfg->admin_token)) {
        http_req_add_header(req, "WWW-Authenticate", "Bearer");
        http_reply_error(req, 401, "Not authenticated");
        return 0;
    }
    return 1;
}

void api_settings_put(http_req_t *req, int (*apply)(json_t *patch, json_t **errors),
                      json_t *(*current)(void))
{
    if (!api_admin_allowed(req))
        return;
    size_t len;
    const char *body = http_req_body(req, &len);
    json_error_t jerr;
    json_t *patch = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    json_t *errors = NULL;
    if (patch == NULL) {
        api_reply_value(req, 422,
                        json_pack("{s:[{s:s,s:[s],s:s,s:n}]}", "detail", "type", "json_invalid",
                                  "loc", "body", "msg", "JSON decode error", "input"));
        return;
    }
    if (apply(patch, &errors) != 0) {
        json_decref(patch);
        api_reply_value(req, 422, json_pack("{s:o}", "detail", errors));
        return;
    }
    json_decref(patch);
    api_reply_value(req, 200, current());
}

void api_lab_put(http_req_t *req)
{
    api_settings_put(req, lab_apply_json, lab_to_json);
}
