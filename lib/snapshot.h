/*
 * snapshot.h - a worker's checkpoints (private; see `checkpoint_ms` in
 * workerset.h).
 *
 * A snapshot holds one section per kernel whose `save` ran, each tagged
 * with the kernel's library path and its name in that library. The file:
 *
 *   "PTSNAP\0\0"  magic (8 bytes)
 *   u32 version (PT__SNAP_VERSION), u32 sections
 *   u64 bytes of sections that follow
 *   u64 FNV-1a 64 of those bytes
 *   each section: u32 path_len, u32 name_len, u64 data_len,
 *                 the path and the name (no NULs), zeros to a multiple
 *                 of 8 bytes, the data, zeros to a multiple of 8
 *
 * (integers little-endian as the machine's: a snapshot is for the machine
 * that wrote it). A snapshot is written to PATH.tmp, fsynced, renamed over
 * PATH and its folder fsynced: PATH always holds the old or the new whole
 * snapshot. A reader checks all of the above before it trusts a byte.
 */
#ifndef PT_SNAPSHOT_H
#define PT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>
#include <ptools/kernel.h>

#include "ctx.h"

#define PT__SNAP_VERSION 1
/* The largest snapshot (all sections): larger is refused with -EFBIG. */
#define PT__SNAP_MAX ((size_t)256 << 20)

typedef struct pt__snap_section {
    const char *path; /* the kernel's library */
    size_t path_len;
    const char *name; /* the kernel's name in it */
    size_t name_len;
    const void *data;
    size_t len;
} pt__snap_section;

/* Encode sections into `out` (reset first). 0, -EFBIG or -ENOMEM. */
int pt__snap_encode(pt_buf *out, const pt__snap_section *s, int n);
/*
 * Check a snapshot's bytes and point *secs (malloc'd, free it) into them.
 * 0, or -EINVAL/-ENOMEM with why in pt_errmsg().
 */
int pt__snap_decode(const void *data, size_t len, pt__snap_section **secs,
                    int *n);
/* Write `len` bytes to `path` atomically (tmp, fsync, rename). */
int pt__snap_write_file(const char *path, const void *data, size_t len);
/* Read the whole of `path` into `out`: -ENOENT when there is none. */
int pt__snap_read_file(const char *path, pt_buf *out);

/* A kernel whose `save` goes into the worker's next snapshot. */
typedef struct pt__snap_kernel {
    const pt_kernel *k;
    const char *path; /* its library, as the set's kernel table says */
} pt__snap_kernel;

/* Load and initialise kernel `name` of `path`: NULL with *why if not. */
typedef const pt_kernel *(*pt__snap_load_fn)(void *arg, const char *path,
                                             const char *name,
                                             const char **why);

/* A worker's checkpoint state. */
typedef struct pt__snap {
    char *path;          /* PREFIX.<index>.snap; NULL: checkpoints off */
    int64_t interval_ns; /* at most one snapshot in this time */
    int64_t last_ns;     /* the last snapshot, or the worker's start */
    int64_t tasks;       /* tasks run since */
    bool started;        /* the predecessor's snapshot is restored */
    char *error;         /* the restore failed: why (tasks fail with it) */
    pt_buf file, section;
} pt__snap;

/* Off when prefix is NULL or interval_ms <= 0. 0 or -ENOMEM. */
int pt__snap_init(pt__snap *s, const char *prefix, int index,
                  int64_t interval_ms);
void pt__snap_free(pt__snap *s);
/* One task ran; is a snapshot due (`force`: at a clean end, if any ran)? */
bool pt__snap_due(pt__snap *s, bool force);
/*
 * Take a snapshot of kernels ks[0..n) (their save) and write it. NULL,
 * or why not in s's own buffer (the snapshot on disk stays the last one).
 */
const char *pt__snap_take(pt__snap *s, pt__worker_env *env,
                          const pt__snap_kernel *ks, int n);
/*
 * Once per worker, before its first task: restore the predecessor's
 * snapshot (each kernel it names loaded by `load`, then its restore).
 * NULL when done or none is there; else why (the same text every call).
 */
const char *pt__snap_restore(pt__snap *s, pt__worker_env *env,
                             pt__snap_load_fn load, void *arg);

#endif
