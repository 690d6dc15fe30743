#!/usr/bin/env bash
# bench/gather_sweep.sh BUILD_DIR -- gather N sleeping tasks for N = 10 .. 1e6.
#
# The design card's central benchmark: N tasks, task i sleeps
# (i % 10 + 1) * 10 ms, so the longest sleep is MAX = 100 ms and the ideal
# wall time of the gather is MAX whatever N is.  Runs BUILD_DIR/gather N
# (bench/gather.c; make charts builds it) for every N, several times, and
# Python's bench/gather.py for the N up to SWEEP_PY_MAX.  The runs are
# interleaved (run 1 of every N, then run 2, ...) so that a burst of load
# from elsewhere does not land on one N only.
#
# Writes BUILD_DIR/gather-sweep.jsonl: one line per run, gather's own JSON
# tagged with "impl" ("c" or "python"), "run", "loadavg" (the 1-minute
# load average from /proc/loadavg just before the run: how busy the machine
# was) and "asyncio_h" (the header's last commit, "+" if the file has
# uncommitted changes).  Prints the medians.  Exits 1 if a run failed (a wrong result).
#
# Environment:
#   SWEEP_N="10 100 1000 10000 100000 1000000"   the N of the sweep
#   SWEEP_RUNS=5        C runs per N (the chart shows medians)
#   SWEEP_PY_RUNS=3     Python runs per N
#   SWEEP_PY_MAX=100000 largest N run in Python (0: no Python; 1e6 takes
#                       ~30 s and ~1.8 GB per run there)
#   PYTHON=python3      the interpreter, as in bench/run.sh
set -u

BUILD=${1:?usage: bench/gather_sweep.sh BUILD_DIR}
BUILD=${BUILD%/}
HERE=$(cd "$(dirname "$0")" && pwd)
NS=${SWEEP_N:-10 100 1000 10000 100000 1000000}
RUNS=${SWEEP_RUNS:-5}
PY_RUNS=${SWEEP_PY_RUNS:-3}
PY_MAX=${SWEEP_PY_MAX:-100000}
PY=${PYTHON:-python3}

if [ ! -x "$BUILD/gather" ]; then
    echo "gather_sweep.sh: $BUILD/gather is missing (make $BUILD/gather)" >&2
    exit 2
fi
if [ "$PY_MAX" != 0 ] && ! command -v "$PY" >/dev/null; then
    echo "gather_sweep.sh: $PY not found: the Python runs are skipped" >&2
    PY_MAX=0
fi

OUT=$BUILD/gather-sweep.jsonl
TMP=$OUT.tmp
: >"$TMP"
failed=0
T0=$(date +%s)
HDR=$(git -C "$HERE/.." log -1 --format=%h -- asyncio.h 2>/dev/null)
[ -n "$(git -C "$HERE/.." status --porcelain -- asyncio.h 2>/dev/null)" ] && HDR="$HDR+"
maxruns=$((RUNS > PY_RUNS ? RUNS : PY_RUNS))
[ "$PY_MAX" = 0 ] && maxruns=$RUNS

# one IMPL N RUN CMD...: one run, its JSON line tagged and appended
one() {
    local impl=$1 n=$2 run=$3 out rc load
    shift 3
    read -r load _ </proc/loadavg
    out=$("$@")
    rc=$?
    if [ $rc != 0 ] || [ "${out:0:1}" != "{" ]; then
        echo "  FAILED (exit status $rc): $*" >&2
        failed=1
        return
    fi
    printf '{"impl":"%s","run":%d,"loadavg":%s,"asyncio_h":"%s",%s\n' "$impl" "$run" "$load" "${HDR:-?}" "${out#\{}" >>"$TMP"
}

echo "gather sweep: N = $NS; C x$RUNS, Python x$PY_RUNS up to N=$PY_MAX (load average now: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
for ((r = 1; r <= maxruns; r++)); do
    printf '  run %d:' "$r" >&2
    for n in $NS; do
        printf ' %s' "$n" >&2
        [ "$r" -le "$RUNS" ] && one c "$n" "$r" "$BUILD/gather" "$n"
        if [ "$r" -le "$PY_RUNS" ] && [ "$n" -le "$PY_MAX" ]; then
            one python "$n" "$r" "$PY" "$HERE/gather.py" "$n"
        fi
    done
    echo >&2
done
mv "$TMP" "$OUT"

python3 - "$OUT" "$(($(date +%s) - T0))" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("gather sweep (%s s): medians; MAX = 100 ms, the ideal wall time" % sys.argv[2])
print("%-8s %9s %9s %9s %9s %12s" % ("impl", "N", "runs", "wall_ms", "over_ms", "cpu_ns/task"))
keys = sorted({(r["impl"], r["n"]) for r in rows})
for impl, n in keys:
    rs = [r for r in rows if r["impl"] == impl and r["n"] == n]
    med = lambda k: statistics.median(r[k] for r in rs)
    print("%-8s %9d %9d %9.1f %9.2f %12.1f" % (impl, n, len(rs), med("wall_ms"), med("over_ms"),
                                             med("cpu_ns_per_task")))
loads = [r["loadavg"] for r in rows]
print("load average during the sweep: %.1f to %.1f" % (min(loads), max(loads)))
EOF
if [ $failed != 0 ]; then
    echo "gather_sweep.sh: some runs FAILED (see above)" >&2
    exit 1
fi
