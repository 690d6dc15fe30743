#!/usr/bin/env bash
# install.sh -- what `make install` and `make uninstall` run.
#
#   bash install.sh install   PREFIX [DESTDIR]
#   bash install.sh uninstall PREFIX [DESTDIR]
#
# install puts under DESTDIR + PREFIX:
#   include/asyncio.h
#   share/pkgconfig/asyncio_h.pc          pkg-config asyncio_h
#   share/pkgconfig/asyncio_h-tls.pc      pkg-config asyncio_h-tls (ASYNCIO_TLS=1, OpenSSL)
#   share/cmake/asyncio_h/                find_package(asyncio_h): asyncio_h::asyncio_h, asyncio_h::tls
#   share/doc/asyncio_h/LICENSE
#   share/doc/asyncio_h/install_manifest  what it put there, directories included, for uninstall
# The files are made in a staging directory and every destination is checked
# before anything is written; they are then written beside their final names
# and renamed into place only once all are written.  A failure before that
# point (a prefix that cannot be written, a full disk) removes what this run
# made and leaves the tree as it was.
#
# uninstall removes those files, and the directories install created (from
# the manifest) when they are empty.  It never removes anything else.
set -euo pipefail
umask 022

usage() { echo "usage: bash install.sh install|uninstall PREFIX [DESTDIR]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
action=$1 prefix=$2 destdir=${3-}
case $action in install|uninstall) ;; *) usage ;; esac
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { printf 'make %s: %s\n' "$action" "$*" >&2; exit 1; }
who=$(id -un 2>/dev/null || id -u)

# ---- the paths ------------------------------------------------------------
check_path() {   # NAME VALUE
    case $2 in /*) ;; *) die "$1 must be an absolute path (got '$2')" ;; esac
    case $2 in *[!A-Za-z0-9._+@%,:=~/-]*)
        die "$1='$2' has a character this install does not handle (space, quote, \$, ...): use a plain path" ;;
    esac
    case /$2/ in */./*|*/../*) die "$1='$2' has a . or .. component: give the directory itself" ;; esac
}
[ -n "$prefix" ] || die "PREFIX is empty (the default is /usr/local)"
check_path PREFIX "$prefix"
[ -z "$destdir" ] || check_path DESTDIR "$destdir"
prefix=$(printf '%s' "$prefix" | tr -s /); prefix=${prefix%/}
destdir=$(printf '%s' "$destdir" | tr -s /); destdir=${destdir%/}
[ -n "$prefix" ] || die "PREFIX=/ is not supported (use PREFIX=/usr)"
root=$destdir$prefix

files=(include/asyncio.h
       share/pkgconfig/asyncio_h.pc
       share/pkgconfig/asyncio_h-tls.pc
       share/cmake/asyncio_h/asyncio_hConfig.cmake
       share/cmake/asyncio_h/asyncio_hConfigVersion.cmake
       share/doc/asyncio_h/LICENSE
       share/doc/asyncio_h/install_manifest)
# directories install may create under PREFIX (uninstall removes no others)
subdirs=(include share share/pkgconfig share/cmake share/cmake/asyncio_h share/doc share/doc/asyncio_h)
manifest=$root/share/doc/asyncio_h/install_manifest

in_list() {   # WORD LIST...: is WORD one of LIST?
    local w=$1; shift
    for x in "$@"; do [ "$x" = "$w" ] && return 0; done
    return 1
}

# ---- uninstall --------------------------------------------------------------
if [ "$action" = uninstall ]; then
    present=()
    for rel in "${files[@]}"; do
        if [ -e "$root/$rel" ] || [ -L "$root/$rel" ]; then present+=("$rel"); fi
    done
    if [ ${#present[@]} = 0 ]; then
        echo "make uninstall: asyncio_h is not installed in $root: nothing to remove"
        exit 0
    fi
    # the directories to remove when empty: the manifest's (only PREFIX, its
    # ancestors and the ones above), and the two that are ours by name
    dirs=("$prefix/share/cmake/asyncio_h" "$prefix/share/doc/asyncio_h")
    if [ -f "$manifest" ]; then
        while read -r kind path; do
            [ "$kind" = dir ] || continue
            ok=0
            if [ "$path" = "$prefix" ]; then ok=1
            else case $prefix/ in "$path"/*) ok=1 ;; esac
                for s in "${subdirs[@]}"; do [ "$path" = "$prefix/$s" ] && ok=1; done
            fi
            if [ $ok = 1 ]; then dirs+=("$path")
            else echo "make uninstall: ignoring '$path' in $manifest: not a directory this install makes" >&2; fi
        done < "$manifest"
    fi
    for rel in "${present[@]}"; do
        d=$(dirname "$root/$rel")
        [ -w "$d" ] && [ -x "$d" ] || die "cannot uninstall from $root: $d is not writable by $who (nothing was removed)"
    done
    for rel in "${present[@]}"; do
        rm -f "$root/$rel" || die "cannot remove $root/$rel"
        echo "  removed $root/$rel"
    done
    while read -r d; do
        [ -n "$d" ] && [ -d "$destdir$d" ] || continue
        if rmdir "$destdir$d" 2>/dev/null; then echo "  removed $destdir$d/"; fi
    done < <(printf '%s\n' "${dirs[@]}" | sort -ru)
    echo "make uninstall: asyncio_h removed from $root"
    exit 0
fi

# ---- install: the version and the staged files -----------------------------
for f in asyncio.h LICENSE asyncio_h.pc.in asyncio_h-tls.pc.in \
         cmake/asyncio_hConfig.cmake.in cmake/asyncio_hConfigVersion.cmake.in; do
    [ -f "$src/$f" ] || die "$src/$f is missing (an incomplete copy of asyncio.h?)"
done
# ASYNCIO_VERSION_MAJOR / _MINOR / _PATCH from the header; 0.9.0 until it has them
nver=$(grep -Ec '^#[[:space:]]*define[[:space:]]+ASYNCIO_VERSION_(MAJOR|MINOR|PATCH)[[:space:]]' "$src/asyncio.h" || true)
if [ "$nver" = 0 ]; then
    major=0 minor=9 patch=0
else
    ver_part() {
        local v
        v=$(sed -nE "s/^#[[:space:]]*define[[:space:]]+ASYNCIO_VERSION_$1[[:space:]]+([0-9]+).*/\1/p" "$src/asyncio.h")
        case $v in ''|*[!0-9]*) die "asyncio.h: ASYNCIO_VERSION_$1 is missing, not a plain number, or defined twice" ;; esac
        printf '%s' "$v"
    }
    major=$(ver_part MAJOR)
    minor=$(ver_part MINOR)
    patch=$(ver_part PATCH)
fi
version=$major.$minor.$patch

stage=$(mktemp -d "${TMPDIR:-/tmp}/asyncio_h-install.XXXXXX") || die "cannot make a staging directory in ${TMPDIR:-/tmp}"
made=() tmps=() committed=0
finish() {
    if [ $committed = 0 ]; then
        [ ${#tmps[@]} = 0 ] || rm -f "${tmps[@]}"
        for ((i = ${#made[@]} - 1; i >= 0; i--)); do rmdir "${made[i]}" 2>/dev/null || true; done
    fi
    rm -rf "$stage"
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

subst() {   # TEMPLATE OUT
    sed -e "s|@PREFIX@|$prefix|g" -e "s|@VERSION@|$version|g" -e "s|@VERSION_MAJOR@|$major|g" "$1" > "$2"
    if grep -n '@[A-Z_]*@' "$2" >&2; then die "$1: a placeholder above is not known to install.sh"; fi
}
mkdir -p "$stage/include" "$stage/share/pkgconfig" "$stage/share/cmake/asyncio_h" "$stage/share/doc/asyncio_h"
cp "$src/asyncio.h" "$stage/include/asyncio.h"
cp "$src/LICENSE" "$stage/share/doc/asyncio_h/LICENSE"
subst "$src/asyncio_h.pc.in" "$stage/share/pkgconfig/asyncio_h.pc"
subst "$src/asyncio_h-tls.pc.in" "$stage/share/pkgconfig/asyncio_h-tls.pc"
subst "$src/cmake/asyncio_hConfig.cmake.in" "$stage/share/cmake/asyncio_h/asyncio_hConfig.cmake"
subst "$src/cmake/asyncio_hConfigVersion.cmake.in" "$stage/share/cmake/asyncio_h/asyncio_hConfigVersion.cmake"

# ---- install: check every destination before writing anything ----------------
create=()   # directories to make, outermost first
for rel in include share/pkgconfig share/cmake/asyncio_h share/doc/asyncio_h; do
    p=$root/$rel missing=()
    while [ ! -e "$p" ] && [ ! -L "$p" ]; do missing=("$p" ${missing[@]+"${missing[@]}"}); p=$(dirname "$p"); done
    [ -d "$p" ] || die "cannot install into $root: $p is not a directory (nothing was written)"
    [ -w "$p" ] && [ -x "$p" ] || die "cannot install into $root: $p is not writable by $who (nothing was written; choose another PREFIX, e.g. PREFIX=\$HOME/.local, or run as a user who may write there)"
    for m in ${missing[@]+"${missing[@]}"}; do
        in_list "$m" ${create[@]+"${create[@]}"} || create+=("$m")
    done
done
# the manifest names them without DESTDIR; DESTDIR itself and what is above
# it are not part of the installed tree
recorded=()
for m in ${create[@]+"${create[@]}"}; do
    if [ -z "$destdir" ]; then recorded+=("$m")
    else case $m in "$destdir"/*) recorded+=("${m#"$destdir"}") ;; esac
    fi
done
for rel in "${files[@]}"; do
    if [ -d "$root/$rel" ]; then die "cannot install into $root: $root/$rel is a directory (nothing was written)"; fi
done
# the manifest: what this install put, with the directories of an earlier one
{
    echo "# asyncio_h $version, installed by make install; make uninstall removes these"
    for rel in "${files[@]}"; do echo "file $prefix/$rel"; done
    old=()
    if [ -f "$manifest" ]; then
        while read -r kind path; do if [ "$kind" = dir ]; then old+=("$path"); fi; done < "$manifest"
    fi
    for d in ${old[@]+"${old[@]}"} ${recorded[@]+"${recorded[@]}"}; do echo "dir $d"; done | awk '!seen[$0]++'
} > "$stage/share/doc/asyncio_h/install_manifest"

# ---- install: write beside the final names, then rename into place ------------
for d in ${create[@]+"${create[@]}"}; do
    mkdir -m 755 "$d" || die "cannot create $d (nothing was left behind)"
    made+=("$d")
done
for rel in "${files[@]}"; do
    t=$(dirname "$root/$rel")/.$(basename "$rel").asyncio_h-install.$$
    tmps+=("$t")
    { cp "$stage/$rel" "$t" && chmod 644 "$t"; } || die "cannot write $t (nothing was left behind)"
done
for i in "${!files[@]}"; do
    mv -f "${tmps[i]}" "$root/${files[i]}" || die "cannot rename ${tmps[i]} to $root/${files[i]}"
done
committed=1
echo "make install: asyncio_h $version in $root:"
for rel in "${files[@]}"; do echo "  $root/$rel"; done
