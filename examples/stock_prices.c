/* stock_prices.c -- awaiting one call after another vs. running them as tasks.

   Shows: the same coroutine awaited inline (ASYNCIO_AWAIT_CORO: the calls
   take turns, 6 s) and wrapped in tasks (asyncio_create_task: they sleep
   at the same time, 3 s), then a third task printing progress while the
   two calls wait.  Each part is its own asyncio_run.

   Mirrors (study notes 002, asyncio.sleep / asyncio.create_task):

       async def call_api(message, result=1000, delay=3):
           print(message)
           await asyncio.sleep(delay)
           return result

       async def main():                      # part 1: sequential
           start = time.perf_counter()
           price = await call_api('Get stock price of GOOG...', 300)
           print(price)
           price = await call_api('Get stock price of APPL...', 400)
           print(price)
           end = time.perf_counter()
           print(f'It took {round(end-start,0)} second(s) to complete.')

       async def main():                      # part 2: two tasks
           task_1 = asyncio.create_task(call_api('Get stock price of GOOG...', 300))
           task_2 = asyncio.create_task(call_api('Get stock price of APPL...', 300))
           price = await task_1; print(price)
           price = await task_2; print(price)
           ...

       async def show_message():              # part 3: plus a progress task
           for _ in range(3):
               await asyncio.sleep(1)
               print('API call is in progress...')

       async def main():
           message_task = asyncio.create_task(show_message())
           task_1 = ...; task_2 = ...          # as in part 2
           price = await task_1; print(price)
           price = await task_2; print(price)
           await message_task
           ...

   Run:    make examples && build/examples/stock_prices      (12 s)
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/stock_prices   (instant)

   Prints (under ASYNCIO_VIRTUAL_CLOCK=1 exactly this):
       --- sequential ---
       Get stock price of GOOG...
       300
       Get stock price of APPL...
       400
       It took 6.0 second(s) to complete.
       --- create_task ---
       Get stock price of GOOG...
       Get stock price of APPL...
       300
       300
       It took 3.0 second(s) to complete.
       --- create_task with show_message ---
       Get stock price of GOOG...
       Get stock price of APPL...
       API call is in progress...
       API call is in progress...
       API call is in progress...
       300
       300
       It took 3.0 second(s) to complete.

   About part 3's order: the third progress tick and both API calls are
   all due at t = 3.  On the virtual clock they are due at exactly the
   same time and fire together, in the order their timers were set; the
   tasks finishing there wake main on the next loop iteration, so all
   three progress lines come before the prices, as in the notes.  In real
   time each tick's sleep starts a little after the previous tick's
   deadline, so the third tick drifts some microseconds past t = 3 and --
   as with CPython, which prints the same way -- the two "300" lines may
   come before the third progress line. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>

typedef struct {
    asyncio_coro co;
    const char *message;
    long long result;
    double delay;
} call_api_t;

/* async def call_api(message, result=1000, delay=3) */
static int call_api(asyncio_task *self, void *frame)
{
    call_api_t *f = (call_api_t *)frame;
    ASYNCIO_BEGIN(self, f);
    printf("%s\n", f->message);
    ASYNCIO_SLEEP(f->delay);
    ASYNCIO_RETURN(asyncio_int(f->result));
    ASYNCIO_END();
}

static void call_api_args(call_api_t *f, const char *message, long long result)
{
    f->message = message;
    f->result = result;
    f->delay = 3.0;
}

typedef struct {
    asyncio_coro co;
    int i;
} show_message_t;

/* async def show_message() */
static int show_message(asyncio_task *self, void *frame)
{
    show_message_t *f = (show_message_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_SLEEP(1.0);
        printf("API call is in progress...\n");
    }
    ASYNCIO_END();
}

/* f'{round(end-start,0)}' for a non-negative duration: "6.0" */
static void print_took(double seconds)
{
    printf("It took %.1f second(s) to complete.\n", (double)(long long)(seconds + 0.5));
}

/* ---- part 1: await call_api(...) twice, one after the other ---- */
typedef struct {
    asyncio_coro co;
    double start;
    call_api_t call;  /* inline child frame */
} sequential_t;

static int sequential(asyncio_task *self, void *frame)
{
    sequential_t *f = (sequential_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());

    call_api_args(&f->call, "Get stock price of GOOG...", 300);
    ASYNCIO_AWAIT_CORO(call_api, &f->call);
    printf("%lld\n", ASYNCIO_RESULT().i);

    call_api_args(&f->call, "Get stock price of APPL...", 400);
    ASYNCIO_AWAIT_CORO(call_api, &f->call);
    printf("%lld\n", ASYNCIO_RESULT().i);

    print_took(asyncio_loop_time(ASYNCIO_LOOP()) - f->start);
    ASYNCIO_END();
}

/* ---- parts 2 and 3: the calls as tasks, optionally with show_message ---- */
typedef struct {
    asyncio_coro co;
    int with_message;  /* argument: part 3 when 1 */
    double start;
    call_api_t call1, call2;
    show_message_t msg;
    asyncio_task task_1, task_2, message_task;
} concurrent_t;

static int concurrent(asyncio_task *self, void *frame)
{
    concurrent_t *f = (concurrent_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());

    if (f->with_message && !asyncio_create_task(ASYNCIO_LOOP(), &f->message_task, show_message, &f->msg))
        ASYNCIO_RAISE(-ENOMEM, "create_task failed");
    call_api_args(&f->call1, "Get stock price of GOOG...", 300);
    call_api_args(&f->call2, "Get stock price of APPL...", 300);
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->task_1, call_api, &f->call1) ||
        !asyncio_create_task(ASYNCIO_LOOP(), &f->task_2, call_api, &f->call2))
        ASYNCIO_RAISE(-ENOMEM, "create_task failed");

    ASYNCIO_AWAIT(&f->task_1.fut); /* price = await task_1 */
    printf("%lld\n", ASYNCIO_RESULT().i);

    ASYNCIO_AWAIT(&f->task_2.fut); /* price = await task_2 */
    printf("%lld\n", ASYNCIO_RESULT().i);

    if (f->with_message) {
        ASYNCIO_AWAIT(&f->message_task.fut); /* await message_task */
    }

    print_took(asyncio_loop_time(ASYNCIO_LOOP()) - f->start);
    ASYNCIO_END();
}

int main(void)
{
    static sequential_t seq;
    static concurrent_t conc;
    asyncio_outcome out;

    printf("--- sequential ---\n");
    if (asyncio_run(sequential, &seq, &out) < 0)
        goto fail;

    printf("--- create_task ---\n");
    conc.with_message = 0;
    if (asyncio_run(concurrent, &conc, &out) < 0)
        goto fail;

    printf("--- create_task with show_message ---\n");
    conc.with_message = 1;
    if (asyncio_run(concurrent, &conc, &out) < 0)
        goto fail;
    return 0;

fail:
    fprintf(stderr, "stock_prices: %s\n", out.msg);
    return 1;
}
