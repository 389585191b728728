/*
 * ptools/shm.h - typed, named, N-dimensional POSIX shared memory segments.
 *
 * A segment is the POSIX shm object "/ptools_<prefix>_<name>": a small header
 * (magic, version, element type, dims, owner pid and start time) and then,
 * from the next page on, the data, zero-filled. By default it has no name at
 * all (a memfd; where there is none, the name is unlinked as soon as the
 * creator has mapped it): forked children inherit the mapping, nothing can
 * leak, even after SIGKILL, and two processes may create segments of the
 * same prefix and name at once. With `named` the name stays
 * visible for pt_shm_attach() by other processes until pt_shm_unlink(); a
 * named segment whose owner died is removed by pt_shm_clean() and reclaimed
 * by the next pt_shm_create() of the same name, never while its owner lives.
 *
 * Space is reserved at creation (posix_fallocate), so a segment larger than
 * /dev/shm can hold fails then, with both sizes in pt_errmsg(), not with a
 * SIGBUS later.
 *
 * Guard pages: every mapping of a segment's data (by pt_shm_create or
 * pt_shm_attach, and so in every process forked after it) lies between two
 * PROT_NONE ranges of the data's size rounded up to 2 MiB, at least 2 MiB and
 * at most 1 GiB each. A store that strays into one (1 MiB past the end, a
 * loop that runs off either end) kills the process that made it by SIGSEGV
 * and never reaches another segment. The bytes from the data's end to the
 * end of its last page are the segment's own: an overrun that small is not
 * detected. Guards cost address space only (pt_workerset's memory_bytes
 * limit comes on top of them); the header is never mapped at all.
 *
 * Huge pages (pt_shm_opts.hugepages): a worker's first touch of a 4 KiB
 * page of a segment is a page fault, 262144 of them per GiB, so its first
 * pass over a big segment runs far below memory speed; 2 MiB pages cut that
 * 512-fold. PT_SHM_HUGE_AUTO (the default) asks for transparent huge pages
 * (MADV_HUGEPAGE) when the data is 2 MiB or more: its file offset and
 * mapping are then 2 MiB-aligned and its size rounded up to 2 MiB, and the
 * system decides (the shmem_enabled setting of transparent huge pages for
 * unnamed segments, /dev/shm's huge= mount option for named ones: see
 * pt_shm_hugepages()). PT_SHM_HUGE_ON takes reserved huge pages
 * (/proc/sys/vm/nr_hugepages, MFD_HUGETLB) or fails with ENOSPC and a
 * message saying how to reserve them; it is for unnamed segments only
 * (EINVAL with `named`). PT_SHM_HUGE_OFF keeps 4 KiB pages. Dims, the
 * view and .npy files are the same whatever the choice.
 */
#ifndef PTOOLS_SHM_H
#define PTOOLS_SHM_H

#include <stdbool.h>
#include <stdint.h>

#include <ptools/common.h>
#include <ptools/dtype.h>
#include <ptools/types.h> /* pt_shm_view, PT_SHM_MAXDIMS */

#ifdef __cplusplus
extern "C" {
#endif

/* Longest prefix and segment name, each: [A-Za-z0-9_-]{1,PT_SHM_NAME_MAX}. */
#define PT_SHM_NAME_MAX 100

typedef struct pt_shm pt_shm;

typedef struct pt_shm_opts {
    const char *prefix; /* groups a run's segments; see pt_shm_clean() */
    const char *name;
    pt_dtype type;
    int ndims; /* 1..PT_SHM_MAXDIMS */
    uint64_t dims[PT_SHM_MAXDIMS];
    bool named;    /* keep the name visible until pt_shm_unlink() */
    int hugepages; /* PT_SHM_HUGE_AUTO (0), _ON or _OFF: see above */
} pt_shm_opts;

/* pt_shm_opts.hugepages: ask for transparent huge pages, take reserved
 * ones or fail, or keep small pages. */
enum { PT_SHM_HUGE_AUTO = 0, PT_SHM_HUGE_ON = 1, PT_SHM_HUGE_OFF = 2 };

/* What backs a segment's data, as far as the system tells. */
typedef struct pt_shm_huge_info {
    int hugepages; /* what was asked: PT_SHM_HUGE_* */
    bool huge;     /* huge pages back the data (AUTO: the system lets them) */
    bool eligible; /* asked for and big enough (2 MiB of data or more) */
    char setting[96]; /* AUTO: the setting that decides, as "where=value" */
    char enable[96];  /* AUTO, not huge: the command (as root) enabling them */
} pt_shm_huge_info;

/* Fill *out for `shm`: 0, or -errno when the system's setting is unknown
 * (then huge is false and setting empty). */
PT_EXTERN int pt_shm_hugepages(const pt_shm *shm, pt_shm_huge_info *out);

/* Create and map a zero-filled segment. NULL + errno on failure. */
PT_EXTERN pt_shm *pt_shm_create(const pt_shm_opts *opts);

/*
 * Map the named segment "/ptools_<prefix>_<name>". When `expect` is not NULL,
 * its type (unless PT_DTYPE_NONE) and its dims (unless ndims is 0) must
 * match the segment's, else NULL with errno EINVAL and both in pt_errmsg().
 */
PT_EXTERN pt_shm *pt_shm_attach(const char *prefix, const char *name,
                                const pt_shm_opts *expect);

/* Unmap the segment and free the handle (the name is left as it is). */
PT_EXTERN int pt_shm_detach(pt_shm *shm);

/* Remove the segment's name (0 when it is already gone). */
PT_EXTERN int pt_shm_unlink(pt_shm *shm);

PT_EXTERN const pt_shm_view *pt_shm_view_of(const pt_shm *shm);

/* The POSIX name "/ptools_<prefix>_<name>" into buf: 0 or -EINVAL. */
PT_EXTERN int pt_shm_path(const char *prefix, const char *name, char *buf,
                          size_t size);

/*
 * Remove named segments (all ptools ones, or only `prefix`'s when it is not
 * NULL) whose owner process is dead; a live owner's are never touched.
 * Returns how many were removed, or -errno.
 */
PT_EXTERN int pt_shm_clean(const char *prefix);

/* Fill every element with `value` converted to the segment's type. */
PT_EXTERN int pt_shm_fill(pt_shm *shm, double value);

/* Load a .npy file of the same type and shape into the segment. */
PT_EXTERN int pt_shm_load_npy(pt_shm *shm, const char *path);
/* Save the segment as a .npy file (written atomically). */
PT_EXTERN int pt_shm_save_npy(const pt_shm *shm, const char *path);

#ifdef __cplusplus
}
#endif
#endif
