/* File descriptors, sockets and streams on 127.0.0.1 (port 0), [::1] and
   Unix sockets: the streams API and every error case of the issue. */
#define _GNU_SOURCE 1
#include "tests.h"
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- raw fds and socket operations ---- */
typedef struct {
    asyncio_coro co;
    int sv[2];
    asyncio_sock_t op;
    asyncio_timeout to;
    char buf[64];
    int rc;
} pair_t;
static int sockpair(asyncio_task *self, void *frame)
{
    pair_t *f = (pair_t *)frame;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[0]), 0);
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[1]), 0);
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[1]), -EEXIST);
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), -1), -EBADF);
    ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_sendall(&f->op, f->sv[0], "hello", 5));
    CHECK_EQ(ASYNCIO_RESULT().i, 5);
    ASYNCIO_WAIT_FD(f->sv[1], ASYNCIO_READABLE); /* level: data is there */
    ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_recv(&f->op, f->sv[1], f->buf, sizeof f->buf));
    CHECK_EQ(ASYNCIO_RESULT().i, 5);
    CHECK(memcmp(f->buf, "hello", 5) == 0);
    /* nothing to read: a timeout scope ends the wait */
    CHECK_EQ(asyncio_timeout_enter(&f->to, self, 0.5), 0);
    ASYNCIO_WAIT_FD_RC(f->rc, f->sv[1], ASYNCIO_READABLE);
    f->rc = asyncio_timeout_exit(&f->to, f->rc);
    CHECK_EQ(f->rc, ASYNCIO_ETIMEDOUT);
    /* the peer closes: recv returns 0 */
    CHECK_EQ(asyncio_fd_close(ASYNCIO_LOOP(), f->sv[0]), 0);
    CHECK_EQ(asyncio_fd_close(ASYNCIO_LOOP(), f->sv[0]), -EBADF);
    ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_recv(&f->op, f->sv[1], f->buf, sizeof f->buf));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_sock, asyncio_sock_recv(&f->op, 12345, f->buf, 1));
    CHECK_EQ(f->rc, -EBADF);
    ASYNCIO_WAIT_FD_RC(f->rc, f->sv[1], 3);
    CHECK_EQ(f->rc, -EINVAL);
    asyncio_fd_close(ASYNCIO_LOOP(), f->sv[1]);
    ASYNCIO_END();
}
void test_sock_ops_and_fd_waits(void)
{
    pair_t f;
    CHECK_EQ(run_virtual(sockpair, &f, NULL), 0);
}

/* closing an fd wakes its waiter with EBADF; a new fd with the same number
   does not inherit anything */
typedef struct { asyncio_coro co; int fd; int rc; } waitfd_t;
static int waitfd(asyncio_task *self, void *frame)
{
    waitfd_t *f = (waitfd_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_WAIT_FD_RC(f->rc, f->fd, ASYNCIO_READABLE);
    trace("%s", asyncio_err_name(f->rc));
    ASYNCIO_END();
}
static void cancel_cb(asyncio_loop *loop, void *arg)
{
    (void)loop;
    asyncio_task_cancel((asyncio_task *)arg);
}
static void close_cb(asyncio_loop *loop, void *arg)
{
    asyncio_fd_close(loop, *(int *)arg);
}
void test_fd_close_wakes_waiter_and_number_reuse_is_clean(void)
{
    asyncio_loop loop;
    asyncio_task t, t2;
    waitfd_t w, w2;
    int sv[2], sv2[2];
    asyncio_handle h;
    vloop_init(&loop);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    asyncio_fd_add(&loop, sv[0]);
    w.fd = sv[0];
    asyncio_create_task(&loop, &t, waitfd, &w);
    asyncio_call_later(&loop, &h, 1, close_cb, &sv[0]);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &t.fut), 0);
    CHECK_STR(trace_get(), "EBADF");
    /* the number comes back: the old peer's traffic must not wake the new waiter */
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2), 0);
    CHECK(sv2[0] == sv[0] || sv2[1] == sv[0]);
    asyncio_fd_add(&loop, sv[0]);
    send(sv[1], "x", 1, MSG_NOSIGNAL); /* to a closed peer: EPIPE, and no signal */
    w2.fd = sv[0];
    trace_reset();
    asyncio_create_task(&loop, &t2, waitfd, &w2);
    asyncio_call_later(&loop, NULL, 2, cancel_cb, &t2);
    asyncio_loop_run_until_complete(&loop, &t2.fut);
    CHECK_STR(trace_get(), "ECANCELLED");
    close(sv[1]);
    close(sv2[0] == sv[0] ? sv2[1] : sv2[0]);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* ---- streams ---- */
/* An echo server: each line back, upper-cased on request; "quit" ends. */
typedef struct { asyncio_conn base; asyncio_read_t rd; int rc; char line[128]; } echo_conn_t;
static int echo_handler(asyncio_task *self, void *frame)
{
    echo_conn_t *f = (echo_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    for (;;) {
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, s));
        if (f->rc == ASYNCIO_ELIMIT) {
            asyncio_stream_write(s, "too long\n", 9);
            continue;
        }
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
            break;
        if (ASYNCIO_RESULT().i == 5 && memcmp(asyncio_stream_data(s), "quit\n", 5) == 0)
            break;
        asyncio_stream_write(s, asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i);
        ASYNCIO_AWAIT(asyncio_stream_drain(s));
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    const char *host, *path;
    asyncio_server srv;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    char peer[64];
    int rc, i;
} client_t;

static int echo_client(asyncio_task *self, void *frame)
{
    client_t *f = (client_t *)frame;
    ASYNCIO_BEGIN(self, f);
    if (f->path)
        CHECK_EQ(asyncio_start_unix_server(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->path), 0);
    else {
        CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->host, 0), 0);
        CHECK(f->srv.port > 0);
    }
    if (f->path) {
        ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_unix(&f->oc, f->path));
    } else {
        ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, f->host, f->srv.port));
    }
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    asyncio_stream_peer(f->s, f->peer, sizeof f->peer);
    trace("peer=%s", f->path ? "unix" : f->peer[0] == '[' ? "v6" : strncmp(f->peer, "127.0.0.1:", 10) == 0 ? "v4" : f->peer);
    /* several writes, read back in order */
    CHECK_EQ(asyncio_stream_write(f->s, "one\ntw", 6), 0);
    CHECK_EQ(asyncio_stream_write(f->s, "o\nthree\n", 8), 0);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
        trace("%.*s", (int)ASYNCIO_RESULT().i - 1, asyncio_stream_data(f->s));
    }
    /* readexactly and readuntil */
    asyncio_stream_write(f->s, "abc;def\n", 8);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 2));
    trace("%.*s", (int)ASYNCIO_RESULT().i, asyncio_stream_data(f->s));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readuntil(&f->rd, f->s, ";", 1));
    trace("%.*s", (int)ASYNCIO_RESULT().i, asyncio_stream_data(f->s));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 100));
    trace("%.*s", (int)ASYNCIO_RESULT().i - 1, asyncio_stream_data(f->s));
    /* quit: the server's handler returns, the server closes: EOF */
    asyncio_stream_write(f->s, "quit\n", 5);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 100));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK(asyncio_stream_at_eof(f->s));
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    CHECK_EQ(f->srv.nconns, 1); /* its memory goes on the next turn */
    ASYNCIO_YIELD();
    ASYNCIO_YIELD();
    CHECK_EQ(f->srv.nconns, 0);
    asyncio_server_close(&f->srv);
    ASYNCIO_END();
}

static void run_echo(const char *host, const char *path, const char *want)
{
    client_t f;
    memset(&f, 0, sizeof f);
    f.host = host;
    f.path = path;
    CHECK_EQ(run_virtual(echo_client, &f, NULL), 0);
    CHECK_STR(trace_get(), want);
}
/* asyncio_server_close leaves nothing of the server queued: the same
   struct serves again at once (a server restarted in place used to
   corrupt the ready queue: its accept handle was queued by the close). */
typedef struct { asyncio_coro co; asyncio_server srv; asyncio_connect_t oc; asyncio_stream *s; asyncio_read_t rd; int i; } restart_t;
static int restart_main(asyncio_task *self, void *frame)
{
    restart_t *f = (restart_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++) {
        CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), "127.0.0.1", 0), 0);
        ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
        f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
        asyncio_stream_write(f->s, "ping\n", 5);
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
        CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "ping\n");
        asyncio_stream_write(f->s, "quit\n", 5);
        ASYNCIO_AWAIT(asyncio_stream_close(f->s));
        while (f->srv.nconns) {
            ASYNCIO_YIELD();
        }
        asyncio_server_close(&f->srv); /* and started again in the same struct, this turn */
    }
    ASYNCIO_END();
}
void test_server_restarted_in_place_at_once(void)
{
    restart_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_virtual(restart_main, &f, NULL), 0);
}

void test_stream_echo_ipv4(void) { run_echo("127.0.0.1", NULL, "peer=v4 one two three ab c; def"); }
void test_stream_echo_unix(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/asyncio-test-%d.sock", (int)getpid());
    run_echo(NULL, path, "peer=unix one two three ab c; def");
    unlink(path);
}
void test_stream_echo_ipv6(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr.s6_addr[15] = 1;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { /* no IPv6 here: nothing to test */
        if (fd >= 0)
            close(fd);
        return;
    }
    close(fd);
    run_echo("::1", NULL, "peer=v6 one two three ab c; def");
}

/* connection refused, and an unknown host */
typedef struct { asyncio_coro co; asyncio_connect_t oc; int port, rc; } refused_t;
static int refused(asyncio_task *self, void *frame)
{
    refused_t *f = (refused_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->port));
    trace("%s", asyncio_err_name(f->rc));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection, asyncio_connect_tcp(&f->oc, "no-such-host.invalid", 80));
    trace("%s", asyncio_err_name(f->rc));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection, asyncio_connect_unix(&f->oc, "/nonexistent/sock"));
    trace("%s", asyncio_err_name(f->rc));
    ASYNCIO_END();
}
static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}
void test_connection_refused_and_bad_addresses(void)
{
    refused_t f;
    f.port = free_port();
    CHECK_EQ(run_virtual(refused, &f, NULL), 0);
    CHECK_STR(trace_get(), "ECONNREFUSED ERESOLVE ENOENT");
}

/* A raw peer over a socketpair, to script what the stream sees. */
typedef struct { asyncio_coro co; int sv[2]; asyncio_stream *s; asyncio_read_t rd; asyncio_task t; int rc; } raw_t;

/* EOF in the middle of a line or before readexactly's n bytes: an
   incomplete-read error that still hands back the partial data; a line
   over the limit fails and the next one is fine; a cancelled read loses
   nothing. */
static int raw_reader(asyncio_task *self, void *frame)
{
    raw_t *f = (raw_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_stream_set_limit(f->s, 8);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    trace("[%.*s]", (int)ASYNCIO_RESULT().i - 1, asyncio_stream_data(f->s));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    trace("%s", asyncio_err_name(f->rc));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    trace("[%.*s]", (int)ASYNCIO_RESULT().i - 1, asyncio_stream_data(f->s));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readuntil(&f->rd, f->s, "\n", 1));
    trace("%s", asyncio_err_name(f->rc));
    asyncio_stream_set_limit(f->s, 65536);
    /* a read cancelled after bytes arrived keeps them */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 100));
    trace("%s", asyncio_err_name(f->rc));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 6));
    trace("[%.*s]", (int)ASYNCIO_RESULT().i, asyncio_stream_data(f->s));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 10));
    trace("[%.*s]", (int)ASYNCIO_RESULT().i, asyncio_stream_data(f->s));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 20));
    trace("%s:[%.*s]", asyncio_err_name(f->rc), (int)asyncio_stream_data_size(f->s), asyncio_stream_data(f->s));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 10));
    trace("eof=%lld", ASYNCIO_RESULT().i);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_END();
}
static void peer_write(asyncio_loop *loop, void *arg)
{
    raw_t *f = (raw_t *)arg;
    static int step;
    (void)loop;
    switch (step++) {
    case 0:
        CHECK(write(f->sv[1], "ok\nway-too-long-line\nfine\nnot-a-line-eith", 41) == 41);
        break;
    case 1:
        CHECK(write(f->sv[1], "er\nkept!", 8) == 8);
        break;
    default:
        CHECK(write(f->sv[1], "part", 4) == 4);
        close(f->sv[1]);
    }
}
void test_stream_errors_keep_data(void)
{
    asyncio_loop loop;
    raw_t f;
    vloop_init(&loop);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, f.sv), 0);
    f.s = asyncio_stream_open(&loop, f.sv[0]);
    CHECK(f.s != NULL);
    asyncio_create_task(&loop, &f.t, raw_reader, &f);
    asyncio_call_later(&loop, NULL, 1, peer_write, &f);
    asyncio_call_later(&loop, NULL, 2, peer_write, &f);
    asyncio_call_later(&loop, NULL, 3, cancel_cb, &f.t);
    asyncio_call_later(&loop, NULL, 4, peer_write, &f);
    CHECK_EQ(asyncio_loop_run_until_complete(&loop, &f.t.fut), 0);
    CHECK_STR(trace_get(), "[ok] ELIMIT [fine] ELIMIT ECANCELLED [not-a-] [line-eithe] EINCOMPLETE:[r\nkept!part] eof=0");
    CHECK_EQ(asyncio_loop_close(&loop), 0);
}

/* Broken pipe and reset by peer: errors on the call that met them, and
   the process is not killed by SIGPIPE. */
typedef struct { asyncio_coro co; int sv[2]; asyncio_stream *s; asyncio_read_t rd; int rc, i; char big[65536]; } pipe_t;
static int broken(asyncio_task *self, void *frame)
{
    pipe_t *f = (pipe_t *)frame;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    f->s = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[0]);
    close(f->sv[1]);
    for (f->i = 0, f->rc = 0; f->i < 4 && f->rc == 0; f->i++)
        f->rc = asyncio_stream_write(f->s, "data", 4);
    trace("write:%s", asyncio_err_name(f->rc));
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->s));
    trace("drain:%s", asyncio_err_name(f->rc));
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_END();
}
void test_broken_pipe_is_an_error_not_a_signal(void)
{
    pipe_t f;
    signal(SIGPIPE, SIG_DFL);
    CHECK_EQ(run_virtual(broken, &f, NULL), 0);
    /* io_uring sends a pass's output with the loop's next submission: the
       writes only queue, the drain waits for the send and meets the error */
    CHECK_STR(trace_get(), strcmp(asyncio_backend_name(), "io_uring") ? "write:EPIPE drain:EPIPE"
                                                                       : "write:OK drain:EPIPE");
}

/* The peer resets (SO_LINGER 0): the read fails with ECONNRESET. */
typedef struct { asyncio_conn base; } rst_conn_t;
static int rst_handler(asyncio_task *self, void *frame)
{
    rst_conn_t *f = (rst_conn_t *)frame;
    struct linger lg;
    ASYNCIO_BEGIN(self, &f->base);
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(asyncio_stream_fd(f->base.stream), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ASYNCIO_END(); /* returning closes the stream: with linger 0, a reset */
}
typedef struct { asyncio_coro co; asyncio_server srv; asyncio_connect_t oc; asyncio_stream *s; asyncio_read_t rd; int rc; } rst_t;
static int rst_client(asyncio_task *self, void *frame)
{
    rst_t *f = (rst_t *)frame;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), rst_handler, sizeof(rst_conn_t), "127.0.0.1", 0), 0);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->s, 10));
    trace("read:%s", asyncio_err_name(f->rc));
    f->rc = asyncio_stream_write(f->s, "x", 1);
    trace("write:%s", asyncio_err_name(f->rc));
    asyncio_stream_close(f->s);
    asyncio_server_close(&f->srv);
    ASYNCIO_END();
}
void test_reset_by_peer(void)
{
    rst_t f;
    CHECK_EQ(run_virtual(rst_client, &f, NULL), 0);
    CHECK_STR(trace_get(), "read:ECONNRESET write:ECONNRESET");
}

/* Backpressure: drain waits while the peer does not read, resumes once it
   does; every byte arrives, in order, once. */
typedef struct { asyncio_coro co; int fd; asyncio_sock_t op; char buf[4096]; long total; int bad; } sink_t;
static int sink(asyncio_task *self, void *frame)
{
    sink_t *f = (sink_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(1); /* let the writer fill everything up first */
    trace("reading");
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_recv(&f->op, f->fd, f->buf, sizeof f->buf));
        if (ASYNCIO_RESULT().i == 0)
            break;
        {
            long i, n = (long)ASYNCIO_RESULT().i;
            for (i = 0; i < n; i++) {
                long k = (f->total + i) % 65536;
                if (f->buf[i] != (char)(k * 7 + k / 256))
                    f->bad++;
            }
            f->total += n;
        }
    }
    asyncio_fd_close(ASYNCIO_LOOP(), f->fd);
    ASYNCIO_END();
}
typedef struct { pipe_t p; sink_t k; asyncio_task t; } press_t;
static int pressure(asyncio_task *self, void *frame)
{
    press_t *m = (press_t *)frame;
    pipe_t *f = &m->p;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    f->s = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[0]);
    m->k.fd = f->sv[1];
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[1]), 0);
    asyncio_create_task(ASYNCIO_LOOP(), &m->t, sink, &m->k);
    asyncio_stream_set_write_buffer_limits(f->s, 100000, 10000);
    for (f->i = 0; f->i < (int)sizeof f->big; f->i++)
        f->big[f->i] = (char)(f->i * 7 + f->i / 256);
    for (f->i = 0; f->i < 20; f->i++)
        CHECK_EQ(asyncio_stream_write(f->s, f->big, sizeof f->big), 0);
    CHECK(asyncio_stream_write_buffer_size(f->s) > 100000);
    CHECK(!asyncio_future_done(asyncio_stream_drain(f->s)));
    ASYNCIO_AWAIT(asyncio_stream_drain(f->s));
    trace("drained");
    CHECK(asyncio_stream_write_buffer_size(f->s) <= 10000);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    trace("closed");
    ASYNCIO_AWAIT(&m->t.fut);
    CHECK_EQ(m->k.total, 20L * 65536);
    CHECK_EQ(m->k.bad, 0);
    ASYNCIO_END();
}
void test_drain_backpressure_and_ordered_writes(void)
{
    static press_t m;
    CHECK_EQ(run_virtual(pressure, &m, NULL), 0);
    CHECK_STR(trace_get(), "reading drained closed");
}

/* Raw socket calls: accept and connect. */
typedef struct { asyncio_coro co; int lfd, afd; asyncio_sock_t a; } acc_t;
typedef struct { asyncio_coro co; int cfd; asyncio_sock_t c; asyncio_task t; acc_t acc; char buf[8]; } raw_sock_t;
static int acceptor(asyncio_task *self, void *frame)
{
    acc_t *f = (acc_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_accept(&f->a, f->lfd));
    f->afd = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_sendall(&f->a, f->afd, "hi!", 3));
    asyncio_fd_close(ASYNCIO_LOOP(), f->afd);
    ASYNCIO_END();
}
static int rawmain(asyncio_task *self, void *frame)
{
    raw_sock_t *f = (raw_sock_t *)frame;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    ASYNCIO_BEGIN(self, f);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->acc.lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bind(f->acc.lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(f->acc.lfd, 8) == 0);
    getsockname(f->acc.lfd, (struct sockaddr *)&a, &len);
    asyncio_fd_add(ASYNCIO_LOOP(), f->acc.lfd);
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, acceptor, &f->acc);
    f->cfd = socket(AF_INET, SOCK_STREAM, 0);
    asyncio_fd_add(ASYNCIO_LOOP(), f->cfd);
    ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_connect(&f->c, f->cfd, &a, (unsigned)sizeof a));
    ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_recv(&f->c, f->cfd, f->buf, sizeof f->buf));
    trace("%.*s", (int)ASYNCIO_RESULT().i, f->buf);
    ASYNCIO_AWAIT(&f->t.fut);
    asyncio_fd_close(ASYNCIO_LOOP(), f->cfd);
    asyncio_fd_close(ASYNCIO_LOOP(), f->acc.lfd);
    ASYNCIO_END();
}
void test_sock_accept_and_connect(void)
{
    raw_sock_t f;
    CHECK_EQ(run_virtual(rawmain, &f, NULL), 0);
    CHECK_STR(trace_get(), "hi!");
}

/* A signal interrupting the loop's wait (EINTR) changes nothing: the
   timer still fires, not early, and the loop goes on. */
static void on_alarm(int sig) { (void)sig; }
typedef struct { asyncio_coro co; long long t0; } intr_t;
static int intr(asyncio_task *self, void *frame)
{
    intr_t *f = (intr_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->t0 = asyncio_loop_time_ns(ASYNCIO_LOOP());
    ASYNCIO_SLEEP(0.2);
    CHECK(asyncio_loop_time_ns(ASYNCIO_LOOP()) - f->t0 >= 200000000);
    ASYNCIO_END();
}
void test_eintr_is_retried(void)
{
    struct sigaction sa;
    struct itimerval it;
    intr_t f;
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = 20000;
    it.it_interval.tv_usec = 20000;
    setitimer(ITIMER_REAL, &it, NULL);
    CHECK_EQ(asyncio_run_config(&cfg, intr, &f, NULL), 0);
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
}

/* Out of descriptors on accept (EMFILE): the server keeps listening, does
   not spin, and serves clients again once descriptors free up. */
typedef struct { asyncio_conn base; asyncio_read_t rd; } hold_conn_t;
static int hold_handler(asyncio_task *self, void *frame)
{
    hold_conn_t *f = (hold_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    asyncio_stream_write(f->base.stream, "hello\n", 6);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->base.stream, 10)); /* until the client closes */
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    int fds[64], nfds, i, extra;
    struct rlimit old;
    struct rusage ru0;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
} emfile_t;
static int emfile(asyncio_task *self, void *frame)
{
    emfile_t *f = (emfile_t *)frame;
    struct rlimit rl;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), hold_handler, sizeof(hold_conn_t), "127.0.0.1", 0), 0);
    /* use up the descriptors: only a handful left */
    getrlimit(RLIMIT_NOFILE, &f->old);
    rl = f->old;
    rl.rlim_cur = 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    for (f->nfds = 0; f->nfds < 64 && (f->fds[f->nfds] = dup(0)) >= 0; f->nfds++)
        ;
    close(f->fds[--f->nfds]); /* one for the client's socket: none left for accept */
    f->extra = socket(AF_INET, SOCK_STREAM, 0); /* a plain blocking client */
    {
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((unsigned short)f->srv.port);
        CHECK(connect(f->extra, (struct sockaddr *)&a, sizeof a) == 0);
    }
    getrusage(RUSAGE_SELF, &f->ru0);
    ASYNCIO_SLEEP(0.5); /* accept fails with EMFILE meanwhile: no spinning */
    {
        struct rusage ru;
        long long us;
        getrusage(RUSAGE_SELF, &ru);
        us = (ru.ru_utime.tv_sec - f->ru0.ru_utime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec -
             f->ru0.ru_utime.tv_usec + (ru.ru_stime.tv_sec - f->ru0.ru_stime.tv_sec) * 1000000LL +
             ru.ru_stime.tv_usec - f->ru0.ru_stime.tv_usec;
        CHECK(us < 100000); /* half a second of waiting cost well under 0.1 s of CPU */
    }
    CHECK_EQ(f->srv.nconns, 0);
    for (f->i = 0; f->i < f->nfds; f->i++) /* descriptors come back */
        close(f->fds[f->i]);
    setrlimit(RLIMIT_NOFILE, &f->old);
    ASYNCIO_SLEEP(0.3);
    CHECK_EQ(f->srv.nconns, 1); /* the waiting client was served */
    {
        char buf[8];
        CHECK(read(f->extra, buf, 6) == 6 && memcmp(buf, "hello\n", 6) == 0);
    }
    close(f->extra);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    trace("%.*s", (int)ASYNCIO_RESULT().i - 1, asyncio_stream_data(f->s));
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    asyncio_server_close(&f->srv);
    ASYNCIO_END();
}
void test_server_survives_emfile(void)
{
    static emfile_t f;
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1; /* real time is the point: it must not spin */
    CHECK_EQ(asyncio_run_config(&cfg, emfile, &f, NULL), 0);
    CHECK_STR(trace_get(), "hello");
}

/* A client resets in the middle of a line: the server's readline fails
   with ECONNRESET (it must not spin); a drain cancelled by a timeout
   leaves the stream usable. */
typedef struct { asyncio_conn base; asyncio_read_t rd; int rc; } midline_conn_t;
static int midline_handler(asyncio_task *self, void *frame)
{
    midline_conn_t *f = (midline_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->base.stream));
    trace("server:%s", asyncio_err_name(f->rc));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_timeout to;
    int rc, sv[2];
    size_t got;
    char big[4000000];
} midline_t;
static int midline(asyncio_task *self, void *frame)
{
    midline_t *f = (midline_t *)frame;
    struct linger lg;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), midline_handler, sizeof(midline_conn_t), "127.0.0.1", 0), 0);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", asyncio_server_port(&f->srv)));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    asyncio_stream_write(f->s, "half a li", 9);
    ASYNCIO_SLEEP(0.1);
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(asyncio_stream_fd(f->s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_SLEEP(0.1);
    asyncio_server_close(&f->srv);
    /* drain under a timeout, cancelled; then a drain that succeeds */
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    f->s = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[0]);
    asyncio_stream_set_write_buffer_limits(f->s, 1000, 100);
    asyncio_stream_write(f->s, f->big, sizeof f->big);
    ASYNCIO_WAIT_FOR_RC(f->rc, &f->to, asyncio_stream_drain(f->s), 0.5);
    trace("drain1:%s", asyncio_err_name(f->rc));
    fcntl(f->sv[1], F_SETFL, O_NONBLOCK);
    for (f->got = 0; f->got < sizeof f->big;) { /* the peer reads everything, the loop flushes */
        static char sink[1 << 20];
        long n;
        while ((n = read(f->sv[1], sink, sizeof sink)) > 0)
            f->got += (size_t)n;
        ASYNCIO_SLEEP(0.01);
    }
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->s));
    trace("drain2:%s", asyncio_err_name(f->rc));
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    close(f->sv[1]);
    ASYNCIO_END();
}
void test_reset_mid_line_and_cancelled_drain(void)
{
    static midline_t f;
    CHECK_EQ(run_virtual(midline, &f, NULL), 0);
    CHECK_STR(trace_get(), "server:ECONNRESET drain1:ETIMEDOUT drain2:OK");
}

/* Signal handlers run from the loop, not from the signal handler. */
static void on_usr1(asyncio_loop *loop, void *arg)
{
    (void)loop;
    trace("usr1");
    if (!asyncio_future_done((asyncio_future *)arg))
        asyncio_future_set_result((asyncio_future *)arg, asyncio_int(1));
}
typedef struct { asyncio_coro co; asyncio_future got; } sig_t_;
static int sigmain(asyncio_task *self, void *frame)
{
    sig_t_ *f = (sig_t_ *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_future_init(&f->got, ASYNCIO_LOOP());
    CHECK_EQ(asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGKILL, on_usr1, &f->got), -EINVAL);
    CHECK_EQ(asyncio_add_signal_handler(ASYNCIO_LOOP(), 0, on_usr1, &f->got), -EINVAL);
    CHECK_EQ(asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGUSR1, on_usr1, &f->got), 0);
    raise(SIGUSR1);
    trace("raised");
    ASYNCIO_AWAIT(&f->got);
    CHECK_EQ(asyncio_remove_signal_handler(ASYNCIO_LOOP(), SIGUSR1), 1);
    CHECK_EQ(asyncio_remove_signal_handler(ASYNCIO_LOOP(), SIGUSR1), 0);
    ASYNCIO_END();
}
void test_signal_handlers_run_from_the_loop(void)
{
    sig_t_ f;
    CHECK_EQ(run_virtual(sigmain, &f, NULL), 0);
    CHECK_STR(trace_get(), "raised usr1");
    CHECK(signal(SIGUSR1, SIG_DFL) == SIG_DFL); /* the default action is back */
}
