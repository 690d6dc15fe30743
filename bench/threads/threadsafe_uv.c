/* bench/threads/threadsafe_uv.c -- libuv counterpart of threadsafe.c.

     threadsafe_uv PRODUCERS N

   uv_async_send coalesces (many sends, one callback), so a libuv program
   that hands work to its loop keeps its own queue: here, as a libuv user
   would write it, one mutex-protected intrusive FIFO per loop (head and
   tail pointers).  A producer links its item in under the mutex and calls
   uv_async_send only when the queue was empty (otherwise a wake-up is
   already on its way: the loop takes the whole queue at once); the async
   callback swaps the queue out under the mutex and runs the items.  Items
   are in caller storage with the same ring-of-1024 reuse rule and the
   same flow control as threadsafe.c.  The same JSON line, "impl":"libuv",
   "storage":"caller"; the same checks. */
#define _GNU_SOURCE 1
#include <uv.h>

#include "common.h"

#include <pthread.h>
#include <string.h>

enum { RING = 1024, MAXP = 64 };

typedef struct producer producer_t;
typedef struct item {
    struct item *next;
    producer_t *p;
    long seq;
} item_t;

struct producer {
    item_t ring[RING];
    long n, waits;
    pthread_t th;
    char pad1[64];
    long done;
    char pad2[64];
    long expect, bad;
};

static uv_loop_t *loop;
static uv_async_t async;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static item_t *head, *tail;
static pthread_barrier_t start;
static long total, target, drains;
static long long t_end;

static void on_item(item_t *s)
{
    producer_t *p = s->p;
    if (s->seq != p->expect)
        p->bad++;
    p->expect++;
    __atomic_store_n(&p->done, p->expect, __ATOMIC_RELEASE);
    if (++total == target) {
        t_end = mono_ns();
        uv_close((uv_handle_t *)&async, NULL);
    }
}

static void drain(uv_async_t *h)
{
    item_t *s, *next;
    (void)h;
    pthread_mutex_lock(&mu);
    s = head;
    head = tail = NULL;
    pthread_mutex_unlock(&mu);
    drains++;
    for (; s; s = next) {
        next = s->next; /* read first: s may be reused once on_item has run */
        on_item(s);
    }
}

static void post(item_t *s)
{
    int was_empty;
    s->next = NULL;
    pthread_mutex_lock(&mu);
    was_empty = head == NULL;
    if (tail)
        tail->next = s;
    else
        head = s;
    tail = s;
    pthread_mutex_unlock(&mu);
    if (was_empty)
        uv_async_send(&async);
}

static void *produce(void *arg)
{
    producer_t *p = (producer_t *)arg;
    long i, done = 0;
    pthread_barrier_wait(&start);
    for (i = 0; i < p->n; i++) {
        item_t *s;
        while (i - done >= RING) {
            done = __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
            if (i - done >= RING) {
                p->waits++;
                sched_yield();
            }
        }
        s = &p->ring[i % RING];
        s->seq = i;
        post(s);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static producer_t prod[MAXP];
    const char *placement;
    long n, waits = 0, bad = 0, ran = 0;
    long long t0, c0, c1;
    int np, i, j, failed = 0;
    if (argc < 3 || (np = atoi(argv[1])) < 1 || np > MAXP || (n = atol(argv[2])) < 1) {
        fprintf(stderr, "usage: threadsafe_uv PRODUCERS(1..%d) N\n", MAXP);
        return 2;
    }
    loop = uv_default_loop();
    if (uv_async_init(loop, &async, drain) != 0)
        return 1;
    target = (long)np * n;
    pthread_barrier_init(&start, NULL, (unsigned)np + 1);
    for (i = 0; i < np; i++) {
        prod[i].n = n;
        for (j = 0; j < RING; j++)
            prod[i].ring[j].p = &prod[i];
        if (pthread_create(&prod[i].th, NULL, produce, &prod[i]) != 0)
            return 1;
    }
    placement = placement_apply();
    pthread_barrier_wait(&start);
    c0 = cpu_ns();
    t0 = mono_ns();
    uv_run(loop, UV_RUN_DEFAULT); /* until the last item closes the async handle */
    c1 = cpu_ns();
    for (i = 0; i < np; i++) {
        pthread_join(prod[i].th, NULL);
        waits += prod[i].waits;
        bad += prod[i].bad;
        ran += prod[i].expect;
        if (prod[i].expect != n) {
            fprintf(stderr, "threadsafe_uv: producer %d: %ld of %ld callbacks ran\n", i, prod[i].expect, n);
            failed = 1;
        }
    }
    if (uv_loop_close(loop) != 0 || head != NULL)
        failed = 1;
    if (bad || ran != target || total != target) {
        fprintf(stderr, "threadsafe_uv: %ld callbacks ran of %ld; %ld out of order\n", total, target, bad);
        failed = 1;
    }
    if (failed)
        return 1;
    printf("{\"bench\":\"call_soon_threadsafe\",\"impl\":\"libuv\",\"storage\":\"caller\",\"producers\":%d,"
           "\"n_per_producer\":%ld,\"calls\":%ld,\"calls_per_sec\":%.0f,\"wall_ms\":%.1f,\"cpu_ns_per_call\":%.1f,"
           "\"producer_waits\":%ld,\"placement\":\"%s\",\"async_callbacks\":%ld}\n",
           np, n, target, (double)target * 1e9 / (double)(t_end - t0), (double)(t_end - t0) / 1e6,
           (double)(c1 - c0) / (double)target, waits, placement, drains);
    return 0;
}
