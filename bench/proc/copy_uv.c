/* bench/proc/copy_uv.c -- libuv counterpart of copy.c: file copy through
   uv_fs_read / uv_fs_write, with a 1 ms uv_timer meanwhile.

     copy_uv SRC DST INFLIGHT CHUNK     e.g. copy_uv /tmp/src /tmp/dst 4 128k

   First (untimed) DST is made SRC's size and zeroed (prepare_dst).  Then,
   all asynchronous on libuv's pool (UV_THREADPOOL_SIZE, default 4):
   uv_fs_stat(SRC), uv_fs_open of both (DST O_WRONLY, no O_TRUNC), and
   INFLIGHT requests that each take the next CHUNK-sized block and copy it
   -- uv_fs_read at its offset into its own buffer, then from the read's
   callback uv_fs_write of what was read at the same offset -- until none
   is left; then uv_fs_close of both.  The time runs from the stat to the
   last close's callback.  Meanwhile a uv_timer repeats every 1 ms; as in
   bench/threads/lag_uv.c a tick is due at the millisecond of uv_now() it
   was armed for, and its lateness is uv_hrtime() at the callback minus
   that due time.  The same JSON line as copy.c with "impl":"libuv"
   (pool_threads: UV_THREADPOOL_SIZE); the same checks. */
#define _GNU_SOURCE 1
#include <uv.h>

#include "common.h"

enum { MAXINFLIGHT = 64 };

typedef struct {
    uv_fs_t req;
    char *buf;
    long long off;
    size_t n;
} slot_t;

static uv_loop_t *loop;
static uv_timer_t timer;
static uv_fs_t misc;
static slot_t slots[MAXINFLIGHT];
static const char *src, *dst;
static long k, active, ticks, missed, tick_from, tick_to, cap = 1000000;
static long long size, next, copied, *late, t0, t1, c0, c1;
static uint64_t due_ms;
static size_t chunk;
static int in = -1, out = -1, errors, closes;

static void fail(const char *what, ssize_t rc)
{
    fprintf(stderr, "copy_uv: %s: %s\n", what, uv_strerror((int)rc));
    errors++;
}

/* The stat or an open failed: nothing is in flight; stop the ticker. */
static void give_up(void)
{
    uv_timer_stop(&timer);
    uv_close((uv_handle_t *)&timer, NULL);
}

static void on_tick(uv_timer_t *t)
{
    uint64_t now_ms = uv_now(loop);
    long long late_ns = (long long)(uv_hrtime() - due_ms * 1000000ULL);
    (void)t;
    if (ticks < cap)
        late[ticks++] = late_ns;
    if (now_ms > due_ms) /* due times skipped */
        missed += (long)(now_ms - due_ms);
    due_ms = now_ms + 1; /* libuv re-arms a repeating timer at now + repeat */
}

static void on_close(uv_fs_t *req)
{
    if (req->result < 0)
        fail("close", req->result);
    uv_fs_req_cleanup(req);
    if (++closes == 2) {
        t1 = mono_ns();
        c1 = cpu_ns();
        uv_timer_stop(&timer);
        uv_close((uv_handle_t *)&timer, NULL);
    }
}

static uv_fs_t close_req[2];

static void copy_next(slot_t *s);

static void on_write(uv_fs_t *req)
{
    slot_t *s = (slot_t *)req->data;
    if (req->result < 0 || (size_t)req->result != s->n) /* a short write to a regular file: not expected */
        fail("write", req->result < 0 ? req->result : UV_EIO);
    else
        copied += (long long)s->n;
    uv_fs_req_cleanup(req);
    copy_next(s);
}

static void on_read(uv_fs_t *req)
{
    slot_t *s = (slot_t *)req->data;
    uv_buf_t b;
    ssize_t r = req->result;
    uv_fs_req_cleanup(req);
    if (r <= 0) {
        fail("read", r < 0 ? r : UV_EIO);
        copy_next(s);
        return;
    }
    s->n = (size_t)r;
    b = uv_buf_init(s->buf, (unsigned)s->n);
    s->req.data = s;
    if (uv_fs_write(loop, &s->req, out, &b, 1, s->off, on_write) != 0) {
        fail("write", UV_EIO);
        copy_next(s);
    }
}

/* This slot's next block, or, when there is none left and every slot is
   idle, the closes. */
static void copy_next(slot_t *s)
{
    uv_buf_t b;
    if (next < size && !errors) {
        s->off = next;
        next += (long long)chunk;
        b = uv_buf_init(s->buf, (unsigned)chunk);
        s->req.data = s;
        if (uv_fs_read(loop, &s->req, in, &b, 1, s->off, on_read) == 0)
            return;
        fail("read", UV_EIO);
    }
    if (--active == 0) {
        tick_to = ticks;
        uv_fs_close(loop, &close_req[0], in, on_close);
        uv_fs_close(loop, &close_req[1], out, on_close);
    }
}

static void on_open_dst(uv_fs_t *req)
{
    long i;
    out = (int)req->result;
    uv_fs_req_cleanup(req);
    if (out < 0) {
        fail("open", out);
        give_up();
        return;
    }
    tick_from = ticks;
    active = k;
    for (i = 0; i < k; i++)
        copy_next(&slots[i]);
}

static void on_open_src(uv_fs_t *req)
{
    in = (int)req->result;
    uv_fs_req_cleanup(req);
    if (in < 0) {
        fail("open", in);
        give_up();
        return;
    }
    uv_fs_open(loop, &misc, dst, O_WRONLY, 0, on_open_dst);
}

static void on_stat(uv_fs_t *req)
{
    if (req->result < 0) {
        fail("stat", req->result);
        uv_fs_req_cleanup(req);
        give_up();
        return;
    }
    size = (long long)req->statbuf.st_size;
    uv_fs_req_cleanup(req);
    uv_fs_open(loop, &misc, src, O_RDONLY, 0, on_open_src);
}

static void start(uv_timer_t *t)
{
    (void)t; /* the ticker runs; now the copy */
    t0 = mono_ns();
    c0 = cpu_ns();
    uv_fs_stat(loop, &misc, src, on_stat);
}

int main(int argc, char **argv)
{
    const unsigned char *pat;
    const char *pool = getenv("UV_THREADPOOL_SIZE");
    uv_timer_t kick;
    lat_summary s;
    long long fsize;
    double wall;
    long i;
    if (argc < 5 || (k = atol(argv[3])) <= 0 || k > MAXINFLIGHT || parse_size(argv[4]) <= 0 ||
        parse_size(argv[4]) > (1LL << 30)) {
        fprintf(stderr, "usage: copy_uv SRC DST INFLIGHT(1..%d) CHUNK\n", MAXINFLIGHT);
        return 2;
    }
    src = argv[1];
    dst = argv[2];
    chunk = (size_t)parse_size(argv[4]);
    if (!(pat = pattern_new()) || (fsize = file_size(src)) <= 0 || !prepare_dst(dst, fsize))
        return 1;
    for (i = 0; i < k; i++)
        if (!(slots[i].buf = (char *)malloc(chunk)))
            return 1;
    if (!(late = (long long *)malloc((size_t)cap * sizeof *late)))
        return 1;
    loop = uv_default_loop();
    uv_timer_init(loop, &timer);
    uv_timer_init(loop, &kick);
    uv_update_time(loop);
    due_ms = uv_now(loop) + 1;
    uv_timer_start(&timer, on_tick, 1, 1);
    uv_timer_start(&kick, start, 0, 0); /* from the loop, as copy.c starts from its coroutine */
    uv_unref((uv_handle_t *)&kick);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&kick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    wall = (double)(t1 - t0) / 1e9;
    if (errors || closes != 2 || copied != fsize || size != fsize || !pattern_check_file(pat, dst, fsize)) {
        fprintf(stderr, "copy_uv: %lld of %lld bytes copied, %d errors, or wrong\n", copied, fsize, errors);
        return 1;
    }
    if ((double)(tick_to - tick_from) < wall * 100.0 - 1) {
        fprintf(stderr, "copy_uv: the ticker ticked %ld times in %.3f s of copying\n", tick_to - tick_from, wall);
        return 1;
    }
    s = summarize_ns(late, ticks);
    printf("{\"bench\":\"file_copy\",\"impl\":\"libuv\",\"bytes\":%lld,\"chunk\":%zu,\"inflight\":%ld,"
           "\"wall_s\":%.3f,\"mib_per_s\":%.1f,\"cpu_s\":%.3f,\"ticks\":%ld,\"missed\":%ld,\"tick_p50_us\":%.1f,"
           "\"tick_p99_us\":%.1f,\"tick_max_us\":%.1f,\"pool_threads\":%d}\n",
           fsize, chunk, k, wall, (double)fsize / 1048576.0 / wall, (double)(c1 - c0) / 1e9, ticks, missed,
           s.p50_us, s.p99_us, s.max_us, pool ? atoi(pool) : 4);
    uv_loop_close(loop);
    for (i = 0; i < k; i++)
        free(slots[i].buf);
    free(late);
    free((void *)pat);
    return 0;
}
