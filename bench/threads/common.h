/* bench/threads/common.h -- clocks and percentiles for the thread
   benchmarks, shared by the asyncio.h and the libuv programs (no
   asyncio.h in here: the libuv programs include it too).  In the asyncio.h
   programs include it after asyncio.h, whose implementation asks for the
   POSIX declarations these need; the libuv programs define _GNU_SOURCE. */
#ifndef THREADS_COMMON_H
#define THREADS_COMMON_H
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time of the whole process, every thread: user + system. */
static inline long long cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v; the q-quantile (0 <= q <= 1), nearest rank. */
static inline long long quantile_sorted(const long long *v, long n, double q)
{
    long i;
    if (n <= 0)
        return 0;
    i = (long)(q * (double)n + 0.5) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return v[i];
}

typedef struct {
    double p50_us, p99_us, max_us, mean_us;
} lat_summary;

static inline lat_summary summarize_ns(long long *v, long n)
{
    lat_summary s;
    long i;
    double sum = 0;
    qsort(v, (size_t)n, sizeof *v, cmp_ll);
    for (i = 0; i < n; i++)
        sum += (double)v[i];
    s.p50_us = (double)quantile_sorted(v, n, 0.50) / 1e3;
    s.p99_us = (double)quantile_sorted(v, n, 0.99) / 1e3;
    s.max_us = n > 0 ? (double)v[n - 1] / 1e3 : 0;
    s.mean_us = n > 0 ? sum / (double)n / 1e3 : 0;
    return s;
}

/* The CPU busy loop of the loop-lag benchmark: FNV-1a steps until the
   monotonic clock passes deadline, checked every 65536 steps (well under
   a millisecond).  Returns the hash; *steps gets the number of steps. */
static inline unsigned long long busy_hash_until(long long deadline, long long *steps)
{
    unsigned long long h = 1469598103934665603ULL;
    long long n = 0;
    unsigned k;
    do {
        for (k = 0; k < 65536; k++) {
            h ^= (unsigned char)k;
            h *= 1099511628211ULL;
        }
        n += 65536;
    } while (mono_ns() < deadline);
    *steps = n;
    return h;
}

/* THREADS_PLACEMENT=split: the calling thread (the loop's) goes to CPU 0,
   every other thread of the process (the pool's, the producers) to CPU 1,
   so that every hand-over crosses cores.  Call it once those threads
   exist.  Returns "split", or "os" (placement left to the scheduler: the
   variable is unset, or the machine has a single CPU). */
static inline const char *placement_apply(void)
{
    const char *want = getenv("THREADS_PLACEMENT");
    long self = (long)syscall(SYS_gettid);
    cpu_set_t c0, c1;
    DIR *d;
    struct dirent *e;
    if (!want || strcmp(want, "split") != 0 || sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return "os";
    CPU_ZERO(&c0);
    CPU_ZERO(&c1);
    CPU_SET(0, &c0);
    CPU_SET(1, &c1);
    if (sched_setaffinity(0, sizeof c0, &c0) != 0 || !(d = opendir("/proc/self/task")))
        return "os";
    while ((e = readdir(d)) != NULL) {
        long tid = atol(e->d_name);
        if (tid > 0 && tid != self)
            sched_setaffinity((pid_t)tid, sizeof c1, &c1);
    }
    closedir(d);
    return "split";
}

#endif
