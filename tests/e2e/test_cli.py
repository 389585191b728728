"""End-to-end tests of what ptrun says to people: `help` and `COMMAND
--help` for every command, unknown commands and options named with a "did
you mean", the job spec reference (`help spec`, the same source as the man
page ptrun.yaml(5)), `ctl status` as tables on a live run, and messages
that name the alternatives. Run by ctest with PTRUN, SRC and TEST_KERNELS
in the environment.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from e2e_util import PTRUN, SRC, ptrun


# The first line of each command's help: its usage.
FIRST_LINES = {
    "run": "usage: ptrun run JOB.yaml [--out DIR] [--set PATH=VALUE]...",
    "check": "usage: ptrun check JOB.yaml [--set PATH=VALUE]...",
    "kernels": "usage: ptrun kernels [NAME|LIB.so]...",
    "clean": "usage: ptrun clean [--prefix P]",
    "report": "usage: ptrun report DIR [--out FILE] [-q]",
    "ctl": "usage: ptrun ctl DIR status [--json]",
    "help": "usage: ptrun help [COMMAND | spec]",
}

TWO_SETS = """
ptrun: 1
name: two
kernels: {sleep: {path: sleep}}
workersets: [{name: cpu, workers: 2}, {name: io, workers: 1}]
steps:
  - name: sample
    tasks: [{kernel: sleep, args: {ms: 1}}]
  - name: long
    tasks:
      - {kernel: sleep, args: {ms: 60000}, repeat: 3}
      - {kernel: sleep, workerset: io, args: {ms: 60000}}
"""


def schema_keys():
    """Every key of every mapping of the spec, from runner/spec/spec_schema.c."""
    with open(os.path.join(SRC, "runner/spec/spec_schema.c")) as f:
        text = f.read()
    keys = set()
    for table in re.findall(r"rn_skey \w+\[\] = \{(.*?)\{0\}", text, re.S):
        keys.update(re.findall(r'\{"(\w+)"', table))
    return keys


class Help(unittest.TestCase):
    def test_overview(self):
        for args in (["help"], ["--help"], ["-h"]):
            p = ptrun(*args)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr, "")
            self.assertEqual(p.stdout.splitlines()[0], "ptrun - run a batch "
                             "of tasks described in YAML on forked workers")
            for cmd in FIRST_LINES:
                self.assertIn("\n  %-8s " % cmd, p.stdout)

    def test_each_command(self):
        for cmd, first in FIRST_LINES.items():
            p = ptrun("help", cmd)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.splitlines()[0], first)
            self.assertIn("EXAMPLES\n  ptrun ", p.stdout)
            if cmd == "help":
                continue
            for flag in ("--help", "-h"):
                q = ptrun(cmd, flag)
                self.assertEqual((q.returncode, q.stdout, q.stderr),
                                 (0, p.stdout, ""), cmd)
        # --help wins wherever it is, ctl's included.
        p = ptrun("ctl", "runs/none", "status", "--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines()[0], FIRST_LINES["ctl"])
        p = ptrun("run", "job.yaml", "--out", "x", "-h")
        self.assertEqual(p.stdout.splitlines()[0], FIRST_LINES["run"])

    def test_run_help_names_every_option(self):
        text = ptrun("run", "--help").stdout
        for opt in ("--out", "--set", "--resume", "--force", "--tee",
                    "--trace", "--progress", "-q, --quiet",
                    "--mpi-dedicated-root"):
            self.assertIn("\n  " + opt, text)

    def test_unknown_command(self):
        p = ptrun("rnu")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, "ptrun: unknown command 'rnu' (did you "
                         "mean 'run'?)\nRun 'ptrun help' for the commands.\n")
        p = ptrun("bogus", "x")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0],
                         "ptrun: unknown command 'bogus' (commands: run, "
                         "check, kernels, clean, report, ctl, help)")
        p = ptrun("help", "bogus")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "ptrun help: no help on 'bogus' (topics: "
                         "run, check, kernels, clean, report, ctl, help, "
                         "spec)\n")
        p = ptrun("help", "chek")
        self.assertEqual(p.stderr, "ptrun help: no help on 'chek' (did you "
                         "mean 'check'?)\n")

    def test_unknown_option(self):
        p = ptrun("run", "--quite", "job.yaml")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stdout, "")
        self.assertEqual(
            p.stderr,
            "ptrun run: unknown option '--quite' (did you mean '--quiet'?)\n"
            "usage: ptrun run JOB.yaml [--out DIR] [--set PATH=VALUE]...\n"
            "                 [--resume DIR [--force]] [--tee] [--trace FILE]\n"
            "                 [--progress auto|none|tty|jsonl] [-q]\n"
            "                 [--mpi-dedicated-root]   (under mpirun)\n")
        p = ptrun("check", "--resume", "x", "job.yaml")  # run's only
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0], "ptrun check: unknown "
                         "option '--resume' (options: --set)")
        p = ptrun("ctl", "runs/x", "status", "--jsno")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0], "ptrun ctl: unknown option "
                         "'--jsno' (did you mean '--json'?)")
        p = ptrun("ctl", "runs/x", "stauts")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0], "ptrun ctl: unknown command "
                         "'stauts' (did you mean 'status'?)")
        p = ptrun("--verison")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0], "ptrun: unknown option "
                         "'--verison' (did you mean '--version'?)")
        p = ptrun("run", "job.yaml", "--out")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines()[0],
                         "ptrun run: option '--out' needs a value")
        p = ptrun("run", "job.yaml", "--progress=loud")
        self.assertEqual(p.stderr, "ptrun run: --progress loud: expected "
                         "auto, none, tty or jsonl\n")


class SpecReference(unittest.TestCase):
    MAN = os.path.join(SRC, "docs", "ptrun.yaml.5")
    # Keys that other parts add (SPEC §4), and the sweep generators.
    MORE = {"hugepages", "checkpoint", "halt", "failed", "how", "zip",
            "range", "linspace", "logspace", "glob", "lines"}

    def test_help_spec_lists_every_key(self):
        p = ptrun("help", "spec")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[:2], ["NAME", "  ptrun.yaml - the job spec "
                                     "that ptrun runs"])
        # Each key is a term: a line of its own, then (TYPE; DEFAULT) and
        # an example.
        terms = {l.strip().split(":")[0] for l in lines
                 if re.match(r"^ {2,}[\w.]+(:.*)?$", l)}
        keys = schema_keys() | self.MORE
        self.assertGreater(len(keys), 40)
        missing = sorted(k for k in keys
                         if k not in terms and "shm." + k not in terms)
        self.assertEqual(missing, [])
        self.assertEqual(p.stdout.count("Example: "), 49)
        self.assertTrue(all(len(l) < 80 for l in lines), "lines too wide")

    def test_spec_example_keys_documented(self):
        """Every key of SPEC §4's example job appears in the reference."""
        text = ptrun("help", "spec").stdout
        for key in ("ptrun", "name", "seed", "shm", "prefix", "segments",
                    "type", "dims", "init", "fill", "npy", "save", "named",
                    "hugepages", "kernels", "path", "workersets", "workers",
                    "mode", "timeout", "retries", "checkpoint", "steps",
                    "tasks", "kernel", "workerset", "priority", "args",
                    "repeat", "sweep", "range", "linspace", "logspace",
                    "glob", "lines", "zip", "each_worker", "on", "halt",
                    "failed", "how", "plugins", "options"):
            self.assertRegex(text, r"\n {2,}(shm\.)?%s\b" % key)

    def test_man_page_source(self):
        with open(self.MAN) as f:
            src = f.read()
        self.assertTrue(src.startswith(".\\\""))
        self.assertIn('\n.TH PTRUN.YAML 5 ', src)
        for key in schema_keys() | self.MORE:
            self.assertRegex(src, r"\n\.B (shm\.)?%s\b" % key)
        with open(os.path.join(SRC, "docs", "ptrun.1")) as f:
            ptrun1 = f.read()
        for word in ("\\-\\-force", "\\-\\-mpi\\-dedicated\\-root",
                     "\\-\\-json", "help", "ptrun.yaml", "FILES"):
            self.assertIn(word, ptrun1)

    @unittest.skipIf(not shutil.which("groff"), "no groff")
    def test_man_pages_render(self):
        for page in ("ptrun.1", "ptrun.yaml.5"):
            p = subprocess.run(["groff", "-man", "-Tutf8", "-z",
                                os.path.join(SRC, "docs", page)],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual((p.returncode, p.stderr), (0, ""), page)


class Messages(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-cli-")
        self.spec = os.path.join(self.tmp.name, "two.yaml")
        with open(self.spec, "w") as f:
            f.write(TWO_SETS)

    def tearDown(self):
        self.tmp.cleanup()

    def test_set_names_the_sets(self):
        p = ptrun("check", self.spec, "--set", "workersets.gpu.workers=2")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr, "--set workersets.gpu.workers=2: no worker "
                         "set 'gpu' (did you mean 'cpu'? sets: cpu, io)\n")
        p = ptrun("check", self.spec, "--set", "workersets.fast.workers=2")
        self.assertEqual(p.stderr, "--set workersets.fast.workers=2: no "
                         "worker set 'fast' (sets: cpu, io)\n")
        p = ptrun("check", self.spec, "--set", "steps.smaple.name=x")
        self.assertEqual(p.stderr, "--set steps.smaple.name=x: no step "
                         "'smaple' (did you mean 'sample'? steps: sample, "
                         "long)\n")

    def test_check_numbers_steps_from_1(self):
        p = ptrun("check", self.spec)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(
            [l for l in p.stdout.splitlines() if not l.startswith(" ")],
            ["job two: 2 steps, 5 tasks, seed 0", "step 1/2 sample: 1 tasks",
             "step 2/2 long: 4 tasks"])

    def test_unknown_kernel_and_set_list_the_alternatives(self):
        bad = TWO_SETS.replace("workerset: io", "workerset: oi").replace(
            "{kernel: sleep, args: {ms: 1}}", "{kernel: slep}")
        with open(self.spec, "w") as f:
            f.write(bad)
        p = ptrun("check", self.spec)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.splitlines(), [
            "%s:8:22: no kernel named 'slep' (did you mean 'sleep'?)"
            % self.spec,
            "%s:12:36: no workerset named 'oi' (did you mean 'io'?)"
            % self.spec])

    def test_a_library_that_fails_to_load_is_named_once(self):
        lib = os.path.join(self.tmp.name, "bad.so")
        with open(lib, "w") as f:
            f.write("not an ELF file\n")
        p = ptrun("kernels", lib)
        self.assertEqual(p.returncode, 3)
        self.assertEqual(p.stderr.count(lib), 1, p.stderr)
        with open(self.spec, "w") as f:
            f.write(TWO_SETS.replace("path: sleep", "path: ./bad.so"))
        p = ptrun("check", self.spec)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.count("bad.so"), 1, p.stderr)


class CtlStatus(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-cli-")

    def tearDown(self):
        self.tmp.cleanup()

    def wait_for(self, what, cond, seconds=60):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            value = cond()
            if value:
                return value
            time.sleep(0.01)
        self.fail("timed out waiting for " + what)

    def test_status_table_and_json(self):
        spec = os.path.join(self.tmp.name, "two.yaml")
        with open(spec, "w") as f:
            f.write(TWO_SETS)
        out = os.path.join(self.tmp.name, "run")
        run = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        self.addCleanup(run.stderr.close)
        self.addCleanup(lambda: run.poll() is None and run.kill())
        self.wait_for("ctl.sock",
                      lambda: os.path.exists(os.path.join(out, "ctl.sock")))

        def all_running():
            p = ptrun("ctl", out, "status", "--json")
            st = json.loads(p.stdout) if p.returncode == 0 else {}
            return st if st.get("running") == 3 else None
        st = self.wait_for("3 running tasks", all_running)
        self.assertEqual((st["steps"], st["step"]["index"]), (2, 1))

        p = ptrun("ctl", out, "status")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = re.sub(r" +\d+\.\ds ", " ELAPSED ", p.stdout)
        self.assertEqual(text, """\
run two in %s: running, step 2/2 long; 1 queued, 3 running

               tasks    done        ok    failed   crashed   timeout cancelled
job                5       1         1         0         0         0         0
step 2/2           4       0         0         0         0         0         0

worker set       workers   queued  running
cpu                    2        1        2
io                     1        0        1

    task  kernel           worker             elapsed  attempt
       1  sleep            cpu/0 ELAPSED        1
       2  sleep            cpu/1 ELAPSED        1
       4  sleep            io/0 ELAPSED        1
""" % out)
        p = ptrun("ctl", out, "pause")
        self.assertEqual((p.returncode, p.stdout), (0, "dispatching paused\n"))
        p = ptrun("ctl", out, "priority", "kernel=sleep", "5")
        self.assertEqual((p.returncode, p.stdout), (0, "changed the priority "
                         "of 1 task (3 already running, 1 already ended)\n"))
        p = ptrun("ctl", out, "cancel", "kernel=nope")
        self.assertEqual((p.returncode, p.stdout, p.stderr),
                         (1, "", "ptrun ctl cancel: no kernel 'nope' (kernels: "
                          "sleep)\n"))
        p = ptrun("ctl", out, "cancel", "kernel=slep")
        self.assertEqual(p.stderr, "ptrun ctl cancel: no kernel 'slep' (did "
                         "you mean 'sleep'?)\n")
        p = ptrun("ctl", "--json", out, "cancel", "3")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {
            "ok": True, "cancelled": 1, "running": 0, "ended": 0})
        p = ptrun("ctl", out, "status")
        self.assertIn(": paused, step 2/2 long; 0 queued, 3 running\n",
                      p.stdout)
        run.send_signal(signal.SIGTERM)  # stop dispatching,
        run.send_signal(signal.SIGINT)   # and kill the running tasks
        self.assertEqual(run.wait(timeout=60), 130)


if __name__ == "__main__":
    unittest.main()
