/* tls_load.c -- closed-loop TLS load generator (OpenSSL, plain epoll).
 *
 *   tls_load echo      HOST PORT CONNS    SECONDS MSG_BYTES CAFILE
 *   tls_load handshake HOST PORT INFLIGHT SECONDS MSG_BYTES CAFILE
 *
 * CAFILE: the CA that signed the server's certificate (the client then
 * verifies the chain and the name "localhost"), or "-": no chain check (the
 * server's CertificateVerify signature is still checked: TLS 1.3 always
 * does).  Every connection is TLS 1.3, a full handshake (no session is ever
 * resumed), with OpenSSL's default client settings otherwise.
 *
 * echo: opens CONNS connections and does their handshakes (all at once,
 * within 10 s); then each connection sends a MSG_BYTES message, waits until
 * the whole echo is back, checks every byte and sends the next: one message
 * in flight per connection.  0.5 s warm-up, SECONDS measured, then no new
 * message is started and the ones in flight get 2 s to come back.  Every
 * message is a different window into a per-connection random pattern, so a
 * wrong, stale, foreign or extra byte is a wrong echo (and closes that
 * connection).  Latency: from the message's SSL_write to its echo's last
 * byte.
 *
 * handshake: keeps INFLIGHT connections in progress; each one connects,
 * does the handshake, sends one MSG_BYTES message, reads its echo, sends
 * close_notify, reads until the server's close_notify and end of stream,
 * and closes; a new connection then takes its place.  Latency: from
 * connect() to the echo's last byte.  A connection that takes more than
 * 5 s is a timeout.  0.5 s warm-up, SECONDS measured, 2 s of drain as
 * above.
 *
 * Prints one JSON line: the counts (msgs / conns in the measured window,
 * msgs_total / conns_total over the whole run, warm-up and drain included),
 * the rate, latency percentiles (nearest rank), the errors, what was
 * negotiated (protocol, cipher, key exchange group, server key), the
 * session tickets the server sent per connection, and this program's own
 * CPU time.  With TLS_LOAD_SERVER_PID set it also reads that process's CPU
 * time (all its threads: /proc/PID/task/ STAR /schedstat, and utime/stime)
 * at the start of the loaded phase (echo: after the handshakes) and at its
 * end, and the busy time of core TLS_LOAD_SERVER_CORE (default 1) from
 * /proc/stat: server_cpu_us, server_cpu_us_per_msg (per_conn), ...,
 * core_other_pct (that core's busy time not explained by the server, in %
 * of the span).
 *
 * Exit status: 0 if errors == 0, 1 if not, 2 on bad arguments or set-up
 * failures.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define WARMUP_NS 500000000ull   /* 0.5 s */
#define DRAIN_NS 2000000000ull   /* in-flight work after the window */
#define SETUP_NS 10000000000ull  /* echo: every handshake done within */
#define CONN_NS 5000000000ull    /* handshake mode: one connection's life */
#define SHIFTS 251               /* distinct message offsets (prime) */
#define MAX_ERRORS 1000          /* handshake mode: stop opening after */

enum { C_OFF, C_CONNECTING, C_HANDSHAKE, C_IDLE, C_RUNNING, C_SHUTDOWN, C_FIN };

struct conn {
    int fd;
    int state;
    uint32_t events;          /* registered with epoll */
    SSL *ssl;
    uint64_t seq;             /* message number on this connection */
    size_t sent, recvd;       /* bytes of the current message */
    uint64_t t_start;         /* echo: message start; handshake: connect() */
    unsigned char *pattern;   /* msg_bytes + SHIFTS random bytes */
    const unsigned char *msg; /* pattern + shift */
};

static int mode_handshake;
static size_t msg_bytes;
static int epfd;
static SSL_CTX *ctx;
static struct addrinfo *addr;
static uint64_t *lat;
static size_t nlat, caplat;
static uint64_t done_total;   /* msgs_total / conns_total */
static uint64_t done_window;  /* in the measured window */
static uint64_t win_start, win_end;
static int stopping;          /* no new message / connection */
static long inflight;         /* echo: messages; handshake: connections */
static unsigned long connect_errors, tls_errors, io_errors, wrong_echoes, timeouts, unfinished;
static unsigned long handshakes, tickets;
static char proto[32], cipher[64], group[32], server_key[64];
static unsigned char scratch[1 << 16];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static unsigned long errors(void)
{
    return connect_errors + tls_errors + io_errors + wrong_echoes + timeouts + unfinished;
}

static void want(struct conn *c, uint32_t ev)
{
    struct epoll_event e;
    if (c->events == ev)
        return;
    memset(&e, 0, sizeof e);
    e.events = ev;
    e.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) < 0)
        die("epoll_ctl");
    c->events = ev;
}

static void record(uint64_t ns)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 1 << 16;
        lat = realloc(lat, caplat * sizeof *lat);
        if (!lat)
            die("realloc");
    }
    lat[nlat++] = ns;
}

static void start_conn(struct conn *c);

/* The connection is over: counted in *counter if that is not NULL (an
   error), a new one started in its place (handshake mode). */
static void end_conn(struct conn *c, unsigned long *counter)
{
    int was_running = c->state == C_RUNNING;
    if (c->state == C_OFF)
        return;
    if (counter)
        (*counter)++;
    if (c->ssl)
        SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    c->state = C_OFF;
    if (mode_handshake) {
        if (!stopping && errors() < MAX_ERRORS)
            start_conn(c);
        else
            inflight--;
    } else if (was_running)
        inflight--; /* echo: its message will never come back */
}

/* An SSL call returned r <= 0: 1 to wait for readability, 2 for
   writability, 0 for the peer's close_notify, -1 for anything else. */
static int ssl_wait(struct conn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return 1;
    case SSL_ERROR_WANT_WRITE:
        return 2;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

static void note_session(SSL *ssl)
{
    if (proto[0])
        return;
    snprintf(proto, sizeof proto, "%s", SSL_get_version(ssl));
    snprintf(cipher, sizeof cipher, "%s", SSL_get_cipher_name(ssl));
#ifdef SSL_get_negotiated_group
    {
        int nid = SSL_get_negotiated_group(ssl);
        const char *sn = nid > 0 ? OBJ_nid2sn(nid) : NULL;
        snprintf(group, sizeof group, "%s", sn ? sn : "?");
    }
#endif
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    {
        X509 *x = SSL_get0_peer_certificate(ssl);
        EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
        char g[48];
        size_t gl = 0;
        if (pk && EVP_PKEY_get_group_name(pk, g, sizeof g, &gl))
            snprintf(server_key, sizeof server_key, "%s %s", EVP_PKEY_get0_type_name(pk), g);
        else if (pk)
            snprintf(server_key, sizeof server_key, "%s %d bits", EVP_PKEY_get0_type_name(pk), EVP_PKEY_get_bits(pk));
    }
#endif
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl;
    (void)sess;
    tickets++;
    return 0; /* not kept: every connection is a full handshake */
}

/* ---- messages ---- */
static void pump_out(struct conn *c)
{
    while (c->sent < msg_bytes) {
        int n = SSL_write(c->ssl, c->msg + c->sent, (int)(msg_bytes - c->sent));
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        switch (ssl_wait(c, n)) {
        case 2:
            want(c, EPOLLIN | EPOLLOUT);
            return;
        case 1: /* a write that needs a read: the next EPOLLIN retries it */
            want(c, EPOLLIN);
            return;
        default:
            end_conn(c, &io_errors);
            return;
        }
    }
    want(c, EPOLLIN);
}

static void start_msg(struct conn *c)
{
    c->seq++;
    c->msg = c->pattern + (size_t)((c->seq * 37u) % SHIFTS);
    c->sent = c->recvd = 0;
    c->state = C_RUNNING;
    if (!mode_handshake)
        c->t_start = now_ns();
    pump_out(c);
}

/* Read the echo; 1 once the whole message is back.  Reads no further than
   the message: the next one's reads see any extra byte. */
static int pump_in(struct conn *c)
{
    while (c->recvd < msg_bytes) {
        int n = SSL_read(c->ssl, scratch, (int)sizeof scratch), w;
        if (n > 0) {
            size_t k = (size_t)n;
            if (k > c->sent - c->recvd || memcmp(scratch, c->msg + c->recvd, k) != 0) {
                end_conn(c, &wrong_echoes);
                return 0;
            }
            c->recvd += k;
            continue;
        }
        if ((w = ssl_wait(c, n)) == 1)
            return 0;
        if (w == 2) {
            want(c, EPOLLIN | EPOLLOUT);
            return 0;
        }
        end_conn(c, &io_errors); /* closed, reset or a TLS error mid-message */
        return 0;
    }
    return 1;
}

/* ---- connections ---- */
static void step_shutdown(struct conn *c);

static void message_done(struct conn *c)
{
    uint64_t t = now_ns();
    done_total++;
    if (t >= win_start && t < win_end) {
        done_window++;
        record(t - c->t_start);
    }
    if (mode_handshake) { /* close_notify, then wait for the server's */
        c->state = C_SHUTDOWN;
        step_shutdown(c);
        return;
    }
    if (!stopping && t < win_end)
        start_msg(c);
    else {
        c->state = C_IDLE;
        want(c, EPOLLIN);
        inflight--;
    }
}

static void step_handshake(struct conn *c)
{
    int r = SSL_do_handshake(c->ssl), w;
    if (r == 1) {
        handshakes++;
        note_session(c->ssl);
        if (mode_handshake)
            start_msg(c);
        else {
            c->state = C_IDLE;
            want(c, EPOLLIN);
        }
        return;
    }
    if ((w = ssl_wait(c, r)) == 1)
        want(c, EPOLLIN);
    else if (w == 2)
        want(c, EPOLLOUT);
    else
        end_conn(c, &tls_errors);
}

/* Our close_notify out, then the server's in, then end of stream.  Data
   after the echo is a wrong echo; a reset or an end of stream without
   close_notify is accepted (the exchange was complete). */
static void step_shutdown(struct conn *c)
{
    int r, w;
    if (!(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN) || c->events & EPOLLOUT) {
        r = SSL_shutdown(c->ssl);
        if (r < 0) {
            if ((w = ssl_wait(c, r)) == 2) {
                want(c, EPOLLOUT);
                return;
            }
            if (w < 0) {
                end_conn(c, NULL);
                return;
            }
        }
        want(c, EPOLLIN);
    }
    for (;;) {
        r = SSL_read(c->ssl, scratch, (int)sizeof scratch);
        if (r > 0) {
            end_conn(c, &wrong_echoes);
            return;
        }
        w = ssl_wait(c, r);
        if (w == 1)
            return;
        if (w == 2) {
            want(c, EPOLLIN | EPOLLOUT);
            return;
        }
        break;
    }
    if (w == 0) { /* close_notify: now the end of stream */
        c->state = C_FIN;
        want(c, EPOLLIN);
        for (;;) {
            ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
            if (n > 0)
                continue; /* bytes after close_notify: ignored */
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            break;
        }
    }
    end_conn(c, NULL);
}

static void start_tls(struct conn *c)
{
    if (!(c->ssl = SSL_new(ctx)))
        die("SSL_new");
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (SSL_CTX_get_verify_mode(ctx) != SSL_VERIFY_NONE)
        SSL_set1_host(c->ssl, "localhost");
    c->state = C_HANDSHAKE;
    step_handshake(c);
}

static void start_conn(struct conn *c)
{
    struct epoll_event e;
    int one = 1;
    c->ssl = NULL;
    c->fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->t_start = now_ns();
    c->state = C_CONNECTING;
    memset(&e, 0, sizeof e);
    e.events = c->events = EPOLLOUT;
    e.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
        die("epoll_ctl");
    if (connect(c->fd, addr->ai_addr, addr->ai_addrlen) < 0 && errno != EINPROGRESS)
        end_conn(c, &connect_errors);
}

static void on_event(struct conn *c, uint32_t e)
{
    int err = 0;
    socklen_t len = sizeof err;
    switch (c->state) {
    case C_CONNECTING:
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0)
            end_conn(c, &connect_errors);
        else
            start_tls(c);
        break;
    case C_HANDSHAKE:
        step_handshake(c);
        break;
    case C_RUNNING:
        if (c->sent < msg_bytes) {
            pump_out(c);
            if (c->state != C_RUNNING)
                break;
        }
        if ((e & (EPOLLIN | EPOLLERR | EPOLLHUP)) && pump_in(c))
            message_done(c);
        break;
    case C_IDLE: { /* echo: session tickets, nothing else is expected */
        int r = SSL_read(c->ssl, scratch, 1), w = r > 0 ? 1 : ssl_wait(c, r);
        if (r > 0)
            end_conn(c, &wrong_echoes);
        else if (w == 2)
            want(c, EPOLLIN | EPOLLOUT);
        else if (w != 1)
            end_conn(c, &io_errors); /* closed by the server */
        break;
    }
    case C_SHUTDOWN:
        step_shutdown(c);
        break;
    case C_FIN:
        for (;;) {
            ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
            if (n > 0 || (n < 0 && errno == EINTR))
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            break;
        }
        end_conn(c, NULL);
        break;
    default:
        break;
    }
}

/* ---- the server's CPU time ---- */
struct cpu_sample {
    uint64_t ns;          /* schedstat run time of all threads */
    unsigned long ut, st; /* utime, stime (ticks), all threads */
    unsigned long long core_busy; /* ticks */
};

static int server_pid, server_core = 1;

static void sample(struct cpu_sample *s)
{
    char path[320], buf[2048];
    FILE *f;
    DIR *d;
    struct dirent *de;
    memset(s, 0, sizeof *s);
    if (server_pid <= 0)
        return;
    snprintf(path, sizeof path, "/proc/%d/task", server_pid);
    if ((d = opendir(path)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            unsigned long long run;
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/%d/task/%s/schedstat", server_pid, de->d_name);
            if ((f = fopen(path, "r")) != NULL) {
                if (fscanf(f, "%llu", &run) == 1)
                    s->ns += run;
                fclose(f);
            }
        }
        closedir(d);
    }
    snprintf(path, sizeof path, "/proc/%d/stat", server_pid);
    if ((f = fopen(path, "r")) != NULL) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        char *p;
        buf[n] = 0;
        fclose(f);
        if ((p = strrchr(buf, ')')) != NULL) {
            /* after ") ": state ppid pgrp session tty tpgid flags minflt
               cminflt majflt cmajflt utime stime */
            unsigned long ut, st;
            if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
                s->ut = ut, s->st = st;
        }
    }
    if ((f = fopen("/proc/stat", "r")) != NULL) {
        char want_[16];
        snprintf(want_, sizeof want_, "cpu%d ", server_core);
        while (fgets(buf, sizeof buf, f)) {
            unsigned long long v[8];
            if (strncmp(buf, want_, strlen(want_)) == 0 &&
                sscanf(buf + strlen(want_), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                       &v[4], &v[5], &v[6], &v[7]) == 8) {
                /* user nice system idle iowait irq softirq steal */
                s->core_busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
                break;
            }
        }
        fclose(f);
    }
}

/* ---- results ---- */
static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(double p)
{
    size_t rank;
    if (nlat == 0)
        return 0;
    rank = (size_t)(p / 100.0 * (double)nlat + 0.999999999);
    if (rank < 1)
        rank = 1;
    if (rank > nlat)
        rank = nlat;
    return (double)lat[rank - 1] / 1e3;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s echo HOST PORT CONNS SECONDS MSG_BYTES CAFILE|-\n"
            "       %s handshake HOST PORT INFLIGHT SECONDS MSG_BYTES CAFILE|-\n",
            argv0, argv0);
    exit(2);
}

static void fill_pattern(struct conn *c, uint64_t *rng)
{
    size_t j;
    c->pattern = malloc(msg_bytes + SHIFTS);
    if (!c->pattern)
        die("malloc");
    for (j = 0; j < msg_bytes + SHIFTS; j++) {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        c->pattern[j] = (unsigned char)(*rng >> 24);
    }
}

int main(int argc, char **argv)
{
    const char *host, *port, *cafile, *env;
    long nconns, i;
    double seconds, cpu0, cpu1, wall;
    struct addrinfo hints;
    struct conn *conns;
    struct epoll_event evs[256];
    struct cpu_sample s0, s1;
    uint64_t rng, t0, drain_end, t;
    int gai, n;
    double sum = 0;
    size_t k;
    long tick = sysconf(_SC_CLK_TCK);

    if (argc != 8)
        usage(argv[0]);
    if (strcmp(argv[1], "handshake") == 0)
        mode_handshake = 1;
    else if (strcmp(argv[1], "echo") != 0)
        usage(argv[0]);
    host = argv[2];
    port = argv[3];
    nconns = strtol(argv[4], NULL, 10);
    seconds = strtod(argv[5], NULL);
    msg_bytes = (size_t)strtoul(argv[6], NULL, 10);
    cafile = argv[7];
    if (nconns < 1 || nconns > 10000 || !(seconds > 0) || msg_bytes < 1 || msg_bytes > (16u << 20)) {
        fprintf(stderr, "tls_load: bad arguments (CONNS 1..10000, SECONDS > 0, MSG_BYTES 1..16 MiB)\n");
        return 2;
    }
    if ((env = getenv("TLS_LOAD_SERVER_PID")) != NULL)
        server_pid = atoi(env);
    if ((env = getenv("TLS_LOAD_SERVER_CORE")) != NULL)
        server_core = atoi(env);
    if (tick <= 0)
        tick = 100;
    signal(SIGPIPE, SIG_IGN);
    {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
            rl.rlim_cur = rl.rlim_max < (rlim_t)nconns + 64 ? rl.rlim_max : (rlim_t)nconns + 64;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
    }

    /* the client context: TLS 1.3 only, OpenSSL's defaults otherwise */
    if (!(ctx = SSL_CTX_new(TLS_client_method())))
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1); /* one recv per record or more: the client's core is the scarce one */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    if (strcmp(cafile, "-") != 0) {
        if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
            fprintf(stderr, "tls_load: cannot load %s\n", cafile);
            ERR_print_errors_fp(stderr);
            return 2;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((gai = getaddrinfo(host, port, &hints, &addr)) != 0) {
        fprintf(stderr, "tls_load: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 2;
    }
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");
    if (!(conns = calloc((size_t)nconns, sizeof *conns)))
        die("calloc");
    rng = 0x9E3779B97F4A7C15ull ^ now_ns();
    for (i = 0; i < nconns; i++) {
        fill_pattern(&conns[i], &rng);
        conns[i].fd = -1;
    }

    if (!mode_handshake) {
        /* set-up: every connection connected and handshaken */
        uint64_t deadline = now_ns() + SETUP_NS;
        long ready;
        for (i = 0; i < nconns; i++)
            start_conn(&conns[i]);
        for (;;) {
            for (ready = 0, i = 0; i < nconns; i++)
                if (conns[i].state == C_IDLE || conns[i].state == C_OFF)
                    ready++;
            if (ready == nconns || (t = now_ns()) >= deadline)
                break;
            n = epoll_wait(epfd, evs, 256, (int)((deadline - t) / 1000000 + 1));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                die("epoll_wait");
            for (i = 0; i < n; i++)
                on_event(evs[i].data.ptr, evs[i].events);
        }
        for (i = 0; i < nconns; i++)
            if (conns[i].state != C_IDLE && conns[i].state != C_OFF)
                end_conn(&conns[i], conns[i].state == C_CONNECTING ? &connect_errors : &tls_errors);
    }

    /* warm-up, measured window, drain */
    sample(&s0);
    cpu0 = cpu_s();
    t0 = now_ns();
    win_start = t0 + WARMUP_NS;
    win_end = win_start + (uint64_t)(seconds * 1e9);
    drain_end = win_end + DRAIN_NS;
    for (i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        if (mode_handshake) {
            inflight++;
            start_conn(c);
        } else if (c->state == C_IDLE) {
            inflight++;
            start_msg(c);
        }
    }
    {
        uint64_t next_scan = t0 + 100000000ull;
        while (inflight > 0) {
            uint64_t next;
            int timeout;
            t = now_ns();
            if (!stopping && t >= win_end)
                stopping = 1;
            if (t >= drain_end)
                break;
            if (mode_handshake && t >= next_scan) { /* connections that take too long */
                next_scan = t + 100000000ull;
                for (i = 0; i < nconns; i++)
                    if (conns[i].state != C_OFF && t - conns[i].t_start > CONN_NS)
                        end_conn(&conns[i], &timeouts);
                if (inflight == 0)
                    break;
            }
            next = stopping ? drain_end : t < win_start ? win_start : win_end;
            if (mode_handshake && next > next_scan)
                next = next_scan;
            timeout = (int)((next - t) / 1000000) + 1;
            n = epoll_wait(epfd, evs, 256, timeout);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                die("epoll_wait");
            for (i = 0; i < n; i++)
                on_event(evs[i].data.ptr, evs[i].events);
        }
    }
    unfinished = (unsigned long)inflight;
    cpu1 = cpu_s();
    sample(&s1);
    wall = (double)(now_ns() - t0) / 1e9;
    for (i = 0; i < nconns; i++) {
        if (conns[i].state != C_OFF) {
            if (conns[i].ssl)
                SSL_free(conns[i].ssl);
            close(conns[i].fd);
        }
        free(conns[i].pattern);
    }
    free(conns);

    qsort(lat, nlat, sizeof *lat, cmp_u64);
    for (k = 0; k < nlat; k++)
        sum += (double)lat[k];
    printf("{\"bench\":\"%s\",\"%s\":%ld,\"msg_bytes\":%zu,\"seconds\":%g,\"warmup_s\":%g,"
           "\"%s\":%llu,\"%s\":%llu,\"%s\":%.1f,"
           "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
           "\"errors\":%lu,\"connect_errors\":%lu,\"tls_errors\":%lu,\"io_errors\":%lu,\"wrong_echoes\":%lu,"
           "\"timeouts\":%lu,\"unfinished\":%lu,\"handshakes\":%lu,\"tickets_per_conn\":%.2f,"
           "\"protocol\":\"%s\",\"cipher\":\"%s\",\"group\":\"%s\",\"server_key\":\"%s\",\"verify\":%s,"
           "\"client_cpu_us_per_%s\":%.3f,\"client_cpu_pct\":%.1f,\"wall_s\":%.3f",
           mode_handshake ? "handshake" : "echo", mode_handshake ? "inflight" : "conns", nconns, msg_bytes, seconds, WARMUP_NS / 1e9,
           mode_handshake ? "conns_done" : "msgs", (unsigned long long)done_window,
           mode_handshake ? "conns_total" : "msgs_total", (unsigned long long)done_total,
           mode_handshake ? "handshakes_per_sec" : "msgs_per_sec", (double)done_window / seconds, pct_us(50),
           pct_us(90), pct_us(99), nlat ? (double)lat[nlat - 1] / 1e3 : 0.0, nlat ? sum / (double)nlat / 1e3 : 0.0,
           errors(), connect_errors, tls_errors, io_errors, wrong_echoes, timeouts, unfinished, handshakes,
           handshakes ? (double)tickets / (double)handshakes : 0.0, proto, cipher, group, server_key,
           strcmp(cafile, "-") != 0 ? "true" : "false", mode_handshake ? "conn" : "msg",
           done_total ? (cpu1 - cpu0) * 1e6 / (double)done_total : 0.0, wall > 0 ? (cpu1 - cpu0) * 100 / wall : 0.0,
           wall);
    if (server_pid > 0) {
        double us = (double)(s1.ns - s0.ns) / 1e3;
        double uus = (double)(s1.ut - s0.ut) * 1e6 / (double)tick, sus = (double)(s1.st - s0.st) * 1e6 / (double)tick;
        double other = (double)(s1.core_busy - s0.core_busy) * 1e6 / (double)tick - us;
        printf(",\"server_pid\":%d,\"server_cpu_us\":%.0f,\"server_user_us_stat\":%.0f,\"server_sys_us_stat\":%.0f,"
               "\"server_cpu_us_per_%s\":%.3f,\"server_user_us_per_%s\":%.3f,\"server_cpu_pct\":%.1f,"
               "\"core_other_pct\":%.1f,\"core_other_us\":%.0f",
               server_pid, us, uus, sus, mode_handshake ? "conn" : "msg",
               done_total ? us / (double)done_total : 0.0, mode_handshake ? "conn" : "msg",
               done_total ? uus / (double)done_total : 0.0, wall > 0 ? us / 1e4 / wall : 0.0,
               wall > 0 ? other / 1e4 / wall : 0.0, other);
    }
    printf("}\n");
    free(lat);
    freeaddrinfo(addr);
    SSL_CTX_free(ctx);
    return errors() ? 1 : 0;
}
