/*
 * engine.h - run a planned job: segments, worker sets, steps as barriers,
 * dispatch by priority, retries, events to plugins, the run folder, and
 * the exit status of SPEC §5 (0 all ok, 1 some not ok, 3 runtime error,
 * 130 interrupted).
 */
#ifndef RN_ENGINE_H
#define RN_ENGINE_H

#include <stdbool.h>

#include "plan/plan.h"
#include "spec/spec.h"

typedef struct rn_run_opts {
    const char *out;       /* --out, or NULL for runs/<name>-<time> */
    const char *resume;    /* --resume DIR, or NULL */
    const char *argv_line; /* the command, for the manifest */
    bool quiet;
    bool tee;           /* also echo kernels' output on stderr */
    bool force;         /* resume even if the spec or a kernel changed */
    int progress;       /* an rn_progress_mode: --progress */
    bool mpi_dedicated; /* --mpi-dedicated-root: rank 0 runs no task */
} rn_run_opts;

/* Plan and run the whole job; returns the process exit status. */
int rn_run(const rn_spec *spec, const rn_run_opts *o);

#endif
