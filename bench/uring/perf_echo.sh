#!/usr/bin/env bash
# bench/uring/perf_echo.sh NET_BUILD_DIR CONNS SECONDS NAME=SERVER... -- where
# an echo server's time goes, per message: for each server (a command that
# takes the port as its last argument), one echo_load run (CONNS connections,
# SECONDS measured) with the server on core 1 and echo_load on core 0, under
#   perf stat: system calls, io_uring completions and task-work runs, and the
#     readiness calls (epoll_wait, io_uring_enter), each per message served;
#   perf record -g (a second run): the share of the server's samples under
#     sending, receiving, waiting for readiness (epoll_wait, io_uring_enter),
#     io_uring's task work (task_work_run, mostly on the way out of the other
#     system calls), and in user space.
# NET_BUILD_DIR holds echo_load (bench/net/run.sh builds it).  Needs perf
# with access to tracepoints (perf_event_paranoid <= 1 or root); prints a
# note and exits 0 without it.  See bench/uring/README.md.
set -u
BUILD=${1:?usage: perf_echo.sh NET_BUILD_DIR CONNS SECONDS NAME=SERVER...}
CONNS=${2:?conns}
SECS=${3:?seconds}
shift 3
if ! perf stat -x, -e raw_syscalls:sys_enter,io_uring:io_uring_complete true >/dev/null 2>&1; then
    echo "perf_echo.sh: perf cannot count tracepoints here (install linux-perf; perf_event_paranoid): skipped"
    exit 0
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
EVENTS=raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_io_uring_enter
EVENTS=$EVENTS,io_uring:io_uring_complete,io_uring:io_uring_task_work_run,io_uring:io_uring_local_work_run,task-clock

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# measure NAME MODE CMD...: one load run with the server under perf (MODE
# stat or record); prints the messages served
measure() {
    local name=$1 mode=$2 port pid perf out
    shift 2
    port=$(free_port)
    # shellcheck disable=SC2068 # the command is a word list
    taskset -c 1 $@ "$port" >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
    if [ "$mode" = stat ]; then
        perf stat -x, -e "$EVENTS" -p "$pid" -o "$TMP/$name.stat" &
    else
        perf record -q -g -p "$pid" -o "$TMP/$name.data" 2>/dev/null &
    fi
    perf=$!
    sleep 0.2
    out=$(taskset -c 0 "$BUILD/echo_load" 127.0.0.1 "$port" "$CONNS" "$SECS")
    kill -INT "$perf"
    wait "$perf"
    kill "$pid"
    wait "$pid" 2>/dev/null
    out=$(grep -o '"msgs_total":[0-9]*' <<<"$out")
    echo "${out#*:}"
}

echo "where an echo server's time goes: $CONNS connections, ${SECS} s, 1024-byte messages;"
echo "server on core 1, echo_load on core 0; counts per message served (perf stat), then the"
echo "share of the server's CPU samples (perf record -g, a second run) under each part"
echo
W="%-16s %8s %9s %9s %9s %9s %10s   %6s %6s %7s %7s %6s\n"
# shellcheck disable=SC2059 # W is the format
printf "$W" server "syscalls" "epoll_w" "uring_en" "CQEs" "taskwork" "CPU us" "send%" "recv%" "wait%" "twork%" "user%"
printf '%s\n' "------------------------------------------------------------------------------------------------------------------"
for spec in "$@"; do
    name=${spec%%=*}
    cmd=${spec#*=}
    n=$(measure "$name" stat "$cmd")
    m=$(measure "$name" record "$cmd")
    perf report -i "$TMP/$name.data" --children --sort sym -g none 2>/dev/null >"$TMP/$name.report"
    python3 - "$name" "$n" "$m" "$TMP/$name.stat" "$TMP/$name.report" "$W" <<'PY'
import re, sys
name, n, m, stat, report = sys.argv[1], int(sys.argv[2] or 0), int(sys.argv[3] or 0), sys.argv[4], sys.argv[5]
W = sys.argv[6].replace("\\n", "")
c = {}
for line in open(stat):
    f = line.strip().split(",")
    if len(f) > 2 and re.match(r"^[0-9.]+$", f[0]):
        c[f[2]] = float(f[0])
def per(k, scale=1.0):
    return "%.3f" % (c.get(k, 0) * scale / n) if n else "-"
share = {}
for line in open(report):
    mm = re.match(r"\s*([0-9.]+)%\s+[0-9.]+%\s+\[(.)\]\s+(\S+)", line)
    if mm:
        share.setdefault(mm.group(3), float(mm.group(1)))
def pct(*syms):
    return "%.1f" % max([share.get(s, 0.0) for s in syms])
user = sum(float(mm.group(2)) for mm in (re.match(r"\s*([0-9.]+)%\s+([0-9.]+)%\s+\[\.\]", l) for l in open(report)) if mm)
wait = share.get("do_epoll_wait", 0.0) + share.get("__do_sys_io_uring_enter", 0.0)
print(W % (name, per("raw_syscalls:sys_enter"), per("syscalls:sys_enter_epoll_wait"),
      per("syscalls:sys_enter_io_uring_enter"), per("io_uring:io_uring_complete"),
      "%.3f" % ((c.get("io_uring:io_uring_task_work_run", 0) + c.get("io_uring:io_uring_local_work_run", 0)) / n) if n else "-",
      "%.2f" % (c.get("task-clock", 0) * 1e3 / n) if n else "-",
      pct("__sys_sendto", "ksys_write", "do_writev"), pct("__sys_recvfrom", "ksys_read", "do_readv"),
      "%.1f" % wait, pct("task_work_run"), "%.1f" % user))
PY
done
echo "(syscalls, epoll_w(ait), uring_en(ter), CQEs, taskwork (io_uring task-work runs): per message;"
echo "CPU us: the server's task-clock per message under perf stat; send%, recv%: samples under the"
echo "send and receive system calls; wait%: under epoll_wait or io_uring_enter; twork%: under"
echo "task_work_run, where io_uring's poll wake-ups become completions, on the way back to user"
echo "space from any system call (COOP_TASKRUN), so inside send% and recv% too; user%: samples in"
echo "user space itself)"
