/* bench/switch_fd.c [N] [--ping US | --selfping US] [--spin NS] [--busy-poll NS] --
   bench/switch.c with an fd registered: what the loop's polling costs a
   task switch, and how late it sees I/O while it is busy.

   Two tasks run `for k in range(N): await asyncio.sleep(0)` (ASYNCIO_YIELD)
   side by side while a third waits for one end of a socketpair to become
   readable (ASYNCIO_WAIT_FD): with an fd waited on, the loop must look at
   the backend even while the ready queue is never empty.  Real clock.  N
   defaults to 1000000.

   --ping US: a thread writes an 8-byte CLOCK_MONOTONIC timestamp into the
   other end every US microseconds (nanosleep; each interval drawn from
   0.5 US to 1.5 US, so that the pings keep no phase with the loop's
   polls) while the two tasks yield;
   the third reads them and records, for each, the time from the write to
   the read: the I/O latency of a loop that is never idle (the thread's
   wake-ups and the scheduler are part of it).
   --selfping US: the same pings, written by the first yielding task itself
   at its first step an interval (as above) after its last ping (a clock
   read per step): no thread, no scheduler, only the time the loop takes to
   poll again -- what a rule that polls less adds to I/O latency.
   --busy-poll NS: the loop's cfg.busy_poll_ns (default 0: a poll every
   pass, as CPython's loop).
   --spin NS: every step of the two yielding tasks busy-waits NS ns before
   it yields (long steps: what bounds the latency in time, not in steps).
   Without --ping or --selfping the socketpair stays silent.

   Prints one line of JSON:

     {"bench":"switch_fd","n":N,"switches":2N,"spin_ns":S,"wall_ms":W,
      "ns_per_switch":W/(2N),"cpu_ns_per_switch":C/(2N),"loop_iterations":I,
      "loop_steps":S,"pings":P,"lat_p50_us":..,"lat_p99_us":..,"lat_max_us":..}

   wall and cpu as in switch.c; the latencies are percentiles over every
   ping of the run.  Exits 1 if a yielding task did not count to N or a
   ping was lost or garbled. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef struct {
    asyncio_coro co;
    long n, k;
    long long spin_ns;
    int ping_fd;            /* --selfping: this task writes the pings */
    long long ping_ns, next_ping;
} yielder_t;

static long long self_pings;

/* US +- 50%, uniformly: pings that keep no phase with the loop's own polls */
static long long jitter(long long ns)
{
    static unsigned long long x = 88172645463325252ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return ns / 2 + (long long)(x % (unsigned long long)(ns + 1));
}

static int yielder(asyncio_task *self, void *frame)
{
    yielder_t *f = (yielder_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->k = 0; f->k < f->n; f->k++) {
        if (f->spin_ns > 0) {
            long long until = mono_ns() + f->spin_ns;
            while (mono_ns() < until) {
            }
        }
        if (f->ping_ns > 0) {
            long long now = mono_ns();
            if (now >= f->next_ping) {
                if (write(f->ping_fd, &now, sizeof now) == (ssize_t)sizeof now)
                    self_pings++;
                f->next_ping = now + jitter(f->ping_ns);
            }
        }
        ASYNCIO_YIELD();
    }
    ASYNCIO_RETURN(asyncio_int(f->k));
    ASYNCIO_END();
}

/* the pings' latencies */
static long long *lat;
static size_t nlat, caplat;
static long long pings_read, bad_pings;

typedef struct {
    asyncio_coro co;
    int fd;
} reader_t;

static int reader(asyncio_task *self, void *frame)
{
    reader_t *f = (reader_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (;;) {
        ASYNCIO_WAIT_FD(f->fd, ASYNCIO_READABLE);
        for (;;) {
            long long stamp[64], now;
            ssize_t got = read(f->fd, stamp, sizeof stamp), i;
            if (got <= 0)
                break;
            now = mono_ns();
            if (got % (ssize_t)sizeof stamp[0]) {
                bad_pings++;
                break;
            }
            for (i = 0; i < got / (ssize_t)sizeof stamp[0]; i++) {
                pings_read++;
                if (stamp[i] <= 0 || stamp[i] > now)
                    bad_pings++;
                else if (nlat < caplat)
                    lat[nlat++] = now - stamp[i];
            }
        }
    }
    ASYNCIO_END();
}

static struct {
    int fd;
    long long every_ns;
    volatile int stop;
    long long sent;
} pinger;

static void *ping_thread(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&pinger.stop, __ATOMIC_RELAXED)) {
        struct timespec ts;
        long long stamp, ns = jitter(pinger.every_ns);
        ts.tv_sec = ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        nanosleep(&ts, NULL);
        stamp = mono_ns();
        if (write(pinger.fd, &stamp, sizeof stamp) == (ssize_t)sizeof stamp)
            pinger.sent++;
    }
    return NULL;
}

typedef struct {
    asyncio_coro co;
    long n;
    long long spin_ns, self_ping_ns;
    int sv[2];
    asyncio_task tasks[2], rtask;
    yielder_t frames[2];
    reader_t rframe;
    asyncio_gather_t g;
    long long t0, t1, c0, c1;
    pthread_t th;
    int have_thread, rc_unused;
    asyncio_metrics metrics;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    if (asyncio_fd_add(ASYNCIO_LOOP(), f->sv[1]) < 0)
        ASYNCIO_RAISE(-EBADF, "fd_add failed");
    f->rframe.fd = f->sv[1];
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->rtask, reader, &f->rframe))
        ASYNCIO_RAISE(-ENOMEM, "create_task failed");
    ASYNCIO_YIELD(); /* the reader is waiting on its fd from here on */
    if (pinger.every_ns > 0) {
        pinger.fd = f->sv[0];
        if (pthread_create(&f->th, NULL, ping_thread, NULL) != 0)
            ASYNCIO_RAISE(-EAGAIN, "pthread_create failed");
        f->have_thread = 1;
    }
    f->frames[0].n = f->frames[1].n = f->n;
    f->frames[0].spin_ns = f->frames[1].spin_ns = f->spin_ns;
    f->frames[0].ping_fd = f->sv[0];
    f->frames[0].ping_ns = f->self_ping_ns;
    f->c0 = cpu_ns();
    f->t0 = mono_ns();
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, yielder, f->frames, sizeof f->frames[0], 2, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->t1 = mono_ns();
    f->c1 = cpu_ns();
    asyncio_loop_metrics(ASYNCIO_LOOP(), &f->metrics);
    if (f->have_thread) {
        __atomic_store_n(&pinger.stop, 1, __ATOMIC_RELAXED);
        pthread_join(f->th, NULL);
    }
    /* the last pings in flight: let the reader have them */
    ASYNCIO_SLEEP(0.002);
    asyncio_task_cancel(&f->rtask);
    ASYNCIO_AWAIT_RC(f->rc_unused, &f->rtask.fut);
    asyncio_fd_close(ASYNCIO_LOOP(), f->sv[1]);
    ASYNCIO_END();
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(double p)
{
    size_t i;
    if (nlat == 0)
        return 0;
    i = (size_t)(p * (double)(nlat - 1) + 0.5);
    return (double)lat[i] / 1e3;
}

int main(int argc, char **argv)
{
    long long n_arg = 1000000, ping_us = 0, self_ping_us = 0, spin = 0, busy_poll = 0;
    asyncio_config cfg;
    asyncio_outcome out;
    main_t m;
    int i, bad = 0;
    double sw;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ping") && i + 1 < argc)
            ping_us = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--selfping") && i + 1 < argc)
            self_ping_us = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--spin") && i + 1 < argc)
            spin = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--busy-poll") && i + 1 < argc)
            busy_poll = atoll(argv[++i]);
        else if (argv[i][0] != '-')
            n_arg = atoll(argv[i]);
        else
            n_arg = 0;
    }
    if (n_arg < 1 || n_arg > 1000000000 || ping_us < 0 || self_ping_us < 0 || spin < 0) {
        fprintf(stderr, "usage: %s [N] [--ping US | --selfping US] [--spin NS] [--busy-poll NS]\n", argv[0]);
        return 2;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    cfg.busy_poll_ns = busy_poll;
    memset(&m, 0, sizeof m);
    m.n = (long)n_arg;
    m.spin_ns = spin;
    m.self_ping_ns = self_ping_us * 1000;
    pinger.every_ns = ping_us * 1000;
    caplat = 4000000;
    lat = (long long *)malloc(caplat * sizeof *lat);
    if (!lat || socketpair(AF_UNIX, SOCK_STREAM, 0, m.sv) < 0) {
        perror("switch_fd");
        return 1;
    }

    asyncio_run_config(&cfg, main_coro, &m, &out);
    if (bench_check("switch_fd", &out, &m.g, 2, n_arg))
        return 1;
    if (bad_pings || pings_read != pinger.sent + self_pings) {
        fprintf(stderr, "switch_fd: %lld pings sent, %lld read, %lld garbled\n", pinger.sent + self_pings, pings_read,
                bad_pings);
        bad++;
    }
    if (bad)
        return 1;
    qsort(lat, nlat, sizeof *lat, cmp_ll);

    sw = 2.0 * (double)n_arg;
    printf("{\"bench\":\"switch_fd\",\"n\":%lld,\"switches\":%.0f,\"spin_ns\":%lld,\"wall_ms\":%.3f,"
           "\"ns_per_switch\":%.2f,\"cpu_ns_per_switch\":%.2f,\"loop_iterations\":%llu,\"loop_steps\":%llu,"
           "\"pings\":%lld,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_max_us\":%.1f}\n",
           n_arg, sw, spin, (double)(m.t1 - m.t0) / 1e6, (double)(m.t1 - m.t0) / sw, (double)(m.c1 - m.c0) / sw,
           m.metrics.iterations, m.metrics.steps, pings_read, pct_us(0.50), pct_us(0.99),
           nlat ? (double)lat[nlat - 1] / 1e3 : 0.0);
    return 0;
}
