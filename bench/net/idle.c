/* bench/net/idle.c [N=10000 [PORT PID]] -- hold N idle connections with
   the loop asleep, then check that none was lost.

   Without PORT, a child process runs an asyncio.h echo server on
   127.0.0.1 (port 0); with PORT and PID, the echo server already listening
   on 127.0.0.1:PORT as process PID is measured instead (bench/net/run.sh
   does that for each of its echo servers).  The client opens N blocking
   connections, waits until the server has accepted them all, measures the
   server's CPU time (all its threads) over 2 s of silence (it should be ~0:
   the loop sleeps in the kernel), then sends one byte on every connection
   and checks every echo.  Prints one JSON line:
     {"bench":"idle","conns":N,"idle_s":2,"idle_cpu_ms":C,"echoed":E,"lost":L,
      "server_rss_kb":R,"server_rss_kb_before":R0,"rss_bytes_per_conn":B}
   R0: the server's RSS before the connections, B = (R - R0) / N.  Exit
   status 1 if any echo is missing.
   Needs 2 N + a few descriptors in total, N + a few in each process. */
#define ASYNCIO_IMPLEMENTATION
#include "asyncio.h"

#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    asyncio_conn base;
    asyncio_read_t rd;
} conn_t;

static int echo(asyncio_task *self, void *frame)
{
    conn_t *f = (conn_t *)frame;
    asyncio_stream *s = f->base.stream;
    ASYNCIO_BEGIN(self, &f->base);
    for (;;) {
        ASYNCIO_AWAIT_CORO(asyncio_reader, asyncio_stream_read(&f->rd, s, 4096));
        if (ASYNCIO_RESULT().i == 0)
            break;
        asyncio_stream_write(s, asyncio_stream_data(s), (size_t)ASYNCIO_RESULT().i);
    }
    ASYNCIO_END();
}

/* The CPU time of all pid's threads in ns: the sum of their schedstat run
   times, or utime + stime in clock ticks when schedstat is missing. */
static long long cpu_ns_of(pid_t pid)
{
    char path[300];
    unsigned long ut = 0, st = 0;
    long long ns = 0, t;
    int found = 0;
    struct dirent *d;
    DIR *dir;
    FILE *fp;
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    if ((dir = opendir(path))) {
        while ((d = readdir(dir))) {
            if (d->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/%d/task/%.200s/schedstat", (int)pid, d->d_name);
            if ((fp = fopen(path, "r"))) {
                if (fscanf(fp, "%lld", &t) == 1) {
                    ns += t;
                    found = 1;
                }
                fclose(fp);
            }
        }
        closedir(dir);
    }
    if (found)
        return ns;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (!(fp = fopen(path, "r")))
        return -1;
    if (fscanf(fp, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        ut = st = 0;
    fclose(fp);
    return (long long)(ut + st) * 1000000000LL / sysconf(_SC_CLK_TCK);
}

static long rss_kb_of(pid_t pid)
{
    char path[64];
    long size = 0, res = 0;
    FILE *fp;
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    if (!(fp = fopen(path, "r")))
        return -1;
    if (fscanf(fp, "%ld %ld", &size, &res) != 2)
        res = 0;
    fclose(fp);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Forks the asyncio.h echo server; its pid, its port in *port, or -1. */
static pid_t own_server(int *port)
{
    int pfd[2];
    pid_t pid;
    if (pipe(pfd) < 0 || (pid = fork()) < 0)
        return -1;
    if (pid == 0) { /* the server */
        asyncio_loop loop;
        asyncio_server srv;
        close(pfd[0]);
        if (asyncio_loop_init(&loop, NULL) < 0 ||
            asyncio_start_server(&srv, &loop, echo, sizeof(conn_t), "127.0.0.1", 0) < 0)
            _exit(1);
        if (write(pfd[1], &srv.port, sizeof srv.port) != (ssize_t)sizeof srv.port)
            _exit(1);
        asyncio_loop_run_forever(&loop);
        _exit(0);
    }
    close(pfd[1]);
    if (read(pfd[0], port, sizeof *port) != (ssize_t)sizeof *port)
        return -1;
    close(pfd[0]);
    return pid;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000, own = argc <= 3, port = own ? 0 : atoi(argv[2]), i, echoed = 0, *fds;
    long long c0, c1;
    long rss0;
    pid_t pid = own ? 0 : (pid_t)atoi(argv[3]);
    struct sockaddr_in a;
    if (n <= 0 || argc == 3 || (!own && (port <= 0 || port > 65535 || pid <= 0))) {
        fprintf(stderr, "usage: %s [N [PORT PID]]\n", argv[0]);
        return 2;
    }
    if (!(fds = (int *)malloc((size_t)n * sizeof *fds)) || (own && (pid = own_server(&port)) < 0))
        return 2;
    rss0 = rss_kb_of(pid);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    for (i = 0; i < n; i++) {
        if ((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) < 0) {
            perror("connect");
            if (own)
                kill(pid, SIGKILL);
            return 2;
        }
    }
    sleep(1); /* the server accepts the backlog */
    c0 = cpu_ns_of(pid);
    sleep(2);
    c1 = cpu_ns_of(pid);
    for (i = 0; i < n; i++)
        if (write(fds[i], "x", 1) != 1)
            break;
    for (i = 0; i < n; i++) {
        char c;
        struct timeval tv = {5, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (read(fds[i], &c, 1) == 1 && c == 'x')
            echoed++;
    }
    {
        long rss = rss_kb_of(pid);
        printf("{\"bench\":\"idle\",\"conns\":%d,\"idle_s\":2,\"idle_cpu_ms\":%.3f,\"echoed\":%d,\"lost\":%d,"
               "\"server_rss_kb\":%ld,\"server_rss_kb_before\":%ld,\"rss_bytes_per_conn\":%.0f}\n",
               n, (double)(c1 - c0) / 1e6, echoed, n - echoed, rss, rss0, (double)(rss - rss0) * 1024.0 / n);
    }
    if (own) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return echoed == n ? 0 : 1;
}
