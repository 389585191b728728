/*
 * cluster_mpi.c - one job over MPI ranks (see cluster.h): rank 0's side
 * of the agents (it feeds them from the engine's queue); the agents' own
 * loop is in cluster_agent.c.
 *
 * Messages (cluster_msg.h) are sent with MPI_Isend and kept until done, so
 * that neither side ever blocks in a send while the other does the same.
 * Rank 0 keeps a bounded number of tasks at each agent: twice its workers
 * for long tasks, up to about 2 ms of work per worker for short ones (as
 * the workers' own batches). An agent answers with batches of results
 * every loop turn. Neither side has an fd for MPI, so while tasks are away
 * they look for messages every millisecond.
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

#define WORK_NS INT64_C(2000000) /* work kept at a worker, as batch: auto */
#define MAX_PER_WORKER 1024

typedef struct pinned {
    int rank;
    int64_t id;
} pinned;

struct rn_mpi {
    int size;
    int *workers;     /* per rank: all its workers, from its hello */
    int *set_workers; /* per rank and set: [r * nsets + s] */
    rn_ranks ranks;   /* for the plan: size, set_workers */
    pinned *pins;     /* each_worker tasks of other ranks, not sent yet */
    size_t npins, pins_cap;
    int64_t *inflight; /* per rank: tasks sent, not answered */
    int64_t *avg_ns;   /* per rank: moving average of task run times */
    int64_t away;      /* tasks at agents, in all */
    int next_set;      /* where the next batch starts taking */
    rn_outbox out;
    pt_buf in;
};

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
        if (done)
            pt_buf_free(&o->s[i].buf);
        else
            o->s[k++] = o->s[i];
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
    *b = (pt_buf){0};
    if (MPI_Isend(s->buf.data, (int)s->buf.len, MPI_BYTE, rank, tag,
                  MPI_COMM_WORLD, &s->req) != MPI_SUCCESS) {
        pt_buf_free(&s->buf);
        return -EIO;
    }
    o->n++;
    return 0;
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
    struct rn_mpi *m = calloc(1, sizeof *m);
    int nsets = e->spec->nworkersets;
    if (m) {
        m->size = size;
        m->set_workers = calloc((size_t)size * (size_t)nsets + 1,
                                sizeof *m->set_workers);
        m->workers = calloc((size_t)size, sizeof *m->workers);
        m->inflight = calloc((size_t)size, sizeof *m->inflight);
        m->avg_ns = calloc((size_t)size, sizeof *m->avg_ns);
    }
    if (!m || !m->workers || !m->inflight || !m->avg_ns || !m->set_workers) {
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
        m->workers[from] = all > 0 ? all : 1;
    }
    m->ranks = (rn_ranks){size, m->set_workers};
    return 0;
}

const rn_ranks *rn_cluster_ranks(engine *e)
{
    return e->mpi ? &e->mpi->ranks : NULL;
}

void rn_cluster_pin(engine *e, int64_t id)
{
    struct rn_mpi *m = e->mpi;
    tstate *s = rn_eng_live(e, id);
    pt_workerset *set = e->sets[s->t.workerset];
    if (m->npins == m->pins_cap) {
        size_t cap = m->pins_cap ? 2 * m->pins_cap : 64;
        pinned *p = realloc(m->pins, cap * sizeof *p);
        if (p) {
            m->pins = p;
            m->pins_cap = cap;
        }
    }
    if (pt_request_withdraw(set, s->req) <
        0) /* cannot be: it was just queued */
        return;
    if (m->npins == m->pins_cap) {
        pt_request_complete(set, s->req,
                            pt_reply_create(id, PT_TASK_CRASHED, -1,
                                            "out of memory sending it to its "
                                            "rank",
                                            NULL, 0));
        return;
    }
    m->pins[m->npins++] = (pinned){s->t.rank, id};
}

/* How many tasks rank r may hold now. */
static int64_t room(const struct rn_mpi *m, int r)
{
    int64_t per = 2;
    if (m->avg_ns[r] > 0) {
        int64_t b = WORK_NS / m->avg_ns[r];
        per = b < 2 ? 2 : b > MAX_PER_WORKER ? MAX_PER_WORKER : b;
    }
    return per * m->workers[r] - m->inflight[r];
}

/* Add task `id` (taken from its set's queue) to the batch for rank r. */
static int add(engine *e, int r, int64_t id, pt_buf *b, int64_t now)
{
    tstate *s = rn_eng_live(e, id);
    const rn_ptask *t = &s->t;
    pt_workerset *set = e->sets[t->workerset];
    pt_request *req = s->req;
    const uint8_t *args;
    size_t alen;
    pt_args_encoded(t->args, &args, &alen);
    rn_msg_task mt = {id,
                      t->workerset,
                      t->kernel,
                      t->step,
                      t->rank > 0 ? t->on : -1,
                      (uint32_t)alen,
                      args};
    if (rn_msg_add_task(b, &mt) < 0) {
        pt_request_complete(set, req,
                            pt_reply_create(pt_request_id(req), PT_TASK_CRASHED,
                                            -1,
                                            "out of memory sending it "
                                            "to another rank",
                                            NULL, 0));
        return -ENOMEM;
    }
    s->rank = r;
    s->worker = -1;
    s->start_ns = now; /* until the agent says when it ran */
    rn_eng_mark_sent(e, s);
    pt_event ev = {.exit_code = -1, .time_ns = now};
    rn_eng_task_event(e, PT_EV_TASK_STARTED, s, &ev);
    return 0;
}

/*
 * The batch for rank r: the tasks pinned to its workers (each_worker),
 * then up to `n` waiting ones, taken in turn from the sets' queues. How
 * many it holds.
 */
static int64_t fill(engine *e, int r, int64_t n, pt_buf *b)
{
    struct rn_mpi *m = e->mpi;
    int nsets = e->spec->nworkersets, idle = 0;
    int64_t got = 0, now = pt_sys_real_ns();
    size_t keep = 0;
    rn_msg_begin(b, RN_MSG_TASKS);
    for (size_t i = 0; i < m->npins; i++) {
        if (m->pins[i].rank != r)
            m->pins[keep++] = m->pins[i];
        else if (add(e, r, m->pins[i].id, b, now) == 0)
            got++;
    }
    m->npins = keep;
    while (got < n && idle < nsets) {
        int set = m->next_set;
        pt_request *req = pt_workerset_take(e->sets[set]);
        if (!req) {
            idle++;
            m->next_set = (set + 1) % nsets;
            continue;
        }
        idle = 0;
        if (add(e, r, pt_request_id(req), b, now) < 0)
            break;
        got++;
    }
    return got;
}

/* A batch of results from rank `from`: each ends its request. */
static int take_results(engine *e, int from)
{
    struct rn_mpi *m = e->mpi;
    rn_msg_reader rd;
    rn_msg_result res;
    int rc = rn_msg_open(&rd, m->in.data, m->in.len, RN_MSG_RESULTS);
    while (rc == 0 && (rc = rn_msg_next_result(&rd, &res)) == 1) {
        rc = 0;
        tstate *s = res.id >= 0 && res.id < e->plan.ntasks
                        ? rn_eng_live(e, res.id)
                        : NULL;
        if (!s || !s->req || !s->sent || s->rank != from)
            continue; /* not one we sent there (or no longer waited for) */
        pt_reply *r = pt_reply_create((uint64_t)res.id,
                                      (pt_task_status)res.status, res.worker,
                                      res.error, res.results, res.results_len);
        if (r && !pt_reply_results_ok(r)) {
            pt_reply_destroy(r);
            r = pt_reply_create((uint64_t)res.id, PT_TASK_CRASHED, res.worker,
                                "malformed results from another rank", NULL, 0);
        }
        if (!r)
            return -ENOMEM;
        pt_reply_set_death(r, res.signal, res.exit_code, res.max_rss_kb);
        if (res.end_ns)
            pt_reply_set_times(r, res.start_ns - e->mono_off,
                               res.end_ns - e->mono_off);
        int64_t ran = res.end_ns - res.start_ns;
        if (res.end_ns && ran >= 0)
            m->avg_ns[from] = m->avg_ns[from]
                                  ? m->avg_ns[from] - m->avg_ns[from] / 8 +
                                        ran / 8
                                  : (ran ? ran : 1);
        m->inflight[from]--;
        m->away--;
        s->worker = res.worker;
        pt_request_complete(e->sets[s->t.workerset], s->req, r);
    }
    return rc < 0 ? rc : 0;
}

int rn_cluster_pump(engine *e)
{
    struct rn_mpi *m = e->mpi;
    if (!m)
        return -1;
    int flag = 1;
    while (flag) {
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, RN_TAG_RESULTS, MPI_COMM_WORLD, &flag,
                       &st) != MPI_SUCCESS ||
            !flag)
            break;
        if (rn_cluster_receive(&m->in, &st) < 0 ||
            take_results(e, st.MPI_SOURCE) < 0) {
            fprintf(stderr, "ptrun: rank %d sent a malformed message\n",
                    st.MPI_SOURCE);
            e->stopping = true;
            rn_eng_unlink_segments(e);
            MPI_Abort(MPI_COMM_WORLD, 3);
        }
    }
    rn_cluster_reap_sends(&m->out, false);
    for (int r = 1; r < m->size && !e->paused && !e->sigs && !e->stopping;
         r++) {
        int64_t n = room(m, r);
        pt_buf b = {0};
        int64_t got = n > 0 || m->npins ? fill(e, r, n, &b) : 0;
        if (got > 0 && rn_cluster_post(&m->out, &b, r, RN_TAG_TASKS) == 0) {
            m->inflight[r] += got;
            m->away += got;
        }
        pt_buf_free(&b);
    }
    return m->away > 0 ? 1 : -1;
}

static void to_agents(struct rn_mpi *m, int tag)
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
    struct rn_mpi *m = e->mpi;
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
    struct rn_mpi *m = e->mpi;
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
    free(m->out.s);
    pt_buf_free(&m->in);
    free(m->workers);
    free(m->set_workers);
    free(m->pins);
    free(m->inflight);
    free(m->avg_ns);
    free(m);
    e->mpi = NULL;
}
