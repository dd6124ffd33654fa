/*
 * loadgen_options — see loadgen_options.h. getopt_long does the splitting; every value is then
 * checked against its range here, so that a bad one exits 2 with a message naming the option.
 */
#include "loadgen_options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ================================================================ options === */

void loadgen_options_usage(FILE *f)
{
    fputs(
        "Usage: cacheme-bench [options]\n"
        "   or: cacheme bench [options]   (the same program, started by the service's binary)\n"
        "\n"
        "Sends GET /products/{id} (and PATCH for writes) to a running cacheme over keep-alive\n"
        "connections, then prints throughput, errors, hit ratio and latency percentiles by "
        "source.\n"
        "\n"
        "Target and load:\n"
        "  --url URL             service to load (default http://127.0.0.1:8000)\n"
        "  -c, --connections N   concurrent connections, one request in flight each (default 16)\n"
        "  -d, --duration T      length of the measured phase: 30, 30s, 500ms, 2m (max 1h)\n"
        "  -n, --requests N      number of measured requests (max 100000000)\n"
        "                        (the run ends at the first bound reached; neither: -d 10s)\n"
        "  --keys N              ids asked for are 1..N (default 15, the seeded products)\n"
        "  --dist KIND           uniform | zipf | hot (default uniform)\n"
        "  --zipf-s S            Zipf exponent, 0 < S <= 10 (default 1.1): id k has weight 1/k^S\n"
        "  --hot-key ID          the id of --dist hot (default 1; alone, implies --dist hot)\n"
        "  --write-ratio F       share of requests that are PATCH {\"price\": ...}, 0..1 (default "
        "0)\n"
        "  --clear               DELETE /cache/clear before starting\n"
        "  --warmup T            run the same load for T first, not counted (default 0)\n"
        "  --timeout T           a request unanswered after T is a timeout (default 5s, max 60s)\n"
        "  --seed N              seed of the key and write choices (default 1)\n"
        "  --allow-remote        allow a target outside 127.0.0.0/8 and ::1\n"
        "\n"
        "Output:\n"
        "  --json                the summary as JSON on stdout instead of the table\n"
        "  --html FILE           write an HTML report (summary, latency over time, histograms)\n"
        "  --svg FILE            write the plots as one SVG file\n"
        "  --progress            print the progress line even when stderr is not a terminal\n"
        "  -q, --quiet           no progress line\n"
        "  -h, --help            this text\n"
        "\n"
        "Exit status: 0 after a run, 1 when the target cannot be reached or stops answering,\n"
        "2 for a bad option or a target that is not allowed.\n",
        f);
}

/* Parses a whole string as a finite double. */
static int parse_double(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Parses a whole string as a decimal unsigned integer <= max. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parses a duration: a number of seconds, optionally followed by "ms", "s" or "m". */
static int parse_seconds(const char *s, double *out)
{
    char num[64];
    size_t n = strlen(s);
    double scale = 1.0;
    if (n > 2 && strcmp(s + n - 2, "ms") == 0) {
        scale = 0.001;
        n -= 2;
    } else if (n > 1 && s[n - 1] == 's') {
        n -= 1;
    } else if (n > 1 && s[n - 1] == 'm') {
        scale = 60.0;
        n -= 1;
    }
    if (n == 0 || n >= sizeof num)
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    double v;
    if (parse_double(num, &v) != 0 || v < 0)
        return -1;
    *out = v * scale;
    return 0;
}

/* Splits opts->url into host, port and base path. */
static int parse_url(loadgen_options_t *o, char *err, size_t errlen)
{
    const char *u = o->url;
    if (strncmp(u, "https://", 8) == 0) {
        snprintf(err, errlen, "--url %s: https is not supported; use http://", u);
        return -1;
    }
    if (strncmp(u, "http://", 7) != 0) {
        snprintf(err, errlen, "--url %s: expected http://HOST[:PORT][/PATH]", u);
        return -1;
    }
    const char *p = u + 7;
    const char *host_end;
    const char *after;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL) {
            snprintf(err, errlen, "--url %s: unterminated [IPv6 address]", u);
            return -1;
        }
        p++;
        after = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#");
        after = host_end;
    }
    size_t hlen = (size_t)(host_end - p);
    if (hlen == 0 || hlen >= sizeof o->host || strchr(p, '@') != NULL) {
        snprintf(err, errlen, "--url %s: expected http://HOST[:PORT][/PATH]", u);
        return -1;
    }
    memcpy(o->host, p, hlen);
    o->host[hlen] = '\0';
    snprintf(o->port, sizeof o->port, "80");
    if (*after == ':') {
        const char *ps = after + 1;
        size_t plen = strspn(ps, "0123456789");
        uint64_t port = 0;
        char digits[8];
        if (plen == 0 || plen >= sizeof digits) {
            snprintf(err, errlen, "--url %s: bad port", u);
            return -1;
        }
        memcpy(digits, ps, plen);
        digits[plen] = '\0';
        if (parse_uint(digits, 65535, &port) != 0 || port == 0) {
            snprintf(err, errlen, "--url %s: bad port", u);
            return -1;
        }
        snprintf(o->port, sizeof o->port, "%u", (unsigned)port);
        after = ps + plen;
    }
    if (*after != '\0' && *after != '/') {
        snprintf(err, errlen, "--url %s: expected http://HOST[:PORT][/PATH] (no query)", u);
        return -1;
    }
    size_t blen = strlen(after);
    while (blen > 0 && after[blen - 1] == '/')
        blen--;
    if (blen >= sizeof o->base_path || strcspn(after, "?# \t\r\n") < strlen(after)) {
        snprintf(err, errlen, "--url %s: the path must be a plain prefix such as /api", u);
        return -1;
    }
    memcpy(o->base_path, after, blen);
    o->base_path[blen] = '\0';
    return 0;
}

enum {
    OPT_URL = 256,
    OPT_KEYS,
    OPT_DIST,
    OPT_ZIPF_S,
    OPT_HOT_KEY,
    OPT_WRITE_RATIO,
    OPT_CLEAR,
    OPT_WARMUP,
    OPT_TIMEOUT,
    OPT_SEED,
    OPT_JSON,
    OPT_HTML,
    OPT_SVG,
    OPT_ALLOW_REMOTE,
    OPT_PROGRESS
};

static const struct option long_options[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"connections", required_argument, NULL, 'c'},
    {"duration", required_argument, NULL, 'd'},
    {"requests", required_argument, NULL, 'n'},
    {"keys", required_argument, NULL, OPT_KEYS},
    {"dist", required_argument, NULL, OPT_DIST},
    {"zipf-s", required_argument, NULL, OPT_ZIPF_S},
    {"hot-key", required_argument, NULL, OPT_HOT_KEY},
    {"write-ratio", required_argument, NULL, OPT_WRITE_RATIO},
    {"clear", no_argument, NULL, OPT_CLEAR},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"seed", required_argument, NULL, OPT_SEED},
    {"json", no_argument, NULL, OPT_JSON},
    {"html", required_argument, NULL, OPT_HTML},
    {"svg", required_argument, NULL, OPT_SVG},
    {"allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Applies one option; returns 0 or -1 with a message. */
static int apply_option(loadgen_options_t *o, int opt, const char *arg, int *dist_given,
                        int *hot_given, char *err, size_t errlen)
{
    uint64_t u = 0;
    double d = 0;
    switch (opt) {
    case OPT_URL:
        if (strlen(arg) >= sizeof o->url) {
            snprintf(err, errlen, "--url: too long");
            return -1;
        }
        snprintf(o->url, sizeof o->url, "%s", arg);
        return 0;
    case 'c':
        if (parse_uint(arg, LOADGEN_MAX_CONNECTIONS, &u) != 0 || u < 1) {
            snprintf(err, errlen, "--connections %s: expected 1..%d", arg, LOADGEN_MAX_CONNECTIONS);
            return -1;
        }
        o->connections = (int)u;
        return 0;
    case 'd':
        if (parse_seconds(arg, &d) != 0 || d <= 0 || d > LOADGEN_MAX_DURATION_S) {
            snprintf(err, errlen, "--duration %s: expected a time above 0 and at most 1h (3600s)",
                     arg);
            return -1;
        }
        o->duration_s = d;
        return 0;
    case 'n':
        if (parse_uint(arg, LOADGEN_MAX_REQUESTS, &u) != 0 || u < 1) {
            snprintf(err, errlen, "--requests %s: expected 1..%llu", arg,
                     (unsigned long long)LOADGEN_MAX_REQUESTS);
            return -1;
        }
        o->requests = u;
        return 0;
    case OPT_KEYS:
        if (parse_uint(arg, LOADGEN_MAX_KEYS, &u) != 0 || u < 1) {
            snprintf(err, errlen, "--keys %s: expected 1..%u", arg, LOADGEN_MAX_KEYS);
            return -1;
        }
        o->keys = (uint32_t)u;
        return 0;
    case OPT_DIST:
        if (keydist_parse(arg, &o->dist) != 0) {
            snprintf(err, errlen, "--dist %s: expected uniform, zipf or hot", arg);
            return -1;
        }
        *dist_given = 1;
        return 0;
    case OPT_ZIPF_S:
        if (parse_double(arg, &d) != 0 || !(d > 0 && d <= KEYDIST_MAX_S)) {
            snprintf(err, errlen, "--zipf-s %s: expected a number above 0 and at most %g", arg,
                     KEYDIST_MAX_S);
            return -1;
        }
        o->zipf_s = d;
        return 0;
    case OPT_HOT_KEY:
        if (parse_uint(arg, LOADGEN_MAX_KEYS, &u) != 0 || u < 1) {
            snprintf(err, errlen, "--hot-key %s: expected an id 1..%u", arg, LOADGEN_MAX_KEYS);
            return -1;
        }
        o->hot_key = (uint32_t)u;
        *hot_given = 1;
        return 0;
    case OPT_WRITE_RATIO:
        if (parse_double(arg, &d) != 0 || d < 0 || d > 1) {
            snprintf(err, errlen, "--write-ratio %s: expected a number from 0 to 1", arg);
            return -1;
        }
        o->write_ratio = d;
        return 0;
    case OPT_WARMUP:
        if (parse_seconds(arg, &d) != 0 || d > LOADGEN_MAX_DURATION_S) {
            snprintf(err, errlen, "--warmup %s: expected a time from 0 to 1h (3600s)", arg);
            return -1;
        }
        o->warmup_s = d;
        return 0;
    case OPT_TIMEOUT:
        if (parse_seconds(arg, &d) != 0 || d < 0.001 || d > 60) {
            snprintf(err, errlen, "--timeout %s: expected a time from 1ms to 60s", arg);
            return -1;
        }
        o->timeout_s = d;
        return 0;
    case OPT_SEED:
        if (parse_uint(arg, UINT64_MAX, &u) != 0) {
            snprintf(err, errlen, "--seed %s: expected a non-negative integer", arg);
            return -1;
        }
        o->seed = u;
        return 0;
    case OPT_CLEAR:
        o->clear = 1;
        return 0;
    case OPT_JSON:
        o->json = 1;
        return 0;
    case OPT_HTML:
        o->html = arg;
        return 0;
    case OPT_SVG:
        o->svg = arg;
        return 0;
    case OPT_ALLOW_REMOTE:
        o->allow_remote = 1;
        return 0;
    case OPT_PROGRESS:
        o->progress = 1;
        return 0;
    case 'q':
        o->quiet = 1;
        return 0;
    case 'h':
        o->help = 1;
        return 0;
    default:
        snprintf(err, errlen, "unknown option (see cacheme-bench --help)");
        return -1;
    }
}

int loadgen_options_parse(int argc, char **argv, loadgen_options_t *out, char *err, size_t errlen)
{
    loadgen_options_t o;
    memset(&o, 0, sizeof o);
    snprintf(o.url, sizeof o.url, "http://127.0.0.1:8000");
    o.connections = 16;
    o.keys = 15;
    o.dist = KEYDIST_UNIFORM;
    o.zipf_s = 1.1;
    o.hot_key = 1;
    o.timeout_s = 5.0;
    o.seed = 1;
    int dist_given = 0;
    int hot_given = 0;

    optind = 0; /* glibc: a full re-initialisation, so that the parser can run more than once. */
    opterr = 0;
    for (;;) {
        int index = 0;
        int opt = getopt_long(argc, argv, "+c:d:n:qh", long_options, &index);
        if (opt == -1)
            break;
        if (opt == '?' || opt == ':') {
            const char *bad = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
            if (optopt != 0 && optopt < 256)
                snprintf(err, errlen, "-%c: unknown option or missing value (see --help)", optopt);
            else
                snprintf(err, errlen, "%s: unknown option or missing value (see --help)", bad);
            return -1;
        }
        if (apply_option(&o, opt, optarg, &dist_given, &hot_given, err, errlen) != 0)
            return -1;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    if (o.help) {
        *out = o;
        return 0;
    }
    if (hot_given && !dist_given)
        o.dist = KEYDIST_HOT;
    else if (hot_given && o.dist != KEYDIST_HOT) {
        snprintf(err, errlen, "--hot-key goes with --dist hot, not --dist %s",
                 keydist_name(o.dist));
        return -1;
    }
    if (o.duration_s == 0 && o.requests == 0)
        o.duration_s = LOADGEN_DEFAULT_DURATION_S;
    if (o.quiet)
        o.progress = 0;
    if (parse_url(&o, err, errlen) != 0)
        return -1;
    *out = o;
    return 0;
}

/* ================================================================ target === */

/* 1 when the address is in 127.0.0.0/8, is ::1, or is 127.x.y.z mapped into IPv6. */
static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

int loadgen_options_resolve(const loadgen_options_t *o, struct addrinfo **res, char *err,
                            size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(o->host, o->port, &hints, res);
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", o->host, gai_strerror(gai));
        return -2;
    }
    return 0;
}

int loadgen_options_check_target(const loadgen_options_t *opts, char *err, size_t errlen)
{
    struct addrinfo *res = NULL;
    int rc = loadgen_options_resolve(opts, &res, err, errlen);
    if (rc != 0)
        return rc;
    for (const struct addrinfo *ai = res; ai != NULL && !opts->allow_remote; ai = ai->ai_next) {
        if (!is_loopback(ai->ai_addr)) {
            char text[INET6_ADDRSTRLEN] = "?";
            getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST);
            snprintf(err, errlen,
                     "%s resolves to %s, which is not a loopback address: bench only loads "
                     "127.0.0.0/8 and ::1 unless --allow-remote is given",
                     opts->host, text);
            rc = -1;
            break;
        }
    }
    freeaddrinfo(res);
    return rc;
}
