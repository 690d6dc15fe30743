/* pstree.c -- a program that deadlocks on purpose, then prints its own
   await tree: who waits on whom, and where.

   Shows: asyncio_print_await_tree (Python 3.14's asyncio.print_call_graph
   and `python -m asyncio pstree PID`): every pending task with where it
   was created, the line each of its frames is suspended at -- inline
   child coroutines included -- and what it waits for; the tasks a task
   awaits (through a gather here) nest under it.  A watchdog notices that
   nothing moved for a second and dumps the tree; the example servers do
   the same on SIGUSR1 (`kill -USR1 PID`).

   The program: a producer puts five orders on a queue of two; two
   consumers take them, each booking its order under the `stock` lock;
   meanwhile two transfers take the `stock` and `ledger` locks in opposite
   orders, and deadlock -- and the consumers, each holding an order, wait
   on `stock` behind them.

   In Python (3.14):
       async def transfer(first, second):
           async with first:
               await asyncio.sleep(0.1)
               async with second: ...
       async def main():
           await asyncio.gather(producer(q), consumer(q), consumer(q),
                                transfer(stock, ledger), transfer(ledger, stock))

   Run:    make examples && build/examples/pstree   (virtual clock: instant)

   Prints (tests/expected/pstree.txt; a debug build -- without NDEBUG --
   names files and functions, the default flavour always knows the
   lines; N is a line inside asyncio.h):
       orders: 1 2 3 booked, then nothing for 1 s: the await tree
       Task 'main'  (created at ./asyncio.h:N)
         shop_main  examples/pstree.c:199
           waits: a gather of 5
             Task 'consumer-1'  (created at examples/pstree.c:185)
               consumer  examples/pstree.c:111
                 asyncio_with  ./asyncio.h:N
                   asyncio_acquire  ./asyncio.h:N
                     waits: a lock
             ...
             Task 'transfer-2'  (created at examples/pstree.c:188)
               transfer  examples/pstree.c:130
                 asyncio_acquire  ./asyncio.h:N
                   waits: a lock
       Task 'watchdog'  (created at examples/pstree.c:195)
         watchdog  examples/pstree.c:149
           running (it prints this) */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

typedef struct {
    asyncio_loop *loop;
    asyncio_queue orders;
    asyncio_value slots[2];
    asyncio_lock stock, ledger;
    int booked, last_booked;
} shop_t;

typedef struct {
    asyncio_coro co;
    shop_t *shop;
    asyncio_queue_op op;
    int i;
} producer_t;
static int producer(asyncio_task *self, void *frame)
{
    producer_t *f = (producer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 1; f->i <= 5; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_put(&f->op, &f->shop->orders, asyncio_int(f->i)));
    }
    ASYNCIO_END();
}

/* Booking an order: under the stock lock, an inline child coroutine. */
typedef struct {
    asyncio_coro co;
    shop_t *shop;
    long long order;
} book_t;
static int book(asyncio_task *self, void *frame)
{
    book_t *f = (book_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(0.05);
    printf(" %lld", f->order);
    f->shop->booked++;
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    shop_t *shop;
    asyncio_queue_op op;
    asyncio_with_op with;
    book_t book;
} consumer_t;
static int consumer(asyncio_task *self, void *frame)
{
    consumer_t *f = (consumer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_get(&f->op, &f->shop->orders));
        f->book.shop = f->shop;
        f->book.order = ASYNCIO_RESULT().i;
        ASYNCIO_AWAIT_CORO(asyncio_with, asyncio_with_lock(&f->with, &f->shop->stock, book, &f->book));
    }
    ASYNCIO_END();
}

/* Takes `first`, then (a little later) `second`: two transfers taking
   them in opposite orders wait for each other forever. */
typedef struct {
    asyncio_coro co;
    asyncio_lock *first, *second;
    asyncio_sync_op op;
} transfer_t;
static int transfer(asyncio_task *self, void *frame)
{
    transfer_t *f = (transfer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(0.1);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, f->first));
    ASYNCIO_SLEEP(0.1);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, f->second));
    asyncio_lock_release(f->second);
    asyncio_lock_release(f->first);
    ASYNCIO_END();
}

/* Every second: if no order was booked since the last look, the program
   is stuck -- show why and stop it. */
typedef struct {
    asyncio_coro co;
    shop_t *shop;
    asyncio_task *main;
} watchdog_t;
static int watchdog(asyncio_task *self, void *frame)
{
    watchdog_t *f = (watchdog_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (;;) {
        f->shop->last_booked = f->shop->booked;
        ASYNCIO_SLEEP(1);
        if (f->shop->booked == f->shop->last_booked)
            break;
    }
    printf(" booked, then nothing for 1 s: the await tree\n");
    fflush(stdout);
    asyncio_print_await_tree(ASYNCIO_LOOP(), STDOUT_FILENO);
    asyncio_task_cancel(f->main);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    shop_t shop;
    producer_t producer;
    consumer_t consumers[2];
    transfer_t transfers[2];
    watchdog_t watchdog;
    asyncio_task tasks[5], dog;
    asyncio_future *futs[5];
    asyncio_gather_t all;
    int i;
} main_t;
static int shop_main(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    static const char *const names[5] = {"producer", "consumer-1", "consumer-2", "transfer-1", "transfer-2"};
    ASYNCIO_BEGIN(self, f);
    asyncio_task_set_name(self, "main");
    asyncio_queue_init(&f->shop.orders, ASYNCIO_LOOP(), ASYNCIO_FIFO, f->shop.slots, 2);
    asyncio_lock_init(&f->shop.stock, ASYNCIO_LOOP());
    asyncio_lock_init(&f->shop.ledger, ASYNCIO_LOOP());
    f->producer.shop = f->consumers[0].shop = f->consumers[1].shop = &f->shop;
    f->transfers[0].first = f->transfers[1].second = &f->shop.stock;
    f->transfers[0].second = f->transfers[1].first = &f->shop.ledger;
    asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[0], producer, &f->producer);
    asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[1], consumer, &f->consumers[0]);
    asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[2], consumer, &f->consumers[1]);
    asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[3], transfer, &f->transfers[0]);
    asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[4], transfer, &f->transfers[1]);
    for (f->i = 0; f->i < 5; f->i++) {
        asyncio_task_set_name(&f->tasks[f->i], names[f->i]);
        f->futs[f->i] = &f->tasks[f->i].fut;
    }
    f->watchdog.shop = &f->shop;
    f->watchdog.main = self;
    asyncio_create_task(ASYNCIO_LOOP(), &f->dog, watchdog, &f->watchdog);
    printf("orders:");
    if (asyncio_gather(&f->all, ASYNCIO_LOOP(), f->futs, 5, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, NULL);
    ASYNCIO_AWAIT(&f->all.fut);
    ASYNCIO_END();
}

int main(void)
{
    static main_t m;
    asyncio_config cfg = {0};
    asyncio_outcome out;
    cfg.virtual_clock = 1;
    if (asyncio_run_config(&cfg, shop_main, &m, &out) != ASYNCIO_ECANCELLED) {
        fprintf(stderr, "pstree: the deadlock was not found: %s\n", out.msg ? out.msg : "it finished");
        return 1;
    }
    return 0;
}
