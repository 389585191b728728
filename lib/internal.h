/*
 * internal.h - private helpers shared by libptools' modules (not installed).
 *
 * Errors: pt__err() records the detailed message that pt_errmsg() returns
 * and passes the code through, so a failure reads `return pt__err(-E, ...)`.
 * System calls: the robust wrappers retry on EINTR and loop on short
 * transfers; close is never retried (see SQLite's robust_close).
 */
#ifndef PT_INTERNAL_H
#define PT_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ptools/common.h>

#define PT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Record a detailed message for pt_errmsg(); returns `code` unchanged. */
int pt__err(int code, const char *fmt, ...) PT_PRINTF(2, 3);

/* Write all n bytes: 0, or -errno (-EPIPE when the reader is gone). */
int pt__write_full(int fd, const void *p, size_t n);
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
