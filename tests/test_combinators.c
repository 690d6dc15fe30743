/* gather, wait_for / timeouts, wait, as_completed, shield: each pinned
   against the trace CPython 3.11 prints for the same program. */
#include "tests.h"
#include <math.h>

typedef struct { asyncio_coro co; int n; double d; int fail; } job_t;
static int job(asyncio_task *self, void *frame)
{
    job_t *f = (job_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(f->d);
    trace("%s%d", f->fail ? "bad" : "ok", f->n);
    if (f->fail)
        ASYNCIO_RAISE(ASYNCIO_EUSER, "boom");
    ASYNCIO_RETURN(asyncio_int(f->n));
    ASYNCIO_FINALLY;
    if (asyncio_task_cancelling(self))
        trace("job%d-cancelled", f->n);
    ASYNCIO_END();
}

/* gather(ok(1, .5), bad(), ok(3, 2)) -- CPython: ok1 bad err=boom t=1.0 ok3 end */
typedef struct {
    asyncio_coro co;
    job_t j[3];
    asyncio_task t[3];
    asyncio_gather_t g;
    asyncio_value v;
    int rc;
} g1_t;
static int g1(asyncio_task *self, void *frame)
{
    g1_t *m = (g1_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->j[0].n = 1; m->j[0].d = 0.5;
    m->j[1].n = 2; m->j[1].d = 1; m->j[1].fail = 1;
    m->j[2].n = 3; m->j[2].d = 2;
    CHECK_EQ(asyncio_gather_map(&m->g, ASYNCIO_LOOP(), m->t, job, m->j, sizeof m->j[0], 3, 0), 0);
    ASYNCIO_AWAIT_RC(m->rc, &m->g.fut);
    trace("err=%s t=%.1f", ASYNCIO_ERRMSG(), asyncio_loop_time(ASYNCIO_LOOP()));
    CHECK(!asyncio_future_done(&m->t[2].fut)); /* the others keep running */
    ASYNCIO_SLEEP(2);
    trace("end");
    CHECK_EQ(asyncio_gather_result(&m->g, 0, &m->v), 0);
    CHECK_EQ(m->v.i, 1);
    CHECK_EQ(asyncio_gather_result(&m->g, 2, &m->v), 0);
    CHECK_EQ(m->v.i, 3);
    ASYNCIO_END();
}
void test_gather_first_error_reaches_awaiter_others_keep_running(void)
{
    g1_t m;
    memset(&m, 0, sizeof m);
    CHECK_EQ(run_virtual(g1, &m, NULL), 0);
    CHECK_STR(trace_get(), "ok1 bad2 err=boom t=1.0 ok3 end");
}

/* return_exceptions: results in argument order, errors in place */
static int g2(asyncio_task *self, void *frame)
{
    g1_t *m = (g1_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->j[0].n = 1; m->j[0].d = 3;
    m->j[1].n = 2; m->j[1].d = 1; m->j[1].fail = 1;
    m->j[2].n = 3; m->j[2].d = 2;
    CHECK_EQ(asyncio_gather_map(&m->g, ASYNCIO_LOOP(), m->t, job, m->j, sizeof m->j[0], 3,
                                ASYNCIO_RETURN_EXCEPTIONS), 0);
    ASYNCIO_AWAIT(&m->g.fut);
    CHECK_EQ(asyncio_gather_result(&m->g, 0, &m->v), 0);
    CHECK_EQ(m->v.i, 1);
    CHECK_EQ(asyncio_gather_result(&m->g, 1, &m->v), ASYNCIO_EUSER);
    CHECK_STR(asyncio_future_errmsg(asyncio_gather_child(&m->g, 1)), "boom");
    CHECK_EQ(asyncio_gather_result(&m->g, 2, &m->v), 0);
    CHECK_EQ(m->v.i, 3);
    CHECK(asyncio_loop_time(ASYNCIO_LOOP()) == 3.0);
    ASYNCIO_END();
}
void test_gather_return_exceptions_keeps_argument_order(void)
{
    g1_t m;
    memset(&m, 0, sizeof m);
    CHECK_EQ(run_virtual(g2, &m, NULL), 0);
    CHECK_STR(trace_get(), "bad2 ok3 ok1");
}

/* CPython: cancel=True c1-cancelled c2-cancelled g-cancelled */
static int g3(asyncio_task *self, void *frame)
{
    g1_t *m = (g1_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->j[0].n = 1; m->j[0].d = 10;
    m->j[1].n = 2; m->j[1].d = 10;
    asyncio_gather_map(&m->g, ASYNCIO_LOOP(), m->t, job, m->j, sizeof m->j[0], 2, 0);
    ASYNCIO_YIELD();
    trace("cancel=%d", asyncio_future_cancel(&m->g.fut));
    CHECK_EQ(asyncio_future_cancel(&m->g.fut), 0); /* already requested */
    ASYNCIO_AWAIT_RC(m->rc, &m->g.fut);
    if (m->rc == ASYNCIO_ECANCELLED)
        trace("g-cancelled");
    CHECK(asyncio_future_cancelled(&m->t[0].fut) && asyncio_future_cancelled(&m->t[1].fut));
    ASYNCIO_END();
}
void test_cancelling_gather_cancels_children(void)
{
    g1_t m;
    memset(&m, 0, sizeof m);
    CHECK_EQ(run_virtual(g3, &m, NULL), 0);
    CHECK_STR(trace_get(), "cancel=1 job1-cancelled job2-cancelled g-cancelled");
}

/* cancelling the task that awaits a gather cancels the children too */
static int g4_inner(asyncio_task *self, void *frame)
{
    g1_t *m = (g1_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->j[0].n = 1; m->j[0].d = 10;
    m->j[1].n = 2; m->j[1].d = 20;
    asyncio_gather_map(&m->g, ASYNCIO_LOOP(), m->t, job, m->j, sizeof m->j[0], 2, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    trace("not-reached");
    ASYNCIO_END();
}
static void cancel_cb(asyncio_loop *loop, void *arg);
void test_cancelling_task_awaiting_gather_cancels_children(void)
{
    asyncio_loop loop;
    asyncio_task t;
    g1_t m;
    memset(&m, 0, sizeof m);
    vloop_init(&loop);
    asyncio_create_task(&loop, &t, g4_inner, &m);
    asyncio_call_later(&loop, NULL, 1, cancel_cb, &t);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), ASYNCIO_ECANCELLED);
    CHECK(asyncio_future_cancelled(&m.t[0].fut) && asyncio_future_cancelled(&m.t[1].fut));
    CHECK_STR(trace_get(), "job1-cancelled job2-cancelled");
    CHECK(asyncio_loop_time(&loop) == 1.0);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

void test_gather_of_nothing_and_of_done_futures(void)
{
    asyncio_loop loop;
    asyncio_gather_t g;
    asyncio_future a, b;
    asyncio_future *fs[3];
    asyncio_value v;
    vloop_init(&loop);
    CHECK_EQ(asyncio_gather(&g, &loop, NULL, 0, 0), 0);
    CHECK(asyncio_future_done(&g.fut));
    asyncio_future_init(&a, &loop);
    asyncio_future_init(&b, &loop);
    asyncio_future_set_result(&a, asyncio_int(5));
    fs[0] = &a;
    fs[1] = &b;
    fs[2] = &a; /* the same future twice, as CPython allows */
    CHECK_EQ(asyncio_gather(&g, &loop, fs, 3, 0), 0);
    asyncio_future_set_result(&b, asyncio_int(6));
    CHECK(!asyncio_future_done(&g.fut)); /* callbacks go through the loop */
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &g.fut), 0);
    CHECK_EQ(asyncio_gather_result(&g, 1, &v), 0);
    CHECK_EQ(v.i, 6);
    CHECK_EQ(asyncio_gather_result(&g, 2, &v), 0);
    CHECK_EQ(v.i, 5);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* wait_for: CPython prints: slow-finally timeout t.cancelled=True at=1.0 */
typedef struct { asyncio_coro co; job_t j; asyncio_task t; asyncio_timeout to; int rc; } wf_t;
static int wf(asyncio_task *self, void *frame)
{
    wf_t *m = (wf_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->j.n = 1;
    m->j.d = 10;
    asyncio_create_task(ASYNCIO_LOOP(), &m->t, job, &m->j);
    ASYNCIO_WAIT_FOR_RC(m->rc, &m->to, &m->t.fut, 1.0);
    trace("%s t.cancelled=%d at=%.1f", asyncio_err_name(m->rc), asyncio_future_cancelled(&m->t.fut),
          asyncio_loop_time(ASYNCIO_LOOP()));
    CHECK_EQ(asyncio_task_cancelling(self), 0);
    /* a fast one finishes in time and gives its value */
    m->j.d = 0.5;
    asyncio_create_task(ASYNCIO_LOOP(), &m->t, job, &m->j);
    ASYNCIO_WAIT_FOR(&m->to, &m->t.fut, 1.0);
    trace("value=%lld", ASYNCIO_RESULT().i);
    /* propagating form: the timeout raises */
    m->j.d = 5;
    asyncio_create_task(ASYNCIO_LOOP(), &m->t, job, &m->j);
    ASYNCIO_WAIT_FOR(&m->to, &m->t.fut, 0);
    trace("not-reached");
    ASYNCIO_END();
}
void test_wait_for_times_out_and_cancels_inner(void)
{
    wf_t m;
    asyncio_outcome out;
    memset(&m, 0, sizeof m);
    CHECK_EQ(run_virtual(wf, &m, &out), ASYNCIO_ETIMEDOUT);
    CHECK_STR(trace_get(), "job1-cancelled ETIMEDOUT t.cancelled=1 at=1.0 ok1 value=1 job1-cancelled");
    CHECK_STR(out.msg, "timed out");
}

/* A timeout that expires while an outer cancellation is also pending
   must let the outer cancellation through (CPython's uncancel rule). */
typedef struct { asyncio_coro co; asyncio_timeout to; int rc; } scope_t;
static int scope(asyncio_task *self, void *frame)
{
    scope_t *m = (scope_t *)frame;
    ASYNCIO_BEGIN(self, m);
    CHECK_EQ(asyncio_timeout_enter(&m->to, self, 1), 0);
    ASYNCIO_SLEEP_RC(m->rc, 5);
    m->rc = asyncio_timeout_exit(&m->to, m->rc);
    trace("%s expired=%d", asyncio_err_name(m->rc), asyncio_timeout_expired(&m->to));
    CHECK_EQ(asyncio_timeout_enter(&m->to, self, 1), 0);
    ASYNCIO_SLEEP_RC(m->rc, 0.5);
    m->rc = asyncio_timeout_exit(&m->to, m->rc);
    trace("%s expired=%d", asyncio_err_name(m->rc), asyncio_timeout_expired(&m->to));
    CHECK_EQ(asyncio_timeout_enter(&m->to, self, 1e300), 0); /* never */
    ASYNCIO_SLEEP_RC(m->rc, 2);
    m->rc = asyncio_timeout_exit(&m->to, m->rc);
    trace("%s t=%.1f", asyncio_err_name(m->rc), asyncio_loop_time(ASYNCIO_LOOP()));
    CHECK_EQ(asyncio_timeout_enter(&m->to, self, NAN), -EINVAL);
    /* outer cancel + expiry: the cancellation wins */
    CHECK_EQ(asyncio_timeout_enter(&m->to, self, 1), 0);
    ASYNCIO_SLEEP_RC(m->rc, 5);
    m->rc = asyncio_timeout_exit(&m->to, m->rc);
    trace("%s", asyncio_err_name(m->rc));
    ASYNCIO_END();
}
static void cancel_cb(asyncio_loop *loop, void *arg)
{
    (void)loop;
    asyncio_task_cancel((asyncio_task *)arg);
}
void test_timeout_scope_semantics(void)
{
    asyncio_loop loop;
    asyncio_task t;
    scope_t m;
    vloop_init(&loop);
    asyncio_create_task(&loop, &t, scope, &m);
    /* at t=4.5 (inside the last scope, armed at 3.5) an outer cancel arrives
       together with the timeout's own at 4.5 */
    asyncio_call_at(&loop, NULL, 4.5, cancel_cb, &t);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    CHECK_STR(trace_get(), "ETIMEDOUT expired=1 OK expired=0 OK t=3.5 ECANCELLED");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* CPython: as_completed -> 2 3 1; wait(FIRST_COMPLETED) -> done=1 pending=1 */
typedef struct {
    asyncio_coro co;
    job_t j[3];
    asyncio_task t[3];
    asyncio_future *fs[3];
    asyncio_as_completed_t ac;
    asyncio_wait_t w;
    asyncio_future *next;
    int i;
} ac_t;
static int acmain(asyncio_task *self, void *frame)
{
    ac_t *m = (ac_t *)frame;
    ASYNCIO_BEGIN(self, m);
    for (m->i = 0; m->i < 3; m->i++) {
        m->j[m->i].n = m->i + 1;
        m->j[m->i].d = m->i == 0 ? 3 : m->i;
        m->fs[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], job, &m->j[m->i])->fut;
    }
    CHECK_EQ(asyncio_as_completed(&m->ac, ASYNCIO_LOOP(), m->fs, 3, -1), 0);
    while ((m->next = asyncio_as_completed_next(&m->ac)) != NULL) {
        ASYNCIO_AWAIT(m->next);
        trace("got%lld", ASYNCIO_RESULT().i);
        CHECK(asyncio_as_completed_last(&m->ac) == m->fs[m->ac.nout - 1]);
    }
    /* wait: FIRST_COMPLETED, then ALL_COMPLETED with a timeout */
    for (m->i = 0; m->i < 2; m->i++) {
        m->j[m->i].d = m->i + 1;
        m->fs[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], job, &m->j[m->i])->fut;
    }
    CHECK_EQ(asyncio_wait(&m->w, ASYNCIO_LOOP(), m->fs, 2, ASYNCIO_FIRST_COMPLETED, -1), 0);
    ASYNCIO_AWAIT(&m->w.fut);
    trace("done=%d pending=%d", asyncio_future_done(m->fs[0]) + asyncio_future_done(m->fs[1]),
          !asyncio_future_done(m->fs[0]) + !asyncio_future_done(m->fs[1]));
    CHECK_EQ(asyncio_wait(&m->w, ASYNCIO_LOOP(), m->fs, 2, ASYNCIO_ALL_COMPLETED, 0.25), 0);
    ASYNCIO_AWAIT(&m->w.fut); /* times out, without an error */
    trace("after-timeout t=%.2f done=%lld", asyncio_loop_time(ASYNCIO_LOOP()), ASYNCIO_RESULT().i);
    CHECK_EQ(asyncio_wait(&m->w, ASYNCIO_LOOP(), m->fs, 2, ASYNCIO_ALL_COMPLETED, -1), 0);
    ASYNCIO_AWAIT(&m->w.fut);
    trace("all t=%.2f", asyncio_loop_time(ASYNCIO_LOOP()));
    CHECK_EQ(asyncio_wait(&m->w, ASYNCIO_LOOP(), m->fs, 0, ASYNCIO_ALL_COMPLETED, -1), -EINVAL);
    CHECK_EQ(asyncio_wait(&m->w, ASYNCIO_LOOP(), m->fs, 2, (asyncio_wait_mode)9, -1), -EINVAL);
    ASYNCIO_END();
}
void test_as_completed_and_wait(void)
{
    ac_t m;
    memset(&m, 0, sizeof m);
    CHECK_EQ(run_virtual(acmain, &m, NULL), 0);
    CHECK_STR(trace_get(), "ok2 got2 ok3 got3 ok1 got1 ok1 done=1 pending=1 after-timeout t=4.25 done=1 "
                           "ok2 all t=5.00");
}

/* FIRST_EXCEPTION, and as_completed's timeout */
typedef struct { asyncio_coro co; job_t j[2]; asyncio_task t[2]; asyncio_future *fs[2];
                 asyncio_wait_t w; asyncio_as_completed_t ac; int rc; } fe_t;
static int femain(asyncio_task *self, void *frame)
{
    fe_t *m = (fe_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->j[0].n = 1; m->j[0].d = 5;
    m->j[1].n = 2; m->j[1].d = 1; m->j[1].fail = 1;
    m->fs[0] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[0], job, &m->j[0])->fut;
    m->fs[1] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[1], job, &m->j[1])->fut;
    asyncio_wait(&m->w, ASYNCIO_LOOP(), m->fs, 2, ASYNCIO_FIRST_EXCEPTION, -1);
    ASYNCIO_AWAIT(&m->w.fut);
    trace("first-exception t=%.0f", asyncio_loop_time(ASYNCIO_LOOP()));
    asyncio_as_completed(&m->ac, ASYNCIO_LOOP(), m->fs, 2, 1.0);
    ASYNCIO_AWAIT_RC(m->rc, asyncio_as_completed_next(&m->ac));
    trace("%s", asyncio_err_name(m->rc)); /* the failed one, already done */
    ASYNCIO_AWAIT_RC(m->rc, asyncio_as_completed_next(&m->ac));
    trace("%s t=%.0f", asyncio_err_name(m->rc), asyncio_loop_time(ASYNCIO_LOOP()));
    CHECK(asyncio_as_completed_next(&m->ac) == NULL);
    asyncio_task_cancel(&m->t[0]);
    ASYNCIO_AWAIT_RC(m->rc, m->fs[0]);
    ASYNCIO_END();
}
void test_wait_first_exception_and_as_completed_timeout(void)
{
    fe_t m;
    memset(&m, 0, sizeof m);
    CHECK_EQ(run_virtual(femain, &m, NULL), 0);
    CHECK_STR(trace_get(), "bad2 first-exception t=1 EUSER ETIMEDOUT t=2 job1-cancelled");
}

/* CPython: outer-cancelled inner-done inner=5 */
typedef struct { asyncio_coro co; asyncio_task *inner; asyncio_shield_t s; } outer_t;
static int outer(asyncio_task *self, void *frame)
{
    outer_t *o = (outer_t *)frame;
    ASYNCIO_BEGIN(self, o);
    asyncio_shield(&o->s, ASYNCIO_LOOP(), &o->inner->fut);
    ASYNCIO_AWAIT(&o->s.fut);
    ASYNCIO_END();
}
typedef struct { asyncio_coro co; job_t j; asyncio_task t, o; outer_t of; int rc; } sh_t;
static int shmain(asyncio_task *self, void *frame)
{
    sh_t *m = (sh_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->j.n = 5;
    m->j.d = 1;
    asyncio_create_task(ASYNCIO_LOOP(), &m->t, job, &m->j);
    m->of.inner = &m->t;
    asyncio_create_task(ASYNCIO_LOOP(), &m->o, outer, &m->of);
    ASYNCIO_SLEEP(0.5);
    asyncio_task_cancel(&m->o);
    ASYNCIO_AWAIT_RC(m->rc, &m->o.fut);
    if (m->rc == ASYNCIO_ECANCELLED)
        trace("outer-cancelled");
    ASYNCIO_AWAIT(&m->t.fut);
    trace("inner=%lld", ASYNCIO_RESULT().i);
    ASYNCIO_END();
}
void test_shield_protects_inner_from_cancellation(void)
{
    sh_t m;
    memset(&m, 0, sizeof m);
    CHECK_EQ(run_virtual(shmain, &m, NULL), 0);
    CHECK_STR(trace_get(), "outer-cancelled ok5 inner=5");
}
