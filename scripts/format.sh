#!/bin/sh
# Check or fix the C formatting of every tracked .c/.h file with Debian's
# clang-format-14 (pinned: another version formats differently).
#   usage: scripts/format.sh check   list the files that differ; exit 1 if any
#          scripts/format.sh fix     rewrite them in place
set -eu
mode=${1:-check}
cf=clang-format-14
if ! command -v "$cf" >/dev/null 2>&1; then
    echo "format.sh: $cf not found (Debian package clang-format-14;" \
         "scripts/deps.sh test installs it)" >&2
    exit 2
fi
cd "$(dirname "$0")/.."
files=$(git ls-files -- 'lib/*.[ch]' 'runner/*.[ch]' 'plugins/*.[ch]' \
    'kernels/*.[ch]' 'include/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]' \
    'examples/*.[ch]' 'fuzz/*.[ch]')
case $mode in
fix)
    # shellcheck disable=SC2086
    [ -z "$files" ] || "$cf" -i --style=file $files
    # the README embeds the examples verbatim (tests/check_readme.sh)
    python3 scripts/sync_readme.py .
    ;;
check)
    bad=0
    for f in $files; do
        if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
            echo "$f"
            bad=$((bad + 1))
        fi
    done
    if [ "$bad" -gt 0 ]; then
        echo "format.sh: $bad files differ from $cf's format" \
             "(make format fixes them)" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: $0 check|fix" >&2
    exit 2
    ;;
esac
