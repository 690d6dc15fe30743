"""report.py -- the table of bench/tls/run.sh (standard library only).

    python3 report.py RESULTS.jsonl NOTES.txt

RESULTS.jsonl: one JSON line per tls_load run, tagged by run.sh with "run"
and "server".  Prints the medians side by side, the ratios to the floors
and the targets (reported, never asserted).  Exit status 1 if RESULTS.jsonl
has no line at all.
"""
import json
import os
import platform
import statistics
import subprocess
import sys

SERVERS = ["asyncio.h", "floor-fd", "floor-mem", "floor-nora", "node", "uvloop", "asyncio"]
PEERS = ["node", "uvloop", "asyncio"]
WARN_OTHER_PCT = 10.0


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e4:
        return "%.0f" % v
    if a >= 100:
        return "%.1f" % v
    if a >= 10:
        return "%.2f" % v
    return "%.3f" % v


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    return "%.2fx" % (a / b) if a is not None and b else "-"


def machine():
    osname = sh(". /etc/os-release 2>/dev/null && echo \"$PRETTY_NAME\"") or platform.system()
    cpu = sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or platform.processor()
    return "%s, kernel %s, %d cores (%s)" % (osname, platform.release(), os.cpu_count() or 0, cpu)


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    notes = [l.rstrip("\n") for l in open(sys.argv[2])] if len(sys.argv) > 2 else []
    if not rows:
        print("no results")
        for n in notes:
            print(n)
        return 1
    env = os.environ.get
    root = env("TLS_ROOT", ".")
    runs = env("TLS_RUNS", "?")
    print("asyncio.h TLS benchmarks, %s" % sh("date -u '+%Y-%m-%d %H:%M UTC'"))
    print("machine: %s" % machine())
    print("asyncio.h: %s; cc: %s" % (env("TLS_HDR", "?"), sh("cc --version | head -1")))
    print("competitors: %s" % env("TLS_VERSIONS", "?"))
    other = env("TLS_OTHER_PCT")
    print("runs: %s of each, interleaved (server order rotated each run); load average before %s, after %s; took %s s"
          % (runs, env("TLS_LOAD0", "?"), env("TLS_LOAD1", "?"), env("TLS_ELAPSED", "?")))
    if other is not None:
        busy = "  ** a busy machine: treat the figures with care **" if float(other) > 15 else ""
        print("other processes meanwhile: %s%% of one core on average (all cores' busy time, /proc/stat, "
              "minus this run's own CPU time)%s" % (other, busy))
    first = rows[0]
    print("pinning: every server on core 1, tls_load on core 0 (taskset); negotiated: %s, %s, %s, "
          "server certificate %s (signed by a throwaway CA)"
          % (first.get("protocol"), first.get("cipher"), first.get("group"), first.get("server_key")))
    print("CPU = the server process's CPU time (all threads, user+sys, schedstat) over tls_load's loaded phase,")
    print("divided by the messages / connections it served in that phase.  Medians; 'range' = min-max over the runs.")

    def pick(bench, server):
        return [r for r in rows if r["bench"] == bench and r["server"] == server]

    servers = [s for s in SERVERS if any(r["server"] == s for r in rows)]
    others = [r["core_other_pct"] for r in rows if "core_other_pct" in r]
    busy = [o for o in others if o > WARN_OTHER_PCT]

    # ---- (a) echo ----
    e0 = next((r for r in rows if r["bench"] == "echo"), None)
    cpu_a = {}
    if e0:
        print()
        print("(a) TLS echo: %d connections, %d-byte messages, closed loop (one in flight per connection),"
              % (e0["conns"], e0["msg_bytes"]))
        print("    %g s measured after a %g s warm-up; latency = SSL_write of a message to the last byte of its echo"
              % (e0["seconds"], e0["warmup_s"]))
        hdr = "%-10s %9s %8s %8s %10s %13s %6s %6s %6s %8s %9s %6s" % (
            "server", "msgs/s", "p50 us", "p99 us", "CPU us/msg", "range", "user", "CPU %", "load %",
            "/fl-fd", "/fl-mem", "errors")
        print(hdr)
        print("-" * len(hdr))
        fd = med(pick("echo", "floor-fd"), "server_cpu_us_per_msg")
        mem = med(pick("echo", "floor-mem"), "server_cpu_us_per_msg")
        for s in servers:
            rs = pick("echo", s)
            if not rs:
                continue
            c = med(rs, "server_cpu_us_per_msg")
            cpu_a[s] = c
            cs = [r["server_cpu_us_per_msg"] for r in rs]
            print("%-10s %9s %8s %8s %10s %13s %6s %6s %6s %8s %9s %6d" % (
                s, fmt(med(rs, "msgs_per_sec")), fmt(med(rs, "p50_us")), fmt(med(rs, "p99_us")), fmt(c),
                "%s-%s" % (fmt(min(cs)), fmt(max(cs))), fmt(med(rs, "server_user_us_per_msg")),
                "%.0f" % med(rs, "server_cpu_pct"), "%.0f" % med(rs, "client_cpu_pct"), ratio(c, fd),
                ratio(c, mem), sum(r["errors"] for r in rs)))
        print("(CPU us/msg: the server's user+sys CPU per message; user: its user-space part, from /proc/PID/stat's")
        print(" 10 ms ticks; CPU % = server CPU / wall time: near 100 the server is the bottleneck; load % = the same")
        print(" for tls_load: near 100 the load generator is; /fl-fd, /fl-mem: CPU us/msg over the floors)")

    # ---- (b) handshakes ----
    h0 = next((r for r in rows if r["bench"] == "handshake"), None)
    cpu_b, rate_b, cap_b = {}, {}, {}
    if h0:
        print()
        print("(b) full handshakes: %d connections in flight; each connects, does a full TLS 1.3 handshake,"
              % h0["inflight"])
        print("    echoes one %d-byte message, exchanges close_notify and closes; %g s measured after a %g s warm-up;"
              % (h0["msg_bytes"], h0["seconds"], h0["warmup_s"]))
        print("    latency = connect() to the echo's last byte; the client does not check the chain (see README)")
        hdr = "%-10s %8s %8s %8s %9s %13s %6s %6s %6s %9s %7s %8s %8s %6s" % (
            "server", "conns/s", "p50 us", "p99 us", "CPU us/hs", "range", "user", "CPU %", "load %",
            "capacity", "tickets", "rate/fd", "cap/fd", "errors")
        print(hdr)
        print("-" * len(hdr))
        for s in servers:
            rs = pick("handshake", s)
            if not rs:
                continue
            c = med(rs, "server_cpu_us_per_conn")
            cpu_b[s] = c
            rate_b[s] = med(rs, "handshakes_per_sec")
            cap_b[s] = 1e6 / c if c else None
        for s in servers:
            rs = pick("handshake", s)
            if not rs:
                continue
            cs = [r["server_cpu_us_per_conn"] for r in rs]
            print("%-10s %8s %8s %8s %9s %13s %6s %6s %6s %9s %7s %8s %8s %6d" % (
                s, fmt(rate_b[s]), fmt(med(rs, "p50_us")), fmt(med(rs, "p99_us")), fmt(cpu_b[s]),
                "%s-%s" % (fmt(min(cs)), fmt(max(cs))), fmt(med(rs, "server_user_us_per_conn")),
                "%.0f" % med(rs, "server_cpu_pct"), "%.0f" % med(rs, "client_cpu_pct"), fmt(cap_b[s]),
                "%.1f" % med(rs, "tickets_per_conn"),
                "%.0f%%" % (100 * rate_b[s] / rate_b["floor-fd"]) if rate_b.get("floor-fd") else "-",
                "%.0f%%" % (100 * cap_b[s] / cap_b["floor-fd"]) if cap_b.get("floor-fd") and cap_b[s] else "-",
                sum(r["errors"] for r in rs)))
        print("(conns/s: connections completed a second, each a full handshake; CPU us/hs: the server's CPU per")
        print(" connection, handshake to close; capacity = 1e6 / CPU us/hs: the connections a second a whole core")
        print(" would serve; tickets: TLS 1.3 session tickets the server sent per connection; rate/fd and cap/fd:")
        print(" conns/s and capacity in % of floor-fd's)")

    # ---- targets ----
    print()
    print("targets (reported, not asserted):")

    def rows_of(bench):
        return [r for r in rows if r["bench"] == bench]

    def per_run(bench, key, a, b):
        out = []
        for run in sorted({r["run"] for r in rows}):
            x = [r[key] for r in rows if r["bench"] == bench and r["server"] == a and r["run"] == run]
            y = [r[key] for r in rows if r["bench"] == bench and r["server"] == b and r["run"] == run]
            if x and y and y[0]:
                out.append("%.2f" % (x[0] / y[0]))
        return " ".join(out) or "-"

    ah = cpu_a.get("asyncio.h")
    if ah and cpu_a.get("floor-fd"):
        r = ah / cpu_a["floor-fd"]
        print("  (a) CPU per message, asyncio.h %s us = %.2fx floor-fd's %s us (target <= 1.10x): %s"
              "   [per run: %s]" % (fmt(ah), r, fmt(cpu_a["floor-fd"]), "met" if r <= 1.10 else "MISSED",
                                   per_run("echo", "server_cpu_us_per_msg", "asyncio.h", "floor-fd")))
    if ah and any(p in cpu_a for p in PEERS):
        peers = ", ".join("%s %s us (%.2fx)" % (p, fmt(cpu_a[p]), cpu_a[p] / ah) for p in PEERS if p in cpu_a)
        below = all(ah < cpu_a[p] for p in PEERS if p in cpu_a)
        print("  (a) below every peer: %s: %s" % (peers, "met" if below else "MISSED"))
    if cap_b.get("asyncio.h") and cap_b.get("floor-fd"):
        q = 100 * cap_b["asyncio.h"] / cap_b["floor-fd"]
        print("  (b) full handshakes a second per core of server CPU (capacity), asyncio.h %s = %.0f%% of floor-fd's %s"
              " (target >= 95%%): %s   [per run: %s]"
              % (fmt(cap_b["asyncio.h"]), q, fmt(cap_b["floor-fd"]), "met" if q >= 95 else "MISSED",
                 per_run("handshake", "server_cpu_us_per_conn", "floor-fd", "asyncio.h")))
        p = 100 * rate_b["asyncio.h"] / rate_b["floor-fd"]
        client = med(rows_of("handshake"), "client_cpu_us_per_conn")
        print("      measured rate: asyncio.h %s = %.0f%% of floor-fd's %s [per run: %s]; tls_load spends %s us"
              % (fmt(rate_b["asyncio.h"]), p, fmt(rate_b["floor-fd"]),
                 per_run("handshake", "handshakes_per_sec", "asyncio.h", "floor-fd"), fmt(client)))
        print("      of its core per connection (median), %s" % (
            "more than asyncio.h and floor-fd: the load generator is the limit, and their rates compare its runs"
            if client > max(cpu_b["asyncio.h"], cpu_b["floor-fd"]) else "less than asyncio.h or floor-fd"))
    if cpu_a.get("floor-fd") and cpu_a.get("floor-mem"):
        print("  floors, memory BIOs against SSL_set_fd: echo CPU per message %s against %s us (mem/fd %.2fx)"
              % (fmt(cpu_a["floor-mem"]), fmt(cpu_a["floor-fd"]), cpu_a["floor-mem"] / cpu_a["floor-fd"]))
        if cpu_b.get("floor-fd") and cpu_b.get("floor-mem"):
            print("      handshakes: CPU per connection %s against %s us (mem/fd %.2fx), conns/s %s against %s"
                  % (fmt(cpu_b["floor-mem"]), fmt(cpu_b["floor-fd"]), cpu_b["floor-mem"] / cpu_b["floor-fd"],
                     fmt(rate_b.get("floor-mem")), fmt(rate_b.get("floor-fd"))))
    if cpu_a.get("floor-fd") and cpu_a.get("floor-nora"):
        print("  read-ahead off (floor-nora: a recv for each record's header and one for its body, as asyncio.h reads):")
        print("      echo CPU per message %s us = %.2fx floor-fd's%s"
              % (fmt(cpu_a["floor-nora"]), cpu_a["floor-nora"] / cpu_a["floor-fd"],
                 "; asyncio.h's %.2fx floor-nora's" % (ah / cpu_a["floor-nora"]) if ah else ""))
        if cpu_b.get("floor-fd") and cpu_b.get("floor-nora"):
            print("      handshakes: CPU per connection %s us = %.2fx floor-fd's"
                  % (fmt(cpu_b["floor-nora"]), cpu_b["floor-nora"] / cpu_b["floor-fd"]))
    if others:
        print()
        print("%sother work on core 1 (the servers' core) during the runs: median %.0f%%, most %.0f%% of a run;"
              % ("WARNING: " if busy else "", statistics.median(others), max(others)))
        print("  over %.0f%% in %d of %d runs (results.jsonl: core_other_pct)%s"
              % (WARN_OTHER_PCT, len(busy), len(others),
                 ": their rates and latencies are suspect, the CPU per message or handshake less so" if busy else ""))
    if notes:
        print()
        for n in notes:
            print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
