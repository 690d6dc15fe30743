/* bench/threads/to_thread_uv.c -- libuv counterpart of to_thread.c:
   uv_queue_work with an empty work_cb, the after_work_cb continuing.

     to_thread_uv latency N                 one job at a time, N timed round
                                            trips (after 1000 untimed ones)
     to_thread_uv throughput N INFLIGHT     INFLIGHT uv_work_t requests, each
                                            resubmitted from its after_work_cb
                                            until N jobs have completed

   The pool is libuv's: UV_THREADPOOL_SIZE threads (default 4), all started
   at the first uv_queue_work.  The same JSON line as to_thread.c, with
   "impl":"libuv"; the same checks (each request's counter, incremented by
   its work_cb, must move by one per completion; the total must be N). */
#define _GNU_SOURCE 1
#include <uv.h>

#include "common.h"

#include <string.h>

enum { WARMUP = 1000 };

static const char *placement = "os";

typedef struct {
    uv_work_t req;
    long ran, done;
} job_t;

static uv_loop_t *loop;
static long n, k, submitted, bad, errors;
static long long t_sent, *lat;
static long lat_i;
static job_t *jobs;

static void empty_work(uv_work_t *req) { ((job_t *)req->data)->ran++; }

/* ---- latency --------------------------------------------------------- */
static void lat_after(uv_work_t *req, int status)
{
    job_t *j = (job_t *)req->data;
    long long now = mono_ns();
    if (status != 0)
        errors++;
    if (lat_i >= 0)
        lat[lat_i] = now - t_sent;
    if (lat_i == -1)
        placement = placement_apply();
    if (j->ran != lat_i + WARMUP + 1)
        bad++;
    if (++lat_i < n) {
        t_sent = mono_ns();
        if (uv_queue_work(loop, &j->req, empty_work, lat_after) != 0)
            errors++;
    }
}

/* ---- throughput ------------------------------------------------------ */
static long target;
static void tp_after(uv_work_t *req, int status)
{
    job_t *j = (job_t *)req->data;
    if (status != 0)
        errors++;
    if (j->ran != ++j->done)
        bad++;
    if (submitted < target) {
        submitted++;
        if (uv_queue_work(loop, &j->req, empty_work, tp_after) != 0)
            errors++;
    }
}

/* k requests until `total` have completed; returns when they have. */
static void tp_round(long total)
{
    long i;
    target = total;
    submitted = 0;
    for (i = 0; i < k; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].req.data = &jobs[i];
    }
    for (i = 0; i < k && submitted < total; i++) {
        submitted++;
        if (uv_queue_work(loop, &jobs[i].req, empty_work, tp_after) != 0)
            errors++;
    }
    uv_run(loop, UV_RUN_DEFAULT);
}

static int pool_size(void)
{
    const char *s = getenv("UV_THREADPOOL_SIZE");
    int v = s ? atoi(s) : 0;
    return v > 0 ? (v > 1024 ? 1024 : v) : 4;
}

static int usage(void)
{
    fprintf(stderr, "usage: to_thread_uv latency N | to_thread_uv throughput N INFLIGHT\n");
    return 2;
}

int main(int argc, char **argv)
{
    int lat_mode;
    if (argc < 3)
        return usage();
    lat_mode = strcmp(argv[1], "latency") == 0;
    if (!lat_mode && (strcmp(argv[1], "throughput") != 0 || argc < 4))
        return usage();
    n = atol(argv[2]);
    if (n <= 0)
        return usage();
    loop = uv_default_loop();
    if (lat_mode) {
        static job_t j;
        lat_summary s;
        if (!(lat = (long long *)malloc((size_t)n * sizeof *lat)))
            return 1;
        j.req.data = &j;
        lat_i = -WARMUP;
        t_sent = mono_ns();
        if (uv_queue_work(loop, &j.req, empty_work, lat_after) != 0)
            return 1;
        uv_run(loop, UV_RUN_DEFAULT);
        if (bad || errors || lat_i != n || j.ran != n + WARMUP) {
            fprintf(stderr, "to_thread_uv: %ld jobs ran, %ld expected; %ld wrong counts, %ld errors\n", j.ran,
                    n + WARMUP, bad, errors);
            return 1;
        }
        s = summarize_ns(lat, n);
        printf("{\"bench\":\"to_thread_latency\",\"impl\":\"libuv\",\"pool\":%d,\"pool_threads\":%d,"
               "\"placement\":\"%s\",\"n\":%ld,\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f,\"max_us\":%.1f}\n",
               pool_size(), pool_size(), placement, n, s.p50_us, s.p99_us, s.mean_us, s.max_us);
        free(lat);
    } else {
        long long t0, t1, c0, c1;
        long i, sum = 0;
        k = atol(argv[3]);
        if (k <= 0 || k > n)
            return usage();
        if (!(jobs = (job_t *)calloc((size_t)k, sizeof *jobs)))
            return 1;
        tp_round(k); /* warm-up: the pool starts */
        sum = 0;
        for (i = 0; i < k; i++)
            sum += jobs[i].ran;
        if (sum != k)
            bad++;
        placement = placement_apply();
        c0 = cpu_ns();
        t0 = mono_ns();
        tp_round(n);
        t1 = mono_ns();
        c1 = cpu_ns();
        sum = 0;
        for (i = 0; i < k; i++) {
            sum += jobs[i].ran;
            if (jobs[i].ran != jobs[i].done)
                bad++;
        }
        if (bad || errors || sum != n || submitted != n) {
            fprintf(stderr, "to_thread_uv: %ld jobs ran, %ld expected; %ld wrong counts, %ld errors\n", sum, n,
                    bad, errors);
            return 1;
        }
        printf("{\"bench\":\"to_thread_throughput\",\"impl\":\"libuv\",\"pool\":%d,\"pool_threads\":%d,"
               "\"placement\":\"%s\",\"n\":%ld,\"inflight\":%ld,\"jobs_per_sec\":%.0f,\"wall_ms\":%.1f,"
               "\"cpu_us_per_job\":%.3f}\n",
               pool_size(), pool_size(), placement, n, k, (double)n * 1e9 / (double)(t1 - t0), (double)(t1 - t0) / 1e6,
               (double)(c1 - c0) / 1e3 / (double)n);
        free(jobs);
    }
    uv_loop_close(loop);
    return 0;
}
