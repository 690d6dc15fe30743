/* resp.h -- the request side of RESP (Redis's protocol), as kv_server
   reads it: a parser over bytes, with nothing of asyncio.h in it, so that
   tests/fuzz/fuzz_resp.c can drive it alone.

   resp_parse(p, buf, len) looks at the bytes of one request, buf[0]
   being its first, and answers RESP_MORE (nothing is wrong so far; call
   again once the buffer holds at least p->need bytes, the same ones and
   more after them), RESP_REQUEST (a whole request of p->used bytes, its
   p->argc arguments at p->argv: drop those bytes, then call again for
   the next one) or RESP_ERROR (p->err says what, as Redis words it;
   the connection cannot be read further: it stays so).  Progress is kept
   in p between calls, so a request arriving in many pieces is read once,
   not again from its start with every piece; and everything it keeps
   is an offset from buf, so the buffer may move between calls.

   Two forms, as Redis reads them:
     "*N\r\n" then N bulk strings "$LEN\r\n" LEN bytes "\r\n" (N <= 0:
       an empty request, which Redis skips);
     an inline request: one line split on white space (no quoting).
   Refused (the texts are Redis 7's): numbers that are not exactly what
   Redis's string2ll takes (resp_ll below); a count above INT_MAX; a
   bulk longer than max_bulk (proto-max-bulk-len) or negative; a line
   longer than 64 KiB; a request whose bytes and argument table would
   exceed max_request (client-query-buffer-limit), refused as soon as a
   bulk's length says so, before its bytes arrive.  Stricter than Redis:
   a bulk string must be followed by exactly "\r\n" and a count line end
   with it (Redis skips any two bytes), a NUL in a count is refused
   (Redis waits for more), and the 64 KiB line limit holds whether or
   not the line's end has arrived, so the answer never depends on how the
   bytes were split into reads. */
#ifndef EXAMPLES_RESP_H
#define EXAMPLES_RESP_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RESP_MAX_LINE
#define RESP_MAX_LINE 65536 /* Redis's PROTO_INLINE_MAX_SIZE (a fuzzer sets less, to reach it) */
#endif
#define RESP_KEEP_ARGS 1024 /* a bigger argument table is freed between requests */

enum { RESP_MORE, RESP_REQUEST, RESP_ERROR };

typedef struct {
    size_t off, len; /* buf[off, off + len) */
} resp_arg;

typedef struct {
    size_t max_bulk, max_request; /* limits: resp_init's */
    /* the answer */
    resp_arg *argv;  /* RESP_REQUEST: argc arguments */
    size_t argc;
    size_t used;     /* RESP_REQUEST: the request's bytes */
    size_t need;     /* RESP_MORE: bytes the buffer must hold to go on */
    const char *err; /* RESP_ERROR: the error reply, without '-' and CRLF */
    /* progress through the request */
    int state;
    size_t pos, cap;    /* pos: bytes of the request taken so far */
    size_t scan;        /* where the search for the current line's end goes on */
    long long left;     /* bulk strings still to come */
    long long bulk;     /* the next one's length; -1: its "$LEN" line is next */
    char errbuf[64];
} resp_parser;

enum { RESP_START, RESP_INLINE, RESP_ARRAY, RESP_DONE, RESP_FAILED }; /* resp_parser.state */

/* p ready for a connection's first request.  Never fails.  (The limits
   are capped so that no sum of sizes here can wrap.) */
static void resp_init(resp_parser *p, size_t max_bulk, size_t max_request)
{
    memset(p, 0, sizeof *p);
    p->max_bulk = max_bulk < (size_t)-1 / 4 ? max_bulk : (size_t)-1 / 4;
    p->max_request = max_request < (size_t)-1 / 4 ? max_request : (size_t)-1 / 4;
}

static void resp_free(resp_parser *p)
{
    free(p->argv);
    p->argv = NULL;
    p->cap = p->argc = 0;
}

/* Redis's string2ll: a whole decimal long long with nothing around it --
   no sign but a leading '-', no leading zero but "0" itself (so no
   "-0"), no space, no NUL.  1 and *out, or 0. */
static int resp_ll(const char *s, size_t n, long long *out)
{
    unsigned long long v = 0, lim;
    size_t i;
    int neg = n > 1 && s[0] == '-';
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    i = (size_t)neg;
    if (i >= n || s[i] < '1' || s[i] > '9')
        return 0;
    lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (s[i] < '0' || s[i] > '9' || v > (lim - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = !neg ? (long long)v : v > (unsigned long long)LLONG_MAX ? LLONG_MIN : -(long long)v;
    return 1;
}

static int resp_fail(resp_parser *p, const char *msg)
{
    p->err = msg;
    p->state = RESP_FAILED;
    return RESP_ERROR;
}

/* Do the request's bytes and argument table stay within max_request if
   it grows to `bytes` bytes with one argument more? */
static int resp_fits(const resp_parser *p, size_t bytes)
{
    return bytes <= p->max_request && p->argc + 1 <= (p->max_request - bytes) / sizeof(resp_arg);
}

static int resp_add(resp_parser *p, size_t off, size_t len)
{
    if (p->argc == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        resp_arg *a = (resp_arg *)realloc(p->argv, ncap * sizeof *a);
        if (!a)
            return -1;
        p->argv = a;
        p->cap = ncap;
    }
    p->argv[p->argc].off = off;
    p->argv[p->argc].len = len;
    p->argc++;
    return 0;
}

/* The "\r\n"-ended line of a count or a length at buf[p->pos] (its type
   byte first): -1 with the number in *v and p->pos past the line, or
   what resp_parse answers now (RESP_MORE, RESP_ERROR). */
static int resp_number_line(resp_parser *p, const char *buf, size_t len, const char *too_big, const char *invalid,
                            long long *v)
{
    size_t from = p->scan > p->pos ? p->scan : p->pos;
    const char *cr = (const char *)memchr(buf + from, '\r', len - from);
    size_t end = cr ? (size_t)(cr - buf) : len; /* where the line's '\r' is, or the bytes so far */
    if (end - p->pos > RESP_MAX_LINE)
        return resp_fail(p, too_big);
    p->scan = end;
    if (end + 1 >= len) { /* no '\r' yet, or no '\n' after it */
        p->need = end + 2;
        return RESP_MORE;
    }
    if (buf[end + 1] != '\n' || !resp_ll(buf + p->pos + 1, end - p->pos - 1, v))
        return resp_fail(p, invalid);
    p->pos = end + 2;
    return -1;
}

static int resp_is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); } /* C's isspace */

static int resp_inline(resp_parser *p, const char *buf, size_t len)
{
    const char *nl = (const char *)memchr(buf + p->scan, '\n', len - p->scan);
    size_t end = nl ? (size_t)(nl - buf) : len, i = 0, start;
    if (end > RESP_MAX_LINE)
        return resp_fail(p, "ERR Protocol error: too big inline request");
    if (!nl) {
        p->scan = len;
        p->need = len + 1;
        return RESP_MORE;
    }
    while (i < end) {
        while (i < end && resp_is_space(buf[i]))
            i++;
        for (start = i; i < end && !resp_is_space(buf[i]); i++)
            ;
        if (i > start) {
            if (!resp_fits(p, end + 1))
                return resp_fail(p, "ERR Protocol error: request exceeds client-query-buffer-limit");
            if (resp_add(p, start, i - start) < 0)
                return resp_fail(p, "ERR out of memory");
        }
    }
    p->used = end + 1;
    p->state = RESP_DONE;
    return RESP_REQUEST;
}

static int resp_parse(resp_parser *p, const char *buf, size_t len)
{
    long long v;
    int rc;
    if (p->state == RESP_FAILED)
        return RESP_ERROR;
    if (p->state == RESP_DONE) { /* the caller dropped the last request */
        if (p->cap > RESP_KEEP_ARGS)
            resp_free(p);
        p->state = RESP_START;
        p->pos = p->scan = p->argc = 0;
    }
    if (p->state == RESP_START) {
        if (!len) {
            p->need = 1;
            return RESP_MORE;
        }
        if (buf[0] != '*')
            p->state = RESP_INLINE;
        else {
            if ((rc = resp_number_line(p, buf, len, "ERR Protocol error: too big mbulk count string",
                                       "ERR Protocol error: invalid multibulk length", &v)) >= 0)
                return rc;
            if (v > INT_MAX)
                return resp_fail(p, "ERR Protocol error: invalid multibulk length");
            p->state = RESP_ARRAY;
            p->left = v > 0 ? v : 0;
            p->bulk = -1;
        }
    }
    if (p->state == RESP_INLINE)
        return resp_inline(p, buf, len);
    while (p->left > 0) {
        if (p->bulk < 0) {
            if (p->pos == len) {
                p->need = len + 1;
                return RESP_MORE;
            }
            if (buf[p->pos] != '$') {
                unsigned char c = (unsigned char)buf[p->pos];
                /* a reply line holds no CR or LF: Redis writes a space for
                   them (and a NUL would end the message here) */
                snprintf(p->errbuf, sizeof p->errbuf, "ERR Protocol error: expected '$', got '%c'",
                         c == '\r' || c == '\n' || c == 0 ? ' ' : c);
                return resp_fail(p, p->errbuf);
            }
            if ((rc = resp_number_line(p, buf, len, "ERR Protocol error: too big bulk count string",
                                       "ERR Protocol error: invalid bulk length", &v)) >= 0)
                return rc;
            if (v < 0 || (unsigned long long)v > p->max_bulk)
                return resp_fail(p, "ERR Protocol error: invalid bulk length");
            if (!resp_fits(p, p->pos + (size_t)v + 2))
                return resp_fail(p, "ERR Protocol error: request exceeds client-query-buffer-limit");
            p->bulk = v;
        }
        if (len - p->pos < (size_t)p->bulk + 2) {
            p->need = p->pos + (size_t)p->bulk + 2;
            return RESP_MORE;
        }
        if (buf[p->pos + p->bulk] != '\r' || buf[p->pos + p->bulk + 1] != '\n')
            return resp_fail(p, "ERR Protocol error: bulk string not followed by CRLF");
        if (resp_add(p, p->pos, (size_t)p->bulk) < 0)
            return resp_fail(p, "ERR out of memory");
        p->pos += (size_t)p->bulk + 2;
        p->bulk = -1;
        p->left--;
    }
    p->used = p->pos;
    p->state = RESP_DONE;
    return RESP_REQUEST;
}

#endif
