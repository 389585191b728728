"""End-to-end tests of SPEC §5's "nothing finished is lost": ptrun is
SIGKILLed at moments spread over a job (start-up, the middle, the final
writes); every task that ended more than a short while before the kill
has its line on disk, and `--resume` completes the folder.

Run by ctest with PTRUN, SRC and TEST_KERNELS in the environment.
"""
import json
import os
import random
import signal
import subprocess
import tempfile
import time
import unittest

from e2e_util import PTRUN, TEST_KERNELS

HOSTILE = os.path.join(TEST_KERNELS, "hostile.so")
TASKS = 40
# SPEC §5 says 50 ms; a busy CI machine may not run ptrun for a while, so
# a line may be that much later without a broken promise (before the fix
# lines waited up to 1 s, which this still catches).
MARGIN_S = 0.3

SPEC = """ptrun: 1
name: durable
kernels: {sleep_mark: {path: %s}}
workersets: [{name: w, workers: 2}]
steps:
  - {name: a, tasks: [{kernel: sleep_mark, args: {ms: 60, dir: "%s"},
                       repeat: %d}]}
  - {name: b, tasks: [{kernel: sleep_mark, args: {ms: 10, dir: "%s"},
                       repeat: %d}]}
"""


def lines(path):
    """The whole lines of a results file (a torn last one is left out)."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1]]


class KillAnyMoment(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-durable-")

    def tearDown(self):
        self.tmp.cleanup()

    def one_kill(self, k, after_s):
        base = os.path.join(self.tmp.name, "k%d" % k)
        marks = os.path.join(base, "marks")
        os.makedirs(marks)
        spec = os.path.join(base, "job.yaml")
        with open(spec, "w") as f:
            f.write(SPEC % (HOSTILE, marks, TASKS - 10, marks, 10))
        out = os.path.join(base, "run")
        proc = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        time.sleep(after_s)  # the moment of the kill is the experiment
        killed_at = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
        on_disk = {r["task"] for r in lines(os.path.join(out,
                                                         "results.jsonl"))}
        for name in os.listdir(marks):  # every task that ended well before
            ended = os.stat(os.path.join(marks, name)).st_mtime
            if ended < killed_at - MARGIN_S:
                self.assertIn(int(name), on_disk,
                              "kill %d at %.3f s: task %s ended %.3f s "
                              "before it and is not on disk" %
                              (k, after_s, name, killed_at - ended))
        if not os.path.isdir(out):
            return  # killed before the folder existed: nothing to resume
        # with the spec named: a kill may come before DIR/job.yaml exists
        p = subprocess.run([PTRUN, "run", spec, "--resume", out, "-q"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, "kill %d at %.3f s: %s"
                         % (k, after_s, p.stderr))
        rows = lines(os.path.join(out, "results.jsonl"))
        self.assertEqual(sorted(r["task"] for r in rows), list(range(TASKS)),
                         "kill %d at %.3f s: one line per task" % (k, after_s))
        self.assertEqual({r["status"] for r in rows}, {"ok"})
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        self.assertTrue(m["finished"])
        self.assertEqual(m["exit_status"], 0)

    def test_sigkill_at_ten_moments_then_resume(self):
        # a whole run lasts about 30 x 60 ms / 2 + 10 x 10 ms / 2 = 0.95 s
        # plus start-up; the moments cover start-up, both steps and the end
        rng = random.Random(12)
        moments = [0.0, 0.003, 0.01] + sorted(rng.uniform(0.02, 1.1)
                                              for _ in range(7))
        for k, after in enumerate(moments):
            with self.subTest(kill=k, after_s=after):
                self.one_kill(k, after)


class DeadRunsNames(unittest.TestCase):
    def test_next_run_of_any_job_removes_a_killed_runs_names(self):
        with tempfile.TemporaryDirectory(prefix="ptrun-durable-") as tmp:
            spec = os.path.join(tmp, "a.yaml")
            with open(spec, "w") as f:
                f.write("""ptrun: 1
name: killed-named
shm:
  segments: [{name: grid, type: float64, dims: [64], named: true}]
kernels: {mark: {path: %s}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: mark, args: {path: "%s/started"}}]}]
""" % (HOSTILE, tmp))
            proc = subprocess.Popen([PTRUN, "run", spec, "--out",
                                     os.path.join(tmp, "a"), "-q"],
                                    stdin=subprocess.DEVNULL)
            end = time.monotonic() + 60
            while not os.path.exists(os.path.join(tmp, "started")):
                self.assertLess(time.monotonic(), end, "no task started")
                self.assertIsNone(proc.poll())
                time.sleep(0.01)
            # the live run's named segment is there; once the run is killed,
            # any run's start may remove it (another test's, running at
            # the same time, too), so it is looked for before the kill
            name = "ptools_killed-named_grid"
            self.assertIn(name, os.listdir("/dev/shm"))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            other = os.path.join(tmp, "b.yaml")
            with open(other, "w") as f:
                f.write("""ptrun: 1
name: another-job
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: noop}]}]
""")
            p = subprocess.run([PTRUN, "run", other, "--out",
                                os.path.join(tmp, "b"), "-q"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn(name, os.listdir("/dev/shm"))


class ResumeKeepsSegments(unittest.TestCase):
    def test_saved_segment_comes_back_for_tasks_not_run_again(self):
        import numpy
        gatelog = os.path.join(os.environ["TEST_KERNELS"], "gatelog.so")
        with tempfile.TemporaryDirectory(prefix="ptrun-durable-") as tmp:
            spec = os.path.join(tmp, "job.yaml")
            with open(spec, "w") as f:
                f.write("""ptrun: 1
name: keep-segment
shm:
  segments: [{name: ids, type: int32, dims: [4096], save: true}]
kernels: {fill: {path: fill}, sum: {path: sum}, gate: {path: %s}}
workersets: [{name: w, workers: 2}]
steps:
  - {name: fill, tasks: [{kernel: fill, args: {segment: ids, value: 7}}]}
  - {name: use, tasks: [{kernel: sum, args: {segment: ids}},
                        {kernel: gate, args: {gate: "%s/open",
                                              log: "%s/calls"}}]}
""" % (gatelog, tmp, tmp))
            out = os.path.join(tmp, "run")
            p = subprocess.run([PTRUN, "run", spec, "--out", out, "-q"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 1, p.stderr)  # the gate is shut
            npy = os.path.join(out, "shm", "ids.npy")
            self.assertTrue((numpy.load(npy) == 7).all())
            open(os.path.join(tmp, "open"), "w").close()
            p = subprocess.run([PTRUN, "run", "--resume", out, "-q"],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(tmp, "calls")) as f:
                self.assertEqual(f.read().split(), ["2", "2"])  # gate only
            ids = numpy.load(npy)  # the fill was not run again: restored
            self.assertEqual(ids.shape, (4096,))
            self.assertTrue((ids == 7).all(), ids[:8])
            rows = lines(os.path.join(out, "results.jsonl"))
            self.assertEqual([(r["task"], r["status"]) for r in rows],
                             [(0, "ok"), (1, "ok"), (2, "ok")])
            self.assertEqual(rows[1]["result"]["sum"], 7 * 4096)


class ResultsAlwaysWritten(unittest.TestCase):
    def test_results_jsonl_beside_other_plugins(self):
        with tempfile.TemporaryDirectory(prefix="ptrun-durable-") as tmp:
            spec = os.path.join(tmp, "job.yaml")
            for plugins, files in (
                    ("[{name: csv}]", ["results.csv"]),
                    ("[]", []),
                    ("[{name: jsonl, options: {file: other.jsonl}}]",
                     ["other.jsonl"]),
                    ("[{name: jsonl, options: {fsync: true}}, {name: csv}]",
                     ["results.csv"])):
                with self.subTest(plugins=plugins):
                    with open(spec, "w") as f:
                        f.write("""ptrun: 1
name: always
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: noop, repeat: 5}]}]
plugins: %s
""" % plugins)
                    out = os.path.join(tmp, "run%d" % len(os.listdir(tmp)))
                    p = subprocess.run([PTRUN, "run", spec, "--out", out,
                                        "-q"], capture_output=True,
                                       text=True, timeout=120)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    rows = lines(os.path.join(out, "results.jsonl"))
                    self.assertEqual(sorted(r["task"] for r in rows),
                                     list(range(5)))
                    for name in files:
                        self.assertTrue(os.path.exists(os.path.join(out,
                                                                    name)))


if __name__ == "__main__":
    unittest.main(verbosity=2)
