/* chess.c -- a simultaneous chess exhibition, simulated on the virtual clock.

   Shows: one shared resource handed from task to task with futures: the
   master plays one board at a time, and boards waiting for him queue up,
   each on a future of its own that the previous board completes when it
   is done with him (a FIFO handoff -- what a Lock would do, built from
   asyncio_future and a small ring buffer).  Also: asyncio_run_config with
   config.virtual_clock = 1, so hours of simulated time pass instantly
   whatever the environment says.

   Mirrors (study notes 003, "Async IO Explained"):

       24 opponents; the master takes 5 s per move, each opponent 55 s;
       a game is 30 move pairs.
       Synchronous:  (55 + 5) * 30 == 1800 s per game; 24 games: 12 hours.
       Asynchronous: 24 * 5 == 120 s per round of the room; 120 * 30 ==
                     3600 s: about 1 hour.

   In Python:
       async def board(master):
           for _ in range(30):
               async with master:               # one board at a time
                   await asyncio.sleep(5)        # the master's move
               await asyncio.sleep(55)           # the opponent's move
       await asyncio.gather(*(board(master) for _ in range(24)))

   Run:    make examples && build/examples/chess   (instant, always)

   Prints:
       24 boards, 30 move pairs each; master 5 s per move, opponents 55 s
       synchronous: 43200 s (12.0 hours)
       asynchronous: 3655 s (1.02 hours)
       master busy 3600 s; boards finished between 3540 s and 3655 s

   The notes' 3600 s counts the master's moves alone; the measured figure
   adds the last opponent's reply (55 s) after the master's final move. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>

#define BOARDS 24
#define MOVE_PAIRS 30
#define MASTER_SECS 5.0
#define OPPONENT_SECS 55.0

/* ---- the master: a FIFO handoff built from futures ---- */
typedef struct {
    int busy;                        /* a board has him */
    asyncio_future *queue[BOARDS];   /* boards waiting, oldest first */
    size_t head, count;
    double since, busy_total;        /* time accounting */
} master_t;

/* Queue a waiting board's future (called when the master is busy). */
static void master_wait(master_t *m, asyncio_future *turn)
{
    m->queue[(m->head + m->count) % BOARDS] = turn;
    m->count++;
}

/* The current board is done with the master: hand him straight to the
   oldest waiting board (he stays busy), or let him be free. */
static void master_release(master_t *m, asyncio_loop *loop)
{
    double now = asyncio_loop_time(loop);
    m->busy_total += now - m->since;
    m->since = now;
    if (m->count) {
        asyncio_future *next = m->queue[m->head];
        m->head = (m->head + 1) % BOARDS;
        m->count--;
        asyncio_future_set_result(next, asyncio_int(0));
    } else
        m->busy = 0;
}

/* ---- the asynchronous exhibition ---- */
typedef struct {
    asyncio_coro co;
    master_t *master;
    int pair;
    double finished;
    asyncio_future turn;  /* completed when the master comes to this board */
} board_t;

static int board(asyncio_task *self, void *frame)
{
    board_t *f = (board_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->pair = 0; f->pair < MOVE_PAIRS; f->pair++) {
        if (f->master->busy) { /* async with master: */
            asyncio_future_init(&f->turn, ASYNCIO_LOOP());
            master_wait(f->master, &f->turn);
            ASYNCIO_AWAIT(&f->turn);
        } else {
            f->master->busy = 1;
            f->master->since = asyncio_loop_time(ASYNCIO_LOOP());
        }
        ASYNCIO_SLEEP(MASTER_SECS); /* the master's move */
        master_release(f->master, ASYNCIO_LOOP());
        ASYNCIO_SLEEP(OPPONENT_SECS); /* the opponent's move, meanwhile */
    }
    f->finished = asyncio_loop_time(ASYNCIO_LOOP());
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    double start, elapsed;
    master_t master;
    board_t boards[BOARDS];
    asyncio_task tasks[BOARDS];
    asyncio_gather_t g;
} exhibition_t;

static int exhibition(asyncio_task *self, void *frame)
{
    exhibition_t *f = (exhibition_t *)frame;
    size_t i;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    for (i = 0; i < BOARDS; i++)
        f->boards[i].master = &f->master;
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, board, f->boards, sizeof f->boards[0], BOARDS, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->start;
    ASYNCIO_END();
}

/* ---- the synchronous exhibition: one board after another ---- */
typedef struct {
    asyncio_coro co;
    int board, pair;
    double start, elapsed;
} one_by_one_t;

static int one_by_one(asyncio_task *self, void *frame)
{
    one_by_one_t *f = (one_by_one_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    for (f->board = 0; f->board < BOARDS; f->board++)
        for (f->pair = 0; f->pair < MOVE_PAIRS; f->pair++) {
            ASYNCIO_SLEEP(MASTER_SECS);
            ASYNCIO_SLEEP(OPPONENT_SECS);
        }
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->start;
    ASYNCIO_END();
}

int main(void)
{
    static one_by_one_t sync_run;
    static exhibition_t async_run;
    asyncio_config cfg = { 0 };
    asyncio_outcome out;
    double first, last;
    size_t i;

    cfg.virtual_clock = 1; /* hours of play, simulated instantly */

    printf("%d boards, %d move pairs each; master %.0f s per move, opponents %.0f s\n", BOARDS, MOVE_PAIRS,
           MASTER_SECS, OPPONENT_SECS);

    if (asyncio_run_config(&cfg, one_by_one, &sync_run, &out) < 0)
        goto fail;
    printf("synchronous: %.0f s (%.1f hours)\n", sync_run.elapsed, sync_run.elapsed / 3600.0);

    if (asyncio_run_config(&cfg, exhibition, &async_run, &out) < 0)
        goto fail;
    printf("asynchronous: %.0f s (%.2f hours)\n", async_run.elapsed, async_run.elapsed / 3600.0);

    first = last = async_run.boards[0].finished;
    for (i = 1; i < BOARDS; i++) {
        if (async_run.boards[i].finished < first)
            first = async_run.boards[i].finished;
        if (async_run.boards[i].finished > last)
            last = async_run.boards[i].finished;
    }
    printf("master busy %.0f s; boards finished between %.0f s and %.0f s\n", async_run.master.busy_total,
           first - async_run.start, last - async_run.start);
    return 0;

fail:
    fprintf(stderr, "chess: %s\n", out.msg);
    return 1;
}
