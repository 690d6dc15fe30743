/* TLS (section 15, built with -DASYNCIO_TLS=1): our client against our
   server, against curl and `openssl s_client`, and against `openssl
   s_server`; every error of "Shutdown and errors" (bad, expired,
   wrong-host, self-signed and unknown-CA certificates, a protocol
   mismatch, plain text on the TLS port, end of stream without
   close_notify and its opt-out, close_notify on close); bad input; a
   handshake that never completes and a peer that sends garbage; ALPN, SNI
   and client certificates; 200 concurrent connections; STARTTLS with data
   pipelined behind the upgrade; cancellation during the handshake and of
   a read.  The CA and every certificate are made at run time with the
   `openssl` command line (ECDSA P-256) in a scratch directory removed at
   exit: no key is ever committed.  Peers that must misbehave (close
   without close_notify, send a ClientHello behind a STARTTLS line in one
   write) are OpenSSL on a plain socket, run on the executor with blocking
   calls.  Everything runs on the real clock: the peers are real processes
   and threads, and handshake timers must not jump.  Test names begin
   with tls_: `make test-unit` runs them on the six TLS builds. */
#define _GNU_SOURCE 1
#include "tests.h"
#if ASYNCIO_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <math.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- certificates ------------------------------------------------------- */
/* In test_dir: ca (the CA we trust), server (localhost, 127.0.0.1),
   other (other.example, *.other.example), client (a client certificate),
   expired (server's key, expired yesterday), self (self-signed
   localhost), ca2 and rogue (localhost by a CA nobody trusts), garbage
   (not PEM at all). */
static const char tls_cnf[] =
    "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
    "[v3ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
    "[srv]\nbasicConstraints = CA:FALSE\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n"
    "extendedKeyUsage = serverAuth\n"
    "[other]\nbasicConstraints = CA:FALSE\nsubjectAltName = DNS:other.example,DNS:*.other.example\n"
    "extendedKeyUsage = serverAuth\n"
    "[cli]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n";

static const char tls_script[] =
    "K='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -config x509.cnf'\n"
    "openssl req -x509 $K -keyout ca.key -out ca.pem -subj /CN=asyncio-test-CA -extensions v3ca &&\n"
    "openssl req -x509 $K -keyout server.key -out server.pem -subj /CN=localhost -extensions srv"
    " -CA ca.pem -CAkey ca.key &&\n"
    "openssl req -x509 $K -keyout other.key -out other.pem -subj /CN=other.example -extensions other"
    " -CA ca.pem -CAkey ca.key &&\n"
    "openssl req -x509 $K -keyout client.key -out client.pem -subj /CN=asyncio-test-client -extensions cli"
    " -CA ca.pem -CAkey ca.key &&\n"
    "openssl req -x509 $K -keyout self.key -out self.pem -subj /CN=localhost -extensions srv &&\n"
    "openssl req -x509 $K -keyout ca2.key -out ca2.pem -subj /CN=asyncio-untrusted-CA -extensions v3ca &&\n"
    "openssl req -x509 $K -keyout rogue.key -out rogue.pem -subj /CN=localhost -extensions srv"
    " -CA ca2.pem -CAkey ca2.key &&\n"
    "openssl req -new -key server.key -out server.csr -subj /CN=localhost -config x509.cnf &&\n"
    "X='openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 4242 -out expired.pem"
    " -extfile x509.cnf -extensions srv' &&\n"
    /* OpenSSL 3.0 takes -days -1 (valid until yesterday); 3.4 has -not_after */
    "{ $X -days -1 || $X -not_before 20200101000000Z -not_after 20200102000000Z; } &&\n"
    "echo 'not a certificate' > garbage.pem\n";

/* test_dir/name; eight buffers in turn. */
static const char *pem(const char *name)
{
    static char bufs[8][128];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", test_dir, name);
    return b;
}

static void make_certs(void)
{
    char cmd[sizeof tls_script + 256];
    FILE *fp;
    test_dir_make("tls");
    CHECK((fp = fopen(pem("x509.cnf"), "w")) != NULL);
    fputs(tls_cnf, fp);
    fclose(fp);
    snprintf(cmd, sizeof cmd, "cd %s && { %s} >openssl.log 2>&1", test_dir, tls_script);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/openssl.log >&2", test_dir);
        if (system(cmd)) {
        }
        CHECK(!"openssl could make the test certificates");
    }
}

/* A context from files in test_dir (NULL: none). */
static asyncio_tls *tls_ctx(int server, const char *ca, const char *cert, const char *key, unsigned flags,
                            double handshake_timeout)
{
    asyncio_tls_options o;
    asyncio_tls *t = NULL;
    int rc;
    memset(&o, 0, sizeof o);
    o.cafile = ca ? pem(ca) : NULL;
    o.certfile = cert ? pem(cert) : NULL;
    o.keyfile = key ? pem(key) : NULL;
    o.flags = flags;
    o.handshake_timeout = handshake_timeout;
    rc = server ? asyncio_tls_server(&t, &o) : asyncio_tls_client(&t, &o);
    if (rc)
        fprintf(stderr, "  tls context: %s: %s\n", asyncio_err_name(rc), asyncio_errmsg());
    CHECK_EQ(rc, 0);
    CHECK(t != NULL);
    return t;
}
static asyncio_tls *server_ctx(const char *cert, const char *key) { return tls_ctx(1, NULL, cert, key, 0, 0); }
static asyncio_tls *client_ctx(void) { return tls_ctx(0, "ca.pem", NULL, NULL, 0, 0); }

static void serve_tls(asyncio_server *srv, asyncio_loop *L, asyncio_fn handler, size_t size, asyncio_tls *ctx)
{
    asyncio_server_options o;
    memset(&o, 0, sizeof o);
    o.tls = ctx;
    CHECK_EQ(asyncio_start_server_opts(srv, L, handler, size, "127.0.0.1", 0, &o), 0);
    CHECK(asyncio_server_port(srv) > 0);
}

/* Run fn(frame) as the main task of a loop on the real clock; its
   outcome, its message printed when it failed.  The loop must close
   cleanly, leaving no descriptor open. */
static int run_real(asyncio_fn fn, void *frame)
{
    asyncio_loop loop;
    asyncio_config cfg;
    asyncio_task t;
    int rc, fds = count_fds_settled();
    memset(&cfg, 0, sizeof cfg);
    cfg.virtual_clock = -1;
    cfg.slow_callback_duration = -1;
    CHECK_EQ(asyncio_loop_init(&loop, &cfg), 0);
    CHECK(asyncio_create_task(&loop, &t, fn, frame) != NULL);
    rc = asyncio_loop_run_until_complete(&loop, &t.fut);
    if (rc == 0)
        rc = asyncio_future_result(&t.fut, NULL);
    if (rc != 0)
        fprintf(stderr, "  main task: %s: %s\n", asyncio_err_name(rc), asyncio_future_errmsg(&t.fut));
    CHECK_EQ(asyncio_loop_close(&loop), 0);
    CHECK_EQ(count_fds_settled(), fds);
    return rc;
}

static double now_s(void) { return (double)test_now_ns() / 1e9; }

/* The peer certificate's common name, or "none". */
static void peer_cn(SSL *ssl, char *buf, size_t size)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    X509 *x = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
#else
    X509 *x = ssl ? SSL_get_peer_certificate(ssl) : NULL;
#endif
    snprintf(buf, size, "none");
    if (x) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)size);
        X509_free(x);
    }
}

/* Wait (up to 5 s) until a server has no connection left. */
typedef struct { asyncio_coro co; asyncio_server *srv; int i; } settle_t;
static int settle(asyncio_task *self, void *frame)
{
    settle_t *f = (settle_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->i = 0; f->srv->nconns && f->i < 500; f->i++) {
        ASYNCIO_SLEEP(0.01);
    }
    CHECK_EQ(f->srv->nconns, 0);
    ASYNCIO_END();
}
static settle_t *settle_on(settle_t *st, asyncio_server *srv)
{
    st->srv = srv;
    return st;
}

/* ---- handlers ------------------------------------------------------------ */
static int handlers_started; /* handlers that ran: their handshake got through */

/* Lines back; "bulk N\n": N raw bytes back; "GET ...": one HTTP answer,
   then the end; "quit\n": "bye\n", then the end (a TLS close). */
typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
    int rc, done;
    size_t left;
    char line[64];
} echo_conn_t;
static const char http_answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
                                  "Connection: close\r\n\r\nhello from asyncio.h\n";
static int echo_handler(asyncio_task *self, void *frame)
{
    echo_conn_t *f = (echo_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    handlers_started++;
    CHECK(asyncio_stream_tls(s) != NULL);
    while (!f->done) {
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, s));
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
            break;
        snprintf(f->line, sizeof f->line, "%.*s", (int)asyncio_stream_data_size(s), asyncio_stream_data(s));
        if (strcmp(f->line, "quit\n") == 0) {
            asyncio_stream_write(s, "bye\n", 4);
            break;
        }
        if (strncmp(f->line, "GET ", 4) == 0) {
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readuntil(&f->rd, s, "\r\n\r\n", 4));
            if (f->rc == 0)
                asyncio_stream_write(s, http_answer, sizeof http_answer - 1);
            break;
        }
        if (strncmp(f->line, "bulk ", 5) == 0) {
            for (f->left = strtoul(f->line + 5, NULL, 10); f->left;) {
                ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader,
                                      asyncio_stream_read(&f->rd, s, f->left < 65536 ? f->left : 65536));
                if (f->rc < 0 || ASYNCIO_RESULT().i == 0) {
                    f->done = 1;
                    break;
                }
                f->left -= (size_t)ASYNCIO_RESULT().i;
                asyncio_stream_write(s, asyncio_stream_data(s), asyncio_stream_data_size(s));
                ASYNCIO_AWAIT(asyncio_stream_drain(s));
            }
            continue;
        }
        asyncio_stream_write(s, asyncio_stream_data(s), asyncio_stream_data_size(s));
        ASYNCIO_AWAIT(asyncio_stream_drain(s));
    }
    ASYNCIO_END();
}

/* One line in, one line out about the connection: ALPN, SNI, the
   client's certificate. */
typedef struct { asyncio_conn base; asyncio_read_t rd; int rc; char out[256], cn[128]; } info_conn_t;
static int info_handler(asyncio_task *self, void *frame)
{
    info_conn_t *f = (info_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    const char *sni, *alpn;
    ASYNCIO_BEGIN(self, &f->base);
    handlers_started++;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, s));
    if (f->rc == 0 && ASYNCIO_RESULT().i > 0) {
        sni = SSL_get_servername(asyncio_stream_tls(s), TLSEXT_NAMETYPE_host_name);
        alpn = asyncio_stream_tls_alpn(s);
        peer_cn(asyncio_stream_tls(s), f->cn, sizeof f->cn);
        snprintf(f->out, sizeof f->out, "alpn=%s sni=%s client=%s\n", alpn ? alpn : "none", sni ? sni : "none",
                 f->cn);
        asyncio_stream_write(s, f->out, strlen(f->out));
    }
    ASYNCIO_END();
}

/* A plain server that says nothing: it reads until the client goes. */
static int silent_ended, silent_rc;
typedef struct { asyncio_conn base; asyncio_read_t rd; int rc; } silent_conn_t;
static int silent_handler(asyncio_task *self, void *frame)
{
    silent_conn_t *f = (silent_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    for (;;) {
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->base.stream, 4096));
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
            break;
    }
    silent_rc = f->rc;
    silent_ended++;
    ASYNCIO_END();
}

/* A plain server that is not TLS at all: it greets as SSH does. */
static int garbage_handler(asyncio_task *self, void *frame)
{
    silent_conn_t *f = (silent_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    asyncio_stream_write(f->base.stream, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", 32);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->base.stream, ASYNCIO_READ_ALL));
    ASYNCIO_END();
}

/* ---- one conversation ----------------------------------------------------- */
/* Connect with ctx (server_hostname host), send a line, read one back,
   close.  rc: the first error; msg its message; line what came back. */
typedef struct {
    asyncio_coro co;
    int port;
    asyncio_tls *ctx;
    const char *host, *send;
    int rc, connected;
    char msg[512], line[256], version[32], alpn[32], cn[128];
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
} talk_t;
static int talk(asyncio_task *self, void *frame)
{
    talk_t *f = (talk_t *)frame;
    const char *p;
    ASYNCIO_BEGIN(self, f);
    f->connected = 0;
    f->msg[0] = f->line[0] = f->version[0] = f->alpn[0] = f->cn[0] = 0;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection,
                          asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->port), f->ctx, f->host));
    if (f->rc < 0) {
        snprintf(f->msg, sizeof f->msg, "%s", ASYNCIO_ERRMSG() ? ASYNCIO_ERRMSG() : "");
        ASYNCIO_RETURN(asyncio_int(f->rc));
    }
    f->connected = 1;
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    snprintf(f->version, sizeof f->version, "%s", asyncio_stream_tls_version(f->s));
    p = asyncio_stream_tls_alpn(f->s);
    snprintf(f->alpn, sizeof f->alpn, "%s", p ? p : "none");
    peer_cn(asyncio_stream_tls(f->s), f->cn, sizeof f->cn);
    asyncio_stream_write(f->s, f->send ? f->send : "hello\n", strlen(f->send ? f->send : "hello\n"));
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    if (f->rc == 0 && ASYNCIO_RESULT().i > 0)
        snprintf(f->line, sizeof f->line, "%.*s", (int)ASYNCIO_RESULT().i - 1, asyncio_stream_data(f->s));
    else if (f->rc < 0)
        snprintf(f->msg, sizeof f->msg, "%s", ASYNCIO_ERRMSG() ? ASYNCIO_ERRMSG() : "");
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_RETURN(asyncio_int(f->rc));
    ASYNCIO_END();
}
static talk_t *talk_to(talk_t *t, int port, asyncio_tls *ctx, const char *host)
{
    t->port = port;
    t->ctx = ctx;
    t->host = host;
    t->send = NULL;
    return t;
}

/* ---- OpenSSL on a plain blocking socket, for peers that misbehave ------ */
/* Run on the executor (asyncio_to_thread); they never touch the loop. */
typedef struct {
    int lfd, port;
    char ca[128], cert[128], key[128];
    int result; /* what the peer saw: an SSL_ERROR_* code, or -1 for a failure of its own */
    char got[256];
    size_t ngot, first_write;
    asyncio_work work;
} rawpeer_t;

static void rawpeer_init(rawpeer_t *p)
{
    memset(p, 0, sizeof *p);
    p->lfd = -1;
    snprintf(p->ca, sizeof p->ca, "%s", pem("ca.pem"));
    snprintf(p->cert, sizeof p->cert, "%s", pem("server.pem"));
    snprintf(p->key, sizeof p->key, "%s", pem("server.key"));
}

static void sock_timeouts(int fd)
{
    struct timeval tv;
    tv.tv_sec = 5;
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* A blocking listening socket on 127.0.0.1, the port picked by the kernel. */
static int listen_local(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 16) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    *port = ntohs(a.sin_port);
    sock_timeouts(fd); /* accept too gives up after 5 s */
    return fd;
}

static int connect_local(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    sock_timeouts(fd);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        CHECK(k > 0);
        p += k;
        n -= (size_t)k;
    }
}

static SSL_CTX *raw_ctx(const rawpeer_t *p, int server)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    CHECK(ctx != NULL);
    if (server) {
        CHECK(SSL_CTX_use_certificate_chain_file(ctx, p->cert) == 1);
        CHECK(SSL_CTX_use_PrivateKey_file(ctx, p->key, SSL_FILETYPE_PEM) == 1);
    } else {
        CHECK(SSL_CTX_load_verify_locations(ctx, p->ca, NULL) == 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

/* Read with SSL_read until it returns <= 0: the bytes in got, the
   SSL_get_error of the end in result. */
static void raw_read_to_end(rawpeer_t *p, SSL *ssl)
{
    char buf[512];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) {
        CHECK(p->ngot + (size_t)n < sizeof p->got);
        memcpy(p->got + p->ngot, buf, (size_t)n);
        p->ngot += (size_t)n;
    }
    p->result = SSL_get_error(ssl, n);
}

/* A server that shakes hands, sends "partial" and closes the socket
   without close_notify. */
static int raw_server_truncates(void *arg, asyncio_outcome *out)
{
    rawpeer_t *p = (rawpeer_t *)arg;
    SSL_CTX *ctx = raw_ctx(p, 1);
    SSL *ssl = SSL_new(ctx);
    int fd = accept(p->lfd, NULL, NULL);
    (void)out;
    CHECK(fd >= 0);
    SSL_set_fd(ssl, fd);
    p->result = SSL_accept(ssl) == 1 ? 0 : -1;
    if (p->result == 0)
        CHECK(SSL_write(ssl, "partial", 7) == 7);
    close(fd); /* no SSL_shutdown: no close_notify */
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return 0;
}

/* A server that reads until the client's end and answers its
   close_notify with its own. */
static int raw_server_reads_to_end(void *arg, asyncio_outcome *out)
{
    rawpeer_t *p = (rawpeer_t *)arg;
    SSL_CTX *ctx = raw_ctx(p, 1);
    SSL *ssl = SSL_new(ctx);
    int fd = accept(p->lfd, NULL, NULL);
    (void)out;
    CHECK(fd >= 0);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1)
        p->result = -1;
    else {
        raw_read_to_end(p, ssl);
        if (p->result == SSL_ERROR_ZERO_RETURN)
            SSL_shutdown(ssl);
    }
    close(fd);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return 0;
}

/* A client of our server: sends "quit\n", reads to the end, answers the
   close_notify. */
static int raw_client_quits(void *arg, asyncio_outcome *out)
{
    rawpeer_t *p = (rawpeer_t *)arg;
    SSL_CTX *ctx = raw_ctx(p, 0);
    SSL *ssl = SSL_new(ctx);
    int fd = connect_local(p->port);
    (void)out;
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (SSL_connect(ssl) != 1)
        p->result = -1;
    else {
        CHECK(SSL_write(ssl, "quit\n", 5) == 5);
        raw_read_to_end(p, ssl);
        if (p->result == SSL_ERROR_ZERO_RETURN)
            SSL_shutdown(ssl);
    }
    close(fd);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return 0;
}

/* A client of our server that sends half a line and closes the socket
   without close_notify. */
static int raw_client_truncates(void *arg, asyncio_outcome *out)
{
    rawpeer_t *p = (rawpeer_t *)arg;
    SSL_CTX *ctx = raw_ctx(p, 0);
    SSL *ssl = SSL_new(ctx);
    int fd = connect_local(p->port);
    char buf[64];
    (void)out;
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    p->result = SSL_connect(ssl) == 1 ? 0 : -1;
    if (p->result == 0) {
        CHECK(SSL_write(ssl, "half a li", 9) == 9);
        /* wait for the server's session tickets to be read, so that the
           close below is a FIN, not a reset for unread data */
        SSL_peek(ssl, buf, 0);
        shutdown(fd, SHUT_WR);
        while (recv(fd, buf, sizeof buf, 0) > 0)
            ;
    }
    close(fd);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return 0;
}

/* ---- a client against our server ------------------------------------------ */
/* readline / readexactly / readuntil / read(n) / read(-1), 8 MiB each way
   with drain waiting on backpressure, the server's close (close_notify:
   end of stream, not an error), close and wait_closed. */
typedef struct {
    asyncio_coro co;
    asyncio_stream *s;
    asyncio_read_t rd;
    const unsigned char *want;
    size_t total, got;
} bulk_reader_t;
static int bulk_reader(asyncio_task *self, void *frame)
{
    bulk_reader_t *f = (bulk_reader_t *)frame;
    ASYNCIO_BEGIN(self, f);
    while (f->got < f->total) {
        ASYNCIO_AWAIT_CORO(asyncio_reader,
                           asyncio_stream_read(&f->rd, f->s, f->total - f->got < 65536 ? f->total - f->got : 65536));
        CHECK(ASYNCIO_RESULT().i > 0);
        CHECK(memcmp(asyncio_stream_data(f->s), f->want + f->got, asyncio_stream_data_size(f->s)) == 0);
        f->got += asyncio_stream_data_size(f->s);
    }
    ASYNCIO_END();
}

typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx;
    asyncio_server srv;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    asyncio_task reader;
    bulk_reader_t br;
    settle_t st;
    unsigned char *big;
    size_t n;
    int i;
    char line[64];
} echo_main_t;
static int echo_main(asyncio_task *self, void *frame)
{
    echo_main_t *f = (echo_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sctx = server_ctx("server.pem", "server.key");
    f->cctx = client_ctx();
    serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                       asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port), f->cctx,
                                           "localhost"));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    CHECK(asyncio_stream_tls(f->s) != NULL);
    CHECK_STR(asyncio_stream_tls_version(f->s), "TLSv1.3");
    CHECK(asyncio_stream_tls_cipher(f->s) != NULL);
    CHECK(asyncio_stream_tls_alpn(f->s) == NULL);
    /* writes in pieces, lines back in order */
    CHECK_EQ(asyncio_stream_write(f->s, "one\ntw", 6), 0);
    CHECK_EQ(asyncio_stream_write(f->s, "o\nthree\n", 8), 0);
    for (f->i = 0; f->i < 3; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
        trace("%.*s", (int)ASYNCIO_RESULT().i - 1, asyncio_stream_data(f->s));
    }
    asyncio_stream_write(f->s, "abc;def\n", 8);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 2));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "ab");
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readuntil(&f->rd, f->s, ";", 1));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "c;");
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 100));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "def\n");
    /* 8 MiB each way: one write far past the high water mark, drain
       waits, a reader checks every byte coming back */
    f->n = (size_t)8 << 20;
    f->big = pattern_new(f->n);
    snprintf(f->line, sizeof f->line, "bulk %zu\n", f->n);
    asyncio_stream_write(f->s, f->line, strlen(f->line));
    asyncio_stream_set_write_buffer_limits(f->s, 65536, 16384);
    f->br.s = f->s;
    f->br.want = f->big;
    f->br.total = f->n;
    asyncio_create_task(ASYNCIO_LOOP(), &f->reader, bulk_reader, &f->br);
    CHECK_EQ(asyncio_stream_write(f->s, f->big, f->n), 0);
    CHECK(asyncio_stream_write_buffer_size(f->s) > 65536);
    CHECK(!asyncio_future_done(asyncio_stream_drain(f->s)));
    ASYNCIO_AWAIT(asyncio_stream_drain(f->s));
    CHECK(asyncio_stream_write_buffer_size(f->s) <= 16384);
    trace("drained");
    ASYNCIO_AWAIT(&f->reader.fut);
    CHECK_EQ(f->br.got, f->n);
    trace("8MiB");
    /* the server's close ends the stream: read(-1) gives what came first */
    asyncio_stream_write(f->s, "quit\n", 5);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, ASYNCIO_READ_ALL));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "bye\n");
    CHECK(asyncio_stream_at_eof(f->s));
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 100));
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s)); /* close + wait_closed */
    trace("closed");
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, 1);
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    free(f->big);
    ASYNCIO_END();
}
void test_tls_client_against_our_server_reads_drain_close(void)
{
    static echo_main_t f;
    make_certs();
    trace_reset();
    CHECK_EQ(run_real(echo_main, &f), 0);
    CHECK_STR(trace_get(), "one two three drained 8MiB closed");
}

/* ---- curl and openssl s_client against our server -------------------------- */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx;
    asyncio_server srv;
    asyncio_process *p;
    asyncio_process_op op;
    asyncio_process_options o;
    settle_t st;
    const char *argv[20];
    char url[64], resolve[64], addr[64], ca[128];
} tools_main_t;
static void set_stdio(asyncio_process_options *o, int in, int out, int err)
{
    memset(o, 0, sizeof *o);
    o->stdio[0].mode = in;
    o->stdio[1].mode = out;
    o->stdio[2].mode = err;
}
static asyncio_process *spawn(asyncio_loop *L, const char *const *argv, const asyncio_process_options *o)
{
    asyncio_process *p = NULL;
    int rc = asyncio_create_subprocess_exec(&p, L, argv, o);
    if (rc != 0)
        fprintf(stderr, "  spawn %s: %s: %s\n", argv[0], asyncio_err_name(rc), asyncio_errmsg());
    CHECK_EQ(rc, 0);
    return p;
}
static int tools_main(asyncio_task *self, void *frame)
{
    tools_main_t *f = (tools_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sctx = server_ctx("server.pem", "server.key");
    serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
    snprintf(f->url, sizeof f->url, "https://localhost:%d/", f->srv.port);
    snprintf(f->resolve, sizeof f->resolve, "localhost:%d:127.0.0.1", f->srv.port);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", f->srv.port);
    snprintf(f->ca, sizeof f->ca, "%s", pem("ca.pem"));
    /* curl --cacert: verifies us, gets the page */
    {
        const char *argv[] = {"curl", "-sS", "--max-time", "10", "--cacert", f->ca, "--resolve", f->resolve, f->url,
                              NULL};
        memcpy(f->argv, argv, sizeof argv);
    }
    set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->p = spawn(ASYNCIO_LOOP(), f->argv, &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    if (ASYNCIO_RESULT().i != 0)
        fprintf(stderr, "  curl: %.*s\n", (int)f->op.err_len, f->op.err);
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "hello from asyncio.h\n");
    asyncio_process_release(f->p);
    /* curl without our CA: certificate problem (60); no handler runs */
    {
        const char *argv[] = {"curl", "-sS", "--max-time", "10", "--resolve", f->resolve, f->url, NULL};
        memcpy(f->argv, argv, sizeof argv);
    }
    f->p = spawn(ASYNCIO_LOOP(), f->argv, &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
    CHECK_EQ(ASYNCIO_RESULT().i, 60);
    CHECK_EQ(f->op.out_len, 0);
    asyncio_process_release(f->p);
    /* openssl s_client, verifying name and chain: two lines, the server's close */
    {
        const char *argv[] = {"openssl", "s_client", "-connect", f->addr, "-servername", "localhost",
                              "-verify_hostname", "localhost", "-CAfile", f->ca, "-verify_return_error",
                              "-quiet", NULL};
        memcpy(f->argv, argv, sizeof argv);
    }
    set_stdio(&f->o, ASYNCIO_PIPE, ASYNCIO_PIPE, ASYNCIO_PIPE);
    f->p = spawn(ASYNCIO_LOOP(), f->argv, &f->o);
    ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, "hello\nquit\n", 11));
    if (ASYNCIO_RESULT().i != 0)
        fprintf(stderr, "  s_client: %.*s\n", (int)f->op.err_len, f->op.err);
    CHECK_EQ(ASYNCIO_RESULT().i, 0);
    CHECK_BYTES(f->op.out, f->op.out_len, "hello\nbye\n");
    asyncio_process_release(f->p);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, 2);
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    ASYNCIO_END();
}
void test_tls_curl_and_openssl_s_client_against_our_server(void)
{
    static tools_main_t f;
    make_certs();
    CHECK_EQ(run_real(tools_main, &f), 0);
}

/* ---- our client against openssl s_server ------------------------------------ */
/* s_server -rev (each line back reversed) and -www (a status page), on a
   port it picks (-accept 0: it prints "ACCEPT host:port"). */
typedef struct {
    asyncio_coro co;
    asyncio_tls *cctx;
    asyncio_process *p;
    asyncio_process_op op;
    asyncio_process_options o;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    const char *argv[20];
    char cert[128], key[128], line[128];
    int port, www, rc;
} sserver_main_t;
static int sserver_main(asyncio_task *self, void *frame)
{
    sserver_main_t *f = (sserver_main_t *)frame;
    const char *colon;
    ASYNCIO_BEGIN(self, f);
    f->cctx = client_ctx();
    snprintf(f->cert, sizeof f->cert, "%s", pem("server.pem"));
    snprintf(f->key, sizeof f->key, "%s", pem("server.key"));
    for (f->www = 0; f->www < 2; f->www++) {
        {
            const char *argv[] = {"openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-cert", f->cert,
                                  "-key", f->key, f->www ? "-www" : "-rev", NULL};
            memcpy(f->argv, argv, sizeof argv);
        }
        set_stdio(&f->o, ASYNCIO_DEVNULL, ASYNCIO_PIPE, ASYNCIO_DEVNULL);
        f->p = spawn(ASYNCIO_LOOP(), f->argv, &f->o);
        for (f->port = 0; !f->port;) {
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, asyncio_process_stdout(f->p)));
            CHECK(ASYNCIO_RESULT().i > 0);
            snprintf(f->line, sizeof f->line, "%.*s", (int)ASYNCIO_RESULT().i,
                     asyncio_stream_data(asyncio_process_stdout(f->p)));
            if (strncmp(f->line, "ACCEPT", 6) == 0 && (colon = strrchr(f->line, ':')) != NULL)
                f->port = atoi(colon + 1);
        }
        ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                           asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->port), f->cctx,
                                               "localhost"));
        f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
        CHECK_STR(asyncio_stream_tls_version(f->s), "TLSv1.3");
        if (f->www) {
            asyncio_stream_write(f->s, "GET / HTTP/1.0\r\n\r\n", 18);
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->s, ASYNCIO_READ_ALL));
            if (f->rc)
                fprintf(stderr, "  read(-1) from s_server -www: %s: %s\n", asyncio_err_name(f->rc), ASYNCIO_ERRMSG());
            CHECK_EQ(f->rc, 0);
            CHECK(ASYNCIO_RESULT().i > 100);
            CHECK(strncmp(asyncio_stream_data(f->s), "HTTP/1.0 200 ok\r\n", 17) == 0);
            trace("www");
        } else {
            asyncio_stream_write(f->s, "hello asyncio\n", 14);
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
            CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "oicnysa olleh\n");
            trace("rev");
        }
        ASYNCIO_AWAIT(asyncio_stream_close(f->s));
        /* -naccept 1: it exits after its one client */
        ASYNCIO_AWAIT_CORO(asyncio_process_io, asyncio_process_communicate(&f->op, f->p, NULL, 0));
        CHECK_EQ(ASYNCIO_RESULT().i, 0);
        asyncio_process_release(f->p);
    }
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
void test_tls_our_client_against_openssl_s_server(void)
{
    static sserver_main_t f;
    make_certs();
    trace_reset();
    CHECK_EQ(run_real(sserver_main, &f), 0);
    CHECK_STR(trace_get(), "rev www");
}

/* ---- certificates that do not verify ---------------------------------------- */
/* A server per certificate; our client (trusting ca.pem) refuses each
   with ASYNCIO_ETLSVERIFY and Python's message; the server's handler
   never runs (the client's alert fails the server's handshake too). */
typedef struct {
    const char *cert, *key, *host;
    int client; /* 0: trusts ca.pem, 1: the system's store, 2: verifies nothing */
    int rc;
    const char *msg;
} verify_case_t;
static const verify_case_t verify_cases[] = {
    {"server.pem", "server.key", "localhost", 0, 0, ""},
    {"expired.pem", "server.key", "localhost", 0, ASYNCIO_ETLSVERIFY,
     "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired"},
    {"other.pem", "other.key", "localhost", 0, ASYNCIO_ETLSVERIFY,
     "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid "
     "for 'localhost'."},
    {"self.pem", "self.key", "localhost", 0, ASYNCIO_ETLSVERIFY, "self-signed certificate"},
    {"rogue.pem", "rogue.key", "localhost", 0, ASYNCIO_ETLSVERIFY,
     "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate"},
    {"server.pem", "server.key", "localhost", 1, ASYNCIO_ETLSVERIFY, "certificate verify failed"},
    {"self.pem", "self.key", "localhost", 2, 0, ""},
    {"other.pem", "other.key", "localhost", 2, 0, ""},
};
typedef struct {
    asyncio_coro co;
    asyncio_tls *ctx[3], *sctx;
    asyncio_server srv;
    talk_t t;
    settle_t st;
    int i, before;
} verify_main_t;
static int verify_main(asyncio_task *self, void *frame)
{
    verify_main_t *f = (verify_main_t *)frame;
    const verify_case_t *c;
    ASYNCIO_BEGIN(self, f);
    f->ctx[0] = client_ctx();
    f->ctx[1] = tls_ctx(0, NULL, NULL, NULL, 0, 0);
    f->ctx[2] = tls_ctx(0, NULL, NULL, NULL, ASYNCIO_TLS_INSECURE_NO_VERIFY, 0);
    for (f->i = 0; f->i < (int)(sizeof verify_cases / sizeof verify_cases[0]); f->i++) {
        c = &verify_cases[f->i];
        f->sctx = server_ctx(c->cert, c->key);
        serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
        f->before = handlers_started;
        ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->ctx[verify_cases[f->i].client], c->host));
        c = &verify_cases[f->i];
        if (f->t.rc != c->rc || !strstr(f->t.msg, c->msg))
            fprintf(stderr, "  case %d (%s): %s: %s\n", f->i, c->cert, asyncio_err_name(f->t.rc), f->t.msg);
        CHECK_EQ(f->t.rc, c->rc);
        CHECK(strstr(f->t.msg, c->msg) != NULL);
        if (c->rc == 0) {
            CHECK_STR(f->t.line, "hello");
            CHECK_EQ(handlers_started, f->before + 1);
        } else {
            CHECK_EQ(f->t.connected, 0);
        }
        ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
        if (verify_cases[f->i].rc != 0)
            CHECK_EQ(handlers_started, f->before);
        asyncio_server_close(&f->srv);
        asyncio_tls_free(f->sctx);
    }
    asyncio_tls_free(f->ctx[0]);
    asyncio_tls_free(f->ctx[1]);
    asyncio_tls_free(f->ctx[2]);
    ASYNCIO_END();
}
void test_tls_bad_expired_wrong_host_self_signed_unknown_ca(void)
{
    static verify_main_t f;
    make_certs();
    CHECK_EQ(run_real(verify_main, &f), 0);
}

/* Python checks an IP address given as the host against the
   certificate's IP addresses (ssl.match_hostname / X509_VERIFY_PARAM
   _set1_ip), and sends no SNI for it: open_connection("127.0.0.1", port,
   ssl=ctx) works with a certificate for IP:127.0.0.1. */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx;
    asyncio_server srv;
    talk_t t;
    settle_t st;
} ip_main_t;
static int ip_main(asyncio_task *self, void *frame)
{
    ip_main_t *f = (ip_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sctx = server_ctx("server.pem", "server.key");
    f->cctx = client_ctx();
    serve_tls(&f->srv, ASYNCIO_LOOP(), info_handler, sizeof(info_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, NULL)); /* the host: "127.0.0.1" */
    if (f->t.rc)
        fprintf(stderr, "  by IP address: %s: %s\n", asyncio_err_name(f->t.rc), f->t.msg);
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.line, "alpn=none sni=none client=none");
    /* a certificate without that address fails */
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    f->sctx = server_ctx("other.pem", "other.key");
    serve_tls(&f->srv, ASYNCIO_LOOP(), info_handler, sizeof(info_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, NULL));
    CHECK_EQ(f->t.rc, ASYNCIO_ETLSVERIFY);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
void test_tls_ip_address_host_checks_ip_san_like_python(void)
{
    static ip_main_t f;
    make_certs();
    CHECK_EQ(run_real(ip_main, &f), 0);
}

/* ---- protocol mismatch, plain text, garbage ------------------------------- */
/* A server that requires TLS 1.3 and a client that stops at 1.2: ETLS
   naming the protocol version, no handler; TLS 1.2 both ways works.
   Plain text and garbage on the TLS port: the client is closed, the
   server goes on serving.  A server that is not TLS: ETLS. */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx, *c12;
    asyncio_server srv, plain;
    talk_t t;
    settle_t st;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    int rc, i, before;
    size_t total;
} mismatch_main_t;
/* a handshake record header whose 47 bytes are no ClientHello */
static const char garbage_hello[] = "\x16\x03\x01\x00\x2f"
                                    "this is no ClientHello, only 47 bytes of junk!!";
static int mismatch_main(asyncio_task *self, void *frame)
{
    mismatch_main_t *f = (mismatch_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sctx = server_ctx("server.pem", "server.key");
    CHECK_EQ(SSL_CTX_set_min_proto_version(asyncio_tls_ssl_ctx(f->sctx), TLS1_3_VERSION), 1);
    f->cctx = client_ctx();
    f->c12 = client_ctx();
    CHECK_EQ(SSL_CTX_set_max_proto_version(asyncio_tls_ssl_ctx(f->c12), TLS1_2_VERSION), 1);
    serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->c12, "localhost"));
    if (f->t.rc != ASYNCIO_ETLS || !strstr(f->t.msg, "protocol version"))
        fprintf(stderr, "  TLS 1.2 against 1.3 only: %s: %s\n", asyncio_err_name(f->t.rc), f->t.msg);
    CHECK_EQ(f->t.rc, ASYNCIO_ETLS);
    CHECK(strstr(f->t.msg, "protocol version") != NULL);
    CHECK_EQ(f->t.connected, 0);
    /* plain text on the TLS port, then garbage that looks like a record:
       each plain client sees its connection end (EOF or a reset, maybe
       after an alert), and nothing else */
    for (f->i = 0; f->i < 2; f->i++) {
        ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
        f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
        if (f->i == 0)
            asyncio_stream_write(f->s, "GET / HTTP/1.0\r\n\r\n", 18);
        else
            asyncio_stream_write(f->s, garbage_hello, sizeof garbage_hello - 1);
        for (f->total = 0;;) {
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->s, 4096));
            if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
                break;
            f->total += (size_t)ASYNCIO_RESULT().i;
        }
        CHECK(f->rc == 0 || f->rc == -ECONNRESET);
        CHECK(f->total <= 7); /* an alert record at most */
        ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    }
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, 0);
    /* the server still serves */
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, "localhost"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.line, "hello");
    CHECK_STR(f->t.version, "TLSv1.3");
    CHECK_EQ(handlers_started, 1);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    /* TLS 1.2 where the server allows it */
    f->sctx = server_ctx("server.pem", "server.key");
    serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->c12, "localhost"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.line, "hello");
    CHECK_STR(f->t.version, "TLSv1.2");
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    /* a server that is not TLS at all */
    CHECK_EQ(asyncio_start_server(&f->plain, ASYNCIO_LOOP(), garbage_handler, sizeof(silent_conn_t), "127.0.0.1", 0),
             0);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->plain.port, f->cctx, "localhost"));
    if (f->t.rc != ASYNCIO_ETLS)
        fprintf(stderr, "  against SSH: %s: %s\n", asyncio_err_name(f->t.rc), f->t.msg);
    CHECK_EQ(f->t.rc, ASYNCIO_ETLS);
    CHECK_EQ(f->t.connected, 0);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->plain));
    asyncio_server_close(&f->plain);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    asyncio_tls_free(f->c12);
    ASYNCIO_END();
}
void test_tls_protocol_mismatch_plain_text_and_garbage(void)
{
    static mismatch_main_t f;
    make_certs();
    CHECK_EQ(run_real(mismatch_main, &f), 0);
}

/* ---- end of stream without close_notify; close sends close_notify ---------- */
typedef struct {
    asyncio_coro co;
    asyncio_tls *cctx, *trunc, *sctx;
    asyncio_server srv;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    rawpeer_t peer;
    settle_t st;
    int rc, round;
} eof_main_t;
static int server_rc;
static char server_msg[256];
/* Reads a line, records how that went. */
static int record_handler(asyncio_task *self, void *frame)
{
    silent_conn_t *f = (silent_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    handlers_started++;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, f->base.stream));
    server_rc = f->rc;
    snprintf(server_msg, sizeof server_msg, "%s", f->rc && ASYNCIO_ERRMSG() ? ASYNCIO_ERRMSG() : "");
    ASYNCIO_END();
}
static int eof_main(asyncio_task *self, void *frame)
{
    eof_main_t *f = (eof_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->cctx = client_ctx();
    f->trunc = tls_ctx(0, "ca.pem", NULL, NULL, ASYNCIO_TLS_ALLOW_TRUNCATION, 0);
    /* a server that closes without close_notify: the data, then ETLS;
       with ALLOW_TRUNCATION: the data, then end of stream */
    for (f->round = 0; f->round < 2; f->round++) {
        rawpeer_init(&f->peer);
        f->peer.lfd = listen_local(&f->peer.port);
        asyncio_to_thread(ASYNCIO_LOOP(), &f->peer.work, raw_server_truncates, &f->peer);
        ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                           asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->peer.port),
                                               f->round ? f->trunc : f->cctx, "localhost"));
        f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 7));
        CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "partial");
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->s, 100));
        if (f->round == 0) {
            CHECK_EQ(f->rc, ASYNCIO_ETLS);
            CHECK(strstr(ASYNCIO_ERRMSG(), "EOF occurred in violation of protocol") != NULL);
            CHECK(!asyncio_stream_at_eof(f->s));
            /* the error sticks: the next read says it again */
            ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->s, 100));
            CHECK_EQ(f->rc, ASYNCIO_ETLS);
        } else {
            CHECK_EQ(f->rc, 0);
            CHECK_EQ(ASYNCIO_RESULT().i, 0);
            CHECK(asyncio_stream_at_eof(f->s));
        }
        ASYNCIO_AWAIT(asyncio_stream_close(f->s));
        ASYNCIO_AWAIT(&f->peer.work.fut);
        CHECK_EQ(f->peer.result, 0);
        close(f->peer.lfd);
    }
    /* our close sends close_notify: the peer's SSL_read ends with
       SSL_ERROR_ZERO_RETURN after every byte */
    rawpeer_init(&f->peer);
    f->peer.lfd = listen_local(&f->peer.port);
    asyncio_to_thread(ASYNCIO_LOOP(), &f->peer.work, raw_server_reads_to_end, &f->peer);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                       asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->peer.port), f->cctx,
                                           "localhost"));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    asyncio_stream_write(f->s, "last words", 10);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_AWAIT(&f->peer.work.fut);
    CHECK_EQ(f->peer.result, SSL_ERROR_ZERO_RETURN);
    CHECK_BYTES(f->peer.got, f->peer.ngot, "last words");
    close(f->peer.lfd);
    /* our server's close too (the handler returning) */
    f->sctx = server_ctx("server.pem", "server.key");
    serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
    rawpeer_init(&f->peer);
    f->peer.port = f->srv.port;
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->peer.work, raw_client_quits, &f->peer));
    CHECK_EQ(f->peer.result, SSL_ERROR_ZERO_RETURN);
    CHECK_BYTES(f->peer.got, f->peer.ngot, "bye\n");
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    /* a client that goes without close_notify: the server's read fails
       with ETLS, the same message */
    serve_tls(&f->srv, ASYNCIO_LOOP(), record_handler, sizeof(silent_conn_t), f->sctx);
    rawpeer_init(&f->peer);
    f->peer.port = f->srv.port;
    handlers_started = 0;
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->peer.work, raw_client_truncates, &f->peer));
    CHECK_EQ(f->peer.result, 0);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, 1);
    CHECK_EQ(server_rc, ASYNCIO_ETLS);
    CHECK(strstr(server_msg, "EOF occurred in violation of protocol") != NULL);
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    asyncio_tls_free(f->trunc);
    ASYNCIO_END();
}
void test_tls_eof_without_close_notify_and_close_sends_it(void)
{
    static eof_main_t f;
    make_certs();
    CHECK_EQ(run_real(eof_main, &f), 0);
}

/* ---- bad input ------------------------------------------------------------ */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx;
    asyncio_server srv;
    asyncio_connect_t oc;
    asyncio_stream *s, *u;
    asyncio_read_t rd;
    asyncio_task reader;
    asyncio_future *fut;
    silent_conn_t rf;
    settle_t st;
    int rc, sv[2];
    char path[128];
} badinput_main_t;
static int read_once(asyncio_task *self, void *frame)
{
    silent_conn_t *f = (silent_conn_t *)frame;
    ASYNCIO_BEGIN(self, &f->base);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->base.stream, 10));
    ASYNCIO_END();
}
static int badinput_main(asyncio_task *self, void *frame)
{
    badinput_main_t *f = (badinput_main_t *)frame;
    asyncio_server_options o;
    ASYNCIO_BEGIN(self, f);
    f->sctx = server_ctx("server.pem", "server.key");
    f->cctx = client_ctx();
    /* TLS over a Unix socket: refused */
    snprintf(f->path, sizeof f->path, "%s/sock", test_dir);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection,
                          asyncio_connect_tls(asyncio_connect_unix(&f->oc, f->path), f->cctx, NULL));
    CHECK_EQ(f->rc, -EINVAL);
    CHECK(strstr(ASYNCIO_ERRMSG(), "Unix") != NULL);
    /* a server context for a client, a client context for a server */
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection,
                          asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", 9), f->sctx, NULL));
    CHECK_EQ(f->rc, -EINVAL);
    CHECK(strstr(ASYNCIO_ERRMSG(), "client context") != NULL);
    memset(&o, 0, sizeof o);
    o.tls = f->cctx;
    CHECK_EQ(asyncio_start_server_opts(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), "127.0.0.1", 0, &o),
             -EINVAL);
    CHECK(strstr(asyncio_errmsg(), "server context") != NULL);
    /* start_tls: on a Unix socket pair, on a reader-only stream, with no
       context, on a stream already TLS, while a read waits */
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, f->sv), 0);
    f->u = asyncio_stream_open(ASYNCIO_LOOP(), f->sv[0]);
    CHECK(f->u != NULL);
    f->fut = asyncio_stream_start_tls(f->u, f->cctx, "localhost");
    CHECK(asyncio_future_done(f->fut));
    CHECK_EQ(asyncio_future_error(f->fut), -EINVAL);
    ASYNCIO_AWAIT_RC(f->rc, f->fut);
    CHECK_EQ(f->rc, -EINVAL);
    ASYNCIO_AWAIT(asyncio_stream_close(f->u));
    close(f->sv[1]);
    f->u = asyncio_stream_new_reader(ASYNCIO_LOOP());
    f->fut = asyncio_stream_start_tls(f->u, f->cctx, "localhost");
    CHECK_EQ(asyncio_future_error(f->fut), -EINVAL);
    ASYNCIO_AWAIT(asyncio_stream_close(f->u));
    serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                       asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port), f->cctx,
                                           "localhost"));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    f->fut = asyncio_stream_start_tls(f->s, f->cctx, "localhost");
    CHECK_EQ(asyncio_future_error(f->fut), -EINVAL);
    CHECK(strstr(asyncio_future_errmsg(f->fut), "already") != NULL);
    f->fut = asyncio_stream_start_tls(f->s, NULL, "localhost");
    CHECK_EQ(asyncio_future_error(f->fut), -EINVAL);
    /* the stream is unharmed */
    asyncio_stream_write(f->s, "still fine\n", 11);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "still fine\n");
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    /* a plain stream with a read waiting: -EBUSY, the read undisturbed */
    CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), silent_handler, sizeof(silent_conn_t), "127.0.0.1", 0),
             0);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    f->rf.base.stream = f->s;
    asyncio_create_task(ASYNCIO_LOOP(), &f->reader, read_once, &f->rf);
    ASYNCIO_YIELD();
    f->fut = asyncio_stream_start_tls(f->s, f->cctx, "localhost");
    CHECK_EQ(asyncio_future_error(f->fut), -EBUSY);
    CHECK(asyncio_stream_tls(f->s) == NULL);
    asyncio_task_cancel(&f->reader);
    ASYNCIO_AWAIT_RC(f->rc, &f->reader.fut);
    CHECK_EQ(f->rf.rc, ASYNCIO_ECANCELLED);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
static void check_ctx_fails(int server, const char *ca, const char *cert, const char *key, unsigned flags,
                            int want, const char *msg)
{
    asyncio_tls_options o;
    asyncio_tls *t = (asyncio_tls *)&o; /* must be reset to NULL */
    int rc;
    memset(&o, 0, sizeof o);
    o.cafile = ca;
    o.certfile = cert;
    o.keyfile = key;
    o.flags = flags;
    rc = server ? asyncio_tls_server(&t, &o) : asyncio_tls_client(&t, &o);
    if (rc != want || !strstr(asyncio_errmsg(), msg))
        fprintf(stderr, "  context (%s, %s, %s): %s: %s\n", ca ? ca : "-", cert ? cert : "-", key ? key : "-",
                asyncio_err_name(rc), asyncio_errmsg());
    CHECK_EQ(rc, want);
    CHECK(t == NULL);
    CHECK(strstr(asyncio_errmsg(), msg) != NULL);
}
void test_tls_bad_input(void)
{
    static badinput_main_t f;
    asyncio_tls_options o;
    asyncio_tls *a, *b;
    static const char *const empty_alpn[] = {"h2", "", NULL};
    char long_name[300];
    const char *long_alpn[2];
    make_certs();
    /* files: missing, not readable as a file, not PEM, a key that does
       not match; a CA file that does not exist */
    check_ctx_fails(1, NULL, pem("missing.pem"), pem("server.key"), 0, ASYNCIO_ETLS, "certificate chain");
    check_ctx_fails(1, NULL, test_dir, pem("server.key"), 0, ASYNCIO_ETLS, "certificate chain");
    check_ctx_fails(1, NULL, pem("garbage.pem"), pem("server.key"), 0, ASYNCIO_ETLS, "certificate chain");
    check_ctx_fails(1, NULL, pem("server.pem"), pem("missing.key"), 0, ASYNCIO_ETLS, "private key");
    check_ctx_fails(1, NULL, pem("server.pem"), pem("garbage.pem"), 0, ASYNCIO_ETLS, "private key");
    check_ctx_fails(1, NULL, pem("server.pem"), pem("other.key"), 0, ASYNCIO_ETLS, "private key");
    check_ctx_fails(1, NULL, pem("server.pem"), NULL, 0, ASYNCIO_ETLS, "private key"); /* no key in the PEM */
    check_ctx_fails(0, pem("missing.pem"), NULL, NULL, 0, ASYNCIO_ETLS, "CA file");
    check_ctx_fails(0, NULL, pem("client.pem"), pem("server.key"), 0, ASYNCIO_ETLS, "private key");
    /* a server without a certificate, unknown flags */
    check_ctx_fails(1, NULL, NULL, NULL, 0, -EINVAL, "certfile");
    check_ctx_fails(0, NULL, NULL, NULL, 0x100, -EINVAL, "flags");
    CHECK_EQ(asyncio_tls_client(NULL, NULL), -EINVAL);
    /* negative and NaN timeouts; bad ALPN names */
    memset(&o, 0, sizeof o);
    o.handshake_timeout = -1;
    CHECK_EQ(asyncio_tls_client(&a, &o), -EINVAL);
    o.handshake_timeout = 0;
    o.shutdown_timeout = NAN;
    CHECK_EQ(asyncio_tls_client(&a, &o), -EINVAL);
    o.shutdown_timeout = 0;
    o.alpn = empty_alpn;
    CHECK_EQ(asyncio_tls_client(&a, &o), ASYNCIO_ETLS);
    CHECK(strstr(asyncio_errmsg(), "ALPN") != NULL);
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    long_alpn[0] = long_name;
    long_alpn[1] = NULL;
    o.alpn = long_alpn;
    CHECK_EQ(asyncio_tls_client(&a, &o), ASYNCIO_ETLS);
    /* add_name: two server contexts and a name */
    a = tls_ctx(1, NULL, "server.pem", "server.key", 0, 0);
    b = tls_ctx(0, "ca.pem", NULL, NULL, 0, 0);
    CHECK_EQ(asyncio_tls_add_name(a, "x.example", b), -EINVAL);
    CHECK_EQ(asyncio_tls_add_name(b, "x.example", a), -EINVAL);
    CHECK_EQ(asyncio_tls_add_name(a, "x.example", a), -EINVAL);
    CHECK_EQ(asyncio_tls_add_name(a, "", a), -EINVAL);
    CHECK_EQ(asyncio_tls_add_name(a, NULL, a), -EINVAL);
    asyncio_tls_free(a);
    asyncio_tls_free(b);
    asyncio_tls_free(NULL);
    /* in a loop: Unix sockets, wrong sides, start_tls misuse */
    CHECK_EQ(run_real(badinput_main, &f), 0);
}

/* ---- handshakes that never complete --------------------------------------- */
/* A server that says nothing: with handshake_timeout 0.2 s the connect
   fails with ETIMEDOUT after 0.2 s (not before, not much after), its
   socket closed (the server sees the end).  A client that says nothing
   to our server: dropped after the server's 0.2 s, its handler never
   started. */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx;
    asyncio_server srv, silent;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    settle_t st;
    double t0, dt;
    int rc;
} timeout_main_t;
static int timeout_main(asyncio_task *self, void *frame)
{
    timeout_main_t *f = (timeout_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->cctx = tls_ctx(0, "ca.pem", NULL, NULL, 0, 0.2);
    CHECK_EQ(asyncio_start_server(&f->silent, ASYNCIO_LOOP(), silent_handler, sizeof(silent_conn_t), "127.0.0.1", 0),
             0);
    f->t0 = now_s();
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_open_connection,
                          asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->silent.port), f->cctx,
                                              "localhost"));
    f->dt = now_s() - f->t0;
    CHECK_EQ(f->rc, ASYNCIO_ETIMEDOUT);
    CHECK(strstr(ASYNCIO_ERRMSG(), "SSL handshake is taking longer than 0.2 seconds") != NULL);
    CHECK(f->dt >= 0.2);
    CHECK(f->dt < 2.0);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->silent));
    CHECK_EQ(silent_ended, 1);
    CHECK(silent_rc == 0 || silent_rc == -ECONNRESET);
    asyncio_server_close(&f->silent);
    /* the server's side */
    f->sctx = tls_ctx(1, NULL, "server.pem", "server.key", 0, 0.2);
    serve_tls(&f->srv, ASYNCIO_LOOP(), echo_handler, sizeof(echo_conn_t), f->sctx);
    f->t0 = now_s(); /* before the connect: the server's clock starts when it accepts */
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->s, 100));
    f->dt = now_s() - f->t0;
    CHECK(f->rc == -ECONNRESET || (f->rc == 0 && ASYNCIO_RESULT().i == 0));
    CHECK(f->dt >= 0.2);
    CHECK(f->dt < 2.0);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, 0);
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
void test_tls_handshake_that_never_completes_times_out(void)
{
    static timeout_main_t f;
    make_certs();
    CHECK_EQ(run_real(timeout_main, &f), 0);
}

/* ---- ALPN ------------------------------------------------------------------ */
/* The server prefers h2 then http/1.1; the client's offer decides. */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx;
    asyncio_server srv;
    talk_t t;
    settle_t st;
    int i;
    char want[64];
} alpn_main_t;
static const char *const alpn_server[] = {"h2", "http/1.1", NULL};
static const char *const alpn_h11[] = {"http/1.1", NULL};
static const char *const alpn_both[] = {"h2", "http/1.1", NULL};
static const char *const alpn_both_rev[] = {"http/1.1", "h2", NULL};
static const char *const alpn_other[] = {"spdy/3", NULL};
static const struct { const char *const *offer; const char *got; } alpn_cases[] = {
    {alpn_h11, "http/1.1"}, {alpn_both, "h2"}, {alpn_both_rev, "h2"}, {alpn_other, "none"}, {NULL, "none"}};
static int alpn_main(asyncio_task *self, void *frame)
{
    alpn_main_t *f = (alpn_main_t *)frame;
    asyncio_tls_options o;
    ASYNCIO_BEGIN(self, f);
    memset(&o, 0, sizeof o);
    o.certfile = pem("server.pem");
    o.keyfile = pem("server.key");
    o.alpn = alpn_server;
    CHECK_EQ(asyncio_tls_server(&f->sctx, &o), 0);
    serve_tls(&f->srv, ASYNCIO_LOOP(), info_handler, sizeof(info_conn_t), f->sctx);
    for (f->i = 0; f->i < (int)(sizeof alpn_cases / sizeof alpn_cases[0]); f->i++) {
        memset(&o, 0, sizeof o);
        o.cafile = pem("ca.pem");
        o.alpn = alpn_cases[f->i].offer;
        CHECK_EQ(asyncio_tls_client(&f->cctx, &o), 0);
        ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, "localhost"));
        CHECK_EQ(f->t.rc, 0);
        CHECK_STR(f->t.alpn, alpn_cases[f->i].got);
        snprintf(f->want, sizeof f->want, "alpn=%s sni=localhost client=none", alpn_cases[f->i].got);
        CHECK_STR(f->t.line, f->want);
        asyncio_tls_free(f->cctx);
    }
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    ASYNCIO_END();
}
void test_tls_alpn_negotiation(void)
{
    static alpn_main_t f;
    make_certs();
    CHECK_EQ(run_real(alpn_main, &f), 0);
}

/* ---- SNI ------------------------------------------------------------------- */
/* Two certificates on one server, chosen by the name the client asks
   for: localhost (the default), other.example and *.other.example (one
   label only) from the added context, which the server keeps alive. */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *other, *cctx;
    asyncio_server srv;
    talk_t t;
    settle_t st;
} sni_main_t;
static int sni_main(asyncio_task *self, void *frame)
{
    sni_main_t *f = (sni_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sctx = server_ctx("server.pem", "server.key");
    f->other = server_ctx("other.pem", "other.key");
    CHECK_EQ(asyncio_tls_add_name(f->sctx, "other.example", f->other), 0);
    CHECK_EQ(asyncio_tls_add_name(f->sctx, "*.other.example", f->other), 0);
    asyncio_tls_free(f->other); /* the server context holds it */
    f->cctx = client_ctx();
    serve_tls(&f->srv, ASYNCIO_LOOP(), info_handler, sizeof(info_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, "localhost"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.cn, "localhost");
    CHECK_STR(f->t.line, "alpn=none sni=localhost client=none");
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, "other.example"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.cn, "other.example");
    CHECK_STR(f->t.line, "alpn=none sni=other.example client=none");
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, "A.Other.Example"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.cn, "other.example");
    /* two labels: not the wildcard's; the default certificate does not fit */
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cctx, "b.a.other.example"));
    CHECK_EQ(f->t.rc, ASYNCIO_ETLSVERIFY);
    CHECK(strstr(f->t.msg, "Hostname mismatch, certificate is not valid for 'b.a.other.example'.") != NULL);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
void test_tls_sni_picks_the_certificate_by_name(void)
{
    static sni_main_t f;
    make_certs();
    CHECK_EQ(run_real(sni_main, &f), 0);
}

/* ---- client certificates -------------------------------------------------- */
/* REQUIRE_CLIENT: without a certificate the connection fails (at the
   handshake under TLS 1.2; under TLS 1.3 the client's handshake ends
   first and its first read fails with the server's alert), with one
   signed by the CA it works and the handler sees its name; one from an
   unknown CA fails.  VERIFY_CLIENT alone lets a client without one in. */
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *anon, *anon12, *cert, *rogue;
    asyncio_server srv;
    talk_t t;
    settle_t st;
    int i;
} clientcert_main_t;
static int clientcert_main(asyncio_task *self, void *frame)
{
    clientcert_main_t *f = (clientcert_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sctx = tls_ctx(1, "ca.pem", "server.pem", "server.key", ASYNCIO_TLS_REQUIRE_CLIENT, 0);
    f->anon = client_ctx();
    f->anon12 = client_ctx();
    SSL_CTX_set_max_proto_version(asyncio_tls_ssl_ctx(f->anon12), TLS1_2_VERSION);
    f->cert = tls_ctx(0, "ca.pem", "client.pem", "client.key", 0, 0);
    f->rogue = tls_ctx(0, "ca.pem", "rogue.pem", "rogue.key", 0, 0);
    serve_tls(&f->srv, ASYNCIO_LOOP(), info_handler, sizeof(info_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->anon, "localhost"));
    if (f->t.rc != ASYNCIO_ETLS)
        fprintf(stderr, "  no client certificate: %s: %s\n", asyncio_err_name(f->t.rc), f->t.msg);
    CHECK_EQ(f->t.rc, ASYNCIO_ETLS);
    CHECK(strstr(f->t.msg, "certificate required") != NULL);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->anon12, "localhost"));
    CHECK_EQ(f->t.rc, ASYNCIO_ETLS);
    CHECK_EQ(f->t.connected, 0);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->rogue, "localhost"));
    CHECK_EQ(f->t.rc, ASYNCIO_ETLS);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, 0);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cert, "localhost"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.line, "alpn=none sni=localhost client=asyncio-test-client");
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, 1);
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    /* asked for, not required */
    f->sctx = tls_ctx(1, "ca.pem", "server.pem", "server.key", ASYNCIO_TLS_VERIFY_CLIENT, 0);
    serve_tls(&f->srv, ASYNCIO_LOOP(), info_handler, sizeof(info_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->anon, "localhost"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.line, "alpn=none sni=localhost client=none");
    ASYNCIO_AWAIT_CORO(talk, talk_to(&f->t, f->srv.port, f->cert, "localhost"));
    CHECK_EQ(f->t.rc, 0);
    CHECK_STR(f->t.line, "alpn=none sni=localhost client=asyncio-test-client");
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->anon);
    asyncio_tls_free(f->anon12);
    asyncio_tls_free(f->cert);
    asyncio_tls_free(f->rogue);
    ASYNCIO_END();
}
void test_tls_client_certificates(void)
{
    static clientcert_main_t f;
    make_certs();
    CHECK_EQ(run_real(clientcert_main, &f), 0);
}

/* ---- many connections ------------------------------------------------------- */
/* 200 TLS connections at once, each echoing 1 MiB through the server:
   every byte back, in order, on its own connection (each starts at its
   own offset in the pattern). */
#define MANY 200
#define MANY_BYTES ((size_t)1 << 20)
typedef struct { asyncio_coro co; asyncio_stream *s; const unsigned char *data; size_t sent; } many_writer_t;
static int many_writer(asyncio_task *self, void *frame)
{
    many_writer_t *f = (many_writer_t *)frame;
    ASYNCIO_BEGIN(self, f);
    for (f->sent = 0; f->sent < MANY_BYTES; f->sent += 65536) {
        CHECK_EQ(asyncio_stream_write(f->s, f->data + f->sent, 65536), 0);
        ASYNCIO_AWAIT(asyncio_stream_drain(f->s));
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    int port;
    asyncio_tls *ctx;
    const unsigned char *data;
    size_t got;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    asyncio_task wt;
    many_writer_t w;
} many_client_t;
static int many_client(asyncio_task *self, void *frame)
{
    many_client_t *f = (many_client_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                       asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->port), f->ctx, "localhost"));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    f->w.s = f->s;
    f->w.data = f->data;
    asyncio_create_task(ASYNCIO_LOOP(), &f->wt, many_writer, &f->w);
    for (f->got = 0; f->got < MANY_BYTES;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 65536));
        CHECK(ASYNCIO_RESULT().i > 0);
        CHECK(f->got + (size_t)ASYNCIO_RESULT().i <= MANY_BYTES);
        CHECK(memcmp(asyncio_stream_data(f->s), f->data + f->got, (size_t)ASYNCIO_RESULT().i) == 0);
        f->got += (size_t)ASYNCIO_RESULT().i;
    }
    ASYNCIO_AWAIT(&f->wt.fut);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_END();
}
/* The server: bytes back as they come, to the client's end. */
typedef struct { asyncio_conn base; asyncio_read_t rd; int rc; } bulk_conn_t;
static int bulk_echo_handler(asyncio_task *self, void *frame)
{
    bulk_conn_t *f = (bulk_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    handlers_started++;
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, s, 65536));
        if (ASYNCIO_RESULT().i == 0)
            break;
        CHECK_EQ(asyncio_stream_write(s, asyncio_stream_data(s), asyncio_stream_data_size(s)), 0);
        ASYNCIO_AWAIT(asyncio_stream_drain(s));
    }
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx;
    asyncio_server srv;
    asyncio_gather_t g;
    settle_t st;
    unsigned char *data;
    asyncio_task tasks[MANY];
    many_client_t clients[MANY];
    int i;
} many_main_t;
static int many_main(asyncio_task *self, void *frame)
{
    many_main_t *f = (many_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->sctx = server_ctx("server.pem", "server.key");
    f->cctx = client_ctx();
    serve_tls(&f->srv, ASYNCIO_LOOP(), bulk_echo_handler, sizeof(bulk_conn_t), f->sctx);
    f->data = pattern_new(MANY_BYTES + MANY * 4099);
    for (f->i = 0; f->i < MANY; f->i++) {
        f->clients[f->i].port = f->srv.port;
        f->clients[f->i].ctx = f->cctx;
        f->clients[f->i].data = f->data + (size_t)f->i * 4099;
    }
    CHECK_EQ(asyncio_gather_map(&f->g, ASYNCIO_LOOP(), f->tasks, many_client, f->clients, sizeof f->clients[0], MANY,
                                0),
             0);
    ASYNCIO_AWAIT(&f->g.fut);
    for (f->i = 0; f->i < MANY; f->i++)
        CHECK_EQ(f->clients[f->i].got, MANY_BYTES);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(handlers_started, MANY);
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    free(f->data);
    ASYNCIO_END();
}
void test_tls_200_concurrent_connections_echo_1mib_each(void)
{
    static many_main_t f;
    make_certs();
    CHECK_EQ(run_real(many_main, &f), 0);
}

/* ---- STARTTLS ----------------------------------------------------------------- */
/* A plain server: after a nap (so the client's handshake has arrived
   behind its line, and one read takes both) "STARTTLS\r\n", then
   start_tls as the server, then each line back as "ok:<line>" until the
   end.  With "BULK n\r\n" first, n plain pattern bytes come before. */
static asyncio_tls *upgrade_ctx;
static int upgrades;
typedef struct { asyncio_conn base; asyncio_read_t rd; int rc; size_t n, got; char out[128]; } starttls_conn_t;
static int starttls_handler(asyncio_task *self, void *frame)
{
    starttls_conn_t *f = (starttls_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    ASYNCIO_SLEEP(0.1);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
    if (strncmp(asyncio_stream_data(s), "BULK ", 5) == 0) {
        f->n = strtoul(asyncio_stream_data(s) + 5, NULL, 10);
        for (f->got = 0; f->got < f->n;) {
            ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, s, f->n - f->got));
            CHECK(ASYNCIO_RESULT().i > 0);
            {
                size_t i;
                for (i = 0; i < (size_t)ASYNCIO_RESULT().i; i++)
                    CHECK_EQ((unsigned char)asyncio_stream_data(s)[i], pattern_at(f->got + i));
            }
            f->got += (size_t)ASYNCIO_RESULT().i;
        }
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
    }
    CHECK_BYTES(asyncio_stream_data(s), ASYNCIO_RESULT().i, "STARTTLS\r\n");
    ASYNCIO_AWAIT(asyncio_stream_start_tls(s, upgrade_ctx, NULL));
    CHECK_STR(asyncio_stream_tls_version(s), "TLSv1.3");
    upgrades++;
    for (;;) {
        ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readline(&f->rd, s));
        if (f->rc < 0 || ASYNCIO_RESULT().i == 0)
            break;
        snprintf(f->out, sizeof f->out, "ok:%.*s", (int)ASYNCIO_RESULT().i, asyncio_stream_data(s));
        asyncio_stream_write(s, f->out, strlen(f->out));
    }
    CHECK_EQ(f->rc, 0);
    ASYNCIO_END();
}

/* OpenSSL over memory BIOs on a blocking socket: "STARTTLS\r\n" and the
   ClientHello in one write; the handshake's last flight and the first
   line in one write; the answer; close_notify. */
static void raw_flush(int fd, BIO *wb, const char *prefix, size_t nprefix, size_t *nsent)
{
    char out[32768];
    size_t n = nprefix;
    int k;
    memcpy(out, prefix, nprefix);
    while ((k = BIO_read(wb, out + n, (int)(sizeof out - n))) > 0)
        n += (size_t)k;
    if (n)
        send_all(fd, out, n);
    if (nsent)
        *nsent = n;
}
static int raw_starttls_client(void *arg, asyncio_outcome *out)
{
    rawpeer_t *p = (rawpeer_t *)arg;
    SSL_CTX *ctx = raw_ctx(p, 0);
    SSL *ssl = SSL_new(ctx);
    BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
    int fd = connect_local(p->port), rc;
    char buf[16384];
    ssize_t n;
    (void)out;
    SSL_set_bio(ssl, rb, wb);
    SSL_set_connect_state(ssl);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    CHECK(SSL_do_handshake(ssl) == -1);
    CHECK(SSL_get_error(ssl, -1) == SSL_ERROR_WANT_READ);
    raw_flush(fd, wb, "STARTTLS\r\n", 10, &p->first_write);
    while ((rc = SSL_do_handshake(ssl)) != 1) {
        CHECK(SSL_get_error(ssl, rc) == SSL_ERROR_WANT_READ);
        raw_flush(fd, wb, "", 0, NULL);
        n = recv(fd, buf, sizeof buf, 0);
        CHECK(n > 0);
        BIO_write(rb, buf, (int)n);
    }
    CHECK(SSL_write(ssl, "pipelined\n", 10) == 10); /* behind the Finished */
    raw_flush(fd, wb, "", 0, NULL);
    while (p->ngot == 0 || p->got[p->ngot - 1] != '\n') {
        int k = SSL_read(ssl, p->got + p->ngot, (int)(sizeof p->got - 1 - p->ngot));
        if (k > 0) {
            p->ngot += (size_t)k;
            continue;
        }
        CHECK(SSL_get_error(ssl, k) == SSL_ERROR_WANT_READ);
        n = recv(fd, buf, sizeof buf, 0);
        CHECK(n > 0);
        BIO_write(rb, buf, (int)n);
    }
    SSL_shutdown(ssl);
    raw_flush(fd, wb, "", 0, NULL);
    shutdown(fd, SHUT_WR);
    while (recv(fd, buf, sizeof buf, 0) > 0)
        ;
    p->result = 0;
    close(fd);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return 0;
}

typedef struct {
    asyncio_coro co;
    asyncio_tls *cctx;
    asyncio_server srv;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    asyncio_future *fut;
    rawpeer_t peer;
    settle_t st;
    unsigned char *big;
    size_t n;
    int rc;
    char line[64];
} starttls_main_t;
static int starttls_main(asyncio_task *self, void *frame)
{
    starttls_main_t *f = (starttls_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    upgrade_ctx = server_ctx("server.pem", "server.key");
    f->cctx = client_ctx();
    CHECK_EQ(asyncio_start_server(&f->srv, ASYNCIO_LOOP(), starttls_handler, sizeof(starttls_conn_t), "127.0.0.1", 0),
             0);
    /* a raw client: the line and the ClientHello in one write */
    rawpeer_init(&f->peer);
    f->peer.port = f->srv.port;
    ASYNCIO_AWAIT(asyncio_to_thread(ASYNCIO_LOOP(), &f->peer.work, raw_starttls_client, &f->peer));
    CHECK(f->peer.first_write > 100);
    CHECK_BYTES(f->peer.got, f->peer.ngot, "ok:pipelined\n");
    CHECK_EQ(upgrades, 1);
    /* two of our streams: the client writes the line, starts TLS at once
       and writes lines while the handshake runs */
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    CHECK(asyncio_stream_tls(f->s) == NULL);
    CHECK(asyncio_stream_tls_version(f->s) == NULL);
    asyncio_stream_write(f->s, "STARTTLS\r\n", 10);
    f->fut = asyncio_stream_start_tls(f->s, f->cctx, "localhost");
    CHECK(!asyncio_future_done(f->fut));
    CHECK_EQ(asyncio_stream_write(f->s, "first\n", 6), 0);
    CHECK_EQ(asyncio_stream_write(f->s, "second\n", 7), 0);
    ASYNCIO_AWAIT(f->fut);
    CHECK_STR(asyncio_stream_tls_version(f->s), "TLSv1.3");
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "ok:first\n");
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "ok:second\n");
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    CHECK_EQ(upgrades, 2);
    /* 4 MiB of plain output still queued when start_tls is called: it
       goes out first, in plain, then the handshake */
    ASYNCIO_AWAIT_CORO(asyncio_open_connection, asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    f->n = (size_t)4 << 20;
    f->big = pattern_new(f->n);
    snprintf(f->line, sizeof f->line, "BULK %zu\r\n", f->n);
    asyncio_stream_write(f->s, f->line, strlen(f->line));
    asyncio_stream_write(f->s, f->big, f->n);
    asyncio_stream_write(f->s, "STARTTLS\r\n", 10);
    ASYNCIO_YIELD(); /* the output starts out (io_uring: a send is in flight, the server not reading yet) */
    ASYNCIO_YIELD();
    CHECK(asyncio_stream_write_buffer_size(f->s) > 0);
    f->fut = asyncio_stream_start_tls(f->s, f->cctx, "localhost");
    ASYNCIO_AWAIT_RC(f->rc, f->fut);
    if (f->rc)
        fprintf(stderr, "  start_tls behind 4 MiB of plain output: %s: %s\n", asyncio_err_name(f->rc),
                asyncio_future_errmsg(f->fut));
    CHECK_EQ(f->rc, 0);
    asyncio_stream_write(f->s, "after bulk\n", 11);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, f->s));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "ok:after bulk\n");
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    free(f->big);
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    CHECK_EQ(upgrades, 3);
    asyncio_server_close(&f->srv);
    asyncio_tls_free(upgrade_ctx);
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
void test_tls_start_tls_with_data_pipelined_behind_the_upgrade(void)
{
    static starttls_main_t f;
    make_certs();
    CHECK_EQ(run_real(starttls_main, &f), 0);
}

/* start_tls right after a pass whose events fill the loop's list (700
   fds readable at once): on io_uring the stream's receive must still be
   taken back before the handshake -- not refused with EBUSY, nor left
   running to hand plain bytes to a later read as if decrypted.  The peer
   sends plain text where TLS expects a record: the handshake fails. */
#define BUSYTLS_FDS 700
typedef struct {
    asyncio_coro co;
    int cfd, afd, sv[BUSYTLS_FDS][2], i, rc;
    asyncio_stream *s;
    asyncio_read_t rd;
    asyncio_tls *cctx;
    asyncio_future *fut;
} busytls_t;
static int busytls_main(asyncio_task *self, void *frame)
{
    busytls_t *f = (busytls_t *)frame;
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int lfd;
    ASYNCIO_BEGIN(self, f);
    CHECK((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(lfd, 4), 0);
    CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    CHECK((f->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
    CHECK_EQ(connect(f->cfd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK((f->afd = accept(lfd, NULL, NULL)) >= 0);
    close(lfd);
    f->cctx = client_ctx();
    CHECK((f->s = asyncio_stream_open(ASYNCIO_LOOP(), f->cfd)) != NULL);
    CHECK_EQ(write(f->afd, "a", 1), 1);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, f->s, 1)); /* io_uring: a receive armed */
    for (f->i = 0; f->i < BUSYTLS_FDS; f->i++) {
        CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv[f->i]), 0);
        CHECK_EQ(asyncio_fd_add(ASYNCIO_LOOP(), f->sv[f->i][0]), 0);
        CHECK_EQ(write(f->sv[f->i][1], "x", 1), 1);
    }
    ASYNCIO_SLEEP(0);
    CHECK_EQ(write(f->afd, "BC and more plain text\r\n", 24), 24);
    f->fut = asyncio_stream_start_tls(f->s, f->cctx, "localhost");
    ASYNCIO_AWAIT_RC(f->rc, f->fut); /* (it may fail at once: the bytes are there for the handshake) */
    CHECK_EQ(f->rc, ASYNCIO_ETLS); /* the plain bytes met the handshake, not EBUSY */
    CHECK_EQ(asyncio_stream_buffered(f->s), 0);
    for (f->i = 0; f->i < BUSYTLS_FDS; f->i++) {
        asyncio_fd_close(ASYNCIO_LOOP(), f->sv[f->i][0]);
        close(f->sv[f->i][1]);
    }
    asyncio_stream_abort(f->s);
    close(f->afd);
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
void test_tls_start_tls_right_after_a_pass_full_of_events(void)
{
    static busytls_t f;
    memset(&f, 0, sizeof f);
    test_fds_at_least(2 * BUSYTLS_FDS + 64);
    make_certs();
    CHECK_EQ(run_real(busytls_main, &f), 0);
}

/* ---- cancellation ------------------------------------------------------------ */
/* open_connection cancelled while the server delays its part of the
   handshake: ECANCELLED, the socket closed (the server sees the end),
   no descriptor or memory left.  A read cancelled (by a timeout) on a
   TLS stream: the bytes that came stay for the next read. */
typedef struct {
    asyncio_coro co;
    asyncio_tls *ctx;
    asyncio_connect_t oc;
    int port, rc;
} dial_t;
static int dial(asyncio_task *self, void *frame)
{
    dial_t *f = (dial_t *)frame;
    ASYNCIO_BEGIN(self, f);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                       asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->port), f->ctx, "localhost"));
    CHECK(!"connected to a server that never answers");
    ASYNCIO_END();
}
/* Sends 10 bytes, waits for "more\n", sends 10 more, reads to the end. */
static int dribble_handler(asyncio_task *self, void *frame)
{
    silent_conn_t *f = (silent_conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    asyncio_stream_write(s, "0123456789", 10);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readline(&f->rd, s));
    CHECK_BYTES(asyncio_stream_data(s), ASYNCIO_RESULT().i, "more\n");
    asyncio_stream_write(s, "abcdefghij", 10);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, s, ASYNCIO_READ_ALL));
    ASYNCIO_END();
}
typedef struct {
    asyncio_coro co;
    asyncio_tls *sctx, *cctx;
    asyncio_server silent, srv;
    asyncio_task t;
    dial_t d;
    asyncio_connect_t oc;
    asyncio_stream *s;
    asyncio_read_t rd;
    asyncio_timeout to;
    settle_t st;
    int rc, i;
} cancel_main_t;
static int cancel_main(asyncio_task *self, void *frame)
{
    cancel_main_t *f = (cancel_main_t *)frame;
    ASYNCIO_BEGIN(self, f);
    f->cctx = client_ctx();
    CHECK_EQ(asyncio_start_server(&f->silent, ASYNCIO_LOOP(), silent_handler, sizeof(silent_conn_t), "127.0.0.1", 0),
             0);
    for (f->i = 0; f->i < 3; f->i++) { /* at once, a little later, later still */
        f->d.ctx = f->cctx;
        f->d.port = f->silent.port;
        asyncio_create_task(ASYNCIO_LOOP(), &f->t, dial, &f->d);
        if (f->i == 1) {
            ASYNCIO_YIELD();
        } else if (f->i == 2) {
            ASYNCIO_SLEEP(0.1);
        }
        asyncio_task_cancel(&f->t);
        ASYNCIO_AWAIT_RC(f->rc, &f->t.fut);
        CHECK_EQ(f->rc, ASYNCIO_ECANCELLED);
        ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->silent));
    }
    CHECK(silent_ended >= 2); /* the first may be cancelled before it connects */
    CHECK(silent_rc == 0 || silent_rc == -ECONNRESET);
    asyncio_server_close(&f->silent);
    /* a read cancelled by a timeout keeps what came */
    f->sctx = server_ctx("server.pem", "server.key");
    serve_tls(&f->srv, ASYNCIO_LOOP(), dribble_handler, sizeof(silent_conn_t), f->sctx);
    ASYNCIO_AWAIT_CORO(asyncio_open_connection,
                       asyncio_connect_tls(asyncio_connect_tcp(&f->oc, "127.0.0.1", f->srv.port), f->cctx,
                                           "localhost"));
    f->s = (asyncio_stream *)ASYNCIO_RESULT().p;
    CHECK_EQ(asyncio_timeout_enter(&f->to, self, 0.3), 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 20));
    f->rc = asyncio_timeout_exit(&f->to, f->rc);
    CHECK_EQ(f->rc, ASYNCIO_ETIMEDOUT);
    asyncio_stream_write(f->s, "more\n", 5);
    ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_readexactly(&f->rd, f->s, 20));
    CHECK_BYTES(asyncio_stream_data(f->s), ASYNCIO_RESULT().i, "0123456789abcdefghij");
    /* and one cancelled while nothing at all has come */
    CHECK_EQ(asyncio_timeout_enter(&f->to, self, 0.1), 0);
    ASYNCIO_AWAIT_CORO_RC(f->rc, asyncio_reader, asyncio_stream_read(&f->rd, f->s, 1));
    f->rc = asyncio_timeout_exit(&f->to, f->rc);
    CHECK_EQ(f->rc, ASYNCIO_ETIMEDOUT);
    ASYNCIO_AWAIT(asyncio_stream_close(f->s));
    ASYNCIO_AWAIT_CORO(settle, settle_on(&f->st, &f->srv));
    asyncio_server_close(&f->srv);
    asyncio_tls_free(f->sctx);
    asyncio_tls_free(f->cctx);
    ASYNCIO_END();
}
void test_tls_cancel_during_handshake_and_cancelled_read_keeps_data(void)
{
    static cancel_main_t f;
    make_certs();
    CHECK_EQ(run_real(cancel_main, &f), 0);
}
#endif /* ASYNCIO_TLS */
