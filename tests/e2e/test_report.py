"""End-to-end tests of `ptrun report`: a real run folder made into a page,
the page drawn by headless Chromium, what it drew checked in its DOM.

Run by ctest with PTRUN (the binary), SRC (the source tree), TEST_KERNELS
(build/tests/kernels) and ARTIFACTS (where the screenshot goes; default
build/test-artifacts) in the environment. Chromium is required: without it
the tests fail (`scripts/deps.sh test` installs it).
"""
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

from e2e_util import PTRUN, SRC, STATUSES, results, ptrun_kernel_path as ptrun

ARTIFACTS = os.environ.get("ARTIFACTS") or os.path.join(
    os.path.dirname(PTRUN), "test-artifacts")
SPEC = os.path.join(SRC, "tests", "specs", "report.yaml")
COLOURS = {"ok": (0x2f, 0x9e, 0x44), "failed": (0xf7, 0x67, 0x07),
           "crashed": (0xe0, 0x31, 0x31), "timeout": (0x70, 0x48, 0xe8)}


def attempts(rows):
    return sum(1 + len(r.get("earlier_attempts", [])) for r in rows)


def embedded(html, block):
    """The JSON of one of the page's <script type="application/json">."""
    m = re.search(r'<script type="application/json" id="%s">(.*?)</script>'
                  % block, html, re.S)
    return json.loads(m.group(1))


def png_pixels(path):
    """Width, height and the set of RGB colours of an 8-bit RGB(A) PNG."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, head = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = head
    assert depth == 8 and ctype in (2, 6) and interlace == 0, head
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    prev, colours = bytearray(stride), set()
    for y in range(h):
        ftype = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the row's filter (PNG spec, 9.2)
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                row[i] = (row[i] + a) & 255
            elif ftype == 2:
                row[i] = (row[i] + b) & 255
            elif ftype == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[i] = (row[i] + pred) & 255
        colours.update(tuple(row[i:i + 3]) for i in range(0, stride, bpp))
        prev = row
    return w, h, colours


class Report(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="ptrun-report-")
        cls.run_dir = os.path.join(cls.tmp.name, "run")
        p = ptrun("run", SPEC, "--out", cls.run_dir, "-q")
        assert p.returncode == 1, p.stderr  # some tasks are not ok
        cls.rows = results(cls.run_dir)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def chromium(self, page, *args):
        exe = shutil.which("chromium")
        self.assertIsNotNone(exe, "chromium is not installed "
                             "(scripts/deps.sh test installs it)")
        with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
            p = subprocess.run(
                [exe, "--headless=new", "--no-sandbox", "--disable-gpu",
                 "--user-data-dir=" + profile, "--virtual-time-budget=10000",
                 *args, "file://" + os.path.abspath(page)],
                capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def report(self, *args):
        p = ptrun("report", *args)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def test_the_job(self):
        self.assertEqual(len(self.rows), 18)
        self.assertEqual(attempts(self.rows), 21)

    def test_page_draws_every_attempt(self):
        p = self.report(self.run_dir)
        page = os.path.join(self.run_dir, "report.html")
        self.assertEqual(p.stdout, "report in %s\n" % page)
        dom = self.chromium(page, "--dump-dom")
        self.assertIn('data-rendered="1"', dom)
        svg = re.search(r'<svg id="timeline"[^>]*>.*?</svg>', dom, re.S)
        self.assertIsNotNone(svg, "no timeline")
        svg = svg.group(0)
        n = attempts(self.rows)
        self.assertEqual(svg.count('<rect class="slice"'), n)
        for attr in ("data-slices", "data-total", "data-drawn"):
            self.assertIn('%s="%d"' % (attr, n), svg)
        for lane in ("cpu/0", "cpu/1", "cpu/2", "io/0"):
            self.assertIn(">%s</text>" % lane, svg)
        self.assertIn("attempt 1 of 2", svg)  # a retried task's first try
        for status in STATUSES:
            want = sum(r["status"] == status for r in self.rows)
            self.assertIn('id="count-%s">%d<' % (status, want), dom)
        self.assertIn('id="count-tasks">18<', dom)
        self.assertIn('id="count-attempts">21<', dom)
        kernels = re.findall(r'<svg class="hist" data-kernel="(\w+)"', dom)
        self.assertEqual(sorted(kernels),
                         ["echo", "fail", "hang", "segv", "sleep"])

    def test_failures_legend_and_steps(self):
        """The failures table (by task id), a legend entry per kernel (its
        colour, as on its bars) and per status seen (an outline), a mark
        where each step begins."""
        page = self.path("failures.html")
        self.report(self.run_dir, "--out", page)
        dom = self.chromium(page, "--dump-dom")
        self.assertIn('data-rendered="1"', dom)
        table = re.search(r'<table id="failures-table">(.*?)</table>', dom,
                          re.S).group(1)
        rows = [[re.sub(r"<[^>]*>", "", c) for c in
                 re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
                for tr in re.findall(r"<tr>(.*?)</tr>", table, re.S)
                if "<td" in tr]
        segv = "worker killed by signal 11 (Segmentation fault)"
        self.assertEqual(rows, [
            ["11", "fail", "failed", "1", "asked to fail: 3"],
            ["12", "segv", "crashed", "2", segv],
            ["13", "segv", "crashed", "2", segv],
            ["14", "hang", "timeout", "2", "timed out after 300 ms"]])
        legend = re.search(r'<p class="legend" id="legend">(.*?)</p>', dom,
                           re.S).group(1)
        items = re.findall(r'<span class="item" id="legend-(\w+)-(\w+)">'
                           r'(.*?)</span>(?=<span class="item"|$)', legend,
                           re.S)
        self.assertEqual(
            [(kind, name, re.sub(r"<[^>]*>", "", text))
             for kind, name, text in items],
            [("kernel", "echo", "echo (7 attempts)"),
             ("kernel", "sleep", "sleep (7 attempts)"),
             ("kernel", "fail", "fail (1 attempt)"),
             ("kernel", "segv", "segv (4 attempts)"),
             ("kernel", "hang", "hang (2 attempts)"),
             ("status", "ok", "ok (14 attempts)"),
             ("status", "failed", "failed (1 attempt)"),
             ("status", "crashed", "crashed (4 attempts)"),
             ("status", "timeout", "timeout (2 attempts)")])
        colour = dict(re.findall(r'id="legend-kernel-(\w+)"><span '
                                 r'class="swatch" style="background:'
                                 r'(#[0-9a-f]{6})', legend))
        self.assertEqual(len(set(colour.values())), 5, colour)
        svg = re.search(r'<svg id="timeline".*?</svg>', dom, re.S).group(0)
        for bar in re.findall(r'<rect class="slice"[^>]*>', svg):
            kernel = re.search(r'data-kernel="(\w+)"', bar).group(1)
            status = re.search(r'data-status="(\w+)"', bar).group(1)
            self.assertIn('fill="%s"' % colour[kernel], bar)
            self.assertEqual("stroke=" in bar, status != "ok", bar)
        self.assertEqual(re.findall(r'<line class="step-mark" '
                                    r'data-step="(\w+)"', svg),
                         ["warm", "faults"])
        self.assertIn(">step 2 faults</text>", svg)

    def test_page_loads_nothing(self):
        page = self.path("self-contained.html")
        self.report(self.run_dir, "--out", page)
        with open(page) as f:
            html = f.read()
        loads = re.findall(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//|'
                           r'url\(\s*["\']?\s*(?:https?:)?//|@import',
                           html, re.I)
        self.assertEqual(loads, [])
        self.assertNotRegex(html, r"<link\b|<script[^>]*\bsrc\s*=")
        self.assertIn("default-src 'none'", html)  # the CSP forbids loads

    def test_data_is_embedded_verbatim(self):
        page = self.path("verbatim.html")
        self.report(self.run_dir, "--out", page)
        with open(page) as f:
            html = f.read()
        self.assertEqual(embedded(html, "results"), self.rows)
        with open(os.path.join(self.run_dir, "manifest.json")) as f:
            self.assertEqual(embedded(html, "manifest"), json.load(f))
        self.assertNotIn("</script><!--", html)  # the echo task's string
        self.assertIn(r"<\/script><\u0021--<script>", html)

    def test_blank_and_torn_lines(self):
        run = self.path("torn")
        os.mkdir(run)
        shutil.copy(os.path.join(self.run_dir, "manifest.json"), run)
        with open(os.path.join(self.run_dir, "results.jsonl")) as f:
            lines = f.read()
        with open(os.path.join(run, "results.jsonl"), "w") as f:
            f.write("\n  \n" + lines.replace("\n", "\n\n", 3) +
                    '{"task": 99, "stat')  # a line still being written
        self.report(run)
        with open(os.path.join(run, "report.html")) as f:
            self.assertEqual(embedded(f.read(), "results"), self.rows)
        self.assertEqual(sorted(os.listdir(run)),
                         ["manifest.json", "report.html", "results.jsonl"])

    def test_screenshot(self):
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "report.png")
        if os.path.exists(shot):
            os.unlink(shot)
        page = self.path("shot.html")
        self.report(self.run_dir, "--out", page)
        self.chromium(page, "--hide-scrollbars", "--screenshot=" + shot,
                      "--window-size=1400,900")
        self.assertGreater(os.path.getsize(shot), 20000)
        w, h, colours = png_pixels(shot)
        self.assertEqual((w, h), (1400, 900))
        self.assertGreater(len(colours), 50)
        for status, rgb in COLOURS.items():
            self.assertIn(rgb, colours, status + " is not on screen")

    def test_not_a_run_folder(self):
        missing = self.path("no-such-run")
        p = ptrun("report", missing)
        self.assertEqual(p.returncode, 2)
        self.assertIn(missing, p.stderr)
        self.assertFalse(os.path.exists(missing))
        half = self.path("half")
        os.mkdir(half)
        shutil.copy(os.path.join(self.run_dir, "manifest.json"), half)
        p = ptrun("report", half)
        self.assertEqual(p.returncode, 2)
        self.assertIn(os.path.join(half, "results.jsonl"), p.stderr)
        self.assertEqual(os.listdir(half), ["manifest.json"])
        self.assertEqual(ptrun("report").returncode, 2)
        self.assertEqual(ptrun("report", half, half).returncode, 2)

    def test_unwritable_output(self):
        out = self.path("no-such-dir/report.html")
        p = ptrun("report", self.run_dir, "--out", out)
        self.assertEqual(p.returncode, 3)
        self.assertIn(out + ".tmp", p.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(out)))

    def test_help(self):
        p = ptrun("--help")
        self.assertIn("ptrun report DIR [--out FILE]", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
