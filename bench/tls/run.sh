#!/usr/bin/env bash
# bench/tls/run.sh BUILD_DIR -- the TLS benchmarks: asyncio.h's TLS echo
# server against hand-written epoll + OpenSSL floors (SSL_set_fd with and
# without read-ahead, memory BIOs), Node's tls, Python asyncio with ssl=
# and uvloop with ssl=, side by side in one run (see bench/tls/README.md).
#
# BUILD_DIR holds the compiled C programs (make bench-tls builds them into
# build/bench-tls): tls_load (the load generator), tls_floor (the floors)
# and tls_echo (asyncio.h's server).  Nothing is built here.
#
# A throwaway CA and an ECDSA P-256 server certificate for "localhost" are
# made with the openssl command into a temporary directory, removed at the
# end.  Every server runs pinned to core 1 (taskset -c 1), the load
# generator on core 0; all servers are started at once and stay up, and
# every measurement runs TLS_RUNS times, interleaved (run 1 of every server,
# then run 2, ..., the order of the servers rotated each run) so that load
# from elsewhere hits them alike.  tls_load reads the server's CPU time
# itself (TLS_LOAD_SERVER_PID) around the loaded phase.
#
#   (a) echo: tls_load echo, TLS_CONNS connections, TLS_MSG_BYTES messages,
#       TLS_SECONDS measured
#   (b) handshakes: tls_load handshake, TLS_HS_INFLIGHT connections in
#       flight, each a full TLS 1.3 handshake, one TLS_HS_MSG_BYTES echo,
#       close; TLS_HS_SECONDS measured
#
# Writes BUILD_DIR/results.jsonl (one line per run, tagged with "run" and
# "server"), BUILD_DIR/summary.txt (the table of medians) and
# BUILD_DIR/logs/ (the servers' output).  Missing competitors (node, uvloop,
# the asyncio.h server) are skipped with a note.  Exits 1 if a run that did
# happen failed (an error counted by tls_load, a server that died or did not
# start), 2 if tls_load, tls_floor or the openssl command is missing.
#
# Environment:
#   TLS_RUNS=5            runs of every measurement; the table shows medians
#   TLS_SECONDS=2         measured seconds of each echo run (after 0.5 s warm-up)
#   TLS_CONNS=100         echo connections
#   TLS_MSG_BYTES=1024    echo message size
#   TLS_HS_SECONDS=2      measured seconds of each handshake run
#   TLS_HS_INFLIGHT=16    connections in flight in the handshake runs
#   TLS_HS_MSG_BYTES=64   the one message of each handshake connection
#   PYTHON=python3        interpreter of the asyncio server
#   UVLOOP_PYTHON=...     interpreter of the uvloop server (default: the
#                         first of /usr/bin/python3 and $PYTHON that imports
#                         uvloop: Debian's python3-uvloop is for the former)
#   TLS_ONLY="a b"        only these servers: asyncio.h floor-fd floor-mem
#                         floor-nora node uvloop asyncio
set -u

BUILD=${1:?usage: bench/tls/run.sh BUILD_DIR}
BUILD=${BUILD%/}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RUNS=${TLS_RUNS:-5}
SECS=${TLS_SECONDS:-2}
CONNS=${TLS_CONNS:-100}
MSG=${TLS_MSG_BYTES:-1024}
HS_SECS=${TLS_HS_SECONDS:-2}
HS_INFLIGHT=${TLS_HS_INFLIGHT:-16}
HS_MSG=${TLS_HS_MSG_BYTES:-64}
ONLY=${TLS_ONLY:-}

for b in tls_load tls_floor; do
    if [ ! -x "$BUILD/$b" ]; then
        echo "run.sh: $BUILD/$b is missing (run: make bench-tls)" >&2
        exit 2
    fi
done
for c in openssl python3 taskset; do
    if ! command -v $c >/dev/null; then
        echo "run.sh: $c is needed (certificates / the table / the pinning)" >&2
        exit 2
    fi
done
PY=${PYTHON:-python3}
if [ -z "${UVLOOP_PYTHON:-}" ]; then
    for UVLOOP_PYTHON in /usr/bin/python3 "$PY"; do
        "$UVLOOP_PYTHON" -c 'import uvloop' 2>/dev/null && break
    done
fi

mkdir -p "$BUILD/logs"
RESULTS=$BUILD/results.jsonl
NOTES=$BUILD/notes.txt
: >"$RESULTS"
: >"$NOTES"
failed=0
T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# asyncio.h as the run starts: its last commit, whether the work tree
# differs, a hash of the file, and whether tls_echo is older than it
HDR_STATE="$(cd "$ROOT" && git log -1 --format='%h %ci' -- asyncio.h 2>/dev/null)"
[ -n "$(cd "$ROOT" && git status --porcelain -- asyncio.h 2>/dev/null)" ] && HDR_STATE="$HDR_STATE + uncommitted changes"
HDR_STATE="$HDR_STATE, sha256 $(sha256sum "$ROOT/asyncio.h" | cut -c1-12)"
[ -x "$BUILD/tls_echo" ] && [ "$ROOT/asyncio.h" -nt "$BUILD/tls_echo" ] && HDR_STATE="$HDR_STATE (NOTE: asyncio.h is newer than $BUILD/tls_echo)"

note() {
    echo "$*" >>"$NOTES"
    echo "  $*" >&2
}
wanted() {
    [ -z "$ONLY" ] && return 0
    case " $ONLY " in *" $1 "*) return 0 ;; esac
    return 1
}

machine_busy_ticks() { # busy ticks of all CPUs (user nice system irq softirq steal)
    local l
    read -r l </proc/stat
    # shellcheck disable=SC2086
    set -- $l
    echo $(($2 + $3 + $4 + $7 + $8 + $9))
}
TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# children_cpu VAR: VAR = CPU seconds of this script's finished children
# (bash's `times`, run in this shell)
children_cpu() {
    times >"$BUILD/logs/times.txt"
    printf -v "$1" '%s' "$(tail -1 "$BUILD/logs/times.txt" | awk '{ t = 0
        for (i = 1; i <= NF; i++) if (match($i, /^[0-9]+m[0-9.]+s$/)) {
            m = substr($i, 1, index($i, "m") - 1); x = substr($i, index($i, "m") + 1); sub(/s$/, "", x); t += m * 60 + x }
        printf "%.2f", t }')"
}
BUSY0=$(machine_busy_ticks)
children_cpu CHILD0

# ---- certificates --------------------------------------------------------
CERTS=$(mktemp -d "${TMPDIR:-/tmp}/bench-tls.XXXXXX")
SERVER_PIDS=()
kill_wait() { # PID: SIGTERM, up to 3 s, then SIGKILL; 1 if SIGKILL was needed
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
        kill_wait "$p" || note "note: server $p did not exit within 3 s of SIGTERM; killed with SIGKILL"
    done
    SERVER_PIDS=()
    rm -rf "$CERTS"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# a throwaway CA, and a server certificate for localhost / 127.0.0.1 signed
# by it: both ECDSA P-256 (the keys never leave $CERTS)
if ! (
    cd "$CERTS" &&
        openssl ecparam -name prime256v1 -genkey -noout -out ca.key &&
        openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=bench-tls throwaway CA" -out ca.pem &&
        openssl ecparam -name prime256v1 -genkey -noout -out server.key &&
        openssl req -new -key server.key -subj "/CN=localhost" -out server.csr &&
        printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
            'keyUsage=digitalSignature' 'extendedKeyUsage=serverAuth' >ext.cnf &&
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
            -extfile ext.cnf -out server.pem
) >"$BUILD/logs/certs.log" 2>&1; then
    cat "$BUILD/logs/certs.log" >&2
    echo "run.sh: cannot make the certificates (see above)" >&2
    exit 2
fi
CERT=$CERTS/server.pem
KEY=$CERTS/server.key
CA=$CERTS/ca.pem

# ---- servers -------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
declare -A SPID SPORT
NAMES=()
# start_server NAME CMD...: CMD PORT CERT KEY pinned to core 1, up once it
# accepts (within 10 s)
start_server() {
    local name=$1 port pid i
    shift
    wanted "$name" || return 0
    port=$(free_port)
    taskset -c 1 "$@" "$port" "$CERT" "$KEY" >"$BUILD/logs/$name.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for ((i = 0; i < 200; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            note "FAILED: $name exited at start-up (see $BUILD/logs/$name.log)"
            failed=1
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            SPID[$name]=$pid
            SPORT[$name]=$port
            NAMES+=("$name")
            return 0
        fi
        sleep 0.05
    done
    note "FAILED: $name did not accept on 127.0.0.1:$port within 10 s"
    failed=1
    return 1
}

echo "bench/tls: starting the servers (core 1)" >&2
if [ -x "$BUILD/tls_echo" ]; then
    start_server asyncio.h "$BUILD/tls_echo"
else
    note "skipped: asyncio.h ($BUILD/tls_echo not built: make bench-tls)"
fi
start_server floor-fd "$BUILD/tls_floor" fd
start_server floor-mem "$BUILD/tls_floor" mem
# floor-fd reading records as asyncio.h does: a header, then a body
start_server floor-nora env TLS_FLOOR_READ_AHEAD=0 "$BUILD/tls_floor" fd
if command -v node >/dev/null; then
    start_server node node "$HERE/tls_echo_node.js"
else
    note "skipped: node (not installed)"
fi
if "$UVLOOP_PYTHON" -c 'import uvloop' 2>/dev/null; then
    start_server uvloop "$UVLOOP_PYTHON" -B "$HERE/tls_echo_uvloop.py" # -B: no __pycache__ in the tree
else
    note "skipped: uvloop ($UVLOOP_PYTHON cannot import uvloop: apt-get install python3-uvloop)"
fi
if command -v "$PY" >/dev/null; then
    start_server asyncio "$PY" -B "$HERE/tls_echo_asyncio.py"
else
    note "skipped: asyncio ($PY not found)"
fi
sleep 0.3 # let them finish their start-up work

# load RUN NAME MODE ARGS...: one tls_load run against server NAME,
# recorded when RUN > 0 (0: warm-up)
load() {
    local run=$1 name=$2 mode=$3 out rc
    shift 3
    out=$(TLS_LOAD_SERVER_PID=${SPID[$name]} TLS_LOAD_SERVER_CORE=1 timeout 60 \
        taskset -c 0 "$BUILD/tls_load" "$mode" 127.0.0.1 "${SPORT[$name]}" "$@" 2>"$BUILD/logs/load-stderr.txt")
    rc=$?
    if ! kill -0 "${SPID[$name]}" 2>/dev/null; then
        note "FAILED: $name died during $mode run $run (see $BUILD/logs/$name.log)"
        failed=1
        return 1
    fi
    [ "$run" = 0 ] && return 0
    if [ "${out:0:1}" != "{" ]; then
        note "FAILED: $mode $name run $run: tls_load exit status $rc, no result: $(head -c 300 "$BUILD/logs/load-stderr.txt")"
        failed=1
        return 1
    fi
    printf '{"run":%d,"server":"%s",%s\n' "$run" "$name" "${out#\{}" >>"$RESULTS"
    if [ $rc != 0 ]; then
        note "FAILED: $mode $name run $run: $(grep -o '"errors".*"unfinished":[0-9]*' <<<"$out")"
        failed=1
    fi
}

alive() { kill -0 "${SPID[$1]}" 2>/dev/null; }

echo "bench/tls: warm-up (1 s of each load per server, not recorded)" >&2
for name in "${NAMES[@]}"; do
    load 0 "$name" echo 10 1 "$MSG" "$CA"
    alive "$name" && load 0 "$name" handshake "$HS_INFLIGHT" 1 "$HS_MSG" -
done

echo "bench/tls: echo ($CONNS connections, $MSG-byte messages, ${SECS} s) and handshakes ($HS_INFLIGHT in flight, ${HS_SECS} s), x$RUNS" >&2
n=${#NAMES[@]}
for ((r = 1; r <= RUNS; r++)); do
    for mode in echo handshake; do
        printf '  run %d %-9s:' "$r" "$mode" >&2
        for ((k = 0; k < n; k++)); do
            name=${NAMES[$(((k + r - 1) % n))]} # rotated each run
            alive "$name" || continue
            printf ' %s' "$name" >&2
            if [ $mode = echo ]; then
                load "$r" "$name" echo "$CONNS" "$SECS" "$MSG" "$CA"
            else
                load "$r" "$name" handshake "$HS_INFLIGHT" "$HS_SECS" "$HS_MSG" -
            fi
        done
        echo >&2
    done
done

# version strings while the competitors are at hand
VERSIONS="OpenSSL $(openssl version | cut -d' ' -f2) (system: the C programs, Python)"
command -v node >/dev/null && VERSIONS="$VERSIONS, node $(node --version) (its own OpenSSL $(node -p process.versions.openssl))"
pyver() { "$1" -c 'import platform, ssl; print(platform.python_version(), "with", ssl.OPENSSL_VERSION.split()[1])' 2>/dev/null; }
VERSIONS="$VERSIONS, asyncio: python $(pyver "$PY") ($PY)"
UV=$("$UVLOOP_PYTHON" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null) &&
    VERSIONS="$VERSIONS, uvloop $UV on python $(pyver "$UVLOOP_PYTHON") ($UVLOOP_PYTHON)"

cleanup
ELAPSED=$(($(date +%s) - T0))
children_cpu CHILD1
OTHER_PCT=$(awk -v b=$(($(machine_busy_ticks) - BUSY0)) -v tick="$TICK" -v c0="$CHILD0" -v c1="$CHILD1" \
    -v e="$ELAPSED" 'BEGIN { if (e > 0) printf "%.0f", 100 * (b / tick - (c1 - c0)) / e; else print 0 }')
TLS_HDR="$HDR_STATE" TLS_ELAPSED=$ELAPSED TLS_OTHER_PCT=$OTHER_PCT TLS_RUNS=$RUNS TLS_ROOT=$ROOT \
    TLS_LOAD0=$LOAD0 TLS_LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)" TLS_VERSIONS="$VERSIONS" \
    python3 "$HERE/report.py" "$RESULTS" "$NOTES" | tee "$BUILD/summary.txt"
[ "${PIPESTATUS[0]}" = 0 ] || failed=1
if [ $failed != 0 ]; then
    echo "bench/tls/run.sh: some runs FAILED (see above)" >&2
    exit 1
fi
