/*
 * plan.h - a job spec expanded into tasks (SPEC §5), lazily.
 *
 * Task ids are assigned in plan order: steps in order, tasks in order, and
 * within a task entry the zip's index (slowest), then the sweep's
 * cartesian product (first axis slowest), then `repeat` (arg `rep` =
 * 0..n-1), then `each_worker` (one per worker, pinned). Args are the
 * entry's args, then the zip's and the sweep's values, then `rep`. A task's
 * seed is pt_task_seed_of(job seed, id).
 *
 * The plan stays compact: an entry of the spec and the range of ids it
 * expands to. A task is worked out from its id when it is needed
 * (rn_plan_task: a few divisions), and its args are encoded only then
 * (rn_plan_args), so a plan of 10^7 tasks costs what its entries cost.
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
    pt_args *args;      /* sealed, encoded (rn_plan_args), or NULL */
    const rn_task *def; /* its entry in the spec (tags) */
    int entry;          /* its plan entry */
    int rank;           /* under MPI, the rank of `on` (each_worker), else 0 */
} rn_ptask;

/* Under MPI: how many workers each rank has in each set, for each_worker
 * (every worker of every rank). workers[r * nworkersets + s]. */
typedef struct rn_ranks {
    int n;
    const int *workers;
} rn_ranks;

/* One task entry of a step: ids first .. first + n - 1. */
typedef struct rn_pentry {
    const rn_task *def;
    int step;
    int64_t first, n;
    int64_t per_point; /* tasks per (sweep point, rep): each_worker's
                          workers of every rank, else 1 */
    uint8_t *args;     /* no sweep: every task's args, encoded once (`rep`
                          0, its value the last 8 bytes), else NULL */
    size_t args_len;
} rn_pentry;

typedef struct rn_plan {
    const rn_spec *spec;
    rn_pentry *entries;
    int nentries;
    int *step_entry;     /* nsteps + 1 offsets into entries */
    int64_t *step_start; /* nsteps + 1 offsets into the ids */
    int64_t ntasks;
    int nsteps;
    int nranks;   /* 1 on one machine */
    int *workers; /* a copy of rn_ranks.workers, or NULL */
} rn_plan;

/* 0, or -errno with a message in err. `ranks`: NULL on one machine. */
int rn_plan_build(const rn_spec *spec, const rn_ranks *ranks, rn_plan *plan,
                  char *err, size_t errlen);
void rn_plan_free(rn_plan *plan);
/* The entry task `id` (0 <= id < ntasks) belongs to. */
int rn_plan_entry_of(const rn_plan *plan, int64_t id);
/* Task `id` without its args (t->args NULL). */
void rn_plan_task(const rn_plan *plan, int64_t id, rn_ptask *t);
/* The same, when its entry is known already. */
void rn_plan_task_in(const rn_plan *plan, int entry, int64_t id, rn_ptask *t);
/* Encode task t's args into t->args (its owner destroys them): 0 or
 * -errno. */
int rn_plan_args(const rn_plan *plan, rn_ptask *t);
/* The same into `reuse` (NULL, or args no request holds any more, which
 * are taken over: t->args, or destroyed on failure), encoded in `scratch`
 * (NULL, or a buffer kept from call to call: it gets the memory `reuse`
 * held, so that steady feeding allocates nothing). */
int rn_plan_args_reuse(const rn_plan *plan, rn_ptask *t, pt_args *reuse,
                       pt_buf *scratch);
/* What `ptrun check` prints: the job and each step (with its `halt:`, if
 * any), then one line per task, made as it is printed. */
void rn_plan_print(const rn_spec *spec, const rn_plan *plan, FILE *out);

#endif
