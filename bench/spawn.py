#!/usr/bin/env python3
"""bench/spawn.py N -- Python counterpart of bench/spawn.c.

Creates N tasks of a trivial coroutine (returns its argument at once),
then gathers them:
    tasks = [asyncio.create_task(trivial(i)) for i in range(n)]
    await asyncio.gather(*tasks)
Prints one line of JSON with the same fields as the C version:
  {"bench":"spawn","n":N,"wall_ms":..,"tasks_per_sec":..,
   "cpu_ns_per_task":..,"rss_bytes_per_task":..}
wall: time.perf_counter from just before the first task is created to just
after the gather completes; cpu: resource.getrusage user+sys over that
span, / N; rss: (peak RSS at the end - RSS before the tasks are created) / N.
"""
import asyncio
import json
import resource
import sys
import time

from measure import cpu_ns, current_rss_bytes, peak_rss_bytes


async def trivial(i):
    return i


async def main(n):
    rss0 = current_rss_bytes()
    c0 = cpu_ns()
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(trivial(i)) for i in range(n)]
    results = await asyncio.gather(*tasks)
    t1 = time.perf_counter()
    c1 = cpu_ns()
    return results, t1 - t0, c1 - c0, rss0


def run(n):
    results, wall_s, cpu, rss0 = asyncio.run(main(n))
    rss1 = peak_rss_bytes()
    bad = sum(1 for i, r in enumerate(results) if r != i) + abs(len(results) - n)
    if bad:
        print("spawn.py: %d of %d results wrong" % (bad, n), file=sys.stderr)
        return 1
    print(json.dumps({
        "bench": "spawn", "n": n, "wall_ms": round(wall_s * 1e3, 3),
        "tasks_per_sec": round(n / wall_s),
        "cpu_ns_per_task": round(cpu / n, 1),
        "rss_bytes_per_task": round((rss1 - rss0) / n, 1),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    if n < 1:
        sys.exit("usage: spawn.py N   (N >= 1)")
    sys.exit(run(n))
