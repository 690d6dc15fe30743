/* serve.h -- what the example servers share: the command line
   `PROGRAM [-j N] PORT [HOST]`, a server started with the program's
   connection handler, "listening on HOST:PORT" once it accepts, and a
   clean stop on SIGINT or SIGTERM (Python: loop.add_signal_handler
   setting an Event the main coroutine awaits), and the await tree on
   stderr on SIGUSR1.

   -j N runs N loops, one per thread, each accepting on its own socket of
   the same port (SO_REUSEPORT: the kernel spreads the connections); the
   first loop owns the signals and, on SIGINT / SIGTERM, tells the others
   to stop with asyncio_call_soon_threadsafe.  Only for servers whose
   connections share nothing (serve_main's max_loops).

   TLS (in a program built with ASYNCIO_TLS=1): the certificate chain
   and its key come from the command line, either as an option
   (`--tls CERT KEY`: serve_main's SERVE_TLS_OPTION) or always, after
   the port (`PORT CERT KEY [HOST]`: SERVE_TLS_ALWAYS).  One server context
   (Python's ssl.SSLContext with load_cert_chain) serves every loop; each
   connection's handler starts once its handshake is done and reads and
   writes plain bytes, as over TCP.  Include it after asyncio.h and the
   system headers. */
#ifndef EXAMPLES_SERVE_H
#define EXAMPLES_SERVE_H

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SERVE_MAX_LOOPS = 64 };

typedef struct serve_s {
    asyncio_coro co;
    const char *host;
    int port, rc, nloops, i;
    asyncio_fn handler;
    size_t conn_size;
    struct asyncio_tls *tls; /* a server context: every connection is TLS; NULL: plain */
    asyncio_server srv;
    asyncio_future stop;
    asyncio_loop *loop;
    struct serve_s *peers; /* the first loop's: all of them */
    sem_t ready;           /* posted once listening, or failed (rc) */
    pthread_t thread;
} serve_t;

/* From the loop: let serve() finish (a signal, or the first loop's word). */
static void stop_serving(asyncio_loop *loop, void *arg)
{
    serve_t *s = (serve_t *)arg;
    (void)loop;
    if (!asyncio_future_done(&s->stop))
        asyncio_future_set_result(&s->stop, asyncio_int(0));
}

/* SIGUSR1 (`kill -USR1 PID`): every loop writes its await tree to
   stderr, each from its own thread -- which connection waits on what,
   where. */
static void dump_await_tree(asyncio_loop *loop, void *arg)
{
    (void)arg;
    asyncio_print_await_tree(loop, 2);
}
static void dump_await_trees(asyncio_loop *loop, void *arg)
{
    serve_t *f = (serve_t *)arg;
    int i;
    dump_await_tree(loop, NULL);
    for (i = 1; i < f->nloops; i++)
        asyncio_call_soon_threadsafe(f->peers[i].loop, NULL, dump_await_tree, NULL);
}

/* The servers' options serve_main does not set itself (timeouts,
   max_connections): a program fills them in before calling it.  Over TLS
   a read_timeout bounds the handshake too, and the wait for the peer's
   close_notify once the connection closes (else 60 s and 30 s: a client
   that stops talking would hold its descriptor that long). */
static asyncio_server_options serve_options;

static int serve(asyncio_task *self, void *frame)
{
    serve_t *f = (serve_t *)frame;
    asyncio_server_options opts;
    ASYNCIO_BEGIN(self, f);
    f->loop = ASYNCIO_LOOP();
    asyncio_future_init(&f->stop, ASYNCIO_LOOP());
    opts = serve_options;
    opts.reuse_port = f->nloops > 1;
    opts.tls = f->tls;
    f->rc = asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), f->handler, f->conn_size, f->host, f->port, &opts);
    /* the first loop owns the signals: sleep until SIGINT or SIGTERM */
    if (f->rc == 0 && f->peers == f &&
        ((f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGINT, stop_serving, f)) < 0 ||
         (f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGTERM, stop_serving, f)) < 0 ||
         (f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGUSR1, dump_await_trees, f)) < 0))
        asyncio_server_close(&f->srv);
    sem_post(&f->ready);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT(&f->stop);
    asyncio_server_close(&f->srv);
    if (f->peers == f) /* tell the other loops */
        for (f->i = 1; f->i < f->nloops; f->i++)
            asyncio_call_soon_threadsafe(f->peers[f->i].loop, NULL, stop_serving, &f->peers[f->i]);
    /* asyncio_run then cancels the connections still open, and the loop
       closes every fd it watches */
    ASYNCIO_END();
}

static void *serve_thread(void *arg)
{
    serve_t *s = (serve_t *)arg;
    asyncio_outcome out;
    if (asyncio_run(serve, s, &out) < 0 && s->rc == 0)
        s->rc = out.err;
    return NULL;
}

/* A number lo..hi, or -1. */
static long parse_number(const char *arg, long lo, long hi)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    return errno || end == arg || *end || v < lo || v > hi ? -1 : v;
}

/* A port number 0..65535, or -1. */
static int parse_port(const char *arg) { return (int)parse_number(arg, 0, 65535); }

/* serve_main's tls argument: how the command line asks for TLS. */
enum {
    SERVE_PLAIN,      /* [-j N] PORT [HOST] */
    SERVE_TLS_OPTION, /* [--tls CERT KEY] [-j N] PORT [HOST] */
    SERVE_TLS_ALWAYS  /* [-j N] PORT CERT KEY [HOST] */
};

/* serve_main: parse the command line as tls says (-j only where
   max_loops > 1; HOST 127.0.0.1 by default), then serve with handler
   (connection frames of conn_size bytes) until SIGINT or SIGTERM, over
   TLS if the command line names a certificate.  Returns main's exit
   status: 0, 1 (could not serve, reason on stderr) or 2 (usage). */
static int serve_main(int argc, char **argv, const char *program, asyncio_fn handler, size_t conn_size,
                      int max_loops, int tls)
{
    static serve_t loops[SERVE_MAX_LOOPS];
    long n = 1;
    int i, port = -1, status = 0, npos = tls == SERVE_TLS_ALWAYS ? 3 : 1; /* PORT [CERT KEY] */
    const char *host, *cert = NULL, *key = NULL;
    struct asyncio_tls *ctx = NULL;
    for (argc--, argv++; argc > 0 && argv[0][0] == '-' && argv[0][1]; argc -= i, argv += i) {
        if (strcmp(argv[0], "-j") == 0 && max_loops > 1 && argc > 1) {
            n = parse_number(argv[1], 1, max_loops < SERVE_MAX_LOOPS ? max_loops : SERVE_MAX_LOOPS);
            i = 2;
        } else if (strcmp(argv[0], "--tls") == 0 && tls == SERVE_TLS_OPTION && argc > 2) {
            cert = argv[1];
            key = argv[2];
            i = 3;
        } else
            break; /* an unknown option: usage */
    }
    if (n < 1 || argc < npos || argc > npos + 1 || (port = parse_port(argv[0])) < 0) {
        fprintf(stderr, "usage: %s %s%s%s [HOST]   (PORT 0: any free port; HOST: 127.0.0.1%s)\n", program,
                tls == SERVE_TLS_OPTION ? "[--tls CERT KEY] " : "", max_loops > 1 ? "[-j LOOPS] " : "",
                tls == SERVE_TLS_ALWAYS ? "PORT CERT KEY" : "PORT", max_loops > 1 ? "; LOOPS: one per thread" : "");
        return 2;
    }
    if (tls == SERVE_TLS_ALWAYS) {
        cert = argv[1];
        key = argv[2];
    }
    host = argc > npos ? argv[npos] : "127.0.0.1";
    if (cert) { /* ctx = ssl.create_default_context(Purpose.CLIENT_AUTH); ctx.load_cert_chain(cert, key) */
#if ASYNCIO_TLS
        asyncio_tls_options o;
        memset(&o, 0, sizeof o);
        o.certfile = cert;
        o.keyfile = key;
        o.handshake_timeout = serve_options.read_timeout;
        o.shutdown_timeout = serve_options.read_timeout;
        if (asyncio_tls_server(&ctx, &o) < 0) {
            fprintf(stderr, "%s: %s\n", program, asyncio_errmsg());
            return 1;
        }
#else
        (void)key;
        fprintf(stderr, "%s: built without TLS (ASYNCIO_TLS=1, -lssl -lcrypto)\n", program);
        return 1;
#endif
    }
    /* the first loop picks the port; the others join it */
    for (i = 0; i < n; i++) {
        serve_t *s = &loops[i];
        s->host = host;
        s->port = port;
        s->nloops = (int)n;
        s->handler = handler;
        s->conn_size = conn_size;
        s->tls = ctx;
        s->peers = loops;
        sem_init(&s->ready, 0, 0);
        if (pthread_create(&s->thread, NULL, serve_thread, s) != 0) {
            fprintf(stderr, "%s: cannot start a thread\n", program);
            exit(1);
        }
        sem_wait(&s->ready);
        if (s->rc < 0) {
            fprintf(stderr, "%s: %s:%d: %s\n", program, host, port, asyncio_strerror(s->rc));
            exit(1); /* the loops already serving go down with the process */
        }
        port = asyncio_server_port(&s->srv);
    }
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);
    for (i = 0; i < n; i++) {
        pthread_join(loops[i].thread, NULL);
        if (loops[i].rc < 0)
            status = 1;
    }
#if ASYNCIO_TLS
    asyncio_tls_free(ctx); /* the loops are closed: no connection holds it */
#endif
    return status;
}

#endif
