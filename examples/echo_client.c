/* echo_client.c -- a TCP client: asyncio.open_connection, one line at a time.

   Shows: asyncio_open_connection (the await runs inline, result .p is the
   stream), asyncio_stream_write + asyncio_stream_drain, readline, closing
   a stream (awaited on success, from ASYNCIO_FINALLY on error), and a
   connection error propagating out of asyncio_run like an exception, its
   message ("Connection refused", ...) in the outcome.

   Mirrors (the Python docs' "TCP echo client using streams"):

       async def echo_client(host, port, messages):
           reader, writer = await asyncio.open_connection(host, port)
           for message in messages:
               writer.write(message.encode() + b"\n")
               await writer.drain()
               line = await reader.readline()
               print(line.decode(), end="")
           writer.close()
           await writer.wait_closed()

       try:
           asyncio.run(echo_client(host, port, messages))
       except OSError as e:
           sys.exit(f"echo_client: {host}:{port}: {e.strerror}")

   Run:    build/examples/echo_server 8888 &
           build/examples/echo_client 127.0.0.1 8888 hello "big world"

   Prints each message as the server sent it back, and exits 0:
       hello
       big world
   or the error on stderr, exiting 1 (HOST is numeric or "localhost"):
       echo_client: 127.0.0.1:8888: Connection refused

   A MESSAGE should not contain a newline: the reply is read back as one
   line. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "echo_client"

typedef struct {
    asyncio_coro co;
    const char *host;
    int port;
    char **messages;
    int nmessages, i, rc;
    asyncio_connect_t oc; /* open_connection's frame */
    asyncio_read_t rd;    /* readline's frame */
    asyncio_stream *s;
} client_t;

static int echo_client(asyncio_task *self, void *frame)
{
    client_t *f = (client_t *)frame;
    ASYNCIO_BEGIN(self, f);
    /* reader, writer = await asyncio.open_connection(host, port) */
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, f->host, f->port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    for (f->i = 0; f->i < f->nmessages; f->i++) {
        /* two writes: the second goes in the same segment or is buffered */
        if ((f->rc = asyncio_stream_write(f->s, f->messages[f->i], strlen(f->messages[f->i]))) < 0 ||
            (f->rc = asyncio_stream_write(f->s, "\n", 1)) < 0)
            ASYNCIO_RAISE(f->rc, NULL);
        ASYNCIO_AWAIT(asyncio_stream_drain(f->s));
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
        if (ASYNCIO_RESULT().i == 0 || asyncio_stream_data(f->s)[ASYNCIO_RESULT().i - 1] != '\n')
            ASYNCIO_RAISE(ASYNCIO_EINCOMPLETE, "the server closed the connection");
        fwrite(asyncio_stream_data(f->s), 1, (size_t)ASYNCIO_RESULT().i, stdout);
    }
    /* writer.close(); await writer.wait_closed() */
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    f->s = NULL; /* freed by the loop once closed */
    ASYNCIO_FINALLY; /* on error: close without waiting */
    if (f->s)
        asyncio_stream_close(f->s);
    ASYNCIO_END();
}

static int parse_port(const char *arg)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    return errno || end == arg || *end || v < 1 || v > 65535 ? -1 : (int)v;
}

int main(int argc, char **argv)
{
    static client_t c;
    asyncio_outcome out;
    if (argc < 4 || (c.port = parse_port(argv[2])) < 0) {
        fprintf(stderr, "usage: %s HOST PORT MESSAGE...\n", PROGRAM);
        return 2;
    }
    c.host = argv[1];
    c.messages = argv + 3;
    c.nmessages = argc - 3;
    if (asyncio_run(echo_client, &c, &out) < 0) {
        fflush(stdout);
        fprintf(stderr, "%s: %s:%d: %s\n", PROGRAM, c.host, c.port, out.msg);
        return 1;
    }
    return 0;
}
