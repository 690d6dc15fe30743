/* bench/spawn.c N -- create N trivial tasks, run them, gather them.

   The main coroutine creates N tasks with asyncio_create_task (each in a
   caller-provided asyncio_task; the tasks, their frames and the array of
   future pointers are malloc'd once before timing starts), gathers their
   futures with asyncio_gather and awaits the gather.  Each task's
   coroutine returns its index at once, without suspending: Python's
       tasks = [asyncio.create_task(trivial(i)) for i in range(n)]
       await asyncio.gather(*tasks)
   Real clock.  Prints one line of JSON:

     {"bench":"spawn","n":N,"wall_ms":W,"tasks_per_sec":N/W,
      "cpu_ns_per_task":C,"rss_bytes_per_task":R,"loop_iterations":I,"loop_steps":S}

   I and S: the loop's passes and task steps (asyncio_loop_metrics).

   wall: CLOCK_MONOTONIC from just before the first task is created to just
   after the gather completes; cpu: getrusage user+sys over that span / N;
   rss: (peak RSS at the end - RSS before the arrays were allocated) / N.
   Every result is checked; the exit status is 1 if any is wrong. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the workload ---- */
typedef struct {
    asyncio_coro co;
    int i;
} trivial_t;

static int trivial(asyncio_task *self, void *frame)
{
    trivial_t *f = (trivial_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_RETURN(asyncio_int(f->i));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    size_t n, i;
    asyncio_task *tasks;
    trivial_t *frames;
    asyncio_future **futs;
    asyncio_gather_t g;
    long long t0, t1, c0, c1;
    asyncio_metrics metrics; /* the loop's counters at the end, printed beside the figures */
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < f->n; f->i++)
        f->frames[f->i].i = (int)f->i;
    f->c0 = cpu_ns();
    f->t0 = mono_ns();
    for (f->i = 0; f->i < f->n; f->i++) {
        if (!asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[f->i], trivial, &f->frames[f->i]))
            ASYNCIO_RAISE(-ENOMEM, "create_task failed");
        f->futs[f->i] = &f->tasks[f->i].fut;
    }
    if (asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, f->n, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->t1 = mono_ns();
    f->c1 = cpu_ns();
    asyncio_loop_metrics(ASYNCIO_LOOP(), &f->metrics);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    long long n_arg = argc > 1 ? atoll(argv[1]) : 1000000;
    size_t n;
    long long rss0, rss1;
    asyncio_config cfg;
    asyncio_outcome out;
    main_t m;
    double wall_s;

    if (n_arg < 1 || n_arg > 100000000) {
        fprintf(stderr, "usage: %s N   (1 <= N <= 1e8)\n", argv[0]);
        return 2;
    }
    n = (size_t)n_arg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;

    rss0 = current_rss_bytes();
    memset(&m, 0, sizeof m);
    m.n = n;
    m.tasks = (asyncio_task *)malloc(n * sizeof *m.tasks);
    m.frames = (trivial_t *)malloc(n * sizeof *m.frames);
    m.futs = (asyncio_future **)malloc(n * sizeof *m.futs);
    if (!m.tasks || !m.frames || !m.futs) {
        fprintf(stderr, "spawn: out of memory\n");
        return 1;
    }

    asyncio_run_config(&cfg, main_coro, &m, &out);
    rss1 = peak_rss_bytes();

    if (bench_check("spawn", &out, &m.g, n, -1))
        return 1;

    wall_s = (double)(m.t1 - m.t0) / 1e9;
    printf("{\"bench\":\"spawn\",\"n\":%zu,\"wall_ms\":%.3f,\"tasks_per_sec\":%.0f,"
           "\"cpu_ns_per_task\":%.1f,\"rss_bytes_per_task\":%.1f,\"loop_iterations\":%llu,\"loop_steps\":%llu}\n",
           n, wall_s * 1e3, (double)n / wall_s, (double)(m.c1 - m.c0) / (double)n,
           (double)(rss1 - rss0) / (double)n, m.metrics.iterations, m.metrics.steps);
    free(m.tasks);
    free(m.frames);
    free(m.futs);
    return 0;
}
