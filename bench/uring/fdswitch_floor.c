/* bench/uring/fdswitch_floor.c [N] -- the hand-written epoll floor of
   `switch N 1` (bench/switch.c with one fd registered).

   No library: a pass calls two "task steps" -- plain functions behind a
   volatile function pointer each, so the compiler cannot merge or drop
   them -- and then asks epoll for events once with a zero timeout, the
   fd (one end of a silent socketpair, EPOLLIN, level-triggered) in the
   set.  N passes: 2N "switches" and N epoll_wait calls, the ratio of
   asyncio.h's loop with a task waiting on an fd (one backend poll per
   pass, two task steps per pass).  After the clocks stop, one byte is
   written to the peer and epoll must report the fd readable.

   Prints switch's JSON line with "backend":"floor". */
#define _GNU_SOURCE
#include "fdswitch.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static long counts[2];

static void step(long *k)
{
    ++*k;
}

static void (*volatile steps[2])(long *) = {step, step};

int main(int argc, char **argv)
{
    long long n = fdswitch_n(argc, argv), pass, t0, t1, c0, c1;
    struct epoll_event ev, evs[64];
    int sv[2], ep, got;
    char c = 0;
    if (n < 0)
        return 2;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0 ||
        (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        perror("fdswitch_floor");
        return 2;
    }
    ev.events = EPOLLIN;
    ev.data.fd = sv[0];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) < 0) {
        perror("fdswitch_floor: epoll_ctl");
        return 2;
    }
    c0 = cpu_ns();
    t0 = mono_ns();
    for (pass = 0; pass < n; pass++) {
        steps[0](&counts[0]);
        steps[1](&counts[1]);
        if ((got = epoll_wait(ep, evs, 64, 0)) != 0) {
            fprintf(stderr, "fdswitch_floor: epoll_wait returned %d on pass %lld: the fd is silent\n", got, pass);
            return 1;
        }
    }
    t1 = mono_ns();
    c1 = cpu_ns();
    if (counts[0] != n || counts[1] != n) {
        fprintf(stderr, "fdswitch_floor: counts %ld %ld, expected %lld\n", counts[0], counts[1], n);
        return 1;
    }
    if (write(sv[1], "x", 1) != 1 || epoll_wait(ep, evs, 64, 1000) != 1 || evs[0].data.fd != sv[0] ||
        !(evs[0].events & EPOLLIN) || read(sv[0], &c, 1) != 1 || c != 'x') {
        fprintf(stderr, "fdswitch_floor: the fd did not report the byte written to its peer\n");
        return 1;
    }
    fdswitch_print("floor", n, t0, t1, c0, c1, n);
    return 0;
}
