/* bench/tree.c N -- how long the await tree of N pending tasks takes.

   N tasks each sleep inside an inline child coroutine (two frames per
   task), gathered by the main task; once all sleep, the tree is written
   to /dev/null with asyncio_print_await_tree.  Real clock.  Prints one
   line of JSON:

     {"bench":"tree","n":N,"debug":D,"tree_ms":T,"tasks_written":W,"bytes":B}

   tree_ms: CLOCK_MONOTONIC around the call; bytes: the size of the same
   tree written once more to a temporary file.  debug: ASYNCIO_DEBUG of
   this build (file and function names are printed only in debug
   builds).  The target: N = 100 000 in under a second. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "bench.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    asyncio_coro co;
} nap_t;
static int nap(asyncio_task *self, void *frame)
{
    nap_t *f = (nap_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_SLEEP(3600);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    nap_t child;
} sleeper_t;
static int sleeper(asyncio_task *self, void *frame)
{
    sleeper_t *f = (sleeper_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(nap, &f->child);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    size_t n, i;
    asyncio_task *tasks;
    sleeper_t *frames;
    asyncio_future **futs;
    asyncio_gather_t g;
} main_t;
static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < f->n; f->i++) {
        if (!asyncio_create_task(ASYNCIO_LOOP(), &f->tasks[f->i], sleeper, &f->frames[f->i]))
            ASYNCIO_RAISE(-ENOMEM, NULL);
        f->futs[f->i] = &f->tasks[f->i].fut;
    }
    if (asyncio_gather(&f->g, ASYNCIO_LOOP(), f->futs, f->n, 0) < 0)
        ASYNCIO_RAISE(-ENOMEM, NULL);
    ASYNCIO_AWAIT(&f->g.fut);
    ASYNCIO_END();
}

typedef struct {
    asyncio_task *main;
    long long ns;
    int written;
    long long bytes;
} probe_t;
static void probe(asyncio_loop *loop, void *arg)
{
    probe_t *p = (probe_t *)arg;
    char path[] = "/tmp/asyncio-tree-XXXXXX";
    int null = open("/dev/null", O_WRONLY), tmp = mkstemp(path);
    struct stat st;
    long long t0 = mono_ns();
    p->written = asyncio_print_await_tree(loop, null);
    p->ns = mono_ns() - t0;
    if (tmp >= 0 && asyncio_print_await_tree(loop, tmp) >= 0 && fstat(tmp, &st) == 0)
        p->bytes = (long long)st.st_size;
    if (tmp >= 0) {
        close(tmp);
        unlink(path);
    }
    close(null);
    asyncio_task_cancel(p->main);
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_loop loop;
    asyncio_task t;
    probe_t p = {0};
    m.n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 100000;
    m.tasks = (asyncio_task *)calloc(m.n, sizeof *m.tasks);
    m.frames = (sleeper_t *)calloc(m.n, sizeof *m.frames);
    m.futs = (asyncio_future **)calloc(m.n, sizeof *m.futs);
    if (!m.tasks || !m.frames || !m.futs || asyncio_loop_init(&loop, NULL) < 0)
        return 1;
    asyncio_create_task(&loop, &t, main_coro, &m);
    p.main = &t;
    asyncio_call_later(&loop, NULL, 0.01, probe, &p); /* every task asleep by then */
    asyncio_loop_run_until_complete(&loop, &t.fut);
    asyncio_loop_close(&loop);
    printf("{\"bench\":\"tree\",\"n\":%zu,\"debug\":%d,\"tree_ms\":%.1f,\"tasks_written\":%d,\"bytes\":%lld}\n", m.n,
           ASYNCIO_DEBUG, (double)p.ns / 1e6, p.written, p.bytes);
    free(m.tasks);
    free(m.frames);
    free(m.futs);
    return p.written == (int)m.n + 1 ? 0 : 1;
}
