/* kv_server.c -- an in-memory key-value server speaking RESP (Redis's protocol).

   Shows: a binary-safe request parser on a stream -- readline for the
   "*N" and "$LEN" lines, readexactly for each argument's bytes, all taken
   from the stream's buffer so that pipelined commands cost no system call
   to read; replies built in a per-connection buffer and written with one
   asyncio_stream_write per batch, when asyncio_stream_buffered says no
   request byte is left to read (so a pipeline of 16 commands costs one
   send, not 16), and a drain only when the output piles up; per
   connection state freed by ASYNCIO_FINALLY however the connection ends;
   shared state (one hash table) needing no lock, since every handler runs
   on the one loop thread.

   Mirrors (the shape of it, in Python):

       db = {}

       async def handle(reader, writer):
           out = bytearray()
           try:
               while True:
                   if not reader._buffer:          # the next read may wait:
                       writer.write(out)           # send the batch's replies
                       out.clear()
                       if writer.transport.get_write_buffer_size() > 65536:
                           await writer.drain()
                   line = await reader.readline()
                   if not line:
                       break
                   if line.startswith(b"*"):       # RESP array
                       args = []
                       for _ in range(int(line[1:])):
                           n = int((await reader.readline())[1:])
                           args.append((await reader.readexactly(n + 2))[:-2])
                   else:                           # inline command
                       args = line.split()
                   out += execute(db, args)
           finally:
               writer.write(out)
               writer.close()

   Run:    make examples && build/examples/kv_server 6380 [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1)
           redis-cli -p 6380 set greeting hello      ->  OK
           redis-cli -p 6380 get greeting            ->  "hello"
           redis-benchmark -p 6380 -t ping,set,get,incr -n 100000 -q -P 16

   Prints once it listens, then runs until Ctrl-C / SIGTERM (exit 0):
       listening on 127.0.0.1:6380

   Commands: PING [msg], ECHO msg, SET key value [EX s | PX ms] [NX | XX],
   GET, INCR, DECR, DEL key..., EXISTS key..., DBSIZE, FLUSHALL / FLUSHDB,
   COMMAND (an empty array: enough for redis-cli's start-up), CONFIG GET
   (answers only "save" and "appendonly", which redis-benchmark asks
   for), QUIT.  Others get "-ERR unknown command 'X'".  Inline commands
   ("PING\r\n", split on spaces, no quoting) work too.  Keys with a TTL
   expire when next touched; until then DBSIZE still counts them. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "serve.h" /* PORT [HOST], start the server, stop on SIGINT / SIGTERM */

#define PROGRAM "kv_server"
#define MAX_ARGS (1024 * 1024)      /* elements in one request */
#define MAX_BULK (64 * 1024 * 1024) /* bytes in one argument */
#define FLUSH_ABOVE 65536           /* write replies at least this often */
#define DRAIN_ABOVE 65536           /* await drain once this much output is queued */

/* ---- the database: open addressing, linear probing -------------------- */

typedef struct {
    char *key;          /* NULL: an empty slot */
    size_t klen;
    char *val;
    size_t vlen, vcap;
    uint64_t hash;
    double expires;     /* loop time at which the key goes; 0: never */
} entry_t;

static struct {
    entry_t *slots;
    size_t cap, count;  /* cap: a power of two, or 0 */
} db;

static uint64_t hash_key(const char *p, size_t n) /* FNV-1a */
{
    uint64_t h = 14695981039346656037ull;
    while (n--)
        h = (h ^ (unsigned char)*p++) * 1099511628211ull;
    return h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t db_slot(const char *key, size_t klen, uint64_t h)
{
    size_t mask = db.cap - 1, i = (size_t)h & mask;
    while (db.slots[i].key &&
           !(db.slots[i].hash == h && db.slots[i].klen == klen && memcmp(db.slots[i].key, key, klen) == 0))
        i = (i + 1) & mask;
    return i;
}

static void entry_free(entry_t *e)
{
    free(e->key);
    free(e->val);
    e->key = e->val = NULL;
}

/* Remove slot i, shifting back the entries after it that probed past it
   (no tombstones). */
static void db_remove(size_t i)
{
    size_t mask = db.cap - 1, j = i, home;
    entry_free(&db.slots[i]);
    db.count--;
    for (;;) {
        j = (j + 1) & mask;
        if (!db.slots[j].key)
            break;
        home = (size_t)db.slots[j].hash & mask;
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue; /* its home lies between the hole and it: stays */
        db.slots[i] = db.slots[j];
        db.slots[j].key = db.slots[j].val = NULL;
        i = j;
    }
}

/* The live entry for key, or NULL (an expired one is removed). */
static entry_t *db_get(asyncio_loop *loop, const char *key, size_t klen)
{
    size_t i;
    if (!db.count)
        return NULL;
    i = db_slot(key, klen, hash_key(key, klen));
    if (!db.slots[i].key)
        return NULL;
    if (db.slots[i].expires && asyncio_loop_time(loop) >= db.slots[i].expires) {
        db_remove(i);
        return NULL;
    }
    return &db.slots[i];
}

static int db_grow(void)
{
    size_t ncap = db.cap ? db.cap * 2 : 64, i, j;
    entry_t *old = db.slots, *slots = (entry_t *)calloc(ncap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (i = 0; i < db.cap; i++)
        if (old[i].key) {
            for (j = (size_t)old[i].hash & (ncap - 1); slots[j].key; j = (j + 1) & (ncap - 1))
                ;
            slots[j] = old[i];
        }
    free(old);
    db.slots = slots;
    db.cap = ncap;
    return 0;
}

/* The entry for key, created empty if missing; NULL when out of memory. */
static entry_t *db_put(asyncio_loop *loop, const char *key, size_t klen)
{
    entry_t *e = db_get(loop, key, klen);
    uint64_t h;
    size_t i;
    if (e)
        return e;
    if ((db.count + 1) * 4 > db.cap * 3 && db_grow() < 0)
        return NULL;
    h = hash_key(key, klen);
    i = db_slot(key, klen, h);
    e = &db.slots[i];
    if (!(e->key = (char *)malloc(klen ? klen : 1)))
        return NULL;
    memcpy(e->key, key, klen);
    e->klen = klen;
    e->hash = h;
    e->val = NULL;
    e->vlen = e->vcap = 0;
    e->expires = 0;
    db.count++;
    return e;
}

static int entry_set(entry_t *e, const char *val, size_t vlen)
{
    if (vlen > e->vcap || !e->val) {
        char *p = (char *)realloc(e->val, vlen ? vlen : 1);
        if (!p)
            return -ENOMEM;
        e->val = p;
        e->vcap = vlen;
    }
    memcpy(e->val, val, vlen);
    e->vlen = vlen;
    return 0;
}

static void db_flush(void)
{
    size_t i;
    for (i = 0; i < db.cap; i++)
        if (db.slots[i].key)
            entry_free(&db.slots[i]);
    free(db.slots);
    db.slots = NULL;
    db.cap = db.count = 0;
}

/* ---- a connection ----------------------------------------------------- */

typedef struct {
    size_t off, len; /* in abuf, which may move as it grows */
} arg_t;

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    int rc, stop;            /* stop: close after the replies so far */
    long long want, blen;    /* elements of the array being read; next bulk's length */
    char *abuf;              /* the request's arguments, back to back */
    size_t alen, acap;
    arg_t *args;
    size_t nargs, capargs;
    char *out;               /* the reply being built */
    size_t olen, ocap;
    int nomem;               /* a buffer could not grow: close */
} kv_conn_t;

static int add_arg(kv_conn_t *c, const char *p, size_t n)
{
    if (c->nargs == c->capargs) {
        size_t ncap = c->capargs ? c->capargs * 2 : 8;
        arg_t *a = (arg_t *)realloc(c->args, ncap * sizeof *a);
        if (!a)
            return -ENOMEM;
        c->args = a;
        c->capargs = ncap;
    }
    if (c->acap - c->alen < n) {
        size_t ncap = c->acap ? c->acap : 256;
        char *b;
        while (ncap - c->alen < n)
            ncap *= 2;
        if (!(b = (char *)realloc(c->abuf, ncap)))
            return -ENOMEM;
        c->abuf = b;
        c->acap = ncap;
    }
    memcpy(c->abuf + c->alen, p, n);
    c->args[c->nargs].off = c->alen;
    c->args[c->nargs].len = n;
    c->alen += n;
    c->nargs++;
    return 0;
}

#define ARG(c, i) ((c)->abuf + (c)->args[i].off)
#define ARGLEN(c, i) ((c)->args[i].len)

/* ---- replies: appended to c->out, written once per command ------------ */

static void out_append(kv_conn_t *c, const void *p, size_t n)
{
    if (c->ocap - c->olen < n) {
        size_t ncap = c->ocap ? c->ocap : 256;
        char *b;
        while (ncap - c->olen < n)
            ncap *= 2;
        if (!(b = (char *)realloc(c->out, ncap))) {
            c->nomem = 1;
            return;
        }
        c->out = b;
        c->ocap = ncap;
    }
    memcpy(c->out + c->olen, p, n);
    c->olen += n;
}

static void out_printf(kv_conn_t *c, const char *fmt, long long v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, fmt, v);
    out_append(c, buf, (size_t)n);
}

static void reply_bulk(kv_conn_t *c, const char *p, size_t n)
{
    out_printf(c, "$%lld\r\n", (long long)n);
    out_append(c, p, n);
    out_append(c, "\r\n", 2);
}

#define REPLY(c, lit) out_append((c), lit "\r\n", sizeof lit + 1)

/* "-ERR ..." with a name from the request, made safe for one line. */
static void reply_err_name(kv_conn_t *c, const char *before, const char *name, size_t n, const char *after)
{
    size_t i;
    out_append(c, before, strlen(before));
    for (i = 0; i < n && i < 128; i++)
        out_append(c, name[i] == '\r' || name[i] == '\n' ? " " : &name[i], 1);
    out_append(c, after, strlen(after));
}

/* ---- the commands ----------------------------------------------------- */

/* Is [p, p+n) the upper-case word w, ignoring case? */
static int word_is(const char *p, size_t n, const char *w)
{
    size_t i;
    for (i = 0; i < n && w[i]; i++)
        if ((p[i] >= 'a' && p[i] <= 'z' ? p[i] - 32 : p[i]) != w[i])
            return 0;
    return i == n && !w[i];
}

/* A whole decimal long long, or -EINVAL. */
static int parse_ll(const char *p, size_t n, long long *out)
{
    char buf[24], *end;
    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, p, n);
    buf[n] = 0;
    errno = 0;
    *out = strtoll(buf, &end, 10);
    return errno || *end || buf[0] == ' ' || buf[0] == '+' || (buf[0] == '-' && *out == 0) ? -EINVAL : 0;
}

static void cmd_set(kv_conn_t *c, asyncio_loop *loop)
{
    entry_t *e;
    double ttl = 0;
    int nx = 0, xx = 0;
    size_t i;
    long long v;
    for (i = 3; i < c->nargs; i++) {
        int ex = word_is(ARG(c, i), ARGLEN(c, i), "EX"), px = word_is(ARG(c, i), ARGLEN(c, i), "PX");
        if ((ex || px) && !ttl && i + 1 < c->nargs) {
            if (parse_ll(ARG(c, i + 1), ARGLEN(c, i + 1), &v) < 0 || v <= 0) {
                REPLY(c, "-ERR invalid expire time in 'set' command");
                return;
            }
            ttl = ex ? (double)v : (double)v / 1000.0;
            i++;
        } else if (word_is(ARG(c, i), ARGLEN(c, i), "NX") && !xx)
            nx = 1;
        else if (word_is(ARG(c, i), ARGLEN(c, i), "XX") && !nx)
            xx = 1;
        else {
            REPLY(c, "-ERR syntax error");
            return;
        }
    }
    e = db_get(loop, ARG(c, 1), ARGLEN(c, 1));
    if ((nx && e) || (xx && !e)) {
        REPLY(c, "$-1"); /* not set: a nil reply */
        return;
    }
    if ((!e && !(e = db_put(loop, ARG(c, 1), ARGLEN(c, 1)))) || entry_set(e, ARG(c, 2), ARGLEN(c, 2)) < 0) {
        REPLY(c, "-ERR out of memory");
        return;
    }
    e->expires = ttl ? asyncio_loop_time(loop) + ttl : 0;
    REPLY(c, "+OK");
}

static void cmd_incr(kv_conn_t *c, asyncio_loop *loop, long long by)
{
    entry_t *e = db_get(loop, ARG(c, 1), ARGLEN(c, 1));
    long long v = 0;
    char buf[24];
    int n;
    if (e && parse_ll(e->val, e->vlen, &v) < 0) {
        REPLY(c, "-ERR value is not an integer or out of range");
        return;
    }
    if ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by)) {
        REPLY(c, "-ERR increment or decrement would overflow");
        return;
    }
    v += by;
    n = snprintf(buf, sizeof buf, "%lld", v);
    if ((!e && !(e = db_put(loop, ARG(c, 1), ARGLEN(c, 1)))) || entry_set(e, buf, (size_t)n) < 0) {
        REPLY(c, "-ERR out of memory");
        return;
    }
    out_printf(c, ":%lld\r\n", v);
}

/* CONFIG GET name...: the two settings redis-benchmark asks about (an
   empty array would do, but it then warns "Could not fetch server
   CONFIG"); nothing for any other name. */
static void cmd_config_get(kv_conn_t *c)
{
    static const char *const names[] = {"SAVE", "APPENDONLY"}, *const values[] = {"", "no"};
    size_t i, k, found = 0;
    for (k = 0; k < 2; k++)
        for (i = 2; i < c->nargs; i++)
            found += word_is(ARG(c, i), ARGLEN(c, i), names[k]);
    out_printf(c, "*%lld\r\n", (long long)found * 2);
    for (k = 0; k < 2; k++)
        for (i = 2; i < c->nargs; i++)
            if (word_is(ARG(c, i), ARGLEN(c, i), names[k])) {
                reply_bulk(c, k ? "appendonly" : "save", k ? 10 : 4);
                reply_bulk(c, values[k], strlen(values[k]));
            }
}

/* Run the command in c->args; its reply goes to c->out. */
static void execute(kv_conn_t *c, asyncio_loop *loop)
{
    const char *cmd = ARG(c, 0);
    size_t n = ARGLEN(c, 0), argc = c->nargs, i;
    long long count = 0;
    entry_t *e;
#define IS(name) word_is(cmd, n, name)
#define ARITY(ok)                                                              \
    if (!(ok)) {                                                               \
        reply_err_name(c, "-ERR wrong number of arguments for '", cmd, n, "' command\r\n"); \
        return;                                                                \
    }
    if (IS("GET")) {
        ARITY(argc == 2);
        if ((e = db_get(loop, ARG(c, 1), ARGLEN(c, 1))))
            reply_bulk(c, e->val, e->vlen);
        else
            REPLY(c, "$-1");
    } else if (IS("SET")) {
        ARITY(argc >= 3);
        cmd_set(c, loop);
    } else if (IS("INCR") || IS("DECR")) {
        ARITY(argc == 2);
        cmd_incr(c, loop, IS("INCR") ? 1 : -1);
    } else if (IS("PING")) {
        ARITY(argc <= 2);
        if (argc == 2)
            reply_bulk(c, ARG(c, 1), ARGLEN(c, 1));
        else
            REPLY(c, "+PONG");
    } else if (IS("ECHO")) {
        ARITY(argc == 2);
        reply_bulk(c, ARG(c, 1), ARGLEN(c, 1));
    } else if (IS("DEL") || IS("EXISTS")) {
        ARITY(argc >= 2);
        for (i = 1; i < argc; i++)
            if ((e = db_get(loop, ARG(c, i), ARGLEN(c, i)))) {
                count++;
                if (IS("DEL"))
                    db_remove((size_t)(e - db.slots));
            }
        out_printf(c, ":%lld\r\n", count);
    } else if (IS("DBSIZE")) {
        ARITY(argc == 1);
        out_printf(c, ":%lld\r\n", (long long)db.count);
    } else if (IS("FLUSHALL") || IS("FLUSHDB")) {
        ARITY(argc <= 2);
        db_flush();
        REPLY(c, "+OK");
    } else if (IS("COMMAND")) {
        REPLY(c, "*0"); /* no command table: redis-cli then has no hints */
    } else if (IS("CONFIG")) {
        ARITY(argc >= 2);
        if (word_is(ARG(c, 1), ARGLEN(c, 1), "GET"))
            cmd_config_get(c);
        else
            reply_err_name(c, "-ERR unknown subcommand '", ARG(c, 1), ARGLEN(c, 1), "'\r\n");
    } else if (IS("QUIT")) {
        REPLY(c, "+OK");
        c->stop = 1;
    } else
        reply_err_name(c, "-ERR unknown command '", cmd, n, "'\r\n");
#undef IS
#undef ARITY
}

/* ---- reading requests ------------------------------------------------- */

/* The number after the type byte of a "*N\r\n" or "$N\r\n" line. */
static int parse_header(const char *p, size_t n, long long *v)
{
    if (n < 3 || p[n - 2] != '\r' || p[n - 1] != '\n')
        return -EINVAL;
    return parse_ll(p + 1, n - 3, v);
}

/* An inline command: the line split on spaces and tabs. */
static int split_inline(kv_conn_t *c, const char *p, size_t n)
{
    size_t i = 0, start;
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    while (i < n) {
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        start = i;
        while (i < n && p[i] != ' ' && p[i] != '\t')
            i++;
        if (i > start && add_arg(c, p + start, i - start) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Reply with a protocol error, then close (what Redis does). */
static void protocol_error(kv_conn_t *c, const char *what)
{
    out_append(c, "-ERR Protocol error: ", 21);
    out_append(c, what, strlen(what));
    out_append(c, "\r\n", 2);
    c->stop = 1;
}

/* Write the replies built so far when the next read may wait: no request
   byte is left in the stream's buffer (or much is built up).  Pipelined
   commands thus get one write per batch, not one per reply.  0 or the
   connection's error. */
static int flush_replies(kv_conn_t *c, asyncio_stream *s, int force)
{
    int rc;
    if (!c->olen || (!force && asyncio_stream_buffered(s) > 0 && c->olen < FLUSH_ABOVE))
        return 0;
    rc = c->nomem ? -ENOMEM : asyncio_stream_write(s, c->out, c->olen);
    c->olen = 0;
    return rc;
}

static int handle_kv(asyncio_task *self, void *frame)
{
    kv_conn_t *f = (kv_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    const char *p;
    size_t n;
    ASYNCIO_BEGIN(self, &f->base);
    while (!f->stop) {
        f->nargs = f->alen = 0;
        if (flush_replies(f, s, 0) < 0)
            break;
        if (asyncio_stream_write_buffer_size(s) > DRAIN_ABOVE) {
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(s)); /* the client reads slowly */
            if (f->rc < 0)
                break;
        }
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, s));
        if (f->rc == ASYNCIO_ELIMIT) {
            protocol_error(f, "too big inline request");
        } else if (f->rc < 0 || ASYNCIO_RESULT().i == 0) {
            break; /* EOF or a connection error */
        } else if (asyncio_stream_data(s)[0] != '*') {
            if (split_inline(f, asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i) < 0)
                f->nomem = 1;
        } else if (parse_header(asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i, &f->want) < 0 ||
                   f->want > MAX_ARGS) {
            protocol_error(f, "invalid multibulk length");
        } else {
            /* f->want bulk strings: "$LEN\r\n" then LEN bytes and "\r\n" */
            while ((long long)f->nargs < f->want && !f->stop) {
                if (flush_replies(f, s, 0) < 0) {
                    f->stop = 1;
                    break;
                }
                ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, s));
                if (f->rc < 0 || ASYNCIO_RESULT().i == 0) {
                    f->stop = 1; /* EOF inside a request, or a line past the limit */
                    break;
                }
                p = asyncio_stream_data(s);
                n = (size_t)ASYNCIO_RESULT().i;
                if (p[0] != '$') {
                    protocol_error(f, "expected '$'");
                    break;
                }
                if (parse_header(p, n, &f->blen) < 0 || f->blen < 0 || f->blen > MAX_BULK) {
                    protocol_error(f, "invalid bulk length");
                    break;
                }
                if (flush_replies(f, s, 0) < 0) {
                    f->stop = 1;
                    break;
                }
                /* (the argument is re-evaluated on resumption: frame members only) */
                ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader,
                                      asyncio_stream_readexactly(&f->rd, s, (size_t)f->blen + 2));
                if (f->rc < 0) {
                    f->stop = 1;
                    break;
                }
                p = asyncio_stream_data(s);
                if (p[f->blen] != '\r' || p[f->blen + 1] != '\n') {
                    protocol_error(f, "bulk string not followed by CRLF");
                    break;
                }
                if (add_arg(f, p, (size_t)f->blen) < 0) {
                    f->nomem = 1;
                    break;
                }
            }
        }
        if (f->nomem)
            break;
        if (!f->stop && f->nargs > 0)
            execute(f, ASYNCIO_LOOP()); /* its reply joins the batch in f->out */
    }
    ASYNCIO_FINALLY; /* on EOF, errors, QUIT and cancellation */
    flush_replies(f, s, 1); /* QUIT's +OK, a protocol error's message */
    free(f->abuf);
    free(f->args);
    free(f->out);
    f->abuf = f->out = NULL;
    f->args = NULL;
    ASYNCIO_END(); /* the server flushes and closes the connection */
}

/* ---- main ----------------------------------------------------------- */

int main(int argc, char **argv)
{
    int status = serve_main(argc, argv, PROGRAM, handle_kv, sizeof(kv_conn_t), 1, SERVE_PLAIN); /* one store: one loop */
    db_flush(); /* the handlers have freed their buffers (ASYNCIO_FINALLY) */
    return status;
}
