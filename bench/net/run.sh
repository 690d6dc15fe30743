#!/usr/bin/env bash
# bench/net/run.sh BUILD_DIR -- network benchmarks: asyncio.h's example servers
# (built for epoll and, when built, for io_uring) against hand-written epoll
# floors, libuv, uvloop, Python asyncio, Node and redis-server.  See
# bench/net/README.md.
#
# BUILD_DIR receives the compiled C programs of bench/net (rebuilt when their
# source is newer), net-results.jsonl (one raw JSON line per load run),
# net-summary.txt (the table) and the servers' logs (net-logs/).
#
# Every server runs pinned to core 1 (taskset -c 1), every load generator to
# core 0, and the server's CPU time (all its threads) is read before and after
# each load run: CPU per message = that difference / messages served.
#
# Competitors that are missing (an asyncio.h example not built yet, libuv
# headers, uvloop, node, wrk, redis) are skipped with a note, never a failure.
# The echo servers also hold NET_IDLE_CONNS idle connections each (idle.c):
# the CPU they spend asleep and the memory per connection.
# Exits 1 if a run that did happen failed (a wrong echo, a lost connection, a
# server that would not start), 2 if the load generator cannot be built.
#
# Environment:
#   NET_SECONDS=3         measured seconds of each echo run (plus 0.5 s warm-up)
#   NET_MSG_BYTES=1024    echo message size
#   NET_CONNS="1 10 100"  connection counts of the echo runs
#   NET_RUNS=1            runs of every measurement; the table shows medians
#   NET_ROUNDS=1          rounds: the echo, idle and HTTP servers are all run
#                         again in each round, their order rotated, so that
#                         other work on a shared machine hits them alike
#                         (medians over NET_ROUNDS x NET_RUNS runs)
#   NET_IDLE_CONNS=10000  idle connections held by each echo server (0: none)
#   NET_WRK_SECONDS=5     wrk duration (after a 1 s warm-up run)
#   NET_REDIS_N=100000    redis-benchmark -n
#   NET_REDIS_TIMEOUT=30  seconds one redis-benchmark run may take
#   NET_EXAMPLES=DIR      where the asyncio.h servers are (default: build/examples)
#   NET_URING_EXAMPLES=DIR  the same built with ASYNCIO_BACKEND_URING=1, run as
#                         "asyncio.h-uring" (default: build/examples-uring)
#   NET_PYTHON=...        interpreter for the asyncio/uvloop servers (default:
#                         /usr/bin/python3 when it has uvloop, else python3)
#   NET_PARTS="echo idle http redis"  the measurements to make (default: all)
#   NET_ONLY="a b"        run only these servers (names as in the table:
#                         asyncio.h asyncio.h-uring epoll libuv uvloop asyncio
#                         node redis-server)
set -u

BUILD=${1:?usage: bench/net/run.sh BUILD_DIR}
BUILD=${BUILD%/}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
EXAMPLES=${NET_EXAMPLES:-$ROOT/build/examples}
EXAMPLES_URING=${NET_URING_EXAMPLES:-$ROOT/build/examples-uring}
SECS=${NET_SECONDS:-3}
MSG=${NET_MSG_BYTES:-1024}
CONNS=${NET_CONNS:-1 10 100}
WRK_SECS=${NET_WRK_SECONDS:-5}
REDIS_N=${NET_REDIS_N:-100000}
ONLY=${NET_ONLY:-}
PARTS=${NET_PARTS:-echo idle http redis}
RUNS=${NET_RUNS:-1}
ROUNDS=${NET_ROUNDS:-1}
IDLE_CONNS=${NET_IDLE_CONNS:-10000}
REDIS_TIMEOUT=${NET_REDIS_TIMEOUT:-30}
CC=${CC:-cc}
CFLAGS="-O2 -Wall -Wextra"

if ! command -v python3 >/dev/null; then
    echo "run.sh: python3 is needed (free ports, parsing, the table)" >&2
    exit 2
fi
if [ -z "${NET_PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import uvloop' 2>/dev/null; then
        NET_PYTHON=/usr/bin/python3
    else
        NET_PYTHON=python3
    fi
fi
if ! command -v taskset >/dev/null; then
    echo "run.sh: taskset (util-linux) is needed for the pinning" >&2
    exit 2
fi

mkdir -p "$BUILD" "$BUILD/net-logs"
RESULTS=$BUILD/net-results.jsonl
NOTES=$BUILD/net-notes.txt
: >"$RESULTS"
: >"$NOTES"
failed=0
T0=$(date +%s)

note() { # a line for the "skipped / failed" part of the summary
    echo "$*" >>"$NOTES"
    echo "  $*" >&2
}

part() { # is measurement $1 selected by NET_PARTS?
    case " $PARTS " in *" $1 "*) return 0 ;; esac
    return 1
}

# ---- build ---------------------------------------------------------------
build() { # build NAME [LIBS...]: BUILD/NAME from HERE/NAME.c when stale
    local name=$1
    shift
    local src=$HERE/$name.c out=$BUILD/$name
    if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
        echo "  $CC $CFLAGS $src -o $out $*" >&2
        # shellcheck disable=SC2086 # CC and CFLAGS are word lists
        $CC $CFLAGS "$src" -o "$out" "$@" 2>"$BUILD/net-logs/build-$name.log" || {
            cat "$BUILD/net-logs/build-$name.log" >&2
            return 1
        }
    fi
}
echo "bench/net: building into $BUILD" >&2
build echo_load || { echo "run.sh: cannot build echo_load" >&2; exit 2; }
build echo_epoll || { note "FAILED: build of echo_epoll"; failed=1; }
part idle || IDLE_CONNS=0
if [ "$IDLE_CONNS" -gt 0 ] && ! CFLAGS="$CFLAGS -std=c99 -I$ROOT" build idle -pthread; then
    note "FAILED: build of idle"
    failed=1
fi
build http_epoll || { note "FAILED: build of http_epoll"; failed=1; }
HAVE_LIBUV=0
if [ -f /usr/include/uv.h ] || pkg-config --exists libuv 2>/dev/null; then
    if build echo_libuv -luv; then HAVE_LIBUV=1; else note "FAILED: build of echo_libuv"; failed=1; fi
fi

# ---- servers -------------------------------------------------------------
SERVER_PIDS=()
# kill_wait PID: SIGTERM, up to 3 s for it to exit, then SIGKILL.
# Returns 1 if it needed the SIGKILL.
kill_wait() {
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
    for p in "${SERVER_PIDS[@]}"; do
        kill_wait "$p"
    done
    SERVER_PIDS=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_server NAME CMD... : runs CMD PORT pinned to core 1; sets PORT and PID.
# Returns 1 (after a note) if it dies or does not accept within 10 s.
start_server() {
    local name=$1 i
    shift
    SERVER_NAME=$name
    PORT=$(free_port)
    taskset -c 1 "$@" "$PORT" >"$BUILD/net-logs/$name.log" 2>&1 &
    PID=$!
    SERVER_PIDS+=("$PID")
    for ((i = 0; i < 200; i++)); do
        if ! kill -0 "$PID" 2>/dev/null; then
            note "FAILED: $name exited at start-up (see $BUILD/net-logs/$name.log)"
            failed=1
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            sleep 0.2 # let it finish its start-up work before the CPU is read
            return 0
        fi
        sleep 0.05
    done
    note "FAILED: $name did not accept on 127.0.0.1:$PORT within 10 s"
    failed=1
    stop_server
    return 1
}

stop_server() {
    if ! kill_wait "$PID"; then
        note "note: server $PID ($SERVER_NAME) did not exit within 3 s of SIGTERM; killed with SIGKILL"
    fi
    local keep=() p
    for p in "${SERVER_PIDS[@]}"; do
        [ "$p" = "$PID" ] || keep+=("$p")
    done
    SERVER_PIDS=("${keep[@]}")
}

# cpu_read PID: "NS UTIME STIME" -- CPU time of all the process's threads:
# the sum of their /proc/PID/task/*/schedstat run times (ns), and utime and
# stime from /proc/PID/stat (clock ticks).  utime+stime is the same kernel
# figure as the schedstat sum, rounded to ticks (10 ms at USER_HZ=100):
# schedstat is used for the totals, stat only for the user/system split.
cpu_read() {
    local pid=$1 ns=0 f a st
    for f in /proc/"$pid"/task/*/schedstat; do
        read -r a _ <"$f" 2>/dev/null && ns=$((ns + a))
    done
    { st=$(<"/proc/$pid/stat"); } 2>/dev/null || { echo "$ns 0 0"; return; }
    st=${st##*) }
    # shellcheck disable=SC2086
    set -- $st
    echo "$ns ${12} ${13}"
}
TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# core1_busy: busy clock ticks of core 1 so far (user+nice+system+irq+softirq+
# steal from /proc/stat).  During a cross-core run only the server should run
# there; what the server's own CPU time does not explain is other load.
core1_busy() {
    local l
    while read -r l; do
        case $l in
        "cpu1 "*)
            # shellcheck disable=SC2086
            set -- $l
            echo $(($2 + $3 + $4 + $7 + $8 + $9))
            return
            ;;
        esac
    done </proc/stat
    echo 0
}

now_ns() { date +%s%N; }

# cpu_fields CPU0 CPU1 WALL0 WALL1 COUNT CORE1BUSY0 CORE1BUSY1 PIN: the JSON
# fields for the server's CPU (and core1_other_pct: core 1's busy time not
# explained by the server, in % of the run's wall time; for a same-core run,
# where core 1 should be idle, all of core 1's busy time)
cpu_fields() {
    local ns0 u0 s0 ns1 u1 s1
    read -r ns0 u0 s0 <<<"$1"
    read -r ns1 u1 s1 <<<"$2"
    awk -v ns=$((ns1 - ns0)) -v ut=$((u1 - u0)) -v st=$((s1 - s0)) -v tick="$TICK" -v wall=$(($4 - $3)) -v n="$5" \
        -v c1=$(($7 - $6)) -v same="$([ "$8" = same-core ] && echo 1 || echo 0)" 'BEGIN {
        uus = ut * 1e6 / tick; sus = st * 1e6 / tick; tus = uus + sus
        us = ns / 1e3
        if (ns <= 0) us = tus   # no schedstat: fall back to utime+stime
        printf "\"server_cpu_us\":%.0f,\"server_cpu_us_stat\":%.0f,", us, tus
        printf "\"server_user_us_stat\":%.0f,\"server_sys_us_stat\":%.0f,\"wall_us\":%.0f,", uus, sus, wall / 1e3
        printf "\"server_user_us_per_req\":%.3f,", (n > 0 ? uus / n : 0)
        printf "\"server_cpu_pct\":%.1f,", (wall > 0 ? 100 * us * 1e3 / wall : 0)
        other = c1 * 1e6 / tick - (same ? 0 : us)
        printf "\"core1_other_us\":%.0f,\"core1_other_pct\":%.1f,", other, (wall > 0 ? 100 * other * 1e3 / wall : 0)
        printf "\"server_cpu_us_per_req\":%.3f", (n > 0 ? us / n : 0)
    }'
}

# emit TAGS JSON: writes {TAGS,<JSON without its opening brace> to RESULTS
emit() {
    printf '{%s,%s\n' "$1" "${2#\{}" >>"$RESULTS"
}

wanted() { # is server $1 selected by NET_ONLY?
    [ -z "$ONLY" ] && return 0
    case " $ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

# record WHAT RC OUT ERRORS TAGS: a load tool's result OUT (its JSON line;
# exit status RC) into RESULTS with TAGS, or a FAILED note; when RC says the
# run had errors, the note quotes the fields of OUT that match ERRORS
record() {
    local what=$1 rc=$2 out=$3
    if [ "${out:0:1}" != "{" ]; then
        echo " FAILED (exit status $rc, no result)" >&2
        note "FAILED: $what: exit status $rc, no result"
        failed=1
        return
    fi
    emit "$5" "$out"
    if [ "$rc" != 0 ]; then
        echo " ERRORS (exit status $rc): $out" >&2
        note "FAILED: $what: $(grep -o "$4" <<<"$out")"
        failed=1
    else
        echo " done" >&2
    fi
}

# ---- echo ----------------------------------------------------------------
# echo_run NAME CONNS PIN RUN: one echo_load run against the server in PID/PORT
echo_run() {
    local name=$1 conns=$2 pin=$3 run=$4 out rc cpu0 cpu1 w0 w1 b0 b1 n
    printf '  %-10s conns=%-4s %-10s run %d ...' "$name" "$conns" "$pin" "$run" >&2
    cpu0=$(cpu_read "$PID")
    b0=$(core1_busy)
    w0=$(now_ns)
    out=$(timeout $((${SECS%.*} + 30)) taskset -c 0 "$BUILD/echo_load" 127.0.0.1 "$PORT" "$conns" "$SECS" "$MSG")
    rc=$?
    w1=$(now_ns)
    b1=$(core1_busy)
    cpu1=$(cpu_read "$PID")
    n=$(grep -o '"msgs_total":[0-9]*' <<<"$out")
    n=${n#*:}
    record "echo $name conns=$conns $pin" "$rc" "$out" '"errors".*"unfinished":[0-9]*' \
        "\"server\":\"$name\",\"pin\":\"$pin\",\"run\":$run,$(cpu_fields "$cpu0" "$cpu1" "$w0" "$w1" "${n:-0}" "$b0" "$b1" "$pin")"
}

echo_server() { # echo_server NAME CMD...
    local name=$1 c run
    shift
    wanted "$name" || return 0
    echo "echo: $name" >&2
    start_server "echo-$name" "$@" || return 0
    for c in $CONNS same-core; do
        if [ "$c" = same-core ]; then
            taskset -a -p -c 0 "$PID" >/dev/null # every thread of the server to core 0
        fi
        for ((run = FIRST_RUN; run < FIRST_RUN + RUNS; run++)); do
            if [ "$c" = same-core ]; then
                echo_run "$name" 1 same-core "$run"
            else
                echo_run "$name" "$c" cross-core "$run"
            fi
            if ! kill -0 "$PID" 2>/dev/null; then
                note "FAILED: echo $name died (see $BUILD/net-logs/echo-$name.log)"
                failed=1
                break 2
            fi
        done
    done
    stop_server
}

# ---- idle connections --------------------------------------------------
# idle_server NAME CMD...: idle.c opens IDLE_CONNS connections to the server,
# reads its CPU time over 2 s of silence, then checks that every connection
# still echoes a byte
idle_server() {
    local name=$1 out rc
    shift
    wanted "$name" || return 0
    start_server "idle-$name" "$@" || return 0
    printf '  %-16s %s idle connections, run %d ...' "$name" "$IDLE_CONNS" "$FIRST_RUN" >&2
    out=$(timeout $((IDLE_CONNS / 100 + 60)) taskset -c 0 "$BUILD/idle" "$IDLE_CONNS" "$PORT" "$PID")
    rc=$?
    record "idle $name" "$rc" "$out" '"echoed".*"lost":[0-9]*' \
        "\"server\":\"$name\",\"pin\":\"cross-core\",\"run\":$FIRST_RUN"
    if ! kill -0 "$PID" 2>/dev/null; then
        note "FAILED: idle $name died (see $BUILD/net-logs/idle-$name.log)"
        failed=1
    fi
    stop_server
}

# ---- HTTP ----------------------------------------------------------------
# http_run NAME RUN: one wrk run against the server in PID/PORT
http_run() {
    local name=$1 run=$2 out rc cpu0 cpu1 w0 w1 b0 b1 n json log
    log=$BUILD/net-logs/wrk-$name-$run.txt
    printf '  %-10s wrk -t1 -c50 -d%ss run %d ...' "$name" "$WRK_SECS" "$run" >&2
    cpu0=$(cpu_read "$PID")
    b0=$(core1_busy)
    w0=$(now_ns)
    out=$(timeout $((WRK_SECS + 30)) taskset -c 0 wrk -t1 -c50 -d"${WRK_SECS}s" --latency "http://127.0.0.1:$PORT/" 2>&1)
    rc=$?
    w1=$(now_ns)
    b1=$(core1_busy)
    cpu1=$(cpu_read "$PID")
    printf '%s\n' "$out" >"$log"
    json=$(python3 "$HERE/report.py" wrk <<<"$out")
    if [ $rc != 0 ] || [ "${json:0:1}" != "{" ]; then
        echo " FAILED (exit status $rc, see $log)" >&2
        note "FAILED: http $name: wrk exit status $rc (see $log)"
        failed=1
        return
    fi
    n=$(sed 's/.*"requests":\([0-9]*\).*/\1/' <<<"$json")
    if [ "$n" = 0 ]; then
        echo " FAILED (no request completed, see $log)" >&2
        note "FAILED: http $name: no request completed in ${WRK_SECS} s (see $log)"
        failed=1
        return
    fi
    emit "\"bench\":\"http\",\"server\":\"$name\",\"pin\":\"cross-core\",\"run\":$run,\"conns\":50,$(cpu_fields "$cpu0" "$cpu1" "$w0" "$w1" "$n" "$b0" "$b1" cross-core)" "$json"
    if grep -qE '"errors":0[,}]' <<<"$json"; then
        echo " done" >&2
    else
        echo " ERRORS: $json" >&2
        note "FAILED: http $name: $(grep -o '"errors":[0-9]*' <<<"$json") (socket errors or non-2xx answers, see $log)"
        failed=1
    fi
}

http_server() { # http_server NAME CMD...
    local name=$1 run
    shift
    wanted "$name" || return 0
    start_server "http-$name" "$@" || return 0
    # warm-up (JIT, allocator, connection set-up), not recorded
    timeout 30 taskset -c 0 wrk -t1 -c50 -d1s "http://127.0.0.1:$PORT/" >/dev/null 2>&1
    for ((run = FIRST_RUN; run < FIRST_RUN + RUNS; run++)); do
        http_run "$name" "$run"
    done
    stop_server
}

# ---- the rounds ----------------------------------------------------------
# server_cmd KIND NAME: the command line (the port follows) of the KIND
# (echo or http) server NAME, in CMD
server_cmd() {
    case $1:$2 in
    echo:asyncio.h) CMD=("$EXAMPLES/echo_server") ;;
    echo:asyncio.h-uring) CMD=("$EXAMPLES_URING/echo_server") ;;
    echo:epoll) CMD=("$BUILD/echo_epoll") ;;
    echo:libuv) CMD=("$BUILD/echo_libuv") ;;
    echo:uvloop) CMD=("$NET_PYTHON" "$HERE/echo_uvloop.py") ;;
    echo:asyncio) CMD=("$NET_PYTHON" "$HERE/echo_asyncio.py") ;;
    echo:node) CMD=(node "$HERE/echo_node.js") ;;
    http:asyncio.h) CMD=("$EXAMPLES/http_server") ;;
    http:asyncio.h-uring) CMD=("$EXAMPLES_URING/http_server") ;;
    http:epoll) CMD=("$BUILD/http_epoll") ;;
    http:node) CMD=(node "$HERE/http_node.js") ;;
    esac
}

# The servers there are, in the table's order (a wanted one that is missing
# gets a note).
ECHO_SERVERS=()
HTTP_SERVERS=()
offer() { # offer KIND NAME WHY-NOT: add NAME to KIND's list, or note WHY-NOT (if not empty)
    wanted "$2" || return 0
    if [ -z "$3" ]; then
        if [ "$1" = echo ]; then ECHO_SERVERS+=("$2"); else HTTP_SERVERS+=("$2"); fi
    else
        note "skipped: $1 $2 ($3)"
    fi
}
built() { [ -x "$1" ] || echo "$1 not built"; }
offer echo asyncio.h "$(built "$EXAMPLES/echo_server")"
offer echo asyncio.h-uring "$(built "$EXAMPLES_URING/echo_server")"
[ -x "$BUILD/echo_epoll" ] && offer echo epoll ""
offer echo libuv "$([ $HAVE_LIBUV = 1 ] || echo "no libuv headers: apt-get install libuv1-dev")"
offer echo uvloop "$("$NET_PYTHON" -c 'import uvloop' 2>/dev/null ||
    echo "$NET_PYTHON cannot import uvloop: apt-get install python3-uvloop")"
offer echo asyncio ""
offer echo node "$(command -v node >/dev/null || echo "node not installed")"
if ! part http; then
    :
elif command -v wrk >/dev/null; then
    offer http asyncio.h "$(built "$EXAMPLES/http_server")"
    offer http asyncio.h-uring "$(built "$EXAMPLES_URING/http_server")"
    [ -x "$BUILD/http_epoll" ] && offer http epoll ""
    offer http node "$(command -v node >/dev/null || echo "node not installed")"
else
    note "skipped: all HTTP runs (wrk not installed: apt-get install wrk)"
fi
if [ "$IDLE_CONNS" -gt 0 ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 64)) ] &&
    ! ulimit -n $((IDLE_CONNS + 64)) 2>/dev/null; then
    note "skipped: idle connections (NET_IDLE_CONNS=$IDLE_CONNS needs ulimit -n >= $((IDLE_CONNS + 64)); the limit is $(ulimit -Hn))"
    IDLE_CONNS=0
fi
[ -x "$BUILD/idle" ] || IDLE_CONNS=0

# rotated K NAME...: the names from the (K mod count)-th on, then the rest
rotated() {
    local k=$1 i
    shift
    for ((i = 0; i < $#; i++)); do
        echo "${@:$(((k + i) % $# + 1)):1}"
    done
}

for ((round = 1; round <= ROUNDS; round++)); do
    FIRST_RUN=$(((round - 1) * RUNS + 1)) # run numbers go on from round to round
    [ "$ROUNDS" -gt 1 ] && echo "bench/net: round $round of $ROUNDS" >&2
    if part echo; then
        echo "bench/net: echo, $MSG-byte messages, ${SECS} s per run after 0.5 s warm-up" >&2
        for name in $(rotated $((round - 1)) "${ECHO_SERVERS[@]}"); do
            server_cmd echo "$name"
            echo_server "$name" "${CMD[@]}"
        done
    fi
    if [ "$IDLE_CONNS" -gt 0 ]; then
        echo "bench/net: $IDLE_CONNS idle connections per echo server" >&2
        for name in $(rotated $((round - 1)) "${ECHO_SERVERS[@]}"); do
            server_cmd echo "$name"
            idle_server "$name" "${CMD[@]}"
        done
    fi
    if [ ${#HTTP_SERVERS[@]} -gt 0 ]; then
        echo "bench/net: HTTP, wrk -t1 -c50 -d${WRK_SECS}s (after a 1 s warm-up)" >&2
        for name in $(rotated $((round - 1)) "${HTTP_SERVERS[@]}"); do
            server_cmd http "$name"
            http_server "$name" "${CMD[@]}"
        done
    fi
done

# ---- redis protocol ------------------------------------------------------
# redis_run NAME TEST PIPELINE RUN: one redis-benchmark run (one test)
redis_run() {
    local name=$1 t=$2 p=$3 run=$4 out rc cpu0 cpu1 w0 w1 b0 b1 json pipe=()
    [ "$p" = 1 ] || pipe=(-P "$p")
    printf '  %-12s %-11s -P %-2s run %d ...' "$name" "$t" "$p" "$run" >&2
    cpu0=$(cpu_read "$PID")
    b0=$(core1_busy)
    w0=$(now_ns)
    out=$(timeout "$REDIS_TIMEOUT" taskset -c 0 redis-benchmark -h 127.0.0.1 -p "$PORT" -t "$t" -n "$REDIS_N" "${pipe[@]}" -q --csv 2>&1)
    rc=$?
    w1=$(now_ns)
    b1=$(core1_busy)
    cpu1=$(cpu_read "$PID")
    json=$(python3 "$HERE/report.py" redis <<<"$out")
    if [ $rc != 0 ] || [ "${json:0:1}" != "{" ]; then
        echo " FAILED (exit status $rc)" >&2
        printf '%s\n' "$out" >>"$BUILD/net-logs/redis-benchmark-$name.txt"
        if [ $rc = 124 ]; then
            note "FAILED: redis $name $t -P $p: no result within $REDIS_TIMEOUT s; the remaining $name runs are skipped"
            failed=1
            return 2
        fi
        note "FAILED: redis $name $t -P $p: redis-benchmark exit status $rc: $(head -c 200 <<<"$out" | tr '\n' ' ')"
        failed=1
        return 1
    fi
    emit "\"bench\":\"redis\",\"server\":\"$name\",\"pin\":\"cross-core\",\"run\":$run,\"conns\":50,\"pipeline\":$p,\"requests\":$REDIS_N,$(cpu_fields "$cpu0" "$cpu1" "$w0" "$w1" "$REDIS_N" "$b0" "$b1" cross-core)" "$json"
    echo " done" >&2
}

redis_server() { # redis_server NAME CMD... (CMD PORT must speak RESP)
    local name=$1 p t run
    shift
    wanted "$name" || return 0
    start_server "redis-$name" "$@" || return 0
    for p in 1 16; do
        # the tests of -t ping,set,get,incr, one invocation each so that the
        # server's CPU time can be given per test
        for t in ping_inline ping_mbulk set get incr; do
            for ((run = 1; run <= RUNS; run++)); do
                redis_run "$name" "$t" "$p" "$run"
                [ $? = 2 ] && break 3 # a server that stopped answering
            done
        done
    done
    stop_server
}

if ! part redis; then
    :
elif command -v redis-benchmark >/dev/null; then
    echo "bench/net: redis-benchmark -n $REDIS_N (50 clients), without and with -P 16" >&2
    if command -v redis-server >/dev/null; then
        redis_server redis-server redis-server --bind 127.0.0.1 --save '' --appendonly no --port
    else
        note "skipped: redis redis-server (apt-get install redis-server)"
    fi
    if [ -x "$EXAMPLES/kv_server" ]; then
        redis_server asyncio.h "$EXAMPLES/kv_server"
    else
        note "skipped: redis asyncio.h ($EXAMPLES/kv_server not built)"
    fi
    if ! wanted asyncio.h-uring; then
        :
    elif [ -x "$EXAMPLES_URING/kv_server" ]; then
        redis_server asyncio.h-uring "$EXAMPLES_URING/kv_server"
    else
        note "skipped: redis asyncio.h-uring ($EXAMPLES_URING/kv_server not built)"
    fi
else
    note "skipped: all redis-benchmark runs (apt-get install redis-tools)"
fi

cleanup
ELAPSED=$(($(date +%s) - T0))
NET_ELAPSED=$ELAPSED NET_RUNS=$RUNS NET_ROUNDS=$ROUNDS NET_IDLE_CONNS=$IDLE_CONNS NET_SECONDS=$SECS NET_MSG_BYTES=$MSG NET_WRK_SECONDS=$WRK_SECS \
    NET_REDIS_N=$REDIS_N NET_PYTHON=$NET_PYTHON NET_ROOT=$ROOT \
    python3 "$HERE/report.py" table "$RESULTS" "$NOTES" | tee "$BUILD/net-summary.txt"
[ "${PIPESTATUS[0]}" = 0 ] || failed=1
if [ $failed != 0 ]; then
    echo "bench/net/run.sh: some runs FAILED (see above)" >&2
    exit 1
fi
