/* Fault sweeps (make torture): every scenario runs once to count its
   allocations and task steps, then once per k with the k-th allocation
   failing, and once per k with the main task cancelled at the k-th step,
   each run in a forked child with a time limit, under asyncio_run.  A
   run is clean when the child neither crashes nor hangs nor leaks (ASan,
   LSan, the counting allocator), the loop reports nothing through
   cfg.warn (a task or generator still pending at close, a callback
   dropped, an error never retrieved), no descriptor is left open, the
   main task ends in one of the outcomes the injected fault allows, and
   the scenario's own check finds its data whole.  The steps counted are
   those of the scenarios' own tasks (torture_step): the library's inner
   tasks (communicate's pipe readers, the closer of an abandoned
   generator) have no hook, so a cancellation lands between their steps.

   Only what goes through ASYNCIO_REALLOC can be made to fail, and only
   on the loop's thread: the loop's memory (ctx = config.alloc_ctx: tasks,
   handles, timers, the fd table, streams and their buffers, queues,
   TaskGroup slots, processes, read_file's buffer, ...) and, with ctx NULL,
   the default executor and the name lookups' requests.  The same macro
   called on another thread (call_soon_threadsafe's handle, made by the
   thread that posts it) is passed through uncounted: its place in the
   sequence depends on scheduling.  Out of reach altogether: libc's own
   allocations (getaddrinfo's lists, posix_spawn, thread stacks), OpenSSL's,
   and the few the header makes with malloc / calloc directly (a TLS
   context and its names, a Unix socket's address, the file copy's bounce
   buffer). */
#ifndef TORTURE_H
#define TORTURE_H
#include "asyncio.h"
#include <stddef.h>

/* Every task entry function calls this first: a step of a task is a call
   of its function, so this counts steps, and in a cancel run it cancels
   the main task at the chosen one. */
void torture_step(asyncio_task *self);

/* The fault a run injects. */
enum { TORTURE_COUNT, TORTURE_ALLOC, TORTURE_CANCEL };

typedef struct torture_scenario {
    const char *name;
    size_t frame_size;
    asyncio_fn main;                 /* the main task, on a zeroed frame */
    void (*setup)(void *frame);      /* before the loop exists (may be NULL) */
    /* After the loop is closed: NULL if what the run did is consistent
       with main's outcome rc under the injected fault (mode, and whether
       the fault happened at all), or what is wrong. */
    const char *(*check)(void *frame, int mode, int injected, int rc);
} torture_scenario;

/* The outcomes every scenario allows: 0, or the injected fault's own
   error (-ENOMEM for a failed allocation, ASYNCIO_ECANCELLED for a
   cancellation), and only once it was injected.  NULL or why not. */
const char *torture_expected(int mode, int injected, int rc);

/* A position-dependent byte: a lost, doubled or reordered piece shows. */
unsigned char torture_byte(size_t i);

extern const torture_scenario torture_scenarios[];
extern const size_t torture_nscenarios;

#endif
