// Compiled (not linked) as C++ by `make test-compile`: every coroutine
// macro expands to code a C++ compiler accepts.
#include "asyncio.h"

struct child_t {
    asyncio_coro co;
    int n;
};

static int child(asyncio_task *self, void *frame)
{
    child_t *f = static_cast<child_t *>(frame);
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD();
    ASYNCIO_YIELD_AT(100001);
    if (f->n < 0)
        ASYNCIO_RAISE(ASYNCIO_EUSER, "negative");
    ASYNCIO_RETURN(asyncio_int(f->n));
    ASYNCIO_END();
}

// An async generator, driven by every consumer form below.
static int gen(asyncio_task *self, void *frame)
{
    child_t *f = static_cast<child_t *>(frame);
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD_VALUE(asyncio_int(f->n));
    f->n += (int)ASYNCIO_RESULT().i;
    ASYNCIO_YIELD_VALUE_AT(100002, asyncio_int(f->n));
    ASYNCIO_END();
}

struct parent_t {
    asyncio_coro co;
    child_t c;
    asyncio_value v;
    asyncio_taskgroup tg;
    asyncio_with_op with;
    asyncio_lock lock;
    asyncio_future fut;
    asyncio_timeout to;
    int rc;
    long long x;
};

int parent(asyncio_task *self, void *frame);
int parent(asyncio_task *self, void *frame)
{
    parent_t *f = static_cast<parent_t *>(frame);
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(child, &f->c);
    f->x = ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO_RC(f->rc, child, &f->c);
    ASYNCIO_AWAIT(&f->fut);
    ASYNCIO_AWAIT_RC(f->rc, &f->fut);
    ASYNCIO_SLEEP(0.5);
    ASYNCIO_SLEEP_RC(f->rc, 0.5);
    ASYNCIO_WAIT_FOR(&f->to, &f->fut, 1.0);
    ASYNCIO_WAIT_FOR_RC(f->rc, &f->to, &f->fut, 1.0);
    ASYNCIO_FOR(f->v, gen, &f->c) {
        if (f->v.i == 1)
            continue;
        if (f->v.i == 2)
            break;
        ASYNCIO_YIELD();
    }
    ASYNCIO_FOR_RC(f->rc, f->v, gen, &f->c) {
        f->x += f->v.i;
    }
    ASYNCIO_NEXT(gen, &f->c);
    ASYNCIO_NEXT_RC(f->rc, gen, &f->c);
    ASYNCIO_SEND(gen, &f->c, asyncio_int(1));
    ASYNCIO_SEND_RC(f->rc, gen, &f->c, asyncio_int(1));
    ASYNCIO_ACLOSE(gen, &f->c);
    ASYNCIO_ACLOSE_RC(f->rc, gen, &f->c);
    ASYNCIO_ATHROW(gen, &f->c, ASYNCIO_EUSER, "x");
    ASYNCIO_ATHROW_RC(f->rc, gen, &f->c, ASYNCIO_EUSER, "x");
    asyncio_taskgroup_enter(&f->tg, self);
    f->rc = asyncio_taskgroup_create_task(&f->tg, NULL, child, &f->c, NULL);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, ASYNCIO_ERRMSG()));
    ASYNCIO_AWAIT_CORO(asyncio_with, asyncio_with_lock(&f->with, &f->lock, child, &f->c));
    (void)ASYNCIO_ERRMSG();
    (void)ASYNCIO_LOOP();
    (void)ASYNCIO_SELF();
    ASYNCIO_FINALLY;
    f->x = 0;
    ASYNCIO_END();
}

// A cleanup that awaits.
struct cleanup_t {
    asyncio_coro co;
    child_t c;
    asyncio_finally fin;
    int rc;
};

int awaiting_cleanup(asyncio_task *self, void *frame);
int awaiting_cleanup(asyncio_task *self, void *frame)
{
    cleanup_t *f = static_cast<cleanup_t *>(frame);
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(child, &f->c);
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        ASYNCIO_SLEEP_RC(f->rc, 0.1);
        ASYNCIO_AWAIT_CORO(child, &f->c);
        if (asyncio_finally_pending(&f->fin) < 0)
            ASYNCIO_RETURN(asyncio_int(0));
    }
    ASYNCIO_END();
}
