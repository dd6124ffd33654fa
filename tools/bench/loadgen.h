/*
 * loadgen — the load loop of `cacheme-bench`, a load generator aimed at a running cacheme (issue 7;
 * usage in docs/performance.md and `cacheme-bench --help`). `cacheme bench` runs the same program.
 *
 * One thread runs one libevent loop driving N keep-alive TCP connections, each with one request in
 * flight at a time (closed loop, like wrk): GET /products/{id} for reads, PATCH /products/{id} with
 * {"price": ...} for writes. Latencies are measured with the monotonic clock from the first byte
 * written to the last byte read and recorded in histograms split by the answer's source (cache,
 * database), writes and other answers. Every run is bounded by a duration and/or a request count,
 * under hard caps, and aimed only at loopback addresses unless --allow-remote is given.
 */
#ifndef CACHEME_LOADGEN_H
#define CACHEME_LOADGEN_H

#include "loadgen_options.h"

/* Runs the load generator with main's arguments (argv[0] is the program's name, argv[1..] the
 * options). Returns the process exit status: 0 after a run, 1 when the target could not be reached
 * or the run failed, 2 for bad options. */
int loadgen_main(int argc, char **argv);

#endif
