/*
 * bench_exec — `cacheme bench ...`: runs the load generator, cacheme-bench, a separate program
 * (tools/bench/) installed beside this binary, with the same arguments.
 *
 * The service links no load-generator code; this forwarder keeps the documented `cacheme bench`
 * command working by replacing the process with the program found in the directory of
 * /proc/self/exe, so that build/cacheme runs build/cacheme-bench and build/asan/cacheme runs
 * build/asan/cacheme-bench, whatever the current directory or PATH.
 */
#ifndef CACHEME_BENCH_EXEC_H
#define CACHEME_BENCH_EXEC_H

#include <stddef.h>

/* The load generator's file name, looked for beside the running binary. */
#define BENCH_EXEC_NAME "cacheme-bench"

/*
 * Writes into out (outlen bytes) the path of BENCH_EXEC_NAME in the directory of exe, an absolute
 * path to an executable ("/opt/x/cacheme" gives "/opt/x/cacheme-bench"). Returns 0, or -1 when exe
 * has no directory part or the result does not fit (out then holds an empty string).
 */
int bench_exec_path(const char *exe, char *out, size_t outlen);

/*
 * Runs `cacheme bench`: argv[0] is "bench", argv[1..argc-1] are passed through unchanged, and
 * argv[argc] is NULL (as main's). On success it does not return: the process becomes
 * cacheme-bench, whose exit status and output are the command's. Returns 2 after a message on
 * stderr when the program is missing or cannot be started.
 */
int bench_exec_run(int argc, char **argv);

#endif
