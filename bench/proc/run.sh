#!/usr/bin/env bash
# bench/proc/run.sh BUILD_DIR -- the subprocess, pipe and file benchmarks:
# asyncio.h against libuv, Python asyncio and plain blocking loops, side by
# side (see bench/proc/README.md).
#
# BUILD_DIR holds the compiled C programs (make bench-proc builds them into
# build/bench-proc): spawn, pipe, copy, pipe_floor, copy_floor and, when
# libuv's headers were there, spawn_uv, pipe_uv, copy_uv.  Nothing is built
# here.  Every program checks its own results and exits 1 if one is wrong;
# so does this script, after the table, if any run failed.  The libuv
# programs, when missing, are skipped with a note.
#
# The pipe benchmark runs at two pipe sizes (PIPE_SIZES: the kernel's
# default and 1 MiB, Python's pipesize), each against the floor over pipes
# of the same size; libuv, which cannot set it, at the default only.
#
# Every measurement runs PROC_RUNS times (default 3), the implementations
# interleaved (run 1 of each, then run 2 of each, ...) so that a burst of
# load from elsewhere hits all of them alike; the table shows medians.
#
# The copy needs two 1 GiB files: they go to a directory of their own under
# ${TMPDIR:-/tmp}, deleted when the script ends (also on an error or ^C).
#
# Writes BUILD_DIR/results.jsonl (one line per run, tagged with "run" and
# "config") and BUILD_DIR/summary.txt (the table); stderr of the last
# program and the notes go to BUILD_DIR/logs/.
#
# Environment:
#   PROC_RUNS=3              runs of every measurement
#   PYTHON=python3           the interpreter of the Python versions
#   PROC_ONLY="spawn pipe copy"   a subset of the sections
#   PROC_SIZE=1g             bytes through cat and bytes copied
set -u

BUILD=${1:?usage: bench/proc/run.sh BUILD_DIR}
BUILD=${BUILD%/}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-python3}
RUNS=${PROC_RUNS:-3}
ONLY=${PROC_ONLY:-spawn pipe copy}
SIZE=${PROC_SIZE:-1g}

# sizes: the same for every implementation
SPAWN_N1=1000        # spawn-and-wait, one at a time: processes
SPAWN_N16=2000       #   16 in flight
PIPE_CHUNK=256k      # pipe: bytes per write and per read request
PIPE_SIZES="0 1m"    # pipe: the kernel buffer of the pipes to cat, each a block of
                     # its own (0: the kernel's default, 64 KiB; 1m: pipesize 1 MiB,
                     # asyncio.h's pipe_size, F_SETPIPE_SZ; libuv at 0 only)
COPY_CHUNKS="128k 1m"
COPY_INFLIGHT=4

for b in spawn pipe copy pipe_floor copy_floor; do
    if [ ! -x "$BUILD/$b" ]; then
        echo "run.sh: $BUILD/$b is missing (run: make bench-proc)" >&2
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
for b in spawn pipe copy; do
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
for b in spawn_uv pipe_uv copy_uv; do
    [ -x "$BUILD/$b" ] || HAVE_UV=0
done
[ $HAVE_UV = 1 ] || note "skipped: every libuv run ($BUILD/*_uv not built: no <uv.h>; apt-get install libuv1-dev)"

# the copy's files: a directory of our own, removed whatever happens
WORK=
cleanup() {
    [ -n "$WORK" ] && rm -rf "$WORK"
    WORK=
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

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

# ---- (a) spawn-and-wait /bin/true -------------------------------------------
if wanted spawn; then
    echo "spawn-and-wait /bin/true: $SPAWN_N1 one at a time, $SPAWN_N16 with 16 in flight, x$RUNS" >&2
    for ((r = 1; r <= RUNS; r++)); do
        printf '  run %d ...' "$r" >&2
        one inflight1 "$r" -- "$BUILD/spawn" $SPAWN_N1 1
        [ $HAVE_UV = 1 ] && one inflight1 "$r" -- "$BUILD/spawn_uv" $SPAWN_N1 1
        one inflight1 "$r" -- "$PY" "$HERE/spawn.py" $SPAWN_N1 1
        one inflight16 "$r" -- "$BUILD/spawn" $SPAWN_N16 16
        [ $HAVE_UV = 1 ] && one inflight16 "$r" -- "$BUILD/spawn_uv" $SPAWN_N16 16
        one inflight16 "$r" -- "$PY" "$HERE/spawn.py" $SPAWN_N16 16
        echo " done" >&2
    done
fi

# ---- (b) SIZE through cat, at each pipe size --------------------------------------
if wanted pipe; then
    sizes=
    for ps in $PIPE_SIZES; do
        # a pipe size the system refuses (F_SETPIPE_SZ above fs.pipe-max-size
        # without CAP_SYS_RESOURCE, or not Linux) is skipped, not failed
        if [ "$ps" != 0 ] && ! "$BUILD/pipe_floor" 1m $PIPE_CHUNK "$ps" >/dev/null 2>"$BUILD/logs/last-stderr.txt"; then
            note "skipped: pipe with pipesize $ps ($(head -c 200 "$BUILD/logs/last-stderr.txt" | tr '\n' ' '))"
            continue
        fi
        sizes="$sizes $ps"
    done
    # Python's pipesize argument came in 3.10
    py_pipesize=$("$PY" -c 'import sys; print(int(sys.version_info >= (3, 10)))' 2>/dev/null || echo 0)
    [ "$py_pipesize" = 1 ] || [ "$sizes" = " 0" ] ||
        note "skipped: Python's pipe runs at pipe sizes other than 0 ($PY is older than 3.10: no pipesize)"
    echo "pipe: $SIZE through cat, $PIPE_CHUNK writes and reads, pipe sizes$sizes (0: the kernel's), x$RUNS" >&2
    for ((r = 1; r <= RUNS; r++)); do
        printf '  run %d ...' "$r" >&2
        for ps in $sizes; do
            cfg=pipesize-$ps
            [ "$ps" = 0 ] && cfg=pipesize-default
            one "$cfg" "$r" -- "$BUILD/pipe" "$SIZE" $PIPE_CHUNK "$ps"
            one "$cfg" "$r" -- "$BUILD/pipe_floor" "$SIZE" $PIPE_CHUNK "$ps"
            [ $HAVE_UV = 1 ] && [ "$ps" = 0 ] && one "$cfg" "$r" -- "$BUILD/pipe_uv" "$SIZE" $PIPE_CHUNK socketpair
            { [ "$ps" = 0 ] || [ "$py_pipesize" = 1 ]; } && one "$cfg" "$r" -- "$PY" "$HERE/pipe.py" "$SIZE" $PIPE_CHUNK "$ps"
            # libuv has no pipe size option: its real-pipe run is at the default only
            [ $HAVE_UV = 1 ] && [ "$ps" = 0 ] && one "$cfg" "$r" -- "$BUILD/pipe_uv" "$SIZE" $PIPE_CHUNK pipe
        done
        echo " done" >&2
    done
fi

# ---- (c) SIZE file copy ------------------------------------------------------------
if wanted copy; then
    TMP=${TMPDIR:-/tmp}
    size_bytes=$(python3 -c "import sys; s = sys.argv[1].lower(); m = {'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}
print(int(s[:-1]) * m[s[-1]] if s[-1] in m else int(s))" "$SIZE")
    need_kb=$((size_bytes * 2 / 1024 + 65536)) # the source, the destination, 64 MiB to spare
    free_kb=$(df -Pk "$TMP" | awk 'NR == 2 { print $4 }')
    if [ "${free_kb:-0}" -lt "$need_kb" ]; then
        note "skipped: copy (needs $((need_kb / 1024)) MiB free in $TMP, has $((${free_kb:-0} / 1024)); set TMPDIR)"
    else
        WORK=$(mktemp -d "$TMP/asyncio-bench-proc.XXXXXX")
        SRC=$WORK/src
        DST=$WORK/dst
        echo "copy: $SIZE in $WORK, chunks $COPY_CHUNKS; $COPY_INFLIGHT and 1 in flight, x$RUNS" >&2
        if ! "$BUILD/copy_floor" make "$SRC" "$SIZE" 2>"$BUILD/logs/last-stderr.txt"; then
            note "FAILED: copy_floor make $SRC $SIZE -- $(head -c 300 "$BUILD/logs/last-stderr.txt")"
            failed=1
        else
            for ((r = 1; r <= RUNS; r++)); do
                printf '  run %d ...' "$r" >&2
                for c in $COPY_CHUNKS; do
                    one "chunk-$c" "$r" -- "$BUILD/copy" "$SRC" "$DST" $COPY_INFLIGHT "$c"
                    one "chunk-$c" "$r" -- "$BUILD/copy_floor" "$SRC" "$DST" "$c"
                    [ $HAVE_UV = 1 ] && one "chunk-$c" "$r" -- "$BUILD/copy_uv" "$SRC" "$DST" $COPY_INFLIGHT "$c"
                    one "chunk-$c" "$r" -- "$PY" "$HERE/copy.py" "$SRC" "$DST" $COPY_INFLIGHT "$c"
                    one "chunk-$c" "$r" -- "$BUILD/copy" "$SRC" "$DST" 1 "$c"
                    one "chunk-$c" "$r" -- "$BUILD/copy" "$SRC" "$DST" 0 "$c"
                    [ $HAVE_UV = 1 ] && one "chunk-$c" "$r" -- "$BUILD/copy_uv" "$SRC" "$DST" 1 "$c"
                done
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
PROC_HDR="$HDR_STATE" PROC_ELAPSED=$ELAPSED PROC_OTHER_PCT=$OTHER_PCT PROC_RUNS=$RUNS PROC_PY=$PY PROC_ROOT=$ROOT \
    PROC_LOAD0=$LOAD0 PROC_LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)" PROC_SIZE=$SIZE \
    python3 "$HERE/report.py" "$RESULTS" "$NOTES" | tee "$BUILD/summary.txt"
[ "${PIPESTATUS[0]}" = 0 ] || failed=1
if [ $failed != 0 ]; then
    echo "bench/proc/run.sh: some runs FAILED (see above)" >&2
    exit 1
fi
