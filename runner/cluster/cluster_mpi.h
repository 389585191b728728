/*
 * cluster_mpi.h - what rank 0's side (cluster_mpi.c) and an agent's
 * (cluster_agent.c) share: sends that never block, and receiving. Private
 * to the MPI build (ptrun-mpi).
 */
#ifndef RN_CLUSTER_MPI_H
#define RN_CLUSTER_MPI_H

#include <stdbool.h>

#include <mpi.h>

#include <ptools/buf.h>

#include "plan/plan.h"

struct engine;

/* Sends in flight, each with its own buffer. */
typedef struct rn_sending {
    MPI_Request req;
    pt_buf buf;
} rn_sending;

/* Buffers of sends done, kept for the next ones: a batch is then built in
 * memory already grown to a batch's size, not grown again by doubling. */
#define RN_OUTBOX_SPARES 4
#define RN_SPARE_MAX ((size_t)4 << 20) /* a larger one is freed */

typedef struct rn_outbox {
    rn_sending *s;
    int n, cap;
    pt_buf spare[RN_OUTBOX_SPARES];
    int nspare;
} rn_outbox;

/* Each_worker tasks of other ranks, not sent yet. */
typedef struct rn_pinned {
    int rank;
    int64_t id;
} rn_pinned;

/* Rank 0's view of one agent (cluster_root.c). */
typedef struct rn_rankq {
    int workers;       /* all its workers, from its hello */
    int64_t inflight;  /* tasks sent there, not answered */
    int64_t unstarted; /* ... of them not known started */
    int64_t credit;    /* ... of them in a batch of results being read */
    double target;     /* tasks to keep there: about a round trip's work */
    double rate;       /* tasks it ends per ns (moving average) */
    int64_t last_ns;   /* when its last batch of results came */
    int takes;         /* takes not answered yet */
    bool full;         /* its last batch was cut by its target */
    bool stolen;       /* taken from for an idle rank: no backlog until
                          it runs dry */
    int64_t *want;     /* tasks to ask back with the next take */
    size_t nwant, want_cap;
} rn_rankq;

/* Rank 0's side of the agents. */
typedef struct rn_mpi {
    int size;
    int *set_workers; /* per rank and set: [r * nsets + s] */
    rn_ranks ranks;   /* for the plan: size, set_workers */
    rn_rankq *rq;     /* per rank */
    rn_pinned *pins;  /* each_worker tasks of other ranks, not sent */
    size_t npins, pins_cap;
    int64_t away;    /* tasks at agents, in all */
    int64_t started; /* ... of them known started */
    int64_t rtt_ns;  /* round trip to an agent (moving average) */
    int next_set;    /* where the next batch starts taking */
    bool paused;     /* the ranks were asked back what they hold */
    rn_outbox out;
    pt_buf in;
} rn_mpi;

/* Rank 0 (cluster_root.c): a batch of results from rank `from`, in m->in:
 * 0 or -EBADMSG. */
int rn_cluster_results(struct engine *e, int from);
/* How many tasks a batch of results ends (or gives back). */
int64_t rn_cluster_ends_in(const pt_buf *in);
/* Rank 0: send agents tasks, takes: after the results are in. */
void rn_cluster_send(struct engine *e);

/* Free (or keep as spares) the buffers of the sends that are done; `all`:
 * wait for them. */
void rn_cluster_reap_sends(rn_outbox *o, bool all);
/* Send `b` (taken over; left empty, with a spare's memory if there is
 * one) to `rank`: 0 or -errno. */
int rn_cluster_post(rn_outbox *o, pt_buf *b, int rank, int tag);
/* A buffer to build a message in: a spare's memory, emptied, if any. */
pt_buf rn_cluster_buf(rn_outbox *o);
/* Done with `b` (from rn_cluster_buf, or left by rn_cluster_post): kept
 * as a spare, or freed. */
void rn_cluster_buf_done(rn_outbox *o, pt_buf *b);
/* Free what the outbox holds; its sends must be done (reaped, all). */
void rn_cluster_outbox_free(rn_outbox *o);
/* Receive the message `st` announces into `in`: its length, or -errno. */
int rn_cluster_receive(pt_buf *in, MPI_Status *st);
/* The ranks of this node have all attached their segments: the node's
 * first rank may remove the names. */
void rn_cluster_node_met(struct engine *e);

#endif
