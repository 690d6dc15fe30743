/* subprocess.c -- run three programs at the same time and collect what
   each printed.

   Shows: asyncio_create_subprocess_exec with stdout on a pipe, and
   communicate (asyncio_process_io), which reads the output to its end
   and waits for the exit, in three coroutines gathered: the event loop
   "runs subprocesses" (study notes 002) beside everything else, so the
   whole takes as long as the slowest program, not the sum.

   Mirrors:

       async def run(*argv):
           start = time.perf_counter()
           proc = await asyncio.create_subprocess_exec(*argv, stdout=PIPE)
           out, _ = await proc.communicate()
           print(f"$ {shlex.join(argv)}")
           print(out.decode(), end="")
           print(f"[exit status {proc.returncode} after "
                 f"{time.perf_counter() - start:.2f} s]")
           return proc.returncode

       async def main():
           start = time.perf_counter()
           await asyncio.gather(run("ls"), run("date"),
                                run("sh", "-c", "sleep 1; echo done"))
           print(f"total: {time.perf_counter() - start:.2f} s "
                 "(the slowest, not the sum)")

   Run:    make examples && build/examples/subprocess

   Prints each program's output as it finishes -- ls and date at once
   (in either order), sh a second later -- then the total, e.g.
       $ date
       Tue Jun  4 12:00:00 UTC 2024
       [exit status 0 after 0.00 s]
       $ ls
       Makefile
       README.md
       ...
       [exit status 0 after 0.00 s]
       $ sh -c 'sleep 1; echo done'
       done
       [exit status 0 after 1.00 s]
       total: 1.00 s (the slowest, not the sum)
   A program that cannot be started (not installed, say) is reported on
   stderr and the exit status is 1. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PROGRAM "subprocess"
enum { NPROGS = 3 };

typedef struct {
    asyncio_coro co;
    /* arguments */
    const char *const *argv;
    const char *shown;          /* argv as a shell would take it */
    /* results */
    int status;
    char msg[256];              /* why it could not start */
    /* state */
    asyncio_process *p;
    asyncio_process_op op;      /* communicate's frame, and its outputs */
    double start;
} run_t;

static int run(asyncio_task *self, void *frame)
{
    run_t *f = (run_t *)frame;
    asyncio_process_options opts;
    int rc;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    memset(&opts, 0, sizeof opts); /* stdin and stderr: ours (Python's None) */
    opts.stdio[1].mode = ASYNCIO_PIPE;
    /* no await: the child is started by the call (Python awaits it) */
    if ((rc = asyncio_create_subprocess_exec(&f->p, ASYNCIO_LOOP(), f->argv, &opts)) < 0) {
        /* asyncio_errmsg() is per thread, overwritten by the next failure:
           keep a copy for main, which reads it after the gather */
        snprintf(f->msg, sizeof f->msg, "%s", asyncio_errmsg());
        ASYNCIO_RAISE(rc, f->msg);
    }
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    f->status = (int)ASYNCIO_RESULT().i;
    /* one printf series with no await between: the blocks never mix */
    printf("$ %s\n", f->shown);
    fwrite(f->op.out, 1, f->op.out_len, stdout); /* a view into the pipe's buffer */
    printf("[exit status %d after %.2f s]\n", f->status, asyncio_loop_time(ASYNCIO_LOOP()) - f->start);
    ASYNCIO_FINALLY; /* however it ended: the pipes closed, the record freed */
    if (f->p)
        asyncio_process_release(f->p);
    f->p = NULL;
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    run_t runs[NPROGS];
    asyncio_task tasks[NPROGS];
    asyncio_gather_t g;
    double start;
    int failed;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    int i;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    /* return_exceptions: one program that cannot start leaves the others
       to finish and print */
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, run, f->runs, sizeof f->runs[0], NPROGS,
                           ASYNCIO_RETURN_EXCEPTIONS) < 0)
        ASYNCIO_RAISE(-ENOMEM, NULL);
    ASYNCIO_AWAIT(&f->g.fut);
    for (i = 0; i < NPROGS; i++)
        if (asyncio_gather_result(&f->g, (size_t)i, NULL) != 0) {
            fflush(stdout);
            fprintf(stderr, "%s: %s\n", PROGRAM, asyncio_future_errmsg(asyncio_gather_child(&f->g, (size_t)i)));
            f->failed = 1;
        } else if (f->runs[i].status != 0)
            f->failed = 1;
    printf("total: %.2f s (the slowest, not the sum)\n", asyncio_loop_time(ASYNCIO_LOOP()) - f->start);
    ASYNCIO_END();
}

int main(void)
{
    static const char *const ls[] = {"ls", NULL};
    static const char *const date[] = {"date", NULL};
    static const char *const sh[] = {"sh", "-c", "sleep 1; echo done", NULL};
    static main_t m; /* zeroed: every frame's co is ASYNCIO_CORO_INIT */
    asyncio_config cfg;
    asyncio_outcome out;
    m.runs[0].argv = ls;
    m.runs[0].shown = "ls";
    m.runs[1].argv = date;
    m.runs[1].shown = "date";
    m.runs[2].argv = sh;
    m.runs[2].shown = "sh -c 'sleep 1; echo done'";
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1; /* real processes take real time */
    if (asyncio_run_config(&cfg, main_coro, &m, &out) < 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, out.msg);
        return 1;
    }
    return m.failed;
}
