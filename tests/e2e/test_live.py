"""End-to-end tests of what a running ptrun shows: the progress line (on a
terminal) or JSON lines, the summary and the manifest's copy of it, worker
events. Run by ctest with PTRUN, SRC and TEST_KERNELS in the environment.
"""
import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import tempfile
import termios
import unittest

from e2e_util import PTRUN, SRC, TEST_KERNELS


JOB = """
ptrun: 1
name: live
kernels:
  sleep: {path: sleep}
  noop: {path: noop}
  segv: {path: @TK@/faults.so}
workersets:
  - {name: w, workers: 2, retries: 1}
steps:
  - name: first
    tasks:
      - {kernel: sleep, args: {ms: 30}, repeat: 20}
  - name: second
    tasks:
      - {kernel: noop, repeat: 50}
      - {kernel: segv}
"""


class Live(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-live-")
        self.spec = os.path.join(self.tmp.name, "job.yaml")
        with open(self.spec, "w") as f:
            f.write(JOB.replace("@TK@", TEST_KERNELS))

    def tearDown(self):
        self.tmp.cleanup()

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def test_jsonl_progress_and_summary(self):
        out = self.out("j")
        p = subprocess.run([PTRUN, "run", self.spec, "--out", out,
                            "--progress=jsonl"], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)  # the segv task
        lines = [json.loads(l) for l in p.stderr.splitlines()
                 if l.startswith("{")]
        self.assertTrue(all(l["type"] == "progress" for l in lines))
        finals = [l for l in lines if l["final"]]
        self.assertEqual([(f["step_name"], f["done"], f["total"])
                          for f in finals],
                         [("first", 20, 20), ("second", 51, 51)])
        self.assertEqual(finals[1]["failed"], 1)
        # at most ten a second: 20 x 30 ms on 2 workers is ~0.3 s
        first = [l for l in lines if l["step"] == 0]
        self.assertLessEqual(len(first), 10)
        # done never goes back within a step
        for step in (0, 1):
            done = [l["done"] for l in lines if l["step"] == step]
            self.assertEqual(done, sorted(done))
        # the summary: on stderr and in the manifest
        self.assertIn("busy", p.stderr)
        with open(os.path.join(out, "manifest.json")) as f:
            summary = json.load(f)["summary"]
        self.assertEqual(summary["kernels"]["sleep"]["counts"]["ok"], 20)
        self.assertEqual(summary["kernels"]["noop"]["counts"]["ok"], 50)
        self.assertEqual(summary["kernels"]["segv"]["counts"]["crashed"],
                         1)
        lat = summary["kernels"]["sleep"]["latency_ms"]
        self.assertGreaterEqual(lat["p50"], 29)
        self.assertLessEqual(lat["p50"], lat["p95"])
        self.assertLessEqual(lat["p95"], lat["p99"])
        self.assertGreater(summary["utilisation"], 0)
        self.assertLessEqual(summary["utilisation"], 1.01)
        self.assertGreater(summary["peak_worker_rss_kb"], 100)

    def test_interrupted_step_counts_cancelled_apart(self):
        """After Ctrl-C the step's last progress line counts the tasks
        that never ran as cancelled, not as done nor failed."""
        p = subprocess.Popen([PTRUN, "run", self.spec, "--out",
                              self.out("c"), "--progress=jsonl"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
        lines, sent = [], False
        with p.stderr:
            for line in p.stderr:  # wait for a task to run, then interrupt
                if line.startswith("{"):
                    lines.append(json.loads(line))
                    if lines[-1]["running"] > 0 and not sent:
                        p.send_signal(signal.SIGINT)
                        sent = True
        self.assertEqual(p.wait(timeout=60), 130)
        final = [l for l in lines if l["final"]]
        self.assertEqual(len(final), 1, final)  # the second step never began
        f = final[0]
        self.assertEqual(f["step_name"], "first")
        self.assertGreater(f["cancelled"], 0)
        self.assertEqual(f["done"] + f["cancelled"], f["total"])
        self.assertLess(f["done"], 20)
        self.assertEqual(f["failed"], 0)
        with open(os.path.join(self.out("c"), "results.jsonl")) as r:
            rows = [json.loads(x) for x in r]
        self.assertEqual(sum(x["status"] == "cancelled" for x in rows
                             if x["step"] == "first"), f["cancelled"])

    def test_quiet_and_not_a_terminal(self):
        p = subprocess.run([PTRUN, "run", self.spec, "--out", self.out("q"),
                            "-q"], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.stderr, "")
        p = subprocess.run([PTRUN, "run", self.spec, "--out",
                            self.out("n")], capture_output=True, text=True,
                           timeout=120)
        self.assertNotIn("\r", p.stderr)  # no progress line in a file
        self.assertIn("ptrun: live:", p.stderr)
        p = subprocess.run([PTRUN, "run", self.spec, "--progress=bar"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--progress", p.stderr)

    def test_progress_line_on_a_terminal(self):
        """On a 60-column terminal: lines redrawn in place with \\r, each
        cut to the width, one line left per step."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 24, 60, 0, 0))
        p = subprocess.Popen([PTRUN, "run", self.spec, "--out",
                              self.out("t")], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        text = b""
        while True:
            r, _, _ = select.select([master], [], [], 60)
            if not r:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            text += chunk
        os.close(master)
        self.assertEqual(p.wait(timeout=60), 1)
        text = text.decode()
        self.assertIn("\r", text)
        self.assertIn("\x1b[K", text)
        draws = [d.replace("\x1b[K", "") for d in
                 text.replace("\n", "\r").split("\r")]
        shown = [d for d in draws if d.startswith("step ")]
        self.assertTrue(shown)
        self.assertTrue(all(len(d) <= 59 for d in shown), shown)
        kept = [l for l in text.replace("\r\n", "\n").split("\n")
                if "step " in l]
        self.assertTrue(any("step 1/2" in l for l in kept))
        self.assertTrue(any("step 2/2" in l for l in kept))

    def test_worker_events_reach_plugins(self):
        """A user plugin sees worker started/exited events, the crash
        among them, and waiting/running counts on task events."""
        plugin = os.path.join(self.tmp.name, "spy.c")
        with open(plugin, "w") as f:
            f.write(r"""
#include <stdio.h>
#include <ptools/plugin.h>
static FILE *out;
static int op(pt_plugin_ctx *c, const char *o) {
    (void)o; char p[4096];
    snprintf(p, sizeof p, "%s/spy.txt", c->run_dir);
    out = fopen(p, "w"); return out ? 0 : -1; }
static int ev(pt_plugin_ctx *c, const pt_event *e) {
    (void)c;
    if (e->type == PT_EV_WORKER_STARTED || e->type == PT_EV_WORKER_EXITED)
        fprintf(out, "%s %s %d %d %d\n",
                e->type == PT_EV_WORKER_STARTED ? "start" : "exit",
                e->workerset, e->worker, e->pid, e->signal);
    if (e->type == PT_EV_TASK_QUEUED || e->type == PT_EV_TASK_FINISHED)
        fprintf(out, "count %lld %lld\n", (long long)e->waiting,
                (long long)e->running);
    return 0; }
static int cl(pt_plugin_ctx *c) { (void)c; return fclose(out); }
static const pt_plugin d = {PT_PLUGIN_ABI, "spy", "test", op, ev, cl};
PT_PLUGIN(&d);
""")
        so = os.path.join(self.tmp.name, "spy.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-I",
                        os.path.join(SRC, "include"), "-o", so, plugin],
                       check=True)
        with open(self.spec, "a") as f:
            f.write("plugins: [{name: jsonl}, {path: ./spy.so}]\n")
        out = self.out("w")
        p = subprocess.run([PTRUN, "run", self.spec, "--out", out, "-q"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        with open(os.path.join(out, "spy.txt")) as f:
            rows = [l.split() for l in f]
        starts = [r for r in rows if r[0] == "start"]
        exits = [r for r in rows if r[0] == "exit"]
        # 2 workers, plus 2 replacements: the segv task runs twice
        self.assertEqual(len(starts), 4)
        self.assertEqual(len(exits), 4)
        self.assertEqual(sum(1 for r in exits if r[4] == "11"), 2)
        counts = [(int(r[1]), int(r[2])) for r in rows if r[0] == "count"]
        self.assertIn((20, 0), counts)       # the first step all queued
        self.assertEqual(counts[-1], (0, 0))  # nothing left at the end
        self.assertTrue(all(w >= 0 and 0 <= r <= 2 * 64 for w, r in counts))


if __name__ == "__main__":
    unittest.main(verbosity=2)
