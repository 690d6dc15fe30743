#!/usr/bin/env python3
"""bench/charts.py -- draw PNG charts from the benchmarks' own result files.

    python3 bench/charts.py [--build build] [--out bench/charts] [NAME ...]

(make charts runs it with /usr/bin/python3, after bench/gather_sweep.sh.)
Needs matplotlib (Debian: apt-get install python3-matplotlib).  It runs no
benchmark itself: it reads what make bench-core, bench-net, bench-threads
and bench/gather_sweep.sh wrote under BUILD, and a chart whose results are
missing is skipped with a note, never drawn from other figures.

  per_task.png        CPU and memory per task, asyncio.h against Python
                      asyncio: BUILD/bench/results.jsonl (bench/run.sh)
  echo_cpu.png        echo server CPU per message against the peers and the
                      hand-written epoll floor: BUILD/bench-net/net-results.jsonl
  echo_latency.png    echo round-trip latency percentiles, same file
  thread_latency.png  to_thread round trip and loop lag percentiles:
                      BUILD/bench-threads/results.jsonl
  gather_sweep.png    gather wall time against MAX as N grows:
                      BUILD/bench/gather-sweep.jsonl (bench/gather_sweep.sh)

Every figure is the median over the runs in the file.  Each chart's footer
names its source file, when it was written, and the asyncio.h commit and
machine from the run's summary when there is one.  NAME restricts the run
to some charts (per_task echo_cpu echo_latency thread_latency gather_sweep).
"""
import argparse
import json
import math
import os
import statistics
import sys
import textwrap
import time

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter
except ImportError:
    sys.stderr.write("charts.py: matplotlib is missing (Debian: apt-get install python3-matplotlib, "
                     "then run this with /usr/bin/python3)\n")
    sys.exit(2)

# one colour per implementation, the same in every chart
COLOURS = {
    "asyncio.h": "#1f5fa8",
    "c": "#1f5fa8",
    "epoll": "#9a9a9a",
    "libuv": "#e08a1e",
    "uvloop": "#3f9a3f",
    "asyncio": "#c43c3c",
    "python": "#c43c3c",
    "python (hashlib job)": "#e8908c",
    "node": "#7b4fa6",
}
LABELS = {
    "c": "asyncio.h",
    "python": "Python asyncio",
    "asyncio": "Python asyncio",
    "uvloop": "uvloop (Python)",
    "epoll": "hand-written epoll (the floor)",
    "node": "Node",
    "python (hashlib job)": "Python asyncio, hashlib job (releases the GIL)",
}
SHORT = {"epoll": "floor\n(epoll)", "asyncio": "Python\nasyncio", "uvloop": "uvloop\n(Python)",
         "node": "Node"}
NET_SERVERS = ["asyncio.h", "epoll", "libuv", "uvloop", "asyncio", "node"]


class Skip(Exception):
    pass


def read_jsonl(path):
    if not os.path.exists(path):
        raise Skip("%s not found" % path)
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    if not rows:
        raise Skip("%s is empty" % path)
    return rows


def median(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def mtime(path):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(path)))


def summary_lines(path, prefixes):
    """The first line of a run's summary starting with each prefix."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        lines = f.read().splitlines()
    for p in prefixes:
        for line in lines:
            if line.startswith(p):
                out.append(line.strip())
                break
    return out


def footer(fig, source, extra=()):
    """Small grey lines at the bottom: the source file, then EXTRA, wrapped
    to the figure's width (about 17 characters per inch at 7 points)."""
    width = int(fig.get_figwidth() * 17)
    lines = ["source: %s, written %s" % (source, mtime(source))]
    for e in extra:
        if e:
            lines += textwrap.wrap(e, width, subsequent_indent="  ")
    fig.text(0.01, 0.005, "\n".join(lines), fontsize=7, color="#555555", ha="left", va="bottom")
    return len(lines)


def layout(fig, foot_lines, top=0.95):
    """tight_layout above the footer's FOOT_LINES lines and below the title."""
    bottom = (foot_lines * 7 * 1.3 / 72.0 + 0.08) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, top))


def fmt_ns(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.3g ms" % (v / 1e6)
    if v >= 1e3:
        return "%.3g us" % (v / 1e3)
    return "%.3g ns" % v


def fmt_us(v):
    if v >= 1e3:
        return "%.3g ms" % (v / 1e3)
    return "%.3g us" % v


def fmt_bytes(v):
    if v >= 1024:
        return "%.3g KiB" % (v / 1024.0)
    return "%.0f B" % v


def fmt_n(n):
    n = int(n)
    if n >= 1000 and str(n).rstrip("0") == "1":
        return "1e%d" % (len(str(n)) - 1)
    return str(n)


def plain_log_axis(ax, axis="y"):
    f = FuncFormatter(lambda v, _: ("%g" % v) if v < 1e5 else "1e%d" % round(math.log10(v)))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(f)


def bar_labels(ax, bars, texts, rotation=0, fontsize=7):
    for b, t in zip(bars, texts):
        if t is None:
            continue
        ax.annotate(t, (b.get_x() + b.get_width() / 2, b.get_height()), xytext=(0, 2),
                    textcoords="offset points", ha="center", va="bottom", fontsize=fontsize,
                    rotation=rotation)


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


# ---- (1) per-task CPU and memory: bench/run.sh ---------------------------
def chart_per_task(build, out):
    src = os.path.join(build, "bench", "results.jsonl")
    rows = read_jsonl(src)
    runs = {}
    for r in rows:
        runs.setdefault((r.get("impl"), r.get("bench"), int(r.get("n", 0))), []).append(r)
    # which Python N goes with which C N (BENCH_QUICK=1 runs Python smaller)
    pyn = {}
    plan = os.path.join(build, "bench", "plan.tsv")
    if os.path.exists(plan):
        with open(plan) as f:
            for line in f:
                b, cn, pn = line.rstrip("\n").split("\t")
                pyn[(b, int(cn))] = None if pn == "-" else int(pn)
    cpu_key = {"gather": "cpu_ns_per_task", "spawn": "cpu_ns_per_task", "switch": "cpu_ns_per_switch"}
    order = {"gather": 0, "spawn": 1, "switch": 2}
    cells = sorted({(b, n) for (i, b, n) in runs if i == "c" and b in cpu_key},
                   key=lambda k: (order[k[0]], k[1]))
    if not cells:
        raise Skip("no C runs of gather, spawn or switch in %s" % src)

    def pair(b, n, key):
        c = median(runs.get(("c", b, n), []), key)
        pn = pyn.get((b, n), n)
        p = median(runs.get(("python", b, pn), []), key) if pn is not None else None
        return c, p, pn

    cpu, mem = [], []
    for b, n in cells:
        # gather at small N: a fixed cost (the timed wake-ups) / N, not a per-task cost
        if not (b == "gather" and n < 1000):
            cpu.append((b, n) + pair(b, n, cpu_key[b]))
        if b in ("gather", "spawn") and n >= 100000:
            mem.append((b, n) + pair(b, n, "rss_bytes_per_task"))

    fig, axes = plt.subplots(1, 2, figsize=(11.5, 5.2), gridspec_kw={"width_ratios": [len(cpu) or 1, max(len(mem), 2)]})
    w = 0.38

    def panel(ax, data, fmt, ylabel, title, log):
        xs = range(len(data))
        c_vals = [d[2] or 0 for d in data]
        p_vals = [d[3] or 0 for d in data]
        bc = ax.bar([x - w / 2 for x in xs], c_vals, w, color=COLOURS["c"], label="asyncio.h")
        bp = ax.bar([x + w / 2 for x in xs], p_vals, w, color=COLOURS["python"], label="Python asyncio")
        bar_labels(ax, bc, [fmt(v) if v else None for v in c_vals])
        bar_labels(ax, bp, [fmt(v) if v else None for v in p_vals])
        names = []
        for b, n, c, p, pn in data:
            s = "%s\nN=%s" % (b, fmt_n(n))
            if b == "switch":
                s = "switch\n(per switch)"
            if p and c:
                s += "\nPython/C %.3gx" % (p / c)
            if pn is None:
                s += "\n(no Python run)"
            elif pn != n:
                s += "\n(Python at N=%s)" % fmt_n(pn)
            names.append(s)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, fontsize=8)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(top=max(c_vals + p_vals) * 4)
        else:
            ax.set_ylim(top=max(c_vals + p_vals) * 1.15)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)

    panel(axes[0], cpu, fmt_ns, "CPU time per task (ns, log scale)", "CPU per task (user+sys)", True)
    plain_log_axis(axes[0])
    if mem:
        panel(axes[1], mem, fmt_bytes, "peak RSS growth per task (bytes)", "Memory per task (large N only)", False)
    else:
        axes[1].set_axis_off()
        axes[1].text(0.5, 0.5, "no run at N >= 1e5", ha="center")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Per-task cost: asyncio.h against Python asyncio (make bench-core), medians", fontsize=11)
    info = summary_lines(os.path.join(build, "bench", "summary.txt"),
                         ["asyncio.h benchmarks,", "machine:", "asyncio.h:", "python:"])
    nf = footer(fig, src, ["; ".join(info),
                      "bench-core runs only asyncio.h and CPython; uvloop, libuv and Node are compared in the "
                      "echo charts. gather at N < 1000 is left out of CPU: there it is a fixed cost / N."])
    layout(fig, nf, 0.95)
    return save(fig, out, "per_task.png"), src


# ---- (2), (3) echo: bench/net/run.sh -------------------------------------
def net_cells(build):
    src = os.path.join(build, "bench-net", "net-results.jsonl")
    rows = [r for r in read_jsonl(src) if r.get("bench") == "echo"]
    if not rows:
        raise Skip("no echo runs in %s" % src)
    cells = {}
    for r in rows:
        cells.setdefault((r.get("server"), r.get("pin"), int(r.get("conns", 0))), []).append(r)
    groups = sorted({(p, c) for (_, p, c) in cells}, key=lambda g: (g[0] != "cross-core", g[1]))
    servers = [s for s in NET_SERVERS if any(k[0] == s for k in cells)]
    servers += sorted({k[0] for k in cells} - set(servers))
    busy = [r for r in rows if r.get("core1_other_pct", 0) > 10 and r.get("core1_other_us", 0) > 50000]
    runs = max(len(v) for v in cells.values())
    info = summary_lines(os.path.join(build, "bench-net", "net-summary.txt"),
                         ["asyncio.h network benchmarks,", "machine:", "asyncio.h:"])
    extra = ["; ".join(info),
             "medians of %d run(s) per bar (NET_RUNS); server pinned to core 1, load generator to core 0; "
             "%d of %d runs had core 1 more than 10%% busy with other work (noisy figures)"
             % (runs, len(busy), len(rows))]
    return src, cells, groups, servers, extra


def group_name(g):
    pin, conns = g
    if pin == "same-core":
        return "%d conn.\nsame core" % conns
    return "%d conn%s" % (conns, "" if conns == 1 else "s")


def chart_echo_cpu(build, out):
    src, cells, groups, servers, extra = net_cells(build)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(11, 7.8), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    n = len(servers)
    w = 0.8 / n
    for i, s in enumerate(servers):
        xs, vals, ratios = [], [], []
        for j, g in enumerate(groups):
            v = median(cells.get((s,) + g, []), "server_cpu_us_per_req")
            f = median(cells.get(("epoll",) + g, []), "server_cpu_us_per_req")
            if v is None:
                continue
            xs.append(j - 0.4 + w * (i + 0.5))
            vals.append(v)
            ratios.append(v / f if f else None)
        style = dict(color=COLOURS.get(s, None), label=LABELS.get(s, s))
        if s == "epoll":
            style.update(hatch="//", edgecolor="#444444")
        bars = ax.bar(xs, vals, w, **style)
        bar_labels(ax, bars, ["%.3g" % v for v in vals], rotation=90, fontsize=7)
        rx = [x for x, r in zip(xs, ratios) if r is not None]
        rv = [r for r in ratios if r is not None]
        b2 = ax2.bar(rx, rv, w, **style)
        bar_labels(ax2, b2, ["%.2f" % r for r in rv], rotation=90, fontsize=7)
    ax.set_ylabel("server CPU per message (us, user+sys)")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.15)
    ax.set_title("Echo server CPU per 1 KiB message (make bench-net), lower is better", fontsize=11)
    ax.legend(fontsize=8, ncol=3, loc="upper right")
    ax2.axhline(1.0, color="#444444", lw=1, ls="--")
    ax2.set_ylabel("relative to the epoll floor (x)")
    ax2.set_ylim(0, ax2.get_ylim()[1] * 1.2)
    ax2.set_xticks(range(len(groups)))
    ax2.set_xticklabels([group_name(g) for g in groups])
    ax2.set_xlabel("connections (closed loop, one message in flight each)")
    for a in (ax, ax2):
        a.grid(axis="y", alpha=0.3)
        a.set_axisbelow(True)
    nf = footer(fig, src, extra)
    layout(fig, nf, 1)
    return save(fig, out, "echo_cpu.png"), src


def percentile_bars(ax, xs, w, colour, p50, p90, p99, label=None):
    """p99 pale, p90 medium, p50 solid, drawn over each other at the same x."""
    if p99 is not None:
        ax.bar(xs, p99, w, color=colour, alpha=0.25, edgecolor=colour)
    if p90 is not None:
        ax.bar(xs, p90, w, color=colour, alpha=0.55)
    return ax.bar(xs, p50, w, color=colour, label=label)


def percentile_legend(ax, have_p90=True):
    from matplotlib.patches import Patch
    h = [Patch(color="#555555", label="p50")]
    if have_p90:
        h.append(Patch(color="#555555", alpha=0.55, label="p90"))
    h.append(Patch(color="#555555", alpha=0.25, label="p99"))
    return h


def chart_echo_latency(build, out):
    src, cells, groups, servers, extra = net_cells(build)
    cols = 2 if len(groups) > 1 else 1
    rows_n = (len(groups) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(11, 3.6 * rows_n + 0.8), squeeze=False)
    for k, g in enumerate(groups):
        ax = axes[k // cols][k % cols]
        for i, s in enumerate(servers):
            rs = cells.get((s,) + g, [])
            if not rs:
                continue
            percentile_bars(ax, [i], 0.7, COLOURS.get(s, "#777777"), [median(rs, "p50_us")],
                            [median(rs, "p90_us")], [median(rs, "p99_us")])
            ax.annotate("%s" % fmt_us(median(rs, "p50_us")), (i, median(rs, "p50_us")), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        lows = [median(cells[(sv,) + g], "p50_us") for sv in servers if (sv,) + g in cells]
        lows = [v for v in lows if v and v > 0]
        if lows:  # start at a power of ten, so that every panel has at least two labelled ticks
            ax.set_ylim(bottom=10 ** math.floor(math.log10(min(lows) / 2)))
        plain_log_axis(ax)
        ax.set_xticks(range(len(servers)))
        ax.set_xticklabels([SHORT.get(s, s) for s in servers], fontsize=8)
        ax.set_ylabel("round trip (us, log scale)")
        ax.set_title(group_name(g).replace("\n", ", "), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for k in range(len(groups), rows_n * cols):
        axes[k // cols][k % cols].set_axis_off()
    fig.legend(handles=percentile_legend(axes[0][0]), fontsize=8, loc="upper center", ncol=3,
               bbox_to_anchor=(0.5, 0.965), frameon=False)
    fig.suptitle("Echo round-trip latency, 1 KiB messages (make bench-net), lower is better", fontsize=11)
    nf = footer(fig, src, extra + ["latency: from the message's first byte handed to the kernel to its echo's last "
                              "byte read; at 100 connections mostly queueing behind the other 99"])
    layout(fig, nf, 0.93)
    return save(fig, out, "echo_latency.png"), src


# ---- (3b) thread latencies: bench/threads/run.sh -------------------------
def chart_thread_latency(build, out):
    src = os.path.join(build, "bench-threads", "results.jsonl")
    rows = read_jsonl(src)
    lat = [r for r in rows if r.get("bench") == "to_thread_latency"]
    lag = [r for r in rows if r.get("bench") == "loop_lag"]
    if not lat and not lag:
        raise Skip("no to_thread_latency or loop_lag runs in %s" % src)
    impls = ["asyncio.h", "libuv", "python"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.4), gridspec_kw={"width_ratios": [4, 2.4]})
    w = 0.8 / len(impls)

    cfg_names = {"default": "default pools", "pool4": "pools of 4", "pool4-same": "pools of 4,\nall on core 0",
                 "pool4-split": "pools of 4, loop core 0,\npool core 1"}
    cfgs = [c for c in cfg_names if any(r.get("config") == c for r in lat)]
    ax = axes[0]
    for i, im in enumerate(impls):
        for j, c in enumerate(cfgs):
            rs = [r for r in lat if r.get("impl") == im and r.get("config") == c]
            if not rs:
                continue
            x = j - 0.4 + w * (i + 0.5)
            b = percentile_bars(ax, [x], w, COLOURS[im], [median(rs, "p50_us")], None, [median(rs, "p99_us")],
                                label=LABELS.get(im, im) if j == 0 else None)
            bar_labels(ax, b, ["%.3g" % median(rs, "p50_us")], fontsize=7)
    ax.set_xticks(range(len(cfgs)))
    ax.set_xticklabels([cfg_names[c] for c in cfgs], fontsize=8)
    ax.set_ylabel("round trip of an empty job (us)")
    ax.set_title("to_thread round trip, one job at a time: p50 solid (labelled), p99 pale", fontsize=10)
    leg1 = ax.legend(fontsize=8, loc="upper left")
    ax.add_artist(leg1)
    ax.legend(handles=percentile_legend(ax, False), fontsize=8, loc="upper right")

    ax = axes[1]
    lag_cfgs = [("idle", "idle\n(ticker alone)"), ("cpu-jobs", "4 CPU-heavy jobs\non the pool")]
    series = [("asyncio.h", None), ("libuv", None), ("python", "python"), ("python", "hashlib")]
    w2 = 0.8 / len(series)
    for i, (im, job) in enumerate(series):
        name = "python (hashlib job)" if job == "hashlib" else im
        for j, (c, _) in enumerate(lag_cfgs):
            rs = [r for r in lag if r.get("impl") == im and r.get("config") == c
                  and (job is None or r.get("job", "python") == job or c == "idle")]
            if c == "idle" and job == "hashlib":
                rs = []  # the idle baseline has no job: one Python bar
            if not rs:
                continue
            x = j - 0.4 + w2 * (i + 0.5)
            b = percentile_bars(ax, [x], w2, COLOURS[name], [median(rs, "p50_us")], None, [median(rs, "p99_us")],
                                label=(LABELS.get(name, name) + (", pure-Python job" if job == "python" else ""))
                                if j == 1 else None)
            bar_labels(ax, b, [fmt_us(median(rs, "p50_us"))], rotation=90, fontsize=7)
    ax.set_yscale("log")
    plain_log_axis(ax)
    ax.set_xticks(range(len(lag_cfgs)))
    ax.set_xticklabels([n for _, n in lag_cfgs], fontsize=8)
    ax.set_ylabel("lateness of a 1 ms ticker (us, log scale)")
    ax.set_title("Loop lag: p50 solid, p99 pale", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    for a in axes:
        a.grid(axis="y", alpha=0.3)
        a.set_axisbelow(True)
    fig.suptitle("Thread hand-offs and loop lag (make bench-threads), medians, lower is better", fontsize=11)
    info = summary_lines(os.path.join(build, "bench-threads", "summary.txt"),
                         ["asyncio.h thread benchmarks,", "machine:", "asyncio.h:", "libuv:", "runs:"])
    nf = footer(fig, src, ["; ".join(info[:3]), "; ".join(info[3:])])
    layout(fig, nf, 0.95)
    return save(fig, out, "thread_latency.png"), src


# ---- (4) gather wall time against MAX: bench/gather_sweep.sh ------------
def chart_gather_sweep(build, out):
    src = os.path.join(build, "bench", "gather-sweep.jsonl")
    rows = [r for r in read_jsonl(src) if r.get("bench") == "gather"]
    if not rows:
        raise Skip("no gather runs in %s" % src)
    max_ms = rows[0].get("max_ms", 100)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.2))
    for impl in ("c", "python"):
        rs = [r for r in rows if r.get("impl") == impl]
        ns = sorted({int(r["n"]) for r in rs})
        if not ns:
            continue
        walls = [[r["wall_ms"] for r in rs if int(r["n"]) == n] for n in ns]
        med = [statistics.median(v) for v in walls]
        lo = [m - min(v) for m, v in zip(med, walls)]
        hi = [max(v) - m for m, v in zip(med, walls)]
        label = "%s (median of %s runs; bars: min-max)" % (
            LABELS.get(impl, impl), "/".join(sorted({str(len(v)) for v in walls})))
        ax.errorbar(ns, med, yerr=[lo, hi], marker="o", capsize=3, color=COLOURS[impl], label=label)
        dy = -11 if impl == "c" else 5
        for n, m in zip(ns, med):
            ax.annotate("%.0f" % m if m >= 10 else "%.1f" % m, (n, m), xytext=(4, dy),
                        textcoords="offset points", fontsize=7, color=COLOURS[impl])
        over = [[r["wall_ms"] - max_ms for r in rs if int(r["n"]) == n] for n in ns]
        omed = [statistics.median(v) for v in over]
        pos = [(n, o) for n, o in zip(ns, omed) if o > 0]
        ax2.plot([p[0] for p in pos], [p[1] for p in pos], marker="o", color=COLOURS[impl],
                 label=LABELS.get(impl, impl))
        for n, o in pos:
            ax2.annotate(("%.0f" % o) if o >= 100 else ("%.3g" % o), (n, o), xytext=(4, -11),
                         textcoords="offset points", fontsize=7, color=COLOURS[impl])
    ax.axhline(max_ms, color="#222222", ls="--", lw=1.2, zorder=1,
               label="MAX = %d ms: the longest sleep, the ideal wall time" % max_ms)
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_yscale("log")
        plain_log_axis(a, "y")
        a.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_n(v) if v >= 1 else ""))
        a.set_xlabel("N tasks gathered (log scale)")
        a.grid(alpha=0.35, which="major")
        a.grid(alpha=0.12, which="minor")
        a.set_axisbelow(True)
    ax.set_ylabel("wall time of the gather (ms, log scale)")
    ax.set_title("gather N tasks sleeping 10..%d ms: wall time against MAX" % max_ms, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax2.set_ylabel("wall - MAX (ms, log scale)")
    ax2.set_title("the overhead: wall time past MAX (medians)", fontsize=10)
    ax2.legend(fontsize=8, loc="upper left")
    loads = [r["loadavg"] for r in rows if isinstance(r.get("loadavg"), (int, float))]
    pymax = max([int(r["n"]) for r in rows if r.get("impl") == "python"] or [0])
    fig.suptitle("The gather benchmark as N grows (bench/gather_sweep.sh, run by make charts)", fontsize=11)
    hdr = sorted({r.get("asyncio_h") for r in rows if r.get("asyncio_h")})
    nf = footer(fig, src, ["asyncio.h %s ('+': with uncommitted changes); machine: %d cores, 1-minute load average %s during the sweep; "
                      "Python (%s) up to N=%s (SWEEP_PY_MAX)" % (
                          ", ".join(hdr) or "?", os.cpu_count() or 0,
                          ("%.1f-%.1f" % (min(loads), max(loads))) if loads else "?",
                          os.environ.get("PYTHON", "python3"), fmt_n(pymax) if pymax else "none"),
                      "task i sleeps (i % 10 + 1) * 10 ms; wall: from before the first task is created "
                      "to after the gather completes (bench/gather.c, bench/gather.py)"])
    layout(fig, nf, 0.95)
    return save(fig, out, "gather_sweep.png"), src


CHARTS = [
    ("per_task", chart_per_task, "make bench-core"),
    ("echo_cpu", chart_echo_cpu, "make bench-net"),
    ("echo_latency", chart_echo_latency, "make bench-net"),
    ("thread_latency", chart_thread_latency, "make bench-threads"),
    ("gather_sweep", chart_gather_sweep, "make charts, or bash bench/gather_sweep.sh build/bench"),
]


def main():
    ap = argparse.ArgumentParser(description="PNG charts from the benchmarks' result files")
    ap.add_argument("--build", default="build", help="the build directory (default: build)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "charts"),
                    help="where the PNGs go (default: bench/charts)")
    ap.add_argument("names", nargs="*", help="only these charts: " + " ".join(c[0] for c in CHARTS))
    a = ap.parse_args()
    unknown = set(a.names) - {c[0] for c in CHARTS}
    if unknown:
        ap.error("unknown chart(s): %s" % " ".join(sorted(unknown)))
    os.makedirs(a.out, exist_ok=True)
    plt.rcParams.update({"font.size": 9})
    wrote = 0
    for name, fn, cmd in CHARTS:
        if a.names and name not in a.names:
            continue
        try:
            path, src = fn(a.build, a.out)
            print("charts: wrote %s (from %s, %s)" % (os.path.relpath(path), src, mtime(src)))
            wrote += 1
        except Skip as e:
            print("charts: skipped %s.png: %s (run: %s)" % (name, e, cmd))
    print("charts: %d chart(s) written to %s" % (wrote, a.out))


if __name__ == "__main__":
    main()
