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

struct engine;

/* Sends in flight, each with its own buffer. */
typedef struct rn_sending {
    MPI_Request req;
    pt_buf buf;
} rn_sending;

typedef struct rn_outbox {
    rn_sending *s;
    int n, cap;
} rn_outbox;

/* Free the buffers of the sends that are done; `all`: wait for them. */
void rn_cluster_reap_sends(rn_outbox *o, bool all);
/* Send `b` (taken over, left empty) to `rank`: 0 or -errno. */
int rn_cluster_post(rn_outbox *o, pt_buf *b, int rank, int tag);
/* Receive the message `st` announces into `in`: its length, or -errno. */
int rn_cluster_receive(pt_buf *in, MPI_Status *st);
/* The ranks of this node have all attached their segments: the node's
 * first rank may remove the names. */
void rn_cluster_node_met(struct engine *e);

#endif
