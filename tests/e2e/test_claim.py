"""End-to-end tests of the run folder's claim: one run at a time per folder.

Runs racing for one folder, a resume of a folder whose run is still going,
a resume after SIGKILL, and default folder names taken in the same second.
Runs are held at a known point by gate.so (its tasks wait for a file the
test creates), never by guessed sleeps.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import uuid

from e2e_util import PTRUN, TEST_KERNELS, ptrun, results, shm_entries, wait_for

GATE = os.path.join(TEST_KERNELS, "gate.so")
TASKS = 6
BUSY = re.compile(r"another ptrun(?: \(pid (\d+)\))? is running in this "
                  r"folder")


def start(*args, cwd=None):
    return subprocess.Popen([PTRUN, *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def snapshot(run_dir):
    """Every entry of a run folder: its inode, and a regular file's bytes."""
    snap = {}
    for name in sorted(os.listdir(run_dir)):
        path = os.path.join(run_dir, name)
        st = os.lstat(path)
        data = None
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as f:
                data = f.read()
        snap[name] = (st.st_ino, st.st_mode, data)
    return snap


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-claim-")
        self.prefix = "claim%s" % uuid.uuid4().hex[:12]
        self.procs = []

    def tearDown(self):
        for p in self.procs:  # a failed test must not leave runs behind
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=30)
        left = {e for e in shm_entries()
                if e.startswith("ptools_%s_" % self.prefix)}
        self.assertEqual(left, set(), "segments left in /dev/shm")
        self.tmp.cleanup()

    def path(self, *names):
        return os.path.join(self.tmp.name, *names)

    def spec(self, name="claimjob"):
        """A job of TASKS gated tasks: each creates `mark`, then waits for
        the file `gate`."""
        path = self.path(name + ".yaml")
        with open(path, "w") as f:
            f.write("""ptrun: 1
name: %s
shm: {prefix: %s, segments: [{name: x, type: int8, dims: [10]}]}
kernels: {gate: {path: %s}}
workersets: [{name: w, workers: 2}]
steps:
  - name: s
    tasks: [{kernel: gate, args: {mark: "%s", open: "%s"}, repeat: %d}]
""" % (name, self.prefix, GATE, self.path("mark"), self.path("gate"),
                TASKS))
        return path

    def launch(self, *args, cwd=None):
        p = start(*args, cwd=cwd)
        self.procs.append(p)
        return p

    def open_gate(self):
        with open(self.path("gate"), "w"):
            pass

    def start_held(self, spec, out):
        """A run into `out` whose tasks have started and wait at the gate,
        with its control socket up (ptrun makes it once the first tasks
        are out, so it may come just after the first one starts)."""
        p = self.launch("run", spec, "--out", out, "-q")
        wait_for(lambda: (os.path.exists(self.path("mark")) and
                          os.path.exists(os.path.join(out, "ctl.sock"))) or
                 p.poll() is not None, "the run's first task and ctl.sock")
        if p.poll() is not None:
            self.fail("the run ended: %s" % p.communicate()[1])
        return p

    def finish(self, p):
        """Open the gate; the run ends ok. Its stderr."""
        self.open_gate()
        _, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        return err

    def assert_complete(self, run_dir):
        rows = results(run_dir)
        self.assertEqual(sorted(r["task"] for r in rows), list(range(TASKS)))
        self.assertEqual({r["status"] for r in rows}, {"ok"})
        with open(os.path.join(run_dir, "manifest.json")) as f:
            m = json.load(f)
        self.assertTrue(m["finished"])
        self.assertEqual(m["counts"]["ok"], TASKS)


class SameFolder(Base):
    def test_concurrent_runs_into_one_out_one_wins(self):
        spec, out = self.spec(), self.path("run")
        procs = [self.launch("run", spec, "--out", out, "-q")
                 for _ in range(8)]
        wait_for(lambda: sum(p.poll() is not None for p in procs) >= 7,
                 "7 of the 8 runs to end")
        alive = [p for p in procs if p.poll() is None]
        self.assertEqual(len(alive), 1, [p.returncode for p in procs])
        winner = alive[0]
        for p in procs:
            if p is winner:
                continue
            _, err = p.communicate()
            self.assertEqual(p.returncode, 2, err)
            self.assertTrue(err.startswith("ptrun: %s: " % out), err)
            busy = BUSY.search(err)
            if busy:  # the pid shows once the winner has written it
                self.assertIn(busy.group(1), (None, str(winner.pid)), err)
            else:
                self.assertIn("exists and is not empty", err)
        self.finish(winner)
        self.assert_complete(out)
        with open(os.path.join(out, ".lock")) as f:
            self.assertEqual(f.read(), "%d\n" % winner.pid)
        self.assertEqual(sorted(n for n in os.listdir(out)
                                if n.startswith(".")), [".lock"])

    def test_runs_into_a_live_runs_folder_touch_nothing(self):
        spec, out = self.spec(), self.path("run")
        held = self.start_held(spec, out)
        before = snapshot(out)
        self.assertIn("ctl.sock", before)
        intruders = [self.launch("run", spec, "--out", out, "-q")
                     for _ in range(6)]
        intruders.append(self.launch("run", spec, "--out", out + "/", "-q"))
        for p in intruders:
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 2, err)
            self.assertEqual(err, "ptrun: %s: another ptrun (pid %d) is "
                             "running in this folder (use another --out)\n"
                             % (out, held.pid))
        self.assertEqual(snapshot(out), before)
        status = ptrun("ctl", out, "status", "--json")  # its socket still works
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertTrue(json.loads(status.stdout)["ok"])
        self.finish(held)
        self.assert_complete(out)

    def test_a_folder_that_is_not_empty_is_refused_untouched(self):
        out = self.path("mine")
        os.mkdir(out)
        with open(os.path.join(out, "notes.txt"), "w") as f:
            f.write("keep me\n")
        before = snapshot(out)
        p = ptrun("run", self.spec(), "--out", out, "-q")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stderr, "ptrun: %s: exists and is not empty (use "
                         "another --out, or --resume %s)\n" % (out, out))
        self.assertEqual(snapshot(out), before)  # not even a .lock

    def test_a_failed_start_leaves_an_empty_folder_as_it_was(self):
        out = self.path("empty")
        os.mkdir(out)
        spec = self.path("noplug.yaml")
        with open(spec, "w") as f:
            f.write("""ptrun: 1
name: noplug
kernels: {gate: {path: %s}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: gate}]}]
plugins: [{path: %s}]
""" % (GATE, GATE))
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("not a ptools plugin", p.stderr)
        self.assertEqual(os.listdir(out), [])


class Resume(Base):
    def test_resume_of_a_live_run_is_refused_and_changes_nothing(self):
        spec, out = self.spec(), self.path("run")
        held = self.start_held(spec, out)
        before = snapshot(out)
        for args in (("run", spec, "--resume", out), ("run", "--resume", out),
                     ("run", spec, "--resume", out, "--force")):
            p = ptrun(*args)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertEqual(p.stderr, "ptrun: --resume %s: another ptrun "
                             "(pid %d) is still running in this folder; "
                             "resume it once that run has ended\n"
                             % (out, held.pid))
            self.assertEqual(snapshot(out), before)
        self.finish(held)
        self.assert_complete(out)

    def test_resume_after_sigkill_takes_the_folder(self):
        spec, out = self.spec(), self.path("run")
        held = self.start_held(spec, out)
        held.send_signal(signal.SIGKILL)
        held.communicate(timeout=30)
        self.assertEqual(held.returncode, -signal.SIGKILL)
        # A stray process of the dead run still listening on its ctl.sock
        # must not keep the resumed run from its own control socket.
        os.unlink(os.path.join(out, "ctl.sock"))
        stray = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(stray.close)
        sock = os.path.join(out, "ctl.sock")
        stray.bind(sock)
        stray.listen(8)
        stray_ino = os.stat(sock).st_ino
        os.unlink(self.path("mark"))
        resumed = self.launch("run", spec, "--resume", out, "-q")
        wait_for(lambda: os.path.exists(self.path("mark")) or
                 resumed.poll() is not None, "the resumed run's first task")
        self.assertIsNone(resumed.poll())
        with open(os.path.join(out, ".lock")) as f:
            self.assertEqual(f.read(), "%d\n" % resumed.pid)
        # The resumed run puts its socket in the stray's place 1 ms after
        # its first task starts; a client that came sooner would reach the
        # stray, which never answers.
        wait_for(lambda: os.stat(sock).st_ino != stray_ino or
                 resumed.poll() is not None, "the resumed run's ctl.sock")
        status = ptrun("ctl", out, "status", "--json", timeout=30)
        self.assertEqual(status.returncode, 0, status.stderr)
        self.assertTrue(json.loads(status.stdout)["ok"])
        err = self.finish(resumed)
        self.assertNotIn("ctl", err)
        self.assert_complete(out)
        self.assertFalse(os.path.exists(os.path.join(out, "ctl.sock")))


class DefaultNames(Base):
    def runs(self):
        return sorted(n for n in os.listdir(self.path("runs"))
                      if n != "latest")

    def quick(self):
        """A short job with a segment (not named: runs of one job at the
        same time each get their own, without a name to compete for), filled
        and summed: each run must see its own fill only."""
        spec = self.path("quick.yaml")
        with open(spec, "w") as f:
            f.write("""ptrun: 1
name: quick
shm:
  segments: [{name: ones, type: int64, dims: [1000], init: {fill: 1}}]
kernels: {sum: {path: sum}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: sum, args: {segment: ones},
                           repeat: 3}]}]
""")
        return spec

    def test_concurrent_runs_get_distinct_folders(self):
        spec = self.quick()
        procs = [self.launch("run", spec, "-q", cwd=self.tmp.name)
                 for _ in range(8)]
        for p in procs:
            _, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
        names = self.runs()
        self.assertEqual(len(names), 8, names)
        for name in names:
            self.assertRegex(name, r"^quick-\d{8}-\d{6}(-\d+)?$")
            rows = results(self.path("runs", name))
            self.assertEqual(sorted(r["task"] for r in rows), [0, 1, 2])
            self.assertEqual([r["result"]["sum"] for r in rows],
                             [1000] * 3)
        latest = self.path("runs", "latest")
        self.assertTrue(os.path.islink(latest))
        self.assertIn(os.readlink(latest), names)

    def test_a_taken_name_gets_a_suffix(self):
        os.mkdir(self.path("runs"))
        now = int(time.time())
        taken = ["claimjob-%s" % time.strftime("%Y%m%d-%H%M%S",
                                               time.gmtime(now + s))
                 for s in range(-1, 120)]  # the run starts within 2 min
        for name in taken:
            os.mkdir(self.path("runs", name))
        self.open_gate()
        p = ptrun("run", self.spec(), "-q", cwd=self.tmp.name)
        self.assertEqual(p.returncode, 0, p.stderr)
        made = sorted(set(self.runs()) - set(taken))
        self.assertEqual(len(made), 1, made)
        self.assertIn(made[0][:-2], taken)
        self.assertTrue(made[0].endswith("-2"), made)
        self.assertEqual(os.readlink(self.path("runs", "latest")), made[0])
        for name in taken:  # the runs already there are left alone
            self.assertEqual(os.listdir(self.path("runs", name)), [])
        self.assert_complete(self.path("runs", made[0]))

    def test_a_failed_start_leaves_no_folder_and_no_link(self):
        self.assertEqual(ptrun("run", self.quick(), "-q",
                               cwd=self.tmp.name).returncode, 0)
        first = self.runs()
        self.assertEqual(len(first), 1)
        spec = self.path("noplug.yaml")
        with open(spec, "w") as f:
            f.write("""ptrun: 1
name: noplug
kernels: {gate: {path: %s}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: gate}]}]
plugins: [{path: %s}]
""" % (GATE, GATE))
        p = ptrun("run", spec, "-q", cwd=self.tmp.name)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(self.runs(), first)
        self.assertEqual(os.readlink(self.path("runs", "latest")), first[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
