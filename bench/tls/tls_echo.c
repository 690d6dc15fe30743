/* tls_echo.c -- asyncio.h's TLS echo server, for bench/tls.
 *
 *   tls_echo PORT CERTFILE KEYFILE     (127.0.0.1:PORT, until SIGTERM / SIGINT)
 *
 * examples/echo_server.c's handler (read up to 64 KiB, write it back,
 * drain) behind asyncio_start_server_opts with opts.tls: a server context
 * from asyncio_tls_server with the certificate and its key, nothing else
 * set.  Python's equivalent:
 *
 *     ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
 *     ctx.load_cert_chain(certfile, keyfile)
 *     await asyncio.start_server(handle_echo, "127.0.0.1", port, ssl=ctx)
 *
 * Prints "listening on 127.0.0.1:PORT" once it accepts.  Build with
 * -DASYNCIO_TLS=1 and link -lssl -lcrypto.
 */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    int rc;
} echo_conn_t;

/* async def handle_echo(reader, writer) */
static int handle_echo(asyncio_task *self, void *frame)
{
    echo_conn_t *f = (echo_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    for (;;) {
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, s, 65536));
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0) /* an error, or end of stream */
            break;
        if (asyncio_stream_write(s, asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i) < 0)
            break;
        ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(s));
        if (f->rc < 0)
            break;
    }
    ASYNCIO_END(); /* returning closes the stream: flush, close_notify */
}

typedef struct {
    asyncio_coro co;
    int port, rc;
    asyncio_tls *tls;
    asyncio_server srv;
    asyncio_future stop;
} main_t;

static void on_signal(asyncio_loop *loop, void *arg)
{
    main_t *m = (main_t *)arg;
    (void)loop;
    if (!asyncio_future_done(&m->stop))
        asyncio_future_set_result(&m->stop, asyncio_int(0));
}

static int serve(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    asyncio_server_options opts;
    ASYNCIO_BEGIN(self, f);
    asyncio_future_init(&f->stop, ASYNCIO_LOOP());
    memset(&opts, 0, sizeof opts);
    opts.backlog = 1024;
    opts.tls = f->tls;
    f->rc = asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), handle_echo, sizeof(echo_conn_t), "127.0.0.1",
                                      f->port, &opts);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    if ((f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGTERM, on_signal, f)) < 0 ||
        (f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGINT, on_signal, f)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    printf("listening on 127.0.0.1:%d\n", asyncio_server_port(&f->srv));
    fflush(stdout);
    ASYNCIO_AWAIT(&f->stop);
    asyncio_server_close(&f->srv);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_tls_options o;
    asyncio_outcome out;
    int rc;
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT CERTFILE KEYFILE\n", argv[0]);
        return 2;
    }
    memset(&o, 0, sizeof o);
    o.certfile = argv[2];
    o.keyfile = argv[3];
    if ((rc = asyncio_tls_server(&m.tls, &o)) < 0) {
        fprintf(stderr, "tls_echo: %s\n", asyncio_errmsg());
        return 1;
    }
    m.port = atoi(argv[1]);
    if (asyncio_run(serve, &m, &out) < 0) {
        fprintf(stderr, "tls_echo: %s\n", out.msg ? out.msg : asyncio_strerror(out.err));
        asyncio_tls_free(m.tls);
        return 1;
    }
    asyncio_tls_free(m.tls);
    return 0;
}
