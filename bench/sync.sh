#!/usr/bin/env bash
# bench/sync.sh BUILD_DIR -- the queue and lock benchmarks (bench/sync.c and
# bench/sync.py), medians of 3 runs each, side by side with the ratio.
set -eu
BUILD=${1:?usage: bench/sync.sh BUILD_DIR}
PY=${PYTHON:-python3}
for i in 1 2 3; do "$BUILD/sync" 10000000; done > "$BUILD/sync-c.jsonl"
for i in 1 2 3; do "$PY" "$(dirname "$0")/sync.py" 300000; done > "$BUILD/sync-py.jsonl"
"$PY" - "$BUILD/sync-c.jsonl" "$BUILD/sync-py.jsonl" <<'PYEOF'
import json, statistics, sys
def load(path):
    rows = {}
    for line in open(path):
        d = json.loads(line)
        key = (d["bench"], d.get("cap"))
        rows.setdefault(key, []).append(d)
    return rows
c, p = load(sys.argv[1]), load(sys.argv[2])
print("queue and lock (medians of 3; C: N=1e7, Python: N=3e5)")
print("%-22s %16s %16s %10s" % ("workload", "asyncio.h", "Python asyncio", "C/Python"))
for cap in (1, 64):
    a = statistics.median(d["items_per_sec"] for d in c[("queue", cap)])
    b = statistics.median(d["items_per_sec"] for d in p[("queue", cap)])
    print("%-22s %14.1fM/s %14.3fM/s %9.0fx" % ("queue cap=%d items/s" % cap, a / 1e6, b / 1e6, a / b))
a = statistics.median(d["ns_per_acquire_release"] for d in c[("lock", None)])
b = statistics.median(d["ns_per_acquire_release"] for d in p[("lock", None)])
print("%-22s %14.2fns %14.1fns %9.0fx" % ("lock acquire+release", a, b, b / a))
n = c[("lock", None)][0]["n"]
print("library allocations during the timed part, for N=%d operations: queue cap=1 %d, cap=64 %d, lock %d"
      % (n, c[("queue", 1)][0]["allocs"], c[("queue", 64)][0]["allocs"], c[("lock", None)][0]["allocs"]))
PYEOF
