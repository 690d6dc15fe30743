/* bench/sync.c [N] -- a bounded queue between one producer and one
   consumer (capacity 1 and 64), and uncontended lock acquire + release.
   Real clock.  Prints one JSON line per workload:
     {"bench":"queue","cap":C,"n":N,"items_per_sec":R,"ns_per_item":T,"allocs":A}
     {"bench":"lock","n":N,"ns_per_acquire_release":T,"allocs":A}
   Every item is checked to arrive in order.  "allocs" counts the calls
   of the library's allocator during the timed part: the target is none
   per put, get, acquire or release. */
#include <stddef.h>
static unsigned long long bench_allocs;
void *bench_realloc(void *p, size_t n);
void bench_free(void *p);
#define ASYNCIO_REALLOC(ctx, p, n) ((void)(ctx), bench_realloc((p), (n)))
#define ASYNCIO_FREE(ctx, p) ((void)(ctx), bench_free(p))
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "bench.h"

#include <stdlib.h>

void *bench_realloc(void *p, size_t n)
{
    bench_allocs++;
    return realloc(p, n);
}
void bench_free(void *p) { free(p); }

typedef struct { asyncio_coro co; asyncio_queue *q; long i, n; asyncio_queue_op op; } qp_t;
static int producer(asyncio_task *self, void *frame)
{
    qp_t *f = (qp_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < f->n; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_put(&f->op, f->q, asyncio_int(f->i)));
    }
    ASYNCIO_END();
}
static int consumer(asyncio_task *self, void *frame)
{
    qp_t *f = (qp_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < f->n; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_get(&f->op, f->q));
        if (ASYNCIO_RESULT().i != f->i)
            ASYNCIO_RAISE(ASYNCIO_EUSER, "out of order");
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    long n, i;
    size_t cap;
    asyncio_queue q;
    asyncio_value st[64];
    qp_t p, c;
    asyncio_task pt, ct;
    asyncio_lock lock;
    asyncio_sync_op op;
    long long t0, t1, t2;
    unsigned long long a0, a1, a2;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *m = (main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    asyncio_queue_init(&m->q, ASYNCIO_LOOP(), ASYNCIO_FIFO, m->st, m->cap);
    m->p.q = m->c.q = &m->q;
    m->p.n = m->c.n = m->n;
    m->a0 = bench_allocs;
    m->t0 = mono_ns();
    asyncio_create_task(ASYNCIO_LOOP(), &m->pt, producer, &m->p);
    asyncio_create_task(ASYNCIO_LOOP(), &m->ct, consumer, &m->c);
    ASYNCIO_AWAIT(&m->ct.fut);
    m->t1 = mono_ns();
    m->a1 = bench_allocs;
    asyncio_lock_init(&m->lock, ASYNCIO_LOOP());
    for (m->i = 0; m->i < m->n; m->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&m->op, &m->lock));
        asyncio_lock_release(&m->lock);
    }
    m->t2 = mono_ns();
    m->a2 = bench_allocs;
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    static const size_t caps[] = {1, 64};
    asyncio_config cfg = {0};
    asyncio_outcome out;
    size_t k;
    m.n = argc > 1 ? atol(argv[1]) : 10000000;
    cfg.virtual_clock = -1;
    for (k = 0; k < 2; k++) {
        m.cap = caps[k];
        if (asyncio_run_config(&cfg, main_coro, &m, &out) < 0) {
            fprintf(stderr, "sync: %s\n", out.msg);
            return 1;
        }
        printf("{\"bench\":\"queue\",\"cap\":%zu,\"n\":%ld,\"items_per_sec\":%.0f,\"ns_per_item\":%.2f,"
               "\"allocs\":%llu}\n",
               m.cap, m.n, (double)m.n * 1e9 / (double)(m.t1 - m.t0), (double)(m.t1 - m.t0) / (double)m.n,
               m.a1 - m.a0);
    }
    printf("{\"bench\":\"lock\",\"n\":%ld,\"ns_per_acquire_release\":%.2f,\"allocs\":%llu}\n", m.n,
           (double)(m.t2 - m.t1) / (double)m.n, m.a2 - m.a1);
    return 0;
}
