/* bench/proc/pipe_floor.c -- the floor of the pipe benchmark: the same
   bytes through `cat` with plain blocking calls and no event loop.

     pipe_floor SIZE CHUNK [PIPESIZE]    e.g. pipe_floor 1g 256k 1m

   Starts /bin/cat (posix_spawn) with its stdin and stdout on two pipes
   (blocking; PIPESIZE, default 0: the kernel's 64 KiB, is set on both
   with fcntl(F_SETPIPE_SZ), as pipe.c's pipe_size and pipe.py's pipesize
   do), then a writer thread write()s SIZE bytes of the pattern into cat's
   stdin in CHUNK pieces and closes it, while the main thread read()s
   cat's stdout (CHUNK at a time) to end of file, checking every byte
   against the pattern; then waitpid.  The time runs from just before the
   pipes are made to the reaped exit.  One JSON line:
     {"bench":"pipe_cat","impl":"floor","bytes":..,"chunk":..,"pipe_size":..,
      "wall_s":..,"mib_per_s":..,"cpu_s":..,"reads":..}
   pipe_size is the kernel buffer of cat's stdout pipe (F_GETPIPE_SZ);
   cpu_s this process's CPU time (both threads; cat's is not counted).
   Checks: every byte arrived, in order, none extra; cat exited 0.  Exit
   status 1 otherwise. */
#define _GNU_SOURCE 1
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

typedef struct {
    int fd;
    long long size;
    size_t chunk;
    const unsigned char *pat;
    int err;
} writer_t;

static void *writer_main(void *arg)
{
    writer_t *w = (writer_t *)arg;
    long long off = 0;
    while (off < w->size) {
        size_t n = w->size - off < (long long)w->chunk ? (size_t)(w->size - off) : w->chunk;
        ssize_t k = write(w->fd, pattern_at(w->pat, off), n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->err = errno ? errno : EIO;
            break;
        }
        off += k;
    }
    close(w->fd);
    return NULL;
}

int main(int argc, char **argv)
{
    char *args[] = {"/bin/cat", NULL};
    posix_spawn_file_actions_t fa;
    int in[2], out[2], status = 0, rc;
    long long size, got = 0, reads = 0, t0, t1, c0, c1, ps = 0;
    long pipe_got;
    size_t chunk;
    unsigned char *pat, *buf;
    pthread_t th;
    writer_t w;
    pid_t pid;
    ssize_t n;
    if (argc < 3 || (size = parse_size(argv[1])) < 0 || parse_size(argv[2]) <= 0 ||
        parse_size(argv[2]) > PATTERN_SLACK) {
        fprintf(stderr, "usage: pipe_floor SIZE CHUNK [PIPESIZE] (CHUNK up to 1m; PIPESIZE 0: the kernel's)\n");
        return 2;
    }
    if (argc > 3 && ((ps = parse_size(argv[3])) < 0 || ps > 0x7fffffffLL)) {
        fprintf(stderr, "pipe_floor: PIPESIZE is a size below 2g, not %s\n", argv[3]);
        return 2;
    }
    chunk = (size_t)parse_size(argv[2]);
    if (!(pat = pattern_new()) || !(buf = (unsigned char *)malloc(chunk)))
        return 1;
    signal(SIGPIPE, SIG_IGN);
    t0 = mono_ns();
    c0 = cpu_ns();
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        perror("pipe_floor: pipe");
        return 1;
    }
    if (ps > 0) {
#ifdef F_SETPIPE_SZ
        if (fcntl(in[1], F_SETPIPE_SZ, (int)ps) < 0 || fcntl(out[0], F_SETPIPE_SZ, (int)ps) < 0) {
            perror("pipe_floor: F_SETPIPE_SZ");
            return 1;
        }
#else
        fprintf(stderr, "pipe_floor: no F_SETPIPE_SZ here\n");
        return 1;
#endif
    }
    pipe_got = pipe_size_of(out[0]);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if ((rc = posix_spawn(&pid, args[0], &fa, NULL, args, environ)) != 0) {
        fprintf(stderr, "pipe_floor: cannot start cat: %s\n", strerror(rc));
        return 1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    w.fd = in[1];
    w.size = size;
    w.chunk = chunk;
    w.pat = pat;
    w.err = 0;
    if (pthread_create(&th, NULL, writer_main, &w) != 0)
        return 1;
    for (;;) {
        n = read(out[0], buf, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (got + n > size || !pattern_check(pat, got, buf, (size_t)n)) {
            fprintf(stderr, "pipe_floor: wrong bytes at or after offset %lld\n", got);
            return 1;
        }
        got += n;
        reads++;
    }
    if (n < 0) {
        perror("pipe_floor: read");
        return 1;
    }
    close(out[0]);
    pthread_join(th, NULL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    t1 = mono_ns();
    c1 = cpu_ns();
    if (w.err || got != size || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pipe_floor: %lld of %lld bytes back, writer error %s, cat status 0x%x\n", got, size,
                w.err ? strerror(w.err) : "none", status);
        return 1;
    }
    printf("{\"bench\":\"pipe_cat\",\"impl\":\"floor\",\"bytes\":%lld,\"chunk\":%zu,\"pipe_size\":%ld,"
           "\"wall_s\":%.3f,\"mib_per_s\":%.1f,\"cpu_s\":%.3f,\"reads\":%lld}\n",
           size, chunk, pipe_got, (double)(t1 - t0) / 1e9, (double)size / 1048576.0 / ((double)(t1 - t0) / 1e9),
           (double)(c1 - c0) / 1e9, reads);
    free(buf);
    free(pat);
    return 0;
}
