/* producer_consumer.c -- "queueing coroutines": producers and consumers
   joined by an asyncio_queue (the study notes' second design pattern).

   Shows: asyncio_queue (put / get coroutines, task_done, join), tasks
   cancelled once the work is done, timestamps from the loop's clock.

   Mirrors Real Python's asyncq.py (seeds 000, 001, 003):

       async def produce(name, q):
           for _ in range(random.randint(0, 10)):
               await randsleep(caller=f"Producer {name}")
               await q.put((makeitem(), time.perf_counter()))
               print(f"Producer {name} added <{i}> to queue.")
       async def consume(name, q):
           while True:
               await randsleep(caller=f"Consumer {name}")
               i, t = await q.get()
               print(f"Consumer {name} got element <{i}> in {now - t:0.5f} seconds.")
               q.task_done()
       async def main(nprod, ncon):
           q = asyncio.Queue()
           producers = [asyncio.create_task(produce(n, q)) for n in range(nprod)]
           consumers = [asyncio.create_task(consume(n, q)) for n in range(ncon)]
           await asyncio.gather(*producers)
           await q.join()
           for c in consumers: c.cancel()

   Run:    make examples && build/examples/producer_consumer -p 2 -c 3
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/producer_consumer   (instant, exact times)

   Random numbers come from a fixed-seed generator, so every run does the
   same work; every line carries the loop time. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXP 16
#define MAXC 16
#define MAXITEMS 10 /* per producer */

static unsigned long long rng = 444;
static int randint(int lo, int hi) /* lo..hi inclusive */
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (int)((rng >> 33) % (unsigned long long)(hi - lo + 1));
}

typedef struct {
    char hex[11];
    double t; /* when it was put */
} item_t;

typedef struct {
    asyncio_coro co;
    asyncio_queue *q;
    int name, n, k, delay;
    item_t items[MAXITEMS];
    asyncio_queue_op op;
} producer_t;

typedef struct {
    asyncio_coro co;
    asyncio_queue *q;
    int name, delay;
    asyncio_queue_op op;
} consumer_t;

static double now(asyncio_task *self) { return asyncio_loop_time(self->fut.loop); }

static int produce(asyncio_task *self, void *frame)
{
    producer_t *f = (producer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->n = randint(0, MAXITEMS);
    for (f->k = 0; f->k < f->n; f->k++) {
        f->delay = randint(0, 10);
        printf("[%6.2f] Producer %d sleeping for %d seconds.\n", now(self), f->name, f->delay);
        ASYNCIO_SLEEP(f->delay);
        snprintf(f->items[f->k].hex, sizeof f->items[f->k].hex, "%08x%02x", (unsigned)randint(0, 0x7fffffff),
                 (unsigned)randint(0, 255));
        f->items[f->k].t = now(self);
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_put(&f->op, f->q, asyncio_ptr(&f->items[f->k])));
        printf("[%6.2f] Producer %d added <%s> to queue.\n", now(self), f->name, f->items[f->k].hex);
    }
    ASYNCIO_END();
}

static int consume(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (;;) {
        f->delay = randint(0, 10);
        printf("[%6.2f] Consumer %d sleeping for %d seconds.\n", now(self), f->name, f->delay);
        ASYNCIO_SLEEP(f->delay);
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_get(&f->op, f->q));
        {
            item_t *it = (item_t *)ASYNCIO_RESULT().p;
            printf("[%6.2f] Consumer %d got element <%s> in %0.5f seconds.\n", now(self), f->name, it->hex,
                   now(self) - it->t);
        }
        asyncio_queue_task_done(f->q);
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int nprod, ncon, i;
    double start;
    asyncio_queue q;
    producer_t p[MAXP];
    consumer_t c[MAXC];
    asyncio_task pt[MAXP], ct[MAXC];
    asyncio_future *pf[MAXP];
    asyncio_gather_t g;
    asyncio_queue_op op;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *m = (main_t *)frame;
    ASYNCIO_BEGIN(self, m);
    m->start = now(self);
    asyncio_queue_init(&m->q, ASYNCIO_LOOP(), ASYNCIO_FIFO, NULL, 0); /* unbounded, as asyncio.Queue() */
    for (m->i = 0; m->i < m->nprod; m->i++) {
        m->p[m->i].q = &m->q;
        m->p[m->i].name = m->i;
        m->pf[m->i] = &asyncio_create_task(ASYNCIO_LOOP(), &m->pt[m->i], produce, &m->p[m->i])->fut;
    }
    for (m->i = 0; m->i < m->ncon; m->i++) {
        m->c[m->i].q = &m->q;
        m->c[m->i].name = m->i;
        asyncio_create_task(ASYNCIO_LOOP(), &m->ct[m->i], consume, &m->c[m->i]);
    }
    asyncio_gather(&m->g, ASYNCIO_LOOP(), m->pf, (size_t)m->nprod, 0);
    ASYNCIO_AWAIT(&m->g.fut);
    ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_join(&m->op, &m->q));
    for (m->i = 0; m->i < m->ncon; m->i++)
        asyncio_task_cancel(&m->ct[m->i]);
    printf("Program completed in %0.5f seconds.\n", now(self) - m->start);
    ASYNCIO_FINALLY;
    asyncio_queue_free(&m->q);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_outcome out;
    int i;
    m.nprod = 2;
    m.ncon = 3;
    for (i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-p") == 0)
            m.nprod = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "-c") == 0)
            m.ncon = atoi(argv[i + 1]);
        else
            break;
    }
    if (i != argc || m.nprod < 1 || m.nprod > MAXP || m.ncon < 1 || m.ncon > MAXC) {
        fprintf(stderr, "usage: producer_consumer [-p 1..%d] [-c 1..%d]\n", MAXP, MAXC);
        return 2;
    }
    if (asyncio_run(main_coro, &m, &out) < 0) {
        fprintf(stderr, "producer_consumer: %s\n", out.msg);
        return 1;
    }
    return 0;
}
