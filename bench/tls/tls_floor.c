/* tls_floor.c -- minimal hand-written epoll + OpenSSL echo server: the floor.
 *
 *   tls_floor fd|mem PORT CERTFILE KEYFILE    (127.0.0.1:PORT, until killed)
 *
 * One thread, level-triggered epoll, non-blocking sockets, TCP_NODELAY, the
 * same server context as asyncio.h's (TLS 1.2 at least, no renegotiation,
 * no compression, partial writes, OpenSSL's defaults otherwise: two
 * session tickets after a TLS 1.3 handshake).  Two ways to put OpenSSL on
 * the socket:
 *
 *   fd   SSL_set_fd: OpenSSL reads and writes the socket itself (the way
 *        asyncio.h's socket BIO works).  Read-ahead on: one recv() takes
 *        whatever is there, up to OpenSSL's 16 KiB record buffer, instead
 *        of a 5-byte header read and a body read per record.
 *        TLS_FLOOR_READ_AHEAD=0 turns it off (for comparison).
 *   mem  memory BIOs, as Python's sslproto and uvloop do: recv() into a
 *        64 KiB buffer, BIO_write it into the SSL, SSL_read until it wants
 *        more; SSL_write into the outgoing BIO, BIO_read it out, send().
 *
 * Per readable event: the handshake step, or the records that are there,
 * each SSL_read's bytes written straight back with SSL_write.  Output the
 * socket does not take is kept, reading stops and EPOLLOUT waits until it
 * is flushed.  The client's close_notify is answered with ours, then the
 * socket is closed.  Nothing else: what a TLS echo server cannot do
 * without.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define BUF (64 * 1024)

enum { HANDSHAKE, OPEN };

struct conn {
    int fd, state;
    uint32_t events;
    SSL *ssl;
    BIO *rbio, *wbio; /* mem: the SSL's input and output */
    char *out;        /* pending: fd: plaintext for SSL_write; mem: ciphertext for send */
    size_t off, len;
};

static int epfd, use_mem;
static SSL_CTX *ctx;
static char buf[BUF];  /* plaintext */
static char cbuf[BUF]; /* mem: ciphertext */

static void want(struct conn *c, uint32_t ev)
{
    struct epoll_event e;
    if (c->events == ev)
        return;
    memset(&e, 0, sizeof e);
    e.events = ev;
    e.data.ptr = c;
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

static void drop(struct conn *c)
{
    ERR_clear_error();
    SSL_free(c->ssl); /* and its BIOs */
    close(c->fd);     /* also leaves the epoll set */
    free(c->out);
    free(c);
}

/* Keep bytes the socket did not take; returns 0, or -1 without memory. */
static int keep(struct conn *c, const char *p, size_t n)
{
    char *q = realloc(c->out, c->len - c->off + n);
    if (!q)
        return -1;
    memmove(q, q + c->off, c->len - c->off);
    memcpy(q + c->len - c->off, p, n);
    c->out = q;
    c->len = c->len - c->off + n;
    c->off = 0;
    return 0;
}

/* ---- mem: the outgoing BIO to the socket ---- */
/* Send what is pending, then what the SSL wrote; 1 all sent, 0 the rest
   kept (EPOLLOUT), -1 error. */
static int mem_flush(struct conn *c)
{
    while (c->off < c->len) {
        ssize_t n = send(c->fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n > 0)
            c->off += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else
            return -1;
    }
    if (c->off == c->len)
        c->off = c->len = 0;
    while (BIO_ctrl_pending(c->wbio) > 0) {
        int k = BIO_read(c->wbio, cbuf, (int)sizeof cbuf), sent = 0;
        if (k <= 0)
            break;
        while (c->len == 0 && sent < k) {
            ssize_t n = send(c->fd, cbuf + sent, (size_t)(k - sent), MSG_NOSIGNAL);
            if (n > 0)
                sent += (int)n;
            else if (n < 0 && errno == EINTR)
                continue;
            else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            else
                return -1;
        }
        if (sent < k && keep(c, cbuf + sent, (size_t)(k - sent)) < 0)
            return -1;
    }
    return c->len == 0;
}

/* ---- both: one readable (or writable) event ---- */
/* The handshake, or the application data: 0 to go on, -1 to drop. */
static int serve(struct conn *c)
{
    int r, e;
    if (c->state == HANDSHAKE) {
        if ((r = SSL_do_handshake(c->ssl)) != 1) {
            e = SSL_get_error(c->ssl, r);
            if (use_mem) {
                if (e != SSL_ERROR_WANT_READ || mem_flush(c) < 0)
                    return -1;
                want(c, c->len ? EPOLLOUT : EPOLLIN);
                return 0;
            }
            if (e == SSL_ERROR_WANT_READ)
                want(c, EPOLLIN);
            else if (e == SSL_ERROR_WANT_WRITE)
                want(c, EPOLLOUT);
            else
                return -1;
            return 0;
        }
        c->state = OPEN; /* and on: the client's first data may be there */
    }
    for (;;) {
        int n = SSL_read(c->ssl, buf, (int)sizeof buf), w = 0;
        if (n <= 0) {
            e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify: ours, then close */
                SSL_shutdown(c->ssl);
                if (use_mem)
                    mem_flush(c);
                return -1;
            }
            if (e == SSL_ERROR_WANT_READ)
                break;
            if (e == SSL_ERROR_WANT_WRITE && !use_mem) {
                want(c, EPOLLOUT);
                return 0;
            }
            return -1;
        }
        while (w < n) { /* echo it */
            int k = SSL_write(c->ssl, buf + w, n - w);
            if (k > 0) {
                w += k;
                continue;
            }
            e = SSL_get_error(c->ssl, k);
            if (e == SSL_ERROR_WANT_WRITE && !use_mem) { /* keep the rest, wait */
                if (keep(c, buf + w, (size_t)(n - w)) < 0)
                    return -1;
                want(c, EPOLLOUT);
                return 0;
            }
            return -1;
        }
        /* fd: records OpenSSL read ahead are decrypted next; an empty
           buffer means back to epoll (level-triggered: no recv() to see
           EAGAIN).  mem: until the input BIO is empty. */
        if (!use_mem && !SSL_has_pending(c->ssl))
            break;
    }
    if (use_mem) {
        if ((r = mem_flush(c)) < 0)
            return -1;
        want(c, r ? EPOLLIN : EPOLLOUT);
    } else
        want(c, EPOLLIN);
    return 0;
}

static int on_readable(struct conn *c)
{
    if (use_mem) {
        ssize_t n = recv(c->fd, cbuf, sizeof cbuf, 0);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        if (BIO_write(c->rbio, cbuf, (int)n) != (int)n)
            return -1;
    }
    return serve(c);
}

static int on_writable(struct conn *c)
{
    if (use_mem) {
        int r = mem_flush(c);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        want(c, EPOLLIN);
        return serve(c); /* what came in meanwhile (none: reading stopped) */
    }
    if (c->state == OPEN && c->len > c->off) { /* the echo that did not fit */
        while (c->off < c->len) {
            int k = SSL_write(c->ssl, c->out + c->off, (int)(c->len - c->off));
            if (k <= 0) {
                int e = SSL_get_error(c->ssl, k);
                if (e == SSL_ERROR_WANT_WRITE)
                    return 0;
                return -1;
            }
            c->off += (size_t)k;
        }
        c->off = c->len = 0;
    }
    return serve(c);
}

static void on_accept(int lfd)
{
    int fd, one = 1;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        struct conn *c = calloc(1, sizeof *c);
        struct epoll_event e;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (!c || !(c->ssl = SSL_new(ctx))) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        if (use_mem) {
            c->rbio = BIO_new(BIO_s_mem());
            c->wbio = BIO_new(BIO_s_mem());
            if (!c->rbio || !c->wbio) {
                BIO_free(c->rbio);
                BIO_free(c->wbio);
                SSL_free(c->ssl);
                free(c);
                close(fd);
                continue;
            }
            SSL_set_bio(c->ssl, c->rbio, c->wbio);
        } else
            SSL_set_fd(c->ssl, fd);
        SSL_set_accept_state(c->ssl);
        memset(&e, 0, sizeof e);
        e.events = c->events = EPOLLIN;
        e.data.ptr = c;
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
        /* the ClientHello is usually there already */
        if (on_readable(c) < 0)
            drop(c);
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    struct epoll_event lev, evs[256];
    const char *ra = getenv("TLS_FLOOR_READ_AHEAD");
    int lfd, one = 1;
    if (argc != 5 || (strcmp(argv[1], "fd") != 0 && strcmp(argv[1], "mem") != 0)) {
        fprintf(stderr, "usage: %s fd|mem PORT CERTFILE KEYFILE\n", argv[0]);
        return 2;
    }
    use_mem = strcmp(argv[1], "mem") == 0;
    signal(SIGPIPE, SIG_IGN);
    if (!(ctx = SSL_CTX_new(TLS_server_method()))) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (!use_mem && !(ra && strcmp(ra, "0") == 0))
        SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, argv[4], SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        fprintf(stderr, "tls_floor: cannot load %s / %s\n", argv[3], argv[4]);
        ERR_print_errors_fp(stderr);
        return 1;
    }

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)atoi(argv[2]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
        perror("tls_floor: bind/listen");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    memset(&lev, 0, sizeof lev);
    lev.events = EPOLLIN;
    lev.data.ptr = NULL;
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
    for (;;) {
        int n = epoll_wait(epfd, evs, 256, -1), i;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            int r;
            if (!c) {
                on_accept(lfd);
                continue;
            }
            if (evs[i].events & (EPOLLERR | EPOLLHUP) && !(evs[i].events & EPOLLIN))
                r = -1;
            else if (c->events & EPOLLOUT)
                r = on_writable(c);
            else
                r = on_readable(c);
            if (r < 0)
                drop(c);
        }
    }
}
