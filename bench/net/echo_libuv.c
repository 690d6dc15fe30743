/* echo_libuv.c -- TCP echo server on libuv.
 *
 *   echo_libuv PORT        (listens on 127.0.0.1:PORT, runs until killed)
 *   cc -O2 -Wall -Wextra echo_libuv.c -o echo_libuv -luv
 *
 * uv_read_start with one shared 64 KiB read buffer (the read callback
 * consumes it before returning); uv_try_write echoes what it can at once and
 * only the rest is copied into a uv_write request.  uv_try_write returns
 * UV_EAGAIN while earlier uv_writes are queued, so the order is kept.  When
 * more than 1 MiB is queued the connection stops reading until it drains.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define HIGH_WATER (1 << 20)

static char readbuf[64 * 1024];
static uv_loop_t *loop;

struct wreq {
    uv_write_t req;
    char data[];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(readbuf, sizeof readbuf);
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (s->data != NULL && s->write_queue_size == 0 && !uv_is_closing((uv_handle_t *)s)) {
        s->data = NULL; /* resume reading after back-pressure */
        uv_read_start(s, on_alloc, on_read);
    }
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) { /* UV_EOF or an error */
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (n == 0)
        return;
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int w = uv_try_write(s, &b, 1);
    if (w == n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0, rest = (size_t)n - done;
    struct wreq *r = malloc(sizeof *r + rest);
    if (!r) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    memcpy(r->data, buf->base + done, rest);
    uv_buf_t rb = uv_buf_init(r->data, (unsigned)rest);
    if (uv_write(&r->req, s, &rb, 1, on_write) < 0) {
        free(r);
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    if (s->write_queue_size > HIGH_WATER) {
        s->data = s; /* marks "reading stopped" */
        uv_read_stop(s);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    if (!c)
        return;
    uv_tcp_init(loop, c);
    c->data = NULL;
    if (uv_accept(server, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, on_close);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    int r = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection);
    if (r != 0) {
        fprintf(stderr, "echo_libuv: %s\n", uv_strerror(r));
        return 1;
    }
    return uv_run(loop, UV_RUN_DEFAULT);
}
