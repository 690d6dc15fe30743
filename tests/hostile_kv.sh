#!/usr/bin/env bash
# hostile_kv.sh BUILD_DIR -- kv_server against hostile clients.
#
# Starts BUILD_DIR/kv_server on 127.0.0.1, port 0 (the port is read from
# its "listening on HOST:PORT" line), and drives it with a small python3
# client:
#   hash key   two runs list the same keys in different orders (KEYS
#              follows the table, which the per-process SipHash key lays
#              out; nothing is timed), one run in the same order twice;
#   numbers    INCR, DECR, INCRBY, DECRBY and SET's EX / PX on values Redis
#              refuses: the replies, and that a refused INCR keeps the
#              value; then every reply compared with what a real
#              redis-server answers (started on a free port, when
#              installed: otherwise "skipped: no redis-server");
#   protocol   malformed requests ($04, *01, a NUL in a count, ...) each on
#              its own connection: the error text, then the close; also
#              compared with redis-server;
#   expiry     10 000 keys with PX 100 and one without: DBSIZE falls to 1
#              within 5 s, the keys never touched;
#   oversize   with --client-query-buffer-limit 4mb: a bulk string, many
#              bulk strings, then 16 x 64 MB arguments: the client gets
#              the error and is closed, another client is served all
#              along, and the server's peak RSS grows by less than 48 MB;
#   timeout    with --timeout 1: a client idle 2.5 s is closed, one sending
#              a PING every 0.25 s meanwhile is not.
# Every server must then stop on SIGTERM with exit status 0 and nothing
# on stderr (under ASan that includes LeakSanitizer).
#
# Prints "ok NAME" or "not ok NAME" (with "# " lines saying why) per
# check, then "N passed, M failed" as the last line.  Exits 0 if all
# passed, 1 if any failed, 2 on a usage error.  About 20 s.
#
#   make build/examples/kv_server && bash tests/hostile_kv.sh build/examples
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR_OF_EXAMPLES" >&2
    exit 2
fi
if [ ! -x "$1/kv_server" ]; then
    echo "$0: $1/kv_server: missing or not executable (make build/examples/kv_server)" >&2
    exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "$0: python3 is needed (the client)" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2

source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

# ---- the client ----------------------------------------------------------
# python3 $tmp/kv.py TEST PORT...: prints one line per reply or finding.
cat >"$tmp/kv.py" <<'EOF'
import socket, sys, threading, time

def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError
        self.buf += d

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def reply(self):
        """One RESP2 reply, as text: +OK, -ERR ..., :1, b'bulk', (nil), [...]."""
        l = self.line()
        if l[:1] == b"$":
            n = int(l[1:])
            return "(nil)" if n < 0 else repr(self.take(n + 2)[:-2])
        if l[:1] == b"*":
            return "[" + ", ".join(self.reply() for _ in range(int(l[1:]))) + "]"
        return l.decode("latin-1")

    def call(self, *requests):
        self.s.sendall(b"".join(requests))
        return [self.reply() for _ in requests]

    def rest(self):
        """Every reply until the server closes (at most 5 s)."""
        out = []
        self.s.settimeout(5)
        try:
            while True:
                out.append(self.reply())
        except EOFError:
            out.append("(closed)")
        except ConnectionResetError:
            out.append("(reset)")
        except socket.timeout:
            out.append("(still open)")
        return out

def show(*words):
    """One line: the words, then the replies after "->", split by " | "."""
    print(*words[:-1], "->", " | ".join(words[-1]))

def keys(port):
    c = Conn(port)
    c.call(*[cmd("SET", "key:%d" % i, i) for i in range(50)])
    first, again = c.call(cmd("KEYS", "*"), cmd("KEYS", "*"))
    print(first)
    print("same order twice" if first == again else "another order the second time")
    print(c.call(cmd("KEYS", "key:1?"), cmd("KEYS", "key:[2-3]"), cmd("KEYS", "nothing*"))[2])

VALUES = [b"\x00hello", b"12\x00x", b"\t12", b"\n5", b"007", b"0", b"-0", b"+1", b"12 ", b" 12", b"", b"-",
          b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808", b"-9223372036854775809",
          b"1e3", b"0x10", b"00", b"-01", b"123456789012345678901", b"12\r\n"]

def numbers(port):
    c = Conn(port)
    k = 0
    for v in VALUES:
        for op in ([b"INCR"], [b"DECR"], [b"INCRBY", b"5"], [b"DECRBY", b"-9223372036854775808"]):
            k += 1
            key = "n%d" % k
            show(repr(v), op[0].decode(), c.call(cmd("SET", key, v), cmd(op[0], key, *op[1:]), cmd("GET", key)))
    for by in [b"007", b"-0", b"+1", b" 1", b"1 ", b"", b"1\x00", b"9223372036854775807", b"-9223372036854775808",
               b"9223372036854775808"]:
        for op in (b"INCRBY", b"DECRBY"):
            k += 1
            key = "n%d" % k
            show(op.decode(), repr(by), c.call(cmd("SET", key, 1), cmd(op, key, by), cmd("GET", key)))
    for opts in [["EX", "0"], ["EX", "-1"], ["EX", "1.5"], ["EX", "abc"], ["EX", "9223372036854775807"],
                 ["EX", "9223372036854775"], ["EX", "9223372036854"], ["PX", "9223372036854775807"], ["PX", "0"],
                 ["PX", "-5"], ["PX", "007"], ["EX", "10", "EX", "20"], ["EX", "10", "PX", "20"], ["EX"],
                 ["EX", "0", "BOGUS"], ["EX", "abc", "NX", "XX"], ["NX", "XX"], ["XX", "NX"], ["NX", "NX"],
                 ["ex", "5", "nx"], ["xx"]]:
        k += 1
        key = "s%d" % k
        show("SET k v", " ".join(opts), c.call(cmd("SET", key, "v", *opts), cmd("GET", key)))
    show("overflow:", c.call(cmd("SET", "big", "9223372036854775807"), cmd("INCR", "big"), cmd("INCRBY", "big", -1),
                 cmd("DECRBY", "big", "9223372036854775807"), cmd("DECR", "big"), cmd("DECR", "big"),
                 cmd("GET", "big")))
    show("arity:", c.call(cmd("INCR"), cmd("INCR", "a", "b"), cmd("INCRBY", "a"), cmd("DECRBY", "a", "b", "c"),
                 cmd("GET"), cmd("SET", "k"), cmd("DBSIZE", "x"), cmd("PING", "a", "b"), cmd("KEYS")))

PROTOCOL = [b"*1\r\n$04\r\nPING\r\n", b"*01\r\n$4\r\nPING\r\n", b"*-1\r\nPING\r\nQUIT\r\n",
            b"*-5\r\nPING\r\nQUIT\r\n", b"*-0\r\n", b"*0\r\nPING\r\nQUIT\r\n", b"*+1\r\n$4\r\nPING\r\n",
            b"*1\r\n$-1\r\n", b"*1\r\n$+4\r\nPING\r\n", b"*1\r\n:4\r\nPING\r\n", b"*1\r\n\r\n",
            b"*2147483648\r\n", b"*1\r\n$536870913\r\n", b"*1\r\n$9223372036854775808\r\n", b"* 1\r\n",
            b"*1 \r\n", b"*1\n$4\r\nPING\r\n", b"*12345678901234567890123\r\n", b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\nQUIT\r\n",
            b"\r\n  \r\nECHO\tx\r\nPING\rpong\nQUIT\r\n"]

def protocol(port):
    for data in PROTOCOL:
        c = Conn(port)
        c.s.sendall(data)
        show(repr(data[:40]), c.rest())

def protocol_stricter(port):
    """Where kv_server refuses what Redis lets through or waits on."""
    for data in [b"*1\x00\r\n$4\r\nPING\r\n", b"*1\rx$4\r\nPING\r\n", b"*1\r\n$4\r\nPINGxx"]:
        c = Conn(port)
        c.s.sendall(data)
        show(repr(data), c.rest())

def expiry(port):
    c = Conn(port)
    replies = c.call(cmd("FLUSHALL"), *[cmd("SET", "tmp:%d" % i, "v", "PX", 100) for i in range(10000)],
                     cmd("SET", "keep", "v"))
    print("FLUSHALL, 10001 SETs:", "all +OK" if replies == ["+OK"] * 10002 else replies[:3])
    deadline = time.time() + 5
    while True:
        n = c.call(cmd("DBSIZE"))[0]
        if n == ":1" or time.time() > deadline:
            break
        time.sleep(0.1)
    print("DBSIZE", n, "GET keep", c.call(cmd("GET", "keep"))[0])

def vm(pid, field):
    for l in open("/proc/%d/status" % pid):
        if l.startswith(field + ":"):
            return int(l.split()[1]) // 1024
    return -1

def oversize(port, pid):
    base = vm(pid, "VmRSS")
    bystander = Conn(port)
    print("bystander:", bystander.call(cmd("PING"))[0])
    # one bulk string announced past the limit: refused before its bytes
    c = Conn(port)
    c.s.sendall(b"*2\r\n$4\r\nECHO\r\n$5000000\r\n")
    print("one 5 MB argument:", " | ".join(c.rest()))
    # 1 MB arguments: refused at the one that would cross the limit
    c = Conn(port)
    sent = 0
    try:
        c.s.sendall(b"*17\r\n$4\r\nECHO\r\n")
        for i in range(16):
            c.s.sendall(b"$1048576\r\n" + b"x" * 1048576 + b"\r\n")
            sent += 1
    except (BrokenPipeError, ConnectionResetError):
        pass
    print("16 x 1 MB arguments: closed before the last" if sent < 16 else "16 x 1 MB arguments: all taken", end=": ")
    print(c.rest()[-1])
    print("bystander:", bystander.call(cmd("PING"))[0])
    # the report's request: ECHO with 16 x 64 MB arguments, sent a MB at a time
    c = Conn(port)
    chunk = b"y" * 1048576
    mb = 0
    try:
        c.s.sendall(b"*17\r\n$4\r\nECHO\r\n")
        for i in range(16):
            c.s.sendall(b"$67108864\r\n")
            for j in range(64):
                c.s.sendall(chunk)
                mb += 1
            c.s.sendall(b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    print("16 x 64 MB arguments:", "closed before 64 MB" if mb < 64 else "%d MB taken" % mb)
    print("bystander:", bystander.call(cmd("PING"))[0])
    peak = vm(pid, "VmHWM")
    print("peak RSS %s" % ("within 48 MB of the start" if peak - base < 48 else "%d MB above the start" % (peak - base)))
    sys.stderr.write("RSS %d MB at the start, peak %d MB\n" % (base, peak))

def timeout(port):
    idle, active = Conn(port), Conn(port)
    pongs = 0
    t0 = time.time()
    while time.time() - t0 < 2.5:
        pongs += active.call(cmd("PING")) == ["+PONG"]
        time.sleep(0.25)
    print("idle client:", idle.rest()[-1])
    ok = active.call(cmd("PING")) == ["+PONG"]
    print("active client:", "every PING answered, still open" if ok and pongs >= 9 else "%d PONGs, then %s" % (pongs, ok))

test = sys.argv[1]
ports = [int(p) for p in sys.argv[2:]]
globals()[test](*ports)
EOF
kv() { timeout 30 python3 "$tmp/kv.py" "$@" 2>"$tmp/kv.py.err"; }

# start_kv LABEL OPTION...: kv_server OPTION... 0 127.0.0.1 in the
# background; sets PORT and PID.  1 (after "not ok LABEL starts") if no
# "listening on" line within 5 s.
start_kv() {
    local label=$1 i line
    shift
    PORT=
    "$build/kv_server" "$@" 0 127.0.0.1 >"$tmp/$label.out" 2>"$tmp/$label.err" &
    PID=$!
    pids+=("$PID")
    for ((i = 0; i < 50; i++)); do
        line=$(head -n 1 "$tmp/$label.out" 2>/dev/null)
        if [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
            PORT=${BASH_REMATCH[1]}
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    fail "$label starts" "stdout: $(cat "$tmp/$label.out")" "stderr: $(cat "$tmp/$label.err")"
    return 1
}

# stop_kv LABEL PID: SIGTERM; exit status 0 within 5 s, stderr empty.
stop_kv() {
    local label=$1 pid=$2 i rc
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        fail "$label stops on SIGTERM" "still running 5 s after SIGTERM: killed"
        return
    fi
    wait "$pid"
    rc=$?
    if [ $rc -ne 0 ] || [ -s "$tmp/$label.err" ]; then
        fail "$label stops on SIGTERM" "exit status $rc" "stderr: $(cat "$tmp/$label.err")"
    else
        pass "$label stops on SIGTERM, exit status 0, stderr empty"
    fi
}

# ---- a real redis-server to compare with ---------------------------------
REDIS_PORT=
if command -v redis-server >/dev/null 2>&1; then
    REDIS_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$tmp/redis.out" 2>&1 &
    pids+=($!)
    REDIS_PID=$!
    for ((i = 0; i < 50; i++)); do
        python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)' \
            "$REDIS_PORT" 2>/dev/null && break
        sleep 0.1
    done
    redis_version=$(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
fi
# compare NAME TEST: TEST's output on kv_server ($kv_out) against redis-server.
compare() {
    local name=$1 test=$2 want
    if [ -z "$REDIS_PORT" ]; then
        pass "$name (skipped: no redis-server)"
        return
    fi
    want=$(kv "$test" "$REDIS_PORT")
    if [ "$want" = "$kv_out" ]; then
        pass "$name: $(wc -l <<<"$want") lines of replies, the same as redis-server $redis_version"
    else
        fail "$name: the same as redis-server $redis_version" "diff (redis-server, kv_server):" \
            "$(diff <(echo "$want") <(echo "$kv_out"))"
    fi
}

# ---- a) the hash key: another layout each run ------------------------------
orders=()
for run in 1 2; do
    if start_kv "kv_server run $run"; then
        out=$(kv keys "$PORT")
        orders+=("$(head -n 1 <<<"$out")")
        check "a) run $run: KEYS lists the table in the same order twice; patterns match" \
            $'same order twice\n[]' "$(sed -n '2,3p' <<<"$out")"
        stop_kv "kv_server run $run" "$PID"
    fi
done
if [ ${#orders[@]} = 2 ]; then
    sorted() { tr -d '[]' <<<"$1" | tr ',' '\n' | tr -d " '" | sort; }
    if [ "${orders[0]}" != "${orders[1]}" ] && [ "$(sorted "${orders[0]}")" = "$(sorted "${orders[1]}")" ] &&
        [ "$(sorted "${orders[0]}" | wc -l)" = 50 ]; then
        pass "a) two runs hold the same 50 keys in different orders: the hash is keyed per process"
    else
        fail "a) two runs hold the same 50 keys in different orders" "run 1: ${orders[0]}" "run 2: ${orders[1]}"
    fi
fi

if start_kv kv_server; then
    # ---- b) numbers as Redis takes them ----------------------------------
    kv_out=$(kv numbers "$PORT")
    got=$(grep -E "^b'("'\\x00hello|12\\x00x|\\t12|\\n5|007|9223372036854775807'")' INCR " <<<"$kv_out")
    check "b) INCR refuses NUL, junk, white space, leading zeros and overflow, and keeps the value" \
        "b'\x00hello' INCR -> +OK | -ERR value is not an integer or out of range | b'\x00hello'
b'12\x00x' INCR -> +OK | -ERR value is not an integer or out of range | b'12\x00x'
b'\t12' INCR -> +OK | -ERR value is not an integer or out of range | b'\t12'
b'\n5' INCR -> +OK | -ERR value is not an integer or out of range | b'\n5'
b'007' INCR -> +OK | -ERR value is not an integer or out of range | b'007'
b'9223372036854775807' INCR -> +OK | -ERR increment or decrement would overflow | b'9223372036854775807'" "$got"
    check "b) SET EX 0 / -1 / abc / overflow refused with Redis's texts" \
        "SET k v EX 0 -> -ERR invalid expire time in 'set' command | (nil)
SET k v EX -1 -> -ERR invalid expire time in 'set' command | (nil)
SET k v EX abc -> -ERR value is not an integer or out of range | (nil)
SET k v EX 9223372036854775807 -> -ERR invalid expire time in 'set' command | (nil)
SET k v PX 9223372036854775807 -> -ERR invalid expire time in 'set' command | (nil)" \
        "$(grep -E "^SET k v (EX (0|-1|abc|9223372036854775807)|PX 9223372036854775807) ->" <<<"$kv_out")"
    compare "b) numbers: INCR, DECR, INCRBY, DECRBY, SET EX / PX" numbers

    # ---- d) malformed requests: the error, then the close ----------------
    kv_out=$(kv protocol "$PORT")
    check "d) \$04 and *01 refused with Redis's texts, then the connection closed" \
        "b'*1\\r\\n\$04\\r\\nPING\\r\\n' -> -ERR Protocol error: invalid bulk length | (closed)
b'*01\\r\\n\$4\\r\\nPING\\r\\n' -> -ERR Protocol error: invalid multibulk length | (closed)" \
        "$(head -n 2 <<<"$kv_out")"
    compare "d) malformed requests: errors and closes" protocol
    check "d) where kv_server is stricter than Redis (a NUL in a count, CR without LF, no CRLF after a bulk string)" \
        "b'*1\\x00\\r\\n\$4\\r\\nPING\\r\\n' -> -ERR Protocol error: invalid multibulk length | (closed)
b'*1\\rx\$4\\r\\nPING\\r\\n' -> -ERR Protocol error: invalid multibulk length | (closed)
b'*1\\r\\n\$4\\r\\nPINGxx' -> -ERR Protocol error: bulk string not followed by CRLF | (closed)" \
        "$(kv protocol_stricter "$PORT")"

    # ---- c) active expiry ------------------------------------------------
    check "c) 10 000 keys with PX 100 go untouched: DBSIZE falls to 1 (the key without a TTL) within 5 s" \
        $'FLUSHALL, 10001 SETs: all +OK\nDBSIZE :1 GET keep b\'v\'' "$(kv expiry "$PORT")"
    stop_kv kv_server "$PID"
fi

# ---- d) the query buffer limit ---------------------------------------------
if start_kv "kv_server --client-query-buffer-limit 4mb" --client-query-buffer-limit 4mb; then
    out=$(kv oversize "$PORT" "$PID")
    check "d) oversized requests: the error, the close; another client served all along; peak RSS bounded ($(cat "$tmp/kv.py.err"))" \
        "bystander: +PONG
one 5 MB argument: -ERR Protocol error: request exceeds client-query-buffer-limit | (closed)
16 x 1 MB arguments: closed before the last: (closed)
bystander: +PONG
16 x 64 MB arguments: closed before 64 MB
bystander: +PONG
peak RSS within 48 MB of the start" "$out"
    stop_kv "kv_server --client-query-buffer-limit 4mb" "$PID"
fi
for bad in "--client-query-buffer-limit 1000" "--proto-max-bulk-len 5x" "--timeout -1" "--nosuch 1"; do
    # shellcheck disable=SC2086  # the option and its value: two words
    out=$(timeout 5 "$build/kv_server" $bad 0 2>&1)
    rc=$?
    if [ $rc = 2 ] && [[ $out == "usage: kv_server "* ]]; then
        pass "d) kv_server $bad: exit status 2, usage"
    else
        fail "d) kv_server $bad: exit status 2, usage" "exit status $rc" "$out"
    fi
done

# ---- e) --timeout: idle clients closed, busy ones not ----------------------
if start_kv "kv_server --timeout 1" --timeout 1; then
    check "e) --timeout 1: an idle client is closed, an active one is not" \
        $'idle client: (closed)\nactive client: every PING answered, still open' "$(kv timeout "$PORT")"
    stop_kv "kv_server --timeout 1" "$PID"
fi

if [ -n "$REDIS_PORT" ]; then
    kill -TERM "$REDIS_PID" 2>/dev/null
    wait "$REDIS_PID" 2>/dev/null
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
