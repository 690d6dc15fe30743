/* Files (section 14): the asyncio_file_* calls run through the coroutine
   asyncio_file_io on the default executor -- round trips, short reads at
   end of file, errors with Python's OSError text, a full disk (/dev/full),
   a write cut short by RLIMIT_FSIZE, cancellation that says how many
   bytes moved and leaks no descriptor -- and asyncio_stream_open on pipes,
   FIFOs and ttys (and its refusal of regular files).  Where a worker must
   be caught mid-call, a FIFO holds it (open and read block on one until
   the test lets them go), so no timing decides an outcome. */
#define _GNU_SOURCE 1
#include "tests.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */
#define CHECK_HAS(text, part)                                                                       \
    do {                                                                                            \
        const char *t_ = (text), *p_ = (part);                                                      \
        if (!t_ || !strstr(t_, p_)) {                                                               \
            fprintf(stderr, "  %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,       \
                    t_ ? t_ : "(null)", p_);                                                        \
            exit(1);                                                                                \
        }                                                                                           \
    } while (0)

/* Descriptor fd of this process is the file at path. */
static int fd_is(const char *path, int fd)
{
    char link[64], target[512];
    ssize_t n;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if ((n = readlink(link, target, sizeof target - 1)) < 0)
        return 0;
    target[n] = 0;
    return strcmp(target, path) == 0;
}
/* Whether a thread of this process sits in system call nr with (int)
   first argument arg0, or with a descriptor of the file path_of_fd when
   that is not NULL -- an executor worker held by a FIFO -- as
   /proc/self/task/TID/syscall shows: 1 or 0, or -1 where that file cannot
   be read. */
static int thread_in_syscall_on(long nr, long arg0, const char *path_of_fd)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    char path[300], line[256];
    int found = 0, readable = 0;
    CHECK(d != NULL);
    while (!found && (e = readdir(d)) != NULL) {
        FILE *fp;
        long n;
        unsigned long a0;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/syscall", e->d_name);
        if (!(fp = fopen(path, "r")))
            continue;
        if (fgets(line, sizeof line, fp)) {
            readable = 1;
            found = sscanf(line, "%ld %lx", &n, &a0) == 2 && n == nr &&
                    (path_of_fd ? fd_is(path_of_fd, (int)a0) : (long)(int)a0 == arg0);
        }
        fclose(fp);
    }
    closedir(d);
    return found ? 1 : readable ? 0 : -1;
}
static int thread_in_syscall(long nr, long arg0) { return thread_in_syscall_on(nr, arg0, NULL); }
/* A thread sits in read() of the file at path (whatever its descriptor). */
static int thread_reading(const char *path) { return thread_in_syscall_on(SYS_read, 0, path); }
/* In a coroutine with an int f->i and f->in: wait (up to 5 s, the loop
   running) until a thread is in that call; without /proc's view, 50 ms.
   id1, id2: the two suspension points' labels (small numbers, unique in
   the function: the other points there are named by their lines). */
#define UNTIL_A_THREAD_IS_IN(id1, id2, nr, arg0) UNTIL_A_THREAD(id1, id2, thread_in_syscall((nr), (arg0)))
#define UNTIL_A_THREAD(id1, id2, test)                                                              \
    for (f->i = 0; f->i < 5000 && (f->in = (test)) == 0; f->i++) {                                  \
        ASYNCIO_SLEEP_AT(id1, 0.001);                                                               \
    }                                                                                               \
    if (f->in < 0) {                                                                                \
        ASYNCIO_SLEEP_AT(id2, 0.05);                                                                \
    }                                                                                               \
    CHECK(f->in != 0)


/* Run fn(frame) as the main task of a real-clock loop: its outcome. */
static int run_real(asyncio_fn fn, void *frame)
{
    asyncio_config cfg;
    asyncio_outcome out;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    rc = asyncio_run_config(&cfg, fn, frame, &out);
    if (rc != 0)
        fprintf(stderr, "  main task: %s: %s\n", asyncio_err_name(rc), out.msg ? out.msg : "");
    return rc;
}

/* Write a whole file with plain calls (test setup). */
static void put_file(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t done = 0;
    CHECK(fd >= 0);
    while (done < n) {
        ssize_t w = write(fd, (const char *)data + done, n - done);
        CHECK(w > 0);
        done += (size_t)w;
    }
    CHECK_EQ(close(fd), 0);
}

static long long file_size(const char *path)
{
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    return (long long)st.st_size;
}

/* ---- round trips ------------------------------------------------------------ */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd, rc;
    char path[128], path2[128], buf[128], want[256];
    struct stat st;
} trip_t;
static int trip_main(asyncio_task *self, void *frame)
{
    trip_t *f = (trip_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->path, O_RDWR | O_CREAT | O_TRUNC, 0600));
    f->fd = (int)ASYNCIO_RESULT().i;
    CHECK(f->fd >= 0);
    CHECK(fcntl(f->fd, F_GETFD) & FD_CLOEXEC);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write(&f->op, f->fd, "hello world", 11));
    CHECK_EQ(ASYNCIO_RESULT().i, 11);
    CHECK_EQ(f->op.done, 11);
    /* the position is at the end: a read there is end of file */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, sizeof f->buf));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_EQ(f->op.done, 0);
    /* pwrite / pread leave the position alone */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pwrite(&f->op, f->fd, "W", 1, 6));
    CHECK_EQ(ASYNCIO_RESULT().i, 1);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->buf, 5, 6));
    CHECK_EQ(ASYNCIO_RESULT().i, 5);
    CHECK_BYTES(f->buf, 5, "World");
    CHECK_EQ(lseek(f->fd, 0, SEEK_CUR), 11);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->buf, sizeof f->buf, 0));
    CHECK_BYTES(f->buf, (size_t)ASYNCIO_RESULT().i, "hello World");
    /* at and past the end: 0 */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->buf, sizeof f->buf, 11));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->buf, sizeof f->buf, 1 << 30));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    /* zero bytes: 0 */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write(&f->op, f->fd, "", 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    /* a write past the end leaves a hole */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pwrite(&f->op, f->fd, "Z", 1, 20));
    CHECK_EQ(ASYNCIO_RESULT().i, 1);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_fsync(&f->op, f->fd));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    memset(&f->st, 0, sizeof f->st);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_fstat(&f->op, f->fd, &f->st));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK(S_ISREG(f->st.st_mode));
    CHECK_EQ(f->st.st_size, 21);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_EQ(fcntl(f->fd, F_GETFD), -1); /* closed */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_stat(&f->op, f->path, &f->st));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK(S_ISREG(f->st.st_mode));
    CHECK_EQ(f->st.st_size, 21);
    CHECK_EQ(f->st.st_mode & 0777, 0600);
    /* rename, then the old name is gone */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_rename(&f->op, f->path, f->path2));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_stat(&f->op, f->path, &f->st));
    CHECK_EQ(f->rc, -ENOENT);
    /* read it back through a new descriptor: a short read at end of file */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->path2, O_RDONLY, 0));
    f->fd = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, sizeof f->buf));
    CHECK_EQ(ASYNCIO_RESULT().i, 21);
    CHECK(memcmp(f->buf, "hello World\0\0\0\0\0\0\0\0\0Z", 21) == 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, sizeof f->buf));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    /* a write on a read-only descriptor: EBADF naming the call and the fd */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_write(&f->op, f->fd, "x", 1));
    CHECK_EQ(f->rc, -EBADF);
    CHECK_EQ(f->op.done, 0);
    snprintf(f->want, sizeof f->want, "write: [Errno %d] %s (fd %d)", EBADF, strerror(EBADF), f->fd);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_unlink(&f->op, f->path2));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_stat(&f->op, f->path2, &f->st));
    CHECK_EQ(f->rc, -ENOENT);
    ASYNCIO_END();
}
void test_file_round_trips(void)
{
    trip_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.path, sizeof f.path, "%s/a.txt", test_dir);
    snprintf(f.path2, sizeof f.path2, "%s/b.txt", test_dir);
    CHECK_EQ(run_real(trip_main, &f), 0);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* ---- short reads at end of file, in several pieces --------------------------- */
/* A file of 3 MiB + 5 bytes (more than one 1 MiB piece each way): a read
   of 4 MiB gives the whole file, then 0; a pread from 1 MiB the rest. */
enum { SHORT_SIZE = (3 << 20) + 5, SHORT_BUF = 4 << 20 };
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd;
    char path[128];
    unsigned char *src, *buf;
} short_t;
static int short_main(asyncio_task *self, void *frame)
{
    short_t *f = (short_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->path, O_RDWR | O_CREAT | O_TRUNC, 0600));
    f->fd = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write(&f->op, f->fd, f->src, SHORT_SIZE));
    CHECK_EQ(ASYNCIO_RESULT().i, SHORT_SIZE);
    CHECK_EQ(lseek(f->fd, 0, SEEK_SET), 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, SHORT_BUF));
    CHECK_EQ(ASYNCIO_RESULT().i, SHORT_SIZE);
    CHECK_EQ(f->op.done, SHORT_SIZE);
    CHECK(memcmp(f->buf, f->src, SHORT_SIZE) == 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, SHORT_BUF));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_pread(&f->op, f->fd, f->buf, SHORT_BUF, 1 << 20));
    CHECK_EQ(ASYNCIO_RESULT().i, SHORT_SIZE - (1 << 20));
    CHECK(memcmp(f->buf, f->src + (1 << 20), SHORT_SIZE - (1 << 20)) == 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    ASYNCIO_END();
}
void test_file_short_reads_at_eof(void)
{
    short_t f;
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.path, sizeof f.path, "%s/short", test_dir);
    f.src = pattern_new(SHORT_SIZE);
    f.buf = (unsigned char *)malloc(SHORT_BUF);
    CHECK(f.buf != NULL);
    CHECK_EQ(run_real(short_main, &f), 0);
    free(f.src);
    free(f.buf);
    test_dir_remove();
}

/* ---- a full disk: /dev/full ------------------------------------------------- */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd, rc;
    char want[256], *big;
} full_t;
static int full_main(asyncio_task *self, void *frame)
{
    full_t *f = (full_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, "/dev/full", O_WRONLY, 0));
    f->fd = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_write(&f->op, f->fd, "hello", 5));
    CHECK_EQ(f->rc, -ENOSPC);
    CHECK_EQ(f->op.done, 0);
    snprintf(f->want, sizeof f->want, "write: [Errno %d] %s (fd %d)", ENOSPC, strerror(ENOSPC), f->fd);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    /* several pieces' worth: the first fails, nothing counted */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_write(&f->op, f->fd, f->big, 3 << 20));
    CHECK_EQ(f->rc, -ENOSPC);
    CHECK_EQ(f->op.done, 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    /* write_file names the path */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_write_file(&f->op, "/dev/full", "data", 4));
    CHECK_EQ(f->rc, -ENOSPC);
    CHECK_EQ(f->op.done, 0);
    snprintf(f->want, sizeof f->want, "write_file: [Errno %d] %s: '/dev/full'", ENOSPC, strerror(ENOSPC));
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    ASYNCIO_END();
}
void test_file_enospc_on_dev_full(void)
{
    full_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    f.big = (char *)calloc(1, 3 << 20);
    CHECK(f.big != NULL);
    CHECK_EQ(run_real(full_main, &f), 0);
    free(f.big);
    CHECK_EQ(count_fds_settled(), fds);
}

/* ---- a write cut short: RLIMIT_FSIZE --------------------------------------- */
/* The test process (a forked child of the runner) limits its files to
   1.5 MiB and ignores SIGXFSZ, so that crossing the limit is an EFBIG
   rather than death: a 3 MiB write moves 1.5 MiB, then fails with -EFBIG;
   done says 1.5 MiB and the file holds exactly those bytes.  The same for
   pwrite and write_file. */
enum { FSIZE_LIMIT = 3 << 19, FSIZE_WRITE = 3 << 20 };
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd, rc;
    char path[128], path2[128], want[256];
    unsigned char *src;
} fsizecut_t;
static int fsize_main(asyncio_task *self, void *frame)
{
    fsizecut_t *f = (fsizecut_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->path, O_RDWR | O_CREAT | O_TRUNC, 0600));
    f->fd = (int)ASYNCIO_RESULT().i;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_write(&f->op, f->fd, f->src, FSIZE_WRITE));
    CHECK_EQ(f->rc, -EFBIG);
    CHECK_EQ(f->op.done, FSIZE_LIMIT);
    snprintf(f->want, sizeof f->want, "write: [Errno %d] %s (fd %d)", EFBIG, strerror(EFBIG), f->fd);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    CHECK_EQ(lseek(f->fd, 0, SEEK_CUR), FSIZE_LIMIT);
    /* pwrite across the limit from 1 MiB: half a MiB gets in */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_pwrite(&f->op, f->fd, f->src, 1 << 20, 1 << 20));
    CHECK_EQ(f->rc, -EFBIG);
    CHECK_EQ(f->op.done, FSIZE_LIMIT - (1 << 20));
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    /* write_file */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_write_file(&f->op, f->path2, f->src, FSIZE_WRITE));
    CHECK_EQ(f->rc, -EFBIG);
    CHECK_EQ(f->op.done, FSIZE_LIMIT);
    CHECK_HAS(ASYNCIO_ERRMSG(), "write_file: [Errno 27]");
    CHECK_HAS(ASYNCIO_ERRMSG(), f->path2);
    ASYNCIO_END();
}
void test_file_partial_write_failure_rlimit_fsize(void)
{
    fsizecut_t f;
    struct rlimit rl;
    unsigned char *back;
    int fd, fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.path, sizeof f.path, "%s/limited", test_dir);
    snprintf(f.path2, sizeof f.path2, "%s/limited2", test_dir);
    f.src = pattern_new(FSIZE_WRITE);
    signal(SIGXFSZ, SIG_IGN);
    CHECK_EQ(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = FSIZE_LIMIT;
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
    CHECK_EQ(run_real(fsize_main, &f), 0);
    rl.rlim_cur = rl.rlim_max;
    CHECK_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
    /* the files hold exactly what done said, and the right bytes */
    CHECK_EQ(file_size(f.path), FSIZE_LIMIT);
    CHECK_EQ(file_size(f.path2), FSIZE_LIMIT);
    back = (unsigned char *)malloc(FSIZE_LIMIT);
    CHECK(back != NULL);
    CHECK((fd = open(f.path, O_RDONLY)) >= 0);
    CHECK_EQ(read(fd, back, FSIZE_LIMIT), FSIZE_LIMIT);
    close(fd);
    CHECK(memcmp(back, f.src, 1 << 20) == 0);                                        /* the write's */
    CHECK(memcmp(back + (1 << 20), f.src, FSIZE_LIMIT - (1 << 20)) == 0);            /* the pwrite's */
    CHECK((fd = open(f.path2, O_RDONLY)) >= 0);
    CHECK_EQ(read(fd, back, FSIZE_LIMIT), FSIZE_LIMIT);
    close(fd);
    CHECK(memcmp(back, f.src, FSIZE_LIMIT) == 0);
    free(back);
    free(f.src);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* ---- missing paths and bad descriptors ---------------------------------------- */
/* Python's OSError text, naming the call and the path (both for rename)
   or the descriptor. */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int rc, fd;
    char missing[128], nodir[160], want[512], buf[8];
    struct stat st;
} missing_t;
static int missing_main(asyncio_task *self, void *frame)
{
    missing_t *f = (missing_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_open(&f->op, f->missing, O_RDONLY, 0));
    CHECK_EQ(f->rc, -ENOENT);
    snprintf(f->want, sizeof f->want, "open: [Errno 2] No such file or directory: '%s'", f->missing);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    /* O_CREAT in a directory that does not exist */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_open(&f->op, f->nodir, O_WRONLY | O_CREAT, 0600));
    CHECK_EQ(f->rc, -ENOENT);
    CHECK_HAS(ASYNCIO_ERRMSG(), f->nodir);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_stat(&f->op, f->missing, &f->st));
    CHECK_EQ(f->rc, -ENOENT);
    snprintf(f->want, sizeof f->want, "stat: [Errno 2] No such file or directory: '%s'", f->missing);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_unlink(&f->op, f->missing));
    CHECK_EQ(f->rc, -ENOENT);
    CHECK_HAS(ASYNCIO_ERRMSG(), "unlink: [Errno 2]");
    CHECK_HAS(ASYNCIO_ERRMSG(), f->missing);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_rename(&f->op, f->missing, f->nodir));
    CHECK_EQ(f->rc, -ENOENT);
    snprintf(f->want, sizeof f->want, "rename: [Errno 2] No such file or directory: '%s' -> '%s'", f->missing,
             f->nodir);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_read_file(&f->op, f->missing));
    CHECK_EQ(f->rc, -ENOENT);
    snprintf(f->want, sizeof f->want, "read_file: [Errno 2] No such file or directory: '%s'", f->missing);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    CHECK(asyncio_file_data(&f->op) == NULL);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_write_file(&f->op, f->nodir, "x", 1));
    CHECK_EQ(f->rc, -ENOENT);
    CHECK_HAS(ASYNCIO_ERRMSG(), "write_file: [Errno 2]");
    CHECK_HAS(ASYNCIO_ERRMSG(), f->nodir);
    /* a directory */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_open(&f->op, "/tmp", O_WRONLY, 0));
    CHECK_EQ(f->rc, -EISDIR);
    CHECK_STR(ASYNCIO_ERRMSG(), "open: [Errno 21] Is a directory: '/tmp'");
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_read_file(&f->op, "/tmp"));
    CHECK_EQ(f->rc, -EISDIR);
    CHECK_HAS(ASYNCIO_ERRMSG(), "'/tmp'");
    asyncio_file_op_free(&f->op);
    /* descriptors that are not open */
    f->fd = dup(2);
    close(f->fd);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, sizeof f->buf));
    CHECK_EQ(f->rc, -EBADF);
    snprintf(f->want, sizeof f->want, "read: [Errno 9] Bad file descriptor (fd %d)", f->fd);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_pread(&f->op, -1, f->buf, sizeof f->buf, 0));
    CHECK_EQ(f->rc, -EBADF);
    CHECK_HAS(ASYNCIO_ERRMSG(), "pread: [Errno 9]");
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_fsync(&f->op, f->fd));
    CHECK_EQ(f->rc, -EBADF);
    CHECK_HAS(ASYNCIO_ERRMSG(), "fsync: [Errno 9]");
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_fstat(&f->op, f->fd, &f->st));
    CHECK_EQ(f->rc, -EBADF);
    CHECK_HAS(ASYNCIO_ERRMSG(), "fstat: [Errno 9]");
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_close(&f->op, f->fd));
    CHECK_EQ(f->rc, -EBADF);
    snprintf(f->want, sizeof f->want, "close: [Errno 9] Bad file descriptor (fd %d)", f->fd);
    CHECK_STR(ASYNCIO_ERRMSG(), f->want);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_pwrite(&f->op, f->fd, "x", 1, 0));
    CHECK_EQ(f->rc, -EBADF);
    CHECK_EQ(f->op.done, 0);
    ASYNCIO_END();
}
void test_file_missing_paths_and_bad_fds(void)
{
    missing_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.missing, sizeof f.missing, "%s/no-such-file.txt", test_dir);
    snprintf(f.nodir, sizeof f.nodir, "%s/no-such-test_dir/x.txt", test_dir);
    CHECK_EQ(run_real(missing_main, &f), 0);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* ---- cancellation during a large read and a large write ----------------------- */
/* The reading task is cancelled soon after it starts: the await fails
   with ASYNCIO_ECANCELLED; op.done counts the bytes in the buffer, they
   are the file's first done bytes, nothing past them was written to, and
   the descriptor's position moved by exactly done.  A write likewise: the
   file then holds exactly done bytes.  Several delays, so that the cut
   falls at different places (the assertions hold wherever it falls). */
enum { BIG_FILE = 64 << 20 };
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int fd, write;
    unsigned char *buf;
    const unsigned char *src;
} bigio_t;
static int bigio(asyncio_task *self, void *frame)
{
    bigio_t *f = (bigio_t *)frame;
    ASYNCIO_BEGIN(self, f);
    if (f->write) {
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write(&f->op, f->fd, f->src, BIG_FILE));
    } else {
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read(&f->op, f->fd, f->buf, BIG_FILE));
    }
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_task t;
    bigio_t io;
    int round, i, rc, cancelled;
    char path[128], wpath[128];
    unsigned char *src, *buf;
    size_t cut[2][6];
} cancel_big_t;
static int cancel_big_main(asyncio_task *self, void *frame)
{
    cancel_big_t *f = (cancel_big_t *)frame;
    size_t k;
    ASYNCIO_BEGIN(self, f);
    for (f->round = 0; f->round < 12; f->round++) {
        memset(&f->io, 0, sizeof f->io);
        f->io.write = f->round >= 6;
        f->io.buf = f->buf;
        f->io.src = f->src;
        if (f->io.write)
            f->io.fd = open(f->wpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        else
            f->io.fd = open(f->path, O_RDONLY | O_CLOEXEC);
        CHECK(f->io.fd >= 0);
        if (!f->io.write)
            memset(f->buf, 0xEE, BIG_FILE);
        CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, bigio, &f->io) != NULL);
        /* 0: before it starts; 1, 2: just after it started; then 0.5, 1, 2 ms */
        for (f->i = 0; f->i < f->round % 6 && f->i < 2; f->i++) {
            ASYNCIO_YIELD();
        }
        if (f->round % 6 >= 3) {
            ASYNCIO_SLEEP(0.0005 * (1 << (f->round % 6 - 3)));
        }
        /* a fast disk may have finished it already: then it is a success */
        f->cancelled = asyncio_task_cancel(&f->t);
        ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
        if (f->cancelled) {
            CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
        } else {
            CHECK_EQ(f->rc, 0);
            CHECK_EQ(f->io.op.done, BIG_FILE);
        }
        CHECK(f->io.op.done <= BIG_FILE);
        f->cut[f->io.write][f->round % 6] = f->io.op.done;
        CHECK_EQ(lseek(f->io.fd, 0, SEEK_CUR), (long long)f->io.op.done);
        if (f->io.write) {
            CHECK_EQ(file_size(f->wpath), (long long)f->io.op.done);
        } else {
            CHECK(memcmp(f->buf, f->src, f->io.op.done) == 0);
            for (k = f->io.op.done; k < BIG_FILE; k++) /* untouched past done */
                if (f->buf[k] != 0xEE)
                    break;
            CHECK_EQ(k, BIG_FILE);
        }
        close(f->io.fd);
    }
    ASYNCIO_END();
}
void test_file_cancel_during_large_read_and_write(void)
{
    static cancel_big_t f;
    unsigned char *back;
    int fd, fds = count_fds_settled();
    test_dir_make("files");
    snprintf(f.path, sizeof f.path, "%s/big", test_dir);
    snprintf(f.wpath, sizeof f.wpath, "%s/big-written", test_dir);
    f.src = pattern_new(BIG_FILE);
    f.buf = (unsigned char *)malloc(BIG_FILE);
    CHECK(f.buf != NULL);
    put_file(f.path, f.src, BIG_FILE);
    CHECK_EQ(run_real(cancel_big_main, &f), 0);
    /* the last write round's file holds the right bytes */
    back = f.buf;
    CHECK((fd = open(f.wpath, O_RDONLY)) >= 0);
    CHECK_EQ(read(fd, back, BIG_FILE), (long long)f.cut[1][5]);
    close(fd);
    CHECK(memcmp(back, f.src, f.cut[1][5]) == 0);
    free(f.src);
    free(f.buf);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* A read caught inside the worker: the worker blocks in read() on an
   empty FIFO, the task is cancelled, then 100 bytes arrive -- the call
   finishes its piece and stops: ECANCELLED, done == 100, the bytes in the
   buffer.  And a call that never started (the only worker is busy): done
   0, nothing read. */
static int fifo_w = -1;
static int block_worker(void *arg, asyncio_outcome *out)
{
    char c;
    (void)out;
    while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR)
        ;
    return 0;
}
typedef struct {
    asyncio_coro co;
    asyncio_task t;
    bigio_t io;
    asyncio_work blocker;
    int rc, i, in, gate[2];
    char fifo[128];
    unsigned char buf[4096];
} caught_t;
static int caught_main(asyncio_task *self, void *frame)
{
    caught_t *f = (caught_t *)frame;
    ASYNCIO_BEGIN(self, f);
    /* the reader opens the FIFO without blocking; the writer end is ours */
    memset(&f->io, 0, sizeof f->io);
    f->io.fd = open(f->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(f->io.fd >= 0);
    fifo_w = open(f->fifo, O_WRONLY | O_CLOEXEC);
    CHECK(fifo_w >= 0);
    CHECK_EQ(fcntl(f->io.fd, F_SETFL, 0), 0); /* blocking reads */
    f->io.buf = f->buf;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, bigio, &f->io) != NULL);
    /* until the worker sits in read() on the FIFO */
    ASYNCIO_YIELD();
    UNTIL_A_THREAD_IS_IN(1, 2, SYS_read, f->io.fd);
    CHECK_EQ(asyncio_task_cancel(&f->t), 1);
    for (f->i = 0; f->i < 5; f->i++) {
        ASYNCIO_SLEEP(0.001);
    }
    CHECK(!asyncio_future_done(&f->t.fut)); /* it waits for the call to end */
    memset(f->buf + 200, 'x', 100);
    CHECK_EQ(write(fifo_w, f->buf + 200, 100), 100);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
    CHECK_EQ(f->io.op.done, 100);
    CHECK(memcmp(f->buf, f->buf + 200, 100) == 0);
    close(fifo_w);
    close(f->io.fd);

    /* never started: the only worker is held by a job of ours */
    CHECK_EQ(asyncio_executor_configure(NULL, 1, -1), 0);
    CHECK_EQ(pipe(f->gate), 0);
    CHECK(asyncio_to_thread(ASYNCIO_LOOP(), &f->blocker, block_worker, &f->gate[0]) != NULL);
    memset(&f->io, 0, sizeof f->io);
    f->io.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    f->io.buf = f->buf;
    memset(f->buf, 0xEE, sizeof f->buf);
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, bigio, &f->io) != NULL);
    for (f->i = 0; f->i < 5; f->i++) {
        ASYNCIO_YIELD();
    }
    CHECK_EQ(asyncio_task_cancel(&f->t), 1);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
    CHECK_EQ(f->io.op.done, 0);
    CHECK_EQ(f->buf[0], 0xEE);
    CHECK_EQ(write(f->gate[1], "g", 1), 1);
    ASYNCIO_AWAIT(&f->blocker.fut);
    close(f->gate[0]);
    close(f->gate[1]);
    close(f->io.fd);
    ASYNCIO_END();
}
void test_file_cancel_caught_mid_call_and_before_it_starts(void)
{
    caught_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.fifo, sizeof f.fifo, "%s/fifo", test_dir);
    CHECK_EQ(mkfifo(f.fifo, 0600), 0);
    CHECK_EQ(run_real(caught_main, &f), 0);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* ---- read_file / write_file ----------------------------------------------------- */
enum { WHOLE = (3 << 20) + 7 };
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    struct stat st;
    int rc;
    char path[128], empty[128];
    unsigned char *src;
} whole_t;
static int whole_main(asyncio_task *self, void *frame)
{
    whole_t *f = (whole_t *)frame;
    ASYNCIO_BEGIN(self, f);
    CHECK(asyncio_file_data(&f->op) == NULL);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write_file(&f->op, f->path, f->src, WHOLE));
    CHECK_EQ(ASYNCIO_RESULT().i, WHOLE);
    CHECK_EQ(f->op.done, WHOLE);
    CHECK_EQ(file_size(f->path), WHOLE);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->path));
    CHECK_EQ(ASYNCIO_RESULT().i, WHOLE);
    CHECK(asyncio_file_data(&f->op) != NULL);
    CHECK(memcmp(asyncio_file_data(&f->op), f->src, WHOLE) == 0);
    CHECK_EQ(asyncio_file_data(&f->op)[WHOLE], 0); /* NUL-terminated */
    /* the same op again, without a free in between: no leak */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->path));
    CHECK_EQ(ASYNCIO_RESULT().i, WHOLE);
    CHECK(memcmp(asyncio_file_data(&f->op), f->src, WHOLE) == 0);
    asyncio_file_op_free(&f->op);
    CHECK(asyncio_file_data(&f->op) == NULL);
    asyncio_file_op_free(&f->op); /* twice: harmless */
    /* rewritten shorter: truncated */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write_file(&f->op, f->path, "short\n", 6));
    CHECK_EQ(ASYNCIO_RESULT().i, 6);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->path));
    CHECK_STR(asyncio_file_data(&f->op), "short\n");
    CHECK_EQ(ASYNCIO_RESULT().i, 6);
    /* another call on the op keeps read_file's bytes until freed */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_stat(&f->op, f->path, &f->st));
    CHECK_STR(asyncio_file_data(&f->op), "short\n");
    asyncio_file_op_free(&f->op);
    /* an empty file: 0 bytes, data "" */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_write_file(&f->op, f->empty, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_EQ(file_size(f->empty), 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->empty));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK(asyncio_file_data(&f->op) != NULL);
    CHECK_STR(asyncio_file_data(&f->op), "");
    /* a file whose size stat does not know (/proc): read to its end */
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, "/proc/self/status"));
    CHECK(ASYNCIO_RESULT().i > 0);
    CHECK_EQ(strlen(asyncio_file_data(&f->op)), ASYNCIO_RESULT().i);
    CHECK(strstr(asyncio_file_data(&f->op), "\nPid:\t") != NULL);
    asyncio_file_op_free(&f->op);
    ASYNCIO_END();
}
void test_file_read_file_and_write_file(void)
{
    whole_t f;
    int fds = count_fds_settled();
    struct stat st;
    mode_t old = umask(022);
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.path, sizeof f.path, "%s/whole", test_dir);
    snprintf(f.empty, sizeof f.empty, "%s/empty", test_dir);
    f.src = pattern_new(WHOLE);
    CHECK_EQ(run_real(whole_main, &f), 0);
    CHECK_EQ(stat(f.path, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0644); /* 0666 & ~umask */
    umask(old);
    free(f.src);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* ---- a cancelled open leaks no descriptor ------------------------------------------ */
/* The open is held inside the worker (a FIFO opened for reading blocks
   until a writer comes), cancelled there, then let go: the await fails
   with ASYNCIO_ECANCELLED and the descriptor the worker got is closed.
   The same for read_file (whose open is its first step).  Then 200 opens
   cancelled after 0, 1, 2 ... yields, wherever that falls: no descriptor
   is left, and an open that did finish first is an ordinary success. */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    const char *path;
    int whole;
} opener_t;
static int opener(asyncio_task *self, void *frame)
{
    opener_t *f = (opener_t *)frame;
    ASYNCIO_BEGIN(self, f);
    if (f->whole) {
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->path));
    } else {
        ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, f->path, O_RDONLY, 0));
    }
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_task t;
    opener_t o;
    int i, j, in, rc, w, fds, finished, cancelled;
    char fifo[128], file[128];
} copen_t;
static int copen_main(asyncio_task *self, void *frame)
{
    copen_t *f = (copen_t *)frame;
    asyncio_value v;
    ASYNCIO_BEGIN(self, f);
    f->fds = count_fds();
    for (f->i = 0; f->i < 2; f->i++) {
        memset(&f->o, 0, sizeof f->o);
        f->o.path = f->fifo;
        f->o.whole = f->i;
        CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, opener, &f->o) != NULL);
        ASYNCIO_YIELD();
        UNTIL_A_THREAD_IS_IN(1, 2, SYS_openat, AT_FDCWD); /* held in open() */
        CHECK(!asyncio_future_done(&f->t.fut));
        CHECK_EQ(asyncio_task_cancel(&f->t), 1);
        for (f->j = 0; f->j < 5; f->j++) {
            ASYNCIO_SLEEP(0.001);
        }
        CHECK(!asyncio_future_done(&f->t.fut)); /* an open cannot be abandoned */
        /* a writer lets the open go (then closes: read_file sees EOF) */
        for (f->j = 0; f->j < 5000; f->j++) {
            if ((f->w = open(f->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) >= 0)
                break;
            CHECK_EQ(errno, ENXIO);
            ASYNCIO_SLEEP(0.001);
        }
        CHECK(f->w >= 0);
        close(f->w);
        ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
        CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
        asyncio_file_op_free(&f->o.op);
        CHECK_EQ(count_fds(), f->fds);
    }
    /* wherever the cancellation falls */
    for (f->i = 0; f->i < 200; f->i++) {
        memset(&f->o, 0, sizeof f->o);
        f->o.path = f->file;
        f->o.whole = f->i % 2;
        CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, opener, &f->o) != NULL);
        for (f->j = 0; f->j < (f->i / 2) % 5; f->j++) {
            ASYNCIO_YIELD();
        }
        asyncio_task_cancel(&f->t);
        ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
        if (f->rc == 0) {
            f->finished++;
            CHECK_EQ(asyncio_future_result(&f->t.fut, &v), 0);
            if (!f->o.whole)
                CHECK_EQ(close((int)v.i), 0);
            else
                CHECK_STR(asyncio_file_data(&f->o.op), "content");
        } else {
            CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
            f->cancelled++;
        }
        asyncio_file_op_free(&f->o.op);
        CHECK_EQ(count_fds(), f->fds);
    }
    CHECK(f->cancelled > 0);
    ASYNCIO_END();
}
void test_file_cancelled_open_leaks_no_fd(void)
{
    copen_t f;
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.fifo, sizeof f.fifo, "%s/fifo", test_dir);
    snprintf(f.file, sizeof f.file, "%s/file", test_dir);
    CHECK_EQ(mkfifo(f.fifo, 0600), 0);
    put_file(f.file, "content", 7);
    CHECK_EQ(run_real(copen_main, &f), 0);
    test_dir_remove();
}

/* ---- asyncio_stream_open on files, pipes, FIFOs and ttys ------------------------------- */
/* A regular file or a directory is refused with a message that says what
   to use instead; the descriptor is left alone (still open, not added). */
void test_pipe_stream_open_refuses_regular_files(void)
{
    asyncio_loop loop;
    int fd, dfd, fds;
    char path[160];
    CHECK_EQ(asyncio_loop_init(&loop, NULL), 0);
    test_dir_make("files");
    snprintf(path, sizeof path, "%s/regular", test_dir);
    put_file(path, "x", 1);
    fds = count_fds();
    fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    CHECK(asyncio_stream_open(&loop, fd) == NULL);
    CHECK_HAS(asyncio_errmsg(), "regular file");
    CHECK_HAS(asyncio_errmsg(), "asyncio_file_");
    CHECK(fcntl(fd, F_GETFD) >= 0);
    CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* untouched */
    CHECK_EQ(asyncio_fd_close(&loop, fd), -EBADF); /* the loop does not know it */
    close(fd);
    dfd = open(test_dir, O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0);
    CHECK(asyncio_stream_open(&loop, dfd) == NULL);
    CHECK_HAS(asyncio_errmsg(), "directory");
    close(dfd);
    /* not open at all */
    CHECK(asyncio_stream_open(&loop, fd) == NULL);
    CHECK(asyncio_stream_open(&loop, -1) == NULL);
    CHECK_EQ(count_fds(), fds);
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    test_dir_remove();
}

/* A pipe, a FIFO and a pty, both ways: 1 MiB through a pipe with the
   writer and the reader at once; lines through a FIFO and end of file
   when the writer closes; a write to a pipe nobody reads is -EPIPE, not
   a SIGPIPE; bytes both ways through a raw pty; and a child's stdout as
   our own pipe (ASYNCIO_FD) read through asyncio_stream_open. */
enum { PIPE_BYTES = 1 << 20 };
typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    const unsigned char *src;
    size_t off;
} pwriter_t;
static int pipe_writer(asyncio_task *self, void *frame)
{
    pwriter_t *f = (pwriter_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->off = 0; f->off < PIPE_BYTES; f->off += 100000) {
        CHECK_EQ(asyncio_stream_write(f->s, f->src + f->off, PIPE_BYTES - f->off < 100000 ? PIPE_BYTES - f->off : 100000), 0);
        ASYNCIO_AWAIT(asyncio_stream_drain(f->s));
    }
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_stream *r, *w;
    asyncio_read_t rd;
    asyncio_task t;
    pwriter_t pw;
    asyncio_process *p;
    asyncio_process_options o;
    asyncio_process_op op;
    int fds[2], rc, i, master, slave;
    size_t got;
    unsigned char *src;
    char fifo[128];
} pipes_t;
static int pipes_main(asyncio_task *self, void *frame)
{
    pipes_t *f = (pipes_t *)frame;
    struct termios tio;
    ASYNCIO_BEGIN(self, f);
    /* a pipe: 1 MiB, writer and reader at once */
    CHECK_EQ(pipe(f->fds), 0);
    CHECK((f->r = asyncio_stream_open(ASYNCIO_LOOP(), f->fds[0])) != NULL);
    CHECK((f->w = asyncio_stream_open(ASYNCIO_LOOP(), f->fds[1])) != NULL);
    f->pw.s = f->w;
    f->pw.src = f->src;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, pipe_writer, &f->pw) != NULL);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->r, ASYNCIO_READ_ALL));
    CHECK_EQ(ASYNCIO_RESULT().i, PIPE_BYTES);
    CHECK(memcmp(asyncio_stream_data(f->r), f->src, PIPE_BYTES) == 0);
    ASYNCIO_AWAIT(&f->t.fut);
    ASYNCIO_AWAIT(asyncio_stream_close(f->r));

    /* a FIFO, line by line; end of file when the writer closes */
    f->fds[0] = open(f->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    f->fds[1] = open(f->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(f->fds[0] >= 0 && f->fds[1] >= 0);
    CHECK((f->r = asyncio_stream_open(ASYNCIO_LOOP(), f->fds[0])) != NULL);
    CHECK((f->w = asyncio_stream_open(ASYNCIO_LOOP(), f->fds[1])) != NULL);
    CHECK_EQ(asyncio_stream_write(f->w, "line1\nline2\npartial", 19), 0);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->r));
    CHECK_BYTES(asyncio_stream_data(f->r), ASYNCIO_RESULT().i, "line1\n");
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->r));
    CHECK_BYTES(asyncio_stream_data(f->r), ASYNCIO_RESULT().i, "line2\n");
    ASYNCIO_AWAIT(asyncio_stream_close(f->w));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->r));
    CHECK_BYTES(asyncio_stream_data(f->r), ASYNCIO_RESULT().i, "partial");
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->r));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK(asyncio_stream_at_eof(f->r));
    ASYNCIO_AWAIT(asyncio_stream_close(f->r));

    /* nobody reads: -EPIPE, and we are still here */
    CHECK_EQ(pipe(f->fds), 0);
    close(f->fds[0]);
    CHECK((f->w = asyncio_stream_open(ASYNCIO_LOOP(), f->fds[1])) != NULL);
    f->rc = asyncio_stream_write(f->w, "lost", 4);
    if (f->rc == 0) {
        ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(f->w));
    }
    CHECK_EQ(f->rc, -EPIPE);
    asyncio_stream_abort(f->w);

    /* a pty in raw mode: bytes both ways */
    f->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(f->master >= 0);
    CHECK_EQ(grantpt(f->master), 0);
    CHECK_EQ(unlockpt(f->master), 0);
    f->slave = open(ptsname(f->master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(f->slave >= 0);
    CHECK_EQ(tcgetattr(f->slave, &tio), 0);
    cfmakeraw(&tio);
    CHECK_EQ(tcsetattr(f->slave, TCSANOW, &tio), 0);
    CHECK((f->r = asyncio_stream_open(ASYNCIO_LOOP(), f->slave)) != NULL);
    CHECK((f->w = asyncio_stream_open(ASYNCIO_LOOP(), f->master)) != NULL);
    CHECK_EQ(asyncio_stream_write(f->w, "ping", 4), 0);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->r, 4));
    CHECK_BYTES(asyncio_stream_data(f->r), ASYNCIO_RESULT().i, "ping");
    CHECK_EQ(asyncio_stream_write(f->r, "pong", 4), 0);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->w, 4));
    CHECK_BYTES(asyncio_stream_data(f->w), ASYNCIO_RESULT().i, "pong");
    ASYNCIO_AWAIT(asyncio_stream_close(f->r));
    ASYNCIO_AWAIT(asyncio_stream_close(f->w));

    /* a child's stdout is our pipe */
    CHECK_EQ(pipe(f->fds), 0);
    memset(&f->o, 0, sizeof f->o);
    f->o.stdio[0].mode = ASYNCIO_DEVNULL;
    f->o.stdio[1].mode = ASYNCIO_FD;
    f->o.stdio[1].fd = f->fds[1];
    CHECK_EQ(asyncio_create_subprocess_shell(&f->p, ASYNCIO_LOOP(), "echo one; echo two", &f->o), 0);
    close(f->fds[1]); /* the child has its copy */
    CHECK((f->r = asyncio_stream_open(ASYNCIO_LOOP(), f->fds[0])) != NULL);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->r, ASYNCIO_READ_ALL));
    CHECK_BYTES(asyncio_stream_data(f->r), ASYNCIO_RESULT().i, "one\ntwo\n");
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(f->p);
    ASYNCIO_AWAIT(asyncio_stream_close(f->r));
    ASYNCIO_END();
}
void test_pipe_stream_open_pipe_fifo_and_tty_both_ways(void)
{
    pipes_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    signal(SIGPIPE, SIG_DFL);
    test_dir_make("files");
    snprintf(f.fifo, sizeof f.fifo, "%s/fifo", test_dir);
    CHECK_EQ(mkfifo(f.fifo, 0600), 0);
    f.src = pattern_new(PIPE_BYTES);
    CHECK_EQ(run_real(pipes_main, &f), 0);
    free(f.src);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* read_file on a FIFO (no size to go by: the buffer grows until end of
   file), fed by a child process. */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    asyncio_process *p;
    asyncio_process_op pop;
    char fifo[128], cmd[256];
    size_t i;
} fiforead_t;
static int fiforead_main(asyncio_task *self, void *frame)
{
    fiforead_t *f = (fiforead_t *)frame;
    ASYNCIO_BEGIN(self, f);
    snprintf(f->cmd, sizeof f->cmd, "head -c 100000 /dev/zero | tr '\\000' z > '%s'", f->fifo);
    CHECK_EQ(asyncio_create_subprocess_shell(&f->p, ASYNCIO_LOOP(), f->cmd, NULL), 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_read_file(&f->op, f->fifo));
    CHECK_EQ(ASYNCIO_RESULT().i, 100000);
    for (f->i = 0; f->i < 100000; f->i++)
        if (asyncio_file_data(&f->op)[f->i] != 'z')
            break;
    CHECK_EQ(f->i, 100000);
    CHECK_EQ(asyncio_file_data(&f->op)[100000], 0);
    asyncio_file_op_free(&f->op);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->pop, f->p));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    asyncio_process_release(f->p);
    ASYNCIO_END();
}
void test_file_read_file_of_a_fifo_grows_to_the_end(void)
{
    fiforead_t f;
    int fds = count_fds_settled();
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.fifo, sizeof f.fifo, "%s/fifo", test_dir);
    CHECK_EQ(mkfifo(f.fifo, 0600), 0);
    CHECK_EQ(run_real(fiforead_main, &f), 0);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* read_file of a FIFO cancelled while its worker waits for more: the
   await fails with ASYNCIO_ECANCELLED, op.done counts the bytes at
   asyncio_file_data (the right ones, NUL-terminated), the FIFO's
   descriptor is closed and op_free releases the bytes. */
typedef struct {
    asyncio_coro co;
    asyncio_task t;
    opener_t o;
    int w, rc, i, in;
    char fifo[128];
    unsigned char *src;
} rfcancel_t;
static int rfcancel_main(asyncio_task *self, void *frame)
{
    rfcancel_t *f = (rfcancel_t *)frame;
    ASYNCIO_BEGIN(self, f);
    memset(&f->o, 0, sizeof f->o);
    f->o.path = f->fifo;
    f->o.whole = 1;
    CHECK(asyncio_create_task(ASYNCIO_LOOP(), &f->t, opener, &f->o) != NULL);
    ASYNCIO_YIELD();
    UNTIL_A_THREAD_IS_IN(1, 2, SYS_openat, AT_FDCWD);
    CHECK((f->w = open(f->fifo, O_WRONLY | O_CLOEXEC)) >= 0);
    CHECK_EQ(write(f->w, f->src, 100), 100);
    UNTIL_A_THREAD(3, 4, thread_reading(f->fifo)); /* it has read some and waits */
    CHECK(!asyncio_future_done(&f->t.fut));
    CHECK_EQ(asyncio_task_cancel(&f->t), 1);
    CHECK_EQ(write(f->w, f->src + 100, 50), 50);
    ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
    CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
    CHECK(f->o.op.done >= 100 && f->o.op.done <= 150);
    CHECK(asyncio_file_data(&f->o.op) != NULL);
    CHECK(memcmp(asyncio_file_data(&f->o.op), f->src, f->o.op.done) == 0);
    CHECK_EQ(asyncio_file_data(&f->o.op)[f->o.op.done], 0);
    asyncio_file_op_free(&f->o.op);
    close(f->w);
    ASYNCIO_END();
}
void test_file_read_file_cancelled_keeps_what_it_read(void)
{
    rfcancel_t f;
    int fds = count_fds_settled(), i;
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.fifo, sizeof f.fifo, "%s/fifo", test_dir);
    CHECK_EQ(mkfifo(f.fifo, 0600), 0);
    f.src = (unsigned char *)malloc(150);
    CHECK(f.src != NULL);
    for (i = 0; i < 150; i++)
        f.src[i] = (unsigned char)('A' + i % 26);
    CHECK_EQ(run_real(rfcancel_main, &f), 0);
    free(f.src);
    CHECK_EQ(count_fds_settled(), fds);
    test_dir_remove();
}

/* The file at path is n bytes of the test pattern. */
static void check_same_as_pattern(const char *path, size_t n)
{
    unsigned char *want = pattern_new(n), *got = (unsigned char *)malloc(n + 1);
    int fd = open(path, O_RDONLY);
    CHECK(got != NULL && fd >= 0);
    CHECK_EQ(read(fd, got, n + 1), (long long)n);
    CHECK(memcmp(got, want, n) == 0);
    close(fd);
    free(got);
    free(want);
}

/* asyncio_file_copy: a file copied whole, inside the kernel (byte-exact,
   count returned); from a pipe, which copy_file_range refuses, through a
   buffer; to /dev/full, an error that names the call, with done 0. */
typedef struct {
    asyncio_coro co;
    asyncio_file_op op;
    int in, out, rc, p[2];
    char src[128], dst[128];
} fcopy_t;
static int fcopy_main(asyncio_task *self, void *frame)
{
    fcopy_t *f = (fcopy_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->in = open(f->src, O_RDONLY);
    f->out = open(f->dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(f->in >= 0 && f->out >= 0);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_copy(&f->op, f->in, f->out, (size_t)64 << 20));
    CHECK_EQ(ASYNCIO_RESULT().i, 3 << 20); /* short: the end of the source */
    CHECK_EQ(f->op.done, 3 << 20);
    close(f->in);
    close(f->out);
    check_same_as_pattern(f->dst, (size_t)3 << 20);

    CHECK_EQ(pipe(f->p), 0);
    CHECK_EQ(write(f->p[1], "through a pipe", 14), 14);
    close(f->p[1]);
    f->out = open(f->dst, O_WRONLY | O_TRUNC);
    ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_copy(&f->op, f->p[0], f->out, 100));
    CHECK_EQ(ASYNCIO_RESULT().i, 14);
    close(f->p[0]);
    close(f->out);

    f->in = open(f->src, O_RDONLY);
    f->out = open("/dev/full", O_WRONLY);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_file_io, asyncio_file_copy(&f->op, f->in, f->out, 4096));
    CHECK_EQ(f->rc, -ENOSPC);
    CHECK(strstr(ASYNCIO_ERRMSG(), "copy: [Errno 28]") != NULL);
    CHECK_EQ(f->op.done, 0);
    close(f->in);
    close(f->out);
    ASYNCIO_END();
}
void test_file_copy(void)
{
    fcopy_t f;
    unsigned char *data = pattern_new((size_t)3 << 20);
    memset(&f, 0, sizeof f);
    test_dir_make("files");
    snprintf(f.src, sizeof f.src, "%s/src", test_dir);
    snprintf(f.dst, sizeof f.dst, "%s/dst", test_dir);
    put_file(f.src, data, (size_t)3 << 20);
    free(data);
    CHECK_EQ(run_real(fcopy_main, &f), 0);
    CHECK_EQ(file_size(f.dst), 14);
    test_dir_remove();
}
