/* generators.c -- async generators: a producer of numbers consumed with
   `async for`, a consumer that fails and leaves its generator to the
   loop, and a generator-based coroutine driven with send.

   Shows: ASYNCIO_YIELD_VALUE (Python's `yield`, and `x = yield v`), a
   generator cleanup that awaits (ASYNCIO_FINALLY_ASYNC: it says goodbye,
   which takes a tenth of a second); ASYNCIO_FOR (`async for`): a `break`
   closes the generator at once and awaits its cleanup, like
   contextlib.aclosing; a consumer that fails leaves its generator open,
   and the loop closes it soon after, as CPython's asyncgen finalizer
   does; ASYNCIO_NEXT / ASYNCIO_SEND / ASYNCIO_ACLOSE (anext, asend,
   aclose).

   A generator produces values lazily, one per request, and can be
   suspended and resumed: a function with many entry points.  Driven with
   send, the caller also passes a value in at each resumption (`term =
   yield average`): a generator-based coroutine (study notes 004).

   Mirrors (byte for byte, on CPython 3.11, 3.12 and 3.13):

       start = 0
       def now(): return asyncio.get_running_loop().time() - start

       async def numbers(n):
           try:
               for i in range(1, n + 1):
                   await asyncio.sleep(0.1)
                   print(f"[{now():.1f}] numbers: yield {i}")
                   yield i
               print(f"[{now():.1f}] numbers: exhausted")
           finally:
               print(f"[{now():.1f}] numbers: cleanup, saying goodbye")
               await asyncio.sleep(0.1)
               print(f"[{now():.1f}] numbers: goodbye said")

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

       async def sum_until_negative(n):
           total = 0
           async for x in numbers(n):
               if x == 2:
                   raise ValueError("two is too many")
               total += x
           return total

       async def main():
           global start
           start = asyncio.get_running_loop().time()
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

           # (b) a consumer that fails: the loop closes its generator soon after
           try:
               await sum_until_negative(5)
           except ValueError as e:
               print(f"[{now():.1f}] main: consumer failed: {e}")
           await asyncio.sleep(0.2)
           print(f"[{now():.1f}] main: later")

           # (c) a generator-based coroutine driven by send
           avg = averager()
           await anext(avg)                    # prime it: run to the first yield
           for v in (10, 30, 5, 20):
               average = await avg.asend(v)
               print(f"main: sent {v:2d}, average {average:.2f}")
           await avg.aclose()

       asyncio.run(main())

   Run:    make examples && build/examples/generators   (1.2 s)
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/generators   (instant)

   Prints:
       [0.1] numbers: yield 1
       [0.1] main: got 1
       [0.2] numbers: yield 2
       [0.2] main: got 2
       [0.3] numbers: yield 3
       [0.3] main: got 3
       [0.3] main: break
       [0.3] numbers: cleanup, saying goodbye
       [0.4] numbers: goodbye said
       [0.4] main: after the loop
       [0.5] numbers: yield 1
       [0.6] numbers: yield 2
       [0.7] numbers: yield 3
       [0.7] numbers: exhausted
       [0.7] numbers: cleanup, saying goodbye
       [0.8] numbers: goodbye said
       [0.8] main: sum of numbers(3) = 6
       [0.9] numbers: yield 1
       [1.0] numbers: yield 2
       [1.0] main: consumer failed: two is too many
       [1.0] numbers: cleanup, saying goodbye
       [1.1] numbers: goodbye said
       [1.2] main: later
       main: sent 10, average 10.00
       main: sent 30, average 20.00
       main: sent  5, average 15.00
       main: sent 20, average 16.25
       averager: closed

   A generator runs inline in its consumer's task, on a frame the
   consumer keeps (like ASYNCIO_AWAIT_CORO): nothing is allocated but the
   loop's record of the generators open. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <stdio.h>

static double start;
static double now(asyncio_task *self) { return asyncio_loop_time(self->fut.loop) - start; }

typedef struct {
    asyncio_coro co;
    int n, i;
    asyncio_finally fin;
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
    ASYNCIO_FINALLY_ASYNC(f->fin) { /* on exhaustion, on close, on error */
        printf("[%.1f] numbers: cleanup, saying goodbye\n", now(self));
        ASYNCIO_SLEEP(0.1);
        printf("[%.1f] numbers: goodbye said\n", now(self));
    }
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
    ASYNCIO_FINALLY; /* reached by ASYNCIO_ACLOSE */
    printf("averager: closed\n");
    ASYNCIO_END();
}

/* Sums numbers(n), but fails on a 2: its generator is left open. */
typedef struct {
    asyncio_coro co;
    asyncio_value x;
    long long total;
    numbers_t gen;
} summer_t;

static int sum_until_two(asyncio_task *self, void *frame)
{
    summer_t *f = (summer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->total = 0;
    ASYNCIO_FOR(f->x, numbers, &f->gen) {
        if (f->x.i == 2)
            ASYNCIO_RAISE(ASYNCIO_EUSER, "two is too many");
        f->total += f->x.i;
    }
    ASYNCIO_RETURN(asyncio_int(f->total));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_value x;
    long long total;
    size_t k;
    int rc;
    numbers_t gen5, gen3;
    summer_t summer;
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
            break; /* closes gen5 here: its cleanup runs and is awaited */
        }
    }
    printf("[%.1f] main: after the loop\n", now(self));

    f->total = 0;
    f->gen3.n = 3;
    ASYNCIO_FOR(f->x, numbers, &f->gen3) {
        f->total += f->x.i;
    }
    printf("[%.1f] main: sum of numbers(3) = %lld\n", now(self), f->total);

    /* (b) a consumer that fails: the loop closes its generator soon after */
    f->summer.gen.n = 5;
    ASYNCIO_AWAIT_CORO_RC(f->rc, sum_until_two, &f->summer);
    if (f->rc < 0)
        printf("[%.1f] main: consumer failed: %s\n", now(self), ASYNCIO_ERRMSG());
    ASYNCIO_SLEEP(0.2);
    printf("[%.1f] main: later\n", now(self));

    /* (c) a generator-based coroutine driven by send */
    ASYNCIO_NEXT(averager, &f->avg); /* prime it: run to the first yield */
    for (f->k = 0; f->k < sizeof sends / sizeof sends[0]; f->k++) {
        ASYNCIO_SEND(averager, &f->avg, asyncio_int(sends[f->k]));
        printf("main: sent %2d, average %.2f\n", sends[f->k], ASYNCIO_RESULT().d);
    }
    ASYNCIO_ACLOSE(averager, &f->avg); /* await avg.aclose() */
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
