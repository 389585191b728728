#!/usr/bin/python3
"""sync_readme.py - copy each examples/NAME.c into README.md's ```c block
after its "<!-- example: NAME.c -->" line (tests/check_readme.sh checks
that they match; `make format` runs this after formatting the examples).

    scripts/sync_readme.py [SOURCE_DIR]
"""
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..")
path = os.path.join(src, "README.md")
with open(path) as f:
    text = f.read()


def example(m):
    with open(os.path.join(src, "examples", m.group(2))) as f:
        return m.group(1) + f.read() + "```"


new = re.sub(r"(<!-- example: ([a-z_]+\.c) -->\n```c\n)(.*?)```", example,
             text, flags=re.S)
if new != text:
    with open(path, "w") as f:
        f.write(new)
