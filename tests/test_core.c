/* Coroutines, futures, tasks and the loop's ordering, pinned against what
   CPython 3.11 prints for the same programs (see the comments). */
#define _GNU_SOURCE 1
#include "tests.h"
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- coroutines: inline children, results, errors, FINALLY ---- */
typedef struct { asyncio_coro co; int n; } sq_t;
static int sq(asyncio_task *self, void *frame)
{
    sq_t *f = (sq_t *)frame;
    ASYNCIO_BEGIN(self, f);
    if (f->n < 0)
        ASYNCIO_RAISE(ASYNCIO_EUSER - 1, "negative");
    ASYNCIO_YIELD();
    ASYNCIO_RETURN(asyncio_int(f->n * f->n));
    ASYNCIO_END();
}

typedef struct { asyncio_coro co; sq_t child; long long x, y; int rc; } sqmain_t;
static int sqmain(asyncio_task *self, void *frame)
{
    sqmain_t *f = (sqmain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->child.n = 10;
    ASYNCIO_AWAIT_CORO(sq, &f->child);
    f->x = ASYNCIO_RESULT().i;
    f->child.n = 5;
    ASYNCIO_AWAIT_CORO(sq, &f->child);
    f->y = ASYNCIO_RESULT().i;
    f->child.n = -1;
    ASYNCIO_AWAIT_CORO_RC(f->rc, sq, &f->child);
    trace("caught=%d:%s", f->rc == ASYNCIO_EUSER - 1, ASYNCIO_ERRMSG());
    f->child.n = -2;
    ASYNCIO_AWAIT_CORO(sq, &f->child); /* propagates */
    trace("unreachable");
    ASYNCIO_FINALLY;
    trace("finally");
    ASYNCIO_END();
}

void test_coro_inline_await_and_errors(void)
{
    sqmain_t m;
    asyncio_outcome out;
    memset(&m, 0, sizeof m);
    CHECK_EQ(asyncio_run(sqmain, &m, &out), ASYNCIO_EUSER - 1);
    CHECK_EQ(m.x, 100);
    CHECK_EQ(m.y, 25);
    CHECK_STR(out.msg, "negative");
    CHECK_STR(trace_get(), "caught=1:negative finally");
}

typedef struct { asyncio_coro co; int mode; } fin_t;
static int fin(asyncio_task *self, void *frame)
{
    fin_t *f = (fin_t *)frame;
    ASYNCIO_BEGIN(self, f);
    if (f->mode == 1)
        ASYNCIO_RETURN(asyncio_int(7));
    if (f->mode == 2)
        ASYNCIO_RAISE(ASYNCIO_EUSER, NULL);
    ASYNCIO_SLEEP(100);
    trace("not-reached");
    ASYNCIO_FINALLY;
    trace("finally%d", f->mode);
    ASYNCIO_END();
}

void test_finally_runs_on_return_error_and_cancel(void)
{
    asyncio_loop loop;
    asyncio_task t[3];
    fin_t f[3];
    int i;
    vloop_init(&loop);
    for (i = 0; i < 3; i++) {
        f[i].mode = i + 1;
        asyncio_create_task(&loop, &t[i], fin, &f[i]);
    }
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t[1].fut), ASYNCIO_EUSER);
    CHECK_EQ(asyncio_task_cancel(&t[2]), 1);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t[2].fut), ASYNCIO_ECANCELLED);
    CHECK(asyncio_future_cancelled(&t[2].fut));
    CHECK_STR(asyncio_future_errmsg(&t[1].fut), "application error");
    CHECK_STR(trace_get(), "finally1 finally2 finally3");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* labelled suspension points: two awaits on one line */
typedef struct { asyncio_coro co; int i; } two_t;
static int two(asyncio_task *self, void *frame)
{
    two_t *f = (two_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_YIELD_AT(100001); ASYNCIO_YIELD_AT(100002);
        trace("%d", f->i);
    }
    ASYNCIO_RETURN(asyncio_int(f->i));
    ASYNCIO_END();
}

void test_explicit_labels_and_loops_in_bodies(void)
{
    two_t f;
    asyncio_outcome out;
    CHECK_EQ(asyncio_run(two, &f, &out), 0);
    CHECK_EQ(out.value.i, 3);
    CHECK_STR(trace_get(), "0 1 2");
}

#if ASYNCIO_LABELS
/* the labels flavour lets a body suspend inside its own switch */
static int sw(asyncio_task *self, void *frame)
{
    two_t *f = (two_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 2; f->i++)
        switch (f->i) {
        case 0: { /* a case label needs a statement: the braces give one */
            ASYNCIO_SLEEP(1);
            trace("case0");
            break;
        }
        default: {
            ASYNCIO_SLEEP(2);
            trace("default");
        }
        }
    ASYNCIO_END();
}
void test_labels_flavour_suspends_inside_switch(void)
{
    two_t f;
    CHECK_EQ(run_virtual(sw, &f, NULL), 0);
    CHECK_STR(trace_get(), "case0 default");
}
#else
void test_labels_flavour_suspends_inside_switch(void) {}
#endif

/* ---- futures ---- */
static void cb(asyncio_future *fut, void *arg)
{
    (void)fut;
    trace("%s", (const char *)arg);
}
static void soon(asyncio_loop *loop, void *arg)
{
    (void)loop;
    trace("%s", (const char *)arg);
}

void test_future_states_and_misuse(void)
{
    asyncio_loop loop;
    asyncio_future f;
    asyncio_value v;
    vloop_init(&loop);
    asyncio_future_init(&f, &loop);
    CHECK(!asyncio_future_done(&f));
    CHECK_EQ(asyncio_future_result(&f, &v), ASYNCIO_EINVALIDSTATE);
    CHECK_EQ(asyncio_future_error(&f), ASYNCIO_EINVALIDSTATE);
    CHECK_EQ(asyncio_future_set_error(&f, 5, "positive"), -EINVAL);
    CHECK(!asyncio_future_done(&f));
    CHECK_EQ(asyncio_future_set_result(&f, asyncio_int(3)), 0);
    CHECK_EQ(asyncio_future_set_result(&f, asyncio_int(4)), ASYNCIO_EINVALIDSTATE);
    CHECK_EQ(asyncio_future_set_error(&f, -EIO, NULL), ASYNCIO_EINVALIDSTATE);
    CHECK_EQ(asyncio_future_cancel(&f), 0); /* done: False */
    CHECK_EQ(asyncio_future_result(&f, &v), 0);
    CHECK_EQ(v.i, 3);
    CHECK(!asyncio_future_cancelled(&f));

    asyncio_future_init(&f, &loop);
    CHECK_EQ(asyncio_future_set_error(&f, -EIO, NULL), 0);
    CHECK_EQ(asyncio_future_result(&f, &v), -EIO);
    CHECK_STR(asyncio_future_errmsg(&f), strerror(EIO));

    asyncio_future_init(&f, &loop);
    CHECK_EQ(asyncio_future_cancel(&f), 1);
    CHECK(asyncio_future_cancelled(&f) && asyncio_future_done(&f));
    CHECK_EQ(asyncio_future_result(&f, &v), ASYNCIO_ECANCELLED);
    CHECK_EQ(asyncio_future_set_result(&f, v), ASYNCIO_EINVALIDSTATE);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

void test_done_callbacks_run_from_loop_in_order_once(void)
{
    asyncio_loop loop;
    asyncio_future f, g;
    vloop_init(&loop);
    asyncio_future_init(&f, &loop);
    asyncio_future_init(&g, &loop);
    CHECK_EQ(asyncio_future_add_done_callback(&f, cb, "cb1"), 0);
    CHECK_EQ(asyncio_future_add_done_callback(&f, cb, "cb2"), 0);
    CHECK_EQ(asyncio_future_add_done_callback(&f, cb, "cb3"), 0);
    CHECK_EQ(asyncio_future_add_done_callback(&f, cb, "gone"), 0);
    CHECK_EQ(asyncio_future_remove_done_callback(&f, cb, "gone"), 1);
    CHECK_EQ(asyncio_future_remove_done_callback(&f, cb, "never-added"), 0);
    asyncio_call_soon(&loop, NULL, soon, "soon1");
    asyncio_future_set_result(&f, asyncio_int(1));
    trace("set");
    asyncio_call_soon(&loop, NULL, soon, "soon2");
    asyncio_future_set_result(&g, asyncio_int(2));
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &g), 0);
    asyncio_future_add_done_callback(&f, cb, "late"); /* on a done future: soon */
    trace("added-late");
    asyncio_call_soon(&loop, NULL, soon, "stop");
    asyncio_loop_run_forever(&loop);
    CHECK_STR(trace_get(), "set soon1 cb1 cb2 cb3 soon2 added-late late stop");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* CPython 3.11 prints: after-set soon1 cb1 w1:7 cb2 soon2 main-resumed end */
typedef struct { asyncio_coro co; asyncio_future *f; const char *name; } waiter_t;
static int waiter(asyncio_task *self, void *frame)
{
    waiter_t *w = (waiter_t *)frame;
    ASYNCIO_BEGIN(self, w);
    ASYNCIO_AWAIT(w->f);
    trace("%s:%lld", w->name, ASYNCIO_RESULT().i);
    ASYNCIO_END();
}
typedef struct { asyncio_coro co; asyncio_future f; asyncio_task t1; waiter_t w1; } wake_t;
static int wake_main(asyncio_task *self, void *frame)
{
    wake_t *m = (wake_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_future_init(&m->f, ASYNCIO_LOOP());
    asyncio_future_add_done_callback(&m->f, cb, "cb1");
    m->w1.f = &m->f;
    m->w1.name = "w1";
    asyncio_create_task(ASYNCIO_LOOP(), &m->t1, waiter, &m->w1);
    ASYNCIO_YIELD();
    asyncio_future_add_done_callback(&m->f, cb, "cb2");
    asyncio_call_soon(ASYNCIO_LOOP(), NULL, soon, "soon1");
    asyncio_future_set_result(&m->f, asyncio_int(7));
    trace("after-set");
    asyncio_call_soon(ASYNCIO_LOOP(), NULL, soon, "soon2");
    ASYNCIO_YIELD();
    trace("main-resumed");
    ASYNCIO_AWAIT(&m->t1.fut);
    trace("end");
    ASYNCIO_END();
}
void test_completed_future_wakes_awaiters_through_ready_queue(void)
{
    wake_t m;
    CHECK_EQ(asyncio_run(wake_main, &m, NULL), 0);
    CHECK_STR(trace_get(), "after-set soon1 cb1 w1:7 cb2 soon2 main-resumed end");
}

/* ---- tasks ---- */
/* CPython: created xa ya xb yb done */
typedef struct { asyncio_coro co; const char *n; } rr_t;
static int rr(asyncio_task *self, void *frame)
{
    rr_t *f = (rr_t *)frame;
    ASYNCIO_BEGIN(self, f);
    trace("%sa", f->n);
    ASYNCIO_YIELD();
    trace("%sb", f->n);
    ASYNCIO_END();
}
typedef struct { asyncio_coro co; asyncio_task t[2]; rr_t r[2]; asyncio_future *futs[2]; asyncio_gather_t g; } rrmain_t;
static int rrmain(asyncio_task *self, void *frame)
{
    rrmain_t *m = (rrmain_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->r[0].n = "x";
    m->r[1].n = "y";
    m->futs[0] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[0], rr, &m->r[0])->fut;
    m->futs[1] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[1], rr, &m->r[1])->fut;
    trace("created");
    CHECK(asyncio_current_task(ASYNCIO_LOOP()) == self);
    CHECK_EQ(asyncio_all_tasks(ASYNCIO_LOOP(), NULL, 0), 3);
    CHECK_STR(asyncio_task_name(&m->t[0]), "rr");
    asyncio_task_set_name(&m->t[1], "second");
    CHECK_STR(asyncio_task_name(&m->t[1]), "second");
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 2, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    trace("done");
    CHECK_EQ(asyncio_all_tasks(ASYNCIO_LOOP(), NULL, 0), 1);
    ASYNCIO_END();
}
void test_tasks_start_lazily_in_creation_order(void)
{
    rrmain_t m;
    CHECK_EQ(asyncio_run(rrmain, &m, NULL), 0);
    CHECK_STR(trace_get(), "created xa ya xb yb done");
}

void test_cancel_before_first_step_never_runs_body(void)
{
    asyncio_loop loop;
    asyncio_task t;
    fin_t f;
    vloop_init(&loop);
    f.mode = 1;
    asyncio_create_task(&loop, &t, fin, &f);
    CHECK_EQ(asyncio_task_cancel(&t), 1);
    CHECK_EQ(asyncio_task_cancelling(&t), 1);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), ASYNCIO_ECANCELLED);
    CHECK(asyncio_future_cancelled(&t.fut));
    CHECK_STR(trace_get(), ""); /* neither body nor FINALLY ran */
    CHECK_EQ(asyncio_task_cancel(&t), 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* CPython: cancel=True caught r=42 fcancelled=True tcancelled=False cancel-again=False */
typedef struct { asyncio_coro co; asyncio_future *f; int rc; } catcher_t;
static int catcher(asyncio_task *self, void *frame)
{
    catcher_t *c = (catcher_t *)frame;
    ASYNCIO_BEGIN(self, c);
    ASYNCIO_AWAIT_RC(c->rc, c->f);
    if (c->rc == ASYNCIO_ECANCELLED) {
        trace("caught");
        ASYNCIO_RETURN(asyncio_int(42));
    }
    ASYNCIO_END();
}
void test_cancel_at_await_cancels_awaited_future_and_can_be_caught(void)
{
    asyncio_loop loop;
    asyncio_future f;
    asyncio_task t;
    catcher_t c;
    asyncio_value v;
    vloop_init(&loop);
    asyncio_future_init(&f, &loop);
    c.f = &f;
    asyncio_create_task(&loop, &t, catcher, &c);
    asyncio_call_soon(&loop, NULL, soon, "tick");
    asyncio_loop_run_forever(&loop); /* runs the first step, then stalls */
    trace("cancel=%d", asyncio_task_cancel(&t));
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    CHECK_EQ(asyncio_future_result(&t.fut, &v), 0);
    trace("r=%lld fcancelled=%d tcancelled=%d cancel-again=%d", v.i, asyncio_future_cancelled(&f),
          asyncio_future_cancelled(&t.fut), asyncio_task_cancel(&t));
    CHECK_STR(trace_get(), "tick cancel=1 caught r=42 fcancelled=1 tcancelled=0 cancel-again=0");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

typedef struct { asyncio_coro co; int rc; } selfcancel_t;
static int selfcancel(asyncio_task *self, void *frame)
{
    selfcancel_t *f = (selfcancel_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_task_cancel(self); /* delivered at the next await, not now */
    trace("still-running");
    ASYNCIO_SLEEP_RC(f->rc, 5);
    trace("rc=%s t=%g", asyncio_err_name(f->rc), asyncio_loop_time(ASYNCIO_LOOP()));
    ASYNCIO_END();
}
void test_self_cancel_is_delivered_at_next_await(void)
{
    selfcancel_t f;
    CHECK_EQ(run_virtual(selfcancel, &f, NULL), 0);
    CHECK_STR(trace_get(), "still-running rc=ECANCELLED t=0");
}

typedef struct { asyncio_coro co; } await_self_t;
static int await_self(asyncio_task *self, void *frame)
{
    await_self_t *f = (await_self_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT(&self->fut);
    ASYNCIO_END();
}
void test_task_awaiting_itself_fails(void)
{
    await_self_t f;
    CHECK_EQ(asyncio_run(await_self, &f, NULL), -EDEADLK);
}

void test_loop_allocated_tasks_and_free(void)
{
    asyncio_loop loop;
    asyncio_task *t, own;
    sq_t s, s2;
    asyncio_value v;
    vloop_init(&loop);
    s.n = 3;
    t = asyncio_create_task(&loop, NULL, sq, &s);
    CHECK(t != NULL);
    CHECK_EQ(asyncio_task_free(t), ASYNCIO_EINVALIDSTATE);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t->fut), 0);
    CHECK_EQ(asyncio_future_result(&t->fut, &v), 0);
    CHECK_EQ(v.i, 9);
    CHECK_EQ(asyncio_task_free(t), 0);
    s2.n = 1;
    asyncio_create_task(&loop, &own, sq, &s2);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &own.fut), 0);
    CHECK_EQ(asyncio_task_free(&own), -EINVAL);
    /* one left unfreed: closing the loop frees it (LeakSanitizer checks) */
    t = asyncio_create_task(&loop, NULL, sq, &s);
    CHECK(t != NULL);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t->fut), 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* ---- timers and the clock ---- */
void test_timers_equal_deadlines_fire_in_scheduling_order(void)
{
    asyncio_loop loop;
    vloop_init(&loop);
    asyncio_call_later(&loop, NULL, 0.2, soon, "c");
    asyncio_call_later(&loop, NULL, 0.1, soon, "a");
    asyncio_call_later(&loop, NULL, 0.1, soon, "b");
    asyncio_call_at(&loop, NULL, 0.1, soon, "b2");
    asyncio_call_later(&loop, NULL, -5, soon, "neg");
    asyncio_call_soon(&loop, NULL, soon, "soon");
    asyncio_loop_run_forever(&loop);
    CHECK_STR(trace_get(), "soon neg a b b2 c");
    CHECK_EQ(asyncio_loop_time_ns(&loop), 200000000);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

void test_handle_cancel(void)
{
    asyncio_loop loop;
    asyncio_handle h1, h2, h3;
    vloop_init(&loop);
    asyncio_call_later(&loop, &h1, 1, soon, "h1");
    asyncio_call_later(&loop, &h2, 1, soon, "h2");
    asyncio_call_soon(&loop, &h3, soon, "h3");
    CHECK_EQ(asyncio_handle_cancel(&h1), 1);
    CHECK_EQ(asyncio_handle_cancel(&h1), 0);
    CHECK_EQ(asyncio_handle_cancel(&h3), 1);
    asyncio_loop_run_forever(&loop);
    CHECK_EQ(asyncio_handle_cancel(&h2), 0);
    CHECK_STR(trace_get(), "h2");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* Real time is the point here: a timer must never fire before its
   deadline, whatever the rounding; the upper bound is generous. */
typedef struct { asyncio_coro co; int i; long long t0, worst; } early_t;
static int early(asyncio_task *self, void *frame)
{
    early_t *f = (early_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->worst = -1;
    for (f->i = 0; f->i < 20; f->i++) {
        f->t0 = asyncio_loop_time_ns(ASYNCIO_LOOP());
        ASYNCIO_SLEEP(0.0012345);
        {
            long long slept = asyncio_loop_time_ns(ASYNCIO_LOOP()) - f->t0;
            CHECK(slept >= 1234500);
            if (slept > f->worst)
                f->worst = slept;
        }
    }
    ASYNCIO_END();
}
void test_timer_never_fires_early_real_clock(void)
{
    early_t f;
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    cfg.timer_resolution_ns = 1;
    CHECK_EQ(asyncio_run_config(&cfg, early, &f, NULL), 0);
    CHECK(f.worst < 1000000000); /* slept, and did not hang */
}

typedef struct { asyncio_coro co; } hours_t;
static int hours(asyncio_task *self, void *frame)
{
    hours_t *f = (hours_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(3 * 3600);
    ASYNCIO_SLEEP(0.5);
    ASYNCIO_RETURN(asyncio_double(asyncio_loop_time(ASYNCIO_LOOP())));
    ASYNCIO_END();
}
void test_virtual_clock_jumps_exactly(void)
{
    hours_t f;
    asyncio_outcome out;
    CHECK_EQ(run_virtual(hours, &f, &out), 0);
    CHECK(out.value.d == 10800.5);
}

/* ---- bad input ---- */
typedef struct { asyncio_coro co; int rc; asyncio_future f; } bad_t;
static int bad(asyncio_task *self, void *frame)
{
    bad_t *b = (bad_t *)frame;
    ASYNCIO_BEGIN(self, b);
    ASYNCIO_SLEEP_RC(b->rc, NAN);
    CHECK_EQ(b->rc, -EINVAL);
    CHECK(asyncio_call_later(ASYNCIO_LOOP(), NULL, NAN, soon, "x") == -EINVAL);
    CHECK(asyncio_call_at(ASYNCIO_LOOP(), NULL, NAN, soon, "x") == -EINVAL);
    ASYNCIO_SLEEP(-3); /* means 0 */
    CHECK(asyncio_loop_time(ASYNCIO_LOOP()) == 0);
    /* awaiting a finished future resumes at once, without a loop trip */
    asyncio_future_init(&b->f, ASYNCIO_LOOP());
    asyncio_future_set_result(&b->f, asyncio_int(1));
    asyncio_call_soon(ASYNCIO_LOOP(), NULL, soon, "other");
    ASYNCIO_AWAIT(&b->f);
    trace("resumed");
    ASYNCIO_YIELD();
    ASYNCIO_RETURN(asyncio_int(1));
    ASYNCIO_END();
}
void test_bad_delays_and_awaiting_done_future(void)
{
    bad_t b;
    CHECK_EQ(run_virtual(bad, &b, NULL), 0);
    CHECK_STR(trace_get(), "resumed other");
}

typedef struct { asyncio_coro co; int rc; } forever_t;
static int forever(asyncio_task *self, void *frame)
{
    forever_t *f = (forever_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP_RC(f->rc, 1e300); /* saturates to "never", not the past */
    trace("woke:%s", asyncio_err_name(f->rc));
    ASYNCIO_END();
}
void test_huge_delay_sleeps_until_cancelled(void)
{
    asyncio_loop loop;
    asyncio_task t;
    forever_t f;
    vloop_init(&loop);
    asyncio_create_task(&loop, &t, forever, &f);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), ASYNCIO_ESTALLED);
    CHECK_EQ(asyncio_loop_time_ns(&loop), 0);
    asyncio_task_cancel(&t);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    CHECK_STR(trace_get(), "woke:ECANCELLED");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

typedef struct { asyncio_coro co; asyncio_future f; } stall_t;
static int stall(asyncio_task *self, void *frame)
{
    stall_t *s = (stall_t *)frame;
    ASYNCIO_BEGIN(self, s);
    asyncio_future_init(&s->f, ASYNCIO_LOOP());
    ASYNCIO_AWAIT(&s->f); /* nobody will ever complete it */
    ASYNCIO_FINALLY;
    trace("cleanup");
    ASYNCIO_END();
}
void test_loop_close_reports_pending_tasks(void)
{
    asyncio_loop loop;
    asyncio_task t1, t2;
    forever_t f1;
    fin_t f2;
    vloop_init(&loop);
    f2.mode = 1;
    asyncio_create_task(&loop, &t1, forever, &f1);
    CHECK_EQ(asyncio_loop_run_forever(&loop), 0); /* returns: nothing can happen */
    asyncio_create_task(&loop, &t2, fin, &f2);
    CHECK_EQ(asyncio_all_tasks(&loop, NULL, 0), 2);
    CHECK_EQ(asyncio_loop_close(&loop), 2);
    CHECK_EQ(warnings_seen, 2);
    CHECK(strstr(last_warning, "RuntimeWarning: coroutine 'fin' was never awaited") != NULL);
#if ASYNCIO_DEBUG
    CHECK(strstr(last_warning, "test_core.c:") != NULL);
#endif
    CHECK_STR(trace_get(), ""); /* neither task was finished behind our back */
}

void test_run_reports_a_stall_instead_of_hanging(void)
{
    stall_t s;
    asyncio_outcome out;
    CHECK_EQ(asyncio_run(stall, &s, &out), ASYNCIO_ESTALLED);
    CHECK_STR(trace_get(), "cleanup"); /* cancelled on the way out */
}

void test_error_names_and_messages(void)
{
    CHECK_STR(asyncio_err_name(ASYNCIO_ECANCELLED), "ECANCELLED");
    CHECK_STR(asyncio_err_name(-ENOENT), "ENOENT");
    CHECK_STR(asyncio_err_name(12345), "UNKNOWN");
    CHECK_STR(asyncio_strerror(ASYNCIO_ETIMEDOUT), "timed out");
    CHECK_STR(asyncio_strerror(-ENOENT), strerror(ENOENT));
    CHECK_STR(asyncio_strerror(0), "success");
    if (!strcmp(test_backend, "io_uring") && !strcmp(asyncio_backend_name(), "epoll"))
        return; /* the kernel refused io_uring: the fallback */
    CHECK_STR(asyncio_backend_name(), test_backend);
}

void test_running_loop_rejects_reentry_and_closed_loop_rejects_work(void)
{
    asyncio_loop loop;
    asyncio_future f;
    asyncio_task t;
    sq_t s;
    vloop_init(&loop);
    asyncio_future_init(&f, &loop);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &f), ASYNCIO_ELOOPCLOSED);
    s.n = 1;
    CHECK(asyncio_create_task(&loop, &t, sq, &s) == NULL);
}

/* ---- allocation failure: a clear error, nothing lost, no leak ---- */
void test_out_of_memory_is_an_error_not_a_crash(void)
{
    asyncio_loop loop;
    asyncio_task t;
    asyncio_future f;
    sq_t s;
    vloop_init(&loop);
    s.n = 2;
    alloc_fail_after(0);
    CHECK(asyncio_create_task(&loop, &t, sq, &s) == NULL);
    CHECK(asyncio_create_task(&loop, NULL, sq, &s) == NULL);
    CHECK_EQ(asyncio_call_soon(&loop, NULL, soon, "x"), -ENOMEM);
    CHECK_EQ(asyncio_call_later(&loop, NULL, 1, soon, "x"), -ENOMEM);
    asyncio_future_init(&f, &loop);
    CHECK_EQ(asyncio_future_add_done_callback(&f, cb, "x"), -ENOMEM);
    alloc_fail_after(-1);
    CHECK(asyncio_create_task(&loop, &t, sq, &s) != NULL);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

typedef struct { asyncio_coro co; int rc; } oomsleep_t;
static int oomsleep(asyncio_task *self, void *frame)
{
    oomsleep_t *f = (oomsleep_t *)frame;
    ASYNCIO_BEGIN(self, f);
    alloc_fail_after(0);
    ASYNCIO_SLEEP_RC(f->rc, 1);
    alloc_fail_after(-1);
    CHECK_EQ(f->rc, -ENOMEM);
    ASYNCIO_SLEEP(1);
    ASYNCIO_END();
}
void test_out_of_memory_in_sleep_reaches_the_coroutine(void)
{
    oomsleep_t f;
    CHECK_EQ(run_virtual(oomsleep, &f, NULL), 0);
}

#if ASYNCIO_DEBUG
#include <signal.h>

void test_foreign_pointer_caught_by_assert_in_debug(void)
{
    /* the child must die by SIGABRT: reverse the verdict */
    pid_t pid = fork();
    int status;
    if (pid == 0) {
        asyncio_future junk;
        memset(&junk, 0x5a, sizeof junk);
        fclose(stderr);
        asyncio_future_done(&junk);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}
#else
void test_foreign_pointer_caught_by_assert_in_debug(void) {}
#endif

/* A task cancelled after its timer fired but before it ran still runs
   exactly once, and sees the cancellation. */
typedef struct { asyncio_coro co; const char *name; asyncio_task *victim; int rc; } pair_t;
static int pair(asyncio_task *self, void *frame)
{
    pair_t *f = (pair_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP_RC(f->rc, 1);
    trace("%s:%s", f->name, asyncio_err_name(f->rc));
    if (f->victim)
        trace("cancel=%d", asyncio_task_cancel(f->victim));
    ASYNCIO_END();
}
void test_cancel_between_timer_and_step(void)
{
    asyncio_loop loop;
    asyncio_task a, b;
    pair_t fa, fb;
    vloop_init(&loop);
    fa.name = "a";
    fa.victim = &b;
    fb.name = "b";
    fb.victim = NULL;
    asyncio_create_task(&loop, &a, pair, &fa);
    asyncio_create_task(&loop, &b, pair, &fb);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &b.fut), 0);
    CHECK_STR(trace_get(), "a:OK cancel=1 b:ECANCELLED");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}
