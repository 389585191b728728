/*
 * halt.c - `halt: {failed: N, how: soon|now}` (SPEC §4). A task that ends
 * not ok for good (failed, crashed or timeout, after its retries) counts
 * towards the halt of its step, or else the job's (a step's halt counts
 * that step's tasks, the job's every task of the run). The N-th trips it:
 * the sets are held at once (nothing more is handed out in this round);
 * then, from the step loop, every task waiting or not fed yet is
 * cancelled, and with `now` the workers running tasks are killed (those
 * tasks end cancelled too). The later steps' tasks end cancelled, each
 * with its results line, and the run exits 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/cluster.h"
#include "engine/engine_internal.h"

/* The halt that rules step `step`: its own, else the job's. */
static const rn_halt *halt_of(const engine *e, int step, bool *own)
{
    const rn_halt *h = &e->spec->steps[step].halt;
    *own = h->failed > 0;
    return *own ? h : &e->spec->halt;
}

/* Say why, for the tasks it cancels and for the summary. */
static void trip(engine *e, const rn_halt *h, bool own, int64_t n)
{
    const char *how = h->now ? "now" : "soon";
    const char *step = e->spec->steps[e->step].name;
    char of[160] = "";
    if (own)
        snprintf(of, sizeof of, " of step '%s'", step);
    snprintf(e->halt_error, sizeof e->halt_error,
             "halted: %" PRId64 " task%s%s failed (halt: {failed: %" PRId64
             ", how: %s})",
             n, n == 1 ? "" : "s", of, h->failed, how);
    snprintf(e->halt_why, sizeof e->halt_why,
             "halted after %" PRId64 " failed task%s%s (halt: failed %" PRId64
             ", %s)",
             n, n == 1 ? "" : "s", of, h->failed, how);
    e->summary.halted = e->halt_why;
    e->halted = true;
    e->halt_pending = true;
    e->halt_now = h->now;
    for (int i = 0; i < e->spec->nworkersets; i++)
        pt_workerset_hold(e->sets[i], true);
}

void rn_eng_halt_count(engine *e, const tstate *s, pt_task_status st)
{
    bool own;
    if (st == PT_TASK_OK || st == PT_TASK_CANCELLED)
        return;
    e->notok_job++;
    e->notok_step++;
    const rn_halt *h = halt_of(e, s->t.step, &own);
    int64_t n = own ? e->notok_step : e->notok_job;
    if (h->failed > 0 && n >= h->failed && !e->halted)
        trip(e, h, own, n);
}

/* `now`: kill the workers that run a task (they end cancelled). */
static void kill_running(engine *e)
{
    bool *busy = calloc((size_t)e->spec->nworkersets + 1, sizeof *busy);
    int64_t at = -1;
    for (tstate *s; (s = rn_eng_live_next(e, &at));) {
        if (!s->req || !s->sent)
            continue;
        s->halt_killed = true;
        if (busy)
            busy[s->t.workerset] = true;
    }
    for (int i = 0; i < e->spec->nworkersets; i++)
        if (!busy || busy[i]) /* no memory: every set */
            pt_workerset_kill_all(e->sets[i]);
    free(busy);
}

void rn_eng_halt_apply(engine *e)
{
    if (!e->halt_pending)
        return;
    e->halt_pending = false;
    if (!e->opts->quiet)
        fprintf(stderr, "\nptrun: %s%s\n", e->halt_why,
                e->halt_now ? ": killing running tasks"
                            : ": finishing running tasks");
    rn_eng_run_due_retries(e, true); /* to be cancelled below */
    rn_eng_cancel_waiting(e);
    rn_cluster_interrupt(e, e->halt_now);
    if (e->halt_now)
        kill_running(e);
    for (int i = 0; i < e->spec->nworkersets; i++)
        pt_workerset_hold(e->sets[i], e->paused);
}

/* The error a task ends with when the halt cancelled or killed it. */
const char *rn_eng_halt_error(engine *e, const tstate *s, pt_task_status *st)
{
    if (!e->halted)
        return NULL;
    if (s->halt_killed && *st == PT_TASK_CRASHED) {
        *st = PT_TASK_CANCELLED;
        snprintf(e->halt_killed_error, sizeof e->halt_killed_error,
                 "%s: killed while running", e->halt_error);
        return e->halt_killed_error;
    }
    return *st == PT_TASK_CANCELLED ? e->halt_error : NULL;
}
