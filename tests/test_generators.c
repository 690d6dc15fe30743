/* Async generators: pinned to the traces CPython 3.13 prints for the same
   programs.  The generator, in Python:

       async def numbers(n, fail_at=-1):
           try:
               for i in range(n):
                   await asyncio.sleep(0.1)
                   if i == fail_at:
                       raise ValueError("boom")
                   tr(f"y{i}")
                   x = yield i
                   if x is not None:
                       tr(f"sent{x}")
               tr("exhausted")
           finally:
               tr("cleanup")

   (C has no None: a value of 0 stands for it.) */
#include "tests.h"

typedef struct {
    asyncio_coro co;
    int n, fail_at, i;
} numbers_t;

static int numbers(asyncio_task *self, void *frame)
{
    numbers_t *f = (numbers_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < f->n; f->i++) {
        ASYNCIO_SLEEP(0.1);
        if (f->i == f->fail_at)
            ASYNCIO_RAISE(ASYNCIO_EUSER, "boom");
        trace("y%d", f->i);
        ASYNCIO_YIELD_VALUE(asyncio_int(f->i));
        if (ASYNCIO_RESULT().i)
            trace("sent%lld", ASYNCIO_RESULT().i);
    }
    trace("exhausted");
    ASYNCIO_FINALLY
    trace("cleanup");
    ASYNCIO_END();
}

static numbers_t *numbers_args(numbers_t *g, int n, int fail_at)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    g->fail_at = fail_at;
    return g;
}

typedef struct {
    asyncio_coro co;
    numbers_t gen;
    asyncio_value x;
    int rc;
    asyncio_finally fin;
} consumer_t;

/* async def g1():
       async with contextlib.aclosing(numbers(5)) as g:
           async for x in g:
               if x == 1:
                   continue
               tr(f"got{x}")
               if x == 2:
                   break
       tr("after-break")
       async for x in numbers(2):
           tr(f"got{x}")
           await asyncio.sleep(0)
       tr("after-loop")
       async for x in numbers(0):
           tr("never")
       tr("end") */
static int g1(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    numbers_args(&f->gen, 5, -1);
    ASYNCIO_FOR(f->x, numbers, &f->gen) {
        if (f->x.i == 1)
            continue;
        trace("got%lld", f->x.i);
        if (f->x.i == 2)
            break;
    }
    trace("after-break");
    numbers_args(&f->gen, 2, -1);
    ASYNCIO_FOR(f->x, numbers, &f->gen) {
        trace("got%lld", f->x.i);
        ASYNCIO_YIELD(); /* leaves 0 in the register: what the next yield sees */
    }
    trace("after-loop");
    numbers_args(&f->gen, 0, -1);
    ASYNCIO_FOR_RC(f->rc, f->x, numbers, &f->gen) {
        trace("never");
    }
    CHECK_EQ(f->rc, 0);
    trace("end");
    ASYNCIO_END();
}

void test_generator_async_for_break_closes_at_once(void)
{
    static consumer_t m;
    CHECK_EQ(run_virtual(g1, &m, NULL), 0);
    CHECK_STR(trace_get(), "y0 got0 y1 y2 got2 cleanup after-break y0 got0 y1 got1 exhausted cleanup "
                           "after-loop exhausted cleanup end");
}

/* async def g2():
       try:
           async for x in numbers(5, fail_at=2):
               tr(f"got{x}")
       except ValueError as e:
           tr(f"error:{e}")
   Here also the propagating form, which leaves through FINALLY. */
static int g2_propagate(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    numbers_args(&f->gen, 5, 2);
    ASYNCIO_FOR(f->x, numbers, &f->gen) {
        trace("got%lld", f->x.i);
    }
    trace("not reached");
    ASYNCIO_FINALLY
    trace("finally");
    ASYNCIO_END();
}

/* The consumer's own error leaves through its cleanup, which closes the
   generator; the error and its message reach the awaiter intact:
       g = numbers(5)
       try:
           async for x in g:
               if x == 1:
                   raise KeyError("consumer failed")
       finally:
           await g.aclose() */
static int body_fails(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    numbers_args(&f->gen, 5, -1);
    ASYNCIO_FOR(f->x, numbers, &f->gen) {
        if (f->x.i == 1)
            ASYNCIO_RAISE(ASYNCIO_EUSER - 2, "consumer failed");
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        ASYNCIO_ACLOSE(numbers, &f->gen);
    }
    ASYNCIO_END();
}

static int g2(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    numbers_args(&f->gen, 5, 2);
    ASYNCIO_FOR_RC(f->rc, f->x, numbers, &f->gen) {
        trace("got%lld", f->x.i);
    }
    CHECK_EQ(f->rc, ASYNCIO_EUSER);
    trace("error:%s", ASYNCIO_ERRMSG());
    ASYNCIO_AWAIT_CORO_RC(f->rc, g2_propagate, (consumer_t *)f + 1);
    CHECK_EQ(f->rc, ASYNCIO_EUSER);
    trace("error:%s", ASYNCIO_ERRMSG());
    ASYNCIO_AWAIT_CORO_RC(f->rc, body_fails, (consumer_t *)f + 2);
    CHECK_EQ(f->rc, ASYNCIO_EUSER - 2);
    trace("error:%s", ASYNCIO_ERRMSG());
    ASYNCIO_END();
}

void test_generator_error_ends_the_loop(void)
{
    static consumer_t m[3];
    CHECK_EQ(run_virtual(g2, m, NULL), 0);
    CHECK_STR(trace_get(), "y0 got0 y1 got1 cleanup error:boom y0 got0 y1 got1 cleanup finally error:boom "
                           "y0 y1 cleanup error:consumer failed");
}

/* async def g3():
       g = numbers(2)
       tr(f"first={await g.asend(None)}")
       tr(f"next={await g.asend(7)}")
       try:
           await g.asend(8)
       except StopAsyncIteration:
           tr("stop")
       try:
           await anext(g)
       except StopAsyncIteration:
           tr("stop-again")
       g = numbers(3)
       await g.aclose()
       tr("closed-fresh")
       g = numbers(3)
       tr(f"first={await anext(g)}")
       await g.aclose()
       tr("closed")
       try:
           await anext(g)
       except StopAsyncIteration:
           tr("stop-closed") */
static int g3(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    numbers_args(&f->gen, 2, -1);
    ASYNCIO_NEXT(numbers, &f->gen);
    trace("first=%lld", ASYNCIO_RESULT().i);
    ASYNCIO_SEND(numbers, &f->gen, asyncio_int(7));
    trace("next=%lld", ASYNCIO_RESULT().i);
    ASYNCIO_SEND_RC(f->rc, numbers, &f->gen, asyncio_int(8));
    if (f->rc == ASYNCIO_ESTOPITERATION)
        trace("stop");
    ASYNCIO_NEXT_RC(f->rc, numbers, &f->gen);
    if (f->rc == ASYNCIO_ESTOPITERATION)
        trace("stop-again");
    numbers_args(&f->gen, 3, -1);
    ASYNCIO_ACLOSE(numbers, &f->gen);
    trace("closed-fresh");
    numbers_args(&f->gen, 3, -1);
    ASYNCIO_NEXT(numbers, &f->gen);
    trace("first=%lld", ASYNCIO_RESULT().i);
    ASYNCIO_ACLOSE(numbers, &f->gen);
    trace("closed");
    ASYNCIO_ACLOSE(numbers, &f->gen); /* again: nothing runs */
    ASYNCIO_NEXT_RC(f->rc, numbers, &f->gen);
    if (f->rc == ASYNCIO_ESTOPITERATION)
        trace("stop-closed");
    ASYNCIO_END();
}

void test_generator_send_next_and_close(void)
{
    static consumer_t m;
    CHECK_EQ(run_virtual(g3, &m, NULL), 0);
    CHECK_STR(trace_get(), "y0 first=0 sent7 y1 next=1 sent8 exhausted cleanup stop stop-again closed-fresh "
                           "y0 first=0 cleanup closed stop-closed");
}

/* async def consumer():
       g = numbers(10)
       try:
           async for x in g:
               tr(f"got{x}")
               if x == 1:
                   await asyncio.sleep(5)
       finally:
           await g.aclose()
           tr("consumer-finally")
   async def g4():
       t = asyncio.create_task(consumer())
       await asyncio.sleep(1)
       t.cancel()
       try:
           await t
       except asyncio.CancelledError:
           tr("cancelled")
       (again with asyncio.sleep(0.15): cancelled while the generator awaits) */
static int consumer(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    numbers_args(&f->gen, 10, -1);
    ASYNCIO_FOR(f->x, numbers, &f->gen) {
        trace("got%lld", f->x.i);
        if (f->x.i == 1) {
            ASYNCIO_SLEEP(5);
        }
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        ASYNCIO_ACLOSE(numbers, &f->gen);
        trace("consumer-finally");
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    consumer_t c;
    asyncio_task t;
    int round, rc;
} g4_t;

static int g4(asyncio_task *self, void *frame)
{
    g4_t *f = (g4_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->round = 0; f->round < 2; f->round++) {
        asyncio_create_task(ASYNCIO_LOOP(), &f->t, consumer, &f->c);
        ASYNCIO_SLEEP(f->round ? 0.15 : 1);
        asyncio_task_cancel(&f->t);
        ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
        if (f->rc == ASYNCIO_ECANCELLED)
            trace("cancelled");
    }
    ASYNCIO_END();
}

void test_generator_cleanup_when_consumer_cancelled(void)
{
    static g4_t m;
    CHECK_EQ(run_virtual(g4, &m, NULL), 0);
    CHECK_STR(trace_get(), "y0 got0 y1 got1 cleanup consumer-finally cancelled "
                           "y0 got0 cleanup consumer-finally cancelled");
}

/* seed 004's generator-based coroutine: each value sent in returns the
   running average (Python: `term = yield average`). */
typedef struct {
    asyncio_coro co;
    double total, average;
    long count;
} averager_t;

static int averager(asyncio_task *self, void *frame)
{
    averager_t *f = (averager_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (;;) {
        ASYNCIO_YIELD_VALUE(asyncio_double(f->average));
        f->total += ASYNCIO_RESULT().d;
        f->count++;
        f->average = f->total / (double)f->count;
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    averager_t avg;
    int i;
} avg_main_t;

static int avg_main(asyncio_task *self, void *frame)
{
    static const double terms[] = {10, 30, 5};
    avg_main_t *f = (avg_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_NEXT(averager, &f->avg); /* prime it: run to the first yield */
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_SEND(averager, &f->avg, asyncio_double(terms[f->i]));
        trace("%g", ASYNCIO_RESULT().d);
    }
    ASYNCIO_ACLOSE(averager, &f->avg);
    ASYNCIO_END();
}

void test_generator_send_driven_averager(void)
{
    static avg_main_t m;
    CHECK_EQ(run_virtual(avg_main, &m, NULL), 0);
    CHECK_STR(trace_get(), "10 20 15");
}

/* A generator run as a task (a misuse: nobody drives its yields) fails
   with -EINVAL and a message saying so, not with its yielded value read
   as a message. */
typedef struct {
    asyncio_coro co;
    numbers_t gen;
    asyncio_task t;
    int rc;
} misuse_t;

static int gen_as_task(asyncio_task *self, void *frame)
{
    misuse_t *f = (misuse_t *)frame;
    ASYNCIO_BEGIN(self, f);
    numbers_args(&f->gen, 3, -1);
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, numbers, &f->gen);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    CHECK_EQ(f->rc, -EINVAL);
    CHECK_STR(ASYNCIO_ERRMSG(), "coroutine returned a code that is not an error (a generator run as a task?)");
    ASYNCIO_END();
}

void test_generator_run_as_task_is_reported(void)
{
    static misuse_t m;
    CHECK_EQ(run_virtual(gen_as_task, &m, NULL), 0);
    CHECK_STR(trace_get(), "y0");
}
