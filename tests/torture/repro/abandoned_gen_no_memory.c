/* Reproducer: an abandoned async generator's cleanup is skipped without a
   word when the loop has no memory to register the task that would close
   it.
       cc -std=c99 -I. tests/torture/repro/abandoned_gen_no_memory.c -pthread && ./a.out
   Expected: "cleanup ran" -- or, if memory truly cannot be had, a
   warning, as asyncio__gen_abandon_one gives when the closer's own
   allocation fails.
   Seen: "cleanup never ran, warnings: 0".  asyncio__closer_spawn treats
   a failed asyncio_task_create_at as "a closed loop" and unregisters the
   generator silently; here it failed for want of memory to grow the task
   registry (main, the abandoner and 14 more tasks fill its first 16
   slots). */
#define ASYNCIO_IMPLEMENTATION
#include <stddef.h>
static void *repro_realloc(void *p, size_t n);
#define ASYNCIO_REALLOC(ctx, p, n) ((void)(ctx), repro_realloc((p), (n)))
#define ASYNCIO_FREE(ctx, p) ((void)(ctx), free(p))
#include "asyncio.h"
#include <stdio.h>
#include <stdlib.h>

/* Once armed, growing the loop's task registry fails (a look at a
   private field, to hit that one allocation whatever else happens). */
static asyncio_loop *armed;
static void *repro_realloc(void *p, size_t n)
{
    if (armed && p && p == (void *)armed->tasks)
        return NULL;
    return realloc(p, n);
}

static int cleaned, warnings;
static void warn(void *ctx, const char *msg)
{
    (void)ctx;
    warnings++;
    printf("warning: %s\n", msg);
}

typedef struct { asyncio_coro co; int i; asyncio_finally fin; } gen_t;
static int numbers(asyncio_task *self, void *frame)
{
    gen_t *g = (gen_t *)frame;
    ASYNCIO_BEGIN(self, g);
    for (g->i = 0;; g->i++) {
        ASYNCIO_YIELD_VALUE(asyncio_int(g->i));
    }
    ASYNCIO_FINALLY_ASYNC(g->fin) {
        cleaned = 1;
    }
    ASYNCIO_END();
}

typedef struct { asyncio_coro co; gen_t g; asyncio_value x; } abandoner_t;
static int abandoner(asyncio_task *self, void *frame)
{
    abandoner_t *f = (abandoner_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_FOR(f->x, numbers, &f->g) {
        if (f->x.i == 2) {
            armed = ASYNCIO_LOOP();
            ASYNCIO_RAISE(ASYNCIO_EUSER, "leaves its generator open");
        }
    }
    ASYNCIO_END();
}

typedef struct { asyncio_coro co; } nop_t;
static int nop(asyncio_task *self, void *frame)
{
    nop_t *f = (nop_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    nop_t nops[14];
    asyncio_task nt[14];
    asyncio_gather_t g;
    abandoner_t ab;
    asyncio_task t;
    int i, rc;
} main_t;
static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->nt, nop, f->nops, sizeof f->nops[0], 14, 0);
    ASYNCIO_AWAIT(&f->g.fut);
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, abandoner, &f->ab);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    for (f->i = 0; f->i < 10 && !cleaned; f->i++) {
        ASYNCIO_YIELD();
    }
    ASYNCIO_END();
}

int main(void)
{
    static main_t m;
    asyncio_config cfg = {0};
    cfg.warn = warn;
    asyncio_run_config(&cfg, main_coro, &m, NULL);
    printf("cleanup %s, warnings: %d\n", cleaned ? "ran" : "never ran", warnings);
    return !cleaned && !warnings;
}
