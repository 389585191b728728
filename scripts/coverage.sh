#!/bin/sh
# Line and branch coverage of the unit and end-to-end tests (make coverage).
# Usage: scripts/coverage.sh [BUILD [JOBS]]   (default build-coverage, 2)
# BUILD must be configured with -DPTOOLS_COVERAGE=ON and built. The script
# zeroes the counters, runs every ctest test, captures the counters with
# lcov (system headers, tests/, bench/, fuzz/, examples/ and generated files
# left out), prints one line per part (lib/, runner/, plugins/, kernels/),
# the functions of lib/ and runner/ with the most lines never run
# (COVERAGE_TOP of them, 10), and writes the HTML report to BUILD/html/.
# Exit status: ctest's (the figures are printed even when a test failed).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build-coverage}" && pwd)
jobs=${2:-2}
rc="--rc lcov_branch_coverage=1"
parts="lib runner plugins kernels"

if ! grep -qs '^PTOOLS_COVERAGE:BOOL=ON' "$build/CMakeCache.txt"; then
    echo "coverage.sh: $build is not a PTOOLS_COVERAGE=ON build" >&2
    exit 2
fi

lcov --quiet --zerocounters --directory "$build"
rm -rf "$build/html" "$build"/coverage*.info

status=0
ctest --test-dir "$build" -j "$jobs" --output-on-failure || status=$?

# shellcheck disable=SC2086
lcov --quiet $rc --capture --directory "$build" --base-directory "$src" \
    --output-file "$build/coverage-all.info" 2>"$build/coverage-lcov.log" || {
    cat "$build/coverage-lcov.log" >&2
    exit 1
}
# shellcheck disable=SC2086
lcov --quiet $rc --remove "$build/coverage-all.info" '/usr/*' \
    "$src/tests/*" "$src/bench/*" "$src/fuzz/*" "$src/examples/*" \
    "$build/*" --output-file "$build/coverage.info"

# The "lines" or "branches" figure of an lcov summary: "85.1% (851/1000)".
figure() {
    sed -n "s/^ *$1\.*: \([0-9.]*%\) (\([0-9]*\) of \([0-9]*\).*/\1 (\2\/\3)/p"
}

printf '%-9s %-22s %s\n' part lines branches
for part in $parts total; do
    info="$build/coverage-$part.info"
    if [ "$part" = total ]; then
        info="$build/coverage.info"
    else
        # shellcheck disable=SC2086
        lcov --quiet $rc --extract "$build/coverage.info" "$src/$part/*" \
            --output-file "$info"
    fi
    # shellcheck disable=SC2086
    sum=$(lcov $rc --summary "$info" 2>&1)
    lines=$(echo "$sum" | figure lines)
    branches=$(echo "$sum" | figure branches)
    printf '%-9s %-22s %s\n' "$part/" "${lines:-none}" "${branches:-none}"
done

# The functions of lib/ and runner/ with the most lines never run.
echo
echo "most lines never run, by function (lib/ and runner/):"
cat "$build/coverage-lib.info" "$build/coverage-runner.info" | awk -v src="$src/" '
    /^SF:/ { file = substr($0, 4); sub(src, "", file); nfn = 0; next }
    /^FN:/ { split(substr($0, 4), f, ","); fl[++nfn] = f[1] + 0; fname[nfn] = f[2]; next }
    /^DA:/ {
        split(substr($0, 4), d, ","); fn = "?"; best = 0
        for (j = 1; j <= nfn; j++)
            if (fl[j] <= d[1] + 0 && fl[j] >= best) { best = fl[j]; fn = fname[j] }
        key = file ":" fn; total[key]++
        if (d[2] == 0) missed[key]++
    }
    END { for (k in missed) printf "%5d of %-4d %s\n", missed[k], total[k], k }' |
    sort -k1,1nr -k4 | head -n "${COVERAGE_TOP:-10}"

# shellcheck disable=SC2086
genhtml --quiet $rc --branch-coverage --legend --title "ptools" \
    --prefix "$src" --output-directory "$build/html" "$build/coverage.info" \
    >/dev/null
echo
echo "HTML report: $build/html/index.html"
exit "$status"
