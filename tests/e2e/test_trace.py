"""End-to-end tests of the chrome-trace plugin and `ptrun run --trace`.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment. The job is
tests/specs/trace.yaml: two worker sets, tasks that crash and are retried.
"""
import glob
import json
import os
import tempfile
import unittest

from e2e_util import SRC, STATUSES, results, ptrun_kernel_path as ptrun

SPEC = os.path.join(SRC, "tests", "specs", "trace.yaml")
WORKERS = {"pair": 2, "solo": 1}  # as trace.yaml says


def attempts_of(rows):
    """(task, attempt) -> (workerset, worker, status) of every attempt
    that started, from results.jsonl."""
    out = {}
    for r in rows:
        for a in r.get("earlier_attempts", []):
            out[(r["task"], a["attempt"])] = (r["workerset"], a["worker"],
                                              a["status"])
        if r["start_ns"]:
            out[(r["task"], r["attempts"])] = (r["workerset"], r["worker"],
                                               r["status"])
    return out


class Trace(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-trace-")

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def spec_with(self, plugins):
        """trace.yaml with a plugins: list added, in the temporary folder
        (its kernels are bare names, so it runs from anywhere)."""
        with open(SPEC) as f:
            text = f.read()
        path = self.path("job.yaml")
        with open(path, "w") as f:
            f.write(text + "plugins: %s\n" % plugins)
        return path

    def check_trace(self, trace_path, run_dir):
        with open(trace_path) as f:
            doc = json.load(f)
        self.assertEqual(doc["displayTimeUnit"], "ms")
        self.assertEqual(doc["otherData"]["run"], "trace")
        events = doc["traceEvents"]
        rows = results(run_dir)
        want = attempts_of(rows)
        self.assertEqual(len(want),
                         sum(len(r.get("earlier_attempts", [])) + 1
                             for r in rows))
        self.assertGreater(len(want), len(rows))  # retries happened

        # process_name: one process per worker set, and the runner's
        procs = {e["pid"]: e["args"]["name"] for e in events
                 if e["ph"] == "M" and e["name"] == "process_name"}
        self.assertEqual(sorted(procs.values()), ["pair", "ptrun", "solo"])
        pid_of = {name: pid for pid, name in procs.items()}
        # thread_name: one lane per worker of each set
        for name, n in WORKERS.items():
            lanes = {e["tid"]: e["args"]["name"] for e in events
                     if e["ph"] == "M" and e["name"] == "thread_name"
                     and e["pid"] == pid_of[name]}
            self.assertEqual(lanes, {w + 1: "worker %d" % w
                                     for w in range(n)})

        # one slice per attempt, on the lane of its worker
        slices = [e for e in events if e["ph"] == "X"
                  and e.get("cat") in STATUSES]
        self.assertEqual(len(slices), len(want))
        got = {}
        for s in slices:
            a = s["args"]
            key = (a["task"], a["attempt"])
            self.assertNotIn(key, got)
            got[key] = s
            wset, worker, status = want[key]
            self.assertEqual((s["pid"], s["tid"]),
                             (pid_of[wset], worker + 1), s)
            self.assertEqual(s["cat"], status)
            self.assertEqual(a["status"], status)
            self.assertGreaterEqual(s["dur"], 0)
        self.assertEqual(set(got), set(want))
        by_task = {r["task"]: r for r in rows}
        for (task, attempt), s in got.items():
            r = by_task[task]
            self.assertEqual(s["name"], r["kernel"])
            self.assertEqual(s["args"]["args"], r["args"])
            if attempt == r["attempts"]:
                self.assertEqual(s["args"]["result"], r["result"])
                self.assertEqual(s["args"]["error"], r["error"])
        crashed = [s for s in slices if s["cat"] == "crashed"]
        self.assertTrue(crashed and all(s["args"]["signal"] == 11
                                        for s in crashed))

        # per lane: in time order, never overlapping
        lanes = {}
        for s in slices:
            lanes.setdefault((s["pid"], s["tid"]), []).append(s)
        for lane, ss in lanes.items():
            for a, b in zip(ss, ss[1:]):
                self.assertLessEqual(a["ts"], b["ts"], lane)
                self.assertLessEqual(a["ts"] + a["dur"], b["ts"] + 0.001,
                                     (lane, a, b))

        # the runner's lane: one slice per step inside the run's
        runner = [e for e in events if e["ph"] == "X"
                  and e["pid"] == pid_of["ptrun"]]
        self.assertEqual(sorted((e["cat"], e["name"]) for e in runner),
                         [("run", "trace"), ("step", "warm"),
                          ("step", "work")])

        # counters, once the runner counts (all zero before it did)
        counters = [e for e in events if e["ph"] == "C"]
        self.assertTrue(counters)
        if any(c["args"]["waiting"] or c["args"]["running"]
               for c in counters):
            self.assertTrue(all(c["args"]["waiting"] >= 0 and
                                c["args"]["running"] >= 0
                                for c in counters))
            self.assertEqual(counters[-1]["args"],
                             {"waiting": 0, "running": 0})

    def test_trace_option(self):
        out = self.path("run")
        p = ptrun("run", SPEC, "--out", out, "-q", "--trace", "cli.json",
                  cwd=self.tmp.name)  # relative to the current directory
        self.assertEqual(p.returncode, 1, p.stderr)  # segv and fail tasks
        self.check_trace(self.path("cli.json"), out)
        self.assertEqual(glob.glob(self.path("*.tmp")), [])
        self.assertFalse(os.path.exists(os.path.join(out, "trace.json")))

    def test_plugin_in_spec(self):
        spec = self.spec_with("[{name: jsonl}, {name: chrome-trace}]")
        out = self.path("run")
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.check_trace(os.path.join(out, "trace.json"), out)
        self.assertEqual(glob.glob(os.path.join(out, "*.tmp")), [])
        with open(os.path.join(out, "manifest.json")) as f:
            plugins = json.load(f)["plugins"]
        self.assertTrue(any(p["path"].endswith("/chrome-trace.so")
                            for p in plugins))

    def test_bad_option_fails_cleanly(self):
        spec = self.spec_with(
            "[{name: jsonl}, {name: chrome-trace, options: {nope: 1}}]")
        out = self.path("run")
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertIn(p.returncode, (2, 3), p.stderr)
        self.assertIn('option "nope": no such option', p.stderr)
        self.assertEqual(glob.glob(os.path.join(out, "trace.json*")), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
