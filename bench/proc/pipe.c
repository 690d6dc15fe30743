/* bench/proc/pipe.c -- pipe throughput through `cat`, asyncio.h.

     pipe SIZE CHUNK [PIPESIZE]    e.g. pipe 1g 256k, pipe 1g 256k 1m

   asyncio_create_subprocess_exec("/bin/cat") with stdin and stdout as
   ASYNCIO_PIPE (streams of the process); PIPESIZE (default 0: the
   kernel's, 64 KiB) goes to asyncio_process_options.pipe_size, the kernel
   buffer of each pipe (Python's pipesize, F_SETPIPE_SZ).  A writer task
   writes SIZE bytes of the pattern into stdin, CHUNK at a time, each
   write followed by await drain (the streams' default marks, 64 KiB /
   16 KiB), then closes stdin; meanwhile the main coroutine reads stdout
   with asyncio_stream_read(CHUNK) to end of stream, checking every byte
   against the pattern, then awaits the writer and asyncio_process_wait.
   The time runs from just before the create call to the wait's return.
   One JSON line:
     {"bench":"pipe_cat","impl":"asyncio.h","bytes":..,"chunk":..,"pipe_size":..,
      "wall_s":..,"mib_per_s":..,"cpu_s":..,"reads":..}
   pipe_size: the kernel buffer of cat's stdout pipe, as F_GETPIPE_SZ
   reports it (bytes); reads: how many reads returned data (SIZE / reads
   is the mean read); cpu_s: this process's CPU time (cat's is not
   counted).  Checks: every byte arrived, in order, none extra; cat exited
   0; both pipes hold at least PIPESIZE.  Exit status 1 otherwise. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"
#include "common.h"

typedef struct {
    asyncio_coro co;
    asyncio_stream *in;
    const unsigned char *pat;
    long long size, off;
    size_t chunk, n;
} writer_t;

static int writer(asyncio_task *self, void *frame)
{
    writer_t *w = (writer_t *)frame;
    int rc;
    ASYNCIO_BEGIN(self, w);
    while (w->off < w->size) {
        w->n = w->size - w->off < (long long)w->chunk ? (size_t)(w->size - w->off) : w->chunk;
        if ((rc = asyncio_stream_write(w->in, pattern_at(w->pat, w->off), w->n)) < 0)
            ASYNCIO_RAISE(rc, asyncio_errmsg());
        w->off += (long long)w->n;
        ASYNCIO_AWAIT(asyncio_stream_drain(w->in));
    }
    ASYNCIO_AWAIT(asyncio_stream_close(w->in)); /* flushes, then end of file for cat */
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    long long size, got, reads, t0, t1, c0, c1;
    size_t chunk;
    const unsigned char *pat;
    asyncio_process *p;
    asyncio_stream *out;
    asyncio_read_t rd;
    asyncio_process_op op;
    writer_t w;
    asyncio_task wt;
    size_t pipe_size;
    long pipe_got;
    int status, bad;
} main_t;

static int run(asyncio_task *self, void *frame)
{
    main_t *m = (main_t *)frame;
    static const char *const argv[] = {"/bin/cat", NULL};
    asyncio_process_options o;
    size_t n;
    int rc;
    ASYNCIO_BEGIN(self, m);
    memset(&o, 0, sizeof o);
    o.stdio[0].mode = ASYNCIO_PIPE;
    o.stdio[1].mode = ASYNCIO_PIPE;
    o.pipe_size = m->pipe_size;
    m->t0 = mono_ns();
    m->c0 = cpu_ns();
    if ((rc = asyncio_create_subprocess_exec(&m->p, ASYNCIO_LOOP(), argv, &o)) < 0)
        ASYNCIO_RAISE(rc, asyncio_errmsg());
    m->out = asyncio_process_stdout(m->p);
    m->w.in = asyncio_process_stdin(m->p);
    m->pipe_got = pipe_size_of(asyncio_stream_fd(m->out));
    if (m->pipe_got < (long)m->pipe_size || pipe_size_of(asyncio_stream_fd(m->w.in)) < (long)m->pipe_size)
        ASYNCIO_RAISE(-EINVAL, "pipes smaller than the pipe_size asked for");
    m->w.pat = m->pat;
    m->w.size = m->size;
    m->w.chunk = m->chunk;
    asyncio_create_task(ASYNCIO_LOOP(), &m->wt, writer, &m->w);
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&m->rd, m->out, m->chunk));
        n = (size_t)ASYNCIO_RESULT().i;
        if (n == 0)
            break;
        if (m->got + (long long)n > m->size || !pattern_check(m->pat, m->got, asyncio_stream_data(m->out), n)) {
            m->bad = 1;
            fprintf(stderr, "pipe: wrong bytes at or after offset %lld\n", m->got);
            asyncio_process_kill(m->p);
            break;
        }
        m->got += (long long)n;
        m->reads++;
    }
    ASYNCIO_AWAIT(&m->wt.fut);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&m->op, m->p));
    m->status = (int)ASYNCIO_RESULT().i;
    m->t1 = mono_ns();
    m->c1 = cpu_ns();
    asyncio_process_release(m->p);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_config cfg;
    asyncio_outcome out;
    long long ps = 0;
    if (argc < 3 || (m.size = parse_size(argv[1])) < 0 || parse_size(argv[2]) <= 0 ||
        parse_size(argv[2]) > PATTERN_SLACK) {
        fprintf(stderr, "usage: pipe SIZE CHUNK [PIPESIZE] (CHUNK up to 1m; PIPESIZE 0: the kernel's)\n");
        return 2;
    }
    if (argc > 3 && (ps = parse_size(argv[3])) < 0) {
        fprintf(stderr, "pipe: PIPESIZE is a size, not %s\n", argv[3]);
        return 2;
    }
    m.pipe_size = (size_t)ps;
    m.chunk = (size_t)parse_size(argv[2]);
    if (!(m.pat = pattern_new()))
        return 1;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    if (asyncio_run_config(&cfg, run, &m, &out) != 0 || out.err) {
        fprintf(stderr, "pipe: %s\n", out.msg ? out.msg : "failed");
        return 1;
    }
    if (m.bad || m.got != m.size || m.status != 0) {
        fprintf(stderr, "pipe: %lld of %lld bytes back, cat's returncode %d\n", m.got, m.size, m.status);
        return 1;
    }
    printf("{\"bench\":\"pipe_cat\",\"impl\":\"asyncio.h\",\"bytes\":%lld,\"chunk\":%zu,\"pipe_size\":%ld,"
           "\"wall_s\":%.3f,\"mib_per_s\":%.1f,\"cpu_s\":%.3f,\"reads\":%lld}\n",
           m.size, m.chunk, m.pipe_got, (double)(m.t1 - m.t0) / 1e9,
           (double)m.size / 1048576.0 / ((double)(m.t1 - m.t0) / 1e9), (double)(m.c1 - m.c0) / 1e9, m.reads);
    free((void *)m.pat);
    return 0;
}
