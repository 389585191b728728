/*
 * rundir.h - the run folder (SPEC §5): its creation and claim, files written
 * atomically (a temporary file renamed into place, so no reader ever sees
 * half a file), and manifest.json (with the sha256 of its inputs).
 */
#ifndef RN_RUNDIR_H
#define RN_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ptools/buf.h>

#include "spec/sha256.h" /* rn_sha256_text, rn_sha256_file */
#include "spec/spec.h"

/* The lock file of every run folder (see rn_claim). It stays when the run
 * ends, holding the pid of the last run that held it; readers ignore it. */
#define RN_RUNDIR_LOCK ".lock"

/*
 * A run's claim on its folder: DIR/.lock, opened O_CLOEXEC and flock()ed
 * (LOCK_EX) for the run's whole life, so that a folder belongs to one run
 * at a time. The kernel drops the lock when the process ends, even by
 * SIGKILL: a dead run never blocks a resume. Forked workers close the fd.
 */
typedef struct rn_claim {
    int fd;       /* the locked DIR/.lock, or -1: no claim */
    bool created; /* this run made the folder (mkdir) */
    bool fresh;   /* ... under its default name, in runs/ */
    bool linked;  /* ... and pointed runs/latest at it */
} rn_claim;

/*
 * Make and claim the run folder. `out` NULL: a new runs/<name>-<UTC
 * yyyymmdd-HHMMSS>, or -2, -3... when taken. Else the folder `out`: made
 * when missing; a new run takes an existing one only if it is empty (a
 * lone .lock does not count); `resume` requires it to exist. The path goes
 * to `path`. 0, or -errno with a message in err: -EBUSY another live run
 * holds the folder, -EEXIST it is not empty (or not a folder), -ENOENT
 * nothing to resume (these three are bad usage, and nothing was written);
 * else a system error.
 */
int rn_rundir_make(const rn_spec *spec, const char *out, bool resume,
                   char *path, size_t size, rn_claim *claim, char *err,
                   size_t errlen);

/*
 * Once the run is set to start: if its folder has a default name, point
 * runs/latest at it (a new symlink renamed over the old one, so that it
 * always names some run; a failure is only a warning on stderr).
 */
void rn_rundir_link_latest(const char *path, rn_claim *claim);

/*
 * Undo a run folder that never started, only if `claim` is held: remove
 * what is in it (it held nothing when claimed), its .lock, the folder when
 * rn_rundir_make created it, and runs/latest when it still names it.
 */
void rn_rundir_discard(const char *path, const rn_claim *claim);

/* Give the claim up (close the lock; the .lock file stays). */
void rn_rundir_release(rn_claim *claim);

/*
 * Write `len` bytes as dir/name atomically (a temporary file renamed): 0
 * or -errno. No fsync: like results.jsonl (unless its plugin is asked),
 * it survives the death of ptrun, not a power loss. An existing file is
 * swapped with the new one (RENAME_EXCHANGE), then unlinked: a rename
 * over it would make ext4 write the new file's data out first
 * (auto_da_alloc), which cost a run's start-up 0.2 ms a manifest.
 */
int rn_write_atomic(const char *dir, const char *name, const void *data,
                    size_t len);

/*
 * What manifest.json says. `counts` are what results.jsonl holds (the
 * latest line of each task, by status), never more than was written;
 * `sessions` lists every run and resume of the folder, this one last.
 */
typedef struct rn_manifest {
    const rn_spec *spec;
    const char *argv_line;    /* this session's command */
    int64_t start_ns, end_ns; /* this session's, CLOCK_REALTIME */
    int64_t
        counts[PT_TASK_NSTATUS]; /* tasks by the status results.jsonl gives */
    int64_t tasks;               /* in the plan */
    int64_t skipped;             /* already ok in a resumed run */
    bool interrupted;
    const char *halted; /* why `halt:` stopped this session, or NULL */
    bool finished;      /* false while the run is going on */
    bool no_reserve;    /* finished, and no rn_manifest_reserve() was made: no
                           .ptrun-reserve to look for */
    int exit_status;
    const char *summary_json; /* the end-of-run summary, or NULL */
    const char *sessions;     /* the earlier sessions: the items of a JSON
                                 array, or NULL */
    int64_t session_counts[PT_TASK_NSTATUS]; /* this session's lines in
                                                results.jsonl */
    int64_t results_lost;  /* this session's results it could not write */
    bool compacted;        /* results.jsonl holds one line per task */
    const char *hugepages; /* the items of "hugepages" (one object per
                              segment), or NULL */
} rn_manifest;

/*
 * Write dir/manifest.json: 0 or -errno (message in err). The last one
 * (`finished`) goes into the space rn_manifest_reserve() kept, if any.
 */
int rn_manifest_write(const char *dir, const rn_manifest *m, char *err,
                      size_t errlen);

/*
 * While the run is going on, keep some disk space aside for the last
 * manifest (dir/.ptrun-reserve: 4 times the manifest's size, 16 KiB at
 * least), so that a run that filled the disk still says what it wrote.
 * Best effort.
 */
void rn_manifest_reserve(const char *dir);

#endif
