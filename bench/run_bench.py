#!/usr/bin/python3
"""run_bench.py - every ptools benchmark, each figure beside its reference.

`make bench` runs it after building. Each figure is measured in the same run
as its reference, because a shared machine is noisy; it prints one line per
figure (value | reference | ratio, target) and writes all of them to
BUILD/bench.json as a list of {name, value, unit, reference,
reference_value, ratio, target, met}. A figure that cannot be measured yet
(e.g. a ptrun feature not in this tree) has value null and the reason on
its line; one that fails for another reason also has value null, and then
the exit status is 1. Standard library only.

    /usr/bin/python3 bench/run_bench.py [--build DIR] [--only S[,S...]]
                                        [--big-tasks N]

--only runs some sections, by number or name (`--only 10,mixed`; the list
is in --help). Sections 9-13 are issue 15's figures (dispatch redesign);
14 is issue 16's exec kernel beside GNU Parallel.
"""
import argparse
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOBS = os.path.join(ROOT, "bench", "jobs")

NOOP_TASKS = 200000
NOOP_1M = 1000000
BIG_TASKS = 10 ** 7  # figure 13's goal; --big-tasks scales it down
BIG_DEFAULT = 2 * 10 ** 6  # what finishes in ~1 min before the lazy plan
METG_D_US = (1, 2, 5, 10, 20, 50, 100, 200, 500)  # geometric sweep of d
METG_SECONDS = 0.25  # ideal time of each point: n = this * workers / d
BEST_OF = 3  # figures 10, 11: each time the best of this many (noise)
METG_MIN_TASKS, METG_MAX_TASKS = 2000, 200000
MIXED_SHORT_US, MIXED_LONG_MS, MIXED_SHORT, MIXED_LONG = 20, 200, 20000, 4
PI_SAMPLES, PI_TASKS, PI_SEED = 200000000, 8, 42
SHM_ELEMENTS = 134217728  # 1 GiB of float64
PARALLEL_JOBS = 2000
TIMEOUT = 240  # seconds, for any one process


class Missing(Exception):
    """A figure that cannot be measured in this tree (not an error)."""


class Failed(Exception):
    """A benchmark that went wrong."""


# ---- figures and their output ------------------------------------------


def fmt(v):
    """A number in 3-4 significant digits: 2.31e6, 8450, 0.97."""
    if v is None:
        return "null"
    if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-2):
        e = int(math.floor(math.log10(abs(v))))
        m = v / 10 ** e
        if round(m, 2) >= 10:
            m, e = m / 10, e + 1
        return f"{m:.2f}e{e}"
    return f"{v:.4g}"


class Report:
    """The figures of the run, printed as they come, then written as JSON."""

    def __init__(self):
        self.figures = []
        self.errors = 0

    def add(self, name, value, unit, reference=None, reference_value=None,
            target=None, why=None, note=None):
        """target: None, ("ratio", ">=", 0.9) or ("value", "<=", 1000)."""
        ratio = None
        if value is not None and reference_value:
            ratio = value / reference_value
        met, target_text = None, None
        if target:
            kind, op, goal = target
            target_text = f"{op} {fmt(goal)}" + (
                "x" if kind == "ratio" else f" {unit}")
            x = ratio if kind == "ratio" else value
            if x is not None:
                met = x >= goal if op == ">=" else x <= goal
        self.figures.append({
            "name": name, "value": value, "unit": unit,
            "reference": reference, "reference_value": reference_value,
            "ratio": ratio, "target": target_text, "met": met,
            **({"note": note} if note else {})})
        self.show(name, value, unit, reference, reference_value, ratio,
                  target_text, met, why, note)

    @staticmethod
    def show(name, value, unit, reference, ref_value, ratio, target, met,
             why, note=None):
        line = f"{name:<42} {fmt(value):>8} {unit}"
        if reference:
            line += f" | ref {reference} {fmt(ref_value)} {unit}"
        if ratio is not None:
            line += f" | {ratio:.2f}x"
        if target:
            line += f"  (target {target})"
            line += {True: " ok", False: " MISSED", None: ""}[met]
        if why:
            line += f"  [missing: {why}]"
        if note:
            line += f"  ({note})"
        print(line, flush=True)

    def write(self, path):
        with open(path, "w") as f:
            json.dump(self.figures, f, indent=1)
            f.write("\n")


def section(report, title, fn, *args):
    """Run one benchmark; a failure costs its figures, never the run."""
    print(f"-- {title}", flush=True)
    try:
        fn(report, *args)
    except Failed as e:
        report.errors += 1
        print(f"   FAILED: {e}", file=sys.stderr, flush=True)
    except Missing as e:
        print(f"   missing: {e}", flush=True)


# ---- running things --------------------------------------------------------


def run_timed(cmd, cwd=None, stdin_text=None):
    """Run cmd: (wall seconds fork to exit, exit code, peak RSS KiB, stderr).

    The peak RSS is wait4's: the largest of the process and the children it
    reaped (its workers).
    """
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=err, stdin=subprocess.DEVNULL)
        killer = threading.Timer(TIMEOUT, p.kill)
        killer.start()
        _, status, ru = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t0
        killer.cancel()
        if dt >= TIMEOUT:
            raise Failed(f"{cmd[0]}: killed after {TIMEOUT} s")
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace").strip()
    return dt, p.returncode, ru.ru_maxrss, text


def run_kv(cmd):
    """Run a C helper and read its `key value` lines."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Failed(f"{os.path.basename(cmd[0])}: {e}")
    if r.returncode != 0:
        raise Failed(f"{os.path.basename(cmd[0])} exited {r.returncode}: "
                     f"{r.stderr.strip()}")
    kv = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            kv[parts[0]] = float(parts[1])
    return kv


def ptrun(ctx, job, out, *sets):
    """Run `ptrun run` on a job: (seconds, peak RSS KiB, run folder)."""
    cmd = [ctx.ptrun, "run", os.path.join(JOBS, job), "-q", "--out", out]
    for s in sets:
        cmd += ["--set", s]
    dt, rc, rss, err = run_timed(cmd)
    if rc == 2 and "no key" in err:
        raise Missing(err.splitlines()[-1])
    if rc != 0:
        raise Failed(f"ptrun {job} exited {rc}: {err}")
    return dt, rss, out


def results(run_dir):
    """The records of results.jsonl."""
    with open(os.path.join(run_dir, "results.jsonl")) as f:
        return [json.loads(line) for line in f]


def count_ok(run_dir, expect):
    """Check that results.jsonl records every task, all ok."""
    n = ok = 0
    with open(os.path.join(run_dir, "results.jsonl")) as f:
        for line in f:
            n += 1
            ok += '"status":"ok"' in line
    if n != expect or ok != expect:
        raise Failed(f"{run_dir}/results.jsonl: {n} records, {ok} ok, "
                     f"expected {expect}")
    return n


def manifest(run_dir):
    with open(os.path.join(run_dir, "manifest.json")) as f:
        return json.load(f)


# ---- the references in Python and GNU Parallel ---------------------------


def pool_noop(x):
    return None


def pool_rate(n, chunksize):
    """Tasks/s of Pool(2).map(no-op) over n items: pool start to join."""
    t0 = time.perf_counter()
    pool = multiprocessing.Pool(2)
    pool.map(pool_noop, range(n), chunksize=chunksize)
    pool.close()
    pool.join()
    return n / (time.perf_counter() - t0)


def pool_ref(ctx, chunksize, n=NOOP_TASKS):
    """pool_rate in a fresh interpreter, away from this one's memory."""
    cmd = [sys.executable, os.path.abspath(__file__), "--pool",
           str(n), str(chunksize or 0)]
    return run_kv(cmd)["pool_tasks_per_s"]


def parallel_ref(ctx):
    """GNU Parallel running `true` PARALLEL_JOBS times, -j2: (jobs/s, KiB)."""
    exe = shutil.which("parallel")
    if not exe:
        raise Failed("GNU Parallel not found (scripts/deps.sh bench)")
    cmd = [exe, "--will-cite", "-j2", "-N0", "true", ":::"] + [
        str(i) for i in range(PARALLEL_JOBS)]
    dt, rc, rss, err = run_timed(cmd, cwd=ctx.tmp)
    if rc != 0:
        raise Failed(f"parallel exited {rc}: {err}")
    return PARALLEL_JOBS / dt, rss


# ---- the benchmarks ------------------------------------------------------


def bench_rpc(rep, ctx):
    """rpc_bench's own lines: remotecall beside a raw 1-child ping-pong."""
    r = subprocess.run([ctx.bin("rpc_bench"), ctx.kernel("noop")],
                       capture_output=True, text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise Failed(f"rpc_bench exited {r.returncode}: {r.stderr.strip()}")
    for line in r.stdout.splitlines():
        what, _, rest = line.partition("  ")
        nums = [float(w) for w in rest.split() if w.replace(".", "").isdigit()]
        if len(nums) >= 2:
            rep.add(what.strip(), nums[0], "calls/s",
                    "raw pipe ping-pong (1 child)", nums[1])


def noop_run(ctx, label, *sets, n=NOOP_TASKS):
    """One run of the noop job (n tasks: the 200k job unless `sets` says
    otherwise): {rate, rss, dir} or {why} when missing."""
    out = os.path.join(ctx.tmp, "noop-" + label)
    try:
        dt, rss, _ = ptrun(ctx, "noop-200k.yaml", out, *sets)
    except Missing as e:
        return {"rate": None, "why": str(e)}
    return {"rate": count_ok(out, n) / dt, "rss": rss, "dir": out}


def bench_noop(rep, ctx):
    """Figure 1: 200k no-op tasks, unbatched and auto-batched."""
    pp = run_kv([ctx.bin("pingpong2")])["pingpong2_rt_per_s"]
    runs = {"unbatched": noop_run(ctx, "unbatched", "workersets.cpu.batch=1"),
            "auto-batched": noop_run(ctx, "auto", "workersets.cpu.batch=auto")}
    if all(r["rate"] is None for r in runs.values()):
        # No `batch` key yet: one run as the runner is, for the RSS figures
        runs["default"] = noop_run(ctx, "default")
    pool1 = pool_ref(ctx, 1)
    pool_def = pool_ref(ctx, None)
    try:
        par, par_rss, par_why = *parallel_ref(ctx), None
    except Failed as e:  # not installed: that line alone goes missing
        par, par_rss, par_why = None, None, str(e)

    def add(label, ref, refval, target, why=None):
        r = runs[label]
        rep.add(f"ptrun noop 200k {label}", r["rate"], "tasks/s", ref, refval,
                target, why=r.get("why") or why)

    add("unbatched", "2-child poll ping-pong", pp, ("ratio", ">=", 0.9))
    add("auto-batched", None, None, ("value", ">=", 2e6))
    add("auto-batched", "Pool(2) chunksize=1", pool1, ("ratio", ">=", 80))
    add("auto-batched", "Pool(2) default", pool_def, ("ratio", ">=", 1))
    add("auto-batched", "GNU Parallel -j2", par, ("ratio", ">=", 5000),
        par_why)
    if "default" in runs:
        add("default", "2-child poll ping-pong", pp, None)
    ctx.noop_runs = runs
    ctx.parallel_rss = par_rss
    ctx.pool1 = pool1


def bench_memory(rep, ctx):
    """Figure 7: peak RSS of ptrun during figure 1's runs, and a worker's."""
    runs = getattr(ctx, "noop_runs", {})
    label = next((k for k in ("auto-batched", "default", "unbatched")
                  if k in runs and runs[k]["rate"] is not None), None)
    if not label:
        raise Missing("no run of figure 1")
    r = runs[label]
    rep.add(f"ptrun peak RSS, noop 200k {label}", r["rss"], "KiB",
            "GNU Parallel, 2000 jobs", ctx.parallel_rss)
    worker = manifest(r["dir"]).get("summary", {}).get("peak_worker_rss_kb")
    rep.add("ptrun worker peak RSS, noop 200k", worker, "KiB",
            why=None if worker is not None else
            "manifest.json has no peak_worker_rss_kb")


def bench_pi(rep, ctx):
    """Figure 2: pi, 2e8 samples in 8 tasks: 1 vs 2 workers vs OpenMP."""
    rate, hits = {}, {}
    for w in (1, 2):
        out = os.path.join(ctx.tmp, f"pi-{w}")
        dt, _, _ = ptrun(ctx, "pi-2e8.yaml", out, f"workersets.cpu.workers={w}")
        recs = results(out)
        if len(recs) != PI_TASKS or any(r["status"] != "ok" for r in recs):
            raise Failed(f"{out}: not {PI_TASKS} ok tasks")
        hits[w] = sum(r["result"]["hits"] for r in recs)
        rate[w] = PI_SAMPLES / dt
    omp = ctx.bin("pi_omp")
    if not os.path.exists(omp):
        raise Failed("bench/pi_omp not built (no OpenMP for C)")
    t0 = time.perf_counter()
    kv = run_kv([omp, str(PI_SAMPLES), str(PI_TASKS), str(PI_SEED), "2"])
    omp_rate = PI_SAMPLES / (time.perf_counter() - t0)
    if not (hits[1] == hits[2] == kv["pi_omp_hits"]):
        raise Failed(f"hits differ: 1 worker {hits[1]}, 2 workers {hits[2]}, "
                     f"OpenMP {kv['pi_omp_hits']:.0f}")
    rep.add("ptrun pi 2e8, 2 workers", rate[2], "samples/s",
            "ptrun 1 worker", rate[1], ("ratio", ">=", 1.9))
    rep.add("ptrun pi 2e8, 2 workers", rate[2], "samples/s",
            "OpenMP 2 threads, same loop", omp_rate, ("ratio", ">=", 0.97))


def huge_pages_available():
    """(transparent huge pages work for memfd segments, the shmem_enabled
    word, free reserved 2 MiB pages) as this machine says."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as f:
            word = f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        word = "unknown"
    try:
        with open("/sys/kernel/mm/hugepages/hugepages-2048kB/"
                  "free_hugepages") as f:
            free = int(f.read())
    except (OSError, ValueError):
        free = 0
    return word not in ("never", "deny", "unknown"), word, free


SHM_REPEAT = 3  # each figure of section 3 is the best of this many: noise


def shm_sum_best(ctx, mode):
    """The best (GB/s, huge) of SHM_REPEAT runs of shm_sum_run."""
    return max(shm_sum_run(ctx, mode) for _ in range(SHM_REPEAT))


def shm_ref_best(ctx, mode):
    """shm_sum2's figures, each the best of SHM_REPEAT runs."""
    runs = [run_kv([ctx.bin("shm_sum2"), str(SHM_ELEMENTS), mode])
            for _ in range(SHM_REPEAT)]
    return {k: max(r[k] for r in runs) for k in runs[0]}


def shm_sum_run(ctx, mode):
    """GB/s of the sum step of shm-sum-1g.yaml with `hugepages: mode`."""
    out = os.path.join(ctx.tmp, "shm-" + mode)
    ptrun(ctx, "shm-sum-1g.yaml", out, "shm.segments.x.hugepages=" + mode)
    recs = [r for r in results(out) if r["step"] == "sum"]
    total = sum(r["result"]["sum"] for r in recs if r["status"] == "ok")
    if len(recs) != 2 or total != SHM_ELEMENTS:
        raise Failed(f"{out}: {len(recs)} sum tasks, sum {total}")
    span = (max(r["end_ns"] for r in recs) -
            min(r["start_ns"] for r in recs)) * 1e-9
    huge = bool(manifest(out).get("hugepages", [{}])[0].get("huge"))
    shutil.rmtree(out, ignore_errors=True)
    return SHM_ELEMENTS * 8 / span / 1e9, huge


def bench_shm(rep, ctx):
    """Figure 3: 2 workers sum halves of 1 GiB of shared float64, beside
    forked children's first pass (each page a fault, as a worker's) and
    their second pass (pages already mapped: the memory-speed limit), with
    small and, where this machine allows, huge pages."""
    thp, word, free = huge_pages_available()
    print(f"   huge pages: transparent for shmem {'yes' if thp else 'no'} "
          f"(shmem_enabled={word}); reserved 2 MiB pages free: {free}",
          flush=True)
    ref = {m: shm_ref_best(ctx, m) for m in ("small", "thp")}
    first = ref["small"]["shm_sum2_gb_per_s"]
    limit = max(r["shm_sum2_second_gb_per_s"] for r in ref.values())
    huge_ref = ref["thp"]["shm_sum2_huge"] == 1
    off, _ = shm_sum_best(ctx, "off")
    rep.add("ptrun sum 1 GiB shm, hugepages off", off, "GB/s",
            "2 forked children, 1st pass", first, ("ratio", ">=", 0.9))
    auto, huge = shm_sum_best(ctx, "auto")
    name = "ptrun sum 1 GiB shm, hugepages auto" + (
        "" if huge else " (small)")
    rep.add(name, auto, "GB/s", "2 forked children, 1st pass", first,
            ("ratio", ">=", 0.9))
    rep.add(name, auto, "GB/s", "2nd pass (memory-speed limit)", limit,
            ("ratio", ">=", 0.5) if huge else None)
    if huge_ref:
        rep.add("2 forked children, 1st pass, THP", ref["thp"][
            "shm_sum2_gb_per_s"], "GB/s", "2nd pass (memory-speed limit)",
            limit)
    if free * 2 * 2 ** 20 < SHM_ELEMENTS * 8:
        rep.add("ptrun sum 1 GiB shm, hugepages on", None, "GB/s",
                why=f"{free} reserved huge pages free, 512 needed")
        return
    on, _ = shm_sum_best(ctx, "on")
    rep.add("ptrun sum 1 GiB shm, hugepages on", on, "GB/s",
            "2nd pass (memory-speed limit)", limit, ("ratio", ">=", 0.5))


def bench_result(rep, ctx):
    """Figure 4: a ~64 MiB result through the library vs a raw pipe."""
    kv = run_kv([ctx.bin("result_bench"), ctx.bench_kernel("blob"), "8"])
    mib = kv["result_bytes"] / 2 ** 20
    rep.add(f"remotecall_fetch {mib:.0f} MiB result", kv["result_lib_mb_per_s"],
            "MB/s", f"raw pipe ({kv['result_pipe_size'] / 1024:.0f} KiB)",
            kv["result_raw_mb_per_s"], ("ratio", ">=", 0.8))


def bench_startup(rep, ctx):
    """Figure 5: median `ptrun run` of one noop task vs fork+exec true."""
    spawn = ctx.bin("spawn_true")
    true = run_kv([spawn, "200"])["spawn_median_us"]
    out = os.path.join(ctx.tmp, "startup")
    os.mkdir(out)
    job = os.path.join(JOBS, "noop-200k.yaml")
    kv = run_kv([spawn, "20", ctx.ptrun, "run", job, "-q", "--set",
                 "steps.0.tasks.0.repeat=1", "--out",
                 os.path.join(out, "run-%d")])
    rep.add("ptrun run, 1 noop task (median)", kv["spawn_median_us"] / 1e3,
            "ms", "fork+exec /bin/true", true / 1e3, ("ratio", "<=", 3))


def bench_queue(rep, ctx):
    """Figure 6: pt_queue at 10^6 tasks, beside the bare heap's figures."""
    heap = {}
    r = subprocess.run([ctx.bin("heap_bench")], capture_output=True,
                       text=True, timeout=TIMEOUT)
    if r.returncode != 0:
        raise Failed(f"heap_bench exited {r.returncode}")
    for line in r.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3 and parts[2] == "ns":
            heap[parts[0]] = float(parts[1])
            rep.add(f"heap {parts[0]} (10^6, no queue)", heap[parts[0]], "ns")
    q = run_kv([ctx.bin("queue_bench")])
    rep.add("queue submit (10^6 waiting)", q["queue_submit_ns"], "ns",
            "heap push", heap.get("push"))
    rep.add("queue set_priority median", q["queue_set_priority_median_ns"],
            "ns", "heap update (mean)", heap.get("update"),
            ("value", "<=", 1000))
    rep.add("queue set_priority mean", q["queue_set_priority_mean_ns"], "ns",
            "heap update (mean)", heap.get("update"))
    rep.add("queue pop+run+result (2 workers)", q["queue_pop_ns"], "ns",
            "heap pop", heap.get("pop"))
    rep.add("queue bytes per waiting task", q["queue_bytes_per_task"], "B",
            target=("value", "<=", 200))


class Context:
    def __init__(self, build, tmp):
        self.build = build
        self.tmp = tmp
        self.ptrun = os.path.join(build, "ptrun")

    def bin(self, name):
        return os.path.join(self.build, "bench", name)

    def kernel(self, name):
        return os.path.join(self.build, "kernels", name + ".so")

    def bench_kernel(self, name):
        return os.path.join(self.build, "bench", "kernels", name + ".so")


def mpirun_cmd(ctx, n, job, out, *sets):
    mpirun = shutil.which("mpirun")
    if not mpirun or not os.path.exists(os.path.join(ctx.build, "ptrun-mpi")):
        raise Missing("no mpirun or no build/ptrun-mpi (MPI not installed)")
    cmd = [mpirun, "--oversubscribe", "-n", str(n), ctx.ptrun, "run",
           os.path.join(JOBS, job), "-q", "--out", out]
    for s in sets:
        cmd += ["--set", s]
    return cmd


def span_s(run_dir):
    """Seconds from the first task's start to the last one's end."""
    recs = results(run_dir)
    return (max(r["end_ns"] for r in recs) -
            min(r["start_ns"] for r in recs)) / 1e9


def bench_mpi(rep, ctx):
    """Figure 8: pi over 1..3 MPI ranks of 1 worker each (oversubscribed on
    this 2-core machine: read it as overhead, not speed-up), and the
    dispatch cost per task over MPI (rank 0 only dispatches) beside the
    local pipe path. Times are the tasks' span in results.jsonl, so mpirun's
    own start-up is left out."""
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    os.environ.setdefault("OMPI_MCA_mpi_warn_on_fork", "0")
    local = os.path.join(ctx.tmp, "mpi-pi-local")
    ptrun(ctx, "pi-2e8.yaml", local, "workersets.cpu.workers=1")
    for n in (1, 2, 3):
        out = os.path.join(ctx.tmp, f"mpi-pi-{n}")
        dt, rc, _, err = run_timed(mpirun_cmd(
            ctx, n, "pi-2e8.yaml", out, "workersets.cpu.workers=1"))
        if rc != 0:
            raise Failed(f"mpirun -n {n} pi: exit {rc}: {err}")
        count_ok(out, PI_TASKS)
        rep.add(f"pi 2e8 over MPI, {n} rank(s) x 1 worker",
                PI_SAMPLES / span_s(out), "samples/s",
                "one machine, 1 worker, no MPI", PI_SAMPLES / span_s(local))
    n_tasks = 20000
    sets = (f"steps.0.tasks.0.repeat={n_tasks}", "workersets.cpu.workers=1")
    here = os.path.join(ctx.tmp, "mn-l")
    ptrun(ctx, "noop-200k.yaml", here, *sets)
    out = os.path.join(ctx.tmp, "mn-m")
    cmd = mpirun_cmd(ctx, 2, "noop-200k.yaml", out, *sets)
    dt, rc, _, err = run_timed(cmd + ["--mpi-dedicated-root"])
    if rc != 0:
        raise Failed(f"mpirun -n 2 noop: exit {rc}: {err}")
    count_ok(out, n_tasks)
    if any(r.get("rank") != 1 for r in results(out)):
        raise Failed("--mpi-dedicated-root: a task ran on rank 0")
    rep.add("noop 20k, 1 worker on rank 1 (MPI): us per task",
            span_s(out) / n_tasks * 1e6, "us",
            "1 local worker (pipes)", span_s(here) / n_tasks * 1e6,
            ("ratio", "<=", 2))


# ---- issue 15: the dispatch redesign's figures ---------------------------


def bench_noop_1m(rep, ctx):
    """Figure 9: 10^6 no-op tasks, 2 workers, auto-batched, recorded."""
    sets = [f"steps.0.tasks.0.repeat={NOOP_1M}"]
    r = noop_run(ctx, "1m", *sets, "workersets.cpu.batch=auto", n=NOOP_1M)
    if r["rate"] is None:  # no `batch` key yet: the runner as it is
        r = noop_run(ctx, "1m-default", *sets, n=NOOP_1M)
    if r["rate"] is not None:
        shutil.rmtree(r["dir"], ignore_errors=True)
    pool_def = pool_ref(ctx, None, NOOP_1M)
    pool1 = getattr(ctx, "pool1", None)
    note1 = "Pool chunksize=1 timed on 200k items (10^6 would take ~40 s)"
    if pool1 is None:
        pool1 = pool_ref(ctx, 1)
    name, why = "ptrun noop 10^6, 2 workers", r.get("why")
    rep.add(name, r["rate"], "tasks/s", target=("value", ">=", 2e6), why=why)
    rep.add(name, r["rate"], "tasks/s", "Pool(2) default", pool_def,
            ("ratio", ">=", 1), why=why)
    rep.add(name, r["rate"], "tasks/s", "Pool(2) chunksize=1", pool1,
            ("ratio", ">=", 80), why=why, note=note1)


def busy_path(ctx):
    path = ctx.bench_kernel("busy")
    if not os.path.exists(path):
        raise Failed(f"no {path}: build first")
    return path


def iters_per_us(ctx):
    """Steps of busy_loop.h per microsecond on this machine, once a run."""
    if not getattr(ctx, "ipu", None):
        ctx.ipu = run_kv([ctx.bin("busy_ref"), "calibrate"])[
            "busy_iters_per_us"]
        print(f"   busy loop: {ctx.ipu:.0f} steps per us (calibrated)",
              flush=True)
    return ctx.ipu


def metg_point(ctx, d_us, workers=2):
    """One point of the sweep: ptrun's wall time for n tasks of d us
    beside 2 forked children running the same loop the same n times."""
    iters = max(1, round(d_us * iters_per_us(ctx)))
    n = int(METG_SECONDS * workers / (d_us * 1e-6))
    n = max(METG_MIN_TASKS, min(METG_MAX_TASKS, n))
    out = os.path.join(ctx.tmp, f"metg-{d_us}")
    dt = ref = math.inf
    for _ in range(BEST_OF):  # interleaved, so that both see the same load
        t, _, _ = ptrun(ctx, "busy.yaml", out,
                        f"kernels.busy.path={busy_path(ctx)}",
                        f"steps.0.tasks.0.args.iters={iters}",
                        f"steps.0.tasks.0.repeat={n}")
        count_ok(out, n)
        shutil.rmtree(out, ignore_errors=True)
        dt = min(dt, t)
        ref = min(ref, run_kv([ctx.bin("busy_ref"), "run", str(workers),
                               str(n), str(iters)])["busy_ref_seconds"])
    p = {"d": d_us, "n": n, "wall": dt, "ref": ref, "eff": ref / dt,
         "ideal": n * d_us * 1e-6 / workers,
         "gran": dt * workers / n * 1e6}  # Task Bench's time per task
    print(f"   d={d_us:>4} us: {n:>6} tasks, ptrun {dt:.3f} s, forked "
          f"{ref:.3f} s (nominal {p['ideal']:.3f} s): efficiency "
          f"{p['eff'] * 100:.1f} %, {p['gran']:.2f} us per task per worker",
          flush=True)
    return p


def metg_cross(points, threshold=0.5):
    """Task Bench's METG: the smallest time per task (wall x workers /
    tasks) whose efficiency reaches the threshold, interpolated linearly
    towards the next finer point below it; with the kernel's d there.
    (metg, d, why): metg None when the sweep does not cross."""
    pts = sorted(points, key=lambda p: p["d"])
    above = [i for i, p in enumerate(pts) if p["eff"] >= threshold]
    if not above:
        return None, None, f"below {threshold:.0%} at every d up to " \
                           f"{pts[-1]['d']} us"
    i = min(above, key=lambda k: pts[k]["gran"])
    if i == 0:
        return pts[0]["gran"], pts[0]["d"], None  # an upper bound
    lo, hi = pts[i - 1], pts[i]
    f = (threshold - lo["eff"]) / (hi["eff"] - lo["eff"])
    gran = lo["gran"] + f * (hi["gran"] - lo["gran"])
    d = math.exp(math.log(lo["d"]) + f * (math.log(hi["d"]) -
                                          math.log(lo["d"])))
    return gran, d, None


def bench_metg(rep, ctx):
    """Figure 10: METG(50%) by Task Bench's method (SC20): a compute-bound
    task of d us, many per worker, for d swept geometrically; efficiency =
    the ideal's time (the same loop in 2 forked children, first-free, no
    runner) / ptrun's wall time."""
    points = [metg_point(ctx, d) for d in METG_D_US]
    by_d = {p["d"]: p for p in points}
    ref = "2 forked children, same loop"
    for d, goal in ((1, None), (10, ("value", ">=", 90)), (100, None)):
        p = by_d[d]
        rep.add(f"METG sweep: efficiency at d = {d} us", p["eff"] * 100, "%",
                target=goal, note=f"ptrun {p['wall']:.3f} s, {ref} "
                f"{p['ref']:.3f} s, {p['n']} tasks")
    metg, d50, why = metg_cross(points)
    bound = metg is not None and d50 == points[0]["d"]
    rep.add("METG(50%): time per task per worker", metg, "us",
            target=("value", "<=", 1), why=why,
            note=("an upper bound: >= 50 % at the smallest d; " if bound
                  else "") + "Task Bench 1 node: MPI 0.39, Charm++ 0.87, "
            "OpenMP 45 us")
    rep.add("METG(50%): the task's own duration d", d50, "us", why=why)


def idle_gaps_ms(recs):
    """The longest time a worker sat idle while a task had not started yet
    (every task is queued at the step's start): between its tasks, and from
    the first start to its own first, up to the last task's start."""
    first = min(r["start_ns"] for r in recs)
    last = max(r["start_ns"] for r in recs)
    worst = 0
    by_worker = {}
    for r in recs:
        by_worker.setdefault(r["worker"], []).append(r)
    for rs in by_worker.values():
        rs.sort(key=lambda r: r["start_ns"])
        free = first
        for r in rs:
            if free < last:
                worst = max(worst, min(r["start_ns"], last) - free)
            free = max(free, r["end_ns"])
    return worst / 1e6


def bench_mixed(rep, ctx):
    """Figure 11: 2 FF workers, MIXED_LONG tasks of 200 ms among 20 000 of
    20 us: the tasks' span beside the ideal (total work / workers) and
    beside 2 forked children taking the same tasks first-free; and the
    longest a worker sat idle while tasks waited (the rule broken)."""
    ipu = iters_per_us(ctx)
    short = max(1, round(MIXED_SHORT_US * ipu))
    long_ = round(MIXED_LONG_MS * 1e3 * ipu)
    sets = [f"kernels.busy.path={busy_path(ctx)}"] + [
        f"steps.0.tasks.{k}.args.iters={long_ if k % 2 else short}"
        for k in range(2 * MIXED_LONG + 1)]
    out = os.path.join(ctx.tmp, "mixed")
    best, ref = None, math.inf
    for _ in range(BEST_OF):  # the run of the shortest span, and its gap
        dt, _, _ = ptrun(ctx, "mixed.yaml", out, *sets)
        count_ok(out, MIXED_SHORT + MIXED_LONG)
        run = (span_s(out), idle_gaps_ms(results(out)), dt)
        shutil.rmtree(out, ignore_errors=True)
        best = min(best or run, run)
        ref = min(ref, run_kv([ctx.bin("busy_ref"), "run", "2",
                               str(MIXED_SHORT), str(short), str(long_),
                               str(MIXED_LONG)])["busy_ref_seconds"])
    span, gap, dt = best
    ideal = (MIXED_SHORT * MIXED_SHORT_US * 1e-6 +
             MIXED_LONG * MIXED_LONG_MS * 1e-3) / 2
    name = f"mixed: {MIXED_LONG} x 200 ms among 20k x 20 us, span"
    rep.add(name, span, "s", "ideal: total work / 2", ideal,
            ("ratio", "<=", 1.05), note=f"whole ptrun {dt:.3f} s")
    rep.add(name, span, "s", "2 forked children, first-free", ref)
    rep.add("mixed: longest worker idle while tasks waited", gap, "ms",
            target=("value", "<=", 1))


def bench_prio(rep, ctx):
    """Figure 12: 10^5 small tasks in a pt_queue on 2 FF workers; while they
    run, 10^4 set_priority calls raise tasks not started yet (prio_bench)."""
    kv = run_kv([ctx.bin("prio_bench"), "100000", "10000"])
    unstarted = kv["prio_calls"] - kv["prio_busy_started"]
    rep.add("prio under load: changes honoured", kv["prio_honoured"],
            "calls", "calls on tasks not started", unstarted,
            ("ratio", ">=", 1),
            note=f"{kv['prio_calls']:.0f} calls, {kv['prio_busy_started']:.0f}"
            f" -EBUSY on started tasks")
    rep.add("prio under load: -EBUSY for a task not started",
            kv["prio_refused_unstarted"], "calls", target=("value", "<=", 0))
    rep.add("prio under load: honoured, then overtaken",
            kv["prio_overtaken"], "calls", target=("value", "<=", 0),
            note="a task never raised started (its worker claimed it) "
            "after the call returned and before the raised one")
    rep.add("prio under load: set_priority median", kv["prio_call_median_ns"],
            "ns", note=f"mean {kv['prio_call_mean_ns']:.0f} ns; "
            f"{kv['prio_tasks_per_s']:.3g} tasks/s meanwhile")


# A fresh interpreter forks ptrun and reports its peak RSS: a child
# started from this (large) process would count this one's pages as its own
# peak (wait4 keeps the high-water mark of the memory it was forked with).
RSS_WRAP = ("import os, sys, time\n"
            "t0 = time.perf_counter()\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    fd = os.open(os.devnull, os.O_RDWR)\n"
            "    os.dup2(fd, 0), os.dup2(fd, 1)\n"
            "    os.execv(sys.argv[1], sys.argv[1:])\n"
            "_, status, ru = os.wait4(pid, 0)\n"
            "print(time.perf_counter() - t0, ru.ru_maxrss,\n"
            "      os.waitstatus_to_exitcode(status))\n")


def ptrun_own_rss(ctx, job, out, *sets):
    """Run `ptrun run` on a job: (seconds, its own peak RSS KiB)."""
    cmd = [sys.executable, "-c", RSS_WRAP, ctx.ptrun, "run",
           os.path.join(JOBS, job), "-q", "--out", out]
    for s in sets:
        cmd += ["--set", s]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failed(f"ptrun {job}: killed after {TIMEOUT} s")
    dt, rss, rc = r.stdout.split()
    if int(rc) != 0:
        raise Failed(f"ptrun {job} exited {rc}: {r.stderr.strip()}")
    return float(dt), int(rss)


def bench_big(rep, ctx):
    """Figure 13: a `repeat` of BIG_TASKS noop tasks: the runner's peak RSS
    (wait4) beside a one-task run's, and bytes per task."""
    n = ctx.big_tasks
    one = os.path.join(ctx.tmp, "big-1")
    _, base = ptrun_own_rss(ctx, "noop-200k.yaml", one,
                            "steps.0.tasks.0.repeat=1")
    out = os.path.join(ctx.tmp, "big")
    dt, rss = ptrun_own_rss(ctx, "noop-200k.yaml", out,
                            f"steps.0.tasks.0.repeat={n}")
    count_ok(out, n)
    shutil.rmtree(out, ignore_errors=True)
    per_task = (rss - base) * 1024 / n
    scaled = "" if n == BIG_TASKS else f"scaled down from 10^7 to {n}; "
    rep.add(f"ptrun peak RSS, repeat of {n} noop", rss / 1024, "MiB",
            "1-task run", base / 1024, note=f"{scaled}{dt:.1f} s")
    rep.add(f"ptrun bytes per task, {n} tasks", per_task, "B",
            target=("value", "<=", 100))
    rep.add("ptrun peak RSS at 10^7 tasks", (base * 1024 + per_task *
            BIG_TASKS) / 2 ** 30, "GiB", target=("value", "<=", 1),
            note="measured" if n == BIG_TASKS else
            f"extrapolated from {n} tasks")


def bench_exec(rep, ctx):
    """Figure 14: /bin/true as 2000 tasks (the exec kernel, 2 workers)
    beside GNU Parallel -j2 on the same 2000 jobs; times, best of BEST_OF."""
    exe = shutil.which("parallel")
    if not exe:
        raise Failed("GNU Parallel not found (scripts/deps.sh bench)")
    par_cmd = [exe, "--will-cite", "-j2", "/bin/true", ":::"] + [
        str(i) for i in range(1, PARALLEL_JOBS + 1)]
    ours, theirs = [], []
    for k in range(BEST_OF):
        out = os.path.join(ctx.tmp, f"exec-{k}")
        dt, _, _ = ptrun(ctx, "exec-true.yaml", out)
        count_ok(out, PARALLEL_JOBS)
        ours.append(dt)
        dt, rc, _, err = run_timed(par_cmd, cwd=ctx.tmp)
        if rc != 0:
            raise Failed(f"parallel exited {rc}: {err}")
        theirs.append(dt)
    rep.add(f"ptrun exec /bin/true x{PARALLEL_JOBS}", min(ours), "s",
            "GNU Parallel -j2", min(theirs), target=("ratio", "<=", 1))


SECTIONS = [  # (name for --only, title, function); the index is the number
    ("rpc", "remotecall round trips (rpc_bench)", bench_rpc),
    ("noop", "1. task throughput: 200k no-op tasks, 2 workers", bench_noop),
    ("pi", "2. pi, 2e8 samples in 8 tasks", bench_pi),
    ("shm", "3. shared memory: sum 1 GiB", bench_shm),
    ("result", "4. result bandwidth", bench_result),
    ("startup", "5. start-up", bench_startup),
    ("queue", "6. queue at 10^6 tasks", bench_queue),
    ("memory", "7. memory", bench_memory),
    ("mpi", "8. MPI: pi over 1-3 ranks, dispatch per task", bench_mpi),
    ("noop1m", "9. task throughput: 10^6 no-op tasks, 2 workers",
     bench_noop_1m),
    ("metg", "10. METG(50%): busy tasks of d us, 2 workers", bench_metg),
    ("mixed", "11. mixed durations: 4 x 200 ms among 20k x 20 us, 2 FF "
     "workers", bench_mixed),
    ("prio", "12. priority changes under load: 10^4 among 10^5 tasks",
     bench_prio),
    ("big", "13. runner memory: a repeat of 10^7 noop tasks", bench_big),
    ("exec", "14. exec: /bin/true x 2000, 2 workers, beside GNU Parallel",
     bench_exec),
]


def only_list(text):
    """--only's value: section numbers and names, comma-separated."""
    names = {k: i for i, (k, _, _) in enumerate(SECTIONS)}
    picked = set()
    for w in filter(None, (w.strip() for w in text.split(","))):
        if w.isdigit() and int(w) < len(SECTIONS):
            picked.add(int(w))
        elif w in names:
            picked.add(names[w])
        else:
            raise argparse.ArgumentTypeError(f"no section {w!r}")
    return picked


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--pool":
        n, chunk = int(sys.argv[2]), int(sys.argv[3]) or None
        print(f"pool_tasks_per_s {pool_rate(n, chunk)}")
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--only", metavar="S[,S...]", type=only_list,
                    help="run only these sections, by number or name: " +
                    ", ".join(f"{i} {k}" for i, (k, _, _) in
                              enumerate(SECTIONS)))
    ap.add_argument("--big-tasks", type=int, default=BIG_DEFAULT,
                    metavar="N", help="tasks of figure 13 (10^7 is the "
                    f"goal; default {BIG_DEFAULT}, ~1 min before the lazy "
                    "plan)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    if not os.access(os.path.join(build, "ptrun"), os.X_OK):
        print(f"run_bench: no {build}/ptrun: build first", file=sys.stderr)
        return 2
    rep = Report()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ptools-bench-") as tmp:
        ctx = Context(build, tmp)
        ctx.big_tasks = args.big_tasks
        for i, (key, title, fn) in enumerate(SECTIONS):
            if args.only is None or i in args.only:
                section(rep, title, fn, ctx)
    path = os.path.join(build, "bench.json")
    rep.write(path)
    missed = sum(f["met"] is False for f in rep.figures)
    missing = sum(f["value"] is None for f in rep.figures)
    print(f"-- {len(rep.figures)} figures in {time.perf_counter() - t0:.0f} s: "
          f"{missed} targets missed, {missing} missing, {rep.errors} "
          f"benchmarks failed; written to {path}")
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main())
