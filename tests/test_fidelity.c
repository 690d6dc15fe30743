/* CPython fidelity: scheduling details, awaiting cleanups, generator
   finalisation, misuse caught.  Each test is pinned to the trace CPython
   3.13 prints for the Python program in its comment. */
#define _GNU_SOURCE 1
#include "tests.h"

/* ---- scheduling -------------------------------------------------------- */
/*  async def sleeper(name, d):
        trace.append(f"{name}-start"); await asyncio.sleep(d); trace.append(f"{name}-woke")
    async def main():
        loop = asyncio.get_running_loop()
        t = asyncio.create_task(sleeper("T", 0.1))
        await asyncio.sleep(0)
        loop.call_later(0.1, lambda: trace.append("cb1"))
        loop.call_later(0.1, lambda: (trace.append("cb2"),
                                      loop.call_soon(lambda: trace.append("soon-from-cb2"))))
        await t
        loop.call_later(0, lambda: trace.append("zero"))
        loop.call_later(-1, lambda: trace.append("neg"))
        loop.call_at(loop.time() - 5, lambda: trace.append("past"))
        await asyncio.sleep(0.01)
        async def selfcancel():
            asyncio.current_task().cancel(); return 42
        t2 = asyncio.create_task(selfcancel())
        try: trace.append(f"t2-result-{await t2}")
        except asyncio.CancelledError: trace.append(f"t2-cancelled-{t2.cancelled()}")
        async def selfcancel_raise():
            asyncio.current_task().cancel(); raise ValueError("boom")
        t3 = asyncio.create_task(selfcancel_raise())
        try: await t3
        except ValueError as e: trace.append(f"t3-error-{e}-cancelled-{t3.cancelled()}")
        f = loop.create_future(); f.set_result(1)
        trace.append(f"cancel-done-{f.cancel()}")
    3.11 and 3.13:
    T-start cb1 cb2 T-woke soon-from-cb2 past neg zero t2-cancelled-True
    t3-error-boom-cancelled-False cancel-done-False */
typedef struct {
    asyncio_coro co;
    const char *name;
    double d;
} sleeper_t;
static int sleeper(asyncio_task *self, void *frame)
{
    sleeper_t *f = (sleeper_t *)frame;
    ASYNCIO_BEGIN(self, f);
    trace("%s-start", f->name);
    ASYNCIO_SLEEP(f->d);
    trace("%s-woke", f->name);
    ASYNCIO_END();
}
static void say(asyncio_loop *loop, void *arg)
{
    (void)loop;
    trace("%s", (const char *)arg);
}
static void say_then_soon(asyncio_loop *loop, void *arg)
{
    trace("%s", (const char *)arg);
    asyncio_call_soon(loop, NULL, say, "soon-from-cb2");
}
typedef struct {
    asyncio_coro co;
    int raise;
} selfcancel_t;
static int selfcancel(asyncio_task *self, void *frame)
{
    selfcancel_t *f = (selfcancel_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_task_cancel(ASYNCIO_SELF());
    if (f->raise)
        ASYNCIO_RAISE(ASYNCIO_EUSER, "boom");
    ASYNCIO_RETURN(asyncio_int(42));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    sleeper_t s;
    selfcancel_t sc;
    asyncio_task t, t2, t3;
    asyncio_future f;
    int rc;
} sched_t;
static int sched_main(asyncio_task *self, void *frame)
{
    sched_t *f = (sched_t *)frame;
    asyncio_loop *L = self->fut.loop;
    ASYNCIO_BEGIN(self, f);
    f->s.name = "T";
    f->s.d = 0.1;
    asyncio_create_task(L, &f->t, sleeper, &f->s);
    ASYNCIO_YIELD();
    asyncio_call_later(L, NULL, 0.1, say, "cb1");
    asyncio_call_later(L, NULL, 0.1, say_then_soon, "cb2");
    ASYNCIO_AWAIT(&f->t.fut);
    asyncio_call_later(L, NULL, 0, say, "zero");
    asyncio_call_later(L, NULL, -1, say, "neg");
    asyncio_call_at(L, NULL, asyncio_loop_time(L) - 5, say, "past");
    ASYNCIO_SLEEP(0.01);
    asyncio_create_task(L, &f->t2, selfcancel, &f->sc);
    ASYNCIO_AWAIT_RC(f->rc, &f->t2.fut);
    if (f->rc == 0)
        trace("t2-result-%lld", ASYNCIO_RESULT().i);
    else
        trace("t2-%s-%d", f->rc == ASYNCIO_ECANCELLED ? "cancelled" : asyncio_err_name(f->rc), asyncio_future_cancelled(&f->t2.fut));
    f->sc.raise = 1;
    asyncio_create_task(L, &f->t3, selfcancel, &f->sc);
    ASYNCIO_AWAIT_RC(f->rc, &f->t3.fut);
    trace("t3-error-%s-cancelled-%d", ASYNCIO_ERRMSG(), asyncio_future_cancelled(&f->t3.fut));
    asyncio_future_init(&f->f, L);
    asyncio_future_set_result(&f->f, asyncio_int(1));
    trace("cancel-done-%d", asyncio_future_cancel(&f->f));
    ASYNCIO_END();
}
void test_sleep_wakes_a_pass_after_its_timer_and_past_deadlines_come_first(void)
{
    sched_t f;
    memset(&f, 0, sizeof f);
    trace_reset();
    CHECK_EQ(run_virtual(sched_main, &f, NULL), 0);
    CHECK_STR(trace_get(), "T-start cb1 cb2 T-woke soon-from-cb2 past neg zero t2-cancelled-1 "
                           "t3-error-boom-cancelled-0 cancel-done-0");
}
