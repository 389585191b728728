/*
 * cluster_agent.c - an agent of a job over MPI (ranks 1..K-1; cluster.h):
 * it forks the job's worker sets, takes batches of tasks from rank 0, runs
 * them on its workers and sends the results back in batches.
 *
 * A task sent here is at a worker only once that worker starts it (SPEC
 * §1): until then rank 0 may ask for it back (a take: to change its
 * priority, cancel it, or give it to an idle rank), and the agent, which
 * owns the truth of what started here, gives back the ones no worker has
 * claimed. Rank 0 learns that a task started from its result, or, for one
 * still running, from a start notice sent within FLUSH_NS.
 *
 * Results go back in batches: when half of what the agent holds is done,
 * when it runs dry, or FLUSH_NS after the oldest unsent one.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <ptools/args.h>
#include <ptools/dispatch.h>
#include <ptools/reply.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "cluster/cluster_mpi.h"
#include "cluster/cluster_msg.h"
#include "engine/engine_internal.h"

#define FLUSH_NS INT64_C(1000000)     /* results wait at most this */
#define FLUSH_BYTES ((size_t)1 << 20) /* or until a batch is this big */

struct agent;

/* A task held for rank 0, from its arrival until its request ends. */
typedef struct aslot {
    struct agent *a;
    pt_request *req;
    pt_args *args; /* its args, kept with the slot for the next task */
    int64_t id;
    int set;
    size_t at;   /* its index in agent.held */
    bool pinned; /* to a worker: never given to another rank */
    bool told;   /* rank 0 knows it started */
    bool back;   /* ending because it is given back */
    struct aslot *next_free;
} aslot;

typedef struct agent {
    engine e; /* its segments and worker sets, nothing else */
    aslot **held;
    size_t nheld, cap;
    aslot *spare;    /* slots of ended tasks, for the next ones */
    pt_buf map;      /* a task's args on their way into its slot's */
    int workers;     /* of every set */
    pt_buf results;  /* the batch for rank 0 being built */
    int64_t oldest;  /* CLOCK_MONOTONIC of its first item, 0: empty */
    int64_t echo;    /* stamp of the last tasks batch, to echo once */
    int64_t echo_at; /* when it came (CLOCK_MONOTONIC) */
    int64_t scanned; /* when started tasks were last looked for */
    bool starved;    /* a worker was free with nothing to run */
    int ended;       /* tasks ended since the last look for starts */
    bool fed;        /* it has had tasks */
    int64_t mono_off;
    rn_outbox out;
} agent;

/* Add one item to the batch for rank 0 (an item that cannot be added for
 * want of memory becomes a crash with no results). */
static void add_item(agent *A, rn_msg_result *m)
{
    if (rn_msg_add_result(&A->results, m) < 0) {
        m->error = "out of memory sending the results back";
        m->status = PT_TASK_CRASHED;
        m->results = NULL;
        m->results_len = 0;
        rn_msg_add_result(&A->results, m);
    }
    if (!A->oldest)
        A->oldest = pt_sys_mono_ns();
}

static void unhold(agent *A, aslot *sl)
{
    A->held[sl->at] = A->held[--A->nheld];
    A->held[sl->at]->at = sl->at;
    sl->next_free = A->spare;
    A->spare = sl;
}

static void agent_done(void *arg, pt_request *req)
{
    aslot *sl = arg;
    agent *A = sl->a;
    pt_reply *r = pt_request_reply(req);
    int64_t s = pt_reply_start_ns(r), t = pt_reply_end_ns(r);
    const uint8_t *res = NULL;
    size_t len = 0;
    pt_reply_results(r, &res, &len);
    rn_msg_result m = {sl->id,
                       (int32_t)pt_reply_status(r),
                       pt_reply_worker(r),
                       pt_reply_signal(r),
                       pt_reply_exit_code(r),
                       pt_reply_max_rss_kb(r),
                       t ? s + A->mono_off : 0,
                       t ? t + A->mono_off : 0,
                       pt_reply_error(r),
                       res,
                       (uint32_t)len,
                       RN_RES_DONE};
    if (sl->back) /* never started: rank 0 has it again */
        m = (rn_msg_result){.id = sl->id, .worker = -1, .kind = RN_RES_BACK};
    add_item(A, &m);
    unhold(A, sl);
    pt_request_recycle(A->e.sets[sl->set], req); /* its args stay sl's */
    A->ended += A->ended < INT32_MAX / 2;
}

/* A slot for task `id`, held (its args, if any, kept from its last
 * task): NULL on ENOMEM. */
static aslot *hold(agent *A, int64_t id, int set, bool pinned)
{
    if (A->nheld == A->cap) {
        size_t cap = A->cap ? 2 * A->cap : 256;
        aslot **p = realloc(A->held, cap * sizeof *p);
        if (!p)
            return NULL;
        A->held = p;
        A->cap = cap;
    }
    aslot *sl = A->spare;
    pt_args *args = sl ? sl->args : NULL;
    if (sl)
        A->spare = sl->next_free;
    else if (!(sl = malloc(sizeof *sl)))
        return NULL;
    *sl = (aslot){.a = A, .args = args, .id = id, .set = set, .pinned = pinned};
    sl->at = A->nheld;
    A->held[A->nheld++] = sl;
    return sl;
}

/* Slot sl's args made task t's: in place when its last task's are free
 * (no allocation, no copy past the one into A->map), else new ones. 0 or
 * -ENOMEM. */
static int slot_args(agent *A, aslot *sl, const rn_msg_task *t)
{
    pt_buf_reset(&A->map);
    if (pt_buf_append(&A->map, t->args, t->args_len) < 0)
        return -ENOMEM;
    if (sl->args && pt_args_set_buf(sl->args, &A->map) == 0)
        return 0;
    pt_args_destroy(sl->args); /* still held (never, as a rule): let go */
    sl->args = pt_args_from_buf(&A->map);
    return sl->args ? 0 : -ENOMEM;
}

/* Submit task t to its set, held for rank 0: 0 or -ENOMEM. */
static int agent_submit(agent *a, const rn_msg_task *t)
{
    aslot *sl = hold(a, t->id, t->set, t->worker >= 0);
    if (sl && slot_args(a, sl, t) == 0) {
        pt_call c = PT_CALL_INIT;
        c.kernel = a->e.spec->kernels[t->kernel].name;
        c.args = sl->args;
        c.step = t->step;
        c.worker = t->worker;
        c.priority = t->priority;
        sl->req = pt_request_submit(a->e.sets[t->set], &c, (uint64_t)t->id,
                                    agent_done, sl);
    }
    if (sl && !sl->req)
        unhold(a, sl);
    return sl && sl->req ? 0 : -ENOMEM;
}

static int agent_tasks(agent *a, const pt_buf *in)
{
    rn_msg_reader rd;
    rn_msg_task t;
    const rn_spec *spec = a->e.spec;
    int rc = rn_msg_open(&rd, in->data, in->len, RN_MSG_TASKS);
    a->fed = true;
    if (rc == 0 && rd.stamp > 0) {
        a->echo = rd.stamp;
        a->echo_at = pt_sys_mono_ns();
    }
    while (rc == 0 && (rc = rn_msg_next_task(&rd, &t)) == 1) {
        if (t.set >= spec->nworkersets || t.kernel >= spec->nkernels ||
            t.worker >= pt_workerset_size(a->e.sets[t.set]))
            return -EBADMSG;
        rc = agent_submit(a, &t);
    }
    return rc < 0 ? rc : 0;
}

/* Tell rank 0 that held task sl started (once). */
static void tell_started(agent *A, aslot *sl, int64_t now)
{
    sl->told = true;
    rn_msg_result m = {.id = sl->id,
                       .worker = pt_request_worker(sl->req),
                       .start_ns = now,
                       .kind = RN_RES_STARTED};
    add_item(A, &m);
}

/*
 * The held tasks a worker has started since the last look. Only when
 * fewer tasks ended since then than there are workers: else they turn
 * over fast, and rank 0 learns of their start from their results.
 */
static void look_for_starts(agent *A)
{
    int64_t now = pt_sys_real_ns();
    bool slow = A->ended < A->workers;
    A->ended = 0;
    for (size_t i = 0; slow && i < A->nheld; i++) {
        aslot *sl = A->held[i];
        if (!sl->told && pt_request_state_of(sl->req) == PT_REQ_SENT)
            tell_started(A, sl, now);
    }
    A->scanned = pt_sys_mono_ns();
}

/* Give held task sl back to rank 0 if no worker started it: true if so;
 * else rank 0 is told it started. */
static bool give_back(agent *A, aslot *sl)
{
    pt_workerset *set = A->e.sets[sl->set];
    if (pt_request_withdraw(set, sl->req) == 0) {
        sl->back = true; /* agent_done says so and frees it */
        pt_request_complete(set, sl->req, NULL);
        return true;
    }
    if (!sl->told)
        tell_started(A, sl, pt_sys_real_ns());
    return false;
}

/* Send the batch of results (with `flags`) to rank 0: 0 or -EIO. */
static int flush(agent *A, uint32_t flags)
{
    flags |= A->starved ? RN_MSGF_STARVED : 0;
    /* the stamp, moved on by the time it was held: rank 0 sees transit */
    int64_t stamp = A->echo ? A->echo + (pt_sys_mono_ns() - A->echo_at) : 0;
    rn_msg_set_head(&A->results, stamp, flags);
    if (rn_cluster_post(&A->out, &A->results, 0, RN_TAG_RESULTS) < 0)
        return -EIO;
    A->echo = 0;
    A->starved = false;
    A->oldest = 0;
    rn_msg_begin(&A->results, RN_MSG_RESULTS);
    return 0;
}

/* A take: give back the tasks named, and `any` more not started (not
 * pinned ones), then answer. */
static int agent_take(agent *A, const pt_buf *in)
{
    int64_t any;
    const int64_t *ids;
    uint32_t n;
    if (rn_msg_read_take(in->data, in->len, &any, &ids, &n) < 0)
        return -EBADMSG;
    for (uint32_t k = 0; k < n; k++)
        for (size_t i = 0; i < A->nheld; i++)
            if (A->held[i]->id == ids[k]) {
                give_back(A, A->held[i]);
                break;
            }
    for (size_t i = A->nheld; any > 0 && i-- > 0;) /* the last come first */
        if (i < A->nheld && !A->held[i]->pinned && !A->held[i]->told &&
            pt_request_state_of(A->held[i]->req) == PT_REQ_WAITING)
            any -= give_back(A, A->held[i]);
    return flush(A, RN_MSGF_ANSWER);
}

/* Handle what rank 0 sent: 1 when told to stop, 2 after a batch of
 * tasks (more may wait: the workers get these first), 0, or -errno. */
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
            return 2;
        case RN_TAG_TAKE:
            if (agent_take(a, in) < 0)
                return -EBADMSG;
            break;
        case RN_TAG_CANCEL: /* what waits here ends as cancelled */
            for (size_t i = a->nheld; i-- > 0;) /* done ones leave it */
                if (i < a->nheld &&
                    pt_request_state_of(a->held[i]->req) == PT_REQ_WAITING)
                    pt_request_cancel(a->e.sets[a->held[i]->set],
                                      a->held[i]->req);
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

/* Is it time to send the results? When half of what was held is done,
 * when (nearly) out of work, FLUSH_NS after the oldest, or when big. */
static bool due(const agent *A, int64_t now)
{
    uint32_t n = rn_msg_count(&A->results);
    return n > 0 &&
           (n >= A->nheld || A->nheld <= (size_t)A->workers ||
            now - A->oldest >= FLUSH_NS || A->results.len >= FLUSH_BYTES);
}

static int agent_loop(agent *a)
{
    pt_buf in = {0};
    int rc = 0;
    while ((rc = agent_messages(a, &in)) == 0 || rc == 2) {
        pt_workerset_poll(a->e.sets, a->e.spec->nworkersets, NULL, 0,
                          rc == 2 ? 0 : 1);
        rc = 0;
        int64_t now = pt_sys_mono_ns();
        if (a->fed && a->nheld < (size_t)a->workers)
            a->starved = true; /* (not before its first tasks) */
        if (a->nheld && now - a->scanned >= FLUSH_NS / 2)
            look_for_starts(a);
        if (due(a, now) && (rc = flush(a, 0)) < 0)
            break;
        rn_cluster_reap_sends(&a->out, false);
    }
    rn_cluster_reap_sends(&a->out, true);
    rn_cluster_outbox_free(&a->out);
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
    for (int i = 0; rc == 0 && i < spec->nworkersets; i++) {
        workers[i] = pt_workerset_size(a.e.sets[i]);
        a.workers += workers[i];
    }
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
    for (size_t i = 0; i < a.nheld; i++) {
        pt_args_destroy(a.held[i]->args);
        free(a.held[i]);
    }
    while (a.spare) {
        aslot *sl = a.spare;
        a.spare = sl->next_free;
        pt_args_destroy(sl->args);
        free(sl);
    }
    pt_buf_free(&a.map);
    free(a.held);
    pt_buf_free(&a.results);
    return 0;
}
