/* Lock, Event, Semaphore: pinned to the trace CPython 3.11 prints for the
   same program:
   0+ 0- 2+ 2- 3+ 3- locked=False b+ b- a.cancelled=True locked=False set
   ev0:True ev1:True s0+ s1+ s0- s1- s2+ s3+ s2- s3- bounded:ValueError */
#include "tests.h"

typedef struct { asyncio_coro co; asyncio_lock *lock; const char *name; double hold; int held; asyncio_sync_op op; } holder_t;

typedef struct { asyncio_coro co; asyncio_event *ev; int n; asyncio_sync_op op; } evw_t;
static int evwaiter(asyncio_task *self, void *frame)
{
    evw_t *f = (evw_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->op, f->ev));
    trace("ev%d:True", f->n);
    ASYNCIO_END();
}

typedef struct { asyncio_coro co; asyncio_semaphore *sem; int n; asyncio_sync_op op; } semw_t;
static int semwaiter(asyncio_task *self, void *frame)
{
    semw_t *f = (semw_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_semaphore_op(&f->op, f->sem));
    trace("s%d+", f->n);
    ASYNCIO_SLEEP(1);
    trace("s%d-", f->n);
    asyncio_semaphore_release(f->sem);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_lock lock;
    asyncio_event ev;
    asyncio_semaphore sem, bs;
    holder_t h[6];
    asyncio_task t[6];
    evw_t e[2];
    asyncio_task et[2];
    semw_t s[4];
    asyncio_task st[4];
    asyncio_future *futs[6];
    asyncio_gather_t g;
    asyncio_sync_op op;
    int i;
} sync_main_t;

/* the lock is released in FINALLY here, as `async with` would */
static int holder_with(asyncio_task *self, void *frame)
{
    holder_t *f = (holder_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->held = 0;
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, f->lock));
    f->held = 1;
    trace("%s+", f->name);
    ASYNCIO_SLEEP(f->hold);
    trace("%s-", f->name);
    ASYNCIO_FINALLY;
    if (f->held)
        asyncio_lock_release(f->lock);
    ASYNCIO_END();
}

static const char *const names[] = {"0", "1", "2", "3", "a", "b"};

static int sync_main(asyncio_task *self, void *frame)
{
    sync_main_t *m = (sync_main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_lock_init(&m->lock, ASYNCIO_LOOP());
    for (m->i = 0; m->i < 3; m->i++) {
        m->h[m->i].lock = &m->lock;
        m->h[m->i].name = names[m->i];
        m->h[m->i].hold = 1;
        m->futs[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], holder_with, &m->h[m->i])->fut;
    }
    ASYNCIO_YIELD();
    m->h[3].lock = &m->lock;
    m->h[3].name = "3";
    m->h[3].hold = 1;
    m->futs[3] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[3], holder_with, &m->h[3])->fut;
    ASYNCIO_SLEEP(0.5);
    asyncio_task_cancel(&m->t[1]); /* a waiting waiter: leaves no trace */
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 4, ASYNCIO_RETURN_EXCEPTIONS);
    ASYNCIO_AWAIT(&m->g.fut);
    trace("locked=%s", asyncio_lock_locked(&m->lock) ? "True" : "False");
    /* woken, then cancelled: the lock passes on */
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&m->op, &m->lock));
    for (m->i = 4; m->i < 6; m->i++) {
        m->h[m->i].lock = &m->lock;
        m->h[m->i].name = names[m->i];
        m->h[m->i].hold = 0;
        m->futs[m->i - 4] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], holder_with, &m->h[m->i])->fut;
    }
    ASYNCIO_YIELD();
    asyncio_lock_release(&m->lock); /* wakes a */
    asyncio_task_cancel(&m->t[4]);  /* a is cancelled after its wake-up: b gets the lock */
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 2, ASYNCIO_RETURN_EXCEPTIONS);
    ASYNCIO_AWAIT(&m->g.fut);
    trace("a.cancelled=%s locked=%s", asyncio_future_cancelled(&m->t[4].fut) ? "True" : "False",
          asyncio_lock_locked(&m->lock) ? "True" : "False");
    CHECK_EQ(asyncio_lock_release(&m->lock), ASYNCIO_EINVALIDSTATE);
    /* event */
    asyncio_event_init(&m->ev, ASYNCIO_LOOP());
    for (m->i = 0; m->i < 2; m->i++) {
        m->e[m->i].ev = &m->ev;
        m->e[m->i].n = m->i;
        m->futs[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->et[m->i], evwaiter, &m->e[m->i])->fut;
    }
    ASYNCIO_YIELD();
    asyncio_event_set(&m->ev);
    trace("set");
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 2, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    /* semaphore(2) and four users */
    asyncio_semaphore_init(&m->sem, ASYNCIO_LOOP(), 2, 0);
    for (m->i = 0; m->i < 4; m->i++) {
        m->s[m->i].sem = &m->sem;
        m->s[m->i].n = m->i;
        m->futs[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->st[m->i], semwaiter, &m->s[m->i])->fut;
    }
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 4, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    asyncio_semaphore_init(&m->bs, ASYNCIO_LOOP(), 1, 1);
    if (asyncio_semaphore_release(&m->bs) == ASYNCIO_EINVALIDSTATE)
        trace("bounded:ValueError");
    ASYNCIO_END();
}

void test_lock_event_semaphore_like_cpython(void)
{
    static sync_main_t m;
    CHECK_EQ(run_virtual(sync_main, &m, NULL), 0);
    CHECK_STR(trace_get(), "0+ 0- 2+ 2- 3+ 3- locked=False b+ b- a.cancelled=True locked=False set "
                           "ev0:True ev1:True s0+ s1+ s0- s1- s2+ s3+ s2- s3- bounded:ValueError");
}

/* Condition, pinned to CPython 3.11:
   notified c0:1 c1:2 holding cancelledx locked=True notify:RuntimeError
   (a cancelled waiter gets the lock back before it sees the cancellation) */
typedef struct { asyncio_coro co; asyncio_condition *cond; int *items, *nitems, n, held, rc; asyncio_sync_op op; } cw_t;
static int cond_consumer(asyncio_task *self, void *frame)
{
    cw_t *f = (cw_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, f->cond->lock));
    f->held = 1;
    while (!*f->nitems) {
        ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_condition_op(&f->op, f->cond));
    }
    trace("c%d:%d", f->n, f->items[0]);
    f->items[0] = f->items[1];
    (*f->nitems)--;
    ASYNCIO_FINALLY;
    if (f->held)
        asyncio_lock_release(f->cond->lock);
    ASYNCIO_END();
}
static int cond_waiter(asyncio_task *self, void *frame)
{
    cw_t *f = (cw_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, f->cond->lock));
    f->held = 1;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_acquire, asyncio_condition_op(&f->op, f->cond));
    if (f->rc == ASYNCIO_ECANCELLED)
        trace("cancelledx locked=%s", asyncio_lock_locked(f->cond->lock) ? "True" : "False");
    ASYNCIO_FINALLY;
    if (f->held)
        asyncio_lock_release(f->cond->lock);
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_lock lock;
    asyncio_condition cond;
    int items[2], nitems;
    cw_t c[3];
    asyncio_task t[3];
    asyncio_future *futs[2];
    asyncio_gather_t g;
    asyncio_sync_op op;
    int i;
} cmain_t;
static int cmain(asyncio_task *self, void *frame)
{
    cmain_t *m = (cmain_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_lock_init(&m->lock, ASYNCIO_LOOP());
    asyncio_condition_init(&m->cond, &m->lock);
    for (m->i = 0; m->i < 3; m->i++) {
        m->c[m->i].cond = &m->cond;
        m->c[m->i].items = m->items;
        m->c[m->i].nitems = &m->nitems;
        m->c[m->i].n = m->i;
        asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], m->i < 2 ? cond_consumer : cond_waiter, &m->c[m->i]);
    }
    m->futs[0] = &m->t[0].fut;
    m->futs[1] = &m->t[1].fut;
    ASYNCIO_YIELD();
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&m->op, &m->lock));
    m->items[0] = 1;
    m->items[1] = 2;
    m->nitems = 2;
    CHECK_EQ(asyncio_condition_notify(&m->cond, 2), 0);
    trace("notified");
    asyncio_lock_release(&m->lock);
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 2, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&m->op, &m->lock));
    asyncio_task_cancel(&m->t[2]);
    ASYNCIO_YIELD();
    trace("holding");
    asyncio_lock_release(&m->lock);
    ASYNCIO_AWAIT(&m->t[2].fut);
    if (asyncio_condition_notify(&m->cond, 1) == ASYNCIO_EINVALIDSTATE)
        trace("notify:RuntimeError");
    ASYNCIO_END();
}
void test_condition_like_cpython(void)
{
    static cmain_t m;
    CHECK_EQ(run_virtual(cmain, &m, NULL), 0);
    CHECK_STR(trace_get(), "notified c0:1 c1:2 holding cancelledx locked=True notify:RuntimeError");
}

/* Barrier, pinned to CPython 3.11:
   w2:2@2 w0:0@2 w1:1@2 n_waiting=0 broken=False x0:broken x1:broken
   broken=True after reset broken=False */
typedef struct { asyncio_coro co; asyncio_barrier *b; int n, rc; double d; asyncio_barrier_op op; } bw_t;
static int bwaiter(asyncio_task *self, void *frame)
{
    bw_t *f = (bw_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(f->d);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_barrier_wait, asyncio_barrier_op_init(&f->op, f->b));
    if (f->d >= 0)
        trace("w%d:%lld@%.0f", f->n, ASYNCIO_RESULT().i, asyncio_loop_time(ASYNCIO_LOOP()));
    else
        trace("x%d:%s", f->n, f->rc == ASYNCIO_EBROKENBARRIER ? "broken" : "passed");
    ASYNCIO_END();
}
typedef struct { asyncio_coro co; asyncio_barrier b; bw_t w[3]; asyncio_task t[3]; asyncio_future *futs[3]; asyncio_gather_t g; int i; } bmain_t;
static int bmain(asyncio_task *self, void *frame)
{
    bmain_t *m = (bmain_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_barrier_init(&m->b, ASYNCIO_LOOP(), 3);
    for (m->i = 0; m->i < 3; m->i++) {
        m->w[m->i].b = &m->b;
        m->w[m->i].n = m->i;
        m->w[m->i].d = m->i;
        m->futs[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], bwaiter, &m->w[m->i])->fut;
    }
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 3, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    trace("n_waiting=%d broken=%s", asyncio_barrier_n_waiting(&m->b), asyncio_barrier_broken(&m->b) ? "True" : "False");
    for (m->i = 0; m->i < 2; m->i++) {
        m->w[m->i].d = -1;
        m->futs[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], bwaiter, &m->w[m->i])->fut;
    }
    ASYNCIO_SLEEP(1);
    CHECK_EQ(asyncio_barrier_n_waiting(&m->b), 2);
    asyncio_barrier_abort(&m->b);
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 2, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    trace("broken=%s", asyncio_barrier_broken(&m->b) ? "True" : "False");
    asyncio_barrier_reset(&m->b);
    trace("after reset broken=%s", asyncio_barrier_broken(&m->b) ? "True" : "False");
    ASYNCIO_END();
}
void test_barrier_like_cpython(void)
{
    static bmain_t m;
    CHECK_EQ(run_virtual(bmain, &m, NULL), 0);
    CHECK_STR(trace_get(), "w2:2@2 w0:0@2 w1:1@2 n_waiting=0 broken=False x0:broken x1:broken broken=True "
                           "after reset broken=False");
}

/* asyncio_with (`async with lock:`) releases on return, error and
   cancellation; a task cancelled while acquiring never runs its body.
   Pinned to CPython 3.13, for a Lock and then a BoundedSemaphore(1):

   async def crit(name, lock, d, fail=False):
       tr(f"{name}:wait")
       try:
           async with lock:
               tr(f"{name}+")
               await asyncio.sleep(d)
               if fail:
                   raise ValueError(name)
               tr(f"{name}-")
               return len(name)
       finally:
           tr(f"{name}:locked={lock.locked()}")
   a, bb (fails), ccc (holds 5 s), dddd, eeeee (1 s each) start at once;
   dddd is cancelled at 0.5 s, ccc at 2.5 s; then each is awaited. */
typedef struct {
    asyncio_coro co;
    const char *name;
    double hold;
    int fail;
} crit_body_t;

static int crit_body(asyncio_task *self, void *frame)
{
    crit_body_t *f = (crit_body_t *)frame;
    ASYNCIO_BEGIN(self, f);
    trace("%s+", f->name);
    ASYNCIO_SLEEP(f->hold);
    if (f->fail)
        ASYNCIO_RAISE(ASYNCIO_EUSER, "ValueError");
    trace("%s-", f->name);
    ASYNCIO_RETURN(asyncio_int((long long)strlen(f->name)));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_lock *lock;
    asyncio_semaphore *sem;
    asyncio_with_op with;
    crit_body_t body;
} crit_t;

static int crit_locked(const crit_t *f)
{
    return f->lock ? asyncio_lock_locked(f->lock) : asyncio_semaphore_locked(f->sem);
}

static int crit(asyncio_task *self, void *frame)
{
    crit_t *f = (crit_t *)frame;
    ASYNCIO_BEGIN(self, f);
    trace("%s:wait", f->body.name);
    if (f->lock) {
        ASYNCIO_AWAIT_CORO(asyncio_with, asyncio_with_lock(&f->with, f->lock, crit_body, &f->body));
    } else {
        ASYNCIO_AWAIT_CORO(asyncio_with, asyncio_with_semaphore(&f->with, f->sem, crit_body, &f->body));
    }
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_FINALLY
    trace("%s:locked=%s", f->body.name, crit_locked(f) ? "True" : "False");
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_lock lock;
    asyncio_semaphore sem;
    crit_t c[5];
    asyncio_task t[5];
    int round, i, rc;
} with_main_t;

static int with_main(asyncio_task *self, void *frame)
{
    static const char *const nm[] = {"a", "bb", "ccc", "dddd", "eeeee"};
    static const double hold[] = {1, 1, 5, 1, 1};
    with_main_t *m = (with_main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_lock_init(&m->lock, ASYNCIO_LOOP());
    asyncio_semaphore_init(&m->sem, ASYNCIO_LOOP(), 1, 1);
    for (m->round = 0; m->round < 2; m->round++) {
        for (m->i = 0; m->i < 5; m->i++) {
            memset(&m->c[m->i], 0, sizeof m->c[m->i]);
            m->c[m->i].lock = m->round ? NULL : &m->lock;
            m->c[m->i].sem = &m->sem;
            m->c[m->i].body.name = nm[m->i];
            m->c[m->i].body.hold = hold[m->i];
            m->c[m->i].body.fail = m->i == 1;
            asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], crit, &m->c[m->i]);
        }
        ASYNCIO_SLEEP(0.5);
        asyncio_task_cancel(&m->t[3]);
        ASYNCIO_SLEEP(2);
        asyncio_task_cancel(&m->t[2]);
        for (m->i = 0; m->i < 5; m->i++) {
            ASYNCIO_AWAIT_RC(m->rc, &m->t[m->i].fut);
            if (m->rc == 0)
                trace("result=%lld", ASYNCIO_RESULT().i);
            else
                trace("error=%s", m->rc == ASYNCIO_ECANCELLED ? "CancelledError" : ASYNCIO_ERRMSG());
        }
        trace("end:locked=%s", crit_locked(&m->c[0]) ? "True" : "False");
    }
    ASYNCIO_END();
}

void test_with_releases_on_every_path(void)
{
    static with_main_t m;
    CHECK_EQ(run_virtual(with_main, &m, NULL), 0);
    CHECK_STR(trace_get(),
              "a:wait a+ bb:wait ccc:wait dddd:wait eeeee:wait dddd:locked=True a- a:locked=False bb+ "
              "bb:locked=False ccc+ result=1 error=ValueError ccc:locked=False eeeee+ error=CancelledError "
              "error=CancelledError eeeee- eeeee:locked=False result=5 end:locked=False "
              "a:wait a+ bb:wait ccc:wait dddd:wait eeeee:wait dddd:locked=True a- a:locked=True bb+ "
              "bb:locked=True ccc+ result=1 error=ValueError ccc:locked=True eeeee+ error=CancelledError "
              "error=CancelledError eeeee- eeeee:locked=False result=5 end:locked=False");
}

/* Condition.wait_for(predicate), pinned to CPython 3.13:

   cond = asyncio.Condition(); items = []
   async def consumer(n):
       async with cond:
           r = await cond.wait_for(lambda: len(items) >= n)
           tr(f"c{n}:{r}:{len(items)}")
   async def cancelled_one():
       async with cond:
           try:
               await cond.wait_for(lambda: False)
           except asyncio.CancelledError:
               tr(f"x:cancelled:locked={cond.locked()}"); raise
   consumers for n = 2, 0, 1, 3 and cancelled_one start; three times: sleep
   1 s (cancelling cancelled_one the second time), then under the lock
   append an item, tr(f"add{i}"), notify_all; then gather the consumers and
   tr(f"x:{x.cancelled()} locked={cond.locked()}").

   -> c0:True:0 add0 c1:True:1 add1 x:cancelled:locked=True c2:True:2 add2
      c3:True:3 x:True locked=False */
typedef struct {
    asyncio_coro co;
    asyncio_condition *cond;
    int *nitems, n, held, rc;
    asyncio_sync_op lock_op;
    asyncio_predicate_op wf;
} pred_waiter_t;

static int enough_items(void *arg)
{
    pred_waiter_t *f = (pred_waiter_t *)arg;
    return *f->nitems >= f->n;
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

static int pred_waiter(asyncio_task *self, void *frame)
{
    pred_waiter_t *f = (pred_waiter_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->held = 0;
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->lock_op, f->cond->lock));
    f->held = 1;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_condition_wait_for,
                          asyncio_condition_wait_for_op(&f->wf, f->cond, f->n < 0 ? never : enough_items, f));
    if (f->rc == ASYNCIO_ECANCELLED) {
        trace("x:cancelled:locked=%s", asyncio_lock_locked(f->cond->lock) ? "True" : "False");
        ASYNCIO_RAISE(f->rc, NULL);
    }
    trace("c%d:%s:%d", f->n, ASYNCIO_RESULT().i ? "True" : "False", *f->nitems);
    ASYNCIO_FINALLY
    if (f->held)
        asyncio_lock_release(f->cond->lock);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_lock lock;
    asyncio_condition cond;
    pred_waiter_t w[5];
    asyncio_task t[5];
    asyncio_sync_op op;
    int nitems, i;
} wait_for_main_t;

static int wait_for_main(asyncio_task *self, void *frame)
{
    static const int ns[] = {2, 0, 1, 3, -1};
    wait_for_main_t *m = (wait_for_main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_lock_init(&m->lock, ASYNCIO_LOOP());
    asyncio_condition_init(&m->cond, &m->lock);
    for (m->i = 0; m->i < 5; m->i++) {
        m->w[m->i].cond = &m->cond;
        m->w[m->i].nitems = &m->nitems;
        m->w[m->i].n = ns[m->i];
        asyncio_create_task(ASYNCIO_LOOP(), &m->t[m->i], pred_waiter, &m->w[m->i]);
    }
    for (m->i = 0; m->i < 3; m->i++) {
        ASYNCIO_SLEEP(1);
        if (m->i == 1)
            asyncio_task_cancel(&m->t[4]);
        ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&m->op, &m->lock));
        m->nitems++;
        trace("add%d", m->i);
        CHECK_EQ(asyncio_condition_notify_all(&m->cond), 0);
        asyncio_lock_release(&m->lock);
    }
    for (m->i = 0; m->i < 5; m->i++) {
        ASYNCIO_AWAIT_RC(m->w[4].rc, &m->t[m->i].fut);
    }
    trace("x:%s locked=%s", asyncio_future_cancelled(&m->t[4].fut) ? "True" : "False",
          asyncio_lock_locked(&m->lock) ? "True" : "False");
    ASYNCIO_END();
}

void test_condition_wait_for_predicate(void)
{
    static wait_for_main_t m;
    CHECK_EQ(run_virtual(wait_for_main, &m, NULL), 0);
    CHECK_STR(trace_get(), "c0:True:0 add0 c1:True:1 add1 x:cancelled:locked=True c2:True:2 add2 "
                           "c3:True:3 x:True locked=False");
}
