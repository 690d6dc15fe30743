/* nested_gather.c -- a gather whose children gather too.

   Shows: gathering tasks of different coroutines (asyncio_gather over
   task futures), a gather nested inside a gathered task, and the order in
   which the loop interleaves them: each task runs until its next await,
   and timers due at the same moment fire in the order they were set.

   Mirrors (study notes 001, example 2):

       async def count(i):
           print(i)
           await asyncio.sleep(i)
           print(i)

       async def main():
           await asyncio.gather(count(1), count(2), count(3))

       async def main2():
           print('main2 start')
           await asyncio.sleep(2)
           print('main2 end')

       async def main_of_main():
           await asyncio.gather(main(), main2())

       s = time.perf_counter()
       asyncio.run(main_of_main())
       elapsed = time.perf_counter() - s
       print(f"{__file__} executed in {elapsed:0.2f} seconds.")

   Run:    make examples && build/examples/nested_gather
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/nested_gather   (instant)

   Prints (about three seconds in real time):
       main2 start
       1
       2
       3
       1
       main2 end
       2
       3
       nested_gather executed in 3.00 seconds.

   Why this order: main_of_main's gather starts main and main2 as tasks.
   main runs first and starts count(1..3) as tasks (they run on the next
   loop iteration), then main2 prints and sleeps 2 s.  Then the counts
   print 1 2 3 and sleep.  At t=2 main2's timer was set before count(2)'s,
   so "main2 end" comes before the second "2". */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>

#define PROGRAM "nested_gather"

typedef struct {
    asyncio_coro co;
    int i;
} count_t;

/* async def count(i): print(i); await asyncio.sleep(i); print(i) */
static int count(asyncio_task *self, void *frame)
{
    count_t *f = (count_t *)frame;
    ASYNCIO_BEGIN(self, f);
    printf("%d\n", f->i);
    ASYNCIO_SLEEP((double)f->i);
    printf("%d\n", f->i);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    count_t counts[3];
    asyncio_task tasks[3];
    asyncio_gather_t g;
} inner_main_t;

/* async def main(): await asyncio.gather(count(1), count(2), count(3)) */
static int inner_main(asyncio_task *self, void *frame)
{
    inner_main_t *f = (inner_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->counts[0].i = 1;
    f->counts[1].i = 2;
    f->counts[2].i = 3;
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, count, f->counts, sizeof f->counts[0], 3, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
} main2_t;

/* async def main2(): print('main2 start'); await asyncio.sleep(2); print('main2 end') */
static int main2(asyncio_task *self, void *frame)
{
    main2_t *f = (main2_t *)frame;
    ASYNCIO_BEGIN(self, f);
    printf("main2 start\n");
    ASYNCIO_SLEEP(2.0);
    printf("main2 end\n");
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    double start, elapsed;
    inner_main_t m;
    main2_t m2;
    asyncio_task t_main, t_main2;
    asyncio_future *futs[2];
    asyncio_gather_t g;
} main_of_main_t;

/* async def main_of_main(): await asyncio.gather(main(), main2())
   gather wraps each coroutine in a task, in argument order. */
static int main_of_main(asyncio_task *self, void *frame)
{
    main_of_main_t *f = (main_of_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->t_main, inner_main, &f->m) ||
        !asyncio_create_task(ASYNCIO_LOOP(), &f->t_main2, main2, &f->m2))
        ASYNCIO_RAISE(-ENOMEM, "create_task failed");
    f->futs[0] = &f->t_main.fut;
    f->futs[1] = &f->t_main2.fut;
    if (asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, 2, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->start;
    ASYNCIO_END();
}

int main(void)
{
    static main_of_main_t m;
    asyncio_outcome out;
    if (asyncio_run(main_of_main, &m, &out) < 0) {
        fprintf(stderr, "%s: %s\n", PROGRAM, out.msg);
        return 1;
    }
    printf("%s executed in %0.2f seconds.\n", PROGRAM, m.elapsed);
    return 0;
}
