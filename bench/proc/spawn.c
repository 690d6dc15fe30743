/* bench/proc/spawn.c -- spawn-and-wait /bin/true, asyncio.h.

     spawn N INFLIGHT               e.g. spawn 2000 1, spawn 4000 16

   INFLIGHT coroutines, each in a loop: asyncio_create_subprocess_exec
   ("/bin/true", no options: stdin, stdout and stderr inherited), await
   asyncio_process_wait, check the returncode, asyncio_process_release;
   until N processes have been started (after 20 untimed ones that warm
   the caches).  INFLIGHT 1 is one process at a time.  One JSON line:
     {"bench":"spawn_wait","impl":"asyncio.h","n":N,"inflight":K,
      "procs_per_sec":..,"wall_s":..,"p50_us":..,"p99_us":..,"mean_us":..,
      "cpu_us_per_proc":..,"child_cpu_us_per_proc":..}
   Percentiles: each process from just before the create call to the
   return of its wait (with INFLIGHT > 1 that includes waiting for the
   loop's attention).  cpu_us_per_proc: this process's CPU time
   (RUSAGE_SELF) per child; child_cpu_us_per_proc: the reaped children's
   (RUSAGE_CHILDREN: /bin/true itself, plus whatever a child does before
   its exec).  Checks: N children started, each exited with 0; exit
   status 1 otherwise. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "common.h"

enum { MAXINFLIGHT = 256, WARMUP = 20 };

typedef struct shared_t {
    long n, started, done, bad, *lat_i;
    long long *lat;
} shared_t;

typedef struct {
    asyncio_coro co;
    shared_t *sh;
    asyncio_process *p;
    asyncio_process_op op;
    long long t;
    int timed;
} worker_t;

static int worker(asyncio_task *self, void *frame)
{
    static const char *const argv[] = {"/bin/true", NULL};
    worker_t *w = (worker_t *)frame;
    shared_t *sh = w->sh;
    int rc;
    ASYNCIO_BEGIN(self, w);
    while (sh->started < sh->n) {
        sh->started++;
        w->t = mono_ns();
        if ((rc = asyncio_create_subprocess_exec(&w->p, ASYNCIO_LOOP(), argv, NULL)) < 0)
            ASYNCIO_RAISE(rc, asyncio_errmsg());
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&w->op, w->p));
        if (ASYNCIO_RESULT().i != 0)
            sh->bad++;
        asyncio_process_release(w->p);
        sh->lat[(*sh->lat_i)++] = mono_ns() - w->t;
        sh->done++;
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    long n, k, i, lat_i;
    long long t0, t1, c0, c1, ch0, ch1;
    shared_t warm, sh;
    long long warm_lat[WARMUP];
    worker_t w[MAXINFLIGHT];
    asyncio_task tasks[MAXINFLIGHT];
    asyncio_gather_t g;
} main_t;

static long long children_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int run(asyncio_task *self, void *frame)
{
    main_t *m = (main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    /* warm-up: one at a time, untimed */
    m->warm.n = WARMUP;
    m->warm.lat = m->warm_lat;
    m->warm.lat_i = &m->lat_i;
    m->w[0].sh = &m->warm;
    asyncio_gather_map(&m->g, ASYNCIO_LOOP(), m->tasks, worker, m->w, sizeof m->w[0], 1, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    m->lat_i = 0;
    m->sh.lat_i = &m->lat_i;
    for (m->i = 0; m->i < m->k; m->i++)
        m->w[m->i].sh = &m->sh;
    m->t0 = mono_ns();
    m->c0 = cpu_ns();
    m->ch0 = children_cpu_ns();
    asyncio_gather_map(&m->g, ASYNCIO_LOOP(), m->tasks, worker, m->w, sizeof m->w[0], (size_t)m->k, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    m->t1 = mono_ns();
    m->c1 = cpu_ns();
    m->ch1 = children_cpu_ns();
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_config cfg;
    asyncio_outcome out;
    lat_summary s;
    double wall;
    if (argc < 3 || (m.n = atol(argv[1])) <= 0 || (m.k = atol(argv[2])) <= 0 || m.k > MAXINFLIGHT) {
        fprintf(stderr, "usage: spawn N INFLIGHT(1..%d)\n", MAXINFLIGHT);
        return 2;
    }
    m.sh.n = m.n;
    if (!(m.sh.lat = (long long *)malloc((size_t)m.n * sizeof *m.sh.lat)))
        return 1;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    if (asyncio_run_config(&cfg, run, &m, &out) != 0 || out.err) {
        fprintf(stderr, "spawn: %s\n", out.msg ? out.msg : "failed");
        return 1;
    }
    if (m.sh.done != m.n || m.sh.bad || m.warm.done != WARMUP || m.warm.bad) {
        fprintf(stderr, "spawn: %ld of %ld children waited for, %ld exited non-zero\n", m.sh.done, m.n,
                m.sh.bad + m.warm.bad);
        return 1;
    }
    s = summarize_ns(m.sh.lat, m.n);
    wall = (double)(m.t1 - m.t0) / 1e9;
    printf("{\"bench\":\"spawn_wait\",\"impl\":\"asyncio.h\",\"n\":%ld,\"inflight\":%ld,\"procs_per_sec\":%.1f,"
           "\"wall_s\":%.3f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,\"cpu_us_per_proc\":%.1f,"
           "\"child_cpu_us_per_proc\":%.1f}\n",
           m.n, m.k, (double)m.n / wall, wall, s.p50_us, s.p99_us, s.mean_us,
           (double)(m.c1 - m.c0) / 1e3 / (double)m.n, (double)(m.ch1 - m.ch0) / 1e3 / (double)m.n);
    free(m.sh.lat);
    return 0;
}
