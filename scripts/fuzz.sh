#!/bin/sh
# Build the libFuzzer targets with clang in build-fuzz/ (reused between
# runs) and fuzz them one after the other for SECONDS in all (default 60),
# split evenly (60 s and the four targets: 15 s each; at least 1 s each),
# from a corpus kept in build-fuzz/corpus/<target>/ and seeded with the
# committed inputs. Any crash, leak, timeout or OOM is copied into
# tests/fuzz/regressions/<target>/, which the normal build's tests replay:
# commit it, then fix the bug.
#   usage: scripts/fuzz.sh [SECONDS [TARGET...]]
#          targets: spec wire npy json (default: all four)
#          e.g. scripts/fuzz.sh 300 npy     five minutes on the .npy reader
#   env:   FUZZ_BUILD (build-fuzz), JOBS (nproc), FUZZ_ARGS (more libFuzzer
#          options, e.g. -jobs=2 or -only_ascii=1)
set -eu
cd "$(dirname "$0")/.."
total=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-spec wire npy json}
# shellcheck disable=SC2086
set -- $targets
seconds=$((total / $#))
[ "$seconds" -ge 1 ] || seconds=1
build=${FUZZ_BUILD:-build-fuzz}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

mkdir -p "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
    CC=clang cmake -S . -B "$build" -DPTOOLS_FUZZ=ON -DPTOOLS_TESTS=OFF \
        -DPTOOLS_EXAMPLES=OFF -DPTOOLS_BENCH=OFF >"$build/configure.log" 2>&1 ||
        { cat "$build/configure.log"; exit 1; }
fi
fuzzers=""
for t in $targets; do fuzzers="$fuzzers fuzz_$t"; done
# shellcheck disable=SC2086
cmake --build "$build" -j "$jobs" --target $fuzzers >"$build/build.log" 2>&1 ||
    { cat "$build/build.log"; exit 1; }

# The seeds of each target: its regressions, for spec the job specs, for
# npy the NumPy-written fixtures.
seeds() {
    echo "tests/fuzz/regressions/$1"
    [ "$1" = spec ] && echo configs tests/specs
    [ "$1" = npy ] && echo tests/data
    return 0
}

# Options per target: inputs up to 16 KiB of YAML, 64 KiB of frames, 4 KiB
# of .npy (the data's bytes add nothing) or 8 KiB of JSON lines.
options() {
    case $1 in
    spec) echo "-max_len=16384 -dict=fuzz/spec.dict" ;;
    wire) echo "-max_len=65536" ;;
    npy) echo "-max_len=4096 -dict=fuzz/npy.dict" ;;
    json) echo "-max_len=8192 -dict=fuzz/json.dict" ;;
    esac
}

status=0
for t in $targets; do
    corpus=$build/corpus/$t
    artifacts=$build/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    for d in $(seeds "$t"); do
        find "$d" -maxdepth 1 -type f -exec cp -n {} "$corpus/" \;
    done
    rm -f "$artifacts"/*
    # A corpus only grows; past 1000 files, keep the ones that add coverage
    # (so that starting up does not eat the time given to fuzzing).
    if [ "$(find "$corpus" -type f | wc -l)" -gt 1000 ]; then
        rm -rf "$corpus.min"
        mkdir "$corpus.min"
        # shellcheck disable=SC2046
        "$build/fuzz/fuzz_$t" -merge=1 -timeout=10 -rss_limit_mb=2048 \
            $(options "$t") "$corpus.min" "$corpus" </dev/null \
            >"$build/merge-$t.log" 2>&1 &&
            rm -rf "$corpus" && mv "$corpus.min" "$corpus"
    fi
    echo "fuzz: $t for ${seconds}s ($(find "$corpus" -type f | wc -l) inputs in $corpus)"
    # stdin from /dev/null: a spec may name /dev/stdin as an input file.
    # shellcheck disable=SC2046,SC2086
    if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" $(options "$t") ${FUZZ_ARGS:-} \
        "$corpus" </dev/null >"$build/fuzz-$t.log" 2>&1; then
        # The report, from the target's message or the sanitizer's.
        first=$(grep -n -m1 -E '^(==[0-9]+==|fuzz_[a-z]+: |ERROR: libFuzzer)' \
            "$build/fuzz-$t.log" | cut -d: -f1)
        tail -n +"${first:-1}" "$build/fuzz-$t.log" | head -n 80
        status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-$t.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build/fuzz-$t.log")
    echo "fuzz: $t: ${runs:-?} runs, ${rate:-?} exec/s"
    for a in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* \
             "$artifacts"/oom-*; do
        [ -f "$a" ] || continue
        dest=tests/fuzz/regressions/$t/$(basename "$a")
        cp "$a" "$dest"
        echo "fuzz: $t found a bug: the input is saved as $dest"
        status=1
    done
done
if [ $status != 0 ]; then
    echo "fuzz: FAILED. Commit the new inputs in tests/fuzz/regressions/ (the" \
         "fuzz_*_replay tests of the normal build replay them), then fix the bugs."
    exit 1
fi
echo "fuzz: no crash ($targets, ${seconds}s each, ${total}s in all); full logs in $build/fuzz-*.log"
