/* bench/proc/copy_floor.c -- the floor of the file copy benchmark: a
   plain blocking read()/write() loop, no event loop; and the maker of the
   source file every copy program reads.

     copy_floor make SRC SIZE       write SIZE bytes of the pattern to SRC
     copy_floor SRC DST CHUNK       copy SRC to DST, CHUNK bytes per read

   First (untimed) DST is made SRC's size and zeroed (prepare_dst in
   common.h: the copy then overwrites pages already in the page cache).
   The copy: open both (DST without O_TRUNC), then read() CHUNK, write()
   what was read, until end of file, then close both; the time runs from
   the first open to the last close.  Nothing is fsync'ed: the copy
   measures the calls and the copying, not the disk.  Afterwards DST is
   checked against the pattern (untimed); it is left in place (run.sh
   deletes it).  One JSON line:
     {"bench":"file_copy","impl":"floor","bytes":..,"chunk":..,"inflight":1,
      "wall_s":..,"mib_per_s":..,"cpu_s":..}
   Checks: DST holds exactly SRC's size of the pattern (so SRC must be
   made by `copy_floor make`); exit status 1 otherwise. */
#define _GNU_SOURCE 1
#include "common.h"

static int make(const char *path, long long size)
{
    const unsigned char *pat = pattern_new();
    long long off = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (!pat || fd < 0) {
        fprintf(stderr, "copy_floor: %s: %s\n", path, strerror(errno));
        return 1;
    }
    while (off < size) {
        size_t n = size - off < PATTERN_SLACK ? (size_t)(size - off) : (size_t)PATTERN_SLACK;
        ssize_t k = write(fd, pattern_at(pat, off), n);
        if (k <= 0) {
            fprintf(stderr, "copy_floor: write %s: %s\n", path, strerror(errno));
            return 1;
        }
        off += k;
    }
    if (close(fd) != 0)
        return 1;
    free((void *)pat);
    return 0;
}

int main(int argc, char **argv)
{
    const char *src, *dst;
    unsigned char *pat, *buf;
    long long size = 0, t0, t1, c0, c1;
    size_t chunk;
    ssize_t n, k, w;
    int in, out;
    if (argc == 4 && strcmp(argv[1], "make") == 0 && parse_size(argv[3]) >= 0)
        return make(argv[2], parse_size(argv[3]));
    if (argc < 4 || parse_size(argv[3]) <= 0) {
        fprintf(stderr, "usage: copy_floor SRC DST CHUNK | copy_floor make SRC SIZE\n");
        return 2;
    }
    src = argv[1];
    dst = argv[2];
    chunk = (size_t)parse_size(argv[3]);
    if (!(pat = pattern_new()) || !(buf = (unsigned char *)malloc(chunk)) || file_size(src) <= 0 ||
        !prepare_dst(dst, file_size(src)))
        return 1;
    t0 = mono_ns();
    c0 = cpu_ns();
    if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0 || (out = open(dst, O_WRONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "copy_floor: open: %s\n", strerror(errno));
        return 1;
    }
    for (;;) {
        n = read(in, buf, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (k = 0; k < n; k += w)
            if ((w = write(out, buf + k, (size_t)(n - k))) <= 0) {
                fprintf(stderr, "copy_floor: write: %s\n", strerror(errno));
                return 1;
            }
        size += n;
    }
    if (n < 0 || close(in) != 0 || close(out) != 0) {
        fprintf(stderr, "copy_floor: %s\n", strerror(errno));
        return 1;
    }
    t1 = mono_ns();
    c1 = cpu_ns();
    if (!pattern_check_file(pat, dst, size) || size == 0)
        return 1;
    printf("{\"bench\":\"file_copy\",\"impl\":\"floor\",\"bytes\":%lld,\"chunk\":%zu,\"inflight\":1,\"wall_s\":%.3f,"
           "\"mib_per_s\":%.1f,\"cpu_s\":%.3f}\n",
           size, chunk, (double)(t1 - t0) / 1e9, (double)size / 1048576.0 / ((double)(t1 - t0) / 1e9),
           (double)(c1 - c0) / 1e9);
    free(buf);
    free(pat);
    return 0;
}
