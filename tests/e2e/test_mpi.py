"""End-to-end tests of ptrun over MPI (Open MPI's mpirun, 3 ranks on this
one machine, oversubscribed): the same results as a run without MPI, a
worker killed on another rank, a rank that dies and a resume afterwards;
SPEC §1 across ranks: a task sent to a rank and not started there still
changes priority, is cancelled, or goes to an idle rank.
Run by ctest with PTRUN, SRC, MPIRUN and TEST_KERNELS in the environment.
"""
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from e2e_util import PTRUN, SRC

MPIRUN = os.environ["MPIRUN"]
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_mpi_warn_on_fork="0")

SLEEPY = """
ptrun: 1
name: sleepy
seed: 7
kernels: {sleep: {path: sleep}, echo: {path: echo}}
workersets: [{name: w, workers: 2, mode: ff, retries: 2}]
steps:
  - name: s
    tasks:
      - {kernel: sleep, args: {ms: 300}, repeat: 24}
      - {kernel: echo, args: {x: 1}, repeat: 40}
"""


def ctl(run_dir, *words):
    p = subprocess.run([PTRUN, "ctl", run_dir, *map(str, words), "--json"],
                       capture_output=True, text=True, timeout=30)
    reply = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, reply, p.stderr


def stable(run_dir):
    keep = ("task", "step", "kernel", "args", "seed", "status", "result")
    with open(os.path.join(run_dir, "results.jsonl")) as f:
        rows = [json.loads(l) for l in f]
    return sorted(({k: r[k] for k in keep} for r in rows),
                  key=lambda r: r["task"]), rows


def mpirun(n, *args, timeout=120):
    return subprocess.run([MPIRUN, "--oversubscribe", "-n", str(n), PTRUN,
                           *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def ranks_pids(spec):
    """pid of each rank's ptrun, by rank (from its environment)."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = dict(e.split(b"=", 1) for e in f.read().split(b"\0")
                           if b"=" in e)
            with open("/proc/%s/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        rank = env.get(b"OMPI_COMM_WORLD_RANK")
        if spec.encode() in cmd and rank is not None:
            found.setdefault(int(rank), []).append((int(pid), ppid))
    # a rank's ptrun is the one whose parent is not a ptrun of that rank
    out = {}
    for rank, procs in found.items():
        pids = {p for p, _ in procs}
        heads = [p for p, pp in procs if pp not in pids]
        workers = [p for p, pp in procs if pp in pids]
        if heads:
            out[rank] = (heads[0], workers)
    return out


def in_sleep(pid):
    """Is process pid inside nanosleep/clock_nanosleep (x86_64: 35, 230)
    right now? /proc/PID/syscall names the call it is blocked in."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            first = f.read().split()[0]
    except (OSError, IndexError):
        return False
    return first in ("35", "230")



def gated_job(name, mark, go, ms, repeat):
    """One worker a rank: a gate task first (it runs until `go` exists,
    having made `mark`), then `repeat` sleeps of `ms`."""
    return """ptrun: 1
name: %s
kernels:
  hold: {path: %s/gate.so, name: gate}
  sleep: {path: sleep}
workersets: [{name: w, workers: 1, mode: ff}]
steps:
  - name: s
    tasks:
      - {kernel: hold, args: {mark: %s, open: %s}, priority: 5}
      - {kernel: sleep, args: {ms: %d}, repeat: %d}
""" % (name, os.environ["TEST_KERNELS"], mark, go, ms, repeat)

class Mpi(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-mpi-")

    def tearDown(self):
        self.tmp.cleanup()

    def out(self, name):
        return os.path.join(self.tmp.name, name)

    def spec(self, text):
        path = os.path.join(self.tmp.name, "job.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def wait_for(self, cond, what, limit=60.0):
        """Wait until cond() holds (a condition, not a guessed time)."""
        end = time.monotonic() + limit
        while not cond():
            self.assertLess(time.monotonic(), end, "no " + what)
            time.sleep(0.01)

    def wait_status(self, out, cond, what):
        """`ptrun ctl status` until cond(status) holds."""
        def ok():
            rc, st, _ = ctl(out, "status")
            return rc == 0 and cond(st)
        self.wait_for(ok, what)

    def start(self, n, text, *opts):
        spec = self.spec(text)
        out = self.out("run")
        p = subprocess.Popen([MPIRUN, "--oversubscribe", "-n", str(n), PTRUN,
                              "run", spec, "--out", out, "-q", *opts],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=ENV)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p, out

    def test_tasks_at_a_rank_not_started_still_wait(self):
        """Rank 1's one worker is held by a gate; the task rank 0 sent
        along with it waits there, not started: `ptrun ctl` lowers its
        priority (rank 1 gives it back, and the next one comes), then
        cancels that next one, then pauses (the third comes back) and
        resumes; each is honoured."""
        mark, go = self.out("held"), self.out("go")
        p, out = self.start(2, gated_job("mpi_ctl", mark, go, 1, 6),
                            "--mpi-dedicated-root")
        self.wait_for(lambda: os.path.exists(mark), "task 0 running")
        away = lambda ids: lambda st: [a["task"] for a in st["away"]] == ids
        self.wait_status(out, away([1]), "task 1 at rank 1")
        rc, reply, err = ctl(out, "priority", 1, -1)
        self.assertEqual((rc, reply), (0, {"ok": True, "changed": 1,
                                           "running": 0, "ended": 0}), err)
        self.wait_status(out, away([2]), "task 2 at rank 1 instead")
        rc, reply, err = ctl(out, "cancel", 2)
        self.assertEqual((rc, reply), (0, {"ok": True, "cancelled": 1,
                                           "running": 0, "ended": 0}), err)
        self.wait_status(out, away([3]), "task 3 at rank 1 instead")
        self.assertEqual(ctl(out, "pause")[0], 0)  # it comes back
        self.wait_status(out, away([]), "task 3 back at rank 0")
        self.assertEqual(ctl(out, "resume")[0], 0)  # and goes again
        self.wait_status(out, away([3]), "task 3 at rank 1 again")
        rc, reply, err = ctl(out, "priority", 0, 1)  # at rank 1's worker
        self.assertEqual(reply["running"], 1, err)
        with open(go, "w"):
            pass
        o, e = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, o + e)  # one was cancelled
        _, rows = stable(out)
        status = {r["task"]: r["status"] for r in rows}
        self.assertEqual(status[2], "cancelled")
        self.assertIsNone([r for r in rows if r["task"] == 2][0]["start_ns"]
                          or None)
        ran = [r["task"] for r in sorted(rows, key=lambda r: r["start_ns"])
               if r["status"] == "ok"]
        self.assertEqual(ran, [0, 3, 4, 5, 6, 1])
        self.assertEqual({r["rank"] for r in rows if r["status"] == "ok"},
                         {1})

    def test_first_free_across_ranks(self):
        """One long task holds rank 1's worker; the short task sent with
        it waits there, not started, while rank 2 runs the rest: once
        rank 2 is idle, rank 0 takes it back for rank 2. Every short task
        ends while the long one still runs (the test opens the gate only
        then), all on rank 2."""
        mark, go = self.out("held"), self.out("go")
        p, out = self.start(3, gated_job("mpi_ff", mark, go, 20, 30),
                            "--mpi-dedicated-root")
        self.wait_for(lambda: os.path.exists(mark), "the long task running")
        self.wait_status(out, lambda st: st["counts"]["ok"] == 30,
                         "every short task done while the long one runs")
        with open(go, "w"):
            pass
        o, e = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, o + e)
        _, rows = stable(out)
        long = [r for r in rows if r["task"] == 0][0]
        short = [r for r in rows if r["task"] > 0]
        self.assertEqual(long["rank"], 1)
        self.assertEqual(len(short), 30)
        self.assertEqual({r["rank"] for r in short}, {2})
        self.assertTrue(all(r["end_ns"] < long["end_ns"] for r in short))
        self.assertTrue(all(r["attempts"] == 1 for r in rows))

    def same_as_one_machine(self, spec, n=3):
        """Run spec under mpirun -n n and alone: the stable fields must be
        equal. Returns the rows of both runs."""
        p = mpirun(n, "run", spec, "--out", self.out("mpi"), "-q")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        one = subprocess.run([PTRUN, "run", spec, "--out", self.out("one"),
                              "-q"], capture_output=True, text=True)
        self.assertEqual(one.returncode, 0, one.stderr)
        a, rows = stable(self.out("mpi"))
        b, plain = stable(self.out("one"))
        self.assertEqual(a, b)
        return a, rows, plain

    def test_pi_on_3_ranks_equals_one_machine(self):
        a, rows, plain = self.same_as_one_machine(
            os.path.join(SRC, "configs", "pi.yaml"))
        self.assertEqual(len(a), 16)
        self.assertTrue(all(0 <= r["rank"] < 3 for r in rows))
        self.assertTrue(all("rank" not in r for r in plain))
        with open(os.path.join(self.out("mpi"), "manifest.json")) as f:
            self.assertEqual(json.load(f)["counts"]["ok"], 16)

    def test_a_step_larger_than_its_feed(self):
        """A step is fed to the sets a few thousand tasks per worker at a
        time (2048 a worker: 12288 for the 6 workers of 3 ranks); the
        ranks take from the sets as they are fed, each task once, pinned
        ones too, the same results as one machine."""
        spec = self.spec("""
ptrun: 1
name: many
kernels: {echo: {path: echo}}
workersets: [{name: w, workers: 2}]
steps:
  - name: s
    tasks:
      - {kernel: echo, args: {x: 1}, repeat: 60000}
      - {kernel: echo, args: {x: 2}, each_worker: true, priority: -1}
""")
        p = mpirun(3, "run", spec, "--out", self.out("mpi"), "-q")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        a, rows = stable(self.out("mpi"))
        self.assertEqual(len(rows), 60006)
        self.assertEqual([r["task"] for r in a], list(range(60006)))
        self.assertTrue(all(r["status"] == "ok" for r in a))
        self.assertEqual({r["rank"] for r in rows}, {0, 1, 2})
        pinned = {(r["rank"], r["worker"]) for r in rows if r["task"] >= 60000}
        self.assertEqual(len(pinned), 6)

    def test_each_worker_means_every_rank(self):
        spec = self.spec("""
ptrun: 1
name: everyone
kernels: {echo: {path: echo}, sleep: {path: sleep}}
workersets: [{name: w, workers: 2}]
steps:
  - name: all
    tasks:
      - {kernel: echo, args: {x: 1}, each_worker: true}
      - {kernel: sleep, args: {ms: 1}, repeat: 20}
""")
        p = mpirun(3, "run", spec, "--out", self.out("e"), "-q")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        _, rows = stable(self.out("e"))
        echo = [r for r in rows if r["kernel"] == "echo"]
        self.assertEqual(sorted((r["rank"], r["worker"]) for r in echo),
                         [(r, w) for r in range(3) for w in range(2)])
        self.assertEqual([r["task"] for r in sorted(echo, key=lambda r: (
            r["rank"], r["worker"]))], list(range(6)))
        self.assertTrue(all(r["status"] == "ok" for r in rows))
        self.assertEqual(len(rows), 26)
        # rank 0 only dispatching: its own workers cannot be named
        p = mpirun(2, "run", spec, "--out", self.out("d"), "-q",
                   "--mpi-dedicated-root")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("dedicated", p.stdout + p.stderr)

    def test_segments_are_shared_on_a_node(self):
        """Rank 0's worker fills a segment; every rank's sums see it, as on
        one machine; no name is left in /dev/shm."""
        spec = self.spec("""
ptrun: 1
name: nodeshm
shm: {segments: [{name: v, type: float64, dims: [100000]}]}
kernels: {fill: {path: fill}, sum: {path: sum}}
workersets: [{name: w, workers: 2}]
steps:
  - {name: fill, tasks: [{kernel: fill, args: {segment: v, value: 1.5},
                          on: 0}]}
  - {name: sum, tasks: [{kernel: sum, args: {segment: v}, repeat: 12}]}
""")
        _, rows, _ = self.same_as_one_machine(spec)
        sums = {r["rank"] for r in rows if r["kernel"] == "sum"}
        self.assertGreater(len(sums), 1, "the sums all ran on one rank")
        self.assertEqual([e for e in os.listdir("/dev/shm")
                          if "nodeshm" in e], [])

    def test_worker_killed_on_another_rank(self):
        spec = self.spec(SLEEPY)
        p = subprocess.Popen([MPIRUN, "--oversubscribe", "-n", "2", PTRUN,
                              "run", spec, "--out", self.out("k"), "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=ENV)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        victims = None
        for _ in range(500):
            ranks = ranks_pids(spec)
            if 1 in ranks and len(ranks[1][1]) == 2:
                victims = ranks[1][1]
                break
            time.sleep(0.02)
        self.assertTrue(victims, "no workers on rank 1")
        # both of rank 1's workers in the middle of a 300 ms sleep task:
        # their current system call is clock_nanosleep (or nanosleep)
        end = time.monotonic() + 60
        while not all(in_sleep(v) for v in victims):
            self.assertLess(time.monotonic(), end, "rank 1 runs no task")
            time.sleep(0.005)
        for v in victims:
            os.kill(v, signal.SIGKILL)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out + err)
        _, rows = stable(self.out("k"))
        self.assertEqual(len(rows), 64)
        self.assertTrue(all(r["status"] == "ok" for r in rows))
        again = [r for r in rows if r["attempts"] > 1]
        self.assertTrue(again, "no task was retried")
        crashed = [a for r in again for a in r["earlier_attempts"]]
        self.assertTrue(any(a["signal"] == 9 for a in crashed), crashed)
        self.assertIn(1, {r["rank"] for r in rows})

    def test_rank_dies_then_resume(self):
        spec = self.spec(SLEEPY)
        run = self.out("d")
        p = subprocess.Popen([MPIRUN, "--oversubscribe", "-n", "3", PTRUN,
                              "run", spec, "--out", run, "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=ENV)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        head = None
        for _ in range(300):
            ranks = ranks_pids(spec)
            if 2 in ranks and os.path.exists(
                    os.path.join(run, "results.jsonl")):
                head = ranks[2][0]
                break
            time.sleep(0.02)
        self.assertIsNotNone(head, "no rank 2")
        # in the middle of the job: some results are on disk already
        end = time.monotonic() + 60
        while os.path.getsize(os.path.join(run, "results.jsonl")) == 0:
            self.assertLess(time.monotonic(), end, "no result on disk")
            time.sleep(0.005)
        os.kill(head, signal.SIGKILL)
        out, err = p.communicate(timeout=120)
        self.assertNotEqual(p.returncode, 0)
        self.assertTrue(out + err, "nothing said about the dead rank")
        # the run folder resumes, on one machine
        r = subprocess.run([PTRUN, "run", "--resume", run, "-q"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        whole = subprocess.run([PTRUN, "run", spec, "--out",
                                self.out("whole"), "-q"],
                               capture_output=True, text=True, timeout=120)
        self.assertEqual(whole.returncode, 0, whole.stderr)
        done, _ = stable(run)
        ok = {r["task"]: r for r in done if r["status"] == "ok"}
        want, _ = stable(self.out("whole"))
        self.assertEqual(sorted(ok.values(), key=lambda r: r["task"]), want)
        # nothing is left running (what the dead rank's launcher killed
        # may take a moment to go)
        end = time.monotonic() + 30
        while ranks_pids(spec) and time.monotonic() < end:
            time.sleep(0.01)
        self.assertEqual(ranks_pids(spec), {})


if __name__ == "__main__":
    unittest.main(verbosity=2)
