/* taskgroup.c -- structured concurrency: three jobs in a TaskGroup, one
   fails, the group cancels the others and reports the error.

   Shows: asyncio_taskgroup (Python's `async with asyncio.TaskGroup()`):
   enter, create_task, the exit awaited with ASYNCIO_AWAIT_CORO_RC, the
   errors behind ASYNCIO_EGROUP (Python's ExceptionGroup); a job that
   catches its cancellation with an _RC await, still awaits to save its
   work, then re-raises; ASYNCIO_FINALLY running on success, error and
   cancellation alike.

   Mirrors:

       async def job(n, seconds, fails=False):
           print(f"[{now():.1f}] job {n}: start, {seconds} s of work")
           try:
               await asyncio.sleep(seconds)
               if fails:
                   raise RuntimeError(f"job {n} failed: disk full")
               print(f"[{now():.1f}] job {n}: done")
           except asyncio.CancelledError:
               await asyncio.sleep(0.1 * n)        # save the work done so far
               print(f"[{now():.1f}] job {n}: cancelled, progress saved")
               raise
           finally:
               print(f"[{now():.1f}] job {n}: cleanup")

       async def main():
           try:
               async with asyncio.TaskGroup() as tg:
                   tg.create_task(job(1, 1.0))
                   tg.create_task(job(2, 0.5, fails=True))
                   tg.create_task(job(3, 2.0))
                   print(f"[{now():.1f}] main: 3 jobs started")
               print(f"[{now():.1f}] main: all jobs done")
           except ExceptionGroup as eg:
               print(f"[{now():.1f}] main: caught: {eg}")
               for e in eg.exceptions:
                   print(f"  {e}")

       asyncio.run(main())   # now(): loop.time() since main started

   Run:    make examples && build/examples/taskgroup   (0.8 s)
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/taskgroup   (instant)

   Prints:
       [0.0] main: 3 jobs started
       [0.0] job 1: start, 1.0 s of work
       [0.0] job 2: start, 0.5 s of work
       [0.0] job 3: start, 2.0 s of work
       [0.5] job 2: cleanup
       [0.6] job 1: cancelled, progress saved
       [0.6] job 1: cleanup
       [0.8] job 3: cancelled, progress saved
       [0.8] job 3: cleanup
       [0.8] main: caught: unhandled errors in a TaskGroup (1 sub-exception)
         job 2 failed: disk full

   Jobs 1 and 3 are cancelled together at 0.5 s.  CPython cancels a
   group's tasks in set order, which is unspecified (asyncio.h: creation
   order); saving for 0.1 * n seconds puts their lines at distinct times,
   so the output is the same in both. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <stdio.h>

/* RuntimeError: any code at or below ASYNCIO_EUSER is the program's */
#define JOB_ERROR ASYNCIO_EUSER
#define NJOBS 3

static double start;
static double now(asyncio_task *self) { return asyncio_loop_time(self->fut.loop) - start; }

typedef struct {
    asyncio_coro co;
    int n, fails;
    double seconds;
    int rc;
    char msg[48]; /* the error's message must outlive the task */
} job_t;

static int job(asyncio_task *self, void *frame)
{
    job_t *f = (job_t *)frame;
    ASYNCIO_BEGIN(self, f);
    printf("[%.1f] job %d: start, %.1f s of work\n", now(self), f->n, f->seconds);
    ASYNCIO_SLEEP_RC(f->rc, f->seconds);     /* try: await asyncio.sleep(seconds) */
    if (f->rc == ASYNCIO_ECANCELLED) {       /* except asyncio.CancelledError: */
        ASYNCIO_SLEEP(0.1 * f->n);           /*     save the work done so far */
        printf("[%.1f] job %d: cancelled, progress saved\n", now(self), f->n);
        ASYNCIO_RAISE(ASYNCIO_ECANCELLED, NULL); /*     raise */
    }
    if (f->rc < 0) /* any other error of the sleep: let it propagate */
        ASYNCIO_RAISE(f->rc, ASYNCIO_ERRMSG());
    if (f->fails) {
        snprintf(f->msg, sizeof f->msg, "job %d failed: disk full", f->n);
        ASYNCIO_RAISE(JOB_ERROR, f->msg);
    }
    printf("[%.1f] job %d: done\n", now(self), f->n);
    ASYNCIO_FINALLY; /* finally: runs on every way out */
    printf("[%.1f] job %d: cleanup\n", now(self), f->n);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int rc;
    size_t i;
    job_t jobs[NJOBS];
    asyncio_task tasks[NJOBS];
    asyncio_taskgroup tg;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    start = asyncio_loop_time(ASYNCIO_LOOP());

    /* async with asyncio.TaskGroup() as tg: */
    asyncio_taskgroup_enter(&f->tg, ASYNCIO_SELF());
    for (f->i = 0; f->i < NJOBS && f->rc == 0; f->i++)
        f->rc = asyncio_taskgroup_create_task(&f->tg, &f->tasks[f->i], job, &f->jobs[f->i], NULL);
    if (f->rc == 0)
        printf("[%.1f] main: %d jobs started\n", now(self), NJOBS);
    /* the end of the block: wait for every job.  An error of the body
       (here only a failed create_task, which has no message of its own:
       NULL stands for asyncio_strerror(rc)) cancels the jobs and joins
       the group's errors. */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, NULL));

    if (f->rc == 0) {
        printf("[%.1f] main: all jobs done\n", now(self));
    } else if (f->rc == ASYNCIO_EGROUP) { /* except ExceptionGroup as eg: */
        printf("[%.1f] main: caught: %s (%d sub-exception%s)\n", now(self), asyncio_strerror(f->rc),
               (int)asyncio_taskgroup_nerrors(&f->tg), asyncio_taskgroup_nerrors(&f->tg) > 1 ? "s" : "");
        for (f->i = 0; f->i < asyncio_taskgroup_nerrors(&f->tg); f->i++) /* for e in eg.exceptions */
            printf("  %s\n", asyncio_taskgroup_error(&f->tg, f->i)->msg);
    }
    asyncio_taskgroup_free(&f->tg); /* the error list */
    if (f->rc < 0 && f->rc != ASYNCIO_EGROUP) /* e.g. main was cancelled: propagate */
        ASYNCIO_RAISE(f->rc, ASYNCIO_ERRMSG());
    ASYNCIO_END();
}

int main(void)
{
    static main_t m;
    static const struct { int fails; double seconds; } spec[NJOBS] = { { 0, 1.0 }, { 1, 0.5 }, { 0, 2.0 } };
    asyncio_outcome out;
    int i;
    for (i = 0; i < NJOBS; i++) {
        m.jobs[i].n = i + 1;
        m.jobs[i].fails = spec[i].fails;
        m.jobs[i].seconds = spec[i].seconds;
    }
    if (asyncio_run(main_coro, &m, &out) < 0) {
        fprintf(stderr, "taskgroup: %s\n", out.msg);
        return 1;
    }
    return 0;
}
