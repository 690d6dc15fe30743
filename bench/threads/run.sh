#!/usr/bin/env bash
# bench/threads/run.sh BUILD_DIR -- the thread benchmarks: asyncio.h against
# libuv and Python asyncio, side by side (see bench/threads/README.md).
#
# BUILD_DIR holds the compiled C programs (make bench-threads builds them into
# build/bench-threads): to_thread, threadsafe, lag and, when libuv's headers
# were there, to_thread_uv, threadsafe_uv, lag_uv.  Nothing is built here.
# The HTTP part runs THREADS_EXAMPLES/http_server (build/examples; make
# examples) under wrk.  Every program checks its own results and exits 1 if
# one is wrong; so does this script, after the table, if any run failed.
# Missing competitors (the libuv programs, wrk, http_server) are skipped with
# a note.
#
# Every measurement runs THREADS_RUNS times (default 3), the implementations
# interleaved (run 1 of each, then run 2 of each, ...) so that a burst of
# load from elsewhere hits all of them alike; the table shows medians.
#
# Writes BUILD_DIR/results.jsonl (one line per run, tagged with "run" and
# "config") and BUILD_DIR/summary.txt (the table); wrk outputs and server
# logs go to BUILD_DIR/logs/.
#
# Environment:
#   THREADS_RUNS=3           runs of every measurement
#   PYTHON=python3           the interpreter of the Python versions
#   THREADS_ONLY="to_thread threadsafe lag http"   a subset of the sections
#   THREADS_WRK_SECONDS=5    duration of each wrk run (after a 1 s warm-up)
#   THREADS_EXAMPLES=DIR     where http_server is (default: build/examples)
set -u

BUILD=${1:?usage: bench/threads/run.sh BUILD_DIR}
BUILD=${BUILD%/}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
RUNS=${THREADS_RUNS:-3}
ONLY=${THREADS_ONLY:-to_thread threadsafe lag http}
WRK_SECS=${THREADS_WRK_SECONDS:-5}
EXAMPLES=${THREADS_EXAMPLES:-$ROOT/build/examples}

# sizes: the C programs do the brief's full counts; Python, 10-100x slower,
# fewer (its rates and latencies are per job / per call, so they compare)
LAT_N=20000      # to_thread latency: timed round trips (all three)
TP_N=1000000     # to_thread throughput: jobs (C, libuv)
PY_TP_N=50000    #   Python
INFLIGHT=1000
TS_N=1000000     # call_soon_threadsafe: callbacks per producer (C, libuv)
PY_TS_N=100000   #   Python
LAG_S=3          # loop lag: seconds of CPU jobs
LAG_IDLE_S=1     #   the idle baseline's seconds
LAG_JOBS=4

for b in to_thread threadsafe lag; do
    if [ ! -x "$BUILD/$b" ]; then
        echo "run.sh: $BUILD/$b is missing (run: make bench-threads)" >&2
        exit 2
    fi
done
if ! command -v "$PY" >/dev/null || ! command -v python3 >/dev/null; then
    echo "run.sh: $PY and python3 are needed (the Python side, the table)" >&2
    exit 2
fi

mkdir -p "$BUILD/logs"
RESULTS=$BUILD/results.jsonl
NOTES=$BUILD/notes.txt
: >"$RESULTS"
: >"$NOTES"
failed=0
T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# asyncio.h as the run starts (others may commit meanwhile): its last commit,
# whether the working tree differs, and a hash of the file itself
HDR_STATE="$(cd "$ROOT" && git log -1 --format='%h %ci' -- asyncio.h 2>/dev/null)"
[ -n "$(cd "$ROOT" && git status --porcelain -- asyncio.h 2>/dev/null)" ] && HDR_STATE="$HDR_STATE + uncommitted changes"
HDR_STATE="$HDR_STATE, sha256 $(sha256sum "$ROOT/asyncio.h" | cut -c1-12)"
for b in to_thread threadsafe lag; do
    [ "$ROOT/asyncio.h" -nt "$BUILD/$b" ] && HDR_STATE="$HDR_STATE (NOTE: asyncio.h is newer than $BUILD/$b)" && break
done

machine_busy_ticks() { # busy ticks of all CPUs (user nice system irq softirq steal)
    local l
    read -r l </proc/stat
    # shellcheck disable=SC2086
    set -- $l
    echo $(($2 + $3 + $4 + $7 + $8 + $9))
}
TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)
NCPU=$(nproc)

# children_cpu VAR: VAR = the CPU time (s) of this script's finished
# children, from bash's `times` (run in this shell: a subshell's own
# `times` would not see them)
children_cpu() {
    times >"$BUILD/logs/times.txt"
    printf -v "$1" '%s' "$(tail -1 "$BUILD/logs/times.txt" | awk '{ t = 0
        for (i = 1; i <= NF; i++) if (match($i, /^[0-9]+m[0-9.]+s$/)) {
            m = substr($i, 1, index($i, "m") - 1); x = substr($i, index($i, "m") + 1); sub(/s$/, "", x); t += m * 60 + x }
        printf "%.2f", t }')"
}
BUSY0=$(machine_busy_ticks)
children_cpu CHILD0

note() {
    echo "$*" >>"$NOTES"
    echo "  $*" >&2
}
wanted() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

HAVE_UV=1
for b in to_thread_uv threadsafe_uv lag_uv; do
    [ -x "$BUILD/$b" ] || HAVE_UV=0
done
[ $HAVE_UV = 1 ] || note "skipped: every libuv run ($BUILD/*_uv not built: no <uv.h>; apt-get install libuv1-dev)"

# one CONFIG RUN ENV... -- CMD...: run CMD once with the environment
# assignments before --, check it, tag its JSON line and store it.
one() {
    local config=$1 run=$2 out rc
    shift 2
    local envs=()
    while [ "$1" != -- ]; do
        envs+=("$1")
        shift
    done
    shift
    out=$(env "${envs[@]}" "$@" 2>"$BUILD/logs/last-stderr.txt")
    rc=$?
    if [ $rc != 0 ] || [ "${out:0:1}" != "{" ]; then
        note "FAILED (exit status $rc): ${envs[*]} $* -- $(head -c 300 "$BUILD/logs/last-stderr.txt" | tr '\n' ' ')"
        failed=1
        return 1
    fi
    printf '{"run":%d,"config":"%s",%s\n' "$run" "$config" "${out#\{}" >>"$RESULTS"
}

# ---- (a) to_thread --------------------------------------------------------
# configs: default pools (asyncio.h 6 threads on demand, libuv 4, Python 6);
# every pool at 4 threads; at 4 threads with the process on one core
# (taskset -c 0); at 4 threads with the loop on core 0 and the pool on core 1.
to_thread_config() { # CONFIG RUN
    local config=$1 run=$2 pool=0 uvpool=4 pin=() place=()
    case $config in
    default) ;;
    pool4) pool=4 ;;
    pool4-same) pool=4; pin=(taskset -c 0) ;;
    pool4-split) pool=4; place=(THREADS_PLACEMENT=split) ;;
    esac
    one "$config" "$run" "${place[@]}" -- "${pin[@]}" "$BUILD/to_thread" latency $LAT_N $pool
    [ $HAVE_UV = 1 ] && one "$config" "$run" "${place[@]}" UV_THREADPOOL_SIZE=$uvpool -- "${pin[@]}" "$BUILD/to_thread_uv" latency $LAT_N
    one "$config" "$run" "${place[@]}" -- "${pin[@]}" "$PY" "$HERE/to_thread.py" latency $LAT_N $pool
    case $config in
    default | pool4)
        one "$config" "$run" -- "$BUILD/to_thread" throughput $TP_N $INFLIGHT $pool
        [ $HAVE_UV = 1 ] && one "$config" "$run" UV_THREADPOOL_SIZE=$uvpool -- "$BUILD/to_thread_uv" throughput $TP_N $INFLIGHT
        one "$config" "$run" -- "$PY" "$HERE/to_thread.py" throughput $PY_TP_N $INFLIGHT $pool
        ;;
    esac
}
if wanted to_thread; then
    echo "to_thread: latency (n=$LAT_N), throughput ($INFLIGHT in flight; n=$TP_N, Python $PY_TP_N), x$RUNS" >&2
    for ((r = 1; r <= RUNS; r++)); do
        for c in default pool4 pool4-same pool4-split; do
            printf '  run %d %-12s ...' "$r" "$c" >&2
            to_thread_config "$c" "$r"
            echo " done" >&2
        done
    done
fi

# ---- (b) call_soon_threadsafe -----------------------------------------------
if wanted threadsafe; then
    echo "call_soon_threadsafe: 1, 2, 4 producers x $TS_N callbacks (Python $PY_TS_N), x$RUNS" >&2
    for ((r = 1; r <= RUNS; r++)); do
        for p in 1 2 4; do
            printf '  run %d producers=%d ...' "$r" "$p" >&2
            one producers "$r" -- "$BUILD/threadsafe" $p $TS_N caller
            one producers "$r" -- "$BUILD/threadsafe" $p $TS_N library
            [ $HAVE_UV = 1 ] && one producers "$r" -- "$BUILD/threadsafe_uv" $p $TS_N
            one producers "$r" -- "$PY" "$HERE/threadsafe.py" $p $PY_TS_N
            echo " done" >&2
        done
    done
fi

# ---- (c) loop lag --------------------------------------------------------------
if wanted lag; then
    echo "loop lag: 1 ms ticker, idle ${LAG_IDLE_S} s and with $LAG_JOBS CPU jobs for ${LAG_S} s, x$RUNS" >&2
    for ((r = 1; r <= RUNS; r++)); do
        printf '  run %d ...' "$r" >&2
        one idle "$r" -- "$BUILD/lag" $LAG_IDLE_S 0
        [ $HAVE_UV = 1 ] && one idle "$r" -- "$BUILD/lag_uv" $LAG_IDLE_S 0
        one idle "$r" -- "$PY" "$HERE/lag.py" $LAG_IDLE_S 0
        one cpu-jobs "$r" -- "$BUILD/lag" $LAG_S $LAG_JOBS
        [ $HAVE_UV = 1 ] && one cpu-jobs "$r" -- "$BUILD/lag_uv" $LAG_S $LAG_JOBS
        one cpu-jobs "$r" -- "$PY" "$HERE/lag.py" $LAG_S $LAG_JOBS 0 python
        one cpu-jobs "$r" -- "$PY" "$HERE/lag.py" $LAG_S $LAG_JOBS 0 hashlib
        echo " done" >&2
    done
fi

# ---- (d) http_server -j 1 / -j 2 under wrk ------------------------------------
SERVER_PIDS=()
kill_wait() { # PID: SIGTERM, up to 3 s, then SIGKILL
    local pid=$1 i
    kill "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    for ((i = 0; i < 60; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 1
}
cleanup() {
    local p
    for p in "${SERVER_PIDS[@]}"; do kill_wait "$p"; done
    SERVER_PIDS=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# start_server NAME PIN... -- ARGS...: http_server ARGS 0 (port 0: the
# server picks one and prints it); sets SPID and SPORT.
start_server() {
    local name=$1 log i
    shift
    local pin=()
    while [ "$1" != -- ]; do
        pin+=("$1")
        shift
    done
    shift
    log=$BUILD/logs/http-$name.log
    "${pin[@]}" "$EXAMPLES/http_server" "$@" 0 >"$log" 2>&1 &
    SPID=$!
    SERVER_PIDS+=("$SPID")
    for ((i = 0; i < 200; i++)); do
        SPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
        [ -n "$SPORT" ] && return 0
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.05
    done
    note "FAILED: http_server $* did not start (see $log)"
    failed=1
    return 1
}

proc_cpu_ticks() { # PID: utime + stime of every thread, clock ticks
    local st
    st=$(<"/proc/$1/stat") || { echo 0; return; }
    st=${st##*) }
    # shellcheck disable=SC2086
    set -- $st
    echo $((${12} + ${13}))
}

# http_run CONFIG RUN PID PORT WRKPIN...: one wrk run; the server's CPU from
# /proc/PID/stat, wrk's from the shell's `times` (children's user and sys),
# the whole machine's from /proc/stat.
http_run() {
    local config=$1 run=$2 pid=$3 port=$4 out json s0 s1 m0 m1 w0 w1 wrkcpu log
    shift 4
    log=$BUILD/logs/wrk-$config-$run.txt
    s0=$(proc_cpu_ticks "$pid")
    m0=$(machine_busy_ticks)
    w0=$(date +%s%N)
    # times prints the subshell's own and its children's user/sys times
    out=$( (timeout $((WRK_SECS + 30)) "$@" wrk -t2 -c100 -d"${WRK_SECS}s" --latency "http://127.0.0.1:$port/"; times) 2>&1)
    w1=$(date +%s%N)
    m1=$(machine_busy_ticks)
    s1=$(proc_cpu_ticks "$pid")
    printf '%s\n' "$out" >"$log"
    wrkcpu=$(tail -1 <<<"$out" | awk '{ n = split($0, a, /[ \t]+/); t = 0
        for (i = 1; i <= n; i++) if (match(a[i], /^([0-9]+)m([0-9.]+)s$/)) {
            m = substr(a[i], 1, index(a[i], "m") - 1); s = substr(a[i], index(a[i], "m") + 1); sub(/s$/, "", s); t += m * 60 + s }
        printf "%.3f", t }')
    json=$(python3 "$ROOT/bench/net/report.py" wrk <<<"$out")
    if [ "${json:0:1}" != "{" ]; then
        note "FAILED: http $config run $run: no wrk result (see $log)"
        failed=1
        return
    fi
    if ! grep -qE '"errors":0[,}]' <<<"$json"; then
        note "FAILED: http $config run $run: $(grep -o '"errors":[0-9]*' <<<"$json") (socket errors or non-2xx, see $log)"
        failed=1
    fi
    if grep -qE '"requests":0[,}]' <<<"$json"; then
        note "FAILED: http $config run $run: no request completed (see $log)"
        failed=1
    fi
    json=${json#\{}
    json=${json%\}}
    awk -v wall=$((w1 - w0)) -v s=$((s1 - s0)) -v m=$((m1 - m0)) -v w="$wrkcpu" -v tick="$TICK" -v ncpu="$NCPU" \
        -v cfg="$config" -v run="$run" -v rest="$json" 'BEGIN {
        wall_s = wall / 1e9; srv = s / tick; mach = m / tick
        printf "{\"run\":%d,\"config\":\"%s\",\"bench\":\"http\",\"impl\":\"asyncio.h\",%s,", run, cfg, rest
        printf "\"wall_s\":%.3f,\"server_cpu_pct\":%.1f,\"wrk_cpu_pct\":%.1f,", wall_s, 100 * srv / wall_s, 100 * w / wall_s
        printf "\"machine_busy_pct\":%.1f,\"other_cpu_pct\":%.1f,\"ncpu\":%d}\n", 100 * mach / wall_s,
            100 * (mach - srv - w) / wall_s, ncpu
    }' >>"$RESULTS"
}

if wanted http; then
    if ! command -v wrk >/dev/null; then
        note "skipped: http (wrk not installed: apt-get install wrk)"
    elif [ ! -x "$EXAMPLES/http_server" ]; then
        note "skipped: http ($EXAMPLES/http_server not built: make examples)"
    else
        echo "http_server -j 1 / -j 2: wrk -t2 -c100 -d${WRK_SECS}s, unpinned; -j 1 pinned to core 1 with wrk on core 0, x$RUNS" >&2
        ok=1
        start_server j1 -- -j 1 && P1=$SPID && PORT1=$SPORT || ok=0
        start_server j2 -- -j 2 && P2=$SPID && PORT2=$SPORT || ok=0
        start_server j1-pinned taskset -c 1 -- -j 1 && P3=$SPID && PORT3=$SPORT || ok=0
        if [ $ok = 1 ]; then
            for port in $PORT1 $PORT2 $PORT3; do # warm-up, not recorded
                timeout 30 wrk -t2 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1
            done
            for ((r = 1; r <= RUNS; r++)); do
                printf '  run %d ...' "$r" >&2
                http_run j1 "$r" "$P1" "$PORT1"
                http_run j2 "$r" "$P2" "$PORT2"
                http_run j1-pinned "$r" "$P3" "$PORT3" taskset -c 0
                echo " done" >&2
            done
        fi
        cleanup
    fi
fi

ELAPSED=$(($(date +%s) - T0))
# what the rest of the machine did meanwhile: all cores' busy time minus the
# CPU time of everything this script ran
children_cpu CHILD1
OTHER_PCT=$(awk -v b=$(($(machine_busy_ticks) - BUSY0)) -v tick="$TICK" -v c0="$CHILD0" -v c1="$CHILD1" \
    -v e="$ELAPSED" 'BEGIN { if (e > 0) printf "%.0f", 100 * (b / tick - (c1 - c0)) / e; else print 0 }')
THREADS_HDR="$HDR_STATE" THREADS_ELAPSED=$ELAPSED THREADS_OTHER_PCT=$OTHER_PCT THREADS_RUNS=$RUNS THREADS_PY=$PY THREADS_ROOT=$ROOT THREADS_LOAD0=$LOAD0 \
    THREADS_LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)" THREADS_WRK_SECONDS=$WRK_SECS \
    python3 "$HERE/report.py" "$RESULTS" "$NOTES" | tee "$BUILD/summary.txt"
[ "${PIPESTATUS[0]}" = 0 ] || failed=1
if [ $failed != 0 ]; then
    echo "bench/threads/run.sh: some runs FAILED (see above)" >&2
    exit 1
fi
