"""End-to-end tests of the probe cache (runner/spec/probe_cache.h): a
kernel or plugin .so that passed its probe is not loaded again at the next
`ptrun check` or `ptrun run` (its report is kept in $PTRUN_CACHE_DIR/probe),
a rebuilt .so at the same path (even with its old modification time) is
probed again and its new params are seen, a refusal is never kept, and
PTRUN_CACHE_DIR=off turns the cache off.

The kernel built here counts its loads: its constructor appends a line to
$PT_TEST_CTOR_LOG, and `ptrun check` loads kernels only in probes.

Run by ctest with PTRUN (the binary) and SRC (the source tree) in the
environment.
"""
import os
import subprocess
import tempfile
import unittest

PTRUN = os.environ["PTRUN"]
SRC = os.environ["SRC"]

KERNEL = r"""
#include <stdio.h>
#include <stdlib.h>
#include <ptools/kernel.h>

__attribute__((constructor)) static void loaded(void)
{
    const char *log = getenv("PT_TEST_CTOR_LOG");
    FILE *f = log ? fopen(log, "a") : NULL;
    if (f) {
        fputs("loaded\n", f);
        fclose(f);
    }
}

static const pt_param params[] = {{"@NAME@", PT_PARAM_INT, "0", "a count"},
                                  {NULL}};
static int call(pt_ctx *ctx) { (void)ctx; return 0; }
static const pt_kernel k = {.abi = PT_KERNEL_ABI, .name = "counted",
                            .doc = "counts its loads", .call = call,
                            .params = params};
PT_KERNELS(&k);
"""

SPEC = """ptrun: 1
name: cached
kernels:
  counted: {path: ./counted.so}
workersets: [{name: w, workers: 1}]
steps:
  - name: s
    tasks:
      - {kernel: counted, args: {n: 1}}
"""


class ProbeCache(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ptrun-probe-cache-")
        self.dir = self.tmp.name
        self.cache = os.path.join(self.dir, "cache")
        self.log = os.path.join(self.dir, "loads.txt")
        self.so = os.path.join(self.dir, "counted.so")
        self.spec = os.path.join(self.dir, "job.yaml")
        with open(self.spec, "w") as f:
            f.write(SPEC)
        self.build("n")

    def tearDown(self):
        self.tmp.cleanup()

    def build(self, param, out=None):
        """counted.so (or `out`) declaring one int param named `param`."""
        src = os.path.join(self.dir, "counted.c")
        with open(src, "w") as f:
            f.write(KERNEL.replace("@NAME@", param))
        subprocess.run(["cc", "-shared", "-fPIC", "-I",
                        os.path.join(SRC, "include"), "-o", out or self.so,
                        src], check=True)

    def ptrun(self, *args, cache=None):
        env = dict(os.environ, PT_TEST_CTOR_LOG=self.log,
                   PTRUN_CACHE_DIR=cache or self.cache)
        return subprocess.run([PTRUN, *args], capture_output=True, text=True,
                              timeout=120, cwd=self.dir, env=env)

    def loads(self):
        if not os.path.exists(self.log):
            return 0
        with open(self.log) as f:
            return len(f.read().splitlines())

    def kept(self):
        d = os.path.join(self.cache, "probe")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def test_a_passed_probe_is_kept_and_reused(self):
        p = self.ptrun("check", self.spec)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.loads(), 1)
        # the kernel's (the default jsonl is built into ptrun: no probe)
        self.assertEqual(len(self.kept()), 1)
        for _ in range(2):
            p = self.ptrun("check", self.spec)
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.loads(), 1)
        # a run takes the kept report too: its one load is its worker's
        p = self.ptrun("run", self.spec, "--out", "out", "-q")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.loads(), 2)
        self.assertEqual(len(self.kept()), 1)

    def test_a_rebuilt_library_is_probed_again(self):
        p = self.ptrun("check", self.spec)
        self.assertEqual(p.returncode, 0, p.stderr)
        st = os.stat(self.so)
        # rebuilt in place (same path, same inode) with param m, not n, and
        # its old times put back: only its content says it changed
        new = os.path.join(self.dir, "new.so")
        self.build("m", new)
        with open(new, "rb") as f:
            data = f.read()
        with open(self.so, "r+b") as f:
            f.write(data)
            f.truncate()
        os.utime(self.so, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assertEqual(os.stat(self.so).st_ino, st.st_ino)
        p = self.ptrun("check", self.spec)
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertEqual(p.stderr, "%s:9:34: unknown arg 'n' for kernel "
                         "'counted' (it takes: m)\n" % self.spec)
        self.assertEqual(self.loads(), 2)
        self.assertEqual(len(self.kept()), 2)  # the old report stays

    def test_a_refusal_is_not_kept(self):
        with open(self.spec, "a") as f:
            f.write("      - {kernel: other, args: {n: 1}}\n")
        with open(self.spec) as f:
            text = f.read()
        with open(self.spec, "w") as f:  # a name the .so does not hold
            f.write(text.replace(
                "  counted: {path: ./counted.so}\n",
                "  counted: {path: ./counted.so}\n"
                "  other: {path: ./counted.so, name: othre}\n"))
        for n in (1, 2):
            p = self.ptrun("check", self.spec)
            self.assertEqual(p.returncode, 2, p.stdout)
            self.assertIn("othre", p.stderr)
            self.assertEqual(self.loads(), n)
        self.assertEqual(self.kept(), [])  # (the jsonl is built in)

    def test_off_keeps_nothing(self):
        for n in (1, 2):
            p = self.ptrun("check", self.spec, cache="off")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(self.loads(), n)
        self.assertFalse(os.path.exists(self.cache))


if __name__ == "__main__":
    unittest.main()
