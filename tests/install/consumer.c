/* A program built against an installed asyncio.h: tests/install/run.sh
   builds it through every route (cc -I, pkg-config, CMake, Meson) and
   checks the line it prints. */
#define ASYNCIO_IMPLEMENTATION /* in this one file */
#include <asyncio.h>
#include <stdio.h>

typedef struct { asyncio_coro co; int n; } twice_t;

static int twice(asyncio_task *self, void *frame)
{
    twice_t *f = (twice_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(0);
    ASYNCIO_RETURN(asyncio_int(2 * f->n));
    ASYNCIO_END();
}

int main(void)
{
    twice_t frame = { ASYNCIO_CORO_INIT, 21 };
    asyncio_outcome out;
    int rc = asyncio_run(twice, &frame, &out);
    if (rc != 0) {
        fprintf(stderr, "consumer: asyncio_run failed: %s\n", asyncio_strerror(rc));
        return 1;
    }
    printf("consumer: slept 0, got %lld\n", (long long)out.value.i);
    return 0;
}
