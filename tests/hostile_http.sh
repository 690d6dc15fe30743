#!/usr/bin/env bash
# hostile_http.sh BUILD_DIR -- http_server against hostile clients.
#
# Starts BUILD_DIR/http_server on 127.0.0.1, port 0, with small timeouts
# (--header-timeout 1 --keepalive-timeout 2 --write-timeout 1), and sends
# it raw bytes through bash's /dev/tcp:
#   - requests RFC 9110 / 9112 say to refuse: each gets its status (400,
#     or 501 / 505 / 413 / 431) and exactly one response, then the close;
#   - a request smuggled behind a bare LF: answered once, with 400;
#   - a request with LF-only line ends: refused with 400 at once;
#   - a header drip-fed a byte every 0.3 s: closed at the header timeout
#     (between 0.8 and 3 s), while a normal client is served meanwhile;
#   - a connection that says nothing, and an idle kept-alive one: closed
#     at the header timeout and at the keep-alive timeout;
#   - a client that pipelines requests and never reads the responses:
#     dropped by the write timeout, its writes failing.
# Every client runs under `timeout`: a hang fails its check, never the
# script (about 20 s in all).  The server is stopped with SIGTERM at the
# end and must exit 0 with nothing on stderr (under ASan: no leak).
#
# Prints "ok NAME" or "not ok NAME" (with "# " lines saying why) per
# check, then "N passed, M failed" as the last line.  Exits 0 if all
# passed, 1 if any failed, 2 on a usage error.
#
#   make examples && bash tests/hostile_http.sh build/examples
# shellcheck disable=SC2016,SC2059  # bash -c scripts in single quotes; printf formats as requests
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR_OF_EXAMPLES" >&2
    exit 2
fi
if [ ! -x "$1/http_server" ]; then
    echo "$0: $1/http_server: missing or not executable (run 'make examples' first)" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2

source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
# within NAME LO HI SECONDS: pass if LO <= SECONDS <= HI.
within() {
    if awk -v lo="$2" -v hi="$3" -v t="$4" 'BEGIN { exit !(t >= lo && t <= hi) }'; then
        pass "$1 (${4} s)"
    else
        fail "$1" "expected between $2 and $3 s, got: $4"
    fi
}
# elapsed T0 T1: seconds between two $EPOCHREALTIME readings, 2 decimals.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---- the server ----------------------------------------------------------
"$build/http_server" --header-timeout 1 --keepalive-timeout 2 --write-timeout 1 0 127.0.0.1 \
    >"$tmp/server.out" 2>"$tmp/server.err" &
PID=$!
pids+=("$PID")
PORT=
for ((i = 0; i < 50; i++)); do
    if [[ $(head -n 1 "$tmp/server.out" 2>/dev/null) =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
        PORT=${BASH_REMATCH[1]}
        break
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$PORT" ]; then
    fail "http_server starts" "stdout: $(cat "$tmp/server.out")" "stderr: $(cat "$tmp/server.err")"
    echo "$passed passed, $failed failed"
    exit 1
fi
pass "http_server --header-timeout 1 --keepalive-timeout 2 --write-timeout 1 starts"

# raw FORMAT: send printf FORMAT in one write (a file's, as cat writes
# it: printf writes line by line to a socket, and a server that refuses
# the first line may close before the rest), print what comes back until
# the server closes; exit status 124 if that takes over 5 s.
raw() {
    printf "$1" >"$tmp/request"
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; cat "$2" >&3; cat <&3' raw "$PORT" "$tmp/request"
}

# refused NAME STATUS FORMAT: the request gets STATUS as its only
# response, and the connection is closed at once.
refused() {
    local out rc statuses
    out=$(raw "$3")
    rc=$?
    out=$(tr -d '\r' <<<"$out")
    statuses=$(grep '^HTTP/' <<<"$out" | cut -d' ' -f2 | paste -sd' ')
    if [ $rc = 0 ] && [ "$statuses" = "$2" ]; then
        pass "$1: $2, one response, closed"
    else
        fail "$1: $2, one response, closed" "exit status $rc (124: no close within 5 s)" "statuses: $statuses" "$out"
    fi
}

# ---- a) control characters in a field value (RFC 9110 5.5) -------------
refused "NUL in a header value" 400 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n'
refused "CR in a header value" 400 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n'
refused "another control character (0x01) in a header value" 400 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n'

# ---- b) framing: bare LF, Content-Length, Transfer-Encoding, obs-fold --
refused "bare LF hiding a Content-Length (request smuggling)" 400 \
    'GET / HTTP/1.1\r\nHost: x\nContent-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'
refused "bare LF ending the head" 400 'GET / HTTP/1.1\r\nHost: x\r\n\n'
refused "bare CR ending the request line" 400 'GET / HTTP/1.1\rHost: x\r\n\r\n'
refused "Content-Length with junk (5x)" 400 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello'
refused "Content-Length with a sign (+5)" 400 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello'
refused "Content-Length empty" 400 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n'
refused "two differing Content-Lengths" 400 \
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'
refused "Content-Length above 1 MiB" 413 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n'
refused "Transfer-Encoding: chunked (not implemented)" 501 \
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
refused "Transfer-Encoding not ending in chunked" 400 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n'
refused "Transfer-Encoding with Content-Length" 400 \
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
refused "Transfer-Encoding in HTTP/1.0" 400 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n'
refused "obs-fold (a line starting with a space)" 400 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'
refused "whitespace between a field name and its colon" 400 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'

out=$(raw 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    tr -d '\r' | grep '^HTTP/' | paste -sd' ')
check "a body skipped by its Content-Length, the next request answered" "HTTP/1.1 405 Method Not Allowed HTTP/1.1 200 OK" "$out"

# ---- c) Host (RFC 9112 3.2) ---------------------------------------------
refused "two Host fields" 400 'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n'
refused "HTTP/1.1 without Host" 400 'GET / HTTP/1.1\r\nUser-Agent: t\r\n\r\n'
refused "a Host that is no host" 400 'GET / HTTP/1.1\r\nHost: x y/z\r\n\r\n'

# ---- d) LF-only line ends: refused at once, never left hanging ----------
refused "LF-only request" 400 'GET / HTTP/1.1\nHost: x\n\n'
refused "LF-only HTTP/1.0 request" 400 'GET / HTTP/1.0\n\n'

# ---- more refusals: the version, a head over 8 KiB ----------------------
refused "HTTP/2.0 on the text protocol" 505 'GET / HTTP/2.0\r\nHost: x\r\n\r\n'
refused "a head over 8 KiB" 431 "GET / HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n"

# ---- e) timeouts ----------------------------------------------------------
# closed_after FORMAT [DRIP]: connect, send FORMAT, then (with DRIP) one
# byte every 0.3 s; print the seconds until the server closed (10 s at most).
closed_after() {
    timeout 10 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        t0=$EPOCHREALTIME
        printf "$2" >&3
        if [ -n "$3" ]; then
            (trap "" PIPE; while printf X >&3 2>/dev/null; do sleep 0.3; done) &
        fi
        cat <&3 >/dev/null 2>&1
        t1=$EPOCHREALTIME
        [ -n "$3" ] && kill $! 2>/dev/null
        awk -v a="$t0" -v b="$t1" "BEGIN { printf \"%.2f\", b - a }"' closed "$PORT" "$1" "${2-}"
}

# a drip-fed header, with a normal client served while it drips
closed_after 'GET / HTTP/1.1\r\nHost: x\r\nX-Drip: ' drip >"$tmp/drip" &
drip=$!
sleep 0.4
t0=$EPOCHREALTIME
out=$(raw 'GET / HTTP/1.0\r\n\r\n' | tr -d '\r' | tail -n 1)
t1=$EPOCHREALTIME
check "a normal client served while a header drips ($(elapsed "$t0" "$t1") s)" "Hello, World!" "$out"
wait "$drip"
within "a header drip-fed a byte every 0.3 s: closed at the header timeout" 0.8 3 "$(cat "$tmp/drip")"

within "a connection that sends nothing: closed at the header timeout" 0.8 1.8 "$(closed_after '')"

# an idle kept-alive connection: its response at once, the close at 2 s
within "an idle kept-alive connection: closed at the keep-alive timeout" 1.6 3.5 \
    "$(closed_after 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')"

# a client that pipelines requests and reads nothing: the responses fill
# the buffers, the server's output waits, and after the write timeout
# the connection is dropped -- the client's writes fail (EPIPE or
# ECONNRESET), where they would block forever
t0=$EPOCHREALTIME
rc=$(timeout 20 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    yes $'"'"'GET / HTTP/1.1\r\nHost: x\r\n\r'"'"' | head -c 200000000 >&3 2>/dev/null
    echo "${PIPESTATUS[1]}"' nonreader "$PORT")
t1=$EPOCHREALTIME
if [ -n "$rc" ] && [ "$rc" != 0 ]; then
    pass "a client that never reads its responses: dropped by the write timeout ($(elapsed "$t0" "$t1") s)"
else
    fail "a client that never reads its responses: dropped by the write timeout" \
        "the writer's exit status: '${rc}' (0: all 200 MB taken; empty: still blocked after 20 s)"
fi

out=$(raw 'GET / HTTP/1.0\r\n\r\n' | tr -d '\r' | tail -n 1)
check "the server goes on serving after all that" "Hello, World!" "$out"

# ---- stop ------------------------------------------------------------------
kill -TERM "$PID"
for ((i = 0; i < 50; i++)); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
    fail "http_server stops on SIGTERM" "still running 5 s after SIGTERM"
else
    wait "$PID"
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$tmp/server.err" ]; then
        fail "http_server stops on SIGTERM" "exit status $rc" "stderr: $(cat "$tmp/server.err")"
    else
        pass "http_server stops on SIGTERM, exit 0, nothing on stderr"
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
