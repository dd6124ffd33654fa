/*
 * bench_exec — see bench_exec.h. The path comes from readlink(2) on /proc/self/exe rather than
 * argv[0], which names the binary only as it was typed (it may be a bare name found through PATH,
 * or a symbolic link into another directory).
 */
#include "server/bench_exec.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int bench_exec_path(const char *exe, char *out, size_t outlen)
{
    if (outlen > 0)
        out[0] = '\0';
    const char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    size_t dirlen = (size_t)(slash - exe) + 1;     /* With its slash: "/" stays the root. */
    size_t need = dirlen + sizeof BENCH_EXEC_NAME; /* sizeof counts the terminating NUL. */
    if (need > outlen)
        return -1;
    memcpy(out, exe, dirlen);
    memcpy(out + dirlen, BENCH_EXEC_NAME, sizeof BENCH_EXEC_NAME);
    return 0;
}

int bench_exec_run(int argc, char **argv)
{
    char exe[PATH_MAX];
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "cacheme bench: cannot find this binary's directory (/proc/self/exe: %s)\n",
                n < 0 ? strerror(errno) : "empty");
        return 2;
    }
    exe[n] = '\0';
    if (bench_exec_path(exe, path, sizeof path) != 0) {
        fprintf(stderr, "cacheme bench: %s: the path is too long\n", exe);
        return 2;
    }
    /* The program sees its own path as argv[0] and bench's options as its own. */
    assert(argc >= 1 && argv[argc] == NULL);
    argv[0] = path;
    execv(path, argv);
    int err = errno;
    if (err == ENOENT)
        fprintf(stderr,
                "cacheme bench: the load generator %s is not installed beside this binary (%s); "
                "`make` builds it as build/%s\n",
                BENCH_EXEC_NAME, path, BENCH_EXEC_NAME);
    else
        fprintf(stderr, "cacheme bench: cannot run %s: %s\n", path, strerror(err));
    return 2;
}
