"""End-to-end tests of `checkpoint:` on a worker set (SPEC §2, §4): kernel
state saved by `save` into the run folder's state/, restored by a worker
that replaces a dead one and by each worker of a `--resume`d run; a
restore that fails, or a corrupt snapshot, fails the worker's tasks with
why.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import json
import os
import subprocess
import tempfile
import unittest

from e2e_util import PTRUN, SRC, TEST_KERNELS, ptrun, wait_for

CKPT_SO = os.path.join(TEST_KERNELS, "ckpt.so")


def results(run_dir):
    path = os.path.join(run_dir, "results.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    # a line being written may lack its end yet: only whole lines count
    return [json.loads(line) for line in text.splitlines(keepends=True)
            if line.endswith("\n")]


def by_task(rows):
    return {r["task"]: r for r in rows}


def gone(pid):
    """The process has ended (a zombie counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


class Checkpoint(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-ckpt-")
        self.addCleanup(self.tmp.cleanup)
        self.out = self.path("run")

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def spec(self, text, name="job.yaml"):
        with open(self.path(name), "w") as f:
            f.write(text.replace("@TK@", TEST_KERNELS)
                    .replace("@TMP@", self.tmp.name))
        return self.path(name)

    def run_status(self, *args, status=0):
        p = ptrun(*args)
        self.assertEqual(p.returncode, status, p.stderr)
        return p

    def crash_spec(self, kernel="count", checkpoint="1ms"):
        """One worker: tasks 0-3 count 1-4; task 4 counts, then SIGKILLs
        its worker on its first attempt; step 2's tasks 5, 6 count on."""
        ck = ", checkpoint: %s" % checkpoint if checkpoint else ""
        return self.spec("""ptrun: 1
name: ckpt-crash
kernels: {count: {path: @TK@/ckpt.so, name: %s}}
workersets: [{name: cpu, workers: 1, retries: 1%s}]
steps:
  - name: before
    tasks:
      - {kernel: count, args: {ms: 2}, repeat: 4}
      - {kernel: count, args: {ms: 2, die_once: @TMP@/died}}
  - name: after
    tasks:
      - {kernel: count, args: {ms: 2}, repeat: 2}
""" % (kernel, ck))

    def test_replacement_continues_the_count(self):
        self.run_status("run", self.crash_spec(), "--out", self.out, "-q")
        rows = by_task(results(self.out))
        self.assertEqual([rows[t]["result"]["count"] for t in range(7)],
                         [1, 2, 3, 4, 5, 6, 7])
        self.assertEqual([rows[t]["attempts"] for t in range(7)],
                         [1, 1, 1, 1, 2, 1, 1])
        # task 4's second attempt ran in the replacement worker
        self.assertNotEqual(rows[4]["result"]["pid"], rows[0]["result"]["pid"])
        self.assertEqual(os.listdir(os.path.join(self.out, "state")),
                         ["cpu.0.snap"])
        with open(os.path.join(self.out, "state", "cpu.0.snap"), "rb") as f:
            self.assertEqual(f.read(8), b"PTSNAP\0\0")

    def test_without_checkpoint_a_replacement_starts_empty(self):
        self.run_status("run", self.crash_spec(checkpoint=None), "--out",
                        self.out, "-q")
        rows = by_task(results(self.out))
        self.assertEqual([rows[t]["result"]["count"] for t in range(7)],
                         [1, 2, 3, 4, 1, 2, 3])
        self.assertFalse(os.path.exists(os.path.join(self.out, "state")))

    def test_checkpoint_zero_is_off(self):
        self.run_status("run", self.crash_spec(checkpoint="0"), "--out",
                        self.out, "-q")
        rows = by_task(results(self.out))
        self.assertEqual(rows[4]["result"]["count"], 1)

    def test_failing_restore_fails_the_worker_clearly(self):
        self.run_status("run", self.crash_spec(kernel="count_bad"), "--out",
                        self.out, "-q", status=1)
        rows = by_task(results(self.out))
        self.assertEqual([rows[t]["status"] for t in range(7)],
                         ["ok"] * 4 + ["failed"] * 3)
        why = ("cannot restore the snapshot %s/state/cpu.0.snap: kernel "
               "'count_bad' of %s: restore failed: refused on purpose "
               "(code -5)" % (self.out, CKPT_SO))
        for t in range(4, 7):
            self.assertEqual(rows[t]["error"], why)

    def interrupted(self, **kw):
        """A run SIGKILLed while task 3 is held, tasks 0-2 on disk."""
        spec = self.spec("""ptrun: 1
name: ckpt-resume
kernels: {count: {path: @TK@/ckpt.so}}
workersets: [{name: cpu, workers: 1, checkpoint: 1ms}]
steps:
  - name: s
    tasks:
      - {kernel: count, args: {ms: 2}, repeat: 3}
      - {kernel: count, args: {hold: @TMP@/hold, mark: @TMP@/held}}
      - {kernel: count, repeat: 2}
""")
        with open(self.path("hold"), "w"):
            pass
        run = subprocess.Popen([PTRUN, "run", spec, "--out", self.out, "-q"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: len(results(self.out)) == 3 and
                     os.path.getsize(self.path("held")) > 0
                     if os.path.exists(self.path("held")) else False,
                     what="3 results and task 3 held")
        finally:
            run.kill()
            run.wait()
        with open(self.path("held")) as f:
            worker = int(f.read())
        wait_for(lambda: gone(worker), what="the old worker's end")
        os.unlink(self.path("hold"))
        self.assertEqual([r["result"]["count"] for r in results(self.out)],
                         [1, 2, 3])

    def test_resume_continues_the_count(self):
        self.interrupted()
        self.run_status("run", "--resume", self.out, "-q")
        rows = by_task(results(self.out))
        self.assertEqual([rows[t]["result"]["count"] for t in range(6)],
                         [1, 2, 3, 4, 5, 6])
        self.assertTrue(all(rows[t]["status"] == "ok" for t in range(6)))

    def test_corrupt_snapshot_fails_clearly(self):
        snap = os.path.join(self.out, "state", "cpu.0.snap")
        cases = [("flip", "checksum mismatch (the file is corrupt)"),
                 ("junk", "not a ptools snapshot (no PTSNAP magic)")]
        for how, why in cases:
            with self.subTest(how=how):
                self.tearDown_run()
                self.interrupted()
                with open(snap, "r+b") as f:
                    if how == "flip":
                        f.seek(-1, os.SEEK_END)
                        last = f.read(1)
                        f.seek(-1, os.SEEK_END)
                        f.write(bytes([last[0] ^ 1]))
                    else:
                        f.truncate(0)
                        f.write(b"hello")
                self.run_status("run", "--resume", self.out, "-q", status=1)
                rows = by_task(results(self.out))
                for t in range(3, 6):
                    self.assertEqual(rows[t]["status"], "failed")
                    self.assertEqual(
                        rows[t]["error"],
                        "cannot restore the snapshot %s: %s" % (snap, why))

    def tearDown_run(self):
        """Forget the last run's folder and files, for another one."""
        subprocess.run(["rm", "-rf", self.out, self.path("died"),
                        self.path("held")], check=True)

    def test_bad_interval_is_a_spec_error(self):
        spec = self.spec("""ptrun: 1
name: ckpt-bad
kernels: {count: {path: @TK@/ckpt.so}}
workersets:
  - {name: cpu, workers: 1, checkpoint: soon}
steps:
  - name: s
    tasks: [{kernel: count}]
""")
        p = self.run_status("run", spec, "--out", self.out, status=2)
        self.assertEqual(p.stderr,
                         "%s:5:41: bad duration 'soon' (use 500ms, 30s, 2m, "
                         "1h or a number of seconds)\n" % spec)
        self.assertFalse(os.path.exists(self.out))

    def test_config_checkpoint_yaml(self):
        # the config names build/examples/tally.so: this build's instead
        with open(os.path.join(SRC, "configs", "checkpoint.yaml")) as f:
            text = f.read()
        built = os.path.join(TEST_KERNELS, "..", "..", "examples", "tally.so")
        self.assertIn("../build/examples/tally.so", text)
        spec = self.spec(text.replace("../build/examples/tally.so",
                                      os.path.normpath(built)))
        self.run_status("run", spec, "--out", self.out, "-q")
        rows = results(self.out)
        self.assertEqual(len(rows), 8)
        self.assertTrue(all(r["status"] == "ok" for r in rows))
        # rr: worker w runs x = w + 1 and w + 5
        self.assertEqual({r["args"]["x"]: r["result"]["total"] for r in rows},
                         {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 10, 8: 12})
        self.assertEqual(sorted(os.listdir(os.path.join(self.out, "state"))),
                         ["acc.%d.snap" % w for w in range(4)])


if __name__ == "__main__":
    unittest.main()
