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

struct parent_t {
    asyncio_coro co;
    child_t c;
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
    (void)ASYNCIO_ERRMSG();
    (void)ASYNCIO_LOOP();
    (void)ASYNCIO_SELF();
    ASYNCIO_FINALLY;
    f->x = 0;
    ASYNCIO_END();
}
