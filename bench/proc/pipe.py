#!/usr/bin/env python3
"""bench/proc/pipe.py -- Python counterpart of pipe.c: pipe throughput
through `cat` with asyncio.

    pipe.py SIZE CHUNK             e.g. pipe.py 1g 256k

asyncio.create_subprocess_exec("/bin/cat", stdin=PIPE, stdout=PIPE) (real
pipes: subprocess makes them with os.pipe); a writer task writes SIZE bytes
of the pattern into proc.stdin, CHUNK at a time (memoryviews of the
pattern: no copy), each write followed by await drain(), then closes stdin
and awaits wait_closed(); meanwhile the main task reads proc.stdout with
read(CHUNK) to end of stream, checking every byte against the pattern, then
awaits the writer and proc.wait().  The time runs from just before
create_subprocess_exec to the wait's return.  The same JSON line as pipe.c
with "impl":"python"; the same checks."""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import pattern  # noqa: E402


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(s[:-1]) * mult[s[-1].lower()] if s[-1].lower() in mult else int(s)


async def writer(w, size, chunk):
    off = 0
    while off < size:
        n = min(chunk, size - off)
        w.write(pattern.view(off, n))
        off += n
        await w.drain()
    w.close()
    await w.wait_closed()


async def run(size, chunk):
    t0, c0 = time.perf_counter(), time.process_time()
    proc = await asyncio.create_subprocess_exec("/bin/cat", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    wt = asyncio.create_task(writer(proc.stdin, size, chunk))
    got = reads = 0
    bad = False
    while True:
        data = await proc.stdout.read(chunk)
        if not data:
            break
        if got + len(data) > size or not pattern.check(got, data):
            print("pipe.py: wrong bytes at or after offset %d" % got, file=sys.stderr)
            bad = True
            proc.kill()
            break
        got += len(data)
        reads += 1
    await wt
    rc = await proc.wait()
    return got, reads, rc, bad, time.perf_counter() - t0, time.process_time() - c0


def main():
    a = sys.argv[1:]
    if len(a) < 2:
        sys.exit("usage: pipe.py SIZE CHUNK (CHUNK up to 1m)")
    size, chunk = parse_size(a[0]), parse_size(a[1])
    if chunk <= 0 or chunk > pattern.SLACK:
        sys.exit("pipe.py: CHUNK must be 1 .. 1m")
    got, reads, rc, bad, wall, cpu = asyncio.run(run(size, chunk))
    if bad or got != size or rc != 0:
        print("pipe.py: %d of %d bytes back, cat's returncode %s" % (got, size, rc), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"bench": "pipe_cat", "impl": "python", "bytes": size, "chunk": chunk, "wall_s": round(wall, 3),
                      "mib_per_s": round(size / 1048576 / wall, 1), "cpu_s": round(cpu, 3), "reads": reads},
                     separators=(",", ":")))


if __name__ == "__main__":
    main()
