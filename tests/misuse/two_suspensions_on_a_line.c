/* Must NOT compile: two suspending macros on one line (make test-compile
   checks the error names the rule). */
#include "asyncio.h"

typedef struct {
    asyncio_coro co;
} frame_t;

int bad(asyncio_task *self, void *frame);
int bad(asyncio_task *self, void *frame)
{
    frame_t *f = (frame_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD(); ASYNCIO_YIELD();
    ASYNCIO_END();
}
