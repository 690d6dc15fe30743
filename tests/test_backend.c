/* The backends at their edges, on every backend (the io_uring build is
   where they bite): more fds ready at once than a poll reports or a
   completion ring holds (io_uring's ring overflows, its multishot polls
   end and are armed again: nothing may be lost), and a kernel that
   refuses io_uring (a seccomp filter makes io_uring_setup fail, as a
   container's profile does): the loop runs on epoll and says so; the
   file calls the ring runs instead of the executor, and one cancelled
   before it was submitted; streams on completions: a dry receive pool,
   output growing under a send in flight, streams closed with operations
   in flight, a read's view that must not move. */
#define _GNU_SOURCE 1 /* syscall */
#include "tests.h"
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

/* ---- thousands of fds ready at once ------------------------------------ */
/* 1200 socketpairs, one end of each added to the loop, a task suspended on
   each (WAIT_FD asks poll(2) first, so every task must be waiting before
   its event comes), then a byte written into every peer in one step: 1200
   readable events at once, twice over.  The default io_uring completion
   ring has 1024 slots: it overflows, multishot polls end and are armed
   again, and every task must still wake. */
#define MANY 1200
typedef struct {
    asyncio_coro co;
    int fd;
    char c[2];
} many_waiter_t;

static int many_waiter(asyncio_task *self, void *frame)
{
    many_waiter_t *f = (many_waiter_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_WAIT_FD(f->fd, ASYNCIO_READABLE);
    CHECK_EQ(read(f->fd, &f->c[0], 1), 1);
    ASYNCIO_WAIT_FD(f->fd, ASYNCIO_READABLE);
    CHECK_EQ(read(f->fd, &f->c[1], 1), 1);
    CHECK_EQ(write(f->fd, f->c, 2), 2);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int sv[MANY][2];
    asyncio_task tasks[MANY];
    many_waiter_t frames[MANY];
    asyncio_gather_t g;
    int i, round;
} many_t;

static int many_main(asyncio_task *self, void *frame)
{
    many_t *f = (many_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < MANY; f->i++) {
        CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[f->i][0]), 0);
        f->frames[f->i].fd = f->sv[f->i][0];
    }
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, many_waiter, f->frames, sizeof f->frames[0], MANY, 0),
             0);
    for (f->round = 0; f->round < 2; f->round++) {
        ASYNCIO_YIELD(); /* every waiter runs to its WAIT_FD and suspends */
        ASYNCIO_YIELD();
        for (f->i = 0; f->i < MANY; f->i++)
            CHECK_EQ(write(f->sv[f->i][1], f->round ? "b" : "a", 1), 1);
    }
    ASYNCIO_AWAIT(&f->g.fut);
    CHECK_EQ(asyncio_future_error(&f->g.fut), 0);
    ASYNCIO_END();
}

void test_backend_more_fds_ready_at_once_than_the_rings_hold(void)
{
    static many_t f;
    int i;
    char c[3];
    test_fds_at_least(2 * MANY + 64);
    memset(&f, 0, sizeof f);
    for (i = 0; i < MANY; i++)
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sv[i]), 0);
    CHECK_EQ(asyncio_run(many_main, &f, NULL), 0); /* the loop closes the added ends */
    for (i = 0; i < MANY; i++) {
        CHECK_EQ(read(f.sv[i][1], c, 3), 2);
        CHECK_BYTES(c, 2, "ab");
        CHECK_EQ(read(f.sv[i][1], c, 1), 0); /* closed: no poll holds it open */
        close(f.sv[i][1]);
    }
}

/* ---- io_uring refused --------------------------------------------------- */
typedef struct {
    asyncio_coro co;
    int sv[2];
    char c;
} fallback_t;

static int fallback_main(asyncio_task *self, void *frame)
{
    fallback_t *f = (fallback_t *)frame;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[0]), 0);
    ASYNCIO_SLEEP(0.01);
    CHECK_EQ(write(f->sv[1], "p", 1), 1);
    ASYNCIO_WAIT_FD(f->sv[0], ASYNCIO_READABLE);
    CHECK_EQ(read(f->sv[0], &f->c, 1), 1);
    CHECK_EQ(f->c, 'p');
    CHECK_EQ(asyncio_fd_close(ASYNCIO_LOOP(), f->sv[0]), 0);
    ASYNCIO_END();
}

/* The test runs in a child of the runner: the filter dies with it. */
void test_backend_refused_io_uring_falls_back_to_epoll(void)
{
#if defined(__linux__) && defined(SYS_io_uring_setup)
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog;
    fallback_t f;
    char c;
    prog.len = (unsigned short)(sizeof code / sizeof code[0]);
    prog.filter = code;
    CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    CHECK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
    CHECK(syscall(SYS_io_uring_setup, 1, NULL) < 0 && errno == ENOSYS); /* the filter works */
    memset(&f, 0, sizeof f);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sv), 0);
    CHECK_EQ(asyncio_run(fallback_main, &f, NULL), 0);
    if (!strcmp(test_backend, "io_uring"))
        CHECK_STR(asyncio_backend_name(), "epoll");
    CHECK_EQ(read(f.sv[1], &c, 1), 0); /* the loop's end is closed */
    close(f.sv[1]);
#endif
}

/* ---- file calls on the ring --------------------------------------------- */
/* On io_uring pwrite, pread, fsync, fstat, stat, close, rename and
   unlink are run by the ring, not the executor (whose count of completed
   jobs does not move); elsewhere, and for the other calls, by the
   executor.  The results are the same: stat's are compared field by field
   with stat(2)'s. */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd;
    char path[160], path2[160];
    char buf[8];
    struct stat st;
} ringfile_t;

static void same_stat(const struct stat *a, const struct stat *b)
{
    CHECK_EQ(a->st_dev, b->st_dev);
    CHECK_EQ(a->st_ino, b->st_ino);
    CHECK_EQ(a->st_mode, b->st_mode);
    CHECK_EQ(a->st_nlink, b->st_nlink);
    CHECK_EQ(a->st_uid, b->st_uid);
    CHECK_EQ(a->st_gid, b->st_gid);
    CHECK_EQ(a->st_rdev, b->st_rdev);
    CHECK_EQ(a->st_size, b->st_size);
    CHECK_EQ(a->st_blksize, b->st_blksize);
    CHECK_EQ(a->st_blocks, b->st_blocks);
    CHECK_EQ(a->st_mtim.tv_sec, b->st_mtim.tv_sec);
    CHECK_EQ(a->st_mtim.tv_nsec, b->st_mtim.tv_nsec);
    CHECK_EQ(a->st_ctim.tv_sec, b->st_ctim.tv_sec);
    CHECK_EQ(a->st_ctim.tv_nsec, b->st_ctim.tv_nsec);
}

static int ringfile_main(asyncio_task *self, void *frame)
{
    ringfile_t *f = (ringfile_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pwrite(&f->op, f->fd, "ring", 4, 3));
    CHECK_EQ(ASYNCIO_RESULT().i, 4);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->buf, sizeof f->buf, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 7); /* a hole of three, then the bytes; end of file cuts it short */
    CHECK(memcmp(f->buf, "\0\0\0ring", 7) == 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_fsync(&f->op, f->fd));
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_fstat(&f->op, f->fd, &f->st));
    {
        struct stat want;
        CHECK_EQ(fstat(f->fd, &want), 0);
        same_stat(&f->st, &want);
        CHECK_EQ(f->st.st_size, 7);
    }
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_stat(&f->op, test_dir, &f->st));
    {
        struct stat want;
        CHECK_EQ(stat(test_dir, &want), 0);
        same_stat(&f->st, &want);
        CHECK(S_ISDIR(f->st.st_mode));
    }
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    CHECK_EQ(fcntl(f->fd, F_GETFD), -1);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_rename(&f->op, f->path, f->path2));
    CHECK_EQ(access(f->path, F_OK), -1);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_unlink(&f->op, f->path2));
    CHECK_EQ(access(f->path2, F_OK), -1);
    ASYNCIO_AWAIT_CORO_RC(f->fd, asyncio_file_io, asyncio_file_unlink(&f->op, f->path2));
    CHECK_EQ(f->fd, -ENOENT);
    CHECK(strstr(ASYNCIO_ERRMSG(), "unlink: [Errno 2]") != NULL);
    ASYNCIO_AWAIT_CORO_RC(f->fd, asyncio_file_io, asyncio_file_stat(&f->op, f->path2, &f->st));
    CHECK_EQ(f->fd, -ENOENT);
    CHECK(strstr(ASYNCIO_ERRMSG(), "stat: [Errno 2] No such file or directory: '") != NULL);
    ASYNCIO_END();
}

void test_backend_file_calls_on_the_ring_or_the_executor(void)
{
    ringfile_t f;
    asyncio_executor_stats_t before, after;
    int on_ring;
    memset(&f, 0, sizeof f);
    test_dir_make("ringfile");
    snprintf(f.path, sizeof f.path, "%s/a", test_dir);
    snprintf(f.path2, sizeof f.path2, "%s/b", test_dir);
    f.fd = open(f.path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    CHECK(f.fd >= 0);
    asyncio_executor_stats(NULL, &before);
    CHECK_EQ(asyncio_run(ringfile_main, &f, NULL), 0);
    asyncio_executor_stats(NULL, &after);
    on_ring = !strcmp(asyncio_backend_name(), "io_uring");
    CHECK(!on_ring || !strcmp(test_backend, "io_uring"));
    CHECK_EQ(after.completed - before.completed, on_ring ? 0 : 10);
    test_dir_remove();
}

/* ---- an added fd closed behind the loop's back -------------------------- */
/* close(2) instead of asyncio_fd_close: the number comes back for the next
   socket, and adding that one says what probably happened (on io_uring
   the ring's poll also kept the first file open: README, "Backends"). */
void test_backend_fd_closed_behind_the_loops_back_is_named(void)
{
    asyncio_loop loop;
    int a[2], b[2];
    CHECK_EQ(asyncio_loop_init(&loop, NULL), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
    CHECK_EQ(asyncio_fd_add(&loop, a[0]), 0);
    close(a[0]);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
    CHECK_EQ(b[0], a[0]); /* the lowest free number */
    CHECK_EQ(asyncio_fd_add(&loop, b[0]), -EEXIST);
    CHECK(strstr(asyncio_errmsg(), "closed without asyncio_fd_close") != NULL);
    CHECK_EQ(asyncio_fd_close(&loop, b[0]), 0); /* the loop's entry, and now b[0] */
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    close(a[1]);
    close(b[1]);
}

/* ---- cfg.busy_poll_ns ---------------------------------------------------- */
/* A task yields without end while another waits on a socketpair end and a
   third writes to its peer.  By default every pass polls, as CPython's
   loop does: the reader wakes within two of the yielder's steps.  With
   busy_poll_ns at 0.5 s (a loop that polled just before the write) it
   wakes only at the next poll, many steps later -- and still within the
   bound, not starved.  io_uring polls every pass regardless (its poll
   reads memory). */
typedef struct {
    asyncio_coro co;
    long *yields;
    int *stop;
} spinner_t;

static int spinner(asyncio_task *self, void *frame)
{
    spinner_t *f = (spinner_t *)frame;
    ASYNCIO_BEGIN(self, f);
    while (!*f->stop) {
        ++*f->yields;
        ASYNCIO_YIELD();
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int sv[2], stop;
    long yields, at_write, at_wake;
    long long t_write, t_wake;
    spinner_t sp;
    asyncio_task spin_task, read_task;
    char c;
} busy_t;

typedef struct {
    asyncio_coro co;
    busy_t *b;
} busy_reader_t;

static int busy_reader(asyncio_task *self, void *frame)
{
    busy_reader_t *f = (busy_reader_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_WAIT_FD(f->b->sv[0], ASYNCIO_READABLE); /* suspends: nothing written yet */
    f->b->at_wake = f->b->yields;
    f->b->t_wake = test_now_ns();
    CHECK_EQ(read(f->b->sv[0], &f->b->c, 1), 1);
    ASYNCIO_END();
}

static int busy_main(asyncio_task *self, void *frame)
{
    busy_t *f = (busy_t *)frame;
    static busy_reader_t reader;
    ASYNCIO_BEGIN(self, f);
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[0]), 0);
    f->sp.yields = &f->yields;
    f->sp.stop = &f->stop;
    reader.b = f;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->read_task, busy_reader, &reader) != NULL);
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->spin_task, spinner, &f->sp) != NULL);
    ASYNCIO_YIELD(); /* the reader suspends on the fd, the spinner runs; the first busy pass polls */
    ASYNCIO_YIELD();
    CHECK_EQ(write(f->sv[1], "w", 1), 1);
    f->at_write = f->yields;
    f->t_write = test_now_ns();
    ASYNCIO_AWAIT(&f->read_task.fut);
    f->stop = 1;
    ASYNCIO_AWAIT(&f->spin_task.fut);
    ASYNCIO_END();
}

static void busy_run(long long busy_poll_ns, busy_t *f)
{
    asyncio_config cfg;
    memset(&cfg, 0, sizeof cfg);
    memset(f, 0, sizeof *f);
    cfg.virtual_clock = -1;
    cfg.busy_poll_ns = busy_poll_ns;
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv), 0);
    CHECK_EQ(asyncio_run_config(&cfg, busy_main, f, NULL), 0);
    close(f->sv[1]);
}

void test_backend_busy_poll_interval_bounds_io_latency(void)
{
    busy_t f;
    busy_run(0, &f);
    CHECK(f.at_wake - f.at_write <= 2); /* CPython's order: the next pass sees it */
    busy_run(500000000, &f);
    if (!strcmp(asyncio_backend_name(), "io_uring"))
        CHECK(f.at_wake - f.at_write <= 2);
    else
        CHECK(f.at_wake - f.at_write > 10); /* the loop kept running instead of polling */
    CHECK(f.t_wake - f.t_write < 5000000000LL); /* and polled within the bound (generous) */
}

/* ---- a completion that arrives before the loop sleeps ------------------- */
/* A file call's completion posted while the loop is busy (on io_uring the
   kernel delivers it at the loop thread's next system call: here a task
   that spins calling sched_yield) must not be taken by the poll that then
   goes to sleep as if nothing had happened: the loop used to sleep until
   some other event -- forever here (a task waits on a silent fd). */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    const char *path;
} late_unlink_t;

static int late_unlink(asyncio_task *self, void *frame)
{
    late_unlink_t *f = (late_unlink_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_unlink(&f->op, f->path));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
} late_spin_t;

static int late_spin(asyncio_task *self, void *frame)
{
    late_spin_t *f = (late_spin_t *)frame;
    long long until;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_YIELD(); /* this pass polls (a task waits on an fd): the unlink is submitted */
    until = test_now_ns() + 50000000;
    while (test_now_ns() < until)
        sched_yield(); /* system calls: the kernel delivers the completion meanwhile */
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int sv[2];
    char path[160];
    busy_reader_t silent;
    busy_t b;
    late_unlink_t un;
    late_spin_t sp;
    asyncio_task t_silent, t_un, t_spin;
} late_t;

static int late_main(asyncio_task *self, void *frame)
{
    late_t *f = (late_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->b.sv[0] = f->sv[0];
    f->silent.b = &f->b;
    CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[0]), 0);
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t_silent, busy_reader, &f->silent) != NULL);
    f->un.path = f->path;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t_un, late_unlink, &f->un) != NULL);
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t_spin, late_spin, &f->sp) != NULL);
    ASYNCIO_AWAIT(&f->t_un.fut); /* hangs (the runner's 20 s limit) if the completion is lost */
    CHECK_EQ(access(f->path, F_OK), -1);
    asyncio_task_cancel(&f->t_silent);
    ASYNCIO_AWAIT_RC(f->sv[1], &f->t_silent.fut);
    ASYNCIO_END();
}

void test_backend_completion_before_the_loop_sleeps_is_not_lost(void)
{
    late_t f;
    int fd;
    memset(&f, 0, sizeof f);
    test_dir_make("late");
    snprintf(f.path, sizeof f.path, "%s/x", test_dir);
    CHECK((fd = open(f.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0);
    close(fd);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sv), 0);
    fd = f.sv[1];
    CHECK_EQ(asyncio_run(late_main, &f, NULL), 0);
    close(fd);
    test_dir_remove();
}

/* ---- ring calls while tasks keep running; what goes to the pool --------- */
/* A file call must finish while other tasks keep the loop busy and nobody
   waits on an fd (on io_uring nothing polled the ring then: the call was
   never submitted).  pread/pwrite keep pread(2)'s answers everywhere: a
   negative offset is EINVAL (the ring would take -1 as "the position"), a
   pipe is ESPIPE (the ring would block on an empty one). */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd;
} busyring_sync_t;

static int busyring_sync(asyncio_task *self, void *frame)
{
    busyring_sync_t *f = (busyring_sync_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_fsync(&f->op, f->fd));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd, rc, pipefd[2];
    long yields;
    busyring_sync_t sync;
    asyncio_task t;
    char buf[4];
} busyring_t;

static int busyring_main(asyncio_task *self, void *frame)
{
    busyring_t *f = (busyring_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sync.fd = f->fd;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, busyring_sync, &f->sync) != NULL);
    while (!asyncio_future_done(&f->t.fut)) { /* a busy loop: no pass sleeps, no fd waited on */
        f->yields++;
        ASYNCIO_YIELD();
    }
    CHECK_EQ(asyncio_future_error(&f->t.fut), 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->buf, 4, -1));
    CHECK_EQ(f->rc, -EINVAL);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_pwrite(&f->op, f->fd, "x", 1, -1));
    CHECK_EQ(f->rc, -EINVAL);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_pread(&f->op, f->pipefd[0], f->buf, 4, 0));
    CHECK_EQ(f->rc, -ESPIPE);
    ASYNCIO_END();
}

void test_backend_ring_calls_finish_in_a_busy_loop_and_keep_preads_answers(void)
{
    busyring_t f;
    memset(&f, 0, sizeof f);
    test_dir_make("busyring");
    snprintf(f.buf, sizeof f.buf, "x");
    {
        char path[160];
        snprintf(path, sizeof path, "%s/f", test_dir);
        f.fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    }
    CHECK(f.fd >= 0);
    CHECK_EQ(pipe(f.pipefd), 0);
    CHECK_EQ(asyncio_run(busyring_main, &f, NULL), 0);
    CHECK(f.yields > 0);
    close(f.fd);
    close(f.pipefd[0]);
    close(f.pipefd[1]);
    test_dir_remove();
}

/* ---- a regular file is refused by the backends that cannot wait on it ---- */
/* epoll refuses it (EPERM), and so does io_uring (its poll of a regular
   file would end at once, every time it was armed again); poll takes it
   (always ready). */
void test_backend_regular_file_refused_where_it_cannot_be_waited_on(void)
{
    asyncio_loop loop;
    char path[160];
    int fd, rc;
    test_dir_make("regular");
    snprintf(path, sizeof path, "%s/f", test_dir);
    CHECK((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0);
    CHECK_EQ(asyncio_loop_init(&loop, NULL), 0);
    rc = asyncio_fd_add(&loop, fd);
    if (!strcmp(asyncio_backend_name(), "epoll") || !strcmp(asyncio_backend_name(), "io_uring")) {
        CHECK_EQ(rc, -EPERM);
        CHECK(strstr(asyncio_errmsg(), "regular file") != NULL);
        close(fd);
    } else if (!strcmp(asyncio_backend_name(), "poll")) {
        CHECK_EQ(rc, 0);
        CHECK_EQ(asyncio_fd_close(&loop, fd), 0);
    } else
        close(fd);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    test_dir_remove();
}

/* ---- streams on completions (io_uring) ---------------------------------- */
/* 64 streams receive 40 000 bytes each, all sent before the loop runs: on
   io_uring every receive completes at once, 192 pool buffers' worth
   against the pool's 128 (the tests build with 4), so receives find the
   pool dry, end, and are armed again -- and every byte must still arrive,
   in order, and go back out through the streams' sends. */
#define DRY 64
#define DRY_BYTES 40000
typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    asyncio_read_t rd;
    int rc;
} dry_echo_t;

static int dry_echo(asyncio_task *self, void *frame)
{
    dry_echo_t *f = (dry_echo_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, DRY_BYTES));
    CHECK_EQ(asyncio_stream_write(f->s, asyncio_stream_data(f->s), DRY_BYTES), 0);
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->s));
    CHECK_EQ(f->rc, 0);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int sv[DRY][2];
    asyncio_task tasks[DRY];
    dry_echo_t frames[DRY];
    asyncio_gather_t g;
    asyncio_metrics m;
    int i;
} dry_t;

static int dry_main(asyncio_task *self, void *frame)
{
    dry_t *f = (dry_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < DRY; f->i++)
        CHECK((f->frames[f->i].s = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[f->i][0])) != NULL);
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, dry_echo, f->frames, sizeof f->frames[0], DRY, 0),
             0);
    ASYNCIO_AWAIT(&f->g.fut);
    CHECK_EQ(asyncio_future_error(&f->g.fut), 0);
    asyncio_loop_metrics(ASYNCIO_LOOP(), &f->m);
    ASYNCIO_END();
}

static unsigned char dry_byte(int stream, long i) { return (unsigned char)((i * 7 + stream * 13) % 251); }

void test_backend_streams_receive_through_a_dry_buffer_pool_losing_nothing(void)
{
    static dry_t f;
    static unsigned char buf[DRY_BYTES];
    int i;
    long j, n, got;
    memset(&f, 0, sizeof f);
    for (i = 0; i < DRY; i++) {
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sv[i]), 0);
        for (j = 0; j < DRY_BYTES; j++)
            buf[j] = dry_byte(i, j);
        CHECK_EQ(write(f.sv[i][1], buf, DRY_BYTES), DRY_BYTES);
    }
    CHECK_EQ(asyncio_run(dry_main, &f, NULL), 0);
    if (!strcmp(asyncio_backend_name(), "io_uring"))
        CHECK(f.m.recv_pool_dry > 0);
    else
        CHECK_EQ(f.m.recv_pool_dry, 0);
    for (i = 0; i < DRY; i++) {
        for (got = 0; got < DRY_BYTES; got += n)
            CHECK((n = read(f.sv[i][1], buf + got, (size_t)(DRY_BYTES - got))) > 0);
        for (j = 0; j < DRY_BYTES; j++)
            if (buf[j] != dry_byte(i, j))
                break;
        CHECK_EQ(j, DRY_BYTES);
        CHECK_EQ(read(f.sv[i][1], buf, 1), 0); /* closed by the stream */
        close(f.sv[i][1]);
    }
}

/* Output grows while a send is in flight (the peer reads nothing yet):
   the bytes the kernel is reading must stay where they are, the new ones
   follow them, and the peer gets every byte in order.  Then a stream is
   closed, and another aborted, with a receive armed and a send stuck in
   the kernel, and a third left open when the loop closes: nothing is
   freed under the kernel (ASan), the peers see the ends. */
#define GROW_PIECE 65536
#define GROW_PIECES 48

static unsigned char grow_byte(long i) { return (unsigned char)(i % 253); }

typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    asyncio_read_t rd;
    int rc;
} grow_reader_t;

static int grow_reader(asyncio_task *self, void *frame) /* a read waiting: the receive is armed */
{
    grow_reader_t *f = (grow_reader_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    CHECK(f->rc < 0); /* the stream is closed or aborted under it */
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int sv[4][2], i, rc;
    asyncio_stream *s[4];
    asyncio_task readers[4];
    grow_reader_t rf[4];
    long got;
    unsigned char piece[GROW_PIECE], sink[GROW_PIECE];
} grow_t;

static int grow_main(asyncio_task *self, void *frame)
{
    grow_t *f = (grow_t *)frame;
    long j;
    int fl;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i < 4; f->i++)
        CHECK((f->s[f->i] = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[f->i][0])) != NULL);
    asyncio_stream_set_write_buffer_limits(f->s[0], (size_t)GROW_PIECE * GROW_PIECES, 0);
    /* 1 MiB at once: its send fills the socket and, a few passes later,
       the rest waits in the kernel; then 2 MiB more, a step apart, each
       growing the buffer that send still reads */
    for (f->i = 0; f->i < GROW_PIECES; f->i++) {
        for (j = 0; j < GROW_PIECE; j++)
            f->piece[j] = grow_byte((long)f->i * GROW_PIECE + j);
        CHECK_EQ(asyncio_stream_write(f->s[0], f->piece, GROW_PIECE), 0);
        if (f->i >= 15) {
            ASYNCIO_YIELD();
            ASYNCIO_YIELD();
        }
    }
    fl = fcntl(f->sv[0][1], F_GETFL);
    CHECK_EQ(fcntl(f->sv[0][1], F_SETFL, fl | O_NONBLOCK), 0);
    while (f->got < (long)GROW_PIECE * GROW_PIECES) {
        long n = read(f->sv[0][1], f->sink, sizeof f->sink);
        if (n > 0) {
            for (j = 0; j < n; j++)
                if (f->sink[j] != grow_byte(f->got + j))
                    break;
            CHECK_EQ(j, n);
            f->got += n;
        } else {
            ASYNCIO_SLEEP(0.001);
        }
    }
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->s[0]));
    CHECK_EQ(f->rc, 0);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s[0]));
    /* streams 1-3: a read waiting (its receive armed), then output the
       peer never reads: more than the socket holds, a send stays out */
    for (f->i = 1; f->i < 4; f->i++) {
        static char lots[1 << 20];
        f->rf[f->i].s = f->s[f->i];
        if (f->i == 2) /* its close waits for the output: the write timeout ends it */
            asyncio_stream_set_timeouts(f->s[2], 0, 0.05);
        asyncio_create_task(ASYNCIO_LOOP(), &f->readers[f->i], grow_reader, &f->rf[f->i]);
        CHECK_EQ(asyncio_stream_write(f->s[f->i], lots, sizeof lots), 0);
    }
    ASYNCIO_YIELD();
    ASYNCIO_YIELD();
    CHECK_EQ(asyncio_stream_write_buffer_size(f->s[1]) > 0, 1); /* still out there */
    asyncio_stream_abort(f->s[1]);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s[2]));
    ASYNCIO_YIELD();
    ASYNCIO_END(); /* stream 3 is left to the loop's close */
}

void test_backend_stream_output_grows_while_sends_are_in_flight(void)
{
    static grow_t f;
    char c;
    int i;
    memset(&f, 0, sizeof f);
    for (i = 0; i < 4; i++)
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sv[i]), 0);
    CHECK_EQ(asyncio_run(grow_main, &f, NULL), 0);
    CHECK_EQ(f.got, (long)GROW_PIECE * GROW_PIECES);
    for (i = 0; i < 4; i++) { /* every stream's end is closed: the peer reads its bytes, then EOF */
        long n;
        int fl = fcntl(f.sv[i][1], F_GETFL);
        fcntl(f.sv[i][1], F_SETFL, fl & ~O_NONBLOCK);
        while ((n = read(f.sv[i][1], &c, 1)) > 0) {
            static char sink[1 << 16];
            if (read(f.sv[i][1], sink, sizeof sink) < 0)
                break;
        }
        CHECK_EQ(n, 0);
        close(f.sv[i][1]);
    }
}

/* ---- what a read hands back, and edge calls, on completions ------------- */
/* A read's view stays where it is until the next read, even when more
   arrives meanwhile and the buffer must grow (on io_uring receives
   complete between reads); a zero-length write is nothing, not an empty
   send (whose 0 would read as a broken pipe); and a stream left open with
   its receive armed does not hold up the loop's close. */
typedef struct {
    asyncio_coro co;
    int sv[2];
    asyncio_stream *s;
    asyncio_read_t rd;
    const char *view, *view2;
    int rc;
} view_t;

static int view_main(asyncio_task *self, void *frame)
{
    view_t *f = (view_t *)frame;
    static char more[200000];
    ASYNCIO_BEGIN(self, f);
    CHECK((f->s = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[0])) != NULL);
    CHECK_EQ(write(f->sv[1], "0123456789", 10), 10);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 5));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 5));
    f->view = asyncio_stream_data(f->s);
    asyncio_stream_set_limit(f->s, 1 << 20); /* read ahead far: rbuf grows again and again */
    memset(more, 'B', sizeof more);
    CHECK_EQ(write(f->sv[1], more, sizeof more / 2), (long)sizeof more / 2);
    ASYNCIO_SLEEP(0.05);
    CHECK(memcmp(f->view, "56789", 5) == 0); /* not moved, not freed (ASan) */
    f->view2 = asyncio_stream_data(f->s); /* asked again after the buffer grew: as good */
    CHECK(memcmp(f->view2, "56789", 5) == 0);
    CHECK_EQ(write(f->sv[1], more, sizeof more - sizeof more / 2), (long)(sizeof more - sizeof more / 2));
    CHECK_EQ(write(f->sv[1], "z", 1), 1);
    ASYNCIO_SLEEP(0.05);
    CHECK(memcmp(f->view, "56789", 5) == 0);
    CHECK(memcmp(f->view2, "56789", 5) == 0);
    CHECK_EQ(asyncio_stream_write(f->s, "", 0), 0);
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->s));
    CHECK_EQ(f->rc, 0);
    CHECK_EQ(asyncio_stream_write(f->s, "x", 1), 0);
    ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->s));
    CHECK_EQ(f->rc, 0);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, sizeof more));
    CHECK_EQ(asyncio_stream_data(f->s)[sizeof more - 1], 'B');
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 1));
    CHECK_EQ(asyncio_stream_data(f->s)[0], 'z'); /* the receive stays armed: the stream is left open */
    ASYNCIO_END();
}

void test_backend_stream_view_stays_until_the_next_read(void)
{
    static view_t f;
    char c;
    long long t0;
    memset(&f, 0, sizeof f);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sv), 0);
    t0 = test_now_ns();
    CHECK_EQ(asyncio_run(view_main, &f, NULL), 0);
    /* a hang guard, not a speed check: close once waited 10 s on a receive it armed again */
    CHECK(test_now_ns() - t0 < 5000000000LL);
    CHECK_EQ(read(f.sv[1], &c, 1), 1);
    CHECK_EQ(c, 'x');
    CHECK_EQ(read(f.sv[1], &c, 1), 0); /* the loop closed the stream's end */
    close(f.sv[1]);
}

/* ---- a ring file call cancelled before it was submitted ------------------ */
/* An unlink started and cancelled in the same pass, before the loop's next
   poll: as a job still queued in the executor, it never runs (CPython's
   to_thread dropped before a worker takes it).  Only io_uring can promise
   it: the executor's workers may already have taken the job. */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    char path[160];
} unlinker_t;

static int unlinker(asyncio_task *self, void *frame)
{
    unlinker_t *f = (unlinker_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_unlink(&f->op, f->path));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_task t;
    unlinker_t u;
    int rc;
} withdraw_t;

static int withdraw_main(asyncio_task *self, void *frame)
{
    withdraw_t *f = (withdraw_t *)frame;
    ASYNCIO_BEGIN(self, f);
    asyncio_create_task(ASYNCIO_LOOP(), &f->t, unlinker, &f->u);
    ASYNCIO_YIELD(); /* the unlinker starts its call and waits */
    CHECK(!asyncio_future_done(&f->t.fut));
    asyncio_task_cancel(&f->t);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
    ASYNCIO_SLEEP(0.01); /* the no-op left in its slot completes quietly */
    ASYNCIO_END(); /* the loop's close waits for no job left over */
}

void test_backend_ring_file_call_cancelled_before_submission_never_runs(void)
{
    static withdraw_t f;
    int fd;
    memset(&f, 0, sizeof f);
    test_dir_make("withdraw");
    snprintf(f.u.path, sizeof f.u.path, "%s/keep", test_dir);
    CHECK((fd = open(f.u.path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) >= 0);
    close(fd);
    CHECK_EQ(asyncio_run(withdraw_main, &f, NULL), 0);
    if (!strcmp(asyncio_backend_name(), "io_uring"))
        CHECK_EQ(access(f.u.path, F_OK), 0); /* never unlinked */
    unlink(f.u.path);
    test_dir_remove();
}
