/* bench/proc/pipe_uv.c -- libuv counterpart of pipe.c: pipe throughput
   through `cat`.

     pipe_uv SIZE CHUNK [socketpair|pipe]     e.g. pipe_uv 1g 256k

   uv_spawn("/bin/cat") with its stdin and stdout on uv_pipe_t handles:
   socketpair (the default) is libuv's own way, UV_CREATE_PIPE, which
   makes each an AF_UNIX socketpair (bigger kernel buffers than a pipe's
   64 KiB); pipe gives cat real pipes like the other programs' (uv_pipe()
   makes them, the child's ends go in as UV_INHERIT_FD, the parent's are
   uv_pipe_open'ed).  The writer keeps two uv_write requests of CHUNK
   bytes of the pattern in flight (a new one from each write callback)
   and closes stdin after the last; the reader is uv_read_start with a CHUNK buffer,
   checking every byte against the pattern, closing stdout at UV_EOF.  The
   time runs from just before uv_spawn to the return of uv_run (the exit
   callback has run and every handle is closed).  The same JSON line as
   pipe.c with "impl":"libuv" and "ipc":"socketpair"|"pipe" ("pipe_size":
   0 for socketpairs, which are not pipes); the same checks.  No PIPESIZE
   argument: libuv has no option for a pipe's kernel buffer (its
   UV_CREATE_PIPE makes socketpairs anyway), so libuv runs only at the
   default size. */
#define _GNU_SOURCE 1
#include <uv.h>

#include "common.h"

enum { INFLIGHT = 2 };

static uv_loop_t *loop;
static uv_process_t proc;
static uv_pipe_t in, out;
static uv_write_t wreq[INFLIGHT];
static int wbusy[INFLIGHT], inflight, errors, bad;
static long long size, woff, got, reads;
static int64_t status = -1;
static int term_signal;
static size_t chunk;
static unsigned char *pat, *rbuf;

static void on_closed(uv_handle_t *h) { (void)h; }

static void write_more(void);

static void on_write(uv_write_t *req, int st)
{
    wbusy[req - wreq] = 0;
    inflight--;
    if (st < 0) {
        fprintf(stderr, "pipe_uv: write: %s\n", uv_strerror(st));
        errors++;
    }
    write_more();
}

static void write_more(void)
{
    int i;
    while (inflight < INFLIGHT && woff < size && !errors) {
        size_t n = size - woff < (long long)chunk ? (size_t)(size - woff) : chunk;
        uv_buf_t b = uv_buf_init((char *)pattern_at(pat, woff), (unsigned)n);
        for (i = 0; wbusy[i]; i++)
            ;
        if (uv_write(&wreq[i], (uv_stream_t *)&in, &b, 1, on_write) != 0) {
            errors++;
            break;
        }
        wbusy[i] = 1;
        inflight++;
        woff += (long long)n;
    }
    if (inflight == 0 && !uv_is_closing((uv_handle_t *)&in))
        uv_close((uv_handle_t *)&in, on_closed); /* end of file for cat */
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    *b = uv_buf_init((char *)rbuf, (unsigned)chunk);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    if (n > 0) {
        if (got + n > size || !pattern_check(pat, got, b->base, (size_t)n)) {
            fprintf(stderr, "pipe_uv: wrong bytes at or after offset %lld\n", got);
            bad = 1;
            uv_process_kill(&proc, SIGKILL);
            uv_close((uv_handle_t *)s, on_closed);
            return;
        }
        got += n;
        reads++;
    } else if (n < 0) {
        if (n != UV_EOF) {
            fprintf(stderr, "pipe_uv: read: %s\n", uv_strerror((int)n));
            errors++;
        }
        uv_close((uv_handle_t *)s, on_closed);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int sig)
{
    status = exit_status;
    term_signal = sig;
    uv_close((uv_handle_t *)p, on_closed);
}

int main(int argc, char **argv)
{
    char *args[] = {"/bin/cat", NULL};
    const char *ipc = argc > 3 ? argv[3] : "socketpair";
    uv_file pin[2] = {-1, -1}, pout[2] = {-1, -1};
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    long long t0, t1, c0, c1;
    long pipe_got = 0;
    uv_os_fd_t ofd;
    int rc;
    if (argc < 3 || (size = parse_size(argv[1])) < 0 || parse_size(argv[2]) <= 0 ||
        parse_size(argv[2]) > PATTERN_SLACK) {
        fprintf(stderr, "usage: pipe_uv SIZE CHUNK [socketpair|pipe] (CHUNK up to 1m)\n");
        return 2;
    }
    chunk = (size_t)parse_size(argv[2]);
    if (!(pat = pattern_new()) || !(rbuf = (unsigned char *)malloc(chunk)))
        return 1;
    signal(SIGPIPE, SIG_IGN);
    loop = uv_default_loop();
    uv_pipe_init(loop, &in, 0);
    uv_pipe_init(loop, &out, 0);
    memset(&o, 0, sizeof o);
    if (strcmp(ipc, "pipe") == 0) {
        if (uv_pipe(pin, 0, 0) != 0 || uv_pipe(pout, 0, 0) != 0 || uv_pipe_open(&in, pin[1]) != 0 ||
            uv_pipe_open(&out, pout[0]) != 0) {
            fprintf(stderr, "pipe_uv: no pipes\n");
            return 1;
        }
        stdio[0].flags = UV_INHERIT_FD;
        stdio[0].data.fd = pin[0];
        stdio[1].flags = UV_INHERIT_FD;
        stdio[1].data.fd = pout[1];
    } else if (strcmp(ipc, "socketpair") == 0) {
        stdio[0].flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_READABLE_PIPE); /* the child's view */
        stdio[0].data.stream = (uv_stream_t *)&in;
        stdio[1].flags = (uv_stdio_flags)(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
        stdio[1].data.stream = (uv_stream_t *)&out;
    } else {
        fprintf(stderr, "pipe_uv: socketpair or pipe, not %s\n", ipc);
        return 2;
    }
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    o.file = args[0];
    o.args = args;
    o.exit_cb = on_exit_cb;
    o.stdio_count = 3;
    o.stdio = stdio;
    t0 = mono_ns();
    c0 = cpu_ns();
    if ((rc = uv_spawn(loop, &proc, &o)) != 0) {
        fprintf(stderr, "pipe_uv: cannot start cat: %s\n", uv_strerror(rc));
        return 1;
    }
    if (pin[0] >= 0) { /* the child's ends */
        close(pin[0]);
        close(pout[1]);
    }
    if (uv_fileno((uv_handle_t *)&out, &ofd) == 0)
        pipe_got = pipe_size_of(ofd); /* 0: a socket */
    uv_read_start((uv_stream_t *)&out, on_alloc, on_read);
    write_more();
    uv_run(loop, UV_RUN_DEFAULT);
    t1 = mono_ns();
    c1 = cpu_ns();
    if (bad || errors || got != size || status != 0 || term_signal != 0) {
        fprintf(stderr, "pipe_uv: %lld of %lld bytes back, %d errors, cat's exit status %lld signal %d\n", got,
                size, errors, (long long)status, term_signal);
        return 1;
    }
    printf("{\"bench\":\"pipe_cat\",\"impl\":\"libuv\",\"ipc\":\"%s\",\"bytes\":%lld,\"chunk\":%zu,"
           "\"pipe_size\":%ld,\"wall_s\":%.3f,\"mib_per_s\":%.1f,\"cpu_s\":%.3f,\"reads\":%lld}\n",
           strcmp(ipc, "pipe") == 0 ? "pipe" : "socketpair", size, chunk, pipe_got, (double)(t1 - t0) / 1e9,
           (double)size / 1048576.0 / ((double)(t1 - t0) / 1e9), (double)(c1 - c0) / 1e9, reads);
    uv_loop_close(loop);
    free(rbuf);
    free(pat);
    return 0;
}
