#!/usr/bin/env python3
"""bench/proc/copy.py -- Python counterpart of copy.c: file copy through the
default executor (aiofiles is not part of the standard library: this is
what it does underneath), with a 1 ms ticker meanwhile.

    copy.py SRC DST INFLIGHT CHUNK [POOL]     e.g. copy.py /tmp/src /tmp/dst 4 128k

First (untimed) DST is made SRC's size and zeroed, as prepare_dst in
common.h.  Then: os.stat(SRC) and os.open of both (DST O_WRONLY, no
O_TRUNC) through loop.run_in_executor, and INFLIGHT tasks that each take the
next CHUNK-sized block and copy it -- await run_in_executor(None, os.pread,
fd, CHUNK, off), then await run_in_executor(None, os.pwrite, fd, data, off)
(again for what a short write left) -- until none is left; then os.close of
both, through the executor too.  The time runs from the stat to the last
close.  Meanwhile a ticker task sleeps to absolute due times t0 + k ms on
loop.time() (as bench/threads/lag.py) and records how late it woke.  POOL:
the default executor's size (loop.set_default_executor(ThreadPoolExecutor(
POOL)); default: min(32, CPUs + 4), started on demand).  The same JSON line
as copy.c with "impl":"python"; the same checks."""
import asyncio
import concurrent.futures
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import pattern  # noqa: E402

PERIOD = 0.001


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(s[:-1]) * mult[s[-1].lower()] if s[-1].lower() in mult else int(s)


def prepare_dst(path, size):
    zero = bytes(1 << 17)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size != size:
            os.ftruncate(fd, size)
        off = 0
        while off < size:
            off += os.pwrite(fd, zero[:min(len(zero), size - off)], off)
    finally:
        os.close(fd)


def check_file(path, size):
    off = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            data = f.read(1 << 20)
            if not data:
                break
            if off + len(data) > size or not pattern.check(off, data):
                print("copy.py: %s: wrong bytes at or after offset %d" % (path, off), file=sys.stderr)
                return False
            off += len(data)
    if off != size:
        print("copy.py: %s: %d bytes, expected %d" % (path, off, size), file=sys.stderr)
    return off == size


async def ticker(stop, late, missed):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    k = 0
    while not stop[0]:
        k += 1
        due = t0 + k * PERIOD
        await asyncio.sleep(due - loop.time())
        now = loop.time()
        late.append(now - due)
        kk = int((now - t0) / PERIOD)
        if kk > k:
            missed[0] += kk - k
            k = kk


async def worker(st, chunk):
    loop = asyncio.get_running_loop()
    while st["next"] < st["size"]:
        off = st["next"]
        st["next"] += chunk
        data = await loop.run_in_executor(None, os.pread, st["in"], chunk, off)
        if not data:
            raise OSError("copy.py: the source is shorter than its size")
        done = 0
        while done < len(data):
            done += await loop.run_in_executor(None, os.pwrite, st["out"], memoryview(data)[done:], off + done)
        st["copied"] += len(data)


async def run(src, dst, k, chunk):
    loop = asyncio.get_running_loop()
    stop, late, missed = [False], [], [0]
    tick = asyncio.create_task(ticker(stop, late, missed))
    await asyncio.sleep(0)  # the ticker takes its t0
    t0, c0 = time.perf_counter(), time.process_time()
    size = (await loop.run_in_executor(None, os.stat, src)).st_size
    st = {"size": size, "next": 0, "copied": 0}
    st["in"] = await loop.run_in_executor(None, os.open, src, os.O_RDONLY)
    st["out"] = await loop.run_in_executor(None, os.open, dst, os.O_WRONLY)
    tick_from = len(late)
    await asyncio.gather(*(worker(st, chunk) for _ in range(k)))
    tick_to = len(late)
    await loop.run_in_executor(None, os.close, st["in"])
    await loop.run_in_executor(None, os.close, st["out"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    stop[0] = True
    await tick
    threads = len(loop._default_executor._threads) if loop._default_executor else 0
    return st, wall, cpu, late, missed[0], tick_to - tick_from, threads


def main():
    a = sys.argv[1:]
    if len(a) < 4:
        sys.exit("usage: copy.py SRC DST INFLIGHT CHUNK [POOL]")
    src, dst, k, chunk = a[0], a[1], int(a[2]), parse_size(a[3])
    pool = int(a[4]) if len(a) > 4 else 0
    size = os.stat(src).st_size
    prepare_dst(dst, size)
    loop = asyncio.new_event_loop()
    if pool > 0:
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(pool))
    st, wall, cpu, late, missed, ticked, threads = loop.run_until_complete(run(src, dst, k, chunk))
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    if st["copied"] != size or not check_file(dst, size):
        print("copy.py: %d of %d bytes copied, or wrong" % (st["copied"], size), file=sys.stderr)
        sys.exit(1)
    if ticked < wall * 100 - 1:
        print("copy.py: the ticker ticked %d times in %.3f s of copying" % (ticked, wall), file=sys.stderr)
        sys.exit(1)
    n = len(late)
    us = sorted(x * 1e6 for x in late)
    q = lambda p: us[max(0, min(n - 1, int(p * n + 0.5) - 1))]  # noqa: E731
    print(json.dumps({"bench": "file_copy", "impl": "python", "bytes": size, "chunk": chunk, "inflight": k,
                      "wall_s": round(wall, 3), "mib_per_s": round(size / 1048576 / wall, 1), "cpu_s": round(cpu, 3),
                      "ticks": n, "missed": missed, "tick_p50_us": round(q(0.5), 1), "tick_p99_us": round(q(0.99), 1),
                      "tick_max_us": round(us[-1], 1), "pool_threads": threads}, separators=(",", ":")))


if __name__ == "__main__":
    main()
