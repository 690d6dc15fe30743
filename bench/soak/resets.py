#!/usr/bin/env python3
"""resets.py SECONDS SEED NAME=PORT... -- clients that vanish mid-request.

For SECONDS, over and over: pick one of the servers at random, connect,
and do one of
  connect  nothing at all,
  partial  send a random prefix of a request (perhaps wait a few ms),
  unread   send whole requests (several, pipelined) and read nothing,
then close with SO_LINGER 0, so the server sees a reset (ECONNRESET)
rather than an orderly end of stream -- while reading a request, or
while writing replies nobody will read.  NAME picks the request:
echo (arbitrary bytes, up to 256 KiB), http (GET requests), kv (RESP
commands).  Never more than about 300 connections a second: the point
is the server's bookkeeping, not a connection flood.

Prints one line: how many connections of each kind per server, and
how many could not be made (a refused connection means the server is
gone).  Exit status 1 if any could not be made."""
import random
import socket
import struct
import sys
import time

REQUESTS = {
    "http": b"GET /soak HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: resets.py\r\nAccept: */*\r\n\r\n",
    "kv": b"*3\r\n$3\r\nSET\r\n$8\r\nsoak:key\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$8\r\nsoak:key\r\n",
}
LINGER_0 = struct.pack("ii", 1, 0)


def request(rng, name):
    if name == "echo":
        return rng.randbytes(rng.choice((1, 100, 4096, 65536, 262144)))
    return REQUESTS[name] * rng.randint(1, 32)


def one(rng, name, port, counts):
    kind = rng.choice(("connect", "partial", "unread"))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        if kind != "connect":
            data = request(rng, name)
            if kind == "partial":
                data = data[: rng.randint(1, len(data) - 1)] if len(data) > 1 else data
            # a peer that reads nothing may leave part of a big one unsent
            s.setblocking(False)
            try:
                s.send(data)
            except BlockingIOError:
                pass
            if rng.random() < 0.3:
                time.sleep(rng.random() * 0.005)
        counts[name][kind] += 1
    except OSError as e:
        counts[name]["failed"] += 1
        counts[name]["last_error"] = str(e)
    finally:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
        except OSError:
            pass
        s.close()


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.split("\n\n")[0])
    end = time.monotonic() + float(sys.argv[1])
    rng = random.Random(int(sys.argv[2]))
    servers = [(n, int(p)) for n, p in (a.split("=") for a in sys.argv[3:])]
    counts = {n: {"connect": 0, "partial": 0, "unread": 0, "failed": 0} for n, _ in servers}
    while time.monotonic() < end:
        name, port = rng.choice(servers)
        one(rng, name, port, counts)
        time.sleep(0.003)
    print("resets: " + "; ".join(
        "%s %d connect, %d partial, %d unread, %d failed%s" % (
            n, c["connect"], c["partial"], c["unread"], c["failed"],
            " (%s)" % c["last_error"] if c["failed"] else "")
        for n, c in counts.items()))
    sys.exit(1 if any(c["failed"] for c in counts.values()) else 0)


if __name__ == "__main__":
    main()
