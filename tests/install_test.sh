#!/bin/sh
# Install ptools into a temporary prefix, then build the tour the two ways a
# user would: with pkg-config and with CMake's find_package. Run both.
#   usage: install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -n 1)

export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror -o "$tmp/tour_pc" "$src/examples/tour.c" \
    $(pkg-config --cflags --libs ptools)
LD_LIBRARY_PATH="$libdir" "$tmp/tour_pc" | grep -q 'x\[999\] = 998001'

cmake -S "$src/tests/find_package" -B "$tmp/user" \
    -DCMAKE_PREFIX_PATH="$tmp/prefix" -DTOUR_SOURCE="$src/examples/tour.c" \
    >/dev/null
cmake --build "$tmp/user" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/user/tour_user" | grep -q 'x\[999\] = 998001'
# The installed ptrun finds the installed kernels and plugins by bare name.
"$tmp/prefix/bin/ptrun" run "$src/configs/pi.yaml" --out "$tmp/run" -q
test "$(wc -l < "$tmp/run/results.jsonl")" -eq 16
test -f "$tmp/prefix/share/man/man1/ptrun.1"
echo "install test: pkg-config and find_package builds of the tour run;"
echo "  the installed ptrun runs configs/pi.yaml with installed kernels"
