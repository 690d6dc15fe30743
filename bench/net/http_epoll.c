/* http_epoll.c -- minimal hand-written epoll HTTP/1.1 server: the floor.
 *
 *   http_epoll PORT        (listens on 127.0.0.1:PORT, runs until killed)
 *
 * One thread, level-triggered epoll, non-blocking sockets, TCP_NODELAY,
 * keep-alive.  Every request, whatever its method and path, gets the same
 * fixed response:
 *
 *   HTTP/1.1 200 OK
 *   Content-Type: text/plain
 *   Content-Length: 14
 *
 *   Hello, World!
 *
 * Requests are framed properly: the head ends at CRLF CRLF, a Content-Length
 * body is skipped, pipelined requests in one read get their responses in one
 * write, and "Connection: close" (or HTTP/1.0 without "keep-alive") closes
 * the connection after the response.  No chunked request bodies (answered
 * with 501 and closed), no Date header: it is a floor, not a web server.
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
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_CAP (64 * 1024)
#define OUT_CAP (64 * 1024)

static const char RESP[] = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: text/plain\r\n"
                           "Content-Length: 14\r\n"
                           "\r\n"
                           "Hello, World!\n";
static const char RESP_501[] = "HTTP/1.1 501 Not Implemented\r\n"
                               "Content-Length: 0\r\n"
                               "Connection: close\r\n"
                               "\r\n";

struct conn {
    int fd;
    int closing;     /* close once out is flushed */
    unsigned events; /* what epoll waits for now */
    int eof;         /* the client has shut down its side */
    size_t in_len;   /* buffered request bytes */
    size_t skip;     /* body bytes still to discard */
    size_t out_off, out_len;
    char in[IN_CAP];
    char out[OUT_CAP];
};

static int epfd;

static void set_events(struct conn *c, unsigned ev)
{
    if (c->events == ev)
        return;
    c->events = ev;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
}

static void drop(struct conn *c)
{
    close(c->fd);
    free(c);
}

static int flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0)
            c->out_off += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        else
            return -1;
    }
    c->out_off = c->out_len = 0;
    return 1;
}

static void append(struct conn *c, const char *s, size_t n)
{
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* Does the header line [p, e) start with name (case-insensitive)?  Returns
 * the value, past the colon and blanks, or NULL. */
static const char *header(const char *p, const char *e, const char *name)
{
    size_t n = strlen(name);
    if ((size_t)(e - p) < n || strncasecmp(p, name, n) != 0)
        return NULL;
    p += n;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* Answer every complete request in c->in.  Returns -1 on a malformed
 * request (the connection is then closed without an answer). */
static int parse(struct conn *c)
{
    size_t pos = 0;
    while (!c->closing) {
        if (c->skip) { /* discard a body */
            size_t k = c->in_len - pos < c->skip ? c->in_len - pos : c->skip;
            pos += k;
            c->skip -= k;
            if (c->skip)
                break;
        }
        char *start = c->in + pos;
        char *end = memmem(start, c->in_len - pos, "\r\n\r\n", 4);
        if (!end)
            break;
        if (c->out_len + sizeof RESP > OUT_CAP)
            break; /* answer the rest after this batch is flushed */
        char *eol = memchr(start, '\n', (size_t)(end + 2 - start));
        int http10 = eol && eol - start >= 9 && memcmp(eol - 9, "HTTP/1.0", 8) == 0;
        int keep = !http10, chunked = 0;
        size_t clen = 0;
        for (char *line = eol + 1; line < end + 2;) {
            char *le = memchr(line, '\r', (size_t)(end + 2 - line));
            const char *v;
            if ((v = header(line, le, "content-length:")) != NULL)
                clen = strtoul(v, NULL, 10);
            else if ((v = header(line, le, "transfer-encoding:")) != NULL)
                chunked = 1;
            else if ((v = header(line, le, "connection:")) != NULL) {
                if (le - v >= 5 && strncasecmp(v, "close", 5) == 0)
                    keep = 0;
                else if (le - v >= 10 && strncasecmp(v, "keep-alive", 10) == 0)
                    keep = 1;
            }
            line = le + 2;
        }
        pos = (size_t)(end + 4 - c->in);
        if (chunked) {
            append(c, RESP_501, sizeof RESP_501 - 1);
            c->closing = 1;
            break;
        }
        append(c, RESP, sizeof RESP - 1);
        c->skip = clen;
        if (!keep)
            c->closing = 1;
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
    if (c->in_len == IN_CAP && c->out_len == 0)
        return -1; /* a request head larger than the buffer */
    return 0;
}

/* Read (unless a batch is still being written), answer every complete
 * request, write; returns -1 if the connection is to be dropped. */
static int serve(struct conn *c)
{
    if (c->out_len == 0) {
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        if (n < 0)
            return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
        if (n == 0)
            c->eof = 1; /* answer what is buffered, then close */
        c->in_len += (size_t)n;
    }
    for (;;) {
        int r = flush(c);
        if (r < 0)
            return -1;
        if (r == 0) {
            set_events(c, EPOLLOUT);
            return 0;
        }
        if (c->closing)
            return -1;
        if (parse(c) < 0)
            return -1;
        if (c->out_len == 0)
            break; /* nothing (more) to answer */
    }
    if (c->eof)
        return -1;
    set_events(c, EPOLLIN);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, SOMAXCONN) < 0) {
        perror("http_epoll: bind/listen");
        return 1;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(epfd, evs, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c == NULL) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct conn *nc = malloc(sizeof *nc);
                    if (!nc) {
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->closing = 0;
                    nc->events = EPOLLIN;
                    nc->eof = 0;
                    nc->in_len = nc->skip = nc->out_off = nc->out_len = 0;
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (serve(c) < 0)
                drop(c);
        }
    }
}
