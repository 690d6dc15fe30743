/* http.h -- the HTTP/1.1 server that http_server and https_server share
   (over TLS the stream is the same: the handler reads and writes plain
   bytes).  Two parts:

   http_parse, a pure function over bytes: a request head, or "need more",
   or the error status to refuse it with.  It alone decides where a
   request ends, so the framing cannot be read two ways (a proxy in front
   reading it one way, this server another: request smuggling); it takes
   no liberty RFC 9112 leaves open -- a bare LF or CR, whitespace before a
   colon, obs-fold, control characters in a value, a second Host,
   Content-Length that is not a number or disagrees with another,
   Transfer-Encoding (any coding: this server decodes none) are all
   refused.  tests/fuzz/fuzz_http.c drives it; define HTTP_PARSER_ONLY
   before including this file to get only this part (no asyncio.h needed).

   http_main, the rest of a server's main: handle_http, the start_server
   handler, reads into its frame, parses, and queues responses in the
   frame, written with one asyncio_stream_write once
   asyncio_stream_buffered says no request is left to read (pipelined
   requests answered in order, one write per batch); drain awaited only
   when the output piles up; nothing allocated per request.  Each read is
   bounded with the stream's read timeout by what is left of the
   request's time, so a request drip-fed a byte at a time fails as
   surely as silence.  See http_server.c for what it answers.  Include it
   after asyncio.h, the system headers and serve.h. */
#ifndef EXAMPLES_HTTP_H
#define EXAMPLES_HTTP_H

#include <stddef.h>
#include <string.h>

/* ---- the request head: a pure function over bytes --------------------- */

#define HTTP_MAX_FIELDS 64     /* header fields in a head; more: 431 */
#define HTTP_MAX_BODY 1048576  /* longest request body (skipped); longer: 413 */

/* http_parse's verdicts besides an error status. */
enum { HTTP_NEED_MORE = 0, HTTP_OK = 200 };

typedef struct {
    size_t off, len; /* bytes [off, off + len) of the buffer parsed */
} http_span;

typedef struct {
    size_t head_len; /* through the empty line that ends the head */
    http_span method, target;
    int minor;       /* HTTP/1.minor (2..9 are answered as 1.1 is) */
    int nfields;
    http_span name[HTTP_MAX_FIELDS], value[HTTP_MAX_FIELDS]; /* values without the whitespace around them */
    long long body;  /* Content-Length: bytes of body after the head */
    int keep_alive;  /* another request may follow on the connection */
} http_request;

static int is_tchar(int c) /* RFC 9110 token characters */
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 9110 5.5 field-vchar, SP or HTAB: every octet but the controls
   (among them CR, LF and NUL, which would let a value smuggle a line). */
static int is_field_char(int c) { return c == '\t' || (c >= ' ' && c != 0x7f); }

/* RFC 3986 uri-host [":" port], by its characters (reg-name, IP-literal,
   pct-encoded). */
static int is_host_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~!$&'()*+,;=:[]%", c) != NULL);
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Does [p, p+n) equal the lower-case word w, ignoring case? */
static int word_is(const char *p, size_t n, const char *w)
{
    size_t i;
    for (i = 0; i < n && w[i]; i++)
        if (lower((unsigned char)p[i]) != w[i])
            return 0;
    return i == n && !w[i];
}

/* For each element of a comma-separated list (RFC 9110 5.6.1: empty
   elements and the whitespace around them do not count): fn(elem, n, arg). */
static void each_element(const char *v, size_t n, void (*fn)(const char *, size_t, void *), void *arg)
{
    size_t i = 0, start, end;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < n && v[i] != ',')
            i++;
        for (end = i; end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'); end--)
            ;
        if (end > start)
            fn(v + start, end - start, arg);
    }
}

/* Connection options: bit 1 close, bit 2 keep-alive. */
static void connection_option(const char *e, size_t n, void *arg)
{
    *(int *)arg |= word_is(e, n, "close") ? 1 : word_is(e, n, "keep-alive") ? 2 : 0;
}

/* Transfer-Encoding: is the last coding chunked? */
static void last_coding(const char *e, size_t n, void *arg) { *(int *)arg = word_is(e, n, "chunked"); }

/* The line starting at p: 1 with *eol at its CR, 0 if its LF has not
   arrived, -1 for a LF without a CR before it.  (RFC 9112 2.2 lets a
   recipient take a bare LF as a line's end, but then everywhere, and a
   proxy that does not would frame the bytes differently: refused.  A
   bare CR elsewhere is a control character each line's syntax refuses.) */
static int http_line(const char *b, size_t len, size_t p, size_t *eol)
{
    const char *lf = p < len ? (const char *)memchr(b + p, '\n', len - p) : NULL;
    if (!lf)
        return 0;
    if (lf == b + p || lf[-1] != '\r')
        return -1;
    *eol = (size_t)(lf - b) - 1;
    return 1;
}

/* The request line [p, eol): METHOD SP TARGET SP HTTP/d.d */
static int http_request_line(const char *b, size_t p, size_t eol, http_request *r)
{
    size_t i = p;
    while (i < eol && is_tchar((unsigned char)b[i]))
        i++;
    if (i == p || i == eol || b[i] != ' ')
        return 400;
    r->method.off = p;
    r->method.len = i - p;
    for (p = ++i; i < eol && (unsigned char)b[i] > ' ' && b[i] != 0x7f; i++)
        ;
    if (i == p || i == eol || b[i] != ' ')
        return 400;
    r->target.off = p;
    r->target.len = i - p;
    p = i + 1;
    if (eol - p != 8 || memcmp(b + p, "HTTP/", 5) != 0 || b[p + 5] < '0' || b[p + 5] > '9' || b[p + 6] != '.' ||
        b[p + 7] < '0' || b[p + 7] > '9')
        return 400;
    if (b[p + 5] != '1')
        return 505;
    r->minor = b[p + 7] - '0';
    return HTTP_OK;
}

/* A Content-Length value (RFC 9110 8.6: 1*DIGIT) into *len, saturating
   just above HTTP_MAX_BODY; 400 if it is not a number. */
static int content_length(const char *v, size_t n, long long *len)
{
    long long x = 0;
    size_t i;
    if (n == 0)
        return 400;
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 400;
        if (x <= HTTP_MAX_BODY)
            x = x * 10 + (v[i] - '0');
    }
    *len = x;
    return HTTP_OK;
}

/* http_parse: the request head at the start of b[0, len).  Returns
   HTTP_NEED_MORE while no verdict is possible (the bytes so far are a
   valid beginning, or a line has not ended: a verdict changes only when a
   LF arrives), HTTP_OK with *r filled in, or the status to refuse the
   request with, after which the connection closes: 400, 413
   (Content-Length above HTTP_MAX_BODY), 431 (more than HTTP_MAX_FIELDS
   fields), 501 (Transfer-Encoding chunked, RFC 9112 6.1), 505 (not
   HTTP/1.x).  A verdict on a prefix of some bytes is the verdict on the
   bytes, however many more follow.  Empty lines before the request line
   are skipped (RFC 9112 2.2).  *r holds meaning only for HTTP_OK. */
static int http_parse(const char *b, size_t len, http_request *r)
{
    size_t p = 0, eol = 0, c, v, ve, i;
    int rc, hosts = 0, lengths = 0, te = 0, chunked = 0, options = 0;
    long long x = 0;
    r->nfields = 0;
    r->body = 0;
    while (len - p >= 2 && b[p] == '\r' && b[p + 1] == '\n')
        p += 2;
    if ((rc = http_line(b, len, p, &eol)) <= 0)
        return rc ? 400 : HTTP_NEED_MORE;
    if ((rc = http_request_line(b, p, eol, r)) != HTTP_OK)
        return rc;
    /* header fields: NAME ":" OWS VALUE OWS, up to the empty line */
    for (p = eol + 2; (rc = http_line(b, len, p, &eol)) > 0 && eol > p; p = eol + 2) {
        for (c = p; c < eol && is_tchar((unsigned char)b[c]); c++)
            ;
        if (c == p || c == eol || b[c] != ':') /* also obs-fold, whitespace before the colon (RFC 9112 5.1, 5.2) */
            return 400;
        for (v = c + 1; v < eol && (b[v] == ' ' || b[v] == '\t'); v++)
            ;
        for (ve = eol; ve > v && (b[ve - 1] == ' ' || b[ve - 1] == '\t'); ve--)
            ;
        for (i = v; i < ve; i++)
            if (!is_field_char((unsigned char)b[i]))
                return 400;
        if (r->nfields == HTTP_MAX_FIELDS)
            return 431;
        r->name[r->nfields].off = p;
        r->name[r->nfields].len = c - p;
        r->value[r->nfields].off = v;
        r->value[r->nfields].len = ve - v;
        r->nfields++;
        if (word_is(b + p, c - p, "host")) { /* RFC 9112 3.2: exactly one, valid */
            if (hosts++)
                return 400;
            for (i = v; i < ve; i++)
                if (!is_host_char((unsigned char)b[i]))
                    return 400;
        } else if (word_is(b + p, c - p, "content-length")) {
            /* a second one must agree (RFC 9112 6.3); the first one
               over the limit has already been refused, so a saturated
               value never matches */
            if (content_length(b + v, ve - v, &x) != HTTP_OK || (lengths++ && x != r->body))
                return 400;
            if (x > HTTP_MAX_BODY)
                return 413;
            r->body = x;
        } else if (word_is(b + p, c - p, "transfer-encoding")) {
            te = 1;
            chunked = 0;
            each_element(b + v, ve - v, last_coding, &chunked);
        } else if (word_is(b + p, c - p, "connection"))
            each_element(b + v, ve - v, connection_option, &options);
    }
    if (rc <= 0)
        return rc ? 400 : HTTP_NEED_MORE;
    r->head_len = eol + 2;
    /* RFC 9112 6.1, 6.3: Transfer-Encoding with Content-Length, in
       HTTP/1.0, or not ending in chunked leaves the length unknowable:
       400; chunked is a coding this server does not implement: 501 */
    if (te)
        return lengths || r->minor == 0 || !chunked ? 400 : 501;
    if (r->minor > 0 && !hosts)
        return 400;
    r->keep_alive = r->minor > 0 ? !(options & 1) : options == 2;
    return HTTP_OK;
}

#ifndef HTTP_PARSER_ONLY
/* ---- responses, built once -------------------------------------------- */

#include <stdio.h>

#define HEAD_LIMIT 8192   /* longest request head accepted (431 beyond) */
#define DRAIN_ABOVE 65536 /* await drain once this much output is queued */
#define OUT_SIZE 8192     /* responses batched per connection */
#define LINGER 0.5        /* s: after a refusal, the pause that ends reading the rest */

#define BODY "Hello, World!\n"

/* The 200 response in its three connection flavours. */
enum { KEEP_11, KEEP_10, CLOSE, NFLAVOURS };
static char ok_resp[NFLAVOURS][160];
static size_t ok_len[NFLAVOURS], ok_head_len[NFLAVOURS]; /* whole; without the body (HEAD) */

static void build_responses(void)
{
    static const char *const conn[NFLAVOURS] = {"", "Connection: keep-alive\r\n", "Connection: close\r\n"};
    int i, n;
    for (i = 0; i < NFLAVOURS; i++) {
        n = snprintf(ok_resp[i], sizeof ok_resp[i],
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %u\r\n%s\r\n%s",
                     (unsigned)(sizeof BODY - 1), conn[i], BODY);
        ok_len[i] = (size_t)n;
        ok_head_len[i] = (size_t)n - (sizeof BODY - 1);
    }
}

/* An error response; returns its length in buf. */
static size_t error_response(char *buf, size_t size, int status, int keep_alive)
{
    const char *reason = status == 405   ? "Method Not Allowed"
                         : status == 408 ? "Request Timeout"
                         : status == 413 ? "Content Too Large"
                         : status == 431 ? "Request Header Fields Too Large"
                         : status == 501 ? "Not Implemented"
                         : status == 505 ? "HTTP Version Not Supported"
                                         : "Bad Request";
    int n = snprintf(buf, size,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %u\r\n%s%s\r\n%d %s\n",
                     status, reason, (unsigned)(strlen(reason) + 5),
                     status == 405 ? "Allow: GET, HEAD\r\n" : "", keep_alive ? "" : "Connection: close\r\n",
                     status, reason);
    return (size_t)n < size ? (size_t)n : size - 1;
}

/* A read's size while skipping a body: at most 64 KiB.  (The setup call
   in an ASYNCIO_AWAIT_CORO runs again on every resumption, so its
   arguments come from the frame, not from locals.) */
static size_t chunk(long long left) { return left > 65536 ? 65536 : (size_t)left; }

/* ---- the connection handler ------------------------------------------- */

/* Seconds, from the command line (http_main). */
static struct {
    double header;    /* a request, head and body, from its first byte
                         (a connection's first request: from the connection) */
    double keepalive; /* silence between requests */
    double write;     /* output waiting with the client taking none of it */
} http_timeout = {10, 60, 60};

enum { QUIET = -1 }; /* a handler's verdict: close without a response */

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    http_request req;
    int rc, status;
    long long deadline; /* loop time (ns) the request being read must be in by; 0: none begun */
    size_t pos, len;    /* in[pos, len): received, not handled yet */
    size_t olen;
    char in[HEAD_LIMIT];
    char out[OUT_SIZE]; /* responses not yet written */
} http_conn_t;

/* Write the responses queued in f->out: one asyncio_stream_write for a
   whole batch of pipelined requests.  0 or the connection's error. */
static int flush(http_conn_t *f, asyncio_stream *s)
{
    int rc = f->olen ? asyncio_stream_write(s, f->out, f->olen) : 0;
    f->olen = 0;
    return rc;
}

/* Queue a response. */
static int respond(http_conn_t *f, asyncio_stream *s, const char *p, size_t n)
{
    if (f->olen + n > sizeof f->out && flush(f, s) < 0)
        return -1;
    if (n > sizeof f->out)
        return asyncio_stream_write(s, p, n);
    memcpy(f->out + f->olen, p, n);
    f->olen += n;
    return 0;
}

/* Before a read: the unhandled input to the front of f->in, and the
   read bounded by `most` seconds and, once a request has begun, by what
   is left of its time (a read timeout counts from the read's start, so
   each read gets only the rest).  0, or below 0 once that time is up. */
static int before_read(http_conn_t *f, asyncio_stream *s, asyncio_loop *loop, double most)
{
    double left = f->deadline ? (double)(f->deadline - asyncio_loop_time_ns(loop)) / 1e9 : most;
    memmove(f->in, f->in + f->pos, f->len - f->pos);
    f->len -= f->pos;
    f->pos = 0;
    if (left <= 0)
        return -1;
    return asyncio_stream_set_timeouts(s, left < most ? left : most, http_timeout.write);
}

static long long request_deadline(asyncio_loop *loop)
{
    return asyncio_loop_time_ns(loop) + (long long)(http_timeout.header * 1e9);
}

static int handle_http(asyncio_task *self, void *frame)
{
    http_conn_t *f = (http_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    const char *m;
    char err[256];
    size_t n;
    int fl;
    ASYNCIO_BEGIN(self, &f->base);
    f->deadline = request_deadline(ASYNCIO_LOOP()); /* one that says nothing is no idle keep-alive */
    for (;;) {
        /* a request head: what is left of the last read first */
        f->status = f->pos < f->len ? http_parse(f->in + f->pos, f->len - f->pos, &f->req) : HTTP_NEED_MORE;
        while (f->status == HTTP_NEED_MORE) {
            if (f->len - f->pos == sizeof f->in) {
                f->status = 431;
                break;
            }
            /* the next read may wait: send the batch's responses first */
            f->status = QUIET;
            if (!asyncio_stream_buffered(s) && flush(f, s) < 0)
                break;
            if (asyncio_stream_write_buffer_size(s) > DRAIN_ABOVE) {
                ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(s)); /* the client reads slowly, or not at all */
                if (f->rc < 0)
                    break;
            }
            f->rc = before_read(f, s, ASYNCIO_LOOP(), f->deadline ? http_timeout.header : http_timeout.keepalive) < 0
                        ? ASYNCIO_EREADTIMEOUT
                        : 0;
            if (f->rc == 0) {
                ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, s, sizeof f->in - f->len));
            }
            if (f->rc == ASYNCIO_EREADTIMEOUT && f->len) /* some of a request came, too slowly */
                f->status = 408;
            if (f->rc < 0 || ASYNCIO_RESULT().i == 0) /* reset, EOF (also mid-head), an idle timeout */
                break;
            n = (size_t)ASYNCIO_RESULT().i;
            memcpy(f->in + f->len, asyncio_stream_data(s), n);
            f->len += n;
            if (!f->deadline)
                f->deadline = request_deadline(ASYNCIO_LOOP());
            f->status = memchr(f->in + f->len - n, '\n', n) ? http_parse(f->in, f->len, &f->req) : HTTP_NEED_MORE;
        }
        if (f->status != HTTP_OK) {
            if (f->status != QUIET)
                respond(f, s, err, error_response(err, sizeof err, f->status, 0));
            break;
        }
        /* a request: GET and HEAD get the page, other methods 405 */
        m = f->in + f->pos + f->req.method.off;
        n = f->req.method.len;
        if ((n == 3 && memcmp(m, "GET", 3) == 0) || (n == 4 && memcmp(m, "HEAD", 4) == 0)) {
            fl = f->req.keep_alive ? (f->req.minor ? KEEP_11 : KEEP_10) : CLOSE;
            f->rc = respond(f, s, ok_resp[fl], n == 4 ? ok_head_len[fl] : ok_len[fl]);
        } else
            f->rc = respond(f, s, err, error_response(err, sizeof err, 405, f->req.keep_alive));
        if (f->rc < 0)
            break;
        f->pos += f->req.head_len;
        /* skip a request body: what came with the head, then the rest,
           also before closing (unread input would make close(2) reset the
           connection under the response) */
        n = f->len - f->pos < (size_t)f->req.body ? f->len - f->pos : (size_t)f->req.body;
        f->pos += n;
        f->req.body -= (long long)n;
        if (f->req.body > 0 && flush(f, s) < 0)
            break;
        while (f->req.body > 0 && before_read(f, s, ASYNCIO_LOOP(), http_timeout.header) == 0) {
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, s, chunk(f->req.body)));
            if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
                break;
            f->req.body -= ASYNCIO_RESULT().i;
        }
        if (f->req.body > 0 || !f->req.keep_alive)
            break;
        /* the next request's time runs from its first byte: now, if some
           came with this one */
        f->deadline = f->pos < f->len ? request_deadline(ASYNCIO_LOOP()) : 0;
    }
    /* after a refusal the client may still be sending (a body, the rest
       of a head): read and drop it until the client closes or pauses for
       LINGER s, for a header timeout at most -- closing with input unread
       would reset the connection, and the reset can destroy the response
       before the client reads it (nginx's lingering close, but without
       a half-close: a client waiting for the close waits out the pause) */
    if (f->status >= 400 && f->status != 408 && flush(f, s) == 0) {
        f->deadline = request_deadline(ASYNCIO_LOOP());
        do {
            if (before_read(f, s, ASYNCIO_LOOP(), LINGER) < 0)
                break;
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, s, sizeof f->in));
        } while (f->rc == 0 && ASYNCIO_RESULT().i > 0);
    }
    ASYNCIO_FINALLY; /* however the connection ends: what is queued goes */
    flush(f, s);
    ASYNCIO_END(); /* the server flushes the stream and closes the connection */
}

/* ---- main ------------------------------------------------------------- */

/* Seconds for a timeout option: a number above 0 (a year at most), or -1. */
static double parse_seconds(const char *arg)
{
    char *end;
    double v = strtod(arg, &end);
    return end != arg && !*end && v > 0 && v <= 31536000 ? v : -1;
}

/* http_main: main for a server of handle_http, its command line serve.h's
   (tls: serve_main's) plus --header-timeout S, --keepalive-timeout S and
   --write-timeout S anywhere among it.  Returns main's exit status. */
static int http_main(int argc, char **argv, const char *program, int tls)
{
    static const char *const names[] = {"--header-timeout", "--keepalive-timeout", "--write-timeout"};
    double *const values[] = {&http_timeout.header, &http_timeout.keepalive, &http_timeout.write};
    int i, k, n = 1, status;
    for (i = 1; i < argc; i++) {
        for (k = 0; k < 3 && strcmp(argv[i], names[k]) != 0; k++)
            ;
        if (k == 3)
            argv[n++] = argv[i]; /* serve_main's */
        else if (i + 1 == argc || (*values[k] = parse_seconds(argv[++i])) < 0) {
            fprintf(stderr, "%s: %s wants a number of seconds above 0\n", program, names[k]);
            return 2;
        }
    }
    argv[n] = NULL;
    build_responses();
    serve_options.read_timeout = http_timeout.header; /* also bounds a TLS handshake */
    serve_options.write_timeout = http_timeout.write;
    status = serve_main(n, argv, program, handle_http, sizeof(http_conn_t), SERVE_MAX_LOOPS, tls);
    if (status == 2)
        fprintf(stderr, "  and: [--header-timeout S] [--keepalive-timeout S] [--write-timeout S]   (S: seconds; "
                        "10, 60, 60)\n");
    return status;
}
#endif /* HTTP_PARSER_ONLY */
#endif
