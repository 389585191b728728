/*
 * internal.h - private helpers shared by libptools' modules (not installed).
 *
 * Errors: pt__err() records the detailed message that pt_errmsg() returns
 * and passes the code through, so a failure reads `return pt__err(-E, ...)`.
 * System calls: the robust wrappers retry on EINTR and loop on short
 * transfers; close is never retried (see SQLite's robust_close). Each
 * system call that can fail a run has one wrapper here, and each wrapper
 * can be made to fail on purpose (PTOOLS_FAULT, below), so that tests
 * reach the error paths.
 */
#ifndef PT_INTERNAL_H
#define PT_INTERNAL_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ptools/common.h>

#define PT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct iovec;
struct sockaddr;

/* Record a detailed message for pt_errmsg(); returns `code` unchanged. */
int pt__err(int code, const char *fmt, ...) PT_PRINTF(2, 3);

/*
 * Fault injection, for tests (SQLite's swappable system calls, driven by
 * the environment): PTOOLS_FAULT=POINT:N[:ERRNO][,POINT:N[:ERRNO]]... makes
 * the Nth call of POINT's wrapper fail with ERRNO (a name such as ENOSPC,
 * or a number; default: the point's most plausible one). Read once, at
 * the first wrapper call or pt__fault_init(). Counts live in the process's
 * memory: a process forked after N calls (a worker) goes on from N, on its
 * own. Each injected failure is announced on stderr. Unset: one branch.
 */
typedef enum pt__fault_point {
    PT__FAULT_FORK,      /* pt__fork: EAGAIN */
    PT__FAULT_PIPE,      /* pt__pipe: EMFILE */
    PT__FAULT_SHM_OPEN,  /* pt__shm_open: EMFILE */
    PT__FAULT_FTRUNCATE, /* pt__ftruncate: EFBIG */
    PT__FAULT_FALLOCATE, /* pt__fallocate: ENOSPC */
    PT__FAULT_MMAP,      /* pt__mmap: ENOMEM */
    PT__FAULT_WRITE,     /* pt__write_full/_some, pwrite, writev: ENOSPC */
    PT__FAULT_FSYNC,     /* pt__fsync: EIO */
    PT__FAULT_SOCKET,    /* pt__socket: EMFILE */
    PT__FAULT_BIND,      /* pt__bind: EACCES */
    PT__FAULT_OPEN,      /* pt__open (data and run-folder files): EMFILE */
    PT__FAULT_COUNT
} pt__fault_point;

#define PT__FAULT_OFF 2 /* pt__fault_state once read, with nothing to do */
extern _Atomic int pt__fault_state;

/* Read PTOOLS_FAULT now: 0, or -EINVAL (pt_errmsg() says why). */
int pt__fault_init(void);
/* Count a call of point p: 0, or the -errno it must fail with. */
int pt__fault_hit(pt__fault_point p);

/* 0, or the -errno a call of point p must fail with (see above). */
static inline int pt__fault(pt__fault_point p)
{
    if (atomic_load_explicit(&pt__fault_state, memory_order_relaxed) ==
        PT__FAULT_OFF)
        return 0;
    return pt__fault_hit(p);
}

/* Write all n bytes: 0, or -errno (-EPIPE when the reader is gone). */
int pt__write_full(int fd, const void *p, size_t n);
/* One write retried on EINTR: bytes written, or -errno (-EAGAIN). */
ssize_t pt__write_some(int fd, const void *p, size_t n);
/* writev until every iovec is out (it changes `iov`): 0 or -errno. */
int pt__writev_full(int fd, struct iovec *iov, int n);
/* Read exactly n bytes: 0, -EPIPE on EOF before n bytes, or -errno. */
int pt__read_full(int fd, void *p, size_t n);
/* pwrite/pread of all n bytes at offset `off` (the fd's offset is left
 * alone): 0, or -errno (-EPIPE when the file ends before n bytes). */
int pt__pwrite_full(int fd, const void *p, size_t n, off_t off);
int pt__pread_full(int fd, void *p, size_t n, off_t off);
/* One read retried on EINTR: bytes read (0 = EOF), or -errno. */
ssize_t pt__read_some(int fd, void *p, size_t n);
/* waitpid retried on EINTR: the pid, 0 (WNOHANG, not yet), or -errno. */
pid_t pt__waitpid(pid_t pid, int *status, int flags);
/* Close, keeping errno; never retried. */
void pt__close(int fd);
/* A pipe whose two ends are O_CLOEXEC: 0 or -errno (in os_<system>.c). */
int pt__pipe(int fds[2]);
/* fork: the child's pid (0 in the child), or -errno. */
pid_t pt__fork(void);
/* open, always O_CLOEXEC, retried on EINTR: the fd, or -errno. For the
 * files ptools reads or writes as data (run folder, .npy). */
int pt__open(const char *path, int flags, mode_t mode);
/* shm_open, always O_CLOEXEC: the fd, or -errno. */
int pt__shm_open(const char *name, int flags, mode_t mode);
/* ftruncate retried on EINTR: 0 or -errno. */
int pt__ftruncate(int fd, off_t len);
/* posix_fallocate retried on EINTR: 0 or -errno. */
int pt__fallocate(int fd, off_t off, off_t len);
/* mmap: the address, or MAP_FAILED with errno set (as mmap). */
void *pt__mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* fsync: 0 or -errno. */
int pt__fsync(int fd);
/* socket, always SOCK_CLOEXEC: the fd, or -errno. */
int pt__socket(int domain, int type, int protocol);
/* bind (`len` is a socklen_t): 0 or -errno. */
int pt__bind(int fd, const struct sockaddr *sa, unsigned len);
/* The monotonic clock, in ns: ptools' one clock for durations. */
int64_t pt__mono_ns(void);
/* Set or clear O_NONBLOCK: 0 or -errno. */
int pt__set_nonblock(int fd, int on);
/* Address space this process holds as guard pages around shm segments
 * (shm.c): a worker's `memory` limit comes on top of it. */
size_t pt__shm_guard_bytes(void);

/*
 * In a child just forked with every signal blocked (STYLE 5): put each
 * signal's disposition back to the default, then restore the mask `old`
 * saved by the parent, so no handler of the parent's ever runs in it.
 */
void pt__child_reset_signals(const sigset_t *old);

#endif
