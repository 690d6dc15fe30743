#!/usr/bin/env python3
"""bench/threads/to_thread.py -- Python counterpart of to_thread.c:
asyncio.to_thread(lambda: None) round trips.

    to_thread.py latency N [POOL]              one job at a time, N timed
                                               round trips (after 1000 untimed)
    to_thread.py throughput N INFLIGHT [POOL]  INFLIGHT tasks awaiting jobs
                                               back to back until N completed

POOL 0 (default): the loop's default executor as it comes (a
ThreadPoolExecutor of min(32, CPUs + 4) threads, started on demand);
POOL > 0: loop.set_default_executor(ThreadPoolExecutor(POOL)) first.
Prints the same JSON line as to_thread.c with "impl":"python".  Checks:
every to_thread returned None and the number of completed awaits is N
(per task, and in total); exit 1 otherwise.  THREADS_PLACEMENT=split puts
the loop's thread on CPU 0 and the executor's threads on CPU 1."""
import asyncio
import concurrent.futures
import json
import os
import sys
import threading
import time

WARMUP = 1000


def placement_apply(loop):
    if os.environ.get("THREADS_PLACEMENT") != "split" or (os.cpu_count() or 1) < 2:
        return "os"
    os.sched_setaffinity(0, {0})   # this thread (the loop's)
    me = threading.get_native_id()
    for t in threading.enumerate():
        if t.native_id is not None and t.native_id != me:
            os.sched_setaffinity(t.native_id, {1})
    return "split"


def pool_info(loop):
    ex = loop._default_executor
    return ex._max_workers, len(ex._threads)


def dump(d):
    print(json.dumps(d, separators=(",", ":")))


async def latency(n, state):
    loop = asyncio.get_running_loop()
    lat = [0] * n
    mono = time.perf_counter_ns
    job = lambda: None  # noqa: E731
    done = 0
    for i in range(-WARMUP, n):
        if i == 0:
            state["placement"] = placement_apply(loop)
        t0 = mono()
        r = await asyncio.to_thread(job)
        if i >= 0:
            lat[i] = mono() - t0
        if r is not None:
            raise RuntimeError("a job returned %r" % (r,))
        done += 1
    if done != n + WARMUP:
        raise RuntimeError("%d round trips, %d expected" % (done, n + WARMUP))
    state["pool"], state["threads"] = pool_info(loop)
    return lat


async def throughput(n, k, state):
    loop = asyncio.get_running_loop()
    job = lambda: None  # noqa: E731
    shared = {"submitted": 0, "target": k}

    async def flow():
        awaited = 0
        while shared["submitted"] < shared["target"]:
            shared["submitted"] += 1
            if await asyncio.to_thread(job) is not None:
                raise RuntimeError("a job returned something")
            awaited += 1
        return awaited

    await asyncio.gather(*(flow() for _ in range(k)))  # warm-up: the pool starts
    state["placement"] = placement_apply(loop)
    shared["submitted"], shared["target"] = 0, n
    c0, t0 = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(flow() for _ in range(k)))
    t1, c1 = time.perf_counter(), time.process_time()
    if sum(counts) != n or shared["submitted"] != n:
        raise RuntimeError("%d jobs completed (%d submitted), %d expected" % (sum(counts), shared["submitted"], n))
    state["pool"], state["threads"] = pool_info(loop)
    return t1 - t0, c1 - c0


def main():
    a = sys.argv[1:]
    if len(a) < 2 or a[0] not in ("latency", "throughput") or (a[0] == "throughput" and len(a) < 3):
        sys.exit("usage: to_thread.py latency N [POOL] | to_thread.py throughput N INFLIGHT [POOL]")
    mode, n = a[0], int(a[1])
    k = int(a[2]) if mode == "throughput" else 0
    rest = a[3:] if mode == "throughput" else a[2:]
    pool = int(rest[0]) if rest else 0
    state = {}
    loop = asyncio.new_event_loop()
    if pool > 0:
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(pool))
    try:
        if mode == "latency":
            lat = loop.run_until_complete(latency(n, state))
        else:
            wall, cpu = loop.run_until_complete(throughput(n, k, state))
    except Exception as e:  # a failed check
        print("to_thread.py: %s" % e, file=sys.stderr)
        sys.exit(1)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    common = {"impl": "python", "pool": state["pool"], "pool_threads": state["threads"],
              "placement": state["placement"], "n": n}
    if mode == "latency":
        lat.sort()
        q = lambda p: lat[max(0, min(n - 1, int(p * n + 0.5) - 1))] / 1e3  # noqa: E731
        dump(dict({"bench": "to_thread_latency"}, **common, p50_us=round(q(0.5), 2), p99_us=round(q(0.99), 2),
                  mean_us=round(sum(lat) / n / 1e3, 2), max_us=round(lat[-1] / 1e3, 1)))
    else:
        dump(dict({"bench": "to_thread_throughput"}, **common, inflight=k, jobs_per_sec=round(n / wall),
                  wall_ms=round(wall * 1e3, 1), cpu_us_per_job=round(cpu * 1e6 / n, 3)))


if __name__ == "__main__":
    main()
