/*
 * http_fetch — see http_fetch.h. A non-blocking socket driven by poll(2), so that one deadline
 * covers the connect, the write and the read; the answer is framed by http_response.
 */
#include "http_fetch.h"

#include "cacheme/version.h"
#include "http_response.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FETCH_MAX_BODY (4u << 20) /* Larger answers are refused. */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int http_fetch(const struct sockaddr *addr, socklen_t addrlen, const char *host_header,
               const char *method, const char *path, int timeout_ms, int *status, char **body,
               char *err, size_t errlen)
{
    *body = NULL;
    int64_t deadline = now_ms() + timeout_ms;
    char req[1024];
    int rlen = snprintf(req, sizeof req,
                        "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: cacheme-bench/%s\r\n"
                        "Content-Length: 0\r\nConnection: close\r\n\r\n",
                        method, path, host_header, CACHEME_VERSION);
    if (rlen <= 0 || (size_t)rlen >= sizeof req) {
        snprintf(err, errlen, "%s %s: request too long", method, path);
        return HTTP_FETCH_EFAILED;
    }
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return HTTP_FETCH_EFAILED;
    }
    size_t cap = 8192;
    char *buf = malloc(cap);
    size_t off = 0;
    size_t len = 0;
    int connected = 0;
    int rc = HTTP_FETCH_EFAILED;
    if (buf == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (connect(fd, addr, addrlen) != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "cannot connect: %s", strerror(errno));
        rc = HTTP_FETCH_ECONNECT;
        goto out;
    }
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            snprintf(err, errlen, "%s %s: no answer within %d ms", method, path, timeout_ms);
            if (!connected)
                rc = HTTP_FETCH_ECONNECT;
            goto out;
        }
        struct pollfd pfd = {.fd = fd, .events = off < (size_t)rlen ? POLLOUT : POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr <= 0)
            continue; /* EINTR or the deadline: the check above decides. */
        if (!connected) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
                snprintf(err, errlen, "cannot connect: %s", strerror(soerr ? soerr : errno));
                rc = HTTP_FETCH_ECONNECT;
                goto out;
            }
            connected = 1;
        }
        if (off < (size_t)rlen) {
            ssize_t n = send(fd, req + off, (size_t)rlen - off, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                snprintf(err, errlen, "%s %s: %s", method, path, strerror(errno));
                goto out;
            }
            if (n > 0)
                off += (size_t)n;
            continue;
        }
        if (len + 1 >= cap) {
            char *grown = cap < FETCH_MAX_BODY ? realloc(buf, cap * 2) : NULL;
            if (grown == NULL) {
                snprintf(err, errlen, "%s %s: answer too large", method, path);
                goto out;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        int recv_errno = errno;
        if (n > 0)
            len += (size_t)n;
        http_response_t resp;
        int prc = http_response_parse(buf, len, n <= 0, &resp);
        if (prc == 0)
            continue;
        if (prc < 0) {
            snprintf(err, errlen, "%s %s: %s", method, path,
                     n < 0 ? strerror(recv_errno) : "not a complete HTTP answer");
            goto out;
        }
        memmove(buf, buf + resp.body_off, resp.body_len);
        buf[resp.body_len] = '\0';
        *status = resp.status;
        *body = buf;
        buf = NULL;
        rc = 0;
        goto out;
    }
out:
    free(buf);
    close(fd);
    return rc;
}
