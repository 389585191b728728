/*
 * cluster_mpi.c - one job over MPI ranks (see cluster.h): sending and
 * receiving, rank 0's start and end; what rank 0 sends the agents and
 * takes back is in cluster_root.c, the agents' own loop in
 * cluster_agent.c.
 *
 * Messages (cluster_msg.h) are sent with MPI_Isend and kept until done, so
 * that neither side ever blocks in a send while the other does the same.
 * Neither side has an fd for MPI, so while tasks are away they look for
 * messages every millisecond; batches keep each rank busy meanwhile.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include <ptools/reply.h>
#include <ptools/sys.h>

#include "engine/engine_internal.h"
#include "cluster/cluster.h"
#include "cluster/cluster_msg.h"
#include "cluster/cluster_mpi.h"

bool rn_cluster_built(void)
{
    return true;
}

/* ---- sending and receiving ---- */

/* Free the buffers of the sends that are done; `all`: wait for them. */
void rn_cluster_reap_sends(rn_outbox *o, bool all)
{
    int k = 0;
    for (int i = 0; i < o->n; i++) {
        int done = 0;
        if (all)
            MPI_Wait(&o->s[i].req, MPI_STATUS_IGNORE), done = 1;
        else
            MPI_Test(&o->s[i].req, &done, MPI_STATUS_IGNORE);
        if (!done)
            o->s[k++] = o->s[i];
        else
            rn_cluster_buf_done(o, &o->s[i].buf);
    }
    o->n = k;
}

/* Send `b` (taken over, left empty) to `rank`: 0 or -errno. */
int rn_cluster_post(rn_outbox *o, pt_buf *b, int rank, int tag)
{
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 16;
        rn_sending *s = realloc(o->s, (size_t)cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        o->s = s;
        o->cap = cap;
    }
    rn_sending *s = &o->s[o->n];
    s->buf = *b;
    *b = rn_cluster_buf(o);
    if (MPI_Isend(s->buf.data, (int)s->buf.len, MPI_BYTE, rank, tag,
                  MPI_COMM_WORLD, &s->req) != MPI_SUCCESS) {
        pt_buf_free(&s->buf);
        return -EIO;
    }
    o->n++;
    return 0;
}

pt_buf rn_cluster_buf(rn_outbox *o)
{
    pt_buf b = o->nspare > 0 ? o->spare[--o->nspare] : (pt_buf){0};
    pt_buf_reset(&b);
    return b;
}

void rn_cluster_buf_done(rn_outbox *o, pt_buf *b)
{
    if (o->nspare < RN_OUTBOX_SPARES && b->data && b->cap <= RN_SPARE_MAX)
        o->spare[o->nspare++] = *b;
    else
        pt_buf_free(b);
    *b = (pt_buf){0};
}

void rn_cluster_outbox_free(rn_outbox *o)
{
    while (o->nspare > 0)
        pt_buf_free(&o->spare[--o->nspare]);
    free(o->s);
    *o = (rn_outbox){0};
}

/* Receive the message `st` announces into `in`: its length, or -errno. */
int rn_cluster_receive(pt_buf *in, MPI_Status *st)
{
    int count = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    pt_buf_reset(in);
    if (count < 0 || pt_buf_reserve(in, (size_t)count + 8) < 0)
        return -ENOMEM;
    if (MPI_Recv(in->data, count, MPI_BYTE, st->MPI_SOURCE, st->MPI_TAG,
                 MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return -EIO;
    in->len = (size_t)count;
    return count;
}

/* The ranks of this node have all attached their segments: the node's
 * first rank may remove the names. */
void rn_cluster_node_met(engine *e)
{
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                            MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return; /* the names go at the end of the run instead */
    MPI_Barrier(node);
    MPI_Comm_free(&node);
    rn_cluster_segments_attached(e);
}

/* ---- rank 0 ---- */

int rn_cluster_start(engine *e, char *err, size_t errlen)
{
    int rank, size;
    if (!rn_cluster_launched(&rank, &size))
        return 0;
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_SINGLE, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    rn_cluster_node_met(e);
    rn_mpi *m = calloc(1, sizeof *m);
    int nsets = e->spec->nworkersets;
    if (m) {
        m->size = size;
        m->set_workers = calloc((size_t)size * (size_t)nsets + 1,
                                sizeof *m->set_workers);
        m->rq = calloc((size_t)size, sizeof *m->rq);
    }
    if (!m || !m->rq || !m->set_workers) {
        snprintf(err, errlen, "MPI: out of memory");
        return -ENOMEM;
    }
    e->mpi = m;
    e->mpi_size = size;
    for (int i = 0; e->opts->mpi_dedicated && i < e->spec->nworkersets; i++)
        pt_workerset_remote_only(e->sets[i], true);
    for (int s = 0; s < nsets; s++)
        m->set_workers[s] = pt_workerset_size(e->sets[s]);
    for (int r = 1; r < size; r++) { /* each agent's hello: its workers */
        MPI_Status st;
        int32_t n[nsets > 0 ? nsets : 1];
        if (MPI_Recv(n, nsets, MPI_INT32_T, MPI_ANY_SOURCE, RN_TAG_HELLO,
                     MPI_COMM_WORLD, &st) != MPI_SUCCESS) {
            snprintf(err, errlen, "MPI: no hello from the other ranks");
            return -EIO;
        }
        int from = st.MPI_SOURCE, all = 0;
        for (int s = 0; s < nsets; s++) {
            m->set_workers[from * nsets + s] = n[s] > 0 ? n[s] : 0;
            all += n[s] > 0 ? n[s] : 0;
        }
        m->rq[from].workers = all > 0 ? all : 1;
        m->rq[from].target = 2.0 * m->rq[from].workers;
    }
    m->ranks = (rn_ranks){size, m->set_workers};
    return 0;
}

const rn_ranks *rn_cluster_ranks(engine *e)
{
    return e->mpi ? &e->mpi->ranks : NULL;
}

int rn_cluster_pump(engine *e)
{
    rn_mpi *m = e->mpi;
    if (!m)
        return -1;
    int flag = 1;
    while (flag) {
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, RN_TAG_RESULTS, MPI_COMM_WORLD, &flag,
                       &st) != MPI_SUCCESS ||
            !flag)
            break;
        int from = st.MPI_SOURCE, rc = rn_cluster_receive(&m->in, &st);
        if (rc >= 0 && from > 0 && from < m->size) {
            /* the agent's room first: it must not run dry while rank 0
             * reads the results */
            m->rq[from].credit = rn_cluster_ends_in(&m->in);
            rn_cluster_send(e);
            m->rq[from].credit = 0;
            rc = rn_cluster_results(e, from);
        }
        if (rc < 0 || from <= 0 || from >= m->size) {
            fprintf(stderr, "ptrun: rank %d sent a malformed message\n",
                    st.MPI_SOURCE);
            e->stopping = true;
            rn_eng_unlink_segments(e);
            MPI_Abort(MPI_COMM_WORLD, 3);
        }
    }
    rn_cluster_reap_sends(&m->out, false);
    rn_cluster_send(e);
    return m->away > 0 ? 1 : -1;
}

static void to_agents(rn_mpi *m, int tag)
{
    for (int r = 1; r < m->size; r++) {
        pt_buf b = {0};
        pt_buf_append(&b, "", 1);
        rn_cluster_post(&m->out, &b, r, tag);
        pt_buf_free(&b);
    }
}

void rn_cluster_interrupt(engine *e, bool kill)
{
    rn_mpi *m = e->mpi;
    if (!m)
        return;
    to_agents(m, kill ? RN_TAG_KILL : RN_TAG_CANCEL);
    while (m->npins > 0) { /* pinned here, never sent: cancelled */
        tstate *s = rn_eng_live(e, m->pins[--m->npins].id);
        pt_request_complete(e->sets[s->t.workerset], s->req,
                            pt_reply_create((uint64_t)s->t.id,
                                            PT_TASK_CANCELLED, -1, "cancelled",
                                            NULL, 0));
    }
}

void rn_cluster_finish(engine *e)
{
    rn_mpi *m = e->mpi;
    if (!m)
        return;
    while (m->away > 0 && !e->stopping) /* e.g. cancelled ones on a signal */
        if (rn_cluster_pump(e) > 0) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    to_agents(m, RN_TAG_STOP);
    rn_cluster_reap_sends(&m->out, true);
    MPI_Finalize();
    rn_cluster_outbox_free(&m->out);
    pt_buf_free(&m->in);
    for (int r = 0; r < m->size; r++)
        free(m->rq[r].want);
    free(m->rq);
    free(m->set_workers);
    free(m->pins);
    free(m);
    e->mpi = NULL;
}
