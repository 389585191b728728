/*
 * cluster_agent.c - an agent of a job over MPI (ranks 1..K-1; cluster.h):
 * it forks the job's worker sets, takes batches of tasks from rank 0, runs
 * them on its workers and sends the results back in batches.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <ptools/dispatch.h>
#include <ptools/reply.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "cluster/cluster_mpi.h"
#include "cluster/cluster_msg.h"
#include "engine/engine_internal.h"

typedef struct held {
    pt_request *req;
    int set;
} held;

typedef struct agent {
    engine e;   /* its segments and worker sets, nothing else */
    held *reqs; /* what it runs for rank 0 */
    size_t nreqs, cap;
    pt_buf results; /* the batch for rank 0 being built */
    int64_t mono_off;
} agent;

static void agent_done(void *arg, pt_request *req)
{
    agent *A = arg;
    pt_reply *r = pt_request_reply(req);
    int64_t s = pt_reply_start_ns(r), t = pt_reply_end_ns(r);
    const uint8_t *res = NULL;
    size_t len = 0;
    pt_reply_results(r, &res, &len);
    rn_msg_result m = {pt_request_id(req),
                       (int32_t)pt_reply_status(r),
                       pt_reply_worker(r),
                       pt_reply_signal(r),
                       pt_reply_exit_code(r),
                       pt_reply_max_rss_kb(r),
                       t ? s + A->mono_off : 0,
                       t ? t + A->mono_off : 0,
                       pt_reply_error(r),
                       res,
                       (uint32_t)len};
    if (rn_msg_add_result(&A->results, &m) < 0) {
        m.error = "out of memory sending the results back";
        m.status = PT_TASK_CRASHED;
        m.results = NULL;
        m.results_len = 0;
        rn_msg_add_result(&A->results, &m);
    }
    for (size_t i = 0; i < A->nreqs; i++)
        if (A->reqs[i].req == req) {
            A->reqs[i] = A->reqs[--A->nreqs];
            break;
        }
    pt_request_destroy(req);
}

static int agent_tasks(agent *a, const pt_buf *in)
{
    rn_msg_reader rd;
    rn_msg_task t;
    const rn_spec *spec = a->e.spec;
    int rc = rn_msg_open(&rd, in->data, in->len, RN_MSG_TASKS);
    while (rc == 0 && (rc = rn_msg_next_task(&rd, &t)) == 1) {
        rc = 0;
        if (t.set >= spec->nworkersets || t.kernel >= spec->nkernels ||
            t.worker >= pt_workerset_size(a->e.sets[t.set]))
            return -EBADMSG;
        pt_buf copy = {0};
        if (pt_buf_append(&copy, t.args, t.args_len) < 0)
            return -ENOMEM;
        pt_args *args = pt_args_from_buf(&copy);
        pt_buf_free(&copy);
        if (a->nreqs == a->cap) {
            size_t cap = a->cap ? 2 * a->cap : 256;
            held *p = realloc(a->reqs, cap * sizeof *p);
            if (!p) {
                pt_args_destroy(args);
                return -ENOMEM;
            }
            a->reqs = p;
            a->cap = cap;
        }
        pt_call c = PT_CALL_INIT;
        c.kernel = spec->kernels[t.kernel].name;
        c.args = args;
        c.step = t.step;
        c.worker = t.worker;
        pt_request *req = args
                              ? pt_request_submit(a->e.sets[t.set], &c,
                                                  (uint64_t)t.id, agent_done, a)
                              : NULL;
        pt_args_destroy(args);
        if (!req)
            return -ENOMEM;
        a->reqs[a->nreqs++] = (held){req, t.set};
    }
    return rc < 0 ? rc : 0;
}

/* Handle what rank 0 sent: 1 when told to stop, 0, or -errno. */
static int agent_messages(agent *a, pt_buf *in)
{
    for (;;) {
        MPI_Status st;
        int flag = 0;
        if (MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st) !=
            MPI_SUCCESS)
            return -EIO;
        if (!flag)
            return 0;
        if (rn_cluster_receive(in, &st) < 0)
            return -EIO;
        int nsets = a->e.spec->nworkersets;
        switch (st.MPI_TAG) {
        case RN_TAG_TASKS:
            if (agent_tasks(a, in) < 0)
                return -EBADMSG;
            break;
        case RN_TAG_CANCEL: /* what waits here ends as cancelled */
            for (size_t i = a->nreqs; i-- > 0;) /* done ones leave it */
                if (i < a->nreqs &&
                    pt_request_state_of(a->reqs[i].req) == PT_REQ_WAITING)
                    pt_request_cancel(a->e.sets[a->reqs[i].set],
                                      a->reqs[i].req);
            break;
        case RN_TAG_KILL:
            for (int i = 0; i < nsets; i++)
                pt_workerset_kill_all(a->e.sets[i]);
            break;
        case RN_TAG_STOP: return 1;
        default: return -EBADMSG;
        }
    }
}

static int agent_loop(agent *a)
{
    pt_buf in = {0};
    rn_outbox out = {0};
    int rc = 0;
    while ((rc = agent_messages(a, &in)) == 0) {
        pt_workerset_poll(a->e.sets, a->e.spec->nworkersets, NULL, 0, 1);
        if (rn_msg_count(&a->results) > 0) {
            if (rn_cluster_post(&out, &a->results, 0, RN_TAG_RESULTS) < 0) {
                rc = -EIO;
                break;
            }
            rn_msg_begin(&a->results, RN_MSG_RESULTS);
        }
        rn_cluster_reap_sends(&out, false);
    }
    rn_cluster_reap_sends(&out, true);
    free(out.s);
    pt_buf_free(&in);
    return rc < 0 ? rc : 0;
}

/* A worker of this rank died: what its kernels detached came back to us
 * (a child subreaper) and goes now, as on rank 0 (engine.c). */
static void agent_on_worker(void *arg, int worker, int pid, bool started,
                            int status, int64_t max_rss_kb)
{
    (void)worker, (void)pid, (void)status, (void)max_rss_kb;
    engine *e = arg;
    if (!started)
        pt_workerset_reap_strays(e->sets, e->spec->nworkersets);
}

int rn_cluster_agent(const rn_spec *spec, const rn_run_opts *o)
{
    (void)o;
    int rank = 0, size = 1;
    rn_cluster_launched(&rank, &size);
    agent a = {.e = {.spec = spec, .log_fd = -1, .step = -1, .mpi_size = size}};
    char err[4096] = "";
    signal(SIGINT, SIG_IGN); /* rank 0 says what to stop */
    pt_subreaper_enable();   /* nothing a kernel detaches escapes the run */
    a.e.shm = calloc((size_t)spec->nsegments + 1, sizeof *a.e.shm);
    a.e.sets = calloc((size_t)spec->nworkersets + 1, sizeof *a.e.sets);
    a.e.tails = calloc((size_t)spec->nworkersets + 1, sizeof *a.e.tails);
    int rc = a.e.shm && a.e.sets && a.e.tails ? 0 : -ENOMEM;
    if (rc == 0) /* one copy per node: the node's first rank makes it */
        rc = rn_cluster_make_segments(&a.e, err, sizeof err);
    if (rc == 0) /* forked before MPI_Init, as MPI wants */
        rc = rn_eng_make_sets(&a.e, false, err, sizeof err);
    for (int i = 0; rc == 0 && i < spec->nworkersets; i++)
        pt_workerset_on_worker(a.e.sets[i], agent_on_worker, &a.e);
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_SINGLE, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    a.mono_off = pt_sys_real_ns() - pt_sys_mono_ns();
    int32_t workers[spec->nworkersets > 0 ? spec->nworkersets : 1];
    for (int i = 0; rc == 0 && i < spec->nworkersets; i++)
        workers[i] = pt_workerset_size(a.e.sets[i]);
    if (rc < 0) {
        fprintf(stderr, "ptrun (rank %d): %s\n", rank,
                err[0] ? err : pt_strerror(rc));
        rn_eng_unlink_segments(&a.e);
        MPI_Abort(MPI_COMM_WORLD, 3); /* the whole job ends: say why */
    }
    rn_cluster_node_met(&a.e);
    MPI_Send(workers, spec->nworkersets, MPI_INT32_T, 0, RN_TAG_HELLO,
             MPI_COMM_WORLD);
    rn_msg_begin(&a.results, RN_MSG_RESULTS);
    rc = agent_loop(&a);
    if (rc < 0) {
        fprintf(stderr, "ptrun (rank %d): lost rank 0: %s\n", rank,
                pt_strerror(rc));
        rn_eng_unlink_segments(&a.e);
        MPI_Abort(MPI_COMM_WORLD, 3);
    }
    pt_workerset_destroy_all(a.e.sets, spec->nworkersets);
    rn_eng_unlink_segments(&a.e);
    for (int i = 0; i < spec->nsegments; i++)
        pt_shm_detach(a.e.shm[i]);
    MPI_Finalize();
    pt_workerset_reap_strays(NULL, 0); /* the last workers' strays */
    for (int i = 0; i < spec->nworkersets; i++)
        free(a.e.tails[i]);
    free(a.e.tails);
    free(a.e.sets);
    free(a.e.shm);
    pt_buf_free(&a.e.huge);
    free(a.reqs);
    pt_buf_free(&a.results);
    return 0;
}
