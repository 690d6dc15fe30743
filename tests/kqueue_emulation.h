/* tests/kqueue_emulation.h -- TEST-ONLY emulation of kqueue(2)/kevent(2)
   over Linux epoll, so that asyncio.h's kqueue backend is compiled and run
   on Linux CI.  NOT a general-purpose libkqueue: it implements the subset
   asyncio.h needs, as documented in FreeBSD's kqueue(2), and says so below
   wherever Linux cannot give the same answer.

   USE
   ---
   Include it (instead of <sys/event.h>) in exactly ONE translation unit of
   a test program, after _GNU_SOURCE is defined (it needs syscall(),
   clock_gettime(), F_GETPIPE_SZ and waitid()).  Everything is `static`:
   the bookkeeping lives in that translation unit only.  It uses a pthread
   mutex (in libc since glibc 2.34; link older ones with -pthread).
   asyncio.h's tests:
   -DASYNCIO_BACKEND_KQUEUE=1 '-DASYNCIO_KQUEUE_HEADER="kqueue_emulation.h"'.
   Options: -DKQUEUE_EMULATION_SO_ERROR=1 (see fflags below);
   -DKQUEUE_EMULATION_NO_PWAIT2 (test the epoll_wait fallback).

   WHAT IS EMULATED (FreeBSD values for every constant)
   ----------------
   - struct kevent (the pre-FreeBSD-12 / macOS layout, without ext[]),
     EV_SET, kqueue(), kevent(), EVFILT_READ, EVFILT_WRITE, EVFILT_USER,
     EVFILT_PROC (NOTE_EXIT only).
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
   - EVFILT_USER (-11): identified by ident alone, any number -- not a
     descriptor, so it never collides with a READ/WRITE knote on the same
     number, and no close() removes it.  As FreeBSD's filt_usertouch(), a
     change to an existing knote: triggers it if fflags has NOTE_TRIGGER;
     combines fflags' low 24 bits (NOTE_FFLAGSMASK) into the stored ones
     as fflags & NOTE_FFCTRLMASK says (NOTE_FFNOP: ignore, NOTE_FFAND,
     NOTE_FFOR, NOTE_FFCOPY); stores its data; and, if its flags have
     EV_CLEAR, un-triggers it (after NOTE_TRIGGER: both in one change
     leave it untriggered).  The EV_ADD that CREATES the knote stores
     fflags as given, with no operation, and does not trigger it, even
     with NOTE_TRIGGER (FreeBSD's filt_userattach() tests kn_fflags, which
     kqueue_register() has just zeroed; macOS and NetBSD do trigger there).
     Reported: the kept flags, fflags = the stored fflags, data = the
     stored data -- except under EV_ONESHOT, where FreeBSD's kqueue_scan()
     copies the knote without the touch hook: fflags 0, data 0.  Without
     EV_CLEAR a triggered event is reported at every kevent() call until a
     change with EV_CLEAR un-triggers it (or EV_DELETE); with EV_CLEAR it is
     reported once and reset, any number of triggers before the report
     coalescing into it.  A trigger while disabled is kept: EV_ENABLE
     reports it.  Each knote is an eventfd, readable exactly while
     triggered, in the epoll set that is the kqueue: a trigger from
     another thread wakes a kevent() blocked there (see Threads below).
   - EVFILT_PROC (-5), NOTE_EXIT only, ident = a pid: EV_ADD opens a pidfd
     (pidfd_open(), Linux >= 5.3) in the kqueue's epoll set; ESRCH if there
     is no such process.  A zombie is still found (FreeBSD's pfind_any())
     and reported at once.  The knote gets EV_CLEAR (FreeBSD's
     filt_procattach() sets it).  When the process exits the event is
     reported once -- flags = the kept flags | EV_CLEAR | EV_EOF |
     EV_ONESHOT, fflags = NOTE_EXIT, data = the wait status (what
     waitpid() gives: WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG,
     WCOREDUMP) -- and the knote is deleted.  The status is read with
     waitid(P_PIDFD, ..., WEXITED | WNOWAIT): the emulation never reaps;
     the caller collects the child with waitpid(), as on BSD, where the
     kevent does not reap either.  A later change stores its fflags
     (FreeBSD's kqueue_register() does): one without NOTE_EXIT -- an
     EV_DISABLE with fflags 0, say -- makes the exit go unreported
     (FreeBSD marks such a knote EV_DROP).
   - Threads: one mutex guards all the bookkeeping, and kevent() releases
     it while it waits.  So other threads may apply changes while a thread
     waits -- asyncio.h's wake-up: another thread sends NOTE_TRIGGER to an
     EV_CLEAR EVFILT_USER knote -- and a trigger wakes the waiter at once;
     a trigger before the wait is not lost.  An event that becomes ready
     while a waiter is waking up is reported by that call or the next.
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
     unsupported filter, EVFILT_PROC fflags other than NOTE_EXIT), ESRCH
     (EVFILT_PROC: no such process), EPERM (descriptors epoll cannot
     watch: regular files, directories), ENOMEM, EMFILE (the eventfd or
     pidfd of a USER/PROC knote); plus EBADF for kq, EINVAL for negative
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
   - Only EVFILT_READ, EVFILT_WRITE, EVFILT_USER and EVFILT_PROC.  No
     EVFILT_TIMER, SIGNAL, VNODE, AIO...  (deliberately not #defined, so
     code that uses them fails to compile; a numeric unsupported filter
     gets EINVAL).  No NOTE_LOWAT, EV_KEEPUDATA, EV_FORCEONESHOT; fflags
     and data of a READ/WRITE change are ignored.
   - EVFILT_PROC: NOTE_EXIT only (no NOTE_FORK, NOTE_EXEC, NOTE_TRACK):
     an EV_ADD creating a knote with fflags other than exactly NOTE_EXIT
     gets EINVAL.  The status is read when kevent() reports the exit, not
     at the exit: if the child was reaped in between (the caller's
     waitpid() came first, or SIGCHLD is SIG_IGN / SA_NOCLDWAIT) it comes
     from PIDFD_GET_INFO's PIDFD_INFO_EXIT (Linux >= 6.15), else data is 0.
     A process that is not our child: waitid() cannot see it, so data is
     its status only once its own parent has reaped it (Linux >= 6.15),
     0 before.  No p_cansee() check: any pid pidfd_open() accepts.
   - Threads: what is supported and tested is the above -- changes from
     other threads while one thread waits.  Two threads waiting on one
     kqueue each get events, but which gets what is epoll's choice.
     Closing a kqueue while another thread waits on it is not supported
     (the waiter may get EBADF, or events of a new kqueue that took the
     number).
   - One translation unit.  Not fork-aware: BSD kqueues are not inherited
     by a child; here the child shares the parent's epoll instances and
     the bookkeeping diverges (and a fork while another thread is inside
     the emulation leaves its mutex locked in the child).  Descriptors are
     created with close-on-exec.
   - A kqueue costs two descriptors (the returned one and a hidden nested
     epoll for WRITE knotes), and each USER or PROC knote one more (its
     eventfd or pidfd).  Those of a kq closed with close() stay open until
     the next kqueue()/kevent() call reaps them.
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
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#ifndef KQUEUE_EMULATION_SO_ERROR
#define KQUEUE_EMULATION_SO_ERROR 0
#endif
#ifndef F_GETPIPE_SZ
#define F_GETPIPE_SZ 1032
#endif
#ifndef EPOLLRDHUP
#define EPOLLRDHUP 0x2000
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

#if defined(__GNUC__) || defined(__clang__)
#define KQE_API static __attribute__((unused))
#else
#define KQE_API static
#endif

/* ---- the <sys/event.h> subset ------------------------------------------ */
struct kevent {
    uintptr_t ident;       /* a descriptor; a pid (PROC); any number (USER) */
    short filter;          /* EVFILT_READ, EVFILT_WRITE, EVFILT_USER, EVFILT_PROC */
    unsigned short flags;  /* EV_* action and state flags */
    unsigned int fflags;   /* filter flags: NOTE_*, socket error on EV_EOF (see above) */
    intptr_t data;         /* bytes readable / space writable / user data / wait status */
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
#define EVFILT_PROC (-5)  /* attached to a process (NOTE_EXIT only) */
#define EVFILT_USER (-11) /* user events */

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

/* EVFILT_USER: on input, fflags & NOTE_FFCTRLMASK says how fflags &
   NOTE_FFLAGSMASK combines with the stored flags; on output, fflags holds
   the stored flags. */
#define NOTE_FFNOP 0x00000000U      /* ignore input fflags */
#define NOTE_FFAND 0x40000000U      /* AND fflags */
#define NOTE_FFOR 0x80000000U       /* OR fflags */
#define NOTE_FFCOPY 0xc0000000U     /* copy fflags */
#define NOTE_FFCTRLMASK 0xc0000000U /* control mask for fflags */
#define NOTE_FFLAGSMASK 0x00ffffffU /* user-defined flag mask for fflags */
#define NOTE_TRIGGER 0x01000000U    /* cause the event to be triggered */
/* EVFILT_PROC */
#define NOTE_EXIT 0x80000000U /* process exited; data = wait status */

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

/* A knote identified by ident alone (EVFILT_USER, EVFILT_PROC).  Its own
   descriptor -- an eventfd, readable exactly while a USER knote is
   triggered; a pidfd, readable once the process has exited -- sits in the
   kqueue's epoll instance. */
struct kqe_xnote {
    unsigned char used;
    unsigned char disabled;
    unsigned char triggered; /* USER: FreeBSD's kn_hookid */
    short filter;
    unsigned short flags;    /* kept flags (PROC: EV_CLEAR added, as FreeBSD) */
    uint32_t gen;
    uintptr_t ident;
    unsigned int sfflags;    /* the stored fflags (FreeBSD's kn_sfflags) */
    intptr_t sdata;          /* the stored data (kn_sdata) */
    void *udata;
    int fd;                  /* the eventfd or pidfd */
};

struct kqe_queue {
    int kq;                     /* the epoll fd handed out as the kqueue: READ, USER, PROC */
    int wr;                     /* hidden epoll fd nested in kq: WRITE knotes */
    uint32_t gen;               /* last generation stamped */
    int cap;                    /* descriptors covered by kn[] */
    struct kqe_knote (*kn)[2];  /* kn[fd][0] READ, kn[fd][1] WRITE */
    int xcap;                   /* entries in xk[] */
    struct kqe_xnote *xk;       /* USER and PROC knotes */
    struct kqe_queue *next;
};

/* Every bookkeeping access holds kqe_mutex; kevent() drops it to wait. */
static pthread_mutex_t kqe_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct kqe_queue *kqe_queues;
static int kqe_pwait2 = 1; /* epoll_pwait2 not known to be missing */

/* epoll registration data: (gen << 32) | fd for READ knotes (in kq) and
   WRITE knotes (in wr); (gen << 32) | KQE_XBIT | index into xk[] for USER
   and PROC knotes (in kq); KQE_WR_TAG for wr itself (gen is never 0). */
#define KQE_WR_TAG ((uint64_t)UINT32_MAX)
#define KQE_XBIT 0x80000000U
#define KQE_KEPT (EV_ONESHOT | EV_CLEAR | EV_RECEIPT | EV_DISPATCH)
#define KQE_SBUF 64 /* harvest buffer on the stack up to this many events */

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
    int i;
    for (pp = &kqe_queues; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    for (i = 0; i < q->xcap; i++)
        if (q->xk[i].used)
            close(q->xk[i].fd);
    close(q->wr);
    free(q->kn);
    free(q->xk);
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

/* Is q still in the list (not freed while kevent() waited unlocked)? */
static int kqe_listed(const struct kqe_queue *q)
{
    const struct kqe_queue *p;
    for (p = kqe_queues; p; p = p->next)
        if (p == q)
            return 1;
    return 0;
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

/* ---- EVFILT_USER and EVFILT_PROC ---------------------------------------- */
static int kqe_xfind(const struct kqe_queue *q, short filter, uintptr_t ident)
{
    int i;
    for (i = 0; i < q->xcap; i++)
        if (q->xk[i].used && q->xk[i].filter == filter && q->xk[i].ident == ident)
            return i;
    return -1;
}

/* A free entry of xk[] (-1: ENOMEM). */
static int kqe_xslot(struct kqe_queue *q)
{
    struct kqe_xnote *xk;
    int i, cap;
    for (i = 0; i < q->xcap; i++)
        if (!q->xk[i].used)
            return i;
    if (q->xcap >= (int)(KQE_XBIT / 4))
        return -1;
    cap = q->xcap ? q->xcap * 2 : 8;
    xk = (struct kqe_xnote *)realloc(q->xk, (size_t)cap * sizeof *xk);
    if (!xk)
        return -1;
    memset(xk + q->xcap, 0, (size_t)(cap - q->xcap) * sizeof *xk);
    q->xk = xk;
    i = q->xcap;
    q->xcap = cap;
    return i;
}

/* Enabled: level-triggered EPOLLIN (the eventfd / pidfd stays readable
   while there is something to report).  Disabled: no interest, and
   EPOLLONESHOT so that a reaped process's pidfd (EPOLLHUP, which epoll
   always reports) fires at most once. */
static int kqe_xreg(struct kqe_queue *q, int i, int op)
{
    struct kqe_xnote *x = &q->xk[i];
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = x->disabled ? EPOLLONESHOT : EPOLLIN;
    ev.data.u64 = ((uint64_t)x->gen << 32) | KQE_XBIT | (uint32_t)i;
    return epoll_ctl(q->kq, op, x->fd, &ev) < 0 ? errno : 0;
}

static void kqe_xdrop(struct kqe_queue *q, int i)
{
    struct kqe_xnote *x = &q->xk[i];
    epoll_ctl(q->kq, EPOLL_CTL_DEL, x->fd, NULL);
    close(x->fd);
    x->used = 0;
}

/* Keep a USER knote's eventfd readable exactly while it is triggered. */
static void kqe_user_set(struct kqe_xnote *x, int on)
{
    uint64_t v = 1;
    ssize_t r = 0;
    if (on && !x->triggered)
        r = write(x->fd, &v, sizeof v);
    else if (!on && x->triggered)
        r = read(x->fd, &v, sizeof v); /* resets the counter */
    (void)r; /* cannot fail: the counter is 0 or 1, the fd non-blocking */
    x->triggered = on ? 1 : 0;
}

/* Apply one USER or PROC change; 0 or an errno value. */
static int kqe_xchange(struct kqe_queue *q, const struct kevent *c)
{
    struct kqe_xnote *x;
    int i = kqe_xfind(q, c->filter, c->ident), err;

    if (i >= 0) { /* an existing knote: FreeBSD's kqueue_register() */
        x = &q->xk[i];
        if (c->flags & EV_DELETE) {
            kqe_xdrop(q, i);
            return 0;
        }
        if (c->flags & EV_ENABLE)
            x->disabled = 0;
        else if (c->flags & EV_DISABLE)
            x->disabled = 1;
        x->udata = c->udata;
        if (x->filter == EVFILT_USER) { /* filt_usertouch(EVENT_REGISTER) */
            unsigned int ff = c->fflags & NOTE_FFLAGSMASK;
            int on = x->triggered || (c->fflags & NOTE_TRIGGER);
            switch (c->fflags & NOTE_FFCTRLMASK) {
            case NOTE_FFAND:
                x->sfflags &= ff;
                break;
            case NOTE_FFOR:
                x->sfflags |= ff;
                break;
            case NOTE_FFCOPY:
                x->sfflags = ff;
                break;
            default: /* NOTE_FFNOP */
                break;
            }
            x->sdata = c->data;
            if (c->flags & EV_CLEAR)
                on = 0;
            kqe_user_set(x, on);
        } else {
            x->sfflags = c->fflags;
            x->sdata = c->data;
        }
        return kqe_xreg(q, i, EPOLL_CTL_MOD); /* re-evaluates readiness */
    }
    if (!(c->flags & EV_ADD))
        return ENOENT;
    if (c->filter == EVFILT_PROC && c->fflags != NOTE_EXIT)
        return EINVAL; /* NOTE_FORK, NOTE_EXEC, NOTE_TRACK...: not emulated */
    if ((i = kqe_xslot(q)) < 0)
        return ENOMEM;
    x = &q->xk[i];
    memset(x, 0, sizeof *x);
    if (c->filter == EVFILT_USER)
        x->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    else if (c->ident > (uintptr_t)INT_MAX) {
        return ESRCH;
    } else {
        x->fd = (int)syscall(SYS_pidfd_open, (pid_t)c->ident, 0); /* close-on-exec */
        if (x->fd < 0 && errno == EINVAL)
            errno = ESRCH; /* pid 0, or a thread that is not a process */
    }
    if (x->fd < 0)
        return errno;
    x->filter = c->filter;
    x->ident = c->ident;
    x->disabled = (c->flags & EV_DISABLE) ? 1 : 0;
    x->flags = (unsigned short)(c->flags & KQE_KEPT);
    if (c->filter == EVFILT_PROC)
        x->flags |= EV_CLEAR; /* filt_procattach() */
    x->sfflags = c->fflags; /* as given; NOTE_TRIGGER here does not trigger */
    x->sdata = c->data;
    x->udata = c->udata;
    if (++q->gen == 0)
        q->gen = 1;
    x->gen = q->gen;
    if ((err = kqe_xreg(q, i, EPOLL_CTL_ADD)) != 0) {
        close(x->fd);
        return err;
    }
    x->used = 1;
    return 0;
}

/* struct pidfd_info up to exit_code (PIDFD_INFO_SIZE_VER0), for
   PIDFD_GET_INFO (Linux >= 6.13); PIDFD_INFO_EXIT: Linux >= 6.15. */
struct kqe_pidfd_info {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
};
#define KQE_PIDFD_GET_INFO _IOWR(0xFF, 11, struct kqe_pidfd_info)
#define KQE_PIDFD_INFO_EXIT 0x8U
#define KQE_P_PIDFD 3 /* idtype_t P_PIDFD, Linux >= 5.4 */

/* The wait status of an exited process, without reaping it; 0 if unknown. */
static intptr_t kqe_exit_status(int pidfd)
{
    struct kqe_pidfd_info info;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid((idtype_t)KQE_P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOWAIT | WNOHANG) == 0 && si.si_pid != 0)
        switch (si.si_code) {
        case CLD_EXITED:
            return (intptr_t)(si.si_status & 0xff) << 8;
        case CLD_KILLED:
            return si.si_status;
        case CLD_DUMPED:
            return si.si_status | 0x80; /* WCOREFLAG */
        default:
            break;
        }
    /* reaped already (ECHILD), or not our child */
    memset(&info, 0, sizeof info);
    info.mask = KQE_PIDFD_INFO_EXIT;
    if (ioctl(pidfd, KQE_PIDFD_GET_INFO, &info) == 0 && (info.mask & KQE_PIDFD_INFO_EXIT))
        return info.exit_code;
    return 0;
}

/* Turn one epoll event of a USER or PROC knote into a kevent; 0 if dropped. */
static int kqe_xdeliver(struct kqe_queue *q, const struct epoll_event *e, struct kevent *out)
{
    int i = (int)((uint32_t)e->data.u64 & ~KQE_XBIT);
    uint32_t gen = (uint32_t)(e->data.u64 >> 32);
    struct kqe_xnote *x;

    if (i >= q->xcap)
        return 0;
    x = &q->xk[i];
    if (!x->used || x->gen != gen || x->disabled)
        return 0; /* deleted, or disabled meanwhile */
    out->ident = x->ident;
    out->filter = x->filter;
    out->flags = x->flags;
    out->udata = x->udata;
    if (x->filter == EVFILT_PROC) { /* filt_proc(NOTE_EXIT), then ONESHOT */
        int report = (x->sfflags & NOTE_EXIT) != 0;
        out->flags |= EV_EOF | EV_ONESHOT;
        out->fflags = NOTE_EXIT;
        out->data = report ? kqe_exit_status(x->fd) : 0;
        kqe_xdrop(q, i);
        return report; /* else EV_DROP */
    }
    if (!x->triggered)
        return 0; /* un-triggered (EV_CLEAR change) while we were waking up */
    if (x->flags & EV_ONESHOT) { /* copied without filt_usertouch() */
        out->fflags = 0;
        out->data = 0;
        kqe_xdrop(q, i);
        return 1;
    }
    out->fflags = x->sfflags; /* filt_usertouch(EVENT_PROCESS) */
    out->data = x->sdata;
    if (x->flags & EV_CLEAR)
        kqe_user_set(x, 0);
    if (x->flags & EV_DISPATCH) {
        x->disabled = 1;
        kqe_xreg(q, i, EPOLL_CTL_MOD);
    }
    return 1;
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

/* epoll wait with a timeout in ns (-1: forever) that is never rounded down.
   *pwait2: epoll_pwait2 may be tried; cleared when it is found missing. */
static int kqe_epoll_wait(int ep, struct epoll_event *evs, int n, long long ns, int *pwait2)
{
    long long ms;
#if defined(SYS_epoll_pwait2) && !defined(KQUEUE_EMULATION_NO_PWAIT2)
    if (ns > 0 && *pwait2) {
        struct { long long tv_sec, tv_nsec; } ts; /* struct __kernel_timespec */
        long r;
        ts.tv_sec = ns / 1000000000LL;
        ts.tv_nsec = ns % 1000000000LL;
        r = syscall(SYS_epoll_pwait2, ep, evs, n, &ts, NULL, (size_t)0);
        if (r >= 0 || (errno != ENOSYS && errno != EPERM)) /* EPERM: old seccomp filters */
            return (int)r;
        *pwait2 = 0;
    }
#else
    (void)pwait2;
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
    pthread_mutex_lock(&kqe_mutex);
    kqe_reap(); /* kqueues closed with close() */
    q = (struct kqe_queue *)calloc(1, sizeof *q);
    if (!q) {
        pthread_mutex_unlock(&kqe_mutex);
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
        pthread_mutex_unlock(&kqe_mutex);
        errno = err;
        return -1;
    }
    q->next = kqe_queues;
    kqe_queues = q;
    err = q->kq;
    pthread_mutex_unlock(&kqe_mutex);
    return err;
}

/* Close a kqueue and free its bookkeeping at once (close(kq) also works,
   the rest being reaped lazily). */
KQE_API int kqueue_emulation_close(int kq)
{
    struct kqe_queue *q;
    pthread_mutex_lock(&kqe_mutex);
    for (q = kqe_queues; q; q = q->next)
        if (q->kq == kq) {
            kqe_unlink_free(q);
            break;
        }
    pthread_mutex_unlock(&kqe_mutex);
    return close(kq);
}

KQE_API int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist, int nevents,
                   const struct timespec *timeout)
{
    struct epoll_event sbuf[KQE_SBUF], *buf = sbuf;
    struct kqe_queue *q;
    long long left = -1, deadline = 0;
    int i, n, wr, ep, pwait2, nout = 0, err = 0;

    pthread_mutex_lock(&kqe_mutex);
    if (!(q = kqe_find(kq))) {
        err = EBADF;
        goto out;
    }
    if (nchanges < 0 || nevents < 0) {
        err = EINVAL;
        goto out;
    }
    for (i = 0; i < nchanges; i++) {
        struct kevent c = changelist[i]; /* copied: eventlist may alias changelist */
        int e;
        if (c.filter == 0)
            continue; /* as FreeBSD */
        e = c.filter == EVFILT_USER || c.filter == EVFILT_PROC ? kqe_xchange(q, &c) : kqe_change(q, &c);
        if (e || (c.flags & EV_RECEIPT)) {
            if (nout == nevents) {
                err = e; /* EV_RECEIPT and no room: the rest is not processed */
                goto out;
            }
            c.flags = EV_ERROR;
            c.data = e;
            eventlist[nout++] = c;
        }
    }
    if (nout > 0 || nevents == 0)
        goto out;

    if (timeout) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
            err = EINVAL;
            goto out;
        }
        if (timeout->tv_sec <= INT32_MAX) { /* beyond: forever, as FreeBSD */
            left = (long long)timeout->tv_sec * 1000000000LL + timeout->tv_nsec;
            deadline = kqe_now_ns() + left;
        }
    }
    if (nevents > KQE_SBUF && !(buf = (struct epoll_event *)malloc((size_t)nevents * sizeof *buf))) {
        buf = sbuf;
        err = ENOMEM;
        goto out;
    }
    for (;;) {
        /* Wait unlocked: other threads may change knotes meanwhile (a
           USER trigger wakes us through its eventfd).  Then one harvest
           per epoll instance, so that a knote re-armed during the harvest
           is not reported twice in one call. */
        ep = q->kq;
        pwait2 = kqe_pwait2;
        pthread_mutex_unlock(&kqe_mutex);
        n = kqe_epoll_wait(ep, buf, nevents, left, &pwait2);
        err = n < 0 ? errno : 0;
        pthread_mutex_lock(&kqe_mutex);
        if (!pwait2)
            kqe_pwait2 = 0;
        if (n < 0)
            goto out; /* EINTR included, as kevent() */
        if (!kqe_listed(q)) {
            err = EBADF; /* closed by another thread meanwhile */
            goto out;
        }
        for (i = 0, wr = 0; i < n; i++)
            if (buf[i].data.u64 == KQE_WR_TAG)
                wr = 1;
            else if ((uint32_t)buf[i].data.u64 & KQE_XBIT)
                nout += kqe_xdeliver(q, &buf[i], &eventlist[nout]);
            else
                nout += kqe_deliver(q, 0, &buf[i], &eventlist[nout]);
        if (wr && nout < nevents) {
            n = epoll_wait(q->wr, buf, nevents - nout, 0);
            for (i = 0; i < n; i++)
                nout += kqe_deliver(q, 1, &buf[i], &eventlist[nout]);
        }
        if (nout > 0 || left == 0)
            goto out;
        if (left > 0) { /* woken for nothing deliverable, or timed out */
            left = deadline - kqe_now_ns();
            if (left <= 0)
                goto out;
        }
    }
out:
    pthread_mutex_unlock(&kqe_mutex);
    if (buf != sbuf)
        free(buf);
    if (err) {
        errno = err;
        return -1;
    }
    return nout;
}

#endif /* KQUEUE_EMULATION_H */
