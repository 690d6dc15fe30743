/* Must NOT compile: a suspending macro as the lone body of a loop (it is
   several statements: only the first would be looped; make test-compile
   checks the compiler stops at it). */
#include "asyncio.h"

typedef struct {
    asyncio_coro co;
    int i;
} frame_t;

int bad(asyncio_task *self, void *frame);
int bad(asyncio_task *self, void *frame)
{
    frame_t *f = (frame_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++)
        ASYNCIO_YIELD();
    ASYNCIO_END();
}
