/* countasync.c -- three coroutines gathered: they sleep at the same time.

   Shows: asyncio_gather_map (gather over n frames of one coroutine),
   ASYNCIO_SLEEP, and timing a program with the loop's clock.

   Mirrors (study notes 001, example 1; Real Python's countasync.py):

       async def count():
           print("One")
           await asyncio.sleep(1)
           print("Two")

       async def main():
           await asyncio.gather(count(), count(), count())

       s = time.perf_counter()
       asyncio.run(main())
       elapsed = time.perf_counter() - s
       print(f"{__file__} executed in {elapsed:0.2f} seconds.")

   Run:    make examples && build/examples/countasync
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/countasync   (instant)

   Prints (about one second in real time, not three):
       One
       One
       One
       Two
       Two
       Two
       countasync executed in 1.00 seconds.

   The elapsed time is read from the loop's clock inside main (the loop
   lives only inside asyncio_run), so on the virtual clock it is exact. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>

#define PROGRAM "countasync"

typedef struct {
    asyncio_coro co;
} count_t;

/* async def count(): print("One"); await asyncio.sleep(1); print("Two") */
static int count(asyncio_task *self, void *frame)
{
    count_t *f = (count_t *)frame;
    ASYNCIO_BEGIN(self, f);
    printf("One\n");
    ASYNCIO_SLEEP(1.0);
    printf("Two\n");
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    double start, elapsed;  /* loop time at the start, and the run time */
    count_t counts[3];      /* the children's frames ... */
    asyncio_task tasks[3];  /* ... their tasks ... */
    asyncio_gather_t g;     /* ... and the gather over them */
} main_t;

/* async def main(): await asyncio.gather(count(), count(), count()) */
static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, count, f->counts, sizeof f->counts[0], 3, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->start;
    ASYNCIO_END();
}

int main(void)
{
    static main_t m; /* zeroed: m.co is ASYNCIO_CORO_INIT */
    asyncio_outcome out;
    if (asyncio_run(main_coro, &m, &out) < 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, out.msg);
        return 1;
    }
    printf("%s executed in %0.2f seconds.\n", PROGRAM, m.elapsed);
    return 0;
}
