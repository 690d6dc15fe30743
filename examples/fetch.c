/* fetch.c -- fetch several URLs at the same time: one task per URL, gathered.

   Shows: asyncio_gather_map over frames allocated at run time, with
   ASYNCIO_RETURN_EXCEPTIONS so that one failure does not hide the others;
   a client protocol on a stream (write the request, readuntil the head,
   then read the body by Content-Length, by chunks, or to EOF); a coroutine
   awaited inline inside a timeout scope (asyncio_timeout_enter / _exit,
   Python's `async with asyncio.timeout(10)`), its ASYNCIO_FINALLY closing
   the connection however it ends.  https:// URLs: one client context
   (asyncio_tls_client: the system's trust store, or --cacert's CAs)
   shared by every fetch, asyncio_connect_tls making open_connection a TLS
   one -- the same protocol code then runs over the encrypted stream, and
   a certificate that does not verify (unknown CA, another host's) fails
   that URL's open_connection with ASYNCIO_ETLSVERIFY.

   Mirrors:

       async def http_get(url, ctx):
           scheme, host, port, path = parse(url)
           reader, writer = await asyncio.open_connection(
               host, port, ssl=ctx if scheme == "https" else None)
           try:
               writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                            "Connection: close\r\n\r\n".encode())
               await writer.drain()
               head = await reader.readuntil(b"\r\n\r\n")
               status, length = parse_head(head)
               body = await reader.read(length) ...  # or to EOF, or chunks
               ssl = writer.get_extra_info("ssl_object")
               return status, len(body), ssl and ssl.version()
           finally:
               writer.close()

       async def fetch(url, ctx):
           start = loop.time()
           async with asyncio.timeout(10):
               status, size, version = await http_get(url, ctx)
           return status, size, loop.time() - start, version

       async def main(urls, cafile=None):
           ctx = ssl.create_default_context(cafile=cafile)
           start = loop.time()
           results = await asyncio.gather(*(fetch(u, ctx) for u in urls),
                                          return_exceptions=True)
           for url, r in zip(urls, results):
               print(f"{url}: {r[0]} {r[1]} bytes in {r[2]:.3f} s"
                     + (f" over {r[3]}" if r[3] else ""))
           print(f"total: {loop.time() - start:.3f} s")

   Run:    build/examples/http_server 8080 &
           build/examples/fetch http://127.0.0.1:8080/ http://127.0.0.1:8080/a \
                                http://localhost:8080/b
           build/examples/fetch https://example.com/    (the system's CAs)
           build/examples/https_server 8443 cert.pem key.pem &
           build/examples/fetch --cacert cert.pem https://localhost:8443/
           (see https_server.c for a throwaway certificate)

   Prints, in argument order once all are done (times are the loop's
   clock; the total is about the slowest fetch, not the sum):
       http://127.0.0.1:8080/: 200 14 bytes in 0.001 s
       http://127.0.0.1:8080/a: 200 14 bytes in 0.001 s
       http://localhost:8080/b: 200 14 bytes in 0.001 s
       total: 0.001 s
   and for an https URL, the TLS version agreed:
       https://localhost:8443/: 200 14 bytes in 0.004 s over TLSv1.3
   A fetch that fails prints "URL: error: MESSAGE" on stderr instead, and
   the exit status is 1, e.g. for a server whose certificate names
   another host:
       https://localhost:8443/: error: TLS handshake: [SSL: CERTIFICATE_VERIFY_FAILED]
       certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'.
   URLs are http[s]://HOST[:PORT][/PATH] with HOST a name or a numeric
   address ([::1] for IPv6); no redirects.  --cacert FILE (PEM) trusts
   those CAs instead of the system's (as curl's option; OpenSSL's
   SSL_CERT_FILE and SSL_CERT_DIR environment variables move the system's
   store); a FILE that cannot be loaded is reported before anything is
   fetched (exit status 1).  Names are resolved on the executor
   (open_connection does it: Python's loop.getaddrinfo), so a slow
   resolver holds up only its own URL, and a name with several addresses
   is raced by Happy Eyeballs.  Build with ASYNCIO_TLS=1 and link
   -lssl -lcrypto (the Makefile does).
   Real clock only: under ASYNCIO_VIRTUAL_CLOCK=1 time jumps to the 10 s
   deadlines whenever the sockets make the loop wait, so every fetch
   times out. */
#ifndef ASYNCIO_TLS
#define ASYNCIO_TLS 1 /* https: link with -lssl -lcrypto */
#endif
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "fetch"
#define TIMEOUT 10.0        /* seconds per URL */

/* ---- one GET (awaited inline by fetch) -------------------------------- */

typedef struct {
    asyncio_coro co;
    /* arguments */
    char host[256];         /* for open_connection: no brackets */
    char authority[300];    /* for the Host header: host[:port] as in the URL */
    const char *path;
    int port;
    asyncio_tls *tls;       /* https: the client context; http: NULL */
    /* results */
    int status;
    long long size;
    const char *version;    /* https: the TLS version agreed ("TLSv1.3") */
    /* state */
    asyncio_connect_t oc;
    asyncio_read_t rd;
    asyncio_stream *s;
    long long left;         /* body bytes still to read; -1: up to EOF */
    int chunked;
} http_get_t;

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Does the header line at p (n bytes, no CRLF) have this lower-case name?
   Then *value is its trimmed value, of *vlen bytes. */
static int header_is(const char *p, size_t n, const char *name, const char **value, size_t *vlen)
{
    size_t i;
    for (i = 0; name[i]; i++)
        if (i >= n || lower((unsigned char)p[i]) != name[i])
            return 0;
    if (i >= n || p[i] != ':')
        return 0;
    for (i++; i < n && (p[i] == ' ' || p[i] == '\t'); i++)
        ;
    while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    *value = p + i;
    *vlen = n - i;
    return 1;
}

/* Parse a response head: status, then how the body is delimited.  0, or
   -EPROTO for something that is not an HTTP/1.x response. */
static int parse_head(http_get_t *g, const char *p, size_t n)
{
    const char *end = p + n, *eol, *v;
    size_t vlen, i;
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || p[9] < '1' || p[9] > '5' || p[10] < '0' ||
        p[10] > '9' || p[11] < '0' || p[11] > '9')
        return -EPROTO;
    g->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    g->left = -1;
    g->chunked = 0;
    for (; p < end; p = eol + 2) {
        for (eol = p; eol + 1 < end && !(eol[0] == '\r' && eol[1] == '\n'); eol++)
            ;
        if (eol + 1 >= end)
            break;
        if (header_is(p, (size_t)(eol - p), "content-length", &v, &vlen)) {
            if (vlen == 0 || vlen > 15)
                return -EPROTO;
            for (g->left = 0, i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -EPROTO;
                g->left = g->left * 10 + (v[i] - '0');
            }
        } else if (header_is(p, (size_t)(eol - p), "transfer-encoding", &v, &vlen)) {
            /* the last coding decides: "gzip, chunked" is chunked */
            g->chunked = vlen >= 7;
            for (i = 0; i < 7 && g->chunked; i++)
                g->chunked = lower((unsigned char)v[vlen - 7 + i]) == "chunked"[i];
        }
    }
    return 0;
}

/* A chunk-size line: hex digits, then CRLF or ";extensions".  -1 if bad. */
static long long parse_hex(const char *p, size_t n)
{
    long long v = 0;
    size_t i;
    int c, d;
    for (i = 0; i < n; i++) {
        c = lower((unsigned char)p[i]);
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            break;
        if (v > (LLONG_MAX >> 4))
            return -1;
        v = v * 16 + d;
    }
    return i == 0 || i == n || (p[i] != '\r' && p[i] != ';' && p[i] != '\n') ? -1 : v;
}

/* How much to ask a read for: what is left of the body, at most 64 KiB
   (-1: unknown).  The setup call in an ASYNCIO_AWAIT_CORO runs again on
   every resumption, so its arguments come from the frame, not from
   locals. */
static size_t chunk(long long left) { return left < 0 || left > 65536 ? 65536 : (size_t)left; }

static int http_get(asyncio_task *self, void *frame)
{
    http_get_t *g = (http_get_t *)frame;
    char req[1024];
    int n;
    ASYNCIO_BEGIN(self, g);
    asyncio_connect_tcp(&g->oc, g->host, g->port);
    if (g->tls) /* open_connection(host, port, ssl=ctx): the handshake is part of it */
        asyncio_connect_tls(&g->oc, g->tls, NULL);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, &g->oc);
    g->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    g->version = g->tls ? asyncio_stream_tls_version(g->s) : NULL;
    n = snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: asyncio.h-fetch\r\nAccept: */*\r\n"
                 "Connection: close\r\n\r\n",
                 g->path, g->authority);
    if (n < 0 || (size_t)n >= sizeof req)
        ASYNCIO_RAISE(-ENAMETOOLONG, "URL too long");
    if ((n = asyncio_stream_write(g->s, req, (size_t)n)) < 0)
        ASYNCIO_RAISE(n, NULL);
    ASYNCIO_AWAIT(asyncio_stream_drain(g->s));
    /* the response head */
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readuntil(&g->rd, g->s, "\r\n\r\n", 4));
    if (parse_head(g, asyncio_stream_data(g->s), (size_t)ASYNCIO_RESULT().i) < 0)
        ASYNCIO_RAISE(-EPROTO, "not an HTTP/1.x response");
    if (g->status / 100 == 1 || g->status == 204 || g->status == 304)
        g->left = 0; /* no body (1xx: not expected, we send no Expect) */
    g->size = 0;
    if (g->chunked) {
        /* chunked: SIZE-IN-HEX CRLF, DATA CRLF, ..., 0 CRLF, trailers CRLF */
        for (;;) {
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&g->rd, g->s));
            if ((g->left = parse_hex(asyncio_stream_data(g->s), (size_t)ASYNCIO_RESULT().i)) < 0)
                ASYNCIO_RAISE(-EPROTO, "bad chunk size");
            if (g->left == 0)
                break;
            while (g->left > 0) {
                ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&g->rd, g->s, chunk(g->left)));
                if (ASYNCIO_RESULT().i == 0)
                    ASYNCIO_RAISE(ASYNCIO_EINCOMPLETE, "connection closed inside a chunk");
                g->size += ASYNCIO_RESULT().i;
                g->left -= ASYNCIO_RESULT().i;
            }
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&g->rd, g->s, 2)); /* CRLF */
        }
        do { /* trailer fields, up to an empty line */
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&g->rd, g->s));
        } while (ASYNCIO_RESULT().i > 2);
    } else {
        /* Content-Length bytes, or everything up to EOF (left == -1) */
        while (g->left != 0) {
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&g->rd, g->s, chunk(g->left)));
            if (ASYNCIO_RESULT().i == 0) {
                if (g->left > 0)
                    ASYNCIO_RAISE(ASYNCIO_EINCOMPLETE, "connection closed before Content-Length bytes");
                break;
            }
            g->size += ASYNCIO_RESULT().i;
            if (g->left > 0)
                g->left -= ASYNCIO_RESULT().i;
        }
    }
    ASYNCIO_FINALLY; /* success, error or timeout (cancellation): close */
    if (g->s)
        asyncio_stream_close(g->s);
    g->s = NULL;
    ASYNCIO_END();
}

/* ---- fetch(url): http_get inside a timeout, timed --------------------- */

typedef struct {
    asyncio_coro co;
    const char *url;
    double elapsed;
    int rc;
    const char *msg;
    asyncio_timeout to;
    http_get_t get;
} fetch_t;

static asyncio_tls *tls_ctx; /* https URLs' client context, made by main */

/* http[s]://HOST[:PORT][/PATH] into g; 0 or -EINVAL. */
static int parse_url(const char *url, http_get_t *g)
{
    const char *p, *host, *host_end, *auth_end, *auth;
    long port;
    if (strncmp(url, "http://", 7) == 0) {
        auth = url + 7;
        port = 80;
        g->tls = NULL;
    } else if (strncmp(url, "https://", 8) == 0) {
        auth = url + 8;
        port = 443;
        g->tls = tls_ctx;
    } else
        return -EINVAL;
    host = p = auth;
    if (*p == '[') { /* [IPv6] */
        host = ++p;
        while (*p && *p != ']')
            p++;
        if (*p != ']')
            return -EINVAL;
        host_end = p++;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#')
            p++;
        host_end = p;
    }
    if (host_end == host || (size_t)(host_end - host) >= sizeof g->host)
        return -EINVAL;
    if (*p == ':') {
        char *end;
        port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return -EINVAL;
        p = end;
    }
    auth_end = p;
    if (*p && *p != '/' && *p != '?' && *p != '#')
        return -EINVAL;
    if ((size_t)(auth_end - auth) >= sizeof g->authority)
        return -EINVAL;
    memcpy(g->host, host, (size_t)(host_end - host));
    g->host[host_end - host] = 0;
    memcpy(g->authority, auth, (size_t)(auth_end - auth));
    g->authority[auth_end - auth] = 0;
    g->port = (int)port;
    g->path = *p == '/' ? p : "/"; /* a fragment would be sent: keep URLs plain */
    return 0;
}

static int fetch(asyncio_task *self, void *frame)
{
    fetch_t *f = (fetch_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP());
    if (parse_url(f->url, &f->get) < 0)
        ASYNCIO_RAISE(-EINVAL, "not an http[s]://HOST[:PORT][/PATH] URL");
    /* async with asyncio.timeout(TIMEOUT): await http_get(url) */
    asyncio_timeout_enter(&f->to, self, TIMEOUT);
    ASYNCIO_AWAIT_CORO_RC(f->rc, http_get, &f->get);
    f->msg = f->rc < 0 ? ASYNCIO_ERRMSG() : NULL;
    f->rc = asyncio_timeout_exit(&f->to, f->rc);
    f->elapsed = asyncio_loop_time(ASYNCIO_LOOP()) - f->elapsed;
    if (f->rc == ASYNCIO_ETIMEDOUT)
        ASYNCIO_RAISE(f->rc, NULL);
    if (f->rc < 0)
        ASYNCIO_RAISE(f->rc, f->msg);
    ASYNCIO_END();
}

/* ---- main: gather the fetches ----------------------------------------- */

typedef struct {
    asyncio_coro co;
    int n, failed;
    fetch_t *fetches;
    asyncio_task *tasks;
    asyncio_gather_t g;
    double start;
} main_t;

static int main_coro(asyncio_task *self, void *frame)
{
    main_t *f = (main_t *)frame;
    int i;
    ASYNCIO_BEGIN(self, f);
    f->start = asyncio_loop_time(ASYNCIO_LOOP());
    if (asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, fetch, f->fetches, sizeof f->fetches[0],
                           (size_t)f->n, ASYNCIO_RETURN_EXCEPTIONS) < 0)
        ASYNCIO_RAISE(-ENOMEM, NULL);
    ASYNCIO_AWAIT(&f->g.fut);
    for (i = 0; i < f->n; i++) {
        fetch_t *r = &f->fetches[i];
        if (asyncio_gather_result(&f->g, (size_t)i, NULL) == 0) {
            printf("%s: %d %lld bytes in %.3f s%s%s\n", r->url, r->get.status, r->get.size, r->elapsed,
                   r->get.version ? " over " : "", r->get.version ? r->get.version : "");
        } else {
            fflush(stdout);
            fprintf(stderr, "%s: error: %s\n", r->url,
                    asyncio_future_errmsg(asyncio_gather_child(&f->g, (size_t)i)));
            f->failed++;
        }
    }
    printf("total: %.3f s\n", asyncio_loop_time(ASYNCIO_LOOP()) - f->start);
    ASYNCIO_END();
}

int main(int argc, char **argv)
{
    static main_t m;
    asyncio_outcome out;
    const char *cafile = NULL;
    int i, rc, https = 0;
    if (argc > 2 && strcmp(argv[1], "--cacert") == 0) {
        cafile = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: %s [--cacert FILE] http[s]://HOST[:PORT][/PATH]...\n", PROGRAM);
        return 2;
    }
    for (i = 1; i < argc; i++)
        https |= strncmp(argv[i], "https://", 8) == 0;
    if (https || cafile) {
        /* tls_ctx = ssl.create_default_context(cafile=cafile): the system's
           trust store unless --cacert names the CAs to trust instead */
        asyncio_tls_options o;
        memset(&o, 0, sizeof o);
        o.cafile = cafile;
        if (asyncio_tls_client(&tls_ctx, &o) < 0) {
            fprintf(stderr, "%s: %s%s%s\n", PROGRAM, cafile ? cafile : "", cafile ? ": " : "", asyncio_errmsg());
            return 1;
        }
    }
    m.n = argc - 1;
    m.fetches = (fetch_t *)calloc((size_t)m.n, sizeof *m.fetches); /* zeroed: co is ASYNCIO_CORO_INIT */
    m.tasks = (asyncio_task *)calloc((size_t)m.n, sizeof *m.tasks);
    if (!m.fetches || !m.tasks) {
        fprintf(stderr, "%s: out of memory\n", PROGRAM);
        return 1;
    }
    for (i = 0; i < m.n; i++)
        m.fetches[i].url = argv[i + 1];
    rc = asyncio_run(main_coro, &m, &out);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", PROGRAM, out.msg);
    free(m.fetches);
    free(m.tasks);
    asyncio_tls_free(tls_ctx); /* NULL: nothing */
    return rc < 0 || m.failed ? 1 : 0;
}
