#!/usr/bin/env bash
# tests/install/run.sh -- make install / make uninstall, and consumer.c (with
# tls_consumer.c when OpenSSL's headers are there) built and run through
# every route: cc -I and pkg-config against a copy installed in a temporary
# prefix, CMake find_package against it, CMake add_subdirectory and
# FetchContent and a Meson subproject on this checkout, Meson with the
# installed pkg-config files.  Then the bad inputs: a prefix that cannot be
# written fails with a clear message and leaves nothing behind.
# Prints "ok install: ..." / "not ok install: ..." per check and ends with
# "N passed, M failed".  KEEP=1 keeps the temporary directory.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/asyncio_h-test-install.XXXXXX") || exit 1
chmod 755 "$T"   # the unprivileged user of the permission checks walks through it
trap '[ "${KEEP:-0}" = 1 ] && echo "kept $T" || rm -rf "$T"' EXIT
CC=${CC:-cc}
export CC
log=$T/log

pass=0 fail=0
ok() { echo "ok install: $*"; pass=$((pass + 1)); }
notok() {   # WHAT [why]: the log, indented, follows
    echo "not ok install: $1${2:+ ($2)}"; sed 's/^/    /' "$log" | tail -n 40
    fail=$((fail + 1))
}
mk() { make -s --no-print-directory -C "$src" "$@"; }
tree() { (cd "$1" 2>/dev/null && find . | LC_ALL=C sort); }   # DIR: what is in it

# the version the header declares (0.9.0 until it has the macros)
ver_part() {
    sed -nE "s/^#[[:space:]]*define[[:space:]]+ASYNCIO_VERSION_$1[[:space:]]+([0-9]+).*/\1/p" "$src/asyncio.h"
}
version=$(ver_part MAJOR).$(ver_part MINOR).$(ver_part PATCH)
[ "$version" = .. ] && version=0.9.0

have_tls=0
printf '#include <openssl/ssl.h>\n' | $CC -E -x c - >/dev/null 2>&1 && have_tls=1

installed=(include/asyncio.h share/pkgconfig/asyncio_h.pc share/pkgconfig/asyncio_h-tls.pc
           share/cmake/asyncio_h/asyncio_hConfig.cmake share/cmake/asyncio_h/asyncio_hConfigVersion.cmake
           share/doc/asyncio_h/LICENSE share/doc/asyncio_h/install_manifest)

# ---- make install / make uninstall ---------------------------------------------
P=$T/prefix   # does not exist yet: install makes it
if ! mk install PREFIX="$P" >"$log" 2>&1; then
    notok "make install PREFIX=<tmp>" "it failed; the rest needs the installed copy"
    echo "$pass passed, $fail failed"; exit 1
fi
want=$( (echo .; for f in "${installed[@]}"; do d=$f; while [ "$d" != . ]; do echo "./$d"; d=$(dirname "$d"); done; done) | LC_ALL=C sort -u)
if [ "$(tree "$P")" != "$want" ]; then
    { echo "installed:"; tree "$P"; echo "expected:"; echo "$want"; } >"$log"; notok "make install PREFIX=<tmp>" "not the expected files"
elif ! cmp -s "$src/asyncio.h" "$P/include/asyncio.h" || ! grep -qx "prefix=$P" "$P/share/pkgconfig/asyncio_h.pc" ||
     ! grep -qx "Version: $version" "$P/share/pkgconfig/asyncio_h.pc"; then
    cat "$P/share/pkgconfig/asyncio_h.pc" >"$log"; notok "make install PREFIX=<tmp>" "wrong contents"
else
    ok "make install PREFIX=<tmp> (the header, 2 pkg-config files, the CMake package, the licence; version $version)"
fi
# installing again over the same copy changes nothing but the files
before=$(tree "$P")
if mk install PREFIX="$P" >"$log" 2>&1 && [ "$(tree "$P")" = "$before" ]; then
    ok "make install again over an installed copy"
else notok "make install again over an installed copy"; fi

# DESTDIR: the files under DESTDIR, naming the prefix without it
S=$T/stage
if mk install PREFIX=/usr/local DESTDIR="$S" >"$log" 2>&1 &&
   [ -f "$S/usr/local/include/asyncio.h" ] && grep -qx 'prefix=/usr/local' "$S/usr/local/share/pkgconfig/asyncio_h.pc" &&
   mk uninstall PREFIX=/usr/local DESTDIR="$S" >>"$log" 2>&1 && [ -z "$(find "$S" -mindepth 1)" ]; then
    ok "make install / uninstall DESTDIR=<tmp> PREFIX=/usr/local"
else
    tree "$S" >>"$log"; notok "make install / uninstall DESTDIR=<tmp> PREFIX=/usr/local"
fi

# a prefix that has other things in it: uninstall leaves exactly them
O=$T/shared
mkdir -p "$O/include" "$O/share/pkgconfig" "$O/share/doc/other"
echo x >"$O/include/other.h"; echo x >"$O/share/pkgconfig/other.pc"; echo x >"$O/share/doc/other/README"
before=$(tree "$O")
if mk install PREFIX="$O" >"$log" 2>&1 && [ -f "$O/include/asyncio.h" ] &&
   mk uninstall PREFIX="$O" >>"$log" 2>&1 && [ "$(tree "$O")" = "$before" ]; then
    ok "make uninstall leaves a shared prefix as it was"
else
    tree "$O" >>"$log"; notok "make uninstall leaves a shared prefix as it was"
fi

# ---- the routes ----------------------------------------------------------------
# Each runs in the background with its own log (they are mostly the compiler's
# time); the results are printed in order once all are done.
B=$T/build; mkdir -p "$B"
# check_run NAME PROGRAM: it prints what it should
check_run() {
    local expect="consumer: slept 0, got 42"
    [ "$1" = tls_consumer ] && expect="tls_consumer: client context made, slept 0"
    local out; out=$("$2" 2>>"$log") || { echo "$2 failed" >>"$log"; return 1; }
    [ "$out" = "$expect" ] || { echo "$2 printed '$out'" >>"$log"; return 1; }
}
route_plain() {   # cc -I
    $CC -std=c99 -pedantic -Wall -Wextra -Werror -I"$P/include" "$here/consumer.c" -o "$B/plain" -pthread >>"$log" 2>&1 &&
    check_run consumer "$B/plain" &&
    { [ $have_tls = 0 ] ||
      { $CC -std=c99 -pedantic -Wall -Wextra -Werror -DASYNCIO_TLS=1 -I"$P/include" "$here/tls_consumer.c" \
            -o "$B/plain-tls" -lssl -lcrypto -pthread >>"$log" 2>&1 && check_run tls_consumer "$B/plain-tls"; }; }
}
route_pkgconfig() {
    local v
    export PKG_CONFIG_PATH=$P/share/pkgconfig
    v=$(pkg-config --modversion asyncio_h 2>>"$log")
    [ "$v" = "$version" ] || { echo "pkg-config --modversion asyncio_h: '$v', expected $version" >>"$log"; return 1; }
    $CC -std=c99 -Wall -Wextra -Werror $(pkg-config --cflags asyncio_h) "$here/consumer.c" -o "$B/pc" \
        $(pkg-config --libs asyncio_h) >>"$log" 2>&1 &&
    check_run consumer "$B/pc" &&
    { [ $have_tls = 0 ] ||
      { $CC -std=c99 -Wall -Wextra -Werror $(pkg-config --cflags asyncio_h-tls) "$here/tls_consumer.c" -o "$B/pc-tls" \
            $(pkg-config --libs asyncio_h-tls) >>"$log" 2>&1 && check_run tls_consumer "$B/pc-tls"; }; }
}
route_cmake() {   # ROUTE -D...: tests/install/CMakeLists.txt
    local r=$1; shift
    local b=$B/cmake-$r tls=OFF
    [ $have_tls = 1 ] && tls=ON
    cmake -S "$here" -B "$b" -DROUTE="$r" -DWITH_TLS=$tls -DEXPECT_VERSION="$version" "$@" >>"$log" 2>&1 &&
    cmake --build "$b" >>"$log" 2>&1 &&
    check_run consumer "$b/consumer" &&
    { [ $have_tls = 0 ] || check_run tls_consumer "$b/tls_consumer"; }
}
route_meson() {   # ROUTE [ENV=...]: tests/install/meson.build, copied to add subprojects/
    local r=$1; shift
    local b=$B/meson-$r s=$B/meson-src-$r tls=false
    [ $have_tls = 1 ] && tls=true
    mkdir -p "$s"
    cp "$here/meson.build" "$here/meson_options.txt" "$here/consumer.c" "$here/tls_consumer.c" "$s/"
    if [ "$r" = subproject ]; then mkdir "$s/subprojects"; ln -s "$src" "$s/subprojects/asyncio_h"; fi
    env "$@" meson setup "$b" "$s" --buildtype=plain -Droute="$r" -Dtls=$tls -Dexpect_version="$version" >>"$log" 2>&1 &&
    ninja -C "$b" >>"$log" 2>&1 &&
    check_run consumer "$b/consumer" &&
    { [ $have_tls = 0 ] || check_run tls_consumer "$b/tls_consumer"; }
}
routes=()
start() {   # ID WHY-SKIPPED-or-empty COMMAND...: the description is $desc_ID
    local id=$1 why=$2; shift 2
    routes+=("$id")
    if [ -n "$why" ]; then echo "skipped: $why" >"$B/$id.skip"; return; fi
    ( log=$B/$id.log; : >"$log"; "$@"; echo $? >"$B/$id.rc" ) &
}
missing() { for t in "$@"; do command -v "$t" >/dev/null || { echo "no $t"; return; }; done; }
desc_plain="cc -I<prefix>/include"
desc_pkgconfig="pkg-config asyncio_h, asyncio_h-tls"
desc_cmake_find="cmake find_package(asyncio_h) (SameMajorVersion checked)"
desc_cmake_subdir="cmake add_subdirectory"
desc_cmake_fetch="cmake FetchContent"
desc_meson_sub="meson subproject asyncio_h_dep, asyncio_h_tls_dep"
desc_meson_pc="meson dependency('asyncio_h') through pkg-config"
start plain "" route_plain
start pkgconfig "$(missing pkg-config)" route_pkgconfig
start cmake_find "$(missing cmake)" route_cmake find_package -DCMAKE_PREFIX_PATH="$P"
start cmake_subdir "$(missing cmake)" route_cmake add_subdirectory -DASYNCIO_H_SOURCE_DIR="$src"
start cmake_fetch "$(missing cmake)" route_cmake fetchcontent -DFETCHCONTENT_SOURCE_DIR_ASYNCIO_H="$src"
start meson_sub "$(missing meson ninja)" route_meson subproject
start meson_pc "$(missing meson ninja pkg-config)" route_meson pkg-config PKG_CONFIG_PATH="$P/share/pkgconfig"
wait
programs="consumer, tls_consumer"
[ $have_tls = 1 ] || programs="consumer; tls_consumer skipped: no OpenSSL headers"
for id in "${routes[@]}"; do
    d=desc_$id
    if [ -f "$B/$id.skip" ]; then ok "${!d} ($(cat "$B/$id.skip"))"
    elif [ "$(cat "$B/$id.rc" 2>/dev/null)" = 0 ]; then ok "${!d}: $programs"
    else log=$B/$id.log; notok "${!d}"; fi
done
log=$T/log

# ---- uninstall ---------------------------------------------------------------
if mk uninstall PREFIX="$P" >"$log" 2>&1 && [ ! -e "$P" ]; then
    ok "make uninstall removes all that install put (the prefix it made too)"
else tree "$P" >>"$log"; notok "make uninstall removes all that install put"; fi
if mk uninstall PREFIX="$P" >"$log" 2>&1 && grep -q 'nothing to remove' "$log"; then
    ok "make uninstall with nothing installed says so"
else notok "make uninstall with nothing installed says so"; fi

# ---- bad inputs ----------------------------------------------------------------
# refused INFO EXPECT DIR make-args...: make fails, says EXPECT, DIR unchanged
refused() {
    local what=$1 expect=$2 dir=$3; shift 3
    local before; before=$(tree "$dir")
    if "$@" >"$log" 2>&1; then notok "$what" "it succeeded"
    elif ! grep -q -- "$expect" "$log"; then notok "$what" "no message saying '$expect'"
    elif [ "$(tree "$dir")" != "$before" ]; then tree "$dir" >>"$log"; notok "$what" "it left things behind"
    else ok "$what: $(grep -m1 -- "$expect" "$log" | sed "s|$T|<tmp>|g")"; fi
}
refused "make install PREFIX=/dev/null/x (under a file) is refused" "is not a directory" /dev/null mk install PREFIX=/dev/null/x
refused "make install PREFIX=relative/path is refused" "must be an absolute path" "$src/relative" mk install PREFIX=relative/path
refused "make install PREFIX='/tmp/a b' is refused" "has a character" "$T" mk install "PREFIX=$T/a b"

# a prefix the user may not write: as root, an unprivileged user (setpriv)
# against directories root owns; otherwise a directory made read-only
R=$T/ro
mkdir -p "$R/whole" "$R/part"
mk install PREFIX="$R/inst" >"$log" 2>&1 || notok "make install PREFIX=<tmp>/ro/inst"
as_user=()
if [ "$(id -u)" = 0 ]; then
    if command -v setpriv >/dev/null; then
        chown 65534 "$R/part"; mkdir "$R/part/share"   # part/: theirs; part/share: root's
        as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/ MAKEFLAGS= TMPDIR=/tmp PATH="$PATH:/usr/bin:/bin")
    fi
else
    chmod 555 "$R/whole"; mkdir "$R/part/share"; chmod 555 "$R/part/share" "$R/inst/share/pkgconfig"
    as_user=(env)
fi
if [ ${#as_user[@]} = 0 ]; then
    for what in install uninstall; do ok "make $what where it may not write (skipped: root without setpriv)"; done
else
    refused "make install into a prefix it may not write is refused" "is not writable" "$R" \
        "${as_user[@]}" make -s --no-print-directory -C "$src" install PREFIX="$R/whole"
    refused "make install into a prefix writable in part is refused before writing" "is not writable" "$R" \
        "${as_user[@]}" make -s --no-print-directory -C "$src" install PREFIX="$R/part"
    refused "make uninstall where it may not write is refused before removing" "is not writable" "$R" \
        "${as_user[@]}" make -s --no-print-directory -C "$src" uninstall PREFIX="$R/inst"
fi
chmod -R u+w "$R"
# as root in a private mount namespace: a read-only bind mount, and a file
# system too small for the header (the failure comes while writing, after
# the directories were made: all of it is undone)
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
    M=$T/mnt; mkdir -p "$M/ro" "$M/full"
    unshare -m bash -c '
        mount --bind "$1/ro" "$1/ro" && mount -o remount,ro,bind "$1/ro" && mount -t tmpfs -o size=64k tmpfs "$1/full" || exit 99
        tree() { (cd "$1" && find . | LC_ALL=C sort); }
        make -s --no-print-directory -C "$2" install PREFIX="$1/ro/p" > "$3.ro" 2>&1; echo "rc=$?" >> "$3.ro"
        tree "$1/ro" >> "$3.ro"
        make -s --no-print-directory -C "$2" install PREFIX="$1/full/p" > "$3.full" 2>&1; echo "rc=$?" >> "$3.full"
        tree "$1/full" >> "$3.full"' _ "$M" "$src" "$log" >/dev/null 2>&1
    case $? in
    99) ok "make install on a read-only mount (skipped: mount refused)"; ok "make install on a full file system (skipped: mount refused)" ;;
    *)  # after the message: rc, then only "." (the mount point, empty)
        cp "$log.ro" "$log"
        if grep -q 'is not writable' "$log" && [ "$(sed -n '/^rc=/,$p' "$log" | tr '\n' ' ')" = "rc=2 . " ]; then
            ok "make install on a read-only mount is refused: $(grep -m1 'is not writable' "$log" | sed "s|$T|<tmp>|g")"
        else notok "make install on a read-only mount is refused"; fi
        cp "$log.full" "$log"
        if grep -q 'nothing was left behind' "$log" && [ "$(sed -n '/^rc=/,$p' "$log" | tr '\n' ' ')" = "rc=2 . " ]; then
            ok "make install on a full file system fails and undoes what it made: $(grep -m1 'nothing was left behind' "$log" | sed "s|$T|<tmp>|g")"
        else notok "make install on a full file system fails and undoes what it made"; fi ;;
    esac
else
    ok "make install on a read-only mount (skipped: not root, or no unshare -m)"
    ok "make install on a full file system (skipped: not root, or no unshare -m)"
fi

echo "$pass passed, $fail failed"
[ $fail = 0 ]
