#!/bin/sh
# Install the Debian packages ptools needs to build and test, skipping those
# already present. Usage: scripts/deps.sh [build|test|bench]
#   build: what `make run` needs, and what the README's commands use
#   (jq, python3-numpy); test: also what `make test` needs;
#   bench: also what `make bench` runs beside ptools as references (GNU
#   Parallel, python3 for bench/run_bench.py, gcc's OpenMP runtime).
set -eu

# CUnit too: the tests' CMakeLists.txt needs it to configure at all
need="cmake make gcc pkg-config libyaml-dev nettle-dev libjansson-dev libcunit1-dev"
# the README reads results with jq and NumPy; python3 runs
# scripts/quickstart_answers.py (`make run` shows the answers)
need="$need jq python3 python3-numpy"
if [ "${1:-build}" = test ]; then
    # clang and its runtimes (libclang_rt.fuzzer) for scripts/fuzz.sh;
    # chromium draws `ptrun report`'s page in tests/e2e/test_report.py
    need="$need valgrind clang libclang-rt-14-dev"
    # dpkg-shlibdeps: the Depends of the .deb (make deb, tests/deb_test.sh)
    need="$need dpkg-dev"
    # scripts/format.sh (make format, make format-check), pinned by version
    need="$need clang-format-14"
    need="$need chromium"
    # Open MPI: ptrun-mpi and the end-to-end test over 3 ranks
    need="$need openmpi-bin libopenmpi-dev"
    # lcov (lcov, genhtml) for scripts/coverage.sh (make coverage)
    need="$need lcov"
    # strace: tests/e2e/test_startup.py watches what a run's start opens
    need="$need strace"
elif [ "${1:-build}" = bench ]; then
    # omp.h and libgomp.so come with gcc (libgcc-*-dev); libgomp1 is the
    # runtime. bench/CMakeLists.txt skips pi_omp if OpenMP is not found.
    need="$need parallel python3 libgomp1 openmpi-bin libopenmpi-dev"
fi

missing=""
for p in $need; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "ptools: installing missing packages:$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=sudo
    else
        echo "ptools: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
