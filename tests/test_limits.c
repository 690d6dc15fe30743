/* Limits a server needs against hostile clients: a stream's read timeout
   (silence and drip-feeding alike), its write timeout (a peer that never
   reads, also while closing), a server's connection limit (accepting
   pauses and resumes), and fairness when more fds are ready than one
   pass takes (the poll backend's starvation).  On the virtual clock:
   time jumps to the next deadline once the fds have had their say, so
   every figure here is exact. */
#define _GNU_SOURCE 1
#include "tests.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A blocking client socket connected to 127.0.0.1:port, not on the loop. */
static int raw_client(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    return fd;
}

/* ---- read timeout ---------------------------------------------------------- */
/* A handler that reads a line and records how it ended, and when. */
typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    int rc;
} line_conn_t;
static int line_rc = 1;
static double line_at;
static size_t line_buffered;
static int line_handler(asyncio_task *self, void *frame)
{
    line_conn_t *f = (line_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->base.stream));
    line_rc = f->rc;
    line_at = asyncio_loop_time(ASYNCIO_LOOP());
    line_buffered = asyncio_stream_buffered(f->base.stream);
    if (f->rc == ASYNCIO_EREADTIMEOUT)
        trace("%s", ASYNCIO_ERRMSG());
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    asyncio_server_options opts;
    int c, i;
    double t0;
} rt_t;
static int read_timeout_main(asyncio_task *self, void *frame)
{
    rt_t *f = (rt_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->opts.read_timeout = 2.0;
    CHECK_EQ(asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), line_handler, sizeof(line_conn_t), "127.0.0.1", 0,
                                       &f->opts), 0);
    /* silence: the read fails at its deadline, not before */
    f->c = raw_client(f->srv.port);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    ASYNCIO_SLEEP(1.9);
    CHECK_EQ(line_rc, 1);
    ASYNCIO_SLEEP(0.2);
    CHECK_EQ(line_rc, ASYNCIO_EREADTIMEOUT);
    CHECK(line_at - f->t0 > 1.999 && line_at - f->t0 < 2.01);
    close(f->c);
    /* drip-fed, a byte every 0.5 s: each byte arrives, the line never
       does; the read still fails 2 s after it began, the bytes kept */
    line_rc = 1;
    f->c = raw_client(f->srv.port);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    for (f->i = 0; f->i < 6 && line_rc == 1; f->i++) {
        CHECK_EQ(write(f->c, "G", 1), 1);
        ASYNCIO_SLEEP(0.5);
    }
    CHECK_EQ(line_rc, ASYNCIO_EREADTIMEOUT);
    CHECK(line_at - f->t0 > 1.999 && line_at - f->t0 < 2.01);
    CHECK_EQ(line_buffered, 4); /* what arrived stays buffered */
    close(f->c);
    /* a line in time: no timeout */
    line_rc = 1;
    f->c = raw_client(f->srv.port);
    ASYNCIO_SLEEP(1.5);
    CHECK_EQ(write(f->c, "hi\n", 3), 3);
    ASYNCIO_SLEEP(0.1);
    CHECK_EQ(line_rc, 0);
    close(f->c);
    asyncio_server_close(&f->srv);
    ASYNCIO_END();
}
void test_limits_read_timeout_silence_and_drip_feed(void)
{
    rt_t f;
    memset(&f, 0, sizeof f);
    trace_reset();
    CHECK_EQ(run_virtual(read_timeout_main, &f, NULL), 0);
    CHECK(strstr(trace_get(), "read timed out") != NULL);
}

/* A reader-only stream times out the same way; bad values are refused. */
typedef struct {
    asyncio_coro co;
    asyncio_stream *r;
    asyncio_read_t rd;
    int rc;
} rto_t;
static int reader_only_main(asyncio_task *self, void *frame)
{
    rto_t *f = (rto_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->r = asyncio_stream_new_reader(ASYNCIO_LOOP());
    CHECK_EQ(asyncio_stream_set_timeouts(f->r, -1, 0), -EINVAL);
    CHECK_EQ(asyncio_stream_set_timeouts(f->r, 0.0 / 0.0, 0), -EINVAL);
    CHECK_EQ(asyncio_stream_set_timeouts(f->r, 1.5, 0), 0);
    asyncio_stream_feed_data(f->r, "par", 3);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->r));
    CHECK_EQ(f->rc, ASYNCIO_EREADTIMEOUT);
    CHECK(asyncio_loop_time(ASYNCIO_LOOP()) == 1.5);
    asyncio_stream_feed_data(f->r, "tial\n", 5); /* still usable, nothing lost */
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->r));
    CHECK_BYTES(asyncio_stream_data(f->r), ASYNCIO_RESULT().i, "partial\n");
    asyncio_stream_close(f->r);
    ASYNCIO_END();
}
void test_limits_read_timeout_reader_only_stream(void)
{
    rto_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_virtual(reader_only_main, &f, NULL), 0);
}

/* ---- write timeout --------------------------------------------------------- */
/* The handler writes more than the socket holds, to a client that never
   reads: drain fails with EWRITETIMEOUT write_timeout after the peer last
   took anything; then, closing with output queued, the stream is aborted
   rather than left to flush forever. */
typedef struct {
    asyncio_conn base;
    int rc, i;
} flood_conn_t;
static int flood_rc = 1;
static double flood_at;
static int flood_handler(asyncio_task *self, void *frame)
{
    flood_conn_t *f = (flood_conn_t *)frame;
    static char chunk[65536];
    ASYNCIO_BEGIN(self, &f->base);
    for (f->i = 0; f->i < 256; f->i++) { /* 16 MiB: far more than the socket buffers */
        if ((f->rc = asyncio_stream_write(f->base.stream, chunk, sizeof chunk)) < 0)
            break;
        ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->base.stream));
        if (f->rc < 0)
            break;
    }
    flood_rc = f->rc;
    flood_at = asyncio_loop_time(ASYNCIO_LOOP());
    trace("%s", ASYNCIO_ERRMSG());
    ASYNCIO_END(); /* the server closes the stream: output is queued */
}
typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    asyncio_server_options opts;
    int c;
    double t0;
} wt_t;
static int write_timeout_main(asyncio_task *self, void *frame)
{
    wt_t *f = (wt_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->opts.write_timeout = 3.0;
    CHECK_EQ(asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), flood_handler, sizeof(flood_conn_t), "127.0.0.1", 0,
                                       &f->opts), 0);
    f->c = raw_client(f->srv.port);
    f->t0 = asyncio_loop_time(ASYNCIO_LOOP());
    ASYNCIO_SLEEP(2.9);
    CHECK_EQ(flood_rc, 1);
    ASYNCIO_SLEEP(0.2);
    CHECK_EQ(flood_rc, ASYNCIO_EWRITETIMEOUT);
    CHECK(flood_at - f->t0 >= 3.0 && flood_at - f->t0 < 3.01);
    ASYNCIO_SLEEP(0.1); /* the handler's end closed the stream: aborted, the connection gone */
    CHECK_EQ(f->srv.nconns, 0);
    close(f->c);
    asyncio_server_close(&f->srv);
    ASYNCIO_END();
}
void test_limits_write_timeout_peer_never_reads(void)
{
    wt_t f;
    memset(&f, 0, sizeof f);
    trace_reset();
    CHECK_EQ(run_virtual(write_timeout_main, &f, NULL), 0);
    CHECK(strstr(trace_get(), "write timed out") != NULL);
}

/* A peer that reads slower than the writer but steadily is not timed out:
   the timer only counts time in which the socket took nothing.  (Over a
   Unix socket pair, whose reads make room for the writer at once, so that
   the virtual clock and the kernel agree.) */
typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    int i, rc, done;
} slow_writer_t;
typedef struct {
    asyncio_coro co;
    slow_writer_t w;
    int sv[2];
    long total;
} slow_t;
static int slow_writer(asyncio_task *self, void *frame)
{
    slow_writer_t *f = (slow_writer_t *)frame;
    static char chunk[65536];
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 64 && f->rc == 0; f->i++) { /* 4 MiB */
        if ((f->rc = asyncio_stream_write(f->s, chunk, sizeof chunk)) == 0) {
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->s));
        }
    }
    f->done = 1;
    ASYNCIO_END();
}
static int slow_reader_main(asyncio_task *self, void *frame)
{
    slow_t *f = (slow_t *)frame;
    static char buf[65536];
    long n;
    int size = 65536;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    setsockopt(f->sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(f->sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    f->w.s = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[0]);
    CHECK_EQ(asyncio_stream_set_timeouts(f->w.s, 0, 1.0), 0);
    asyncio_create_task(ASYNCIO_LOOP(), NULL, slow_writer, &f->w);
    while (!f->w.done) { /* 64 KiB every 0.25 s: the writer waits, but never 1 s without progress */
        ASYNCIO_SLEEP(0.25);
        if ((n = recv(f->sv[1], buf, sizeof buf, MSG_DONTWAIT)) > 0)
            f->total += n;
    }
    CHECK_EQ(f->w.rc, 0);
    CHECK(asyncio_loop_time(ASYNCIO_LOOP()) > 10); /* it was slow */
    /* now the reader stops: 1 s later the writer's drain fails */
    ASYNCIO_YIELD(); /* the writer's task ends */
    f->w.done = f->w.rc = f->w.i = 0;
    f->w.co.lc = 0;
    asyncio_create_task(ASYNCIO_LOOP(), NULL, slow_writer, &f->w);
    ASYNCIO_SLEEP(1.5);
    CHECK_EQ(f->w.done, 1);
    CHECK_EQ(f->w.rc, ASYNCIO_EWRITETIMEOUT);
    asyncio_stream_abort(f->w.s);
    close(f->sv[1]);
    ASYNCIO_END();
}
void test_limits_write_timeout_spares_a_slow_reader(void)
{
    slow_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_virtual(slow_reader_main, &f, NULL), 0);
}

/* ---- max_connections ------------------------------------------------------- */
/* With a limit of 2, a third client waits in the backlog (its handler
   does not start) until one of the two leaves; then it is served. */
typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
} hold_conn_t;
static int handlers_started;
static int hold_handler(asyncio_task *self, void *frame)
{
    hold_conn_t *f = (hold_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    handlers_started++;
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->base.stream, 1)); /* until EOF */
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    asyncio_server_options opts;
    int c[3];
} max_t;
static int max_main(asyncio_task *self, void *frame)
{
    max_t *f = (max_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->opts.max_connections = 2;
    CHECK_EQ(asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), hold_handler, sizeof(hold_conn_t), "127.0.0.1", 0,
                                       &f->opts), 0);
    f->c[0] = raw_client(f->srv.port);
    f->c[1] = raw_client(f->srv.port);
    f->c[2] = raw_client(f->srv.port); /* connects: the kernel's backlog takes it */
    ASYNCIO_SLEEP(0.5);
    CHECK_EQ(handlers_started, 2);
    CHECK_EQ(f->srv.nconns, 2);
    close(f->c[0]); /* one leaves: the third is accepted */
    ASYNCIO_SLEEP(0.5);
    CHECK_EQ(handlers_started, 3);
    CHECK_EQ(f->srv.nconns, 2);
    close(f->c[1]);
    close(f->c[2]);
    ASYNCIO_SLEEP(0.5);
    CHECK_EQ(f->srv.nconns, 0);
    asyncio_server_close(&f->srv);
    f->opts.max_connections = -1;
    CHECK_EQ(asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), hold_handler, sizeof(hold_conn_t), "127.0.0.1", 0,
                                       &f->opts), -EINVAL);
    ASYNCIO_END();
}
void test_limits_max_connections_pauses_accepting(void)
{
    max_t f;
    memset(&f, 0, sizeof f);
    handlers_started = 0;
    CHECK_EQ(run_virtual(max_main, &f, NULL), 0);
}

/* ---- fairness ---------------------------------------------------------------- */
/* 300 clients in ping-pong with an echo server: 600 fds ready at once,
   more than one pass of the backend takes.  After 20 rounds on average,
   every client has had its turn many times over: none waits on the fds
   numbered before it (poll used to report the first 256 in fd order, so
   high-numbered connections starved). */
enum { NPING = 300 };
typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
} pong_conn_t;
static int pong_handler(asyncio_task *self, void *frame)
{
    pong_conn_t *f = (pong_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->base.stream, 64));
        if (ASYNCIO_RESULT().i == 0)
            break;
        asyncio_stream_write(f->base.stream, asyncio_stream_data(f->base.stream), (size_t)ASYNCIO_RESULT().i);
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    int port, *stop;
    long rounds;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
} ping_t;
static int ping(asyncio_task *self, void *frame)
{
    ping_t *f = (ping_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    while (!*f->stop) {
        asyncio_stream_write(f->s, "p", 1);
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 1));
        f->rounds++;
    }
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    ping_t pings[NPING];
    asyncio_task tasks[NPING];
    asyncio_gather_t g;
    int stop, i;
    long total, least;
} fair_t;
static int fair_main(asyncio_task *self, void *frame)
{
    fair_t *f = (fair_t *)frame;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), pong_handler, sizeof(pong_conn_t), "127.0.0.1", 0), 0);
    for (f->i = 0; f->i < NPING; f->i++) {
        f->pings[f->i].port = f->srv.port;
        f->pings[f->i].stop = &f->stop;
    }
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, ping, f->pings, sizeof f->pings[0], NPING, 0), 0);
    do {
        ASYNCIO_YIELD();
        for (f->total = 0, f->i = 0; f->i < NPING; f->i++)
            f->total += f->pings[f->i].rounds;
    } while (f->total < 20L * NPING);
    f->stop = 1;
    for (f->least = -1, f->i = 0; f->i < NPING; f->i++)
        if (f->least < 0 || f->pings[f->i].rounds < f->least)
            f->least = f->pings[f->i].rounds;
    CHECK(f->least >= 5); /* starved clients would have 0 */
    ASYNCIO_AWAIT(&f->g.fut);
    asyncio_server_close(&f->srv);
    ASYNCIO_END();
}
void test_limits_every_ready_fd_gets_its_turn(void)
{
    fair_t *f = (fair_t *)calloc(1, sizeof *f);
    CHECK(f != NULL);
    CHECK_EQ(run_virtual(fair_main, f, NULL), 0);
    free(f);
}
