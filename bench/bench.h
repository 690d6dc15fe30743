/* bench/bench.h -- the clocks the C benchmarks read: wall time, CPU time
   (user + system) and resident memory.  Included after asyncio.h, whose
   implementation asks for the POSIX declarations these need; a program
   without asyncio.h (bench/uring's peers) defines _GNU_SOURCE itself and
   gets the clocks only. */
#ifndef BENCH_H
#define BENCH_H
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static inline long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline long long cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static inline long long current_rss_bytes(void);

/* ru_maxrss, but never below the current RSS: the kernel reads its own RSS
   counters approximately for ru_maxrss (per-CPU batches), so at small N it
   can lag /proc/self/statm by a few hundred KiB. */
static inline long long peak_rss_bytes(void)
{
    struct rusage ru;
    long long peak, now = current_rss_bytes();
    getrusage(RUSAGE_SELF, &ru);
    peak = (long long)ru.ru_maxrss * 1024LL;
    return peak > now ? peak : now;
}

static inline long long current_rss_bytes(void)
{
    long long size = 0, resident = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    if (fp) {
        if (fscanf(fp, "%lld %lld", &size, &resident) != 2)
            resident = 0;
        fclose(fp);
    }
    return resident * (long long)sysconf(_SC_PAGESIZE);
}

#ifdef ASYNCIO_H
/* After asyncio_run: main must have succeeded and child i of g must hold
   the value `each` (each < 0: the value i).  Prints what is wrong; returns
   0 if all is well. */
static inline int bench_check(const char *bench, const asyncio_outcome *out, const asyncio_gather_t *g,
                              size_t n, long long each)
{
    size_t i, bad = 0;
    if (out->err != 0) {
        fprintf(stderr, "%s: main failed: %s (%s)\n", bench, out->msg ? out->msg : "?",
                asyncio_err_name(out->err));
        return 1;
    }
    for (i = 0; i < n; i++) {
        asyncio_value v;
        int err;
        v.i = -1;
        err = asyncio_gather_result(g, i, &v);
        if ((err != 0 || v.i != (each < 0 ? (long long)i : each)) && bad++ < 5)
            fprintf(stderr, "%s: task %zu: err %d value %lld\n", bench, i, err, v.i);
    }
    if (asyncio_future_result(&g->fut, NULL) != 0) {
        fprintf(stderr, "%s: the gather itself failed\n", bench);
        bad++;
    }
    if (bad)
        fprintf(stderr, "%s: %zu of %zu results wrong\n", bench, bad, n);
    return bad != 0;
}
#endif

#endif
