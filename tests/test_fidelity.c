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

/* ---- cleanup that awaits ----------------------------------------------- */
/*  async def body(mode):
        try:
            tr(f"{mode}:body")
            if mode == "return": return 7
            if mode == "raise": raise ValueError("boom")
            await asyncio.sleep(10)   # cancelled here
        finally:
            tr(f"{mode}:cleanup"); await asyncio.sleep(1); tr(f"{mode}:cleanup-done")
    async def override(mode):
        try: raise ValueError("original")
        finally:
            await asyncio.sleep(0.5)
            if mode == "return": return 9
            raise KeyError("replacement")
    async def main():
        for mode in ("return", "raise"):
            try: r = await body(mode); tr(f"{mode}:result={r}")
            except ValueError as e: tr(f"{mode}:error={e}")
            tr(f"t={loop.time()-t0:.1f}")
        t = asyncio.create_task(body("cancel"))
        await asyncio.sleep(0.5); t.cancel()
        try: await t
        except asyncio.CancelledError: tr(f"cancel:cancelled t=...")
        t = asyncio.create_task(body("twice"))      # a second cancel interrupts the cleanup
        await asyncio.sleep(0.5); t.cancel(); await asyncio.sleep(0.5); t.cancel()
        try: await t
        except asyncio.CancelledError: tr(f"twice:cancelled t=...")
        tr(f"override-return={await override('return')}")
        try: await override("raise")
        except KeyError as e: tr(f"override-raise={e}")
    3.11 and 3.13: return:body return:cleanup return:cleanup-done return:result=7 t=1.0 raise:body
    raise:cleanup raise:cleanup-done raise:error=boom t=2.0 cancel:body cancel:cleanup cancel:cleanup-done
    cancel:cancelled t=3.5 twice:body twice:cleanup twice:cancelled t=4.5 override-return=9
    override-raise='replacement' */
typedef struct {
    asyncio_coro co;
    const char *mode;
    asyncio_finally fin;
} fbody_t;
static int fbody(asyncio_task *self, void *frame)
{
    fbody_t *f = (fbody_t *)frame;
    ASYNCIO_BEGIN(self, f);
    trace("%s:body", f->mode);
    if (!strcmp(f->mode, "return"))
        ASYNCIO_RETURN(asyncio_int(7));
    if (!strcmp(f->mode, "raise"))
        ASYNCIO_RAISE(ASYNCIO_EUSER, "boom");
    ASYNCIO_SLEEP(10);
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        trace("%s:cleanup", f->mode);
        ASYNCIO_SLEEP(1);
        trace("%s:cleanup-done", f->mode);
    }
    ASYNCIO_END();
}
static int override(asyncio_task *self, void *frame)
{
    fbody_t *f = (fbody_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_RAISE(ASYNCIO_EUSER, "original");
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        CHECK_EQ(asyncio_finally_pending(&f->fin), ASYNCIO_EUSER);
        ASYNCIO_SLEEP(0.5);
        if (!strcmp(f->mode, "return"))
            ASYNCIO_RETURN(asyncio_int(9));
        ASYNCIO_RAISE(ASYNCIO_EUSER - 1, "'replacement'");
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    fbody_t b;
    asyncio_task t;
    double t0;
    int rc;
} fmain_t;
static int fmain(asyncio_task *self, void *frame)
{
    fmain_t *f = (fmain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    f->b.mode = "return";
    ASYNCIO_AWAIT_CORO(fbody, &f->b);
    trace("return:result=%lld", ASYNCIO_RESULT().i);
    trace("t=%.1f", asyncio_loop_time(ASYNCIO_LOOP()) - f->t0);
    f->b.mode = "raise";
    ASYNCIO_AWAIT_CORO_RC(f->rc, fbody, &f->b);
    trace("raise:error=%s", ASYNCIO_ERRMSG());
    trace("t=%.1f", asyncio_loop_time(ASYNCIO_LOOP()) - f->t0);
    f->b.mode = "cancel";
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, fbody, &f->b);
    ASYNCIO_SLEEP(0.5);
    asyncio_task_cancel(&f->t);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
    trace("cancel:cancelled t=%.1f", asyncio_loop_time(ASYNCIO_LOOP()) - f->t0);
    f->b.mode = "twice";
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, fbody, &f->b);
    ASYNCIO_SLEEP(0.5);
    asyncio_task_cancel(&f->t);
    ASYNCIO_SLEEP(0.5);
    asyncio_task_cancel(&f->t);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
    trace("twice:cancelled t=%.1f", asyncio_loop_time(ASYNCIO_LOOP()) - f->t0);
    f->b.mode = "return";
    ASYNCIO_AWAIT_CORO(override, &f->b);
    trace("override-return=%lld", ASYNCIO_RESULT().i);
    f->b.mode = "raise";
    ASYNCIO_AWAIT_CORO_RC(f->rc, override, &f->b);
    CHECK_EQ(f->rc, ASYNCIO_EUSER - 1);
    trace("override-raise=%s", ASYNCIO_ERRMSG());
    ASYNCIO_END();
}
void test_finally_async_awaits_and_reraises_like_python(void)
{
    fmain_t f;
    memset(&f, 0, sizeof f);
    trace_reset();
    CHECK_EQ(run_virtual(fmain, &f, NULL), 0);
    CHECK_STR(trace_get(), "return:body return:cleanup return:cleanup-done return:result=7 t=1.0 raise:body "
                           "raise:cleanup raise:cleanup-done raise:error=boom t=2.0 cancel:body cancel:cleanup "
                           "cancel:cleanup-done cancel:cancelled t=3.5 twice:body twice:cleanup twice:cancelled "
                           "t=4.5 override-return=9 override-raise='replacement'");
}

/* ---- one evaluation per await ------------------------------------------ */
typedef struct {
    asyncio_coro co;
    int sleeps;
} napper_t;
static int napper(asyncio_task *self, void *frame)
{
    napper_t *f = (napper_t *)frame;
    ASYNCIO_BEGIN(self, f);
    while (f->sleeps-- > 0) {
        ASYNCIO_SLEEP(0.1);
    }
    ASYNCIO_END();
}
static int setups;
static napper_t *napper_setup(napper_t *n, int sleeps)
{
    setups++; /* a user's helper with a side effect */
    n->sleeps = sleeps;
    return n;
}
typedef struct {
    asyncio_coro co;
    napper_t n;
} once_t;
static int once_main(asyncio_task *self, void *frame)
{
    once_t *f = (once_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(napper, napper_setup(&f->n, 5)); /* resumed five times */
    CHECK_EQ(setups, 1);
    ASYNCIO_AWAIT_CORO(napper, napper_setup(&f->n, 2));
    CHECK_EQ(setups, 2);
    ASYNCIO_END();
}
void test_await_coro_evaluates_its_setup_once(void)
{
    once_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_virtual(once_main, &f, NULL), 0);
}

/* ---- async generators: athrow, aclose awaiting, finalisation ----------- */
/*  async def numbers():
        try:
            for i in range(3):
                try: yield i
                except ValueError as e:
                    trace.append(f"caught-{e}"); yield 100
        finally:
            trace.append("cleanup-start"); await asyncio.sleep(0.1); trace.append("cleanup-done")
    async def ignores():
        try: yield 1
        finally: yield 2
    async def main():
        g = numbers()
        trace.append(f"next-{await anext(g)}")
        trace.append(f"throw-{await g.athrow(ValueError('x'))}")
        trace.append(f"next-{await anext(g)}")
        await g.aclose(); trace.append("closed")
        try: await anext(g)
        except StopAsyncIteration: trace.append("stop-after-close")
        g2 = numbers()
        try: await g2.athrow(ValueError("early"))
        except ValueError as e: trace.append(f"unstarted-throw-{e}")
        try: await anext(g2)
        except StopAsyncIteration: trace.append("g2-stopped")
        await g2.athrow(ValueError("late"))     # exhausted: nothing happens
        g3 = ignores(); await anext(g3)
        try: await g3.aclose()
        except RuntimeError as e: trace.append(f"runtime-{e}")
        g4 = ignores()
        async for v in g4: trace.append(f"g4-{v}")
        async def consumer():
            async for v in numbers():
                trace.append(f"c-{v}")
                if v == 1: raise KeyError("out")
        try: await consumer()
        except KeyError: trace.append("consumer-failed")
        trace.append("after-consumer")
        await asyncio.sleep(0.2)
        trace.append("later")
    3.11 and 3.13: next-0 caught-x throw-100 next-1 cleanup-start cleanup-done closed
    stop-after-close unstarted-throw-early g2-stopped runtime-async generator ignored
    GeneratorExit g4-1 g4-2 c-0 c-1 consumer-failed after-consumer cleanup-start
    cleanup-done later */
typedef struct {
    asyncio_coro co;
    int i, rc;
    asyncio_finally fin;
} gnum_t;
static int gnumbers(asyncio_task *self, void *frame)
{
    gnum_t *f = (gnum_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_YIELD_VALUE_RC(f->rc, asyncio_int(f->i));
        if (f->rc == ASYNCIO_EUSER) { /* except ValueError */
            trace("caught-%s", ASYNCIO_ERRMSG());
            ASYNCIO_YIELD_VALUE(asyncio_int(100));
        } else if (f->rc < 0)
            ASYNCIO_RAISE(f->rc, ASYNCIO_ERRMSG());
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        trace("cleanup-start");
        ASYNCIO_SLEEP(0.1);
        trace("cleanup-done");
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_finally fin;
} ignores_t;
static int ignores(asyncio_task *self, void *frame)
{
    ignores_t *f = (ignores_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD_VALUE(asyncio_int(1));
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        ASYNCIO_YIELD_VALUE(asyncio_int(2));
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    gnum_t g;
    asyncio_value v;
} gconsumer_t;
static int gconsumer(asyncio_task *self, void *frame)
{
    gconsumer_t *f = (gconsumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_FOR(f->v, gnumbers, &f->g) {
        trace("c-%lld", f->v.i);
        if (f->v.i == 1)
            ASYNCIO_RAISE(ASYNCIO_EUSER - 3, "out");
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    gnum_t g, g2;
    ignores_t g3, g4;
    gconsumer_t c;
    asyncio_value v;
    int rc;
} gmain_t;
static int gmain(asyncio_task *self, void *frame)
{
    gmain_t *f = (gmain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_NEXT(gnumbers, &f->g);
    trace("next-%lld", ASYNCIO_RESULT().i);
    ASYNCIO_ATHROW(gnumbers, &f->g, ASYNCIO_EUSER, "x");
    trace("throw-%lld", ASYNCIO_RESULT().i);
    ASYNCIO_NEXT(gnumbers, &f->g);
    trace("next-%lld", ASYNCIO_RESULT().i);
    ASYNCIO_ACLOSE(gnumbers, &f->g);
    trace("closed");
    ASYNCIO_NEXT_RC(f->rc, gnumbers, &f->g);
    if (f->rc == ASYNCIO_ESTOPITERATION)
        trace("stop-after-close");
    ASYNCIO_ATHROW_RC(f->rc, gnumbers, &f->g2, ASYNCIO_EUSER, "early");
    if (f->rc == ASYNCIO_EUSER)
        trace("unstarted-throw-%s", ASYNCIO_ERRMSG());
    ASYNCIO_NEXT_RC(f->rc, gnumbers, &f->g2);
    if (f->rc == ASYNCIO_ESTOPITERATION)
        trace("g2-stopped");
    ASYNCIO_ATHROW(gnumbers, &f->g2, ASYNCIO_EUSER, "late"); /* exhausted: nothing happens */
    ASYNCIO_NEXT(ignores, &f->g3);
    ASYNCIO_ACLOSE_RC(f->rc, ignores, &f->g3);
    if (f->rc == ASYNCIO_EINVALIDSTATE)
        trace("runtime-%s", ASYNCIO_ERRMSG());
    ASYNCIO_FOR(f->v, ignores, &f->g4) {
        trace("g4-%lld", f->v.i);
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, gconsumer, &f->c);
    if (f->rc == ASYNCIO_EUSER - 3)
        trace("consumer-failed");
    trace("after-consumer");
    ASYNCIO_SLEEP(0.2);
    trace("later");
    ASYNCIO_END();
}
void test_generators_athrow_aclose_and_finalizer_like_python(void)
{
    static gmain_t f;
    trace_reset();
    CHECK_EQ(run_virtual(gmain, &f, NULL), 0);
    CHECK_STR(trace_get(), "next-0 caught-x throw-100 next-1 cleanup-start cleanup-done closed "
                           "stop-after-close unstarted-throw-early g2-stopped runtime-async generator ignored "
                           "GeneratorExit g4-1 g4-2 c-0 c-1 consumer-failed after-consumer cleanup-start "
                           "cleanup-done later");
}

/* ---- misuse caught ----------------------------------------------------- */
/* A suspension inside a switch of the body's own: the switch flavour
   cannot resume there; the coroutine fails with a message instead of
   skipping the rest of its body, and the warning names file and line.
   The labels flavour resumes there, as it should. */
typedef struct {
    asyncio_coro co;
    int which;
} inswitch_t;
static int sleep_line;
static int inswitch(asyncio_task *self, void *frame)
{
    inswitch_t *f = (inswitch_t *)frame;
    ASYNCIO_BEGIN(self, f);
    trace("before");
    switch (f->which) {
    case 1:
        sleep_line = __LINE__ + 1;
        ASYNCIO_SLEEP(1); /* resume point inside our own switch */
        trace("after-sleep");
        break;
    default:
        break;
    }
    trace("end");
    ASYNCIO_END();
}
void test_suspension_inside_own_switch_is_reported(void)
{
    asyncio_loop loop;
    asyncio_task t;
    inswitch_t f;
    char where[128];
    f.which = 1;
    trace_reset();
    vloop_init(&loop);
    asyncio_create_task(&loop, &t, inswitch, &f);
    asyncio_loop_run_until_complete(&loop, &t.fut);
#if ASYNCIO_LABELS
    CHECK_EQ(asyncio_future_error(&t.fut), 0);
    CHECK_STR(trace_get(), "before after-sleep end");
#else
    CHECK_EQ(asyncio_future_error(&t.fut), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_future_errmsg(&t.fut), "coroutine resumed inside a switch of its own: the resume point is "
                                             "out of reach (see ASYNCIO_LABELS)");
    CHECK_STR(trace_get(), "before");
    snprintf(where, sizeof where, "tests/test_fidelity.c:%d: coroutine 'inswitch' cannot resume there", sleep_line);
    CHECK(strstr(last_warning, where) == last_warning);
#endif
    (void)where;
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

#if ASYNCIO_DEBUG
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static int warn_pipe = -1;
static void warn_to_pipe(void *ctx, const char *msg)
{
    (void)ctx;
    if (write(warn_pipe, msg, strlen(msg)) < 0) {
    }
}
/* Run fn(loop) in a child that must die by the debug assertion; the
   warning it wrote before dying goes to *said. */
static void dies_by_assert(void (*fn)(asyncio_loop *), char *said, size_t size)
{
    int p[2], status;
    ssize_t n;
    pid_t pid;
    CHECK_EQ(pipe(p), 0);
    pid = fork();
    if (pid == 0) {
        asyncio_config cfg;
        asyncio_loop loop;
        close(p[0]);
        warn_pipe = p[1];
        fclose(stderr);
        memset(&cfg, 0, sizeof cfg);
        cfg.virtual_clock = 1;
        cfg.warn = warn_to_pipe;
        cfg.slow_callback_duration = -1; /* a loaded machine must not add warnings */
        CHECK_EQ(asyncio_loop_init(&loop, &cfg), 0);
        fn(&loop);
        _exit(0);
    }
    close(p[1]);
    n = read(p[0], said, size - 1);
    said[n > 0 ? n : 0] = 0;
    close(p[0]);
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void reuse_frame(asyncio_loop *loop)
{
    static sleeper_t s = {ASYNCIO_CORO_INIT, "a", 1};
    static asyncio_task t1, t2;
    asyncio_create_task(loop, &t1, sleeper, &s);
    asyncio_create_task(loop, &t2, sleeper, &s); /* the same frame, t1 pending */
}

typedef struct {
    asyncio_coro co;
    asyncio_taskgroup tg;
    sleeper_t kid;
} leaver_t;
static int group_leaver(asyncio_task *self, void *frame)
{
    leaver_t *f = (leaver_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    asyncio_taskgroup_create_task(&f->tg, NULL, sleeper, &f->kid, NULL);
    ASYNCIO_RETURN(asyncio_int(0)); /* without asyncio_taskgroup_wait */
    ASYNCIO_END();
}
static void leave_group(asyncio_loop *loop)
{
    static leaver_t f;
    static asyncio_task t;
    f.kid.name = "kid";
    f.kid.d = 1;
    asyncio_create_task(loop, &t, group_leaver, &f);
    asyncio_loop_run_until_complete(loop, &t.fut);
}

void test_debug_build_catches_frame_reuse_and_taskgroup_left_open(void)
{
    char said[600];
    dies_by_assert(reuse_frame, said, sizeof said);
    CHECK(strstr(said, "task 'sleeper' still runs on the frame a new task was given") != NULL);
    CHECK(strstr(said, "tests/test_fidelity.c:") == said);
    dies_by_assert(leave_group, said, sizeof said);
    CHECK(strstr(said, "task 'group_leaver' ended inside a TaskGroup it never exited") != NULL);
}
#else
void test_debug_build_catches_frame_reuse_and_taskgroup_left_open(void) { CHECK(!"built with ASYNCIO_DEBUG"); }
#endif

/* asyncio_run closes the generators left open, awaiting their cleanups,
   before it returns:
    async def numbers():
        try:
            for i in range(3): yield i
        finally:
            trace.append("cleanup-start"); await asyncio.sleep(0.1); trace.append("cleanup-done")
    async def stuck(g):
        trace.append(f"got-{await anext(g)}"); await asyncio.Future()
    async def main():
        global g_global
        g_global = numbers(); trace.append(f"main-got-{await anext(g_global)}")
        t = asyncio.create_task(stuck(numbers()))
        await asyncio.sleep(0); trace.append("main-returns")
    asyncio.run(main()); trace.append("after-run")
    3.11 and 3.13: main-got-0 got-0 main-returns cleanup-start cleanup-start cleanup-done
    cleanup-done after-run */
typedef struct {
    asyncio_coro co;
    int i;
    asyncio_finally fin;
} threegen_t;
static int threegen(asyncio_task *self, void *frame)
{
    threegen_t *f = (threegen_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_YIELD_VALUE(asyncio_int(f->i));
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        trace("cleanup-start");
        ASYNCIO_SLEEP(0.1);
        trace("cleanup-done");
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    threegen_t g;
    asyncio_future never;
} stuck_t;
static int stuck(asyncio_task *self, void *frame)
{
    stuck_t *f = (stuck_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_NEXT(threegen, &f->g);
    trace("got-%lld", ASYNCIO_RESULT().i);
    asyncio_future_init(&f->never, ASYNCIO_LOOP());
    ASYNCIO_AWAIT(&f->never);
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    threegen_t g;
    stuck_t s;
    asyncio_task t;
} shut_t;
static int shut_main(asyncio_task *self, void *frame)
{
    shut_t *f = (shut_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_NEXT(threegen, &f->g);
    trace("main-got-%lld", ASYNCIO_RESULT().i);
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, stuck, &f->s);
    ASYNCIO_YIELD();
    trace("main-returns");
    ASYNCIO_END();
}
void test_asyncio_run_closes_generators_left_open(void)
{
    static shut_t f;
    trace_reset();
    CHECK_EQ(run_virtual(shut_main, &f, NULL), 0);
    trace("after-run");
    CHECK_STR(trace_get(), "main-got-0 got-0 main-returns cleanup-start cleanup-start cleanup-done cleanup-done "
                           "after-run");
}

/* ---- errors that say what went wrong ----------------------------------- */
/* CPython's messages (3.13):
     asyncio.Lock().release()                 RuntimeError 'Lock is not acquired.'
     BoundedSemaphore(1).release()            ValueError 'BoundedSemaphore released too many times'
     asyncio.Condition().notify()             RuntimeError 'cannot notify on un-acquired lock'
     asyncio.Queue().task_done()              ValueError 'task_done() called too many times'
     loop.create_future().result()            InvalidStateError 'Result is not set.'
     loop.create_future().exception()         InvalidStateError 'Exception is not set.'
     await asyncio.wait([])                   ValueError 'Set of Tasks/Futures is empty.' */
void test_plain_calls_say_what_went_wrong(void)
{
    asyncio_loop loop;
    asyncio_lock lock;
    asyncio_semaphore sem;
    asyncio_condition cond;
    asyncio_queue q;
    asyncio_future f;
    asyncio_wait_t w;
    asyncio_executor *ex;
    vloop_init(&loop);
    CHECK_STR(asyncio_errmsg(), "");
    asyncio_lock_init(&lock, &loop);
    CHECK_EQ(asyncio_lock_release(&lock), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_errmsg(), "Lock is not acquired.");
    asyncio_semaphore_init(&sem, &loop, 1, 1);
    CHECK_EQ(asyncio_semaphore_release(&sem), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_errmsg(), "BoundedSemaphore released too many times");
    asyncio_condition_init(&cond, &lock);
    CHECK_EQ(asyncio_condition_notify(&cond, 1), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_errmsg(), "cannot notify on un-acquired lock");
    asyncio_queue_init(&q, &loop, ASYNCIO_FIFO, NULL, 0);
    CHECK_EQ(asyncio_queue_task_done(&q), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_errmsg(), "task_done() called too many times");
    asyncio_future_init(&f, &loop);
    CHECK_EQ(asyncio_future_result(&f, NULL), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_errmsg(), "Result is not set.");
    CHECK_EQ(asyncio_future_error(&f), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_errmsg(), "Exception is not set.");
    CHECK_EQ(asyncio_wait(&w, &loop, NULL, 0, ASYNCIO_ALL_COMPLETED, -1), -EINVAL);
    CHECK_STR(asyncio_errmsg(), "Set of Tasks/Futures is empty.");
    CHECK_EQ(asyncio_future_set_error(&f, ASYNCIO_EUSER, "broken"), 0);
    CHECK_EQ(asyncio_future_result(&f, NULL), ASYNCIO_EUSER); /* the future's own error and message */
    CHECK_STR(asyncio_errmsg(), "broken");
    CHECK_EQ(asyncio_future_set_result(&f, asyncio_int(1)), ASYNCIO_EINVALIDSTATE);
    CHECK_STR(asyncio_errmsg(), "set_result: the future is already done");
    CHECK_EQ(asyncio_fd_add(&loop, -1), -EBADF);
    CHECK_STR(asyncio_errmsg(), "fd_add: -1 is not an open file descriptor");
    CHECK_EQ(asyncio_executor_new(&ex, 0), -EINVAL);
    CHECK_STR(asyncio_errmsg(), "executor: max_workers must be between 1 and 1024, not 0");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(asyncio_loop_run_forever(&loop), ASYNCIO_ELOOPCLOSED);
    CHECK_STR(asyncio_errmsg(), "Event loop is closed");
}

/* Application errors named once (Python's exception classes). */
void test_applications_name_their_errors(void)
{
    enum { EVALUE = ASYNCIO_EUSER - 1, EKEY = ASYNCIO_EUSER - 2 };
    CHECK_STR(asyncio_err_name(EVALUE), "EUSER");
    CHECK_EQ(asyncio_define_error(EVALUE, "ValueError", "invalid value"), 0);
    CHECK_EQ(asyncio_define_error(EKEY, "KeyError", NULL), 0);
    CHECK_STR(asyncio_err_name(EVALUE), "ValueError");
    CHECK_STR(asyncio_strerror(EVALUE), "invalid value");
    CHECK_STR(asyncio_err_name(EKEY), "KeyError");
    CHECK_STR(asyncio_strerror(EKEY), "application error");
    CHECK_EQ(asyncio_define_error(EVALUE, "BadValue", "bad value"), 0); /* renamed */
    CHECK_STR(asyncio_err_name(EVALUE), "BadValue");
    CHECK_STR(asyncio_err_name(ASYNCIO_EUSER - 3), "EUSER");
    CHECK_EQ(asyncio_define_error(-5, "Nope", NULL), -EINVAL);
    CHECK_EQ(asyncio_define_error(EVALUE, NULL, NULL), -EINVAL);
    CHECK_STR(asyncio_err_name(-ENOENT), "ENOENT");
}

/* ASYNCIO_ERRMSG() survives later awaits: it can be passed on after a
   cleanup that awaited. */
typedef struct {
    asyncio_coro co;
    asyncio_future f;
    int rc;
} passon_t;
static int passon(asyncio_task *self, void *frame)
{
    passon_t *f = (passon_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_future_init(&f->f, ASYNCIO_LOOP());
    asyncio_future_set_error(&f->f, ASYNCIO_EUSER, "the original reason");
    ASYNCIO_AWAIT_RC(f->rc, &f->f);
    ASYNCIO_SLEEP(0.1); /* say goodbye, then report */
    ASYNCIO_YIELD();
    ASYNCIO_RAISE(f->rc, ASYNCIO_ERRMSG());
    ASYNCIO_END();
}
void test_errmsg_survives_later_awaits(void)
{
    passon_t f;
    asyncio_outcome out;
    CHECK_EQ(run_virtual(passon, &f, &out), ASYNCIO_EUSER);
    CHECK_STR(out.msg, "the original reason");
}

/* ---- timeout scopes: when, reschedule, timeout_at, never --------------- */
/*  async with asyncio.timeout(1) as cm:
        tr(f"when={cm.when()-t0:.1f}"); cm.reschedule(loop.time() + 3)
        await asyncio.sleep(2); tr("survived")
    try:
        async with asyncio.timeout_at(loop.time() + 0.5) as cm: await asyncio.sleep(1)
    except TimeoutError: tr(f"expired={cm.expired()} t=...")
    try: cm.reschedule(loop.time() + 1)
    except RuntimeError as e: tr(f"after:{e}")
    cm2 = asyncio.timeout(None)
    try:
        async with cm2:
            tr(f"none={cm2.when() is None}"); cm2.reschedule(loop.time() - 1); await asyncio.sleep(1)
    except TimeoutError: tr(f"past t=...")
    cm3 = asyncio.timeout(5)
    try: cm3.reschedule(1)
    except RuntimeError as e: tr(f"before:{e}")
    try:
        async with cm3:
            async with cm3: pass
    except RuntimeError as e: tr(f"reenter:{e}")
    3.12 and 3.13: when=1.0 survived expired=True t=2.5 after:Cannot change state of expired
    Timeout none=True past t=2.5 before:Timeout has not been entered reenter:Timeout has
    already been entered */
typedef struct {
    asyncio_coro co;
    asyncio_timeout cm, cm3;
    double t0;
    int rc;
} to_t;
static int timeouts_main(asyncio_task *self, void *frame)
{
    to_t *f = (to_t *)frame;
    asyncio_loop *L = self->fut.loop;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time(L);
    CHECK_EQ(asyncio_timeout_enter(&f->cm, self, 1), 0);
    trace("when=%.1f", asyncio_timeout_when(&f->cm) - f->t0);
    CHECK_EQ(asyncio_timeout_reschedule(&f->cm, asyncio_loop_time(L) + 3), 0);
    ASYNCIO_SLEEP_RC(f->rc, 2);
    f->rc = asyncio_timeout_exit(&f->cm, f->rc);
    CHECK_EQ(f->rc, 0);
    trace("survived");
    CHECK_EQ(asyncio_timeout_enter_at(&f->cm, self, asyncio_loop_time(L) + 0.5), 0);
    ASYNCIO_SLEEP_RC(f->rc, 1);
    if ((f->rc = asyncio_timeout_exit(&f->cm, f->rc)) == ASYNCIO_ETIMEDOUT)
        trace("expired=%s t=%.1f", asyncio_timeout_expired(&f->cm) ? "True" : "False", asyncio_loop_time(L) - f->t0);
    if (asyncio_timeout_reschedule(&f->cm, asyncio_loop_time(L) + 1) == ASYNCIO_EINVALIDSTATE)
        trace("after:%s", asyncio_errmsg());
    CHECK_EQ(asyncio_timeout_enter(&f->cm, self, ASYNCIO_NEVER), 0);
    trace("none=%s", asyncio_timeout_when(&f->cm) == ASYNCIO_NEVER ? "True" : "False");
    CHECK_EQ(asyncio_timeout_reschedule(&f->cm, asyncio_loop_time(L) - 1), 0);
    ASYNCIO_SLEEP_RC(f->rc, 1);
    if ((f->rc = asyncio_timeout_exit(&f->cm, f->rc)) == ASYNCIO_ETIMEDOUT)
        trace("past t=%.1f", asyncio_loop_time(L) - f->t0);
    memset(&f->cm3, 0, sizeof f->cm3); /* asyncio.timeout(5), not entered */
    if (asyncio_timeout_reschedule(&f->cm3, 1) == ASYNCIO_EINVALIDSTATE)
        trace("before:%s", asyncio_errmsg());
    CHECK_EQ(asyncio_timeout_enter(&f->cm3, self, 5), 0);
    if (asyncio_timeout_enter(&f->cm3, self, 5) == ASYNCIO_EINVALIDSTATE)
        trace("reenter:%s", asyncio_errmsg());
    CHECK_EQ(asyncio_timeout_exit(&f->cm3, 0), 0);
    ASYNCIO_END();
}
void test_timeout_scopes_when_reschedule_and_never(void)
{
    to_t f;
    memset(&f, 0, sizeof f);
    trace_reset();
    CHECK_EQ(run_virtual(timeouts_main, &f, NULL), 0);
    CHECK_STR(trace_get(), "when=1.0 survived expired=True t=2.5 after:Cannot change state of expired Timeout "
                           "none=True past t=2.5 before:Timeout has not been entered reenter:Timeout has already "
                           "been entered");
}

/* ---- wait's sets, wait_for and shield on coroutines, priority items ---- */
/*  async def work(n, d): await asyncio.sleep(d); tr(f"work{n}-done"); return n
    async def shielded(): return await asyncio.shield(work(5, 1))
    async def main():
        t1 = asyncio.create_task(work(1, 1)); t2 = asyncio.create_task(work(2, 3))
        done, pending = await asyncio.wait([t1, t2], timeout=2)
        tr(f"done={[t.result() for t in done]} pending={len(pending)}")
        try: await asyncio.wait_for(work(3, 5), 1)
        except TimeoutError: tr("wait_for-timeout")
        tr(f"wait_for={await asyncio.wait_for(work(4, 0.5), 1)}")
        s = asyncio.create_task(shielded())
        await asyncio.sleep(0.5); s.cancel()
        try: await s
        except asyncio.CancelledError: tr("shield-outer-cancelled")
        await asyncio.sleep(1); await t2
        q = asyncio.PriorityQueue(4)
        for item in [(2, 20), (1, 11), (1, 10), (3, 30)]: q.put_nowait(item)
        while not q.empty(): p, d = await q.get(); tr(f"{p}:{d}")
    3.12 and 3.13: work1-done done=[1] pending=1 work2-done wait_for-timeout work4-done
    wait_for=4 shield-outer-cancelled work5-done 1:10 1:11 2:20 3:30 */
typedef struct {
    asyncio_coro co;
    int n;
    double d;
} work_t;
static int work(asyncio_task *self, void *frame)
{
    work_t *f = (work_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(f->d);
    trace("work%d-done", f->n);
    ASYNCIO_RETURN(asyncio_int(f->n));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    work_t w;
    asyncio_task t;
    asyncio_shield_t s;
} shielded_t;
static int shielded(asyncio_task *self, void *frame)
{
    shielded_t *f = (shielded_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->w.n = 5;
    f->w.d = 1;
    CHECK_EQ(asyncio_shield_coro(&f->s, ASYNCIO_LOOP(), &f->t, work, &f->w), 0);
    ASYNCIO_AWAIT(&f->s.fut);
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    work_t w1, w2, w3, w4;
    asyncio_task t1, t2, t3, t4, ts;
    shielded_t sh;
    asyncio_future *futs[2], *done[2], *pending[2];
    asyncio_wait_t w;
    asyncio_timeout to;
    asyncio_queue q;
    asyncio_priority_item pq[4];
    asyncio_queue_op op;
    int rc;
} api_t;
static int api_main(asyncio_task *self, void *frame)
{
    api_t *f = (api_t *)frame;
    asyncio_loop *L = self->fut.loop;
    ASYNCIO_BEGIN(self, f);
    f->w1.n = 1, f->w1.d = 1, f->w2.n = 2, f->w2.d = 3, f->w3.n = 3, f->w3.d = 5, f->w4.n = 4, f->w4.d = 0.5;
    f->futs[0] = &asyncio_create_task(L, &f->t1, work, &f->w1)->fut;
    f->futs[1] = &asyncio_create_task(L, &f->t2, work, &f->w2)->fut;
    CHECK_EQ(asyncio_wait(&f->w, L, f->futs, 2, ASYNCIO_ALL_COMPLETED, 2), 0);
    ASYNCIO_AWAIT(&f->w.fut);
    CHECK_EQ(asyncio_wait_sets(&f->w, f->done, f->pending), 1);
    CHECK(f->pending[0] == &f->t2.fut);
    trace("done=[%lld] pending=1", f->done[0]->u.value.i);
    ASYNCIO_WAIT_FOR_CORO_RC(f->rc, &f->to, &f->t3, work, &f->w3, 1);
    if (f->rc == ASYNCIO_ETIMEDOUT)
        trace("wait_for-timeout");
    ASYNCIO_WAIT_FOR_CORO(&f->to, &f->t4, work, &f->w4, 1);
    trace("wait_for=%lld", ASYNCIO_RESULT().i);
    asyncio_create_task(L, &f->ts, shielded, &f->sh);
    ASYNCIO_SLEEP(0.5);
    asyncio_task_cancel(&f->ts);
    ASYNCIO_AWAIT_RC(f->rc, &f->ts.fut);
    if (f->rc == ASYNCIO_ECANCELLED)
        trace("shield-outer-cancelled");
    ASYNCIO_SLEEP(1);
    ASYNCIO_AWAIT(&f->t2.fut);
    asyncio_queue_init(&f->q, L, ASYNCIO_PRIORITY, f->pq, 4);
    asyncio_queue_put_priority_nowait(&f->q, 2, asyncio_int(20));
    asyncio_queue_put_priority_nowait(&f->q, 1, asyncio_int(11));
    asyncio_queue_put_priority_nowait(&f->q, 1, asyncio_int(10));
    asyncio_queue_put_priority_nowait(&f->q, 3, asyncio_int(30));
    CHECK_EQ(asyncio_queue_put_priority_nowait(&f->q, 0, asyncio_int(0)), ASYNCIO_EQUEUEFULL);
    while (!asyncio_queue_empty(&f->q)) {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_get(&f->op, &f->q));
        trace("%lld:%lld", asyncio_queue_op_priority(&f->op), ASYNCIO_RESULT().i);
    }
    ASYNCIO_END();
}
void test_wait_sets_coroutines_for_wait_for_and_shield_and_priority_items(void)
{
    static api_t f;
    trace_reset();
    CHECK_EQ(run_virtual(api_main, &f, NULL), 0);
    CHECK_STR(trace_get(), "work1-done done=[1] pending=1 work2-done wait_for-timeout work4-done wait_for=4 "
                           "shield-outer-cancelled work5-done 1:10 1:11 2:20 3:30");
}

/* ---- async with: a context manager whose exit awaits ------------------- */
/*  class CM:
        def __init__(self, suppress): self.suppress = suppress
        async def __aenter__(self): tr("enter"); await asyncio.sleep(0.1); return 42
        async def __aexit__(self, et, e, tb):
            tr(f"exit:{et.__name__ if et else None}"); await asyncio.sleep(0.1); tr("exit-done")
            return self.suppress
    async def body(v, mode):
        tr(f"body:{v}")
        if mode == "raise": raise ValueError("boom")
        if mode == "sleep": await asyncio.sleep(10)
        return 7
    async def use(mode, suppress):
        async with CM(suppress) as v: return await body(v, mode)
    async def main():
        tr(f"ok={await use('ok', False)}")
        tr(f"suppressed={await use('raise', True)}")
        try: await use('raise', False)
        except ValueError as e: tr(f"raised={e}")
        t = asyncio.create_task(use('sleep', False))
        await asyncio.sleep(0.5); t.cancel()
        try: await t
        except asyncio.CancelledError: tr("cancelled")
    3.13: enter body:42 exit:None exit-done ok=7 enter body:42 exit:ValueError exit-done
    suppressed=None enter body:42 exit:ValueError exit-done raised=boom enter body:42
    exit:CancelledError exit-done cancelled */
typedef struct {
    asyncio_context ctx;
    int suppress;
} cm_t;
static int cm_enter(asyncio_task *self, void *frame)
{
    cm_t *f = (cm_t *)frame;
    ASYNCIO_BEGIN(self, &f->ctx);
    trace("enter");
    ASYNCIO_SLEEP(0.1);
    ASYNCIO_RETURN(asyncio_int(42));
    ASYNCIO_END();
}
static int cm_exit(asyncio_task *self, void *frame)
{
    cm_t *f = (cm_t *)frame;
    ASYNCIO_BEGIN(self, &f->ctx);
    trace("exit:%s", !f->ctx.err ? "None" : f->ctx.err == ASYNCIO_ECANCELLED ? "CancelledError" : "ValueError");
    ASYNCIO_SLEEP(0.1);
    trace("exit-done");
    ASYNCIO_RETURN(asyncio_int(f->suppress));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    cm_t *cm;
    const char *mode;
} cmbody_t;
static int cm_body(asyncio_task *self, void *frame)
{
    cmbody_t *f = (cmbody_t *)frame;
    ASYNCIO_BEGIN(self, f);
    trace("body:%lld", f->cm->ctx.value.i);
    if (!strcmp(f->mode, "raise"))
        ASYNCIO_RAISE(ASYNCIO_EUSER, "boom");
    if (!strcmp(f->mode, "sleep")) {
        ASYNCIO_SLEEP(10);
    }
    ASYNCIO_RETURN(asyncio_int(7));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    cm_t cm;
    cmbody_t body;
    asyncio_with_op with;
} use_t;
static int use_cm(asyncio_task *self, void *frame)
{
    use_t *f = (use_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->body.cm = &f->cm;
    ASYNCIO_AWAIT_CORO(asyncio_with, asyncio_with_context(&f->with, &f->cm.ctx, cm_enter, cm_exit, cm_body, &f->body));
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    use_t use;
    asyncio_task t;
    int rc;
} cmmain_t;
static int cm_main(asyncio_task *self, void *frame)
{
    cmmain_t *f = (cmmain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->use.body.mode = "ok";
    ASYNCIO_AWAIT_CORO(use_cm, &f->use);
    trace("ok=%lld", ASYNCIO_RESULT().i);
    f->use.body.mode = "raise";
    f->use.cm.suppress = 1;
    ASYNCIO_AWAIT_CORO(use_cm, &f->use);
    trace("suppressed=%s", ASYNCIO_RESULT().i ? "?" : "None");
    f->use.cm.suppress = 0;
    ASYNCIO_AWAIT_CORO_RC(f->rc, use_cm, &f->use);
    if (f->rc == ASYNCIO_EUSER)
        trace("raised=%s", ASYNCIO_ERRMSG());
    f->use.body.mode = "sleep";
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, use_cm, &f->use);
    ASYNCIO_SLEEP(0.5);
    asyncio_task_cancel(&f->t);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    if (f->rc == ASYNCIO_ECANCELLED)
        trace("cancelled");
    ASYNCIO_END();
}
void test_async_with_a_context_manager_whose_exit_awaits(void)
{
    static cmmain_t f;
    trace_reset();
    CHECK_EQ(run_virtual(cm_main, &f, NULL), 0);
    CHECK_STR(trace_get(), "enter body:42 exit:None exit-done ok=7 enter body:42 exit:ValueError exit-done "
                           "suppressed=None enter body:42 exit:ValueError exit-done raised=boom enter body:42 "
                           "exit:CancelledError exit-done cancelled");
}
