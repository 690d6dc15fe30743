/* echo_server.c -- a TCP echo server: asyncio.start_server with a handler.

   Shows: asyncio_start_server (one task per connection, its frame and
   stream made by the server) and asyncio_server_port (the port picked
   for port 0), asyncio_stream_read / _write / _drain, and a clean stop
   on SIGINT / SIGTERM with asyncio_add_signal_handler (Python's
   loop.add_signal_handler).

   Mirrors (the Python docs' "TCP echo server using streams", echoing
   raw bytes rather than one message):

       async def handle_echo(reader, writer):
           while data := await reader.read(65536):
               writer.write(data)
               await writer.drain()
           writer.close()
           await writer.wait_closed()

       async def main(host, port):
           server = await asyncio.start_server(handle_echo, host, port)
           print(f"listening on {host}:{server.sockets[0].getsockname()[1]}",
                 flush=True)
           stop = asyncio.Event()
           for sig in (signal.SIGINT, signal.SIGTERM):
               asyncio.get_running_loop().add_signal_handler(sig, stop.set)
           await stop.wait()
           server.close()

       asyncio.run(main(host, port))

   Run:    make examples && build/examples/echo_server 8888 [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1)
           then, in another terminal:
           build/examples/echo_client 127.0.0.1 8888 hello world

   Prints one line once it listens, with the real port, then nothing
   until Ctrl-C or SIGTERM stops it (exit status 0):
       listening on 127.0.0.1:8888

   Every connection is echoed until the client closes it (or it fails:
   a reset ends that connection's task quietly, the server goes on).  */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PROGRAM "echo_server"

/* ---- the connection handler ------------------------------------------- */

/* The server allocates one zeroed frame per connection; it must begin with
   an asyncio_conn, whose stream is the connection. */
typedef struct {
    asyncio_conn base;
    asyncio_read_t rd; /* the read operation's frame */
    int rc;
} echo_conn_t;

/* async def handle_echo(reader, writer) */
static int handle_echo(asyncio_task *self, void *frame)
{
    echo_conn_t *f = (echo_conn_t *)frame;
    asyncio_stream *s = f->base.stream; /* a plain local: recomputed on every entry */
    ASYNCIO_BEGIN(self, &f->base);
    for (;;) {
        /* data = await reader.read(65536): a view into the stream's buffer */
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, s, 65536));
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0) /* reset, or EOF */
            break;
        /* writer.write(data): the view stays valid until the next read */
        if (asyncio_stream_write(s, asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i) < 0)
            break;
        /* await writer.drain(): waits only while the client reads slowly */
        ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(s));
        if (f->rc < 0)
            break;
    }
    ASYNCIO_END(); /* returning closes the stream, after flushing it */
}

/* ---- stop on SIGINT / SIGTERM ----------------------------------------- */

/* Runs from the loop (asyncio_add_signal_handler) when a signal arrives:
   lets serve() finish. */
static void on_signal(asyncio_loop *loop, void *arg)
{
    (void)loop;
    if (!asyncio_future_done((asyncio_future *)arg))
        asyncio_future_set_result((asyncio_future *)arg, asyncio_int(0));
}

/* ---- main ----------------------------------------------------------- */

typedef struct {
    asyncio_coro co;
    const char *host;
    int port, rc;
    asyncio_server srv;
    asyncio_future stop;
} main_t;

static int serve(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->rc = asyncio_start_server(&f->srv, ASYNCIO_LOOP(), handle_echo, sizeof(echo_conn_t), f->host, f->port);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    printf("listening on %s:%d\n", f->host, asyncio_server_port(&f->srv));
    fflush(stdout);
    /* sleep until SIGINT or SIGTERM */
    asyncio_future_init(&f->stop, ASYNCIO_LOOP());
    if ((f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGINT, on_signal, &f->stop)) < 0 ||
        (f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGTERM, on_signal, &f->stop)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT(&f->stop);
    asyncio_server_close(&f->srv);
    /* asyncio_run then cancels the connections still open, and the loop
       closes every fd it watches */
    ASYNCIO_END();
}

/* A port number 0..65535, or -1. */
static int parse_port(const char *arg)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    return errno || end == arg || *end || v < 0 || v > 65535 ? -1 : (int)v;
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_outcome out;
    if (argc < 2 || argc > 3 || (m.port = parse_port(argv[1])) < 0) {
        fprintf(stderr, "usage: %s PORT [HOST]   (PORT 0: any free port; HOST: 127.0.0.1)\n", PROGRAM);
        return 2;
    }
    m.host = argc > 2 ? argv[2] : "127.0.0.1";
    if (asyncio_run(serve, &m, &out) < 0) {
        fprintf(stderr, "%s: %s:%d: %s\n", PROGRAM, m.host, m.port, out.msg);
        return 1;
    }
    return 0;
}
