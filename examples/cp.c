/* cp.c -- copy a file with several pieces in flight at once.

   Shows: asyncio_file_pread / _pwrite (the coroutine asyncio_file_io) on
   the executor's threads from four worker coroutines in a TaskGroup: each
   takes the next 1 MiB piece, reads it at its offset and writes it at the
   same offset, so one worker's read overlaps another's write and the
   disk always has work queued, while the loop stays free to print the
   progress.  Offsets (pread / pwrite) rather than the descriptors'
   positions let the pieces finish in any order.  If one piece fails, the
   group cancels the other workers and waits for them (a file call
   finishes its current piece first), so no call is still using the
   descriptors when they are closed.

   Mirrors:

       async def worker(c):
           while c.next < c.size:                # take the next piece
               off, c.next = c.next, c.next + PIECE
               data = await asyncio.to_thread(os.pread, c.src, PIECE, off)
               await asyncio.to_thread(os.pwrite, c.dst, data, off)
               c.done += len(data)
               progress(c)

       async def cp(src, dst):
           st = await asyncio.to_thread(os.stat, src)
           c = Copy(size=st.st_size)
           c.src = await asyncio.to_thread(os.open, src, os.O_RDONLY)
           c.dst = await asyncio.to_thread(os.open, dst, os.O_WRONLY | os.O_CREAT
                                           | os.O_TRUNC, st.st_mode & 0o777)
           async with asyncio.TaskGroup() as tg:
               for _ in range(4):
                   tg.create_task(worker(c))
           await asyncio.to_thread(os.close, c.src)
           await asyncio.to_thread(os.close, c.dst)

   Run:    make examples && build/examples/cp SRC DST
           build/examples/cp          (no arguments: makes a 32 MiB file of
                                       random bytes in $TMPDIR or /tmp,
                                       copies it, checks the copy, removes
                                       both)

   Prints the progress -- on a terminal one line rewritten as it goes,
   otherwise a line per 10% -- then the totals (times vary), e.g.
       made /tmp/cp.pXk2Qa: 32 MiB of random bytes
       cp /tmp/cp.pXk2Qa /tmp/cp.pXk2Qa.copy
        12%    4.0 of 32.0 MiB
        21%    7.0 of 32.0 MiB
       ...
       100%   32.0 of 32.0 MiB
       copied 32.0 MiB in 0.15 s (211 MiB/s); 1 MiB pieces in flight at once: up to 4
       the copy is identical; both files removed
   (only the lines from "cp" on when SRC and DST are given).  DST is
   created or truncated, with SRC's permission bits; it must not be SRC
   itself.  Errors go to stderr as Python's OSError says them, e.g.
   "cp: stat: [Errno 2] No such file or directory: 'nosuch'", exit status 1. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROGRAM "cp"
enum { PIECE = 1 << 20, NWORKERS = 4, SELFTEST_MIB = 32 };

/* What the workers share (one thread: no lock needed). */
typedef struct {
    int src, dst;
    long long size, next, done;
    int tty, shown;             /* shown: the last tenth printed (no tty) */
    int in_flight, most_in_flight;
} copy_t;

static double mib(long long n) { return (double)n / (1 << 20); }

/* n bytes for a person: "512 bytes" or "4.8 MiB" */
static const char *amount(char *buf, size_t size, long long n)
{
    if (n < (1 << 20))
        snprintf(buf, size, "%lld bytes", n);
    else
        snprintf(buf, size, "%.1f MiB", mib(n));
    return buf;
}

static void progress(copy_t *c)
{
    int pct = c->size ? (int)(c->done * 100 / c->size) : 100;
    if (c->tty) {
        printf("\r%3d%% %6.1f of %.1f MiB", pct, mib(c->done), mib(c->size));
        fflush(stdout);
    } else if (pct / 10 > c->shown) { /* one line per tenth (the last one crossed) */
        c->shown = pct / 10;
        printf("%3d%% %6.1f of %.1f MiB\n", pct, mib(c->done), mib(c->size));
    }
}

/* ---- one worker: pieces until there are none left ----------------------- */

typedef struct {
    asyncio_coro co;
    copy_t *c;
    char *buf;                  /* PIECE bytes of its own */
    long long off;
    asyncio_file_op op;
} worker_t;

static int worker(asyncio_task *self, void *frame)
{
    worker_t *f = (worker_t *)frame;
    copy_t *c = f->c;
    long long n;
    ASYNCIO_BEGIN(self, f);
    while (c->next < c->size) {
        f->off = c->next; /* take the next piece: nothing else runs until the await */
        c->next += PIECE;
        n = c->size - f->off < PIECE ? c->size - f->off : PIECE;
        c->in_flight++;
        if (c->in_flight > c->most_in_flight)
            c->most_in_flight = c->in_flight;
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, c->src, f->buf, (size_t)n, f->off));
        if ((n = ASYNCIO_RESULT().i) == 0) /* fewer only at end of file: SRC shrank */
            ASYNCIO_RAISE(-EIO, "the source file shrank while it was copied");
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pwrite(&f->op, c->dst, f->buf, (size_t)n, f->off));
        c->in_flight--;
        c->done += ASYNCIO_RESULT().i;
        progress(c);
    }
    ASYNCIO_END();
}

/* ---- main: stat, open both, the workers, close -------------------------- */

typedef struct {
    asyncio_coro co;
    const char *src, *dst;
    char *data;                 /* self-test: the file's bytes, to compare */
    size_t data_len;
    copy_t c;
    struct stat st, dst_st;
    asyncio_file_op op;
    asyncio_taskgroup tg;
    worker_t workers[NWORKERS];
    asyncio_task tasks[NWORKERS];
    double t0, elapsed;
    int rc, i;
    char msg[512];
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->c.src = f->c.dst = -1;
    if (f->data) { /* self-test: make the source first */
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write_file(&f->op, f->src, f->data, f->data_len));
        printf("made %s: %.0f MiB of random bytes\n", f->src, mib((long long)f->data_len));
    }
    printf("cp %s %s\n", f->src, f->dst);
    fflush(stdout);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_stat(&f->op, f->src, &f->st));
    if (S_ISDIR(f->st.st_mode)) {
        snprintf(f->msg, sizeof f->msg, "'%s' is a directory (not copied)", f->src);
        ASYNCIO_RAISE(-EISDIR, f->msg);
    }
    /* truncating DST when it is SRC would lose the data before it is read */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_stat(&f->op, f->dst, &f->dst_st));
    if (f->rc == 0 && f->dst_st.st_dev == f->st.st_dev && f->dst_st.st_ino == f->st.st_ino) {
        snprintf(f->msg, sizeof f->msg, "'%s' and '%s' are the same file", f->src, f->dst);
        ASYNCIO_RAISE(-EINVAL, f->msg);
    }
    f->c.size = (long long)f->st.st_size;
    f->c.tty = isatty(STDOUT_FILENO);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->src, O_RDONLY, 0));
    f->c.src = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->dst, O_WRONLY | O_CREAT | O_TRUNC,
                                                          (int)(f->st.st_mode & 0777)));
    f->c.dst = (int)ASYNCIO_RESULT().i;
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    /* async with TaskGroup() as tg: four workers */
    asyncio_taskgroup_enter(&f->tg, ASYNCIO_SELF());
    for (f->i = 0; f->i < NWORKERS; f->i++) {
        f->workers[f->i].c = &f->c;
        if ((f->rc = asyncio_taskgroup_create_task(&f->tg, &f->tasks[f->i], worker, &f->workers[f->i], NULL)) < 0)
            break;
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, NULL));
    if (f->rc == ASYNCIO_EGROUP) { /* the first error is the story (the others: cancelled siblings) */
        snprintf(f->msg, sizeof f->msg, "%s", asyncio_taskgroup_error(&f->tg, 0)->msg);
        f->rc = asyncio_taskgroup_error(&f->tg, 0)->err;
        asyncio_taskgroup_free(&f->tg);
        ASYNCIO_RAISE(f->rc, f->msg);
    }
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->t0;
    if (f->c.size == 0) /* no piece, no progress yet */
        progress(&f->c);
    if (f->c.tty)
        printf("\n"); /* below the line rewritten in place */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->c.src));
    f->c.src = -1;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->c.dst)); /* a write error may show here */
    f->c.dst = -1;
    printf("copied %s in %.2f s (%.0f MiB/s); 1 MiB pieces in flight at once: up to %d\n",
           amount(f->msg, sizeof f->msg, f->c.done), f->elapsed, f->elapsed > 0 ? mib(f->c.done) / f->elapsed : 0.0,
           f->c.most_in_flight);
    if (f->data) { /* self-test: read the copy back, compare, clean up */
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->dst));
        f->i = ASYNCIO_RESULT().i == (long long)f->data_len &&
               memcmp(asyncio_file_data(&f->op), f->data, f->data_len) == 0;
        asyncio_file_op_free(&f->op);
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_unlink(&f->op, f->dst));
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_unlink(&f->op, f->src));
        if (!f->i)
            ASYNCIO_RAISE(-EIO, "the copy differs from the original (both files removed)");
        printf("the copy is identical; both files removed\n");
    }
    ASYNCIO_FINALLY; /* on an error: the descriptors, synchronously (no await here) */
    asyncio_file_op_free(&f->op);
    if (f->c.src >= 0)
        close(f->c.src);
    if (f->c.dst >= 0)
        close(f->c.dst);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m; /* zeroed: every frame's co is ASYNCIO_CORO_INIT */
    static char src[4096], dst[4096 + 8];
    asyncio_config cfg;
    asyncio_outcome out;
    unsigned long long x = 88172645463325252ULL;
    const char *dir = getenv("TMPDIR");
    size_t j;
    int i, rc, fd;
    if (argc == 3) {
        m.src = argv[1];
        m.dst = argv[2];
    } else if (argc == 1) { /* self-test: a fresh name, random bytes */
        snprintf(src, sizeof src, "%s/cp.XXXXXX", dir && *dir ? dir : "/tmp");
        if ((fd = mkstemp(src)) < 0) {
            fprintf(stderr, "%s: %s: %s\n", PROGRAM, src, strerror(errno));
            return 1;
        }
        close(fd);
        snprintf(dst, sizeof dst, "%s.copy", src);
        m.src = src;
        m.dst = dst;
        m.data_len = (size_t)SELFTEST_MIB << 20;
        if (!(m.data = (char *)malloc(m.data_len))) {
            fprintf(stderr, "%s: out of memory\n", PROGRAM);
            return 1;
        }
        for (j = 0; j < m.data_len; j++) { /* xorshift64 */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.data[j] = (char)(x >> 32);
        }
    } else {
        fprintf(stderr, "usage: %s SRC DST   (no arguments: a self-test on a temporary file)\n", PROGRAM);
        return 2;
    }
    for (i = 0; i < NWORKERS; i++)
        if (!(m.workers[i].buf = (char *)malloc(PIECE))) {
            fprintf(stderr, "%s: out of memory\n", PROGRAM);
            return 1;
        }
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1; /* real files, real time */
    rc = asyncio_run_config(&cfg, main_coro, &m, &out);
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "%s%s: %s\n", m.c.tty ? "\n" : "", PROGRAM, out.msg);
        if (m.data) { /* self-test: leave nothing behind */
            unlink(src);
            unlink(dst);
        }
    }
    for (i = 0; i < NWORKERS; i++)
        free(m.workers[i].buf);
    free(m.data);
    return rc < 0;
}
