/* TaskGroup: each scenario is pinned to the trace CPython 3.13 prints for
   the same program (times exact here: the virtual clock).  The Python
   side of scenario sN is `async def sN()` below, run with
   asyncio.run(sN()); `job(name, delay, fail)` is

       async def job(name, delay, fail=False):
           try:
               await asyncio.sleep(delay)
               if fail:
                   tr(f"{name}:raise@{t()}"); raise ValueError(name)
               tr(f"{name}:ok@{t()}")
           except asyncio.CancelledError:
               tr(f"{name}:cancelled@{t()}"); raise
           finally:
               tr(f"{name}:finally")

   CPython cancels a group's children in set order; asyncio.h in creation
   order, so where CPython 3.13 printed "c... a..." the expected trace
   below reads "a... c..." (3.11 printed it in creation order too). */
#include "tests.h"

typedef struct {
    asyncio_coro co;
    const char *name;
    double delay;
    int fail, rc;
} job_t;

static double now(asyncio_task *self) { return asyncio_loop_time(self->fut.loop); }

static int job(asyncio_task *self, void *frame)
{
    job_t *f = (job_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP_RC(f->rc, f->delay);
    if (f->rc < 0) {
        trace("%s:cancelled@%g", f->name, now(self));
        ASYNCIO_RAISE(f->rc, NULL);
    }
    if (f->fail) {
        trace("%s:raise@%g", f->name, now(self));
        ASYNCIO_RAISE(ASYNCIO_EUSER, f->name);
    }
    trace("%s:ok@%g", f->name, now(self));
    ASYNCIO_FINALLY
    trace("%s:finally", f->name);
    ASYNCIO_END();
}

static void job_set(job_t *j, const char *name, double delay, int fail)
{
    memset(j, 0, sizeof *j);
    j->name = name;
    j->delay = delay;
    j->fail = fail;
}

/* Spawn job(name, delay, fail) into tg, in caller storage. */
static void spawn(asyncio_taskgroup *tg, asyncio_task *t, job_t *j, const char *name, double delay, int fail)
{
    job_set(j, name, delay, fail);
    CHECK_EQ(asyncio_taskgroup_create_task(tg, t, job, j, NULL), 0);
}

/* "eg:a,b@1": the messages of the group's errors (a child's message is
   its name), or their codes' names with names = 1. */
static void trace_errors(asyncio_task *self, const asyncio_taskgroup *tg, int names)
{
    char buf[256] = "";
    size_t i;
    for (i = 0; i < asyncio_taskgroup_nerrors(tg); i++) {
        const asyncio_failure *e = asyncio_taskgroup_error(tg, i);
        if (i)
            strcat(buf, ",");
        strcat(buf, names ? asyncio_err_name(e->err) : e->msg);
    }
    trace("eg:%s@%g", buf, now(self));
}

typedef struct {
    asyncio_coro co;
    asyncio_taskgroup tg;
    job_t j[4];
    asyncio_task t[4];
    int rc;
} group_t;

/* s1: one child fails: the others and the body are cancelled, spawning is
   refused, the error group holds that one error and the group's own
   cancellation of its owner does not leak out.

   async def s1():
       try:
           async with asyncio.TaskGroup() as tg:
               tg.create_task(job("a", 1)); tg.create_task(job("b", 0.5, True)); tg.create_task(job("c", 2))
               try:
                   await asyncio.sleep(10)
               except asyncio.CancelledError:
                   tr(f"body:cancelled@{t()}")
                   try:
                       tg.create_task(job("late", 0))
                   except RuntimeError as e:
                       tr("spawn:refused")
                   raise
       except* ValueError as eg:
           tr(f"eg:{[str(e) for e in eg.exceptions]}@{t()}")
       tr(f"cancelling={asyncio.current_task().cancelling()}")
       await asyncio.sleep(0)
       tr("after")

   3.13: b:raise@0.501 b:finally c:cancelled@0.501 c:finally a:cancelled@0.501
   a:finally body:cancelled@0.501 spawn:refused eg:['b']@0.501 cancelling=0 after */
static int s1(asyncio_task *self, void *frame)
{
    group_t *f = (group_t *)frame;
    asyncio_task *out = NULL;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    job_set(&f->j[0], "a", 1, 0);
    CHECK_EQ(asyncio_taskgroup_create_task(&f->tg, &f->t[0], job, &f->j[0], &out), 0);
    CHECK(out == &f->t[0]);
    spawn(&f->tg, &f->t[1], &f->j[1], "b", 0.5, 1);
    spawn(&f->tg, &f->t[2], &f->j[2], "c", 2, 0);
    ASYNCIO_SLEEP_RC(f->rc, 10);
    if (f->rc == ASYNCIO_ECANCELLED) {
        trace("body:cancelled@%g", now(self));
        job_set(&f->j[3], "late", 0, 0);
        out = NULL;
        if (asyncio_taskgroup_create_task(&f->tg, &f->t[3], job, &f->j[3], &out) == ASYNCIO_EINVALIDSTATE)
            trace("spawn:refused");
        CHECK(out == NULL);
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, ASYNCIO_ERRMSG()));
    CHECK_EQ(f->rc, ASYNCIO_EGROUP);
    CHECK_STR(ASYNCIO_ERRMSG(), "unhandled errors in a TaskGroup");
    trace_errors(self, &f->tg, 0);
    CHECK(asyncio_taskgroup_error(&f->tg, 0)->task == &f->t[1]);
    CHECK(asyncio_taskgroup_error(&f->tg, 1) == NULL);
    CHECK(asyncio_future_cancelled(&f->t[0].fut) && asyncio_future_cancelled(&f->t[2].fut));
    trace("cancelling=%d", asyncio_task_cancelling(self));
    ASYNCIO_YIELD();
    trace("after");
    asyncio_taskgroup_free(&f->tg);
    ASYNCIO_END();
}

void test_taskgroup_first_error_cancels_siblings_and_body(void)
{
    static group_t m;
    CHECK_EQ(run_virtual(s1, &m, NULL), 0);
    CHECK_STR(trace_get(), "b:raise@0.5 b:finally a:cancelled@0.5 a:finally c:cancelled@0.5 c:finally "
                           "body:cancelled@0.5 spawn:refused eg:b@0.5 cancelling=0 after");
}

/* s2: two children fail in one iteration while the owner waits in the
   exit: both errors, in order; the owner's cancellation is taken back
   (3.11 and 3.12 left cancelling() at 1 here; 3.13 fixed it).

   async def s2():
       try:
           async with asyncio.TaskGroup() as tg:
               tg.create_task(job("a", 1, True)); tg.create_task(job("b", 1, True)); tg.create_task(job("c", 3))
               tr("body:end")
       except* ValueError as eg:
           tr(f"eg:{[str(e) for e in eg.exceptions]}@{t()}")
       tr(f"cancelling={asyncio.current_task().cancelling()}")

   3.13: body:end a:raise@1.001 a:finally b:raise@1.002 b:finally
   c:cancelled@1.002 c:finally eg:['a', 'b']@1.002 cancelling=0 */
static int s2(asyncio_task *self, void *frame)
{
    group_t *f = (group_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    spawn(&f->tg, &f->t[0], &f->j[0], "a", 1, 1);
    spawn(&f->tg, &f->t[1], &f->j[1], "b", 1, 1);
    spawn(&f->tg, &f->t[2], &f->j[2], "c", 3, 0);
    trace("body:end");
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, 0, NULL));
    CHECK_EQ(f->rc, ASYNCIO_EGROUP);
    trace_errors(self, &f->tg, 0);
    trace("cancelling=%d", asyncio_task_cancelling(self));
    asyncio_taskgroup_free(&f->tg);
    CHECK_EQ(asyncio_taskgroup_nerrors(&f->tg), 0);
    ASYNCIO_END();
}

void test_taskgroup_errors_reported_together(void)
{
    static group_t m;
    CHECK_EQ(run_virtual(s2, &m, NULL), 0);
    CHECK_STR(trace_get(), "body:end a:raise@1 a:finally b:raise@1 b:finally c:cancelled@1 c:finally "
                           "eg:a,b@1 cancelling=0");
}

/* s3 / s4: the owner is cancelled from outside, in the body (s3) or while
   waiting in the exit (s4): the children are cancelled and the owner ends
   cancelled.

   async def owner3():                      async def owner4():
       async with asyncio.TaskGroup() as tg:     async with asyncio.TaskGroup() as tg:
           tg.create_task(job("a", 1))               tg.create_task(job("a", 1))
           tg.create_task(job("b", 2))               tg.create_task(job("b", 2))
           try:                                  tr("not reached")
               await asyncio.sleep(5)
           except asyncio.CancelledError:
               tr(f"body:cancelled@{t()}"); raise
       tr("not reached")
   async def s3():  (s4 the same with owner4)
       o = asyncio.create_task(owner3())
       await asyncio.sleep(0.5)
       o.cancel()
       try:
           await o
       except asyncio.CancelledError:
           tr(f"owner:cancelled@{t()}")

   3.13 s3: body:cancelled@0.501 a:cancelled@0.501 a:finally b:cancelled@0.501
            b:finally owner:cancelled@0.501
   3.13 s4: a:cancelled@0.501 a:finally b:cancelled@0.501 b:finally
            owner:cancelled@0.501 */
typedef struct {
    asyncio_coro co;
    group_t g;
    asyncio_task owner;
    asyncio_fn owner_fn;
    double cancel_at;
    int rc;
} outside_t;

static int owner_body_waits(asyncio_task *self, void *frame)
{
    group_t *f = (group_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    spawn(&f->tg, &f->t[0], &f->j[0], "a", 1, 0);
    spawn(&f->tg, &f->t[1], &f->j[1], "b", 2, 0);
    ASYNCIO_SLEEP_RC(f->rc, 5);
    if (f->rc == ASYNCIO_ECANCELLED)
        trace("body:cancelled@%g", now(self));
    ASYNCIO_AWAIT_CORO(asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, ASYNCIO_ERRMSG()));
    trace("not reached");
    ASYNCIO_END();
}

static int owner_exit_waits(asyncio_task *self, void *frame)
{
    group_t *f = (group_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    spawn(&f->tg, &f->t[0], &f->j[0], "a", 1, 0);
    spawn(&f->tg, &f->t[1], &f->j[1], "b", 2, 0);
    ASYNCIO_AWAIT_CORO(asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, 0, NULL));
    trace("not reached");
    ASYNCIO_END();
}

static int cancel_from_outside(asyncio_task *self, void *frame)
{
    outside_t *f = (outside_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_create_task(ASYNCIO_LOOP(), &f->owner, f->owner_fn, &f->g);
    ASYNCIO_SLEEP(f->cancel_at);
    asyncio_task_cancel(&f->owner);
    ASYNCIO_AWAIT_RC(f->rc, &f->owner.fut);
    if (f->rc == ASYNCIO_ECANCELLED)
        trace("owner:cancelled@%g", now(self));
    CHECK(f->g.tg.errors == NULL); /* nothing failed: nothing held */
    ASYNCIO_END();
}

void test_taskgroup_owner_cancelled_from_outside(void)
{
    static outside_t m;
    memset(&m, 0, sizeof m);
    m.owner_fn = owner_body_waits;
    m.cancel_at = 0.5;
    CHECK_EQ(run_virtual(cancel_from_outside, &m, NULL), 0);
    CHECK_STR(trace_get(), "body:cancelled@0.5 a:cancelled@0.5 a:finally b:cancelled@0.5 b:finally "
                           "owner:cancelled@0.5");
    trace_reset();
    memset(&m, 0, sizeof m);
    m.owner_fn = owner_exit_waits;
    m.cancel_at = 0.5;
    CHECK_EQ(run_virtual(cancel_from_outside, &m, NULL), 0);
    CHECK_STR(trace_get(), "a:cancelled@0.5 a:finally b:cancelled@0.5 b:finally owner:cancelled@0.5");
}

/* s5: the body fails: the children are cancelled and the body's error is
   the group's (last) error.

   async def s5():
       try:
           async with asyncio.TaskGroup() as tg:
               tg.create_task(job("a", 1)); tg.create_task(job("b", 2))
               await asyncio.sleep(0.5)
               tr("body:raise")
               raise KeyError("body")
       except* KeyError as eg:
           tr(f"eg:{[repr(e) for e in eg.exceptions]}@{t()}")

   3.13: body:raise a:cancelled@0.501 a:finally b:cancelled@0.501 b:finally
   eg:["KeyError('body')"]@0.501 */
static int s5(asyncio_task *self, void *frame)
{
    group_t *f = (group_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    spawn(&f->tg, &f->t[0], &f->j[0], "a", 1, 0);
    spawn(&f->tg, &f->t[1], &f->j[1], "b", 2, 0);
    ASYNCIO_SLEEP_RC(f->rc, 0.5);
    if (f->rc == 0) {
        trace("body:raise");
        f->rc = ASYNCIO_EUSER - 1;
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait,
                          asyncio_taskgroup_exit(&f->tg, f->rc, "body"));
    CHECK_EQ(f->rc, ASYNCIO_EGROUP);
    trace_errors(self, &f->tg, 0);
    CHECK(asyncio_taskgroup_error(&f->tg, 0)->task == NULL);
    CHECK_EQ(asyncio_taskgroup_error(&f->tg, 0)->err, ASYNCIO_EUSER - 1);
    asyncio_taskgroup_free(&f->tg);
    ASYNCIO_END();
}

void test_taskgroup_body_error_cancels_children(void)
{
    static group_t m;
    CHECK_EQ(run_virtual(s5, &m, NULL), 0);
    CHECK_STR(trace_get(), "body:raise a:cancelled@0.5 a:finally b:cancelled@0.5 b:finally eg:body@0.5");
}

/* s6: the owner is cancelled from outside in the same iteration as a
   child fails: the error group wins, and the owner is cancelled again at
   its next await (CPython 3.13).

   async def owner6():
       try:
           async with asyncio.TaskGroup() as tg:
               tg.create_task(job("a", 1, True)); tg.create_task(job("b", 2))
               try:
                   await asyncio.sleep(5)
               except asyncio.CancelledError:
                   tr(f"body:cancelled@{t()}"); raise
       except* ValueError as eg:
           tr(f"eg:{[str(e) for e in eg.exceptions]} cancelling={asyncio.current_task().cancelling()}")
       try:
           await asyncio.sleep(1); tr("slept")
       except asyncio.CancelledError:
           tr(f"owner:recancelled@{t()}"); raise
   async def s6(): as s3, with owner6 and sleep(1) before o.cancel()

   3.13: a:raise@1.001 a:finally body:cancelled@1.002 b:cancelled@1.002
   b:finally eg:['a'] cancelling=1 owner:recancelled@1.002 owner:cancelled@1.002
   (3.11 and 3.12 printed "slept" instead: the cancellation was lost) */
static int owner6(asyncio_task *self, void *frame)
{
    group_t *f = (group_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    spawn(&f->tg, &f->t[0], &f->j[0], "a", 1, 1);
    spawn(&f->tg, &f->t[1], &f->j[1], "b", 2, 0);
    ASYNCIO_SLEEP_RC(f->rc, 5);
    if (f->rc == ASYNCIO_ECANCELLED)
        trace("body:cancelled@%g", now(self));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, ASYNCIO_ERRMSG()));
    CHECK_EQ(f->rc, ASYNCIO_EGROUP);
    trace("eg:%s cancelling=%d", asyncio_taskgroup_error(&f->tg, 0)->msg, asyncio_task_cancelling(self));
    asyncio_taskgroup_free(&f->tg);
    ASYNCIO_SLEEP_RC(f->rc, 1);
    if (f->rc == ASYNCIO_ECANCELLED) {
        trace("owner:recancelled@%g", now(self));
        ASYNCIO_RAISE(f->rc, NULL);
    }
    trace("slept");
    ASYNCIO_END();
}

void test_taskgroup_error_wins_over_outside_cancel(void)
{
    static outside_t m;
    memset(&m, 0, sizeof m);
    m.owner_fn = owner6;
    m.cancel_at = 1;
    CHECK_EQ(run_virtual(cancel_from_outside, &m, NULL), 0);
    CHECK_STR(trace_get(), "a:raise@1 a:finally body:cancelled@1 b:cancelled@1 b:finally "
                           "eg:a cancelling=1 owner:recancelled@1 owner:cancelled@1");
}

/* s7: a child spawns a sibling while the owner waits in the exit; once the
   group has finished, spawning is refused.

   async def spawner(tg):
       await asyncio.sleep(1)
       tg.create_task(job("grandchild", 1))
       tr(f"spawned@{t()}")
   async def s7():
       async with asyncio.TaskGroup() as tg:
           tg.create_task(spawner(tg))
       tr(f"done@{t()}")
       try:
           tg.create_task(job("x", 0))
       except RuntimeError as e:
           tr("spawn:finished")

   3.13: spawned@1.001 grandchild:ok@2.003 grandchild:finally done@2.003 spawn:finished */
typedef struct {
    asyncio_coro co;
    asyncio_taskgroup *tg;
    job_t *child;
    asyncio_task *storage;
} spawner_t;

static int spawner(asyncio_task *self, void *frame)
{
    spawner_t *f = (spawner_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(1);
    job_set(f->child, "grandchild", 1, 0);
    CHECK_EQ(asyncio_taskgroup_create_task(f->tg, f->storage, job, f->child, NULL), 0);
    trace("spawned@%g", now(self));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    group_t g;
    spawner_t sp;
} s7_t;

static int s7(asyncio_task *self, void *frame)
{
    s7_t *f = (s7_t *)frame;
    ASYNCIO_BEGIN(self, f);
    /* not entered yet: refused */
    memset(&f->g.tg, 0, sizeof f->g.tg);
    CHECK_EQ(asyncio_taskgroup_create_task(&f->g.tg, &f->g.t[0], job, &f->g.j[0], NULL), ASYNCIO_EINVALIDSTATE);
    asyncio_taskgroup_enter(&f->g.tg, self);
    f->sp.tg = &f->g.tg;
    f->sp.child = &f->g.j[1];
    f->sp.storage = &f->g.t[1];
    CHECK_EQ(asyncio_taskgroup_create_task(&f->g.tg, &f->g.t[0], spawner, &f->sp, NULL), 0);
    ASYNCIO_AWAIT_CORO(asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->g.tg, 0, NULL));
    trace("done@%g", now(self));
    job_set(&f->g.j[2], "x", 0, 0);
    if (asyncio_taskgroup_create_task(&f->g.tg, &f->g.t[2], job, &f->g.j[2], NULL) == ASYNCIO_EINVALIDSTATE)
        trace("spawn:finished");
    /* exiting twice is a misuse, reported */
    ASYNCIO_AWAIT_CORO_RC(f->g.rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->g.tg, 0, NULL));
    CHECK_EQ(f->g.rc, ASYNCIO_EINVALIDSTATE);
    ASYNCIO_END();
}

void test_taskgroup_children_spawn_until_finished(void)
{
    static s7_t m;
    CHECK_EQ(run_virtual(s7, &m, NULL), 0);
    CHECK_STR(trace_get(), "spawned@1 grandchild:ok@2 grandchild:finally done@2 spawn:finished");
}

/* s8: a child that swallows its cancellation is no error; a nested group's
   error group is one error of the outer group; the owner of both ends
   with no cancellation pending.

   async def swallow(name):
       try:
           await asyncio.sleep(5)
       except asyncio.CancelledError:
           tr(f"{name}:swallowed"); return 7
   async def s8():
       try:
           async with asyncio.TaskGroup() as outer:
               outer.create_task(swallow("s"))
               async with asyncio.TaskGroup() as inner:
                   inner.create_task(job("i", 1, True))
       except* BaseException as eg:
           tr(f"eg:{[type(e).__name__ for e in eg.exceptions]}@{t()}")

   3.13: i:raise@1.001 i:finally s:swallowed eg:['ExceptionGroup']@1.002 */
typedef struct {
    asyncio_coro co;
    int rc;
} swallow_t;

static int swallow(asyncio_task *self, void *frame)
{
    swallow_t *f = (swallow_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP_RC(f->rc, 5);
    if (f->rc == ASYNCIO_ECANCELLED)
        trace("s:swallowed");
    ASYNCIO_RETURN(asyncio_int(7));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_taskgroup outer, inner;
    swallow_t sw;
    job_t i;
    asyncio_task ts, ti;
    int rc;
} s8_t;

static int s8(asyncio_task *self, void *frame)
{
    s8_t *f = (s8_t *)frame;
    asyncio_value v;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->outer, self);
    CHECK_EQ(asyncio_taskgroup_create_task(&f->outer, &f->ts, swallow, &f->sw, NULL), 0);
    asyncio_taskgroup_enter(&f->inner, self);
    job_set(&f->i, "i", 1, 1);
    CHECK_EQ(asyncio_taskgroup_create_task(&f->inner, &f->ti, job, &f->i, NULL), 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->inner, 0, NULL));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->outer, f->rc, ASYNCIO_ERRMSG()));
    CHECK_EQ(f->rc, ASYNCIO_EGROUP);
    trace_errors(self, &f->outer, 1);
    CHECK_EQ(asyncio_future_result(&f->ts.fut, &v), 0);
    CHECK_EQ(v.i, 7);
    CHECK_EQ(asyncio_task_cancelling(self), 0);
    asyncio_taskgroup_free(&f->inner);
    asyncio_taskgroup_free(&f->outer);
    ASYNCIO_END();
}

void test_taskgroup_nested_and_swallowed_cancellation(void)
{
    static s8_t m;
    CHECK_EQ(run_virtual(s8, &m, NULL), 0);
    CHECK_STR(trace_get(), "i:raise@1 i:finally s:swallowed eg:EGROUP@1");
}

/* Out of memory while spawning refuses that child and creates nothing;
   the group carries on.  A group that ends cleanly holds no memory, and
   loop-allocated children are freed with the loop. */
typedef struct {
    asyncio_coro co;
    asyncio_taskgroup tg;
    job_t j[3];
    asyncio_task t[3];
    asyncio_task *owned;
    int rc;
} oom_t;

static int spawn_oom(asyncio_task *self, void *frame)
{
    oom_t *f = (oom_t *)frame;
    size_t before;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    job_set(&f->j[0], "a", 1, 0);
    before = asyncio_all_tasks(ASYNCIO_LOOP(), NULL, 0);
    alloc_fail_after(0);
    CHECK_EQ(asyncio_taskgroup_create_task(&f->tg, &f->t[0], job, &f->j[0], NULL), -ENOMEM);
    alloc_fail_after(-1);
    CHECK_EQ(asyncio_all_tasks(ASYNCIO_LOOP(), NULL, 0), before);
    spawn(&f->tg, &f->t[1], &f->j[1], "b", 1, 0);
    job_set(&f->j[2], "c", 1, 0);
    CHECK_EQ(asyncio_taskgroup_create_task(&f->tg, NULL, job, &f->j[2], &f->owned), 0);
    CHECK(f->owned != NULL);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, 0, NULL));
    CHECK_EQ(f->rc, 0);
    CHECK(f->tg.errors == NULL);
    CHECK_EQ(asyncio_taskgroup_nerrors(&f->tg), 0);
    ASYNCIO_END();
}

void test_taskgroup_spawn_out_of_memory(void)
{
    static oom_t m;
    CHECK_EQ(run_virtual(spawn_oom, &m, NULL), 0);
    CHECK_STR(trace_get(), "b:ok@1 b:finally c:ok@1 c:finally");
}

/* A body that fails before it spawned anything still reports its error
   (its slot needs no memory):
       async with asyncio.TaskGroup() as tg:
           raise ValueError("body failed")
   -> ExceptionGroup('unhandled errors in a TaskGroup', [ValueError('body failed')]) */
static int body_fails_alone(asyncio_task *self, void *frame)
{
    group_t *f = (group_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    alloc_fail_after(0); /* no memory for anything from here */
    f->rc = ASYNCIO_EUSER;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, "body failed"));
    alloc_fail_after(-1);
    CHECK_EQ(f->rc, ASYNCIO_EGROUP);
    CHECK_EQ(asyncio_taskgroup_nerrors(&f->tg), 1);
    CHECK(asyncio_taskgroup_error(&f->tg, 0)->task == NULL);
    CHECK_EQ(asyncio_taskgroup_error(&f->tg, 0)->err, ASYNCIO_EUSER);
    CHECK_STR(asyncio_taskgroup_error(&f->tg, 0)->msg, "body failed");
    CHECK(asyncio_taskgroup_error(&f->tg, 1) == NULL);
    asyncio_taskgroup_free(&f->tg);
    CHECK_EQ(asyncio_taskgroup_nerrors(&f->tg), 0);
    ASYNCIO_END();
}

void test_taskgroup_body_error_without_children(void)
{
    static group_t m;
    CHECK_EQ(run_virtual(body_fails_alone, &m, NULL), 0);
}
