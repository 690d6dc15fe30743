/* gather_errors.c -- gather with return_exceptions=True.

   Shows: a coroutine failing with ASYNCIO_RAISE (Python's raise), and
   asyncio_gather with ASYNCIO_RETURN_EXCEPTIONS: the gather waits for
   every child, and each child's outcome -- a result or an error -- is
   read afterwards with asyncio_gather_result (+ asyncio_future_errmsg
   for the failure's message, Python's str(exc)).

   Mirrors (study notes 002, asyncio.gather):

       class APIError(Exception): ...

       async def call_api(message, result, delay=3):
           print(message)
           await asyncio.sleep(delay)
           return result

       async def call_api_failed():
           await asyncio.sleep(1)
           raise APIError('API failed')

       async def main():
           a, b, c = await asyncio.gather(
               call_api('Calling API 1 ...', 100, 1),
               call_api('Calling API 2 ...', 200, 2),
               call_api_failed(),
               return_exceptions=True
           )
           print(a, b, c)

       asyncio.run(main())

   Run:    make examples && build/examples/gather_errors   (2 s)

   Prints:
       Calling API 1 ...
       Calling API 2 ...
       100 200 API failed

   APIError becomes an application error code: any code at or below
   ASYNCIO_EUSER is free for the program, and the message travels with it. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>

/* class APIError(Exception) */
#define API_ERROR ASYNCIO_EUSER

typedef struct {
    asyncio_coro co;
    const char *message;
    long long result;
    double delay;
} call_api_t;

static int call_api(asyncio_task *self, void *frame)
{
    call_api_t *f = (call_api_t *)frame;
    ASYNCIO_BEGIN(self, f);
    printf("%s\n", f->message);
    ASYNCIO_SLEEP(f->delay);
    ASYNCIO_RETURN(asyncio_int(f->result));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
} call_api_failed_t;

static int call_api_failed(asyncio_task *self, void *frame)
{
    call_api_failed_t *f = (call_api_failed_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(1.0);
    ASYNCIO_RAISE(API_ERROR, "API failed");
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    call_api_t api1, api2;
    call_api_failed_t failed;
    asyncio_task tasks[3];
    asyncio_future *futs[3];
    asyncio_gather_t g;
} main_t;

/* Print a gathered child's outcome as Python's print would: the value, or
   str(exception). */
static void print_outcome(const asyncio_gather_t *g, size_t i)
{
    asyncio_value v;
    if (asyncio_gather_result(g, i, &v) == 0)
        printf("%lld", v.i);
    else
        printf("%s", asyncio_future_errmsg(asyncio_gather_child(g, i)));
}

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    size_t i;
    ASYNCIO_BEGIN(self, f);
    f->api1.message = "Calling API 1 ...";
    f->api1.result = 100;
    f->api1.delay = 1.0;
    f->api2.message = "Calling API 2 ...";
    f->api2.result = 200;
    f->api2.delay = 2.0;
    /* gather wraps each coroutine in a task, in argument order */
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[0], call_api, &f->api1) ||
        !asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[1], call_api, &f->api2) ||
        !asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[2], call_api_failed, &f->failed))
        ASYNCIO_RAISE(-ENOMEM, "create_task failed");
    for (i = 0; i < 3; i++)
        f->futs[i] = &f->tasks[i].fut;
    if (asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, 3, ASYNCIO_RETURN_EXCEPTIONS) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather failed");
    ASYNCIO_AWAIT(&f->g.fut); /* never fails with return_exceptions */

    /* print(a, b, c) */
    for (i = 0; i < 3; i++) {
        if (i)
            printf(" ");
        print_outcome(&f->g, i);
    }
    printf("\n");
    ASYNCIO_END();
}

int main(void)
{
    static main_t m;
    asyncio_outcome out;
    if (asyncio_run(main_coro, &m, &out) < 0) {
        fprintf(stderr, "gather_errors: %s\n", out.msg);
        return 1;
    }
    return 0;
}
