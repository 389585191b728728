/* test_shm.c - typed shared memory segments: create, attach, clean, npy. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define PT_HAVE_VALGRIND_H 1
#endif
#endif

#include <ptools/npy.h>
#include <ptools/shm.h>

#include "harness.h"
#include "internal.h"

static pt_shm_opts opts2(const char *prefix, const char *name, pt_dtype t,
                         uint64_t d0, uint64_t d1, int named)
{
    pt_shm_opts o = {.prefix = prefix,
                     .name = name,
                     .type = t,
                     .ndims = d1 ? 2 : 1,
                     .named = named};
    o.dims[0] = d0;
    o.dims[1] = d1;
    return o;
}

static int name_exists(const char *prefix, const char *name)
{
    char path[300], file[320];
    pt_shm_path(prefix, name, path, sizeof path);
    snprintf(file, sizeof file, "/dev/shm%s", path);
    struct stat st;
    return stat(file, &st) == 0;
}

static void test_create_attach(void)
{
    const char *p = pt_test_prefix();
    pt_shm_opts o = opts2(p, "grid", PT_INT32, 4, 5, 1);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    const pt_shm_view *v = pt_shm_view_of(s);
    CU_ASSERT_EQUAL(v->type, PT_INT32);
    CU_ASSERT_EQUAL(v->ndims, 2);
    CU_ASSERT_EQUAL(v->dims[0], 4);
    CU_ASSERT_EQUAL(v->dims[1], 5);
    CU_ASSERT_EQUAL(v->size, 20);
    CU_ASSERT_EQUAL(v->nbytes, 80);
    CU_ASSERT_STRING_EQUAL(v->name, "grid");
    CU_ASSERT_EQUAL((uintptr_t)v->data % 64, 0);
    int32_t *d = v->data;
    for (int i = 0; i < 20; i++) {
        CU_ASSERT_EQUAL(d[i], 0); /* zero-filled */
        d[i] = i * 3;
    }
    CU_ASSERT_TRUE(name_exists(p, "grid"));

    pt_shm_opts want = opts2(NULL, NULL, PT_INT32, 4, 5, 0);
    pt_shm *a = pt_shm_attach(p, "grid", &want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    const int32_t *ad = pt_shm_view_of(a)->data;
    CU_ASSERT_EQUAL(ad[19], 57);
    d[0] = 99; /* the same memory, not a copy */
    CU_ASSERT_EQUAL(ad[0], 99);
    pt_shm *any = pt_shm_attach(p, "grid", NULL); /* any shape */
    CU_ASSERT_PTR_NOT_NULL(any);
    pt_shm_detach(any);
    CU_ASSERT_EQUAL(pt_shm_detach(a), 0);
    CU_ASSERT_EQUAL(pt_shm_unlink(s), 0);
    CU_ASSERT_FALSE(name_exists(p, "grid"));
    CU_ASSERT_EQUAL(pt_shm_unlink(s), 0); /* already gone is fine */
    CU_ASSERT_EQUAL(pt_shm_detach(s), 0);
}

static void test_attach_mismatch(void)
{
    const char *p = pt_test_prefix();
    pt_shm_opts o = opts2(p, "m", PT_INT32, 4, 5, 1);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);

    pt_shm_opts wrong_type = opts2(NULL, NULL, PT_FLOAT64, 4, 5, 0);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_attach(p, "m", &wrong_type));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "is int32[4, 5]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "expected float64[4, 5]"));

    pt_shm_opts wrong_dims = opts2(NULL, NULL, PT_DTYPE_NONE, 5, 4, 0);
    CU_ASSERT_PTR_NULL(pt_shm_attach(p, "m", &wrong_dims));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "expected int32[5, 4]"));

    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_attach(p, "absent", NULL));
    CU_ASSERT_EQUAL(errno, ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "absent"));
    pt_shm_unlink(s);
    pt_shm_detach(s);
}

/* A foreign object under a ptools name is refused and never cleaned. */
static void test_attach_foreign(void)
{
    const char *p = pt_test_prefix();
    char path[300];
    pt_shm_path(p, "foreign", path, sizeof path);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    char junk[512];
    memset(junk, 'x', sizeof junk);
    CU_ASSERT_EQUAL(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_attach(p, "foreign", NULL));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_EQUAL(pt_shm_clean(p), 0);
    CU_ASSERT_TRUE(name_exists(p, "foreign"));
    pt_shm_opts o = opts2(p, "foreign", PT_INT8, 8, 0, 1);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o)); /* never overwritten either */
    CU_ASSERT_EQUAL(errno, EEXIST);
    shm_unlink(path);
}

/* The default: the name is gone at once, children still share the data. */
static void test_anonymous(void)
{
    const char *p = pt_test_prefix();
    pt_shm_opts o = opts2(p, "anon", PT_INT64, 16, 0, 0);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_FALSE(name_exists(p, "anon"));
    CU_ASSERT_PTR_NULL(pt_shm_attach(p, "anon", NULL));
    int64_t *d = pt_shm_view_of(s)->data;
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 16; i++)
            d[i] = 100 + i;
        pt_shm_detach(s);
        _exit(0);
    }
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT_EQUAL(d[15], 115);
    CU_ASSERT_EQUAL(pt_shm_detach(s), 0);
}

/* Create a named segment in a child that then dies without unlinking it. */
static void leak_from_dead_child(const char *p, const char *name)
{
    pid_t pid = fork();
    if (pid == 0) {
        pt_shm_opts o = opts2(p, name, PT_UINT8, 100, 0, 1);
        pt_shm *s = pt_shm_create(&o);
        _exit(s && pt_shm_detach(s) == 0 ? 0 : 1); /* the name stays */
    }
    int st;
    waitpid(pid, &st, 0);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CU_ASSERT_TRUE(name_exists(p, name));
}

static void test_clean_dead_owner(void)
{
    const char *p = pt_test_prefix();
    char other[64];
    snprintf(other, sizeof other, "%sx", p);
    leak_from_dead_child(p, "dead1");
    leak_from_dead_child(p, "dead2");
    leak_from_dead_child(other, "dead");
    pt_shm_opts o = opts2(p, "alive", PT_UINT8, 10, 0, 1);
    pt_shm *mine = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mine);

    CU_ASSERT_EQUAL(pt_shm_clean(p), 2); /* exact prefix: not `other` */
    CU_ASSERT_FALSE(name_exists(p, "dead1"));
    CU_ASSERT_FALSE(name_exists(p, "dead2"));
    CU_ASSERT_TRUE(name_exists(p, "alive")); /* its owner lives */
    CU_ASSERT_TRUE(name_exists(other, "dead"));
    CU_ASSERT_EQUAL(pt_shm_clean(other), 1);
    CU_ASSERT_FALSE(name_exists(other, "dead"));
    CU_ASSERT_EQUAL(pt_shm_clean("bad/prefix"), -EINVAL);
    pt_shm_unlink(mine);
    pt_shm_detach(mine);
}

/* The next create of a dead owner's name reclaims it; a live one refuses. */
static void test_reclaim_on_create(void)
{
    const char *p = pt_test_prefix();
    leak_from_dead_child(p, "again");
    pt_shm_opts o = opts2(p, "again", PT_FLOAT32, 7, 0, 1);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(pt_shm_view_of(s)->type, PT_FLOAT32);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    CU_ASSERT_EQUAL(errno, EEXIST);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "owner is alive"));
    pt_shm_unlink(s);
    pt_shm_detach(s);
}

static void test_bad_names(void)
{
    pt_shm_opts o = opts2("ok", "bad/name", PT_INT8, 4, 0, 0);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "bad/name"));
    o = opts2("", "x", PT_INT8, 4, 0, 0);
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    char longname[PT_SHM_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    o = opts2("ok", longname, PT_INT8, 4, 0, 0);
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    o = opts2("ok", "x", (pt_dtype)99, 4, 0, 0);
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    o = opts2("ok", "x", PT_INT8, 4, 0, 0);
    o.ndims = 9;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    o = opts2("ok", "x", PT_INT8, 0, 0, 0);
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
}

static void test_overflow_and_space(void)
{
    const char *p = pt_test_prefix();
    pt_shm_opts o = opts2(p, "huge", PT_FLOAT64, UINT64_C(1) << 62, 4, 0);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    CU_ASSERT_EQUAL(errno, EOVERFLOW);
    o = opts2(p, "huge", PT_FLOAT64, UINT64_C(1) << 61, 0, 0);
    CU_ASSERT_PTR_NULL(pt_shm_create(&o)); /* bytes overflow, elems fit */
    CU_ASSERT_EQUAL(errno, EOVERFLOW);

    o = opts2(p, "big", PT_UINT8, UINT64_C(1) << 50, 0, 0); /* 1 PiB */
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    CU_ASSERT_EQUAL(errno, ENOSPC);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "needs 11258999068"));
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "free"));
    CU_ASSERT_FALSE(name_exists(p, "big")); /* nothing left behind */
}

static void test_fill(void)
{
    const char *p = pt_test_prefix();
    pt_shm_opts o = opts2(p, "img", PT_UINT8, 10, 10, 0);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(pt_shm_fill(s, 255), 0);
    const uint8_t *d = pt_shm_view_of(s)->data;
    int all = 1;
    for (int i = 0; i < 100; i++)
        all &= d[i] == 255;
    CU_ASSERT_TRUE(all);
    CU_ASSERT_EQUAL(pt_shm_fill(s, 256), -ERANGE);
    CU_ASSERT_EQUAL(pt_shm_fill(s, -1), -ERANGE);
    CU_ASSERT_EQUAL(d[0], 255);
    pt_shm_detach(s);
}

static void test_npy_round_trip(void)
{
    const char *p = pt_test_prefix();
    char file[512];
    snprintf(file, sizeof file, "%s/x.npy", pt_test_tmpdir());
    pt_shm_opts o = opts2(p, "x", PT_FLOAT64, 3, 4, 0);
    pt_shm *a = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    double *ad = pt_shm_view_of(a)->data;
    for (int i = 0; i < 12; i++)
        ad[i] = i * 0.5 - 1;
    CU_ASSERT_EQUAL(pt_shm_save_npy(a, file), 0);

    o.name = "y";
    pt_shm *b = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(pt_shm_load_npy(b, file), 0);
    CU_ASSERT_EQUAL(memcmp(pt_shm_view_of(b)->data, ad, 12 * sizeof *ad), 0);

    o = opts2(p, "z", PT_FLOAT64, 12, 0, 0); /* same bytes, other shape */
    pt_shm *c = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(pt_shm_load_npy(c, file), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "x.npy"));
    unlink(file);
    pt_shm_detach(a);
    pt_shm_detach(b);
    pt_shm_detach(c);
}

#define MIB ((uintptr_t)1 << 20)

static uintptr_t page(void)
{
    return (uintptr_t)sysconf(_SC_PAGESIZE);
}

/*
 * Under valgrind (make test runs this suite there too), a store into a
 * guard would be reported as the error it is meant to be: the child turns
 * reports off and tells its SIGSEGV by exit status 128 + SIGSEGV instead.
 */
static _Noreturn void child_exit(int code)
{
#ifdef PT_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND)
        VALGRIND_ENABLE_ERROR_REPORTING;
#endif
    _exit(code);
}

static void segv_exit(int sig)
{
    child_exit(128 + sig);
}

static void quiet_under_valgrind(void)
{
#ifdef PT_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND) {
        VALGRIND_DISABLE_ERROR_REPORTING;
        signal(SIGSEGV, segv_exit);
    }
#endif
}

/*
 * Store one byte at `at` in a forked child, with SIGSEGV's default action
 * (as a worker has it: no sanitizer's handler) and no core file; returns
 * the child's wait status.
 */
static int store_in_child(uintptr_t at)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(SIGSEGV, SIG_DFL);
        quiet_under_valgrind();
        *(volatile uint8_t *)at = 0x5A;
        child_exit(0);
    }
    int st = -1;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    return st;
}

#define ASSERT_SEGV(at)                                                        \
    do {                                                                       \
        int st_ = store_in_child(at);                                          \
        CU_ASSERT_TRUE((WIFSIGNALED(st_) && WTERMSIG(st_) == SIGSEGV) ||       \
                       (WIFEXITED(st_) && WEXITSTATUS(st_) == 128 + SIGSEGV)); \
    } while (0)

#define ASSERT_STORES(at)                                                      \
    do {                                                                       \
        int st_ = store_in_child(at);                                          \
        CU_ASSERT_TRUE(WIFEXITED(st_) && WEXITSTATUS(st_) == 0);               \
    } while (0)

/* Just past the last page, 1 MiB past the end, just before the start: each
 * store faults; the bytes between the data's end and its page end are the
 * segment's own (no fault, and they are shared like the data). A segment
 * laid out for huge pages has 2 MiB pages. */
static void check_guards(const pt_shm *s)
{
    const pt_shm_view *v = pt_shm_view_of(s);
    pt_shm_huge_info hi;
    pt_shm_hugepages(s, &hi);
    uintptr_t unit = hi.eligible ? 2 * MIB : page();
    uintptr_t d = (uintptr_t)v->data, end = d + v->nbytes;
    uintptr_t last = (end + unit - 1) & ~(unit - 1);
    ASSERT_SEGV(last);
    ASSERT_SEGV(end + MIB);
    ASSERT_SEGV(d - 1);
    ASSERT_SEGV(d - MIB);
    ASSERT_STORES(end - 1);
    CU_ASSERT_EQUAL(((uint8_t *)v->data)[v->nbytes - 1], 0x5A);
    ASSERT_STORES(last - 1); /* undetected: the segment's own page */
    CU_ASSERT_EQUAL(*(volatile uint8_t *)(last - 1), 0x5A);
}

/* Created and attached mappings both sit between guard pages. */
static void test_guard_pages(void)
{
    const char *p = pt_test_prefix();
    pt_shm_opts o = opts2(p, "guarded", PT_UINT8, 100, 0, 1);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    check_guards(s);
    pt_shm *a = pt_shm_attach(p, "guarded", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_EQUAL(pt_shm_view_of(a)->data, pt_shm_view_of(s)->data);
    check_guards(a);
    CU_ASSERT_EQUAL(((uint8_t *)pt_shm_view_of(s)->data)[99], 0x5A);
    pt_shm_detach(a);
    o = opts2(p, "big", PT_FLOAT64, 3 * MIB / 8 + 1, 0, 0); /* 3 MiB + 8 */
    pt_shm *b = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    check_guards(b); /* hugepages auto: 4 MiB mapped */
    o.hugepages = PT_SHM_HUGE_OFF;
    pt_shm *c = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    check_guards(c); /* 3 MiB + 4 KiB mapped */
    pt_shm_detach(c);
    pt_shm_unlink(s);
    pt_shm_detach(s);
    pt_shm_detach(b);
}

/* In a child: store a byte every page from `from` on, going `dir` (+1 up,
 * -1 down), until it faults: a runaway loop. */
static int runaway(uintptr_t from, int dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(SIGSEGV, SIG_DFL);
        quiet_under_valgrind();
        for (uintptr_t at = from;; at += dir > 0 ? page() : -page())
            *(volatile uint8_t *)at = 0x01;
    }
    int st = -1;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    return st;
}

static int all_bytes(const pt_shm *s, uint8_t want)
{
    const pt_shm_view *v = pt_shm_view_of(s);
    const uint8_t *d = v->data;
    for (uint64_t i = 0; i < v->nbytes; i++)
        if (d[i] != want)
            return 0;
    return 1;
}

/* Two segments made one after the other: writing every byte of one, and
 * a runaway loop out of either end of it, leave the other intact. */
static void test_neighbours_intact(void)
{
    const char *p = pt_test_prefix();
    pt_shm_opts o = opts2(p, "one", PT_UINT8, 5 * page() + 100, 0, 0);
    pt_shm *one = pt_shm_create(&o);
    o.name = "two";
    pt_shm *two = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_PTR_NOT_NULL_FATAL(two);
    CU_ASSERT_EQUAL(pt_shm_fill(two, 0x77), 0);
    CU_ASSERT_EQUAL(pt_shm_fill(one, 0xEE), 0);
    CU_ASSERT_TRUE(all_bytes(two, 0x77));
    CU_ASSERT_TRUE(all_bytes(one, 0xEE));
    for (int k = 0; k < 2; k++) {
        pt_shm *from = k ? two : one, *other = k ? one : two;
        uintptr_t d = (uintptr_t)pt_shm_view_of(from)->data;
        for (int dir = -1; dir <= 1; dir += 2) {
            int st = runaway(d, dir);
            CU_ASSERT_TRUE((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) ||
                           (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGSEGV));
        }
        CU_ASSERT_TRUE(all_bytes(other, k ? 0xEE : 0x77));
        pt_shm_fill(from, k ? 0x77 : 0xEE); /* undo the runaway's stores */
    }
    pt_shm_detach(one);
    pt_shm_detach(two);
}

/* The lines of /proc/self/maps overlapping [lo, hi), and how they begin. */
static int maps_overlapping(uintptr_t lo, uintptr_t hi, uintptr_t *start,
                            uintptr_t *end, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "re");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int n = 0;
    unsigned long a, b;
    char pr[5], line[512];
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx %4s", &a, &b, pr) == 3 && a < hi && b > lo &&
            n++ == 0) {
            *start = a;
            *end = b;
            memcpy(perms, pr, 5);
        }
    fclose(f);
    return n;
}

/* The mapping is data between two PROT_NONE guards of the data's size
 * (rounded up to 2 MiB, at least 2 MiB) and pt_shm_detach leaves nothing:
 * as /proc/self/maps and the guard tally say (small pages: the layout of
 * huge pages is test_shm_huge's). */
static void test_detach_unmaps_guards(void)
{
    const char *p = pt_test_prefix();
    size_t before = pt__shm_guard_bytes();
    pt_shm_opts o = opts2(p, "m", PT_UINT8, 5 * MIB, 0, 0);
    o.hugepages = PT_SHM_HUGE_OFF;
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    uintptr_t d = (uintptr_t)pt_shm_view_of(s)->data, g = 6 * MIB;
    CU_ASSERT_EQUAL(pt__shm_guard_bytes() - before, 2 * g);
    CU_ASSERT_EQUAL((d - page()) % (2 * MIB), 0); /* huge-page congruent */
    uintptr_t a, b;
    char perms[5];
    CU_ASSERT_EQUAL(maps_overlapping(d - 1, d, &a, &b, perms), 1);
    CU_ASSERT_EQUAL(a, d - g);
    CU_ASSERT_EQUAL(b, d);
    ASSERT_STR(perms, "---p");
    CU_ASSERT_EQUAL(maps_overlapping(d, d + 1, &a, &b, perms), 1);
    CU_ASSERT_EQUAL(b, d + 5 * MIB);
    ASSERT_STR(perms, "rw-s");
    CU_ASSERT_EQUAL(
        maps_overlapping(d + 5 * MIB, d + 5 * MIB + 1, &a, &b, perms), 1);
    CU_ASSERT_EQUAL(b, d + 5 * MIB + g);
    ASSERT_STR(perms, "---p");
    CU_ASSERT_EQUAL(pt_shm_detach(s), 0);
    CU_ASSERT_EQUAL(maps_overlapping(d - g, d + 5 * MIB + g, &a, &b, perms), 0);
    CU_ASSERT_EQUAL(pt__shm_guard_bytes(), before);
}

/* A small segment gets the minimum: 2 MiB each side. */
static void test_guard_minimum(void)
{
    size_t before = pt__shm_guard_bytes();
    pt_shm_opts o = opts2(pt_test_prefix(), "tiny", PT_INT8, 1, 0, 0);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL(pt__shm_guard_bytes() - before, 4 * MIB);
    pt_shm_detach(s);
    CU_ASSERT_EQUAL(pt__shm_guard_bytes(), before);
}

static const pt_test_case cases[] = {
    {"create and attach", test_create_attach, 0},
    {"attach refuses a type or shape mismatch", test_attach_mismatch, 0},
    {"a foreign object is refused and kept", test_attach_foreign, 0},
    {"anonymous after create", test_anonymous, 0},
    {"clean removes only dead owners' segments", test_clean_dead_owner, 0},
    {"create reclaims a dead owner's name", test_reclaim_on_create, 0},
    {"bad names and shapes", test_bad_names, 0},
    {"overflow and /dev/shm space", test_overflow_and_space, 0},
    {"fill", test_fill, 0},
    {"npy round trip", test_npy_round_trip, 0},
    {"stray stores around a segment fault", test_guard_pages, 0},
    {"a runaway loop leaves the neighbour intact", test_neighbours_intact, 0},
    {"detach unmaps data and guards", test_detach_unmaps_guards, 0},
    {"small segments get 2 MiB guards", test_guard_minimum, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("shm", cases, argc, argv);
}
