/* square.c -- a coroutine does nothing until a loop runs it.

   Shows: (1) a task created and never run: closing its loop reports it the
   way Python warns about a coroutine that was never awaited; (2)
   asyncio_run as the program's entry point (asyncio.run); (3) awaiting a
   child coroutine inline with ASYNCIO_AWAIT_CORO (`x = await square(10)`):
   the child's frame is a member of the parent's frame, no task is created,
   and its return value is ASYNCIO_RESULT() right after the await.

   Mirrors (study notes 002, "async/await"):

       async def square(number: int) -> int:
           return number*number

       result = square(10)          # a coroutine object, never awaited
       print(square)                # <coroutine object square at 0x...>
                                    # RuntimeWarning: coroutine 'square'
                                    #   was never awaited
       result = asyncio.run(square(10))
       print(result)                # 100

       async def main() -> None:
           x = await square(10)
           print(f'x={x}')
           y = await square(5)
           print(f'y={y}')
           print(f'total={x+y}')

       asyncio.run(main())

   Run:    make examples && build/examples/square

   Prints on stdout:
       <task square pending>
       100
       x=100
       y=25
       total=125
   and on stderr, when the first loop is closed with the task still pending
   (LINE is the line of the asyncio_create_task call below; the file name
   is as the compiler saw it, examples/square.c under `make`):
       asyncio.h: RuntimeWarning: coroutine 'square' was never awaited (created at examples/square.c:LINE)

   In C a coroutine "object" is a function plus a frame; nothing happens
   until a task on a running loop drives it.  A task that never ran is the
   closest thing to Python's never-awaited coroutine object. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <stdio.h>

typedef struct {
    asyncio_coro co;
    int number;
} square_t;

/* async def square(number): return number*number */
static int square(asyncio_task *self, void *frame)
{
    square_t *f = (square_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_RETURN(asyncio_int((long long)f->number * f->number));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    long long x, y;
    square_t sq;  /* the child's frame, reused by both awaits */
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sq.number = 10;
    ASYNCIO_AWAIT_CORO(square, &f->sq); /* x = await square(10) */
    f->x = ASYNCIO_RESULT().i;
    printf("x=%lld\n", f->x);

    f->sq.number = 5;
    ASYNCIO_AWAIT_CORO(square, &f->sq); /* y = await square(5) */
    f->y = ASYNCIO_RESULT().i;
    printf("y=%lld\n", f->y);

    printf("total=%lld\n", f->x + f->y);
    ASYNCIO_END();
}

int main(void)
{
    asyncio_loop loop;
    asyncio_task task, *t;
    square_t sq = { ASYNCIO_CORO_INIT, 10 };
    main_t m = { ASYNCIO_CORO_INIT, 0, 0, { ASYNCIO_CORO_INIT, 0 } };
    asyncio_outcome out;
    int rc;

    /* result = square(10): scheduled, but the loop never runs. */
    if ((rc = asyncio_loop_init(&loop, NULL)) < 0) {
        fprintf(stderr, "square: loop_init: %s\n", asyncio_strerror(rc));
        return 1;
    }
    t = asyncio_create_task(&loop, &task, square, &sq);
    if (!t) {
        fprintf(stderr, "square: create_task failed\n");
        return 1;
    }
    printf("<task %s %s>\n", asyncio_task_name(t), asyncio_future_done(&t->fut) ? "done" : "pending");
    fflush(stdout); /* so that the warning follows it on a terminal */
    asyncio_loop_close(&loop); /* warns: coroutine 'square' was never awaited */

    /* result = asyncio.run(square(10)); print(result) */
    if (asyncio_run(square, &sq, &out) < 0) {
        fprintf(stderr, "square: %s\n", out.msg);
        return 1;
    }
    printf("%lld\n", out.value.i);

    /* asyncio.run(main()) */
    if (asyncio_run(main_coro, &m, &out) < 0) {
        fprintf(stderr, "square: %s\n", out.msg);
        return 1;
    }
    return 0;
}
