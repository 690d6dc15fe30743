/* The test framework: each test is a function run in its own forked
   process with a time limit, so a crash, hang or leak fails only it. */
#ifndef TESTS_H
#define TESTS_H
#include "asyncio.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)
#define CHECK_EQ(a, b)                                                                     \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        if (a_ != b_) {                                                                    \
            fprintf(stderr, "  %s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", __FILE__, \
                    __LINE__, #a, a_, #b, b_);                                             \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)
#define CHECK_STR(a, b)                                                                    \
    do {                                                                                   \
        const char *a_ = (a), *b_ = (b);                                                   \
        if (strcmp(a_, b_) != 0) {                                                         \
            fprintf(stderr, "  %s:%d: CHECK_STR failed:\n    got:  %s\n    want: %s\n",    \
                    __FILE__, __LINE__, a_, b_);                                           \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* The backend the implementation was built for (tests/runner.c, the one
   file compiled per backend: the tests' own files are shared), as
   asyncio_backend_name() says it. */
extern const char test_backend[];

/* An event trace: tests append words, then compare the whole sequence. */
void trace(const char *fmt, ...);
const char *trace_get(void);
void trace_reset(void);

/* A loop on the virtual clock, warnings captured into the trace. */
void vloop_init(asyncio_loop *loop);
extern int warnings_seen;
extern char last_warning[512];

/* asyncio_run_config(fn, frame, out) on the virtual clock: its return. */
int run_virtual(asyncio_fn fn, void *frame, asyncio_outcome *out);

/* The allocator behind ASYNCIO_REALLOC in tests: fail after n more calls
   (-1: never). */
void alloc_fail_after(long n);

/* tests/os.c, for the tests that take the kernel as witness: the open
   descriptors of this process (settled: after a loop was opened and
   closed, see os.c); n bytes at p are the string s; a position-dependent
   byte pattern (a lost, doubled or reordered piece shows); a scratch
   directory /tmp/asyncio-TAG-XXXXXX in test_dir, removed at exit. */
int count_fds(void);
/* CLOCK_MONOTONIC in ns, for the tests where real time is the point. */
long long test_now_ns(void);
/* RLIMIT_NOFILE raised to at least n (a test of many fds at once). */
void test_fds_at_least(long n);
int count_fds_settled(void);
void check_bytes(const char *file, int line, const char *p, size_t n, const char *s);
#define CHECK_BYTES(p, n, s) check_bytes(__FILE__, __LINE__, (p), (size_t)(n), (s))
unsigned char pattern_at(size_t i);
unsigned char *pattern_new(size_t n);
extern char test_dir[64];
void test_dir_make(const char *tag);
void test_dir_remove(void);

#define TEST(name) void test_##name(void);
#include "list.h"
#undef TEST
#endif
