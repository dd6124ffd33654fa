/*
 * loadgen_options — the options of `cacheme-bench`: parsing, validation, the usage text, and the
 * check that the target is a loopback address.
 *
 * They have their own parser here, not config's: bench is a client, not the service. The defaults
 * and limits are documented in loadgen_options_usage and docs/performance.md.
 */
#ifndef CACHEME_LOADGEN_OPTIONS_H
#define CACHEME_LOADGEN_OPTIONS_H

#include "keydist.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct addrinfo;

#define LOADGEN_MAX_CONNECTIONS 10000
#define LOADGEN_MAX_DURATION_S 3600.0     /* Hard cap of a run (and of its warm-up). */
#define LOADGEN_MAX_REQUESTS 100000000ULL /* Hard cap of -n. */
#define LOADGEN_DEFAULT_DURATION_S 10.0   /* When neither -d nor -n is given. */
#define LOADGEN_MAX_KEYS 2147483647U      /* Ids are 32-bit signed on the service's side. */

/* The options of a run, filled by loadgen_options_parse. A plain value: the caller owns it. */
typedef struct {
    char url[512];       /* As given, e.g. "http://127.0.0.1:8000". */
    char host[256];      /* Host part, brackets of an IPv6 literal removed. */
    char port[8];        /* Port, "80" when the URL has none. */
    char base_path[256]; /* Path prefix before /products ("" for none), no trailing slash. */
    int connections;     /* Concurrent connections, 1..LOADGEN_MAX_CONNECTIONS. */
    double duration_s;   /* Measured phase length in seconds; 0 when bounded by requests only. */
    uint64_t requests;   /* Requests of the measured phase; 0 when bounded by duration only. */
    uint32_t keys;       /* Ids asked for are 1..keys. */
    keydist_kind_t dist; /* Key distribution. */
    double zipf_s;       /* Zipf exponent. */
    uint32_t hot_key;    /* The id of --dist hot. */
    double write_ratio;  /* Share of requests that are writes (PATCH), 0..1. */
    int clear;           /* 1: DELETE /cache/clear before the warm-up. */
    double warmup_s;     /* Warm-up before measuring (same load, not reported), seconds. */
    double timeout_s;    /* A request not answered within this is a timeout error. */
    uint64_t seed;       /* Seed of the key and write choices. */
    int json;            /* 1: the summary as JSON on stdout instead of the table. */
    const char *html;    /* Path of an HTML report to write, or NULL. */
    const char *svg;     /* Path of an SVG report to write, or NULL. */
    int allow_remote;    /* 1: allow targets outside the loopback network. */
    int progress;        /* 1: progress line forced on; 0: only when stderr is a terminal. */
    int quiet;           /* 1: no progress line at all. */
    int help;            /* 1: --help was given; nothing else is meaningful. */
} loadgen_options_t;

/*
 * Parses the arguments after argv[0] (the program's name). Returns 0 and fills *out, or -1 with a
 * message in err (a bad option or value; the caller exits 2). Only syntax and ranges are checked
 * here; the target's address is checked by loadgen_options_check_target. The strings of *out point
 * into argv or into *out itself. Uses getopt_long, so it is not thread-safe.
 */
int loadgen_options_parse(int argc, char **argv, loadgen_options_t *out, char *err, size_t errlen);

/*
 * Resolves opts->host and checks that every address it has is a loopback address (127.0.0.0/8,
 * ::1, or 127.x mapped into IPv6), unless opts->allow_remote. Returns 0, -1 with a message in err
 * when the target is not allowed, -2 with a message when the name does not resolve. Blocks on the
 * resolver.
 */
int loadgen_options_check_target(const loadgen_options_t *opts, char *err, size_t errlen);

/*
 * Resolves opts->host and opts->port (no loopback check). Returns 0 and sets *res (free it with
 * freeaddrinfo), or -2 with a message in err. Blocks on the resolver.
 */
int loadgen_options_resolve(const loadgen_options_t *opts, struct addrinfo **res, char *err,
                            size_t errlen);

/* Prints the usage text. */
void loadgen_options_usage(FILE *f);

#endif
