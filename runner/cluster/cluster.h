/*
 * cluster.h - one job over MPI ranks (SPEC §7): `mpirun -n K ptrun run JOB`.
 *
 * Rank 0 runs the engine as on one machine: it plans, holds the priority
 * queue, writes the run folder. Every other rank is an agent: it starts the
 * job's worker sets and segments itself (one copy per rank), takes batches
 * of tasks from rank 0, runs them on its workers and sends the results
 * back. Rank 0's workers run tasks too. Each rank forks its workers before
 * MPI_Init, and workers never call MPI.
 *
 * The plain `ptrun` carries no MPI (cluster_none.c): started by mpirun, it
 * execs `ptrun-mpi` from its own folder, built when CMake finds MPI.
 */
#ifndef RN_CLUSTER_H
#define RN_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "plan/plan.h"
#include "spec/spec.h"

struct engine;

/* Was this process started by mpirun (or srun) among several ranks? Its
 * rank and the number of ranks, from the launcher's environment. */
bool rn_cluster_launched(int *rank, int *size);
/* Is MPI built into this binary? */
bool rn_cluster_built(void);

/*
 * Segments under MPI: the ranks of one node share one copy. The node's
 * first rank (the launcher's local rank 0) creates them, under names every
 * rank of the job can compute (the spec's prefix and the launcher's job
 * id), then a "ready" marker; the others wait for it (60 s at most) and
 * attach. Once MPI is up and the node's ranks have met,
 * rn_cluster_segments_attached() removes the names (but those of `named`
 * segments), so nothing can leak. Without a local rank and a job id in the
 * environment, every rank makes its own copy.
 */
bool rn_cluster_node_share(int *local_rank, char *prefix, size_t size,
                           const char *spec_prefix);
int rn_cluster_make_segments(struct engine *e, char *err, size_t errlen);
void rn_cluster_segments_attached(struct engine *e);

/* Rank 0, once its workers are forked: MPI_Init, learn the agents. */
int rn_cluster_start(struct engine *e, char *err, size_t errlen);
/* Rank 0: every rank's workers per set, for the plan (NULL: no MPI). */
const rn_ranks *rn_cluster_ranks(struct engine *e);
/* Rank 0: task `id` (just submitted) is pinned to a worker of another
 * rank: it leaves the local queue and goes there. */
void rn_cluster_pin(struct engine *e, int64_t id);
/* Rank 0: task `id`, sent to another rank and not known started there,
 * is asked back (`ptrun ctl` changed or cancelled it): when its rank
 * gives it back, it is fed again (or ends cancelled); if a worker there
 * started it first, it runs. 0, or -EBUSY (not away). */
int rn_cluster_take_back(struct engine *e, int64_t id);
/* Rank 0, every loop turn: send waiting tasks to agents with room, take
 * in their results. Returns the poll timeout it needs (ms, -1: none). */
int rn_cluster_pump(struct engine *e);
/* Rank 0, on a signal: agents cancel what waits (and, `kill`, what runs). */
void rn_cluster_interrupt(struct engine *e, bool kill);
/* Rank 0, at the end: stop the agents, MPI_Finalize. */
void rn_cluster_finish(struct engine *e);

/* Ranks 1..K-1: the whole life of an agent; returns the exit status. */
int rn_cluster_agent(const rn_spec *spec, const rn_run_opts *o);

#endif
