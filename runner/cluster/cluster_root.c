/*
 * cluster_root.c - rank 0's side of the tasks it gives other ranks
 * (cluster.h): what it sends each rank, what comes back, and taking back
 * tasks not started.
 *
 * A task sent to a rank is at a worker only once a worker there starts
 * it (SPEC §1). Until then rank 0 keeps it `away`: still waiting (no start
 * event yet), and it may ask for it back - a take - when `ptrun ctl`
 * changes its priority or cancels it, or when a rank is idle while another
 * holds tasks none of its workers has started (first free, across ranks).
 * The agent owns the truth of what started there: it gives back what no
 * worker has claimed and tells which ones started, with their start time.
 *
 * Each rank is kept about two round trips of work (the rate at which it
 * ends tasks times the measured round trip, plus MIN_WINDOW_NS; at least
 * two tasks a worker; four times more when it ran dry while rank 0 held
 * more), so that it never waits for rank 0, and little waits there. A
 * pause takes back what the ranks hold and have not started.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include <ptools/reply.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "cluster/cluster_mpi.h"
#include "cluster/cluster_msg.h"
#include "engine/engine_internal.h"

#define MIN_WINDOW_NS INT64_C(2000000)
#define MAX_AT_RANK 65536.0
#define BATCH_MAX                                                              \
    4096 /* tasks a message: the agent serves its workers                      \
            between batches */

void rn_cluster_pin(engine *e, int64_t id)
{
    rn_mpi *m = e->mpi;
    tstate *s = rn_eng_live(e, id);
    pt_workerset *set = e->sets[s->t.workerset];
    if (m->npins == m->pins_cap) {
        size_t cap = m->pins_cap ? 2 * m->pins_cap : 64;
        rn_pinned *p = realloc(m->pins, cap * sizeof *p);
        if (p) {
            m->pins = p;
            m->pins_cap = cap;
        }
    }
    if (pt_request_withdraw(set, s->req) < 0) /* cannot be: just queued */
        return;
    if (m->npins == m->pins_cap) {
        pt_request_complete(set, s->req,
                            pt_reply_create(id, PT_TASK_CRASHED, -1,
                                            "out of memory sending it to its "
                                            "rank",
                                            NULL, 0));
        return;
    }
    m->pins[m->npins++] = (rn_pinned){s->t.rank, id};
}

int rn_cluster_take_back(engine *e, int64_t id)
{
    rn_mpi *m = e->mpi;
    tstate *s = m ? rn_eng_live(e, id) : NULL;
    if (!s || !s->away)
        return -EBUSY;
    if (s->asked_back)
        return 0;
    rn_rankq *q = &m->rq[s->rank];
    if (q->nwant == q->want_cap) {
        size_t cap = q->want_cap ? 2 * q->want_cap : 16;
        int64_t *w = realloc(q->want, cap * sizeof *w);
        if (!w)
            return -ENOMEM;
        q->want = w;
        q->want_cap = cap;
    }
    q->want[q->nwant++] = id;
    s->asked_back = true;
    return 0;
}

/* How many more tasks rank r may hold now. */
static int64_t room(const rn_mpi *m, int r)
{
    const rn_rankq *q = &m->rq[r];
    double t = q->stolen ? q->workers : q->target;
    return (int64_t)t - q->inflight + q->credit;
}

/* Add task `id` (taken from its set's queue) to the batch for rank r: it
 * is away there, still waiting. */
static int add(engine *e, int r, int64_t id, pt_buf *b)
{
    tstate *s = rn_eng_live(e, id);
    const rn_ptask *t = &s->t;
    const uint8_t *args;
    size_t alen;
    pt_args_encoded(t->args, &args, &alen);
    rn_msg_task mt = {id,
                      t->workerset,
                      t->kernel,
                      t->step,
                      t->rank > 0 ? t->on : -1,
                      (uint32_t)alen,
                      args,
                      rn_eng_priority(e, s)};
    if (rn_msg_add_task(b, &mt) < 0) {
        pt_request_complete(e->sets[t->workerset], s->req,
                            pt_reply_create(id, PT_TASK_CRASHED, -1,
                                            "out of memory sending it "
                                            "to another rank",
                                            NULL, 0));
        return -ENOMEM;
    }
    s->rank = r;
    s->worker = -1;
    s->away = true;
    s->asked_back = false;
    rn_eng_count_queued(e, s, -1); /* the feed's queue has room again */
    e->mpi->rq[r].inflight++;
    e->mpi->rq[r].unstarted++;
    e->mpi->away++;
    return 0;
}

/*
 * The batch for rank r: the tasks pinned to its workers (each_worker),
 * then up to `n` waiting ones, taken in turn from the sets' queues. How
 * many it holds; *dry when the queues ran out.
 */
static int64_t fill(engine *e, int r, int64_t n, pt_buf *b, bool *dry)
{
    rn_mpi *m = e->mpi;
    int nsets = e->spec->nworkersets, idle = 0;
    int64_t got = 0, pinned = 0;
    size_t keep = 0;
    rn_msg_begin(b, RN_MSG_TASKS);
    rn_msg_set_head(b, pt_sys_mono_ns(), 0);
    for (size_t i = 0; i < m->npins; i++) {
        if (m->pins[i].rank != r)
            m->pins[keep++] = m->pins[i];
        else if (add(e, r, m->pins[i].id, b) == 0)
            pinned++;
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
        if (add(e, r, pt_request_id(req), b) < 0)
            break;
        got++;
    }
    *dry = got < n;
    return got + pinned;
}

/* Away task s started on rank `from` (worker, start_ns CLOCK_REALTIME):
 * it is at a worker now. */
static void started(engine *e, int from, tstate *s, int worker,
                    int64_t start_ns)
{
    rn_mpi *m = e->mpi;
    s->away = false;
    s->asked_back = false;
    m->rq[from].unstarted--;
    m->started++;
    s->worker = worker;
    s->start_ns = start_ns;
    s->sent = true; /* as rn_eng_mark_sent, but it left the queue at add */
    e->waiting--;
    e->running++;
    if (!rn_host_wants(e->host, PT_EV_TASK_STARTED))
        return;
    pt_event ev = {.exit_code = -1, .time_ns = start_ns};
    rn_eng_task_event(e, PT_EV_TASK_STARTED, s, &ev);
}

/* Task s left rank `from` (ended, or given back). */
static void left(engine *e, int from, tstate *s)
{
    rn_mpi *m = e->mpi;
    if (s->away) { /* it ends as if it had been in the queue */
        m->rq[from].unstarted--;
        rn_eng_count_queued(e, s, 1);
    } else
        m->started--;
    s->away = false;
    s->asked_back = false;
    m->rq[from].inflight--;
    m->away--;
}

/* Given back: it waits again in its set's queue, in its place, with its
 * priority now; or, cancelled, it ends so. */
static void given_back(engine *e, int from, tstate *s)
{
    pt_workerset *set = e->sets[s->t.workerset];
    left(e, from, s);
    s->rank = 0;
    if (pt_request_untake(set, s->req) < 0)
        return; /* no memory: it ended failed */
    if (s->cancel_asked)
        pt_request_cancel(set, s->req);
    else if (s->prio_set)
        pt_request_set_priority(set, s->req, rn_eng_priority(e, s));
}

/* The attempt of task s on rank `from` ended. */
static int ended(engine *e, int from, tstate *s, const rn_msg_result *res)
{
    if (s->away && res->end_ns) /* its start notice never came */
        started(e, from, s, res->worker, res->start_ns);
    left(e, from, s);
    pt_reply *r = pt_reply_create(res->id, (pt_task_status)res->status,
                                  res->worker, res->error, res->results,
                                  res->results_len);
    if (r && !pt_reply_results_ok(r)) {
        pt_reply_destroy(r);
        r = pt_reply_create(res->id, PT_TASK_CRASHED, res->worker,
                            "malformed results from another rank", NULL, 0);
    }
    if (!r)
        return -ENOMEM;
    pt_reply_set_death(r, res->signal, res->exit_code, res->max_rss_kb);
    if (res->end_ns) {
        int64_t end = res->end_ns - e->mono_off; /* CLOCK_MONOTONIC */
        pt_reply_set_times(r, res->start_ns - e->mono_off, end);
        if (end > 0 && (!e->unflushed_ns || end < e->unflushed_ns))
            e->unflushed_ns = end; /* SPEC §5: 50 ms from its end */
    }
    s->worker = res->worker;
    pt_request_complete(e->sets[s->t.workerset], s->req, r);
    return 0;
}

/* What a batch from rank r says of its pace: the round trip, its rate,
 * its target. */
static void learn(rn_mpi *m, int r, int64_t k, const rn_msg_reader *rd)
{
    rn_rankq *q = &m->rq[r];
    int64_t now = pt_sys_mono_ns();
    if (rd->stamp > 0 && now > rd->stamp) {
        int64_t s = now - rd->stamp;
        m->rtt_ns = m->rtt_ns ? m->rtt_ns - m->rtt_ns / 4 + s / 4 : s;
    }
    if (q->last_ns && k > 0 && now > q->last_ns) {
        double s = (double)k / (double)(now - q->last_ns);
        q->rate = q->rate > 0 ? 0.75 * q->rate + 0.25 * s : s;
    }
    if (k > 0)
        q->last_ns = now;
    double want = q->rate * (double)(2 * m->rtt_ns + MIN_WINDOW_NS);
    if (rd->flags & RN_MSGF_STARVED) {
        q->stolen = false;
        if (q->full && want < 4 * q->target)
            want = 4 * q->target;
    }
    if (want < 2.0 * q->workers)
        want = 2.0 * q->workers;
    q->target = want < MAX_AT_RANK ? want : MAX_AT_RANK;
    if (rd->flags & RN_MSGF_ANSWER)
        q->takes--;
}

int64_t rn_cluster_ends_in(const pt_buf *in)
{
    rn_msg_reader rd;
    rn_msg_result res;
    int64_t n = 0;
    int rc = rn_msg_open(&rd, in->data, in->len, RN_MSG_RESULTS);
    while (rc == 0 && (rc = rn_msg_next_result(&rd, &res)) == 1) {
        rc = 0;
        n += res.kind != RN_RES_STARTED;
    }
    return n;
}

int rn_cluster_results(engine *e, int from)
{
    rn_mpi *m = e->mpi;
    rn_msg_reader rd;
    rn_msg_result res;
    int64_t k = 0;
    int rc = rn_msg_open(&rd, m->in.data, m->in.len, RN_MSG_RESULTS);
    while (rc == 0 && (rc = rn_msg_next_result(&rd, &res)) == 1) {
        rc = 0;
        tstate *s = res.id < e->plan.ntasks ? rn_eng_live(e, res.id) : NULL;
        if (!s || !s->req || s->rank != from || (!s->away && !s->sent))
            continue; /* not one we sent there (or no longer waited for) */
        if (res.kind == RN_RES_STARTED && s->away)
            started(e, from, s, res.worker, res.start_ns);
        else if (res.kind == RN_RES_BACK && s->away)
            given_back(e, from, s), k++;
        else if (res.kind == RN_RES_DONE)
            rc = ended(e, from, s, &res), k++;
    }
    if (rc == 0)
        learn(m, from, k, &rd);
    return rc < 0 ? rc : 0;
}

/* Idle workers of all ranks (rank 0's own when it runs tasks). */
static int64_t idle_workers(const engine *e)
{
    const rn_mpi *m = e->mpi;
    int64_t idle = 0, here = 0;
    for (int r = 1; r < m->size; r++)
        if (m->rq[r].inflight < m->rq[r].workers)
            idle += m->rq[r].workers - m->rq[r].inflight;
    for (int i = 0; !e->opts->mpi_dedicated && i < e->spec->nworkersets; i++)
        here += pt_workerset_size(e->sets[i]);
    here -= e->running - m->started;
    return idle + (here > 0 ? here : 0);
}

/* Send rank q a take: the tasks asked back, and `any` of its choice
 * (`steal`: for idle ranks, so q gets no more backlog for a while). */
static void take(rn_mpi *m, int q, int64_t any, bool steal)
{
    rn_rankq *v = &m->rq[q];
    pt_buf b = rn_cluster_buf(&m->out);
    if (rn_msg_take(&b, pt_sys_mono_ns(), any, v->want, (uint32_t)v->nwant) ==
            0 &&
        rn_cluster_post(&m->out, &b, q, RN_TAG_TAKE) == 0) {
        v->takes++;
        v->nwant = 0;
        v->stolen |= steal && any > 0;
    }
    rn_cluster_buf_done(&m->out, &b);
}

/*
 * Rank 0 has nothing more to give (`dry`): if workers are idle somewhere
 * while a rank holds more tasks than workers, some perhaps not started,
 * take those back for them - unless that rank will be through them within
 * a round trip anyway. Then send the takes `ptrun ctl` asked for.
 */
static void takes(engine *e, bool dry)
{
    rn_mpi *m = e->mpi;
    int64_t idle = dry ? idle_workers(e) : 0;
    for (int q = 1; q < m->size; q++) {
        rn_rankq *v = &m->rq[q];
        int64_t extra = v->inflight - v->workers, n = 0;
        bool slow = v->rate <= 0 ||
                    (double)extra / v->rate > 2.0 * (double)m->rtt_ns;
        if (idle > 0 && !v->takes && extra > 0 && v->unstarted > 0 && slow) {
            n = extra < v->unstarted ? extra : v->unstarted;
            n = n < idle ? n : idle;
            idle -= n;
        }
        if (n > 0 || v->nwant > 0)
            take(m, q, n, true);
    }
}

/* `ptrun ctl pause`: what the ranks hold and have not started comes back
 * (once a pause), so that nothing starts while paused. */
static void take_all_back(rn_mpi *m)
{
    for (int q = 1; q < m->size; q++)
        if (m->rq[q].unstarted > 0)
            take(m, q, m->rq[q].unstarted, false);
    m->paused = true;
}

void rn_cluster_send(engine *e)
{
    rn_mpi *m = e->mpi;
    bool dry = false;
    if (e->paused && !m->paused)
        take_all_back(m);
    m->paused = e->paused;
    for (int r = 1; r < m->size && !e->paused && !e->sigs && !e->stopping;
         r++) {
        rn_rankq *q = &m->rq[r];
        int64_t n = room(m, r);
        bool worth = n > 0 && (q->inflight < q->workers || n >= BATCH_MAX ||
                               (double)n >= q->target / 4);
        if (!worth && !m->npins)
            continue;
        pt_buf b = rn_cluster_buf(&m->out);
        bool out = false;
        n = n < BATCH_MAX ? n : BATCH_MAX;
        int64_t got = fill(e, r, n > 0 ? n : 0, &b, &out);
        q->full = !out;
        dry |= out;
        if (got > 0 && rn_cluster_post(&m->out, &b, r, RN_TAG_TASKS) < 0) {
            fprintf(stderr, "ptrun: cannot send tasks to rank %d\n", r);
            rn_eng_unlink_segments(e);
            MPI_Abort(MPI_COMM_WORLD, 3); /* they would never come back */
        }
        rn_cluster_buf_done(&m->out, &b);
    }
    takes(e, dry && !e->paused && !e->sigs && !e->stopping);
}
