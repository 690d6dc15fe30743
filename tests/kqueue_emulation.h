/* tests/kqueue_emulation.h -- TEST-ONLY emulation of kqueue(2)/kevent(2)
   over Linux epoll, so that asyncio.h's kqueue backend is compiled and run
   on Linux CI.  NOT a general-purpose libkqueue: it implements the subset
   asyncio.h needs, as documented in FreeBSD's kqueue(2), and says so below
   wherever Linux cannot give the same answer.

   USE
   ---
   Include it (instead of <sys/event.h>) in exactly ONE translation unit of
   a test program, after _GNU_SOURCE is defined (it needs syscall(),
   clock_gettime() and F_GETPIPE_SZ).  Everything is `static`: the
   bookkeeping lives in that translation unit only.  asyncio.h's tests:
   -DASYNCIO_BACKEND_KQUEUE=1 '-DASYNCIO_KQUEUE_HEADER="kqueue_emulation.h"'.
   Options: -DKQUEUE_EMULATION_SO_ERROR=1 (see fflags below);
   -DKQUEUE_EMULATION_NO_PWAIT2 (test the epoll_wait fallback).

   WHAT IS EMULATED (FreeBSD values for every constant)
   ----------------
   - struct kevent (the pre-FreeBSD-12 / macOS layout, without ext[]),
     EV_SET, kqueue(), kevent(), EVFILT_READ, EVFILT_WRITE.
   - One kevent() call applies the changelist, then waits and fills the
     eventlist; the two arrays may be the same array.
   - Knotes are per (ident, filter): READ and WRITE on one descriptor are
     independent, each with its own flags, udata, enable state and -- for
     EV_CLEAR -- its own edges.  (READ knotes live in the epoll instance
     returned as the kqueue; WRITE knotes in a second, hidden epoll nested
     inside it, so the two never share an epoll registration and a wakeup
     for one direction is not reported as an edge of the other.)
   - EV_ADD creates a knote, enabled unless EV_DISABLE is given; on an
     existing knote it only replaces udata (as the kernels do: EV_CLEAR,
     EV_ONESHOT, EV_DISPATCH stay as created, and a disabled knote stays
     disabled unless EV_ENABLE is given).  Any change to an existing knote,
     EV_ENABLE/EV_DISABLE included, replaces its udata with the change's
     (FreeBSD and macOS do this; there is no EV_KEEPUDATA here).  EV_ADD
     and EV_ENABLE re-evaluate the filter, so an already-ready descriptor
     is reported even under EV_CLEAR.
   - EV_DELETE (ENOENT if there is no such knote), EV_ENABLE, EV_DISABLE,
     EV_ONESHOT (deleted once delivered), EV_DISPATCH (disabled once
     delivered), EV_CLEAR (edge-triggered: reported once per new event --
     data arriving, buffer space freed, EOF -- via EPOLLET), level-triggered
     otherwise (re-evaluated at every kevent() call).
   - Returned events: ident, filter, flags = the knote's kept flags
     (EV_CLEAR, EV_ONESHOT, EV_DISPATCH, EV_RECEIPT; never EV_ADD) plus
     EV_EOF, fflags, data, udata as given at the last change.
       READ:  data = bytes readable (FIONREAD), EV_EOF when the peer closed
              or shut down its write side (EPOLLRDHUP / EPOLLHUP); the
              remaining data is still reported with EV_EOF.
       WRITE: data = free space: pipe capacity minus bytes queued for
              pipes/FIFOs, SO_SNDBUF minus SIOCOUTQ for sockets (Linux's
              accounting, not BSD's sbspace: an approximation, at least 1),
              1 for anything else; EV_EOF (data 0 for pipes) when the
              reading side is gone (EPOLLERR / EPOLLHUP).
   - Changelist errors: with room in the eventlist an entry is written
     (flags = EV_ERROR exactly, data = errno, the other fields copied from
     the change) and processing continues; without room kevent() returns
     -1 with errno and the remaining changes are not applied.  If any
     EV_ERROR entry was written kevent() returns their count at once,
     without draining pending events (FreeBSD's kqueue_kevent()).
     EV_RECEIPT forces such an entry (data 0 on success).  When a receipt
     finds no room, its change has been applied but goes unreported, the
     changes after it are not processed (kqueue(2): "subsequent changes
     will not get processed"), and kevent() returns the number of entries
     written (FreeBSD's kqueue_kevent() returns early there without
     setting that count).
     Errors: EBADF (ident not an open descriptor), ENOENT, EINVAL (an
     unsupported filter), EPERM (descriptors epoll cannot watch: regular
     files, directories), ENOMEM; plus EBADF for kq, EINVAL for negative
     counts or an invalid timeout.
   - Timeouts: NULL waits forever, {0,0} polls, anything else never
     returns early: epoll_pwait2's nanosecond timeout (Linux >= 5.11),
     else epoll_wait with the millisecond count rounded UP, and a re-check
     of CLOCK_MONOTONIC before reporting a timeout.  Like any kernel wait
     it may return late (Linux's timer slack: 50 us or 0.1 %).
   - A signal interrupts the wait: -1 / EINTR, never restarted.
   - nevents == 0: the changes are applied and kevent() returns 0 at once.
   - Closing a descriptor removes its knotes, as with kqueue: events of
     the closed file are never reported, not even when a dup (or a forked
     child) keeps the file open and the number is reused.  Registrations
     are stamped with a generation, and before an event is delivered the
     descriptor is checked to still name the registered file (for
     level / ONESHOT / DISPATCH knotes, the epoll_ctl that re-arms or drops
     the registration fails with ENOENT / EBADF otherwise; for EV_CLEAR,
     fstat's st_dev/st_ino are compared).
   - close(kq) is enough: the hidden epoll and the bookkeeping are freed
     lazily (at the next kqueue() call, or when kevent() finds its kq gone).
     kqueue_emulation_close(kq) does it at once.

   LIMITATIONS (what real kqueue does and this does not)
   -----------
   - Only EVFILT_READ and EVFILT_WRITE.  No EVFILT_TIMER, SIGNAL, VNODE,
     PROC, USER, AIO...  (deliberately not #defined, so code that uses
     them fails to compile; a numeric unsupported filter gets EINVAL).
     No NOTE_LOWAT, EV_KEEPUDATA, EV_FORCEONESHOT; fflags and data of a
     change are ignored.
   - Single-threaded, one translation unit.  Not fork-aware: BSD kqueues
     are not inherited by a child; here the child shares the parent's
     epoll instances and the bookkeeping diverges.  Descriptors are
     created with close-on-exec.
   - A kqueue costs two descriptors (the returned one and a hidden nested
     epoll for WRITE knotes).  The hidden one of a kq closed with close()
     stays open until the next kqueue()/kevent() call reaps it.
   - Only what epoll accepts can be watched: regular files and directories
     fail with EPERM (kqueue reports them readable/writable).  A kqueue
     cannot watch itself (EINVAL).
   - fflags: on EV_EOF, kqueue puts the socket's pending error (so_error)
     in fflags without consuming it.  Linux can only read it with
     getsockopt(SO_ERROR), which CLEARS it: the application's own
     getsockopt(SO_ERROR) after a failed connect() would then see 0, and
     its recv() EOF instead of ECONNRESET.  So fflags is 0 by default;
     -DKQUEUE_EMULATION_SO_ERROR=1 fills it, destructively.
   - EV_EOF comes from Linux's poll bits, which differ from BSD in corner
     cases: a TCP socket that was never connected polls as HUP (EV_EOF on
     READ and WRITE) where BSD reports nothing; a local shutdown(SHUT_WR)
     gives no WRITE EV_EOF (Linux only raises HUP once both directions are
     shut); FIFO-specific EV_EOF/EV_CLEAR subtleties are not reproduced.
   - data is Linux's view: FIONREAD on a UDP socket is the size of the
     next datagram (BSD: all queued bytes); a listening socket reports 1
     (BSD: the accept-queue length); WRITE data as described above.
   - Descriptor identity for EV_CLEAR knotes uses st_dev/st_ino, which all
     anonymous-inode files (eventfd, timerfd, signalfd, epoll) share: an
     EV_CLEAR knote on such a file, closed while a dup keeps it open, can
     deliver an event after the number is reused by another such file.
     And if the SAME file comes back under the same number (close(5) then
     dup2(6, 5)), its old knotes survive; kqueue would have dropped them.
   - epoll's ready list decides the order of events, and a call returns at
     most one event per knote (as kqueue); the order is not BSD's.
*/
#ifndef KQUEUE_EMULATION_H
#define KQUEUE_EMULATION_H

#ifndef __linux__
#error "tests/kqueue_emulation.h is a Linux-only test shim; on a BSD use <sys/event.h>"
#endif
#if defined(__STRICT_ANSI__) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE)
#error "tests/kqueue_emulation.h needs _GNU_SOURCE (compile with -D_GNU_SOURCE or -std=gnu99)"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#ifndef KQUEUE_EMULATION_SO_ERROR
#define KQUEUE_EMULATION_SO_ERROR 0
#endif
#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ 1032
#endif
#ifndef EPOLLRDHUP
#define EPOLLRDHUP 0x2000
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KQE_API static __attribute__((unused))
#else
#define KQE_API static
#endif

/* ---- the <sys/event.h> subset ------------------------------------------ */
struct kevent {
    uintptr_t ident;       /* identifier: here always a file descriptor */
    short filter;          /* EVFILT_READ or EVFILT_WRITE */
    unsigned short flags;  /* EV_* action and state flags */
    unsigned int fflags;   /* filter flags (socket error on EV_EOF, see above) */
    intptr_t data;         /* filter data: bytes readable / space writable */
    void *udata;           /* opaque user data, returned as given */
};

#define EV_SET(kevp, a, b, c, d, e, f)          \
    do {                                        \
        struct kevent *kqe_kevp_ = (kevp);      \
        kqe_kevp_->ident = (a);                 \
        kqe_kevp_->filter = (b);                \
        kqe_kevp_->flags = (c);                 \
        kqe_kevp_->fflags = (d);                \
        kqe_kevp_->data = (e);                  \
        kqe_kevp_->udata = (f);                 \
    } while (0)

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001      /* add event to kq (implies enable) */
#define EV_DELETE 0x0002   /* delete event from kq */
#define EV_ENABLE 0x0004   /* enable event */
#define EV_DISABLE 0x0008  /* disable event (not reported) */
#define EV_ONESHOT 0x0010  /* only report one occurrence */
#define EV_CLEAR 0x0020    /* clear event state after reporting */
#define EV_RECEIPT 0x0040  /* force EV_ERROR on success, data == 0 */
#define EV_DISPATCH 0x0080 /* disable event after reporting */
#define EV_ERROR 0x4000    /* error, data contains errno */
#define EV_EOF 0x8000      /* EOF detected */

/* ---- bookkeeping --------------------------------------------------------- */
struct kqe_knote {
    unsigned char used;     /* a knote exists for this (fd, filter) */
    unsigned char disabled; /* EV_DISABLE'd (or delivered under EV_DISPATCH) */
    unsigned short flags;   /* kept flags: EV_ONESHOT EV_CLEAR EV_RECEIPT EV_DISPATCH */
    uint32_t gen;           /* stamped in the epoll registration's data */
    void *udata;
    dev_t dev;              /* the open file the knote was added for */
    ino_t ino;
    mode_t mode;
};

struct kqe_queue {
    int kq;                     /* the epoll fd handed out as the kqueue: READ knotes */
    int wr;                     /* hidden epoll fd nested in kq: WRITE knotes */
    uint32_t gen;               /* last generation stamped */
    int cap;                    /* descriptors covered by kn[] */
    struct kqe_knote (*kn)[2];  /* kn[fd][0] READ, kn[fd][1] WRITE */
    struct epoll_event *buf;    /* harvest buffer */
    int bufcap;
    struct kqe_queue *next;
};

static struct kqe_queue *kqe_queues;

#define KQE_WR_TAG ((uint64_t)UINT32_MAX) /* data of the nested epoll's registration */
#define KQE_KEPT (EV_ONESHOT | EV_CLEAR | EV_RECEIPT | EV_DISPATCH)

/* Is q->kq still the epoll instance we created?  Only it holds q->wr.
   (Closed: EBADF; reused by another file: EINVAL or ENOENT.) */
static int kqe_alive(const struct kqe_queue *q)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = KQE_WR_TAG;
    return epoll_ctl(q->kq, EPOLL_CTL_MOD, q->wr, &ev) == 0;
}

static void kqe_unlink_free(struct kqe_queue *q)
{
    struct kqe_queue **pp;
    for (pp = &kqe_queues; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    close(q->wr);
    free(q->kn);
    free(q->buf);
    free(q);
}

static void kqe_reap(void)
{
    struct kqe_queue *q = kqe_queues, *next;
    for (; q; q = next) {
        next = q->next;
        if (!kqe_alive(q))
            kqe_unlink_free(q);
    }
}

static struct kqe_queue *kqe_find(int kq)
{
    struct kqe_queue *q;
    for (q = kqe_queues; q; q = q->next)
        if (q->kq == kq) {
            if (kqe_alive(q))
                return q;
            kqe_unlink_free(q); /* closed with close(); the number may be reused */
            return NULL;
        }
    return NULL;
}

static struct kqe_knote *kqe_slot(struct kqe_queue *q, int fd)
{
    if (fd >= q->cap) {
        int cap = q->cap ? q->cap : 64;
        struct kqe_knote(*kn)[2];
        while (cap <= fd)
            cap = cap > INT_MAX / 2 ? INT_MAX : cap * 2;
        kn = (struct kqe_knote(*)[2])realloc(q->kn, (size_t)cap * sizeof *kn);
        if (!kn)
            return NULL;
        memset(kn + q->cap, 0, (size_t)(cap - q->cap) * sizeof *kn);
        q->kn = kn;
        q->cap = cap;
    }
    return q->kn[fd];
}

/* The epoll registration that implements a knote.  Level-triggered knotes
   use EPOLLONESHOT and are re-armed when delivered: a registration left
   behind by a closed descriptor then fires at most once.  Disabled: no
   interest (epoll still reports ERR/HUP once; such events are dropped). */
static struct epoll_event kqe_reg(int filt, int fd, const struct kqe_knote *k)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.data.u64 = ((uint64_t)k->gen << 32) | (uint32_t)fd;
    if (k->disabled)
        ev.events = EPOLLONESHOT;
    else {
        ev.events = filt ? EPOLLOUT : (EPOLLIN | EPOLLRDHUP);
        if ((k->flags & EV_CLEAR) && !(k->flags & (EV_ONESHOT | EV_DISPATCH)))
            ev.events |= EPOLLET;
        else
            ev.events |= EPOLLONESHOT;
    }
    return ev;
}

/* Apply one change; 0 or an errno value. */
static int kqe_change(struct kqe_queue *q, const struct kevent *c)
{
    struct kqe_knote *k, nk;
    struct epoll_event ev;
    struct stat st;
    int filt, fd, ep, err;

    if (c->filter == EVFILT_READ)
        filt = 0;
    else if (c->filter == EVFILT_WRITE)
        filt = 1;
    else
        return EINVAL;
    if (c->ident > (uintptr_t)INT_MAX || fstat((int)c->ident, &st) < 0)
        return EBADF;
    fd = (int)c->ident;
    if (fd == q->kq || fd == q->wr)
        return EINVAL;
    ep = filt ? q->wr : q->kq;
    if (!(k = kqe_slot(q, fd)))
        return ENOMEM;
    k += filt;

    if (k->used) {
        if (c->flags & EV_DELETE) {
            k->used = 0;
            return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0 ? errno : 0;
        }
        nk = *k;
        nk.udata = c->udata;
        if (c->flags & EV_ENABLE)
            nk.disabled = 0;
        else if (c->flags & EV_DISABLE)
            nk.disabled = 1;
        ev = kqe_reg(filt, fd, &nk);
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0) { /* re-evaluates readiness */
            *k = nk;
            return 0;
        }
        /* ENOENT: the number now names another file; the old knote went
           with the close. */
        err = errno;
        k->used = 0;
        if (err != ENOENT || !(c->flags & EV_ADD))
            return err;
    }
    if (!(c->flags & EV_ADD))
        return ENOENT;
    memset(&nk, 0, sizeof nk);
    nk.used = 1;
    nk.disabled = (c->flags & EV_DISABLE) ? 1 : 0;
    nk.flags = (unsigned short)(c->flags & KQE_KEPT);
    if (++q->gen == 0)
        q->gen = 1;
    nk.gen = q->gen;
    nk.udata = c->udata;
    nk.dev = st.st_dev;
    nk.ino = st.st_ino;
    nk.mode = st.st_mode;
    ev = kqe_reg(filt, fd, &nk);
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0 &&
        (errno != EEXIST || epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0))
        return errno;
    *k = nk;
    return 0;
}

static intptr_t kqe_read_data(int fd, int eof)
{
    int n;
    if (ioctl(fd, FIONREAD, &n) == 0)
        return n;
    return eof ? 0 : 1; /* e.g. a listening socket */
}

static intptr_t kqe_write_data(int fd, const struct kqe_knote *k, int eof)
{
    int size, used, sndbuf;
    socklen_t len = sizeof sndbuf;
    if (S_ISFIFO(k->mode)) {
        if (eof)
            return 0;
        size = fcntl(fd, F_GETPIPE_SZ);
        if (size > 0 && ioctl(fd, FIONREAD, &used) == 0)
            return size - used > 0 ? size - used : 1;
    } else if (S_ISSOCK(k->mode)) {
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 && ioctl(fd, TIOCOUTQ, &used) == 0)
            return sndbuf - used > 0 ? sndbuf - used : 1; /* TIOCOUTQ == SIOCOUTQ */
    }
    return 1;
}

/* Turn one epoll event into a kevent in *out; 0 if it must be dropped. */
static int kqe_deliver(struct kqe_queue *q, int filt, const struct epoll_event *e, struct kevent *out)
{
    int fd = (int)(uint32_t)e->data.u64;
    uint32_t gen = (uint32_t)(e->data.u64 >> 32);
    int ep = filt ? q->wr : q->kq;
    int eof, oneshot = 0;
    struct kqe_knote *k;
    struct epoll_event ev;
    struct stat st;

    if (fd < 0 || fd >= q->cap)
        return 0;
    k = &q->kn[fd][filt];
    if (!k->used || k->gen != gen || k->disabled)
        return 0; /* left behind by a closed descriptor, or disabled */
    /* Does fd still name the registered file?  The epoll_ctl that does
       the knote's post-delivery work looks the registration up by (the
       file fd names now, fd): it fails if the number was closed or reused. */
    if (k->flags & EV_ONESHOT) {
        if (epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) < 0) {
            k->used = 0;
            return 0;
        }
        oneshot = 1;
    } else if (k->flags & EV_DISPATCH) {
        k->disabled = 1;
        ev = kqe_reg(filt, fd, k);
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
            k->used = 0;
            return 0;
        }
    } else if (!(k->flags & EV_CLEAR)) {
        ev = kqe_reg(filt, fd, k); /* re-arm: re-queued at once if still ready */
        if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
            k->used = 0;
            return 0;
        }
    } else if (fstat(fd, &st) < 0 || st.st_dev != k->dev || st.st_ino != k->ino) {
        k->used = 0; /* EV_CLEAR: a MOD would re-queue a ready fd, so compare inodes */
        return 0;
    }

    out->ident = (uintptr_t)fd;
    out->filter = filt ? EVFILT_WRITE : EVFILT_READ;
    out->flags = k->flags;
    out->fflags = 0;
    out->udata = k->udata;
    if (filt) {
        eof = (e->events & (EPOLLERR | EPOLLHUP)) != 0;
        out->data = kqe_write_data(fd, k, eof);
    } else {
        eof = (e->events & (EPOLLRDHUP | EPOLLHUP)) != 0;
        out->data = kqe_read_data(fd, eof);
    }
    if (eof) {
        out->flags |= EV_EOF;
#if KQUEUE_EMULATION_SO_ERROR
        if (S_ISSOCK(k->mode)) {
            int soerr = 0;
            socklen_t len = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0)
                out->fflags = (unsigned int)soerr;
        }
#endif
    }
    if (oneshot)
        k->used = 0;
    return 1;
}

static long long kqe_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* epoll wait with a timeout in ns (-1: forever) that is never rounded down. */
static int kqe_epoll_wait(int ep, struct epoll_event *evs, int n, long long ns)
{
    long long ms;
#if defined(SYS_epoll_pwait2) && !defined(KQUEUE_EMULATION_NO_PWAIT2)
    static int have_pwait2 = 1;
    if (ns > 0 && have_pwait2) {
        struct { long long tv_sec, tv_nsec; } ts; /* struct __kernel_timespec */
        long r;
        ts.tv_sec = ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        r = syscall(SYS_epoll_pwait2, ep, evs, n, &ts, NULL, (size_t)0);
        if (r >= 0 || (errno != ENOSYS && errno != EPERM)) /* EPERM: old seccomp filters */
            return (int)r;
        have_pwait2 = 0;
    }
#endif
    if (ns < 0)
        ms = -1;
    else {
        ms = ns / 1000000 + (ns % 1000000 != 0);
        if (ms > INT_MAX)
            ms = INT_MAX; /* the caller re-checks its deadline */
    }
    return epoll_wait(ep, evs, n, (int)ms);
}

/* ---- the API ------------------------------------------------------------ */
KQE_API int kqueue(void)
{
    struct kqe_queue *q;
    struct epoll_event ev;
    int err;
    kqe_reap(); /* kqueues closed with close() */
    q = (struct kqe_queue *)calloc(1, sizeof *q);
    if (!q) {
        errno = ENOMEM;
        return -1;
    }
    q->kq = epoll_create1(EPOLL_CLOEXEC);
    q->wr = q->kq < 0 ? -1 : epoll_create1(EPOLL_CLOEXEC);
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = KQE_WR_TAG;
    if (q->wr < 0 || epoll_ctl(q->kq, EPOLL_CTL_ADD, q->wr, &ev) < 0) {
        err = errno;
        if (q->wr >= 0)
            close(q->wr);
        if (q->kq >= 0)
            close(q->kq);
        free(q);
        errno = err;
        return -1;
    }
    q->next = kqe_queues;
    kqe_queues = q;
    return q->kq;
}

/* Close a kqueue and free its bookkeeping at once (close(kq) also works,
   the rest being reaped lazily). */
KQE_API int kqueue_emulation_close(int kq)
{
    struct kqe_queue *q;
    for (q = kqe_queues; q; q = q->next)
        if (q->kq == kq) {
            kqe_unlink_free(q);
            break;
        }
    return close(kq);
}

KQE_API int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist, int nevents,
                   const struct timespec *timeout)
{
    struct kqe_queue *q = kqe_find(kq);
    long long left = -1, deadline = 0;
    int i, nout = 0;

    if (!q) {
        errno = EBADF;
        return -1;
    }
    if (nchanges < 0 || nevents < 0) {
        errno = EINVAL;
        return -1;
    }
    for (i = 0; i < nchanges; i++) {
        struct kevent c = changelist[i]; /* copied: eventlist may alias changelist */
        int err;
        if (c.filter == 0)
            continue; /* as FreeBSD */
        err = kqe_change(q, &c);
        if (err || (c.flags & EV_RECEIPT)) {
            if (nout == nevents) {
                if (err) {
                    errno = err;
                    return -1;
                }
                return nout; /* EV_RECEIPT and no room: the rest is not processed */
            }
            c.flags = EV_ERROR;
            c.data = err;
            eventlist[nout++] = c;
        }
    }
    if (nout > 0 || nevents == 0)
        return nout;

    if (timeout) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
            errno = EINVAL;
            return -1;
        }
        if (timeout->tv_sec <= INT32_MAX) { /* beyond: forever, as FreeBSD */
            left = (long long)timeout->tv_sec * 1000000000LL + timeout->tv_nsec;
            deadline = kqe_now_ns() + left;
        }
    }
    if (q->bufcap < nevents) {
        struct epoll_event *b = (struct epoll_event *)realloc(q->buf, (size_t)nevents * sizeof *b);
        if (!b) {
            errno = ENOMEM;
            return -1;
        }
        q->buf = b;
        q->bufcap = nevents;
    }
    for (;;) {
        /* One harvest per epoll instance per call, so that a knote re-armed
           during the harvest is not reported twice in one call. */
        int n = kqe_epoll_wait(q->kq, q->buf, nevents, left), wr = 0;
        if (n < 0)
            return -1; /* EINTR included, as kevent() */
        for (i = 0; i < n; i++)
            if (q->buf[i].data.u64 == KQE_WR_TAG)
                wr = 1;
            else
                nout += kqe_deliver(q, 0, &q->buf[i], &eventlist[nout]);
        if (wr && nout < nevents) {
            n = epoll_wait(q->wr, q->buf, nevents - nout, 0);
            for (i = 0; i < n; i++)
                nout += kqe_deliver(q, 1, &q->buf[i], &eventlist[nout]);
        }
        if (nout > 0 || left == 0)
            return nout;
        if (left > 0) { /* woken for nothing deliverable, or timed out */
            left = deadline - kqe_now_ns();
            if (left <= 0)
                return 0;
        }
    }
}

#endif /* KQUEUE_EMULATION_H */
