/* Threads: call_soon_threadsafe, executors (to_thread, run_in_executor),
   run_coroutine_threadsafe, name resolution off the loop, Happy
   Eyeballs, loops on several threads.  Every test here is named
   thread_*: make test also runs them under ThreadSanitizer. */
#define _GNU_SOURCE 1
#include "tests.h"
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(int ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0)
        ;
}

static void complete_cb(asyncio_loop *loop, void *arg)
{
    (void)loop;
    asyncio_future_set_result((asyncio_future *)arg, asyncio_int(0));
}

/* ---- call_soon_threadsafe ---------------------------------------------- */
/* 8 threads x 100 000 calls while the loop runs: each callback runs
   exactly once, each producer's in the order it posted them. */
enum { PRODUCERS = 8, CALLS = 100000 };
static unsigned char seen[PRODUCERS][CALLS];
static int last_seq[PRODUCERS];
static long out_of_order;
static asyncio_loop xloop;

static void count_call(asyncio_loop *loop, void *arg)
{
    long v = (long)(intptr_t)arg;
    int p = (int)(v / CALLS), i = (int)(v % CALLS);
    (void)loop;
    seen[p][i]++;
    if (i != last_seq[p] + 1)
        out_of_order++;
    last_seq[p] = i;
}

static void *producer(void *arg)
{
    long p = (long)(intptr_t)arg, i;
    for (i = 0; i < CALLS; i++)
        if (asyncio_call_soon_threadsafe(&xloop, NULL, count_call, (void *)(intptr_t)(p * CALLS + i)) != 0)
            abort();
    return NULL;
}

static void *join_then_unref(void *arg)
{
    pthread_t *th = (pthread_t *)arg;
    int i;
    for (i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    asyncio_loop_unref(&xloop);
    return NULL;
}

void test_thread_call_soon_threadsafe_8x100000(void)
{
    pthread_t th[PRODUCERS], joiner;
    long i;
    int p;
    CHECK_EQ(asyncio_loop_init(&xloop, NULL), 0);
    for (p = 0; p < PRODUCERS; p++)
        last_seq[p] = -1;
    asyncio_loop_ref(&xloop); /* held until every producer is done */
    for (p = 0; p < PRODUCERS; p++)
        CHECK_EQ(pthread_create(&th[p], NULL, producer, (void *)(intptr_t)p), 0);
    CHECK_EQ(pthread_create(&joiner, NULL, join_then_unref, th), 0);
    /* returns once the reference is gone and nothing is left */
    CHECK_EQ(asyncio_loop_run_forever(&xloop), 0);
    pthread_join(joiner, NULL);
    for (p = 0; p < PRODUCERS; p++)
        for (i = 0; i < CALLS; i++)
            if (seen[p][i] != 1) {
                fprintf(stderr, "  producer %d call %ld ran %d times\n", p, i, seen[p][i]);
                CHECK(0);
            }
    CHECK_EQ(out_of_order, 0);
    CHECK_EQ(asyncio_loop_close(&xloop), 0);
}

/* Caller storage: nothing allocated per call (the allocator fails while
   the other thread posts); the handle is the caller's again once its
   callback has run. */
static int storage_runs;
static void note_run(asyncio_loop *loop, void *arg)
{
    (void)loop;
    storage_runs++;
    *(int *)arg = 1;
}

static void *post_twice(void *arg)
{
    asyncio_handle *h = (asyncio_handle *)arg;
    static int done[2];
    CHECK_EQ(asyncio_call_soon_threadsafe(&xloop, &h[0], note_run, &done[0]), 0);
    CHECK_EQ(asyncio_call_soon_threadsafe(&xloop, &h[1], note_run, &done[1]), 0);
    return NULL;
}

void test_thread_call_soon_threadsafe_caller_storage_and_errors(void)
{
    asyncio_handle h[2];
    pthread_t th;
    vloop_init(&xloop);
    alloc_fail_after(0);
    CHECK_EQ(pthread_create(&th, NULL, post_twice, h), 0);
    pthread_join(th, NULL);
    alloc_fail_after(-1);
    CHECK_EQ(asyncio_loop_run_forever(&xloop), 0); /* runs both, then nothing is left */
    CHECK_EQ(storage_runs, 2);
    /* bad input */
    CHECK_EQ(asyncio_call_soon_threadsafe(&xloop, NULL, NULL, NULL), -EINVAL);
    alloc_fail_after(0);
    CHECK_EQ(asyncio_call_soon_threadsafe(&xloop, NULL, note_run, &storage_runs), -ENOMEM);
    alloc_fail_after(-1);
    CHECK_EQ(asyncio_loop_close(&xloop), 0);
    /* after close: refused, nothing queued */
    CHECK_EQ(asyncio_call_soon_threadsafe(&xloop, &h[0], note_run, NULL), ASYNCIO_ELOOPCLOSED);
    CHECK_STR(asyncio_errmsg(), "call_soon_threadsafe: Event loop is closed");
    CHECK_EQ(asyncio_call_soon_threadsafe(&xloop, NULL, note_run, NULL), ASYNCIO_ELOOPCLOSED);
}

/* Callbacks posted and never run are reported at close (and the loop's
   own allocations freed: LeakSanitizer checks). */
void test_thread_callbacks_never_run_are_reported_at_close(void)
{
    asyncio_loop loop;
    asyncio_handle h;
    vloop_init(&loop);
    CHECK_EQ(asyncio_call_soon_threadsafe(&loop, NULL, note_run, NULL), 0);
    CHECK_EQ(asyncio_call_soon_threadsafe(&loop, &h, note_run, NULL), 0);
    CHECK_EQ(warnings_seen, 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(warnings_seen, 1);
    CHECK_STR(last_warning, "2 call_soon_threadsafe callbacks never ran: the loop closed first");
    CHECK_EQ(storage_runs, 0);
    /* cancelled from the loop's thread before it ran: not reported */
    vloop_init(&loop);
    CHECK_EQ(asyncio_call_soon_threadsafe(&loop, &h, note_run, NULL), 0);
    CHECK_EQ(asyncio_handle_cancel(&h), 1);
    CHECK_EQ(asyncio_loop_run_forever(&loop), 0);
    CHECK_EQ(storage_runs, 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(warnings_seen, 1);
}

/* ---- executors --------------------------------------------------------- */
static int add_one(void *arg, asyncio_outcome *out)
{
    out->value.i = (long long)(intptr_t)arg + 1;
    return 0;
}

static int fail_enoent(void *arg, asyncio_outcome *out)
{
    (void)arg;
    out->msg = "no such widget";
    return -ENOENT;
}

static int return_positive(void *arg, asyncio_outcome *out)
{
    (void)arg;
    (void)out;
    return 3;
}

typedef struct {
    asyncio_coro co;
    asyncio_work w;
    int rc;
} job_t;

static int job_results(asyncio_task *self, void *frame)
{
    job_t *f = (job_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->w, add_one, (void *)41));
    CHECK_EQ(ASYNCIO_RESULT().i, 42);
    ASYNCIO_AWAIT_RC(f->rc, asyncio_to_thread(ASYNCIO_LOOP(), &f->w, fail_enoent, NULL));
    CHECK_EQ(f->rc, -ENOENT);
    CHECK_STR(ASYNCIO_ERRMSG(), "no such widget");
    ASYNCIO_AWAIT_RC(f->rc, asyncio_to_thread(ASYNCIO_LOOP(), &f->w, return_positive, NULL));
    CHECK_EQ(f->rc, -EINVAL);
    CHECK_STR(ASYNCIO_ERRMSG(), "executor: the work function returned a positive code");
    /* bad input fails the future, with a message */
    ASYNCIO_AWAIT_RC(f->rc, asyncio_to_thread(ASYNCIO_LOOP(), &f->w, NULL, NULL));
    CHECK_EQ(f->rc, -EINVAL);
    CHECK_STR(ASYNCIO_ERRMSG(), "executor: the work function is NULL");
    ASYNCIO_RETURN(asyncio_int(7));
    ASYNCIO_END();
}

void test_thread_to_thread_results_and_errors(void)
{
    job_t f;
    asyncio_outcome out;
    CHECK_EQ(run_virtual(job_results, &f, &out), 0);
    CHECK_EQ(out.value.i, 7);
}

void test_thread_executor_bad_sizes_and_closed_loop(void)
{
    asyncio_executor *ex = NULL;
    asyncio_executor_stats_t st;
    asyncio_loop loop;
    asyncio_work w;
    asyncio_future *fut;
    CHECK_EQ(asyncio_executor_new(&ex, 0), -EINVAL);
    CHECK_EQ(asyncio_executor_new(&ex, ASYNCIO_MAX_WORKERS + 1), -EINVAL);
    CHECK_EQ(asyncio_executor_new(NULL, 4), -EINVAL);
    CHECK(ex == NULL);
    CHECK_EQ(asyncio_executor_configure(NULL, 0, 1), -EINVAL);
    CHECK_EQ(asyncio_executor_configure(NULL, 1000000, 1), -EINVAL);
    CHECK_EQ(asyncio_executor_configure(NULL, 4, NAN), -EINVAL);
    CHECK_EQ(asyncio_executor_shutdown(NULL), -EINVAL);
    asyncio_executor_stats(NULL, &st); /* the default: min(32, CPUs + 4) */
    CHECK(st.max_workers >= 5 && st.max_workers <= 32);
    CHECK_EQ(st.threads, 0); /* started on demand */
    /* a job for a closed loop */
    vloop_init(&loop);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    fut = asyncio_to_thread(&loop, &w, add_one, NULL);
    CHECK_EQ(asyncio_future_error(fut), ASYNCIO_ELOOPCLOSED);
    /* a job for an executor that was shut down */
    vloop_init(&loop);
    CHECK_EQ(asyncio_executor_new(&ex, 2), 0);
    CHECK_EQ(asyncio_executor_shutdown(ex), 0);
    CHECK_EQ(asyncio_executor_new(&ex, 2), 0);
    fut = asyncio_run_in_executor(&loop, ex, &w, add_one, (void *)1, NULL);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, fut), 0);
    CHECK_EQ(fut->u.value.i, 2);
    CHECK_EQ(asyncio_executor_shutdown(ex), 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* One worker: queued jobs start in the order they were queued. */
static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static int order[64], norder;
static int record_order(void *arg, asyncio_outcome *out)
{
    pthread_mutex_lock(&order_mu);
    order[norder++] = (int)(intptr_t)arg;
    pthread_mutex_unlock(&order_mu);
    out->value.i = (long long)(intptr_t)arg;
    return 0;
}

typedef struct {
    asyncio_coro co;
    asyncio_executor *ex;
    asyncio_work w[20];
    asyncio_future *futs[20];
    asyncio_gather_t g;
    int i;
} fifo_t;

static int fifo_main(asyncio_task *self, void *frame)
{
    fifo_t *f = (fifo_t *)frame;
    asyncio_executor_stats_t st;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 20; f->i++)
        f->futs[f->i] = asyncio_run_in_executor(ASYNCIO_LOOP(), f->ex, &f->w[f->i], record_order,
                                                (void *)(intptr_t)f->i, NULL);
    asyncio_executor_stats(f->ex, &st);
    CHECK_EQ(st.threads, 1); /* saturated: the rest wait */
    CHECK_EQ(st.queued + st.running + st.completed, 20);
    CHECK_EQ(asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, 20, 0), 0);
    ASYNCIO_AWAIT(&f->g.fut);
    for (f->i = 0; f->i < 20; f->i++)
        CHECK_EQ(f->futs[f->i]->u.value.i, f->i);
    ASYNCIO_END();
}

void test_thread_saturated_pool_runs_jobs_fifo(void)
{
    fifo_t f;
    int i;
    memset(&f, 0, sizeof f);
    CHECK_EQ(asyncio_executor_new(&f.ex, 1), 0);
    CHECK_EQ(run_virtual(fifo_main, &f, NULL), 0);
    CHECK_EQ(norder, 20);
    for (i = 0; i < 20; i++)
        CHECK_EQ(order[i], i);
    CHECK_EQ(asyncio_executor_shutdown(f.ex), 0);
}

/* A worker left idle leaves; threads come back on demand; the limit
   holds; shrinking the limit sends extra threads away. */
void test_thread_pool_grows_on_demand_and_idle_threads_leave(void)
{
    asyncio_executor *ex;
    asyncio_executor_stats_t st;
    asyncio_loop loop;
    asyncio_work w[8];
    asyncio_future *futs[8];
    asyncio_gather_t g;
    int i, tries;
    vloop_init(&loop);
    CHECK_EQ(asyncio_executor_new(&ex, 3), 0);
    CHECK_EQ(asyncio_executor_configure(ex, 3, 0.05), 0);
    for (i = 0; i < 8; i++)
        futs[i] = asyncio_run_in_executor(&loop, ex, &w[i], add_one, (void *)(intptr_t)i, NULL);
    asyncio_executor_stats(ex, &st);
    CHECK(st.threads >= 1 && st.threads <= 3);
    CHECK_EQ(asyncio_gather(&g, &loop, futs, 8, 0), 0);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &g.fut), 0);
    for (tries = 0; tries < 400; tries++) { /* idle for 50 ms, then gone */
        asyncio_executor_stats(ex, &st);
        if (st.threads == 0)
            break;
        pause_ms(5);
    }
    CHECK_EQ(st.threads, 0);
    CHECK_EQ(st.completed, 8);
    futs[0] = asyncio_run_in_executor(&loop, ex, &w[0], add_one, (void *)1, NULL);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, futs[0]), 0);
    CHECK_EQ(futs[0]->u.value.i, 2);
    CHECK_EQ(asyncio_executor_shutdown(ex), 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* Cancel races completion: whatever the timing, each job's outcome
   reaches its future or its discard, exactly one of the two, and a job
   removed before it started never runs. */
static long ran, discarded_ran, discarded_unrun;
static void count_discard(void *arg, asyncio_outcome *out)
{
    (void)arg;
    if (out->err == ASYNCIO_ECANCELLED)
        __atomic_add_fetch(&discarded_unrun, 1, __ATOMIC_SEQ_CST);
    else
        __atomic_add_fetch(&discarded_ran, 1, __ATOMIC_SEQ_CST);
}
static int count_run(void *arg, asyncio_outcome *out)
{
    int spin = (int)(intptr_t)arg;
    volatile int i;
    for (i = 0; i < spin; i++)
        ;
    __atomic_add_fetch(&ran, 1, __ATOMIC_SEQ_CST);
    out->value.i = 1;
    return 0;
}

typedef struct {
    asyncio_coro co;
    asyncio_work w[4];
    asyncio_future *fut[4];
    long round, delivered, cancelled;
    int i, yields, rc;
} race_t;

static int race_main(asyncio_task *self, void *frame)
{
    race_t *f = (race_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->round = 0; f->round < 2500; f->round++) {
        for (f->i = 0; f->i < 4; f->i++)
            f->fut[f->i] = asyncio_run_in_executor(ASYNCIO_LOOP(), NULL, &f->w[f->i], count_run,
                                                   (void *)(intptr_t)(f->round % 7 * 300), count_discard);
        for (f->yields = (int)(f->round % 5); f->yields > 0; f->yields--) {
            ASYNCIO_YIELD();
        }
        for (f->i = 0; f->i < 4; f->i++)
            asyncio_future_cancel(f->fut[f->i]);
        for (f->i = 0; f->i < 4; f->i++) {
            ASYNCIO_AWAIT_RC(f->rc, f->fut[f->i]);
            if (f->rc == 0) {
                CHECK_EQ(ASYNCIO_RESULT().i, 1);
                f->delivered++;
            } else {
                CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
                f->cancelled++;
            }
        }
    }
    ASYNCIO_END();
}

void test_thread_cancel_races_completion_10000_rounds(void)
{
    race_t f;
    asyncio_config cfg;
    memset(&f, 0, sizeof f);
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    CHECK_EQ(asyncio_run_config(&cfg, race_main, &f, NULL), 0);
    /* asyncio_run waited for the jobs still running */
    CHECK_EQ(f.delivered + f.cancelled, 10000);
    CHECK_EQ(f.delivered + discarded_ran + discarded_unrun, 10000);
    CHECK_EQ(ran, f.delivered + discarded_ran);
}

/* Loop close waits for the jobs it queued, queued and running alike (as
   shutdown_default_executor); asyncio_run's cancellation removes the
   queued jobs of its cancelled tasks (never run) and waits for the
   running one. */
static long slow_runs;
static int slow_job(void *arg, asyncio_outcome *out)
{
    (void)arg;
    (void)out;
    pause_ms(30);
    __atomic_add_fetch(&slow_runs, 1, __ATOMIC_SEQ_CST);
    return 0;
}

typedef struct {
    asyncio_coro co;
    asyncio_executor *ex;
    asyncio_work w;
} await_slow_t;
static int await_slow(asyncio_task *self, void *frame)
{
    await_slow_t *f = (await_slow_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT(asyncio_run_in_executor(ASYNCIO_LOOP(), f->ex, &f->w, slow_job, NULL, count_discard));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    await_slow_t kids[4];
    int i;
} leave_early_t;
static int leave_early(asyncio_task *self, void *frame)
{
    leave_early_t *f = (leave_early_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 4; f->i++)
        asyncio_create_task(ASYNCIO_LOOP(), NULL, await_slow, &f->kids[f->i]);
    ASYNCIO_YIELD(); /* the first job starts; the other three wait */
    pause_ms(5);
    ASYNCIO_END(); /* asyncio_run cancels the four awaiters */
}

void test_thread_loop_close_waits_for_its_jobs(void)
{
    asyncio_loop loop;
    asyncio_executor *ex;
    asyncio_work w[4];
    leave_early_t le;
    int i;
    CHECK_EQ(asyncio_executor_new(&ex, 1), 0);
    vloop_init(&loop);
    for (i = 0; i < 4; i++) /* nobody awaits them */
        asyncio_run_in_executor(&loop, ex, &w[i], slow_job, NULL, NULL);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(slow_runs, 4);
    /* asyncio_run */
    slow_runs = 0;
    memset(&le, 0, sizeof le);
    for (i = 0; i < 4; i++)
        le.kids[i].ex = ex;
    CHECK_EQ(run_virtual(leave_early, &le, NULL), 0);
    CHECK_EQ(slow_runs, 1);
    CHECK_EQ(discarded_ran, 1);
    CHECK_EQ(discarded_unrun, 3);
    CHECK_EQ(asyncio_executor_shutdown(ex), 0);
}

/* On the virtual clock work on threads takes no virtual time: the loop
   waits for the jobs before it moves the clock. */
typedef struct {
    asyncio_coro co;
    asyncio_work w;
    double t0;
} vjob_t;
static int vjob(asyncio_task *self, void *frame)
{
    vjob_t *f = (vjob_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->w, slow_job, NULL));
    CHECK(asyncio_loop_time(ASYNCIO_LOOP()) == f->t0);
    ASYNCIO_SLEEP(1);
    CHECK(asyncio_loop_time(ASYNCIO_LOOP()) == f->t0 + 1);
    ASYNCIO_END();
}
void test_thread_jobs_take_no_virtual_time(void)
{
    vjob_t f;
    CHECK_EQ(run_virtual(vjob, &f, NULL), 0);
}

/* ---- run_coroutine_threadsafe ------------------------------------------ */
static asyncio_loop rloop;
static pthread_t rthread;
static void *run_loop_forever(void *arg)
{
    (void)arg;
    CHECK_EQ(asyncio_loop_run_forever(&rloop), 0);
    return NULL;
}
static void start_loop_thread(void)
{
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    CHECK_EQ(asyncio_loop_init(&rloop, &cfg), 0);
    asyncio_loop_ref(&rloop);
    CHECK_EQ(pthread_create(&rthread, NULL, run_loop_forever, NULL), 0);
}
static void stop_loop_thread(void)
{
    asyncio_loop_unref(&rloop);
    pthread_join(rthread, NULL);
}

typedef struct remote_s {
    asyncio_coro co;
    double sleep;
    int mode, rc;
    asyncio_remote inner;
    struct remote_s *inner_frame;
} remote_t;

static int remote_coro(asyncio_task *self, void *frame)
{
    remote_t *f = (remote_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP_RC(f->rc, f->sleep);
    if (f->mode == 1)
        ASYNCIO_RAISE(ASYNCIO_EUSER - 1, "boom");
    if (f->mode == 2) /* swallow a cancellation */
        ASYNCIO_RETURN(asyncio_int(7));
    if (f->mode == 3) { /* from the loop's own thread: waiting would deadlock */
        CHECK_EQ(asyncio_run_coroutine_threadsafe(&f->inner, ASYNCIO_LOOP(), remote_coro, f->inner_frame), 0);
        CHECK_EQ(asyncio_remote_result(&f->inner, -1, NULL), -EDEADLK);
    }
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_RETURN(asyncio_int(42));
    ASYNCIO_END();
}

void test_thread_run_coroutine_threadsafe(void)
{
    remote_t f, g;
    asyncio_remote r;
    asyncio_value v;
    start_loop_thread();
    /* a result */
    memset(&f, 0, sizeof f);
    f.sleep = 0.01;
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r, &rloop, remote_coro, &f), 0);
    CHECK_EQ(asyncio_remote_result(&r, -1, &v), 0);
    CHECK_EQ(v.i, 42);
    CHECK(asyncio_remote_done(&r));
    CHECK(asyncio_remote_errmsg(&r) == NULL);
    CHECK_EQ(asyncio_remote_cancel(&r), 0); /* finished: False */
    /* an error */
    f.mode = 1;
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r, &rloop, remote_coro, &f), 0);
    CHECK_EQ(asyncio_remote_result(&r, 5, &v), ASYNCIO_EUSER - 1);
    CHECK_STR(asyncio_remote_errmsg(&r), "boom");
    /* a timeout, then a cancellation */
    f.mode = 0;
    f.sleep = 1000;
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r, &rloop, remote_coro, &f), 0);
    CHECK_EQ(asyncio_remote_result(&r, 0.02, &v), ASYNCIO_ETIMEDOUT);
    CHECK_EQ(asyncio_remote_result(&r, 0, &v), ASYNCIO_ETIMEDOUT);
    CHECK(!asyncio_remote_done(&r));
    CHECK_EQ(asyncio_remote_cancel(&r), 1);
    CHECK_EQ(asyncio_remote_cancel(&r), 1); /* cancelled already: True */
    CHECK_EQ(asyncio_remote_result(&r, -1, &v), ASYNCIO_ECANCELLED);
    CHECK_EQ(asyncio_remote_cancel(&r), 1);
    /* cancelled is cancelled, even if the coroutine swallows it (Python) */
    f.mode = 2;
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r, &rloop, remote_coro, &f), 0);
    pause_ms(10);
    CHECK_EQ(asyncio_remote_cancel(&r), 1);
    CHECK_EQ(asyncio_remote_result(&r, -1, &v), ASYNCIO_ECANCELLED);
    /* waiting on the loop's own thread */
    f.mode = 3;
    f.sleep = 0;
    memset(&g, 0, sizeof g);
    f.inner_frame = &g;
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r, &rloop, remote_coro, &f), 0);
    CHECK_EQ(asyncio_remote_result(&r, -1, &v), 0);
    CHECK_EQ(asyncio_remote_result(&f.inner, -1, &v), 0); /* from here it is fine */
    CHECK_EQ(v.i, 42);
    CHECK_EQ(asyncio_remote_result(&r, NAN, &v), -EINVAL);
    stop_loop_thread();
    CHECK_EQ(asyncio_loop_close(&rloop), 0);
    /* bad input, a closed loop */
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r, &rloop, NULL, &f), -EINVAL);
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r, &rloop, remote_coro, &f), ASYNCIO_ELOOPCLOSED);
    CHECK(asyncio_remote_done(&r));
    CHECK_EQ(asyncio_remote_result(&r, -1, &v), ASYNCIO_ELOOPCLOSED);
}

/* A loop that closes with remotes unfinished (or not yet started)
   answers them: the waiting thread never hangs. */
static void *wait_remote(void *arg)
{
    asyncio_remote *r = (asyncio_remote *)arg;
    return (void *)(intptr_t)asyncio_remote_result(r, -1, NULL);
}
void test_thread_remote_answered_when_loop_closes(void)
{
    remote_t f1, f2;
    asyncio_remote r1, r2;
    pthread_t th1, th2;
    void *rc1, *rc2;
    memset(&f1, 0, sizeof f1);
    memset(&f2, 0, sizeof f2);
    f1.sleep = f2.sleep = 1000;
    asyncio_future started;
    vloop_init(&rloop);
    asyncio_future_init(&started, &rloop);
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r1, &rloop, remote_coro, &f1), 0);
    CHECK_EQ(asyncio_call_soon_threadsafe(&rloop, NULL, complete_cb, &started), 0);
    /* r1 starts, r2 is posted after the loop stopped */
    CHECK_EQ(asyncio_loop_run_until_complete(&rloop, &started), 0);
    CHECK_EQ(asyncio_run_coroutine_threadsafe(&r2, &rloop, remote_coro, &f2), 0);
    CHECK_EQ(pthread_create(&th1, NULL, wait_remote, &r1), 0);
    CHECK_EQ(pthread_create(&th2, NULL, wait_remote, &r2), 0);
    pause_ms(10);
    CHECK_EQ(asyncio_loop_close(&rloop), 1); /* r1's task: reported as pending */
    pthread_join(th1, &rc1);
    pthread_join(th2, &rc2);
    CHECK_EQ((intptr_t)rc1, ASYNCIO_ELOOPCLOSED);
    CHECK_EQ((intptr_t)rc2, ASYNCIO_ELOOPCLOSED);
    CHECK_STR(asyncio_remote_errmsg(&r1), "the loop closed before the coroutine finished");
}

/* ---- name resolution off the loop -------------------------------------- */
typedef struct {
    asyncio_coro co;
    asyncio_resolve_t rs;
    struct sockaddr_in sin;
    int rc;
} resolve_t;

static int resolve_main(asyncio_task *self, void *frame)
{
    resolve_t *f = (resolve_t *)frame;
    static const struct addrinfo stream = {0, AF_INET, SOCK_STREAM, 0, 0, NULL, NULL, NULL};
    struct addrinfo *list;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_resolve, asyncio_getaddrinfo(&f->rs, "localhost", "8080", &stream));
    list = (struct addrinfo *)ASYNCIO_RESULT().p;
    CHECK(list != NULL);
    CHECK_EQ(list->ai_family, AF_INET);
    CHECK_EQ(ntohs(((struct sockaddr_in *)(void *)list->ai_addr)->sin_port), 8080);
    CHECK_EQ(ntohl(((struct sockaddr_in *)(void *)list->ai_addr)->sin_addr.s_addr), INADDR_LOOPBACK);
    freeaddrinfo(list);
    /* a name that does not resolve: a clear error naming it */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_resolve, asyncio_getaddrinfo(&f->rs, "nosuch.invalid", "80", NULL));
    CHECK_EQ(f->rc, ASYNCIO_ERESOLVE);
    CHECK(strstr(ASYNCIO_ERRMSG(), "cannot resolve 'nosuch.invalid' (service '80'): ") == ASYNCIO_ERRMSG());
    CHECK_STR(asyncio_err_name(f->rc), "ERESOLVE");
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_resolve, asyncio_getaddrinfo(&f->rs, NULL, NULL, NULL));
    CHECK_EQ(f->rc, -EINVAL);
    CHECK_STR(ASYNCIO_ERRMSG(), "getaddrinfo: no host and no service");
    /* getnameinfo */
    memset(&f->sin, 0, sizeof f->sin);
    f->sin.sin_family = AF_INET;
    f->sin.sin_port = htons(8080);
    f->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASYNCIO_AWAIT_CORO(asyncio_resolve,
                       asyncio_getnameinfo(&f->rs, &f->sin, sizeof f->sin, NI_NUMERICHOST | NI_NUMERICSERV));
    CHECK_STR(f->rs.hostname, "127.0.0.1");
    CHECK_STR(f->rs.servname, "8080");
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_resolve, asyncio_getnameinfo(&f->rs, &f->sin, 0, 0));
    CHECK_EQ(f->rc, -EINVAL);
    ASYNCIO_END();
}

void test_thread_getaddrinfo_and_getnameinfo_on_the_executor(void)
{
    resolve_t f;
    CHECK_EQ(run_virtual(resolve_main, &f, NULL), 0);
}

/* A lookup cancelled at any point leaks nothing (LeakSanitizer) and is
   either answered or cancelled. */
typedef struct {
    asyncio_coro co;
    asyncio_resolve_t rs;
} lookup_t;
static int lookup(asyncio_task *self, void *frame)
{
    lookup_t *f = (lookup_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_resolve, asyncio_getaddrinfo(&f->rs, "localhost", "80", NULL));
    freeaddrinfo((struct addrinfo *)ASYNCIO_RESULT().p);
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    lookup_t l;
    asyncio_task t;
    int round, yields, rc, answered, cancelled;
} lookups_t;
static int cancel_lookups(asyncio_task *self, void *frame)
{
    lookups_t *f = (lookups_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->round = 0; f->round < 300; f->round++) {
        asyncio_create_task(ASYNCIO_LOOP(), &f->t, lookup, &f->l);
        for (f->yields = f->round % 4; f->yields > 0; f->yields--) {
            ASYNCIO_YIELD();
        }
        asyncio_task_cancel(&f->t);
        ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
        if (f->rc == 0)
            f->answered++;
        else {
            CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
            f->cancelled++;
        }
    }
    CHECK(f->cancelled > 0);
    ASYNCIO_END();
}
void test_thread_cancelled_lookups_leak_nothing(void)
{
    lookups_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_virtual(cancel_lookups, &f, NULL), 0);
}

/* ---- Happy Eyeballs ---------------------------------------------------- */
/* A listener that never answers: its accept queue is full, so the kernel
   drops further SYNs and a connect stays in progress. */
typedef struct {
    int fd, port, family, nfill, fill[8];
} blackhole_t;

static int listener(int family, int backlog, int *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&ss, 0, sizeof ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    CHECK(fd >= 0);
    CHECK_EQ(bind(fd, (struct sockaddr *)&ss, len), 0);
    CHECK_EQ(listen(fd, backlog), 0);
    len = sizeof ss;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void fill_addr(struct sockaddr_storage *ss, int family, int port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((unsigned short)port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((unsigned short)port);
        a->sin6_addr = in6addr_loopback;
    }
}

static void blackhole_open(blackhole_t *b, int family)
{
    struct sockaddr_storage ss;
    b->family = family;
    b->fd = listener(family, 0, &b->port);
    fill_addr(&ss, family, b->port);
    /* fill the queue until a connect is left hanging */
    for (b->nfill = 0; b->nfill < 8; b->nfill++) {
        struct pollfd p;
        int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        b->fill[b->nfill] = fd;
        if (connect(fd, (struct sockaddr *)&ss, family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == 0)
            continue;
        p.fd = fd;
        p.events = POLLOUT;
        if (poll(&p, 1, 100) == 0) {
            b->nfill++;
            return;
        }
    }
    CHECK(0); /* the kernel accepted everything */
}

static void blackhole_close(blackhole_t *b)
{
    int i;
    for (i = 0; i < b->nfill; i++)
        close(b->fill[i]);
    close(b->fd);
}

typedef struct {
    asyncio_coro co;
    asyncio_connect_t oc;
    struct addrinfo ai[4];
    struct sockaddr_storage addr[4];
    double delay, t0, elapsed;
    int n, rc, peer_port, peer_family;
} he_t;

static void he_add(he_t *f, int family, int port)
{
    struct addrinfo *ai = &f->ai[f->n];
    fill_addr(&f->addr[f->n], family, port);
    memset(ai, 0, sizeof *ai);
    ai->ai_family = family;
    ai->ai_socktype = SOCK_STREAM;
    ai->ai_addr = (struct sockaddr *)&f->addr[f->n];
    ai->ai_addrlen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (f->n)
        f->ai[f->n - 1].ai_next = ai;
    f->n++;
}

static int he_connect(asyncio_task *self, void *frame)
{
    he_t *f = (he_t *)frame;
    asyncio_stream *s;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection,
                          asyncio_connect_happy_eyeballs(asyncio_connect_addrinfo(&f->oc, f->ai), f->delay));
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->t0;
    if (f->rc < 0) {
        trace("%s %s", asyncio_err_name(f->rc), ASYNCIO_ERRMSG());
        ASYNCIO_RETURN(asyncio_int(0));
    }
    s = (asyncio_stream *)ASYNCIO_RESULT().p;
    CHECK_EQ(getpeername(asyncio_stream_fd(s), (struct sockaddr *)&ss, &len), 0);
    f->peer_family = ss.ss_family;
    f->peer_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                 : ((struct sockaddr_in6 *)&ss)->sin6_port);
    ASYNCIO_AWAIT(asyncio_stream_close(s));
    ASYNCIO_END();
}

static int open_fds(void)
{
    int fd, n = 0;
    for (fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
}

void test_thread_happy_eyeballs_loopback(void)
{
    blackhole_t hole4, hole6;
    he_t f;
    int good4, good6, good4_port, good6_port, refused_port, fds;
    blackhole_open(&hole4, AF_INET);
    blackhole_open(&hole6, AF_INET6);
    good4 = listener(AF_INET, 16, &good4_port);
    good6 = listener(AF_INET6, 16, &good6_port);
    {   /* the kqueue emulation frees a closed loop's descriptors at the
           next kqueue(): count in that steady state */
        asyncio_loop warm;
        vloop_init(&warm);
        asyncio_loop_close(&warm);
    }
    fds = open_fds();

    /* the first address never answers: the second starts after the delay
       and wins; the first is closed */
    memset(&f, 0, sizeof f);
    f.delay = 0.25;
    he_add(&f, AF_INET, hole4.port);
    he_add(&f, AF_INET, good4_port);
    CHECK_EQ(run_virtual(he_connect, &f, NULL), 0);
    CHECK_EQ(f.rc, 0);
    CHECK_EQ(f.peer_port, good4_port);
    CHECK(fabs(f.elapsed - 0.25) < 1e-9);
    CHECK_EQ(open_fds(), fds);

    /* families alternate (RFC 8305): v6 hole, v6 good, v4 good is tried
       as v6 hole, v4 good, v6 good */
    memset(&f, 0, sizeof f);
    f.delay = 0.1;
    he_add(&f, AF_INET6, hole6.port);
    he_add(&f, AF_INET6, good6_port);
    he_add(&f, AF_INET, good4_port);
    CHECK_EQ(run_virtual(he_connect, &f, NULL), 0);
    CHECK_EQ(f.rc, 0);
    CHECK_EQ(f.peer_family, AF_INET);
    CHECK_EQ(f.peer_port, good4_port);
    CHECK(fabs(f.elapsed - 0.1) < 1e-9);
    CHECK_EQ(open_fds(), fds);

    /* a refused first address starts the next at once, delay or none */
    refused_port = good4_port;
    close(good4); /* now nobody listens there */
    memset(&f, 0, sizeof f);
    f.delay = -1;
    he_add(&f, AF_INET, refused_port);
    he_add(&f, AF_INET6, good6_port);
    CHECK_EQ(run_virtual(he_connect, &f, NULL), 0);
    CHECK_EQ(f.rc, 0);
    CHECK_EQ(f.peer_family, AF_INET6);
    CHECK(f.elapsed == 0);

    /* every address refused: the error, once */
    memset(&f, 0, sizeof f);
    f.delay = 0.25;
    he_add(&f, AF_INET, refused_port);
    he_add(&f, AF_INET, refused_port);
    trace_reset();
    CHECK_EQ(run_virtual(he_connect, &f, NULL), 0);
    CHECK_STR(trace_get(), "ECONNREFUSED connect to the given addresses: Connection refused");
    CHECK_EQ(open_fds(), fds - 1);

    blackhole_close(&hole4);
    blackhole_close(&hole6);
    close(good6);
}

/* open_connection with a host name: resolved on the executor */
typedef struct {
    asyncio_coro co;
    asyncio_connect_t oc;
    int port, rc;
} byname_t;
static int connect_by_name(asyncio_task *self, void *frame)
{
    byname_t *f = (byname_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "localhost", f->port));
    ASYNCIO_AWAIT(asyncio_stream_close((asyncio_stream *)ASYNCIO_RESULT().p));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection, asyncio_connect_tcp(&f->oc, "nosuch.invalid", f->port));
    CHECK_EQ(f->rc, ASYNCIO_ERESOLVE);
    CHECK(strstr(ASYNCIO_ERRMSG(), "nosuch.invalid") != NULL);
    ASYNCIO_END();
}
void test_thread_open_connection_resolves_names_off_the_loop(void)
{
    byname_t f;
    int fd = listener(AF_INET, 16, &f.port);
    CHECK_EQ(run_virtual(connect_by_name, &f, NULL), 0);
    close(fd);
}

/* ---- a loop per thread ------------------------------------------------- */
typedef struct {
    asyncio_conn conn;
    asyncio_read_t rd;
} echo_id_t;
static int serve_id(asyncio_task *self, void *frame)
{
    echo_id_t *f = (echo_id_t *)frame;
    ASYNCIO_BEGIN(self, &f->conn);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->conn.stream));
    /* which loop answered */
    asyncio_stream_write(f->conn.stream, ASYNCIO_LOOP() == &xloop ? "A\n" : "B\n", 2);
    ASYNCIO_AWAIT(asyncio_stream_drain(f->conn.stream));
    ASYNCIO_END();
}

typedef struct {
    asyncio_loop *loop;
    asyncio_server srv;
    int port, rc, sig;
    pthread_t th;
    sem_t ready;
} shard_t;

static void *run_shard(void *arg)
{
    shard_t *s = (shard_t *)arg;
    asyncio_server_options opts;
    memset(&opts, 0, sizeof opts);
    opts.reuse_port = 1;
    s->rc = asyncio_start_server_opts(&s->srv, s->loop, serve_id, sizeof(echo_id_t), "127.0.0.1", s->port, &opts);
    if (s->rc == 0)
        s->sig = asyncio_add_signal_handler(s->loop, SIGUSR2, complete_cb, NULL);
    sem_post(&s->ready);
    if (s->rc == 0)
        asyncio_loop_run_forever(s->loop);
    return NULL;
}

static void stop_cb(asyncio_loop *loop, void *arg)
{
    shard_t *s = (shard_t *)arg;
    asyncio_server_close(&s->srv);
    asyncio_loop_stop(loop);
}

void test_thread_two_loops_serve_one_port(void)
{
    static asyncio_loop other;
    shard_t a, b;
    struct sockaddr_storage ss;
    int i, got_a = 0, got_b = 0;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK_EQ(asyncio_loop_init(&xloop, NULL), 0);
    CHECK_EQ(asyncio_loop_init(&other, NULL), 0);
    a.loop = &xloop;
    b.loop = &other;
    sem_init(&a.ready, 0, 0);
    sem_init(&b.ready, 0, 0);
    CHECK_EQ(pthread_create(&a.th, NULL, run_shard, &a), 0);
    sem_wait(&a.ready);
    CHECK_EQ(a.rc, 0);
    b.port = asyncio_server_port(&a.srv);
    CHECK_EQ(pthread_create(&b.th, NULL, run_shard, &b), 0);
    sem_wait(&b.ready);
    CHECK_EQ(b.rc, 0);
    CHECK_EQ(asyncio_server_port(&b.srv), b.port);
    fill_addr(&ss, AF_INET, b.port);
    for (i = 0; i < 64; i++) {
        char reply[4] = "";
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        CHECK_EQ(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
        CHECK_EQ(write(fd, "hi\n", 3), 3);
        CHECK_EQ(read(fd, reply, sizeof reply), 2);
        if (reply[0] == 'A')
            got_a++;
        else
            got_b++;
        close(fd);
    }
    CHECK_EQ(got_a + got_b, 64);
    CHECK(got_a > 0 && got_b > 0); /* the kernel spread them */
    /* signals: one loop owns them, the other was refused */
    CHECK(a.sig == 0 || b.sig == 0);
    CHECK_EQ(a.sig + b.sig, -EBUSY);
    CHECK_EQ(asyncio_call_soon_threadsafe(&xloop, NULL, stop_cb, &a), 0);
    CHECK_EQ(asyncio_call_soon_threadsafe(&other, NULL, stop_cb, &b), 0);
    pthread_join(a.th, NULL);
    pthread_join(b.th, NULL);
    CHECK_EQ(asyncio_loop_close(&xloop), 0);
    CHECK_EQ(asyncio_loop_close(&other), 0);
}
