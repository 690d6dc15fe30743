/* bench/proc/spawn_uv.c -- libuv counterpart of spawn.c: spawn-and-wait
   /bin/true.

     spawn_uv N INFLIGHT            e.g. spawn_uv 2000 1, spawn_uv 4000 16

   INFLIGHT uv_process_t handles, each: uv_spawn("/bin/true", stdin,
   stdout and stderr inherited with UV_INHERIT_FD), its exit callback
   checks the status and uv_closes the handle, whose close callback spawns
   the next one; until N processes have been started (after 20 untimed
   ones).  A process's time runs from just before uv_spawn to its close
   callback (the handle is free again).  The same JSON line as spawn.c,
   with "impl":"libuv"; the same checks. */
#define _GNU_SOURCE 1
#include <uv.h>

#include "common.h"

enum { MAXINFLIGHT = 256, WARMUP = 20 };

typedef struct {
    uv_process_t h;
    long long t;
    int64_t status;
    int sig;
} slot_t;

static uv_loop_t *loop;
static slot_t slots[MAXINFLIGHT];
static long n, started, done, bad, errors, lat_i;
static long long *lat;
static int timing;

static void start(slot_t *s);

static void on_closed(uv_handle_t *h)
{
    slot_t *s = (slot_t *)h->data;
    if (s->status != 0 || s->sig != 0)
        bad++;
    if (timing)
        lat[lat_i++] = mono_ns() - s->t;
    done++;
    if (started < n)
        start(s);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    slot_t *s = (slot_t *)p->data;
    s->status = status;
    s->sig = sig;
    uv_close((uv_handle_t *)p, on_closed);
}

static void start(slot_t *s)
{
    static char *args[] = {"/bin/true", NULL};
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    int i, rc;
    memset(&o, 0, sizeof o);
    for (i = 0; i < 3; i++) {
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = i;
    }
    o.file = args[0];
    o.args = args;
    o.exit_cb = on_exit_cb;
    o.stdio_count = 3;
    o.stdio = stdio;
    started++;
    s->t = mono_ns();
    s->status = -1;
    if ((rc = uv_spawn(loop, &s->h, &o)) != 0) {
        fprintf(stderr, "spawn_uv: %s\n", uv_strerror(rc));
        errors++;
        return;
    }
    s->h.data = s;
}

static long long children_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

int main(int argc, char **argv)
{
    long k, i, want;
    long long t0, t1, c0, c1, ch0, ch1;
    lat_summary s;
    double wall;
    if (argc < 3 || (want = atol(argv[1])) <= 0 || (k = atol(argv[2])) <= 0 || k > MAXINFLIGHT) {
        fprintf(stderr, "usage: spawn_uv N INFLIGHT(1..%d)\n", MAXINFLIGHT);
        return 2;
    }
    if (!(lat = (long long *)malloc((size_t)want * sizeof *lat)))
        return 1;
    loop = uv_default_loop();
    n = WARMUP; /* warm-up: one at a time, untimed */
    start(&slots[0]);
    uv_run(loop, UV_RUN_DEFAULT);
    if (done != WARMUP || bad || errors) {
        fprintf(stderr, "spawn_uv: warm-up: %ld of %d children, %ld exited non-zero\n", done, WARMUP, bad);
        return 1;
    }
    n = want;
    started = done = 0;
    timing = 1;
    t0 = mono_ns();
    c0 = cpu_ns();
    ch0 = children_cpu_ns();
    for (i = 0; i < k && started < n; i++)
        start(&slots[i]);
    uv_run(loop, UV_RUN_DEFAULT);
    t1 = mono_ns();
    c1 = cpu_ns();
    ch1 = children_cpu_ns();
    if (done != n || bad || errors) {
        fprintf(stderr, "spawn_uv: %ld of %ld children waited for, %ld exited non-zero, %ld spawn errors\n", done,
                n, bad, errors);
        return 1;
    }
    s = summarize_ns(lat, n);
    wall = (double)(t1 - t0) / 1e9;
    printf("{\"bench\":\"spawn_wait\",\"impl\":\"libuv\",\"n\":%ld,\"inflight\":%ld,\"procs_per_sec\":%.1f,"
           "\"wall_s\":%.3f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,\"cpu_us_per_proc\":%.1f,"
           "\"child_cpu_us_per_proc\":%.1f}\n",
           n, k, (double)n / wall, wall, s.p50_us, s.p99_us, s.mean_us, (double)(c1 - c0) / 1e3 / (double)n,
           (double)(ch1 - ch0) / 1e3 / (double)n);
    uv_loop_close(loop);
    free(lat);
    return 0;
}
