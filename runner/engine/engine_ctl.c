/*
 * engine_ctl.c - `ptrun ctl` requests applied to the running job (ctl.h
 * brings them in; this file knows the tasks). Only tasks that wait can
 * change: a task already at a worker keeps running, and one that has
 * ended stays as it ended. Tasks of later steps can be changed before
 * their step begins. Every change is an event: TASK_PRIORITY for each
 * task whose priority changed, CONTROL for the request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <ptools/json.h>
#include <ptools/sys.h>

#include "ctl/ctl.h"
#include "engine/engine_internal.h"
#include "events/rundir.h"

static bool matches(const engine *e, int64_t id, const rn_ctl_req *r)
{
    const rn_ptask *t = &e->plan.tasks[id];
    if (r->task >= 0)
        return id == r->task;
    if (r->kernel)
        return strcmp(e->spec->kernels[t->kernel].name, r->kernel) == 0;
    for (int k = 0; r->tag && t->def && k < t->def->ntags; k++)
        if (strcmp(t->def->tags[k], r->tag) == 0)
            return true;
    return false;
}

/* Where task `id` is: ended, started (by a worker here, or handed to
 * another rank), or still to run - queued, or sent ahead to a worker in a
 * batch but not started there (SPEC §1: it can still change). */
typedef enum where { ENDED, STARTED, TO_RUN } where;

static where where_is(const engine *e, int64_t id)
{
    const tstate *s = &e->ts[id];
    if (s->ended || s->cancel_asked || (e->skip && e->skip[id]))
        return ENDED;
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

static int apply_status(engine *e, pt_buf *b)
{
    int nsets = e->spec->nworkersets;
    int64_t per[2 * 64] = {0}; /* waiting, running of the first 64 sets */
    pt_buf_printf(b, "\"run\":");
    pt_json_cstr(b, e->spec->name);
    pt_buf_printf(b, ",\"dir\":");
    pt_json_cstr(b, e->dir);
    pt_buf_printf(b, ",\"paused\":%s,\"step\":", e->paused ? "true" : "false");
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
    int listed = 0;
    for (int64_t id = 0; e->step >= 0 && id < e->plan.ntasks; id++) {
        const tstate *s = &e->ts[id];
        const rn_ptask *t = &e->plan.tasks[id];
        if (!s->req || t->workerset >= 64)
            continue;
        per[2 * t->workerset + (s->sent ? 1 : 0)]++;
        if (!s->sent || listed >= STATUS_RUNNING_MAX)
            continue;
        pt_buf_printf(
            b, "%s{\"task\":%" PRId64 ",\"kernel\":", listed++ ? "," : "", id);
        pt_json_cstr(b, e->spec->kernels[t->kernel].name);
        pt_buf_printf(b, ",\"workerset\":");
        pt_json_cstr(b, e->spec->workersets[t->workerset].name);
        pt_buf_printf(b,
                      ",\"worker\":%d,\"sent_ns\":%" PRId64 ",\"attempt\":%d}",
                      s->worker, s->start_ns, s->attempts);
    }
    pt_buf_printf(b, "],\"workersets\":[");
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

/* Change one task that can still change: false if it could not. */
typedef bool (*change_fn)(engine *e, int64_t id, const rn_ctl_req *r);

/*
 * Apply `change` to every task the request selects and that can still
 * change; reply how many changed (`verb`), are running, have ended.
 * -ENOENT when the request selects no task at all.
 */
static int each_selected(engine *e, const rn_ctl_req *r, change_fn change,
                         const char *verb, pt_buf *b)
{
    int64_t changed = 0, busy = 0, ended = 0;
    for (int64_t id = 0; id < e->plan.ntasks; id++) {
        if (!matches(e, id, r))
            continue;
        where w = where_is(e, id);
        if (w == ENDED)
            ended++;
        else if (w == STARTED)
            busy++;
        else if (change(e, id, r))
            changed++;
        else if (where_is(e, id) == STARTED) /* its worker just started it */
            busy++;
    }
    pt_buf_printf(
        b, "\"%s\":%" PRId64 ",\"running\":%" PRId64 ",\"ended\":%" PRId64,
        verb, changed, busy, ended);
    return changed + busy + ended ? 0 : -ENOENT;
}

static bool reprioritise(engine *e, int64_t id, const rn_ctl_req *r)
{
    tstate *s = &e->ts[id];
    if (s->req && pt_request_set_priority(e->sets[e->plan.tasks[id].workerset],
                                          s->req, r->priority) < 0)
        return false;
    s->prio = r->priority; /* also for a retry or a later step */
    s->prio_set = true;
    pt_event ev = {.exit_code = -1, .time_ns = pt_sys_real_ns()};
    rn_eng_task_event(e, PT_EV_TASK_PRIORITY, id, &ev);
    return true;
}

static bool cancel(engine *e, int64_t id, const rn_ctl_req *r)
{
    (void)r;
    tstate *s = &e->ts[id];
    s->cancel_asked = true;
    if (s->req) /* queued: it ends now, as cancelled */
        pt_request_cancel(e->sets[e->plan.tasks[id].workerset], s->req);
    else if (rn_eng_unbackoff(e, id)) /* queued to end, as cancelled */
        rn_eng_requeue(e, id);
    /* else a later step's task: cancelled when its step queues it */
    return true;
}

static void hold_all(engine *e, bool hold)
{
    e->paused = hold;
    for (int i = 0; i < e->spec->nworkersets; i++)
        pt_workerset_hold(e->sets[i], hold);
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
        snprintf(err, errlen, "no task matches");
        return rc;
    }
    control_event(e, r);
    return 0;
}
