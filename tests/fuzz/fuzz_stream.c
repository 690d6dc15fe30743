/* fuzz_stream.c -- libFuzzer target for the stream reader: a script of
   reads must get the same answers however its bytes are cut up on the way.

   Input layout (every field a byte; a missing byte reads as 0):
     limit-1
     number of operations (mod MAX_OPS + 1), then per operation a kind byte
       (low 2 bits: readline, readuntil, readexactly, read; bits 2-3: a
       shift for n) and, except for readline, an argument byte: readuntil's
       separator length (mod 5: 0 asks for -EINVAL) followed by the
       separator; readexactly's n (arg << shift); read's n (arg << shift,
       255 for read(-1))
     number of chunk sizes (mod MAX_SIZES + 1), then the sizes: low 7 bits
       the byte count (0: an empty feed), bit 7 set: the next chunk follows
       without giving the reader a turn
     the rest, up to MAX_DATA bytes: what the stream delivers, then end of
       stream (a longer tail is ignored: the byte-at-a-time run costs a
       loop iteration per byte, and more bytes find nothing new).
   Every script ends with a read(-1), so the runs must also agree on what
   is left.

   The script runs on a stream fed in memory (asyncio_stream_new_reader),
   on a loop with the virtual clock, three times: with every byte and the
   EOF fed before the first read (the reference), one byte at a time, and
   in the input's chunk sizes (cycled).  A feeder task sleeps between
   chunks, so reads wait and resume the way they do on a socket.

   Checked on every run: each answer is possible at all (a readuntil
   result ends at the first separator and fits the limit, readexactly
   gives n bytes or fails at end of stream, a read never hands out more
   than asked, no byte is handed out twice, IncompleteReadError.expected
   and LimitOverrunError.consumed are 0 after any other outcome); and
   against the reference: the same error code and the same bytes (partial
   data included).  Two things legitimately depend on where
   the input was cut, so they are compared as bounds: read(n) may answer
   with fewer bytes as soon as it has some (a "read n" operation here
   repeats read until it has n bytes or the stream ends, and the reference
   must answer it in one call); and LimitOverrunError.consumed, which
   counts what was buffered when the limit was crossed, must be above the
   limit and at most the reference's.  And after a readline that failed
   over the limit, only later readlines are compared: any other read sees
   what had not arrived when readline gave up, as in CPython (see
   compare).  A mismatch prints the script and both answers, then aborts. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_LINE, OP_UNTIL, OP_EXACTLY, OP_READ };
#define MAX_OPS 31
#define MAX_SIZES 15
#define MAX_SEP 4
#define MAX_DATA 512

typedef struct {
    int kind;
    size_t n;
    unsigned char sep[MAX_SEP];
    size_t seplen;
} op_t;

typedef struct {
    size_t limit;
    op_t ops[MAX_OPS + 1]; /* + the read(-1) that ends every script */
    size_t nops;
    unsigned char sizes[MAX_SIZES];
    size_t nsizes;
    const unsigned char *data;
    size_t len;
} script_t;

typedef struct {
    int rc;
    size_t off, len; /* the bytes handed out: log_t.bytes[off, off + len) */
    size_t expected, consumed;
    unsigned pieces; /* calls that handed out bytes (read n may need several) */
} result_t;

typedef struct {
    const char *name;
    int whole; /* every byte buffered before the first read */
    result_t res[MAX_OPS + 1];
    unsigned char *bytes; /* room for the input's bytes: each is handed out once at most */
    size_t nbytes;
} log_t;

static asyncio_loop loop;
static const script_t *current; /* for the report of a failed check */

static unsigned take(const uint8_t **p, size_t *n)
{
    if (!*n)
        return 0;
    --*n;
    return *(*p)++;
}

static void parse(script_t *sc, const uint8_t *p, size_t n)
{
    size_t i, k, total = 0;
    unsigned b;
    memset(sc, 0, sizeof *sc);
    sc->limit = take(&p, &n) + 1;
    sc->nops = take(&p, &n) % (MAX_OPS + 1);
    for (i = 0; i < sc->nops; i++) {
        op_t *op = &sc->ops[i];
        b = take(&p, &n);
        op->kind = (int)(b & 3);
        if (op->kind == OP_UNTIL) {
            op->seplen = take(&p, &n) % (MAX_SEP + 1);
            for (k = 0; k < op->seplen; k++)
                op->sep[k] = (unsigned char)take(&p, &n);
        } else if (op->kind != OP_LINE) {
            unsigned arg = take(&p, &n);
            op->n = op->kind == OP_READ && arg == 255 ? ASYNCIO_READ_ALL : (size_t)arg << ((b >> 2) & 3);
        }
    }
    sc->ops[sc->nops].kind = OP_READ;
    sc->ops[sc->nops].n = ASYNCIO_READ_ALL;
    sc->nsizes = take(&p, &n) % (MAX_SIZES + 1);
    for (i = 0; i < sc->nsizes; i++) {
        sc->sizes[i] = (unsigned char)take(&p, &n);
        total += sc->sizes[i] & 0x7f;
    }
    if (!total) /* only empty feeds would never deliver the bytes */
        sc->nsizes = 0;
    sc->data = p;
    sc->len = n < MAX_DATA ? n : MAX_DATA;
}

static void print_bytes(const unsigned char *b, size_t n)
{
    size_t i;
    putc('"', stderr);
    for (i = 0; i < n; i++)
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
            putc(b[i], stderr);
        else
            fprintf(stderr, "\\x%02x", b[i]);
    putc('"', stderr);
}

static void print_op(const op_t *op)
{
    static const char *const names[] = {"readline", "readuntil", "readexactly", "read"};
    fprintf(stderr, "%s(", names[op->kind]);
    if (op->kind == OP_UNTIL)
        print_bytes(op->sep, op->seplen);
    else if (op->n == ASYNCIO_READ_ALL)
        fprintf(stderr, "-1");
    else if (op->kind != OP_LINE)
        fprintf(stderr, "%zu", op->n);
    fprintf(stderr, ")");
}

static void print_script(const script_t *sc, size_t upto)
{
    size_t i;
    fprintf(stderr, "limit %zu, %zu bytes: ", sc->limit, sc->len);
    print_bytes(sc->data, sc->len);
    fprintf(stderr, "\nchunk sizes:");
    for (i = 0; i < sc->nsizes; i++)
        fprintf(stderr, " %u%s", sc->sizes[i] & 0x7fu, sc->sizes[i] & 0x80 ? "+" : "");
    fprintf(stderr, "\nscript:");
    for (i = 0; i <= upto; i++) {
        fprintf(stderr, " ");
        print_op(&sc->ops[i]);
    }
    fprintf(stderr, "\n");
}

static void print_result(const log_t *log, size_t i)
{
    const result_t *r = &log->res[i];
    fprintf(stderr, "  %-10s %s (%d), %u piece(s), expected %zu, consumed %zu, ", log->name,
            r->rc ? asyncio_err_name(r->rc) : "ok", r->rc, r->pieces, r->expected, r->consumed);
    print_bytes(log->bytes + r->off, r->len);
    fprintf(stderr, "\n");
}

/* Report operation i of the current script and abort; ref: the
   reference's answer to show beside log's, or NULL. */
static void fail(const log_t *ref, const log_t *log, size_t i, const char *why)
{
    fprintf(stderr, "fuzz_stream: operation %zu, ", i);
    print_op(&current->ops[i]);
    fprintf(stderr, ": %s\n", why);
    print_script(current, i);
    if (ref)
        print_result(ref, i);
    print_result(log, i);
    abort();
}

/* ---- the reader ----------------------------------------------------- */
typedef struct {
    asyncio_coro co;
    const script_t *sc;
    asyncio_stream *s;
    log_t *log;
    size_t i;
    asyncio_read_t rd;
    int rc;
} reader_t;

static asyncio_read_t *next_read(reader_t *f)
{
    const op_t *op = &f->sc->ops[f->i];
    switch (op->kind) {
    case OP_LINE:
        return asyncio_stream_readline(&f->rd, f->s);
    case OP_UNTIL:
        return asyncio_stream_readuntil(&f->rd, f->s, (const char *)op->sep, op->seplen);
    case OP_EXACTLY:
        return asyncio_stream_readexactly(&f->rd, f->s, op->n);
    default:
        return asyncio_stream_read(&f->rd, f->s,
                                   op->n == ASYNCIO_READ_ALL ? op->n : op->n - f->log->res[f->i].len);
    }
}

static int contains(const unsigned char *b, size_t n, const unsigned char *sep, size_t seplen)
{
    size_t i;
    for (i = 0; i + seplen <= n; i++)
        if (memcmp(b + i, sep, seplen) == 0)
            return 1;
    return 0;
}

/* The outcomes each kind of read can have. */
static int possible(const op_t *op, int rc)
{
    switch (op->kind) {
    case OP_LINE:
        return rc == 0 || rc == ASYNCIO_ELIMIT;
    case OP_UNTIL:
        return op->seplen ? rc == 0 || rc == ASYNCIO_EINCOMPLETE || rc == ASYNCIO_ELIMIT : rc == -EINVAL;
    case OP_EXACTLY:
        return rc == 0 || rc == ASYNCIO_EINCOMPLETE;
    default:
        return rc == 0;
    }
}

/* Log the answer to one call and check that it is possible at all; 1 if
   the operation needs another call. */
static int record(reader_t *f)
{
    const op_t *op = &f->sc->ops[f->i];
    log_t *log = f->log;
    result_t *r = &log->res[f->i];
    size_t k = f->rc == 0 || f->rc == ASYNCIO_EINCOMPLETE ? asyncio_stream_data_size(f->s) : 0;
    const unsigned char *got = log->bytes + r->off;
    r->rc = f->rc;
    r->expected = asyncio_stream_expected(f->s);
    r->consumed = asyncio_stream_consumed(f->s);
    if (!possible(op, f->rc))
        fail(NULL, log, f->i, "an outcome this read cannot have");
    if (k > current->len - log->nbytes)
        fail(NULL, log, f->i, "more bytes handed out than were fed");
    memcpy(log->bytes + log->nbytes, asyncio_stream_data(f->s), k);
    log->nbytes += k;
    r->len += k;
    r->pieces += k > 0;
    if ((f->rc != ASYNCIO_EINCOMPLETE && r->expected) || (f->rc != ASYNCIO_ELIMIT && r->consumed))
        fail(NULL, log, f->i, "IncompleteReadError.expected or LimitOverrunError.consumed left from an earlier read");
    if (f->rc == ASYNCIO_ELIMIT && r->consumed <= f->sc->limit)
        fail(NULL, log, f->i, "LimitOverrunError.consumed within the limit");
    if (f->rc == ASYNCIO_EINCOMPLETE && !asyncio_stream_at_eof(f->s))
        fail(NULL, log, f->i, "IncompleteReadError before end of stream");
    switch (op->kind) {
    case OP_LINE:
        if (f->rc == 0 && (!k || got[k - 1] != '\n') && !asyncio_stream_at_eof(f->s))
            fail(NULL, log, f->i, "readline answered with neither a line nor the end of the stream");
        if (f->rc == 0 && k && (memchr(got, '\n', k - 1) || k - (got[k - 1] == '\n') > f->sc->limit))
            fail(NULL, log, f->i, "readline answered past the first newline or past the limit");
        return 0;
    case OP_UNTIL:
        if (f->rc == 0 && (k < op->seplen || memcmp(got + k - op->seplen, op->sep, op->seplen) != 0 ||
                           contains(got, k - 1, op->sep, op->seplen) || k - op->seplen > f->sc->limit))
            fail(NULL, log, f->i, "readuntil answered with other than the bytes through the first separator within the limit");
        if (f->rc == ASYNCIO_EINCOMPLETE && (r->expected != 0 || contains(got, k, op->sep, op->seplen)))
            fail(NULL, log, f->i, "readuntil's IncompleteReadError is wrong");
        return 0;
    case OP_EXACTLY:
        if ((f->rc == 0 && k != op->n) || (f->rc == ASYNCIO_EINCOMPLETE && (k >= op->n || r->expected != op->n)))
            fail(NULL, log, f->i, "readexactly answered with other than n bytes, or a wrong IncompleteReadError");
        return 0;
    default:
        if (f->rc == 0 && op->n == ASYNCIO_READ_ALL && !asyncio_stream_at_eof(f->s))
            fail(NULL, log, f->i, "read(-1) answered before the end of the stream");
        if (f->rc == 0 && op->n != ASYNCIO_READ_ALL && (r->len > op->n || (!k && op->n && !asyncio_stream_at_eof(f->s))))
            fail(NULL, log, f->i, "read(n) answered with more than n bytes, or with none before the end of the stream");
        if (log->whole && r->pieces > 1)
            fail(NULL, log, f->i, "read(n) with every byte buffered answered with fewer than it could");
        return f->rc == 0 && k && op->n != ASYNCIO_READ_ALL && r->len < op->n;
    }
}

static int reader(asyncio_task *self, void *frame)
{
    reader_t *f = (reader_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->i <= f->sc->nops; f->i++) {
        f->log->res[f->i].off = f->log->nbytes;
        do {
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, next_read(f));
        } while (record(f));
    }
    ASYNCIO_END();
}

/* ---- the feeder ----------------------------------------------------- */
typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    const script_t *sc;
    const unsigned char *sizes;
    size_t nsizes, k, pos;
} feeder_t;

static int feeder(asyncio_task *self, void *frame)
{
    feeder_t *f = (feeder_t *)frame;
    size_t n;
    unsigned size;
    ASYNCIO_BEGIN(self, f);
    for (f->k = 0; f->pos < f->sc->len; f->k = (f->k + 1) % f->nsizes) {
        size = f->sizes[f->k];
        n = size & 0x7f;
        if (n > f->sc->len - f->pos)
            n = f->sc->len - f->pos;
        if (asyncio_stream_feed_data(f->s, f->sc->data + f->pos, n) != 0)
            abort();
        f->pos += n;
        if (!(size & 0x80)) {
            ASYNCIO_SLEEP(0.001);
        }
    }
    if (asyncio_stream_feed_eof(f->s) != 0)
        abort();
    ASYNCIO_END();
}

/* ---- the runs ------------------------------------------------------- */
/* Run the script over the input cut into sizes (none: all of it, and the
   end of the stream, before the first read). */
static void run(const script_t *sc, const unsigned char *sizes, size_t nsizes, log_t *log)
{
    reader_t rf;
    feeder_t ff;
    asyncio_task rt, ft;
    asyncio_stream *s = asyncio_stream_new_reader(&loop);
    if (!s)
        abort();
    asyncio_stream_set_limit(s, sc->limit);
    memset(&rf, 0, sizeof rf);
    memset(&ff, 0, sizeof ff);
    if (!nsizes) {
        if (asyncio_stream_feed_data(s, sc->data, sc->len) != 0 || asyncio_stream_feed_eof(s) != 0)
            abort();
    } else {
        ff.s = s;
        ff.sc = sc;
        ff.sizes = sizes;
        ff.nsizes = nsizes;
        asyncio_create_task(&loop, &ft, feeder, &ff);
    }
    rf.sc = sc;
    rf.s = s;
    rf.log = log;
    asyncio_create_task(&loop, &rt, reader, &rf);
    if (asyncio_loop_run_until_complete(&loop, &rt.fut) != 0 || (nsizes && !asyncio_future_done(&ft.fut)))
        abort();
    asyncio_stream_close(s);
    asyncio_loop_run_forever(&loop); /* until the stream is freed */
}

/* After a readline that failed over the limit, only readlines must agree:
   the next one drops the rest of the long line in every run (README,
   "Where C differs"), but any other read sees what arrived after the
   failure, as in CPython -- which depends on where the input was cut. */
static void compare(const log_t *ref, const log_t *log, size_t nops)
{
    size_t i;
    int overrun = 0;
    for (i = 0; i <= nops; i++) {
        const result_t *a = &ref->res[i], *b = &log->res[i];
        const char *why = NULL;
        int kind = i < nops ? current->ops[i].kind : OP_READ;
        if (overrun && kind != OP_LINE)
            return;
        if (kind == OP_LINE && (a->rc == ASYNCIO_ELIMIT || b->rc == ASYNCIO_ELIMIT))
            overrun = 1;
        if (a->rc != b->rc)
            why = "another error code";
        else if (a->len != b->len || memcmp(ref->bytes + a->off, log->bytes + b->off, a->len) != 0)
            why = "other bytes";
        else if (b->consumed > a->consumed)
            why = "LimitOverrunError.consumed larger than with every byte buffered";
        if (why)
            fail(ref, log, i, why);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    asyncio_config cfg;
    (void)argc;
    (void)argv;
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = 1;
    cfg.slow_callback_duration = -1; /* a step is slow when the machine is busy: no news here */
    if (asyncio_loop_init(&loop, &cfg) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char one_byte[] = {1};
    script_t sc;
    log_t ref = {"reference", 1, {{0}}, NULL, 0}, bytewise = {"bytewise", 0, {{0}}, NULL, 0},
          chunked = {"chunked", 0, {{0}}, NULL, 0};
    parse(&sc, data, size);
    current = &sc;
    /* + 1: malloc(0) may give NULL */
    if (!(ref.bytes = malloc(sc.len + 1)) || !(bytewise.bytes = malloc(sc.len + 1)) ||
        !(chunked.bytes = malloc(sc.len + 1)))
        abort();
    run(&sc, NULL, 0, &ref);
    run(&sc, one_byte, 1, &bytewise);
    compare(&ref, &bytewise, sc.nops);
    if (sc.nsizes) {
        run(&sc, sc.sizes, sc.nsizes, &chunked);
        compare(&ref, &chunked, sc.nops);
    }
    free(ref.bytes);
    free(bytewise.bytes);
    free(chunked.bytes);
    return 0;
}
