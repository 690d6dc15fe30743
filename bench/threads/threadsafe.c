/* bench/threads/threadsafe.c -- asyncio_call_soon_threadsafe from
   producer threads: how many callbacks a second the loop runs.

     threadsafe PRODUCERS N [caller|library]

   PRODUCERS threads each post N callbacks to one loop, which runs on the
   main thread; the time runs from the moment the producers are released
   (a barrier) until the loop has run the last callback.  Storage:
   "caller" (default): each producer owns a ring of RING handles and
   reuses a handle once its callback has run (the callback publishes the
   producer's count of completed callbacks; a producer that finds its
   ring full yields until the loop catches up), so nothing is allocated
   per call.  "library": the same ring of arguments and the same flow
   control, but the handle pointer is NULL: the library allocates each
   handle (malloc on the producer's thread) and frees it after the run.
   One JSON line:
     {"bench":"call_soon_threadsafe","impl":"asyncio.h","storage":S,
      "producers":P,"n_per_producer":N,"calls":P*N,"calls_per_sec":..,
      "wall_ms":..,"cpu_ns_per_call":..,"producer_waits":..,"placement":..}
   producer_waits: how many times a producer found its ring full.  Checks:
   every callback ran exactly once and each producer's in the order it
   posted them (documented: FIFO per thread); exit 1 otherwise.
   THREADS_PLACEMENT=split: the loop on CPU 0, the producers on CPU 1. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "common.h"

#include <pthread.h>
#include <string.h>

enum { RING = 1024, MAXP = 64 };

typedef struct producer producer_t;
typedef struct {
    asyncio_handle h;
    producer_t *p;
    long seq;
} slot_t;

struct producer {
    slot_t ring[RING];
    long n, waits;
    int rc;
    pthread_t th;
    char pad1[64];
    long done; /* callbacks run so far: written by the loop, read by the producer */
    char pad2[64];
    long expect, bad; /* the loop's */
};

static asyncio_loop loop;
static pthread_barrier_t start;
static int use_library_storage;
static long total, target;
static long long t_end;

static void on_call(asyncio_loop *l, void *arg)
{
    slot_t *s = (slot_t *)arg;
    producer_t *p = s->p;
    if (s->seq != p->expect)
        p->bad++;
    p->expect++;
    __atomic_store_n(&p->done, p->expect, __ATOMIC_RELEASE); /* s is the producer's again */
    if (++total == target) {
        t_end = mono_ns();
        asyncio_loop_stop(l);
    }
}

static void *produce(void *arg)
{
    producer_t *p = (producer_t *)arg;
    long i, done = 0;
    pthread_barrier_wait(&start);
    for (i = 0; i < p->n; i++) {
        slot_t *s;
        while (i - done >= RING) {
            done = __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
            if (i - done >= RING) {
                p->waits++;
                sched_yield();
            }
        }
        s = &p->ring[i % RING];
        s->seq = i;
        if ((p->rc = asyncio_call_soon_threadsafe(&loop, use_library_storage ? NULL : &s->h, on_call, s)) != 0)
            break;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static producer_t prod[MAXP];
    asyncio_config cfg;
    const char *placement;
    long n, waits = 0, bad = 0, ran = 0;
    long long t0, c0, c1;
    int np, i, rc, failed = 0;
    if (argc < 3 || (np = atoi(argv[1])) < 1 || np > MAXP || (n = atol(argv[2])) < 1 ||
        (argc > 3 && strcmp(argv[3], "caller") != 0 && strcmp(argv[3], "library") != 0)) {
        fprintf(stderr, "usage: threadsafe PRODUCERS(1..%d) N [caller|library]\n", MAXP);
        return 2;
    }
    use_library_storage = argc > 3 && strcmp(argv[3], "library") == 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    if (asyncio_loop_init(&loop, &cfg) != 0)
        return 1;
    target = (long)np * n;
    asyncio_loop_ref(&loop); /* the loop waits for the producers, however slow they start */
    pthread_barrier_init(&start, NULL, (unsigned)np + 1);
    for (i = 0; i < np; i++) {
        prod[i].n = n;
        for (rc = 0; rc < RING; rc++)
            prod[i].ring[rc].p = &prod[i];
        if (pthread_create(&prod[i].th, NULL, produce, &prod[i]) != 0)
            return 1;
    }
    placement = placement_apply();
    pthread_barrier_wait(&start);
    c0 = cpu_ns();
    t0 = mono_ns();
    rc = asyncio_loop_run_forever(&loop);
    c1 = cpu_ns();
    asyncio_loop_unref(&loop);
    for (i = 0; i < np; i++) {
        pthread_join(prod[i].th, NULL);
        waits += prod[i].waits;
        bad += prod[i].bad;
        ran += prod[i].expect;
        if (prod[i].rc != 0 || prod[i].expect != n) {
            fprintf(stderr, "threadsafe: producer %d: %ld of %ld callbacks ran, post returned %d\n", i,
                    prod[i].expect, n, prod[i].rc);
            failed = 1;
        }
    }
    if (asyncio_loop_close(&loop) != 0 || rc != 0)
        failed = 1;
    if (bad || ran != target || total != target) {
        fprintf(stderr, "threadsafe: %ld callbacks ran of %ld; %ld out of order\n", total, target, bad);
        failed = 1;
    }
    if (failed)
        return 1;
    printf("{\"bench\":\"call_soon_threadsafe\",\"impl\":\"asyncio.h\",\"storage\":\"%s\",\"producers\":%d,"
           "\"n_per_producer\":%ld,\"calls\":%ld,\"calls_per_sec\":%.0f,\"wall_ms\":%.1f,\"cpu_ns_per_call\":%.1f,"
           "\"producer_waits\":%ld,\"placement\":\"%s\"}\n",
           use_library_storage ? "library" : "caller", np, n, target, (double)target * 1e9 / (double)(t_end - t0),
           (double)(t_end - t0) / 1e6, (double)(c1 - c0) / (double)target, waits, placement);
    return 0;
}
