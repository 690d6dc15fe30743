/* bench/gather.c N -- one main coroutine gathers N sleeping tasks.

   Task i sleeps (i % 10 + 1) * 10 ms, so the ideal wall time is MAX =
   100 ms whatever N is.  Real clock (config.virtual_clock = -1).  The tasks
   and their frames live in two arrays malloc'd once and are created with
   asyncio_gather_map.  Prints one line of JSON:

     {"bench":"gather","n":N,"max_ms":100,"wall_ms":W,"over_ms":W-100,
      "cpu_ns_per_task":C,"rss_bytes_per_task":R}

   wall: CLOCK_MONOTONIC from just before the tasks are created to just
   after the gather completes (inside the main coroutine).
   cpu:  getrusage(RUSAGE_SELF) user+sys over the same span, / N.
   rss:  (peak RSS at the end (ru_maxrss) - RSS right before the arrays are
   allocated (/proc/self/statm)) / N.
   Every task's result is checked; the exit status is 1 if any is wrong. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MS 100

/* ---- the workload ---- */
typedef struct {
    asyncio_coro co;
    int i;
} sleeper_t;

static int sleeper(asyncio_task *self, void *frame)
{
    sleeper_t *f = (sleeper_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP((f->i % 10 + 1) * (MAX_MS / 10) / 1000.0);
    ASYNCIO_RETURN(asyncio_int(f->i));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    size_t n;
    asyncio_task *tasks;
    sleeper_t *frames;
    asyncio_gather_t g;
    int rc;
    long long t0, t1, c0, c1;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    size_t i;
    ASYNCIO_BEGIN(self, f);
    for (i = 0; i < f->n; i++)
        f->frames[i].i = (int)i;
    f->c0 = cpu_ns();
    f->t0 = mono_ns();
    f->rc = asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, sleeper, f->frames, sizeof *f->frames, f->n, 0);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->t1 = mono_ns();
    f->c1 = cpu_ns();
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    long long n_arg = argc > 1 ? atoll(argv[1]) : 1000;
    size_t n;
    long long rss0, rss1;
    asyncio_config cfg;
    asyncio_outcome out;
    main_t m;
    double wall_ms;

    if (n_arg < 1 || n_arg > 100000000) {
        fprintf(stderr, "usage: %s N   (1 <= N <= 1e8)\n", argv[0]);
        return 2;
    }
    n = (size_t)n_arg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1; /* the real clock, whatever the environment says */

    rss0 = current_rss_bytes();
    memset(&m, 0, sizeof m);
    m.n = n;
    m.tasks = (asyncio_task *)malloc(n * sizeof *m.tasks);
    m.frames = (sleeper_t *)malloc(n * sizeof *m.frames);
    if (!m.tasks || !m.frames) {
        fprintf(stderr, "gather: out of memory\n");
        return 1;
    }

    asyncio_run_config(&cfg, main_coro, &m, &out);
    rss1 = peak_rss_bytes();

    if (bench_check("gather", &out, &m.g, n, -1))
        return 1;

    wall_ms = (double)(m.t1 - m.t0) / 1e6;
    printf("{\"bench\":\"gather\",\"n\":%zu,\"max_ms\":%d,\"wall_ms\":%.3f,\"over_ms\":%.3f,"
           "\"cpu_ns_per_task\":%.1f,\"rss_bytes_per_task\":%.1f}\n",
           n, MAX_MS, wall_ms, wall_ms - MAX_MS, (double)(m.c1 - m.c0) / (double)n,
           (double)(rss1 - rss0) / (double)n);
    free(m.tasks);
    free(m.frames);
    return 0;
}
