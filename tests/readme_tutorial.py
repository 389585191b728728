#!/usr/bin/python3
"""readme_tutorial.py - README.md's tutorial ("ptrun in five minutes" up to
the next "## " heading) runs as written, in order.

How: in the tutorial, a fenced block after a line "<!-- file: NAME -->" is
written to NAME; every ```sh block is run, except one after a line
"<!-- no-run: why -->", or after "<!-- run-if: mpirun -->" when there is no
mpirun or build/ptrun-mpi. All of it becomes one bash script (files as
here-documents, in their place), run with `set -e` in a scratch folder
that looks like the top of the source tree after `make run`: `build` (the
build tree), `include` and `configs` are symlinks, so nothing is written in
the tree. Then what the commands left there is checked.

    SRC=<source dir> BUILD=<build dir> tests/readme_tutorial.py
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("SRC") or os.path.join(os.path.dirname(
    os.path.abspath(__file__)), "..")
BUILD = os.environ.get("BUILD") or os.path.join(SRC, "build")
BLOCK = re.compile(r"((?:<!--[^\n]*-->\n)?)```([a-z]*)[^\n]*\n(.*?)```", re.S)


def tutorial():
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    start = text.index("\n## ptrun in five minutes\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def script(text, mpi):
    """The tutorial as a bash script, and the names of the blocks skipped."""
    out, skipped = ["set -e"], []
    for m in BLOCK.finditer(text):
        mark, lang, body = m.group(1).strip(), m.group(2), m.group(3)
        f = re.match(r"<!-- file: ([\w.-]+) -->$", mark)
        if f:
            out.append("cat > %s <<'README_EOF'\n%sREADME_EOF" %
                       (f.group(1), body))
        elif lang == "sh":
            if mark.startswith("<!-- no-run") or (
                    mark == "<!-- run-if: mpirun -->" and not mpi):
                skipped.append(body.strip().splitlines()[0])
                continue
            if mark == "<!-- run-if: mpirun -->":
                # Open MPI's own allocations outlive MPI_Finalize: under
                # ASan (make asan) LeakSanitizer would blame them on ptrun
                # (the same as for e2e_mpi); a subshell keeps it local.
                body = "(\nexport ASAN_OPTIONS=detect_leaks=0\n%s)\n" % body
            out.append(body)
    return "\n".join(out) + "\n", skipped


def rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Tutorial(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ptrun-readme-")
        cls.dir = cls.tmp.name
        os.symlink(os.path.abspath(BUILD), os.path.join(cls.dir, "build"))
        for name in ("include", "configs"):
            os.symlink(os.path.join(os.path.abspath(SRC), name),
                       os.path.join(cls.dir, name))
        cls.mpi = bool(shutil.which("mpirun")) and os.path.exists(
            os.path.join(BUILD, "ptrun-mpi"))
        cls.text, cls.skipped = script(tutorial(), cls.mpi)
        with open(os.path.join(cls.dir, "tutorial.sh"), "w") as f:
            f.write(cls.text)
        # a fresh Debian machine's python3 (with python3-numpy) comes first
        env = dict(os.environ, PATH="/usr/bin:/bin:" + os.environ["PATH"],
                   OMPI_MCA_mpi_warn_on_fork="0")
        cls.p = subprocess.run(["bash", "tutorial.sh"], cwd=cls.dir, env=env,
                               capture_output=True, text=True, timeout=120)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, *names):
        return os.path.join(self.dir, *names)

    def test_runs_to_the_end(self):
        self.assertEqual(self.p.returncode, 0,
                         "the tutorial stopped:\n" + self.p.stdout +
                         self.p.stderr + "\nscript:\n" + self.text)

    def test_what_it_covers(self):
        self.assertIn("cat > square.c <<", self.text)
        self.assertIn("cat > square.yaml <<", self.text)
        self.assertIn("cat > steer.yaml <<", self.text)
        self.assertEqual(len([s for s in self.skipped if "srun" in s]), 1)
        self.assertNotIn("quickstart-X", self.text)  # no placeholder left

    def test_squares(self):
        got = sorted((r["args"]["x"], r["status"], r["result"]["y"])
                     for r in rows(self.path("runs", "squares",
                                             "results.jsonl")))
        self.assertEqual(got, [(x, "ok", x * x) for x in (1, 2, 3, 4, 5, 10)])
        self.assertIn('{"task":5,"args":{"x":10},"status":"ok","y":100}',
                      self.p.stdout)
        sq2 = rows(self.path("runs", "sq2", "results.jsonl"))
        self.assertEqual(len(sq2), 6)

    def test_runs_latest_and_numpy(self):
        self.assertIn("1000000.0\n", self.p.stdout)  # the sum of `ones`
        latest = os.readlink(self.path("runs", "latest"))
        self.assertRegex(latest, r"^squares-\d{8}-\d{6}(-\d+)?$")
        self.assertTrue(os.path.isfile(self.path("squares-trace.json")))
        self.assertTrue(os.path.isfile(self.path("squares.html")))
        self.assertTrue(os.path.isfile(self.path("runs", "squares",
                                                 "report.html")))

    def test_steered_run(self):
        """ctl worked on the running job: task 12 handed out first in its
        step, the sleeps not started cancelled, the squares all ok."""
        self.assertIn("ptrun exited 1\n", self.p.stdout)
        rs = {r["task"]: r for r in rows(self.path("runs", "sq3",
                                                   "results.jsonl"))}
        self.assertEqual(sorted(rs), list(range(16)))
        squares = [rs[t] for t in range(8, 16)]
        self.assertTrue(all(r["status"] == "ok" for r in squares))
        # handed out first: the first square of the worker that ran it (the
        # other worker may start its own a hair before)
        mine = [r for r in squares if r["worker"] == rs[12]["worker"]]
        self.assertEqual(min(mine, key=lambda r: r["start_ns"])["task"], 12)
        self.assertEqual(rs[12]["priority"], 100)
        self.assertEqual({rs[t]["priority"] for t in range(8, 16)
                          if t != 12}, {-1})
        cancelled = [t for t in range(8) if rs[t]["status"] == "cancelled"]
        self.assertGreaterEqual(len(cancelled), 4)
        self.assertTrue(all(rs[t]["status"] in ("ok", "cancelled")
                            for t in range(8)))
        with open(self.path("runs", "sq3", "manifest.json")) as f:
            self.assertTrue(json.load(f)["finished"])

    def test_mpi(self):
        if not self.mpi:
            self.skipTest("no mpirun or ptrun-mpi")
        got = rows(self.path("runs", "pi-mpi", "results.jsonl"))
        self.assertEqual(len(got), 16)
        self.assertEqual({r["rank"] for r in got} <= {0, 1, 2}, True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
