/* future_states.c -- a Future's life: pending, then done with a result,
   done with an error, or cancelled.

   Shows: asyncio_future_init / _set_result / _set_error / _cancel /
   _done / _cancelled / _result / _errmsg on separate futures; that
   misuse (setting a done future, reading a pending one, cancelling a done
   one) changes nothing and returns an error code; and the await path: a
   coroutine awaiting futures that a call_later callback completes,
   another task fails, and another task cancels (ASYNCIO_AWAIT_RC catches
   the failures, like try/except around `await fut`).  A done-callback
   shows that completion is announced from the loop, never inline.

   Mirrors (study notes 000: "A Future can be in one of three states:
   Pending, Completed (a result or an exception), Cancelled"):

       loop = asyncio.get_running_loop()
       fut = loop.create_future()
       fut.done(), fut.cancelled()          # False False
       fut.result()                         # InvalidStateError
       fut.set_result(42); fut.result()     # 42
       fut.set_result(43)                   # InvalidStateError
       fut.cancel()                         # False: already done
       err = loop.create_future()
       err.set_exception(OSError('disk on fire'))
       c = loop.create_future(); c.cancel() # True; c.result() raises CancelledError

       later = loop.create_future()
       loop.call_later(1, later.set_result, 7)
       print(await later)                   # 7, one second later
       try: await failing                   # set_exception by another task
       except Exception as e: print(e)
       try: await doomed                    # cancelled by another task
       except asyncio.CancelledError: ...

   Run:    make examples && build/examples/future_states   (2 s)

   Prints (times exact under ASYNCIO_VIRTUAL_CLOCK=1):
       --- pending ---
       pending: done=0 cancelled=0
       result() of a pending future: EINVALIDSTATE
       --- completed with a result ---
       set_result(42): 0
       result: 42 (done=1 cancelled=0)
       set_result(43) on a done future: EINVALIDSTATE
       set_error() on a done future: EINVALIDSTATE
       cancel() of a done future: 0
       result still: 42
       --- completed with an error ---
       set_error(0) with a non-negative code: EINVAL
       set_error(EUSER, "disk on fire"): 0
       error: EUSER "disk on fire" (done=1 cancelled=0)
       --- cancelled ---
       cancel(): 1
       cancelled: done=1 cancelled=1
       result() of a cancelled future: ECANCELLED
       cancel() again: 0
       --- awaiting futures ---
       call_later: set_result(7) -> 0
       done-callback: result 7 at t=1.00
       awaited: 7 at t=1.00
       failer: set_error(EUSER - 1, "sensor offline")
       awaited: EUSER-1 "sensor offline" at t=1.50
       canceller: cancel() -> 1
       awaited: ECANCELLED at t=2.00 */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>

#define SENSOR_ERROR (ASYNCIO_EUSER - 1)

/* A plain callback for call_later: later.set_result(7). */
static void complete_later(asyncio_loop *loop, void *arg)
{
    asyncio_future *fut = (asyncio_future *)arg;
    (void)loop;
    printf("call_later: set_result(7) -> %d\n", asyncio_future_set_result(fut, asyncio_int(7)));
}

/* A task that fails a future it does not own after `delay` seconds. */
typedef struct {
    asyncio_coro co;
    asyncio_future *target;
    double delay;
} failer_t;

static int failer(asyncio_task *self, void *frame)
{
    failer_t *f = (failer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(f->delay);
    printf("failer: set_error(EUSER - 1, \"sensor offline\")\n");
    asyncio_future_set_error(f->target, SENSOR_ERROR, "sensor offline");
    ASYNCIO_END();
}

/* A task that cancels a future after `delay` seconds. */
typedef struct {
    asyncio_coro co;
    asyncio_future *target;
    double delay;
} canceller_t;

static int canceller(asyncio_task *self, void *frame)
{
    canceller_t *f = (canceller_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(f->delay);
    printf("canceller: cancel() -> %d\n", asyncio_future_cancel(f->target));
    ASYNCIO_END();
}

/* The name of a code as the examples print it: EUSER-1 for application codes. */
static const char *code_name(int err, char *buf, size_t size)
{
    if (err < ASYNCIO_EUSER) {
        snprintf(buf, size, "EUSER%d", err - ASYNCIO_EUSER);
        return buf;
    }
    return asyncio_err_name(err);
}

typedef struct {
    asyncio_coro co;
    asyncio_loop *loop;
    double start;
    asyncio_future pending, ok, failed, cancelled; /* one per state */
    asyncio_future later, failing, doomed;         /* awaited futures */
    asyncio_handle h;
    failer_t fl;
    canceller_t cn;
    asyncio_task t_failer, t_canceller;
    int rc;
} main_t;

/* A done-callback: called from the loop once the future is done. */
static void on_done(asyncio_future *fut, void *arg)
{
    main_t *m = (main_t *)arg;
    asyncio_value v;
    if (asyncio_future_result(fut, &v) == 0)
        printf("done-callback: result %lld at t=%.2f\n", v.i, asyncio_loop_time(m->loop) - m->start);
}

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    asyncio_value v;
    char buf[32];
    ASYNCIO_BEGIN(self, f);
    f->loop = ASYNCIO_LOOP();
    f->start = asyncio_loop_time(f->loop);

    printf("--- pending ---\n");
    asyncio_future_init(&f->pending, ASYNCIO_LOOP());
    printf("pending: done=%d cancelled=%d\n", asyncio_future_done(&f->pending),
           asyncio_future_cancelled(&f->pending));
    printf("result() of a pending future: %s\n", asyncio_err_name(asyncio_future_result(&f->pending, &v)));

    printf("--- completed with a result ---\n");
    asyncio_future_init(&f->ok, ASYNCIO_LOOP());
    printf("set_result(42): %d\n", asyncio_future_set_result(&f->ok, asyncio_int(42)));
    if (asyncio_future_result(&f->ok, &v) == 0)
        printf("result: %lld (done=%d cancelled=%d)\n", v.i, asyncio_future_done(&f->ok),
               asyncio_future_cancelled(&f->ok));
    printf("set_result(43) on a done future: %s\n",
           asyncio_err_name(asyncio_future_set_result(&f->ok, asyncio_int(43))));
    printf("set_error() on a done future: %s\n",
           asyncio_err_name(asyncio_future_set_error(&f->ok, ASYNCIO_EUSER, "too late")));
    printf("cancel() of a done future: %d\n", asyncio_future_cancel(&f->ok));
    if (asyncio_future_result(&f->ok, &v) == 0)
        printf("result still: %lld\n", v.i);

    printf("--- completed with an error ---\n");
    asyncio_future_init(&f->failed, ASYNCIO_LOOP());
    printf("set_error(0) with a non-negative code: %s\n",
           asyncio_err_name(asyncio_future_set_error(&f->failed, 0, "not an error")));
    printf("set_error(EUSER, \"disk on fire\"): %d\n",
           asyncio_future_set_error(&f->failed, ASYNCIO_EUSER, "disk on fire"));
    printf("error: %s \"%s\" (done=%d cancelled=%d)\n", asyncio_err_name(asyncio_future_error(&f->failed)),
           asyncio_future_errmsg(&f->failed), asyncio_future_done(&f->failed),
           asyncio_future_cancelled(&f->failed));

    printf("--- cancelled ---\n");
    asyncio_future_init(&f->cancelled, ASYNCIO_LOOP());
    printf("cancel(): %d\n", asyncio_future_cancel(&f->cancelled));
    printf("cancelled: done=%d cancelled=%d\n", asyncio_future_done(&f->cancelled),
           asyncio_future_cancelled(&f->cancelled));
    printf("result() of a cancelled future: %s\n", asyncio_err_name(asyncio_future_result(&f->cancelled, &v)));
    printf("cancel() again: %d\n", asyncio_future_cancel(&f->cancelled));

    printf("--- awaiting futures ---\n");
    /* 1. completed by a plain callback one second from now */
    asyncio_future_init(&f->later, ASYNCIO_LOOP());
    if (asyncio_call_later(ASYNCIO_LOOP(), &f->h, 1.0, complete_later, &f->later) < 0 ||
        asyncio_future_add_done_callback(&f->later, on_done, f) < 0)
        ASYNCIO_RAISE(-ENOMEM, "call_later failed");
    ASYNCIO_AWAIT(&f->later);
    printf("awaited: %lld at t=%.2f\n", ASYNCIO_RESULT().i, asyncio_loop_time(ASYNCIO_LOOP()) - f->start);

    /* 2. failed by another task half a second from now */
    asyncio_future_init(&f->failing, ASYNCIO_LOOP());
    f->fl.target = &f->failing;
    f->fl.delay = 0.5;
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->t_failer, failer, &f->fl))
        ASYNCIO_RAISE(-ENOMEM, "create_task failed");
    ASYNCIO_AWAIT_RC(f->rc, &f->failing); /* try: await failing */
    printf("awaited: %s \"%s\" at t=%.2f\n", code_name(f->rc, buf, sizeof buf), ASYNCIO_ERRMSG(),
           asyncio_loop_time(ASYNCIO_LOOP()) - f->start);

    /* 3. cancelled by another task half a second from now */
    asyncio_future_init(&f->doomed, ASYNCIO_LOOP());
    f->cn.target = &f->doomed;
    f->cn.delay = 0.5;
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->t_canceller, canceller, &f->cn))
        ASYNCIO_RAISE(-ENOMEM, "create_task failed");
    ASYNCIO_AWAIT_RC(f->rc, &f->doomed); /* try: await doomed */
    printf("awaited: %s at t=%.2f\n", asyncio_err_name(f->rc), asyncio_loop_time(ASYNCIO_LOOP()) - f->start);

    /* let the helper tasks finish before main returns */
    ASYNCIO_AWAIT(&f->t_failer.fut);
    ASYNCIO_AWAIT(&f->t_canceller.fut);
    ASYNCIO_END();
}

int main(void)
{
    static main_t m;
    asyncio_outcome out;
    if (asyncio_run(main_coro, &m, &out) < 0) {
        fprintf(stderr, "future_states: %s\n", out.msg);
        return 1;
    }
    return 0;
}
