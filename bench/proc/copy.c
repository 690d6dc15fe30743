/* bench/proc/copy.c -- file copy through asyncio.h's file calls, with a
   1 ms ticker on the loop meanwhile.

     copy SRC DST INFLIGHT CHUNK [POOL]    e.g. copy /tmp/src /tmp/dst 4 128k
     copy SRC DST 0 CHUNK                  the whole file as one
                                           asyncio_file_copy (CHUNK unused)

   POOL: the default executor's maximum threads (asyncio_executor_configure;
   default: its own, min(32, CPUs + 4), started on demand).

   First (untimed) DST is made SRC's size and zeroed (prepare_dst in
   common.h).  Then, on the loop: asyncio_file_stat(SRC) for the size,
   asyncio_file_open of both (DST O_WRONLY, no O_TRUNC), and INFLIGHT
   coroutines that each take the next CHUNK-sized block of the file and
   copy it -- await asyncio_file_pread into its own buffer, then await
   asyncio_file_pwrite of what was read at the same offset -- until none
   is left; so up to INFLIGHT reads and writes run at once on the default
   executor, overlapped.  Then asyncio_file_close of both.  The time runs
   from the stat to the last close.  Meanwhile a ticker coroutine wants to
   wake every millisecond (ASYNCIO_SLEEP to absolute due times t0 + k ms,
   as bench/threads/lag.c): its lateness says whether the loop stayed
   free.  Afterwards DST is checked against the pattern (untimed) and left
   in place (run.sh deletes it).  One JSON line:
     {"bench":"file_copy","impl":"asyncio.h","bytes":..,"chunk":..,"inflight":K,
      "wall_s":..,"mib_per_s":..,"cpu_s":..,"ticks":..,"missed":..,
      "tick_p50_us":..,"tick_p99_us":..,"tick_max_us":..,"pool_threads":..}
   cpu_s: this process's CPU time, every thread; missed: due times skipped
   because a tick woke after later ones had passed; pool_threads: the
   default executor's threads alive at the end.  Checks: DST holds SRC's
   size of the pattern (SRC made by `copy_floor make`); the ticker ticked
   while the copy ran (at least one tick per 10 ms of it); exit status 1
   otherwise. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "common.h"

#include <sys/stat.h>

enum { MAXINFLIGHT = 64 };
#define PERIOD_NS 1000000LL

typedef struct {
    asyncio_coro co;
    int *stop;
    long long t0, due, now, *late;
    long k, ticks, missed, cap;
} ticker_t;

static int ticker(asyncio_task *self, void *frame)
{
    ticker_t *f = (ticker_t *)frame;
    long kk;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time_ns(ASYNCIO_LOOP());
    while (!*f->stop) {
        f->k++;
        f->due = f->t0 + f->k * PERIOD_NS;
        ASYNCIO_SLEEP((double)(f->due - asyncio_loop_time_ns(ASYNCIO_LOOP())) / 1e9);
        f->now = asyncio_loop_time_ns(ASYNCIO_LOOP());
        if (f->ticks < f->cap)
            f->late[f->ticks++] = f->now - f->due;
        kk = (long)((f->now - f->t0) / PERIOD_NS); /* due times already past */
        if (kk > f->k) {
            f->missed += kk - f->k;
            f->k = kk;
        }
    }
    ASYNCIO_END();
}

typedef struct shared_t {
    int in, out;
    long long size, next, copied;
} shared_t;

typedef struct {
    asyncio_coro co;
    shared_t *sh;
    char *buf;
    size_t chunk, n;
    long long off;
    asyncio_file_op op;
} worker_t;

static int worker(asyncio_task *self, void *frame)
{
    worker_t *w = (worker_t *)frame;
    ASYNCIO_BEGIN(self, w);
    while (w->sh->next < w->sh->size) {
        w->off = w->sh->next;
        w->sh->next += (long long)w->chunk;
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&w->op, w->sh->in, w->buf, w->chunk, w->off));
        w->n = (size_t)ASYNCIO_RESULT().i;
        if (w->n == 0)
            ASYNCIO_RAISE(-EIO, "copy: the source is shorter than its size");
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pwrite(&w->op, w->sh->out, w->buf, w->n, w->off));
        w->sh->copied += (long long)w->n;
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    const char *src, *dst;
    long k, i;
    size_t chunk;
    int stop;
    long long t0, t1, c0, c1, tick_from, tick_to;
    struct stat st;
    shared_t sh;
    asyncio_file_op op;
    worker_t w[MAXINFLIGHT];
    asyncio_task tasks[MAXINFLIGHT];
    asyncio_gather_t g;
    ticker_t tick;
    asyncio_task tick_task;
} main_t;

static int run(asyncio_task *self, void *frame)
{
    main_t *m = (main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->tick.stop = &m->stop;
    asyncio_create_task(ASYNCIO_LOOP(), &m->tick_task, ticker, &m->tick);
    ASYNCIO_YIELD(); /* the ticker takes its t0 */
    m->t0 = mono_ns();
    m->c0 = cpu_ns();
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_stat(&m->op, m->src, &m->st));
    m->sh.size = (long long)m->st.st_size;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&m->op, m->src, O_RDONLY, 0));
    m->sh.in = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&m->op, m->dst, O_WRONLY, 0));
    m->sh.out = (int)ASYNCIO_RESULT().i;
    m->tick_from = m->tick.ticks;
    if (m->k == 0) { /* one job: in the kernel (copy_file_range) where it can */
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_copy(&m->op, m->sh.in, m->sh.out, (size_t)m->sh.size));
        m->sh.copied = ASYNCIO_RESULT().i;
    } else {
        for (m->i = 0; m->i < m->k; m->i++)
            m->w[m->i].sh = &m->sh;
        asyncio_gather_map(&m->g, ASYNCIO_LOOP(), m->tasks, worker, m->w, sizeof m->w[0], (size_t)m->k, 0);
        ASYNCIO_AWAIT(&m->g.fut);
    }
    m->tick_to = m->tick.ticks;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&m->op, m->sh.in));
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&m->op, m->sh.out));
    m->t1 = mono_ns();
    m->c1 = cpu_ns();
    m->stop = 1;
    ASYNCIO_AWAIT(&m->tick_task.fut);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_config cfg;
    asyncio_outcome out;
    asyncio_executor_stats_t st;
    const unsigned char *pat;
    lat_summary s;
    long long size;
    double wall;
    long i;
    int pool;
    if (argc < 5 || (m.k = atol(argv[3])) < 0 || m.k > MAXINFLIGHT || parse_size(argv[4]) <= 0 ||
        parse_size(argv[4]) > (1LL << 30)) {
        fprintf(stderr, "usage: copy SRC DST INFLIGHT(0..%d; 0: one asyncio_file_copy) CHUNK [POOL]\n", MAXINFLIGHT);
        return 2;
    }
    pool = argc > 5 ? atoi(argv[5]) : 0;
    if (pool > 0 && asyncio_executor_configure(NULL, pool, 10.0) != 0)
        return 1;
    m.src = argv[1];
    m.dst = argv[2];
    m.chunk = (size_t)parse_size(argv[4]);
    if (!(pat = pattern_new()) || (size = file_size(m.src)) <= 0 || !prepare_dst(m.dst, size))
        return 1;
    for (i = 0; i < m.k; i++) {
        m.w[i].chunk = m.chunk;
        if (!(m.w[i].buf = (char *)malloc(m.chunk)))
            return 1;
    }
    m.tick.cap = 1000000;
    if (!(m.tick.late = (long long *)malloc((size_t)m.tick.cap * sizeof *m.tick.late)))
        return 1;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    if (asyncio_run_config(&cfg, run, &m, &out) != 0 || out.err) {
        fprintf(stderr, "copy: %s\n", out.msg ? out.msg : "failed");
        return 1;
    }
    wall = (double)(m.t1 - m.t0) / 1e9;
    if (m.sh.copied != size || !pattern_check_file(pat, m.dst, size)) {
        fprintf(stderr, "copy: %lld of %lld bytes copied, or wrong\n", m.sh.copied, size);
        return 1;
    }
    if ((double)(m.tick_to - m.tick_from) < wall * 100.0 - 1) {
        fprintf(stderr, "copy: the ticker ticked %lld times in %.3f s of copying\n", m.tick_to - m.tick_from, wall);
        return 1;
    }
    asyncio_executor_stats(NULL, &st);
    s = summarize_ns(m.tick.late, m.tick.ticks);
    printf("{\"bench\":\"file_copy\",\"impl\":\"asyncio.h\",\"bytes\":%lld,\"chunk\":%zu,\"inflight\":%ld,"
           "\"wall_s\":%.3f,\"mib_per_s\":%.1f,\"cpu_s\":%.3f,\"ticks\":%ld,\"missed\":%ld,\"tick_p50_us\":%.1f,"
           "\"tick_p99_us\":%.1f,\"tick_max_us\":%.1f,\"pool_threads\":%d}\n",
           size, m.chunk, m.k, wall, (double)size / 1048576.0 / wall, (double)(m.c1 - m.c0) / 1e9, m.tick.ticks,
           m.tick.missed, s.p50_us, s.p99_us, s.max_us, st.threads);
    for (i = 0; i < m.k; i++)
        free(m.w[i].buf);
    free(m.tick.late);
    free((void *)pat);
    return 0;
}
