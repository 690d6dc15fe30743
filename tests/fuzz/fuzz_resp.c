/* fuzz_resp.c -- libFuzzer target for examples/resp.h, kv_server's RESP
   request parser: the input is what a client sends, and the answers must
   not depend on how it was cut into reads.

   Build and run (from the repository root; `make fuzz` does the same
   for a while):
     clang -fsanitize=fuzzer,address,undefined -g -O1 -I. -Iexamples \
         tests/fuzz/fuzz_resp.c -o build/fuzz_resp
     mkdir -p build/fuzz/corpus/resp
     build/fuzz_resp -runs=10000000 -max_len=64 build/fuzz/corpus/resp tests/fuzz/corpus/resp
   (Each input is parsed once per point it can be cut at, so the time per
   input grows with the square of its length: -max_len keeps it short,
   which loses nothing -- the limits here are tiny, so every limit is
   reached within 64 bytes.)

   Each input is parsed as a server reads it -- every request taken from
   the buffer, then more bytes awaited -- in several ways: in one piece
   (the reference), a byte at a time, and in two pieces cut at every
   point, with tiny limits (the bulk, request and line limits reached by
   small inputs); and with kv_server's default limits in one piece and a
   byte at a time.  Each piece arrives in a fresh buffer holding exactly
   the bytes not yet taken, so a pointer kept across reads or a read past
   the end is caught by ASan.  Each run records its answers (each
   request's arguments; then the error, or what more it needs); the runs
   must record the same.  Checked on every answer: a request uses at
   least one byte and no more than it was given, its arguments lie inside
   it in order, without white space around them when inline and between
   "\r\n"s when bulk; "need more" asks for more than the buffer holds.
   And resp_ll alone: it takes a string exactly when the string is how
   printf writes a long long.  A failed check prints what differed and aborts. */
#define RESP_MAX_LINE 40 /* reachable by small inputs (the default is 64 KiB) */
#include "resp.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *p;
    size_t len, cap;
} log_t;

static void log_add(log_t *l, const void *p, size_t n)
{
    if (l->cap - l->len < n) {
        size_t ncap = l->cap ? l->cap : 256;
        while (ncap - l->len < n)
            ncap *= 2;
        if (!(l->p = (unsigned char *)realloc(l->p, ncap)))
            abort();
        l->cap = ncap;
    }
    memcpy(l->p + l->len, p, n);
    l->len += n;
}

static void log_size(log_t *l, size_t v) { log_add(l, &v, sizeof v); }

static void fail(const char *what, const uint8_t *data, size_t size)
{
    size_t i;
    fprintf(stderr, "fuzz_resp: %s\ninput (%zu bytes):", what, size);
    for (i = 0; i < size; i++)
        fprintf(stderr, " %02x", data[i]);
    fputc('\n', stderr);
    abort();
}

/* The checks that need no other run; buf holds len bytes. */
static void check_answer(const resp_parser *p, int rc, const char *buf, size_t len, const uint8_t *data,
                         size_t size)
{
    size_t i, end = 0;
    if (rc == RESP_MORE && p->need <= len)
        fail("RESP_MORE asks for no more than the buffer holds", data, size);
    if (rc == RESP_ERROR && (!p->err || strncmp(p->err, "ERR ", 4) != 0))
        fail("RESP_ERROR without an \"ERR ...\" message", data, size);
    if (rc != RESP_REQUEST)
        return;
    if (p->used == 0 || p->used > len)
        fail("a request of no bytes, or more than were given", data, size);
    for (i = 0; i < p->argc; i++) {
        const resp_arg *a = &p->argv[i];
        if (a->off < end || a->off > p->used || a->len > p->used - a->off)
            fail("an argument out of order or outside its request", data, size);
        end = a->off + a->len;
        if (buf[0] == '*') {
            if (a->off < 2 || memcmp(buf + a->off - 2, "\r\n", 2) != 0 || end + 2 > p->used ||
                memcmp(buf + end, "\r\n", 2) != 0)
                fail("a bulk argument not between CRLFs", data, size);
        } else if (!a->len || resp_is_space(buf[a->off]) || resp_is_space(buf[end - 1]) ||
                   (a->off > 0 && !resp_is_space(buf[a->off - 1])) || (end < p->used && !resp_is_space(buf[end])))
            fail("an inline argument empty, or not cut at white space", data, size);
    }
}

/* Parse data[0, size) arriving in pieces ending at cuts[0] <= cuts[1] <=
   ... <= cuts[ncuts - 1] == size; record the answers in l. */
static void run(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts, size_t max_bulk,
                size_t max_request, log_t *l)
{
    resp_parser p;
    size_t k, i, start = 0;
    int rc = RESP_MORE;
    resp_init(&p, max_bulk, max_request);
    for (k = 0; k < ncuts && rc != RESP_ERROR; k++) {
        /* what a server holds once the piece is in: the bytes from the
           first request not yet taken, in a buffer of their own (it moves) */
        size_t n = cuts[k] - start, off = 0;
        char *buf = (char *)malloc(n ? n : 1);
        if (!buf)
            abort();
        memcpy(buf, data + start, n);
        while ((rc = resp_parse(&p, buf + off, n - off)) == RESP_REQUEST) {
            check_answer(&p, rc, buf + off, n - off, data, size);
            log_add(l, "R", 1);
            log_size(l, p.used);
            log_size(l, p.argc);
            for (i = 0; i < p.argc; i++) {
                log_size(l, p.argv[i].len);
                log_add(l, buf + off + p.argv[i].off, p.argv[i].len);
            }
            off += p.used;
        }
        check_answer(&p, rc, buf + off, n - off, data, size);
        start += off;
        free(buf);
    }
    if (rc == RESP_ERROR)
        log_add(l, p.err, strlen(p.err) + 1);
    else {
        log_add(l, "M", 1);
        log_size(l, p.need);
    }
    resp_free(&p);
}

/* resp_ll takes s exactly when s is "%lld" of some long long. */
static void check_ll(const uint8_t *data, size_t size)
{
    char buf[32], out[32], *end;
    long long v, w = 0;
    int ok = resp_ll((const char *)data, size, &v), canonical = 0;
    if (size < sizeof buf) {
        memcpy(buf, data, size);
        buf[size] = 0;
        errno = 0;
        w = strtoll(buf, &end, 10);
        snprintf(out, sizeof out, "%lld", w);
        canonical = errno == 0 && end != buf && strlen(out) == size && memcmp(out, data, size) == 0;
    }
    if (ok != canonical || (ok && v != w))
        fail(ok ? "resp_ll took a string printf would not write" : "resp_ll refused what printf writes", data,
             size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* max_bulk, max_request: tiny ones, cut at every point; kv_server's
       defaults, only a byte at a time (where the limits bite is checked
       with the tiny ones: the same code) */
    static const size_t limits[][2] = {{24, 120}, {512u << 20, 1024u << 20}};
    size_t *cuts = (size_t *)malloc((size + 1) * sizeof *cuts), i, k;
    log_t ref = {0}, got = {0};
    if (!cuts)
        abort();
    check_ll(data, size);
    for (k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        cuts[0] = size;
        ref.len = 0;
        run(data, size, cuts, 1, limits[k][0], limits[k][1], &ref);
        for (i = 0; i <= size; i++) /* a byte at a time, after a look at nothing */
            cuts[i] = i;
        got.len = 0;
        run(data, size, cuts, size + 1, limits[k][0], limits[k][1], &got);
        if (got.len != ref.len || memcmp(got.p, ref.p, ref.len) != 0)
            fail("a byte at a time answers otherwise than in one piece", data, size);
        for (i = 1; i < size && k == 0; i++) { /* two pieces, cut after i bytes */
            cuts[0] = i;
            cuts[1] = size;
            got.len = 0;
            run(data, size, cuts, 2, limits[k][0], limits[k][1], &got);
            if (got.len != ref.len || memcmp(got.p, ref.p, ref.len) != 0)
                fail("two pieces answer otherwise than one", data, size);
        }
    }
    free(cuts);
    free(ref.p);
    free(got.p);
    return 0;
}
