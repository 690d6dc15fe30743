/* Helpers for the tests that take the kernel as witness (processes,
   files): open descriptors, byte patterns, a scratch directory, the clock. */
#define _GNU_SOURCE 1
#include "tests.h"
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

long long test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void test_fds_at_least(long n)
{
    struct rlimit rl;
    CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < (rlim_t)n) {
        CHECK(rl.rlim_max >= (rlim_t)n); /* the test needs them */
        rl.rlim_cur = (rlim_t)n;
        CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
}

int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

/* The kqueue emulation (tests/kqueue_emulation.h) frees a closed kqueue's
   hidden descriptors at the next kqueue() call: a loop opened and closed
   first leaves every backend in the same state. */
int count_fds_settled(void)
{
    asyncio_loop loop;
    CHECK_EQ(asyncio_loop_init(&loop, NULL), 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    return count_fds();
}

void check_bytes(const char *file, int line, const char *p, size_t n, const char *s)
{
    if (n == strlen(s) && (n == 0 || memcmp(p, s, n) == 0))
        return;
    fprintf(stderr, "  %s:%d: got %zu bytes \"%.*s\", want \"%s\"\n", file, line, n, (int)(n > 200 ? 200 : n),
            p ? p : "", s);
    exit(1);
}

unsigned char pattern_at(size_t i) { return (unsigned char)(i % 251 + (i >> 20)); }

unsigned char *pattern_new(size_t n)
{
    unsigned char *b = (unsigned char *)malloc(n);
    size_t i;
    CHECK(b != NULL);
    for (i = 0; i < n; i++)
        b[i] = pattern_at(i);
    return b;
}

char test_dir[64];

void test_dir_make(const char *tag)
{
    static int registered;
    snprintf(test_dir, sizeof test_dir, "/tmp/asyncio-%s-XXXXXX", tag);
    CHECK(mkdtemp(test_dir) != NULL);
    if (!registered++)
        atexit(test_dir_remove);
}

void test_dir_remove(void)
{
    DIR *d = test_dir[0] ? opendir(test_dir) : NULL;
    struct dirent *e;
    char path[512];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", test_dir, e->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(test_dir);
    test_dir[0] = 0;
}
