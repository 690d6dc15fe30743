/* serve.h -- what the example servers share: the command line
   `PROGRAM PORT [HOST]`, a server started with the program's connection
   handler, "listening on HOST:PORT" once it accepts, and a clean stop on
   SIGINT or SIGTERM (Python: loop.add_signal_handler setting an Event the
   main coroutine awaits).  Include it after asyncio.h and the system
   headers. */
#ifndef EXAMPLES_SERVE_H
#define EXAMPLES_SERVE_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs from the loop (asyncio_add_signal_handler) when a signal arrives:
   lets serve() finish. */
static void on_signal(asyncio_loop *loop, void *arg)
{
    (void)loop;
    if (!asyncio_future_done((asyncio_future *)arg))
        asyncio_future_set_result((asyncio_future *)arg, asyncio_int(0));
}

typedef struct {
    asyncio_coro co;
    const char *host;
    int port, rc;
    asyncio_fn handler;
    size_t conn_size;
    asyncio_server srv;
    asyncio_future stop;
} serve_t;

static int serve(asyncio_task *self, void *frame)
{
    serve_t *f = (serve_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->rc = asyncio_start_server(&f->srv, ASYNCIO_LOOP(), f->handler, f->conn_size, f->host, f->port);
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

/* serve_main: parse `PORT [HOST]` (HOST 127.0.0.1 by default), serve with
   handler (connection frames of conn_size bytes) until SIGINT or SIGTERM.
   Returns main's exit status: 0, 1 (could not serve, reason on stderr) or
   2 (usage). */
static int serve_main(int argc, char **argv, const char *program, asyncio_fn handler, size_t conn_size)
{
    static serve_t m;
    asyncio_outcome out;
    if (argc < 2 || argc > 3 || (m.port = parse_port(argv[1])) < 0) {
        fprintf(stderr, "usage: %s PORT [HOST]   (PORT 0: any free port; HOST: 127.0.0.1)\n", program);
        return 2;
    }
    m.host = argc > 2 ? argv[2] : "127.0.0.1";
    m.handler = handler;
    m.conn_size = conn_size;
    if (asyncio_run(serve, &m, &out) < 0) {
        fprintf(stderr, "%s: %s:%d: %s\n", program, m.host, m.port, out.msg);
        return 1;
    }
    return 0;
}
#endif
