/* Runs every test of list.h in a forked child with a 20 s limit; prints
   TAP-like lines and the closing "N passed, N failed". */
/* the implementation wants POSIX and Linux calls: ask before any header */
#define _GNU_SOURCE 1
#define ASYNCIO_IMPLEMENTATION
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
/* other threads allocate too (call_soon_threadsafe): an atomic budget */
static long alloc_budget = -1;
static void *test_realloc(void *p, size_t n)
{
    long b = __atomic_load_n(&alloc_budget, __ATOMIC_SEQ_CST);
    do {
        if (b == 0)
            return NULL;
    } while (b > 0 && !__atomic_compare_exchange_n(&alloc_budget, &b, b - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    return realloc(p, n);
}
/* Freed memory is scribbled over: a buffer the kernel still reads after
   the library let it go (an io_uring send) shows up as corrupt bytes at
   the peer, where ASan, which sees no kernel access, cannot tell. */
static void test_free(void *p)
{
    if (p)
        memset(p, 0xEE, malloc_usable_size(p));
    free(p);
}
#define ASYNCIO_REALLOC(ctx, p, n) ((void)(ctx), test_realloc((p), (n)))
#define ASYNCIO_FREE(ctx, p) ((void)(ctx), test_free(p))
#include "tests.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(ASYNCIO_BACKEND_POLL)
const char test_backend[] = "poll";
#elif defined(ASYNCIO_BACKEND_KQUEUE)
const char test_backend[] = "kqueue";
#elif defined(ASYNCIO_BACKEND_URING)
const char test_backend[] = "io_uring";
#elif defined(ASYNCIO_BACKEND_EPOLL) || defined(__linux__)
const char test_backend[] = "epoll";
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__)
const char test_backend[] = "kqueue";
#else
const char test_backend[] = "poll";
#endif

void alloc_fail_after(long n) { __atomic_store_n(&alloc_budget, n, __ATOMIC_SEQ_CST); }

static char trace_buf[8192];
void trace(const char *fmt, ...)
{
    va_list ap;
    size_t len = strlen(trace_buf);
    if (len && len < sizeof trace_buf - 1)
        trace_buf[len++] = ' ';
    va_start(ap, fmt);
    vsnprintf(trace_buf + len, sizeof trace_buf - len, fmt, ap);
    va_end(ap);
}
const char *trace_get(void) { return trace_buf; }
void trace_reset(void) { trace_buf[0] = 0; }

int warnings_seen;
char last_warning[512];
static void capture_warning(void *ctx, const char *msg)
{
    (void)ctx;
    warnings_seen++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
}

void vloop_init(asyncio_loop *loop)
{
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = 1;
    cfg.warn = capture_warning;
    cfg.slow_callback_duration = -1; /* a loaded machine must not add warnings */
    CHECK_EQ(asyncio_loop_init(loop, &cfg), 0);
}

int run_virtual(asyncio_fn fn, void *frame, asyncio_outcome *out)
{
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = 1;
    return asyncio_run_config(&cfg, fn, frame, out);
}

struct test {
    const char *name;
    void (*fn)(void);
};
static const struct test tests[] = {
#define TEST(name) {#name, test_##name},
#include "list.h"
#undef TEST
};

int main(int argc, char **argv)
{
    size_t i, n = sizeof tests / sizeof tests[0];
    int passed = 0, failed = 0;
    printf("# asyncio.h tests, backend %s, %s flavour\n", asyncio_backend_name(),
           ASYNCIO_LABELS ? "labels" : "switch");
    for (i = 0; i < n; i++) {
        pid_t pid;
        int status;
        if (argc > 1 && !strstr(tests[i].name, argv[1]))
            continue;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            alarm(20);
            tests[i].fn();
            exit(0);
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            passed++;
            printf("ok %d - %s\n", passed + failed, tests[i].name);
        } else {
            failed++;
            printf("not ok %d - %s (%s %d)\n", passed + failed, tests[i].name,
                   WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
