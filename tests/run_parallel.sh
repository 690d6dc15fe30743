#!/usr/bin/env bash
# run_parallel.sh JOBS CMD...: run each CMD (one shell command line per
# argument) with at most JOBS at once, then print their outputs in the
# order given, each under "== CMD", as if they had run one after another
# (make test sums the "N passed, M failed" lines).  Exits 1 if any failed.
set -u
jobs=${1:?usage: run_parallel.sh JOBS CMD...}
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/run_parallel.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
i=0
for cmd in "$@"; do
    printf '%s\0' "$i $cmd"
    i=$((i + 1))
done | xargs -0 -P "$jobs" -I{} bash -c 'n=${1%% *}; c=${1#* }; bash -c "$c" >"$2/$n.out" 2>&1; echo $? >"$2/$n.rc"' _ {} "$tmp"
status=0
i=0
for cmd in "$@"; do
    echo "== $cmd"
    cat "$tmp/$i.out"
    [ "$(cat "$tmp/$i.rc" 2>/dev/null)" = 0 ] || { echo "== $cmd: exit status $(cat "$tmp/$i.rc" 2>/dev/null)"; status=1; }
    i=$((i + 1))
done
exit $status
