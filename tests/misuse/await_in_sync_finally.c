/* Must NOT compile: an await inside the synchronous ASYNCIO_FINALLY
   (make test-compile checks the error names the rule). */
#include "asyncio.h"

typedef struct {
    asyncio_coro co;
} frame_t;

int bad(asyncio_task *self, void *frame);
int bad(asyncio_task *self, void *frame)
{
    frame_t *f = (frame_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD();
    ASYNCIO_FINALLY;
    ASYNCIO_SLEEP(1.0);
    ASYNCIO_END();
}
