/* The TLS build of an installed asyncio.h (ASYNCIO_TLS=1, OpenSSL): a
   client context made and freed, and a coroutine run, to show that the
   flags and the OpenSSL libraries reached the program. */
#define ASYNCIO_IMPLEMENTATION /* in this one file */
#include <asyncio.h>
#include <stdio.h>

#if !defined(ASYNCIO_TLS) || !ASYNCIO_TLS
#error "tls_consumer.c: built without ASYNCIO_TLS=1"
#endif

typedef struct { asyncio_coro co; } nap_t;

static int nap(asyncio_task *self, void *frame)
{
    nap_t *f = (nap_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(0);
    ASYNCIO_END();
}

int main(void)
{
    asyncio_tls *ctx = NULL;
    nap_t frame = { ASYNCIO_CORO_INIT };
    int rc = asyncio_tls_client(&ctx, NULL);
    if (rc != 0 || asyncio_tls_ssl_ctx(ctx) == NULL) {
        fprintf(stderr, "tls_consumer: asyncio_tls_client failed: %s\n", asyncio_strerror(rc));
        return 1;
    }
    asyncio_tls_free(ctx);
    rc = asyncio_run(nap, &frame, NULL);
    if (rc != 0) {
        fprintf(stderr, "tls_consumer: asyncio_run failed: %s\n", asyncio_strerror(rc));
        return 1;
    }
    printf("tls_consumer: client context made, slept 0\n");
    return 0;
}
