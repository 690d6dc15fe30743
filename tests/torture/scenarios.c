/* The programs the fault sweeps run (torture.h).  Each is written the way
   a careful application would be: it cleans up on every way out (its
   FINALLY cancels and awaits what it started, closes what it opened), so
   whatever is left behind after a fault is the library's doing.  Time is
   the virtual clock's. */
#define _GNU_SOURCE 1
#include "torture.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A task's entry: count its step before running it. */
#define TASK_BEGIN(self, frame)                                                \
    torture_step(self);                                                        \
    ASYNCIO_BEGIN(self, frame)

static void fill(unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        p[i] = torture_byte(i);
}

static int same(const void *p, size_t n, const unsigned char *want, size_t want_n)
{
    return n == want_n && memcmp(p, want, n) == 0;
}

/* A peer that went away: how a failure on one side of a connection
   reaches the other, which asked for nothing that failed itself. */
static int peer_error(int rc)
{
    return rc == ASYNCIO_EINCOMPLETE || rc == -ECONNRESET || rc == -EPIPE;
}

/* ---- servers: what their connections' handlers did ---------------------- */
typedef struct {
    asyncio_event ended;     /* set when `expect` handlers have ended */
    int expect, started, nended;
    int failed;              /* a handler ended with an error */
    int nomem;               /* ... with -ENOMEM */
    int bad;                 /* ... with one no fault explains */
} served_t;

static served_t *served; /* the handlers' way to their scenario */

/* A handler's end, from its cleanup: how it ended (0 or its error). */
static void served_end(served_t *c, int rc)
{
    c->failed |= rc != 0;
    c->nomem |= rc == -ENOMEM;
    c->bad |= rc != 0 && rc != -ENOMEM && rc != ASYNCIO_ECANCELLED && !peer_error(rc);
    if (++c->nended == c->expect)
        asyncio_event_set(&c->ended);
}

static void served_init(served_t *c, asyncio_loop *loop, int expect)
{
    served = c;
    asyncio_event_init(&c->ended, loop);
    c->expect = expect;
}

/* The outcome main may have, given how the handlers fared: a client sees
   its server's failure (or its turning the client away) as the peer
   going, which only the injected fault explains. */
static const char *served_check(const served_t *c, int mode, int injected, int rc)
{
    if (c->bad || (c->nomem && (mode != TORTURE_ALLOC || !injected)))
        return "a connection's handler ended with an error the fault does not explain";
    if (rc == 0 && (c->nended != c->expect || c->failed))
        return "main succeeded but a connection was not served whole";
    if (peer_error(rc) && injected && mode == TORTURE_ALLOC && (c->failed || c->started < c->expect))
        rc = -ENOMEM;
    return torture_expected(mode, injected, rc);
}

/* ---- (a) echo: one connection's whole life ------------------------------- */
/* The client sends a length line and 200 KiB (its write buffer grows),
   the server reads them with readline and readexactly (its read buffer
   grows), echoes with write + drain and ends at the client's end of
   stream; the client checks every byte, closes, waits for the server's
   side to end and closes the server. */
#define ECHO_BYTES (200 * 1024)

typedef struct {
    asyncio_coro co;
    asyncio_server srv;
    int serving;
    asyncio_connect_t oc;
    asyncio_stream *s, *closing;
    asyncio_read_t rd;
    served_t served;
    asyncio_sync_op wait;
    asyncio_finally fin;
    int rc;
    char head[16];
    unsigned char data[ECHO_BYTES];
    /* outcomes: 1 whole, -1 damaged, 0 not there */
    int received, echoed;
} echo_t;

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    asyncio_finally fin;
    long n;
    int rc;
} echo_conn_t;

static echo_t *echo_state; /* the handler's way to the data it must see */

/* A small kernel buffer, so that most of a write waits in the stream's
   own buffer, which has to grow. */
static void small_sndbuf(asyncio_stream *s)
{
    int size = 4096;
    setsockopt(asyncio_stream_fd(s), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static int echo_handler(asyncio_task *self, void *frame)
{
    echo_conn_t *f = (echo_conn_t *)frame;
    echo_t *e = echo_state;
    asyncio_stream *s = f->base.stream;
    TASK_BEGIN(self, &f->base);
    e->served.started++;
    small_sndbuf(s);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
    if (ASYNCIO_RESULT().i == 0)
        ASYNCIO_RAISE(ASYNCIO_EINCOMPLETE, "the client left before its length line");
    f->n = strtol(asyncio_stream_data(s), NULL, 10);
    if (f->n != ECHO_BYTES) {
        e->received = -1;
        ASYNCIO_RAISE(-EPROTO, "bad length line");
    }
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, s, ECHO_BYTES));
    e->received = same(asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i, e->data, ECHO_BYTES) ? 1 : -1;
    if ((f->rc = asyncio_stream_write(s, asyncio_stream_data(s), ECHO_BYTES)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT(asyncio_stream_drain(s));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
    if (ASYNCIO_RESULT().i != 0) /* the client sends nothing more */
        e->received = -1;
    ASYNCIO_FINALLY_ASYNC(f->fin) { /* its outcome goes to the scenario, not to the server's warnings */
        served_end(&e->served, asyncio_finally_pending(&f->fin));
        ASYNCIO_RETURN(asyncio_int(0));
    }
    ASYNCIO_END();
}

static int echo_main(asyncio_task *self, void *frame)
{
    echo_t *f = (echo_t *)frame;
    TASK_BEGIN(self, f);
    echo_state = f;
    served_init(&f->served, ASYNCIO_LOOP(), 1);
    f->rc = asyncio_start_server(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), "127.0.0.1", 0);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->serving = 1;
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    small_sndbuf(f->s);
    snprintf(f->head, sizeof f->head, "%d\n", ECHO_BYTES);
    if ((f->rc = asyncio_stream_write(f->s, f->head, strlen(f->head))) < 0 ||
        (f->rc = asyncio_stream_write(f->s, f->data, ECHO_BYTES)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT(asyncio_stream_drain(f->s));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, ECHO_BYTES));
    f->echoed = same(asyncio_stream_data(f->s), (size_t)ASYNCIO_RESULT().i, f->data, ECHO_BYTES) ? 1 : -1;
    f->closing = f->s;
    f->s = NULL;
    ASYNCIO_AWAIT(asyncio_stream_close(f->closing));
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->wait, &f->served.ended));
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        if (f->s) {
            f->closing = f->s;
            f->s = NULL;
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_close(f->closing));
        }
        if (f->serving)
            asyncio_server_close(&f->srv);
    }
    ASYNCIO_END();
}

static void echo_setup(void *frame)
{
    echo_t *f = (echo_t *)frame;
    fill(f->data, sizeof f->data);
}

static const char *echo_check(void *frame, int mode, int injected, int rc)
{
    echo_t *f = (echo_t *)frame;
    if (f->received < 0 || f->echoed < 0)
        return "bytes were lost, doubled or reordered";
    if (rc == 0 && (f->received != 1 || f->echoed != 1))
        return "main succeeded but the echo did not happen whole";
    return served_check(&f->served, mode, injected, rc);
}

/* ---- (b) TaskGroup: several children, one failing ---------------------- */
#define TG_KIDS 5

typedef struct {
    asyncio_coro co;
    int yields, fail, i;
} kid_t;

static int kid(asyncio_task *self, void *frame)
{
    kid_t *f = (kid_t *)frame;
    TASK_BEGIN(self, f);
    for (f->i = 0; f->i < f->yields; f->i++) {
        ASYNCIO_YIELD();
    }
    if (f->fail)
        ASYNCIO_RAISE(ASYNCIO_EUSER, "the failing child");
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_taskgroup tg;
    kid_t kids[TG_KIDS];
    asyncio_task tasks[TG_KIDS - 1]; /* the last one is the loop's */
    asyncio_task *owned;
    const char *msg;
    int i, rc, spawned, nuser, nnomem, nother;
} tg_t;

static int tg_main(asyncio_task *self, void *frame)
{
    tg_t *f = (tg_t *)frame;
    size_t e;
    TASK_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    for (f->i = 0; f->i < TG_KIDS && f->rc == 0; f->i++) {
        f->kids[f->i].yields = 1 + f->i;
        f->kids[f->i].fail = f->i == 2;
        f->rc = asyncio_taskgroup_create_task(&f->tg, f->i < TG_KIDS - 1 ? &f->tasks[f->i] : NULL, kid,
                                              &f->kids[f->i], f->i < TG_KIDS - 1 ? NULL : &f->owned);
        f->spawned += f->rc == 0;
    }
    if (f->rc == 0) { /* the body's own work, cut short when the child fails */
        ASYNCIO_SLEEP_RC(f->rc, 10);
        f->msg = f->rc < 0 ? ASYNCIO_ERRMSG() : NULL;
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, f->msg));
    for (e = 0; e < asyncio_taskgroup_nerrors(&f->tg); e++) {
        int err = asyncio_taskgroup_error(&f->tg, e)->err;
        f->nuser += err == ASYNCIO_EUSER;
        f->nnomem += err == -ENOMEM;
        f->nother += err != ASYNCIO_EUSER && err != -ENOMEM;
    }
    asyncio_taskgroup_free(&f->tg);
    if (f->rc != ASYNCIO_EGROUP)
        ASYNCIO_RAISE(f->rc ? f->rc : ASYNCIO_EINVALIDSTATE, "the group ended without its child's error");
    if (f->nnomem)
        ASYNCIO_RAISE(-ENOMEM, NULL);
    ASYNCIO_END();
}

static const char *tg_check(void *frame, int mode, int injected, int rc)
{
    tg_t *f = (tg_t *)frame;
    int i;
    for (i = 0; i < f->spawned && i < TG_KIDS - 1; i++)
        if (!asyncio_future_done(&f->tasks[i].fut))
            return "a child is still pending after the group's exit";
    if (f->nother)
        return "the group lists an error that is neither the child's nor -ENOMEM";
    if (rc == 0 && f->nuser != 1)
        return "the group succeeded without exactly the failing child's error";
    return torture_expected(mode, injected, rc);
}

/* ---- (c) gather --------------------------------------------------------- */
/* gather_map of five children, then a gather with return_exceptions of
   three tasks, one failing: every result where it belongs. */
#define G_MAP 5
#define G_EXC 3

typedef struct {
    asyncio_coro co;
    int n, fail, i;
} square_t;

static int square(asyncio_task *self, void *frame)
{
    square_t *f = (square_t *)frame;
    TASK_BEGIN(self, f);
    for (f->i = 0; f->i < f->n; f->i++) {
        ASYNCIO_YIELD();
    }
    if (f->fail)
        ASYNCIO_RAISE(ASYNCIO_EUSER, "the failing child");
    ASYNCIO_RETURN(asyncio_int(f->n * f->n));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_gather_t g, g2;
    square_t sq[G_MAP], sq2[G_EXC];
    asyncio_task tasks[G_MAP], tasks2[G_EXC];
    asyncio_future *futs[G_EXC];
    asyncio_finally fin;
    int mapped, created2, i, rc, bad;
} gather_t;

/* The i-th task main started (both lists in a row), or NULL. */
static asyncio_task *gather_task(gather_t *f, int i)
{
    if (i < G_MAP)
        return f->mapped ? &f->tasks[i] : NULL;
    return i - G_MAP < f->created2 ? &f->tasks2[i - G_MAP] : NULL;
}

static int gather_main(asyncio_task *self, void *frame)
{
    gather_t *f = (gather_t *)frame;
    asyncio_value v;
    TASK_BEGIN(self, f);
    for (f->i = 0; f->i < G_MAP; f->i++)
        f->sq[f->i].n = f->i + 1;
    f->rc = asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, square, f->sq, sizeof f->sq[0], G_MAP, 0);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->mapped = 1;
    ASYNCIO_AWAIT(&f->g.fut);
    for (f->i = 0; f->i < G_MAP; f->i++)
        if (asyncio_gather_result(&f->g, (size_t)f->i, &v) != 0 || v.i != (f->i + 1) * (f->i + 1))
            f->bad = 1;
    for (f->created2 = 0; f->created2 < G_EXC; f->created2++) {
        f->sq2[f->created2].n = f->created2 + 2;
        f->sq2[f->created2].fail = f->created2 == 1;
        if (!asyncio_create_task(ASYNCIO_LOOP(), &f->tasks2[f->created2], square, &f->sq2[f->created2]))
            ASYNCIO_RAISE(-ENOMEM, NULL);
        f->futs[f->created2] = &f->tasks2[f->created2].fut;
    }
    if ((f->rc = asyncio_gather(&f->g2, ASYNCIO_LOOP(), f->futs, G_EXC, ASYNCIO_RETURN_EXCEPTIONS)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT(&f->g2.fut);
    for (f->i = 0; f->i < G_EXC; f->i++) {
        int err = asyncio_gather_result(&f->g2, (size_t)f->i, &v);
        if (f->i == 1 ? err != ASYNCIO_EUSER : err != 0 || v.i != (f->i + 2) * (f->i + 2))
            f->bad = 1;
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->i < G_MAP + G_EXC; f->i++)
            if (gather_task(f, f->i) && !asyncio_future_done(&gather_task(f, f->i)->fut)) {
                asyncio_task_cancel(gather_task(f, f->i));
                ASYNCIO_AWAIT_RC(f->rc, &gather_task(f, f->i)->fut);
            }
    }
    ASYNCIO_END();
}

static const char *gather_check(void *frame, int mode, int injected, int rc)
{
    gather_t *f = (gather_t *)frame;
    if (f->bad)
        return "a child's result is missing or in the wrong place";
    return torture_expected(mode, injected, rc);
}

/* ---- (d) a queue growing past its capacity ------------------------------ */
/* Three producers put 100 items each into an unbounded queue faster than
   two consumers take them; then join.  Every item accepted by a put is
   taken exactly once: by a consumer, or by the drain when main ends.
   bqueue: the same through a bounded queue of four, where putters and
   getters wait, and are cancelled while they wait. */
#define Q_PRODUCERS 3
#define Q_CONSUMERS 2
#define Q_EACH 100
#define Q_ITEMS (Q_PRODUCERS * Q_EACH)

typedef struct queue_s queue_t;
typedef struct {
    asyncio_coro co;
    asyncio_queue_op op;
    queue_t *q;
    int id, i, n;
} qworker_t;

struct queue_s {
    asyncio_coro co;
    asyncio_queue q;
    qworker_t prod[Q_PRODUCERS], cons[Q_CONSUMERS];
    asyncio_task ptask[Q_PRODUCERS], ctask[Q_CONSUMERS];
    asyncio_future *pfuts[Q_PRODUCERS];
    asyncio_gather_t g;
    asyncio_queue_op join;
    asyncio_finally fin;
    asyncio_value storage[4]; /* bqueue's */
    int bounded, nprod, ncons, strange, i, rc;
    unsigned char put[Q_ITEMS], taken[Q_ITEMS];
};

/* v came out of the queue. */
static void queue_took(queue_t *q, long long v)
{
    if (v < 0 || v >= Q_ITEMS)
        q->strange = 1;
    else
        q->taken[v]++;
}

static int producer(asyncio_task *self, void *frame)
{
    qworker_t *f = (qworker_t *)frame;
    TASK_BEGIN(self, f);
    for (f->i = 0; f->i < Q_EACH; f->i++) {
        f->n = f->id * Q_EACH + f->i;
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_put(&f->op, &f->q->q, asyncio_int(f->n)));
        f->q->put[f->n] = 1;
        if (f->i % 25 == 24) {
            ASYNCIO_YIELD();
        }
    }
    ASYNCIO_END();
}

static int consumer(asyncio_task *self, void *frame)
{
    qworker_t *f = (qworker_t *)frame;
    TASK_BEGIN(self, f);
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_get(&f->op, &f->q->q));
        queue_took(f->q, ASYNCIO_RESULT().i);
        asyncio_queue_task_done(&f->q->q);
        if (++f->i % 7 == 0) {
            ASYNCIO_YIELD();
        }
    }
    ASYNCIO_END();
}

/* The i-th task main started: producers, then consumers. */
static asyncio_task *queue_task(queue_t *f, int i)
{
    return i < f->nprod ? &f->ptask[i] : &f->ctask[i - f->nprod];
}

static int queue_main(asyncio_task *self, void *frame)
{
    queue_t *f = (queue_t *)frame;
    asyncio_value v;
    TASK_BEGIN(self, f);
    asyncio_queue_init(&f->q, ASYNCIO_LOOP(), ASYNCIO_FIFO, f->bounded ? f->storage : NULL, 4);
    for (f->ncons = 0; f->ncons < Q_CONSUMERS; f->ncons++) {
        f->cons[f->ncons].q = f;
        if (!asyncio_create_task(ASYNCIO_LOOP(), &f->ctask[f->ncons], consumer, &f->cons[f->ncons]))
            ASYNCIO_RAISE(-ENOMEM, NULL);
    }
    for (f->nprod = 0; f->nprod < Q_PRODUCERS; f->nprod++) {
        f->prod[f->nprod].q = f;
        f->prod[f->nprod].id = f->nprod;
        if (!asyncio_create_task(ASYNCIO_LOOP(), &f->ptask[f->nprod], producer, &f->prod[f->nprod]))
            ASYNCIO_RAISE(-ENOMEM, NULL);
        f->pfuts[f->nprod] = &f->ptask[f->nprod].fut;
    }
    if ((f->rc = asyncio_gather(&f->g, ASYNCIO_LOOP(), f->pfuts, Q_PRODUCERS, 0)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT(&f->g.fut);
    ASYNCIO_AWAIT_CORO(asyncio_queue_io, asyncio_queue_join(&f->join, &f->q));
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->i < f->nprod + f->ncons; f->i++)
            if (!asyncio_future_done(&queue_task(f, f->i)->fut)) {
                asyncio_task_cancel(queue_task(f, f->i));
                ASYNCIO_AWAIT_RC(f->rc, &queue_task(f, f->i)->fut);
            }
        while (asyncio_queue_get_nowait(&f->q, &v) == 0)
            queue_took(f, v.i);
        asyncio_queue_free(&f->q);
    }
    ASYNCIO_END();
}

static void bqueue_setup(void *frame) { ((queue_t *)frame)->bounded = 1; }

static const char *queue_check(void *frame, int mode, int injected, int rc)
{
    queue_t *f = (queue_t *)frame;
    int i;
    if (f->strange)
        return "an item came out of the queue that nobody put";
    for (i = 0; i < Q_ITEMS; i++) {
        if (f->taken[i] != f->put[i])
            return f->taken[i] > f->put[i] ? "an item was taken twice, or without a put"
                                            : "an item accepted by a put was lost";
        if (rc == 0 && !f->put[i])
            return "main succeeded without every item put";
    }
    return torture_expected(mode, injected, rc);
}

/* ---- (e) the executor: to_thread, and a name lookup ---------------------- */
#define X_JOBS 3
#define X_BYTES 65536

typedef struct {
    asyncio_coro co;
    asyncio_work w;
    const unsigned char *buf;
    long long sum;
} xjob_t;

static int sum_bytes(void *arg, asyncio_outcome *out)
{
    const unsigned char *p = (const unsigned char *)arg;
    long long s = 0;
    size_t i;
    for (i = 0; i < X_BYTES; i++)
        s += p[i];
    out->value.i = s;
    return 0;
}

static int xjob(asyncio_task *self, void *frame)
{
    xjob_t *f = (xjob_t *)frame;
    TASK_BEGIN(self, f);
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->w, sum_bytes, (void *)f->buf));
    f->sum = ASYNCIO_RESULT().i;
    ASYNCIO_RETURN(asyncio_int(f->sum));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_gather_t g;
    xjob_t jobs[X_JOBS];
    asyncio_task tasks[X_JOBS];
    asyncio_resolve_t rs;
    struct addrinfo hints;
    asyncio_finally fin;
    unsigned char data[X_BYTES];
    long long want;
    int mapped, resolved, i, rc, bad;
} exec_t;

static int exec_main(asyncio_task *self, void *frame)
{
    exec_t *f = (exec_t *)frame;
    asyncio_value v;
    struct addrinfo *ai;
    TASK_BEGIN(self, f);
    for (f->i = 0; f->i < X_JOBS; f->i++)
        f->jobs[f->i].buf = f->data;
    f->rc = asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, xjob, f->jobs, sizeof f->jobs[0], X_JOBS, 0);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->mapped = 1;
    ASYNCIO_AWAIT(&f->g.fut);
    for (f->i = 0; f->i < X_JOBS; f->i++)
        if (asyncio_gather_result(&f->g, (size_t)f->i, &v) != 0 || v.i != f->want)
            f->bad = 1;
    f->hints.ai_family = AF_INET;
    f->hints.ai_socktype = SOCK_STREAM;
    f->hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    ASYNCIO_AWAIT_CORO(asyncio_resolve, asyncio_getaddrinfo(&f->rs, "127.0.0.1", "80", &f->hints));
    ai = (struct addrinfo *)ASYNCIO_RESULT().p;
    f->resolved = ai && ai->ai_family == AF_INET ? 1 : -1;
    freeaddrinfo(ai);
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->mapped && f->i < X_JOBS; f->i++)
            if (!asyncio_future_done(&f->tasks[f->i].fut)) {
                asyncio_task_cancel(&f->tasks[f->i]);
                ASYNCIO_AWAIT_RC(f->rc, &f->tasks[f->i].fut);
            }
    }
    ASYNCIO_END();
}

static void exec_setup(void *frame)
{
    exec_t *f = (exec_t *)frame;
    size_t i;
    fill(f->data, sizeof f->data);
    for (i = 0; i < X_BYTES; i++)
        f->want += f->data[i];
}

static const char *exec_check(void *frame, int mode, int injected, int rc)
{
    exec_t *f = (exec_t *)frame;
    if (f->bad || f->resolved < 0)
        return "a job's result or the lookup's address is wrong";
    if (rc == 0 && f->resolved != 1)
        return "main succeeded without the lookup";
    return torture_expected(mode, injected, rc);
}

/* ---- (f) a subprocess with pipes: /bin/cat ------------------------------- */
/* First by hand (write and drain stdin in pieces, read stdout back with
   readexactly, close stdin, wait), then with communicate. */
#define P_BYTES (96 * 1024)
#define P_PIECE (32 * 1024)

typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op, wop;
    asyncio_read_t rd;
    asyncio_stream *closing;
    asyncio_finally fin;
    unsigned char data[P_BYTES];
    int round, off, rc, bad, done;
} proc_t;

static int proc_main(asyncio_task *self, void *frame)
{
    static const char *const argv[] = {"/bin/cat", NULL};
    proc_t *f = (proc_t *)frame;
    TASK_BEGIN(self, f);
    f->o.stdio[0].mode = ASYNCIO_PIPE;
    f->o.stdio[1].mode = ASYNCIO_PIPE;
    f->o.stdio[2].mode = ASYNCIO_DEVNULL;
    for (f->round = 0; f->round < 2; f->round++) {
        if ((f->rc = asyncio_create_subprocess_exec(&f->p, ASYNCIO_LOOP(), argv, &f->o)) < 0)
            ASYNCIO_RAISE(f->rc, NULL);
        if (f->round == 0) {
            for (f->off = 0; f->off < P_BYTES; f->off += P_PIECE) {
                if ((f->rc = asyncio_stream_write(asyncio_process_stdin(f->p), f->data + f->off, P_PIECE)) < 0)
                    ASYNCIO_RAISE(f->rc, NULL);
                ASYNCIO_AWAIT(asyncio_stream_drain(asyncio_process_stdin(f->p)));
                ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, asyncio_process_stdout(f->p), P_PIECE));
                if (!same(asyncio_stream_data(asyncio_process_stdout(f->p)), (size_t)ASYNCIO_RESULT().i,
                          f->data + f->off, P_PIECE))
                    f->bad = 1;
            }
            f->closing = asyncio_process_stdin(f->p);
            ASYNCIO_AWAIT(asyncio_stream_close(f->closing));
            ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
        } else {
            ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, f->data, P_BYTES));
            if (!same(f->op.out, f->op.out_len, f->data, P_BYTES))
                f->bad = 1;
        }
        if (ASYNCIO_RESULT().i != 0)
            f->bad = 1;
        asyncio_process_release(f->p);
        f->p = NULL;
        f->done++;
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        if (f->p) { /* Python's rule: a cancelled wait leaves the child; this program kills it */
            if (!asyncio_process_returncode(f->p, NULL)) {
                asyncio_process_kill(f->p);
                ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_process_io, asyncio_process_wait(&f->wop, f->p));
            }
            asyncio_process_release(f->p);
            f->p = NULL;
        }
    }
    ASYNCIO_END();
}

static void proc_setup(void *frame)
{
    proc_t *f = (proc_t *)frame;
    fill(f->data, sizeof f->data);
}

static const char *proc_check(void *frame, int mode, int injected, int rc)
{
    proc_t *f = (proc_t *)frame;
    if (f->bad)
        return "cat's output differs from its input, or it failed";
    if (rc == 0 && f->done != 2)
        return "main succeeded without both rounds";
    return torture_expected(mode, injected, rc);
}

/* ---- (g) files: write_file, read_file, open, pread, close, unlink ------- */
#define F_BYTES (40 * 1024)

typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    char path[64];
    unsigned char data[F_BYTES], back[F_BYTES];
    asyncio_finally fin;
    int fd, rc, bad, read_ok;
} files_t;

static int files_main(asyncio_task *self, void *frame)
{
    files_t *f = (files_t *)frame;
    TASK_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write_file(&f->op, f->path, f->data, F_BYTES));
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->path));
    f->bad |= !same(asyncio_file_data(&f->op), (size_t)ASYNCIO_RESULT().i, f->data, F_BYTES);
    asyncio_file_op_free(&f->op);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->path, O_RDWR, 0));
    f->fd = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->back, F_BYTES, 0));
    f->bad |= !same(f->back, (size_t)ASYNCIO_RESULT().i, f->data, F_BYTES);
    f->read_ok = 1;
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        asyncio_file_op_free(&f->op);
        if (f->fd >= 0) {
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_close(&f->op, f->fd));
            f->fd = -1;
        }
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_unlink(&f->op, f->path));
    }
    ASYNCIO_END();
}

static void files_setup(void *frame)
{
    files_t *f = (files_t *)frame;
    fill(f->data, sizeof f->data);
    f->fd = -1;
    snprintf(f->path, sizeof f->path, "/tmp/asyncio-torture-%d", (int)getpid());
}

static const char *files_check(void *frame, int mode, int injected, int rc)
{
    files_t *f = (files_t *)frame;
    if (access(f->path, F_OK) == 0) {
        unlink(f->path);
        return "the file was left behind";
    }
    if (f->bad)
        return "the bytes read back differ from those written";
    if (rc == 0 && !f->read_ok)
        return "main succeeded without reading the file back";
    return torture_expected(mode, injected, rc);
}

/* ---- a line server: echoes each line until end of stream --------------- */
typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    asyncio_finally fin;
    int rc;
} liner_t;

static int liner(asyncio_task *self, void *frame)
{
    liner_t *f = (liner_t *)frame;
    served_t *c = served;
    asyncio_stream *s = f->base.stream;
    TASK_BEGIN(self, &f->base);
    c->started++;
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
        if (ASYNCIO_RESULT().i == 0)
            break;
        if ((f->rc = asyncio_stream_write(s, asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i)) < 0)
            ASYNCIO_RAISE(f->rc, NULL);
        ASYNCIO_AWAIT(asyncio_stream_drain(s));
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) { /* its outcome goes to the scenario, not to the server's warnings */
        served_end(c, asyncio_finally_pending(&f->fin));
        ASYNCIO_RETURN(asyncio_int(0));
    }
    ASYNCIO_END();
}

/* ---- (h) connect: Happy Eyeballs past a refusal, and a Unix socket ------ */
/* A line server on 127.0.0.1 and on a Unix path; the client reaches the
   first through a list whose first address refuses (127.0.0.2), the
   second by path, sends a line on each and reads it back; a list whose
   only address refuses must fail with ECONNREFUSED. */
typedef struct {
    asyncio_coro co;
    asyncio_server tcp, unx;
    int serving_tcp, serving_unix;
    char path[64];
    struct sockaddr_in addr[2];
    struct addrinfo ai[3];
    asyncio_connect_t oc;
    asyncio_stream *s[2], *closing;
    asyncio_read_t rd;
    served_t served;
    asyncio_sync_op wait;
    asyncio_finally fin;
    char line[24];
    int i, rc, echoed;
} connect_t;

static void connect_addr(connect_t *f, int i, const char *ip, int port)
{
    f->addr[i].sin_family = AF_INET;
    f->addr[i].sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &f->addr[i].sin_addr);
    f->ai[i].ai_family = AF_INET;
    f->ai[i].ai_socktype = SOCK_STREAM;
    f->ai[i].ai_addr = (struct sockaddr *)&f->addr[i];
    f->ai[i].ai_addrlen = sizeof f->addr[i];
}

static int connect_main(asyncio_task *self, void *frame)
{
    connect_t *f = (connect_t *)frame;
    TASK_BEGIN(self, f);
    served_init(&f->served, ASYNCIO_LOOP(), 2);
    if ((f->rc = asyncio_start_server(&f->tcp, ASYNCIO_LOOP(), liner, sizeof(liner_t), "127.0.0.1", 0)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->serving_tcp = 1;
    if ((f->rc = asyncio_start_unix_server(&f->unx, ASYNCIO_LOOP(), liner, sizeof(liner_t), f->path)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->serving_unix = 1;
    connect_addr(f, 0, "127.0.0.2", f->tcp.port);
    connect_addr(f, 1, "127.0.0.1", f->tcp.port);
    f->ai[2] = f->ai[0];
    f->ai[0].ai_next = &f->ai[1];
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_addrinfo(&f->oc, f->ai));
    f->s[0] = (asyncio_stream *)ASYNCIO_RESULT().p;
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_unix(&f->oc, f->path));
    f->s[1] = (asyncio_stream *)ASYNCIO_RESULT().p;
    for (f->i = 0; f->i < 2; f->i++) {
        snprintf(f->line, sizeof f->line, "line %d\n", f->i);
        if ((f->rc = asyncio_stream_write(f->s[f->i], f->line, strlen(f->line))) < 0)
            ASYNCIO_RAISE(f->rc, NULL);
        ASYNCIO_AWAIT(asyncio_stream_drain(f->s[f->i]));
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s[f->i]));
        if (ASYNCIO_RESULT().i == 0)
            ASYNCIO_RAISE(ASYNCIO_EINCOMPLETE, "the server closed the connection");
        f->echoed += same(asyncio_stream_data(f->s[f->i]), (size_t)ASYNCIO_RESULT().i, (const unsigned char *)f->line,
                          strlen(f->line));
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection, asyncio_connect_addrinfo(&f->oc, &f->ai[2]));
    if (f->rc == 0) {
        asyncio_stream_abort((asyncio_stream *)ASYNCIO_RESULT().p);
        ASYNCIO_RAISE(ASYNCIO_EINVALIDSTATE, "connected to an address where nothing listens");
    }
    if (f->rc != -ECONNREFUSED)
        ASYNCIO_RAISE(f->rc, ASYNCIO_ERRMSG());
    for (f->i = 0; f->i < 2; f->i++) {
        f->closing = f->s[f->i];
        f->s[f->i] = NULL;
        ASYNCIO_AWAIT(asyncio_stream_close(f->closing));
    }
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->wait, &f->served.ended));
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->i < 2; f->i++)
            if (f->s[f->i]) {
                f->closing = f->s[f->i];
                f->s[f->i] = NULL;
                ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_close(f->closing));
            }
        if (f->serving_tcp)
            asyncio_server_close(&f->tcp);
        if (f->serving_unix)
            asyncio_server_close(&f->unx);
    }
    ASYNCIO_END();
}

static void connect_setup(void *frame)
{
    connect_t *f = (connect_t *)frame;
    snprintf(f->path, sizeof f->path, "/tmp/asyncio-torture-%d.sock", (int)getpid());
}

static const char *connect_check(void *frame, int mode, int injected, int rc)
{
    connect_t *f = (connect_t *)frame;
    unlink(f->path);
    if (rc == 0 && f->echoed != 2)
        return "main succeeded but a line was not echoed whole";
    return served_check(&f->served, mode, injected, rc);
}

/* ---- (i) timeouts: wait_for, wait, as_completed, shield, a scope ------- */
#define T_TASKS 7

typedef struct {
    asyncio_coro co;
    double delay;
    long long value;
} sleeper_t;

static int sleeper(asyncio_task *self, void *frame)
{
    sleeper_t *f = (sleeper_t *)frame;
    TASK_BEGIN(self, f);
    ASYNCIO_SLEEP(f->delay);
    ASYNCIO_RETURN(asyncio_int(f->value));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    sleeper_t sl[T_TASKS];
    asyncio_task t[T_TASKS];
    asyncio_timeout to;
    asyncio_wait_t w;
    asyncio_as_completed_t ac;
    asyncio_shield_t sh;
    asyncio_future *futs[2];
    asyncio_finally fin;
    int created, i, rc, step;
} timeouts_t;

/* 0 when rc is what the step wants; the injected fault's own error goes
   up as it is; anything else is a wrong answer. */
static int verdict(int rc, int want)
{
    if (rc == want)
        return 0;
    return rc == -ENOMEM || rc == ASYNCIO_ECANCELLED ? rc : ASYNCIO_EINVALIDSTATE;
}

/* Starts sleeper i (delay, value = i + 1): 0 or -ENOMEM. */
static int timeouts_start(asyncio_task *self, timeouts_t *f, double delay)
{
    f->sl[f->created].delay = delay;
    f->sl[f->created].value = f->created + 1;
    if (!asyncio_create_task(self->fut.loop, &f->t[f->created], sleeper, &f->sl[f->created]))
        return -ENOMEM;
    f->created++;
    return 0;
}

#define TIMEOUTS_STEP(rc_, want_)                                              \
    do {                                                                       \
        f->step++;                                                             \
        if ((f->rc = verdict((rc_), (want_))) != 0)                            \
            ASYNCIO_RAISE(f->rc, f->rc == ASYNCIO_EINVALIDSTATE ? "a timeout gave a wrong answer" : NULL); \
    } while (0)

static int timeouts_main(asyncio_task *self, void *frame)
{
    timeouts_t *f = (timeouts_t *)frame;
    TASK_BEGIN(self, f);
    /* wait_for that times out: the task is cancelled */
    TIMEOUTS_STEP(timeouts_start(self, f, 5), 0);
    ASYNCIO_WAIT_FOR_RC(f->rc, &f->to, &f->t[0].fut, 1);
    TIMEOUTS_STEP(f->rc, ASYNCIO_ETIMEDOUT);
    TIMEOUTS_STEP(asyncio_future_cancelled(&f->t[0].fut), 1);
    /* wait_for in time */
    TIMEOUTS_STEP(timeouts_start(self, f, 0.5), 0);
    ASYNCIO_WAIT_FOR_RC(f->rc, &f->to, &f->t[1].fut, 2);
    TIMEOUTS_STEP(f->rc, 0);
    TIMEOUTS_STEP((int)ASYNCIO_RESULT().i, 2);
    /* wait(FIRST_COMPLETED) */
    TIMEOUTS_STEP(timeouts_start(self, f, 1), 0);
    TIMEOUTS_STEP(timeouts_start(self, f, 3), 0);
    f->futs[0] = &f->t[2].fut;
    f->futs[1] = &f->t[3].fut;
    TIMEOUTS_STEP(asyncio_wait(&f->w, ASYNCIO_LOOP(), f->futs, 2, ASYNCIO_FIRST_COMPLETED, 10), 0);
    ASYNCIO_AWAIT(&f->w.fut);
    TIMEOUTS_STEP(asyncio_future_done(&f->t[2].fut) * 2 + asyncio_future_done(&f->t[3].fut), 2);
    /* as_completed: the quicker first */
    TIMEOUTS_STEP(timeouts_start(self, f, 2), 0);
    TIMEOUTS_STEP(timeouts_start(self, f, 1), 0);
    f->futs[0] = &f->t[4].fut;
    f->futs[1] = &f->t[5].fut;
    TIMEOUTS_STEP(asyncio_as_completed(&f->ac, ASYNCIO_LOOP(), f->futs, 2, 5), 0);
    for (f->i = 0; f->i < 2; f->i++) {
        ASYNCIO_AWAIT(asyncio_as_completed_next(&f->ac));
        TIMEOUTS_STEP((int)ASYNCIO_RESULT().i, 6 - f->i);
    }
    /* a shield: its waiter times out, the task inside goes on */
    TIMEOUTS_STEP(timeouts_start(self, f, 1), 0);
    TIMEOUTS_STEP(asyncio_shield(&f->sh, ASYNCIO_LOOP(), &f->t[6].fut), 0);
    TIMEOUTS_STEP(asyncio_timeout_enter(&f->to, self, 0.5), 0);
    ASYNCIO_AWAIT_RC(f->rc, &f->sh.fut);
    TIMEOUTS_STEP(asyncio_timeout_exit(&f->to, f->rc), ASYNCIO_ETIMEDOUT);
    ASYNCIO_AWAIT(&f->t[6].fut);
    TIMEOUTS_STEP((int)ASYNCIO_RESULT().i, 7);
    /* a scope moved earlier */
    TIMEOUTS_STEP(asyncio_timeout_enter(&f->to, self, 10), 0);
    ASYNCIO_SLEEP_RC(f->rc, 1);
    if (f->rc == 0)
        f->rc = asyncio_timeout_reschedule(&f->to, asyncio_loop_time(ASYNCIO_LOOP()) + 0.5);
    if (f->rc == 0) {
        ASYNCIO_SLEEP_RC(f->rc, 5);
    }
    TIMEOUTS_STEP(asyncio_timeout_exit(&f->to, f->rc), ASYNCIO_ETIMEDOUT);
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->i < f->created; f->i++)
            if (!asyncio_future_done(&f->t[f->i].fut)) {
                asyncio_task_cancel(&f->t[f->i]);
                ASYNCIO_AWAIT_RC(f->rc, &f->t[f->i].fut);
            }
    }
    ASYNCIO_END();
}

static const char *timeouts_check(void *frame, int mode, int injected, int rc)
{
    timeouts_t *f = (timeouts_t *)frame;
    static char why[96];
    if (rc == ASYNCIO_EINVALIDSTATE) {
        snprintf(why, sizeof why, "step %d gave a wrong answer", f->step);
        return why;
    }
    return torture_expected(mode, injected, rc);
}

/* ---- (j) sync: lock, semaphore, barrier, event, condition -------------- */
#define S_WORKERS 4
#define S_ROUNDS 3

typedef struct sync_s sync_t;
typedef struct {
    asyncio_coro co;
    sync_t *s;
    asyncio_sync_op op;
    asyncio_barrier_op bop;
    asyncio_predicate_op pop;
    int i, held, crit; /* held 1: the lock, 2: the semaphore; crit: in the lock's section */
} syncw_t;

struct sync_s {
    asyncio_coro co;
    asyncio_lock lock;
    asyncio_condition cond;
    asyncio_semaphore sem;
    asyncio_barrier bar;
    asyncio_event go;
    syncw_t w[S_WORKERS];
    asyncio_task t[S_WORKERS];
    asyncio_gather_t g;
    asyncio_sync_op op;
    asyncio_finally fin;
    int inited, inside, sem_inside, released, counter, passed, bad, mapped, i, rc;
};

static int released(void *arg) { return ((sync_t *)arg)->released; }

static int syncw(asyncio_task *self, void *frame)
{
    syncw_t *f = (syncw_t *)frame;
    sync_t *s = f->s;
    TASK_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->op, &s->go));
    for (f->i = 0; f->i < S_ROUNDS; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, &s->lock));
        f->held = 1;
        s->bad |= s->inside++ != 0;
        f->crit = 1;
        ASYNCIO_YIELD();
        f->crit = 0;
        s->inside--;
        s->counter++;
        f->held = 0;
        asyncio_lock_release(&s->lock);
    }
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_semaphore_op(&f->op, &s->sem));
    f->held = 2;
    s->bad |= ++s->sem_inside > 2;
    ASYNCIO_YIELD();
    s->sem_inside--;
    f->held = 0;
    asyncio_semaphore_release(&s->sem);
    ASYNCIO_AWAIT_CORO(asyncio_barrier_wait, asyncio_barrier_op_init(&f->bop, &s->bar));
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, &s->lock));
    f->held = 1;
    ASYNCIO_AWAIT_CORO(asyncio_condition_wait_for, asyncio_condition_wait_for_op(&f->pop, &s->cond, released, s));
    s->passed++;
    ASYNCIO_FINALLY
    if (f->crit)
        s->inside--;
    if (f->held == 1)
        asyncio_lock_release(&s->lock);
    else if (f->held == 2) {
        s->sem_inside--;
        asyncio_semaphore_release(&s->sem);
    }
    f->crit = f->held = 0;
    ASYNCIO_END();
}

static int sync_main(asyncio_task *self, void *frame)
{
    sync_t *f = (sync_t *)frame;
    TASK_BEGIN(self, f);
    asyncio_lock_init(&f->lock, ASYNCIO_LOOP());
    asyncio_condition_init(&f->cond, &f->lock);
    asyncio_semaphore_init(&f->sem, ASYNCIO_LOOP(), 2, 1);
    asyncio_barrier_init(&f->bar, ASYNCIO_LOOP(), S_WORKERS);
    asyncio_event_init(&f->go, ASYNCIO_LOOP());
    f->inited = 1;
    for (f->i = 0; f->i < S_WORKERS; f->i++)
        f->w[f->i].s = f;
    f->rc = asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->t, syncw, f->w, sizeof f->w[0], S_WORKERS, 0);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->mapped = 1;
    ASYNCIO_YIELD();
    asyncio_event_set(&f->go);
    for (f->i = 0; f->i < 8; f->i++) {
        ASYNCIO_YIELD();
    }
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, &f->lock));
    f->released = 1;
    asyncio_condition_notify_all(&f->cond);
    asyncio_lock_release(&f->lock);
    ASYNCIO_AWAIT(&f->g.fut);
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->mapped && f->i < S_WORKERS; f->i++)
            if (!asyncio_future_done(&f->t[f->i].fut)) {
                asyncio_task_cancel(&f->t[f->i]);
                ASYNCIO_AWAIT_RC(f->rc, &f->t[f->i].fut);
            }
    }
    ASYNCIO_END();
}

static const char *sync_check(void *frame, int mode, int injected, int rc)
{
    sync_t *f = (sync_t *)frame;
    if (f->bad)
        return "two workers held the lock, or three the semaphore of two";
    if (f->inited &&
        (asyncio_lock_locked(&f->lock) || asyncio_semaphore_locked(&f->sem) || f->inside || f->sem_inside))
        return "the lock or the semaphore was left held";
    if (rc == 0 && (f->counter != S_WORKERS * S_ROUNDS || f->passed != S_WORKERS))
        return "main succeeded before every worker was through";
    return torture_expected(mode, injected, rc);
}

/* ---- (k) async generators: break, run out, abandoned -------------------- */
typedef struct {
    asyncio_coro co;
    int i, n;
    int *cleaned;
    asyncio_finally fin;
} numbers_t;

static int numbers(asyncio_task *self, void *frame) /* a generator: runs inside its consumer's task */
{
    numbers_t *g = (numbers_t *)frame;
    ASYNCIO_BEGIN(self, g);
    for (g->i = 0; g->i < g->n; g->i++) {
        ASYNCIO_YIELD_VALUE(asyncio_int(g->i));
        if (g->i % 3 == 2) {
            ASYNCIO_YIELD();
        }
    }
    ASYNCIO_FINALLY_ASYNC(g->fin) { /* a cleanup that awaits */
        ASYNCIO_YIELD();
        (*g->cleaned)++;
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    numbers_t g;
    asyncio_value x;
} abandoner_t;

static int abandoner(asyncio_task *self, void *frame) /* leaves its generator open by failing */
{
    abandoner_t *f = (abandoner_t *)frame;
    TASK_BEGIN(self, f);
    ASYNCIO_FOR(f->x, numbers, &f->g) {
        if (f->x.i == 4)
            ASYNCIO_RAISE(ASYNCIO_EUSER, "left in the middle");
    }
    ASYNCIO_END();
}

/* Tasks made before the abandoner: with main, it and these the task
   registry (16 slots at first) is full when the loop spawns the task that
   closes the abandoned generator, so that spawn needs memory too. */
#define GEN_FILLERS 14

typedef struct {
    asyncio_coro co;
} filler_t;

static int filler(asyncio_task *self, void *frame)
{
    filler_t *f = (filler_t *)frame;
    TASK_BEGIN(self, f);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    filler_t fillers[GEN_FILLERS];
    asyncio_task ftasks[GEN_FILLERS];
    asyncio_gather_t g;
    numbers_t g1, g2;
    abandoner_t ab;
    asyncio_task t;
    asyncio_value x;
    asyncio_finally fin;
    int cleaned, sum1, sum2, mapped, created, unclosed, i, rc;
} gen_t;

static int gen_main(asyncio_task *self, void *frame)
{
    gen_t *f = (gen_t *)frame;
    TASK_BEGIN(self, f);
    f->rc = asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->ftasks, filler, f->fillers, sizeof f->fillers[0],
                               GEN_FILLERS, 0);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->mapped = 1;
    ASYNCIO_AWAIT(&f->g.fut);
    f->g1.n = 10;
    f->g1.cleaned = &f->cleaned;
    ASYNCIO_FOR(f->x, numbers, &f->g1) {
        f->sum1 += (int)f->x.i;
        if (f->x.i == 5)
            break;
    }
    f->g2.n = 4;
    f->g2.cleaned = &f->cleaned;
    ASYNCIO_FOR(f->x, numbers, &f->g2) {
        f->sum2 += (int)f->x.i;
    }
    f->ab.g.n = 10;
    f->ab.g.cleaned = &f->cleaned;
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->t, abandoner, &f->ab))
        ASYNCIO_RAISE(-ENOMEM, NULL);
    f->created = 1;
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    if (f->rc != ASYNCIO_EUSER)
        ASYNCIO_RAISE(f->rc == 0 ? ASYNCIO_EINVALIDSTATE : f->rc, NULL);
    /* the loop closes the abandoned generator soon after its owner ended */
    for (f->i = 0; f->i < 10 && f->cleaned < 3; f->i++) {
        ASYNCIO_YIELD();
    }
    if (f->cleaned != 3) {
        f->unclosed = 1;
        ASYNCIO_RAISE(ASYNCIO_EINVALIDSTATE, "the abandoned generator was never closed");
    }
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->mapped && f->i < GEN_FILLERS; f->i++)
            if (!asyncio_future_done(&f->ftasks[f->i].fut)) {
                asyncio_task_cancel(&f->ftasks[f->i]);
                ASYNCIO_AWAIT_RC(f->rc, &f->ftasks[f->i].fut);
            }
        if (f->created && !asyncio_future_done(&f->t.fut))
            asyncio_task_cancel(&f->t);
        if (f->created) { /* also its error, if main was cancelled before it read it */
            ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
        }
    }
    ASYNCIO_END();
}

static const char *gen_check(void *frame, int mode, int injected, int rc)
{
    gen_t *f = (gen_t *)frame;
    if (f->unclosed)
        return "the abandoned generator's cleanup never ran, and nothing said so";
    if (rc == 0 && (f->sum1 != 15 || f->sum2 != 6 || f->cleaned != 3))
        return "main succeeded but a generator's values or cleanups are missing";
    return torture_expected(mode, injected, rc);
}

/* ---- (l) threads: run_coroutine_threadsafe and call_soon_threadsafe ---- */
/* A job on the executor starts a coroutine on the loop and blocks for its
   result, and posts a callback; main awaits the job. */
typedef struct {
    asyncio_coro co;
    int i;
} remote_t;

static int remote_coro(asyncio_task *self, void *frame)
{
    remote_t *f = (remote_t *)frame;
    TASK_BEGIN(self, f);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_YIELD();
    }
    ASYNCIO_RETURN(asyncio_int(42));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_loop *loop;
    asyncio_work w;
    asyncio_remote r;
    remote_t frame;
    int posted, called, started;
    long long got;
} threads_t;

static void threads_called(asyncio_loop *loop, void *arg)
{
    (void)loop;
    ((threads_t *)arg)->called++;
}

static int threads_job(void *arg, asyncio_outcome *out)
{
    threads_t *f = (threads_t *)arg;
    asyncio_value v;
    int rc;
    f->posted = asyncio_call_soon_threadsafe(f->loop, NULL, threads_called, f) == 0;
    if ((rc = asyncio_run_coroutine_threadsafe(&f->r, f->loop, remote_coro, &f->frame)) < 0)
        return rc;
    f->started = 1;
    if ((rc = asyncio_remote_result(&f->r, -1, &v)) < 0)
        return rc;
    out->value = v;
    return 0;
}

static int threads_main(asyncio_task *self, void *frame)
{
    threads_t *f = (threads_t *)frame;
    TASK_BEGIN(self, f);
    f->loop = ASYNCIO_LOOP();
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->w, threads_job, f));
    f->got = ASYNCIO_RESULT().i;
    ASYNCIO_YIELD(); /* the callback posted before the coroutine started has run by now */
    ASYNCIO_END();
}

static const char *threads_check(void *frame, int mode, int injected, int rc)
{
    threads_t *f = (threads_t *)frame;
    if (f->started && !asyncio_remote_done(&f->r))
        return "the coroutine started from the worker never finished";
    if (rc == 0 && (f->got != 42 || f->called != 1 || !f->posted))
        return "main succeeded without the coroutine's result or the callback";
    return torture_expected(mode, injected, rc);
}

/* ---- (m) many: a hundred tasks, forty socket pairs --------------------- */
/* The loop's tables grow: the task registry, the timer heap, the fd table
   and the TaskGroup's error slots. */
#define M_TASKS 100
#define M_PAIRS 40

typedef struct many_s many_t;
typedef struct {
    asyncio_coro co;
    many_t *m;
    int id;
} mkid_t;

struct many_s {
    asyncio_coro co;
    asyncio_taskgroup tg;
    mkid_t kids[M_TASKS];
    int sv[M_PAIRS][2], added[M_PAIRS][2];
    int npairs, i, j, rc, woke, nnomem, nother;
};

static int mkid(asyncio_task *self, void *frame)
{
    mkid_t *f = (mkid_t *)frame;
    char c = 'x';
    TASK_BEGIN(self, f);
    ASYNCIO_SLEEP((f->id % 13) * 0.01);
    if (f->id < M_PAIRS) {
        if (write(f->m->sv[f->id][0], &c, 1) != 1)
            ASYNCIO_RAISE(-EIO, "write to a socket pair");
        ASYNCIO_WAIT_FD(f->m->sv[f->id][1], ASYNCIO_READABLE);
        if (read(f->m->sv[f->id][1], &c, 1) == 1)
            f->m->woke++;
    }
    ASYNCIO_END();
}

static int many_main(asyncio_task *self, void *frame)
{
    many_t *f = (many_t *)frame;
    size_t e;
    TASK_BEGIN(self, f);
    asyncio_taskgroup_enter(&f->tg, self);
    for (f->npairs = 0; f->npairs < M_PAIRS && f->rc == 0; f->npairs++) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv[f->npairs]) < 0) {
            f->rc = -errno;
            break;
        }
        for (f->j = 0; f->j < 2 && f->rc == 0; f->j++)
            f->added[f->npairs][f->j] = (f->rc = asyncio_fd_add(ASYNCIO_LOOP(), f->sv[f->npairs][f->j])) == 0;
    }
    for (f->i = 0; f->i < M_TASKS && f->rc == 0; f->i++) {
        f->kids[f->i].m = f;
        f->kids[f->i].id = f->i;
        f->rc = asyncio_taskgroup_create_task(&f->tg, NULL, mkid, &f->kids[f->i], NULL);
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, NULL));
    for (e = 0; e < asyncio_taskgroup_nerrors(&f->tg); e++) {
        int err = asyncio_taskgroup_error(&f->tg, e)->err;
        f->nnomem += err == -ENOMEM;
        f->nother += err != -ENOMEM;
    }
    asyncio_taskgroup_free(&f->tg);
    if (f->rc == ASYNCIO_EGROUP && f->nnomem && !f->nother)
        ASYNCIO_RAISE(-ENOMEM, NULL);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_FINALLY
    for (f->i = 0; f->i < f->npairs; f->i++)
        for (f->j = 0; f->j < 2; f->j++) {
            if (f->added[f->i][f->j])
                asyncio_fd_close(ASYNCIO_LOOP(), f->sv[f->i][f->j]);
            else
                close(f->sv[f->i][f->j]);
        }
    ASYNCIO_END();
}

static const char *many_check(void *frame, int mode, int injected, int rc)
{
    many_t *f = (many_t *)frame;
    if (f->nother)
        return "the group lists an error other than -ENOMEM";
    if (rc == 0 && f->woke != M_PAIRS)
        return "main succeeded before every pair was read";
    return torture_expected(mode, injected, rc);
}

/* ---- (n) futures: many awaiters, done callbacks, loop-allocated handles - */
/* Six tasks await one future (its waiter list grows), six done callbacks
   are added and one removed, a call_soon and a call_later the loop
   allocates.  A callback whose add returned 0 runs once, unless removed;
   one whose add failed never runs. */
#define FU_WAITERS 6
#define FU_CALLBACKS 6

typedef struct futs_s futs_t;
typedef struct {
    asyncio_coro co;
    futs_t *s;
    int id;
} fwaiter_t;

struct futs_s {
    asyncio_coro co;
    asyncio_future fut;
    fwaiter_t w[FU_WAITERS];
    asyncio_task t[FU_WAITERS];
    asyncio_gather_t g;
    asyncio_finally fin;
    int added[FU_CALLBACKS], ran[FU_CALLBACKS], got[FU_WAITERS];
    int soon_ok, soon_ran, later_ok, later_ran, nomem, mapped, i, rc;
};

static int fwaiter(asyncio_task *self, void *frame)
{
    fwaiter_t *f = (fwaiter_t *)frame;
    TASK_BEGIN(self, f);
    ASYNCIO_AWAIT(&f->s->fut);
    f->s->got[f->id] = ASYNCIO_RESULT().i == 77 ? 1 : -1;
    ASYNCIO_END();
}

static void fdone(asyncio_future *fut, void *arg)
{
    (void)fut;
    ++*(int *)arg;
}

static void fsoon(asyncio_loop *loop, void *arg)
{
    (void)loop;
    ++*(int *)arg;
}

static int futures_main(asyncio_task *self, void *frame)
{
    futs_t *f = (futs_t *)frame;
    TASK_BEGIN(self, f);
    asyncio_future_init(&f->fut, ASYNCIO_LOOP());
    for (f->i = 0; f->i < FU_WAITERS; f->i++) {
        f->w[f->i].s = f;
        f->w[f->i].id = f->i;
    }
    f->rc = asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->t, fwaiter, f->w, sizeof f->w[0], FU_WAITERS, 0);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->mapped = 1;
    ASYNCIO_YIELD(); /* every waiter is waiting now */
    for (f->i = 0; f->i < FU_CALLBACKS; f->i++) {
        f->rc = asyncio_future_add_done_callback(&f->fut, fdone, &f->ran[f->i]);
        f->added[f->i] = f->rc == 0;
        f->nomem |= f->rc == -ENOMEM;
    }
    if (f->added[1] && asyncio_future_remove_done_callback(&f->fut, fdone, &f->ran[1]) == 1)
        f->added[1] = 0;
    f->rc = asyncio_call_soon(ASYNCIO_LOOP(), NULL, fsoon, &f->soon_ran);
    f->soon_ok = f->rc == 0;
    f->nomem |= f->rc == -ENOMEM;
    f->rc = asyncio_call_later(ASYNCIO_LOOP(), NULL, 0.5, fsoon, &f->later_ran);
    f->later_ok = f->rc == 0;
    f->nomem |= f->rc == -ENOMEM;
    asyncio_future_set_result(&f->fut, asyncio_int(77));
    ASYNCIO_AWAIT(&f->g.fut);
    ASYNCIO_SLEEP(1);
    if (f->nomem)
        ASYNCIO_RAISE(-ENOMEM, NULL);
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        for (f->i = 0; f->mapped && f->i < FU_WAITERS; f->i++)
            if (!asyncio_future_done(&f->t[f->i].fut)) {
                asyncio_task_cancel(&f->t[f->i]);
                ASYNCIO_AWAIT_RC(f->rc, &f->t[f->i].fut);
            }
    }
    ASYNCIO_END();
}

static const char *futures_check(void *frame, int mode, int injected, int rc)
{
    futs_t *f = (futs_t *)frame;
    int i;
    for (i = 0; i < FU_CALLBACKS; i++)
        if (f->ran[i] > f->added[i] || (rc == 0 && f->ran[i] != f->added[i]))
            return "a done callback ran twice, or removed, or never added, or not at all";
    for (i = 0; i < FU_WAITERS; i++)
        if (f->got[i] < 0 || (rc == 0 && f->got[i] != 1))
            return "an awaiter of the future missed its result";
    if (f->soon_ran > f->soon_ok || f->later_ran > f->later_ok ||
        (rc == 0 && (f->soon_ran != 1 || f->later_ran != 1)))
        return "a call_soon or call_later ran twice, or without being scheduled, or not at all";
    return torture_expected(mode, injected, rc);
}

/* ---- (o) reader: a stream fed by hand, and read and write timeouts ----- */
/* A feeder task hands a reader-only stream lines, a line over the limit
   and a long tail in pieces; main reads them with readline, readuntil and
   readexactly.  Then a stream over a socket pair whose peer says nothing
   (a read times out, the stream stays usable) and reads nothing (a drain
   times out). */
#define R_TAIL 3000

typedef struct reader_s reader_t;
typedef struct {
    asyncio_coro co;
    reader_t *r;
    int i;
} feeder_t;

struct reader_s {
    asyncio_coro co;
    asyncio_stream *s, *p;
    feeder_t feeder;
    asyncio_task ft;
    asyncio_read_t rd;
    asyncio_finally fin;
    char tail[R_TAIL];
    int sv[2], created, feed_rc, lines, step, i, rc;
};

static int feeder(asyncio_task *self, void *frame)
{
    static const char *const pieces[] = {"alpha\nbe", "ta\n", "this-line-is-over-the-limit\n", "end;"};
    feeder_t *f = (feeder_t *)frame;
    reader_t *r = f->r;
    TASK_BEGIN(self, f);
    for (f->i = 0; f->i < 4 && r->feed_rc == 0; f->i++) {
        r->feed_rc = asyncio_stream_feed_data(r->s, pieces[f->i], strlen(pieces[f->i]));
        ASYNCIO_YIELD();
    }
    for (f->i = 0; f->i < R_TAIL && r->feed_rc == 0; f->i += R_TAIL / 3) {
        r->feed_rc = asyncio_stream_feed_data(r->s, r->tail + f->i, R_TAIL / 3);
        ASYNCIO_YIELD();
    }
    /* what could not be handed over ends the stream early: the reader sees it */
    asyncio_stream_feed_eof(r->s);
    ASYNCIO_END();
}

/* rc when it is want, else the fault's own error, else a wrong answer */
#define READER_EXPECT(rc_, want_)                                              \
    do {                                                                       \
        f->step++;                                                             \
        if ((f->rc = verdict((rc_), (want_))) != 0)                            \
            ASYNCIO_RAISE(f->feed_rc ? f->feed_rc : f->rc, NULL);              \
    } while (0)

static int reader_main(asyncio_task *self, void *frame)
{
    reader_t *f = (reader_t *)frame;
    TASK_BEGIN(self, f);
    if (!(f->s = asyncio_stream_new_reader(ASYNCIO_LOOP())))
        ASYNCIO_RAISE(-ENOMEM, NULL);
    asyncio_stream_set_limit(f->s, 16);
    f->feeder.r = f;
    if (!asyncio_create_task(ASYNCIO_LOOP(), &f->ft, feeder, &f->feeder))
        ASYNCIO_RAISE(-ENOMEM, NULL);
    f->created = 1;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    READER_EXPECT(f->rc, 0);
    f->lines += same(asyncio_stream_data(f->s), (size_t)ASYNCIO_RESULT().i, (const unsigned char *)"alpha\n", 6);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    READER_EXPECT(f->rc, 0);
    f->lines += same(asyncio_stream_data(f->s), (size_t)ASYNCIO_RESULT().i, (const unsigned char *)"beta\n", 5);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    READER_EXPECT(f->rc, ASYNCIO_ELIMIT);
    asyncio_stream_set_limit(f->s, 65536);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readuntil(&f->rd, f->s, ";", 1));
    READER_EXPECT(f->rc, 0);
    f->lines += same(asyncio_stream_data(f->s), (size_t)ASYNCIO_RESULT().i, (const unsigned char *)"end;", 4);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, R_TAIL));
    READER_EXPECT(f->rc, 0);
    f->lines += same(asyncio_stream_data(f->s), (size_t)ASYNCIO_RESULT().i, (const unsigned char *)f->tail, R_TAIL);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 1));
    READER_EXPECT(f->rc, ASYNCIO_EINCOMPLETE);
    /* a socket pair: the peer is silent, then reads nothing */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv) < 0)
        ASYNCIO_RAISE(-errno, "socketpair");
    if (!(f->p = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[0]))) {
        close(f->sv[0]);
        close(f->sv[1]);
        ASYNCIO_RAISE(-ENOMEM, NULL);
    }
    READER_EXPECT(asyncio_stream_set_timeouts(f->p, 0.5, 0), 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->p, 10));
    READER_EXPECT(f->rc, ASYNCIO_EREADTIMEOUT);
    READER_EXPECT((int)write(f->sv[1], "late\n", 5), 5);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->p));
    READER_EXPECT(f->rc, 0);
    f->lines += same(asyncio_stream_data(f->p), (size_t)ASYNCIO_RESULT().i, (const unsigned char *)"late\n", 5);
    READER_EXPECT(asyncio_stream_set_timeouts(f->p, 0, 0.5), 0);
    /* past what the kernel holds, until drain has to wait */
    for (f->i = 0; f->i < 4096 && f->rc == 0 && asyncio_stream_write_buffer_size(f->p) < 131072; f->i++)
        f->rc = asyncio_stream_write(f->p, f->tail, R_TAIL);
    READER_EXPECT(f->rc, 0);
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->p));
    READER_EXPECT(f->rc, ASYNCIO_EWRITETIMEOUT);
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        if (f->created && !asyncio_future_done(&f->ft.fut)) {
            asyncio_task_cancel(&f->ft);
            ASYNCIO_AWAIT_RC(f->rc, &f->ft.fut);
        }
        if (f->s) {
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_close(f->s));
        }
        f->s = NULL;
        if (f->p) {
            close(f->sv[1]);
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_close(f->p));
        }
        f->p = NULL;
    }
    ASYNCIO_END();
}

static void reader_setup(void *frame)
{
    reader_t *f = (reader_t *)frame;
    fill((unsigned char *)f->tail, R_TAIL);
}

static const char *reader_check(void *frame, int mode, int injected, int rc)
{
    static char why[64];
    reader_t *f = (reader_t *)frame;
    if (rc == ASYNCIO_EINVALIDSTATE) {
        snprintf(why, sizeof why, "step %d gave a wrong answer", f->step);
        return why;
    }
    if (rc == 0 && f->lines != 5)
        return "main succeeded but a piece read back differs";
    return torture_expected(mode, injected, rc);
}

/* ---- (p) signals: a handler, a signal, its removal ---------------------- */
typedef struct {
    asyncio_coro co;
    asyncio_event got;
    asyncio_sync_op wait;
    int added, removed, rc;
} signals_t;

static void on_usr1(asyncio_loop *loop, void *arg)
{
    (void)loop;
    asyncio_event_set(&((signals_t *)arg)->got);
}

static int signals_main(asyncio_task *self, void *frame)
{
    signals_t *f = (signals_t *)frame;
    TASK_BEGIN(self, f);
    asyncio_event_init(&f->got, ASYNCIO_LOOP());
    if ((f->rc = asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGUSR1, on_usr1, f)) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->added = 1;
    kill(getpid(), SIGUSR1);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->wait, &f->got));
    ASYNCIO_FINALLY
    if (f->added)
        f->removed = asyncio_remove_signal_handler(ASYNCIO_LOOP(), SIGUSR1);
    ASYNCIO_END();
}

static const char *signals_check(void *frame, int mode, int injected, int rc)
{
    signals_t *f = (signals_t *)frame;
    if (f->added && f->removed != 1)
        return "the handler was gone before its removal";
    return torture_expected(mode, injected, rc);
}

/* ---- (q) clients: four at once, a server that serves two at a time ----- */
#define C_CLIENTS 4

typedef struct clients_s clients_t;
typedef struct {
    asyncio_coro co;
    clients_t *c;
    asyncio_connect_t oc;
    asyncio_stream *s, *closing;
    asyncio_read_t rd;
    asyncio_finally fin;
    char line[24];
    int id, rc, echoed;
} client_t;

struct clients_s {
    asyncio_coro co;
    asyncio_server srv;
    asyncio_server_options opts;
    served_t served;
    asyncio_taskgroup tg;
    client_t cl[C_CLIENTS];
    asyncio_task t[C_CLIENTS];
    asyncio_sync_op wait;
    int serving, i, rc, nnomem, nother;
};

static int client(asyncio_task *self, void *frame)
{
    client_t *f = (client_t *)frame;
    TASK_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->c->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    snprintf(f->line, sizeof f->line, "client %d\n", f->id);
    if ((f->rc = asyncio_stream_write(f->s, f->line, strlen(f->line))) < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    if (ASYNCIO_RESULT().i == 0)
        ASYNCIO_RAISE(ASYNCIO_EINCOMPLETE, "the server closed the connection");
    f->echoed = same(asyncio_stream_data(f->s), (size_t)ASYNCIO_RESULT().i, (const unsigned char *)f->line,
                     strlen(f->line)) ? 1 : -1;
    ASYNCIO_FINALLY_ASYNC(f->fin) {
        if (f->s) {
            f->closing = f->s;
            f->s = NULL;
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_close(f->closing));
        }
    }
    ASYNCIO_END();
}

static int clients_main(asyncio_task *self, void *frame)
{
    clients_t *f = (clients_t *)frame;
    size_t e;
    TASK_BEGIN(self, f);
    served_init(&f->served, ASYNCIO_LOOP(), C_CLIENTS);
    f->opts.max_connections = 2;
    f->rc = asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), liner, sizeof(liner_t), "127.0.0.1", 0, &f->opts);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    f->serving = 1;
    asyncio_taskgroup_enter(&f->tg, self);
    for (f->i = 0; f->i < C_CLIENTS && f->rc == 0; f->i++) {
        f->cl[f->i].c = f;
        f->cl[f->i].id = f->i;
        f->rc = asyncio_taskgroup_create_task(&f->tg, &f->t[f->i], client, &f->cl[f->i], NULL);
    }
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait, asyncio_taskgroup_exit(&f->tg, f->rc, NULL));
    for (e = 0; e < asyncio_taskgroup_nerrors(&f->tg); e++) {
        int err = asyncio_taskgroup_error(&f->tg, e)->err;
        f->nnomem += err == -ENOMEM;
        f->nother += err != -ENOMEM && !peer_error(err);
    }
    asyncio_taskgroup_free(&f->tg);
    if (f->rc == ASYNCIO_EGROUP && !f->nother)
        ASYNCIO_RAISE(f->nnomem ? -ENOMEM : ASYNCIO_EINCOMPLETE, NULL);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, NULL);
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&f->wait, &f->served.ended));
    ASYNCIO_FINALLY
    if (f->serving)
        asyncio_server_close(&f->srv);
    ASYNCIO_END();
}

static const char *clients_check(void *frame, int mode, int injected, int rc)
{
    clients_t *f = (clients_t *)frame;
    int i;
    if (f->nother)
        return "a client failed with an error no fault explains";
    for (i = 0; i < C_CLIENTS; i++)
        if (f->cl[i].echoed < 0 || (rc == 0 && f->cl[i].echoed != 1))
            return "a client's line came back damaged, or not at all";
    return served_check(&f->served, mode, injected, rc);
}

#define SCENARIO(name, type, setup) {#name, sizeof(type), name##_main, setup, name##_check}
const torture_scenario torture_scenarios[] = {
    SCENARIO(echo, echo_t, echo_setup),
    SCENARIO(tg, tg_t, NULL),
    SCENARIO(gather, gather_t, NULL),
    SCENARIO(queue, queue_t, NULL),
    {"bqueue", sizeof(queue_t), queue_main, bqueue_setup, queue_check},
    SCENARIO(exec, exec_t, exec_setup),
    SCENARIO(proc, proc_t, proc_setup),
    SCENARIO(files, files_t, files_setup),
    SCENARIO(connect, connect_t, connect_setup),
    SCENARIO(timeouts, timeouts_t, NULL),
    SCENARIO(sync, sync_t, NULL),
    SCENARIO(gen, gen_t, NULL),
    SCENARIO(threads, threads_t, NULL),
    SCENARIO(many, many_t, NULL),
    SCENARIO(futures, futs_t, NULL),
    SCENARIO(reader, reader_t, reader_setup),
    SCENARIO(signals, signals_t, NULL),
    SCENARIO(clients, clients_t, NULL),
};
const size_t torture_nscenarios = sizeof torture_scenarios / sizeof torture_scenarios[0];
