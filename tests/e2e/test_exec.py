"""End-to-end tests of the shipped `exec` kernel (SPEC §2): programs run
over a sweep with `{key}` substitution, exit codes, signals, timeouts (no
program left behind), JSON capture, env/cwd/stdin and shell.

Run by ctest with PTRUN, SRC and TEST_KERNELS in the environment.
"""
import os
import subprocess
import tempfile
import time
import unittest
import uuid

from e2e_util import PTRUN, SRC, sorted_results as results


HEAD = """ptrun: 1
name: exec-e2e
kernels:
  exec: {path: exec}
workersets:
  - {name: cpu, workers: 2, mode: ff, timeout: 20s}
steps:
  - name: s
    tasks:
"""


def procs_with(marker):
    """Pids of live processes whose command line holds `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass  # gone meanwhile
    return found


class Exec(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-exec-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_tasks(self, tasks, status=0, head=HEAD):
        spec = os.path.join(self.dir, "job.yaml")
        with open(spec, "w") as f:
            f.write(head + tasks)
        out = os.path.join(self.dir, "run")
        p = subprocess.run([PTRUN, "run", spec, "--out", out, "-q"],
                           capture_output=True, text=True, timeout=120,
                           cwd=self.dir)
        self.assertEqual(p.returncode, status, p.stderr)
        return results(out)

    def test_sweep_of_files(self):
        for name, text in (("a.txt", "hello\n"), ("b c.txt", "12345678\n")):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write(text)
        rows = self.run_tasks(
            '      - {kernel: exec, args: {cmd: [wc, -c, "{file}"]},\n'
            '         sweep: {file: [a.txt, "b c.txt"]}}\n')
        self.assertEqual([r["status"] for r in rows], ["ok", "ok"])
        self.assertEqual([r["result"] for r in rows],
                         [{"exit_code": 0, "stdout": "6 a.txt"},
                          {"exit_code": 0, "stdout": "9 b c.txt"}])

    def test_substitution_renders_values(self):
        rows = self.run_tasks(
            '      - {kernel: exec, args: {cmd: [echo, "{n}|{x}|{s}|{b}|'
            '{{lit}}"], n: 7, x: 0.1, s: "a b", b: true}}\n')
        self.assertEqual(rows[0]["result"]["stdout"], "7|0.1|a b|true|{lit}")

    def test_failing_command(self):
        rows = self.run_tasks(
            '      - {kernel: exec, args: {shell: "echo first >&2; '
            'echo second >&2; exit 3"}}\n', status=1)
        self.assertEqual(rows[0]["status"], "failed")
        self.assertEqual(rows[0]["result"], {"exit_code": 3})
        self.assertEqual(rows[0]["error"],
                         "exit code 3; last stderr lines:\nfirst\nsecond")

    def test_bad_args_fail_the_task(self):
        rows = self.run_tasks(
            '      - {kernel: exec, args: {cmd: ["{nokey}"]}}\n'
            '      - {kernel: exec, args: {cmd: [no-such-program-x]}}\n'
            '      - {kernel: exec, args: {cmd: [echo, "{"]}}\n'
            '      - {kernel: exec, args: {cmd: [echo], capture: xml}}\n'
            '      - {kernel: exec, args: {}}\n', status=1)
        self.assertEqual([r["status"] for r in rows], ["failed"] * 5)
        self.assertEqual([r["error"] for r in rows], [
            "cmd[0]: `{nokey}` names no arg of this task",
            "cannot run `no-such-program-x`: No such file or directory",
            "cmd[1]: `{` without its `}` (write `{{` for a brace)",
            'arg `capture` must be text, json or none, not "xml"',
            "no program: give `cmd` (a list) or `shell`"])

    def test_timeout_leaves_no_program(self):
        marker = "30.%d" % (uuid.uuid4().int % 1000000)
        rows = self.run_tasks(
            '      - {kernel: exec, args: {cmd: [sleep, "%s"]}}\n' % marker,
            status=1, head=HEAD.replace("timeout: 20s", "timeout: 300ms"))
        self.assertEqual(rows[0]["status"], "timeout")
        # the worker was SIGKILLed; its child dies by PDEATHSIG: wait for
        # that condition (bounded), never a guessed sleep
        deadline = time.monotonic() + 10
        while procs_with("sleep\0" + marker) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(procs_with("sleep\0" + marker), [])

    def test_signal_crashes(self):
        rows = self.run_tasks(
            '      - {kernel: exec, args: {shell: "kill -USR1 $$"}}\n',
            status=1)
        self.assertEqual(rows[0]["status"], "crashed")
        self.assertTrue(rows[0]["error"].startswith(
            "worker killed by signal 10 (User defined signal 1)"),
            rows[0]["error"])

    def test_json_capture(self):
        rows = self.run_tasks(
            "      - {kernel: exec, args: {capture: json, cmd: [printf, "
            "'{{\"a\": 1, \"b\": [1.5, 2], \"c\": [1, 2], \"s\": \"x\\\\u00e9\","
            " \"t\": true, \"n\": null, \"r\": -2.5e3}}']}}\n"
            "      - {kernel: exec, args: {capture: json, cmd: [echo, '[1]']}}\n"
            "      - {kernel: exec, args: {capture: json, cmd: [echo, "
            "'{{\"a\": {{}}}}']}}\n", status=1)
        self.assertEqual(rows[0]["status"], "ok", rows[0]["error"])
        self.assertEqual(rows[0]["result"], {
            "exit_code": 0, "a": 1, "b": [1.5, 2.0], "c": [1, 2],
            "s": "x\u00e9", "t": True, "r": -2500.0})
        self.assertEqual(rows[1]["error"], "capture json: stdout is not a "
                         "JSON object at byte 0 of stdout")
        self.assertEqual(rows[2]["error"], "capture json: a nested object "
                         "(only flat objects are results) at byte 6 of stdout")

    def test_env_cwd_stdin(self):
        sub = os.path.join(self.dir, "sub")
        os.mkdir(sub)
        rows = self.run_tasks(
            '      - {kernel: exec, args: {cmd: [sh, -c, "echo $FOO; pwd; '
            'cat"], env: {FOO: "v{x}"}, cwd: "%s", stdin: "in put", x: 2.5}}\n'
            '      - {kernel: exec, args: {cmd: [cat], stdin: "%s"}}\n'
            '      - {kernel: exec, args: {cmd: [cat]}}\n'
            '      - {kernel: exec, args: {cmd: [pwd], cwd: "%s/none"}}\n'
            % (sub, "y" * 300000, sub), status=1)
        self.assertEqual(rows[0]["result"]["stdout"],
                         "v2.5\n%s\nin put" % os.path.realpath(sub))
        self.assertEqual(len(rows[1]["result"]["stdout"]), 300000)
        self.assertEqual(rows[2]["result"], {"exit_code": 0, "stdout": ""})
        self.assertEqual(rows[3]["error"], "cannot chdir to `%s/none`: No "
                         "such file or directory" % sub)

    def test_shell_and_no_resplit(self):
        rows = self.run_tasks(
            '      - {kernel: exec, args: {shell: "echo {w} | tr a-z A-Z", '
            'w: "two words"}}\n'
            '      - {kernel: exec, args: {cmd: [printf, "%s|", "{w}"], '
            'w: "two words"}}\n')
        self.assertEqual([r["result"]["stdout"] for r in rows],
                         ["TWO WORDS", "two words|"])

    def test_config_runs(self):
        out = os.path.join(self.dir, "cfg")
        p = subprocess.run([PTRUN, "run", "configs/exec-files.yaml", "--out",
                            out, "-q"], capture_output=True, text=True,
                           timeout=120, cwd=SRC)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = results(out)
        self.assertEqual([r["result"]["stdout"].split()[2] for r in rows],
                         ["configs/pi.yaml", "configs/sweep.yaml",
                          "configs/quickstart.yaml"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
