/*
 * rate_policy — the pure parts of rate limiting: whose request it is (the client address behind
 * trusted proxies, a known API key), the Redis key a client is counted under, and the IETF
 * RateLimit / RateLimit-Policy header fields (draft-ietf-httpapi-ratelimit-headers).
 *
 * No I/O, no state: every function is thread-safe. Texts from the request are read by length
 * where they may hold NUL bytes.
 */
#ifndef CACHEME_RATE_POLICY_H
#define CACHEME_RATE_POLICY_H

#include <stddef.h>

/* Room for a textual IPv6 address and its NUL (INET6_ADDRSTRLEN). */
#define RATE_POLICY_ADDR_MAX 46
/* Room for a key base such as "ratelimit:{writes:ip:<IPv6>}" and its NUL. */
#define RATE_POLICY_KEY_MAX 96

enum {
    RATE_POLICY_OK = 0,
    RATE_POLICY_EINVAL = -1 /* The text is not what the function accepts. */
};

/*
 * Checks a TRUSTED_PROXIES list: comma-separated IPv4/IPv6 addresses or CIDR blocks
 * ("10.0.0.0/8", "::1"), spaces allowed around items, empty for none. Returns 0, or
 * RATE_POLICY_EINVAL with the reason in err (errlen bytes).
 */
int rate_policy_proxies_check(const char *list, char *err, size_t errlen);

/* Returns 1 when address (a textual IP) is in one of list's addresses or blocks, 0 otherwise. */
int rate_policy_proxy_trusted(const char *list, const char *address);

/*
 * The client a request is counted against, written to out (RATE_POLICY_ADDR_MAX bytes) in
 * canonical form. peer is the connection's address. When peer is a trusted proxy and xff
 * (X-Forwarded-For, NULL when absent) is given, its items are read right to left and the first
 * that is not itself a trusted proxy is the client (the leftmost when all are): items left of it
 * were written by the client and cannot be trusted. Returns 0, or RATE_POLICY_EINVAL when the
 * header a trusted proxy sent has an item that is not an IP address (the caller answers 400).
 */
int rate_policy_client_address(const char *peer, const char *xff, size_t xff_len,
                               const char *trusted, char *out);

/*
 * Returns 1 when key (len bytes, from X-API-Key) is one of the comma-separated keys of list, 0
 * otherwise; an empty key is never known. Each comparison takes the same time whatever the bytes.
 */
int rate_policy_api_key_known(const char *list, const char *key, size_t len);

/*
 * The base of the Redis keys a client is counted under for one route class, written to out
 * (RATE_POLICY_KEY_MAX bytes): "ratelimit:{<route>:ip:<address>}" or
 * "ratelimit:{<route>:key:<16 hex digits of FNV-1a 64 of the key>}", so an API key never appears
 * in Redis. The braces are a Redis Cluster hash tag: every key an algorithm's script touches for
 * the client starts with this base, so all of them hash to one slot. Returns 0 or
 * RATE_POLICY_EINVAL when it does not fit.
 */
int rate_policy_key_base(const char *route, int by_key, const char *id, size_t id_len, char *out);

/* Whole seconds in ms, rounded up, never below min_s: Retry-After and the "t" parameter. */
long long rate_policy_seconds(long long ms, long long min_s);

/*
 * RateLimit-Policy's item for a policy: "\"<name>\";q=<quota>;w=<window>". RateLimit's item for
 * it: "\"<name>\";r=<remaining>;t=<reset seconds>". Written to out (len bytes). Return 0 or
 * RATE_POLICY_EINVAL when it does not fit.
 */
int rate_policy_format_policy(char *out, size_t len, const char *name, long long quota,
                              long long window_s);
int rate_policy_format_limit(char *out, size_t len, const char *name, long long remaining,
                             long long reset_s);

#endif
