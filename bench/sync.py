#!/usr/bin/env python3
"""bench/sync.py [N] -- Python counterpart of bench/sync.c: a bounded queue
between one producer and one consumer (capacity 1 and 64), and uncontended
asyncio.Lock acquire + release; the same JSON lines."""
import asyncio
import json
import sys
import time


async def queue_run(n, cap):
    q = asyncio.Queue(cap)

    async def producer():
        for i in range(n):
            await q.put(i)

    async def consumer():
        for i in range(n):
            if await q.get() != i:
                raise RuntimeError("out of order")

    t0 = time.perf_counter()
    await asyncio.gather(producer(), consumer())
    return time.perf_counter() - t0


async def lock_run(n):
    lock = asyncio.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    return time.perf_counter() - t0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    for cap in (1, 64):
        dt = asyncio.run(queue_run(n, cap))
        print(json.dumps({"bench": "queue", "cap": cap, "n": n, "items_per_sec": round(n / dt),
                          "ns_per_item": round(dt * 1e9 / n, 2)}, separators=(",", ":")))
    dt = asyncio.run(lock_run(n))
    print(json.dumps({"bench": "lock", "n": n, "ns_per_acquire_release": round(dt * 1e9 / n, 2)},
                     separators=(",", ":")))


if __name__ == "__main__":
    main()
