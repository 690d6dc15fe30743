/* kv_server.c -- an in-memory key-value server speaking RESP (Redis's protocol).

   Shows: a server reading requests into a per-connection buffer with
   asyncio_stream_read and cutting them out with a parser that keeps its
   place between reads (resp.h: bytes in, "need more", a request or an
   error out -- fuzzed by tests/fuzz/fuzz_resp.c); replies built in a
   per-connection buffer and written with one asyncio_stream_write per
   batch, when asyncio_stream_buffered says no request byte is left to
   read (so a pipeline of 16 commands costs one send, not 16), and a drain
   whenever the output piles up, even in the middle of a batch (so
   requests that are small but ask for a big value cannot pile it up);
   per connection state freed by ASYNCIO_FINALLY however the connection
   ends; shared state (one hash table) needing no lock, since every handler
   runs on the one loop thread; a timer that comes back while there is
   work for it.

   Against hostile clients, as Redis does:
   - keys are hashed with SipHash-1-2 under a random key drawn at start
     (from /dev/urandom), so nobody can choose keys that collide; the
     order KEYS lists them in differs from run to run;
   - numbers (INCR's values, INCRBY's increment, EX / PX) are taken only
     when written exactly as Redis writes them, with Redis's error texts,
     and a refused INCR leaves the value as it was;
   - keys with a TTL are also reclaimed untouched: every 100 ms a cycle
     looks at 20 of them at a time, again while more than 1 in 10 had
     expired, for at most 25 ms;
   - a request is refused as soon as one argument would exceed
     --proto-max-bulk-len (512mb) or the whole of it, its argument table
     counted, --client-query-buffer-limit (1gb), before the bytes arrive;
     the client gets the error and is closed;
   - --timeout SECONDS (0, the default: never) closes a client idle that
     long (the server's read timeout).

   Mirrors (the shape of it, in Python):

       db = {}

       async def handle(reader, writer):
           buf, out = bytearray(), bytearray()
           try:
               while True:
                   request, used = parse(buf)       # None: need more
                   if request is not None:
                       del buf[:used]
                       out += execute(db, request)
                   if len(out) >= 65536 or (request is None and not reader._buffer):
                       writer.write(out)            # the batch's replies: the next read may wait
                       out.clear()
                   if writer.transport.get_write_buffer_size() > 65536:
                       await writer.drain()         # the client reads slowly
                   if request is None:
                       data = await reader.read(65536)
                       if not data:
                           break
                       buf += data
           finally:
               writer.write(out)
               writer.close()

   Run:    make examples && build/examples/kv_server 6380 [HOST]
           (PORT 0 picks a free port; HOST defaults to 127.0.0.1)
           redis-cli -p 6380 set greeting hello      ->  OK
           redis-cli -p 6380 get greeting            ->  "hello"
           redis-benchmark -p 6380 -t ping,set,get,incr -n 100000 -q -P 16
   Options (before the port; sizes in bytes or with k, kb, m, mb, g, gb
   as Redis's config takes them): --timeout SECONDS,
   --proto-max-bulk-len SIZE, --client-query-buffer-limit SIZE.

   Prints once it listens, then runs until Ctrl-C / SIGTERM (exit 0):
       listening on 127.0.0.1:6380

   Commands: PING [msg], ECHO msg, SET key value [EX s | PX ms] [NX | XX],
   GET, INCR, DECR, INCRBY, DECRBY, DEL key..., EXISTS key..., KEYS
   pattern (glob-style: * ? [a-z] [^x] \x), DBSIZE, FLUSHALL / FLUSHDB
   [ASYNC | SYNC], COMMAND (an empty array: enough for redis-cli's
   start-up), CONFIG GET (answers only "save" and "appendonly", which
   redis-benchmark asks for), QUIT.  Others get "-ERR unknown command
   'X'".  Inline commands ("PING\r\n", split on white space, no quoting)
   work too. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h" /* PORT [HOST], start the server, stop on SIGINT / SIGTERM */
#include "resp.h"  /* the request parser */

#define PROGRAM "kv_server"
#define READ_CHUNK 16384          /* room offered to each read, at least */
#define QUERY_KEEP (256 * 1024)   /* a bigger request buffer is freed once empty */
#define OUT_KEEP (256 * 1024)     /* a bigger reply buffer is freed once written */
#define FLUSH_ABOVE 65536         /* write replies at least this often */
#define DRAIN_ABOVE 65536         /* await drain once this much output is queued */
#define EXPIRE_EVERY 0.1          /* seconds between active expiry cycles (Redis's hz 10) */
#define EXPIRE_SAMPLE 20          /* keys with a TTL looked at per pass */
#define EXPIRE_STALE 10           /* another pass while more than this % of them had expired */
#define EXPIRE_BUDGET 0.025       /* seconds a cycle may take: a quarter of the interval */

/* the command line's limits (Redis's config names and defaults) */
static size_t proto_max_bulk_len = (size_t)512 << 20;
static size_t client_query_buffer_limit = (size_t)1 << 30;

/* ---- SipHash-1-2 (Aumasson and Bernstein), keyed at start ------------- */

static uint64_t sip_key[2];

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13) ^ v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17) ^ v[2];
    v[2] = ROTL(v[2], 32);
}

/* One compression round per 8-byte word, two to finish: Redis's choice
   for its tables, where speed matters and the output stays secret. */
static uint64_t hash_key(const char *p, size_t n)
{
    uint64_t v[4], m;
    size_t i, j;
    v[0] = sip_key[0] ^ 0x736f6d6570736575ull;
    v[1] = sip_key[1] ^ 0x646f72616e646f6dull;
    v[2] = sip_key[0] ^ 0x6c7967656e657261ull;
    v[3] = sip_key[1] ^ 0x7465646279746573ull;
    for (i = 0;; i += 8) { /* the last word: what is left, the length in its top byte */
        m = i + 8 <= n ? 0 : (uint64_t)n << 56;
        for (j = 0; j < 8 && i + j < n; j++)
            m |= (uint64_t)(unsigned char)p[i + j] << (8 * j);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
        if (i + 8 > n)
            break;
    }
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- the database: open addressing, linear probing -------------------- */

typedef struct {
    char *key;          /* NULL: an empty slot */
    size_t klen;
    char *val;
    size_t vlen, vcap;
    uint64_t hash;
    double expires;     /* loop time at which the key goes; 0: never */
    size_t vol;         /* with a TTL: where db.vol lists this slot */
} entry_t;

static struct {
    entry_t *slots;
    size_t cap, count;  /* cap: a power of two, or 0 */
    size_t *vol;        /* the slots of the keys with a TTL, for active expiry */
    size_t nvol, capvol, cursor; /* cursor: where in vol the next cycle looks */
    asyncio_handle expiry;
    int expiry_armed;
} db;

/* The slot holding key, or the empty slot where it would go. */
static size_t db_slot(const char *key, size_t klen, uint64_t h)
{
    size_t mask = db.cap - 1, i = (size_t)h & mask;
    while (db.slots[i].key &&
           !(db.slots[i].hash == h && db.slots[i].klen == klen && memcmp(db.slots[i].key, key, klen) == 0))
        i = (i + 1) & mask;
    return i;
}

/* An entry now lives in slot i: db.vol must say so. */
static void slot_moved(size_t i)
{
    if (db.slots[i].expires)
        db.vol[db.slots[i].vol] = i;
}

/* Give slot i's entry a TTL (a loop time) or none (0). */
static int entry_expire(size_t i, double when)
{
    entry_t *e = &db.slots[i];
    if (when && !e->expires) {
        if (db.nvol == db.capvol) {
            size_t ncap = db.capvol ? db.capvol * 2 : 64, *v = (size_t *)realloc(db.vol, ncap * sizeof *v);
            if (!v)
                return -ENOMEM;
            db.vol = v;
            db.capvol = ncap;
        }
        e->vol = db.nvol++;
        db.vol[e->vol] = i;
    } else if (!when && e->expires) { /* the last one takes its place */
        db.vol[e->vol] = db.vol[--db.nvol];
        db.slots[db.vol[e->vol]].vol = e->vol;
    }
    e->expires = when;
    return 0;
}

/* Remove slot i, shifting back the entries after it that probed past it
   (no tombstones). */
static void db_remove(size_t i)
{
    size_t mask = db.cap - 1, j = i, home;
    entry_expire(i, 0);
    free(db.slots[i].key);
    free(db.slots[i].val);
    db.slots[i].key = db.slots[i].val = NULL;
    db.count--;
    for (;;) {
        j = (j + 1) & mask;
        if (!db.slots[j].key)
            break;
        home = (size_t)db.slots[j].hash & mask;
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue; /* its home lies between the hole and it: stays */
        db.slots[i] = db.slots[j];
        slot_moved(i);
        db.slots[j].key = db.slots[j].val = NULL;
        i = j;
    }
}

static int expired(asyncio_loop *loop, const entry_t *e)
{
    return e->expires && asyncio_loop_time(loop) >= e->expires;
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
    if (expired(loop, &db.slots[i])) {
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
    for (i = 0; i < ncap; i++)
        if (slots[i].key)
            slot_moved(i);
    return 0;
}

/* A new entry for key (not in the table), its value empty; NULL when out
   of memory. */
static entry_t *db_add(const char *key, size_t klen)
{
    uint64_t h;
    entry_t *e;
    if ((db.count + 1) * 4 > db.cap * 3 && db_grow() < 0)
        return NULL;
    h = hash_key(key, klen);
    e = &db.slots[db_slot(key, klen, h)];
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
        if (db.slots[i].key) {
            free(db.slots[i].key);
            free(db.slots[i].val);
        }
    free(db.slots);
    free(db.vol);
    db.slots = NULL;
    db.vol = NULL;
    db.cap = db.count = db.nvol = db.capvol = db.cursor = 0;
}

/* ---- active expiry: what nobody touches goes too ---------------------- */

/* Redis's cycle: look at EXPIRE_SAMPLE keys with a TTL, remove the
   expired ones, and go again while many were -- then the table holds
   many more -- but stop at the budget, so clients wait at most that.
   Keys are taken in db.vol's order from where the last cycle stopped. */
static void expire_cycle(asyncio_loop *loop, void *arg)
{
    double start = asyncio_loop_time(loop), now = start;
    size_t looked, gone;
    (void)arg;
    do {
        for (looked = gone = 0; looked < EXPIRE_SAMPLE && db.nvol; looked++) {
            if (db.cursor >= db.nvol)
                db.cursor = 0;
            if (now >= db.slots[db.vol[db.cursor]].expires) {
                db_remove(db.vol[db.cursor]); /* the last key takes its place in vol: looked at next */
                gone++;
            } else
                db.cursor++;
        }
        now = asyncio_loop_time(loop);
    } while (gone * 100 > looked * EXPIRE_STALE && now - start < EXPIRE_BUDGET);
    db.expiry_armed = db.nvol && asyncio_call_later(loop, &db.expiry, EXPIRE_EVERY, expire_cycle, NULL) == 0;
}

/* A key got a TTL: make sure the cycle runs (it stops once none is left). */
static void expiry_start(asyncio_loop *loop)
{
    if (!db.expiry_armed)
        db.expiry_armed = asyncio_call_later(loop, &db.expiry, EXPIRE_EVERY, expire_cycle, NULL) == 0;
}

/* ---- a connection ----------------------------------------------------- */

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    int rc, stop;            /* stop: close after the replies so far */
    resp_parser req;         /* how far the request being read has got */
    char *q;                 /* bytes read: q[qstart, qlen) not taken yet */
    size_t qstart, qlen, qcap;
    const char *args;        /* the request being run: where req.argv's offsets start */
    char *out;               /* the replies not yet written */
    size_t olen, ocap;
    int nomem;               /* a buffer could not grow: close */
} kv_conn_t;

#define ARG(c, i) ((c)->args + (c)->req.argv[i].off)
#define ARGLEN(c, i) ((c)->req.argv[i].len)

/* Room for the next read.  The request being read moves to the front
   when it is not there yet (only its first read after the one before it
   moves it: no byte moves twice); the buffer grows by doubling, but for
   a long bulk string only to where it ends; it is freed once empty after
   a big request, so a connection does not keep its largest one. */
static int query_room(kv_conn_t *c)
{
    size_t keep = c->qlen - c->qstart, room, ncap;
    char *q;
    if (c->qstart) {
        memmove(c->q, c->q + c->qstart, keep);
        c->qlen = keep;
        c->qstart = 0;
    }
    if (!keep && c->qcap > QUERY_KEEP) {
        free(c->q);
        c->q = NULL;
        c->qcap = 0;
    }
    room = c->qcap - c->qlen;
    if (room >= READ_CHUNK || (c->req.need > c->qlen && room >= c->req.need - c->qlen))
        return 0;
    ncap = c->qcap * 2 > c->qlen + READ_CHUNK ? c->qcap * 2 : c->qlen + READ_CHUNK;
    if (c->req.need > c->qlen + READ_CHUNK && ncap > c->req.need)
        ncap = c->req.need;
    if (!(q = (char *)realloc(c->q, ncap)))
        return -ENOMEM;
    c->q = q;
    c->qcap = ncap;
    return 0;
}

/* ---- replies: appended to c->out -------------------------------------- */

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
    if (n)
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

/* Write the replies built so far.  0 or the connection's error. */
static int flush_replies(kv_conn_t *c, asyncio_stream *s)
{
    int rc = c->nomem ? -ENOMEM : c->olen ? asyncio_stream_write(s, c->out, c->olen) : 0;
    c->olen = 0;
    if (c->ocap > OUT_KEEP) { /* a big reply's buffer: the stream holds a copy now */
        free(c->out);
        c->out = NULL;
        c->ocap = 0;
    }
    return rc;
}

/* ---- the commands ----------------------------------------------------- */

/* Is [p, p+n) the lower-case word w, ignoring case? */
static int word_is(const char *p, size_t n, const char *w)
{
    size_t i;
    for (i = 0; i < n && w[i]; i++)
        if ((p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]) != w[i])
            return 0;
    return i == n && !w[i];
}

#define ARG_IS(c, i, w) word_is(ARG(c, i), ARGLEN(c, i), w)

/* Argument i as Redis's getLongLongFromObjectOrReply takes it: 1, or 0
   after replying the error. */
static int arg_ll(kv_conn_t *c, size_t i, long long *v)
{
    if (resp_ll(ARG(c, i), ARGLEN(c, i), v))
        return 1;
    REPLY(c, "-ERR value is not an integer or out of range");
    return 0;
}

static void cmd_get(kv_conn_t *c, asyncio_loop *loop)
{
    entry_t *e = db_get(loop, ARG(c, 1), ARGLEN(c, 1));
    if (e)
        reply_bulk(c, e->val, e->vlen);
    else
        REPLY(c, "$-1");
}

/* SET key value [NX | XX] [EX s | PX ms]: the options as Redis 7 reads
   them -- all of them first (a repeated EX: the last counts), then the
   TTL's value. */
static void cmd_set(kv_conn_t *c, asyncio_loop *loop)
{
    enum { NX = 1, XX = 2, EX = 4, PX = 8 };
    int flags = 0;
    size_t i, ttl = 0;
    long long ms;
    double expires = 0;
    entry_t *e;
    for (i = 3; i < c->req.argc; i++) {
        int next = i + 1 < c->req.argc;
        if (ARG_IS(c, i, "nx") && !(flags & XX))
            flags |= NX;
        else if (ARG_IS(c, i, "xx") && !(flags & NX))
            flags |= XX;
        else if ((ARG_IS(c, i, "ex") && !(flags & PX) && next) || (ARG_IS(c, i, "px") && !(flags & EX) && next)) {
            flags |= ARG_IS(c, i, "ex") ? EX : PX;
            ttl = ++i;
        } else {
            REPLY(c, "-ERR syntax error");
            return;
        }
    }
    if (ttl) {
        if (!arg_ll(c, ttl, &ms))
            return;
        /* Redis keeps the deadline as Unix time in ms in a long long:
           what would not fit is refused, here too */
        if ((flags & EX) && ms > 0)
            ms = ms <= LLONG_MAX / 1000 ? ms * 1000 : -1;
        if (ms <= 0 || ms > LLONG_MAX - (long long)time(NULL) * 1000) {
            REPLY(c, "-ERR invalid expire time in 'set' command");
            return;
        }
        expires = asyncio_loop_time(loop) + (double)ms / 1000;
    }
    e = db_get(loop, ARG(c, 1), ARGLEN(c, 1));
    if (((flags & NX) && e) || ((flags & XX) && !e)) {
        REPLY(c, "$-1"); /* not set: a nil reply */
        return;
    }
    if ((!e && !(e = db_add(ARG(c, 1), ARGLEN(c, 1)))) || entry_set(e, ARG(c, 2), ARGLEN(c, 2)) < 0 ||
        entry_expire((size_t)(e - db.slots), expires) < 0) {
        REPLY(c, "-ERR out of memory");
        return;
    }
    if (expires)
        expiry_start(loop);
    REPLY(c, "+OK");
}

/* Redis's incrDecrCommand: the value must be a number as resp_ll takes
   it, the sum must fit; otherwise the value stays. */
static void incr_by(kv_conn_t *c, asyncio_loop *loop, long long by)
{
    entry_t *e = db_get(loop, ARG(c, 1), ARGLEN(c, 1));
    long long v = 0;
    char buf[24];
    int n;
    if (e && !resp_ll(e->val, e->vlen, &v)) {
        REPLY(c, "-ERR value is not an integer or out of range");
        return;
    }
    if ((by < 0 && v < 0 && by < LLONG_MIN - v) || (by > 0 && v > 0 && by > LLONG_MAX - v)) {
        REPLY(c, "-ERR increment or decrement would overflow");
        return;
    }
    v += by;
    n = snprintf(buf, sizeof buf, "%lld", v);
    if ((!e && !(e = db_add(ARG(c, 1), ARGLEN(c, 1)))) || entry_set(e, buf, (size_t)n) < 0) {
        REPLY(c, "-ERR out of memory");
        return;
    }
    out_printf(c, ":%lld\r\n", v);
}

static void cmd_incr(kv_conn_t *c, asyncio_loop *loop) { incr_by(c, loop, 1); }
static void cmd_decr(kv_conn_t *c, asyncio_loop *loop) { incr_by(c, loop, -1); }

static void cmd_incrby(kv_conn_t *c, asyncio_loop *loop)
{
    long long by;
    if (arg_ll(c, 2, &by))
        incr_by(c, loop, by);
}

static void cmd_decrby(kv_conn_t *c, asyncio_loop *loop)
{
    long long by;
    if (!arg_ll(c, 2, &by))
        return;
    if (by == LLONG_MIN) /* -by would not fit */
        REPLY(c, "-ERR decrement would overflow");
    else
        incr_by(c, loop, -by);
}

static void cmd_del_exists(kv_conn_t *c, asyncio_loop *loop, int del)
{
    long long count = 0;
    size_t i;
    entry_t *e;
    for (i = 1; i < c->req.argc; i++)
        if ((e = db_get(loop, ARG(c, i), ARGLEN(c, i)))) {
            count++;
            if (del)
                db_remove((size_t)(e - db.slots));
        }
    out_printf(c, ":%lld\r\n", count);
}

static void cmd_del(kv_conn_t *c, asyncio_loop *loop) { cmd_del_exists(c, loop, 1); }
static void cmd_exists(kv_conn_t *c, asyncio_loop *loop) { cmd_del_exists(c, loop, 0); }

/* The pattern token at p[i] (one of [p, p+m)) against the character ch:
   where the next token starts if it matches, 0 if not.  A '[' without
   its ']' runs to the pattern's end, as in Redis. */
static size_t glob_one(const char *p, size_t m, size_t i, char ch)
{
    int neg, hit = 0;
    if (p[i] == '?')
        return i + 1;
    if (p[i] == '\\' && i + 1 < m)
        return p[i + 1] == ch ? i + 2 : 0;
    if (p[i] != '[')
        return p[i] == ch ? i + 1 : 0;
    neg = ++i < m && p[i] == '^';
    for (i += (size_t)neg; i < m && p[i] != ']'; i++) {
        if (p[i] == '\\' && i + 1 < m)
            hit |= p[++i] == ch;
        else if (i + 2 < m && p[i + 1] == '-') { /* a range, either way round */
            unsigned char lo = (unsigned char)p[i], hi = (unsigned char)p[i + 2], x = (unsigned char)ch;
            hit |= lo <= hi ? lo <= x && x <= hi : hi <= x && x <= lo;
            i += 2;
        } else
            hit |= p[i] == ch;
    }
    return hit != neg ? (i < m ? i + 1 : m) : 0;
}

/* Does [s, s+n) match the glob pattern [p, p+m)?  Every token but '*'
   takes one character, so on a mismatch only the last '*' need take one
   more: O(n * m) at worst, never exponential (Redis's recursive matcher
   needed a limit for that). */
static int glob_match(const char *p, size_t m, const char *s, size_t n)
{
    size_t pi = 0, si = 0, star = 0, star_s = 0, next;
    int seen_star = 0;
    while (si < n) {
        if (pi < m && p[pi] == '*') {
            star = ++pi;
            star_s = si;
            seen_star = 1;
        } else if (pi < m && (next = glob_one(p, m, pi, s[si])) != 0) {
            pi = next;
            si++;
        } else if (seen_star) {
            pi = star;
            si = ++star_s;
        } else
            return 0;
    }
    while (pi < m && p[pi] == '*')
        pi++;
    return pi == m;
}

/* KEYS pattern: in the table's order, which the hash key decides. */
static void cmd_keys(kv_conn_t *c, asyncio_loop *loop)
{
    const char *p = ARG(c, 1);
    size_t m = ARGLEN(c, 1), i, n = 0;
    int pass;
    for (pass = 0; pass < 2; pass++) { /* count, then list */
        if (pass)
            out_printf(c, "*%lld\r\n", (long long)n);
        for (i = 0; i < db.cap; i++) {
            entry_t *e = &db.slots[i];
            if (e->key && !expired(loop, e) && glob_match(p, m, e->key, e->klen)) {
                if (pass)
                    reply_bulk(c, e->key, e->klen);
                else
                    n++;
            }
        }
    }
}

static void cmd_ping(kv_conn_t *c, asyncio_loop *loop)
{
    (void)loop;
    if (c->req.argc > 2)
        reply_err_name(c, "-ERR wrong number of arguments for '", "ping", 4, "' command\r\n");
    else if (c->req.argc == 2)
        reply_bulk(c, ARG(c, 1), ARGLEN(c, 1));
    else
        REPLY(c, "+PONG");
}

static void cmd_echo(kv_conn_t *c, asyncio_loop *loop)
{
    (void)loop;
    reply_bulk(c, ARG(c, 1), ARGLEN(c, 1));
}

static void cmd_dbsize(kv_conn_t *c, asyncio_loop *loop)
{
    (void)loop;
    out_printf(c, ":%lld\r\n", (long long)db.count);
}

static void cmd_flush(kv_conn_t *c, asyncio_loop *loop)
{
    (void)loop;
    if (c->req.argc > 2 || (c->req.argc == 2 && !ARG_IS(c, 1, "async") && !ARG_IS(c, 1, "sync"))) {
        REPLY(c, "-ERR syntax error");
        return;
    }
    db_flush();
    REPLY(c, "+OK");
}

static void cmd_command(kv_conn_t *c, asyncio_loop *loop)
{
    (void)loop;
    REPLY(c, "*0"); /* no command table: redis-cli then has no hints */
}

/* CONFIG GET name...: the two settings redis-benchmark asks about (an
   empty array would do, but it then warns "Could not fetch server
   CONFIG"); nothing for any other name. */
static void cmd_config(kv_conn_t *c, asyncio_loop *loop)
{
    static const char *const names[] = {"save", "appendonly"}, *const values[] = {"", "no"};
    size_t i, k, found = 0;
    (void)loop;
    if (!ARG_IS(c, 1, "get")) {
        reply_err_name(c, "-ERR unknown subcommand '", ARG(c, 1), ARGLEN(c, 1), "'\r\n");
        return;
    }
    for (k = 0; k < 2; k++)
        for (i = 2; i < c->req.argc; i++)
            found += ARG_IS(c, i, names[k]);
    out_printf(c, "*%lld\r\n", (long long)found * 2);
    for (k = 0; k < 2; k++)
        for (i = 2; i < c->req.argc; i++)
            if (ARG_IS(c, i, names[k])) {
                reply_bulk(c, names[k], strlen(names[k]));
                reply_bulk(c, values[k], strlen(values[k]));
            }
}

static void cmd_quit(kv_conn_t *c, asyncio_loop *loop)
{
    (void)loop;
    REPLY(c, "+OK");
    c->stop = 1;
}

static const struct {
    const char *name; /* lower case: errors name it so, as Redis does */
    int arity;        /* Redis's: n arguments (the name counted), -n at least n */
    void (*run)(kv_conn_t *c, asyncio_loop *loop);
} commands[] = {
    {"get", 2, cmd_get},         {"set", -3, cmd_set},         {"incr", 2, cmd_incr},
    {"decr", 2, cmd_decr},       {"incrby", 3, cmd_incrby},    {"decrby", 3, cmd_decrby},
    {"ping", -1, cmd_ping},      {"echo", 2, cmd_echo},        {"del", -2, cmd_del},
    {"exists", -2, cmd_exists},  {"keys", 2, cmd_keys},        {"dbsize", 1, cmd_dbsize},
    {"flushall", -1, cmd_flush}, {"flushdb", -1, cmd_flush},   {"command", -1, cmd_command},
    {"config", -2, cmd_config},  {"quit", -1, cmd_quit},
};

/* Run the request (c->args, c->req); its reply goes to c->out. */
static void execute(kv_conn_t *c, asyncio_loop *loop)
{
    size_t k, argc = c->req.argc;
    for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (ARG_IS(c, 0, commands[k].name)) {
            int a = commands[k].arity;
            if (a > 0 ? argc != (size_t)a : argc < (size_t)-a)
                reply_err_name(c, "-ERR wrong number of arguments for '", commands[k].name,
                               strlen(commands[k].name), "' command\r\n");
            else
                commands[k].run(c, loop);
            return;
        }
    reply_err_name(c, "-ERR unknown command '", ARG(c, 0), ARGLEN(c, 0), "'\r\n");
}

/* ---- reading requests ------------------------------------------------- */

static int handle_kv(asyncio_task *self, void *frame)
{
    kv_conn_t *f = (kv_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    size_t n;
    ASYNCIO_BEGIN(self, &f->base);
    resp_init(&f->req, proto_max_bulk_len, client_query_buffer_limit);
    for (;;) {
        f->rc = resp_parse(&f->req, f->q ? f->q + f->qstart : "", f->qlen - f->qstart); /* (no buffer before a read) */
        if (f->rc == RESP_REQUEST) {
            f->args = f->q + f->qstart;
            if (f->req.argc) /* "*0\r\n" and blank lines: nothing, as in Redis */
                execute(f, ASYNCIO_LOOP());
            f->qstart += f->req.used;
        } else if (f->rc == RESP_ERROR) {
            out_append(f, "-", 1); /* then close, as Redis does */
            out_append(f, f->req.err, strlen(f->req.err));
            out_append(f, "\r\n", 2);
            f->stop = 1;
        }
        if (f->stop || f->nomem)
            break;
        /* write the batch when the next read may wait, or when it is big */
        if (f->olen &&
            (f->olen >= FLUSH_ABOVE || (f->rc == RESP_MORE && !asyncio_stream_buffered(s))) &&
            flush_replies(f, s) < 0)
            break;
        if (asyncio_stream_write_buffer_size(s) > DRAIN_ABOVE) {
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(s)); /* the client reads slowly */
            if (f->rc < 0)
                break;
            continue; /* f->rc no longer says what the parser said */
        }
        if (f->rc == RESP_REQUEST)
            continue;
        if (query_room(f) < 0)
            break;
        /* (the argument is re-evaluated on resumption: frame members only) */
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, s, f->qcap - f->qlen));
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
            break; /* EOF, a connection error, or idle past --timeout */
        n = (size_t)ASYNCIO_RESULT().i;
        memcpy(f->q + f->qlen, asyncio_stream_data(s), n);
        f->qlen += n;
    }
    ASYNCIO_FINALLY; /* on EOF, errors, QUIT and cancellation */
    flush_replies(f, s); /* QUIT's +OK, a protocol error's message */
    resp_free(&f->req);
    free(f->q);
    free(f->out);
    f->q = f->out = NULL;
    ASYNCIO_END(); /* the server flushes and closes the connection */
}

/* ---- main ----------------------------------------------------------- */

/* A size as Redis's config takes it: bytes, or a number with a unit (k
   1000, kb 1024, m, mb, g, gb, any case); 0 if it is not one. */
static size_t parse_size(const char *arg)
{
    static const struct {
        const char *unit;
        unsigned long long times;
    } units[] = {{"", 1},          {"b", 1},           {"k", 1000},       {"kb", 1024},
                 {"m", 1000000},   {"mb", 1024 * 1024}, {"g", 1000000000}, {"gb", 1024 * 1024 * 1024}};
    unsigned long long v;
    char *end;
    size_t i;
    if (*arg < '0' || *arg > '9')
        return 0;
    errno = 0;
    v = strtoull(arg, &end, 10);
    for (i = 0; i < sizeof units / sizeof units[0]; i++)
        if (word_is(end, strlen(end), units[i].unit))
            return errno || v > (unsigned long long)SIZE_MAX / 4 / units[i].times ? 0 : (size_t)(v * units[i].times);
    return 0;
}

int main(int argc, char **argv)
{
    FILE *urandom;
    int i, status;
    long timeout = 0;
    for (i = 1; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--timeout") == 0)
            timeout = parse_number(argv[i + 1], 0, INT_MAX);
        else if (strcmp(argv[i], "--proto-max-bulk-len") == 0)
            proto_max_bulk_len = parse_size(argv[i + 1]);
        else if (strcmp(argv[i], "--client-query-buffer-limit") == 0)
            client_query_buffer_limit = parse_size(argv[i + 1]);
        else
            timeout = -1;
        if (timeout < 0 || proto_max_bulk_len < 1024 * 1024 || client_query_buffer_limit < 1024 * 1024) {
            fprintf(stderr, "usage: %s [--timeout SECONDS] [--proto-max-bulk-len SIZE] "
                            "[--client-query-buffer-limit SIZE] PORT [HOST]\n"
                            "  (SIZE: bytes, or with a unit: k, kb, m, mb, g, gb; at least 1mb)\n", PROGRAM);
            return 2;
        }
    }
    /* the hash key: without it, keys that collide can be worked out */
    if (!(urandom = fopen("/dev/urandom", "rb")) || fread(sip_key, sizeof sip_key, 1, urandom) != 1) {
        fprintf(stderr, "%s: /dev/urandom: %s\n", PROGRAM, urandom ? "short read" : strerror(errno));
        if (urandom)
            fclose(urandom);
        return 1;
    }
    fclose(urandom);
    serve_options.read_timeout = (double)timeout; /* Redis's timeout: an idle client is closed */
    argv[i - 1] = argv[0]; /* serve_main reads the rest: PORT [HOST] */
    status = serve_main(argc - i + 1, argv + i - 1, PROGRAM, handle_kv, sizeof(kv_conn_t), 1, SERVE_PLAIN); /* one store: one loop */
    db_flush(); /* the handlers have freed their buffers (ASYNCIO_FINALLY) */
    return status;
}
