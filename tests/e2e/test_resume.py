"""End-to-end tests of `ptrun run --resume` and of what a run folder keeps:
one line per task in results.jsonl when a run or a resume ends, superseded
lines in history.jsonl, every session in manifest.json, counts that are
what is on disk (even on a full disk), junk lines ignored and reported,
a csv that holds every task.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import csv
import json
import os
import signal
import subprocess
import tempfile
import unittest

from e2e_util import (PTRUN, TEST_KERNELS, STATUSES, ptrun, manifest,
                      shm_entries, wait_for)

# what a run folder holds when a run ends (.lock: its claim, see e2e_claim)
FOLDER = {"job.yaml", "manifest.json", "output.log", "results.jsonl",
          "history.jsonl", ".lock"}


def lines_of(run_dir, name="results.jsonl"):
    """The lines of a run folder's file, each with its '\\n'."""
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "a half line in " + name
    return text.splitlines(keepends=True)


def by_task(lines):
    """{task: line}, checking that there is one line per task."""
    tasks = [json.loads(line)["task"] for line in lines]
    assert len(tasks) == len(set(tasks)), "a task has two lines"
    return dict(zip(tasks, lines))


def counts_of(lines):
    counts = dict.fromkeys(STATUSES, 0)
    for line in lines:
        counts[json.loads(line)["status"]] += 1
    return counts


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-resume-")
        self.addCleanup(self.tmp.cleanup)  # after the test's own cleanups
        self.shm_before = shm_entries()

    def tearDown(self):
        # the jobs here are named resume-*: segments of theirs left behind
        left = {e for e in shm_entries() - self.shm_before
                if e.startswith("ptools_resume-")}
        # every run of this test has ended: nothing of theirs may be left
        self.assertEqual(left, set(), "segments left in /dev/shm")

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

    def gate_spec(self, open_tasks=4, closed_tasks=0, plugins=""):
        """gatelog.so tasks: `open_tasks` behind an open gate, then
        `closed_tasks` behind the file @TMP@/gate, which does not exist
        until the test makes it. Every call logs its id to @TMP@/calls."""
        with open(self.path("open"), "w"):
            pass
        closed = ("\n    - {kernel: gate, args: {gate: @TMP@/gate, "
                  "log: @TMP@/calls}, repeat: %d}" % closed_tasks
                  if closed_tasks else "")
        return self.spec("""ptrun: 1
name: resume-gate
kernels: {gate: {path: @TK@/gatelog.so}}
workersets: [{name: w, workers: 2}]
steps:
  - name: s
    tasks:
    - {kernel: gate, args: {gate: @TMP@/open, log: @TMP@/calls}, repeat: %d}%s
%s""" % (open_tasks, closed, plugins))

    def calls(self):
        """The task ids gatelog.so ran since the last call, sorted."""
        path = self.path("calls")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            ids = sorted(int(x) for x in f.read().split())
        os.unlink(path)
        return ids


class Resume(Base):
    def test_sigint_then_resume(self):
        spec = self.spec("""ptrun: 1
name: resume-sleepy
kernels: {sleep: {path: sleep}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: sleep, args: {ms: 300}, repeat: 30}]}]
""")
        out = self.path("run")
        proc = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                                stderr=subprocess.DEVNULL)
        try:  # interrupted once a result is on disk: most tasks still wait
            wait_for(lambda: lines_of(out), what="a line in results.jsonl")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 130)
        first = by_task(lines_of(out))
        self.assertEqual(sorted(first), list(range(30)))
        counts = counts_of(first.values())
        self.assertGreater(counts["cancelled"], 0)
        self.assertEqual(counts["ok"] + counts["cancelled"], 30)
        m1 = manifest(out)
        self.assertEqual((m1["finished"], m1["interrupted"],
                          m1["exit_status"]), (True, True, 130))
        self.assertEqual(m1["counts"], counts)
        self.assertEqual(len(m1["sessions"]), 1)

        self.run_status("run", "--resume", out, "-q")
        after = by_task(lines_of(out))
        self.assertEqual(sorted(after), list(range(30)))
        self.assertEqual(counts_of(after.values())["ok"], 30)
        for task, line in first.items():  # ok ones were not run again
            if json.loads(line)["status"] == "ok":
                self.assertEqual(after[task], line)
        self.assertEqual(lines_of(out, "history.jsonl"),
                         [line for line in first.values()
                          if json.loads(line)["status"] == "cancelled"])
        m2 = manifest(out)
        self.assertEqual(m2["counts"], dict(counts_of(after.values())))
        self.assertEqual((m2["finished"], m2["interrupted"],
                          m2["exit_status"], m2["compacted"],
                          m2["results_lost"], m2["skipped"]),
                         (True, False, 0, True, 0, counts["ok"]))
        sessions = m2["sessions"]
        self.assertEqual(len(sessions), 2)
        self.assertEqual(sessions[0], m1["sessions"][0])
        self.assertEqual(sessions[0]["command"], m1["command"])
        self.assertEqual(sessions[0]["start"], m1["start"])
        self.assertEqual(sessions[0]["exit_status"], 130)
        self.assertEqual(sessions[0]["counts"], counts)
        self.assertIn("--resume", sessions[1]["command"])
        self.assertEqual(sessions[1]["start"], m2["start"])
        self.assertEqual(sessions[1]["end"], m2["end"])
        self.assertEqual(sessions[1]["exit_status"], 0)
        self.assertEqual(sessions[1]["counts"],
                         dict(counts_of([]), ok=counts["cancelled"]))
        self.assertEqual(set(os.listdir(out)), FOLDER)  # no temporary left

    def test_junk_lines_are_ignored_and_run_again(self):
        spec = self.gate_spec(open_tasks=8)
        out = self.path("run")
        self.run_status("run", spec, "--out", out, "-q")
        self.assertEqual(self.calls(), list(range(8)))
        good = by_task(lines_of(out))

        def variant(of, **change):
            row = json.loads(good[of])
            row.update(change)
            return json.dumps(row) + "\n"
        junk = [variant(4, task=4.5), variant(4, task="4"),
                variant(4, task=-1), variant(4, task=10**6), "[1, 2]\n",
                variant(3, status="done"), good[2][:-3] + "\n"]
        with open(os.path.join(out, "results.jsonl"), "w") as f:
            f.writelines([good[0], good[1]] + junk[:5] + [good[5]] +
                         junk[5:] + [good[6], good[7],
                                     good[2][:20]])  # a torn last line
        p = self.run_status("run", "--resume", out, "-q")
        self.assertIn("ptrun: --resume %s: 7 lines of results.jsonl ignored "
                      "(first: line 3: \"task\" is not a task id of this "
                      "plan)\n" % out, p.stderr)
        self.assertEqual(self.calls(), [2, 3, 4])  # those, and only those
        after = by_task(lines_of(out))
        self.assertEqual(sorted(after), list(range(8)))
        for task in (0, 1, 5, 6, 7):
            self.assertEqual(after[task], good[task])
        self.assertEqual(counts_of(after.values())["ok"], 8)
        self.assertEqual(lines_of(out, "history.jsonl"), junk)
        self.assertEqual(manifest(out)["counts"]["ok"], 8)

    def test_failed_tasks_run_again_ok_ones_not_and_csv_has_all(self):
        spec = self.gate_spec(closed_tasks=2, plugins="plugins: "
                              "[{name: jsonl}, {name: csv}]\n")
        out = self.path("run")
        self.run_status("run", spec, "--out", out, "-q", status=1)
        self.assertEqual(self.calls(), list(range(6)))
        first = by_task(lines_of(out))
        self.assertEqual(counts_of(first.values()),
                         dict(counts_of([]), ok=4, failed=2))
        with open(self.path("gate"), "w"):
            pass
        self.run_status("run", "--resume", out, "-q")
        self.assertEqual(self.calls(), [4, 5])
        after = by_task(lines_of(out))
        self.assertEqual(sorted(after), list(range(6)))
        self.assertEqual(counts_of(after.values())["ok"], 6)
        self.assertEqual([after[t] for t in range(4)],
                         [first[t] for t in range(4)])
        self.assertEqual(lines_of(out, "history.jsonl"),  # as written
                         [line for line in first.values()
                          if json.loads(line)["task"] in (4, 5)])
        m = manifest(out)
        self.assertEqual([(s["exit_status"], s["counts"]["ok"],
                           s["counts"]["failed"]) for s in m["sessions"]],
                         [(1, 4, 2), (0, 2, 0)])
        self.assertEqual((m["counts"]["ok"], m["skipped"], m["exit_status"]),
                         (6, 4, 0))
        with open(os.path.join(out, "results.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([int(r["task"]) for r in rows], list(range(6)))
        for r in rows:  # the same task as results.jsonl's line, field by field
            line = json.loads(after[int(r["task"])])
            self.assertEqual(r["status"], "ok")
            self.assertEqual((int(r["start_ns"]), int(r["end_ns"]),
                              int(r["attempts"]), r["arg.gate"],
                              int(r["result.task"])),
                             (line["start_ns"], line["end_ns"],
                              line["attempts"], line["args"]["gate"],
                              line["result"]["task"]))

    def interrupted_with_a_failure(self, batch):
        """One worker: task 0 fails, 1 and 2 end ok, 3 holds the run until
        the test lets it go, 4-6 wait. Interrupted while 3 runs, the run
        must record 0 failed, 1-3 ok, 4-6 cancelled. Returns the run
        folder and its lines by task."""
        for name in ("open", "gate"):
            with open(self.path(name), "w"):
                pass
        os.unlink(self.path("gate"))  # closed for the first session
        spec = self.spec("""ptrun: 1
name: resume-failed
kernels:
  log: {path: @TK@/gatelog.so, name: gate}
  hold: {path: @TK@/gate.so, name: gate}
workersets: [{name: w, workers: 1, batch: %s}]
steps:
  - name: s
    tasks:
    - {kernel: log, args: {gate: @TMP@/gate, log: @TMP@/calls}, priority: 9}
    - {kernel: log, args: {gate: @TMP@/open, log: @TMP@/calls}, priority: 9,
       repeat: 2}
    - {kernel: hold, args: {mark: @TMP@/held, open: @TMP@/go}, priority: 5}
    - {kernel: log, args: {gate: @TMP@/open, log: @TMP@/calls}, repeat: 3}
""" % batch)
        out = self.path("run")
        proc = subprocess.Popen([PTRUN, "run", spec, "--out", out],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: os.path.exists(self.path("held")),
                     what="task 3 to hold the run")
            proc.send_signal(signal.SIGINT)
            # task 3 may end only once ptrun has taken the signal in
            for line in proc.stderr:
                if "ptrun: interrupted" in line:
                    break
        finally:
            with open(self.path("go"), "w"):
                pass
            proc.stderr.read()
            proc.stderr.close()
            proc.wait(timeout=60)
        self.assertEqual(proc.returncode, 130)
        self.assertEqual(self.calls(), [0, 1, 2])
        first = by_task(lines_of(out))
        self.assertEqual({t: json.loads(line)["status"]
                          for t, line in first.items()},
                         {0: "failed", 1: "ok", 2: "ok", 3: "ok",
                          4: "cancelled", 5: "cancelled", 6: "cancelled"})
        return out, first

    def test_interrupted_with_a_failure_resumes_only_what_is_not_ok(self):
        """The failed task and the cancelled ones run again on resume, the
        ok ones do not (their lines stay the first session's)."""
        out, first = self.interrupted_with_a_failure(batch=1)
        with open(self.path("gate"), "w"):
            pass
        self.run_status("run", "--resume", out, "-q")
        self.assertEqual(self.calls(), [0, 4, 5, 6])  # 1-3 did not run
        after = by_task(lines_of(out))
        self.assertEqual(sorted(after), list(range(7)))
        self.assertEqual(counts_of(after.values()),
                         dict(counts_of([]), ok=7))
        for task in (1, 2, 3):
            self.assertEqual(after[task], first[task])
        for task in (0, 4, 5, 6):
            self.assertEqual(json.loads(after[task])["attempts"], 1)
        self.assertEqual(sorted(json.loads(line)["task"] for line in
                                lines_of(out, "history.jsonl")),
                         [0, 4, 5, 6])
        m = manifest(out)
        self.assertEqual([(s["exit_status"], s["counts"]) for s in
                          m["sessions"]],
                         [(130, dict(counts_of([]), ok=3, failed=1,
                                     cancelled=3)),
                          (0, dict(counts_of([]), ok=4))])
        self.assertEqual((m["skipped"], m["exit_status"]), (3, 0))

    # With batching on, tasks already sent to a worker in a batch but not
    # started are cancelled by Ctrl-C too (SPEC: a request is at a worker
    # only once the worker starts it; README: `cancelled`, the run was
    # interrupted before it started). A fixed batch of 8 puts tasks 4-6 in
    # the worker's pipe before the signal every time (with `auto` they are
    # there or not, by timing).
    def test_interrupt_cancels_batched_tasks_not_started(self):
        self.interrupted_with_a_failure(batch=8)

    def test_a_manifest_from_before_sessions(self):
        spec = self.gate_spec(closed_tasks=1)
        out = self.path("run")
        self.run_status("run", spec, "--out", out, "-q", status=1)
        old = manifest(out)
        del old["sessions"], old["results_lost"], old["compacted"]
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump(old, f)  # as ptrun wrote it before sessions existed
        with open(self.path("gate"), "w"):
            pass
        self.run_status("run", "--resume", out, "-q")
        first = manifest(out)["sessions"][0]
        self.assertEqual(first, {"command": old["command"],
                                 "start": old["start"], "end": old["end"],
                                 "exit_status": 1, "counts": old["counts"]})
        # --force resumes even without a readable manifest, and says what
        # that costs: the earlier sessions
        with open(os.path.join(out, "manifest.json"), "w") as f:
            f.write("{")
        p = self.run_status("run", "--resume", out, "--force", "-q")
        self.assertIn("ptrun: --resume %s: cannot read its manifest.json "
                      "(bad JSON at offset 1: string or '}' expected near end of "
                      "file): its earlier "
                      "sessions are not kept\n" % out, p.stderr)
        self.assertEqual(len(manifest(out)["sessions"]), 1)
        self.assertEqual(self.calls(), [0, 1, 2, 3, 4, 4])

    def test_a_full_disk_says_what_it_wrote(self):
        disk = self.path("disk")
        os.mkdir(disk)
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k",
                                "tmpfs", disk], capture_output=True,
                               text=True)
        self.assertEqual(mount.returncode, 0, mount.stderr)
        self.addCleanup(subprocess.run, ["umount", disk], check=True)
        spec = self.spec("""ptrun: 1
name: resume-full
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: noop, repeat: 3000}]}]
""")
        out = os.path.join(disk, "run")
        p = self.run_status("run", spec, "--out", out, "-q", status=3)
        self.assertIn("No space left", p.stderr)
        lines = lines_of(out)
        by_task(lines)
        m = manifest(out)
        self.assertEqual((m["finished"], m["exit_status"]), (True, 3))
        self.assertEqual(m["counts"], counts_of(lines))
        self.assertEqual(m["sessions"][0]["counts"], counts_of(lines))
        finished = sum(m["summary"]["kernels"]["noop"]["counts"].values())
        self.assertGreater(m["results_lost"], 0)
        self.assertEqual(len(lines) + m["results_lost"], finished)
        self.assertEqual(m["sessions"][0]["results_lost"], m["results_lost"])
        self.assertIn("%d results of this run could not be written"
                      % m["results_lost"], p.stderr)
        self.assertEqual(set(os.listdir(out)), FOLDER - {"history.jsonl"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
