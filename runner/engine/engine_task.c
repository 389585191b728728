/* engine_task.c - a task's life in the engine: queued, sent, done, then
 * retried after a backoff or recorded as final (see engine_internal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ptools/json.h>
#include <ptools/reply.h>
#include <ptools/sys.h>

#include "cluster/cluster.h"
#include "engine/engine_internal.h"

#define BACKOFF_FIRST_NS INT64_C(100000000) /* 0.1 s, doubling */
#define BACKOFF_MAX_NS INT64_C(10000000000) /* 10 s */

/* A task's event; `ev->time_ns` is set by the caller (no clock read per
 * event: there are three events per task). */
void rn_eng_task_event(engine *e, pt_event_type type, int64_t id, pt_event *ev)
{
    const rn_ptask *t = &e->plan.tasks[id];
    const tstate *s = &e->ts[id];
    ev->type = type;
    ev->step = t->step;
    ev->step_name = e->spec->steps[t->step].name;
    ev->task = id;
    ev->kernel = e->spec->kernels[t->kernel].name;
    ev->workerset = e->spec->workersets[t->workerset].name;
    ev->worker = s->worker;
    ev->pid = s->worker >= 0
                  ? pt_workerset_pid(e->sets[t->workerset], s->worker)
                  : 0;
    ev->seed = t->seed;
    ev->priority = rn_eng_priority(e, id);
    const uint8_t *args = NULL;
    if (pt_args_encoded(t->args, &args, &ev->args_len) == 0)
        ev->args = args; /* sealed at planning: never fails here */
    ev->attempts = s->attempts;
    ev->queued_ns = s->queued_ns;
    ev->start_ns = s->start_ns;
    ev->waiting = e->waiting;
    ev->running = e->running;
    ev->rank = s->rank;
    ev->nranks = e->mpi_size;
    if (rn_host_emit(e->host, ev) < 0)
        e->lost_output = true;
    if (type == PT_EV_TASK_FINISHED) {
        e->finished++;
        if (!e->unflushed_ns) /* one clock read per batch of results */
            e->unflushed_ns = pt_sys_mono_ns();
    }
}

static void on_done(void *arg, pt_request *req);

int64_t rn_eng_priority(const engine *e, int64_t id)
{
    return e->ts[id].prio_set ? e->ts[id].prio : e->plan.tasks[id].priority;
}

int rn_eng_submit(engine *e, int64_t id, int64_t now_ns)
{
    const rn_ptask *t = &e->plan.tasks[id];
    pt_call c = PT_CALL_INIT;
    c.kernel = e->spec->kernels[t->kernel].name;
    c.args = t->args;
    c.priority = rn_eng_priority(e, id);
    c.worker = t->rank > 0 ? -1 : t->on; /* another rank's worker: below */
    c.step = t->step;
    tstate *s = &e->ts[id];
    s->req = pt_request_submit(e->sets[t->workerset], &c, id, on_done, e);
    if (!s->req)
        return -errno;
    s->attempts++;
    s->worker = -1;
    s->sent = false;
    e->waiting++;
    s->queued_ns = now_ns;
    pt_event ev = {.exit_code = -1, .time_ns = now_ns};
    rn_eng_task_event(e, PT_EV_TASK_QUEUED, id, &ev);
    if (s->cancel_asked) /* by `ptrun ctl` before its step began */
        pt_request_cancel(e->sets[t->workerset], s->req);
    else if (t->rank > 0)
        rn_cluster_pin(e, id);
    return 0;
}

void rn_eng_on_sent(void *arg, pt_request *req, int64_t now)
{
    engine *e = arg;
    int64_t id = pt_request_id(req);
    tstate *s = &e->ts[id];
    s->start_ns = now + e->mono_off; /* until the worker says when it ran */
    s->worker = pt_request_worker(req);
    s->rank = 0;
    if (!s->sent) { /* else sent again after its worker died unstarted */
        s->sent = true;
        e->waiting--;
        e->running++;
    }
    pt_event ev = {.exit_code = -1, .time_ns = s->start_ns};
    rn_eng_task_event(e, PT_EV_TASK_STARTED, id, &ev);
}

/* Should this attempt's end be retried rather than final? */
static bool retry(const engine *e, int64_t id, pt_task_status st)
{
    const rn_workerset *w = &e->spec->workersets[e->plan.tasks[id].workerset];
    bool again = st == PT_TASK_CRASHED || st == PT_TASK_TIMEOUT ||
                 (st == PT_TASK_FAILED && w->retry_failed);
    return again && e->sigs == 0 && !e->stopping &&
           e->ts[id].attempts <= w->retries;
}

/*
 * Let task `id` wait before its next attempt: 0.1 s after the first
 * failure, doubling, at most 10 s, so a flapping resource gets time.
 * -ENOMEM: retry at once instead.
 */
static int backoff(engine *e, int64_t id)
{
    if (e->nretry == e->retry_cap) {
        size_t cap = e->retry_cap ? 2 * e->retry_cap : 64;
        int64_t *ids = realloc(e->retry_ids, cap * sizeof *ids);
        if (ids)
            e->retry_ids = ids;
        int64_t *at = ids ? realloc(e->retry_at, cap * sizeof *at) : NULL;
        if (!at)
            return -ENOMEM;
        e->retry_at = at;
        e->retry_cap = cap;
    }
    int shift = e->ts[id].attempts - 1 < 7 ? e->ts[id].attempts - 1 : 7;
    int64_t wait = BACKOFF_FIRST_NS << shift;
    e->retry_ids[e->nretry] = id;
    e->retry_at[e->nretry++] = pt_sys_mono_ns() +
                               (wait < BACKOFF_MAX_NS ? wait : BACKOFF_MAX_NS);
    return 0;
}

void rn_eng_requeue(engine *e, int64_t id)
{
    if (rn_eng_submit(e, id, pt_sys_real_ns()) < 0) {
        e->counts[PT_TASK_CRASHED]++; /* cannot even queue it again */
        e->step_counts[PT_TASK_CRASHED]++;
        e->outstanding--;
    }
}

bool rn_eng_unbackoff(engine *e, int64_t id)
{
    for (size_t i = 0; i < e->nretry; i++) {
        if (e->retry_ids[i] != id)
            continue;
        memmove(e->retry_ids + i, e->retry_ids + i + 1,
                (e->nretry - i - 1) * sizeof *e->retry_ids);
        memmove(e->retry_at + i, e->retry_at + i + 1,
                (e->nretry - i - 1) * sizeof *e->retry_at);
        e->nretry--;
        return true;
    }
    return false;
}

/*
 * Submit the retries that are due (all of them when `all`); returns the
 * milliseconds until the next one, or -1 when none waits.
 */
int rn_eng_run_due_retries(engine *e, bool all)
{
    int64_t now = pt_sys_mono_ns(), next = -1;
    size_t keep = 0;
    for (size_t i = 0; i < e->nretry; i++) {
        int64_t id = e->retry_ids[i], at = e->retry_at[i];
        if (all || at <= now) {
            rn_eng_requeue(e, id);
            continue;
        }
        next = next < 0 || at - now < next ? at - now : next;
        e->retry_ids[keep] = id;
        e->retry_at[keep++] = at;
    }
    e->nretry = keep;
    return next < 0 ? -1 : (int)((next + 999999) / 1000000);
}

/*
 * Keep a failed attempt for the task's final record: status, error, how
 * its worker died, and when (a JSON object appended to s->history).
 */
static void remember_attempt(tstate *s, const pt_event *ev)
{
    pt_buf b = {0};
    size_t n = s->history ? strlen(s->history) : 0;
    if (n)
        pt_buf_append(&b, s->history, n - 1); /* drop the closing ']' */
    else
        pt_buf_append(&b, "[", 1);
    pt_buf_printf(&b,
                  "%s{\"attempt\":%d,\"status\":\"%s\",\"worker\":%d,"
                  "\"signal\":%d,\"exit_code\":%d,\"max_rss_kb\":%lld,"
                  "\"start_ns\":%lld,\"end_ns\":%lld,\"error\":",
                  n ? "," : "", s->attempts, pt_task_status_name(ev->status),
                  s->worker, ev->signal, ev->exit_code,
                  (long long)ev->max_rss_kb, (long long)s->start_ns,
                  (long long)ev->end_ns);
    pt_json_cstr(&b, ev->error);
    pt_buf_printf(&b, "}]");
    free(s->history);
    s->history = b.data && pt_buf_append(&b, "", 1) == 0 ? (char *)b.data
                                                         : NULL;
}

/* A request ended: retry it, or record it as final. */
static void on_done(void *arg, pt_request *req)
{
    engine *e = arg;
    int64_t id = pt_request_id(req);
    tstate *s = &e->ts[id];
    pt_reply *r = pt_request_reply(req);
    pt_task_status st = pt_reply_status(r);
    if (s->sent)
        e->running--;
    else
        e->waiting--;
    s->sent = false;
    const uint8_t *results;
    size_t results_len;
    pt_reply_results(r, &results, &results_len); /* as it came: no copy */
    char *long_error = rn_eng_error_with_tail(e, id, pt_reply_error(r));
    pt_event ev = {
        .status = st,
        .error = long_error ? long_error : pt_reply_error(r),
        .result = results,
        .result_len = results_len,
        .signal = pt_reply_signal(r),
        .exit_code = pt_reply_exit_code(r),
        .max_rss_kb = pt_reply_max_rss_kb(r),
    };
    if (pt_reply_end_ns(r)) { /* when it really ran, batched or not */
        s->start_ns = pt_reply_start_ns(r) + e->mono_off;
        ev.end_ns = pt_reply_end_ns(r) + e->mono_off;
    } else {
        ev.end_ns = pt_sys_real_ns();
    }
    ev.time_ns = ev.end_ns;
    if (st == PT_TASK_CANCELLED)
        s->start_ns = 0;
    bool again = retry(e, id, st);
    ev.attempts_json = s->history;
    rn_eng_task_event(e, again ? PT_EV_TASK_RETRIED : PT_EV_TASK_FINISHED, id,
                      &ev);
    if (again)
        remember_attempt(s, &ev);
    if (s->start_ns)
        rn_summary_busy(&e->summary, ev.end_ns - s->start_ns);
    if (!again) {
        s->ended = true;
        e->counts[st]++;
        e->step_counts[st]++;
        e->outstanding--;
        rn_summary_task(&e->summary, e->plan.tasks[id].kernel, (int)st,
                        s->queued_ns, s->start_ns, ev.end_ns);
    }
    free(long_error);
    s->req = NULL;
    pt_request_destroy(req);
    if (again && backoff(e, id) < 0)
        rn_eng_requeue(e, id);
}

/*
 * Cancel every task not started: nothing new will run. That includes tasks
 * sent ahead to a worker in a batch: -EBUSY means it runs (or is done).
 */
void rn_eng_cancel_waiting(engine *e)
{
    for (int64_t id = 0; id < e->plan.ntasks; id++)
        if (e->ts[id].req && pt_request_state_of(e->ts[id].req) != PT_REQ_DONE)
            pt_request_cancel(e->sets[e->plan.tasks[id].workerset],
                              e->ts[id].req);
}
