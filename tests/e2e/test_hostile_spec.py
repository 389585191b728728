"""End-to-end tests of ptrun on hostile numbers and sizes in job specs:
integers outside 64 bits, an int arg given a real, args too large for a
request, and an alias bomb. Each is refused with a message that says
where and why, creating nothing: no run folder, no segment, no process.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import os
import tempfile
import time
import unittest

from e2e_util import TEST_KERNELS, ptrun, results, shm_entries


# What a request to a worker carries: a 64 MiB frame less a 40-byte head.
ARGS_MAX = (64 << 20) - 40


def processes_naming(text):
    """Pids of live processes whose command line holds `text` (forked
    workers keep ptrun's command line, and so the spec's path)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass  # gone meanwhile
    return found


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-hostile-")
        self.shm_before = shm_entries()

    def tearDown(self):
        left = {e for e in shm_entries() - self.shm_before
                if e.startswith("ptools_hostile")}
        self.assertEqual(left, set(), "segments left in /dev/shm")
        self.assertEqual(processes_naming(self.tmp.name), [],
                         "processes left behind")
        self.tmp.cleanup()

    def spec(self, text, name="job.yaml"):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def refused(self, *args):
        """ptrun ARGS... in the temp dir, which must exit 2 and create
        nothing there (no runs/ folder, no --out folder)."""
        out = os.path.join(self.tmp.name, "out")
        before = set(os.listdir(self.tmp.name))
        p = ptrun(*args, *(["--out", out] if args[0] == "run" else []),
                  cwd=self.tmp.name)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(set(os.listdir(self.tmp.name)), before)
        return p.stderr


class Numbers(Base):
    def test_int_outside_64_bits_is_refused_at_its_line_col(self):
        spec = self.spec("""ptrun: 1
name: hostile-int
kernels: {pi: {path: pi}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: pi, args: {samples: 99999999999999999999999}}]}]
""")
        for cmd in ("check", "run"):
            with self.subTest(cmd=cmd):
                err = self.refused(cmd, spec)
                self.assertEqual(
                    err, spec + ":5:56: integer 99999999999999999999999 is "
                    "outside the 64-bit range; write 1e23 if a real is "
                    "meant\n")

    def test_set_outside_64_bits_names_the_argument(self):
        spec = self.spec("""ptrun: 1
name: hostile-set
kernels: {pi: {path: pi}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: pi, args: {samples: 10}}]}]
""")
        arg = "steps.0.tasks.0.args.samples=-0x8000000000000001"
        err = self.refused("run", spec, "--set", arg)
        self.assertEqual(err, "--set %s: integer -0x8000000000000001 is "
                         "outside the 64-bit range (-0x8000000000000000 to "
                         "0x7fffffffffffffff)\n" % arg)

    def test_int_arg_given_a_real_fails_the_task(self):
        """pi declares `samples` an int: 1e23 (outside int64) and 2.5 are
        refused at check time, each at its line:col; 1e3 is a whole number
        and passes. A kernel that declares nothing (ABI 1) asks
        pt_arg_int("n") at run time: 1e23 fails its task, naming the arg,
        the type wanted and the value given; 1e3 is the int 1000."""
        spec = self.spec("""ptrun: 1
name: hostile-real
kernels: {pi: {path: pi}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: pi, sweep: {samples: [1e23, 1e3, 2.5]}}]}]
""")
        err = self.refused("check", spec)
        self.assertEqual(err, "%s:5:58: arg 'samples' of kernel 'pi' must be "
                         "an int, got a number 1e23\n"
                         "%s:5:69: arg 'samples' of kernel 'pi' must be an "
                         "int, got a number 2.5\n" % (spec, spec))
        spec = self.spec("""ptrun: 1
name: hostile-real
kernels: {legacy: {path: %s/legacy.so}}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: legacy, sweep: {n: [1e23, 1e3, 2.5]}}]}]
""" % TEST_KERNELS)
        out = os.path.join(self.tmp.name, "run")
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = sorted(results(out), key=lambda r: r["task"])
        self.assertEqual([r["status"] for r in rows],
                         ["failed", "ok", "failed"])
        self.assertEqual(rows[0]["error"],
                         "arg `n` must be an int, got the real 1e+23")
        self.assertEqual(rows[1]["result"]["n"], 1000)
        self.assertEqual(rows[2]["error"],
                         "arg `n` must be an int, got the real 2.5")


class Sizes(Base):
    def big_spec(self, size):
        """A spec whose one task has a `size`-byte scalar arg, and a named
        segment (visible in /dev/shm, had it been made)."""
        path = os.path.join(self.tmp.name, "big.yaml")
        with open(path, "w") as f:
            f.write("""ptrun: 1
name: hostile-big
shm:
  segments: [{name: seg, type: uint8, dims: [16], named: true}]
kernels: {echo: {path: echo}}
workersets: [{name: w, workers: 2}]
steps:
  - name: s
    tasks:
      - kernel: echo
        args: {blob: """)
            chunk = "x" * (1 << 20)
            for _ in range(size >> 20):
                f.write(chunk)
            f.write("x" * (size & ((1 << 20) - 1)) + "}\n")
        return path

    def test_arg_too_large_for_a_request(self):
        """A 100 MB scalar: refused before anything exists, naming the
        limit and the way round it."""
        spec = self.big_spec(100 * 1000 * 1000)
        want = (spec + ":10:9: the args of this task take 100000024 bytes "
                "encoded, more than the %d a request to a worker carries "
                "(a 64 MiB frame): put bulk data in a shared segment (shm: "
                "segments: with init: {npy: FILE}) and pass its name\n"
                % ARGS_MAX)
        for cmd in ("check", "run"):
            with self.subTest(cmd=cmd):
                self.assertEqual(self.refused(cmd, spec), want)

    def test_arg_that_fills_a_request_runs(self):
        """{blob: <n bytes>} encodes to n + 24 bytes: the largest that
        fits reaches the worker and comes back whole."""
        n = ARGS_MAX - 24
        spec = self.big_spec(n)
        out = os.path.join(self.tmp.name, "run")
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertEqual(p.returncode, 0, p.stderr[:1000])
        row = results(out)[0]
        self.assertEqual(row["status"], "ok")
        self.assertEqual(len(row["result"]["blob"]), n)
        self.assertEqual(len(row["args"]["blob"]), n)


class Aliases(Base):
    def test_alias_bomb_is_refused_fast(self):
        """The issue's bomb: a 1.4 MB file, a 1 MiB anchored scalar and
        100 000 aliases of it (100 GB expanded), refused at the 17th alias,
        the first past 16 MiB, in milliseconds (5 s allows for a loaded
        machine; it took 13 s and 3 GiB before)."""
        text = ("ptrun: 1\nname: hostile-bomb\n"
                "kernels: {echo: {path: echo}}\n"
                "workersets: [{name: w, workers: 1}]\n"
                "steps:\n  - name: s\n    tasks:\n      - kernel: echo\n"
                "        args:\n          big: &a " + "x" * (1 << 20) +
                "\n          l: [" + "*a, " * 100000 + "1]\n")
        spec = self.spec(text)
        self.assertGreater(os.path.getsize(spec), 1400000)
        for cmd in ("check", "run"):
            with self.subTest(cmd=cmd):
                t0 = time.monotonic()
                err = self.refused(cmd, spec)
                self.assertLess(time.monotonic() - t0, 5.0)
                self.assertEqual(
                    err, spec + ":11:79: alias '*a' would copy 1048576 more "
                    "bytes, past the 16 MiB of text that aliases and merge "
                    "keys may add to a spec\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
