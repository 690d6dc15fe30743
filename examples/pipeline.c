/* pipeline.c -- `producer | transform | consumer`, with this program as
   the pipes.

   Shows: three children made with asyncio_create_subprocess_shell, their
   stdin and stdout as streams (ASYNCIO_PIPE), and two pump coroutines
   that move the bytes between them a piece at a time: read from one
   child, write to the next, and await drain before reading more, so that
   a slow child holds the pump up (backpressure) and the memory in the
   middle stays bounded however much flows through.  Closing a child's
   stdin is its end of file.  A child that leaves early (head) breaks the
   pipe as a shell's would: the pump stops, and closes its side of the
   child upstream, which then dies of SIGPIPE.

   Mirrors (close_our_end: Python has no public call for it; the
   process's pipe transport's close()):

       async def pump(reader, writer):
           moved = 0
           try:
               while chunk := await reader.read(65536):
                   writer.write(chunk)
                   await writer.drain()   # wait while the child is behind
                   moved += len(chunk)
           except BrokenPipeError:        # the child downstream has gone:
               close_our_end(reader)      # the one upstream gets SIGPIPE
           writer.close()                 # the next child's end of file
           return moved

       async def main(producer, transform, consumer):
           p = await asyncio.create_subprocess_shell(producer, stdout=PIPE)
           t = await asyncio.create_subprocess_shell(transform, stdin=PIPE, stdout=PIPE)
           c = await asyncio.create_subprocess_shell(consumer, stdin=PIPE, stdout=PIPE)
           async with asyncio.TaskGroup() as tg:   # an error stops all three
               a = tg.create_task(pump(p.stdout, t.stdin))
               b = tg.create_task(pump(t.stdout, c.stdin))
               result = tg.create_task(c.stdout.read())
           print(result.result().decode(), end="")
           print(f"{a.result()} bytes {producer} -> {transform}, "
                 f"{b.result()} bytes {transform} -> {consumer}")
           print("exit statuses:", *[await x.wait() for x in (p, t, c)])

   Run:    make examples && build/examples/pipeline [PRODUCER TRANSFORM CONSUMER]
           (three shell commands; the default is
           'seq 1 1000000' 'grep 7' 'wc -l')

   Prints the consumer's output, then what went through each pipe, the
   most ever queued for a child, and the three exit statuses (Python's
   returncode: minus the signal for a child killed by one), e.g.
       468559
       6888896 bytes seq 1 1000000 -> grep 7, 3235232 bytes grep 7 -> wc -l
       at most 68 KiB queued for a child at any time
       exit statuses: 0 0 0
   and for 'seq 1 1000000000' 'grep 7' 'head -n 3', at once:
       7
       17
       27
       ... bytes seq 1 1000000000 -> grep 7, ... bytes grep 7 -> head -n 3
       ...
       exit statuses: 141 141 0
   (each child is a shell, which reports a command killed by SIGPIPE as
   128 + 13; Python's create_subprocess_shell says the same).  "Queued"
   stays under the 64 KiB high-water mark plus one piece, whatever the
   volume.  The exit status is 1 if a child could not be started, else
   0. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define PROGRAM "pipeline"
enum { CHUNK = 65536 };

/* ---- pump: src (a child's stdout) into dst (the next child's stdin) ---- */

typedef struct {
    asyncio_coro co;
    asyncio_stream *src, *dst;
    long long moved;
    size_t n;           /* the piece in hand: its size outlives the drain */
    size_t *most;       /* the most ever queued for a child, shared */
    asyncio_read_t rd;
} pump_t;

static int pump(asyncio_task *self, void *frame)
{
    pump_t *f = (pump_t *)frame;
    int rc;
    ASYNCIO_BEGIN(self, f);
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->src, CHUNK));
        if ((f->n = (size_t)ASYNCIO_RESULT().i) == 0)
            break; /* end of file: the child upstream is done */
        /* write copies what the pipe does not take at once, so the view
           into src's buffer may be read again right after */
        if ((rc = asyncio_stream_write(f->dst, asyncio_stream_data(f->src), f->n)) == 0) {
            if (asyncio_stream_write_buffer_size(f->dst) > *f->most)
                *f->most = asyncio_stream_write_buffer_size(f->dst);
            /* above the high-water mark (64 KiB) this waits for the child
               to read down to the low one: no more is read meanwhile */
            ASYNCIO_AWAIT_RC(rc, asyncio_stream_drain(f->dst));
        }
        if (rc == -EPIPE) {
            /* the child downstream has gone: drop what it will never
               read, and close our end of the one upstream, which hears
               of it (SIGPIPE) on its next write, as in a shell */
            asyncio_stream_abort(f->dst);
            asyncio_stream_close(f->src);
            f->dst = f->src = NULL;
            break;
        }
        if (rc < 0)
            ASYNCIO_RAISE(rc, NULL);
        f->moved += (long long)f->n;
    }
    if (f->dst) { /* flush, then close: the next child's end of file */
        ASYNCIO_AWAIT_RC(rc, asyncio_stream_close(f->dst));
        f->dst = NULL;
        if (rc < 0 && rc != -EPIPE)
            ASYNCIO_RAISE(rc, NULL);
    }
    ASYNCIO_END();
}

/* ---- collect: the consumer's whole output -------------------------------- */

typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    size_t n;           /* the output: n bytes at asyncio_stream_data(s) */
    asyncio_read_t rd;
} collect_t;

static int collect(asyncio_task *self, void *frame)
{
    collect_t *f = (collect_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, ASYNCIO_READ_ALL));
    f->n = (size_t)ASYNCIO_RESULT().i;
    ASYNCIO_END();
}

/* ---- main ------------------------------------------------------------- */

typedef struct {
    asyncio_coro co;
    const char *cmd[3];        /* producer, transform, consumer */
    asyncio_process *p[3];
    pump_t pumps[2];
    collect_t out;
    asyncio_taskgroup tg;      /* the three tasks live in the loop's memory */
    asyncio_process_op op;
    size_t most;
    int status[3], i, rc;
    char msg[256];
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    asyncio_process_options opts;
    int rc;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++) {
        memset(&opts, 0, sizeof opts); /* stderr stays ours, as in a shell */
        opts.stdio[0].mode = f->i == 0 ? ASYNCIO_INHERIT : ASYNCIO_PIPE;
        opts.stdio[1].mode = ASYNCIO_PIPE;
        if ((rc = asyncio_create_subprocess_shell(&f->p[f->i], ASYNCIO_LOOP(), f->cmd[f->i], &opts)) < 0) {
            snprintf(f->msg, sizeof f->msg, "%s", asyncio_errmsg()); /* per thread: keep a copy */
            ASYNCIO_RAISE(rc, f->msg);
        }
    }
    /* a TaskGroup, not a bare gather: if one of the three fails, the
       others are cancelled and waited for, so none is still using a
       pipe when FINALLY releases the processes */
    asyncio_taskgroup_enter(&f->tg, ASYNCIO_SELF());
    for (f->i = 0, rc = 0; f->i < 2 && rc == 0; f->i++) {
        f->pumps[f->i].src = asyncio_process_stdout(f->p[f->i]);
        f->pumps[f->i].dst = asyncio_process_stdin(f->p[f->i + 1]);
        f->pumps[f->i].most = &f->most;
        rc = asyncio_taskgroup_create_task(&f->tg, NULL, pump, &f->pumps[f->i], NULL);
    }
    f->out.s = asyncio_process_stdout(f->p[2]);
    if (rc == 0)
        rc = asyncio_taskgroup_create_task(&f->tg, NULL, collect, &f->out, NULL);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, rc, NULL));
    if (f->rc == ASYNCIO_EGROUP) { /* the first error tells the story */
        snprintf(f->msg, sizeof f->msg, "%s", asyncio_taskgroup_error(&f->tg, 0)->msg);
        f->rc = asyncio_taskgroup_error(&f->tg, 0)->err;
        asyncio_taskgroup_free(&f->tg);
        ASYNCIO_RAISE(f->rc, f->msg);
    }
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    fwrite(asyncio_stream_data(f->out.s), 1, f->out.n, stdout);
    printf("%lld bytes %s -> %s, %lld bytes %s -> %s\n", f->pumps[0].moved, f->cmd[0], f->cmd[1],
           f->pumps[1].moved, f->cmd[1], f->cmd[2]);
    printf("at most %zu KiB queued for a child at any time\n", (f->most + 1023) / 1024);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p[f->i]));
        f->status[f->i] = (int)ASYNCIO_RESULT().i;
    }
    printf("exit statuses: %d %d %d\n", f->status[0], f->status[1], f->status[2]);
    ASYNCIO_FINALLY; /* however it ended: pipes closed, records freed */
    for (f->i = 0; f->i < 3; f->i++)
        if (f->p[f->i])
            asyncio_process_release(f->p[f->i]);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m; /* zeroed: every frame's co is ASYNCIO_CORO_INIT */
    asyncio_config cfg;
    asyncio_outcome out;
    if (argc != 1 && argc != 4) {
        fprintf(stderr, "usage: %s [PRODUCER TRANSFORM CONSUMER]   (shell commands)\n", PROGRAM);
        return 2;
    }
    m.cmd[0] = argc == 4 ? argv[1] : "seq 1 1000000";
    m.cmd[1] = argc == 4 ? argv[2] : "grep 7";
    m.cmd[2] = argc == 4 ? argv[3] : "wc -l";
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1; /* real processes, real time */
    if (asyncio_run_config(&cfg, main_coro, &m, &out) < 0) {
        fflush(stdout);
        fprintf(stderr, "%s: %s\n", PROGRAM, out.msg);
        return 1;
    }
    return 0;
}
