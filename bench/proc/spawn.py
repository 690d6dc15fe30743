#!/usr/bin/env python3
"""bench/proc/spawn.py -- Python counterpart of spawn.c: spawn-and-wait
/bin/true with asyncio.

    spawn.py N INFLIGHT            e.g. spawn.py 500 1, spawn.py 1000 16

INFLIGHT tasks, each in a loop: await asyncio.create_subprocess_exec(
"/bin/true") (stdin, stdout and stderr inherited: None), await proc.wait(),
check the returncode; until N processes have been started (after 20
untimed ones).  A process's time runs from just before
create_subprocess_exec to the return of its wait.  The same JSON line as
spawn.c with "impl":"python" (and "watcher": the child watcher asyncio
used); the same checks."""
import asyncio
import json
import resource
import sys
import time

WARMUP = 20


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


async def worker(state, lat):
    while state["started"] < state["n"]:
        state["started"] += 1
        t = time.perf_counter_ns()
        proc = await asyncio.create_subprocess_exec("/bin/true")
        rc = await proc.wait()
        lat.append(time.perf_counter_ns() - t)
        if rc != 0:
            state["bad"] += 1
        state["done"] += 1


def watcher_name():
    """What watched the children: the policy's child watcher (3.12+ picks a
    pidfd where it can, 3.8-3.11 a thread per child)."""
    w = getattr(asyncio.get_event_loop_policy(), "_watcher", None)
    return {"PidfdChildWatcher": "pidfd", "ThreadedChildWatcher": "thread"}.get(type(w).__name__, "?") if w else "?"


async def run(n, k):
    warm = {"n": WARMUP, "started": 0, "done": 0, "bad": 0}
    await worker(warm, [])
    state = {"n": n, "started": 0, "done": 0, "bad": 0}
    lat = []
    t0, c0, ch0 = time.perf_counter(), time.process_time(), children_cpu()
    await asyncio.gather(*(worker(state, lat) for _ in range(k)))
    t1, c1, ch1 = time.perf_counter(), time.process_time(), children_cpu()
    return warm, state, lat, t1 - t0, c1 - c0, ch1 - ch0


def main():
    a = sys.argv[1:]
    if len(a) < 2 or int(a[0]) <= 0 or int(a[1]) <= 0:
        sys.exit("usage: spawn.py N INFLIGHT")
    n, k = int(a[0]), int(a[1])
    loop = asyncio.new_event_loop()
    warm, st, lat, wall, cpu, ccpu = loop.run_until_complete(run(n, k))
    watcher = watcher_name()
    loop.close()
    if st["done"] != n or st["bad"] or warm["done"] != WARMUP or warm["bad"] or len(lat) != n:
        print("spawn.py: %d of %d children waited for, %d exited non-zero" % (st["done"], n, st["bad"] + warm["bad"]),
              file=sys.stderr)
        sys.exit(1)
    us = sorted(x / 1e3 for x in lat)
    q = lambda p: us[max(0, min(n - 1, int(p * n + 0.5) - 1))]  # noqa: E731
    print(json.dumps({"bench": "spawn_wait", "impl": "python", "n": n, "inflight": k,
                      "procs_per_sec": round(n / wall, 1), "wall_s": round(wall, 3), "p50_us": round(q(0.5), 1),
                      "p99_us": round(q(0.99), 1), "mean_us": round(sum(us) / n, 1),
                      "cpu_us_per_proc": round(cpu * 1e6 / n, 1), "child_cpu_us_per_proc": round(ccpu * 1e6 / n, 1),
                      "watcher": watcher}, separators=(",", ":")))


if __name__ == "__main__":
    main()
