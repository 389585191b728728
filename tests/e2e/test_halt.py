"""End-to-end tests of `halt: {failed: N, how: soon|now}` (per job and per
step) and of `timeout: Nx-median` on a worker set: the statuses and errors
each task ends with, the exit status, the summary line, the manifest, a
--resume of a halted run, and the spec errors (FILE:LINE:COL).

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import json
import os
import tempfile
import time
import unittest

from e2e_util import SRC, TEST_KERNELS, KERNELS, ptrun, manifest


SOON = ("halted: 1 task failed (halt: {failed: 1, how: soon})")


def results(run_dir):
    """{task: line as a dict}, one line per task."""
    out = {}
    with open(os.path.join(run_dir, "results.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            assert d["task"] not in out, "a task has two lines"
            out[d["task"]] = d
    return out


class Halt(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def spec(self, body, name="job.yaml"):
        head = ("ptrun: 1\nname: halt-test\nkernels:\n"
                f"  sleep: {{path: {KERNELS}/sleep.so}}\n"
                f"  gate: {{path: {TEST_KERNELS}/gate.so}}\n")
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(head + body)
        return path

    def run_spec(self, path, *extra, out="run", timeout=120):
        out = os.path.join(self.dir, out)
        p = ptrun("run", path, "--out", out, *extra, timeout=timeout)
        return p, out

    # ---- soon ----

    def test_soon_one_worker(self):
        """A failure first: every task never started ends cancelled, the
        later step too; exit 1; the summary and manifest say why."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, batch: 1}\n"
            "halt: {failed: 1, how: soon}\n"
            "steps:\n"
            "  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: -1}, priority: 1}\n"
            "      - {kernel: sleep, args: {ms: 0}, repeat: 20}\n"
            "  - name: b\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}, repeat: 5}\n")
        p, out = self.run_spec(path)
        self.assertEqual(p.returncode, 1, p.stderr)
        r = results(out)
        self.assertEqual(sorted(r), list(range(26)))
        self.assertEqual(r[0]["status"], "failed")
        self.assertEqual(r[0]["error"], "arg `ms` must be >= 0, not -1")
        for t in range(1, 26):
            self.assertEqual(r[t]["status"], "cancelled", t)
            self.assertEqual(r[t]["error"], SOON, t)
            self.assertEqual(r[t]["start_ns"], 0, t)
        self.assertEqual([r[t]["step"] for t in (1, 21, 25)],
                         ["a", "b", "b"])
        why = "halted after 1 failed task (halt: failed 1, soon)"
        self.assertIn("\n  " + why + "\n", p.stderr)
        self.assertIn("0 ok 1 failed 25 cancelled", p.stderr)
        m = manifest(out)
        self.assertEqual(m["halted"], why)
        self.assertEqual(m["sessions"][-1]["halted"], why)
        self.assertEqual(m["exit_status"], 1)
        self.assertEqual(m["counts"]["cancelled"], 25)

    def test_soon_counts_after_retries(self):
        """Only final statuses count: N=2 lets the first failure pass and
        trips on the second; tasks that ran before stay ok."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, batch: 1}\n"
            "halt: {failed: 2}\n"  # how: soon is the default
            "steps:\n"
            "  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: -1}, priority: 3}\n"
            "      - {kernel: sleep, args: {ms: 0}, priority: 2}\n"
            "      - {kernel: sleep, args: {ms: -2}, priority: 1}\n"
            "      - {kernel: sleep, args: {ms: 0}, repeat: 4}\n")
        p, out = self.run_spec(path, "-q")
        self.assertEqual(p.returncode, 1, p.stderr)
        r = results(out)
        self.assertEqual([r[t]["status"] for t in range(7)],
                         ["failed", "ok", "failed"] + ["cancelled"] * 4)
        self.assertEqual(r[3]["error"], "halted: 2 tasks failed "
                         "(halt: {failed: 2, how: soon})")
        self.assertEqual(p.stderr, "")

    # ---- now ----

    def test_now_kills_running(self):
        """A task that runs on worker 0 when a failure comes from worker 1
        is killed and ends cancelled, at once (not after its 60 s)."""
        started = os.path.join(self.dir, "started")
        never = os.path.join(self.dir, "never")
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 2}\n"
            "halt: {failed: 1, how: now}\n"
            "steps:\n"
            "  - name: a\n    tasks:\n"
            f"      - {{kernel: gate, priority: 2, args: {{mark: {started},"
            f" open: {never}, max_ms: 60000}}}}\n"
            f"      - {{kernel: gate, priority: 1, args: {{open: {started},"
            " fail: true}}\n"
            "      - {kernel: sleep, args: {ms: 0}, repeat: 3}\n")
        t0 = time.monotonic()
        p, out = self.run_spec(path, timeout=50)
        self.assertLess(time.monotonic() - t0, 30)
        self.assertEqual(p.returncode, 1, p.stderr)
        r = results(out)
        now = "halted: 1 task failed (halt: {failed: 1, how: now})"
        self.assertEqual(r[1]["status"], "failed")
        self.assertEqual(r[1]["error"], "the gate opened: failing as asked")
        self.assertEqual(r[0]["status"], "cancelled")
        self.assertEqual(r[0]["error"], now + ": killed while running")
        self.assertGreater(r[0]["start_ns"], 0)
        self.assertNotEqual(r[0]["worker"], r[1]["worker"])
        for t in (2, 3, 4):
            self.assertEqual((r[t]["status"], r[t]["error"]),
                             ("cancelled", now))
        self.assertIn("halted after 1 failed task (halt: failed 1, now)",
                      p.stderr)

    # ---- per step ----

    def test_step_halt_overrides_job(self):
        """Step a's own halt (failed: 3) rules it instead of the job's
        (failed: 1); step b has none, so the job's counts every task of
        the run and trips on b's first failure."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, batch: 1}\n"
            "halt: {failed: 3, how: soon}\n"
            "steps:\n"
            "  - name: a\n    halt: {failed: 1}\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}}\n"
            "      - {kernel: sleep, args: {ms: -1}}\n"
            "      - {kernel: sleep, args: {ms: 0}}\n"
            "  - name: b\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}}\n")
        p, out = self.run_spec(path, "-q")
        self.assertEqual(p.returncode, 1, p.stderr)
        r = results(out)
        self.assertEqual([r[t]["status"] for t in range(4)],
                         ["ok", "failed", "cancelled", "cancelled"])
        self.assertEqual(r[2]["error"], "halted: 1 task of step 'a' failed "
                         "(halt: {failed: 1, how: soon})")
        m = manifest(out)
        self.assertEqual(m["halted"], "halted after 1 failed task of step "
                         "'a' (halt: failed 1, soon)")

    def test_check_prints_halts(self):
        """`ptrun check`'s plan header gives the job's halt and a step's."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1}\n"
            "halt: {failed: 1, how: soon}\n"
            "steps:\n"
            "  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}}\n"
            "  - name: b\n    halt: {failed: 3, how: now}\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}}\n")
        p = ptrun("check", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        heads = [l for l in p.stdout.splitlines()
                 if not l.startswith("  task ")]
        self.assertEqual(heads, [
            "job halt-test: 2 steps, 2 tasks, seed 0, "
            "halt: after 1 failed task, soon",
            "step 1/2 a: 1 tasks",
            "step 2/2 b: 1 tasks, halt: after 3 failed tasks, now"])
        p = ptrun("check", path, "--set", "halt.failed=2", "--set",
                  "halt.how=now")
        self.assertEqual(p.stdout.splitlines()[0],
                         "job halt-test: 2 steps, 2 tasks, seed 0, "
                         "halt: after 2 failed tasks, now")

    def test_job_halt_counts_every_step(self):
        """A job's halt counts the failures of every step: 1 in a, 1 in b
        trips failed: 2 in b."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, batch: 1}\n"
            "halt: {failed: 2, how: soon}\n"
            "steps:\n"
            "  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: -1}}\n"
            "      - {kernel: sleep, args: {ms: 0}}\n"
            "  - name: b\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: -1}}\n"
            "      - {kernel: sleep, args: {ms: 0}}\n")
        p, out = self.run_spec(path, "-q")
        self.assertEqual(p.returncode, 1)
        r = results(out)
        self.assertEqual([r[t]["status"] for t in range(4)],
                         ["failed", "ok", "failed", "cancelled"])

    def test_resume_runs_cancelled(self):
        """--resume of a halted run runs the tasks it cancelled (and the
        failed one, which fails again and halts again, now with nothing
        left to cancel)."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, batch: 1}\n"
            "halt: {failed: 1}\n"
            "steps:\n"
            "  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}, repeat: 2}\n"
            "      - {kernel: sleep, args: {ms: -1}}\n"
            "      - {kernel: sleep, args: {ms: 0}, repeat: 2}\n")
        p, out = self.run_spec(path, "-q")
        self.assertEqual(p.returncode, 1)
        self.assertEqual([results(out)[t]["status"] for t in range(5)],
                         ["ok", "ok", "failed", "cancelled", "cancelled"])
        # the failing task passes now: everything not ok runs again
        p = ptrun("run", path, "--resume", out, "--force", "-q",
                  "--set", "steps.a.tasks.1.args.ms=0")
        self.assertEqual(p.returncode, 0, p.stderr)
        r = results(out)
        self.assertEqual([r[t]["status"] for t in range(5)], ["ok"] * 5)
        m = manifest(out)
        self.assertIsNone(m["halted"])
        self.assertEqual([s["halted"] is None for s in m["sessions"]],
                         [False, True])

    # ---- timeout: Nx-median ----

    def test_timeout_x_median(self):
        """10 tasks of 20 ms, then one of 5 s: with 5x-median it ends
        timeout after about 100 ms (the floor); the first tasks, before 5
        ended ok, have no timeout at all."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, timeout: 5x-median}\n"
            "steps:\n"
            "  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 300}, priority: 3}\n"
            "      - {kernel: sleep, args: {ms: 20}, repeat: 10, "
            "priority: 2}\n"
            "      - {kernel: sleep, args: {ms: 5000}, priority: 1}\n")
        t0 = time.monotonic()
        p, out = self.run_spec(path, "-q")
        self.assertLess(time.monotonic() - t0, 4.5)
        self.assertEqual(p.returncode, 1, p.stderr)
        r = results(out)
        # the first task (300 ms, 15x the later median) ran before any
        # median existed: ok
        self.assertEqual([r[t]["status"] for t in range(12)],
                         ["ok"] * 11 + ["timeout"])
        self.assertRegex(r[11]["error"], r"^timed out after \d+ ms")
        ms = int(r[11]["error"].split()[3])
        self.assertGreaterEqual(ms, 100)  # 5 x ~20 ms, floored at 100
        self.assertLess(ms, 200)

    def test_timeout_x_median_retries(self):
        """A timeout by the median is a timeout: retries apply."""
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, "
            "timeout: 2.5x-median, retries: 1}\n"
            "steps:\n"
            "  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 1}, repeat: 5, "
            "priority: 1}\n"
            "      - {kernel: sleep, args: {ms: 3000}}\n")
        p, out = self.run_spec(path, "-q")
        self.assertEqual(p.returncode, 1, p.stderr)
        r = results(out)
        self.assertEqual((r[5]["status"], r[5]["attempts"]), ("timeout", 2))
        self.assertEqual(r[5]["error"], "timed out after 100 ms")

    # ---- bad specs ----

    def test_bad_specs(self):
        path = self.spec(
            "workersets:\n"
            "  - {name: cpu, workers: 1, timeout: 5y-median}\n"
            "  - {name: io, workers: 1, timeout: 0x-median}\n"
            "halt: {failed: 0, how: later, fialed: 2}\n"
            "steps:\n"
            "  - name: a\n    halt: {how: now}\n    tasks:\n"
            "      - {kernel: sleep}\n"
            "  - name: b\n    halt: 3\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}}\n"
            "  - name: c\n    halt: {failed: 1.5, how: nwo}\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}}\n",
            name="bad.yaml")
        out = os.path.join(self.dir, "run")
        p = ptrun("run", path, "--out", out)
        self.assertEqual(p.returncode, 2)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(p.stderr.replace(path, "bad.yaml").splitlines(), [
            "bad.yaml:7:38: bad timeout '5y-median' (use Nx-median, e.g. "
            "5x-median: N times the median run time of the set's ok tasks)",
            "bad.yaml:8:37: timeout Nx-median needs N above 0 and at most "
            "1e6, got '0x-median'",
            "bad.yaml:9:16: halt: failed must be at least 1, got 0",
            "bad.yaml:9:24: halt: how must be soon or now, got 'later' "
            "(one of: soon, now)",
            "bad.yaml:9:31: unknown key 'fialed' (did you mean 'failed'?)",
            "bad.yaml:12:11: missing key 'failed'",
            "bad.yaml:16:11: expected a mapping {failed: N, how: soon|now}, "
            "got an integer 3",
            "bad.yaml:20:20: expected an integer, got a number 1.5",
            "bad.yaml:20:30: halt: how must be soon or now, got 'nwo' "
            "(did you mean 'now'?)",
        ])

    def test_bad_set(self):
        path = self.spec(
            "workersets:\n  - {name: cpu, workers: 1, batch: 1}\n"
            "halt: {failed: 1}\n"
            "steps:\n  - name: a\n    tasks:\n"
            "      - {kernel: sleep, args: {ms: 0}}\n")
        p = ptrun("check", path, "--set", "halt.failed=-1")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.strip(), "--set halt.failed=-1: halt: "
                         "failed must be at least 1, got -1")
        p = ptrun("check", path, "--set", "halt.faild=1")
        self.assertEqual(p.returncode, 2)
        self.assertIn("did you mean 'failed'?", p.stderr)

    def test_shipped_config(self):
        """configs/halt.yaml runs: halts after its failing task."""
        out = os.path.join(self.dir, "run")
        p = ptrun("run", os.path.join(SRC, "configs", "halt.yaml"), "--out",
                  out, "-q")
        self.assertEqual(p.returncode, 1, p.stderr)
        m = manifest(out)
        self.assertEqual(m["halted"], "halted after 1 failed task "
                         "(halt: failed 1, soon)")
        self.assertEqual(m["counts"]["failed"], 1)


if __name__ == "__main__":
    unittest.main()
