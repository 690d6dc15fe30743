#!/usr/bin/env bash
# run_examples.sh BUILD_DIR -- run the examples on the virtual clock and
# check what they print.
#
# For each tests/expected/NAME.txt: run BUILD_DIR/NAME (no arguments) with
# ASYNCIO_VIRTUAL_CLOCK=1 and a 20 s timeout; its stdout must equal
# NAME.txt, and its stderr must equal NAME.stderr if that file exists, else
# be empty; it must exit 0.  Prints "ok NAME" or "not ok NAME" (with a
# diff -u of what differed) per example, then "N passed, M failed" as the
# last line.  Exits 0 if all passed, 1 if any failed, 2 on a usage error.
#
#   make examples && bash tests/run_examples.sh build/examples
#
# BUILD_DIR is taken relative to the current directory; the examples run
# from the repository root whatever the current directory is.
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR_OF_EXAMPLES" >&2
    exit 2
fi
if [ ! -d "$1" ]; then
    echo "$0: $1: no such directory (run 'make examples' first)" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || exit 2
expected="$here/expected"
root=$(dirname "$here")

shopt -s nullglob
cases=("$expected"/*.txt)
if [ ${#cases[@]} -eq 0 ]; then
    echo "$0: no expected outputs in $expected" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run_examples.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

timeout_cmd=()
if command -v timeout >/dev/null 2>&1; then
    timeout_cmd=(timeout 20)
fi

passed=0
failed=0
for want in "${cases[@]}"; do
    name=$(basename "$want" .txt)
    exe="$build/$name"
    why=()
    if [ ! -x "$exe" ]; then
        why+=("# $exe: missing or not executable")
    else
        (cd "$root" && ASYNCIO_VIRTUAL_CLOCK=1 ${timeout_cmd[@]+"${timeout_cmd[@]}"} "$exe" \
            </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err")
        rc=$?
        if [ $rc -eq 124 ]; then
            why+=("# timed out after 20 s")
        elif [ $rc -ne 0 ]; then
            why+=("# exit status $rc")
        fi
        if ! diff -u "$want" "$tmp/$name.out" >"$tmp/$name.diff"; then
            why+=("# stdout differs from tests/expected/$name.txt:" "$(cat "$tmp/$name.diff")")
        fi
        if [ -f "$expected/$name.stderr" ]; then
            if ! diff -u "$expected/$name.stderr" "$tmp/$name.err" >"$tmp/$name.diff"; then
                why+=("# stderr differs from tests/expected/$name.stderr:" "$(cat "$tmp/$name.diff")")
            fi
        elif [ -s "$tmp/$name.err" ]; then
            why+=("# unexpected stderr:" "$(cat "$tmp/$name.err")")
        fi
    fi
    if [ ${#why[@]} -eq 0 ]; then
        echo "ok $name"
        passed=$((passed + 1))
    else
        echo "not ok $name"
        printf '%s\n' "${why[@]}"
        failed=$((failed + 1))
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
