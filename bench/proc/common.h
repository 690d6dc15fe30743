/* bench/proc/common.h -- clocks, percentiles, sizes and the test pattern of the
   subprocess, pipe and file benchmarks, shared by the asyncio.h, libuv and
   plain blocking programs (no asyncio.h in here).  In the asyncio.h
   programs include it after asyncio.h, whose implementation asks for the
   POSIX declarations these need; the others define _GNU_SOURCE first.

   The pattern: byte i of every stream and file these programs move is
   pattern_byte(i mod PATTERN_PERIOD), a period that is prime, so that no
   chunk size lines up with it: a chunk lost, repeated or moved shows as a
   mismatch (the programs compare every byte, with memcmp, against
   pattern + (offset mod PATTERN_PERIOD)).  pattern.py makes the same
   bytes for the Python programs. */
#ifndef PROC_COMMON_H
#define PROC_COMMON_H
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATTERN_PERIOD 1048573L   /* the largest prime below 1 MiB */
#define PATTERN_SLACK (1L << 20)  /* readable past the period: one piece of up to 1 MiB */
#define GIB (1LL << 30)

static inline long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time of this process, every thread: user + system. */
static inline long long cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static inline unsigned char pattern_byte(long i)
{
    return (unsigned char)(((unsigned long)i * 2654435761UL & 0xffffffffUL) >> 24);
}

/* PATTERN_PERIOD + PATTERN_SLACK bytes: byte k is pattern_byte(k mod
   PATTERN_PERIOD), so the n <= PATTERN_SLACK bytes at stream offset off are
   pattern_at(p, off)[0 .. n). */
static inline unsigned char *pattern_new(void)
{
    unsigned char *p = (unsigned char *)malloc((size_t)(PATTERN_PERIOD + PATTERN_SLACK));
    long k;
    if (!p)
        return NULL;
    for (k = 0; k < PATTERN_PERIOD + PATTERN_SLACK; k++)
        p[k] = pattern_byte(k % PATTERN_PERIOD);
    return p;
}

static inline const unsigned char *pattern_at(const unsigned char *p, long long off)
{
    return p + off % PATTERN_PERIOD;
}

/* Do the n bytes at buf match the stream at offset off?  Any n. */
static inline int pattern_check(const unsigned char *p, long long off, const void *buf, size_t n)
{
    const unsigned char *b = (const unsigned char *)buf;
    while (n) {
        size_t piece = n < (size_t)PATTERN_SLACK ? n : (size_t)PATTERN_SLACK;
        if (memcmp(b, pattern_at(p, off), piece) != 0)
            return 0;
        b += piece;
        off += (long long)piece;
        n -= piece;
    }
    return 1;
}

/* Does the file at path hold exactly size bytes of the pattern?  Plain
   blocking reads, after the timed part.  1 yes, 0 no (why on stderr). */
static inline int pattern_check_file(const unsigned char *p, const char *path, long long size)
{
    static char buf[1 << 20];
    long long off = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "check: %s: %s\n", path, strerror(errno));
        return 0;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        if (off + n > size || !pattern_check(p, off, buf, (size_t)n)) {
            fprintf(stderr, "check: %s: wrong bytes at or after offset %lld\n", path, off);
            close(fd);
            return 0;
        }
        off += n;
    }
    close(fd);
    if (n < 0 || off != size) {
        fprintf(stderr, "check: %s: %lld bytes, expected %lld%s%s\n", path, off, size, n < 0 ? ": " : "",
                n < 0 ? strerror(errno) : "");
        return 0;
    }
    return 1;
}

/* Before a timed copy (untimed): DST exists with size bytes, all zero.
   The timed copy then overwrites pages already in the page cache: on the
   VM these figures come from, the first touch of fresh pages costs 0.3 to
   3 s per GiB at random (the host backs guest memory lazily), which would
   drown what the copy programs differ in.  The zeros make the check after
   the copy meaningful (a byte not written stays 0).  1 ok, 0 failed. */
static inline int prepare_dst(const char *path, long long size)
{
    static char zero[1 << 17];
    long long off = 0;
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0 || fstat(fd, &st) != 0 || (st.st_size != size && ftruncate(fd, size) != 0)) {
        fprintf(stderr, "prepare: %s: %s\n", path, strerror(errno));
        return 0;
    }
    while (off < size) {
        size_t n = size - off < (long long)sizeof zero ? (size_t)(size - off) : sizeof zero;
        ssize_t k = pwrite(fd, zero, n, (off_t)off);
        if (k <= 0) {
            fprintf(stderr, "prepare: %s: %s\n", path, strerror(errno));
            close(fd);
            return 0;
        }
        off += k;
    }
    return close(fd) == 0;
}

/* The size of the file at path, or -1. */
static inline long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
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

/* "1073741824", "1g", "64m", "256k": bytes, or -1. */
static inline long long parse_size(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0)
        return -1;
    switch (*end) {
    case 'g': case 'G': v <<= 30; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'k': case 'K': v <<= 10; end++; break;
    default: break;
    }
    return *end ? -1 : v;
}

/* The kernel buffer of the pipe fd is an end of, in bytes (Linux's
   F_GETPIPE_SZ); 0 if fd is not a pipe or the system cannot tell. */
static inline long pipe_size_of(int fd)
{
#ifdef F_GETPIPE_SZ
    int n = fcntl(fd, F_GETPIPE_SZ);
    return n > 0 ? (long)n : 0;
#else
    (void)fd;
    return 0;
#endif
}

#endif
