/* bench/threads/to_thread.c -- asyncio_to_thread round trips of an empty
   job, awaited from coroutines (the jobs live in the coroutines' frames:
   caller-storage asyncio_work, nothing allocated per job).

     to_thread latency N [POOL]            one job at a time, N timed round
                                           trips (after 1000 untimed ones)
     to_thread throughput N INFLIGHT [POOL]  INFLIGHT coroutines, each
                                           awaiting jobs back to back until
                                           N jobs have completed

   POOL 0 (default): the default executor as it comes, min(32, CPUs + 4)
   threads started on demand; POOL > 0: asyncio_executor_configure(NULL,
   POOL, 10.0) first.  One JSON line:
     {"bench":"to_thread_latency","impl":"asyncio.h","pool":P,"pool_threads":T,
      "n":N,"p50_us":..,"p99_us":..,"mean_us":..,"max_us":..}
     {"bench":"to_thread_throughput","impl":"asyncio.h","pool":P,"pool_threads":T,
      "n":N,"inflight":K,"jobs_per_sec":..,"wall_ms":..,"cpu_us_per_job":..}
   The job increments a counter that belongs to its coroutine; each
   coroutine checks after every await that its counter moved by exactly
   one, and at the end that the counters add up to N; exit 1 otherwise. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "common.h"

#include <string.h>

enum { WARMUP = 1000 };

static const char *placement = "os";

/* The "empty" job: one increment of its caller's counter, the check. */
static int empty_job(void *arg, asyncio_outcome *out)
{
    (void)out;
    (*(long *)arg)++;
    return 0;
}

/* ---- latency --------------------------------------------------------- */
typedef struct {
    asyncio_coro co;
    long n, i, ran;
    long long t0, *lat;
    asyncio_work w;
} lat_t;

static int latency(asyncio_task *self, void *frame)
{
    lat_t *f = (lat_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = -WARMUP; f->i < f->n; f->i++) {
        if (f->i == 0)
            placement = placement_apply();
        f->t0 = mono_ns();
        ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->w, empty_job, &f->ran));
        if (f->i >= 0)
            f->lat[f->i] = mono_ns() - f->t0;
        if (f->ran != f->i + WARMUP + 1)
            ASYNCIO_RAISE(ASYNCIO_EUSER, "a job ran a wrong number of times");
    }
    ASYNCIO_END();
}

/* ---- throughput ------------------------------------------------------ */
typedef struct {
    asyncio_coro co;
    long *submitted, target; /* shared: jobs started so far, and N */
    long ran, awaited;
    asyncio_work w;
} flow_t;

static int flow(asyncio_task *self, void *frame)
{
    flow_t *f = (flow_t *)frame;
    ASYNCIO_BEGIN(self, f);
    while (*f->submitted < f->target) {
        ++*f->submitted;
        ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->w, empty_job, &f->ran));
        if (f->ran != ++f->awaited)
            ASYNCIO_RAISE(ASYNCIO_EUSER, "a job ran a wrong number of times");
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    long n, k, submitted;
    flow_t *frames;
    asyncio_task *tasks;
    asyncio_gather_t g;
    long long t0, t1, c0, c1;
} tp_t;

static int throughput(asyncio_task *self, void *frame)
{
    tp_t *f = (tp_t *)frame;
    long i;
    ASYNCIO_BEGIN(self, f);
    /* warm-up: the workers start (the pool grows on demand) */
    for (i = 0; i < f->k; i++) {
        f->frames[i].submitted = &f->submitted;
        f->frames[i].target = f->k;
    }
    asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, flow, f->frames, sizeof f->frames[0], (size_t)f->k, 0);
    ASYNCIO_AWAIT(&f->g.fut);
    placement = placement_apply();
    f->submitted = 0;
    memset(f->frames, 0, (size_t)f->k * sizeof f->frames[0]);
    for (i = 0; i < f->k; i++) {
        f->frames[i].submitted = &f->submitted;
        f->frames[i].target = f->n;
    }
    f->c0 = cpu_ns();
    f->t0 = mono_ns();
    asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, flow, f->frames, sizeof f->frames[0], (size_t)f->k, 0);
    ASYNCIO_AWAIT(&f->g.fut);
    f->t1 = mono_ns();
    f->c1 = cpu_ns();
    ASYNCIO_END();
}

static int usage(void)
{
    fprintf(stderr, "usage: to_thread latency N [POOL] | to_thread throughput N INFLIGHT [POOL]\n");
    return 2;
}

int main(int argc, char **argv)
{
    asyncio_config cfg;
    asyncio_outcome out;
    asyncio_executor_stats_t st;
    int pool, lat_mode;
    long n;
    if (argc < 3)
        return usage();
    lat_mode = strcmp(argv[1], "latency") == 0;
    if (!lat_mode && (strcmp(argv[1], "throughput") != 0 || argc < 4))
        return usage();
    n = atol(argv[2]);
    pool = argc > (lat_mode ? 3 : 4) ? atoi(argv[lat_mode ? 3 : 4]) : 0;
    if (n <= 0 || pool < 0)
        return usage();
    if (pool > 0 && asyncio_executor_configure(NULL, pool, 10.0) != 0) {
        fprintf(stderr, "to_thread: asyncio_executor_configure failed\n");
        return 1;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    if (lat_mode) {
        static lat_t m;
        lat_summary s;
        m.n = n;
        if (!(m.lat = (long long *)malloc((size_t)n * sizeof *m.lat)))
            return 1;
        if (asyncio_run_config(&cfg, latency, &m, &out) != 0 || out.err) {
            fprintf(stderr, "to_thread: %s\n", out.msg ? out.msg : "failed");
            return 1;
        }
        if (m.ran != n + WARMUP) {
            fprintf(stderr, "to_thread: %ld jobs ran, %ld expected\n", m.ran, n + WARMUP);
            return 1;
        }
        asyncio_executor_stats(NULL, &st);
        s = summarize_ns(m.lat, n);
        printf("{\"bench\":\"to_thread_latency\",\"impl\":\"asyncio.h\",\"pool\":%d,\"pool_threads\":%d,"
               "\"placement\":\"%s\",\"n\":%ld,\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f,\"max_us\":%.1f}\n",
               st.max_workers, st.threads, placement, n, s.p50_us, s.p99_us, s.mean_us, s.max_us);
        free(m.lat);
    } else {
        static tp_t m;
        long i, sum = 0, bad = 0;
        m.n = n;
        m.k = atol(argv[3]);
        if (m.k <= 0 || m.k > n)
            return usage();
        m.frames = (flow_t *)calloc((size_t)m.k, sizeof *m.frames);
        m.tasks = (asyncio_task *)calloc((size_t)m.k, sizeof *m.tasks);
        if (!m.frames || !m.tasks)
            return 1;
        if (asyncio_run_config(&cfg, throughput, &m, &out) != 0 || out.err) {
            fprintf(stderr, "to_thread: %s\n", out.msg ? out.msg : "failed");
            return 1;
        }
        for (i = 0; i < m.k; i++) {
            sum += m.frames[i].ran;
            bad += m.frames[i].ran != m.frames[i].awaited;
        }
        if (sum != n || bad || m.submitted != n) {
            fprintf(stderr, "to_thread: %ld jobs ran (%ld submitted), %ld expected; %ld coroutines disagree\n", sum,
                    m.submitted, n, bad);
            return 1;
        }
        asyncio_executor_stats(NULL, &st);
        printf("{\"bench\":\"to_thread_throughput\",\"impl\":\"asyncio.h\",\"pool\":%d,\"pool_threads\":%d,"
               "\"placement\":\"%s\",\"n\":%ld,\"inflight\":%ld,\"jobs_per_sec\":%.0f,\"wall_ms\":%.1f,"
               "\"cpu_us_per_job\":%.3f}\n",
               st.max_workers, st.threads, placement, n, m.k, (double)n * 1e9 / (double)(m.t1 - m.t0),
               (double)(m.t1 - m.t0) / 1e6, (double)(m.c1 - m.c0) / 1e3 / (double)n);
        free(m.frames);
        free(m.tasks);
    }
    return 0;
}
