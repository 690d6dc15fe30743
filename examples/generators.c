/* generators.c -- async generators: a producer of numbers consumed with
   `async for`, and a generator-based coroutine driven with send.

   Shows: ASYNCIO_YIELD_VALUE (Python's `yield`, and `x = yield v`),
   ASYNCIO_FOR (`async for`): a `break` closes the generator at once and
   runs its FINALLY, like contextlib.aclosing; ASYNCIO_NEXT / ASYNCIO_SEND
   (anext, asend) and asyncio_gen_close (aclose).

   A generator produces values lazily, one per request, and can be
   suspended and resumed: a function with many entry points.  Driven with
   send, the caller also passes a value in at each resumption (`term =
   yield average`): a generator-based coroutine (study notes 004).

   Mirrors:

       async def numbers(n):
           try:
               for i in range(1, n + 1):
                   await asyncio.sleep(0.1)
                   print(f"[{now():.1f}] numbers: yield {i}")
                   yield i
               print(f"[{now():.1f}] numbers: exhausted")
           finally:
               print(f"[{now():.1f}] numbers: cleanup")

       async def averager():
           total, count, average = 0, 0, None
           try:
               while True:
                   term = yield average
                   total += term
                   count += 1
                   average = total / count
           finally:
               print("averager: closed")

       async def main():
           # (a) async for, left early with break, then run to the end
           async with contextlib.aclosing(numbers(5)) as gen:
               async for x in gen:
                   print(f"[{now():.1f}] main: got {x}")
                   if x == 3:
                       print(f"[{now():.1f}] main: break")
                       break
           print(f"[{now():.1f}] main: after the loop")

           total = 0
           async for x in numbers(3):
               total += x
           print(f"[{now():.1f}] main: sum of numbers(3) = {total}")

           # (b) a generator-based coroutine driven by send
           avg = averager()
           await anext(avg)                    # prime it: run to the first yield
           for v in (10, 30, 5, 20):
               average = await avg.asend(v)
               print(f"main: sent {v:2d}, average {average:.2f}")
           await avg.aclose()

       asyncio.run(main())   # now(): loop.time() since main started

   Run:    make examples && build/examples/generators   (0.6 s)
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/generators   (instant)

   Prints:
       [0.1] numbers: yield 1
       [0.1] main: got 1
       [0.2] numbers: yield 2
       [0.2] main: got 2
       [0.3] numbers: yield 3
       [0.3] main: got 3
       [0.3] main: break
       [0.3] numbers: cleanup
       [0.3] main: after the loop
       [0.4] numbers: yield 1
       [0.5] numbers: yield 2
       [0.6] numbers: yield 3
       [0.6] numbers: exhausted
       [0.6] numbers: cleanup
       [0.6] main: sum of numbers(3) = 6
       main: sent 10, average 10.00
       main: sent 30, average 20.00
       main: sent  5, average 15.00
       main: sent 20, average 16.25
       averager: closed

   A generator runs inline in its consumer's task, on a frame the
   consumer keeps (like ASYNCIO_AWAIT_CORO): nothing is allocated. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <stdio.h>

static double start;
static double now(asyncio_task *self) { return asyncio_loop_time(self->fut.loop) - start; }

typedef struct {
    asyncio_coro co;
    int n, i;
} numbers_t;

static int numbers(asyncio_task *self, void *frame)
{
    numbers_t *f = (numbers_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 1; f->i <= f->n; f->i++) {
        ASYNCIO_SLEEP(0.1);
        printf("[%.1f] numbers: yield %d\n", now(self), f->i);
        ASYNCIO_YIELD_VALUE(asyncio_int(f->i));
    }
    printf("[%.1f] numbers: exhausted\n", now(self));
    ASYNCIO_FINALLY; /* on exhaustion, on close (break), on error */
    printf("[%.1f] numbers: cleanup\n", now(self));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    long long total, count;
    double average;
} averager_t;

static int averager(asyncio_task *self, void *frame)
{
    averager_t *f = (averager_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->total = f->count = 0;
    f->average = 0.0; /* Python's None: the priming next() ignores it */
    for (;;) {
        ASYNCIO_YIELD_VALUE(asyncio_double(f->average)); /* term = yield average */
        f->total += ASYNCIO_RESULT().i;
        f->count++;
        f->average = (double)f->total / (double)f->count;
    }
    ASYNCIO_FINALLY; /* reached by asyncio_gen_close (aclose) */
    printf("averager: closed\n");
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_value x;
    long long total;
    size_t k;
    numbers_t gen5, gen3;
    averager_t avg;
} main_t;

static const int sends[] = { 10, 30, 5, 20 };

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    start = asyncio_loop_time(ASYNCIO_LOOP());

    /* (a) async for, left early with break, then run to the end */
    f->gen5.n = 5;
    ASYNCIO_FOR(f->x, numbers, &f->gen5) {
        printf("[%.1f] main: got %lld\n", now(self), f->x.i);
        if (f->x.i == 3) {
            printf("[%.1f] main: break\n", now(self));
            break; /* closes gen5 here: its FINALLY runs */
        }
    }
    printf("[%.1f] main: after the loop\n", now(self));

    f->total = 0;
    f->gen3.n = 3;
    ASYNCIO_FOR(f->x, numbers, &f->gen3) {
        f->total += f->x.i;
    }
    printf("[%.1f] main: sum of numbers(3) = %lld\n", now(self), f->total);

    /* (b) a generator-based coroutine driven by send */
    ASYNCIO_NEXT(averager, &f->avg); /* prime it: run to the first yield */
    for (f->k = 0; f->k < sizeof sends / sizeof sends[0]; f->k++) {
        ASYNCIO_SEND(averager, &f->avg, asyncio_int(sends[f->k]));
        printf("main: sent %2d, average %.2f\n", sends[f->k], ASYNCIO_RESULT().d);
    }
    if (asyncio_gen_close(self, averager, &f->avg) < 0) /* await avg.aclose() */
        ASYNCIO_RAISE(ASYNCIO_EINVALIDSTATE, "averager awaited while closing");

    /* ASYNCIO_FOR closes its generator on break and at the end (a loop
       body that fails would need a close here; ours cannot fail).  The
       averager is closed on an error too: a no-op once it is closed, and
       it cannot fail, for the averager never awaits. */
    ASYNCIO_FINALLY;
    (void)asyncio_gen_close(self, averager, &f->avg);
    ASYNCIO_END();
}

int main(void)
{
    static main_t m;
    asyncio_outcome out;
    if (asyncio_run(main_coro, &m, &out) < 0) {
        fprintf(stderr, "generators: %s\n", out.msg);
        return 1;
    }
    return 0;
}
