/*
 * sys.c - robust system call wrappers, and the fault injection that can
 * make each of them fail on purpose (see internal.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* ---- fault injection ---- */

#define FAULT_ENV "PTOOLS_FAULT"
#define FAULT_RULES_MAX 16
#define FAULT_N_MAX 1000000000L

enum { FAULT_UNREAD, FAULT_READING, FAULT_ARMED = 3 }; /* + PT__FAULT_OFF */

_Atomic int pt__fault_state = FAULT_UNREAD;

/* Each point: its name in PTOOLS_FAULT and the errno it fails with. */
static const struct {
    const char *name;
    int err;
} fault_points[PT__FAULT_COUNT] = {
    [PT__FAULT_FORK] = {"fork", EAGAIN},
    [PT__FAULT_PIPE] = {"pipe", EMFILE},
    [PT__FAULT_SHM_OPEN] = {"shm_open", EMFILE},
    [PT__FAULT_FTRUNCATE] = {"ftruncate", EFBIG},
    [PT__FAULT_FALLOCATE] = {"fallocate", ENOSPC},
    [PT__FAULT_MMAP] = {"mmap", ENOMEM},
    [PT__FAULT_WRITE] = {"write", ENOSPC},
    [PT__FAULT_FSYNC] = {"fsync", EIO},
    [PT__FAULT_SOCKET] = {"socket", EMFILE},
    [PT__FAULT_BIND] = {"bind", EACCES},
    [PT__FAULT_OPEN] = {"open", EMFILE},
};

/* The errno names PTOOLS_FAULT knows (others: give the number). */
static const struct {
    const char *name;
    int err;
} fault_errnos[] = {
    {"EACCES", EACCES}, {"EADDRINUSE", EADDRINUSE}, {"EAGAIN", EAGAIN},
    {"EBADF", EBADF},   {"EDQUOT", EDQUOT},         {"EEXIST", EEXIST},
    {"EFBIG", EFBIG},   {"EINVAL", EINVAL},         {"EIO", EIO},
    {"EMFILE", EMFILE}, {"ENFILE", ENFILE},         {"ENODEV", ENODEV},
    {"ENOENT", ENOENT}, {"ENOMEM", ENOMEM},         {"ENOSPC", ENOSPC},
    {"EPERM", EPERM},   {"EPIPE", EPIPE},           {"EROFS", EROFS},
};

/* One rule of PTOOLS_FAULT: call `n` of `point` fails with errno `err`. */
typedef struct fault_rule {
    pt__fault_point point;
    uint64_t n;
    int err;
} fault_rule;

/* Written once by fault_read(), before the state says they are ready. */
static fault_rule fault_rules[FAULT_RULES_MAX];
static int fault_nrules;
static char fault_why[512]; /* what was wrong with PTOOLS_FAULT */
/* The calls of each point so far, in this process and the ones it forked
 * from (a child's memory starts as a copy of its parent's). */
static _Atomic uint64_t fault_calls[PT__FAULT_COUNT];

/* The point named by the `len` bytes at `s`, or -1. */
static int fault_point_named(const char *s, size_t len)
{
    for (int p = 0; p < PT__FAULT_COUNT; p++)
        if (strlen(fault_points[p].name) == len &&
            memcmp(fault_points[p].name, s, len) == 0)
            return p;
    return -1;
}

/* An errno given by name or number: the positive code, or -1. */
static int fault_errno_named(const char *s)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(fault_errnos); i++)
        if (strcmp(fault_errnos[i].name, s) == 0)
            return fault_errnos[i].err;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || end == s || *end || v < 1 || v > 4095 ? -1 : (int)v;
}

/* The name of errno `err` for the notice (its number if unnamed). */
static const char *fault_errno_name(int err, char *buf, size_t size)
{
    for (size_t i = 0; i < PT_ARRAY_LEN(fault_errnos); i++)
        if (fault_errnos[i].err == err)
            return fault_errnos[i].name;
    snprintf(buf, size, "errno %d", err);
    return buf;
}

/* Say why one rule (`rule`, NUL-terminated) is wrong: -EINVAL. */
static int fault_bad(const char *rule, const char *why)
{
    char points[160] = "";
    for (int p = 0; p < PT__FAULT_COUNT; p++)
        snprintf(points + strlen(points), sizeof points - strlen(points),
                 "%s%s", p ? ", " : "", fault_points[p].name);
    snprintf(fault_why, sizeof fault_why,
             FAULT_ENV ": '%s': %s (expected "
                       "POINT:N[:ERRNO], POINT one of %s)",
             rule, why, points);
    return -EINVAL;
}

/* Parse one rule, POINT:N[:ERRNO] (modified in place), into r. */
static int fault_parse_rule(char *rule, fault_rule *r)
{
    char *colon = strchr(rule, ':'), *end;
    int p = colon ? fault_point_named(rule, (size_t)(colon - rule)) : -1;
    if (p < 0)
        return fault_bad(rule, colon ? "unknown point" : "no ':N'");
    errno = 0;
    long n = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || (*end && *end != ':') || n < 1 ||
        n > FAULT_N_MAX)
        return fault_bad(rule, "N must be a call number from 1");
    r->point = (pt__fault_point)p;
    r->n = (uint64_t)n;
    r->err = *end ? fault_errno_named(end + 1) : fault_points[p].err;
    return r->err < 0 ? fault_bad(rule, "unknown errno") : 0;
}

/* Parse the comma-separated rules of `spec` into fault_rules. */
static int fault_parse(const char *spec)
{
    char buf[1024], *save = NULL;
    if (strlen(spec) >= sizeof buf)
        return fault_bad("...", "longer than 1023 bytes");
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *rule = strtok_r(buf, ",", &save); rule;
         rule = strtok_r(NULL, ",", &save)) {
        if (fault_nrules == FAULT_RULES_MAX)
            return fault_bad(rule, "more than 16 rules");
        int rc = fault_parse_rule(rule, &fault_rules[fault_nrules]);
        if (rc < 0)
            return rc;
        fault_nrules++;
    }
    return 0;
}

/*
 * Read PTOOLS_FAULT once: the first caller parses, any other waits for it
 * (a few microseconds). A bad value arms nothing.
 */
static int fault_read(void)
{
    static int read_rc;
    int unread = FAULT_UNREAD;
    if (atomic_compare_exchange_strong(&pt__fault_state, &unread,
                                       FAULT_READING)) {
        const char *spec = getenv(FAULT_ENV);
        read_rc = spec ? fault_parse(spec) : 0;
        if (read_rc < 0)
            fault_nrules = 0;
        atomic_store(&pt__fault_state,
                     fault_nrules ? FAULT_ARMED : PT__FAULT_OFF);
    }
    while (atomic_load(&pt__fault_state) == FAULT_READING)
        ;
    return read_rc;
}

int pt_sys_fault_init(void)
{
    int rc = fault_read();
    return rc < 0 ? pt__err(rc, "%s", fault_why) : 0;
}

/* Tell stderr which call fails, so that a test sees the fault fire. */
static void fault_announce(const fault_rule *r)
{
    char msg[200], num[24];
    int n = snprintf(msg, sizeof msg,
                     "ptools: " FAULT_ENV ": call %llu of "
                     "%s fails with %s (pid %ld)\n",
                     (unsigned long long)r->n, fault_points[r->point].name,
                     fault_errno_name(r->err, num, sizeof num), (long)getpid());
    if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0) {
        /* no stderr: the failure itself still happens */
    }
}

int pt__fault_hit(pt__fault_point p)
{
    if (atomic_load(&pt__fault_state) == FAULT_UNREAD && fault_read() < 0) {
        char line[300];
        int n = snprintf(line, sizeof line,
                         "ptools: %s; no fault is "
                         "injected\n",
                         fault_why);
        if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
            /* nowhere to say it */
        }
    }
    if (atomic_load(&pt__fault_state) != FAULT_ARMED)
        return 0;
    uint64_t n = atomic_fetch_add(&fault_calls[p], 1) + 1;
    for (int i = 0; i < fault_nrules; i++) {
        if (fault_rules[i].point == p && fault_rules[i].n == n) {
            fault_announce(&fault_rules[i]);
            return -fault_rules[i].err;
        }
    }
    return 0;
}

/* ---- the wrappers ---- */

int pt_sys_write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    int f = pt__fault(PT__FAULT_WRITE);
    if (f < 0)
        return f;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

ssize_t pt_sys_write_some(int fd, const void *p, size_t n)
{
    int f = pt__fault(PT__FAULT_WRITE);
    if (f < 0)
        return f;
    for (;;) {
        ssize_t w = write(fd, p, n);
        if (w >= 0)
            return w;
        if (errno != EINTR)
            return -errno;
    }
}

int pt_sys_writev_full(int fd, struct iovec *iov, int n)
{
    int f = pt__fault(PT__FAULT_WRITE);
    if (f < 0)
        return f;
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        size_t left = (size_t)w;
        for (; n > 0 && left >= iov->iov_len; iov++, n--)
            left -= iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int pt_sys_read_full(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = pt_sys_read_some(fd, c, n);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EPIPE;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

int pt_sys_pwrite_full(int fd, const void *p, size_t n, off_t off)
{
    const char *c = p;
    int f = pt__fault(PT__FAULT_WRITE);
    if (f < 0)
        return f;
    while (n > 0) {
        ssize_t w = pwrite(fd, c, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        c += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int pt_sys_pread_full(int fd, void *p, size_t n, off_t off)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = pread(fd, c, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EPIPE;
        c += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

ssize_t pt_sys_read_some(int fd, void *p, size_t n)
{
    for (;;) {
        ssize_t r = read(fd, p, n);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

pid_t pt_sys_waitpid(pid_t pid, int *status, int flags)
{
    for (;;) {
        pid_t r = waitpid(pid, status, flags);
        if (r >= 0)
            return r;
        if (errno != EINTR)
            return -errno;
    }
}

void pt_sys_close(int fd)
{
    int saved = errno;
    if (fd >= 0)
        close(fd); /* never retried: the fd is gone even on EINTR */
    errno = saved;
}

pid_t pt_sys_fork(void)
{
    int f = pt__fault(PT__FAULT_FORK);
    if (f < 0)
        return f;
    pid_t pid = fork();
    return pid < 0 ? -errno : pid;
}

int pt_sys_open(const char *path, int flags, mode_t mode)
{
    int f = pt__fault(PT__FAULT_OPEN);
    if (f < 0)
        return f;
    for (;;) {
        int fd = open(path, flags | O_CLOEXEC, mode);
        if (fd >= 0)
            return fd;
        if (errno != EINTR)
            return -errno;
    }
}

int pt_sys_shm_open(const char *name, int flags, mode_t mode)
{
    int f = pt__fault(PT__FAULT_SHM_OPEN);
    if (f < 0)
        return f;
    int fd = shm_open(name, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

int pt_sys_ftruncate(int fd, off_t len)
{
    int f = pt__fault(PT__FAULT_FTRUNCATE);
    if (f < 0)
        return f;
    while (ftruncate(fd, len) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int pt_sys_fallocate(int fd, off_t off, off_t len)
{
    int f = pt__fault(PT__FAULT_FALLOCATE);
    if (f < 0)
        return f;
    int rc;
    do
        rc = posix_fallocate(fd, off, len); /* an errno, not -1 */
    while (rc == EINTR);
    return -rc;
}

void *pt_sys_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off)
{
    int f = pt__fault(PT__FAULT_MMAP);
    if (f < 0) {
        errno = -f;
        return MAP_FAILED;
    }
    return mmap(addr, len, prot, flags, fd, off);
}

int pt_sys_fsync(int fd)
{
    int f = pt__fault(PT__FAULT_FSYNC);
    if (f < 0)
        return f;
    while (fsync(fd) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int pt_sys_socket(int domain, int type, int protocol)
{
    int f = pt__fault(PT__FAULT_SOCKET);
    if (f < 0)
        return f;
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    return fd < 0 ? -errno : fd;
}

int pt_sys_bind(int fd, const struct sockaddr *sa, unsigned len)
{
    int f = pt__fault(PT__FAULT_BIND);
    if (f < 0)
        return f;
    return bind(fd, sa, len) < 0 ? -errno : 0;
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t pt_sys_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t pt_sys_real_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int pt_sys_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    if (fcntl(fd, F_SETFL, fl) < 0)
        return -errno;
    return 0;
}

const char *pt__signal_status_path = "/proc/self/status";

/* The 64-bit hex mask after `key` ("SigCgt:") in /proc's status text
 * s[0..n-1], OR-ed into *mask: true if the key was there. */
static bool status_mask(const char *s, size_t n, const char *key,
                        uint64_t *mask)
{
    size_t k = strlen(key);
    for (const char *p = s; p && p + k <= s + n;) {
        if (memcmp(p, key, k) == 0) {
            uint64_t m = 0;
            const char *q = p + k;
            while (q < s + n && (*q == ' ' || *q == '\t'))
                q++;
            const char *hex = q;
            for (; q < s + n; q++) {
                int d = *q >= '0' && *q <= '9'   ? *q - '0'
                        : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
                                                 : -1;
                if (d < 0)
                    break;
                m = m << 4 | (uint64_t)d;
            }
            if (q == hex || q == s + n || *q != '\n')
                return false; /* cut short: not a whole line */
            *mask |= m;
            return true;
        }
        p = memchr(p, '\n', (size_t)(s + n - p));
        p = p ? p + 1 : NULL;
    }
    return false;
}

/*
 * The signals whose disposition is not SIG_DFL (bit sig - 1), from the
 * kernel's SigIgn and SigCgt lines: one open and a read or two instead of
 * a sigaction per signal (62 calls, ~70 us here, against ~13 us). Only
 * read(2)-safe calls: it runs in a child just forked from a process that
 * may have threads. 0, or -errno (no /proc: the caller tries them all).
 */
static int non_default_signals(uint64_t *mask)
{
    int fd = open(pt__signal_status_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[2048]; /* the lines come within the first 1.5 KiB or so */
    size_t n = 0;
    int rc = -ENODATA;
    while (rc < 0 && n < sizeof buf) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        *mask = 0; /* both lines whole: no read to the end */
        if (status_mask(buf, n, "SigIgn:", mask) &&
            status_mask(buf, n, "SigCgt:", mask))
            rc = 0;
    }
    close(fd);
    return rc;
}

void pt_sys_child_reset_signals(const sigset_t *old)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    uint64_t mask;
    if (non_default_signals(&mask) == 0) {
        /* SIGCHLD always: at SIG_DFL it may still carry SA_NOCLDWAIT,
         * which the kernel's lists do not show */
        mask |= UINT64_C(1) << (SIGCHLD - 1);
        for (int sig = 1; sig < NSIG && sig <= 64; sig++)
            if (mask & UINT64_C(1) << (sig - 1))
                sigaction(sig, &sa, NULL);
    } else {
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                sigaction(sig, &sa, NULL); /* fails harmlessly for reserved
                                              ones */
    }
    sigprocmask(SIG_SETMASK, old, NULL);
}

#ifdef PTOOLS_COVERAGE
void __gcov_dump(void); /* libgcov: write this process's counters now */
#endif

void pt_sys_exit(int status)
{
#ifdef PTOOLS_COVERAGE
    __gcov_dump();
#endif
    _exit(status);
}

const char *pt_sys_dl_reason(const char *path, const char *why)
{
    size_t n = strlen(path);
    if (!why)
        return "unknown error";
    if (strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
        return why + n + 2;
    return why;
}
