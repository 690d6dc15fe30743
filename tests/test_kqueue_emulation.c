/* tests/test_kqueue_emulation.c -- checks tests/kqueue_emulation.h (the
   TEST-ONLY kqueue over epoll) against kqueue(2)'s documented semantics,
   with pipes and socketpairs, user events triggered from other threads,
   and forked children.  Standalone: its own main(), TAP-like
   "ok N - name" lines, then "N passed, M failed"; exit status 1 on failure.

     gcc -std=c99 -D_GNU_SOURCE -Wall -Wextra -pedantic -Werror -Itests \
         tests/test_kqueue_emulation.c -o /tmp/tke && /tmp/tke

   -DKQUEUE_EMULATION_SO_ERROR=1 and -DKQUEUE_EMULATION_NO_PWAIT2 select the
   emulation's other code paths; the expectations follow. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* as the other tests: before any header */
#endif
#include "kqueue_emulation.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static int n_run, n_passed, n_failed, cur_failed;

#define EXPECT(cond)                                                              \
    do {                                                                          \
        if (!(cond)) {                                                            \
            cur_failed = 1;                                                       \
            printf("#   %s:%d: expected %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                         \
    } while (0)
#define EXPECT_EQ(a, b)                                                           \
    do {                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                       \
        if (a_ != b_) {                                                           \
            cur_failed = 1;                                                       \
            printf("#   %s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a, a_, #b, b_); \
        }                                                                         \
    } while (0)

/* ---- helpers -------------------------------------------------------------- */
static void *ud(uintptr_t v) { return (void *)v; }

/* kevent with a timeout in ms (-1: NULL, i.e. forever) */
static int kev(int kq, const struct kevent *ch, int nch, struct kevent *out, int nout, double ms)
{
    struct timespec ts;
    if (ms < 0)
        return kevent(kq, ch, nch, out, nout, NULL);
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
    return kevent(kq, ch, nch, out, nout, &ts);
}

/* Apply one change without scanning (no eventlist); 0 or the errno. */
static int change(int kq, int fd, short filter, unsigned short flags, void *udata)
{
    struct kevent c;
    EV_SET(&c, fd, filter, flags, 0, 0, udata);
    return kevent(kq, &c, 1, NULL, 0, NULL) == 0 ? 0 : errno;
}

/* The same with fflags and data (EVFILT_USER, EVFILT_PROC). */
static int xchange(int kq, uintptr_t ident, short filter, unsigned short flags, unsigned int fflags, intptr_t data,
                   void *udata)
{
    struct kevent c;
    EV_SET(&c, ident, filter, flags, fflags, data, udata);
    return kevent(kq, &c, 1, NULL, 0, NULL) == 0 ? 0 : errno;
}

/* asyncio.h's wake-up: EV_SET(&ch, ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL) */
static int trigger(int kq, uintptr_t ident) { return xchange(kq, ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL); }

static int poll0(int kq, struct kevent *out, int n) { return kev(kq, NULL, 0, out, n, 0); }

static const struct kevent *find(const struct kevent *ev, int n, int fd, short filter)
{
    int i;
    for (i = 0; i < n; i++)
        if (ev[i].ident == (uintptr_t)fd && ev[i].filter == filter)
            return &ev[i];
    return NULL;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void put(int fd, const char *s) { EXPECT_EQ(write(fd, s, strlen(s)), (long long)strlen(s)); }

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* ---- tests ---------------------------------------------------------------- */
static void t_basics(void)
{
    struct kevent ev[2];
    struct timespec bad = {0, 1000000000L}, neg = {-1, 0};
    int p[2], kq = kqueue();
    EXPECT(kq >= 0);
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(kevent(-1, NULL, 0, ev, 2, NULL), -1);
    EXPECT_EQ(errno, EBADF);
    EXPECT_EQ(kevent(p[0], NULL, 0, ev, 2, NULL), -1); /* not a kqueue */
    EXPECT_EQ(errno, EBADF);
    EXPECT_EQ(poll0(kq, ev, 2), 0);
    EXPECT_EQ(kevent(kq, NULL, -1, ev, 2, NULL), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, &bad), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, &neg), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(fcntl(kq, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(kqueue_emulation_close(kq), 0);
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, NULL), -1);
    EXPECT_EQ(errno, EBADF);
}

static void t_level(void)
{
    struct kevent ev[4];
    char buf[8];
    int p[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, ud(0x1234)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    put(p[1], "abc");
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].ident, p[0]);
    EXPECT_EQ(ev[0].filter, EVFILT_READ);
    EXPECT_EQ(ev[0].flags, 0); /* no EV_ADD, no EV_EOF */
    EXPECT_EQ(ev[0].fflags, 0);
    EXPECT_EQ(ev[0].data, 3);
    EXPECT(ev[0].udata == ud(0x1234));
    EXPECT_EQ(poll0(kq, ev, 4), 1); /* level: again, unread */
    EXPECT_EQ(ev[0].data, 3);
    EXPECT_EQ(read(p[0], buf, 1), 1);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].data, 2);
    EXPECT_EQ(read(p[0], buf, 8), 2);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

static void t_clear(void)
{
    struct kevent ev[4];
    char buf[16];
    int p[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, ud(7)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    put(p[1], "abc");
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_CLEAR);
    EXPECT_EQ(ev[0].data, 3);
    EXPECT(ev[0].udata == ud(7));
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* state reset: not again although unread */
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 20), 0);
    put(p[1], "de"); /* a new event */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].data, 5); /* everything readable, not just the new bytes */
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(read(p[0], buf, sizeof buf), 5);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* adding (or re-adding) evaluates the filter: ready now => reported */
    put(p[1], "x");
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, ud(8)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT(ev[0].udata == ud(8));
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* EOF is an event too */
    close(p[1]);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_CLEAR | EV_EOF);
    EXPECT_EQ(ev[0].data, 1);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    close(p[0]);
    kqueue_emulation_close(kq);
}

static void t_oneshot(void)
{
    struct kevent ev[4];
    int p[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, ud(1)), 0);
    put(p[1], "ab");
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_ONESHOT);
    EXPECT_EQ(ev[0].data, 2);
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* deleted although still readable */
    put(p[1], "c");
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), ENOENT);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, ud(2)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].data, 3);
    EXPECT(ev[0].udata == ud(2));
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

static void t_dispatch(void)
{
    struct kevent ev[4];
    int p[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD | EV_DISPATCH, ud(1)), 0);
    put(p[1], "ab");
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_DISPATCH);
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* disabled after delivery */
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ENABLE, ud(1)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0); /* still exists */
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

static void t_disable_enable(void)
{
    struct kevent ev[4];
    int p[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ENABLE, NULL), ENOENT);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DISABLE, NULL), ENOENT);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, ud(1)), 0);
    put(p[1], "a");
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DISABLE, ud(1)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 10), 0);
    /* re-adding a disabled knote only modifies it: still disabled (the
       kernels clear KN_DISABLED only for EV_ENABLE) */
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, ud(2)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* every change replaces udata, EV_ENABLE included */
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ENABLE, ud(3)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT(ev[0].udata == ud(3));
    EXPECT_EQ(poll0(kq, ev, 4), 1); /* level again */
    /* added disabled */
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD | EV_DISABLE, ud(4)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ENABLE, ud(4)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT(ev[0].udata == ud(4));
    /* disabled knotes do not report EOF/HUP either */
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DISABLE, ud(4)), 0);
    close(p[1]);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 10), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ENABLE, ud(4)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_EOF);
    close(p[0]);
    kqueue_emulation_close(kq);
}

static void t_delete(void)
{
    struct kevent ev[4], c;
    int p[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, ud(1)), 0);
    put(p[1], "a");
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* deleting twice: ENOENT, as an EV_ERROR entry when there is room ... */
    EV_SET(&c, p[0], EVFILT_READ, EV_DELETE, 0, 0, ud(9));
    memset(ev, 0, sizeof ev);
    EXPECT_EQ(kev(kq, &c, 1, ev, 4, 0), 1);
    EXPECT_EQ(ev[0].flags, EV_ERROR);
    EXPECT_EQ(ev[0].data, ENOENT);
    EXPECT_EQ(ev[0].ident, p[0]);
    EXPECT_EQ(ev[0].filter, EVFILT_READ);
    EXPECT(ev[0].udata == ud(9));
    /* ... -1/ENOENT when there is not */
    errno = 0;
    EXPECT_EQ(kevent(kq, &c, 1, NULL, 0, NULL), -1);
    EXPECT_EQ(errno, ENOENT);
    /* deleting READ leaves WRITE alone */
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_ADD, NULL), 0);
    EXPECT_EQ(change(kq, p[1], EVFILT_READ, EV_DELETE, NULL), ENOENT);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].filter, EVFILT_WRITE);
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

static void t_errors(void)
{
    struct kevent ch[4], ev[4];
    int p[2], bad, kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    bad = dup(p[0]);
    close(bad); /* a closed descriptor number */
    EXPECT(!is_open(bad));
    put(p[1], "a");
    EV_SET(&ch[0], bad, EVFILT_READ, EV_ADD, 0, 0, ud(11));
    EV_SET(&ch[1], p[0], EVFILT_READ, EV_ADD, 0, 0, ud(12));
    EV_SET(&ch[2], p[0], -7 /* EVFILT_TIMER: not emulated */, EV_ADD, 0, 0, ud(13));
    EV_SET(&ch[3], (uintptr_t)INT_MAX + 1, EVFILT_WRITE, EV_ADD, 0, 0, ud(14));
    memset(ev, 0, sizeof ev);
    /* errors are returned at once: the ready pipe is not drained */
    EXPECT_EQ(kev(kq, ch, 4, ev, 4, -1), 3);
    EXPECT_EQ(ev[0].flags, EV_ERROR);
    EXPECT_EQ(ev[0].data, EBADF);
    EXPECT_EQ(ev[0].ident, bad);
    EXPECT(ev[0].udata == ud(11));
    EXPECT_EQ(ev[1].flags, EV_ERROR);
    EXPECT_EQ(ev[1].data, EINVAL);
    EXPECT_EQ(ev[1].filter, -7);
    EXPECT_EQ(ev[2].flags, EV_ERROR);
    EXPECT_EQ(ev[2].data, EBADF);
    EXPECT(ev[2].udata == ud(14));
    /* processing went on: the good change was applied */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT(ev[0].udata == ud(12));
    /* no room: -1 and errno; the changes after it are not applied */
    EV_SET(&ch[1], p[1], EVFILT_WRITE, EV_ADD, 0, 0, NULL);
    errno = 0;
    EXPECT_EQ(kevent(kq, ch, 2, NULL, 0, NULL), -1);
    EXPECT_EQ(errno, EBADF);
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_DELETE, NULL), ENOENT);
    /* room for one error only: the first is returned, the second fails the call */
    EV_SET(&ch[1], bad, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    errno = 0;
    EXPECT_EQ(kevent(kq, ch, 2, ev, 1, NULL), -1);
    EXPECT_EQ(errno, EBADF);
    /* EV_DELETE / EV_ENABLE of a closed descriptor: EBADF, not ENOENT */
    EXPECT_EQ(change(kq, bad, EVFILT_READ, EV_DELETE, NULL), EBADF);
    EXPECT_EQ(change(kq, bad, EVFILT_READ, EV_ENABLE, NULL), EBADF);
    /* the kqueue cannot watch itself here (a documented limitation) */
    EXPECT_EQ(change(kq, kq, EVFILT_READ, EV_ADD, NULL), EINVAL);
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

static void t_regular_file(void)
{
    /* a documented limitation: epoll refuses regular files */
    FILE *f = tmpfile();
    int kq = kqueue();
    EXPECT(f != NULL);
    if (f) {
        EXPECT_EQ(change(kq, fileno(f), EVFILT_READ, EV_ADD, NULL), EPERM);
        fclose(f);
    }
    kqueue_emulation_close(kq);
}

static void t_receipt(void)
{
    struct kevent ch[3], ev[4];
    int p[2], q[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(pipe(q), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, ud(1)), 0);
    put(p[1], "a"); /* a pending event */
    EV_SET(&ch[0], q[0], EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, ud(2));
    memset(ev, 0, sizeof ev);
    EXPECT_EQ(kev(kq, ch, 1, ev, 4, -1), 1); /* no wait, no drain */
    EXPECT_EQ(ev[0].flags, EV_ERROR);
    EXPECT_EQ(ev[0].data, 0);
    EXPECT_EQ(ev[0].ident, q[0]);
    EXPECT(ev[0].udata == ud(2));
    EXPECT_EQ(poll0(kq, ev, 4), 1); /* the pending event is still there */
    EXPECT_EQ(ev[0].ident, p[0]);
    /* EV_RECEIPT stays in the knote's flags */
    put(q[1], "b");
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    EXPECT(find(ev, 2, q[0], EVFILT_READ) && find(ev, 2, q[0], EVFILT_READ)->flags == EV_RECEIPT);
    /* a failing change under EV_RECEIPT: data = errno */
    EV_SET(&ch[0], q[0], EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, NULL);
    EXPECT_EQ(kev(kq, ch, 1, ev, 4, 0), 1);
    EXPECT_EQ(ev[0].flags, EV_ERROR);
    EXPECT_EQ(ev[0].data, ENOENT);
    /* no room left (kqueue(2): "subsequent changes will not get processed"):
       as in FreeBSD's kqueue_kevent(), the change that finds no room for its
       receipt is applied, unreported, and the ones after it are not */
    EV_SET(&ch[0], q[1], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    EV_SET(&ch[1], p[1], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    EV_SET(&ch[2], q[0], EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
    EXPECT_EQ(kev(kq, ch, 3, ev, 1, 0), 1);
    EXPECT_EQ(ev[0].ident, q[1]);
    EXPECT_EQ(change(kq, q[1], EVFILT_WRITE, EV_DELETE, NULL), 0);
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_DELETE, NULL), 0);
    EXPECT_EQ(change(kq, q[0], EVFILT_WRITE, EV_DELETE, NULL), ENOENT);
    EXPECT_EQ(kevent(kq, ch, 2, NULL, 0, NULL), 0);
    EXPECT_EQ(change(kq, q[1], EVFILT_WRITE, EV_DELETE, NULL), 0);
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_DELETE, NULL), ENOENT);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    kqueue_emulation_close(kq);
}

static void t_changes_then_wait(void)
{
    struct kevent ch[3], ev[3];
    int p[2], bad, kq = kqueue();
    double t0;
    EXPECT_EQ(pipe(p), 0);
    put(p[1], "abc");
    /* one call: apply, then wait and return the event */
    EV_SET(&ch[0], p[0], EVFILT_READ, EV_ADD, 0, 0, ud(5));
    EXPECT_EQ(kev(kq, ch, 1, ev, 3, -1), 1);
    EXPECT_EQ(ev[0].data, 3);
    EXPECT(ev[0].udata == ud(5));
    /* nevents == 0: applied, returns at once even with a NULL timeout */
    t0 = now_ms();
    EV_SET(&ch[0], p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
    EXPECT_EQ(kevent(kq, ch, 1, NULL, 0, NULL), 0);
    EXPECT_EQ(kevent(kq, NULL, 0, NULL, 0, NULL), 0);
    EXPECT(now_ms() - t0 < 50);
    EXPECT_EQ(poll0(kq, ev, 3), 0);
    /* the changelist may be the eventlist */
    bad = dup(p[0]);
    close(bad);
    EV_SET(&ev[0], bad, EVFILT_READ, EV_ADD, 0, 0, ud(1));
    EV_SET(&ev[1], p[0], EVFILT_READ, EV_ADD, 0, 0, ud(2));
    EV_SET(&ev[2], p[1], EVFILT_WRITE, EV_ADD, 0, 0, ud(3));
    EXPECT_EQ(kevent(kq, ev, 3, ev, 3, NULL), 1);
    EXPECT_EQ(ev[0].flags, EV_ERROR);
    EXPECT_EQ(ev[0].data, EBADF);
    EXPECT(ev[0].udata == ud(1));
    EXPECT_EQ(poll0(kq, ev, 3), 2);
    EXPECT(find(ev, 2, p[0], EVFILT_READ) && find(ev, 2, p[0], EVFILT_READ)->udata == ud(2));
    EXPECT(find(ev, 2, p[1], EVFILT_WRITE) && find(ev, 2, p[1], EVFILT_WRITE)->udata == ud(3));
    /* filter 0 entries are skipped */
    EV_SET(&ch[0], bad, 0, EV_ADD, 0, 0, NULL);
    EXPECT_EQ(kevent(kq, ch, 1, NULL, 0, NULL), 0);
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

static void t_eof(void)
{
    struct kevent ev[4];
    const struct kevent *e;
    char buf[16];
    int p[2], s[2], kq = kqueue();

    /* socketpair: peer closes with data unread */
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_READ, EV_ADD, ud(1)), 0);
    put(s[1], "hello");
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags & EV_EOF, 0);
    close(s[1]);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_EOF);
    EXPECT_EQ(ev[0].data, 5);
    EXPECT_EQ(ev[0].fflags, 0);
    EXPECT_EQ(read(s[0], buf, sizeof buf), 5);
    EXPECT_EQ(poll0(kq, ev, 4), 1); /* EOF stays readable */
    EXPECT_EQ(ev[0].flags, EV_EOF);
    EXPECT_EQ(ev[0].data, 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_ADD, ud(2)), 0); /* peer gone: write side dead */
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    e = find(ev, 2, s[0], EVFILT_WRITE);
    EXPECT(e && (e->flags & EV_EOF) && e->udata == ud(2));
    close(s[0]);

    /* half close: peer shuts down its write side */
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_READ, EV_ADD, ud(1)), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_ADD, ud(2)), 0);
    put(s[1], "xy");
    EXPECT_EQ(shutdown(s[1], SHUT_WR), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    e = find(ev, 2, s[0], EVFILT_READ);
    EXPECT(e && e->flags == EV_EOF && e->data == 2);
    e = find(ev, 2, s[0], EVFILT_WRITE);
    EXPECT(e && e->flags == 0 && e->data > 0); /* we can still send */
    close(s[0]);
    close(s[1]);

    /* pipe: writer closes with data unread */
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    put(p[1], "abcd");
    close(p[1]);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_EOF);
    EXPECT_EQ(ev[0].data, 4);
    EXPECT_EQ(read(p[0], buf, sizeof buf), 4);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_EOF);
    EXPECT_EQ(ev[0].data, 0);
    close(p[0]);

    /* pipe: reader closes; the writer gets EV_EOF with data 0 */
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_ADD, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, 0);
    close(p[0]);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_EOF);
    EXPECT_EQ(ev[0].data, 0);
    close(p[1]);
    kqueue_emulation_close(kq);
}

/* A refused TCP connect: EV_EOF on WRITE; fflags carries the error only if
   the emulation may consume it (see the header). */
static int t_so_error(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    struct kevent ev[2];
    int l, s, kq, err = -1, r;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(l, (struct sockaddr *)&a, &len) < 0) {
        if (l >= 0)
            close(l);
        return 0; /* skipped: no loopback */
    }
    close(l); /* nobody listens on that port now */
    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    r = connect(s, (struct sockaddr *)&a, sizeof a);
    if (r == 0 || errno != EINPROGRESS) {
        close(s);
        return 0; /* refused synchronously: nothing to observe */
    }
    kq = kqueue();
    EXPECT_EQ(change(kq, s, EVFILT_WRITE, EV_ADD, NULL), 0);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 2, 2000), 1);
    EXPECT_EQ(ev[0].filter, EVFILT_WRITE);
    EXPECT(ev[0].flags & EV_EOF);
    len = sizeof err;
    EXPECT_EQ(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
#if KQUEUE_EMULATION_SO_ERROR
    EXPECT_EQ(ev[0].fflags, ECONNREFUSED);
    EXPECT_EQ(err, 0); /* consumed by the emulation: why it is off by default */
#else
    EXPECT_EQ(ev[0].fflags, 0);
    EXPECT_EQ(err, ECONNREFUSED); /* still there for the application */
#endif
    close(s);
    kqueue_emulation_close(kq);
    return 1;
}

static void t_data(void)
{
    static char big[70000];
    struct kevent ev[4];
    int p[2], s[2], cap, n, queued, kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    cap = fcntl(p[1], F_GETPIPE_SZ);
    EXPECT(cap > 0);
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_ADD, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].data, cap);
    EXPECT_EQ(write(p[1], big, 1000), 1000);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].data, cap - 1000);
    /* full: not writable; reading makes it writable again */
    EXPECT_EQ(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    queued = 1000;
    while ((n = (int)write(p[1], big, sizeof big)) > 0)
        queued += n;
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(read(p[0], big, 16384), 16384);
    queued -= 16384;
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].data, cap - queued);
    EXPECT(ev[0].data >= 4096);
    /* READ data on a pipe and a socket */
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    EXPECT(find(ev, 2, p[0], EVFILT_READ) && find(ev, 2, p[0], EVFILT_READ)->data == queued);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_READ, EV_ADD, NULL), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_ADD, NULL), 0);
    n = (int)write(s[1], big, 12345);
    EXPECT_EQ(n, 12345);
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    EXPECT(find(ev, 2, s[0], EVFILT_READ) && find(ev, 2, s[0], EVFILT_READ)->data == 12345);
    EXPECT(find(ev, 2, s[0], EVFILT_WRITE) && find(ev, 2, s[0], EVFILT_WRITE)->data > 0);
    close(s[0]);
    close(s[1]);
    kqueue_emulation_close(kq);
}

static void t_read_write_independent(void)
{
    struct kevent ev[4];
    const struct kevent *r, *w;
    char buf[8];
    int s[2], kq = kqueue();
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_READ, EV_ADD, ud(10)), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_ADD, ud(20)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1); /* writable only */
    EXPECT_EQ(ev[0].filter, EVFILT_WRITE);
    EXPECT(ev[0].udata == ud(20));
    put(s[1], "abc");
    EXPECT_EQ(poll0(kq, ev, 4), 2); /* two kevents, one per filter */
    r = find(ev, 2, s[0], EVFILT_READ);
    w = find(ev, 2, s[0], EVFILT_WRITE);
    EXPECT(r && r->udata == ud(10) && r->data == 3 && r->flags == 0);
    EXPECT(w && w->udata == ud(20) && w->data > 3 && w->flags == 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_DISABLE, ud(20)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].filter, EVFILT_READ);
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_ENABLE, ud(21)), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_READ, EV_DELETE, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].filter, EVFILT_WRITE);
    EXPECT(ev[0].udata == ud(21));
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_DELETE, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(read(s[0], buf, sizeof buf), 3);

    /* EV_CLEAR on both: an edge of one direction is not an edge of the other */
    EXPECT_EQ(change(kq, s[0], EVFILT_READ, EV_ADD | EV_CLEAR, ud(10)), 0);
    EXPECT_EQ(change(kq, s[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, ud(20)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1); /* writable, once */
    EXPECT_EQ(ev[0].filter, EVFILT_WRITE);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    put(s[1], "d"); /* data arrives: a READ edge only */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].filter, EVFILT_READ);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    put(s[0], "e"); /* we send: no event of ours */
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(read(s[1], buf, sizeof buf), 1); /* the peer consumes: space freed, a WRITE edge */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].filter, EVFILT_WRITE);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    close(s[1]); /* EOF: both */
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    r = find(ev, 2, s[0], EVFILT_READ);
    w = find(ev, 2, s[0], EVFILT_WRITE);
    EXPECT(r && r->flags == (EV_CLEAR | EV_EOF) && r->data == 1);
    EXPECT(w && w->flags == (EV_CLEAR | EV_EOF));
    close(s[0]);
    kqueue_emulation_close(kq);
}

static void t_timeouts(void)
{
    static const double waits[] = {1.5, 1.5, 1.5, 0.1, 0.000001, 2.25, 10};
    struct kevent ev[2];
    struct timespec ts;
    double t0, dt;
    int p[2], i, k, early = 0, kq = kqueue();
    pid_t pid;
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
    /* {0,0} polls */
    t0 = now_ms();
    for (i = 0; i < 100; i++)
        EXPECT_EQ(poll0(kq, ev, 2), 0);
    EXPECT(now_ms() - t0 < 100);
    /* never early, by the CLOCK_MONOTONIC */
    for (k = 0; k < 5; k++)
        for (i = 0; i < (int)(sizeof waits / sizeof waits[0]); i++) {
            ts.tv_sec = 0;
            ts.tv_nsec = (long)(waits[i] * 1e6);
            t0 = now_ms();
            EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
            dt = now_ms() - t0;
            if (dt < waits[i]) {
                early++;
                printf("#   %.6f ms timeout returned after %.6f ms\n", waits[i], dt);
            }
        }
    EXPECT_EQ(early, 0);
    /* 1.5 ms is not rounded down to 1 ms (nor 2 ms to 1.999) */
    ts.tv_sec = 0;
    ts.tv_nsec = 1500000;
    t0 = now_ms();
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
    EXPECT(now_ms() - t0 >= 1.5);
    /* a whole second plus nanoseconds */
    ts.tv_sec = 1;
    ts.tv_nsec = 1;
    t0 = now_ms();
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, &ts), 0);
    EXPECT(now_ms() - t0 >= 1000.000001);
    /* NULL waits until an event, however long */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct timespec d = {0, 80000000};
        nanosleep(&d, NULL);
        _exit(write(p[1], "z", 1) == 1 ? 0 : 1);
    }
    EXPECT(pid > 0);
    t0 = now_ms();
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, NULL), 1);
    EXPECT(now_ms() - t0 >= 60);
    EXPECT_EQ(ev[0].data, 1);
    waitpid(pid, NULL, 0);
    /* an event ends a timed wait early */
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0);
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_ADD | EV_ONESHOT, NULL), 0);
    t0 = now_ms();
    EXPECT_EQ(kev(kq, NULL, 0, ev, 2, 5000), 1);
    EXPECT(now_ms() - t0 < 1000);
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

static void on_usr1(int sig) { (void)sig; }

static void t_eintr(void)
{
    struct sigaction sa, old;
    struct kevent ev[2];
    int kq = kqueue(), round, r, e;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART; kevent is never restarted anyway */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    for (round = 0; round < 2; round++) {
        pid_t pid;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            struct timespec d = {0, 50000000};
            nanosleep(&d, NULL);
            kill(getppid(), SIGUSR1);
            _exit(0);
        }
        r = round == 0 ? kevent(kq, NULL, 0, ev, 2, NULL) : kev(kq, NULL, 0, ev, 2, 5000);
        e = errno;
        EXPECT_EQ(r, -1);
        EXPECT_EQ(e, EINTR);
        waitpid(pid, NULL, 0);
    }
    sigaction(SIGUSR1, &old, NULL);
    kqueue_emulation_close(kq);
}

static void t_udata(void)
{
    struct kevent ev[4];
    int p[2], kq = kqueue();
    void *u1 = (void *)&p, *u2 = ud(~(uintptr_t)0);
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, u1), 0);
    EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_ADD, u2), 0);
    put(p[1], "a");
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    EXPECT(find(ev, 2, p[0], EVFILT_READ) && find(ev, 2, p[0], EVFILT_READ)->udata == u1);
    EXPECT(find(ev, 2, p[1], EVFILT_WRITE) && find(ev, 2, p[1], EVFILT_WRITE)->udata == u2);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0); /* modify: udata replaced */
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    EXPECT(find(ev, 2, p[0], EVFILT_READ) && find(ev, 2, p[0], EVFILT_READ)->udata == NULL);
    close(p[0]);
    close(p[1]);
    kqueue_emulation_close(kq);
}

/* Closing a descriptor removes its knotes; a new file under the same number
   must not inherit them.  mode: knote flags; keep: hold the old file open
   with a dup (epoll then keeps its registration: the hard case). */
static void reuse_case(unsigned short mode, int keep, short filter)
{
    struct kevent ev[4];
    int p[2], q[2], held = -1, watched, kq = kqueue();
    double t0;
    EXPECT_EQ(pipe(p), 0);
    watched = filter == EVFILT_READ ? p[0] : p[1];
    EXPECT_EQ(change(kq, watched, filter, EV_ADD | mode, ud(1)), 0);
    if (filter == EVFILT_READ)
        put(p[1], "old");
    if (keep)
        held = dup(watched);
    close(watched);
    /* the old file is still ready, yet nothing: and no busy loop either */
    t0 = now_ms();
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 20), 0);
    EXPECT(now_ms() - t0 >= 20);
    EXPECT_EQ(change(kq, watched, filter, EV_DELETE, NULL), EBADF);
    /* a new pipe takes the number */
    EXPECT_EQ(pipe(q), 0);
    {
        int end = filter == EVFILT_READ ? 0 : 1;
        if (q[end] != watched) { /* move the pipe's ends so that q[end] == watched */
            if (q[1 - end] == watched)
                q[1 - end] = dup(watched);
            EXPECT_EQ(dup2(q[end], watched), watched);
            close(q[end]);
            q[end] = watched;
        }
    }
    if (filter == EVFILT_READ)
        put(q[1], "new");
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(change(kq, watched, filter, EV_DELETE, NULL), ENOENT);
    EXPECT_EQ(change(kq, watched, filter, EV_ENABLE, NULL), ENOENT);
    /* more activity on the old file: still nothing */
    if (filter == EVFILT_READ && keep)
        put(p[1], "more");
    if (filter == EVFILT_WRITE && keep) {
        char buf[8];
        EXPECT_EQ(write(held, "w", 1), 1);
        EXPECT_EQ(read(p[0], buf, sizeof buf), 1);
    }
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 10), 0);
    /* a knote for the new file works, with its own udata */
    EXPECT_EQ(change(kq, watched, filter, EV_ADD | mode, ud(2)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].ident, watched);
    EXPECT(ev[0].udata == ud(2));
    if (filter == EVFILT_READ)
        EXPECT_EQ(ev[0].data, 3);
    EXPECT_EQ(ev[0].flags & EV_EOF, 0);
    if (held >= 0)
        close(held);
    close(filter == EVFILT_READ ? p[1] : p[0]);
    close(q[0]);
    close(q[1]);
    kqueue_emulation_close(kq);
}

static void t_fd_reuse(void)
{
    static const unsigned short modes[] = {0, EV_CLEAR, EV_ONESHOT, EV_DISPATCH};
    int m, keep;
    for (keep = 0; keep < 2; keep++)
        for (m = 0; m < 4; m++) {
            reuse_case(modes[m], keep, EVFILT_READ);
            reuse_case(modes[m], keep, EVFILT_WRITE);
        }
}

/* Re-adding a knote on a reused number that was never deleted: the EV_ADD
   creates a fresh knote (EV_CLEAR etc. from the new change). */
static void t_readd_stale(void)
{
    struct kevent ev[4];
    int p[2], q[2], held, kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD | EV_CLEAR, ud(1)), 0);
    held = dup(p[0]);
    close(p[0]);
    EXPECT_EQ(pipe(q), 0);
    EXPECT_EQ(q[0], p[0]);
    put(q[1], "ab");
    EXPECT_EQ(change(kq, q[0], EVFILT_READ, EV_ADD, ud(2)), 0); /* level now */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, 0);
    EXPECT(ev[0].udata == ud(2));
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    put(p[1], "old"); /* the old file, still open through held */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].data, 2);
    close(held);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    kqueue_emulation_close(kq);
}

static void t_many(void)
{
    enum { N = 100 };
    static struct kevent ev[2 * N];
    int p[N][2], seen[N], i, k, n, ok = 1, kq = kqueue();
    for (i = 0; i < N; i++) {
        EXPECT_EQ(pipe(p[i]), 0);
        EXPECT_EQ(change(kq, p[i][0], EVFILT_READ, EV_ADD, ud((uintptr_t)i)), 0);
        put(p[i][1], "x");
    }
    /* all in one call, each once */
    memset(seen, 0, sizeof seen);
    EXPECT_EQ(n = poll0(kq, ev, 2 * N), N);
    for (k = 0; k < n; k++)
        seen[(uintptr_t)ev[k].udata]++;
    for (i = 0; i < N; i++)
        ok &= seen[i] == 1;
    EXPECT(ok);
    /* ten at a time: ten calls see all of them (level knotes rotate) */
    memset(seen, 0, sizeof seen);
    for (i = 0; i < 10; i++) {
        EXPECT_EQ(n = poll0(kq, ev, 10), 10);
        for (k = 0; k < n; k++)
            seen[(uintptr_t)ev[k].udata]++;
    }
    for (i = 0, ok = 1; i < N; i++)
        ok &= seen[i] == 1;
    EXPECT(ok);
    for (i = 0; i < N; i++) {
        close(p[i][0]);
        close(p[i][1]);
    }
    EXPECT_EQ(kev(kq, NULL, 0, ev, 2 * N, 5), 0);
    kqueue_emulation_close(kq);
}

static void t_close_kq(void)
{
    struct kevent ev[2];
    int before = count_fds(), i, kq, p[2];
    for (i = 0; i < 200; i++) {
        kq = kqueue();
        EXPECT(kq >= 0);
        EXPECT_EQ(pipe(p), 0);
        EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, NULL), 0);
        EXPECT_EQ(change(kq, p[1], EVFILT_WRITE, EV_ADD, NULL), 0);
        close(p[0]);
        close(p[1]);
        close(kq); /* plain close */
    }
    /* at most the last kqueue's hidden epoll is left, until the next call */
    EXPECT(count_fds() <= before + 1);
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 2, NULL), -1); /* closed: EBADF, and reaped */
    EXPECT_EQ(errno, EBADF);
    EXPECT_EQ(count_fds(), before);
    /* a closed kqueue's number reused by another file is not a kqueue */
    kq = kqueue();
    close(kq);
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(p[0], kq);
    EXPECT_EQ(kevent(p[0], NULL, 0, ev, 2, NULL), -1);
    EXPECT_EQ(errno, EBADF);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(count_fds(), before);
    /* two live kqueues are independent */
    {
        int a = kqueue(), b = kqueue();
        EXPECT_EQ(pipe(p), 0);
        EXPECT_EQ(change(a, p[0], EVFILT_READ, EV_ADD, ud(1)), 0);
        EXPECT_EQ(change(b, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, ud(2)), 0);
        put(p[1], "x");
        EXPECT_EQ(poll0(b, ev, 2), 1);
        EXPECT(ev[0].udata == ud(2));
        EXPECT_EQ(poll0(b, ev, 2), 0);
        EXPECT_EQ(poll0(a, ev, 2), 1);
        EXPECT(ev[0].udata == ud(1));
        close(a);
        EXPECT_EQ(poll0(b, ev, 2), 0);
        kqueue_emulation_close(b);
        close(p[0]);
        close(p[1]);
    }
    kq = kqueue(); /* reaps a's hidden epoll */
    kqueue_emulation_close(kq);
    EXPECT_EQ(count_fds(), before);
}

/* ---- EVFILT_USER ------------------------------------------------------------ */
static void t_user_level(void)
{
    struct kevent ev[4];
    int kq = kqueue();
    EXPECT_EQ(xchange(kq, 7, EVFILT_USER, EV_ADD, 0, 0, ud(1)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* not triggered yet */
    EXPECT_EQ(xchange(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER, 0, ud(2)), 0);
    memset(ev, 0, sizeof ev);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].ident, 7);
    EXPECT_EQ(ev[0].filter, EVFILT_USER);
    EXPECT_EQ(ev[0].flags, 0);
    EXPECT_EQ(ev[0].fflags, 0);
    EXPECT_EQ(ev[0].data, 0);
    EXPECT(ev[0].udata == ud(2)); /* the trigger is a change: it replaces udata */
    /* without EV_CLEAR it stays triggered ... */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, -1), 1);
    /* ... until a change with EV_CLEAR (which does not make it EV_CLEAR) */
    EXPECT_EQ(xchange(kq, 7, EVFILT_USER, EV_CLEAR, 0, 0, ud(3)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(trigger(kq, 7), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    /* NOTE_TRIGGER and EV_CLEAR in one change: un-triggered (trigger first) */
    EXPECT_EQ(xchange(kq, 7, EVFILT_USER, EV_CLEAR, NOTE_TRIGGER, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    kqueue_emulation_close(kq);
}

static void t_user_clear(void)
{
    struct kevent ev[4];
    int i, kq = kqueue();
    EXPECT_EQ(xchange(kq, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0); /* asyncio.h's */
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(trigger(kq, 0), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].ident, 0);
    EXPECT_EQ(ev[0].filter, EVFILT_USER);
    EXPECT_EQ(ev[0].flags, EV_CLEAR);
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* reported once, then reset */
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 20), 0);
    /* a burst of triggers before the harvest: one report */
    for (i = 0; i < 5; i++)
        EXPECT_EQ(trigger(kq, 0), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* triggered, then un-triggered by an EV_CLEAR change before the harvest */
    EXPECT_EQ(trigger(kq, 0), 0);
    EXPECT_EQ(xchange(kq, 0, EVFILT_USER, EV_CLEAR, 0, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* a trigger in the same call as the wait */
    {
        struct kevent c;
        EV_SET(&c, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, ud(4));
        EXPECT_EQ(kev(kq, &c, 1, ev, 4, -1), 1);
        EXPECT(ev[0].udata == ud(4));
    }
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    kqueue_emulation_close(kq);
}

static void t_user_fflags(void)
{
    struct kevent ev[4];
    int kq = kqueue();
    /* the creating EV_ADD stores fflags and data as given */
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0x5, 11, NULL), 0);
    EXPECT_EQ(trigger(kq, 1), 0); /* NOTE_FFNOP: fflags kept; data 0 stored */
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].fflags, 0x5);
    EXPECT_EQ(ev[0].data, 0);
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR | 0x2, 22, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].fflags, 0x7);
    EXPECT_EQ(ev[0].data, 22);
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFAND | 0x6, 33, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].fflags, 0x6);
    EXPECT_EQ(ev[0].data, 33);
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x11, -1, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].fflags, 0x11);
    EXPECT_EQ(ev[0].data, -1);
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFNOP | 0xff, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].fflags, 0x11);
    /* only the low 24 bits are user flags */
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | NOTE_FFLAGSMASK, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].fflags, NOTE_FFLAGSMASK);
    /* a change without NOTE_TRIGGER updates the flags, reports nothing */
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, 0, NOTE_FFCOPY | 0x42, 5, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(trigger(kq, 1), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].fflags, 0x42);
    EXPECT_EQ(ev[0].data, 0);
    /* FreeBSD: NOTE_TRIGGER on the creating EV_ADD does not trigger; on a
       later EV_ADD (a modification) it does */
    EXPECT_EQ(xchange(kq, 2, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, ud(2)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(xchange(kq, 2, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, ud(3)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].ident, 2);
    EXPECT_EQ(ev[0].fflags, NOTE_TRIGGER); /* stored as given at creation */
    EXPECT(ev[0].udata == ud(3));
    kqueue_emulation_close(kq);
}

static void t_user_disable_oneshot_dispatch(void)
{
    struct kevent ev[4];
    int kq = kqueue();
    /* a trigger while disabled is kept and reported on EV_ENABLE */
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, NULL), 0);
    EXPECT_EQ(trigger(kq, 1), 0);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 10), 0);
    EXPECT_EQ(xchange(kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, ud(1)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT(ev[0].udata == ud(1));
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* added disabled */
    EXPECT_EQ(xchange(kq, 2, EVFILT_USER, EV_ADD | EV_DISABLE, 0, 0, NULL), 0);
    EXPECT_EQ(trigger(kq, 2), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(xchange(kq, 2, EVFILT_USER, EV_ENABLE, 0, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].ident, 2);
    EXPECT_EQ(xchange(kq, 2, EVFILT_USER, EV_DELETE, 0, 0, NULL), 0);
    /* EV_ONESHOT: reported once, then deleted; FreeBSD reports it without
       the stored fflags and data */
    EXPECT_EQ(xchange(kq, 3, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, NULL), 0);
    EXPECT_EQ(xchange(kq, 3, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x3, 9, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_ONESHOT);
    EXPECT_EQ(ev[0].fflags, 0);
    EXPECT_EQ(ev[0].data, 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(trigger(kq, 3), ENOENT);
    /* EV_DISPATCH: reported once, then disabled (triggers kept meanwhile) */
    EXPECT_EQ(xchange(kq, 4, EVFILT_USER, EV_ADD | EV_DISPATCH | EV_CLEAR, 0x1, 0, NULL), 0);
    EXPECT_EQ(trigger(kq, 4), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_DISPATCH | EV_CLEAR);
    EXPECT_EQ(ev[0].fflags, 0x1);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(trigger(kq, 4), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(xchange(kq, 4, EVFILT_USER, EV_ENABLE, 0, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    kqueue_emulation_close(kq);
}

static void t_user_delete_errors(void)
{
    struct kevent ch[2], ev[4];
    int kq = kqueue();
    EXPECT_EQ(trigger(kq, 5), ENOENT);
    EXPECT_EQ(xchange(kq, 5, EVFILT_USER, EV_DELETE, 0, 0, NULL), ENOENT);
    EXPECT_EQ(xchange(kq, 5, EVFILT_USER, EV_ENABLE, 0, 0, NULL), ENOENT);
    EXPECT_EQ(xchange(kq, 5, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    EXPECT_EQ(trigger(kq, 5), 0);
    EXPECT_EQ(xchange(kq, 5, EVFILT_USER, EV_DELETE, 0, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* the pending trigger went with it */
    EXPECT_EQ(trigger(kq, 5), ENOENT);
    EXPECT_EQ(xchange(kq, 5, EVFILT_USER, EV_DELETE, 0, 0, NULL), ENOENT);
    /* as EV_ERROR entries, with EV_RECEIPT too */
    EV_SET(&ch[0], 5, EVFILT_USER, 0, NOTE_TRIGGER, 0, ud(1));
    EV_SET(&ch[1], 6, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, ud(2));
    memset(ev, 0, sizeof ev);
    EXPECT_EQ(kev(kq, ch, 2, ev, 4, -1), 2);
    EXPECT_EQ(ev[0].flags, EV_ERROR);
    EXPECT_EQ(ev[0].data, ENOENT);
    EXPECT_EQ(ev[0].filter, EVFILT_USER);
    EXPECT(ev[0].udata == ud(1));
    EXPECT_EQ(ev[1].flags, EV_ERROR);
    EXPECT_EQ(ev[1].data, 0);
    EXPECT_EQ(ev[1].ident, 6);
    EXPECT_EQ(trigger(kq, 6), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_RECEIPT);
    kqueue_emulation_close(kq);
}

/* ident is not a descriptor: no collision with READ on the same number,
   no removal by close() */
static void t_user_ident_not_fd(void)
{
    struct kevent ev[4];
    const struct kevent *r, *u;
    int p[2], kq = kqueue();
    EXPECT_EQ(pipe(p), 0);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_ADD, ud(1)), 0);
    EXPECT_EQ(xchange(kq, (uintptr_t)p[0], EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, ud(2)), 0);
    EXPECT_EQ(xchange(kq, ~(uintptr_t)0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, ud(3)), 0);
    put(p[1], "a");
    EXPECT_EQ(trigger(kq, (uintptr_t)p[0]), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    r = find(ev, 2, p[0], EVFILT_READ);
    u = find(ev, 2, p[0], EVFILT_USER);
    EXPECT(r && r->udata == ud(1) && r->data == 1);
    EXPECT(u && u->udata == NULL && u->flags == EV_CLEAR);
    EXPECT_EQ(xchange(kq, (uintptr_t)p[0], EVFILT_USER, EV_DELETE, 0, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1); /* READ unaffected */
    EXPECT_EQ(ev[0].filter, EVFILT_READ);
    EXPECT_EQ(change(kq, p[0], EVFILT_READ, EV_DELETE, NULL), 0);
    EXPECT_EQ(xchange(kq, (uintptr_t)p[0], EVFILT_USER, EV_DELETE, 0, 0, NULL), ENOENT);
    /* closing a descriptor with the user ident's number changes nothing */
    EXPECT_EQ(xchange(kq, (uintptr_t)p[0], EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, ud(4)), 0);
    close(p[0]);
    close(p[1]);
    EXPECT_EQ(trigger(kq, (uintptr_t)p[0]), 0);
    EXPECT_EQ(trigger(kq, ~(uintptr_t)0), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 2);
    EXPECT(find(ev, 2, p[0], EVFILT_USER) != NULL);
    EXPECT(find(ev, 2, -1, EVFILT_USER) != NULL); /* (uintptr_t)-1 */
    kqueue_emulation_close(kq);
}

struct waker {
    int kq;
    uintptr_t ident;
    int delay_ms; /* before the first trigger */
    int count;    /* triggers, back to back */
    int failed;   /* triggers that did not return 0 */
    double t_trig; /* now_ms() just before the first trigger */
};

static void *waker_main(void *arg)
{
    struct waker *w = (struct waker *)arg;
    struct timespec d;
    int i;
    d.tv_sec = w->delay_ms / 1000;
    d.tv_nsec = (long)(w->delay_ms % 1000) * 1000000L;
    if (w->delay_ms > 0)
        nanosleep(&d, NULL);
    w->t_trig = now_ms();
    for (i = 0; i < w->count; i++)
        w->failed += trigger(w->kq, w->ident) != 0;
    return NULL;
}

static void start_waker(pthread_t *t, struct waker *w, int kq, int delay_ms, int count)
{
    w->kq = kq;
    w->ident = 0;
    w->delay_ms = delay_ms;
    w->count = count;
    w->failed = 0;
    EXPECT_EQ(pthread_create(t, NULL, waker_main, w), 0);
}

/* asyncio.h's use: another thread triggers an EV_CLEAR user event to wake a
   thread blocked in kevent(). */
static void t_user_thread_wake(void)
{
    struct kevent ev[4];
    struct waker w;
    pthread_t t;
    double t0, t1;
    int kq = kqueue();
    EXPECT_EQ(xchange(kq, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    /* a wait with no timeout, woken from another thread: after the
       trigger, and promptly */
    start_waker(&t, &w, kq, 50, 1);
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 4, NULL), 1);
    t1 = now_ms();
    EXPECT_EQ(ev[0].ident, 0);
    EXPECT_EQ(ev[0].filter, EVFILT_USER);
    EXPECT_EQ(ev[0].flags, EV_CLEAR);
    pthread_join(t, NULL);
    EXPECT(t1 >= w.t_trig && t1 - w.t_trig < 2000);
    EXPECT_EQ(w.failed, 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* a long timed wait ends early */
    start_waker(&t, &w, kq, 30, 1);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 10000), 1);
    t1 = now_ms();
    pthread_join(t, NULL);
    EXPECT(t1 >= w.t_trig && t1 - w.t_trig < 2000);
    /* a trigger before the wait is not lost */
    start_waker(&t, &w, kq, 0, 1);
    pthread_join(t, NULL);
    t0 = now_ms();
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 4, NULL), 1);
    EXPECT(now_ms() - t0 < 1000);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* a burst from another thread: reported once */
    start_waker(&t, &w, kq, 0, 1000);
    pthread_join(t, NULL);
    EXPECT_EQ(w.failed, 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* a burst while we wait: at least one report, never a hang, and
       nothing left once it is over */
    start_waker(&t, &w, kq, 5, 1000);
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 4, NULL), 1);
    pthread_join(t, NULL);
    EXPECT_EQ(w.failed, 0);
    EXPECT(poll0(kq, ev, 4) <= 1); /* the tail of the burst, if any */
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    /* EV_DELETE, then a trigger from another thread: ENOENT */
    EXPECT_EQ(xchange(kq, 0, EVFILT_USER, EV_DELETE, 0, 0, NULL), 0);
    start_waker(&t, &w, kq, 0, 1);
    pthread_join(t, NULL);
    EXPECT_EQ(w.failed, 1);
    EXPECT_EQ(trigger(kq, 0), ENOENT);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 10), 0);
    kqueue_emulation_close(kq);
}

/* Two threads wake each other through user events on two kqueues, many
   times; the partner also adds and deletes knotes on the kqueue we wait on
   (the bookkeeping changes under a waiter).  A lost wake-up hangs (and the
   alarm fails the run). */
enum { PINGPONG_ROUNDS = 2000 };
struct pingpong {
    int kq_main, kq_partner;
    int bad; /* partner's failed calls */
};

static void *partner_main(void *arg)
{
    struct pingpong *pp = (struct pingpong *)arg;
    struct kevent ev[4];
    int i;
    for (i = 0; i < PINGPONG_ROUNDS; i++) {
        uintptr_t extra = 100 + (uintptr_t)(i % 40);
        if (kevent(pp->kq_partner, NULL, 0, ev, 4, NULL) != 1 || ev[0].ident != 2)
            pp->bad++;
        if (i % 80 < 40)
            pp->bad += xchange(pp->kq_main, extra, EVFILT_USER, EV_ADD, 0, 0, NULL) != 0;
        else
            pp->bad += xchange(pp->kq_main, extra, EVFILT_USER, EV_DELETE, 0, 0, NULL) != 0;
        pp->bad += trigger(pp->kq_main, 1) != 0;
    }
    return NULL;
}

static void t_user_thread_pingpong(void)
{
    struct pingpong pp;
    struct kevent ev[4];
    pthread_t t;
    int i, bad = 0;
    pp.kq_main = kqueue();
    pp.kq_partner = kqueue();
    pp.bad = 0;
    EXPECT_EQ(xchange(pp.kq_main, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    EXPECT_EQ(xchange(pp.kq_partner, 2, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL), 0);
    EXPECT_EQ(pthread_create(&t, NULL, partner_main, &pp), 0);
    for (i = 0; i < PINGPONG_ROUNDS; i++) {
        bad += trigger(pp.kq_partner, 2) != 0;
        bad += kevent(pp.kq_main, NULL, 0, ev, 4, NULL) != 1 || ev[0].ident != 1;
    }
    pthread_join(t, NULL);
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(pp.bad, 0);
    EXPECT_EQ(poll0(pp.kq_main, ev, 4), 0);
    EXPECT_EQ(poll0(pp.kq_partner, ev, 4), 0);
    kqueue_emulation_close(pp.kq_main);
    kqueue_emulation_close(pp.kq_partner);
}

/* ---- EVFILT_PROC ------------------------------------------------------------ */
/* A child that waits until *go is closed, then exits with code. */
static pid_t spawn(int *go, int code)
{
    int p[2];
    pid_t pid;
    EXPECT_EQ(pipe(p), 0);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        _exit(read(p[0], &c, 1) == 0 ? code : 99);
    }
    EXPECT(pid > 0);
    close(p[0]);
    *go = p[1];
    return pid;
}

/* Wait until pid is a zombie, without reaping it. */
static void await_zombie(pid_t pid)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    EXPECT_EQ(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
}

static void t_proc_exit(void)
{
    struct kevent ev[4];
    int go, st = -1, kq = kqueue();
    pid_t pid = spawn(&go, 7);
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, ud(5)), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 20), 0); /* still running */
    close(go);
    memset(ev, 0, sizeof ev);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 5000), 1);
    EXPECT_EQ(ev[0].ident, pid);
    EXPECT_EQ(ev[0].filter, EVFILT_PROC);
    EXPECT_EQ(ev[0].flags, EV_CLEAR | EV_EOF | EV_ONESHOT);
    EXPECT_EQ(ev[0].fflags, NOTE_EXIT);
    EXPECT(WIFEXITED(ev[0].data) && WEXITSTATUS(ev[0].data) == 7);
    EXPECT(ev[0].udata == ud(5));
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* once: the knote is gone */
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL), ENOENT);
    /* not reaped: the caller's waitpid collects the child */
    EXPECT_EQ(waitpid(pid, &st, WNOHANG), pid);
    EXPECT_EQ(st, ev[0].data);
    /* exit code 0 is a status too */
    pid = spawn(&go, 0);
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_CLEAR, NOTE_EXIT, 0, NULL), 0);
    close(go);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 5000), 1);
    EXPECT(WIFEXITED(ev[0].data) && WEXITSTATUS(ev[0].data) == 0);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, ev[0].data);
    kqueue_emulation_close(kq);
}

static void t_proc_signal(void)
{
    struct kevent ev[4];
    int go, st = -1, kq = kqueue();
    pid_t pid = spawn(&go, 0);
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), 0);
    EXPECT_EQ(kill(pid, SIGKILL), 0);
    EXPECT_EQ(kev(kq, NULL, 0, ev, 4, 5000), 1);
    EXPECT_EQ(ev[0].flags, EV_CLEAR | EV_EOF | EV_ONESHOT);
    EXPECT(WIFSIGNALED(ev[0].data) && WTERMSIG(ev[0].data) == SIGKILL);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, ev[0].data);
    close(go);
    pid = spawn(&go, 0);
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), 0);
    EXPECT_EQ(kill(pid, SIGTERM), 0);
    EXPECT_EQ(kevent(kq, NULL, 0, ev, 4, NULL), 1);
    EXPECT(WIFSIGNALED(ev[0].data) && WTERMSIG(ev[0].data) == SIGTERM);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(st, ev[0].data);
    close(go);
    kqueue_emulation_close(kq);
}

static void t_proc_zombie_and_errors(void)
{
    struct kevent ch[2], ev[4];
    int go, st = -1, kq = kqueue();
    pid_t pid = spawn(&go, 3);
    /* a zombie (exited, not yet reaped) is found and reported at once */
    close(go);
    await_zombie(pid);
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), 0);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT(WIFEXITED(ev[0].data) && WEXITSTATUS(ev[0].data) == 3);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    /* reaped: no such process */
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), ESRCH);
    EXPECT_EQ(xchange(kq, (uintptr_t)INT_MAX + 1, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), ESRCH);
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL), ENOENT);
    /* fflags other than NOTE_EXIT: not emulated (documented) */
    EXPECT_EQ(xchange(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD, 0, 0, NULL), EINVAL);
    EXPECT_EQ(xchange(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_ADD, NOTE_EXIT | 0x40000000U /* NOTE_FORK */, 0,
                      NULL),
              EINVAL);
    /* as an EV_ERROR entry; processing goes on */
    EV_SET(&ch[0], (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, ud(1));
    EV_SET(&ch[1], (uintptr_t)getpid(), EVFILT_PROC, EV_ADD | EV_RECEIPT, NOTE_EXIT, 0, ud(2));
    memset(ev, 0, sizeof ev);
    EXPECT_EQ(kev(kq, ch, 2, ev, 4, -1), 2);
    EXPECT_EQ(ev[0].flags, EV_ERROR);
    EXPECT_EQ(ev[0].data, ESRCH);
    EXPECT(ev[0].udata == ud(1));
    EXPECT_EQ(ev[1].flags, EV_ERROR);
    EXPECT_EQ(ev[1].data, 0);
    EXPECT_EQ(poll0(kq, ev, 4), 0); /* we are alive */
    EXPECT_EQ(xchange(kq, (uintptr_t)getpid(), EVFILT_PROC, EV_DELETE, 0, 0, NULL), 0);
    kqueue_emulation_close(kq);
}

static void t_proc_disable_delete(void)
{
    struct kevent ev[4];
    int go, st, a = kqueue(), b = kqueue();
    pid_t pid = spawn(&go, 4);
    /* disabled at the exit: reported on EV_ENABLE */
    EXPECT_EQ(xchange(a, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_DISABLE, NOTE_EXIT, 0, ud(1)), 0);
    /* deleted before the exit: never reported */
    EXPECT_EQ(xchange(b, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, ud(2)), 0);
    EXPECT_EQ(xchange(b, (uintptr_t)pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL), 0);
    close(go);
    await_zombie(pid);
    EXPECT_EQ(kev(a, NULL, 0, ev, 4, 20), 0);
    EXPECT_EQ(kev(b, NULL, 0, ev, 4, 20), 0);
    EXPECT_EQ(xchange(a, (uintptr_t)pid, EVFILT_PROC, EV_ENABLE, NOTE_EXIT, 0, ud(3)), 0);
    EXPECT_EQ(poll0(a, ev, 4), 1);
    EXPECT(ev[0].udata == ud(3));
    EXPECT(WIFEXITED(ev[0].data) && WEXITSTATUS(ev[0].data) == 4);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    /* two kqueues watching one process both hear of it */
    pid = spawn(&go, 5);
    EXPECT_EQ(xchange(a, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, ud(1)), 0);
    EXPECT_EQ(xchange(b, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, ud(2)), 0);
    close(go);
    EXPECT_EQ(kev(a, NULL, 0, ev, 4, 5000), 1);
    EXPECT(ev[0].udata == ud(1) && WEXITSTATUS(ev[0].data) == 5);
    EXPECT_EQ(kev(b, NULL, 0, ev, 4, 5000), 1);
    EXPECT(ev[0].udata == ud(2) && WEXITSTATUS(ev[0].data) == 5);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    /* FreeBSD stores every change's fflags: a change without NOTE_EXIT
       makes the exit go unreported (EV_DROP), and the knote is gone */
    pid = spawn(&go, 6);
    EXPECT_EQ(xchange(a, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), 0);
    EXPECT_EQ(xchange(a, (uintptr_t)pid, EVFILT_PROC, EV_DISABLE, 0, 0, NULL), 0);
    close(go);
    await_zombie(pid);
    EXPECT_EQ(xchange(a, (uintptr_t)pid, EVFILT_PROC, EV_ENABLE, 0, 0, NULL), 0);
    EXPECT_EQ(kev(a, NULL, 0, ev, 4, 20), 0);
    EXPECT_EQ(xchange(a, (uintptr_t)pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL), ENOENT);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    kqueue_emulation_close(a);
    kqueue_emulation_close(b);
}

static int linux_at_least(int major, int minor)
{
    struct utsname u;
    int ma = 0, mi = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
        return 0;
    return ma > major || (ma == major && mi >= minor);
}

/* The caller reaps before kevent() reports: the event still comes; the
   status needs Linux >= 6.15 (documented). */
static void t_proc_reaped_first(void)
{
    struct kevent ev[4];
    int go, st = -1, kq = kqueue();
    pid_t pid = spawn(&go, 9);
    EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), 0);
    close(go);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(poll0(kq, ev, 4), 1);
    EXPECT_EQ(ev[0].flags, EV_CLEAR | EV_EOF | EV_ONESHOT);
    EXPECT_EQ(ev[0].fflags, NOTE_EXIT);
    if (linux_at_least(6, 15))
        EXPECT_EQ(ev[0].data, st); /* PIDFD_INFO_EXIT */
    else {
        EXPECT_EQ(ev[0].data, 0);
        printf("#   Linux < 6.15, no PIDFD_INFO_EXIT: data 0 for a reaped child\n");
    }
    EXPECT_EQ(poll0(kq, ev, 4), 0);
    kqueue_emulation_close(kq);
}

/* USER and PROC knotes own descriptors: freed with their kqueue */
static void t_close_kq_ident_knotes(void)
{
    int before = count_fds(), i, k, go, st, kq;
    pid_t pid = spawn(&go, 0);
    for (k = 0; k < 2; k++) {
        kq = kqueue();
        for (i = 0; i < 5; i++)
            EXPECT_EQ(xchange(kq, (uintptr_t)i, EVFILT_USER, EV_ADD, 0, 0, NULL), 0);
        EXPECT_EQ(trigger(kq, 3), 0);
        EXPECT_EQ(xchange(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL), 0);
        EXPECT(count_fds() > before + 2);
        if (k == 0)
            kqueue_emulation_close(kq);
        else {
            close(kq); /* plain close: reaped by the next kqueue() */
            kq = kqueue();
            kqueue_emulation_close(kq);
        }
        EXPECT_EQ(count_fds(), before + 1); /* the child's pipe */
    }
    close(go);
    EXPECT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_EQ(count_fds(), before);
}

/* ---- runner ---------------------------------------------------------------- */
static void run(void (*fn)(void), const char *name)
{
    cur_failed = 0;
    alarm(20); /* a hang kills the run (no summary line, non-zero status) */
    fn();
    alarm(0);
    n_run++;
    if (cur_failed)
        n_failed++;
    else
        n_passed++;
    printf("%s %d - %s\n", cur_failed ? "not ok" : "ok", n_run, name);
    fflush(stdout);
}

static void t_so_error_wrap(void)
{
    if (!t_so_error())
        printf("#   skipped: no loopback TCP, or the refusal was synchronous\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    run(t_basics, "kqueue(), EBADF for a bad kq, EINVAL for bad counts and timeouts");
    run(t_level, "level-triggered READ by default: reported while readable");
    run(t_clear, "EV_CLEAR: once per new event, data = all readable; EOF is an event");
    run(t_oneshot, "EV_ONESHOT: delivered once then deleted");
    run(t_dispatch, "EV_DISPATCH: delivered once then disabled");
    run(t_disable_enable, "EV_DISABLE / EV_ENABLE; EV_ADD does not re-enable; udata replaced");
    run(t_delete, "EV_DELETE; ENOENT on deleting twice, as entry or -1");
    run(t_errors, "EV_ERROR entries (EBADF, EINVAL), processing continues, no drain");
    run(t_regular_file, "regular files: EPERM (documented limitation)");
    run(t_receipt, "EV_RECEIPT: data 0, no drain, stops when out of room");
    run(t_changes_then_wait, "one call applies then waits; nevents 0; aliased lists");
    run(t_eof, "EV_EOF on peer close / half close, with data still readable");
    run(t_so_error_wrap, "refused connect: WRITE EV_EOF, fflags vs SO_ERROR");
    run(t_data, "data: readable bytes, pipe space, full pipe not writable");
    run(t_read_write_independent, "READ and WRITE on one fd are independent knotes");
    run(t_timeouts, "timeouts: zero polls, never early, NULL waits");
    run(t_eintr, "a signal: -1 / EINTR");
    run(t_udata, "udata round-trip and replacement");
    run(t_fd_reuse, "closed fd: knotes gone, reused number gets no old events");
    run(t_readd_stale, "re-adding on a reused number creates a fresh knote");
    run(t_many, "many knotes: all in one call, fair rotation in small batches");
    run(t_close_kq, "close(kq) suffices: bookkeeping reaped, no fd growth");
    run(t_user_level, "EVFILT_USER without EV_CLEAR: reported until an EV_CLEAR change");
    run(t_user_clear, "EVFILT_USER EV_CLEAR: once per trigger burst, then reset");
    run(t_user_fflags, "EVFILT_USER fflags: NOTE_FFNOP/AND/OR/COPY, data; no trigger on creation");
    run(t_user_disable_oneshot_dispatch, "EVFILT_USER EV_DISABLE keeps triggers; EV_ONESHOT; EV_DISPATCH");
    run(t_user_delete_errors, "EVFILT_USER EV_DELETE then trigger: ENOENT; EV_ERROR, EV_RECEIPT");
    run(t_user_ident_not_fd, "EVFILT_USER ident is no descriptor: no clash with READ, close() ignored");
    run(t_user_thread_wake, "EVFILT_USER trigger from another thread wakes a blocked kevent()");
    run(t_user_thread_pingpong, "EVFILT_USER ping-pong between two threads, knotes changing meanwhile");
    run(t_proc_exit, "EVFILT_PROC NOTE_EXIT: once, EV_EOF|EV_ONESHOT, data = status, not reaped");
    run(t_proc_signal, "EVFILT_PROC NOTE_EXIT of a child killed by a signal");
    run(t_proc_zombie_and_errors, "EVFILT_PROC: zombie reported at once; ESRCH, EINVAL, ENOENT");
    run(t_proc_disable_delete, "EVFILT_PROC: EV_DISABLE / EV_ENABLE, EV_DELETE, two kqueues, EV_DROP");
    run(t_proc_reaped_first, "EVFILT_PROC: child reaped before kevent() reports it");
    run(t_close_kq_ident_knotes, "USER and PROC knotes' descriptors freed with their kqueue");
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed != 0;
}
