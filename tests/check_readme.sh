#!/bin/sh
# Every C example in the README must be the matching examples/ file
# verbatim, so that README code always compiles and runs: the first ```c
# block after a line "<!-- example: NAME.c -->" is compared with
# examples/NAME.c.
#   usage: check_readme.sh SOURCE_DIR
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk -v dir="$tmp" '
    /<!-- example: [a-z_]+\.c -->/ { name = $3; next }
    name != "" && /^```c$/ { out = dir "/" name; next }
    out != "" && /^```$/ { close(out); out = ""; name = ""; next }
    out != "" { print > out }' "$src/README.md"
count=0
status=0
for f in "$tmp"/*.c; do
    [ -e "$f" ] || break
    count=$((count + 1))
    if ! diff -u "$src/examples/$(basename "$f")" "$f"; then
        echo "README.md's $(basename "$f") differs from examples/" >&2
        status=1
    fi
done
if [ "$count" -lt 4 ]; then
    echo "README.md embeds only $count examples (expected at least 4)" >&2
    exit 1
fi
[ $status -eq 0 ] && echo "README: $count examples match examples/"
exit $status
