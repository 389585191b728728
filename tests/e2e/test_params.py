"""End-to-end tests of kernels' declared params (kernel ABI 2, SPEC §2):
`ptrun check` and `ptrun run` refuse a task whose args miss a required
param, name an unknown one or have the wrong type (in args, in a sweep
list or generator, in zip, from --set) with FILE:LINE:COL at the arg, exit 2, nothing created;
a kernel built for ABI 1 loads and runs unchecked, and a wrong type then
fails its task at run time; `ptrun kernels` prints each kernel's params.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import os
import tempfile
import unittest

from e2e_util import TEST_KERNELS, KERNELS, ptrun, sorted_results as results

TYPED = os.path.join(TEST_KERNELS, "typed.so")


HEAD = """ptrun: 1
name: params
kernels:
  pi: {path: pi}
  fill: {path: fill}
  typed: {path: %s}
  bare: {path: %s, name: bare}
  labelled: {path: %s, name: labelled}
workersets: [{name: w, workers: 1}]
""" % (TYPED, TYPED, TYPED)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-params-")

    def tearDown(self):
        self.tmp.cleanup()

    def spec(self, steps):
        """A spec of HEAD then `steps` (its line 10 is the first of it)."""
        path = os.path.join(self.tmp.name, "job.yaml")
        with open(path, "w") as f:
            f.write(HEAD + steps)
        return path

    def refused(self, spec, *sets):
        """check, then run: each exits 2 with the same message and
        creates nothing (no runs/ folder, no --out folder)."""
        before = set(os.listdir(self.tmp.name))
        p = ptrun("check", spec, *sets, cwd=self.tmp.name)
        self.assertEqual((p.returncode, p.stdout), (2, ""), p.stderr)
        out = os.path.join(self.tmp.name, "out")
        r = ptrun("run", spec, "--out", out, *sets, cwd=self.tmp.name)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, p.stderr)
        self.assertEqual(set(os.listdir(self.tmp.name)), before)
        return p.stderr.replace(spec, "job.yaml")


class Refused(Base):
    def test_missing_required_points_at_the_task(self):
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: fill, args: {value: 1}}
      - {kernel: typed, args: {r: 1}}
""")
        self.assertEqual(self.refused(spec),
                         "job.yaml:13:9: missing arg 'segment' (str) that "
                         "kernel 'fill' requires\n"
                         "job.yaml:14:9: missing arg 'i' (int) that kernel "
                         "'typed' requires\n")

    def test_unknown_arg_with_did_you_mean(self):
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: pi, args: {samplez: 10}}
      - {kernel: pi, args: {scale: 0.5}}
      - {kernel: bare, args: {x: 1}}
      - {kernel: pi, sweep: {sample: [1, 2]}}
""")
        self.assertEqual(self.refused(spec),
                         "job.yaml:13:29: unknown arg 'samplez' for kernel "
                         "'pi' (did you mean 'samples'?)\n"
                         "job.yaml:14:29: unknown arg 'scale' for kernel 'pi' "
                         "(it takes: samples)\n"
                         "job.yaml:15:31: unknown arg 'x': kernel 'bare' "
                         "takes no args\n"
                         "job.yaml:16:30: unknown arg 'sample' for kernel "
                         "'pi' (did you mean 'samples'?)\n")

    def test_wrong_types_in_args(self):
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: pi, args: {samples: 50.7}}
      - {kernel: pi, args: {samples: "100"}}
      - {kernel: pi, args: {samples: fifty}}
      - {kernel: typed, args: {i: 1, r: x, b: 1, s: 5, is: [1, 2.5], rs: [1, a]}}
      - {kernel: typed, args: {i: ~, is: 3}}
""")
        self.assertEqual(self.refused(spec),
                         "job.yaml:13:38: arg 'samples' of kernel 'pi' must "
                         "be an int, got a number 50.7\n"
                         "job.yaml:14:38: arg 'samples' of kernel 'pi' must "
                         "be an int, got a string '100'\n"
                         "job.yaml:15:38: arg 'samples' of kernel 'pi' must "
                         "be an int, got a string 'fifty'\n"
                         "job.yaml:16:41: arg 'r' of kernel 'typed' must be "
                         "a number, got a string 'x'\n"
                         "job.yaml:16:47: arg 'b' of kernel 'typed' must be "
                         "true or false, got an integer 1\n"
                         "job.yaml:16:53: arg 's' of kernel 'typed' must be "
                         "a string, got an integer 5\n"
                         "job.yaml:16:60: arg 'is' of kernel 'typed' must be "
                         "a list of ints, got a list with a number 2.5 "
                         "(item 1)\n"
                         "job.yaml:16:74: arg 'rs' of kernel 'typed' must be "
                         "a list of numbers, got a list with a string 'a' "
                         "(item 1)\n"
                         "job.yaml:17:35: arg 'i' of kernel 'typed' is "
                         "required: null gives it no value\n"
                         "job.yaml:17:42: arg 'is' of kernel 'typed' must be "
                         "a list of ints, got an integer 3\n")

    def test_wrong_type_in_a_sweep_list(self):
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: pi, sweep: {samples: [10, x, 1e6]}}
      - {kernel: typed, args: {i: 1}, sweep: {b: [true, no]}}
""")
        self.assertEqual(self.refused(spec),
                         "job.yaml:13:44: arg 'samples' of kernel 'pi' must "
                         "be an int, got a string 'x'\n"
                         "job.yaml:14:57: arg 'b' of kernel 'typed' must be "
                         "true or false, got a string 'no'\n")

    def test_generators_and_zip_are_checked(self):
        """The values a generator makes (the first wrong one, at the
        generator) and zip's lists, as a sweep's; zip gives required
        args too."""
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: pi, sweep: {samples: {linspace: [0, 1, 11]}}}
      - {kernel: pi, sweep: {samples: {range: [10, 100, 10]}}}
      - {kernel: typed, args: {i: 1}, zip: {s: [a, b], b: [true, 3]}}
      - {kernel: pi, zip: {samplez: [1]}}
      - {kernel: typed, zip: {i: {range: [0, 2, 1]}, r: [1, 2]}}
""")
        self.assertEqual(self.refused(spec),
                         "job.yaml:13:39: arg 'samples' of kernel 'pi' must "
                         "be an int, got a number 0.1\n"
                         "job.yaml:15:66: arg 'b' of kernel 'typed' must be "
                         "true or false, got an integer 3\n"
                         "job.yaml:16:28: unknown arg 'samplez' for kernel "
                         "'pi' (did you mean 'samples'?)\n")

    def test_repeat_gives_rep_an_int(self):
        """Every kernel takes repeat's `rep`; one that declares it another
        type than int is refused at `repeat`."""
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: pi, repeat: 2}
      - {kernel: labelled, repeat: 2}
""")
        self.assertEqual(self.refused(spec),
                         "job.yaml:14:36: repeat gives each task the int arg "
                         "'rep', which kernel 'labelled' declares a string\n")

    def test_set_values_are_checked(self):
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: pi, args: {samples: 10}}
""")
        bad = "steps.s.tasks.0.args.samples=fifty"
        unknown = "steps.s.tasks.0.args.maxiterr=10"
        self.assertEqual(self.refused(spec, "--set", bad, "--set", unknown),
                         "--set %s: arg 'samples' of kernel 'pi' must be an "
                         "int, got a string 'fifty'\n"
                         "--set %s: unknown arg 'maxiterr' for kernel 'pi' "
                         "(it takes: samples)\n" % (bad, unknown))

    def test_a_bad_default_is_the_kernels_fault(self):
        spec = os.path.join(self.tmp.name, "job.yaml")
        with open(spec, "w") as f:
            f.write("""ptrun: 1
name: params
kernels:
  bad: {path: %s, name: bad_default}
workersets: [{name: w, workers: 1}]
steps: [{name: s, tasks: [{kernel: bad}]}]
""" % TYPED)
        col = len("  bad: {path: %s, name: " % TYPED) + 1  # at bad_default
        self.assertEqual(self.refused(spec),
                         "job.yaml:4:%d: kernel library '%s': kernel "
                         "'bad_default': param 'n': its default 'many' is "
                         "not an int\n" % (col, TYPED))


class Accepted(Base):
    def test_good_args_run(self):
        """Every type given right; 1e6 is a whole number (an int); repeat's
        `rep` is taken by every kernel; a real takes an int."""
        spec = self.spec("""steps:
  - name: s
    tasks:
      - {kernel: typed, args: {i: 1e6, r: 2, b: true, s: hi, is: [],
                               rs: [1, 2.5], a: {x: [1]}}}
      - {kernel: pi, args: {samples: 1000}, repeat: 2}
""")
        out = os.path.join(self.tmp.name, "run")
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = results(out)
        self.assertEqual([r["status"] for r in rows], ["ok"] * 3)
        self.assertEqual(rows[0]["result"],
                         {"i": 1000000.0, "r": 2, "b": True, "s": "hi",
                          "is": [], "rs": [1, 2.5], "a": {"x": [1]}})
        self.assertEqual(rows[2]["args"], {"samples": 1000, "rep": 1})

    def test_abi1_kernel_runs_unchecked(self):
        """A kernel built for ABI 1 declares nothing: any args pass the
        check; asking pt_arg_int for a string fails the task at run time,
        naming the arg, the type wanted and the value given."""
        path = os.path.join(TEST_KERNELS, "legacy.so")
        spec = os.path.join(self.tmp.name, "job.yaml")
        with open(spec, "w") as f:
            f.write("""ptrun: 1
name: legacy
kernels: {legacy: {path: %s}}
workersets: [{name: w, workers: 1}]
steps:
  - name: s
    tasks:
      - {kernel: legacy, args: {n: 3, anything: else}}
      - {kernel: legacy}
      - {kernel: legacy, args: {n: "100"}}
""" % path)
        out = os.path.join(self.tmp.name, "run")
        p = ptrun("run", spec, "--out", out, "-q")
        self.assertEqual(p.returncode, 1, p.stderr)
        rows = results(out)
        self.assertEqual([(r["status"], r["result"], r["error"])
                          for r in rows],
                         [("ok", {"n": 3}, None), ("ok", {"n": 7}, None),
                          ("failed", {"n": 7},
                           'arg `n` must be an int, got the string "100"')])


class KernelsCommand(Base):
    def test_bare_lists_the_shipped_kernels(self):
        p = ptrun("kernels")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "shipped kernels (%s):" % KERNELS)
        self.assertEqual(lines[-1], "ptrun kernels NAME shows a kernel's "
                         "params.")
        for line in (
                "  echo             abi 2  returns its args as its results",
                "  noop             abi 2  does nothing: measures the cost "
                "of a task",
                "  pi               abi 2  Monte Carlo pi from `samples` "
                "points",
                "  sleep            abi 2  sleeps `ms` milliseconds"):
            self.assertIn(line, lines)
        names = [ln.split()[0] for ln in lines[1:-1]]
        self.assertEqual(names, sorted(names))

    def test_named_kernels_show_their_params(self):
        env = dict(os.environ)
        env.pop("PTRUN_KERNEL_PATH", None)
        p = ptrun("kernels", "fill", "sleep", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(
            p.stdout,
            "%s/fill.so\n"
            "  fill             abi 2  stores `value` in a segment's range "
            "(or this worker's part)\n"
            "    segment  str    required  the segment's name\n"
            "    value    real   required  the number to store (it must fit "
            "the type)\n"
            "    offset   int    0         first element, in flat row-major "
            "order\n"
            "    count    int    optional  how many elements (default: to the "
            "end)\n"
            "    part     str    optional  `worker`: this worker's contiguous "
            "share (not with offset/count)\n"
            "%s/sleep.so\n"
            "  sleep            abi 2  sleeps `ms` milliseconds\n"
            "    ms  int    0  milliseconds to sleep (>= 0)\n"
            % (KERNELS, KERNELS))

    def test_paths_rest_abi1_and_bad_params(self):
        legacy = os.path.join(TEST_KERNELS, "legacy.so")
        p = ptrun("kernels", "echo", legacy, TYPED)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(
            p.stdout,
            "%s/echo.so\n"
            "  echo             abi 2  returns its args as its results\n"
            "    (takes any args)\n"
            "%s\n"
            "  legacy           abi 1  an ABI 1 kernel: result n = arg n "
            "(default 7)\n"
            "    (declares no params: its args are not checked)\n"
            "%s\n"
            "  typed            abi 2  one param of each type; returns its "
            "args\n"
            "    i   int    required  an int, required\n"
            "    r   real   0.5       a number\n"
            "    b   bool   false     a flag\n"
            "    s   str    optional  a string\n"
            "    is  ints   [1, 2]    ints\n"
            "    rs  reals  []        numbers\n"
            "    a   any    optional  anything\n"
            "  bad_default      abi 2  declares an int whose default is no "
            "int\n"
            "  bare             abi 2  takes no args\n"
            "    (takes no args)\n"
            "  labelled         abi 2  declares rep a string\n"
            "    rep  str    optional  a label\n" % (KERNELS, legacy, TYPED))
        self.assertEqual(p.stderr,
                         "ptrun: kernel library '%s': kernel 'bad_default': "
                         "param 'n': its default 'many' is not an int\n"
                         % TYPED)

    def test_unknown_name(self):
        env = dict(os.environ)
        env.pop("PTRUN_KERNEL_PATH", None)
        p = ptrun("kernels", "pie", env=env)
        self.assertEqual((p.returncode, p.stdout), (2, ""))
        self.assertEqual(p.stderr,
                         "ptrun: kernel library 'pie' not found: no pie.so "
                         "in $PTRUN_KERNEL_PATH (unset) or %s\n" % KERNELS)


if __name__ == "__main__":
    unittest.main()
