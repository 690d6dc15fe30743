#!/usr/bin/env python3
"""bench/gather.py N -- Python counterpart of bench/gather.c.

One main coroutine gathers N coroutines; coroutine i sleeps
(i % 10 + 1) * 10 ms, so MAX = 100 ms.  Prints one line of JSON with the
same fields as the C version:
  {"bench":"gather","n":N,"max_ms":100,"wall_ms":..,"over_ms":..,
   "cpu_ns_per_task":..,"rss_bytes_per_task":..}
wall: time.perf_counter from just before the coroutines are created to just
after the gather completes; cpu: resource.getrusage user+sys over that span,
/ N; rss: (peak RSS at the end (ru_maxrss, KiB) - RSS read from
/proc/self/statm just before the coroutines are created) / N.
Every result is checked; the exit status is 1 if any is wrong.
"""
import asyncio
import json
import resource
import sys
import time

from measure import cpu_ns, current_rss_bytes, peak_rss_bytes

MAX_MS = 100


async def sleeper(i):
    await asyncio.sleep((i % 10 + 1) * (MAX_MS // 10) / 1000.0)
    return i


async def main(n):
    rss0 = current_rss_bytes()
    c0 = cpu_ns()
    t0 = time.perf_counter()
    results = await asyncio.gather(*[sleeper(i) for i in range(n)])
    t1 = time.perf_counter()
    c1 = cpu_ns()
    return results, t1 - t0, c1 - c0, rss0


def run(n):
    results, wall_s, cpu, rss0 = asyncio.run(main(n))
    rss1 = peak_rss_bytes()
    bad = sum(1 for i, r in enumerate(results) if r != i) + abs(len(results) - n)
    if bad:
        print("gather.py: %d of %d results wrong" % (bad, n), file=sys.stderr)
        return 1
    wall_ms = wall_s * 1e3
    print(json.dumps({
        "bench": "gather", "n": n, "max_ms": MAX_MS,
        "wall_ms": round(wall_ms, 3), "over_ms": round(wall_ms - MAX_MS, 3),
        "cpu_ns_per_task": round(cpu / n, 1),
        "rss_bytes_per_task": round((rss1 - rss0) / n, 1),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if n < 1:
        sys.exit("usage: gather.py N   (N >= 1)")
    sys.exit(run(n))
