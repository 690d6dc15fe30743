"""bench/measure.py -- the clocks the Python benchmarks read, as bench.h
does for the C ones: CPU time (user + system) and resident memory."""
import os
import resource


def cpu_ns():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return (ru.ru_utime + ru.ru_stime) * 1e9


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def peak_rss_bytes():
    # ru_maxrss, but never below the current RSS: the kernel's ru_maxrss
    # reads approximate per-CPU RSS counters and can lag statm at small N.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(peak, current_rss_bytes())
