#!/usr/bin/env python3
"""bench/threads/threadsafe.py -- Python counterpart of threadsafe.c:
loop.call_soon_threadsafe from threading.Thread producers.

    threadsafe.py PRODUCERS N

PRODUCERS threads each post N callbacks (loop.call_soon_threadsafe(cb, p,
seq)) to a loop running loop.run_forever() on the main thread; the time
runs from the barrier that releases the producers until the loop has run
the last callback.  No flow control: asyncio queues without bound.  The
same JSON line as threadsafe.c with "impl":"python", "storage":"-".
Checks: every callback ran exactly once, each producer's in order; exit 1
otherwise.  Every producer and the loop share the GIL."""
import json
import os
import sys
import threading
import time
import asyncio


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: threadsafe.py PRODUCERS N")
    np_, n = int(sys.argv[1]), int(sys.argv[2])
    loop = asyncio.new_event_loop()
    expect = [0] * np_
    state = {"bad": 0, "total": 0, "t_end": 0.0}
    target = np_ * n

    def on_call(p, seq):
        if seq != expect[p]:
            state["bad"] += 1
        expect[p] += 1
        state["total"] += 1
        if state["total"] == target:
            state["t_end"] = time.perf_counter()
            loop.stop()

    barrier = threading.Barrier(np_ + 1)

    def produce(p):
        post = loop.call_soon_threadsafe
        barrier.wait()
        for i in range(n):
            post(on_call, p, i)

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(np_)]
    for t in threads:
        t.start()
    placement = "os"
    if os.environ.get("THREADS_PLACEMENT") == "split" and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
        for t in threads:
            os.sched_setaffinity(t.native_id, {1})
        placement = "split"
    barrier.wait()
    c0, t0 = time.process_time(), time.perf_counter()
    loop.run_forever()
    c1 = time.process_time()
    for t in threads:
        t.join()
    loop.close()
    if state["bad"] or state["total"] != target or any(e != n for e in expect):
        print("threadsafe.py: %d callbacks ran of %d; %d out of order" % (state["total"], target, state["bad"]),
              file=sys.stderr)
        sys.exit(1)
    wall = state["t_end"] - t0
    print(json.dumps({"bench": "call_soon_threadsafe", "impl": "python", "storage": "-", "producers": np_,
                      "n_per_producer": n, "calls": target, "calls_per_sec": round(target / wall),
                      "wall_ms": round(wall * 1e3, 1), "cpu_ns_per_call": round((c1 - c0) * 1e9 / target, 1),
                      "producer_waits": 0, "placement": placement}, separators=(",", ":")))


if __name__ == "__main__":
    main()
