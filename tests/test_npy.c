/*
 * test_npy.c - pt_npy_*: round trips, real NumPy files both ways, and every
 * way a file can be refused.
 *
 * The fixtures in tests/data were written once by NumPy 1.24 through
 * tests/data/make_fixtures.py (run it with /usr/bin/python3 to regenerate);
 * their values follow the formulas of fill() below. The python cases run
 * PT_TEST_PYTHON and fail (not skip) when it or its numpy is missing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ptools/npy.h>

#include "harness.h"

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

extern char **environ;

/* Assert that pt_errmsg() contains `sub`, printing the message if not. */
#define ASSERT_MSG_HAS(sub)                                                    \
    do {                                                                       \
        bool has_ = strstr(pt_errmsg(), (sub)) != NULL;                        \
        if (!has_)                                                             \
            fprintf(stderr, "  %s:%d: errmsg \"%s\" lacks \"%s\"\n", __FILE__, \
                    __LINE__, pt_errmsg(), (sub));                             \
        CU_ASSERT(has_);                                                       \
    } while (0)

static const pt_dtype all_types[] = {
    PT_INT8,   PT_INT16,  PT_INT32,  PT_INT64,   PT_UINT8,
    PT_UINT16, PT_UINT32, PT_UINT64, PT_FLOAT32, PT_FLOAT64,
};

/* NumPy's descr of each type, as np.save writes it. */
static const char *descr(pt_dtype t)
{
    static const char *const d[PT_DTYPE_COUNT] = {
        [PT_INT8] = "|i1",    [PT_INT16] = "<i2",  [PT_INT32] = "<i4",
        [PT_INT64] = "<i8",   [PT_UINT8] = "|u1",  [PT_UINT16] = "<u2",
        [PT_UINT32] = "<u4",  [PT_UINT64] = "<u8", [PT_FLOAT32] = "<f4",
        [PT_FLOAT64] = "<f8",
    };
    return d[t];
}

/*
 * The test values of element i (make_fixtures.py has the same): signed
 * i*3 - 5, unsigned max - i, floating i*0.25 - 1.
 */
static void fill(pt_dtype t, uint64_t n, void *buf)
{
    for (uint64_t i = 0; i < n; i++) {
        int64_t s = (int64_t)i * 3 - 5;
        double f = (double)i * 0.25 - 1;
        switch (t) {
        case PT_INT8: ((int8_t *)buf)[i] = (int8_t)s; break;
        case PT_INT16: ((int16_t *)buf)[i] = (int16_t)s; break;
        case PT_INT32: ((int32_t *)buf)[i] = (int32_t)s; break;
        case PT_INT64: ((int64_t *)buf)[i] = s; break;
        case PT_UINT8: ((uint8_t *)buf)[i] = (uint8_t)(UINT8_MAX - i); break;
        case PT_UINT16:
            ((uint16_t *)buf)[i] = (uint16_t)(UINT16_MAX - i);
            break;
        case PT_UINT32:
            ((uint32_t *)buf)[i] = (uint32_t)(UINT32_MAX - i);
            break;
        case PT_UINT64: ((uint64_t *)buf)[i] = UINT64_MAX - i; break;
        case PT_FLOAT32: ((float *)buf)[i] = (float)f; break;
        case PT_FLOAT64: ((double *)buf)[i] = f; break;
        default: break;
        }
    }
}

static uint64_t count(int ndims, const uint64_t *dims)
{
    uint64_t n = 1;
    for (int i = 0; i < ndims; i++)
        n *= dims[i];
    return n;
}

#define PATH_BUF 512

/* `dir`/`name` in `buf` (PATH_BUF bytes). */
static const char *join(char *buf, const char *dir, const char *name)
{
    snprintf(buf, PATH_BUF, "%s/%s", dir, name);
    return buf;
}

/* A fixture's path, valid until the next call. */
static const char *fixture(const char *name)
{
    static char buf[PATH_BUF];
    return join(buf, PT_TEST_DATA_DIR, name);
}

/* The whole content of `path` (malloc'd) and its size; NULL if unreadable. */
static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = malloc(1 << 20);
    *size = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL(f);
    if (!f)
        return;
    CU_ASSERT_EQUAL(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Write a .npy by hand: magic, version major.0, `header` as given, data. */
static void write_rawn(const char *path, int major, const char *header,
                       size_t hlen, const void *data, size_t n)
{
    unsigned char buf[4096];
    size_t plen = major == 1 ? 10 : 12;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < plen - 8; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    CU_ASSERT(plen + hlen + n <= sizeof buf);
    memcpy(buf + plen, header, hlen);
    if (n)
        memcpy(buf + plen + hlen, data, n);
    write_bytes(path, buf, plen + hlen + n);
}

static void write_raw(const char *path, int major, const char *header,
                      const void *data, size_t n)
{
    write_rawn(path, major, header, strlen(header), data, n);
}

/* Entries in `dir` other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Remove `dir` and the files in it (the big cases clean up after them). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    char path[PATH_BUF];
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlink(join(path, dir, e->d_name));
    closedir(d);
    rmdir(dir);
}

/* Load `path` expecting failure `code` with both substrings in the message. */
static void expect_load_fails(const char *path, pt_dtype t, int ndims,
                              const uint64_t *dims, int code, const char *sub1,
                              const char *sub2)
{
    static double buf[64];
    uint64_t nbytes = count(ndims, dims) * pt_dtype_size(t);
    CU_ASSERT(nbytes <= sizeof buf);
    CU_ASSERT_EQUAL(pt_npy_load(path, t, ndims, dims, buf, nbytes), code);
    ASSERT_MSG_HAS(path);
    if (sub1)
        ASSERT_MSG_HAS(sub1);
    if (sub2)
        ASSERT_MSG_HAS(sub2);
}

/* Load `path` of the given type and shape and compare with fill(). */
static void expect_values(const char *path, pt_dtype t, int ndims,
                          const uint64_t *dims)
{
    uint64_t n = count(ndims, dims), nbytes = n * pt_dtype_size(t);
    void *got = malloc(nbytes + 1), *want = malloc(nbytes + 1);
    fill(t, n, want);
    int rc = pt_npy_load(path, t, ndims, dims, got, nbytes);
    if (rc != 0)
        fprintf(stderr, "  %s: %s\n", path, pt_errmsg());
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(memcmp(got, want, nbytes), 0);
    free(got);
    free(want);
}

/* ---- python ------------------------------------------------------------ */

/* Run PT_TEST_PYTHON with `argv` after it: its exit status, or -1. */
static int run_python(const char *const *args)
{
    const char *argv[32] = {PT_TEST_PYTHON};
    size_t n = 1;
    for (; args[n - 1] && n < LEN(argv) - 1; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    pid_t pid;
    if (posix_spawn(&pid, PT_TEST_PYTHON, NULL, NULL, (char *const *)argv,
                    environ) != 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Whether /usr/bin/python3 with numpy is there; if not, the case fails with
 * a message saying how to get it (a skipped test would hide the gap).
 */
static bool have_numpy(void)
{
    const char *py = PT_TEST_PYTHON;
    if (py[0] == '\0' || strstr(py, "NOTFOUND")) {
        fprintf(stderr, "  /usr/bin/python3 was not found at configure time: "
                        "install python3-numpy and re-run cmake\n");
        CU_FAIL("python3 with numpy is required (PT_TEST_PYTHON not found)");
        return false;
    }
    const char *args[] = {"-c", "import numpy", NULL};
    if (run_python(args) != 0) {
        fprintf(stderr, "  %s cannot import numpy: install python3-numpy\n",
                py);
        CU_FAIL("python3 with numpy is required (import numpy failed)");
        return false;
    }
    return true;
}

/* Python's copy of fill(), and a parser of the "name:descr:shape:v" specs. */
#define PY_COMMON                                                              \
    "import io, os, sys\n"                                                     \
    "import numpy as np\n"                                                     \
    "import numpy.lib.format as fmt\n"                                         \
    "def values(dt, shape):\n"                                                 \
    "    dt = np.dtype(dt)\n"                                                  \
    "    i = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)\n" \
    "    if dt.kind == 'i':\n"                                                 \
    "        v = (i * 3 - 5).astype(dt)\n"                                     \
    "    elif dt.kind == 'u':\n"                                               \
    "        v = (np.iinfo(dt).max - i.astype(np.uint64)).astype(dt)\n"        \
    "    else:\n"                                                              \
    "        v = (i * 0.25 - 1).astype(dt)\n"                                  \
    "    return v.reshape(shape)\n"                                            \
    "def specs():\n"                                                           \
    "    for s in sys.argv[2:]:\n"                                             \
    "        name, dt, shape, ver = s.split(':')\n"                            \
    "        shape = tuple(int(x) for x in shape.split(',') if x)\n"           \
    "        ver = (int(ver), 0) if int(ver) else None\n"                      \
    "        yield os.path.join(sys.argv[1], name), dt, shape, ver\n"

typedef struct py_array {
    const char *name;
    pt_dtype type;
    int ndims;
    uint64_t dims[3];
    int version; /* 0: np.save's choice */
} py_array;

static const py_array py_arrays[] = {
    {"i1.npy", PT_INT8, 1, {7}, 0},
    {"i2.npy", PT_INT16, 2, {3, 4}, 0},
    {"i4.npy", PT_INT32, 3, {2, 3, 4}, 0},
    {"i8.npy", PT_INT64, 0, {0}, 0},
    {"u1.npy", PT_UINT8, 3, {1, 1, 9}, 0},
    {"u2.npy", PT_UINT16, 1, {5}, 0},
    {"u4.npy", PT_UINT32, 2, {4, 1}, 0},
    {"u8.npy", PT_UINT64, 1, {3}, 0},
    {"f4.npy", PT_FLOAT32, 2, {2, 5}, 0},
    {"f8.npy", PT_FLOAT64, 3, {2, 2, 2}, 0},
    {"empty.npy", PT_FLOAT64, 2, {4, 0}, 0},
    {"big.npy", PT_FLOAT64, 3, {200, 300, 5}, 0},
    {"i4_v2.npy", PT_INT32, 2, {3, 5}, 2},
    {"f8_v3.npy", PT_FLOAT64, 1, {6}, 3},
};

/* argv for the python scripts: "-c", script, dir, then one spec per array. */
static void py_args(const char **args, char specs[][96], const char *script,
                    const char *dir)
{
    size_t k = 0;
    args[k++] = "-c";
    args[k++] = script;
    args[k++] = dir;
    for (size_t i = 0; i < LEN(py_arrays); i++) {
        const py_array *a = &py_arrays[i];
        char shape[64] = "";
        for (int d = 0; d < a->ndims; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape),
                     "%s%llu", d ? "," : "", (unsigned long long)a->dims[d]);
        snprintf(specs[i], 96, "%s:%s:%s:%d", a->name, descr(a->type), shape,
                 a->version);
        args[k++] = specs[i];
    }
    args[k] = NULL;
}

static const char py_write[] = PY_COMMON
    "for path, dt, shape, ver in specs():\n"
    "    with open(path, 'wb') as f:\n"
    "        fmt.write_array(f, values(dt, shape), version=ver)\n";

static const char py_check[] = PY_COMMON
    "bad = 0\n"
    "for path, dt, shape, ver in specs():\n"
    "    a = np.load(path)\n"
    "    want = values(dt, shape)\n"
    "    if (a.dtype != np.dtype(dt) or a.shape != shape\n"
    "            or not np.array_equal(a, want)):\n"
    "        print('  mismatch:', path, a.dtype, a.shape, file=sys.stderr)\n"
    "        bad = 1\n"
    "    b = io.BytesIO()\n"
    "    np.save(b, want)\n"
    "    if ver is None and open(path, 'rb').read() != b.getvalue():\n"
    "        print('  not the bytes of np.save:', path, file=sys.stderr)\n"
    "        bad = 1\n"
    "sys.exit(bad)\n";

/* ---- round trips --------------------------------------------------------- */

/* Save, check the header with pt_npy_info_read, load, compare. */
static void round_trip(const char *dir, pt_dtype t, int ndims,
                       const uint64_t *dims)
{
    char path[PATH_BUF];
    join(path, dir, "a.npy");
    uint64_t n = count(ndims, dims), nbytes = n * pt_dtype_size(t);
    void *want = malloc(nbytes + 1), *got = malloc(nbytes + 1);
    fill(t, n, want);
    memset(got, 0xa5, nbytes);
    CU_ASSERT_EQUAL(pt_npy_save(path, t, ndims, dims, want), 0);
    pt_npy_info info;
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), 0);
    CU_ASSERT_EQUAL(info.type, t);
    CU_ASSERT_EQUAL(info.ndims, ndims);
    for (int i = 0; i < ndims; i++)
        CU_ASSERT_EQUAL(info.dims[i], dims[i]);
    CU_ASSERT_EQUAL(info.nbytes, nbytes);
    CU_ASSERT_EQUAL(info.data_offset % 64, 0);
    struct stat st;
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL((uint64_t)st.st_size, info.data_offset + nbytes);
    CU_ASSERT_EQUAL(pt_npy_load(path, t, ndims, dims, got, nbytes), 0);
    CU_ASSERT_EQUAL(memcmp(got, want, nbytes), 0);
    free(want);
    free(got);
}

static void test_round_trip(void)
{
    static const struct {
        int ndims;
        uint64_t dims[3];
    } shapes[] = {{0, {0}}, {1, {7}}, {3, {2, 3, 4}}};
    const char *dir = pt_test_tmpdir();
    for (size_t t = 0; t < LEN(all_types); t++)
        for (size_t s = 0; s < LEN(shapes); s++)
            round_trip(dir, all_types[t], shapes[s].ndims, shapes[s].dims);
    CU_ASSERT_EQUAL(count_entries(dir), 1); /* no temporary file left */
}

static void test_round_trip_empty(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "e.npy");
    const uint64_t d1[] = {0}, d3[] = {3, 0, 2};
    pt_npy_info info;
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_INT16, 1, d1, NULL), 0);
    CU_ASSERT_EQUAL(pt_npy_load(path, PT_INT16, 1, d1, NULL, 0), 0);
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT32, 3, d3, NULL), 0);
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), 0);
    CU_ASSERT_EQUAL(info.nbytes, 0);
    CU_ASSERT_EQUAL(info.ndims, 3);
    CU_ASSERT_EQUAL(pt_npy_load(path, PT_FLOAT32, 3, d3, NULL, 0), 0);
}

/* 8 MiB: one bulk read and one bulk write. */
static void test_round_trip_large(void)
{
    const uint64_t dims[] = {16, 256, 256};
    const char *dir = pt_test_tmpdir();
    round_trip(dir, PT_FLOAT64, 3, dims);
    remove_dir(dir);
}

/* The saved header is `dict`, space-padded, '\n' at byte 127. */
static void check_header(const char *path, const char *dict)
{
    size_t size = 0, len = strlen(dict);
    unsigned char *b = slurp(path, &size);
    CU_ASSERT_PTR_NOT_NULL(b);
    if (!b)
        return;
    CU_ASSERT(size >= 128);
    CU_ASSERT_EQUAL(memcmp(b, "\x93NUMPY\x01\x00\x76\x00", 10), 0);
    CU_ASSERT_EQUAL(memcmp(b + 10, dict, len), 0);
    for (size_t i = 10 + len; i < 127; i++)
        CU_ASSERT_EQUAL(b[i], ' ');
    CU_ASSERT_EQUAL(b[127], '\n');
    free(b);
}

static void test_save_header_text(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "h.npy");
    static const double d[12];
    const uint64_t d2[] = {3, 4}, d1[] = {5};
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, 2, d2, d), 0);
    check_header(path, "{'descr': '<f8', 'fortran_order': False, "
                       "'shape': (3, 4), }");
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_UINT8, 1, d1, d), 0);
    check_header(path, "{'descr': '|u1', 'fortran_order': False, "
                       "'shape': (5,), }");
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_INT64, 0, NULL, d), 0);
    check_header(path, "{'descr': '<i8', 'fortran_order': False, "
                       "'shape': (), }");
    /*
     * np.save's rule: prefix + dict + 21 - digits(dims[0]) spaces + '\n' is
     * 128 bytes here, already aligned, and still gets 64 bytes of padding.
     */
    const uint64_t d8[] = {1, 0, 10000, 10000, 1000, 1000, 1000, 1000};
    pt_npy_info info;
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_UINT8, 8, d8, NULL), 0);
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), 0);
    CU_ASSERT_EQUAL(info.data_offset, 192);
}

/* Saving over a file replaces it whole; open readers keep the old one. */
static void test_save_replaces(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "r.npy");
    const uint64_t d1[] = {3}, d2[] = {2, 3};
    int32_t old[3] = {1, 2, 3};
    double val[6];
    fill(PT_FLOAT64, 6, val);
    umask(022);
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_INT32, 1, d1, old), 0);
    int fd = open(path, O_RDONLY);
    CU_ASSERT(fd >= 0);
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, 2, d2, val), 0);
    expect_values(path, PT_FLOAT64, 2, d2);
    struct stat st;
    CU_ASSERT_EQUAL(fstat(fd, &st), 0);
    CU_ASSERT_EQUAL(st.st_size, 128 + 12); /* the old file, intact */
    close(fd);
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0644);
    umask(077);
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_INT32, 1, d1, old), 0);
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    CU_ASSERT_EQUAL(count_entries(dir), 1);
}

/* ---- NumPy's own bytes --------------------------------------------------- */

typedef struct fixture_file {
    const char *name;
    pt_dtype type;
    int ndims;
    uint64_t dims[3];
    int version;
} fixture_file;

static const fixture_file fixtures[] = {
    {"i1_4.npy", PT_INT8, 1, {4}, 1},
    {"i2_3.npy", PT_INT16, 1, {3}, 1},
    {"i4_2x3.npy", PT_INT32, 2, {2, 3}, 1},
    {"i8_scalar.npy", PT_INT64, 0, {0}, 1},
    {"u1_5.npy", PT_UINT8, 1, {5}, 1},
    {"u2_2x2.npy", PT_UINT16, 2, {2, 2}, 1},
    {"u4_3.npy", PT_UINT32, 1, {3}, 1},
    {"u8_2.npy", PT_UINT64, 1, {2}, 1},
    {"f4_2x2x2.npy", PT_FLOAT32, 3, {2, 2, 2}, 1},
    {"f8_2x3.npy", PT_FLOAT64, 2, {2, 3}, 1},
    {"f8_empty.npy", PT_FLOAT64, 2, {3, 0}, 1},
    {"i4_v2.npy", PT_INT32, 2, {2, 3}, 2},
    {"f8_v3.npy", PT_FLOAT64, 1, {4}, 3},
};

static void test_fixture_info(void)
{
    for (size_t i = 0; i < LEN(fixtures); i++) {
        const fixture_file *f = &fixtures[i];
        pt_npy_info info;
        CU_ASSERT_EQUAL(pt_npy_info_read(fixture(f->name), &info), 0);
        CU_ASSERT_EQUAL(info.type, f->type);
        CU_ASSERT_EQUAL(info.ndims, f->ndims);
        for (int d = 0; d < f->ndims; d++)
            CU_ASSERT_EQUAL(info.dims[d], f->dims[d]);
        CU_ASSERT_EQUAL(info.nbytes,
                        count(f->ndims, f->dims) * pt_dtype_size(f->type));
        CU_ASSERT_EQUAL(info.data_offset, 128);
    }
}

static void test_fixture_values(void)
{
    for (size_t i = 0; i < LEN(fixtures); i++) {
        const fixture_file *f = &fixtures[i];
        expect_values(fixture(f->name), f->type, f->ndims, f->dims);
    }
}

/* What we save is what np.save wrote, byte for byte (no python needed). */
static void test_save_matches_numpy(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "s.npy");
    for (size_t i = 0; i < LEN(fixtures); i++) {
        const fixture_file *f = &fixtures[i];
        if (f->version != 1)
            continue;
        size_t na = 0, nb = 0;
        unsigned char *a = slurp(fixture(f->name), &na);
        CU_ASSERT_PTR_NOT_NULL(a);
        if (!a)
            continue;
        CU_ASSERT_EQUAL(pt_npy_save(path, f->type, f->ndims, f->dims, a + 128),
                        0);
        unsigned char *b = slurp(path, &nb);
        CU_ASSERT(b && na == nb && memcmp(a, b, na) == 0);
        if (!b || na != nb || memcmp(a, b, na) != 0)
            fprintf(stderr, "  %s: saved bytes differ\n", f->name);
        free(a);
        free(b);
    }
}

static void test_load_any_type(void)
{
    const uint64_t dims[] = {2, 2, 2};
    float v[8];
    CU_ASSERT_EQUAL(pt_npy_load(fixture("f4_2x2x2.npy"), PT_DTYPE_NONE, 3, dims,
                                v, sizeof v),
                    0);
    CU_ASSERT_EQUAL(v[7], 0.75f);
}

/* NumPy writes (incl. versions 2.0 and 3.0), we read. */
static void test_python_writes(void)
{
    if (!have_numpy())
        return;
    const char *dir = pt_test_tmpdir(), *args[LEN(py_arrays) + 4];
    char specs[LEN(py_arrays)][96];
    py_args(args, specs, py_write, dir);
    CU_ASSERT_EQUAL(run_python(args), 0);
    for (size_t i = 0; i < LEN(py_arrays); i++) {
        const py_array *a = &py_arrays[i];
        char path[PATH_BUF];
        expect_values(join(path, dir, a->name), a->type, a->ndims, a->dims);
    }
    remove_dir(dir);
}

/* We write, NumPy reads: dtype, shape, values, and np.save's very bytes. */
static void test_python_reads(void)
{
    if (!have_numpy())
        return;
    const char *dir = pt_test_tmpdir(), *args[LEN(py_arrays) + 4];
    char specs[LEN(py_arrays)][96];
    for (size_t i = 0; i < LEN(py_arrays); i++) {
        const py_array *a = &py_arrays[i];
        uint64_t n = count(a->ndims, a->dims);
        void *buf = malloc(n * pt_dtype_size(a->type) + 1);
        fill(a->type, n, buf);
        char path[PATH_BUF];
        CU_ASSERT_EQUAL(pt_npy_save(join(path, dir, a->name), a->type, a->ndims,
                                    a->dims, buf),
                        0);
        free(buf);
    }
    py_args(args, specs, py_check, dir);
    CU_ASSERT_EQUAL(run_python(args), 0);
    remove_dir(dir);
}

/* Headers NumPy never writes but Python reads the same: we accept them. */
static void test_header_variants(void)
{
    static const struct {
        int major;
        const char *header;
        pt_dtype type;
        int ndims;
        uint64_t dims[2];
    } v[] = {
        {1,
         "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}\n",
         PT_FLOAT64,
         2,
         {2, 3}},
        {1,
         "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2,3)}",
         PT_FLOAT64,
         2,
         {2, 3}},
        {1,
         "{ 'descr' :'<f8' ,\n\t'fortran_order':False,'shape':( 2 , 3 , ) ,"
         " }  \n",
         PT_FLOAT64,
         2,
         {2, 3}},
        {1,
         "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }",
         PT_FLOAT64,
         2,
         {2, 3}},
        {1,
         "{'descr': '=i8', 'fortran_order': False, 'shape': (6,)}",
         PT_INT64,
         1,
         {6}},
        {1,
         "{'descr': 'u4', 'fortran_order': False, 'shape': (6,)}",
         PT_UINT32,
         1,
         {6}},
        {1,
         "{'descr': '>u1', 'fortran_order': False, 'shape': (6,)}",
         PT_UINT8,
         1,
         {6}},
        {1,
         "{'descr': '<i1', 'fortran_order': False, 'shape': (1, 6)}",
         PT_INT8,
         2,
         {1, 6}},
        {1,
         "{'descr': '<f4', 'fortran_order': False, 'shape': ( )}",
         PT_FLOAT32,
         0,
         {0}},
        {2,
         "{'descr': '<i2', 'fortran_order': False, 'shape': (6,), }\n",
         PT_INT16,
         1,
         {6}},
        {3,
         "{'descr': '<u2', 'fortran_order': False, 'shape': (), }\n",
         PT_UINT16,
         0,
         {0}},
    };
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "v.npy");
    for (size_t i = 0; i < LEN(v); i++) {
        uint64_t data[6];
        uint64_t n = count(v[i].ndims, v[i].dims);
        fill(v[i].type, n, data);
        write_raw(path, v[i].major, v[i].header, data,
                  n * pt_dtype_size(v[i].type));
        expect_values(path, v[i].type, v[i].ndims, v[i].dims);
    }
}

/* ---- refused files ---------------------------------------------------------
 */

static const uint64_t d6[] = {6}, d23[] = {2, 3};
static const double zeros[6];

static void test_err_bad_magic(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "m.npy");
    char text[] = "\x93NUMPX\x01\x00\x10\x00{'descr': '<f8'}";
    write_bytes(path, text, sizeof text - 1);
    expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, "bad magic", NULL);
    write_bytes(path, "just some text, not an array\n", 29);
    expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, "bad magic", NULL);
}

static void test_err_short_file(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "s.npy");
    write_bytes(path, "\x93NUM", 4);
    expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, "too short", NULL);
    write_bytes(path, "", 0);
    expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, "too short", NULL);
    write_bytes(path, "\x93NUMPY\x02\x00\x10\x00\x00",
                11); /* v2: 4-byte length */
    expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, "ends inside", NULL);
}

static void test_err_bad_version(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "v.npy");
    const char *h = "{'descr': '<f8', 'fortran_order': False, 'shape': (6,)}";
    write_raw(path, 4, h, zeros, sizeof zeros);
    expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, "version 4.0", NULL);
    size_t n = 0;
    unsigned char *b = slurp(fixture("f8_2x3.npy"), &n);
    b[7] = 1;
    write_bytes(path, b, n);
    free(b);
    expect_load_fails(path, PT_FLOAT64, 2, d23, -EINVAL, "version 1.1", NULL);
}

static void test_err_truncated_header(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "t.npy");
    size_t n = 0;
    unsigned char *b = slurp(fixture("f8_2x3.npy"), &n);
    write_bytes(path, b, 60);
    free(b);
    expect_load_fails(path, PT_FLOAT64, 2, d23, -EINVAL, "runs past the end",
                      NULL);
    write_bytes(path, "\x93NUMPY\x02\x00\xf0\xff\xff\xff{'descr'", 20);
    expect_load_fails(path, PT_FLOAT64, 2, d23, -EINVAL, "4294967280 bytes",
                      "runs past the end");
}

static void test_err_truncated_data(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "t.npy");
    size_t n = 0;
    unsigned char *b = slurp(fixture("f8_2x3.npy"), &n);
    write_bytes(path, b, n - 8);
    free(b);
    expect_load_fails(path, PT_FLOAT64, 2, d23, -EINVAL, "truncated", "48");
    pt_npy_info info;
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), -EINVAL);
    ASSERT_MSG_HAS("truncated");
}

static void test_err_fortran(void)
{
    expect_load_fails(fixture("bad_fortran.npy"), PT_FLOAT64, 2, d23, -EINVAL,
                      "Fortran", NULL);
}

static void test_err_big_endian(void)
{
    const uint64_t d3[] = {3};
    expect_load_fails(fixture("bad_be_f8.npy"), PT_FLOAT64, 1, d3, -EINVAL,
                      "big-endian", "'>f8'");
    pt_npy_info info;
    CU_ASSERT_EQUAL(pt_npy_info_read(fixture("bad_be_f8.npy"), &info), -EINVAL);
    ASSERT_MSG_HAS("big-endian");
}

static void test_err_unknown_descr(void)
{
    const uint64_t d2[] = {2};
    expect_load_fails(fixture("bad_c16.npy"), PT_FLOAT64, 1, d2, -EINVAL,
                      "'<c16'", "not supported");
    expect_load_fails(fixture("bad_bool.npy"), PT_UINT8, 1, d2, -EINVAL,
                      "'|b1'", "not supported");
    expect_load_fails(fixture("bad_object.npy"), PT_UINT64, 1, d2, -EINVAL,
                      "'|O'", "not supported");
    expect_load_fails(fixture("bad_struct.npy"), PT_UINT64, 1, d2, -EINVAL,
                      "structured", NULL);
}

static void test_err_shape_mismatch(void)
{
    const uint64_t d32[] = {3, 2};
    const char *f = fixture("f8_2x3.npy");
    expect_load_fails(f, PT_FLOAT64, 2, d32, -EINVAL, "shape (2, 3)",
                      "expected (3, 2)");
    expect_load_fails(f, PT_FLOAT64, 1, d6, -EINVAL, "(2, 3)", "(6,)");
    expect_load_fails(f, PT_FLOAT64, 0, NULL, -EINVAL, "(2, 3)", "()");
}

static void test_err_type_mismatch(void)
{
    expect_load_fails(fixture("f8_2x3.npy"), PT_INT32, 2, d23, -EINVAL,
                      "float64", "int32");
}

static void test_err_nbytes_mismatch(void)
{
    double v[6];
    CU_ASSERT_EQUAL(
        pt_npy_load(fixture("f8_2x3.npy"), PT_FLOAT64, 2, d23, v, 40), -EINVAL);
    ASSERT_MSG_HAS("48");
    ASSERT_MSG_HAS("40");
}

static void test_err_too_many_dims(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "d.npy");
    const uint64_t d8[] = {1, 1, 1, 1, 1, 1, 1, 1};
    write_raw(path, 1,
              "{'descr': '<f8', 'fortran_order': False, "
              "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}",
              zeros, 8);
    expect_load_fails(path, PT_FLOAT64, 8, d8, -EINVAL, "more than 8", NULL);
    double one;
    fill(PT_FLOAT64, 1, &one);
    write_raw(path, 1,
              "{'descr': '<f8', 'fortran_order': False, "
              "'shape': (1, 1, 1, 1, 1, 1, 1, 1,)}",
              &one, 8);
    expect_values(path, PT_FLOAT64, 8, d8); /* 8 is fine */
}

static void test_err_overflow_dims(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "o.npy");
    pt_npy_info info;
    write_raw(path, 1,
              "{'descr': '<f8', 'fortran_order': False, "
              "'shape': (4294967296, 4294967296, 2)}",
              zeros, 8);
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), -EINVAL);
    ASSERT_MSG_HAS("(4294967296, 4294967296, 2)");
    ASSERT_MSG_HAS("2^64");
    write_raw(path, 1,
              "{'descr': '<u1', 'fortran_order': False, "
              "'shape': (18446744073709551616,)}",
              zeros, 8);
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), -EINVAL);
    ASSERT_MSG_HAS("64 bits");
    /* a 0 dimension makes the array empty, however large the others */
    write_raw(path, 1,
              "{'descr': '<f8', 'fortran_order': False, "
              "'shape': (4294967296, 4294967296, 0)}",
              zeros, 0);
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), 0);
    CU_ASSERT_EQUAL(info.nbytes, 0);
}

static void test_err_bad_headers(void)
{
    static const struct {
        const char *header, *sub;
    } bad[] = {
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6)}",
         "not a tuple"},
        {"{'descr': '<f8', 'fortran_order': False}", "no 'shape' key"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,), "
         "'descr': '<f8'}",
         "'descr' appears twice"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,), 'x': 1}",
         "unexpected key 'x'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,)} x",
         "after the closing '}'"},
        {"{'descr': '<f8", "closing quote"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (-6,)}",
         "non-negative"},
        {"{'descr': '<f8', 'fortran_order': Flase, 'shape': (6,)}",
         "True or False"},
        {"{'descr': '<f8', 'fortran_order': Falsey, 'shape': (6,)}",
         "True or False"},
        {"{'descr': '|f8', 'fortran_order': False, 'shape': (6,)}",
         "no byte order"},
        {"", "expected '{'"},
        {"['descr', '<f8']", "expected '{'"},
        {"{'descr': '<f8' 'fortran_order': False, 'shape': (6,)}",
         "expected ',' or '}'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,)",
         "expected ',' or '}'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6,), ,}",
         "quoted string"},
        {"{'descr': 8, 'fortran_order': False, 'shape': (6,)}",
         "at byte 20: expected a quoted string"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': [6]}", "'('"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (6 6)}",
         "',' or ')'"},
    };
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "b.npy");
    for (size_t i = 0; i < LEN(bad); i++) {
        write_raw(path, 1, bad[i].header, zeros, sizeof zeros);
        expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, bad[i].sub,
                          "b.npy");
    }
    static const char nul[] = "{'descr': '<f8',\0'fortran_order': False, "
                              "'shape': (6,)}";
    write_rawn(path, 1, nul, sizeof nul - 1, zeros, sizeof zeros);
    expect_load_fails(path, PT_FLOAT64, 1, d6, -EINVAL, "bad .npy header",
                      NULL);
}

static void test_err_nonexistent(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "nothing.npy");
    pt_npy_info info;
    expect_load_fails(path, PT_FLOAT64, 1, d6, -ENOENT, "cannot open", NULL);
    CU_ASSERT_EQUAL(pt_npy_info_read(path, &info), -ENOENT);
    ASSERT_MSG_HAS(path);
    expect_load_fails(dir, PT_FLOAT64, 1, d6, -EISDIR, "directory", NULL);
    const char *fifo = join(pb, dir, "fifo.npy"); /* no writer: no hang */
    CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0600), 0);
    CU_ASSERT_EQUAL(pt_npy_info_read(fifo, &info), -EINVAL);
    ASSERT_MSG_HAS("not a regular file");
}

static void test_err_load_args(void)
{
    double v[6];
    const char *f = fixture("f8_2x3.npy");
    CU_ASSERT_EQUAL(pt_npy_load(NULL, PT_FLOAT64, 2, d23, v, 48), -EINVAL);
    CU_ASSERT_EQUAL(pt_npy_load(f, (pt_dtype)99, 2, d23, v, 48), -EINVAL);
    ASSERT_MSG_HAS("invalid element type 99");
    CU_ASSERT_EQUAL(pt_npy_load(f, PT_FLOAT64, 9, d23, v, 48), -EINVAL);
    ASSERT_MSG_HAS("ndims 9");
    CU_ASSERT_EQUAL(pt_npy_load(f, PT_FLOAT64, -1, d23, v, 48), -EINVAL);
    CU_ASSERT_EQUAL(pt_npy_load(f, PT_FLOAT64, 2, NULL, v, 48), -EINVAL);
    ASSERT_MSG_HAS("dims is NULL");
    CU_ASSERT_EQUAL(pt_npy_load(f, PT_FLOAT64, 2, d23, NULL, 48), -EINVAL);
    ASSERT_MSG_HAS("dst is NULL");
    CU_ASSERT_EQUAL(pt_npy_info_read(f, NULL), -EINVAL);
}

static void test_err_save_args(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "a.npy");
    const uint64_t huge[] = {1ull << 32, 1ull << 32, 2};
    CU_ASSERT_EQUAL(pt_npy_save(NULL, PT_FLOAT64, 1, d6, zeros), -EINVAL);
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_DTYPE_NONE, 1, d6, zeros), -EINVAL);
    ASSERT_MSG_HAS("invalid element type 0");
    ASSERT_MSG_HAS(path);
    CU_ASSERT_EQUAL(pt_npy_save(path, (pt_dtype)99, 1, d6, zeros), -EINVAL);
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, -1, d6, zeros), -EINVAL);
    ASSERT_MSG_HAS("ndims -1");
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, 9, d6, zeros), -EINVAL);
    ASSERT_MSG_HAS("ndims 9");
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, 1, NULL, zeros), -EINVAL);
    ASSERT_MSG_HAS("dims is NULL");
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, 1, d6, NULL), -EINVAL);
    ASSERT_MSG_HAS("data is NULL");
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, 3, huge, zeros), -EINVAL);
    ASSERT_MSG_HAS("2^64");
    CU_ASSERT_EQUAL(count_entries(dir), 0);
}

/* A save that cannot create its file leaves nothing behind. */
static void test_err_save_no_dir(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "nodir/x.npy");
    CU_ASSERT_EQUAL(pt_npy_save(path, PT_FLOAT64, 1, d6, zeros), -ENOENT);
    ASSERT_MSG_HAS(path);
    CU_ASSERT_EQUAL(count_entries(dir), 0);
}

/* A save whose rename fails (the target is a directory) removes its temp. */
static void test_err_save_rename_fails(void)
{
    char pb[PATH_BUF];
    const char *dir = pt_test_tmpdir(), *path = join(pb, dir, "x.npy");
    CU_ASSERT_EQUAL(mkdir(path, 0755), 0);
    int rc = pt_npy_save(path, PT_FLOAT64, 1, d6, zeros);
    CU_ASSERT(rc == -EISDIR || rc == -EEXIST || rc == -ENOTEMPTY);
    ASSERT_MSG_HAS("cannot rename");
    CU_ASSERT_EQUAL(count_entries(dir), 1);
    struct stat st;
    CU_ASSERT(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

static const pt_test_case cases[] = {
    {"round_trip", test_round_trip, 0},
    {"round_trip_empty", test_round_trip_empty, 0},
    {"round_trip_large", test_round_trip_large, 0},
    {"save_header_text", test_save_header_text, 0},
    {"save_replaces", test_save_replaces, 0},
    {"fixture_info", test_fixture_info, 0},
    {"fixture_values", test_fixture_values, 0},
    {"save_matches_numpy", test_save_matches_numpy, 0},
    {"load_any_type", test_load_any_type, 0},
    {"python_writes", test_python_writes, 0},
    {"python_reads", test_python_reads, 0},
    {"header_variants", test_header_variants, 0},
    {"err_bad_magic", test_err_bad_magic, 0},
    {"err_short_file", test_err_short_file, 0},
    {"err_bad_version", test_err_bad_version, 0},
    {"err_truncated_header", test_err_truncated_header, 0},
    {"err_truncated_data", test_err_truncated_data, 0},
    {"err_fortran", test_err_fortran, 0},
    {"err_big_endian", test_err_big_endian, 0},
    {"err_unknown_descr", test_err_unknown_descr, 0},
    {"err_shape_mismatch", test_err_shape_mismatch, 0},
    {"err_type_mismatch", test_err_type_mismatch, 0},
    {"err_nbytes_mismatch", test_err_nbytes_mismatch, 0},
    {"err_too_many_dims", test_err_too_many_dims, 0},
    {"err_overflow_dims", test_err_overflow_dims, 0},
    {"err_bad_headers", test_err_bad_headers, 0},
    {"err_nonexistent", test_err_nonexistent, 0},
    {"err_load_args", test_err_load_args, 0},
    {"err_save_args", test_err_save_args, 0},
    {"err_save_no_dir", test_err_save_no_dir, 0},
    {"err_save_rename_fails", test_err_save_rename_fails, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("npy", cases, argc, argv);
}
