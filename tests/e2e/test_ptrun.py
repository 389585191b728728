"""End-to-end tests of ptrun: real specs, real kernels, real run folders.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from e2e_util import (PTRUN, SRC, TEST_KERNELS, ptrun, results, shm_entries,
                      own_prefixes)

CONFIGS = os.path.join(SRC, "configs")


def stable(rows):
    """What must not depend on workers, modes or timing."""
    keep = ("task", "step", "kernel", "args", "seed", "status", "result")
    return sorted(({k: r[k] for k in keep} for r in rows),
                  key=lambda r: r["task"])



def echo_and_faults(name):
    """A spec's head: job `name`, kernels echo, fail and segv, one set of
    2 workers that retries once."""
    return """ptrun: 1
name: %s
kernels:
  echo: {path: echo}
  fail: {path: @TK@/faults.so}
  segv: {path: @TK@/faults.so}
workersets: [{name: w, workers: 2, retries: 1}]""" % name

class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-e2e-")
        self.shm_before = shm_entries()

    def tearDown(self):
        own = own_prefixes(self.tmp.name)
        left = {e for e in shm_entries() - self.shm_before
                if any(e.startswith(p) for p in own)}
        # the test's runs have all ended: none of their names may be left
        self.assertEqual(left, set(), "segments left in /dev/shm")
        self.tmp.cleanup()

    def out(self, name="run"):
        return os.path.join(self.tmp.name, name)

    def spec(self, text, name="job.yaml"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text.replace("@TK@", TEST_KERNELS))
        return path

    def run_ok(self, *args, status=0):
        p = ptrun(*args)
        self.assertEqual(p.returncode, status, p.stderr)
        return p


class Configs(Base):
    def test_every_config_runs(self):
        expected = {"quickstart": 8 + os.cpu_count() + 1, "pi": 16,
                    "shm-fill-sum": 4 + 4 + 1, "sweep": 4 + 4 + 1,
                    "bench-noop": 20000}
        for name, count in expected.items():
            with self.subTest(config=name):
                out = self.out(name)
                self.run_ok("run", os.path.join(CONFIGS, name + ".yaml"),
                            "--out", out, "-q")
                rows = results(out)
                self.assertEqual(len(rows), count)
                self.assertTrue(all(r["status"] == "ok" for r in rows))
                self.assertEqual(sorted(r["task"] for r in rows),
                                 list(range(count)))
                self.assertTrue(os.path.exists(os.path.join(out, "job.yaml")))

    def test_manifest_hashes_match(self):
        out = self.out()
        spec = os.path.join(CONFIGS, "pi.yaml")
        self.run_ok("run", spec, "--out", out, "-q")
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        with open(spec, "rb") as f:
            self.assertEqual(m["spec"]["sha256"],
                             hashlib.sha256(f.read()).hexdigest())
        for k in m["kernels"].values():
            with open(k["path"], "rb") as f:
                self.assertEqual(k["sha256"],
                                 hashlib.sha256(f.read()).hexdigest())
        self.assertEqual(m["counts"]["ok"], 16)
        self.assertEqual(m["seed"], 42)
        self.assertTrue(m["finished"])
        self.assertFalse(m["interrupted"])

    def test_results_fields(self):
        out = self.out()
        self.run_ok("run", os.path.join(CONFIGS, "pi.yaml"), "--out", out,
                    "-q")
        r = results(out)[0]
        for key in ("task", "step", "kernel", "args", "seed", "status",
                    "error", "result", "worker", "attempts", "queued_ns",
                    "start_ns", "end_ns"):
            self.assertIn(key, r)
        self.assertEqual(r["args"]["samples"], 1000000)
        self.assertEqual(r["result"]["samples"], 1000000)
        self.assertIsNone(r["error"])
        self.assertLessEqual(r["queued_ns"], r["start_ns"])
        self.assertLessEqual(r["start_ns"], r["end_ns"])

    def test_npy_saved(self):
        import numpy
        out = self.out()
        self.run_ok("run", os.path.join(CONFIGS, "shm-fill-sum.yaml"),
                    "--out", out, "-q")
        ids = numpy.load(os.path.join(out, "shm", "ids.npy"))
        self.assertEqual(ids.dtype, numpy.int32)
        self.assertEqual(ids.shape, (65536,))
        self.assertTrue((ids == 7).all())
        img = numpy.load(os.path.join(out, "shm", "img.npy"))
        self.assertEqual(img.shape, (100, 100))
        rows = results(out)
        sums = [r["result"]["sum"] for r in rows if r["step"] == "sum"]
        self.assertEqual(sorted(sums)[-1], 255 * 10000)
        self.assertEqual(sum(sorted(sums)[:-1]), 7 * 65536)


class Semantics(Base):
    def test_same_results_whatever_the_workers(self):
        runs = []
        for i, (w, mode) in enumerate([(1, "ff"), (4, "ff"), (3, "rr")]):
            out = self.out("r%d" % i)
            self.run_ok("run", os.path.join(CONFIGS, "sweep.yaml"), "--out",
                        out, "-q", "--set", "workersets.cpu.workers=%d" % w,
                        "--set", "workersets.cpu.mode=" + mode)
            runs.append(stable(results(out)))
        self.assertEqual(runs[0], runs[1])
        self.assertEqual(runs[0], runs[2])

    def test_pi_results_are_pinned(self):
        """A task's seed, and so the `pi` kernel's draw, is a fixed function
        of the job seed and the task id (splitmix64 of seed ^ id * phi):
        results of old runs must stay reproducible. Values from an
        independent Python model of kernels/pi_loop.h."""
        spec = self.spec("""ptrun: 1
name: pinned-pi
seed: 42
kernels: {pi: {path: pi}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: pi, args: {samples: 1000}, repeat: 3}]}]
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q")
        rows = {r["task"]: r for r in results(out)}
        self.assertEqual(
            {t: (r["seed"], r["result"]["hits"]) for t, r in rows.items()},
            {0: (0xBDD732262FEB6E95, 782), 1: (0x28EFE333B266F103, 771),
             2: (0x5FD30D2FCBEF75E3, 811)})

    def test_batching_changes_no_result(self):
        """batch: 1, 7 and auto give the same results; every task is
        recorded once, and batched tasks' times come from the workers (a
        worker's tasks do not overlap)."""
        spec = self.spec("""
ptrun: 1
name: batch
kernels: {echo: {path: echo}}
workersets: [{name: w, workers: 2, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: echo, args: {x: 1}, repeat: 3000}
""")
        runs = []
        for b in ("1", "7", "auto"):
            out = self.out("b" + b)
            self.run_ok("run", spec, "--out", out, "-q", "--set",
                        "workersets.w.batch=" + b)
            rows = results(out)
            self.assertEqual(sorted(r["task"] for r in rows),
                             list(range(3000)))
            for w in (0, 1):
                mine = sorted((r["start_ns"], r["end_ns"]) for r in rows
                              if r["worker"] == w)
                for (s0, e0), (s1, _) in zip(mine, mine[1:]):
                    self.assertLessEqual(s0, e0)
                    self.assertLessEqual(e0, s1)
            runs.append(stable(rows))
        self.assertEqual(runs[0], runs[1])
        self.assertEqual(runs[0], runs[2])
        for bad in ("0", "5000", "lots"):
            p = ptrun("check", spec, "--set", "workersets.w.batch=" + bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("batch", p.stderr)

    def test_priority_order_with_one_ff_worker(self):
        spec = self.spec("""
ptrun: 1
name: prio
kernels: {sleep: {path: sleep}}
workersets: [{name: one, workers: 1, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: sleep, args: {ms: 5}, priority: 1}
      - {kernel: sleep, args: {ms: 5}, priority: 9}
      - {kernel: sleep, args: {ms: 5}, priority: 5}
      - {kernel: sleep, args: {ms: 5}, priority: 9}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q")
        order = [r["task"] for r in sorted(results(out),
                                           key=lambda r: r["start_ns"])]
        self.assertEqual(order, [1, 3, 2, 0])

    def test_priority_order_across_a_step_fed_gradually(self):
        """A step is fed to its set a few thousand tasks at a time: the
        best of the whole step still goes first (higher priority, then
        lower id), even from entries far past what was fed first."""
        spec = self.spec("""
ptrun: 1
name: prio_feed
kernels: {noop: {path: noop}}
workersets: [{name: one, workers: 1, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: noop, repeat: 20000}
      - {kernel: noop, repeat: 3, priority: 5}
      - {kernel: noop, repeat: 3, priority: 7}
      - {kernel: noop, repeat: 3, priority: 5}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q")
        order = [r["task"] for r in sorted(results(out),
                                           key=lambda r: r["start_ns"])]
        self.assertEqual(order[:9], [20003, 20004, 20005, 20000, 20001,
                                     20002, 20006, 20007, 20008])
        self.assertEqual(order[9:], list(range(20000)))

    def test_pinned_tasks_hold_no_free_worker_back(self):
        """Pinned tasks (on:) are queued whole, outside the feed's count:
        60000 of them for worker 0, of a higher priority, leave worker 1
        free to run the others from the start (counted in the feed, they
        held the others back until all but 8192 had run)."""
        spec = self.spec("""
ptrun: 1
name: pinned_feed
kernels: {noop: {path: noop}}
workersets: [{name: two, workers: 2, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: noop, repeat: 60000, on: 0, priority: 1}
      - {kernel: noop, repeat: 100}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q")
        rows = results(out)
        pinned_ends = sorted(r["end_ns"] for r in rows if r["task"] < 60000)
        first_free = min(r["start_ns"] for r in rows if r["task"] >= 60000)
        self.assertLess(first_free, pinned_ends[30000])

    def test_each_worker_and_on(self):
        spec = self.spec("""
ptrun: 1
name: placement
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 3, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: noop, each_worker: true}
      - {kernel: noop, on: 2, repeat: 3}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q")
        rows = sorted(results(out), key=lambda r: r["task"])
        self.assertEqual([r["worker"] for r in rows], [0, 1, 2, 2, 2, 2])

    def test_failures_give_status_1(self):
        spec = self.spec("""
ptrun: 1
name: faults
kernels:
  fail: {path: @TK@/faults.so}
  segv: {path: @TK@/faults.so}
workersets: [{name: w, workers: 2, retries: 1}]
steps:
  - name: s
    tasks:
      - {kernel: fail}
      - {kernel: segv}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q", status=1)
        rows = sorted(results(out), key=lambda r: r["task"])
        self.assertEqual(rows[0]["status"], "failed")
        self.assertIn("asked to fail", rows[0]["error"])
        self.assertEqual(rows[1]["status"], "crashed")
        self.assertEqual(rows[1]["attempts"], 2)  # retried once
        self.assertEqual(rows[1]["signal"], 11)
        self.assertGreater(rows[1]["max_rss_kb"], 0)
        self.assertNotIn("signal", rows[0])

    def test_plugins_csv_and_by_path(self):
        plugdir = os.path.join(os.path.dirname(PTRUN), "plugins")
        spec = self.spec("""
ptrun: 1
name: plugged
kernels: {echo: {path: echo}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: echo, sweep: {x: [1, 2, 3]}}]}]
plugins:
  - {name: jsonl}
  - {name: csv}
  - {path: %s/jsonl.so, options: {file: copy.jsonl}}
""" % plugdir)
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q")
        import csv
        with open(os.path.join(out, "results.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["result.x"] for r in rows], ["1", "2", "3"])
        self.assertEqual(len(results(out)), 3)
        with open(os.path.join(out, "copy.jsonl")) as f:
            self.assertEqual(len(f.readlines()), 3)

    def test_builtin_jsonl_writes_what_jsonl_so_writes(self):
        """The default results.jsonl comes from the jsonl plugin built into
        ptrun; jsonl.so, given by path, writes the very same bytes (ok,
        failed, retried crashed tasks; args and results of each type), and
        the manifest lists only the .so it loaded."""
        plugdir = os.path.join(os.path.dirname(PTRUN), "plugins")
        so = os.path.join(plugdir, "jsonl.so")
        spec = self.spec(echo_and_faults("builtin") + """
steps:
  - name: a
    tasks:
      - {kernel: echo, sweep: {x: [1, -2.5, "s\\u00e9\\n", true, null]}}
      - {kernel: echo, args: {l: [1, 2], m: {k: "v"}}}
      - {kernel: fail, args: {code: 2}}
      - {kernel: segv}
plugins:
  - {path: %s, options: {file: copy.jsonl}}
""" % so)
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q", status=1)
        with open(os.path.join(out, "results.jsonl"), "rb") as f:
            builtin = f.read()
        with open(os.path.join(out, "copy.jsonl"), "rb") as f:
            loaded = f.read()
        self.assertEqual(len(builtin.splitlines()), 8)
        self.assertEqual(builtin, loaded)
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        self.assertEqual([p["path"] for p in m["plugins"]],
                         [os.path.realpath(so)])

    def test_batched_plugin_sees_every_event_in_order(self):
        """A plugin of ABI 4 that takes batches (evbatch.so) sees the very
        events, in the same order, that a plugin of ABI 3 (evlog.so) gets
        one call each: a job with queued, started, finished, retried and
        failed tasks over two steps."""
        spec = self.spec(echo_and_faults("batched") + """
steps:
  - name: a
    tasks:
      - {kernel: echo, repeat: 300, args: {x: 1.5}}
      - {kernel: fail, args: {code: 2}, priority: 5}
      - {kernel: segv}
  - name: b
    tasks: [{kernel: echo, repeat: 100, args: {y: "text"}}]
plugins:
  - {name: jsonl}
  - {path: @TK@/evlog.so}
  - {path: @TK@/evbatch.so}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q", status=1)
        logs = {}
        for name in ("evlog", "evbatch"):
            with open(os.path.join(out, name + ".log")) as f:
                lines = f.read().splitlines()
            calls = [int(l.split()[1]) for l in lines if l.startswith("call ")]
            logs[name] = ([l for l in lines if not l.startswith("call ")],
                          calls)
        events, calls = logs["evlog"]
        self.assertEqual(set(calls), {1})  # ABI 3: one call per event
        self.assertEqual(len(calls), len(events))
        self.assertEqual(logs["evbatch"][0], events)
        self.assertLess(len(logs["evbatch"][1]), len(events) // 4)
        finished = [e for e in events if e.startswith("7 ")]  # FINISHED
        self.assertEqual(len(finished), 402)
        self.assertEqual(len(results(out)), 402)
        self.assertEqual(sum(1 for e in events if e.startswith("8 ")), 1)

    def test_retries_back_off(self):
        spec = self.spec("""
ptrun: 1
name: backoff
kernels: {segv: {path: @TK@/faults.so}}
workersets: [{name: w, workers: 1, retries: 3}]
steps: [{name: s, tasks: [{kernel: segv}]}]
""")
        out = self.out()
        t0 = time.monotonic()
        self.run_ok("run", spec, "--out", out, "-q", status=1)
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)  # .1 + .2 + .4
        r = results(out)[0]
        self.assertEqual(r["attempts"], 4)
        self.assertEqual(r["status"], "crashed")
        earlier = r["earlier_attempts"]
        self.assertEqual([a["attempt"] for a in earlier], [1, 2, 3])
        self.assertTrue(all(a["signal"] == 11 for a in earlier))
        gaps = [b["start_ns"] - a["end_ns"] for a, b in zip(earlier, earlier[1:])]
        self.assertGreaterEqual(gaps[1], 2 * 10**8 * 0.9)  # the backoff

    def test_retry_backoff_doubles(self):
        """Retries wait 0.1 s, then 0.2 s, then 0.4 s: each gap between an
        attempt's end and the next one's start is at least its delay and
        less than the next delay (a loaded machine only adds to a gap)."""
        spec = self.spec("""
ptrun: 1
name: backoff2
kernels: {fail: {path: @TK@/faults.so}}
workersets: [{name: w, workers: 1, retries: 3, retry_failed: true}]
steps: [{name: s, tasks: [{kernel: fail}]}]
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q", status=1)
        r = results(out)[0]
        self.assertEqual((r["status"], r["attempts"]), ("failed", 4))
        tries = r["earlier_attempts"] + [r]
        self.assertEqual([a.get("attempt", 4) for a in tries], [1, 2, 3, 4])
        gaps = [b["start_ns"] - a["end_ns"] for a, b in zip(tries, tries[1:])]
        for gap, delay in zip(gaps, (10**8, 2 * 10**8, 4 * 10**8)):
            self.assertGreaterEqual(gap, delay, gaps)
            self.assertLess(gap, 2 * delay, gaps)

    def test_check_prints_the_plan(self):
        p = self.run_ok("check", os.path.join(CONFIGS, "sweep.yaml"))
        self.assertIn("9 tasks", p.stdout)
        self.assertIn('priority 10 seed 17039259473404265729 args '
                      '{"samples":200000}\n', p.stdout)

    def test_kernels_lists(self):
        kdir = os.path.dirname(PTRUN) + "/kernels"
        p = self.run_ok("kernels", kdir + "/pi.so", kdir + "/noop.so")
        self.assertIn("pi", p.stdout)
        self.assertIn("abi 2", p.stdout)
        p = ptrun("kernels", TEST_KERNELS + "/bad_abi.so")
        self.assertEqual(p.returncode, 3)
        self.assertIn("ABI 999", p.stderr)


class Tutorial(Base):
    """The README's five-minute tutorial, as written, works."""

    def block(self, text, after, lang):
        start = text.index(after)
        start = text.index("```" + lang + "\n", start) + len(lang) + 4
        return text[start:text.index("```", start)]

    def test_readme_tutorial(self):
        with open(os.path.join(SRC, "README.md")) as f:
            readme = f.read()
        src = self.spec(self.block(readme, "**1. Write a kernel.**", "c"),
                        "square.c")
        yaml = self.spec(self.block(readme, "**3. Describe a job**", "yaml"),
                         "square.yaml")
        so = os.path.join(self.tmp.name, "square.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror",
                        "-I", os.path.join(SRC, "include"), "-o", so, src],
                       check=True)
        out = self.out()
        self.run_ok("run", yaml, "--out", out, "-q")
        rows = sorted(results(out), key=lambda r: r["task"])
        self.assertEqual([r["result"]["y"] for r in rows],
                         [1, 4, 9, 16, 25, 100])
        # start_ns is when a worker started the task: with several workers
        # the first few start at once, so look at one worker's order
        out = self.out("one")
        self.run_ok("run", yaml, "--out", out, "-q", "--set",
                    "workersets.cpu.workers=1")
        first = min(results(out), key=lambda r: r["start_ns"])
        self.assertEqual(first["task"], 5)  # priority 5 runs first


class FaultSuite(Base):
    """Every kernel fault in one job: each ends as a status, the job ends."""

    def test_every_fault_in_one_job(self):
        spec = self.spec("""
ptrun: 1
name: faults
shm: {segments: [{name: x, type: int8, dims: [10], named: true}]}
kernels:
  segv: {path: @TK@/faults.so}
  abort: {path: @TK@/faults.so}
  exit3: {path: @TK@/faults.so}
  hang: {path: @TK@/faults.so}
  fail: {path: @TK@/faults.so}
  fail_rc: {path: @TK@/faults.so}
  init_crash: {path: @TK@/faults.so}
  big_result: {path: @TK@/faults.so}
  spam_stdout: {path: @TK@/faults.so}
  fork_and_die: {path: @TK@/faults.so}
  garbage_fds: {path: @TK@/faults.so}
  close_fds: {path: @TK@/faults.so}
  noop: {path: noop}
workersets:
  - {name: main, workers: 2, timeout: 2s, retries: 1}
  - {name: doomed, workers: 2}
  # 70 MiB made and mapped page by page: past 2 s on a loaded VM
  - {name: big, workers: 1}
steps:
  - name: all
    tasks:
      - {kernel: segv}
      - {kernel: abort}
      - {kernel: exit3}
      - {kernel: hang}
      - {kernel: fail}
      - {kernel: fail_rc}
      - {kernel: big_result, workerset: big, args: {bytes: 73400320}}
      - {kernel: spam_stdout, args: {lines: 3000}}
      - {kernel: noop, repeat: 5}
      - {kernel: init_crash, workerset: doomed, repeat: 8}
      - {kernel: fork_and_die}
      - {kernel: garbage_fds}
      - {kernel: close_fds}
""")
        out = self.out()
        p = ptrun("run", spec, "--out", out, "-q", timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = {r["task"]: r for r in results(out)}
        self.assertEqual(len(rows), 9 + 4 + 8 + 3)
        want = {0: "crashed", 1: "crashed", 2: "crashed", 3: "timeout",
                4: "failed", 5: "failed", 6: "ok", 7: "ok"}
        for task, status in want.items():
            self.assertEqual(rows[task]["status"], status, rows[task])
        self.assertEqual(rows[0]["signal"], 11)
        self.assertEqual(rows[1]["signal"], 6)
        self.assertEqual(rows[2]["exit_code"], 3)
        self.assertEqual(rows[3]["attempts"], 2)  # retried, then timeout
        # 70 MiB: over the pipe's frame limit, so through shared memory
        data = base64.b64decode(rows[6]["result"]["data"]["$bytes"])
        self.assertEqual(len(data), 73400320)
        self.assertEqual(data[:3] + data[-1:], bytes([0, 1, 2, 73400319 % 251]))
        self.assertTrue(all(rows[t]["status"] == "ok" for t in range(8, 13)))
        doomed = [rows[t] for t in range(13, 21)]
        self.assertTrue(all(r["status"] == "crashed" for r in doomed))
        self.assertTrue(any("broken" in r["error"] for r in doomed))
        for t in (21, 22, 23):  # fork_and_die, garbage_fds, close_fds
            self.assertEqual(rows[t]["status"], "crashed", rows[t])
        self.assertEqual(rows[21]["exit_code"], 1)
        self.assertIn("protocol", rows[22]["error"])
        with open(os.path.join(out, "output.log"), errors="replace") as f:
            spam = sum(1 for line in f if "spam std" in line)
        self.assertEqual(spam, 6000)
        # nothing ptrun started survives it, not even what kernels forked
        # (it kills and reaps them all before it exits)
        out_ps = subprocess.run(["ps", "-eo", "stat,args"],
                                capture_output=True, text=True).stdout
        alive = [l for l in out_ps.splitlines()
                 if spec in l and not l.lstrip().startswith("Z")]
        self.assertEqual(alive, [])
        # tearDown: the named segment is gone from /dev/shm too


class Load(Base):
    def test_256_workers_and_100k_tasks(self):
        spec = self.spec("""
ptrun: 1
name: load
kernels: {noop: {path: noop}}
workersets:
  - {name: wide, workers: 256}
  - {name: two, workers: 2}
steps:
  - {name: wide, tasks: [{kernel: noop, workerset: wide, each_worker: true}]}
  - {name: many, tasks: [{kernel: noop, workerset: two, repeat: 100000}]}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q")
        with open(os.path.join(out, "results.jsonl")) as f:
            lines = f.readlines()
        self.assertEqual(len(lines), 256 + 100000)
        self.assertTrue(all('"status":"ok"' in l for l in lines))
        workers = {json.loads(l)["worker"] for l in lines[:256]}
        self.assertEqual(len(workers), 256)


    def test_runner_memory_is_per_live_task(self):
        """The plan stays an entry and a count; a task's args and state
        exist only while it is queued or running: 300k tasks cost the
        runner less than 200 B each above a 1000-task run (all of them at
        once took ~460 B a task; now ~40 B, ~90 B under ASan)."""
        # a small interpreter forks ptrun: a peak RSS counts the pages of
        # the process it was forked from (this one is large)
        wrap = ("import os, sys\n"
                "pid = os.fork()\n"
                "if pid == 0:\n"
                "    os.execv(sys.argv[1], sys.argv[1:])\n"
                "_, status, usage = os.wait4(pid, 0)\n"
                "print(usage.ru_maxrss)\n"
                "sys.exit(os.waitstatus_to_exitcode(status))\n")
        # under ASan, freed memory waits in a quarantine (256 MB): off, so
        # that the peak counts what is live (other builds ignore it)
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                               ":quarantine_size_mb=0").lstrip(":")

        def peak_kib(n):
            spec = self.spec("""
ptrun: 1
name: lazy
kernels: {noop: {path: noop}}
workersets: [{name: two, workers: 2}]
steps:
  - {name: many, tasks: [{kernel: noop, repeat: %d, args: {pad: 1}}]}
""" % n, name="job%d.yaml" % n)
            out = self.out("run%d" % n)
            p = subprocess.run([sys.executable, "-c", wrap, PTRUN, "run",
                                spec, "--out", out, "-q"],
                               capture_output=True, text=True, timeout=300,
                               env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(out, "results.jsonl")) as f:
                self.assertEqual(sum(1 for _ in f), n)
            return int(p.stdout)

        small, big = peak_kib(1000), peak_kib(300000)
        per_task = (big - small) * 1024 / 299000
        self.assertLess(per_task, 200, "runner peak RSS %d KiB for 300k "
                        "tasks, %d KiB for 1000" % (big, small))


class Output(Base):
    KERNEL = r"""
#include <stdio.h>
#include <ptools/kernel.h>
static int noisy(pt_ctx *ctx)
{
    printf("hello from task %d\n", (int)pt_task_id(ctx));
    for (int i = 0; i < 7; i++)
        fprintf(stderr, "warning %d\n", i);
    if (pt_arg_bool(ctx, "fail", false))
        return pt_fail(ctx, "gave up");
    return 0;
}
static const pt_kernel k = {.abi = PT_KERNEL_ABI, .name = "noisy",
                            .doc = "prints", .call = noisy};
PT_KERNELS(&k);
"""

    def test_output_log_and_error_tail(self):
        src = self.spec(self.KERNEL, "noisy.c")
        so = os.path.join(self.tmp.name, "noisy.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-I",
                        os.path.join(SRC, "include"), "-o", so, src],
                       check=True)
        spec = self.spec("""
ptrun: 1
name: noisy
kernels: {noisy: {path: ./noisy.so}}
workersets: [{name: w, workers: 2}]
steps:
  - name: s
    tasks:
      - {kernel: noisy, repeat: 3}
      - {kernel: noisy, args: {fail: true}}
""")
        out = self.out()
        self.run_ok("run", spec, "--out", out, "-q", status=1)
        with open(os.path.join(out, "output.log")) as f:
            log = f.read().splitlines()
        self.assertEqual(len(log), 4 * 8)
        self.assertIn("[2 w/", "\n".join(log))
        self.assertTrue(any(l.startswith("[1 w/") and
                            l.endswith("stdout] hello from task 1")
                            for l in log), log[:4])
        failed = [r for r in results(out) if r["status"] == "failed"][0]
        self.assertTrue(failed["error"].startswith("gave up"))
        self.assertIn("warning 6", failed["error"])  # the last lines
        self.assertNotIn("warning 1\n", failed["error"])


class Errors(Base):
    def test_bad_spec_is_status_2_and_creates_nothing(self):
        spec = self.spec("""ptrun: 1
name: bad
kernels: {noop: {path: noop}}
workersets: [{name: w, wrkers: 2}]
steps: [{name: s, tasks: [{kernel: noop}]}]
""")
        out = self.out()
        p = ptrun("run", spec, "--out", out)
        self.assertEqual(p.returncode, 2)
        self.assertTrue(p.stderr.startswith(spec + ":4:"), p.stderr)
        self.assertIn("wrkers", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_memory_key(self):
        base = """ptrun: 1
name: mem
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 1, memory: %s}]
steps: [{name: s, tasks: [{kernel: noop}]}]
"""
        self.run_ok("check", self.spec(base % "2GiB", "ok.yaml"))
        bad = self.spec(base % "1KiB", "bad.yaml")
        p = ptrun("check", bad)
        self.assertEqual(p.returncode, 2)
        self.assertTrue(p.stderr.startswith(bad + ":4:"), p.stderr)
        self.assertIn("memory", p.stderr)

    def test_disk_full_stops_with_status_3(self):
        spec = self.spec("""ptrun: 1
name: full
shm: {segments: [{name: x, type: int8, dims: [10]}]}
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 2}]
steps:
  - {name: a, tasks: [{kernel: noop, repeat: 5}]}
  - {name: b, tasks: [{kernel: noop, repeat: 5}]}
plugins: [{name: jsonl, options: {file: /dev/full}}]
""")
        p = ptrun("run", spec, "--out", self.out(), "-q")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("No space left", p.stderr)
        self.assertIn("stopping", p.stderr)
        # tearDown: no segment left behind

    def test_failed_start_leaves_no_run_folder(self):
        kernel = os.path.join(os.path.dirname(PTRUN), "kernels", "noop.so")
        spec = self.spec("""ptrun: 1
name: noplug
shm: {segments: [{name: x, type: int8, dims: [10]}]}
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: noop}]}]
plugins: [{path: %s}]
""" % kernel)
        out = self.out()
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("not a ptools plugin", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_bad_override(self):
        p = ptrun("check", os.path.join(CONFIGS, "pi.yaml"), "--set",
                  "workersets.cpu.wrkers=4")
        self.assertEqual(p.returncode, 2)
        self.assertIn("wrkers", p.stderr)
        p = ptrun("check", os.path.join(CONFIGS, "pi.yaml"), "--set",
                  "seed=7")
        self.assertEqual(p.returncode, 0)
        self.assertIn("seed 7", p.stdout)

    def test_usage(self):
        self.assertEqual(ptrun().returncode, 2)
        self.assertEqual(ptrun("frobnicate").returncode, 2)
        p = ptrun("--help")
        self.assertEqual(p.returncode, 0)
        self.assertIn("EXAMPLES", p.stdout)
        self.assertIn("ptrun", ptrun("--version").stdout)


class Interrupts(Base):
    def sleepy(self, n=6, ms=400):
        return self.spec("""
ptrun: 1
name: sleepy
shm: {segments: [{name: x, type: int8, dims: [10]}]}
kernels: {sleep: {path: sleep}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: sleep, args: {ms: %d}, repeat: %d}]}]
""" % (ms, n))

    def test_sigint_stops_and_flushes(self):
        out = self.out()
        proc = subprocess.Popen([PTRUN, "run", self.sleepy(), "--out", out,
                                 "-q"], stderr=subprocess.DEVNULL)
        path = os.path.join(out, "results.jsonl")  # some tasks done, some
        end = time.monotonic() + 60                # not yet started
        while not (os.path.exists(path) and os.path.getsize(path) > 0):
            self.assertLess(time.monotonic(), end, "no task ended")
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        self.assertEqual(proc.returncode, 130)
        rows = results(out)
        self.assertEqual(len(rows), 6)
        self.assertIn("cancelled", {r["status"] for r in rows})
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertTrue(json.load(f)["interrupted"])

    def test_sigkill_leaves_nothing_behind(self):
        out = self.out()
        proc = subprocess.Popen([PTRUN, "run", self.sleepy(n=4, ms=5000),
                                 "--out", out, "-q"])
        children = "/proc/%d/task/%d/children" % (proc.pid, proc.pid)
        end = time.monotonic() + 60
        workers = []
        manifest = os.path.join(out, "manifest.json")
        # both workers forked (at the start: the step has 4 tasks), and
        # the run begun (its manifest is written just after the fork)
        while len(workers) < 2 or not os.path.exists(manifest):
            self.assertLess(time.monotonic(), end, "no workers")
            with open(children) as f:
                workers = [int(p) for p in f.read().split()]
            time.sleep(0.005)
        self.assertEqual(len(workers), 2)
        proc.kill()
        proc.wait(timeout=10)

        def alive(pid):  # not gone, nor a zombie waiting for init
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return f.read().split(") ")[1][0] not in "ZX"
            except FileNotFoundError:
                return False
        end = time.monotonic() + 30  # the parent-death signal is on its way
        while any(alive(p) for p in workers) and time.monotonic() < end:
            time.sleep(0.005)
        self.assertEqual([p for p in workers if alive(p)], [])
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        self.assertFalse(m["finished"])  # the folder says it did not end
        # tearDown checks that no segment was left in /dev/shm

    def test_resume_after_sigkill_equals_a_whole_run(self):
        spec = self.sleepy(n=8, ms=300)
        out, whole = self.out("killed"), self.out("whole")
        proc = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"])
        path = os.path.join(out, "results.jsonl")  # killed mid-run: once
        end = time.monotonic() + 60                # a result is on disk
        while not (os.path.exists(path) and os.path.getsize(path) > 0):
            self.assertLess(time.monotonic(), end, "no task ended")
            time.sleep(0.005)
        proc.kill()
        proc.wait(timeout=10)
        done = len(results(out)) if os.path.exists(
            os.path.join(out, "results.jsonl")) else 0
        self.assertLess(done, 8)  # it was killed mid-run
        self.run_ok("run", spec, "--resume", out, "-q")
        self.run_ok("run", spec, "--out", whole, "-q")
        resumed = stable(results(out))
        self.assertEqual(len(resumed), 8)
        self.assertEqual(resumed, stable(results(whole)))

    def test_resume_runs_only_what_is_not_ok(self):
        out = self.out()
        spec = self.sleepy(n=6, ms=10)
        self.run_ok("run", spec, "--out", out, "-q")
        path = os.path.join(out, "results.jsonl")
        with open(path) as f:
            lines = f.readlines()
        with open(path, "w") as f:  # as if the run had stopped after 2
            f.writelines(lines[:2])
        self.run_ok("run", spec, "--resume", out, "-q")
        rows = results(out)
        self.assertEqual(len(rows), 6)
        self.assertEqual(sorted(r["task"] for r in rows), list(range(6)))
        # the same run folder from its own job.yaml: nothing left to run
        self.run_ok("run", "--resume", out, "-q")
        self.assertEqual(len(results(out)), 6)

    def test_resume_refuses_a_changed_spec(self):
        out = self.out()
        spec = self.sleepy(n=2, ms=1)
        self.run_ok("run", spec, "--out", out, "-q")
        with open(os.path.join(out, "manifest.json")) as f:
            before = f.read()
        p = ptrun("run", spec, "--resume", out, "--set", "seed=9")
        self.assertEqual(p.returncode, 2)
        self.assertIn("differs", p.stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(f.read(), before)  # untouched
        self.run_ok("run", spec, "--resume", out, "--set", "seed=9",
                    "--force", "-q")


class PluginValues(Base):
    """Plugin options are passed whole (nested maps and lists) and a plugin
    that refuses them is a spec error; args and results reach the files as
    the value codec writes them."""

    SPEC = """ptrun: 1
name: pv
kernels:
  echo: {path: echo}
workersets:
  - {name: cpu, workers: 1}
steps:
  - name: s
    tasks:
      - kernel: echo
        args: {m: {k: {q: v, e: {}}, z: [a, 1]}, r: 2.0, l: [1, 2]}
plugins:
  - path: @TK@/opts_plugin.so
    options: {OPTS}
  - {name: csv}
"""

    def test_nested_options_passed_whole(self):
        job = self.spec(self.SPEC.replace(
            "{OPTS}", "{a: {b: [1, 2], c: {d: x}}, l: [x, {y: 1.5}]}"))
        self.run_ok("check", job)
        self.run_ok("run", job, "--out", self.out(), "-q")
        with open(os.path.join(self.out(), "options.json")) as f:
            self.assertEqual(f.read(), '{"a":{"b":[1,2],"c":{"d":"x"}},'
                             '"l":["x",{"y":1.5}]}')
        with open(os.path.join(self.out(), "options.typed")) as f:
            size, tag = f.read().split()
        self.assertGreater(int(size), 0)
        self.assertEqual(tag, "0a")  # an encoded map
        with open(os.path.join(self.out(), "results.jsonl")) as f:
            line = f.read()
        args = '{"m":{"k":{"q":"v","e":{}},"z":["a",1]},"r":2.0,"l":[1,2]}'
        self.assertIn('"args":%s,' % args, line)
        self.assertIn('"result":%s,' % args, line)
        with open(os.path.join(self.out(), "results.csv")) as f:
            head, row = f.read().splitlines()
        cells = dict(zip(head.split(","), row.split(",", 12)[:12] +
                         [row.split(",", 12)[12]]))
        self.assertIn("arg.m.k.q", head.split(","))
        self.assertIn("result.m.k.e", head.split(","))
        self.assertTrue(row.endswith(',v,{},"[""a"",1]",2.0,"[1,2]",'
                                     'v,{},"[""a"",1]",2.0,"[1,2]"'), row)
        self.assertEqual(cells["status"], "ok")

    def test_refused_option_is_a_spec_error(self):
        job = self.spec(self.SPEC.replace("{OPTS}", "{bad: {deep: [1]}}"))
        want = "%s:14:14: plugin opts: option \"bad\": refused" % job
        p = ptrun("check", job)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(want, p.stderr)
        p = ptrun("run", job, "--out", self.out(), "-q")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(want, p.stderr)
        self.assertFalse(os.path.exists(self.out()))

    def test_check_creates_nothing(self):
        target = os.path.join(self.tmp.name, "abs.csv")
        job = self.spec(self.SPEC.replace("{OPTS}", "{}").replace(
            "{name: csv}", "{name: csv, options: {file: %s}}" % target))
        self.run_ok("check", job)
        self.assertFalse(os.path.exists(target))
        job = self.spec(self.SPEC.replace("{OPTS}", "{}").replace(
            "{name: csv}", "{name: csv, options: {nope: {x: 1}}}"))
        p = ptrun("check", job)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s:15:26: plugin csv: option " % job, p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
