/* bench/uring/fdswitch_uv.c [N] -- libuv's `switch N 1` (bench/switch.c
   with one fd registered).

   Two uv_idle_t handles stand for the two tasks: each callback is one
   "switch", and each runs once per loop iteration.  An active idle handle
   makes the loop poll with a zero timeout; a uv_poll_t on one end of a
   silent socketpair (UV_READABLE) puts an fd in libuv's epoll set, so
   every iteration makes one epoll_wait(..., 0): two switches per backend
   poll, as in asyncio.h's loop with a task waiting on an fd.  Each idle
   handle stops itself after N callbacks; then one byte is written to the
   peer and the poll handle must see it, which ends the loop.

   Prints switch's JSON line with "backend":"libuv".  Needs libuv1-dev. */
#define _GNU_SOURCE
#include "fdswitch.h"

#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

static long long n, t1, c1;
static long counts[2];
static int finished, sv[2], got_byte;

static void on_idle(uv_idle_t *h)
{
    long *k = (long *)h->data;
    if (++*k < n)
        return;
    uv_idle_stop(h);
    if (++finished == 2) {
        t1 = mono_ns();
        c1 = cpu_ns();
        if (write(sv[1], "x", 1) != 1)
            perror("fdswitch_uv: write");
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    char c = 0;
    if (status == 0 && (events & UV_READABLE) && finished == 2 && read(sv[0], &c, 1) == 1 && c == 'x')
        got_byte = 1;
    else
        fprintf(stderr, "fdswitch_uv: unexpected poll callback (status %d, events %d, after %ld/%ld callbacks)\n",
                status, events, counts[0], counts[1]);
    uv_poll_stop(h);
}

int main(int argc, char **argv)
{
    uv_loop_t loop;
    uv_idle_t idle[2];
    uv_poll_t poller;
    long long t0, c0;
    int i;
    if ((n = fdswitch_n(argc, argv)) < 0)
        return 2;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("fdswitch_uv: socketpair");
        return 2;
    }
    if (uv_loop_init(&loop) != 0 || uv_poll_init(&loop, &poller, sv[0]) != 0 ||
        uv_poll_start(&poller, UV_READABLE, on_poll) != 0)
        return 2;
    for (i = 0; i < 2; i++) {
        uv_idle_init(&loop, &idle[i]);
        idle[i].data = &counts[i];
        uv_idle_start(&idle[i], on_idle);
    }
    c0 = cpu_ns();
    t0 = mono_ns();
    uv_run(&loop, UV_RUN_DEFAULT);
    if (counts[0] != n || counts[1] != n || !got_byte) {
        fprintf(stderr, "fdswitch_uv: counts %ld %ld, expected %lld; byte %s\n", counts[0], counts[1], n,
                got_byte ? "seen" : "not seen");
        return 1;
    }
    fdswitch_print("libuv", n, t0, t1, c0, c1, n);
    uv_close((uv_handle_t *)&poller, NULL);
    for (i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&idle[i], NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}
