"""report.py -- the table of bench/threads/run.sh (standard library only).

    python3 report.py RESULTS.jsonl NOTES.txt

RESULTS.jsonl: one JSON line per run of a benchmark, tagged by run.sh with
"run" and "config".  Prints medians side by side.  Exit status 1 if
RESULTS.jsonl has no line at all.
"""
import json
import os
import platform
import statistics
import subprocess
import sys


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return "%.2fM" % (v / 1e6)
    if a >= 1e4:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 10:
        return "%.2f" % v
    return "%.3f" % v


def fint(v):
    return "-" if v is None else "%.0f" % v


def ratio(ah, other, lower_is_better):
    """How many times better asyncio.h is: > 1 better, < 1 worse."""
    if ah is None or other is None or ah <= 0 or other <= 0:
        return "-"
    r = other / ah if lower_is_better else ah / other
    return ("%.2fx" % r) if r < 10 else ("%.0fx" % r)


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    notes = [l.rstrip("\n") for l in open(sys.argv[2])] if len(sys.argv) > 2 else []
    if not rows:
        print("no results")
        for n in notes:
            print(n)
        return 1

    def pick(**kw):
        return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]

    def med(field, **kw):
        vals = [r[field] for r in pick(**kw) if isinstance(r.get(field), (int, float))]
        return statistics.median(vals) if vals else None

    def nruns(**kw):
        return len(pick(**kw))

    root = os.environ.get("THREADS_ROOT", ".")
    py = os.environ.get("THREADS_PY", "python3")
    osname = sh(". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\"") or platform.system()
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    commit = sh("cd '%s' && git log -1 --format='%%h %%ci' -- asyncio.h" % root)
    dirty = sh("cd '%s' && git status --porcelain -- asyncio.h" % root)
    uv = sh("pkg-config --modversion libuv 2>/dev/null || dpkg-query -W -f='${Version}' libuv1-dev 2>/dev/null")
    print("asyncio.h thread benchmarks, %s UTC" % sh("date -u '+%Y-%m-%d %H:%M'"))
    print("machine: %s, kernel %s, %d cores (%s)" % (osname, platform.release(), os.cpu_count() or 0, cpu))
    hdr = os.environ.get("THREADS_HDR") or "%s%s" % (commit or "?", " + uncommitted changes" if dirty else "")
    print("asyncio.h: %s; cc: %s" % (hdr, sh("cc --version | head -1")))
    print("libuv: %s; python: %s (%s)" % (uv or "-", sh("'%s' -c 'import sys; print(sys.version.split()[0])'" % py),
                                         sh("command -v '%s'" % py)))
    print("runs: %s of each, interleaved; load average before %s, after %s; took %s s"
          % (os.environ.get("THREADS_RUNS", "?"), os.environ.get("THREADS_LOAD0", "?"),
             os.environ.get("THREADS_LOAD1", "?"), os.environ.get("THREADS_ELAPSED", "?")))
    other = os.environ.get("THREADS_OTHER_PCT")
    if other is not None:
        print("other processes meanwhile: %s%% of one core on average (all cores' busy time, /proc/stat, minus"
              " this run's own CPU time)%s" % (other, "  ** a busy machine: treat the figures with care **"
                                               if float(other) > 15 else ""))
    print()
    print("Medians.  Ratio columns: how many times better asyncio.h is than libuv / Python")
    print("(> 1: lower latency or CPU, higher rate; < 1: worse).")

    W = "%-44s %10s %10s %10s %9s %9s"
    line = "-" * 97

    def row(label, field, lower, ah_kw, uv_kw, py_kw):
        a, u, p = med(field, **ah_kw), med(field, **uv_kw), med(field, **py_kw)
        if a is None and u is None and p is None:
            return
        print(W % (label, fmt(a), fmt(u), fmt(p), ratio(a, u, lower), ratio(a, p, lower)))

    # ---- (a)
    if pick(bench="to_thread_latency") or pick(bench="to_thread_throughput"):
        print()
        print(W % ("(a) to_thread, empty job", "asyncio.h", "libuv", "Python", "vs libuv", "vs Python"))
        print(line)
        names = {"default": "default pools", "pool4": "pools of 4", "pool4-same": "pools of 4, all on core 0",
                 "pool4-split": "pools of 4, loop core 0 / pool core 1"}
        for cfg in ("default", "pool4", "pool4-same", "pool4-split"):
            b = "to_thread_latency"
            if not pick(bench=b, config=cfg):
                continue
            threads = "/".join(fmt(med("pool_threads", bench=b, config=cfg, impl=i)).split(".")[0]
                               for i in ("asyncio.h", "libuv", "python"))
            print("latency, %s (threads used %s)" % (names[cfg], threads))
            for f, lab in (("p50_us", "  p50 us"), ("p99_us", "  p99 us"), ("mean_us", "  mean us")):
                row(lab, f, True, dict(bench=b, config=cfg, impl="asyncio.h"), dict(bench=b, config=cfg, impl="libuv"),
                    dict(bench=b, config=cfg, impl="python"))
        for cfg in ("default", "pool4"):
            b = "to_thread_throughput"
            if not pick(bench=b, config=cfg):
                continue
            print("throughput, 1000 in flight, %s" % names[cfg])
            row("  jobs/s", "jobs_per_sec", False, dict(bench=b, config=cfg, impl="asyncio.h"),
                dict(bench=b, config=cfg, impl="libuv"), dict(bench=b, config=cfg, impl="python"))
            row("  CPU us per job (all threads)", "cpu_us_per_job", True, dict(bench=b, config=cfg, impl="asyncio.h"),
                dict(bench=b, config=cfg, impl="libuv"), dict(bench=b, config=cfg, impl="python"))
        n = {i: med("n", bench="to_thread_throughput", impl=i) for i in ("asyncio.h", "libuv", "python")}
        print("(threads used: alive at the end, asyncio.h/libuv/Python; throughput jobs: %s)"
              % "/".join(fmt(n[i]) for i in n))

    # ---- (b)
    if pick(bench="call_soon_threadsafe"):
        print()
        print(W % ("(b) call_soon_threadsafe", "asyncio.h", "libuv", "Python", "vs libuv", "vs Python"))
        print(line)
        for p in (1, 2, 4):
            base = dict(bench="call_soon_threadsafe", producers=p)
            if not pick(**base):
                continue
            print("%d producer%s" % (p, "" if p == 1 else "s"))
            ah = dict(base, impl="asyncio.h", storage="caller")
            uv_ = dict(base, impl="libuv")
            pyk = dict(base, impl="python")
            row("  callbacks/s (caller storage)", "calls_per_sec", False, ah, uv_, pyk)
            row("  CPU ns per callback (all threads)", "cpu_ns_per_call", True, ah, uv_, pyk)
            lib = dict(base, impl="asyncio.h", storage="library")
            a, u = med("calls_per_sec", **lib), med("calls_per_sec", **uv_)
            if a is not None:
                print(W % ("  callbacks/s, asyncio.h NULL storage", fmt(a), "", "", ratio(a, u, False), ""))
        n = {i: med("n_per_producer", bench="call_soon_threadsafe", impl=i) for i in ("asyncio.h", "libuv", "python")}
        print("(callbacks per producer: %s; producer waits on a full ring of 1024, 4 producers: asyncio.h %s, libuv %s)"
              % ("/".join(fmt(n[i]) for i in n),
                 fint(med("producer_waits", bench="call_soon_threadsafe", producers=4, impl="asyncio.h", storage="caller")),
                 fint(med("producer_waits", bench="call_soon_threadsafe", producers=4, impl="libuv"))))

    # ---- (c)
    if pick(bench="loop_lag"):
        print()
        print(W % ("(c) loop lag: 1 ms ticker, lateness", "asyncio.h", "libuv", "Python", "vs libuv", "vs Python"))
        print(line)
        for cfg, title in (("idle", "idle (no jobs), %s s"), ("cpu-jobs", "4 CPU jobs on the pool, %s s")):
            base = dict(bench="loop_lag", config=cfg)
            if not pick(**base):
                continue
            secs = med("seconds", **base)
            print(title % fmt(secs).rstrip("0").rstrip("."))
            ah, uv_ = dict(base, impl="asyncio.h"), dict(base, impl="libuv")
            pyk = dict(base, impl="python") if cfg == "idle" else dict(base, impl="python", job="python")
            for f, lab in (("p50_us", "  p50 us"), ("p99_us", "  p99 us"), ("max_us", "  max us")):
                row(lab, f, True, ah, uv_, pyk)
            print(W % ("  ticks run / due times skipped",
                       "%s/%s" % (fint(med("ticks", **ah)), fint(med("missed", **ah))),
                       "%s/%s" % (fint(med("ticks", **uv_)), fint(med("missed", **uv_))),
                       "%s/%s" % (fint(med("ticks", **pyk)), fint(med("missed", **pyk))), "", ""))
            if cfg == "cpu-jobs" and pick(bench="loop_lag", config=cfg, job="hashlib"):
                hk = dict(base, impl="python", job="hashlib")
                print(W % ("  Python, jobs in hashlib (GIL released):", "", "", "", "", ""))
                for f, lab in (("p50_us", "    p50 us"), ("p99_us", "    p99 us"), ("max_us", "    max us")):
                    a, p = med(f, **ah), med(f, **hk)
                    print(W % (lab, fmt(a), "", fmt(p), "", ratio(a, p, True)))
                print(W % ("    ticks run / due times skipped", "", "", "%s/%s" % (fint(med("ticks", **hk)),
                                                                              fint(med("missed", **hk))), "", ""))
        print("(Python's main row: the jobs hash in pure Python and hold the GIL)")

    # ---- (d)
    if pick(bench="http"):
        print()
        wsecs = os.environ.get("THREADS_WRK_SECONDS", "5")
        H = "%-30s %5s %10s %8s %8s %8s %8s %9s %9s"
        print("(d) http_server under wrk -t2 -c100 -d%ss; CPU in %% of one core (the machine has %d)"
              % (wsecs, os.cpu_count() or 0))
        print(H % ("server", "runs", "req/s", "server", "wrk", "machine", "other", "p50 us", "p99 us"))
        print(line)
        names = {"j1": "-j 1, unpinned", "j2": "-j 2, unpinned",
                 "j1-pinned": "-j 1 on core 1, wrk on core 0"}
        for cfg in ("j1", "j2", "j1-pinned"):
            k = dict(bench="http", config=cfg)
            if not pick(**k):
                continue
            print(H % (names[cfg], nruns(**k), fint(med("req_per_sec", **k)), fmt(med("server_cpu_pct", **k)),
                       fmt(med("wrk_cpu_pct", **k)), fmt(med("machine_busy_pct", **k)),
                       fmt(med("other_cpu_pct", **k)), fmt(med("p50_us", **k)), fmt(med("p99_us", **k))))
        a, b = med("req_per_sec", bench="http", config="j2"), med("req_per_sec", bench="http", config="j1")
        if a and b:
            busy = med("machine_busy_pct", bench="http", config="j2") or 0
            wrk = med("wrk_cpu_pct", bench="http", config="j2") or 0
            srv = med("server_cpu_pct", bench="http", config="j2") or 0
            print("-j 2 / -j 1: %.2fx requests/s" % (a / b))
            full = 100 * (os.cpu_count() or 1)
            if busy >= 0.9 * full:
                print("-j 2: the machine was saturated (%.0f%% of %d%%): the server got %.0f%%, wrk %.0f%%; with"
                      % (busy, full, srv, wrk))
                print("      every core busy, more server threads only take CPU from the load generator: the limit"
                      " is the CPU wrk needs, not the server's parallelism.")
            else:
                print("-j 2: the machine was not saturated (%.0f%% of %d%%)" % (busy, full))
        oth = med("other_cpu_pct", bench="http")
        if oth is not None and oth > 15:
            print("** other processes took %.0f%% of one core during the wrk runs (median): the server and wrk had"
                  " that much less **" % oth)
        print("(server: utime+stime of all its threads, /proc/PID/stat; wrk: its user+sys (bash `times`);")
        print(" machine: all cores' busy time, /proc/stat; other: machine - server - wrk, i.e. everything else)")

    if notes:
        print()
        for n in notes:
            print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
