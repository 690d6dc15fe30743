#!/usr/bin/env bash
# bench/soak/run.sh -- the example servers under a long mixed load: does
# anything pile up?
#
# Builds echo_server, http_server and kv_server (make, plain -O2 builds:
# a sanitizer's own bookkeeping would hide the servers' memory) and
# bench/net/echo_load, starts the three servers on 127.0.0.1 (port 0; the
# port is read from their "listening on HOST:PORT" line), then drives
# them all at once with real clients:
#   http_server  wrk, 32 kept-alive connections
#   kv_server    redis-benchmark (ping, set, get, incr over 10000 random
#                keys; -P 1 and -P 16 in turn), one run after another
#   echo_server  echo_load, 16 connections of 1 KiB messages and 2 of
#                256 KiB (every echoed byte checked)
#   all three    bench/soak/resets.py: connections opened and reset
#                (SO_LINGER 0) at random, empty, mid-request or with
#                replies left unread
# first for SOAK_WARMUP seconds (default 15; the kv keyspace is filled
# before it), then for SOAK_SECONDS (default 180).  After each phase the
# clients are gone and the servers idle; each server's RSS (VmRSS of
# /proc/PID/status) and open descriptors (/proc/PID/fd) are read then, and
# every 10 s during the long phase (the peak).  The table compares the two
# idle readings: RSS must stay within 5 % or 1 MiB (whichever is more),
# descriptors must be back to the same count.  Then each server must still
# answer (curl, redis-cli, an echo), and stop on SIGTERM with exit status 0
# and nothing on stderr but slow-step warnings (the examples are debug
# builds, which report a step longer than 0.1 s: counted and shown, since
# on a busy machine they say more about the machine).
#
#   make bench-soak                    (or: bash bench/soak/run.sh)
#   SOAK_SECONDS=600 make bench-soak
#
# Needs make, cc, python3, wrk, redis-benchmark, redis-cli and curl
# (Debian: wrk redis-tools curl).  Work files: build/soak/.  Exits 0 if
# every check passed, 1 if one failed, 2 if something needed is missing.
set -u

cd "$(dirname "$0")/../.." || exit 2
SOAK_SECONDS=${SOAK_SECONDS:-180}
SOAK_WARMUP=${SOAK_WARMUP:-15}
HERE=bench/soak
OUT=build/soak
SERVERS=(echo_server http_server kv_server)

for tool in make cc python3 wrk redis-benchmark redis-cli curl; do
    command -v "$tool" >/dev/null || { echo "soak: $tool is needed" >&2; exit 2; }
done
make --no-print-directory "${SERVERS[@]/#/build/examples/}" >&2 || exit 2
mkdir -p "$OUT"
if [ ! -x "$OUT/echo_load" ] || [ bench/net/echo_load.c -nt "$OUT/echo_load" ]; then
    cc -std=c99 -O2 -Wall -Wextra bench/net/echo_load.c -o "$OUT/echo_load" || exit 2
fi

declare -A PID PORT RSS0 FDS0 RSS1 FDS1 PEAK
pids=()
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
    local p
    for p in ${pids[@]+"${pids[@]}"}; do kill -KILL "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 1' INT TERM
failed=0
fail() {
    echo "FAILED: $*"
    failed=1
}

for s in "${SERVERS[@]}"; do
    : >"$OUT/$s.out" # now: the server's own redirection may come after the first look
    "build/examples/$s" 0 127.0.0.1 >"$OUT/$s.out" 2>"$OUT/$s.err" &
    PID[$s]=$!
    pids+=("$!")
    for ((i = 0; i < 50; i++)); do
        if [[ $(head -n 1 "$OUT/$s.out") =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
            PORT[$s]=${BASH_REMATCH[1]}
            break
        fi
        sleep 0.1
    done
    [ -n "${PORT[$s]:-}" ] || { echo "soak: $s did not start: $(cat "$OUT/$s.err")" >&2; exit 1; }
done
echo "soak: echo_server :${PORT[echo_server]}, http_server :${PORT[http_server]}," \
    "kv_server :${PORT[kv_server]}; warm-up ${SOAK_WARMUP} s, then ${SOAK_SECONDS} s"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# clients TAG SECONDS: every client at once for SECONDS; their output in
# $OUT/TAG-*.  While they run, the servers' peak RSS is sampled.
clients() {
    local tag=$1 secs=$2 end cpids=() s r
    end=$((SECONDS + secs))
    wrk -t1 -c32 -d"${secs}s" --timeout 5s "http://127.0.0.1:${PORT[http_server]}/" >"$OUT/$tag-wrk.out" 2>&1 &
    cpids+=($!)
    "$OUT/echo_load" 127.0.0.1 "${PORT[echo_server]}" 16 "$secs" 1024 >"$OUT/$tag-echo-1k.json" 2>&1 &
    cpids+=($!)
    "$OUT/echo_load" 127.0.0.1 "${PORT[echo_server]}" 2 "$secs" 262144 >"$OUT/$tag-echo-256k.json" 2>&1 &
    cpids+=($!)
    (
        p=1
        while [ $SECONDS -lt $end ]; do
            timeout -s INT -k 1 $((end - SECONDS)) redis-benchmark -h 127.0.0.1 -p "${PORT[kv_server]}" \
                -c 20 -n 20000 -r 10000 -t ping,set,get,incr -P $p -q 2>&1 | tr '\r' '\n' |
                sed -n "s/^\([A-Z_]*\): \([0-9.]*\) requests per second.*/$p \1 \2/p"
            p=$((p == 1 ? 16 : 1))
        done
    ) >"$OUT/$tag-redis.out" &
    cpids+=($!)
    python3 "$HERE/resets.py" "$secs" "$RANDOM" echo="${PORT[echo_server]}" http="${PORT[http_server]}" \
        kv="${PORT[kv_server]}" >"$OUT/$tag-resets.out" 2>&1 &
    cpids+=($!)
    while [ $SECONDS -lt $end ]; do
        sleep 10
        for s in "${SERVERS[@]}"; do
            r=$(rss "${PID[$s]}")
            [ "$r" -gt "${PEAK[$s]:-0}" ] && PEAK[$s]=$r
        done
    done
    wait "${cpids[@]}"
}

# settle: the clients are gone; wait (at most 10 s) until no server's
# descriptor count changes for a second, so that closings in progress
# are not counted.
settle() {
    local prev="" now s i
    for ((i = 0; i < 10; i++)); do
        now=""
        for s in "${SERVERS[@]}"; do now+="$(nfds "${PID[$s]}") "; done
        [ "$now" = "$prev" ] && return
        prev=$now
        sleep 1
    done
}

# report TAG: what the clients of phase TAG saw; a failure for any error
report() {
    local tag=$1 w e k r
    w=$OUT/$tag-wrk.out
    echo "  wrk: $(awk '/requests in/ { print $1 " requests" } /^Requests\/sec/ { print "(" $2 "/s)" }' "$w" | xargs)"
    grep -E 'Socket errors|Non-2xx' "$w" >/dev/null && fail "wrk ($tag): $(grep -E 'Socket errors|Non-2xx' "$w" | xargs)"
    for e in 1k 256k; do
        k=$OUT/$tag-echo-$e.json
        echo "  echo_load $e: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%d messages (%.0f/s), %d errors" % (d["msgs_total"], d["msgs_per_sec"], d["errors"]))' "$k" 2>/dev/null || echo "no result: $(cat "$k")")"
        grep -q '"errors":0,' "$k" || fail "echo_load $e ($tag): $(cat "$k")"
    done
    r=$OUT/$tag-redis.out
    echo "  redis-benchmark: $(awk '{ n++; p = "-P " $1; if (!(p in lo) || $3 < lo[p]) lo[p] = $3; if ($3 > hi[p]) hi[p] = $3 }
        END { printf "%d tests of 20000 requests", n; for (p in lo) printf ", %s %d to %d requests/s", p, lo[p], hi[p] }' "$r")"
    grep -q . "$r" || fail "redis-benchmark ($tag): no test finished"
    echo "  $(cat "$OUT/$tag-resets.out")"
    if ! grep -q '^resets: ' "$OUT/$tag-resets.out" || grep -q 'failed (' "$OUT/$tag-resets.out"; then
        fail "resets.py ($tag): $(cat "$OUT/$tag-resets.out")"
    fi
}

# the keyspace redis-benchmark uses, filled before anything is measured
redis-benchmark -h 127.0.0.1 -p "${PORT[kv_server]}" -c 20 -n 100000 -r 10000 -t set,incr -P 16 -q >/dev/null 2>&1
echo "warm-up, ${SOAK_WARMUP} s:"
clients warm "$SOAK_WARMUP"
report warm
settle
for s in "${SERVERS[@]}"; do RSS0[$s]=$(rss "${PID[$s]}"); FDS0[$s]=$(nfds "${PID[$s]}"); done
echo "soak, ${SOAK_SECONDS} s:"
clients soak "$SOAK_SECONDS"
report soak
settle
for s in "${SERVERS[@]}"; do RSS1[$s]=$(rss "${PID[$s]}"); FDS1[$s]=$(nfds "${PID[$s]}"); done

echo
printf '%-12s %12s %12s %12s %18s %9s %8s  %s\n' server "RSS warm" "RSS peak" "RSS end" change "fds warm" "fds end" verdict
for s in "${SERVERS[@]}"; do
    a=${RSS0[$s]} b=${RSS1[$s]}
    d=$((b - a))
    allow=$((a / 20 > 1024 ? a / 20 : 1024))
    bad=""
    [ ${d#-} -le $allow ] || bad="RSS changed by more than $allow KiB; "
    [ "${FDS0[$s]}" = "${FDS1[$s]}" ] || bad+="descriptors left open; "
    verdict=${bad:-ok}
    [ -z "$bad" ] || fail "$s: $bad"
    printf '%-12s %8d KiB %8d KiB %8d KiB %+8d KiB %+6.1f%% %9d %8d  %s\n' "$s" "$a" "${PEAK[$s]:-$b}" "$b" "$d" \
        "$(awk -v a="$a" -v d="$d" 'BEGIN { print 100 * d / a }')" "${FDS0[$s]}" "${FDS1[$s]}" "$verdict"
done
echo

[ "$(curl -s --max-time 5 "http://127.0.0.1:${PORT[http_server]}/")" = "Hello, World!" ] || fail "http_server no longer answers"
[ "$(redis-cli -h 127.0.0.1 -p "${PORT[kv_server]}" ping 2>&1)" = PONG ] || fail "kv_server no longer answers"
# shellcheck disable=SC2016 # $1 belongs to the inner bash
[ "$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf still-here >&3 && head -c 10 <&3' echo "${PORT[echo_server]}")" = still-here ] ||
    fail "echo_server no longer echoes"
SLOW='^asyncio\.h: Executing task .* took [0-9.]+ seconds'
for s in "${SERVERS[@]}"; do
    kill -TERM "${PID[$s]}"
    for ((i = 0; i < 50; i++)); do kill -0 "${PID[$s]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${PID[$s]}" 2>/dev/null; then
        fail "$s still running 5 s after SIGTERM"
        continue
    fi
    wait "${PID[$s]}"
    rc=$?
    # the debug build's slow-step warnings: a step preempted on a busy
    # machine is no leak, so they are counted, not failed
    slow=$(grep -Ec "$SLOW" "$OUT/$s.err")
    [ "$slow" = 0 ] || echo "$s: $slow slow-step warnings, the worst $(grep -Eo 'took [0-9.]+' "$OUT/$s.err" |
        sort -k2 -n | tail -n 1 | cut -d' ' -f2) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ $rc -ne 0 ] || grep -Evq "$SLOW" "$OUT/$s.err"; then
        fail "$s: exit status $rc, stderr: $(grep -Ev "$SLOW" "$OUT/$s.err")"
    fi
done
if [ $failed = 0 ]; then echo "soak: every check passed"; else echo "soak: some checks failed"; fi
exit $failed
