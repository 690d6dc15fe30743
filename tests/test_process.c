/* Subprocesses (section 14): create_subprocess_exec / _shell, exit codes
   and signals, pipes as streams, wait and communicate, cancellation, the
   SIGCHLD watcher, loops on two threads, redirections, cwd and env, bad
   input -- as a new user would try them, with the kernel as witness: no
   zombie left (waitpid(-1) finds none, /proc shows none), no descriptor
   left (/proc/self/fd).  Children are real programs (/bin/sh, cat, head,
   sleep, true); the real clock is used only where the child's real time
   is the point, and nothing asserts a timing.  Tests named thread_* also
   run under ThreadSanitizer. */
#define _GNU_SOURCE 1
#include "tests.h"
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */


/* No child of this process is left, zombie or running. */
static void no_children_left(void)
{
    errno = 0;
    CHECK_EQ(waitpid(-1, NULL, WNOHANG), -1);
    CHECK_EQ(errno, ECHILD);
}

/* pid is a child of this process (running or a zombie not yet reaped):
   /proc/pid/stat exists and names us as its parent. */
static int is_my_child(int pid)
{
    char path[64], buf[512], *rp;
    FILE *fp;
    int ppid = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!(fp = fopen(path, "r")))
        return 0;
    buf[0] = 0;
    if (!fgets(buf, sizeof buf, fp))
        buf[0] = 0;
    fclose(fp);
    if (!(rp = strrchr(buf, ')')) || sscanf(rp + 1, " %*c %d", &ppid) != 1)
        return 0;
    return ppid == (int)getpid();
}

/* How many processes name us as their parent (without reaping any). */
static int count_my_children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && is_my_child(atoi(e->d_name)))
            n++;
    closedir(d);
    return n;
}

/* The state letter of /proc/pid/stat ('R', 'S', 'T', 'Z', ...), or 0. */
static char proc_state(int pid)
{
    char path[64], buf[512], *rp;
    FILE *fp;
    char st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!(fp = fopen(path, "r")))
        return 0;
    if (fgets(buf, sizeof buf, fp) && (rp = strrchr(buf, ')')) != NULL)
        st = rp[2];
    fclose(fp);
    return st;
}

/* Warnings of the loops run here. */
static int warns;
static char last_warn[512];
static void catch_warning(void *ctx, const char *msg)
{
    (void)ctx;
    warns++;
    snprintf(last_warn, sizeof last_warn, "%s", msg);
}

/* Run fn(frame) as the main task of a loop: virtual (1) or real (-1)
   clock, the given child watcher, warnings captured.  Returns the
   task's outcome, printing its message when it failed. */
static int run_main(asyncio_fn fn, void *frame, int clock, int watcher)
{
    asyncio_loop loop;
    asyncio_config cfg;
    asyncio_task t;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = clock;
    cfg.child_watcher = watcher;
    cfg.warn = catch_warning;
    cfg.slow_callback_duration = -1; /* a loaded machine must not add warnings */
    CHECK_EQ(asyncio_loop_init(&loop, &cfg), 0);
    CHECK(asyncio_create_task(&loop, &t, fn, frame) != NULL);
    rc = asyncio_loop_run_until_complete(&loop, &t.fut);
    if (rc == 0)
        rc = asyncio_future_result(&t.fut, NULL);
    if (rc != 0)
        fprintf(stderr, "  main task: %s: %s\n", asyncio_err_name(rc), asyncio_future_errmsg(&t.fut));
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    return rc;
}

static void set_stdio(asyncio_process_options *o, int in, int out, int err)
{
    memset(o, 0, sizeof *o);
    o->stdio[0].mode = in;
    o->stdio[1].mode = out;
    o->stdio[2].mode = err;
}

/* create_subprocess_exec that must succeed. */
static asyncio_process *spawn(asyncio_loop *L, const char *const *argv, const asyncio_process_options *o)
{
    asyncio_process *p = NULL;
    int rc = asyncio_create_subprocess_exec(&p, L, argv, o);
    if (rc != 0)
        fprintf(stderr, "  spawn %s: %s: %s\n", argv[0], asyncio_err_name(rc), asyncio_errmsg());
    CHECK_EQ(rc, 0);
    CHECK(p != NULL);
    CHECK(asyncio_process_pid(p) > 0);
    return p;
}

static asyncio_process *shell(asyncio_loop *L, const char *cmd, const asyncio_process_options *o)
{
    asyncio_process *p = NULL;
    int rc = asyncio_create_subprocess_shell(&p, L, cmd, o);
    if (rc != 0)
        fprintf(stderr, "  shell %s: %s: %s\n", cmd, asyncio_err_name(rc), asyncio_errmsg());
    CHECK_EQ(rc, 0);
    CHECK(p != NULL);
    return p;
}



static void pause_ms(int ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0)
        ;
}

/* ---- exit codes --------------------------------------------------------- */
/* returncode is the exit status, 0-255, from wait and from
   asyncio_process_returncode; waiting again answers at once; a signal to
   a child that has exited is not an error. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
    asyncio_process_options o;
    int i, code;
    char cmd[64];
} codes_t;
static const int exit_codes[] = {0, 1, 2, 42, 126, 127, 128, 200, 254, 255};
static int codes_main(asyncio_task *self, void *frame)
{
    codes_t *f = (codes_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < (int)(sizeof exit_codes / sizeof exit_codes[0]); f->i++) {
        snprintf(f->cmd, sizeof f->cmd, "exit %d", exit_codes[f->i]);
        f->p = shell(ASYNCIO_LOOP(), f->cmd, NULL);
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
        CHECK_EQ(ASYNCIO_RESULT().i, exit_codes[f->i]);
        f->code = -1000;
        CHECK_EQ(asyncio_process_returncode(f->p, &f->code), 1);
        CHECK_EQ(f->code, exit_codes[f->i]);
        CHECK_EQ(asyncio_process_returncode(f->p, NULL), 1);
        /* no pipes asked for: no streams */
        CHECK(asyncio_process_stdin(f->p) == NULL);
        CHECK(asyncio_process_stdout(f->p) == NULL);
        CHECK(asyncio_process_stderr(f->p) == NULL);
        /* signals to a child that has exited: 0, nothing sent */
        CHECK_EQ(asyncio_process_send_signal(f->p, SIGTERM), 0);
        CHECK_EQ(asyncio_process_terminate(f->p), 0);
        CHECK_EQ(asyncio_process_kill(f->p), 0);
        /* a second wait: at once, the same code */
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
        CHECK_EQ(ASYNCIO_RESULT().i, exit_codes[f->i]);
        asyncio_process_release(f->p);
    }
    /* a command the shell cannot find: the shell runs, and says 127 */
    f->p = shell(ASYNCIO_LOOP(), "no-such-command-asyncio-test 2>/dev/null", NULL);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 127);
    asyncio_process_release(f->p);
    /* output nobody reads (less than a pipe holds): wait answers, and the
       release closes the pipes with it unread */
    memset(&f->o, 0, sizeof f->o);
    f->o.stdio[1].mode = ASYNCIO_PIPE;
    f->o.stdio[2].mode = ASYNCIO_PIPE;
    f->p = shell(ASYNCIO_LOOP(), "head -c 3000 /dev/zero; echo err >&2; exit 12", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 12);
    asyncio_process_release(f->p);
    /* the exit status is 8 bits: exit 300 is 44 */
    f->p = shell(ASYNCIO_LOOP(), "exit 300", NULL);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 44);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_exit_codes_0_to_255(void)
{
    codes_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(codes_main, &f, 1, 0), 0);
    CHECK_EQ(warns, 0);
    no_children_left();
}

/* ---- signals ------------------------------------------------------------ */
/* A child killed by a signal has returncode -signum: terminate, kill,
   send_signal, a child that kills itself, and SIGPIPE (the child gets it
   at its default even though the parent ignores it).  A stopped child
   has not exited.  Bad signal numbers are refused. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
    asyncio_read_t rd;
    asyncio_process_options o;
    int i, code, pid;
} signals_t;
static const char *const sleep_argv[] = {"sleep", "30", NULL};
static const int sent_signals[] = {SIGTERM, SIGKILL, SIGUSR1, SIGUSR2, SIGHUP};
static int signals_main(asyncio_task *self, void *frame)
{
    signals_t *f = (signals_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < (int)(sizeof sent_signals / sizeof sent_signals[0]); f->i++) {
        f->p = spawn(ASYNCIO_LOOP(), sleep_argv, NULL);
        f->code = 12345;
        CHECK_EQ(asyncio_process_returncode(f->p, &f->code), 0); /* running: Python's None */
        CHECK_EQ(f->code, 12345);
        if (sent_signals[f->i] == SIGTERM)
            CHECK_EQ(asyncio_process_terminate(f->p), 0);
        else if (sent_signals[f->i] == SIGKILL)
            CHECK_EQ(asyncio_process_kill(f->p), 0);
        else
            CHECK_EQ(asyncio_process_send_signal(f->p, sent_signals[f->i]), 0);
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
        CHECK_EQ(ASYNCIO_RESULT().i, -sent_signals[f->i]);
        CHECK_EQ(asyncio_process_returncode(f->p, &f->code), 1);
        CHECK_EQ(f->code, -sent_signals[f->i]);
        /* after the exit: not an error */
        CHECK_EQ(asyncio_process_kill(f->p), 0);
        CHECK_EQ(asyncio_process_send_signal(f->p, SIGUSR1), 0);
        asyncio_process_release(f->p);
    }

    /* a child that kills itself */
    f->p = shell(ASYNCIO_LOOP(), "kill -USR2 $$; sleep 30", NULL);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, -SIGUSR2);
    asyncio_process_release(f->p);

    /* stopped is not exited; continued, it can be terminated */
    f->p = spawn(ASYNCIO_LOOP(), sleep_argv, NULL);
    f->pid = asyncio_process_pid(f->p);
    CHECK_EQ(asyncio_process_send_signal(f->p, SIGSTOP), 0);
    for (f->i = 0; f->i < 2000 && proc_state(f->pid) != 'T'; f->i++) {
        ASYNCIO_SLEEP(0.005);
    }
    CHECK_EQ(proc_state(f->pid), 'T');
    for (f->i = 0; f->i < 5; f->i++) {
        ASYNCIO_SLEEP(0.01);
    }
    CHECK_EQ(asyncio_process_returncode(f->p, NULL), 0);
    CHECK_EQ(asyncio_process_send_signal(f->p, SIGCONT), 0);
    CHECK_EQ(asyncio_process_terminate(f->p), 0);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, -SIGTERM);
    asyncio_process_release(f->p);

    /* not signals */
    f->p = spawn(ASYNCIO_LOOP(), sleep_argv, NULL);
    CHECK_EQ(asyncio_process_send_signal(f->p, 0), 0); /* kill(pid, 0): it exists */
    CHECK_EQ(asyncio_process_send_signal(f->p, -1), -EINVAL);
    CHECK(strstr(asyncio_errmsg(), "not a signal") != NULL);
    CHECK_EQ(asyncio_process_send_signal(f->p, NSIG), -EINVAL);
    CHECK_EQ(asyncio_process_send_signal(f->p, 100000), -EINVAL);
    CHECK_EQ(asyncio_process_returncode(f->p, NULL), 0); /* nothing was sent */
    CHECK_EQ(asyncio_process_kill(f->p), 0);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, -SIGKILL);
    asyncio_process_release(f->p);

    /* SIGPIPE: `yes` writes to a pipe whose reader closes */
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_DEVNULL);
    {
        static const char *const yes_argv[] = {"yes", NULL};
        f->p = spawn(ASYNCIO_LOOP(), yes_argv, &f->o);
    }
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, asyncio_process_stdout(f->p), 4));
    CHECK_BYTES(asyncio_stream_data(asyncio_process_stdout(f->p)), (size_t)ASYNCIO_RESULT().i, "y\ny\n");
    ASYNCIO_AWAIT(asyncio_stream_close(asyncio_process_stdout(f->p)));
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, -SIGPIPE);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_signals_terminate_kill_and_after_exit(void)
{
    signals_t f;
    size_t i;
    /* children inherit ignored signals through exec: under nohup SIGHUP
       would not end them (this process is the runner's child: only it
       changes) */
    for (i = 0; i < sizeof sent_signals / sizeof sent_signals[0]; i++)
        if (sent_signals[i] != SIGKILL)
            signal(sent_signals[i], SIG_DFL);
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(signals_main, &f, -1, 0), 0);
    CHECK_EQ(warns, 0);
    no_children_left();
}

/* ---- 64 MiB each way through cat ----------------------------------------- */
/* One task writes 64 MiB to cat's stdin (write + drain) while the main
   task reads its stdout: neither side may wait for the other to finish,
   and every byte comes back in order. */
enum { CAT_TOTAL = 64 << 20, CAT_CHUNK = 256 << 10 };
typedef struct {
    asyncio_coro co;
    asyncio_stream *in;
    const unsigned char *src;
    size_t off;
} cat_feed_t;
static int cat_feed(asyncio_task *self, void *frame)
{
    cat_feed_t *f = (cat_feed_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->off = 0; f->off < CAT_TOTAL; f->off += CAT_CHUNK) {
        CHECK_EQ(asyncio_stream_write(f->in, f->src + f->off, CAT_CHUNK), 0);
        ASYNCIO_AWAIT(asyncio_stream_drain(f->in));
    }
    ASYNCIO_AWAIT(asyncio_stream_close(f->in)); /* cat sees end of file */
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    asyncio_read_t rd;
    asyncio_task feeder;
    cat_feed_t feed;
    unsigned char *src;
    size_t got, n;
} cat_t;
static int cat_main(asyncio_task *self, void *frame)
{
    cat_t *f = (cat_t *)frame;
    static const char *const cat_argv[] = {"cat", NULL};
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->p = spawn(ASYNCIO_LOOP(), cat_argv, &f->o);
    CHECK(asyncio_process_stdin(f->p) != NULL);
    CHECK(asyncio_process_stdout(f->p) != NULL);
    CHECK(asyncio_process_stderr(f->p) == NULL);
    f->feed.in = asyncio_process_stdin(f->p);
    f->feed.src = f->src;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->feeder, cat_feed, &f->feed) != NULL);
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, asyncio_process_stdout(f->p), 1 << 20));
        f->n = (size_t)ASYNCIO_RESULT().i;
        if (f->n == 0)
            break;
        CHECK(f->got + f->n <= CAT_TOTAL);
        if (memcmp(asyncio_stream_data(asyncio_process_stdout(f->p)), f->src + f->got, f->n) != 0) {
            fprintf(stderr, "  cat: bytes %zu..%zu differ\n", f->got, f->got + f->n);
            CHECK(0);
        }
        f->got += f->n;
    }
    CHECK_EQ(f->got, CAT_TOTAL);
    ASYNCIO_AWAIT(&f->feeder.fut);
    CHECK(asyncio_process_stdin(f->p) == NULL); /* closed by the feeder */
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_cat_64mib_each_way(void)
{
    static cat_t f;
    int fds = count_fds_settled();
    f.src = pattern_new(CAT_TOTAL);
    CHECK_EQ(run_main(cat_main, &f, 1, 0), 0);
    free(f.src);
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
}

/* ---- stdin closed early ------------------------------------------------- */
/* Closing the stdin stream sends end of file: a child reading it goes on
   past its read; the output is all there. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    asyncio_read_t rd;
} eof_t;
static int eof_main(asyncio_task *self, void *frame)
{
    eof_t *f = (eof_t *)frame;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->p = shell(ASYNCIO_LOOP(), "cat; echo after-eof", &f->o);
    CHECK_EQ(asyncio_stream_write(asyncio_process_stdin(f->p), "hello ", 6), 0);
    ASYNCIO_AWAIT(asyncio_stream_close(asyncio_process_stdin(f->p)));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, asyncio_process_stdout(f->p), ASYNCIO_READ_ALL));
    CHECK_BYTES(asyncio_stream_data(asyncio_process_stdout(f->p)), (size_t)ASYNCIO_RESULT().i, "hello after-eof\n");
    CHECK(asyncio_stream_at_eof(asyncio_process_stdout(f->p)));
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(f->p);

    /* closed before anything was written, not awaited: the read sees EOF */
    f->p = shell(ASYNCIO_LOOP(), "if read x; then echo got \"$x\"; else echo eof; fi", &f->o);
    asyncio_stream_close(asyncio_process_stdin(f->p));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, asyncio_process_stdout(f->p), ASYNCIO_READ_ALL));
    CHECK_BYTES(asyncio_stream_data(asyncio_process_stdout(f->p)), (size_t)ASYNCIO_RESULT().i, "eof\n");
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_stdin_closed_early_child_sees_eof(void)
{
    eof_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(eof_main, &f, 1, 0), 0);
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
}

/* "asyncio_process_stdin / _stdout / _stderr: the streams of the pipes,
   or NULL -- also once you closed that stream": right after the close,
   awaited or not (the stream is freed soon after: a pointer handed out
   then would dangle). */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
} getters_t;
static int getters_main(asyncio_task *self, void *frame)
{
    getters_t *f = (getters_t *)frame;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->p = shell(ASYNCIO_LOOP(), "cat >/dev/null", &f->o);
    ASYNCIO_AWAIT(asyncio_stream_close(asyncio_process_stdin(f->p)));
    CHECK(asyncio_process_stdin(f->p) == NULL);
    asyncio_stream_close(asyncio_process_stdout(f->p));
    CHECK(asyncio_process_stdout(f->p) == NULL);
    asyncio_stream_close(asyncio_process_stderr(f->p));
    CHECK(asyncio_process_stderr(f->p) == NULL);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_pipe_getters_are_null_once_closed(void)
{
    getters_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(getters_main, &f, 1, 0), 0);
    no_children_left();
}

/* communicate after the program closed a pipe itself (without awaiting
   the close, as one may): a closed stdin is not fed, a closed stdout is
   not read (out NULL) -- neither is an error. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
} byhand_t;
static int byhand_main(asyncio_task *self, void *frame)
{
    byhand_t *f = (byhand_t *)frame;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->p = shell(ASYNCIO_LOOP(), "cat; echo done", &f->o);
    CHECK_EQ(asyncio_stream_write(asyncio_process_stdin(f->p), "queued ", 7), 0);
    asyncio_stream_close(asyncio_process_stdin(f->p)); /* flushes "queued " first */
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "queued done\n");
    asyncio_process_release(f->p);

    f->p = shell(ASYNCIO_LOOP(), "cat >/dev/null; exit 6", &f->o);
    asyncio_stream_close(asyncio_process_stdout(f->p));
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, "data", 4));
    CHECK_EQ(ASYNCIO_RESULT().i, 6);
    CHECK(f->op.out == NULL);
    CHECK_EQ(f->op.out_len, 0);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_communicate_after_closing_pipes_by_hand(void)
{
    byhand_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(byhand_main, &f, 1, 0), 0);
    no_children_left();
}

/* ---- a child that closes its stdout and keeps running ------------------- */
/* The reader sees end of file while the child runs on (it is blocked
   reading stdin, so this is certain); wait still waits for the exit. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
} waiter_t;
static int waiter(asyncio_task *self, void *frame)
{
    waiter_t *f = (waiter_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_read_t rd;
    asyncio_task wt[3];
    waiter_t w[3];
    int i;
} closeout_t;
static int closeout_main(asyncio_task *self, void *frame)
{
    closeout_t *f = (closeout_t *)frame;
    asyncio_value v;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->p = shell(ASYNCIO_LOOP(), "echo hi; exec >&-; read x; exit 3", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, asyncio_process_stdout(f->p), ASYNCIO_READ_ALL));
    CHECK_BYTES(asyncio_stream_data(asyncio_process_stdout(f->p)), (size_t)ASYNCIO_RESULT().i, "hi\n");
    CHECK(asyncio_stream_at_eof(asyncio_process_stdout(f->p)));
    CHECK_EQ(asyncio_process_returncode(f->p, NULL), 0); /* still running */
    /* three waiters: none is answered while the child runs */
    for (f->i = 0; f->i < 3; f->i++) {
        f->w[f->i].p = f->p;
        CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->wt[f->i], waiter, &f->w[f->i]) != NULL);
    }
    for (f->i = 0; f->i < 10; f->i++) {
        ASYNCIO_SLEEP(0.01);
    }
    for (f->i = 0; f->i < 3; f->i++)
        CHECK(!asyncio_future_done(&f->wt[f->i].fut));
    CHECK_EQ(asyncio_process_returncode(f->p, NULL), 0);
    /* let it go */
    CHECK_EQ(asyncio_stream_write(asyncio_process_stdin(f->p), "go\n", 3), 0);
    ASYNCIO_AWAIT(asyncio_stream_drain(asyncio_process_stdin(f->p)));
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_AWAIT(&f->wt[f->i].fut);
        CHECK_EQ(ASYNCIO_RESULT().i, 3);
    }
    for (f->i = 0; f->i < 3; f->i++) {
        CHECK_EQ(asyncio_future_result(&f->wt[f->i].fut, &v), 0);
        CHECK_EQ(v.i, 3);
    }
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_child_closes_stdout_but_keeps_running(void)
{
    closeout_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(closeout_main, &f, -1, 0), 0);
    no_children_left();
}

/* ---- programs that cannot run -------------------------------------------- */
/* The create call fails (Python's FileNotFoundError / PermissionError),
   names the program, stores NULL, starts no child and leaves no
   descriptor open -- with or without pipes asked for. */
static void write_text(const char *path, const char *text, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, text, strlen(text)), (long long)strlen(text));
    close(fd);
    CHECK_EQ(chmod(path, (mode_t)mode), 0);
}
static void check_fails(asyncio_loop *L, const char *const *argv, const asyncio_process_options *o, int err,
                        const char *named)
{
    asyncio_process *p = (asyncio_process *)(void *)&p; /* anything but NULL */
    int rc = asyncio_create_subprocess_exec(&p, L, argv, o);
    if (rc != err)
        fprintf(stderr, "  %s: got %s (%s), want %s\n", argv && argv[0] ? argv[0] : "(null)", asyncio_err_name(rc),
                asyncio_errmsg(), asyncio_err_name(err));
    CHECK_EQ(rc, err);
    CHECK(p == NULL);
    if (named && !strstr(asyncio_errmsg(), named)) {
        fprintf(stderr, "  message \"%s\" does not name \"%s\"\n", asyncio_errmsg(), named);
        CHECK(0);
    }
}
void test_process_exec_missing_path_fails_without_child(void)
{
    static const char *const missing[] = {"/nonexistent-asyncio-dir/no-such-program", "arg", NULL};
    static const char *const unfound[] = {"no-such-program-asyncio-test", NULL};
    static const char *const dir[] = {"/tmp", NULL};
    char noexec[96], garbage[96];
    const char *argv[2];
    asyncio_loop loop;
    asyncio_process_options o;
    int fds, i;
    test_dir_make("process");
    snprintf(noexec, sizeof noexec, "%s/not-executable", test_dir);
    snprintf(garbage, sizeof garbage, "%s/not-a-program", test_dir);
    write_text(noexec, "#!/bin/sh\necho no\n", 0644);
    write_text(garbage, "\x01\x02\x03 this is not a program\n", 0755);
    CHECK_EQ(asyncio_loop_init(&loop, NULL), 0);
    fds = count_fds();
    for (i = 0; i < 2; i++) { /* no pipes, then all three */
        if (i)
            set_stdio(&o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
        else
            memset(&o, 0, sizeof o);
        check_fails(&loop, missing, &o, -ENOENT, "/nonexistent-asyncio-dir/no-such-program");
        CHECK(strstr(asyncio_errmsg(), "No such file or directory") != NULL);
        check_fails(&loop, unfound, &o, -ENOENT, "no-such-program-asyncio-test");
        argv[0] = noexec;
        argv[1] = NULL;
        check_fails(&loop, argv, &o, -EACCES, noexec);
        check_fails(&loop, dir, &o, -EACCES, "/tmp");
        argv[0] = garbage;
        check_fails(&loop, argv, &o, -ENOEXEC, garbage);
        CHECK_EQ(count_fds(), fds);
    }
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    no_children_left();
    unlink(noexec);
    unlink(garbage);
    rmdir(test_dir);
}

/* Spawns that fail inside tasks: each task's error keeps its own message
   (the text names its own path), read after all of them failed. */
typedef struct {
    asyncio_coro co;
    char path[64];
    asyncio_process *p;
} failing_t;
static int failing_spawn(asyncio_task *self, void *frame)
{
    failing_t *f = (failing_t *)frame;
    const char *argv[2];
    int rc;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD(); /* all start before any fails */
    argv[0] = f->path;
    argv[1] = NULL;
    rc = asyncio_create_subprocess_exec(&f->p, ASYNCIO_LOOP(), argv, NULL);
    if (rc < 0)
        ASYNCIO_RAISE(rc, asyncio_errmsg());
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_gather_t g;
    asyncio_task tasks[3];
    failing_t f[3];
} failings_t;
static int failings_main(asyncio_task *self, void *frame)
{
    failings_t *f = (failings_t *)frame;
    int i;
    ASYNCIO_BEGIN(self, f);
    for (i = 0; i < 3; i++)
        snprintf(f->f[i].path, sizeof f->f[i].path, "/nonexistent-asyncio-dir/prog-%d", i);
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, failing_spawn, f->f, sizeof f->f[0], 3,
                                ASYNCIO_RETURN_EXCEPTIONS), 0);
    ASYNCIO_AWAIT(&f->g.fut);
    for (i = 0; i < 3; i++) {
        CHECK_EQ(asyncio_future_result(&f->tasks[i].fut, NULL), -ENOENT);
        if (!strstr(asyncio_future_errmsg(&f->tasks[i].fut), f->f[i].path)) {
            fprintf(stderr, "  task %d: \"%s\" does not name %s\n", i, asyncio_future_errmsg(&f->tasks[i].fut),
                    f->f[i].path);
            CHECK(0);
        }
    }
    ASYNCIO_END();
}
void test_process_failed_spawns_keep_their_own_messages(void)
{
    failings_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(failings_main, &f, 1, 0), 0);
    no_children_left();
}

/* ---- 1000 short children, 50 at a time ----------------------------------- */
/* Each worker runs 20 children in turn; some with pipes, some released
   without a wait (the loop reaps those).  At the end no child is left,
   zombie or not, no descriptor is left, and nothing was warned about. */
enum { KIDS = 1000, AT_ONCE = 50, PER_WORKER = KIDS / AT_ONCE };
typedef struct {
    asyncio_coro co;
    int id, i, *unwaited;
    asyncio_process *p;
    asyncio_process_op op;
    asyncio_read_t rd;
    asyncio_process_options o;
} kid_t;
static const char *const true_argv[] = {"/bin/true", NULL};
static int kid_worker(asyncio_task *self, void *frame)
{
    kid_t *f = (kid_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < PER_WORKER; f->i++) {
        switch ((f->id + f->i) % 4) { /* no suspension in here */
        case 0: set_stdio(&f->o, ASYNCIO_INHERIT, ASYNCIO_INHERIT, ASYNCIO_INHERIT); break;
        case 1: set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE); break;
        case 2: set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_STDOUT); break;
        default: set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_DEVNULL, ASYNCIO_DEVNULL); break;
        }
        f->p = spawn(ASYNCIO_LOOP(), true_argv, &f->o);
        if ((f->id * PER_WORKER + f->i) % 10 == 9) { /* released while it may still run */
            f->unwaited[f->id * PER_WORKER + f->i] = asyncio_process_pid(f->p);
            asyncio_process_release(f->p);
            continue;
        }
        if (asyncio_process_stdout(f->p)) {
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, asyncio_process_stdout(f->p), ASYNCIO_READ_ALL));
            CHECK_EQ(ASYNCIO_RESULT().i, 0);
        }
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
        CHECK_EQ(ASYNCIO_RESULT().i, 0);
        asyncio_process_release(f->p);
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_gather_t g;
    asyncio_task tasks[AT_ONCE];
    kid_t kids[AT_ONCE];
    int unwaited[KIDS];
    int i, j, left;
} kids_t;
static int kids_main(asyncio_task *self, void *frame)
{
    kids_t *f = (kids_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < AT_ONCE; f->i++) {
        f->kids[f->i].id = f->i;
        f->kids[f->i].unwaited = f->unwaited;
    }
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, kid_worker, f->kids, sizeof f->kids[0], AT_ONCE, 0), 0);
    ASYNCIO_AWAIT(&f->g.fut);
    /* the children released unwaited are reaped by the loop while it runs */
    for (f->j = 0; f->j < 1000; f->j++) {
        f->left = 0;
        for (f->i = 0; f->i < KIDS; f->i++)
            if (f->unwaited[f->i] && is_my_child(f->unwaited[f->i]))
                f->left++;
        if (!f->left)
            break;
        ASYNCIO_SLEEP(0.005);
    }
    CHECK_EQ(f->left, 0);
    ASYNCIO_END();
}
void test_process_1000_short_children_no_zombie_no_fd_leak(void)
{
    static kids_t f;
    int fds = count_fds_settled(), i, n = 0;
    CHECK_EQ(run_main(kids_main, &f, -1, 0), 0);
    for (i = 0; i < KIDS; i++)
        n += f.unwaited[i] != 0;
    CHECK_EQ(n, KIDS / 10);
    CHECK_EQ(warns, 0);
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
}

/* ---- cancellation ---------------------------------------------------------- */
/* A communicate cancelled while the child runs: the await fails with
   ASYNCIO_ECANCELLED, the child is NOT killed, what was read stays in the
   pipes' buffers; then kill, and communicate again: it hands out the
   bytes read before the cancellation, and the returncode. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
} comm_t;
static int comm_task(asyncio_task *self, void *frame)
{
    comm_t *f = (comm_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, "input", 5));
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    asyncio_task t;
    comm_t comm;
    int i, pid;
} cancel_comm_t;
static int cancel_comm_main(asyncio_task *self, void *frame)
{
    cancel_comm_t *f = (cancel_comm_t *)frame;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->p = shell(ASYNCIO_LOOP(), "echo first; echo oops >&2; exec sleep 30", &f->o);
    f->pid = asyncio_process_pid(f->p);
    f->comm.p = f->p;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, comm_task, &f->comm) != NULL);
    /* until communicate has read both lines (the child then sleeps) */
    for (f->i = 0; f->i < 2000; f->i++) {
        ASYNCIO_SLEEP(0.005);
        if (asyncio_process_stdout(f->p) && asyncio_stream_buffered(asyncio_process_stdout(f->p)) >= 6 &&
            asyncio_process_stderr(f->p) && asyncio_stream_buffered(asyncio_process_stderr(f->p)) >= 5)
            break;
    }
    CHECK(f->i < 2000);
    CHECK(!asyncio_future_done(&f->t.fut));
    CHECK_EQ(asyncio_task_cancel(&f->t), 1);
    ASYNCIO_AWAIT_RC(f->i, &f->t.fut);
    CHECK_EQ(f->i, ASYNCIO_ECANCELLED);
    CHECK(asyncio_future_cancelled(&f->t.fut));
    /* not killed */
    CHECK_EQ(asyncio_process_returncode(f->p, NULL), 0);
    CHECK_EQ(kill(f->pid, 0), 0);
    CHECK(is_my_child(f->pid));
    CHECK(proc_state(f->pid) != 'Z');
    /* the data read so far is still there */
    CHECK(asyncio_process_stdout(f->p) != NULL);
    CHECK_EQ(asyncio_stream_buffered(asyncio_process_stdout(f->p)), 6);
    CHECK_EQ(asyncio_stream_buffered(asyncio_process_stderr(f->p)), 5);
    /* now kill, and communicate again */
    CHECK_EQ(asyncio_process_kill(f->p), 0);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, -SIGKILL);
    CHECK_BYTES(f->op.out, f->op.out_len, "first\n");
    CHECK_BYTES(f->op.err, f->op.err_len, "oops\n");
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_cancel_mid_communicate_keeps_child_and_data(void)
{
    cancel_comm_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(cancel_comm_main, &f, -1, 0), 0);
    no_children_left();
}

/* A wait that times out (wait_for's timeout) does not kill the child;
   Python's idiom to kill on cancel, from the header's doc, works. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
    int rc;
} killer_t;
static int kill_on_cancel(asyncio_task *self, void *frame)
{
    killer_t *f = (killer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    if (f->rc == ASYNCIO_ECANCELLED)
        CHECK_EQ(asyncio_process_kill(f->p), 0);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
    asyncio_timeout to;
    asyncio_task t;
    killer_t k;
    int rc, i;
} timeout_wait_t;
static int timeout_wait_main(asyncio_task *self, void *frame)
{
    timeout_wait_t *f = (timeout_wait_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->p = spawn(ASYNCIO_LOOP(), sleep_argv, NULL);
    CHECK_EQ(asyncio_timeout_enter(&f->to, self, 0.05), 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    f->rc = asyncio_timeout_exit(&f->to, f->rc);
    CHECK_EQ(f->rc, ASYNCIO_ETIMEDOUT);
    CHECK_EQ(asyncio_process_returncode(f->p, NULL), 0);
    CHECK(is_my_child(asyncio_process_pid(f->p)));
    CHECK(proc_state(asyncio_process_pid(f->p)) != 'Z');
    /* the idiom: cancelled, it kills and waits */
    f->k.p = f->p;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, kill_on_cancel, &f->k) != NULL);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_YIELD();
    }
    CHECK_EQ(asyncio_task_cancel(&f->t), 1);
    ASYNCIO_AWAIT(&f->t.fut);
    CHECK_EQ(ASYNCIO_RESULT().i, -SIGKILL);
    CHECK_EQ(f->k.rc, ASYNCIO_ECANCELLED);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_wait_timeout_and_kill_on_cancel(void)
{
    timeout_wait_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(timeout_wait_main, &f, 1, 0), 0);
    no_children_left();
}

/* ---- the SIGCHLD watcher --------------------------------------------------- */
/* cfg.child_watcher = ASYNCIO_CHILD_SIGCHLD: several children waited on
   at once, exit codes and a signal right; 200 short children with no
   zombie; a handler the program had for SIGCHLD still runs; and a child
   the program forked itself is never reaped by the library. */
static volatile sig_atomic_t own_sigchld;
static void count_sigchld(int sig)
{
    (void)sig;
    own_sigchld++;
}
typedef struct {
    asyncio_coro co;
    int i;
    char cmd[64];
    asyncio_process *p;
    asyncio_process_op op;
} coded_t;
static int coded_child(asyncio_task *self, void *frame)
{
    coded_t *f = (coded_t *)frame;
    ASYNCIO_BEGIN(self, f);
    /* staggered exits, some at once */
    snprintf(f->cmd, sizeof f->cmd, "%sexit %d", f->i % 3 == 0 ? "" : f->i % 3 == 1 ? "sleep 0.05; " : "sleep 0.1; ",
             (f->i * 23) % 256);
    f->p = shell(ASYNCIO_LOOP(), f->cmd, NULL);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, (f->i * 23) % 256);
    asyncio_process_release(f->p);
    ASYNCIO_RETURN(asyncio_int(f->i));
    ASYNCIO_END();
}
enum { CODED = 12, SIGCHLD_AT_ONCE = 10 };
typedef struct {
    asyncio_coro co;
    asyncio_gather_t g;
    asyncio_task tasks[CODED];
    coded_t coded[CODED];
    asyncio_task ktasks[SIGCHLD_AT_ONCE];
    kid_t kids[SIGCHLD_AT_ONCE];
    int unwaited[SIGCHLD_AT_ONCE * PER_WORKER];
    asyncio_process *sleeper;
    asyncio_process_op op;
    int i, foreign_go;
} sigchld_t;
static int sigchld_main(asyncio_task *self, void *frame)
{
    sigchld_t *f = (sigchld_t *)frame;
    ASYNCIO_BEGIN(self, f);
    /* the foreign child may exit now: the loop must leave it alone */
    CHECK_EQ(write(f->foreign_go, "x", 1), 1);
    f->sleeper = spawn(ASYNCIO_LOOP(), sleep_argv, NULL);
    for (f->i = 0; f->i < CODED; f->i++)
        f->coded[f->i].i = f->i;
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, coded_child, f->coded, sizeof f->coded[0], CODED, 0), 0);
    ASYNCIO_AWAIT(&f->g.fut);
    CHECK_EQ(asyncio_process_returncode(f->sleeper, NULL), 0);
    CHECK_EQ(asyncio_process_kill(f->sleeper), 0);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->sleeper));
    CHECK_EQ(ASYNCIO_RESULT().i, -SIGKILL);
    asyncio_process_release(f->sleeper);
    /* 200 short ones, 10 at a time (SIGCHLD_AT_ONCE workers of PER_WORKER) */
    for (f->i = 0; f->i < SIGCHLD_AT_ONCE; f->i++) {
        f->kids[f->i].id = f->i;
        f->kids[f->i].unwaited = f->unwaited;
    }
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->ktasks, kid_worker, f->kids, sizeof f->kids[0],
                                SIGCHLD_AT_ONCE, 0), 0);
    ASYNCIO_AWAIT(&f->g.fut);
    for (f->i = 0; f->i < SIGCHLD_AT_ONCE * PER_WORKER; f->i++)
        while (f->unwaited[f->i] && is_my_child(f->unwaited[f->i])) {
            ASYNCIO_SLEEP(0.005);
        }
    ASYNCIO_END();
}
void test_process_sigchld_watcher_several_children(void)
{
    static sigchld_t f;
    struct sigaction sa;
    int go[2], status = 0, i, n = 0;
    pid_t foreign;
    char c;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_sigchld;
    sigemptyset(&sa.sa_mask);
    CHECK_EQ(sigaction(SIGCHLD, &sa, NULL), 0);
    CHECK_EQ(pipe(go), 0);
    foreign = fork();
    CHECK(foreign >= 0);
    if (foreign == 0) {
        close(go[1]);
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(7);
    }
    close(go[0]);
    f.foreign_go = go[1];
    CHECK_EQ(run_main(sigchld_main, &f, -1, ASYNCIO_CHILD_SIGCHLD), 0);
    close(go[1]);
    for (i = 0; i < SIGCHLD_AT_ONCE * PER_WORKER; i++)
        n += f.unwaited[i] != 0;
    CHECK(n > 0);
    CHECK_EQ(warns, 0);
    CHECK(own_sigchld > 0); /* the handler that was there is chained */
    /* the library never reaped the child it did not start */
    CHECK_EQ(waitpid(foreign, &status, 0), foreign);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 7);
    no_children_left();
}

/* ---- two loops on two threads ----------------------------------------------- */
/* Each loop runs its own children (8 workers x 8 children, each saying
   who it is and exiting with its own code) at the same time as the
   other: every child's output and code reach the loop that started it.
   With the default watcher, then with SIGCHLD on both loops (a SIGCHLD
   wakes every such loop; each reaps only its own). */
enum { TL_WORKERS = 8, TL_EACH = 8 };
typedef struct {
    asyncio_coro co;
    int loopno, id, i;
    char tag[32], code[8];
    const char *argv[6];
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
} tl_worker_t;
static int tl_worker(asyncio_task *self, void *frame)
{
    tl_worker_t *f = (tl_worker_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < TL_EACH; f->i++) {
        snprintf(f->tag, sizeof f->tag, "L%d-W%d-%d", f->loopno, f->id, f->i);
        snprintf(f->code, sizeof f->code, "%d", (f->loopno * 100 + f->id * 10 + f->i) % 256);
        f->argv[0] = "/bin/sh";
        f->argv[1] = "-c";
        f->argv[2] = "printf %s \"$0\"; exit \"$1\"";
        f->argv[3] = f->tag;
        f->argv[4] = f->code;
        f->argv[5] = NULL;
        set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_INHERIT);
        f->p = spawn(ASYNCIO_LOOP(), f->argv, &f->o);
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
        CHECK_EQ(ASYNCIO_RESULT().i, atoi(f->code));
        CHECK_BYTES(f->op.out, f->op.out_len, f->tag);
        asyncio_process_release(f->p);
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    int loopno, watcher, rc;
    asyncio_gather_t g;
    asyncio_task tasks[TL_WORKERS];
    tl_worker_t w[TL_WORKERS];
    pthread_t th;
} tl_loop_t;
static int tl_main(asyncio_task *self, void *frame)
{
    tl_loop_t *f = (tl_loop_t *)frame;
    int i;
    ASYNCIO_BEGIN(self, f);
    for (i = 0; i < TL_WORKERS; i++) {
        f->w[i].loopno = f->loopno;
        f->w[i].id = i;
    }
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, tl_worker, f->w, sizeof f->w[0], TL_WORKERS, 0), 0);
    ASYNCIO_AWAIT(&f->g.fut);
    ASYNCIO_END();
}
static void *tl_thread(void *arg)
{
    tl_loop_t *f = (tl_loop_t *)arg;
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    cfg.child_watcher = f->watcher;
    f->rc = asyncio_run_config(&cfg, tl_main, f, NULL);
    return NULL;
}
static void two_loops(int watcher)
{
    static tl_loop_t loops[2];
    int i, fds = count_fds_settled();
    for (i = 0; i < 2; i++) {
        memset(&loops[i], 0, sizeof loops[i]);
        loops[i].loopno = i;
        loops[i].watcher = watcher;
        CHECK_EQ(pthread_create(&loops[i].th, NULL, tl_thread, &loops[i]), 0);
    }
    for (i = 0; i < 2; i++) {
        CHECK_EQ(pthread_join(loops[i].th, NULL), 0);
        CHECK_EQ(loops[i].rc, 0);
    }
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
}
void test_thread_process_two_loops_run_children(void) { two_loops(0); }
void test_thread_process_two_loops_run_children_sigchld_watcher(void) { two_loops(ASYNCIO_CHILD_SIGCHLD); }

/* ---- communicate ------------------------------------------------------------ */
/* Input, and large output on stdout and stderr at the same time (a child
   that fills stderr before it reads its stdin, while cat echoes): no
   deadlock, every byte.  A child that does not read its input is not an
   error (EPIPE).  Without pipes communicate only waits. */
enum { COMM_IN = 8 << 20, COMM_ERR = 5000000 };
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    unsigned char *src;
    size_t i;
} comm_big_t;
static int comm_big_main(asyncio_task *self, void *frame)
{
    comm_big_t *f = (comm_big_t *)frame;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->p = shell(ASYNCIO_LOOP(), "exec 3<&0; cat <&3 3<&- & head -c 5000000 /dev/zero >&2; wait; echo end >&2", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, f->src, COMM_IN));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_EQ(f->op.out_len, COMM_IN);
    CHECK(memcmp(f->op.out, f->src, COMM_IN) == 0);
    CHECK_EQ(f->op.err_len, COMM_ERR + 4);
    for (f->i = 0; f->i < COMM_ERR; f->i++)
        if (f->op.err[f->i] != 0)
            break;
    CHECK_EQ(f->i, COMM_ERR);
    CHECK(memcmp(f->op.err + COMM_ERR, "end\n", 4) == 0);
    CHECK(asyncio_process_stdin(f->p) == NULL); /* communicate closed it */
    asyncio_process_release(f->p);

    /* a child that never reads its input: not an error */
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->p = shell(ASYNCIO_LOOP(), "echo ignored; exit 5", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, f->src, COMM_IN));
    CHECK_EQ(ASYNCIO_RESULT().i, 5);
    CHECK_BYTES(f->op.out, f->op.out_len, "ignored\n");
    CHECK(f->op.err == NULL);
    CHECK_EQ(f->op.err_len, 0);
    asyncio_process_release(f->p);

    /* no input: stdin is closed at once; empty output */
    f->p = shell(ASYNCIO_LOOP(), "cat", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_EQ(f->op.out_len, 0);
    asyncio_process_release(f->p);

    /* no pipe at all: it waits */
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_DEVNULL, ASYNCIO_DEVNULL);
    f->p = shell(ASYNCIO_LOOP(), "echo nobody hears; exit 4", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 4);
    CHECK(f->op.out == NULL);
    CHECK_EQ(f->op.out_len, 0);
    CHECK(f->op.err == NULL);
    asyncio_process_release(f->p);

    /* small input, line by line out */
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->p = shell(ASYNCIO_LOOP(), "while read l; do echo \"<$l>\"; echo \"e$l\" >&2; done", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, "a\nb\nc\n", 6));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "<a>\n<b>\n<c>\n");
    CHECK_BYTES(f->op.err, f->op.err_len, "ea\neb\nec\n");
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_communicate_input_and_large_output_both_pipes(void)
{
    comm_big_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    f.src = pattern_new(COMM_IN);
    CHECK_EQ(run_main(comm_big_main, &f, 1, 0), 0);
    free(f.src);
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
}

/* ---- redirections ------------------------------------------------------------ */
/* stderr = ASYNCIO_STDOUT, DEVNULL both ways, and ASYNCIO_FD: to a file,
   from a file, from descriptors 0, 1 and 2 of the parent (even swapped:
   the child's 1 from our 2 and its 2 from our 1).  The parent keeps its
   descriptors. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    asyncio_read_t rd;
    int fd, fd2, saved1, saved2, rc, lowfree;
    char path[96], path2[96], out[64], err[64];
    size_t outlen, errlen;
} redir_t;
static void file_is(const char *path, const char *want)
{
    char buf[256];
    int fd = open(path, O_RDONLY);
    ssize_t n;
    CHECK(fd >= 0);
    n = read(fd, buf, sizeof buf);
    close(fd);
    CHECK(n >= 0);
    CHECK_BYTES(buf, (size_t)n, want);
}
static int redir_main(asyncio_task *self, void *frame)
{
    redir_t *f = (redir_t *)frame;
    ASYNCIO_BEGIN(self, f);
    /* stderr into stdout's pipe, in order */
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_STDOUT);
    f->p = shell(ASYNCIO_LOOP(), "echo out; echo err >&2; echo out2", &f->o);
    CHECK(asyncio_process_stderr(f->p) == NULL);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "out\nerr\nout2\n");
    CHECK(f->op.err == NULL);
    CHECK_EQ(f->op.err_len, 0);
    asyncio_process_release(f->p);

    /* DEVNULL: stdin reads nothing, stderr is dropped */
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_DEVNULL);
    f->p = shell(ASYNCIO_LOOP(), "cat; echo end; echo hidden >&2", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "end\n");
    asyncio_process_release(f->p);
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_DEVNULL, ASYNCIO_PIPE);
    f->p = shell(ASYNCIO_LOOP(), "echo dropped; echo kept >&2", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK(f->op.out == NULL);
    CHECK_BYTES(f->op.err, f->op.err_len, "kept\n");
    asyncio_process_release(f->p);

    /* the pipes' limit (opts.limit): a longer line is ASYNCIO_ELIMIT */
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_DEVNULL);
    f->o.limit = 8;
    f->p = shell(ASYNCIO_LOOP(), "echo 0123456789abcdef; echo short", &f->o);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, asyncio_process_stdout(f->p)));
    CHECK_EQ(f->rc, ASYNCIO_ELIMIT);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, asyncio_process_stdout(f->p)));
    CHECK_BYTES(asyncio_stream_data(asyncio_process_stdout(f->p)), ASYNCIO_RESULT().i, "short\n");
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    asyncio_process_release(f->p);

    /* stdout to a file (stderr with it); the parent's fd stays open */
    f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(f->fd >= 0);
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_FD, ASYNCIO_STDOUT);
    f->o.stdio[1].fd = f->fd;
    f->p = shell(ASYNCIO_LOOP(), "echo to-file; echo err-too >&2", &f->o);
    CHECK(asyncio_process_stdout(f->p) == NULL);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(f->p);
    CHECK(fcntl(f->fd, F_GETFD) >= 0);
    file_is(f->path, "to-file\nerr-too\n");

    /* stdin from that file */
    CHECK_EQ(lseek(f->fd, 0, SEEK_SET), 0);
    set_stdio(&f->o, ASYNCIO_FD, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->o.stdio[0].fd = f->fd;
    {
        static const char *const cat_argv[] = {"cat", NULL};
        f->p = spawn(ASYNCIO_LOOP(), cat_argv, &f->o);
    }
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "to-file\nerr-too\n");
    asyncio_process_release(f->p);
    CHECK(fcntl(f->fd, F_GETFD) >= 0);
    close(f->fd);

    /* the parent's 1 and 2 swapped: the child's stdout is our fd 2 and its
       stderr our fd 1 (a naive dup2 order would send both to one file) */
    f->fd = open(f->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    f->fd2 = open(f->path2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(f->fd >= 0 && f->fd2 >= 0);
    fflush(stdout);
    fflush(stderr);
    f->saved1 = fcntl(1, F_DUPFD_CLOEXEC, 10);
    f->saved2 = fcntl(2, F_DUPFD_CLOEXEC, 10);
    CHECK(f->saved1 >= 0 && f->saved2 >= 0);
    CHECK_EQ(dup2(f->fd, 1), 1);  /* our 1: path */
    CHECK_EQ(dup2(f->fd2, 2), 2); /* our 2: path2 */
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_FD, ASYNCIO_FD);
    f->o.stdio[1].fd = 2;
    f->o.stdio[2].fd = 1;
    f->p = shell(ASYNCIO_LOOP(), "echo to-out; echo to-err >&2", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    dup2(f->saved1, 1);
    dup2(f->saved2, 2);
    close(f->saved1);
    close(f->saved2);
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(f->p);
    close(f->fd);
    close(f->fd2);
    file_is(f->path2, "to-out\n");
    file_is(f->path, "to-err\n");

    /* a parent whose 0, 1 and 2 are closed (a daemon): the pipes' and
       /dev/null's descriptors then come out as 0, 1, 2 in the parent, and
       must still land right in the child */
    fflush(stdout);
    fflush(stderr);
    f->saved1 = fcntl(1, F_DUPFD_CLOEXEC, 10);
    f->saved2 = fcntl(2, F_DUPFD_CLOEXEC, 10);
    f->fd = fcntl(0, F_DUPFD_CLOEXEC, 10);
    close(0);
    close(1);
    close(2);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->rc = asyncio_create_subprocess_shell(&f->p, ASYNCIO_LOOP(), "cat; echo out; echo err >&2", &f->o);
    if (f->rc == 0) {
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_process_io, asyncio_process_communicate(&f->op, f->p, "in:", 3));
        /* keep the output; the pipes (our 0, 1, 2 now) go with the release */
        f->outlen = f->op.out_len < sizeof f->out ? f->op.out_len : sizeof f->out;
        memcpy(f->out, f->op.out, f->outlen);
        f->errlen = f->op.err_len < sizeof f->err ? f->op.err_len : sizeof f->err;
        memcpy(f->err, f->op.err, f->errlen);
        asyncio_process_release(f->p);
        ASYNCIO_YIELD();
        ASYNCIO_YIELD();
    }
    f->lowfree = fcntl(0, F_GETFD) < 0 && fcntl(1, F_GETFD) < 0 && fcntl(2, F_GETFD) < 0;
    dup2(f->fd, 0);
    dup2(f->saved1, 1);
    dup2(f->saved2, 2);
    close(f->fd);
    close(f->saved1);
    close(f->saved2);
    CHECK_EQ(f->rc, 0);
    CHECK_BYTES(f->out, f->outlen, "in:out\n");
    CHECK_BYTES(f->err, f->errlen, "err\n");
    CHECK(f->lowfree); /* the pipes that had them were closed */
    ASYNCIO_END();
}
void test_process_stderr_to_stdout_devnull_and_fd(void)
{
    redir_t f;
    int fds;
    memset(&f, 0, sizeof f);
    test_dir_make("process");
    snprintf(f.path, sizeof f.path, "%s/out", test_dir);
    snprintf(f.path2, sizeof f.path2, "%s/out2", test_dir);
    fds = count_fds_settled();
    CHECK_EQ(run_main(redir_main, &f, 1, 0), 0);
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
    unlink(f.path);
    unlink(f.path2);
    rmdir(test_dir);
}

/* ---- cwd, env, sessions ---------------------------------------------------------- */
/* cwd is where the child starts; env is its whole environment (a name
   without '/' is searched in env's PATH, not ours); a cwd that does not
   exist -- or is not a directory -- fails naming that directory; the
   session and group flags. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    char real[256], prog[128], pathvar[160], expect[512];
    const char *env[4];
    long ids[4]; /* pid, ppid, pgrp, session of the child */
    int i;
} cwdenv_t;
static void stat_ids(const char *s, size_t n, long ids[4])
{
    char buf[512], *rp;
    CHECK(n < sizeof buf);
    memcpy(buf, s, n);
    buf[n] = 0;
    ids[0] = atol(buf);
    CHECK((rp = strrchr(buf, ')')) != NULL);
    CHECK_EQ(sscanf(rp + 1, " %*c %ld %ld %ld", &ids[1], &ids[2], &ids[3]), 3);
}
static int cwdenv_main(asyncio_task *self, void *frame)
{
    cwdenv_t *f = (cwdenv_t *)frame;
    static const char *const pwd_argv[] = {"pwd", "-P", NULL};
    static const char *const env_argv[] = {"/usr/bin/env", NULL};
    static const char *const stat_argv[] = {"cat", "/proc/self/stat", NULL};
    ASYNCIO_BEGIN(self, f);
    CHECK(realpath(test_dir, f->real) != NULL);
    /* cwd */
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->o.cwd = test_dir;
    f->p = spawn(ASYNCIO_LOOP(), pwd_argv, &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    snprintf(f->expect, sizeof f->expect, "%s\n", f->real);
    CHECK_BYTES(f->op.out, f->op.out_len, f->expect);
    asyncio_process_release(f->p);

    /* env replaces the environment; PATH from it */
    f->o.cwd = NULL;
    f->env[0] = "FOO=bar baz";
    f->env[1] = "PATH=/usr/bin:/bin";
    f->env[2] = NULL;
    f->o.env = f->env;
    f->p = shell(ASYNCIO_LOOP(), "echo \"$FOO|${HOME-unset}|$PATH\"", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "bar baz|unset|/usr/bin:/bin\n");
    asyncio_process_release(f->p);
    /* an empty environment */
    f->env[0] = NULL;
    f->p = spawn(ASYNCIO_LOOP(), env_argv, &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_EQ(f->op.out_len, 0);
    asyncio_process_release(f->p);
    /* no env: ours, with what we set */
    f->o.env = NULL;
    CHECK_EQ(setenv("ASYNCIO_TEST_VAR", "inherited", 1), 0);
    f->p = shell(ASYNCIO_LOOP(), "echo $ASYNCIO_TEST_VAR", &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_BYTES(f->op.out, f->op.out_len, "inherited\n");
    asyncio_process_release(f->p);
    /* a program found through env's PATH (our PATH does not have it) */
    snprintf(f->prog, sizeof f->prog, "%s/myprog", test_dir);
    write_text(f->prog, "#!/bin/sh\necho mine \"$1\"\n", 0755);
    snprintf(f->pathvar, sizeof f->pathvar, "PATH=/nonexistent-asyncio-dir:%s", test_dir);
    f->env[0] = f->pathvar;
    f->env[1] = NULL;
    f->o.env = f->env;
    {
        static const char *const my_argv[] = {"myprog", "arg", NULL};
        f->p = spawn(ASYNCIO_LOOP(), my_argv, &f->o);
    }
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "mine arg\n");
    asyncio_process_release(f->p);
    /* a relative path with a '/' is the child's: relative to cwd */
    f->o.env = NULL;
    f->o.cwd = test_dir;
    {
        static const char *const rel_argv[] = {"./myprog", "rel", NULL};
        f->p = spawn(ASYNCIO_LOOP(), rel_argv, &f->o);
    }
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "mine rel\n");
    asyncio_process_release(f->p);
    f->o.cwd = NULL;
    {
        static const char *const my_argv[] = {"myprog", NULL};
        f->o.env = NULL; /* our PATH: not found */
        CHECK_EQ(asyncio_create_subprocess_exec(&f->p, ASYNCIO_LOOP(), my_argv, &f->o), -ENOENT);
        CHECK(f->p == NULL);
    }

    /* a cwd that does not exist: a clear error naming it, no child */
    f->o.env = NULL;
    f->o.cwd = "/nonexistent-asyncio-dir/sub";
    CHECK_EQ(asyncio_create_subprocess_exec(&f->p, ASYNCIO_LOOP(), pwd_argv, &f->o), -ENOENT);
    CHECK(f->p == NULL);
    if (!strstr(asyncio_errmsg(), "/nonexistent-asyncio-dir/sub")) {
        fprintf(stderr, "  missing cwd: message \"%s\" does not name it\n", asyncio_errmsg());
        CHECK(0);
    }
    CHECK_EQ(asyncio_create_subprocess_shell(&f->p, ASYNCIO_LOOP(), "pwd", &f->o), -ENOENT);
    CHECK(strstr(asyncio_errmsg(), "/nonexistent-asyncio-dir/sub") != NULL);
    f->o.cwd = NULL;
    /* the child's process group and session: ours, a new group, a new session */
    for (f->i = 0; f->i < 3; f->i++) {
        f->o.flags = f->i == 0 ? 0 : f->i == 1 ? ASYNCIO_PROCESS_NEW_GROUP : ASYNCIO_PROCESS_NEW_SESSION;
        f->p = spawn(ASYNCIO_LOOP(), stat_argv, &f->o);
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
        CHECK_EQ(ASYNCIO_RESULT().i, 0);
        stat_ids(f->op.out, f->op.out_len, f->ids);
        CHECK_EQ(f->ids[0], asyncio_process_pid(f->p));
        CHECK_EQ(f->ids[1], getpid());
        if (f->i == 0) {
            CHECK_EQ(f->ids[2], getpgrp());
            CHECK_EQ(f->ids[3], getsid(0));
        } else if (f->i == 1) {
            CHECK_EQ(f->ids[2], f->ids[0]);
            CHECK_EQ(f->ids[3], getsid(0));
        } else {
            CHECK_EQ(f->ids[2], f->ids[0]);
            CHECK_EQ(f->ids[3], f->ids[0]);
        }
        asyncio_process_release(f->p);
    }
    f->o.flags = 0;
    /* a cwd that is a file */
    f->o.cwd = f->prog;
    CHECK_EQ(asyncio_create_subprocess_exec(&f->p, ASYNCIO_LOOP(), pwd_argv, &f->o), -ENOTDIR);
    CHECK(f->p == NULL);
    if (!strstr(asyncio_errmsg(), f->prog)) {
        fprintf(stderr, "  cwd a file: message \"%s\" does not name it\n", asyncio_errmsg());
        CHECK(0);
    }
    f->o.cwd = NULL;

    ASYNCIO_END();
}
void test_process_cwd_env_and_sessions(void)
{
    cwdenv_t f;
    memset(&f, 0, sizeof f);
    test_dir_make("process");
    CHECK_EQ(run_main(cwdenv_main, &f, 1, 0), 0);
    no_children_left();
    unlink(f.prog);
    rmdir(test_dir);
}

/* ---- bad input ------------------------------------------------------------------- */
/* Refused with -EINVAL / -EBADF / ASYNCIO_ELOOPCLOSED and a message, *out
   set to NULL, no child, no descriptor left; out of memory at each
   allocation is -ENOMEM with nothing left behind either. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    int k, rc, ok, nomem;
} oom_t;
static int oom_main(asyncio_task *self, void *frame)
{
    oom_t *f = (oom_t *)frame;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    for (f->k = 0; f->k < 12; f->k++) {
        alloc_fail_after(f->k);
        f->rc = asyncio_create_subprocess_shell(&f->p, ASYNCIO_LOOP(), "cat; echo x >&2", &f->o);
        alloc_fail_after(-1);
        if (f->rc != 0) {
            CHECK_EQ(f->rc, -ENOMEM);
            CHECK(f->p == NULL);
            f->nomem++;
            continue;
        }
        f->ok++;
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, "in", 2));
        CHECK_EQ(ASYNCIO_RESULT().i, 0);
        CHECK_BYTES(f->op.out, f->op.out_len, "in");
        CHECK_BYTES(f->op.err, f->op.err_len, "x\n");
        asyncio_process_release(f->p);
    }
    CHECK(f->nomem > 0);
    CHECK(f->ok > 0);
    ASYNCIO_END();
}
void test_process_bad_input(void)
{
    static const char *const ok_argv[] = {"/bin/true", NULL};
    static const char *const null_argv[] = {NULL};
    static const char *const empty_argv[] = {"", NULL};
    asyncio_loop loop;
    asyncio_process *p;
    asyncio_process_options o;
    oom_t oom;
    int fds, closed_fd, rc;
    CHECK_EQ(asyncio_loop_init(&loop, NULL), 0);
    fds = count_fds();
    /* nowhere to put it */
    CHECK_EQ(asyncio_create_subprocess_exec(NULL, &loop, ok_argv, NULL), -EINVAL);
    CHECK(strstr(asyncio_errmsg(), "create_subprocess_exec") != NULL);
    CHECK_EQ(asyncio_create_subprocess_shell(NULL, &loop, "true", NULL), -EINVAL);
    /* no program */
    check_fails(&loop, NULL, NULL, -EINVAL, "create_subprocess_exec");
    check_fails(&loop, null_argv, NULL, -EINVAL, "missing or empty");
    check_fails(&loop, empty_argv, NULL, -EINVAL, "missing or empty");
    p = (asyncio_process *)(void *)&p;
    CHECK_EQ(asyncio_create_subprocess_shell(&p, &loop, NULL, NULL), -EINVAL);
    CHECK(p == NULL);
    CHECK(strstr(asyncio_errmsg(), "create_subprocess_shell") != NULL);
    p = (asyncio_process *)(void *)&p;
    CHECK_EQ(asyncio_create_subprocess_exec(&p, NULL, ok_argv, NULL), -EINVAL);
    CHECK(p == NULL);
    /* unknown modes */
    set_stdio(&o, 99, ASYNCIO_INHERIT, ASYNCIO_INHERIT);
    check_fails(&loop, ok_argv, &o, -EINVAL, "stdin: unknown mode 99");
    set_stdio(&o, ASYNCIO_INHERIT, -1, ASYNCIO_INHERIT);
    check_fails(&loop, ok_argv, &o, -EINVAL, "stdout: unknown mode -1");
    set_stdio(&o, ASYNCIO_INHERIT, ASYNCIO_INHERIT, ASYNCIO_FD + 1);
    check_fails(&loop, ok_argv, &o, -EINVAL, "stderr");
    /* ASYNCIO_STDOUT is for stderr only */
    set_stdio(&o, ASYNCIO_STDOUT, ASYNCIO_PIPE, ASYNCIO_PIPE);
    check_fails(&loop, ok_argv, &o, -EINVAL, "stdin");
    set_stdio(&o, ASYNCIO_PIPE, ASYNCIO_STDOUT, ASYNCIO_PIPE);
    check_fails(&loop, ok_argv, &o, -EINVAL, "stdout");
    /* a descriptor that is not open */
    closed_fd = dup(2);
    CHECK(closed_fd >= 0);
    close(closed_fd);
    set_stdio(&o, ASYNCIO_PIPE, ASYNCIO_FD, ASYNCIO_PIPE);
    o.stdio[1].fd = closed_fd;
    check_fails(&loop, ok_argv, &o, -EBADF, "is not open");
    set_stdio(&o, ASYNCIO_FD, ASYNCIO_PIPE, ASYNCIO_PIPE);
    o.stdio[0].fd = -1;
    check_fails(&loop, ok_argv, &o, -EBADF, "stdin");
    set_stdio(&o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_FD);
    o.stdio[2].fd = 1000000;
    check_fails(&loop, ok_argv, &o, -EBADF, "stderr");
    /* an environment too large to pass */
    {
        static const char *env[2];
        char *big = (char *)malloc(4 << 20);
        CHECK(big != NULL);
        memset(big, 'x', 4 << 20);
        memcpy(big, "BIG=", 4);
        big[(4 << 20) - 1] = 0;
        env[0] = big;
        env[1] = NULL;
        memset(&o, 0, sizeof o);
        o.env = env;
        check_fails(&loop, ok_argv, &o, -E2BIG, "/bin/true");
        free(big);
    }
    /* unknown flags */
    set_stdio(&o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    o.flags = 0x80;
    check_fails(&loop, ok_argv, &o, -EINVAL, "flags");
    CHECK_EQ(count_fds(), fds);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    /* a closed loop */
    p = (asyncio_process *)(void *)&p;
    rc = asyncio_create_subprocess_exec(&p, &loop, ok_argv, NULL);
    CHECK_EQ(rc, ASYNCIO_ELOOPCLOSED);
    CHECK(p == NULL);
    CHECK(strstr(asyncio_errmsg(), "Event loop is closed") != NULL);
    no_children_left();
    /* out of memory at each allocation in turn */
    memset(&oom, 0, sizeof oom);
    fds = count_fds_settled();
    CHECK_EQ(run_main(oom_main, &oom, 1, 0), 0);
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
}

/* ---- what the child inherits ------------------------------------------------------- */
/* Only its three descriptors (one we opened without close-on-exec is not
   there), no signal blocked though ours are, SIGPIPE and SIGXFSZ at their
   defaults though we ignore them. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    int leak;
    char buf[1024];
} inherit_t;
static unsigned long long status_mask(const char *text, const char *field)
{
    const char *at = strstr(text, field);
    CHECK(at != NULL);
    return strtoull(at + strlen(field), NULL, 16);
}
static int inherit_main(asyncio_task *self, void *frame)
{
    inherit_t *f = (inherit_t *)frame;
    static const char *const ls_argv[] = {"ls", "/proc/self/fd", NULL};
    static const char *const grep_argv[] = {"grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status", NULL};
    char *line, *save;
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->p = spawn(ASYNCIO_LOOP(), ls_argv, &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK(f->op.out_len < sizeof f->buf);
    memcpy(f->buf, f->op.out, f->op.out_len);
    f->buf[f->op.out_len] = 0;
    asyncio_process_release(f->p);
    /* 0, 1, 2, and the one ls reads the directory with */
    for (line = strtok_r(f->buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (atoi(line) > 3) {
            fprintf(stderr, "  the child has fd %s open (ours, not close-on-exec: %d)\n", line, f->leak);
            CHECK(0);
        }

    f->p = spawn(ASYNCIO_LOOP(), grep_argv, &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK(f->op.out_len < sizeof f->buf);
    memcpy(f->buf, f->op.out, f->op.out_len);
    f->buf[f->op.out_len] = 0;
    asyncio_process_release(f->p);
    CHECK_EQ(status_mask(f->buf, "SigBlk:"), 0);
    CHECK_EQ(status_mask(f->buf, "SigIgn:") & (1ull << (SIGPIPE - 1)), 0);
    CHECK_EQ(status_mask(f->buf, "SigIgn:") & (1ull << (SIGXFSZ - 1)), 0);
    ASYNCIO_END();
}
void test_process_child_inherits_three_fds_no_mask_default_sigpipe(void)
{
    inherit_t f;
    sigset_t set;
    memset(&f, 0, sizeof f);
    f.leak = fcntl(2, F_DUPFD, 100); /* inheritable */
    CHECK(f.leak >= 100);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    CHECK_EQ(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    CHECK_EQ(run_main(inherit_main, &f, 1, 0), 0);
    close(f.leak);
    no_children_left();
}

/* ---- release and loop close ---------------------------------------------------------- */
/* A child released while it runs is reaped by the loop when it exits (no
   zombie); a loop closed with a child still running says so and leaves it
   to a thread that reaps it. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_task wt;
    waiter_t w;
    int pid, pid2, i;
} release_t;
static int release_main(asyncio_task *self, void *frame)
{
    release_t *f = (release_t *)frame;
    static const char *const short_sleep[] = {"sleep", "0.1", NULL};
    ASYNCIO_BEGIN(self, f);
    /* its stdin closes with the release: it exits on end of file */
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->p = shell(ASYNCIO_LOOP(), "read x; exit 9", &f->o);
    f->pid = asyncio_process_pid(f->p);
    CHECK_EQ(asyncio_stream_write(asyncio_process_stdin(f->p), "no newline", 10), 0);
    asyncio_process_release(f->p);
    /* no pipe: it just runs out */
    f->p = spawn(ASYNCIO_LOOP(), short_sleep, NULL);
    f->pid2 = asyncio_process_pid(f->p);
    asyncio_process_release(f->p);
    for (f->i = 0; f->i < 2000 && (is_my_child(f->pid) || is_my_child(f->pid2)); f->i++) {
        ASYNCIO_SLEEP(0.005);
    }
    CHECK(!is_my_child(f->pid));
    CHECK(!is_my_child(f->pid2));
    /* released while another task waits for it: that wait is answered */
    f->w.p = spawn(ASYNCIO_LOOP(), short_sleep, NULL);
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->wt, waiter, &f->w) != NULL);
    ASYNCIO_YIELD();
    asyncio_process_release(f->w.p);
    ASYNCIO_AWAIT(&f->wt.fut);
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(NULL); /* harmless */
    ASYNCIO_END();
}
void test_process_release_and_loop_close_reap_running_children(void)
{
    release_t f;
    asyncio_loop loop;
    asyncio_config cfg;
    asyncio_process *p, *q;
    asyncio_process_options o;
    static const char *const cat_argv[] = {"cat", NULL};
    int go[2], pid, i, fds;
    memset(&f, 0, sizeof f);
    fds = count_fds_settled();
    CHECK_EQ(run_main(release_main, &f, -1, 0), 0);
    CHECK_EQ(warns, 0);
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();

    /* close with a child running (its stdin is our pipe) */
    CHECK_EQ(pipe(go), 0);
    memset(&cfg, 0, sizeof cfg);
    cfg.warn = catch_warning;
    cfg.slow_callback_duration = -1; /* a loaded machine must not add warnings */
    CHECK_EQ(asyncio_loop_init(&loop, &cfg), 0);
    set_stdio(&o, ASYNCIO_FD, ASYNCIO_DEVNULL, ASYNCIO_INHERIT);
    o.stdio[0].fd = go[0];
    p = spawn(&loop, cat_argv, &o);
    pid = asyncio_process_pid(p);
    /* and one that has pipes and exits at once: no warning for it */
    set_stdio(&o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    q = spawn(&loop, true_argv, &o);
    for (i = 0; i < 2000 && proc_state(asyncio_process_pid(q)) != 'Z'; i++)
        pause_ms(2);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(warns, 1);
    CHECK_STR(last_warn, "1 child process still running when the loop closed: left running, reaped by a thread");
    CHECK(is_my_child(pid));
    close(go[0]);
    close(go[1]); /* cat reads end of file and exits */
    for (i = 0; i < 2000 && is_my_child(pid); i++)
        pause_ms(5);
    CHECK(!is_my_child(pid));
    CHECK_EQ(count_fds_settled(), fds);
    no_children_left();
}

/* ---- a child reaped by someone else ---------------------------------------------------- */
/* Python's rule: returncode 255 and a warning naming the pid. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
    int pid;
    char want[96];
} stolen_t;
static int stolen_main(asyncio_task *self, void *frame)
{
    stolen_t *f = (stolen_t *)frame;
    int status;
    ASYNCIO_BEGIN(self, f);
    f->p = spawn(ASYNCIO_LOOP(), true_argv, NULL);
    f->pid = asyncio_process_pid(f->p);
    CHECK_EQ(waitpid(f->pid, &status, 0), f->pid); /* blocks briefly: /bin/true */
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 255);
    CHECK_EQ(warns, 1);
    snprintf(f->want, sizeof f->want, "Unknown child process pid %d, will report returncode 255", f->pid);
    CHECK_STR(last_warn, f->want);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_process_reaped_elsewhere_reports_255(void)
{
    stolen_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(stolen_main, &f, 1, 0), 0);
    warns = 0;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(stolen_main, &f, 1, ASYNCIO_CHILD_SIGCHLD), 0);
    no_children_left();
}

/* ---- SIGCHLD shared with a signal handler of the program ---------------- */
/* asyncio_add_signal_handler(SIGCHLD) on a loop that also watches
   children -- added before the first child, removed, added again -- with
   either watcher: the handler runs from the loop and every wait is still
   answered. */
static int sigchld_calls;
static void on_sigchld_cb(asyncio_loop *loop, void *arg)
{
    (void)loop;
    (void)arg;
    sigchld_calls++;
}
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_op op;
    int round, i, before;
    char cmd[32];
} shared_t;
static int shared_main(asyncio_task *self, void *frame)
{
    shared_t *f = (shared_t *)frame;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGCHLD, on_sigchld_cb, NULL), 0);
    for (f->round = 0; f->round < 3; f->round++) {
        if (f->round == 1)
            CHECK_EQ(asyncio_remove_signal_handler(ASYNCIO_LOOP(), SIGCHLD), 1);
        if (f->round == 2)
            CHECK_EQ(asyncio_add_signal_handler(ASYNCIO_LOOP(), SIGCHLD, on_sigchld_cb, NULL), 0);
        f->before = sigchld_calls;
        snprintf(f->cmd, sizeof f->cmd, "exit %d", 30 + f->round);
        f->p = shell(ASYNCIO_LOOP(), f->cmd, NULL);
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
        CHECK_EQ(ASYNCIO_RESULT().i, 30 + f->round);
        asyncio_process_release(f->p);
        if (f->round != 1) { /* the handler hears of it (from the loop, maybe a pass later) */
            for (f->i = 0; f->i < 2000 && sigchld_calls == f->before; f->i++) {
                ASYNCIO_SLEEP(0.002);
            }
            CHECK(sigchld_calls > f->before);
        } else {
            CHECK_EQ(sigchld_calls, f->before);
        }
    }
    CHECK_EQ(asyncio_remove_signal_handler(ASYNCIO_LOOP(), SIGCHLD), 1);
    ASYNCIO_END();
}
void test_process_sigchld_handler_of_the_program_and_watcher_share_the_signal(void)
{
    shared_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(shared_main, &f, -1, ASYNCIO_CHILD_SIGCHLD), 0);
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(shared_main, &f, -1, 0), 0);
    CHECK_EQ(warns, 0);
    no_children_left();
}

/* ---- more loops on SIGCHLD than it has room for ---------------------------- */
/* 64 loops can watch SIGCHLD; the 65th's create fails with -EAGAIN and a
   message, leaves no child behind (it is killed and reaped) and no
   descriptor; once a loop closes its slot is free again. */
enum { SLOTS = 64 };
void test_process_sigchld_watcher_loops_run_out_of_slots(void)
{
    static asyncio_loop loops[SLOTS + 1];
    static asyncio_process *procs[SLOTS + 1];
    static int pids[SLOTS + 1];
    asyncio_config cfg;
    asyncio_process_options o;
    asyncio_process *p = (asyncio_process *)(void *)&p;
    int i, j, fds, left;
    memset(&cfg, 0, sizeof cfg);
    cfg.child_watcher = ASYNCIO_CHILD_SIGCHLD;
    cfg.warn = catch_warning;
    cfg.slow_callback_duration = -1; /* a loaded machine must not add warnings */
    for (i = 0; i <= SLOTS; i++)
        CHECK_EQ(asyncio_loop_init(&loops[i], &cfg), 0);
    for (i = 0; i < SLOTS; i++)
        procs[i] = spawn(&loops[i], true_argv, NULL);
    fds = count_fds();
    set_stdio(&o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    if (strcmp(asyncio_backend_name(), "kqueue") == 0) {
        /* kqueue watches every child with EVFILT_PROC: no slot needed */
        p = spawn(&loops[SLOTS], sleep_argv, &o);
        CHECK_EQ(asyncio_process_kill(p), 0);
        for (j = 0; j < 2000 && proc_state(asyncio_process_pid(p)) != 'Z'; j++)
            pause_ms(1);
        asyncio_process_release(p);
    } else {
        CHECK_EQ(asyncio_create_subprocess_exec(&p, &loops[SLOTS], sleep_argv, &o), -EAGAIN);
        CHECK(p == NULL);
        CHECK(strstr(asyncio_errmsg(), "SIGCHLD") != NULL);
        CHECK_EQ(count_fds(), fds);
    }
    /* the others' children exit and are reaped when their loops close */
    for (i = 0; i < SLOTS; i++) {
        pids[i] = asyncio_process_pid(procs[i]);
        for (j = 0; j < 2000 && proc_state(pids[i]) != 'Z'; j++)
            pause_ms(1);
        asyncio_process_release(procs[i]);
        CHECK_EQ(asyncio_loop_close(&loops[i]), 0);
        CHECK(!is_my_child(pids[i]));
    }
    CHECK_EQ(warns, 0);
    /* a slot is free again */
    procs[SLOTS] = spawn(&loops[SLOTS], true_argv, NULL);
    pids[SLOTS] = asyncio_process_pid(procs[SLOTS]);
    for (j = 0; j < 2000 && proc_state(pids[SLOTS]) != 'Z'; j++)
        pause_ms(1);
    CHECK_EQ(asyncio_loop_close(&loops[SLOTS]), 0);
    CHECK_EQ(warns, 0);
    /* the refused one was killed: a thread reaps it */
    for (j = 0; j < 2000 && (left = count_my_children()) > 0; j++)
        pause_ms(2);
    CHECK_EQ(left, 0);
    no_children_left();
}

/* pipe_size (Python's pipesize): each pipe to the child gets that kernel
   buffer (F_GETPIPE_SZ on the parent's end says so), and the data goes
   through; a size the kernel refuses fails the create with a message
   that says so, and leaves no child and no descriptor. */
typedef struct {
    asyncio_coro co;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    int fds;
} pipesize_t;
static int pipesize_main(asyncio_task *self, void *frame)
{
    pipesize_t *f = (pipesize_t *)frame;
    static const char *const cat_argv[] = {"cat", NULL};
    ASYNCIO_BEGIN(self, f);
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_INHERIT);
    f->o.pipe_size = 1 << 20;
    f->p = spawn(ASYNCIO_LOOP(), cat_argv, &f->o);
    CHECK_EQ(fcntl(asyncio_stream_fd(asyncio_process_stdin(f->p)), F_GETPIPE_SZ), 1 << 20);
    CHECK_EQ(fcntl(asyncio_stream_fd(asyncio_process_stdout(f->p)), F_GETPIPE_SZ), 1 << 20);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, "through", 7));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "through");
    asyncio_process_release(f->p);

    f->fds = count_fds();
    f->o.pipe_size = (size_t)1 << 40; /* past what F_SETPIPE_SZ takes */
    CHECK(asyncio_create_subprocess_exec(&f->p, ASYNCIO_LOOP(), cat_argv, &f->o) < 0);
    CHECK(f->p == NULL);
    CHECK(strstr(asyncio_errmsg(), "cannot make a pipe of") != NULL);
    CHECK_EQ(count_fds(), f->fds);
    ASYNCIO_END();
}
void test_process_pipe_size_option(void)
{
    pipesize_t f;
    memset(&f, 0, sizeof f);
    CHECK_EQ(run_main(pipesize_main, &f, 1, 0), 0);
    no_children_left();
}
