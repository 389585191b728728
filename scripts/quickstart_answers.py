#!/usr/bin/python3
"""quickstart_answers.py - what `make run` runs: the quickstart job, with its
answers (pi to 4 decimals, the sum of the segment) shown before ptrun's
end-of-run summary.

    scripts/quickstart_answers.py PTRUN [JOB.yaml]     (default
                                                      configs/quickstart.yaml)

ptrun runs as usual (its progress lines on a terminal, through a pty that
has the terminal's size); what it prints from its summary line on
("ptrun: quickstart: ...") is held back, the answers are read from
runs/latest/results.jsonl and printed, then the summary. Exits with ptrun's
status. `scripts/quickstart_answers.py --answers DIR` only prints the answers
of the run folder DIR.
"""
import fcntl
import json
import os
import pty
import re
import subprocess
import sys
import termios

SUMMARY = re.compile(rb"(^|[\r\n])ptrun: [A-Za-z0-9_-]+: \d+ ok")


def answers(run_dir):
    """The lines telling pi and the sum of run folder run_dir."""
    with open(os.path.join(run_dir, "results.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    ok = [r for r in rows if r["status"] == "ok"]
    pis = [r["result"] for r in ok if r["kernel"] == "pi"]
    sums = [r["result"] for r in ok if r["kernel"] == "sum"]
    out = []
    if pis:
        hits = sum(p["hits"] for p in pis)
        samples = sum(p["samples"] for p in pis)
        out.append("pi  = %.4f  (%d tasks, %d samples)"
                   % (4.0 * hits / samples, len(pis), samples))
    for s in sums:
        v = s["sum"]
        v = int(v) if isinstance(v, float) and v.is_integer() else v
        out.append("sum = %s  (%d elements)" % (v, s["count"]))
    if len(out) < 2:
        out.append("(the job has no %s answer: see %s/results.jsonl)"
                   % ("pi" if not pis else "sum", run_dir))
    return "".join(line + "\n" for line in out)


def run(cmd):
    """Run cmd; pass its stderr through until its summary begins, which is
    returned (bytes) with its exit status."""
    tty = os.isatty(2)
    if tty:
        master, slave = pty.openpty()
        size = fcntl.ioctl(2, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
        attrs = termios.tcgetattr(slave)
        attrs[1] &= ~termios.ONLCR  # "\n" as it is, no "\r\n"
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        p = subprocess.Popen(cmd, stderr=slave)
        os.close(slave)
        src = master
    else:
        p = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        src = p.stderr.fileno()
    held, pending = None, b""
    while True:
        try:
            chunk = os.read(src, 65536)
        except OSError:  # EIO: the pty's other end has closed
            chunk = b""
        if not chunk:
            break
        if held is not None:
            held += chunk
            continue
        pending += chunk
        m = SUMMARY.search(pending)
        if m:
            start = m.start() + len(m.group(1))
            os.write(2, pending[:start])
            held, pending = pending[start:], b""
        else:  # keep a partial last line: it may be the summary's start
            cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
            os.write(2, pending[:cut])
            pending = pending[cut:]
    os.close(src) if tty else p.stderr.close()
    return p.wait(), (held or b"") + pending


def main(argv):
    if len(argv) == 3 and argv[1] == "--answers":
        sys.stdout.write(answers(argv[2]))
        return 0
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    job = argv[2] if len(argv) == 3 else "configs/quickstart.yaml"
    rc, summary = run([argv[1], "run", job])
    if rc in (0, 1) and os.path.isdir("runs/latest"):
        sys.stdout.write(answers("runs/latest"))
        sys.stdout.flush()
    os.write(2, summary)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
