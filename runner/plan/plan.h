/*
 * plan.h - a job spec expanded into tasks (SPEC §5).
 *
 * Task ids are assigned in plan order: steps in order, tasks in order, and
 * within a task entry the sweep's cartesian product (first axis slowest),
 * then `repeat` (arg `rep` = 0..n-1), then `each_worker` (one per worker,
 * pinned). Args are the entry's args, then the sweep's values, then `rep`,
 * later ones replacing earlier keys. A task's seed is
 * pt_task_seed_of(job seed, id).
 */
#ifndef RN_PLAN_H
#define RN_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include <ptools/args.h>

#include "spec/spec.h"

typedef struct rn_ptask {
    int64_t id;
    int step;      /* index into spec->steps */
    int kernel;    /* index into spec->kernels */
    int workerset; /* index into spec->workersets */
    int on;        /* pinned worker, or -1 */
    int64_t priority;
    uint64_t seed;
    pt_args *args;      /* sealed, encoded: the one form of the args (JSON
                           only where a human or a file sees them) */
    const rn_task *def; /* its entry in the spec (tags) */
    int rank;           /* under MPI, the rank of `on` (each_worker), else 0 */
} rn_ptask;

/* Under MPI: how many workers each rank has in each set, for each_worker
 * (every worker of every rank). workers[r * nworkersets + s]. */
typedef struct rn_ranks {
    int n;
    const int *workers;
} rn_ranks;

typedef struct rn_plan {
    rn_ptask *tasks;
    int64_t ntasks;
    int64_t *step_start; /* nsteps + 1 offsets into tasks */
    int nsteps;
} rn_plan;

/* 0, or -errno with a message in err. `ranks`: NULL on one machine. */
int rn_plan_build(const rn_spec *spec, const rn_ranks *ranks, rn_plan *plan,
                  char *err, size_t errlen);
void rn_plan_free(rn_plan *plan);
/* What `ptrun check` prints: one line per task. */
void rn_plan_print(const rn_spec *spec, const rn_plan *plan, FILE *out);

#endif
