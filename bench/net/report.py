"""report.py -- helpers for bench/net/run.sh (standard library only).

    python3 report.py wrk   < wrk-output        one JSON object (no newline)
    python3 report.py redis < redis-benchmark-csv
    python3 report.py table RESULTS.jsonl NOTES.txt

`wrk` and `redis` turn a tool's output into the fields of one JSON line (exit
status 1 if the output cannot be parsed); `table` prints the summary of a run.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys

UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError("bad duration %r" % text)
    return float(m.group(1)) * UNITS_US[m.group(2)]


def parse_wrk(out):
    m = re.search(r"(\d+) requests in ([0-9.]+\w+), ([0-9.]+\w+) read", out)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m or not rps:
        raise ValueError("no request count in the wrk output")
    r = {"requests": int(m.group(1)), "duration_s": round(to_us(m.group(2)) / 1e6, 3),
         "req_per_sec": float(rps.group(1))}
    for p in ("50", "75", "90", "99"):
        lm = re.search(r"^\s+%s%%\s+([0-9.]+\w+)\s*$" % p, out, re.M)
        if lm:
            r["p%s_us" % p] = round(to_us(lm.group(1)), 1)
    mx = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M)
    if mx:
        r["max_us"] = round(to_us(mx.group(1)), 1)
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock = sum(int(x) for x in se.groups()) if se else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(non2xx.group(1)) if non2xx else 0
    r["socket_errors"] = sock
    r["non_2xx"] = non2xx
    r["errors"] = sock + non2xx
    return r


def parse_redis(out):
    lines = [ln for ln in out.splitlines() if ln.startswith('"')]
    if len(lines) < 2:
        raise ValueError("no CSV result in the redis-benchmark output")
    head = [h.strip('"') for h in lines[0].split(",")]
    vals = [v.strip('"') for v in lines[1].split(",")]
    row = dict(zip(head, vals))
    r = {"test": row["test"], "req_per_sec": float(row["rps"])}
    for k in ("avg", "p50", "p95", "p99", "max"):
        key = "%s_latency_ms" % k
        if key in row:
            r["%s_ms" % k] = float(row[key])
    return r


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def fmt(v, nd=None):
    if v is None:
        return "-"
    if nd is not None:
        return "%.*f" % (nd, v)
    a = abs(v)
    if a >= 1e6:
        return "%.2fM" % (v / 1e6)
    if a >= 1e4:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


OTHER_PCT = 10  # core-1 time (in % of a run) used by others that makes a run suspect
OTHER_US = 50000  # ... and at least this much (core 1's busy time is counted in 10 ms ticks)


def medians(raw):
    """One row per measurement (bench, server, pin, conns, pipeline, test):
    the median of every numeric field over its runs, errors summed."""
    groups = {}
    for r in raw:
        key = tuple(r.get(k) for k in ("bench", "server", "pin", "conns", "pipeline", "test"))
        groups.setdefault(key, []).append(r)
    out = []
    for runs in groups.values():
        m = dict(runs[0])
        for k, v in runs[0].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("conns", "pipeline", "port"):
                vals = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
                m[k] = sum(vals) if k.endswith("errors") or k in ("unfinished", "wrong_echoes", "non_2xx", "lost") \
                    else statistics.median(vals)
        m["runs"] = len(runs)
        out.append(m)
    return out


def against_floor(raw, rows, sw, unit):
    """Each server's CPU per message or request relative to the epoll floor's,
    from the rows (medians) and the raw runs: the ratio of the medians, and
    the median (min-max) of the ratios paired by run -- each run of a server
    against the floor's run of the same number, which with NET_ROUNDS ran in
    the same round, so that a busy spell of the machine cancels out."""
    base = next((r for r in rows if r["server"] == "epoll"), None)
    if not base or base["server_cpu_us_per_req"] <= 0:
        return
    floor = {r["run"]: r["server_cpu_us_per_req"] for r in raw if r["server"] == "epoll"}
    print("  %-*s %8s %19s %7s   %s" % (sw, "", unit, "(min-max)", "ratio", "paired by run: median (min-max)"))
    for r in rows:
        runs = [x for x in raw if x["server"] == r["server"]]
        cpu = [x["server_cpu_us_per_req"] for x in runs]
        pairs = sorted(x["server_cpu_us_per_req"] / floor[x["run"]] for x in runs if floor.get(x["run"]))
        print("  %-*s %8.2f %19s %6.2fx   %s" % (
            sw, r["server"], r["server_cpu_us_per_req"], "(%.2f-%.2f)" % (min(cpu), max(cpu)),
            r["server_cpu_us_per_req"] / base["server_cpu_us_per_req"],
            "%.2fx (%.2f-%.2f), %d runs" % (statistics.median(pairs), pairs[0], pairs[-1], len(pairs)) if pairs else "-"))


def table(results_path, notes_path):
    raw = []
    with open(results_path) as f:
        for line in f:
            line = line.strip()
            if line:
                raw.append(json.loads(line))
    rows = medians(raw)
    notes = []
    if os.path.exists(notes_path):
        with open(notes_path) as f:
            notes = [ln.rstrip("\n") for ln in f if ln.strip()]
    env = os.environ
    root = env.get("NET_ROOT", ".")
    py = env.get("NET_PYTHON", "python3")

    os_name = sh(". /etc/os-release 2>/dev/null && echo $PRETTY_NAME") or platform.system()
    print()
    print("asyncio.h network benchmarks, %s UTC" % sh("date -u '+%Y-%m-%d %H:%M'"))
    print("machine: %s, kernel %s, %d cores, %s" % (
        os_name, platform.release(), os.cpu_count() or 0,
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or "?"))
    head = sh("cd '%s' && git log -1 --format='%%h %%cd' --date=iso -- asyncio.h 2>/dev/null" % root)
    dirty = sh("cd '%s' && git status --porcelain -- asyncio.h 2>/dev/null" % root)
    print("asyncio.h: %s%s; cc: %s" % (head or "not in git", " (modified)" if dirty else "",
                                       sh("cc --version | head -1")))
    vers = [
        "python %s (%s)" % (sh("'%s' -c 'import platform; print(platform.python_version())'" % py), py),
        "uvloop %s" % (sh("'%s' -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null" % py) or "-"),
        "libuv %s" % (sh("pkg-config --modversion libuv 2>/dev/null") or "-"),
        "node %s" % (sh("node --version 2>/dev/null") or "-"),
        "redis %s" % (sh("redis-server --version 2>/dev/null | sed 's/.*v=\\([^ ]*\\).*/\\1/'") or "-"),
        "wrk %s" % (sh("wrk -v 2>&1 | head -1 | cut -d' ' -f2") or "-"),
    ]
    print("competitors: " + ", ".join(vers))
    rounds = env.get("NET_ROUNDS", "1")
    if rounds == "1":
        print("total bench time: %s s; every figure is the median over %s run(s) (NET_RUNS)"
              % (env.get("NET_ELAPSED", "?"), env.get("NET_RUNS", "1")))
    else:
        print("total bench time: %s s; every figure is the median over %s rounds x %s run(s)"
              % (env.get("NET_ELAPSED", "?"), rounds, env.get("NET_RUNS", "1")))
        print("(NET_ROUNDS x NET_RUNS; each round runs every server again, in a rotated order)")
    print("pinning: every server on core 1, every load generator on core 0 (taskset);")
    print("CPU = the server process's CPU time (all threads, user+sys) over the load run,")
    print("divided by the messages/requests it served in that run.")

    echo = [r for r in rows if r.get("bench") == "echo" and r.get("pin") == "cross-core"]
    same = [r for r in rows if r.get("bench") == "echo" and r.get("pin") == "same-core"]
    http = [r for r in rows if r.get("bench") == "http"]
    redis = [r for r in rows if r.get("bench") == "redis"]
    idle = [r for r in rows if r.get("bench") == "idle"]
    # the server column: as wide as the longest name (asyncio.h-uring)
    sw = max([10] + [len(r["server"]) for r in echo + http + idle])

    if echo:
        print()
        print("echo: %s-byte messages, closed loop (one in flight per connection), %s s measured"
              % (env.get("NET_MSG_BYTES", "1024"), env.get("NET_SECONDS", "?")))
        print("after a 0.5 s warm-up; latency = send of the message to the last byte of its echo")
        print()
        W = "%-" + str(sw) + "s %5s %10s %8s %8s %8s %9s %10s %6s %6s %7s %6s"
        print(W % ("server", "conns", "msgs/s", "p50 us", "p90 us", "p99 us", "max us",
                   "CPU us/msg", "user", "CPU %", "load %", "errors"))
        print("-" * (96 + sw))
        last = None
        for r in echo:
            print(W % (r["server"] if r["server"] != last else "", r["conns"], fmt(r["msgs_per_sec"]),
                       fmt(r["p50_us"], 1), fmt(r["p90_us"], 1), fmt(r["p99_us"], 1), fmt(r["max_us"], 1),
                       fmt(r["server_cpu_us_per_req"], 2), fmt(r.get("server_user_us_per_req"), 2),
                       fmt(r["server_cpu_pct"], 0), fmt(r.get("client_cpu_pct"), 0), r["errors"]))
            last = r["server"]
        print("(CPU us/msg: the server's user+sys CPU per message; user: its user-space part, from")
        print("/proc/PID/stat's 10 ms ticks; CPU % = server CPU time / wall time of the run: near")
        print("100 the server is the bottleneck; load % = the same for echo_load: near 100 the")
        print("load generator is)")
        top = max(r["conns"] for r in echo)
        if any(r["server"] == "epoll" for r in echo if r["conns"] == top):
            print()
            print("server CPU per message at %d connections, relative to the epoll floor:" % top)
            against_floor([r for r in raw if r.get("bench") == "echo" and r.get("pin") == "cross-core"
                           and r.get("conns") == top], [r for r in echo if r["conns"] == top], sw, "us/msg")

    if same:
        print()
        print("same-core round trip: server and echo_load both on core 0, 1 connection,")
        print("%s-byte messages (every round trip is two context switches on one core)"
              % env.get("NET_MSG_BYTES", "1024"))
        print()
        cross1 = {r["server"]: r for r in echo if r["conns"] == 1}
        W = "%-" + str(sw) + "s %14s %8s %8s %10s %6s   %s"
        print(W % ("server", "round trips/s", "p50 us", "p99 us", "CPU us/msg", "errors",
                   "cross-core 1 conn, msgs/s"))
        print("-" * (78 + sw))
        for r in same:
            c = cross1.get(r["server"])
            print(W % (r["server"], fmt(r["msgs_per_sec"]), fmt(r["p50_us"], 1), fmt(r["p99_us"], 1),
                       fmt(r["server_cpu_us_per_req"], 2), r["errors"],
                       fmt(c["msgs_per_sec"]) if c else "-"))

    if http:
        print()
        print("HTTP: wrk -t1 -c50 -d%ss (keep-alive GET /, \"Hello, World!\\n\"), after a 1 s warm-up"
              % env.get("NET_WRK_SECONDS", "?"))
        print()
        W = "%-" + str(sw) + "s %10s %8s %8s %8s %9s %10s %6s %6s"
        print(W % ("server", "req/s", "p50 us", "p90 us", "p99 us", "max us", "CPU us/req", "CPU %", "errors"))
        print("-" * (73 + sw))
        for r in http:
            print(W % (r["server"], fmt(r["req_per_sec"]), fmt(r.get("p50_us"), 1), fmt(r.get("p90_us"), 1),
                       fmt(r.get("p99_us"), 1), fmt(r.get("max_us"), 1),
                       fmt(r["server_cpu_us_per_req"], 2), fmt(r["server_cpu_pct"], 0), r["errors"]))
        if any(r["server"] == "epoll" for r in http):
            print()
            print("server CPU per request, relative to the epoll floor:")
            against_floor([r for r in raw if r.get("bench") == "http"], http, sw, "us/req")

    if idle:
        print()
        print("idle: %s connections held by each echo server, its CPU time over 2 s of silence," % idle[0]["conns"])
        print("then one byte echoed on every connection; RSS = the server's resident memory")
        print()
        W = "%-" + str(sw) + "s %7s %12s %9s %6s %10s %11s"
        print(W % ("server", "conns", "idle CPU ms", "echoed", "lost", "RSS KiB", "bytes/conn"))
        print("-" * (61 + sw))
        for r in idle:
            print(W % (r["server"], r["conns"], fmt(r["idle_cpu_ms"], 3), fmt(r["echoed"], 0), r["lost"],
                       fmt(r["server_rss_kb"], 0), fmt(r.get("rss_bytes_per_conn"), 0)))

    if redis:
        print()
        print("redis protocol: redis-benchmark -n %s (50 clients), one invocation per test,"
              % env.get("NET_REDIS_N", "?"))
        print("without and with -P 16 (pipelining: 16 commands in flight per client)")
        print()
        rw = max([12] + [len(r["server"]) for r in redis])
        W = "%-" + str(rw) + "s %-12s %3s %11s %8s %8s %10s %6s"
        print(W % ("server", "test", "-P", "req/s", "p50 ms", "p99 ms", "CPU us/req", "CPU %"))
        print("-" * (65 + rw))
        last = None
        for r in redis:
            key = (r["server"], r["pipeline"])
            print(W % (r["server"] if key != last else "", r["test"], r["pipeline"], fmt(r["req_per_sec"]),
                       fmt(r.get("p50_ms"), 3), fmt(r.get("p99_ms"), 3),
                       fmt(r["server_cpu_us_per_req"], 3), fmt(r["server_cpu_pct"], 0)))
            last = key

    busy = [r for r in raw if r.get("core1_other_pct", 0) > OTHER_PCT
            and r.get("core1_other_us", OTHER_US) >= OTHER_US]
    if busy:
        print()
        print("WARNING: core 1, the server's core, was busy with something else (other processes")
        print("or interrupts) for more than %d%% of these runs: their msgs/s and latencies are" % OTHER_PCT)
        print("not trustworthy, and a server that waits for its core batches more events per")
        print("wake-up, which lowers its CPU per message too; rerun on a quiet machine.")
        for r in busy:
            what = {"echo": "conns=%s %s" % (r.get("conns"), r.get("pin")),
                    "http": "wrk",
                    "redis": "%s -P %s" % (r.get("test"), r.get("pipeline"))}.get(r.get("bench"), "")
            print("  %-5s %-15s %-22s run %s: %.0f%% of core 1" % (
                r.get("bench"), r.get("server"), what, r.get("run"), r["core1_other_pct"]))

    if notes:
        print()
        for n in notes:
            print(n)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd = sys.argv[1]
    if cmd in ("wrk", "redis"):
        out = sys.stdin.read()
        try:
            r = parse_wrk(out) if cmd == "wrk" else parse_redis(out)
        except (ValueError, KeyError) as e:
            print("report.py %s: %s" % (cmd, e), file=sys.stderr)
            sys.exit(1)
        sys.stdout.write(json.dumps(r, separators=(",", ":")))
    elif cmd == "table" and len(sys.argv) == 4:
        table(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
