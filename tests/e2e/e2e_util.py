"""What the e2e tests share: the environment tests/CMakeLists.txt gives
them, running ptrun, reading run folders, /dev/shm, and waiting for a
condition. The tests are run as scripts, so this folder is sys.path[0]:
`from e2e_util import ...` finds this file."""

import glob
import json
import os
import re
import subprocess
import time

PTRUN = os.environ["PTRUN"]
# Every test sees ptrun probe its kernels (a constructor's stderr, a
# refusal), whatever an earlier run left in ~/.cache/ptools: the probe
# cache is off unless a test turns it on (test_probe_cache does).
os.environ.setdefault("PTRUN_CACHE_DIR", "off")
SRC = os.environ["SRC"]
# not given to every test (e2e_mpi, e2e_quickstart): None there
TEST_KERNELS = os.environ.get("TEST_KERNELS")
# the shipped kernels (exec.so, ...), built next to ptrun
KERNELS = os.path.join(os.path.dirname(PTRUN), "kernels")
STATUSES = ("ok", "failed", "crashed", "timeout", "cancelled")


def ptrun(*args, cwd=None, env=None, timeout=120, input=None):
    """Run ptrun to its end: stdout and stderr captured as text."""
    return subprocess.run([PTRUN, *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout, input=input)


def ptrun_kernel_path(*args, **kwargs):
    """ptrun(...) with PTRUN_KERNEL_PATH=TEST_KERNELS: specs name the test
    kernels by name alone."""
    env = dict(os.environ, PTRUN_KERNEL_PATH=TEST_KERNELS)
    return ptrun(*args, env=env, **kwargs)


def results(run_dir):
    """The lines of run_dir/results.jsonl as dicts, in file order (the
    run has ended: a line without its end is an error)."""
    with open(os.path.join(run_dir, "results.jsonl")) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "a half line in results.jsonl"
    return [json.loads(line) for line in text.splitlines()]


def sorted_results(run_dir):
    """results(run_dir) in task order."""
    return sorted(results(run_dir), key=lambda r: r["task"])


def manifest(run_dir):
    with open(os.path.join(run_dir, "manifest.json")) as f:
        return json.load(f)


def shm_entries():
    """ptools segments, less those of the unit tests (ptools_t<pid>_<n>_),
    which ctest may run at the same time."""
    return {e for e in os.listdir("/dev/shm") if e.startswith("ptools_")
            and not re.match(r"ptools_t\d+_\d+_", e)}


def own_prefixes(folder):
    """The segment prefixes of the jobs run from folder: from the job.yaml
    of every run folder below it (other e2e suites run at the same time
    and have segments of their own)."""
    found = set()
    for job in glob.glob(os.path.join(folder, "**", "job.yaml"),
                         recursive=True):
        with open(job) as f:
            text = f.read()
        m = re.search(r"^\s*prefix:\s*(\S+)", text, re.M) or \
            re.search(r"^name:\s*(\S+)", text, re.M)
        if m:
            found.add("ptools_%s_" % m.group(1).strip("'\""))
    return found


def wait_for(cond, what="a condition", limit=60.0):
    """Poll until cond() is true (a condition, not a guessed time): a busy
    machine only makes it slower."""
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.01)


def children(zombies=True):
    """Pids of this process's children (zombies too, unless told not):
    ptrun's orphans once it has ended."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
        if int(ppid) == os.getpid() and (zombies or state != "Z"):
            found.append(int(d))
    return found
