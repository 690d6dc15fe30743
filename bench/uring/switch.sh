#!/usr/bin/env bash
# bench/uring/switch.sh BUILD_DIR [--report] -- a task switch through the loop with one
# fd registered: asyncio.h on epoll and on io_uring (bench/switch.c N 1),
# libuv (fdswitch_uv) and the hand-written epoll floor (fdswitch_floor),
# with asyncio.h without an fd beside them for reference.  See
# bench/uring/README.md.
#
# BUILD_DIR holds switch-epoll, switch-uring, fdswitch_floor and, when libuv
# is installed, fdswitch_uv (make bench-uring builds them).  The contenders
# run in rounds, one run of each per round, in an order that rotates from
# round to round, each pinned to core 1: on a shared machine a burst of
# other work then hits every contender alike.  The table shows the median
# of each figure over the rounds with its spread (min-max) and the ratio of
# the medians to the floor's.  When perf can count system calls, one more
# (untimed) run of each counts them per switch: that is how the number of
# backend polls per switch is checked to match.
#
# Writes BUILD_DIR/switch-results.jsonl (every run, tagged with "impl" and
# "round"), switch-syscalls.txt and switch-summary.txt.  Exits 1 if a run
# fails (a wrong count, a waiter that did not wake).  With --report, only
# prints the table again from those files.
#
# Environment: SWITCH_N=1000000 (passes: 2N switches), SWITCH_ROUNDS=7.
set -u
BUILD=${1:?usage: bench/uring/switch.sh BUILD_DIR}
BUILD=${BUILD%/}
N=${SWITCH_N:-1000000}
ROUNDS=${SWITCH_ROUNDS:-7}
RESULTS=$BUILD/switch-results.jsonl
SYSCALLS=$BUILD/switch-syscalls.txt
PIN=()
command -v taskset >/dev/null && PIN=(taskset -c 1)

# name|command: the contenders, in the table's order
CONTENDERS=(
    "asyncio.h epoll|$BUILD/switch-epoll $N 1"
    "asyncio.h io_uring|$BUILD/switch-uring $N 1"
    "floor|$BUILD/fdswitch_floor $N"
    "libuv|$BUILD/fdswitch_uv $N"
    "asyncio.h epoll, no fd|$BUILD/switch-epoll $N 0"
    "asyncio.h io_uring, no fd|$BUILD/switch-uring $N 0"
)
RUN=()
SKIPPED=()
for c in "${CONTENDERS[@]}"; do
    bin=${c#*|}
    bin=${bin%% *}
    if [ -x "$bin" ]; then RUN+=("$c"); else SKIPPED+=("${c%%|*} ($bin not built)"); fi
done

failed=0
[ "${2:-}" = --report ] && ROUNDS=0 && N=$(grep -o '"n":[0-9]*' "$RESULTS" | head -1 | cut -d: -f2)
[ "$ROUNDS" = 0 ] || : >"$RESULTS"
[ "$ROUNDS" = 0 ] || echo "bench/uring: switch with one fd registered, N=$N passes (2N switches), $ROUNDS rounds" >&2
for ((r = 0; r < ROUNDS; r++)); do
    k=${#RUN[@]}
    for ((i = 0; i < k; i++)); do
        c=${RUN[$(((i + r) % k))]}
        name=${c%%|*}
        # shellcheck disable=SC2086 # the command is a word list
        if out=$("${PIN[@]}" ${c#*|}) && [ "${out:0:1}" = "{" ]; then
            printf '{"impl":"%s","round":%d,%s\n' "$name" $((r + 1)) "${out#\{}" >>"$RESULTS"
        else
            echo "  FAILED: $name, round $((r + 1)): ${out:-no output}" >&2
            failed=1
        fi
    done
    echo "  round $((r + 1)) done" >&2
done

# system calls per switch, from one more run of each under perf stat
[ "$ROUNDS" = 0 ] || : >"$SYSCALLS"
if [ "$ROUNDS" = 0 ]; then
    :
elif command -v perf >/dev/null && perf stat -x, -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    for c in "${RUN[@]}"; do
        # shellcheck disable=SC2086
        cnt=$(perf stat -x, -e raw_syscalls:sys_enter ${c#*|} 2>&1 >/dev/null | cut -d, -f1)
        echo "${c%%|*}|$cnt" >>"$SYSCALLS"
    done
fi

SKIPPED_LIST=$(printf '%s\n' "${SKIPPED[@]+"${SKIPPED[@]}"}") N=$N \
    python3 - "$RESULTS" "$SYSCALLS" <<'PY' | tee "$BUILD/switch-summary.txt"
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
calls = dict(l.rstrip("\n").split("|", 1) for l in open(sys.argv[2]) if "|" in l)
n = int(os.environ["N"])
order = []
for r in rows:
    if r["impl"] not in order:
        order.append(r["impl"])
def med(impl, k):
    v = [r[k] for r in rows if r["impl"] == impl]
    return statistics.median(v), min(v), max(v), len(v)
print()
print("switch with one fd registered: 2 switches and 1 backend poll per loop pass, N=%d passes," % n)
print("%d rounds (one run of each per round, order rotating), pinned to core 1;" % max(r["round"] for r in rows))
print("medians with (min-max); x floor = median / the floor's median, same run (wall, CPU)")
print()
W = "%-26s %4s %22s %22s %13s %11s"
print(W % ("contender", "runs", "ns/switch", "CPU ns/switch", "x floor", "syscalls/sw"))
print("-" * 103)
floor = med("floor", "ns_per_switch")[0] if "floor" in order else None
cfloor = med("floor", "cpu_ns_per_switch")[0] if "floor" in order else None
for impl in order:
    m, lo, hi, k = med(impl, "ns_per_switch")
    cm, clo, chi, _ = med(impl, "cpu_ns_per_switch")
    sc = calls.get(impl, "")
    sc = "%.3f" % (int(sc) / (2.0 * n)) if sc.isdigit() else "-"
    print(W % (impl, k, "%.2f (%.2f-%.2f)" % (m, lo, hi), "%.2f (%.2f-%.2f)" % (cm, clo, chi),
               "%.2fx %.2fx" % (m / floor, cm / cfloor) if floor else "-", sc))
print("(syscalls/sw: system calls per switch over a whole extra run, start-up included,")
print("from perf stat -e raw_syscalls:sys_enter; 0.5 = one backend poll per pass)")
print()
print("what the registered fd adds to a switch (median with fd - median without, same run):")
for b in ("epoll", "io_uring"):
    w, wo = "asyncio.h " + b, "asyncio.h %s, no fd" % b
    if w in order and wo in order:
        print("  %-9s %7.2f ns wall, %7.2f ns CPU" % (b, med(w, "ns_per_switch")[0] - med(wo, "ns_per_switch")[0],
              med(w, "cpu_ns_per_switch")[0] - med(wo, "cpu_ns_per_switch")[0]))
if "asyncio.h io_uring" in order:
    m = med("asyncio.h io_uring", "ns_per_switch")[0]
    c = med("asyncio.h io_uring", "cpu_ns_per_switch")[0]
    print()
    print("target (issue 15): a switch through the loop with an fd registered <= 15 ns on io_uring:")
    print("  asyncio.h io_uring %.2f ns wall %s, %.2f ns CPU %s" % (m, "met" if m <= 15 else "MISSED",
          c, "met" if c <= 15 else "MISSED"))
    if "asyncio.h epoll" in order:
        print("  io_uring / epoll: %.3fx wall, %.3fx CPU" % (m / med("asyncio.h epoll", "ns_per_switch")[0],
              c / med("asyncio.h epoll", "cpu_ns_per_switch")[0]))
print("(wall counts the time the run waited for its core too: on a shared machine compare CPU)")
sk = [s for s in os.environ.get("SKIPPED_LIST", "").split("\n") if s]
for s in sk:
    print("skipped: " + s)
PY
[ "${PIPESTATUS[0]}" = 0 ] || failed=1
exit $failed
