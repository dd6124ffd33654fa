/*
 * loadgen — see loadgen.h.
 */
#include "loadgen.h"

#include <stdio.h>

int loadgen_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "cacheme bench: not available in this build\n");
    return 2;
}
