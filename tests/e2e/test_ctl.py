"""End-to-end tests of `ptrun ctl` against real runs: priorities changed
while tasks wait, cancel, pause/resume, status, and hostile clients that
must not disturb the run. Run by ctest with PTRUN, SRC and TEST_KERNELS in
the environment.
"""
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

from e2e_util import PTRUN


JOB = """
ptrun: 1
name: ctl
kernels: {sleep: {path: sleep}}
workersets: [{name: w, workers: @W@, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: sleep, args: {ms: 40}, repeat: 30, tags: [bulk]}
      - {kernel: sleep, args: {ms: 40}, repeat: 10, tags: [late]}
plugins: [{name: jsonl}, {name: chrome-trace}]
"""


def ctl(run_dir, *words):
    p = subprocess.run([PTRUN, "ctl", run_dir, *map(str, words), "--json"],
                       capture_output=True, text=True, timeout=30)
    reply = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, reply, p.stderr


class Ctl(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-ctl-")

    def tearDown(self):
        self.tmp.cleanup()

    def start(self, workers=1, name="run"):
        spec = os.path.join(self.tmp.name, name + ".yaml")
        with open(spec, "w") as f:
            f.write(JOB.replace("@W@", str(workers)))
        out = os.path.join(self.tmp.name, name)
        p = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.stderr.close)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        sock = os.path.join(out, "ctl.sock")
        for _ in range(500):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        self.assertTrue(os.path.exists(sock), "no ctl.sock")
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o600)
        return p, out

    def wait_for(self, cond, what, limit=60.0):
        """Wait until cond() holds (a condition, not a guessed time)."""
        end = time.monotonic() + limit
        while not cond():
            self.assertLess(time.monotonic(), end, "no " + what)
            time.sleep(0.01)

    def wait_status(self, out, cond):
        """`ptrun ctl status` until cond(status) holds; that status."""
        found = []
        def ok():
            rc, st, _ = ctl(out, "status")
            found[:] = [st] if rc == 0 and cond(st) else []
            return bool(found)
        self.wait_for(ok, "such status")
        return found[0]

    def results(self, out):
        with open(os.path.join(out, "results.jsonl")) as f:
            return [json.loads(l) for l in f]

    def test_priority_changes_the_start_order(self):
        p, out = self.start(workers=1)
        # paused while both changes are made: on a loaded machine a `ptrun
        # ctl` takes longer than a task, and late ones would start between
        self.assertEqual(ctl(out, "pause")[0], 0)
        rc, reply, err = ctl(out, "priority", "tag=late", 50)
        self.assertEqual(rc, 0, err)
        self.assertEqual(reply, {"ok": True, "changed": 10, "running": 0,
                                 "ended": 0})
        rc, reply, _ = ctl(out, "priority", 35, 100)
        self.assertEqual(reply["changed"], 1)
        self.assertEqual(ctl(out, "resume")[0], 0)
        self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())
        order = [r["task"] for r in sorted(self.results(out),
                                           key=lambda r: r["start_ns"])]
        # task 35 (priority 100), then the other late ones (50), jump
        # ahead of the bulk tasks still waiting
        others = [order.index(t) for t in range(30, 40) if t != 35]
        self.assertEqual(sum(i < order.index(35) for i in others), 0)
        late = [order.index(t) for t in range(30, 40)]
        self.assertLess(max(late), order.index(29))
        self.assertFalse(os.path.exists(os.path.join(out, "ctl.sock")))
        # the trace shows the changes
        with open(os.path.join(out, "trace.json")) as f:
            trace = json.load(f)["traceEvents"]
        text = json.dumps(trace)
        self.assertIn("priority", text)

    def test_tasks_sent_ahead_still_wait(self):
        """SPEC §1: a task is at a worker only once the worker starts it.
        With `batch: 8`, tasks 1-7 go to the one worker with task 0, which
        holds it until the test lets it go: they have not started, so
        their priorities still change and they can still be cancelled."""
        tk = os.environ["TEST_KERNELS"]
        mark, go = (os.path.join(self.tmp.name, n) for n in ("held", "go"))
        spec = os.path.join(self.tmp.name, "ahead.yaml")
        with open(spec, "w") as f:
            f.write("""ptrun: 1
name: ctl-ahead
kernels:
  hold: {path: %s/gate.so, name: gate}
  sleep: {path: sleep}
workersets: [{name: w, workers: 1, mode: ff, batch: 8}]
steps:
  - name: s
    tasks:
      - {kernel: hold, args: {mark: %s, open: %s}, priority: 5}
      - {kernel: sleep, args: {ms: 1}, repeat: 7}
""" % (tk, mark, go))
        out = os.path.join(self.tmp.name, "ahead")
        p = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.stderr.close)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.wait_for(lambda: os.path.exists(mark), "task 0 running")
        rc, reply, err = ctl(out, "priority", 7, 100)
        self.assertEqual((rc, reply), (0, {"ok": True, "changed": 1,
                                           "running": 0, "ended": 0}), err)
        rc, reply, err = ctl(out, "priority", 6, 50)
        self.assertEqual(reply["changed"], 1, err)
        rc, reply, err = ctl(out, "cancel", 1)
        self.assertEqual(reply["cancelled"], 1, err)
        rc, reply, err = ctl(out, "priority", 0, 1)
        self.assertEqual((reply["changed"], reply["running"]), (0, 1), err)
        with open(go, "w"):
            pass
        self.assertEqual(p.wait(timeout=60), 1)  # one was cancelled
        rows = self.results(out)
        status = {r["task"]: r["status"] for r in rows}
        self.assertEqual(status[1], "cancelled")
        ran = [r["task"] for r in sorted(rows, key=lambda r: r["start_ns"])
               if r["status"] == "ok"]
        self.assertEqual(ran, [0, 7, 6, 2, 3, 4, 5])


    def start_spec(self, text, name):
        """Run a spec of the test's own (@TK@: the test kernels; @D@: the
        test's folder): the process and its run folder."""
        spec = os.path.join(self.tmp.name, name + ".yaml")
        with open(spec, "w") as f:
            f.write(text.replace("@TK@", os.environ["TEST_KERNELS"])
                    .replace("@D@", self.tmp.name))
        out = os.path.join(self.tmp.name, name)
        p = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.stderr.close)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p, out

    RETRY = """ptrun: 1
name: retry
kernels:
  segv: {path: @TK@/faults.so}
  hold: {path: @TK@/gate.so, name: gate}
  sleep: {path: sleep}
workersets: [{name: w, workers: 1, mode: ff, retries: 2}]
steps:
  - name: s
    tasks:
      - {kernel: segv, priority: 10}
      - {kernel: hold, args: {mark: @D@/held, open: @D@/go}, priority: 5}
"""

    def test_a_retry_waits_by_its_priority(self):
        """A retry waits again like any task of its step: task 0
        (priority 10) crashes, its retry is due while the gate holds the
        one worker, and then it goes before the waiting priority-0 tasks;
        its last retry comes after them (they ran during its backoff)."""
        p, out = self.start_spec(self.RETRY + """      - {kernel: sleep, args: {ms: 1}, repeat: 3}
""", "order")
        go = os.path.join(self.tmp.name, "go")
        self.wait_for(lambda: os.path.exists(
            os.path.join(self.tmp.name, "held")), "the gate running")
        # the retry is due: it waits with the 3 sleeps
        self.wait_status(out, lambda st: st["waiting"] == 4)
        with open(go, "w"):
            pass
        self.assertEqual(p.wait(timeout=60), 1)  # task 0 crashed
        rows = {r["task"]: r for r in self.results(out)}
        segv = rows[0]
        self.assertEqual((segv["status"], segv["attempts"]), ("crashed", 3))
        tries = segv["earlier_attempts"] + [segv]
        sleeps = sorted(rows[t]["start_ns"] for t in (2, 3, 4))
        self.assertGreaterEqual(tries[1]["start_ns"], rows[1]["end_ns"])
        self.assertLess(tries[1]["start_ns"], sleeps[0])
        self.assertGreater(tries[2]["start_ns"], sleeps[-1])

    def test_cancel_a_task_waiting_for_its_retry(self):
        """`ptrun ctl cancel` of a task whose retry waits (due, behind the
        busy worker) ends it cancelled, its crash kept in its record."""
        p, out = self.start_spec(self.RETRY, "cancel_due")
        self.wait_for(lambda: os.path.exists(
            os.path.join(self.tmp.name, "held")), "the gate running")
        self.wait_status(out, lambda st: st["waiting"] == 1)
        self.assertEqual(ctl(out, "cancel", 0)[1],
                         {"ok": True, "cancelled": 1, "running": 0,
                          "ended": 0})
        with open(os.path.join(self.tmp.name, "go"), "w"):
            pass
        self.assertEqual(p.wait(timeout=60), 1)
        rows = {r["task"]: r for r in self.results(out)}
        self.assertEqual(rows[0]["status"], "cancelled")
        self.assertEqual([a["status"] for a in rows[0]["earlier_attempts"]],
                         ["crashed"])
        self.assertEqual(rows[1]["status"], "ok")

    def test_cancel_a_task_in_its_retry_backoff(self):
        """A task backing off before its next attempt (its 5th wait: 1.6
        s) is cancelled at once by `ptrun ctl cancel`: no new attempt."""
        p, out = self.start_spec("""ptrun: 1
name: backoff
kernels: {segv: {path: @TK@/faults.so}}
workersets: [{name: w, workers: 1, retries: 8}]
steps: [{name: s, tasks: [{kernel: segv}]}]
plugins: [{name: jsonl}, {path: @TK@/evlog.so}]
""", "cancel_backoff")
        log = os.path.join(out, "evlog.log")

        def retried():
            try:
                with open(log) as f:
                    return sum(l.startswith("8 task=0 ") for l in f)
            except OSError:
                return 0
        self.wait_for(lambda: retried() >= 5, "a 5th retry")
        t0 = time.monotonic()
        self.assertEqual(ctl(out, "cancel", 0)[1],
                         {"ok": True, "cancelled": 1, "running": 0,
                          "ended": 0})
        self.assertEqual(p.wait(timeout=60), 1)
        self.assertLess(time.monotonic() - t0, 1.5)  # not after its wait
        r = self.results(out)[0]
        self.assertEqual(r["status"], "cancelled")
        self.assertEqual(len(r["earlier_attempts"]), 5)

    def test_changes_to_tasks_not_fed_yet(self):
        """A step is fed to its set a few thousand tasks at a time: a task
        not fed yet still changes priority (and goes ahead of all that
        waits), or is cancelled, alone or by tag; queued tasks made worse
        than those not fed yet (here: a whole entry made better) run after
        them."""
        spec = os.path.join(self.tmp.name, "lazy.yaml")
        with open(spec, "w") as f:
            f.write("""
ptrun: 1
name: ctl_lazy
kernels: {sleep: {path: sleep}, noop: {path: noop}}
workersets: [{name: w, workers: 1, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: sleep, args: {ms: 3000}, priority: 10}
      - {kernel: noop, repeat: 20000, tags: [bulk]}
      - {kernel: noop, repeat: 3000, tags: [tail]}
      - {kernel: noop, repeat: 1000, tags: [junk]}
""")
        out = os.path.join(self.tmp.name, "lazy")
        p = subprocess.Popen([PTRUN, "run", spec, "--out", out, "-q"],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.stderr.close)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        sock = os.path.join(out, "ctl.sock")
        self.wait_for(lambda: os.path.exists(sock), "ctl.sock")
        self.wait_status(out, lambda st: any(
            r["task"] == 0 for r in st["running_tasks"]))
        self.assertEqual(ctl(out, "pause")[0], 0)
        st = self.wait_status(out, lambda st: st["running"] == 0)
        self.assertEqual(st["waiting"], 24000)
        want = {"ok": True, "changed": 1, "running": 0, "ended": 0}
        self.assertEqual(ctl(out, "priority", 15000, 100)[1], want)
        self.assertEqual(ctl(out, "priority", 12000, 5)[1], want)
        self.assertEqual(ctl(out, "priority", 5000, -1)[1], want)
        self.assertEqual(ctl(out, "cancel", 16000)[1],
                         {"ok": True, "cancelled": 1, "running": 0,
                          "ended": 0})
        self.assertEqual(ctl(out, "cancel", "tag=junk")[1],
                         {"ok": True, "cancelled": 1000, "running": 0,
                          "ended": 0})
        self.assertEqual(ctl(out, "priority", "tag=tail", 3)[1],
                         {"ok": True, "changed": 3000, "running": 0,
                          "ended": 0})
        self.assertEqual(ctl(out, "cancel", 16000)[1]["ended"], 1)
        self.assertEqual(ctl(out, "status")[1]["waiting"], 22999)
        self.assertEqual(ctl(out, "resume")[0], 0)
        self.assertEqual(p.wait(timeout=120), 1, p.stderr.read())
        rows = self.results(out)
        self.assertEqual(len(rows), 24001)
        cancelled = sorted(r["task"] for r in rows
                           if r["status"] == "cancelled")
        self.assertEqual(cancelled, [16000] + list(range(23001, 24001)))
        order = [r["task"] for r in sorted(
            (r for r in rows if r["status"] == "ok"),
            key=lambda r: r["start_ns"])]
        bulk = [t for t in range(1, 20001) if t not in (5000, 12000, 15000,
                                                        16000)]
        self.assertEqual(order, [0, 15000, 12000] +
                         list(range(20001, 23001)) + bulk + [5000])

    def test_cancel_pause_resume_status(self):
        p, out = self.start(workers=2)
        rc, reply, err = ctl(out, "pause")
        self.assertEqual((rc, reply), (0, {"ok": True, "paused": True}), err)
        rc, st, _ = ctl(out, "status")
        self.assertEqual(rc, 0)
        self.assertTrue(st["paused"])
        self.assertEqual(st["run"], "ctl")
        self.assertEqual(st["step"]["name"], "s")
        self.assertEqual(st["tasks"], 40)
        self.assertEqual(st["workersets"][0]["name"], "w")
        self.assertLessEqual(st["running"], 2)
        # paused: what is at a worker ends (and its lines reach the disk),
        # then nothing new starts while the loop goes round (each request
        # below is one round of it)
        st = self.wait_status(out, lambda s: s["running"] == 0)
        done = sum(st["counts"].values())
        self.wait_for(lambda: len(self.results(out)) == done, "the lines")
        for _ in range(20):
            rc, again, _ = ctl(out, "status")
            self.assertEqual((again["running"], again["counts"]),
                             (0, st["counts"]))
        self.assertEqual(len(self.results(out)), done)
        rc, reply, _ = ctl(out, "cancel", "tag=late")
        self.assertEqual(reply["cancelled"], 10)
        rc, reply, _ = ctl(out, "cancel", "kernel=nope")
        self.assertEqual(rc, 1)
        self.assertFalse(reply["ok"])
        rc, reply, _ = ctl(out, "resume")
        self.assertEqual(reply, {"ok": True, "paused": False})
        self.assertEqual(p.wait(timeout=60), 1)  # some were cancelled
        rows = self.results(out)
        self.assertEqual(len(rows), 40)
        status = {r["task"]: r["status"] for r in rows}
        self.assertTrue(all(status[t] == "cancelled" for t in range(30, 40)))
        self.assertTrue(all(status[t] == "ok" for t in range(30)))

    def test_hostile_clients_do_not_disturb_the_run(self):
        p, out = self.start(workers=2)
        path = os.path.join(out, "ctl.sock")
        loris = socket.socket(socket.AF_UNIX)
        loris.connect(path)
        loris.sendall(b'{"cmd": "sta')  # and never more
        garbage = socket.socket(socket.AF_UNIX)
        garbage.connect(path)
        garbage.sendall(b"\x00\xff not json at all\n")
        self.assertFalse(json.loads(garbage.recv(4096))["ok"])
        big = socket.socket(socket.AF_UNIX)
        big.connect(path)
        big.settimeout(10)
        try:
            big.sendall(b"x" * (10 << 20) + b"\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # it hung up on us: that is an answer too
        try:
            data = big.recv(4096)
        except ConnectionResetError:
            data = b""
        if data:
            self.assertFalse(json.loads(data.split(b"\n")[0])["ok"])
        # a well-behaved client is still served meanwhile
        rc, st, _ = ctl(out, "status")
        self.assertEqual(rc, 0)
        self.assertTrue(st["ok"])
        t0 = time.time()
        self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())
        self.assertLess(time.time() - t0, 30)
        self.assertEqual(len(self.results(out)), 40)
        for s in (loris, garbage, big):
            s.close()

    def test_no_run_listening(self):
        rc, _, err = ctl(self.tmp.name, "status")
        self.assertEqual(rc, 3)
        self.assertIn(self.tmp.name, err)
        rc, _, _ = ctl(self.tmp.name, "frobnicate")
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
