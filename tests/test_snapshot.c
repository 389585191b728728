/* test_snapshot.c - worker snapshots (lib/snapshot.h): the file format, its
 * checks, the atomic write, and a set's workers restoring their state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "internal.h"
#include "snapshot.h"
#include <ptools/sys.h>
#include <ptools/workerset.h>

static const char big[1000] = "a section of 1000 bytes";

/* Three sections: 13 bytes, none, 1000 bytes. */
static void encode3(pt_buf *out)
{
    pt__snap_section s[3] = {
        {"/lib/a.so", 9, "alpha", 5, "thirteen byte", 13},
        {"/lib/a.so", 9, "beta", 4, NULL, 0},
        {"b.so", 4, "gamma", 5, big, sizeof big},
    };
    CU_ASSERT_EQUAL(pt__snap_encode(out, s, 3), 0);
}

static void test_roundtrip(void)
{
    pt_buf b = {0};
    encode3(&b);
    /* head 32; sections 16 + pad8(names) + pad8(data) */
    CU_ASSERT_EQUAL(b.len,
                    32 + (16 + 16 + 16) + (16 + 16 + 0) + (16 + 16 + 1000));
    CU_ASSERT(memcmp(b.data, "PTSNAP\0\0\1\0\0\0\3\0\0\0", 16) == 0);
    pt__snap_section *s;
    int n;
    CU_ASSERT_EQUAL_FATAL(pt__snap_decode(b.data, b.len, &s, &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT(s[0].path_len == 9 && memcmp(s[0].path, "/lib/a.so", 9) == 0);
    CU_ASSERT(s[0].name_len == 5 && memcmp(s[0].name, "alpha", 5) == 0);
    CU_ASSERT(s[0].len == 13 && memcmp(s[0].data, "thirteen byte", 13) == 0);
    CU_ASSERT(s[1].name_len == 4 && s[1].len == 0);
    CU_ASSERT(s[2].len == sizeof big && memcmp(s[2].data, big, 1000) == 0);
    for (int i = 0; i < 3; i++) /* data 8-aligned for the kernel */
        CU_ASSERT_EQUAL((uintptr_t)s[i].data % 8, 0);
    free(s);
    pt_buf_free(&b);
}

static void test_damage_is_refused(void)
{
    pt_buf b = {0};
    encode3(&b);
    pt__snap_section *s;
    int n, bad = 0;
    for (size_t len = 0; len < b.len; len++) /* every truncation */
        bad += pt__snap_decode(b.data, len, &s, &n) == -EINVAL && !s;
    CU_ASSERT_EQUAL(bad, (int)b.len);
    bad = 0;
    for (size_t i = 0; i < b.len; i++) { /* every byte flipped */
        b.data[i] ^= 0x40;
        bad += pt__snap_decode(b.data, b.len, &s, &n) == -EINVAL && !s;
        b.data[i] ^= 0x40;
    }
    CU_ASSERT_EQUAL(bad, (int)b.len);
    b.data[b.len - 1] ^= 1;
    CU_ASSERT_EQUAL(pt__snap_decode(b.data, b.len, &s, &n), -EINVAL);
    ASSERT_STR(pt_errmsg(), "checksum mismatch (the file is corrupt)");
    CU_ASSERT_EQUAL(pt__snap_decode("hello", 5, &s, &n), -EINVAL);
    ASSERT_STR(pt_errmsg(), "not a ptools snapshot (no PTSNAP magic)");
    CU_ASSERT_EQUAL(pt__snap_decode(b.data, 100, &s, &n), -EINVAL);
    ASSERT_STR(pt_errmsg(), "truncated or padded: 68 bytes of sections, the "
                            "head says 1112");
    b.data[8] = 2; /* version */
    CU_ASSERT_EQUAL(pt__snap_decode(b.data, b.len, &s, &n), -EINVAL);
    ASSERT_STR(pt_errmsg(), "snapshot version 2 (this ptools reads 1)");
    pt_buf_free(&b);
}

static void test_file_write_read(void)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/w.0.snap", pt_test_tmpdir());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    pt_buf b = {0}, r = {0};
    CU_ASSERT_EQUAL(pt__snap_read_file(path, &r), -ENOENT);
    encode3(&b);
    CU_ASSERT_EQUAL(pt__snap_write_file(path, b.data, b.len), 0);
    CU_ASSERT_EQUAL(access(tmp, F_OK), -1); /* renamed away */
    CU_ASSERT_EQUAL(pt__snap_read_file(path, &r), 0);
    CU_ASSERT(r.len == b.len && memcmp(r.data, b.data, b.len) == 0);
    /* a second write replaces the first whole */
    CU_ASSERT_EQUAL(pt__snap_write_file(path, "PTSNAP", 6), 0);
    CU_ASSERT_EQUAL(pt__snap_read_file(path, &r), 0);
    CU_ASSERT_EQUAL(r.len, 6);
    pt_buf_free(&b);
    pt_buf_free(&r);
}

static void test_size_cap(void)
{
    pt_buf b = {0};
    pt__snap_section s = {"x.so", 4, "k", 1, "", PT__SNAP_MAX + 1};
    CU_ASSERT_EQUAL(pt__snap_encode(&b, &s, 1), -EFBIG);
    char path[4200];
    snprintf(path, sizeof path, "%s/huge.snap", pt_test_tmpdir());
    int fd = pt_sys_open(path, O_WRONLY | O_CREAT, 0644);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(pt_sys_ftruncate(fd, (off_t)PT__SNAP_MAX + 4096), 0);
    pt_sys_close(fd);
    CU_ASSERT_EQUAL(pt__snap_read_file(path, &b), -EFBIG);
    ASSERT_PREFIX(pt_errmsg(), "268439552 bytes: over the 256 MiB");
    pt_buf_free(&b);
}

/* Task count: the next count of worker 0 of a set on `prefix`. */
static int64_t count_in(pt_workerset *ws)
{
    pt_reply *r = pt_remotecall_fetch(ws, "count", NULL);
    CU_ASSERT_FATAL(r != NULL);
    if (pt_reply_status(r) != PT_TASK_OK)
        fprintf(stderr, "  count: %s\n", pt_reply_error(r));
    int64_t n = pt_reply_int(r, "count", -1);
    pt_reply_destroy(r);
    return n;
}

static pt_workerset *set_on(const char *prefix, const char *kernel)
{
    pt_kernel_ref k = {"count", PT_TEST_KERNEL_DIR "/ckpt.so", kernel};
    pt_workerset_opts o = {.kernels = &k,
                           .nkernels = 1,
                           .checkpoint_prefix = prefix,
                           .checkpoint_ms = 1};
    pt_workerset *ws = pt_workerset_create(1, PT_WS_FF, &o);
    CU_ASSERT_FATAL(ws != NULL);
    return ws;
}

/* A new set on the same prefix starts where the last one ended (its
 * workers snapshot at the end); a restore that fails fails the tasks. */
static void test_set_restores(void)
{
    char prefix[4200], file[4300];
    snprintf(prefix, sizeof prefix, "%s/cpu", pt_test_tmpdir());
    snprintf(file, sizeof file, "%s.0.snap", prefix);
    pt_workerset *ws = set_on(prefix, "count");
    for (int64_t i = 1; i <= 3; i++)
        CU_ASSERT_EQUAL(count_in(ws), i);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
    ws = set_on(prefix, "count");
    CU_ASSERT_EQUAL(count_in(ws), 4);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
    /* the same snapshot, but kernel count_bad's restore refuses it: its
     * section names kernel `count`, which this set does not have */
    ws = set_on(prefix, "count_bad");
    pt_reply *r = pt_remotecall_fetch(ws, "count", NULL);
    CU_ASSERT_EQUAL(pt_reply_status(r), PT_TASK_FAILED);
    char want[5000];
    snprintf(want, sizeof want,
             "cannot restore the snapshot %s: kernel 'count' of %s: cannot "
             "be loaded: it is not one of the worker set's kernels",
             file, PT_TEST_KERNEL_DIR "/ckpt.so");
    ASSERT_STR(pt_reply_error(r), want);
    pt_reply_destroy(r);
    CU_ASSERT_EQUAL(pt_workerset_destroy(ws), 0);
}

static const pt_test_case cases[] = {
    {"roundtrip", test_roundtrip, 0},
    {"damage_is_refused", test_damage_is_refused, 0},
    {"file_write_read", test_file_write_read, 0},
    {"size_cap", test_size_cap, 0},
    {"set_restores", test_set_restores, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("snapshot", cases, argc, argv);
}
