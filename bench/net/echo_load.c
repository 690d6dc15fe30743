/* echo_load.c -- closed-loop load generator for TCP echo servers.
 *
 *   echo_load HOST PORT CONNS SECONDS [MSG_BYTES=1024]
 *
 * Opens CONNS connections to HOST:PORT.  Each connection sends a MSG_BYTES
 * message, waits until the whole message has come back, checks every byte,
 * and sends the next one: one message in flight per connection (closed loop).
 * The first 0.5 s are a warm-up; then SECONDS are measured; then no new
 * message is started and the ones in flight are waited for (at most 2 s).
 * Prints one JSON line:
 *
 *   {"bench":"echo","conns":C,"msg_bytes":B,"seconds":S,"warmup_s":0.5,
 *    "msgs":M,"msgs_total":T,"msgs_per_sec":M/S,"mbytes_per_sec":...,
 *    "p50_us":..,"p90_us":..,"p99_us":..,"max_us":..,"mean_us":..,
 *    "errors":E,"connect_errors":..,"io_errors":..,"wrong_echoes":..,
 *    "unfinished":..,"client_cpu_us_per_msg":..,"client_cpu_pct":..}
 *
 * msgs and the latencies cover messages COMPLETED inside the measured
 * window; msgs_total counts every message echoed during the whole run
 * (warm-up and drain included), so that a server's CPU time read before and
 * after the whole run can be divided by it.  A latency is the time from the
 * first byte of a message being handed to the kernel to the last byte of its
 * echo being read.  client_cpu_* are echo_load's own CPU time (user+sys)
 * over the whole run: at client_cpu_pct near 100 the load generator, not the
 * server, limits msgs_per_sec.
 *
 * Every message on connection c is a window into a per-connection random
 * pattern, shifted by a different amount for each message, so an echo that
 * returns the wrong bytes, stale bytes from an earlier message, another
 * connection's bytes, or more bytes than were sent counts as a wrong echo
 * (and closes that connection).  Exit status: 0 if errors == 0, 1 if not,
 * 2 on bad arguments.  Plain epoll, level-triggered, no dependencies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#define WARMUP_NS 500000000ull /* 0.5 s */
#define DRAIN_NS 2000000000ull /* wait for in-flight messages after the end */
#define CONNECT_NS 5000000000ull
#define SHIFTS 251 /* distinct message offsets into the pattern (prime) */

enum { C_CONNECTING, C_RUNNING, C_IDLE, C_DEAD };

struct conn {
    int fd;
    int state;
    int want_out;         /* EPOLLOUT registered */
    uint64_t seq;         /* message number on this connection */
    size_t sent, recvd;   /* bytes of the current message */
    uint64_t t_start;     /* ns, when the current message was first written */
    unsigned char *pattern; /* MSG_BYTES + SHIFTS random bytes */
    const unsigned char *msg; /* current message: pattern + shift */
};

static size_t msg_bytes = 1024;
static int epfd;
static uint64_t *lat; /* latencies (ns) of messages completed in the window */
static size_t nlat, caplat;
static uint64_t msgs_total;
static unsigned long connect_errors, io_errors, wrong_echoes, unfinished;
static int active; /* connections not dead */

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

static void set_events(struct conn *c, int out)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->want_out = out;
}

static void kill_conn(struct conn *c, unsigned long *counter)
{
    if (c->state == C_DEAD)
        return;
    if (counter)
        (*counter)++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
    active--;
}

/* Write as much of the current message as the socket takes. */
static void pump_out(struct conn *c)
{
    while (c->sent < msg_bytes) {
        ssize_t n = send(c->fd, c->msg + c->sent, msg_bytes - c->sent, MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out)
                set_events(c, 1);
            return;
        }
        kill_conn(c, &io_errors);
        return;
    }
    if (c->want_out)
        set_events(c, 0);
}

static void start_msg(struct conn *c)
{
    c->seq++;
    c->msg = c->pattern + (size_t)((c->seq * 37u) % SHIFTS);
    c->sent = c->recvd = 0;
    c->state = C_RUNNING;
    c->t_start = now_ns();
    pump_out(c);
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

static unsigned char scratch[1 << 16];

/* Read what has arrived; returns 1 if the current message is complete. */
static int pump_in(struct conn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, scratch, sizeof scratch, 0);
        if (n > 0) {
            size_t k = (size_t)n;
            if (c->state != C_RUNNING || k > c->sent - c->recvd ||
                memcmp(scratch, c->msg + c->recvd, k) != 0) {
                kill_conn(c, &wrong_echoes);
                return 0;
            }
            c->recvd += k;
            if (c->recvd == msg_bytes)
                return 1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        kill_conn(c, &io_errors); /* 0: closed by the server; <0: reset etc. */
        return 0;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(double p)
{
    if (nlat == 0)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)nlat + 0.999999999); /* nearest rank */
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
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s HOST PORT CONNS SECONDS [MSG_BYTES=1024]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1], *port = argv[2];
    long nconns = strtol(argv[3], NULL, 10);
    double seconds = strtod(argv[4], NULL);
    if (argc == 6)
        msg_bytes = (size_t)strtoul(argv[5], NULL, 10);
    if (nconns < 1 || nconns > 100000 || !(seconds > 0) || msg_bytes < 1 || msg_bytes > (64u << 20)) {
        fprintf(stderr, "echo_load: bad arguments (CONNS >= 1, SECONDS > 0, MSG_BYTES >= 1)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)nconns + 64 ? rl.rlim_max : (rlim_t)nconns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "echo_load: %s:%s: %s\n", host, port, gai_strerror(gai));
        return 2;
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");

    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    if (!conns)
        die("calloc");
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)now_ns();
    for (long i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->pattern = malloc(msg_bytes + SHIFTS);
        if (!c->pattern)
            die("malloc");
        for (size_t j = 0; j < msg_bytes + SHIFTS; j++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            c->pattern[j] = (unsigned char)(rng >> 24);
        }
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            die("socket");
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->state = C_CONNECTING;
        active++;
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            close(c->fd);
            c->fd = -1;
            c->state = C_DEAD;
            active--;
            connect_errors++;
            continue;
        }
        struct epoll_event ev;
        memset(&ev, 0, sizeof ev);
        ev.events = EPOLLOUT;
        ev.data.ptr = c;
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
            die("epoll_ctl");
        c->want_out = 1;
    }
    freeaddrinfo(ai);

    enum { MAXEV = 256 };
    struct epoll_event evs[MAXEV];

    /* Phase 0: wait for every connection to be established. */
    long connecting = active;
    uint64_t deadline = now_ns() + CONNECT_NS;
    while (connecting > 0) {
        uint64_t t = now_ns();
        if (t >= deadline)
            break;
        int n = epoll_wait(epfd, evs, MAXEV, (int)((deadline - t) / 1000000 + 1));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state != C_CONNECTING)
                continue;
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            connecting--;
            if (err != 0) {
                kill_conn(c, &connect_errors);
                continue;
            }
            c->state = C_IDLE;
            set_events(c, 0);
        }
    }
    for (long i = 0; i < nconns; i++)
        if (conns[i].state == C_CONNECTING)
            kill_conn(&conns[i], &connect_errors);

    /* Phase 1-3: warm-up, measured window, drain. */
    double cpu0 = cpu_s();
    uint64_t t0 = now_ns();
    uint64_t win_start = t0 + WARMUP_NS;
    uint64_t win_end = win_start + (uint64_t)(seconds * 1e9);
    uint64_t drain_end = win_end + DRAIN_NS;
    uint64_t msgs = 0;
    long inflight = 0;
    for (long i = 0; i < nconns; i++)
        if (conns[i].state == C_IDLE) {
            inflight++;
            start_msg(&conns[i]);
            if (conns[i].state == C_DEAD)
                inflight--;
        }
    int stopping = 0;
    while (inflight > 0) {
        uint64_t t = now_ns();
        if (!stopping && t >= win_end)
            stopping = 1;
        if (t >= drain_end)
            break;
        uint64_t next = stopping ? drain_end : t < win_start ? win_start : win_end;
        int timeout = (int)((next - t) / 1000000) + 1;
        int n = epoll_wait(epfd, evs, MAXEV, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->state == C_DEAD)
                continue;
            uint32_t e = evs[i].events;
            if ((e & EPOLLOUT) && c->state == C_RUNNING) {
                pump_out(c);
                if (c->state == C_DEAD) {
                    inflight--;
                    continue;
                }
            }
            if (e & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                int was_running = c->state == C_RUNNING;
                int done = pump_in(c);
                if (c->state == C_DEAD) {
                    if (was_running)
                        inflight--;
                    continue;
                }
                if (done) {
                    uint64_t t1 = now_ns();
                    msgs_total++;
                    if (t1 >= win_start && t1 < win_end) {
                        msgs++;
                        record(t1 - c->t_start);
                    }
                    if (t1 < win_end) {
                        start_msg(c);
                        if (c->state == C_DEAD)
                            inflight--;
                    } else {
                        c->state = C_IDLE;
                        inflight--;
                    }
                }
            }
        }
    }
    unfinished = (unsigned long)inflight;
    double cpu1 = cpu_s();
    double wall = (double)(now_ns() - t0) / 1e9;
    for (long i = 0; i < nconns; i++)
        if (conns[i].state != C_DEAD) {
            close(conns[i].fd);
            conns[i].state = C_DEAD;
        }

    qsort(lat, nlat, sizeof *lat, cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++)
        sum += (double)lat[i];
    unsigned long errors = connect_errors + io_errors + wrong_echoes + unfinished;
    printf("{\"bench\":\"echo\",\"host\":\"%s\",\"port\":%s,\"conns\":%ld,\"msg_bytes\":%zu,"
           "\"seconds\":%g,\"warmup_s\":%g,\"msgs\":%llu,\"msgs_total\":%llu,"
           "\"msgs_per_sec\":%.1f,\"mbytes_per_sec\":%.2f,"
           "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
           "\"errors\":%lu,\"connect_errors\":%lu,\"io_errors\":%lu,\"wrong_echoes\":%lu,"
           "\"unfinished\":%lu,\"client_cpu_us_per_msg\":%.3f,\"client_cpu_pct\":%.1f}\n",
           host, port, nconns, msg_bytes, seconds, WARMUP_NS / 1e9, (unsigned long long)msgs,
           (unsigned long long)msgs_total, (double)msgs / seconds,
           (double)msgs * (double)msg_bytes / seconds / 1e6, pct_us(50), pct_us(90), pct_us(99),
           nlat ? (double)lat[nlat - 1] / 1e3 : 0.0, nlat ? sum / (double)nlat / 1e3 : 0.0, errors,
           connect_errors, io_errors, wrong_echoes, unfinished,
           msgs_total ? (cpu1 - cpu0) * 1e6 / (double)msgs_total : 0.0,
           wall > 0 ? (cpu1 - cpu0) * 100 / wall : 0.0);
    return errors ? 1 : 0;
}
