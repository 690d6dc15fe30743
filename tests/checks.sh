# checks.sh -- sourced by the scripts that drive the example servers
# (run_net_examples.sh, hostile_http.sh, hostile_kv.sh): a scratch
# directory in $tmp, the servers they start (in pids) killed at exit, and
# the report: pass / fail / check, counted in passed and failed, which the
# script prints at its end as "N passed, M failed".
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$(basename "$0" .sh).XXXXXX") || exit 2
pids=()
cleanup() {
    local p
    for p in ${pids[@]+"${pids[@]}"}; do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
# pass NAME / fail NAME WHY...: report one check.
pass() {
    echo "ok $1"
    passed=$((passed + 1))
}
fail() {
    local name=$1
    shift
    echo "not ok $name"
    printf '%s\n' "$@" | sed 's/^/# /'
    failed=$((failed + 1))
}
# check NAME WANT GOT: pass if equal, else show both.
check() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1" "expected:" "$2" "got:" "$3"
    fi
}
