/* chained.c -- chaining coroutines: each chain awaits part1 then feeds its
   result to part2; the chains run concurrently.

   Shows: awaiting child coroutines inline, one after the other
   (ASYNCIO_AWAIT_CORO), passing a result along (a string kept in the
   child's frame, returned as asyncio_ptr), and asyncio_gather_map over
   one frame per command-line argument.  The whole run takes as long as
   the slowest chain, not the sum.

   Mirrors (study notes 000 and 003, design pattern "Chaining coroutines";
   Real Python's chained.py from "Async IO in Python: A Complete
   Walkthrough"):

       async def part1(n: int) -> str:
           i = random.randint(0, 10)
           print(f"part1({n}) sleeping for {i} seconds.")
           await asyncio.sleep(i)
           result = f"result{n}-1"
           print(f"Returning part1({n}) == {result}.")
           return result

       async def part2(n: int, arg: str) -> str:
           i = random.randint(0, 10)
           print(f"part2{n, arg} sleeping for {i} seconds.")
           await asyncio.sleep(i)
           result = f"result{n}-2-derived-from-{arg}"
           print(f"Returning part2{n, arg} == {result}.")
           return result

       async def chain(n: int) -> None:
           start = time.perf_counter()
           p1 = await part1(n)
           p2 = await part2(n, p1)
           end = time.perf_counter() - start
           print(f"-->Chained result{n} => {p2} (took {end:0.2f} seconds).")

       async def main(*args):
           await asyncio.gather(*(chain(n) for n in args))

       random.seed(444)
       args = [9, 6, 3] if len(sys.argv) == 1 else map(int, sys.argv[1:])
       start = time.perf_counter()
       asyncio.run(main(*args))
       end = time.perf_counter() - start
       print(f"Program finished in {end:0.2f} seconds.")

   The pseudo-random sleeps come from a port of Python's own generator
   (MT19937 seeded like random.seed(444), randint like CPython's), so this
   program sleeps exactly as the Python one does, on every platform.

   Run:    make examples && build/examples/chained [n ...]   (default 9 6 3;
           11 s in real time)
           ASYNCIO_VIRTUAL_CLOCK=1 build/examples/chained   (instant)

   Prints (under ASYNCIO_VIRTUAL_CLOCK=1 exactly this; in real time the
   same lines with times a few milliseconds longer):
       part1(9) sleeping for 4 seconds.
       part1(6) sleeping for 4 seconds.
       part1(3) sleeping for 0 seconds.
       Returning part1(3) == result3-1.
       part2(3, 'result3-1') sleeping for 4 seconds.
       Returning part1(9) == result9-1.
       part2(9, 'result9-1') sleeping for 7 seconds.
       Returning part1(6) == result6-1.
       part2(6, 'result6-1') sleeping for 4 seconds.
       Returning part2(3, 'result3-1') == result3-2-derived-from-result3-1.
       -->Chained result3 => result3-2-derived-from-result3-1 (took 4.00 seconds).
       Returning part2(6, 'result6-1') == result6-2-derived-from-result6-1.
       -->Chained result6 => result6-2-derived-from-result6-1 (took 8.00 seconds).
       Returning part2(9, 'result9-1') == result9-2-derived-from-result9-1.
       -->Chained result9 => result9-2-derived-from-result9-1 (took 11.00 seconds).
       Program finished in 11.00 seconds. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- Python's random module: MT19937 (Matsumoto & Nishimura) ---- */
enum { MT_N = 624, MT_M = 397 };
static uint32_t mt[MT_N];
static int mti = MT_N + 1;

static void mt_init_genrand(uint32_t s)
{
    mt[0] = s;
    for (mti = 1; mti < MT_N; mti++)
        mt[mti] = 1812433253u * (mt[mti - 1] ^ (mt[mti - 1] >> 30)) + (uint32_t)mti;
}

/* random.seed(n) for 0 <= n < 2**32: init_by_array with the one word n */
static void py_random_seed(uint32_t seed)
{
    const uint32_t key[1] = { seed };
    const int key_length = 1;
    int i = 1, j = 0, k;
    mt_init_genrand(19650218u);
    for (k = MT_N > key_length ? MT_N : key_length; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
        if (j >= key_length)
            j = 0;
    }
    for (k = MT_N - 1; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            mt[0] = mt[MT_N - 1];
            i = 1;
        }
    }
    mt[0] = 0x80000000u;
}

static uint32_t mt_genrand(void)
{
    static const uint32_t mag01[2] = { 0u, 0x9908b0dfu };
    uint32_t y;
    if (mti >= MT_N) {
        int kk;
        if (mti == MT_N + 1)
            mt_init_genrand(5489u);
        for (kk = 0; kk < MT_N - MT_M; kk++) {
            y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
            mt[kk] = mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
        }
        for (; kk < MT_N - 1; kk++) {
            y = (mt[kk] & 0x80000000u) | (mt[kk + 1] & 0x7fffffffu);
            mt[kk] = mt[kk + (MT_M - MT_N)] ^ (y >> 1) ^ mag01[y & 1u];
        }
        y = (mt[MT_N - 1] & 0x80000000u) | (mt[0] & 0x7fffffffu);
        mt[MT_N - 1] = mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
        mti = 0;
    }
    y = mt[mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* random.randint(a, b) for small ranges: CPython's _randbelow, which draws
   getrandbits(k) (the top k bits of one output) until it is below n. */
static int py_randint(int a, int b)
{
    uint32_t n = (uint32_t)(b - a) + 1u, r;
    int k = 0;
    while ((n >> k) != 0)
        k++;
    do
        r = mt_genrand() >> (32 - k);
    while (r >= n);
    return a + (int)r;
}

/* ---- the coroutines ---- */
typedef struct {
    asyncio_coro co;
    int n;
    int i;
    char result[32];
} part1_t;

static int part1(asyncio_task *self, void *frame)
{
    part1_t *f = (part1_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->i = py_randint(0, 10);
    printf("part1(%d) sleeping for %d seconds.\n", f->n, f->i);
    ASYNCIO_SLEEP((double)f->i);
    snprintf(f->result, sizeof f->result, "result%d-1", f->n);
    printf("Returning part1(%d) == %s.\n", f->n, f->result);
    ASYNCIO_RETURN(asyncio_ptr(f->result));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int n;
    const char *arg;
    int i;
    char result[96];
} part2_t;

static int part2(asyncio_task *self, void *frame)
{
    part2_t *f = (part2_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->i = py_randint(0, 10);
    printf("part2(%d, '%s') sleeping for %d seconds.\n", f->n, f->arg, f->i);
    ASYNCIO_SLEEP((double)f->i);
    snprintf(f->result, sizeof f->result, "result%d-2-derived-from-%s", f->n, f->arg);
    printf("Returning part2(%d, '%s') == %s.\n", f->n, f->arg, f->result);
    ASYNCIO_RETURN(asyncio_ptr(f->result));
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    int n;
    double start;
    part1_t p1;  /* the children's frames live in the chain's frame */
    part2_t p2;
} chain_t;

static int chain(asyncio_task *self, void *frame)
{
    chain_t *f = (chain_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    f->p1.n = f->n;
    ASYNCIO_AWAIT_CORO(part1, &f->p1); /* p1 = await part1(n) */
    f->p2.n = f->n;
    f->p2.arg = (const char *)ASYNCIO_RESULT().p;
    ASYNCIO_AWAIT_CORO(part2, &f->p2); /* p2 = await part2(n, p1) */
    printf("-->Chained result%d => %s (took %0.2f seconds).\n", f->n, (const char *)ASYNCIO_RESULT().p,
           asyncio_loop_time(ASYNCIO_LOOP()) - f->start);
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    size_t nchains;
    chain_t *chains;
    asyncio_task *tasks;
    double start, elapsed;
    asyncio_gather_t g;
} main_t;

/* async def main(*args): await asyncio.gather(*(chain(n) for n in args)) */
static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, chain, f->chains, sizeof f->chains[0], f->nchains,
                           0) < 0)
        ASYNCIO_RAISE(-ENOMEM, "gather_map failed");
    ASYNCIO_AWAIT(&f->g.fut);
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->start;
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static const int defaults[] = { 9, 6, 3 };
    static main_t m;
    asyncio_outcome out;
    size_t i;
    int rc;

    m.nchains = argc > 1 ? (size_t)(argc - 1) : sizeof defaults / sizeof defaults[0];
    m.chains = (chain_t *)calloc(m.nchains, sizeof *m.chains);
    m.tasks = (asyncio_task *)calloc(m.nchains, sizeof *m.tasks);
    if (!m.chains || !m.tasks) {
        fprintf(stderr, "chained: out of memory\n");
        return 1;
    }
    for (i = 0; i < m.nchains; i++) {
        if (argc > 1) {
            char *end;
            long n = strtol(argv[i + 1], &end, 10);
            if (*argv[i + 1] == '\0' || *end != '\0' || n < INT_MIN / 2 || n > INT_MAX / 2) {
                fprintf(stderr, "usage: %s [n ...]   (integers; default 9 6 3)\n", argv[0]);
                return 2;
            }
            m.chains[i].n = (int)n;
        } else
            m.chains[i].n = defaults[i];
    }

    py_random_seed(444); /* random.seed(444) */
    rc = asyncio_run(main_coro, &m, &out);
    free(m.chains);
    free(m.tasks);
    if (rc < 0) {
        fprintf(stderr, "chained: %s\n", out.msg);
        return 1;
    }
    printf("Program finished in %0.2f seconds.\n", m.elapsed);
    return 0;
}
