"""End-to-end: ptrun never loads a kernel or plugin .so in its own process.

A library whose constructor crashes, exits or hangs fails `ptrun check` and
`ptrun run` with exit 2 and a FILE:LINE:COL message, leaving no run folder,
no process and no segment; one whose constructor starts a thread is a
normal kernel library. Run by ctest with PTRUN, SRC and TEST_KERNELS in
the environment, like test_ptrun.py.
"""
import ctypes
import json
import os
import sys
import tempfile
import time
import unittest

from e2e_util import TEST_KERNELS, KERNELS, ptrun, children

HANG_LIMIT_MS = 500

CRASH = "loading it crashed (signal 11, SIGSEGV) in a constructor"
EXIT = "exited with status 0 while loading (does a constructor call exit?)"
HANG = ("did not finish loading within %d ms (the limit is "
        "$PTRUN_LOAD_TIMEOUT_MS, in ms)" % HANG_LIMIT_MS)

# Orphans of the ptrun under test become this process's children, so that
# "no process left" can be checked (prctl PR_SET_CHILD_SUBREAPER).
LIBC = ctypes.CDLL(None, use_errno=True)
if LIBC.prctl(36, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno())


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def segments(name):
    return [e for e in os.listdir("/dev/shm")
            if e.startswith("ptools_%s_" % name)]


class HostileLoad(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-hostile-")

    def tearDown(self):
        deadline = time.monotonic() + 10  # SIGKILL takes effect promptly
        while children(zombies=False) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(children(zombies=False), [], "processes left behind")
        reap()
        self.tmp.cleanup()

    def spec(self, name, kernel_so, symbol="never", plugin_so=None):
        """A job of one segment and a sweep of four tasks; returns its
        path and the line:col of the kernel's (or plugin's) path."""
        text = ("ptrun: 1\nname: %s\n"
                "shm: {segments: [{name: x, type: int8, dims: [10]}]}\n"
                "kernels:\n  k: {path: %s, name: %s}\n"
                "workersets: [{name: w, workers: 2}]\n"
                "steps: [{name: s, tasks: [{kernel: k, sweep: "
                "{x: [1, 2, 3, 4]}}]}]\n" % (name, kernel_so, symbol))
        if plugin_so:
            text += "plugins:\n  - {name: jsonl}\n  - {path: %s}\n" % plugin_so
        path = os.path.join(self.tmp.name, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        lines = text.splitlines()
        so = plugin_so or kernel_so
        line = max(i for i, l in enumerate(lines) if so in l)
        return path, "%d:%d" % (line + 1, lines[line].index(so) + 1)

    def refused(self, name, so, reason, plugin=False):
        """check and run both exit 2 with the message; nothing is left."""
        kernel = os.path.join(KERNELS, "noop.so") if plugin else so
        path, at = self.spec(name, kernel, "noop" if plugin else "never",
                             so if plugin else None)
        want = "%s:%s: %s '%s': %s\n" % (
            path, at, "plugin" if plugin else "kernel library", so, reason)
        env = dict(os.environ, PTRUN_LOAD_TIMEOUT_MS=str(HANG_LIMIT_MS))
        out = os.path.join(self.tmp.name, "out")
        for args in (("check", path), ("run", path, "--out", out, "-q"),
                     ("run", path, "-q")):
            with self.subTest(args=args[0:2] + args[3:]):
                p = ptrun(*args, cwd=self.tmp.name, env=env)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertEqual(p.stderr, want)
                self.assertEqual(p.stdout, "")
                self.assertEqual(sorted(os.listdir(self.tmp.name)),
                                 [name + ".yaml"], "a run folder was made")
                self.assertEqual(segments(name), [])

    def test_constructor_crash(self):
        self.refused("crash", os.path.join(TEST_KERNELS, "ctor_crash.so"),
                     CRASH)

    def test_constructor_exit(self):
        self.refused("exit", os.path.join(TEST_KERNELS, "ctor_exit.so"), EXIT)

    def test_constructor_hang(self):
        # the constructor forks too: tearDown sees that child killed
        self.refused("hang", os.path.join(TEST_KERNELS, "ctor_hang.so"), HANG)

    def test_plugin_constructor_crash(self):
        self.refused("plugcrash", os.path.join(TEST_KERNELS, "ctor_crash.so"),
                     CRASH, plugin=True)

    def test_plugin_that_starts_a_thread(self):
        so = os.path.join(TEST_KERNELS, "ctor_thread.so")
        path, at = self.spec("plugthread", os.path.join(KERNELS, "noop.so"),
                             "noop", so)
        p = ptrun("run", path, "--out", os.path.join(self.tmp.name, "out"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s:%s: %s: loading this plugin started 1 thread; "
                      "ptrun runs plugins in its own process, which must "
                      "stay single-threaded to fork workers\n" % (path, at, so),
                      p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "out")))

    def test_constructor_thread_is_a_normal_kernel(self):
        so = os.path.join(TEST_KERNELS, "ctor_thread.so")
        path, _ = self.spec("thread", so, "threaded_square")
        p = ptrun("check", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("job thread: 1 step, 4 tasks"))
        self.assertNotIn("helper thread", p.stdout)  # its chatter: stderr
        self.assertIn("ctor_thread: a helper thread runs\n", p.stderr)
        out = os.path.join(self.tmp.name, "out")
        p = ptrun("run", path, "--out", out, "-q")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "results.jsonl")) as f:
            rows = [json.loads(line) for line in f]
        self.assertEqual(sorted((r["args"]["x"], r["status"], r["result"])
                                for r in rows),
                         [(x, "ok", {"square": x * x}) for x in (1, 2, 3, 4)])
        self.assertEqual(segments("thread"), [])

    def test_kernels_command(self):
        crash = os.path.join(TEST_KERNELS, "ctor_crash.so")
        p = ptrun("kernels", crash)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, "ptrun: kernel library '%s': %s\n"
                         % (crash, CRASH))
        pi, noop = (os.path.join(KERNELS, k + ".so") for k in ("pi", "noop"))
        p = ptrun("kernels", pi, noop)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout,
                         "%s\n  pi               abi 2  Monte Carlo pi from "
                         "`samples` points\n"
                         "    samples  int    1000000  points to draw (>= 1)\n"
                         "%s\n  noop             abi 2  does nothing: "
                         "measures the cost of a task\n"
                         "    (takes any args)\n" % (pi, noop))
        p = ptrun("kernels", crash, pi)  # one bad library spoils no other
        self.assertEqual(p.returncode, 3)
        self.assertTrue(p.stdout.startswith(pi + "\n  pi "), p.stdout)


if __name__ == "__main__":
    unittest.main()
