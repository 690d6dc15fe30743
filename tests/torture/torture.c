/* The fault sweeps' driver (see torture.h): the counting allocator, one
   run of a scenario in a forked child, the sweeps over k, the report.
       torture [scenario-substring]
   prints "ok <sweep>: k=1..N, all clean" or "not ok ..." per sweep and
   ends with "P passed, F failed";
       torture SCENARIO alloc|cancel|count K
   runs that one case in the foreground, to look at with a debugger. */
#define _GNU_SOURCE 1
#define ASYNCIO_IMPLEMENTATION
#include <stddef.h>
static void *torture_realloc(void *ctx, void *p, size_t n);
static void torture_free(void *ctx, void *p);
#define ASYNCIO_REALLOC(ctx, p, n) torture_realloc((ctx), (p), (n))
#define ASYNCIO_FREE(ctx, p) torture_free((ctx), (p))
#include "torture.h"
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A run that takes longer than this is a hang. */
#define RUN_LIMIT_S 5
/* Runs in flight at once: one per core of the machine it was written on. */
#define JOBS 2

/* ---- the counting allocator --------------------------------------------- */
/* alloc_ctx points here, so the loop's blocks are told from the ctx-NULL
   ones (the default executor lives as long as the process). */
static struct {
    pthread_t owner;  /* the loop's thread: only its calls are counted */
    long calls;       /* its ASYNCIO_REALLOC calls so far */
    long fail_at;     /* the call that returns NULL (1-based); 0: none */
    long live;        /* the loop's blocks now allocated (atomic: frees may come from workers) */
} heap;

static void *torture_realloc(void *ctx, void *p, size_t n)
{
    void *q;
    if (pthread_equal(pthread_self(), heap.owner) && ++heap.calls == heap.fail_at)
        return NULL;
    q = realloc(p, n);
    if (q && !p && ctx == (void *)&heap)
        __atomic_add_fetch(&heap.live, 1, __ATOMIC_RELAXED);
    return q;
}

static void torture_free(void *ctx, void *p)
{
    if (p && ctx == (void *)&heap)
        __atomic_sub_fetch(&heap.live, 1, __ATOMIC_RELAXED);
    free(p);
}

/* ---- one run -------------------------------------------------------------- */
static struct {
    int mode;
    long cancel_at;     /* TORTURE_CANCEL: the step that cancels main */
    long steps;
    asyncio_task *main; /* asyncio_run's */
    int injected;       /* the cancellation was delivered to a pending main */
    int outcome;        /* main's */
    char warnings[1024];
} run;

void torture_step(asyncio_task *self)
{
    if (!run.main) /* asyncio_run's main task steps first */
        run.main = self;
    if (++run.steps == run.cancel_at && run.mode == TORTURE_CANCEL && !asyncio_future_done(&run.main->fut))
        run.injected = asyncio_task_cancel(run.main);
}

static void on_warning(void *ctx, const char *msg)
{
    size_t len = strlen(run.warnings);
    (void)ctx;
    snprintf(run.warnings + len, sizeof run.warnings - len, "%s[%s]", len ? " " : "", msg);
}

const char *torture_expected(int mode, int injected, int rc)
{
    static char why[128];
    int allowed = mode == TORTURE_ALLOC ? -ENOMEM : ASYNCIO_ECANCELLED;
    if (rc == 0 || (rc == allowed && injected))
        return NULL;
    snprintf(why, sizeof why, "main ended with %s (%s)%s", asyncio_err_name(rc), asyncio_strerror(rc),
             rc == allowed ? " though no fault was injected" : "");
    return why;
}

unsigned char torture_byte(size_t i) { return (unsigned char)(i % 251 + (i >> 16)); }

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Runs sc under the fault with asyncio_run, which cancels and finishes
   what main leaves behind, closes the async generators left open and
   closes the loop (a task still pending then is reported through warn,
   so a clean close is a run without warnings).  Returns NULL if the run
   was clean, or why not; *calls and *steps receive the totals. */
static const char *run_once(const torture_scenario *sc, int mode, long k, long *calls, long *steps)
{
    static char why[1200];
    asyncio_config cfg;
    const char *bad = NULL;
    void *frame = calloc(1, sc->frame_size);
    int fds = count_fds(), injected;
    if (!frame)
        return "no memory for the frame";
    if (sc->setup)
        sc->setup(frame);
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = 1;
    cfg.warn = on_warning;
    cfg.slow_callback_duration = -1; /* a loaded machine must not add warnings */
    cfg.alloc_ctx = &heap;
    heap.owner = pthread_self();
    heap.fail_at = mode == TORTURE_ALLOC ? k : 0;
    run.mode = mode;
    run.cancel_at = mode == TORTURE_CANCEL ? k : 0;
    run.outcome = asyncio_run_config(&cfg, sc->main, frame, NULL);
    injected = mode == TORTURE_ALLOC ? heap.fail_at > 0 && heap.calls >= heap.fail_at : run.injected;
    *calls = heap.calls;
    *steps = run.steps;
    if (__atomic_load_n(&heap.live, __ATOMIC_RELAXED) != 0) {
        snprintf(why, sizeof why, "%ld blocks of the loop's allocator still live after close",
                 __atomic_load_n(&heap.live, __ATOMIC_RELAXED));
        bad = why;
    } else if (count_fds() != fds) {
        snprintf(why, sizeof why, "%d descriptors open after close, %d before", count_fds(), fds);
        bad = why;
    } else if (run.warnings[0]) {
        snprintf(why, sizeof why, "warnings: %s", run.warnings);
        bad = why;
    } else
        bad = sc->check(frame, mode, injected, run.outcome);
    free(frame);
    return bad;
}

/* ---- the sweeps ------------------------------------------------------------ */
/* Known library bugs, until they are fixed: a failure of that sweep whose
   description contains the symptom prints as TODO and does not count.
   (By symptom, not by k: k moves whenever the library's allocations or
   steps change.)  The reproducers are in repro/. */
static const struct known {
    const char *sweep, *symptom, *bug;
} known[] = {
    {"alloc-gen", "no memory to close an abandoned async generator",
     "the closer of an abandoned generator is allocated only when needed, so without memory then its "
     "cleanup cannot run and the loop can only say so (repro/abandoned_gen_no_memory.c)"},
    {NULL, NULL, NULL}
};

static const char *known_bug(const char *sweep, const char *why)
{
    const struct known *b;
    for (b = known; b->sweep; b++)
        if (strcmp(b->sweep, sweep) == 0 && strstr(why, b->symptom))
            return b->bug;
    return NULL;
}

typedef struct {
    pid_t pid;
    int fd;
    long k;
    size_t len;
    char out[2048]; /* the start of what the child printed */
} job_t;

static void job_start(job_t *j, const torture_scenario *sc, int mode, long k)
{
    int p[2];
    if (pipe(p) < 0) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    if ((j->pid = fork()) < 0) {
        perror("fork");
        exit(2);
    }
    if (j->pid == 0) {
        long calls, steps;
        const char *bad;
        close(p[0]);
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[1]);
        alarm(RUN_LIMIT_S);
        bad = run_once(sc, mode, k, &calls, &steps);
        if (bad) {
            printf("FAIL: %s\n", bad);
            exit(3);
        }
        printf("counts %ld %ld\n", calls, steps);
        exit(0); /* LeakSanitizer looks now */
    }
    close(p[1]);
    j->fd = p[0];
    j->k = k;
    j->len = 0;
    j->out[0] = 0;
}

/* Reads the job's output to its end, reaps it: 0 if it was clean. */
static int job_read(job_t *j, int *status)
{
    char buf[4096];
    ssize_t n = read(j->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
        return 1;
    if (n > 0) {
        size_t room = sizeof j->out - 1 - j->len, take = (size_t)n < room ? (size_t)n : room;
        memcpy(j->out + j->len, buf, take);
        j->len += take;
        j->out[j->len] = 0;
        return 1;
    }
    close(j->fd);
    while (waitpid(j->pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

static void describe(char *buf, size_t size, const job_t *j, int status)
{
    const char *what = strstr(j->out, "FAIL: ");
    if (WIFSIGNALED(status))
        snprintf(buf, size, "%s", WTERMSIG(status) == SIGALRM ? "hang: killed after the time limit"
                                                              : strsignal(WTERMSIG(status)));
    else if (what)
        snprintf(buf, size, "%.*s", (int)strcspn(what + 6, "\n"), what + 6);
    else
        snprintf(buf, size, "exit %d", WEXITSTATUS(status));
    if (!what && j->len) /* a sanitizer's report: its gist */
        snprintf(buf + strlen(buf), size - strlen(buf), "\n      %.600s", j->out + strspn(j->out, "\n="));
}

/* Runs k = 1..n of one sweep, JOBS at a time; returns the failures. */
static int sweep(const char *name, const torture_scenario *sc, int mode, long n)
{
    job_t jobs[JOBS];
    long next = 1, failed = 0, todo = 0;
    int running = 0, shown = 0;
    while (next <= n || running) {
        struct pollfd pfd[JOBS];
        int i;
        while (next <= n && running < JOBS)
            job_start(&jobs[running++], sc, mode, next++);
        for (i = 0; i < running; i++) {
            pfd[i].fd = jobs[i].fd;
            pfd[i].events = POLLIN;
        }
        if (poll(pfd, (nfds_t)running, -1) < 0 && errno != EINTR) {
            perror("poll");
            exit(2);
        }
        for (i = 0; i < running; i++) {
            int status;
            char why[1024];
            const char *bug;
            if (!pfd[i].revents || job_read(&jobs[i], &status))
                continue;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                describe(why, sizeof why, &jobs[i], status);
                if ((bug = known_bug(name, why)) != NULL) {
                    printf("  TODO %s k=%ld: %s (known: %s)\n", name, jobs[i].k, why, bug);
                    todo++;
                } else {
                    if (shown++ < 5)
                        printf("  %s k=%ld: %s\n", name, jobs[i].k, why);
                    failed++;
                }
            }
            jobs[i--] = jobs[--running];
            pfd[i + 1] = pfd[running];
        }
    }
    if (failed)
        printf("not ok %s: k=1..%ld, %ld failed\n", name, n, failed);
    else
        printf("ok %s: k=1..%ld, all clean%s\n", name, n, todo ? " but for the TODOs above" : "");
    return failed > 0;
}

/* torture SCENARIO MODE K */
static int run_one(char **argv)
{
    static const char *const modes[] = {"count", "alloc", "cancel"};
    size_t i;
    int mode;
    long calls, steps;
    const char *bad;
    for (mode = 0; mode < 3 && strcmp(argv[2], modes[mode]) != 0; mode++)
        ;
    for (i = 0; i < torture_nscenarios && strcmp(torture_scenarios[i].name, argv[1]) != 0; i++)
        ;
    if (i == torture_nscenarios || mode == 3) {
        fprintf(stderr, "usage: torture SCENARIO count|alloc|cancel K\n");
        return 2;
    }
    bad = run_once(&torture_scenarios[i], mode, atol(argv[3]), &calls, &steps);
    printf("%s %s k=%s: %s (main %s; %ld allocations, %ld steps)\n", argv[1], argv[2], argv[3], bad ? bad : "clean",
           asyncio_err_name(run.outcome), calls, steps);
    return bad != NULL;
}

int main(int argc, char **argv)
{
    size_t i;
    int passed = 0, failed = 0;
    struct timespec t0, t1;
    if (argc == 4)
        return run_one(argv);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < torture_nscenarios; i++) {
        const torture_scenario *sc = &torture_scenarios[i];
        job_t j;
        int status;
        long calls = 0, steps = 0;
        char name[64], why[1024];
        const char *counts;
        if (argc > 1 && !strstr(sc->name, argv[1]))
            continue;
        /* the fault-free run: it must be clean, and it gives N */
        job_start(&j, sc, TORTURE_COUNT, 0);
        while (job_read(&j, &status))
            ;
        counts = strstr(j.out, "counts ");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !counts ||
            sscanf(counts, "counts %ld %ld", &calls, &steps) != 2) {
            describe(why, sizeof why, &j, status);
            printf("not ok %s: the run without faults fails: %s\n", sc->name, why);
            failed += 2;
            continue;
        }
        snprintf(name, sizeof name, "alloc-%s", sc->name);
        if (sweep(name, sc, TORTURE_ALLOC, calls))
            failed++;
        else
            passed++;
        snprintf(name, sizeof name, "cancel-%s", sc->name);
        if (sweep(name, sc, TORTURE_CANCEL, steps))
            failed++;
        else
            passed++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("# torture took %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
