/*
 * engine_ctl.c - `ptrun ctl` requests applied to the running job (ctl.h
 * brings them in; this file knows the tasks). Only tasks that wait can
 * change: a task already at a worker keeps running, and one that has
 * ended stays as it ended. Tasks of later steps can be changed before
 * their step begins, and tasks not fed to their set yet (engine_feed.c)
 * as well: a whole entry through its erun, a single task through a
 * tstate of its own, fed alone. Every change is an event: TASK_PRIORITY
 * for each task whose priority changed, CONTROL for the request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/json.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "ctl/ctl.h"
#include "engine/engine_internal.h"
#include "events/rundir.h"
#include "spec/spec_check.h" /* rn_hint */

/* Does the request select entry i's tasks by kernel or tag? */
static bool entry_matches(const engine *e, int i, const rn_ctl_req *r)
{
    const rn_task *def = e->plan.entries[i].def;
    if (r->kernel)
        return strcmp(e->spec->kernels[def->kernel].name, r->kernel) == 0;
    for (int k = 0; r->tag && k < def->ntags; k++)
        if (strcmp(def->tags[k], r->tag) == 0)
            return true;
    return false;
}

/* Where task `id` (of entry `entry`) is: ended, started (by a worker here,
 * or handed to another rank), or still to run - not fed yet, queued, or
 * sent ahead to a worker in a batch but not started there (SPEC §1: it can
 * still change). */
typedef enum where { ENDED, STARTED, TO_RUN } where;

static where where_is(const engine *e, int64_t id, int entry)
{
    if (e->tflags[id] & (TF_ENDED | TF_SKIP))
        return ENDED;
    const tstate *s = rn_eng_live(e, id);
    if (!s) /* not materialised yet */
        return e->eruns[entry].cancelled ? ENDED : TO_RUN;
    if (s->cancel_asked)
        return ENDED;
    if (s->away) /* at another rank, not started there */
        return TO_RUN;
    /* else queued, backing off after a failure, or in a later step */
    return s->req && pt_request_state_of(s->req) != PT_REQ_WAITING ? STARTED
                                                                   : TO_RUN;
}

static void control_event(engine *e, const rn_ctl_req *r)
{
    pt_event ev = {.type = PT_EV_CONTROL,
                   .time_ns = pt_sys_real_ns(),
                   .step = e->step,
                   .task = -1,
                   .worker = -1,
                   .exit_code = -1,
                   .waiting = e->waiting,
                   .running = e->running,
                   .control = r->json};
    if (e->step >= 0)
        ev.step_name = e->spec->steps[e->step].name;
    if (rn_host_emit(e->host, &ev) < 0)
        e->lost_output = true;
}

static void counts_json(pt_buf *b, const char *key,
                        const int64_t c[PT_TASK_NSTATUS])
{
    pt_buf_printf(b, "\"%s\":{", key);
    for (int i = 0; i < PT_TASK_NSTATUS; i++)
        pt_buf_printf(b, "%s\"%s\":%" PRId64, i ? "," : "",
                      pt_task_status_name((pt_task_status)i), c[i]);
    pt_buf_printf(b, "}");
}

#define STATUS_RUNNING_MAX 1000 /* running tasks listed in a status */

static int by_id(const void *a, const void *b)
{
    int64_t x = (*(const tstate *const *)a)->t.id;
    int64_t y = (*(const tstate *const *)b)->t.id;
    return x < y ? -1 : x > y;
}

/*
 * The running tasks, by id (malloc'd; NULL when none or no memory), and
 * per set (of the first 64) how many wait and run: per[2 * set + running].
 */
static const tstate **running_tasks(const engine *e, int64_t *per, size_t *n)
{
    const tstate **run = malloc((e->live.n + 1) * sizeof *run);
    for (int i = 0; e->step >= 0 && i < e->spec->nworkersets && i < 64; i++)
        per[2 * i] = e->feed[i].unfed;
    int64_t at = -1;
    for (const tstate *s; e->step >= 0 && (s = rn_eng_live_next(e, &at));) {
        if (!s->req || s->t.workerset >= 64)
            continue;
        per[2 * s->t.workerset + (s->sent ? 1 : 0)]++;
        if (s->sent && run)
            run[(*n)++] = s;
    }
    if (run)
        qsort(run, *n, sizeof *run, by_id);
    return run;
}

/* Under MPI: the tasks sent to another rank and not started there (they
 * still wait: SPEC §1), by id, as "away": [{"task", "rank"}]. */
static void away_tasks(const engine *e, pt_buf *b)
{
    size_t n = 0;
    const tstate **away = malloc((e->live.n + 1) * sizeof *away);
    int64_t at = -1;
    for (const tstate *s; away && (s = rn_eng_live_next(e, &at));)
        if (s->away)
            away[n++] = s;
    if (away)
        qsort(away, n, sizeof *away, by_id);
    pt_buf_printf(b, ",\"away\":[");
    for (size_t i = 0; i < n && i < STATUS_RUNNING_MAX; i++)
        pt_buf_printf(b, "%s{\"task\":%" PRId64 ",\"rank\":%d}", i ? "," : "",
                      away[i]->t.id, away[i]->rank);
    pt_buf_printf(b, "]");
    free(away);
}

static int apply_status(engine *e, pt_buf *b)
{
    int nsets = e->spec->nworkersets;
    int64_t per[2 * 64] = {0}; /* waiting, running of the first 64 sets */
    pt_buf_printf(b, "\"run\":");
    pt_json_cstr(b, e->spec->name);
    pt_buf_printf(b, ",\"dir\":");
    pt_json_cstr(b, e->dir);
    pt_buf_printf(b, ",\"paused\":%s,\"now_ns\":%" PRId64 ",\"steps\":%d",
                  e->paused ? "true" : "false", pt_sys_real_ns(),
                  e->spec->nsteps);
    pt_buf_printf(b, ",\"step\":");
    if (e->step >= 0) {
        pt_buf_printf(b, "{\"index\":%d,\"name\":", e->step);
        pt_json_cstr(b, e->spec->steps[e->step].name);
        pt_buf_printf(b, ",\"tasks\":%" PRId64 ",", e->step_total);
        counts_json(b, "counts", e->step_counts);
        pt_buf_printf(b, "}");
    } else {
        pt_buf_printf(b, "null");
    }
    pt_buf_printf(b, ",\"tasks\":%" PRId64 ",", e->plan.ntasks);
    counts_json(b, "counts", e->counts);
    pt_buf_printf(b,
                  ",\"waiting\":%" PRId64 ",\"running\":%" PRId64
                  ",\"running_tasks\":[",
                  e->waiting, e->running);
    size_t nrun = 0;
    const tstate **run = running_tasks(e, per, &nrun);
    for (size_t i = 0; i < nrun && i < STATUS_RUNNING_MAX; i++) {
        const tstate *s = run[i];
        pt_buf_printf(b, "%s{\"task\":%" PRId64 ",\"kernel\":", i ? "," : "",
                      s->t.id);
        pt_json_cstr(b, e->spec->kernels[s->t.kernel].name);
        pt_buf_printf(b, ",\"workerset\":");
        pt_json_cstr(b, e->spec->workersets[s->t.workerset].name);
        pt_buf_printf(b,
                      ",\"worker\":%d,\"sent_ns\":%" PRId64 ",\"attempt\":%d",
                      s->worker, s->start_ns, s->attempts);
        if (e->mpi_size > 1)
            pt_buf_printf(b, ",\"rank\":%d", s->rank);
        pt_buf_printf(b, "}");
    }
    free(run);
    pt_buf_printf(b, "]");
    if (e->mpi_size > 1)
        away_tasks(e, b);
    pt_buf_printf(b, ",\"workersets\":[");
    for (int i = 0; i < nsets; i++) {
        const rn_workerset *w = &e->spec->workersets[i];
        pt_buf_printf(b, "%s{\"name\":", i ? "," : "");
        pt_json_cstr(b, w->name);
        pt_buf_printf(b, ",\"workers\":%d", w->workers);
        if (i < 64)
            pt_buf_printf(b, ",\"waiting\":%" PRId64 ",\"running\":%" PRId64,
                          per[2 * i], per[2 * i + 1]);
        pt_buf_printf(b, "}");
    }
    pt_buf_printf(b, "]");
    return 0;
}

/* Change one task that can still change (of entry `entry`): false if
 * it could not. */
typedef bool (*change_fn)(engine *e, int64_t id, int entry,
                          const rn_ctl_req *r);

static void tally(engine *e, int64_t id, int entry, const rn_ctl_req *r,
                  change_fn change, int64_t n[3])
{
    where w = where_is(e, id, entry);
    if (w == ENDED)
        n[2]++;
    else if (w == STARTED)
        n[1]++;
    else if (change(e, id, entry, r))
        n[0]++;
    else if (where_is(e, id, entry) == STARTED) /* its worker just began */
        n[1]++;
}

/*
 * Apply `change` to every task the request selects and that can still
 * change; reply how many changed (`verb`), are running, have ended.
 * -ENOENT when the request selects no task at all.
 */
static int each_selected(engine *e, const rn_ctl_req *r, change_fn change,
                         const char *verb, pt_buf *b)
{
    int64_t n[3] = {0}; /* changed, busy, ended */
    if (r->task >= 0 && r->task < e->plan.ntasks)
        tally(e, r->task, rn_plan_entry_of(&e->plan, r->task), r, change, n);
    for (int i = 0; r->task < 0 && i < e->plan.nentries; i++) {
        const rn_pentry *en = &e->plan.entries[i];
        for (int64_t id = en->first;
             entry_matches(e, i, r) && id < en->first + en->n; id++)
            tally(e, id, i, r, change, n);
        e->eruns[i].cancelled |= e->eruns[i].cancel_now; /* from now on */
        e->eruns[i].cancel_now = false;
    }
    rn_eng_rebalance(e);
    pt_buf_printf(
        b, "\"%s\":%" PRId64 ",\"running\":%" PRId64 ",\"ended\":%" PRId64,
        verb, n[0], n[1], n[2]);
    return n[0] + n[1] + n[2] ? 0 : -ENOENT;
}

/* Task s's TASK_PRIORITY event (its args made for it if it has none). */
static void priority_event(engine *e, tstate *s)
{
    bool made = !s->t.args && rn_plan_args(&e->plan, &s->t) == 0;
    pt_event ev = {.exit_code = -1, .time_ns = pt_sys_real_ns()};
    rn_eng_task_event(e, PT_EV_TASK_PRIORITY, s, &ev);
    if (made) {
        pt_args_destroy(s->t.args);
        s->t.args = NULL;
    }
}

/* The queue of the set of a task of the running step must be checked
 * against its feed. */
static void feed_changed(engine *e, const rn_ptask *t)
{
    if (t->step != e->step)
        return;
    e->feed[t->workerset].dirty = true;
    e->feed[t->workerset].check_q = true;
}

static bool reprioritise(engine *e, int64_t id, int entry, const rn_ctl_req *r)
{
    tstate *s = rn_eng_live(e, id), tmp = {.entry = entry, .worker = -1};
    if (!s && r->task < 0) { /* every task of the entry not materialised */
        e->eruns[entry].prio = r->priority;
        rn_plan_task(&e->plan, id, &tmp.t);
        feed_changed(e, &tmp.t);
        priority_event(e, &tmp);
        return true;
    }
    bool alone = !s;
    if (alone && !(s = rn_eng_track(e, id)))
        return false;
    if (alone)
        e->tflags[id] |= TF_ALONE; /* its entry passes it by */
    if (s->away) { /* its rank gives it back, or says it started */
        if (rn_cluster_take_back(e, id) < 0)
            return false;
    } else if (s->req && pt_request_set_priority(e->sets[s->t.workerset],
                                                 s->req, r->priority) < 0) {
        return false;
    }
    s->prio = r->priority; /* also for a retry or a later step */
    s->prio_set = true;
    if (alone && rn_eng_feed_alone(e, id) < 0) { /* fed with its entry */
        e->tflags[id] &= (uint8_t)~TF_ALONE;
        rn_eng_untrack(e, s);
        return false;
    }
    feed_changed(e, &s->t);
    priority_event(e, s);
    return true;
}

static bool cancel(engine *e, int64_t id, int entry, const rn_ctl_req *r)
{
    tstate *s = rn_eng_live(e, id);
    if (!s && r->task < 0) { /* every task of the entry not materialised */
        rn_ptask t;
        e->eruns[entry].cancel_now = true; /* fed first, cancelled */
        rn_plan_task(&e->plan, id, &t);
        feed_changed(e, &t);
        return true;
    }
    if (!s && !(s = rn_eng_track(e, id)))
        return false;
    e->tflags[id] |= TF_ALONE; /* its entry passes it by */
    if (s->away) { /* it ends cancelled when its rank gives it back */
        if (rn_cluster_take_back(e, id) < 0)
            return false;
        s->cancel_asked = true;
        return true;
    }
    s->cancel_asked = true;
    if (s->req) /* queued: it ends now, as cancelled */
        pt_request_cancel(e->sets[s->t.workerset], s->req);
    else if (rn_eng_unbackoff(e, id)) /* queued to end, as cancelled */
        rn_eng_requeue(e, id);
    else if (s->t.step == e->step) /* not fed yet: it ends now */
        rn_eng_materialise_now(e, id);
    /* else a later step's task: cancelled when its step queues it */
    return true;
}

static void hold_all(engine *e, bool hold)
{
    e->paused = hold;
    for (int i = 0; i < e->spec->nworkersets; i++)
        pt_workerset_hold(e->sets[i], hold);
}

/* Why a request selects no task: an unknown kernel (with the names there
 * are), else "no task matches". */
static void no_match(const engine *e, const rn_ctl_req *r, char *err,
                     size_t errlen)
{
    const char *names[64];
    char hint[512];
    int n = 0;
    bool known = false; /* then it just selects nothing now */
    for (int i = 0; r->kernel && i < e->spec->nkernels && n < 64; i++) {
        names[n++] = e->spec->kernels[i].name;
        known |= strcmp(r->kernel, e->spec->kernels[i].name) == 0;
    }
    if (r->kernel && n > 0 && !known) {
        rn_hint(r->kernel, names, (size_t)n, "kernels", hint, sizeof hint);
        snprintf(err, errlen, "no kernel '%s' (%s)", r->kernel, hint);
    } else {
        snprintf(err, errlen, "no task matches");
    }
}

int rn_eng_ctl_apply(void *arg, const rn_ctl_req *r, pt_buf *reply, char *err,
                     size_t errlen)
{
    engine *e = arg;
    int rc = 0;
    switch (r->cmd) {
    case RN_CTL_STATUS: return apply_status(e, reply);
    case RN_CTL_PRIORITY:
        rc = each_selected(e, r, reprioritise, "changed", reply);
        break;
    case RN_CTL_CANCEL:
        rc = each_selected(e, r, cancel, "cancelled", reply);
        break;
    case RN_CTL_PAUSE:
    case RN_CTL_RESUME:
        hold_all(e, r->cmd == RN_CTL_PAUSE);
        pt_buf_printf(reply, "\"paused\":%s", e->paused ? "true" : "false");
        break;
    default: snprintf(err, errlen, "unknown request"); return -EINVAL;
    }
    if (rc == -ENOENT) {
        no_match(e, r, err, errlen);
        return rc;
    }
    control_event(e, r);
    return 0;
}
