/* Queues, pinned to the trace CPython 3.11 prints for the same program:
   p0 p1 c0:0 c1:1 p2 p3 c0:2 c1:3 p4 c0:4 joined t=3 gb:7
   a.cancelled=True qsize=0 empty full lifo=213 prio=123
   and Python 3.13's shutdown. */
#include "tests.h"

typedef struct { asyncio_coro co; asyncio_queue *q; int i; asyncio_queue_op op; } prod_t;
static int prod(asyncio_task *self, void *frame)
{
    prod_t *f = (prod_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 5; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_put(&f->op, f->q, asyncio_int(f->i)));
        trace("p%d", f->i);
    }
    ASYNCIO_END();
}
typedef struct { asyncio_coro co; asyncio_queue *q; const char *n; int loop; asyncio_queue_op op; } cons_t;
static int cons(asyncio_task *self, void *frame)
{
    cons_t *f = (cons_t *)frame;
    ASYNCIO_BEGIN(self, f);
    do {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_get(&f->op, f->q));
        trace("%s:%lld", f->n, ASYNCIO_RESULT().i);
        if (f->loop) {
            ASYNCIO_SLEEP(1);
            asyncio_queue_task_done(f->q);
        }
    } while (f->loop);
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_queue q, lq, pq;
    asyncio_value st[2], lst[3], pst[3];
    prod_t p;
    cons_t c[4];
    asyncio_task pt, ct[4];
    asyncio_queue_op op;
    asyncio_future *futs[2];
    asyncio_gather_t g;
    asyncio_value v;
    int i;
} qmain_t;
static const char *const cnames[] = {"c0", "c1", "ga", "gb"};
static int qmain(asyncio_task *self, void *frame)
{
    qmain_t *m = (qmain_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_queue_init(&m->q, ASYNCIO_LOOP(), ASYNCIO_FIFO, m->st, 2);
    for (m->i = 0; m->i < 4; m->i++) {
        m->c[m->i].q = &m->q;
        m->c[m->i].n = cnames[m->i];
        m->c[m->i].loop = m->i < 2;
    }
    asyncio_create_task(ASYNCIO_LOOP(), &m->ct[0], cons, &m->c[0]);
    asyncio_create_task(ASYNCIO_LOOP(), &m->ct[1], cons, &m->c[1]);
    m->p.q = &m->q;
    asyncio_create_task(ASYNCIO_LOOP(), &m->pt, prod, &m->p);
    ASYNCIO_AWAIT(&m->pt.fut);
    ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_join(&m->op, &m->q));
    trace("joined t=%.0f", asyncio_loop_time(ASYNCIO_LOOP()));
    asyncio_task_cancel(&m->ct[0]);
    asyncio_task_cancel(&m->ct[1]);
    m->futs[0] = &m->ct[0].fut;
    m->futs[1] = &m->ct[1].fut;
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 2, ASYNCIO_RETURN_EXCEPTIONS);
    ASYNCIO_AWAIT(&m->g.fut);
    /* a getter woken and then cancelled: the next one gets the item */
    m->futs[0] = &asyncio_create_task(ASYNCIO_LOOP(), &m->ct[2], cons, &m->c[2])->fut;
    m->futs[1] = &asyncio_create_task(ASYNCIO_LOOP(), &m->ct[3], cons, &m->c[3])->fut;
    ASYNCIO_YIELD();
    asyncio_queue_put_nowait(&m->q, asyncio_int(7));
    asyncio_task_cancel(&m->ct[2]);
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->futs, 2, ASYNCIO_RETURN_EXCEPTIONS);
    ASYNCIO_AWAIT(&m->g.fut);
    trace("a.cancelled=%s qsize=%d", asyncio_future_cancelled(&m->ct[2].fut) ? "True" : "False",
          (int)asyncio_queue_qsize(&m->q));
    if (asyncio_queue_get_nowait(&m->q, &m->v) == ASYNCIO_EQUEUEEMPTY)
        trace("empty");
    asyncio_queue_put_nowait(&m->q, asyncio_int(1));
    asyncio_queue_put_nowait(&m->q, asyncio_int(2));
    if (asyncio_queue_put_nowait(&m->q, asyncio_int(3)) == ASYNCIO_EQUEUEFULL)
        trace("full");
    asyncio_queue_init(&m->lq, ASYNCIO_LOOP(), ASYNCIO_LIFO, m->lst, 3);
    asyncio_queue_init(&m->pq, ASYNCIO_LOOP(), ASYNCIO_PRIORITY, NULL, 0); /* unbounded */
    asyncio_queue_put_nowait(&m->lq, asyncio_int(3));
    asyncio_queue_put_nowait(&m->lq, asyncio_int(1));
    asyncio_queue_put_nowait(&m->lq, asyncio_int(2));
    asyncio_queue_put_nowait(&m->pq, asyncio_int(3));
    asyncio_queue_put_nowait(&m->pq, asyncio_int(1));
    asyncio_queue_put_nowait(&m->pq, asyncio_int(2));
    {
        asyncio_value a, b, c, d, e, g;
        asyncio_queue_get_nowait(&m->lq, &a);
        asyncio_queue_get_nowait(&m->lq, &b);
        asyncio_queue_get_nowait(&m->lq, &c);
        asyncio_queue_get_nowait(&m->pq, &d);
        asyncio_queue_get_nowait(&m->pq, &e);
        asyncio_queue_get_nowait(&m->pq, &g);
        trace("lifo=%lld%lld%lld prio=%lld%lld%lld", a.i, b.i, c.i, d.i, e.i, g.i);
    }
    asyncio_queue_free(&m->pq);
    CHECK_EQ(asyncio_queue_task_done(&m->lq), 0);
    ASYNCIO_END();
}
void test_queue_like_cpython(void)
{
    static qmain_t m;
    CHECK_EQ(run_virtual(qmain, &m, NULL), 0);
    CHECK_STR(trace_get(), "p0 p1 c0:0 c1:1 p2 p3 c0:2 c1:3 p4 c0:4 joined t=3 gb:7 "
                           "a.cancelled=True qsize=0 empty full lifo=213 prio=123");
}

/* shutdown (Python 3.13): waiters wake with the error, gets drain first
   unless immediate; a cancelled putter inserted nothing. */
typedef struct { asyncio_coro co; asyncio_queue *q; int rc; asyncio_queue_op op; } sd_t;
static int sd_get(asyncio_task *self, void *frame)
{
    sd_t *f = (sd_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_queue_io, asyncio_queue_get(&f->op, f->q));
    trace("get:%s", f->rc ? asyncio_err_name(f->rc) : "item");
    ASYNCIO_END();
}
static int sd_put(asyncio_task *self, void *frame)
{
    sd_t *f = (sd_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_queue_io, asyncio_queue_put(&f->op, f->q, asyncio_int(9)));
    trace("put:%s", asyncio_err_name(f->rc));
    ASYNCIO_END();
}
void test_queue_shutdown_and_cancelled_putter(void)
{
    asyncio_loop loop;
    asyncio_queue q;
    asyncio_value st[1], v;
    asyncio_task t[3];
    sd_t f[3];
    int i;
    vloop_init(&loop);
    asyncio_queue_init(&q, &loop, ASYNCIO_FIFO, st, 1);
    asyncio_queue_put_nowait(&q, asyncio_int(1));
    for (i = 0; i < 3; i++)
        f[i].q = &q;
    asyncio_create_task(&loop, &t[0], sd_put, &f[0]); /* both wait: full */
    asyncio_create_task(&loop, &t[1], sd_put, &f[1]);
    CHECK_EQ(asyncio_loop_run_forever(&loop), 0);
    asyncio_task_cancel(&t[1]);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t[1].fut), 0);
    CHECK_EQ(asyncio_queue_qsize(&q), 1); /* the cancelled putter inserted nothing */
    asyncio_queue_shutdown(&q, 0);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t[0].fut), 0);
    CHECK_EQ(asyncio_queue_put_nowait(&q, asyncio_int(2)), ASYNCIO_EQUEUESHUTDOWN);
    CHECK_EQ(asyncio_queue_get_nowait(&q, &v), 0); /* what was queued still comes out */
    CHECK_EQ(v.i, 1);
    CHECK_EQ(asyncio_queue_get_nowait(&q, &v), ASYNCIO_EQUEUESHUTDOWN);
    asyncio_create_task(&loop, &t[2], sd_get, &f[2]);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t[2].fut), 0);
    CHECK_STR(trace_get(), "put:ECANCELLED put:EQUEUESHUTDOWN get:EQUEUESHUTDOWN");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}
