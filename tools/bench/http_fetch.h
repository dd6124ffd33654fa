/*
 * http_fetch — one blocking HTTP/1.1 request on a fresh connection, with a deadline.
 *
 * `cacheme-bench` uses it for the few requests around a run (DELETE /cache/clear, GET /cache/stats)
 * while no load is in flight, so blocking is harmless there; the load itself never goes through
 * here. Thread-safe (no shared state).
 */
#ifndef CACHEME_HTTP_FETCH_H
#define CACHEME_HTTP_FETCH_H

#include <stddef.h>
#include <sys/socket.h>

#define HTTP_FETCH_ECONNECT (-1) /* The connection could not be made (refused, unreachable). */
#define HTTP_FETCH_EFAILED (-2)  /* Connected, but no complete answer before the deadline. */

/*
 * Sends `method path` (no body, "Connection: close") to addr with the given Host header, and waits
 * for the whole answer at most timeout_ms milliseconds in all. Returns 0 with *status and *body
 * (malloc'ed, NUL-terminated; the caller frees it), or HTTP_FETCH_ECONNECT / HTTP_FETCH_EFAILED
 * with a message in err. Blocks.
 */
int http_fetch(const struct sockaddr *addr, socklen_t addrlen, const char *host_header,
               const char *method, const char *path, int timeout_ms, int *status, char **body,
               char *err, size_t errlen);

#endif
