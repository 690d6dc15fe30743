/* asyncio.h -- Python's asyncio for C, in one header.               v0.9.0

   Stackless coroutines (Duff's device or labels-as-values), Futures and
   Tasks with CPython's semantics, and an event loop over epoll / kqueue /
   poll whose timers never fire early, with a virtual clock for tests.

   USAGE
   -----
   In exactly one .c file, before any other #include:

       #define ASYNCIO_IMPLEMENTATION
       #include "asyncio.h"

   Everywhere else include it plainly, and link with -pthread (the
   executor's worker threads; in libc itself since glibc 2.34).  Nothing
   else: libc and POSIX.  The implementation defines _GNU_SOURCE when it
   is first in its file; if your build includes system headers first,
   compile that file with -D_GNU_SOURCE (or -std=gnu11).

   CONTENTS
   --------
     1. Quick start                 7. Tasks
     2. Rules of coroutine bodies   8. Combinators: gather, wait, as_completed,
     3. Configuration macros           shield, timeouts, wait_for, TaskGroup
     4. Errors                      9. File descriptors, sockets, name
     5. The event loop                 resolution (getaddrinfo)
     6. Futures                    10. Streams: open_connection, start_server
                                   11. Coroutine macros, async generators
                                   12. Locks, events, semaphores, conditions,
                                       queues, barriers
                                   13. Threads: call_soon_threadsafe,
                                       executors (to_thread),
                                       run_coroutine_threadsafe
                                   14. Subprocesses, pipes and files
                                   15. TLS (with ASYNCIO_TLS=1)
                                   16. Seeing inside: the await tree,
                                       warnings, loop metrics
   Each declaration section names its implementation sections, which
   follow all the declarations, each opening with a `>>name` marker
   (grep '>>name').  Python-to-C name table: README.md.

   1. QUICK START
   --------------
       typedef struct { asyncio_coro co; int n; } square_t;     // a frame

       static int square(asyncio_task *self, void *frame)
       {
           square_t *f = (square_t *)frame;
           ASYNCIO_BEGIN(self, f);
           ASYNCIO_SLEEP(0.5);                        // await asyncio.sleep(0.5)
           ASYNCIO_RETURN(asyncio_int(f->n * f->n));  // return n * n
           ASYNCIO_END();
       }

       int main(void)
       {
           square_t sq = { ASYNCIO_CORO_INIT, 10 };
           asyncio_outcome out;
           asyncio_run(square, &sq, &out);            // asyncio.run(square(10))
           printf("%lld\n", out.value.i);             // 100
       }

   A coroutine is a function `int fn(asyncio_task *self, void *frame)` and a
   frame: a struct whose FIRST member is `asyncio_coro co` and whose other
   members are the coroutine's arguments and every local that must live
   across a suspension.  The function returns ASYNCIO_PENDING while it is
   suspended, then 0 (done, result in the task) or a negative error code;
   the macros do all of that for you.

   2. RULES OF COROUTINE BODIES
   ----------------------------
   Suspending (AWAIT, SLEEP, YIELD, ...) returns from the C function; it is
   re-entered at the same point later.  Hence:
   - Locals do not survive a suspension.  Keep anything you need after an
     await in the frame (f->i, not i).  Never declare an initialised local
     that a suspension point can jump over (an error in C++; gcc's
     -Wjump-misses-init and -Wmaybe-uninitialized catch most cases).
   - One suspending macro per line: the default flavour labels the resume
     point with __LINE__ (two on a line do not compile: "duplicate label
     asyncio_one_suspension_per_line__N").  For macro-generated code or two
     on a line, use the _AT forms, which take an explicit label: a
     positive integer literal (a single token: it is pasted into names),
     unique within the function and not equal to a line number of another
     suspension point in it (e.g. 100001).
   - Default (switch) flavour: never suspend inside a `switch` of your own;
     the resume `case` would belong to your switch.  Resuming there fails
     the coroutine with ASYNCIO_EINVALIDSTATE and a warning naming file
     and line.  The labels flavour (ASYNCIO_LABELS=1, GCC and Clang) lifts
     this restriction.
   - The awaited expression of ASYNCIO_AWAIT* and the child of
     ASYNCIO_AWAIT_CORO (a setup call, usually) are evaluated once per
     await; other macro arguments (rc, generator frames, timeouts) may be
     evaluated more than once: pass frame members, not expressions with
     side effects.
   - A child coroutine's frame lives in its parent's frame, or near it:
     the parent records it as a distance (one beyond +-1 GiB costs a small
     table entry in the loop).
   - Suspending macros expand to several statements, opened by a
     declaration: under if / else / for / while put them in braces (else
     the compiler stops with "expected expression before 'enum'"), and
     after a label (case X:) open a block or write `;` first.
   - Leave the body only through ASYNCIO_RETURN, ASYNCIO_RAISE or by falling
     into ASYNCIO_END; never with a bare `return`.
   - A frame serves one task at a time (a debug build asserts it).
   - ASYNCIO_FINALLY (Python's `finally`) runs on return, on error and on
     cancellation, synchronously: an await in it does not compile.  For a
     cleanup that awaits, ASYNCIO_FINALLY_ASYNC(state) { ... }; the
     pending outcome is re-raised when it ends, as in Python.
   - Errors propagate like exceptions: a failing ASYNCIO_AWAIT* leaves the
     body through FINALLY with the same error.  The _RC forms "catch"
     instead: they store the code (0 or negative) in an lvalue of yours and
     continue; ASYNCIO_ERRMSG() then gives the message.
   - A coroutine awaits a child coroutine inline with ASYNCIO_AWAIT_CORO:
     the child's frame lives in the parent's frame, nothing is allocated and
     no task is created (Python's `await child()`).

   3. CONFIGURATION MACROS (define before including; * = must be the same
      in every file of the program, because it changes struct layouts)
   ------------------------------------------------------------------------
   (implementation: >>config)
   ASYNCIO_IMPLEMENTATION     emit the implementation (one .c file only).
   ASYNCIO_IMPLEMENTATION_LINKED  1: ignore ASYNCIO_IMPLEMENTATION -- the
                              implementation comes from another object
                              (a build that compiles it once and links it
                              into many programs, as this repository's
                              Makefile does).  Default 0.
   ASYNCIO_LABELS *           1: labels-as-values continuations (GCC/Clang),
                              which allow suspending inside your own switch.
                              Default 0: portable switch-based (Duff's device).
   ASYNCIO_DEBUG *            1: record where tasks are created, check
                              pointers with ASYNCIO_ASSERT.  Default: 1
                              unless NDEBUG is defined.
   ASYNCIO_BACKEND_EPOLL      force a backend (define one to 1).  Default:
   ASYNCIO_BACKEND_KQUEUE     epoll on Linux, kqueue on the BSDs and macOS,
   ASYNCIO_BACKEND_POLL       poll elsewhere.  asyncio_backend_name() tells.
   ASYNCIO_BACKEND_URING      Linux's io_uring (5.13 or later), through its
                              system calls (no liburing); a loop whose ring
                              the kernel refuses (old kernel, seccomp,
                              kernel.io_uring_disabled) runs on epoll.
   ASYNCIO_URING_ENTRIES      io_uring: submission slots (1 to 8192, default 256); the
                              completion ring has four times as many.
   ASYNCIO_URING_BUFFERS      io_uring: buffers in a loop's receive pool (a power
   ASYNCIO_URING_BUFFER_SIZE  of two up to 32768, default 128) and their size
                              (default 16384): socket streams receive into
                              them (section 10), allocated at the first.
   ASYNCIO_KQUEUE_HEADER      a header to include instead of <sys/event.h>
                              (the tests build kqueue on Linux with it).
   ASYNCIO_TLS                1: TLS for streams over OpenSSL (section 15;
                              link -lssl -lcrypto).  Default 0: nothing of
                              OpenSSL is included.
   ASYNCIO_ASSERT(x)          assertion used for programmer errors
                              (default: assert from <assert.h>).
   ASYNCIO_REALLOC(ctx,p,n)   allocator, both or neither; ctx is the loop's
   ASYNCIO_FREE(ctx,p)        config.alloc_ctx.  Default realloc / free.

   Run time: asyncio_config (zero means default), and the environment
   variable ASYNCIO_VIRTUAL_CLOCK=1, which puts loops created without an
   explicit choice on the virtual clock (see asyncio_loop_init).

   THREADS: a loop, and every future, task, handle, stream and lock on
   it, belong to the thread that runs it.  From any other thread, call
   only (section 13): asyncio_call_soon_threadsafe, asyncio_loop_ref /
   _unref, asyncio_run_coroutine_threadsafe and the asyncio_remote_*
   calls, the asyncio_executor_* calls, and the pure asyncio_strerror,
   asyncio_err_name and asyncio_backend_name.  A work function given to
   an executor runs on a worker thread: it may use those calls, never the
   loop.  Several loops may run on several threads, one each; they share
   the default executor and nothing else, and one of them owns the
   signals (asyncio_add_signal_handler).  A debug build asserts that a
   running loop is touched from its own thread only.

   4-16: see the comments above each declaration below.

   LICENCE: MIT, at the end of this file.
*/
#ifndef ASYNCIO_H
#define ASYNCIO_H

/* The version (CHANGELOG.md; what may change between versions is said
   there).  make install, CMake and Meson read these four lines. */
#define ASYNCIO_VERSION_MAJOR 0
#define ASYNCIO_VERSION_MINOR 9
#define ASYNCIO_VERSION_PATCH 0
#define ASYNCIO_VERSION_STRING "0.9.0"

#if defined(ASYNCIO_IMPLEMENTATION) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* clock_gettime, timerfd, ppoll under -std=c99 */
#endif

#include <stddef.h>
#include <stdint.h>

#ifndef ASYNCIO_LABELS
#define ASYNCIO_LABELS 0
#endif
#ifndef ASYNCIO_TLS
#define ASYNCIO_TLS 0
#endif
#ifndef ASYNCIO_IMPLEMENTATION_LINKED
#define ASYNCIO_IMPLEMENTATION_LINKED 0
#endif
#ifndef ASYNCIO_DEBUG
#ifdef NDEBUG
#define ASYNCIO_DEBUG 0
#else
#define ASYNCIO_DEBUG 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* =========================================================================
   4. ERRORS
   Every call returns 0 (or a count) on success and a negative code on
   failure: -errno for system errors, and these library codes, far from
   errno values.  A call that fails without suspending also says what went
   wrong in asyncio_errmsg() (per thread, like errno); a coroutine's error
   travels with its message (ASYNCIO_ERRMSG(), asyncio_future_errmsg).  A
   coroutine may raise any negative code; codes at or below ASYNCIO_EUSER
   are free for applications, which may name them (asyncio_define_error).
   Implementation: >>errors.
   ========================================================================= */
#define ASYNCIO_ERRORS(X)                                                      \
    X(ECANCELLED, -4001, "operation cancelled")                                \
    X(ETIMEDOUT, -4002, "timed out")                                           \
    X(EINVALIDSTATE, -4003, "invalid state")                                   \
    X(ESTALLED, -4004, "nothing left to run: the awaited future can never complete") \
    X(ELOOPCLOSED, -4005, "event loop is closed")                              \
    X(ELOOPRUNNING, -4006, "event loop is already running")                    \
    X(EINCOMPLETE, -4007, "incomplete read: end of stream before the expected data") \
    X(ELIMIT, -4008, "line longer than the stream's limit")                   \
    X(EQUEUEFULL, -4009, "queue is full")                                     \
    X(EQUEUEEMPTY, -4010, "queue is empty")                                   \
    X(EQUEUESHUTDOWN, -4011, "queue is shut down")                            \
    X(EBROKENBARRIER, -4012, "barrier is broken (aborted or reset)")          \
    X(ESTOPITERATION, -4013, "generator is exhausted")                         \
    X(EGROUP, -4014, "unhandled errors in a TaskGroup")                        \
    X(EGENEXIT, -4015, "generator closed")                                     \
    X(ERESOLVE, -4016, "name resolution failed")                               \
    X(ETLS, -4017, "TLS error")                                                \
    X(ETLSVERIFY, -4018, "certificate verify failed")                          \
    X(EREADTIMEOUT, -4019, "read timed out: the peer sent nothing in time")    \
    X(EWRITETIMEOUT, -4020, "write timed out: the peer did not read in time")  \
    X(EUSER, -5000, "application error")

enum asyncio_error {
#define ASYNCIO__ENUM(name, value, text) ASYNCIO_##name = value,
    ASYNCIO_ERRORS(ASYNCIO__ENUM)
#undef ASYNCIO__ENUM
    ASYNCIO_PENDING = 1 /* a coroutine function's "suspended" return */
};

/* asyncio_strerror: a static message for any code (library, -errno, or
   one asyncio_define_error named).  Any thread. */
const char *asyncio_strerror(int err);
/* asyncio_err_name: the code's name ("ECANCELLED", "ENOENT", "OK" for 0,
   an application code's name, "EUSER" for an application code with
   none), or "UNKNOWN".  Any thread. */
const char *asyncio_err_name(int err);

/* asyncio_errmsg: what went wrong in the last call on this thread that
   returned an error without suspending (Python's exception message, e.g.
   "cannot notify on un-acquired lock"); "" before any.  Valid until the
   next failing call on this thread.  A coroutine's errors travel with
   the coroutine instead: ASYNCIO_ERRMSG().  Any thread. */
const char *asyncio_errmsg(void);

/* asyncio_define_error: name an application error (Python's exception
   class): code at or below ASYNCIO_EUSER, name ("ValueError") and a
   default message, both strings that live as long as the program; then
   asyncio_err_name and asyncio_strerror use them.  Defining a code again
   renames it.  Returns 0, -EINVAL (code above ASYNCIO_EUSER, or a NULL
   name), -ENOSPC (more than 256 codes).  Any thread; meant for start-up. */
int asyncio_define_error(int code, const char *name, const char *message);

/* =========================================================================
   TYPES
   All structs are declared here so that you can embed them (no allocation),
   but their fields are private: use the calls.  Each future-like object
   (asyncio_task, asyncio_gather, ...) begins with an asyncio_future named
   `fut`; pass &x->fut wherever a future is expected (a Task is a Future).
   ========================================================================= */
typedef struct asyncio_loop asyncio_loop;
typedef struct asyncio_future asyncio_future;
typedef struct asyncio_task asyncio_task;
struct addrinfo; /* <netdb.h>; only pointers here */

/* A coroutine's result: one machine word, read as the member you wrote. */
typedef union asyncio_value {
    long long i;
    double d;
    void *p;
} asyncio_value;

static inline asyncio_value asyncio_int(long long i) { asyncio_value v; v.i = i; return v; }
static inline asyncio_value asyncio_double(double d) { asyncio_value v; v.d = d; return v; }
static inline asyncio_value asyncio_ptr(void *p) { asyncio_value v; v.p = p; return v; }

/* How something finished: err is 0 (value holds the result) or negative
   (msg says why; ASYNCIO_ECANCELLED when it was cancelled). */
typedef struct asyncio_outcome {
    int err;
    const char *msg;
    asyncio_value value;
} asyncio_outcome;

/* A coroutine function; see section 1. */
typedef int (*asyncio_fn)(asyncio_task *self, void *frame);
/* A plain callback for call_soon / call_later / call_at. */
typedef void (*asyncio_callback)(asyncio_loop *loop, void *arg);
/* A done-callback: called from the loop once the future is done. */
typedef void (*asyncio_done_fn)(asyncio_future *fut, void *arg);

#if ASYNCIO_LABELS
typedef void *asyncio__lc;
#else
typedef int asyncio__lc;
#endif

/* The first member of every coroutine frame: where to resume, and the
   inline child (coroutine or generator) it runs, if any.  The child is
   kept as its frame's distance from this one: children live in their
   parent's frame, so a distance is small, and it keeps this struct eight
   bytes in the default flavour. */
typedef struct asyncio__site { /* a coroutine function's file and name */
    const char *file, *func;
} asyncio__site;
typedef struct asyncio_coro {
    asyncio__lc lc;
    int child; /* 0: none; bit 0: closing it (a generator) */
#if ASYNCIO_DEBUG
    const asyncio__site *site; /* debug builds, for the await tree: the function */
    int line;                  /* and the line it is suspended at */
#endif
} asyncio_coro;
/* Initialiser for a frame's asyncio_coro: { ASYNCIO_CORO_INIT, args... }. */
#define ASYNCIO_CORO_INIT { 0 }

/* The state of an awaiting cleanup (ASYNCIO_FINALLY_ASYNC), in the frame:
   the outcome that waits while the cleanup runs. */
typedef struct asyncio_finally {
    int rc;
    asyncio_value saved;
} asyncio_finally;

typedef struct asyncio__link {
    struct asyncio__link *next, *prev;
} asyncio__link;

/* A hook several futures can share (gather, wait, shield, as_completed). */
typedef struct asyncio__waiter {
    void (*fn)(struct asyncio__waiter *self, asyncio_future *done);
} asyncio__waiter;

struct asyncio_future {
    asyncio__link link;    /* ready queue or a timer list */
    asyncio_loop *loop;
    uintptr_t waiters;     /* tagged: task, waiter hook, or vector of them */
    union {
        asyncio_value value;    /* result, and a task's result register */
        const char *msg;        /* error message when err < 0 */
        asyncio_future *awaits; /* a suspended task: what it waits on */
    } u;
    unsigned char state, kind;
    unsigned short ncancel;     /* a task's pending cancel requests */
    union {
        int err;          /* when done */
        unsigned reg;     /* a pending task: its slot in the task registry */
    } x;
#if ASYNCIO_DEBUG
    unsigned magic;
#endif
};

struct asyncio_task {
    asyncio_future fut;
    asyncio_fn fn;
    void *frame;
    const char *name;
#if ASYNCIO_DEBUG
    const char *file;
    int line;
    unsigned groups; /* TaskGroups entered and not yet exited */
#endif
};

/* A scheduled callback (call_soon / call_later / call_at). */
typedef struct asyncio_handle {
    asyncio_future fut;
    asyncio_callback fn;
    void *arg;
} asyncio_handle;

/* The function an executor runs on a worker thread: return 0 with the
   result in out->value, or a negative code, pointing out->msg at a
   message that outlives the job if you like (default: asyncio_strerror).
   A positive return is reported as -EINVAL. */
typedef int (*asyncio_work_fn)(void *arg, asyncio_outcome *out);
/* Called, on any thread, for a job whose outcome nobody will see: one
   cancelled before it started (fn never ran: out->err is
   ASYNCIO_ECANCELLED), or cancelled while it ran (out is what fn made).
   Free what arg and out->value own.  Never called for a job whose
   outcome reached its future. */
typedef void (*asyncio_discard_fn)(void *arg, asyncio_outcome *out);

typedef struct asyncio_executor asyncio_executor;

/* One executor job (section 13), in caller storage: no allocation per
   job.  Await its `fut`. */
typedef struct asyncio_work {
    asyncio_future fut;
    asyncio_work_fn fn;
    void *arg;
    asyncio_discard_fn discard;
    asyncio_outcome out;
    asyncio__link queue;           /* in the executor's FIFO */
    asyncio_executor *ex;
    struct asyncio__worker *worker;
    int state;
    int stop;                      /* a job that runs to its end was asked to stop early */
    unsigned ring_at;              /* io_uring file call: where its submission sits */
} asyncio_work;

/* Run-time options; a zeroed struct gives the defaults. */
typedef struct asyncio_config {
    /* 0: real clock unless ASYNCIO_VIRTUAL_CLOCK=1 is set; 1: virtual clock;
       -1: real clock whatever the environment says. */
    int virtual_clock;
    /* Deadlines are rounded UP to a multiple of this (ns, default 16000):
       timers due in the same 16 us share one heap node, which is what
       makes a million sleeping tasks cheap.  1 keeps full nanosecond
       precision (a timer never fires early either way). */
    long long timer_resolution_ns;
    /* Receives warnings (never-awaited coroutines, tasks destroyed while
       pending); default: one line on stderr. */
    void (*warn)(void *ctx, const char *message);
    void *warn_ctx;
    /* Passed as ctx to ASYNCIO_REALLOC / ASYNCIO_FREE. */
    void *alloc_ctx;
    /* How children's exits are watched (section 14): 0, the best the
       system has (a pidfd, or EVFILT_PROC); ASYNCIO_CHILD_SIGCHLD, a
       SIGCHLD handler, the fallback where neither exists (the kqueue
       backend always uses EVFILT_PROC). */
    int child_watcher;
    /* A task step or callback that runs longer than this (seconds) is
       reported through warn (Python's slow_callback_duration in debug
       mode); 0: 0.1 in debug builds, never otherwise; negative: never. */
    double slow_callback_duration;
    /* While tasks are ready to run, poll for I/O at most once per this
       many ns of running.  0 (the default): every pass polls, as CPython's
       loop does.  On epoll, kqueue and poll that zero-timeout poll is a
       system call: with tasks that keep yielding and one fd waited on it
       is most of a pass's cost, and 20000 (20 us) makes such a switch
       ~3.7x cheaper (bench/switch_fd.c) -- at the price of I/O seen up to
       that much later, so events may come in another order than CPython's.
       The virtual clock and io_uring (whose poll reads memory) poll every
       pass regardless. */
    long long busy_poll_ns;
} asyncio_config;
#define ASYNCIO_CHILD_SIGCHLD 1

typedef struct asyncio__tgroup asyncio__tgroup;
typedef struct asyncio__pmap { /* a pointer map (private) */
    struct asyncio__pmap_entry *e;
    size_t n, cap;
} asyncio__pmap;

struct asyncio_loop {
    asyncio_config cfg;
    asyncio__link ready, running;  /* FIFO of futures to run */
    long long now;                 /* the virtual clock, or last reading */
    unsigned long long timer_seq;
    asyncio__tgroup **heap;        /* timer groups, min-heap on (when, seq) */
    size_t nheap, capheap;
    asyncio__tgroup *tcache[128];  /* newest group for a deadline: 2 slots each */
    asyncio__tgroup *tfree;        /* recycled groups */
    void **tchunks;                /* group allocations, freed at close */
    size_t ntchunks;
    asyncio_task **tasks;          /* registry of pending tasks; NULL: finished */
    size_t ntasks, captasks, nfinished;
    void *owned;                   /* loop-allocated tasks and handles */
    asyncio_task *current;
    int in_run, stopping, closed, is_virtual;
    /* backend */
    int backend_fd;
    int timer_fd;
    struct asyncio__fd *fds;       /* fd-indexed: waiters and readiness */
    size_t capfds;
    size_t nfdwait;                /* fd waiters: the loop must poll */
    long long polled_at;           /* when it last polled (cfg.busy_poll_ns) */
    struct asyncio__fired *fired;  /* what the backend's poll reported */
    size_t nfired, capfired;
    void *backend_buf;             /* backend scratch (poll: its pollfd array; io_uring: its rings) */
    size_t capbackend;
    size_t poll_next;              /* poll: where the next pass starts reporting */
    struct asyncio__signals *signals; /* add_signal_handler's self-pipe */
    struct asyncio__far *far;      /* inline children far from their parent's frame */
    size_t nfar, capfar;
    struct asyncio__gen *gens;     /* async generators started and not finished */
    size_t ngens, capgens;
    asyncio_future *gens_drained;  /* asyncio_run waits for the last to close */
    asyncio__pmap errmsgs;         /* task -> its last caught error's message */
    asyncio__pmap kept;            /* hash -> a formatted message copied to outlive its buffer */
    asyncio__pmap unseen;          /* failed task -> what "never retrieved" will say (section 16) */
    long long slow_ns, worst_step_ns; /* cfg.slow_callback_duration; the longest step timed */
    unsigned long long m_iterations, m_steps, m_callbacks, m_created, m_finished, m_jobs, m_jobs_done;
    long long m_idle_ns;           /* asyncio_metrics */
#if ASYNCIO_DEBUG
    asyncio__pmap frames;          /* frame -> the pending task on it */
#endif
    const asyncio_coro *gen_throw_to; /* the next step of this generator resumes its */
    int gen_throw_err;                /* yield with this error (close, athrow) */
    const char *gen_throw_msg;
    /* reached from other threads (section 13), through atomics only */
    asyncio__link procs;           /* its child processes (section 14) */
    int nchildren;                 /* children watched by EVFILT_PROC or SIGCHLD */
    int sigchld_slot;              /* 1 + its slot among the loops watching SIGCHLD, or 0 */
    int xchld;                     /* a SIGCHLD arrived (set by the handler) */
    uintptr_t xq;                  /* futures posted by other threads: a stack, and the loop's state */
    unsigned xwakes_done;          /* wake-ups written by other threads */
    unsigned xwakes_seen;          /* wake-ups announced to this thread (its own) */
    int xinflight;                 /* threads reading the loop after changing it */
    int xrefs;                     /* asyncio_loop_ref holds */
    long xjobs;                    /* executor jobs queued and not yet back */
    int wake_fd[2];                /* the backend's wake-up: eventfd, or a pipe for poll */
    struct asyncio_remote *remotes;/* run_coroutine_threadsafe tasks being run */
    const void *thread;            /* the thread running the loop (debug checks) */
};

/* =========================================================================
   5. THE EVENT LOOP
   Implementation: >>loop, >>clock, >>timers, >>handles, >>signals, >>backend-*.
   ========================================================================= */

/* asyncio_loop_init: prepare a loop in caller storage.  cfg may be NULL.
   Returns 0, or -errno if the backend cannot be created. */
int asyncio_loop_init(asyncio_loop *loop, const asyncio_config *cfg);

/* asyncio_loop_close: release the loop.  Pending tasks are not run: each is
   reported through cfg.warn ("coroutine 'f' was never awaited" if it never
   started, "Task was destroyed but it is pending!" otherwise) and
   forgotten; loop-allocated objects are freed.  Returns the number of
   pending tasks reported, or ASYNCIO_ELOOPRUNNING from inside the loop. */
int asyncio_loop_close(asyncio_loop *loop);

/* asyncio_loop_run_until_complete: run the loop until fut is done.
   Returns fut's outcome code (0, its error, or ASYNCIO_ECANCELLED), or
   ASYNCIO_ESTALLED if nothing is left that could ever complete it, or
   ASYNCIO_ELOOPRUNNING / ASYNCIO_ELOOPCLOSED. */
int asyncio_loop_run_until_complete(asyncio_loop *loop, asyncio_future *fut);

/* asyncio_loop_run_forever: run until asyncio_loop_stop is called or no
   work is left.  Returns 0, or ASYNCIO_ELOOPRUNNING / ELOOPCLOSED. */
int asyncio_loop_run_forever(asyncio_loop *loop);

/* asyncio_loop_stop: make the running loop return after this iteration. */
void asyncio_loop_stop(asyncio_loop *loop);

/* asyncio_loop_time: the loop's monotonic clock in seconds (virtual or
   real); asyncio_loop_time_ns in nanoseconds. */
double asyncio_loop_time(asyncio_loop *loop);
long long asyncio_loop_time_ns(asyncio_loop *loop);

/* asyncio_loop_is_virtual: 1 when the loop runs on the virtual clock. */
int asyncio_loop_is_virtual(const asyncio_loop *loop);

/* asyncio_backend_name: "epoll", "kqueue", "poll" or "io_uring", as compiled
   in.  An io_uring build says "epoll" once the kernel has refused a ring
   (its loops then run on epoll); before any loop exists it tries one.  Any
   thread may call it. */
const char *asyncio_backend_name(void);

/* asyncio_add_signal_handler: Python's loop.add_signal_handler.  Each time
   signal signum arrives, fn(loop, arg) runs from the loop (never inside
   the signal handler; on whichever thread the kernel delivers it, the
   owning loop hears of it).  Signals belong to one loop per process: the
   first loop to install a handler owns them until it closes; any other
   loop, on any thread, gets -EBUSY (with a loop per thread, let one loop
   own the signals and tell the others with call_soon_threadsafe).
   While a handler is installed the loop waits for it rather than
   stalling.  Returns 0, -EINVAL (bad signal, or SIGKILL/SIGSTOP), -EBUSY
   (another loop owns the signals), -ENOMEM or -errno. */
int asyncio_add_signal_handler(asyncio_loop *loop, int signum, asyncio_callback fn, void *arg);
/* asyncio_remove_signal_handler: restore signum's default action.  Returns
   1 if a handler was removed, 0 if there was none. */
int asyncio_remove_signal_handler(asyncio_loop *loop, int signum);

/* asyncio_run: Python's asyncio.run(main).  Creates a loop, runs fn(frame)
   as its main task to completion, cancels and finishes every task left,
   closes the loop.  out (may be NULL) receives main's outcome.  Returns
   main's error code (0 on success) or a loop error. */
int asyncio_run(asyncio_fn fn, void *frame, asyncio_outcome *out);
/* asyncio_run_config: asyncio_run with loop options. */
int asyncio_run_config(const asyncio_config *cfg, asyncio_fn fn, void *frame,
                       asyncio_outcome *out);

/* asyncio_call_soon: run fn(loop, arg) from the loop, after what is already
   ready (FIFO).  h is caller storage that must stay valid until fn has run
   or the handle was cancelled, or NULL to let the loop allocate (then it
   cannot be cancelled).  Returns 0 or -ENOMEM. */
int asyncio_call_soon(asyncio_loop *loop, asyncio_handle *h, asyncio_callback fn, void *arg);

/* asyncio_call_later: run fn after `delay` seconds (never earlier).  A
   negative delay is a deadline in the past, as in CPython: it runs before
   a timer due now, even one scheduled earlier.  Delays beyond ~290 years
   mean never.  Returns 0, -EINVAL for a NaN delay, or -ENOMEM. */
int asyncio_call_later(asyncio_loop *loop, asyncio_handle *h, double delay,
                       asyncio_callback fn, void *arg);

/* asyncio_call_at: run fn at loop time `when` (seconds, as
   asyncio_loop_time).  Timers with equal deadlines run in the order they
   were scheduled.  Returns as asyncio_call_later. */
int asyncio_call_at(asyncio_loop *loop, asyncio_handle *h, double when,
                    asyncio_callback fn, void *arg);

/* asyncio_handle_cancel: unschedule a pending handle.  Returns 1 if it was
   pending, 0 if it already ran or was cancelled. */
int asyncio_handle_cancel(asyncio_handle *h);

/* =========================================================================
   6. FUTURES
   pending -> done with a result | done with an error | cancelled.
   Done-callbacks (and awaiting tasks) run from the loop, in registration
   order, each exactly once -- never inline from set_result.
   Implementation: >>future.
   ========================================================================= */

/* asyncio_future_init: a pending future bound to loop, in caller storage. */
void asyncio_future_init(asyncio_future *fut, asyncio_loop *loop);

/* asyncio_future_set_result: complete with a result.  Returns 0, or
   ASYNCIO_EINVALIDSTATE (nothing changes) if fut is already done. */
int asyncio_future_set_result(asyncio_future *fut, asyncio_value value);

/* asyncio_future_set_error: complete with error err (< 0) and msg (a
   string that outlives the future; NULL for asyncio_strerror(err)).
   Returns 0, -EINVAL if err >= 0, or ASYNCIO_EINVALIDSTATE if done. */
int asyncio_future_set_error(asyncio_future *fut, int err, const char *msg);

/* asyncio_future_cancel: cancel a pending future (for a task, this is
   asyncio_task_cancel).  Returns 1, or 0 (Python's False; nothing
   changes) if it is already done. */
int asyncio_future_cancel(asyncio_future *fut);

/* asyncio_future_done / _cancelled: 1 or 0. */
int asyncio_future_done(const asyncio_future *fut);
int asyncio_future_cancelled(const asyncio_future *fut);

/* asyncio_future_result: store the result in *value (may be NULL) and
   return 0; or return the future's error, ASYNCIO_ECANCELLED if it was
   cancelled, ASYNCIO_EINVALIDSTATE if it is still pending. */
int asyncio_future_result(const asyncio_future *fut, asyncio_value *value);

/* asyncio_future_error: 0 if the future completed with a result, its
   error if it failed, ASYNCIO_ECANCELLED if cancelled, ASYNCIO_EINVALIDSTATE
   if pending.  asyncio_future_errmsg: the message of the first three cases
   (NULL for a result). */
int asyncio_future_error(const asyncio_future *fut);
const char *asyncio_future_errmsg(const asyncio_future *fut);

/* asyncio_future_add_done_callback: call fn(fut, arg) from the loop once
   fut is done (soon, if it already is).  Returns 0 or -ENOMEM. */
int asyncio_future_add_done_callback(asyncio_future *fut, asyncio_done_fn fn, void *arg);

/* asyncio_future_remove_done_callback: remove every registration of
   (fn, arg) not yet run.  Returns how many were removed. */
int asyncio_future_remove_done_callback(asyncio_future *fut, asyncio_done_fn fn, void *arg);

/* =========================================================================
   7. TASKS
   A Task is a Future that drives a coroutine.  Creating one schedules its
   first step; it never runs eagerly.
   Implementation: >>task.
   ========================================================================= */

/* asyncio_create_task(loop, storage, fn, frame): Python's create_task.
   storage is an asyncio_task that stays valid until the task is done and
   awaited, or NULL to let the loop allocate it (freed by
   asyncio_task_free or at loop close).  frame's first member must be an
   asyncio_coro; it is reset, so the coroutine starts from the top.  The
   task's name is the function's name.  Returns the task, or NULL on
   -ENOMEM or a closed loop. */
#define asyncio_create_task(loop, storage, fn, frame)                          \
    asyncio_task_create_at((loop), (storage), (fn), (frame), #fn, __FILE__, __LINE__)
asyncio_task *asyncio_task_create_at(asyncio_loop *loop, asyncio_task *storage, asyncio_fn fn,
                                     void *frame, const char *name, const char *file, int line);

/* asyncio_task_cancel: request cancellation.  The coroutine sees
   ASYNCIO_ECANCELLED at its next await (the future it awaits is cancelled
   too); if it has not started, its body never runs.  Returns 1, or 0 if
   the task is already done. */
int asyncio_task_cancel(asyncio_task *task);

/* asyncio_task_cancelling / _uncancel: the number of pending cancel
   requests; uncancel decrements it and returns the new count. */
int asyncio_task_cancelling(const asyncio_task *task);
int asyncio_task_uncancel(asyncio_task *task);

/* asyncio_task_name / _set_name: the name (a string you keep alive). */
const char *asyncio_task_name(const asyncio_task *task);
void asyncio_task_set_name(asyncio_task *task, const char *name);

/* asyncio_task_free: release a loop-allocated task (storage NULL) that is
   done.  Returns 0, ASYNCIO_EINVALIDSTATE if it is pending, -EINVAL if the
   loop did not allocate it. */
int asyncio_task_free(asyncio_task *task);

/* asyncio_current_task: the task whose coroutine is running, or NULL. */
asyncio_task *asyncio_current_task(const asyncio_loop *loop);

/* asyncio_all_tasks: copy up to cap pending tasks to out (may be NULL);
   returns how many are pending. */
size_t asyncio_all_tasks(const asyncio_loop *loop, asyncio_task **out, size_t cap);

/* =========================================================================
   8. COMBINATORS (CPython's semantics; each lives in caller storage and is
   awaited through its `fut` member)
   Implementation: >>combinators, >>taskgroup.
   ========================================================================= */

typedef struct asyncio_gather {
    asyncio_future fut;
    asyncio__waiter hook;
    asyncio_future *const *futs;   /* children, or NULL with tasks */
    asyncio_task *tasks;
    size_t n, ndone;
    unsigned flags;
} asyncio_gather_t;

/* Flags for asyncio_gather. */
#define ASYNCIO_RETURN_EXCEPTIONS 1u

/* asyncio_gather: complete g->fut when all n futures are done.  Without
   ASYNCIO_RETURN_EXCEPTIONS, the first error (or cancellation) of a child
   completes g->fut with that error at once and the other children keep
   running.  Cancelling g->fut cancels every child.  futs (caller storage,
   kept until g is done) may hold tasks' &t->fut.  Read results with
   asyncio_gather_result.  Returns 0, or -ENOMEM (nothing registered). */
int asyncio_gather(asyncio_gather_t *g, asyncio_loop *loop, asyncio_future *const *futs, size_t n,
                   unsigned flags);

/* asyncio_gather_map: create n tasks running fn over n frames (frame i at
   (char *)frames + i * frame_size) in the caller's tasks[n], and gather
   them: Python's gather(*(fn(x) for x in xs)).  The tasks are named after
   fn.  Returns 0, -ENOMEM (then no task was created) or
   ASYNCIO_ELOOPCLOSED. */
#define asyncio_gather_map(g, loop, tasks, fn, frames, frame_size, n, flags)   \
    asyncio_gather_map_at((g), (loop), (tasks), (fn), (frames), (frame_size), (n), (flags), #fn, __FILE__, __LINE__)
int asyncio_gather_map_at(asyncio_gather_t *g, asyncio_loop *loop, asyncio_task *tasks, asyncio_fn fn,
                          void *frames, size_t frame_size, size_t n, unsigned flags, const char *name,
                          const char *file, int line);

/* asyncio_gather_child: the i-th child future. */
asyncio_future *asyncio_gather_child(const asyncio_gather_t *g, size_t i);

/* asyncio_gather_result: asyncio_future_result of the i-th child. */
int asyncio_gather_result(const asyncio_gather_t *g, size_t i, asyncio_value *value);

/* asyncio_wait: Python's asyncio.wait.  w->fut completes (never with an
   error) when the condition holds or after timeout seconds (negative: no
   timeout); check each future with asyncio_future_done.  Returns 0, or
   -EINVAL for n == 0, a bad mode, or a NaN timeout. */
typedef enum asyncio_wait_mode {
    ASYNCIO_ALL_COMPLETED,
    ASYNCIO_FIRST_COMPLETED,
    ASYNCIO_FIRST_EXCEPTION
} asyncio_wait_mode;

typedef struct asyncio_wait_t {
    asyncio_future fut;
    asyncio__waiter hook;
    asyncio_handle timer;
    asyncio_future *const *futs;
    size_t n, ndone;
    asyncio_wait_mode mode;
} asyncio_wait_t;

int asyncio_wait(asyncio_wait_t *w, asyncio_loop *loop, asyncio_future *const *futs, size_t n,
                 asyncio_wait_mode mode, double timeout);
/* asyncio_wait_sets: Python's `done, pending = await asyncio.wait(...)`:
   the futures done and those still pending, each array in argument order
   (either may be NULL; each needs room for n).  Returns how many are
   done. */
size_t asyncio_wait_sets(const asyncio_wait_t *w, asyncio_future **done, asyncio_future **pending);

/* asyncio_as_completed: Python's as_completed.  Each call of
   asyncio_as_completed_next returns a future to await, which completes
   with the outcome of the next child to finish (ASYNCIO_ETIMEDOUT once
   timeout seconds have passed; negative: none), or NULL when every child
   has been handed out.  futs is reordered into completion order.
   asyncio_as_completed_last: the child behind the last completed next().
   Returns 0, or -EINVAL for a NaN timeout. */
typedef struct asyncio_as_completed_t {
    asyncio_future fut;
    asyncio__waiter hook;
    asyncio_handle timer;
    asyncio_future **futs;
    size_t n, ndone, nout;
    int waiting, timed_out;
} asyncio_as_completed_t;

int asyncio_as_completed(asyncio_as_completed_t *ac, asyncio_loop *loop, asyncio_future **futs,
                         size_t n, double timeout);
asyncio_future *asyncio_as_completed_next(asyncio_as_completed_t *ac);
asyncio_future *asyncio_as_completed_last(const asyncio_as_completed_t *ac);

/* asyncio_shield: s->fut mirrors inner, but cancelling s->fut (or the task
   awaiting it) leaves inner running.  Returns 0. */
typedef struct asyncio_shield_t {
    asyncio_future fut;
    asyncio__waiter hook;
    asyncio_future *inner;
} asyncio_shield_t;

int asyncio_shield(asyncio_shield_t *s, asyncio_loop *loop, asyncio_future *inner);
/* asyncio_shield_coro(s, loop, task, fn, frame): Python's shield(coro()):
   start fn(frame) as a task in your storage `task` and shield it.
   Returns 0, or the error of asyncio_create_task. */
#define asyncio_shield_coro(s, loop, task, fn, frame)                          \
    asyncio_shield_coro_at((s), (loop), (task), (fn), (frame), #fn, __FILE__, __LINE__)
int asyncio_shield_coro_at(asyncio_shield_t *s, asyncio_loop *loop, asyncio_task *task, asyncio_fn fn, void *frame,
                           const char *name, const char *file, int line);

/* "No deadline": a timeout's when (Python's None); any delay or time at
   least this large means never. */
#define ASYNCIO_NEVER 1e300

/* asyncio_timeout_enter / _exit: Python's `async with asyncio.timeout(d)`
   (CPython 3.12+).  enter arms a timer that cancels task after delay
   seconds (negative: at once; ASYNCIO_NEVER, or beyond ~290 years:
   never); asyncio_timeout_enter_at is `asyncio.timeout_at(when)`, an
   absolute loop time.  exit(rc) disarms it and returns rc, except that a
   cancellation the timeout caused becomes ASYNCIO_ETIMEDOUT.  Call exit on
   every path out of the scope (use the _RC awaits inside it);
   ASYNCIO_WAIT_FOR does both for you.  enter returns 0, -EINVAL (NaN),
   ASYNCIO_EINVALIDSTATE if the scope is already entered and not exited
   ("Timeout has already been entered"), -ENOMEM.  The storage is reused
   freely once exited.  None of these suspends. */
typedef struct asyncio_timeout {
    asyncio_handle timer;
    asyncio_task *task;
    double when;
    unsigned short cancelling;
    unsigned char state;
} asyncio_timeout;

int asyncio_timeout_enter(asyncio_timeout *to, asyncio_task *task, double delay);
int asyncio_timeout_enter_at(asyncio_timeout *to, asyncio_task *task, double when);
int asyncio_timeout_exit(asyncio_timeout *to, int rc);
/* asyncio_timeout_expired: 1 once the timer has fired.
   asyncio_timeout_when: the deadline (loop time), ASYNCIO_NEVER if none. */
int asyncio_timeout_expired(const asyncio_timeout *to);
double asyncio_timeout_when(const asyncio_timeout *to);
/* asyncio_timeout_reschedule: move the deadline to when (loop time;
   ASYNCIO_NEVER: none; in the past: it fires at once).  Returns 0, or
   ASYNCIO_EINVALIDSTATE if the scope is not active ("Timeout has not been
   entered", "Cannot change state of expiring Timeout", ... as Python). */
int asyncio_timeout_reschedule(asyncio_timeout *to, double when);

/* asyncio_taskgroup: Python 3.13's `async with asyncio.TaskGroup() as tg:`.
       asyncio_taskgroup_enter(&f->tg, ASYNCIO_SELF());
       asyncio_taskgroup_create_task(&f->tg, &f->t1, job, &f->j1, NULL);
       ... the body: use _RC awaits, keep the last code in f->rc ...
       ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_taskgroup_wait,
                             asyncio_taskgroup_exit(&f->tg, f->rc, ASYNCIO_ERRMSG()));
   The exit waits for every child.  The first child to fail cancels the
   other children and the owner (the body sees ASYNCIO_ECANCELLED at its
   await); that cancellation is the group's own and does not leak out.
   The exit then fails with ASYNCIO_EGROUP, and asyncio_taskgroup_error
   lists each error that was not a cancellation, in the order they
   happened, the body's own error last.  If the owner was cancelled from
   outside, the children are cancelled and the exit gives
   ASYNCIO_ECANCELLED (unless children failed: EGROUP wins, and the owner
   is cancelled again at its next await, as CPython 3.13 does).  Exit on
   every path out of the body; the group lives in caller storage. */
typedef struct asyncio_failure {
    asyncio_task *task;   /* the child that failed; NULL for the body */
    int err;
    const char *msg;
} asyncio_failure;

typedef struct asyncio_taskgroup {
    asyncio_coro co;             /* the frame of asyncio_taskgroup_wait */
    asyncio__waiter hook;        /* on every child: notes its end */
    asyncio_task *parent;
    asyncio__link exiting;       /* the owner, parked in the exit */
    asyncio_failure *errors;     /* the children's: room for one per live child */
    asyncio_failure body;        /* the body's own error, listed last */
    size_t ntasks, nerrors, caperrors;
    int woken;
    unsigned char entered, leaving, aborting, cancel_requested, propagate_cancel;
} asyncio_taskgroup;

/* asyncio_taskgroup_enter: start a group owned by the running task
   (ASYNCIO_SELF()). */
void asyncio_taskgroup_enter(asyncio_taskgroup *tg, asyncio_task *owner);

/* asyncio_taskgroup_create_task(tg, storage, fn, frame, out): Python's
   tg.create_task.  Like asyncio_create_task; *out (out may be NULL)
   receives the task.  Returns 0; ASYNCIO_EINVALIDSTATE, creating
   nothing, if the group was not entered, is shutting down (a child
   failed or the owner was cancelled) or has finished; -ENOMEM or
   ASYNCIO_ELOOPCLOSED. */
#define asyncio_taskgroup_create_task(tg, storage, fn, frame, out)             \
    asyncio_taskgroup_create_task_at((tg), (storage), (fn), (frame), (out), #fn, __FILE__, __LINE__)
int asyncio_taskgroup_create_task_at(asyncio_taskgroup *tg, asyncio_task *storage, asyncio_fn fn,
                                     void *frame, asyncio_task **out, const char *name,
                                     const char *file, int line);

/* asyncio_taskgroup_exit(tg, body_rc, body_msg): the setup call for the
   coroutine asyncio_taskgroup_wait (the group's __aexit__).  body_rc is
   how the body ended: 0, or its error with message body_msg, a string
   that outlives the group: ASYNCIO_ERRMSG() right after the failed _RC
   await that ended the body, your own text, or NULL for
   asyncio_strerror(body_rc) (ERRMSG() after anything but a failed await
   is not a message).  The
   coroutine completes with 0, ASYNCIO_ECANCELLED or ASYNCIO_EGROUP (see
   above), or ASYNCIO_EINVALIDSTATE if tg is not entered, already exited,
   or not owned by the awaiting task. */
asyncio_taskgroup *asyncio_taskgroup_exit(asyncio_taskgroup *tg, int body_rc, const char *body_msg);
int asyncio_taskgroup_wait(asyncio_task *self, void *frame);

/* asyncio_taskgroup_nerrors / _error: the errors behind ASYNCIO_EGROUP
   (the i-th, i < nerrors; NULL beyond); they stay readable until
   asyncio_taskgroup_free or the loop closes (the list is the loop's
   memory: read it, and free it, from inside the loop). */
size_t asyncio_taskgroup_nerrors(const asyncio_taskgroup *tg);
const asyncio_failure *asyncio_taskgroup_error(const asyncio_taskgroup *tg, size_t i);

/* asyncio_taskgroup_free: release the error list (a group that ended
   without errors holds no memory).  Safe to call on any exited group. */
void asyncio_taskgroup_free(asyncio_taskgroup *tg);

/* =========================================================================
   9. FILE DESCRIPTORS, SOCKETS AND NAME RESOLUTION
   The loop watches fds it knows: add one with asyncio_fd_add (sockets
   made by the calls below are added for you) and close it with
   asyncio_fd_close, never close(2), so that its waiters hear of it.
   Every socket call and stream operation is a coroutine you run inline:
       ASYNCIO_AWAIT_CORO(asyncio_sock, asyncio_sock_recv(&f->op, fd, buf, n));
       n = ASYNCIO_RESULT().i;
   The setup call fills an operation frame kept in your frame and returns
   it; errors are -errno (ECONNREFUSED, ECONNRESET, EPIPE, ...); SIGPIPE is
   never raised.
   Implementation: >>fds, >>io, >>resolve.
   ========================================================================= */

/* Events for ASYNCIO_WAIT_FD. */
#define ASYNCIO_READABLE 1u
#define ASYNCIO_WRITABLE 2u

/* asyncio_fd_add: make fd non-blocking and watch it.  Returns 0, -EBADF,
   -EEXIST if already added, -ENOMEM, or the backend's -errno. */
int asyncio_fd_add(asyncio_loop *loop, int fd);

/* asyncio_fd_close: stop watching fd and close it; a task waiting on it
   resumes with -EBADF.  Returns 0 or -EBADF if the loop does not know fd. */
int asyncio_fd_close(asyncio_loop *loop, int fd);

/* ASYNCIO_WAIT_FD(fd, events): suspend until fd is readable or writable
   (an error or hang-up counts as both: the next I/O call reports it).
   Level-triggered: returns at once if fd is ready now.  One reader and one
   writer per fd: another fails with -EBUSY.  Cancellation and timeouts
   (asyncio_timeout) work as for any await. */
#define ASYNCIO_WAIT_FD(fd_, ev_) ASYNCIO_WAIT_FD_AT(__LINE__, fd_, ev_)
#define ASYNCIO_WAIT_FD_AT(id_, fd_, ev_)                                      \
    ASYNCIO_WAIT_FD_RC_AT(id_, asyncio__rc, fd_, ev_);                         \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_WAIT_FD_RC(rc_, fd_, ev_) ASYNCIO_WAIT_FD_RC_AT(__LINE__, rc_, fd_, ev_)
#define ASYNCIO_WAIT_FD_RC_AT(id_, rc_, fd_, ev_)                              \
    ASYNCIO__WAIT_AT(id_, rc_, asyncio__fd_begin(asyncio__self, (fd_), (ev_), 1), \
                     asyncio__fd_end(asyncio__self))

/* Socket operations (Python's loop.sock_*): fill an asyncio_sock_t with
   one of the setup calls and await the coroutine asyncio_sock on it.
   asyncio_sock_recv: result = bytes received (0 at EOF).
   asyncio_sock_sendall: result = len; everything is sent or it fails.
   asyncio_sock_accept: result = the new connection's fd (non-blocking,
     close-on-exec, already added to the loop); the peer's address is in
     op->addr.
   asyncio_sock_connect: result 0 once connected (fd must be added). */
typedef struct asyncio_sock_t {
    asyncio_coro co;
    int kind, fd;
    void *buf;
    size_t len, done;
    union {
        unsigned char bytes[128];       /* a struct sockaddr_storage */
        long long align_;
    } addr;
    unsigned addrlen;
} asyncio_sock_t;

asyncio_sock_t *asyncio_sock_recv(asyncio_sock_t *op, int fd, void *buf, size_t len);
asyncio_sock_t *asyncio_sock_sendall(asyncio_sock_t *op, int fd, const void *buf, size_t len);
asyncio_sock_t *asyncio_sock_accept(asyncio_sock_t *op, int fd);
asyncio_sock_t *asyncio_sock_connect(asyncio_sock_t *op, int fd, const void *addr, unsigned addrlen);
/* asyncio_sock: the coroutine behind the four calls above. */
int asyncio_sock(asyncio_task *self, void *frame);

/* Name resolution: Python's loop.getaddrinfo / loop.getnameinfo.  The
   lookup runs on the default executor (section 13), so a slow resolver
   stalls no other coroutine.  Fill an asyncio_resolve_t with a setup
   call and await the coroutine asyncio_resolve on it:
       ASYNCIO_AWAIT_CORO(asyncio_resolve, asyncio_getaddrinfo(&f->rs, "example.com", "443", NULL));
       list = (struct addrinfo *)ASYNCIO_RESULT().p;  ...  freeaddrinfo(list);
   asyncio_getaddrinfo: host or service may be NULL, not both; hints as
     getaddrinfo(3)'s, NULL for any family and socket type (Python's
     defaults).  Result .p: the list (never empty), yours to free with
     freeaddrinfo.
   asyncio_getnameinfo: the names of a socket address (copied); result 0,
     the names in rs->hostname and rs->servname.
   Errors: ASYNCIO_ERESOLVE with a message that names the host or address
   and gives the resolver's reason, -ENOMEM, -EINVAL (bad arguments), and
   ASYNCIO_ECANCELLED: a lookup already running cannot be stopped; it is
   abandoned, and its result freed when it ends. */
typedef struct asyncio_resolve_t {
    asyncio_coro co;
    int kind, flags;
    const char *host, *service;
    const struct addrinfo *hints;
    const void *addr;
    unsigned addrlen;
    struct asyncio__lookup *req;
    asyncio_work work;
    char hostname[256], servname[32];
    char msg[320];
} asyncio_resolve_t;

asyncio_resolve_t *asyncio_getaddrinfo(asyncio_resolve_t *rs, const char *host, const char *service,
                                       const struct addrinfo *hints);
asyncio_resolve_t *asyncio_getnameinfo(asyncio_resolve_t *rs, const void *addr, unsigned addrlen, int flags);
/* asyncio_resolve: the coroutine behind the two calls above. */
int asyncio_resolve(asyncio_task *self, void *frame);

/* =========================================================================
   10. STREAMS (asyncio.open_connection / start_server / StreamReader)
   A stream is both of Python's StreamReader and StreamWriter over one
   connection, or a StreamReader alone that you feed by hand
   (asyncio_stream_new_reader: protocol parsers tested without sockets).
   Reads hand back a view into the stream's buffer: ASYNCIO_RESULT().i
   bytes at asyncio_stream_data(s), valid until the next read of any
   coroutine on the stream, or a feed (which may move the buffer: call
   asyncio_stream_data again after it).  Data is never lost: a cancelled
   or failed read leaves what arrived in the buffer for the next one.
   Every call here belongs to the loop's thread.
   Implementation: >>streams, >>connect, >>server.
   ========================================================================= */
typedef struct asyncio_stream asyncio_stream;

/* Reads: fill an asyncio_read_t with one of these and await the coroutine
   asyncio_reader on it (it suspends until the answer is in the buffer):
       ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
   read:        up to n bytes, as soon as there is at least one; 0 at end
                of stream.  n = 0: 0 at once, without waiting.
                n = ASYNCIO_READ_ALL (Python's read(-1)): everything up to
                end of stream, however long (the limit does not apply).
   readexactly: exactly n bytes (0: at once), or ASYNCIO_EINCOMPLETE with
                the partial data as the view; asyncio_stream_expected
                then gives n.  n above PTRDIFF_MAX (a negative count
                converted, as readexactly(-1)): -EINVAL.
   readline:    through "\n" (included); at end of stream, what is left
                (0 bytes: EOF).  A line whose bytes before the "\n" exceed
                the limit fails with ASYNCIO_ELIMIT and is skipped, so the
                next readline gets the next line (CPython's readline
                raises ValueError; if the "\n" had not arrived yet, its
                next readline returns the rest of that line).
   readuntil:   through sep (included).  At end of stream without sep:
                ASYNCIO_EINCOMPLETE with the partial data (maybe none) as
                the view, asyncio_stream_expected 0 (CPython's None).  Past
                the limit: ASYNCIO_ELIMIT, the data left in the buffer, and
                asyncio_stream_consumed gives CPython's LimitOverrunError
                .consumed.  An empty or NULL sep: -EINVAL.
   The limit (asyncio_stream_set_limit) is CPython's: the bytes before the
   separator may number up to the limit; a separator not found fails once
   the buffer holds more than limit + seplen - 1 bytes.
   Every read also fails with -EBUSY when it has to wait while another
   coroutine already waits for data on this stream (CPython's
   RuntimeError "read() called while another coroutine is already waiting
   for incoming data"; that coroutine is left undisturbed); -EBADF on a
   stream closed before or while it waits; -ECONNABORTED on one aborted;
   with the connection's error (-ECONNRESET, ...) when it fails before
   the read is answered (read(n) hands out what is buffered first);
   -ENOMEM; ASYNCIO_ECANCELLED. */
typedef struct asyncio_read_t {
    asyncio_coro co;
    asyncio_stream *s;
    int kind;
    size_t n;
    const char *sep;
    size_t seplen;
    long long deadline;
} asyncio_read_t;

/* n for asyncio_stream_read: read to end of stream.  Any n above
   PTRDIFF_MAX counts as it, so a Python-style -1 converted works too. */
#define ASYNCIO_READ_ALL ((size_t)-1)

asyncio_read_t *asyncio_stream_read(asyncio_read_t *rd, asyncio_stream *s, size_t n);
asyncio_read_t *asyncio_stream_readexactly(asyncio_read_t *rd, asyncio_stream *s, size_t n);
asyncio_read_t *asyncio_stream_readline(asyncio_read_t *rd, asyncio_stream *s);
asyncio_read_t *asyncio_stream_readuntil(asyncio_read_t *rd, asyncio_stream *s, const char *sep, size_t seplen);
/* asyncio_reader: the coroutine behind the four calls above. */
int asyncio_reader(asyncio_task *self, void *frame);

/* asyncio_stream_expected: after a read failed with ASYNCIO_EINCOMPLETE,
   the byte count it expected (CPython's IncompleteReadError.expected):
   readexactly's n, or 0 for readuntil (CPython's None).  The partial data
   is the view (asyncio_stream_data / _data_size).  0 after any other
   outcome, until the next read.  Never suspends. */
size_t asyncio_stream_expected(const asyncio_stream *s);
/* asyncio_stream_consumed: after a readuntil or readline failed with
   ASYNCIO_ELIMIT, CPython's LimitOverrunError.consumed: where the
   separator starts when it was found beyond the limit, otherwise the
   bytes buffered + 1 - seplen (what could be skipped without cutting a
   separator in two).  For readline that error is CPython's ValueError,
   which has no .consumed: this is the value of the LimitOverrunError
   behind it.  0 after any other outcome, until the next read.  Never
   suspends. */
size_t asyncio_stream_consumed(const asyncio_stream *s);

/* asyncio_stream_open: a stream over a connected socket (or pipe) you
   already have, like open_connection(sock=...); fd is added to the loop
   if it is not yet.  Returns NULL on -ENOMEM or a bad fd. */
asyncio_stream *asyncio_stream_open(asyncio_loop *loop, int fd);

/* asyncio_stream_new_reader: Python's StreamReader() with no transport: a
   stream with no file descriptor, whose input is what you give
   asyncio_stream_feed_data and _feed_eof.  Reads work as on any stream;
   writing fails with -ENOTSUP, drain too.  Free it with
   asyncio_stream_close (or _abort), as any stream; the loop does not.
   Returns NULL on -ENOMEM (or a NULL loop).  Never suspends. */
asyncio_stream *asyncio_stream_new_reader(asyncio_loop *loop);
/* asyncio_stream_feed_data: append len bytes (copied) to a reader-only
   stream's input.  A read waiting for them resumes from the loop, never
   inside this call.  Returns 0 (also for len 0), or
   ASYNCIO_EINVALIDSTATE after asyncio_stream_feed_eof ("feed_data after
   feed_eof": CPython asserts), -EINVAL (NULL s; NULL data with len > 0;
   len above PTRDIFF_MAX; a stream that reads a file descriptor: it is fed
   by its fd), -EBADF (closed), -ENOMEM.  Never suspends. */
int asyncio_stream_feed_data(asyncio_stream *s, const void *data, size_t len);
/* asyncio_stream_feed_eof: end a reader-only stream's input: reads get
   what is left, then end of stream.  A waiting read resumes from the
   loop.  Again is harmless.  Returns 0, or -EINVAL (NULL s, or a stream
   that reads a file descriptor), -EBADF (closed).  Never suspends. */
int asyncio_stream_feed_eof(asyncio_stream *s);

/* asyncio_stream_data / _data_size: the bytes of the last read (see
   above), also the partial data of a failed readexactly / readuntil. */
const char *asyncio_stream_data(const asyncio_stream *s);
size_t asyncio_stream_data_size(const asyncio_stream *s);
/* asyncio_stream_buffered: bytes already received and not yet handed out,
   readable without waiting -- a server answering pipelined requests can
   write its replies once the buffer is empty. */
size_t asyncio_stream_buffered(const asyncio_stream *s);
/* asyncio_stream_at_eof: 1 once the peer has closed (or feed_eof was
   called) and the buffer is empty. */
int asyncio_stream_at_eof(const asyncio_stream *s);
/* asyncio_stream_set_limit: the line limit (default 65536 bytes). */
void asyncio_stream_set_limit(asyncio_stream *s, size_t limit);
/* asyncio_stream_set_timeouts: what a server needs against clients that
   say nothing, drip-feed a request or never read (seconds; 0: none, the
   default).  read_timeout bounds every read call from its start -- one
   readuntil of a header sent a byte a second fails as surely as one
   waiting on silence -- with ASYNCIO_EREADTIMEOUT; what arrived stays
   buffered and the stream stays usable.  write_timeout bounds how long
   queued output may wait without the peer taking any of it: then the
   stream fails with ASYNCIO_EWRITETIMEOUT (drain, writes and a waiting
   read report it), and a closing stream is aborted instead of waiting to
   flush.  Returns 0, or -EINVAL for a negative or NaN timeout. */
int asyncio_stream_set_timeouts(asyncio_stream *s, double read_timeout, double write_timeout);

/* asyncio_stream_write: queue len bytes; they are written in order, once.
   Tries the socket first, buffers the rest (on io_uring a socket stream's
   output all leaves with the loop's next submission, see >>streams).
   Does not suspend.  Returns 0, the connection's
   error (-EPIPE, -ECONNRESET, ...), -ENOMEM, -EBADF once closing, or
   -ENOTSUP on a reader-only stream (asyncio_stream_new_reader). */
int asyncio_stream_write(asyncio_stream *s, const void *data, size_t len);

/* asyncio_stream_drain: a future to await before writing more (Python's
   drain): done at once while the buffered output is at most the high
   water mark, otherwise once it has fallen to the low one; it fails with
   the connection's error, -EBADF if the stream is closed meanwhile,
   -ECONNABORTED if it is aborted, and at once with -ENOTSUP on a
   reader-only stream.  Default marks 64 KiB / 16 KiB.  On io_uring,
   where output leaves with the loop's next submission, a drain with
   output queued or in flight waits for a send to come back leaving at
   most the low water mark (a send's error fails it). */
asyncio_future *asyncio_stream_drain(asyncio_stream *s);
void asyncio_stream_set_write_buffer_limits(asyncio_stream *s, size_t high, size_t low);
/* asyncio_stream_write_buffer_size: bytes queued, not yet written. */
size_t asyncio_stream_write_buffer_size(const asyncio_stream *s);

/* asyncio_stream_close: flush what is queued, then close (Python's close
   and wait_closed in one).  Returns a future that completes once the fd
   is closed; await it or not.  The stream is freed after that: do not use
   it once you have called close.  A read waiting on it fails with
   -EBADF. */
asyncio_future *asyncio_stream_close(asyncio_stream *s);

/* asyncio_stream_abort: close at once, without flushing (Python's
   transport.abort()): queued output is dropped, and a TCP connection is
   reset (SO_LINGER 0, then close: the peer sees ECONNRESET, and a peer
   that never reads cannot keep the connection open); a pipe is closed.  A read or drain
   waiting on the stream resumes from the loop with -ECONNABORTED
   (CPython hands the read EOF and completes the drain).  Also after
   close, to stop a flush that waits on a peer that does not read.
   Returns the closed future of asyncio_stream_close, done at once (with
   0).  The stream is freed after that, as after close.  Never
   suspends. */
asyncio_future *asyncio_stream_abort(asyncio_stream *s);

/* asyncio_stream_peer: the peer's address as text ("127.0.0.1:5000",
   "[::1]:5000", a socket path, or "" if unknown) in buf; returns buf. */
char *asyncio_stream_peer(const asyncio_stream *s, char *buf, size_t size);
/* asyncio_stream_fd: the connection's file descriptor (-1 for a
   reader-only stream). */
int asyncio_stream_fd(const asyncio_stream *s);

/* Opening a connection: fill an asyncio_connect_t and await the coroutine
   asyncio_open_connection on it; the result's .p is the asyncio_stream.
       ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "example.com", 80));
   The host is any name or numeric address; a name is resolved on the
   executor (asyncio_resolve), never on the loop.  With several addresses
   it connects by Happy Eyeballs (RFC 8305; Python's happy_eyeballs_delay
   and interleave=1): the address families alternate, a new attempt
   starts whenever the latest one fails or has been pending for the delay
   (default 0.25 s, where Python's default is to try one address at a
   time), the first to connect wins and the others are closed.
   asyncio_connect_happy_eyeballs(oc, delay) sets the delay (negative: one
   address at a time) and returns oc, to chain after the setup call.
   asyncio_connect_addrinfo: connect to the addresses of a list you
   resolved (kept by you; SOCK_STREAM entries).  Errors: the connect
   error (-ECONNREFUSED, -ENETUNREACH, ...; the first one if the
   addresses failed differently, the message lists them all), and the
   errors of asyncio_resolve. */
typedef struct asyncio_connect_t {
    asyncio_coro co;
    const char *host, *path;
    const struct addrinfo *given;      /* asyncio_connect_addrinfo's list */
    int port, fd;
    double delay;                      /* Happy Eyeballs delay (s); negative: none */
    struct addrinfo *ai;               /* the list resolved here */
    struct asyncio__attempt *attempts; /* one per address, in the order tried */
    size_t n, started;
    long long last_start;
    asyncio_future changed;            /* an attempt ended, or the delay passed */
    asyncio_handle timer;
    asyncio_resolve_t rs;
    struct asyncio_tls *tls;           /* asyncio_connect_tls (section 15) */
    const char *tls_hostname;
    asyncio_stream *stream;            /* connected, shaking hands */
    char service[8];
    char msg[320];
} asyncio_connect_t;

asyncio_connect_t *asyncio_connect_tcp(asyncio_connect_t *oc, const char *host, int port);
asyncio_connect_t *asyncio_connect_unix(asyncio_connect_t *oc, const char *path);
asyncio_connect_t *asyncio_connect_addrinfo(asyncio_connect_t *oc, const struct addrinfo *list);
asyncio_connect_t *asyncio_connect_happy_eyeballs(asyncio_connect_t *oc, double delay);
int asyncio_open_connection(asyncio_task *self, void *frame);

/* A server runs handler(frame) as a new task for each connection, with a
   zeroed frame of frame_size bytes (allocated by the loop) that must begin
   with an asyncio_conn: its stream is the connection.  When the handler
   finishes, the stream is closed (flushed first) and the frame freed. */
typedef struct asyncio_conn {
    asyncio_coro co;
    asyncio_stream *stream;
} asyncio_conn;

typedef struct asyncio_server {
    asyncio_loop *loop;
    int fd, port;
    asyncio_fn handler;
    size_t frame_size;
    size_t nconns;                      /* connections being served */
    asyncio_handle accept;              /* runs when the socket is readable */
    asyncio_handle retry;               /* accept again after EMFILE */
    int closing;
    struct asyncio_tls *tls;            /* TLS connections (section 15) */
    long long read_timeout, write_timeout; /* ns, for each connection */
    size_t max_connections;             /* 0: no limit */
    int full;                           /* accepting paused at the limit */
} asyncio_server;

/* asyncio_start_server: listen on host:port (port 0: any; IPv4 or IPv6)
   and serve.  host is a numeric address, or a name resolved on the
   calling thread, blocking (it happens once, before serving; resolve it
   first with asyncio_resolve if that matters).  Returns 0,
   ASYNCIO_ERESOLVE or -errno. */
int asyncio_start_server(asyncio_server *srv, asyncio_loop *loop, asyncio_fn handler, size_t frame_size,
                         const char *host, int port);

/* Options for asyncio_start_server_opts (Python's start_server keyword
   arguments); a zeroed struct gives the defaults. */
typedef struct asyncio_server_options {
    /* SO_REUSEPORT: several sockets -- one per loop, or per process --
       listen on the same host:port and the kernel spreads new connections
       over them: a loop per core, each accepting on its own socket. */
    int reuse_port;
    /* listen(2)'s backlog; 0: 511. */
    int backlog;
    /* A server context (asyncio_tls_server, section 15): every connection
       is TLS, its handler starts once the handshake is done (a client that
       fails it is closed, unseen); it must outlive the server (its
       connections hold it themselves).  NULL: plain. */
    struct asyncio_tls *tls;
    /* Every connection's asyncio_stream_set_timeouts (seconds; 0: none). */
    double read_timeout, write_timeout;
    /* At most this many connections at once (0: no limit): at the limit
       the server stops accepting -- new clients wait in the backlog --
       and starts again when one closes (nginx's worker_connections). */
    int max_connections;
} asyncio_server_options;

/* asyncio_start_server_opts: asyncio_start_server with options (opts may
   be NULL).  Also -EINVAL for a negative backlog, -ENOPROTOOPT where the
   system has no SO_REUSEPORT. */
int asyncio_start_server_opts(asyncio_server *srv, asyncio_loop *loop, asyncio_fn handler, size_t frame_size,
                              const char *host, int port, const asyncio_server_options *opts);
/* asyncio_start_unix_server: the same on a Unix socket path (an old
   socket file there is replaced). */
int asyncio_start_unix_server(asyncio_server *srv, asyncio_loop *loop, asyncio_fn handler, size_t frame_size,
                              const char *path);
/* asyncio_server_port: the port listened on (the one picked for port 0). */
int asyncio_server_port(const asyncio_server *srv);
/* asyncio_server_close: stop listening; connections being served go on. */
void asyncio_server_close(asyncio_server *srv);

/* =========================================================================
   11. COROUTINE MACROS
   Inside a body, `self` is the running task (ASYNCIO_SELF()).  Suspending
   forms come in pairs: X propagates an error like an exception (the body
   leaves through FINALLY with it); X_RC stores 0 or the error in `rc` and
   carries on.  Each has an _AT twin taking an explicit label (section 2).
   Implementation: >>frames, >>generators.
   ========================================================================= */

/* ASYNCIO_BEGIN(self, frame): start of every body.  (asyncio__unwind:
   0 in the body, 1 leaving it for the cleanup, 2 in the cleanup, 3 at
   the end; asyncio__cleanup, a constant per block: 0 body, 1 FINALLY,
   2 FINALLY_ASYNC.) */
#define ASYNCIO_BEGIN(self, frame)                                             \
    asyncio_task *const asyncio__self = (self);                                \
    asyncio_coro *const asyncio__co = &(frame)->co;                            \
    int asyncio__rc = 0, asyncio__unwind = 0;                                  \
    ASYNCIO__CHECK_FRAME(frame);                                               \
    asyncio__dispatch:                                                         \
    switch (asyncio__unwind == 1 ? -1 : asyncio__unwind ? -2 : ASYNCIO__LC_KEY) { \
    case 0: {                                                                  \
        enum { asyncio__cleanup = 0 };                                         \
        ASYNCIO__LC_RESUME

/* ASYNCIO_RETURN(value): finish with an asyncio_value (via FINALLY).
   Inside a cleanup: Python's `return` in `finally`, it replaces the
   pending outcome. */
#define ASYNCIO_RETURN(v_)                                                     \
    do {                                                                       \
        asyncio__self->fut.u.value = (v_);                                     \
        asyncio__rc = 0;                                                       \
        asyncio__unwind = asyncio__unwind ? 2 : 1;                             \
        goto asyncio__dispatch;                                                \
    } while (0)

/* ASYNCIO_RAISE(err, msg): finish with error err (< 0) and a message that
   outlives the task (NULL: asyncio_strerror(err)), via FINALLY. */
#define ASYNCIO_RAISE(err, msg)                                                \
    do {                                                                       \
        asyncio__rc = asyncio__raise_code(asyncio__self, (err), (msg));        \
        asyncio__unwind = asyncio__unwind ? 2 : 1;                             \
        goto asyncio__dispatch;                                                \
    } while (0)

/* ASYNCIO_FINALLY: Python's `finally`, synchronous.  The cleanup section,
   once, at the top level of the body, just before ASYNCIO_END; it runs on
   return, on error and on cancellation, then the body's outcome stands,
   unless the cleanup itself RETURNs or RAISEs (that replaces it).  It
   cannot suspend: an await in it does not compile (the error names
   asyncio_cannot_suspend_in_synchronous_FINALLY): use
   ASYNCIO_FINALLY_ASYNC for a cleanup that awaits.  Costs nothing. */
#define ASYNCIO_FINALLY                                                        \
    ASYNCIO__LEAVE_BODY                                                        \
    case -1: {                                                                 \
        enum { asyncio__cleanup = 1 };                                         \
        asyncio__unwind = 2;

/* ASYNCIO_FINALLY_ASYNC(state) { ... }: a `finally` whose block may await
   (await writer.wait_closed(), a goodbye to the peer, a back-off sleep),
   once, at the top level of the body, just before ASYNCIO_END.  state is
   an asyncio_finally in the frame: the body's outcome waits there while
   the block runs, and is returned or re-raised when the block ends.  An
   error inside the block (a failed await, a second cancellation)
   replaces it, as does a RETURN (Python's `return` in `finally`).
   asyncio_finally_pending(&state) gives the waiting outcome's code.
   Leave the block only by its end, RETURN, RAISE or an error (not by
   break or continue). */
#define ASYNCIO_FINALLY_ASYNC(state_)                                          \
    ASYNCIO__LEAVE_BODY                                                        \
    case -1: {                                                                 \
        enum { asyncio__cleanup = 2 };                                         \
        asyncio__cleanup_enter(asyncio__self, &(state_), asyncio__rc);         \
        for (asyncio__unwind = 2; asyncio__unwind == 2;                        \
             asyncio__rc = asyncio__cleanup_leave(asyncio__self, &(state_)), asyncio__unwind = 3)

/* ASYNCIO_END(): end of every body.  A generator this coroutine started
   and left open (by an error, a RETURN or a cancellation) is closed by
   the loop soon after, its cleanup awaited, as CPython's asyncgen
   finalizer does (see ASYNCIO_FOR). */
#define ASYNCIO_END()                                                          \
    if (!asyncio__unwind)                                                      \
        asyncio__self->fut.u.value.i = 0;                                      \
    asyncio__unwind = 3;                                                       \
    }                                                                          \
    ASYNCIO__FALLTHROUGH;                                                      \
    default:                                                                   \
        if (!asyncio__unwind) /* dispatched to a resume point out of reach */ \
            asyncio__rc = asyncio__lost_resume(asyncio__self, __FILE__, ASYNCIO__LC_KEY); \
        if (asyncio__self->fut.loop->ngens)                                    \
            asyncio__gens_abandon(asyncio__self, asyncio__co);                 \
        ASYNCIO__LC_END                                                        \
        break;                                                                 \
    }                                                                          \
    if (0)                                                                     \
        goto asyncio__dispatch;                                                \
    return asyncio__rc

/* asyncio_finally_pending: inside ASYNCIO_FINALLY_ASYNC's block, how the
   body ended: 0 (it returned or ran to its end), or its error
   (ASYNCIO_ECANCELLED when cancelled) -- Python's sys.exception(). */
int asyncio_finally_pending(const asyncio_finally *state);

/* ASYNCIO_SELF(): the running task.  ASYNCIO_LOOP(): its loop. */
#define ASYNCIO_SELF() (asyncio__self)
#define ASYNCIO_LOOP() (asyncio__self->fut.loop)

/* ASYNCIO_RESULT(): the asyncio_value of the last successful await; read
   it before the next suspension.  ASYNCIO_ERRMSG(): the message of the
   last failed await (or caught error); it stays readable through later
   awaits, until the next one fails or the task ends, so it can be passed
   on after a cleanup.  A message lives as long as its source: a static
   string, or a buffer in the frame that made it. */
#define ASYNCIO_RESULT() (asyncio__self->fut.u.value)
#define ASYNCIO_ERRMSG() asyncio__errmsg(asyncio__self)

/* ASYNCIO_AWAIT(fut): wait for a future (or task, gather, ...) to be done;
   resumes at once if it already is. */
#define ASYNCIO_AWAIT(fut_) ASYNCIO_AWAIT_AT(__LINE__, fut_)
#define ASYNCIO_AWAIT_AT(id_, fut_)                                            \
    ASYNCIO_AWAIT_RC_AT(id_, asyncio__rc, fut_);                               \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_AWAIT_RC(rc_, fut_) ASYNCIO_AWAIT_RC_AT(__LINE__, rc_, fut_)
#define ASYNCIO_AWAIT_RC_AT(id_, rc_, fut_)                                    \
    ASYNCIO__WAIT_AT(id_, rc_, asyncio__await_begin(asyncio__self, (fut_)),    \
                     asyncio__await_end(asyncio__self))

/* ASYNCIO_AWAIT_CORO(fn, child): run the child coroutine fn on frame child
   (a member of this frame, usually, and at least in the same few GiB of
   memory) inside this task, and wait for it.  child is evaluated once,
   when the await starts: a setup call there runs once per await. */
#define ASYNCIO_AWAIT_CORO(fn_, child_) ASYNCIO_AWAIT_CORO_AT(__LINE__, fn_, child_)
#define ASYNCIO_AWAIT_CORO_AT(id_, fn_, child_)                                \
    ASYNCIO_AWAIT_CORO_RC_AT(id_, asyncio__rc, fn_, child_);                   \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_AWAIT_CORO_RC(rc_, fn_, child_) ASYNCIO_AWAIT_CORO_RC_AT(__LINE__, rc_, fn_, child_)
#define ASYNCIO_AWAIT_CORO_RC_AT(id_, rc_, fn_, child_)                        \
    ASYNCIO__STATEMENTS(id_);                                                  \
    asyncio__child_begin(asyncio__self, asyncio__co, &(child_)->co);           \
    ASYNCIO__LABEL(id_);                                                       \
    if (((rc_) = asyncio__child_step(asyncio__self, asyncio__co, (fn_))) == ASYNCIO_PENDING) \
        return ASYNCIO_PENDING;                                                \
    ASYNCIO__CAUGHT(rc_)

/* ASYNCIO_SLEEP(seconds): asyncio.sleep.  0 (or less) yields to the loop
   once; NaN fails with -EINVAL; huge values sleep until cancelled. */
#define ASYNCIO_SLEEP(secs_) ASYNCIO_SLEEP_AT(__LINE__, secs_)
#define ASYNCIO_SLEEP_AT(id_, secs_)                                           \
    ASYNCIO_SLEEP_RC_AT(id_, asyncio__rc, secs_);                              \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_SLEEP_RC(rc_, secs_) ASYNCIO_SLEEP_RC_AT(__LINE__, rc_, secs_)
#define ASYNCIO_SLEEP_RC_AT(id_, rc_, secs_)                                   \
    ASYNCIO__WAIT_AT(id_, rc_, asyncio__sleep_begin(asyncio__self, (secs_)),   \
                     asyncio__sleep_end(asyncio__self))

/* ASYNCIO_YIELD(): let every other ready task run once (asyncio.sleep(0)). */
#define ASYNCIO_YIELD() ASYNCIO_SLEEP_AT(__LINE__, 0.0)
#define ASYNCIO_YIELD_AT(id_) ASYNCIO_SLEEP_AT(id_, 0.0)

/* ASYNCIO_WAIT_FOR(to, fut, seconds): asyncio.wait_for on a future or task,
   with an asyncio_timeout `to` kept in the frame: CPython 3.12+'s, built
   on the timeout scope (3.11's differs when the awaited future finishes
   as the timeout fires).  On timeout fut is cancelled, awaited until it
   has finished, and the await fails with ASYNCIO_ETIMEDOUT. */
#define ASYNCIO_WAIT_FOR(to_, fut_, secs_) ASYNCIO_WAIT_FOR_AT(__LINE__, to_, fut_, secs_)
#define ASYNCIO_WAIT_FOR_AT(id_, to_, fut_, secs_)                             \
    ASYNCIO_WAIT_FOR_RC_AT(id_, asyncio__rc, to_, fut_, secs_);                \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_WAIT_FOR_RC(rc_, to_, fut_, secs_) ASYNCIO_WAIT_FOR_RC_AT(__LINE__, rc_, to_, fut_, secs_)
#define ASYNCIO_WAIT_FOR_RC_AT(id_, rc_, to_, fut_, secs_)                     \
    if (((rc_) = asyncio_timeout_enter((to_), asyncio__self, (secs_))) == 0) { \
        ASYNCIO_AWAIT_RC_AT(id_, rc_, fut_);                                   \
        (rc_) = asyncio_timeout_exit((to_), (rc_));                            \
    }

/* ASYNCIO_WAIT_FOR_CORO(to, task, fn, frame, seconds): wait_for on a
   coroutine, as Python's wait_for(coro(), t): fn(frame) runs as a task in
   your storage `task` (never NULL), cancelled and awaited on timeout. */
#define ASYNCIO_WAIT_FOR_CORO(to_, task_, fn_, frame_, secs_)                   \
    ASYNCIO_WAIT_FOR_CORO_AT(__LINE__, to_, task_, fn_, frame_, secs_)
#define ASYNCIO_WAIT_FOR_CORO_AT(id_, to_, task_, fn_, frame_, secs_)           \
    ASYNCIO_WAIT_FOR_CORO_RC_AT(id_, asyncio__rc, to_, task_, fn_, frame_, secs_); \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_WAIT_FOR_CORO_RC(rc_, to_, task_, fn_, frame_, secs_)           \
    ASYNCIO_WAIT_FOR_CORO_RC_AT(__LINE__, rc_, to_, task_, fn_, frame_, secs_)
#define ASYNCIO_WAIT_FOR_CORO_RC_AT(id_, rc_, to_, task_, fn_, frame_, secs_)   \
    if (((rc_) = asyncio__spawned(asyncio__self,                               \
                                  asyncio_create_task(asyncio__self->fut.loop, (task_), fn_, (frame_)))) == 0) \
        ASYNCIO_WAIT_FOR_RC_AT(id_, rc_, to_, &(task_)->fut, secs_)

/* Async generators (Python's `async def` with `yield`).  A generator is a
   coroutine whose body yields values with ASYNCIO_YIELD_VALUE; it runs
   inline in the consumer's task, like ASYNCIO_AWAIT_CORO, and may await
   between yields and in its cleanup (ASYNCIO_FINALLY_ASYNC).  Its frame's
   co starts as ASYNCIO_CORO_INIT.  The coroutine that starts a generator
   owns it: if that coroutine ends (by an error, a RETURN, a cancellation,
   or its end) with the generator still open, the loop closes it soon
   after -- a task created two iterations later runs its cleanup, as
   CPython's asyncgen finalizer does -- so keep the generator's frame
   untouched until then; asyncio_run closes any still open before it
   returns (shutdown_asyncgens).  With the loop stopped, close one by
   running a coroutine that awaits ASYNCIO_ACLOSE.

   ASYNCIO_YIELD_VALUE(v): hand v (an asyncio_value) to the consumer and
   wait until it asks for the next one; then ASYNCIO_RESULT() holds the
   value the consumer sent (Python's `x = yield v`).  Only in the
   generator's own body, never in a child it awaits.  Where the consumer
   closes the generator (ACLOSE) or throws into it (ATHROW), the yield
   fails with ASYNCIO_EGENEXIT or the thrown error instead. */
#define ASYNCIO_YIELD_VALUE(v_) ASYNCIO_YIELD_VALUE_AT(__LINE__, v_)
#define ASYNCIO_YIELD_VALUE_AT(id_, v_)                                        \
    ASYNCIO_YIELD_VALUE_RC_AT(id_, asyncio__rc, v_);                           \
    ASYNCIO__PROPAGATE()
/* ASYNCIO_YIELD_VALUE_RC(rc, v): the same, catching what the consumer
   throws in (0, or the error: Python's try/except around a yield). */
#define ASYNCIO_YIELD_VALUE_RC(rc_, v_) ASYNCIO_YIELD_VALUE_RC_AT(__LINE__, rc_, v_)
#define ASYNCIO_YIELD_VALUE_RC_AT(id_, rc_, v_)                                \
    ASYNCIO__STATEMENTS(id_);                                                  \
    asyncio__self->fut.u.value = (v_);                                         \
    ASYNCIO__POINT(id_);                                                       \
    return ASYNCIO__YIELDED;                                                   \
    ASYNCIO__CASE(id_)                                                         \
    ASYNCIO__RESUMED();                                                        \
    (rc_) = asyncio__gen_resumed(asyncio__self, asyncio__co);                  \
    ASYNCIO__CAUGHT(rc_)

/* ASYNCIO_FOR(x, fn, gen) { ... }: Python's `async for x in fn(...)`:
   start generator fn on frame gen and run the block once per value, with
   the value in x (an asyncio_value lvalue in the frame).  The block may
   await, `continue` and `break`; leaving with `break` closes the
   generator at once, awaiting its cleanup (Python's aclosing()).  Left by
   an error or a RETURN instead, the generator is closed by the loop soon
   after (above).  A generator's error ends the loop: FOR propagates it,
   FOR_RC stores it in rc (0 when the generator finished or you broke
   out). */
#define ASYNCIO_FOR(x_, fn_, gen_) ASYNCIO_FOR_AT(__LINE__, x_, fn_, gen_)
#define ASYNCIO_FOR_AT(id_, x_, fn_, gen_) ASYNCIO__FOR(id_, asyncio__rc, x_, fn_, gen_, 1)
#define ASYNCIO_FOR_RC(rc_, x_, fn_, gen_) ASYNCIO_FOR_RC_AT(__LINE__, rc_, x_, fn_, gen_)
#define ASYNCIO_FOR_RC_AT(id_, rc_, x_, fn_, gen_) ASYNCIO__FOR(id_, rc_, x_, fn_, gen_, 0)

/* ASYNCIO_SEND(fn, gen, v): Python's `await agen.asend(v)`: resume the
   generator with v as the value of its pending yield (the first send
   starts it and v is not seen), and wait for its next value, then in
   ASYNCIO_RESULT().  Fails with ASYNCIO_ESTOPITERATION once the
   generator has finished (StopAsyncIteration), or with its error.
   ASYNCIO_NEXT(fn, gen): the same with v = 0 (Python's anext). */
#define ASYNCIO_SEND(fn_, gen_, v_) ASYNCIO_SEND_AT(__LINE__, fn_, gen_, v_)
#define ASYNCIO_SEND_AT(id_, fn_, gen_, v_)                                    \
    ASYNCIO_SEND_RC_AT(id_, asyncio__rc, fn_, gen_, v_);                       \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_SEND_RC(rc_, fn_, gen_, v_) ASYNCIO_SEND_RC_AT(__LINE__, rc_, fn_, gen_, v_)
#define ASYNCIO_SEND_RC_AT(id_, rc_, fn_, gen_, v_)                            \
    asyncio__self->fut.u.value = (v_);                                         \
    ASYNCIO__GEN_AWAIT(id_, rc_, fn_, &(gen_)->co, asyncio__gen_send(asyncio__self, asyncio__co))
#define ASYNCIO_NEXT(fn_, gen_) ASYNCIO_SEND_AT(__LINE__, fn_, gen_, asyncio_int(0))
#define ASYNCIO_NEXT_RC(rc_, fn_, gen_) ASYNCIO_SEND_RC_AT(__LINE__, rc_, fn_, gen_, asyncio_int(0))

/* ASYNCIO_ATHROW(fn, gen, err, msg): Python's `await agen.athrow(exc)`:
   the generator's pending yield fails with err (< 0) and msg; if it
   catches that and yields again, the value is in ASYNCIO_RESULT(); if it
   finishes, ASYNCIO_ESTOPITERATION; otherwise its error.  A generator
   not started yet finishes at once with err; one already finished
   ignores it (0), as CPython does. */
#define ASYNCIO_ATHROW(fn_, gen_, err_, msg_) ASYNCIO_ATHROW_AT(__LINE__, fn_, gen_, err_, msg_)
#define ASYNCIO_ATHROW_AT(id_, fn_, gen_, err_, msg_)                          \
    ASYNCIO_ATHROW_RC_AT(id_, asyncio__rc, fn_, gen_, err_, msg_);             \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_ATHROW_RC(rc_, fn_, gen_, err_, msg_) ASYNCIO_ATHROW_RC_AT(__LINE__, rc_, fn_, gen_, err_, msg_)
#define ASYNCIO_ATHROW_RC_AT(id_, rc_, fn_, gen_, err_, msg_)                  \
    ASYNCIO__GEN_AWAIT(id_, rc_, fn_, &(gen_)->co,                             \
                       asyncio__gen_throw(asyncio__self, asyncio__co, &(gen_)->co, (err_), (msg_)))

/* ASYNCIO_ACLOSE(fn, gen): Python's `await agen.aclose()`: the pending
   yield fails with ASYNCIO_EGENEXIT and the generator's cleanup runs,
   awaits included; afterwards the generator is finished.  Completes with
   0 (also for a generator not started, or finished), the cleanup's own
   error, or ASYNCIO_EINVALIDSTATE "async generator ignored GeneratorExit"
   if it yielded instead of finishing. */
#define ASYNCIO_ACLOSE(fn_, gen_) ASYNCIO_ACLOSE_AT(__LINE__, fn_, gen_)
#define ASYNCIO_ACLOSE_AT(id_, fn_, gen_)                                      \
    ASYNCIO_ACLOSE_RC_AT(id_, asyncio__rc, fn_, gen_);                         \
    ASYNCIO__PROPAGATE()
#define ASYNCIO_ACLOSE_RC(rc_, fn_, gen_) ASYNCIO_ACLOSE_RC_AT(__LINE__, rc_, fn_, gen_)
#define ASYNCIO_ACLOSE_RC_AT(id_, rc_, fn_, gen_)                              \
    ASYNCIO__GEN_AWAIT(id_, rc_, fn_, &(gen_)->co, asyncio__gen_close(asyncio__self, asyncio__co, &(gen_)->co))

/* =========================================================================
   12. LOCKS, EVENTS, SEMAPHORES (CPython's semantics)
   Each lives in caller storage.  Waiting is a coroutine you run inline:
       ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&f->op, &lock));
   Waiters are served in FIFO order; a cancelled waiter leaves no trace, and
   one cancelled after it was woken passes its turn on.  `async with lock:`
   is asyncio_with, below.  No operation allocates.
   Implementation: >>sync, >>queue, >>barrier.
   ========================================================================= */
typedef struct asyncio_lock {
    asyncio_loop *loop;
    asyncio__link waiters;
    int locked, handoffs;  /* handoffs: woken waiters not yet running */
} asyncio_lock;

typedef struct asyncio_event {
    asyncio_loop *loop;
    asyncio__link waiters;
    int set;
} asyncio_event;

typedef struct asyncio_semaphore {
    asyncio_loop *loop;
    asyncio__link waiters;
    long value, bound;     /* bound < 0: unbounded */
} asyncio_semaphore;

typedef struct asyncio_condition {
    asyncio_lock *lock;
    asyncio__link waiters;
} asyncio_condition;

/* The frame of one wait on a lock, event, semaphore or condition. */
typedef struct asyncio_sync_op {
    asyncio_coro co;
    void *obj;
    int kind, woken, cancelled;
} asyncio_sync_op;

/* asyncio_lock_init / _locked / _release: a Lock; release of an unlocked
   lock returns ASYNCIO_EINVALIDSTATE (Python's RuntimeError), else 0. */
void asyncio_lock_init(asyncio_lock *lock, asyncio_loop *loop);
int asyncio_lock_locked(const asyncio_lock *lock);
int asyncio_lock_release(asyncio_lock *lock);

/* asyncio_event_init / _set / _clear / _is_set: an Event; set wakes every
   waiter. */
void asyncio_event_init(asyncio_event *ev, asyncio_loop *loop);
void asyncio_event_set(asyncio_event *ev);
void asyncio_event_clear(asyncio_event *ev);
int asyncio_event_is_set(const asyncio_event *ev);

/* asyncio_semaphore_init: a Semaphore with value (>= 0); bounded: a
   BoundedSemaphore, whose release past the initial value returns
   ASYNCIO_EINVALIDSTATE (Python's ValueError).  release returns 0. */
void asyncio_semaphore_init(asyncio_semaphore *sem, asyncio_loop *loop, long value, int bounded);
/* asyncio_semaphore_locked: 1 if an acquire would wait now. */
int asyncio_semaphore_locked(const asyncio_semaphore *sem);
int asyncio_semaphore_release(asyncio_semaphore *sem);

/* asyncio_condition_init: a Condition over lock (a Lock you own).
   notify wakes up to n waiters, notify_all every one; both need the lock
   held (else ASYNCIO_EINVALIDSTATE, Python's RuntimeError), else 0. */
void asyncio_condition_init(asyncio_condition *cond, asyncio_lock *lock);
int asyncio_condition_notify(asyncio_condition *cond, int n);
int asyncio_condition_notify_all(asyncio_condition *cond);

/* Setup calls for the coroutine asyncio_acquire: lock.acquire(),
   event.wait(), semaphore.acquire(), condition.wait().  Each completes
   with 0 or ASYNCIO_ECANCELLED; condition.wait with the lock held again
   in both cases (it re-acquires before a cancellation reaches you), or
   ASYNCIO_EINVALIDSTATE if the lock was not held. */
asyncio_sync_op *asyncio_lock_op(asyncio_sync_op *op, asyncio_lock *lock);
asyncio_sync_op *asyncio_event_op(asyncio_sync_op *op, asyncio_event *ev);
asyncio_sync_op *asyncio_semaphore_op(asyncio_sync_op *op, asyncio_semaphore *sem);
asyncio_sync_op *asyncio_condition_op(asyncio_sync_op *op, asyncio_condition *cond);
int asyncio_acquire(asyncio_task *self, void *frame);

/* Python's cond.wait_for(predicate): the coroutine
   asyncio_condition_wait_for, on the frame the setup call fills, checks
   pred(arg) and waits on cond (lock held) until it returns nonzero, which
   is the result (.i).  Errors as condition.wait. */
typedef struct asyncio_predicate_op {
    asyncio_coro co;
    asyncio_sync_op wait;
    asyncio_condition *cond;
    int (*pred)(void *arg);
    void *arg;
    int value;
} asyncio_predicate_op;

asyncio_predicate_op *asyncio_condition_wait_for_op(asyncio_predicate_op *op, asyncio_condition *cond,
                                                    int (*pred)(void *arg), void *arg);
int asyncio_condition_wait_for(asyncio_task *self, void *frame);

/* Python's `async with` as a scope, for a lock, a semaphore (or a
   condition's lock), or any async context manager: the coroutine
   asyncio_with enters, runs the coroutine body on frame inline, and exits
   on every way out of it: return, error, cancellation.  It completes with
   the body's result or error; if entering fails or is cancelled, the body
   never runs and there is nothing to exit.
       ASYNCIO_AWAIT_CORO(asyncio_with,
                          asyncio_with_lock(&f->with, &lock, critical, &f->crit));
   For a whole coroutine, acquiring at the top and releasing in
   ASYNCIO_FINALLY (when held) is the same thing without a second body.

   An async context manager (Python's __aenter__ / __aexit__) is two
   coroutines on one frame that begins with an asyncio_context.  enter's
   result is the `as` value, kept in the context's value for the body.
   exit runs however the body ended and may await; err and msg tell it
   how (0, or the error: ASYNCIO_ECANCELLED on cancellation).  exit
   returning a nonzero .i suppresses the body's error (a truthy
   __aexit__: asyncio_with then completes with 0); an error of its own
   replaces the body's. */
typedef struct asyncio_context {
    asyncio_coro co;
    asyncio_value value; /* what enter returned */
    int err;             /* for exit: how the body ended */
    const char *msg;
} asyncio_context;

typedef struct asyncio_with_op {
    asyncio_coro co;
    asyncio_sync_op acquire;
    asyncio_context *cm;
    asyncio_fn enter, exit;
    asyncio_fn body;
    void *frame;
    int held;
    asyncio_finally fin;
} asyncio_with_op;

asyncio_with_op *asyncio_with_lock(asyncio_with_op *w, asyncio_lock *lock, asyncio_fn body, void *frame);
asyncio_with_op *asyncio_with_semaphore(asyncio_with_op *w, asyncio_semaphore *sem, asyncio_fn body,
                                        void *frame);
asyncio_with_op *asyncio_with_context(asyncio_with_op *w, asyncio_context *cm, asyncio_fn enter, asyncio_fn exit,
                                      asyncio_fn body, void *frame);
int asyncio_with(asyncio_task *self, void *frame);

/* Queues: FIFO, LIFO or priority, of asyncio_value items (one word: a
   number or a pointer, copied in).  A priority queue's items carry a
   priority beside their value (Python's (priority, data) tuples): the
   smallest priority comes out first, ties in the order of the values' .i
   (Python compares the data: the same for numbers); an item put without
   one has its own .i as priority.  Bounded queues keep their items in
   caller storage and never allocate; unbounded ones (storage NULL) grow
   with the loop's allocator.  put and get are coroutines
   (asyncio_queue_io) that wait while full / empty; a getter woken and
   then cancelled leaves the item to the next, a cancelled putter
   inserted nothing. */
typedef enum asyncio_queue_kind { ASYNCIO_FIFO, ASYNCIO_LIFO, ASYNCIO_PRIORITY } asyncio_queue_kind;

/* An item of a priority queue, and the storage a bounded one needs. */
typedef struct asyncio_priority_item {
    long long priority;
    asyncio_value value;
} asyncio_priority_item;

typedef struct asyncio_queue {
    asyncio_loop *loop;
    void *items; /* asyncio_value, or asyncio_priority_item for PRIORITY */
    size_t cap, head, count, unfinished;
    int bounded, shutdown;
    asyncio_queue_kind kind;
    asyncio__link getters, putters, joiners;
} asyncio_queue;

typedef struct asyncio_queue_op {
    asyncio_coro co;
    asyncio_queue *q;
    int kind, woken;
    asyncio_value value;
    long long priority;
} asyncio_queue_op;

/* asyncio_queue_init: storage holds capacity items -- asyncio_value, or
   asyncio_priority_item for ASYNCIO_PRIORITY -- (a bounded queue), or is
   NULL for an unbounded one (capacity ignored). */
void asyncio_queue_init(asyncio_queue *q, asyncio_loop *loop, asyncio_queue_kind kind, void *storage,
                        size_t capacity);
/* asyncio_queue_free: release an unbounded queue's storage. */
void asyncio_queue_free(asyncio_queue *q);
/* asyncio_queue_put_nowait / _get_nowait: 0, ASYNCIO_EQUEUEFULL /
   ASYNCIO_EQUEUEEMPTY, ASYNCIO_EQUEUESHUTDOWN, or -ENOMEM (unbounded). */
int asyncio_queue_put_nowait(asyncio_queue *q, asyncio_value item);
int asyncio_queue_get_nowait(asyncio_queue *q, asyncio_value *item);
/* The same with the item's priority (for FIFO and LIFO queues it is
   ignored on the way in and 0 on the way out; priority may be NULL). */
int asyncio_queue_put_priority_nowait(asyncio_queue *q, long long priority, asyncio_value item);
int asyncio_queue_get_priority_nowait(asyncio_queue *q, long long *priority, asyncio_value *item);
/* asyncio_queue_qsize / _empty / _full. */
size_t asyncio_queue_qsize(const asyncio_queue *q);
int asyncio_queue_empty(const asyncio_queue *q);
int asyncio_queue_full(const asyncio_queue *q);
/* asyncio_queue_task_done: one item fully processed (for join); returns 0
   or ASYNCIO_EINVALIDSTATE when called more times than items were put. */
int asyncio_queue_task_done(asyncio_queue *q);
/* asyncio_queue_shutdown: Python 3.13's shutdown: puts fail from now on
   with ASYNCIO_EQUEUESHUTDOWN, so do gets once the queue is empty (at
   once with immediate, which also drops what is queued); every waiting
   getter and putter wakes with that error. */
void asyncio_queue_shutdown(asyncio_queue *q, int immediate);
/* Setup calls for the coroutine asyncio_queue_io: put (result 0), get
   (result: the item; its priority in asyncio_queue_op_priority(op)), join
   (result 0 once every item is task_done). */
asyncio_queue_op *asyncio_queue_put(asyncio_queue_op *op, asyncio_queue *q, asyncio_value item);
asyncio_queue_op *asyncio_queue_put_priority(asyncio_queue_op *op, asyncio_queue *q, long long priority,
                                             asyncio_value item);
long long asyncio_queue_op_priority(const asyncio_queue_op *op);
asyncio_queue_op *asyncio_queue_get(asyncio_queue_op *op, asyncio_queue *q);
asyncio_queue_op *asyncio_queue_join(asyncio_queue_op *op, asyncio_queue *q);
int asyncio_queue_io(asyncio_task *self, void *frame);

/* asyncio_barrier: Python's Barrier(parties).  Each waiter (the coroutine
   asyncio_barrier_wait on an asyncio_barrier_op, result: its index, the
   last to arrive getting parties - 1) waits until parties of them are
   there; then all go and the barrier refills.  abort breaks it (waiters
   and later calls fail with ASYNCIO_EBROKENBARRIER) until reset; reset
   also breaks the current round. */
typedef struct asyncio_barrier {
    asyncio_lock lock;
    asyncio_condition cond;
    int parties, count, state;
} asyncio_barrier;

typedef struct asyncio_barrier_op {
    asyncio_coro co;
    asyncio_barrier *b;
    int index, held, counted;
    asyncio_sync_op op;
} asyncio_barrier_op;

/* asyncio_barrier_init: parties >= 1.  _abort / _reset: see above. */
void asyncio_barrier_init(asyncio_barrier *b, asyncio_loop *loop, int parties);
void asyncio_barrier_abort(asyncio_barrier *b);
void asyncio_barrier_reset(asyncio_barrier *b);
/* asyncio_barrier_broken: 1 after abort, until reset. */
int asyncio_barrier_broken(const asyncio_barrier *b);
/* asyncio_barrier_n_waiting: waiters in the round being filled. */
int asyncio_barrier_n_waiting(const asyncio_barrier *b);
/* asyncio_barrier_op_init: the setup call for the coroutine
   asyncio_barrier_wait (result: the arrival index). */
asyncio_barrier_op *asyncio_barrier_op_init(asyncio_barrier_op *op, asyncio_barrier *b);
int asyncio_barrier_wait(asyncio_task *self, void *frame);

/* =========================================================================
   13. THREADS: call_soon_threadsafe, executors (to_thread,
       run_in_executor), run_coroutine_threadsafe
   A loop belongs to the thread that runs it.  Other threads reach it only
   through the calls of this section marked "any thread"; everything else
   in this header is for the loop's own thread (a debug build asserts it
   where a loop is running).  Blocking or CPU-heavy work goes to an
   executor: a pool of worker threads shared by every loop of the process,
   like libuv's (CPython's default executor is one per loop: with N loops
   on N cores that would start N times as many threads as there are cores
   to run them).  Link with -pthread.
   Implementation: >>threads.
   ========================================================================= */

/* asyncio_call_soon_threadsafe: Python's loop.call_soon_threadsafe.  Any
   thread.  Schedules fn(loop, arg) to run from the loop, after what is
   already ready, and wakes the loop if it sleeps (a burst of calls while
   it is busy costs no system call; while it sleeps, one).  h is caller
   storage, untouched by the caller until fn runs, or NULL to let the
   library allocate (with ASYNCIO_REALLOC, on the calling thread: it must
   then be thread-safe; freed after fn runs).  Returns 0,
   ASYNCIO_ELOOPCLOSED once the loop is closing or closed (nothing is
   queued and h is not touched), -EINVAL for a NULL fn, -ENOMEM.  A
   callback queued before the loop closes either runs or is reported
   through cfg.warn by asyncio_loop_close; never silently dropped.  The
   loop's storage itself must outlive every thread that may call this. */
int asyncio_call_soon_threadsafe(asyncio_loop *loop, asyncio_handle *h, asyncio_callback fn, void *arg);

/* asyncio_loop_ref / _unref: any thread.  While a reference is held, a
   loop with nothing else to do waits for other threads' calls instead of
   returning from run_forever (or reporting ASYNCIO_ESTALLED): take one
   before handing the loop to another thread, drop it when that thread
   is done with the loop (the loop wakes to notice).  Jobs in an executor
   hold the loop by themselves.  unref returns the count left. */
void asyncio_loop_ref(asyncio_loop *loop);
int asyncio_loop_unref(asyncio_loop *loop);

/* asyncio_run_in_executor: Python's loop.run_in_executor(ex, fn, arg).
   Loop thread; never suspends (the await does).  Queues fn(arg) on
   executor ex (NULL: the default one) and returns &w->fut, which
   completes on the loop with fn's outcome: await it.  Jobs start in the
   order they were queued.  Cancelling the future before the job starts
   removes it: fn never runs, discard gets ASYNCIO_ECANCELLED.  Once it
   runs it cannot be stopped: the awaiter sees ASYNCIO_ECANCELLED at once
   and, when fn returns, its outcome goes to discard (as Python drops it).
   So arg must live until fn has returned: if you may cancel a running
   job, let discard (may be NULL) release what arg holds.  w itself is
   free again as soon as its future is done.  Errors complete the future
   at once, and neither fn nor discard is called: -EINVAL (NULL fn),
   ASYNCIO_ELOOPCLOSED, ASYNCIO_EINVALIDSTATE (executor shut down),
   -ENOMEM, or -EAGAIN (no worker thread could start).
   asyncio_loop_close, and asyncio_run before it, wait for every job the
   loop queued, as CPython's shutdown_default_executor does.  On the
   virtual clock, jobs take no virtual time: the loop waits for them
   before it moves the clock. */
asyncio_future *asyncio_run_in_executor(asyncio_loop *loop, asyncio_executor *ex, asyncio_work *w,
                                        asyncio_work_fn fn, void *arg, asyncio_discard_fn discard);

/* asyncio_to_thread: Python's asyncio.to_thread(fn, arg): the default
   executor, no discard.
       ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->work, hash, f->buf));
       digest = ASYNCIO_RESULT().i; */
asyncio_future *asyncio_to_thread(asyncio_loop *loop, asyncio_work *w, asyncio_work_fn fn, void *arg);

/* Executors.  The default one is created on first use with up to
   min(32, CPUs + 4) threads (Python's ThreadPoolExecutor); threads start
   on demand, one per job that finds none idle, and an idle one exits
   after 10 s.  Every call here: any thread. */
#define ASYNCIO_MAX_WORKERS 1024

/* asyncio_executor_new: a pool of its own, of up to max_workers threads
   (1 ... ASYNCIO_MAX_WORKERS).  Returns 0, -EINVAL, -ENOMEM. */
int asyncio_executor_new(asyncio_executor **ex, int max_workers);

/* asyncio_executor_configure: set ex's (NULL: the default's) maximum
   number of threads (1 ... ASYNCIO_MAX_WORKERS; extra threads leave when
   idle) and how long an idle thread waits for work before it exits
   (seconds; negative: forever).  Returns 0, -EINVAL (and nothing
   changes), -ENOMEM. */
int asyncio_executor_configure(asyncio_executor *ex, int max_workers, double idle_timeout);

/* asyncio_executor_shutdown: Python's executor.shutdown(wait=True): new
   jobs are refused (ASYNCIO_EINVALIDSTATE); blocks until every queued
   and running job has finished, then stops the threads and frees ex.
   Returns 0, or -EINVAL for NULL or the default executor, which lives as
   long as the process. */
int asyncio_executor_shutdown(asyncio_executor *ex);

/* asyncio_executor_stats: a snapshot of ex (NULL: the default). */
typedef struct asyncio_executor_stats_t {
    int max_workers, threads, idle; /* configured, alive, waiting for work */
    long queued, running;           /* jobs not started, jobs in fn */
    long long completed;            /* jobs whose fn returned, ever */
} asyncio_executor_stats_t;
void asyncio_executor_stats(asyncio_executor *ex, asyncio_executor_stats_t *out);

/* asyncio_run_coroutine_threadsafe(r, loop, fn, frame): Python's
   asyncio.run_coroutine_threadsafe.  Any thread but the loop's own:
   starts fn(frame) as a task on loop (which runs in another thread) and
   returns at once; r, in caller storage, is the handle to wait on
   (Python's concurrent.futures.Future).  r and frame must stay valid
   until asyncio_remote_done(r).  Returns 0, ASYNCIO_ELOOPCLOSED, -EINVAL
   (NULL fn or frame). */
typedef struct asyncio_remote {
    asyncio_handle start, cancel, publish;
    asyncio_task task;
    asyncio__waiter done;
    asyncio_fn fn;
    void *frame;
    const char *name, *file;
    int line;
    asyncio_outcome out;
    struct asyncio_remote *next, *prev; /* the loop's list of remotes it serves */
    int state, cancel_requested;        /* atomics */
    int phase;                          /* the loop's side */
} asyncio_remote;

#define asyncio_run_coroutine_threadsafe(r, loop, fn, frame)                   \
    asyncio_run_coroutine_threadsafe_at((r), (loop), (fn), (frame), #fn, __FILE__, __LINE__)
int asyncio_run_coroutine_threadsafe_at(asyncio_remote *r, asyncio_loop *loop, asyncio_fn fn, void *frame,
                                        const char *name, const char *file, int line);

/* asyncio_remote_result: Python's future.result(timeout).  Any thread but
   the loop's.  Blocks until the coroutine has finished or timeout seconds
   have passed (negative: no limit).  Returns 0 with the result in *value
   (may be NULL), the coroutine's error (asyncio_remote_errmsg tells why),
   ASYNCIO_ECANCELLED, ASYNCIO_ELOOPCLOSED (the loop closed before the
   coroutine finished), ASYNCIO_ETIMEDOUT (not finished yet: call again),
   -EDEADLK when called on the thread running r's loop (it would wait
   for itself), -EINVAL for a NaN timeout. */
int asyncio_remote_result(asyncio_remote *r, double timeout, asyncio_value *value);
const char *asyncio_remote_errmsg(const asyncio_remote *r);

/* asyncio_remote_cancel: Python's future.cancel().  Any thread.  Asks
   the loop to cancel the task; from then on the outcome is
   ASYNCIO_ECANCELLED whatever the coroutine does (as in Python), but
   asyncio_remote_result still waits until it has really finished, since
   its frame is in use until then (Python returns at once: C has no
   garbage collector to keep the frame alive).  Returns 1 (also when it
   was cancelled already), or 0 if it finished otherwise. */
int asyncio_remote_cancel(asyncio_remote *r);

/* asyncio_remote_done: 1 once the coroutine has finished (or could not
   start); r and frame are then free.  Any thread. */
int asyncio_remote_done(const asyncio_remote *r);

/* =========================================================================
   14. SUBPROCESSES, PIPES AND FILES
   Python's create_subprocess_exec / _shell with stream pipes, a stream
   over any pipe, FIFO or tty (connect_read_pipe / connect_write_pipe are
   asyncio_stream_open), and the aiofiles role: file calls that never
   block the loop.  A child's exit is watched without races: EVFILT_PROC
   with kqueue, a pidfd in the backend on Linux (Python 3.12's
   PidfdChildWatcher), and elsewhere -- or with cfg.child_watcher =
   ASYNCIO_CHILD_SIGCHLD -- a SIGCHLD handler that looks at the library's
   own children only (waitpid(pid), never waitpid(-1)); it stays
   installed, calling the handler it replaced.  Every call is for the
   loop's thread.
   Implementation: >>process, >>files.
   ========================================================================= */

/* Where a child's stdin, stdout or stderr goes (asyncio_stdio.mode). */
enum {
    ASYNCIO_INHERIT = 0, /* the parent's own (Python's None) */
    ASYNCIO_PIPE,        /* a pipe to the parent: a stream of the process */
    ASYNCIO_DEVNULL,     /* /dev/null */
    ASYNCIO_STDOUT,      /* stderr only: wherever stdout goes */
    ASYNCIO_FD           /* the descriptor in .fd (the parent keeps it) */
};

typedef struct asyncio_stdio {
    int mode; /* ASYNCIO_INHERIT, _PIPE, _DEVNULL, _STDOUT or _FD */
    int fd;   /* for ASYNCIO_FD */
} asyncio_stdio;

/* asyncio_process_options.flags */
#define ASYNCIO_PROCESS_NEW_SESSION 1u /* Python's start_new_session: setsid() */
#define ASYNCIO_PROCESS_NEW_GROUP 2u   /* Python's process_group=0: a group of its own */

/* Options of a new process; a zeroed struct (or NULL) inherits
   everything. */
typedef struct asyncio_process_options {
    asyncio_stdio stdio[3];  /* the child's stdin, stdout, stderr */
    const char *const *env;  /* "NAME=value" strings, NULL-terminated; NULL:
                                the parent's environment */
    const char *cwd;         /* NULL: the parent's working directory */
    size_t limit;            /* the pipe streams' limit; 0: 65536 */
    size_t pipe_size;        /* Python's pipesize: the kernel buffer of each
                                pipe (Linux; 0: the system's, 64 KiB).  1 MiB
                                lets bulk data through with 16x fewer
                                wake-ups, but counts against the user's
                                pipe-user-pages limit */
    unsigned flags;          /* ASYNCIO_PROCESS_NEW_SESSION | _NEW_GROUP */
} asyncio_process_options;

typedef struct asyncio_process asyncio_process;

/* asyncio_create_subprocess_exec: Python's create_subprocess_exec(*argv).
   Starts argv[0] (searched in the PATH of opts->env, or of the parent,
   when it has no '/'), with argv as its arguments, and stores the
   process in *out.  The child gets only its three standard descriptors
   (every other is closed in it) and SIGPIPE / SIGXFSZ at their defaults
   with no signal blocked; it is started with posix_spawn (no copy of the
   parent's memory).  Never suspends: unlike Python it needs no await.
   Returns 0, or (with *out NULL and asyncio_errmsg() naming the path):
   -ENOENT, -EACCES, -ENOEXEC ... when the program cannot be run (the
   create call fails; no child exits 127), -EINVAL (NULL out, argv, a
   NULL or empty argv[0], an unknown mode or flag, ASYNCIO_STDOUT for
   stdin or stdout), -EBADF (an ASYNCIO_FD that is not open), -E2BIG (an
   environment too large to pass), -ENOTSUP (cwd, pipe_size or a flag
   this system cannot give a spawned child), -EPERM (a pipe_size above
   what the user may have), ASYNCIO_ELOOPCLOSED, -ENOMEM, -EMFILE. */
int asyncio_create_subprocess_exec(asyncio_process **out, asyncio_loop *loop, const char *const argv[],
                                   const asyncio_process_options *opts);
/* asyncio_create_subprocess_shell: cmd run by /bin/sh -c; as above. */
int asyncio_create_subprocess_shell(asyncio_process **out, asyncio_loop *loop, const char *cmd,
                                    const asyncio_process_options *opts);

/* asyncio_process_pid: the child's process id. */
int asyncio_process_pid(const asyncio_process *p);
/* asyncio_process_returncode: 1 once the child has exited, with its exit
   status in *code (may be NULL): 0-255, or minus the signal that killed
   it (Python's returncode); 0 while it runs (Python's None).  If another
   part of the program reaped the child first, the code is 255 and a
   warning says so (as Python). */
int asyncio_process_returncode(const asyncio_process *p, int *code);
/* asyncio_process_stdin / _stdout / _stderr: the streams of the pipes
   (ASYNCIO_PIPE), or NULL -- also once you closed that stream.  Ordinary
   streams: write and drain stdin, close it to send end of file; read
   stdout and stderr with asyncio_reader. */
asyncio_stream *asyncio_process_stdin(const asyncio_process *p);
asyncio_stream *asyncio_process_stdout(const asyncio_process *p);
asyncio_stream *asyncio_process_stderr(const asyncio_process *p);

/* asyncio_process_send_signal: send sig to the child (0: only check it
   exists, as kill(2)).  Returns 0 -- also when the child has already
   exited (nothing is sent, as Python) --, or -EINVAL (not a signal),
   -errno from kill.  _terminate sends SIGTERM, _kill SIGKILL. */
int asyncio_process_send_signal(asyncio_process *p, int sig);
int asyncio_process_terminate(asyncio_process *p);
int asyncio_process_kill(asyncio_process *p);

/* asyncio_process_release: you are done with p.  Its pipe streams still
   open are closed (stdin after flushing what is queued); a child still
   running is not killed: the loop keeps watching it and reaps it when it
   exits (no zombie), then frees p.  Do not use p afterwards.  A loop that
   closes with processes not released releases them; a child still
   running then is reported through cfg.warn and reaped by a thread when
   it exits.  Never suspends. */
void asyncio_process_release(asyncio_process *p);

/* Waiting for a process: fill an asyncio_process_op with one of these and
   await the coroutine asyncio_process_io on it:
       ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_wait(&f->op, p));
       status = ASYNCIO_RESULT().i;
   wait:        Python's wait(): result = the returncode, once the child
                has exited (at once if it has).  Any number of coroutines
                may wait.  Python's warning holds: a child writing more
                than a pipe holds to a stdout nobody reads never exits --
                read it, or use communicate.
   communicate: Python's communicate(input): writes len bytes of input
                (may be NULL) to stdin and closes it, reads stdout and
                stderr to their end, all at once (large outputs never
                deadlock), then waits; result = the returncode.  The
                output is op->out / op->out_len and op->err /
                op->err_len (NULL, 0 without a pipe): views into the
                pipes' buffers, valid until asyncio_process_release.  A
                stdin the child does not read to its end (EPIPE,
                ECONNRESET) is not an error, as in Python.
   Cancelling either does not kill the child (Python's rule): what was
   read so far stays in the pipes' buffers, and the wait can be started
   again.  To kill on cancel:
       ASYNCIO_AWAIT_CORO_RC(rc, asyncio_process_io, asyncio_process_wait(&f->op, p));
       if (rc == ASYNCIO_ECANCELLED) asyncio_process_kill(p);
   Errors: ASYNCIO_ECANCELLED; communicate also a pipe's error (other than
   the two above), -ENOMEM. */
typedef struct asyncio_process_op asyncio_process_op;
typedef struct asyncio__pipe_job {
    asyncio_coro co;
    asyncio_process_op *op;
    asyncio_read_t rd;
    int which;
} asyncio__pipe_job;
struct asyncio_process_op {
    asyncio_coro co;
    asyncio_process *p;
    int kind, ntasks;
    const char *input;
    size_t input_len;
    const char *out, *err;   /* communicate's outputs */
    size_t out_len, err_len;
    asyncio_sync_op wait;
    asyncio_task tasks[3];
    asyncio__pipe_job jobs[3];
    asyncio_future *futs[3];
    asyncio_gather_t gather;
};
asyncio_process_op *asyncio_process_wait(asyncio_process_op *op, asyncio_process *p);
asyncio_process_op *asyncio_process_communicate(asyncio_process_op *op, asyncio_process *p, const void *input,
                                                size_t len);
int asyncio_process_io(asyncio_task *self, void *frame);

/* Files, as coroutines that run the blocking calls on the default
   executor (section 13) -- on the io_uring backend, pread, pwrite, fsync,
   close, unlink and rename in the ring instead: fill an asyncio_file_op
   with one of these and await the coroutine asyncio_file_io on it:
       ASYNCIO_AWAIT_CORO(asyncio_file_io, asyncio_file_open(&f->op, "out.txt", O_WRONLY | O_CREAT, 0644));
       f->fd = (int)ASYNCIO_RESULT().i;
   open:      result = the descriptor (close-on-exec).
   read:      up to n bytes into buf at the descriptor's position, fewer
              only at end of file; result = the count (0: end of file).
   write:     all n bytes; result = n.
   pread / pwrite: the same at offset, the position unchanged.
   copy:      up to n bytes from fd_in to fd_out, each at its position,
              inside the kernel where it can (copy_file_range), fewer
              only at the end of fd_in; result = the count.  One call for
              a whole file copy: no buffer goes through the loop.  After
              a write error fd_in may be up to a piece past done.
   fsync, close, stat (into *st), fstat (of a descriptor, into *st),
              unlink, rename: result 0.
   read_file: a whole file; result = its size, the bytes at
              asyncio_file_data(op) (NUL-terminated; freed by
              asyncio_file_op_free).
   write_file: a whole file (created or truncated, mode 0666 & ~umask);
              result = n.
   Errors are -errno, with a message naming the call and the path (or the
   descriptor): "[Errno 2] No such file or directory: 'x.txt'".
   Cancellation never leaves an operation half-done and unaccounted for:
   a call already running on its thread is let finish its current piece
   (at most 1 MiB of a read or write), then the await fails with
   ASYNCIO_ECANCELLED, and op->done says how many bytes were moved --
   they are in buf (or asyncio_file_data), or written to the file; a
   cancelled open closes the file it opened; a cancelled call that had
   not started did nothing (done 0).  After an error too, done counts
   what was moved before it (a write that filled the disk: what was
   written). */
struct stat;
typedef struct asyncio_file_op {
    asyncio_coro co;
    asyncio_work work;
    int kind, fd, fd2, flags, mode;
    int err;                 /* the job's errno (0: none) */
    const char *path, *path2;
    char *buf;
    const char *cbuf;
    size_t len;
    long long offset;
    size_t done;             /* bytes moved so far: also after an error or a cancellation */
    struct stat *st;
    char *data;              /* read_file's bytes */
    asyncio_loop *loop;
    char msg[256];
} asyncio_file_op;

asyncio_file_op *asyncio_file_open(asyncio_file_op *op, const char *path, int flags, int mode);
asyncio_file_op *asyncio_file_read(asyncio_file_op *op, int fd, void *buf, size_t n);
asyncio_file_op *asyncio_file_write(asyncio_file_op *op, int fd, const void *buf, size_t n);
asyncio_file_op *asyncio_file_pread(asyncio_file_op *op, int fd, void *buf, size_t n, long long offset);
asyncio_file_op *asyncio_file_pwrite(asyncio_file_op *op, int fd, const void *buf, size_t n, long long offset);
asyncio_file_op *asyncio_file_copy(asyncio_file_op *op, int fd_in, int fd_out, size_t n);
asyncio_file_op *asyncio_file_fsync(asyncio_file_op *op, int fd);
asyncio_file_op *asyncio_file_close(asyncio_file_op *op, int fd);
asyncio_file_op *asyncio_file_stat(asyncio_file_op *op, const char *path, struct stat *st);
asyncio_file_op *asyncio_file_fstat(asyncio_file_op *op, int fd, struct stat *st);
asyncio_file_op *asyncio_file_unlink(asyncio_file_op *op, const char *path);
asyncio_file_op *asyncio_file_rename(asyncio_file_op *op, const char *from, const char *to);
asyncio_file_op *asyncio_file_read_file(asyncio_file_op *op, const char *path);
asyncio_file_op *asyncio_file_write_file(asyncio_file_op *op, const char *path, const void *data, size_t n);
int asyncio_file_io(asyncio_task *self, void *frame);
/* asyncio_file_data: read_file's bytes (NULL before); asyncio_file_op_free
   releases them (harmless on any op, and twice). */
const char *asyncio_file_data(const asyncio_file_op *op);
void asyncio_file_op_free(asyncio_file_op *op);


#if ASYNCIO_TLS
/* =========================================================================
   15. TLS (compiled in with -DASYNCIO_TLS=1; link -lssl -lcrypto)
   TLS for streams over OpenSSL 1.1.1 or 3.x, as Python's ssl= arguments:
   open_connection (asyncio_connect_tls), start_server
   (asyncio_server_options.tls) and StreamWriter.start_tls
   (asyncio_stream_start_tls).  Reads, writes, drain, close and
   cancellation work on a TLS stream exactly as on a plain one; the
   bytes are encrypted in place, with OpenSSL reading and writing the
   socket itself (no memory-BIO copy: see bench/tls).  A handshake that
   takes longer than the context's handshake_timeout (Python's
   ssl_handshake_timeout, 60 s) fails with ASYNCIO_ETIMEDOUT.  Close
   flushes, sends close_notify and waits for the peer's (Python's
   ssl_shutdown_timeout, 30 s) before it closes the socket.  End of stream
   without the peer's close_notify fails the read with ASYNCIO_ETLS
   ("EOF occurred in violation of protocol", Python's SSLEOFError: the
   data may have been cut short), unless the context allows it
   (ASYNCIO_TLS_ALLOW_TRUNCATION: end of stream then).  Errors are
   ASYNCIO_ETLSVERIFY for a certificate that does not verify (Python's
   SSLCertVerificationError: unknown CA, expired, wrong host name) and
   ASYNCIO_ETLS for any other TLS failure, with OpenSSL's reason in the
   message.  Every call is for the loop's thread, except the context
   calls (any thread: a context may serve several loops).
   Implementation: >>tls.
   ========================================================================= */
typedef struct asyncio_tls asyncio_tls;

/* asyncio_tls_options.flags */
#define ASYNCIO_TLS_INSECURE_NO_VERIFY 1u  /* client: accept any certificate, any
                                              host name: for tests only */
#define ASYNCIO_TLS_VERIFY_CLIENT 2u       /* server: ask for a client certificate,
                                              verified against cafile / capath */
#define ASYNCIO_TLS_REQUIRE_CLIENT 4u      /* server: ... and refuse a client without */
#define ASYNCIO_TLS_ALLOW_TRUNCATION 8u    /* end of stream without close_notify is
                                              plain end of stream */

/* A context's options; a zeroed struct gives Python's defaults
   (ssl.create_default_context): the system's trust store (with
   OpenSSL's SSL_CERT_FILE / SSL_CERT_DIR honoured), host names checked,
   TLS 1.2 at least. */
typedef struct asyncio_tls_options {
    const char *cafile, *capath; /* trust these CAs instead of the system's */
    const char *certfile;        /* our chain (PEM), leaf first: a server's, or a client certificate */
    const char *keyfile;         /* its key (PEM); NULL: in certfile */
    const char *const *alpn;     /* ALPN protocols by preference, NULL-terminated
                                    ({"h2", "http/1.1", NULL}); NULL: none */
    unsigned flags;              /* ASYNCIO_TLS_* above */
    double handshake_timeout;    /* seconds; 0: 60 */
    double shutdown_timeout;     /* seconds; 0: 30 */
} asyncio_tls_options;

/* asyncio_tls_client / _server: a context (Python's SSLContext) for the
   client or the server side; opts may be NULL for a client (a server
   needs certfile).  Returns 0 with *out set, or -EINVAL (a server without
   certfile, an unknown flag), ASYNCIO_ETLS with OpenSSL's reason (a
   missing or unreadable file, a key that does not match the
   certificate, a bad ALPN list), -ENOMEM.  Any thread. */
int asyncio_tls_client(asyncio_tls **out, const asyncio_tls_options *opts);
int asyncio_tls_server(asyncio_tls **out, const asyncio_tls_options *opts);
/* asyncio_tls_add_name: a server context answers clients that ask for
   host `name` (SNI; "*.example.com" matches one label) with the
   certificate of context `other` (which then lives as long as ctx).
   Returns 0, -EINVAL, -ENOMEM.  Any thread, before serving. */
int asyncio_tls_add_name(asyncio_tls *ctx, const char *name, asyncio_tls *other);
/* asyncio_tls_free: drop your hold on ctx; connections using it keep it
   until they close.  Any thread. */
void asyncio_tls_free(asyncio_tls *ctx);
/* asyncio_tls_ssl_ctx: the OpenSSL SSL_CTX, for what the options do not
   cover (ciphers, session tickets, ...). */
struct ssl_ctx_st *asyncio_tls_ssl_ctx(asyncio_tls *ctx);

/* asyncio_connect_tls: make an open_connection a TLS one with ctx (a
   client context); server_hostname (NULL: the host of the setup call) is
   sent as SNI and checked against the certificate.  Returns oc, to chain:
       ASYNCIO_AWAIT_CORO(asyncio_open_connection,
           asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "example.com", 443), ctx, NULL));
   The coroutine then also fails with the handshake's errors; a Unix
   socket refuses TLS (-EINVAL). */
asyncio_connect_t *asyncio_connect_tls(asyncio_connect_t *oc, asyncio_tls *ctx, const char *server_hostname);

/* asyncio_stream_start_tls: Python's StreamWriter.start_tls: turn a plain
   connection into a TLS one (STARTTLS), client or server side as ctx
   says; server_hostname as above (client side).  Bytes that arrived
   after the last read -- a client's handshake pipelined behind its
   STARTTLS line -- are the first bytes of TLS: none is lost or read
   twice.  Returns a future to await (0, or the handshake's error, after
   which the stream is aborted); output written before goes out first, as
   it is, and the handshake (and its timeout) starts after it.  -EINVAL (a
   reader-only or Unix-socket stream, or one already TLS), -EBUSY (a read
   is waiting, or the stream is closing), -ENOMEM complete the future at
   once. */
asyncio_future *asyncio_stream_start_tls(asyncio_stream *s, asyncio_tls *ctx, const char *server_hostname);

/* asyncio_stream_tls: the OpenSSL SSL of a TLS stream (NULL for a plain
   one), for what the calls below do not say (peer certificate, ...);
   asyncio_stream_tls_version ("TLSv1.3"), _cipher and _alpn (the
   protocol agreed, or NULL) after the handshake. */
struct ssl_st *asyncio_stream_tls(const asyncio_stream *s);
const char *asyncio_stream_tls_version(const asyncio_stream *s);
const char *asyncio_stream_tls_cipher(const asyncio_stream *s);
const char *asyncio_stream_tls_alpn(const asyncio_stream *s);
#endif /* ASYNCIO_TLS */

/* =========================================================================
   16. SEEING INSIDE: the await tree, warnings, loop metrics
   Why does it hang?  asyncio_task_info says where a pending task is
   suspended -- the chain of its inline children down to the innermost,
   as function, file and line -- and what it waits for; the await tree
   prints every task of a loop that way (Python 3.14's
   asyncio.print_call_graph / `python -m asyncio pstree`).  The default
   flavour knows each resume point's line in every build (it is the
   resume point); function and file names, the creation site, and the
   line in the labels flavour are recorded in debug builds.  Through
   cfg.warn the loop also reports a task whose error nobody read ("Task
   exception was never retrieved", at the latest when the task is freed,
   its storage reused, or the loop closed) and, with
   cfg.slow_callback_duration, a step or callback that ran too long.
   Every call here is for the loop's thread.
   Implementation: >>debug.
   ========================================================================= */

/* What a pending task waits for. */
typedef enum asyncio_wait_kind {
    ASYNCIO_WAITS_NOTHING,   /* ready to run, or running */
    ASYNCIO_WAITS_FUTURE,    /* a future (asyncio_task_info.future) */
    ASYNCIO_WAITS_TASK,      /* a task (.awaited_task) */
    ASYNCIO_WAITS_GATHER,
    ASYNCIO_WAITS_WAIT,      /* asyncio_wait */
    ASYNCIO_WAITS_SHIELD,
    ASYNCIO_WAITS_JOB,       /* an executor job (to_thread, a file call, ...) */
    ASYNCIO_WAITS_SLEEP,     /* until .until */
    ASYNCIO_WAITS_FD,        /* .fd, .events */
    ASYNCIO_WAITS_LOCK,
    ASYNCIO_WAITS_EVENT,     /* also a process's exit */
    ASYNCIO_WAITS_CONDITION, /* also a barrier */
    ASYNCIO_WAITS_SEMAPHORE,
    ASYNCIO_WAITS_QUEUE_GET,
    ASYNCIO_WAITS_QUEUE_PUT,
    ASYNCIO_WAITS_QUEUE_JOIN,
    ASYNCIO_WAITS_TASKGROUP  /* the tasks of its TaskGroup, at the group's exit */
} asyncio_wait_kind;

/* One frame of a suspended task: outermost (the task's coroutine) first. */
typedef struct asyncio_frame_info {
    const char *func, *file; /* NULL outside debug builds */
    int line;                /* the resume point (an _AT form's label; 0: unknown) */
} asyncio_frame_info;

#define ASYNCIO_MAX_FRAMES 16

typedef struct asyncio_task_info {
    const asyncio_task *task;
    const char *name;
    const char *created_file;  /* debug builds; NULL otherwise */
    int created_line;
    asyncio_wait_kind waits;   /* ASYNCIO_WAITS_NOTHING: ready or running */
    const asyncio_future *future; /* what it awaits (a task's, a gather's ... future) */
    const asyncio_task *awaited_task; /* ASYNCIO_WAITS_TASK */
    double until;              /* ASYNCIO_WAITS_SLEEP: loop time it wakes at */
    int fd;                    /* ASYNCIO_WAITS_FD */
    unsigned events;           /* ASYNCIO_READABLE / _WRITABLE */
    int nframes;               /* frames[0..nframes): more than ASYNCIO_MAX_FRAMES are cut */
    asyncio_frame_info frames[ASYNCIO_MAX_FRAMES];
} asyncio_task_info;

/* asyncio_task_get_info: what task is doing.  Returns 0, or -EINVAL for
   a NULL task or info, ASYNCIO_EINVALIDSTATE for a task that is done
   (its frame may be gone: nothing of it is read). */
int asyncio_task_get_info(const asyncio_task *task, asyncio_task_info *info);

/* asyncio_wait_kind_name: "sleep", "lock", "queue get", ... */
const char *asyncio_wait_kind_name(asyncio_wait_kind kind);

/* asyncio_print_await_tree: write every pending task of loop to fd, as a
   tree: a task that nobody awaits at the root, under each task its
   frames (innermost last) and then the tasks it awaits (through a
   gather, a TaskGroup, a shield, ...); a task in a cycle of awaits is
   marked, not followed.  For loop ->
       Task 'main' (created at app.c:80)
         main  app.c:40
           worker_pool  app.c:22            <- an inline child
             waits for a gather of 2 tasks
           Task 'worker-1' ...
   Uses write(2) only, so a program can call it from its own signal
   handler (asyncio_add_signal_handler runs it from the loop: the safe
   point).  Returns the number of tasks written, -EINVAL (NULL loop or a
   bad fd), ASYNCIO_ELOOPCLOSED, or ASYNCIO_EINVALIDSTATE when called from
   another thread than the loop's (debug builds check). */
int asyncio_print_await_tree(asyncio_loop *loop, int fd);

/* Counters a program can read at any time (libuv's uv_metrics_info):
   plain increments, on in every build. */
typedef struct asyncio_metrics {
    unsigned long long iterations;     /* loop passes */
    unsigned long long steps;          /* task steps run */
    unsigned long long callbacks;      /* handles run (call_soon, timers, fd watchers) */
    unsigned long long tasks_created, tasks_finished;
    unsigned long long jobs_submitted, jobs_done; /* executor jobs of this loop */
    long long idle_ns;                 /* time asleep in the backend, waiting for I/O or
                                          a timer (libuv's uv_metrics_idle_time) */
    long long worst_step_ns;           /* the longest step or callback, when
                                          cfg.slow_callback_duration times them (on the
                                          coarse clock: 1-4 ms steps); else 0 */
    size_t tasks_pending, fds_waited, timer_groups;
    unsigned long long recv_pool_dry;  /* io_uring: receives that found the loop's buffer
                                          pool empty (ASYNCIO_URING_BUFFERS) and were armed
                                          again, nothing lost; 0 elsewhere */
} asyncio_metrics;
/* asyncio_loop_metrics: the counters so far. */
void asyncio_loop_metrics(const asyncio_loop *loop, asyncio_metrics *m);

/* ---- machinery behind the macros (private) ---- */
/* Every resume point is also a label named after its id, so that two
   suspensions on one line fail to compile with an error that says why:
   "duplicate label 'asyncio_one_suspension_per_line__42'". */
#define ASYNCIO__LNAME(id_) ASYNCIO__LNAME2(asyncio_one_suspension_per_line__, id_)
#define ASYNCIO__LNAME2(a, b) ASYNCIO__LNAME3(a, b)
#define ASYNCIO__LNAME3(a, b) a##b
#if ASYNCIO_LABELS
#define ASYNCIO__LC_KEY 0
#define ASYNCIO__LC_RESUME                                                     \
    if (asyncio__co->lc) {                                                     \
        _Pragma("GCC diagnostic push")                                         \
        _Pragma("GCC diagnostic ignored \"-Wpedantic\"")                       \
        goto *asyncio__co->lc;                                                 \
        _Pragma("GCC diagnostic pop")                                          \
    }
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define ASYNCIO__SET_LC(id_)                                                   \
    _Pragma("GCC diagnostic push")                                             \
    _Pragma("GCC diagnostic ignored \"-Wdangling-pointer\"")                   \
    asyncio__co->lc = __extension__ && ASYNCIO__LNAME(id_);                    \
    _Pragma("GCC diagnostic pop") (void)0
#else
#define ASYNCIO__SET_LC(id_) asyncio__co->lc = __extension__ && ASYNCIO__LNAME(id_)
#endif
#define ASYNCIO__CASE(id_) ASYNCIO__LNAME(id_):
#define ASYNCIO__ON_TO(id_) ASYNCIO__CASE(id_)
/* clang rejects `goto *` in a body that takes no label's address (one
   without suspension points): take one that is never used. */
#define ASYNCIO__LC_END                                                        \
    if (0) {                                                                   \
        ASYNCIO__SET_LC(end);                                                  \
        ASYNCIO__CASE(end);                                                    \
    }
#else
#define ASYNCIO__LC_KEY asyncio__co->lc
#define ASYNCIO__LC_RESUME
#define ASYNCIO__SET_LC(id_)                                                   \
    asyncio__co->lc = (id_);                                                   \
    if (0)                                                                     \
        goto ASYNCIO__LNAME(id_)
#define ASYNCIO__CASE(id_) case (id_): ASYNCIO__LNAME(id_):
#define ASYNCIO__ON_TO(id_) ASYNCIO__FALLTHROUGH; ASYNCIO__CASE(id_)
#define ASYNCIO__LC_END
#endif

/* A suspension point in the body: it may not stand in a synchronous
   FINALLY, and where it resumes inside an awaiting cleanup the body is
   known to be unwinding. */
#define ASYNCIO__POINT(id_)                                                    \
    {                                                                          \
        typedef char asyncio_cannot_suspend_in_synchronous_FINALLY[asyncio__cleanup == 1 ? -1 : 1]; \
        (void)sizeof(asyncio_cannot_suspend_in_synchronous_FINALLY);           \
    }                                                                          \
    ASYNCIO__SET_LINE(id_);                                                    \
    ASYNCIO__SET_LC(id_)
#define ASYNCIO__RESUMED()                                                     \
    if (asyncio__cleanup == 2)                                                 \
        asyncio__unwind = 2
/* Opens every suspending macro, which is several statements: a
   declaration, so that one used as the lone body of an if, else, for or
   while fails to compile ("expected expression before 'enum'") instead
   of running half-guarded. */
#define ASYNCIO__STATEMENTS(id_) enum { ASYNCIO__LNAME2(asyncio_suspension_needs_braces__, id_) }
#define ASYNCIO__LABEL(id_)                                                    \
    ASYNCIO__POINT(id_);                                                       \
    ASYNCIO__ON_TO(id_)                                                        \
    ASYNCIO__RESUMED()

/* The body, left by its end: on into the cleanup (Python's None). */
#define ASYNCIO__LEAVE_BODY                                                    \
    if (!asyncio__unwind) {                                                    \
        asyncio__self->fut.u.value.i = 0;                                      \
        asyncio__rc = 0;                                                       \
        asyncio__unwind = 1;                                                   \
    }                                                                          \
    }                                                                          \
    ASYNCIO__FALLTHROUGH;

/* Every suspension: begin_ either finishes at once (0 or an error) or
   registers the task and gives ASYNCIO_PENDING; then the body returns to
   the loop, and on resumption end_ collects the outcome. */
#define ASYNCIO__WAIT_AT(id_, rc_, begin_, end_)                               \
    ASYNCIO__STATEMENTS(id_);                                                  \
    if (((rc_) = (begin_)) == ASYNCIO_PENDING) {                               \
        ASYNCIO__SUSPEND(id_);                                                 \
        (rc_) = (end_);                                                        \
    }                                                                          \
    ASYNCIO__CAUGHT(rc_)

/* A failed await: its message is kept for ASYNCIO_ERRMSG(). */
#define ASYNCIO__CAUGHT(rc_)                                                   \
    if ((rc_) < 0)                                                             \
    asyncio__caught(asyncio__self)

/* Record the resume point, return to the loop; execution continues here. */
#define ASYNCIO__SUSPEND(id_)                                                  \
    ASYNCIO__POINT(id_);                                                       \
    return ASYNCIO_PENDING;                                                    \
    ASYNCIO__CASE(id_)                                                         \
    ASYNCIO__RESUMED();

/* The generator loop: the outer `for` starts the generator and, once the
   inner loop is left by a `break`, turns the steps into closing ones
   (the consumer's co.child says so) until the generator is over; the
   inner one resumes the generator at the resume point and runs the
   user's block as its final `else`. */
#define ASYNCIO__YIELDED 2
#define ASYNCIO__FOR(id_, rc_, x_, fn_, gen_, propagate_)                      \
    for (asyncio__gen_start(asyncio__self, asyncio__co, &(gen_)->co);          \
         !asyncio__gen_over(&(gen_)->co);                                      \
         asyncio__gen_close(asyncio__self, asyncio__co, &(gen_)->co))          \
        for (;; asyncio__self->fut.u.value.i = 0) /* the yield's value: None */ \
            ASYNCIO__CASE(id_)                                                 \
            if (((rc_) = asyncio__gen_step(asyncio__self, asyncio__co, (fn_), &(gen_)->co, &(x_))) == ASYNCIO_PENDING) { \
                ASYNCIO__POINT(id_);                                           \
                return ASYNCIO_PENDING;                                        \
            } else if ((rc_) != ASYNCIO__YIELDED) {                            \
                ASYNCIO__CAUGHT(rc_);                                          \
                if (propagate_)                                                \
                    ASYNCIO__PROPAGATE();                                      \
                break;                                                         \
            } else

/* Send, throw or close: the first step is set up once, then the
   generator is stepped (here, and on every resumption) until it yields
   or finishes. */
#define ASYNCIO__GEN_AWAIT(id_, rc_, fn_, gco_, setup_)                        \
    ASYNCIO__STATEMENTS(id_);                                                  \
    (void)(setup_);                                                            \
    ASYNCIO__LABEL(id_);                                                       \
    if (((rc_) = asyncio__gen_step(asyncio__self, asyncio__co, (fn_), (gco_), NULL)) == ASYNCIO_PENDING) \
        return ASYNCIO_PENDING;                                                \
    (rc_) = asyncio__gen_sent(asyncio__self, asyncio__co, (rc_));              \
    ASYNCIO__CAUGHT(rc_)

#define ASYNCIO__PROPAGATE()                                                   \
    do {                                                                       \
        if (asyncio__rc < 0) {                                                 \
            asyncio__unwind = asyncio__unwind ? 2 : 1;                         \
            goto asyncio__dispatch;                                            \
        }                                                                      \
    } while (0)

#if defined(__cplusplus) && __cplusplus >= 201703L
#define ASYNCIO__FALLTHROUGH [[fallthrough]]
#elif defined(__GNUC__) && __GNUC__ >= 7 || defined(__clang__)
#define ASYNCIO__FALLTHROUGH __attribute__((fallthrough))
#else
#define ASYNCIO__FALLTHROUGH ((void)0)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ASYNCIO__NOINLINE __attribute__((noinline))
#else
#define ASYNCIO__NOINLINE
#endif

#if ASYNCIO_DEBUG
#define ASYNCIO__CHECK_FRAME(frame)                                            \
    static const asyncio__site asyncio__here = {__FILE__, __func__};           \
    asyncio__co->site = &asyncio__here;                                        \
    asyncio__check_frame(asyncio__self, asyncio__co, (frame))
#define ASYNCIO__SET_LINE(id_) asyncio__co->line = (id_)
#else
#define ASYNCIO__CHECK_FRAME(frame) ((void)0)
#define ASYNCIO__SET_LINE(id_) ((void)0)
#endif

int asyncio__await_begin(asyncio_task *self, asyncio_future *fut);
int asyncio__await_end(asyncio_task *self);
int asyncio__sleep_begin(asyncio_task *self, double secs);
int asyncio__sleep_end(asyncio_task *self);
int asyncio__raise_code(asyncio_task *self, int err, const char *msg);
void asyncio__caught(asyncio_task *self);
int asyncio__spawned(asyncio_task *self, const asyncio_task *task);
const char *asyncio__errmsg(asyncio_task *self);
int asyncio__fd_begin(asyncio_task *self, int fd, unsigned events, int level);
int asyncio__fd_end(asyncio_task *self);
int asyncio__park_begin(asyncio_task *self, asyncio__link *queue, int kind);
int asyncio__park_end(asyncio_task *self, int *woken);
void asyncio__check_frame(asyncio_task *self, const void *co, const void *frame);
void asyncio__child_begin_any(asyncio_task *self, asyncio_coro *co, asyncio_coro *child);
int asyncio__child_step_any(asyncio_task *self, asyncio_coro *co, asyncio_fn fn);

/* ASYNCIO_AWAIT_CORO's child, kept in co->child as its distance from co
   (see >>frames); the usual case -- a child near its parent, nothing
   else recorded -- inline, every other through the loop's table. */
static inline void asyncio__child_begin(asyncio_task *self, asyncio_coro *co, asyncio_coro *child)
{
    ptrdiff_t d = (char *)child - (char *)co;
    child->lc = 0;
    child->child = 0;
    if (co->child == 0 && d > -0x40000000L && d < 0x40000000L && d != 0)
        co->child = (int)d;
    else
        asyncio__child_begin_any(self, co, child);
}

static inline int asyncio__child_step(asyncio_task *self, asyncio_coro *co, asyncio_fn fn)
{
    int rc;
    if (co->child == 0 || (co->child & 3))
        return asyncio__child_step_any(self, co, fn);
    rc = fn(self, (asyncio_coro *)(void *)((char *)co + co->child));
    if (rc != ASYNCIO_PENDING)
        co->child = 0;
    return rc;
}
void asyncio__cleanup_enter(asyncio_task *self, asyncio_finally *state, int rc);
int asyncio__cleanup_leave(asyncio_task *self, asyncio_finally *state);
int asyncio__lost_resume(asyncio_task *self, const char *file, long key);
void asyncio__gens_abandon(asyncio_task *self, asyncio_coro *co);
int asyncio__gen_resumed(asyncio_task *self, const asyncio_coro *co);
void asyncio__gen_start(asyncio_task *self, asyncio_coro *co, asyncio_coro *gen);
int asyncio__gen_over(const asyncio_coro *gen);
int asyncio__gen_send(asyncio_task *self, asyncio_coro *co);
int asyncio__gen_throw(asyncio_task *self, asyncio_coro *co, asyncio_coro *gen, int err, const char *msg);
int asyncio__gen_close(asyncio_task *self, asyncio_coro *co, asyncio_coro *gen);
int asyncio__gen_step(asyncio_task *self, asyncio_coro *co, asyncio_fn fn, asyncio_coro *gen, asyncio_value *out);
int asyncio__gen_sent(asyncio_task *self, asyncio_coro *co, int rc);

#ifdef __cplusplus
}
#endif
#endif /* ASYNCIO_H */

/* =========================================================================
   IMPLEMENTATION
   ========================================================================= */
#if defined(ASYNCIO_IMPLEMENTATION) && !ASYNCIO_IMPLEMENTATION_LINKED && !defined(ASYNCIO__IMPLEMENTED)
#define ASYNCIO__IMPLEMENTED

/* >>config ---------------------------------------------------------------- */
#if defined(ASYNCIO_REALLOC) != defined(ASYNCIO_FREE)
#error "asyncio.h: define both ASYNCIO_REALLOC and ASYNCIO_FREE, or neither"
#endif
#ifndef ASYNCIO_REALLOC
#include <stdlib.h>
#define ASYNCIO_REALLOC(ctx, p, n) ((void)(ctx), realloc((p), (n)))
#define ASYNCIO_FREE(ctx, p) ((void)(ctx), free(p))
#endif
#ifndef ASYNCIO_ASSERT
#include <assert.h>
#define ASYNCIO_ASSERT(x) assert(x)
#endif

#if defined(ASYNCIO_BACKEND_EPOLL) + defined(ASYNCIO_BACKEND_KQUEUE) + defined(ASYNCIO_BACKEND_POLL) + \
        defined(ASYNCIO_BACKEND_URING) > 1
#error "asyncio.h: define at most one of ASYNCIO_BACKEND_EPOLL, ASYNCIO_BACKEND_KQUEUE, ASYNCIO_BACKEND_POLL, ASYNCIO_BACKEND_URING"
#elif defined(ASYNCIO_BACKEND_URING)
#if !defined(__linux__)
#error "asyncio.h: ASYNCIO_BACKEND_URING needs Linux"
#endif
#define ASYNCIO__URING 1
#elif defined(ASYNCIO_BACKEND_EPOLL)
#define ASYNCIO__EPOLL 1
#elif defined(ASYNCIO_BACKEND_KQUEUE)
#define ASYNCIO__KQUEUE 1
#elif defined(ASYNCIO_BACKEND_POLL)
#define ASYNCIO__POLL 1
#elif defined(__linux__)
#define ASYNCIO__EPOLL 1
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__)
#define ASYNCIO__KQUEUE 1
#else
#define ASYNCIO__POLL 1
#endif
#ifndef ASYNCIO__EPOLL
#define ASYNCIO__EPOLL 0
#endif
#ifndef ASYNCIO__KQUEUE
#define ASYNCIO__KQUEUE 0
#endif
#ifndef ASYNCIO__POLL
#define ASYNCIO__POLL 0
#endif
#ifndef ASYNCIO__URING
#define ASYNCIO__URING 0
#endif

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#if ASYNCIO__URING
#include <sys/sysmacros.h> /* makedev: statx's answers into a struct stat */
#endif
#if ASYNCIO_TLS
#include <strings.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif
#if ASYNCIO__EPOLL || ASYNCIO__URING
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#if ASYNCIO__URING
#include <sys/mman.h>
#endif
#elif ASYNCIO__KQUEUE
#include <sys/time.h>
#ifdef ASYNCIO_KQUEUE_HEADER /* tests build the kqueue backend on Linux */
#include ASYNCIO_KQUEUE_HEADER
#else
#include <sys/event.h>
#endif
#endif

/* >>util ------------------------------------------------------------------ */
enum { ASYNCIO__S_PENDING = 0, ASYNCIO__S_DONE = 1, ASYNCIO__S_CANCELLED = 2, ASYNCIO__S_MASK = 3 };
/* flag bits in asyncio_future.state, above the state itself */
#define ASYNCIO__F_LINKED 0x04u   /* in the ready queue or a timer list */
#define ASYNCIO__F_TIMER 0x08u    /* ... put there by a timer (until popped) */
#define ASYNCIO__F_CANCEL 0x10u   /* task: raise ECANCELLED when next resumed */
#define ASYNCIO__F_AWAITING 0x20u /* task: suspended on u.awaits */
#define ASYNCIO__F_OWNED 0x40u    /* allocated by the loop */
#define ASYNCIO__F_FLAG 0x80u     /* kind-specific: */
#define ASYNCIO__F_INSLOT ASYNCIO__F_FLAG /* task, handle: in an fd's waiter slot, u.value = gen << 32 | fd;
                                          task: or parked in a lock's list, u.value = ASYNCIO__PARKED_ON */
#define ASYNCIO__F_XPOSTED ASYNCIO__F_CANCEL /* handle: posted by another thread */
#define ASYNCIO__F_TO_END ASYNCIO__F_FLAG    /* work: once started, runs to its end (file calls) */
#define ASYNCIO__WOKEN (-2LL)
/* a parked task's u.value: what it is parked on (an asyncio_wait_kind) */
#define ASYNCIO__PARKED_ON(kind) (-16LL - (long long)(kind))
#define ASYNCIO__IS_PARKED(v) ((v) <= ASYNCIO__PARKED_ON(0) && (v) > ASYNCIO__PARKED_ON(64))

enum { ASYNCIO__K_FUTURE, ASYNCIO__K_TASK, ASYNCIO__K_HANDLE, ASYNCIO__K_GATHER, ASYNCIO__K_WAIT,
       ASYNCIO__K_ASCOMPLETED, ASYNCIO__K_SHIELD, ASYNCIO__K_WORK };

#define ASYNCIO__MAGIC 0xA5F0C0DEu
#define ASYNCIO__NEVER LLONG_MAX
#define ASYNCIO__CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#if ASYNCIO_DEBUG
#define ASYNCIO__CHECK(f) ASYNCIO_ASSERT((f) != NULL && (f)->magic == ASYNCIO__MAGIC)
#else
#define ASYNCIO__CHECK(f) ((void)0)
#endif

static int asyncio__state(const asyncio_future *f) { return f->state & ASYNCIO__S_MASK; }

static void asyncio__list_init(asyncio__link *s) { s->next = s->prev = s; }
static int asyncio__list_empty(const asyncio__link *s) { return s->next == s; }
static void asyncio__list_remove(asyncio__link *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
}
static void asyncio__list_push(asyncio__link *s, asyncio__link *n)
{
    n->prev = s->prev;
    n->next = s;
    s->prev->next = n;
    s->prev = n;
}
/* Append every node of src to dst, in order; src becomes empty. */
static void asyncio__list_splice(asyncio__link *dst, asyncio__link *src)
{
    if (asyncio__list_empty(src))
        return;
    src->next->prev = dst->prev;
    dst->prev->next = src->next;
    src->prev->next = dst;
    dst->prev = src->prev;
    asyncio__list_init(src);
}

/* Loop-owned allocations sit behind a header on one list, so that closing
   the loop frees whatever the program never got back to. */
typedef struct asyncio__owned {
    struct asyncio__owned *next, *prev;
} asyncio__owned;

static void *asyncio__alloc(asyncio_loop *L, size_t size)
{
    asyncio__owned *h = (asyncio__owned *)ASYNCIO_REALLOC(L->cfg.alloc_ctx, NULL, sizeof(asyncio__owned) + size);
    if (!h)
        return NULL;
    h->prev = NULL;
    h->next = (asyncio__owned *)L->owned;
    if (h->next)
        h->next->prev = h;
    L->owned = h;
    return h + 1;
}

static void asyncio__release(asyncio_loop *L, void *p)
{
    asyncio__owned *h;
    if (!p)
        return;
    h = (asyncio__owned *)p - 1;
    if (h->prev)
        h->prev->next = h->next;
    else
        L->owned = h->next;
    if (h->next)
        h->next->prev = h->prev;
    ASYNCIO_FREE(L->cfg.alloc_ctx, h);
}

/* A map from pointers to pointers, open addressing, at most half full:
   for the rare facts about tasks that do not earn a field in every task
   (an error message kept for ASYNCIO_ERRMSG(); in debug builds, the
   frames tasks run on). */
typedef struct asyncio__pmap_entry {
    const void *key;
    const void *val;
} asyncio__pmap_entry;

static size_t asyncio__pmap_home(const asyncio__pmap *m, const void *key)
{
    return (size_t)(((uintptr_t)key >> 3) * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
}

static size_t asyncio__pmap_slot(const asyncio__pmap *m, const void *key)
{
    size_t i = asyncio__pmap_home(m, key);
    while (m->e[i].key && m->e[i].key != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static const void *asyncio__pmap_get(const asyncio__pmap *m, const void *key)
{
    return m->n ? m->e[asyncio__pmap_slot(m, key)].val : NULL;
}

/* Map key to val, or (val NULL) forget key.  A failed growth forgets the
   fact; callers treat the map as a cache of it. */
static void asyncio__pmap_put(asyncio_loop *L, asyncio__pmap *m, const void *key, const void *val)
{
    size_t i, j;
    if (!val) {
        if (!m->n || !m->e[i = asyncio__pmap_slot(m, key)].key)
            return;
        m->n--;
        for (;;) { /* delete by shifting the cluster back */
            m->e[i].key = m->e[i].val = NULL;
            for (j = (i + 1) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
                size_t home;
                if (!m->e[j].key)
                    return;
                home = asyncio__pmap_home(m, m->e[j].key);
                if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j))
                    break;
            }
            m->e[i] = m->e[j];
            i = j;
        }
    }
    if (2 * (m->n + 1) > m->cap) {
        asyncio__pmap old = *m;
        size_t k, cap = old.cap ? 2 * old.cap : 64;
        asyncio__pmap_entry *e = (asyncio__pmap_entry *)ASYNCIO_REALLOC(L->cfg.alloc_ctx, NULL, cap * sizeof *e);
        if (!e)
            return;
        memset(e, 0, cap * sizeof *e);
        m->e = e;
        m->cap = cap;
        for (k = 0; k < old.cap; k++)
            if (old.e[k].key)
                m->e[asyncio__pmap_slot(m, old.e[k].key)] = old.e[k];
        ASYNCIO_FREE(L->cfg.alloc_ctx, old.e);
    }
    i = asyncio__pmap_slot(m, key);
    if (!m->e[i].key)
        m->n++;
    m->e[i].key = key;
    m->e[i].val = val;
}

/* Grow *arr (elements of size elem) to hold at least need; 0 or -ENOMEM. */
static int asyncio__reserve(asyncio_loop *L, void **arr, size_t *cap, size_t need, size_t elem)
{
    size_t ncap;
    void *p;
    if (need <= *cap)
        return 0;
    ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > (size_t)-1 / elem)
        return -ENOMEM;
    p = ASYNCIO_REALLOC(L->cfg.alloc_ctx, *arr, ncap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Atomics are the GCC / Clang builtins (C99 has no <stdatomic.h>),
   sequentially consistent except where a comment says otherwise. */
#define ASYNCIO__LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ASYNCIO__STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ASYNCIO__ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define ASYNCIO__XCHG(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define ASYNCIO__CAS(p, expected, v)                                           \
    __atomic_compare_exchange_n((p), (expected), (v), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define ASYNCIO__THREAD_LOCAL _Thread_local
#else
#define ASYNCIO__THREAD_LOCAL __thread
#endif

/* The loop this thread is running, if any; its address also names the
   thread for the debug checks. */
static ASYNCIO__THREAD_LOCAL asyncio_loop *asyncio__running;

#if ASYNCIO_DEBUG
/* A loop that runs is touched only by its own thread (section 13). */
static void asyncio__check_thread(const asyncio_loop *L)
{
    ASYNCIO_ASSERT(!L->in_run || L->thread == (const void *)&asyncio__running);
    (void)L;
}
#define ASYNCIO__CHECK_THREAD(L) asyncio__check_thread(L)
#else
#define ASYNCIO__CHECK_THREAD(L) ((void)0)
#endif

/* >>errors ---------------------------------------------------------------- */
/* Application errors named by asyncio_define_error: appended under the
   global lock, read without it (the count is published after its entry). */
#define ASYNCIO__MAX_USER_ERRORS 256
static struct {
    int code;
    const char *name, *message;
} asyncio__user_errors[ASYNCIO__MAX_USER_ERRORS];
static int asyncio__nuser_errors;

static int asyncio__user_error(int err)
{
    int i, n = __atomic_load_n(&asyncio__nuser_errors, __ATOMIC_ACQUIRE);
    for (i = 0; i < n; i++)
        if (asyncio__user_errors[i].code == err)
            return i;
    return -1;
}

/* The message of a plain call's last error, per thread; formatted ones
   live in a per-thread buffer. */
static ASYNCIO__THREAD_LOCAL const char *asyncio__last_error;
static ASYNCIO__THREAD_LOCAL char asyncio__last_error_buf[320];

const char *asyncio_errmsg(void) { return asyncio__last_error ? asyncio__last_error : ""; }

/* A plain call fails: err, with msg (NULL: the code's own message). */
static int asyncio__fail(int err, const char *msg)
{
    asyncio__last_error = msg ? msg : asyncio_strerror(err);
    return err;
}

static int asyncio__failf(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(asyncio__last_error_buf, sizeof asyncio__last_error_buf, fmt, ap);
    va_end(ap);
    asyncio__last_error = asyncio__last_error_buf;
    return err;
}

/* A formatted message lives in this thread's buffer until the next one:
   a future or task that keeps it gets a copy in the loop's memory, one
   per distinct text. */
static const char *asyncio__keep(asyncio_loop *L, const char *msg)
{
    uintptr_t at = (uintptr_t)msg, buf = (uintptr_t)asyncio__last_error_buf, h = 2166136261u;
    const char *kept, *c;
    char *copy;
    size_t n;
    if (at < buf || at >= buf + sizeof asyncio__last_error_buf)
        return msg;
    for (c = msg; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    h |= 1; /* never the empty key */
    kept = (const char *)asyncio__pmap_get(&L->kept, (const void *)h);
    if (kept && strcmp(kept, msg) == 0)
        return kept;
    n = strlen(msg) + 1;
    if (!(copy = (char *)asyncio__alloc(L, n)))
        return "(no memory to keep the error's message)";
    memcpy(copy, msg, n);
    if (!kept)
        asyncio__pmap_put(L, &L->kept, (const void *)h, copy);
    return copy;
}

int asyncio_define_error(int code, const char *name, const char *message)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int i, rc = 0;
    if (code > ASYNCIO_EUSER || !name)
        return asyncio__fail(-EINVAL, "define_error: the code must be at or below ASYNCIO_EUSER, with a name");
    pthread_mutex_lock(&mu);
    if ((i = asyncio__user_error(code)) < 0) {
        if ((i = asyncio__nuser_errors) == ASYNCIO__MAX_USER_ERRORS)
            rc = asyncio__fail(-ENOSPC, "define_error: no room for another application error");
        else {
            asyncio__user_errors[i].code = code;
            asyncio__user_errors[i].name = name;
            asyncio__user_errors[i].message = message;
            __atomic_store_n(&asyncio__nuser_errors, i + 1, __ATOMIC_RELEASE);
        }
    } else { /* renamed: each pointer is written whole */
        __atomic_store_n(&asyncio__user_errors[i].name, name, __ATOMIC_RELEASE);
        __atomic_store_n(&asyncio__user_errors[i].message, message, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

const char *asyncio_strerror(int err)
{
    int u = err <= ASYNCIO_EUSER ? asyncio__user_error(err) : -1;
    if (u >= 0 && asyncio__user_errors[u].message)
        return __atomic_load_n(&asyncio__user_errors[u].message, __ATOMIC_ACQUIRE);
    switch (err) {
#define ASYNCIO__TEXT(name, value, text) case value: return text;
        ASYNCIO_ERRORS(ASYNCIO__TEXT)
#undef ASYNCIO__TEXT
    case 0:
        return "success";
    default:
        return err < 0 && err > -4000 ? strerror(-err) : err < ASYNCIO_EUSER ? "application error" : "unknown error";
    }
}

#define ASYNCIO__ERRNOS(X)                                                     \
    X(EPERM) X(ENOENT) X(EINTR) X(EIO) X(EBADF) X(EAGAIN) X(ENOMEM) X(EACCES) X(EFAULT) X(EBUSY) \
    X(EEXIST) X(EINVAL) X(ENFILE) X(EMFILE) X(ENOSPC) X(EPIPE) X(ERANGE) X(ENOSYS) \
    X(EADDRINUSE) X(EADDRNOTAVAIL) X(ENETUNREACH) X(ECONNABORTED) X(ECONNRESET) X(ENOBUFS) \
    X(EISCONN) X(ENOTCONN) X(ETIMEDOUT) X(ECONNREFUSED) X(EHOSTUNREACH) X(EALREADY) \
    X(EINPROGRESS)

const char *asyncio_err_name(int err)
{
    int u = err <= ASYNCIO_EUSER ? asyncio__user_error(err) : -1;
    if (u >= 0)
        return __atomic_load_n(&asyncio__user_errors[u].name, __ATOMIC_ACQUIRE);
    switch (err) {
    case 0:
        return "OK";
#define ASYNCIO__NAME(name, value, text) case value: return #name;
        ASYNCIO_ERRORS(ASYNCIO__NAME)
#undef ASYNCIO__NAME
    default:
        if (err < ASYNCIO_EUSER)
            return "EUSER";
        break;
    }
#define ASYNCIO__ERRNO_NAME(e) if (err == -(e)) return #e;
    ASYNCIO__ERRNOS(ASYNCIO__ERRNO_NAME)
#undef ASYNCIO__ERRNO_NAME
    return "UNKNOWN";
}

/* >>clock ----------------------------------------------------------------- */
static long long asyncio__monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A cheap clock for timing steps against cfg.slow_callback_duration (a
   tenth of a second by default): the coarse clock costs a few ns against
   the precise one's ~20, and its 1-4 ms steps are fine for that. */
static long long asyncio__step_clock_ns(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* While tasks are ready to run, a pass polls the backend (zero timeout)
   only once cfg.busy_poll_ns have passed since the last poll ended.
   On epoll, kqueue and poll that poll is a system call costing ten times
   the two steps of a pass of two yielding tasks; the check is a clock read
   (~20 ns through the vDSO).  I/O that turns ready while the loop is busy
   is seen at most that much time, plus the pass under way, after the pass
   that would have seen it -- however long the steps, however many.  Every
   pass polls on the virtual clock (its order of events stays CPython's,
   pass for pass) and on io_uring (a zero-timeout poll there reads shared
   memory).  Returns 1 if this pass polls; *now: the time, if it was read. */
#if ASYNCIO__URING
#define ASYNCIO__POLL_IS_FREE(L) ((L)->backend_buf != NULL)
#else
#define ASYNCIO__POLL_IS_FREE(L) 0
#endif
static int asyncio__busy_poll_due(asyncio_loop *L, long long *now)
{
    if (L->cfg.busy_poll_ns <= 0 || L->is_virtual || ASYNCIO__POLL_IS_FREE(L))
        return 1;
    *now = asyncio__monotonic_ns();
    return *now - L->polled_at >= L->cfg.busy_poll_ns;
}

/* The loop's time, read fresh: a deadline is computed from the moment the
   timer is scheduled, so it can never fire early. */
static long long asyncio__now(asyncio_loop *L)
{
    if (!L->is_virtual)
        L->now = asyncio__monotonic_ns();
    return L->now;
}

/* Seconds -> nanoseconds, rounded up, saturating at NEVER.  NaN: -EINVAL. */
static int asyncio__secs_to_ns(double secs, long long *ns)
{
    double d;
    if (secs != secs)
        return -EINVAL;
    if (secs <= 0) {
        *ns = 0;
        return 0;
    }
    d = secs * 1e9;
    if (d >= 9.2e18) {
        *ns = ASYNCIO__NEVER;
        return 0;
    }
    *ns = (long long)d;
    if ((double)*ns < d)
        (*ns)++;
    return 0;
}

/* Seconds -> nanoseconds, negative ones too (a deadline in the past). */
static int asyncio__secs_to_ns_signed(double secs, long long *ns)
{
    int rc = asyncio__secs_to_ns(secs < 0 ? -secs : secs, ns);
    if (secs < 0)
        *ns = -*ns;
    return rc;
}

/* now + delay_ns, rounded up to the timer resolution so that timers due
   together share a group; a delay in the past stays exact (CPython keeps
   such a deadline, so it fires before one due now). */
static long long asyncio__deadline(asyncio_loop *L, long long delay_ns)
{
    long long now = asyncio__now(L), res = L->cfg.timer_resolution_ns, when;
    if (delay_ns >= ASYNCIO__NEVER - now)
        return ASYNCIO__NEVER;
    when = now + delay_ns;
    if (delay_ns >= 0 && res > 1 && when % res && when < ASYNCIO__NEVER - res)
        when += res - when % res;
    return when;
}

long long asyncio_loop_time_ns(asyncio_loop *loop) { return asyncio__now(loop); }
double asyncio_loop_time(asyncio_loop *loop) { return (double)asyncio__now(loop) / 1e9; }
int asyncio_loop_is_virtual(const asyncio_loop *loop) { return loop->is_virtual; }

/* >>fds ------------------------------------------------------------------- */
/* The core owns an fd-indexed table; the backends only translate kernel
   events into a list of fired (fd, generation, events).  Each fd is
   registered once for both directions, edge-triggered where the kernel
   offers it: readiness is remembered in `ready` and cleared by whoever
   meets EAGAIN, so waiting costs no system call.  The generation makes
   events for a closed fd harmless when its number is reused. */
#define ASYNCIO__ERR 4u /* error or hang-up: wakes both directions */
#define ASYNCIO__HUP 8u /* the peer closed its side: readable until read says 0 */

typedef struct asyncio__fd {
    asyncio_future *waiter[2]; /* [0] reader, [1] writer: a task or a handle */
    unsigned gen;
    unsigned char ready, added;
    unsigned char fed; /* io_uring: its stream's completions mark it ready; no poll armed */
} asyncio__fd;

typedef struct asyncio__fired {
    int fd;
    unsigned gen, events;
} asyncio__fired;

#define ASYNCIO__MAXEVENTS 256

static asyncio__fd *asyncio__fd_get(const asyncio_loop *L, int fd)
{
    return fd >= 0 && (size_t)fd < L->capfds && L->fds[fd].added ? &L->fds[fd] : NULL;
}

static void asyncio__fired_push(asyncio_loop *L, int fd, unsigned gen, unsigned events)
{
    asyncio__fired *f = &L->fired[L->nfired++];
    f->fd = fd;
    f->gen = gen;
    f->events = events;
}

/* >>backend-epoll --------------------------------------------------------- */
/* Each backend: init, close, wake, add(fd), del(fd), poll(timeout ns, -1 =
   forever) into L->fired, name.  epoll is io_uring's fallback too. */
#if ASYNCIO__EPOLL || ASYNCIO__URING
#define ASYNCIO__TIMERFD_KEY (~0ull)
#define ASYNCIO__WAKE_KEY (~1ull)

/* epoll's event bits (io_uring's poll reports the same) as the loop's. */
static unsigned asyncio__epoll_events(unsigned e)
{
    return (e & EPOLLIN ? ASYNCIO_READABLE : 0u) | (e & EPOLLRDHUP ? ASYNCIO__HUP : 0u) |
           (e & EPOLLOUT ? ASYNCIO_WRITABLE : 0u) | (e & (EPOLLERR | EPOLLHUP) ? ASYNCIO__ERR : 0u);
}

static int asyncio__epoll_watch(asyncio_loop *L, int fd, unsigned long long key)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = key;
    return epoll_ctl(L->backend_fd, EPOLL_CTL_ADD, fd, &ev);
}

/* The timerfd (see poll below) and the wake-up of other threads, an
   eventfd, live in the epoll set from the start: they cost nothing until
   the loop sleeps. */
static int asyncio__epoll_init(asyncio_loop *L)
{
    L->timer_fd = L->wake_fd[0] = -1;
    L->backend_fd = epoll_create1(EPOLL_CLOEXEC);
    if (L->backend_fd < 0)
        return -errno;
    L->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (L->timer_fd >= 0 && asyncio__epoll_watch(L, L->timer_fd, ASYNCIO__TIMERFD_KEY) == 0)
        L->wake_fd[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (L->wake_fd[0] < 0 || asyncio__epoll_watch(L, L->wake_fd[0], ASYNCIO__WAKE_KEY) < 0) {
        int err = -errno;
        if (L->wake_fd[0] >= 0)
            close(L->wake_fd[0]);
        if (L->timer_fd >= 0)
            close(L->timer_fd);
        close(L->backend_fd);
        return err;
    }
    return 0;
}

static void asyncio__epoll_close(asyncio_loop *L)
{
    close(L->wake_fd[0]);
    close(L->timer_fd);
    close(L->backend_fd);
}

/* Any thread: make a sleeping poll return. */
static void asyncio__epoll_wake(asyncio_loop *L)
{
    unsigned long long one = 1;
    if (write(L->wake_fd[0], &one, sizeof one) < 0) { /* EAGAIN: the counter is already set */
    }
}

static int asyncio__epoll_add(asyncio_loop *L, int fd, unsigned gen)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = (unsigned long long)gen << 32 | (unsigned)fd;
    return epoll_ctl(L->backend_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void asyncio__epoll_del(asyncio_loop *L, int fd)
{
    struct epoll_event ev; /* non-NULL for kernels before 2.6.9 */
    epoll_ctl(L->backend_fd, EPOLL_CTL_DEL, fd, &ev);
}

/* Timeouts go through a timerfd rather than epoll_wait's (or
   epoll_pwait2's) own argument: the kernel gives poll-style timeouts a
   slack of 0.1% of their length (a 1 s sleep woke 1.1 ms late here),
   while a timerfd is an hrtimer with only the thread's fixed ~50 us. */
static int asyncio__epoll_poll(asyncio_loop *L, long long timeout_ns)
{
    struct epoll_event ev[ASYNCIO__MAXEVENTS];
    int n, i;
    if (timeout_ns > 0) {
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        its.it_value.tv_sec = timeout_ns / 1000000000LL;
        its.it_value.tv_nsec = timeout_ns % 1000000000LL;
        if (timerfd_settime(L->timer_fd, 0, &its, NULL) < 0)
            return -errno;
    }
    n = epoll_wait(L->backend_fd, ev, ASYNCIO__MAXEVENTS, timeout_ns > 0 ? -1 : (int)timeout_ns);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        if (ev[i].data.u64 == ASYNCIO__TIMERFD_KEY || ev[i].data.u64 == ASYNCIO__WAKE_KEY) {
            unsigned long long count;
            if (read(ev[i].data.u64 == ASYNCIO__WAKE_KEY ? L->wake_fd[0] : L->timer_fd, &count, sizeof count) < 0) {
                /* EAGAIN: already cleared */
            }
            continue;
        }
        asyncio__fired_push(L, (int)(ev[i].data.u64 & 0xffffffffu), (unsigned)(ev[i].data.u64 >> 32),
                            asyncio__epoll_events(ev[i].events));
    }
    return n;
}

#endif

#if ASYNCIO__EPOLL
#define asyncio__backend_pending(L) 0 /* a backend with work of its own to poll for */
#define asyncio__backend_sending(L) 0 /* output of its own that someone may wait for */
#define asyncio__backend_flush(L) ((void)0) /* what backend_del queued, to the kernel (it queues nothing) */
#define asyncio__backend_quiesce(L) ((void)0) /* operations reading or writing the loop's memory: end them */
#define asyncio__backend_init asyncio__epoll_init
#define asyncio__backend_close asyncio__epoll_close
#define asyncio__backend_wake asyncio__epoll_wake
#define asyncio__backend_add asyncio__epoll_add
#define asyncio__backend_del asyncio__epoll_del
#define asyncio__backend_poll asyncio__epoll_poll
const char *asyncio_backend_name(void) { return "epoll"; }

/* >>backend-uring --------------------------------------------------------- */
#elif ASYNCIO__URING
/* Readiness as epoll gives it, read from shared memory: every added fd has
   one multishot poll in the ring (edge-triggered, as the kernel arms it
   without IORING_POLL_ADD_LEVEL), so its events arrive as completions the
   loop reads without a system call.  The loop enters the kernel only to
   submit (new polls, batched to the next pass), to run the completions the
   kernel has queued for this thread (IORING_SQ_TASKRUN: with COOP_TASKRUN
   nothing interrupts a busy loop, the flag says when to look), to move an
   overflow into the ring, or to sleep.  A loop whose ring the kernel
   refuses runs on the epoll functions above.  Socket streams skip
   readiness here: their receives and sends are operations of their own
   in the ring, into a pool of provided buffers (section 10). */

/* The kernel's interface (include/uapi/linux/io_uring.h), spelled out so
   that the header needs neither liburing nor recent kernel headers: these
   layouts and numbers are ABI the kernel keeps. */
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup 425
#endif
#ifndef SYS_io_uring_enter
#define SYS_io_uring_enter 426
#endif
#ifndef SYS_io_uring_register
#define SYS_io_uring_register 427
#endif
#ifndef ASYNCIO_URING_ENTRIES
#define ASYNCIO_URING_ENTRIES 256
#endif
#if ASYNCIO_URING_ENTRIES < 1 || ASYNCIO_URING_ENTRIES > 8192 /* the kernel's limit, over the CQ's factor of 4 */
#error "asyncio.h: ASYNCIO_URING_ENTRIES must be 1 to 8192"
#endif
#ifndef ASYNCIO_URING_BUFFERS
#define ASYNCIO_URING_BUFFERS 128
#endif
#ifndef ASYNCIO_URING_BUFFER_SIZE
#define ASYNCIO_URING_BUFFER_SIZE 16384
#endif
#if ASYNCIO_URING_BUFFERS < 1 || ASYNCIO_URING_BUFFERS > 32768 || (ASYNCIO_URING_BUFFERS & (ASYNCIO_URING_BUFFERS - 1))
#error "asyncio.h: ASYNCIO_URING_BUFFERS must be a power of two, 1 to 32768"
#endif
#if ASYNCIO_URING_BUFFER_SIZE < 1 || ASYNCIO_URING_BUFFER_SIZE > 1048576
#error "asyncio.h: ASYNCIO_URING_BUFFER_SIZE must be 1 to 1048576"
#endif
#define ASYNCIO__IORING_OFF_SQES 0x10000000ULL
enum {
    ASYNCIO__IORING_OP_FSYNC = 3,
    ASYNCIO__IORING_OP_POLL_ADD = 6,
    ASYNCIO__IORING_OP_ASYNC_CANCEL = 14,
    ASYNCIO__IORING_OP_CLOSE = 19,
    ASYNCIO__IORING_OP_STATX = 21,
    ASYNCIO__IORING_OP_READ = 22,
    ASYNCIO__IORING_OP_WRITE = 23,
    ASYNCIO__IORING_OP_SEND = 26,
    ASYNCIO__IORING_OP_RECV = 27,
    ASYNCIO__IORING_OP_RENAMEAT = 35,
    ASYNCIO__IORING_OP_UNLINKAT = 36,
    ASYNCIO__IORING_POLL_ADD_MULTI = 1 << 0,
    ASYNCIO__IORING_RECV_MULTISHOT = 1 << 1, /* in ioprio; 6.0 */
    ASYNCIO__IOSQE_BUFFER_SELECT = 1 << 5,
    ASYNCIO__IORING_ASYNC_CANCEL_ALL = 1 << 0,
    ASYNCIO__IORING_ASYNC_CANCEL_ANY = 1 << 2,
    ASYNCIO__IORING_REGISTER_PBUF_RING = 22, /* 5.19 */
    ASYNCIO__IORING_SETUP_CQSIZE = 1 << 3,
    ASYNCIO__IORING_SETUP_COOP_TASKRUN = 1 << 8, /* 5.19 */
    ASYNCIO__IORING_SETUP_TASKRUN_FLAG = 1 << 9,
    ASYNCIO__IORING_FEAT_SINGLE_MMAP = 1 << 0,
    ASYNCIO__IORING_FEAT_NODROP = 1 << 1,
    ASYNCIO__IORING_FEAT_EXT_ARG = 1 << 8,
    ASYNCIO__IORING_FEAT_RSRC_TAGS = 1 << 10, /* 5.13, the release with multishot poll */
    ASYNCIO__IORING_FEAT_REG_REG_RING = 1 << 13, /* 6.3: past multishot receive (6.0) */
    ASYNCIO__IORING_ENTER_GETEVENTS = 1 << 0,
    ASYNCIO__IORING_ENTER_EXT_ARG = 1 << 3,
    ASYNCIO__IORING_SQ_CQ_OVERFLOW = 1 << 1,
    ASYNCIO__IORING_SQ_TASKRUN = 1 << 2,
    ASYNCIO__IORING_CQE_F_BUFFER = 1 << 0, /* the buffer's id in flags >> 16 */
    ASYNCIO__IORING_CQE_F_MORE = 1 << 1,
    ASYNCIO__URING_NEEDS = ASYNCIO__IORING_FEAT_SINGLE_MMAP | ASYNCIO__IORING_FEAT_NODROP |
                           ASYNCIO__IORING_FEAT_EXT_ARG | ASYNCIO__IORING_FEAT_RSRC_TAGS
};
typedef struct asyncio__uring_params {
    unsigned sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
    unsigned sq_head, sq_tail, sq_mask, sq_ring_entries, sq_flags, sq_dropped, sq_array, sq_resv1;
    unsigned long long sq_user_addr;
    unsigned cq_head, cq_tail, cq_mask, cq_ring_entries, cq_overflow, cq_cqes, cq_flags, cq_resv1;
    unsigned long long cq_user_addr;
} asyncio__uring_params;
typedef struct asyncio__uring_sqe {
    unsigned char opcode, flags;
    unsigned short ioprio;
    int fd;
    unsigned long long off, addr;
    unsigned len, op_flags; /* op_flags: poll32_events for a poll */
    unsigned long long user_data;
    unsigned short buf_index, personality;
    int file_index;
    unsigned long long addr3, pad;
} asyncio__uring_sqe;
typedef struct asyncio__uring_cqe {
    unsigned long long user_data;
    int res;
    unsigned flags;
} asyncio__uring_cqe;
typedef struct asyncio__uring_getevents_arg {
    unsigned long long sigmask;
    unsigned sigmask_sz, min_wait_usec;
    unsigned long long ts;
} asyncio__uring_getevents_arg;
typedef struct asyncio__statx_time {
    long long sec;
    unsigned nsec;
    int reserved;
} asyncio__statx_time;
typedef struct asyncio__statx { /* include/uapi/linux/stat.h */
    unsigned mask, blksize;
    unsigned long long attributes;
    unsigned nlink, uid, gid;
    unsigned short mode, spare0;
    unsigned long long ino, size, blocks, attributes_mask;
    asyncio__statx_time atime, btime, ctime, mtime;
    unsigned rdev_major, rdev_minor, dev_major, dev_minor;
    unsigned long long spare[14];
} asyncio__statx;
#define ASYNCIO__STATX_BASIC_STATS 0x7ffu
typedef struct asyncio__uring_buf { /* a provided buffer; bufs[0].resv is the ring's tail */
    unsigned long long addr;
    unsigned len;
    unsigned short bid, resv;
} asyncio__uring_buf;
typedef struct asyncio__uring_buf_reg {
    unsigned long long ring_addr;
    unsigned ring_entries;
    unsigned short bgid, flags;
    unsigned long long resv[3];
} asyncio__uring_buf_reg;
typedef char asyncio__uring_abi_check[(sizeof(asyncio__uring_params) == 120 && sizeof(asyncio__uring_sqe) == 64 &&
                                       sizeof(asyncio__uring_cqe) == 16 && sizeof(asyncio__uring_buf) == 16 &&
                                       sizeof(asyncio__uring_buf_reg) == 40 && sizeof(asyncio__statx) == 256 &&
                                       sizeof(((asyncio_file_op *)0)->msg) >= sizeof(asyncio__statx)) /* stat's */
                                          ? 1 : -1];

typedef struct asyncio__uring {
    unsigned *sq_head, *sq_tail, *sq_flags, *cq_head, *cq_tail;
    unsigned sq_mask, sq_entries, cq_mask;
    unsigned tail, unsubmitted; /* the next SQE is ours; so are the last `unsubmitted` */
    unsigned ops;               /* file calls in the ring: the loop polls while there are any */
    unsigned stream_ops;        /* streams' receives and sends in the ring */
    unsigned sends;             /* of which sends: output someone may wait for */
    asyncio__uring_sqe *sqes;
    asyncio__uring_cqe *cqes;
    void *rings;
    size_t rings_size, sqes_size;
    /* The receive pool (section 10): a ring of provided buffers the kernel
       picks from, each given back as soon as its bytes are copied out. */
    asyncio__uring_buf *bufs;
    char *pool;
    unsigned short buf_tail;
    signed char pool_state;     /* 0 not tried yet, 1 registered, -1 refused (streams wait for readiness) */
    unsigned char quiescing;    /* the loop is closing: nothing is armed again, no stream freed */
    unsigned features;          /* the kernel's IORING_FEAT_ bits */
    struct asyncio_stream *sendq; /* streams with output for the next submission */
    unsigned long long pool_dry; /* receives that found the pool empty and were armed again */
} asyncio__uring;

/* A completion's user_data: gen << 32 | fd << 1 for an fd's poll, an
   operation's owner | tag (owners are 8-aligned: a file call's op | 1,
   section 14; a stream's receive | 3 or send | 5, section 10), or one of
   these two. */
#define ASYNCIO__URING_WAKE_KEY (~0ull)
#define ASYNCIO__URING_QUIET_KEY (~1ull) /* a cancellation's own completion */
#define asyncio__uring_fd_key(gen, fd) ((unsigned long long)(gen) << 32 | (unsigned)(fd) << 1)
#define ASYNCIO__URING_FILE 1u
#define ASYNCIO__URING_RECV 3u
#define ASYNCIO__URING_SEND 5u
#define asyncio__ring(L) ((asyncio__uring *)(L)->backend_buf)

/* What asyncio_backend_name says: 0 no loop has tried a ring yet, 1 the
   last loop got one, -1 the kernel refused it. */
static int asyncio__uring_state;

/* Submit what is queued; with ASYNCIO__IORING_ENTER_GETEVENTS, run the
   completions the kernel holds for this thread and wait for `min` of them
   (timeout_ns > 0 bounds the wait). */
static int asyncio__uring_enter(asyncio_loop *L, unsigned flags, unsigned min, long long timeout_ns)
{
    asyncio__uring *R = asyncio__ring(L);
    asyncio__uring_getevents_arg arg;
    struct {
        long long tv_sec, tv_nsec;
    } ts;
    void *argp = NULL;
    size_t argsz = 0;
    long n;
    __atomic_store_n(R->sq_tail, R->tail, __ATOMIC_RELEASE);
    if (timeout_ns > 0) {
        ts.tv_sec = timeout_ns / 1000000000LL;
        ts.tv_nsec = timeout_ns % 1000000000LL;
        memset(&arg, 0, sizeof arg);
        arg.ts = (unsigned long long)(uintptr_t)&ts;
        argp = &arg;
        argsz = sizeof arg;
        flags |= ASYNCIO__IORING_ENTER_EXT_ARG;
    }
    n = syscall(SYS_io_uring_enter, L->backend_fd, R->unsubmitted, min, flags, argp, argsz);
    if (n < 0) /* ETIME: the timeout passed; EBUSY/EAGAIN: the rings are full until the loop reaps */
        return errno == ETIME || errno == EINTR || errno == EBUSY || errno == EAGAIN ? 0 : -errno;
    R->unsubmitted -= (unsigned)n;
    return 0;
}

/* The next free SQE, zeroed; a full queue is submitted first. */
static asyncio__uring_sqe *asyncio__uring_get(asyncio_loop *L)
{
    asyncio__uring *R = asyncio__ring(L);
    asyncio__uring_sqe *e;
    if (R->unsubmitted == R->sq_entries && (asyncio__uring_enter(L, 0, 0, 0) < 0 || R->unsubmitted == R->sq_entries))
        return NULL;
    e = &R->sqes[R->tail & R->sq_mask];
    memset(e, 0, sizeof *e);
    R->tail++;
    R->unsubmitted++;
    return e;
}

static int asyncio__uring_watch(asyncio_loop *L, int fd, unsigned long long key)
{
    asyncio__uring_sqe *e = asyncio__uring_get(L);
    if (!e)
        return -EBUSY;
    e->opcode = ASYNCIO__IORING_OP_POLL_ADD;
    e->fd = fd;
    e->len = ASYNCIO__IORING_POLL_ADD_MULTI;
    e->op_flags = key == ASYNCIO__URING_WAKE_KEY ? (unsigned)EPOLLIN : (unsigned)(EPOLLIN | EPOLLOUT | EPOLLRDHUP);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    e->op_flags = e->op_flags << 16 | e->op_flags >> 16; /* the kernel reads poll32_events halfword-swapped there */
#endif
    e->user_data = key;
    return 0;
}

static void asyncio__uring_close(asyncio_loop *L)
{
    asyncio__uring *R = asyncio__ring(L);
    munmap(R->sqes, R->sqes_size);
    munmap(R->rings, R->rings_size);
    close(L->backend_fd); /* cancels every poll, releasing the files they hold */
    close(L->wake_fd[0]);
    if (R->bufs)
        munmap(R->bufs, ASYNCIO_URING_BUFFERS * sizeof *R->bufs);
    ASYNCIO_FREE(L->cfg.alloc_ctx, R->pool);
    ASYNCIO_FREE(L->cfg.alloc_ctx, R);
    L->backend_buf = NULL;
}

static int asyncio__uring_init(asyncio_loop *L)
{
    static const unsigned tries[2] = {ASYNCIO__IORING_SETUP_CQSIZE | ASYNCIO__IORING_SETUP_COOP_TASKRUN |
                                          ASYNCIO__IORING_SETUP_TASKRUN_FLAG,
                                      ASYNCIO__IORING_SETUP_CQSIZE}; /* before 5.19 */
    asyncio__uring_params p;
    asyncio__uring *R;
    unsigned char *ring;
    unsigned i, *array;
    int fd = -1, k, err;
    L->backend_fd = L->timer_fd = L->wake_fd[0] = -1;
    for (k = 0; k < 2; k++) {
        memset(&p, 0, sizeof p);
        p.flags = tries[k];
        p.cq_entries = 4 * ASYNCIO_URING_ENTRIES;
        fd = (int)syscall(SYS_io_uring_setup, ASYNCIO_URING_ENTRIES, &p);
        if (fd >= 0 || errno != EINVAL)
            break;
    }
    if (fd < 0)
        return -errno;
    if ((p.features & ASYNCIO__URING_NEEDS) != ASYNCIO__URING_NEEDS) {
        close(fd);
        return -ENOSYS;
    }
    R = (asyncio__uring *)ASYNCIO_REALLOC(L->cfg.alloc_ctx, NULL, sizeof *R);
    if (!R) {
        close(fd);
        return -ENOMEM;
    }
    memset(R, 0, sizeof *R);
    R->rings_size = p.sq_array + p.sq_entries * sizeof(unsigned);
    if (R->rings_size < p.cq_cqes + p.cq_entries * sizeof(asyncio__uring_cqe))
        R->rings_size = p.cq_cqes + p.cq_entries * sizeof(asyncio__uring_cqe);
    R->sqes_size = p.sq_entries * sizeof(asyncio__uring_sqe);
    R->rings = mmap(NULL, R->rings_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    R->sqes = (asyncio__uring_sqe *)mmap(NULL, R->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                                         ASYNCIO__IORING_OFF_SQES);
    if (R->rings == MAP_FAILED || (void *)R->sqes == MAP_FAILED) {
        err = -errno;
        if (R->rings != MAP_FAILED)
            munmap(R->rings, R->rings_size);
        ASYNCIO_FREE(L->cfg.alloc_ctx, R);
        close(fd);
        return err;
    }
    ring = (unsigned char *)R->rings;
    R->sq_head = (unsigned *)(void *)(ring + p.sq_head);
    R->sq_tail = (unsigned *)(void *)(ring + p.sq_tail);
    R->sq_flags = (unsigned *)(void *)(ring + p.sq_flags);
    R->sq_mask = *(unsigned *)(void *)(ring + p.sq_mask);
    R->sq_entries = p.sq_entries;
    R->cq_head = (unsigned *)(void *)(ring + p.cq_head);
    R->cq_tail = (unsigned *)(void *)(ring + p.cq_tail);
    R->cq_mask = *(unsigned *)(void *)(ring + p.cq_mask);
    R->cqes = (asyncio__uring_cqe *)(void *)(ring + p.cq_cqes);
    R->tail = *R->sq_tail;
    array = (unsigned *)(void *)(ring + p.sq_array); /* SQE i always sits in slot i */
    for (i = 0; i < p.sq_entries; i++)
        array[i] = i;
    R->features = p.features;
    L->backend_fd = fd;
    L->backend_buf = R;
    /* The wake-up's poll is queued, not submitted: the kernel runs a
       request's completion work on the thread that submitted it, which
       must be the one that runs the loop (its first poll submits it). */
    L->wake_fd[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (L->wake_fd[0] < 0 || (err = asyncio__uring_watch(L, L->wake_fd[0], ASYNCIO__URING_WAKE_KEY)) < 0) {
        err = L->wake_fd[0] < 0 ? -errno : err;
        asyncio__uring_close(L);
        L->backend_fd = L->wake_fd[0] = -1;
        return err;
    }
    return 0;
}

/* A regular file or a directory is refused as epoll refuses it: its poll
   would end at once, every time it was armed again. */
static int asyncio__uring_add(asyncio_loop *L, int fd, unsigned gen)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
        return -EPERM;
    return asyncio__uring_watch(L, fd, asyncio__uring_fd_key(gen, fd));
}

/* One operation for owner (tag: ASYNCIO__URING_FILE, _RECV, _SEND); its
   completion goes to asyncio__file_ring_done or asyncio__stream_ring_done.
   NULL: no submission slot. */
static asyncio__uring_sqe *asyncio__uring_op(asyncio_loop *L, unsigned char opcode, int fd, const void *addr,
                                             unsigned len, unsigned long long off, const void *owner, unsigned tag)
{
    asyncio__uring_sqe *e = asyncio__uring_get(L);
    if (!e)
        return NULL;
    e->opcode = opcode;
    e->fd = fd;
    e->addr = (unsigned long long)(uintptr_t)addr;
    e->len = len;
    e->off = off;
    e->user_data = (unsigned long long)(uintptr_t)owner | tag;
    if (tag == ASYNCIO__URING_FILE) {
        ((asyncio_file_op *)(uintptr_t)owner)->work.ring_at = asyncio__ring(L)->tail - 1;
        asyncio__ring(L)->ops++;
    } else
        asyncio__ring(L)->stream_ops++;
    return e;
}

/* A file call whose submission has not gone to the kernel yet is taken
   back: its slot becomes a no-op that completes quietly.  1 if it was. */
static int asyncio__uring_withdraw(asyncio_loop *L, const asyncio_file_op *op)
{
    asyncio__uring *R = asyncio__ring(L);
    asyncio__uring_sqe *e = &R->sqes[op->work.ring_at & R->sq_mask];
    if (R->tail - op->work.ring_at > R->unsubmitted ||
        e->user_data != ((unsigned long long)(uintptr_t)op | ASYNCIO__URING_FILE))
        return 0;
    memset(e, 0, sizeof *e); /* IORING_OP_NOP */
    e->user_data = ASYNCIO__URING_QUIET_KEY;
    R->ops--;
    return 1;
}

/* Cancel owner's operation (tag as above): queued, not submitted.  With no
   submission slot even after a submission (the kernel holding back a
   full completion ring) the operation runs on, holding its file, until it
   ends by itself or the loop closes: a known limit, not seen in tests. */
static void asyncio__uring_cancel(asyncio_loop *L, const void *owner, unsigned tag)
{
    asyncio__uring_sqe *e = asyncio__uring_get(L);
    if (!e)
        return;
    e->opcode = ASYNCIO__IORING_OP_ASYNC_CANCEL;
    e->fd = -1;
    e->addr = (unsigned long long)(uintptr_t)owner | tag;
    e->user_data = ASYNCIO__URING_QUIET_KEY;
}

/* The receive pool, set up for the loop's first socket stream: 1 when the
   kernel takes it and has multishot receive (6.0; told by a feature bit
   of 6.3), 0 when not: streams then wait for readiness. */
static int asyncio__uring_pool(asyncio_loop *L)
{
    asyncio__uring *R = asyncio__ring(L);
    asyncio__uring_buf_reg reg;
    unsigned i;
    if (R->pool_state)
        return R->pool_state > 0;
    R->pool_state = -1;
    if (!(R->features & ASYNCIO__IORING_FEAT_REG_REG_RING))
        return 0;
    R->bufs = (asyncio__uring_buf *)mmap(NULL, ASYNCIO_URING_BUFFERS * sizeof *R->bufs, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* the kernel wants it page-aligned */
    R->pool = (char *)ASYNCIO_REALLOC(L->cfg.alloc_ctx, NULL, (size_t)ASYNCIO_URING_BUFFERS * ASYNCIO_URING_BUFFER_SIZE);
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long long)(uintptr_t)R->bufs;
    reg.ring_entries = ASYNCIO_URING_BUFFERS;
    if (R->bufs == MAP_FAILED || !R->pool ||
        syscall(SYS_io_uring_register, L->backend_fd, ASYNCIO__IORING_REGISTER_PBUF_RING, &reg, 1) < 0) {
        if (R->bufs != MAP_FAILED)
            munmap(R->bufs, ASYNCIO_URING_BUFFERS * sizeof *R->bufs);
        ASYNCIO_FREE(L->cfg.alloc_ctx, R->pool);
        R->bufs = NULL;
        R->pool = NULL;
        return 0;
    }
    R->pool_state = 1;
    for (i = 0; i < ASYNCIO_URING_BUFFERS; i++) {
        R->bufs[i].addr = (unsigned long long)(uintptr_t)(R->pool + (size_t)i * ASYNCIO_URING_BUFFER_SIZE);
        R->bufs[i].len = ASYNCIO_URING_BUFFER_SIZE;
        R->bufs[i].bid = (unsigned short)i;
    }
    R->buf_tail = (unsigned short)ASYNCIO_URING_BUFFERS;
    __atomic_store_n(&R->bufs[0].resv, R->buf_tail, __ATOMIC_RELEASE);
    return 1;
}

/* Buffer bid back into the pool, its bytes copied out. */
static void asyncio__uring_recycle(asyncio__uring *R, unsigned bid)
{
    asyncio__uring_buf *b = &R->bufs[R->buf_tail & (ASYNCIO_URING_BUFFERS - 1)];
    b->addr = (unsigned long long)(uintptr_t)(R->pool + (size_t)bid * ASYNCIO_URING_BUFFER_SIZE);
    b->len = ASYNCIO_URING_BUFFER_SIZE;
    b->bid = (unsigned short)bid;
    R->buf_tail++;
    __atomic_store_n(&R->bufs[0].resv, R->buf_tail, __ATOMIC_RELEASE);
}

/* fd's readiness now comes from its stream's completions: its poll is
   cancelled with the next submission and not armed again (until a caller
   waits on the fd itself, asyncio__fd_begin). */
static void asyncio__uring_unwatch(asyncio_loop *L, int fd)
{
    asyncio__fd *e = &L->fds[fd];
    asyncio__uring_sqe *c;
    if (e->fed || !(c = asyncio__uring_get(L)))
        return;
    e->fed = 1;
    c->opcode = ASYNCIO__IORING_OP_ASYNC_CANCEL;
    c->fd = -1;
    c->addr = asyncio__uring_fd_key(e->gen, fd);
    c->user_data = ASYNCIO__URING_QUIET_KEY;
}

/* The fd's poll cancelled -- queued: the caller submits it with
   asyncio__backend_flush before it closes the fd, since the poll holds
   the file open and the peer must see the close now (loop close queues
   every fd's, then submits once).  A cancellation, not a POLL_REMOVE: the
   removal fails (EALREADY) while the poll's first completion is still on
   its way, a cancellation never. */
static void asyncio__uring_del(asyncio_loop *L, int fd)
{
    asyncio__uring_sqe *e = asyncio__uring_get(L);
    if (!e)
        return;
    e->opcode = ASYNCIO__IORING_OP_ASYNC_CANCEL;
    e->fd = -1;
    e->addr = asyncio__uring_fd_key(L->fds[fd].gen, fd);
    if (asyncio__ring(L)->pool_state > 0) /* a kernel that knows CANCEL_ALL (5.19): a stream's fd its caller */
        e->op_flags = ASYNCIO__IORING_ASYNC_CANCEL_ALL; /* waited on may have had a second poll */
    e->user_data = ASYNCIO__URING_QUIET_KEY;
}

static void asyncio__file_ring_done(asyncio_loop *L, asyncio_file_op *op, int res);
static void asyncio__stream_ring_done(asyncio_loop *L, struct asyncio_stream *s, unsigned tag, int res,
                                      const char *data, int last);
static void asyncio__stream_ring_submit(asyncio_loop *L);

/* Completions into L->fired, as many as it holds (the rest wait in the
   ring for the next pass).  A multishot poll the kernel ended while its fd
   is still watched (an overflowing ring ends them) is armed again: its
   first completion reports what is ready by then, so nothing is lost.
   Returns how many completions it took, of every kind: a wake-up from
   another thread or a file call's end is news too, and a loop that took
   one must not go to sleep before it has run what that news made ready. */
static int asyncio__uring_reap(asyncio_loop *L)
{
    asyncio__uring *R = asyncio__ring(L);
    unsigned head = *R->cq_head, tail = __atomic_load_n(R->cq_tail, __ATOMIC_ACQUIRE);
    int n = 0;
    for (; head != tail && L->nfired < ASYNCIO__MAXEVENTS; head++) {
        const asyncio__uring_cqe *c = &R->cqes[head & R->cq_mask];
        unsigned long long key = c->user_data;
        int fd = (int)((key & 0xffffffffu) >> 1), res = c->res, again = !(c->flags & ASYNCIO__IORING_CQE_F_MORE);
        unsigned events = 0;
        asyncio__fd *e;
        if (key == ASYNCIO__URING_WAKE_KEY) {
            unsigned long long count;
            if (again && asyncio__uring_watch(L, L->wake_fd[0], ASYNCIO__URING_WAKE_KEY) < 0)
                break;
            if (read(L->wake_fd[0], &count, sizeof count) < 0) { /* EAGAIN: already cleared */
            }
            continue;
        }
        if ((key & 7) == ASYNCIO__URING_FILE) {
            R->ops--;
            asyncio__file_ring_done(L, (asyncio_file_op *)(uintptr_t)(key & ~7ull), res);
            continue;
        }
        if (key & 1) { /* a stream's receive or send */
            unsigned bid = c->flags >> 16;
            const char *data = c->flags & ASYNCIO__IORING_CQE_F_BUFFER
                                   ? R->pool + (size_t)bid * ASYNCIO_URING_BUFFER_SIZE : NULL;
            if (again)
                R->stream_ops--;
            asyncio__stream_ring_done(L, (struct asyncio_stream *)(uintptr_t)(key & ~7ull), (unsigned)(key & 7), res,
                                      data, again);
            if (data)
                asyncio__uring_recycle(R, bid);
            continue;
        }
        e = asyncio__fd_get(L, fd);
        if (key == ASYNCIO__URING_QUIET_KEY || !e || e->gen != (unsigned)(key >> 32))
            continue; /* a cancellation, or an fd closed since */
        if (res < 0 && res != -ECANCELED && res != -ENOMEM && res != -EAGAIN) {
            events = ASYNCIO__ERR; /* the poll itself failed for good: let the waiters meet the error */
            again = 0;
        }
        if (res > 0)
            events = asyncio__epoll_events((unsigned)res);
        if (again && !e->fed && asyncio__uring_watch(L, fd, key) < 0)
            break; /* no room to arm it again: the completion stays in the ring for the next pass */
        if (events)
            asyncio__fired_push(L, fd, e->gen, events);
    }
    if ((n = (int)(head - *R->cq_head)) != 0) /* the slots are the kernel's again */
        __atomic_store_n(R->cq_head, head, __ATOMIC_RELEASE);
    return n;
}

static int asyncio__uring_poll(asyncio_loop *L, long long timeout_ns)
{
    asyncio__uring *R = asyncio__ring(L);
    int n, rc;
    unsigned kernel;
    if (R->sendq) /* the pass's output goes with this submission */
        asyncio__stream_ring_submit(L);
    n = asyncio__uring_reap(L);
    if (!n && L->nfired) /* left by a reap outside the poll (start_tls's): news all the same */
        n = (int)L->nfired;
    kernel = __atomic_load_n(R->sq_flags, __ATOMIC_RELAXED);
    if (n == 0 && timeout_ns != 0)
        rc = asyncio__uring_enter(L, ASYNCIO__IORING_ENTER_GETEVENTS, 1, timeout_ns);
    else if (R->unsubmitted || (kernel & (ASYNCIO__IORING_SQ_CQ_OVERFLOW | ASYNCIO__IORING_SQ_TASKRUN)))
        rc = asyncio__uring_enter(L, ASYNCIO__IORING_ENTER_GETEVENTS, 0, 0);
    else
        return n; /* nothing to submit, nothing ready: no system call */
    return rc < 0 ? rc : n + asyncio__uring_reap(L);
}

/* Submissions or output waiting, or file calls in the ring: the loop must
   poll even while nobody waits on an fd. */
#define asyncio__backend_pending(L)                                                                      \
    ((L)->backend_buf && (asyncio__ring(L)->unsubmitted || asyncio__ring(L)->ops || asyncio__backend_sending(L)))
/* Streams' output on its way: as a writer waiting on its fd elsewhere, the
   loop is not stalled while there is any. */
#define asyncio__backend_sending(L) ((L)->backend_buf && (asyncio__ring(L)->sendq || asyncio__ring(L)->sends))

/* Before the loop frees its memory: every stream operation cancelled and
   its completion taken, so the kernel neither reads output nor writes a
   buffer the loop is about to free. */
static void asyncio__backend_quiesce(asyncio_loop *L)
{
    asyncio__uring *R = asyncio__ring(L);
    asyncio__uring_sqe *e;
    int tries;
    if (!R || !R->stream_ops || !(e = asyncio__uring_get(L)))
        return;
    e->opcode = ASYNCIO__IORING_OP_ASYNC_CANCEL;
    e->fd = -1;
    e->op_flags = ASYNCIO__IORING_ASYNC_CANCEL_ANY | ASYNCIO__IORING_ASYNC_CANCEL_ALL;
    e->user_data = ASYNCIO__URING_QUIET_KEY;
    R->sendq = NULL;
    R->quiescing = 1; /* the loop frees what it owns next; a stream's on_closed may reach a server long gone */
    for (tries = 0; R->stream_ops && tries < 100; tries++) { /* a send stuck in the kernel: 10 s at most */
        if (asyncio__uring_enter(L, ASYNCIO__IORING_ENTER_GETEVENTS, 1, 100000000LL) < 0)
            break;
        asyncio__uring_reap(L);
        L->nfired = 0;
    }
}

static int asyncio__backend_init(asyncio_loop *L)
{
    int rc = asyncio__uring_init(L);
    __atomic_store_n(&asyncio__uring_state, rc == 0 ? 1 : -1, __ATOMIC_RELAXED);
    return rc == 0 ? 0 : asyncio__epoll_init(L);
}
static void asyncio__backend_close(asyncio_loop *L)
{
    if (L->backend_buf)
        asyncio__uring_close(L);
    else
        asyncio__epoll_close(L);
}
static void asyncio__backend_wake(asyncio_loop *L) { asyncio__epoll_wake(L); } /* both: an eventfd */
static int asyncio__backend_add(asyncio_loop *L, int fd, unsigned gen)
{
    return L->backend_buf ? asyncio__uring_add(L, fd, gen) : asyncio__epoll_add(L, fd, gen);
}
static void asyncio__backend_del(asyncio_loop *L, int fd)
{
    if (L->backend_buf)
        asyncio__uring_del(L, fd);
    else
        asyncio__epoll_del(L, fd);
}
/* What the dels queued goes to the kernel now (its completion work run). */
static void asyncio__backend_flush(asyncio_loop *L)
{
    if (L->backend_buf)
        asyncio__uring_enter(L, ASYNCIO__IORING_ENTER_GETEVENTS, 0, 0);
}
static int asyncio__backend_poll(asyncio_loop *L, long long timeout_ns)
{
    return L->backend_buf ? asyncio__uring_poll(L, timeout_ns) : asyncio__epoll_poll(L, timeout_ns);
}

/* Before any loop exists, a ring is tried and closed to find out. */
const char *asyncio_backend_name(void)
{
    int state = __atomic_load_n(&asyncio__uring_state, __ATOMIC_RELAXED);
    if (state == 0) {
        asyncio__uring_params p;
        int fd;
        memset(&p, 0, sizeof p);
        fd = (int)syscall(SYS_io_uring_setup, 1, &p);
        state = fd >= 0 && (p.features & ASYNCIO__URING_NEEDS) == ASYNCIO__URING_NEEDS ? 1 : -1;
        if (fd >= 0)
            close(fd);
        __atomic_store_n(&asyncio__uring_state, state, __ATOMIC_RELAXED);
    }
    return state > 0 ? "io_uring" : "epoll";
}

/* >>backend-kqueue -------------------------------------------------------- */
#elif ASYNCIO__KQUEUE
/* Other threads wake the loop through an EVFILT_USER event (ident 0). */
static void asyncio__process_kevent(struct asyncio_process *p);

static int asyncio__backend_init(asyncio_loop *L)
{
    struct kevent ch;
    L->timer_fd = L->wake_fd[0] = -1;
    L->backend_fd = kqueue();
    if (L->backend_fd < 0)
        return -errno;
    fcntl(L->backend_fd, F_SETFD, FD_CLOEXEC);
    EV_SET(&ch, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
    if (kevent(L->backend_fd, &ch, 1, NULL, 0, NULL) < 0) {
        int err = -errno;
        close(L->backend_fd);
        return err;
    }
    return 0;
}

static void asyncio__backend_close(asyncio_loop *L) { close(L->backend_fd); }

static void asyncio__backend_wake(asyncio_loop *L)
{
    struct kevent ch;
    EV_SET(&ch, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
    kevent(L->backend_fd, &ch, 1, NULL, 0, NULL);
}

/* EV_CLEAR: edge-triggered, like the epoll backend. */
static int asyncio__backend_add(asyncio_loop *L, int fd, unsigned gen)
{
    struct kevent ch[2];
    EV_SET(&ch[0], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, (void *)(uintptr_t)gen);
    EV_SET(&ch[1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, (void *)(uintptr_t)gen);
    return kevent(L->backend_fd, ch, 2, NULL, 0, NULL) < 0 ? -errno : 0;
}

static void asyncio__backend_del(asyncio_loop *L, int fd)
{
    struct kevent ch;
    /* one call each: kevent stops at the first failing change */
    EV_SET(&ch, fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
    kevent(L->backend_fd, &ch, 1, NULL, 0, NULL);
    EV_SET(&ch, fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
    kevent(L->backend_fd, &ch, 1, NULL, 0, NULL);
}

static int asyncio__backend_poll(asyncio_loop *L, long long timeout_ns)
{
    struct kevent ev[ASYNCIO__MAXEVENTS];
    struct timespec ts;
    int n, i;
    ts.tv_sec = timeout_ns / 1000000000LL;
    ts.tv_nsec = timeout_ns % 1000000000LL;
    n = kevent(L->backend_fd, NULL, 0, ev, ASYNCIO__MAXEVENTS, timeout_ns < 0 ? NULL : &ts);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (i = 0; i < n; i++) {
        unsigned events = ev[i].filter == EVFILT_WRITE ? ASYNCIO_WRITABLE : ASYNCIO_READABLE;
        if (ev[i].filter == EVFILT_USER) /* a wake-up: it has done its job */
            continue;
        if (ev[i].filter == EVFILT_PROC) { /* a child exited (section 14) */
            asyncio__process_kevent((struct asyncio_process *)ev[i].udata);
            continue;
        }
        /* EOF on the read side is readable (read returns 0); on the write
           side, or with an error, both directions must hear of it. */
        if ((ev[i].flags & EV_ERROR) || ((ev[i].flags & EV_EOF) && (ev[i].filter == EVFILT_WRITE || ev[i].fflags)))
            events |= ASYNCIO__ERR;
        else if (ev[i].flags & EV_EOF)
            events |= ASYNCIO__HUP;
        asyncio__fired_push(L, (int)ev[i].ident, (unsigned)(uintptr_t)ev[i].udata, events);
    }
    return n;
}

#define asyncio__backend_pending(L) 0
#define asyncio__backend_sending(L) 0
#define asyncio__backend_flush(L) ((void)0)
#define asyncio__backend_quiesce(L) ((void)0)
const char *asyncio_backend_name(void) { return "kqueue"; }

/* >>backend-poll ---------------------------------------------------------- */
#else
/* Other threads wake the loop through a self-pipe, always in the poll set. */
static int asyncio__backend_init(asyncio_loop *L)
{
    int i;
    L->timer_fd = -1;
    L->backend_fd = -1;
    if (pipe(L->wake_fd) < 0)
        return -errno;
    for (i = 0; i < 2; i++) {
        fcntl(L->wake_fd[i], F_SETFD, FD_CLOEXEC);
        fcntl(L->wake_fd[i], F_SETFL, O_NONBLOCK);
    }
    return 0;
}

static void asyncio__backend_close(asyncio_loop *L)
{
    close(L->wake_fd[0]);
    close(L->wake_fd[1]);
    ASYNCIO_FREE(L->cfg.alloc_ctx, L->backend_buf);
}

static void asyncio__backend_wake(asyncio_loop *L)
{
    char c = 0;
    if (write(L->wake_fd[1], &c, 1) < 0) { /* EAGAIN: a full pipe wakes it anyway */
    }
}
static int asyncio__backend_add(asyncio_loop *L, int fd, unsigned gen)
{
    (void)L, (void)fd, (void)gen;
    return 0;
}
static void asyncio__backend_del(asyncio_loop *L, int fd) { (void)L, (void)fd; }

/* poll(2) is level-triggered and asks only about fds someone waits on. */
static int asyncio__backend_poll(asyncio_loop *L, long long timeout_ns)
{
    struct pollfd *p;
    size_t fd, np = 0, k;
    int n, i;
    if (asyncio__reserve(L, &L->backend_buf, &L->capbackend, L->nfdwait + 1, sizeof *p) < 0)
        return -ENOMEM;
    p = (struct pollfd *)L->backend_buf;
    p[0].fd = L->wake_fd[0];
    p[0].events = POLLIN;
    p[0].revents = 0;
    np = 1;
    for (fd = 0; fd < L->capfds && np <= L->nfdwait; fd++) {
        asyncio__fd *e = &L->fds[fd];
        if (!e->added || !(e->waiter[0] || e->waiter[1]))
            continue;
        p[np].fd = (int)fd;
        p[np].events = (short)((e->waiter[0] ? POLLIN : 0) | (e->waiter[1] ? POLLOUT : 0));
        p[np++].revents = 0;
    }
#ifdef __linux__
    {
        struct timespec ts;
        ts.tv_sec = timeout_ns / 1000000000LL;
        ts.tv_nsec = timeout_ns % 1000000000LL;
        n = ppoll(p, (nfds_t)np, timeout_ns < 0 ? NULL : &ts, NULL);
    }
#else
    /* poll(2) counts milliseconds: round up, so a timer never fires early */
    n = poll(p, (nfds_t)np, timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000 > INT_MAX ? INT_MAX : (timeout_ns + 999999) / 1000000));
#endif
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (p[0].revents) {
        char buf[64];
        while (read(L->wake_fd[0], buf, sizeof buf) > 0)
            ;
    }
    /* More ready fds than a pass takes: the next pass starts where this
       one stopped, so that no connection waits on the fds before it. */
    for (k = 0; k + 1 < np && L->nfired < ASYNCIO__MAXEVENTS; k++) {
        unsigned events = 0;
        i = (int)(1 + (L->poll_next + k) % (np - 1));
        if (!p[i].revents)
            continue;
        if (p[i].revents & POLLIN)
            events |= ASYNCIO_READABLE;
        if (p[i].revents & POLLOUT)
            events |= ASYNCIO_WRITABLE;
        if (p[i].revents & (POLLERR | POLLHUP | POLLNVAL))
            events |= ASYNCIO__ERR;
        asyncio__fired_push(L, p[i].fd, L->fds[p[i].fd].gen, events);
    }
    L->poll_next = np > 1 ? (L->poll_next + k) % (np - 1) : 0;
    return n;
}

#define asyncio__backend_pending(L) 0
#define asyncio__backend_sending(L) 0
#define asyncio__backend_flush(L) ((void)0)
#define asyncio__backend_quiesce(L) ((void)0)
const char *asyncio_backend_name(void) { return "poll"; }
#endif

/* >>timers ---------------------------------------------------------------- */
/* Timers with the same deadline share a group: a FIFO list under one heap
   node.  Tasks that sleep for the same delay within one timer resolution (the
   usual case under load) then cost one list append each, equal deadlines
   fire in scheduling order for free, and the heap holds few nodes.  Groups
   are ordered by (when, seq); tcache maps a deadline to the newest group
   for it (in one of two slots, so that two busy deadlines sharing a slot
   do not evict each other), so a group never receives a timer after a
   younger group with its deadline exists -- FIFO holds across groups. */
struct asyncio__tgroup {
    asyncio__link list;
    long long when;
    unsigned long long seq;
    size_t idx;
};

static int asyncio__tless(const asyncio__tgroup *a, const asyncio__tgroup *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void asyncio__heap_set(asyncio_loop *L, size_t i, asyncio__tgroup *g)
{
    L->heap[i] = g;
    g->idx = i;
}

static void asyncio__heap_up(asyncio_loop *L, size_t i)
{
    asyncio__tgroup *g = L->heap[i];
    while (i > 0 && asyncio__tless(g, L->heap[(i - 1) / 2])) {
        asyncio__heap_set(L, i, L->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    asyncio__heap_set(L, i, g);
}

static void asyncio__heap_down(asyncio_loop *L, size_t i)
{
    asyncio__tgroup *g = L->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= L->nheap)
            break;
        if (c + 1 < L->nheap && asyncio__tless(L->heap[c + 1], L->heap[c]))
            c++;
        if (!asyncio__tless(L->heap[c], g))
            break;
        asyncio__heap_set(L, i, L->heap[c]);
        i = c;
    }
    asyncio__heap_set(L, i, g);
}

/* The two cache slots a deadline may use. */
static size_t asyncio__tslot(long long when, int which)
{
    unsigned long long h = (unsigned long long)when * 0x9E3779B97F4A7C15ull;
    return (size_t)(which ? (h >> 50) & 127 : h >> 57);
}

static void asyncio__tcache_forget(asyncio_loop *L, const asyncio__tgroup *g)
{
    size_t a = asyncio__tslot(g->when, 0), b = asyncio__tslot(g->when, 1);
    if (L->tcache[a] == g)
        L->tcache[a] = NULL;
    if (L->tcache[b] == g)
        L->tcache[b] = NULL;
}

static void asyncio__group_free(asyncio_loop *L, asyncio__tgroup *g)
{
    size_t i = g->idx;
    asyncio__tcache_forget(L, g);
    L->nheap--;
    if (i < L->nheap) {
        asyncio__heap_set(L, i, L->heap[L->nheap]);
        asyncio__heap_down(L, i);
        asyncio__heap_up(L, L->heap[i]->idx);
    }
    g->list.next = (asyncio__link *)(void *)L->tfree;
    L->tfree = g;
}

static asyncio__tgroup *asyncio__group_get(asyncio_loop *L, long long when)
{
    size_t a = asyncio__tslot(when, 0), b = asyncio__tslot(when, 1);
    asyncio__tgroup *g;
    if (L->tcache[a] && L->tcache[a]->when == when)
        return L->tcache[a];
    if (L->tcache[b] && L->tcache[b]->when == when)
        return L->tcache[b];
    if (asyncio__reserve(L, (void **)&L->heap, &L->capheap, L->nheap + 1, sizeof *L->heap) < 0)
        return NULL;
    if (!L->tfree) {
        enum { CHUNK = 256 };
        asyncio__tgroup *chunk;
        size_t i, cap = L->ntchunks;
        if (asyncio__reserve(L, (void **)&L->tchunks, &cap, L->ntchunks + 1, sizeof *L->tchunks) < 0)
            return NULL;
        chunk = (asyncio__tgroup *)ASYNCIO_REALLOC(L->cfg.alloc_ctx, NULL, CHUNK * sizeof *chunk);
        if (!chunk)
            return NULL;
        L->tchunks[L->ntchunks++] = chunk;
        for (i = 0; i < CHUNK; i++) {
            chunk[i].list.next = (asyncio__link *)(void *)L->tfree;
            L->tfree = &chunk[i];
        }
    }
    g = L->tfree;
    L->tfree = (asyncio__tgroup *)(void *)g->list.next;
    asyncio__list_init(&g->list);
    g->when = when;
    g->seq = L->timer_seq++;
    L->heap[L->nheap] = g;
    g->idx = L->nheap++;
    asyncio__heap_up(L, g->idx);
    /* evict the older group: the newest ones are the deadlines in use */
    if (L->tcache[a] && (!L->tcache[b] || L->tcache[b]->seq < L->tcache[a]->seq))
        a = b;
    L->tcache[a] = g;
    return g;
}

/* Schedule f (a task or handle) to enter the ready queue at `when`. */
static int asyncio__timer_add(asyncio_loop *L, asyncio_future *f, long long when)
{
    asyncio__tgroup *g = asyncio__group_get(L, when);
    if (!g)
        return -ENOMEM;
    asyncio__list_push(&g->list, &f->link);
    f->state |= ASYNCIO__F_LINKED | ASYNCIO__F_TIMER;
    return 0;
}

/* Take f off the ready queue or its timer list. */
static void asyncio__unlink(asyncio_loop *L, asyncio_future *f)
{
    asyncio__link *prev = f->link.prev, *next = f->link.next;
    prev->next = next;
    next->prev = prev;
    f->state &= ~(ASYNCIO__F_LINKED | ASYNCIO__F_TIMER);
    /* Only a sentinel points to itself: an emptied timer group goes away. */
    if (prev->next == prev && prev != &L->ready && prev != &L->running)
        asyncio__group_free(L, (asyncio__tgroup *)(void *)prev);
}

static void asyncio__enqueue(asyncio_loop *L, asyncio_future *f)
{
    asyncio__list_push(&L->ready, &f->link);
    f->state |= ASYNCIO__F_LINKED;
}

/* Move every timer due at `now` to the ready queue, in (when, seq) order.
   A whole group moves in O(1): its members keep F_TIMER until they are
   popped, so a task cancelled in between is moved to the back of the
   queue -- it still runs exactly once, an iteration later, as it would
   in CPython, where a timer only schedules the task's wake-up. */
static void asyncio__fire_timers(asyncio_loop *L, long long now)
{
    while (L->nheap && L->heap[0]->when <= now) {
        asyncio__tgroup *g = L->heap[0];
        asyncio__list_splice(&L->ready, &g->list);
        asyncio__group_free(L, g);
    }
}

/* >>future ---------------------------------------------------------------- */
/* waiters: 0, a task (tag 0), a shared hook (tag 1), or a vector (tag 2). */
#define ASYNCIO__W_HOOK 1u
#define ASYNCIO__W_VEC 2u
typedef struct asyncio__wvec {
    size_t n, cap;
    uintptr_t e[1];
} asyncio__wvec;

/* A user's done-callback, as a hook the loop allocated. */
typedef struct asyncio__usercb {
    asyncio__waiter hook;
    asyncio_done_fn fn;
    void *arg;
} asyncio__usercb;

static void asyncio__future_setup(asyncio_future *f, asyncio_loop *L, int kind)
{
    memset(f, 0, sizeof *f);
    f->loop = L;
    f->kind = (unsigned char)kind;
#if ASYNCIO_DEBUG
    f->magic = ASYNCIO__MAGIC;
#endif
}

void asyncio_future_init(asyncio_future *fut, asyncio_loop *loop)
{
    ASYNCIO_ASSERT(fut != NULL && loop != NULL);
    asyncio__future_setup(fut, loop, ASYNCIO__K_FUTURE);
}

/* Complete f and schedule its waiters through the ready queue. */
static void asyncio__complete(asyncio_future *f, int state, int err)
{
    ASYNCIO__CHECK_THREAD(f->loop);
    f->state = (unsigned char)((f->state & ~ASYNCIO__S_MASK) | state);
    f->x.err = err;
    if (f->waiters && !(f->state & ASYNCIO__F_LINKED))
        asyncio__enqueue(f->loop, f);
}

static int asyncio__add_waiter(asyncio_future *f, uintptr_t w)
{
    asyncio_loop *L = f->loop;
    if (!f->waiters)
        f->waiters = w;
    else {
        asyncio__wvec *v;
        if (f->waiters & ASYNCIO__W_VEC)
            v = (asyncio__wvec *)(f->waiters & ~(uintptr_t)3);
        else {
            v = (asyncio__wvec *)asyncio__alloc(L, sizeof *v + 3 * sizeof(uintptr_t));
            if (!v)
                return -ENOMEM;
            v->cap = 4;
            v->n = 1;
            v->e[0] = f->waiters;
            f->waiters = (uintptr_t)v | ASYNCIO__W_VEC;
        }
        if (v->n == v->cap) {
            asyncio__wvec *nv = (asyncio__wvec *)asyncio__alloc(L, sizeof *v + (2 * v->cap - 1) * sizeof(uintptr_t));
            if (!nv)
                return -ENOMEM;
            memcpy(nv->e, v->e, v->n * sizeof(uintptr_t));
            nv->n = v->n;
            nv->cap = 2 * v->cap;
            asyncio__release(L, v);
            v = nv;
            f->waiters = (uintptr_t)v | ASYNCIO__W_VEC;
        }
        v->e[v->n++] = w;
    }
    /* A done future calls a late waiter soon, never inline (CPython). */
    if (asyncio__state(f) != ASYNCIO__S_PENDING && !(f->state & ASYNCIO__F_LINKED))
        asyncio__enqueue(L, f);
    return 0;
}

/* Remove every registration of w not yet run; returns how many. */
static int asyncio__remove_waiter(asyncio_future *f, uintptr_t w)
{
    int removed = 0;
    if (f->waiters == w) {
        f->waiters = 0;
        return 1;
    }
    if (f->waiters & ASYNCIO__W_VEC) {
        asyncio__wvec *v = (asyncio__wvec *)(f->waiters & ~(uintptr_t)3);
        size_t i, j = 0;
        for (i = 0; i < v->n; i++) {
            if (v->e[i] == w)
                removed++;
            else
                v->e[j++] = v->e[i];
        }
        v->n = j;
    }
    return removed;
}

static void asyncio__task_step(asyncio_loop *L, asyncio_task *t);
static int asyncio__frame_line(const asyncio_coro *co);
static void asyncio__slow(asyncio_loop *L, long long dt, const asyncio_task *t, int resumed_at, int rc);
static void asyncio__unseen_finish(asyncio_loop *L, asyncio_task *t, int rc);
static void asyncio__seen_ahead(const asyncio_future *f);
static void asyncio__unseen_report(asyncio_loop *L, const void *task);
static void asyncio__seen(const asyncio_future *f);

static void asyncio__call_waiter(asyncio_future *f, uintptr_t w)
{
    if (w & ASYNCIO__W_HOOK) {
        asyncio__waiter *hook = (asyncio__waiter *)(w & ~(uintptr_t)3);
        hook->fn(hook, f);
    } else {
        asyncio_task *t = (asyncio_task *)w;
        if ((t->fut.state & ASYNCIO__F_AWAITING) && t->fut.u.awaits == f)
            asyncio__task_step(f->loop, t);
    }
}

/* Run f's waiters, detached first: each runs exactly once, and one that
   registers again (or frees f) does not disturb the walk. */
static void asyncio__run_waiters(asyncio_future *f)
{
    asyncio_loop *L = f->loop;
    uintptr_t w = f->waiters;
    f->waiters = 0;
    if (w & ASYNCIO__W_VEC) {
        asyncio__wvec *v = (asyncio__wvec *)(w & ~(uintptr_t)3);
        size_t i;
        for (i = 0; i < v->n; i++)
            asyncio__call_waiter(f, v->e[i]);
        asyncio__release(L, v);
    } else if (w)
        asyncio__call_waiter(f, w);
}

int asyncio_future_set_result(asyncio_future *fut, asyncio_value value)
{
    ASYNCIO__CHECK(fut);
    if (fut->kind == ASYNCIO__K_TASK)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "set_result: a Task's result is its coroutine's to set");
    if (asyncio__state(fut) != ASYNCIO__S_PENDING)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "set_result: the future is already done");
    fut->u.value = value;
    asyncio__complete(fut, ASYNCIO__S_DONE, 0);
    return 0;
}

int asyncio_future_set_error(asyncio_future *fut, int err, const char *msg)
{
    ASYNCIO__CHECK(fut);
    if (err >= 0)
        return asyncio__fail(-EINVAL, "set_error: the error code must be negative");
    if (fut->kind == ASYNCIO__K_TASK)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "set_error: a Task's outcome is its coroutine's to set");
    if (asyncio__state(fut) != ASYNCIO__S_PENDING)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "set_error: the future is already done");
    fut->u.msg = msg ? asyncio__keep(fut->loop, msg) : asyncio_strerror(err);
    asyncio__complete(fut, ASYNCIO__S_DONE, err);
    return 0;
}

static void asyncio__cancel_plain(asyncio_future *f)
{
    f->u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
    asyncio__complete(f, ASYNCIO__S_CANCELLED, ASYNCIO_ECANCELLED);
}

static int asyncio__gather_cancel(asyncio_gather_t *g);
static int asyncio__work_cancel(asyncio_work *w);
static void asyncio__detach_hooks(asyncio_future *const *futs, size_t n, asyncio__waiter *hook);

int asyncio_future_cancel(asyncio_future *fut)
{
    ASYNCIO__CHECK(fut);
    if (asyncio__state(fut) != ASYNCIO__S_PENDING)
        return 0;
    switch (fut->kind) {
    case ASYNCIO__K_TASK:
        return asyncio_task_cancel((asyncio_task *)fut);
    case ASYNCIO__K_HANDLE:
        return asyncio_handle_cancel((asyncio_handle *)fut);
    case ASYNCIO__K_GATHER:
        return asyncio__gather_cancel((asyncio_gather_t *)fut);
    case ASYNCIO__K_WAIT: {
        asyncio_wait_t *w = (asyncio_wait_t *)fut;
        asyncio_handle_cancel(&w->timer);
        asyncio__detach_hooks(w->futs, w->n, &w->hook);
        break;
    }
    case ASYNCIO__K_ASCOMPLETED: {
        asyncio_as_completed_t *ac = (asyncio_as_completed_t *)fut;
        ac->waiting = 0;
        break;
    }
    case ASYNCIO__K_SHIELD: {
        asyncio_shield_t *s = (asyncio_shield_t *)fut;
        asyncio__remove_waiter(s->inner, (uintptr_t)&s->hook | ASYNCIO__W_HOOK);
        break;
    }
    case ASYNCIO__K_WORK:
        if (!asyncio__work_cancel((asyncio_work *)fut))
            return 0;
        break;
    default:
        break;
    }
    asyncio__cancel_plain(fut);
    return 1;
}

int asyncio_future_done(const asyncio_future *fut)
{
    ASYNCIO__CHECK(fut);
    return asyncio__state(fut) != ASYNCIO__S_PENDING;
}

int asyncio_future_cancelled(const asyncio_future *fut)
{
    ASYNCIO__CHECK(fut);
    return asyncio__state(fut) == ASYNCIO__S_CANCELLED;
}

int asyncio_future_error(const asyncio_future *fut)
{
    ASYNCIO__CHECK(fut);
    if (asyncio__state(fut) == ASYNCIO__S_PENDING)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "Exception is not set.");
    asyncio__seen(fut);
    return fut->x.err;
}

const char *asyncio_future_errmsg(const asyncio_future *fut)
{
    ASYNCIO__CHECK(fut);
    if (asyncio__state(fut) != ASYNCIO__S_PENDING)
        asyncio__seen(fut);
    return asyncio__state(fut) == ASYNCIO__S_PENDING
               ? asyncio_strerror(ASYNCIO_EINVALIDSTATE)
               : fut->x.err ? fut->u.msg : NULL;
}

int asyncio_future_result(const asyncio_future *fut, asyncio_value *value)
{
    int err = asyncio_future_error(fut);
    if (err == 0 && value)
        *value = fut->u.value;
    else if (err == ASYNCIO_EINVALIDSTATE && asyncio__state(fut) == ASYNCIO__S_PENDING)
        return asyncio__fail(err, "Result is not set.");
    else if (err)
        return asyncio__fail(err, fut->u.msg); /* Python raises the future's exception */
    return err;
}

static void asyncio__usercb_run(asyncio__waiter *hook, asyncio_future *f)
{
    asyncio__usercb *cb = (asyncio__usercb *)hook;
    asyncio_done_fn fn = cb->fn;
    void *arg = cb->arg;
    asyncio__release(f->loop, cb);
    fn(f, arg);
}

int asyncio_future_add_done_callback(asyncio_future *fut, asyncio_done_fn fn, void *arg)
{
    asyncio__usercb *cb;
    ASYNCIO__CHECK(fut);
    ASYNCIO_ASSERT(fn != NULL);
    cb = (asyncio__usercb *)asyncio__alloc(fut->loop, sizeof *cb);
    if (!cb)
        return asyncio__fail(-ENOMEM, "add_done_callback: no memory");
    cb->hook.fn = asyncio__usercb_run;
    cb->fn = fn;
    cb->arg = arg;
    if (asyncio__add_waiter(fut, (uintptr_t)cb | ASYNCIO__W_HOOK) < 0) {
        asyncio__release(fut->loop, cb);
        return asyncio__fail(-ENOMEM, "add_done_callback: no memory");
    }
    return 0;
}

static int asyncio__is_usercb(uintptr_t w, asyncio_done_fn fn, void *arg)
{
    asyncio__usercb *cb = (asyncio__usercb *)(w & ~(uintptr_t)3);
    return (w & 3) == ASYNCIO__W_HOOK && cb->hook.fn == asyncio__usercb_run && cb->fn == fn && cb->arg == arg;
}

int asyncio_future_remove_done_callback(asyncio_future *fut, asyncio_done_fn fn, void *arg)
{
    int removed = 0;
    ASYNCIO__CHECK(fut);
    if (fut->waiters & ASYNCIO__W_VEC) {
        asyncio__wvec *v = (asyncio__wvec *)(fut->waiters & ~(uintptr_t)3);
        size_t i, j = 0;
        for (i = 0; i < v->n; i++) {
            if (asyncio__is_usercb(v->e[i], fn, arg)) {
                asyncio__release(fut->loop, (void *)(v->e[i] & ~(uintptr_t)3));
                removed++;
            } else
                v->e[j++] = v->e[i];
        }
        v->n = j;
    } else if (fut->waiters && asyncio__is_usercb(fut->waiters, fn, arg)) {
        asyncio__release(fut->loop, (void *)(fut->waiters & ~(uintptr_t)3));
        fut->waiters = 0;
        removed = 1;
    }
    return removed;
}

/* >>frames ---------------------------------------------------------------- */
/* A coroutine running an inline child (ASYNCIO_AWAIT_CORO, or a
   generator it steps) keeps the child's frame in co.child, as a distance
   from its own frame: bit 0 marks a generator being closed, bit 1 a child
   too far away for the int, whose address then waits in the loop's `far`
   table (frames are at least 4-aligned, so distances leave both bits
   free).  ASYNCIO_AWAIT_CORO evaluates its child expression once, when it
   starts; every resumption finds the child here. */
#define ASYNCIO__CHILD_CLOSING 1
#define ASYNCIO__CHILD_FAR 2

typedef struct asyncio__far {
    const asyncio_coro *co;
    asyncio_coro *child;
} asyncio__far;

static void asyncio__child_forget(asyncio_loop *L, asyncio_coro *co)
{
    size_t i;
    if (co->child & ASYNCIO__CHILD_FAR)
        for (i = 0; i < L->nfar; i++)
            if (L->far[i].co == co) {
                L->far[i] = L->far[--L->nfar];
                break;
            }
    co->child = 0;
}

/* Record child (and the closing mark); 0, or -ENOMEM for a far child
   with no room in the table (co.child then says FAR, with no entry). */
static int asyncio__child_set(asyncio_loop *L, asyncio_coro *co, asyncio_coro *child, int closing)
{
    intptr_t d = (intptr_t)((uintptr_t)child - (uintptr_t)co);
    asyncio__child_forget(L, co);
    if (d > -(intptr_t)0x40000000 && d < (intptr_t)0x40000000 && d != 0) {
        co->child = (int)d | closing;
        return 0;
    }
    co->child = ASYNCIO__CHILD_FAR | closing;
    if (asyncio__reserve(L, (void **)&L->far, &L->capfar, L->nfar + 1, sizeof *L->far) < 0)
        return -ENOMEM;
    L->far[L->nfar].co = co;
    L->far[L->nfar++].child = child;
    return 0;
}

static asyncio_coro *asyncio__child_get(const asyncio_loop *L, const asyncio_coro *co)
{
    size_t i;
    if (!(co->child & ASYNCIO__CHILD_FAR))
        return co->child ? (asyncio_coro *)(void *)((char *)(uintptr_t)co + (co->child & ~3)) : NULL;
    for (i = 0; i < L->nfar; i++)
        if (L->far[i].co == co)
            return L->far[i].child;
    return NULL;
}

void asyncio__child_begin_any(asyncio_task *self, asyncio_coro *co, asyncio_coro *child)
{
    asyncio__child_set(self->fut.loop, co, child, 0);
}

int asyncio__child_step_any(asyncio_task *self, asyncio_coro *co, asyncio_fn fn)
{
    asyncio_loop *L = self->fut.loop;
    asyncio_coro *child = asyncio__child_get(L, co);
    int rc;
    if (!child) {
        co->child = 0;
        self->fut.u.msg = "no memory to await a child coroutine that is far from its parent's frame";
        return -ENOMEM;
    }
    if ((rc = fn(self, child)) != ASYNCIO_PENDING)
        asyncio__child_forget(L, co);
    return rc;
}

/* ASYNCIO_FINALLY_ASYNC: the body's outcome waits in the frame. */
void asyncio__cleanup_enter(asyncio_task *self, asyncio_finally *state, int rc)
{
    state->rc = rc;
    state->saved = self->fut.u.value; /* the result, or the message */
}

int asyncio__cleanup_leave(asyncio_task *self, asyncio_finally *state)
{
    self->fut.u.value = state->saved;
    return state->rc;
}

int asyncio_finally_pending(const asyncio_finally *state) { return state->rc; }

void asyncio__caught(asyncio_task *self)
{
    asyncio__pmap_put(self->fut.loop, &self->fut.loop->errmsgs, self, self->fut.u.msg);
}

/* A task the coroutine started for an await (ASYNCIO_WAIT_FOR_CORO): 0,
   or why it could not. */
int asyncio__spawned(asyncio_task *self, const asyncio_task *task)
{
    if (task)
        return 0;
    self->fut.u.msg = asyncio__keep(self->fut.loop, asyncio_errmsg());
    asyncio__caught(self);
    return self->fut.loop->closed ? ASYNCIO_ELOOPCLOSED : -ENOMEM;
}

const char *asyncio__errmsg(asyncio_task *self)
{
    asyncio_loop *L = self->fut.loop;
    const char *kept = L->errmsgs.n ? (const char *)asyncio__pmap_get(&L->errmsgs, self) : NULL;
    return kept ? kept : self->fut.u.msg;
}

/* The switch flavour resumes with `switch (lc)`: a resume point inside a
   switch of the body's own is a case of that switch, out of reach, and
   the dispatch falls to the end. */
int asyncio__lost_resume(asyncio_task *self, const char *file, long key)
{
    asyncio_loop *L = self->fut.loop;
    char msg[400];
    snprintf(msg, sizeof msg,
             "%s:%ld: coroutine '%s' cannot resume there: it suspended inside a switch of its own (suspend "
             "outside the switch, or build with ASYNCIO_LABELS=1)",
             file, key, asyncio_task_name(self));
    L->cfg.warn(L->cfg.warn_ctx, msg);
    self->fut.u.msg = "coroutine resumed inside a switch of its own: the resume point is out of reach "
                      "(see ASYNCIO_LABELS)";
    return ASYNCIO_EINVALIDSTATE;
}

void asyncio__check_frame(asyncio_task *self, const void *co, const void *frame)
{
    ASYNCIO__CHECK(&self->fut);
    ASYNCIO_ASSERT(co == frame); /* asyncio_coro must be the frame's first member */
    (void)self;
    (void)co;
    (void)frame;
}

/* >>task ------------------------------------------------------------------ */
static void asyncio__fd_unwait(asyncio_loop *L, asyncio_future *w);

/* A finished task leaves a hole rather than moving another task into its
   slot: touching a random live task per completion costs a cache miss.
   Holes are squeezed out once they are half the registry. */
static void asyncio__registry_remove(asyncio_loop *L, asyncio_task *t)
{
    size_t i, j = 0;
    L->tasks[t->fut.x.reg] = NULL;
    if (++L->nfinished < 64 || L->nfinished < L->ntasks / 2)
        return;
    for (i = 0; i < L->ntasks; i++)
        if (L->tasks[i]) {
            L->tasks[j] = L->tasks[i];
            L->tasks[j]->fut.x.reg = (unsigned)j;
            j++;
        }
    L->ntasks = j;
    L->nfinished = 0;
}

#if ASYNCIO_DEBUG
/* A debug build's word on a misuse it caught, with where the task was
   created, before the assertion stops the program. */
static void asyncio__misuse(asyncio_loop *L, const asyncio_task *t, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s:%d: task '%s' %s", t->file, t->line, asyncio_task_name(t), what);
    L->cfg.warn(L->cfg.warn_ctx, msg);
}
#endif

static void asyncio__task_finish(asyncio_task *t, int rc)
{
    asyncio_loop *L = t->fut.loop;
#if ASYNCIO_DEBUG
    if (t->groups) {
        asyncio__misuse(L, t, "ended inside a TaskGroup it never exited (asyncio_taskgroup_wait on "
                              "asyncio_taskgroup_exit): its children would use the group's memory after it");
        ASYNCIO_ASSERT(!t->groups);
    }
    asyncio__pmap_put(L, &L->frames, t->frame, NULL);
#endif
    if (L->errmsgs.n)
        asyncio__pmap_put(L, &L->errmsgs, t, NULL);
    asyncio__registry_remove(L, t);
    if (rc == 0 && (t->fut.state & ASYNCIO__F_CANCEL)) {
        /* cancelled while it ran and then returned: cancelled, its value
           dropped (CPython 3.11+: _must_cancel at StopIteration) */
        t->fut.u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
        rc = ASYNCIO_ECANCELLED;
    }
    t->fut.state &= ~(ASYNCIO__F_CANCEL | ASYNCIO__F_AWAITING);
    if (rc > 0) { /* a body that returned something other than the macros' codes */
        t->fut.u.msg = "coroutine returned a code that is not an error (a generator run as a task?)";
        rc = -EINVAL;
    }
    L->m_finished++;
    if ((rc < 0 && rc != ASYNCIO_ECANCELLED) || L->unseen.n)
        asyncio__unseen_finish(L, t, rc);
    asyncio__complete(&t->fut, rc == ASYNCIO_ECANCELLED ? ASYNCIO__S_CANCELLED : ASYNCIO__S_DONE, rc);
}

static void asyncio__task_step(asyncio_loop *L, asyncio_task *t)
{
    int rc;
    t->fut.state &= ~ASYNCIO__F_AWAITING;
    if ((t->fut.state & ASYNCIO__F_CANCEL) && !((asyncio_coro *)t->frame)->lc) {
        /* cancelled before its first step: the body never runs */
        t->fut.u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
        rc = ASYNCIO_ECANCELLED;
    } else {
        L->current = t;
        L->m_steps++;
        if (L->slow_ns) { /* timed: cfg.slow_callback_duration */
            long long t0 = asyncio__step_clock_ns();
            int resumed_at = asyncio__frame_line((const asyncio_coro *)t->frame);
            rc = t->fn(t, t->frame);
            if ((t0 = asyncio__step_clock_ns() - t0) > L->worst_step_ns || t0 >= L->slow_ns)
                asyncio__slow(L, t0, t, resumed_at, rc);
        } else
            rc = t->fn(t, t->frame);
        L->current = NULL;
        if (rc == ASYNCIO_PENDING)
            return;
    }
    asyncio__task_finish(t, rc);
}

asyncio_task *asyncio_task_create_at(asyncio_loop *loop, asyncio_task *storage, asyncio_fn fn, void *frame,
                                     const char *name, const char *file, int line)
{
    asyncio_task *t = storage;
    ASYNCIO_ASSERT(loop != NULL && fn != NULL && frame != NULL);
    ASYNCIO__CHECK_THREAD(loop);
    if (loop->closed)
        return asyncio__fail(ASYNCIO_ELOOPCLOSED, "create_task: Event loop is closed"), (asyncio_task *)NULL;
    if (storage && loop->unseen.n) /* its last task's error goes unread for good */
        asyncio__unseen_report(loop, storage);
    if (asyncio__reserve(loop, (void **)&loop->tasks, &loop->captasks, loop->ntasks + 1, sizeof *loop->tasks) < 0 ||
        (!t && !(t = (asyncio_task *)asyncio__alloc(loop, sizeof *t))))
        return asyncio__fail(-ENOMEM, "create_task: no memory"), (asyncio_task *)NULL;
    asyncio__future_setup(&t->fut, loop, ASYNCIO__K_TASK);
    if (!storage)
        t->fut.state |= ASYNCIO__F_OWNED;
    t->fn = fn;
    t->frame = frame;
    t->name = name;
    loop->m_created++;
#if ASYNCIO_DEBUG
    t->file = file;
    t->line = line;
#else
    (void)file;
    (void)line;
#endif
#if ASYNCIO_DEBUG
    t->groups = 0;
    {
        const asyncio_task *other = (const asyncio_task *)asyncio__pmap_get(&loop->frames, frame);
        if (other) {
            asyncio__misuse(loop, other, "still runs on the frame a new task was given");
            ASYNCIO_ASSERT(!"a frame reused while its task is pending");
        }
        asyncio__pmap_put(loop, &loop->frames, frame, t);
    }
#endif
    ((asyncio_coro *)frame)->lc = 0;
    asyncio__child_forget(loop, (asyncio_coro *)frame);
    t->fut.x.reg = (unsigned)loop->ntasks;
    loop->tasks[loop->ntasks++] = t;
    asyncio__enqueue(loop, &t->fut);
    return t;
}

int asyncio_task_cancel(asyncio_task *task)
{
    asyncio_future *f = &task->fut;
    ASYNCIO__CHECK(f);
    if (asyncio__state(f) != ASYNCIO__S_PENDING)
        return 0;
    if (f->ncancel < USHRT_MAX)
        f->ncancel++;
    if (f->state & ASYNCIO__F_AWAITING) {
        /* CPython: cancel what the task waits on; only if that fails, mark
           the task to raise at its next step. */
        if (asyncio_future_cancel(f->u.awaits) == 1)
            return 1;
    } else if (f->state & ASYNCIO__F_TIMER) {
        asyncio__unlink(f->loop, f);
        asyncio__enqueue(f->loop, f);
    } else if (f->state & ASYNCIO__F_INSLOT) {
        if (ASYNCIO__IS_PARKED(f->u.value.i)) { /* leaves no trace in the wait list */
            f->link.prev->next = f->link.next;
            f->link.next->prev = f->link.prev;
            f->state &= ~ASYNCIO__F_INSLOT;
        } else
            asyncio__fd_unwait(f->loop, f);
        asyncio__enqueue(f->loop, f);
    }
    f->state |= ASYNCIO__F_CANCEL;
    return 1;
}

int asyncio_task_cancelling(const asyncio_task *task)
{
    ASYNCIO__CHECK(&task->fut);
    return task->fut.ncancel;
}

int asyncio_task_uncancel(asyncio_task *task)
{
    ASYNCIO__CHECK(&task->fut);
    if (task->fut.ncancel > 0)
        task->fut.ncancel--;
    return task->fut.ncancel;
}

const char *asyncio_task_name(const asyncio_task *task)
{
    ASYNCIO__CHECK(&task->fut);
    return task->name ? task->name : "Task";
}

void asyncio_task_set_name(asyncio_task *task, const char *name)
{
    ASYNCIO__CHECK(&task->fut);
    task->name = name;
}

int asyncio_task_free(asyncio_task *task)
{
    ASYNCIO__CHECK(&task->fut);
    if (!(task->fut.state & ASYNCIO__F_OWNED))
        return asyncio__fail(-EINVAL, "task_free: the task is in your storage, not the loop's");
    if (asyncio__state(&task->fut) == ASYNCIO__S_PENDING || (task->fut.state & ASYNCIO__F_LINKED))
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "task_free: the task is still pending");
    asyncio__unseen_report(task->fut.loop, task);
    asyncio__release(task->fut.loop, task);
    return 0;
}

asyncio_task *asyncio_current_task(const asyncio_loop *loop) { return loop->current; }

size_t asyncio_all_tasks(const asyncio_loop *loop, asyncio_task **out, size_t cap)
{
    size_t i, n = 0;
    for (i = 0; i < loop->ntasks; i++)
        if (loop->tasks[i] && n++ < cap && out)
            out[n - 1] = loop->tasks[i];
    return n;
}

/* The coroutine side of awaiting: begin registers the task and suspends
   unless fut is already done; end reads the outcome into the task's
   result register.  Cancellation asked for while the task ran is
   delivered here, at its next await, by cancelling what it awaits. */
static int asyncio__take_outcome(asyncio_task *self, const asyncio_future *fut)
{
    asyncio__seen(fut);
    if (asyncio__state(fut) == ASYNCIO__S_CANCELLED) {
        self->fut.u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
        return ASYNCIO_ECANCELLED;
    }
    if (fut->x.err) {
        self->fut.u.msg = fut->u.msg;
        return fut->x.err;
    }
    self->fut.u.value = fut->u.value;
    return 0;
}

int asyncio__await_begin(asyncio_task *self, asyncio_future *fut)
{
    ASYNCIO__CHECK(&self->fut);
    ASYNCIO__CHECK(fut);
    if (asyncio__state(fut) != ASYNCIO__S_PENDING)
        return asyncio__take_outcome(self, fut);
    if (fut == &self->fut) {
        self->fut.u.msg = "a task cannot await itself";
        return -EDEADLK;
    }
    if (asyncio__add_waiter(fut, (uintptr_t)self) < 0) {
        self->fut.u.msg = asyncio_strerror(-ENOMEM);
        return -ENOMEM;
    }
    self->fut.u.awaits = fut;
    self->fut.state |= ASYNCIO__F_AWAITING;
    if ((self->fut.state & ASYNCIO__F_CANCEL) && asyncio_future_cancel(fut) == 1)
        self->fut.state &= ~ASYNCIO__F_CANCEL;
    return ASYNCIO_PENDING;
}

int asyncio__await_end(asyncio_task *self)
{
    asyncio_future *fut = self->fut.u.awaits; /* so the macro evaluates its argument once */
    if (self->fut.state & ASYNCIO__F_CANCEL) {
        self->fut.state &= ~ASYNCIO__F_CANCEL;
        /* the wake-up came from elsewhere: stop listening to fut */
        if (asyncio__state(fut) == ASYNCIO__S_PENDING)
            asyncio__remove_waiter(fut, (uintptr_t)self);
        self->fut.u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
        return ASYNCIO_ECANCELLED;
    }
    return asyncio__take_outcome(self, fut);
}

int asyncio__sleep_begin(asyncio_task *self, double secs)
{
    asyncio_loop *L = self->fut.loop;
    long long ns;
    int rc;
    ASYNCIO__CHECK(&self->fut);
    if (asyncio__secs_to_ns(secs, &ns) < 0) {
        self->fut.u.msg = "sleep: delay is NaN";
        return -EINVAL;
    }
    if (ns == 0 || (self->fut.state & ASYNCIO__F_CANCEL))
        asyncio__enqueue(L, &self->fut);
    else if ((rc = asyncio__timer_add(L, &self->fut, asyncio__deadline(L, ns))) < 0) {
        self->fut.u.msg = asyncio_strerror(rc);
        return rc;
    } else
        self->fut.u.value.i = asyncio__deadline(L, ns); /* for the await tree */
    return ASYNCIO_PENDING;
}

int asyncio__sleep_end(asyncio_task *self)
{
    if (self->fut.state & ASYNCIO__F_CANCEL) {
        self->fut.state &= ~ASYNCIO__F_CANCEL;
        self->fut.u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
        return ASYNCIO_ECANCELLED;
    }
    self->fut.u.value.i = 0;
    return 0;
}

int asyncio__raise_code(asyncio_task *self, int err, const char *msg)
{
    ASYNCIO_ASSERT(err < 0);
    if (err >= 0)
        err = -EINVAL;
    self->fut.u.msg = msg ? asyncio__keep(self->fut.loop, msg) : asyncio_strerror(err);
    return err;
}

/* >>generators ------------------------------------------------------------ */
/* A generator's state is its resume point: 0 not started, ASYNCIO__LC_DONE
   finished or closed, anything else suspended at a yield (or in an
   await).  A started generator is in the loop's registry, with the
   coroutine that started it, until it finishes: so the loop can close
   the ones their owner left open (CPython's asyncgen finalizer) and
   asyncio_run the ones left at the end (shutdown_asyncgens). */
#define ASYNCIO__LC_DONE ((asyncio__lc)(intptr_t)-2)

typedef struct asyncio__gen {
    asyncio_coro *gen;
    asyncio_fn fn;
    asyncio_coro *owner; /* NULL once abandoned: a closer has it */
} asyncio__gen;

static asyncio__gen *asyncio__gen_find(asyncio_loop *L, const asyncio_coro *g)
{
    size_t i = L->ngens;
    while (i-- > 0)
        if (L->gens[i].gen == g)
            return &L->gens[i];
    return NULL;
}

static void asyncio__gen_unregister(asyncio_loop *L, const asyncio_coro *g)
{
    asyncio__gen *e = asyncio__gen_find(L, g);
    if (e)
        *e = L->gens[--L->ngens];
    if (!L->ngens && L->gens_drained && !asyncio_future_done(L->gens_drained))
        asyncio_future_set_result(L->gens_drained, asyncio_int(0));
}

/* The generator a send, throw or close is about to step. */
static void asyncio__gen_arm(asyncio_task *self, asyncio_coro *co, asyncio_coro *g, int closing)
{
    asyncio__child_set(self->fut.loop, co, g, closing);
}

/* The next step of g resumes its pending yield with err (close, athrow). */
static void asyncio__gen_throw_in(asyncio_loop *L, asyncio_coro *g, int err, const char *msg)
{
    L->gen_throw_to = g;
    L->gen_throw_err = err;
    L->gen_throw_msg = msg ? msg : asyncio_strerror(err);
}

void asyncio__gen_start(asyncio_task *self, asyncio_coro *co, asyncio_coro *g)
{
    asyncio_loop *L = self->fut.loop;
    if (g->lc && g->lc != ASYNCIO__LC_DONE && asyncio__gen_find(L, g)) {
        /* a new `async for` on the frame of one still open: that one is gone */
        L->cfg.warn(L->cfg.warn_ctx, "async for restarted a generator frame whose generator was still open: its "
                                     "cleanup will not run");
        asyncio__gen_unregister(L, g);
    }
    g->lc = 0;
    g->child = 0;
    asyncio__child_forget(L, co);
}

int asyncio__gen_over(const asyncio_coro *g) { return g->lc == ASYNCIO__LC_DONE; }

int asyncio__gen_send(asyncio_task *self, asyncio_coro *co)
{
    asyncio__child_forget(self->fut.loop, co);
    return 0;
}

int asyncio__gen_throw(asyncio_task *self, asyncio_coro *co, asyncio_coro *g, int err, const char *msg)
{
    asyncio_loop *L = self->fut.loop;
    if (err >= 0)
        err = -EINVAL;
    if (g->lc == ASYNCIO__LC_DONE) { /* finished: athrow is a no-op (CPython) */
        asyncio__gen_arm(self, co, g, ASYNCIO__CHILD_CLOSING);
        return 0;
    }
    asyncio__gen_arm(self, co, g, 0);
    if (!g->lc) /* never started: it finishes with the error at once */
        g->lc = ASYNCIO__LC_DONE;
    asyncio__gen_throw_in(L, g, err, msg);
    return 0;
}

int asyncio__gen_close(asyncio_task *self, asyncio_coro *co, asyncio_coro *g)
{
    asyncio__gen_arm(self, co, g, ASYNCIO__CHILD_CLOSING);
    if (!g->lc) /* never started: nothing to run */
        g->lc = ASYNCIO__LC_DONE;
    if (g->lc != ASYNCIO__LC_DONE)
        asyncio__gen_throw_in(self->fut.loop, g, ASYNCIO_EGENEXIT, NULL);
    return 0;
}

int asyncio__gen_resumed(asyncio_task *self, const asyncio_coro *co)
{
    asyncio_loop *L = self->fut.loop;
    if (L->gen_throw_to != co)
        return 0;
    L->gen_throw_to = NULL;
    self->fut.u.msg = L->gen_throw_msg;
    return L->gen_throw_err;
}

/* Run the generator to its next yield (the value to *out), an await
   (PENDING) or its end (0 or its error; from then on it is over).  A
   closing step (co.child's mark) must end it: a yield then is an error,
   and ending by EGENEXIT is a clean close. */
int asyncio__gen_step(asyncio_task *self, asyncio_coro *co, asyncio_fn fn, asyncio_coro *g, asyncio_value *out)
{
    asyncio_loop *L = self->fut.loop;
    int closing = co->child & ASYNCIO__CHILD_CLOSING, rc;
    if (g->lc == ASYNCIO__LC_DONE) {
        if (L->gen_throw_to != g)
            return 0;
        L->gen_throw_to = NULL; /* an athrow into one never started */
        self->fut.u.msg = L->gen_throw_msg;
        return L->gen_throw_err;
    }
    if (!g->lc) {
        if (asyncio__reserve(L, (void **)&L->gens, &L->capgens, L->ngens + 1, sizeof *L->gens) < 0) {
            self->fut.u.msg = "no memory to start an async generator";
            return -ENOMEM;
        }
        L->gens[L->ngens].gen = g;
        L->gens[L->ngens].fn = fn;
        L->gens[L->ngens++].owner = co;
    }
    asyncio__gen_arm(self, co, g, closing);
    rc = fn(self, g);
    L->gen_throw_to = NULL;
    if (rc == ASYNCIO_PENDING)
        return rc;
    if (rc == ASYNCIO__YIELDED && !closing) {
        asyncio__child_forget(L, co);
        if (out)
            *out = self->fut.u.value;
        return rc;
    }
    g->lc = ASYNCIO__LC_DONE;
    asyncio__gen_unregister(L, g);
    if (!closing)
        asyncio__child_forget(L, co);
    else if (rc == ASYNCIO__YIELDED) {
        self->fut.u.msg = "async generator ignored GeneratorExit";
        return ASYNCIO_EINVALIDSTATE;
    } else if (rc == ASYNCIO_EGENEXIT)
        return 0;
    return rc;
}

/* What a send, throw or close gives: a value, StopAsyncIteration, or 0
   for a finished close. */
int asyncio__gen_sent(asyncio_task *self, asyncio_coro *co, int rc)
{
    int closing = co->child & ASYNCIO__CHILD_CLOSING;
    asyncio__child_forget(self->fut.loop, co);
    if (rc == ASYNCIO__YIELDED || (rc == 0 && closing))
        return 0;
    if (rc == 0) {
        self->fut.u.msg = asyncio_strerror(ASYNCIO_ESTOPITERATION);
        return ASYNCIO_ESTOPITERATION;
    }
    return rc;
}

/* The finalizer: a task that closes one generator its owner left open.
   It is created a loop iteration after the owner ended and runs in the
   next (CPython: call_soon_threadsafe(create_task, agen.aclose())). */
static void asyncio__handle_idle(asyncio_loop *L, asyncio_handle *h);

typedef struct asyncio__closer {
    asyncio_coro co;
    asyncio_coro *gen;
    asyncio_fn fn;
    int rc, started;
    asyncio_handle start, release;
    asyncio_task task;
    asyncio__waiter done;
} asyncio__closer;

static void asyncio__gen_abandon_one(asyncio_loop *L, asyncio__gen *e, int at_once);

static int asyncio__gen_closer(asyncio_task *self, void *frame)
{
    asyncio__closer *c = (asyncio__closer *)frame;
    char msg[300];
    ASYNCIO_BEGIN(self, c);
    c->started = 1;
    ASYNCIO__GEN_AWAIT(__LINE__, c->rc, c->fn, c->gen, asyncio__gen_close(self, &c->co, c->gen));
    if (c->rc < 0 && c->rc != ASYNCIO_ECANCELLED) { /* CPython: the aclose task's exception, never
                                                        retrieved (asyncio.run's cancelling is silent) */
        snprintf(msg, sizeof msg, "an error occurred while closing an abandoned async generator: %s (%s)",
                 asyncio_err_name(c->rc), ASYNCIO_ERRMSG());
        self->fut.loop->cfg.warn(self->fut.loop->cfg.warn_ctx, msg);
    }
    ASYNCIO_END();
}

static void asyncio__closer_free(asyncio_loop *L, void *arg) { asyncio__release(L, arg); }

/* A closer cancelled before it started (asyncio_run cancels every task
   left) leaves its generator to a new one. */
static void asyncio__closer_done(asyncio__waiter *hook, asyncio_future *task)
{
    asyncio__closer *c = ASYNCIO__CONTAINER(hook, asyncio__closer, done);
    asyncio__gen *e;
    if (!c->started && (e = asyncio__gen_find(task->loop, c->gen)) != NULL)
        asyncio__gen_abandon_one(task->loop, e, 1);
    asyncio_call_soon(task->loop, &c->release, asyncio__closer_free, c);
}

static void asyncio__closer_spawn(asyncio_loop *L, void *arg)
{
    asyncio__closer *c = (asyncio__closer *)arg;
    if (!asyncio_task_create_at(L, &c->task, asyncio__gen_closer, c, "aclose", __FILE__, __LINE__)) {
        if (!L->closed) /* no memory (closed: the loop's own close finalises generators) */
            L->cfg.warn(L->cfg.warn_ctx, "no memory to close an abandoned async generator: its cleanup will not run");
        asyncio__gen_unregister(L, c->gen);
        asyncio__release(L, c);
        return;
    }
    c->done.fn = asyncio__closer_done;
    asyncio__add_waiter(&c->task.fut, (uintptr_t)&c->done | ASYNCIO__W_HOOK); /* the first: no memory */
}

static void asyncio__gen_abandon_one(asyncio_loop *L, asyncio__gen *e, int at_once)
{
    asyncio__closer *c = (asyncio__closer *)asyncio__alloc(L, sizeof *c);
    e->owner = NULL;
    if (!c) {
        L->cfg.warn(L->cfg.warn_ctx, "no memory to close an abandoned async generator: its cleanup will not run");
        asyncio__gen_unregister(L, e->gen);
        return;
    }
    memset(c, 0, sizeof *c);
    c->gen = e->gen;
    c->fn = e->fn;
    asyncio__handle_idle(L, &c->release);
    if (at_once)
        asyncio__closer_spawn(L, c);
    else
        asyncio_call_soon(L, &c->start, asyncio__closer_spawn, c);
}

void asyncio__gens_abandon(asyncio_task *self, asyncio_coro *co)
{
    asyncio_loop *L = self->fut.loop;
    size_t i;
    for (i = 0; i < L->ngens; i++)
        if (L->gens[i].owner == co)
            asyncio__gen_abandon_one(L, &L->gens[i], 0);
}

/* asyncio_run's shutdown_asyncgens: close what is still open, all at once. */
static void asyncio__gens_shutdown(asyncio_loop *L)
{
    asyncio_future drained;
    size_t i;
    if (!L->ngens)
        return;
    asyncio_future_init(&drained, L);
    L->gens_drained = &drained;
    for (i = 0; i < L->ngens; i++)
        if (L->gens[i].owner)
            asyncio__gen_abandon_one(L, &L->gens[i], 1);
    if (L->ngens)
        asyncio_loop_run_until_complete(L, &drained);
    L->gens_drained = NULL;
}

/* >>handles --------------------------------------------------------------- */
static asyncio_handle *asyncio__handle_new(asyncio_loop *L, asyncio_handle *h, asyncio_callback fn, void *arg)
{
    int owned = !h;
    ASYNCIO_ASSERT(fn != NULL);
    ASYNCIO__CHECK_THREAD(L);
    if (!h && !(h = (asyncio_handle *)asyncio__alloc(L, sizeof *h)))
        return NULL;
    asyncio__future_setup(&h->fut, L, ASYNCIO__K_HANDLE);
    if (owned)
        h->fut.state |= ASYNCIO__F_OWNED;
    h->fn = fn;
    h->arg = arg;
    return h;
}

int asyncio_call_soon(asyncio_loop *loop, asyncio_handle *h, asyncio_callback fn, void *arg)
{
    if (!(h = asyncio__handle_new(loop, h, fn, arg)))
        return asyncio__fail(-ENOMEM, "call_soon: no memory");
    asyncio__enqueue(loop, &h->fut);
    return 0;
}

static int asyncio__call_at_ns(asyncio_loop *L, asyncio_handle *h, long long when, asyncio_callback fn, void *arg)
{
    if (!(h = asyncio__handle_new(L, h, fn, arg)))
        return asyncio__fail(-ENOMEM, "call_later: no memory");
    if (asyncio__timer_add(L, &h->fut, when) < 0) {
        if (h->fut.state & ASYNCIO__F_OWNED)
            asyncio__release(L, h);
        return asyncio__fail(-ENOMEM, "call_later: no memory");
    }
    return 0;
}

int asyncio_call_later(asyncio_loop *loop, asyncio_handle *h, double delay, asyncio_callback fn, void *arg)
{
    long long ns;
    if (asyncio__secs_to_ns_signed(delay, &ns) < 0)
        return asyncio__fail(-EINVAL, "call_later: the delay is NaN");
    return asyncio__call_at_ns(loop, h, asyncio__deadline(loop, ns), fn, arg);
}

int asyncio_call_at(asyncio_loop *loop, asyncio_handle *h, double when, asyncio_callback fn, void *arg)
{
    long long ns;
    if (asyncio__secs_to_ns_signed(when, &ns) < 0)
        return asyncio__fail(-EINVAL, "call_at: the time is NaN");
    return asyncio__call_at_ns(loop, h, ns, fn, arg);
}

/* A loop-allocated handle goes back where it came from: the loop's list,
   or plain memory for one another thread allocated. */
static void asyncio__handle_free(asyncio_loop *L, asyncio_handle *h)
{
    if (!(h->fut.state & ASYNCIO__F_OWNED))
        return;
    if (h->fut.state & ASYNCIO__F_XPOSTED)
        ASYNCIO_FREE(L->cfg.alloc_ctx, h);
    else
        asyncio__release(L, h);
}

static void asyncio__xdrain(asyncio_loop *L);

int asyncio_handle_cancel(asyncio_handle *h)
{
    asyncio_loop *L = h->fut.loop;
    ASYNCIO__CHECK(&h->fut);
    if (asyncio__state(&h->fut) != ASYNCIO__S_PENDING || h->fut.kind != ASYNCIO__K_HANDLE)
        return 0;
    if ((h->fut.state & (ASYNCIO__F_XPOSTED | ASYNCIO__F_LINKED)) == ASYNCIO__F_XPOSTED)
        asyncio__xdrain(L); /* posted by call_soon_threadsafe: it arrives now */
    if (h->fut.state & ASYNCIO__F_LINKED)
        asyncio__unlink(L, &h->fut);
    else if (h->fut.state & ASYNCIO__F_INSLOT) /* out of its fd's slot: closing the fd must not queue it */
        asyncio__fd_unwait(L, &h->fut);
    h->fut.state = (unsigned char)((h->fut.state & ~ASYNCIO__S_MASK) | ASYNCIO__S_CANCELLED);
    asyncio__handle_free(L, h);
    return 1;
}

static void asyncio__handle_run(asyncio_loop *L, asyncio_handle *h)
{
    asyncio_callback fn = h->fn;
    void *arg = h->arg;
    h->fut.state = (unsigned char)((h->fut.state & ~ASYNCIO__S_MASK) | ASYNCIO__S_DONE);
    asyncio__handle_free(L, h);
    L->m_callbacks++;
    if (L->slow_ns) {
        long long t0 = asyncio__step_clock_ns();
        fn(L, arg);
        if ((t0 = asyncio__step_clock_ns() - t0) > L->worst_step_ns || t0 >= L->slow_ns)
            asyncio__slow(L, t0, NULL, 0, 0);
    } else
        fn(L, arg);
}

/* >>combinators ----------------------------------------------------------- */
static void asyncio__detach_hooks(asyncio_future *const *futs, size_t n, asyncio__waiter *hook)
{
    size_t i;
    for (i = 0; i < n; i++)
        asyncio__remove_waiter(futs[i], (uintptr_t)hook | ASYNCIO__W_HOOK);
}

/* A handle that never runs, so that cancelling it is always safe. */
static void asyncio__handle_idle(asyncio_loop *L, asyncio_handle *h)
{
    asyncio__future_setup(&h->fut, L, ASYNCIO__K_HANDLE);
    h->fut.state = ASYNCIO__S_DONE;
}

static void asyncio__copy_outcome(asyncio_future *dst, const asyncio_future *src)
{
    asyncio__seen(src);
    if (asyncio__state(src) == ASYNCIO__S_CANCELLED)
        asyncio__cancel_plain(dst);
    else if (src->x.err)
        asyncio_future_set_error(dst, src->x.err, src->u.msg);
    else
        asyncio_future_set_result(dst, src->u.value);
}

/* gather */
asyncio_future *asyncio_gather_child(const asyncio_gather_t *g, size_t i)
{
    ASYNCIO_ASSERT(i < g->n);
    return g->futs ? g->futs[i] : &g->tasks[i].fut;
}

int asyncio_gather_result(const asyncio_gather_t *g, size_t i, asyncio_value *value)
{
    return asyncio_future_result(asyncio_gather_child(g, i), value);
}

static void asyncio__gather_detach(asyncio_gather_t *g)
{
    size_t i;
    for (i = 0; i < g->n; i++)
        asyncio__remove_waiter(asyncio_gather_child(g, i), (uintptr_t)&g->hook | ASYNCIO__W_HOOK);
}

static void asyncio__gather_child_done(asyncio__waiter *hook, asyncio_future *child)
{
    asyncio_gather_t *g = ASYNCIO__CONTAINER(hook, asyncio_gather_t, hook);
    asyncio__seen(child); /* CPython's gather retrieves every child's exception */
    if (asyncio__state(&g->fut) != ASYNCIO__S_PENDING)
        return;
    g->ndone++;
    if (!(g->flags & ASYNCIO_RETURN_EXCEPTIONS) && child->x.err) {
        /* the first error reaches the awaiter; the other children run on,
           their errors read as they come (CPython's gather) */
        size_t i;
        asyncio__gather_detach(g);
        for (i = 0; i < g->n; i++)
            asyncio__seen_ahead(asyncio_gather_child(g, i));
        asyncio_future_set_error(&g->fut, child->x.err, child->u.msg);
        return;
    }
    if (g->ndone == g->n) {
        if (g->fut.state & ASYNCIO__F_FLAG)
            asyncio_future_set_error(&g->fut, ASYNCIO_ECANCELLED, NULL);
        else
            asyncio_future_set_result(&g->fut, asyncio_int((long long)g->n));
    }
}

static int asyncio__gather_cancel(asyncio_gather_t *g)
{
    size_t i;
    int any = 0;
    if (g->fut.state & ASYNCIO__F_FLAG)
        return 0;
    for (i = 0; i < g->n; i++)
        if (asyncio_future_cancel(asyncio_gather_child(g, i)) == 1)
            any = 1;
    if (any)
        g->fut.state |= ASYNCIO__F_FLAG;
    return any;
}

static int asyncio__gather_start(asyncio_gather_t *g)
{
    size_t i;
    if (g->n == 0)
        return asyncio_future_set_result(&g->fut, asyncio_int(0));
    for (i = 0; i < g->n; i++)
        if (asyncio__add_waiter(asyncio_gather_child(g, i), (uintptr_t)&g->hook | ASYNCIO__W_HOOK) < 0) {
            asyncio__gather_detach(g);
            return asyncio__fail(-ENOMEM, "gather: no memory");
        }
    return 0;
}

static void asyncio__gather_setup(asyncio_gather_t *g, asyncio_loop *loop, size_t n, unsigned flags)
{
    asyncio__future_setup(&g->fut, loop, ASYNCIO__K_GATHER);
    g->hook.fn = asyncio__gather_child_done;
    g->futs = NULL;
    g->tasks = NULL;
    g->n = n;
    g->ndone = 0;
    g->flags = flags;
}

int asyncio_gather(asyncio_gather_t *g, asyncio_loop *loop, asyncio_future *const *futs, size_t n, unsigned flags)
{
    ASYNCIO_ASSERT(g != NULL && loop != NULL && (futs != NULL || n == 0));
    asyncio__gather_setup(g, loop, n, flags);
    g->futs = futs;
    return asyncio__gather_start(g);
}

int asyncio_gather_map_at(asyncio_gather_t *g, asyncio_loop *loop, asyncio_task *tasks, asyncio_fn fn,
                          void *frames, size_t frame_size, size_t n, unsigned flags, const char *name,
                          const char *file, int line)
{
    size_t i;
    ASYNCIO_ASSERT(g != NULL && loop != NULL && ((tasks != NULL && frames != NULL) || n == 0));
    if (loop->closed)
        return asyncio__fail(ASYNCIO_ELOOPCLOSED, "gather_map: Event loop is closed");
    /* reserve first: either every task is created or none */
    if (asyncio__reserve(loop, (void **)&loop->tasks, &loop->captasks, loop->ntasks + n, sizeof *loop->tasks) < 0)
        return asyncio__fail(-ENOMEM, "gather_map: no memory");
    asyncio__gather_setup(g, loop, n, flags);
    g->tasks = tasks;
    for (i = 0; i < n; i++)
        asyncio_task_create_at(loop, &tasks[i], fn, (char *)frames + i * frame_size, name, file, line);
    /* each child has no waiter yet, so registering needs no memory */
    return asyncio__gather_start(g);
}

/* wait */
static void asyncio__wait_finish(asyncio_wait_t *w)
{
    asyncio_handle_cancel(&w->timer);
    asyncio__detach_hooks(w->futs, w->n, &w->hook);
    asyncio_future_set_result(&w->fut, asyncio_int((long long)w->ndone));
}

static void asyncio__wait_child_done(asyncio__waiter *hook, asyncio_future *child)
{
    asyncio_wait_t *w = ASYNCIO__CONTAINER(hook, asyncio_wait_t, hook);
    if (asyncio__state(&w->fut) != ASYNCIO__S_PENDING)
        return;
    w->ndone++;
    if (w->ndone == w->n || w->mode == ASYNCIO_FIRST_COMPLETED ||
        (w->mode == ASYNCIO_FIRST_EXCEPTION && asyncio__state(child) == ASYNCIO__S_DONE && child->x.err))
        asyncio__wait_finish(w);
}

size_t asyncio_wait_sets(const asyncio_wait_t *w, asyncio_future **done, asyncio_future **pending)
{
    size_t i, nd = 0, np = 0;
    for (i = 0; i < w->n; i++) {
        if (asyncio_future_done(w->futs[i])) {
            if (done)
                done[nd] = w->futs[i];
            nd++;
        } else if (pending)
            pending[np++] = w->futs[i];
    }
    return nd;
}

static void asyncio__wait_timeout(asyncio_loop *L, void *arg)
{
    (void)L;
    asyncio__wait_finish((asyncio_wait_t *)arg);
}

int asyncio_wait(asyncio_wait_t *w, asyncio_loop *loop, asyncio_future *const *futs, size_t n,
                 asyncio_wait_mode mode, double timeout)
{
    size_t i;
    int rc;
    ASYNCIO_ASSERT(w != NULL && loop != NULL);
    if (n == 0 || !futs)
        return asyncio__fail(-EINVAL, "Set of Tasks/Futures is empty."); /* Python's ValueError */
    if (mode != ASYNCIO_ALL_COMPLETED && mode != ASYNCIO_FIRST_COMPLETED && mode != ASYNCIO_FIRST_EXCEPTION)
        return asyncio__failf(-EINVAL, "wait: invalid return_when value: %d", (int)mode);
    if (timeout != timeout)
        return asyncio__fail(-EINVAL, "wait: the timeout is NaN");
    asyncio__future_setup(&w->fut, loop, ASYNCIO__K_WAIT);
    w->hook.fn = asyncio__wait_child_done;
    w->futs = futs;
    w->n = n;
    w->ndone = 0;
    w->mode = mode;
    asyncio__handle_idle(loop, &w->timer);
    if (timeout >= 0 && (rc = asyncio_call_later(loop, &w->timer, timeout, asyncio__wait_timeout, w)) < 0)
        return rc;
    for (i = 0; i < n; i++)
        if (asyncio__add_waiter(futs[i], (uintptr_t)&w->hook | ASYNCIO__W_HOOK) < 0) {
            asyncio_handle_cancel(&w->timer);
            asyncio__detach_hooks(futs, n, &w->hook);
            return asyncio__fail(-ENOMEM, "wait: no memory");
        }
    return 0;
}

/* as_completed */
static void asyncio__ac_deliver(asyncio_as_completed_t *ac)
{
    ac->waiting = 0;
    if (ac->nout < ac->ndone)
        asyncio__copy_outcome(&ac->fut, ac->futs[ac->nout++]);
    else {
        ac->nout++;
        asyncio_future_set_error(&ac->fut, ASYNCIO_ETIMEDOUT, NULL);
    }
}

static void asyncio__ac_child_done(asyncio__waiter *hook, asyncio_future *child)
{
    asyncio_as_completed_t *ac = ASYNCIO__CONTAINER(hook, asyncio_as_completed_t, hook);
    size_t i;
    for (i = ac->ndone; i < ac->n && ac->futs[i] != child; i++)
        ;
    if (i == ac->n)
        return;
    ac->futs[i] = ac->futs[ac->ndone];
    ac->futs[ac->ndone++] = child;
    if (ac->ndone == ac->n)
        asyncio_handle_cancel(&ac->timer);
    if (ac->waiting)
        asyncio__ac_deliver(ac);
}

static void asyncio__ac_timeout(asyncio_loop *L, void *arg)
{
    asyncio_as_completed_t *ac = (asyncio_as_completed_t *)arg;
    (void)L;
    ac->timed_out = 1;
    asyncio__detach_hooks((asyncio_future *const *)ac->futs + ac->ndone, ac->n - ac->ndone, &ac->hook);
    if (ac->waiting)
        asyncio__ac_deliver(ac);
}

int asyncio_as_completed(asyncio_as_completed_t *ac, asyncio_loop *loop, asyncio_future **futs, size_t n,
                         double timeout)
{
    size_t i;
    int rc;
    ASYNCIO_ASSERT(ac != NULL && loop != NULL && (futs != NULL || n == 0));
    if (timeout != timeout)
        return asyncio__fail(-EINVAL, "as_completed: the timeout is NaN");
    asyncio__future_setup(&ac->fut, loop, ASYNCIO__K_ASCOMPLETED);
    ac->hook.fn = asyncio__ac_child_done;
    ac->futs = futs;
    ac->n = n;
    ac->ndone = ac->nout = 0;
    ac->waiting = ac->timed_out = 0;
    asyncio__handle_idle(loop, &ac->timer);
    if (timeout >= 0 && n && (rc = asyncio_call_later(loop, &ac->timer, timeout, asyncio__ac_timeout, ac)) < 0)
        return rc;
    for (i = 0; i < n; i++)
        if (asyncio__add_waiter(futs[i], (uintptr_t)&ac->hook | ASYNCIO__W_HOOK) < 0) {
            asyncio_handle_cancel(&ac->timer);
            asyncio__detach_hooks((asyncio_future *const *)futs, n, &ac->hook);
            return asyncio__fail(-ENOMEM, "as_completed: no memory");
        }
    return 0;
}

asyncio_future *asyncio_as_completed_next(asyncio_as_completed_t *ac)
{
    ASYNCIO__CHECK(&ac->fut);
    if (ac->nout >= ac->n)
        return NULL;
    ASYNCIO_ASSERT(!ac->fut.waiters && !(ac->fut.state & ASYNCIO__F_LINKED));
    ac->fut.state = ASYNCIO__S_PENDING;
    ac->fut.x.err = 0;
    if (ac->nout < ac->ndone || ac->timed_out)
        asyncio__ac_deliver(ac);
    else
        ac->waiting = 1;
    return &ac->fut;
}

asyncio_future *asyncio_as_completed_last(const asyncio_as_completed_t *ac)
{
    return ac->nout && ac->nout <= ac->ndone ? ac->futs[ac->nout - 1] : NULL;
}

/* shield */
static void asyncio__shield_inner_done(asyncio__waiter *hook, asyncio_future *inner)
{
    asyncio_shield_t *s = ASYNCIO__CONTAINER(hook, asyncio_shield_t, hook);
    if (asyncio__state(&s->fut) == ASYNCIO__S_PENDING)
        asyncio__copy_outcome(&s->fut, inner);
}

int asyncio_shield(asyncio_shield_t *s, asyncio_loop *loop, asyncio_future *inner)
{
    ASYNCIO_ASSERT(s != NULL && loop != NULL);
    ASYNCIO__CHECK(inner);
    asyncio__future_setup(&s->fut, loop, ASYNCIO__K_SHIELD);
    s->hook.fn = asyncio__shield_inner_done;
    s->inner = inner;
    if (asyncio__state(inner) != ASYNCIO__S_PENDING) {
        asyncio__copy_outcome(&s->fut, inner);
        return 0;
    }
    if (asyncio__add_waiter(inner, (uintptr_t)&s->hook | ASYNCIO__W_HOOK) < 0)
        return asyncio__fail(-ENOMEM, "shield: no memory");
    return 0;
}

int asyncio_shield_coro_at(asyncio_shield_t *s, asyncio_loop *loop, asyncio_task *task, asyncio_fn fn, void *frame,
                           const char *name, const char *file, int line)
{
    if (!task)
        return asyncio__fail(-EINVAL, "shield: the coroutine's task needs storage");
    if (!asyncio_task_create_at(loop, task, fn, frame, name, file, line))
        return loop->closed ? ASYNCIO_ELOOPCLOSED : -ENOMEM;
    return asyncio_shield(s, loop, &task->fut);
}

/* timeout scopes */
enum { ASYNCIO__TO_ARMED = 1, ASYNCIO__TO_EXPIRING, ASYNCIO__TO_EXPIRED, ASYNCIO__TO_EXITED };

static void asyncio__timeout_fire(asyncio_loop *L, void *arg)
{
    asyncio_timeout *to = (asyncio_timeout *)arg;
    (void)L;
    to->state = ASYNCIO__TO_EXPIRING;
    asyncio_task_cancel(to->task);
}

/* Arm the timer for to->when (CPython's reschedule). */
static int asyncio__timeout_arm(asyncio_timeout *to)
{
    asyncio_loop *L = to->task->fut.loop;
    long long ns;
    asyncio_handle_cancel(&to->timer);
    asyncio__handle_idle(L, &to->timer);
    if (to->when >= ASYNCIO_NEVER)
        return 0;
    if (asyncio__secs_to_ns_signed(to->when, &ns) < 0 || ns == ASYNCIO__NEVER)
        return 0;
    if (ns <= asyncio__now(L))
        return asyncio_call_soon(L, &to->timer, asyncio__timeout_fire, to);
    return asyncio__call_at_ns(L, &to->timer, ns, asyncio__timeout_fire, to);
}

int asyncio_timeout_enter_at(asyncio_timeout *to, asyncio_task *task, double when)
{
    int rc;
    ASYNCIO_ASSERT(to != NULL);
    ASYNCIO__CHECK(&task->fut);
    if ((to->state == ASYNCIO__TO_ARMED || to->state == ASYNCIO__TO_EXPIRING) && to->task == task &&
        to->timer.fut.kind == ASYNCIO__K_HANDLE && to->timer.fut.loop == task->fut.loop) {
        task->fut.u.msg = "Timeout has already been entered";
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, task->fut.u.msg);
    }
    if (when != when) {
        to->state = ASYNCIO__TO_EXITED;
        task->fut.u.msg = "timeout: the deadline is NaN";
        return asyncio__fail(-EINVAL, task->fut.u.msg);
    }
    asyncio__handle_idle(task->fut.loop, &to->timer);
    to->task = task;
    to->when = when;
    to->cancelling = task->fut.ncancel;
    to->state = ASYNCIO__TO_ARMED;
    if ((rc = asyncio__timeout_arm(to)) < 0) {
        to->state = ASYNCIO__TO_EXITED;
        task->fut.u.msg = asyncio__keep(task->fut.loop, asyncio_errmsg());
    }
    return rc;
}

int asyncio_timeout_enter(asyncio_timeout *to, asyncio_task *task, double delay)
{
    if (delay != delay) {
        task->fut.u.msg = "timeout: delay is NaN";
        return asyncio__fail(-EINVAL, task->fut.u.msg);
    }
    return asyncio_timeout_enter_at(to, task, delay >= ASYNCIO_NEVER ? ASYNCIO_NEVER
                                                : asyncio_loop_time(task->fut.loop) + delay);
}

int asyncio_timeout_reschedule(asyncio_timeout *to, double when)
{
    static const char *const why[] = {"Timeout has not been entered", "", "Cannot change state of expiring Timeout",
                                      "Cannot change state of expired Timeout", "Cannot change state of finished Timeout"};
    if (to->state != ASYNCIO__TO_ARMED)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, why[to->state <= ASYNCIO__TO_EXITED ? to->state : 0]);
    if (when != when)
        return asyncio__fail(-EINVAL, "timeout: the deadline is NaN");
    to->when = when;
    return asyncio__timeout_arm(to);
}

double asyncio_timeout_when(const asyncio_timeout *to) { return to->when; }

int asyncio_timeout_exit(asyncio_timeout *to, int rc)
{
    if (to->state == ASYNCIO__TO_ARMED)
        asyncio_handle_cancel(&to->timer);
    else if (to->state == ASYNCIO__TO_EXPIRING) {
        to->state = ASYNCIO__TO_EXPIRED;
        if (asyncio_task_uncancel(to->task) <= to->cancelling && rc == ASYNCIO_ECANCELLED) {
            to->task->fut.u.msg = asyncio_strerror(ASYNCIO_ETIMEDOUT);
            return ASYNCIO_ETIMEDOUT;
        }
        return rc;
    }
    if (to->state != ASYNCIO__TO_EXPIRED)
        to->state = ASYNCIO__TO_EXITED;
    return rc;
}

int asyncio_timeout_expired(const asyncio_timeout *to)
{
    return to->state == ASYNCIO__TO_EXPIRING || to->state == ASYNCIO__TO_EXPIRED;
}

/* >>io -------------------------------------------------------------------- */
int asyncio_fd_add(asyncio_loop *loop, int fd)
{
    asyncio__fd *e;
    int flags, rc;
    if (fd < 0 || (flags = fcntl(fd, F_GETFL)) < 0)
        return asyncio__failf(-EBADF, "fd_add: %d is not an open file descriptor", fd);
    if (asyncio__fd_get(loop, fd))
        return asyncio__failf(-EEXIST, "fd_add: fd %d is already added to the loop (closed without "
                                       "asyncio_fd_close, and its number reused?)", fd);
    if ((size_t)fd >= loop->capfds) {
        size_t old = loop->capfds;
        if (asyncio__reserve(loop, (void **)&loop->fds, &loop->capfds, (size_t)fd + 1, sizeof *loop->fds) < 0)
            return asyncio__fail(-ENOMEM, "fd_add: no memory");
        memset(loop->fds + old, 0, (loop->capfds - old) * sizeof *loop->fds);
    }
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return asyncio__failf(-errno, "fd_add: cannot make fd %d non-blocking: %s", fd, strerror(errno));
    e = &loop->fds[fd];
    e->ready = e->fed = 0;
    if ((rc = asyncio__backend_add(loop, fd, e->gen)) < 0)
        return asyncio__failf(rc, "fd_add: the %s backend cannot watch fd %d: %s%s", asyncio_backend_name(), fd,
                              asyncio_strerror(rc), rc == -EPERM ? " (a regular file? use the file calls)" : "");
    e->added = 1;
    return 0;
}

/* Wake what waits on e (task or handle) through the ready queue. */
static void asyncio__fd_wake(asyncio_loop *L, asyncio__fd *e, int dir)
{
    asyncio_future *w = e->waiter[dir];
    if (!w)
        return;
    e->waiter[dir] = NULL;
    L->nfdwait--;
    w->state &= ~ASYNCIO__F_INSLOT;
    asyncio__enqueue(L, w);
}

int asyncio_fd_close(asyncio_loop *loop, int fd)
{
    asyncio__fd *e = asyncio__fd_get(loop, fd);
    if (!e)
        return asyncio__failf(-EBADF, "fd_close: fd %d is not added to the loop", fd);
    asyncio__backend_del(loop, fd);
    asyncio__backend_flush(loop);
    e->added = 0;
    e->gen++; /* waiters see -EBADF; late events are dropped */
    e->ready = 0;
    asyncio__fd_wake(loop, e, 0);
    asyncio__fd_wake(loop, e, 1);
    close(fd);
    return 0;
}

/* Deliver what the backend reported. */
static void asyncio__fd_dispatch(asyncio_loop *L)
{
    size_t i;
    for (i = 0; i < L->nfired; i++) {
        asyncio__fired *f = &L->fired[i];
        asyncio__fd *e = asyncio__fd_get(L, f->fd);
        unsigned ev = f->events;
        if (!e || e->gen != f->gen)
            continue;
        if (ev & ASYNCIO__ERR)
            ev |= ASYNCIO_READABLE | ASYNCIO_WRITABLE;
        if (ev & ASYNCIO__HUP)
            ev |= ASYNCIO_READABLE;
        e->ready |= (unsigned char)ev;
        if (ev & ASYNCIO_READABLE)
            asyncio__fd_wake(L, e, 0);
        if (ev & ASYNCIO_WRITABLE)
            asyncio__fd_wake(L, e, 1);
    }
    L->nfired = 0;
}

/* Edge-triggered bookkeeping: whoever meets EAGAIN forgets the readiness,
   and any error or hang-up seen before (EAGAIN proves it is over: an
   unconnected socket reports a hang-up until it connects). */
static void asyncio__fd_unready(asyncio_loop *L, int fd, unsigned dir_event)
{
    asyncio__fd *e = asyncio__fd_get(L, fd);
    if (e)
        e->ready &= (unsigned char)~(dir_event | ASYNCIO__ERR | ASYNCIO__HUP);
}

/* A read shorter than asked for emptied the socket: the next data brings
   a new edge, so the read that would only say EAGAIN can be skipped.  A
   hang-up stays known (its edge is spent), so EOF is still seen. */
static void asyncio__fd_drained(asyncio_loop *L, int fd)
{
    asyncio__fd *e = asyncio__fd_get(L, fd);
    if (e && !(e->ready & ASYNCIO__ERR))
        e->ready &= (unsigned char)~ASYNCIO_READABLE;
}

/* Put w (a task or handle) in fd's slot for one direction; if the fd is
   already known ready, w goes straight to the ready queue.  0, -EBADF,
   -EBUSY. */
static int asyncio__fd_watch(asyncio_loop *L, int fd, unsigned event, asyncio_future *w)
{
    asyncio__fd *e = asyncio__fd_get(L, fd);
    int dir = event == ASYNCIO_WRITABLE;
    if (!e)
        return -EBADF;
    if (e->waiter[dir])
        return e->waiter[dir] == w ? 0 : -EBUSY;
    e->waiter[dir] = w;
    L->nfdwait++;
    w->u.value.i = (long long)((unsigned long long)e->gen << 32 | (unsigned)fd); /* for fd_unwait */
    w->state |= ASYNCIO__F_INSLOT;
    if (e->ready & (event | ASYNCIO__ERR | (dir ? 0 : ASYNCIO__HUP)))
        asyncio__fd_wake(L, e, dir);
    return 0;
}

/* Take a task out of its fd's slot (it is being cancelled). */
static void asyncio__fd_unwait(asyncio_loop *L, asyncio_future *w)
{
    size_t fd = (size_t)(unsigned)(w->u.value.i & 0xffffffffu);
    int dir;
    w->state &= ~ASYNCIO__F_INSLOT;
    if (fd >= L->capfds)
        return;
    for (dir = 0; dir < 2; dir++)
        if (L->fds[fd].waiter[dir] == w) {
            L->fds[fd].waiter[dir] = NULL;
            L->nfdwait--;
        }
}

/* The coroutine side of ASYNCIO_WAIT_FD (level = 1: poll(2) first, so a
   caller who left data unread is not kept waiting for an edge) and of the
   library's own waits (level = 0: readiness already cleared on EAGAIN). */
int asyncio__fd_begin(asyncio_task *self, int fd, unsigned events, int level)
{
    asyncio_loop *L = self->fut.loop;
    asyncio__fd *e = asyncio__fd_get(L, fd);
    int rc;
    ASYNCIO__CHECK(&self->fut);
    if (!e) {
        self->fut.u.msg = "fd is not added to the loop";
        return -EBADF;
    }
    if (events != ASYNCIO_READABLE && events != ASYNCIO_WRITABLE) {
        self->fut.u.msg = "wait for ASYNCIO_READABLE or ASYNCIO_WRITABLE";
        return -EINVAL;
    }
#if ASYNCIO__URING
    if (level && e->fed && asyncio__backend_add(L, fd, e->gen) == 0)
        e->fed = 0; /* a stream's fd waited on by its caller: the poll serves both */
#endif
    if (level) {
        struct pollfd p;
        p.fd = fd;
        p.events = events == ASYNCIO_READABLE ? POLLIN : POLLOUT;
        p.revents = 0;
        if (poll(&p, 1, 0) > 0)
            return 0;
        e->ready &= (unsigned char)~events;
    }
    if (e->waiter[events == ASYNCIO_WRITABLE]) {
        self->fut.u.msg = "another task already waits on this fd";
        return -EBUSY;
    }
    if ((rc = asyncio__fd_watch(L, fd, events, &self->fut)) < 0)
        return rc;
    if ((self->fut.state & ASYNCIO__F_CANCEL) && (self->fut.state & ASYNCIO__F_INSLOT)) {
        asyncio__fd_unwait(L, &self->fut);
        asyncio__enqueue(L, &self->fut);
    }
    return ASYNCIO_PENDING;
}

int asyncio__fd_end(asyncio_task *self)
{
    unsigned long long v = (unsigned long long)self->fut.u.value.i;
    asyncio__fd *e = asyncio__fd_get(self->fut.loop, (int)(v & 0xffffffffu));
    if (self->fut.state & ASYNCIO__F_CANCEL) {
        self->fut.state &= ~ASYNCIO__F_CANCEL;
        self->fut.u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
        return ASYNCIO_ECANCELLED;
    }
    if (!e || e->gen != (unsigned)(v >> 32)) {
        self->fut.u.msg = "fd closed while waiting";
        return -EBADF;
    }
    return 0;
}

/* The library's own waits (edge-triggered): returns at once while the fd
   is known ready; WAIT_EDGE_RC first forgets that, after an EAGAIN. */
#define ASYNCIO__WAIT_READY_RC(rc_, fd_, ev_)                                  \
    ASYNCIO__WAIT_AT(__LINE__, rc_, asyncio__fd_begin(asyncio__self, (fd_), (ev_), 0), \
                     asyncio__fd_end(asyncio__self))
#define ASYNCIO__WAIT_EDGE_RC(rc_, fd_, ev_)                                   \
    asyncio__fd_unready(asyncio__self->fut.loop, (fd_), (ev_));                \
    ASYNCIO__WAIT_READY_RC(rc_, fd_, ev_)

/* -errno of a failed call, EINTR already retried by the callers. */
static int asyncio__errno(void) { return errno == EWOULDBLOCK ? -EAGAIN : -errno; }

/* send without SIGPIPE: MSG_NOSIGNAL where it exists (SO_NOSIGPIPE is set
   on BSD sockets instead); plain write for pipes. */
static long asyncio__send(int fd, const void *buf, size_t len)
{
    long n;
#ifdef MSG_NOSIGNAL
    while ((n = (long)send(fd, buf, len, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
#else
    while ((n = (long)send(fd, buf, len, 0)) < 0 && errno == EINTR)
        ;
#endif
    if (n < 0 && errno == ENOTSOCK)
        while ((n = (long)write(fd, buf, len)) < 0 && errno == EINTR)
            ;
    return n < 0 ? asyncio__errno() : n;
}

static long asyncio__recv(int fd, void *buf, size_t len)
{
    long n;
    while ((n = (long)read(fd, buf, len)) < 0 && errno == EINTR)
        ;
    return n < 0 ? asyncio__errno() : n;
}

static void asyncio__nosigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
    (void)fd;
#endif
}

/* accept4 where available; the new fd is non-blocking and close-on-exec. */
static int asyncio__accept(int fd, void *addr, unsigned *addrlen)
{
    socklen_t len = (socklen_t)*addrlen;
    int c;
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    while ((c = accept4(fd, (struct sockaddr *)addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0 && errno == EINTR)
        ;
#else
    while ((c = accept(fd, (struct sockaddr *)addr, &len)) < 0 && errno == EINTR)
        ;
    if (c >= 0)
        fcntl(c, F_SETFD, FD_CLOEXEC);
#endif
    *addrlen = (unsigned)len;
    if (c >= 0)
        asyncio__nosigpipe(c);
    return c < 0 ? asyncio__errno() : c;
}

/* socket operations */
enum { ASYNCIO__SOCK_RECV, ASYNCIO__SOCK_SEND, ASYNCIO__SOCK_ACCEPT, ASYNCIO__SOCK_CONNECT };

/* A setup call runs once per await (ASYNCIO_AWAIT_CORO evaluates it
   once), so it starts the operation afresh. */
static asyncio_sock_t *asyncio__sock_setup(asyncio_sock_t *op, int kind, int fd, void *buf, size_t len)
{
    op->kind = kind;
    op->fd = fd;
    op->buf = buf;
    op->len = len;
    op->done = 0;
    return op;
}

asyncio_sock_t *asyncio_sock_recv(asyncio_sock_t *op, int fd, void *buf, size_t len)
{
    return asyncio__sock_setup(op, ASYNCIO__SOCK_RECV, fd, buf, len);
}

asyncio_sock_t *asyncio_sock_sendall(asyncio_sock_t *op, int fd, const void *buf, size_t len)
{
    return asyncio__sock_setup(op, ASYNCIO__SOCK_SEND, fd, (void *)(uintptr_t)buf, len);
}

asyncio_sock_t *asyncio_sock_accept(asyncio_sock_t *op, int fd)
{
    return asyncio__sock_setup(op, ASYNCIO__SOCK_ACCEPT, fd, NULL, 0);
}

asyncio_sock_t *asyncio_sock_connect(asyncio_sock_t *op, int fd, const void *addr, unsigned addrlen)
{
    asyncio__sock_setup(op, ASYNCIO__SOCK_CONNECT, fd, NULL, 0);
    if (addrlen > sizeof op->addr.bytes)
        addrlen = sizeof op->addr.bytes;
    if (addr != op->addr.bytes)
        memcpy(op->addr.bytes, addr, addrlen);
    op->addrlen = addrlen;
    return op;
}

/* One attempt: a result >= 0, -EAGAIN to wait, or an error. */
static long asyncio__sock_try(asyncio_loop *L, asyncio_sock_t *op)
{
    long n;
    switch (op->kind) {
    case ASYNCIO__SOCK_RECV:
        return asyncio__recv(op->fd, op->buf, op->len);
    case ASYNCIO__SOCK_SEND:
        while (op->done < op->len) {
            if ((n = asyncio__send(op->fd, (char *)op->buf + op->done, op->len - op->done)) < 0)
                return n;
            op->done += (size_t)n;
        }
        return (long)op->len;
    case ASYNCIO__SOCK_ACCEPT:
        op->addrlen = sizeof op->addr.bytes;
        if ((n = asyncio__accept(op->fd, op->addr.bytes, &op->addrlen)) >= 0) {
            int rc = asyncio_fd_add(L, (int)n);
            if (rc < 0) {
                close((int)n);
                return rc;
            }
        }
        return n;
    default: /* connect: start it, then read its outcome once writable */
        if (!op->done) {
            op->done = 1;
            asyncio__nosigpipe(op->fd);
            if (connect(op->fd, (const struct sockaddr *)op->addr.bytes, (socklen_t)op->addrlen) == 0)
                return 0;
            return errno == EINPROGRESS || errno == EINTR ? -EAGAIN : -errno;
        } else { /* the error if it failed; connected once it has a peer */
            int err = 0;
            socklen_t len = sizeof err;
            unsigned char peer[128];
            if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                return -errno;
            if (err)
                return -err;
            len = sizeof peer;
            if (getpeername(op->fd, (struct sockaddr *)peer, &len) == 0)
                return 0;
            return errno == ENOTCONN ? -EAGAIN : -errno;
        }
    }
}

int asyncio_sock(asyncio_task *self, void *frame)
{
    asyncio_sock_t *op = (asyncio_sock_t *)frame;
    long n;
    int rc;
    ASYNCIO_BEGIN(self, op);
    if (!asyncio__fd_get(self->fut.loop, op->fd))
        ASYNCIO_RAISE(-EBADF, "fd is not added to the loop");
    while ((n = asyncio__sock_try(self->fut.loop, op)) == -EAGAIN) {
        ASYNCIO__WAIT_EDGE_RC(rc, op->fd,
                              op->kind == ASYNCIO__SOCK_RECV || op->kind == ASYNCIO__SOCK_ACCEPT ? ASYNCIO_READABLE
                                                                                              : ASYNCIO_WRITABLE);
        if (rc < 0)
            ASYNCIO_RAISE(rc, NULL);
    }
    if (n < 0)
        ASYNCIO_RAISE((int)n, NULL);
    ASYNCIO_RETURN(asyncio_int(n));
    ASYNCIO_END();
}

/* >>resolve --------------------------------------------------------------- */
/* A lookup the executor runs: the arguments copied (the coroutine that
   asked may be gone before a cancelled lookup ends) and the answer. */
enum { ASYNCIO__ADDRINFO, ASYNCIO__NAMEINFO };

typedef struct asyncio__lookup {
    int kind, flags, has_hints;
    struct addrinfo hints, *result;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *host, *service;
    char hostname[256], servname[32];
    char msg[320];
} asyncio__lookup;

static int asyncio__lookup_run(void *arg, asyncio_outcome *out)
{
    asyncio__lookup *q = (asyncio__lookup *)arg;
    const char *reason;
    int rc, err;
    if (q->kind == ASYNCIO__ADDRINFO)
        rc = getaddrinfo(q->host, q->service, q->has_hints ? &q->hints : NULL, &q->result);
    else
        rc = getnameinfo((struct sockaddr *)&q->addr, q->addrlen, q->hostname, sizeof q->hostname, q->servname,
                         sizeof q->servname, q->flags);
    if (rc == 0) {
        out->value.p = q->result;
        return 0;
    }
    if (rc == EAI_MEMORY)
        return -ENOMEM;
    err = rc == EAI_SYSTEM && errno ? -errno : ASYNCIO_ERESOLVE; /* EAI_ codes are negative too */
    reason = err == ASYNCIO_ERESOLVE ? gai_strerror(rc) : asyncio_strerror(err);
    if (q->kind == ASYNCIO__NAMEINFO) {
        char addr[64] = "?";
        const struct sockaddr *sa = (const struct sockaddr *)&q->addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr, sizeof addr);
        snprintf(q->msg, sizeof q->msg, "cannot find the name of %s: %s", addr, reason);
    } else if (q->host)
        snprintf(q->msg, sizeof q->msg, "cannot resolve '%s'%s%s%s: %s", q->host, q->service ? " (service '" : "",
                 q->service ? q->service : "", q->service ? "')" : "", reason);
    else
        snprintf(q->msg, sizeof q->msg, "cannot resolve service '%s': %s", q->service, reason);
    out->msg = q->msg;
    return err;
}

static void asyncio__lookup_free(asyncio__lookup *q)
{
    if (q->result)
        freeaddrinfo(q->result);
    ASYNCIO_FREE(NULL, q);
}

/* An abandoned lookup: nobody will read it (any thread). */
static void asyncio__lookup_discard(void *arg, asyncio_outcome *out)
{
    (void)out;
    asyncio__lookup_free((asyncio__lookup *)arg);
}

static asyncio__lookup *asyncio__lookup_new(const asyncio_resolve_t *rs)
{
    size_t hl = rs->host ? strlen(rs->host) + 1 : 0, sl = rs->service ? strlen(rs->service) + 1 : 0;
    asyncio__lookup *q = (asyncio__lookup *)ASYNCIO_REALLOC(NULL, NULL, sizeof *q + hl + sl);
    if (!q)
        return NULL;
    memset(q, 0, sizeof *q);
    q->kind = rs->kind;
    q->flags = rs->flags;
    if (rs->kind == ASYNCIO__NAMEINFO) {
        q->addrlen = (socklen_t)rs->addrlen;
        memcpy(&q->addr, rs->addr, rs->addrlen);
        return q;
    }
    if (rs->hints) {
        q->has_hints = 1;
        q->hints.ai_flags = rs->hints->ai_flags;
        q->hints.ai_family = rs->hints->ai_family;
        q->hints.ai_socktype = rs->hints->ai_socktype;
        q->hints.ai_protocol = rs->hints->ai_protocol;
    }
    if (rs->host)
        q->host = strcpy((char *)(q + 1), rs->host);
    if (rs->service)
        q->service = strcpy((char *)(q + 1) + hl, rs->service);
    return q;
}

asyncio_resolve_t *asyncio_getaddrinfo(asyncio_resolve_t *rs, const char *host, const char *service,
                                       const struct addrinfo *hints)
{
    rs->kind = ASYNCIO__ADDRINFO;
    rs->host = host;
    rs->service = service;
    rs->hints = hints;
    rs->addr = NULL;
    rs->addrlen = 0;
    rs->flags = 0;
    return rs;
}

asyncio_resolve_t *asyncio_getnameinfo(asyncio_resolve_t *rs, const void *addr, unsigned addrlen, int flags)
{
    asyncio_getaddrinfo(rs, NULL, NULL, NULL);
    rs->kind = ASYNCIO__NAMEINFO;
    rs->addr = addr;
    rs->addrlen = addrlen;
    rs->flags = flags;
    return rs;
}

int asyncio_resolve(asyncio_task *self, void *frame)
{
    asyncio_resolve_t *rs = (asyncio_resolve_t *)frame;
    asyncio__lookup *q;
    int rc;
    ASYNCIO_BEGIN(self, rs);
    rs->req = NULL;
    rs->hostname[0] = rs->servname[0] = 0;
    if (rs->kind == ASYNCIO__ADDRINFO ? !rs->host && !rs->service
                                      : !rs->addr || rs->addrlen == 0 || rs->addrlen > sizeof q->addr)
        ASYNCIO_RAISE(-EINVAL, rs->kind == ASYNCIO__ADDRINFO ? "getaddrinfo: no host and no service"
                                                            : "getnameinfo: no address, or a bad length");
    if (!(rs->req = asyncio__lookup_new(rs)))
        ASYNCIO_RAISE(-ENOMEM, NULL);
    ASYNCIO_AWAIT_RC(rc, asyncio_run_in_executor(ASYNCIO_LOOP(), NULL, &rs->work, asyncio__lookup_run, rs->req,
                                                 asyncio__lookup_discard));
    if (asyncio_future_cancelled(&rs->work.fut))
        rs->req = NULL; /* the discard frees it */
    if (rc < 0) {
        snprintf(rs->msg, sizeof rs->msg, "%s", ASYNCIO_ERRMSG());
        ASYNCIO_RAISE(rc, rs->msg);
    }
    q = rs->req;
    if (q->kind == ASYNCIO__NAMEINFO) {
        memcpy(rs->hostname, q->hostname, sizeof rs->hostname);
        memcpy(rs->servname, q->servname, sizeof rs->servname);
        ASYNCIO_RETURN(asyncio_int(0));
    }
    q->result = NULL; /* the caller's now */
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_FINALLY;
    if (rs->req)
        asyncio__lookup_free(rs->req);
    rs->req = NULL;
    ASYNCIO_END();
}

/* >>streams --------------------------------------------------------------- */
struct asyncio_stream {
    asyncio_loop *loop;
    int fd, err;            /* fd -1: reader-only (fed by hand); err: the connection's sticky error */
    char *rbuf;             /* unread input: rbuf[rstart, rend) */
    size_t rstart, rend, rcap, view, limit;
    size_t expected, consumed; /* the last failed read's EINCOMPLETE / ELIMIT values */
    char *wbuf;             /* queued output: wbuf[wstart, wend) */
    size_t wstart, wend, wcap, high, low;
    unsigned char eof, skipping, paused, closing, closed, aborted;
    unsigned char waiting;  /* a read waits for data (CPython's _waiter) */
    unsigned char pipe;     /* not a socket: plain write(), no shutdown, no SO_LINGER */
    unsigned char rgrow;    /* reads offer 4 KiB << rgrow of room */
    unsigned char read_expired; /* the waiting read's time is up */
    const char *errmsg;     /* err's message, when there is a better one than its code's */
    long long read_timeout, write_timeout; /* ns; 0: none */
    unsigned long long wtotal, wmark; /* bytes written; wtotal when the write timer was set */
    asyncio_handle rtimer, wtimer;
#if ASYNCIO_TLS
    struct asyncio__tls_conn *tls; /* NULL: plain */
    asyncio_future start_tls_failed;
#endif
    asyncio_handle flush, release;
    asyncio_future drained, closed_fut;
    asyncio_future fed;     /* reader-only: what a waiting read awaits */
    void (*on_closed)(asyncio_stream *s);
#if ASYNCIO__URING
    struct asyncio__stream_ring { /* completions instead of readiness (asyncio__stream_ring_begin) */
        unsigned char on, receiving, queued, release_waits;
        unsigned ops;       /* its receive and send in the ring: it is not freed before they end */
        size_t sending;     /* bytes of wbuf[wstart, ...) the send in flight reads */
        char *wold;         /* the buffer that send reads, outgrown meanwhile */
        char *rold;         /* the buffer the last read's view was in, outgrown meanwhile */
        const char *rview;  /* that view, in rold: what asyncio_stream_data answers until the next read */
        asyncio_stream *next; /* in the ring's send queue */
    } ring;
#endif
    unsigned peerlen;
    unsigned char peer[128];
};

static void asyncio__stream_flush(asyncio_loop *L, void *arg);
static void asyncio__stream_release(asyncio_loop *L, void *arg);
static void asyncio__ignore_sigpipe(void);
#if ASYNCIO__URING
static void asyncio__stream_ring_end(asyncio_stream *s);
#endif

#if ASYNCIO_TLS
static long asyncio__tls_read(asyncio_stream *s, char *buf, size_t len);
static long asyncio__tls_write(asyncio_stream *s, const char *buf, size_t len);
static unsigned asyncio__tls_wait(asyncio_stream *s, int reading);
static int asyncio__tls_shutdown(asyncio_stream *s);
static void asyncio__tls_close(asyncio_stream *s);
static void asyncio__tls_release(asyncio_stream *s);
#endif
#define asyncio__stream_errmsg(s) ((s)->errmsg)

/* A pipe or a tty gets write() at once, not after a send() that fails
   with ENOTSOCK; a TLS stream SSL_write. */
static long asyncio__stream_send(asyncio_stream *s, const void *buf, size_t len)
{
    long n;
#if ASYNCIO_TLS
    if (s->tls)
        return asyncio__tls_write(s, (const char *)buf, len);
#endif
    if (!s->pipe)
        return asyncio__send(s->fd, buf, len);
    while ((n = (long)write(s->fd, buf, len)) < 0 && errno == EINTR)
        ;
    return n < 0 ? asyncio__errno() : n;
}

static void asyncio__stream_init(asyncio_stream *s, asyncio_loop *L, int fd)
{
    memset(s, 0, sizeof *s);
    s->loop = L;
    s->fd = fd;
    s->limit = 65536;
    s->high = 65536;
    s->low = 16384;
    asyncio__handle_new(L, &s->flush, asyncio__stream_flush, s);
    asyncio__handle_idle(L, &s->release);
    asyncio__handle_idle(L, &s->rtimer);
    asyncio__handle_idle(L, &s->wtimer);
    asyncio_future_init(&s->drained, L);
    if (fd < 0)
        asyncio_future_set_error(&s->drained, -ENOTSUP, "drain on a reader-only stream");
    else
        asyncio_future_set_result(&s->drained, asyncio_int(0));
    asyncio_future_init(&s->closed_fut, L);
    asyncio_future_init(&s->fed, L);
    s->peerlen = sizeof s->peer;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)s->peer, (socklen_t *)&s->peerlen) < 0) {
        s->pipe = fd >= 0 && errno == ENOTSOCK;
        s->peerlen = 0;
    } else if (((struct sockaddr *)s->peer)->sa_family != AF_UNIX) {
        /* as CPython does: no Nagle delay between a reply and the next */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

/* A stream of its own (not a server's): freed once closed. */
static asyncio_stream *asyncio__stream_new(asyncio_loop *L, int fd)
{
    asyncio_stream *s = (asyncio_stream *)asyncio__alloc(L, sizeof *s);
    if (s)
        asyncio__stream_init(s, L, fd);
    return s;
}

asyncio_stream *asyncio_stream_open(asyncio_loop *loop, int fd)
{
    asyncio_stream *s;
    struct stat st;
    int rc;
    if (fd >= 0 && fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
        asyncio__failf(-EINVAL, "stream_open: fd %d is a %s, not a pipe, socket or tty: use the file calls "
                                "(asyncio_file_read, ...)", fd, S_ISREG(st.st_mode) ? "regular file" : "directory");
        return NULL;
    }
    if ((rc = asyncio_fd_add(loop, fd)) < 0 && rc != -EEXIST)
        return NULL; /* fd_add said why */
    asyncio__nosigpipe(fd);
    if (!(s = asyncio__stream_new(loop, fd)))
        asyncio__fail(-ENOMEM, "stream_open: no memory");
    else if (s->pipe)
        asyncio__ignore_sigpipe();
    return s;
}

const char *asyncio_stream_data(const asyncio_stream *s)
{
#if ASYNCIO__URING
    if (s->ring.rview)
        return s->ring.rview;
#endif
    return s->rbuf ? s->rbuf + s->rstart : "";
}
int asyncio_stream_fd(const asyncio_stream *s) { return s->fd; }
size_t asyncio_stream_data_size(const asyncio_stream *s) { return s->view; }
size_t asyncio_stream_buffered(const asyncio_stream *s) { return s->rend - s->rstart - s->view; }
int asyncio_stream_at_eof(const asyncio_stream *s) { return s->eof && s->rend == s->rstart + s->view; }
void asyncio_stream_set_limit(asyncio_stream *s, size_t limit) { s->limit = limit ? limit : 1; }

/* Seconds to ns for a timeout option: 0 none, -1 a bad value. */
static long long asyncio__timeout_ns(double secs)
{
    long long ns;
    if (secs != secs || secs < 0)
        return -1;
    if (secs == 0 || asyncio__secs_to_ns_signed(secs, &ns) < 0)
        return 0; /* 0, or beyond what the clock counts: never */
    return ns > 0 ? ns : 1;
}

int asyncio_stream_set_timeouts(asyncio_stream *s, double read_timeout, double write_timeout)
{
    long long r = asyncio__timeout_ns(read_timeout), w = asyncio__timeout_ns(write_timeout);
    if (r < 0 || w < 0)
        return asyncio__fail(-EINVAL, "stream_set_timeouts: a timeout must be 0 (none) or positive");
    s->read_timeout = r;
    s->write_timeout = w;
    return 0;
}
size_t asyncio_stream_write_buffer_size(const asyncio_stream *s) { return s->wend - s->wstart; }
size_t asyncio_stream_expected(const asyncio_stream *s) { return s->expected; }
size_t asyncio_stream_consumed(const asyncio_stream *s) { return s->consumed; }

void asyncio_stream_set_write_buffer_limits(asyncio_stream *s, size_t high, size_t low)
{
    s->high = high;
    s->low = low > high ? high : low;
}

/* Make room for `more` bytes after end in a buffer of unread [start, end).
   keep: not NULL while the bytes must stay where they are (on io_uring: a
   send in flight reads them, a read's view points at them): no sliding
   down; a bigger buffer takes a copy and the old one waits in *keep for
   its owner to free it when that is over. */
static int asyncio__buf_room(asyncio_loop *L, char **buf, size_t *start, size_t *end, size_t *cap, size_t more,
                             char **keep)
{
    size_t used = *end - *start, ncap = *cap ? *cap : 256; /* small: idle connections are many */
    char *nb;
    if (*cap - *end >= more)
        return 0;
    if (*cap - used >= more && *start && !keep) { /* slide down */
        memmove(*buf, *buf + *start, used);
        *start = 0;
        *end = used;
        return 0;
    }
    while (ncap - used < more) {
        if (ncap > SIZE_MAX / 2)
            return -ENOMEM;
        ncap *= 2;
    }
    if (!(nb = (char *)asyncio__alloc(L, ncap)))
        return -ENOMEM;
    if (used)
        memcpy(nb, *buf + *start, used);
    if (keep && !*keep)
        *keep = *buf;
    else
        asyncio__release(L, *buf);
    *buf = nb;
    *start = 0;
    *end = used;
    *cap = ncap;
    return 0;
}

/* Room in rbuf for `more` bytes.  On io_uring receives land between
   reads: while a read's view is held, the buffer it is in stays
   (ring.rold, freed by the next read) and asyncio_stream_data answers
   from it, so every pointer it gave since that read stays good however
   often rbuf grows. */
static int asyncio__stream_room(asyncio_stream *s, size_t more)
{
#if ASYNCIO__URING
    const char *viewed = s->rbuf ? s->rbuf + s->rstart : NULL;
    int rc = asyncio__buf_room(s->loop, &s->rbuf, &s->rstart, &s->rend, &s->rcap, more, s->view ? &s->ring.rold : NULL);
    if (s->ring.rold && !s->ring.rview)
        s->ring.rview = viewed;
    return rc;
#else
    return asyncio__buf_room(s->loop, &s->rbuf, &s->rstart, &s->rend, &s->rcap, more, NULL);
#endif
}

asyncio_stream *asyncio_stream_new_reader(asyncio_loop *loop)
{
    asyncio_stream *s = loop ? asyncio__stream_new(loop, -1) : NULL;
    if (!s)
        asyncio__fail(loop ? -ENOMEM : -EINVAL, loop ? "new_reader: no memory" : "new_reader: no loop");
    return s;
}

/* A read waiting on a reader-only stream resumes (from the loop). */
static void asyncio__stream_wake(asyncio_stream *s, int err, const char *msg)
{
    if (!s->waiting || s->fd >= 0 || asyncio_future_done(&s->fed))
        return;
    if (err)
        asyncio_future_set_error(&s->fed, err, msg);
    else
        asyncio_future_set_result(&s->fed, asyncio_int(0));
}

int asyncio_stream_feed_data(asyncio_stream *s, const void *data, size_t len)
{
    if (!s || (!data && len) || len > (size_t)PTRDIFF_MAX)
        return asyncio__fail(-EINVAL, "feed_data: no stream, or no data, or too much");
    if (s->fd >= 0)
        return asyncio__fail(-EINVAL, "feed_data on a stream that reads a file descriptor");
    if (s->closing)
        return asyncio__fail(-EBADF, "feed_data: the stream is closed");
    if (s->eof)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "feed_data after feed_eof");
    if (!len)
        return 0;
    if (asyncio__buf_room(s->loop, &s->rbuf, &s->rstart, &s->rend, &s->rcap, len, NULL) < 0)
        return asyncio__fail(-ENOMEM, "feed_data: no memory");
    memcpy(s->rbuf + s->rend, data, len);
    s->rend += len;
    asyncio__stream_wake(s, 0, NULL);
    return 0;
}

int asyncio_stream_feed_eof(asyncio_stream *s)
{
    if (!s || s->fd >= 0)
        return asyncio__fail(-EINVAL, "feed_eof: no stream, or one that reads a file descriptor");
    if (s->closing)
        return asyncio__fail(-EBADF, "feed_eof: the stream is closed");
    s->eof = 1;
    asyncio__stream_wake(s, 0, NULL);
    return 0;
}

/* Read what the fd has: bytes read, 0 at EOF, -EAGAIN, or an error (dry:
   on io_uring, read although the stream is on completions).  The room
   offered starts at 4 KiB and doubles, up to 256 KiB (CPython's most per
   read), each time a read fills it: a quiet connection keeps a small
   buffer, a bulk one needs few system calls. */
static long asyncio__stream_fill(asyncio_stream *s, int dry)
{
    long n;
    size_t room;
    if (s->err)
        return s->err;
    if (s->eof)
        return 0;
#if ASYNCIO__URING
    /* the bytes arrived with the receive's completions, and the readiness
       they set is spent -- unless dry: the receive found the pool empty */
    if (s->ring.on && !dry) {
        asyncio__fd_unready(s->loop, s->fd, ASYNCIO_READABLE);
        return -EAGAIN;
    }
#else
    (void)dry;
#endif
    if (asyncio__stream_room(s, (size_t)4096 << s->rgrow) < 0)
        return -ENOMEM;
    room = s->rcap - s->rend;
#if ASYNCIO_TLS
    if (s->tls) /* its BIO keeps the fd's readiness */
        n = asyncio__tls_read(s, s->rbuf + s->rend, room);
    else
#endif
    if ((n = asyncio__recv(s->fd, s->rbuf + s->rend, room)) > 0 && (size_t)n < room)
        asyncio__fd_drained(s->loop, s->fd);
    else if (n == -EAGAIN)
        asyncio__fd_unready(s->loop, s->fd, ASYNCIO_READABLE);
    if (n > 0 && (size_t)n == room && s->rgrow < 6)
        s->rgrow++;
    if (n > 0)
        s->rend += (size_t)n;
    else if (n == 0)
        s->eof = 1;
    else if (n != -EAGAIN)
        s->err = (int)n;
    return n;
}

static const char *asyncio__memmem(const char *hay, size_t n, const char *needle, size_t m)
{
    size_t i;
    if (m == 0)
        return hay;
    for (i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

enum { ASYNCIO__READ, ASYNCIO__READEXACTLY, ASYNCIO__READLINE, ASYNCIO__READUNTIL };

/* Can rd be answered from the buffer?  1: yes (view set), 0: need more
   data, < 0: fails now (view set to what it hands back, *msg to why).
   The limits and the values reported are CPython 3.13's. */
static int asyncio__stream_check(asyncio_stream *s, const asyncio_read_t *rd, const char **msg)
{
    size_t avail = s->rend - s->rstart;
    const char *hit;
    /* The rest of a line readline found too long is dropped by the next
       readline (README, "Where C differs"); any other read sees those
       bytes, as in CPython, whose readline drops only what had arrived. */
    if (s->skipping && rd->kind != ASYNCIO__READLINE)
        s->skipping = 0;
    if (s->skipping) {
        hit = avail ? (const char *)memchr(s->rbuf + s->rstart, '\n', avail) : NULL;
        s->rstart = hit ? (size_t)(hit - s->rbuf) + 1 : s->rend;
        if (!hit && !s->eof)
            return 0;
        s->skipping = 0;
        avail = s->rend - s->rstart;
    }
    /* view is set only with an answer: a read that waits (and may be
       cancelled) must leave every byte unconsumed */
    if (rd->kind == ASYNCIO__READ) {
        if (rd->n > (size_t)PTRDIFF_MAX) { /* read(-1): everything, once the stream ends */
            if (s->err) { /* the data stays for the next read */
                *msg = "connection failed before end of stream";
                return s->err;
            }
            if (!s->eof)
                return 0;
            s->view = avail;
            return 1;
        }
        if (!avail && !s->eof && !s->err && rd->n)
            return 0;
        s->view = avail < rd->n ? avail : rd->n;
        return 1;
    }
    if (rd->kind == ASYNCIO__READEXACTLY) {
        if (avail < rd->n && !s->eof)
            return 0;
        s->view = avail < rd->n ? avail : rd->n;
        if (avail >= rd->n)
            return 1;
        s->expected = rd->n;
        *msg = "end of stream before readexactly's n bytes";
        return ASYNCIO_EINCOMPLETE;
    }
    hit = avail >= rd->seplen ? asyncio__memmem(s->rbuf + s->rstart, avail, rd->sep, rd->seplen) : NULL;
    if (hit) { /* the limit counts the bytes before the separator */
        size_t start = (size_t)(hit - (s->rbuf + s->rstart));
        if (start <= s->limit) {
            s->view = start + rd->seplen;
            return 1;
        }
        s->consumed = start;
        if (rd->kind == ASYNCIO__READLINE) /* CPython's readline drops the line */
            s->rstart += start + rd->seplen;
        *msg = "Separator is found, but chunk is longer than limit";
        return ASYNCIO_ELIMIT;
    }
    /* not found: CPython gives up once what could be skipped without
       cutting a separator in two exceeds the limit */
    if (avail >= rd->seplen && avail - rd->seplen + 1 > s->limit) {
        s->consumed = avail - rd->seplen + 1;
        if (rd->kind == ASYNCIO__READLINE) { /* drop it, and what follows up to the separator */
            s->rstart = s->rend;
            s->skipping = 1;
        }
        *msg = "Separator is not found, and chunk exceed the limit";
        return ASYNCIO_ELIMIT;
    }
    if (s->eof) { /* CPython: readline gives what is left, readuntil fails */
        s->view = avail;
        if (rd->kind == ASYNCIO__READLINE)
            return 1;
        s->expected = 0; /* CPython's None */
        *msg = "end of stream before the separator";
        return ASYNCIO_EINCOMPLETE;
    }
    return 0;
}

static asyncio_read_t *asyncio__read_setup(asyncio_read_t *rd, asyncio_stream *s, int kind, size_t n,
                                           const char *sep, size_t seplen)
{
    rd->s = s;
    rd->kind = kind;
    rd->n = n;
    rd->sep = sep;
    rd->seplen = seplen;
    return rd;
}

asyncio_read_t *asyncio_stream_read(asyncio_read_t *rd, asyncio_stream *s, size_t n)
{
    return asyncio__read_setup(rd, s, ASYNCIO__READ, n, NULL, 0);
}

asyncio_read_t *asyncio_stream_readexactly(asyncio_read_t *rd, asyncio_stream *s, size_t n)
{
    return asyncio__read_setup(rd, s, ASYNCIO__READEXACTLY, n, NULL, 0);
}

asyncio_read_t *asyncio_stream_readline(asyncio_read_t *rd, asyncio_stream *s)
{
    return asyncio__read_setup(rd, s, ASYNCIO__READLINE, 0, "\n", 1);
}

asyncio_read_t *asyncio_stream_readuntil(asyncio_read_t *rd, asyncio_stream *s, const char *sep, size_t seplen)
{
    return asyncio__read_setup(rd, s, ASYNCIO__READUNTIL, 0, sep, seplen);
}

#if ASYNCIO__URING
static int asyncio__stream_ring_begin(asyncio_stream *s);
static void asyncio__stream_ring_recv(asyncio_stream *s);
#endif

/* What a read waits for: the fd readable -- or, under TLS, writable (the
   handshake of a renegotiation or key update), or nothing: decrypted
   bytes are waiting inside OpenSSL, or (io_uring) the stream failed. */
static unsigned asyncio__stream_read_wait(asyncio_stream *s)
{
    (void)s; /* a plain build: always readable */
#if ASYNCIO_TLS
    if (s->tls)
        return asyncio__tls_wait(s, 1);
#endif
#if ASYNCIO__URING
    if (asyncio__stream_ring_begin(s)) {
        asyncio__stream_ring_recv(s);
        return s->err ? 0u : (unsigned)ASYNCIO_READABLE;
    }
#endif
    return ASYNCIO_READABLE;
}

/* The waiting read's deadline passed: wake it (in its fd's slot, or on
   the fed future); it fails with ASYNCIO_EREADTIMEOUT. */
static void asyncio__stream_read_expired(asyncio_loop *L, void *arg)
{
    asyncio_stream *s = (asyncio_stream *)arg;
    asyncio__fd *e;
    int dir;
    s->read_expired = 1;
    if (s->fd < 0) {
        asyncio__stream_wake(s, 0, NULL);
        return;
    }
    if ((e = asyncio__fd_get(L, s->fd)) != NULL)
        for (dir = 0; dir < 2; dir++)
            if (e->waiter[dir] && e->waiter[dir]->kind == ASYNCIO__K_TASK)
                asyncio__fd_wake(L, e, dir);
}

static const char *const asyncio__read_busy[] = {
    "read() called while another coroutine is already waiting for incoming data",
    "readexactly() called while another coroutine is already waiting for incoming data",
    "readuntil() called while another coroutine is already waiting for incoming data",
    "readuntil() called while another coroutine is already waiting for incoming data"};

int asyncio_reader(asyncio_task *self, void *frame)
{
    asyncio_read_t *rd = (asyncio_read_t *)frame;
    asyncio_stream *s = rd->s;
    const char *msg = NULL;
    unsigned dir;
    long n;
    int rc;
    ASYNCIO_BEGIN(self, rd);
    if (!s)
        ASYNCIO_RAISE(-EINVAL, "read from a NULL stream");
    s->expected = s->consumed = 0; /* the values describe this read's outcome, even a refusal */
    if (rd->kind == ASYNCIO__READEXACTLY && rd->n > (size_t)PTRDIFF_MAX)
        ASYNCIO_RAISE(-EINVAL, "readexactly size can not be less than zero");
    if (rd->kind == ASYNCIO__READUNTIL && (!rd->sep || !rd->seplen))
        ASYNCIO_RAISE(-EINVAL, "Separator should be at least one-byte string");
    if (s->closing)
        ASYNCIO_RAISE(s->aborted ? -ECONNABORTED : -EBADF,
                      s->aborted ? "stream is aborted" : "stream is closed");
    rd->deadline = s->read_timeout ? asyncio__now(s->loop) + s->read_timeout : 0;
    for (;;) {
        /* the previous read's bytes are consumed now (this coroutine's, or
           another's answered from the buffer while this one waited) */
        s->rstart += s->view;
        s->view = 0;
#if ASYNCIO__URING
        asyncio__release(s->loop, s->ring.rold);
        s->ring.rold = NULL;
        s->ring.rview = NULL;
#endif
        if ((rc = asyncio__stream_check(s, rd, &msg)) != 0)
            break;
        if (s->err) /* the connection failed with the data incomplete */
            ASYNCIO_RAISE(s->err, asyncio__stream_errmsg(s));
        if (s->waiting)
            ASYNCIO_RAISE(-EBUSY, asyncio__read_busy[rd->kind]);
        s->waiting = 1;
        if (rd->deadline && asyncio__call_at_ns(s->loop, &s->rtimer, rd->deadline, asyncio__stream_read_expired, s) < 0) {
            s->waiting = 0;
            ASYNCIO_RAISE(-ENOMEM, "read: no memory for the stream's read timeout");
        }
        if (s->fd < 0) { /* reader-only: feed_data, feed_eof, close or abort wakes it */
            asyncio_future_init(&s->fed, self->fut.loop);
            ASYNCIO_AWAIT_RC(rc, &s->fed);
        } else if ((dir = asyncio__stream_read_wait(s)) != 0) {
            /* Read only when the fd is known readable: after a short read
               (see asyncio__fd_drained) that saves the read that would say
               EAGAIN. */
            ASYNCIO__WAIT_READY_RC(rc, s->fd, dir);
        } else
            rc = 0; /* TLS holds decrypted bytes already */
        s->waiting = 0;
        asyncio_handle_cancel(&s->rtimer);
        if (s->read_expired && rc != ASYNCIO_ECANCELLED) {
            s->read_expired = 0;
            ASYNCIO_RAISE(ASYNCIO_EREADTIMEOUT, "read timed out: the peer sent nothing in time (the stream's read "
                                                "timeout); what arrived stays buffered");
        }
        s->read_expired = 0;
        if (rc < 0 && rc != ASYNCIO_ECANCELLED && s->closing)
            ASYNCIO_RAISE(s->aborted ? -ECONNABORTED : -EBADF,
                          s->aborted ? "stream aborted while reading" : "stream closed while reading");
        if (rc < 0)
            ASYNCIO_RAISE(rc, NULL);
        if (s->fd >= 0 && (n = asyncio__stream_fill(s, 0)) < 0 && n != -EAGAIN && !s->err)
            ASYNCIO_RAISE((int)n, NULL); /* -ENOMEM (a connection error: the next pass raises it) */
    }
    if (rc < 0)
        ASYNCIO_RAISE(rc, msg);
    if (!s->view && s->err)
        ASYNCIO_RAISE(s->err, asyncio__stream_errmsg(s));
    ASYNCIO_RETURN(asyncio_int((long long)s->view));
    ASYNCIO_END();
}

static void asyncio__stream_finish_close(asyncio_stream *s)
{
    int err = s->aborted ? -ECONNABORTED : -EBADF;
    const char *msg = s->aborted ? "stream aborted" : "stream closed";
    if (s->closed)
        return;
    s->closed = 1;
#if ASYNCIO_TLS
    if (s->tls)
        asyncio__tls_close(s);
#endif
#if ASYNCIO__URING
    asyncio__stream_ring_end(s); /* its cancellations go out with the fd's, before the close */
#endif
    if (s->fd >= 0)
        asyncio_fd_close(s->loop, s->fd);
    asyncio_handle_cancel(&s->rtimer);
    asyncio_handle_cancel(&s->wtimer);
    if (!asyncio_future_done(&s->drained))
        asyncio_future_set_error(&s->drained, err, msg);
    asyncio__stream_wake(s, err, msg);
    asyncio_future_set_result(&s->closed_fut, asyncio_int(0));
    /* after the closed future's waiters (FIFO), so they can still look */
    asyncio_call_soon(s->loop, &s->release, asyncio__stream_release, s);
}

static void asyncio__stream_release(asyncio_loop *L, void *arg)
{
    asyncio_stream *s = (asyncio_stream *)arg;
#if ASYNCIO__URING
    if (s->ring.ops) { /* the kernel still holds its buffers: the last completion frees it */
        s->ring.release_waits = 1;
        return;
    }
#endif
#if ASYNCIO_TLS
    if (s->tls)
        asyncio__tls_release(s);
#endif
    asyncio__release(L, s->rbuf);
    asyncio__release(L, s->wbuf);
#if ASYNCIO__URING
    asyncio__release(L, s->ring.rold);
#endif
    if (s->on_closed)
        s->on_closed(s);
    else
        asyncio__release(L, s);
}

/* Output fell to the low water mark, or the connection failed. */
static void asyncio__stream_resume(asyncio_stream *s)
{
    if (s->err && !asyncio_future_done(&s->drained))
        asyncio_future_set_error(&s->drained, s->err, asyncio__stream_errmsg(s));
    else if (s->paused && s->wend - s->wstart <= s->low) {
        s->paused = 0;
        asyncio_future_set_result(&s->drained, asyncio_int(0));
    }
}

static void asyncio__stream_write_expired(asyncio_loop *L, void *arg);

/* The write timeout's clock starts (again); with no memory for its timer
   the stream fails rather than wait without a bound. */
static void asyncio__stream_write_clock(asyncio_stream *s)
{
    s->wmark = s->wtotal;
    if (asyncio__call_at_ns(s->loop, &s->wtimer, asyncio__now(s->loop) + s->write_timeout,
                            asyncio__stream_write_expired, s) < 0 && !s->err) {
        s->err = -ENOMEM;
        s->errmsg = "no memory for the stream's write timeout";
        asyncio__stream_resume(s);
    }
}

/* Output has waited for the peer for write_timeout: if nothing moved
   since the timer was set, the stream fails (a closing one is aborted);
   otherwise the wait starts again. */
static void asyncio__stream_write_expired(asyncio_loop *L, void *arg)
{
    asyncio_stream *s = (asyncio_stream *)arg;
    if (s->wstart == s->wend || s->err)
        return;
    if (s->wtotal != s->wmark) {
        asyncio__stream_write_clock(s);
        return;
    }
    if (s->closing) {
        asyncio_stream_abort(s);
        return;
    }
    s->err = ASYNCIO_EWRITETIMEOUT;
    s->errmsg = "write timed out: the peer did not read in time (the stream's write timeout)";
#if ASYNCIO__URING
    if (s->ring.sending) /* the output stops here, as it does on the other backends */
        asyncio__uring_cancel(L, s, ASYNCIO__URING_SEND);
#endif
    asyncio__stream_resume(s);
    asyncio__stream_read_expired(L, s); /* a waiting read hears of it too */
    s->read_expired = 0;
}

/* The fd took no more output: the flush handle waits until it can. */
static void asyncio__stream_blocked(asyncio_stream *s)
{
    unsigned dir = ASYNCIO_WRITABLE;
    if (s->write_timeout && !(s->wtimer.fut.state & ASYNCIO__F_LINKED)) /* not already counting */
        asyncio__stream_write_clock(s);
#if ASYNCIO_TLS
    if (s->tls) /* its BIO forgot the readiness it met EAGAIN on */
        dir = asyncio__tls_wait(s, 0);
    else
#endif
        asyncio__fd_unready(s->loop, s->fd, ASYNCIO_WRITABLE);
    if (dir) {
        s->flush.fut.state = (unsigned char)(s->flush.fut.state & ~ASYNCIO__S_MASK);
        asyncio__fd_watch(s->loop, s->fd, dir, &s->flush.fut);
    }
}

/* All output is out (or failed) on a closing stream: close it -- a TLS
   one after its close_notify exchange. */
static void asyncio__stream_output_done(asyncio_stream *s)
{
#if ASYNCIO_TLS
    if (s->tls && asyncio__tls_shutdown(s))
        return; /* finish_close comes at its end */
#endif
    asyncio__stream_finish_close(s);
}

/* Output went out (or failed): empty, the buffer starts over; the writer
   may go on; a closing stream closes once nothing is left. */
static void asyncio__stream_wrote(asyncio_stream *s)
{
    if (s->wstart == s->wend) {
        s->wstart = s->wend = 0;
        asyncio_handle_cancel(&s->wtimer);
    }
    asyncio__stream_resume(s);
    if (s->closing && (s->wstart == s->wend || s->err))
        asyncio__stream_output_done(s);
}

#if ASYNCIO__URING
/* On io_uring a socket stream reads and writes by completions, not
   readiness.  One multishot receive, armed when a read first waits, takes
   what arrives into the loop's buffer pool; the loop copies the bytes into
   rbuf as it reads the completions (no recv(2), no readiness round trip).
   A pass's output leaves as one send per stream with the loop's next
   submission (no send(2) per write).  Reads still wait in the fd's slot,
   which each receive marks readable, so timeouts, cancellation and close
   work as on the other backends.  Like CPython's transport, the stream
   reads ahead while nobody reads, up to twice its limit, then pauses (the
   receive is cancelled) until a read waits again.  The bytes a send reads
   stay where they are until it is back (asyncio__buf_room's keep), and a
   stream is freed only after its last completion.  Pipes, TLS, output
   still queued from before, and a kernel without the pool keep
   readiness.  1: the stream is on completions. */
static int asyncio__stream_ring_begin(asyncio_stream *s)
{
    asyncio_loop *L = s->loop;
    if (s->ring.on)
        return 1;
    if (!L->backend_buf || s->fd < 0 || s->pipe || s->closing || s->wstart != s->wend ||
        !asyncio__fd_get(L, s->fd) || !asyncio__uring_pool(L))
        return 0;
#if ASYNCIO_TLS
    if (s->tls)
        return 0;
#endif
    asyncio__uring_unwatch(L, s->fd);
    s->ring.on = 1;
    return 1;
}

/* Arm the receive, unless one is armed or the stream has nothing more to
   read; with no submission slot the stream fails (EBUSY). */
static void asyncio__stream_ring_recv(asyncio_stream *s)
{
    asyncio__uring_sqe *e;
    if (!s->ring.on || s->ring.receiving || s->eof || s->err || s->closing || asyncio__ring(s->loop)->quiescing)
        return;
    if (!(e = asyncio__uring_op(s->loop, ASYNCIO__IORING_OP_RECV, s->fd, NULL, 0, 0, s, ASYNCIO__URING_RECV))) {
        s->err = -EBUSY;
        s->errmsg = "no io_uring submission slot for the stream's receive";
        return;
    }
    e->ioprio = ASYNCIO__IORING_RECV_MULTISHOT;
    e->flags = ASYNCIO__IOSQE_BUFFER_SELECT; /* from buffer group 0: the pool */
    s->ring.receiving = 1;
    s->ring.ops++;
}

/* Output for the next submission. */
static void asyncio__stream_ring_queue(asyncio_stream *s)
{
    asyncio__uring *R = asyncio__ring(s->loop);
    if (s->ring.queued || s->ring.sending)
        return; /* a send in flight queues the rest when it is back */
    s->ring.queued = 1;
    s->ring.next = R->sendq;
    R->sendq = s;
}

/* The send queue into the submission: one send per stream, of all its
   output (a short one sends the rest when it is back). */
static void asyncio__stream_ring_submit(asyncio_loop *L)
{
    asyncio__uring *R = asyncio__ring(L);
    asyncio_stream *s;
    asyncio__uring_sqe *e;
    while ((s = R->sendq) != NULL) {
        size_t n = s->wend - s->wstart;
        if (n > 0x7ffff000u) /* the most one send(2) takes */
            n = 0x7ffff000u;
        if (!(e = asyncio__uring_op(L, ASYNCIO__IORING_OP_SEND, s->fd, s->wbuf + s->wstart, (unsigned)n, 0, s,
                                    ASYNCIO__URING_SEND)))
            return; /* no slot: the next pass */
        e->op_flags = MSG_NOSIGNAL;
        R->sendq = s->ring.next;
        R->sends++;
        s->ring.queued = 0;
        s->ring.sending = n;
        s->ring.ops++;
        if (s->write_timeout && !(s->wtimer.fut.state & ASYNCIO__F_LINKED))
            asyncio__stream_write_clock(s);
    }
}

/* Completions stop: the receive and the send are cancelled (with the next
   submission), the stream leaves the send queue; their last completions
   still come. */
static void asyncio__stream_ring_end(asyncio_stream *s)
{
    asyncio_loop *L = s->loop;
    asyncio_stream **p;
    if (!s->ring.on)
        return;
    if (s->ring.queued) {
        for (p = &asyncio__ring(L)->sendq; *p != s; p = &(*p)->ring.next)
            ;
        *p = s->ring.next;
        s->ring.queued = 0;
    }
    if (s->ring.receiving == 1) {
        asyncio__uring_cancel(L, s, ASYNCIO__URING_RECV);
        s->ring.receiving = 2;
    }
    if (s->ring.sending)
        asyncio__uring_cancel(L, s, ASYNCIO__URING_SEND);
    s->ring.on = 0;
}

/* CPython pauses reading past twice the limit. */
#define asyncio__stream_ahead(s)                                                                         \
    ((s)->rend - (s)->rstart > (s)->limit && (s)->rend - (s)->rstart - (s)->limit > (s)->limit)

/* A completion of s's receive or send (data: the pool buffer holding
   res bytes; last: the operation is over).  The fd's slot hears of it as
   readiness; a stream closed meanwhile only counts it. */
static void asyncio__stream_ring_done(asyncio_loop *L, asyncio_stream *s, unsigned tag, int res, const char *data,
                                      int last)
{
    unsigned events = 0;
    asyncio__fd *e;
    int ahead;
    if (last)
        s->ring.ops--;
    if (tag == ASYNCIO__URING_SEND) {
        asyncio__ring(L)->sends--;
        asyncio__release(L, s->ring.wold);
        s->ring.wold = NULL;
        s->ring.sending = 0;
        if (!s->closed) {
            if (res > 0) {
                s->wstart += (size_t)res;
                s->wtotal += (unsigned long long)res;
                if (s->write_timeout && s->wstart < s->wend) { /* the socket is full: its clock starts now */
                    asyncio_handle_cancel(&s->wtimer);
                    asyncio__stream_write_clock(s);
                }
            } else if (!s->err && (res != -ECANCELED || s->ring.on)) /* cancelled by ring_leave: it stays queued */
                s->err = res < 0 ? res : -EPIPE;
            if (s->wstart < s->wend && !s->err && s->ring.on)
                asyncio__stream_ring_queue(s);
            events = s->err ? ASYNCIO__ERR : 0; /* a waiting read meets the error */
            asyncio__stream_wrote(s);
        }
    } else if (!s->closed) {
        if (data && res > 0) {
            events = ASYNCIO_READABLE;
            if (asyncio__stream_room(s, (size_t)res) == 0) {
                memcpy(s->rbuf + s->rend, data, (size_t)res);
                s->rend += (size_t)res;
            } else if (!s->err) {
                s->err = -ENOMEM;
                s->errmsg = "no memory for what the connection received";
            }
        } else if (res == 0) {
            s->eof = 1;
            events = ASYNCIO_READABLE;
        } else if (res == -ENOBUFS) {
            /* The pool ran dry: what this stream has is read at once, as
               without the ring -- a dry pool costs a recv(2), never a turn
               (the first receives armed again would take every buffer
               given back, pass after pass, and starve the rest). */
            asyncio__ring(L)->pool_dry++;
            if ((s->waiting || !asyncio__stream_ahead(s)) && asyncio__stream_fill(s, 1) != -EAGAIN)
                events = ASYNCIO_READABLE;
        } else if (res != -ECANCELED && !s->err)
            s->err = res;
        if (s->err)
            events = ASYNCIO__ERR;
        ahead = asyncio__stream_ahead(s);
        if (last) { /* ended by a dry pool, a pause, or the kernel: armed again when wanted */
            s->ring.receiving = 0;
            if (s->waiting || !ahead)
                asyncio__stream_ring_recv(s);
        } else if (s->ring.receiving == 1 && !s->waiting && ahead) {
            asyncio__uring_cancel(L, s, ASYNCIO__URING_RECV);
            s->ring.receiving = 2;
        }
    }
    if (events && (e = asyncio__fd_get(L, s->fd)) != NULL) /* reap leaves room for one */
        asyncio__fired_push(L, s->fd, e->gen, events);
    if (!s->ring.ops && s->ring.release_waits && !asyncio__ring(L)->quiescing)
        asyncio__stream_release(L, s);
}

#if ASYNCIO_TLS
/* Back to readiness, for TLS: the fd's poll is armed again, the receive
   and the send are cancelled, and their last completions are waited for
   here, so that what the receive took is in rbuf (where TLS takes its
   early bytes) and what the send did not send is still queued (TLS's
   plain-text flush sends it) before the handshake touches the socket.
   The events this reaps for other fds are handed to their waiters as it
   goes (a reap stops at a full L->fired).  -EBUSY: no submission slot,
   the stream still on completions and usable; -ETIMEDOUT: the kernel
   kept them past a second (not seen): the stream is aborted, as neither
   way of reading or writing could go on in order. */
static int asyncio__stream_ring_leave(asyncio_stream *s)
{
    asyncio_loop *L = s->loop;
    asyncio__fd *e = asyncio__fd_get(L, s->fd);
    int tries;
    if (!s->ring.on)
        return 0;
    if (!e || asyncio__backend_add(L, s->fd, e->gen) < 0)
        return -EBUSY;
    e->fed = 0;
    asyncio__stream_ring_end(s);
    for (tries = 0; s->ring.ops && tries < 100; tries++) {
        if (asyncio__uring_enter(L, ASYNCIO__IORING_ENTER_GETEVENTS, 1, 10000000LL) < 0)
            break;
        asyncio__fd_dispatch(L);
        asyncio__uring_reap(L);
    }
    if (s->ring.ops) {
        asyncio_stream_abort(s);
        return -ETIMEDOUT;
    }
    if (s->wstart != s->wend) /* queued for the ring: the flush sends it now, when the fd is writable */
        asyncio__stream_blocked(s);
    return 0;
}
#endif
#endif

/* Write what is queued; wait for writability again on EAGAIN. */
static void asyncio__stream_flush(asyncio_loop *L, void *arg)
{
    asyncio_stream *s = (asyncio_stream *)arg;
    long n = 0;
    (void)L;
    if (s->closed)
        return;
    while (s->wstart < s->wend && !s->err) {
        n = asyncio__stream_send(s, s->wbuf + s->wstart, s->wend - s->wstart);
        if (n == -EAGAIN) {
            asyncio__stream_blocked(s);
            break;
        }
        if (n < 0)
            s->err = (int)n;
        else {
            s->wstart += (size_t)n;
            s->wtotal += (unsigned long long)n;
        }
    }
    asyncio__stream_wrote(s);
}

int asyncio_stream_write(asyncio_stream *s, const void *data, size_t len)
{
    const char *p = (const char *)data;
    int ring = 0;
    char **keep = NULL;
    if (s->fd < 0)
        return asyncio__fail(-ENOTSUP, "write to a reader-only stream");
    if (s->closing)
        return asyncio__fail(-EBADF, "write: the stream is closing");
    if (s->err)
        return asyncio__failf(s->err, "write: the connection failed: %s", asyncio_strerror(s->err));
    if (!len)
        return 0;
#if ASYNCIO__URING
    if ((ring = asyncio__stream_ring_begin(s)) != 0 && s->ring.sending)
        keep = &s->ring.wold;
#endif
    if (s->wstart == s->wend && !ring) { /* nothing queued: try the socket first */
        long n = 0;
        while (len && (n = asyncio__stream_send(s, p, len)) > 0) {
            p += n;
            len -= (size_t)n;
            s->wtotal += (unsigned long long)n;
        }
        if (n < 0 && n != -EAGAIN) {
            s->err = (int)n;
            asyncio__stream_resume(s);
            return asyncio__failf(s->err, "write: the connection failed: %s", asyncio_strerror(s->err));
        }
        if (!len)
            return 0;
        asyncio__stream_blocked(s);
    }
    if (asyncio__buf_room(s->loop, &s->wbuf, &s->wstart, &s->wend, &s->wcap, len, keep) < 0)
        return asyncio__fail(-ENOMEM, "write: no memory to buffer the output");
    memcpy(s->wbuf + s->wend, p, len);
    s->wend += len;
#if ASYNCIO__URING
    if (ring)
        asyncio__stream_ring_queue(s);
#endif
    if (!s->paused && s->wend - s->wstart > s->high && !s->drained.waiters &&
        !(s->drained.state & ASYNCIO__F_LINKED)) {
        s->paused = 1;
        asyncio_future_init(&s->drained, s->loop);
    }
    return 0;
}

asyncio_future *asyncio_stream_drain(asyncio_stream *s)
{
    /* a drain cancelled by its awaiter leaves a fresh one (as CPython makes
       a new waiter per call) */
    if (asyncio_future_cancelled(&s->drained) && !s->drained.waiters && !(s->drained.state & ASYNCIO__F_LINKED)) {
        asyncio_future_init(&s->drained, s->loop);
        if (!s->paused)
            asyncio_future_set_result(&s->drained, asyncio_int(0));
    }
    /* a failed connection: drain fails with its error */
    if (s->err && !s->drained.waiters && !(s->drained.state & ASYNCIO__F_LINKED) &&
        asyncio_future_error(&s->drained) != s->err) {
        asyncio_future_init(&s->drained, s->loop);
        asyncio_future_set_error(&s->drained, s->err, asyncio__stream_errmsg(s));
    }
#if ASYNCIO__URING
    /* On completions the output leaves with the next submission: drain
       waits for it there, so that its error meets the drain, as it does
       where write sends at once. */
    if (s->ring.on && (s->ring.queued || s->ring.sending) && !s->paused && !s->err && !s->drained.waiters &&
        !(s->drained.state & ASYNCIO__F_LINKED)) {
        s->paused = 1;
        asyncio_future_init(&s->drained, s->loop);
    }
#endif
    return &s->drained;
}

asyncio_future *asyncio_stream_close(asyncio_stream *s)
{
    if (!s->closing) {
        s->closing = 1;
        if (s->wstart == s->wend || s->err)
            asyncio__stream_output_done(s);
    }
    return &s->closed_fut;
}

asyncio_future *asyncio_stream_abort(asyncio_stream *s)
{
    ASYNCIO_ASSERT(s != NULL);
    if (!s->closed) {
        int family = s->peerlen ? ((struct sockaddr *)s->peer)->sa_family : AF_UNSPEC;
        s->closing = s->aborted = 1;
        s->wstart = s->wend = 0; /* queued output is dropped */
        if (family == AF_INET || family == AF_INET6) { /* close(2) then resets the connection */
            struct linger lg;
            lg.l_onoff = 1;
            lg.l_linger = 0;
            setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        asyncio__stream_finish_close(s);
    }
    return &s->closed_fut;
}

char *asyncio_stream_peer(const asyncio_stream *s, char *buf, size_t size)
{
    const struct sockaddr *sa = (const struct sockaddr *)s->peer;
    char host[INET6_ADDRSTRLEN];
    if (!size)
        return buf;
    buf[0] = 0;
    if (!s->peerlen)
        return buf;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)s->peer;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(buf, size, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)s->peer;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(buf, size, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX)
        snprintf(buf, size, "%s", ((const struct sockaddr_un *)s->peer)->sun_path);
    return buf;
}

/* open_connection */
/* >>tls ------------------------------------------------------------------- */
#if ASYNCIO_TLS
/* OpenSSL reads and writes the socket itself, through a BIO of ours that
   keeps the loop's edge-triggered bookkeeping (an EAGAIN forgets the
   readiness, a short read drains it) and hands out first the bytes that
   arrived before start_tls.  The handshake and the shutdown are driven
   by a handle on the fd; once open, the stream's own reads and writes
   call SSL_read / SSL_write where they called read / write. */
struct asyncio_tls {
    SSL_CTX *ctx;
    int server, refs;          /* refs: the caller's and each connection's (atomic) */
    unsigned flags;
    long long handshake_ns, shutdown_ns;
    unsigned char alpn[256];   /* wire format: a length byte before each name */
    unsigned alpn_len;
    struct asyncio__tls_name {
        char *name;
        asyncio_tls *ctx;
    } *names;
    size_t nnames;
};

enum { ASYNCIO__TLS_HANDSHAKE, ASYNCIO__TLS_OPEN, ASYNCIO__TLS_SHUTDOWN, ASYNCIO__TLS_DONE };

typedef struct asyncio__tls_conn {
    SSL *ssl;
    asyncio_tls *ctx;
    asyncio_stream *s;
    char *early;               /* ciphertext read before start_tls */
    size_t nearly, early_at;
    size_t plain;              /* output queued before start_tls: it goes out first, as it is */
    int phase;
    unsigned char read_wants_write, write_wants_read;
    asyncio_handle step, timer;
    asyncio_future handshake;  /* 0 or why the handshake failed */
    char alpn[64];
    const char *msg;           /* the last error's, in the loop's memory */
} asyncio__tls_conn;

static void asyncio__tls_step(asyncio_loop *L, void *arg);
static void asyncio__tls_shake(asyncio__tls_conn *c);

/* ---- contexts ---- */
static void asyncio__tls_ref(asyncio_tls *t) { ASYNCIO__ADD(&t->refs, 1); }

void asyncio_tls_free(asyncio_tls *t)
{
    size_t i;
    if (!t || ASYNCIO__ADD(&t->refs, -1) > 0)
        return;
    for (i = 0; i < t->nnames; i++) {
        free(t->names[i].name);
        asyncio_tls_free(t->names[i].ctx);
    }
    free(t->names);
    SSL_CTX_free(t->ctx);
    free(t);
}

struct ssl_ctx_st *asyncio_tls_ssl_ctx(asyncio_tls *t) { return t->ctx; }

/* OpenSSL's queue of errors as one line, emptied. */
static const char *asyncio__ssl_reason(char *buf, size_t size)
{
    unsigned long e = ERR_get_error(), last = e;
    while (last && (e = ERR_get_error()) != 0)
        last = e; /* the innermost reason is the first; keep it */
    ERR_clear_error();
    if (!last)
        return "no reason given";
    ERR_error_string_n(last, buf, size);
    return buf;
}

static int asyncio__tls_fail(const char *what, const char *detail)
{
    char reason[256];
    return asyncio__failf(ASYNCIO_ETLS, "%s%s: %s", what, detail ? detail : "",
                          asyncio__ssl_reason(reason, sizeof reason));
}

/* The server's ALPN choice: its first protocol that the client offers. */
static int asyncio__tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                    const unsigned char *in, unsigned inlen, void *arg)
{
    asyncio_tls *t = (asyncio_tls *)arg;
    unsigned char *sel;
    (void)ssl;
    if (SSL_select_next_proto(&sel, outlen, t->alpn, t->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int asyncio__tls_name_matches(const char *pattern, const char *name)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        return dot && dot != name && strcasecmp(dot, pattern + 1) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

/* SNI: the context added for the name the client asks for. */
static int asyncio__tls_servername(SSL *ssl, int *alert, void *arg)
{
    asyncio_tls *t = (asyncio_tls *)arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    size_t i;
    (void)alert;
    for (i = 0; name && i < t->nnames; i++)
        if (asyncio__tls_name_matches(t->names[i].name, name)) {
            SSL_set_SSL_CTX(ssl, t->names[i].ctx->ctx);
            break;
        }
    return SSL_TLSEXT_ERR_OK;
}

static int asyncio__tls_new(asyncio_tls **out, const asyncio_tls_options *o, int server)
{
    static const asyncio_tls_options none;
    const char *what = server ? "tls_server" : "tls_client";
    asyncio_tls *t;
    size_t i;
    int rc = 0;
    if (!out)
        return asyncio__failf(-EINVAL, "%s: nowhere to put the context", what);
    *out = NULL;
    if (!o)
        o = &none;
    if (o->flags & ~(ASYNCIO_TLS_INSECURE_NO_VERIFY | ASYNCIO_TLS_VERIFY_CLIENT | ASYNCIO_TLS_REQUIRE_CLIENT |
                     ASYNCIO_TLS_ALLOW_TRUNCATION))
        return asyncio__failf(-EINVAL, "%s: unknown flags 0x%x", what, o->flags);
    if (server && !o->certfile)
        return asyncio__failf(-EINVAL, "%s: a server needs a certificate (certfile)", what);
    if (o->handshake_timeout < 0 || o->shutdown_timeout < 0 || o->handshake_timeout != o->handshake_timeout ||
        o->shutdown_timeout != o->shutdown_timeout)
        return asyncio__failf(-EINVAL, "%s: a timeout must be positive", what);
    if (!(t = (asyncio_tls *)calloc(1, sizeof *t)))
        return asyncio__failf(-ENOMEM, "%s: no memory", what);
    t->server = server;
    t->refs = 1;
    t->flags = o->flags;
    t->handshake_ns = (long long)((o->handshake_timeout > 0 ? o->handshake_timeout : 60.0) * 1e9);
    t->shutdown_ns = (long long)((o->shutdown_timeout > 0 ? o->shutdown_timeout : 30.0) * 1e9);
    ERR_clear_error();
    if (!(t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()))) {
        free(t);
        return asyncio__tls_fail(what, ": cannot create the SSL_CTX");
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* the stream's write buffer moves when it grows; a write may be partial */
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    /* one recv for a record's header and body, and for the records queued
       behind it (bench/tls: 12.8 reads a handshake without, 4.8 with) */
    SSL_CTX_set_read_ahead(t->ctx, 1);
    if (o->cafile || o->capath) {
        if (SSL_CTX_load_verify_locations(t->ctx, o->cafile, o->capath) != 1)
            rc = asyncio__tls_fail(what, ": cannot load the CA file or directory");
    } else if (!server && SSL_CTX_set_default_verify_paths(t->ctx) != 1)
        rc = asyncio__tls_fail(what, ": cannot load the system's trust store");
    if (!rc && o->certfile) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->certfile) != 1)
            rc = asyncio__tls_fail(what, ": cannot load the certificate chain");
        else if (SSL_CTX_use_PrivateKey_file(t->ctx, o->keyfile ? o->keyfile : o->certfile, SSL_FILETYPE_PEM) != 1)
            rc = asyncio__tls_fail(what, ": cannot load the private key");
        else if (SSL_CTX_check_private_key(t->ctx) != 1)
            rc = asyncio__tls_fail(what, ": the private key does not match the certificate");
    }
    for (i = 0; !rc && o->alpn && o->alpn[i]; i++) {
        size_t n = strlen(o->alpn[i]);
        if (n == 0 || n > 255 || t->alpn_len + 1 + n > sizeof t->alpn) {
            ERR_clear_error();
            rc = asyncio__failf(ASYNCIO_ETLS, "%s: bad ALPN protocol name '%s'", what, o->alpn[i]);
            break;
        }
        t->alpn[t->alpn_len++] = (unsigned char)n;
        memcpy(t->alpn + t->alpn_len, o->alpn[i], n);
        t->alpn_len += (unsigned)n;
    }
    if (!rc && t->alpn_len) {
        if (server)
            SSL_CTX_set_alpn_select_cb(t->ctx, asyncio__tls_alpn_select, t);
        else if (SSL_CTX_set_alpn_protos(t->ctx, t->alpn, t->alpn_len) != 0)
            rc = asyncio__tls_fail(what, ": cannot set the ALPN protocols");
    }
    if (rc) {
        asyncio_tls_free(t);
        return rc;
    }
    if (server) {
        int mode = (o->flags & (ASYNCIO_TLS_VERIFY_CLIENT | ASYNCIO_TLS_REQUIRE_CLIENT)) ? SSL_VERIFY_PEER : 0;
        if (o->flags & ASYNCIO_TLS_REQUIRE_CLIENT)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(t->ctx, mode, NULL);
        SSL_CTX_set_tlsext_servername_callback(t->ctx, asyncio__tls_servername);
        SSL_CTX_set_tlsext_servername_arg(t->ctx, t);
    } else
        SSL_CTX_set_verify(t->ctx, (o->flags & ASYNCIO_TLS_INSECURE_NO_VERIFY) ? SSL_VERIFY_NONE : SSL_VERIFY_PEER,
                           NULL);
    *out = t;
    return 0;
}

int asyncio_tls_client(asyncio_tls **out, const asyncio_tls_options *opts) { return asyncio__tls_new(out, opts, 0); }
int asyncio_tls_server(asyncio_tls **out, const asyncio_tls_options *opts) { return asyncio__tls_new(out, opts, 1); }

int asyncio_tls_add_name(asyncio_tls *t, const char *name, asyncio_tls *other)
{
    struct asyncio__tls_name *names;
    if (!t || !name || !*name || !other || !t->server || !other->server || other == t)
        return asyncio__fail(-EINVAL, "tls_add_name: two server contexts and a name are needed");
    if (!(names = (struct asyncio__tls_name *)realloc(t->names, (t->nnames + 1) * sizeof *names)))
        return asyncio__fail(-ENOMEM, "tls_add_name: no memory");
    t->names = names;
    if (!(names[t->nnames].name = strdup(name)))
        return asyncio__fail(-ENOMEM, "tls_add_name: no memory");
    asyncio__tls_ref(other);
    names[t->nnames++].ctx = other;
    return 0;
}

/* ---- the BIO: the socket, as the loop sees it ---- */
static int asyncio__bio_read(BIO *b, char *buf, int len)
{
    asyncio_stream *s = (asyncio_stream *)BIO_get_data(b);
    asyncio__tls_conn *c = s->tls;
    long n;
    BIO_clear_retry_flags(b);
    if (c->early_at < c->nearly) { /* what came before start_tls comes first */
        n = (long)(c->nearly - c->early_at) < len ? (long)(c->nearly - c->early_at) : len;
        memcpy(buf, c->early + c->early_at, (size_t)n);
        c->early_at += (size_t)n;
        return (int)n;
    }
    n = asyncio__recv(s->fd, buf, (size_t)len);
    if (n > 0 && n < len)
        asyncio__fd_drained(s->loop, s->fd);
    if (n == -EAGAIN) {
        asyncio__fd_unready(s->loop, s->fd, ASYNCIO_READABLE);
        BIO_set_retry_read(b);
        return -1;
    }
    if (n < 0) {
        errno = (int)-n;
        return -1;
    }
    return (int)n;
}

static int asyncio__bio_write(BIO *b, const char *buf, int len)
{
    asyncio_stream *s = (asyncio_stream *)BIO_get_data(b);
    long n;
    BIO_clear_retry_flags(b);
    n = asyncio__send(s->fd, buf, (size_t)len);
    if (n == -EAGAIN) {
        asyncio__fd_unready(s->loop, s->fd, ASYNCIO_WRITABLE);
        BIO_set_retry_write(b);
        return -1;
    }
    if (n < 0) {
        errno = (int)-n;
        return -1;
    }
    return (int)n;
}

static long asyncio__bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH; /* nothing is buffered here */
}

static int asyncio__bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *asyncio__bio_method;
static void asyncio__bio_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "asyncio.h socket");
    if (m && BIO_meth_set_read(m, asyncio__bio_read) && BIO_meth_set_write(m, asyncio__bio_write) &&
        BIO_meth_set_ctrl(m, asyncio__bio_ctrl) && BIO_meth_set_create(m, asyncio__bio_create))
        asyncio__bio_method = m;
    else if (m)
        BIO_meth_free(m);
}

/* ---- a connection ---- */
/* The error of the SSL call that returned rc: ASYNCIO_PENDING when it
   waits for the fd, 0 for a clean close, or the error, its message kept
   in the loop's memory (c->msg: it outlives the stream, as messages
   must). */
static int asyncio__tls_failed(asyncio__tls_conn *c, int err)
{
    c->msg = asyncio__keep(c->s->loop, asyncio_errmsg());
    return err;
}

static int asyncio__tls_error(asyncio__tls_conn *c, int rc, const char *what)
{
    char reason[256];
    int e = SSL_get_error(c->ssl, rc), saved = errno;
    long verify;
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        ERR_clear_error();
        return ASYNCIO_PENDING;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return 0;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (saved && rc < 0) /* the socket's own error */
                return asyncio__tls_failed(c, asyncio__failf(-saved, "%s: %s", what, strerror(saved)));
            return asyncio__tls_failed(c, asyncio__failf(ASYNCIO_ETLS, "%s: EOF occurred in violation of protocol", what));
        }
        break;
    default:
        break;
    }
    verify = SSL_get_verify_result(c->ssl);
    if (c->phase == ASYNCIO__TLS_HANDSHAKE && verify != X509_V_OK) {
        ERR_clear_error();
        if (verify == X509_V_ERR_HOSTNAME_MISMATCH) {
            const char *host = SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
            asyncio__failf(ASYNCIO_ETLSVERIFY,
                           "%s: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, "
                           "certificate is not valid for '%s'.", what, host ? host : "");
        } else
            asyncio__failf(ASYNCIO_ETLSVERIFY, "%s: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: %s",
                           what, X509_verify_cert_error_string(verify));
        return asyncio__tls_failed(c, ASYNCIO_ETLSVERIFY);
    }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return asyncio__tls_failed(c, asyncio__failf(ASYNCIO_ETLS, "%s: EOF occurred in violation of protocol", what));
    }
#endif
    asyncio__failf(ASYNCIO_ETLS, "%s: %s", what, asyncio__ssl_reason(reason, sizeof reason));
    return asyncio__tls_failed(c, ASYNCIO_ETLS);
}

static void asyncio__tls_watch(asyncio__tls_conn *c)
{
    unsigned dir = SSL_want_write(c->ssl) ? ASYNCIO_WRITABLE : ASYNCIO_READABLE;
    c->step.fut.state = (unsigned char)(c->step.fut.state & ~ASYNCIO__S_MASK);
    asyncio__fd_watch(c->s->loop, c->s->fd, dir, &c->step.fut);
}

static void asyncio__tls_timed_out(asyncio_loop *L, void *arg);
static void asyncio__stream_finish_close(asyncio_stream *s);
static void asyncio__stream_flush(asyncio_loop *L, void *arg);

/* The handshake ended: the future says how. */
static void asyncio__tls_handshaken(asyncio__tls_conn *c, int rc)
{
    asyncio_handle_cancel(&c->timer);
    if (rc == 0) {
        const unsigned char *p;
        unsigned n;
        c->phase = ASYNCIO__TLS_OPEN;
        SSL_get0_alpn_selected(c->ssl, &p, &n);
        if (n && n < sizeof c->alpn) {
            memcpy(c->alpn, p, n);
            c->alpn[n] = 0;
        }
        asyncio_future_set_result(&c->handshake, asyncio_int(0));
        if (c->s->wstart < c->s->wend) /* written while it shook hands */
            asyncio__stream_flush(c->s->loop, c->s);
    } else {
        c->phase = ASYNCIO__TLS_DONE;
        c->s->err = rc;
        c->s->errmsg = c->msg;
        asyncio_future_set_error(&c->handshake, rc, c->msg);
    }
}

/* The handle behind the handshake and the shutdown: the fd is ready. */
static void asyncio__tls_step(asyncio_loop *L, void *arg)
{
    asyncio__tls_conn *c = (asyncio__tls_conn *)arg;
    int rc;
    (void)L;
    if (c->phase == ASYNCIO__TLS_HANDSHAKE) {
        if ((rc = SSL_do_handshake(c->ssl)) == 1)
            asyncio__tls_handshaken(c, 0);
        else if ((rc = asyncio__tls_error(c, rc, "TLS handshake")) == ASYNCIO_PENDING)
            asyncio__tls_watch(c);
        else
            asyncio__tls_handshaken(c, rc ? rc : ASYNCIO_ETLS);
    } else if (c->phase == ASYNCIO__TLS_SHUTDOWN) {
        char sink[4096];
        /* close_notify out, then what the peer still sends until its own */
        if ((rc = SSL_shutdown(c->ssl)) == 0)
            rc = SSL_read(c->ssl, sink, sizeof sink);
        while (rc > 0 && !(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN))
            rc = SSL_read(c->ssl, sink, sizeof sink);
        if (rc <= 0 && !(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN) &&
            asyncio__tls_error(c, rc, "TLS shutdown") == ASYNCIO_PENDING)
            asyncio__tls_watch(c);
        else {
            c->phase = ASYNCIO__TLS_DONE;
            asyncio_handle_cancel(&c->timer);
            asyncio__stream_finish_close(c->s);
        }
    }
}

/* The handshake starts, and its clock. */
static void asyncio__tls_shake(asyncio__tls_conn *c)
{
    asyncio_loop *L = c->s->loop;
    if (asyncio__call_at_ns(L, &c->timer, asyncio__now(L) + c->ctx->handshake_ns, asyncio__tls_timed_out, c) < 0) {
        asyncio__tls_handshaken(c, asyncio__tls_failed(c, asyncio__fail(-ENOMEM, "TLS handshake: no memory for its timeout")));
        return;
    }
    asyncio__tls_step(L, c);
}

static void asyncio__tls_timed_out(asyncio_loop *L, void *arg)
{
    asyncio__tls_conn *c = (asyncio__tls_conn *)arg;
    (void)L;
    if (c->phase == ASYNCIO__TLS_HANDSHAKE) {
        asyncio__tls_handshaken(c, asyncio__tls_failed(c, asyncio__failf(ASYNCIO_ETIMEDOUT,
            "SSL handshake is taking longer than %.1f seconds: aborting the connection",
            (double)c->ctx->handshake_ns / 1e9)));
    } else if (c->phase == ASYNCIO__TLS_SHUTDOWN) { /* the peer never answered: close anyway */
        c->phase = ASYNCIO__TLS_DONE;
        asyncio__stream_finish_close(c->s);
    }
}

/* Put s under TLS with ctx and start the handshake; its future (in
   s->tls) says when it is done.  0 or an error (nothing changed). */
static int asyncio__tls_begin(asyncio_stream *s, asyncio_tls *t, const char *hostname)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    asyncio_loop *L = s->loop;
    asyncio__tls_conn *c;
    BIO *bio;
    const char *failure;
    int rc;
    size_t early = s->rend - s->rstart - s->view;
    pthread_once(&once, asyncio__bio_method_make);
    if (!asyncio__bio_method)
        return asyncio__fail(-ENOMEM, "TLS: cannot make the socket BIO");
    if (!(c = (asyncio__tls_conn *)asyncio__alloc(L, sizeof *c)))
        return asyncio__fail(-ENOMEM, "TLS: no memory");
    memset(c, 0, sizeof *c);
    if (early && !(c->early = (char *)asyncio__alloc(L, early))) {
        asyncio__release(L, c);
        return asyncio__fail(-ENOMEM, "TLS: no memory");
    }
    ERR_clear_error();
    if (!(c->ssl = SSL_new(t->ctx)) || !(bio = BIO_new(asyncio__bio_method))) {
        failure = ": cannot start";
        goto fail;
    }
    BIO_set_data(bio, s);
    SSL_set_bio(c->ssl, bio, bio);
    if (t->server)
        SSL_set_accept_state(c->ssl);
    else {
        SSL_set_connect_state(c->ssl);
        if (hostname && *hostname) {
            /* As CPython: an address is checked against the certificate's
               IP addresses and sent as no SNI (RFC 6066 forbids it). */
            unsigned char addr[16];
            int is_ip = inet_pton(AF_INET, hostname, addr) == 1 || inet_pton(AF_INET6, hostname, addr) == 1;
            int ok = is_ip || SSL_set_tlsext_host_name(c->ssl, hostname);
            if (ok && !(t->flags & ASYNCIO_TLS_INSECURE_NO_VERIFY))
                ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), hostname)
                           : SSL_set1_host(c->ssl, hostname);
            if (!ok) {
                failure = ": cannot set the host name";
                goto fail;
            }
        }
    }
    if (t->flags & ASYNCIO_TLS_ALLOW_TRUNCATION) {
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
        SSL_set_options(c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    }
    if (early) { /* bytes past the last read were TLS already */
        memcpy(c->early, s->rbuf + s->rstart + s->view, early);
        c->nearly = early;
        s->rend = s->rstart + s->view;
    }
    asyncio__tls_ref(t);
    c->ctx = t;
    c->s = s;
    c->phase = ASYNCIO__TLS_HANDSHAKE;
    s->tls = c;
    asyncio__handle_new(L, &c->step, asyncio__tls_step, c);
    asyncio__handle_idle(L, &c->timer);
    asyncio_future_init(&c->handshake, L);
    if (!(c->plain = s->wend - s->wstart)) /* else once that is out */
        asyncio__tls_shake(c);
    return 0;
fail:
    rc = asyncio__tls_fail("TLS", failure);
    SSL_free(c->ssl); /* and the BIO, once set */
    asyncio__release(L, c->early);
    asyncio__release(L, c);
    return rc;
}

/* Stream close: after the flush, close_notify and the wait for the
   peer's; 1 while that goes on (finish_close comes later), 0 when the
   stream can close now. */
static int asyncio__tls_shutdown(asyncio_stream *s)
{
    asyncio__tls_conn *c = s->tls;
    if (c->phase != ASYNCIO__TLS_OPEN || s->err || s->aborted)
        return 0;
    if (asyncio__call_at_ns(s->loop, &c->timer, asyncio__now(s->loop) + c->ctx->shutdown_ns, asyncio__tls_timed_out,
                            c) < 0)
        return 0; /* no memory to bound the wait for the peer's close_notify: close without it */
    c->phase = ASYNCIO__TLS_SHUTDOWN;
    asyncio__tls_step(s->loop, c);
    return c->phase != ASYNCIO__TLS_DONE;
}

/* The stream is closing for good: stop the handles (the fd is closed
   after this); the SSL goes with the stream's memory. */
static void asyncio__tls_close(asyncio_stream *s)
{
    asyncio__tls_conn *c = s->tls;
    asyncio_handle_cancel(&c->step);
    asyncio_handle_cancel(&c->timer);
    if (c->phase == ASYNCIO__TLS_HANDSHAKE) { /* closed while shaking hands */
        c->phase = ASYNCIO__TLS_DONE;
        asyncio_future_set_error(&c->handshake, s->aborted ? -ECONNABORTED : -EBADF,
                                 "TLS handshake: the stream was closed");
    }
    c->phase = ASYNCIO__TLS_DONE;
}

static void asyncio__tls_release(asyncio_stream *s)
{
    asyncio__tls_conn *c = s->tls;
    SSL_free(c->ssl);
    asyncio_tls_free(c->ctx);
    asyncio__release(s->loop, c->early);
    asyncio__release(s->loop, c);
    s->tls = NULL;
}

/* What the stream waits for to read (reading) or write: the fd readable
   or writable, or nothing -- decrypted bytes wait inside OpenSSL (read),
   the handshake is not over or the write needs a read first (write: the
   next read flushes).  A read that needs a write while the flush handle
   watches for it waits for readability instead (TLS 1.3 key update
   behind a full socket: rare, and the flush then sends it). */
static unsigned asyncio__tls_wait(asyncio_stream *s, int reading)
{
    asyncio__tls_conn *c = s->tls;
    if (!reading)
        return c->plain || (c->phase == ASYNCIO__TLS_OPEN && !c->write_wants_read) ? ASYNCIO_WRITABLE : 0;
    if (SSL_has_pending(c->ssl) || c->early_at < c->nearly) /* decrypted, or records read ahead */
        return 0;
    return c->read_wants_write && !(s->flush.fut.state & ASYNCIO__F_INSLOT) ? ASYNCIO_WRITABLE : ASYNCIO_READABLE;
}

/* The stream's read: what SSL_read gives, -EAGAIN when it waits for the
   fd (in the direction asyncio__stream_read_wait then says). */
static long asyncio__tls_read(asyncio_stream *s, char *buf, size_t len)
{
    asyncio__tls_conn *c = s->tls;
    int n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len), rc;
    c->read_wants_write = 0;
    if (c->write_wants_read && s->wstart < s->wend) /* the read may have unblocked the write */
        asyncio__stream_flush(s->loop, s);
    if (n > 0)
        return n;
    if ((rc = asyncio__tls_error(c, n, "TLS read")) == ASYNCIO_PENDING) {
        c->read_wants_write = (unsigned char)SSL_want_write(c->ssl);
        return -EAGAIN;
    }
    if (rc == ASYNCIO_ETLS && (c->ctx->flags & ASYNCIO_TLS_ALLOW_TRUNCATION) &&
        strstr(c->msg, "EOF occurred") != NULL)
        return 0;
    if (rc < 0)
        s->errmsg = c->msg;
    return rc;
}

static long asyncio__tls_write(asyncio_stream *s, const char *buf, size_t len)
{
    asyncio__tls_conn *c = s->tls;
    int n, rc;
    if (c->plain) { /* written before start_tls: out as it is, then the handshake */
        long sent = asyncio__send(s->fd, buf, len < c->plain ? len : c->plain);
        if (sent == -EAGAIN)
            asyncio__fd_unready(s->loop, s->fd, ASYNCIO_WRITABLE);
        else if (sent > 0 && !(c->plain -= (size_t)sent))
            asyncio__tls_shake(c);
        return sent;
    }
    if (c->phase == ASYNCIO__TLS_HANDSHAKE)
        return -EAGAIN; /* queued: the handshake's end flushes it */
    n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    c->write_wants_read = 0;
    if (n > 0)
        return n;
    if ((rc = asyncio__tls_error(c, n, "TLS write")) == ASYNCIO_PENDING) {
        c->write_wants_read = (unsigned char)SSL_want_read(c->ssl);
        return -EAGAIN;
    }
    if (rc < 0)
        s->errmsg = c->msg;
    return rc ? rc : -EPIPE;
}

asyncio_connect_t *asyncio_connect_tls(asyncio_connect_t *oc, asyncio_tls *ctx, const char *server_hostname)
{
    oc->tls = ctx;
    oc->tls_hostname = server_hostname;
    return oc;
}

asyncio_future *asyncio_stream_start_tls(asyncio_stream *s, asyncio_tls *ctx, const char *server_hostname)
{
    asyncio_loop *L = s->loop;
    int rc = 0, family = s->peerlen ? ((struct sockaddr *)s->peer)->sa_family : AF_UNSPEC;
    const char *msg = NULL;
    if (!ctx || s->fd < 0 || s->pipe || family == AF_UNIX || s->tls) {
        rc = -EINVAL;
        msg = !ctx ? "start_tls: no TLS context" : s->tls ? "start_tls: the stream is already TLS"
                                                          : "start_tls: TLS needs a TCP stream";
    } else if (s->waiting || s->closing)
        rc = -EBUSY, msg = s->closing ? "start_tls: the stream is closing" : "start_tls: a read is waiting";
#if ASYNCIO__URING
    else if ((rc = asyncio__stream_ring_leave(s)) < 0)
        msg = rc == -EBUSY ? "start_tls: no io_uring submission slot to take the stream off the ring; try again"
                           : "start_tls: io_uring kept the stream's receive or send past a second: stream aborted";
#endif
    else if ((rc = asyncio__tls_begin(s, ctx, server_hostname)) < 0)
        msg = asyncio_errmsg();
    if (rc < 0) {
        asyncio_future_init(&s->start_tls_failed, L);
        asyncio_future_set_error(&s->start_tls_failed, rc, msg);
        asyncio__fail(rc, msg);
        return &s->start_tls_failed;
    }
    return &s->tls->handshake;
}

struct ssl_st *asyncio_stream_tls(const asyncio_stream *s) { return s->tls ? s->tls->ssl : NULL; }
const char *asyncio_stream_tls_version(const asyncio_stream *s) { return s->tls ? SSL_get_version(s->tls->ssl) : NULL; }
const char *asyncio_stream_tls_cipher(const asyncio_stream *s) { return s->tls ? SSL_get_cipher_name(s->tls->ssl) : NULL; }
const char *asyncio_stream_tls_alpn(const asyncio_stream *s) { return s->tls && s->tls->alpn[0] ? s->tls->alpn : NULL; }
#endif /* ASYNCIO_TLS */

/* >>connect --------------------------------------------------------------- */
asyncio_connect_t *asyncio_connect_tcp(asyncio_connect_t *oc, const char *host, int port)
{
    oc->host = host;
    oc->path = NULL;
    oc->given = NULL;
    oc->port = port;
    oc->delay = 0.25;
    oc->tls = NULL;
    oc->tls_hostname = NULL;
    return oc;
}

asyncio_connect_t *asyncio_connect_unix(asyncio_connect_t *oc, const char *path)
{
    asyncio_connect_tcp(oc, NULL, 0);
    oc->path = path;
    return oc;
}

asyncio_connect_t *asyncio_connect_addrinfo(asyncio_connect_t *oc, const struct addrinfo *list)
{
    asyncio_connect_tcp(oc, NULL, 0);
    oc->given = list;
    return oc;
}

asyncio_connect_t *asyncio_connect_happy_eyeballs(asyncio_connect_t *oc, double delay)
{
    oc->delay = delay;
    return oc;
}

/* Resolve a Unix path or host:port into a list of addresses; 0,
   ASYNCIO_ERESOLVE, or a negative code.  flags: getaddrinfo's, with
   AI_NUMERICHOST for a lookup that cannot block (a name then gives
   ASYNCIO_ERESOLVE: one for the resolver). */
static int asyncio__resolve(const char *host, int port, const char *path, int flags, struct addrinfo **out)
{
    struct addrinfo hints;
    char service[16];
    int rc;
    if (path) {
        struct addrinfo *ai = (struct addrinfo *)calloc(1, sizeof *ai + sizeof(struct sockaddr_un));
        struct sockaddr_un *un;
        if (!ai)
            return -ENOMEM;
        un = (struct sockaddr_un *)(void *)(ai + 1);
        if (strlen(path) >= sizeof un->sun_path) {
            free(ai);
            return -ENAMETOOLONG;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, path);
        ai->ai_family = AF_UNIX;
        ai->ai_socktype = SOCK_STREAM;
        ai->ai_addr = (struct sockaddr *)un;
        ai->ai_addrlen = (socklen_t)sizeof *un;
        *out = ai;
        return 0;
    }
    if (port < 0 || port > 65535)
        return -EINVAL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | flags;
    snprintf(service, sizeof service, "%d", port);
    rc = getaddrinfo(host, service, &hints, out);
    if (rc == 0)
        return 0;
    return rc == EAI_MEMORY ? -ENOMEM : rc == EAI_SYSTEM ? -errno : ASYNCIO_ERESOLVE;
}

static void asyncio__free_addrinfo(struct addrinfo *ai, int unix_path)
{
    if (unix_path)
        free(ai);
    else if (ai)
        freeaddrinfo(ai);
}

/* A socket for ai, non-blocking, close-on-exec, added to the loop. */
static int asyncio__socket(asyncio_loop *L, const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype, 0), rc;
    if (fd < 0)
        return -errno;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    asyncio__nosigpipe(fd);
    if ((rc = asyncio_fd_add(L, fd)) < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* One connection attempt of a Happy Eyeballs race: a socket connecting,
   watched by a handle that records how it ended. */
enum { ASYNCIO__TRY_IDLE, ASYNCIO__TRY_CONNECTING, ASYNCIO__TRY_CONNECTED, ASYNCIO__TRY_FAILED };

typedef struct asyncio__attempt {
    asyncio_connect_t *oc;
    const struct addrinfo *ai;
    int fd, err, state;
    asyncio_handle ready;
} asyncio__attempt;

static void asyncio__attempt_end(asyncio__attempt *a, int err)
{
    asyncio_loop *L = a->ready.fut.loop;
    if (err) {
        a->state = ASYNCIO__TRY_FAILED;
        a->err = err;
        asyncio_handle_cancel(&a->ready);
        asyncio_fd_close(L, a->fd);
        a->fd = -1;
    } else
        a->state = ASYNCIO__TRY_CONNECTED;
    if (!asyncio_future_done(&a->oc->changed))
        asyncio_future_set_result(&a->oc->changed, asyncio_int(0));
}

/* The socket is writable: connected, failed, or not yet (watch again). */
static void asyncio__attempt_check(asyncio_loop *L, void *arg)
{
    asyncio__attempt *a = (asyncio__attempt *)arg;
    int err = 0;
    socklen_t len = sizeof err;
    unsigned char peer[128];
    if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (!err) {
        len = sizeof peer;
        if (getpeername(a->fd, (struct sockaddr *)peer, &len) < 0)
            err = errno == ENOTCONN ? EAGAIN : errno;
    }
    if (err == EAGAIN) {
        asyncio__fd_unready(L, a->fd, ASYNCIO_WRITABLE);
        a->ready.fut.state = (unsigned char)(a->ready.fut.state & ~ASYNCIO__S_MASK);
        asyncio__fd_watch(L, a->fd, ASYNCIO_WRITABLE, &a->ready.fut);
        return;
    }
    asyncio__attempt_end(a, -err);
}

static void asyncio__attempt_start(asyncio_connect_t *oc, asyncio__attempt *a, asyncio_loop *L)
{
    oc->last_start = asyncio__now(L);
    oc->started++;
    a->oc = oc;
    a->state = ASYNCIO__TRY_CONNECTING;
    asyncio__handle_new(L, &a->ready, asyncio__attempt_check, a);
    if ((a->fd = asyncio__socket(L, a->ai)) < 0) {
        a->state = ASYNCIO__TRY_FAILED;
        a->err = a->fd;
        a->fd = -1;
        return;
    }
    if (connect(a->fd, a->ai->ai_addr, a->ai->ai_addrlen) == 0)
        a->state = ASYNCIO__TRY_CONNECTED;
    else if (errno == EINPROGRESS || errno == EINTR)
        asyncio__fd_watch(L, a->fd, ASYNCIO_WRITABLE, &a->ready.fut);
    else
        asyncio__attempt_end(a, -errno);
}

static void asyncio__connect_delay_over(asyncio_loop *L, void *arg)
{
    asyncio_connect_t *oc = (asyncio_connect_t *)arg;
    (void)L;
    if (!asyncio_future_done(&oc->changed))
        asyncio_future_set_result(&oc->changed, asyncio_int(0));
}

/* RFC 8305 section 4: alternate the address families, starting with the
   first one the resolver gave (Python's _interleave_addrinfos). */
static int asyncio__attempts_make(asyncio_connect_t *oc, asyncio_loop *L, const struct addrinfo *list)
{
    const struct addrinfo *ai;
    size_t n = 0, i = 0, f;
    int families[8], nfam = 0, j;
    for (ai = list; ai; ai = ai->ai_next) {
        if (ai->ai_socktype != SOCK_STREAM && ai->ai_socktype != 0)
            continue;
        n++;
        for (j = 0; j < nfam && families[j] != ai->ai_family; j++)
            ;
        if (j == nfam && nfam < 8)
            families[nfam++] = ai->ai_family;
    }
    if (!n)
        return -EAFNOSUPPORT;
    if (!(oc->attempts = (asyncio__attempt *)asyncio__alloc(L, n * sizeof *oc->attempts)))
        return -ENOMEM;
    memset(oc->attempts, 0, n * sizeof *oc->attempts);
    /* round k takes the k-th address of each family in turn */
    for (f = 0; i < n; f++)
        for (j = 0; j < nfam; j++) {
            size_t k = 0;
            for (ai = list; ai; ai = ai->ai_next)
                if ((ai->ai_socktype == SOCK_STREAM || ai->ai_socktype == 0) && ai->ai_family == families[j] &&
                    k++ == f) {
                    oc->attempts[i].ai = ai;
                    oc->attempts[i++].fd = -1;
                    break;
                }
        }
    oc->n = n;
    return 0;
}

/* How the race ended when nobody connected: Python raises the one error,
   or, if they differ, an OSError listing them all. */
static int asyncio__connect_failure(asyncio_connect_t *oc)
{
    size_t i, len;
    int first = oc->attempts[0].err, same = 1;
    const char *who = oc->path ? oc->path : oc->host ? oc->host : "the given addresses";
    for (i = 1; i < oc->n; i++)
        same &= oc->attempts[i].err == first;
    if (same) {
        snprintf(oc->msg, sizeof oc->msg, "connect to %s%s%s: %s", who, oc->host ? " port " : "",
                 oc->host ? oc->service : "", asyncio_strerror(first));
        return first;
    }
    snprintf(oc->msg, sizeof oc->msg, "connect to %s%s%s: multiple errors:", who, oc->host ? " port " : "",
             oc->host ? oc->service : "");
    for (i = 0; i < oc->n && (len = strlen(oc->msg)) < sizeof oc->msg - 1; i++) {
        char addr[64] = "?";
        const struct addrinfo *ai = oc->attempts[i].ai;
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, addr, sizeof addr);
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr, addr, sizeof addr);
        snprintf(oc->msg + len, sizeof oc->msg - len, "%s %s: %s", i ? ";" : "", addr,
                 asyncio_strerror(oc->attempts[i].err));
    }
    return first;
}

int asyncio_open_connection(asyncio_task *self, void *frame)
{
    asyncio_connect_t *oc = (asyncio_connect_t *)frame;
    asyncio_loop *L = self->fut.loop;
    asyncio__attempt *latest;
    asyncio_stream *s;
    size_t i;
    int rc;
    ASYNCIO_BEGIN(self, oc);
    oc->fd = -1;
    oc->ai = NULL;
    oc->attempts = NULL;
    oc->stream = NULL;
    oc->n = oc->started = 0;
    oc->msg[0] = 0;
    asyncio__handle_idle(L, &oc->timer);
#if ASYNCIO_TLS
    if (oc->tls && (oc->path || oc->tls->server))
        ASYNCIO_RAISE(-EINVAL, oc->path ? "open_connection: TLS over a Unix socket is not supported"
                                        : "open_connection: TLS needs a client context (asyncio_tls_client)");
#endif
    snprintf(oc->service, sizeof oc->service, "%d", oc->port);
    if (!oc->given) {
        rc = asyncio__resolve(oc->host, oc->port, oc->path, AI_NUMERICHOST, &oc->ai);
        if (rc == ASYNCIO_ERESOLVE) { /* a name: the resolver, on the executor */
            static const struct addrinfo stream_hints = {0, AF_UNSPEC, SOCK_STREAM, 0, 0, NULL, NULL, NULL};
            ASYNCIO_AWAIT_CORO(asyncio_resolve, asyncio_getaddrinfo(&oc->rs, oc->host, oc->service, &stream_hints));
            oc->ai = (struct addrinfo *)ASYNCIO_RESULT().p;
        } else if (rc < 0)
            ASYNCIO_RAISE(rc, "open_connection: bad address");
    }
    if ((rc = asyncio__attempts_make(oc, L, oc->given ? oc->given : oc->ai)) < 0)
        ASYNCIO_RAISE(rc, rc == -ENOMEM ? NULL : "open_connection: no stream address to connect to");
    asyncio__attempt_start(oc, &oc->attempts[0], L);
    for (;;) {
        for (i = 0; i < oc->started && oc->attempts[i].state != ASYNCIO__TRY_CONNECTED; i++)
            ;
        if (i < oc->started)
            break; /* a winner */
        latest = &oc->attempts[oc->started - 1];
        if (oc->started < oc->n &&
            (latest->state == ASYNCIO__TRY_FAILED ||
             (oc->delay >= 0 && asyncio__now(L) - oc->last_start >= (long long)(oc->delay * 1e9)))) {
            asyncio__attempt_start(oc, &oc->attempts[oc->started], L);
            continue;
        }
        for (i = 0; i < oc->started && oc->attempts[i].state == ASYNCIO__TRY_FAILED; i++)
            ;
        if (i == oc->n)
            ASYNCIO_RAISE(asyncio__connect_failure(oc), oc->msg);
        asyncio_future_init(&oc->changed, L);
        if (oc->started < oc->n && oc->delay >= 0 &&
            (rc = asyncio__call_at_ns(L, &oc->timer, oc->last_start + (long long)(oc->delay * 1e9),
                                      asyncio__connect_delay_over, oc)) < 0)
            ASYNCIO_RAISE(rc, NULL);
        ASYNCIO_AWAIT(&oc->changed);
        asyncio_handle_cancel(&oc->timer);
    }
    for (i = 0; i < oc->started; i++) /* the first to connect wins */
        if (oc->attempts[i].state == ASYNCIO__TRY_CONNECTED)
            break;
    if (!(s = asyncio__stream_new(L, oc->attempts[i].fd)))
        ASYNCIO_RAISE(-ENOMEM, NULL);
    oc->attempts[i].fd = -1; /* the stream owns it now */
    asyncio_handle_cancel(&oc->attempts[i].ready);
    oc->stream = s;
#if ASYNCIO_TLS
    if (oc->tls) {
        if ((rc = asyncio__tls_begin(s, oc->tls, oc->tls_hostname ? oc->tls_hostname : oc->host)) < 0)
            ASYNCIO_RAISE(rc, asyncio_errmsg());
        ASYNCIO_AWAIT(&oc->stream->tls->handshake);
    }
#endif
    s = oc->stream;
    oc->stream = NULL;
    ASYNCIO_RETURN(asyncio_ptr(s));
    ASYNCIO_FINALLY;
    if (oc->stream) /* failed or cancelled while shaking hands */
        asyncio_stream_abort(oc->stream);
    oc->stream = NULL;
    asyncio_handle_cancel(&oc->timer);
    for (i = 0; oc->attempts && i < oc->n; i++)
        if (oc->attempts[i].fd >= 0) {
            asyncio_handle_cancel(&oc->attempts[i].ready);
            asyncio_fd_close(L, oc->attempts[i].fd);
        }
    asyncio__release(L, oc->attempts);
    oc->attempts = NULL;
    asyncio__free_addrinfo(oc->ai, oc->path != NULL);
    oc->ai = NULL;
    ASYNCIO_END();
}

/* >>server ---------------------------------------------------------------- */
/* One allocation per connection: its task, the hook that hears the task
   finish, its stream and the handler's frame.  It is freed when both the
   task is done and the stream is closed. */
typedef struct asyncio__conn {
    asyncio_task task;
    asyncio__waiter done;
    asyncio__waiter handshaken; /* TLS: the handler starts after the handshake */
    asyncio_server *srv;
    int refs;
    asyncio_handle release;
    asyncio_stream stream;
    union {
        long long ll;
        double d;
        void *p;
    } frame[1];
} asyncio__conn;

static void asyncio__server_accept(asyncio_loop *L, void *arg);

static void asyncio__conn_free(asyncio_loop *L, void *arg)
{
    asyncio__conn *c = (asyncio__conn *)arg;
    asyncio_server *srv = c->srv;
    srv->nconns--;
    asyncio__release(L, c);
    if (srv->full && !srv->closing) { /* below the limit again: accept */
        srv->full = 0;
        asyncio__server_accept(L, srv);
    }
}

static void asyncio__conn_unref(asyncio__conn *c)
{
    if (--c->refs == 0)
        asyncio_call_soon(c->srv->loop, &c->release, asyncio__conn_free, c);
}

static void asyncio__conn_stream_closed(asyncio_stream *s)
{
    asyncio__conn_unref(ASYNCIO__CONTAINER(s, asyncio__conn, stream));
}

static void asyncio__conn_task_done(asyncio__waiter *hook, asyncio_future *task)
{
    asyncio__conn *c = ASYNCIO__CONTAINER(hook, asyncio__conn, done);
    (void)task;
    asyncio_stream_close(&c->stream);
    asyncio__conn_unref(c);
}

static void asyncio__server_retry(asyncio_loop *L, void *arg)
{
    asyncio__server_accept(L, arg);
}

/* The handler's task: it holds the connection too, until it is done. */
static void asyncio__conn_start(asyncio__conn *c)
{
    asyncio_loop *L = c->srv->loop;
    if (!asyncio_task_create_at(L, &c->task, c->srv->handler, c->frame, "connection", __FILE__, __LINE__)) {
        asyncio_stream_abort(&c->stream); /* the loop is closing */
        return;
    }
    c->refs++;
    asyncio__add_waiter(&c->task.fut, (uintptr_t)&c->done | ASYNCIO__W_HOOK); /* first waiter: no memory */
}

#if ASYNCIO_TLS
static void asyncio__conn_handshaken(asyncio__waiter *hook, asyncio_future *handshake)
{
    asyncio__conn *c = ASYNCIO__CONTAINER(hook, asyncio__conn, handshaken);
    if (asyncio_future_result(handshake, NULL) == 0)
        asyncio__conn_start(c);
    else if (!c->stream.closing) /* a client that failed to shake hands costs nothing more */
        asyncio_stream_abort(&c->stream);
}
#endif

static void asyncio__server_serve(asyncio_server *srv, int fd)
{
    asyncio_loop *L = srv->loop;
    asyncio__conn *c = (asyncio__conn *)asyncio__alloc(L, offsetof(asyncio__conn, frame) + srv->frame_size);
    asyncio_conn *frame;
    if (!c || asyncio_fd_add(L, fd) < 0) {
        asyncio__release(L, c);
        close(fd); /* no memory: this client is turned away, the server goes on */
        return;
    }
    frame = (asyncio_conn *)(void *)c->frame;
    memset(frame, 0, srv->frame_size);
    asyncio__stream_init(&c->stream, L, fd);
    c->stream.on_closed = asyncio__conn_stream_closed;
    c->stream.read_timeout = srv->read_timeout;
    c->stream.write_timeout = srv->write_timeout;
    frame->stream = &c->stream;
    c->srv = srv;
    c->refs = 1; /* the stream's; the task adds its own */
    c->done.fn = asyncio__conn_task_done;
    asyncio__handle_idle(L, &c->release);
    srv->nconns++;
#if ASYNCIO_TLS
    if (srv->tls) {
        if (asyncio__tls_begin(&c->stream, srv->tls, NULL) < 0)
            asyncio_stream_abort(&c->stream);
        else {
            c->handshaken.fn = asyncio__conn_handshaken;
            asyncio__add_waiter(&c->stream.tls->handshake, (uintptr_t)&c->handshaken | ASYNCIO__W_HOOK);
        }
        return;
    }
#endif
    asyncio__conn_start(c);
}

/* Accept until EAGAIN (or a batch, for fairness).  Out of descriptors
   (EMFILE, ENFILE) or memory, or an error that is not one client's: keep
   the listening socket, stop accepting for 100 ms, try again -- no
   spinning, and clients are served once descriptors free up. */
static void asyncio__server_accept(asyncio_loop *L, void *arg)
{
    asyncio_server *srv = (asyncio_server *)arg;
    int i;
    if (srv->closing)
        return;
    for (i = 0; i < 64; i++) {
        unsigned char addr[128];
        unsigned len = sizeof addr;
        int c;
        if (srv->max_connections && srv->nconns >= srv->max_connections) {
            srv->full = 1; /* the backlog holds the next ones until a connection closes */
            return;
        }
        c = asyncio__accept(srv->fd, addr, &len);
        if (c >= 0) {
            asyncio__server_serve(srv, c);
            continue;
        }
        if (c == -EAGAIN) {
            asyncio__fd_unready(L, srv->fd, ASYNCIO_READABLE);
            break;
        }
        if (c == -ECONNABORTED || c == -EPROTO || c == -EPERM) /* that client only */
            continue;
        /* out of descriptors or memory, or anything unexpected: pause
           (with no memory even for that, watch the socket again) */
        if (asyncio_call_later(L, &srv->retry, 0.1, asyncio__server_retry, srv) == 0)
            return;
        break;
    }
    srv->accept.fut.state = (unsigned char)(srv->accept.fut.state & ~ASYNCIO__S_MASK);
    asyncio__fd_watch(L, srv->fd, ASYNCIO_READABLE, &srv->accept.fut);
}

static int asyncio__server_listen(asyncio_server *srv, asyncio_loop *loop, asyncio_fn handler, size_t frame_size,
                                  const char *host, int port, const char *path, const asyncio_server_options *opts)
{
    struct addrinfo *ai = NULL;
    int rc = 0, one = 1, fd, backlog = opts && opts->backlog ? opts->backlog : 511;
    ASYNCIO_ASSERT(srv != NULL && loop != NULL && handler != NULL && frame_size >= sizeof(asyncio_conn));
    memset(srv, 0, sizeof *srv);
    srv->fd = -1;
    if (backlog < 0)
        return asyncio__fail(-EINVAL, "start_server: a negative backlog");
    if (opts && (asyncio__timeout_ns(opts->read_timeout) < 0 || asyncio__timeout_ns(opts->write_timeout) < 0 ||
                 opts->max_connections < 0))
        return asyncio__fail(-EINVAL, "start_server: a timeout or max_connections is negative or NaN");
#if ASYNCIO_TLS
    if (opts && opts->tls && !opts->tls->server)
        return asyncio__fail(-EINVAL, "start_server: TLS needs a server context (asyncio_tls_server)");
#endif
#ifndef SO_REUSEPORT
    if (opts && opts->reuse_port)
        return asyncio__fail(-ENOPROTOOPT, "start_server: this system has no SO_REUSEPORT");
#endif
    if ((rc = asyncio__resolve(host, port, path, AI_PASSIVE, &ai)) < 0)
        return path ? asyncio__failf(rc, "start_server: bad socket path %s: %s", path, asyncio_strerror(rc))
                    : asyncio__failf(rc, "start_server: cannot resolve %s port %d: %s", host ? host : "*", port,
                                     asyncio_strerror(rc));
    if ((fd = socket(ai->ai_family, ai->ai_socktype, 0)) < 0) {
        rc = asyncio__failf(-errno, "start_server: no socket: %s", strerror(errno));
        goto out;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (path)
        unlink(path);
    else
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
    if (opts && opts->reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        rc = -errno;
#endif
    if (rc < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0 ||
        (rc = asyncio_fd_add(loop, fd)) < 0) {
        rc = rc < 0 ? rc : -errno;
        close(fd);
        if (path)
            asyncio__failf(rc, "start_server: cannot listen on %s: %s", path, asyncio_strerror(rc));
        else
            asyncio__failf(rc, "start_server: cannot listen on %s port %d: %s", host ? host : "*", port,
                           asyncio_strerror(rc));
        goto out;
    }
    if (!path) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &len);
        srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    }
    srv->loop = loop;
    srv->fd = fd;
    srv->handler = handler;
    srv->frame_size = frame_size;
    srv->tls = opts ? opts->tls : NULL;
    srv->read_timeout = opts ? asyncio__timeout_ns(opts->read_timeout) : 0;
    srv->write_timeout = opts ? asyncio__timeout_ns(opts->write_timeout) : 0;
    srv->max_connections = opts && opts->max_connections > 0 ? (size_t)opts->max_connections : 0;
    asyncio__handle_new(loop, &srv->accept, asyncio__server_accept, srv);
    asyncio__handle_idle(loop, &srv->retry);
    asyncio__fd_watch(loop, fd, ASYNCIO_READABLE, &srv->accept.fut);
    rc = 0;
out:
    asyncio__free_addrinfo(ai, path != NULL);
    return rc;
}

int asyncio_start_server(asyncio_server *srv, asyncio_loop *loop, asyncio_fn handler, size_t frame_size,
                         const char *host, int port)
{
    return asyncio__server_listen(srv, loop, handler, frame_size, host, port, NULL, NULL);
}

int asyncio_start_server_opts(asyncio_server *srv, asyncio_loop *loop, asyncio_fn handler, size_t frame_size,
                              const char *host, int port, const asyncio_server_options *opts)
{
    return asyncio__server_listen(srv, loop, handler, frame_size, host, port, NULL, opts);
}

int asyncio_start_unix_server(asyncio_server *srv, asyncio_loop *loop, asyncio_fn handler, size_t frame_size,
                              const char *path)
{
    return asyncio__server_listen(srv, loop, handler, frame_size, NULL, 0, path, NULL);
}

int asyncio_server_port(const asyncio_server *srv) { return srv->port; }

void asyncio_server_close(asyncio_server *srv)
{
    if (srv->closing || srv->fd < 0)
        return;
    srv->closing = 1;
    asyncio_handle_cancel(&srv->retry);
    asyncio_handle_cancel(&srv->accept); /* nothing of srv stays queued: it may be reused at once */
    asyncio_fd_close(srv->loop, srv->fd);
}

/* >>sync ------------------------------------------------------------------ */
/* A waiting task parks in the primitive's list through its own link (free
   while it is suspended): no allocation.  Waking takes it off the list and
   marks it, so a wake-up that is then cancelled can be passed on. */
int asyncio__park_begin(asyncio_task *self, asyncio__link *queue, int kind)
{
    ASYNCIO__CHECK(&self->fut);
    self->fut.u.value.i = ASYNCIO__PARKED_ON(kind);
    if (self->fut.state & ASYNCIO__F_CANCEL) /* delivered at this await */
        asyncio__enqueue(self->fut.loop, &self->fut);
    else {
        asyncio__list_push(queue, &self->fut.link);
        self->fut.state |= ASYNCIO__F_INSLOT;
    }
    return ASYNCIO_PENDING;
}

int asyncio__park_end(asyncio_task *self, int *woken)
{
    *woken = self->fut.u.value.i == ASYNCIO__WOKEN;
    if (self->fut.state & ASYNCIO__F_CANCEL) {
        self->fut.state &= ~ASYNCIO__F_CANCEL;
        self->fut.u.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
        return ASYNCIO_ECANCELLED;
    }
    return 0;
}

/* Wake the first parked task of queue; 1 if there was one. */
static int asyncio__wake_first(asyncio_loop *L, asyncio__link *queue)
{
    asyncio_future *t;
    if (asyncio__list_empty(queue))
        return 0;
    t = (asyncio_future *)(void *)queue->next;
    queue->next = t->link.next;
    t->link.next->prev = queue;
    t->state &= ~ASYNCIO__F_INSLOT;
    t->u.value.i = ASYNCIO__WOKEN;
    asyncio__enqueue(L, t);
    return 1;
}

void asyncio_lock_init(asyncio_lock *lock, asyncio_loop *loop)
{
    lock->loop = loop;
    asyncio__list_init(&lock->waiters);
    lock->locked = lock->handoffs = 0;
}

int asyncio_lock_locked(const asyncio_lock *lock) { return lock->locked; }

static void asyncio__lock_hand_on(asyncio_lock *lock)
{
    if (asyncio__wake_first(lock->loop, &lock->waiters))
        lock->handoffs++;
}

int asyncio_lock_release(asyncio_lock *lock)
{
    if (!lock->locked)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "Lock is not acquired.");
    lock->locked = 0;
    asyncio__lock_hand_on(lock);
    return 0;
}

void asyncio_event_init(asyncio_event *ev, asyncio_loop *loop)
{
    ev->loop = loop;
    asyncio__list_init(&ev->waiters);
    ev->set = 0;
}

void asyncio_event_set(asyncio_event *ev)
{
    if (ev->set)
        return;
    ev->set = 1;
    while (asyncio__wake_first(ev->loop, &ev->waiters))
        ;
}

void asyncio_event_clear(asyncio_event *ev) { ev->set = 0; }
int asyncio_event_is_set(const asyncio_event *ev) { return ev->set; }

void asyncio_semaphore_init(asyncio_semaphore *sem, asyncio_loop *loop, long value, int bounded)
{
    ASYNCIO_ASSERT(value >= 0);
    sem->loop = loop;
    asyncio__list_init(&sem->waiters);
    sem->value = value;
    sem->bound = bounded ? value : -1;
}

int asyncio_semaphore_locked(const asyncio_semaphore *sem)
{
    return sem->value == 0 || !asyncio__list_empty(&sem->waiters);
}

/* CPython 3.11.3+: a wake-up hands the woken waiter one unit. */
static void asyncio__semaphore_wake_next(asyncio_semaphore *sem)
{
    if (sem->value > 0 && asyncio__wake_first(sem->loop, &sem->waiters))
        sem->value--;
}

int asyncio_semaphore_release(asyncio_semaphore *sem)
{
    if (sem->bound >= 0 && sem->value >= sem->bound)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "BoundedSemaphore released too many times");
    sem->value++;
    asyncio__semaphore_wake_next(sem);
    return 0;
}

void asyncio_condition_init(asyncio_condition *cond, asyncio_lock *lock)
{
    cond->lock = lock;
    asyncio__list_init(&cond->waiters);
}

int asyncio_condition_notify(asyncio_condition *cond, int n)
{
    if (!cond->lock->locked)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "cannot notify on un-acquired lock");
    while (n-- > 0 && asyncio__wake_first(cond->lock->loop, &cond->waiters))
        ;
    return 0;
}

int asyncio_condition_notify_all(asyncio_condition *cond) { return asyncio_condition_notify(cond, INT_MAX); }

enum { ASYNCIO__SYNC_LOCK, ASYNCIO__SYNC_EVENT, ASYNCIO__SYNC_SEM, ASYNCIO__SYNC_COND };

static asyncio_sync_op *asyncio__sync_setup(asyncio_sync_op *op, void *obj, int kind)
{
    op->obj = obj;
    op->kind = kind;
    return op;
}

asyncio_sync_op *asyncio_lock_op(asyncio_sync_op *op, asyncio_lock *lock)
{
    return asyncio__sync_setup(op, lock, ASYNCIO__SYNC_LOCK);
}

asyncio_sync_op *asyncio_event_op(asyncio_sync_op *op, asyncio_event *ev)
{
    return asyncio__sync_setup(op, ev, ASYNCIO__SYNC_EVENT);
}

asyncio_sync_op *asyncio_semaphore_op(asyncio_sync_op *op, asyncio_semaphore *sem)
{
    return asyncio__sync_setup(op, sem, ASYNCIO__SYNC_SEM);
}

asyncio_sync_op *asyncio_condition_op(asyncio_sync_op *op, asyncio_condition *cond)
{
    return asyncio__sync_setup(op, cond, ASYNCIO__SYNC_COND);
}

int asyncio_acquire(asyncio_task *self, void *frame)
{
    asyncio_sync_op *op = (asyncio_sync_op *)frame;
    asyncio_condition *cond = (asyncio_condition *)op->obj;
    asyncio_lock *lock = op->kind == ASYNCIO__SYNC_COND ? cond->lock : (asyncio_lock *)op->obj;
    asyncio_event *ev = (asyncio_event *)op->obj;
    asyncio_semaphore *sem = (asyncio_semaphore *)op->obj;
    int rc;
    ASYNCIO_BEGIN(self, op);
    op->cancelled = 0;
    if (op->kind == ASYNCIO__SYNC_COND) { /* release, wait for a notify, then take the lock back */
        if (asyncio_lock_release(lock) < 0)
            ASYNCIO_RAISE(ASYNCIO_EINVALIDSTATE, "condition waited on without its lock");
        ASYNCIO__WAIT_AT(__LINE__, rc, asyncio__park_begin(self, &cond->waiters, ASYNCIO_WAITS_CONDITION),
                         asyncio__park_end(self, &op->woken));
        op->cancelled = rc == ASYNCIO_ECANCELLED;
    }
    if (op->kind == ASYNCIO__SYNC_LOCK || op->kind == ASYNCIO__SYNC_COND) {
        /* free, and nobody queued or being handed it: take it */
        while (lock->locked || !asyncio__list_empty(&lock->waiters) || lock->handoffs) {
            ASYNCIO__WAIT_AT(__LINE__, rc, asyncio__park_begin(self, &lock->waiters, ASYNCIO_WAITS_LOCK),
                             asyncio__park_end(self, &op->woken));
            if (op->woken)
                lock->handoffs--;
            if (rc == 0)
                break; /* handed the lock */
            if (op->woken && !lock->locked) /* pass the hand-off on */
                asyncio__lock_hand_on(lock);
            if (op->kind == ASYNCIO__SYNC_LOCK)
                ASYNCIO_RAISE(rc, NULL);
            op->cancelled = 1; /* a condition waiter gets the lock back first */
        }
        lock->locked = 1;
        if (op->cancelled)
            ASYNCIO_RAISE(ASYNCIO_ECANCELLED, NULL);
    } else if (op->kind == ASYNCIO__SYNC_EVENT) {
        if (!ev->set) {
            ASYNCIO__WAIT_AT(__LINE__, rc, asyncio__park_begin(self, &ev->waiters, ASYNCIO_WAITS_EVENT),
                             asyncio__park_end(self, &op->woken));
            if (rc < 0)
                ASYNCIO_RAISE(rc, NULL);
        }
    } else {
        if (!asyncio_semaphore_locked(sem)) {
            sem->value--;
            ASYNCIO_RETURN(asyncio_int(1));
        }
        ASYNCIO__WAIT_AT(__LINE__, rc, asyncio__park_begin(self, &sem->waiters, ASYNCIO_WAITS_SEMAPHORE),
                         asyncio__park_end(self, &op->woken));
        if (rc < 0) {
            if (op->woken) { /* give back the unit it was handed */
                sem->value++;
                asyncio__semaphore_wake_next(sem);
            }
            ASYNCIO_RAISE(rc, NULL);
        }
        asyncio__semaphore_wake_next(sem);
    }
    ASYNCIO_RETURN(asyncio_int(1));
    ASYNCIO_END();
}

asyncio_predicate_op *asyncio_condition_wait_for_op(asyncio_predicate_op *op, asyncio_condition *cond,
                                                    int (*pred)(void *arg), void *arg)
{
    op->cond = cond;
    op->pred = pred;
    op->arg = arg;
    return op;
}

int asyncio_condition_wait_for(asyncio_task *self, void *frame)
{
    asyncio_predicate_op *op = (asyncio_predicate_op *)frame;
    ASYNCIO_BEGIN(self, op);
    while (!(op->value = op->pred(op->arg))) {
        ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_condition_op(&op->wait, op->cond));
    }
    ASYNCIO_RETURN(asyncio_int(op->value));
    ASYNCIO_END();
}

/* Any coroutine frame, as the macros see it. */
typedef struct asyncio__frame {
    asyncio_coro co;
} asyncio__frame;

static asyncio_with_op *asyncio__with_setup(asyncio_with_op *w, asyncio_fn body, void *frame)
{
    w->cm = NULL;
    w->body = body;
    w->frame = frame;
    return w;
}

asyncio_with_op *asyncio_with_lock(asyncio_with_op *w, asyncio_lock *lock, asyncio_fn body, void *frame)
{
    asyncio_lock_op(&w->acquire, lock);
    return asyncio__with_setup(w, body, frame);
}

asyncio_with_op *asyncio_with_semaphore(asyncio_with_op *w, asyncio_semaphore *sem, asyncio_fn body,
                                        void *frame)
{
    asyncio_semaphore_op(&w->acquire, sem);
    return asyncio__with_setup(w, body, frame);
}

asyncio_with_op *asyncio_with_context(asyncio_with_op *w, asyncio_context *cm, asyncio_fn enter, asyncio_fn exit,
                                      asyncio_fn body, void *frame)
{
    asyncio__with_setup(w, body, frame);
    w->cm = cm;
    w->enter = enter;
    w->exit = exit;
    return w;
}

int asyncio_with(asyncio_task *self, void *frame)
{
    asyncio_with_op *w = (asyncio_with_op *)frame;
    ASYNCIO_BEGIN(self, w);
    w->held = 0;
    if (w->cm) {
        ASYNCIO_AWAIT_CORO(w->enter, w->cm);
        w->cm->value = ASYNCIO_RESULT();
    } else {
        ASYNCIO_AWAIT_CORO(asyncio_acquire, &w->acquire);
    }
    w->held = 1;
    ASYNCIO_AWAIT_CORO(w->body, (asyncio__frame *)w->frame);
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_FINALLY_ASYNC(w->fin) {
        if (w->held && w->cm) {
            w->cm->err = asyncio_finally_pending(&w->fin);
            w->cm->msg = w->cm->err ? (const char *)w->fin.saved.p : NULL;
            ASYNCIO_AWAIT_CORO(w->exit, w->cm);
            if (ASYNCIO_RESULT().i && w->cm->err) /* suppressed */
                ASYNCIO_RETURN(asyncio_int(0));
        } else if (w->held && w->acquire.kind == ASYNCIO__SYNC_LOCK)
            asyncio_lock_release((asyncio_lock *)w->acquire.obj);
        else if (w->held)
            asyncio_semaphore_release((asyncio_semaphore *)w->acquire.obj);
    }
    ASYNCIO_END();
}

/* >>queue ----------------------------------------------------------------- */
void asyncio_queue_init(asyncio_queue *q, asyncio_loop *loop, asyncio_queue_kind kind, void *storage,
                        size_t capacity)
{
    ASYNCIO_ASSERT(q != NULL && loop != NULL && (!storage || capacity > 0));
    memset(q, 0, sizeof *q);
    q->loop = loop;
    q->kind = kind;
    q->items = storage;
    q->bounded = storage != NULL;
    q->cap = storage ? capacity : 0;
    asyncio__list_init(&q->getters);
    asyncio__list_init(&q->putters);
    asyncio__list_init(&q->joiners);
}

void asyncio_queue_free(asyncio_queue *q)
{
    if (!q->bounded)
        ASYNCIO_FREE(q->loop->cfg.alloc_ctx, q->items);
    q->items = NULL;
    q->cap = q->count = 0;
}

size_t asyncio_queue_qsize(const asyncio_queue *q) { return q->count; }
int asyncio_queue_empty(const asyncio_queue *q) { return q->count == 0; }
int asyncio_queue_full(const asyncio_queue *q) { return q->bounded && q->count >= q->cap; }

/* A priority queue is a binary min-heap of items[0, count); FIFO and LIFO
   queues a ring of values from head. */
static int asyncio__qless(const asyncio_priority_item *a, const asyncio_priority_item *b)
{
    return a->priority < b->priority || (a->priority == b->priority && a->value.i < b->value.i);
}

/* The heap's and the growth's work stays out of line, so that a FIFO
   queue's put and get stay a few instructions. */
static ASYNCIO__NOINLINE int asyncio__queue_grow(asyncio_queue *q)
{
    size_t i, ncap = q->cap ? 2 * q->cap : 16,
              size = q->kind == ASYNCIO_PRIORITY ? sizeof(asyncio_priority_item) : sizeof(asyncio_value);
    char *n = (char *)ASYNCIO_REALLOC(q->loop->cfg.alloc_ctx, NULL, ncap * size);
    if (!n)
        return asyncio__fail(-ENOMEM, "put_nowait: no memory to grow the queue");
    for (i = 0; i < q->count; i++) /* a heap starts at 0 and does not wrap */
        memcpy(n + i * size, (char *)q->items + (q->head + i) % q->cap * size, size);
    ASYNCIO_FREE(q->loop->cfg.alloc_ctx, q->items);
    q->items = n;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

static ASYNCIO__NOINLINE void asyncio__heap_push(asyncio_queue *q, long long priority, asyncio_value value)
{
    asyncio_priority_item *h = (asyncio_priority_item *)q->items, item;
    size_t i;
    item.priority = priority;
    item.value = value;
    for (i = q->count; i > 0 && asyncio__qless(&item, &h[(i - 1) / 2]); i = (i - 1) / 2)
        h[i] = h[(i - 1) / 2];
    h[i] = item;
}

static ASYNCIO__NOINLINE long long asyncio__heap_pop(asyncio_queue *q, asyncio_value *item)
{
    asyncio_priority_item *h = (asyncio_priority_item *)q->items, last = h[--q->count];
    long long p = h[0].priority;
    size_t i = 0;
    *item = h[0].value;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->count)
            break;
        if (c + 1 < q->count && asyncio__qless(&h[c + 1], &h[c]))
            c++;
        if (!asyncio__qless(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return p;
}

static int asyncio__queue_put(asyncio_queue *q, long long priority, asyncio_value value)
{
    int rc;
    if (q->shutdown)
        return asyncio__fail(ASYNCIO_EQUEUESHUTDOWN, "put_nowait: the queue is shut down");
    if (asyncio_queue_full(q))
        return asyncio__fail(ASYNCIO_EQUEUEFULL, "put_nowait: the queue is full");
    if (q->count == q->cap && (rc = asyncio__queue_grow(q)) < 0) /* unbounded */
        return rc;
    if (q->kind == ASYNCIO_PRIORITY)
        asyncio__heap_push(q, priority, value);
    else
        ((asyncio_value *)q->items)[(q->head + q->count) % q->cap] = value;
    q->count++;
    q->unfinished++;
    asyncio__wake_first(q->loop, &q->getters);
    return 0;
}

int asyncio_queue_put_priority_nowait(asyncio_queue *q, long long priority, asyncio_value item)
{
    return asyncio__queue_put(q, priority, item);
}

int asyncio_queue_put_nowait(asyncio_queue *q, asyncio_value item) { return asyncio__queue_put(q, item.i, item); }

static int asyncio__queue_get(asyncio_queue *q, long long *priority, asyncio_value *item)
{
    long long p = 0;
    if (!q->count)
        return q->shutdown ? asyncio__fail(ASYNCIO_EQUEUESHUTDOWN, "get_nowait: the queue is shut down")
                           : asyncio__fail(ASYNCIO_EQUEUEEMPTY, "get_nowait: the queue is empty");
    if (q->kind == ASYNCIO_FIFO) {
        *item = ((asyncio_value *)q->items)[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
    } else if (q->kind == ASYNCIO_LIFO)
        *item = ((asyncio_value *)q->items)[(q->head + --q->count) % q->cap];
    else
        p = asyncio__heap_pop(q, item);
    if (priority)
        *priority = p;
    asyncio__wake_first(q->loop, &q->putters);
    return 0;
}

int asyncio_queue_get_priority_nowait(asyncio_queue *q, long long *priority, asyncio_value *item)
{
    return asyncio__queue_get(q, priority, item);
}

int asyncio_queue_get_nowait(asyncio_queue *q, asyncio_value *item) { return asyncio__queue_get(q, NULL, item); }

int asyncio_queue_task_done(asyncio_queue *q)
{
    if (!q->unfinished)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "task_done() called too many times");
    if (--q->unfinished == 0)
        while (asyncio__wake_first(q->loop, &q->joiners))
            ;
    return 0;
}

void asyncio_queue_shutdown(asyncio_queue *q, int immediate)
{
    q->shutdown = 1;
    if (immediate) {
        q->unfinished = q->unfinished > q->count ? q->unfinished - q->count : 0;
        q->count = q->head = 0;
        if (!q->unfinished)
            while (asyncio__wake_first(q->loop, &q->joiners))
                ;
    }
    while (asyncio__wake_first(q->loop, &q->getters))
        ;
    while (asyncio__wake_first(q->loop, &q->putters))
        ;
}

enum { ASYNCIO__Q_PUT, ASYNCIO__Q_GET, ASYNCIO__Q_JOIN };

static asyncio_queue_op *asyncio__queue_setup(asyncio_queue_op *op, asyncio_queue *q, int kind, asyncio_value v)
{
    op->q = q;
    op->kind = kind;
    op->value = v;
    op->priority = v.i;
    return op;
}

asyncio_queue_op *asyncio_queue_put_priority(asyncio_queue_op *op, asyncio_queue *q, long long priority,
                                             asyncio_value item)
{
    asyncio__queue_setup(op, q, ASYNCIO__Q_PUT, item);
    op->priority = priority;
    return op;
}

long long asyncio_queue_op_priority(const asyncio_queue_op *op) { return op->priority; }

asyncio_queue_op *asyncio_queue_put(asyncio_queue_op *op, asyncio_queue *q, asyncio_value item)
{
    return asyncio__queue_setup(op, q, ASYNCIO__Q_PUT, item);
}

asyncio_queue_op *asyncio_queue_get(asyncio_queue_op *op, asyncio_queue *q)
{
    return asyncio__queue_setup(op, q, ASYNCIO__Q_GET, asyncio_int(0));
}

asyncio_queue_op *asyncio_queue_join(asyncio_queue_op *op, asyncio_queue *q)
{
    return asyncio__queue_setup(op, q, ASYNCIO__Q_JOIN, asyncio_int(0));
}

int asyncio_queue_io(asyncio_task *self, void *frame)
{
    asyncio_queue_op *op = (asyncio_queue_op *)frame;
    asyncio_queue *q = op->q;
    int rc;
    ASYNCIO_BEGIN(self, op);
    if (op->kind == ASYNCIO__Q_JOIN) {
        if (q->unfinished) {
            ASYNCIO__WAIT_AT(__LINE__, rc, asyncio__park_begin(self, &q->joiners, ASYNCIO_WAITS_QUEUE_JOIN),
                             asyncio__park_end(self, &op->woken));
            if (rc < 0)
                ASYNCIO_RAISE(rc, NULL);
        }
        ASYNCIO_RETURN(asyncio_int(0));
    }
    /* CPython: wait, then look again; a wake-up that is cancelled goes to
       the next waiter if the queue still allows it */
    while (op->kind == ASYNCIO__Q_PUT ? asyncio_queue_full(q) && !q->shutdown : !q->count && !q->shutdown) {
        ASYNCIO__WAIT_AT(__LINE__, rc, asyncio__park_begin(self, op->kind == ASYNCIO__Q_PUT ? &q->putters : &q->getters,
                                                              op->kind == ASYNCIO__Q_PUT ? ASYNCIO_WAITS_QUEUE_PUT
                                                                                         : ASYNCIO_WAITS_QUEUE_GET),
                         asyncio__park_end(self, &op->woken));
        if (rc < 0) {
            if (op->woken && op->kind == ASYNCIO__Q_PUT && !asyncio_queue_full(q))
                asyncio__wake_first(q->loop, &q->putters);
            else if (op->woken && op->kind == ASYNCIO__Q_GET && q->count)
                asyncio__wake_first(q->loop, &q->getters);
            ASYNCIO_RAISE(rc, NULL);
        }
    }
    if (op->kind == ASYNCIO__Q_PUT) {
        if ((rc = asyncio__queue_put(q, op->priority, op->value)) < 0)
            ASYNCIO_RAISE(rc, asyncio_errmsg());
        ASYNCIO_RETURN(asyncio_int(0));
    }
    if ((rc = asyncio__queue_get(q, &op->priority, &op->value)) < 0)
        ASYNCIO_RAISE(rc, asyncio_errmsg());
    ASYNCIO_RETURN(op->value);
    ASYNCIO_END();
}

/* >>barrier --------------------------------------------------------------- */
/* CPython's: a lock, a condition over it, and a state machine. */
enum { ASYNCIO__B_FILLING, ASYNCIO__B_DRAINING, ASYNCIO__B_RESETTING, ASYNCIO__B_BROKEN };

void asyncio_barrier_init(asyncio_barrier *b, asyncio_loop *loop, int parties)
{
    ASYNCIO_ASSERT(parties >= 1);
    asyncio_lock_init(&b->lock, loop);
    asyncio_condition_init(&b->cond, &b->lock);
    b->parties = parties;
    b->count = 0;
    b->state = ASYNCIO__B_FILLING;
}

static void asyncio__barrier_wake_all(asyncio_barrier *b)
{
    while (asyncio__wake_first(b->lock.loop, &b->cond.waiters))
        ;
}

void asyncio_barrier_abort(asyncio_barrier *b)
{
    b->state = ASYNCIO__B_BROKEN;
    asyncio__barrier_wake_all(b);
}

void asyncio_barrier_reset(asyncio_barrier *b)
{
    b->state = b->count > 0 ? ASYNCIO__B_RESETTING : ASYNCIO__B_FILLING;
    asyncio__barrier_wake_all(b);
}

int asyncio_barrier_broken(const asyncio_barrier *b) { return b->state == ASYNCIO__B_BROKEN; }
int asyncio_barrier_n_waiting(const asyncio_barrier *b) { return b->state == ASYNCIO__B_FILLING ? b->count : 0; }

asyncio_barrier_op *asyncio_barrier_op_init(asyncio_barrier_op *op, asyncio_barrier *b)
{
    op->b = b;
    return op;
}

int asyncio_barrier_wait(asyncio_task *self, void *frame)
{
    asyncio_barrier_op *op = (asyncio_barrier_op *)frame;
    asyncio_barrier *b = op->b;
    ASYNCIO_BEGIN(self, op);
    op->held = op->counted = 0;
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_lock_op(&op->op, &b->lock));
    op->held = 1;
    while (b->state == ASYNCIO__B_DRAINING || b->state == ASYNCIO__B_RESETTING) {
        ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_condition_op(&op->op, &b->cond));
    }
    if (b->state == ASYNCIO__B_BROKEN)
        ASYNCIO_RAISE(ASYNCIO_EBROKENBARRIER, "Barrier aborted");
    op->index = b->count++;
    op->counted = 1;
    if (op->index + 1 == b->parties) { /* the last one: release the round */
        b->state = ASYNCIO__B_DRAINING;
        asyncio__barrier_wake_all(b);
    } else {
        while (b->state == ASYNCIO__B_FILLING) {
            ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_condition_op(&op->op, &b->cond));
        }
        if (b->state == ASYNCIO__B_BROKEN || b->state == ASYNCIO__B_RESETTING)
            ASYNCIO_RAISE(ASYNCIO_EBROKENBARRIER, "Abort or reset of barrier");
    }
    ASYNCIO_RETURN(asyncio_int(op->index));
    ASYNCIO_FINALLY;
    if (op->counted && --b->count == 0) { /* the last one out refills it */
        if (b->state == ASYNCIO__B_RESETTING || b->state == ASYNCIO__B_DRAINING)
            b->state = ASYNCIO__B_FILLING;
        asyncio__barrier_wake_all(b);
    }
    if (op->held)
        asyncio_lock_release(&b->lock);
    ASYNCIO_END();
}

/* >>taskgroup ------------------------------------------------------------- */
/* Children are not listed: each carries the group's hook among its
   waiters, so aborting walks the loop's registry of pending tasks (once
   per group) and spawning costs no memory beyond the error slot each
   child reserves, which makes recording a failure infallible.  The
   body's error has its own slot in the group. */
static int asyncio__has_waiter(const asyncio_future *f, uintptr_t w)
{
    if (f->waiters & ASYNCIO__W_VEC) {
        const asyncio__wvec *v = (const asyncio__wvec *)(f->waiters & ~(uintptr_t)3);
        size_t i;
        for (i = 0; i < v->n; i++)
            if (v->e[i] == w)
                return 1;
        return 0;
    }
    return f->waiters == w;
}

static void asyncio__taskgroup_abort(asyncio_taskgroup *tg)
{
    asyncio_loop *L = tg->parent->fut.loop;
    uintptr_t w = (uintptr_t)&tg->hook | ASYNCIO__W_HOOK;
    size_t i;
    tg->aborting = 1;
    for (i = 0; i < L->ntasks; i++)
        if (L->tasks[i] && asyncio__has_waiter(&L->tasks[i]->fut, w))
            asyncio_task_cancel(L->tasks[i]);
}


/* CPython's _on_task_done. */
static void asyncio__taskgroup_child_done(asyncio__waiter *hook, asyncio_future *child)
{
    asyncio_taskgroup *tg = ASYNCIO__CONTAINER(hook, asyncio_taskgroup, hook);
    asyncio__seen(child);
    if (--tg->ntasks == 0)
        asyncio__wake_first(child->loop, &tg->exiting);
    if (asyncio__state(child) == ASYNCIO__S_CANCELLED || !child->x.err)
        return;
    ASYNCIO_ASSERT(tg->nerrors < tg->caperrors);
    tg->errors[tg->nerrors].task = (asyncio_task *)child;
    tg->errors[tg->nerrors].err = child->x.err;
    tg->errors[tg->nerrors++].msg = child->u.msg;
    if (!tg->aborting && !tg->cancel_requested) {
        /* stop the body too; the exit takes this cancellation back */
        asyncio__taskgroup_abort(tg);
        tg->cancel_requested = 1;
        asyncio_task_cancel(tg->parent);
    }
}

void asyncio_taskgroup_enter(asyncio_taskgroup *tg, asyncio_task *owner)
{
    ASYNCIO_ASSERT(tg != NULL && owner != NULL);
    ASYNCIO__CHECK(&owner->fut);
    memset(tg, 0, sizeof *tg);
    tg->hook.fn = asyncio__taskgroup_child_done;
    tg->parent = owner;
    asyncio__list_init(&tg->exiting);
    tg->entered = 1;
#if ASYNCIO_DEBUG
    owner->groups++;
#endif
}

/* The error list lives in loop-owned memory, so a group nobody freed is
   still released when the loop closes. */
static int asyncio__taskgroup_reserve(asyncio_taskgroup *tg, size_t need)
{
    asyncio_loop *L = tg->parent->fut.loop;
    asyncio_failure *e;
    size_t cap = tg->caperrors ? tg->caperrors : 4;
    if (need <= tg->caperrors)
        return 0;
    while (cap < need)
        cap *= 2;
    if (cap > (size_t)-1 / sizeof *e || !(e = (asyncio_failure *)asyncio__alloc(L, cap * sizeof *e)))
        return -ENOMEM;
    if (tg->nerrors)
        memcpy(e, tg->errors, tg->nerrors * sizeof *e);
    asyncio__release(L, tg->errors);
    tg->errors = e;
    tg->caperrors = cap;
    return 0;
}

int asyncio_taskgroup_create_task_at(asyncio_taskgroup *tg, asyncio_task *storage, asyncio_fn fn, void *frame,
                                     asyncio_task **out, const char *name, const char *file, int line)
{
    asyncio_task *t;
    ASYNCIO_ASSERT(tg != NULL);
    if (!tg->entered)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "TaskGroup has not been entered");
    if (tg->leaving && !tg->ntasks)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "TaskGroup is finished");
    if (tg->aborting)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "TaskGroup is shutting down");
    if (tg->parent->fut.loop->closed)
        return asyncio__fail(ASYNCIO_ELOOPCLOSED, "TaskGroup: Event loop is closed");
    /* a slot for every child that could still fail */
    if (asyncio__taskgroup_reserve(tg, tg->nerrors + tg->ntasks + 1) < 0)
        return asyncio__fail(-ENOMEM, "TaskGroup.create_task: no memory");
    t = asyncio_task_create_at(tg->parent->fut.loop, storage, fn, frame, name, file, line);
    if (!t)
        return -ENOMEM; /* create_task said why */
    /* a new task has no waiter yet, so this needs no memory */
    asyncio__add_waiter(&t->fut, (uintptr_t)&tg->hook | ASYNCIO__W_HOOK);
    tg->ntasks++;
    if (out)
        *out = t;
    return 0;
}

asyncio_taskgroup *asyncio_taskgroup_exit(asyncio_taskgroup *tg, int body_rc, const char *body_msg)
{
    tg->body.err = body_rc < 0 ? body_rc : 0;
    tg->body.msg = body_rc < 0 && body_msg ? body_msg : asyncio_strerror(body_rc);
    return tg;
}

/* CPython's __aexit__. */
int asyncio_taskgroup_wait(asyncio_task *self, void *frame)
{
    asyncio_taskgroup *tg = (asyncio_taskgroup *)frame;
    int rc;
    ASYNCIO_BEGIN(self, tg);
    if (!tg->entered || tg->leaving || self != tg->parent)
        ASYNCIO_RAISE(ASYNCIO_EINVALIDSTATE, "task group exited twice, unentered, or by another task");
    tg->leaving = 1;
#if ASYNCIO_DEBUG
    self->groups--;
#endif
    tg->propagate_cancel = tg->body.err == ASYNCIO_ECANCELLED;
    if (tg->body.err < 0 && !tg->aborting)
        asyncio__taskgroup_abort(tg);
    while (tg->ntasks) {
        ASYNCIO__WAIT_AT(__LINE__, rc, asyncio__park_begin(self, &tg->exiting, ASYNCIO_WAITS_TASKGROUP),
                         asyncio__park_end(self, &tg->woken));
        if (rc == ASYNCIO_ECANCELLED && !tg->aborting) { /* the owner is being cancelled */
            tg->propagate_cancel = 1;
            asyncio__taskgroup_abort(tg);
        }
    }
    if (tg->cancel_requested && asyncio_task_uncancel(self) == 0)
        tg->propagate_cancel = 0;
    if (tg->propagate_cancel && !tg->nerrors) {
        asyncio_taskgroup_free(tg);
        ASYNCIO_RAISE(ASYNCIO_ECANCELLED, NULL);
    }
    if (tg->body.err == ASYNCIO_ECANCELLED)
        tg->body.err = 0; /* a cancelled body is not one of the errors */
    if (tg->nerrors || tg->body.err) {
        if (asyncio_task_cancelling(self)) { /* the error group must not swallow it */
            asyncio_task_uncancel(self);
            asyncio_task_cancel(self);
        }
        ASYNCIO_RAISE(ASYNCIO_EGROUP, NULL);
    }
    asyncio_taskgroup_free(tg);
    ASYNCIO_END();
}

size_t asyncio_taskgroup_nerrors(const asyncio_taskgroup *tg) { return tg->nerrors + (tg->body.err < 0); }

const asyncio_failure *asyncio_taskgroup_error(const asyncio_taskgroup *tg, size_t i)
{
    if (i < tg->nerrors)
        return &tg->errors[i];
    return i == tg->nerrors && tg->body.err < 0 ? &tg->body : NULL;
}

void asyncio_taskgroup_free(asyncio_taskgroup *tg)
{
    if (tg->errors)
        asyncio__release(tg->parent->fut.loop, tg->errors);
    tg->errors = NULL;
    tg->nerrors = tg->caperrors = 0;
    tg->body.err = 0;
}

/* >>signals --------------------------------------------------------------- */
/* The classic self-pipe: the handler only writes the signal's number to a
   non-blocking pipe; the loop watches the read end and runs the callbacks. */
#ifndef NSIG
#define NSIG 65
#endif
typedef struct asyncio__signals {
    int pipe[2];
    asyncio_handle watch;
    struct {
        asyncio_callback fn;
        void *arg;
    } on[NSIG];
} asyncio__signals;

/* The write end of the owning loop's pipe, or -1: claimed with a
   compare-and-swap, so two loops on two threads cannot both own the
   signals; the handler reads it with a lock-free atomic load. */
static int asyncio__sig_write_fd = -1;

static void asyncio__sigchld_notify(void);
static void asyncio__sigchld_restore(void);

static void asyncio__on_signal(int signum)
{
    int saved = errno;
    if (signum == SIGCHLD) /* the children's watcher hears of it too */
        asyncio__sigchld_notify();
    unsigned char c = (unsigned char)signum;
    if (write(__atomic_load_n(&asyncio__sig_write_fd, __ATOMIC_SEQ_CST), &c, 1) < 0) {
        /* full pipe: the signal is already pending */
    }
    errno = saved;
}

static void asyncio__signals_read(asyncio_loop *L, void *arg)
{
    asyncio__signals *sg = (asyncio__signals *)arg;
    unsigned char buf[64];
    long n, i;
    while ((n = asyncio__recv(sg->pipe[0], buf, sizeof buf)) > 0)
        for (i = 0; i < n; i++)
            if (buf[i] < NSIG && sg->on[buf[i]].fn)
                sg->on[buf[i]].fn(L, sg->on[buf[i]].arg);
    if (L->signals != sg) /* a callback closed the loop's signal handling */
        return;
    if (n == -EAGAIN)
        asyncio__fd_unready(L, sg->pipe[0], ASYNCIO_READABLE);
    sg->watch.fut.state = (unsigned char)(sg->watch.fut.state & ~ASYNCIO__S_MASK);
    asyncio__fd_watch(L, sg->pipe[0], ASYNCIO_READABLE, &sg->watch.fut);
}

int asyncio_add_signal_handler(asyncio_loop *loop, int signum, asyncio_callback fn, void *arg)
{
    asyncio__signals *sg = loop->signals;
    struct sigaction sa;
    int rc;
    ASYNCIO_ASSERT(fn != NULL);
    if (signum <= 0 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP)
        return asyncio__failf(-EINVAL, "add_signal_handler: %d is not a signal a handler can catch", signum);
    if (!sg) {
        int unowned = -1;
        if (__atomic_load_n(&asyncio__sig_write_fd, __ATOMIC_SEQ_CST) >= 0)
            return asyncio__fail(-EBUSY, "add_signal_handler: another loop owns the signals");
        if (!(sg = (asyncio__signals *)asyncio__alloc(loop, sizeof *sg)))
            return asyncio__fail(-ENOMEM, "add_signal_handler: no memory");
        memset(sg, 0, sizeof *sg);
        if (pipe(sg->pipe) < 0) {
            rc = asyncio__failf(-errno, "add_signal_handler: no pipe: %s", strerror(errno));
            asyncio__release(loop, sg);
            return rc;
        }
        fcntl(sg->pipe[0], F_SETFD, FD_CLOEXEC);
        fcntl(sg->pipe[1], F_SETFD, FD_CLOEXEC);
        fcntl(sg->pipe[1], F_SETFL, O_NONBLOCK);
        if (!ASYNCIO__CAS(&asyncio__sig_write_fd, &unowned, sg->pipe[1]))
            rc = asyncio__fail(-EBUSY, "add_signal_handler: another loop owns the signals"); /* it won the race */
        else if ((rc = asyncio_fd_add(loop, sg->pipe[0])) < 0)
            ASYNCIO__STORE(&asyncio__sig_write_fd, -1);
        if (rc < 0) {
            close(sg->pipe[0]);
            close(sg->pipe[1]);
            asyncio__release(loop, sg);
            return rc;
        }
        asyncio__handle_new(loop, &sg->watch, asyncio__signals_read, sg);
        asyncio__fd_watch(loop, sg->pipe[0], ASYNCIO_READABLE, &sg->watch.fut);
        loop->signals = sg;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = asyncio__on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(signum, &sa, NULL) < 0)
        return asyncio__failf(-errno, "add_signal_handler: sigaction(%d): %s", signum, strerror(errno));
    sg->on[signum].fn = fn;
    sg->on[signum].arg = arg;
    return 0;
}

int asyncio_remove_signal_handler(asyncio_loop *loop, int signum)
{
    asyncio__signals *sg = loop->signals;
    if (!sg || signum <= 0 || signum >= NSIG || !sg->on[signum].fn)
        return 0;
    signal(signum, SIG_DFL);
    if (signum == SIGCHLD)
        asyncio__sigchld_restore();
    sg->on[signum].fn = NULL;
    return 1;
}

/* At loop close: default actions back, the pipe closed. */
static void asyncio__signals_close(asyncio_loop *L)
{
    asyncio__signals *sg = L->signals;
    int i;
    if (!sg)
        return;
    for (i = 1; i < NSIG; i++)
        asyncio_remove_signal_handler(L, i);
    ASYNCIO__STORE(&asyncio__sig_write_fd, -1);
    close(sg->pipe[1]); /* the read end is one of the loop's fds */
    L->signals = NULL;
}

/* >>threads --------------------------------------------------------------- */
/* Other threads reach a loop through one word, xq: a lock-free stack of
   futures, pushed with a compare-and-swap and taken whole by the loop,
   which then reverses it into posting order.  Its two low bits say what
   the loop is doing, so that one compare-and-swap both pushes and learns
   whether the loop sleeps in its backend: the loop announces its sleep
   (ASLEEP) only on an empty stack, and the first post to find it asleep
   marks it WOKEN and writes its wake-up fd -- a burst costs one write.
   On a busy loop that compare-and-swap is a post's only touch of the
   loop, so a loop closing after it has nothing to wait for; a waker
   counts its wake-up done (xwakes_done) after its write, and close waits
   until every WOKEN the loop saw (xwakes_seen) is counted, before it
   closes the fd.  The rarer calls that read the loop after changing it
   (a job that went away, an unref, a remote cancel) hold xinflight. */
enum { ASYNCIO__X_RUNNING, ASYNCIO__X_ASLEEP, ASYNCIO__X_WOKEN, ASYNCIO__X_CLOSED, ASYNCIO__X_STATE = 3 };
#define ASYNCIO__XHEAD(word) ((asyncio_future *)(void *)((word) & ~(uintptr_t)ASYNCIO__X_STATE))

/* Any thread, after having found L asleep and marked it WOKEN. */
static void asyncio__xwoke(asyncio_loop *L)
{
    asyncio__backend_wake(L);
    ASYNCIO__ADD(&L->xwakes_done, 1); /* the last touch of L */
}

/* Any thread: push f on L's stack (through f->link.next).  0, 1 when L
   sleeps and the caller must wake it (asyncio__xwoke), or ELOOPCLOSED. */
static int asyncio__xpush(asyncio_loop *L, asyncio_future *f)
{
    uintptr_t word = ASYNCIO__LOAD(&L->xq), state;
    do {
        state = word & ASYNCIO__X_STATE;
        if (state == ASYNCIO__X_CLOSED)
            return ASYNCIO_ELOOPCLOSED;
        f->link.next = (asyncio__link *)(void *)ASYNCIO__XHEAD(word);
    } while (!ASYNCIO__CAS(&L->xq, &word,
                           (uintptr_t)f | (state == ASYNCIO__X_ASLEEP ? (uintptr_t)ASYNCIO__X_WOKEN : state)));
    return state == ASYNCIO__X_ASLEEP;
}

/* Any thread: post f to L, waking it.  0 or ELOOPCLOSED. */
static int asyncio__xpost(asyncio_loop *L, asyncio_future *f)
{
    int rc = asyncio__xpush(L, f);
    if (rc == 1)
        asyncio__xwoke(L);
    return rc < 0 ? rc : 0;
}

/* Any thread holding xinflight: wake L if it sleeps. */
static void asyncio__xwake(asyncio_loop *L)
{
    uintptr_t word = ASYNCIO__LOAD(&L->xq);
    do {
        if ((word & ASYNCIO__X_STATE) != ASYNCIO__X_ASLEEP)
            return;
    } while (!ASYNCIO__CAS(&L->xq, &word, (word & ~(uintptr_t)ASYNCIO__X_STATE) | ASYNCIO__X_WOKEN));
    asyncio__xwoke(L);
}

/* Loop thread: set xq's state, keeping its stack.  A WOKEN it replaces
   is a wake-up whose writer close must wait for. */
static void asyncio__xstate(asyncio_loop *L, uintptr_t state)
{
    uintptr_t word = ASYNCIO__LOAD(&L->xq);
    while (!ASYNCIO__CAS(&L->xq, &word, (word & ~(uintptr_t)ASYNCIO__X_STATE) | state))
        ;
    if ((word & ASYNCIO__X_STATE) == ASYNCIO__X_WOKEN)
        L->xwakes_seen++;
}

/* Loop thread: take what was posted, oldest first, as a NULL-terminated
   chain through link.next, leaving an empty stack in `state`. */
static asyncio_future *asyncio__xtake(asyncio_loop *L, uintptr_t state)
{
    asyncio_future *f, *oldest = NULL;
    uintptr_t word = ASYNCIO__XCHG(&L->xq, state);
    if ((word & ASYNCIO__X_STATE) == ASYNCIO__X_WOKEN)
        L->xwakes_seen++;
    for (f = ASYNCIO__XHEAD(word); f;) {
        asyncio_future *next = (asyncio_future *)(void *)f->link.next;
        f->link.next = (asyncio__link *)(void *)oldest;
        oldest = f;
        f = next;
    }
    return oldest;
}

static void asyncio__work_arrive(asyncio_loop *L, asyncio_work *w);

/* Loop thread: everything posted arrives: a finished job completes its
   future, a handle joins the ready queue. */
static void asyncio__xdrain(asyncio_loop *L)
{
    asyncio_future *f = asyncio__xtake(L, 0);
    while (f) {
        asyncio_future *next = (asyncio_future *)(void *)f->link.next;
        if (f->kind == ASYNCIO__K_WORK)
            asyncio__work_arrive(L, (asyncio_work *)f);
        else
            asyncio__enqueue(L, f);
        f = next;
    }
}

/* Is anything outside this thread still to come? */
static int asyncio__xalive(asyncio_loop *L)
{
    return ASYNCIO__LOAD(&L->xjobs) > 0 || ASYNCIO__LOAD(&L->xrefs) > 0 ||
           ASYNCIO__XHEAD(ASYNCIO__LOAD(&L->xq)) != NULL;
}

/* Before sleeping in the backend the loop says so (ASLEEP), if nothing
   was posted, then looks at the jobs and holds once more: a thread that
   changes them looks at the state after (see >>threads).  1: it may
   sleep; either way asyncio__xstate(RUNNING) follows.  only: what must
   still be out there for the sleep to end -- nothing in particular,
   anything from another thread, or a job. */
enum { ASYNCIO__SLEEP_ANY, ASYNCIO__SLEEP_THREADS, ASYNCIO__SLEEP_JOBS };

static int asyncio__xsleep(asyncio_loop *L, int only)
{
    uintptr_t empty = ASYNCIO__X_RUNNING;
    if (!ASYNCIO__CAS(&L->xq, &empty, (uintptr_t)ASYNCIO__X_ASLEEP))
        return 0;
    if (L->sigchld_slot && ASYNCIO__LOAD(&L->xchld)) /* the handler stores it, then looks at xq */
        return 0;
    return only == ASYNCIO__SLEEP_ANY || (only == ASYNCIO__SLEEP_JOBS ? ASYNCIO__LOAD(&L->xjobs) > 0
                                                                      : asyncio__xalive(L));
}

int asyncio_call_soon_threadsafe(asyncio_loop *loop, asyncio_handle *h, asyncio_callback fn, void *arg)
{
    int owned = !h, rc;
    if (!loop || !fn)
        return asyncio__fail(-EINVAL, "call_soon_threadsafe: no loop or no callback");
    if (owned && !(h = (asyncio_handle *)ASYNCIO_REALLOC(loop->cfg.alloc_ctx, NULL, sizeof *h)))
        return asyncio__fail(-ENOMEM, "call_soon_threadsafe: no memory");
    asyncio__future_setup(&h->fut, loop, ASYNCIO__K_HANDLE);
    h->fut.state = (unsigned char)(ASYNCIO__F_XPOSTED | (owned ? ASYNCIO__F_OWNED : 0));
    h->fn = fn;
    h->arg = arg;
    if ((rc = asyncio__xpost(loop, &h->fut)) < 0) {
        if (owned)
            ASYNCIO_FREE(loop->cfg.alloc_ctx, h);
        return asyncio__fail(rc, "call_soon_threadsafe: Event loop is closed");
    }
    return 0;
}

void asyncio_loop_ref(asyncio_loop *loop) { ASYNCIO__ADD(&loop->xrefs, 1); }

int asyncio_loop_unref(asyncio_loop *loop)
{
    int left;
    ASYNCIO__ADD(&loop->xinflight, 1);
    left = ASYNCIO__ADD(&loop->xrefs, -1);
    ASYNCIO_ASSERT(left >= 0); /* an unref without its ref */
    asyncio__xwake(loop);
    ASYNCIO__ADD(&loop->xinflight, -1);
    return left;
}

/* Condition variables time out on the monotonic clock where POSIX lets us
   choose (not macOS). */
static void asyncio__cond_init(pthread_cond_t *c)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
#if !defined(__APPLE__)
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
#endif
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

/* Wait on c for at most ns (negative: no limit); 1 if the time ran out. */
static int asyncio__cond_wait(pthread_cond_t *c, pthread_mutex_t *mu, long long ns)
{
    struct timespec ts;
    long long at;
    if (ns < 0)
        return pthread_cond_wait(c, mu), 0;
#if defined(__APPLE__)
    clock_gettime(CLOCK_REALTIME, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    at = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec + (ns < ASYNCIO__NEVER / 2 ? ns : ASYNCIO__NEVER / 2);
    ts.tv_sec = (time_t)(at / 1000000000LL);
    ts.tv_nsec = (long)(at % 1000000000LL);
    return pthread_cond_timedwait(c, mu, &ts) == ETIMEDOUT;
}

/* Process-wide state: the default executor, the condition that
   asyncio_remote_result waits on (one for every remote: a finishing
   remote wakes its waiters, who check their own), and the owner of the
   signal handlers. */
static pthread_mutex_t asyncio__global = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t asyncio__global_once = PTHREAD_ONCE_INIT;
static pthread_cond_t asyncio__remote_cond;
static asyncio_executor *asyncio__default_ex, *asyncio__forked_ex;

/* The executor.  Jobs wait in one FIFO; a worker takes the oldest, runs
   it with the lock released and hands the outcome to the job's loop.  A
   worker never touches a job again once the job is cancelled: it keeps
   fn, arg and discard to itself, and cancelling a running job detaches
   it (worker->cur = NULL) under the lock, so the job's storage is free at
   once.  States, under the executor's lock until POSTED: */
enum { ASYNCIO__JOB_IDLE, ASYNCIO__JOB_QUEUED, ASYNCIO__JOB_RUNNING, ASYNCIO__JOB_POSTED, ASYNCIO__JOB_DISCARD };

typedef struct asyncio__worker {
    asyncio_work *cur; /* the job it runs; NULL once that job was cancelled */
} asyncio__worker;

struct asyncio_executor {
    pthread_mutex_t mu;
    pthread_cond_t work;  /* a job was queued, or the pool must shrink */
    pthread_cond_t quiet; /* a job ended or a thread left (shutdown waits) */
    asyncio__link queue;
    int max, threads, idle, waking, closing;
    long long idle_ns;
    long queued, running;
    long long completed;
};

static void asyncio__forget_default_in_child(void)
{
    /* the parent's workers do not exist here: start afresh (the old
       state stays reachable, so leak checkers stay quiet) */
    asyncio__forked_ex = asyncio__default_ex;
    asyncio__default_ex = NULL;
    pthread_mutex_init(&asyncio__global, NULL);
}

static void asyncio__global_init(void)
{
    asyncio__cond_init(&asyncio__remote_cond);
    pthread_atfork(NULL, NULL, asyncio__forget_default_in_child);
}

static int asyncio__executor_create(asyncio_executor **out, int max_workers)
{
    asyncio_executor *ex;
    if (max_workers < 1 || max_workers > ASYNCIO_MAX_WORKERS)
        return asyncio__failf(-EINVAL, "executor: max_workers must be between 1 and %d, not %d", ASYNCIO_MAX_WORKERS,
                              max_workers);
    if (!(ex = (asyncio_executor *)ASYNCIO_REALLOC(NULL, NULL, sizeof *ex)))
        return asyncio__fail(-ENOMEM, "executor: no memory");
    memset(ex, 0, sizeof *ex);
    pthread_mutex_init(&ex->mu, NULL);
    asyncio__cond_init(&ex->work);
    asyncio__cond_init(&ex->quiet);
    asyncio__list_init(&ex->queue);
    ex->max = max_workers;
    ex->idle_ns = 10000000000LL;
    *out = ex;
    return 0;
}

/* Python 3.13's default: min(32, CPUs this process may use + 4). */
static int asyncio__default_workers(void)
{
    long n = 0;
#if defined(__linux__) && defined(CPU_COUNT)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        n = CPU_COUNT(&set);
#endif
    if (n <= 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0)
        n = 1;
    return n + 4 < 32 ? (int)n + 4 : 32;
}

static asyncio_executor *asyncio__default_executor(void)
{
    asyncio_executor *ex = ASYNCIO__LOAD(&asyncio__default_ex);
    if (ex)
        return ex;
    pthread_once(&asyncio__global_once, asyncio__global_init);
    pthread_mutex_lock(&asyncio__global);
    if (!asyncio__default_ex && asyncio__executor_create(&ex, asyncio__default_workers()) == 0)
        ASYNCIO__STORE(&asyncio__default_ex, ex);
    ex = asyncio__default_ex;
    pthread_mutex_unlock(&asyncio__global);
    return ex;
}

/* A job cancelled while it ran has detached itself: the worker tells the
   loop only that one job fewer is out. */
static void asyncio__xjob_gone(asyncio_loop *L)
{
    ASYNCIO__ADD(&L->xinflight, 1);
    ASYNCIO__ADD(&L->xjobs, -1);
    asyncio__xwake(L);
    ASYNCIO__ADD(&L->xinflight, -1);
}

static void *asyncio__worker_main(void *arg)
{
    asyncio_executor *ex = (asyncio_executor *)arg;
    asyncio__worker self;
    self.cur = NULL;
    pthread_mutex_lock(&ex->mu);
    for (;;) {
        asyncio_work *w;
        asyncio_work_fn fn;
        asyncio_discard_fn discard;
        asyncio_loop *L;
        asyncio_outcome out;
        void *job_arg;
        while (asyncio__list_empty(&ex->queue)) {
            int timed_out;
            if (ex->closing || ex->threads > ex->max)
                goto leave;
            ex->idle++;
            timed_out = asyncio__cond_wait(&ex->work, &ex->mu, ex->idle_ns);
            ex->idle--;
            if (ex->waking > 0)
                ex->waking--;
            if (timed_out && asyncio__list_empty(&ex->queue))
                goto leave;
        }
        w = ASYNCIO__CONTAINER(ex->queue.next, asyncio_work, queue);
        ex->queue.next = w->queue.next;
        w->queue.next->prev = &ex->queue;
        ex->queued--;
        ex->running++;
        w->state = ASYNCIO__JOB_RUNNING;
        w->worker = &self;
        self.cur = w;
        fn = w->fn;
        job_arg = w->arg;
        discard = w->discard;
        L = w->fut.loop;
        pthread_mutex_unlock(&ex->mu);

        memset(&out, 0, sizeof out);
        out.err = fn(job_arg, &out);
        if (out.err > 0) {
            out.err = -EINVAL;
            out.msg = "executor: the work function returned a positive code";
        } else if (out.err < 0 && !out.msg)
            out.msg = asyncio_strerror(out.err);

        pthread_mutex_lock(&ex->mu);
        ex->running--;
        ex->completed++;
        if (self.cur) {
            w->out = out;
            w->state = ASYNCIO__JOB_POSTED;
            w->worker = NULL;
            self.cur = NULL;
            /* pushed under the lock: a cancel that finds it POSTED knows it
               is in the loop's queue; the loop woken after it, so that it
               does not wake only to wait for the lock */
            if (asyncio__xpush(L, &w->fut) == 1) {
                /* idle while it wakes the loop: a job the loop queues
                   meanwhile is this worker's, not a new thread's */
                ex->idle++;
                pthread_mutex_unlock(&ex->mu);
                asyncio__xwoke(L);
                pthread_mutex_lock(&ex->mu);
                ex->idle--;
                if (ex->waking > 0)
                    ex->waking--;
            }
        } else {
            pthread_mutex_unlock(&ex->mu);
            if (discard)
                discard(job_arg, &out);
            asyncio__xjob_gone(L);
            pthread_mutex_lock(&ex->mu);
        }
        if (ex->closing)
            pthread_cond_broadcast(&ex->quiet);
    }
leave:
    ex->threads--;
    pthread_cond_broadcast(&ex->quiet);
    pthread_mutex_unlock(&ex->mu);
    return NULL;
}

/* Under ex->mu: one more worker, with every signal blocked (they go to
   the program's own threads; a job never sees EINTR from them). */
static int asyncio__worker_start(asyncio_executor *ex)
{
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    int rc;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&th, &attr, asyncio__worker_main, ex);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        ex->threads++;
    return -rc;
}

static const char *asyncio__executor_submit(asyncio_executor *ex, asyncio_work *w, int *err)
{
    const char *msg = NULL;
    pthread_mutex_lock(&ex->mu);
    if (ex->closing) {
        *err = ASYNCIO_EINVALIDSTATE;
        msg = "executor: it is shut down";
    } else {
        asyncio__list_push(&ex->queue, &w->queue);
        ex->queued++;
        w->ex = ex;
        w->state = ASYNCIO__JOB_QUEUED;
        if (ex->idle > ex->waking) {
            ex->waking++;
            pthread_cond_signal(&ex->work);
        } else if (ex->threads < ex->max && (*err = asyncio__worker_start(ex)) < 0 && ex->threads == 0) {
            w->queue.prev->next = w->queue.next;
            w->queue.next->prev = w->queue.prev;
            ex->queued--;
            w->state = ASYNCIO__JOB_IDLE;
            msg = "executor: cannot start a worker thread";
        }
    }
    pthread_mutex_unlock(&ex->mu);
    if (!msg)
        *err = 0;
    return msg;
}

asyncio_future *asyncio_run_in_executor(asyncio_loop *loop, asyncio_executor *ex, asyncio_work *w,
                                        asyncio_work_fn fn, void *arg, asyncio_discard_fn discard)
{
    const char *msg = NULL;
    int err = 0;
    ASYNCIO_ASSERT(loop != NULL && w != NULL);
    ASYNCIO__CHECK_THREAD(loop);
    asyncio__future_setup(&w->fut, loop, ASYNCIO__K_WORK);
    w->fn = fn;
    w->arg = arg;
    w->discard = discard;
    w->ex = NULL;
    w->worker = NULL;
    w->state = ASYNCIO__JOB_IDLE;
    memset(&w->out, 0, sizeof w->out);
    if (!fn) {
        err = -EINVAL;
        msg = "executor: the work function is NULL";
    } else if (loop->closed) {
        err = ASYNCIO_ELOOPCLOSED;
        msg = asyncio_strerror(err);
    } else if (!ex && !(ex = asyncio__default_executor())) {
        err = -ENOMEM;
        msg = "executor: no memory for the default executor";
    } else if ((msg = asyncio__executor_submit(ex, w, &err)) == NULL) {
        ASYNCIO__ADD(&loop->xjobs, 1);
        loop->m_jobs++;
    }
    if (err < 0) {
        w->fut.u.msg = msg;
        asyncio__complete(&w->fut, ASYNCIO__S_DONE, err);
    }
    return &w->fut;
}

asyncio_future *asyncio_to_thread(asyncio_loop *loop, asyncio_work *w, asyncio_work_fn fn, void *arg)
{
    return asyncio_run_in_executor(loop, NULL, w, fn, arg, NULL);
}

/* Loop thread: a finished job's outcome reaches its future, or, if the
   job was cancelled after it was posted, its discard. */
static void asyncio__work_arrive(asyncio_loop *L, asyncio_work *w)
{
    int discarded = w->state == ASYNCIO__JOB_DISCARD;
    ASYNCIO__ADD(&L->xjobs, -1);
    L->m_jobs_done++;
    w->state = ASYNCIO__JOB_IDLE;
    if (discarded) {
        if (w->discard)
            w->discard(w->arg, &w->out);
    } else if (w->out.err) {
        w->fut.u.msg = w->out.msg;
        asyncio__complete(&w->fut, ASYNCIO__S_DONE, w->out.err);
    } else {
        w->fut.u.value = w->out.value;
        asyncio__complete(&w->fut, ASYNCIO__S_DONE, 0);
    }
}

/* asyncio_future_cancel on a job: out of the queue if it has not
   started, detached if it runs, discarded if its outcome is on its way;
   1, and the caller then cancels the future: no one touches w
   afterwards.  A job that runs to its end (F_TO_END) and has started is
   only asked to stop early: 0, the future stays pending. */
static int asyncio__work_cancel(asyncio_work *w)
{
    asyncio_loop *L = w->fut.loop;
    asyncio_executor *ex = w->ex;
    int state;
    if (!ex) { /* a file call on the io_uring (section 14): it runs to its end once the kernel has it */
#if ASYNCIO__URING
        const asyncio_file_op *op = ASYNCIO__CONTAINER(w, asyncio_file_op, work);
        if (op->done == 0 && asyncio__uring_withdraw(L, op)) { /* never started: dropped, as a queued job */
            ASYNCIO__ADD(&L->xjobs, -1);
            return 1;
        }
#endif
        w->stop = 1;
        return 0;
    }
    pthread_mutex_lock(&ex->mu);
    state = w->state;
    if ((w->fut.state & ASYNCIO__F_TO_END) && state != ASYNCIO__JOB_QUEUED) {
        ASYNCIO__STORE(&w->stop, 1);
        pthread_mutex_unlock(&ex->mu);
        return 0;
    }
    if (state == ASYNCIO__JOB_QUEUED) {
        asyncio__list_remove(&w->queue);
        ex->queued--;
        w->state = ASYNCIO__JOB_IDLE;
    } else if (state == ASYNCIO__JOB_RUNNING) {
        w->worker->cur = NULL;
        w->worker = NULL;
        w->state = ASYNCIO__JOB_IDLE;
    } else if (state == ASYNCIO__JOB_POSTED)
        w->state = ASYNCIO__JOB_DISCARD;
    pthread_mutex_unlock(&ex->mu);
    if (state == ASYNCIO__JOB_QUEUED) {
        ASYNCIO__ADD(&L->xjobs, -1);
        if (w->discard) {
            asyncio_outcome never;
            memset(&never, 0, sizeof never);
            never.err = ASYNCIO_ECANCELLED;
            never.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
            w->discard(w->arg, &never);
        }
    } else if (state == ASYNCIO__JOB_POSTED)
        asyncio__xdrain(L); /* it arrives now, and is discarded */
    return 1;
}

int asyncio_executor_new(asyncio_executor **ex, int max_workers)
{
    if (!ex)
        return asyncio__fail(-EINVAL, "executor_new: nowhere to put the executor");
    return asyncio__executor_create(ex, max_workers);
}

int asyncio_executor_configure(asyncio_executor *ex, int max_workers, double idle_timeout)
{
    long long ns = -1;
    if (max_workers < 1 || max_workers > ASYNCIO_MAX_WORKERS)
        return asyncio__failf(-EINVAL, "executor: max_workers must be between 1 and %d, not %d", ASYNCIO_MAX_WORKERS,
                              max_workers);
    if (idle_timeout != idle_timeout)
        return asyncio__fail(-EINVAL, "executor: the idle timeout is NaN");
    if (idle_timeout >= 0)
        asyncio__secs_to_ns(idle_timeout, &ns);
    if (!ex && !(ex = asyncio__default_executor()))
        return asyncio__fail(-ENOMEM, "executor: no memory for the default executor");
    pthread_mutex_lock(&ex->mu);
    ex->max = max_workers;
    ex->idle_ns = ns;
    pthread_cond_broadcast(&ex->work); /* idle threads re-read their limits */
    pthread_mutex_unlock(&ex->mu);
    return 0;
}

int asyncio_executor_shutdown(asyncio_executor *ex)
{
    if (!ex || ex == ASYNCIO__LOAD(&asyncio__default_ex))
        return asyncio__fail(-EINVAL, "executor_shutdown: no executor, or the default one (it lives as long as the "
                                      "process)");
    pthread_mutex_lock(&ex->mu);
    ex->closing = 1;
    pthread_cond_broadcast(&ex->work);
    while (ex->threads > 0) /* they leave once the queue is empty */
        pthread_cond_wait(&ex->quiet, &ex->mu);
    pthread_mutex_unlock(&ex->mu);
    pthread_cond_destroy(&ex->work);
    pthread_cond_destroy(&ex->quiet);
    pthread_mutex_destroy(&ex->mu);
    ASYNCIO_FREE(NULL, ex);
    return 0;
}

void asyncio_executor_stats(asyncio_executor *ex, asyncio_executor_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!ex && !(ex = asyncio__default_executor()))
        return;
    pthread_mutex_lock(&ex->mu);
    out->max_workers = ex->max;
    out->threads = ex->threads;
    out->idle = ex->idle;
    out->queued = ex->queued;
    out->running = ex->running;
    out->completed = ex->completed;
    pthread_mutex_unlock(&ex->mu);
}

/* run_coroutine_threadsafe.  The remote's own handles carry it through
   the loop: `start` (posted by the caller) creates the task, `cancel`
   (posted by asyncio_remote_cancel) cancels it, `publish` (call_soon
   once the task is done, so that every other waiter of the task has run
   first) hands the outcome over; after publishing, the loop never
   touches r again.  cancel_requested (atomic): 0, 1 (its handle is on its
   way), 2 (it arrived), 3 (sealed: too late to cancel).  phase, the
   loop's own view: */
enum { ASYNCIO__REMOTE_QUEUED, ASYNCIO__REMOTE_RUNNING, ASYNCIO__REMOTE_DONE };
enum { ASYNCIO__PHASE_STARTING, ASYNCIO__PHASE_RUNNING, ASYNCIO__PHASE_FINISHED, ASYNCIO__PHASE_HELD,
       ASYNCIO__PHASE_PUBLISHED };

static void asyncio__remote_publish(asyncio_loop *L, asyncio_remote *r)
{
    if (r->prev || L->remotes == r) { /* off the loop's list */
        if (r->prev)
            r->prev->next = r->next;
        else
            L->remotes = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    r->phase = ASYNCIO__PHASE_PUBLISHED;
    pthread_mutex_lock(&asyncio__global);
    ASYNCIO__STORE(&r->state, ASYNCIO__REMOTE_DONE);
    pthread_cond_broadcast(&asyncio__remote_cond);
    pthread_mutex_unlock(&asyncio__global);
}

static void asyncio__remote_fail(asyncio_loop *L, asyncio_remote *r, int err)
{
    r->out.err = err;
    r->out.msg = asyncio_strerror(err);
    asyncio__remote_publish(L, r);
}

/* Publish unless a cancel is still on its way (its arrival publishes). */
static void asyncio__remote_publish_cb(asyncio_loop *L, void *arg)
{
    asyncio_remote *r = (asyncio_remote *)arg;
    int none = 0;
    if (ASYNCIO__CAS(&r->cancel_requested, &none, 3) || none == 2)
        asyncio__remote_publish(L, r);
    else
        r->phase = ASYNCIO__PHASE_HELD;
}

static void asyncio__remote_task_done(asyncio__waiter *hook, asyncio_future *task)
{
    asyncio_remote *r = ASYNCIO__CONTAINER(hook, asyncio_remote, done);
    r->out.err = asyncio_future_result(task, &r->out.value);
    r->out.msg = asyncio_future_errmsg(task);
    if (ASYNCIO__LOAD(&r->cancel_requested) != 0) { /* Python: cancelled is cancelled */
        r->out.err = ASYNCIO_ECANCELLED;
        r->out.msg = asyncio_strerror(ASYNCIO_ECANCELLED);
    }
    r->phase = ASYNCIO__PHASE_FINISHED;
    asyncio__handle_new(task->loop, &r->publish, asyncio__remote_publish_cb, r);
    asyncio__enqueue(task->loop, &r->publish.fut);
}

static void asyncio__remote_start(asyncio_loop *L, void *arg)
{
    asyncio_remote *r = (asyncio_remote *)arg;
    if (!asyncio_task_create_at(L, &r->task, r->fn, r->frame, r->name, r->file, r->line)) {
        asyncio__remote_fail(L, r, -ENOMEM);
        return;
    }
    r->prev = NULL;
    r->next = L->remotes;
    if (r->next)
        r->next->prev = r;
    L->remotes = r;
    r->done.fn = asyncio__remote_task_done;
    asyncio__add_waiter(&r->task.fut, (uintptr_t)&r->done | ASYNCIO__W_HOOK); /* the first: no memory */
    r->phase = ASYNCIO__PHASE_RUNNING;
    ASYNCIO__STORE(&r->state, ASYNCIO__REMOTE_RUNNING);
}

static void asyncio__remote_cancel_cb(asyncio_loop *L, void *arg)
{
    asyncio_remote *r = (asyncio_remote *)arg;
    ASYNCIO__STORE(&r->cancel_requested, 2);
    if (r->phase == ASYNCIO__PHASE_RUNNING)
        asyncio_task_cancel(&r->task);
    else if (r->phase == ASYNCIO__PHASE_HELD)
        asyncio__remote_publish(L, r);
    /* FINISHED: the publish handle, still queued, will see the 2 */
}

int asyncio_run_coroutine_threadsafe_at(asyncio_remote *r, asyncio_loop *loop, asyncio_fn fn, void *frame,
                                        const char *name, const char *file, int line)
{
    int rc;
    if (!r || !loop || !fn || !frame)
        return asyncio__fail(-EINVAL, "run_coroutine_threadsafe: no handle, loop, function or frame");
    pthread_once(&asyncio__global_once, asyncio__global_init);
    memset(r, 0, sizeof *r);
    r->fn = fn;
    r->frame = frame;
    r->name = name;
    r->file = file;
    r->line = line;
    asyncio__future_setup(&r->start.fut, loop, ASYNCIO__K_HANDLE);
    r->start.fut.state = ASYNCIO__F_XPOSTED;
    r->start.fn = asyncio__remote_start;
    r->start.arg = r;
    if ((rc = asyncio__xpost(loop, &r->start.fut)) < 0) {
        r->out.err = rc;
        r->out.msg = "run_coroutine_threadsafe: Event loop is closed";
        ASYNCIO__STORE(&r->state, ASYNCIO__REMOTE_DONE);
        return asyncio__fail(rc, r->out.msg);
    }
    return 0;
}

int asyncio_remote_cancel(asyncio_remote *r)
{
    asyncio_loop *L = r->start.fut.loop;
    int none = 0, rc = 0;
    ASYNCIO__ADD(&L->xinflight, 1); /* close settles every cancel before it seals */
    if (ASYNCIO__LOAD(&r->state) != ASYNCIO__REMOTE_DONE && ASYNCIO__CAS(&r->cancel_requested, &none, 1)) {
        asyncio__future_setup(&r->cancel.fut, L, ASYNCIO__K_HANDLE);
        r->cancel.fut.state = ASYNCIO__F_XPOSTED;
        r->cancel.fn = asyncio__remote_cancel_cb;
        r->cancel.arg = r;
        if (asyncio__xpost(L, &r->cancel.fut) < 0)
            ASYNCIO__STORE(&r->cancel_requested, 2); /* closed: close publishes r */
        rc = 1;
    } else /* Python: True once cancelled, False once finished otherwise */
        rc = none == 1 || none == 2 || (asyncio_remote_done(r) && r->out.err == ASYNCIO_ECANCELLED);
    ASYNCIO__ADD(&L->xinflight, -1);
    return rc;
}

int asyncio_remote_done(const asyncio_remote *r) { return ASYNCIO__LOAD(&r->state) == ASYNCIO__REMOTE_DONE; }

const char *asyncio_remote_errmsg(const asyncio_remote *r)
{
    return asyncio_remote_done(r) && r->out.err ? r->out.msg : NULL;
}

int asyncio_remote_result(asyncio_remote *r, double timeout, asyncio_value *value)
{
    if (timeout != timeout)
        return asyncio__fail(-EINVAL, "remote_result: the timeout is NaN");
    if (!asyncio_remote_done(r)) {
        long long ns = -1;
        if (asyncio__running && asyncio__running == r->start.fut.loop)
            return asyncio__fail(-EDEADLK, "remote_result: called on the loop's own thread, it would wait for "
                                           "itself");
        if (timeout >= 0)
            asyncio__secs_to_ns(timeout, &ns);
        pthread_mutex_lock(&asyncio__global);
        while (!asyncio_remote_done(r) && ns != 0 && !asyncio__cond_wait(&asyncio__remote_cond, &asyncio__global, ns))
            ;
        pthread_mutex_unlock(&asyncio__global);
        if (!asyncio_remote_done(r))
            return asyncio__fail(ASYNCIO_ETIMEDOUT, "remote_result: the coroutine has not finished yet");
    }
    if (!r->out.err && value)
        *value = r->out.value;
    return r->out.err ? asyncio__fail(r->out.err, r->out.msg) : 0;
}

/* At close: a posted handle that never ran.  A remote's own are settled
   (the thread waiting on it hears ELOOPCLOSED); a user's callback is
   counted for the report. */
static int asyncio__xdrop(asyncio_loop *L, asyncio_handle *h)
{
    asyncio_remote *r = (asyncio_remote *)h->arg;
    if (h->fn == asyncio__remote_start) {
        asyncio__remote_fail(L, r, ASYNCIO_ELOOPCLOSED);
        return 0;
    }
    if (h->fn == asyncio__remote_cancel_cb) {
        ASYNCIO__STORE(&r->cancel_requested, 2);
        return 0;
    }
    if (h->fut.state & ASYNCIO__F_OWNED)
        ASYNCIO_FREE(L->cfg.alloc_ctx, h);
    return 1;
}

/* asyncio_loop_close's part: wait for the loop's jobs (their outcomes
   arrive; nobody runs to see them), shut the door, settle what was
   posted and never ran, and answer every remote still waiting. */
/* At close, before and while it waits for the executor's jobs (one may
   be blocked in asyncio_remote_result on this loop): every remote
   coroutine is settled -- one that finished with its outcome, whose
   publish handle would have run on an iteration that will not come, the
   others with ELOOPCLOSED -- and remote starts that arrived are refused. */
static void asyncio__remotes_settle(asyncio_loop *L)
{
    asyncio__link *at;
    for (at = L->ready.next; at != &L->ready;) {
        asyncio__link *following = at->next;
        asyncio_future *f = (asyncio_future *)(void *)at;
        asyncio_callback fn = f->kind == ASYNCIO__K_HANDLE ? ((asyncio_handle *)f)->fn : NULL;
        if (fn == asyncio__remote_start || fn == asyncio__remote_publish_cb) {
            asyncio__unlink(L, f);
            if (fn == asyncio__remote_start)
                asyncio__xdrop(L, (asyncio_handle *)f);
        }
        at = following;
    }
    while (L->remotes) {
        asyncio_remote *r = L->remotes;
        if (r->phase == ASYNCIO__PHASE_RUNNING) {
            r->out.err = ASYNCIO_ELOOPCLOSED;
            r->out.msg = "the loop closed before the coroutine finished";
        }
        asyncio__remote_publish(L, r);
    }
}

static void asyncio__threads_close(asyncio_loop *L)
{
    asyncio_future *f, *next;
    asyncio__link *at;
    int dropped = 0;
    L->nfdwait = 0; /* the fds' own events no longer matter: wait for jobs only */
    asyncio__remotes_settle(L);
    while (ASYNCIO__LOAD(&L->xjobs) > 0) {
        if (asyncio__xsleep(L, ASYNCIO__SLEEP_JOBS))
            asyncio__backend_poll(L, -1);
        asyncio__xstate(L, ASYNCIO__X_RUNNING);
        L->nfired = 0;
        asyncio__xdrain(L);
        asyncio__remotes_settle(L);
    }
    f = asyncio__xtake(L, ASYNCIO__X_CLOSED); /* nobody posts or wakes it from now on */
    while (ASYNCIO__LOAD(&L->xinflight) > 0 || ASYNCIO__LOAD(&L->xwakes_done) != L->xwakes_seen)
        sched_yield();
    for (; f; f = next) {
        next = (asyncio_future *)(void *)f->link.next;
        dropped += asyncio__xdrop(L, (asyncio_handle *)f);
    }
    for (at = L->ready.next; at != &L->ready;) {
        asyncio__link *following = at->next;
        f = (asyncio_future *)(void *)at;
        if (f->kind == ASYNCIO__K_HANDLE && (f->state & ASYNCIO__F_XPOSTED)) {
            asyncio__unlink(L, f);
            dropped += asyncio__xdrop(L, (asyncio_handle *)f);
        }
        at = following;
    }
    asyncio__remotes_settle(L);
    if (dropped) {
        char msg[160];
        snprintf(msg, sizeof msg, "%d call_soon_threadsafe callback%s never ran: the loop closed first", dropped,
                 dropped == 1 ? "" : "s");
        L->cfg.warn(L->cfg.warn_ctx, msg);
    }
}

/* >>process --------------------------------------------------------------- */
/* A process record belongs to the library: the loop watches the child
   until it exits whatever the caller does, so that no child is left a
   zombie and no watcher outlives its record.  It is freed once the
   caller released it, the child was reaped and its pipes are closed.
   Children are watched by a pidfd in the backend (Linux), by EVFILT_PROC
   (kqueue), or -- where neither exists, or cfg.child_watcher asks -- by
   a SIGCHLD handler: it marks every loop with such children and wakes
   it, and the loop asks waitpid about each of its own. */
enum { ASYNCIO__WATCH_PIDFD = 1, ASYNCIO__WATCH_KQUEUE, ASYNCIO__WATCH_SIGCHLD };

typedef struct asyncio__pipe {
    asyncio_stream s;
    asyncio_process *p;
    int which;
} asyncio__pipe;

struct asyncio_process {
    asyncio__link node;        /* in the loop's procs */
    asyncio_loop *loop;
    int pid, pidfd, watch, returncode, exited, released;
    asyncio__pipe *pipes[3];
    asyncio_event exit;        /* set once reaped */
    asyncio_handle watcher;    /* the pidfd is readable */
    asyncio_handle freer;      /* frees the record, after the tasks its exit woke */
};

/* The loops with children under SIGCHLD: the handler reads the slots;
   a closing loop empties its slot and waits for handlers in flight. */
#define ASYNCIO__SIGCHLD_LOOPS 64
static asyncio_loop *asyncio__sigchld_loops[ASYNCIO__SIGCHLD_LOOPS];
static int asyncio__sigchld_inflight;
static int asyncio__sigchld_installed; /* under asyncio__global */
static struct sigaction asyncio__sigchld_chained;

/* Async-signal-safe: atomics and the wake-up's write only. */
static void asyncio__sigchld_notify(void)
{
    int i;
    ASYNCIO__ADD(&asyncio__sigchld_inflight, 1);
    for (i = 0; i < ASYNCIO__SIGCHLD_LOOPS; i++) {
        asyncio_loop *L = ASYNCIO__LOAD(&asyncio__sigchld_loops[i]);
        if (L) {
            ASYNCIO__STORE(&L->xchld, 1);
            asyncio__xwake(L);
        }
    }
    ASYNCIO__ADD(&asyncio__sigchld_inflight, -1);
}

static void asyncio__on_sigchld(int sig, siginfo_t *info, void *ctx)
{
    int saved = errno;
    asyncio__sigchld_notify();
    errno = saved;
    if (asyncio__sigchld_chained.sa_flags & SA_SIGINFO) {
        if (asyncio__sigchld_chained.sa_sigaction)
            asyncio__sigchld_chained.sa_sigaction(sig, info, ctx);
    } else if (asyncio__sigchld_chained.sa_handler != SIG_DFL && asyncio__sigchld_chained.sa_handler != SIG_IGN)
        asyncio__sigchld_chained.sa_handler(sig);
}

/* Under asyncio__global: our handler for SIGCHLD; the one it replaces
   goes to *prev (may be NULL). */
static int asyncio__sigchld_set(struct sigaction *prev)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = asyncio__on_sigchld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigfillset(&sa.sa_mask);
    return sigaction(SIGCHLD, &sa, prev);
}

/* Join L to the SIGCHLD watch: 0, or -EAGAIN when every slot is taken. */
static int asyncio__sigchld_join(asyncio_loop *L)
{
    int i, rc = -EAGAIN;
    if (L->sigchld_slot)
        return 0;
    pthread_mutex_lock(&asyncio__global);
    if (!asyncio__sigchld_installed && asyncio__sigchld_set(&asyncio__sigchld_chained) == 0)
        asyncio__sigchld_installed = 1;
    for (i = 0; i < ASYNCIO__SIGCHLD_LOOPS && asyncio__sigchld_installed; i++)
        if (!asyncio__sigchld_loops[i]) {
            ASYNCIO__STORE(&asyncio__sigchld_loops[i], L);
            L->sigchld_slot = i + 1;
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&asyncio__global);
    return rc;
}

/* asyncio_remove_signal_handler(SIGCHLD) put the default back: the
   children's watcher takes SIGCHLD again. */
static void asyncio__sigchld_restore(void)
{
    pthread_mutex_lock(&asyncio__global);
    if (asyncio__sigchld_installed)
        asyncio__sigchld_set(NULL);
    pthread_mutex_unlock(&asyncio__global);
}

static void asyncio__sigchld_leave(asyncio_loop *L)
{
    if (!L->sigchld_slot)
        return;
    ASYNCIO__STORE(&asyncio__sigchld_loops[L->sigchld_slot - 1], (asyncio_loop *)NULL);
    L->sigchld_slot = 0;
    while (ASYNCIO__LOAD(&asyncio__sigchld_inflight) > 0)
        sched_yield();
}

static void asyncio__orphan(int pid);

static void asyncio__process_free(asyncio_loop *L, void *arg)
{
    asyncio_process *p = (asyncio_process *)arg;
    asyncio__list_remove(&p->node);
    asyncio__release(L, p);
}

/* Freed from the ready queue, behind the waiters its exit woke: they
   read its returncode when they run. */
static void asyncio__process_free_if_done(asyncio_process *p)
{
    if (p->released && p->exited && !p->pipes[0] && !p->pipes[1] && !p->pipes[2] &&
        p->freer.fut.kind != ASYNCIO__K_HANDLE)
        asyncio_call_soon(p->loop, &p->freer, asyncio__process_free, p);
}

/* The child is gone: its status, then everyone waiting hears of it. */
static void asyncio__process_reaped(asyncio_process *p, int status, int known)
{
    asyncio_loop *L = p->loop;
    if (!known) {
        char msg[96];
        snprintf(msg, sizeof msg, "Unknown child process pid %d, will report returncode 255", p->pid);
        L->cfg.warn(L->cfg.warn_ctx, msg);
        p->returncode = 255;
    } else if (WIFSIGNALED(status))
        p->returncode = -WTERMSIG(status);
    else
        p->returncode = WEXITSTATUS(status);
    p->exited = 1;
    if (p->watch == ASYNCIO__WATCH_PIDFD) {
        asyncio_fd_close(L, p->pidfd);
        p->pidfd = -1;
    } else
        L->nchildren--;
    asyncio_event_set(&p->exit);
    asyncio__process_free_if_done(p);
}

/* Ask waitpid about p's child, never blocking: 1 once it was reaped. */
static int asyncio__process_poll(asyncio_process *p)
{
    int status = 0, r;
    while ((r = (int)waitpid(p->pid, &status, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == 0)
        return 0;
    asyncio__process_reaped(p, status, r == p->pid);
    return 1;
}

#if !ASYNCIO__KQUEUE && defined(__linux__) && defined(SYS_pidfd_open)
#define ASYNCIO__PIDFD 1
static void asyncio__pidfd_ready(asyncio_loop *L, void *arg)
{
    asyncio_process *p = (asyncio_process *)arg;
    if (!asyncio__process_poll(p)) { /* not yet: watch again */
        asyncio__fd_unready(L, p->pidfd, ASYNCIO_READABLE);
        p->watcher.fut.state = (unsigned char)(p->watcher.fut.state & ~ASYNCIO__S_MASK);
        asyncio__fd_watch(L, p->pidfd, ASYNCIO_READABLE, &p->watcher.fut);
    }
}
#endif

/* The loop thread, when a SIGCHLD arrived: which of its children left? */
static void asyncio__sigchld_reap(asyncio_loop *L)
{
    asyncio__link *at, *next;
    ASYNCIO__STORE(&L->xchld, 0);
    for (at = L->procs.next; at != &L->procs; at = next) {
        asyncio_process *p = ASYNCIO__CONTAINER(at, asyncio_process, node);
        next = at->next; /* p may be freed */
        if (!p->exited && p->watch == ASYNCIO__WATCH_SIGCHLD)
            asyncio__process_poll(p);
    }
}

#if ASYNCIO__KQUEUE
static int asyncio__process_kqueue(asyncio_process *p)
{
    struct kevent ch;
    EV_SET(&ch, p->pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, p);
    return kevent(p->loop->backend_fd, &ch, 1, NULL, 0, NULL) < 0 ? -errno : 0;
}
#endif

/* Watch p's child: EVFILT_PROC (kqueue, always: it needs no signal
   handler), a pidfd (Linux), or SIGCHLD. */
static int asyncio__process_watch(asyncio_process *p)
{
    asyncio_loop *L = p->loop;
#if ASYNCIO__KQUEUE
    if (asyncio__process_kqueue(p) == 0) {
        p->watch = ASYNCIO__WATCH_KQUEUE;
        L->nchildren++;
        return 0;
    }
#elif ASYNCIO__PIDFD
    if (L->cfg.child_watcher != ASYNCIO_CHILD_SIGCHLD) {
        int fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
        if (fd >= 0) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            if (asyncio_fd_add(L, fd) == 0) {
                p->pidfd = fd;
                p->watch = ASYNCIO__WATCH_PIDFD;
                asyncio__handle_new(L, &p->watcher, asyncio__pidfd_ready, p);
                asyncio__fd_watch(L, fd, ASYNCIO_READABLE, &p->watcher.fut);
                return 0;
            }
            close(fd);
        }
    }
#endif
    if (asyncio__sigchld_join(L) < 0)
        return -EAGAIN;
    p->watch = ASYNCIO__WATCH_SIGCHLD;
    L->nchildren++;
    ASYNCIO__STORE(&L->xchld, 1); /* it may have exited before the handler was there */
    return 0;
}

#if ASYNCIO__KQUEUE
/* From the kqueue backend: p's child exited (the event does not reap). */
static void asyncio__process_kevent(asyncio_process *p)
{
    if (!asyncio__process_poll(p)) /* not reaped yet (never seen): watch again */
        asyncio__process_kqueue(p);
}
#endif

/* A pipe stream was closed and is being freed. */
static void asyncio__pipe_closed(asyncio_stream *s)
{
    asyncio__pipe *pp = (asyncio__pipe *)s;
    asyncio_process *p = pp->p;
    p->pipes[pp->which] = NULL;
    asyncio__release(p->loop, pp);
    asyncio__process_free_if_done(p);
}

/* Child processes are spawned with SIGPIPE and SIGXFSZ at their defaults;
   the parent ignores SIGPIPE (as Python does) once it writes to a pipe,
   unless the program has its own handler: a reader that went away is
   then an EPIPE, not the end of the program. */
static void asyncio__ignore_sigpipe(void)
{
    static int done;
    struct sigaction old;
    if (ASYNCIO__LOAD(&done))
        return;
    pthread_mutex_lock(&asyncio__global);
    if (!done && sigaction(SIGPIPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    ASYNCIO__STORE(&done, 1);
    pthread_mutex_unlock(&asyncio__global);
}

/* The value of NAME in a "NAME=value" list, or NULL. */
static const char *asyncio__env_get(const char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
            return *env + n + 1;
    return NULL;
}

/* Python's search for a program without a '/': the PATH of the child's
   environment, else the parent's, else os.defpath.  0 with the path in
   buf, or the error of the most telling candidate (EACCES over ENOENT). */
static int asyncio__find_program(const char *name, const char *const *env, char *buf, size_t size)
{
    const char *path = env ? asyncio__env_get(env, "PATH") : getenv("PATH"), *dir, *end;
    int err = -ENOENT;
    if (strchr(name, '/')) {
        if (strlen(name) >= size)
            return -ENAMETOOLONG;
        strcpy(buf, name);
        return 0;
    }
    if (!path)
        path = "/bin:/usr/bin";
    for (dir = path;; dir = end + 1) {
        struct stat st;
        size_t dlen;
        end = strchr(dir, ':');
        dlen = end ? (size_t)(end - dir) : strlen(dir);
        if (dlen + strlen(name) + 2 <= size) {
            if (dlen) {
                memcpy(buf, dir, dlen);
                buf[dlen] = '/';
                strcpy(buf + dlen + 1, name);
            } else
                strcpy(buf, name); /* an empty entry: the working directory */
            if (stat(buf, &st) == 0 && !S_ISDIR(st.st_mode)) {
                if (access(buf, X_OK) == 0)
                    return 0;
                err = -EACCES;
            }
        }
        if (!end)
            return err;
    }
}

/* One end of each pipe, /dev/null and the caller's descriptors, all moved
   above 2 so that setting up 0, 1 and 2 in the child cannot clobber a
   source before it is used. */
typedef struct asyncio__spawn_fds {
    int child[3], parent[3], devnull;
} asyncio__spawn_fds;

static void asyncio__spawn_fds_close(asyncio__spawn_fds *f, int parents_too)
{
    int i;
    for (i = 0; i < 3; i++) {
        if (f->child[i] >= 0 && f->child[i] != f->devnull)
            close(f->child[i]);
        if (parents_too && f->parent[i] >= 0)
            close(f->parent[i]);
    }
    if (f->devnull >= 0)
        close(f->devnull);
}

static int asyncio__cloexec_pipe(int fds[2])
{
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
#else
    if (pipe(fds) < 0)
        return -errno;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

static int asyncio__spawn_fds_open(asyncio__spawn_fds *f, const asyncio_process_options *o)
{
    int i;
    f->devnull = -1;
    for (i = 0; i < 3; i++)
        f->child[i] = f->parent[i] = -1;
    for (i = 0; i < 3; i++) {
        int mode = o->stdio[i].mode, src = -1;
        if (mode == ASYNCIO_PIPE) {
            int fds[2], rc = asyncio__cloexec_pipe(fds);
            if (rc < 0)
                return asyncio__failf(rc, "create_subprocess: no pipe: %s", asyncio_strerror(rc));
            src = fds[i == 0 ? 0 : 1];
            f->parent[i] = fds[i == 0 ? 1 : 0];
            if (o->pipe_size) {
#ifdef F_SETPIPE_SZ
                if (fcntl(src, F_SETPIPE_SZ, (int)(o->pipe_size > INT_MAX ? INT_MAX : o->pipe_size)) < 0)
                    rc = -errno;
#else
                rc = -ENOTSUP;
#endif
                if (rc < 0) {
                    f->child[i] = src;
                    return asyncio__failf(rc, "create_subprocess: cannot make a pipe of %zu bytes: %s", o->pipe_size,
                                          asyncio_strerror(rc));
                }
            }
        } else if (mode == ASYNCIO_DEVNULL) {
            if (f->devnull < 0 && (f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
                return asyncio__failf(-errno, "create_subprocess: cannot open /dev/null: %s", strerror(errno));
            f->child[i] = f->devnull;
            continue;
        } else if (mode == ASYNCIO_FD)
            src = o->stdio[i].fd;
        else
            continue;
        if (src < 3) { /* a copy above 2 (close-on-exec: only the dup2 reaches the child) */
            int copy = fcntl(src, F_DUPFD_CLOEXEC, 3);
            if (copy < 0)
                return asyncio__failf(-errno, "create_subprocess: cannot use fd %d: %s", src, strerror(errno));
            if (mode == ASYNCIO_PIPE)
                close(src);
            src = copy;
        } else if (mode == ASYNCIO_FD && (src = fcntl(src, F_DUPFD_CLOEXEC, 3)) < 0)
            return asyncio__failf(-errno, "create_subprocess: cannot use fd %d: %s", o->stdio[i].fd, strerror(errno));
        f->child[i] = src;
    }
    if (f->devnull >= 0 && f->devnull < 3) {
        int copy = fcntl(f->devnull, F_DUPFD_CLOEXEC, 3);
        for (i = 0; i < 3; i++)
            if (f->child[i] == f->devnull)
                f->child[i] = copy;
        close(f->devnull);
        if ((f->devnull = copy) < 0)
            return asyncio__failf(-errno, "create_subprocess: cannot open /dev/null: %s", strerror(errno));
    }
    return 0;
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34) || defined(__FreeBSD__)
#define ASYNCIO__SPAWN_CLOSEFROM 1 /* posix_spawn_file_actions_addclosefrom_np */
#endif
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 29) || defined(__APPLE__) || defined(__FreeBSD__)
#define ASYNCIO__SPAWN_CHDIR 1 /* posix_spawn_file_actions_addchdir_np */
#endif
#if defined(POSIX_SPAWN_SETSID)
#define ASYNCIO__SPAWN_SETSID POSIX_SPAWN_SETSID
#endif

static int asyncio__spawn(const char *what, const char *path, const char *const argv[],
                          const asyncio_process_options *o, const asyncio__spawn_fds *f, int *pid)
{
    extern char **environ;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t set;
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    int i, rc = 0;
    pid_t child;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    for (i = 0; i < 3 && !rc; i++)
        if (f->child[i] >= 0)
            rc = posix_spawn_file_actions_adddup2(&fa, f->child[i], i);
        else if (o->stdio[i].mode == ASYNCIO_STDOUT)
            rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
#ifdef ASYNCIO__SPAWN_CLOSEFROM
    if (!rc)
        rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#elif defined(__APPLE__)
    flags |= POSIX_SPAWN_CLOEXEC_DEFAULT; /* and the three above are dup2'ed, so kept */
#endif
    if (!rc && o->cwd) {
#ifdef ASYNCIO__SPAWN_CHDIR
        rc = posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
#else
        rc = ENOTSUP;
#endif
    }
    sigemptyset(&set);
    posix_spawnattr_setsigmask(&attr, &set);
    sigaddset(&set, SIGPIPE);
#ifdef SIGXFSZ
    sigaddset(&set, SIGXFSZ);
#endif
    posix_spawnattr_setsigdefault(&attr, &set);
    if (o->flags & ASYNCIO_PROCESS_NEW_GROUP) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&attr, 0);
    }
    if (o->flags & ASYNCIO_PROCESS_NEW_SESSION) {
#ifdef ASYNCIO__SPAWN_SETSID
        flags |= ASYNCIO__SPAWN_SETSID;
#else
        rc = ENOTSUP;
#endif
    }
    posix_spawnattr_setflags(&attr, flags);
    if (!rc)
        rc = posix_spawn(&child, path, &fa, &attr, (char *const *)argv,
                         o->env ? (char *const *)o->env : environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc == 0) {
        *pid = (int)child;
        return 0;
    }
    return asyncio__failf(-rc, "%s: [Errno %d] %s: '%s'", what, rc, strerror(rc), argv[0]);
}

static int asyncio__process_create(asyncio_process **out, asyncio_loop *L, const char *what,
                                   const char *const argv[], const asyncio_process_options *opts)
{
    static const asyncio_process_options none;
    const asyncio_process_options *o = opts ? opts : &none;
    char path[4096];
    asyncio__spawn_fds f;
    asyncio_process *p;
    int i, rc, added = 0;
    if (!out)
        return asyncio__failf(-EINVAL, "%s: nowhere to put the process", what);
    *out = NULL;
    if (!L || !argv || !argv[0] || !argv[0][0])
        return asyncio__failf(-EINVAL, "%s: %s", what, !L ? "no loop" : "the program to run is missing or empty");
    if (L->closed)
        return asyncio__failf(ASYNCIO_ELOOPCLOSED, "%s: Event loop is closed", what);
    for (i = 0; i < 3; i++) {
        int mode = o->stdio[i].mode;
        if (mode < ASYNCIO_INHERIT || mode > ASYNCIO_FD || (mode == ASYNCIO_STDOUT && i != 2))
            return asyncio__failf(-EINVAL, "%s: %s: unknown mode %d", what,
                                  i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr", mode);
        if (mode == ASYNCIO_FD && fcntl(o->stdio[i].fd, F_GETFD) < 0)
            return asyncio__failf(-EBADF, "%s: %s: fd %d is not open", what,
                                  i == 0 ? "stdin" : i == 1 ? "stdout" : "stderr", o->stdio[i].fd);
    }
    if (o->flags & ~(ASYNCIO_PROCESS_NEW_SESSION | ASYNCIO_PROCESS_NEW_GROUP))
        return asyncio__failf(-EINVAL, "%s: unknown flags 0x%x", what, o->flags);
    if (o->cwd) { /* the child's chdir error would read as the program's */
        struct stat st;
        int err = stat(o->cwd, &st) < 0 ? errno : !S_ISDIR(st.st_mode) ? ENOTDIR : access(o->cwd, X_OK) < 0 ? errno : 0;
        if (err)
            return asyncio__failf(-err, "%s: [Errno %d] %s: '%s'", what, err, strerror(err), o->cwd);
    }
    if ((rc = asyncio__find_program(argv[0], o->env, path, sizeof path)) < 0)
        return asyncio__failf(rc, "%s: [Errno %d] %s: '%s'", what, -rc, strerror(-rc), argv[0]);
    if (!(p = (asyncio_process *)asyncio__alloc(L, sizeof *p)))
        return asyncio__failf(-ENOMEM, "%s: no memory", what);
    memset(p, 0, sizeof *p);
    p->loop = L;
    p->pidfd = -1;
    asyncio_event_init(&p->exit, L);
    for (i = 0; i < 3; i++)
        if (o->stdio[i].mode == ASYNCIO_PIPE && !(p->pipes[i] = (asyncio__pipe *)asyncio__alloc(L, sizeof *p->pipes[i]))) {
            rc = asyncio__failf(-ENOMEM, "%s: no memory", what);
            goto fail;
        }
    if ((rc = asyncio__spawn_fds_open(&f, o)) < 0) {
        asyncio__spawn_fds_close(&f, 1);
        goto fail;
    }
    for (; added < 3; added++) /* the loop's side first: nothing can fail after the child starts */
        if (f.parent[added] >= 0 && (rc = asyncio_fd_add(L, f.parent[added])) < 0)
            break;
    if (rc < 0 || (rc = asyncio__spawn(what, path, argv, o, &f, &p->pid)) < 0) {
        for (i = 0; i < added; i++)
            if (f.parent[i] >= 0) {
                asyncio_fd_close(L, f.parent[i]);
                f.parent[i] = -1;
            }
        asyncio__spawn_fds_close(&f, 1);
        goto fail;
    }
    asyncio__spawn_fds_close(&f, 0);
    for (i = 0; i < 3; i++)
        if (p->pipes[i]) {
            asyncio__stream_init(&p->pipes[i]->s, L, f.parent[i]);
            p->pipes[i]->s.on_closed = asyncio__pipe_closed;
            if (o->limit)
                asyncio_stream_set_limit(&p->pipes[i]->s, o->limit);
            p->pipes[i]->p = p;
            p->pipes[i]->which = i;
        }
    if (p->pipes[0])
        asyncio__ignore_sigpipe();
    asyncio__list_push(&L->procs, &p->node);
    if (asyncio__process_watch(p) < 0) { /* no way to hear of its exit: do not leave it running */
        kill(p->pid, SIGKILL);
        asyncio__orphan(p->pid);
        p->exited = p->released = 1;
        for (i = 0; i < 3; i++)
            if (p->pipes[i])
                asyncio_stream_abort(&p->pipes[i]->s);
        asyncio__process_free_if_done(p);
        return asyncio__failf(-EAGAIN, "%s: no way to watch the child (%d loops watch SIGCHLD already)", what,
                              ASYNCIO__SIGCHLD_LOOPS);
    }
    *out = p;
    return 0;
fail:
    for (i = 0; i < 3; i++)
        asyncio__release(L, p->pipes[i]);
    asyncio__release(L, p);
    return rc;
}

int asyncio_create_subprocess_exec(asyncio_process **out, asyncio_loop *loop, const char *const argv[],
                                   const asyncio_process_options *opts)
{
    return asyncio__process_create(out, loop, "create_subprocess_exec", argv, opts);
}

int asyncio_create_subprocess_shell(asyncio_process **out, asyncio_loop *loop, const char *cmd,
                                    const asyncio_process_options *opts)
{
    const char *argv[4];
    argv[0] = "/bin/sh";
    argv[1] = "-c";
    argv[2] = cmd;
    argv[3] = NULL;
    if (!cmd) {
        if (out)
            *out = NULL;
        return asyncio__fail(-EINVAL, "create_subprocess_shell: no command");
    }
    return asyncio__process_create(out, loop, "create_subprocess_shell", argv, opts);
}

int asyncio_process_pid(const asyncio_process *p) { return p->pid; }

int asyncio_process_returncode(const asyncio_process *p, int *code)
{
    if (p->exited && code)
        *code = p->returncode;
    return p->exited;
}

/* A pipe stream the caller closed is gone for the caller at once, while
   its close completes. */
static asyncio_stream *asyncio__process_pipe(const asyncio_process *p, int which)
{
    return p->pipes[which] && !p->pipes[which]->s.closing ? &p->pipes[which]->s : NULL;
}

asyncio_stream *asyncio_process_stdin(const asyncio_process *p) { return asyncio__process_pipe(p, 0); }
asyncio_stream *asyncio_process_stdout(const asyncio_process *p) { return asyncio__process_pipe(p, 1); }
asyncio_stream *asyncio_process_stderr(const asyncio_process *p) { return asyncio__process_pipe(p, 2); }

int asyncio_process_send_signal(asyncio_process *p, int sig)
{
    if (sig < 0 || sig >= NSIG)
        return asyncio__failf(-EINVAL, "send_signal: %d is not a signal", sig);
    if (p->exited) /* reaped: the pid may be someone else's now */
        return 0;
    if (kill(p->pid, sig) < 0)
        return errno == ESRCH ? 0 : asyncio__failf(-errno, "send_signal: %s", strerror(errno));
    return 0;
}

int asyncio_process_terminate(asyncio_process *p) { return asyncio_process_send_signal(p, SIGTERM); }
int asyncio_process_kill(asyncio_process *p) { return asyncio_process_send_signal(p, SIGKILL); }

void asyncio_process_release(asyncio_process *p)
{
    int i;
    if (!p || p->released)
        return;
    p->released = 1;
    for (i = 0; i < 3; i++)
        if (asyncio__process_pipe(p, i))
            asyncio_stream_close(&p->pipes[i]->s); /* frees it, and maybe p, once closed */
    asyncio__process_free_if_done(p);
}

/* A child with no loop left to watch it: a thread waits for it, so that
   it does not stay a zombie. */
static void *asyncio__reaper_main(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void asyncio__orphan(int pid)
{
    pthread_t th;
    pthread_attr_t attr;
    sigset_t all, old;
    sigfillset(&all);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&th, &attr, asyncio__reaper_main, (void *)(intptr_t)pid) != 0) {
        /* no thread: leave the exit status to whoever waits for children */
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

/* asyncio_loop_close's part: children still running are reported and
   handed to reaper threads; the records go with the loop's memory. */
static void asyncio__procs_close(asyncio_loop *L)
{
    asyncio__link *at;
    int running = 0;
    asyncio__sigchld_leave(L);
    for (at = L->procs.next; at != &L->procs; at = at->next) {
        asyncio_process *p = ASYNCIO__CONTAINER(at, asyncio_process, node);
        if (!p->exited && !asyncio__process_poll(p)) {
            running++;
            asyncio__orphan(p->pid);
            p->exited = 1;
        }
    }
    if (running) {
        char msg[128];
        snprintf(msg, sizeof msg, "%d child process%s still running when the loop closed: left running, reaped by a thread",
                 running, running == 1 ? "" : "es");
        L->cfg.warn(L->cfg.warn_ctx, msg);
    }
    asyncio__list_init(&L->procs);
}

/* The coroutine behind wait and communicate.  communicate runs CPython's
   three coroutines -- feed stdin and close it, read stdout, read stderr --
   as tasks, gathers them, then waits. */
enum { ASYNCIO__P_WAIT, ASYNCIO__P_COMMUNICATE };

static int asyncio__pipe_feed(asyncio_task *self, void *frame)
{
    asyncio__pipe_job *j = (asyncio__pipe_job *)frame;
    asyncio_process_op *op = j->op;
    asyncio_stream *in = asyncio_process_stdin(op->p);
    int rc = 0;
    ASYNCIO_BEGIN(self, j);
    if (op->input && op->input_len && (rc = asyncio_stream_write(in, op->input, op->input_len)) == 0) {
        ASYNCIO_AWAIT_RC(rc, asyncio_stream_drain(in));
    }
    if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET) /* communicate ignores these two, as CPython */
        ASYNCIO_RAISE(rc, NULL);
    if ((in = asyncio_process_stdin(op->p)) != NULL)
        asyncio_stream_close(in);
    ASYNCIO_END();
}

static int asyncio__pipe_drain_out(asyncio_task *self, void *frame)
{
    asyncio__pipe_job *j = (asyncio__pipe_job *)frame;
    asyncio_stream *s = j->which == 1 ? asyncio_process_stdout(j->op->p) : asyncio_process_stderr(j->op->p);
    ASYNCIO_BEGIN(self, j);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&j->rd, s, ASYNCIO_READ_ALL));
    ASYNCIO_RETURN(ASYNCIO_RESULT());
    ASYNCIO_END();
}

asyncio_process_op *asyncio_process_wait(asyncio_process_op *op, asyncio_process *p)
{
    op->p = p;
    op->kind = ASYNCIO__P_WAIT;
    return op;
}

asyncio_process_op *asyncio_process_communicate(asyncio_process_op *op, asyncio_process *p, const void *input,
                                                size_t len)
{
    op->p = p;
    op->kind = ASYNCIO__P_COMMUNICATE;
    op->input = (const char *)input;
    op->input_len = input ? len : 0;
    return op;
}

int asyncio_process_io(asyncio_task *self, void *frame)
{
    asyncio_process_op *op = (asyncio_process_op *)frame;
    asyncio_process *p = op->p;
    int rc, i;
    ASYNCIO_BEGIN(self, op);
    if (op->kind == ASYNCIO__P_COMMUNICATE) {
        op->out = op->err = NULL;
        op->out_len = op->err_len = 0;
        op->ntasks = 0;
        for (i = 0; i < 3; i++) {
            asyncio__pipe_job *j = &op->jobs[op->ntasks];
            if (!asyncio__process_pipe(p, i))
                continue;
            memset(j, 0, sizeof *j);
            j->op = op;
            j->which = i;
            if (!asyncio_task_create_at(ASYNCIO_LOOP(), &op->tasks[op->ntasks], i ? asyncio__pipe_drain_out
                                                                                     : asyncio__pipe_feed,
                                        j, i == 0 ? "communicate:stdin" : i == 1 ? "communicate:stdout"
                                                                                 : "communicate:stderr",
                                        __FILE__, __LINE__))
                break; /* the loop is closing: what started is gathered */
            op->futs[op->ntasks] = &op->tasks[op->ntasks].fut;
            op->ntasks++;
        }
        asyncio_gather(&op->gather, ASYNCIO_LOOP(), op->futs, (size_t)op->ntasks, 0);
        ASYNCIO_AWAIT_RC(rc, &op->gather.fut);
        for (i = 0; i < op->ntasks; i++) {
            asyncio_value v;
            asyncio_stream *s = op->jobs[i].which == 1 ? asyncio_process_stdout(p) : asyncio_process_stderr(p);
            if (op->jobs[i].which == 0 || asyncio_future_result(op->futs[i], &v) != 0 || !s)
                continue;
            if (op->jobs[i].which == 1) {
                op->out = asyncio_stream_data(s);
                op->out_len = (size_t)v.i;
            } else {
                op->err = asyncio_stream_data(s);
                op->err_len = (size_t)v.i;
            }
        }
        if (rc < 0)
            ASYNCIO_RAISE(rc, ASYNCIO_ERRMSG());
    }
    ASYNCIO_AWAIT_CORO(asyncio_acquire, asyncio_event_op(&op->wait, &p->exit));
    ASYNCIO_RETURN(asyncio_int(p->returncode));
    ASYNCIO_END();
}

/* >>files ----------------------------------------------------------------- */
/* Every file call is one executor job that runs to its end, in pieces of
   at most 1 MiB: a cancellation cannot detach it (asyncio_future_cancel
   refuses, so the task hears of it when the job is back) and only asks it
   to stop after the current piece.  The job counts what it moved in
   op->done as it goes. */
enum {
    ASYNCIO__FILE_OPEN, ASYNCIO__FILE_READ, ASYNCIO__FILE_WRITE, ASYNCIO__FILE_PREAD, ASYNCIO__FILE_PWRITE,
    ASYNCIO__FILE_FSYNC, ASYNCIO__FILE_CLOSE, ASYNCIO__FILE_STAT, ASYNCIO__FILE_UNLINK, ASYNCIO__FILE_RENAME,
    ASYNCIO__FILE_READ_FILE, ASYNCIO__FILE_WRITE_FILE, ASYNCIO__FILE_FSTAT, ASYNCIO__FILE_COPY,
    ASYNCIO__FILE_OPEN_SIZE /* read_file's first step */
};
#define ASYNCIO__FILE_PIECE ((size_t)1 << 20)

static asyncio_file_op *asyncio__file_setup(asyncio_file_op *op, int kind, int fd, const char *path)
{
    char *data = op->data; /* a read_file's bytes stay until freed */
    memset(op, 0, sizeof *op);
    op->data = data;
    op->kind = kind;
    op->fd = fd;
    op->path = path;
    return op;
}

asyncio_file_op *asyncio_file_open(asyncio_file_op *op, const char *path, int flags, int mode)
{
    asyncio__file_setup(op, ASYNCIO__FILE_OPEN, -1, path);
    op->flags = flags;
    op->mode = mode;
    return op;
}

static asyncio_file_op *asyncio__file_rw(asyncio_file_op *op, int kind, int fd, char *buf, const char *cbuf,
                                         size_t n, long long offset)
{
    asyncio__file_setup(op, kind, fd, NULL);
    op->buf = buf;
    op->cbuf = cbuf;
    op->len = n;
    op->offset = offset;
    return op;
}

asyncio_file_op *asyncio_file_read(asyncio_file_op *op, int fd, void *buf, size_t n)
{
    return asyncio__file_rw(op, ASYNCIO__FILE_READ, fd, (char *)buf, NULL, n, 0);
}
asyncio_file_op *asyncio_file_write(asyncio_file_op *op, int fd, const void *buf, size_t n)
{
    return asyncio__file_rw(op, ASYNCIO__FILE_WRITE, fd, NULL, (const char *)buf, n, 0);
}
asyncio_file_op *asyncio_file_pread(asyncio_file_op *op, int fd, void *buf, size_t n, long long offset)
{
    return asyncio__file_rw(op, ASYNCIO__FILE_PREAD, fd, (char *)buf, NULL, n, offset);
}
asyncio_file_op *asyncio_file_pwrite(asyncio_file_op *op, int fd, const void *buf, size_t n, long long offset)
{
    return asyncio__file_rw(op, ASYNCIO__FILE_PWRITE, fd, NULL, (const char *)buf, n, offset);
}
asyncio_file_op *asyncio_file_copy(asyncio_file_op *op, int fd_in, int fd_out, size_t n)
{
    asyncio__file_rw(op, ASYNCIO__FILE_COPY, fd_in, NULL, NULL, n, 0);
    op->fd2 = fd_out;
    return op;
}
asyncio_file_op *asyncio_file_fsync(asyncio_file_op *op, int fd)
{
    return asyncio__file_setup(op, ASYNCIO__FILE_FSYNC, fd, NULL);
}
asyncio_file_op *asyncio_file_close(asyncio_file_op *op, int fd)
{
    return asyncio__file_setup(op, ASYNCIO__FILE_CLOSE, fd, NULL);
}
asyncio_file_op *asyncio_file_stat(asyncio_file_op *op, const char *path, struct stat *st)
{
    asyncio__file_setup(op, ASYNCIO__FILE_STAT, -1, path);
    op->st = st;
    return op;
}
asyncio_file_op *asyncio_file_fstat(asyncio_file_op *op, int fd, struct stat *st)
{
    asyncio__file_setup(op, ASYNCIO__FILE_FSTAT, fd, NULL);
    op->st = st;
    return op;
}
asyncio_file_op *asyncio_file_unlink(asyncio_file_op *op, const char *path)
{
    return asyncio__file_setup(op, ASYNCIO__FILE_UNLINK, -1, path);
}
asyncio_file_op *asyncio_file_rename(asyncio_file_op *op, const char *from, const char *to)
{
    asyncio__file_setup(op, ASYNCIO__FILE_RENAME, -1, from);
    op->path2 = to;
    return op;
}
asyncio_file_op *asyncio_file_read_file(asyncio_file_op *op, const char *path)
{
    return asyncio__file_setup(op, ASYNCIO__FILE_READ_FILE, -1, path);
}
asyncio_file_op *asyncio_file_write_file(asyncio_file_op *op, const char *path, const void *data, size_t n)
{
    asyncio__file_rw(op, ASYNCIO__FILE_WRITE_FILE, -1, NULL, (const char *)data, n, 0);
    op->path = path;
    return op;
}

const char *asyncio_file_data(const asyncio_file_op *op) { return op->data; }

void asyncio_file_op_free(asyncio_file_op *op)
{
    if (op->data)
        ASYNCIO_FREE(op->loop ? op->loop->cfg.alloc_ctx : NULL, op->data);
    op->data = NULL;
}

/* Worker thread: move up to len bytes, in pieces, until done, an error,
   end of file (reads) or a stop request.  op->done counts as it goes. */
static void asyncio__file_move(asyncio_file_op *op, int fd, int kind, char *rbuf, const char *wbuf, size_t len,
                               long long offset)
{
    while (op->done < len && !ASYNCIO__LOAD(&op->work.stop)) {
        size_t piece = len - op->done < ASYNCIO__FILE_PIECE ? len - op->done : ASYNCIO__FILE_PIECE;
        ssize_t n;
        off_t at = (off_t)(offset + (long long)op->done);
        if (kind == ASYNCIO__FILE_READ)
            n = read(fd, rbuf + op->done, piece);
        else if (kind == ASYNCIO__FILE_PREAD)
            n = pread(fd, rbuf + op->done, piece, at);
        else if (kind == ASYNCIO__FILE_PWRITE)
            n = pwrite(fd, wbuf + op->done, piece, at);
        else
            n = write(fd, wbuf + op->done, piece);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            op->err = errno;
            return;
        }
        if (n == 0) { /* end of file; a write that writes nothing would spin */
            if (kind != ASYNCIO__FILE_READ && kind != ASYNCIO__FILE_PREAD)
                op->err = EIO;
            return;
        }
        op->done += (size_t)n;
    }
}

#if defined(__linux__) && defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 27) || defined(__FreeBSD__)
#define ASYNCIO__COPY_FILE_RANGE 1
#endif

/* Worker thread: copy inside the kernel while it can, else through a
   buffer of this thread's, in pieces, counting in op->done. */
static void asyncio__file_copy(asyncio_file_op *op)
{
    char *buf;
#ifdef ASYNCIO__COPY_FILE_RANGE
    while (op->done < op->len && !ASYNCIO__LOAD(&op->work.stop)) {
        size_t piece = op->len - op->done < ASYNCIO__FILE_PIECE ? op->len - op->done : ASYNCIO__FILE_PIECE;
        ssize_t n = copy_file_range(op->fd, NULL, op->fd2, NULL, piece, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && op->done == 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
            break; /* not between these two: through a buffer */
        if (n < 0) {
            op->err = errno;
            return;
        }
        if (n == 0 && op->done)
            return; /* end of file */
        if (n == 0)
            break; /* empty, or a file the kernel cannot copy (procfs): the buffer tells */
        op->done += (size_t)n;
    }
    if (op->done)
        return;
#endif
    if (!(buf = (char *)malloc(ASYNCIO__FILE_PIECE))) {
        op->err = ENOMEM;
        return;
    }
    while (op->done < op->len && !op->err && !ASYNCIO__LOAD(&op->work.stop)) {
        size_t piece = op->len - op->done < ASYNCIO__FILE_PIECE ? op->len - op->done : ASYNCIO__FILE_PIECE;
        ssize_t n = read(op->fd, buf, piece), w = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            op->err = n < 0 ? errno : 0;
            break;
        }
        while (w < n) { /* a piece read is written whole: done counts what reached fd_out */
            ssize_t m = write(op->fd2, buf + w, (size_t)(n - w));
            if (m < 0 && errno == EINTR)
                continue;
            if (m <= 0) {
                op->err = m < 0 ? errno : EIO;
                break;
            }
            w += m;
            op->done += (size_t)m;
        }
    }
    free(buf);
}

static int asyncio__file_job(void *arg, asyncio_outcome *out)
{
    asyncio_file_op *op = (asyncio_file_op *)arg;
    struct stat st;
    int fd;
    (void)out;
    switch (op->kind) {
    case ASYNCIO__FILE_OPEN:
        if ((op->fd = open(op->path, op->flags | O_CLOEXEC, op->mode)) < 0)
            op->err = errno;
        break;
    case ASYNCIO__FILE_READ:
    case ASYNCIO__FILE_WRITE:
    case ASYNCIO__FILE_PREAD:
    case ASYNCIO__FILE_PWRITE:
        asyncio__file_move(op, op->fd, op->kind, op->buf, op->cbuf, op->len, op->offset);
        break;
    case ASYNCIO__FILE_COPY:
        asyncio__file_copy(op);
        break;
    case ASYNCIO__FILE_FSYNC:
        if (fsync(op->fd) < 0)
            op->err = errno;
        break;
    case ASYNCIO__FILE_CLOSE:
        if (close(op->fd) < 0 && errno != EINTR) /* after EINTR the descriptor is gone anyway */
            op->err = errno;
        break;
    case ASYNCIO__FILE_STAT:
        if (stat(op->path, op->st) < 0)
            op->err = errno;
        break;
    case ASYNCIO__FILE_UNLINK:
        if (unlink(op->path) < 0)
            op->err = errno;
        break;
    case ASYNCIO__FILE_RENAME:
        if (rename(op->path, op->path2) < 0)
            op->err = errno;
        break;
    case ASYNCIO__FILE_FSTAT:
        if (fstat(op->fd, op->st) < 0)
            op->err = errno;
        break;
    case ASYNCIO__FILE_OPEN_SIZE: /* read_file: open, and its size */
        if ((op->fd = open(op->path, O_RDONLY | O_CLOEXEC)) < 0)
            op->err = errno;
        else if (fstat(op->fd, &st) == 0 && S_ISREG(st.st_mode))
            op->len = (size_t)st.st_size;
        else
            op->len = 0;
        break;
    case ASYNCIO__FILE_READ_FILE: /* read_file: fill data[done, len) */
        asyncio__file_move(op, op->fd, ASYNCIO__FILE_READ, op->data, NULL, op->len, 0);
        break;
    case ASYNCIO__FILE_WRITE_FILE:
        if ((fd = open(op->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) {
            op->err = errno;
            break;
        }
        asyncio__file_move(op, fd, ASYNCIO__FILE_WRITE, NULL, op->cbuf, op->len, 0);
        if (close(fd) < 0 && !op->err && errno != EINTR)
            op->err = errno;
        break;
    default:
        op->err = EINVAL;
    }
    return 0;
}

/* Python's OSError text: "[Errno 2] No such file or directory: 'x'". */
static const char *asyncio__file_msg(asyncio_file_op *op)
{
    const char *call[] = {"open", "read", "write", "pread", "pwrite", "fsync", "close",
                          "stat", "unlink", "rename", "read_file", "write_file", "fstat", "copy", "read_file"};
    if (op->path2)
        snprintf(op->msg, sizeof op->msg, "%s: [Errno %d] %s: '%s' -> '%s'", call[op->kind], op->err,
                 strerror(op->err), op->path, op->path2);
    else if (op->path)
        snprintf(op->msg, sizeof op->msg, "%s: [Errno %d] %s: '%s'", call[op->kind], op->err, strerror(op->err),
                 op->path);
    else
        snprintf(op->msg, sizeof op->msg, "%s: [Errno %d] %s (fd %d)", call[op->kind], op->err, strerror(op->err),
                 op->fd);
    return op->msg;
}

#if ASYNCIO__URING
/* 0, or -EBUSY: no submission slot. */
static int asyncio__file_ring_op(asyncio_loop *L, unsigned char opcode, int fd, const void *addr, unsigned len,
                                 unsigned long long off, asyncio_file_op *op)
{
    return asyncio__uring_op(L, opcode, fd, addr, len, off, op, ASYNCIO__URING_FILE) ? 0 : -EBUSY;
}

/* On io_uring the ring runs pread and pwrite (in the executor's pieces),
   fsync, stat and fstat (statx), close, unlink and rename: the work
   future stands for the call (its executor NULL: cancelled before the
   loop submitted it, it never runs, as a queued job; after, it runs to
   its end, or stops between pieces), counted among the jobs the loop
   waits for.  read and write at the descriptor's position stay on the
   executor: the ring does not move the position past a short write as
   write(2) does (a write cut by RLIMIT_FSIZE would write its next piece
   over the last); opens too (an open of a FIFO blocks on the kernel's own
   threads, out of reach of the cancellation the executor's job honours).
   Not 0: a call the executor runs (-EBUSY also when the ring has no
   submission slot). */
static int asyncio__file_ring_start(asyncio_loop *L, asyncio_file_op *op)
{
    size_t left = op->len - op->done, piece = left < ASYNCIO__FILE_PIECE ? left : ASYNCIO__FILE_PIECE;
    unsigned long long at = (unsigned long long)(op->offset + (long long)op->done);
    struct stat st;
    /* The ring reads offset -1 as "the position" and does not refuse a
       pipe or a socket (pread(2): EINVAL, ESPIPE); the executor keeps
       those answers, and a pread on an empty pipe cannot block out of
       reach of a cancellation. */
    if ((op->kind == ASYNCIO__FILE_PREAD || op->kind == ASYNCIO__FILE_PWRITE) && op->done == 0 &&
        (op->offset < 0 || fstat(op->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))))
        return 1;
    switch (op->kind) {
    case ASYNCIO__FILE_PREAD:
        return piece ? asyncio__file_ring_op(L, ASYNCIO__IORING_OP_READ, op->fd, op->buf + op->done, (unsigned)piece,
                                             at, op)
                     : 1;
    case ASYNCIO__FILE_PWRITE:
        return piece ? asyncio__file_ring_op(L, ASYNCIO__IORING_OP_WRITE, op->fd, op->cbuf + op->done,
                                             (unsigned)piece, at, op)
                     : 1;
    case ASYNCIO__FILE_FSYNC:
        return asyncio__file_ring_op(L, ASYNCIO__IORING_OP_FSYNC, op->fd, NULL, 0, 0, op);
    case ASYNCIO__FILE_CLOSE:
        return asyncio__file_ring_op(L, ASYNCIO__IORING_OP_CLOSE, op->fd, NULL, 0, 0, op);
    case ASYNCIO__FILE_UNLINK:
        return asyncio__file_ring_op(L, ASYNCIO__IORING_OP_UNLINKAT, AT_FDCWD, op->path, 0, 0, op);
    case ASYNCIO__FILE_RENAME:
        return asyncio__file_ring_op(L, ASYNCIO__IORING_OP_RENAMEAT, AT_FDCWD, op->path, (unsigned)AT_FDCWD,
                                     (unsigned long long)(uintptr_t)op->path2, op);
    case ASYNCIO__FILE_STAT: /* statx into msg (free until an error needs it), then into a struct stat */
    case ASYNCIO__FILE_FSTAT: {
        int of_path = op->kind == ASYNCIO__FILE_STAT;
        asyncio__uring_sqe *e;
        if (!of_path && op->fd < 0)
            return 1; /* statx would take AT_FDCWD and "" for the directory: fstat(2)'s EBADF comes from the executor */
        e = asyncio__uring_op(L, ASYNCIO__IORING_OP_STATX, of_path ? AT_FDCWD : op->fd, of_path ? op->path : "",
                              ASYNCIO__STATX_BASIC_STATS, (unsigned long long)(uintptr_t)op->msg, op,
                              ASYNCIO__URING_FILE);
        if (e) /* as stat(2) does: no automount of the last component */
            e->op_flags = AT_NO_AUTOMOUNT | (of_path ? 0 : AT_EMPTY_PATH);
        return e ? 0 : -EBUSY;
    }
    default:
        return 1;
    }
}

/* stat(2)'s answer from statx's, as glibc makes it. */
static void asyncio__stat_from_statx(struct stat *st, const char *raw)
{
    asyncio__statx x;
    memcpy(&x, raw, sizeof x); /* msg is a char array: no alignment promised */
    memset(st, 0, sizeof *st);
    st->st_dev = makedev(x.dev_major, x.dev_minor);
    st->st_ino = (ino_t)x.ino;
    st->st_mode = (mode_t)x.mode;
    st->st_nlink = (nlink_t)x.nlink;
    st->st_uid = (uid_t)x.uid;
    st->st_gid = (gid_t)x.gid;
    st->st_rdev = makedev(x.rdev_major, x.rdev_minor);
    st->st_size = (off_t)x.size;
    st->st_blksize = (blksize_t)x.blksize;
    st->st_blocks = (blkcnt_t)x.blocks;
    st->st_atim.tv_sec = (time_t)x.atime.sec;
    st->st_atim.tv_nsec = (long)x.atime.nsec;
    st->st_mtim.tv_sec = (time_t)x.mtime.sec;
    st->st_mtim.tv_nsec = (long)x.mtime.nsec;
    st->st_ctim.tv_sec = (time_t)x.ctime.sec;
    st->st_ctim.tv_nsec = (long)x.ctime.nsec;
}

/* A call or a piece is back (res: the system call's return, or -errno):
   the next piece, or the end, by asyncio__file_move's rules (end of file
   ends a read; a write that writes nothing fails with EIO); close keeps
   asyncio__file_job's: after EINTR the descriptor is gone. */
static void asyncio__file_ring_done(asyncio_loop *L, asyncio_file_op *op, int res)
{
    int rw = op->kind == ASYNCIO__FILE_PREAD || op->kind == ASYNCIO__FILE_PWRITE, rc;
    if (rw && (res > 0 || res == -EINTR)) {
        op->done += res > 0 ? (size_t)res : 0;
        if (op->done < op->len && !op->work.stop) {
            if ((rc = asyncio__file_ring_start(L, op)) == 0)
                return;
            op->err = -rc; /* no submission slot for the next piece: EBUSY, done says how far it got */
        }
    } else if (rw && res == 0 && op->kind == ASYNCIO__FILE_PWRITE)
        op->err = EIO;
    else if (res == 0 && (op->kind == ASYNCIO__FILE_STAT || op->kind == ASYNCIO__FILE_FSTAT))
        asyncio__stat_from_statx(op->st, op->msg);
    else if (res < 0 && !(res == -EINTR && op->kind == ASYNCIO__FILE_CLOSE))
        op->err = -res;
    ASYNCIO__ADD(&L->xjobs, -1);
    L->m_jobs_done++;
    op->work.fut.u.value = asyncio_int(0);
    asyncio__complete(&op->work.fut, ASYNCIO__S_DONE, 0);
}
#endif

/* Start the job for op's current kind; the future to await. */
static asyncio_future *asyncio__file_start(asyncio_loop *L, asyncio_file_op *op)
{
    op->err = 0;
    op->work.stop = 0;
#if ASYNCIO__URING
    if (L->backend_buf && !L->closed && asyncio__file_ring_start(L, op) == 0) { /* else the executor */
        asyncio__future_setup(&op->work.fut, L, ASYNCIO__K_WORK);
        op->work.ex = NULL;
        op->work.fut.state |= ASYNCIO__F_TO_END;
        ASYNCIO__ADD(&L->xjobs, 1);
        L->m_jobs++;
        return &op->work.fut;
    }
#endif
    asyncio_run_in_executor(L, NULL, &op->work, asyncio__file_job, op, NULL);
    op->work.fut.state |= ASYNCIO__F_TO_END;
    return &op->work.fut;
}

int asyncio_file_io(asyncio_task *self, void *frame)
{
    asyncio_file_op *op = (asyncio_file_op *)frame;
    int rc;
    ASYNCIO_BEGIN(self, op);
    op->loop = ASYNCIO_LOOP();
    if (op->kind == ASYNCIO__FILE_READ_FILE) {
        asyncio_file_op_free(op);
        op->kind = ASYNCIO__FILE_OPEN_SIZE;
    }
    ASYNCIO_AWAIT_RC(rc, asyncio__file_start(ASYNCIO_LOOP(), op));
    if (asyncio_future_result(&op->work.fut, NULL) != 0) /* never started: cancelled, no memory, ... */
        ASYNCIO_RAISE(op->work.fut.x.err, op->work.fut.u.msg);
    if (op->kind == ASYNCIO__FILE_OPEN_SIZE) {
        if (rc == 0 && !op->err) { /* read_file: the bytes, and more if the file grew */
            op->kind = ASYNCIO__FILE_READ_FILE;
            op->len++; /* room for a byte past the size: end of file seen */
            for (;;) {
                char *grown = (char *)ASYNCIO_REALLOC(op->loop->cfg.alloc_ctx, op->data, op->len + 1);
                if (!grown) {
                    op->err = ENOMEM;
                    break;
                }
                op->data = grown;
                ASYNCIO_AWAIT_RC(rc, asyncio__file_start(ASYNCIO_LOOP(), op));
                op->data[op->done] = '\0';
                if (rc != 0 || op->err || op->done < op->len)
                    break;
                op->len *= 2;
            }
        }
        if (op->fd >= 0)
            close(op->fd); /* a regular file's close does not block */
        op->fd = -1;
        op->kind = ASYNCIO__FILE_READ_FILE;
    } else if (op->kind == ASYNCIO__FILE_OPEN && rc != 0 && !op->err) {
        close(op->fd); /* cancelled: the file it opened is not left open */
        op->fd = -1;
    }
    if (op->err)
        ASYNCIO_RAISE(-op->err, asyncio__file_msg(op));
    if (rc != 0)
        ASYNCIO_RAISE(rc, NULL);
    switch (op->kind) {
    case ASYNCIO__FILE_OPEN:
        ASYNCIO_RETURN(asyncio_int(op->fd));
    case ASYNCIO__FILE_READ:
    case ASYNCIO__FILE_WRITE:
    case ASYNCIO__FILE_PREAD:
    case ASYNCIO__FILE_PWRITE:
    case ASYNCIO__FILE_READ_FILE:
    case ASYNCIO__FILE_WRITE_FILE:
    case ASYNCIO__FILE_COPY:
        ASYNCIO_RETURN(asyncio_int((long long)op->done));
    default:
        ASYNCIO_RETURN(asyncio_int(0));
    }
    ASYNCIO_END();
}

/* >>debug ----------------------------------------------------------------- */
/* A failed task's error waits in `unseen` (task -> a copy of what the
   warning needs) until something reads it; whatever is left when the
   task is freed, its storage reused or the loop closed is reported --
   Python's "Task exception was never retrieved", which it logs when the
   garbage collector frees the task. */
typedef struct asyncio__unseen {
    const char *name, *file, *msg;
    int line, err;
} asyncio__unseen;

/* In place of a record: the task's error is read as soon as it has one. */
static const char asyncio__read_ahead = 0;

/* Someone read f's outcome: a task's error is retrieved. */
static void asyncio__seen(const asyncio_future *f)
{
    asyncio_loop *L = f->loop;
    const void *u;
    if (f->kind != ASYNCIO__K_TASK || !L->unseen.n || !(u = asyncio__pmap_get(&L->unseen, f)) ||
        u == &asyncio__read_ahead)
        return;
    asyncio__pmap_put(L, &L->unseen, f, NULL);
    asyncio__release(L, (void *)(uintptr_t)u);
}

/* f's error is read now if it is done, else as soon as it has one. */
static void asyncio__seen_ahead(const asyncio_future *f)
{
    if (asyncio__state(f) != ASYNCIO__S_PENDING)
        asyncio__seen(f);
    else if (f->kind == ASYNCIO__K_TASK)
        asyncio__pmap_put(f->loop, &f->loop->unseen, f, &asyncio__read_ahead);
}

/* t finished with rc: keep its error for the warning, unless it is
   read ahead. */
static void asyncio__unseen_finish(asyncio_loop *L, asyncio_task *t, int rc)
{
    asyncio__unseen *u;
    if (L->unseen.n && asyncio__pmap_get(&L->unseen, t) == &asyncio__read_ahead) {
        asyncio__pmap_put(L, &L->unseen, t, NULL);
        return;
    }
    if (rc >= 0 || rc == ASYNCIO_ECANCELLED)
        return;
    if (!(u = (asyncio__unseen *)asyncio__alloc(L, sizeof *u)))
        return; /* no memory: no warning, nothing else lost */
    u->name = asyncio_task_name(t);
    u->msg = t->fut.u.msg;
    u->err = rc;
#if ASYNCIO_DEBUG
    u->file = t->file;
    u->line = t->line;
#else
    u->file = NULL;
    u->line = 0;
#endif
    asyncio__pmap_put(L, &L->unseen, t, u);
}

static void asyncio__unseen_report(asyncio_loop *L, const void *task)
{
    const void *entry = L->unseen.n ? asyncio__pmap_get(&L->unseen, task) : NULL;
    const asyncio__unseen *u = (const asyncio__unseen *)entry;
    char msg[512];
    if (!entry)
        return;
    if (entry == &asyncio__read_ahead) { /* still pending at close */
        asyncio__pmap_put(L, &L->unseen, task, NULL);
        return;
    }
    snprintf(msg, sizeof msg, "Task exception was never retrieved: task '%s'", u->name);
    if (u->file)
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (created at %s:%d)", u->file, u->line);
    snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " failed with %s: %s", asyncio_err_name(u->err),
             u->msg ? u->msg : asyncio_strerror(u->err));
    L->cfg.warn(L->cfg.warn_ctx, msg);
    asyncio__pmap_put(L, &L->unseen, task, NULL);
    asyncio__release(L, (void *)(uintptr_t)u);
}

static void asyncio__unseen_close(asyncio_loop *L)
{
    size_t i;
    for (i = 0; L->unseen.n && i < L->unseen.cap; i++)
        if (L->unseen.e[i].key) {
            asyncio__unseen_report(L, L->unseen.e[i].key);
            i = (size_t)-1; /* the report reshuffled the map: from the start */
        }
    ASYNCIO_FREE(L->cfg.alloc_ctx, L->unseen.e);
    memset(&L->unseen, 0, sizeof L->unseen);
}

/* The line a frame is suspended at: its resume point (the switch
   flavour's key is the line), or the one debug builds record. */
static int asyncio__frame_line(const asyncio_coro *co)
{
#if ASYNCIO_DEBUG
    return co->lc ? co->line : 0;
#elif !ASYNCIO_LABELS
    return co->lc > 0 ? (int)co->lc : 0;
#else
    (void)co;
    return 0;
#endif
}

/* A step or callback that ran longer than cfg.slow_callback_duration
   (real time, also on the virtual clock). */
static void asyncio__slow(asyncio_loop *L, long long dt, const asyncio_task *t, int resumed_at, int rc)
{
    char msg[400];
    if (dt > L->worst_step_ns)
        L->worst_step_ns = dt;
    if (dt < L->slow_ns)
        return;
    if (!t) {
        snprintf(msg, sizeof msg, "Executing a callback took %.3f seconds", (double)dt / 1e9);
    } else {
        const asyncio_coro *co = (const asyncio_coro *)t->frame;
        snprintf(msg, sizeof msg, "Executing task '%s' took %.3f seconds (", asyncio_task_name(t), (double)dt / 1e9);
        if (resumed_at)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "resumed at line %d, ", resumed_at);
        else
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "from its start, ");
        if (rc == ASYNCIO_PENDING)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "suspended at line %d", asyncio__frame_line(co));
        else
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "then finished");
#if ASYNCIO_DEBUG
        if (co->site)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " of %s in %s", co->site->func, co->site->file);
#endif
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), ")");
    }
    L->cfg.warn(L->cfg.warn_ctx, msg);
}

/* ---- task info and the await tree ---- */
static const char *const asyncio__wait_names[] = {
    "nothing (ready)", "a future", "a task", "a gather", "asyncio.wait", "a shield", "an executor job", "sleep",
    "a file descriptor", "a lock", "an event", "a condition", "a semaphore", "queue get", "queue put",
    "queue join", "a TaskGroup's tasks"};

const char *asyncio_wait_kind_name(asyncio_wait_kind kind)
{
    return (unsigned)kind < sizeof asyncio__wait_names / sizeof asyncio__wait_names[0] ? asyncio__wait_names[kind]
                                                                                       : "unknown";
}

int asyncio_task_get_info(const asyncio_task *t, asyncio_task_info *info)
{
    const asyncio_future *f;
    const asyncio_coro *co;
    asyncio_loop *L;
    if (!t || !info)
        return asyncio__fail(-EINVAL, "task_get_info: no task or nowhere to put the info");
    memset(info, 0, sizeof *info);
    if (asyncio__state(&t->fut) != ASYNCIO__S_PENDING)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "task_get_info: the task is done");
    f = &t->fut;
    L = f->loop;
    info->task = t;
    info->name = asyncio_task_name(t);
    info->fd = -1;
#if ASYNCIO_DEBUG
    info->created_file = t->file;
    info->created_line = t->line;
#endif
    for (co = (const asyncio_coro *)t->frame; co && info->nframes < ASYNCIO_MAX_FRAMES;
         co = asyncio__child_get(L, co)) {
        asyncio_frame_info *fr = &info->frames[info->nframes++];
        fr->line = asyncio__frame_line(co);
#if ASYNCIO_DEBUG
        if (co->site) {
            fr->func = co->site->func;
            fr->file = co->site->file;
        }
#endif
        if (!co->child)
            break;
    }
    if (f->state & ASYNCIO__F_AWAITING) {
        const asyncio_future *a = f->u.awaits;
        static const asyncio_wait_kind by_kind[] = {ASYNCIO_WAITS_FUTURE, ASYNCIO_WAITS_TASK, ASYNCIO_WAITS_FUTURE,
                                                    ASYNCIO_WAITS_GATHER, ASYNCIO_WAITS_WAIT, ASYNCIO_WAITS_FUTURE,
                                                    ASYNCIO_WAITS_SHIELD, ASYNCIO_WAITS_JOB};
        info->future = a;
        info->waits = a->kind < sizeof by_kind / sizeof by_kind[0] ? by_kind[a->kind] : ASYNCIO_WAITS_FUTURE;
        if (a->kind == ASYNCIO__K_TASK)
            info->awaited_task = (const asyncio_task *)a;
    } else if ((f->state & ASYNCIO__F_INSLOT) && ASYNCIO__IS_PARKED(f->u.value.i))
        info->waits = (asyncio_wait_kind)(ASYNCIO__PARKED_ON(0) - f->u.value.i);
    else if (f->state & ASYNCIO__F_INSLOT) {
        unsigned long long v = (unsigned long long)f->u.value.i;
        const asyncio__fd *e = asyncio__fd_get(L, (int)(v & 0xffffffffu));
        info->waits = ASYNCIO_WAITS_FD;
        info->fd = (int)(v & 0xffffffffu);
        if (e)
            info->events = (e->waiter[0] == f ? ASYNCIO_READABLE : 0) | (e->waiter[1] == f ? ASYNCIO_WRITABLE : 0);
    } else if ((f->state & (ASYNCIO__F_TIMER | ASYNCIO__F_LINKED)) == (ASYNCIO__F_TIMER | ASYNCIO__F_LINKED) &&
               asyncio__state(f) == ASYNCIO__S_PENDING && f->u.value.i > 0) {
        info->waits = ASYNCIO_WAITS_SLEEP;
        info->until = (double)f->u.value.i / 1e9;
    }
    return 0;
}

/* The tree's writer: lines gathered in a buffer and written with
   write(2), never stdio. */
typedef struct asyncio__tree {
    asyncio_loop *loop;
    int fd, err;
    size_t used;
    unsigned char *mark;      /* per registry slot: 0, 1 being written (a cycle if met again), 2 written */
    unsigned char *awaited;   /* per slot: a pending task awaits it (so it is no root) */
    int marking;              /* the first pass: only fill awaited */
    unsigned *tg_first, *tg_next; /* per slot: the TaskGroup children of a task (slot + 1; 0 ends) */
    char buf[8192];
} asyncio__tree;

static void asyncio__tree_flush(asyncio__tree *w)
{
    size_t done = 0;
    while (!w->err && done < w->used) {
        ssize_t r = write(w->fd, w->buf + done, w->used - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            w->err = r < 0 ? -errno : -EIO;
        else
            done += (size_t)r;
    }
    w->used = 0;
}

static void asyncio__tree_put(asyncio__tree *w, int depth, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    size_t n = 0;
    int k;
    for (k = 0; k < depth && n + 2 < 200; k++) {
        line[n++] = ' ';
        line[n++] = ' ';
    }
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    n = strlen(line);
    line[n++] = '\n';
    if (w->used + n > sizeof w->buf)
        asyncio__tree_flush(w);
    memcpy(w->buf + w->used, line, n);
    w->used += n;
}

/* The TaskGroup a task is a child of, if any: its waiter is the group's
   hook (alone, or in a vector). */
static const asyncio_taskgroup *asyncio__tree_group_of(const asyncio_task *t)
{
    uintptr_t w = t->fut.waiters;
    size_t i, n = 1;
    const uintptr_t *e = &w;
    if ((w & 3) == ASYNCIO__W_VEC) {
        const asyncio__wvec *v = (const asyncio__wvec *)(w & ~(uintptr_t)3);
        e = v->e;
        n = v->n;
    }
    for (i = 0; i < n; i++)
        if ((e[i] & 3) == ASYNCIO__W_HOOK &&
            ((const asyncio__waiter *)(e[i] & ~(uintptr_t)3))->fn == asyncio__taskgroup_child_done)
            return ASYNCIO__CONTAINER((const asyncio__waiter *)(e[i] & ~(uintptr_t)3), asyncio_taskgroup, hook);
    return NULL;
}

static size_t asyncio__tree_node(asyncio__tree *w, const asyncio_task *t, int depth);

static size_t asyncio__tree_child(asyncio__tree *w, const asyncio_future *c, int depth)
{
    if (c->kind != ASYNCIO__K_TASK || asyncio__state(c) != ASYNCIO__S_PENDING)
        return 0;
    if (w->marking) {
        w->awaited[c->x.reg] = 1;
        return 0;
    }
    return asyncio__tree_node(w, (const asyncio_task *)c, depth);
}

/* The tasks t awaits: directly, through a gather, a wait, a shield, or a
   TaskGroup of its own. */
static size_t asyncio__tree_awaited(asyncio__tree *w, const asyncio_task_info *in, int depth)
{
    const asyncio_future *a = in->future;
    size_t i, count = 0;
    unsigned c;
    switch (in->waits) {
    case ASYNCIO_WAITS_TASK:
        return asyncio__tree_child(w, a, depth);
    case ASYNCIO_WAITS_GATHER:
        for (i = 0; i < ((const asyncio_gather_t *)a)->n; i++)
            count += asyncio__tree_child(w, asyncio_gather_child((const asyncio_gather_t *)a, i), depth);
        return count;
    case ASYNCIO_WAITS_WAIT:
        for (i = 0; i < ((const asyncio_wait_t *)a)->n; i++)
            count += asyncio__tree_child(w, ((const asyncio_wait_t *)a)->futs[i], depth);
        return count;
    case ASYNCIO_WAITS_SHIELD:
        return asyncio__tree_child(w, ((const asyncio_shield_t *)a)->inner, depth);
    default:
        for (c = w->tg_first[in->task->fut.x.reg]; c; c = w->tg_next[c - 1])
            count += asyncio__tree_child(w, &w->loop->tasks[c - 1]->fut, depth);
        return count;
    }
}

static size_t asyncio__tree_node(asyncio__tree *w, const asyncio_task *t, int depth)
{
    asyncio_task_info in;
    unsigned reg = t->fut.x.reg;
    int i;
    if (asyncio_task_get_info(t, &in) < 0)
        return 0;
    if (w->mark[reg]) {
        asyncio__tree_put(w, depth, "Task '%s'  %s", in.name,
                          w->mark[reg] == 1 ? "<- a cycle: it awaits a task that awaits it" : "(shown above)");
        return 0;
    }
    w->mark[reg] = 1;
    if (in.created_file)
        asyncio__tree_put(w, depth, "Task '%s'  (created at %s:%d)", in.name, in.created_file, in.created_line);
    else
        asyncio__tree_put(w, depth, "Task '%s'", in.name);
    for (i = 0; i < in.nframes; i++) {
        const asyncio_frame_info *fr = &in.frames[i];
        if (fr->func)
            asyncio__tree_put(w, depth + 1 + i, "%s  %s:%d", fr->func, fr->file, fr->line);
        else if (fr->line)
            asyncio__tree_put(w, depth + 1 + i, "line %d", fr->line);
        else
            asyncio__tree_put(w, depth + 1 + i, "%s", ((const asyncio_coro *)t->frame)->lc ? "(line not recorded)"
                                                                                          : "(not started)");
    }
    depth += 1 + in.nframes;
    switch (in.waits) {
    case ASYNCIO_WAITS_SLEEP:
        asyncio__tree_put(w, depth, "waits: sleep until %.6f (in %.6f s)", in.until, in.until - asyncio_loop_time(w->loop));
        break;
    case ASYNCIO_WAITS_FD:
        asyncio__tree_put(w, depth, "waits: fd %d %s", in.fd,
                          in.events == ASYNCIO_WRITABLE ? "writable" : in.events == ASYNCIO_READABLE ? "readable"
                                                                                                    : "ready");
        break;
    case ASYNCIO_WAITS_GATHER:
        asyncio__tree_put(w, depth, "waits: a gather of %zu", ((const asyncio_gather_t *)in.future)->n);
        break;
    case ASYNCIO_WAITS_NOTHING:
        asyncio__tree_put(w, depth, "%s", t == w->loop->current ? "running (it prints this)" : "ready to run");
        break;
    default:
        asyncio__tree_put(w, depth, "waits: %s", asyncio_wait_kind_name(in.waits));
    }
    i = (int)asyncio__tree_awaited(w, &in, depth + 1);
    w->mark[reg] = 2;
    return 1 + (size_t)i;
}

int asyncio_print_await_tree(asyncio_loop *loop, int fd)
{
    asyncio__tree *w;
    size_t i, n, written = 0;
    int rc;
    if (!loop || fd < 0)
        return asyncio__fail(-EINVAL, "print_await_tree: no loop or a bad fd");
    if (loop->closed)
        return asyncio__fail(ASYNCIO_ELOOPCLOSED, "print_await_tree: Event loop is closed");
    if (loop->in_run && loop->thread != (const void *)&asyncio__running)
        return asyncio__fail(ASYNCIO_EINVALIDSTATE, "print_await_tree: the loop runs on another thread");
    n = loop->ntasks;
    if (!(w = (asyncio__tree *)ASYNCIO_REALLOC(loop->cfg.alloc_ctx, NULL,
                                               sizeof *w + n * (2 + 2 * sizeof(unsigned)) + 1)))
        return asyncio__fail(-ENOMEM, "print_await_tree: no memory");
    w->loop = loop;
    w->fd = fd;
    w->err = 0;
    w->used = 0;
    w->tg_first = (unsigned *)(void *)(w + 1);
    w->tg_next = w->tg_first + n;
    w->mark = (unsigned char *)(w->tg_next + n);
    w->awaited = w->mark + n;
    memset(w->tg_first, 0, n * (2 + 2 * sizeof(unsigned)));
    /* the TaskGroup children of each task, in creation order (prepended
       from the last) */
    for (i = n; i-- > 0;) {
        const asyncio_task *t = loop->tasks[i];
        const asyncio_taskgroup *tg = t ? asyncio__tree_group_of(t) : NULL;
        if (tg && tg->parent->fut.loop == loop && asyncio__state(&tg->parent->fut) == ASYNCIO__S_PENDING) {
            unsigned p = tg->parent->fut.x.reg;
            w->tg_next[i] = w->tg_first[p];
            w->tg_first[p] = (unsigned)i + 1;
        }
    }
    /* roots: the tasks no task awaits, in creation order; then what a
       cycle of awaits kept out of reach */
    w->marking = 1;
    for (i = 0; i < n; i++) {
        asyncio_task_info in;
        if (loop->tasks[i] && asyncio_task_get_info(loop->tasks[i], &in) == 0)
            asyncio__tree_awaited(w, &in, 0);
    }
    w->marking = 0;
    for (i = 0; i < n && !w->err; i++)
        if (loop->tasks[i] && !w->mark[i] && !w->awaited[i])
            written += asyncio__tree_node(w, loop->tasks[i], 0);
    for (i = 0; i < n && !w->err; i++)
        if (loop->tasks[i] && !w->mark[i])
            written += asyncio__tree_node(w, loop->tasks[i], 0);
    asyncio__tree_flush(w);
    rc = w->err ? asyncio__failf(w->err, "print_await_tree: cannot write: %s", asyncio_strerror(w->err)) : (int)written;
    ASYNCIO_FREE(loop->cfg.alloc_ctx, w);
    return rc;
}

void asyncio_loop_metrics(const asyncio_loop *loop, asyncio_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->iterations = loop->m_iterations;
    m->steps = loop->m_steps;
    m->callbacks = loop->m_callbacks;
    m->tasks_created = loop->m_created;
    m->tasks_finished = loop->m_finished;
    m->jobs_submitted = loop->m_jobs;
    m->jobs_done = loop->m_jobs_done;
    m->idle_ns = loop->m_idle_ns;
    m->worst_step_ns = loop->worst_step_ns;
    m->tasks_pending = (size_t)(loop->m_created - loop->m_finished);
    m->fds_waited = loop->nfdwait;
#if ASYNCIO__URING
    m->recv_pool_dry = loop->backend_buf ? asyncio__ring(loop)->pool_dry : 0;
#endif
    m->timer_groups = loop->nheap;
}

/* >>loop ------------------------------------------------------------------ */
static void asyncio__warn_stderr(void *ctx, const char *message)
{
    (void)ctx;
    fprintf(stderr, "asyncio.h: %s\n", message);
}

int asyncio_loop_init(asyncio_loop *loop, const asyncio_config *cfg)
{
    int rc;
    ASYNCIO_ASSERT(loop != NULL);
    memset(loop, 0, sizeof *loop);
    if (cfg)
        loop->cfg = *cfg;
    if (loop->cfg.timer_resolution_ns <= 0)
        loop->cfg.timer_resolution_ns = 16000;
    if (loop->cfg.slow_callback_duration > 0)
        loop->slow_ns = asyncio__timeout_ns(loop->cfg.slow_callback_duration);
    else if (loop->cfg.slow_callback_duration == 0 && ASYNCIO_DEBUG)
        loop->slow_ns = 100000000; /* Python's debug mode: 100 ms */
    if (!loop->cfg.warn)
        loop->cfg.warn = asyncio__warn_stderr;
    if (loop->cfg.virtual_clock == 0) {
        const char *env = getenv("ASYNCIO_VIRTUAL_CLOCK");
        loop->is_virtual = env && *env && strcmp(env, "0") != 0;
    } else
        loop->is_virtual = loop->cfg.virtual_clock > 0;
    asyncio__list_init(&loop->ready);
    asyncio__list_init(&loop->running);
    asyncio__list_init(&loop->procs);
    loop->fired = (struct asyncio__fired *)ASYNCIO_REALLOC(loop->cfg.alloc_ctx, NULL,
                                                           ASYNCIO__MAXEVENTS * sizeof *loop->fired);
    loop->xq = ASYNCIO__X_CLOSED; /* until it is ready: other threads are refused */
    loop->closed = 1;
    if (!loop->fired)
        return asyncio__fail(-ENOMEM, "loop_init: no memory");
    if ((rc = asyncio__backend_init(loop)) < 0) {
        ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->fired);
        return asyncio__failf(rc, "loop_init: cannot create the %s backend: %s", asyncio_backend_name(),
                              asyncio_strerror(rc));
    }
    loop->xq = 0;
    loop->closed = 0;
    return 0;
}

/* Is there anything that could still make progress? */
static int asyncio__has_timers(const asyncio_loop *L)
{
    return L->nheap && L->heap[0]->when != ASYNCIO__NEVER;
}

static void asyncio__dispatch(asyncio_loop *L, asyncio_future *f)
{
    if (f->kind == ASYNCIO__K_HANDLE)
        asyncio__handle_run(L, (asyncio_handle *)f);
    else if (f->kind == ASYNCIO__K_TASK && asyncio__state(f) == ASYNCIO__S_PENDING)
        asyncio__task_step(L, (asyncio_task *)f);
    else
        asyncio__run_waiters(f);
}

/* One iteration, CPython's: wait (in the backend) for the first timer
   unless something is ready, move due timers to the ready queue, then run
   what was ready when the iteration began.  Returns 0 or ESTALLED. */
static int asyncio__run_once(asyncio_loop *L)
{
    long long timeout = -1, wait, now = 0;
    int rc, only = ASYNCIO__SLEEP_ANY;
    L->m_iterations++;
    if (ASYNCIO__XHEAD(__atomic_load_n(&L->xq, __ATOMIC_RELAXED))) /* a peek: the drain synchronises */
        asyncio__xdrain(L);
    if (L->sigchld_slot && ASYNCIO__LOAD(&L->xchld))
        asyncio__sigchld_reap(L);
    if (!asyncio__list_empty(&L->ready) || L->stopping)
        timeout = 0;
    else if (asyncio__has_timers(L)) {
        timeout = L->heap[0]->when - asyncio__now(L);
        if (timeout < 0)
            timeout = 0;
        else if (!L->is_virtual)
            /* Sleep a little past the first deadline so the groups due
               just after it fire in the same wake-up: the OS adds about
               as much slack anyway, and each wake-up costs ~20 us. */
            timeout += L->cfg.timer_resolution_ns;
    } else if (!L->nfdwait && !L->nchildren && !asyncio__backend_sending(L)) {
        if (!asyncio__xalive(L))
            return ASYNCIO_ESTALLED;
        only = ASYNCIO__SLEEP_THREADS;
    }
    /* Poll the backend when someone waits on an fd, or to sleep until the
       next timer (a zero timeout with no fd waiters needs no system call).
       On the virtual clock, time jumps to the deadline instead of passing,
       once the fds have had their say -- and once the executor's jobs are
       back: work on other threads takes no virtual time.  While tasks are
       ready, the poll may be left out until cfg.busy_poll_ns have passed
       since the last one (asyncio__busy_poll_due). */
    if (L->is_virtual && timeout != 0 && ASYNCIO__LOAD(&L->xjobs) > 0)
        only = ASYNCIO__SLEEP_JOBS;
    wait = only == ASYNCIO__SLEEP_JOBS ? -1 : L->is_virtual && timeout > 0 ? 0 : timeout;
    if ((L->nfdwait || L->nchildren || wait != 0 || asyncio__backend_pending(L)) &&
        (wait != 0 || L->stopping || asyncio__list_empty(&L->ready) || asyncio__busy_poll_due(L, &now))) {
        int slept = wait != 0;
        long long t0 = 0;
        if (slept && !asyncio__xsleep(L, only))
            wait = 0;
        if (wait != 0) /* idle time is measured where the loop sleeps: a clock read per sleep */
            t0 = asyncio__monotonic_ns();
        rc = asyncio__backend_poll(L, wait);
        if (wait != 0)
            L->m_idle_ns += (now = asyncio__monotonic_ns()) - t0;
        if (slept)
            asyncio__xstate(L, ASYNCIO__X_RUNNING);
        if (L->cfg.busy_poll_ns > 0 && !L->is_virtual && !ASYNCIO__POLL_IS_FREE(L))
            L->polled_at = wait != 0 ? now : asyncio__monotonic_ns(); /* when the poll ended */
        now = 0;
        if (rc < 0)
            return rc;
        /* news (an fd's event, a completion that made work ready): no jump */
        if (L->is_virtual && timeout > 0 && (rc > 0 || L->nfired || only == ASYNCIO__SLEEP_JOBS))
            timeout = 0;
        asyncio__fd_dispatch(L);
        if (ASYNCIO__XHEAD(__atomic_load_n(&L->xq, __ATOMIC_RELAXED))) /* as above: no atomic exchange for nothing */
            asyncio__xdrain(L);
        if (L->sigchld_slot && ASYNCIO__LOAD(&L->xchld))
            asyncio__sigchld_reap(L);
    }
    if (L->is_virtual && timeout > 0)
        L->now += timeout;
    if (L->nheap) /* a poll left out: the time read for it is fresh */
        asyncio__fire_timers(L, now ? (L->now = now) : asyncio__now(L));
    asyncio__list_splice(&L->running, &L->ready);
    while (!asyncio__list_empty(&L->running)) {
        asyncio_future *f = (asyncio_future *)(void *)L->running.next;
        int woken = (f->state & ASYNCIO__F_TIMER) && f->kind == ASYNCIO__K_TASK;
        asyncio__unlink(L, f);
        if (woken) /* CPython: the timer completes the sleep; the step is queued behind it */
            asyncio__enqueue(L, f);
        else
            asyncio__dispatch(L, f);
    }
    return 0;
}

/* run_until_complete stops the way CPython's does: a done-callback on the
   future stops the loop, so it ends after the iteration that runs it. */
static void asyncio__stop_hook(asyncio__waiter *hook, asyncio_future *done)
{
    (void)hook;
    asyncio_loop_stop(done->loop);
}

static int asyncio__run(asyncio_loop *L, asyncio_future *until)
{
    asyncio__waiter stop = {asyncio__stop_hook};
    asyncio_loop *outer = asyncio__running;
    int rc = 0;
    if (L->closed)
        return asyncio__fail(ASYNCIO_ELOOPCLOSED, "Event loop is closed");
    if (L->in_run)
        return asyncio__fail(ASYNCIO_ELOOPRUNNING, "This event loop is already running");
    if (until && (rc = asyncio__add_waiter(until, (uintptr_t)&stop | ASYNCIO__W_HOOK)) < 0)
        return asyncio__fail(rc, "run_until_complete: no memory");
    L->in_run = 1;
    L->thread = &asyncio__running;
    asyncio__running = L;
    L->stopping = 0;
    while (!L->stopping && (rc = asyncio__run_once(L)) == 0)
        ;
    if (until)
        asyncio__remove_waiter(until, (uintptr_t)&stop | ASYNCIO__W_HOOK);
    asyncio__running = outer;
    L->in_run = 0;
    L->stopping = 0;
    return rc;
}

int asyncio_loop_run_until_complete(asyncio_loop *loop, asyncio_future *fut)
{
    int rc;
    ASYNCIO__CHECK(fut);
    if ((rc = asyncio__run(loop, fut)) < 0)
        return rc;
    if (asyncio__state(fut) == ASYNCIO__S_PENDING)
        return asyncio__fail(ASYNCIO_ESTALLED, "Event loop stopped before Future completed.");
    rc = asyncio_future_error(fut);
    return rc ? asyncio__fail(rc, asyncio_future_errmsg(fut)) : 0;
}

int asyncio_loop_run_forever(asyncio_loop *loop)
{
    int rc = asyncio__run(loop, NULL);
    return rc == ASYNCIO_ESTALLED ? 0 : rc;
}

void asyncio_loop_stop(asyncio_loop *loop) { loop->stopping = 1; }

static void asyncio__report_pending(asyncio_loop *L, asyncio_task *t)
{
    char msg[512];
    asyncio_task_info in;
    if (!((asyncio_coro *)t->frame)->lc)
        snprintf(msg, sizeof msg, "RuntimeWarning: coroutine '%s' was never awaited", asyncio_task_name(t));
    else
        snprintf(msg, sizeof msg, "Task was destroyed but it is pending! (task '%s')", asyncio_task_name(t));
#if ASYNCIO_DEBUG
    snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (created at %s:%d)", t->file, t->line);
#endif
    if (((asyncio_coro *)t->frame)->lc && asyncio_task_get_info(t, &in) == 0 && in.nframes) {
        const asyncio_frame_info *fr = &in.frames[in.nframes - 1]; /* the innermost */
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), ", suspended at ");
        if (fr->func)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s:%d in %s, ", fr->file, fr->line, fr->func);
        else if (fr->line)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "line %d, ", fr->line);
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "waiting for %s", asyncio_wait_kind_name(in.waits));
    }
    L->cfg.warn(L->cfg.warn_ctx, msg);
}

int asyncio_loop_close(asyncio_loop *loop)
{
    size_t i;
    int reported = 0;
    if (loop->closed)
        return 0;
    if (loop->in_run)
        return asyncio__fail(ASYNCIO_ELOOPRUNNING, "Cannot close a running event loop");
    asyncio__signals_close(loop);
    asyncio__procs_close(loop);
    asyncio__threads_close(loop);
    asyncio__backend_quiesce(loop);
    for (i = 0; i < loop->ntasks; i++)
        if (loop->tasks[i]) {
            asyncio__report_pending(loop, loop->tasks[i]);
            reported++;
        }
    asyncio__unseen_close(loop);
    if (loop->ngens) {
        char msg[160];
        snprintf(msg, sizeof msg, "%zu async generator%s never closed: %s cleanup did not run", loop->ngens,
                 loop->ngens == 1 ? " was" : "s were", loop->ngens == 1 ? "its" : "their");
        loop->cfg.warn(loop->cfg.warn_ctx, msg);
    }
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->gens);
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->far);
#if ASYNCIO_DEBUG
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->frames.e);
    memset(&loop->frames, 0, sizeof loop->frames);
#endif
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->errmsgs.e);
    memset(&loop->errmsgs, 0, sizeof loop->errmsgs);
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->kept.e);
    memset(&loop->kept, 0, sizeof loop->kept);
    loop->gens = NULL;
    loop->far = NULL;
    loop->ngens = loop->nfar = loop->capgens = loop->capfar = 0;
    while (loop->owned) {
        asyncio__owned *h = (asyncio__owned *)loop->owned;
        loop->owned = h->next;
        ASYNCIO_FREE(loop->cfg.alloc_ctx, h);
    }
    for (i = 0; i < loop->ntchunks; i++)
        ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->tchunks[i]);
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->tchunks);
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->heap);
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->tasks);
    for (i = 0; i < loop->capfds; i++) /* the loop owns what was added to it */
        if (loop->fds[i].added)
            asyncio__backend_del(loop, (int)i);
    asyncio__backend_flush(loop); /* one submission for all (io_uring), before the closes */
    for (i = 0; i < loop->capfds; i++)
        if (loop->fds[i].added)
            close((int)i);
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->fds);
    ASYNCIO_FREE(loop->cfg.alloc_ctx, loop->fired);
    asyncio__backend_close(loop);
    loop->fds = NULL;
    loop->fired = NULL;
    loop->capfds = loop->nfdwait = 0;
    loop->tchunks = NULL;
    loop->heap = NULL;
    loop->tasks = NULL;
    loop->ntasks = loop->nheap = loop->nfinished = 0;
    loop->closed = 1;
    return reported;
}

/* asyncio.run's epilogue: cancel what is left and let it finish. */
static void asyncio__cancel_all(asyncio_loop *L)
{
    asyncio_future **futs;
    asyncio_gather_t g;
    size_t i, n = asyncio_all_tasks(L, NULL, 0);
    if (!n)
        return;
    futs = (asyncio_future **)ASYNCIO_REALLOC(L->cfg.alloc_ctx, NULL, n * sizeof *futs);
    if (!futs)
        return; /* close reports them instead */
    asyncio_all_tasks(L, (asyncio_task **)futs, n); /* a task begins with its future */
    for (i = 0; i < n; i++)
        futs[i] = &((asyncio_task *)futs[i])->fut;
    for (i = 0; i < n; i++)
        asyncio_task_cancel((asyncio_task *)futs[i]);
    if (asyncio_gather(&g, L, (asyncio_future *const *)futs, n, ASYNCIO_RETURN_EXCEPTIONS) == 0 &&
        asyncio_loop_run_until_complete(L, &g.fut) == ASYNCIO_ESTALLED)
        asyncio__gather_detach(&g);
    ASYNCIO_FREE(L->cfg.alloc_ctx, futs);
}

int asyncio_run_config(const asyncio_config *cfg, asyncio_fn fn, void *frame, asyncio_outcome *out)
{
    asyncio_loop loop;
    asyncio_task main_task;
    asyncio_outcome o;
    int rc;
    memset(&o, 0, sizeof o);
    if ((rc = asyncio_loop_init(&loop, cfg)) < 0) {
        o.err = rc;
        o.msg = asyncio_strerror(rc);
    } else {
        if (!asyncio_task_create_at(&loop, &main_task, fn, frame, "main", __FILE__, __LINE__))
            rc = -ENOMEM;
        else
            rc = asyncio_loop_run_until_complete(&loop, &main_task.fut);
        asyncio__cancel_all(&loop);
        asyncio__gens_shutdown(&loop);
        if (rc == -ENOMEM || rc == ASYNCIO_ESTALLED || asyncio__state(&main_task.fut) == ASYNCIO__S_PENDING) {
            o.err = rc ? rc : ASYNCIO_ESTALLED;
            o.msg = asyncio_strerror(o.err);
        } else {
            o.err = asyncio_future_result(&main_task.fut, &o.value);
            o.msg = asyncio_future_errmsg(&main_task.fut);
        }
        asyncio_loop_close(&loop);
    }
    if (out)
        *out = o;
    return o.err;
}

int asyncio_run(asyncio_fn fn, void *frame, asyncio_outcome *out) { return asyncio_run_config(NULL, fn, frame, out); }

#endif /* ASYNCIO_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the asyncio.h authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
