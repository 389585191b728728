#!/bin/sh
# Run every unit test executable of BUILD_DIR under valgrind's memcheck. Any
# memory error or definite/indirect leak, in a test or in any process it
# forks (valgrind follows forks), fails the run: with --quiet, valgrind
# writes nothing unless it found something, so any line it wrote is a
# failure, whatever the exit status of the process that found it.
#   usage: valgrind-tests.sh BUILD_DIR
set -eu
build=$1
logs=$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"
status=0
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if ! valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        --log-file="$logs/$name.%p.log" "$t" >"$logs/$name.out" 2>&1; then
        echo "valgrind: $name: the tests failed (see $logs/$name.out)"
        tail -n 30 "$logs/$name.out"
        status=1
    fi
    if grep -q '^==[0-9]*==' "$logs/$name".*.log 2>/dev/null; then
        echo "valgrind: $name: memcheck found errors:"
        grep -h '^==[0-9]*==' "$logs/$name".*.log | head -n 60
        status=1
    else
        echo "valgrind: $name: clean"
    fi
done

# ptrun itself, end to end, on a small job (its workers are followed too).
run=$logs/ptrun-run
if ! valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    --log-file="$logs/ptrun.%p.log" "$build/ptrun" run configs/shm-fill-sum.yaml \
    --out "$run" -q >"$logs/ptrun.out" 2>&1; then
    echo "valgrind: ptrun: the run failed (see $logs/ptrun.out)"
    tail -n 30 "$logs/ptrun.out"
    status=1
fi
if grep -q '^==[0-9]*==' "$logs"/ptrun.*.log 2>/dev/null; then
    echo "valgrind: ptrun: memcheck found errors:"
    grep -h '^==[0-9]*==' "$logs"/ptrun.*.log | head -n 60
    status=1
else
    echo "valgrind: ptrun run configs/shm-fill-sum.yaml: clean"
fi
exit $status
