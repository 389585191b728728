/*
 * test_shm_huge.c - huge pages for shared memory segments: the layout of
 * hugepages auto, on and off, what pt_shm_hugepages() says, and `on`
 * refused cleanly where no huge pages are reserved. Passes whatever the
 * system's setting (shmem_enabled, nr_hugepages): each case checks what
 * that setting implies.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ptools/shm.h>

#include "harness.h"
#include "internal.h"

#define MIB ((uintptr_t)1 << 20)

static uintptr_t page(void)
{
    return (uintptr_t)sysconf(_SC_PAGESIZE);
}

static pt_shm_opts opts(const char *name, uint64_t bytes, int huge, int named)
{
    pt_shm_opts o = {.prefix = pt_test_prefix(),
                     .name = name,
                     .type = PT_UINT8,
                     .ndims = 1,
                     .named = named,
                     .hugepages = huge};
    o.dims[0] = bytes;
    return o;
}

/* The [start, end) and permissions of the mapping holding `at`. */
static int mapping_of(uintptr_t at, uintptr_t *start, uintptr_t *end,
                      char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "re");
    unsigned long a, b;
    char pr[5], line[512];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx %4s", &a, &b, pr) == 3 && a <= at && at < b) {
            *start = a;
            *end = b;
            memcpy(perms, pr, 5);
            found = 1;
        }
    if (f)
        fclose(f);
    return found;
}

/* Open descriptors of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

/* Fill the segment with 3 in a forked child, then sum it here. */
static void fill_in_child_and_sum(pt_shm *s)
{
    const pt_shm_view *v = pt_shm_view_of(s);
    pid_t pid = fork();
    if (pid == 0)
        _exit(pt_shm_fill(s, 3) == 0 ? 0 : 1);
    int st = -1;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < v->size; i++)
        sum += ((const uint8_t *)v->data)[i];
    CU_ASSERT_EQUAL(sum, 3 * v->size);
}

/* What pt_shm_hugepages says of an auto segment agrees with itself: huge
 * exactly when the setting lets advice work (no command to enable it). */
static void check_auto_info(const pt_shm *s, bool eligible)
{
    pt_shm_huge_info hi;
    int rc = pt_shm_hugepages(s, &hi);
    CU_ASSERT_EQUAL(hi.hugepages, PT_SHM_HUGE_AUTO);
    CU_ASSERT_EQUAL(hi.eligible, eligible);
    if (rc < 0) /* no sysfs here: nothing known */
        return;
    CU_ASSERT_NOT_EQUAL(hi.setting[0], '\0');
    CU_ASSERT_EQUAL(hi.huge, eligible && hi.enable[0] == '\0');
}

/* auto, 5 MiB: data 2 MiB-aligned, 6 MiB mapped between guards, filled
 * by a child and summed; attached by name the same way. */
static void test_auto_layout(void)
{
    pt_shm_opts o = opts("auto", 5 * MIB, PT_SHM_HUGE_AUTO, 1);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    uintptr_t d = (uintptr_t)pt_shm_view_of(s)->data, a = 0, b = 0;
    char perms[5] = "";
    CU_ASSERT_EQUAL(d % (2 * MIB), 0);
    CU_ASSERT_TRUE(mapping_of(d, &a, &b, perms));
    CU_ASSERT_EQUAL(a, d);
    CU_ASSERT_EQUAL(b, d + 6 * MIB);
    CU_ASSERT_STRING_EQUAL(perms, "rw-s");
    CU_ASSERT_EQUAL(pt_shm_view_of(s)->nbytes, 5 * MIB);
    check_auto_info(s, true);
    fill_in_child_and_sum(s);

    pt_shm *t = pt_shm_attach(o.prefix, "auto", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    uintptr_t e = (uintptr_t)pt_shm_view_of(t)->data;
    CU_ASSERT_EQUAL(e % (2 * MIB), 0);
    CU_ASSERT_TRUE(mapping_of(e, &a, &b, perms));
    CU_ASSERT_EQUAL(b, e + 6 * MIB);
    CU_ASSERT_EQUAL(((uint8_t *)e)[5 * MIB - 1], 3);
    check_auto_info(t, true);
    pt_shm_detach(t);
    pt_shm_unlink(s);
    pt_shm_detach(s);
}

/* auto under 2 MiB and off keep small pages: data a page in, mapped to
 * its page end. */
static void test_small_and_off(void)
{
    pt_shm_opts o = opts("small", MIB, PT_SHM_HUGE_AUTO, 0);
    pt_shm *s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    check_auto_info(s, false);
    pt_shm_detach(s);

    o = opts("off", 5 * MIB + 1, PT_SHM_HUGE_OFF, 0);
    s = pt_shm_create(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    uintptr_t d = (uintptr_t)pt_shm_view_of(s)->data, a = 0, b = 0;
    char perms[5] = "";
    CU_ASSERT_EQUAL((d - page()) % (2 * MIB), 0);
    CU_ASSERT_TRUE(mapping_of(d, &a, &b, perms));
    CU_ASSERT_EQUAL(b, d + 5 * MIB + page());
    pt_shm_huge_info hi;
    CU_ASSERT_EQUAL(pt_shm_hugepages(s, &hi), 0);
    CU_ASSERT_EQUAL(hi.hugepages, PT_SHM_HUGE_OFF);
    CU_ASSERT_FALSE(hi.huge);
    CU_ASSERT_FALSE(hi.eligible);
    fill_in_child_and_sum(s);
    pt_shm_detach(s);
}

/* Free reserved 2 MiB pages, or -1 when the system has none at all. */
static long free_huge_pages(void)
{
    FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/"
                    "free_hugepages",
                    "re");
    long n = -1;
    if (f && fscanf(f, "%ld", &n) != 1)
        n = -1;
    if (f)
        fclose(f);
    return n;
}

/* on: reserved huge pages when there are enough free, else ENOSPC with a
 * message saying how to reserve them, and no descriptor left open. */
static void test_on(void)
{
    long avail = free_huge_pages();
    int fds = open_fds();
    pt_shm_opts o = opts("on", 3 * MIB, PT_SHM_HUGE_ON, 0);
    errno = 0;
    pt_shm *s = pt_shm_create(&o);
    if (avail >= 2) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        uintptr_t d = (uintptr_t)pt_shm_view_of(s)->data;
        CU_ASSERT_EQUAL(d % (2 * MIB), 0);
        pt_shm_huge_info hi;
        CU_ASSERT_EQUAL(pt_shm_hugepages(s, &hi), 0);
        CU_ASSERT_TRUE(hi.huge);
        CU_ASSERT_EQUAL(free_huge_pages(), avail - 2);
        fill_in_child_and_sum(s);
        pt_shm_detach(s);
        CU_ASSERT_EQUAL(free_huge_pages(), avail);
    } else {
        CU_ASSERT_PTR_NULL(s);
        CU_ASSERT_EQUAL(errno, avail < 0 ? ENOSYS : ENOSPC);
        if (avail >= 0)
            CU_ASSERT_PTR_NOT_NULL(
                strstr(pt_errmsg(), "/proc/sys/vm/nr_hugepages"));
        CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "hugepages on"));
    }
    CU_ASSERT_EQUAL(open_fds(), fds);
}

/* on with named, and a value out of range: EINVAL, nothing made. */
static void test_bad_choices(void)
{
    pt_shm_opts o = opts("named", 3 * MIB, PT_SHM_HUGE_ON, 1);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(pt_errmsg(), "unnamed"));
    CU_ASSERT_PTR_NULL(pt_shm_attach(o.prefix, "named", NULL));
    o = opts("odd", MIB, 7, 0);
    errno = 0;
    CU_ASSERT_PTR_NULL(pt_shm_create(&o));
    CU_ASSERT_EQUAL(errno, EINVAL);
}

static const pt_test_case cases[] = {
    {"auto: aligned, rounded, shared, attached", test_auto_layout, 0},
    {"auto under 2 MiB and off: small pages", test_small_and_off, 0},
    {"on: reserved pages, or refused cleanly", test_on, 0},
    {"on with named, and bad values", test_bad_choices, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
    return pt_test_main("shm_huge", cases, argc, argv);
}
