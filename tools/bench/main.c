/*
 * main — cacheme-bench, the load generator of cacheme: a program of its own, built from this folder
 * only (plus include/cacheme/version.h), as Redis builds redis-benchmark beside redis-server. The
 * service's binary runs it for `cacheme bench` (src/server/bench_exec.c); everything is in loadgen.
 */
#include "loadgen.h"

int main(int argc, char **argv)
{
    return loadgen_main(argc, argv);
}
