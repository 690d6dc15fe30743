"""report.py -- the table of bench/proc/run.sh (standard library only).

    python3 report.py RESULTS.jsonl NOTES.txt

RESULTS.jsonl: one JSON line per run of a program, tagged by run.sh with
"run" and "config".  Prints medians side by side, the spread of the main
rates (min-max over the runs), and the issue's targets, met or missed.
Exit status 1 if RESULTS.jsonl has no line at all.
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

    def vals(field, **kw):
        return [r[field] for r in pick(**kw) if isinstance(r.get(field), (int, float))]

    def med(field, **kw):
        v = vals(field, **kw)
        return statistics.median(v) if v else None

    def spread(field, **kw):
        v = vals(field, **kw)
        return "%s-%s" % (fint(min(v)), fint(max(v))) if v else "-"

    root = os.environ.get("PROC_ROOT", ".")
    py = os.environ.get("PROC_PY", "python3")
    osname = sh(". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\"") or platform.system()
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip()
    commit = sh("cd '%s' && git log -1 --format='%%h %%ci' -- asyncio.h" % root)
    uv = sh("pkg-config --modversion libuv 2>/dev/null || dpkg-query -W -f='${Version}' libuv1-dev 2>/dev/null")
    print("asyncio.h subprocess, pipe and file benchmarks, %s UTC" % sh("date -u '+%Y-%m-%d %H:%M'"))
    print("machine: %s, kernel %s, %d cores (%s)" % (osname, platform.release(), os.cpu_count() or 0, cpu))
    print("asyncio.h: %s; cc: %s" % (os.environ.get("PROC_HDR") or commit or "?", sh("cc --version | head -1")))
    print("libuv: %s; python: %s (%s); cat: %s" % (
        uv or "-", sh("'%s' -c 'import sys; print(sys.version.split()[0])'" % py), sh("command -v '%s'" % py),
        sh("/bin/cat --version | head -1")))
    print("runs: %s of each, interleaved; load average before %s, after %s; took %s s"
          % (os.environ.get("PROC_RUNS", "?"), os.environ.get("PROC_LOAD0", "?"),
             os.environ.get("PROC_LOAD1", "?"), os.environ.get("PROC_ELAPSED", "?")))
    other = os.environ.get("PROC_OTHER_PCT")
    if other is not None:
        print("other processes meanwhile: %s%% of one core on average (all cores' busy time, /proc/stat, minus"
              " this run's own CPU time)%s" % (other, "  ** a busy machine: treat the figures with care **"
                                               if float(other) > 15 else ""))
    print()
    print("Medians.  Ratio columns: how many times better asyncio.h is than the floor / libuv / Python")
    print("(> 1: higher rate, lower latency or CPU; < 1: worse).  \"range\": lowest-highest over the runs.")

    W4 = "%-38s %10s %10s %10s %9s %9s"
    W5 = "%-38s %10s %10s %10s %10s %8s %8s %8s"
    line = "-" * 108
    targets = []

    # ---- (a) spawn-and-wait
    if pick(bench="spawn_wait"):
        print()
        print(W4 % ("(a) spawn-and-wait /bin/true", "asyncio.h", "libuv", "Python", "vs libuv", "vs Python"))
        print(line)
        for cfg, k in (("inflight1", 1), ("inflight16", 16)):
            base = dict(bench="spawn_wait", config=cfg)
            if not pick(**base):
                continue
            n = med("n", **base)
            print("%s (%s processes)" % ("one at a time" if k == 1 else "%d in flight" % k, fint(n)))
            ah, uv_, pyk = dict(base, impl="asyncio.h"), dict(base, impl="libuv"), dict(base, impl="python")

            def row(label, field, lower):
                a, u, p = med(field, **ah), med(field, **uv_), med(field, **pyk)
                print(W4 % (label, fmt(a), fmt(u), fmt(p), ratio(a, u, lower), ratio(a, p, lower)))
            row("  processes/s", "procs_per_sec", False)
            print(W4 % ("    range", spread("procs_per_sec", **ah), spread("procs_per_sec", **uv_),
                        spread("procs_per_sec", **pyk), "", ""))
            row("  p50 us, create to wait's return", "p50_us", True)
            row("  p99 us", "p99_us", True)
            row("  parent's CPU us per process", "cpu_us_per_proc", True)
            row("  children's CPU us per process", "child_cpu_us_per_proc", True)
            a, u, p = med("procs_per_sec", **ah), med("procs_per_sec", **uv_), med("procs_per_sec", **pyk)
            label = "one at a time" if k == 1 else "%d in flight" % k
            if a and u:
                targets.append(("spawn-and-wait, %s, vs libuv" % label, a / u, 1.0,
                                "%s/s against %s/s" % (fint(a), fint(u))))
            if a and p:
                targets.append(("spawn-and-wait, %s, vs Python" % label, a / p, 5.0,
                                "%s/s against %s/s" % (fint(a), fint(p))))
        w = [r.get("watcher") for r in pick(bench="spawn_wait", impl="python")]
        print("(children watched by: asyncio.h a pidfd; libuv SIGCHLD; Python %s)" % (w[0] if w else "-"))

    # ---- (b) pipe through cat: a block per pipe size, each against the floor over the same pipes
    if pick(bench="pipe_cat"):
        print()
        size = med("bytes", bench="pipe_cat")
        print(W5 % ("(b) %s MiB through cat" % fint(size / 1048576 if size else None), "asyncio.h", "floor",
                    "libuv", "Python", "vs floor", "vs libuv", "vs Python"))
        print(line)

        def psize(cfg):  # the pipes' kernel buffer in this block (F_GETPIPE_SZ), bytes
            v = [x for x in vals("pipe_size", bench="pipe_cat", config=cfg) if x > 0]
            return statistics.median(v) if v else None
        cfgs = sorted({r["config"] for r in pick(bench="pipe_cat")},
                      key=lambda c: (c != "pipesize-default", psize(c) or 0, c))
        for cfg in cfgs:
            base = dict(bench="pipe_cat", config=cfg)
            ah, fl = dict(base, impl="asyncio.h"), dict(base, impl="floor")
            uv_, pyk = dict(base, impl="libuv", ipc="socketpair"), dict(base, impl="python")
            ps = psize(cfg)
            kibs = "%s KiB pipes" % fint(ps / 1024) if ps else "pipes"
            if cfg == "pipesize-default":
                label, short = "default pipes (the kernel's: %s)" % kibs, "default pipes"
            else:
                label = "pipesize %s (%s, F_SETPIPE_SZ), the floor too" % (cfg[len("pipesize-"):], kibs)
                short = "pipesize %s (both)" % cfg[len("pipesize-"):]
            print(label)

            def row5(label, field, lower, ks=(ah, fl, uv_, pyk)):
                v = [med(field, **k) for k in ks]
                print(W5 % (label, fmt(v[0]), fmt(v[1]), fmt(v[2]), fmt(v[3]), ratio(v[0], v[1], lower),
                            ratio(v[0], v[2], lower), ratio(v[0], v[3], lower)))
            row5("  MiB/s", "mib_per_s", False)
            print(W5 % ("    range", spread("mib_per_s", **ah), spread("mib_per_s", **fl), spread("mib_per_s", **uv_),
                        spread("mib_per_s", **pyk), "", "", ""))
            row5("  CPU s of the parent (cat not counted)", "cpu_s", True)
            kib = []
            for k in (ah, fl, uv_, pyk):
                r, b = med("reads", **k), med("bytes", **k)
                kib.append(b / r / 1024 if r and b else None)
            print(W5 % ("  KiB per read (mean)", fmt(kib[0]), fmt(kib[1]), fmt(kib[2]), fmt(kib[3]), "", "", ""))
            up = dict(base, impl="libuv", ipc="pipe")
            if pick(**up):
                u, a = med("mib_per_s", **up), med("mib_per_s", **ah)
                r, b = med("reads", **up), med("bytes", **up)
                print(W5 % ("  libuv over real pipes: MiB/s", "", "", fmt(u), "", "", ratio(a, u, False), ""))
                print(W5 % ("    range / CPU s / KiB per read", "", "", spread("mib_per_s", **up),
                            fmt(med("cpu_s", **up)), fmt(b / r / 1024 if r and b else None), "", ""))
            a, f = med("mib_per_s", **ah), med("mib_per_s", **fl)
            if a and f:
                targets.append(("pipe through cat vs the floor, %s" % short, a / f, 0.9,
                                "%s MiB/s against %s MiB/s over %s" % (fint(a), fint(f), kibs)))
        print("(libuv's UV_CREATE_PIPE makes AF_UNIX socketpairs, not pipes; the others give cat real pipes. libuv has")
        print(" no option for a pipe's size: it runs with the default pipes only)")

    # ---- (c) file copy
    if pick(bench="file_copy"):
        for cfg in sorted({r["config"] for r in pick(bench="file_copy")}, key=lambda c: med("chunk", config=c) or 0):
            base = dict(bench="file_copy", config=cfg)
            size, chunk = med("bytes", **base), med("chunk", **base)
            ks = sorted({r["inflight"] for r in pick(impl="asyncio.h", **base)}, reverse=True)
            k = ks[0] if ks else 0
            print()
            print(W5 % ("(c) %s MiB copy, %s KiB chunks" % (fint(size / 1048576 if size else None),
                                                        fint(chunk / 1024 if chunk else None)),
                        "asyncio.h", "floor", "libuv", "Python", "vs floor", "vs libuv", "vs Python"))
            print(line)
            ah, fl = dict(base, impl="asyncio.h", inflight=k), dict(base, impl="floor")
            uv_, pyk = dict(base, impl="libuv", inflight=k), dict(base, impl="python", inflight=k)

            def row5(label, field, lower, ks_=(ah, fl, uv_, pyk)):
                v = [med(field, **kk) for kk in ks_]
                print(W5 % (label, fmt(v[0]), fmt(v[1]), fmt(v[2]), fmt(v[3]), ratio(v[0], v[1], lower),
                            ratio(v[0], v[2], lower), ratio(v[0], v[3], lower)))
            print("%d in flight (the floor: one blocking loop)" % k)
            row5("  MiB/s", "mib_per_s", False)
            print(W5 % ("    range", spread("mib_per_s", **ah), spread("mib_per_s", **fl), spread("mib_per_s", **uv_),
                        spread("mib_per_s", **pyk), "", "", ""))
            row5("  CPU s (all threads)", "cpu_s", True)
            nofloor = (ah, {"impl": "-none-"}, uv_, pyk)
            row5("  1 ms ticker: lateness p50 us", "tick_p50_us", True, nofloor)
            row5("    p99 us", "tick_p99_us", True, nofloor)
            row5("    max us (the worst)", "tick_max_us", True, nofloor)
            print(W5 % ("    ticks run / due times skipped",
                        "%s/%s" % (fint(med("ticks", **ah)), fint(med("missed", **ah))), "",
                        "%s/%s" % (fint(med("ticks", **uv_)), fint(med("missed", **uv_))),
                        "%s/%s" % (fint(med("ticks", **pyk)), fint(med("missed", **pyk))), "", "", ""))
            a1, u1 = dict(base, impl="asyncio.h", inflight=1), dict(base, impl="libuv", inflight=1)
            if pick(**a1) or pick(**u1):
                print("1 in flight (for information)")
                v = [med("mib_per_s", **a1), med("mib_per_s", **fl), med("mib_per_s", **u1)]
                print(W5 % ("  MiB/s", fmt(v[0]), fmt(v[1]), fmt(v[2]), "", ratio(v[0], v[1], False),
                            ratio(v[0], v[2], False), ""))
                v = [med("cpu_s", **a1), med("cpu_s", **fl), med("cpu_s", **u1)]
                print(W5 % ("  CPU s (all threads)", fmt(v[0]), fmt(v[1]), fmt(v[2]), "", ratio(v[0], v[1], True),
                            ratio(v[0], v[2], True), ""))
                for f, lab in (("tick_p99_us", "  ticker p99 us"), ("tick_max_us", "  ticker max us")):
                    v = [med(f, **a1), med(f, **u1)]
                    print(W5 % (lab, fmt(v[0]), "", fmt(v[1]), "", "", ratio(v[0], v[1], True), ""))
            a0 = dict(base, impl="asyncio.h", inflight=0)
            if pick(**a0):
                print("the whole file as one asyncio_file_copy (in the kernel: copy_file_range)")
                v = [med("mib_per_s", **a0), med("mib_per_s", **fl)]
                print(W5 % ("  MiB/s", fmt(v[0]), fmt(v[1]), "", "", ratio(v[0], v[1], False), "", ""))
                for f, lab in (("tick_p99_us", "  ticker p99 us"), ("tick_max_us", "  ticker max us")):
                    print(W5 % (lab, fmt(med(f, **a0)), "", "", "", "", "", ""))
                if v[0] and v[1]:
                    targets.append(("file copy, one asyncio_file_copy, vs the %s KiB blocking floor"
                                    % fint(chunk / 1024), v[0] / v[1], 0.8,
                                    "%s MiB/s against %s MiB/s" % (fint(v[0]), fint(v[1]))))
            a, f = med("mib_per_s", **ah), med("mib_per_s", **fl)
            if a and f:
                targets.append(("file copy, %s KiB chunks, vs the blocking floor" % fint(chunk / 1024), a / f, 0.8,
                                "%s MiB/s against %s MiB/s; ticker p99 %s us, worst %s us (median of runs)"
                                % (fint(a), fint(f), fint(med("tick_p99_us", **ah)), fint(med("tick_max_us", **ah)))))
        ks = sorted({r["inflight"] for r in pick(bench="file_copy", impl="asyncio.h")}, reverse=True)
        pt = ["%s with %d in flight" % ("/".join(fint(med("pool_threads", bench="file_copy", impl=i, inflight=k))
                                                 for i in ("asyncio.h", "libuv", "python")), k) for k in ks]
        print("(pool threads alive at the end, asyncio.h/libuv/Python: %s;" % ", ".join(pt))
        print(" libuv's and Python's timers count whole milliseconds, asyncio.h's wake ~70 us late when idle: see")
        print(" bench/threads, loop lag)")

    if targets:
        print()
        print("Targets of the issue (medians of this run):")
        for name, r, want, what in targets:
            print("  %-52s %5.2fx (target >= %.1fx): %s -- %s" % (name, r, want, "met" if r >= want else "MISSED",
                                                                   what))

    if notes:
        print()
        for n in notes:
            print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
