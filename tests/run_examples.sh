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
        # a line inside asyncio.h (an await tree's) moves as the header
        # changes: the expected outputs say asyncio.h:N
        sed -E -i 's/asyncio\.h:[0-9]+/asyncio.h:N/g' "$tmp/$name.out"
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

# to_thread runs on the real clock (real time is its point): its timings
# vary, the shape of its output and its digests do not.
if [ -x "$build/to_thread" ]; then
    # the inline run blocks the loop on purpose: a debug build's slow-step
    # warning about it is expected, nothing else
    out=$(cd "$root" && ${timeout_cmd[@]+"${timeout_cmd[@]}"} "$build/to_thread" 1 2>"$tmp/to_thread.err")
    rc=$?
    if grep -qv "^asyncio.h: Executing task 'main' took " "$tmp/to_thread.err"; then
        out+=$'\n'$(cat "$tmp/to_thread.err")
    fi
    re1='^on the executor: 4 hashes in [0-9]+\.[0-9]{2} s; ticker: [0-9]+ ticks, worst lag [0-9]+\.[0-9] ms$'
    re2='^inline:          4 hashes in [0-9]+\.[0-9]{2} s; ticker: [0-9]+ ticks, worst lag [0-9]+\.[0-9] ms$'
    digests='digests: 9fbe960069298d83 4e66c9fffd214963 c6133eec190e3e83 ee331b36f009b203 (the same both ways)'
    if [ $rc -eq 0 ] && [[ $(sed -n 1p <<<"$out") =~ $re1 ]] && [[ $(sed -n 2p <<<"$out") =~ $re2 ]] &&
        [ "$(sed -n 3p <<<"$out")" = "$digests" ] && [ "$(wc -l <<<"$out")" = 3 ]; then
        echo "ok to_thread (real clock)"
        passed=$((passed + 1))
    else
        echo "not ok to_thread (real clock)"
        printf '# exit status %s\n' "$rc"
        sed 's/^/# /' <<<"$out"
        failed=$((failed + 1))
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
