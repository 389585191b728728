#!/bin/sh
# make install: configure BUILD for PREFIX (when given), build, install
# (under DESTDIR when set), and say where. Into a system prefix (/usr,
# /usr/local) without DESTDIR, as root, it runs ldconfig so that programs
# find libptools.so.0 at once.
#   usage: scripts/install.sh BUILD JOBS [PREFIX] [CMAKE_ARGS...]
#   env:   DESTDIR (staged install: packaging, a chroot, a scratch root)
set -eu
build=$1 jobs=$2
prefix=${3:-}
if [ $# -ge 3 ]; then shift 3; else shift $#; fi

# Reconfiguring an existing build/ keeps the cache and is cheap; the
# compiled-in kernel and plugin directories follow the new prefix.
if [ -n "$prefix" ] || [ $# -gt 0 ] || [ ! -f "$build/CMakeCache.txt" ]; then
    case $prefix in
    '' | /*) ;;
    *) prefix=$(pwd)/$prefix ;; # cmake would take it relative to build/
    esac
    set -- "$@" ${prefix:+"-DCMAKE_INSTALL_PREFIX=$prefix"}
    cmake -S . -B "$build" "$@" >/dev/null
fi
cmake --build "$build" -j "$jobs" >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt")
cmake --install "$build" >/dev/null

# Name the top folders written, from the install manifest (it lists the
# paths without DESTDIR).
dest=${DESTDIR:-}${prefix}
dirs=""
for d in lib include bin share; do
    if grep -q "^${prefix%/}/$d/" "$build/install_manifest.txt"; then
        dirs="${dirs:+$dirs, }$d"
    fi
done
echo "installed into $dest ($dirs)"

case $prefix in
/usr | /usr/ | /usr/local | /usr/local/) system=1 ;;
*) system=0 ;;
esac
if [ -n "${DESTDIR:-}" ]; then
    exit 0
elif [ $system = 1 ] && [ "$(id -u)" = 0 ]; then
    ldconfig
elif [ $system = 1 ]; then
    echo "run 'sudo ldconfig' so that programs find libptools.so.0" >&2
else
    libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
    echo "a private prefix: link with -Wl,-rpath,$prefix/$libdir" \
        "or set LD_LIBRARY_PATH=$prefix/$libdir to run programs that use libptools" >&2
fi
