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
#include <ptools/sys.h>

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
 * the first wrapper call or pt_sys_fault_init(). Counts live in the process's
 * memory: a process forked after N calls (a worker) goes on from N, on its
 * own. Each injected failure is announced on stderr. Unset: one branch.
 */
typedef enum pt__fault_point {
    PT__FAULT_FORK,      /* pt_sys_fork: EAGAIN */
    PT__FAULT_PIPE,      /* pt_sys_pipe: EMFILE */
    PT__FAULT_SHM_OPEN,  /* pt_sys_shm_open: EMFILE */
    PT__FAULT_FTRUNCATE, /* pt_sys_ftruncate: EFBIG */
    PT__FAULT_FALLOCATE, /* pt_sys_fallocate: ENOSPC */
    PT__FAULT_MMAP,      /* pt_sys_mmap: ENOMEM */
    PT__FAULT_WRITE,     /* pt_sys_write_full/_some, pwrite, writev: ENOSPC */
    PT__FAULT_FSYNC,     /* pt_sys_fsync: EIO */
    PT__FAULT_SOCKET,    /* pt_sys_socket: EMFILE */
    PT__FAULT_BIND,      /* pt_sys_bind: EACCES */
    PT__FAULT_OPEN,      /* pt_sys_open (data and run-folder files): EMFILE */
    PT__FAULT_COUNT
} pt__fault_point;

#define PT__FAULT_OFF 2 /* pt__fault_state once read, with nothing to do */
extern _Atomic int pt__fault_state;

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

/* Where pt_sys_child_reset_signals() reads which signals are caught or
 * ignored ("/proc/self/status"); a test points it elsewhere to take the
 * path of a system without /proc. */
extern const char *pt__signal_status_path;

/* Address space this process holds as guard pages around shm segments
 * (shm_data.c): a worker's `memory` limit comes on top of it. */
size_t pt__shm_guard_bytes(void);

#endif
