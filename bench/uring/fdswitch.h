/* bench/uring/fdswitch.h -- what the peers of `switch N 1` (bench/switch.c
   with one fd registered) share: the argument and the JSON line, with the
   fields switch prints, so that bench/uring/switch.sh reads every
   contender the same way. */
#ifndef FDSWITCH_H
#define FDSWITCH_H
#include "bench.h"

#include <stdlib.h>

/* N from argv[1] (default 1000000), or -1 after a usage line. */
static long long fdswitch_n(int argc, char **argv)
{
    long long n = argc > 1 ? atoll(argv[1]) : 1000000;
    if (n < 1 || n > 1000000000) {
        fprintf(stderr, "usage: %s [N]   (1 <= N <= 1e9, default 1000000)\n", argv[0]);
        return -1;
    }
    return n;
}

/* 2N switches over [t0, t1] wall and [c0, c1] CPU, in `passes` passes of
   the loop, each with one poll of the backend. */
static void fdswitch_print(const char *backend, long long n, long long t0, long long t1, long long c0, long long c1,
                           long long passes)
{
    double sw = 2.0 * (double)n;
    printf("{\"bench\":\"switch\",\"n\":%lld,\"switches\":%.0f,\"wall_ms\":%.3f,"
           "\"ns_per_switch\":%.2f,\"cpu_ns_per_switch\":%.2f,\"loop_iterations\":%lld,"
           "\"fds\":1,\"backend\":\"%s\"}\n",
           n, sw, (double)(t1 - t0) / 1e6, (double)(t1 - t0) / sw, (double)(c1 - c0) / sw, passes, backend);
}
#endif
