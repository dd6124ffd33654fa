/*
 * loadgen — `cacheme bench`: a load generator aimed at a running cacheme (see docs/performance.md).
 *
 * It has options of its own (`cacheme bench --help`), parsed here rather than by config.
 */
#ifndef CACHEME_LOADGEN_H
#define CACHEME_LOADGEN_H

/* Runs `cacheme bench` with argv[0] = "bench". Returns the process exit status. */
int loadgen_main(int argc, char **argv);

#endif
