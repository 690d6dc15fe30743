/* echo_server.c -- a TCP echo server: asyncio.start_server with a handler.

   Shows: asyncio_start_server (one task per connection, its frame and
   stream made by the server) and asyncio_server_port (the port picked
   for port 0), asyncio_stream_read / _write / _drain, and a clean stop
   on SIGINT / SIGTERM with asyncio_add_signal_handler (Python's
   loop.add_signal_handler).  With --tls CERT KEY the same handler serves
   TLS connections (asyncio_server_options.tls: start_server's ssl=),
   unchanged: it starts once the handshake is done and reads and writes
   plain bytes.

   Mirrors (the Python docs' "TCP echo server using streams", echoing
   raw bytes rather than one message):

       async def handle_echo(reader, writer):
           while data := await reader.read(65536):
               writer.write(data)
               await writer.drain()
           writer.close()
           await writer.wait_closed()

       async def main(host, port, cert=None, key=None):
           ctx = None
           if cert:
               ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
               ctx.load_cert_chain(cert, key)
           server = await asyncio.start_server(handle_echo, host, port, ssl=ctx)
           print(f"listening on {host}:{server.sockets[0].getsockname()[1]}",
                 flush=True)
           stop = asyncio.Event()
           for sig in (signal.SIGINT, signal.SIGTERM):
               asyncio.get_running_loop().add_signal_handler(sig, stop.set)
           await stop.wait()
           server.close()

       asyncio.run(main(host, port))

   Run:    make examples && build/examples/echo_server [--timeout S] [--tls CERT KEY] [-j LOOPS] 8888 [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1; -j runs
           a loop on each of LOOPS threads, all accepting on the port;
           --tls: every connection is TLS, with that certificate chain and
           key, PEM files -- see https_server.c for a throwaway pair)
           then, in another terminal:
           build/examples/echo_client 127.0.0.1 8888 hello world
           or, with --tls:
           openssl s_client -quiet -connect 127.0.0.1:8888 -CAfile CERT

   Prints one line once it listens, with the real port, then nothing
   until Ctrl-C or SIGTERM stops it (exit status 0):
       listening on 127.0.0.1:8888

   Every connection is echoed until the client closes it (or it fails:
   a reset, or a failed TLS handshake, ends that connection quietly; the
   server goes on).  A certificate or key that cannot be loaded is
   reported before it listens (exit status 1).  Built with ASYNCIO_TLS=1
   and -lssl -lcrypto (the Makefile does). */
#ifndef ASYNCIO_TLS
#define ASYNCIO_TLS 1 /* --tls: link with -lssl -lcrypto */
#endif
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "serve.h" /* [--tls CERT KEY] PORT [HOST], start the server, stop on SIGINT / SIGTERM */

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

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
    /* --timeout S: a client silent, or not reading what it is sent, for S
       seconds is closed (asyncio_server_options' read and write timeouts;
       off by default, as Python's start_server has none) */
    int i, n = 1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            double secs = strtod(argv[++i], &end);
            if (*end || !(secs > 0 && secs < 1e9)) {
                fprintf(stderr, "%s: --timeout takes seconds (> 0), not '%s'\n", PROGRAM, argv[i]);
                return 2;
            }
            serve_options.read_timeout = serve_options.write_timeout = secs;
        } else
            argv[n++] = argv[i];
    }
    argv[n] = NULL;
    return serve_main(n, argv, PROGRAM, handle_echo, sizeof(echo_conn_t), SERVE_MAX_LOOPS, SERVE_TLS_OPTION);
}
