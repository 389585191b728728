/*
 * ptools/sys.h - the system-call layer libptools is built on, for programs
 * built on it (ptrun is one).
 *
 * Each wrapper retries on EINTR and loops on short transfers; close is
 * never retried (SQLite's robust_close says why); every fd is born
 * close-on-exec. They return 0 (or a count, an fd, a pid) or a negative
 * errno. Each one that can fail a run can be made to fail on purpose by
 * the environment, for tests: PTOOLS_FAULT=POINT:N[:ERRNO],... makes the
 * Nth call of POINT fail (points: fork, pipe, shm_open, ftruncate,
 * fallocate, mmap, write, fsync, socket, bind, open).
 */
#ifndef PTOOLS_SYS_H
#define PTOOLS_SYS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ptools/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct iovec;
struct sockaddr;

/* Write all n bytes: 0, or -errno (-EPIPE when the reader is gone). */
PT_EXTERN int pt_sys_write_full(int fd, const void *p, size_t n);
/* One write retried on EINTR: bytes written, or -errno (-EAGAIN). */
PT_EXTERN ssize_t pt_sys_write_some(int fd, const void *p, size_t n);
/* writev until every iovec is out (it changes `iov`): 0 or -errno. */
PT_EXTERN int pt_sys_writev_full(int fd, struct iovec *iov, int n);
/* Read exactly n bytes: 0, -EPIPE on EOF before n bytes, or -errno. */
PT_EXTERN int pt_sys_read_full(int fd, void *p, size_t n);
/* pwrite/pread of all n bytes at offset `off` (the fd's offset is left
 * alone): 0, or -errno (-EPIPE when the file ends before n bytes). */
PT_EXTERN int pt_sys_pwrite_full(int fd, const void *p, size_t n, off_t off);
PT_EXTERN int pt_sys_pread_full(int fd, void *p, size_t n, off_t off);
/* One read retried on EINTR: bytes read (0 = EOF), or -errno. */
PT_EXTERN ssize_t pt_sys_read_some(int fd, void *p, size_t n);
/* waitpid retried on EINTR: the pid, 0 (WNOHANG, not yet), or -errno. */
PT_EXTERN pid_t pt_sys_waitpid(pid_t pid, int *status, int flags);
/* Close, keeping errno; never retried. */
PT_EXTERN void pt_sys_close(int fd);
/* A pipe whose two ends are O_CLOEXEC: 0 or -errno (in os_<system>.c). */
PT_EXTERN int pt_sys_pipe(int fds[2]);
/* fork: the child's pid (0 in the child), or -errno. */
PT_EXTERN pid_t pt_sys_fork(void);
/* open, always O_CLOEXEC, retried on EINTR: the fd, or -errno. For the
 * files ptools reads or writes as data (run folder, .npy). */
PT_EXTERN int pt_sys_open(const char *path, int flags, mode_t mode);
/* shm_open, always O_CLOEXEC: the fd, or -errno. */
PT_EXTERN int pt_sys_shm_open(const char *name, int flags, mode_t mode);
/* ftruncate retried on EINTR: 0 or -errno. */
PT_EXTERN int pt_sys_ftruncate(int fd, off_t len);
/* posix_fallocate retried on EINTR: 0 or -errno. */
PT_EXTERN int pt_sys_fallocate(int fd, off_t off, off_t len);
/* mmap: the address, or MAP_FAILED with errno set (as mmap). */
PT_EXTERN void *pt_sys_mmap(void *addr, size_t len, int prot, int flags, int fd,
                            off_t off);
/* fsync: 0 or -errno. */
PT_EXTERN int pt_sys_fsync(int fd);
/* socket, always SOCK_CLOEXEC: the fd, or -errno. */
PT_EXTERN int pt_sys_socket(int domain, int type, int protocol);
/* bind (`len` is a socklen_t): 0 or -errno. */
PT_EXTERN int pt_sys_bind(int fd, const struct sockaddr *sa, unsigned len);
/* The monotonic clock, in ns: ptools' one clock for durations. */
PT_EXTERN int64_t pt_sys_mono_ns(void);
/* The wall clock (CLOCK_REALTIME), in ns since the epoch: for timestamps
 * that are shown or stored, never for durations. */
PT_EXTERN int64_t pt_sys_real_ns(void);
/* Set or clear O_NONBLOCK: 0 or -errno. */
PT_EXTERN int pt_sys_set_nonblock(int fd, bool on);
/*
 * In a child just forked with every signal blocked (STYLE 5): put each
 * signal's disposition back to the default, then restore the mask `old`
 * saved by the parent, so no handler of the parent's ever runs in it.
 */
PT_EXTERN void pt_sys_child_reset_signals(const sigset_t *old);
/*
 * Leave a forked child at once, as _exit(status): no atexit handler, no
 * stdio flush. In a coverage build of libptools (PTOOLS_COVERAGE) it first
 * writes out the gcov counters, which _exit would lose.
 */
PT_EXTERN void pt_sys_exit(int status) __attribute__((noreturn));

/* Read PTOOLS_FAULT now: 0, or -EINVAL (pt_errmsg() says why). */
PT_EXTERN int pt_sys_fault_init(void);

/* Deliver `sig` to the calling process when its parent dies. */
PT_EXTERN int pt_sys_parent_death_signal(int sig);
/* The number of threads in the calling process, or -errno. */
PT_EXTERN int pt_sys_thread_count(void);
/* A pollable fd that becomes readable when child `pid` exits, or -ENOSYS. */
PT_EXTERN int pt_sys_pidfd_open(pid_t pid);
/*
 * Close every fd from 3 up, except the `n` fds of `keep` (negative ones are
 * ignored; n <= PT_SYS_KEEP_MAX): a forked worker keeps nothing of its
 * parent's (its signal pipe, result files, other workers' pipes). Async-
 * signal-safe. 0 or -errno (-EINVAL for too many).
 */
#define PT_SYS_KEEP_MAX 8
PT_EXTERN int pt_sys_close_all_but(const int *keep, int n);
/* Say (and ask) that SIGPIPE cannot kill this process, because a handler
 * catches it (workers and ptrun install one): writes need not block it. */
PT_EXTERN void pt_sys_sigpipe_harmless(bool yes);
/* dlerror()'s text `why` for a dlopen of `path`, without the "PATH: " it
 * often starts with (so a message naming the path says it once); a
 * suffix of `why`, or "unknown error" for NULL. */
PT_EXTERN const char *pt_sys_dl_reason(const char *path, const char *why);

#ifdef __cplusplus
}
#endif
#endif
