#!/bin/sh
# The README's tour must be examples/tour.c verbatim, so it always compiles:
# the first ```c block after the line "<!-- tour.c -->" is compared.
#   usage: check_readme.sh SOURCE_DIR
set -eu
src=$1
awk '/<!-- tour.c -->/ {on = 1; next}
     on && /^```c$/ {copy = 1; next}
     copy && /^```$/ {exit}
     copy {print}' "$src/README.md" > "${TMPDIR:-/tmp}/readme-tour.$$.c"
if ! diff -u "$src/examples/tour.c" "${TMPDIR:-/tmp}/readme-tour.$$.c"; then
    rm -f "${TMPDIR:-/tmp}/readme-tour.$$.c"
    echo "README.md's tour differs from examples/tour.c" >&2
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/readme-tour.$$.c"
echo "README tour matches examples/tour.c"
