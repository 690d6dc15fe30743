/* graceful_shutdown.c -- a server that leaves politely.

   Shows: a connection handler whose cleanup awaits (ASYNCIO_FINALLY_ASYNC:
   it tells the client goodbye and waits for the words to leave), and a
   shutdown on SIGTERM / SIGINT that stops accepting, cancels every
   connection -- each one's cleanup runs -- and waits for them within a
   bound (asyncio_wait with a timeout), then reports.

   Mirrors:

       clients = set()

       async def handle(reader, writer):
           clients.add(asyncio.current_task())
           try:
               while line := await reader.readline():
                   writer.write(line)
                   await writer.drain()
           finally:
               clients.discard(asyncio.current_task())
               writer.write(b"goodbye\n")
               await writer.drain()
               writer.close()
               await writer.wait_closed()

       async def main(host, port):
           server = await asyncio.start_server(handle, host, port)
           print(f"listening on {host}:{port}", flush=True)
           stop = asyncio.Event()
           for sig in (signal.SIGINT, signal.SIGTERM):
               asyncio.get_running_loop().add_signal_handler(sig, stop.set)
           await stop.wait()
           server.close()                          # no new connections
           pending = list(clients)
           for task in pending:
               task.cancel()
           done, late = await asyncio.wait(pending, timeout=5) if pending else ((), ())
           print(f"shutdown: {len(done)} connections closed, {len(late)} too slow")

   Run:    make examples && build/examples/graceful_shutdown 8888 [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1)
           then talk to it (nc 127.0.0.1 8888: it echoes each line) and
           send it SIGTERM (or Ctrl-C): every client reads "goodbye", and
           the server prints, e.g.
       listening on 127.0.0.1:8888
       shutdown: 2 connections closed, 0 too slow
   A client that never reads its replies cannot hold the shutdown up for
   more than the 5 s bound: it is counted "too slow" and closed with the
   rest when the loop closes. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "graceful_shutdown"
enum { MAX_CLIENTS = 1024 };

/* The connections being served: the tasks to cancel at shutdown. */
static asyncio_task *clients[MAX_CLIENTS];
static size_t nclients;

static void forget_client(asyncio_task *t)
{
    size_t i;
    for (i = 0; i < nclients; i++)
        if (clients[i] == t) {
            clients[i] = clients[--nclients];
            return;
        }
}

typedef struct {
    asyncio_conn base; /* first: the stream is the connection */
    asyncio_read_t rd;
    asyncio_finally fin;
} client_t;

static int handle(asyncio_task *self, void *frame)
{
    client_t *f = (client_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    if (nclients == MAX_CLIENTS)
        ASYNCIO_RAISE(-EBUSY, "too many clients");
    clients[nclients++] = self;
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
        if (!ASYNCIO_RESULT().i)
            break; /* the client hung up */
        asyncio_stream_write(s, asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i);
        ASYNCIO_AWAIT(asyncio_stream_drain(s));
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) { /* on hang-up, error, and the shutdown's cancel */
        forget_client(self);
        asyncio_stream_write(s, "goodbye\n", 8);
        ASYNCIO_AWAIT(asyncio_stream_drain(s)); /* the server closes the stream after us */
    }
    ASYNCIO_END();
}

static void on_signal(asyncio_loop *loop, void *arg)
{
    (void)loop;
    asyncio_event_set((asyncio_event *)arg);
}

typedef struct {
    asyncio_coro co;
    const char *host;
    int port;
    asyncio_server srv;
    asyncio_event stop;
    asyncio_sync_op op;
    asyncio_future *pending[MAX_CLIENTS], *done[MAX_CLIENTS];
    size_t n;
    asyncio_wait_t w;
} main_t;

static int serve(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    size_t i;
    int rc;
    ASYNCIO_BEGIN(self, f);
    if ((rc = asyncio_start_server(&f->srv, ASYNCIO_LOOP(), handle, sizeof(client_t), f->host, f->port)) < 0)
        ASYNCIO_RAISE(rc, asyncio_errmsg());
    printf("listening on %s:%d\n", f->host, asyncio_server_port(&f->srv));
    fflush(stdout);
    asyncio_event_init(&f->stop, ASYNCIO_LOOP());
    if ((rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGINT, on_signal, &f->stop)) < 0 ||
        (rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGTERM, on_signal, &f->stop)) < 0)
        ASYNCIO_RAISE(rc, asyncio_errmsg());
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->op, &f->stop));
    asyncio_server_close(&f->srv); /* no new connections */
    for (i = 0; i < nclients; i++) {
        f->pending[i] = &clients[i]->fut;
        asyncio_task_cancel(clients[i]);
    }
    f->n = nclients;
    if (f->n) {
        if ((rc = asyncio_wait(&f->w, ASYNCIO_LOOP(), f->pending, f->n, ASYNCIO_ALL_COMPLETED, 5.0)) < 0)
            ASYNCIO_RAISE(rc, asyncio_errmsg());
        ASYNCIO_AWAIT(&f->w.fut);
    }
    i = f->n ? asyncio_wait_sets(&f->w, f->done, NULL) : 0;
    printf("shutdown: %zu connections closed, %zu too slow\n", i, f->n - i);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_outcome out;
    char *end;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : -1;
    if (argc < 2 || argc > 3 || *end || port < 0 || port > 65535) {
        fprintf(stderr, "usage: %s PORT [HOST]   (PORT 0: any free port; HOST: 127.0.0.1)\n", PROGRAM);
        return 2;
    }
    m.port = (int)port;
    m.host = argc > 2 ? argv[2] : "127.0.0.1";
    if (asyncio_run(serve, &m, &out) < 0) {
        fprintf(stderr, "%s: %s:%d: %s\n", PROGRAM, m.host, m.port, out.msg);
        return 1;
    }
    return 0;
}
