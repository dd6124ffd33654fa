/*
 * api_warm — GET /cache/warm (the current or last cache warm) and POST /cache/warm (start one on
 * the loop that received the request), guarded by ADMIN_TOKEN like the lab's changes.
 *
 * The body of a POST is a JSON object, all members optional: "mode" ("all", the default, or
 * "top:N", N from 1 to 100: the syntax of CACHE_WARM) and "rate" (products per second, 1 to
 * 100000; default CACHE_WARM_RATE): {} warms every product. Answers 202 with the new run's status,
 * 409 with the running one's when a warm is under way in the instance, 422 in the API's shape for
 * a bad body, 401 without the token. The run goes on after the answer; its progress is on /events
 * ("event: warm") and at GET /cache/warm.
 */
#include "api/api.h"

#include "cache/warmer.h"
#include "core/config.h"
#include "core/warm.h"

#include <string.h>

void api_warm_get(http_req_t *req)
{
    warm_status_t s;
    warm_read(&s);
    api_reply_value(req, 200, warm_status_json(&s, NULL));
}

static void add_error(json_t *errors, const char *type, const char *name, const char *msg,
                      json_t *input)
{
    json_array_append_new(errors, json_pack("{s:s,s:[s,s],s:s,s:O}", "type", type, "loc", "body",
                                            name, "msg", msg, "input", input));
}

/*
 * Reads the body's settings into *kind, *top and *rate (defaults: all, CACHE_WARM_RATE). Returns
 * NULL, or the list of errors (a new reference) for a 422.
 */
static json_t *parse_body(const json_t *body, const config_t *cfg, int *kind, int *top, int *rate)
{
    json_t *errs = json_array();
    *kind = CONFIG_WARM_ALL;
    *top = 0;
    *rate = cfg->cache_warm_rate;
    if (!json_is_object(body)) {
        json_array_append_new(errs, json_pack("{s:s,s:[s],s:s,s:O}", "type",
                                              "model_attributes_type", "loc", "body", "msg",
                                              "Input should be a valid object", "input", body));
        return errs;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "mode") == 0) {
            if (!json_is_string(v)) {
                add_error(errs, "string_type", key, "Input should be a valid string", v);
                continue;
            }
            /* By length: a string with a NUL inside is not a mode either. */
            if (config_warm_parse(json_string_value(v), json_string_length(v), kind, top) != 0 ||
                *kind == CONFIG_WARM_NONE)
                add_error(errs, "string_pattern_mismatch", key,
                          "String should match pattern '^(all|top:([1-9][0-9]?|100))$'", v);
        } else if (strcmp(key, "rate") == 0) {
            if (!json_is_integer(v)) {
                add_error(errs, "int_type", key, "Input should be a valid integer", v);
            } else if (json_integer_value(v) < 1) {
                add_error(errs, "greater_than_equal", key,
                          "Input should be greater than or equal to 1", v);
            } else if (json_integer_value(v) > CONFIG_WARM_RATE_MAX) {
                add_error(errs, "less_than_equal", key,
                          "Input should be less than or equal to 100000", v);
            } else {
                *rate = (int)json_integer_value(v);
            }
        } else {
            add_error(errs, "extra_forbidden", key, "Extra inputs are not permitted", v);
        }
    }
    if (json_array_size(errs) == 0) {
        json_decref(errs);
        return NULL;
    }
    return errs;
}

void api_warm_post(http_req_t *req)
{
    if (!api_admin_allowed(req))
        return;
    size_t len;
    const char *text = http_req_body(req, &len);
    json_error_t jerr;
    json_t *body =
        json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (body == NULL) {
        api_reply_value(req, 422,
                        json_pack("{s:[{s:s,s:[s],s:s,s:n}]}", "detail", "type", "json_invalid",
                                  "loc", "body", "msg", "JSON decode error", "input"));
        return;
    }
    cache_t *cache = api_cache(req);
    int kind, top, rate;
    json_t *errs = parse_body(body, cache_config(cache), &kind, &top, &rate);
    json_decref(body);
    if (errs != NULL) {
        api_reply_value(req, 422, json_pack("{s:o}", "detail", errs));
        return;
    }
    warm_status_t s;
    if (warmer_start(api_loop(req)->warmer, kind, top, rate, WARMER_REQUEST, &s) != 0) {
        api_reply_value(req, 409,
                        json_pack("{s:s,s:o}", "detail", "A cache warm is already running", "warm",
                                  warm_status_json(&s, NULL)));
        return;
    }
    /* The figures as they stand when answering: a run may even have ended already. */
    warm_read(&s);
    api_reply_value(req, 202, warm_status_json(&s, NULL));
}
