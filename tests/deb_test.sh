#!/bin/sh
# The Debian package (make deb): pack this build with CPack, check its
# Depends and contents, unpack it with `dpkg -x` into a scratch root (no
# chroot, no root needed), and run a job with the ptrun from there: it finds
# the packaged kernels and plugins, and the plugins the packaged libptools.
#   usage: deb_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
    echo "deb test: $*" >&2
    exit 1
}

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" \
    >"$tmp/cpack.log" 2>&1 || {
    cat "$tmp/cpack.log" >&2
    fail "cpack failed"
}
deb=$(ls "$tmp"/pkg/ptools_*.deb)
test "$(dpkg-deb -f "$deb" Package)" = ptools || fail "package name"
depends=$(dpkg-deb -f "$deb" Depends)
# libyaml and nettle are needed only when ptrun does not carry them
# (PTRUN_STATIC_DEPS links their archives in when they exist).
needed=$(readelf -d "$build/ptrun" | grep NEEDED)
deps="libc6 libjansson4"
echo "$needed" | grep -q libyaml && deps="$deps libyaml-0-2"
echo "$needed" | grep -q libnettle && deps="$deps libnettle8"
for dep in $deps; do
    echo "$depends" | grep -q "\\b$dep\\b" || fail "Depends lacks $dep: $depends"
done
echo "$depends" | grep -q mpi && fail "ptools Depends on MPI: $depends"
if [ -f "$build/ptrun-mpi" ]; then
    mpi=$(ls "$tmp"/pkg/ptools-mpi_*.deb)
    dpkg-deb -f "$mpi" Depends | grep -q '\bptools\b' ||
        fail "ptools-mpi does not depend on ptools"
    dpkg-deb -c "$mpi" | grep -q '/usr/bin/ptrun-mpi$' || fail "no ptrun-mpi"
fi

# apt install runs ldconfig (postinst), so libptools.so.0 is found at once.
dpkg-deb -e "$deb" "$tmp/control"
grep -q '^libptools 0 ptools' "$tmp/control/shlibs" || fail "no shlibs"
grep -q '^[[:space:]]*ldconfig' "$tmp/control/postinst" || fail "no ldconfig"

root=$tmp/root
dpkg -x "$deb" "$root"
for f in bin/ptrun include/ptools/kernel.h share/man/man1/ptrun.1; do
    test -e "$root/usr/$f" || fail "no /usr/$f in the package"
done
libdir=$(dirname "$(find "$root/usr/lib" -name libptools.so.0 | head -n 1)")
for f in libptools.a pkgconfig/ptools.pc cmake/ptools/ptoolsConfig.cmake \
    cmake/ptools/ptoolsHelpers.cmake ptools/kernels/pi.so \
    ptools/plugins/csv.so ptools/plugins/jsonl.so; do
    test -e "$libdir/$f" || fail "no $f beside libptools.so.0"
done

# A job with the shipped kernels (bare names) and the csv plugin.
cat >"$tmp/job.yaml" <<'YAML'
ptrun: 1
name: deb
seed: 42
shm:
  segments:
    - {name: ones, type: float64, dims: [1000], save: true}
kernels:
  pi:   {path: pi}
  fill: {path: fill}
  sum:  {path: sum}
workersets:
  - {name: cpu, workers: 2, mode: ff}
steps:
  - name: sample
    tasks:
      - {kernel: pi, args: {samples: 100000}, repeat: 4}
  - name: fill
    tasks:
      - {kernel: fill, each_worker: true,
         args: {segment: ones, value: 1, part: worker}}
  - name: reduce
    tasks:
      - {kernel: sum, args: {segment: ones}}
plugins:
  - {name: csv}
YAML
env -u PTRUN_KERNEL_PATH "$root/usr/bin/ptrun" run "$tmp/job.yaml" \
    --out "$tmp/run" -q || fail "ptrun run exited $?"
got=$(jq -sc 'sort_by(.task) | map(.result.hits // .result.filled // .result.sum)' \
    "$tmp/run/results.jsonl")
test "$got" = '[78321,78388,78589,78768,500,500,1000]' || fail "results $got"
test "$(wc -l <"$tmp/run/results.csv")" -eq 8 || fail "results.csv"
kpath=$(jq -r '.kernels.pi.path' "$tmp/run/manifest.json")
test "$kpath" = "$libdir/ptools/kernels/pi.so" || fail "pi.so from $kpath"

# The packaged pkg-config file is relocatable: build the tour against it.
# shellcheck disable=SC2046
PKG_CONFIG_PATH="$libdir/pkgconfig" cc -std=c11 -o "$tmp/tour" \
    "$src/examples/tour.c" $(PKG_CONFIG_PATH="$libdir/pkgconfig" \
    pkg-config --cflags --libs ptools)
LD_LIBRARY_PATH="$libdir" "$tmp/tour" | grep -q 'x\[999\] = 998001' ||
    fail "the tour built against the package"
echo "deb test: $(basename "$deb") ($depends) unpacks and runs a job"
