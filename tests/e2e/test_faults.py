"""End-to-end: every system call ptrun's error paths depend on, made to fail.

PTOOLS_FAULT=POINT:N makes the Nth call of one system call wrapper fail
(lib/sys.c). For each point and a few N, a small job (two worker sets, a
segment saved as .npy, eight tasks in two steps, one with a result too big
for the pipe, one that prints) runs with the fault, and:

- ptrun exits 0 (the fault was absorbed), 1 (tasks crashed: the fault was
  in a worker) or 3 (a runtime error), never 2, never by a signal, and a
  failure says which call failed (its errno's text);
- nothing is left: no process, no /dev/shm segment, no ctl.sock;
- the run folder is gone (nothing had started) or has its manifest, and
  `ptrun run --resume` (without the fault) completes it to the full result,
  exact values included: that of a run without faults.

Run by ctest with PTRUN, SRC and TEST_KERNELS in the environment, like
test_ptrun.py.
"""
import ctypes
import errno
import json
import os
import re
import sys
import tempfile
import time
import unittest

import numpy as np

from e2e_util import TEST_KERNELS, ptrun, children

PREFIX = "flt%d" % os.getpid()

# Orphans of the ptrun under test become this process's children, so that
# "no process left" can be checked (prctl PR_SET_CHILD_SUBREAPER).
LIBC = ctypes.CDLL(None, use_errno=True)
if LIBC.prctl(36, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno())

JOB = """\
ptrun: 1
name: faults
seed: 5
shm:
  prefix: %s
  segments:
    - {name: ids, type: int32, dims: [4096], init: {fill: 3}, save: true}
kernels:
  sum: {path: sum}
  pi: {path: pi}
  big: {path: %s/faults.so, name: big_result}
  chatty: {path: %s/faults.so, name: spam_stdout}
workersets:
  - {name: a, workers: 2, mode: rr}
  - {name: b, workers: 1, mode: ff}
steps:
  - name: one
    tasks:
      - {kernel: sum, workerset: a, each_worker: true,
         args: {segment: ids, part: worker}}
      - {kernel: pi, workerset: b, args: {samples: 1000}, repeat: 2}
  - name: two
    tasks:
      - {kernel: sum, workerset: b, args: {segment: ids}}
      - {kernel: pi, workerset: a, args: {samples: 2000}}
      - {kernel: big, workerset: b, args: {bytes: 1100000}}
      - {kernel: chatty, workerset: a, args: {lines: 3}}
""" % (PREFIX, TEST_KERNELS, TEST_KERNELS)
NTASKS = 8

# Each point, and the errno it fails with by default (lib/sys.c).
POINTS = {"fork": errno.EAGAIN, "pipe": errno.EMFILE,
          "shm_open": errno.EMFILE, "ftruncate": errno.EFBIG,
          "fallocate": errno.ENOSPC, "mmap": errno.ENOMEM,
          "write": errno.ENOSPC, "fsync": errno.EIO,
          "socket": errno.EMFILE, "bind": errno.EACCES,
          "open": errno.EMFILE}
# Which calls fail; E2E_FAULT_CALLS=1-40 sweeps wider by hand.
CALLS = os.environ.get("E2E_FAULT_CALLS", "1,2,5")
OCCURRENCES = [int(c) for c in CALLS.split(",")] if "-" not in CALLS else \
    list(range(int(CALLS.split("-")[0]), int(CALLS.split("-")[1]) + 1))
# The line a fault prints as it fires; a worker's lands in output.log.
NOTICE = re.compile(r"^(?:\[\d+ \w+/\d+ stderr\] )?ptools: PTOOLS_FAULT: "
                    r"call \d+ of (\w+) fails with \w+ \(pid \d+\)$", re.M)


def reap():
    """Wait for the orphans: killed with ptrun (parent-death signal)."""
    deadline = time.monotonic() + 30
    while children() and time.monotonic() < deadline:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break


def segments():
    return {e for e in os.listdir("/dev/shm")
            if e.startswith("ptools_%s_" % PREFIX)}


def last_rows(out):
    """results.jsonl's lines (whole lines only), and the last per task."""
    with open(os.path.join(out, "results.jsonl")) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "a half line in results.jsonl"
    rows = [json.loads(line) for line in text.splitlines()]
    return rows, {r["task"]: r for r in rows}


def stable(row):
    keep = ("task", "step", "kernel", "args", "seed", "status", "result")
    return {k: row[k] for k in keep}


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ptrun-faults-")
        cls.job = os.path.join(cls.tmp.name, "job.yaml")
        with open(cls.job, "w") as f:
            f.write(JOB)
        cls.env = {k: v for k, v in os.environ.items()
                   if k != "PTOOLS_FAULT"}
        ref = os.path.join(cls.tmp.name, "reference")
        p = ptrun("run", cls.job, "--out", ref, "-q", env=cls.env)
        assert p.returncode == 0, p.stderr
        rows, last = last_rows(ref)
        assert len(rows) == NTASKS
        cls.reference = [stable(last[t]) for t in range(NTASKS)]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_reference_values(self):
        """The result every faulted run must end with, once completed."""
        sums = [(r["kernel"], r["args"].get("part"), r["result"]["sum"],
                 r["result"]["count"]) for r in self.reference
                if r["kernel"] == "sum"]
        self.assertEqual(sums, [("sum", "worker", 6144, 2048),
                                ("sum", "worker", 6144, 2048),
                                ("sum", None, 12288, 4096)])
        for r in self.reference:
            self.assertEqual(r["status"], "ok")
            if r["kernel"] == "pi":
                self.assertEqual(r["result"]["samples"], r["args"]["samples"])
                self.assertEqual(r["result"]["pi"],
                                 4 * r["result"]["hits"] / r["args"]["samples"])

    def test_bad_variable_is_refused(self):
        env = dict(self.env, PTOOLS_FAULT="wrte:1")
        p = ptrun("run", self.job, "--out", os.path.join(self.tmp.name, "x"),
                  env=env)
        self.assertEqual(p.returncode, 2)
        self.assertIn("ptrun: PTOOLS_FAULT: 'wrte:1': unknown point", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "x")))

    def test_every_point(self):
        for point in POINTS:
            for n in OCCURRENCES:
                with self.subTest(fault="%s:%d" % (point, n)):
                    self.fault_then_resume(point, n)

    def fault_then_resume(self, point, n):
        out = os.path.join(self.tmp.name, "%s-%d" % (point, n))
        env = dict(self.env, PTOOLS_FAULT="%s:%d" % (point, n))
        p = ptrun("run", self.job, "--out", out, "-q", env=env)
        orphans = children()
        reap()
        log = os.path.join(out, "output.log")
        fired = NOTICE.findall(p.stderr)
        if os.path.exists(log):
            with open(log) as f:
                fired += NOTICE.findall(f.read())
        self.assertEqual(orphans, [], "ptrun left processes behind")
        self.assertEqual(segments(), set(), "segments left in /dev/shm")
        self.assertFalse(os.path.exists(os.path.join(out, "ctl.sock")))
        self.assertNotIn("Sanitizer", p.stderr)  # ASan/UBSan builds
        self.assertIn(p.returncode, (0, 1, 3), p.stderr)
        if n == 1:  # every point is reached at least once
            self.assertIn(point, fired, p.stderr)
        if not fired:
            self.assertEqual(p.returncode, 0, p.stderr)
        self.check_says_why(point, p)
        self.complete(out, p)

    def check_says_why(self, point, p):
        """A runtime error names the call and its errno's text; tasks that
        did not end ok say why."""
        said = NOTICE.sub("", p.stderr)
        why = os.strerror(POINTS[point])
        if p.returncode == 3:
            self.assertIn(why, said)
            self.assertRegex(said, r"(?m)^(ptrun: |\S+\.yaml:)")

    def complete(self, out, faulted):
        """Resume the folder (or run anew when nothing had started) and
        compare with the reference, exactly."""
        if not os.path.exists(out):
            p = ptrun("run", self.job, "--out", out, "-q", env=self.env)
        else:
            self.assertTrue(os.path.exists(os.path.join(out, "manifest.json")),
                            "a run folder without its manifest")
            if faulted.returncode in (0, 1):  # it ran to its end
                _, last = last_rows(out)
                bad = [r for r in last.values() if r["status"] != "ok"]
                self.assertEqual(len(last) - len(bad) == NTASKS,
                                 faulted.returncode == 0)
                for r in bad:
                    self.assertIn(r["status"], ("crashed", "failed"))
                    self.assertTrue(r["error"], r)
            p = ptrun("run", self.job, "--resume", out, "-q", env=self.env)
        self.assertEqual(children(), [])
        self.assertNotIn("Sanitizer", p.stderr)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows, last = last_rows(out)
        self.assertEqual([stable(last[t]) for t in range(NTASKS)],
                         self.reference)
        for r in rows:  # a line superseded by a resume was not ok
            self.assertTrue(r is last[r["task"]] or r["status"] != "ok", r)
        ids = np.load(os.path.join(out, "shm", "ids.npy"))
        self.assertEqual(ids.dtype, np.int32)
        self.assertEqual(ids.shape, (4096,))
        self.assertTrue((ids == 3).all())
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertTrue(json.load(f)["finished"])
        self.assertEqual(segments(), set())
        self.assertFalse(os.path.exists(os.path.join(out, "ctl.sock")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
