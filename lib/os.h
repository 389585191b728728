/*
 * os.h - the operating-system specific calls of libptools, in one place.
 *
 * Everything Linux-only (prctl, /proc, pidfd, F_SETPIPE_SZ, /dev/shm) lives
 * behind these functions in os_linux.c, so a macOS/BSD port is one new file.
 * Each returns 0 (or a value) or a negative errno; -ENOSYS means "not on this
 * system", and callers then fall back to a portable path.
 */
#ifndef PT_OS_H
#define PT_OS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Make the calling process a child subreaper: its descendants orphaned by
 * their parent's death (setsid, daemons) become its children, not init's.
 */
int pt__os_set_subreaper(void);

/*
 * The pids of the calling process's children (of all its threads), up to
 * `cap` of them in `out`: how many there are (may exceed cap), or -errno.
 */
int pt__os_children(pid_t *out, int cap);

/*
 * An opaque start time of process `pid` (with its pid, identifies the process
 * across pid reuse): 0, -ESRCH when there is no such process, or -errno.
 */
int pt__os_proc_start_time(pid_t pid, uint64_t *start);

/*
 * A new anonymous shared-memory file named `name` (for debugging only),
 * close-on-exec, that can grow but never shrink: whoever maps part of it
 * can read that part safely even if another process that holds the file
 * tries to truncate it. fd or -errno (-ENOSYS: no such files here).
 */
int pt__os_memfd(const char *name);

/*
 * The same in reserved huge pages of 2 MiB (hugetlbfs): its size must be a
 * multiple of 2 MiB, and it cannot be written with write(2), only mapped.
 * fd or -errno (-ENOSYS: no such files here).
 */
int pt__os_memfd_huge(const char *name);

/* Reserved 2 MiB huge pages: how many there are, and how many are free. */
int pt__os_huge_pages(uint64_t *total, uint64_t *avail);

/* What the system says about transparent huge pages in shared memory. */
typedef struct pt__os_thp {
    int effective;    /* MADV_HUGEPAGE on such a mapping takes effect */
    char setting[96]; /* the setting that decides, as "where=value" */
    char enable[96];  /* the command (as root) that would let it work */
} pt__os_thp;

/*
 * Would advice for huge pages work on a memfd (named 0) or on a file in
 * /dev/shm (named 1)? 0 with *out filled, or -errno when unknown.
 */
int pt__os_thp_shmem(int named, pt__os_thp *out);

/*
 * Advise that [p, p + len) be backed by huge pages where possible (best
 * effort, no error): a large fresh buffer about to be filled then faults
 * in 2 MiB steps rather than 4 KiB ones.
 */
void pt__os_advise_huge(void *p, size_t len);

/* Grow a pipe's buffer to at least `bytes` where possible (best effort). */
int pt__os_set_pipe_size(int fd, int bytes);

/* Directory where named shared memory objects appear, or NULL if none. */
const char *pt__os_shm_dir(void);

/* Bytes free for new shared memory objects (e.g. in /dev/shm), or -errno. */
int pt__os_shm_free(uint64_t *bytes);

#endif
