#!/usr/bin/env bash
# run_cookbook.sh [COOKBOOK.md] -- check that docs/cookbook.md tells the
# truth: every recipe's C program compiles without a warning and prints
# what the recipe says, and its Python program prints the same.
#
# A recipe is a section headed "## N. Title" (N counting from 1) holding
# one ```python block, one ```c block, and a ```text block after a line
# that begins with "Prints": the output, the same for both programs.
# For each recipe:
#   - the C program is compiled against ./asyncio.h with
#     -std=c99 -pedantic -Wall -Wextra -Werror by gcc and by clang (those
#     installed): one builds it with ASan + UBSan (clang if there is one:
#     it is the faster), the other checks it, as it is (-fsyntax-only) and
#     optimised (-O2, for the warnings that need it).  The build compiles
#     the implementation once for all: each program (it must have its
#     "#define ASYNCIO_IMPLEMENTATION" line) is compiled with
#     ASYNCIO_IMPLEMENTATION_LINKED=1 and linked with that object, -pthread;
#   - it runs in a scratch directory of its own, stdin /dev/null, at most
#     20 s, with ASYNCIO_VIRTUAL_CLOCK=1 unless its Prints line says
#     "real clock": stdout must equal the text block, stderr must be empty
#     and the exit status 0;
#   - the Python program runs the same way (on the real clock: keep its
#     sleeps short) with the newest Python >= 3.12 found: $COOKBOOK_PYTHON,
#     ~/.pyenv/versions/3.*, python3.13, python3.12, python3.  A Prints line
#     that says "C only" skips it.  With no such Python the Python side is
#     skipped, and a note says so;
#   - its row in the table at the top ("| N | title | PY | C | RATIO | ...")
#     must give the blocks' non-blank line counts and C / PY to one
#     decimal; so must the total row ("| | **All N** | PY | C | RATIO | ...").
# A real-clock run (Python's, or C's marked so) whose output is wrong runs
# once more, alone, as times on a loaded machine can slip: a pass then
# counts, with a note.
# Prints "ok cookbook: N. Title" or "not ok cookbook: N. Title" and the
# reasons, per recipe (then "not ok cookbook: table" if the total row is
# wrong), and "N passed, M failed" last.  Exits 0 if all passed, 1 if
# any failed, 2 on a usage error.  COOKBOOK_JOBS: recipes built at once
# (default: the number of CPUs).
#
#   bash tests/run_cookbook.sh                 (make test-cookbook)
#   bash tests/run_cookbook.sh --table         the line counts, to update the table
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || exit 2
root=$(dirname "$here")
table_only=0
if [ "${1:-}" = --table ]; then
    table_only=1
    shift
fi
if [ $# -gt 1 ]; then
    echo "usage: $0 [--table] [COOKBOOK.md]" >&2
    exit 2
fi
doc=${1:-$root/docs/cookbook.md}
if [ ! -f "$doc" ]; then
    echo "$0: $doc: no such file" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run_cookbook.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# ---- split the document: N.title, N.py, N.c, N.txt, N.flags, N.bad, table
awk -v dir="$tmp" '
function fail(msg) { print msg >> (dir "/" cur ".bad") }
inblk != "" {
    if ($0 == "```") { inblk = ""; next }
    if (inblk != "skip") print > (dir "/" cur "." inblk)
    next
}
/^## [0-9]+\. / {
    cur = ++n
    print substr($0, 4) > (dir "/" cur ".title")
    printf "" > (dir "/" cur ".flags")
    if ($2 != n ".") fail("# heading numbered " $2 " where " n ". was expected")
    next
}
/^#+ / { cur = 0 } # any other heading ends the recipe
/^```/ {
    kind = substr($0, 4)
    inblk = "skip"
    if (cur == 0 || (kind != "python" && kind != "c" && kind != "text")) next
    ext = kind == "python" ? "py" : kind == "c" ? "c" : "txt"
    if (seen[cur, ext]++) { fail("# more than one ```" kind " block"); next }
    if (ext == "txt") {
        if (prev !~ /^Prints/) fail("# the ```text block does not follow a \"Prints\" line")
        if (prev ~ /real clock/) print "real" >> (dir "/" cur ".flags")
        if (prev ~ /C only/) print "nopython" >> (dir "/" cur ".flags")
    }
    inblk = ext
    printf "" > (dir "/" cur "." ext)
    next
}
/^\| *[0-9]+ *\|/ || /^\| *\| *\*\*All/ {
    split($0, cell, "|")
    for (i in cell) gsub(/^ +| +$/, "", cell[i])
    print (cell[2] == "" ? "total" : cell[2]), cell[4], cell[5], cell[6] >> (dir "/table")
}
NF { prev = $0 }
END { print n > (dir "/count") }
' "$doc"
count=$(cat "$tmp/count")
if [ "$count" -eq 0 ]; then
    echo "$0: $doc: no recipes (\"## N. Title\" sections)" >&2
    exit 2
fi

nonblank() { if [ -f "$1" ]; then grep -c '[^[:space:]]' "$1"; else echo 0; fi; }
ratio() { awk -v c="$1" -v p="$2" 'BEGIN { printf "%.1f", p ? c / p : 0 }'; }

if [ $table_only = 1 ]; then
    tp=0 tc=0
    for n in $(seq 1 "$count"); do
        p=$(nonblank "$tmp/$n.py") c=$(nonblank "$tmp/$n.c")
        tp=$((tp + p)) tc=$((tc + c))
        printf '%s | %s | %s | %s\n' "$n" "$p" "$c" "$(ratio "$c" "$p")"
    done
    printf 'all | %s | %s | %s\n' "$tp" "$tc" "$(ratio "$tc" "$tp")"
    exit 0
fi

# ---- the compilers and the Python
WARN=(-std=c99 -pedantic -Wall -Wextra -Werror)
# shellcheck disable=SC2054 # the commas belong to the option
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O0 -g)
have() { command -v "$1" >/dev/null 2>&1; }
build_cc='' check_cc=''
if have clang; then build_cc=clang; have gcc && check_cc=gcc
elif have gcc; then build_cc=gcc
else build_cc=${CC:-cc}; fi

python=
# shellcheck disable=SC2012 # version-sorted: the newest first
for py in ${COOKBOOK_PYTHON:-} $(ls -d "$HOME"/.pyenv/versions/3.*/bin/python3 2>/dev/null | sort -V -r) \
          python3.13 python3.12 python3; do
    if have "$py" && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        python=$py
        break
    fi
done
if [ -n "$python" ]; then
    echo "# cookbook: C by $build_cc${check_cc:+, checked by $check_cc too}; Python: $("$python" -V 2>&1) ($python)"
else
    echo "# cookbook: C by $build_cc${check_cc:+, checked by $check_cc too}; no Python >= 3.12: Python side skipped"
fi

timeout_cmd=()
have timeout && timeout_cmd=(timeout 20)

# run WHAT N ENV... -- CMD...: run in a scratch directory, compare with
# N.txt; what is wrong goes to N.WHAT.why
run() {
    local what=$1 n=$2 out err rc
    shift 2
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    out="$tmp/$n.$what.out" err="$tmp/$n.$what.err"
    rm -rf "$tmp/run-$n-$what"
    mkdir "$tmp/run-$n-$what"
    (cd "$tmp/run-$n-$what" && env -u ASYNCIO_VIRTUAL_CLOCK ${envs[@]+"${envs[@]}"} ${timeout_cmd[@]+"${timeout_cmd[@]}"} "$@" \
        </dev/null >"$out" 2>"$err")
    rc=$?
    {
        if [ $rc -eq 124 ]; then echo "# $what: timed out after 20 s"
        elif [ $rc -ne 0 ]; then echo "# $what: exit status $rc"; fi
        if ! diff -u --label "Prints" --label "$what printed" "$tmp/$n.txt" "$out" >"$tmp/$n.$what.diff"; then
            echo "# $what: stdout differs from the Prints block:"
            sed 's/^/#   /' "$tmp/$n.$what.diff"
        fi
        if [ -s "$err" ]; then
            echo "# $what: unexpected stderr:"
            sed 's/^/#   /' "$err"
        fi
    } >"$tmp/$n.$what.why"
}

# compile WHY CMD...: run a compiler; its complaints go to WHY
compile() {
    local why=$1 err
    shift
    err=$(mktemp "$tmp/cc.XXXXXX")
    if "$@" 2>"$err"; then rm -f "$err"; return 0; fi
    { echo "# $1 failed:"; sed 's/^/#   /' "$err"; } >>"$why"
    rm -f "$err"
    return 1
}

# recipe N: check, build and run the C program; what is wrong goes to
# N.build.why and N.C.why
recipe() {
    local n=$1
    local flags clock=() why="$tmp/$n.build.why"
    flags=$(cat "$tmp/$n.flags")
    case $flags in *real*) ;; *) clock=(ASYNCIO_VIRTUAL_CLOCK=1) ;; esac
    [ -s "$tmp/$n.c" ] || echo "# no \`\`\`c block" >>"$why"
    [ -f "$tmp/$n.txt" ] || echo "# no \`\`\`text block (the output) after a Prints line" >>"$why"
    if [ -s "$why" ]; then return; fi
    if ! grep -qx '#define ASYNCIO_IMPLEMENTATION' "$tmp/$n.c"; then
        echo "# not a whole program: no line \"#define ASYNCIO_IMPLEMENTATION\"" >>"$why"
        return
    fi
    if [ -n "$check_cc" ]; then
        compile "$why" "$check_cc" "${WARN[@]}" -fsyntax-only -I"$root" "$tmp/$n.c"
        compile "$why" "$check_cc" "${WARN[@]}" -O2 -DASYNCIO_IMPLEMENTATION_LINKED=1 -I"$root" -c "$tmp/$n.c" -o "$tmp/$n.o2"
    fi
    if ! compile "$why" "$build_cc" "${WARN[@]}" "${SAN[@]}" -DASYNCIO_IMPLEMENTATION_LINKED=1 -I"$root" -c "$tmp/$n.c" -o "$tmp/$n.o" ||
        ! [ -f "$tmp/impl.o" ] ||
        ! compile "$why" "$build_cc" "${SAN[@]}" "$tmp/$n.o" "$tmp/impl.o" -o "$tmp/$n.bin" -pthread; then
        return
    fi
    run C "$n" ${clock[@]+"${clock[@]}"} -- "$tmp/$n.bin"
}

# The Python programs run on the real clock: start them all first, to
# sleep while the C programs build.
for n in $(seq 1 "$count"); do
    if [ -n "$python" ] && [ -f "$tmp/$n.txt" ] && ! grep -q nopython "$tmp/$n.flags"; then
        if [ -s "$tmp/$n.py" ]; then
            run Python "$n" PYTHONDONTWRITEBYTECODE=1 -- "$python" "$tmp/$n.py" &
        else
            echo "# no \`\`\`python block (a Prints line saying \"C only\" skips Python)" >"$tmp/$n.pywhy"
        fi
    fi
done
# the implementation, once
printf '#define ASYNCIO_IMPLEMENTATION\n#include "asyncio.h"\n' >"$tmp/impl.c"
if ! compile "$tmp/impl.why" "$build_cc" "${WARN[@]}" "${SAN[@]}" -I"$root" -c "$tmp/impl.c" -o "$tmp/impl.o"; then
    echo "not ok cookbook: asyncio.h does not compile"
    cat "$tmp/impl.why"
    echo "0 passed, 1 failed"
    exit 1
fi
jobs_max=${COOKBOOK_JOBS:-$(nproc 2>/dev/null || echo 2)}
cpids=()
building() { local k=0 p; for p in ${cpids[@]+"${cpids[@]}"}; do kill -0 "$p" 2>/dev/null && k=$((k + 1)); done; echo $k; }
for n in $(seq 1 "$count"); do
    while [ "$(building)" -ge "$jobs_max" ]; do sleep 0.1; done
    recipe "$n" &
    cpids+=($!)
done
wait

# What runs on the real clock prints times that a loaded machine can push
# past a rounding boundary: a run of that kind that failed runs once more,
# alone, and a pass then counts (with a note).
for n in $(seq 1 "$count"); do
    for what in Python C; do
        [ -s "$tmp/$n.$what.why" ] || continue
        cp "$tmp/$n.$what.why" "$tmp/$n.$what.first"
        if [ $what = C ]; then
            grep -q real "$tmp/$n.flags" || continue
            run C "$n" -- "$tmp/$n.bin"
        else
            run Python "$n" PYTHONDONTWRITEBYTECODE=1 -- "$python" "$tmp/$n.py"
        fi
        if ! [ -s "$tmp/$n.$what.why" ]; then
            { echo "# note: $what passed on a second run; the first, on a loaded machine's real clock:"
              sed 's/^#/#  /' "$tmp/$n.$what.first"; } >"$tmp/$n.$what.note"
        fi
    done
done

# the table
declare -A row
if [ -f "$tmp/table" ]; then
    while read -r key p c r; do row[$key]="$p $c $r"; done <"$tmp/table"
fi
tp=0 tc=0
for n in $(seq 1 "$count"); do
    p=$(nonblank "$tmp/$n.py") c=$(nonblank "$tmp/$n.c")
    tp=$((tp + p)) tc=$((tc + c))
    want="$p $c $(ratio "$c" "$p")"
    if [ "${row[$n]:-}" != "$want" ]; then
        echo "# table: row $n says \"${row[$n]:-(no row)}\" (Python, C, ratio); the blocks give \"$want\"" \
            >"$tmp/$n.table.why"
    fi
done

passed=0 failed=0
for n in $(seq 1 "$count"); do
    cat "$tmp/$n".{bad,build.why,C.why,pywhy,Python.why,table.why} 2>/dev/null >"$tmp/$n.why"
    if [ -s "$tmp/$n.why" ]; then
        echo "not ok cookbook: $(cat "$tmp/$n.title")"
        cat "$tmp/$n.why"
        failed=$((failed + 1))
    else
        echo "ok cookbook: $(cat "$tmp/$n.title")"
        cat "$tmp/$n".{Python,C}.note 2>/dev/null
        passed=$((passed + 1))
    fi
done
want="$tp $tc $(ratio "$tc" "$tp")"
if [ "${row[total]:-}" != "$want" ]; then
    echo "not ok cookbook: table"
    echo "# the total row says \"${row[total]:-(no row)}\"; the blocks give \"$want\""
    failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
