"""End-to-end tests of what a run's start costs the runner (issue 15's
start-up figure): the system calls a one-task run makes in the ptrun
process itself, watched with strace (skipped where it is missing), and the
manifest's UTC times, which ptrun works out without the C library's time
zone code. The sanitizer build runs only the second: a sanitizer's runtime
reads /proc itself.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import datetime
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from e2e_util import PTRUN, SRC, manifest, ptrun, results

JOB = os.path.join(SRC, "bench", "jobs", "noop-200k.yaml")
ONE = ("--set", "steps.0.tasks.0.repeat=1")
CALL = re.compile(r'^(\w+)\((.*)\) += (-?\d+)')


def utc(text):
    """A manifest time ("2026-12-01T10:00:00.000Z") as seconds."""
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


class StartupTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="pt_startup_")
        self.env = dict(os.environ,
                        PTRUN_CACHE_DIR=os.path.join(self.tmp.name, "cache"))

    def tearDown(self):
        self.tmp.cleanup()

    def run_one(self, name, wrap=()):
        out = os.path.join(self.tmp.name, name)
        r = subprocess.run([*wrap, PTRUN, "run", JOB, "-q", *ONE, "--out",
                            out], capture_output=True, text=True,
                           env=self.env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([x["status"] for x in results(out)], ["ok"])
        return out, r

    def test_what_a_start_makes(self):
        # (not in the sanitizer build's suite: its runtime reads /proc;
        # strace comes with `make test`'s packages, scripts/deps.sh)
        self.assertIsNotNone(shutil.which("strace"), "strace is missing")
        self.run_one("warm")  # the probe report is cached from here on
        log = os.path.join(self.tmp.name, "strace.log")
        out, _ = self.run_one("run", ("strace", "-o", log, "-e",
                                      "trace=openat,open,mkdir,creat"))
        calls = []
        with open(log) as f:
            for line in f:
                m = CALL.match(line)
                if m:
                    calls.append((m.group(1), m.group(2), int(m.group(3))))
        paths = [args.split('"')[1] for _, args, _ in calls if '"' in args]
        # no time zone file, no /dev/urandom, no /proc read for a thread
        # count
        for p in paths:
            self.assertNotIn(p, ("/etc/localtime", "/dev/urandom"))
            self.assertIsNone(re.match(r"/proc/(self|\d+)/stat$", p), p)
        made = sorted(
            os.path.basename(re.sub(r"-\d+$", "", args.split('"')[1]))
            for name, args, rc in calls
            if rc >= 0 and args.split('"')[1].startswith(out) and
            (name == "mkdir" or "O_CREAT" in args))
        # the seven inodes of a run: the folder and its six files (the
        # last manifest is written into .ptrun-reserve, made while the
        # worker ends, and replaces the first one)
        self.assertEqual(made, [".job.yaml.tmp", ".lock", ".manifest.json.tmp",
                                ".ptrun-reserve", "output.log",
                                "results.jsonl", "run"])
        self.assertEqual(sorted(os.listdir(out)),
                         [".lock", "job.yaml", "manifest.json", "output.log",
                          "results.jsonl"])

    def test_workers_forked_by_need(self):
        """A one-task run forks one of the set's two workers; a run whose
        first step has many tasks forks both before it opens its results
        (not a round later, when the first has started already)."""
        self.assertIsNotNone(shutil.which("strace"), "strace is missing")
        self.run_one("warm")  # the probe report is cached from here on

        def calls(name, n):
            log = os.path.join(self.tmp.name, name + ".log")
            out = os.path.join(self.tmp.name, name)
            r = subprocess.run(["strace", "-o", log, "-e",
                                "trace=clone,clone3,fork,vfork,openat",
                                PTRUN, "run", JOB, "-q", "--set",
                                "steps.0.tasks.0.repeat=%d" % n, "--out",
                                out], capture_output=True, text=True,
                               env=self.env, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(results(out)), n)
            seq = []
            with open(log) as f:
                for line in f:
                    m = CALL.match(line)
                    if m and m.group(1) != "openat":
                        seq.append("fork")
                    elif m and '/results.jsonl"' in m.group(2):
                        seq.append("results")
            return seq

        self.assertEqual(calls("one", 1), ["fork", "results"])
        self.assertEqual(calls("many", 1000), ["fork", "fork", "results"])

    def test_worker_resets_few_signals(self):
        """A worker puts back to SIG_DFL only the signals the runner
        catches or ignores, which it reads from /proc/self/status: a
        handful of sigaction calls, not one per signal (63 before)."""
        self.assertIsNotNone(shutil.which("strace"), "strace is missing")
        self.run_one("warm")  # the probe report is cached from here on
        log = os.path.join(self.tmp.name, "signals.log")
        self.run_one("run", ("strace", "-f", "-o", log, "-e",
                             "trace=rt_sigaction,clone,clone3,fork,openat"))
        runner, worker, acts, status = None, None, {}, set()
        with open(log) as f:
            for line in f:
                pid, _, call = line.partition(" ")
                call = call.strip()
                runner = runner or pid
                m = re.match(r"(clone3?|fork)\(.*= (\d+)$", call)
                if pid == runner and m and worker is None:
                    worker = m.group(2)
                if call.startswith("rt_sigaction("):
                    acts[pid] = acts.get(pid, 0) + 1
                if '"/proc/self/status"' in call:
                    status.add(pid)
        self.assertIsNotNone(worker)
        self.assertIn(worker, status)
        # SIGINT, SIGTERM, SIGHUP, SIGPIPE (the runner's handlers) and
        # SIGCHLD back to SIG_DFL; the worker's own SIGPIPE handler
        self.assertLessEqual(acts.get(worker, 0), 8)
        self.assertGreaterEqual(acts.get(worker, 0), 5)

    def test_manifest_times_are_utc(self):
        t0 = time.time()
        out, _ = self.run_one("times")
        t1 = time.time()
        m = manifest(out)
        start, end = utc(m["start"]), utc(m["end"])
        self.assertLessEqual(t0 - 0.001, start)
        self.assertLessEqual(start, end)
        self.assertLessEqual(end, t1 + 0.001)
        self.assertEqual(m["sessions"][0]["start"], m["start"])
        self.assertEqual(m["sessions"][0]["end"], m["end"])


if __name__ == "__main__":
    unittest.main()
