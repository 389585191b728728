/* os_linux.c - Linux implementation of os.h. */
#define _GNU_SOURCE
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h> /* glibc 2.32 */
#define HAVE_SINGLE_THREADED 1
#endif
#endif

#include "internal.h"

int pt_sys_pipe(int fds[2])
{
    int f = pt__fault(PT__FAULT_PIPE);
    if (f < 0)
        return f;
    if (pipe2(fds, O_CLOEXEC) < 0) /* elsewhere: pipe + FD_CLOEXEC */
        return -errno;
    return 0;
}

int pt_sys_parent_death_signal(int sig)
{
    if (prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

int pt__os_set_subreaper(void)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1UL, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

/* Add the pids listed in one /proc/self/task/<tid>/children file (read
 * in pieces: a pid cut by a piece's end is carried to the next). */
static int read_children(const char *path, pid_t *out, int cap, int n)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? n : -errno; /* a thread that just ended */
    long pid = -1;
    ssize_t got;
    while ((got = pt_sys_read_some(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                pid = (pid < 0 ? 0 : pid * 10) + (buf[i] - '0');
                continue;
            }
            if (pid >= 0 && n < cap)
                out[n] = (pid_t)pid;
            n += pid >= 0;
            pid = -1;
        }
    }
    pt_sys_close(fd);
    if (got < 0)
        return (int)got;
    if (pid >= 0 && n < cap)
        out[n] = (pid_t)pid;
    return n + (pid >= 0);
}

/*
 * The children files of every thread (Linux 3.5+, CONFIG_PROC_CHILDREN).
 */
int pt__os_children(pid_t *out, int cap)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -errno;
    int n = 0;
    struct dirent *de;
    char path[300];
    while (n >= 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/children", de->d_name);
        n = read_children(path, out, cap, n);
    }
    closedir(d);
    return n;
}

/*
 * Read /proc/<pid>/stat and return the fields after the command name, which
 * is in parentheses and may itself contain spaces and parentheses.
 */
static int read_stat(pid_t pid, char *buf, size_t size, char **rest)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -ESRCH : -errno;
    ssize_t n = pt_sys_read_some(fd, buf, size - 1);
    pt_sys_close(fd);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    char *close_paren = strrchr(buf, ')');
    if (!close_paren || close_paren[1] != ' ')
        return -EPROTO;
    *rest = close_paren + 2; /* field 3, the state */
    return 0;
}

/* Field `field` (1-based as in proc(5)) of a stat line's `rest`. */
static int stat_field(char *rest, int field, uint64_t *out)
{
    char *p = rest;
    for (int i = 3; i < field; i++) {
        p = strchr(p, ' ');
        if (!p)
            return -EPROTO;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        return -EPROTO;
    *out = v;
    return 0;
}

int pt__os_proc_start_time(pid_t pid, uint64_t *start)
{
    char buf[1024], *rest;
    int rc = read_stat(pid, buf, sizeof buf, &rest);
    if (rc < 0)
        return rc;
    if (rest[0] == 'Z' || rest[0] == 'X') /* a zombie is dead already */
        return -ESRCH;
    return stat_field(rest, 22, start);
}

/*
 * A process that never made a thread (glibc's __libc_single_threaded) has
 * one: no /proc read, which costs a run's start 15-25 us and, now and
 * then on a busy VM, a whole millisecond. Once a thread was made, /proc
 * counts those still alive.
 */
int pt_sys_thread_count(void)
{
    char buf[1024], *rest;
    uint64_t n = 0;
#ifdef HAVE_SINGLE_THREADED
    if (__libc_single_threaded)
        return 1;
#endif
    int rc = read_stat(getpid(), buf, sizeof buf, &rest);
    if (rc == 0)
        rc = stat_field(rest, 20, &n);
    return rc < 0 ? rc : (int)n;
}

int pt_sys_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return errno == ENOSYS ? -ENOSYS : -errno;
    /* pidfds are close-on-exec from birth. */
    return (int)fd;
#else
    (void)pid;
    return -ENOSYS;
#endif
}

/* close_range(lo, hi) where lo <= hi; a loop where the kernel lacks it. */
static void close_span(unsigned lo, unsigned hi)
{
    if (lo > hi)
        return;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    unsigned top = max > 0 && (unsigned long)max - 1 < hi ? (unsigned)max - 1
                                                          : hi;
    for (unsigned fd = lo; fd <= top; fd++)
        close((int)fd);
}

int pt_sys_close_all_but(const int *keep, int n)
{
    unsigned fds[PT_SYS_KEEP_MAX];
    int k = 0;
    if (n < 0 || n > PT_SYS_KEEP_MAX)
        return -EINVAL;
    for (int i = 0; i < n; i++) { /* insertion sort of the fds >= 3 */
        if (keep[i] < 3)
            continue;
        int j = k++;
        for (; j > 0 && fds[j - 1] > (unsigned)keep[i]; j--)
            fds[j] = fds[j - 1];
        fds[j] = (unsigned)keep[i];
    }
    unsigned lo = 3;
    for (int i = 0; i < k; i++) {
        if (fds[i] > lo)
            close_span(lo, fds[i] - 1);
        if (fds[i] >= lo)
            lo = fds[i] + 1;
    }
    close_span(lo, ~0U);
    return 0;
}

/* memfd_create with `flags` added to close-on-exec and sealing, sealed. */
static int memfd_sealed(const char *name, unsigned flags)
{
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | flags);
    if (fd < 0)
        return -errno;
    /* No shrinking, and no seal added later (F_SEAL_GROW or F_SEAL_WRITE
     * by a worker would only break its own results, but why allow it). */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        int err = -errno;
        pt_sys_close(fd);
        return err;
    }
    return fd;
}

int pt__os_memfd(const char *name)
{
    return memfd_sealed(name, 0);
}

#ifndef MFD_HUGE_2MB
#define MFD_HUGE_2MB (21U << 26) /* <linux/memfd.h>: log2(size) << 26 */
#endif

int pt__os_memfd_huge(const char *name)
{
#ifdef MFD_HUGETLB
    return memfd_sealed(name, MFD_HUGETLB | MFD_HUGE_2MB);
#else
    (void)name;
    return -ENOSYS;
#endif
}

/* The first line of a small file, without its newline: 0 or -errno. */
static int read_line(const char *path, char *buf, size_t size)
{
    int fd = pt_sys_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    ssize_t n = pt_sys_read_some(fd, buf, size - 1);
    pt_sys_close(fd);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

int pt__os_huge_pages(uint64_t *total, uint64_t *avail)
{
    static const char dir[] = "/sys/kernel/mm/hugepages/hugepages-2048kB/";
    char path[128], line[64];
    snprintf(path, sizeof path, "%snr_hugepages", dir);
    int rc = read_line(path, line, sizeof line);
    if (rc < 0)
        return rc;
    *total = strtoull(line, NULL, 10);
    snprintf(path, sizeof path, "%sfree_hugepages", dir);
    if ((rc = read_line(path, line, sizeof line)) < 0)
        return rc;
    *avail = strtoull(line, NULL, 10);
    return 0;
}

/* The bracketed word of a sysfs choice ("always [never] deny"). */
static int chosen(const char *path, char *out, size_t size)
{
    char line[256];
    int rc = read_line(path, line, sizeof line);
    if (rc < 0)
        return rc;
    char *lo = strchr(line, '['), *hi = lo ? strchr(lo, ']') : NULL;
    if (!hi)
        return -EINVAL;
    snprintf(out, size, "%.*s", (int)(hi - lo - 1), lo + 1);
    return 0;
}

/* The huge= option /dev/shm is mounted with ("never" when none). */
static void dev_shm_huge(char *out, size_t size)
{
    snprintf(out, size, "never");
    FILE *f = fopen("/proc/self/mounts", "re");
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        char dev[256], dir[256], type[64], opts[512];
        if (sscanf(line, "%255s %255s %63s %511s", dev, dir, type, opts) < 4 ||
            strcmp(dir, "/dev/shm") != 0)
            continue;
        char *h = strstr(opts, "huge=");
        snprintf(out, size, "%.*s", h ? (int)strcspn(h + 5, ",") : 5,
                 h ? h + 5 : "never"); /* the last mount of it counts */
    }
    if (f)
        fclose(f);
}

int pt__os_thp_shmem(int named, pt__os_thp *out)
{
    static const char knob[] = "/sys/kernel/mm/transparent_hugepage/"
                               "shmem_enabled";
    char word[32];
    *out = (pt__os_thp){0};
    int rc = chosen(knob, word, sizeof word);
    if (rc < 0)
        return rc;
    int global = !strcmp(word, "force") || !strcmp(word, "deny");
    if (named && !global) { /* a tmpfs mount has its own setting */
        char opt[32];
        dev_shm_huge(opt, sizeof opt);
        snprintf(out->setting, sizeof out->setting, "/dev/shm huge=%s", opt);
        out->effective = strcmp(opt, "never") != 0;
        snprintf(out->enable, sizeof out->enable,
                 "mount -o remount,huge=advise /dev/shm");
        return 0;
    }
    snprintf(out->setting, sizeof out->setting, "%s=%s", knob, word);
    out->effective = strcmp(word, "never") != 0 && strcmp(word, "deny") != 0;
    snprintf(out->enable, sizeof out->enable, "echo advise > %s", knob);
    return 0;
}

void pt__os_advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t hi = ((uintptr_t)p + len) & ~(huge - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* a hint: may fail */
#else
    (void)p;
    (void)len;
#endif
}

int pt__os_set_pipe_size(int fd, int bytes)
{
    if (fcntl(fd, F_SETPIPE_SZ, bytes) < 0)
        return -errno;
    return 0;
}

const char *pt__os_shm_dir(void)
{
    return "/dev/shm";
}

int pt__os_shm_free(uint64_t *bytes)
{
    struct statvfs sv;
    if (statvfs("/dev/shm", &sv) < 0)
        return -errno;
    *bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}
