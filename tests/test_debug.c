/* Seeing inside a running program: the await tree of a known program,
   line by line (inline children, gather, TaskGroup, queue, lock, event,
   semaphore, fd and sleep waits); "Task exception was never retrieved"
   once, at the right moment, never for an error that was read; the
   slow-step warning on the virtual clock (a step that burns real time
   against a low threshold); "destroyed but pending" saying where; the
   loop's metrics; bad input.  The tree's lines are compared exactly; the
   line numbers of this file are taken with __LINE__ on the line of each
   suspension, those inside asyncio.h are matched as any number. */
#include "tests.h"
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static char warnings[4096];
static int nwarnings;
static void keep_warning(void *ctx, const char *msg)
{
    (void)ctx;
    nwarnings++;
    snprintf(warnings + strlen(warnings), sizeof warnings - strlen(warnings), "%s\n", msg);
}

static void debug_loop_init(asyncio_loop *loop, double slow)
{
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = 1;
    cfg.warn = keep_warning;
    cfg.slow_callback_duration = slow;
    warnings[0] = 0;
    nwarnings = 0;
    CHECK_EQ(asyncio_loop_init(loop, &cfg), 0);
}

/* Whether got matches want, where '#' in want stands for one or more
   digits and '*' for any run of characters (the header's path and its
   line numbers, which move as it changes). */
static int tree_matches(const char *got, const char *want)
{
    for (; *want; want++) {
        if (*want == '*') {
            for (;; got++) {
                if (tree_matches(got, want + 1))
                    return 1;
                if (!*got || *got == '\n')
                    return 0;
            }
        }
        if (*want == '#') {
            if (*got < '0' || *got > '9')
                return 0;
            while (got[1] >= '0' && got[1] <= '9')
                got++;
            got++;
        } else if (*got++ != *want)
            return 0;
    }
    return *got == 0;
}

/* The tree, written to a pipe and read back. */
static char tree[8192];
static int tree_rc;
static void dump_tree(asyncio_loop *loop, void *arg)
{
    int p[2];
    ssize_t n;
    (void)arg;
    CHECK_EQ(pipe(p), 0);
    tree_rc = asyncio_print_await_tree(loop, p[1]);
    close(p[1]);
    n = read(p[0], tree, sizeof tree - 1);
    tree[n > 0 ? n : 0] = 0;
    close(p[0]);
}

/* ---- the known program ---- */
typedef struct {
    asyncio_lock lock;
    asyncio_event ev;
    asyncio_semaphore sem;
    asyncio_queue q;
    int sv[2];
    /* where each waits, and where each task was created (__LINE__) */
    int l_sleep, l_middle, l_inner, l_fd, l_lock, l_ev, l_sem, l_tg, l_gather;
    int c_sleeper, c_getter, c_fdwait, c_owner, c_locker, c_tg1, c_tg2;
} world_t;
static world_t world;

typedef struct { asyncio_coro co; } plain_t;
static int sleeper(asyncio_task *self, void *frame)
{
    plain_t *f = (plain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    world.l_sleep = __LINE__; ASYNCIO_SLEEP(5);
    ASYNCIO_END();
}

/* getter -> middle -> asyncio_queue_io: a chain of inline children */
typedef struct { asyncio_coro co; asyncio_queue_op op; } inner_t;
static int inner(asyncio_task *self, void *frame)
{
    inner_t *f = (inner_t *)frame;
    ASYNCIO_BEGIN(self, f);
    world.l_inner = __LINE__; ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_get(&f->op, &world.q));
    ASYNCIO_END();
}
typedef struct { asyncio_coro co; inner_t in; } getter_t;
static int getter(asyncio_task *self, void *frame)
{
    getter_t *f = (getter_t *)frame;
    ASYNCIO_BEGIN(self, f);
    world.l_middle = __LINE__; ASYNCIO_AWAIT_CORO(inner, &f->in);
    ASYNCIO_END();
}

static int fdwait(asyncio_task *self, void *frame)
{
    plain_t *f = (plain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    world.l_fd = __LINE__; ASYNCIO_WAIT_FD(world.sv[0], ASYNCIO_READABLE);
    ASYNCIO_END();
}

typedef struct { asyncio_coro co; asyncio_sync_op op; int which; } syncer_t;
static int syncer(asyncio_task *self, void *frame)
{
    syncer_t *f = (syncer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    if (f->which == 0) {
        world.l_lock = __LINE__; ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, &world.lock));
    } else if (f->which == 1) {
        world.l_ev = __LINE__; ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->op, &world.ev));
    } else {
        world.l_sem = __LINE__; ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_semaphore_op(&f->op, &world.sem));
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_taskgroup tg;
    asyncio_task t1, t2;
    syncer_t s1, s2;
    int rc;
} owner_t;
static int owner(asyncio_task *self, void *frame)
{
    owner_t *f = (owner_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, ASYNCIO_SELF());
    f->s1.which = 1;
    f->s2.which = 2;
    world.c_tg1 = __LINE__; asyncio_taskgroup_create_task(&f->tg, &f->t1, syncer, &f->s1, NULL);
    world.c_tg2 = __LINE__; asyncio_taskgroup_create_task(&f->tg, &f->t2, syncer, &f->s2, NULL);
    asyncio_task_set_name(&f->t1, "tg-event");
    asyncio_task_set_name(&f->t2, "tg-semaphore");
    world.l_tg = __LINE__; ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, 0, NULL));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_task sleeper_t, getter_t_, fdwait_t, owner_t_, locker_t;
    plain_t sl, fw;
    getter_t gt;
    owner_t ow;
    syncer_t lk;
    asyncio_future *futs[3];
    asyncio_gather_t g;
    asyncio_value slots[1];
    asyncio_sync_op hold;
    asyncio_task *me;
} main_t;
static int tree_main(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_lock_init(&world.lock, ASYNCIO_LOOP());
    asyncio_event_init(&world.ev, ASYNCIO_LOOP());
    asyncio_semaphore_init(&world.sem, ASYNCIO_LOOP(), 0, 0);
    asyncio_queue_init(&world.q, ASYNCIO_LOOP(), ASYNCIO_FIFO, f->slots, 1);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, world.sv), 0);
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), world.sv[0]), 0);
    f->me = self;
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->hold, &world.lock)); /* the locker waits */
    world.c_sleeper = __LINE__; asyncio_create_task(ASYNCIO_LOOP(), &f->sleeper_t, sleeper, &f->sl);
    world.c_getter = __LINE__; asyncio_create_task(ASYNCIO_LOOP(), &f->getter_t_, getter, &f->gt);
    world.c_fdwait = __LINE__; asyncio_create_task(ASYNCIO_LOOP(), &f->fdwait_t, fdwait, &f->fw);
    world.c_owner = __LINE__; asyncio_create_task(ASYNCIO_LOOP(), &f->owner_t_, owner, &f->ow);
    world.c_locker = __LINE__; asyncio_create_task(ASYNCIO_LOOP(), &f->locker_t, syncer, &f->lk);
    asyncio_task_set_name(&f->locker_t, NULL); /* no name: its default */
    f->futs[0] = &f->sleeper_t.fut;
    f->futs[1] = &f->getter_t_.fut;
    f->futs[2] = &f->fdwait_t.fut;
    CHECK_EQ(asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, 3, 0), 0);
    asyncio_call_later(ASYNCIO_LOOP(), NULL, 1, dump_tree, NULL);
    world.l_gather = __LINE__; ASYNCIO_AWAIT(&f->g.fut);
    ASYNCIO_END();
}

static void cancel_all(asyncio_loop *loop, void *arg)
{
    main_t *f = (main_t *)arg;
    (void)loop;
    asyncio_task_cancel(&f->owner_t_);
    asyncio_task_cancel(&f->locker_t);
    asyncio_task_cancel(f->me);
}
void test_debug_await_tree_of_a_known_program(void)
{
    static main_t f;
    asyncio_loop loop;
    asyncio_task t;
    char want[4096];
    int c_main;
    debug_loop_init(&loop, 0);
    c_main = __LINE__; asyncio_create_task(&loop, &t, tree_main, &f);
    asyncio_call_later(&loop, NULL, 2, cancel_all, &f);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), ASYNCIO_ECANCELLED);
    snprintf(want, sizeof want,
             "Task 'tree_main'  (created at tests/test_debug.c:%d)\n"
             "  tree_main  tests/test_debug.c:%d\n"
             "    waits: a gather of 3\n"
             "      Task 'sleeper'  (created at tests/test_debug.c:%d)\n"
             "        sleeper  tests/test_debug.c:%d\n"
             "          waits: sleep until 5.000000 (in 4.000000 s)\n"
             "      Task 'getter'  (created at tests/test_debug.c:%d)\n"
             "        getter  tests/test_debug.c:%d\n"
             "          inner  tests/test_debug.c:%d\n"
             "            asyncio_queue_io  *asyncio.h:#\n"
             "              waits: queue get\n"
             "      Task 'fdwait'  (created at tests/test_debug.c:%d)\n"
             "        fdwait  tests/test_debug.c:%d\n"
             "          waits: fd %d readable\n"
             "Task 'owner'  (created at tests/test_debug.c:%d)\n"
             "  owner  tests/test_debug.c:%d\n"
             "    asyncio_taskgroup_wait  *asyncio.h:#\n"
             "      waits: a TaskGroup's tasks\n"
             "        Task 'tg-event'  (created at tests/test_debug.c:%d)\n"
             "          syncer  tests/test_debug.c:%d\n"
             "            asyncio_acquire  *asyncio.h:#\n"
             "              waits: an event\n"
             "        Task 'tg-semaphore'  (created at tests/test_debug.c:%d)\n"
             "          syncer  tests/test_debug.c:%d\n"
             "            asyncio_acquire  *asyncio.h:#\n"
             "              waits: a semaphore\n"
             "Task 'Task'  (created at tests/test_debug.c:%d)\n"
             "  syncer  tests/test_debug.c:%d\n"
             "    asyncio_acquire  *asyncio.h:#\n"
             "      waits: a lock\n",
             c_main, world.l_gather, world.c_sleeper, world.l_sleep, world.c_getter, world.l_middle, world.l_inner,
             world.c_fdwait, world.l_fd, world.sv[0], world.c_owner, world.l_tg, world.c_tg1, world.l_ev, world.c_tg2,
             world.l_sem, world.c_locker, world.l_lock);
    if (!tree_matches(tree, want))
        fprintf(stderr, "  got:\n%s  want:\n%s", tree, want);
    CHECK(tree_matches(tree, want));
    CHECK_EQ(tree_rc, 8);
    close(world.sv[1]);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    close(world.sv[0]);
    CHECK_EQ(nwarnings, 0);
}

/* ---- "Task exception was never retrieved" ---- */
typedef struct { asyncio_coro co; int err; } failer_t;
static int failer(asyncio_task *self, void *frame)
{
    failer_t *f = (failer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD();
    if (f->err)
        ASYNCIO_RAISE(f->err, "it went wrong");
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    failer_t a, b, c, d, e;
    asyncio_task ta, tb, tc, td, te, *heap;
    asyncio_future *futs[2];
    asyncio_gather_t g;
    asyncio_taskgroup tg;
    int rc, l_reuse, l_heap;
} unseen_main_t;
static int unseen_main(asyncio_task *self, void *frame)
{
    unseen_main_t *f = (unseen_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    /* awaited: read, no warning */
    f->a.err = -EIO;
    asyncio_create_task(ASYNCIO_LOOP(), &f->ta, failer, &f->a);
    ASYNCIO_AWAIT_RC(f->rc, &f->ta.fut);
    CHECK_EQ(f->rc, -EIO);
    /* read with asyncio_future_error after the fact: no warning */
    f->b.err = -EPIPE;
    asyncio_create_task(ASYNCIO_LOOP(), &f->tb, failer, &f->b);
    ASYNCIO_SLEEP(1);
    CHECK_EQ(asyncio_future_error(&f->tb.fut), -EPIPE);
    /* gathered, both failing: the gather reads them (CPython's gather
       marks every child's exception retrieved) */
    f->c.err = -ENOENT;
    f->d.err = -EACCES;
    asyncio_create_task(ASYNCIO_LOOP(), &f->tc, failer, &f->c);
    asyncio_create_task(ASYNCIO_LOOP(), &f->td, failer, &f->d);
    f->futs[0] = &f->tc.fut;
    f->futs[1] = &f->td.fut;
    CHECK_EQ(asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, 2, 0), 0);
    ASYNCIO_AWAIT_RC(f->rc, &f->g.fut);
    CHECK_EQ(f->rc, -ENOENT);
    ASYNCIO_SLEEP(1);
    /* a TaskGroup child: the group reads it */
    asyncio_taskgroup_enter(&f->tg, ASYNCIO_SELF());
    asyncio_taskgroup_create_task(&f->tg, &f->te, failer, &f->e, NULL);
    f->e.err = -EBADF;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, 0, NULL));
    CHECK_EQ(f->rc, ASYNCIO_EGROUP);
    CHECK_EQ(nwarnings, 0);
    /* unread, then its storage reused: the warning comes then, once */
    f->a.err = -ENOSPC;
    f->l_reuse = __LINE__; asyncio_create_task(ASYNCIO_LOOP(), &f->ta, failer, &f->a);
    ASYNCIO_SLEEP(1);
    CHECK_EQ(nwarnings, 0);
    f->a.err = 0;
    asyncio_create_task(ASYNCIO_LOOP(), &f->ta, failer, &f->a);
    CHECK_EQ(nwarnings, 1);
    ASYNCIO_AWAIT(&f->ta.fut);
    /* unread, loop-allocated, freed: the warning comes at the free */
    f->b.err = -ETIMEDOUT;
    f->l_heap = __LINE__; f->heap = asyncio_create_task(ASYNCIO_LOOP(), NULL, failer, &f->b);
    ASYNCIO_SLEEP(1);
    CHECK_EQ(nwarnings, 1);
    CHECK_EQ(asyncio_task_free(f->heap), 0);
    CHECK_EQ(nwarnings, 2);
    /* unread when the loop closes: reported by the close */
    f->c.err = -ECONNRESET;
    asyncio_create_task(ASYNCIO_LOOP(), &f->tc, failer, &f->c);
    ASYNCIO_SLEEP(1);
    CHECK_EQ(nwarnings, 2);
    ASYNCIO_END();
}
void test_debug_exception_never_retrieved_once_and_only_unread(void)
{
    static unseen_main_t f;
    asyncio_loop loop;
    asyncio_task t;
    char want[2048];
    debug_loop_init(&loop, -1);
    asyncio_create_task(&loop, &t, unseen_main, &f);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    CHECK_EQ(asyncio_future_result(&t.fut, NULL), 0);
    CHECK_EQ(nwarnings, 2);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    if (nwarnings != 3)
        fprintf(stderr, "  warnings:\n%s", warnings);
    CHECK_EQ(nwarnings, 3);
    snprintf(want, sizeof want,
             "Task exception was never retrieved: task 'failer' (created at tests/test_debug.c:%d) failed with "
             "ENOSPC: it went wrong\n"
             "Task exception was never retrieved: task 'failer' (created at tests/test_debug.c:%d) failed with "
             "ETIMEDOUT: it went wrong\n"
             "Task exception was never retrieved: task 'failer' (created at tests/test_debug.c:*) failed with "
             "ECONNRESET: it went wrong\n",
             f.l_reuse, f.l_heap);
    if (!tree_matches(warnings, want))
        fprintf(stderr, "  got:\n%s  want:\n%s", warnings, want);
    CHECK(tree_matches(warnings, want));
    CHECK_EQ(asyncio_loop_close(&loop), 0); /* closed twice: nothing again */
    CHECK_EQ(nwarnings, 3);
}

/* ---- slow steps ---- */
static void burn_ms(int ms)
{
    long long until = test_now_ns() + ms * 1000000LL;
    while (test_now_ns() < until) {
    }
}
static void burning_callback(asyncio_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    burn_ms(60);
}
typedef struct { asyncio_coro co; int l_resumed, l_suspended; } burner_t;
static int burner(asyncio_task *self, void *frame)
{
    burner_t *f = (burner_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->l_resumed = __LINE__; ASYNCIO_SLEEP(10); /* ten virtual seconds: no warning */
    burn_ms(60);
    f->l_suspended = __LINE__; ASYNCIO_YIELD();
    ASYNCIO_END();
}
typedef struct { asyncio_coro co; } later_t;
static later_t later;
static int burner_done_later(asyncio_task *self, void *frame)
{
    later_t *f = (later_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(40);
    ASYNCIO_END();
}
void test_debug_slow_step_warning_on_the_virtual_clock(void)
{
    static burner_t f;
    asyncio_loop loop;
    asyncio_task t;
    asyncio_metrics m;
    char want[1024];
    debug_loop_init(&loop, 0.03);
    asyncio_create_task(&loop, &t, burner, &f);
    asyncio_call_later(&loop, NULL, 20, burning_callback, NULL);
    asyncio_call_later(&loop, NULL, 30, burning_callback, NULL);
    asyncio_loop_run_until_complete(&loop, &t.fut);
    CHECK_EQ(nwarnings, 1);
    asyncio_create_task(&loop, &t, burner_done_later, &later); /* t's storage again: the burner is done */
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0); /* the callbacks at 20 and 30 s run first */
    CHECK_EQ(nwarnings, 3);
    snprintf(want, sizeof want,
             "Executing task 'burner' took 0.0# seconds (resumed at line %d, suspended at line %d of burner in "
             "tests/test_debug.c)\n"
             "Executing a callback took 0.0# seconds\n"
             "Executing a callback took 0.0# seconds\n",
             f.l_resumed, f.l_suspended);
    if (!tree_matches(warnings, want))
        fprintf(stderr, "  got:\n%s  want:\n%s", warnings, want);
    CHECK(tree_matches(warnings, want));
    asyncio_loop_metrics(&loop, &m);
    CHECK(m.worst_step_ns >= 60000000);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* ---- "Task was destroyed but it is pending", saying where ---- */
void test_debug_pending_task_at_close_says_where_it_waits(void)
{
    static getter_t g;
    static main_t f;
    asyncio_loop loop;
    asyncio_task t;
    char want[1024];
    int c_getter;
    debug_loop_init(&loop, -1);
    asyncio_queue_init(&world.q, &loop, ASYNCIO_FIFO, f.slots, 1);
    c_getter = __LINE__; asyncio_create_task(&loop, &t, getter, &g);
    CHECK_EQ(asyncio_loop_run_forever(&loop), 0);
    CHECK_EQ(asyncio_loop_close(&loop), 1); /* one task reported */
    snprintf(want, sizeof want,
             "Task was destroyed but it is pending! (task 'getter') (created at tests/test_debug.c:%d), suspended at "
             "*asyncio.h:# in asyncio_queue_io, waiting for queue get\n",
             c_getter);
    if (!tree_matches(warnings, want))
        fprintf(stderr, "  got:\n%s  want:\n%s", warnings, want);
    CHECK(tree_matches(warnings, want));
}

/* ---- metrics ---- */
static int add_one(void *arg, asyncio_outcome *out)
{
    out->value = asyncio_int(*(int *)arg + 1);
    return 0;
}
typedef struct {
    asyncio_coro co;
    asyncio_task kids[3];
    plain_t kf[3];
    asyncio_work work;
    asyncio_metrics during;
    int arg, i, sv[2];
} metrics_main_t;
static int quick(asyncio_task *self, void *frame)
{
    plain_t *f = (plain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(1);
    ASYNCIO_END();
}
static int metrics_main(asyncio_task *self, void *frame)
{
    metrics_main_t *f = (metrics_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++)
        asyncio_create_task(ASYNCIO_LOOP(), &f->kids[f->i], quick, &f->kf[f->i]);
    ASYNCIO_YIELD(); /* the kids are asleep now */
    asyncio_loop_metrics(ASYNCIO_LOOP(), &f->during);
    CHECK_EQ(f->during.tasks_created, 4);
    CHECK_EQ(f->during.tasks_finished, 0);
    CHECK_EQ(f->during.tasks_pending, 4);
    CHECK_EQ(f->during.timer_groups, 1); /* three sleeps to one deadline: one group */
    f->arg = 41;
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->work, add_one, &f->arg));
    CHECK_EQ(ASYNCIO_RESULT().i, 42);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_AWAIT(&f->kids[f->i].fut);
    }
    ASYNCIO_END();
}
void test_debug_loop_metrics_count_what_happened(void)
{
    static metrics_main_t f;
    asyncio_loop loop;
    asyncio_task t;
    asyncio_metrics m;
    debug_loop_init(&loop, -1);
    asyncio_loop_metrics(&loop, &m);
    CHECK_EQ(m.iterations, 0);
    CHECK_EQ(m.tasks_created, 0);
    asyncio_create_task(&loop, &t, metrics_main, &f);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    asyncio_loop_metrics(&loop, &m);
    CHECK_EQ(m.tasks_created, 4);
    CHECK_EQ(m.tasks_finished, 4);
    CHECK_EQ(m.tasks_pending, 0);
    CHECK_EQ(m.jobs_submitted, 1);
    CHECK_EQ(m.jobs_done, 1);
    CHECK_EQ(m.timer_groups, 0);
    CHECK_EQ(m.fds_waited, 0);
    CHECK(m.steps >= 4 + 3 + 1); /* every task's first step, the kids' wake-ups, main's */
    CHECK(m.iterations >= 3);
    CHECK_EQ(m.worst_step_ns, 0); /* not timed: slow_callback_duration is off */
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* ---- bad input ---- */
static void *tree_from_thread(void *arg)
{
    int null = open("/dev/null", O_WRONLY);
    tree_rc = asyncio_print_await_tree((asyncio_loop *)arg, null);
    close(null);
    return NULL;
}
static void ask_from_thread(asyncio_loop *loop, void *arg)
{
    pthread_t th;
    (void)arg;
    CHECK_EQ(pthread_create(&th, NULL, tree_from_thread, loop), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
}
void test_debug_await_tree_bad_input(void)
{
    static plain_t sf;
    asyncio_loop loop;
    asyncio_task t;
    asyncio_task_info in;
    int p[2];
    debug_loop_init(&loop, -1);
    CHECK_EQ(asyncio_print_await_tree(NULL, 2), -EINVAL);
    CHECK_EQ(asyncio_print_await_tree(&loop, -1), -EINVAL);
    CHECK_EQ(asyncio_task_get_info(NULL, &in), -EINVAL);
    CHECK_STR(asyncio_wait_kind_name((asyncio_wait_kind)999), "unknown");
    /* nothing pending: an empty tree */
    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(asyncio_print_await_tree(&loop, p[1]), 0);
    /* a task that is done: no info, nothing of its frame read */
    asyncio_create_task(&loop, &t, quick, &sf);
    CHECK_EQ(asyncio_task_get_info(&t, &in), 0);
    CHECK_EQ(in.waits, ASYNCIO_WAITS_NOTHING);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    memset(&sf, 0xEE, sizeof sf); /* the frame is gone */
    CHECK_EQ(asyncio_task_get_info(&t, &in), ASYNCIO_EINVALIDSTATE);
    /* a pipe nobody reads any more: the write error (with SIGPIPE
       ignored, as for any write(2) of the program's own) */
    signal(SIGPIPE, SIG_IGN);
    memset(&sf, 0, sizeof sf);
    asyncio_create_task(&loop, &t, quick, &sf);
    close(p[0]);
    CHECK_EQ(asyncio_print_await_tree(&loop, p[1]), -EPIPE);
    close(p[1]);
    /* from another thread while the loop runs: refused */
    tree_rc = 1;
    asyncio_call_soon(&loop, NULL, ask_from_thread, NULL);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    CHECK_EQ(tree_rc, ASYNCIO_EINVALIDSTATE);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(asyncio_print_await_tree(&loop, 2), ASYNCIO_ELOOPCLOSED);
    CHECK_EQ(nwarnings, 0);
}
