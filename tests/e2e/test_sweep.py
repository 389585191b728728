"""End-to-end tests of the sweep grammar (SPEC §4): generator axes
(range, linspace, logspace, glob, lines), zip axes crossed with sweep,
lists and generators given by --set, each bad form refused at its
line:col (exit 2, nothing created), and job.yaml keeping the generator.
Tasks run the shipped `echo` kernel, whose result is its args.

Run by ctest with PTRUN (the binary), SRC (the source tree) and
TEST_KERNELS (build/tests/kernels) in the environment.
"""
import json
import os
import tempfile
import unittest

from e2e_util import SRC, ptrun


HEAD = """ptrun: 1
name: sweep
kernels: {echo: {path: echo}}
workersets: [{name: cpu, workers: 2}]
steps:
  - name: s
    tasks:
"""


class Sweep(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-sweep-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def spec(self, tasks):
        return self.write("job.yaml", HEAD + tasks)

    def run_args(self, tasks, *more):
        """Run the spec; the args of its tasks in task order."""
        self.runs = getattr(self, "runs", 0) + 1
        out = os.path.join(self.dir, "out%d" % self.runs)
        p = ptrun("run", self.spec(tasks), "--out", out, "-q", *more)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "results.jsonl")) as f:
            lines = [json.loads(line) for line in f]
        lines.sort(key=lambda r: r["task"])
        self.assertEqual([r["task"] for r in lines], list(range(len(lines))))
        for r in lines:
            self.assertEqual(r["status"], "ok")
            self.assertEqual(r["result"], r["args"])
        return [r["args"] for r in lines]

    def refused(self, tasks, *more):
        """The spec must exit 2 creating nothing: its stderr lines, with
        the spec's path cut."""
        before = set(os.listdir(self.dir))
        path = self.spec(tasks)
        p = ptrun("run", path, "--out", os.path.join(self.dir, "out"),
                  *more, cwd=self.dir)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(set(os.listdir(self.dir)), before | {"job.yaml"})
        return p.stderr.replace(path, "").splitlines()

    def test_range_ints(self):
        self.assertEqual(
            self.run_args("      - {kernel: echo, sweep: "
                          "{n: {range: [0, 10, 3]}}}\n"),
            [{"n": 0}, {"n": 3}, {"n": 6}, {"n": 9}])

    def test_range_reals_negative_step(self):
        self.assertEqual(
            self.run_args("      - {kernel: echo, sweep: "
                          "{x: {range: [1, 0, -0.25]}}}\n"),
            [{"x": 1.0}, {"x": 0.75}, {"x": 0.5}, {"x": 0.25}])
        self.assertEqual(
            self.run_args("      - {kernel: echo, sweep: "
                          "{k: {range: [5, -1, -2]}}}\n"),
            [{"k": 5}, {"k": 3}, {"k": 1}])

    def test_linspace_logspace(self):
        self.assertEqual(
            self.run_args("      - {kernel: echo, sweep: "
                          "{a: {linspace: [0, 1, 5]}}}\n"
                          "      - {kernel: echo, sweep: "
                          "{g: {logspace: [-1, 2, 4]}}}\n"
                          "      - {kernel: echo, sweep: "
                          "{one: {linspace: [3, 9, 1]}}}\n"),
            [{"a": 0.0}, {"a": 0.25}, {"a": 0.5}, {"a": 0.75}, {"a": 1.0},
             {"g": 0.1}, {"g": 1.0}, {"g": 10.0}, {"g": 100.0},
             {"one": 3.0}])

    def test_glob_and_lines(self):
        for name in ["data/b.csv", "data/a.csv", "data/c.txt",
                     "data/sub/d.csv"]:
            self.write(name, "")
        self.write("names.txt", "alpha\n\nbeta\r\n  \ngamma")
        self.assertEqual(
            self.run_args("      - {kernel: echo, sweep: "
                          "{f: {glob: 'data/*.csv'}}}\n"
                          "      - {kernel: echo, sweep: "
                          "{n: {lines: names.txt}}}\n"),
            [{"f": "data/a.csv"}, {"f": "data/b.csv"},
             {"n": "alpha"}, {"n": "beta"}, {"n": "  "}, {"n": "gamma"}])

    def test_zip_crossed_with_sweep(self):
        self.assertEqual(
            self.run_args("      - kernel: echo\n"
                          "        args: {k: 1}\n"
                          "        sweep: {c: [x, y]}\n"
                          "        zip: {a: [1, 2, 3], "
                          "b: {range: [10, 40, 10]}}\n"),
            [{"k": 1, "a": 1, "b": 10, "c": "x"},
             {"k": 1, "a": 1, "b": 10, "c": "y"},
             {"k": 1, "a": 2, "b": 20, "c": "x"},
             {"k": 1, "a": 2, "b": 20, "c": "y"},
             {"k": 1, "a": 3, "b": 30, "c": "x"},
             {"k": 1, "a": 3, "b": 30, "c": "y"}])

    def test_sweep_order_first_axis_slowest(self):
        self.assertEqual(
            self.run_args("      - {kernel: echo, repeat: 2, sweep: "
                          "{p: [1, 2], q: [a, b]}}\n"),
            [{"p": 1, "q": "a", "rep": 0}, {"p": 1, "q": "a", "rep": 1},
             {"p": 1, "q": "b", "rep": 0}, {"p": 1, "q": "b", "rep": 1},
             {"p": 2, "q": "a", "rep": 0}, {"p": 2, "q": "a", "rep": 1},
             {"p": 2, "q": "b", "rep": 0}, {"p": 2, "q": "b", "rep": 1}])

    def test_zip_length_mismatch(self):
        self.assertEqual(
            self.refused("      - kernel: echo\n"
                         "        zip: {a: [1, 2, 3], b: [1, 2]}\n"),
            [":9:32: zip: 'b' has 2 values but 'a' has 3 (zip pairs "
             "values by index: every axis needs the same length)"])

    def test_bad_generators(self):
        forms = "{range: [start, stop, step]}, {linspace: [a, b, n]}, " \
                "{logspace: [a, b, n]}, {glob: PATTERN} or {lines: FILE}"
        self.write("empty.txt", "\n\r\n")
        self.assertEqual(self.refused(
            "      - kernel: echo\n"
            "        sweep:\n"
            "          a: {range: [0, 10, 0]}\n"
            "          b: {range: [0, 10, -1]}\n"
            "          c: {range: [0, 1]}\n"
            "          d: {rang: [0, 1, 1]}\n"
            "          e: {linspace: [0, 1, 0]}\n"
            "          f: {logspace: [0, 1, 2.5]}\n"
            "          g: {glob: 'nope/*'}\n"
            "          h: {lines: none.txt}\n"
            "          i: {lines: empty.txt}\n"
            "          j: {}\n"
            "          k: {range: [1, 2, 1], linspace: [1, 2, 3]}\n"
            "          l: 5\n"
            "          m: {range: [x, 2, 1]}\n"
            "          n: {range: [0, 1000000000, 1]}\n"
            "          o: []\n"
            "          p: {range: [0, 1, 1], dir: data}\n"), [
            ":10:30: range: the step must not be 0",
            ":11:22: range gives no value: with a negative step, stop "
            "must be below start",
            ":12:22: range takes three numbers [start, stop, step], got 2",
            ":13:15: unknown generator 'rang' (did you mean 'range'?)",
            ":14:32: linspace n must be at least 1, got 0",
            ":15:32: expected an integer, got a number 2.5",
            ":16:21: glob 'nope/*' matches no file (in %s)" % self.dir,
            ":17:22: lines: cannot read 'none.txt' (%s/none.txt): No such "
            "file or directory" % self.dir,
            ":18:22: lines: 'empty.txt' has no non-empty line",
            ":19:14: a generator has one key, this has 0: " + forms,
            ":20:33: a generator has one key, this has 2: " + forms,
            ":21:14: expected a list of values or a generator (%s), got "
            "an integer 5" % forms,
            ":22:23: expected a finite number, got a string 'x'",
            ":23:22: this axis has 1000000000 values, more than 100000000 "
            "(RN_MAX_TASKS)",
            ":24:14: sweep 'o' needs at least one value",
            ":25:38: dir goes with glob or lines only"])

    def test_arg_in_two_places(self):
        self.assertEqual(self.refused(
            "      - kernel: echo\n"
            "        args: {x: 1}\n"
            "        zip: {x: [1, 2], y: [3, 4]}\n"
            "        sweep: {y: [5]}\n"), [
            ":10:15: 'x' is both in args and in zip",
            ":11:17: 'y' is both in zip and in sweep"])

    def test_set_lists_and_generators(self):
        tasks = "      - {kernel: echo, sweep: {x: [1, 2]}}\n"
        self.assertEqual(
            self.run_args(tasks, "--set", "steps.0.tasks.0.sweep.x=[7, 8, 9]"),
            [{"x": 7}, {"x": 8}, {"x": 9}])
        self.assertEqual(
            self.run_args(tasks, "--set",
                          "steps.s.tasks.0.sweep.x={range: [0, 10, 5]}",
                          "--set", "steps.s.tasks.0.zip={z: [a, b]}"),
            [{"z": "a", "x": 0}, {"z": "a", "x": 5},
             {"z": "b", "x": 0}, {"z": "b", "x": 5}])

    def test_set_errors_name_the_argument(self):
        tasks = "      - {kernel: echo, sweep: {x: [1, 2]}}\n"
        self.assertEqual(
            self.refused(tasks, "--set", "steps.0.tasks.0.sweep.x=[1, 2"),
            ["--set steps.0.tasks.0.sweep.x=[1, 2: bad YAML value at "
             "column 1: did not find expected ',' or ']' (while parsing "
             "a flow sequence at 1:1)"])
        self.assertEqual(
            self.refused(tasks, "--set",
                         "steps.0.tasks.0.sweep.x={range: [0, 1, 0]}"),
            ["--set steps.0.tasks.0.sweep.x={range: [0, 1, 0]}: range: "
             "the step must not be 0"])
        self.assertEqual(
            self.refused(tasks, "--set", "steps.0.tasks.0.sweep=4"),
            ["--set steps.0.tasks.0.sweep=4: steps.0.tasks.0.sweep is a "
             "mapping, not a scalar: give it as {key: value, ...} (YAML "
             "flow syntax)"])

    def test_check_shows_expansion(self):
        p = ptrun("check", self.spec(
            "      - {kernel: echo, sweep: {x: {range: [0, 3, 1]}}}\n"))
        self.assertEqual(p.returncode, 0, p.stderr)
        args = [line.split(" args ")[1] for line in p.stdout.splitlines()
                if line.startswith("  task ")]
        self.assertEqual(args, ['{"x":0}', '{"x":1}', '{"x":2}'])

    def test_job_yaml_keeps_generator(self):
        self.write("data/a.csv", "")
        self.write("data/b.csv", "")
        tasks = ("      - kernel: echo\n"
                 "        sweep: {x: {range: [0, 1000, 1]}, "
                 "f: {glob: 'data/*.csv'}}\n")
        self.assertEqual(len(self.run_args(tasks)), 2000)
        with open(os.path.join(self.dir, "out1", "job.yaml")) as f:
            text = f.read()
        self.assertIn("range:\n        - 0\n        - 1000\n        - 1\n",
                      text)
        self.assertIn("glob: data/*.csv\n        dir: %s\n" % self.dir,
                      text)
        self.assertNotIn("- 999\n", text)
        # Resumed from its folder (job.yaml elsewhere), the glob finds the
        # same files and nothing is left to run.
        p = ptrun("run", "--resume", os.path.join(self.dir, "out1"), "-q",
                  cwd="/")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_shipped_config(self):
        out = os.path.join(self.dir, "out")
        p = ptrun("run", os.path.join(SRC, "configs", "sweep-grammar.yaml"),
                  "--out", out, "-q")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "results.jsonl")) as f:
            self.assertEqual(sum(1 for _ in f), 17)


if __name__ == "__main__":
    unittest.main()
