#!/usr/bin/env bash
# bench/hostile/slowloris.sh BUILD_DIR -- how long does a normal GET take
# while a slowloris holds every descriptor http_server has?
#
# Starts BUILD_DIR/http_server (built by make examples) on 127.0.0.1 with
# `ulimit -n FDS` and --header-timeout HEADER_TIMEOUT, then opens CONNS
# connections from one bash process, each sending a request line and the
# start of a header field, then one more byte every DRIP seconds; one the
# server closes is opened again at once (a slowloris keeps its count up).
# With more connections than descriptors the server accepts what it can
# and the rest wait in the listen backlog.  Once they are all open, a
# normal client -- curl, one GET -- is timed GETS times, GAP seconds
# apart (time for the slowloris to fill the freed descriptors again).  The
# bound to expect: HEADER_TIMEOUT + 1 s (a connection holding a
# descriptor is closed within the header timeout of its accept, and the
# backlog is served in order).  Measures; asserts nothing.
#
# Prints one line per GET (its status and time) and the descriptors the
# server held meanwhile.  Exit status 0, or 1 if the server did not start
# or curl is missing.
#
# Environment: CONNS=300 FDS=256 HEADER_TIMEOUT=10 DRIP=0.3 GETS=3 GAP=2
#
#   make examples && bash bench/hostile/slowloris.sh build/examples
set -u

if [ $# -ne 1 ] || [ ! -x "$1/http_server" ]; then
    echo "usage: $0 BUILD_DIR_OF_EXAMPLES   (holding http_server: make examples)" >&2
    exit 2
fi
command -v curl >/dev/null || {
    echo "$0: curl missing" >&2
    exit 1
}
build=$(cd "$1" && pwd) || exit 2
CONNS=${CONNS:-300}
FDS=${FDS:-256}
HEADER_TIMEOUT=${HEADER_TIMEOUT:-10}
DRIP=${DRIP:-0.3}
GETS=${GETS:-3}
GAP=${GAP:-2}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slowloris.XXXXXX") || exit 1
pids=()
cleanup() {
    local p
    for p in ${pids[@]+"${pids[@]}"}; do
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

(ulimit -n "$FDS" && exec "$build/http_server" --header-timeout "$HEADER_TIMEOUT" 0 127.0.0.1) \
    >"$tmp/server.out" 2>"$tmp/server.err" &
server=$!
pids+=("$server")
port=
for ((i = 0; i < 50; i++)); do
    if [[ $(head -n 1 "$tmp/server.out" 2>/dev/null) =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
        port=${BASH_REMATCH[1]}
        break
    fi
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "$0: http_server did not start: $(cat "$tmp/server.err")" >&2
    exit 1
fi

# the slowloris: CONNS connections in this one process, a byte each per
# DRIP seconds; a write that fails (the server closed it) reconnects
attack() {
    local -a fds
    local i fd opened=0
    trap '' PIPE
    for ((i = 0; i < CONNS; i++)); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ' >&"$fd"
        fds[i]=$fd
    done
    echo >"$tmp/opened"
    for (( ; ; )); do
        for ((i = 0; i < CONNS; i++)); do
            fd=${fds[i]}
            printf a 1>&"$fd" 2>/dev/null && continue
            exec {fd}>&-
            exec {fd}<>"/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ' >&"$fd"
            fds[i]=$fd
            opened=$((opened + 1))
        done
        echo "$opened" >"$tmp/reopened"
        sleep "$DRIP"
    done
}
attack 2>/dev/null &
pids+=("$!")
for ((i = 0; i < 600; i++)); do
    [ -e "$tmp/opened" ] && break
    sleep 0.1
done
sleep 1 # a few drips: the server has accepted all it can

echo "http_server (ulimit -n $FDS, --header-timeout $HEADER_TIMEOUT) under $CONNS drip-fed connections" \
    "(a byte every $DRIP s each), a normal GET every $GAP s after the last:"
for ((g = 1; g <= GETS; g++)); do
    held=("/proc/$server/fd"/*)
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 120 "http://127.0.0.1:$port/")
    echo "  GET $g: status ${out% *}, ${out#* } s (bound $HEADER_TIMEOUT + 1 s); the server held ${#held[@]} descriptors when it began"
    [ "$g" -lt "$GETS" ] && sleep "$GAP"
done
echo "  the slowloris reopened $(cat "$tmp/reopened" 2>/dev/null || echo 0) connections the server had closed"
