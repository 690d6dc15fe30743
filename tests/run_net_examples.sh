#!/usr/bin/env bash
# run_net_examples.sh BUILD_DIR -- check the network examples end to end.
#
# Starts echo_server, http_server and kv_server from BUILD_DIR on
# 127.0.0.1, port 0 (the port is read from the "listening on HOST:PORT"
# line each prints first, waiting at most 5 s), and drives them with
# echo_client and fetch from BUILD_DIR, curl, redis-cli and
# redis-benchmark, and raw bytes through bash's /dev/tcp (pipelining,
# malformed requests, and a client resetting its connection mid-request,
# after which the server must go on serving).  A check whose
# client tool is not installed is skipped with a "skip: TOOL missing"
# line; nothing is installed.  Every step runs under `timeout`; every
# server is stopped with SIGTERM at the end (and must then exit 0 with
# nothing on stderr: under ASan that includes LeakSanitizer), or killed
# on the way out if something went wrong.
#
# Prints "ok NAME" or "not ok NAME" (with "# " lines saying why) per
# check, then "N passed, M failed" as the last line.  Exits 0 if all
# passed, 1 if any failed, 2 on a usage error.
#
#   make examples && bash tests/run_net_examples.sh build/examples
#   (any directory holding the five binaries will do, e.g. ASan builds)
#
# Tools: curl (http_server checks), redis-cli and redis-benchmark
# (kv_server checks; Debian package redis-tools).
# shellcheck disable=SC2016  # '$' in single quotes: RESP bytes and bash -c scripts
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR_OF_EXAMPLES" >&2
    exit 2
fi
if [ ! -d "$1" ]; then
    echo "$0: $1: no such directory (run 'make examples' first)" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
for exe in echo_server echo_client http_server fetch kv_server; do
    if [ ! -x "$build/$exe" ]; then
        echo "$0: $build/$exe: missing or not executable" >&2
        exit 2
    fi
done

source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
HOST=127.0.0.1
T="timeout 10"

have() {
    if command -v "$1" >/dev/null 2>&1; then
        return 0
    fi
    echo "skip: $1 missing ($2)"
    return 1
}

# start_as LABEL NAME ARG...: run BUILD_DIR/NAME ARG... (one of them the
# port, 0) in the background, its output in $tmp/LABEL.out and .err; set
# PORT and PID.  Returns 1 (after reporting "not ok LABEL starts") if no
# "listening on 127.0.0.1:PORT" line appears within 5 s.
start_as() {
    local label=$1 name=$2 i line
    shift 2
    PORT=
    "$build/$name" "$@" >"$tmp/$label.out" 2>"$tmp/$label.err" &
    PID=$!
    pids+=("$PID")
    for ((i = 0; i < 50; i++)); do
        line=$(head -n 1 "$tmp/$label.out" 2>/dev/null)
        if [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" != 0 ]; then
            PORT=${BASH_REMATCH[1]}
            pass "$label starts"
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "$label starts" "no 'listening on $HOST:PORT' line within 5 s" \
        "stdout: $(cat "$tmp/$label.out")" "stderr: $(cat "$tmp/$label.err")"
    return 1
}

# start_server NAME [OPTION...]: start_as NAME NAME OPTION... 0 127.0.0.1.
start_server() {
    local name=$1
    shift
    start_as "$name" "$name" "$@" 0 "$HOST"
}

# stop_server LABEL PID: SIGTERM; it must exit 0 within 5 s with nothing
# on stderr ($tmp/LABEL.err) but slow-step warnings.
stop_server() {
    local name=$1 pid=$2 i rc
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        fail "$name stops on SIGTERM" "still running 5 s after SIGTERM: killed"
        return
    fi
    wait "$pid"
    rc=$?
    # a debug build's slow-step warnings (a loaded machine) are not errors
    if [ $rc -ne 0 ] || grep -qv "^asyncio.h: Executing " "$tmp/$name.err"; then
        fail "$name stops on SIGTERM" "exit status $rc" "stderr: $(cat "$tmp/$name.err")"
    else
        pass "$name stops on SIGTERM"
    fi
}

# raw PORT FORMAT: send printf FORMAT to 127.0.0.1:PORT through bash's
# /dev/tcp and print what comes back until the server closes (or 10 s).
raw() {
    timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf "$2" >&3; cat <&3' raw "$1" "$2"
}

# reset PORT FORMAT: send printf FORMAT, leave the reply unread and close:
# the unread data makes the kernel reset the connection (RST), so the
# server's next read fails with ECONNRESET.
reset() {
    timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf "$2" >&3; sleep 0.3; exec 3>&-' reset "$1" "$2"
}

# ---- echo_server + echo_client -----------------------------------------
if start_server echo_server; then
    out=$($T "$build/echo_client" "$HOST" "$PORT" hello "two words" "" 2>&1; echo "rc=$?")
    check "echo_client echoes each message" $'hello\ntwo words\n\nrc=0' "$out"

    long=$(head -c 60000 /dev/zero | tr '\0' x)
    out=$($T "$build/echo_client" "$HOST" "$PORT" "$long" short 2>&1; echo "rc=$?")
    check "echo_client: a 60000-byte line comes back whole" "$long"$'\nshort\nrc=0' "$out"

    out=$($T "$build/echo_client" localhost "$PORT" via-localhost 2>&1; echo "rc=$?")
    check "echo_client resolves localhost" $'via-localhost\nrc=0' "$out"

    reset "$PORT" 'reset me'
    out=$($T "$build/echo_client" "$HOST" "$PORT" still-there 2>&1; echo "rc=$?")
    check "echo_server goes on after a client resets its connection" $'still-there\nrc=0' "$out"

    # SIGUSR1: the await tree on stderr, an idle client's handler in it
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && sleep 2' idle "$PORT" &
    idle=$!
    sleep 0.5
    kill -USR1 "$PID"
    sleep 0.5
    tree=$(cat "$tmp/echo_server.err")
    if [[ $tree == *"serve  examples/serve.h:"* && $tree == *"Task 'connection'"* && $tree == *"handle_echo  examples/echo_server.c:"* &&
          $tree == *"waits: fd "*" readable"* ]]; then
        pass "echo_server on SIGUSR1: its await tree on stderr, the idle client's handler waiting for its fd"
    else
        fail "echo_server on SIGUSR1: its await tree on stderr, the idle client's handler waiting for its fd" "$tree"
    fi
    : >"$tmp/echo_server.err"
    wait "$idle" 2>/dev/null

    closed_port=$PORT
    stop_server echo_server "$PID"

    # --timeout: a silent client is closed after it, an echoing one is not
    if start_as "echo_server --timeout 1" echo_server --timeout 1 0 "$HOST"; then
        t0=$(date +%s%N)
        timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && cat <&3' silent "$PORT"
        ms=$((($(date +%s%N) - t0) / 1000000))
        out=$($T "$build/echo_client" "$HOST" "$PORT" still-served 2>&1; echo "rc=$?")
        if [ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] && [ "$out" = $'still-served\nrc=0' ]; then
            pass "echo_server --timeout 1: a silent client closed after ${ms} ms, others served"
        else
            fail "echo_server --timeout 1: a silent client closed after ~1 s, others served" "closed after $ms ms" "$out"
        fi
        stop_server "echo_server --timeout 1" "$PID"
    fi

    out=$($T "$build/echo_client" "$HOST" "$closed_port" hello 2>&1)
    rc=$?
    if [ $rc -eq 1 ] && [[ $out == *"Connection refused"* ]]; then
        pass "echo_client to a closed port: exit 1, Connection refused"
    else
        fail "echo_client to a closed port: exit 1, Connection refused" "exit status $rc" "output: $out"
    fi
else
    closed_port=
fi

# ---- http_server: curl, raw bytes, fetch -------------------------------
if start_server http_server; then
    url=http://127.0.0.1:$PORT
    if have curl "http_server checks through curl"; then
        out=$($T curl -s -i --max-time 5 "$url/some/path" | tr -d '\r')
        want=$'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 14\n\nHello, World!'
        check "curl -i: 200, headers, body" "$want" "$out"

        err=$($T curl -sv --max-time 5 -o /dev/null -o /dev/null "$url/one" "$url/two" 2>&1)
        if grep -Eqi 're-?using existing' <<<"$err" && [ "$(grep -c '^< HTTP/1.1 200 OK' <<<"$err")" = 2 ]; then
            pass "curl: two requests on one kept-alive connection"
        else
            fail "curl: two requests on one kept-alive connection" "curl -v said:" "$err"
        fi

        out=$($T curl -s -I --max-time 5 "$url/" | tr -d '\r')
        check "curl -I (HEAD): headers only" $'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 14' "$out"

        out=$($T curl -s -i --max-time 5 -H 'Connection: close' "$url/" | tr -d '\r' | grep -i '^connection:')
        check "curl with Connection: close gets Connection: close" "Connection: close" "$out"

        out=$($T curl -s -i --max-time 5 -0 "$url/" | tr -d '\r' | grep -i '^connection:')
        check "curl -0 (HTTP/1.0): Connection: close" "Connection: close" "$out"

        out=$($T curl -s -i --max-time 5 -0 -H 'Connection: keep-alive' "$url/" | tr -d '\r' | grep -i '^connection:')
        check "curl -0 with keep-alive: Connection: keep-alive" "Connection: keep-alive" "$out"

        out=$($T curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X DELETE "$url/")
        check "curl -X DELETE: 405" "405" "$out"
    fi

    # three pipelined requests in one write; the last asks to close
    req='GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    out=$(raw "$PORT" "$req" | tr -d '\r')
    one=$'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 14\n\nHello, World!'
    last=$'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 14\nConnection: close\n\nHello, World!'
    check "http pipelining: three requests in one segment, three replies in order" "$one"$'\n'"$one"$'\n'"$last" "$out"

    out=$(raw "$PORT" 'this is not HTTP\r\n\r\n' | tr -d '\r' | head -n 1)
    check "http: garbage gets 400" "HTTP/1.1 400 Bad Request" "$out"

    out=$(raw "$PORT" 'GET / HTTP/1.1\r\n\r\n' | tr -d '\r' | head -n 1)
    check "http: HTTP/1.1 without Host gets 400" "HTTP/1.1 400 Bad Request" "$out"

    out=$($T "$build/fetch" "$url/" "$url/a" "http://localhost:$PORT/b" 2>&1)
    rc=$?
    re='^http://(127\.0\.0\.1|localhost):[0-9]+/[ab]?: 200 14 bytes in [0-9]+\.[0-9]{3} s$'
    ok=1
    [ $rc -eq 0 ] || ok=0
    [ "$(wc -l <<<"$out")" = 4 ] || ok=0
    while IFS= read -r line; do [[ $line =~ $re ]] || ok=0; done < <(head -n 3 <<<"$out")
    [[ $(tail -n 1 <<<"$out") =~ ^total:\ [0-9]+\.[0-9]{3}\ s$ ]] || ok=0
    [[ $(head -n 1 <<<"$out") == "$url/: "* && $(sed -n 3p <<<"$out") == "http://localhost:$PORT/b: "* ]] || ok=0
    if [ $ok = 1 ]; then
        pass "fetch: three URLs, three lines in argument order, then total"
    else
        fail "fetch: three URLs, three lines in argument order, then total" "exit status $rc" "$out"
    fi

    if [ -n "$closed_port" ]; then
        out=$($T "$build/fetch" "$url/" "http://127.0.0.1:$closed_port/" 2>&1)
        rc=$?
        if [ $rc -eq 1 ] && [[ $out == *"http://127.0.0.1:$closed_port/: error: connect to 127.0.0.1 port $closed_port: Connection refused"* ]] &&
            [[ $out == *"$url/: 200 14 bytes"* ]]; then
            pass "fetch: one URL refused: exit 1, its error, the other still fetched"
        else
            fail "fetch: one URL refused: exit 1, its error, the other still fetched" "exit status $rc" "$out"
        fi
    fi

    # last: a server that fails this hangs every later request
    # a reply left unread, then a reset while a request head is half read
    reset "$PORT" 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HT'
    out=$(raw "$PORT" 'GET / HTTP/1.0\r\n\r\n' | tr -d '\r' | tail -n 1)
    check "http_server goes on after a client resets mid-request" "Hello, World!" "$out"

    stop_server http_server "$PID"
fi

# ---- http_server -j 2: a loop per thread, one port ----------------------
if start_server http_server -j 2; then
    # two listening sockets on the port (SO_REUSEPORT), in /proc/net/tcp:
    # local address 0100007F:PORT in hex, state 0A (LISTEN)
    hexport=$(printf '%04X' "$PORT")
    listeners=$(awk -v a="0100007F:$hexport" '$2 == a && $4 == "0A"' /proc/net/tcp | wc -l)
    check "http_server -j 2: two sockets listen on the port" 2 "$listeners"
    ok=0
    for i in $(seq 1 40); do
        out=$(raw "$PORT" 'GET / HTTP/1.0\r\n\r\n' | tr -d '\r' | tail -n 1)
        [ "$out" = "Hello, World!" ] && ok=$((ok + 1))
    done
    check "http_server -j 2: 40 connections, 40 answers" 40 "$ok"
    stop_server http_server "$PID"
fi

# ---- TLS: https_server, echo_server --tls, fetch https://, starttls -----
# A throwaway CA, and two server certificates it signs -- one for
# localhost and 127.0.0.1, one for other.example -- made with the openssl
# command in $tmp/tls (removed on exit): no key is ever committed.
tls=$tmp/tls
certs=
# make_cert NAME SUBJECT_ALT_NAMES SERIAL: NAME.key and NAME.pem, signed by the CA
make_cert() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
        -keyout "$tls/$1.key" -out "$tls/$1.csr" &&
        printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$2" >"$tls/$1.ext" &&
        openssl x509 -req -in "$tls/$1.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -set_serial "$3" -days 1 \
            -extfile "$tls/$1.ext" -out "$tls/$1.pem"
}
if have openssl "TLS checks: no throwaway certificates, no s_client"; then
    mkdir -p "$tls"
    if { $T openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=run_net_examples-throwaway-CA -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign -keyout "$tls/ca.key" -out "$tls/ca.pem" &&
        make_cert localhost DNS:localhost,IP:127.0.0.1 1 && make_cert other.example DNS:other.example 2; } \
        >"$tls/log" 2>&1; then
        certs=1
    else
        fail "openssl: a throwaway CA and two certificates" "$(cat "$tls/log")"
    fi
fi
ca=$tls/ca.pem

# tls_echo PORT LINE: send LINE through openssl s_client (verifying the
# server as localhost against the CA), wait for it to come back, then
# close; s_client's output in $tmp/sc.out, its summary in $tmp/sc.err.
tls_echo() {
    local i
    : >"$tmp/sc.out"
    {
        printf '%s\n' "$2"
        for ((i = 0; i < 50; i++)); do
            grep -qxF -- "$2" "$tmp/sc.out" && break
            sleep 0.1
        done
    } | $T openssl s_client -brief -no_ign_eof -connect "127.0.0.1:$1" -servername localhost \
        -verify_return_error -CAfile "$ca" >"$tmp/sc.out" 2>"$tmp/sc.err"
}

if [ -n "$certs" ] && [ -x "$build/https_server" ] &&
    start_as https_server https_server 0 "$tls/localhost.pem" "$tls/localhost.key" "$HOST"; then
    url=https://localhost:$PORT
    ok200=$'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 14\n\nHello, World!'
    if have curl "https_server checks through curl"; then
        out=$($T curl -s -i --max-time 5 --cacert "$ca" "$url/some/path" | tr -d '\r')
        check "curl --cacert https://localhost: 200, headers, body" "$ok200" "$out"

        err=$($T curl -sv --max-time 5 --cacert "$ca" -o /dev/null -o /dev/null -o /dev/null \
            "$url/one" "$url/two" "$url/three" 2>&1)
        if [ "$(grep -Eci 're-?using existing' <<<"$err")" = 2 ] && [ "$(grep -c '^< HTTP/1.1 200 OK' <<<"$err")" = 3 ] &&
            grep -Eq 'SSL connection using TLSv1\.[23]' <<<"$err"; then
            pass "curl https: three requests on one kept-alive TLS connection ($(grep -Eo 'TLSv1\.[23] / [A-Z0-9_-]+' <<<"$err" | head -n 1))"
        else
            fail "curl https: three requests on one kept-alive TLS connection" "curl -v said:" "$err"
        fi

        out=$($T curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$ca" "https://127.0.0.1:$PORT/")
        check "curl https://127.0.0.1 (the certificate names the address too): 200" 200 "$out"

        $T curl -s -o /dev/null --max-time 5 "$url/"
        check "curl without --cacert: the certificate is refused (exit 60)" 60 "$?"
    fi

    printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' |
        $T openssl s_client -brief -ign_eof -connect "127.0.0.1:$PORT" -servername localhost -verify_return_error \
            -CAfile "$ca" >"$tmp/sc.out" 2>"$tmp/sc.err"
    rc=$?
    out=$(tr -d '\r' <"$tmp/sc.out")
    want=$'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 14\nConnection: close\n\nHello, World!'
    if [ $rc -eq 0 ] && [ "$out" = "$want" ] && grep -qx 'Verification: OK' "$tmp/sc.err" &&
        grep -Eqx 'Protocol version: TLSv1\.[23]' "$tmp/sc.err"; then
        pass "openssl s_client: verified, a GET with Connection: close answered, then closed"
    else
        fail "openssl s_client: verified, a GET with Connection: close answered, then closed" "exit status $rc" \
            "stdout: $out" "stderr: $(cat "$tmp/sc.err")"
    fi

    if have wrk "https_server load through wrk"; then
        out=$($T wrk -t1 -c10 -d1s "https://127.0.0.1:$PORT/" 2>&1)
        n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$out")
        if [ "${n:-0}" -gt 0 ] && ! grep -Eq 'Socket errors|Non-2xx' <<<"$out"; then
            pass "wrk -c10 over TLS: $n requests in 1 s, no errors"
        else
            fail "wrk -c10 over TLS: requests answered, no errors" "$out"
        fi
    fi

    out=$($T "$build/fetch" --cacert "$ca" "$url/" "https://127.0.0.1:$PORT/a" 2>&1)
    rc=$?
    re='^https://(localhost|127\.0\.0\.1):[0-9]+/a?: 200 14 bytes in [0-9]+\.[0-9]{3} s over TLSv1\.[23]$'
    if [ $rc -eq 0 ] && [ "$(wc -l <<<"$out")" = 3 ] && [[ $(sed -n 1p <<<"$out") =~ $re ]] &&
        [[ $(sed -n 2p <<<"$out") =~ $re ]] && [[ $(sed -n 1p <<<"$out") == "$url/: "* ]] &&
        [[ $(tail -n 1 <<<"$out") =~ ^total:\ [0-9]+\.[0-9]{3}\ s$ ]]; then
        pass "fetch --cacert: two https URLs, 200 over TLS each, in argument order"
    else
        fail "fetch --cacert: two https URLs, 200 over TLS each, in argument order" "exit status $rc" "$out"
    fi

    out=$($T "$build/fetch" "$url/" 2>&1)
    rc=$?
    check "fetch https without --cacert (the system's CAs): exit 1, verify failed" \
        "1 $url/: error: TLS handshake: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate" \
        "$rc $(grep error: <<<"$out")"

    out=$($T "$build/fetch" --cacert "$tls/nosuch.pem" "$url/" 2>&1)
    rc=$?
    if [ $rc -eq 1 ] && [[ $out == "fetch: $tls/nosuch.pem: tls_client: cannot load the CA file"* ]]; then
        pass "fetch --cacert with a missing file: exit 1, said before fetching"
    else
        fail "fetch --cacert with a missing file: exit 1, said before fetching" "exit status $rc" "$out"
    fi

    # a client that speaks plain HTTP to the TLS port fails its handshake;
    # the server goes on
    raw "$PORT" 'GET / HTTP/1.0\r\n\r\n' >/dev/null 2>&1
    out=$($T "$build/fetch" --cacert "$ca" "$url/after" 2>&1)
    check "https_server goes on after a plain-text client" "$url/after: 200" "$(head -n 1 <<<"$out" | cut -d' ' -f1,2)"

    stop_server https_server "$PID"
fi

if [ -n "$certs" ] && [ -x "$build/https_server" ]; then
    out=$($T "$build/https_server" 0 "$tls/nosuch.pem" "$tls/nosuch.key" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 1 ] && [[ $out == "https_server: tls_server: cannot load the certificate chain"* ]]; then
        pass "https_server with a missing certificate: exit 1, OpenSSL's reason"
    else
        fail "https_server with a missing certificate: exit 1, OpenSSL's reason" "exit status $rc" "$out"
    fi
fi

# -j 2: one server context, two loops
if [ -n "$certs" ] && [ -x "$build/https_server" ] && have curl "https_server -j 2 through curl" &&
    start_as "https_server -j 2" https_server -j 2 0 "$tls/localhost.pem" "$tls/localhost.key" "$HOST"; then
    urls=()
    for i in $(seq 1 12); do urls+=("https://localhost:$PORT/$i"); done
    out=$($T curl -s --max-time 5 --cacert "$ca" -H 'Connection: close' "${urls[@]}")
    check "https_server -j 2: 12 connections, 12 answers" 12 "$(grep -c '^Hello, World!$' <<<"$out")"
    stop_server "https_server -j 2" "$PID"
fi

# a certificate for another host: verification fails, clearly
if [ -n "$certs" ] && [ -x "$build/https_server" ] &&
    start_as "https_server (other.example)" https_server 0 "$tls/other.example.pem" "$tls/other.example.key" "$HOST"; then
    out=$($T "$build/fetch" --cacert "$ca" "https://localhost:$PORT/" 2>&1)
    rc=$?
    check "fetch from a server whose certificate is for other.example: exit 1, hostname mismatch" \
        "1 https://localhost:$PORT/: error: TLS handshake: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for 'localhost'." \
        "$rc $(grep error: <<<"$out")"
    if have curl "https_server (other.example) through curl"; then
        out=$($T curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$ca" \
            --resolve "other.example:$PORT:127.0.0.1" "https://other.example:$PORT/")
        check "then curl asking for other.example: 200" 200 "$out"
    fi
    stop_server "https_server (other.example)" "$PID"
fi

if [ -n "$certs" ] && start_as "echo_server --tls" echo_server --tls "$tls/localhost.pem" "$tls/localhost.key" 0 "$HOST"; then
    tls_echo "$PORT" "hello over TLS"
    rc=$?
    if [ $rc -eq 0 ] && [ "$(cat "$tmp/sc.out")" = "hello over TLS" ] && grep -qx 'Verification: OK' "$tmp/sc.err"; then
        pass "openssl s_client to echo_server --tls: verified, the line echoed"
    else
        fail "openssl s_client to echo_server --tls: verified, the line echoed" "exit status $rc" \
            "stdout: $(cat "$tmp/sc.out")" "stderr: $(cat "$tmp/sc.err")"
    fi

    out=$($T "$build/echo_client" "$HOST" "$PORT" plain 2>&1)
    rc=$?
    tls_echo "$PORT" "still there"
    if [ $rc -eq 1 ] && [ "$(cat "$tmp/sc.out")" = "still there" ]; then
        pass "echo_server --tls: a plain-text client fails, the server goes on"
    else
        fail "echo_server --tls: a plain-text client fails, the server goes on" "echo_client: exit status $rc, $out" \
            "s_client: $(cat "$tmp/sc.out") $(cat "$tmp/sc.err")"
    fi
    stop_server "echo_server --tls" "$PID"
fi

# starttls: self-contained (its own throwaway certificate); the version
# and cipher are whatever the OpenSSL at hand agrees, the same both ways
if [ -x "$build/starttls" ]; then
    mkdir -p "$tmp/sttmp"
    out=$(TMPDIR="$tmp/sttmp" $T "$build/starttls" 2>"$tmp/starttls.err" </dev/null)
    rc=$?
    want="-- a client that trusts the certificate, for localhost:
S: HELLO plain text here; send STARTTLS to encrypt
C: STATUS
S: PLAIN anyone on the path can read this
C: STARTTLS
S: OK
-- TLS handshake done: VERSION, CIPHER; the certificate is valid for localhost
C: STATUS
S: ENCRYPTED VERSION CIPHER
C: QUIT
S: BYE
-- a client that expects the certificate of other.example:
S: HELLO plain text here; send STARTTLS to encrypt
C: STARTTLS
S: OK
-- TLS handshake failed: TLS handshake: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch, certificate is not valid for 'other.example'."
    client=$(sed -n 's/^-- TLS handshake done: \(TLSv1\.[23]\), \([A-Z0-9_-]*\); .*/\1 \2/p' <<<"$out")
    server=$(sed -n 's/^S: ENCRYPTED \(TLSv1\.[23]\) \([A-Z0-9_-]*\)$/\1 \2/p' <<<"$out")
    got=$(sed -E 's/TLSv1\.[23], [A-Z0-9_-]+;/VERSION, CIPHER;/; s/^S: ENCRYPTED TLSv1\.[23] [A-Z0-9_-]+$/S: ENCRYPTED VERSION CIPHER/' <<<"$out")
    if [ $rc -eq 0 ] && [ ! -s "$tmp/starttls.err" ] && [ "$got" = "$want" ] && [ -n "$client" ] &&
        [ "$client" = "$server" ] && [ -z "$(ls -A "$tmp/sttmp")" ]; then
        pass "starttls: plain text, STARTTLS, OK, then encrypted lines ($client both ways); another host's name refused"
    else
        fail "starttls: plain text, STARTTLS, OK, then encrypted lines; another host's name refused" "exit status $rc" \
            "$out" "stderr: $(cat "$tmp/starttls.err")" "left in TMPDIR: $(ls -A "$tmp/sttmp")"
    fi
fi

# ---- graceful_shutdown: goodbye to every client on SIGTERM --------------
if [ -x "$build/graceful_shutdown" ] && start_server graceful_shutdown; then
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'hi\n' >&3 && timeout 10 cat <&3) >"$tmp/gs1" 2>&1 &
    c1=$!
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && timeout 10 cat <&3) >"$tmp/gs2" 2>&1 &
    c2=$!
    for ((i = 0; i < 50; i++)); do [ -s "$tmp/gs1" ] && break; sleep 0.1; done
    sleep 0.2
    stop_server graceful_shutdown "$PID"
    wait "$c1" "$c2"
    check "graceful_shutdown: each client is told goodbye, then the connection ends" \
        $'hi\ngoodbye\n--\ngoodbye' "$(cat "$tmp/gs1"; echo --; cat "$tmp/gs2")"
    check "graceful_shutdown: reports what it waited for" "shutdown: 2 connections closed, 0 too slow" \
        "$(tail -n 1 "$tmp/graceful_shutdown.out")"
fi

# ---- kv_server: redis-cli, redis-benchmark, raw RESP -------------------
if start_server kv_server; then
    # RESP pipelining without any tool: four commands in one segment
    req='*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*1\r\n$4\r\nQUIT\r\n'
    out=$(raw "$PORT" "$req")
    check "kv: pipelined RESP and inline commands, replies in order" \
        $'+PONG\r\n+OK\r\n$5\r\nhello\r\n+PONG\r\n+OK\r' "$out"

    if have redis-cli "kv_server checks through redis-cli"; then
        cli() { $T redis-cli -h 127.0.0.1 -p "$PORT" "$@" 2>&1; }
        check "redis-cli PING" "PONG" "$(cli ping)"
        check "redis-cli SET, GET" $'OK\nbar' "$(cli set foo bar; cli get foo)"
        check "redis-cli INCR twice" $'1\n2' "$(cli incr counter; cli incr counter)"
        check "redis-cli DEL, EXISTS" $'1\n0' "$(cli del foo; cli exists foo)"
        check "redis-cli unknown command" "ERR unknown command 'nosuchcmd'" "$(cli nosuchcmd arg)"
        check "redis-cli SET with EX, GET" $'OK\nv' "$(cli set ttl v ex 100; cli get ttl)"

        # redis-cli --pipe: raw RESP, all written before any reply is read
        { for i in $(seq 1 100); do printf '*3\r\n$3\r\nSET\r\n$%d\r\nkey%d\r\n$1\r\nx\r\n*2\r\n$4\r\nINCR\r\n$3\r\nhit\r\n' $((3 + ${#i})) "$i"; done; } >"$tmp/pipe.resp"
        out=$($T redis-cli -h 127.0.0.1 -p "$PORT" --pipe <"$tmp/pipe.resp" 2>&1)
        if [[ $out == *"errors: 0, replies: 200"* ]] && [ "$(cli get hit)" = 100 ] && [ "$(cli get key77)" = x ]; then
            pass "redis-cli --pipe: 200 pipelined commands"
        else
            fail "redis-cli --pipe: 200 pipelined commands" "$out" "GET hit: $(cli get hit)"
        fi

        out=$(printf 'SET p 41\nINCR p\nGET p\n' | cli)
        check "redis-cli reading commands from stdin" $'OK\n42\n42' "$out"

        check "redis-cli DBSIZE, FLUSHALL" $'105\nOK\n0' "$(cli dbsize; cli flushall; cli dbsize)"
    fi

    if have redis-benchmark "kv_server benchmark runs"; then
        for p in 1 16; do
            $T redis-benchmark -h 127.0.0.1 -p "$PORT" -t ping,set,get,incr -n 2000 -q -P $p >"$tmp/bench.out" 2>&1
            rc=$?
            out=$(tr '\r' '\n' <"$tmp/bench.out")
            lines=$(grep -E '^[A-Z_]+: [0-9.]+ requests per second' <<<"$out")
            zero=$(grep -E '^[A-Z_]+: 0(\.0+)? requests per second' <<<"$out")
            if [ "$rc" -eq 0 ] && [ "$(wc -l <<<"$lines")" = 5 ] && [ -z "$zero" ] && ! grep -q WARNING <<<"$out"; then
                pass "redis-benchmark -P $p ($(awk '{ printf "%s%s %d rps", (NR > 1 ? ", " : ""), $1, $2 }' <<<"$lines"))"
            else
                fail "redis-benchmark -P $p" "exit status $rc" "$(grep -v '^ *$' <<<"$out" | grep -v 'rps=' | tail -n 20)"
            fi
        done
    fi

    # last: a server that fails this hangs every later request
    # a reply left unread, then a reset in the middle of an argument
    reset "$PORT" 'PING\r\n*2\r\n$3\r\nGET\r\n$5\r\nab'
    out=$(raw "$PORT" 'PING\r\nQUIT\r\n')
    check "kv_server goes on after a client resets mid-request" $'+PONG\r\n+OK\r' "$out"

    stop_server kv_server "$PID"
fi

# ---- subprocess: three children at once, as long as the slowest ---------
# Run in a directory holding one file, so that ls's output is known.
if [ -x "$build/subprocess" ]; then
    mkdir -p "$tmp/sp" && : >"$tmp/sp/only-file"
    t0=$(date +%s%N)
    out=$(cd "$tmp/sp" && $T "$build/subprocess" </dev/null 2>"$tmp/sp.err")
    rc=$?
    wall=$((($(date +%s%N) - t0) / 1000000))
    ok=1
    [ $rc -eq 0 ] && [ ! -s "$tmp/sp.err" ] || ok=0
    [ "$(grep -c '^\[exit status 0 after [0-9]*\.[0-9][0-9] s\]$' <<<"$out")" = 3 ] || ok=0
    [[ $(grep -A 2 '^\$ ls$' <<<"$out") =~ ^\$\ ls$'\n'only-file$'\n'\[exit\ status\ 0\ after ]] || ok=0
    [[ $(grep -A 2 '^\$ date$' <<<"$out") =~ ^\$\ date$'\n'[^$'\n']*20[0-9][0-9][^$'\n']*$'\n'\[exit\ status\ 0\ after ]] || ok=0
    # sh finishes last, a second in; the total is about that, not the sum
    last=$(tail -n 4 <<<"$out")
    re=$'^\\$ sh -c \'sleep 1; echo done\'\ndone\n\\[exit status 0 after 1\\.[0-9]{2} s\\]\ntotal: ([0-9]+\\.[0-9]{2}) s \\(the slowest, not the sum\\)$'
    if [[ $last =~ $re ]]; then
        awk -v t="${BASH_REMATCH[1]}" 'BEGIN { exit !(t >= 0.95 && t < 3) }' || ok=0
    else
        ok=0
    fi
    [ "$wall" -lt 3000 ] || ok=0
    if [ $ok = 1 ]; then
        pass "subprocess: ls, date and sh at once: three exit statuses 0, 'done', total ${BASH_REMATCH[1]} s"
    else
        fail "subprocess: ls, date and sh at once: three exit statuses 0, 'done', total ~1 s" \
            "exit status $rc, ${wall} ms" "$out" "stderr: $(cat "$tmp/sp.err")"
    fi

    out=$(cd "$tmp/sp" && $T env PATH=/nonexistent "$build/subprocess" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 1 ] && [[ $out == *"subprocess: create_subprocess_exec: [Errno 2] No such file or directory: 'date'"* ]]; then
        pass "subprocess: a program not found: exit 1, Python's FileNotFoundError text"
    else
        fail "subprocess: a program not found: exit 1, Python's FileNotFoundError text" "exit status $rc" "$out"
    fi
fi

# ---- pipeline: producer | transform | consumer through the loop ---------
if [ -x "$build/pipeline" ]; then
    t0=$(date +%s%N)
    out=$($T "$build/pipeline" </dev/null 2>"$tmp/pl.err")
    rc=$?
    wall=$((($(date +%s%N) - t0) / 1000000))
    want="$(seq 1 1000000 | grep 7 | wc -l)
$(seq 1 1000000 | wc -c) bytes seq 1 1000000 -> grep 7, $(seq 1 1000000 | grep 7 | wc -c) bytes grep 7 -> wc -l
exit statuses: 0 0 0"
    got=$(sed 3d <<<"$out")
    queued=$(sed -n 's/^at most \([0-9]*\) KiB queued for a child at any time$/\1/p' <<<"$out")
    # bounded: the 64 KiB high-water mark plus one 64 KiB piece at most
    if [ $rc -eq 0 ] && [ ! -s "$tmp/pl.err" ] && [ "$got" = "$want" ] && [ -n "$queued" ] &&
        [ "$queued" -le 128 ] && [ "$wall" -lt 5000 ]; then
        pass "pipeline: seq | grep 7 | wc -l through the loop: the shell's result and byte counts, ${queued} KiB queued at most"
    else
        fail "pipeline: seq | grep 7 | wc -l through the loop" "exit status $rc, ${wall} ms" "expected (line 3 aside):" \
            "$want" "got:" "$out" "stderr: $(cat "$tmp/pl.err")"
    fi

    # the consumer leaves early: the pipe breaks upstream as in a shell
    # (sh reports a command killed by SIGPIPE as 141), and at once
    out=$($T "$build/pipeline" 'seq 1 1000000000' 'grep 7' 'head -n 3' </dev/null 2>"$tmp/pl.err")
    rc=$?
    if [ $rc -eq 0 ] && [ ! -s "$tmp/pl.err" ] && [ "$(head -n 3 <<<"$out")" = $'7\n17\n27' ] &&
        [ "$(tail -n 1 <<<"$out")" = "exit statuses: 141 141 0" ]; then
        pass "pipeline: | head -n 3 ends it: 7 17 27, exit statuses 141 141 0"
    else
        fail "pipeline: | head -n 3 ends it: 7 17 27, exit statuses 141 141 0" "exit status $rc" "$out" \
            "stderr: $(cat "$tmp/pl.err")"
    fi
fi

# ---- writefile: a large file written while a ticker keeps time ----------
if [ -x "$build/writefile" ]; then
    # the ticker is due every 10 ms: at worst 100 ms late is generous
    # (a loop blocked by the writes would be late by the whole run), and
    # at least half the ticks due while writing must have run
    re='^wrote 32 MiB in ([0-9]+\.[0-9]{2}) s; ticks meanwhile: ([0-9]+), at worst ([0-9]+\.[0-9]) ms late: '
    out=$($T "$build/writefile" "$tmp/wf.out" 32 </dev/null 2>"$tmp/wf.err")
    rc=$?
    last=$(tail -n 1 <<<"$out")
    ok=0
    if [ $rc -eq 0 ] && [ ! -s "$tmp/wf.err" ] && [[ $last =~ $re ]] &&
        awk -v s="${BASH_REMATCH[1]}" -v n="${BASH_REMATCH[2]}" -v w="${BASH_REMATCH[3]}" \
            'BEGIN { exit !(w < 100 && n >= int(s * 100 / 2) - 1) }'; then
        ok=1
    fi
    size=$(stat -c %s "$tmp/wf.out" 2>/dev/null)
    line=$(head -n 1 "$tmp/wf.out" 2>/dev/null)
    if [ $ok = 1 ] && [ "$size" = 33554432 ] && [ "$line" = abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk ] &&
        [ "$(grep -c '^  [0-9]* MiB written at ' <<<"$out")" = 4 ]; then
        pass "writefile: 32 MiB, the file's size and bytes right; the loop kept ticking (${BASH_REMATCH[2]} ticks, at worst ${BASH_REMATCH[3]} ms late)"
    else
        fail "writefile: 32 MiB written while the loop keeps ticking" "exit status $rc, file size $size" "$out" \
            "stderr: $(cat "$tmp/wf.err")"
    fi

    mkdir -p "$tmp/wtmp"
    out=$(TMPDIR="$tmp/wtmp" $T "$build/writefile" 2>&1 </dev/null)
    rc=$?
    re='^wrote 64 MiB in [0-9]+\.[0-9]{2} s; ticks meanwhile: [0-9]+, at worst ([0-9]+\.[0-9]) ms late: '
    if [ $rc -eq 0 ] && [[ $(tail -n 1 <<<"$out") =~ $re ]] && awk -v w="${BASH_REMATCH[1]}" 'BEGIN { exit !(w < 100) }' &&
        [ -z "$(ls -A "$tmp/wtmp")" ]; then
        pass "writefile with no arguments: 64 MiB to a temporary file, removed afterwards"
    else
        fail "writefile with no arguments: 64 MiB to a temporary file, removed afterwards" "exit status $rc" "$out" \
            "left in TMPDIR: $(ls -A "$tmp/wtmp")"
    fi

    out=$($T "$build/writefile" "$tmp/no/such/dir/f" 1 2>&1 </dev/null)
    rc=$?
    check "writefile to a missing directory: exit 1, the OSError text" \
        "1 writefile: open: [Errno 2] No such file or directory: '$tmp/no/such/dir/f'" "$rc $(tail -n 1 <<<"$out")"
fi

# ---- cp: pieces read and written in parallel, a byte-identical copy -----
if [ -x "$build/cp" ]; then
    mkdir -p "$tmp/cp"
    # not a whole number of 1 MiB pieces; the mode bits are copied
    head -c $((5 * 1048576 + 12345)) /dev/urandom >"$tmp/cp/src"
    chmod 640 "$tmp/cp/src"
    out=$($T "$build/cp" "$tmp/cp/src" "$tmp/cp/dst" </dev/null 2>"$tmp/cp.err")
    rc=$?
    if [ $rc -eq 0 ] && [ ! -s "$tmp/cp.err" ] && cmp -s "$tmp/cp/src" "$tmp/cp/dst" &&
        [ "$(stat -c %a "$tmp/cp/dst")" = 640 ] && [ "$(grep -c '^ *[0-9]*% ' <<<"$out")" -ge 5 ] &&
        [[ $(grep '%' <<<"$out" | tail -n 1) == "100%    5.0 of 5.0 MiB" ]] &&
        [[ $(tail -n 1 <<<"$out") =~ ^copied\ 5\.0\ MiB\ in\ [0-9.]+\ s\ \(.*\)\;\ 1\ MiB\ pieces\ in\ flight\ at\ once:\ up\ to\ [2-4]$ ]]; then
        pass "cp SRC DST: 5 MiB + 12345 bytes, byte-identical (cmp), mode 640, progress to 100%, pieces overlapped"
    else
        fail "cp SRC DST: 5 MiB + 12345 bytes, byte-identical (cmp), mode 640, progress to 100%" \
            "exit status $rc" "$out" "stderr: $(cat "$tmp/cp.err")" "cmp: $(cmp "$tmp/cp/src" "$tmp/cp/dst" 2>&1)"
    fi

    : >"$tmp/cp/empty"
    printf 'x' >"$tmp/cp/empty.copy" # truncated by the copy
    out=$($T "$build/cp" "$tmp/cp/empty" "$tmp/cp/empty.copy" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 0 ] && cmp -s "$tmp/cp/empty" "$tmp/cp/empty.copy"; then
        pass "cp of an empty file over a non-empty one: empty"
    else
        fail "cp of an empty file over a non-empty one: empty" "exit status $rc" "$out"
    fi

    out=$($T "$build/cp" "$tmp/cp/src" "$tmp/cp/src" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 1 ] && [[ $out == *"are the same file"* ]] && cmp -s "$tmp/cp/src" "$tmp/cp/dst"; then
        pass "cp SRC SRC: refused, SRC intact"
    else
        fail "cp SRC SRC: refused, SRC intact" "exit status $rc" "$out"
    fi

    out=$($T "$build/cp" "$tmp/cp/nosuch" "$tmp/cp/x" 2>&1 </dev/null)
    rc=$?
    check "cp of a missing file: exit 1, the OSError text" \
        "1 cp: stat: [Errno 2] No such file or directory: '$tmp/cp/nosuch'" "$rc $(tail -n 1 <<<"$out")"

    mkdir -p "$tmp/ctmp"
    out=$(TMPDIR="$tmp/ctmp" $T "$build/cp" 2>&1 </dev/null)
    rc=$?
    if [ $rc -eq 0 ] && [ "$(tail -n 1 <<<"$out")" = "the copy is identical; both files removed" ] &&
        [[ $(grep '%' <<<"$out" | tail -n 1) == "100%   32.0 of 32.0 MiB" ]] && [ -z "$(ls -A "$tmp/ctmp")" ]; then
        pass "cp with no arguments: a 32 MiB self-test, identical, nothing left behind"
    else
        fail "cp with no arguments: a 32 MiB self-test, identical, nothing left behind" "exit status $rc" "$out" \
            "left in TMPDIR: $(ls -A "$tmp/ctmp")"
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
