#!/usr/bin/env python3
"""bench/threads/lag.py -- Python counterpart of lag.c: a ticker task that
wants to wake every millisecond (asyncio.sleep to the next absolute due
time on loop.time()) while JOBS CPU-heavy jobs run through
asyncio.to_thread on the default executor.

    lag.py SECONDS JOBS [POOL] [python|hashlib]

Jobs (each runs until SECONDS after the start):
  python   (default) FNV-1a in pure Python: the job holds the GIL, so the
           loop's thread must win the GIL back (the interpreter asks a
           running thread to drop it every sys.getswitchinterval(), 5 ms)
           before it can even look at its timers;
  hashlib  hashlib.sha256 over a 1 MiB buffer in a loop: C code that
           releases the GIL while it hashes, for comparison.
Lateness, skipped due times ("missed") and the JSON line as in lag.c,
with "impl":"python" and "job":"python"|"hashlib".  Checks: every job
ran exactly once for at least 90% of SECONDS, the ticker ticked."""
import asyncio
import concurrent.futures
import hashlib
import json
import os
import sys
import time

PERIOD = 0.001
MASK = (1 << 64) - 1


def fnv_until(deadline):
    h, steps = 1469598103934665603, 0
    t_start = time.monotonic()
    while True:
        for k in range(4096):
            h = ((h ^ (k & 255)) * 1099511628211) & MASK
        steps += 4096
        if time.monotonic() >= deadline:
            break
    return h, steps, t_start, time.monotonic()


BUF = bytes(range(256)) * 4096  # 1 MiB


def sha_until(deadline):
    steps, d = 0, b""
    t_start = time.monotonic()
    while time.monotonic() < deadline:
        d = hashlib.sha256(BUF).digest()
        steps += 1
    return d, steps, t_start, time.monotonic()


async def ticker(stop, late):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    k = missed = 0
    while True:
        k += 1
        due = t0 + k * PERIOD
        await asyncio.sleep(due - loop.time())
        now = loop.time()
        late.append(now - due)
        if stop[0]:
            break
        kk = int((now - t0) / PERIOD)
        if kk > k:
            missed += kk - k
            k = kk
    return missed


async def run(seconds, njobs, job):
    stop, late = [False], []
    tick = asyncio.create_task(ticker(stop, late))
    await asyncio.sleep(0)  # the ticker takes its t0
    t0 = time.monotonic()
    results = []
    if njobs:
        fn = fnv_until if job == "python" else sha_until
        results = await asyncio.gather(*(asyncio.to_thread(fn, t0 + seconds) for _ in range(njobs)))
    else:
        await asyncio.sleep(seconds)
    wall = time.monotonic() - t0
    stop[0] = True
    missed = await tick
    return late, missed, wall, results


def main():
    a = sys.argv[1:]
    if len(a) < 2:
        sys.exit("usage: lag.py SECONDS JOBS [POOL] [python|hashlib]")
    seconds, njobs = float(a[0]), int(a[1])
    pool = int(a[2]) if len(a) > 2 else 0
    job = a[3] if len(a) > 3 else "python"
    loop = asyncio.new_event_loop()
    if pool > 0:
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(pool))
    late, missed, wall, results = loop.run_until_complete(run(seconds, njobs, job))
    if loop._default_executor:
        max_workers = loop._default_executor._max_workers
    else:  # no job ran: the size the default executor would have had
        cpus = getattr(os, "process_cpu_count", os.cpu_count)() or 1
        max_workers = pool if pool > 0 else min(32, cpus + 4)
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    bad = len(results) != njobs or len(late) < 10
    for r in results:
        if r[1] <= 0 or r[3] - r[2] < seconds * 0.9:
            bad = True
    if bad:
        print("lag.py: %d of %d jobs back, %d ticks" % (len(results), njobs, len(late)), file=sys.stderr)
        sys.exit(1)
    n = len(late)
    us = sorted(x * 1e6 for x in late)
    q = lambda p: us[max(0, min(n - 1, int(p * n + 0.5) - 1))]  # noqa: E731
    print(json.dumps({"bench": "loop_lag", "impl": "python", "jobs": njobs, "seconds": seconds, "period_us": 1000,
                      "ticks": n, "missed": missed, "p50_us": round(q(0.5), 1), "p99_us": round(q(0.99), 1),
                      "max_us": round(us[-1], 1), "mean_us": round(sum(us) / n, 1), "wall_s": round(wall, 3),
                      "pool": max_workers, "job": job}, separators=(",", ":")))


if __name__ == "__main__":
    main()
