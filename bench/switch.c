/* bench/switch.c [N] -- two tasks each yield to the loop N times.

   Two tasks run `for k in range(N): await asyncio.sleep(0)`
   (ASYNCIO_YIELD) side by side; the main coroutine gathers them.  Every
   yield is one task switch through the ready queue, 2N in all.  Real
   clock.  N defaults to 1000000.  Prints one line of JSON:

     {"bench":"switch","n":N,"switches":2N,"wall_ms":W,
      "ns_per_switch":W/(2N),"cpu_ns_per_switch":C/(2N),"loop_iterations":I,"loop_steps":S}

   I and S: the loop's passes and task steps (asyncio_loop_metrics).

   wall: CLOCK_MONOTONIC from just before the two tasks are created to just
   after the gather completes; cpu: getrusage user+sys over that span.
   Both tasks must finish with the expected count; exit status 1 if not. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the workload ---- */
typedef struct {
    asyncio_coro co;
    long n, k;
} yielder_t;

static int yielder(asyncio_task *self, void *frame)
{
    yielder_t *f = (yielder_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->k = 0; f->k < f->n; f->k++) {
        ASYNCIO_YIELD();
    }
    ASYNCIO_RETURN(asyncio_int(f->k));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    long n;
    asyncio_task tasks[2];
    yielder_t frames[2];
    asyncio_gather_t g;
    long long t0, t1, c0, c1;
    asyncio_metrics metrics; /* the loop's counters at the end, printed beside the figures */
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->frames[0].n = f->frames[1].n = f->n;
    f->c0 = cpu_ns();
    f->t0 = mono_ns();
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, yielder, f->frames, sizeof f->frames[0], 2, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->t1 = mono_ns();
    f->c1 = cpu_ns();
    asyncio_loop_metrics(ASYNCIO_LOOP(), &f->metrics);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    long long n_arg = argc > 1 ? atoll(argv[1]) : 1000000;
    asyncio_config cfg;
    asyncio_outcome out;
    main_t m;
    int i, bad = 0;
    double sw;

    if (n_arg < 1 || n_arg > 1000000000) {
        fprintf(stderr, "usage: %s [N]   (1 <= N <= 1e9, default 1000000)\n", argv[0]);
        return 2;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    memset(&m, 0, sizeof m);
    m.n = (long)n_arg;

    asyncio_run_config(&cfg, main_coro, &m, &out);
    if (out.err != 0) {
        fprintf(stderr, "switch: main failed: %s (%s)\n", out.msg ? out.msg : "?", asyncio_err_name(out.err));
        return 1;
    }
    for (i = 0; i < 2; i++) {
        asyncio_value v;
        int err;
        v.i = -1;
        err = asyncio_gather_result(&m.g, (size_t)i, &v);
        if (err != 0 || v.i != n_arg) {
            fprintf(stderr, "switch: task %d: err %d count %lld, expected %lld\n", i, err, v.i, n_arg);
            bad++;
        }
    }
    if (bad)
        return 1;

    sw = 2.0 * (double)n_arg;
    printf("{\"bench\":\"switch\",\"n\":%lld,\"switches\":%.0f,\"wall_ms\":%.3f,"
           "\"ns_per_switch\":%.2f,\"cpu_ns_per_switch\":%.2f,\"loop_iterations\":%llu,\"loop_steps\":%llu}\n",
           n_arg, sw, (double)(m.t1 - m.t0) / 1e6, (double)(m.t1 - m.t0) / sw, (double)(m.c1 - m.c0) / sw,
           m.metrics.iterations, m.metrics.steps);
    return 0;
}
