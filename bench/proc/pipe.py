#!/usr/bin/env python3
"""bench/proc/pipe.py -- Python counterpart of pipe.c: pipe throughput
through `cat` with asyncio.

    pipe.py SIZE CHUNK [PIPESIZE]  e.g. pipe.py 1g 256k, pipe.py 1g 256k 1m

asyncio.create_subprocess_exec("/bin/cat", stdin=PIPE, stdout=PIPE) (real
pipes: subprocess makes them with os.pipe); PIPESIZE (default 0: the
kernel's, 64 KiB) is passed as pipesize=PIPESIZE (Python 3.10+: subprocess
sets it with F_SETPIPE_SZ on each pipe).  A writer task writes SIZE bytes
of the pattern into proc.stdin, CHUNK at a time (memoryviews of the
pattern: no copy), each write followed by await drain(), then closes stdin
and awaits wait_closed(); meanwhile the main task reads proc.stdout with
read(CHUNK) to end of stream, checking every byte against the pattern, then
awaits the writer and proc.wait().  The time runs from just before
create_subprocess_exec to the wait's return.  The same JSON line as pipe.c
with "impl":"python" (pipe_size: F_GETPIPE_SZ of cat's stdout pipe); the
same checks, and both pipes hold at least PIPESIZE."""
import asyncio
import fcntl
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


F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)  # fcntl has it from 3.10 on


def pipe_size_of(proc, fd):
    """The kernel buffer of the pipe on the child's fd (0 stdin, 1 stdout)."""
    pipe = proc._transport.get_pipe_transport(fd).get_extra_info("pipe")
    try:
        return fcntl.fcntl(pipe.fileno(), F_GETPIPE_SZ)
    except OSError:
        return 0


async def run(size, chunk, pipesize):
    kw = {"pipesize": pipesize} if pipesize > 0 else {}  # pipesize: Python 3.10+
    t0, c0 = time.perf_counter(), time.process_time()
    proc = await asyncio.create_subprocess_exec("/bin/cat", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, **kw)
    psize = pipe_size_of(proc, 1)
    if psize < pipesize or pipe_size_of(proc, 0) < pipesize:
        proc.kill()
        await proc.wait()
        raise SystemExit("pipe.py: pipes smaller than the pipesize asked for (%d)" % psize)
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
    return got, reads, rc, bad, time.perf_counter() - t0, time.process_time() - c0, psize


def main():
    a = sys.argv[1:]
    if len(a) < 2:
        sys.exit("usage: pipe.py SIZE CHUNK [PIPESIZE] (CHUNK up to 1m; PIPESIZE 0: the kernel's)")
    size, chunk = parse_size(a[0]), parse_size(a[1])
    pipesize = parse_size(a[2]) if len(a) > 2 else 0
    if pipesize > 0 and sys.version_info < (3, 10):
        sys.exit("pipe.py: PIPESIZE (subprocess's pipesize) needs Python 3.10 or later")
    if chunk <= 0 or chunk > pattern.SLACK:
        sys.exit("pipe.py: CHUNK must be 1 .. 1m")
    got, reads, rc, bad, wall, cpu, psize = asyncio.run(run(size, chunk, pipesize))
    if bad or got != size or rc != 0:
        print("pipe.py: %d of %d bytes back, cat's returncode %s" % (got, size, rc), file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"bench": "pipe_cat", "impl": "python", "bytes": size, "chunk": chunk, "pipe_size": psize,
                      "wall_s": round(wall, 3), "mib_per_s": round(size / 1048576 / wall, 1), "cpu_s": round(cpu, 3),
                      "reads": reads},
                     separators=(",", ":")))


if __name__ == "__main__":
    main()
