/* http.h -- the HTTP/1.1 connection handler that http_server and
   https_server share (over TLS the stream is the same: the handler reads
   and writes plain bytes).  handle_http is the start_server handler, its
   frame an http_conn_t; call build_responses() once before serving.

   A request head at a time out of the stream's buffer (readuntil
   "\r\n\r\n"), so pipelined requests are answered in order; responses
   queued in the connection's frame and written with one
   asyncio_stream_write once asyncio_stream_buffered says no request is
   left to read; drain awaited only when the output piles up; nothing
   allocated per request.  See http_server.c for what it answers.
   Include it after asyncio.h and the system headers. */
#ifndef EXAMPLES_HTTP_H
#define EXAMPLES_HTTP_H

#include <stdio.h>
#include <string.h>

#define HEAD_LIMIT 8192     /* longest request head accepted */
#define DRAIN_ABOVE 65536   /* await drain once this much output is queued */
#define OUT_SIZE 8192       /* responses batched per connection */

/* ---- responses, built once -------------------------------------------- */

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

/* ---- request parsing (synchronous: works on the read's view) ---------- */

typedef struct {
    int status;        /* 200, or the error to answer; 0: nothing to answer */
    int keep_alive;    /* the connection stays open after the response */
    int http10;        /* an HTTP/1.0 request */
    int head;          /* HEAD: the response has no body */
    long long body;    /* Content-Length of the request body, to skip */
} request_t;

static int is_tchar(int c) /* RFC 9110 token characters */
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The first CRLF in [p, end), or end. */
static const char *find_crlf(const char *p, const char *end)
{
    while (p + 1 < end && !(p[0] == '\r' && p[1] == '\n'))
        p++;
    return p + 1 < end ? p : end;
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

/* The Connection header: a comma-separated list of options. */
static void connection_options(const char *v, size_t n, int *close_, int *keep)
{
    size_t i = 0, start, end;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        start = i;
        while (i < n && v[i] != ',')
            i++;
        end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (word_is(v + start, end - start, "close"))
            *close_ = 1;
        else if (word_is(v + start, end - start, "keep-alive"))
            *keep = 1;
    }
}

/* Parse a request head of n bytes ending in "\r\n\r\n" into *r. */
static void parse_request(const char *p, size_t n, request_t *r)
{
    const char *end = p + n, *line, *eol, *colon, *v, *ve;
    int get, has_host = 0, opt_close = 0, opt_keep = 0, has_length = 0, has_te = 0;
    long long length = 0;
    memset(r, 0, sizeof *r);
    r->status = 400;
    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') /* empty lines before a request */
        p += 2;
    if (end - p <= 2) {
        r->status = 0;
        r->keep_alive = 1;
        return;
    }
    /* request line: METHOD SP TARGET SP HTTP/x.y CRLF */
    eol = find_crlf(p, end);
    line = p;
    while (line < eol && is_tchar((unsigned char)*line))
        line++;
    if (line == p || line >= eol || *line != ' ')
        return;
    r->head = line - p == 4 && memcmp(p, "HEAD", 4) == 0;
    get = r->head || (line - p == 3 && memcmp(p, "GET", 3) == 0);
    v = ++line;
    while (line < eol && *line != ' ' && (unsigned char)*line > ' ' && *line != 0x7f)
        line++;
    if (line == v || line >= eol || *line != ' ')
        return;
    v = line + 1;
    if (eol - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
        v[7] > '9')
        return;
    if (v[5] != '1') {
        r->status = v[5] == '0' ? 400 : 505;
        return;
    }
    r->http10 = v[7] == '0';
    /* header fields: NAME ":" OWS VALUE OWS CRLF, up to the empty line */
    for (line = eol + 2; line < end - 2; line = eol + 2) {
        eol = find_crlf(line, end);
        colon = line;
        while (colon < eol && is_tchar((unsigned char)*colon))
            colon++;
        if (colon == line || colon >= eol || *colon != ':') /* also an obs-fold line */
            return;
        for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
            ;
        for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
            ;
        if (word_is(line, (size_t)(colon - line), "host"))
            has_host = 1;
        else if (word_is(line, (size_t)(colon - line), "connection"))
            connection_options(v, (size_t)(ve - v), &opt_close, &opt_keep);
        else if (word_is(line, (size_t)(colon - line), "transfer-encoding"))
            has_te = 1;
        else if (word_is(line, (size_t)(colon - line), "content-length")) {
            long long len = 0;
            const char *d;
            if (v == ve || ve - v > 15)
                return;
            for (d = v; d < ve; d++) {
                if (*d < '0' || *d > '9')
                    return;
                len = len * 10 + (*d - '0');
            }
            if (has_length && len != length)
                return;
            has_length = 1;
            length = len;
        }
    }
    if (!r->http10 && !has_host) /* RFC 9112 3.2: HTTP/1.1 requires Host */
        return;
    r->status = has_te ? 501 : get ? 200 : 405;
    r->body = has_te ? 0 : length; /* a 501 closes: its body is not read */
    r->keep_alive = !has_te && (r->http10 ? opt_keep && !opt_close : !opt_close);
}

/* An error response; returns its length in buf. */
static size_t error_response(char *buf, size_t size, int status, int keep_alive)
{
    const char *reason = status == 405 ? "Method Not Allowed"
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

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    request_t req;
    int rc;
    size_t olen;
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

static int handle_http(asyncio_task *self, void *frame)
{
    http_conn_t *f = (http_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    char err[256];
    size_t n;
    ASYNCIO_BEGIN(self, &f->base);
    asyncio_stream_set_limit(s, HEAD_LIMIT);
    for (;;) {
        /* the next read may wait: send the batch's responses first */
        if (!asyncio_stream_buffered(s) && flush(f, s) < 0)
            break;
        if (asyncio_stream_write_buffer_size(s) > DRAIN_ABOVE) {
            ASYNCIO_AWAIT_RC(f->rc, asyncio_stream_drain(s)); /* the client reads slowly */
            if (f->rc < 0)
                break;
        }
        /* one request head; the rest of a pipelined batch stays buffered */
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readuntil(&f->rd, s, "\r\n\r\n", 4));
        if (f->rc == ASYNCIO_ELIMIT) {
            n = error_response(err, sizeof err, 431, 0);
            respond(f, s, err, n);
            break;
        }
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0) /* reset, EOF, or EOF mid-head */
            break;
        parse_request(asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i, &f->req);
        if (f->req.status == 200) {
            int fl = f->req.keep_alive ? (f->req.http10 ? KEEP_10 : KEEP_11) : CLOSE;
            f->rc = respond(f, s, ok_resp[fl], f->req.head ? ok_head_len[fl] : ok_len[fl]);
        } else if (f->req.status) {
            n = error_response(err, sizeof err, f->req.status, f->req.keep_alive);
            f->rc = respond(f, s, err, n);
        }
        if (f->rc < 0)
            break;
        /* skip a request body (also before closing: unread input would
           make close(2) reset the connection under the response) */
        if (f->req.body > 0 && flush(f, s) < 0)
            break;
        while (f->req.body > 0) {
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, s, chunk(f->req.body)));
            if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
                break;
            f->req.body -= ASYNCIO_RESULT().i;
        }
        if (f->req.body > 0 || !f->req.keep_alive)
            break;
    }
    ASYNCIO_FINALLY; /* however the connection ends: what is queued goes */
    flush(f, s);
    ASYNCIO_END(); /* the server flushes the stream and closes the connection */
}
#endif
