"""End-to-end tests of the guard pages around shared-memory segments: a
kernel that writes past (or before) its segment crashes its own task, and
never changes another segment or what `save: true` writes of it.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels, with overrun.so) in the environment.
"""
import json
import os
import tempfile
import unittest

import numpy as np

from e2e_util import (TEST_KERNELS, ptrun, shm_entries, own_prefixes,
                      sorted_results as results)

MIB = 1 << 20
N = 4 * MIB // 8  # float64 elements of `a` and `b`: 4 MiB each
FILL = {"a": 1.5, "b": 2.5}


class Base(unittest.TestCase):
    """As test_ptrun.py's: a scratch folder, and no segment of this test's
    jobs may be left in /dev/shm."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-hostile-")
        self.shm_before = shm_entries()

    def tearDown(self):
        own = own_prefixes(self.tmp.name)
        left = {e for e in shm_entries() - self.shm_before
                if any(e.startswith(p) for p in own)}
        # every run of this test has ended: nothing of theirs may be left
        self.assertEqual(left, set(), "segments left in /dev/shm")
        self.tmp.cleanup()

    def spec(self, text, name="job.yaml"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text.replace("@TK@", TEST_KERNELS))
        return path

    def saved(self, out, name):
        return np.load(os.path.join(out, "shm", name + ".npy"))


# Two 4 MiB segments made one after the other, both saved. Linux hands out
# mappings top down, so `a`, made second, would sit right below `b` without
# guards: 1 MiB past the end of `a` was 1 MiB into `b`.
JOB = """ptrun: 1
name: hostile%(named)s
shm:
  segments:
    - {name: b, type: float64, dims: [%(n)d], init: {fill: 2.5}, save: true%(nk)s}
    - {name: a, type: float64, dims: [%(n)d], init: {fill: 1.5}, save: true%(nk)s}
kernels: {overrun: {path: @TK@/overrun.so}}
workersets: [{name: w, workers: 1, retries: 0}]
steps:
  - name: stray
    tasks:
%(tasks)s
"""


def task(segment, offset, value=0xAB):
    return ("      - {kernel: overrun, args: {segment: %s, offset: %d, "
            "value: %d}}" % (segment, offset, value))


class Overrun(Base):
    def run_job(self, tasks, named=False):
        spec = self.spec(JOB % {
            "n": N, "tasks": "\n".join(tasks),
            "named": "-named" if named else "",
            "nk": ", named: true" if named else ""})
        out = os.path.join(self.tmp.name, "run")
        p = ptrun("run", spec, "--out", out, "-q")
        return p, out

    def assert_crashed(self, row):
        self.assertEqual(row["status"], "crashed", row)
        self.assertEqual(row["signal"], 11, row)
        self.assertEqual(row["attempts"], 1, row)
        self.assertEqual(row["result"], {}, row)
        self.assertEqual(row["error"],
                         "worker killed by signal 11 (Segmentation fault)")

    def test_one_mib_past_the_end_crashes_only_that_task(self):
        """The attack review's case: 1 MiB past the end of `a`."""
        p, out = self.run_job([task("a", 4 * MIB + MIB), task("b", 0, 1)])
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual([r["task"] for r in rows], [0, 1])
        self.assert_crashed(rows[0])
        self.assertEqual(rows[1]["status"], "ok", rows[1])
        self.assertEqual(rows[1]["result"], {"offset": 0})
        a, b = self.saved(out, "a"), self.saved(out, "b")
        self.assertTrue(np.array_equal(a, np.full(N, FILL["a"])))
        want_b = np.full(N, FILL["b"])
        want_b.view(np.uint8)[0] = 1  # the one in-bounds write, and only it
        self.assertTrue(np.array_equal(b.view(np.uint8),
                                       want_b.view(np.uint8)))

    def test_every_direction_lands_in_a_guard(self):
        """Past the end and before the start of each segment, by one byte
        and by 1 MiB: each task crashes, and both saved segments equal
        their fill exactly, whichever of them sits above the other. Each
        crash is followed by a harmless in-bounds write (byte 0 of a fill
        of 1.5 or 2.5 is 0 already), as a worker set that only ever crashes
        is declared broken after 5 deaths."""
        offsets = [4 * MIB, 4 * MIB + MIB, -1, -MIB]
        tasks = [t for s in ("a", "b") for o in offsets
                 for t in (task(s, o), task(s, 0, 0))]
        p, out = self.run_job(tasks)
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual(len(rows), 16)
        for r in rows[0::2]:
            self.assert_crashed(r)
        for r in rows[1::2]:
            self.assertEqual((r["status"], r["result"]), ("ok", {"offset": 0}))
        for name in ("a", "b"):
            self.assertTrue(np.array_equal(self.saved(out, name),
                                           np.full(N, FILL[name])), name)
        with open(os.path.join(out, "manifest.json")) as f:
            counts = json.load(f)["counts"]
        self.assertEqual((counts["crashed"], counts["ok"]), (8, 8))

    def test_named_segments_are_guarded_too(self):
        """`named: true` segments are mapped the same way."""
        p, out = self.run_job([task("b", 4 * MIB + MIB), task("a", -MIB)],
                              named=True)
        self.assertEqual(p.returncode, 1, p.stderr)
        for r in results(out):
            self.assert_crashed(r)
        for name in ("a", "b"):
            self.assertTrue(np.array_equal(self.saved(out, name),
                                           np.full(N, FILL[name])), name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
