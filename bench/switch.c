/* bench/switch.c [N [FDS]] -- two tasks each yield to the loop N times.

   Two tasks run `for k in range(N): await asyncio.sleep(0)`
   (ASYNCIO_YIELD) side by side; the main coroutine gathers them.  Every
   yield is one task switch through the ready queue, 2N in all.  Real
   clock.  N defaults to 1000000.  Prints one line of JSON:

     {"bench":"switch","n":N,"switches":2N,"wall_ms":W,
      "ns_per_switch":W/(2N),"cpu_ns_per_switch":C/(2N),"loop_iterations":I,"loop_steps":S,
      "fds":FDS,"backend":"epoll"}

   I and S: the loop's passes and task steps (asyncio_loop_metrics).

   FDS (default 0) more tasks each wait on one end of a socketpair that
   stays silent (asyncio_fd_add, ASYNCIO_WAIT_FD(fd, ASYNCIO_READABLE)),
   suspended before the clocks start.  A task waiting on an fd makes the
   loop ask its backend for events on every pass, so with FDS >= 1 each
   pass -- two switches -- also pays one backend poll: epoll_wait with a
   zero timeout on epoll, a look at the completion ring on io_uring.  After
   the clocks stop, one byte is written to each peer end and every waiter
   must wake up and read it.  (bench/uring/README.md compares this with
   libuv and a hand-written epoll loop.)

   wall: CLOCK_MONOTONIC from just before the two tasks are created to just
   after the gather completes; cpu: getrusage user+sys over that span.
   Both tasks must finish with the expected count; exit status 1 if not. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Waits for its fd to become readable, then returns the byte it reads. */
typedef struct {
    asyncio_coro co;
    int fd;
} waiter_t;

static int waiter(asyncio_task *self, void *frame)
{
    waiter_t *f = (waiter_t *)frame;
    unsigned char c = 0;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_WAIT_FD(f->fd, ASYNCIO_READABLE);
    if (read(f->fd, &c, 1) != 1)
        ASYNCIO_RAISE(-EIO, "waiter: woken, but nothing to read");
    ASYNCIO_RETURN(asyncio_int(c));
    ASYNCIO_END();
}

#define MAX_FDS 64

typedef struct {
    asyncio_coro co;
    long n;
    int nfds, i;
    int pair[MAX_FDS][2]; /* [0] added to the loop and waited on, [1] the silent peer */
    asyncio_task waiters[MAX_FDS];
    waiter_t wframes[MAX_FDS];
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
    for (f->i = 0; f->i < f->nfds; f->i++) {
        if (asyncio_fd_add(ASYNCIO_LOOP(), f->pair[f->i][0]) < 0)
            ASYNCIO_RAISE(-EBADF, "fd_add failed");
        f->wframes[f->i].fd = f->pair[f->i][0];
        if (!asyncio_create_task(ASYNCIO_LOOP(), &f->waiters[f->i], waiter, &f->wframes[f->i]))
            ASYNCIO_RAISE(-ENOMEM, "create_task failed");
    }
    if (f->nfds > 0) { /* the waiters run first: they are suspended on their fds before the clocks start */
        ASYNCIO_YIELD();
    }
    f->frames[0].n = f->frames[1].n = f->n;
    f->c0 = cpu_ns();
    f->t0 = mono_ns();
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, yielder, f->frames, sizeof f->frames[0], 2, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->t1 = mono_ns();
    f->c1 = cpu_ns();
    asyncio_loop_metrics(ASYNCIO_LOOP(), &f->metrics);
    for (f->i = 0; f->i < f->nfds; f->i++) { /* now wake each waiter: its fd must still work */
        if (write(f->pair[f->i][1], "x", 1) != 1)
            ASYNCIO_RAISE(-EIO, "write to the peer failed");
        ASYNCIO_AWAIT(&f->waiters[f->i].fut);
    }
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

    int nfds = argc > 2 ? atoi(argv[2]) : 0;

    if (n_arg < 1 || n_arg > 1000000000 || nfds < 0 || nfds > MAX_FDS) {
        fprintf(stderr, "usage: %s [N [FDS]]   (1 <= N <= 1e9, default 1000000; 0 <= FDS <= %d, default 0)\n",
                argv[0], MAX_FDS);
        return 2;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    memset(&m, 0, sizeof m);
    m.n = (long)n_arg;
    m.nfds = nfds;
    for (i = 0; i < nfds; i++)
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, m.pair[i]) < 0) {
            perror("switch: socketpair");
            return 2;
        }

    asyncio_run_config(&cfg, main_coro, &m, &out);
    if (bench_check("switch", &out, &m.g, 2, n_arg))
        return 1;
    for (i = 0; i < nfds; i++) {
        asyncio_value v;
        int err;
        v.i = -1;
        err = asyncio_future_result(&m.waiters[i].fut, &v);
        if (err != 0 || v.i != 'x') {
            fprintf(stderr, "switch: fd waiter %d: err %d byte %lld, expected 'x'\n", i, err, v.i);
            bad++;
        }
        close(m.pair[i][1]);
    }
    if (bad)
        return 1;

    sw = 2.0 * (double)n_arg;
    printf("{\"bench\":\"switch\",\"n\":%lld,\"switches\":%.0f,\"wall_ms\":%.3f,"
           "\"ns_per_switch\":%.2f,\"cpu_ns_per_switch\":%.2f,\"loop_iterations\":%llu,\"loop_steps\":%llu,"
           "\"fds\":%d,\"backend\":\"%s\"}\n",
           n_arg, sw, (double)(m.t1 - m.t0) / 1e6, (double)(m.t1 - m.t0) / sw, (double)(m.c1 - m.c0) / sw,
           m.metrics.iterations, m.metrics.steps, nfds, asyncio_backend_name());
    return 0;
}
