/* bench/threads/lag.c -- loop lag while the pool is busy: a ticker
   coroutine wants to wake every millisecond while JOBS CPU-heavy jobs
   run on the default executor.

     lag SECONDS JOBS [POOL]

   Each job is a busy loop (FNV-1a hashing) that runs until SECONDS after
   the start; the ticker runs until every job is back (JOBS 0: for
   SECONDS, an idle baseline).  Tick k is due at t0 + k ms (absolute:
   ASYNCIO_SLEEP to the next due time on the loop's clock); its lateness is
   when it woke minus when it was due.  A tick that wakes after later due
   times have passed skips them: they count as "missed", not as late
   ticks.  One JSON line:
     {"bench":"loop_lag","impl":"asyncio.h","jobs":J,"seconds":S,"period_us":1000,
      "ticks":..,"missed":..,"p50_us":..,"p99_us":..,"max_us":..,"mean_us":..,
      "wall_s":..,"pool":..}
   Checks: every job ran exactly once and hashed for at least 90% of
   SECONDS, the ticker ticked; exit 1 otherwise. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "common.h"

#include <string.h>

enum { MAXJOBS = 64 };
#define PERIOD_NS 1000000LL

typedef struct {
    long long deadline, steps, t_start, t_end;
    unsigned long long hash;
    int ran;
} job_t;

static int cpu_job(void *arg, asyncio_outcome *out)
{
    job_t *j = (job_t *)arg;
    j->ran++;
    j->t_start = mono_ns();
    j->hash = busy_hash_until(j->deadline, &j->steps);
    j->t_end = mono_ns();
    out->value.i = (long long)(j->hash & 0x7fffffff);
    return 0;
}

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
    for (;;) {
        f->k++;
        f->due = f->t0 + f->k * PERIOD_NS;
        ASYNCIO_SLEEP((double)(f->due - asyncio_loop_time_ns(ASYNCIO_LOOP())) / 1e9);
        f->now = asyncio_loop_time_ns(ASYNCIO_LOOP());
        if (f->ticks < f->cap)
            f->late[f->ticks++] = f->now - f->due;
        if (*f->stop)
            break;
        kk = (long)((f->now - f->t0) / PERIOD_NS); /* due times already past */
        if (kk > f->k) {
            f->missed += kk - f->k;
            f->k = kk;
        }
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int njobs, stop, i;
    double seconds;
    job_t jobs[MAXJOBS];
    asyncio_work work[MAXJOBS];
    asyncio_future *futs[MAXJOBS];
    asyncio_gather_t g;
    ticker_t tick;
    asyncio_task tick_task;
    long long t0, t1;
} main_t;

static int run(asyncio_task *self, void *frame)
{
    main_t *m = (main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->tick.stop = &m->stop;
    asyncio_create_task(ASYNCIO_LOOP(), &m->tick_task, ticker, &m->tick);
    ASYNCIO_YIELD(); /* the ticker takes its t0 */
    m->t0 = mono_ns();
    if (m->njobs > 0) {
        for (m->i = 0; m->i < m->njobs; m->i++) {
            m->jobs[m->i].deadline = m->t0 + (long long)(m->seconds * 1e9);
            m->futs[m->i] = asyncio_to_thread(ASYNCIO_LOOP(), &m->work[m->i], cpu_job, &m->jobs[m->i]);
        }
        asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, (size_t)m->njobs, 0);
        ASYNCIO_AWAIT(&m->g.fut);
    } else {
        ASYNCIO_SLEEP(m->seconds);
    }
    m->t1 = mono_ns();
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
    lat_summary s;
    int i, pool, bad = 0;
    if (argc < 3 || (m.seconds = atof(argv[1])) <= 0 || (m.njobs = atoi(argv[2])) < 0 || m.njobs > MAXJOBS) {
        fprintf(stderr, "usage: lag SECONDS JOBS(0..%d) [POOL]\n", MAXJOBS);
        return 2;
    }
    pool = argc > 3 ? atoi(argv[3]) : 0;
    if (pool > 0 && asyncio_executor_configure(NULL, pool, 10.0) != 0)
        return 1;
    m.tick.cap = (long)(m.seconds * 1000 * 2) + 10000;
    if (!(m.tick.late = (long long *)malloc((size_t)m.tick.cap * sizeof *m.tick.late)))
        return 1;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    if (asyncio_run_config(&cfg, run, &m, &out) != 0 || out.err) {
        fprintf(stderr, "lag: %s\n", out.msg ? out.msg : "failed");
        return 1;
    }
    for (i = 0; i < m.njobs; i++)
        if (m.jobs[i].ran != 1 || m.jobs[i].t_end - m.jobs[i].t_start < (long long)(m.seconds * 0.9e9) ||
            m.futs[i]->u.value.i != (long long)(m.jobs[i].hash & 0x7fffffff)) {
            fprintf(stderr, "lag: job %d ran %d times for %.3f s\n", i, m.jobs[i].ran,
                    (double)(m.jobs[i].t_end - m.jobs[i].t_start) / 1e9);
            bad = 1;
        }
    if (m.tick.ticks < 10) {
        fprintf(stderr, "lag: the ticker ticked %ld times\n", m.tick.ticks);
        bad = 1;
    }
    if (bad)
        return 1;
    asyncio_executor_stats(NULL, &st);
    s = summarize_ns(m.tick.late, m.tick.ticks);
    printf("{\"bench\":\"loop_lag\",\"impl\":\"asyncio.h\",\"jobs\":%d,\"seconds\":%g,\"period_us\":1000,"
           "\"ticks\":%ld,\"missed\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
           "\"wall_s\":%.3f,\"pool\":%d}\n",
           m.njobs, m.seconds, m.tick.ticks, m.tick.missed, s.p50_us, s.p99_us, s.max_us, s.mean_us,
           (double)(m.t1 - m.t0) / 1e9, st.max_workers);
    free(m.tick.late);
    return 0;
}
