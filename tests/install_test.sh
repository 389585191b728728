#!/bin/sh
# Install ptools into a temporary prefix, then use it the ways a user
# would: build the tour with pkg-config (shared and static) and with CMake's
# find_package; build a kernel and a plugin with ptools_add_kernel and
# ptools_add_plugin and run them through the installed ptrun; install with
# scripts/install.sh (make install) under a DESTDIR.
#   usage: install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -n 1)
libdir=${libdir%/}

export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$tmp/tour_pc" "$src/examples/tour.c" \
    $(pkg-config --cflags --libs ptools)
LD_LIBRARY_PATH="$libdir" "$tmp/tour_pc" | grep -q 'x\[999\] = 998001'

# pkg-config --static: -ldl, not a bare "dl"; the tour links libptools.a
# and runs with no LD_LIBRARY_PATH.
static=$(pkg-config --static --libs ptools)
# shellcheck disable=SC2086 # split into words on purpose
set -- $static
if [ $# -ne 3 ] || [ "$(realpath "${1#-L}")" != "$(realpath "$libdir")" ] ||
    [ "$2 $3" != "-lptools -ldl" ]; then
    echo "pkg-config --static --libs ptools: $static" >&2
    exit 1
fi
# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Werror -o "$tmp/tour_static" "$src/examples/tour.c" \
    $(pkg-config --cflags ptools) -Wl,-Bstatic $static -Wl,-Bdynamic
if readelf -d "$tmp/tour_static" | grep -q 'libptools'; then
    echo "tour_static needs libptools.so" >&2
    exit 1
fi
"$tmp/tour_static" | grep -q 'x\[999\] = 998001'

cmake -S "$src/tests/find_package" -B "$tmp/user" \
    -DCMAKE_PREFIX_PATH="$tmp/prefix" -DTOUR_SOURCE="$src/examples/tour.c" \
    >/dev/null
cmake --build "$tmp/user" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/user/tour_user" | grep -q 'x\[999\] = 998001'
# ptools_add_kernel: cube.so, no lib prefix, links nothing of ptools.
if readelf -d "$tmp/user/cube.so" | grep -q 'libptools'; then
    echo "cube.so (ptools_add_kernel) needs libptools" >&2
    exit 1
fi
readelf -d "$tmp/user/tally.so" | grep -q 'NEEDED.*libptools\.so\.0'
cat >"$tmp/cube.yaml" <<'YAML'
ptrun: 1
name: cube
kernels:
  cube: {path: ./user/cube.so}
workersets:
  - {name: cpu, workers: 1}
steps:
  - name: one
    tasks:
      - {kernel: cube, args: {x: 7}}
plugins:
  - {path: ./user/tally.so}
YAML
"$tmp/prefix/bin/ptrun" run "$tmp/cube.yaml" --out "$tmp/cube" -q
got=$(jq -c '{task, status, y: .result.y}' "$tmp/cube/results.jsonl")
test "$got" = '{"task":0,"status":"ok","y":343}' || {
    echo "cube job: $got" >&2
    exit 1
}
test "$(cat "$tmp/cube/tally.txt")" = "ok 1"

# The installed ptrun finds the installed kernels and plugins by bare name.
"$tmp/prefix/bin/ptrun" run "$src/configs/pi.yaml" --out "$tmp/run" -q
test "$(wc -l <"$tmp/run/results.jsonl")" -eq 16
test -f "$tmp/prefix/share/man/man1/ptrun.1"

# make install DESTDIR=...: staged under DESTDIR + the build's prefix, and
# it says so (no ldconfig under a DESTDIR).
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt")
said=$(cd "$src" && DESTDIR="$tmp/stage" scripts/install.sh "$build" 2)
test "$said" = "installed into $tmp/stage$prefix (lib, include, bin, share)" || {
    echo "scripts/install.sh said: $said" >&2
    exit 1
}
test -x "$tmp/stage$prefix/bin/ptrun"
test -f "$tmp/stage$prefix/include/ptools/kernel.h"
echo "install test: pkg-config (shared, static) and find_package builds of"
echo "  the tour run; ptools_add_kernel/plugin build cube.so and tally.so,"
echo "  run by the installed ptrun; make install stages under DESTDIR"
