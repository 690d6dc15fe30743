#!/usr/bin/env bash
# bench/run.sh BUILD_DIR -- run the benchmarks and print a comparison table.
#
# BUILD_DIR holds the C binaries gather, spawn and switch (make bench builds
# them into build/bench).  Each workload runs several times in C and in
# Python (bench/*.py); the table shows the MEDIAN of every JSON field, C
# next to Python, and the ratio Python/C.  hyperfine, when installed, then
# times the whole processes for the small workloads.
#
# Environment:
#   BENCH_QUICK=1   under a minute: fewer runs, no Python run at N=1e6
#                   (Python spawn/switch run at N=1e5 instead)
#   PYTHON=...      the interpreter (default: python3)
#
# Raw results: BUILD_DIR/results.jsonl (one line per run, with "impl"),
# the table: BUILD_DIR/summary.txt, hyperfine: BUILD_DIR/hyperfine-*.json
# and .log.  Exits non-zero if any benchmark run failed (a wrong result).
set -u

BUILD=${1:?usage: bench/run.sh BUILD_DIR}
BUILD=${BUILD%/}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 1 ] || QUICK=0

for b in gather spawn switch; do
    if [ ! -x "$BUILD/$b" ]; then
        echo "run.sh: $BUILD/$b is missing (run: make bench)" >&2
        exit 2
    fi
done
if ! command -v "$PY" >/dev/null; then
    echo "run.sh: $PY not found; it is needed for the Python side and the table" >&2
    exit 2
fi

RESULTS=$BUILD/results.jsonl
PLAN=$BUILD/plan.tsv
: >"$RESULTS"
: >"$PLAN"
failed=0
T0=$(date +%s)

# run IMPL BENCH N RUNS CMD...: RUNS runs, each JSON line tagged with impl.
run() {
    local impl=$1 bench=$2 n=$3 runs=$4 i out rc
    shift 4
    printf '  %-6s %-6s n=%-8s x%d ...' "$impl" "$bench" "$n" "$runs" >&2
    for ((i = 1; i <= runs; i++)); do
        out=$("$@")
        rc=$?
        if [ $rc != 0 ] || [ "${out:0:1}" != "{" ]; then
            echo " FAILED (exit status $rc): $*" >&2
            failed=1
            return
        fi
        # {"bench":... -> {"impl":"c","bench":...
        printf '{"impl":"%s",%s\n' "$impl" "${out#\{}" >>"$RESULTS"
    done
    echo " done" >&2
}

# workload BENCH C_N C_RUNS PY_N PY_RUNS (PY_RUNS 0: no Python run)
workload() {
    local bench=$1 cn=$2 cruns=$3 pyn=$4 pyruns=$5
    printf '%s\t%s\t%s\n' "$bench" "$cn" "$([ "$pyruns" -gt 0 ] && echo "$pyn" || echo -)" >>"$PLAN"
    run c "$bench" "$cn" "$cruns" "$BUILD/$bench" "$cn"
    [ "$pyruns" -gt 0 ] && run python "$bench" "$pyn" "$pyruns" "$PY" "$HERE/$bench.py" "$pyn"
}

echo "asyncio.h benchmarks ($([ "$QUICK" = 1 ] && echo 'BENCH_QUICK=1' || echo 'full run'))" >&2
if [ "$QUICK" = 1 ]; then
    workload gather 10 7 10 3
    workload gather 1000 7 1000 3
    workload gather 100000 5 100000 1
    workload gather 1000000 3 - 0
    workload spawn 1000000 5 100000 3
    workload switch 1000000 5 100000 3
else
    workload gather 10 7 10 5
    workload gather 1000 7 1000 5
    workload gather 100000 7 100000 3
    workload gather 1000000 5 1000000 1
    workload spawn 1000000 7 1000000 1
    workload switch 1000000 7 1000000 1
fi

# hyperfine: whole processes (start-up, loop creation, exit included).
HF_FILES=()
if command -v hyperfine >/dev/null; then
    echo "hyperfine: whole-process wall time, C vs Python" >&2
    for spec in "gather 10" "gather 1000" "spawn 100000" "switch 100000"; do
        read -r hb hn <<<"$spec"
        json=$BUILD/hyperfine-$hb-$hn.json
        printf '  %-6s n=%-8s ...' "$hb" "$hn" >&2
        # -N: no intermediate shell; the quotes are for hyperfine's own splitting
        if hyperfine -N --warmup 1 --runs 5 --export-json "$json" \
            -n "c $hb $hn" "'$BUILD/$hb' $hn" \
            -n "python $hb $hn" "'$PY' '$HERE/$hb.py' $hn" >"${json%.json}.log" 2>&1; then
            HF_FILES+=("$json")
            echo " done" >&2
        else
            echo " FAILED (see ${json%.json}.log)" >&2
            failed=1
        fi
    done
else
    echo "hyperfine: not installed (apt-get install hyperfine); skipping whole-process timings" >&2
fi

ELAPSED=$(($(date +%s) - T0))
export BENCH_QUICK_EFFECTIVE=$QUICK BENCH_ELAPSED=$ELAPSED BENCH_PY=$PY BENCH_HERE=$HERE
"$PY" - "$RESULTS" "$PLAN" "${HF_FILES[@]}" <<'EOF' | tee "$BUILD/summary.txt"
import json, os, platform, statistics, subprocess, sys

results_path, plan_path, hf_paths = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {}  # (impl, bench, n) -> list of dicts
with open(results_path) as f:
    for line in f:
        line = line.strip()
        if line:
            r = json.loads(line)
            runs.setdefault((r["impl"], r["bench"], int(r["n"])), []).append(r)
plan = []
with open(plan_path) as f:
    for line in f:
        bench, cn, pyn = line.rstrip("\n").split("\t")
        plan.append((bench, int(cn), None if pyn == "-" else int(pyn)))


def median(rows, key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return statistics.median(vals) if vals else None


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
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def ratio(py, c):
    if py is None or c is None or c == 0:
        return "-"
    q = py / c
    if abs(q) >= 100:
        return "%.0f" % q
    if abs(q) >= 10:
        return "%.1f" % q
    if abs(q) >= 0.1:
        return "%.2f" % q
    return "%.2g" % q


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception:
        return ""


here = os.environ.get("BENCH_HERE", ".")
os_name = sh(". /etc/os-release 2>/dev/null && echo $PRETTY_NAME") or platform.system()
print()
print("asyncio.h benchmarks, %s UTC, %s" % (sh("date -u '+%Y-%m-%d %H:%M'"),
      "BENCH_QUICK=1" if os.environ.get("BENCH_QUICK_EFFECTIVE") == "1" else "full run"))
print("machine: %s, kernel %s, %d cores, %s" % (os_name, platform.release(), os.cpu_count() or 0,
      sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or "?"))
head = sh("cd '%s/..' && git log -1 --format='%%h %%cd' --date=iso -- asyncio.h 2>/dev/null" % here)
dirty = sh("cd '%s/..' && git status --porcelain -- asyncio.h 2>/dev/null" % here)
print("asyncio.h: %s%s; cc: %s" % (head or "not in git", " (modified)" if dirty else "",
      sh("cc --version | head -1")))
print("python: %s (%s)" % (sh("'%s' --version 2>&1" % os.environ.get("BENCH_PY", "python3")),
      sh("command -v '%s'" % os.environ.get("BENCH_PY", "python3"))))
print("total bench time: %s s" % os.environ.get("BENCH_ELAPSED", "?"))
print()
print("Medians over the runs (runs: C/Python).  Python/C > 1 means C is better for")
print("times, CPU and memory; for tasks_per_sec, Python/C < 1 means C is faster.")
print()
W = "%-17s %-19s %5s %12s %12s %9s"
print(W % ("workload", "metric", "runs", "C", "Python", "Python/C"))
print("-" * 78)
metrics = {
    "gather": ["wall_ms", "over_ms", "cpu_ns_per_task", "rss_bytes_per_task"],
    "spawn": ["wall_ms", "tasks_per_sec", "cpu_ns_per_task", "rss_bytes_per_task"],
    "switch": ["wall_ms", "ns_per_switch", "cpu_ns_per_switch"],
}
cmed = {}
for bench, cn, pyn in plan:
    c_rows = runs.get(("c", bench, cn), [])
    p_rows = runs.get(("python", bench, pyn), []) if pyn is not None else []
    label = "%s n=%d" % (bench, cn)
    note = None
    if pyn is None:
        note = "  (Python skipped at n=%d with BENCH_QUICK=1)" % cn
    elif pyn != cn:
        note = "  (Python at n=%d: compare per-task/per-switch figures, not wall_ms)" % pyn
    for i, m in enumerate(metrics[bench]):
        c = median(c_rows, m)
        p = median(p_rows, m)
        cmed[(bench, cn, m)] = c
        same_n = pyn == cn
        r = ratio(p, c) if (same_n or m != "wall_ms") and m != "over_ms" else "-"
        print(W % (label if i == 0 else "", m, "%d/%d" % (len(c_rows), len(p_rows)) if i == 0 else "",
                   fmt(c), fmt(p) if (same_n or m != "wall_ms") else "(n=%d)" % pyn if pyn else "-", r))
    if not c_rows:
        print("%-17s   C runs FAILED" % "")
    if note:
        print(note)

# gather n=10: the spread of wall - MAX over the C runs
g10 = [r["over_ms"] for r in runs.get(("c", "gather", 10), [])]

print()
print("Targets (from the issue), against the C medians:")


def target(desc, value, ok, shown=None):
    state = "-" if value is None else ("met" if ok else "MISSED")
    print("  %-44s %-24s %s" % (desc, shown if shown is not None else fmt(value), state))


v = cmed.get(("gather", 1000000, "cpu_ns_per_task"))
target("gather n=1e6  cpu_ns_per_task    <= 150", v, v is not None and v <= 150)
v = cmed.get(("gather", 1000000, "rss_bytes_per_task"))
target("gather n=1e6  rss_bytes_per_task <= 96", v, v is not None and v <= 96)
if g10:
    med = statistics.median(g10)
    target("gather n=10   over_ms in [0, 0.2], never < 0", med, 0 <= min(g10) and med <= 0.2,
           "%.3f (min %.3f, max %.3f)" % (med, min(g10), max(g10)))
else:
    target("gather n=10   over_ms in [0, 0.2], never < 0", None, False)
v = cmed.get(("spawn", 1000000, "tasks_per_sec"))
target("spawn  n=1e6  tasks_per_sec      >= 20M", v, v is not None and v >= 20e6)
v = cmed.get(("switch", 1000000, "ns_per_switch"))
target("switch n=1e6  ns_per_switch      <= 25", v, v is not None and v <= 25)

if hf_paths:
    print()
    print("hyperfine: whole-process wall time (start-up and exit included), 5 runs after 1 warm-up")
    HW = "%-22s %16s %16s %9s"
    print(HW % ("workload", "C mean+-sd ms", "Python mean+-sd", "Python/C"))
    print("-" * 66)
    for path in hf_paths:
        try:
            with open(path) as f:
                res = json.load(f)["results"]
        except Exception as e:
            print("%s: unreadable (%s)" % (path, e))
            continue
        byimpl = {r["command"].split()[0]: r for r in res}
        c, p = byimpl.get("c"), byimpl.get("python")
        name = " ".join(res[0]["command"].split()[1:]) if res else path
        cell = lambda r: "%.2f +- %.2f" % (r["mean"] * 1e3, (r.get("stddev") or 0) * 1e3) if r else "-"
        print(HW % (name, cell(c), cell(p), ratio(p and p["mean"], c and c["mean"])))
EOF
status=${PIPESTATUS[0]}
[ "$status" = 0 ] || failed=1
if [ $failed != 0 ]; then
    echo "run.sh: some benchmark runs FAILED (see above)" >&2
    exit 1
fi
