"""End-to-end tests of `hugepages: auto|on|off` on shm segments: each value
gives a segment that the workers fill and sum correctly and that is saved
to .npy unchanged; `on` without enough reserved huge pages is refused with
exit 3, a clear message and nothing left behind; the manifest says what
backs each segment; a large segment denied huge pages by the system's
setting gets one note on stderr. Passes whatever the machine's settings
(shmem_enabled, nr_hugepages): each test checks what they imply.

Run by ctest with PTRUN (the binary) in the environment.
"""
import json
import os
import re
import tempfile
import unittest

import numpy as np

from e2e_util import ptrun

MIB = 1 << 20
N = 3 * MIB // 8 + 5  # float64: a little over 3 MiB, not a page multiple
THP = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"
FREE = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

JOB = """ptrun: 1
name: huge-%(mode)s
shm:
  segments:
    - {name: x, type: float64, dims: [%(n)d], init: {fill: 1.5}, save: true,
       named: %(named)s, hugepages: %(mode)s}
kernels:
  fill: {path: fill}
  sum: {path: sum}
workersets:
  - {name: cpu, workers: 2}
steps:
  - name: fill
    tasks:
      - {kernel: fill, workerset: cpu, each_worker: true,
         args: {segment: x, value: 2, part: worker}}
  - name: sum
    tasks:
      - {kernel: sum, workerset: cpu, each_worker: true,
         args: {segment: x, part: worker}}
"""


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def thp_effective(named):
    """Would MADV_HUGEPAGE take effect (None: the system does not say)?"""
    try:
        with open(THP) as f:
            word = re.search(r"\[(\w+)\]", f.read()).group(1)
    except (OSError, AttributeError):
        return None
    if word in ("force", "deny") or not named:
        return word not in ("never", "deny")
    with open("/proc/self/mounts") as f:
        opts = [line.split()[3] for line in f if line.split()[1] == "/dev/shm"]
    huge = re.search(r"huge=(\w+)", opts[-1]) if opts else None
    return bool(huge) and huge.group(1) != "never"


def shm_entries():
    return {e for e in os.listdir("/dev/shm") if e.startswith("ptools_huge")}


class HugePages(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-huge-")
        self.shm_before = shm_entries()

    def tearDown(self):
        self.assertEqual(shm_entries(), self.shm_before, "segments left")
        self.tmp.cleanup()

    def spec(self, text):
        path = os.path.join(self.tmp.name, "job.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_mode(self, mode, named=False):
        out = os.path.join(self.tmp.name, "run-%s-%s" % (mode, named))
        job = self.spec(JOB % {"mode": mode, "n": N,
                               "named": "true" if named else "false"})
        return ptrun("run", job, "-q", "--out", out), out

    def check_run(self, mode, named=False):
        """The run fills and sums x correctly, saves it, and says in the
        manifest what backs it."""
        p, out = self.run_mode(mode, named)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "results.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        self.assertEqual([r["status"] for r in rows], ["ok"] * 4)
        sums = [r["result"]["sum"] for r in rows if r["step"] == "sum"]
        self.assertEqual(sum(sums), 2.0 * N)
        x = np.load(os.path.join(out, "shm", "x.npy"))
        self.assertEqual(x.dtype, np.float64)
        self.assertEqual(x.shape, (N,))
        self.assertTrue(np.all(x == 2.0))
        with open(os.path.join(out, "manifest.json")) as f:
            items = json.load(f)["hugepages"]
        self.assertEqual(len(items), 1)
        item = items[0]
        self.assertEqual((item["segment"], item["bytes"], item["asked"]),
                         ("x", 8 * N, mode))
        self.assertNotIn("note:", p.stderr)  # 3 MiB: too small for one
        return item

    def test_auto_unnamed_and_named(self):
        for named in (False, True):
            item = self.check_run("auto", named)
            want = thp_effective(named)
            if want is not None:
                self.assertEqual(item["huge"], want, item)
                self.assertEqual(item["enable"] is None, want, item)
                self.assertIsNotNone(item["setting"])

    def test_off(self):
        item = self.check_run("off")
        self.assertFalse(item["huge"])
        self.assertIsNone(item["enable"])

    def test_on(self):
        free = read_int(FREE)
        if free is not None and free >= 2:  # 3 MiB: two huge pages
            item = self.check_run("on")
            self.assertTrue(item["huge"])
            self.assertEqual(read_int(FREE), free)
            return
        p, out = self.run_mode("on")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("segment x", p.stderr)
        self.assertIn("hugepages on", p.stderr)
        if free is not None:
            self.assertIn("echo 2 > /proc/sys/vm/nr_hugepages", p.stderr)
        self.assertEqual(read_int(FREE), free)
        self.assertFalse(os.path.exists(os.path.join(out, "results.jsonl"))
                         and os.path.getsize(os.path.join(out,
                                                          "results.jsonl")))

    def test_bad_values_are_spec_errors(self):
        job = self.spec(JOB % {"mode": "maybe", "n": N, "named": "false"})
        p = ptrun("check", job)
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, r"job\.yaml:6:\d+: hugepages must be "
                         r"auto, on or off, got 'maybe'")
        job = self.spec(JOB % {"mode": "on", "n": N, "named": "true"})
        p = ptrun("check", job)
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, r"job\.yaml:6:\d+: hugepages: on needs "
                         r"an unnamed segment")

    def test_one_note_for_large_segments_denied(self):
        text = JOB % {"mode": "auto", "n": 8 * MIB, "named": "false"}
        text = text.replace("  segments:\n", "  segments:\n"
                            "    - {name: y, type: float64, dims: [%d]}\n"
                            % (8 * MIB))
        out = os.path.join(self.tmp.name, "run-large")
        p = ptrun("run", self.spec(text), "-q", "--out", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            items = json.load(f)["hugepages"]
        self.assertEqual([i["segment"] for i in items], ["y", "x"])
        notes = re.findall(r"^ptrun: note: segment (\w+) .*$", p.stderr, re.M)
        if items[0]["huge"] or thp_effective(False):
            self.assertEqual(notes, [])
        else:
            self.assertEqual(notes, ["y"])  # once, for the first
            self.assertIn(items[0]["enable"], p.stderr)
            self.assertIn("transparent_hugepage/shmem_enabled", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
