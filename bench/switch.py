#!/usr/bin/env python3
"""bench/switch.py [N] -- Python counterpart of bench/switch.c.

Two tasks each run `for _ in range(N): await asyncio.sleep(0)` side by
side, gathered by the main coroutine: 2N switches through the loop.
Prints one line of JSON with the same fields as the C version:
  {"bench":"switch","n":N,"switches":2N,"wall_ms":..,
   "ns_per_switch":..,"cpu_ns_per_switch":..}
wall: time.perf_counter from just before the two tasks are created to just
after the gather completes; cpu: resource.getrusage user+sys over that span.
"""
import asyncio
import json
import resource
import sys
import time

from measure import cpu_ns


async def yielder(n):
    k = 0
    while k < n:
        await asyncio.sleep(0)
        k += 1
    return k


async def main(n):
    c0 = cpu_ns()
    t0 = time.perf_counter()
    results = await asyncio.gather(yielder(n), yielder(n))
    t1 = time.perf_counter()
    c1 = cpu_ns()
    return results, t1 - t0, c1 - c0


def run(n):
    results, wall_s, cpu = asyncio.run(main(n))
    if results != [n, n]:
        print("switch.py: counts %r, expected [%d, %d]" % (results, n, n), file=sys.stderr)
        return 1
    sw = 2 * n
    print(json.dumps({
        "bench": "switch", "n": n, "switches": sw, "wall_ms": round(wall_s * 1e3, 3),
        "ns_per_switch": round(wall_s * 1e9 / sw, 2),
        "cpu_ns_per_switch": round(cpu / sw, 2),
    }, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    if n < 1:
        sys.exit("usage: switch.py [N]   (N >= 1)")
    sys.exit(run(n))
