/* bench/threads/lag_uv.c -- libuv counterpart of lag.c: a uv_timer with
   a 1 ms repeat while JOBS uv_queue_work jobs run the same CPU busy loop
   (FNV-1a hashing until SECONDS after the start).

     lag_uv SECONDS JOBS

   libuv's timers count whole milliseconds of the loop's clock (uv_now):
   a repeating timer is re-armed at uv_now() + 1 when it fires, so tick k
   is due when uv_now() reaches the value it was armed for.  Its lateness
   is uv_hrtime() at the callback minus that due time in nanoseconds
   (uv_now is uv_hrtime / 1e6, rounded down, on this kernel: libuv reads
   CLOCK_MONOTONIC_COARSE instead only where its resolution is 1 ms or
   finer, and then "uv_clock" says "coarse").  Due times skipped because
   the timer fired more than a millisecond late count as "missed".  The
   same JSON line as lag.c with "impl":"libuv"; the same checks. */
#define _GNU_SOURCE 1
#include <uv.h>

#include "common.h"

#include <string.h>

enum { MAXJOBS = 64 };

typedef struct {
    uv_work_t req;
    long long deadline, steps, t_start, t_end;
    unsigned long long hash;
    int ran, status;
} job_t;

static uv_loop_t *loop;
static uv_timer_t timer;
static job_t jobs[MAXJOBS];
static int njobs, jobs_left, stop_ticker;
static uint64_t due_ms;
static long long *late, t0, t1;
static long ticks, missed, cap;
static double seconds;

static void cpu_work(uv_work_t *req)
{
    job_t *j = (job_t *)req->data;
    j->ran++;
    j->t_start = mono_ns();
    j->hash = busy_hash_until(j->deadline, &j->steps);
    j->t_end = mono_ns();
}

static void cpu_after(uv_work_t *req, int status)
{
    job_t *j = (job_t *)req->data;
    j->status = status;
    if (--jobs_left == 0) {
        t1 = mono_ns();
        stop_ticker = 1;
    }
}

static void on_tick(uv_timer_t *t)
{
    long long now = (long long)uv_hrtime();
    uint64_t now_ms = uv_now(loop);
    if (ticks < cap)
        late[ticks++] = now - (long long)due_ms * 1000000LL;
    if (now_ms > due_ms)
        missed += (long)(now_ms - due_ms);
    due_ms = now_ms + 1; /* what libuv re-armed it for */
    if (stop_ticker)
        uv_timer_stop(t);
}

static void on_idle_end(uv_timer_t *t)
{
    (void)t;
    t1 = mono_ns();
    stop_ticker = 1;
    uv_close((uv_handle_t *)t, NULL);
}

int main(int argc, char **argv)
{
    static uv_timer_t end_timer;
    struct timespec res;
    lat_summary s;
    int i, bad = 0;
    const char *clock = "monotonic";
    if (argc < 3 || (seconds = atof(argv[1])) <= 0 || (njobs = atoi(argv[2])) < 0 || njobs > MAXJOBS) {
        fprintf(stderr, "usage: lag_uv SECONDS JOBS(0..%d)\n", MAXJOBS);
        return 2;
    }
    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 && res.tv_sec == 0 && res.tv_nsec <= 1000000)
        clock = "coarse";
    cap = (long)(seconds * 1000 * 2) + 10000;
    if (!(late = (long long *)malloc((size_t)cap * sizeof *late)))
        return 1;
    loop = uv_default_loop();
    uv_timer_init(loop, &timer);
    uv_update_time(loop);
    due_ms = uv_now(loop) + 1;
    uv_timer_start(&timer, on_tick, 1, 1);
    t0 = mono_ns();
    jobs_left = njobs;
    for (i = 0; i < njobs; i++) {
        jobs[i].req.data = &jobs[i];
        jobs[i].deadline = t0 + (long long)(seconds * 1e9);
        if (uv_queue_work(loop, &jobs[i].req, cpu_work, cpu_after) != 0)
            return 1;
    }
    if (njobs == 0) {
        uv_timer_init(loop, &end_timer);
        uv_timer_start(&end_timer, on_idle_end, (uint64_t)(seconds * 1000), 0);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    for (i = 0; i < njobs; i++)
        if (jobs[i].ran != 1 || jobs[i].status != 0 || jobs[i].t_end - jobs[i].t_start < (long long)(seconds * 0.9e9)) {
            fprintf(stderr, "lag_uv: job %d ran %d times for %.3f s\n", i, jobs[i].ran,
                    (double)(jobs[i].t_end - jobs[i].t_start) / 1e9);
            bad = 1;
        }
    if (ticks < 10) {
        fprintf(stderr, "lag_uv: the ticker ticked %ld times\n", ticks);
        bad = 1;
    }
    if (uv_loop_close(loop) != 0)
        bad = 1;
    if (bad)
        return 1;
    s = summarize_ns(late, ticks);
    printf("{\"bench\":\"loop_lag\",\"impl\":\"libuv\",\"jobs\":%d,\"seconds\":%g,\"period_us\":1000,"
           "\"ticks\":%ld,\"missed\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
           "\"wall_s\":%.3f,\"pool\":%d,\"uv_clock\":\"%s\"}\n",
           njobs, seconds, ticks, missed, s.p50_us, s.p99_us, s.max_us, s.mean_us, (double)(t1 - t0) / 1e9,
           getenv("UV_THREADPOOL_SIZE") ? atoi(getenv("UV_THREADPOOL_SIZE")) : 4, clock);
    free(late);
    return 0;
}
