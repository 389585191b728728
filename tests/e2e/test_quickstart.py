"""End-to-end test of what `make run` shows: scripts/quickstart_answers.py
runs configs/quickstart.yaml and prints its answers (pi to 4 decimals, the
sum) before ptrun's summary. Run by ctest with PTRUN and SRC in the
environment.
"""
import os
import subprocess
import tempfile
import unittest

from e2e_util import PTRUN, SRC

SCRIPT = os.path.join(SRC, "scripts", "quickstart_answers.py")
JOB = os.path.join(SRC, "configs", "quickstart.yaml")
# seed 42: every task's result is the same whatever the workers
ANSWERS = ("pi  = 3.1423  (8 tasks, 16000000 samples)\n"
           "sum = 1000000  (1000000 elements)\n")


class Quickstart(unittest.TestCase):
    def test_answers_before_the_summary(self):
        with tempfile.TemporaryDirectory(prefix="ptrun-quick-") as tmp:
            # one stream for both: the order is what a terminal shows
            p = subprocess.run([SCRIPT, PTRUN, JOB], cwd=tmp, text=True,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout)
            self.assertTrue(p.stdout.startswith(ANSWERS), p.stdout)
            rest = p.stdout[len(ANSWERS):].splitlines()
            self.assertRegex(rest[0], r"^ptrun: quickstart: 11 ok in ")
            latest = os.readlink(os.path.join(tmp, "runs", "latest"))
            self.assertEqual(rest[-1], "  results in runs/" + latest)
            only = subprocess.run([SCRIPT, "--answers",
                                   os.path.join(tmp, "runs", "latest")],
                                  capture_output=True, text=True)
            self.assertEqual((only.returncode, only.stdout), (0, ANSWERS))

    def test_a_failing_ptrun_is_passed_on(self):
        with tempfile.TemporaryDirectory(prefix="ptrun-quick-") as tmp:
            bad = os.path.join(tmp, "bad.yaml")
            with open(bad, "w") as f:
                f.write("ptrun: 1\nname: bad\nnope: 1\n")
            p = subprocess.run([SCRIPT, PTRUN, bad], cwd=tmp,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2)
            self.assertEqual(p.stdout, "")
            self.assertIn("bad.yaml:3:1:", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
