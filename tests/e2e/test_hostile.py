"""End-to-end tests of containment: kernels and callers that try to hang,
escape or confuse the runner. Each checks the statuses, the exit code and
that nothing is left behind: no process, no /dev/shm entry, no ctl.sock.

Run by ctest with PTRUN, SRC and TEST_KERNELS in the environment. Every
ptrun gets a tag in its environment (inherited by workers and whatever
their kernels start), so processes left over are found by that tag.
"""
import glob
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

from e2e_util import PTRUN, TEST_KERNELS, wait_for, sorted_results as results

HOSTILE = os.path.join(TEST_KERNELS, "hostile.so")
FAULTS = os.path.join(TEST_KERNELS, "faults.so")
TAG_VAR = "PTOOLS_E2E_HOSTILE_TAG"
HANG_LIMIT = 120  # seconds: a run still going then is a hang


def tagged(tag):
    """Pids of live (non-zombie) processes whose environment has tag."""
    want = ("%s=%s" % (TAG_VAR, tag)).encode()
    found = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            with open(d + "/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(d + "/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if want in env and state not in ("Z", "X"):
            found.append(int(d[6:]))
    return found


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-hostile-")
        self.tag = uuid.uuid4().hex
        self.prefixes = set()

    def tearDown(self):
        # every ptrun of the test has exited, and it reaps what it kills
        # before it exits: nothing tagged may be alive now
        self.assertEqual(tagged(self.tag), [], "processes left behind")
        shm = [e for e in os.listdir("/dev/shm")
               if any(e.startswith("ptools_%s_" % p) for p in self.prefixes)]
        self.assertEqual(shm, [], "segments left in /dev/shm")
        for sock in glob.glob(os.path.join(self.tmp.name, "**", "ctl.sock"),
                              recursive=True):
            self.fail("socket left behind: " + sock)
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def spec(self, name, text):
        """Write a job spec; its name is also its segment prefix."""
        self.prefixes.add(name)
        p = self.path(name + ".yaml")
        with open(p, "w") as f:
            f.write(text.replace("@HOSTILE@", HOSTILE)
                    .replace("@FAULTS@", FAULTS).replace("@TMP@",
                                                         self.tmp.name))
        return p

    def env(self):
        env = dict(os.environ)
        env[TAG_VAR] = self.tag
        return env

    def run_job(self, spec, out, *extra, **kw):
        """Run ptrun to its end; (CompletedProcess, seconds)."""
        t0 = time.monotonic()
        kw.setdefault("capture_output", True)
        p = subprocess.run([PTRUN, "run", spec, "--out", out, "-q", *extra],
                           text=True, env=self.env(), timeout=HANG_LIMIT,
                           **kw)
        return p, time.monotonic() - t0


class BrokenSets(Base):
    """A worker set that breaks never hangs the run."""

    def test_tasks_slower_than_timeout_end_as_timeout(self):
        # the repro: it polled forever after its five lines
        spec = self.spec("hang-repro", """ptrun: 1
name: hang-repro
kernels: {sleep: {path: sleep}}
workersets: [{name: w, workers: 1, timeout: 300ms, retries: 1}]
steps: [{name: s, tasks: [{kernel: sleep, workerset: w, args: {ms: 60000},
                           repeat: 5}]}]
""")
        out = self.path("run")
        p, secs = self.run_job(spec, out)
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual([r["task"] for r in rows], [0, 1, 2, 3, 4])
        for r in rows:
            self.assertEqual(r["status"], "timeout")
            self.assertEqual(r["attempts"], 2)
            self.assertEqual(r["error"], "timed out after 300 ms")
        # 10 attempts of 300 ms on one worker, plus backoff: not a minute
        self.assertLess(secs, 30)

    def test_hang_posted_to_idle_workers_times_out(self):
        # FF sets of 2 to 4 post each task to all their workers, and
        # nothing wakes ptrun when one claims it: a task that never answers,
        # claimed after ptrun's last look, was waited for for ever (6 of 6
        # runs hung before the fix)
        steps = "".join("  - {name: s%d, tasks: [{kernel: echo, repeat: 3},"
                        " {kernel: hang}]}\n" % i for i in range(6))
        spec = self.spec("posted-hang", """ptrun: 1
name: posted-hang
kernels:
  echo: {path: echo}
  hang: {path: @FAULTS@}
workersets: [{name: w, workers: 3, timeout: 300ms}]
steps:
  - {name: warm, tasks: [{kernel: echo, repeat: 20}]}
""" + steps)
        out = self.path("run")
        p, secs = self.run_job(spec, out)
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual(len(rows), 20 + 6 * 4)
        hung = [r for r in rows if r["kernel"] == "hang"]
        self.assertEqual([r["status"] for r in hung], ["timeout"] * 6)
        # six timeouts of 300 ms (each found within an eighth more)
        self.assertLess(secs, 60)

    def test_crashing_kernel_breaks_set_and_run_ends(self):
        spec = self.spec("segv5", """ptrun: 1
name: segv5
kernels: {segv: {path: @FAULTS@}}
workersets: [{name: w, workers: 1, retries: 1}]
steps: [{name: s, tasks: [{kernel: segv, workerset: w, repeat: 5}]}]
""")
        out = self.path("run")
        p, _ = self.run_job(spec, out)
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual(len(rows), 5)
        self.assertEqual({r["status"] for r in rows}, {"crashed"})
        broken = [r for r in rows if r["error"].startswith(
            "worker set broken: 5 workers died before any task succeeded "
            "(last: worker killed by signal 11")]
        self.assertGreaterEqual(len(broken), 1)
        for r in rows:
            self.assertTrue(r["error"] in (
                "worker killed by signal 11 (Segmentation fault)",
                broken[0]["error"]), r["error"])

    def test_every_way_of_dying_breaks_the_set_and_the_run_ends(self):
        # (kernel, what its worker's death says)
        ways = [("abort", "worker killed by signal 6"),
                ("exit3", "worker exited with status 3"),
                ("init_crash", "worker killed by signal 11"),
                ("close_fds", "worker"),
                ("garbage_fds", "worker")]
        for kernel, death in ways:
            with self.subTest(kernel=kernel):
                name = "die-" + kernel.replace("_", "-")
                spec = self.spec(name, """ptrun: 1
name: %s
kernels: {k: {path: @FAULTS@, name: %s}, noop: {path: noop}}
workersets: [{name: w, workers: 2, retries: 2}, {name: v, workers: 1}]
steps:
  - {name: a, tasks: [{kernel: k, workerset: w, repeat: 6}]}
  - {name: b, tasks: [{kernel: noop, workerset: v, repeat: 2}]}
""" % (name, kernel))
                out = self.path(name)
                p, _ = self.run_job(spec, out)
                self.assertEqual(p.returncode, 1, p.stderr)
                rows = results(out)
                self.assertEqual(len(rows), 8)
                self.assertEqual([r["status"] for r in rows],
                                 ["crashed"] * 6 + ["ok"] * 2)
                for r in rows[:6]:
                    self.assertTrue(r["error"].startswith(death) or
                                    r["error"].startswith(
                                        "worker set broken: 5 workers died"),
                                    r["error"])

    def test_later_step_on_broken_set_ends_crashed(self):
        spec = self.spec("segv-later", """ptrun: 1
name: segv-later
kernels: {segv: {path: @FAULTS@}, noop: {path: noop}}
workersets: [{name: w, workers: 1, retries: 0}, {name: fine, workers: 1}]
steps:
  - {name: a, tasks: [{kernel: segv, workerset: w, repeat: 5}]}
  - {name: b, tasks: [{kernel: noop, workerset: w, repeat: 2},
                      {kernel: noop, workerset: fine, repeat: 2}]}
""")
        out = self.path("run")
        p, _ = self.run_job(spec, out)
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual(len(rows), 9)
        self.assertEqual([r["status"] for r in rows[:5]], ["crashed"] * 5)
        self.assertEqual([r["status"] for r in rows[5:]],
                         ["crashed", "crashed", "ok", "ok"])
        for r in rows[5:7]:
            self.assertTrue(r["error"].startswith(
                "worker set broken: 5 workers died"), r["error"])
            self.assertEqual(r["attempts"], 1)


class Descendants(Base):
    """Nothing a kernel starts outlives its worker, or the run."""

    def run_detach(self, mode):
        spec = self.spec("detach-" + mode, """ptrun: 1
name: detach-%s
kernels: {detach: {path: @HOSTILE@}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: detach, args: {mode: %s}, repeat: 4}]}]
""" % (mode, mode))
        out = self.path("run")
        p, _ = self.run_job(spec, out)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = results(out)
        self.assertEqual([r["status"] for r in rows], ["ok"] * 4)
        for r in rows:  # each lived in its own session: gone now
            self.assertFalse(os.path.exists("/proc/%d/cmdline"
                                            % r["result"]["pid"])
                             and r["result"]["pid"] in tagged(self.tag))

    def test_setsid_child_is_killed_at_the_end(self):
        self.run_detach("setsid")

    def test_daemon_is_killed_at_the_end(self):
        self.run_detach("daemon")

    def test_daemon_of_a_crashed_worker_dies_before_its_successor(self):
        # the first task starts a daemon and crashes its worker; the second,
        # on the replacement worker, looks for the daemon: gone already
        pidfile = self.path("daemon.pid")
        spec = self.spec("detach-crash", """ptrun: 1
name: detach-crash
kernels: {detach: {path: @HOSTILE@}, alive: {path: @HOSTILE@}}
workersets: [{name: w, workers: 1, retries: 0}]
steps: [{name: s, tasks: [
  {kernel: detach, priority: 1,
   args: {mode: daemon, crash: true, pidfile: @TMP@/daemon.pid}},
  {kernel: alive, args: {pidfile: @TMP@/daemon.pid}}]}]
""")
        out = self.path("run")
        p, _ = self.run_job(spec, out)
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual(rows[0]["status"], "crashed")
        self.assertIn("signal 11", rows[0]["error"])
        self.assertEqual(rows[1]["status"], "ok", rows[1]["error"])
        self.assertEqual(rows[1]["result"], {"alive": False})
        with open(pidfile) as f:
            self.assertGreater(int(f.read()), 0)


class Stdin(Base):
    def test_workers_read_dev_null_not_our_stdin(self):
        spec = self.spec("stdin", """ptrun: 1
name: stdin
kernels: {read_stdin: {path: @HOSTILE@}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: read_stdin, repeat: 3}]}]
""")
        out = self.path("run")
        # our stdin: a pipe with "hi" in it that stays open for the whole run
        proc = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env())
        proc.stdin.write(b"hi\n")
        proc.stdin.flush()
        try:
            _, err = proc.communicate(timeout=HANG_LIMIT)
        finally:
            proc.kill()
        self.assertEqual(proc.returncode, 0, err)
        for r in results(out):
            self.assertEqual(r["result"], {"bytes": 0, "text": ""})


class Shutdown(Base):
    def test_hung_finis_cost_one_grace_not_one_each(self):
        spec = self.spec("fini-hang", """ptrun: 1
name: fini-hang
kernels: {fini_hang: {path: @HOSTILE@}}
workersets: [{name: w, workers: 8, mode: rr, grace: 1s}]
steps: [{name: s, tasks: [{kernel: fini_hang, each_worker: true}]}]
""")
        out = self.path("run")
        p, secs = self.run_job(spec, out)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = results(out)
        self.assertEqual([r["status"] for r in rows], ["ok"] * 8)
        self.assertEqual(sorted(r["worker"] for r in rows), list(range(8)))
        # one shared grace of 1 s; one after another would be 8 s
        self.assertGreaterEqual(secs, 1.0)
        self.assertLess(secs, 6.0)
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(json.load(f)["exit_status"], 0)

    def test_grace_zero_is_accepted_and_bad_grace_refused(self):
        bad = self.spec("grace-bad", """ptrun: 1
name: grace-bad
kernels: {noop: {path: noop}}
workersets: [{name: w, workers: 1, grace: soon}]
steps: [{name: s, tasks: [{kernel: noop}]}]
""")
        p, _ = self.run_job(bad, self.path("bad"))
        self.assertEqual(p.returncode, 2)
        self.assertRegex(p.stderr, r"grace-bad\.yaml:4:43: bad duration "
                         r"'soon'")
        self.assertFalse(os.path.exists(self.path("bad")))
        zero = self.spec("grace-zero", """ptrun: 1
name: grace-zero
kernels: {fini_hang: {path: @HOSTILE@}}
workersets: [{name: w, workers: 2, grace: 0s}]
steps: [{name: s, tasks: [{kernel: fini_hang, repeat: 2}]}]
""")
        p, secs = self.run_job(zero, self.path("zero"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertLess(secs, 5.0)  # the default grace is 5 s


class Signals(Base):
    def start_marked(self, name):
        """A run whose two tasks have started (their marks exist)."""
        spec = self.spec(name, """ptrun: 1
name: %s
shm:
  segments: [{name: keep, type: int32, dims: [16], named: true}]
kernels: {mark: {path: @HOSTILE@}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: mark, args: {path: "@TMP@/mark"},
                           repeat: 2}]}]
""" % name)
        out = self.path("run")
        proc = subprocess.Popen([PTRUN, "run", spec, "--out", out],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, env=self.env())
        wait_for(lambda: os.path.exists(self.path("mark"))
                 or proc.poll() is not None, "a task to start")
        self.assertIsNone(proc.poll(), "ptrun ended early")
        return proc, out

    def test_sighup_is_like_sigterm(self):
        proc, out = self.start_marked("hup")
        self.assertTrue(any(e.startswith("ptools_hup_")
                            for e in os.listdir("/dev/shm")))
        try:
            proc.send_signal(signal.SIGHUP)  # running tasks may end: they
            for line in proc.stderr:         # sleep; once it says so,
                if "interrupted: finishing running tasks" in line:
                    break
            proc.send_signal(signal.SIGHUP)  # the second one kills them
            _, err = proc.communicate(timeout=HANG_LIMIT)
        finally:
            proc.kill()
        self.assertEqual(proc.returncode, 130, err)
        with open(os.path.join(out, "manifest.json")) as f:
            m = json.load(f)
        self.assertTrue(m["interrupted"])
        self.assertEqual(m["exit_status"], 130)
        self.assertEqual(m["counts"]["ok"], 0)
        self.assertFalse(os.path.exists(os.path.join(out, "ctl.sock")))


class ClosedStreams(Base):
    SPEC = """ptrun: 1
name: %s
kernels: {pi: {path: pi}}
workersets: [{name: w, workers: 2}]
steps: [{name: s, tasks: [{kernel: pi, args: {samples: 1000}, repeat: 6}]}]
"""

    def check_ok_run(self, out):
        rows = results(out)
        self.assertEqual([r["status"] for r in rows], ["ok"] * 6)
        self.assertEqual([r["task"] for r in rows], list(range(6)))

    def test_closed_stdout_and_stderr(self):
        spec = self.spec("closed", self.SPEC % "closed")
        out = self.path("run")
        p = subprocess.run([PTRUN, "run", spec, "--out", out],
                           env=self.env(), timeout=HANG_LIMIT,
                           stdin=subprocess.DEVNULL,
                           preexec_fn=lambda: (os.close(1), os.close(2)))
        self.assertEqual(p.returncode, 0)
        self.check_ok_run(out)
        with open(os.path.join(out, "output.log")) as f:
            self.assertEqual(f.read(), "")

    def test_stderr_reader_gone_keeps_exit_status(self):
        # as `ptrun run ... 2>&1 | head -1`: the summary meets a closed pipe
        spec = self.spec("gone", self.SPEC % "gone")
        out = self.path("run")
        r, w = os.pipe()
        os.close(r)
        try:
            p = subprocess.run([PTRUN, "run", spec, "--out", out],
                               env=self.env(), timeout=HANG_LIMIT,
                               stdin=subprocess.DEVNULL, stdout=w, stderr=w)
        finally:
            os.close(w)
        self.assertEqual(p.returncode, 0)
        self.check_ok_run(out)
        with open(os.path.join(out, "manifest.json")) as f:
            self.assertEqual(json.load(f)["exit_status"], 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
