/* to_thread.c -- blocking work belongs on the executor, not on the loop.

   Shows: asyncio_to_thread (Python's asyncio.to_thread) running a
   deliberately CPU-heavy function on the worker pool while a ticker
   coroutine keeps time on the loop; the same work done inline, in the
   coroutine, stalls the ticker for as long as it runs.

   Mirrors (study notes 004: "asyncio has one default thread pool, the
   executor pool"):

       def heavy_hash(buf):                     # blocking, CPU-bound
           ...
       async def ticker(stop):
           t0, k, worst = loop.time(), 0, 0.0
           while not stop.is_set():
               k += 1
               await asyncio.sleep(max(0, t0 + k * 0.1 - loop.time()))
               worst = max(worst, loop.time() - (t0 + k * 0.1))
           return k, worst

       async def main(inline):
           stop = asyncio.Event()
           tick = asyncio.create_task(ticker(stop))
           if inline:
               digests = [heavy_hash(b) for b in buffers]
           else:
               digests = await asyncio.gather(*(asyncio.to_thread(heavy_hash, b) for b in buffers))
           stop.set()
           ticks, worst = await tick

   Run:    make examples && build/examples/to_thread [MIB_PER_BUFFER]

   Prints, for each way (times vary with the machine; the digests do not):
       on the executor: 4 hashes in 0.40 s; ticker: 5 ticks, worst lag 1.9 ms
       inline:          4 hashes in 0.69 s; ticker: 1 ticks, worst lag 585.4 ms
       digests: 24235fe91227e643 c7f0c609a3a82dc3 1878883662a97183 6e6d026ca218c7c3 (the same both ways)

   On the executor the four hashes share the machine's cores (two here)
   while the loop stays free: the ticker fires every 100 ms, late by a
   few milliseconds at most.  Inline, the loop is blocked for the whole
   run and the ticker's one tick comes more than half a second late. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NBUF = 4 };

typedef struct {
    unsigned char *data;
    size_t len;
    unsigned long long digest;
} buffer_t;

/* Deliberately heavy: FNV-1a over the buffer, sixteen times, each pass
   seeded with the last. */
static unsigned long long heavy_hash_of(const unsigned char *p, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    size_t i;
    int pass;
    for (pass = 0; pass < 16; pass++)
        for (i = 0; i < n; i++) {
            h ^= p[i];
            h *= 1099511628211ULL;
        }
    return h;
}

/* The executor's signature: the result goes in out->value. */
static int heavy_hash(void *arg, asyncio_outcome *out)
{
    buffer_t *b = (buffer_t *)arg;
    out->value.i = (long long)heavy_hash_of(b->data, b->len);
    return 0;
}

/* ---- the ticker ---------------------------------------------------- */
typedef struct {
    asyncio_coro co;
    asyncio_event *stop;
    double t0, worst;
    int ticks;
} ticker_t;

static int ticker(asyncio_task *self, void *frame)
{
    ticker_t *f = (ticker_t *)frame;
    double due, late;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    while (!asyncio_event_is_set(f->stop)) {
        f->ticks++;
        due = f->t0 + f->ticks * 0.1;
        ASYNCIO_SLEEP(due - asyncio_loop_time(ASYNCIO_LOOP()));
        late = asyncio_loop_time(ASYNCIO_LOOP()) - (f->t0 + f->ticks * 0.1);
        if (late > f->worst)
            f->worst = late;
    }
    ASYNCIO_END();
}

/* ---- main ---------------------------------------------------------- */
typedef struct {
    asyncio_coro co;
    int inline_;
    buffer_t *bufs;
    asyncio_event stop;
    ticker_t tick;
    asyncio_task tick_task;
    asyncio_work work[NBUF];
    asyncio_future *futs[NBUF];
    asyncio_gather_t g;
    double t0, elapsed;
    int i;
} main_t;

static int run(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_event_init(&f->stop, ASYNCIO_LOOP());
    f->tick.stop = &f->stop;
    asyncio_create_task(ASYNCIO_LOOP(), &f->tick_task, ticker, &f->tick);
    ASYNCIO_YIELD(); /* the ticker starts its clock */
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    if (f->inline_) {
        for (f->i = 0; f->i < NBUF; f->i++) /* the loop is blocked meanwhile */
            f->bufs[f->i].digest = heavy_hash_of(f->bufs[f->i].data, f->bufs[f->i].len);
    } else {
        for (f->i = 0; f->i < NBUF; f->i++)
            f->futs[f->i] = asyncio_to_thread(ASYNCIO_LOOP(), &f->work[f->i], heavy_hash, &f->bufs[f->i]);
        asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, NBUF, 0);
        ASYNCIO_AWAIT(&f->g.fut);
        for (f->i = 0; f->i < NBUF; f->i++)
            f->bufs[f->i].digest = (unsigned long long)f->futs[f->i]->u.value.i;
    }
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->t0;
    asyncio_event_set(&f->stop);
    ASYNCIO_AWAIT(&f->tick_task.fut);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static buffer_t bufs[NBUF];
    unsigned long long first[NBUF];
    asyncio_config cfg;
    size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 8, i, j;
    unsigned long long state = 88172645463325252ULL;
    int way;
    if (argc > 2 || mib == 0 || mib > 1024) {
        fprintf(stderr, "usage: to_thread [MIB_PER_BUFFER]   (1..1024, default 8)\n");
        return 2;
    }
    for (i = 0; i < NBUF; i++) {
        bufs[i].len = mib << 20;
        if (!(bufs[i].data = (unsigned char *)malloc(bufs[i].len))) {
            fprintf(stderr, "to_thread: out of memory\n");
            return 1;
        }
        for (j = 0; j < bufs[i].len; j++) { /* xorshift64 */
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bufs[i].data[j] = (unsigned char)(state >> 32);
        }
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1; /* real time is the point here */
    for (way = 0; way < 2; way++) {
        main_t m;
        memset(&m, 0, sizeof m);
        m.inline_ = way;
        m.bufs = bufs;
        if (asyncio_run_config(&cfg, run, &m, NULL) != 0)
            return 1;
        printf("%s %d hashes in %.2f s; ticker: %d ticks, worst lag %.1f ms\n",
               way ? "inline:         " : "on the executor:", NBUF, m.elapsed, m.tick.ticks, m.tick.worst * 1e3);
        for (i = 0; i < NBUF; i++) {
            if (way && bufs[i].digest != first[i]) {
                fprintf(stderr, "to_thread: digest %zu differs between the two ways\n", i);
                return 1;
            }
            first[i] = bufs[i].digest;
        }
    }
    printf("digests:");
    for (i = 0; i < NBUF; i++)
        printf(" %016llx", first[i]);
    printf(" (the same both ways)\n");
    for (i = 0; i < NBUF; i++)
        free(bufs[i].data);
    return 0;
}
