/* writefile.c -- write a large file while the event loop goes on.

   Shows: study notes 002's walkthrough -- open a file, write data to it
   and wait until that is done, close it -- with asyncio_file_open /
   _write / _fsync / _close (the coroutine asyncio_file_io), which run
   each blocking call on the executor's threads, so the loop is free
   while the kernel copies and the disk syncs.  A ticker coroutine due
   every 10 ms measures how free: how many ticks ran while the file was
   being written, and the most any of them came late.

   Mirrors (aiofiles does the same, a thread per call):

       async def ticker(stop, period=0.01):
           t0, k, worst = loop.time(), 0, 0.0
           while not stop.is_set():
               k += 1
               await asyncio.sleep(max(0, t0 + k * period - loop.time()))
               worst = max(worst, loop.time() - (t0 + k * period))
           return k, worst

       async def main(path, mib):
           stop = asyncio.Event()
           tick = asyncio.create_task(ticker(stop))
           await asyncio.sleep(0)                   # the ticker starts its clock
           piece, start = make_piece(1 << 20), loop.time()
           fd = await asyncio.to_thread(os.open, path,                 # 1. open
                                        os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
           for i in range(1, mib + 1):                                 # 2. write,
               await asyncio.to_thread(os.write, fd, piece)            #    and wait
               if i % (mib // 4) == 0:
                   print(f"  {i} MiB written at {loop.time() - start:.2f} s")
           await asyncio.to_thread(os.fsync, fd)    # ... until it is on the disk
           await asyncio.to_thread(os.close, fd)                       # 3. close
           stop.set()
           ticks, worst = await tick
           print(f"wrote {mib} MiB in {loop.time() - start:.2f} s; ticks meanwhile: "
                 f"{ticks}, at worst {worst * 1e3:.1f} ms late")

   Run:    make examples && build/examples/writefile [PATH [MIB]]
           (MIB 1..4096, default 64; without PATH a temporary file in
           $TMPDIR or /tmp, removed afterwards)

   Prints a line per quarter, and what the ticker saw (times vary with
   the disk and the page cache), e.g.
       writing 64 MiB to /tmp/writefile.QdV29J in 1 MiB pieces; a ticker is due every 10 ms
         16 MiB written at 0.00 s; ticks so far: 0
         32 MiB written at 0.05 s; ticks so far: 5
         48 MiB written at 0.10 s; ticks so far: 10
         64 MiB written at 0.15 s; ticks so far: 15
         fsync done at 0.18 s, closed at 0.18 s
       wrote 64 MiB in 0.18 s; ticks meanwhile: 18, at worst 1.7 ms late: the loop never stalled
   ("stalled" would mean a tick a whole period late or more.)  Written
   inline -- write(2) and fsync(2) in the coroutine -- the ticker could
   not tick at all until the file was closed. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRAM "writefile"
#define PERIOD 0.010 /* the ticker's, in seconds */
enum { PIECE = 1 << 20 };

/* ---- the ticker -------------------------------------------------------- */

typedef struct {
    asyncio_coro co;
    asyncio_event *stop;
    double t0, worst;
    long ticks;
} ticker_t;

static int ticker(asyncio_task *self, void *frame)
{
    ticker_t *f = (ticker_t *)frame;
    double due, late;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    while (!asyncio_event_is_set(f->stop)) {
        /* due at t0 + k * PERIOD: a tick held up shows as lateness, and
           the next ones are not pushed back by it */
        due = f->t0 + (f->ticks + 1) * PERIOD;
        ASYNCIO_SLEEP(due - asyncio_loop_time(ASYNCIO_LOOP()));
        f->ticks++;
        late = asyncio_loop_time(ASYNCIO_LOOP()) - (f->t0 + f->ticks * PERIOD);
        if (late > f->worst)
            f->worst = late;
    }
    ASYNCIO_END();
}

/* ---- main: open, write, fsync, close ------------------------------------ */

typedef struct {
    asyncio_coro co;
    const char *path;
    int mib, temporary;
    char *piece;
    asyncio_event stop;
    ticker_t tick;
    asyncio_task tick_task;
    asyncio_file_op op;        /* one at a time: reused by every call */
    int fd, i;
    long ticks0, ticks;        /* the ticker's count when writing began; ticks since */
    double t0, elapsed;
} main_t;

static double since(asyncio_loop *loop, double t0) { return asyncio_loop_time(loop) - t0; }

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->fd = -1;
    asyncio_event_init(&f->stop, ASYNCIO_LOOP());
    f->tick.stop = &f->stop;
    asyncio_create_task(ASYNCIO_LOOP(), &f->tick_task, ticker, &f->tick);
    ASYNCIO_YIELD(); /* the ticker starts its clock */
    printf("writing %d MiB to %s in 1 MiB pieces; a ticker is due every %.0f ms\n", f->mib, f->path, PERIOD * 1e3);
    fflush(stdout); /* say it before the wait, when stdout is a pipe too */
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    f->ticks0 = f->tick.ticks;
    /* 1. open */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    f->fd = (int)ASYNCIO_RESULT().i;
    /* 2. write, and wait until it is done: the loop runs the ticker meanwhile */
    for (f->i = 1; f->i <= f->mib; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write(&f->op, f->fd, f->piece, PIECE));
        if (f->i % (f->mib / 4 ? f->mib / 4 : 1) == 0 || f->i == f->mib) {
            printf("  %d MiB written at %.2f s; ticks so far: %ld\n", f->i, since(ASYNCIO_LOOP(), f->t0),
                   f->tick.ticks - f->ticks0);
            fflush(stdout);
        }
    }
    /* ... all the way to the disk: the longest wait, on a worker too */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_fsync(&f->op, f->fd));
    printf("  fsync done at %.2f s, ", since(ASYNCIO_LOOP(), f->t0));
    /* 3. close */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    f->fd = -1;
    f->elapsed = since(ASYNCIO_LOOP(), f->t0);
    f->ticks = f->tick.ticks - f->ticks0;
    printf("closed at %.2f s\n", f->elapsed);
    asyncio_event_set(&f->stop);
    ASYNCIO_AWAIT(&f->tick_task.fut);
    printf("wrote %d MiB in %.2f s; ticks meanwhile: %ld, at worst %.1f ms late: ", f->mib, f->elapsed, f->ticks,
           f->tick.worst * 1e3);
    if (f->tick.worst < PERIOD)
        printf("the loop never stalled\n");
    else
        printf("the loop stalled for up to %.0f ms\n", f->tick.worst * 1e3);
    if (f->temporary) { /* braces: a suspending macro is several statements */
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_unlink(&f->op, f->path));
    }
    ASYNCIO_FINALLY; /* on an error: stop the ticker, do not leak the descriptor */
    asyncio_event_set(&f->stop);
    if (f->fd >= 0)
        close(f->fd); /* closing a regular file does not block; no await here */
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    char tmpl[4096];
    const char *dir = getenv("TMPDIR");
    asyncio_config cfg;
    asyncio_outcome out;
    int rc, i;
    m.mib = argc > 2 ? atoi(argv[2]) : 64;
    if (argc > 3 || m.mib < 1 || m.mib > 4096) {
        fprintf(stderr, "usage: %s [PATH [MIB]]   (MIB 1..4096, default 64)\n", PROGRAM);
        return 2;
    }
    if (argc > 1)
        m.path = argv[1];
    else { /* a fresh name (mkstemp makes the file); it is rewritten by file_open */
        snprintf(tmpl, sizeof tmpl, "%s/writefile.XXXXXX", dir && *dir ? dir : "/tmp");
        if ((rc = mkstemp(tmpl)) < 0) {
            fprintf(stderr, "%s: %s: %s\n", PROGRAM, tmpl, strerror(errno));
            return 1;
        }
        close(rc);
        m.path = tmpl;
        m.temporary = 1;
    }
    if (!(m.piece = (char *)malloc(PIECE))) {
        fprintf(stderr, "%s: out of memory\n", PROGRAM);
        return 1;
    }
    for (i = 0; i < PIECE; i++) /* text, 64-byte lines: "abc...\n" */
        m.piece[i] = (char)(i % 64 == 63 ? '\n' : 'a' + i % 64 % 26);
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1; /* the ticker's lateness is real time */
    rc = asyncio_run_config(&cfg, main_coro, &m, &out);
    free(m.piece);
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "%s: %s\n", PROGRAM, out.msg);
        if (m.temporary)
            unlink(tmpl);
        return 1;
    }
    return 0;
}
